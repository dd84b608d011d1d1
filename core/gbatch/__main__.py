from gbatch.cli import main

main()

"""`gbatch review OUT [--serve] [--port N]`: write the review page, and optionally serve it.

The body is `review_main`, a plain function, so `cli.py` can register it with its
own helpers; `review_command` builds a ready typer command for callers that have
none (it turns gbatch's errors into a message and an exit code, like the CLI).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from ._console import console as cli_console
from ._errors import ExitCode, GbatchError, UsageError

__all__ = ["REVIEW_HELP", "review_command", "review_main", "review_params"]

REVIEW_HELP = """Write OUT/review.html: every row of the batch with players, waveforms, warnings and errors.

Filter, search, and mark bad takes for redo with the keyboard (j/k, space, x);
marks are exported as redo.txt. With --serve the page is served on 127.0.0.1
and the marks are saved straight into OUT/redo.txt."""

OutArg = Annotated[Path, typer.Argument(metavar="OUT", help="The batch's output folder (it holds gbatch-journal.jsonl).")]
ServeOpt = Annotated[bool, typer.Option("--serve", help="Serve the page on 127.0.0.1 and save marks into OUT/redo.txt.")]
PortOpt = Annotated[int, typer.Option("--port", metavar="N", show_default=False, help="Port for --serve [default: any free port].")]


def review_main(out: Path, serve: bool, port: int, console: Console) -> int:
    """Write the page; with `serve`, serve OUT until Ctrl-C. Returns the exit code."""
    from ._review import serve_review, write_review

    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: expected 0 … 65535")
    if not out.is_dir():
        raise UsageError(f"{out} is not a folder: give the --out folder of a batch")
    page = write_review(out)
    console.print(f"review: {page}", highlight=False, markup=False, soft_wrap=True)
    if not serve:
        return 0
    try:
        url, server = serve_review(out, port=port)
    except OSError as exc:
        raise UsageError(f"cannot serve on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    console.print(f"serving {out} at {url}  (marks are saved to {out / 'redo.txt'}; Ctrl-C stops)", highlight=False, markup=False, soft_wrap=True)
    try:
        _wait_for_ctrl_c()
    except KeyboardInterrupt:
        console.print("stopped serving.", highlight=False)
        return int(ExitCode.INTERRUPTED)
    finally:
        server.shutdown()
        server.server_close()
    return 0  # pragma: no cover - the wait above only ends by Ctrl-C


def _wait_for_ctrl_c() -> None:
    threading.Event().wait()  # the server runs in its own thread; this one only waits for Ctrl-C


def review_params() -> dict[str, Any]:
    """The command's parameters as typer annotations (for a caller that builds its own signature)."""
    return {"out": OutArg, "serve": ServeOpt, "port": PortOpt}


def review_command() -> Callable[..., None]:
    """A typer command for `gbatch review`: `app.command("review")(review_command())`."""

    def review(out: OutArg, serve: ServeOpt = False, port: PortOpt = 0) -> None:
        console = cli_console(stderr=True)
        try:
            code = review_main(out, serve, port, console)
        except GbatchError as exc:
            console.print(Text.assemble(("Error: ", "bold red"), str(exc)), highlight=False, soft_wrap=True)
            raise typer.Exit(int(exc.exit_code)) from None
        raise typer.Exit(code)

    review.__doc__ = REVIEW_HELP
    return review

"""`gbatch --help` stays fast: importing the command line loads no transport, no runner and
no HTTP client; those arrive when a batch runs. (How fast: benchmarks/bench_startup.py.)"""

from __future__ import annotations

import subprocess
import sys

#: what only a batch (or a server) needs
FOR_A_BATCH = (
    "httpx",
    "gradio_client",
    "websockets",
    "distributed",
    "rich.progress",
    "gbatch._runner",
    "gbatch._row",
    "gbatch._cluster",
    "gbatch._executor",
    "gbatch._tasks",
    "gbatch.transports.gradio_client",
    "gbatch.transports.gradio3",
    "gbatch.transports.http",
)


def loaded_after(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"], capture_output=True, text=True, check=True, timeout=120)
    return set(done.stdout.split())


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.startswith(FOR_A_BATCH))


def test_importing_the_command_line_loads_nothing_a_batch_needs() -> None:
    assert heavy(loaded_after("import gbatch.cli")) == []


def test_importing_gbatch_loads_nothing_a_batch_needs_until_it_is_asked_for() -> None:
    assert heavy(loaded_after("import gbatch")) == []
    # The names stay where they were: the first use imports their room.
    modules = loaded_after("import gbatch\nassert callable(gbatch.run_batch) and gbatch.read_tasks.__module__ == 'gbatch._tasks'")
    assert {"gbatch._runner", "gbatch._tasks"} <= modules


def test_help_loads_no_transport() -> None:
    code = "import contextlib, io, sys\nsys.argv = ['gbatch', '--help']\nfrom gbatch.cli import main\nwith contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n    main()"
    assert heavy(loaded_after(code)) == []

"""The commands the summary suggests are built from the command's own options (the end-to-end
tests paste them into a shell: test_cosyvoice, test_resume)."""

from __future__ import annotations

import shlex

from gbatch._hints import SECRETS_NOTE, command_again, invoked, program
from gbatch.cli import _batch_params


def test_only_given_options_without_secrets_or_run_modes() -> None:
    params = _batch_params("gbatch-out", "{id}")
    given = {
        "server": ["http://u:pw@h:1/", "http://g:2/"],
        "jobs": 3,
        "review": False,  # --no-review
        "retry_failed": True,  # this run's mode: the hint sets its own
        "auth": "u:pw",
        "name": None,
        "timeout": 0.5,
    }
    with invoked("run", params, given):
        command = command_again(["--redo", "out dir/redo.txt"])
    words = ["run", "--server", "http://***@h:1/", "--server", "http://g:2/", "--jobs", "3", "--timeout", "0.5", "--no-review", "--redo", "out dir/redo.txt"]
    assert command == f"{program()} {shlex.join(words)}{SECRETS_NOTE}"


def test_no_command_outside_the_command_line() -> None:
    assert command_again(["--retry-failed"]) is None

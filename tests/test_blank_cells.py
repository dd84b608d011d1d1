"""A cell of only whitespace (spaces, tabs, a no-break space, the ideographic space U+3000)
is an empty cell, as the README says: the server gets what an empty cell sends."""

from __future__ import annotations

from pathlib import Path

import pytest

from .apps import Calls, multi_app
from .conftest import ServeFn, run_cli, write_csv

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting.*"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

BLANKS = {"space": "   ", "tab": "\t", "nbsp": "\u00a0", "ideographic": "\u3000", "mixed": " \u3000\t\u00a0 "}


def test_whitespace_only_cells_are_empty(serve: ServeFn, tmp_path: Path) -> None:
    calls = Calls()
    url = serve(multi_app(calls))
    rows = [["id", "text", "times"], ["empty", "x", ""], *([name, "x", blank] for name, blank in BLANKS.items())]
    tasks = write_csv(tmp_path / "t.csv", rows)
    result = run_cli("run", url, tasks, "--api", "/second", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    sent = calls.of("/second")
    assert len(sent) == len(rows) - 1 and len(set(sent)) == 1  # each blank cell sent what the empty one did

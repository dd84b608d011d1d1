"""`--json` always prints one JSON document on stdout: a summary with failed rows, validation
problems, connection errors, and the dry run's planned calls. docs/running.md documents the schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .apps import Calls, multi_app
from .conftest import CliResult, ServeFn

Cli = Callable[..., CliResult]


def doc(result: CliResult) -> dict[str, Any]:
    parsed = json.loads(result.stdout)
    assert isinstance(parsed, dict)
    assert parsed["exit_code"] == result.exit_code
    return parsed


def test_summary_with_failed_rows(cli: Cli, serve: ServeFn, tmp_path: Path) -> None:
    calls = Calls()
    calls.broken = {"bad"}
    url = serve(multi_app(calls))
    (tmp_path / "t.csv").write_text("id,text\na,good\nb,bad\n", encoding="utf-8")
    result = cli("run", url, tmp_path / "t.csv", "--api", "/shaky", "--out", tmp_path / "out", "--json")
    summary = doc(result)
    assert (summary["succeeded"], summary["failed"], summary["exit_code"]) == (1, 1, 1)
    assert summary["failed_rows"] == [{"id": "b", "line": 3, "error": "the app raised an error: bad thing", "cause": "app"}]
    assert summary["review"].endswith("review.html")


def test_validation_problems_as_json(cli: Cli, serve: ServeFn, tmp_path: Path) -> None:
    url = serve(multi_app(Calls()))
    (tmp_path / "t.csv").write_text("id,text,times\na,x,many\nb,y,2\n", encoding="utf-8")
    result = cli("run", url, tmp_path / "t.csv", "--api", "/second", "--out", tmp_path / "out", "--json")
    error = doc(result)
    assert error["exit_code"] == 2 and error["error"]["kind"] == "ValidationError"
    assert error["problems"] == [
        {"file": str(tmp_path / "t.csv"), "line": 2, "id": "a", "column": "times", "message": "expected a whole number, got 'many'"}
    ]


def test_no_server_as_json(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("text\nx\n", encoding="utf-8")
    result = cli("run", "http://127.0.0.1:9", tmp_path / "t.csv", "--out", tmp_path / "out", "--json")
    error = doc(result)
    assert (error["exit_code"], error["error"]["kind"]) == (3, "NoServerError")


def test_dry_run_lists_the_planned_calls(cli: Cli, serve: ServeFn, tmp_path: Path) -> None:
    url = serve(multi_app(Calls()))
    (tmp_path / "t.csv").write_text("id,text,times\na,x,2.0\n", encoding="utf-8")
    result = cli("run", url, tmp_path / "t.csv", "--api", "/second", "--out", tmp_path / "out", "--dry-run", "--json")
    planned = doc(result)["planned"]
    assert planned == [{"id": "a", "line": 2, "name": "a", "before": [], "values": {"text": "x", "times": 2}, "generated": {}}]


def test_the_counts_mean_what_the_readme_says(cli: Cli, serve: ServeFn, tmp_path: Path) -> None:
    """total = succeeded + failed + not_run; skipped is the part of succeeded not sent now."""
    calls = Calls()
    calls.broken = {"bad"}
    url = serve(multi_app(calls))
    (tmp_path / "t.csv").write_text("id,text\na,good\nb,bad\nc,fine\n", encoding="utf-8")
    command = ("run", url, tmp_path / "t.csv", "--api", "/shaky", "--out", tmp_path / "out", "--json")

    def counts(*extra: str) -> tuple[int, ...]:
        summary = doc(cli(*command, *extra))
        assert summary["total"] == summary["succeeded"] + summary["failed"] + summary["not_run"]
        return summary["total"], summary["succeeded"], summary["skipped"], summary["failed"], summary["not_run"]

    assert counts() == (3, 2, 0, 1, 0)
    sent = len(calls.of("/shaky"))
    assert counts("--retry-failed") == (3, 2, 2, 1, 0)  # a and c done earlier, b failed again
    calls.broken = set()
    assert counts() == (3, 3, 2, 0, 0)  # b made now: succeeded - skipped = 1
    assert counts() == (3, 3, 3, 0, 0) and len(calls.of("/shaky")) == sent + 2  # sent nothing

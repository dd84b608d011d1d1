"""Output names stay with their rows across runs, and one folder serves one run at a time
(issue: a re-run with a changed task file overwrote a finished output)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import gbatch
from gbatch.transports.fake import FakeServer, FakeTransport


def tasks(path: Path, rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def render(text: str) -> gbatch.ServerFile:
    return SERVER.file("x.txt", text.encode())


SERVER = FakeServer({"/render": render})


def run(task: Path, out: Path, **options: Any) -> gbatch.BatchResult:
    opts = gbatch.BatchOptions(servers=[SERVER.url], out=out, **options)
    return gbatch.run_batch(gbatch.GenericTool(), task, opts, transport=FakeTransport([SERVER]), say=lambda _: None)


def results(out: Path) -> dict[str, dict[str, str]]:
    with (out / "results.csv").open(encoding="utf-8-sig", newline="") as handle:
        return {r["id"]: r for r in csv.DictReader(handle)}


def test_a_changed_task_file_never_overwrites_another_rows_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run(tasks(tmp_path / "t1.csv", [["id", "grp", "text"], ["a", "S", "from a"], ["b", "S", "from b"]]), out, name="{grp}")
    assert (out / "S.txt").read_text() == "from a" and (out / "S_2.txt").read_text() == "from b"

    second = run(tasks(tmp_path / "t2.csv", [["id", "grp", "text"], ["b", "S", "from b"], ["c", "S", "from c"]]), out, name="{grp}")
    assert (second.skipped, second.succeeded) == (1, 2)
    assert (out / "S.txt").read_text() == "from a"
    assert (out / "S_2.txt").read_text() == "from b"
    assert (out / "S_3.txt").read_text() == "from c"
    table = results(out)
    assert (table["b"]["outputs"], table["c"]["outputs"]) == ("S_2.txt", "S_3.txt")


def test_another_name_template_keeps_old_files_and_says_so_or_renames(tmp_path: Path) -> None:
    out = tmp_path / "out"
    task = tasks(tmp_path / "t.csv", [["id", "text"], ["a", "one"], ["b", "two"]])
    run(task, out)
    said: list[str] = []
    opts = gbatch.BatchOptions(servers=[SERVER.url], out=out, name="line_{id}")
    again = gbatch.run_batch(gbatch.GenericTool(), task, opts, transport=FakeTransport([SERVER]), say=said.append)
    assert again.skipped == 2
    assert any("keep the names an earlier run gave them" in m and "--rename" in m for m in said)
    assert sorted(p.name for p in out.glob("*.txt")) == ["a.txt", "b.txt"]

    renamed = run(task, out, name="line_{id}", rename=True)
    assert renamed.skipped == 2
    assert sorted(p.name for p in out.glob("*.txt")) == ["line_a.txt", "line_b.txt"]
    assert (out / "line_a.txt").read_text() == "one"
    assert results(out)["a"]["outputs"] == "line_a.txt"
    assert run(task, out, name="line_{id}").skipped == 2  # nothing to redo after the move


def test_retry_failed_after_an_interruption_does_not_call_unrun_rows_done(tmp_path: Path) -> None:
    out = tmp_path / "out"
    task = tasks(tmp_path / "t.csv", [["id", "text"], ["a", "one"], ["b", "two"]])
    run(tasks(tmp_path / "only_a.csv", [["id", "text"], ["a", "one"]]), out)  # b never ran
    result = run(task, out, retry_failed=True)
    assert (result.skipped, result.not_run, result.exit_code) == (1, 1, gbatch.ExitCode.ROWS_FAILED)
    assert results(out)["b"]["status"] == "not run"


def test_two_runs_on_one_folder_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from gbatch._resume import OutLock
            with OutLock(Path({str(out)!r})):
                print("locked", flush=True)
                time.sleep(30)
        """)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(gbatch.UsageError, match=r"is in use by another gbatch run \(pid \d+\)"):
            run(tasks(tmp_path / "t.csv", [["text"], ["a"]]), out)
    finally:
        holder.kill()
        holder.wait()
    assert run(tasks(tmp_path / "t.csv", [["text"], ["a"]]), out).succeeded == 1  # free again once it is gone
    assert json.loads((out / "gbatch-journal.jsonl").read_text().splitlines()[-1])["status"] == "ok"

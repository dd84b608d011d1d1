"""Output names stay with their rows across runs, and one folder serves one run at a time
(issue: a re-run with a changed task file overwrote a finished output)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping
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


def hold_folder(out: Path) -> subprocess.Popen[str]:
    """Another process that holds the folder's lock (as a running batch does) for up to 30 s."""
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
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_two_runs_on_one_folder_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    holder = hold_folder(out)
    try:
        with pytest.raises(gbatch.UsageError, match=r"is in use by another gbatch run \(pid \d+\)"):
            run(tasks(tmp_path / "t.csv", [["text"], ["a"]]), out)
    finally:
        holder.kill()
        holder.wait()
    assert run(tasks(tmp_path / "t.csv", [["text"], ["a"]]), out).succeeded == 1  # free again once it is gone
    assert json.loads((out / "gbatch-journal.jsonl").read_text().splitlines()[-1])["status"] == "ok"


def test_rename_moves_nothing_while_another_run_holds_the_folder(files_url: str, tmp_path: Path) -> None:
    (tmp_path / "doc.txt").write_text("hello", encoding="utf-8")
    task = tasks(tmp_path / "t.csv", [["id", "text file"], ["a", "doc.txt"]])
    out = tmp_path / "out"
    command = [sys.executable, "-m", "gbatch", "run", files_url, str(task), "--api", "/shout", "--out", str(out)]
    assert subprocess.run(command, capture_output=True, text=True, timeout=120).returncode == 0
    holder = hold_folder(out)
    try:
        renamed = subprocess.run([*command, "--name", "line_{id}", "--rename"], capture_output=True, text=True, timeout=120)
    finally:
        holder.kill()
        holder.wait()
    assert renamed.returncode == 2 and "is in use by another gbatch run" in renamed.stderr, renamed.stderr
    assert sorted(p.name for p in out.glob("*.txt")) == ["a.txt"]  # nothing moved
    assert results(out)["a"]["outputs"] == "a.txt"


# No file one row can write is another row's, against a real server (ids chosen to collide)


class _TwoFilesPlan(gbatch.Plan):
    """Like the Fooocus tool: the first file is `<name>.txt`, the second `<name>.2.txt`."""

    def prepare(self, values: Mapping[str, Any], previous: Mapping[str, Any]) -> gbatch.Call:
        return gbatch.Call({"doc": values["doc"]})

    def collect(self, result: gbatch.CallResult, out: gbatch.Outputs) -> None:
        for number, file in enumerate(result.outputs, 1):
            out.write(out.fetch(file), ".txt", None if number == 1 else str(number))


class _TwoFilesTool(gbatch.Tool):
    name = "twins"
    api_name = "/twins"
    columns = (gbatch.Column("doc", "file", required=True, param="doc"),)

    def plan(self, api: gbatch.ServerApi, options: Mapping[str, Any]) -> gbatch.Plan:
        return _TwoFilesPlan()


@pytest.fixture(scope="module")
def files_url(serve_module: Callable[..., str]) -> str:
    from .apps import Calls, files_app

    return serve_module(files_app(Calls()))


def test_a_rows_second_file_is_not_another_rows_first(files_url: str, tmp_path: Path) -> None:
    for row in ("1", "1.2"):
        (tmp_path / f"{row}.txt").write_text(f"from {row}", encoding="utf-8")
    task = tasks(tmp_path / "t.csv", [["id", "doc"], ["1", "1.txt"], ["1.2", "1.2.txt"]])
    opts = gbatch.BatchOptions(servers=[files_url], out=tmp_path / "out")
    result = gbatch.run_batch(_TwoFilesTool(), task, opts, say=lambda _: None)
    assert result.succeeded == 2
    table = results(tmp_path / "out")
    assert table["1"]["outputs"] == "1.txt;1.2.txt"
    written = {name for row in table.values() for name in row["outputs"].split(";")}
    assert len(written) == 4  # four files, none written twice
    assert (tmp_path / "out" / "1.2.txt").read_text() == "from 1"  # the lower-case copy, second of row 1


def test_a_kept_take_is_not_another_rows_output(files_url: str, tmp_path: Path) -> None:
    (tmp_path / "doc.txt").write_text("hello", encoding="utf-8")
    task = tasks(tmp_path / "t.csv", [["id", "text file"], ["a", "doc.txt"], ["a.take1", "doc.txt"]])
    out = tmp_path / "out"
    command = [sys.executable, "-m", "gbatch", "run", files_url, str(task), "--api", "/shout", "--out", str(out)]
    assert subprocess.run(command, capture_output=True, text=True, timeout=120).returncode == 0
    other = results(out)["a.take1"]["outputs"]
    (tmp_path / "redo.txt").write_text("a\n", encoding="utf-8")
    redo = subprocess.run([*command, "--redo", str(tmp_path / "redo.txt")], capture_output=True, text=True, timeout=120)
    assert redo.returncode == 0, redo.stderr
    assert (out / other).exists() and other != "a.take1.txt"
    assert (out / "a.take1.txt").exists()  # the take of row a
    assert results(out)["a.take1"]["outputs"] == other

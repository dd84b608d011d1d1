"""Ctrl-C and resume, end to end: a real `gbatch` process, a real server, a real SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import pytest

from .apps import echo_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def journal(folder: Path) -> list[dict[str, object]]:
    path = folder / "gbatch-journal.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_sigint_keeps_finished_rows_and_rerun_finishes(serve: Callable[..., str], tmp_path: Path) -> None:
    calls: list[str] = []
    url = serve(echo_app(calls, seconds=0.4, limit=2))
    rows = [f"row{i:02d}" for i in range(12)]
    (tmp_path / "tasks.csv").write_text("id,text\n" + "".join(f"{r},{r}\n" for r in rows), encoding="utf-8")
    command = [sys.executable, "-m", "gbatch", "run", url, "tasks.csv", "-j", "2", "--out", "out"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    deadline = time.monotonic() + 60
    while len(journal(tmp_path / "out")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    # one sentence on one line (a pipe is 80 columns to rich), then the command that resumes
    lines = stderr.splitlines()
    said = lines.index("Interrupted: finished rows are kept; run the same command again to finish the rest:")
    assert lines[said + 1].strip().endswith(f"gbatch run {url} tasks.csv --jobs 2 --out out")
    assert not any("mark them in the review page" in line for line in lines)  # no takes to mark after Ctrl-C
    first = journal(tmp_path / "out")
    assert 3 <= len(first) < len(rows)
    assert all(r["status"] == "ok" for r in first)
    for record in first:
        assert record["outputs"] == []  # a text output goes to the results, not to a file
        assert record["values"] == {"output_0": str(record["id"]).upper()}
    assert not list((tmp_path / "out").glob(".gbatch-*.part"))  # no half-written output
    assert (tmp_path / "out" / "results.csv").exists()

    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    second = journal(tmp_path / "out")
    done = {r["id"] for r in second if r["status"] == "ok"}
    assert done == set(rows)
    # The re-run sent only what had not finished: no row succeeded twice.
    assert len(second) == len(rows)


def test_killed_run_leaves_nothing_that_blocks_the_next(serve: Callable[..., str], tmp_path: Path) -> None:
    """kill -9 mid-batch: no partial files, and a plain re-run finishes without --overwrite."""
    calls: list[str] = []
    url = serve(files_app_for_kill(calls))
    rows = [f"k{i:02d}" for i in range(10)]
    (tmp_path / "tasks.csv").write_text("id,text\n" + "".join(f"{r},{r}\n" for r in rows), encoding="utf-8")
    command = [sys.executable, "-m", "gbatch", "run", url, "tasks.csv", "-j", "2", "--out", "out", "-q"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    deadline = time.monotonic() + 60
    while len([r for r in journal(tmp_path / "out") if r["status"] == "ok"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.kill()
    process.communicate(timeout=30)
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert not list((tmp_path / "out").glob(".gbatch-*.part"))  # one cut short by the kill is swept
    finished = {r["id"]: r for r in journal(tmp_path / "out") if r["status"] == "ok"}
    assert set(finished) == set(rows)
    for rid in rows:
        assert (tmp_path / "out" / f"{rid}.txt").read_text(encoding="utf-8") == rid.upper()


def files_app_for_kill(calls: list[str]) -> gr.Blocks:
    """/note(text) -> a text file holding TEXT, after a short pause."""
    import tempfile

    def note(text: str) -> str:
        calls.append(text)
        time.sleep(0.2)
        path = Path(tempfile.mkdtemp()) / "note.txt"
        path.write_text(text.upper(), encoding="utf-8")
        return str(path)

    with gr.Blocks() as demo:
        box, out = gr.Textbox(label="Text"), gr.File()
        gr.Button().click(note, box, out, api_name="note")
    demo.queue(default_concurrency_limit=2)
    return demo

"""Row ids, cells, error texts and server labels are text wherever gbatch prints them: never
rich markup (`[speaker_1]` keeps its brackets, `[/intro]` raises nothing) nor emoji codes.

A property test feeds markup-like text through every view (progress, summary, dry run,
validation listing, inspect, review), and one run against a real server does it end to end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import typer
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gbatch import TaskFileProblem, ValidationError
from gbatch._batch import PreparedRow
from gbatch._console import console
from gbatch._inspect import print_api
from gbatch._progress import PlainListener, RichListener
from gbatch._review_cli import review_main
from gbatch._tasks import TaskRow
from gbatch._tool import Call
from gbatch.cli import _boundary, _show_dry_run, _show_summary
from gbatch.executor import ErrorKind, ExecutorReport, ItemOutcome
from gbatch.transports.fake import FakeServer

from .apps import echo_app
from .conftest import ServeFn, write_csv

PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, database=None)

# Text made of what rich reads as markup or emoji: brackets, slashes, backslashes, colons,
# style names; no leading or trailing space (a table cell may trim it).
markup_like = (
    st.lists(st.sampled_from(["[", "]", "/", "\\", ":", "=", "#", "@", "speaker_1", "intro", "bold", "red", "link", "smile", "x", " "]), min_size=1, max_size=12)
    .map("".join)
    .map(str.strip)
    .filter(bool)
)
EXAMPLES = ("[speaker_1]", "[/intro]", "[bold red]x[/]", ":smile:", "\\[x]", "[link=http://x]y")


def flat(text: str) -> str:
    """What a terminal shows, on one line: no colour codes, no wrapping."""
    return re.sub(r"\s+", " ", re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text))


def shows(output: str, text: str) -> bool:
    return re.sub(r"\s+", " ", text) in flat(output)


def wide(terminal: bool = False) -> tuple[Any, io.StringIO]:
    buffer = io.StringIO()
    return console(file=buffer, width=2000, force_terminal=terminal), buffer


@PROPERTY
@given(row_id=markup_like, error=markup_like)
@example(row_id="[speaker_1]", error="voice [speaker_1] unknown; see [/intro]")
def test_progress_views_print_ids_and_errors_as_written(row_id: str, error: str) -> None:
    for make in (lambda c: RichListener(c), lambda c: PlainListener(c)):
        terminal, buffer = wide(terminal=True)
        listener = make(terminal)
        listener.batch_started(2)
        listener.row_started(row_id, "http://h/", 1)
        listener.row_retrying(row_id, 1, error, 0.5, ErrorKind.TRANSIENT)
        listener.row_status("", {"code": "worker", "worker": row_id, "healthy": False, "error": error})
        listener.row_finished(ItemOutcome(row_id, False, error=error, attempts=2))
        listener.batch_finished(ExecutorReport([]))
        output = buffer.getvalue()
        assert shows(output, f"{row_id}: {error}") or shows(output, f"FAILED {row_id}: {error}"), output
        assert shows(output, f"worker {row_id} is unhealthy"), output


@PROPERTY
@given(folder=markup_like)
@example(folder="[/intro]")
def test_the_summary_prints_paths_as_written(folder: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    out = Path("/tmp") / folder.replace("/", "_")
    result = SimpleNamespace(
        succeeded=1, total=3, skipped=0, failed=1, not_run=1, seconds=2.0, out_dir=out, journal=out / "gbatch-journal.jsonl",
        results=out / "results.csv", review=out / "review.html", interrupted=False, halted=False, retry_failed=False, options=None, switches={},
        check_failed=0, unchecked=0, slots={}, servers=[],
    )
    terminal, buffer = wide()
    _show_summary(result, terminal)
    assert shows(buffer.getvalue(), f"outputs: {out}")
    assert shows(buffer.getvalue(), f"review: {out / 'review.html'}")


@PROPERTY
@given(row_id=markup_like, value=markup_like)
@example(row_id="[speaker_1]", value="[/intro]")
def test_the_dry_run_prints_ids_and_values_as_written(row_id: str, value: str) -> None:
    rows = [PreparedRow(TaskRow(row_id, n + 2, {}), Call({"text": value}), f"{value.replace('/', '_')}{n}", "", {}) for n in range(6)]
    result = SimpleNamespace(planned=rows, skipped=0, servers=[f"{value} (gradio 5)"], out_dir=Path("out"))
    terminal, buffer = wide()
    _show_dry_run(result, terminal)
    output = buffer.getvalue()
    name = value.replace("/", "_")
    assert shows(output, f"id={row_id} -> out/{name}0.*") and shows(output, f"text = {value!r}") and shows(output, f"server {value}")
    assert shows(output, f"│ {row_id}") and shows(output, f"{name}5.*")  # in the table of the rows after the first three


@PROPERTY
@given(row_id=markup_like, cell=markup_like)
@example(row_id="[speaker_1]", cell="[/intro]")
def test_the_validation_listing_prints_cells_as_written(row_id: str, cell: str) -> None:
    problem = TaskFileProblem("t.csv", 2, "voice", f"{cell!r} is not one of: 'alto'", id=row_id)

    @_boundary
    def failing() -> int:
        raise ValidationError([problem])

    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer), pytest.raises(typer.Exit):
        failing()
    assert shows(buffer.getvalue(), str(problem)), buffer.getvalue()


@PROPERTY
@given(name=markup_like, label=markup_like)
@example(name="speaker_1", label="[/intro]")
def test_inspect_prints_names_labels_and_defaults_as_written(name: str, label: str) -> None:
    fake = FakeServer({"/say": lambda text, voice="alto": text})
    endpoint = fake.api.endpoints["/say"]
    text, voice = endpoint.parameters
    params = (dataclasses.replace(text, label=label), dataclasses.replace(voice, default=name, choices=(name, label)))
    fake.api.endpoints["/say"] = dataclasses.replace(endpoint, parameters=params, returns=(dataclasses.replace(text, label=label),))
    terminal, buffer = wide()
    print_api(fake.api, None, terminal, wide=True)
    output = buffer.getvalue()
    assert shows(output, label) and shows(output, json.dumps(name)) and shows(output, f"returns: {label}"), output


@pytest.mark.parametrize("folder", ["[bold]x", "[/intro]", ":smile:"])
def test_review_prints_its_paths_as_written(tmp_path: Path, folder: str) -> None:
    out = tmp_path / folder
    out.mkdir(parents=True)
    (out / "gbatch-journal.jsonl").write_text("", encoding="utf-8")
    terminal, buffer = wide()
    assert review_main(out, False, 0, terminal) == 0
    assert shows(buffer.getvalue(), f"review: {out / 'review.html'}")


def test_markup_like_ids_and_errors_from_a_real_server(serve: ServeFn, tmp_path: Path) -> None:
    """A row id `[speaker_1]` and an error quoting `[/intro]`, on the progress bar (a terminal)
    and in the summary: printed as written, no MarkupError, no traceback."""
    url = serve(echo_app([], fail_on="intro"))
    tasks = write_csv(tmp_path / "t.csv", [["id", "text"], ["[speaker_1]", "voice [speaker_1]"], ["[x]", "[/intro]"]])
    env = {**os.environ, "FORCE_COLOR": "1", "COLUMNS": "300"}
    done = subprocess.run([sys.executable, "-m", "gbatch", "run", url, str(tasks), "--out", str(tmp_path / "out"), "--retries", "0"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "MarkupError" not in done.stderr
    assert shows(done.stderr, "failed [x]: the app raised an error: cannot echo [/intro]"), done.stderr

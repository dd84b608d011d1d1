"""The CLI's progress views, driven through the executor's Listener callbacks."""

from __future__ import annotations

import io
import re

from rich.console import Console

from gbatch._progress import PlainListener, RichListener, _Counts
from gbatch._row import Collected
from gbatch.executor import ErrorKind, ExecutorReport, ItemOutcome


def plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def drive(listener: RichListener | PlainListener) -> None:
    listener.batch_started(3)
    listener.row_started("a", "http://h/", 1)
    listener.row_started("b", "http://h/", 1)
    listener.row_status("b", {"code": "queued", "rank": 0, "queue_size": 1})
    listener.row_retrying("a", 1, "the connection to the server dropped", 1.5, ErrorKind.TRANSIENT)
    listener.row_finished(ItemOutcome("b", True, Collected(["b.wav"], {}, [], []), attempts=1, started=10.0, ended=12.5))
    listener.row_finished(ItemOutcome("c", False, error="the app raised an error: bad thing", attempts=1))


def test_rich_progress_shows_counts_queue_and_failures() -> None:
    out = io.StringIO()
    listener = RichListener(Console(file=out, force_terminal=True, width=160))
    drive(listener)
    live = listener.counts.line()
    assert "1 done" in live and "1 failed" in live and "1 retrying" in live
    listener.row_status("a", {"code": "queued", "rank": 2, "queue_size": 3})
    assert "server queue: 1 waiting (next at 3)" in listener.counts.line()
    listener.batch_finished(ExecutorReport([]))
    text = plain(out.getvalue())
    assert "retry a (attempt 1 failed: the connection to the server dropped); again in 1.5s" in text
    assert "failed c: the app raised an error: bad thing" in text
    assert "2/3" in text


def test_plain_progress_prints_one_line_per_event() -> None:
    out = io.StringIO()
    listener = PlainListener(Console(file=out, width=200))
    drive(listener)
    listener.batch_finished(ExecutorReport([]))
    assert out.getvalue().splitlines() == [
        "running 3 rows",
        "retry a: attempt 1 failed (the connection to the server dropped); again in 1.5s",
        "[1/3] ok b (2.5s) -> b.wav",
        "[2/3] FAILED c: the app raised an error: bad thing",
    ]


def test_the_status_line_fits_the_width_it_is_given() -> None:
    """The most important counts first; what does not fit is left out rather than cut mid-word."""
    counts = _Counts()
    counts.done, counts.failed = 12, 3
    counts.running.update({"a", "b"})
    counts.ranks["c"] = 4
    wide = counts.line(200)
    assert "server queue: 1 waiting (next at 5)" in wide
    narrow = counts.line(30)
    assert narrow.plain.startswith("12 done · 3 failed") and "rows/min" not in narrow
    assert [(narrow.plain[span.start : span.end], span.style) for span in narrow.spans] == [("12 done", "green"), ("3 failed", "red")]


def test_progress_an_app_reports_shows_how_far_rows_are() -> None:
    """gr.Progress, or Fooocus's percentage read by its plan, shows as the running rows' progress."""
    counts = _Counts()
    counts.running.update({"a", "b"})
    counts.fractions.update({"a": 0.25, "b": 0.75, "gone": 1.0})
    assert "2 in flight (50% along)" in counts.line(200)


def test_each_servers_voice_is_shown_and_switches_are_said() -> None:
    out = io.StringIO()
    listener = RichListener(Console(file=out, force_terminal=True, width=200))
    listener.batch_started(2)
    listener.row_status("a", {"code": "state", "server": "http://gpu1/", "state": "alice", "switched": True, "switches": 1})
    listener.row_status("b", {"code": "state", "server": "http://gpu2/", "state": "bob", "switched": False, "switches": 3})
    assert "voices: http://gpu1/ alice, http://gpu2/ bob" in listener.counts.line()
    listener.batch_finished(ExecutorReport([]))
    assert "http://gpu1/: now alice (switch 1)" in plain(out.getvalue())
    assert "now bob" not in plain(out.getvalue())

    out = io.StringIO()
    flat = PlainListener(Console(file=out, width=200))
    flat.row_status("a", {"code": "state", "server": "http://gpu1/", "state": "alice", "switched": True, "switches": 2})
    flat.row_status("b", {"code": "state", "server": "http://gpu1/", "state": "alice", "switched": False, "switches": 2})
    assert out.getvalue().splitlines() == ["http://gpu1/: now alice (switch 2)"]

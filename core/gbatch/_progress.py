"""The CLI's view of a running batch: a rich progress display on a terminal,
one plain line per finished row otherwise. Implements the executor's Listener.

Row ids, errors and worker names come from task files and servers: they are escaped
as `Text`, never read as rich markup (`[speaker_1]` keeps its brackets, `[/intro]` is no error).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TimeRemainingColumn,
)
from rich.text import Text

from ._executor import ErrorKind, ExecutorReport, ItemOutcome, Listener

__all__ = ["PlainListener", "RichListener"]


class _Counts:
    def __init__(self) -> None:
        self.done = 0
        self.failed = 0
        self.retrying: set[str] = set()
        self.running: set[str] = set()
        self.ranks: dict[str, int] = {}
        #: how far along each running row is (0..1), for apps that say so (gr.Progress, Fooocus)
        self.fractions: dict[str, float] = {}
        self.lock = threading.Lock()
        self.started = time.monotonic()
        #: cluster workers: name -> the latest `row_status` with code "worker" (rows done, rate, health)
        self.workers: dict[str, dict[str, Any]] = {}
        #: server label -> slots learned so far (the executor's "slots" status)
        self.slots: dict[str, int] = {}
        #: server -> the voice (server state) it holds, for tools whose rows need one
        self.states: dict[str, str] = {}

    def rate(self) -> float:
        minutes = (time.monotonic() - self.started) / 60
        return (self.done + self.failed) / minutes if minutes > 0 else 0.0

    def line(self, width: int = 200) -> Text:
        """The status text, as many of its parts as fit in `width` columns (most important first)."""
        with self.lock:
            waiting = [r for r in self.ranks.values() if r is not None]
            parts = [
                Text(f"{self.done} done", style="green"),
                Text(f"{self.failed} failed", style="red"),
                Text(f"{len(self.retrying)} retrying", style="yellow"),
                Text(f"{len(self.running)} in flight" + self._along()),
                Text(f"{self.rate():.1f} rows/min"),
            ]
            if waiting:
                parts.append(Text(f"server queue: {len(waiting)} waiting (next at {min(waiting) + 1})"))
            if self.slots:
                parts.append(Text("slots learned: " + ", ".join(f"{server} {n}" for server, n in self.slots.items())))
            if self.states:
                parts.append(Text("voices: " + ", ".join(f"{server} {state}" for server, state in sorted(self.states.items()))))
            if self.workers:
                parts.append(self.worker_line())
        shown: list[Text] = []
        used = 0
        for part in parts:
            length = len(part) + (3 if shown else 0)
            if used + length > width:
                break
            shown.append(part)
            used += length
        return Text(" · ").join(shown)

    def _along(self) -> str:
        shown = [self.fractions[i] for i in self.running if i in self.fractions]
        return f" ({sum(shown) / len(shown):.0%} along)" if shown else ""

    def worker_line(self) -> Text:
        shown = [
            Text(f"{name} {w.get('rate', 0.0):.0f}/min") if w.get("healthy", True) else Text(f"{name} unhealthy", style="red")
            for name, w in sorted(self.workers.items())
        ]
        return Text("workers: ") + Text(", ").join(shown)


class _StatusColumn(ProgressColumn):
    """The status line, a `Text` kept in the task's fields (row ids and worker names stay text)."""

    def render(self, task: Task) -> Text:
        status = task.fields.get("status")
        return status if isinstance(status, Text) else Text("")


class RichListener(Listener):
    """A live progress bar with done/failed/retrying/in-flight counts, rate, ETA and queue position."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.counts = _Counts()
        self.progress = Progress(
            SpinnerColumn(),
            BarColumn(),
            MofNCompleteColumn(),
            _StatusColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task("", total=0, status=Text(""))

    def _refresh(self) -> None:
        # The spinner, bar, counts and ETA take about 45 columns; the status gets the rest.
        self.progress.update(self.task, status=self.counts.line(max(20, self.console.width - 48)))

    def _print(self, *parts: str | Text) -> None:
        # Text, not markup: ids and errors are the task file's and the server's words.
        self.progress.console.print(Text.assemble(*parts), highlight=False)

    def batch_started(self, total: int) -> None:
        # Called again for each round of retakes (--check-server): each round counts afresh.
        self.counts.started = time.monotonic()
        self.counts.done = self.counts.failed = 0
        self.progress.reset(self.task, total=total)
        self.progress.start()
        self._refresh()

    def row_started(self, item_id: str, backend: str, attempt: int) -> None:
        with self.counts.lock:
            self.counts.running.add(item_id)
            self.counts.retrying.discard(item_id)
        self._refresh()

    def row_status(self, item_id: str, status: dict[str, Any]) -> None:
        if status.get("code") == "slots":
            with self.counts.lock:
                self.counts.slots[str(status["server"])] = int(status["learned"])
            self._refresh()
            return
        if status.get("code") == "worker":
            with self.counts.lock:
                before = self.counts.workers.get(status["worker"], {}).get("healthy", True)
                self.counts.workers[status["worker"]] = status
            if before and not status.get("healthy", True):
                self._print(Text(f"worker {status['worker']} is unhealthy", style="red"), f" ({status.get('error')}); its rows go to other workers")
            self._refresh()
            return
        if status.get("code") == "state":
            with self.counts.lock:
                self.counts.states[str(status["server"])] = str(status["state"])
            if status.get("switched"):
                self.progress.console.print(f"{status['server']}: now {status['state']} (switch {status.get('switches')})", markup=False, highlight=False)
            self._refresh()
            return
        with self.counts.lock:
            if status.get("progress") is not None:
                self.counts.fractions[item_id] = float(status["progress"])
            if status.get("code") == "queued" and status.get("rank") is not None:
                self.counts.ranks[item_id] = int(status["rank"])
            else:
                self.counts.ranks.pop(item_id, None)
        self._refresh()

    def row_retrying(self, item_id: str, attempt: int, error: str, delay: float, kind: ErrorKind) -> None:
        with self.counts.lock:
            self.counts.running.discard(item_id)
            self.counts.ranks.pop(item_id, None)
            self.counts.retrying.add(item_id)
        if kind is not ErrorKind.BACKPRESSURE:
            self._print(Text("retry", style="yellow"), f" {item_id} (attempt {attempt} failed: {error}); again in {delay:.1f}s")
        self._refresh()

    def row_finished(self, outcome: ItemOutcome[Any]) -> None:
        with self.counts.lock:
            self.counts.running.discard(outcome.id)
            self.counts.retrying.discard(outcome.id)
            self.counts.ranks.pop(outcome.id, None)
            self.counts.fractions.pop(outcome.id, None)
            if outcome.ok:
                self.counts.done += 1
            else:
                self.counts.failed += 1
        if not outcome.ok:
            self._print(Text("failed", style="red"), f" {outcome.id}: {outcome.error}")
        self.progress.advance(self.task)
        self._refresh()

    def batch_finished(self, report: ExecutorReport[Any]) -> None:
        self._refresh()
        self.progress.stop()


class PlainListener(Listener):
    """One line per event, for logs and pipes (no terminal control codes)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.total = 0
        self.finished = 0
        self.healthy: dict[str, bool] = {}

    def _say(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def batch_started(self, total: int) -> None:
        self.total, self.finished = total, 0  # a round of retakes counts afresh
        self._say(f"running {total} row{'s' if total != 1 else ''}")

    def row_status(self, item_id: str, status: dict[str, Any]) -> None:
        if status.get("code") == "state" and status.get("switched"):
            self._say(f"{status['server']}: now {status['state']} (switch {status.get('switches')})")
            return
        # Cluster workers: say when one turns unhealthy, or recovers.
        if status.get("code") != "worker":
            return
        healthy = bool(status.get("healthy", True))
        if self.healthy.get(status["worker"], True) != healthy:
            if healthy:
                self._say(f"worker {status['worker']} is healthy again")
            else:
                self._say(f"worker {status['worker']} is unhealthy ({status.get('error')}); its rows go to other workers")
        self.healthy[status["worker"]] = healthy

    def row_retrying(self, item_id: str, attempt: int, error: str, delay: float, kind: ErrorKind) -> None:
        if kind is not ErrorKind.BACKPRESSURE:
            self._say(f"retry {item_id}: attempt {attempt} failed ({error}); again in {delay:.1f}s")

    def row_finished(self, outcome: ItemOutcome[Any]) -> None:
        self.finished += 1
        where = f"[{self.finished}/{self.total}]"
        if outcome.ok:
            # A batch's value is a `gbatch._row.Collected`: the files it wrote.
            outputs = ", ".join(getattr(outcome.value, "outputs", None) or []) or "-"
            took = (outcome.ended or 0) - (outcome.started or 0)
            self._say(f"{where} ok {outcome.id} ({took:.1f}s) -> {outputs}")
        else:
            self._say(f"{where} FAILED {outcome.id}: {outcome.error}")

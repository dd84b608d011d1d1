"""The check stage: takes sent to recogniser apps on their own servers and slots, while the
generation stage goes on.

Each server slot is a daemon thread taking jobs from one queue, so checking row 1 overlaps
generating row 2 and a slow recogniser never holds a generation slot. Results come back
through `results()`/`wait()` in the thread that owns the journal. A recogniser that is down
or errors leaves the take unchecked (`CheckResult.error` says why): the stage never retries
on the take's account, and the batch goes on.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .._call import call, classify, describe
from .._columns import File
from .._executor import Attempt, ErrorKind, Listener, ServerSlots
from .._servers import Server
from ..transports.base import TransportRequest
from .recognizer import Recognizer
from .score import Score, score

__all__ = ["CheckJob", "CheckResult", "CheckStage", "Recogniser"]

#: a check that failed for a passing reason (a dropped connection, a full queue) is tried again
#: this many times, after 0.5 s, then 1 s; then the take is left unchecked
RETRIES = 2


@dataclass(frozen=True)
class CheckJob:
    row_id: str
    take: int
    #: the take's audio file; None when the take has none (it cannot be checked)
    audio: Path | None
    expected: str
    language: str | None


@dataclass(frozen=True)
class CheckResult:
    job: CheckJob
    #: None when the take could not be checked (then `error` says why)
    transcript: str | None
    score: Score | None
    error: str | None = None
    server: str | None = None


@dataclass(frozen=True)
class Recogniser:
    """One recogniser server of the stage, the endpoint it is called on, and its slots."""

    server: Server
    recognizer: Recognizer
    slots: int


class CheckStage:
    """Recogniser servers and their slot threads; `submit` from one thread, read results there."""

    def __init__(self, recognisers: Sequence[Recogniser], *, timeout: float | None = None, unreachable: str = "no recogniser server could be reached") -> None:
        self._jobs: queue.Queue[CheckJob | None] = queue.Queue()
        self._results: queue.Queue[CheckResult] = queue.Queue()
        self._cancelled = threading.Event()
        self._timeout = timeout
        self._unreachable = unreachable
        self._sequence = itertools.count()
        self.submitted = 0
        self.returned = 0
        self._threads = [
            threading.Thread(target=self._serve, args=(r, slot), name=f"gbatch check {r.server.label}#{slot}", daemon=True)
            for r in recognisers
            for slot in range(max(1, r.slots))
        ]
        for thread in self._threads:
            thread.start()

    @property
    def pending(self) -> int:
        return self.submitted - self.returned

    def submit(self, job: CheckJob) -> None:
        self.submitted += 1
        if not self._threads or job.audio is None:
            self._results.put(CheckResult(job, None, None, self._unreachable if job.audio else "the take has no audio file"))
            return
        self._jobs.put(job)

    def results(self) -> list[CheckResult]:
        """The results that came in so far (never blocks)."""
        found = []
        while True:
            try:
                found.append(self._results.get_nowait())
            except queue.Empty:
                self.returned += len(found)
                return found

    def wait(self, timeout: float) -> list[CheckResult]:
        """Results, waiting up to `timeout` s for the first one."""
        try:
            first = self._results.get(timeout=timeout)
        except queue.Empty:
            return []
        self.returned += 1
        return [first, *self.results()]

    def close(self) -> None:
        """Cancel what runs and stop the threads (they are daemons: none keeps the process alive)."""
        self._cancelled.set()
        for _ in self._threads:
            self._jobs.put(None)

    def _serve(self, recogniser: Recogniser, slot: int) -> None:
        backend = ServerSlots(recogniser.server.url, recogniser.slots, recogniser.server.label)
        while not self._cancelled.is_set():
            job = self._jobs.get()
            if job is None or self._cancelled.is_set():
                return
            self._results.put(self._check(recogniser, backend, slot, job))

    def _check(self, recogniser: Recogniser, backend: ServerSlots, slot: int, job: CheckJob) -> CheckResult:
        rec = recogniser.recognizer
        attempt = Attempt(f"check {job.row_id}#{job.take}", job, 1, backend, slot, self._cancelled, self._timeout, Listener(), time.monotonic)
        request = TransportRequest(rec.endpoint, rec.values(File(str(job.audio)), job.language), f"check-{next(self._sequence)}")
        result = None
        for retry in range(RETRIES + 1):
            try:
                result = call(recogniser.server.session, request, attempt)
                break
            except Exception as exc:  # noqa: BLE001 - whatever the recogniser did, the take stays unchecked
                passing = classify(exc) in (ErrorKind.TRANSIENT, ErrorKind.BACKPRESSURE)
                if not passing or retry == RETRIES or self._cancelled.wait(0.5 * 2**retry):
                    return CheckResult(job, None, None, recogniser.server.redact(describe(exc)), recogniser.server.label)
        assert result is not None  # the loop returned otherwise
        heard = rec.transcript(result.outputs)
        return CheckResult(job, heard, score(job.expected, heard), None, recogniser.server.label)

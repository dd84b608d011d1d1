"""The shared threaded executor: bounded concurrency over several backends,
retries with backoff, back-pressure, halting and clean interruption.

It knows nothing of Gradio, rich or any tool. Work is a function called with
an `Attempt`; failures are sorted by a `classify` function into permanent,
transient (retried with exponential backoff and jitter, on another backend
first) and back-pressure (waited out without spending a retry). Progress goes
to a `Listener`.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

__all__ = [
    "Attempt",
    "Backend",
    "ErrorKind",
    "ExecutionReport",
    "Listener",
    "Outcome",
    "RetryPolicy",
    "execute",
]

T = TypeVar("T")

# How many retried rows may wait for a backend they have not failed on, per scheduling pass.
MAX_DEFERRED = 64
# After a transient failure a backend rests REST seconds, doubling with each failure in a row.
REST = 0.5
MAX_REST = 30.0


class ErrorKind(Enum):
    PERMANENT = "permanent"  # the row fails now
    TRANSIENT = "transient"  # worth another attempt, after a backoff
    BACKPRESSURE = "backpressure"  # the server is busy: wait and resubmit, no retry spent
    CANCELLED = "cancelled"  # we cancelled it (Ctrl-C, halt)


@dataclass(frozen=True)
class Backend:
    """A server the executor can send work to, with how many rows it runs at once."""

    url: str
    slots: int
    label: str = ""

    def __str__(self) -> str:
        return self.label or self.url


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3
    backoff: float = 1.0  # first delay, doubled per attempt
    max_backoff: float = 60.0
    jitter: float = 0.5  # up to this fraction added at random, so retries do not arrive in step
    backpressure_delay: float = 1.0
    max_backpressure_waits: int = 600

    def delay(self, attempt: int, rng: random.Random) -> float:
        base = min(self.max_backoff, self.backoff * 2.0 ** max(0, attempt - 1))
        return base * (1 + self.jitter * rng.random())


class Attempt:
    """What the work function gets: the item, where to send it, and how to stop early."""

    def __init__(
        self,
        item_id: str,
        payload: Any,
        number: int,
        backend: Backend,
        slot: int,
        cancelled: threading.Event,
        timeout: float | None,
        listener: Listener,
        clock: Callable[[], float],
    ) -> None:
        self.item_id = item_id
        self.payload = payload
        self.number = number
        self.backend = backend
        self.slot = slot
        self.cancelled = cancelled
        self.deadline = clock() + timeout if timeout else None
        self._listener = listener
        self._clock = clock

    def time_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - self._clock()

    def report(self, **status: Any) -> None:
        """Pass a status (e.g. queue rank) to the listener; callable from the worker thread."""
        self._listener.row_status(self.item_id, status)


@dataclass
class Outcome(Generic[T]):
    """The final state of one item."""

    id: str
    ok: bool
    value: T | None = None
    error: str | None = None
    kind: ErrorKind | None = None
    attempts: int = 0
    backend: str | None = None
    started: float | None = None  # wall-clock (time.time) of the first attempt
    ended: float | None = None
    failed_on: list[str] = field(default_factory=list)
    #: the URL of the backend of the last attempt (`backend` is its label)
    backend_url: str | None = None


@dataclass
class ExecutionReport(Generic[T]):
    outcomes: list[Outcome[T]]
    interrupted: bool = False
    halted: bool = False
    not_run: list[str] = field(default_factory=list)


class Listener:
    """Progress callbacks; each does nothing here, so a listener overrides only what it needs.

    All run in the thread that called `execute`, except `row_status`, which runs
    in a worker thread. They must return quickly: the executor waits for them.
    """

    def batch_started(self, total: int) -> None:
        """`total` items are about to run."""

    def row_started(self, item_id: str, backend: str, attempt: int) -> None:
        """An attempt was sent to `backend` (attempt 1 is the first)."""

    def row_status(self, item_id: str, status: dict[str, Any]) -> None:
        """Whatever the work reported through `Attempt.report` (e.g. queue rank). Worker thread."""

    def row_retrying(self, item_id: str, attempt: int, error: str, delay: float, kind: ErrorKind) -> None:
        """An attempt failed with a transient error or back-pressure; the item runs again in `delay` s."""

    def row_finished(self, outcome: Outcome[Any]) -> None:
        """The item's final outcome (success, or failure after its retries)."""

    def batch_finished(self, report: ExecutionReport[Any]) -> None:
        """Every item has an outcome, or is in `report.not_run`."""


@dataclass
class _Item:
    id: str
    payload: Any
    attempts: int = 0
    waits: int = 0
    started: float | None = None
    failed_on: list[str] = field(default_factory=list)
    last_error: str | None = None


@dataclass
class _Running:
    item: _Item
    backend: Backend
    slot: int


def execute(
    items: Sequence[tuple[str, Any]],
    work: Callable[[Attempt], T],
    backends: Sequence[Backend],
    *,
    jobs: int | None = None,
    policy: RetryPolicy | None = None,
    classify: Callable[[BaseException], ErrorKind] | None = None,
    describe: Callable[[BaseException], str] = lambda exc: str(exc) or type(exc).__name__,
    timeout: float | None = None,
    halt_on_failures: int | None = None,
    listener: Listener | None = None,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> ExecutionReport[T]:
    """Run `work` once per item (retrying as the policy says) and return every outcome.

    :param items: (id, payload) pairs, run in this order as slots free up.
    :param work: called in a worker thread with an `Attempt`; its return value is the
        outcome's value, an exception is a failed attempt.
    :param backends: where work may go; each runs at most `slots` items at once.
    :param jobs: a global cap on items in flight (default: the sum of the slots).
    :param classify: sorts an attempt's exception into an `ErrorKind` (default: permanent).
    :param timeout: seconds per attempt, exposed to `work` as `Attempt.deadline`.
    :param halt_on_failures: stop starting items after this many final failures.

    Ctrl-C (KeyboardInterrupt) in the calling thread stops new work, sets
    `Attempt.cancelled` for the running items, waits for them and returns with
    `interrupted=True`; items that finished are in `outcomes`, the rest in `not_run`.
    """
    if not backends:
        raise ValueError("execute() needs at least one backend")
    policy = policy or RetryPolicy()
    classify = classify or (lambda exc: ErrorKind.PERMANENT)
    listener = listener or Listener()
    rng = rng or random.Random()
    capacity = sum(b.slots for b in backends)
    jobs = min(jobs or capacity, capacity)
    cancelled = threading.Event()

    ready: deque[_Item] = deque(_Item(i, p) for i, p in items)
    delayed: list[tuple[float, int, _Item]] = []  # (due, sequence, item)
    sequence = itertools.count()
    free = {b.url: list(range(b.slots)) for b in backends}
    troubles = {b.url: 0 for b in backends}  # transient failures in a row, per backend
    resting_until = {b.url: 0.0 for b in backends}
    running: dict[Future[T], _Running] = {}
    outcomes: list[Outcome[T]] = []
    not_run: list[str] = []
    failures = 0
    stopping = False
    interrupted = False

    def pick_backend(item: _Item) -> Backend | None:
        now = clock()
        # A backend that just failed rests, so fresh rows do not spend attempts on it while
        # another backend is healthy; when every backend rests, they are all used as usual.
        anyone_awake = any(resting_until[b.url] <= now for b in backends)
        candidates = [b for b in backends if free[b.url] and (resting_until[b.url] <= now or not anyone_awake)]
        if not candidates:
            return None
        # A row that failed somewhere goes elsewhere first; otherwise the emptiest backend.
        return min(candidates, key=lambda b: (item.failed_on.count(b.url), -len(free[b.url])))

    def finish(item: _Item, ok: bool, value: T | None, error: str | None, kind: ErrorKind | None, backend: Backend) -> None:
        outcome = Outcome(
            id=item.id,
            ok=ok,
            value=value,
            error=error,
            kind=kind,
            attempts=item.attempts,
            backend=str(backend),
            backend_url=backend.url,
            started=item.started,
            ended=time.time(),
            failed_on=list(item.failed_on),
        )
        outcomes.append(outcome)
        listener.row_finished(outcome)

    def start_work(pool: ThreadPoolExecutor) -> None:
        deferred: list[_Item] = []
        while len(running) < jobs and ready and not stopping:
            item = ready.popleft()
            backend = pick_backend(item)
            if backend is None:
                ready.appendleft(item)
                break
            if backend.url in item.failed_on and len(deferred) < MAX_DEFERRED and any(b.url not in item.failed_on for b in backends):
                # Only backends this row failed on are free, but another one will free up
                # (it is busy): let a fresh row take this slot and keep the retry for that one.
                deferred.append(item)
                continue
            slot = free[backend.url].pop(0)
            item.attempts += 1
            if item.started is None:
                item.started = time.time()
            attempt = Attempt(item.id, item.payload, item.attempts, backend, slot, cancelled, timeout, listener, clock)
            running[pool.submit(work, attempt)] = _Running(item, backend, slot)
            # Listeners last: one may raise KeyboardInterrupt, and the item must already be tracked.
            listener.row_started(item.id, str(backend), item.attempts)
        ready.extendleft(reversed(deferred))

    def settle(future: Future[T]) -> None:
        nonlocal failures, stopping
        run = running.pop(future)
        item, backend = run.item, run.backend
        free[backend.url].append(run.slot)
        free[backend.url].sort()
        exc = future.exception()
        if exc is None:
            troubles[backend.url] = 0
            resting_until[backend.url] = 0.0
            finish(item, True, future.result(), None, None, backend)
            return
        kind = ErrorKind.CANCELLED if cancelled.is_set() else classify(exc)
        message = describe(exc)
        item.last_error = message
        if kind is ErrorKind.BACKPRESSURE and item.waits < policy.max_backpressure_waits and not stopping:
            item.attempts -= 1  # a full queue is not the row's fault
            item.waits += 1
            delay = policy.backpressure_delay * (1 + policy.jitter * rng.random())
            heapq.heappush(delayed, (clock() + delay, next(sequence), item))  # before the listener, as above
            listener.row_retrying(item.id, item.attempts, message, delay, kind)
            return
        if kind is ErrorKind.TRANSIENT:
            troubles[backend.url] += 1
            rest = min(MAX_REST, REST * 2 ** (troubles[backend.url] - 1))
            resting_until[backend.url] = clock() + rest
        if kind in (ErrorKind.TRANSIENT, ErrorKind.BACKPRESSURE):
            item.failed_on.append(backend.url)
            if item.attempts <= policy.retries and not stopping:
                delay = policy.delay(item.attempts, rng)
                heapq.heappush(delayed, (clock() + delay, next(sequence), item))
                listener.row_retrying(item.id, item.attempts, message, delay, kind)
                return
        if kind is ErrorKind.CANCELLED:
            not_run.append(item.id)
            return
        failures += 1
        finish(item, False, None, message, kind, backend)
        if halt_on_failures and failures >= halt_on_failures:
            stopping = True

    listener.batch_started(len(ready))
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="gbatch")
    try:
        while True:
            try:
                now = clock()
                due = []
                while delayed and delayed[0][0] <= now:
                    due.append(heapq.heappop(delayed)[2])
                # retried rows go first, in the order they came due, so rows finish roughly in file order
                ready.extendleft(reversed(due))
                start_work(pool)
                if not running and (stopping or (not ready and not delayed)):
                    break
                wait_for = 0.5
                if delayed:
                    wait_for = max(0.0, min(wait_for, delayed[0][0] - clock()))
                if not running:
                    time.sleep(wait_for)
                    continue
                done, _ = wait(list(running), timeout=wait_for, return_when=FIRST_COMPLETED)
                for future in done:
                    settle(future)
            except KeyboardInterrupt:
                interrupted = stopping = True
                cancelled.set()
                # Running attempts see `cancelled` and cancel their server jobs; wait for them.
                while running:
                    done, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in done:
                        settle(future)
                break
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    not_run.extend(item.id for item in ready)
    not_run.extend(entry[2].id for entry in delayed)
    report: ExecutionReport[T] = ExecutionReport(outcomes, interrupted=interrupted, halted=stopping and not interrupted, not_run=not_run)
    listener.batch_finished(report)
    return report

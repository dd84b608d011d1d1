"""The executor's decisions, without threads: what starts next and where, and what a
finished attempt means.

`Scheduler` holds one batch's state: rows ready to start, rows waiting for a retry,
each backend's free slots and rest, the failures so far and why the batch is
stopping. How many slots a backend has is its `gbatch._slots.Slots`: learned from
the queue events `observed` passes on (or fixed, as given). `_executor.execute` sends what `starts` returns in worker threads and
hands each finished attempt back to `succeeded` or `failed`. What happens to a
failed attempt is `decide`, one pure function. Time and randomness are injected,
so every rule is tested without threads (tests/test_scheduler.py).

The report is derived from one record, the outcome of each row: every row that has
none is "not run". So however a batch ends — even a Ctrl-C between two steps of
moving a row from one queue to another — each row appears exactly once.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import random
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

from ._errors import Failure
from ._slots import Learning, Slots, SlotsReport
from ._states import StateRouter

__all__ = [
    "ServerSlots",
    "Decision",
    "ErrorKind",
    "ExecutorReport",
    "Fail",
    "NotRun",
    "ItemOutcome",
    "Retry",
    "RetryPolicy",
    "Retrying",
    "Row",
    "Scheduler",
    "Start",
    "Stop",
    "Wait",
    "decide",
]

T = TypeVar("T")

# How many retried rows may wait for a backend they have not failed on, per scheduling pass.
MAX_DEFERRED = 64
# After a transient failure a backend rests REST seconds, doubling with each failure in a row.
REST = 0.5
MAX_REST = 30.0
# The longest the executor waits for an attempt before it looks again (a rest may have ended).
POLL = 0.5


class ErrorKind(Enum):
    PERMANENT = "permanent"  # the row fails now
    TRANSIENT = "transient"  # worth another attempt, after a backoff
    BACKPRESSURE = "backpressure"  # the server is busy: wait and resubmit, no retry spent
    CANCELLED = "cancelled"  # we cancelled it (Ctrl-C, halt)


@dataclass(frozen=True)
class ServerSlots:
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


@dataclass
class ItemOutcome(Generic[T]):
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
    #: why the row failed, when the work said so as a value (`_executor.AttemptFailed`)
    failure: Failure | None = None


@dataclass
class ExecutorReport(Generic[T]):
    outcomes: list[ItemOutcome[T]]
    interrupted: bool = False
    halted: bool = False
    not_run: list[str] = field(default_factory=list)
    #: what each backend's slots came to, by URL (learned from its queue, or as given)
    slots: dict[str, SlotsReport] = field(default_factory=dict)


# --- what a failed attempt leads to --------------------------------------------------------------


@dataclass(frozen=True)
class Retry:
    """Spend an attempt: run the row again in `delay` s, on a backend it has not failed on first."""

    delay: float


@dataclass(frozen=True)
class Wait:
    """Back-pressure: resubmit in `delay` s without spending an attempt."""

    delay: float


@dataclass(frozen=True)
class Fail:
    """The row fails with this attempt's error."""


@dataclass(frozen=True)
class NotRun:
    """The batch is stopping (or cancelled the attempt): the row is not run, not failed."""


Decision = Retry | Wait | Fail | NotRun


def decide(
    kind: ErrorKind, *, attempts: int, waits: int, policy: RetryPolicy, stopping: bool, rng: random.Random
) -> Decision:
    """What to do with a row whose attempt number `attempts` failed with `kind`, after `waits`
    back-pressure waits. Draws from `rng` once for a Retry or a Wait, never otherwise."""
    # A stopping batch cancelled its running attempts: whatever they failed with, the
    # cancel may be its cause, and the row did not get its chance.
    if stopping or kind is ErrorKind.CANCELLED:
        return NotRun()
    if kind is ErrorKind.BACKPRESSURE and waits < policy.max_backpressure_waits:
        return Wait(policy.backpressure_delay * (1 + policy.jitter * rng.random()))
    # Past its free waits, a full queue counts as a failed attempt like any transient error.
    if kind in (ErrorKind.TRANSIENT, ErrorKind.BACKPRESSURE) and attempts <= policy.retries:
        return Retry(policy.delay(attempts, rng))
    return Fail()


# --- the scheduler -------------------------------------------------------------------------------


@dataclass(eq=False)
class Row:
    """One item, as the scheduler tracks it between attempts."""

    index: int  # its place in the input: the report's key, so duplicate ids cannot merge
    id: str
    payload: Any
    attempts: int = 0  # attempts sent, back-pressure waits not counted
    waits: int = 0
    started: float | None = None
    failed_on: list[str] = field(default_factory=list)
    #: the server state the row needs (a loaded voice), or None (see `_states`)
    state: str | None = None


@dataclass(frozen=True, eq=False)
class Start:
    """An attempt to send now: `row` to `backend`'s `slot`, as attempt `number`."""

    row: Row
    backend: ServerSlots
    slot: int
    number: int
    #: the scheduler's clock when it was sent (the latency a server without a queue is judged by)
    at: float = 0.0


@dataclass(frozen=True)
class Retrying:
    """A failed attempt whose row runs again in `delay` s (what `Listener.row_retrying` gets)."""

    item_id: str
    attempt: int
    error: str
    delay: float
    kind: ErrorKind


class Stop(Enum):
    HALT = "halt"  # halt_on_failures was reached
    INTERRUPT = "interrupt"  # Ctrl-C
    ERROR = "error"  # the scheduling loop raised


class Scheduler(Generic[T]):
    """The state of one batch and every decision about it; no threads, no waiting."""

    def __init__(
        self,
        items: Sequence[tuple[str, Any]],
        backends: Sequence[ServerSlots],
        *,
        jobs: int | None = None,
        policy: RetryPolicy | None = None,
        halt_on_failures: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        states: Sequence[str | None] | None = None,
        pins: Mapping[str, Collection[str]] | None = None,
        slots: Mapping[str, Slots] | None = None,
    ) -> None:
        """:param slots: how many rows each backend (by URL) may have in flight, learned as the
        batch runs (`gbatch._slots`); a backend without one runs exactly `ServerSlots.slots`."""
        if not backends:
            raise ValueError("execute() needs at least one backend")
        self.rows = [Row(index, item_id, payload) for index, (item_id, payload) in enumerate(items)]
        #: with rows that need a server state: which row each free slot takes (see `_states`)
        self.router: StateRouter | None = None
        if states is not None and any(state is not None for state in states):
            for row, state in zip(self.rows, states, strict=True):
                row.state = state
            self.router = StateRouter([b.url for b in backends], pins)
        self.backends = list(backends)
        capacity = sum(b.slots for b in backends)
        self.jobs = min(jobs or capacity, capacity)
        self.policy = policy or RetryPolicy()
        self.halt_on_failures = halt_on_failures
        self.clock, self.wall = clock, wall
        self.rng = rng or random.Random()

        self.ready: deque[Row] = deque(self.rows)
        self.delayed: list[tuple[float, int, Row]] = []  # a heap of (due, sequence, row)
        self._sequence = itertools.count()
        self.free = {b.url: list(range(b.slots)) for b in backends}
        given = slots or {}
        self.slots = {b.url: given.get(b.url) or Slots(b.slots, how=Learning.FIXED) for b in backends}
        self.troubles = {b.url: 0 for b in backends}  # transient failures in a row, per backend
        self.resting_until = {b.url: 0.0 for b in backends}
        self.in_flight = 0
        self.failures = 0
        self.stopped: Stop | None = None
        # The one record of how rows ended, by input position; a row without one is not run.
        self._outcomes: dict[int, ItemOutcome[T]] = {}

    # --- state ---

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def stopping(self) -> bool:
        return self.stopped is not None

    @property
    def finished(self) -> bool:
        """Nothing runs and nothing is left to start."""
        return not self.in_flight and not self.ready and not self.delayed

    def stop(self, reason: Stop) -> None:
        """Start nothing more; failures from now on are "not run". A Ctrl-C overrides a halt."""
        if self.stopped is None or reason is Stop.INTERRUPT:
            self.stopped = reason

    def wait_time(self) -> float:
        """How long the executor may wait for running attempts before a delayed row comes due
        or a server's running count is to be sampled."""
        now = self.clock()
        dues = [due for due in (slots.due() for slots in self.slots.values()) if due is not None]
        if self.delayed:
            dues.append(self.delayed[0][0])
        return max(0.0, min([POLL, *(due - now for due in dues)]))

    def report(self) -> ExecutorReport[T]:
        """Outcomes in the order rows ended; every other row, in input order, as not run."""
        return ExecutorReport(
            list(self._outcomes.values()),
            interrupted=self.stopped is Stop.INTERRUPT,
            halted=self.stopped is Stop.HALT,
            not_run=[row.id for row in self.rows if row.index not in self._outcomes],
            slots={url: slots.report() for url, slots in self.slots.items()},
        )

    def observed(self, start: Start, code: str) -> None:
        """The server said the attempt waits in its queue ("queued"), runs ("started") or
        is done ("finished"; its result may still be on the way)."""
        slots, now = self.slots[start.backend.url], self.clock()
        if code == "queued":
            slots.queued(start, now)
        elif code == "started":
            slots.started(start, now)
        elif code == "finished":
            slots.ended(start, now)

    def learned(self) -> dict[str, int]:
        """Each backend's slots as learned so far, by URL."""
        return {url: slots.current() for url, slots in self.slots.items()}

    # --- starting ---

    def starts(self) -> list[Start]:
        """The attempts to send now, in order (none once stopping); their slots are taken."""
        if self.stopping:
            return []
        now = self.clock()
        for slots in self.slots.values():
            slots.tick(now)
        self._release_due()
        if self.router is not None:
            return self._starts_by_state(self.router)
        chosen: list[Start] = []
        deferred: list[Row] = []
        while self.in_flight < self.jobs and self.ready:
            row = self.ready.popleft()
            backend = self.pick_backend(row)
            if backend is None:
                self.ready.appendleft(row)
                break
            if self._should_defer(row, backend, len(deferred)):
                deferred.append(row)
                continue
            chosen.append(self._start(row, backend))
        self.ready.extendleft(reversed(deferred))
        return chosen

    def _starts_by_state(self, router: StateRouter) -> list[Start]:
        # Each free slot asks the router for a row its server can run without a switch under
        # running rows; a server whose rows all need another state switches once drained.
        chosen: list[Start] = []
        while self.in_flight < self.jobs and self.ready:
            now = self.clock()
            awake = {b.url for b in self.backends if self.resting_until[b.url] <= now}
            # as in `pick_backend`: a resting server takes rows only when every server rests
            candidates = [b for b in self.backends if self.free[b.url] and self.slots[b.url].free() and (b.url in awake or not awake)]
            pick = None
            for backend in sorted(candidates, key=lambda b: -self.slots[b.url].room()):
                position = router.choose(backend.url, [row.state for row in self.ready], awake)
                if position is not None:
                    pick = (position, backend)
                    break
            if pick is None:
                break
            row = self.ready[pick[0]]
            del self.ready[pick[0]]
            chosen.append(self._start(row, pick[1]))
        return chosen

    def pick_backend(self, row: Row) -> ServerSlots | None:
        """A backend with a free slot for `row`, or None."""
        now = self.clock()
        # A backend that just failed rests, so fresh rows do not spend attempts on it while
        # another backend is healthy; when every backend rests, they are all used as usual.
        anyone_awake = any(self.resting_until[b.url] <= now for b in self.backends)
        candidates = [
            b
            for b in self.backends
            if self.free[b.url] and self.slots[b.url].free() and (self.resting_until[b.url] <= now or not anyone_awake)
        ]
        if not row.failed_on:  # a retry goes where it may (`_should_defer` keeps it from where it failed)
            candidates = self._in_time(candidates, [b for b in self.backends if self.resting_until[b.url] <= now])
        if not candidates:
            return None
        # A row that failed somewhere goes elsewhere first; otherwise the backend with the most
        # learned slots not taken by ours, so a faster server, freeing slots sooner, takes more rows.
        return min(candidates, key=lambda b: (row.failed_on.count(b.url), -self.slots[b.url].room()))

    def _in_time(self, candidates: list[ServerSlots], awake: list[ServerSlots]) -> list[ServerSlots]:
        """The candidates where a row sent now would not hold up the end of the batch.

        Near the end, a row queued behind a slow server's rows may finish after a faster server
        has done all the rest and idles. A server is skipped when the row would be done there
        later than both the time left if every server kept busy (the rows left over the
        servers' summed rates) and on the soonest other server (which has rows running, so a
        slot frees up). Until every server has run a row there is nothing to judge by.
        """
        if len(awake) < 2 or not candidates or not self.in_flight:
            return candidates  # with nothing in flight, no slot is about to free up elsewhere
        finish: dict[str, float] = {}
        rate = 0.0
        for backend in awake:
            slots = self.slots[backend.url]
            done_in, per_second = slots.finish_in(), slots.rate()
            if done_in is None or per_second is None:
                return candidates
            finish[backend.url], rate = done_in, rate + per_second
        left = len(self.ready) + 1 + len(self.delayed) + self.in_flight  # the row being placed is out of `ready`
        bound = max(left / rate, min(finish.values()))
        return [b for b in candidates if finish[b.url] <= bound]

    def _should_defer(self, row: Row, backend: ServerSlots, deferred: int) -> bool:
        # Only backends this row failed on are free, but another one will free up (it is
        # busy): let a fresh row take this slot and keep the retry for that one.
        return (
            backend.url in row.failed_on
            and deferred < MAX_DEFERRED
            and any(b.url not in row.failed_on for b in self.backends)
        )

    def _start(self, row: Row, backend: ServerSlots) -> Start:
        slot = self.free[backend.url].pop(0)
        row.attempts += 1
        if row.started is None:
            row.started = self.wall()
        self.in_flight += 1
        if self.router is not None:
            self.router.started(backend.url, row.state)
        start = Start(row, backend, slot, row.attempts, self.clock())
        self.slots[backend.url].sent(start, start.at)
        return start

    def _release_due(self) -> None:
        now = self.clock()
        due: list[Row] = []
        while self.delayed and self.delayed[0][0] <= now:
            due.append(heapq.heappop(self.delayed)[2])
        # retried rows go first, in the order they came due, so rows finish roughly in file order
        self.ready.extendleft(reversed(due))

    # --- settling ---

    def succeeded(self, start: Start, value: T) -> ItemOutcome[T]:
        """The attempt returned `value`: the row is done (even when stopping: its work is saved)."""
        self._release(start, ok=True, latency=self.clock() - start.at)
        self.troubles[start.backend.url] = 0
        self.resting_until[start.backend.url] = 0.0
        return self._finish(start, True, value, None, None)

    def failed(self, start: Start, kind: ErrorKind, error: str, failure: Failure | None = None) -> ItemOutcome[T] | Retrying | None:
        """The attempt failed: the row's outcome (a failure), a `Retrying` when it runs again,
        or None when it is not run. `failure`, when known, goes on the outcome as it is."""
        # Only a transient failure may be the server's load; an app error says nothing of it.
        self._release(start, ok=kind is not ErrorKind.TRANSIENT, latency=None, queue_full=kind is ErrorKind.BACKPRESSURE)
        row, url = start.row, start.backend.url
        decision = decide(
            kind, attempts=row.attempts, waits=row.waits, policy=self.policy, stopping=self.stopping, rng=self.rng
        )
        if isinstance(decision, NotRun):
            return None
        if kind is ErrorKind.TRANSIENT:
            self._rest(url)
        if isinstance(decision, Wait):
            row.attempts -= 1  # a full queue is not the row's fault
            row.waits += 1
            return self._retry_later(row, decision.delay, error, kind)
        if kind in (ErrorKind.TRANSIENT, ErrorKind.BACKPRESSURE):
            row.failed_on.append(url)
        if isinstance(decision, Retry):
            return self._retry_later(row, decision.delay, error, kind)
        self.failures += 1
        outcome = self._finish(start, False, None, error, kind)
        outcome.failure = failure
        if self.halt_on_failures and self.failures >= self.halt_on_failures:
            self.stop(Stop.HALT)
        return outcome

    def _release(self, start: Start, *, ok: bool, latency: float | None, queue_full: bool = False) -> None:
        self.slots[start.backend.url].finished(start, self.clock(), latency=latency, ok=ok, queue_full=queue_full)
        self.in_flight -= 1
        bisect.insort(self.free[start.backend.url], start.slot)
        if self.router is not None:
            self.router.ended(start.backend.url)

    def _rest(self, url: str) -> None:
        self.troubles[url] += 1
        self.resting_until[url] = self.clock() + min(MAX_REST, REST * 2 ** (self.troubles[url] - 1))

    def _retry_later(self, row: Row, delay: float, error: str, kind: ErrorKind) -> Retrying:
        heapq.heappush(self.delayed, (self.clock() + delay, next(self._sequence), row))
        return Retrying(row.id, row.attempts, error, delay, kind)

    def _finish(self, start: Start, ok: bool, value: T | None, error: str | None, kind: ErrorKind | None) -> ItemOutcome[T]:
        row = start.row
        outcome = ItemOutcome(
            id=row.id,
            ok=ok,
            value=value,
            error=error,
            kind=kind,
            attempts=row.attempts,
            backend=str(start.backend),
            backend_url=start.backend.url,
            started=row.started,
            ended=self.wall(),
            failed_on=list(row.failed_on),
        )
        self._outcomes[row.index] = outcome  # one step: a Ctrl-C cannot leave the row half-recorded
        return outcome

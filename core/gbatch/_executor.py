"""The shared threaded executor: bounded concurrency over several backends,
retries with backoff, back-pressure, halting and clean interruption.

It knows nothing of Gradio, rich or any tool. Work is a function called with
an `Attempt`; failures are sorted by a `classify` function into permanent,
transient (retried with exponential backoff and jitter, on another backend
first) and back-pressure (waited out without spending a retry). Work that knows
better raises `AttemptFailed`: its kind is taken as it is, and its `Failure`
goes on the row's outcome. Progress goes to a `Listener`.

Every decision — which row goes next and where, retry, wait, fail, halt — is made
by `_scheduler.Scheduler`; this module only runs its attempts, each in its own
daemon thread, and waits for them, waking when one ends or reports a queue event
(waiting, running, done on the server), which it passes to the scheduler. However the loop ends (all done, halt,
Ctrl-C, or an exception such as a listener failing to write the journal), one
`finally` sets `Attempt.cancelled` and waits for the running attempts, at most
`cancel_grace` seconds: an attempt that ignores the flag is abandoned, reported
not run, and cannot keep the process alive.
"""

from __future__ import annotations

import functools
import queue
import random
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any, Generic, TypeVar

from ._errors import ExitCode, Failure, GbatchError
from ._scheduler import (
    ErrorKind,
    ExecutorReport,
    ItemOutcome,
    Retrying,
    RetryPolicy,
    Scheduler,
    ServerSlots,
    Start,
    Stop,
)
from ._slots import Learning, Slots

__all__ = [
    "Attempt",
    "AttemptFailed",
    "ServerSlots",
    "ErrorKind",
    "ExecutorReport",
    "Listener",
    "ItemOutcome",
    "RetryPolicy",
    "execute",
]

T = TypeVar("T")

# Seconds running attempts get to notice `Attempt.cancelled` once the batch stops
# (`_call.call` looks every 0.2 s, then cancels its server job).
CANCEL_GRACE = 30.0


class Attempt:
    """What the work function gets: the item, where to send it, and how to stop early."""

    def __init__(
        self,
        item_id: str,
        payload: Any,
        number: int,
        backend: ServerSlots,
        slot: int,
        cancelled: threading.Event,
        timeout: float | None,
        listener: Listener,
        clock: Callable[[], float],
        observe: Callable[[str], None] | None = None,
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
        self._observe = observe
        self._observed: Any = None  # the last queue event passed to `observe`

    def time_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - self._clock()

    def report(self, **status: Any) -> None:
        """Pass a status (e.g. queue rank) to the listener; callable from the worker thread.

        A status whose `code` is "queued", "started" or "finished" also tells the scheduler
        whether the server made the row wait, runs it, or is done with it: that is how each
        server's slots are learned."""
        code = status.get("code")
        # "queued" without a rank is the client joining, not the server saying the row waits;
        # a new rank in the queue is no news to the scheduler (the server sends one per change).
        if self._observe is not None and code != self._observed and (code in ("started", "finished") or (code == "queued" and status.get("rank") is not None)):
            self._observed = code
            self._observe(str(code))
        self._listener.row_status(self.item_id, status)


class AttemptFailed(GbatchError):
    """Raised by work: this attempt failed, for the reason `failure` holds, and `kind`
    says what the schedule does next (retry, wait, fail). The executor takes both as
    they are (no `classify`, no `describe`) and puts `failure` on the row's outcome."""

    exit_code = ExitCode.ROWS_FAILED

    def __init__(self, failure: Failure, kind: ErrorKind) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.kind = kind


class Listener:
    """Progress callbacks; each does nothing here, so a listener overrides only what it needs.

    All but `row_status` run in the thread that called `execute`; `row_status` runs in
    the attempt's worker thread. They must return quickly: the executor waits for them.
    An exception from a callback ends the batch (running attempts are cancelled) and
    `execute` raises it; a KeyboardInterrupt counts as Ctrl-C.
    """

    def batch_started(self, total: int) -> None:
        """`total` items are about to run. Calling thread."""

    def row_started(self, item_id: str, backend: str, attempt: int) -> None:
        """An attempt was sent to `backend` (attempt 1 is the first). Calling thread."""

    def row_status(self, item_id: str, status: dict[str, Any]) -> None:
        """Whatever the work reported through `Attempt.report` (e.g. queue rank). Worker
        thread, concurrently with the others; reports from an attempt given up after the
        cancel grace are dropped once the batch is over.

        Also, in the calling thread with `item_id` "", `{"code": "slots", "server": label,
        "learned": n, "how": text}` each time a server's learned slots change."""

    def row_retrying(self, item_id: str, attempt: int, error: str, delay: float, kind: ErrorKind) -> None:
        """An attempt failed with a transient error or back-pressure; the item runs again in
        `delay` s. Calling thread."""

    def row_finished(self, outcome: ItemOutcome[Any]) -> None:
        """The item's final outcome (success, or failure after its retries). Calling thread.

        Also called for attempts that succeed while the batch stops (they are kept)."""

    def batch_finished(self, report: ExecutorReport[Any]) -> None:
        """Every item has an outcome, or is in `report.not_run`. Calling thread; not called
        when `execute` raises."""


def execute(
    items: Sequence[tuple[str, Any]],
    work: Callable[[Attempt], T],
    backends: Sequence[ServerSlots],
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
    cancel_grace: float = CANCEL_GRACE,
    states: Sequence[str | None] | None = None,
    pins: Mapping[str, Collection[str]] | None = None,
    slots: Mapping[str, Slots] | None = None,
    keep_values: bool = True,
) -> ExecutorReport[T]:
    """Run `work` once per item (retrying as the policy says) and return every outcome.

    :param items: (id, payload) pairs, run in this order as slots free up.
    :param work: called in a worker thread with an `Attempt`; its return value is the
        outcome's value, an exception is a failed attempt.
    :param backends: where work may go; each runs at most `slots` items at once.
    :param jobs: a global cap on items in flight (default: the sum of the slots).
    :param classify: sorts an attempt's exception into an `ErrorKind` (default: permanent);
        an `AttemptFailed` names its kind itself.
    :param timeout: seconds per attempt, exposed to `work` as `Attempt.deadline`.
    :param halt_on_failures: after this many final failures, start nothing more and
        cancel the running items; those end in `not_run`, and the report is `halted`.
    :param cancel_grace: once the batch stops, seconds running attempts get to see
        `Attempt.cancelled` and end; any still running then are given up (not run).
    :param states: per item, the server state it needs (a loaded voice) or None; a
        server then runs rows of one state at a time (see `_states.StateRouter`). The
        work itself must bring the server into the row's state.
    :param pins: state -> the backend URLs its rows may run on.
    :param slots: per backend URL, a `gbatch._slots.Slots` that learns how many rows the
        server runs from the queue events the work reports; a backend without one runs
        exactly `ServerSlots.slots` rows at once.
    :param keep_values: False: an outcome's value is dropped (set to None) once the
        listener has seen it, so a long batch whose listener keeps what it needs does not
        hold every row's value until the end; the report's outcomes then carry none.

    Ctrl-C (KeyboardInterrupt) in the calling thread stops new work, sets
    `Attempt.cancelled` for the running items, waits for them (a second Ctrl-C stops
    the wait) and returns with `interrupted=True`; items that finished are in
    `outcomes`, the rest in `not_run`. Any other exception in the calling thread (from
    a listener, `classify` or `describe`) cancels the running items the same way, then
    propagates.
    """
    scheduler: Scheduler[T] = Scheduler(
        items,
        backends,
        jobs=jobs,
        policy=policy,
        halt_on_failures=halt_on_failures,
        clock=clock,
        rng=rng,
        states=states,
        pins=pins,
        slots=slots,
    )
    run = _Run(
        scheduler,
        work,
        classify=classify or (lambda exc: ErrorKind.PERMANENT),
        describe=describe,
        timeout=timeout,
        listener=listener or Listener(),
        clock=clock,
        cancel_grace=cancel_grace,
        keep_values=keep_values,
    )
    return run.execute()


class _Run(Generic[T]):
    """One call of `execute`: the scheduler's attempts in threads, and the listener calls."""

    def __init__(
        self,
        scheduler: Scheduler[T],
        work: Callable[[Attempt], T],
        *,
        classify: Callable[[BaseException], ErrorKind],
        describe: Callable[[BaseException], str],
        timeout: float | None,
        listener: Listener,
        clock: Callable[[], float],
        cancel_grace: float,
        keep_values: bool = True,
    ) -> None:
        self.scheduler = scheduler
        self.keep_values = keep_values
        self.work = work
        self.classify = classify
        self.describe = describe
        self.timeout = timeout
        self.listener = listener
        self.statuses = _StatusGate(listener)
        self.clock = clock
        self.cancel_grace = cancel_grace
        self.cancelled = threading.Event()
        self.running: dict[Future[T], Start] = {}
        # Worker threads post here: a queue event of an attempt, or None when one finished.
        self.wakeups: queue.SimpleQueue[tuple[Start, str] | None] = queue.SimpleQueue()
        self.learned: dict[str, int] = {}
        # A listener error while running attempts were wound down after a Ctrl-C or halt.
        self.late_error: Exception | None = None

    def execute(self) -> ExecutorReport[T]:
        try:
            self.listener.batch_started(self.scheduler.total)
            self._loop()
        except KeyboardInterrupt:
            self.scheduler.stop(Stop.INTERRUPT)
        except BaseException:
            self.scheduler.stop(Stop.ERROR)
            raise
        finally:
            self._cancel_in_flight()
        if self.late_error is not None:
            raise self.late_error
        report = self.scheduler.report()
        self.listener.batch_finished(report)
        return report

    def _loop(self) -> None:
        while not (self.scheduler.stopping or self.scheduler.finished):
            self._launch(self.scheduler.starts())
            self._settle_some(self.scheduler.wait_time())

    def _launch(self, starts: list[Start]) -> None:
        for start in starts:
            row = start.row
            attempt = Attempt(
                row.id,
                row.payload,
                start.number,
                start.backend,
                start.slot,
                self.cancelled,
                self.timeout,
                self.statuses,
                self.clock,
                observe=functools.partial(self._observed, start),
            )
            future = _in_thread(self.work, attempt)
            self.running[future] = start
            future.add_done_callback(lambda _: self.wakeups.put(None))
            # The listener last: it may raise KeyboardInterrupt, and the attempt must already be tracked.
            self.listener.row_started(row.id, str(start.backend), start.number)

    def _observed(self, start: Start, code: str) -> None:
        """A queue event of `start` (worker thread): the loop passes it to the scheduler."""
        self.wakeups.put((start, code))

    def _settle_some(self, timeout: float) -> None:
        """Wait until an attempt ends or reports a queue event (or `timeout`), then pass on
        everything that happened meanwhile."""
        if not self.running:
            time.sleep(timeout)  # a row is waiting for its retry, or for a backend's rest to end
            return
        try:
            events = [self.wakeups.get(timeout=timeout)]
        except queue.Empty:
            return
        while True:
            try:
                events.append(self.wakeups.get_nowait())
            except queue.Empty:
                break
        for event in events:
            if event is not None:
                self.scheduler.observed(*event)
        for future in [f for f in self.running if f.done()]:
            self._settle(future)
        self._tell_learned()

    def _tell_learned(self) -> None:
        learned = self.scheduler.learned()
        if learned == self.learned:
            return
        self.learned = learned
        for backend in self.scheduler.backends:
            report = self.scheduler.slots[backend.url].report()
            if report.how is Learning.FIXED:
                continue  # nothing learned: the display shows what was given
            status = {"code": "slots", "server": str(backend), "learned": report.learned, "how": report.how.value}
            self.listener.row_status("", status)

    def _settle(self, future: Future[T]) -> None:
        start = self.running.pop(future)
        exc = future.exception()
        if exc is None:
            outcome = self.scheduler.succeeded(start, future.result())
            self.listener.row_finished(outcome)
            if not self.keep_values:
                outcome.value = None
            return
        # A cancelled attempt did not fail: no need to ask what its exception means.
        cancelled = self.cancelled.is_set()
        if isinstance(exc, AttemptFailed):
            kind, error, failure = exc.kind, exc.failure.message, exc.failure
        else:
            kind = ErrorKind.CANCELLED if cancelled else self.classify(exc)
            error, failure = self.describe(exc), None
        if cancelled:
            kind = ErrorKind.CANCELLED
        result = self.scheduler.failed(start, kind, error, failure)
        if isinstance(result, Retrying):
            self.listener.row_retrying(result.item_id, result.attempt, result.error, result.delay, result.kind)
        elif result is not None:
            self.listener.row_finished(result)

    def _cancel_in_flight(self) -> None:
        """Tell running attempts to stop and settle those that do within the grace.

        Never raises: it runs while an exception may be on its way out."""
        self.cancelled.set()
        give_up = time.monotonic() + self.cancel_grace  # real time: the injected clock may stand still
        try:
            while self.running and (left := give_up - time.monotonic()) > 0:
                done, _ = wait(self.running, timeout=left, return_when=FIRST_COMPLETED)
                for future in done:
                    self._settle_keeping_errors(future)
        except KeyboardInterrupt:
            # Ctrl-C again: the user wants out now; what still runs is not run.
            self.scheduler.stop(Stop.INTERRUPT)
        finally:
            self.statuses.close()

    def _settle_keeping_errors(self, future: Future[T]) -> None:
        try:
            self._settle(future)
        except Exception as exc:  # the other rows still deserve to be settled
            self.late_error = self.late_error or exc


class _StatusGate(Listener):
    """Passes `row_status` on until the batch is over: an attempt given up after the grace may
    still report, and by then the caller's display is gone."""

    def __init__(self, listener: Listener) -> None:
        self._listener = listener
        self._open = True

    def close(self) -> None:
        self._open = False

    def row_status(self, item_id: str, status: dict[str, Any]) -> None:
        if self._open:
            self._listener.row_status(item_id, status)


def _in_thread(work: Callable[[Attempt], T], attempt: Attempt) -> Future[T]:
    """Run one attempt in a daemon thread of its own: one that ignores cancellation is given
    up after the grace, and must not then hold the process open at exit (pool threads would)."""
    future: Future[T] = Future()
    future.set_running_or_notify_cancel()

    def run() -> None:
        try:
            value = work(attempt)
        except BaseException as exc:  # the attempt's failure, whatever it is, belongs to the executor
            future.set_exception(exc)
            return
        future.set_result(value)

    threading.Thread(target=run, name=f"gbatch {attempt.item_id}#{attempt.number}", daemon=True).start()
    return future

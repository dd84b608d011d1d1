"""The shared executor (`gbatch.executor.execute`) with fake work functions, and the
sorting of gradio_client's exceptions (`translate`, then `_call.classify` / `describe`).

No servers. Ordering is forced with events and barriers set from the listener,
never with timed assertions; the only sleeps are retry delays of a few ms.
"""

from __future__ import annotations

import concurrent.futures
import errno
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import pytest
from gradio_client.exceptions import AppError, AuthenticationError
from gradio_client.exceptions import ValidationError as ClientValidationError
from gradio_client.utils import QueueError, TooManyRequestsError

from gbatch import RowFailed
from gbatch._call import classify as classify_error
from gbatch._call import describe as describe_error
from gbatch._errors import CallCancelled, CallError, CallTimeout
from gbatch.executor import (
    Attempt,
    ErrorKind,
    ExecutorReport,
    ItemOutcome,
    RetryPolicy,
    ServerSlots,
    execute,
)
from gbatch.transports.gradio_client import GENERIC_APP_ERROR, translate


def _ours(exc: BaseException) -> BaseException:
    # gradio_client's exceptions become gbatch's own in the transport; ours pass as they are.
    return exc if isinstance(exc, (CallError, RowFailed)) else translate(exc, [])


def classify(exc: BaseException) -> ErrorKind:
    return classify_error(_ours(exc))


def describe(exc: BaseException) -> str:
    return describe_error(_ours(exc))


A = ServerSlots("http://a.test/", 1, label="A")
B = ServerSlots("http://b.test/", 1, label="B")
WAIT = 5.0  # seconds an event may take before a test gives up (only reached when something is broken)
POLICY = RetryPolicy(retries=2, backoff=0.01, max_backoff=0.05, jitter=0.5, backpressure_delay=0.005)


class Transient(Exception):
    pass


class Full(Exception):
    """Stands for the server's "queue is full"."""


def sort_fake(exc: BaseException) -> ErrorKind:
    if isinstance(exc, Transient):
        return ErrorKind.TRANSIENT
    if isinstance(exc, Full):
        return ErrorKind.BACKPRESSURE
    return ErrorKind.PERMANENT


def items(*ids: str) -> list[tuple[str, Any]]:
    return [(i, f"payload-{i}") for i in ids]


def many(n: int) -> list[tuple[str, Any]]:
    return items(*(f"r{i}" for i in range(n)))


def run(
    rows: Iterable[tuple[str, Any]],
    work: Callable[[Attempt], Any],
    backends: Iterable[ServerSlots] = (A, B),
    **kwargs: Any,
) -> ExecutorReport[Any]:
    kwargs.setdefault("policy", POLICY)
    kwargs.setdefault("classify", sort_fake)
    kwargs.setdefault("rng", random.Random(0))
    return execute(list(rows), work, list(backends), **kwargs)


def accounted(report: ExecutorReport[Any], ids: Iterable[str]) -> None:
    """Every item is either an outcome or not run, exactly once."""
    done = [o.id for o in report.outcomes]
    assert len(done) == len(set(done)), done
    assert len(report.not_run) == len(set(report.not_run)), report.not_run
    assert not set(done) & set(report.not_run)
    assert sorted(done + report.not_run) == sorted(ids)


class Recorder:
    """A listener that records every call and the thread it ran in."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.threads: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def _note(self, name: str, *args: Any) -> None:
        with self._lock:
            self.calls.append((name, args))
            self.threads.append((name, threading.get_ident()))

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [args for n, args in self.calls if n == name]

    def batch_started(self, total: int) -> None:
        self._note("batch_started", total)

    def row_started(self, item_id: str, backend: str, attempt: int) -> None:
        self._note("row_started", item_id, backend, attempt)

    def row_status(self, item_id: str, status: dict[str, Any]) -> None:
        self._note("row_status", item_id, status)

    def row_retrying(self, item_id: str, attempt: int, error: str, delay: float, kind: ErrorKind) -> None:
        self._note("row_retrying", item_id, attempt, error, delay, kind)

    def row_finished(self, outcome: ItemOutcome[Any]) -> None:
        self._note("row_finished", outcome)

    def batch_finished(self, report: ExecutorReport[Any]) -> None:
        self._note("batch_finished", report)


class Tracker:
    """Counts work in flight, overall and per backend, and the (backend, slot) pairs in use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.per: Counter[str] = Counter()
        self.per_peak: Counter[str] = Counter()
        self.slots: set[tuple[str, int]] = set()
        self.clashes: list[tuple[str, int]] = []
        self.calls: Counter[str] = Counter()

    def enter(self, attempt: Attempt) -> None:
        key = (attempt.backend.url, attempt.slot)
        with self.lock:
            self.calls[attempt.item_id] += 1
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.per[attempt.backend.url] += 1
            self.per_peak[attempt.backend.url] = max(self.per_peak[attempt.backend.url], self.per[attempt.backend.url])
            if key in self.slots:
                self.clashes.append(key)
            self.slots.add(key)

    def leave(self, attempt: Attempt) -> None:
        with self.lock:
            self.now -= 1
            self.per[attempt.backend.url] -= 1
            self.slots.discard((attempt.backend.url, attempt.slot))


# --- running every item --------------------------------------------------------------------------


def test_every_item_runs_once_and_every_outcome_is_reported() -> None:
    tracker = Tracker()
    listener = Recorder()

    def work(attempt: Attempt) -> str:
        tracker.enter(attempt)
        try:
            return attempt.payload.upper()
        finally:
            tracker.leave(attempt)

    rows = many(25)
    report = run(rows, work, [ServerSlots("http://a.test/", 2), ServerSlots("http://b.test/", 2)], listener=listener)

    accounted(report, [i for i, _ in rows])
    assert report.not_run == [] and not report.interrupted and not report.halted
    assert set(tracker.calls.values()) == {1} and len(tracker.calls) == 25
    for outcome in report.outcomes:
        assert outcome.ok and outcome.kind is None and outcome.error is None
        assert outcome.value == f"payload-{outcome.id}".upper()
        assert outcome.attempts == 1 and outcome.failed_on == []
        assert outcome.started is not None and outcome.ended is not None and outcome.started <= outcome.ended
    assert listener.named("batch_started") == [(25,)]
    assert sorted(o.id for (o,) in listener.named("row_finished")) == sorted(i for i, _ in rows)
    assert listener.named("batch_finished") == [(report,)]
    assert listener.calls[0][0] == "batch_started" and listener.calls[-1][0] == "batch_finished"
    assert len(listener.named("row_started")) == 25 and listener.named("row_retrying") == []


def test_without_keep_values_the_listener_sees_each_value_and_the_report_keeps_none() -> None:
    seen: dict[str, Any] = {}

    class Seer(Recorder):
        def row_finished(self, outcome: ItemOutcome[Any]) -> None:
            seen[outcome.id] = outcome.value

    rows = many(6)
    report = execute(rows, lambda attempt: attempt.payload.upper(), [ServerSlots("http://a.test/", 2)], listener=Seer(), keep_values=False)
    assert seen == {i: p.upper() for i, p in rows}
    assert len(report.outcomes) == 6 and all(o.ok and o.value is None for o in report.outcomes)


def test_no_items() -> None:
    listener = Recorder()
    report = run([], lambda attempt: None, listener=listener)
    assert report.outcomes == [] and report.not_run == []
    assert [name for name, _ in listener.calls] == ["batch_started", "batch_finished"]


def test_needs_a_backend() -> None:
    with pytest.raises(ValueError, match="backend"):
        execute(items("x"), lambda attempt: None, [])


def test_jobs_caps_concurrency_below_the_slots() -> None:
    tracker = Tracker()
    first_round = threading.Barrier(4, timeout=WAIT)  # breaks (fails the rows) unless 4 run at once

    def work(attempt: Attempt) -> None:
        tracker.enter(attempt)
        try:
            if attempt.item_id in {"r0", "r1", "r2", "r3"}:
                first_round.wait()
        finally:
            tracker.leave(attempt)

    backends = [ServerSlots("http://a.test/", 3), ServerSlots("http://b.test/", 3)]
    report = run(many(30), work, backends, jobs=4)

    assert all(o.ok for o in report.outcomes), [o.error for o in report.outcomes if not o.ok]
    assert tracker.peak == 4
    assert max(tracker.per_peak.values()) <= 3
    assert tracker.clashes == []  # no slot was handed out twice at once


def test_slots_cap_each_backend_and_jobs_defaults_to_their_sum() -> None:
    tracker = Tracker()
    first_round = threading.Barrier(3, timeout=WAIT)

    def work(attempt: Attempt) -> None:
        tracker.enter(attempt)
        try:
            if attempt.item_id in {"r0", "r1", "r2"}:
                first_round.wait()
        finally:
            tracker.leave(attempt)

    big, small = ServerSlots("http://big.test/", 2), ServerSlots("http://small.test/", 1)
    report = run(many(30), work, [big, small], jobs=10)  # more jobs than slots: the slots win

    assert all(o.ok for o in report.outcomes)
    assert tracker.peak == 3
    assert tracker.per_peak[big.url] == 2 and tracker.per_peak[small.url] == 1
    assert tracker.clashes == []


def test_rows_are_spread_over_both_backends() -> None:
    first_round = threading.Barrier(4, timeout=WAIT)
    where: dict[str, tuple[str, int]] = {}

    def work(attempt: Attempt) -> None:
        where[attempt.item_id] = (str(attempt.backend), attempt.slot)
        if attempt.item_id in {"r0", "r1", "r2", "r3"}:
            first_round.wait()

    a, b = ServerSlots("http://a.test/", 2, label="A"), ServerSlots("http://b.test/", 2, label="B")
    report = run(many(8), work, [a, b])

    assert all(o.ok for o in report.outcomes)
    first = [where[f"r{i}"] for i in range(4)]
    # the emptiest backend gets the next row: A, B, A, B, on distinct slots
    assert [w[0] for w in first] == ["A", "B", "A", "B"]
    assert sorted(first) == [("A", 0), ("A", 1), ("B", 0), ("B", 1)]
    assert {o.backend for o in report.outcomes} == {"A", "B"}


# --- retries --------------------------------------------------------------------------------------


def test_a_transient_failure_is_retried_on_the_other_backend_first() -> None:
    listener = Recorder()
    seen: list[tuple[int, str]] = []

    def work(attempt: Attempt) -> str:
        seen.append((attempt.number, str(attempt.backend)))
        if attempt.number == 1:
            raise Transient("blip")
        return "ok"

    report = run(items("x"), work, [A, B], listener=listener)

    assert seen == [(1, "A"), (2, "B")]
    [outcome] = report.outcomes
    assert outcome.ok and outcome.value == "ok" and outcome.attempts == 2
    assert outcome.backend == "B" and outcome.failed_on == [A.url]
    [(item_id, attempt, error, delay, kind)] = listener.named("row_retrying")
    assert (item_id, attempt, error, kind) == ("x", 1, "blip", ErrorKind.TRANSIENT)
    assert POLICY.backoff <= delay <= POLICY.backoff * (1 + POLICY.jitter)
    assert [args[1:] for args in listener.named("row_started")] == [("A", 1), ("B", 2)]


def test_a_retry_comes_back_to_a_backend_where_it_failed_once_each_has_failed() -> None:
    seen: list[str] = []

    def work(attempt: Attempt) -> str:
        seen.append(str(attempt.backend))
        if attempt.number < 3:
            raise Transient("blip")
        return "ok"

    report = run(items("x"), work, [A, B])

    assert seen == ["A", "B", "A"]
    assert report.outcomes[0].ok and report.outcomes[0].failed_on == [A.url, B.url]


def test_a_permanent_failure_is_not_retried() -> None:
    listener = Recorder()
    calls: list[int] = []

    def work(attempt: Attempt) -> None:
        calls.append(attempt.number)
        raise ValueError("bad input")

    report = run(items("x"), work, listener=listener, describe=lambda exc: f"described: {exc}")

    assert calls == [1]
    [outcome] = report.outcomes
    assert not outcome.ok and outcome.kind is ErrorKind.PERMANENT and outcome.attempts == 1
    assert outcome.error == "described: bad input" and outcome.failed_on == []
    assert listener.named("row_retrying") == []
    assert report.not_run == [] and not report.halted


def test_without_classify_every_failure_is_permanent() -> None:
    def work(attempt: Attempt) -> None:
        raise Transient()

    report = execute(items("x"), work, [A], policy=POLICY)
    [outcome] = report.outcomes
    assert outcome.kind is ErrorKind.PERMANENT and outcome.attempts == 1
    assert outcome.error == "Transient"  # the default describe falls back to the class name


def test_retries_exhausted_fail_the_row_after_retries_plus_one_attempts() -> None:
    listener = Recorder()
    policy = RetryPolicy(retries=3, backoff=0.002, max_backoff=0.005, jitter=0.5)

    def work(attempt: Attempt) -> None:
        raise Transient(f"blip {attempt.number}")

    report = run(items("x", "y"), work, listener=listener, policy=policy)

    for outcome in report.outcomes:
        assert not outcome.ok and outcome.kind is ErrorKind.TRANSIENT
        assert outcome.attempts == policy.retries + 1
        assert outcome.error == "blip 4" and len(outcome.failed_on) == 4
    retrying = listener.named("row_retrying")
    assert sorted((args[0], args[1]) for args in retrying) == [(i, n) for i in "xy" for n in (1, 2, 3)]


def test_no_retries() -> None:
    def work(attempt: Attempt) -> None:
        raise Transient("blip")

    report = run(items("x"), work, policy=RetryPolicy(retries=0, backoff=0.001))
    assert report.outcomes[0].attempts == 1 and report.outcomes[0].kind is ErrorKind.TRANSIENT


def test_retry_delays_double_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(backoff=1.0, max_backoff=5.0, jitter=0.5)
    rng = random.Random(0)
    for attempt, base in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (10, 5.0)]:
        delay = policy.delay(attempt, rng)
        assert base <= delay <= base * 1.5
    assert RetryPolicy(backoff=1.0, jitter=0.0).delay(3, rng) == 4.0
    # the same seed gives the same delays
    assert [policy.delay(2, random.Random(7)) for _ in range(2)] == [policy.delay(2, random.Random(7))] * 2


# --- back-pressure -------------------------------------------------------------------------------


def test_backpressure_is_waited_out_without_spending_a_retry() -> None:
    listener = Recorder()
    calls: list[int] = []

    def work(attempt: Attempt) -> str:
        calls.append(attempt.number)
        if len(calls) <= 5:
            raise Full("queue is full")
        return "ok"

    report = run(items("x"), work, [A], listener=listener, policy=RetryPolicy(retries=1, backpressure_delay=0.002))

    assert calls == [1] * 6  # five waits, and the attempt number never moved
    [outcome] = report.outcomes
    assert outcome.ok and outcome.attempts == 1 and outcome.failed_on == []
    kinds = [args[4] for args in listener.named("row_retrying")]
    assert kinds == [ErrorKind.BACKPRESSURE] * 5


def test_backpressure_with_real_queue_errors_and_the_gradio_classifier() -> None:
    calls = Counter[str]()

    def work(attempt: Attempt) -> str:
        calls[attempt.item_id] += 1
        if calls[attempt.item_id] <= 3:
            raise QueueError("Queue is full! Please try again.")
        return "ok"

    report = run(items("x", "y"), work, classify=classify, describe=describe, policy=RetryPolicy(retries=0, backpressure_delay=0.002))
    assert all(o.ok and o.attempts == 1 for o in report.outcomes)
    assert calls == {"x": 4, "y": 4}


def test_backpressure_beyond_its_limit_spends_retries() -> None:
    calls: list[int] = []

    def work(attempt: Attempt) -> None:
        calls.append(attempt.number)
        raise Full("queue is full")

    policy = RetryPolicy(retries=1, backoff=0.002, backpressure_delay=0.002, max_backpressure_waits=2)
    report = run(items("x"), work, [A], policy=policy)

    # two free waits, then the queue-full error counts as a failed attempt; one retry, then the row fails
    assert calls == [1, 1, 1, 2]
    [outcome] = report.outcomes
    assert not outcome.ok and outcome.kind is ErrorKind.BACKPRESSURE
    assert outcome.attempts == policy.retries + 1 and outcome.error == "queue is full"


# --- halting --------------------------------------------------------------------------------------


def test_halt_on_failures_stops_starting_rows_and_lets_running_ones_finish() -> None:
    finished = {i: threading.Event() for i in "abcdef"}
    called: list[str] = []

    class Listener(Recorder):
        def row_finished(self, outcome: ItemOutcome[Any]) -> None:
            super().row_finished(outcome)
            finished[outcome.id].set()

    def work(attempt: Attempt) -> str:
        called.append(attempt.item_id)
        if attempt.item_id == "a":
            raise ValueError("a is bad")
        if attempt.item_id == "b":
            # fails only once a's failure is recorded, so c has been started in a's slot by then
            assert finished["a"].wait(WAIT)
            raise ValueError("b is bad")
        if attempt.item_id == "c":
            # still running when the batch halts; it ignores the cancel, and its success is kept
            assert finished["b"].wait(WAIT)
        return "ok"

    listener = Listener()
    report = run(items(*"abcdef"), work, [ServerSlots("http://a.test/", 2)], halt_on_failures=2, listener=listener)

    assert sorted(called) == ["a", "b", "c"]
    assert {o.id: o.ok for o in report.outcomes} == {"a": False, "b": False, "c": True}
    assert report.not_run == ["d", "e", "f"]
    assert report.halted and not report.interrupted
    accounted(report, "abcdef")
    assert listener.named("batch_finished") == [(report,)]


def test_halting_drops_rows_waiting_for_a_retry() -> None:
    retrying = threading.Event()

    class Listener(Recorder):
        def row_retrying(self, item_id: str, attempt: int, error: str, delay: float, kind: ErrorKind) -> None:
            super().row_retrying(item_id, attempt, error, delay, kind)
            retrying.set()

    def work(attempt: Attempt) -> None:
        if attempt.item_id == "t":
            raise Transient("blip")
        assert retrying.wait(WAIT)  # p fails (and halts the batch) once t waits for its retry
        raise ValueError("bad")

    policy = RetryPolicy(retries=5, backoff=10.0)  # t would wait 10 s for its retry; the halt ends that
    report = run(
        items("t", "p"), work, [ServerSlots("http://a.test/", 2)], halt_on_failures=1, policy=policy, listener=Listener()
    )

    assert [o.id for o in report.outcomes] == ["p"]
    assert report.not_run == ["t"] and report.halted


def test_halting_cancels_rows_in_flight_and_reports_them_not_run() -> None:
    saw_cancel: list[str] = []
    classified: list[BaseException] = []

    def work(attempt: Attempt) -> str:
        if attempt.item_id == "bad":
            raise ValueError("bad")
        # a long row: it polls the cancel flag, as `_call.call` does
        if attempt.cancelled.wait(WAIT):
            saw_cancel.append(attempt.item_id)
            raise CallCancelled("cancelled")
        return "not cancelled in time"

    def sort(exc: BaseException) -> ErrorKind:
        classified.append(exc)
        return ErrorKind.PERMANENT

    report = run(items("long", "bad", "later"), work, [ServerSlots("http://a.test/", 2)], halt_on_failures=1, classify=sort)

    assert report.halted and not report.interrupted
    assert [(o.id, o.ok) for o in report.outcomes] == [("bad", False)]
    assert saw_cancel == ["long"]
    assert report.not_run == ["long", "later"]  # the cancelled row is not run, not failed
    assert [str(exc) for exc in classified] == ["bad"]
    accounted(report, ["long", "bad", "later"])


# --- timeouts -------------------------------------------------------------------------------------


class FakeClock:
    """A clock that moves only when told to, or by `step` at every reading."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 1000.0
        self.step = step
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.now += self.step
            return self.now


def test_attempts_carry_a_deadline_when_a_timeout_is_given() -> None:
    clock = FakeClock()
    seen: list[tuple[float | None, float | None]] = []

    def work(attempt: Attempt) -> None:
        seen.append((attempt.deadline, attempt.time_left()))
        clock.now += 12.5
        seen.append((attempt.deadline, attempt.time_left()))

    run(items("x"), work, [A], timeout=30.0, clock=clock)
    assert seen == [(1030.0, 30.0), (1030.0, 17.5)]


def test_attempts_have_no_deadline_without_a_timeout() -> None:
    seen: list[tuple[float | None, float | None]] = []

    def work(attempt: Attempt) -> None:
        seen.append((attempt.deadline, attempt.time_left()))

    run(items("x"), work, [A])
    assert seen == [(None, None)]


def test_each_retry_gets_a_fresh_deadline() -> None:
    clock = FakeClock(step=0.001)  # ticks at every reading, so the retry delay comes due
    seen: list[tuple[float | None, float | None]] = []

    def work(attempt: Attempt) -> None:
        seen.append((attempt.deadline, attempt.time_left()))
        if attempt.number == 1:
            raise Transient("timed out")

    report = run(items("x"), work, [A], timeout=30.0, clock=clock)
    assert report.outcomes[0].ok and len(seen) == 2
    (first, first_left), (second, second_left) = seen
    assert first is not None and second is not None and first_left is not None and second_left is not None
    assert second >= first + POLICY.backoff  # set when the retry started, after the backoff
    assert 29.0 < first_left < 30.0 and 29.0 < second_left < 30.0


# --- Ctrl-C ---------------------------------------------------------------------------------------


class InterruptAfter(Recorder):
    """Raises KeyboardInterrupt (as Ctrl-C would) from a chosen callback, once."""

    def __init__(self, callback: str, after: int) -> None:
        super().__init__()
        self.callback = callback
        self.after = after
        self.fired = False

    def _maybe(self, name: str) -> None:
        if name == self.callback and not self.fired and len(self.named(name)) >= self.after:
            self.fired = True
            raise KeyboardInterrupt

    def row_started(self, item_id: str, backend: str, attempt: int) -> None:
        super().row_started(item_id, backend, attempt)
        self._maybe("row_started")

    def row_retrying(self, item_id: str, attempt: int, error: str, delay: float, kind: ErrorKind) -> None:
        super().row_retrying(item_id, attempt, error, delay, kind)
        self._maybe("row_retrying")

    def row_finished(self, outcome: ItemOutcome[Any]) -> None:
        super().row_finished(outcome)
        self._maybe("row_finished")


def test_ctrl_c_cancels_running_rows_keeps_finished_ones_and_returns() -> None:
    listener = InterruptAfter("row_finished", after=2)
    saw_cancel: list[str] = []
    classified: list[BaseException] = []

    def work(attempt: Attempt) -> str:
        if attempt.item_id in {"a", "b"}:
            return "quick"
        # a long row: it polls the cancel flag, as `_gradio.call` does, and stops when it is set
        if attempt.cancelled.wait(WAIT):
            saw_cancel.append(attempt.item_id)
            raise CallCancelled("cancelled")
        return "not cancelled in time"

    def sort(exc: BaseException) -> ErrorKind:
        classified.append(exc)
        return ErrorKind.PERMANENT

    ids = list("abcdefg")
    report = run(items(*ids), work, [ServerSlots("http://a.test/", 3)], listener=listener, classify=sort)

    assert report.interrupted and not report.halted
    assert sorted(o.id for o in report.outcomes) == ["a", "b"]
    assert all(o.ok and o.value == "quick" for o in report.outcomes)
    assert saw_cancel and set(saw_cancel) <= set(report.not_run)
    assert classified == []  # a cancelled row is not a failure
    accounted(report, ids)
    assert listener.named("batch_finished") == [(report,)]


def test_ctrl_c_while_a_row_waits_for_its_retry_leaves_it_not_run() -> None:
    listener = InterruptAfter("row_retrying", after=1)

    def work(attempt: Attempt) -> None:
        raise Transient("blip")

    report = run(items("x"), work, [A], listener=listener)
    assert report.interrupted
    assert report.outcomes == [] and report.not_run == ["x"]


def test_ctrl_c_while_a_row_starts_still_accounts_for_it() -> None:
    listener = InterruptAfter("row_started", after=1)

    def work(attempt: Attempt) -> str:
        if attempt.cancelled.wait(WAIT):
            raise CallCancelled("cancelled")
        return "ok"

    report = run(items("x", "y"), work, [A], listener=listener)
    assert report.interrupted
    assert report.outcomes == [] and sorted(report.not_run) == ["x", "y"]


def test_ctrl_c_while_a_retry_waits_for_a_backend_it_has_not_failed_on_still_accounts_for_it() -> None:
    """x failed on A and is due again while only A is free, so it is deferred for B and z takes A;
    Ctrl-C comes as z starts. x must still be in the report."""
    listener = InterruptAfter("row_started", after=3)  # x, y, then z
    started: list[str] = []

    def work(attempt: Attempt) -> None:
        started.append(attempt.item_id)
        if attempt.item_id == "x":
            raise Full("queue is full")  # counts as a failed attempt: no free waits below
        if attempt.cancelled.wait(WAIT):
            raise CallCancelled("cancelled")

    policy = RetryPolicy(retries=2, backoff=0.0, jitter=0.0, max_backpressure_waits=0)
    report = run(items("x", "y", "z"), work, [A, B], listener=listener, policy=policy)

    assert started == ["x", "y", "z"] and listener.fired
    assert report.interrupted and report.outcomes == []
    accounted(report, ["x", "y", "z"])


class InterruptingClock:
    """A clock whose n-th reading raises KeyboardInterrupt, as Ctrl-C may land anywhere in the loop.

    Each reading moves time on by a second, so backend rests and retry delays pass at once.
    """

    def __init__(self, reading: int) -> None:
        self.reading = reading
        self.readings = 0
        self.fired = False
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.readings += 1
            self.now += 1.0
            fire = not self.fired and self.readings == self.reading
            self.fired = self.fired or fire
        if fire:
            raise KeyboardInterrupt
        return self.now


OUTCOMES = ("ok", "transient", "permanent", "full")


@pytest.mark.parametrize("seed", range(80))
def test_every_row_is_reported_exactly_once_wherever_ctrl_c_lands(seed: int) -> None:
    """Random outcomes per call, a random interrupt point (a clock reading or a listener callback),
    sometimes a halt: every row ends in `outcomes` or `not_run`, once, and the listener saw each outcome."""
    rng = random.Random(seed)
    ids = [f"r{i}" for i in range(rng.randint(1, 8))]
    script = {row: [rng.choice(OUTCOMES) for _ in range(8)] for row in ids}
    calls: Counter[str] = Counter()
    where = rng.choice(["clock", "row_started", "row_retrying", "row_finished"])
    after = rng.randint(1, 25)
    clock = InterruptingClock(after if where == "clock" else 0)
    listener = InterruptAfter(where, after) if where != "clock" else Recorder()
    backends = rng.choice([[A], [A, B], [ServerSlots("http://a.test/", 2), B]])

    def work(attempt: Attempt) -> str:
        calls[attempt.item_id] += 1  # one attempt per row at a time: no lock needed
        what = script[attempt.item_id][calls[attempt.item_id] - 1]
        if what == "transient":
            raise Transient("blip")
        if what == "full":
            raise Full("queue is full")
        if what == "permanent":
            raise ValueError("bad")
        return "ok"

    policy = RetryPolicy(retries=2, backoff=0.001, max_backoff=0.002, backpressure_delay=0.001, max_backpressure_waits=2)
    try:
        report = run(
            items(*ids), work, backends, policy=policy, clock=clock, listener=listener,
            halt_on_failures=rng.choice([None, 1, 2]), rng=random.Random(seed),
        )
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped execute()")

    accounted(report, ids)
    interrupted = clock.fired or getattr(listener, "fired", False)
    assert report.interrupted == interrupted
    assert sorted(o.id for (o,) in listener.named("row_finished")) == sorted(o.id for o in report.outcomes)
    assert listener.named("batch_finished") == [(report,)]
    if not interrupted and not report.halted:
        assert report.not_run == []


class InterruptTwice(Recorder):
    """Ctrl-C as the second row starts, and again when a row finishes while running rows are wound down."""

    def row_started(self, item_id: str, backend: str, attempt: int) -> None:
        super().row_started(item_id, backend, attempt)
        if len(self.named("row_started")) == 2:
            raise KeyboardInterrupt

    def row_finished(self, outcome: ItemOutcome[Any]) -> None:
        super().row_finished(outcome)
        raise KeyboardInterrupt


def test_a_second_ctrl_c_stops_waiting_for_running_rows() -> None:
    release = threading.Event()

    def work(attempt: Attempt) -> str:
        if attempt.item_id == "deaf":
            release.wait(WAIT)  # ignores `cancelled`
        return "done"

    listener = InterruptTwice()
    try:
        report = run(items("deaf", "quick"), work, [ServerSlots("http://a.test/", 2)], listener=listener)
    except KeyboardInterrupt:
        pytest.fail("the second Ctrl-C escaped execute()")
    finally:
        stuck = not release.is_set()
        release.set()

    assert stuck  # returned although "deaf" was still running, well before the default grace
    assert report.interrupted
    assert [o.id for o in report.outcomes] == ["quick"] and report.not_run == ["deaf"]


# --- whatever ends the loop cancels what is in flight ------------------------------------------------


class FullDisk(Recorder):
    """A listener whose `row_finished` fails as a journal write on a full disk does."""

    def row_finished(self, outcome: ItemOutcome[Any]) -> None:
        super().row_finished(outcome)
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_listener_raising_cancels_running_rows_and_re_raises() -> None:
    saw_cancel: list[str] = []

    def work(attempt: Attempt) -> str:
        if attempt.item_id == "quick":
            return "ok"
        if attempt.cancelled.wait(WAIT):
            saw_cancel.append(attempt.item_id)
            raise CallCancelled("cancelled")
        return "not cancelled in time"

    listener = FullDisk()
    with pytest.raises(OSError) as caught:
        run(items("long", "quick"), work, [ServerSlots("http://a.test/", 2)], listener=listener)

    assert caught.value.errno == errno.ENOSPC
    assert saw_cancel == ["long"]
    assert listener.named("batch_finished") == []


@pytest.mark.parametrize("ending", ["ctrl-c", "halt", "error"])
def test_an_attempt_that_ignores_cancellation_is_given_up_after_the_grace(ending: str) -> None:
    release = threading.Event()
    deaf_threads: list[threading.Thread] = []

    def work(attempt: Attempt) -> str:
        if attempt.item_id == "trigger":
            if ending == "halt":
                raise ValueError("bad")
            return "ok"
        deaf_threads.append(threading.current_thread())
        release.wait(WAIT)  # ignores `cancelled`
        attempt.report(code="PROCESSING")  # too late: the batch is over
        return "late"

    listener = {"ctrl-c": InterruptAfter("row_finished", after=1), "halt": Recorder(), "error": FullDisk()}[ending]
    rows, backends = items("deaf", "trigger"), [ServerSlots("http://a.test/", 2)]
    try:
        if ending == "error":
            with pytest.raises(OSError):
                run(rows, work, backends, listener=listener, cancel_grace=0.05)
        else:
            report = run(rows, work, backends, listener=listener, cancel_grace=0.05, halt_on_failures=1)
            assert (report.interrupted, report.halted) == (ending == "ctrl-c", ending == "halt")
            assert report.not_run == ["deaf"]
    finally:
        stuck = not release.is_set()
        release.set()
    assert stuck  # execute() ended while the deaf attempt still ran
    [thread] = deaf_threads
    assert thread.daemon  # an abandoned attempt cannot keep the process alive at exit
    thread.join(WAIT)
    assert listener.named("row_status") == []  # nothing reaches the listener after the end


# --- listener threads -----------------------------------------------------------------------------


def test_listener_callbacks_run_in_the_calling_thread_except_row_status() -> None:
    listener = Recorder()
    worker_threads: set[int] = set()

    def work(attempt: Attempt) -> str:
        worker_threads.add(threading.get_ident())
        attempt.report(code="IN_QUEUE", rank=2)
        attempt.report(code="PROCESSING", rank=None)
        if attempt.item_id == "r1" and attempt.number == 1:
            raise Transient("blip")
        return "ok"

    report = run(many(6), work, listener=listener)
    assert all(o.ok for o in report.outcomes)

    caller = threading.get_ident()
    names = {name for name, _ in listener.threads}
    assert names == {"batch_started", "row_started", "row_status", "row_retrying", "row_finished", "batch_finished"}
    for name, ident in listener.threads:
        if name == "row_status":
            assert ident in worker_threads and ident != caller
        else:
            assert ident == caller, name
    statuses = [args for args in listener.named("row_status") if args[0] == "r0"]
    assert statuses == [("r0", {"code": "IN_QUEUE", "rank": 2}), ("r0", {"code": "PROCESSING", "rank": None})]


# --- classify / describe (gradio_client's real exceptions) -------------------------------------------


def _status_error(code: int) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://srv.test/gradio_api/file=x.wav")
    return httpx.HTTPStatusError("boom", request=request, response=httpx.Response(code, request=request))


# The text gradio_client 2.7.2 raises when the app failed without show_error=True (client.py, _predict).
HIDDEN = (
    "The upstream Gradio app has raised an exception but has not enabled "
    "verbose error reporting. To enable, set show_error=True in launch()."
)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (QueueError("Queue is full! Please try again."), ErrorKind.BACKPRESSURE),
        (TooManyRequestsError("Too many requests to the API"), ErrorKind.TRANSIENT),
        (concurrent.futures.CancelledError(), ErrorKind.TRANSIENT),
        (CallTimeout("timed out; the job was cancelled on the server"), ErrorKind.TRANSIENT),
        (CallCancelled("cancelled"), ErrorKind.CANCELLED),
        (RowFailed("truncated download", retryable=True), ErrorKind.TRANSIENT),
        (RowFailed("only silence"), ErrorKind.PERMANENT),
        (RowFailed("only silence", retryable=False), ErrorKind.PERMANENT),
        (AppError("Value 3 is greater than maximum value 2.0."), ErrorKind.PERMANENT),
        (AppError(HIDDEN), ErrorKind.PERMANENT),
        (AppError("You have exceeded your GPU quota (60s left). Please retry in 0:09:48"), ErrorKind.TRANSIENT),
        (AppError("CUDA out of memory. Tried to allocate 2.00 GiB"), ErrorKind.TRANSIENT),
        (AuthenticationError("Could not login"), ErrorKind.PERMANENT),
        (ClientValidationError("developer validation failed"), ErrorKind.PERMANENT),
        (httpx.ConnectError("[Errno 111] Connection refused"), ErrorKind.TRANSIENT),
        (httpx.ReadTimeout("timed out"), ErrorKind.TRANSIENT),
        (httpx.RemoteProtocolError("peer closed connection"), ErrorKind.TRANSIENT),
        (ConnectionResetError(104, "reset"), ErrorKind.TRANSIENT),
        (_status_error(503), ErrorKind.TRANSIENT),
        (_status_error(429), ErrorKind.TRANSIENT),
        (_status_error(404), ErrorKind.PERMANENT),
        (ValueError("Server stopped."), ErrorKind.TRANSIENT),
        (ValueError("Cannot find a function with `api_name`: /nope."), ErrorKind.PERMANENT),
        (TypeError("No value provided for required argument: text"), ErrorKind.PERMANENT),
        (KeyError("Could not find 'data' key in response. Response received: {}"), ErrorKind.PERMANENT),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else None,
)
def test_classify(exc: BaseException, kind: ErrorKind) -> None:
    assert classify(exc) is kind


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (QueueError("Queue is full! Please try again."), "the server's queue is full"),
        (concurrent.futures.CancelledError(), "the connection to the server dropped (server restarted or stopped?)"),
        (AppError("Value 3 is greater than maximum value 2.0."), "the app raised an error: Value 3 is greater than maximum value 2.0."),
        (AppError(HIDDEN), "the app raised an error (the server hides the details: no show_error=True; see its log)"),
        (httpx.ConnectError("[Errno 111] Connection refused"), "cannot connect: [Errno 111] Connection refused"),
        (_status_error(503), "HTTP 503 from http://srv.test/gradio_api/file=x.wav"),
        (TooManyRequestsError("Too many requests"), "the server says: too many requests (HTTP 429)"),
        (RowFailed("the server returned only silence"), "the server returned only silence"),
        (RowFailed("truncated download", retryable=True), "truncated download"),
        (CallTimeout("timed out; the job was cancelled on the server"), "timed out; the job was cancelled on the server"),
        (TimeoutError(), "TimeoutError"),
        (ValueError("Server stopped."), "the server stopped"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else None,
)
def test_describe(exc: BaseException, text: str) -> None:
    assert describe(exc) == text


def test_the_generic_app_error_text_is_what_gradio_client_raises() -> None:
    assert HIDDEN.startswith(GENERIC_APP_ERROR)


def test_a_retry_waits_for_a_backend_it_has_not_failed_on() -> None:
    """When only the backend a row failed on is free, a fresh row takes it and the retry waits for the other."""
    a, b = ServerSlots("a", 1), ServerSlots("b", 1)
    z_done = threading.Event()
    seen: list[tuple[str, str, int]] = []

    def work(attempt: Attempt) -> str:
        seen.append((attempt.item_id, attempt.backend.url, attempt.number))
        if attempt.item_id == "x" and attempt.number == 1:
            raise ConnectionError("reset")
        if attempt.item_id == "y":
            z_done.wait(5)
        if attempt.item_id == "z":
            z_done.set()
        return attempt.backend.url

    report = execute(
        [("x", None), ("y", None), ("z", None)],
        work,
        [a, b],
        classify=lambda exc: ErrorKind.TRANSIENT,
        policy=RetryPolicy(retries=2, backoff=0.0, jitter=0),  # x is due again before z is started
    )
    assert all(o.ok for o in report.outcomes)
    assert [s for s in seen if s[0] == "x"] == [("x", "a", 1), ("x", "b", 2)]
    assert ("z", "a", 1) in seen


def test_a_failing_backend_rests_while_another_is_healthy() -> None:
    """After a transient failure, fresh rows go to the healthy backend instead of spending attempts on the sick one."""
    sick, healthy = ServerSlots("sick", 2), ServerSlots("healthy", 1)
    tried: Counter[str] = Counter()

    def work(attempt: Attempt) -> str:
        tried[attempt.backend.url] += 1
        if attempt.backend.url == "sick":
            raise ConnectionError("refused")
        return attempt.item_id

    report = execute(
        [(str(i), None) for i in range(12)],
        work,
        [sick, healthy],
        jobs=1,  # one at a time, so the order of events is fixed
        classify=lambda exc: ErrorKind.TRANSIENT,
        policy=RetryPolicy(retries=3, backoff=0.0, jitter=0),
        clock=lambda: 0.0,  # time stands still: the sick backend's rest never ends
    )
    assert all(o.ok for o in report.outcomes) and len(report.outcomes) == 12
    assert tried == Counter({"sick": 1, "healthy": 12})

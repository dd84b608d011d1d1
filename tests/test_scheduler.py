"""The executor's decisions (`gbatch._scheduler`), driven by hand: no threads, no sleeping.

Time is a `Clock` the tests move; randomness a seeded or fixed RNG.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from typing import Any

import pytest

from gbatch._scheduler import (
    MAX_DEFERRED,
    MAX_REST,
    POLL,
    REST,
    ErrorKind,
    Fail,
    ItemOutcome,
    NotRun,
    Retry,
    Retrying,
    RetryPolicy,
    Scheduler,
    ServerSlots,
    Start,
    Stop,
    Wait,
    decide,
)

A = ServerSlots("http://a.test/", 1, label="A")
B = ServerSlots("http://b.test/", 1, label="B")
POLICY = RetryPolicy(retries=2, backoff=1.0, max_backoff=8.0, jitter=0.5, backpressure_delay=0.25, max_backpressure_waits=3)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FixedRandom(random.Random):
    """Always draws `value`, and counts the draws."""

    def __init__(self, value: float = 0.5) -> None:
        super().__init__(0)
        self.value = value
        self.draws = 0

    def random(self) -> float:
        self.draws += 1
        return self.value


def scheduler(
    ids: str | list[str] = "xyz",
    backends: list[ServerSlots] | None = None,
    clock: Clock | None = None,
    **kwargs: Any,
) -> Scheduler[str]:
    kwargs.setdefault("policy", POLICY)
    kwargs.setdefault("rng", FixedRandom())
    return Scheduler(
        [(i, f"payload-{i}") for i in ids],
        backends or [A, B],
        clock=clock or Clock(),
        wall=lambda: 1_700_000_000.0,
        **kwargs,
    )


def placed(starts: list[Start]) -> list[tuple[str, str, int, int]]:
    return [(s.row.id, str(s.backend), s.slot, s.number) for s in starts]


def ids_of(sched: Scheduler[str]) -> tuple[list[str], list[str]]:
    report = sched.report()
    return [o.id for o in report.outcomes], report.not_run


# --- decide: every combination -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "attempts", "waits", "stopping", "expected"),
    [
        # the batch stops: whatever the failure, the row is not run
        (ErrorKind.PERMANENT, 1, 0, True, NotRun()),
        (ErrorKind.TRANSIENT, 1, 0, True, NotRun()),
        (ErrorKind.BACKPRESSURE, 1, 0, True, NotRun()),
        (ErrorKind.CANCELLED, 1, 0, True, NotRun()),
        # a cancelled attempt is never a failure
        (ErrorKind.CANCELLED, 1, 0, False, NotRun()),
        (ErrorKind.CANCELLED, 9, 9, False, NotRun()),
        # a permanent failure fails at once, retries left or not
        (ErrorKind.PERMANENT, 1, 0, False, Fail()),
        (ErrorKind.PERMANENT, 3, 0, False, Fail()),
        # transient: retried while attempts <= retries, with a doubling backoff (+ jitter 0.5 * 0.5)
        (ErrorKind.TRANSIENT, 1, 0, False, Retry(1.0 * 1.25)),
        (ErrorKind.TRANSIENT, 2, 0, False, Retry(2.0 * 1.25)),
        (ErrorKind.TRANSIENT, 3, 0, False, Fail()),
        # back-pressure: free waits first, whatever the attempt number
        (ErrorKind.BACKPRESSURE, 1, 0, False, Wait(0.25 * 1.25)),
        (ErrorKind.BACKPRESSURE, 3, 2, False, Wait(0.25 * 1.25)),
        # ... then it spends retries like a transient failure
        (ErrorKind.BACKPRESSURE, 1, 3, False, Retry(1.0 * 1.25)),
        (ErrorKind.BACKPRESSURE, 2, 3, False, Retry(2.0 * 1.25)),
        (ErrorKind.BACKPRESSURE, 3, 3, False, Fail()),
    ],
)
def test_decide(kind: ErrorKind, attempts: int, waits: int, stopping: bool, expected: object) -> None:
    assert decide(kind, attempts=attempts, waits=waits, policy=POLICY, stopping=stopping, rng=FixedRandom(0.5)) == expected


@pytest.mark.parametrize(
    ("kind", "attempts", "waits", "stopping"),
    list(itertools.product(ErrorKind, range(1, 6), range(5), (False, True))),
)
def test_decide_rules_hold_for_every_combination(kind: ErrorKind, attempts: int, waits: int, stopping: bool) -> None:
    rng = FixedRandom(0.999)
    decision = decide(kind, attempts=attempts, waits=waits, policy=POLICY, stopping=stopping, rng=rng)

    assert isinstance(decision, NotRun) == (stopping or kind is ErrorKind.CANCELLED)
    if kind is ErrorKind.PERMANENT and not stopping:
        assert decision == Fail()
    if isinstance(decision, Wait):
        assert kind is ErrorKind.BACKPRESSURE and waits < POLICY.max_backpressure_waits
        assert POLICY.backpressure_delay <= decision.delay <= POLICY.backpressure_delay * (1 + POLICY.jitter)
    if isinstance(decision, Retry):
        assert kind in (ErrorKind.TRANSIENT, ErrorKind.BACKPRESSURE) and attempts <= POLICY.retries
        assert POLICY.backoff <= decision.delay <= POLICY.max_backoff * (1 + POLICY.jitter)
    if kind is ErrorKind.TRANSIENT and not stopping:
        assert isinstance(decision, Retry if attempts <= POLICY.retries else Fail)
    # one draw for a delay, none otherwise, so seeded runs stay reproducible
    assert rng.draws == (1 if isinstance(decision, (Retry, Wait)) else 0)


# --- starting ------------------------------------------------------------------------------------


def test_rows_go_to_the_emptiest_backend_in_order() -> None:
    a, b = ServerSlots("http://a.test/", 2, label="A"), ServerSlots("http://b.test/", 2, label="B")
    sched = scheduler(["r0", "r1", "r2", "r3", "r4"], [a, b])

    assert placed(sched.starts()) == [("r0", "A", 0, 1), ("r1", "B", 0, 1), ("r2", "A", 1, 1), ("r3", "B", 1, 1)]
    assert sched.starts() == []  # no free slot
    assert sched.in_flight == 4 and [r.id for r in sched.ready] == ["r4"]


def test_jobs_caps_rows_in_flight_and_defaults_to_the_slots() -> None:
    big, small = ServerSlots("http://big.test/", 3), ServerSlots("http://small.test/", 1)
    assert scheduler(backends=[big, small]).jobs == 4
    assert scheduler(backends=[big, small], jobs=10).jobs == 4
    capped = scheduler("abcdef", [big, small], jobs=2)
    assert len(capped.starts()) == 2 and capped.starts() == []


def test_a_free_slot_is_the_lowest_one() -> None:
    a = ServerSlots("http://a.test/", 3)
    sched = scheduler("wxyz", [a])
    w, x, y = sched.starts()
    sched.succeeded(x, "ok")
    sched.succeeded(w, "ok")
    [z] = sched.starts()
    assert z.slot == 0 and sched.free[a.url] == [1]


def test_needs_a_backend() -> None:
    with pytest.raises(ValueError, match="backend"):
        Scheduler([("x", None)], [])


def test_a_success_records_the_outcome() -> None:
    sched = scheduler("x", [A])
    [start] = sched.starts()
    outcome = sched.succeeded(start, "value")
    assert outcome == ItemOutcome(
        id="x",
        ok=True,
        value="value",
        attempts=1,
        backend="A",
        backend_url=A.url,
        started=1_700_000_000.0,
        ended=1_700_000_000.0,
    )
    assert sched.finished and sched.report().outcomes == [outcome] and sched.report().not_run == []


# --- failures --------------------------------------------------------------------------------------


def test_a_transient_failure_is_retried_later_on_the_other_backend_first() -> None:
    clock = Clock()
    sched = scheduler("x", clock=clock)
    [first] = sched.starts()
    assert str(first.backend) == "A"

    retrying = sched.failed(first, ErrorKind.TRANSIENT, "blip")
    assert retrying == Retrying("x", 1, "blip", 1.25, ErrorKind.TRANSIENT)
    assert first.row.failed_on == [A.url]
    assert sched.starts() == []  # not due yet
    assert sched.wait_time() == pytest.approx(POLL)  # 1.25 s away, so the usual poll

    clock.now += 1.25
    [second] = sched.starts()
    assert (str(second.backend), second.number) == ("B", 2)


def test_retries_run_out() -> None:
    clock = Clock()
    sched = scheduler("x", [A], clock=clock)
    for number in (1, 2, 3):
        clock.now += 100  # past any delay and rest
        [start] = sched.starts()
        assert start.number == number
        result = sched.failed(start, ErrorKind.TRANSIENT, f"blip {number}")
    assert isinstance(result, ItemOutcome)
    assert (result.ok, result.kind, result.attempts, result.error) == (False, ErrorKind.TRANSIENT, 3, "blip 3")
    assert result.failed_on == [A.url] * 3 and sched.failures == 1 and sched.finished


def test_a_permanent_failure_fails_at_once_and_does_not_rest_the_backend() -> None:
    sched = scheduler("x", [A])
    [start] = sched.starts()
    outcome = sched.failed(start, ErrorKind.PERMANENT, "bad")
    assert isinstance(outcome, ItemOutcome) and not outcome.ok and outcome.kind is ErrorKind.PERMANENT
    assert outcome.failed_on == [] and sched.resting_until[A.url] == 0.0


def test_backpressure_waits_without_spending_an_attempt_then_spends_them() -> None:
    clock = Clock()
    sched = scheduler("x", [A], clock=clock)
    kinds = []
    for _ in range(POLICY.max_backpressure_waits):
        [start] = sched.starts()
        assert start.number == 1
        result = sched.failed(start, ErrorKind.BACKPRESSURE, "queue is full")
        assert isinstance(result, Retrying)
        kinds.append((result.attempt, result.delay))
        clock.now += result.delay
    assert kinds == [(0, 0.25 * 1.25)] * POLICY.max_backpressure_waits
    row = sched.rows[0]
    assert row.waits == POLICY.max_backpressure_waits and row.failed_on == []
    assert sched.resting_until[A.url] == 0.0  # a busy server is not a sick one

    [start] = sched.starts()
    result = sched.failed(start, ErrorKind.BACKPRESSURE, "queue is full")
    assert result == Retrying("x", 1, "queue is full", 1.25, ErrorKind.BACKPRESSURE)
    assert row.failed_on == [A.url]


def test_due_rows_go_first_in_the_order_they_came_due() -> None:
    clock = Clock()
    a = ServerSlots("http://a.test/", 3, label="A")
    sched = scheduler(["p", "q", "r", "s", "t"], [a], clock=clock, rng=FixedRandom(0.0))
    p, q, r = sched.starts()
    sched.failed(q, ErrorKind.BACKPRESSURE, "full")  # due in 0.25
    sched.failed(p, ErrorKind.BACKPRESSURE, "full")  # due in 0.25, later in sequence
    assert sched.wait_time() == pytest.approx(0.25)
    clock.now += 0.25
    assert sched.wait_time() == 0.0
    assert [s.row.id for s in sched.starts()] == ["q", "p"]
    assert [row.id for row in sched.ready] == ["s", "t"]


# --- which backend -------------------------------------------------------------------------------


# A full queue past its free waits counts against the backend but does not rest it: no clock needed.
COUNTED = RetryPolicy(retries=3, backoff=0.0, jitter=0.0, max_backpressure_waits=0)


def test_a_retry_defers_to_a_busy_backend_it_has_not_failed_on() -> None:
    """x failed on A and only A is free; B is busy with y: a fresh row takes A, x waits for B."""
    sched = scheduler("xyz", policy=COUNTED)
    x, y = sched.starts()
    assert sched.failed(x, ErrorKind.BACKPRESSURE, "full") == Retrying("x", 1, "full", 0.0, ErrorKind.BACKPRESSURE)

    [z] = sched.starts()
    assert (z.row.id, str(z.backend)) == ("z", "A")
    assert [row.id for row in sched.ready] == ["x"]  # kept first in line, for B
    sched.succeeded(y, "ok")
    [x_again] = sched.starts()
    assert (x_again.row.id, str(x_again.backend), x_again.number) == ("x", "B", 2)


def test_a_retry_comes_back_to_a_backend_once_every_backend_has_failed_it() -> None:
    sched = scheduler("x", policy=COUNTED)
    seen = []
    for _ in range(3):
        [start] = sched.starts()
        seen.append(str(start.backend))
        sched.failed(start, ErrorKind.BACKPRESSURE, "full")
    assert seen == ["A", "B", "A"]


def test_a_retry_that_failed_everywhere_is_not_deferred() -> None:
    sched = scheduler("xy", policy=COUNTED)
    x, y = sched.starts()  # x on A, y on B
    sched.failed(x, ErrorKind.BACKPRESSURE, "full")
    sched.succeeded(y, "ok")
    [x_on_b] = sched.starts()  # y is done: x goes to B
    sched.failed(x_on_b, ErrorKind.BACKPRESSURE, "full")
    [x_back] = sched.starts()  # failed on both: it takes the first free one, no waiting
    assert (str(x_back.backend), x_back.row.failed_on) == ("A", [A.url, B.url])


def test_at_most_max_deferred_retries_wait_per_pass() -> None:
    a, b = ServerSlots("http://a.test/", MAX_DEFERRED + 5), ServerSlots("http://b.test/", 1)
    ids = [f"r{i}" for i in range(MAX_DEFERRED + 3)]
    sched = scheduler(ids, [a, b])
    sched.free[b.url] = []  # B busy
    sched.in_flight = 1
    for row in sched.rows:
        row.failed_on = [a.url]
    starts = sched.starts()
    # the first MAX_DEFERRED rows wait for B; after that, retries take A rather than wait
    assert [s.row.id for s in starts] == ids[MAX_DEFERRED:]
    assert [row.id for row in sched.ready] == ids[:MAX_DEFERRED]


def test_a_backend_rests_after_a_transient_failure_while_another_is_healthy() -> None:
    clock = Clock()
    a, b = ServerSlots("http://a.test/", 2, label="A"), ServerSlots("http://b.test/", 1, label="B")
    sched = scheduler("wxyz", [a, b], clock=clock, jobs=1)
    [w] = sched.starts()
    assert str(w.backend) == "A"
    sched.failed(w, ErrorKind.TRANSIENT, "refused")
    assert sched.resting_until[a.url] == clock.now + REST
    [x] = sched.starts()
    assert (x.row.id, str(x.backend)) == ("x", "B")  # A rests
    sched.succeeded(x, "ok")
    clock.now += REST  # A is awake again; w's retry (1.25 s) is not due yet
    [y] = sched.starts()
    assert (y.row.id, str(y.backend)) == ("y", "A")  # the emptiest backend again


def test_rests_double_with_each_failure_in_a_row_up_to_a_cap_and_a_success_ends_them() -> None:
    clock = Clock()
    policy = RetryPolicy(retries=100, backoff=0.0, jitter=0.0)
    sched = scheduler("x", [A], clock=clock, policy=policy)
    rests = []
    for _ in range(10):
        [start] = sched.starts()
        sched.failed(start, ErrorKind.TRANSIENT, "refused")
        rests.append(sched.resting_until[A.url] - clock.now)
    assert rests == [min(MAX_REST, REST * 2**n) for n in range(10)]
    [start] = sched.starts()  # every backend rests: they are used anyway
    sched.succeeded(start, "ok")
    assert sched.troubles[A.url] == 0 and sched.resting_until[A.url] == 0.0


def test_when_every_backend_rests_they_are_all_used() -> None:
    clock = Clock()
    sched = scheduler("wxyz", clock=clock)
    w, x = sched.starts()
    sched.failed(w, ErrorKind.TRANSIENT, "refused")
    sched.failed(x, ErrorKind.TRANSIENT, "refused")
    assert [str(s.backend) for s in sched.starts()] == ["A", "B"]


# --- halting and stopping --------------------------------------------------------------------------


def test_halting_after_n_failures_stops_starting_and_running_rows_end_not_run() -> None:
    a = ServerSlots("http://a.test/", 3)
    sched = scheduler("abcdef", [a], halt_on_failures=2)
    sa, sb, sc = sched.starts()
    sched.failed(sa, ErrorKind.PERMANENT, "bad")
    assert not sched.stopping
    sched.failed(sb, ErrorKind.PERMANENT, "bad")
    assert sched.stopped is Stop.HALT and sched.starts() == []
    # c was running: its failure now is the cancel's doing
    assert sched.failed(sc, ErrorKind.TRANSIENT, "dropped") is None
    report = sched.report()
    assert report.halted and not report.interrupted
    assert [o.id for o in report.outcomes] == ["a", "b"] and report.not_run == ["c", "d", "e", "f"]


def test_a_success_while_stopping_is_kept() -> None:
    sched = scheduler("xy")
    x, y = sched.starts()
    sched.stop(Stop.INTERRUPT)
    sched.succeeded(x, "done")
    assert sched.failed(y, ErrorKind.CANCELLED, "cancelled") is None
    assert ids_of(sched) == (["x"], ["y"])


def test_ctrl_c_overrides_a_halt_and_not_the_other_way() -> None:
    sched = scheduler()
    sched.stop(Stop.HALT)
    sched.stop(Stop.INTERRUPT)
    sched.stop(Stop.HALT)
    assert sched.stopped is Stop.INTERRUPT
    report = sched.report()
    assert report.interrupted and not report.halted
    errored = scheduler()
    errored.stop(Stop.ERROR)
    errored.stop(Stop.HALT)
    assert errored.stopped is Stop.ERROR


def test_halt_on_zero_or_none_never_halts() -> None:
    for halt in (None, 0):
        sched = scheduler("xyz", [ServerSlots("http://a.test/", 3)], halt_on_failures=halt)
        for start in sched.starts():
            sched.failed(start, ErrorKind.PERMANENT, "bad")
        assert not sched.stopping and sched.failures == 3


# --- the report ------------------------------------------------------------------------------------


def test_rows_anywhere_in_the_queues_are_not_run_in_input_order() -> None:
    clock = Clock()
    sched = scheduler(list("abcde"), [ServerSlots("http://a.test/", 2)], clock=clock)
    a, b = sched.starts()  # a and b run
    sched.failed(a, ErrorKind.TRANSIENT, "blip")  # a waits for its retry
    sched.stop(Stop.INTERRUPT)
    assert sched.report().not_run == ["a", "b", "c", "d", "e"]


def test_duplicate_ids_are_separate_rows() -> None:
    sched = scheduler(["x", "x"], [ServerSlots("http://a.test/", 2)])
    first, second = sched.starts()
    sched.succeeded(first, "one")
    assert ids_of(sched) == (["x"], ["x"])


KINDS = {"transient": ErrorKind.TRANSIENT, "permanent": ErrorKind.PERMANENT, "full": ErrorKind.BACKPRESSURE}


# --- a random walk through it all ------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(300))
def test_every_row_ends_exactly_once_in_any_order_of_events(seed: int) -> None:
    """Attempts end in a random order with random results; time moves at random; the batch may
    halt and may be interrupted at any step. Slots are never double-booked, `jobs` is never
    exceeded, and every row ends in the report once."""
    rng = random.Random(seed)
    clock = Clock()
    ids = [f"r{i}" for i in range(rng.randint(0, 12))]
    backends = [ServerSlots(f"http://{name}.test/", rng.randint(1, 3)) for name in "abc"[: rng.randint(1, 3)]]
    policy = RetryPolicy(retries=rng.randint(0, 3), backoff=0.5, jitter=0.5, backpressure_delay=0.1, max_backpressure_waits=rng.randint(0, 3))
    jobs, halt = rng.choice([None, 1, 2, 5]), rng.choice([None, 1, 3])
    sched = scheduler(ids, backends, clock=clock, policy=policy, rng=random.Random(seed), jobs=jobs, halt_on_failures=halt)
    interrupt_at = rng.choice([None, rng.randint(0, 60)])
    running: list[Start] = []
    finished_by_listener: Counter[str] = Counter()

    for step in itertools.count():
        assert step < 10_000, "the batch never ended"
        if step == interrupt_at:
            sched.stop(Stop.INTERRUPT)
        running += sched.starts()
        in_use = [(s.backend.url, s.slot) for s in running]
        assert len(in_use) == len(set(in_use))  # no slot handed out twice at once
        assert len(running) <= min(jobs or 99, sum(b.slots for b in backends))
        if not running and (sched.stopping or sched.finished):
            break
        if not running or rng.random() < 0.2:
            clock.now += rng.choice([0.05, 0.5, 5.0])
            continue
        start = running.pop(rng.randrange(len(running)))
        what = rng.choice(["ok", "transient", "permanent", "full"])
        if what == "ok":
            finished_by_listener[sched.succeeded(start, "ok").id] += 1
            continue
        kind = ErrorKind.CANCELLED if sched.stopping else KINDS[what]
        result = sched.failed(start, kind, what)
        if isinstance(result, ItemOutcome):
            finished_by_listener[result.id] += 1

    report = sched.report()
    done = [o.id for o in report.outcomes]
    assert sorted(done + report.not_run) == sorted(ids)
    assert finished_by_listener == Counter(done)
    assert report.interrupted == (interrupt_at is not None and interrupt_at <= step)
    if not report.interrupted and not report.halted:
        assert report.not_run == []

"""Rows that need a server state (a loaded voice): grouping, affinity, rebalancing and pins,
decided by `_states.StateRouter` and `_scheduler.Scheduler` without threads."""

from __future__ import annotations

import random
from collections import Counter, deque

import pytest

from gbatch._errors import UsageError
from gbatch._scheduler import ErrorKind, Retrying, RetryPolicy, Scheduler, ServerSlots, Start
from gbatch._states import REBALANCE_AT, Pin, StateRouter, parse_pin

A = "http://a.test/"
B = "http://b.test/"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# --- the router on its own --------------------------------------------------------------------


def test_a_server_keeps_to_its_state_while_rows_of_it_wait() -> None:
    router = StateRouter([A])
    router.started(A, "alice")
    assert router.choose(A, ["bob", "alice", "bob"]) == 1


def test_a_server_does_not_switch_under_running_rows() -> None:
    router = StateRouter([A])
    router.started(A, "alice")
    assert router.choose(A, ["bob", "bob"]) is None
    router.ended(A)
    assert router.choose(A, ["bob", "bob"]) == 0


def test_rows_that_need_no_state_run_anywhere_at_once() -> None:
    router = StateRouter([A])
    router.started(A, "alice")
    assert router.choose(A, ["bob", None]) == 1


def test_a_drained_server_takes_the_longest_queue_no_other_server_holds() -> None:
    router = StateRouter([A, B])
    router.started(B, "carol")
    ready = ["alice", "bob", "bob", "carol", "carol", "carol", "carol", "carol"]
    assert ready[router.choose(A, ready) or 0] == "bob"  # carol is longer but B holds it


def test_an_idle_server_joins_a_long_queue_but_not_a_short_one() -> None:
    router = StateRouter([A, B])
    router.started(B, "carol")
    assert router.choose(A, ["carol"] * (REBALANCE_AT - 1)) is None
    assert router.choose(A, ["carol"] * REBALANCE_AT) == 0


def test_a_state_held_by_a_server_that_cannot_work_is_free_to_take() -> None:
    router = StateRouter([A, B])
    router.started(B, "carol")
    assert router.choose(A, ["carol"], able={A}) == 0


def test_a_pinned_state_runs_only_on_its_server_and_comes_first_there() -> None:
    router = StateRouter([A, B], {"alice": {B}})
    ready = ["alice", "bob", "bob", "bob"]
    assert ready[router.choose(A, ready) or 0] == "bob"
    assert router.choose(A, ["alice"]) is None
    assert ready[router.choose(B, ready) or 0] == "alice"


def test_switches_are_counted_per_server() -> None:
    router = StateRouter([A, B])
    assert router.started(A, "alice") is True
    assert router.started(A, "alice") is False
    router.ended(A)
    router.ended(A)
    assert router.started(A, "bob") is True
    assert router.switches == {A: 2, B: 0}


@pytest.mark.parametrize(
    ("text", "pin"),
    [
        ("alice@http://127.0.0.1:9872", Pin("alice", "http://127.0.0.1:9872/")),
        ("Old Tom@https://user:pw@gpu1:9872/", Pin("Old Tom", "https://user:pw@gpu1:9872/")),
    ],
)
def test_pins_parse(text: str, pin: Pin) -> None:
    assert parse_pin(text) == pin


@pytest.mark.parametrize("text", ["alice", "@http://h:1", "alice@ftp://h"])
def test_bad_pins_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match="VOICE@URL"):
        parse_pin(text)


# --- the scheduler with states: a whole batch, driven by hand ----------------------------------


def simulate(
    states: list[str | None],
    backends: list[ServerSlots],
    *,
    pins: dict[str, set[str]] | None = None,
    fail_once: set[int] = frozenset(),  # type: ignore[assignment]
    seed: int = 1,
) -> tuple[Scheduler[int], list[tuple[str, str | None, set[str | None]]]]:
    """Run a batch to its end, finishing running attempts in a random order; returns the
    scheduler and, per start, (server, state, states still running on that server)."""
    clock = Clock()
    scheduler: Scheduler[int] = Scheduler(
        [(f"r{i}", i) for i in range(len(states))],
        backends,
        policy=RetryPolicy(retries=3, backoff=1.0, jitter=0.0),
        clock=clock,
        wall=clock,
        rng=random.Random(seed),
        states=states,
        pins=pins,
    )
    rng = random.Random(seed)
    running: list[Start] = []
    log: list[tuple[str, str | None, set[str | None]]] = []
    failed: set[int] = set()
    for _ in range(100_000):
        if scheduler.finished:
            break
        for start in scheduler.starts():
            log.append((start.backend.url, start.row.state, {s.row.state for s in running if s.backend.url == start.backend.url}))
            running.append(start)
        if not running:
            clock.now += 1.0
            continue
        start = running.pop(rng.randrange(len(running)))
        index = start.row.payload
        if index in fail_once and index not in failed:
            failed.add(index)
            assert isinstance(scheduler.failed(start, ErrorKind.TRANSIENT, "lost"), Retrying)
        else:
            scheduler.succeeded(start, index)
    assert scheduler.finished
    return scheduler, log


def voices(count: int, rows: int, seed: int = 7) -> list[str | None]:
    names = [f"voice{i}" for i in range(count)]
    rng = random.Random(seed)
    return [rng.choice(names) for _ in range(rows)]


def switches(log: list[tuple[str, str | None, set[str | None]]]) -> Counter[str]:
    last: dict[str, str | None] = {}
    counted: Counter[str] = Counter()
    for url, state, _ in log:
        if state is not None and last.get(url) != state:
            counted[url] += 1
            last[url] = state
    return counted


@pytest.mark.parametrize("seed", range(5))
def test_three_voices_on_two_servers_never_mix_and_switch_little(seed: int) -> None:
    states = voices(3, 60, seed)
    scheduler, log = simulate(states, [ServerSlots(A, 2), ServerSlots(B, 2)], seed=seed)
    report = scheduler.report()
    assert sorted(o.value for o in report.outcomes if o.value is not None) == list(range(60))
    for _url, state, running in log:
        assert running <= {state, None}, "a row started while rows of another state ran on its server"
    for url, count in switches(log).items():
        assert count <= 3 + 1, (url, count)
    assert scheduler.router is not None
    assert switches(log) == Counter(scheduler.router.switches)


def test_row_order_would_switch_far_more() -> None:
    # The naive alternative: rows in file order, each server switching whenever the next row needs it.
    states = voices(3, 60)
    naive = sum(1 for before, after in zip([None, *states], states, strict=False) if before != after)
    scheduler, log = simulate(states, [ServerSlots(A, 2), ServerSlots(B, 2)])
    assert sum(switches(log).values()) * 4 < naive


def test_retried_rows_keep_to_their_state() -> None:
    states = voices(3, 40, 3)
    scheduler, log = simulate(states, [ServerSlots(A, 2), ServerSlots(B, 2)], fail_once={1, 5, 9, 20, 33})
    assert len(scheduler.report().outcomes) == 40
    for _url, state, running in log:
        assert running <= {state, None}


def test_pinned_voices_run_only_where_pinned() -> None:
    states = voices(3, 40, 4)
    _, log = simulate(states, [ServerSlots(A, 2), ServerSlots(B, 2)], pins={"voice0": {A}})
    assert {url for url, state, _ in log if state == "voice0"} == {A}


def test_rows_without_a_state_keep_the_old_path() -> None:
    scheduler: Scheduler[int] = Scheduler([("a", 1), ("b", 2)], [ServerSlots(A, 1)], states=[None, None])
    assert scheduler.router is None


def test_one_server_runs_each_voice_as_one_group() -> None:
    states = voices(4, 50, 11)
    _, log = simulate(states, [ServerSlots(A, 3)])
    assert switches(log)[A] == 4
    groups = [state for state, _ in _runs(log)]
    assert len(groups) == 4


def _runs(log: list[tuple[str, str | None, set[str | None]]]) -> list[tuple[str | None, int]]:
    runs: deque[tuple[str | None, int]] = deque()
    for _url, state, _ in log:
        if runs and runs[-1][0] == state:
            runs[-1] = (state, runs[-1][1] + 1)
        else:
            runs.append((state, 1))
    return list(runs)

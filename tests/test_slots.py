"""Learning a server's slots (`gbatch._slots`), without threads: a simulated Gradio queue on a
fake clock, whose events reach the learner late and sometimes out of order, as gradio_client's
per-job threads deliver them."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

import pytest

from gbatch._scheduler import ErrorKind, Scheduler, ServerSlots
from gbatch._slots import DEFAULT_QUEUE_AHEAD, FIRST_WINDOW, SETTLE, Learning, Slots

TICK = 0.005


@dataclass
class SimServer:
    """A Gradio queue: FIFO, `grant` jobs at once, each `duration` s. Events reach the client
    after a random delay of up to `jitter` s each, so a start is often heard before the end
    that made room for it."""

    grant: int
    duration: float = 0.2
    jitter: float = 0.05
    travel: float = 0.002  # from our send to the server's queue
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    waiting: deque[int] = field(default_factory=deque)
    running: dict[int, float] = field(default_factory=dict)
    events: list[tuple[float, int, str, int]] = field(default_factory=list)  # (heard at, order, code, row)
    most_running: int = 0
    received: list[int] = field(default_factory=list)
    arriving: deque[tuple[float, int]] = field(default_factory=deque)
    idle: int = 0  # slot-ticks without a job while the batch runs
    _order: int = 0

    def tell(self, now: float, code: str, row: int) -> None:
        self._order += 1
        self.events.append((now + self.rng.uniform(0.001, self.jitter), self._order, code, row))

    def submit(self, row: int, now: float) -> None:
        self.received.append(row)
        self.arriving.append((now + self.travel, row))

    def step(self, now: float) -> None:
        while self.arriving and self.arriving[0][0] <= now:
            _, row = self.arriving.popleft()
            self.waiting.append(row)
            self.tell(now, "queued", row)
        self._run(now)
        self.idle += (self.grant - len(self.running)) if self.waiting or self.arriving or self.running else 0

    def _run(self, now: float) -> None:
        for row, end in list(self.running.items()):
            if end <= now:
                del self.running[row]
                self.tell(now, "finished", row)
        while self.waiting and len(self.running) < self.grant:
            row = self.waiting.popleft()
            self.running[row] = now + self.duration
            self.tell(now, "started", row)
        self.most_running = max(self.most_running, len(self.running))

    def heard(self, now: float) -> list[tuple[str, int]]:
        due = sorted(e for e in self.events if e[0] <= now)
        self.events = [e for e in self.events if e[0] > now]
        return [(code, row) for _, _, code, row in due]


@dataclass
class Trace:
    learned: list[int] = field(default_factory=list)  # after each finished row
    in_flight: list[int] = field(default_factory=list)
    finished: int = 0


def drive(slots: Slots, server: SimServer, rows: int, *, shrink: tuple[int, int] | None = None, seconds: float = 120.0) -> Trace:
    """Send `rows` through `slots` to `server`; `shrink=(after, grant)` changes the grant
    once that many rows finished."""
    trace = Trace()
    sent = 0
    now = 0.0
    while trace.finished < rows and now < seconds:
        slots.tick(now)  # as the scheduler does each time it looks
        server.step(now)
        for code, row in server.heard(now):
            if code == "queued":
                slots.queued(row, now)
            elif code == "started":
                slots.started(row, now)
            else:
                slots.ended(row, now)
                slots.finished(row, now + 0.001, latency=server.duration)
                trace.finished += 1
                trace.learned.append(slots.current())
                if shrink and trace.finished == shrink[0]:
                    server.grant = shrink[1]
        while sent < rows and slots.free():
            slots.sent(sent, now)
            server.submit(sent, now)
            sent += 1
        trace.in_flight.append(slots.in_flight)
        now += TICK
    return trace


@pytest.mark.parametrize("grant", [1, 2, 4, 8])
@pytest.mark.parametrize("start", [1, 2])
def test_learned_slots_rise_to_what_the_server_grants(grant: int, start: int) -> None:
    server = SimServer(grant)
    trace = drive(Slots(32, start=start), server, rows=60)
    assert trace.finished == 60
    assert trace.learned[-1] == grant
    # within a few rows, and it stays there
    assert set(trace.learned[4 * grant + 8 :]) == {grant}
    assert sorted(server.received) == list(range(60))  # every row sent once


@pytest.mark.parametrize("grant", [8, 16])
def test_a_large_server_is_full_before_its_first_row_ends(grant: int) -> None:
    # Rows of 1 s: no end is heard in the first 0.6 s, so only samples taken on time (not at
    # the next event) and twice as many sent while every row of ours runs can find the grant.
    server = SimServer(grant, duration=1.0)
    slots = Slots(32, start=2)
    drive(slots, server, rows=100, seconds=0.6)
    assert slots.current() == grant
    assert server.most_running == grant
    assert server.waiting  # rows of ours wait for the slots that free up next


def test_before_anything_is_learned_a_first_window_of_rows_goes() -> None:
    assert Slots(32, start=2).limit() == FIRST_WINDOW
    assert Slots(4, start=2).limit() == 4  # within the cap
    assert Slots(32, start=2, queue_ahead=1).limit() == 3  # a given --queue-ahead is kept
    assert Slots(32, start=2, how=Learning.LATENCY).limit() == 2  # no queue: no rows waiting in it


def test_the_first_wait_ends_the_slow_start() -> None:
    # One slot: of the first window, one runs and the rest wait. From then on as many wait as
    # run, and never fewer than two.
    slots = Slots(32, start=2)
    for row in range(FIRST_WINDOW):
        slots.sent(row, 0.0)
        slots.queued(row, 0.0)
    slots.started(0, 0.01)
    slots.tick(0.01 + SETTLE + 0.01)
    assert slots.current() == 1
    assert slots.queue_ahead == DEFAULT_QUEUE_AHEAD
    assert slots.limit() == 1 + DEFAULT_QUEUE_AHEAD


def test_rows_kept_waiting_never_fall_below_two_when_events_come_late() -> None:
    # 0.1 s rows on 4 slots end every 25 ms, and events arrive up to 50 ms late: a row still
    # counted as waiting at an end has often started already. One kept waiting idles slots.
    server = SimServer(4, duration=0.1, jitter=0.05)
    slots = Slots(32)
    trace = drive(slots, server, rows=200)
    assert trace.finished == 200
    assert slots.queue_ahead >= DEFAULT_QUEUE_AHEAD
    assert server.idle < 120  # slot-ticks of 5 ms over the 5 s batch, ramp and end included (one kept: ~300)


def test_a_servers_time_per_row_is_measured_from_its_queue_events() -> None:
    slots = Slots(32, start=2, queue_ahead=2)
    assert (slots.finish_in(), slots.rate()) == (None, None)  # nothing ran yet
    for row in range(2):
        slots.sent(row, 0.0)
        slots.started(row, 0.1)
        slots.ended(row, 0.4)
        slots.finished(row, 0.45)
    assert slots.rate() == pytest.approx(2 / 0.3)
    assert slots.finish_in() == pytest.approx(0.3)  # a free slot: its own run only
    for row in range(2, 6):
        slots.sent(row, 1.0)
    assert slots.finish_in() == pytest.approx(0.3 * (1 + 3 / 2))  # behind 4 in flight on 2 slots


def test_without_queue_events_the_round_trip_is_the_time_per_row() -> None:
    slots = Slots(4, how=Learning.FIXED)
    slots.sent("a", 0.0)
    slots.finished("a", 0.5, latency=0.5)
    assert slots.rate() == pytest.approx(4 / 0.5)


def test_a_full_queue_ends_the_slow_start_and_halves_the_rows_kept_waiting() -> None:
    slots = Slots(32, start=4)
    for row in range(8):
        slots.sent(row, 0.0)
        slots.started(row, 0.0)
    slots.tick(SETTLE + 0.01)  # every row of ours runs: send twice as many
    assert (slots.current(), slots.queue_ahead) == (8, 8)
    slots.sent(8, 0.2)
    slots.finished(8, 0.21, ok=True, queue_full=True)  # the server's queue refused it
    assert (slots.current(), slots.queue_ahead) == (8, 4)
    for row in range(8):  # every one of ours still runs, but the queue said it has a limit
        slots.finished(row, 0.3)
    for row in range(10, 18):
        slots.sent(row, 0.4)
        slots.started(row, 0.4)
    slots.tick(0.4 + SETTLE + 0.01)
    assert slots.queue_ahead == 4


def test_rows_a_full_queue_refused_at_once_halve_the_rows_kept_waiting_once() -> None:
    # A first window of 8 on a server of 2 slots whose queue holds 4: two are refused at once.
    slots = Slots(32, start=2)
    for row in range(FIRST_WINDOW):
        slots.sent(row, 0.0)
    slots.finished(6, 0.01, queue_full=True)
    slots.finished(7, 0.01, queue_full=True)
    assert slots.queue_ahead == (FIRST_WINDOW - 2) // 2  # halved once, not twice
    slots.sent(8, 0.5)
    slots.finished(8, 0.51, queue_full=True)  # sent after the cut: the queue is full again
    assert slots.queue_ahead == (FIRST_WINDOW - 2) // 4


def test_the_queue_holds_queue_ahead_rows_beyond_those_running() -> None:
    server = SimServer(4)
    trace = drive(Slots(32, queue_ahead=2), server, rows=80)
    assert max(trace.in_flight) <= 4 + 2
    assert trace.in_flight[len(trace.in_flight) // 2] == 6
    assert server.most_running == 4


def test_rows_kept_waiting_grow_to_cover_a_long_round_trip() -> None:
    # 8 slots of 0.2 s free one every 25 ms; a row takes 80 ms to reach the queue
    far = SimServer(8, travel=0.08)
    slots = Slots(64)
    trace = drive(slots, far, rows=240)
    assert trace.learned[-1] == 8
    assert slots.queue_ahead >= 4  # 80 ms of rows at one per 25 ms
    fixed = SimServer(8, travel=0.08)
    drive(Slots(64, queue_ahead=2), fixed, rows=240)
    assert far.idle < fixed.idle * 0.7  # the slots idled far less (start and end included)
    near = Slots(64)
    drive(near, SimServer(2, duration=0.5), rows=40)
    assert near.queue_ahead <= 2  # a slow server with a short trip needs no more


def test_rows_that_take_no_time_are_sent_more_at_once() -> None:
    # nothing ever waits in the queue: the round trip, not the server, is the limit
    server = SimServer(16, duration=0.01, travel=0.03)
    slots = Slots(32)
    trace = drive(slots, server, rows=400)
    assert slots.queue_ahead > 8
    assert max(trace.in_flight) > 8


def test_learned_slots_fall_when_the_server_shrinks() -> None:
    server = SimServer(4)
    trace = drive(Slots(32), server, rows=80, shrink=(30, 2))
    assert trace.learned[29] == 4
    assert trace.learned[-1] == 2
    assert set(trace.learned[30 + 12 :]) == {2}  # a few rows after it shrank


def test_learned_slots_never_exceed_the_cap() -> None:
    server = SimServer(8)
    slots = Slots(3)
    trace = drive(slots, server, rows=40)
    assert max(trace.in_flight) <= 3
    assert max(trace.learned) <= 3 and slots.report().peak <= 3
    assert server.most_running <= 3


def test_queue_ahead_zero_sends_only_when_one_finishes_once_a_probe_waited() -> None:
    server = SimServer(3)
    slots = Slots(32, queue_ahead=0)
    trace = drive(slots, server, rows=60)
    assert trace.learned[-1] == 3
    # a probe beyond the learned slots goes now and then, not all the time
    assert sum(1 for n in trace.in_flight if n > 3) < len(trace.in_flight) / 4
    assert server.most_running == 3


def test_a_late_event_of_a_finished_row_is_ignored() -> None:
    slots = Slots(8)
    slots.sent("a", 0.0)
    slots.started("a", 0.0)
    slots.finished("a", 0.1)
    slots.started("a", 0.2)
    slots.queued("a", 0.2)
    assert (slots.in_flight, slots.running) == (0, 0)


def test_a_silent_queue_is_learned_by_latency_instead() -> None:
    slots = Slots(16)
    for row in range(5):
        slots.sent(row, 0.0)
        slots.finished(row, 1.0, latency=1.0)
    assert slots.how is Learning.LATENCY
    assert "latency" in slots.report().describe()


def test_aimd_grows_while_latency_stays_flat_and_halves_when_it_rises() -> None:
    slots = Slots(12, how=Learning.LATENCY, start=1)
    row = 0
    while slots.current() < 12 and row < 500:
        for _ in range(slots.free()):
            slots.sent(row, 0.0)
            row += 1
        for token in list(range(row - slots.in_flight, row)):
            slots.finished(token, 0.0, latency=1.0)
    assert slots.current() == 12  # up to the cap, never above
    assert slots.limit() == 12
    # the server slows down: one congestion event halves the window once
    tokens = list(range(row, row + 12))
    for token in tokens:
        slots.sent(token, 0.0)
    for token in tokens:
        slots.finished(token, 0.0, latency=3.0)
    assert slots.current() == 6
    # a transient failure halves it too
    slots.sent("x", 0.0)
    slots.finished("x", 0.0, ok=False)
    assert slots.current() == 3


def test_fixed_slots_are_exactly_what_was_given() -> None:
    slots = Slots(5, how=Learning.FIXED)
    assert slots.limit() == 5
    assert slots.report().describe() == "5 rows at once"


def test_a_server_where_no_row_ended_reports_nothing_learned() -> None:
    idle = Slots(32).report()
    assert idle.describe() == "no row sent here, nothing learned"
    assert idle.as_dict()["learned"] is None and idle.as_dict()["rows"] == 0
    busy = Slots(32)
    busy.sent("x", 0.0)
    busy.finished("x", 0.5, ok=True)
    assert busy.report().as_dict()["learned"] == busy.report().learned and busy.report().as_dict()["rows"] == 1
    assert Slots(5, how=Learning.FIXED).report().as_dict()["learned"] == 5  # given, not learned


def test_samples_wait_for_the_settle_time() -> None:
    slots = Slots(8, start=1)
    for row in range(3):
        slots.sent(row, 0.0)
        slots.started(row, 0.0)
    assert slots.current() == 1  # nothing is sampled the moment a start is heard
    slots.sent(3, SETTLE + 0.01)
    assert slots.current() == 3


def test_when_every_row_of_ours_runs_the_count_replaces_lower_samples() -> None:
    # A large server: every row sent starts at once. Each look at the count is a lower bound
    # of the grant, so the learned number follows it at once (no median to wait for).
    slots = Slots(32, start=1, queue_ahead=2)
    now, row = 0.0, 0
    for expected in (3, 5, 7):
        while slots.free():
            slots.sent(row, now)
            slots.started(row, now)
            row += 1
        now += SETTLE + 0.01
        slots.sent(row, now)  # any event after the settle time takes the sample
        slots.finished(row, now)
        assert slots.current() == expected
        row += 1


# --- the scheduler shares rows by free learned slots -------------------------------------------


def run_two_servers(durations: dict[str, float], rows: int, *, failing: set[str] = frozenset(), until: float = 60.0) -> dict[str, int]:
    """Rows through a Scheduler over simulated servers; returns rows done per server."""
    return run_servers(durations, rows, failing=failing, until=until)[0]


def run_servers(durations: dict[str, float], rows: int, *, failing: set[str] = frozenset(), until: float = 60.0) -> tuple[dict[str, int], float]:
    """Rows through a Scheduler over simulated servers of 4 slots: rows done per server, and when the last ended."""
    clock = [0.0]
    servers = {url: SimServer(4, duration=d, jitter=0.02, rng=random.Random(len(url))) for url, d in durations.items()}
    backends = [ServerSlots(url, 32) for url in servers]
    slots = {url: Slots(32) for url in servers}
    scheduler: Scheduler[str] = Scheduler([(str(i), i) for i in range(rows)], backends, clock=lambda: clock[0], slots=slots, rng=random.Random(1))
    starts = {}
    done = dict.fromkeys(servers, 0)
    while not scheduler.finished and clock[0] < until:
        for start in scheduler.starts():
            starts[(start.backend.url, start.row.index, start.number)] = start
            servers[start.backend.url].submit(start.row.index * 100 + start.number, clock[0])
        for url, server in servers.items():
            server.step(clock[0])
            for code, key in server.heard(clock[0]):
                start = starts[(url, key // 100, key % 100)]
                scheduler.observed(start, code)
                if code == "finished":
                    if url in failing and clock[0] < until / 2:
                        scheduler.failed(start, ErrorKind.TRANSIENT, "HTTP 503")
                    else:
                        scheduler.succeeded(start, "ok")
                        done[url] += 1
        clock[0] += TICK
    assert scheduler.finished
    return done, clock[0]


def test_a_faster_server_takes_proportionally_more_rows() -> None:
    done = run_two_servers({"http://fast/": 0.1, "http://slow/": 0.3}, rows=240)
    assert done["http://fast/"] + done["http://slow/"] == 240
    ratio = done["http://fast/"] / done["http://slow/"]
    assert 2.2 < ratio < 3.8  # three times as fast: about three times the rows


@pytest.mark.parametrize("rows", [60, 200])
def test_the_last_rows_do_not_wait_in_a_slow_servers_queue_while_a_fast_one_idles(rows: int) -> None:
    # 4 slots each, 0.1 s and 0.3 s a row: 53.3 rows/s together. Rows kept waiting in the slow
    # server's queue at the end would finish up to a whole slow round after the fast server ran
    # out of work; held back for the fast one, the batch ends within the ramp-up of the ideal.
    done, ended = run_servers({"http://fast/": 0.1, "http://slow/": 0.3}, rows)
    ideal = rows / (4 / 0.1 + 4 / 0.3)
    assert ended < ideal + 0.35, done
    assert done["http://fast/"] >= 0.72 * rows  # 75 % in proportion to speed


def test_one_slow_server_alone_gets_every_row() -> None:
    done, _ = run_servers({"http://slow/": 0.3}, 40)
    assert done == {"http://slow/": 40}


def test_each_server_learns_its_own_slots_through_the_scheduler() -> None:
    clock = [0.0]
    servers = {"http://a/": SimServer(2, jitter=0.02), "http://b/": SimServer(6, jitter=0.02)}
    slots = {url: Slots(32) for url in servers}
    scheduler: Scheduler[str] = Scheduler([(str(i), i) for i in range(200)], [ServerSlots(u, 32) for u in servers], clock=lambda: clock[0], slots=slots)
    starts = {}
    while not scheduler.finished and clock[0] < 60:
        for start in scheduler.starts():
            starts[start.row.index] = start
            servers[start.backend.url].submit(start.row.index, clock[0])
        for server in servers.values():
            server.step(clock[0])
            for code, row in server.heard(clock[0]):
                scheduler.observed(starts[row], code)
                if code == "finished":
                    scheduler.succeeded(starts[row], "ok")
        clock[0] += TICK
    report = scheduler.report()
    assert {url: s.learned for url, s in report.slots.items()} == {"http://a/": 2, "http://b/": 6}
    assert all(s.how is Learning.QUEUE for s in report.slots.values())

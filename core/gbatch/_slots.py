"""How many rows one server gets at once, learned while the batch runs. Pure: no threads, no clock.

Gradio does not publish an endpoint's concurrency, but its queue says, for each job,
whether it waits ("queued"), runs ("started") or is done ("finished"). A `Slots`
keeps a few rows of ours waiting in the server's queue (`queue_ahead`) on top of
those the server runs, so a slot that frees up never waits for our next row to
travel; how many run is whatever the server grants, observed.

Each time one of our rows starts, the number of ours running is sampled `SETTLE`
seconds later: events of different jobs reach us through different threads, and a
start is often heard a moment before the end that made room for it. A sample taken
while another row of ours waits in the queue is the server's grant (our share of
it, on a shared server); one above the learned number while none of ours waits is a
lower bound of it (when every row of ours runs, or with `queue_ahead=0`, it replaces
older samples below it).
`learned` is the lower median of the last `WINDOW` samples: it rises a few rows after the
server runs more and falls a few rows after it runs fewer. Rows in flight stay
within `learned + queue_ahead` and never above `cap` (`URL=N` or `-j`).

Unless told (`queue_ahead=None`), the rows kept waiting cover one round trip: when a row
of ours ends on the server and none of ours was waiting there (the slot idles until
our next row arrives), one more is kept waiting, up to as many as run (up to the cap
when the server has not been full for `2 * WINDOW` rows: rows that take no time never
fill it); when at least three were always left waiting over `WINDOW` ends, one fewer,
down to `DEFAULT_QUEUE_AHEAD`. (Events are heard late, so a row counted as waiting at an
end has often taken that slot already: one left over is the margin, not a surplus.)

The start is TCP's slow start: `FIRST_WINDOW` rows go before anything is learned, and
until a server first makes a row of ours wait, as many wait as run (twice what runs is
sent), so a large server fills at once. The first wait ends it: from then on at most as
many wait as run. A queue that refuses a row (its `max_size`) halves the rows kept
waiting, for good.

An endpoint without a queue (gradio 3's `/run/predict`, `queue=False` events) says
nothing while it works. There the window grows by one row per window of rows while
latency stays within `SLOWER` of the fastest seen, and halves when it rises or a row
fails transiently: additive increase, multiplicative decrease, as TCP does. A queued
endpoint whose transport reports no queue events after `SILENT_ROWS` rows is treated
the same way.

With `queue_ahead=0` nothing of ours waits on purpose: a row goes when one of ours
finishes. To find capacity, one more row goes while every row of ours runs (a
probe); once a probe had to wait, the next probe waits for `WINDOW` more rows to
finish. That is the polite setting for a server shared with other people.
"""

from __future__ import annotations

import heapq
import statistics
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from enum import Enum

__all__ = ["DEFAULT_CAP", "DEFAULT_QUEUE_AHEAD", "Learning", "Slots", "SlotsReport"]

#: rows in flight per server when neither `URL=N` nor `-j` caps them
DEFAULT_CAP = 32
#: rows of ours kept waiting in a server's queue: covers one round trip (event in, next row out)
DEFAULT_QUEUE_AHEAD = 2
#: rows in flight on a server before anything is learned of it (queue-ahead adapting): a large
#: server fills at once; on a small one the extra rows wait in its queue, as later ones would
FIRST_WINDOW = 8
#: samples the learned number is the median of
WINDOW = 8
#: seconds after a start when the running count is sampled (gradio_client hears each job's
#: events in a thread of its own that looks every 50 ms; this covers two looks)
SETTLE = 0.1
#: a sample is taken only when the running count has held this long (else looked at again later)
STEADY = 0.05
MAX_LOOKS = 4
#: latency above the fastest seen times this means a server without a queue is saturated
SLOWER = 1.5
#: finished rows without one queue event before a queued endpoint is treated as having no queue
SILENT_ROWS = 4


class Learning(Enum):
    QUEUE = "from its queue"
    LATENCY = "by latency (AIMD)"
    FIXED = "as given"


@dataclass(frozen=True)
class SlotsReport:
    """What was learned about one server, for the summary and `--json`."""

    learned: int
    peak: int
    cap: int
    queue_ahead: int
    how: Learning
    #: whether `queue_ahead` adapted to the round trip (no --queue-ahead given)
    auto: bool = False
    #: rows that ended on this server (none: nothing was observed, the figures are the start)
    rows: int = 0

    def describe(self) -> str:
        if self.how is Learning.FIXED:
            return f"{self.cap} row{'s' if self.cap != 1 else ''} at once"
        if not self.rows:
            return "no row sent here, nothing learned"
        return (
            f"learned {self.learned} slot{'s' if self.learned != 1 else ''} {self.how.value} "
            f"(peak {self.peak}, cap {self.cap}, {self.queue_ahead} queued ahead{', adapted' if self.auto else ''})"
        )

    def as_dict(self) -> dict[str, object]:
        """For `--json`: `learned` is None where no row ended, as nothing was learned there."""
        learned = self.learned if self.rows or self.how is Learning.FIXED else None
        return {"learned": learned, "peak": self.peak, "cap": self.cap, "queue_ahead": self.queue_ahead, "how": self.how.name.lower(), "rows": self.rows}


class Slots:
    """One server's concurrency: how many rows may be in flight now, and what was observed.

    Rows are identified by any hashable token (the scheduler's `Start`). Call `sent`
    when a row goes out, `queued`/`started` as the server says so, and `finished` once
    it ends; `limit()` is how many rows may be in flight after that.
    """

    def __init__(self, cap: int, *, queue_ahead: int | None = None, how: Learning = Learning.QUEUE, start: int = 1) -> None:
        """:param queue_ahead: rows of ours kept waiting in the queue; None adapts it to the
        round trip, starting at `DEFAULT_QUEUE_AHEAD`."""
        if cap < 1:
            raise ValueError("a server needs at least one slot")
        self.cap = cap
        self.auto = queue_ahead is None
        self._given_ahead = queue_ahead
        self.queue_ahead = DEFAULT_QUEUE_AHEAD if queue_ahead is None else max(0, queue_ahead)
        self._spare: deque[int] = deque(maxlen=WINDOW)  # rows of ours waiting at each end, lately
        self._ends_since_full = 0  # rows ended since a sample said the server was full
        self._been_full = False  # whether a row of ours ever waited for a slot
        self._ahead_most: int | None = None  # at most this many kept waiting: the server's queue refused more
        self.how = how
        self._start = start
        self.learned = min(cap, max(1, start))
        if self.auto and how is Learning.QUEUE:
            self.queue_ahead = max(self.queue_ahead, FIRST_WINDOW - self.learned)
        self.peak = 0  # the most learned from samples (the starting guess is no observation)
        self._samples: deque[int] = deque(maxlen=WINDOW)
        self._due: list[tuple[float, int]] = []  # a heap: when to sample the running count, looks so far
        self._changed_at = 0.0  # when the running count last changed
        self._states: dict[Hashable, str] = {}  # in flight: "sent", "queued", "running" or "ended"
        self._running = 0
        self._heard = False  # any queue event at all
        self._finished = 0
        self._queued_at: dict[Hashable, float] = {}
        self._started_at: dict[Hashable, float] = {}  # running rows: when their start was heard
        self._outwaited: set[Hashable] = set()  # queued rows that saw one of ours end
        self._service: deque[float] = deque(maxlen=WINDOW)  # how long recent rows ran on the server
        self._typical: float | None = None  # their median, kept as they come (read for every row placed)
        self._probe_waited_at: int | None = None  # queue_ahead=0: rows finished when a probe had to wait
        # latency learning
        self._window = float(self.learned)
        self._fastest: float | None = None
        self._last_cut = -1  # rows sent when the window was last halved
        self._last_refusal = -1  # rows sent when a full queue last halved the rows kept waiting
        self._sent = 0
        self._sent_at: dict[Hashable, int] = {}

    def fresh(self) -> Slots:
        """A new learner with the same settings, for another server (a cluster worker's own)."""
        return Slots(self.cap, queue_ahead=self._given_ahead, how=self.how, start=self._start)

    # --- what the scheduler asks ---

    @property
    def in_flight(self) -> int:
        return len(self._states)

    @property
    def running(self) -> int:
        return self._running

    def limit(self) -> int:
        """How many rows may be in flight on this server now."""
        if self.how is Learning.FIXED:
            return self.cap
        if self.how is Learning.LATENCY:
            return min(self.cap, max(1, int(self._window)))
        if self.queue_ahead:
            return min(self.cap, self.learned + self.queue_ahead)
        # queue_ahead=0: the learned number, plus one probe while all of ours run and none has waited
        resting = self._probe_waited_at is not None and self._finished - self._probe_waited_at < WINDOW
        probe = 1 if not resting and self._running >= self.in_flight else 0
        return min(self.cap, max(self.learned, self._running + probe))

    def free(self) -> int:
        return max(0, self.limit() - self.in_flight)

    def report(self) -> SlotsReport:
        learned = self.cap if self.how is Learning.FIXED else self.current()
        return SlotsReport(learned, max(self.peak, learned), self.cap, self.queue_ahead, self.how, self.auto and self.how is Learning.QUEUE, self._finished)

    def current(self) -> int:
        """The learned number of slots (for latency learning, the window)."""
        if self.how is Learning.LATENCY:
            return min(self.cap, max(1, int(self._window)))
        return self.learned

    def finish_in(self) -> float | None:
        """Seconds until one more row sent now would be done here, judged from the last rows that
        ran: its own run, after its share of the rows of ours that wait ahead of it. None until
        a row has run."""
        if self._typical is None:
            return None
        parallel = self._parallel()
        ahead = max(0, self.in_flight + 1 - parallel)
        return self._typical * (1 + ahead / parallel)

    def rate(self) -> float | None:
        """Rows per second this server does for us at its learned slots; None until a row has run."""
        if self._typical is None:
            return None
        return self._parallel() / max(1e-6, self._typical)

    def room(self) -> int:
        """Slots not taken by a row of ours, as learned (below zero: that many of ours wait).
        Unlike `free`, rows allowed beyond the learned slots (queue-ahead, the first window)
        do not count: a server not yet known is not taken for a large one."""
        return self._parallel() - self.in_flight

    def _parallel(self) -> int:
        return self.cap if self.how is Learning.FIXED else self.current()

    def due(self) -> float | None:
        """When the next sample of the running count is due (the scheduler's clock), if any:
        the scheduler looks then (`tick`) rather than at the next event, which on a server
        whose rows all run may be a whole row later."""
        return self._due[0][0] if self._due else None

    def tick(self, now: float) -> None:
        """Take the samples due by `now`."""
        self._settle(now)

    # --- what happens to rows (`now`: the scheduler's clock) ---

    def sent(self, token: Hashable, now: float = 0.0) -> None:
        self._settle(now)
        self._states[token] = "sent"
        self._sent += 1
        self._sent_at[token] = self._sent

    def queued(self, token: Hashable, now: float = 0.0) -> None:
        self._settle(now)
        state = self._states.get(token)
        if state is None or state == "running":
            return  # a late event: the row already ended, or a stale estimate arrived after its start
        self._heard = True
        self._states[token] = "queued"
        self._queued_at.setdefault(token, now)

    def started(self, token: Hashable, now: float = 0.0) -> None:
        self._settle(now)
        state = self._states.get(token)
        if state is None or state == "running":
            return
        self._heard = True
        self._states[token] = "running"
        self._running += 1
        self._started_at[token] = now
        queued_at = self._queued_at.pop(token, None)
        waited = token in self._outwaited or (queued_at is not None and now - queued_at >= SETTLE)
        self._outwaited.discard(token)
        if self.queue_ahead == 0 and waited:
            self._probe_waited_at = self._finished  # it had to wait: the server was full
        self._changed_at = now
        if self.how is Learning.QUEUE:
            heapq.heappush(self._due, (now + SETTLE, 0))

    def ended(self, token: Hashable, now: float = 0.0) -> None:
        """The server says the row's job is done (its result may still be on the way to us).

        A row of several requests may start again with its next one."""
        self._settle(now)
        if self._states.get(token) == "running":
            self._states[token] = "ended"
            self._ran(token, now)
            self._end_running(now)

    def _ran(self, token: Hashable, now: float) -> None:
        began = self._started_at.pop(token, None)
        if began is not None:
            self._took(now - began)

    def _took(self, seconds: float) -> None:
        self._service.append(seconds)
        self._typical = statistics.median(self._service)

    def _end_running(self, now: float) -> None:
        self._running -= 1
        self._changed_at = now
        if self.auto:
            self._adapt_ahead(now)
        # a row of ours still waiting now waited for one of ours to end: the server was full
        self._outwaited.update(t for t, s in self._states.items() if s == "queued")

    def finished(self, token: Hashable, now: float = 0.0, *, latency: float | None = None, ok: bool = True, queue_full: bool = False) -> None:
        """A row ended (`ok=False`: it failed for a reason that may be the server's load;
        `queue_full`: the server's queue refused it, so fewer rows are kept waiting there)."""
        self._settle(now)
        state = self._states.pop(token, None)
        sent_at = self._sent_at.pop(token, 0)
        self._queued_at.pop(token, None)
        if state is None:
            return
        if queue_full:
            self._refused(sent_at)
        self._finished += 1
        self._outwaited.discard(token)
        if state == "running":
            self._ran(token, now)
            self._end_running(now)  # no "finished" event was heard for it
        elif state == "sent" and ok and latency is not None:
            self._took(latency)  # nothing heard of it on the way: the round trip is all there is
        if self.how is Learning.QUEUE and not self._heard and self._finished >= SILENT_ROWS:
            self._switch_to_latency()
        elif self.how is Learning.LATENCY:
            self._adjust_window(latency, ok, sent_at)

    # --- learning ---

    def _refused(self, sent_at: int) -> None:
        """The server's queue has a size limit (`max_size`) and ours reached it: no more slow
        start, and half as many kept waiting (the row is sent again after a wait). Only rows
        sent after the last cut may cut again: a burst refused at once is one full queue."""
        self._been_full = True
        if self.auto and sent_at > self._last_refusal:
            self.queue_ahead = max(1, self.queue_ahead // 2)
            self._ahead_most = self.queue_ahead  # the round trip may want more; the queue takes no more
            self._last_refusal = self._sent

    def _settle(self, now: float) -> None:
        """Take the samples that came due before `now`: nothing changed since the last event,
        so the count is what it was then."""
        while self._due and self._due[0][0] <= now:
            due, tries = heapq.heappop(self._due)
            if due - self._changed_at < STEADY:
                # the count moved a moment ago: it may be mid-way (an end heard, the start it
                # made room for not yet); look again once it has held still
                if tries < MAX_LOOKS:
                    heapq.heappush(self._due, (self._changed_at + STEADY, tries + 1))
                continue
            # A row that has waited a while says the server was full; one just queued may be
            # on its way to a free slot (every new job hears its rank first).
            if any(due - at >= STEADY for at in self._queued_at.values()):
                self._sample(self._running)
                if self.auto and not self._been_full:
                    # The slow start ends: as many wait as run, at most, from now on.
                    self.queue_ahead = min(self.queue_ahead, max(DEFAULT_QUEUE_AHEAD, self.learned))
                self._been_full = True
            elif self._running > self.learned:
                everything_runs = self._running == self.in_flight
                if self.queue_ahead == 0 or everything_runs:
                    # Every row of ours runs (or only a probe ever waits), so this is no early
                    # start: the server runs at least this many, and older samples below that
                    # are out of date. A large server is learned in a few steps this way.
                    self._samples = deque((n for n in self._samples if n >= self._running), maxlen=WINDOW)
                self._sample(self._running)
                if self.auto and everything_runs and not self._been_full:
                    # Until the server first makes a row of ours wait, send twice what runs
                    # (TCP's slow start): a large server fills in a few steps, not one row each.
                    self.queue_ahead = max(self.queue_ahead, self.learned)  # `learned` is within the cap

    def _sample(self, running: int) -> None:
        self._samples.append(min(self.cap, max(1, running)))
        self._ends_since_full = 0
        ordered = sorted(self._samples)
        self.learned = ordered[(len(ordered) - 1) // 2]  # the lower median: an early start counts one too many
        self.peak = max(self.peak, self.learned)

    def _adapt_ahead(self, now: float) -> None:
        """One more row waiting when a slot found none of ours there; one fewer when two or
        more were always left over (`queue_ahead` that covers one round trip)."""
        waiting = sum(1 for s in self._states.values() if s == "queued")
        # a start heard a moment ago may be the one this end made room for (heard early)
        early = sum(1 for t in self._started_at.values() if now - t < STEADY)
        spare = waiting + early
        self._spare.append(spare)
        self._ends_since_full += 1
        # While the server was full lately, at most as many wait as run; a server that never
        # made one of ours wait (rows that take no time) is not the limit: more may go.
        most = max(DEFAULT_QUEUE_AHEAD, self.learned) if self._ends_since_full <= 2 * WINDOW else self.cap
        if self._ahead_most is not None:
            most = min(most, self._ahead_most)
        if spare == 0 and self.queue_ahead < most:
            self.queue_ahead += 1
            self._spare.clear()
        elif len(self._spare) == WINDOW and min(self._spare) >= 3 and self.queue_ahead > DEFAULT_QUEUE_AHEAD:
            self.queue_ahead -= 1
            self._spare.clear()

    def _switch_to_latency(self) -> None:
        self.how = Learning.LATENCY
        self._window = float(max(1, self.learned))

    def _adjust_window(self, latency: float | None, ok: bool, sent_at: int) -> None:
        # Only rows sent after the last cut may cut again: one congestion event halves once.
        slow = latency is not None and self._fastest is not None and latency > self._fastest * SLOWER
        if latency is not None and ok:
            self._fastest = latency if self._fastest is None else min(self._fastest, latency)
        if (slow or not ok) and sent_at > self._last_cut:
            self._window = max(1.0, self._window / 2)
            self._last_cut = self._sent
            return
        if ok and not slow:
            # one more row in flight per window of rows that stayed fast
            self._window = min(float(self.cap), self._window + 1 / max(1.0, self._window))
        self.peak = max(self.peak, self.current())

"""Server state as a scheduling constraint, without threads.

Some apps keep what a row needs in the server's global state rather than in the request:
GPT-SoVITS and RVC load one voice at a time, So-VITS-SVC one model. A row that needs a
state (a key such as the voice's weights) may only run on a server in that state, and
reaching it is a switch (loading weights: seconds, sometimes minutes). `StateRouter`
decides, for a server with a free slot, which ready row it takes:

* a row of the state the server is in (or a row that needs none) first;
* a server switches only once it runs nothing: no in-flight row needs the old state;
* the state a drained server switches to is chosen for affinity: its pinned states
  first, then states no other server holds, the longest queue first; a state another
  server holds is shared only when its queue is long (`rebalance_at` rows), or when
  its holder cannot take work now (resting after failures) — so each voice stays on
  one server where it can, and an idle server helps with a long queue.

The router tracks the state it *assigned* each server. Whether the server really is in
it (a restart forgets it; another client may change it) is the runner's business: it
applies the state before a row when the server is not known to hold it.

Pins (`VOICE@URL`) restrict a state to the servers named for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from ._errors import UsageError

__all__ = ["REBALANCE_AT", "Pin", "StateRouter", "parse_pin"]

#: an idle server joins another server's state when at least this many rows of it wait
REBALANCE_AT = 4


@dataclass(frozen=True)
class Pin:
    """`--pin STATE@URL`: rows needing `state` run only on `url` (and any other server pinned to it)."""

    state: str
    url: str


def parse_pin(text: str) -> Pin:
    """`VOICE@URL`; the voice ends at the first `@http` (so a URL with a login still works)."""
    state, at, rest = text.strip().partition("@http")
    url = "http" + rest
    if not at or not state.strip() or not url.startswith(("http://", "https://")):
        raise UsageError(f"--pin {text!r}: expected VOICE@URL, e.g. alice@http://127.0.0.1:9872")
    return Pin(state.strip(), url.rstrip("/") + "/")


class StateRouter:
    """Which ready row a server with a free slot takes, given the states rows need.

    Pure: it is told what starts and ends (`started`, `ended`) and asked (`choose`).
    """

    def __init__(self, servers: Sequence[str], pins: Mapping[str, Collection[str]] | None = None, *, rebalance_at: int = REBALANCE_AT) -> None:
        self.servers = list(servers)
        #: state -> the servers it may run on (absent: any)
        self.pins = {state: frozenset(urls) for state, urls in (pins or {}).items()}
        self.rebalance_at = rebalance_at
        #: the state each server was last given a row of (None: none yet)
        self.current: dict[str, str | None] = {url: None for url in self.servers}
        self.running: dict[str, int] = {url: 0 for url in self.servers}
        #: planned switches per server (the first state a server gets counts as one)
        self.switches: dict[str, int] = {url: 0 for url in self.servers}

    def allowed(self, state: str | None, url: str) -> bool:
        return state is None or state not in self.pins or url in self.pins[state]

    def choose(self, url: str, ready: Sequence[str | None], able: Collection[str] | None = None) -> int | None:
        """The position in `ready` (the states of the ready rows, in queue order) of the row
        `url` should start now, or None to leave its slot free for now.

        :param able: servers that can take work now (default: all); a state held by a
            server that cannot is free for others to take.
        """
        current = self.current[url]
        for position, state in enumerate(ready):
            if state is None or (state == current and self.allowed(state, url)):
                return position
        if self.running[url]:
            return None  # switching now would change the state under rows still running
        state = self.next_state(url, ready, self.servers if able is None else able)
        return None if state is None else list(ready).index(state)

    def next_state(self, url: str, ready: Sequence[str | None], able: Collection[str]) -> str | None:
        """The state a drained server should switch to, or None when it had better wait."""
        waiting = Counter(s for s in ready if s is not None and self.allowed(s, url))
        if not waiting:
            return None
        held = {self.current[other] for other in self.servers if other != url and other in able and self.current[other] is not None}
        pinned_here = {s for s, urls in self.pins.items() if url in urls}
        order = {state: position for position, state in enumerate(dict.fromkeys(s for s in ready if s in waiting))}

        def rank(state: str) -> tuple[bool, bool, int, int]:
            return (state in pinned_here, state not in held, waiting[state], -order[state])

        best = max(waiting, key=rank)
        if best in held and best not in pinned_here and waiting[best] < self.rebalance_at:
            return None  # its holder will get to these few rows sooner than a switch would
        return best

    def started(self, url: str, state: str | None) -> bool:
        """A row needing `state` was sent to `url`; True when that is a switch."""
        self.running[url] += 1
        if state is None or state == self.current[url]:
            return False
        self.current[url] = state
        self.switches[url] += 1
        return True

    def ended(self, url: str) -> None:
        self.running[url] -= 1

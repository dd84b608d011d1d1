"""The state one server is in while a batch runs, and the rows using it (worker threads).

The scheduler (`_states.StateRouter`) never sends a server rows of two states at once;
this gate is what makes that true on the wire whatever happens: a row waits until no
row of another state runs on its server, the first row of a state applies it (while the
others wait), and a server that lost its session (restarted) has its state forgotten,
so its next row applies it again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ._errors import CallCancelled

__all__ = ["StateGate"]


class StateGate:
    """One server's state as far as this batch knows (None: unknown), and the rows using it."""

    def __init__(self, current: str | None = None) -> None:
        self._changed = threading.Condition()
        #: the state the server is in, as far as this batch knows (None: unknown)
        self.current = current
        self.users = 0
        #: switches made, with the seconds each took
        self.switches: list[float] = []

    @contextmanager
    def holding(
        self,
        key: str,
        apply: Callable[[], None],
        cancelled: threading.Event,
        read: Callable[[], str | None] | None = None,
    ) -> Iterator[float | None]:
        """Run the body with the server in state `key`; yields the seconds a switch took, or
        None when the server already was in it.

        :param apply: puts the server in `key` (called with no other row of this server running).
        :param read: reads the server's state back (None: the app cannot tell); asked before
            each group of rows, so a state someone else changed is applied again.
        """
        with self._changed:
            while self.users and self.current != key:
                if cancelled.is_set():
                    raise CallCancelled("cancelled while waiting for the server's voice to change")
                self._changed.wait(0.2)
            if self.current == key and not self.users and read is not None and read() != key:
                self.current = None  # someone switched it behind our back
            took = None
            if self.current != key:
                self.current = None  # until the switch is known to have worked
                began = time.monotonic()
                apply()
                took = time.monotonic() - began
                self.current = key
                self.switches.append(took)
            self.users += 1
        try:
            yield took
        finally:
            with self._changed:
                self.users -= 1
                self._changed.notify_all()

    def assume(self, key: str | None) -> None:
        """The server was just set up into `key` (None: nothing known), with no row running there."""
        with self._changed:
            if not self.users:
                self.current = key

    def forget(self) -> None:
        """The server lost its session (restarted): its state is unknown until applied again."""
        with self._changed:
            self.current = None

"""`_gate.StateGate`: what makes "never a row of one voice while another is loaded" true on the
wire, whatever the scheduler does — with real threads, since threads are what it is about."""

from __future__ import annotations

import threading
import time

import pytest

from gbatch._errors import CallCancelled
from gbatch._gate import StateGate


def test_the_first_row_of_a_state_applies_it_and_the_next_do_not() -> None:
    gate, applied = StateGate(), []
    never = threading.Event()
    with gate.holding("alice", lambda: applied.append("alice"), never) as took:
        assert took is not None
    with gate.holding("alice", lambda: applied.append("alice"), never) as took:
        assert took is None
    assert applied == ["alice"]
    assert len(gate.switches) == 1


def test_a_switch_waits_until_rows_of_the_old_state_are_done() -> None:
    gate, events = StateGate(), []
    never = threading.Event()
    inside = threading.Event()

    def alice_row() -> None:
        with gate.holding("alice", lambda: events.append("load alice"), never):
            inside.set()
            time.sleep(0.3)
            events.append("alice done")

    worker = threading.Thread(target=alice_row)
    worker.start()
    inside.wait(5)
    with gate.holding("bob", lambda: events.append("load bob"), never):
        events.append("bob row")
    worker.join(5)
    assert events == ["load alice", "alice done", "load bob", "bob row"]


def test_a_forgotten_state_is_applied_again_and_an_assumed_one_is_not() -> None:
    gate, applied = StateGate("alice"), []
    never = threading.Event()
    with gate.holding("alice", lambda: applied.append("alice"), never):
        pass
    assert applied == []  # setup left the server in it
    gate.forget()  # the server restarted
    with gate.holding("alice", lambda: applied.append("alice"), never):
        pass
    assert applied == ["alice"]
    gate.assume("bob")
    with gate.holding("bob", lambda: applied.append("bob"), never):
        pass
    assert applied == ["alice"]


def test_a_state_read_back_as_changed_is_applied_again() -> None:
    gate, applied = StateGate(), []
    never = threading.Event()
    on_server = {"now": "alice"}
    with gate.holding("alice", lambda: applied.append("alice"), never, read=lambda: on_server["now"]):
        pass
    on_server["now"] = "carol"  # someone in the browser switched it
    with gate.holding("alice", lambda: applied.append("alice"), never, read=lambda: on_server["now"]):
        pass
    assert applied == ["alice", "alice"]


def test_a_failed_switch_leaves_the_state_unknown() -> None:
    gate = StateGate("alice")
    never = threading.Event()

    def broken() -> None:
        raise RuntimeError("weights missing")

    with pytest.raises(RuntimeError), gate.holding("bob", broken, never):
        pass
    assert gate.current is None
    assert gate.users == 0


def test_a_cancelled_row_stops_waiting_for_a_switch() -> None:
    gate = StateGate()
    never, cancelled = threading.Event(), threading.Event()
    inside, release = threading.Event(), threading.Event()

    def alice_row() -> None:
        with gate.holding("alice", lambda: None, never):
            inside.set()
            release.wait(5)

    worker = threading.Thread(target=alice_row)
    worker.start()
    inside.wait(5)
    cancelled.set()
    with pytest.raises(CallCancelled), gate.holding("bob", lambda: None, cancelled):
        pass
    release.set()
    worker.join(5)

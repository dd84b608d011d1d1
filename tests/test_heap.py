"""The collector is paused while a batch makes its rows, and what they made is set aside
from it until the batch ends (pure: no server)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gbatch._heap import LongLived


@pytest.fixture(autouse=True)
def collector() -> Iterator[None]:
    """Each test starts with the collector on and nothing frozen, and leaves it so."""
    gc.unfreeze()
    gc.enable()
    yield
    gc.unfreeze()
    gc.enable()


def test_the_collector_is_paused_while_rows_are_made_and_on_again_after() -> None:
    heap = LongLived()
    with heap.making():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_what_was_made_is_frozen_until_the_batch_ends() -> None:
    heap = LongLived()
    with heap.making():
        rows = [{"id": i} for i in range(1000)]
    assert gc.get_freeze_count() >= len(rows)
    heap.release()
    assert gc.get_freeze_count() == 0


def test_a_failing_step_still_turns_the_collector_back_on() -> None:
    heap = LongLived()
    with pytest.raises(ValueError), heap.making():
        raise ValueError("bad row")
    assert gc.isenabled()
    heap.release()
    assert gc.get_freeze_count() == 0


def test_a_collector_paused_by_someone_else_stays_paused() -> None:
    gc.disable()
    heap = LongLived()
    with heap.making():
        pass
    assert not gc.isenabled()
    heap.release()


def test_objects_the_process_froze_itself_stay_frozen() -> None:
    kept = [object() for _ in range(100)]
    gc.freeze()
    frozen = gc.get_freeze_count()
    heap = LongLived()
    with heap.making():
        made = [object() for _ in range(100)]
    heap.release()
    assert gc.get_freeze_count() == frozen  # nothing of ours frozen, nothing of theirs thawed
    assert kept and made


def test_the_end_of_the_batch_hands_back_what_was_set_aside_even_when_it_failed() -> None:
    with pytest.raises(ValueError), LongLived() as heap:
        with heap.making():
            pass
        assert gc.get_freeze_count() > 0
        raise ValueError("no server")
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()

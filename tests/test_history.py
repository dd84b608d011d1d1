"""The history of a batch: each row's latest record, kept packed while the batch runs."""

from __future__ import annotations

import tracemalloc
from typing import Any

from gbatch._history import History


def record(row_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": row_id,
        "status": "ok",
        "outputs": [f"{row_id}.wav"],
        "values": {"duration": 3.25, "sample_rate": 24000},
        "generated": {"seed": 1234567},
        "inputs": {"text": "The lighthouse stood alone at the end of a long narrow cape.", "speed": 1.0, "speaker": None},
        "takes": [{"take": 1, "outputs": [f"{row_id}.wav"], "checks": [{"check": "clipping", "figure": 0.0, "flagged": False}]}],
        **extra,
    }


def test_a_stored_record_reads_back_as_the_journal_would_give_it() -> None:
    history = History()
    history["r1"] = record("r1", path=("a", "b"), when=object)
    back = history["r1"]
    assert back == {**record("r1"), "path": ["a", "b"], "when": str(object)}  # JSON, default=str, as journaled


def test_each_read_is_a_new_dict_so_a_change_must_be_stored_again() -> None:
    history = History()
    history["r1"] = record("r1")
    history["r1"]["status"] = "failed"
    assert history["r1"]["status"] == "ok"
    history["r1"] = {**history["r1"], "status": "failed"}
    assert history["r1"]["status"] == "failed"


def test_ids_keep_the_order_they_came_in_like_a_dict() -> None:
    history = History({"a": record("a"), "b": record("b")})
    history["c"] = record("c")
    history["a"] = record("a", status="failed")  # stored again: keeps its place
    assert list(history) == ["a", "b", "c"] and len(history) == 3 and "b" in history and "z" not in history
    assert history.get("z") is None and history["a"]["status"] == "failed"
    del history["b"]
    assert list(history.keys()) == ["a", "c"]


def test_records_read_from_the_journal_are_kept_as_read_and_adopted_unpacked() -> None:
    read = record("r1")
    history = History({"r1": read})
    assert history["r1"] is read
    late = record("r2")
    history.adopt({"r2": late})
    assert history["r2"] is late


def test_a_stored_record_takes_a_fraction_of_the_memory_of_its_dict() -> None:
    count = 2000
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        dicts = {f"r{i}": record(f"r{i}") for i in range(count)}
        as_dicts = tracemalloc.get_traced_memory()[0] - base
        history = History()
        for row_id in list(dicts):
            history[row_id] = dicts.pop(row_id)
        packed = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    print(f"per row: {as_dicts / count:.0f} B as dicts, {packed / count:.0f} B packed")
    assert packed * 4 < as_dicts

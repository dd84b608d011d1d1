"""Each row's latest record, as the journal has it, kept small while the batch runs.

A finished row's record is a dict of twenty-odd keys: 2 to 11 KB in memory, about five
times the size of its journal line (measured: 11 KB for a 2.3 KB CosyVoice line). A batch keeps every row's record until it ends (results.csv, the
review page and the summary show them all), so a long batch would grow by that much per row.
Records written during the run are kept as their JSON text, compressed, and decoded again
when read; records read from an earlier run's journal stay as they were read.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

__all__ = ["History"]


class History(MutableMapping[str, dict[str, Any]]):
    """Row id -> its latest record. Reading a record gives a new dict each time: change a
    record by storing it again (`history[id] = {**record, ...}`), as the journal is written."""

    def __init__(self, records: Mapping[str, dict[str, Any]] | None = None) -> None:
        # One dict, so ids keep the order they came in, as a plain dict's would.
        self._records: dict[str, dict[str, Any] | bytes] = dict(records or {})

    def __getitem__(self, row_id: str) -> dict[str, Any]:
        kept = self._records[row_id]
        if isinstance(kept, bytes):
            decoded: dict[str, Any] = json.loads(zlib.decompress(kept))
            return decoded
        return kept

    def __setitem__(self, row_id: str, record: Mapping[str, Any]) -> None:
        # As the journal writes it (default=str), so a record reads back as a resumed run reads it.
        text = json.dumps(record, ensure_ascii=False, default=str, separators=(",", ":"))
        self._records[row_id] = zlib.compress(text.encode("utf-8"), 1)

    def adopt(self, records: Mapping[str, dict[str, Any]]) -> None:
        """Take `records` as read from the journal, unpacked (the batch has ended: no need to pack)."""
        self._records.update(records)

    def __delitem__(self, row_id: str) -> None:
        del self._records[row_id]

    def __contains__(self, row_id: object) -> bool:
        return row_id in self._records

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

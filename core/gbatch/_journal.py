"""The journal: one JSON line per finished row, flushed and fsynced as it happens.

It is what makes a re-run continue where the last one stopped: a row whose
last record succeeded with the same input hash (and whose files are still
there) is skipped. `results.csv` is rebuilt from it at the end of each run.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ._columns import File
from ._errors import JournalWriteError
from ._outputs import atomic_write

__all__ = ["Journal", "JournalWriteError", "input_hash"]

JOURNAL_NAME = "gbatch-journal.jsonl"
RESULTS_NAME = "results.csv"


CLAIMS_NAME = ".gbatch-claims"


def _cannot_write(path: Path, exc: OSError) -> JournalWriteError:
    reason = exc.strerror or str(exc)
    return JournalWriteError(
        f"cannot write {path}: {reason}. The batch stopped; rows finished so far are kept. "
        "Make room (or fix the folder) and run the same command again to continue."
    )


class _AppendOnly:
    """A file opened for appending on first write; each line goes straight to the OS (not thread-safe).

    Unbuffered on purpose: a write the disk refuses (ENOSPC) leaves nothing queued in
    Python to be flushed later onto the next line; the file is reopened for the next
    write, and a line the refusal cut short is ended first.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def write(self, line: str, *, fsync: bool) -> None:
        data = line.encode("utf-8")
        try:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                repair = _cut_short(self.path)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
                if repair:
                    data = b"\n" + data  # do not glue this line onto one a crash cut short
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            if fsync:
                os.fsync(self._fd)
        except OSError as exc:
            self.close()
            raise _cannot_write(self.path, exc) from exc

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)


class Journal:
    """Append-only JSONL records, one per finished row; the last record of an id is its current state.

    Beside it, `.gbatch-claims` gets a row's output name before its first request,
    so a file written just before a crash (before its journal line) is still known
    as gbatch's own on the next run.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / JOURNAL_NAME
        self.claims_path = folder / CLAIMS_NAME
        self._lock = threading.Lock()
        self._records = _AppendOnly(self.path)
        self._claims = _AppendOnly(self.claims_path)
        #: output names claimed by rows of earlier runs (filled by `read`)
        self.claimed: set[str] = set()

    def read(self) -> dict[str, dict[str, Any]]:
        last: dict[str, dict[str, Any]] = {}
        if self.claims_path.exists():
            # errors="replace": a name cut inside a UTF-8 character by a crash must not stop the run
            self.claimed.update(self.claims_path.read_text(encoding="utf-8", errors="replace").splitlines())
        if not self.path.exists():
            return last
        # errors="replace": a last line cut inside a UTF-8 character then fails json.loads and is skipped
        with self.path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash: that row simply runs again
                if isinstance(record, dict) and "id" in record:
                    last[str(record["id"])] = record
        return last

    def claim(self, name: str) -> None:
        """Note an output name before anything is written under it (thread-safe).

        Written, not fsynced: it must outlive a crash of this process, which the OS
        buffers do; a power cut would only make the next run ask for --overwrite.
        Raises `JournalWriteError` when the disk refuses it.
        """
        with self._lock:
            self._claims.write(name + "\n", fsync=False)

    def owned_files(self, records: Iterable[Mapping[str, Any]]) -> set[Path]:
        folder = self.path.parent
        # A row's kept takes (`<name>.take<N>.*`) are as much its files as its output.
        names = [name for r in records for name in [*(r.get("outputs") or []), *(o for t in r.get("takes") or [] for o in t.get("outputs") or [])]]
        return {(folder / name).resolve() for name in names}

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one record, fsynced. Raises `JournalWriteError` when the disk refuses it."""
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self._records.write(line, fsync=True)

    def close(self) -> None:
        with self._lock:
            self._records.close()
            self._claims.close()


def _cut_short(path: Path) -> bool:
    """Whether `path` ends without a newline (its last line was cut short by a crash)."""
    try:
        with path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) != b"\n"
    except OSError:  # missing or empty
        return False


_file_hashes: dict[tuple[str, int, int], str] = {}


def _file_digest(file: File) -> str:
    if file.is_url:
        return file.source
    stat = os.stat(file.source)
    key = (file.source, stat.st_size, stat.st_mtime_ns)
    if key not in _file_hashes:
        digest = hashlib.sha256()
        with open(file.source, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _file_hashes[key] = "sha256:" + digest.hexdigest()
    return _file_hashes[key]


_SCALARS = frozenset({str, int, float, bool, type(None)})


def input_hash(kwargs: Mapping[str, Any], generated: Mapping[str, Any], fingerprint: str) -> str:
    """A stable hash of what a row sends (file contents included), minus values gbatch generated."""

    def plain(value: Any) -> Any:
        if type(value) in _SCALARS:
            return value  # most cells: skip the checks below (Mapping's is an ABC check, slow per cell)
        if isinstance(value, File):
            return {"file": _file_digest(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        return value

    body = {k: plain(v) for k, v in sorted(kwargs.items()) if k not in generated}
    text = json.dumps([body, fingerprint], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


FIXED = ["id", "status", "attempts", "server", "seconds", "outputs", "error", "warnings"]


CHECK_COLUMNS = ("score", "transcript", "best_take", "takes")


def write_results(folder: Path, rows: Sequence[Mapping[str, Any]], task_columns: Sequence[str] = ()) -> Path:
    """`results.csv`: every row of the task file, usable on its own in a spreadsheet.

    Per row: the id, the task file's own columns (`row`), the status, attempts,
    server, seconds, output files, error and warnings, then the values gbatch
    generated (`gen.seed`) and those the endpoint returned (`out.<name>`), prefixed
    so they cannot collide with each other or with the task's columns; when takes
    were checked, the kept take's score and transcript and the number of takes
    (`check.score`, `check.transcript`, `check.best_take`, `check.takes`). Cells a
    spreadsheet would run as a formula are neutralised (OWASP's CSV-injection advice).
    """
    own = [c for c in task_columns if c.strip().casefold() != "id"]
    taken = {c.casefold() for c in FIXED}
    shown_own = [f"in.{c}" if c.casefold() in taken else c for c in own]
    generated = _keys(rows, "generated")
    returned = _keys(rows, "values")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    checked = any(r.get("best_take") for r in rows)
    check_columns = CHECK_COLUMNS if checked else ()
    writer.writerow(["id", *shown_own, *FIXED[1:], *(f"gen.{k}" for k in generated), *(f"out.{k}" for k in returned), *(f"check.{k}" for k in check_columns)])
    for row in rows:
        cells = row.get("row") or {}
        made = row.get("generated") or {}
        values = row.get("values") or {}
        line = [
            row.get("id"),
            *(cells.get(c) for c in own),
            row.get("status"),
            row.get("attempts", ""),
            row.get("backend", ""),
            row.get("duration", ""),
            ";".join(row.get("outputs") or []),
            row.get("error") or "",
            " | ".join(row.get("warnings") or []),
            *(made.get(k) for k in generated),
            *(values.get(k) for k in returned),
            *(len(row.get("takes") or []) if k == "takes" else row.get(k) for k in check_columns),
        ]
        writer.writerow([_safe(_cell(v)) for v in line])
    try:
        return atomic_write(folder / RESULTS_NAME, buffer.getvalue().encode("utf-8-sig"))
    except OSError as exc:
        raise _cannot_write(folder / RESULTS_NAME, exc) from exc


def _keys(rows: Sequence[Mapping[str, Any]], field: str) -> list[str]:
    keys: list[str] = []
    for row in rows:
        for key in row.get(field) or {}:
            if key not in keys:
                keys.append(key)
    return keys


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _safe(text: str) -> str:
    """A cell a spreadsheet shows as text: a leading = + - @ tab or CR gets a quote in front,
    except in plain numbers (-3, +1.5), which no spreadsheet runs."""
    if text.startswith(_FORMULA) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text

"""Rows without a task file: `--each COLUMN=SOURCE`, in the spirit of GNU parallel's input sources.

A SOURCE is a glob of files (`faces/*.png`, sorted), a `.txt` file (one value per
non-empty line), or a list `a;b;c`. Several `--each` give the cross product; with a
task file, each of its rows is crossed with them. Ids come from the values — a
file's stem, a line's number, a list item's position and text — joined with the
row id by `-`, so they stay the same from one run to the next and resume works.
"""

from __future__ import annotations

import dataclasses
import glob
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._errors import UsageError
from ._outputs import sanitize
from ._tasks import TaskFile, TaskRow

__all__ = ["EachSource", "cross", "parse_each"]

_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class EachSource:
    """One `--each`: a column and its values, each with the id part it gives a row."""

    column: str
    values: tuple[tuple[str, str], ...]  # (id part, value)


def parse_each(spec: str, cwd: Path | None = None) -> EachSource:
    """`COLUMN=SOURCE` as given on the command line."""
    column, sep, source = spec.partition("=")
    column, source = column.strip(), source.strip()
    if not sep or not column or not source:
        raise UsageError(f"--each {spec!r}: expected COLUMN=SOURCE (a glob like faces/*.png, a .txt file, or a;b;c)")
    base = cwd or Path.cwd()
    if _GLOB.search(source):
        pattern = source if Path(source).is_absolute() else str(base / source)
        files = sorted(p for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
        if not files:
            raise UsageError(f"--each {column}={source}: no file matches")
        return EachSource(column, _unique((Path(f).stem, str(Path(f).resolve())) for f in files))
    if source.lower().endswith(".txt") and ";" not in source:
        path = Path(source) if Path(source).is_absolute() else base / source
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except OSError as exc:
            raise UsageError(f"--each {column}={source}: cannot read it ({exc.strerror or exc})") from None
        except UnicodeDecodeError:
            raise UsageError(f"--each {column}={source}: not UTF-8 text") from None
        values = [(str(n), line) for n, line in enumerate(lines, start=1) if line.strip()]
        if not values:
            raise UsageError(f"--each {column}={source}: the file has no values")
        return EachSource(column, tuple(values))
    items = [part.strip() for part in source.split(";") if part.strip()]
    if not items:
        raise UsageError(f"--each {column}={source}: no values")
    return EachSource(column, _unique((_short(item), item) for item in items))


def _short(value: str) -> str:
    """An id part for a list item: its text made file-name safe and kept short."""
    return sanitize(value)[:40] or "value"


def _unique(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    seen: dict[str, int] = {}
    result = []
    for part, value in pairs:
        count = seen.get(part.casefold(), 0) + 1
        seen[part.casefold()] = count
        result.append((part if count == 1 else f"{part}_{count}", value))
    return tuple(result)


def cross(task: TaskFile | None, sources: Sequence[EachSource], cwd: Path | None = None) -> TaskFile:
    """The rows: the task file's rows (or one empty row) crossed with every source."""
    if not sources:
        if task is None:
            raise UsageError("Give a task file, or --each COLUMN=SOURCE to make rows from files or values")
        return task
    names = [s.column for s in sources]
    base_rows = task.rows if task is not None else [TaskRow("", 0, {})]
    columns = [*(task.columns if task is not None else []), *(n for n in names if task is None or n not in task.columns)]
    rows: list[TaskRow] = []
    for number, combination in enumerate(itertools.product(base_rows, *(s.values for s in sources)), start=1):
        row: TaskRow = combination[0]  # type: ignore[assignment]
        picked: list[tuple[str, str]] = list(combination[1:])  # type: ignore[arg-type]
        parts = [row.id] if task is not None else []
        parts.extend(part for part, _ in picked)
        values = {**row.values, **{name: value for name, (_, value) in zip(names, picked, strict=True)}}
        line = row.line if task is not None else number
        rows.append(TaskRow("-".join(parts), line, values))
    if task is not None:
        return dataclasses.replace(task, columns=columns, rows=rows)
    where = (cwd or Path.cwd()) / "--each"
    return TaskFile(path=where, format="each", encoding=None, columns=columns, rows=rows)

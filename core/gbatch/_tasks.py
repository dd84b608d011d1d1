"""Reading task files: CSV, TSV, JSONL, plain text and xlsx, into rows with ids.

Every problem found in a file is collected and raised at once as a
`ValidationError`, so a user fixes the whole file in one go.

Cell values are kept as written (not stripped): leading and trailing spaces
may matter to the text being sent. Only header cells, ids and plain-text
lines are stripped.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from ._columns import normalize_key
from ._errors import Problem, ValidationError

__all__ = ["TaskFile", "TaskRow", "read_tasks"]

_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".txt": "txt",
    ".xlsx": "xlsx",
}
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

_Entry = tuple[int, dict[str, Any]]  # (line, values) of a row before it gets its id


@dataclass(frozen=True, slots=True)
class TaskRow:
    """One task: its id, the line where it starts, and its values by column name."""

    id: str
    line: int
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TaskFile:
    """A task file that was read without problems."""

    path: Path
    format: str
    encoding: str | None
    columns: list[str]
    rows: list[TaskRow]


def read_tasks(path: str | Path, *, encoding: str | None = None, text_column: str = "text") -> TaskFile:
    """Read a task file; raise `ValidationError` listing every problem found.

    The format comes from the extension. Text files are decoded with
    `encoding` if given, else detected (BOM, then UTF-8, then GB18030);
    `encoding` is ignored for xlsx. `text_column` names the one column of a .txt file.
    Rows get their id from an `id` column, else their 1-based data row number.
    """
    file = str(path)
    data = _read_bytes(Path(path), file)
    suffix = Path(path).suffix.lower()
    fmt = _FORMATS.get(suffix)
    if fmt is None:
        known = ", ".join(_FORMATS)
        message = f"unsupported file type {suffix or '(no extension)'!r}; use one of {known}"
        raise ValidationError([Problem(file, None, None, message)])

    problems: list[Problem] = []
    used: str | None = None
    if fmt == "xlsx":
        columns, entries = _table(_xlsx_records(data, file), file, problems)
    else:
        text, used = _decode(data, encoding, file)
        if fmt == "jsonl":
            columns, entries = _jsonl(text, file, problems)
        elif fmt == "txt":
            columns = [text_column]
            entries = [
                (n, {text_column: s}) for n, line in enumerate(text.split("\n"), 1) if (s := line.strip())
            ]
        else:
            records = _csv_records(text, "," if fmt == "csv" else "\t", file, problems)
            columns, entries = _table(records, file, problems)

    rows = _with_ids(entries, columns, file, problems)
    if problems:
        problems.sort(key=lambda p: p.row or 0)  # stable: same-line problems keep their order
        raise ValidationError(problems)
    return TaskFile(Path(path), fmt, used, columns, rows)


def _read_bytes(path: Path, file: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        message = "no such file"
    except IsADirectoryError:
        message = "is a directory, not a task file"
    except OSError as e:
        message = f"cannot read the file: {e.strerror or e}"
    raise ValidationError([Problem(file, None, None, message)])


def _decode(data: bytes, encoding: str | None, file: str) -> tuple[str, str]:
    if encoding is not None:
        try:
            name = codecs.lookup(encoding).name
        except LookupError:
            raise ValidationError([Problem(file, None, None, f"unknown encoding {encoding!r}")]) from None
        return _decode_as(data, name, file), name
    for bom, name in _BOMS:
        if data.startswith(bom):
            return _decode_as(data, name, file), name
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as e:
        first_bad = e.start
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        pass
    message = (
        "the file is neither UTF-8 nor GB18030 text (its first non-UTF-8 byte is on this line);"
        " pass --encoding with the encoding it was saved in"
    )
    raise ValidationError([Problem(file, _line_at(data, first_bad, "utf-8"), None, message)])


def _decode_as(data: bytes, name: str, file: str) -> str:
    try:
        text = data.decode(name)
    except LookupError:  # a codec that exists but is not a text encoding, e.g. "base64"
        raise ValidationError([Problem(file, None, None, f"unknown encoding {name!r}")]) from None
    except UnicodeDecodeError as e:
        message = f"cannot be decoded as {name}: byte 0x{data[e.start]:02x} ({e.reason})"
        raise ValidationError([Problem(file, _line_at(data, e.start, name), None, message)]) from None
    return text.removeprefix("\ufeff")  # a BOM left by a forced encoding such as "utf-8"


def _line_at(data: bytes, offset: int, encoding: str) -> int:
    return data[:offset].decode(encoding, errors="replace").count("\n") + 1


def _csv_records(
    text: str, delimiter: str, file: str, problems: list[Problem]
) -> Iterator[tuple[int, list[str]]]:
    # strict=True: a field that opens a quote and has text after the closing one
    # (`"Hi," she said`) is reported instead of silently losing its quotes.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            problems.append(Problem(file, start, None, _csv_message(str(e), delimiter)))
        else:
            yield start, cells
        start = reader.line_num + 1


def _csv_message(error: str, delimiter: str) -> str:
    if "unexpected end of data" in error:
        return "a quoted field that starts in this row is never closed"
    if "field larger than field limit" in error:
        limit = csv.field_size_limit()
        return f"a field in this row is longer than {limit:,} characters (is a quote never closed?)"
    if "expected after" in error:
        shown = "tab" if delimiter == "\t" else repr(delimiter)
        return (
            f"text after a closing quote (expected {shown}); quote the whole field"
            ' and double the quotes inside it ("")'
        )
    return f"cannot parse the row: {error}"


def _xlsx_records(data: bytes, file: str) -> list[tuple[int, list[str]]]:
    try:
        import openpyxl
    except ImportError:
        message = "reading .xlsx files needs openpyxl: pip install 'gbatch[xlsx]'"
        raise ValidationError([Problem(file, None, None, message)]) from None
    with warnings.catch_warnings():
        # openpyxl warns about styles and extensions it ignores; none of it matters for values.
        warnings.simplefilter("ignore")
        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as e:  # damaged or non-xlsx files raise zipfile, KeyError, ValueError, ...
            message = f"not a readable .xlsx workbook: {e}"
            raise ValidationError([Problem(file, None, None, message)]) from None
        try:
            sheet = book.active
            if sheet is None or not hasattr(sheet, "iter_rows"):
                raise ValidationError([Problem(file, None, None, "the first sheet is not a worksheet")])
            # Some writers store a wrong sheet size, which would cut rows off.
            sheet.reset_dimensions()
            return [
                (n, [_cell_text(v) for v in row])
                for n, row in enumerate(sheet.iter_rows(values_only=True), 1)
            ]
        finally:
            book.close()


def _cell_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _table(
    records: Iterable[tuple[int, list[str]]], file: str, problems: list[Problem]
) -> tuple[list[str], list[_Entry]]:
    """Header and rows of a CSV/TSV/xlsx table: blank rows skipped, short rows padded."""
    records = iter(records)
    first = next(((n, cells) for n, cells in records if "".join(cells).strip()), None)
    if first is None:
        problems.append(Problem(file, None, None, "the file is empty; its first row must name the columns"))
        return [], []
    header_line, header = first
    columns = [c.strip() for c in header]
    while columns and not columns[-1]:
        columns.pop()  # spreadsheets often export empty trailing header cells
    seen: dict[str, int] = {}
    for i, name in enumerate(columns, 1):
        if not name:
            problems.append(Problem(file, header_line, f"#{i}", "empty column name"))
        elif (same := seen.setdefault(normalize_key(name), i)) != i:
            # names are matched ignoring case, spaces, '-' and '_', so these would clash
            message = f"duplicate column name; column #{same} is {columns[same - 1]!r}"
            problems.append(Problem(file, header_line, name, message))

    width = len(columns)
    entries: list[_Entry] = []
    for line, cells in records:
        if not "".join(cells).strip():
            continue
        if len(cells) > width:
            used = max(i for i, c in enumerate(cells, 1) if c.strip())
            if used > width:
                message = f"row has {used} cells but the header has {width}"
                problems.append(Problem(file, line, None, message))
            cells = cells[:width]
        elif len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        entries.append((line, dict(zip(columns, cells, strict=True))))
    return columns, entries


def _jsonl(text: str, file: str, problems: list[Problem]) -> tuple[list[str], list[_Entry]]:
    columns: dict[str, None] = {}  # an ordered set: keys in first-seen order
    folded: dict[str, str] = {}
    entries: list[_Entry] = []
    # Split on "\n" only: JSON strings may hold raw U+2028 etc., which splitlines() breaks on.
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(Problem(file, n, None, f"not a JSON object: {e.msg} (column {e.colno})"))
            continue
        if not isinstance(obj, dict):
            problems.append(Problem(file, n, None, f"not a JSON object: found {_json_type(obj)}"))
            continue
        for key in obj:
            if key not in columns:
                columns[key] = None
                other = folded.setdefault(normalize_key(key), key)
                if other != key:
                    message = f"key clashes with {other!r} (names are matched ignoring case, spaces, - and _)"
                    problems.append(Problem(file, n, key, message))
        entries.append((n, obj))
    return list(columns), entries


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _with_ids(entries: list[_Entry], columns: list[str], file: str, problems: list[Problem]) -> list[TaskRow]:
    id_column = next((c for c in columns if normalize_key(c) == "id"), None)
    if id_column is None:
        return [TaskRow(str(i), line, values) for i, (line, values) in enumerate(entries, 1)]
    rows: list[TaskRow] = []
    first_seen: dict[str, int] = {}
    for line, values in entries:
        if id_column not in values:  # only a JSONL row can lack a column
            problems.append(Problem(file, line, id_column, "missing id"))
            continue
        raw = values[id_column]
        if isinstance(raw, str):
            row_id = raw.strip()
        elif raw is None:
            row_id = ""
        elif isinstance(raw, int) and not isinstance(raw, bool):  # JSONL ids may be numbers
            row_id = str(raw)
        else:
            shown = json.dumps(raw, ensure_ascii=False)
            message = f"id must be a string or an integer, not {shown[:40]}"
            problems.append(Problem(file, line, id_column, message))
            continue
        if not row_id:
            problems.append(Problem(file, line, id_column, "empty id"))
        elif (first := first_seen.setdefault(row_id, line)) != line:
            message = f"duplicate id {row_id!r} (first used on row {first})"
            problems.append(Problem(file, line, id_column, message))
        rows.append(TaskRow(row_id, line, values))
    return rows

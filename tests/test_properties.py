"""Properties that must hold for any input: task readers, cell conversion, output names.

Settings stay modest (200 examples, no deadline, derandomised, no example
database) so the suite is fast and repeatable on a small CI machine.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gbatch import Column
from gbatch._columns import KINDS, normalize_key
from gbatch._outputs import MAX_NAME, NameTemplate, sanitize
from gbatch._tasks import read_tasks

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True, database=None)

# Any text a cell may hold, except what is refused on purpose: NUL (not text),
# a byte-order mark (marks joined files) and ESC (ISO-2022 escapes).
cell_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00\ufeff\x1b"), max_size=20)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("properties")


# --- readers -----------------------------------------------------------------------


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    width = draw(st.integers(1, 4))
    rows = draw(st.lists(st.lists(cell_text, min_size=width, max_size=width), max_size=8))
    return [f"c{i}" for i in range(width)], rows


@PROPERTY
@given(
    table=tables(),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    # With lines ending in a bare LF the writer leaves a lone CR in a cell unquoted, which
    # no reader can tell from a line end; such files are written with every cell quoted.
    style=st.sampled_from([("\r\n", False), ("\r\n", True), ("\n", True)]),
    bom=st.booleans(),
)
def test_csv_round_trip(
    folder: Path, table: tuple[list[str], list[list[str]]], delimiter: str, style: tuple[str, bool], bom: bool
) -> None:
    header, rows = table
    buffer = io.StringIO()
    newline, quote_all = style
    writer = csv.writer(
        buffer, delimiter=delimiter, lineterminator=newline, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
    )
    writer.writerow(header)
    writer.writerows(rows)
    path = folder / "round.csv"
    path.write_bytes((("\ufeff" if bom else "") + buffer.getvalue()).encode())
    # One column has no delimiter to detect; the caller names it (--delimiter).
    tasks = read_tasks(path, delimiter=delimiter if len(header) == 1 else None)
    kept = [row for row in rows if "".join(row).strip()]  # blank rows are skipped
    assert tasks.columns == header
    assert [r.values for r in tasks.rows] == [dict(zip(header, row, strict=True)) for row in kept]
    assert [r.id for r in tasks.rows] == [str(i) for i in range(1, len(kept) + 1)]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
json_keys = st.text(min_size=1, max_size=8).filter(lambda k: normalize_key(k) != "id")


@PROPERTY
@given(objects=st.lists(st.dictionaries(json_keys, json_values, max_size=4), max_size=6))
def test_jsonl_round_trip(folder: Path, objects: list[dict[str, Any]]) -> None:
    keys = list(dict.fromkeys(k for obj in objects for k in obj))
    if len({normalize_key(k) for k in keys}) < len(keys):
        return  # clashing keys are a reported problem, not a round trip
    path = folder / "round.jsonl"
    path.write_text("".join(json.dumps(obj, ensure_ascii=False) + "\n" for obj in objects), encoding="utf-8")
    tasks = read_tasks(path)
    assert tasks.columns == keys
    assert [r.values for r in tasks.rows] == objects


# --- cell conversion -------------------------------------------------------------------

raw_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # nan and infinities included
    st.text(),
    st.sampled_from(["nan", "inf", "-0", "1e400", "1_000", " 7 ", "[1, 2]", '{"a": 1}', "yes", "是", "a;b|c"]),
    st.lists(st.one_of(st.text(max_size=5), st.integers()), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
columns = st.builds(
    Column,
    name=st.just("c"),
    kind=st.sampled_from(KINDS),
    choices=st.none() | st.just(("a", "B", 1, 2.5, True)),
    minimum=st.none() | st.floats(-10, 10),
    maximum=st.none() | st.floats(-10, 10),
    required=st.booleans(),
)


@PROPERTY
@given(column=columns, raw=raw_values)
def test_convert_raises_only_value_error(folder: Path, column: Column, raw: object) -> None:
    try:
        column.convert(raw, folder)
    except ValueError as exc:
        assert str(exc)  # a message for the user, shown as file:line:column: message


# --- output names ----------------------------------------------------------------------


def assert_safe_name(name: str) -> None:
    assert name
    assert name not in (".", "..")
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert len(name.encode("utf-8")) <= MAX_NAME
    assert Path(name).name == name  # a single path component


@PROPERTY
@given(text=st.text())
def test_sanitize_yields_a_safe_name(text: str) -> None:
    assert_safe_name(sanitize(text))


@PROPERTY
@given(
    template=st.sampled_from(["{id}", "{id}_{speaker}", "{speaker}/{text}", "..{text}..", "{text}.{id}", "x"]),
    values=st.dictionaries(st.sampled_from(["id", "speaker", "text"]), st.text() | st.integers() | st.none()),
)
def test_rendered_names_are_safe(template: str, values: dict[str, object]) -> None:
    assert_safe_name(NameTemplate(template).render(values))


# --- defects the properties above found (each failed before its fix) ---------------------


def test_reserved_long_name_stays_within_the_bound() -> None:
    assert len(sanitize("nul." + "x" * 200).encode()) <= MAX_NAME


def test_unknown_home_directory_is_a_value_error(folder: Path) -> None:
    with pytest.raises(ValueError):
        Column("c", "file").convert("~no_such_user_gbatch/voice.wav", folder)


def test_over_long_path_is_a_value_error(folder: Path) -> None:
    with pytest.raises(ValueError):
        Column("c", "file").convert("a" * 300 + ".wav", folder)


def test_deeply_nested_json_is_a_value_error(folder: Path) -> None:
    with pytest.raises(ValueError):
        Column("c", "json").convert("[" * 100_000, folder)

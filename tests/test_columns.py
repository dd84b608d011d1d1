from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from gbatch._columns import Column, File, normalize_key

HERE = Path(".")


def convert(raw: Any, kind: str = "text", base: Path = HERE, **kwargs: Any) -> Any:
    return Column("c", kind, **kwargs).convert(raw, base)


def error_of(raw: Any, kind: str = "text", base: Path = HERE, **kwargs: Any) -> str:
    with pytest.raises(ValueError) as info:
        convert(raw, kind, base, **kwargs)
    return str(info.value)


# normalize_key / match_keys


def test_normalize_key_ignores_case_spaces_dashes_underscores() -> None:
    assert normalize_key("Prompt Audio") == "promptaudio"
    assert normalize_key(" prompt_audio ") == "promptaudio"
    assert normalize_key("PROMPT--\t_audio") == "promptaudio"
    assert normalize_key("Straße") == "strasse"
    assert normalize_key("") == ""


def test_match_keys_cover_name_and_aliases() -> None:
    column = Column("prompt_audio", aliases=("Prompt Audio", "", "Ref-Wav"))
    assert column.match_keys() == {"promptaudio", "refwav"}


def test_unknown_kind_is_refused_at_construction() -> None:
    with pytest.raises(ValueError) as info:
        Column("speed", "number")
    assert str(info.value) == (
        "column 'speed': unknown kind 'number'; "
        "use one of ('text', 'int', 'float', 'bool', 'json', 'list', 'file', 'files', 'any')"
    )


# text / any


def test_text() -> None:
    assert convert("  hello  ") == "  hello  "
    assert convert(12) == "12"
    assert convert({"a": "é"}) == '{"a": "é"}'
    assert convert(False) == "false"


def test_any_passes_values_through() -> None:
    value = {"x": [1]}
    assert convert(value, "any") is value
    assert convert(" 7 ", "any") == " 7 "


# int


def test_int_accepts_whole_numbers_in_any_spelling() -> None:
    assert convert("3", "int") == 3
    assert convert(" -3 ", "int") == -3
    assert convert("3.0", "int") == 3
    assert convert("1_000", "int") == 1000
    assert convert("1e3", "int") == 1000
    assert convert(7, "int") == 7
    assert convert(7.0, "int") == 7
    assert type(convert("3.0", "int")) is int


@pytest.mark.parametrize("raw", [True, False, 3.5, "3.5", "abc", "inf", "nan", "0x10"])
def test_int_rejects(raw: Any) -> None:
    assert error_of(raw, "int") == f"expected a whole number, got {raw!r}"


# float


def test_float() -> None:
    assert convert("2.5", "float") == 2.5
    assert convert(" -1e-3 ", "float") == -0.001
    assert convert("3", "float") == 3.0
    assert type(convert("3", "float")) is float
    assert convert(3, "float") == 3
    assert type(convert(3, "float")) is int  # an int from JSON stays an int


@pytest.mark.parametrize("raw", ["abc", True, "1,5"])
def test_float_rejects_non_numbers(raw: Any) -> None:
    assert error_of(raw, "float") == f"expected a number, got {raw!r}"


@pytest.mark.parametrize("raw", ["inf", "-Infinity", "nan", math.inf, math.nan])
def test_float_rejects_non_finite(raw: Any) -> None:
    assert error_of(raw, "float") == f"expected a finite number, got {raw!r}"


# bool


@pytest.mark.parametrize("raw", ["true", "TRUE", " Yes ", "y", "1", "on", "是", True, 1])
def test_bool_true(raw: Any) -> None:
    assert convert(raw, "bool") is True


@pytest.mark.parametrize("raw", ["false", "False", "no", "N", "0", "OFF", "否", False, 0])
def test_bool_false(raw: Any) -> None:
    assert convert(raw, "bool") is False


@pytest.mark.parametrize("raw", ["maybe", "2", "真", 1.5])
def test_bool_rejects(raw: Any) -> None:
    assert error_of(raw, "bool") == f"expected true or false, got {raw!r}"


# json


def test_json() -> None:
    assert convert('{"a": [1, 2]}', "json") == {"a": [1, 2]}
    assert convert("3", "json") == 3
    assert convert('"x"', "json") == "x"
    assert convert({"already": "parsed"}, "json") == {"already": "parsed"}


def test_json_errors_give_the_position() -> None:
    assert error_of("nope", "json") == "not valid JSON (Expecting value at character 0)"
    assert error_of('{"a": }', "json") == "not valid JSON (Expecting value at character 6)"


# list


def test_list_from_json() -> None:
    assert convert('[1, "two", null]', "list") == [1, "two", None]
    assert convert("  []  ", "list") == []
    assert convert([1, 2], "list") == [1, 2]


def test_list_from_separated_text() -> None:
    assert convert("a; b | c", "list") == ["a", "b", "c"]
    assert convert("a;;  ;b", "list") == ["a", "b"]
    assert convert("single", "list") == ["single"]


def test_list_with_bad_json() -> None:
    assert error_of("[1, 2", "list") == "not valid JSON (Expecting ',' delimiter at character 5)"


# file


def test_file_relative_path_is_resolved_against_base_dir(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.wav").write_bytes(b"RIFF")
    value = convert(" sub/a.wav ", "file", tmp_path)
    assert value == File(str((tmp_path / "sub" / "a.wav").resolve()))
    assert value.is_url is False
    assert str(value) == value.source


def test_file_absolute_path(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(b"")
    assert convert(str(path), "file", tmp_path / "elsewhere") == File(str(path.resolve()))


def test_file_missing(tmp_path: Path) -> None:
    assert error_of("nope.wav", "file", tmp_path) == f"file not found: {tmp_path / 'nope.wav'}"


def test_file_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    assert error_of("d", "file", tmp_path) == f"not a file: {tmp_path / 'd'}"


@pytest.mark.parametrize("url", ["http://host/a.wav", "https://host/x?y=1"])
def test_file_url_passes_through(url: str) -> None:
    value = convert(url, "file", Path("/nonexistent"))
    assert value == File(url)
    assert value.is_url is True


# empty cells


@pytest.mark.parametrize("kind", ["text", "int", "float", "bool", "json", "list", "file", "files", "any"])
@pytest.mark.parametrize("raw", [None, "", "   ", "\t\n"])
def test_empty_cells_are_none(kind: str, raw: Any) -> None:
    assert convert(raw, kind) is None
    assert convert(raw, kind, required=True) is None


def test_an_empty_optional_text_cell_takes_the_default() -> None:
    """An empty cell means "not given": the column's default (or, in `run`, the endpoint's) applies, never ""."""
    assert convert("", "text") is None
    assert convert("  ", "text") is None
    assert convert(None, "text") is None


def test_required_text_treats_empty_as_missing() -> None:
    assert convert("", "text", required=True) is None
    assert convert("  ", "text", required=True) is None


def test_empty_cell_skips_choices_and_limits() -> None:
    assert convert("", "int", choices=(1, 2), minimum=5) is None


# choices


def test_choices_exact() -> None:
    assert convert("fast", choices=("fast", "slow")) == "fast"
    assert convert(2, "any", choices=(1, 2)) == 2


def test_bool_choices_from_text() -> None:
    assert convert("yes", "any", choices=(True, False)) is True
    assert convert("False", "any", choices=(True, False)) is False
    assert convert("是", "any", choices=(True, False)) is True
    assert convert(1, "any", choices=(True, False)) is True


def test_numeric_choices_from_text() -> None:
    assert convert("2", "any", choices=(1, 2, 3)) == 2
    assert type(convert(" 2 ", "any", choices=(1, 2, 3))) is int
    assert convert("0.5", "any", choices=(0.5, 1.0)) == 0.5


def test_choices_fold_case_space_underscore_dash() -> None:
    assert convert("Slow Mode", choices=("slow_mode", "fast")) == "slow_mode"
    assert convert("SLOW-mode", choices=("slow_mode", "fast")) == "slow_mode"


def test_choice_aliases_fold_too() -> None:
    column = Column("mode", "any", choices=("slow", "fast"), choice_aliases=(("Slow mode", "slow"), ("快速", "fast")))
    assert column.convert("slow_MODE", HERE) == "slow"
    assert column.convert("Slow mode", HERE) == "slow"
    assert column.convert("快速", HERE) == "fast"
    assert column.convert("fast", HERE) == "fast"


def test_list_values_are_checked_item_by_item() -> None:
    assert convert("A; b", "list", choices=("a", "b")) == ["a", "b"]
    assert convert("[1, 2]", "list", choices=(1, 2, 3)) == [1, 2]
    assert error_of("a; c", "list", choices=("a", "b")) == "'c' is not one of: 'a', 'b'"


def test_choice_error_lists_choices() -> None:
    assert error_of("medium", choices=("fast", "slow")) == "'medium' is not one of: 'fast', 'slow'"
    assert error_of("maybe", "any", choices=(True, False)) == "'maybe' is not one of: True, False"


def test_choice_error_shows_twenty_then_ellipsis() -> None:
    choices = tuple(range(25))
    shown = ", ".join(str(i) for i in range(20))
    assert error_of("99", "any", choices=choices) == f"'99' is not one of: {shown} …"
    assert error_of("99", "any", choices=choices[:20]) == f"'99' is not one of: {shown}"


# minimum / maximum


def test_limits_are_inclusive() -> None:
    assert convert("1", "int", minimum=1, maximum=10) == 1
    assert convert("10", "int", minimum=1, maximum=10) == 10


def test_limit_messages() -> None:
    assert error_of("0", "int", minimum=1.0) == "0 is below the minimum 1"
    assert error_of("11", "int", maximum=10) == "11 is above the maximum 10"
    assert error_of("3", "float", maximum=2.5) == "3.0 is above the maximum 2.5"
    assert error_of("-0.5", "float", minimum=-0.25) == "-0.5 is below the minimum -0.25"


def test_limits_ignore_bools() -> None:
    assert convert("yes", "bool", minimum=5) is True


def test_files_kind_takes_a_json_list_or_semicolons(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b c.json").write_text("{}")
    column = Column("docs", "files")
    expected = [File(str(tmp_path / "a.txt")), File(str(tmp_path / "b c.json"))]
    assert column.convert('["a.txt", "b c.json"]', tmp_path) == expected
    assert column.convert("a.txt; b c.json", tmp_path) == expected
    assert column.convert("https://h/x.png", tmp_path) == [File("https://h/x.png")]
    with pytest.raises(ValueError, match="file not found: .*missing.png"):
        column.convert("a.txt;missing.png", tmp_path)
    with pytest.raises(ValueError, match="expected a list of file paths or URLs, got 3"):
        column.convert("[3]", tmp_path)

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gbatch._outputs import MAX_NAME, NameTemplate, atomic_write, clean_partials, sanitize

# sanitize


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("a/b\\c", "a_b_c"),
        ("../../etc/passwd", "_._etc_passwd"),
        ("..", "_"),
        (".hidden", "hidden"),
        ("a...b", "a.b"),
        ('a:b*c?d"e<f>g|h', "a_b_c_d_e_f_g_h"),
        ("a\x00b\x1f\x1fc\x7f", "a_b_c_"),
        ("line\nbreak\ttab", "line_break_tab"),
        ("name. . ", "name"),
        ("  x  ", "x"),
        ("a   b\u3000c", "a b c"),
        ("e\u0301", "\u00e9"),  # NFC
        ("", "_"),
        ("   ", "_"),
        ("...", "_"),
        ("你好 世界", "你好 世界"),
    ],
)
def test_sanitize(raw: str, safe: str) -> None:
    assert sanitize(raw) == safe


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("CON", "_CON"),
        ("nul", "_nul"),
        ("Aux.", "_Aux"),
        ("com1", "_com1"),
        ("LPT9", "_LPT9"),
        ("console", "console"),
        ("com10", "com10"),
        ("COM\u00b9", "_COM\u00b9"),
        ("conout$", "_conout$"),
        # Windows reserves these with any extension too: "NUL.txt" is NUL.
        ("nul.txt", "_nul.txt"),
        ("CON.tar.gz", "_CON.tar.gz"),
        # whitespace folded or trimmed after the check must not let one through
        ("con\u3000", "_con"),
        ("aux\u00a0.x", "_aux .x"),
    ],
)
def test_sanitize_windows_reserved_names(raw: str, safe: str) -> None:
    assert sanitize(raw) == safe


def test_sanitize_caps_ascii_length() -> None:
    assert sanitize("x" * 500) == "x" * MAX_NAME


def test_sanitize_caps_cjk_in_utf8_bytes_without_splitting_a_character() -> None:
    name = sanitize("a" + "语" * 50)  # 1 + 150 bytes
    assert name == "a" + "语" * 39  # 118 bytes: a 40th character would need 121
    assert len(name.encode("utf-8")) == 118


def test_sanitize_cut_does_not_leave_trailing_dots_or_spaces() -> None:
    assert sanitize("x" * (MAX_NAME - 2) + " .yz") == "x" * (MAX_NAME - 2)


# NameTemplate


def test_render() -> None:
    template = NameTemplate("{id}_{speaker}")
    assert template.fields == ["id", "speaker"]
    assert template.render({"id": "3", "speaker": "alice"}) == "3_alice"
    assert template.render({"id": 3, "speaker": None}) == "3_"
    assert template.render({"id": 3}) == "3_"
    assert template.render({}) == "_"


def test_render_row_and_id() -> None:
    assert NameTemplate("{row}-{id}").render({"row": 7, "id": "a"}) == "7-a"


def test_render_sanitizes_values() -> None:
    assert NameTemplate("{text}").render({"text": "../a/b"}) == "_a_b"


def test_render_keeps_escaped_braces_and_dashed_names() -> None:
    template = NameTemplate("{{x}}-{prompt-text}")
    assert template.fields == ["prompt-text"]
    assert template.render({"prompt-text": "hi"}) == "{x}-hi"


def test_missing() -> None:
    template = NameTemplate("{id}_{speaker}_{Mood}")
    assert template.missing(["id", "text", "mood"]) == ["speaker", "Mood"]
    assert template.missing(["id", "speaker", "Mood"]) == []


def test_bad_template_unclosed_brace() -> None:
    with pytest.raises(ValueError) as info:
        NameTemplate("{id")
    assert str(info.value) == "bad --name template '{id': expected '}' before end of string"


@pytest.mark.parametrize("template", ["{}", "x{0}", "{a.b}", "{a[0]}", "{a b}"])
def test_bad_template_field(template: str) -> None:
    with pytest.raises(ValueError) as info:
        NameTemplate(template)
    assert str(info.value) == f"bad --name template {template!r}: use plain column names, like {{id}}"


# assign_names (unique within the batch, case-insensitively, and stable across runs)


def _named(*names: str, history: dict[str, dict[str, str]] | None = None) -> list[str]:
    from gbatch._batch import PreparedRow
    from gbatch._resume import assign_names
    from gbatch._tasks import TaskRow
    from gbatch._tool import Call

    rows = [PreparedRow(TaskRow(str(i), i + 2, {}), Call({}), name, "", {}) for i, name in enumerate(names)]
    assign_names(rows, history or {})
    return [row.name for row in rows]


def test_unique_names_case_insensitive_and_stable() -> None:
    assert _named("a", "A", "b", "a") == ["a", "A_2", "b", "a_3"]
    assert _named("x", "y", "x", "x") == ["x", "y", "x_2", "x_3"]
    assert _named() == []


def test_unique_names_skips_suffixes_already_taken() -> None:
    assert _named("a", "a_2", "a") == ["a", "a_2", "a_3"]
    assert _named("a", "a", "a_2") == ["a", "a_2", "a_2_2"]


def test_a_finished_rows_name_is_never_given_to_another_row() -> None:
    history = {"9": {"status": "ok", "name": "a"}}
    assert _named("a", "a", history=history) == ["a_2", "a_3"]


# atomic_write


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_write_writes_and_creates_folders(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "out.wav"
    assert atomic_write(path, b"data") == path
    assert path.read_bytes() == b"data"
    assert os.listdir(path.parent) == ["out.wav"]


def test_atomic_write_permissions_follow_umask(tmp_path: Path) -> None:
    """mkstemp makes 0600 files; outputs get the usual 0666 & ~umask."""
    path = atomic_write(tmp_path / "out.bin", b"x")
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o666 & ~current_umask()
    assert mode != 0o600


def test_atomic_write_replaces(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_bytes(b"old")
    atomic_write(path, b"new")
    assert path.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_atomic_write_failure_leaves_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.txt"
    path.write_bytes(b"old")

    def fail(src: object, dst: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write(path, b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_atomic_write_failure_while_writing_leaves_no_temp(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        atomic_write(tmp_path / "out.txt", "not bytes")  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


# clean_partials


def test_clean_partials(tmp_path: Path) -> None:
    for name in (".gbatch-abc.part", ".gbatch-.part", "keep.part", ".gbatch-x.wav", "a.wav"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".gbatch-y.part").write_bytes(b"")
    clean_partials(tmp_path)
    assert sorted(os.listdir(tmp_path)) == [".gbatch-x.wav", "a.wav", "keep.part", "sub"]
    assert os.listdir(tmp_path / "sub") == [".gbatch-y.part"]


def test_clean_partials_missing_folder(tmp_path: Path) -> None:
    clean_partials(tmp_path / "nope")
    assert not (tmp_path / "nope").exists()


def test_no_file_one_row_can_write_is_another_rows() -> None:
    # "1" writes 1.2.png (its second image) and 1.take1.png (a kept take): row "1.2" and
    # row "1.take1" must not have those names, in either order
    assert _named("1", "1.2", "1.take1") == ["1", "1_2", "1_take1"]
    assert _named("1.2", "1") == ["1.2", "1_2"]
    assert _named("a.b.c", "a.b", "A") == ["a.b.c", "a.b_2", "A_2"]
    # gbatch's own files are not a row's: a row "results" would write results.csv
    assert _named("results", "review", "gbatch-journal", "redo") == ["results_2", "review_2", "gbatch-journal_2", "redo_2"]


def test_a_finished_rows_files_are_never_another_rows() -> None:
    history = {"9": {"status": "ok", "name": "1"}}
    assert _named("1.2", history=history) == ["1_2"]
    assert _named("1_2", "1.2", history=history) == ["1_2", "1_2_2"]

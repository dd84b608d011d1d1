from __future__ import annotations

import datetime
import sys
from pathlib import Path

import pytest

from gbatch._errors import Problem, ValidationError
from gbatch._tasks import TaskFile, TaskRow, read_tasks


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def problems_of(path: Path, **kwargs: str) -> list[str]:
    with pytest.raises(ValidationError) as info:
        read_tasks(path, **kwargs)
    return [str(p) for p in info.value.problems]


def test_csv_basic(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", b"text, voice \nhello,alice\n  spaced  ,bob\n")
    tasks = read_tasks(path)
    assert tasks == TaskFile(
        path=path,
        format="csv",
        encoding="utf-8",
        columns=["text", "voice"],
        rows=[
            TaskRow("1", 2, {"text": "hello", "voice": "alice"}),
            TaskRow("2", 3, {"text": "  spaced  ", "voice": "bob"}),
        ],
    )


def test_path_given_as_str(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", b"text\nx\n")
    tasks = read_tasks(str(path))
    assert tasks.path == path
    assert [r.values for r in tasks.rows] == [{"text": "x"}]


def test_csv_crlf_quoted_multiline_and_empty_lines(tmp_path: Path) -> None:
    data = b'id,text\r\n\r\na,"one\r\ntwo\r\nthree"\r\n   \r\nb,"say ""hi"", then go"\r\n,\r\nc,last\r\n'
    tasks = read_tasks(write(tmp_path, "t.csv", data))
    assert [(r.id, r.line, r.values["text"]) for r in tasks.rows] == [
        ("a", 3, "one\r\ntwo\r\nthree"),
        ("b", 7, 'say "hi", then go'),
        ("c", 9, "last"),
    ]


def test_short_rows_are_padded_and_empty_extra_cells_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", b"a,b,c\n1\n1,2,3,,\n")
    assert [r.values for r in read_tasks(path).rows] == [
        {"a": "1", "b": "", "c": ""},
        {"a": "1", "b": "2", "c": "3"},
    ]


def test_trailing_empty_header_cells_are_ignored(tmp_path: Path) -> None:
    tasks = read_tasks(write(tmp_path, "t.csv", b"text,,\nhi,,\n"))
    assert tasks.columns == ["text"]
    assert tasks.rows == [TaskRow("1", 2, {"text": "hi"})]


def test_header_only_is_valid(tmp_path: Path) -> None:
    tasks = read_tasks(write(tmp_path, "t.csv", b"id,text\n\n"))
    assert tasks.columns == ["id", "text"]
    assert tasks.rows == []


def test_tsv_and_tab(tmp_path: Path) -> None:
    for name in ("t.tsv", "t.TAB"):
        tasks = read_tasks(write(tmp_path, name, b"ID\ttext\n x1 \ta,b\n"))
        assert tasks.format == "tsv"
        assert tasks.rows == [TaskRow("x1", 2, {"ID": " x1 ", "text": "a,b"})]


def test_jsonl(tmp_path: Path) -> None:
    data = (
        b'{"text": "hi", "n": 3}\n'
        b"\n"
        b'{"text": "\xe4\xbd\xa0\xe5\xa5\xbd\xe2\x80\xa8x", "speed": 1.5, "tags": ["a"], "x": null}\r\n'
    )
    tasks = read_tasks(write(tmp_path, "t.jsonl", data))
    assert tasks.format == "jsonl"
    assert tasks.columns == ["text", "n", "speed", "tags", "x"]
    assert tasks.rows == [
        TaskRow("1", 1, {"text": "hi", "n": 3}),
        TaskRow("2", 3, {"text": "你好\u2028x", "speed": 1.5, "tags": ["a"], "x": None}),
    ]


def test_jsonl_integer_ids_and_ndjson(tmp_path: Path) -> None:
    tasks = read_tasks(write(tmp_path, "t.ndjson", b'{"id": 7, "text": "a"}\n{"id": " b ", "text": "c"}\n'))
    assert [r.id for r in tasks.rows] == ["7", "b"]


def test_bad_jsonl_lines(tmp_path: Path) -> None:
    data = b'{"id": "a", "text": "ok"}\n{"text": oops}\n[1, 2]\n{"id": 1.5}\n{"text": "no id"}\n{"id": ""}\n'
    path = write(tmp_path, "t.jsonl", data)
    assert problems_of(path) == [
        f"{path}:2: not a JSON object: Expecting value (column 10)",
        f"{path}:3: not a JSON object: found an array",
        f"{path}:4:id: id must be a string or an integer, not 1.5",
        f"{path}:5:id: missing id",
        f"{path}:6:id: empty id",
    ]


def test_txt(tmp_path: Path) -> None:
    data = b"  first line  \n\n   \n# not a comment\r\nlast"
    tasks = read_tasks(write(tmp_path, "t.txt", data), text_column="content")
    assert tasks.format == "txt"
    assert tasks.columns == ["content"]
    assert tasks.rows == [
        TaskRow("1", 1, {"content": "first line"}),
        TaskRow("2", 4, {"content": "# not a comment"}),
        TaskRow("3", 5, {"content": "last"}),
    ]


def test_xlsx(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([" ID ", "text", "n", "ratio", "flag", "when"])
    sheet.append(["a", "hello ", 3, 2.0, True, datetime.datetime(2024, 1, 2, 3, 4, 5)])
    sheet.append([])
    sheet.append([None, None])
    sheet.append(["b", None, 10, 0.25, False, datetime.date(2024, 5, 6)])
    path = tmp_path / "t.xlsx"
    book.save(path)
    tasks = read_tasks(path)
    assert tasks.format == "xlsx"
    assert tasks.encoding is None
    assert tasks.columns == ["ID", "text", "n", "ratio", "flag", "when"]
    assert tasks.rows == [
        TaskRow(
            "a",
            2,
            {
                "ID": "a",
                "text": "hello ",
                "n": "3",
                "ratio": "2",
                "flag": "true",
                "when": "2024-01-02T03:04:05",
            },
        ),
        TaskRow(
            "b",
            5,
            {
                "ID": "b",
                "text": "",
                "n": "10",
                "ratio": "0.25",
                "flag": "false",
                "when": "2024-05-06T00:00:00",
            },
        ),
    ]


def test_damaged_xlsx(tmp_path: Path) -> None:
    path = write(tmp_path, "t.xlsx", b"id,text\n1,a\n")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}: not a readable .xlsx workbook: ")


def test_xlsx_without_openpyxl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # makes `import openpyxl` fail
    path = write(tmp_path, "t.xlsx", b"PK")
    assert problems_of(path) == [f"{path}: reading .xlsx files needs openpyxl: pip install 'gbatch[xlsx]'"]


def test_utf8_bom(tmp_path: Path) -> None:
    tasks = read_tasks(write(tmp_path, "t.csv", "\ufeffid,text\n1,héllo\n".encode()))
    assert tasks.encoding == "utf-8-sig"
    assert tasks.columns == ["id", "text"]
    assert tasks.rows == [TaskRow("1", 2, {"id": "1", "text": "héllo"})]


def test_gbk_bytes_are_read_as_gb18030(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "编号,文本\nA1,你好，世界\n".encode("gbk"))
    tasks = read_tasks(path)
    assert tasks.encoding == "gb18030"
    assert tasks.columns == ["编号", "文本"]
    assert tasks.rows == [TaskRow("1", 2, {"编号": "A1", "文本": "你好，世界"})]


def test_utf16_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "t.tsv", "id\ttext\r\nx\t你好\r\n".encode("utf-16"))
    tasks = read_tasks(path)
    assert tasks.encoding == "utf-16"
    assert tasks.columns == ["id", "text"]
    assert tasks.rows == [TaskRow("x", 2, {"id": "x", "text": "你好"})]


def test_forced_encoding(tmp_path: Path) -> None:
    path = write(tmp_path, "t.txt", "fiancée\nmaître\n".encode("latin-1"))
    tasks = read_tasks(path, encoding="Latin-1")
    assert tasks.encoding == "iso8859-1"
    assert [r.values["text"] for r in tasks.rows] == ["fiancée", "maître"]
    # detection alone would have picked GB18030 and produced different text
    assert read_tasks(path).encoding == "gb18030"


def test_forced_encoding_strips_bom(tmp_path: Path) -> None:
    tasks = read_tasks(write(tmp_path, "t.csv", b"\xef\xbb\xbfid,text\n1,a\n"), encoding="utf-8")
    assert tasks.encoding == "utf-8"
    assert tasks.columns == ["id", "text"]


def test_forced_encoding_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "t.txt", b"ok\nfine\nbad \xff here\n")
    assert problems_of(path, encoding="nope") == [f"{path}: unknown encoding 'nope'"]
    assert problems_of(path, encoding="base64") == [f"{path}: unknown encoding 'base64'"]
    assert problems_of(path, encoding="utf-8") == [
        f"{path}:3: cannot be decoded as utf-8: byte 0xff (invalid start byte)"
    ]


def test_undetectable_encoding(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", b"id,text\n1,ok\n2,\xff\xff\n")
    assert problems_of(path) == [
        f"{path}:3: the file is neither UTF-8 nor GB18030 text (its first non-UTF-8 byte is on this line);"
        " pass --encoding with the encoding it was saved in"
    ]


def test_row_number_ids_count_data_rows(tmp_path: Path) -> None:
    tasks = read_tasks(write(tmp_path, "t.csv", b"text\n\na\n\nb\n"))
    assert [(r.id, r.line) for r in tasks.rows] == [("1", 3), ("2", 5)]


def test_all_problems_at_once(tmp_path: Path) -> None:
    data = b"Id,text\nx,a\ny,b\nx,c\n,d\ny,e,extra\nx,f\n"
    path = write(tmp_path, "t.csv", data)
    with pytest.raises(ValidationError) as info:
        read_tasks(path)
    file = str(path)
    assert info.value.problems == [
        Problem(file, 4, "Id", "duplicate id 'x' (first used on row 2)"),
        Problem(file, 5, "Id", "empty id"),
        Problem(file, 6, None, "row has 3 cells but the header has 2"),
        Problem(file, 6, "Id", "duplicate id 'y' (first used on row 3)"),
        Problem(file, 7, "Id", "duplicate id 'x' (first used on row 2)"),
    ]
    assert str(info.value).splitlines() == [
        f"{path}:4:Id: duplicate id 'x' (first used on row 2)",
        f"{path}:5:Id: empty id",
        f"{path}:6: row has 3 cells but the header has 2",
        f"{path}:6:Id: duplicate id 'y' (first used on row 3)",
        f"{path}:7:Id: duplicate id 'x' (first used on row 2)",
        "5 problems in the task file; nothing was sent.",
    ]


def test_header_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", b"text,,Text,prompt_audio,Prompt Audio\n1,2,3,4,5\n")
    assert problems_of(path) == [
        f"{path}:1:#2: empty column name",
        f"{path}:1:Text: duplicate column name; column #1 is 'text'",
        f"{path}:1:Prompt Audio: duplicate column name; column #4 is 'prompt_audio'",
    ]


def test_quote_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", b'text,n\n"Hi," she said,1\nok,2\n"never closed,3\nx,4\n')
    assert problems_of(path) == [
        f"{path}:2: text after a closing quote (expected ','); quote the whole field"
        ' and double the quotes inside it ("")',
        f"{path}:4: a quoted field that starts in this row is never closed",
    ]


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", b"\n \n")
    assert problems_of(path) == [f"{path}: the file is empty; its first row must name the columns"]


def test_unknown_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "tasks.json", b"[]")
    assert problems_of(path) == [
        f"{path}: unsupported file type '.json'; use one of .csv, .tsv, .tab, .jsonl, .ndjson, .txt, .xlsx"
    ]


def test_missing_file_and_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    assert problems_of(missing) == [f"{missing}: no such file"]
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    assert problems_of(folder) == [f"{folder}: is a directory, not a task file"]


def test_problem_uses_path_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "t.csv", b"id,text\n1,a\n1,b\n")
    with pytest.raises(ValidationError) as info:
        read_tasks("t.csv")
    assert info.value.problems == [Problem("t.csv", 3, "id", "duplicate id '1' (first used on row 2)")]
    assert str(info.value.problems[0]) == "t.csv:3:id: duplicate id '1' (first used on row 2)"

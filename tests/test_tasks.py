from __future__ import annotations

import datetime
import sys
from pathlib import Path
from typing import Any

import pytest

from gbatch._errors import TaskFileProblem, UsageError, ValidationError
from gbatch._tasks import TaskFile, TaskRow, read_tasks


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def problems_of(path: Path, **kwargs: Any) -> list[str]:
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
        delimiter=",",
        notes=[],
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
    assert tasks.notes == [f"{path}: not UTF-8; read as GB18030 (Chinese; covers GBK and GB2312) (detected; --encoding overrides)"]


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
    assert tasks.notes == []  # asked for, not detected
    # detection reads the same text (it once picked GB18030 and garbled it)
    detected = read_tasks(path)
    assert detected.encoding == "cp1252"
    assert [r.values["text"] for r in detected.rows] == ["fiancée", "maître"]


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
    path = write(tmp_path, "t.csv", b"id,text\n1,ok\n2,\x80\x81\x82\x83\x84\x85\n")
    assert problems_of(path) == [
        f"{path}:3: the file is not UTF-8 (its first non-UTF-8 byte is on this line), and it does not read as text"
        " in any encoding gbatch recognises; pass --encoding with the encoding it was saved in"
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
        TaskFileProblem(file, 4, "Id", "duplicate id 'x' (first used on row 2)"),
        TaskFileProblem(file, 5, "Id", "empty id"),
        TaskFileProblem(file, 6, None, "row has 3 cells but the header has 2", id="y"),
        TaskFileProblem(file, 6, "Id", "duplicate id 'y' (first used on row 3)"),
        TaskFileProblem(file, 7, "Id", "duplicate id 'x' (first used on row 2)"),
    ]
    assert str(info.value).splitlines() == [
        f"{path}:Id: duplicate id 'x' (first used on row 2) (2 rows: line 4, line 7)",  # one cause, one line
        f"{path}:5:Id: empty id",
        f"{path}:6 (id y): row has 3 cells but the header has 2",
        f"{path}:6:Id: duplicate id 'y' (first used on row 3)",
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
    assert info.value.problems == [TaskFileProblem("t.csv", 3, "id", "duplicate id '1' (first used on row 2)")]
    assert str(info.value.problems[0]) == "t.csv:3:id: duplicate id '1' (first used on row 2)"


# --- encodings: every file reads as written, or is refused with the readings shown ---

# Realistic task files in each encoding a spreadsheet or editor writes by default.
ENCODED = [
    pytest.param(
        "cp1252",
        "id;texte\n1;« Où est la forêt ? » demanda l’élève.\n2;Ça coûte 5 €, c’était l’été.\n3;Un dépôt naïve.\n",
        "cp1252",
        id="cp1252-french-excel",
    ),
    pytest.param(
        "latin-1",
        "id,text\n1,Größe und Übermut\n2,Die Straße ist nass.\n3,Fünf Bücher für die Prüfung.\n",
        "cp1252",  # Latin-1 text reads the same in cp1252, its superset
        id="latin1-german",
    ),
    pytest.param(
        "gbk",
        "编号,文本,说话人\n1,今天天气很好，我们去公园散步吧。,张三\n2,请用广东话表达。,李四\n",
        "gb18030",
        id="gbk-chinese-excel",
    ),
    pytest.param(
        "gb18030",
        "id,text\n1,我们在会议上讨论了这个问题。\n2,他说明天会下雨，𠮷野家见。\n",  # 𠮷 is a four-byte GB18030 character
        "gb18030",
        id="gb18030-four-byte",
    ),
    pytest.param(
        "big5",
        "編號,文本\n1,今天天氣很好，我們去公園散步吧。\n2,這是一個測試。\n3,謝謝你的幫忙。\n",
        "big5",
        id="big5-traditional-chinese",
    ),
    pytest.param(
        "shift_jis",
        "id,text\n1,今日はいい天気ですね。\n2,東京へ行きましょう。\n3,ありがとうございます。\n",
        "cp932",  # Windows' Shift-JIS, a superset
        id="shift-jis-japanese",
    ),
    pytest.param(
        "cp949",
        "id,text\n1,안녕하세요. 오늘 날씨가 좋네요.\n2,서울은 한국의 수도입니다.\n",
        "cp949",
        id="cp949-korean",
    ),
    pytest.param(
        "cp1251",
        "id,text\n1,Привет! Как дела?\n2,Сегодня хорошая погода.\n",
        "cp1251",
        id="cp1251-russian",
    ),
    pytest.param("utf-16-le", "id,text\n1,你好\n2,Un dépôt naïve.\n", "utf-16-le", id="utf16le-no-bom"),
    pytest.param("utf-16-be", "id,text\n1,你好\n2,Größe\n", "utf-16-be", id="utf16be-no-bom"),
    pytest.param("utf-32", "id,text\n1,今日は\n", "utf-32", id="utf32-bom"),
]


@pytest.mark.parametrize(("written", "text", "detected"), ENCODED)
def test_detected_encodings_read_the_text_as_written(tmp_path: Path, written: str, text: str, detected: str) -> None:
    path = write(tmp_path, "t.csv", text.encode(written))
    tasks = read_tasks(path)
    utf8 = read_tasks(write(tmp_path, "utf8.csv", text.encode()))
    assert tasks.encoding == detected
    assert (tasks.columns, tasks.rows) == (utf8.columns, utf8.rows)
    note = tasks.notes[0]  # always said, so a user sees at once what was guessed
    assert note.startswith(f"{path}: not UTF-8; read as ")
    assert note.endswith(" (detected; --encoding overrides)")


def test_utf8_is_not_noted(tmp_path: Path) -> None:
    tasks = read_tasks(write(tmp_path, "t.csv", "id,text\n1,Un dépôt naïve.\n".encode()))
    assert (tasks.encoding, tasks.notes) == ("utf-8", [])


def test_ambiguous_encoding_is_refused_with_each_reading(tmp_path: Path) -> None:
    # issue 8's reproduction: one line of cp1252 reads as well in cp1250 (naďve). It was
    # once read as GB18030 ("Un d閜魌 na飗e.") without a word.
    path = write(tmp_path, "t.csv", "id,text\n1,Un dépôt naïve.\n".encode("cp1252"))
    assert problems_of(path) == [
        f"{path}:2: cannot tell which encoding the file is in; this line reads"
        " as cp1252: '1,Un dépôt naïve.', as cp1250: '1,Un dépôt naďve.'."
        " Pass --encoding with the right one (e.g. --encoding cp1252)"
    ]
    tasks = read_tasks(path, encoding="cp1252")
    assert tasks.rows[0].values["text"] == "Un dépôt naïve."


def test_more_text_settles_the_encoding(tmp_path: Path) -> None:
    second = "« Où est la forêt ? » demanda l’élève — c’était l’été."  # ù ê è read as ů ę č in cp1250
    text = f"id,text\n1,Un dépôt naïve.\n2,{second}\n"
    tasks = read_tasks(write(tmp_path, "t.csv", text.encode("cp1252")))
    assert tasks.encoding == "cp1252"
    assert [r.values["text"] for r in tasks.rows] == ["Un dépôt naïve.", second]


def test_file_with_nul_bytes_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00")
    assert problems_of(path) == [
        f"{path}: the file holds NUL bytes: it is not a text file, or it is UTF-16 without a byte-order mark"
        " in a byte order that could not be told; pass --encoding (e.g. utf-16-le)"
    ]


def test_iso2022_is_refused_not_read_as_ascii(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "id,text\n1,今日は\n".encode("iso2022_jp"))
    assert problems_of(path) == [
        f"{path}:2: the file looks ISO-2022 encoded (it has escape sequences); pass --encoding, e.g. iso2022_jp"
    ]
    assert read_tasks(path, encoding="iso2022_jp").rows[0].values["text"] == "今日は"


def test_a_long_file_is_judged_on_all_of_it(tmp_path: Path) -> None:
    # The one line where cp1252 and cp1250 differ comes after thousands of others.
    lines = "".join(f"{i},Größe {i}\n" for i in range(1, 5000)) + "5000,Un dépôt naïve.\n"
    path = write(tmp_path, "t.csv", ("id,text\n" + lines).encode("cp1252"))
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:5001: cannot tell which encoding the file is in;")


# --- delimiters -----------------------------------------------------------------------


def test_european_excel_semicolons(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", b"id;text;speed\r\n1;Bonjour, le monde;1,5\r\n2;\"a;b\";0,8\r\n")
    tasks = read_tasks(path)
    assert tasks.delimiter == ";"
    assert [r.values for r in tasks.rows] == [
        {"id": "1", "text": "Bonjour, le monde", "speed": "1,5"},
        {"id": "2", "text": "a;b", "speed": "0,8"},
    ]
    assert tasks.notes == [f"{path}: columns are separated by ';' (detected; --delimiter overrides)"]


@pytest.mark.parametrize(
    ("data", "delimiter"),
    [
        (b"id,text\n1,a; b; c\n", ","),
        (b"id\ttext\n1,a;b|c\n", "\t"),
        (b"id|text|speed\n1|Hello, world; again|1.0\n", "|"),
        (b'"Name, full";"Age"\n"Doe, John";42\n', ";"),  # the header's quoted comma does not count
        (b"text\nHello; world\n", ","),  # one column: nothing to split
        (b"\n\n id ; text \n1;a\n", ";"),  # the header is the first non-blank row
    ],
)
def test_delimiter_is_detected_from_the_header(tmp_path: Path, data: bytes, delimiter: str) -> None:
    assert read_tasks(write(tmp_path, "t.csv", data)).delimiter == delimiter


def test_delimiter_override(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", b"a;b\n1;2\n")
    tasks = read_tasks(path, delimiter=",")
    assert (tasks.delimiter, tasks.columns, tasks.notes) == (",", ["a;b"], [])
    tsv = write(tmp_path, "t.tsv", b"a|b\n1|2\n")
    assert read_tasks(tsv, delimiter="pipe").columns == ["a", "b"]
    assert read_tasks(write(tmp_path, "u.csv", b"a\tb\n1\t2\n"), delimiter="tab").columns == ["a", "b"]


@pytest.mark.parametrize(
    ("name", "delimiter", "message"),
    [
        ("t.csv", ";;", "--delimiter must be one character, or tab, comma, semicolon or pipe; not ';;'"),
        ("t.csv", '"', "--delimiter must be one character, or tab, comma, semicolon or pipe; not '\"'"),
        ("t.jsonl", ";", "--delimiter applies to .csv and .tsv files, not .jsonl"),
    ],
)
def test_bad_delimiter_option(tmp_path: Path, name: str, delimiter: str, message: str) -> None:
    path = write(tmp_path, name, b"a;b\n")
    with pytest.raises(UsageError) as info:
        read_tasks(path, delimiter=delimiter)
    assert str(info.value) == message


# --- problems: all at once, with line and id -------------------------------------------


def test_problem_shows_the_row_id() -> None:
    assert str(TaskFileProblem("lines.csv", 3, "speed", "3.0 is above the maximum 2", id="2")) == (
        "lines.csv:3 (id 2):speed: 3.0 is above the maximum 2"
    )
    assert str(TaskFileProblem("t.csv", 6, None, "row has 3 cells but the header has 2", id="b7")) == (
        "t.csv:6 (id b7): row has 3 cells but the header has 2"
    )
    assert str(TaskFileProblem("t.csv", 4, "text", "empty")) == "t.csv:4:text: empty"  # positional, as before
    assert str(TaskFileProblem("t.csv", None, "word", "required column 'word' is missing")) == (
        "t.csv: required column 'word' is missing"
    )


def test_problem_to_json() -> None:
    assert TaskFileProblem("t.csv", 3, "speed", "too fast", id="2").to_json() == {
        "file": "t.csv",
        "line": 3,
        "id": "2",
        "column": "speed",
        "message": "too fast",
    }
    assert TaskFileProblem("t.csv", None, None, "no such file").to_json() == {
        "file": "t.csv",
        "line": None,
        "id": None,
        "column": None,
        "message": "no such file",
    }


def test_row_number_ids_are_shown_too(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", b"text,voice\n\na,b\nc,d,e\n")
    assert problems_of(path) == [f"{path}:4 (id 2): row has 3 cells but the header has 2"]


def test_collecting_problems_returns_the_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", b"id,text\na,x\na,y\nb,z,extra\n")
    problems: list[TaskFileProblem] = []
    tasks = read_tasks(path, problems=problems)
    assert [r.id for r in tasks.rows] == ["a", "a", "b"]
    assert [str(p) for p in problems] == [
        f"{path}:3:id: duplicate id 'a' (first used on row 2)",
        f"{path}:4 (id b): row has 3 cells but the header has 2",
    ]
    clean: list[TaskFileProblem] = []
    read_tasks(write(tmp_path, "ok.csv", b"id,text\na,x\n"), problems=clean)
    assert clean == []


def test_collecting_still_raises_for_the_whole_file(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", b"id,,text\na,x,y\na,z,w\n")
    problems: list[TaskFileProblem] = []
    with pytest.raises(ValidationError) as info:
        read_tasks(path, problems=problems)
    assert [str(p) for p in info.value.problems] == [
        f"{path}:1:#2: empty column name",
        f"{path}:3:id: duplicate id 'a' (first used on row 2)",
    ]
    assert problems == []


def test_byte_order_mark_starting_a_later_line(tmp_path: Path) -> None:
    # Two Excel exports joined with `cat`: the second one's BOM and header land mid-file.
    data = b"\xef\xbb\xbfid,text\n1,a\n\xef\xbb\xbfid,text\n2,b\n"
    path = write(tmp_path, "t.csv", data)
    assert problems_of(path) == [
        f"{path}:3: a byte-order mark (U+FEFF) starts this line (were two files joined?); delete it",
    ]
    # inside a cell, U+FEFF is a zero-width no-break space and is kept
    tasks = read_tasks(write(tmp_path, "ok.csv", "id,text\n1,a\ufeffb\n".encode()))
    assert tasks.rows[0].values["text"] == "a\ufeffb"

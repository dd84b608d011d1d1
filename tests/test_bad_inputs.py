"""A corpus of bad task files and cells: each one is refused with its exact `file:line:column` location.

Whole files go through `read_tasks`; cells go through the columns' own conversion,
the way the runner checks them before anything is sent (the end-to-end cases
with a server live with the runner's tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gbatch import Column
from gbatch._errors import TaskFileProblem, ValidationError
from gbatch._tasks import read_tasks

MODES = ("zero_shot", "cross_lingual", "instruct", "sft")


@dataclass(frozen=True)
class Case:
    """A bad input: the file's name and bytes (or how to make it), the columns its cells
    must fit, and every problem expected, with `{f}` standing for the file's path."""

    name: str
    data: bytes | Callable[[Path], None]
    expected: list[str]
    columns: dict[str, Column] = field(default_factory=dict)


def xlsx(*rows: list[object], merge: str | None = None) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        openpyxl = pytest.importorskip("openpyxl")
        book = openpyxl.Workbook()
        sheet = book.active
        for row in rows:
            sheet.append(row)
        if merge:
            sheet.merge_cells(merge)
        book.save(path)

    return make


def missing(path: Path) -> None:
    pass  # nothing is written


def folder(path: Path) -> None:
    path.mkdir()


FILE_CASES = [
    # --- CSV structure
    Case(
        "t.csv",
        b'id,text\n1,ok\n2,"never closed\n3,lost\n',
        ["{f}:3: a quoted field that starts in this row is never closed"],
    ),
    Case(
        "t.csv",
        b'id,text\n1,"Hi," she said\n',
        [
            "{f}:2: text after a closing quote (expected ','); quote the whole field"
            ' and double the quotes inside it ("")'
        ],
    ),
    Case(
        "t.tsv",
        b'id\ttext\n1\t"quoted" then more\n',
        [
            "{f}:2: text after a closing quote (expected tab); quote the whole field"
            ' and double the quotes inside it ("")'
        ],
    ),
    Case(
        "t.csv",
        b'id,text\n1,"' + b"x" * 200_000 + b"\n",
        ["{f}:2: a field in this row is longer than 131,072 characters (is a quote never closed?)"],
    ),
    Case("t.csv", b"id,text\na,x\nb,y,z\n", ["{f}:3 (id b): row has 3 cells but the header has 2"]),
    Case("t.csv", b"text,voice\nx,a\ny,b,c\n", ["{f}:3 (id 2): row has 3 cells but the header has 2"]),
    Case("t.csv", b"id;text\r\n1;x\r\n2;y;z\r\n", ["{f}:3 (id 2): row has 3 cells but the header has 2"]),
    Case("t.csv", b"\n  \n", ["{f}: the file is empty; its first row must name the columns"]),
    Case("t.csv", b"", ["{f}: the file is empty; its first row must name the columns"]),
    # --- headers
    Case("t.csv", b"id,,text\n1,2,3\n", ["{f}:1:#2: empty column name"]),
    Case(
        "t.csv",
        b"id,prompt_audio,Prompt Audio\n1,a.wav,b.wav\n",
        ["{f}:1:Prompt Audio: duplicate column name; column #2 is 'prompt_audio'"],
    ),
    Case("t.csv", b"Text,TEXT\nx,y\n", ["{f}:1:TEXT: duplicate column name; column #1 is 'Text'"]),
    # --- ids
    Case(
        "t.csv",
        b"id,text\na,x\nb,y\na,z\n",
        ["{f}:4:id: duplicate id 'a' (first used on row 2)"],
    ),
    Case(
        "t.csv",  # a duplicate id hides nothing else
        b"id,text\na,x\na,y\n,z\nb,w,extra\n",
        [
            "{f}:3:id: duplicate id 'a' (first used on row 2)",
            "{f}:4:id: empty id",
            "{f}:5 (id b): row has 3 cells but the header has 2",
        ],
    ),
    Case("t.csv", b"ID,text\n  ,x\n", ["{f}:2:ID: empty id"]),
    # --- joined files
    Case(
        "t.csv",
        b"\xef\xbb\xbfid,text\n1,a\n\xef\xbb\xbfid,text\n2,b\n",
        ["{f}:3: a byte-order mark (U+FEFF) starts this line (were two files joined?); delete it"],
    ),
    # --- JSONL
    Case("t.jsonl", b'{"text": "ok"}\n{"text": oops}\n', ["{f}:2: not a JSON object: Expecting value (column 10)"]),
    Case("t.jsonl", b'{"text": "ok"\n', ["{f}:1: not a JSON object: Expecting ',' delimiter (column 14)"]),
    Case("t.jsonl", b'[1, 2]\n{"text": "ok"}\n', ["{f}:1: not a JSON object: found an array"]),
    Case("t.jsonl", b'"just text"\n', ["{f}:1: not a JSON object: found a string"]),
    Case("t.jsonl", b"null\n", ["{f}:1: not a JSON object: found null"]),
    Case("t.jsonl", b'{"id": 1.5, "text": "x"}\n', ["{f}:1:id: id must be a string or an integer, not 1.5"]),
    Case("t.jsonl", b'{"id": "a"}\n{"text": "x"}\n', ["{f}:2:id: missing id"]),
    Case(
        "t.jsonl",
        b'{"text": "a"}\n{"Text": "b"}\n',
        ["{f}:2 (id 2):Text: key clashes with 'text' (names are matched ignoring case, spaces, - and _)"],
    ),
    # --- files that are not task files
    Case("nope.csv", missing, ["{f}: no such file"]),
    Case("dir.csv", folder, ["{f}: is a directory, not a task file"]),
    Case(
        "tasks.json",
        b"[]",
        ["{f}: unsupported file type '.json'; use one of .csv, .tsv, .tab, .jsonl, .ndjson, .txt, .xlsx"],
    ),
    Case(
        "t.csv",
        b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00",
        [
            "{f}: the file holds NUL bytes: it is not a text file, or it is UTF-16 without a byte-order mark"
            " in a byte order that could not be told; pass --encoding (e.g. utf-16-le)"
        ],
    ),
    # --- encodings
    Case(
        "t.csv",
        b"id,text\n1,ok\n2,\x80\x81\x82\x83\x84\x85\n",
        [
            "{f}:3: the file is not UTF-8 (its first non-UTF-8 byte is on this line), and it does not read as"
            " text in any encoding gbatch recognises; pass --encoding with the encoding it was saved in"
        ],
    ),
    Case(
        "t.csv",
        "id,text\n1,Un dépôt naïve.\n".encode("cp1252"),
        [
            "{f}:2: cannot tell which encoding the file is in; this line reads as cp1252: '1,Un dépôt naïve.',"
            " as cp1250: '1,Un dépôt naďve.'. Pass --encoding with the right one (e.g. --encoding cp1252)"
        ],
    ),
    Case(
        "t.csv",
        "id,text\n1,今日は\n".encode("iso2022_jp"),
        ["{f}:2: the file looks ISO-2022 encoded (it has escape sequences); pass --encoding, e.g. iso2022_jp"],
    ),
    # --- xlsx
    Case(
        "t.xlsx",
        xlsx(["id", "text", None, "speed"], ["1", "a", "b", "1"], merge="B1:C1"),  # merging leaves C1 empty
        ["{f}:1:#3: empty column name"],
    ),
    Case("t.xlsx", xlsx(["id", "text"], ["a", "x"], ["a", "y"]), ["{f}:3:id: duplicate id 'a' (first used on row 2)"]),
    Case("t.xlsx", xlsx(["id", "text"], ["a", "x", "stray"]), ["{f}:2 (id a): row has 3 cells but the header has 2"]),
]

SPEED = Column("speed", "float", minimum=0.5, maximum=2.0)
SEED = Column("seed", "int", minimum=0, maximum=2**32 - 1)
CELL_CASES = [
    Case("t.csv", b"id,speed\na,nan\n", ["{f}:2 (id a):speed: expected a finite number, got 'nan'"], {"speed": SPEED}),
    Case("t.csv", b"id,speed\na,-inf\n", ["{f}:2 (id a):speed: expected a finite number, got '-inf'"], {"speed": SPEED}),
    Case("t.csv", b"id,speed\na,3.0\n", ["{f}:2 (id a):speed: 3.0 is above the maximum 2"], {"speed": SPEED}),
    Case("t.csv", b"id,speed\na,0.1\n", ["{f}:2 (id a):speed: 0.1 is below the minimum 0.5"], {"speed": SPEED}),
    Case("t.csv", b"text,speed\nx,1,5\n", ["{f}:2 (id 1): row has 3 cells but the header has 2"], {"speed": SPEED}),
    Case("t.csv", b"id,speed\na,fast\n", ["{f}:2 (id a):speed: expected a number, got 'fast'"], {"speed": SPEED}),
    Case("t.csv", b"id,seed\na,1.5\n", ["{f}:2 (id a):seed: expected a whole number, got '1.5'"], {"seed": SEED}),
    Case("t.csv", b"id,seed\na,-1\n", ["{f}:2 (id a):seed: -1 is below the minimum 0"], {"seed": SEED}),
    Case(
        "t.csv", b"id,seed\na,4294967296\n", ["{f}:2 (id a):seed: 4294967296 is above the maximum 4294967295"], {"seed": SEED}
    ),
    Case("t.jsonl", b'{"id": "a", "seed": true}\n', ["{f}:1 (id a):seed: expected a whole number, got True"], {"seed": SEED}),
    Case(
        "t.csv",
        b"id,stream\na,maybe\n",
        ["{f}:2 (id a):stream: expected true or false, got 'maybe'"],
        {"stream": Column("stream", "bool")},
    ),
    Case(
        "t.csv",
        b"id,mode\na,whisper\n",
        ["{f}:2 (id a):mode: 'whisper' is not one of: 'zero_shot', 'cross_lingual', 'instruct', 'sft'"],
        {"mode": Column("mode", "text", choices=MODES)},
    ),
    Case(
        "t.csv",
        b'id,options\na,"{""a"": 1"\n',
        ["{f}:2 (id a):options: not valid JSON (Expecting ',' delimiter at character 7)"],
        {"options": Column("options", "json")},
    ),
    Case(
        "t.csv",
        b'id,tags\na,"[1, 2"\n',
        ["{f}:2 (id a):tags: not valid JSON (Expecting ',' delimiter at character 5)"],
        {"tags": Column("tags", "list")},
    ),
    Case("t.csv", b"id;speed\na;1,5\n", ["{f}:2 (id a):speed: expected a number, got '1,5'"], {"speed": SPEED}),
    Case("t.csv", b"id,seed\na,1e400\n", ["{f}:2 (id a):seed: expected a whole number, got '1e400'"], {"seed": SEED}),
    Case(
        "t.csv",
        b"id,prompt_audio\na,missing.wav\n",
        ["{f}:2 (id a):prompt_audio: file not found: {dir}/missing.wav"],
        {"prompt_audio": Column("prompt_audio", "file")},
    ),
    Case(
        "t.csv",
        b"id,prompt_audio\na,.\n",
        ["{f}:2 (id a):prompt_audio: not a file: {dir}"],
        {"prompt_audio": Column("prompt_audio", "file")},
    ),
    Case(
        "t.csv",
        b"id,refs\na,one.wav;missing.wav\n",
        ["{f}:2 (id a):refs: file not found: {dir}/missing.wav"],
        {"refs": Column("refs", "files")},
    ),
]


def check_cells(path: Path, columns: dict[str, Column]) -> list[TaskFileProblem]:
    """Convert every cell of `columns` as the runner does, collecting a problem for each failure."""
    problems: list[TaskFileProblem] = []
    tasks = read_tasks(path, problems=problems)
    for row in tasks.rows:
        for header, column in columns.items():
            try:
                column.convert(row.values.get(header), path.parent)
            except ValueError as exc:
                problems.append(TaskFileProblem(str(path), row.line, header, str(exc), id=row.id))
    return sorted(problems, key=lambda p: p.row or 0)


def found(tmp_path: Path, case: Case) -> list[str]:
    path = tmp_path / case.name
    if callable(case.data):
        case.data(path)
    else:
        path.write_bytes(case.data)
    (tmp_path / "one.wav").write_bytes(b"RIFF")
    try:
        problems = check_cells(path, case.columns)
    except ValidationError as exc:
        problems = exc.problems
    return [str(p) for p in problems]


def expected(tmp_path: Path, case: Case) -> list[str]:
    resolved = str(tmp_path.resolve())
    return [e.replace("{f}", str(tmp_path / case.name)).replace("{dir}", resolved) for e in case.expected]


@pytest.mark.parametrize("case", FILE_CASES + CELL_CASES, ids=lambda c: c.expected[0].split(": ", 1)[1][:50])
def test_bad_input_is_located(tmp_path: Path, case: Case) -> None:
    assert found(tmp_path, case) == expected(tmp_path, case)


def test_the_corpus_is_large_enough() -> None:
    assert len(FILE_CASES) + len(CELL_CASES) >= 30


def test_every_problem_has_a_location(tmp_path: Path) -> None:
    # Row-level problems carry a line, and the ones about a cell its column too.
    for case in FILE_CASES + CELL_CASES:
        for line in expected(tmp_path, case):
            assert line.startswith(str(tmp_path / case.name))


def test_problems_as_json_for_scripts(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"id,speed\na,3\nb,x\n")
    problems = check_cells(path, {"speed": SPEED})
    assert [p.to_json() for p in problems] == [
        {"file": str(path), "line": 2, "id": "a", "column": "speed", "message": "3.0 is above the maximum 2"},
        {"file": str(path), "line": 3, "id": "b", "column": "speed", "message": "expected a number, got 'x'"},
    ]

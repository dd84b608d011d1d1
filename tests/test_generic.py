"""Generic mode end to end: `gbatch run URL tasks.csv --api /name` against real gradio apps.

Every app records the calls it receives (`apps.Calls`), so "nothing was sent"
is checked on the server side, not inferred from our own output.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from .apps import TYPED_DEFAULTS, Calls, auth_app, files_app, multi_app, queue_app, typed_app
from .conftest import CliResult, ServeFn, free_port

# gradio 6.31's queue analytics (run in the server, inside our process) call pandas APIs that
# pandas 3 deprecates; with filterwarnings=error that kills the server's analytics task.
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting.*"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

Cli = Callable[..., CliResult]
PASSWORD = "s3cret-Passw0rd"  # long enough to be redacted, and to be searched for


class App(NamedTuple):
    url: str
    calls: Calls


# --- helpers -----------------------------------------------------------------


def write_csv(path: Path, rows: list[list[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def journal(out: Path) -> list[dict[str, Any]]:
    """Every record of the journal, in order."""
    lines = (out / "gbatch-journal.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def latest(out: Path) -> dict[str, dict[str, Any]]:
    """The last journal record of each row id."""
    return {r["id"]: r for r in journal(out)}


def results(out: Path) -> list[dict[str, str]]:
    with (out / "results.csv").open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def run(cli: Cli, app: App, tasks: Path, out: Path, *args: Any) -> CliResult:
    return cli("run", app.url, tasks, "--out", out, *args)


# --- apps, one server each per module; each test starts with a clean record ----


def _app(serve: ServeFn, build: Callable[[Calls], Any], **launch: Any) -> App:
    calls = Calls()
    return App(serve(build(calls), **launch), calls)


@pytest.fixture(scope="module")
def _typed(serve_module: ServeFn) -> App:
    return _app(serve_module, typed_app)


@pytest.fixture(scope="module")
def _files(serve_module: ServeFn) -> App:
    return _app(serve_module, files_app)


@pytest.fixture(scope="module")
def _multi(serve_module: ServeFn) -> App:
    return _app(serve_module, multi_app)


@pytest.fixture(scope="module")
def _auth(serve_module: ServeFn) -> App:
    return _app(serve_module, auth_app, auth=("u", PASSWORD))


def _fresh(app: App) -> Iterator[App]:
    app.calls.reset()
    yield app


@pytest.fixture
def typed(_typed: App) -> Iterator[App]:
    yield from _fresh(_typed)


@pytest.fixture
def files(_files: App) -> Iterator[App]:
    yield from _fresh(_files)


@pytest.fixture
def multi(_multi: App) -> Iterator[App]:
    yield from _fresh(_multi)


@pytest.fixture
def auth(_auth: App) -> Iterator[App]:
    yield from _fresh(_auth)


# --- plain values --------------------------------------------------------------


def test_text_in_text_out(cli: Cli, multi: App, in_tmp: Path) -> None:
    tasks = write_csv(in_tmp / "t.csv", [["id", "text"], ["a", "hello"], ["b", " héllo, 世界 "], ["c", 'say "hi"']])
    res = run(cli, multi, tasks, in_tmp / "out", "--api", "/first")
    assert res.exit_code == 0, res.output
    out = in_tmp / "out"
    assert sorted(multi.calls.of("/first")) == [" héllo, 世界 ", "hello", 'say "hi"']
    records = latest(out)
    assert len(journal(out)) == 3
    assert {k: (r["status"], r["attempts"], r["values"], r["outputs"], r["error"]) for k, r in records.items()} == {
        "a": ("ok", 1, {"Result": "first:hello"}, [], None),
        "b": ("ok", 1, {"Result": "first: héllo, 世界 "}, [], None),
        "c": ("ok", 1, {"Result": 'first:say "hi"'}, [], None),
    }
    assert records["a"]["backend"] == multi.url
    table = results(out)
    assert [(r["id"], r["status"], r["attempts"], r["error"], r["out.Result"]) for r in table] == [
        ("a", "ok", "1", "", "first:hello"),
        ("b", "ok", "1", "", "first: héllo, 世界 "),
        ("c", "ok", "1", "", 'first:say "hi"'),
    ]
    assert sorted(p.name for p in out.iterdir()) == [".gbatch-claims", ".gbatch-lock", "gbatch-journal.jsonl", "results.csv", "review.html"]


def test_every_plain_kind_reaches_the_app_typed(cli: Cli, typed: App, in_tmp: Path) -> None:
    """Headers by label or name in any spelling; numbers, choices (by value or display label,
    index dropdown, boolean radio, a dropdown that allows custom values), checkbox spellings,
    slider limits, lists, JSON cells and dataframes (full or bare rows).
    Empty cells take the endpoint's defaults. No --api: the app has one endpoint."""
    header = ["id", "PROMPT-TEXT", "count", "colour choice", "Size_Index", "speed", "enabled", "shout", "LEVEL", "tags", "Meta", "table", "mood"]
    rows = [
        ["r1", "hi", "7", "Blue", "large", "Slow mode", "Drop it", "yes", "2.5", "a; c", '{"k": [1, 2]}', '{"headers": ["x", "y"], "data": [[1, 2], [3, 4]]}', "sleepy"],
        ["r2", "two words ", "1", "green", "medium", "fast", "true", "no", "0", '["b"]', '[1, "x", null]', '{"headers": ["x", "y"], "data": [[5, 6]]}', "busy"],
        ["r3", "max", "10", "red", "small", "slow", "Keep it", "1", "5", "a|b|c", "42", "[[7, 8]]", ""],
        ["r4", "zero", "", "", "", "", "false", "0", "", "", "", "", ""],
        ["r5", "t", "", "", "", "Fast mode", "", "true", "4.5", "", "", "", ""],
        ["r6", "f", "", "", "", "", "", "false", "", "", "", "", ""],
    ]
    tasks = write_csv(in_tmp / "kinds.csv", [header, *rows])
    res = cli("run", typed.url, tasks, "--out", in_tmp / "out")
    assert res.exit_code == 0, res.output
    expected = {
        "r1": {**TYPED_DEFAULTS, "text": "hi", "count": 7, "colour": "blue", "size": 2, "speed": "slow", "enabled": False,
               "shout": True, "level": 2.5, "tags": ["a", "c"], "meta": {"k": [1, 2]}, "table": [[1, 2], [3, 4]],
               "mood": "sleepy"},
        "r2": {**TYPED_DEFAULTS, "text": "two words ", "count": 1, "colour": "green", "size": 1, "speed": "fast",
               "enabled": True, "shout": False, "level": 0, "tags": ["b"], "meta": [1, "x", None], "table": [[5, 6]],
               "mood": "busy"},
        "r3": {**TYPED_DEFAULTS, "text": "max", "count": 10, "colour": "red", "size": 0, "speed": "slow", "enabled": True,
               "shout": True, "level": 5, "tags": ["a", "b", "c"], "meta": 42, "table": [[7, 8]]},
        "r4": {**TYPED_DEFAULTS, "text": "zero", "enabled": False, "shout": False},
        "r5": {**TYPED_DEFAULTS, "text": "t", "speed": "fast", "shout": True, "level": 4.5},
        "r6": {**TYPED_DEFAULTS, "text": "f", "shout": False},
    }
    records = latest(in_tmp / "out")
    assert {k: json.loads(r["values"]["Echo"]) for k, r in records.items()} == expected
    assert sorted(typed.calls.of("/typed"), key=lambda got: got["text"]) == sorted(expected.values(), key=lambda got: got["text"])
    # exact types matter: the index dropdown sends an int, the boolean radio a real bool
    got = {g["text"]: g for g in typed.calls.of("/typed")}
    assert type(got["hi"]["size"]) is int and got["hi"]["enabled"] is False and got["max"]["enabled"] is True
    table = results(in_tmp / "out")
    assert [(r["id"], r["status"]) for r in table] == [(f"r{n}", "ok") for n in range(1, 7)]
    assert {r["id"]: json.loads(r["out.Echo"]) for r in table} == expected


def test_only_the_required_column_takes_every_default(cli: Cli, typed: App, in_tmp: Path) -> None:
    tasks = write_csv(in_tmp / "t.csv", [["text"], ["just text"]])
    res = cli("run", typed.url, tasks, "--out", in_tmp / "out", "--api", "/typed")
    assert res.exit_code == 0, res.output
    assert typed.calls.of("/typed") == [{**TYPED_DEFAULTS, "text": "just text"}]
    assert [r["id"] for r in journal(in_tmp / "out")] == ["1"]


def test_a_textbox_without_a_column_is_sent_as_the_untouched_page_sends_it(cli: Cli, typed: App, in_tmp: Path) -> None:
    """No column feeds the Textbox: every row sends "", as a page whose box nobody typed in
    (a missing column the page cannot do without is refused: tests/test_every_version.py)."""
    tasks = write_csv(in_tmp / "t.csv", [["count", "shout"], ["2", "yes"]])
    res = cli("run", typed.url, tasks, "--out", in_tmp / "out")
    assert res.exit_code == 0, res.output
    assert [(got["text"], got["count"], got["shout"]) for got in typed.calls.of("/typed")] == [("", 2, True)]


def test_a_parameter_name_wins_over_another_parameters_label(cli: Cli, multi: App, in_tmp: Path) -> None:
    tasks = write_csv(in_tmp / "t.csv", [["a", "b"], ["one", "two"]])
    res = run(cli, multi, tasks, in_tmp / "out", "--api", "/swap")
    assert res.exit_code == 0, res.output
    assert multi.calls.of("/swap") == [("one", "two")]


def test_a_column_fed_by_both_name_and_label(cli: Cli, typed: App, in_tmp: Path) -> None:
    tasks = write_csv(in_tmp / "t.csv", [["text", "count", "How Many"], ["x", "2", "3"]])
    res = cli("run", typed.url, tasks, "--out", in_tmp / "out")
    assert res.exit_code == 2
    assert f"{tasks}:1:How Many: both 'count' and 'How Many' feed 'count'" in res.stderr
    assert typed.calls.count == 0


def test_out_of_range_and_bad_values_are_reported_before_sending(cli: Cli, typed: App, in_tmp: Path) -> None:
    tasks = write_csv(
        in_tmp / "t.csv",
        [
            ["id", "Prompt Text", "How Many", "Level", "Colour Choice", "shout", "tags"],
            ["ok", "fine", "3", "1", "red", "yes", "a"],
            ["big", "x", "11", "", "", "", ""],
            ["small", "x", "0", "", "", "", ""],
            ["slide", "x", "", "5.5", "", "", ""],
            ["word", "x", "abc", "-0.5", "", "", ""],
            ["frac", "x", "7.5", "", "purple", "maybe", "a;z"],
            ["empty", "", "", "", "", "", ""],
        ],
    )
    res = cli("run", typed.url, tasks, "--out", in_tmp / "out")
    assert res.exit_code == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert lines == [
        f"Error: {tasks}:3 (id big):How Many: 11 is above the maximum 10",
        f"{tasks}:4 (id small):How Many: 0 is below the minimum 1",
        f"{tasks}:5 (id slide):Level: 5.5 is above the maximum 5",
        f"{tasks}:6 (id word):How Many: expected a whole number, got 'abc'",
        f"{tasks}:6 (id word):Level: -0.5 is below the minimum 0",
        f"{tasks}:7 (id frac):How Many: expected a whole number, got '7.5'",
        f"{tasks}:7 (id frac):Colour Choice: 'purple' is not one of: 'red', 'green', 'blue'",
        f"{tasks}:7 (id frac):shout: expected true or false, got 'maybe'",
        f"{tasks}:7 (id frac):tags: 'z' is not one of: 'a', 'b', 'c'",
        "9 problems in the task file; nothing was sent.",
    ]
    assert typed.calls.count == 0  # not even the valid first row
    assert not (in_tmp / "out" / "gbatch-journal.jsonl").exists()


def test_a_cell_that_looks_like_markup_is_shown_as_written(cli: Cli, typed: App, in_tmp: Path) -> None:
    tasks = write_csv(in_tmp / "t.csv", [["text", "count"], ["x", "[red]"]])
    res = cli("run", typed.url, tasks, "--out", in_tmp / "out")
    assert res.exit_code == 2
    assert f"{tasks}:2 (id 1):count: expected a whole number, got '[red]'" in res.stderr


def test_dry_run_shows_the_mapped_call_and_sends_nothing(cli: Cli, typed: App, in_tmp: Path) -> None:
    tasks = write_csv(
        in_tmp / "t.csv",
        [["id", "Prompt Text", "How Many", "Size Index", "Speed", "Tags"], ["r1", "hi", "7", "large", "Slow mode", "a;b"], ["r2", "yo", "", "", "", ""]],
    )
    res = cli("run", typed.url, tasks, "--out", in_tmp / "out", "--dry-run")
    assert res.exit_code == 0, res.output
    assert "Dry run: 2 row(s) would be sent, 0 already done; nothing was sent." in res.stdout
    shown = [line.strip() for line in res.stdout.splitlines() if line.startswith("  ")]
    first = [
        "text = 'hi'",
        "count = 7",
        "colour = 'red'",
        "size = 'large'",
        "speed = 'slow'",
        "enabled = True",
        "shout = False",
        "level = 1",
        "tags = ['a', 'b']",
        "meta = {'k': 0}",
        "table = {'headers': ['x', 'y'], 'data': [], 'metadata': None}",
        "mood = 'calm'",
    ]
    assert shown[: len(first)] == first
    assert shown[len(first)] == "text = 'yo'"
    assert typed.calls.count == 0
    assert not (in_tmp / "out" / "gbatch-journal.jsonl").exists()
    assert not (in_tmp / "out" / "results.csv").exists()


# --- files ---------------------------------------------------------------------


PIXELS = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]], [[10, 20, 30], [40, 50, 60], [70, 80, 90]]], dtype=np.uint8)
SAMPLES = (np.arange(-8, 8, dtype=np.int16) * 1000).astype(np.int16)
DOC = b"hello world\n"


@pytest.fixture
def media(in_tmp: Path) -> Path:
    """A task folder (not the working directory) with media/pic.png, media/snd.wav, media/doc.txt."""
    folder = in_tmp / "tasks" / "media"
    folder.mkdir(parents=True)
    Image.fromarray(PIXELS).save(folder / "pic.png")
    sf.write(folder / "snd.wav", SAMPLES, 8000, subtype="PCM_16")
    (folder / "doc.txt").write_bytes(DOC)
    return in_tmp / "tasks"


def test_file_inputs_and_several_outputs(cli: Cli, files: App, media: Path, in_tmp: Path) -> None:
    tasks = write_csv(
        media / "jobs.csv",
        [
            ["id", "Picture", "snd", "Document", "note"],
            ["1", "media/pic.png", "media/snd.wav", "media/doc.txt", "!"],
            ["2", "", "", str(media / "media" / "doc.txt"), ""],  # an absolute path works too
        ],
    )
    out = in_tmp / "out"
    res = cli("run", files.url, tasks, "--out", out, "--api", "/files")
    assert res.exit_code == 0, res.output
    assert sorted(files.calls.of("/files"), key=lambda got: got["doc"] + str(got["pic"])) == [
        {"pic": None, "snd": None, "doc": "doc.txt"},
        {"pic": "pic.png", "snd": "snd.wav", "doc": "doc.txt"},
    ]
    records = latest(out)
    assert records["1"]["outputs"] == ["1.Flipped.png", "1.Reversed.wav", "1.Shouted.txt"]
    assert records["1"]["values"] == {"Summary": "image 3x2, sound 16@8000, document 12 bytes"}
    # the same output keeps the same name when other outputs of the row are empty
    assert records["2"]["outputs"] == ["2.Shouted.txt"]
    assert records["2"]["values"]["Summary"] == "no image, no sound, document 12 bytes"

    assert np.array_equal(np.asarray(Image.open(out / "1.Flipped.png").convert("RGB")), PIXELS[:, ::-1])
    assert (out / "1.Flipped.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data, rate = sf.read(out / "1.Reversed.wav", dtype="int16")
    assert rate == 8000 and np.array_equal(data, SAMPLES[::-1])
    assert (out / "1.Reversed.wav").read_bytes()[:4] == b"RIFF"
    assert (out / "1.Shouted.txt").read_bytes() == b"HELLO WORLD\n!"
    assert (out / "2.Shouted.txt").read_bytes() == b"HELLO WORLD\n"
    table = results(out)
    assert [(r["id"], r["status"], r["outputs"], r["out.Summary"]) for r in table] == [
        ("1", "ok", "1.Flipped.png;1.Reversed.wav;1.Shouted.txt", "image 3x2, sound 16@8000, document 12 bytes"),
        ("2", "ok", "2.Shouted.txt", "no image, no sound, document 12 bytes"),
    ]


def test_a_single_file_output_is_named_after_the_row(cli: Cli, files: App, media: Path, in_tmp: Path) -> None:
    tasks = write_csv(media / "one.csv", [["id", "Text File"], ["loud", "media/doc.txt"]])
    res = cli("run", files.url, tasks, "--out", in_tmp / "out", "--api", "/shout")
    assert res.exit_code == 0, res.output
    assert files.calls.of("/shout") == ["doc.txt"]
    assert latest(in_tmp / "out")["loud"]["outputs"] == ["loud.txt"]
    assert (in_tmp / "out" / "loud.txt").read_bytes() == b"HELLO WORLD\n"


def test_outputs_sharing_a_label_keep_both_files(cli: Cli, files: App, media: Path, in_tmp: Path) -> None:
    (media / "media" / "mixed.txt").write_bytes(b"MiXeD")
    tasks = write_csv(media / "twins.csv", [["id", "text_file"], ["m", "media/mixed.txt"]])
    res = cli("run", files.url, tasks, "--out", in_tmp / "out", "--api", "/twins")
    assert res.exit_code == 0, res.output
    assert latest(in_tmp / "out")["m"]["outputs"] == ["m.Copy.txt", "m.Copy_1.txt"]
    assert (in_tmp / "out" / "m.Copy.txt").read_bytes() == b"MIXED"
    assert (in_tmp / "out" / "m.Copy_1.txt").read_bytes() == b"mixed"


def test_a_missing_input_file_is_a_validation_error(cli: Cli, files: App, media: Path, in_tmp: Path) -> None:
    tasks = write_csv(
        media / "jobs.csv",
        [["id", "Picture", "Document"], ["1", "media/pic.png", "media/doc.txt"], ["2", "media/nope.png", "media"]],
    )
    res = cli("run", files.url, tasks, "--out", in_tmp / "out", "--api", "/files")
    assert res.exit_code == 2
    assert f"{tasks}:3 (id 2):Picture: file not found: {media / 'media' / 'nope.png'}" in res.stderr
    assert f"{tasks}:3 (id 2):Document: not a file: {media / 'media'}" in res.stderr
    assert files.calls.count == 0


# --- failures, generators, concurrency ------------------------------------------


def test_app_errors_fail_only_their_rows_and_are_not_retried(cli: Cli, multi: App, in_tmp: Path) -> None:
    multi.calls.broken = {"b", "d"}
    tasks = write_csv(in_tmp / "t.csv", [["text"], ["a"], ["b"], ["c"], ["d"], ["crash"]])
    res = run(cli, multi, tasks, in_tmp / "out", "--api", "/shaky")
    assert res.exit_code == 1, res.output
    assert sorted(multi.calls.of("/shaky")) == ["a", "b", "c", "crash", "d"]  # once each: no retries
    hidden = "the app raised an error (the server hides the details: no show_error=True; see its log)"
    records = latest(in_tmp / "out")
    assert {k: (r["status"], r["attempts"], r["error"], r["values"]) for k, r in records.items()} == {
        "1": ("ok", 1, None, {"Result": "ok:a"}),
        "2": ("failed", 1, "the app raised an error: bad thing", {}),
        "3": ("ok", 1, None, {"Result": "ok:c"}),
        "4": ("failed", 1, "the app raised an error: bad thing", {}),
        "5": ("failed", 1, hidden, {}),
    }
    assert [(r["id"], r["status"], r["attempts"], r["error"], r["out.Result"]) for r in results(in_tmp / "out")] == [
        ("1", "ok", "1", "", "ok:a"),
        ("2", "failed", "1", "the app raised an error: bad thing", ""),
        ("3", "ok", "1", "", "ok:c"),
        ("4", "failed", "1", "the app raised an error: bad thing", ""),
        ("5", "failed", "1", hidden, ""),
    ]
    # (no "Traceback" check here: the in-process server logs the app's own traceback to stderr)


def test_a_generator_endpoint_keeps_its_final_value(cli: Cli, multi: App, in_tmp: Path) -> None:
    tasks = write_csv(in_tmp / "t.csv", [["text"], ["x"]])
    res = run(cli, multi, tasks, in_tmp / "out", "--api", "/countdown")
    assert res.exit_code == 0, res.output
    assert multi.calls.of("/countdown") == ["x:3", "x:2", "x:1", "x:liftoff"]
    assert latest(in_tmp / "out")["1"]["values"] == {"Result": "x:liftoff"}
    assert [r["out.Result"] for r in results(in_tmp / "out")] == ["x:liftoff"]


def test_more_rows_in_flight_than_the_server_runs_at_once(cli: Cli, serve: ServeFn, in_tmp: Path) -> None:
    app = _app(serve, queue_app)
    texts = ["a", "b", "c", "d", "e", "f"]
    tasks = write_csv(in_tmp / "t.csv", [["text"], *([t] for t in texts)])
    res = run(cli, app, tasks, in_tmp / "out", "-j", "6")
    assert res.exit_code == 0, res.output
    assert sorted(app.calls.of("/slow")) == texts
    assert app.calls.peak <= 2  # the server's default_concurrency_limit held
    records = latest(in_tmp / "out")
    assert {k: (r["status"], r["attempts"], r["values"]) for k, r in records.items()} == {
        str(n): ("ok", 1, {"Loud": t.upper()}) for n, t in enumerate(texts, 1)
    }


# --- login ----------------------------------------------------------------------


def _secret_free(res: CliResult, out: Path, secret: str) -> None:
    assert secret not in res.output
    for path in out.glob("*"):
        assert secret not in path.read_text(encoding="utf-8", errors="replace"), path


def test_login_with_auth(cli: Cli, auth: App, in_tmp: Path) -> None:
    tasks = write_csv(in_tmp / "t.csv", [["id", "name"], ["ann", "Ann"]])
    res = run(cli, auth, tasks, in_tmp / "out", "--auth", f"u:{PASSWORD}")
    assert res.exit_code == 0, res.output
    assert auth.calls.of("/greet") == ["Ann"]
    record = latest(in_tmp / "out")["ann"]
    assert (record["outputs"], record["values"]) == (["ann.txt"], {"Greeting": "hello Ann"})
    # the file is downloaded with the login's cookies
    assert (in_tmp / "out" / "ann.txt").read_bytes() == b"Dear Ann"
    _secret_free(res, in_tmp / "out", PASSWORD)


def test_login_needed_but_not_given(cli: Cli, auth: App, in_tmp: Path) -> None:
    tasks = write_csv(in_tmp / "t.csv", [["name"], ["Ann"]])
    res = run(cli, auth, tasks, in_tmp / "out")
    assert res.exit_code == 2, res.output
    assert "login failed (check --auth / --token)" in res.stderr
    assert "Traceback" not in res.output
    assert auth.calls.count == 0


def test_wrong_password_is_a_clean_error(cli: Cli, auth: App, in_tmp: Path) -> None:
    tasks = write_csv(in_tmp / "t.csv", [["name"], ["Ann"]])
    wrong = "not-the-Passw0rd"
    res = run(cli, auth, tasks, in_tmp / "out", "--auth", f"u:{wrong}")
    assert res.exit_code != 0
    assert res.stdout == ""
    assert "Traceback" not in res.output
    assert auth.calls.count == 0
    _secret_free(res, in_tmp / "out", wrong)


def test_wrong_password_exits_2_saying_login_failed(cli: Cli, auth: App, in_tmp: Path) -> None:
    tasks = write_csv(in_tmp / "t.csv", [["name"], ["Ann"]])
    res = run(cli, auth, tasks, in_tmp / "out", "--auth", "u:not-the-Passw0rd")
    assert res.exit_code == 2, res.output
    assert "login failed" in res.stderr


# --- endpoints --------------------------------------------------------------------


def test_several_endpoints_that_fit_need_api(cli: Cli, multi: App, in_tmp: Path) -> None:
    """Only the endpoints the columns fit are a choice: /swap(a, b) takes no "text"."""
    texts = write_csv(in_tmp / "texts.csv", [["text"], ["ab"]])
    res = run(cli, multi, texts, in_tmp / "out")
    assert res.exit_code == 2
    assert f"{multi.url} has 4 endpoints that fit the task file's columns; choose one with --api:" in res.stderr
    for signature in ("/first(text)", "/second(text, times)", "/shaky(text)", "/countdown(text)"):
        assert signature in res.stderr
    assert "/swap" not in res.stderr
    assert multi.calls.count == 0

    neither = write_csv(in_tmp / "neither.csv", [["prompt"], ["ab"]])
    res = run(cli, multi, neither, in_tmp / "out")
    assert res.exit_code == 2
    assert f"{multi.url} has 5 endpoints and none with a name fits the task file's columns; choose one with --api:" in res.stderr
    assert "/swap(a, b)" in res.stderr


def test_the_endpoint_that_uses_every_column_is_chosen_and_said(cli: Cli, multi: App, in_tmp: Path) -> None:
    tasks = write_csv(in_tmp / "t.csv", [["text", "times"], ["ab", "3"]])
    res = run(cli, multi, tasks, in_tmp / "auto")
    assert res.exit_code == 0, res.output
    assert "using /second, the named endpoint that fits the task file's columns (not /first, /shaky, /countdown, /swap;" in res.stderr
    assert multi.calls.of("/second") == [("ab", 3)]
    multi.calls.reset()

    res = run(cli, multi, tasks, in_tmp / "out", "--api", "/nope")
    assert res.exit_code == 2
    assert f"{multi.url} has no endpoint '/nope'. Its endpoints:" in res.stderr
    assert "/second(text, times)" in res.stderr
    assert multi.calls.count == 0

    res = run(cli, multi, tasks, in_tmp / "out", "--api", "/second")
    assert res.exit_code == 0, res.output
    assert multi.calls.of("/second") == [("ab", 3)]
    assert latest(in_tmp / "out")["1"]["values"] == {"Result": "ab-ab-ab"}


# --- resume ----------------------------------------------------------------------


def test_resume_rerun_changed_row_and_restart(cli: Cli, multi: App, in_tmp: Path) -> None:
    out = in_tmp / "out"
    tasks = write_csv(in_tmp / "t.csv", [["id", "text"], ["a", "one"], ["b", "two"], ["c", "three"]])
    assert run(cli, multi, tasks, out, "--api", "/first").exit_code == 0
    assert sorted(multi.calls.of("/first")) == ["one", "three", "two"]

    multi.calls.reset()
    res = run(cli, multi, tasks, out, "--api", "/first")
    assert res.exit_code == 0, res.output
    assert multi.calls.count == 0
    assert len(journal(out)) == 3
    assert [(r["id"], r["status"], r["out.Result"]) for r in results(out)] == [
        ("a", "ok", "first:one"), ("b", "ok", "first:two"), ("c", "ok", "first:three")
    ]

    write_csv(tasks, [["id", "text"], ["a", "one"], ["b", "TWO"], ["c", "three"]])
    res = run(cli, multi, tasks, out, "--api", "/first")
    assert res.exit_code == 0, res.output
    assert multi.calls.of("/first") == ["TWO"]
    assert [r["out.Result"] for r in results(out)] == ["first:one", "first:TWO", "first:three"]

    multi.calls.reset()
    res = run(cli, multi, tasks, out, "--api", "/first", "--restart")
    assert res.exit_code == 0, res.output
    assert sorted(multi.calls.of("/first")) == ["TWO", "one", "three"]
    assert len(journal(out)) == 3 + 1 + 3


def test_retry_failed_runs_only_failed_rows(cli: Cli, multi: App, in_tmp: Path) -> None:
    out = in_tmp / "out"
    tasks = write_csv(in_tmp / "t.csv", [["text"], ["a"], ["b"], ["c"]])
    multi.calls.broken = {"b", "c"}
    assert run(cli, multi, tasks, out, "--api", "/shaky").exit_code == 1

    multi.calls.reset()
    multi.calls.broken = {"c"}
    res = run(cli, multi, tasks, out, "--api", "/shaky", "--retry-failed")
    assert res.exit_code == 1, res.output
    assert sorted(multi.calls.of("/shaky")) == ["b", "c"]
    assert [(r["id"], r["status"]) for r in results(out)] == [("1", "ok"), ("2", "ok"), ("3", "failed")]

    multi.calls.reset()
    res = run(cli, multi, tasks, out, "--api", "/shaky", "--retry-failed")
    assert res.exit_code == 0, res.output
    assert multi.calls.of("/shaky") == ["c"]
    assert [(r["id"], r["status"], r["out.Result"]) for r in results(out)] == [("1", "ok", "ok:a"), ("2", "ok", "ok:b"), ("3", "ok", "ok:c")]


# --- no server ---------------------------------------------------------------------


def test_unreachable_server(cli: Cli, in_tmp: Path) -> None:
    tasks = write_csv(in_tmp / "t.csv", [["text"], ["a"]])
    url = f"http://127.0.0.1:{free_port()}/"
    res = cli("run", url, tasks, "--out", in_tmp / "out")
    assert res.exit_code == 3
    assert "No server could be reached" in res.stderr
    assert url in res.stderr
    assert "Traceback" not in res.output

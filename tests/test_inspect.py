"""`gbatch inspect URL [--api /x] [--template]` against real gradio apps, and the template round trip."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .apps import TYPED_DEFAULTS, Calls, auth_app, multi_app, typed_app
from .conftest import CliResult, ServeFn, free_port
from .test_generic import App, latest

# gradio 6.31's queue analytics (run in the server, inside our process) call pandas APIs that
# pandas 3 deprecates; with filterwarnings=error that kills the server's analytics task.
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting.*"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

Cli = Callable[..., CliResult]
PASSWORD = "an0ther-s3cret"


@pytest.fixture(scope="module")
def apps(serve_module: ServeFn) -> dict[str, App]:
    built = {}
    for name, build, launch in (
        ("typed", typed_app, {}),
        ("multi", multi_app, {}),
        ("auth", auth_app, {"auth": ("u", PASSWORD)}),
    ):
        calls = Calls()
        built[name] = App(serve_module(build(calls), **launch), calls)
    return built


@pytest.fixture
def typed(apps: dict[str, App]) -> Iterator[App]:
    apps["typed"].calls.reset()
    yield apps["typed"]


@pytest.fixture
def multi(apps: dict[str, App]) -> Iterator[App]:
    apps["multi"].calls.reset()
    yield apps["multi"]


@pytest.fixture
def auth(apps: dict[str, App]) -> App:
    return apps["auth"]


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich sizes tables to COLUMNS; wide enough that no cell wraps."""
    monkeypatch.setenv("COLUMNS", "250")


def table_rows(stdout: str) -> dict[str, list[str]]:
    """The body rows of the printed tables, by parameter name."""
    rows = {}
    for line in stdout.splitlines():
        if line.startswith("│"):
            cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
            rows[cells[0]] = cells
    return rows


def titles(stdout: str) -> list[str]:
    return [line.strip() for line in stdout.splitlines() if line.startswith("/")]


def test_inspect_lists_every_parameter(cli: Cli, typed: App) -> None:
    res = cli("inspect", typed.url, "--wide")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == f"{typed.url} (gradio 6.31.0): 1 endpoint(s)"
    assert titles(res.stdout) == ["/typed"]
    header = next(line for line in lines if line.startswith("┃"))
    assert [c.strip() for c in header.strip("┃").split("┃")] == [
        "parameter", "label", "component", "type", "default", "choices / limits", "required"
    ]
    assert table_rows(res.stdout) == {
        "text": ["text", "Prompt Text", "Textbox", "text", '""', "", "no"],  # an untouched Textbox sends ""
        "count": ["count", "How Many", "Number", "int", "3", "1 … 10", "no"],
        "colour": ["colour", "Colour Choice", "Dropdown", "choice", '"red"', '"red", "green", "blue"', "no"],
        "size": ["size", "Size Index", "Dropdown", "choice", '"small"', '"small", "medium", "large"', "no"],
        "speed": ["speed", "Speed", "Radio", "choice", '"fast"', '"fast" (Fast mode), "slow" (Slow mode)', "no"],
        "enabled": ["enabled", "Enabled", "Radio", "choice", "true", "true (Keep it), false (Drop it)", "no"],
        "shout": ["shout", "Shout", "Checkbox", "bool", "false", "", "no"],
        "level": ["level", "Level", "Slider", "float", "1", "0 … 5", "no"],
        "tags": ["tags", "Tags", "Checkboxgroup", "choices", "[]", '"a", "b", "c"', "no"],
        "meta": ["meta", "Meta", "Json", "json", '{"k": 0}', "", "no"],
        "table": ["table", "Table", "Dataframe", "json", '{"headers": ["x", "y"], "data": [], "metadata": null}', "", "no"],
        "mood": ["mood", "Mood", "Dropdown", "choice", '"calm"', '"calm", "busy"', "no"],
    }
    assert "  returns: Echo (Textbox)" in lines
    assert typed.calls.count == 0


def test_inspect_every_endpoint_or_one(cli: Cli, multi: App) -> None:
    res = cli("inspect", multi.url)
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[0] == f"{multi.url} (gradio 6.31.0): 5 endpoint(s)"
    assert titles(res.stdout) == ["/first", "/second", "/shaky", "/countdown", "/swap"]

    res = cli("inspect", multi.url, "--api", "/second")
    assert res.exit_code == 0, res.output
    assert titles(res.stdout) == ["/second"]
    assert table_rows(res.stdout) == {
        "text": ["text", "Text", "Textbox", "text", '""', "", "no"],
        "times": ["times", "Times", "Number", "int", "2", "", "no"],
    }

    res = cli("inspect", multi.url, "--api", "/nope")
    assert res.exit_code == 2
    assert f"{multi.url} has no endpoint '/nope'" in res.stderr
    assert multi.calls.count == 0


def test_template_runs_unchanged(cli: Cli, typed: App, in_tmp: Path) -> None:
    res = cli("inspect", typed.url, "--api", "/typed", "--template")
    assert res.exit_code == 0, res.output
    assert res.stdout == (
        "id,text,count,colour,size,speed,enabled,shout,level,tags,meta,table,mood\n"
        '1,,3,red,small,fast,true,false,1,[],"{""k"": 0}",'
        '"{""headers"": [""x"", ""y""], ""data"": [], ""metadata"": null}",calm\n'
    )
    tasks = in_tmp / "template.csv"
    tasks.write_text(res.stdout, encoding="utf-8")
    run = cli("run", typed.url, tasks, "--api", "/typed", "--out", in_tmp / "out")
    assert run.exit_code == 0, run.output
    expected = {**TYPED_DEFAULTS, "text": ""}  # the template shows what the untouched page sends
    assert typed.calls.of("/typed") == [expected]
    assert json.loads(latest(in_tmp / "out")["1"]["values"]["Echo"]) == expected


def test_template_of_one_of_several_endpoints(cli: Cli, multi: App, in_tmp: Path) -> None:
    res = cli("inspect", multi.url, "--template")
    assert res.exit_code == 2
    assert "has 5 endpoints; choose one with --api" in res.stderr

    res = cli("inspect", multi.url, "--api", "second", "--template")
    assert res.exit_code == 0, res.output
    assert res.stdout == "id,text,times\n1,,2\n"
    tasks = in_tmp / "t.csv"
    tasks.write_text(res.stdout, encoding="utf-8")
    run = cli("run", multi.url, tasks, "--api", "/second", "--out", in_tmp / "out")
    assert run.exit_code == 0, run.output
    assert multi.calls.of("/second") == [("", 2)]
    assert latest(in_tmp / "out")["1"]["values"] == {"Result": "-"}


def test_inspect_behind_a_login(cli: Cli, auth: App) -> None:
    res = cli("inspect", auth.url, "--auth", f"u:{PASSWORD}")
    assert res.exit_code == 0, res.output
    assert titles(res.stdout) == ["/greet"]
    assert table_rows(res.stdout) == {"name": ["name", "Name", "Textbox", "text", '""', "", "no"]}
    assert PASSWORD not in res.output

    res = cli("inspect", auth.url)
    assert res.exit_code == 2
    assert "login failed (check --auth / --token)" in res.stderr

    res = cli("inspect", auth.url, "--auth", "u:wrong-passw0rd")
    assert res.exit_code == 2
    assert "login failed (check --auth / --token)" in res.stderr
    assert "wrong-passw0rd" not in res.output
    assert "Traceback" not in res.output


def test_inspect_unreachable(cli: Cli) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    res = cli("inspect", url)
    assert res.exit_code == 3
    assert f"Error: {url}: cannot connect:" in res.stderr
    assert "Traceback" not in res.output


def test_inspect_stays_one_line_per_parameter_at_80_columns(cli: Cli, typed: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --wide a long value is cut to one line with "…" rather than wrapped into a tall cell."""
    monkeypatch.setenv("COLUMNS", "80")
    res = cli("inspect", typed.url)
    assert res.exit_code == 0, res.output
    body = [line for line in res.stdout.splitlines() if line.startswith("│")]
    assert len(body) == 12  # one line per parameter
    assert all(len(line) <= 80 for line in res.stdout.splitlines() if line[:1] in "│┃┏┡└"), res.stdout
    assert any("…" in line for line in body)


@pytest.fixture(scope="module")
def voices(serve_module: ServeFn) -> str:
    """/ping takes nothing; /mix takes two sounds, a picture and some documents."""
    import gradio as gr

    with gr.Blocks() as demo:
        said = gr.Textbox(label="Said")
        gr.Button("Ping").click(lambda: "pong", None, said, api_name="ping")
        first, second = gr.Audio(type="filepath", label="First"), gr.Audio(type="filepath", label="Second")
        picture, documents = gr.Image(type="filepath", label="Picture"), gr.File(file_count="multiple", label="Documents")
        def mix(first: str, second: str, picture: str, documents: list[Any]) -> str:
            return "mixed"

        gr.Button("Mix").click(mix, [first, second, picture, documents], said, api_name="mix")
    return serve_module(demo)


def test_an_endpoint_without_inputs_says_so_instead_of_an_empty_table(cli: Cli, voices: str) -> None:
    res = cli("inspect", voices, "--api", "/ping")
    assert res.exit_code == 0, res.output
    assert "/ping\n  takes no inputs\n  returns: Said (Textbox)" in res.stdout
    assert "┏" not in res.stdout and "parameter" not in res.stdout


def test_the_template_gives_each_file_column_its_own_placeholder(cli: Cli, voices: str) -> None:
    res = cli("inspect", voices, "--api", "/mix", "--template")
    assert res.exit_code == 0, res.output
    header, row = res.stdout.splitlines()
    assert header == "id,first,second,picture,documents"
    assert row == "1,path/to/first.wav,path/to/second.wav,path/to/picture.png,path/to/documents_1;path/to/documents_2"

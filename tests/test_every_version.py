"""Rules that hold on every supported Gradio version (3.41.2 and 4.44.1 from `.venvs/`, 6.x
in-process), against one app script run unchanged on each (`tests/old_apps/untouched.py`):

- an empty cell is an untouched field: it sends what the page sends for it (a Textbox "",
  a Slider or Dropdown the value it shows, an Audio null), and is refused only where the page
  could not make a valid call (a Number or a Radio that shows nothing);
- with no `--api`, the one named endpoint that fits the task file's columns is used, and said;
  a gradio `Interface`'s Flag and Clear events are no candidates.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import oldgradio
from .conftest import CliResult, ServeFn, journal_by_id, run_cli, write_csv

pytestmark = pytest.mark.slow

Apps = Callable[[str, int], "App"]
SCRIPT = oldgradio.APPS / "untouched.py"
VERSIONS = [3, 4, 6]


def _module() -> Any:
    spec = importlib.util.spec_from_file_location("untouched_apps", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class App:
    def __init__(self, url: str, record: Path) -> None:
        self.url = url
        self.record = record

    def received(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory, serve_module: ServeFn) -> Iterator[Apps]:
    """Each app on each version, started the first time a test asks for it."""
    started: dict[tuple[str, int], App] = {}
    servers: list[oldgradio.OldServer] = []

    def get(name: str, major: int) -> App:
        if (name, major) not in started:
            folder = tmp_path_factory.mktemp(f"{name}{major}")
            record = folder / "received.jsonl"
            if major == 6:
                url = serve_module(_module().build(name, record))
            else:
                server = oldgradio.start(SCRIPT, major, "--app", name, "--record", str(record), log_dir=folder)
                servers.append(server)
                url = server.url
            started[(name, major)] = App(url, record)
        return started[(name, major)]

    yield get
    for server in servers:
        server.stop()


def run(app: App, tasks: Path, out: Path, *args: Any) -> CliResult:
    return run_cli("run", app.url, tasks, "--out", out, "-q", *args)


@pytest.mark.parametrize("major", VERSIONS)
def test_an_empty_cell_sends_what_the_untouched_page_sends(apps: Apps, major: int, tmp_path: Path) -> None:
    """A blank reference text arrives as "" (the app transcribes), not as a refused row; the Slider,
    the Dropdown and the Audio left blank send what the page shows (1.0, "alice", null)."""
    app = apps("speech", major)
    tasks = write_csv(tmp_path / "t.csv", [["id", "text", "reference_text", "steps", "style"], ["1", "hello", "", "2", "calm"], ["2", "again", "my words", "3", "bright"]])
    result = run(app, tasks, tmp_path / "out", "--api", "/speak")
    assert result.exit_code == 0, result.output
    got = {r["text"]: r for r in app.received()}
    assert got["hello"]["ref_text"] == ""
    assert (got["hello"]["speed"], got["hello"]["voice"], got["hello"]["ref_audio"]) == (1, "alice", None)
    assert got["again"]["ref_text"] == "my words"
    assert journal_by_id(tmp_path / "out")["1"]["values"]["Said"] == "hello (transcribed)"


@pytest.mark.parametrize("major", VERSIONS)
def test_a_field_the_page_cannot_leave_empty_is_refused(apps: Apps, major: int, tmp_path: Path) -> None:
    """A Radio showing no choice cannot make a valid call on any version; a Number showing nothing
    cannot before gradio 6, whose page shows and sends 0."""
    app = apps("speech", major)
    tasks = write_csv(tmp_path / "t.csv", [["id", "text", "steps", "style"], ["1", "hello", "", ""]])
    result = run(app, tasks, tmp_path / "out", "--api", "/speak", "--dry-run")
    assert result.exit_code == 2, result.output
    assert "style: a value is required" in result.stderr
    assert ("steps: a value is required" in result.stderr) == (major < 6)


def test_a_missing_column_the_page_cannot_do_without_is_one_problem(apps: Apps, tmp_path: Path) -> None:
    app = apps("speech", 4)
    tasks = write_csv(tmp_path / "t.csv", [["id", "text", "steps"], ["1", "a", "1"], ["2", "b", "2"]])
    result = run(app, tasks, tmp_path / "out", "--api", "/speak", "--dry-run")
    assert result.exit_code == 2, result.output
    assert f"{tasks}: required column 'style' is missing" in result.stderr
    assert "--style" not in result.stderr  # `run` has no such option to offer
    assert "1 problem in the task file" in result.stderr


@pytest.mark.parametrize("major", VERSIONS)
def test_inspect_and_template_show_the_untouched_values(apps: Apps, major: int) -> None:
    app = apps("speech", major)
    template = run_cli("inspect", app.url, "--api", "/speak", "--template")
    assert template.exit_code == 0, template.output
    # columns in the endpoint's order: id, text, reference text, speed, voice, ... (named by the
    # function's arguments on gradio 4+, by the labels on gradio 3)
    header, row = (line.split(",") for line in template.stdout.splitlines())
    assert header[2] in ("ref_text", "reference_text")
    assert (row[2], row[3], row[4]) == ("", "1.0", "alice")
    shown = run_cli("inspect", app.url, "--api", "/speak", "--wide")
    assert shown.exit_code == 0, shown.output
    line = next(line for line in shown.stdout.splitlines() if line.startswith("│ ref"))  # a long name folds
    assert '""' in line and "no" in line.split("│")[-2]


@pytest.mark.parametrize("major", VERSIONS)
def test_without_api_the_one_named_endpoint_that_fits_is_used(apps: Apps, major: int, tmp_path: Path) -> None:
    """A gradio Interface lists Flag and Clear beside /predict: they are no choice to make."""
    app = apps("interface", major)
    tasks = write_csv(tmp_path / "t.csv", [["id", "name", "times"], ["1", "ann", "2"]])
    result = run_cli("run", app.url, tasks, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    # gradio 4+ lists only /predict (nothing to say); gradio 3 lists Flag and Clear too
    said = [line for line in result.stderr.splitlines() if line.startswith("using /predict, the named endpoint that fits the task file's columns")]
    assert len(said) == (major == 3) and all('[button "Flag" click]' in line for line in said)
    assert [(r["name"], r["times"]) for r in app.received()] == [("ann", 2)]

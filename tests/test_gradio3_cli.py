"""`gbatch inspect` and `gbatch run` on unchanged gradio 3.41.2 apps, as a new user would try them:
the calculator demo (no queue, no api names worth using), a queued Blocks app with events that
have no api_name, a chain sharing gr.State, journal and resume."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import oldgradio
from .conftest import CliResult, journal_by_id, write_csv

Cli = Callable[..., CliResult]
pytestmark = pytest.mark.slow


class App:
    def __init__(self, server: oldgradio.OldServer, record: Path) -> None:
        self.server, self.url, self.record = server, server.url, record

    def received(self, handler: str) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [r for r in map(json.loads, self.record.read_text(encoding="utf-8").splitlines()) if r["handler"] == handler]


def _serve(script: str, tmp: Path) -> Iterator[App]:
    record = tmp / f"{script}.jsonl"
    server = oldgradio.start(script, 3, "--record", str(record), log_dir=tmp)
    yield App(server, record)
    server.stop()


@pytest.fixture(scope="module")
def calc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    yield from _serve("g3_calculator.py", tmp_path_factory.mktemp("calc"))


@pytest.fixture(scope="module")
def blocks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    yield from _serve("g3_blocks.py", tmp_path_factory.mktemp("blocks"))




journal = journal_by_id


def test_inspect_names_the_calculators_parameters(cli: Cli, calc: App) -> None:
    result = cli("inspect", calc.url)
    assert result.exit_code == 0, result.output
    assert "(gradio 3.41.2)" in result.stdout
    assert "/predict" in result.stdout
    # parameters have names a task file can use, not ''
    template = cli("inspect", calc.url, "--api", "/predict", "--template")
    assert template.exit_code == 0, template.output
    header = template.stdout.splitlines()[0].split(",")
    assert header[0] == "id" and len(header) == 4 and all(header[1:])


def test_run_the_calculator_from_its_template(cli: Cli, calc: App, tmp_path: Path) -> None:
    header = cli("inspect", calc.url, "--api", "/predict", "--template").stdout.splitlines()[0].split(",")
    tasks = write_csv(tmp_path / "calc.csv", [header, ["1", "45", "add", "3"], ["2", "2.0", "multiply", "4"], ["3", "1", "divide", "0"]])
    out = tmp_path / "out"
    result = cli("run", calc.url, tasks, "--api", "/predict", "--out", out, "-q")
    assert result.exit_code == 1, result.output  # row 3 divides by zero
    records = journal(out)
    assert [records[i]["status"] for i in "123"] == ["ok", "ok", "failed"]
    assert list(records["1"]["values"].values()) == [48]
    assert records["3"]["error"] == "the app raised an error: Cannot divide by zero!"
    # (gradio 3's Number turns what it gets into a float itself, so the handler cannot tell 2 from 2.0)
    assert sorted(r["num1"] for r in calc.received("calculator")) == [1, 2, 45]
    again = cli("run", calc.url, tasks, "--api", "/predict", "--out", out, "--retry-failed", "-q")
    assert again.exit_code == 1 and len(calc.received("calculator")) == 4  # only the failed row ran again


def test_inspect_lists_events_without_a_name_by_fn_index(cli: Cli, blocks: App) -> None:
    result = cli("inspect", blocks.url)
    assert result.exit_code == 0, result.output
    assert "without a name (call them with --fn-index N)" in result.stdout
    assert '"Generate" click' in result.stdout  # each unnamed event shows its trigger


def _fn_index(cli: Cli, app: App, trigger: str) -> int:
    from gbatch import load_registry  # noqa: F401 - the same code path as the CLI
    from gbatch._inspect import inspect_server
    from gbatch.transports.base import ConnectOptions

    api = inspect_server(app.url, ConnectOptions())
    return next(e.fn_index for e in api.unnamed.values() if trigger in e.trigger and e.fn_index is not None)


def test_run_an_event_without_a_name_by_fn_index(cli: Cli, blocks: App, tmp_path: Path) -> None:
    index = _fn_index(cli, blocks, '"Hidden"')
    template = cli("inspect", blocks.url, "--fn-index", str(index), "--template")
    assert template.exit_code == 0, template.output
    header = template.stdout.splitlines()[0].split(",")
    # the event upper-cases its text into a JSON component: send text that stays JSON
    tasks = write_csv(tmp_path / "t.csv", [header, ["a", "12"], ["b", "[3]"]])
    out = tmp_path / "out"
    result = cli("run", blocks.url, tasks, "--fn-index", str(index), "--out", out, "-q")
    assert result.exit_code == 0, result.output
    assert [list(journal(out)[i]["values"].values()) for i in "ab"] == [[12], [[3]]]
    # resume: nothing is sent twice
    assert cli("run", blocks.url, tasks, "--fn-index", str(index), "--out", out, "--json").exit_code == 0


def test_a_wrong_fn_index_lists_the_events(cli: Cli, blocks: App, tmp_path: Path) -> None:
    tasks = write_csv(tmp_path / "t.csv", [["text"], ["x"]])
    result = cli("run", blocks.url, tasks, "--fn-index", "999", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "has no event with fn_index 999" in result.stderr and "/sleep(" in result.stderr


def test_a_queued_named_event_with_images_through_the_cli(cli: Cli, blocks: App, tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (4, 4), (200, 100, 50)).save(tmp_path / "in.png")
    tasks = write_csv(tmp_path / "t.csv", [["id", "input_img"], ["p", "in.png"]])
    out = tmp_path / "out"
    inspect = cli("inspect", blocks.url, "--api", "/sepia", "--template")
    column = inspect.stdout.splitlines()[0].split(",")[1]
    tasks = write_csv(tmp_path / "t.csv", [["id", column], ["p", "in.png"]])
    result = cli("run", blocks.url, tasks, "--api", "/sepia", "--out", out, "-q")
    assert result.exit_code == 0, result.output
    saved = journal(out)["p"]["outputs"]
    assert len(saved) == 1 and (out / saved[0]).stat().st_size > 0

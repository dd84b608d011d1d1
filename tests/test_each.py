"""`--each COLUMN=SOURCE`: rows from folders, text files and lists, crossed, with stable ids."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest

import gbatch
from gbatch._each import cross, parse_each
from gbatch.transports.fake import FakeServer, FakeTransport

from .apps import Calls, multi_app
from .conftest import CliResult, ServeFn


def test_a_glob_gives_sorted_files_with_their_stems_as_ids(tmp_path: Path) -> None:
    for name in ("b.png", "a.png", "notes.txt"):
        (tmp_path / name).write_text(name)
    source = parse_each("face=*.png", tmp_path)
    assert source.values == (("a", str(tmp_path / "a.png")), ("b", str(tmp_path / "b.png")))


def test_a_text_file_gives_a_value_per_line_numbered(tmp_path: Path) -> None:
    (tmp_path / "prompts.txt").write_text("a cat\n\n a dog \n", encoding="utf-8")
    assert parse_each("prompt=prompts.txt", tmp_path).values == (("1", "a cat"), ("3", " a dog "))


def test_a_list_and_the_cross_product(tmp_path: Path) -> None:
    styles = parse_each("style=Watercolor; Neon", tmp_path)
    seeds = parse_each("seed=1;2;3", tmp_path)
    task = cross(None, [styles, seeds], tmp_path)
    assert [r.id for r in task.rows] == ["Watercolor-1", "Watercolor-2", "Watercolor-3", "Neon-1", "Neon-2", "Neon-3"]
    assert task.rows[4].values == {"style": "Neon", "seed": "2"}
    assert task.columns == ["style", "seed"]


def test_each_row_of_a_task_file_is_crossed(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("id,prompt\np1,a cat\np2,a dog\n", encoding="utf-8")
    task = cross(gbatch.read_tasks(tmp_path / "t.csv"), [parse_each("style=x;y", tmp_path)])
    assert [(r.id, r.line, r.values["prompt"], r.values["style"]) for r in task.rows] == [
        ("p1-x", 2, "a cat", "x"), ("p1-y", 2, "a cat", "y"), ("p2-x", 3, "a dog", "x"), ("p2-y", 3, "a dog", "y"),
    ]  # fmt: skip


@pytest.mark.parametrize("spec", ["style", "=a;b", "style=", "face=nothing/*.png", "prompt=missing.txt"])
def test_bad_sources_are_usage_errors(tmp_path: Path, spec: str) -> None:
    with pytest.raises(gbatch.UsageError, match=r"--each"):
        parse_each(spec, tmp_path)


def test_rows_from_each_alone_run_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    def shout(text: str, times: int = 1) -> str:
        return text.upper() * times

    server = FakeServer({"/shout": shout})
    options = gbatch.BatchOptions(servers=[server.url], out=tmp_path / "out", each=["text=hi;yo", "times=1;2"])
    first = gbatch.run_batch(gbatch.GenericTool(), None, options, transport=FakeTransport([server]), say=lambda _: None)
    assert (first.succeeded, len(server.calls)) == (4, 4)
    again = gbatch.run_batch(gbatch.GenericTool(), None, options, transport=FakeTransport([server]), say=lambda _: None)
    assert (again.skipped, len(server.calls)) == (4, 4)
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.suffix == ".csv") == ["results.csv"]


def test_each_through_the_cli_on_a_real_app(cli: Callable[..., CliResult], serve: ServeFn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    calls = Calls()
    url = serve(multi_app(calls))
    (tmp_path / "words.txt").write_text("alpha\nbeta\n", encoding="utf-8")
    result = cli("run", url, "--api", "/second", "--each", "text=words.txt", "--each", "times=1;3", "--out", "out", "-q")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (tmp_path / "out" / "gbatch-journal.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in records) == ["1-1", "1-3", "2-1", "2-3"]
    with (tmp_path / "out" / "results.csv").open(encoding="utf-8-sig") as handle:
        table = {r["id"]: r for r in csv.DictReader(handle)}
    assert table["2-3"]["text"] == "beta" and table["2-3"]["times"] == "3"
    assert len(calls.of("/second")) == 4



"""`gbatch run` and `inspect` against a real gradio 4.44.1 server (InstantID's version), started
under `.venvs/gradio4`: values as the browser sends them, lists of files, galleries, login,
app errors, a full queue, cancelling, and a server killed mid-batch.

The app (`tests/old_apps/g4_apps.py`) writes every call it receives to a JSON-lines file,
so what went over the wire is checked on the server side.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from . import oldgradio
from .conftest import CliResult, journal_by_id, write_csv

Cli = Callable[..., CliResult]
pytestmark = pytest.mark.slow


class App:
    def __init__(self, server: oldgradio.OldServer, record: Path) -> None:
        self.server = server
        self.url = server.url
        self.record = record

    def received(self, endpoint: str) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        lines = self.record.read_text(encoding="utf-8").splitlines()
        return [got for got in map(json.loads, lines) if got["endpoint"] == endpoint]

    def reset(self) -> None:
        self.record.unlink(missing_ok=True)


def _start(tmp: Path, *args: str) -> App:
    record = tmp / "received.jsonl"
    server = oldgradio.start("g4_apps.py", 4, *args, log_dir=tmp, env={"GBATCH_TEST_RECORD": str(record)})
    return App(server, record)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    started = _start(tmp_path_factory.mktemp("g4"))
    yield started
    started.server.stop()


@pytest.fixture
def fresh(app: App) -> App:
    app.reset()
    return app




journal = journal_by_id


def image(path: Path, colour: tuple[int, int, int]) -> Path:
    Image.new("RGB", (8, 6), colour).save(path)
    return path


def test_inspect_reads_a_gradio_4_app(cli: Cli, app: App) -> None:
    result = cli("inspect", app.url)
    assert result.exit_code == 0, result.output
    assert "(gradio 4.44.1)" in result.stdout
    for name in ("/seeded", "/gif", "/zip", "/slow", "/boom"):
        assert name in result.stdout


def test_integral_numbers_go_as_integers(cli: Cli, fresh: App, tmp_path: Path) -> None:
    """A seed Slider's 42.0 arrives as int 42, as from a browser: code like torch.manual_seed refuses floats."""
    tasks = write_csv(tmp_path / "t.csv", [["id", "seed", "n"], ["a", "42", "3"], ["b", "7.0", "2.0"], ["c", "1e3", "5"]])
    result = cli("run", fresh.url, tasks, "--api", "/seeded", "--out", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    got = sorted((r["seed"], r["seed_type"], r["n"], r["n_type"]) for r in fresh.received("/seeded"))
    assert got == [(7, "int", 2, "int"), (42, "int", 3, "int"), (1000, "int", 5, "int")]
    assert journal(tmp_path / "out")["a"]["values"]["Result"] == "42:3"


def test_a_gallery_input_uploads_every_image(cli: Cli, fresh: App, tmp_path: Path) -> None:
    """A JSON list (or a;b) of paths goes as uploaded gallery items, named by their base names; the gallery output is saved as numbered files."""
    pics = tmp_path / "pics"
    pics.mkdir()
    red, green = image(pics / "red.png", (255, 0, 0)), image(pics / "green.png", (0, 255, 0))
    tasks = write_csv(tmp_path / "t.csv", [["id", "images"], ["json", json.dumps(["pics/red.png", "pics/green.png"])], ["semi", "pics/green.png; pics/red.png"]])
    out = tmp_path / "out"
    result = cli("run", fresh.url, tasks, "--api", "/gif", "--out", out, "-q")
    assert result.exit_code == 0, result.output
    received = {tuple(r["names"]): r for r in fresh.received("/gif")}
    assert set(received) == {("red.png", "green.png"), ("green.png", "red.png")}
    assert received[("red.png", "green.png")]["sizes"] == [red.stat().st_size, green.stat().st_size]
    record = journal(out)["json"]
    assert record["values"]["Result"] == "2 images"
    assert record["values"]["Captioned_captions"] == ["frame 1", "frame 2"]
    files = sorted(record["outputs"])
    assert files == ["json.1.png", "json.2.png"]  # the only file output: numbered after the row's name
    assert Image.open(out / files[0]).getpixel((0, 0))[:3] == (255, 0, 0)


def test_several_files_for_a_multiple_file_input(cli: Cli, fresh: App, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / "b.json").write_text("{}")
    tasks = write_csv(tmp_path / "t.csv", [["id", "files"], ["1", '["a.txt", "b.json"]']])
    out = tmp_path / "out"
    result = cli("run", fresh.url, tasks, "--api", "/zip", "--out", out, "-q")
    assert result.exit_code == 0, result.output
    assert [r["names"] for r in fresh.received("/zip")] == [["a.txt", "b.json"]]
    assert journal(out)["1"]["outputs"] == ["1.zip"]


def test_an_app_error_fails_its_row_with_the_message(cli: Cli, fresh: App, tmp_path: Path) -> None:
    tasks = write_csv(tmp_path / "t.csv", [["id", "text"], ["1", "x"], ["2", "y"]])
    out = tmp_path / "out"
    result = cli("run", fresh.url, tasks, "--api", "/boom", "--out", out, "-q")
    assert result.exit_code == 1
    record = journal(out)["1"]
    assert record["status"] == "failed" and record["attempts"] == 1
    assert record["error"] == "the app raised an error: cannot handle 'x'"
    assert record["cause"] == "app"
    assert len(fresh.received("/boom")) == 2  # not retried


def test_a_full_queue_is_waited_out(cli: Cli, fresh: App, tmp_path: Path) -> None:
    """Concurrency 1 and max_size 1: with 4 rows at once, two are refused and resubmitted, spending no retry."""
    tasks = write_csv(tmp_path / "t.csv", [["id", "seconds"], *[[str(i), "0.5"] for i in range(4)]])
    out = tmp_path / "out"
    result = cli("run", fresh.url, tasks, "--api", "/slow", "--out", out, "-j", "4", "--retries", "0", "-q")
    assert result.exit_code == 0, result.output
    records = journal(out)
    assert all(r["status"] == "ok" and r["attempts"] == 1 for r in records.values())
    assert len(fresh.received("/slow")) == 4


def test_timeout_cancels_the_job_on_the_server(cli: Cli, fresh: App, tmp_path: Path) -> None:
    tasks = write_csv(tmp_path / "t.csv", [["id", "seconds"], ["long", "3"], ["queued", "3"]])
    out = tmp_path / "out"
    started = time.monotonic()
    result = cli("run", fresh.url, tasks, "--api", "/slow", "--out", out, "-j", "2", "--timeout", "1", "--retries", "0", "-q")
    assert result.exit_code == 1
    assert time.monotonic() - started < 6
    records = journal(out)
    assert {r["cause"] for r in records.values()} == {"timeout"}
    # gradio 4.44 frees the slot of a cancelled job (its thread runs on), so the other may start;
    # what matters here is that neither row waited beyond its timeout.
    assert 1 <= len(fresh.received("/slow")) <= 2


def test_login(cli: Cli, tmp_path: Path) -> None:
    app = _start(tmp_path, "--auth", "user:s3cret-pass")
    try:
        tasks = write_csv(tmp_path / "t.csv", [["id", "seed", "n"], ["1", "5", "1"]])
        refused = cli("run", app.url, tasks, "--api", "/seeded", "--auth", "user:wrong-pass", "--out", tmp_path / "o1")
        assert refused.exit_code == 2
        assert "login failed" in refused.stderr and "wrong-pass" not in refused.output
        ok = cli("run", app.url, tasks, "--api", "/seeded", "--auth", "user:s3cret-pass", "--out", tmp_path / "o2", "-q")
        assert ok.exit_code == 0, ok.output
        assert [r["seed"] for r in app.received("/seeded")] == [5]
    finally:
        app.server.stop()


def test_a_server_killed_mid_batch_loses_nothing(cli: Cli, tmp_path: Path) -> None:
    """Rows in flight when the server dies fail as transport errors; a re-run after a restart finishes the rest."""
    app = _start(tmp_path)
    tasks = write_csv(tmp_path / "t.csv", [["id", "seconds"], *[[str(i), "0.4"] for i in range(6)]])
    out = tmp_path / "out"
    killer = threading.Timer(1.0, app.server.kill)
    killer.start()
    try:
        first = cli("run", app.url, tasks, "--api", "/slow", "--out", out, "-j", "2", "--retries", "1", "-q")
    finally:
        killer.join()
    assert first.exit_code in (1, 3), first.output
    done_before = {i for i, r in journal(out).items() if r["status"] == "ok"} if (out / "gbatch-journal.jsonl").exists() else set()
    assert all(r["cause"] == "transport" for r in journal(out).values() if r["status"] == "failed")
    restarted = oldgradio.start("g4_apps.py", 4, log_dir=tmp_path, port=app.server.port, env={"GBATCH_TEST_RECORD": str(app.record)})
    try:
        app.reset()
        second = cli("run", app.url, tasks, "--api", "/slow", "--out", out, "-j", "2", "-q")
        assert second.exit_code == 0, second.output
        assert all(r["status"] == "ok" for r in journal(out).values())
        assert len(journal(out)) == 6
        # Rows that had finished were not sent again.
        assert len(app.received("/slow")) == 6 - len(done_before)
    finally:
        restarted.stop()

"""Learned slots against real servers: gradio 3.41.2, 4.44.1 and 6.x, each running a queue of
`default_concurrency_limit` (gradio 3: `concurrency_count`) 1, 2 and 4 jobs at once.

No `=N` and no `-j`: gbatch learns the number from the queue events, and the learned
number is the server's; the server's record shows every row arrived exactly once.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import gbatch
from gbatch._slots import DEFAULT_CAP, FIRST_WINDOW
from gbatch.testing import start_script

from . import oldgradio
from .conftest import CliResult, ServeFn

pytestmark = pytest.mark.slow

SLEEPER = oldgradio.APPS / "sleeper.py"
SLEEP = 0.15


def started(major: int, limit: int, record: Path, log_dir: Path, sleep: float = SLEEP) -> Iterator[str]:
    args = ["--limit", str(limit), "--sleep", str(sleep), "--record", str(record)]
    if major == 6:
        server = start_script(SLEEPER, *args, python=sys.executable, log_dir=log_dir)
        try:
            yield server.url
        finally:
            server.process.terminate()
            server.process.wait(15)
        return
    old = oldgradio.start(SLEEPER, major, *args, log_dir=log_dir)
    try:
        yield old.url
    finally:
        old.stop()


def most_at_once(lines: list[dict[str, float]]) -> int:
    moments = sorted([(line["start"], 1) for line in lines] + [(line["end"], -1) for line in lines])
    running = most = 0
    for _, step in moments:
        running += step
        most = max(most, running)
    return most


@pytest.mark.flaky(reruns=1)  # load-sensitive: timing on 2 shared cores; a second failure is a real one
@pytest.mark.parametrize("limit", [1, 2, 4])
@pytest.mark.parametrize("major", [3, 4, 6])
def test_learned_slots_equal_the_servers_concurrency(major: int, limit: int, tmp_path: Path) -> None:
    record = tmp_path / "received.jsonl"
    rows = 12 + 12 * limit
    tasks = tmp_path / "tasks.csv"
    tasks.write_text("text\n" + "".join(f"row {i}\n" for i in range(rows)), encoding="utf-8")
    for url in started(major, limit, record, tmp_path):
        result = gbatch.run_batch(gbatch.GenericTool("/sleep"), tasks, gbatch.BatchOptions(servers=[url], out=tmp_path / "out"), say=lambda text: None)
        assert (result.succeeded, result.failed, result.not_run) == (rows, 0, 0)
        ((label, learned),) = result.slots.items()
        assert (learned["learned"], learned["how"]) == (limit, "queue"), result.servers
        assert learned["cap"] == DEFAULT_CAP
        assert result.servers == [
            f"{label}: learned {limit} slot{'s' if limit > 1 else ''} from its queue "
            f"(peak {learned['peak']}, cap {learned['cap']}, {learned['queue_ahead']} queued ahead, adapted)"
        ]
    received = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    assert sorted(line["text"] for line in received) == sorted(f"row {i}" for i in range(rows))  # each once
    assert most_at_once(received) == limit  # the server really ran that many at once


def sleeping_app(limit: int) -> object:
    import time

    import gradio as gr

    def nap(text: str) -> str:
        time.sleep(0.3)  # long beside scheduling jitter on a busy machine, so the learned count is steady
        return text

    with gr.Blocks() as demo:
        text, echo = gr.Textbox(label="text"), gr.Textbox(label="echo")
        gr.Button("Nap").click(nap, text, echo, api_name="nap")
    demo.queue(default_concurrency_limit=limit)
    return demo


@pytest.mark.flaky(reruns=1)  # load-sensitive: timing on 2 shared cores; a second failure is a real one
def test_the_command_line_shows_what_it_learned_and_takes_queue_ahead(cli: Callable[..., CliResult], serve: ServeFn, tmp_path: Path) -> None:
    url = serve(sleeping_app(3))
    tasks = tmp_path / "t.csv"
    tasks.write_text("text\n" + "".join(f"row {i}\n" for i in range(30)), encoding="utf-8")
    dry = json.loads(cli("run", url, tasks, "--api", "/nap", "--out", tmp_path / "out", "--dry-run", "--json").stdout)
    assert dry["servers"] == [
        f"{url} (gradio {gbatch_gradio_version()}): slots learned while running from its queue, "
        f"enough rows to cover one round trip ({FIRST_WINDOW} in flight at first) kept waiting there, at most {DEFAULT_CAP} at once"
    ]
    done = cli("run", url, tasks, "--api", "/nap", "--out", tmp_path / "out", "--queue-ahead", "1", "--json")
    summary = json.loads(done.stdout)
    assert summary["succeeded"] == 30
    ((server, learned),) = summary["slots"].items()
    assert (server, learned["learned"], learned["cap"], learned["queue_ahead"], learned["how"]) == (url, 3, DEFAULT_CAP, 1, "queue")
    shown = cli("run", url, tasks, "--api", "/nap", "--out", tmp_path / "out2", "-q")
    assert f"server {url}: learned 3 slots from its queue" in shown.stderr
    refused = cli("run", url, tasks, "--api", "/nap", "--out", tmp_path / "out3", "--queue-ahead", "-1")
    assert refused.exit_code == 2 and "--queue-ahead must be 0 or more" in refused.stderr


def gbatch_gradio_version() -> str:
    import gradio

    return str(gradio.__version__)


@pytest.mark.parametrize("major", [4, 6])
def test_a_session_made_for_one_slot_carries_as_many_as_it_is_later_given(major: int, tmp_path: Path) -> None:
    """The session is connected before any slot is learned (to read the API); the runner later
    sets how many it carries. Every one of them must reach the server at once: an 8-slot
    server runs 8 of our jobs together, not as many as the first client was made for."""
    from gbatch.transports import AutoTransport, ConnectOptions, TransportRequest

    record = tmp_path / "received.jsonl"
    for url in started(major, 8, record, tmp_path, sleep=1.0):  # long enough to overlap on a busy machine
        session = AutoTransport().connect(url, ConnectOptions(), 1)
        try:
            session.slots = 8
            endpoint = session.api.endpoint("/sleep")
            assert endpoint is not None
            jobs = [session.submit(TransportRequest(endpoint, {"text": f"row {slot}"}), slot) for slot in range(8)]
            assert [job.result(60).outputs for job in jobs] == [(f"row {slot}",) for slot in range(8)]
        finally:
            session.close()
    received = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    assert most_at_once(received) == 8


def submitted_together(session: Any, slots: range) -> dict[int, object]:
    """One row per slot, all released at the same moment from threads of their own."""
    import threading

    from gbatch.transports import TransportRequest

    endpoint = session.api.endpoint("/sleep")
    assert endpoint is not None
    go = threading.Barrier(len(slots))
    results: dict[int, object] = {}

    def row(slot: int) -> None:
        go.wait()
        results[slot] = session.submit(TransportRequest(endpoint, {"text": f"row {slot}"}), slot).result(60).outputs

    threads = [threading.Thread(target=row, args=(slot,)) for slot in slots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_rows_that_start_together_share_one_new_client(tmp_path: Path) -> None:
    """Slots 8 to 15 share a second Client. When their rows start at the same moment, one Client
    is made for them (each reads the app's config), not one per row with all but one thrown away."""
    from gbatch.transports import ConnectOptions
    from gbatch.transports.gradio_client import GradioClientTransport, make_client

    made: list[str] = []

    def counting(url: str, connection: ConnectOptions, workers: int) -> object:
        made.append(url)
        return make_client(url, connection, workers)

    record = tmp_path / "received.jsonl"
    for url in started(6, 8, record, tmp_path, sleep=0.1):
        session = GradioClientTransport(counting).connect(url, ConnectOptions(), 16)
        try:
            assert submitted_together(session, range(8, 16)) == {slot: (f"row {slot}",) for slot in range(8, 16)}
        finally:
            session.close()
    assert len(made) == 2  # the one that read the API, and one for slots 8-15

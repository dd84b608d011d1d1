"""A row submitted while the server closes its session's event stream runs once, and its result
comes back (real gradio 4.44.1 and 6 servers).

The server closes a session's stream as soon as none of the session's jobs is pending. A job
submitted on the same gradio_client Client while that close is on its way joins the queue and
runs, but gradio_client ties it to the ending stream and cancels it; retrying it would run
the row twice. Here the client's stream reader is held just before it handles the close, a
second job is submitted in that moment, and then the reader goes on.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gbatch.testing import start_script
from gbatch.transports.base import ConnectOptions, TransportRequest
from gbatch.transports.gradio_client import GradioClientTransport

from . import oldgradio

SLEEPER = oldgradio.APPS / "sleeper.py"


class HeldAtClose:
    """Stands in for the `json` module of gradio_client's client: decoding the server's
    close_stream message waits until the test lets it go."""

    def __init__(self) -> None:
        self.closing = threading.Event()
        self.release = threading.Event()

    def loads(self, text: str | bytes, *args: Any, **kwargs: Any) -> Any:
        message = json.loads(text, *args, **kwargs)
        if isinstance(message, dict) and message.get("msg") == "close_stream" and not self.release.is_set():
            self.closing.set()
            self.release.wait(10)
        return message

    def __getattr__(self, name: str) -> Any:
        return getattr(json, name)


@pytest.fixture(params=[4, 6])
def sleeper(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    record = tmp_path / "received.jsonl"
    args = ["--limit", "2", "--sleep", "0.05", "--record", str(record)]
    if request.param == 6:
        server = start_script(SLEEPER, *args, python=sys.executable, log_dir=tmp_path)
        try:
            yield server.url, record
        finally:
            server.process.terminate()
            server.process.wait(15)
        return
    old = oldgradio.start(SLEEPER, request.param, *args, log_dir=tmp_path)
    try:
        yield old.url, record
    finally:
        old.stop()


def ran(record: Path, text: str) -> bool:
    """Whether the server ran the job sent with `text` (waiting up to 10 s)."""
    give_up = time.monotonic() + 10
    while time.monotonic() < give_up:
        if record.exists() and any(json.loads(line)["text"] == text for line in record.read_text(encoding="utf-8").splitlines()):
            return True
        time.sleep(0.02)
    return False


def test_a_job_submitted_as_the_stream_closes_runs_once_and_returns(sleeper: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import gradio_client.client

    url, record = sleeper
    held = HeldAtClose()
    monkeypatch.setattr(gradio_client.client, "json", held)
    session = GradioClientTransport().connect(url, ConnectOptions(), slots=2)
    try:
        endpoint = session.api.endpoint("/sleep")
        assert endpoint is not None
        first = session.submit(TransportRequest(endpoint, {"text": "first"}), 0)
        assert first.result(30).outputs == ("first",)
        assert held.closing.wait(10), "the server never closed the session's stream"
        # The reader has the close in hand but has not acted on it: this job joins the queue
        # while the client still counts the ending stream as open.
        second = session.submit(TransportRequest(endpoint, {"text": "second"}), 0)
        assert ran(record, "second"), "the second job never ran"
        held.release.set()
        assert second.result(30).outputs == ("second",)
    finally:
        held.release.set()
        session.close()
    received = [json.loads(line)["text"] for line in record.read_text(encoding="utf-8").splitlines()]
    assert received == ["first", "second"]

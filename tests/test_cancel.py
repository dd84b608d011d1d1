"""A request cancelled (here: by --timeout) while its file upload is still being sent is
cancelled on the server once it lands, not left to run there unheard."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

import gbatch

from .conftest import ServeFn, write_csv

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

STEPS = 30


class _SlowUpload:
    """An ASGI app in front of gradio's upload route: the upload lands `delay` seconds late
    (a large file on a slow link)."""

    def __init__(self, route: Any, delay: float) -> None:
        self.route = route
        self.delay = delay

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(self.delay)
        _, child = self.route.matches(scope)  # as starlette's router hands a request on
        await self.route.handle({**scope, **child}, receive, send)


def test_a_request_cancelled_while_uploading_is_cancelled_once_it_lands(serve: ServeFn, tmp_path: Path) -> None:
    from starlette.routing import Route

    steps: list[int] = []
    lock = threading.Lock()

    def slow(doc: str) -> Iterator[str]:
        for step in range(STEPS):
            with lock:
                steps.append(step)
            time.sleep(0.1)
            yield f"step {step}"

    with gr.Blocks() as demo:
        doc, out = gr.File(type="filepath", label="doc"), gr.Textbox()
        gr.Button().click(slow, doc, out, api_name="slow")
    url = serve(demo)
    routes = demo.app.router.routes
    # gradio's own routes, behind its fixed ones (the upload route among them)
    upload = next(r for r in reversed(routes) if r.matches({"type": "http", "path": "/gradio_api/upload", "method": "POST"})[0].name == "FULL")
    routes.insert(0, Route("/gradio_api/upload", _SlowUpload(upload, 1.5), methods=["POST"]))

    (tmp_path / "a.txt").write_text("hello", encoding="utf-8")
    tasks = write_csv(tmp_path / "t.csv", [["id", "doc"], ["a", str(tmp_path / "a.txt")]])
    options = gbatch.BatchOptions(servers=[url], out=tmp_path / "out", timeout=0.5, retries=0)
    result = gbatch.run_batch(gbatch.GenericTool("/slow"), tasks, options, say=lambda _: None)
    assert result.failed == 1 and "timed out" in (result.rows[0].get("error") or "")
    time.sleep(4)  # uncancelled, the server would be two thirds through by then
    # The upload landed after the cancel; the job joined the queue and was cancelled there.
    assert len(steps) < STEPS // 2, f"the server ran {len(steps)} of {STEPS} steps of a cancelled request"

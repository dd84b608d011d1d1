"""Shared fixtures: real Gradio servers on 127.0.0.1, and a clean environment.

`serve(blocks)` launches any gr.Blocks on a free loopback port in this process
and returns its URL; servers are closed when the test (or module) ends.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# No test may phone home, and gradio must not look for a newer version online.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("GRADIO_SERVER_NAME", "127.0.0.1")
# Only the plugins installed with this project, never whatever else the machine has.
os.environ.pop("GBATCH_LOAD_PLUGINS", None)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


from gbatch.testing import CliResult, free_port, run_cli  # noqa: E402 - after the environment is set
from gbatch.testing import serve as launch  # noqa: E402

__all__ = ["EXAMPLES", "ROOT", "CliResult", "ServeFn", "free_port", "launch", "run_cli"]

ServeFn = Callable[..., str]


def _serving() -> Iterator[ServeFn]:
    started: list[Any] = []

    def serve(blocks: Any, **kwargs: Any) -> str:
        url = launch(blocks, **kwargs)
        started.append(blocks)
        return url

    yield serve
    for blocks in started:
        blocks.close()


@pytest.fixture
def serve() -> Iterator[ServeFn]:
    """Serve gr.Blocks for one test."""
    yield from _serving()


@pytest.fixture(scope="module")
def serve_module() -> Iterator[ServeFn]:
    """Serve gr.Blocks for every test of a module (starting gradio costs about a second)."""
    yield from _serving()


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test inside a fresh folder (default output folders land there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    return run_cli

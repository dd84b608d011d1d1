"""Shared fixtures: real Gradio servers on 127.0.0.1, and a clean environment.

`serve(blocks)` launches any gr.Blocks on a free loopback port in this process
and returns its URL; servers are closed when the test (or module) ends.
"""

from __future__ import annotations

import os
import socket
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch(blocks: Any, **kwargs: Any) -> str:
    """Launch a gr.Blocks on 127.0.0.1 without blocking; returns its URL."""
    blocks.launch(
        server_name="127.0.0.1",
        server_port=free_port(),
        prevent_thread_lock=True,
        quiet=True,
        show_error=kwargs.pop("show_error", False),
        **kwargs,
    )
    return str(blocks.local_url)


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


class CliResult:
    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
        self.output = stdout + stderr


def run_cli(*args: Any) -> CliResult:
    """Run `gbatch ARGS...` in this process (plugins loaded from entry points, like the real command)."""
    from typer.testing import CliRunner

    from gbatch import load_registry
    from gbatch.cli import build_app

    result = CliRunner().invoke(build_app(load_registry()), [str(a) for a in args], catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    return run_cli

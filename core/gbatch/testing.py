"""A plugin author's kit: real Gradio servers on 127.0.0.1, the CLI in-process, and the fake transport.

Installed with gbatch and registered as a pytest plugin (entry point `pytest11`), so a
plugin's tests get these fixtures without copying anything::

    def test_my_tool(gbatch_serve, gbatch_cli, tmp_path):
        url = gbatch_serve(my_app())                 # a gr.Blocks, launched in this process
        (tmp_path / "t.csv").write_text("text\\nhello\\n")
        result = gbatch_cli("mytool", tmp_path / "t.csv", "--server", url, "--out", tmp_path / "out")
        assert result.exit_code == 0, result.output

- `serve(blocks)` / the `gbatch_serve` fixture: launch a gr.Blocks on a free loopback
  port without blocking; closed when the test ends.
- `start_script(script, *args, python=..., log_dir=None, port=None, env=None, timeout=90.0)`:
  run an app script as a subprocess (another venv, another Gradio version) with
  `--port N`; returns once its `/config` answers.
- `run_cli(*args, plugins=[...])` / `gbatch_cli`: `gbatch ARGS` in this process, with
  the installed plugins (and any given plugin modules), capturing exit code and output.
- `FakeServer` / `FakeTransport`: test a plan without any server (`gbatch.transports.fake`).

Nothing here talks to anything but 127.0.0.1, and telemetry stays off.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from .transports.fake import FakeServer, FakeTransport

__all__ = ["CliResult", "FakeServer", "FakeTransport", "Script", "free_port", "run_cli", "serve", "serving", "start_script"]

QUIET = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(blocks: Any, **launch: Any) -> str:
    """Launch a gr.Blocks on 127.0.0.1 without blocking; returns its URL (close it with `blocks.close()`)."""
    os.environ.update(QUIET)
    blocks.launch(
        server_name="127.0.0.1",
        server_port=free_port(),
        prevent_thread_lock=True,
        quiet=True,
        show_error=launch.pop("show_error", False),
        **launch,
    )
    return str(blocks.local_url)


@dataclass
class Script:
    """An app script running as a subprocess."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def start_script(
    script: str | Path,
    *args: str,
    python: str | Path = sys.executable,
    log_dir: Path | None = None,
    port: int | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 90.0,
) -> Script:
    """Run `python script --port N ARGS…` and wait until its `/config` answers (or it dies)."""
    port = port or free_port()
    folder = log_dir or Path.cwd()
    log = folder / f"{Path(script).stem}-{port}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [str(python), str(script), "--port", str(port), *args],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **QUIET, "GRADIO_SERVER_NAME": "127.0.0.1", **(env or {})},
            cwd=folder,
        )
    started = Script(f"http://127.0.0.1:{port}/", port, process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{script} exited with {process.returncode}:\n{started.output()}")
        try:
            if httpx.get(started.url + "config", timeout=2).status_code in (200, 401):
                return started
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    started.stop(signal.SIGKILL)
    raise RuntimeError(f"{script} did not answer within {timeout:.0f}s:\n{started.output()}")


@dataclass
class CliResult:
    """What a `gbatch` command did: its exit code and what it printed."""

    exit_code: int
    stdout: str
    stderr: str
    output: str = field(init=False)

    def __post_init__(self) -> None:
        self.output = self.stdout + self.stderr


def run_cli(*args: Any, plugins: Sequence[ModuleType | object] = ()) -> CliResult:
    """Run `gbatch ARGS…` in this process: the installed plugins, plus `plugins` (modules or
    objects with hook implementations, e.g. the plugin under test before it is installed)."""
    from typer.testing import CliRunner

    from ._plugins import load_registry
    from .cli import build_app

    registry = load_registry(extra=list(plugins))
    result = CliRunner().invoke(build_app(registry), [str(a) for a in args], catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout, result.stderr)


# -- pytest fixtures (this module is a pytest plugin through the `pytest11` entry point) ----------


def serving() -> Iterator[Callable[..., str]]:
    """A fixture body: yields `serve`, and closes every app it served afterwards (any scope)."""
    started: list[Any] = []

    def launch(blocks: Any, **kwargs: Any) -> str:
        url = serve(blocks, **kwargs)
        started.append(blocks)
        return url

    yield launch
    for blocks in started:
        blocks.close()


@pytest.fixture
def gbatch_serve() -> Iterator[Callable[..., str]]:
    """Serve gr.Blocks on 127.0.0.1 for one test: `url = gbatch_serve(blocks)`."""
    yield from serving()


@pytest.fixture
def gbatch_cli() -> Callable[..., CliResult]:
    """Run `gbatch ARGS…` in this process: `result = gbatch_cli("run", url, "t.csv")`."""
    return run_cli


def pytest_configure(config: pytest.Config) -> None:
    """gradio's own server stack warns in ways a plugin's tests cannot help; with
    `filterwarnings = error` those would fail every test that serves an app."""
    from ._scaffold import GRADIO_WARNING_FILTERS

    for line in GRADIO_WARNING_FILTERS:
        config.addinivalue_line("filterwarnings", line)

"""Real servers of older Gradio versions, each in a venv of its own (`.venvs/gradio3`, `.venvs/gradio4`).

gradio 3.41.2 and 4.44.1 cannot share a venv with the gradio 6 the other tests use;
`scripts/setup.sh --tests` builds both venvs from the complete freezes in `tests/envs/`.
`start(script, major)` runs an app script (from `tests/old_apps/`) on a free loopback
port under that version and returns once its `/config` answers.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gbatch.testing import start_script

ROOT = Path(__file__).resolve().parent.parent
APPS = Path(__file__).resolve().parent / "old_apps"
VENVS = ROOT / ".venvs"
VERSIONS = {3: "gradio3", 4: "gradio4"}


def python_for(major: int) -> Path | None:
    """The interpreter of the venv with gradio `major`, or None when setup could not build it."""
    exe = VENVS / VERSIONS[major] / "bin" / "python"
    return exe if exe.exists() else None


def require(major: int) -> Path:
    """The interpreter for gradio `major`; skips the test, saying why, when it is missing."""
    exe = python_for(major)
    if exe is None:
        pytest.skip(f"no gradio {major} venv at {VENVS / VERSIONS[major]} (scripts/setup.sh --tests builds it from tests/envs/)")
    return exe


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class OldServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    port: int

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start(script: str | Path, major: int, *args: str, log_dir: Path, port: int | None = None, env: dict[str, str] | None = None, timeout: float = 90.0) -> OldServer:
    """Start `script` (a name under tests/old_apps/, or a path) with `--port N` under gradio `major`."""
    exe = require(major)
    path = Path(script) if Path(script).is_absolute() else APPS / script
    started = start_script(path, *args, python=exe, log_dir=log_dir, port=port, env={"PYTHONPATH": str(APPS), **(env or {})}, timeout=timeout)
    return OldServer(started.url, started.process, started.log, started.port)


def serving(script: str, major: int, *args: str, log_dir: Path) -> Iterator[OldServer]:
    """A fixture body: start the app, yield it, stop it."""
    server = start(script, major, *args, log_dir=log_dir)
    try:
        yield server
    finally:
        server.stop()
        if sys.exc_info()[0] is not None:
            print(server.output())


@dataclass
class Recorded:
    """A running stand-in that writes each call it gets to `record` (JSON lines, one
    `handler` each), and how to start it again."""

    server: OldServer
    record: Path
    script: Path
    major: int
    folder: Path
    args: tuple[str, ...]
    env: dict[str, str] | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def calls(self, handler: str | None = None) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        entries = [json.loads(line) for line in self.record.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [e for e in entries if handler is None or e["handler"] == handler]

    def restart(self) -> None:
        """Kill the server mid-whatever and start it again on the same port (a crash and a supervisor)."""
        port = self.server.port
        self.server.kill()
        self.server = start(self.script, self.major, *self.args, log_dir=self.folder, port=port, env=self.env)


def start_recorded(script: Path, major: int, folder: Path, *args: str, env: dict[str, str] | None = None) -> Recorded:
    """`script` under gradio `major`, recording its calls to `folder/calls.jsonl` (`--record`)."""
    record = folder / "calls.jsonl"
    full = (*args, "--record", str(record))
    return Recorded(start(script, major, *full, log_dir=folder, env=env), record, script, major, folder, full, env)


def serving_pair(first: Callable[[], Recorded], second: Callable[[], Recorded]) -> Iterator[tuple[Recorded, Recorded]]:
    """Two stand-ins for a module fixture (`yield from`): both stopped at the end, the first
    also when the second fails to start."""
    one = first()
    try:
        two = second()
    except BaseException:
        one.server.stop()
        raise
    try:
        yield one, two
    finally:
        one.server.stop()
        two.server.stop()

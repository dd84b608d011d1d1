"""Shared fixtures: real Gradio servers on 127.0.0.1, and a clean environment.

`serve(blocks)` launches any gr.Blocks on a free loopback port in this process
and returns its URL; servers are closed when the test (or module) ends.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas.errors
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


from gbatch.testing import (  # noqa: E402 - after the environment is set
    CliResult,
    free_port,
    run_cli,
    serving,  # noqa: E402
)
from gbatch.testing import serve as launch  # noqa: E402

# gradio 6's queue statistics (server side, in the test process) use pandas APIs that pandas 3
# deprecates with Pandas4Warning; pandas 2, the newest for Python 3.10, has no such class.
PANDAS4 = [pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")] if hasattr(pandas.errors, "Pandas4Warning") else []


def ignore_pandas4(test: Callable[..., Any]) -> Callable[..., Any]:
    """The PANDAS4 filter on one test."""
    for mark in PANDAS4:
        test = mark(test)
    return test


__all__ = ["EXAMPLES", "PANDAS4", "ROOT", "CliResult", "ServeFn", "free_port", "ignore_pandas4", "journal_by_id", "launch", "run_cli", "write_csv"]

ServeFn = Callable[..., str]


@pytest.fixture
def serve() -> Iterator[ServeFn]:
    """Serve gr.Blocks for one test."""
    yield from serving()


@pytest.fixture(scope="module")
def serve_module() -> Iterator[ServeFn]:
    """Serve gr.Blocks for every test of a module (starting gradio costs about a second)."""
    yield from serving()


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test inside a fresh folder (default output folders land there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    return run_cli


def write_csv(path: Path, rows: list[list[Any]]) -> Path:
    """A task file from rows of cells (the first is the header)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def journal_by_id(out: Path) -> dict[str, dict[str, Any]]:
    """The last journal record of each row id."""
    lines = (out / "gbatch-journal.jsonl").read_text(encoding="utf-8").splitlines()
    return {r["id"]: r for r in map(json.loads, lines)}

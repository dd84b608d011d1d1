"""gbatch-tinytts against the real TinyTTS app (tests/app.py), served on 127.0.0.1 by gbatch.testing.

`gbatch_serve` and `gbatch_cli` are pytest fixtures that come with gbatch (`gbatch.testing`).
"""

from __future__ import annotations

import json
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gbatch.testing import CliResult

import gbatch_tinytts
from app import tinytts_app

Cli = Callable[..., CliResult]


@pytest.fixture
def tinytts(gbatch_cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`gbatch tinytts ARGS…` in this process, with this checkout's plugin, installed or not."""
    # Entry points off, so an installed copy is not registered next to the one passed in.
    monkeypatch.setenv("GBATCH_LOAD_PLUGINS", "")
    return lambda *args: gbatch_cli("tinytts", *args, plugins=[gbatch_tinytts])


@pytest.fixture
def url(gbatch_serve: Callable[..., str]) -> str:
    return gbatch_serve(tinytts_app())


def journal(out: Path) -> dict[str, dict[str, Any]]:
    lines = (out / "gbatch-journal.jsonl").read_text(encoding="utf-8").splitlines()
    return {record["id"]: record for record in map(json.loads, lines)}


def test_every_row_becomes_a_wav_with_the_apps_info(tinytts: Cli, url: str, tmp_path: Path) -> None:
    tasks = tmp_path / "lines.csv"
    tasks.write_text("id,text,voice,speed,seed\nhi,hello there,bob,1.5,7\nbye,see you,,,\n", encoding="utf-8")
    result = tinytts(tasks, "--server", url, "--out", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["succeeded"] == 2
    with wave.open(str(tmp_path / "out" / "hi.wav")) as audio:
        assert audio.getframerate() == 16_000 and audio.getnframes() > 0
    records = journal(tmp_path / "out")
    assert records["hi"]["values"]["info"] == "bob, 0.40 s, seed 7"
    # Voice and speed left empty take the server's own defaults.
    assert records["bye"]["values"]["info"].startswith("alice, 0.60 s, seed ")


def test_the_servers_voices_and_limits_are_checked_before_sending(tinytts: Cli, url: str, tmp_path: Path) -> None:
    tasks = tmp_path / "lines.csv"
    tasks.write_text(f"text,voice,speed\nhello,dave,1\nhello,bob,3\n{'la ' * 200}\n", encoding="utf-8")
    result = tinytts(tasks, "--server", url, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "lines.csv:2 (id 1):voice: 'dave' is not one of: 'alice', 'bob', 'carol'" in result.output
    assert "lines.csv:3 (id 2):speed: 3.0 is above the maximum 2" in result.output
    assert "lines.csv:4 (id 3):text: 600 characters; the app takes at most 500" in result.output
    assert not (tmp_path / "out").exists()


def test_a_generated_seed_is_kept_and_gives_the_same_audio_again(tinytts: Cli, url: str, tmp_path: Path) -> None:
    tasks = tmp_path / "lines.txt"
    tasks.write_text("one two three\n", encoding="utf-8")
    out = tmp_path / "out"
    assert tinytts(tasks, "--server", url, "--out", out).exit_code == 0
    first, audio = journal(out)["1"]["generated"]["seed"], (out / "1.wav").read_bytes()
    assert tinytts(tasks, "--server", url, "--out", out, "--restart").exit_code == 0
    assert journal(out)["1"]["generated"]["seed"] == first
    assert (out / "1.wav").read_bytes() == audio

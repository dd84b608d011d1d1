"""`gbatch rvc` end to end against two RVC stand-ins (gradio 3.41.2, `.venvs/gradio3`).

The stand-in records the voice loaded when each conversion ran, so a song converted
with another voice fails these tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

import gbatch_rvc

from . import oldgradio
from .conftest import EXAMPLES, ROOT, CliResult, run_cli, write_csv

pytestmark = pytest.mark.slow

DEMO = ROOT / "plugins" / "gbatch_rvc" / "demo_server.py"
RVC = EXAMPLES / "rvc"
SONGS = RVC / "songs"
PITCH = {"alto.pth": 330, "bass.pth": 110}
Standin = oldgradio.Recorded


def start(folder: Path) -> Standin:
    args = ("--root", str(RVC), "--delay", "0.2", "--load-delay", "0.2")
    return oldgradio.start_recorded(DEMO, 3, folder, *args, env={"GRADIO_TEMP_DIR": str(folder / "gradio-tmp")})


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Standin, Standin]]:
    yield from oldgradio.serving_pair(lambda: start(tmp_path_factory.mktemp("rvc-a")), lambda: start(tmp_path_factory.mktemp("rvc-b")))


def rvc(*args: Any) -> CliResult:
    return run_cli("rvc", *args, plugins=[gbatch_rvc])


def test_the_stand_in_has_upstreams_inference_events(pair: tuple[Standin, Standin]) -> None:
    config = httpx.get(pair[0].url + "config", timeout=10).json()
    names = [d.get("api_name") for d in config["dependencies"]]
    assert names == ["infer_clean", "infer_refresh", "infer_convert", "infer_refresh_batch", "infer_convert_batch", "infer_change_voice"]
    by_id = {c["id"]: c for c in config["components"]}
    convert = config["dependencies"][2]
    assert [by_id[i]["type"] for i in convert["inputs"]] == ["slider", "textbox", "number", "file", "radio", "textbox", "dropdown", "slider", "slider", "slider", "slider", "slider"]
    assert by_id[convert["inputs"][0]]["props"]["visible"] is False  # the speaker id, shown once a voice is loaded


def test_a_folder_of_songs_with_two_voices_on_two_servers(pair: tuple[Standin, Standin], tmp_path: Path) -> None:
    first, second = pair
    out = tmp_path / "out"
    result = rvc("--each", f"input={SONGS}/*.wav", "--each", "voice=alto;bass", "-s", f"{first.url}=2", "-s", f"{second.url}=2", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["succeeded"] == 8
    # Each conversion ran with the voice its row asked for, and the voice stayed loaded throughout.
    journal = [json.loads(line) for line in (out / "gbatch-journal.jsonl").read_text(encoding="utf-8").splitlines()]
    rows = {r["id"]: r for r in journal if "id" in r}
    wanted = {(Path(r["inputs"]["input"]).name, r["inputs"]["voice"] + ".pth") for r in rows.values()}
    done = [e for s in pair for e in s.calls("infer_convert_done")]
    assert {(e["input"], e["loaded"]) for e in done} >= wanted
    assert all(e["loaded"] == e["now"] for e in done)
    # The output is the page's audio: the voice's tone is in it.
    for record in rows.values():
        audio, rate = sf.read(out / record["outputs"][0])
        peak = np.argmax(np.abs(np.fft.rfft(audio))) * rate / len(audio)
        assert abs(peak - PITCH[record["inputs"]["voice"] + ".pth"]) < 5
        assert record["values"]["info"].startswith("Success.")
    # Two voices over two servers: each server loads one voice (or shares one when idle).
    switches = [r for r in journal if r.get("event") == "switch"]
    assert len(switches) <= 4
    assert sum(summary["switches"].values()) == len(switches)


def test_local_files_are_uploaded_and_server_paths_sent_as_they_are(pair: tuple[Standin, Standin], tmp_path: Path) -> None:
    first = pair[0]
    on_server = SONGS / "bridge.wav"  # the stand-in runs on this machine: this path is "on the server"
    tasks = write_csv(
        tmp_path / "songs.csv",
        [["id", "input", "server_input", "voice", "transpose", "index", "protect"], ["up", str(SONGS / "intro.wav"), "", "bass", "12", "none", "0.2"], ["there", "", str(on_server), "alto", "0", "", ""]],
    )
    result = rvc(tasks, "-s", first.url, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    got = {e["input"]: e for e in first.calls("infer_convert") if e["input"] in ("intro.wav", "bridge.wav")}
    assert got["intro.wav"]["input_path"] != str(SONGS / "intro.wav")  # uploaded: the server's own copy
    assert got["intro.wav"]["f0_up_key"] == 12 and got["intro.wav"]["file_index2"] == "" and got["intro.wav"]["protect"] == 0.2
    assert got["bridge.wav"]["input_path"] == str(on_server)
    assert got["bridge.wav"]["file_index2"].startswith("logs/alto/")  # upstream's pick for the voice


def test_bad_rows_are_refused_before_anything_is_sent(pair: tuple[Standin, Standin], tmp_path: Path) -> None:
    first = pair[0]
    tasks = write_csv(
        tmp_path / "bad.csv",
        [["id", "input", "voice", "f0_method"], ["a", str(tmp_path / "missing.wav"), "alto", ""], ["b", str(SONGS / "intro.wav"), "tenor", ""], ["c", str(SONGS / "intro.wav"), "alto", "yin"]],
    )
    before = len(first.calls("infer_convert")) + len(first.calls("infer_change_voice"))
    result = rvc(tasks, "-s", first.url, "-o", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "file not found" in result.output
    assert "'tenor' is not a voice the server lists; it has: alto.pth, bass.pth" in result.output
    assert "yin" in result.output
    assert len(first.calls("infer_convert")) + len(first.calls("infer_change_voice")) == before


def test_the_examples_songs(pair: tuple[Standin, Standin], tmp_path: Path) -> None:
    """examples/rvc/README.md's second command: each song with its own voice and shift."""
    result = rvc(RVC / "songs.csv", "-s", f"{pair[0].url}=2", "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["succeeded"] == 4
    done = {e["input"]: e["loaded"] for e in pair[0].calls("infer_convert_done")}
    assert done["verse.wav"] == "bass.pth" and done["chorus.wav"] == "alto.pth"

"""`gbatch gptsovits` end to end against two GPT-SoVITS stand-ins (gradio 4.44.1, `.venvs/gradio4`).

Each stand-in records the weights that were loaded when each row was spoken, so these
tests fail on any row spoken with another voice; one server is killed and restarted
in the middle of a batch.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

import gbatch_gptsovits

from . import oldgradio
from .conftest import EXAMPLES, ROOT, CliResult, run_cli, write_csv

pytestmark = pytest.mark.slow

DEMO = ROOT / "plugins" / "gbatch_gptsovits" / "demo_server.py"
WEIGHTS = EXAMPLES / "gptsovits"
REFS = WEIGHTS / "refs"
VOICES = ("alice", "bob", "carol")
Standin = oldgradio.Recorded


def own_temp(folder: Path) -> dict[str, str]:
    # Two gradio servers on one machine share /tmp/gradio unless told otherwise, and gradio 4
    # rewrites a cached upload in place: two servers given the same clip at once can read it half-written.
    return {"GRADIO_TEMP_DIR": str(folder / "gradio-tmp")}


def start(folder: Path, *extra: str) -> Standin:
    return oldgradio.start_recorded(DEMO, 4, folder, "--weights", str(WEIGHTS), *extra, env=own_temp(folder))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Standin, Standin]]:
    slow = ("--delay", "0.5", "--load-delay", "0.3")
    yield from oldgradio.serving_pair(lambda: start(tmp_path_factory.mktemp("gsv-a"), *slow), lambda: start(tmp_path_factory.mktemp("gsv-b"), *slow))


def gptsovits(*args: Any) -> CliResult:
    return run_cli("gptsovits", *args, plugins=[gbatch_gptsovits])


def weights_of(voice: str) -> tuple[str, str]:
    return f"GPT_weights_v2/{voice}-e15.ckpt", f"SoVITS_weights_v2/{voice}_e8_s200.pth"


def lines(path: Path, count: int, seed: int = 3) -> tuple[Path, dict[str, str]]:
    rng = random.Random(seed)
    rows: list[list[Any]] = [["id", "voice", "text", "ref_audio", "prompt_text", "text_language"]]
    voice_of: dict[str, str] = {}
    for i in range(count):
        voice = rng.choice(VOICES)
        text = f"line {i} for {voice}"
        voice_of[text] = voice
        rows.append([f"r{i:02d}", voice, text, str(REFS / f"{voice}.wav"), "hello", "en"])
    return write_csv(path, rows), voice_of


def switch_records(out: Path) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in (out / "gbatch-journal.jsonl").read_text(encoding="utf-8").splitlines()]
    return [r for r in records if r.get("event") == "switch"]


def test_the_stand_in_has_upstreams_events(pair: tuple[Standin, Standin]) -> None:
    info = httpx.get(pair[0].url + "info", timeout=10).json()["named_endpoints"]
    assert set(info) == {"/change_choices", "/get_tts_wav", "/change_sovits_weights", "/change_gpt_weights"}
    speak = [p["parameter_name"] for p in info["/get_tts_wav"]["parameters"]]
    assert speak == [
        "ref_wav_path", "prompt_text", "prompt_language", "text", "text_language", "how_to_cut", "top_k", "top_p", "temperature",
        "ref_free", "speed", "if_freeze", "inp_refs", "sample_steps", "if_sr", "pause_second", "use_cuda_graph",
    ]  # fmt: skip
    assert [p["parameter_name"] for p in info["/change_sovits_weights"]["parameters"]] == ["sovits_path", "prompt_language", "text_language"]
    languages = info["/get_tts_wav"]["parameters"][4]["type"]["enum"]
    assert languages[:2] == ["中文", "英文"]


def test_sixty_rows_three_voices_two_servers_one_restarted(pair: tuple[Standin, Standin], tmp_path: Path) -> None:
    first, second = pair
    tasks, voice_of = lines(tmp_path / "lines.csv", 60)
    out = tmp_path / "out"
    restarted = threading.Event()

    def crash_second_midway() -> None:
        # Once the second server has spoken a few rows, kill it mid-row and bring it back.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(second.calls("get_tts_wav_done")) < 2:
            time.sleep(0.05)
        while time.monotonic() < deadline and len(second.calls("get_tts_wav")) <= len(second.calls("get_tts_wav_done")):
            time.sleep(0.01)  # a row is being spoken right now
        second.restart()
        restarted.set()

    crasher = threading.Thread(target=crash_second_midway, daemon=True)
    crasher.start()
    result = gptsovits(tasks, "-s", first.url, "-s", second.url, "-o", out, "--retries", "5", "--json")
    crasher.join(timeout=120)
    assert restarted.is_set(), "the second server was never restarted"
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["succeeded"] == 60

    # Every row was spoken with its own voice: the weights loaded when it ran are its voice's.
    done = first.calls("get_tts_wav_done") + second.calls("get_tts_wav_done")
    for entry in done:
        assert (entry["gpt_path"], entry["sovits_path"]) == weights_of(voice_of[entry["text"]]), entry
        assert (entry["now_gpt"], entry["now_sovits"]) == weights_of(voice_of[entry["text"]]), "the voice changed during the row"
    # Nothing was sent twice, except the rows in flight on the server when it died (their
    # results never reached gbatch): at most its two slots' worth.
    assert set(Counter(e["text"] for e in done)) == set(voice_of)
    arrivals = Counter(e["text"] for e in first.calls("get_tts_wav") + second.calls("get_tts_wav"))
    pids = {e["pid"] for e in second.calls("get_tts_wav")}
    assert len(pids) == 2, f"the restarted server spoke no row: {result.output[-2000:]}"
    killed = min(pids, key=lambda pid: min(e["time"] for e in second.calls("get_tts_wav") if e["pid"] == pid))
    last_on_killed = sorted((e for e in second.calls("get_tts_wav") if e["pid"] == killed), key=lambda e: e["time"])[-2:]
    twice = {text for text, n in arrivals.items() if n > 1}
    assert twice <= {e["text"] for e in last_on_killed}, (twice, last_on_killed)
    assert all(n <= 2 for n in arrivals.values())
    # The restarted server came back with the right voice: its first row's weights are that row's voice.
    reborn = [e for e in second.calls("get_tts_wav_done") if e["pid"] != killed]
    assert (reborn[0]["gpt_path"], reborn[0]["sovits_path"]) == weights_of(voice_of[reborn[0]["text"]])

    # Switches are journaled, counted, and few: at most the voices plus one per server.
    switches = Counter(r["server"] for r in switch_records(out))
    summary = json.loads(result.stdout)["switches"]
    assert switches == Counter(summary)
    for server, count in switches.items():
        assert count <= len(VOICES) + 1, (server, count)
    # and each output is its voice's tone
    journal = {r["id"]: r for r in map(json.loads, (out / "gbatch-journal.jsonl").read_text(encoding="utf-8").splitlines()) if "id" in r}
    pitch = {"alice": 262, "bob": 147, "carol": 392}
    for record in list(journal.values())[:12]:
        audio, rate = sf.read(out / record["outputs"][0])
        peak = np.argmax(np.abs(np.fft.rfft(audio))) * rate / len(audio)
        assert abs(peak - pitch[voice_of[record["inputs"]["text"]]]) < 8


def test_a_pinned_voice_runs_only_on_its_server(pair: tuple[Standin, Standin], tmp_path: Path) -> None:
    first, second = pair
    tasks, voice_of = lines(tmp_path / "lines.csv", 12, seed=5)
    before = {e["text"] for e in second.calls("get_tts_wav_done")}
    result = gptsovits(tasks, "-s", first.url, "-s", second.url, "-o", tmp_path / "out", "--pin", f"alice@{first.url}", "-q")
    assert result.exit_code == 0, result.output
    on_second = {e["text"] for e in second.calls("get_tts_wav_done")} - before
    assert on_second and all(voice_of[text] != "alice" for text in on_second if text in voice_of)


def test_an_unknown_pin_is_a_usage_error(pair: tuple[Standin, Standin], tmp_path: Path) -> None:
    tasks, _ = lines(tmp_path / "lines.csv", 3)
    result = gptsovits(tasks, "-s", pair[0].url, "-o", tmp_path / "out", "--pin", f"dave@{pair[0].url}")
    assert result.exit_code == 2, result.output
    assert "no row to run needs 'dave'" in result.output


def test_the_apps_rules_are_checked_before_anything_is_sent(pair: tuple[Standin, Standin], tmp_path: Path) -> None:
    first = pair[0]
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(8000 * 2, dtype=np.float32) + 0.1, 8000)
    tasks = write_csv(
        tmp_path / "bad.csv",
        [
            ["id", "voice", "text", "ref_audio", "text_language", "how_to_cut"],
            ["a", "alice", "hi", str(short), "en", ""],
            ["b", "dave", "hi", str(REFS / "bob.wav"), "en", ""],
            ["c", "bob", "hi", str(REFS / "bob.wav"), "Klingon", ""],
            ["d", "bob", "hi", str(REFS / "bob.wav"), "en", "by moon phase"],
        ],
    )
    before = len(first.calls("get_tts_wav")) + len(first.calls("change_gpt_weights"))
    result = gptsovits(tasks, "-s", first.url, "-o", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "the reference clip is 2.0 s long; GPT-SoVITS takes 3 to 10 s" in result.output
    assert "voice 'dave' matches no" in result.output
    assert "'Klingon' is not a language the UI lists" in result.output
    assert "'by moon phase' is not a cut method the UI lists" in result.output
    assert len(first.calls("get_tts_wav")) + len(first.calls("change_gpt_weights")) == before


def test_labels_in_either_language_and_upstreams_codes(pair: tuple[Standin, Standin], tmp_path: Path) -> None:
    first = pair[0]
    tasks = write_csv(
        tmp_path / "langs.csv",
        [
            ["id", "gpt_weights", "sovits_weights", "text", "ref_audio", "prompt_text", "text_language", "prompt_language", "how_to_cut", "speed", "top_k"],
            ["a", "bob-e15.ckpt", "SoVITS_weights_v2/bob_e8_s200.pth", "one", str(REFS / "bob.wav"), "hi", "English", "all_zh", "No slice", "1.2", "5"],
            ["b", "bob-e15.ckpt", "bob_e8_s200.pth", "two", str(REFS / "bob.wav"), "", "日文", "en", "punctuation", "", ""],
        ],
    )
    result = gptsovits(tasks, "-s", first.url, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    got = {e["text"]: e for e in first.calls("get_tts_wav") if e["text"] in ("one", "two")}
    assert (got["one"]["text_language"], got["one"]["prompt_language"], got["one"]["how_to_cut"]) == ("英文", "中文", "不切")
    assert (got["one"]["speed"], got["one"]["top_k"]) == (1.2, 5)
    assert (got["two"]["text_language"], got["two"]["how_to_cut"], got["two"]["prompt_text"]) == ("日文", "按标点符号切", "")


def test_the_examples_dialogue(pair: tuple[Standin, Standin], tmp_path: Path) -> None:
    """examples/gptsovits/README.md's command: the dialogue over both servers."""
    result = gptsovits(WEIGHTS / "lines.csv", "-s", pair[0].url, "-s", pair[1].url, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["succeeded"] == 9
    assert sorted(p.name for p in (tmp_path / "out").glob("*.wav")) == [f"{i:02d}.wav" for i in range(1, 10)]

"""The `cosyvoice` tool end to end: `gbatch cosyvoice tasks.csv --server URL` against the
CosyVoice stand-in served by real gradio (streaming audio output, HLS, `playlist-file`).

Every in-process stand-in has its `/generate_audio` function wrapped by a `Recorder`, so
what the server received (or that it received nothing) is checked on the server side.
One test runs the stand-in and gbatch as real processes and kills the server mid-batch.
"""

from __future__ import annotations

import csv
import functools
import inspect
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
import httpx
import numpy as np
import pytest
import soundfile as sf

import gbatch
import gbatch.audio
from gbatch import audio
from gbatch_cosyvoice import demo_server
from gbatch_cosyvoice.demo_server import build_demo, split_segments, synthesize

from .conftest import EXAMPLES, PANDAS4, CliResult, ServeFn, free_port, run_cli

pytestmark = [
    pytest.mark.skipif(
        not (shutil.which("ffmpeg") and shutil.which("ffprobe")), reason="streaming audio needs ffmpeg + ffprobe"
    ),
    # gradio 6.31's queue analytics (server side, in this process) use pandas APIs pandas 3 deprecates.
    *PANDAS4,
]

Cli = Callable[..., CliResult]
VOICE = EXAMPLES / "voices" / "narrator.wav"
VOICE_TEXT = (EXAMPLES / "voices" / "narrator.txt").read_text(encoding="utf-8").strip()
SYS = "You are a helpful assistant.<|endofprompt|>"
MARKER = "<|endofprompt|>"
UPSTREAM_MODE = {"zero_shot": "3s极速复刻", "cross_lingual": "跨语种复刻", "instruct": "自然语言控制", "sft": "预训练音色"}
CROSS_INFO = ("info", "您正在使用跨语种复刻模式, 请确保合成文本和prompt文本为不同语言")


# --- a stand-in that records what it receives ------------------------------------------


class Recorder:
    """Every `/generate_audio` call a stand-in received (arguments by parameter name)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[dict[str, Any]] = []
        #: tts_text values the wrapper fails on (an exception the server hides, like upstream)
        self.broken: set[str] = set()
        #: tts_text values for which the wrapper sends only the first 0.1 s (a lost segment)
        self.truncated: set[str] = set()
        #: submissions the gradio queue turned away ("Queue is full")
        self.queue_full = 0
        #: while set, every call waits (up to 60 s) until it is cleared: a row held in flight
        self.hold = threading.Event()

    def add(self, got: dict[str, Any]) -> None:
        with self._lock:
            self._calls.append(got)

    @property
    def calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._calls)

    def by_text(self) -> dict[str, dict[str, Any]]:
        """The last call for each text as the user wrote it (the system prompt taken off)."""
        return {c["tts_text"].removeprefix(SYS): c for c in self.calls}

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self.broken = set()
            self.truncated = set()
            self.queue_full = 0
            self.hold.clear()


class Server(NamedTuple):
    url: str
    rec: Recorder


def record(demo: gr.Blocks, rec: Recorder) -> gr.Blocks:
    """Wrap the app's `generate_audio` so each call is recorded before it runs."""
    block = next(f for f in demo.fns.values() if f.api_name == "generate_audio")
    inner = block.fn
    assert inner is not None
    signature = inspect.signature(inner)

    @functools.wraps(inner)  # same name and signature: the API gradio derived does not change
    def generate_audio(*args: Any, **kwargs: Any) -> Iterator[Any]:
        got = dict(signature.bind(*args, **kwargs).arguments)
        rec.add(got)
        deadline = time.monotonic() + 60
        while rec.hold.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        if got["tts_text"].removeprefix(SYS) in rec.broken:
            raise RuntimeError("broken on purpose")
        if got["tts_text"].removeprefix(SYS) in rec.truncated:
            rate, samples = next(iter(inner(*args, **kwargs)))
            yield rate, samples[: rate // 10]
            return
        yield from inner(*args, **kwargs)

    block.fn = generate_audio
    return demo


def count_queue_full(demo: gr.Blocks, rec: Recorder) -> None:
    """Count the submissions gradio's queue rejects (it answers them with "Queue is full")."""
    queue = demo._queue  # noqa: SLF001 - the only place a rejection is visible on the server
    push = queue.push

    async def counting_push(*args: Any, **kwargs: Any) -> Any:
        answer = await push(*args, **kwargs)
        if answer[2] == "queue_full":
            rec.queue_full += 1
        return answer

    queue.push = counting_push  # type: ignore[method-assign]


def start(serve: ServeFn, demo: gr.Blocks) -> Server:
    rec = Recorder()
    return Server(serve(record(demo, rec)), rec)


def v3_with_saved_speaker() -> gr.Blocks:
    """Upstream webui.py on a CosyVoice3 that has a saved zero-shot speaker in spk2info.pt
    (so the speaker dropdown is not empty, and instruct mode reaches the model)."""
    model = demo_server._FakeModel(3, 0.0)  # noqa: SLF001
    model.speakers = ["my_voice"]
    demo = gr.Blocks(title=demo_server.TITLE, analytics_enabled=False)
    with demo:
        demo_server._build_upstream(demo, model, demo_server._upstream_fn(model))  # noqa: SLF001
    demo.queue(max_size=4, default_concurrency_limit=2)
    return demo


@pytest.fixture(scope="module")
def _v3(serve_module: ServeFn) -> Server:
    return start(serve_module, build_demo("upstream", model_version=3))


@pytest.fixture(scope="module")
def _v1(serve_module: ServeFn) -> Server:
    return start(serve_module, build_demo("upstream", model_version=1))


@pytest.fixture(scope="module")
def _space(serve_module: ServeFn) -> Server:
    return start(serve_module, build_demo("space"))


@pytest.fixture
def v3(_v3: Server) -> Server:
    _v3.rec.reset()
    return _v3


@pytest.fixture
def v1(_v1: Server) -> Server:
    _v1.rec.reset()
    return _v1


@pytest.fixture
def space(_space: Server) -> Server:
    _space.rec.reset()
    return _space


# --- helpers -------------------------------------------------------------------------


def write_csv(path: Path, rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def journal(out: Path) -> list[dict[str, Any]]:
    path = out / "gbatch-journal.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def latest(out: Path) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in journal(out)}


def cosy(cli: Cli, server: Server | str, tasks: Path, out: Path, *args: Any) -> CliResult:
    url = server if isinstance(server, str) else server.url
    return cli("cosyvoice", tasks, "--server", url, "--out", out, *args)


def with_voice(*args: Any) -> tuple[Any, ...]:
    return ("--prompt-audio", VOICE, "--prompt-text", VOICE_TEXT, *args)


def expected_seconds(text: str, sr: int, speed: float = 1.0) -> float:
    """What the stand-in synthesises for the text it received (independent of seed and voice)."""
    rng = np.random.default_rng(0)
    return sum(len(synthesize(seg, rng, sr, 150.0, speed)) for seg in split_segments(text)) / sr


def check_row_audio(path: Path, received_text: str, rate: int, speed: float = 1.0) -> np.ndarray:
    """A valid 16-bit WAV, not silent, exactly as long as the received text makes it (plus AAC padding)."""
    info = sf.info(str(path))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "PCM_16", rate, 1)
    samples, _ = sf.read(str(path), dtype="float32")
    seconds = len(samples) / rate
    want = expected_seconds(received_text, rate, speed)
    # One AAC encode per stream: 1024 priming samples plus padding to a whole 1024-sample frame.
    # A server warning would have added 1 s of silence in front.
    assert want + 1024 / rate - 1e-6 <= seconds <= want + 2048 / rate + 1e-6, (path.name, seconds, want)
    assert seconds > 0.5
    assert not audio.is_silent(samples)
    return np.asarray(samples)


def assert_clean(records: list[dict[str, Any]]) -> None:
    """Every row ok on the first attempt, and the server logged nothing at warning level."""
    for rec in records:
        assert rec["status"] == "ok", rec
        assert rec["attempts"] == 1, rec
        # The stand-in's chunks are peak-normalised to full scale (as gradio converts upstream's),
        # and the server's AAC round trip overshoots that: the flat tops are real clipping, which
        # the cheap checks rightly report. Anything else is a warning the row should not have.
        assert [w for w in rec["warnings"] if not re.search(r"% of the samples are clipped$", w)] == [], rec
        assert [entry for entry in rec["logs"] if entry[0].lower() == "warning"] == [], rec


def problems(result: CliResult) -> list[str]:
    """The `file:row:column: message` lines of a validation error."""
    assert result.exit_code == 2, result.output
    text = result.stderr.split("Error: ", 1)[1]
    return [line for line in text.splitlines() if line.strip() and "nothing was sent" not in line]


def parse_srt(text: str) -> list[tuple[float, float, str]]:
    def seconds(stamp: str) -> float:
        h, m, rest = stamp.split(":")
        s, ms = rest.split(",")
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    cues = []
    for number, block in enumerate(text.strip().split("\n\n"), 1):
        lines = block.split("\n")
        assert lines[0] == str(number)
        start, end = lines[1].split(" --> ")
        cues.append((seconds(start), seconds(end), "\n".join(lines[2:])))
    return cues


# --- every mode, happy paths ---------------------------------------------------------------


def test_zero_shot_and_cross_lingual_on_v3_with_markers(cli: Cli, v3: Server, tmp_path: Path) -> None:
    rows = [
        ["id", "mode", "text", "prompt_text"],
        ["z1", "zero_shot", "The lamp was lit at dusk.", ""],
        ["z2", "3s极速复刻", "灯塔孤零零地立在海角的尽头。", SYS + VOICE_TEXT],  # marker written by the user
        ["z3", "3s Zero-Shot", "[breath]She said <strong>thank you</strong> twice.", ""],
        ["c1", "cross_lingual", "Bonjour [breath] tout le monde.", ""],
        ["c2", "跨语种复刻", SYS + "你好，世界。", ""],  # marker written by the user
        ["c3", "Cross-Lingual", "Hola <strong>amigo</strong>.", ""],
    ]
    tasks = write_csv(tmp_path / "lines.csv", rows)
    result = cosy(cli, v3, tasks, tmp_path / "out", *with_voice("--strict"))
    assert result.exit_code == 0, result.output

    got = v3.rec.by_text()
    assert len(v3.rec.calls) == 6 and set(got) == {r[2].removeprefix(SYS) for r in rows[1:]}
    # zero_shot: the system prompt goes into prompt_text, once; the text (markup included) is untouched
    z1, z2, z3 = got["The lamp was lit at dusk."], got["灯塔孤零零地立在海角的尽头。"], got[rows[3][2]]
    assert z1["tts_text"] == "The lamp was lit at dusk." and z1["prompt_text"] == SYS + VOICE_TEXT
    assert z2["prompt_text"] == SYS + VOICE_TEXT and z2["prompt_text"].count(MARKER) == 1
    assert z3["tts_text"] == "[breath]She said <strong>thank you</strong> twice."
    # cross_lingual: the system prompt goes in front of the text, once; markup untouched
    c1, c2, c3 = got["Bonjour [breath] tout le monde."], got["你好，世界。"], got["Hola <strong>amigo</strong>."]
    assert c1["tts_text"] == SYS + "Bonjour [breath] tout le monde."
    assert c2["tts_text"] == SYS + "你好，世界。" and c2["tts_text"].count(MARKER) == 1
    assert c3["tts_text"] == SYS + "Hola <strong>amigo</strong>."
    for call in (z1, z2, z3):
        assert call["mode_checkbox_group"] == "3s极速复刻"
    for call in (c1, c2, c3):
        assert call["mode_checkbox_group"] == "跨语种复刻" and call["prompt_text"] == ""
    for call in got.values():
        assert call["prompt_wav_upload"] is not None and call["prompt_wav_record"] is None
        assert (call["sft_dropdown"], call["instruct_text"], call["stream"], call["speed"]) == ("", "", False, 1.0)
        assert sf.info(call["prompt_wav_upload"]).samplerate == 22050  # the narrator voice arrived

    records = latest(tmp_path / "out")
    assert sorted(records) == ["c1", "c2", "c3", "z1", "z2", "z3"]
    assert_clean(list(records.values()))
    # Logs are captured (so "no warning" above means something): cross_lingual always says this.
    for rid in ("c1", "c2", "c3"):
        assert records[rid]["logs"] == [list(CROSS_INFO)]
    for rid in ("z1", "z2", "z3"):
        assert records[rid]["logs"] == []
    by_id = {r[0]: r[2].removeprefix(SYS) for r in rows[1:]}
    for rid, rec in records.items():
        assert rec["outputs"] == [f"{rid}.wav"]
        samples = check_row_audio(tmp_path / "out" / f"{rid}.wav", got[by_id[rid]]["tts_text"], 24000)
        assert rec["values"] == {"duration": round(len(samples) / 24000, 3), "sample_rate": 24000}


def test_dry_run_shows_the_marker_and_sends_nothing(
    cli: Cli, v3: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # rich would wrap the long prompt_text line at 80
    tasks = write_csv(tmp_path / "t.csv", [["text"], ["One line."]])
    result = cosy(cli, v3, tasks, tmp_path / "out", *with_voice("--dry-run"))
    assert result.exit_code == 0, result.output
    assert f"prompt_text = {SYS + VOICE_TEXT!r}" in result.stdout
    assert "tts_text = 'One line.'" in result.stdout
    assert v3.rec.calls == []
    assert journal(tmp_path / "out") == []


@pytest.mark.parametrize("suffix", [".txt", ".csv"])
def test_text_only_file_with_cli_defaults(cli: Cli, v3: Server, tmp_path: Path, suffix: str) -> None:
    lines = ["First line of the file.", "第二行。"]
    tasks = tmp_path / f"lines{suffix}"
    tasks.write_text(("" if suffix == ".txt" else "text\n") + "\n".join(lines) + "\n", encoding="utf-8")
    result = cosy(cli, v3, tasks, tmp_path / "out", *with_voice("--speed", "1.5"))
    assert result.exit_code == 0, result.output
    got = v3.rec.by_text()
    assert set(got) == set(lines)
    for call in got.values():
        assert call["mode_checkbox_group"] == "3s极速复刻"
        assert call["prompt_text"] == SYS + VOICE_TEXT
        assert call["speed"] == 1.5
    records = latest(tmp_path / "out")
    assert sorted(records) == ["1", "2"]  # a .txt row's id is its line number
    assert_clean(list(records.values()))
    for rid, text in zip(("1", "2"), lines, strict=True):
        check_row_audio(tmp_path / "out" / f"{rid}.wav", text, 24000, speed=1.5)


def test_row_value_overrides_cli_default(cli: Cli, v3: Server, tmp_path: Path) -> None:
    tasks = write_csv(
        tmp_path / "t.csv",
        [["id", "text", "prompt_text", "speed", "mode"], ["a", "Default voice.", "", "", ""], ["b", "Own words.", "My own transcript.", "0.8", "cross_lingual"]],
    )
    result = cosy(cli, v3, tasks, tmp_path / "out", *with_voice("--speed", "1.2", "--mode", "zero_shot"))
    assert result.exit_code == 0, result.output
    got = v3.rec.by_text()
    assert (got["Default voice."]["prompt_text"], got["Default voice."]["speed"]) == (SYS + VOICE_TEXT, 1.2)
    assert got["Default voice."]["mode_checkbox_group"] == "3s极速复刻"
    assert (got["Own words."]["speed"], got["Own words."]["mode_checkbox_group"]) == (0.8, "跨语种复刻")
    tasks2 = write_csv(tmp_path / "t2.csv", [["id", "text", "prompt_text"], ["c", "Own words too.", "My own transcript."]])
    result = cosy(cli, v3, tasks2, tmp_path / "out2", *with_voice())
    assert result.exit_code == 0, result.output
    assert v3.rec.by_text()["Own words too."]["prompt_text"] == SYS + "My own transcript."
    assert_clean(list(latest(tmp_path / "out").values()) + list(latest(tmp_path / "out2").values()))


def test_sft_and_instruct_on_v1(cli: Cli, v1: Server, tmp_path: Path) -> None:
    rows = [
        ["id", "mode", "speaker", "instruct", "text"],
        ["s1", "sft", "中文女", "", "你好，世界。"],
        ["s2", "预训练音色", "英文男", "", "Good morning."],
        ["i1", "instruct", "中文男", "A calm male narrator, speaking slowly.", "夜里风很大。"],
        ["i2", "自然语言控制", "英文女", "A cheerful young woman.", "Thank you."],
        ["z1", "zero_shot", "", "", "A cloned voice."],
    ]
    tasks = write_csv(tmp_path / "v1.csv", rows)
    # The prompt defaults must not reach sft/instruct rows (the UI would log "will be ignored").
    result = cosy(cli, v1, tasks, tmp_path / "out", *with_voice("--model-version", "1", "--strict"))
    assert result.exit_code == 0, result.output
    got = v1.rec.by_text()
    for _rid, mode, speaker, instruct, text in rows[1:5]:
        call = got[text]
        assert call["mode_checkbox_group"] == UPSTREAM_MODE[{"预训练音色": "sft", "自然语言控制": "instruct"}.get(mode, mode)]
        assert call["sft_dropdown"] == speaker
        assert call["instruct_text"] == instruct
        assert (call["prompt_text"], call["prompt_wav_upload"], call["prompt_wav_record"]) == ("", None, None)
        assert call["tts_text"] == text  # v1: no marker anywhere
    assert got["A cloned voice."]["prompt_text"] == VOICE_TEXT
    assert got["A cloned voice."]["prompt_wav_upload"] is not None
    records = latest(tmp_path / "out")
    assert_clean(list(records.values()))
    assert all(rec["logs"] == [] for rec in records.values())  # not even an info
    for rid, *_, text in rows[1:]:
        check_row_audio(tmp_path / "out" / f"{rid}.wav", text, 22050)


def test_space_variant_detected_and_driven(cli: Cli, space: Server, tmp_path: Path) -> None:
    rows = [
        ["id", "mode", "text", "prompt_text", "instruct"],
        ["z1", "3s Zero-Shot", "The keeper climbed the stairs.", "", ""],
        ["z2", "zero_shot", "[breath]Another line.", SYS + VOICE_TEXT, ""],  # marker written by the user
        ["c1", "Cross-Lingual", "你好，<strong>世界</strong>。", "", ""],
        ["i1", "Instruct", "今天天气很好。", "", "请用广东话表达。"],
        ["i2", "instruct", "Speak softly.", "", "You are a helpful assistant. Please say a sentence in a very soft voice.<|endofprompt|>"],
    ]
    tasks = write_csv(tmp_path / "space.csv", rows)
    result = cosy(cli, space, tasks, tmp_path / "out", *with_voice("--strict"))
    assert result.exit_code == 0, result.output
    got = {c["tts_text"]: c for c in space.rec.calls}
    assert len(space.rec.calls) == 5
    assert all("sft_dropdown" not in c for c in got.values())  # 9 inputs
    # The Space UI adds the system prompt itself: gbatch must not send a second one.
    assert got["The keeper climbed the stairs."]["prompt_text"] == VOICE_TEXT
    assert got["[breath]Another line."]["prompt_text"] == VOICE_TEXT
    assert got["你好，<strong>世界</strong>。"]["prompt_text"] == ""
    assert all(MARKER not in c["tts_text"] and MARKER not in c["prompt_text"] for c in got.values())
    assert got["今天天气很好。"]["instruct_text"] == "You are a helpful assistant. 请用广东话表达。<|endofprompt|>"
    assert got["Speak softly."]["instruct_text"] == rows[5][4]  # not doubled
    assert [got[r[2]]["mode_checkbox_group"] for r in rows[1:]] == ["3s Zero-Shot", "3s Zero-Shot", "Cross-Lingual", "Instruct", "Instruct"]
    assert all(c["prompt_wav_upload"] is not None for c in got.values())
    records = latest(tmp_path / "out")
    assert_clean(list(records.values()))
    for rid, _mode, text, *_ in rows[1:]:
        # the Space UI returns 1 s of silence for a rejected request; these are real syntheses
        sent = SYS + text if rid == "c1" else text
        check_row_audio(tmp_path / "out" / f"{rid}.wav", sent, 24000)


def test_space_is_always_cosyvoice3(space: Server, tmp_path: Path) -> None:
    # The Space UI only exists for CosyVoice3: a wrong --model-version must not break its markers.
    rows = [["id", "mode", "prompt_text", "instruct", "text"], ["z", "zero_shot", SYS + VOICE_TEXT, "", "Hi."], ["i", "instruct", "", "请用广东话表达。", "你好。"]]
    tasks = write_csv(tmp_path / "t.csv", rows)
    options = gbatch.BatchOptions(
        servers=[space.url],
        out=tmp_path / "out",
        dry_run=True,
        defaults={"prompt_audio": str(VOICE)},
        tool_options={"model_version": 2},
    )
    result = gbatch.run_batch(gbatch.load_registry().tool("cosyvoice"), tasks, options, say=lambda _: None)
    kwargs = {item.row.id: item.call.kwargs for item in result.planned}
    assert kwargs["z"]["prompt_text"] == VOICE_TEXT
    assert kwargs["i"]["instruct_text"] == "You are a helpful assistant. 请用广东话表达。<|endofprompt|>"
    assert space.rec.calls == []


def test_not_a_cosyvoice_app(cli: Cli, serve: ServeFn, tmp_path: Path) -> None:
    calls: list[str] = []

    def echo(text: str) -> str:
        calls.append(text)
        return text

    def generate_audio(tts_text: str, mode_checkbox_group: str, voice: str) -> str:
        calls.append(tts_text)
        return tts_text

    with gr.Blocks(title="Some other app") as demo:
        box, out = gr.Textbox(label="Text"), gr.Textbox()
        mode, voice = gr.Textbox(label="Mode"), gr.Textbox(label="Voice")
        gr.Button().click(echo, box, out, api_name="echo")
        gr.Button().click(generate_audio, [box, mode, voice], out, api_name="generate_audio")
    url = serve(demo)
    tasks = write_csv(tmp_path / "t.csv", [["text"], ["hello"]])
    result = cosy(cli, url, tasks, tmp_path / "out", *with_voice())
    assert result.exit_code == 2, result.output
    err = result.stderr
    assert "does not look like a CosyVoice web UI" in err
    assert "Expected /generate_audio with\n  tts_text, mode_checkbox_group, sft_dropdown, prompt_text," in err
    assert "Found:\n  /echo(text)\n  /generate_audio(tts_text, mode_checkbox_group, voice)\n" in err
    assert (
        "    missing: prompt_text, prompt_wav_upload, prompt_wav_record, instruct_text, seed, stream, speed; "
        "unexpected: voice" in err
    )
    assert calls == []
    assert journal(tmp_path / "out") == []


# --- validation: every problem at once, nothing sent ----------------------------------


@pytest.fixture(scope="module")
def bad_voices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("voices")
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(8000) / 8000)
    sf.write(str(folder / "8k.wav"), tone, 8000, subtype="PCM_16")
    long = 0.3 * np.sin(2 * np.pi * 220 * np.arange(int(16000 * 30.5)) / 16000)
    sf.write(str(folder / "long.wav"), long, 16000, subtype="PCM_16")
    (folder / "notaudio.wav").write_text("this is not audio\n", encoding="utf-8")
    return folder


def test_validation_reports_every_problem_and_sends_nothing(cli: Cli, v3: Server, tmp_path: Path, bad_voices: Path) -> None:
    voice = str(VOICE)
    header = ["id", "mode", "text", "prompt_audio", "prompt_text", "instruct", "speaker", "seed", "speed"]
    rows = [
        ["ok1", "zero_shot", "Fine.", voice, "p", "", "", "", ""],
        ["r1", "zero_shot", "hi", "", "p", "", "", "", ""],
        ["r2", "zero_shot", "hi", voice, "", "", "", "", ""],
        ["r3", "cross_lingual", "hi", "", "", "", "", "", ""],
        ["r4", "instruct", "hi", "", "", "", "", "", ""],
        ["r5", "sft", "hi", "", "", "", "", "", ""],
        ["r6", "zero_shot", "hi", "missing.wav", "p", "", "", "", ""],
        ["r7", "zero_shot", "hi", str(bad_voices / "notaudio.wav"), "p", "", "", "", ""],
        ["r8", "zero_shot", "hi", str(bad_voices / "8k.wav"), "p", "", "", "", ""],
        ["r9", "zero_shot", "hi", str(bad_voices / "long.wav"), "p", "", "", "", ""],
        ["r10", "zero_shot", "hi", voice, "p", "", "", "-1", ""],
        ["r11", "zero_shot", "hi", voice, "p", "", "", "4294967296", ""],
        ["r12", "zero_shot", "hi", voice, "p", "", "", "1.5", ""],
        ["r13", "zero_shot", "hi", voice, "p", "", "", "abc", ""],
        ["r14", "zero_shot", "hi", voice, "p", "", "", "", "0.4"],
        ["r15", "zero_shot", "hi", voice, "p", "", "", "", "2.1"],
        ["r16", "dance", "hi", voice, "p", "", "", "", ""],
        ["ok2", "cross_lingual", "Fine too.", voice, "", "", "", "4294967295", "2.0"],
    ]
    tasks = write_csv(tmp_path / "bad.csv", [header, *rows])
    result = cosy(cli, v3, tasks, tmp_path / "out")
    f = str(tasks)
    assert problems(result) == [
        f"{f}:3 (id r1):prompt_audio: zero_shot mode needs prompt audio (a prompt_audio column or --prompt-audio)",
        f"{f}:4 (id r2):prompt_text: zero_shot mode needs the prompt audio's transcript (prompt_text or --prompt-text)",
        f"{f}:5 (id r3):prompt_audio: cross_lingual mode needs prompt audio (a prompt_audio column or --prompt-audio)",
        f"{f}:6 (id r4):instruct: instruct mode needs an instruction (instruct column or --instruct)",
        f"{f}:7 (id r5):speaker: sft mode needs a preset speaker, and this server has none "
        "(CosyVoice2/3 ship no preset speakers): use zero_shot or cross_lingual",
        f"{f}:8 (id r6):prompt_audio: file not found: {tmp_path / 'missing.wav'}",
        f"{f}:9 (id r7):prompt_audio: prompt audio cannot be read: {bad_voices / 'notaudio.wav'}: not a readable audio file "
        f"(Error opening '{bad_voices / 'notaudio.wav'}': Format not recognised.)",
        f"{f}:10 (id r8):prompt_audio: prompt audio sample rate 8000 Hz is below 16000 Hz: {bad_voices / '8k.wav'}",
        f"{f}:11 (id r9):prompt_audio: prompt audio is 30.5 s long; the UI accepts at most 30 s: {bad_voices / 'long.wav'}",
        f"{f}:12 (id r10):seed: -1 is below the minimum 0",
        f"{f}:13 (id r11):seed: 4294967296 is above the maximum 4294967295",
        f"{f}:14 (id r12):seed: expected a whole number, got '1.5'",
        f"{f}:15 (id r13):seed: expected a whole number, got 'abc'",
        f"{f}:16 (id r14):speed: 0.4 is below the minimum 0.5",
        f"{f}:17 (id r15):speed: 2.1 is above the maximum 2",
        f"{f}:18 (id r16):mode: 'dance' is not one of: 'zero_shot', 'cross_lingual', 'instruct', 'sft'",
    ]
    assert "16 problems in the task file; nothing was sent." in result.stderr
    assert v3.rec.calls == []
    assert journal(tmp_path / "out") == []


def test_validation_against_the_servers_speakers_and_modes(cli: Cli, v1: Server, space: Server, tmp_path: Path) -> None:
    tasks = write_csv(
        tmp_path / "sft.csv",
        [["id", "mode", "speaker", "instruct", "text"], ["a", "sft", "中文女", "", "ok"], ["b", "sft", "nobody", "", "hi"], ["c", "instruct", "", "calm", "hi"]],
    )
    result = cosy(cli, v1, tasks, tmp_path / "out", "--model-version", "1")
    speakers = "'中文女', '中文男', '日语男', '粤语女', '英文女', '英文男', '韩语女'"
    assert problems(result) == [
        f"{tasks}:3 (id b):speaker: 'nobody' is not one of: {speakers}",
        f"{tasks}:4 (id c):speaker: instruct mode needs a speaker, one of: 中文女, 中文男, 日语男, 粤语女, 英文女, 英文男, 韩语女",
    ]
    assert v1.rec.calls == []

    tasks = write_csv(tmp_path / "space.csv", [["id", "mode", "text", "instruct"], ["a", "sft", "hi", ""], ["b", "instruct", "hi", ""], ["c", "Instruct", "hi", "calm"]])
    result = cosy(cli, space, tasks, tmp_path / "out2")  # no --prompt-audio: Space instruct needs one
    assert problems(result) == [
        f"{tasks}:2 (id a):mode: mode 'sft' is not offered by this server (it offers: zero_shot, cross_lingual, instruct)",
        # one cause, one line
        f"{tasks}:prompt_audio: instruct mode needs prompt audio (a prompt_audio column or --prompt-audio) (2 rows: id b, id c)",
    ]
    assert space.rec.calls == []


def test_one_cause_is_one_line_however_many_rows(cli: Cli, v3: Server, tmp_path: Path) -> None:
    """A forgotten --prompt-text on 40 rows is one line with the count and the first ids, not 40."""
    tasks = write_csv(tmp_path / "t.csv", [["id", "text"], *[[f"line{n}", f"Sentence {n}."] for n in range(1, 41)]])
    result = cosy(cli, v3, tasks, tmp_path / "out", "--prompt-audio", VOICE)
    assert result.exit_code == 2, result.output
    assert problems(result) == [
        f"{tasks}:prompt_text: zero_shot mode needs the prompt audio's transcript (prompt_text or --prompt-text) "
        "(40 rows: id line1, id line2, id line3 and 37 more)"
    ]
    assert "40 problems in the task file; nothing was sent." in result.stderr
    assert v3.rec.calls == []


def test_a_bad_option_default_is_reported_though_every_row_overrides_it(cli: Cli, v1: Server, tmp_path: Path) -> None:
    tasks = write_csv(tmp_path / "t.csv", [["id", "mode", "speaker", "text"], ["a", "sft", "中文女", "ok"], ["b", "sft", "中文男", "hi"]])
    result = cosy(cli, v1, tasks, tmp_path / "out", "--model-version", "1", "--speaker", "carol")
    assert result.exit_code == 2, result.output
    assert problems(result) == [
        f"{tasks}: --speaker 'carol': 'carol' is not one of: '中文女', '中文男', '日语男', '粤语女', '英文女', '英文男', '韩语女' "
        "(no row uses this default, but it does not fit this server)"
    ]
    assert v1.rec.calls == []
    fine = cosy(cli, v1, tasks, tmp_path / "out", "--model-version", "1", "--speaker", "英文女", "--dry-run")
    assert fine.exit_code == 0, fine.output


def test_join_column_is_checked_before_sending(cli: Cli, v3: Server, tmp_path: Path) -> None:
    no_column = write_csv(tmp_path / "a.csv", [["id", "text"], ["a", "One."]])
    result = cosy(cli, v3, no_column, tmp_path / "out", *with_voice("--join", "chapter"))
    assert problems(result) == [f"{no_column}: required column 'chapter' is missing"]
    empty_cell = write_csv(tmp_path / "b.csv", [["id", "chapter", "text"], ["a", "ch1", "One."], ["b", "", "Two."]])
    result = cosy(cli, v3, empty_cell, tmp_path / "out", *with_voice("--join", "chapter"))
    assert problems(result) == [f"{empty_cell}:3 (id b):chapter: a value is required"]
    assert v3.rec.calls == []
    assert not (tmp_path / "out").exists()


# --- CosyVoice3 specifics -----------------------------------------------------------------


def test_model_version_2_against_v3_fails_the_row(cli: Cli, v3: Server, tmp_path: Path) -> None:
    tasks = write_csv(tmp_path / "t.csv", [["id", "text"], ["a", "No marker here."]])
    result = cosy(cli, v3, tasks, tmp_path / "out", *with_voice("--model-version", "2", "--retries", "0"))
    assert result.exit_code == 1, result.output
    assert v3.rec.calls[0]["prompt_text"] == VOICE_TEXT  # no system prompt with --model-version 2
    rec = latest(tmp_path / "out")["a"]
    assert rec["status"] == "failed" and rec["attempts"] == 1
    assert rec["error"].startswith("the app raised an error (the server hides the details")
    assert "use --model-version 3" in rec["error"]
    assert not (tmp_path / "out" / "a.wav").exists()


def test_instruct_on_upstream_v3_is_explained(cli: Cli, v3: Server, serve: ServeFn, tmp_path: Path) -> None:
    tasks = write_csv(tmp_path / "t.csv", [["id", "mode", "speaker", "instruct", "text"], ["a", "instruct", "", "请用广东话表达。", "你好。"]])
    # No speakers (a plain CosyVoice2/3): caught before sending, with the reason.
    result = cosy(cli, v3, tasks, tmp_path / "out")
    [line] = problems(result)
    assert line.startswith(f"{tasks}:2 (id a):speaker: ")
    assert "only works with CosyVoice v1" in line and "inference_instruct" in line
    assert v3.rec.calls == []

    # A CosyVoice3 with a saved speaker: the row reaches the model, fails, and the error says why.
    saved = start(serve, v3_with_saved_speaker())
    tasks = write_csv(tmp_path / "t2.csv", [["id", "mode", "speaker", "instruct", "text"], ["a", "instruct", "my_voice", "请用广东话表达。", "你好。"]])
    result = cosy(cli, saved, tasks, tmp_path / "out2", "--retries", "0")
    assert result.exit_code == 1, result.output
    assert [c["mode_checkbox_group"] for c in saved.rec.calls] == ["自然语言控制"]
    rec = latest(tmp_path / "out2")["a"]
    assert rec["status"] == "failed" and rec["attempts"] == 1
    assert rec["error"].startswith("the app raised an error (the server hides the details")
    assert "calls inference_instruct, which only CosyVoice v1 models implement" in rec["error"]


# --- seeds ------------------------------------------------------------------------------


def test_seeds_are_recorded_and_reused(cli: Cli, v3: Server, tmp_path: Path) -> None:
    text = "The same words, twice."
    tasks = write_csv(tmp_path / "t.csv", [["id", "text", "seed"], ["a", text, ""], ["b", text, ""], ["c", text, "12345"]])
    out = tmp_path / "out"
    result = cosy(cli, v3, tasks, out, *with_voice())
    assert result.exit_code == 0, result.output
    first = latest(out)
    assert_clean(list(first.values()))
    seeds = {rid: first[rid]["generated"].get("seed") for rid in "ab"}
    assert all(isinstance(s, int) and 1 <= s <= 2**32 - 1 for s in seeds.values())
    assert seeds["a"] != seeds["b"]
    assert first["c"]["generated"] == {}
    assert sorted(c["seed"] for c in v3.rec.calls) == sorted([seeds["a"], seeds["b"], 12345])
    audio_1 = {rid: (out / f"{rid}.wav").read_bytes() for rid in "abc"}
    assert audio_1["a"] != audio_1["b"]  # same text, other seed: other audio

    v3.rec.reset()
    result = cosy(cli, v3, tasks, out, *with_voice("--restart"))
    assert result.exit_code == 0, result.output
    assert sorted(c["seed"] for c in v3.rec.calls) == sorted([seeds["a"], seeds["b"], 12345])
    second = latest(out)
    assert len(journal(out)) == 6
    for rid in "abc":
        assert second[rid]["generated"] == first[rid]["generated"]
        assert second[rid]["input_hash"] == first[rid]["input_hash"]
        assert (out / f"{rid}.wav").read_bytes() == audio_1[rid]


# --- queue-full back-pressure ------------------------------------------------------------


def test_queue_full_back_pressure_spends_no_retries(cli: Cli, serve: ServeFn, tmp_path: Path) -> None:
    rec = Recorder()
    demo = record(build_demo("upstream", model_version=3, chunk_seconds=1.0), rec)
    url = serve(demo)
    count_queue_full(demo, rec)
    tasks = write_csv(tmp_path / "t.csv", [["id", "text"], *[[f"r{i}", f"Line number {i}."] for i in range(8)]])
    result = cosy(cli, f"{url}=8", tasks, tmp_path / "out", *with_voice("--retries", "0", "--queue-ahead", "8"))
    assert result.exit_code == 0, result.output
    # 8 in flight (--queue-ahead 8: always keep that many waiting) against 2 running + 4 waiting: the queue turned some away...
    assert rec.queue_full >= 1
    # ...yet every row ran once, succeeded, and spent no attempt on the full queue.
    assert sorted(c["tts_text"] for c in rec.calls) == sorted(f"Line number {i}." for i in range(8))
    records = latest(tmp_path / "out")
    assert len(records) == 8 and len(journal(tmp_path / "out")) == 8
    assert_clean(list(records.values()))


def test_audio_much_shorter_than_its_text_is_flagged(cli: Cli, v3: Server, tmp_path: Path) -> None:
    """A lost segment still gives a row, but the journal says the audio looks too short."""
    text = "This sentence is long enough that a tenth of a second cannot possibly hold it."
    v3.rec.truncated = {text}
    write_csv(tmp_path / "t.csv", [["id", "text"], ["short", text], ["fine", "Hello there."]])
    result = cosy(cli, v3, tmp_path / "t.csv", tmp_path / "out", *with_voice())
    assert result.exit_code == 0, result.output
    final = latest(tmp_path / "out")
    assert final["short"]["status"] == "ok"
    (warning,) = [w for w in final["short"]["warnings"] if "clipped" not in w]  # see assert_clean
    spoken = sum(c.isalnum() for c in text)  # spaces and punctuation take no time
    assert warning.startswith("short.wav: only 0.") and warning.endswith(f" s of audio for {spoken} characters: part of the text may be missing")
    # the figure behind it is in the journal, with the limit it was held against
    (rate,) = [c for c in final["short"]["checks"] if c["check"] == "speaking rate"]
    assert rate["flagged"] and rate["figure"] > rate["limit"] == 40.0
    assert_clean([final["fine"]])


# --- server killed mid-batch, then resumed --------------------------------------------------


def _start_server(port: int, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    # tones: these tests compare durations with the tone model (espeak-ng speaks otherwise)
    command = [sys.executable, "-m", "gbatch_cosyvoice.demo_server", "--port", str(port), "--delay", "0.5", "--voice", "tones"]
    with log.open("ab") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env or os.environ.copy())
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the stand-in exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/gradio_api/info", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    pytest.fail("the stand-in did not start")


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)


def _batch_against_a_subprocess_server(tmp_path: Path, rows: int, retries: int) -> tuple[list[str], list[str], int]:
    """The row ids, a `gbatch cosyvoice` command for them, and a free port for the stand-in."""
    port = free_port()
    ids = [f"r{i}" for i in range(rows)]
    write_csv(tmp_path / "t.csv", [["id", "text"], *[[rid, f"Sentence {rid}."] for rid in ids]])
    command = [sys.executable, "-m", "gbatch", "cosyvoice", "t.csv", "--server", f"http://127.0.0.1:{port}"]
    command += ["--retries", str(retries), "--out", "out", *map(str, with_voice())]
    return ids, command, port


def _wait_for_records(out: Path, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while len(journal(out)) < count and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)


def test_server_killed_mid_batch_then_resume(tmp_path: Path) -> None:
    ids, command, port = _batch_against_a_subprocess_server(tmp_path, rows=8, retries=1)
    server = _start_server(port, tmp_path / "server.log")
    try:
        gbatch = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
        try:
            _wait_for_records(tmp_path / "out", 2, gbatch)
            _stop(server)
            _, stderr = gbatch.communicate(timeout=120)
        finally:
            _stop(gbatch)
        assert gbatch.returncode == 1, stderr
        assert "Traceback" not in stderr
        first = journal(tmp_path / "out")
        assert {r["id"] for r in first} == set(ids)  # every row was tried...
        done = {r["id"] for r in first if r["status"] == "ok"}
        failed = {r["id"] for r in first if r["status"] == "failed"}
        assert 2 <= len(done) < len(ids) and failed == set(ids) - done  # ...some failed after the kill
        assert all(r["attempts"] == 2 for r in first if r["status"] == "failed")  # --retries 1

        server = _start_server(port, tmp_path / "server.log")
        again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=180, env=os.environ.copy())
        assert again.returncode == 0, again.stderr
    finally:
        _stop(server)
    second = journal(tmp_path / "out")
    # Rows that had succeeded were not sent again: one new record per failed row, and no more.
    assert len(second) == len(first) + len(failed)
    assert sorted(r["id"] for r in second[len(first) :]) == sorted(failed)
    final = latest(tmp_path / "out")
    assert_clean([final[rid] for rid in ids if rid in failed])
    for rid in ids:
        assert final[rid]["status"] == "ok"
        check_row_audio(tmp_path / "out" / f"{rid}.wav", f"Sentence {rid}.", 24000)


def test_server_restarted_mid_batch_the_same_run_finishes(tmp_path: Path) -> None:
    """A server that goes away and comes back costs retries, not rows: one run, every row ok."""
    ids, command, port = _batch_against_a_subprocess_server(tmp_path, rows=6, retries=8)
    server = _start_server(port, tmp_path / "server.log")
    try:
        gbatch = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
        try:
            _wait_for_records(tmp_path / "out", 1, gbatch)
            _stop(server)
            server = _start_server(port, tmp_path / "server.log")
            _, stderr = gbatch.communicate(timeout=240)
        finally:
            _stop(gbatch)
    finally:
        _stop(server)
    assert gbatch.returncode == 0, stderr
    records = journal(tmp_path / "out")
    assert sorted(r["id"] for r in records) == ids and all(r["status"] == "ok" for r in records)
    assert any(r["attempts"] > 1 for r in records)  # the restart was felt, and survived
    for rid in ids:
        check_row_audio(tmp_path / "out" / f"{rid}.wav", f"Sentence {rid}.", 24000)


def test_a_server_without_ffprobe_still_gives_audio(tmp_path: Path) -> None:
    """No joined WAV from the server (its playlist-file needs ffprobe): the AAC segments are kept."""
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "the tests need ffmpeg (scripts/setup.sh installs it)"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ffmpeg").symlink_to(ffmpeg)  # streaming needs ffmpeg; ffprobe is left out
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}"}
    ids, command, port = _batch_against_a_subprocess_server(tmp_path, rows=3, retries=0)
    server = _start_server(port, tmp_path / "server.log", env=env)
    try:
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=os.environ.copy())
    finally:
        _stop(server)
    assert result.returncode == 0, result.stderr
    final = latest(tmp_path / "out")
    for rid in ids:
        record = final[rid]
        assert record["outputs"] == [f"{rid}.aac"]
        assert record["warnings"] == ["the server could not join the stream into WAV (does it have ffmpeg and ffprobe?); saved AAC as sent"]
        data = (tmp_path / "out" / f"{rid}.aac").read_bytes()
        assert record["values"]["duration"] == round(audio.adts_duration(data), 3)
        assert abs(audio.adts_duration(data) - expected_seconds(f"Sentence {rid}.", 24000)) < 0.1


# --- joining, formats, loudness, strictness ----------------------------------------------


def test_join_chapters_with_subtitles(cli: Cli, v3: Server, tmp_path: Path) -> None:
    rows = [
        ["id", "chapter", "text"],
        ["a", "ch1", "The lighthouse stood alone."],
        ["b", "ch1", "灯塔孤零零地立在海角的尽头。"],
        ["c", "ch1", "Every evening, she lit the lamp."],
        ["d", "ch2", "At midnight she saw a boat."],
        ["e", "ch2", "This one breaks."],
    ]
    tasks = write_csv(tmp_path / "book.csv", rows)
    v3.rec.broken = {"This one breaks."}
    out = tmp_path / "out"
    args = with_voice("--join", "chapter", "--gap", "0.5", "--name", "{chapter}_{id}", "--retries", "0")
    result = cosy(cli, v3, tasks, out, *args)
    assert result.exit_code == 1, result.output
    records = latest(out)
    assert records["e"]["status"] == "failed"
    assert_clean([records[rid] for rid in "abcd"])
    assert [records[rid]["outputs"] for rid in "abcd"] == [["ch1_a.wav"], ["ch1_b.wav"], ["ch1_c.wav"], ["ch2_d.wav"]]
    # a group with a failed row is not joined
    assert "not joining chapter='ch2': 1 row(s) not done (e)" in result.stderr
    assert sorted(p.name for p in (out / "joined").iterdir()) == ["ch1.srt", "ch1.wav"]

    parts = [sf.read(str(out / f"ch1_{rid}.wav"), dtype="int16")[0] for rid in "abc"]
    joined, rate = sf.read(str(out / "joined" / "ch1.wav"), dtype="int16")
    gap = round(0.5 * rate)
    assert rate == 24000 and sf.info(str(out / "joined" / "ch1.wav")).subtype == "PCM_16"
    assert len(joined) == sum(len(p) for p in parts) + 2 * gap
    cues = parse_srt((out / "joined" / "ch1.srt").read_text(encoding="utf-8"))
    offset = 0
    for part, cue, row in zip(parts, cues, rows[1:4], strict=True):
        assert np.array_equal(joined[offset : offset + len(part)], part)  # each row, sample for sample
        assert cue == (round(offset / rate, 3), round((offset + len(part)) / rate, 3), row[2])
        offset += len(part)
        if offset < len(joined):
            assert not joined[offset : offset + gap].any()  # the gap is silence
            offset += gap
    assert len(cues) == 3

    # Once the broken row works, a re-run sends only that row and joins chapter 2 as well.
    v3.rec.reset()
    result = cosy(cli, v3, tasks, out, *args)
    assert result.exit_code == 0, result.output
    assert [c["tts_text"] for c in v3.rec.calls] == ["This one breaks."]
    assert sorted(p.name for p in (out / "joined").iterdir()) == ["ch1.srt", "ch1.wav", "ch2.srt", "ch2.wav"]
    assert [c[2] for c in parse_srt((out / "joined" / "ch2.srt").read_text(encoding="utf-8"))] == [rows[4][2], rows[5][2]]


def test_join_by_a_column_fed_by_an_alias_or_only_by_a_default(cli: Cli, v3: Server, tmp_path: Path) -> None:
    """--join names a column; its header may be an alias (the UI label), or a command-line default may feed it."""
    rows = [["id", "输入合成文本"], ["a", "Same words."], ["b", "Same words."]]
    tasks = write_csv(tmp_path / "t.csv", rows)
    out = tmp_path / "out"
    by_alias = cosy(cli, v3, tasks, out, *with_voice("--join", "text"))
    assert by_alias.exit_code == 0, by_alias.output
    assert sorted(p.name for p in (out / "joined").iterdir()) == ["Same words.srt", "Same words.wav"]
    by_default = cosy(cli, v3, tasks, tmp_path / "out2", *with_voice("--join", "speed", "--speed", "1.5"))
    assert by_default.exit_code == 0, by_default.output
    assert sorted(p.name for p in (tmp_path / "out2" / "joined").iterdir()) == ["1.5.srt", "1.5.wav"]


@pytest.mark.parametrize(("fmt", "major", "subtype"), [("flac", "FLAC", "PCM_16"), ("mp3", "MP3", "MPEG_LAYER_III"), ("ogg", "OGG", "VORBIS")])
def test_output_formats(cli: Cli, v3: Server, tmp_path: Path, fmt: str, major: str, subtype: str) -> None:
    text = "A line in another format."
    tasks = write_csv(tmp_path / "t.csv", [["id", "text"], ["a", text]])
    result = cosy(cli, v3, tasks, tmp_path / "out", *with_voice("--format", fmt))
    assert result.exit_code == 0, result.output
    rec = latest(tmp_path / "out")["a"]
    assert_clean([rec])
    assert rec["outputs"] == [f"a.{fmt}"]
    info = sf.info(str(tmp_path / "out" / f"a.{fmt}"))
    assert (info.format, info.subtype, info.samplerate, info.channels) == (major, subtype, 24000, 1)
    samples, _ = sf.read(str(tmp_path / "out" / f"a.{fmt}"), dtype="float32")
    assert not audio.is_silent(samples)
    # lossy codecs add a little padding; the length is the row's, within 0.1 s
    assert len(samples) / 24000 == pytest.approx(rec["values"]["duration"], abs=0.1)
    assert rec["values"]["duration"] > 0.5


@pytest.mark.parametrize(("kbps", "low", "high"), [(None, 120, 140), ("96", 88, 104), ("64", 58, 70)])
def test_mp3_bitrate_is_fit_for_speech_and_can_be_chosen(cli: Cli, v3: Server, tmp_path: Path, kbps: str | None, low: float, high: float) -> None:
    tasks = write_csv(tmp_path / "t.csv", [["id", "text"], ["a", "A longer line, so that the bitrate can be measured over a few seconds of audio."]])
    extra = ("--bitrate", kbps) if kbps else ()
    result = cosy(cli, v3, tasks, tmp_path / "out", *with_voice("--format", "mp3", *extra))
    assert result.exit_code == 0, result.output
    path = tmp_path / "out" / "a.mp3"
    measured = path.stat().st_size * 8 / sf.info(str(path)).duration / 1000
    assert low <= measured <= high, measured


def test_normalize_brings_rows_to_one_loudness(cli: Cli, v3: Server, tmp_path: Path) -> None:
    texts = ["Aaaaaaaaaaaa bbbbbbbbbbbbbbb ccccccccccccc.", "A. B. C. D. E. F. G.", "很长很长很长很长的一句话。"]
    tasks = write_csv(tmp_path / "t.csv", [["id", "text", "seed"], *[[f"r{i}", t, "7"] for i, t in enumerate(texts)]])
    raw = tmp_path / "raw"
    assert cosy(cli, v3, tasks, raw, *with_voice()).exit_code == 0
    result = cosy(cli, v3, tasks, tmp_path / "norm", *with_voice("--normalize"))
    assert result.exit_code == 0, result.output
    assert_clean(list(latest(tmp_path / "norm").values()))
    before = [gbatch.audio.loudness(*sf.read(str(raw / f"r{i}.wav"), dtype="float32")) for i in range(3)]
    after = [gbatch.audio.loudness(*sf.read(str(tmp_path / "norm" / f"r{i}.wav"), dtype="float32")) for i in range(3)]
    assert max(before) - min(before) > 2.0  # the server's loudness differs per row
    peaks = [gbatch.audio.true_peak_db(sf.read(str(tmp_path / "norm" / f"r{i}.wav"), dtype="float32")[0]) for i in range(3)]
    # -18 LUFS (BS.1770), unless the true-peak ceiling (-3 dBFS) held a row lower: then its peak is at the ceiling
    for level, peak in zip(after, peaks, strict=True):
        assert abs(level - -18.0) <= 1.0 or (level < -18.0 and abs(peak - -3.0) <= 0.1), (after, peaks)
        assert peak <= -3.0 + 0.1
    assert sum(abs(level - -18.0) <= 1.0 for level in after) >= 2


def test_strict_fails_a_row_the_server_warned_about(cli: Cli, v1: Server, tmp_path: Path) -> None:
    # The cosyvoice tool never sends what trips a warning, so use the generic runner on the same server:
    # zero-shot with an empty prompt_text makes upstream warn, pad 1 s of silence, and go on.
    tasks = write_csv(tmp_path / "t.csv", [["id", "tts_text", "mode_checkbox_group", "prompt_wav_upload"], ["a", "你好。", "3s极速复刻", str(VOICE)]])
    warning = "prompt文本为空，您是否忘记输入prompt文本？"
    lenient = cli("run", v1.url, tasks, "--api", "/generate_audio", "--out", tmp_path / "lenient")
    assert lenient.exit_code == 0, lenient.output
    rec = latest(tmp_path / "lenient")["a"]
    # the cheap checks see the second of silence the warning cost
    assert (rec["status"], rec["warnings"], rec["logs"]) == ("ok", [warning, "a.wav: 1.0 s of silence before the speech"], [["warning", warning]])
    samples, rate = sf.read(str(tmp_path / "lenient" / "a.wav"), dtype="float32")
    assert audio.is_silent(samples[: int(0.9 * rate)])  # the second of silence the warning costs

    strict = cli("run", v1.url, tasks, "--api", "/generate_audio", "--out", tmp_path / "strict", "--strict")
    assert strict.exit_code == 1, strict.output
    rec = latest(tmp_path / "strict")["a"]
    assert (rec["status"], rec["error"], rec["warnings"]) == ("failed", f"--strict: the server warned: {warning}", [warning])
    assert rec["attempts"] == 1  # a warning is not worth a retry
    assert len(v1.rec.calls) == 2
    assert [c["prompt_text"] for c in v1.rec.calls] == ["", ""]


# --- redo only the bad takes -------------------------------------------------------------


def test_redo_runs_exactly_the_listed_rows_with_new_seeds_and_keeps_the_old_takes(cli: Cli, v3: Server, tmp_path: Path) -> None:
    rows = [["id", "chapter", "text"], ["a", "ch1", "First line."], ["b", "ch1", "Second line."], ["c", "ch1", "Third line."]]
    tasks = write_csv(tmp_path / "book.csv", rows)
    out = tmp_path / "out"
    first = cosy(cli, v3, tasks, out, *with_voice("--join", "chapter"))
    assert first.exit_code == 0, first.output
    assert (out / "review.html").exists() and "--redo" in first.stderr
    before = latest(out)
    old_a = (out / "a.wav").read_bytes()
    (out / "redo.txt").write_text("a\n\nc\n", encoding="utf-8")
    v3.rec.reset()

    redo = cosy(cli, v3, tasks, out, *with_voice("--join", "chapter", "--redo", out / "redo.txt"))
    assert redo.exit_code == 0, redo.output
    assert sorted(c["tts_text"] for c in v3.rec.calls) == ["First line.", "Third line."]
    after = latest(out)
    assert after["a"]["generated"]["seed"] != before["a"]["generated"]["seed"]
    assert after["b"] == before["b"]
    assert (out / "a.take1.wav").read_bytes() == old_a
    assert after["a"]["outputs"] == ["a.wav"] and after["a"]["takes"][0]["outputs"] == ["a.take1.wav"]
    assert after["a"]["takes"][0]["generated"] == before["a"]["generated"]
    with (out / "results.csv").open(encoding="utf-8-sig") as handle:
        table = {r["id"]: r for r in csv.DictReader(handle)}
    assert table["a"]["outputs"] == "a.wav" and table["a"]["gen.seed"] == str(after["a"]["generated"]["seed"])
    # the joined chapter is made of the current takes
    joined, _ = sf.read(str(out / "joined" / "ch1.wav"), dtype="int16")
    current_a, _ = sf.read(str(out / "a.wav"), dtype="int16")
    assert np.array_equal(joined[: len(current_a)], current_a)

    # the file was applied: moved aside, so the same command again makes no other take
    assert not (out / "redo.txt").exists() and (out / "redo.applied.txt").read_text(encoding="utf-8") == "a\n\nc\n"
    v3.rec.reset()
    same = cosy(cli, v3, tasks, out, *with_voice("--join", "chapter", "--redo", out / "redo.txt"))
    assert same.exit_code == 0, same.output
    assert "was applied by an earlier run" in same.stderr and v3.rec.calls == []
    assert not (out / "a.take2.wav").exists()

    (out / "redo.txt").write_text("a\n", encoding="utf-8")  # marked again in the review page
    again = cosy(cli, v3, tasks, out, *with_voice("--redo", out / "redo.txt"))
    assert again.exit_code == 0, again.output
    assert (out / "a.take2.wav").exists() and len(latest(out)["a"]["takes"]) == 2

    (out / "redo.txt").write_text("a\n", encoding="utf-8")
    replaced = cosy(cli, v3, tasks, out, *with_voice("--redo", out / "redo.txt", "--no-keep"))
    assert replaced.exit_code == 0, replaced.output
    assert not (out / "a.take3.wav").exists()


def test_an_interrupted_redo_resumed_without_redo_makes_a_new_take(cli: Cli, v3: Server, tmp_path: Path) -> None:
    tasks = write_csv(tmp_path / "t.csv", [["id", "text"], ["a", "First line."]])
    out = tmp_path / "out"
    assert cosy(cli, v3, tasks, out, *with_voice()).exit_code == 0
    old = latest(out)["a"]["generated"]["seed"]
    (tmp_path / "redo.txt").write_text("a\n", encoding="utf-8")
    v3.rec.reset()
    v3.rec.hold.set()
    command = [sys.executable, "-m", "gbatch", "cosyvoice", str(tasks), "--server", v3.url, "--out", str(out)]
    command += [str(arg) for arg in with_voice("--redo", tmp_path / "redo.txt")]
    redo = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not v3.rec.calls and time.monotonic() < deadline:
        time.sleep(0.05)
    redo.send_signal(signal.SIGINT)
    _, stderr = redo.communicate(timeout=60)
    v3.rec.hold.clear()
    assert redo.returncode == 130, stderr
    assert latest(out)["a"]["status"] == "pending" and (out / "a.take1.wav").exists()

    resumed = cosy(cli, v3, tasks, out, *with_voice())
    assert resumed.exit_code == 0, resumed.output
    record = latest(out)["a"]
    assert record["takes"][0]["generated"]["seed"] == old
    assert record["generated"]["seed"] != old  # the redo's new take, not the old one made again


def test_redo_with_an_unknown_id_sends_nothing(cli: Cli, v3: Server, tmp_path: Path) -> None:
    tasks = write_csv(tmp_path / "t.csv", [["id", "text"], ["a", "One."]])
    (tmp_path / "redo.txt").write_text("a\nzzz\n", encoding="utf-8")
    v3.rec.reset()
    result = cosy(cli, v3, tasks, tmp_path / "out", *with_voice("--redo", tmp_path / "redo.txt"))
    assert result.exit_code == 2
    assert "redo.txt:2: 'zzz' is not a row id of the task file" in result.stderr
    assert v3.rec.calls == []


def _hints(stderr: str) -> list[str]:
    """The commands the summary suggests (indented lines after a "…:" line)."""
    return [line.strip() for line in stderr.splitlines() if line.startswith("  ") and " cosyvoice " in line]


def test_the_summary_prints_one_redo_command_that_works_when_pasted(v3: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Built from the batch's options (not argv: here that is pytest's), without a login, token,
    header or URL password, and with the program as the shell finds it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # gbatch is not on PATH, as after the README's setup
    monkeypatch.setattr(sys, "argv", ["pytest", "-x", "tests/"])
    write_csv(tmp_path / "t.csv", [["id", "text"], ["a", "One."], ["b", "Two."]])
    secrets = ("--token", "tok-secret", "--header", "X-Key: hdr-secret")
    first = run_cli("cosyvoice", "t.csv", "--server", v3.url, "--out", "out", *with_voice("--speed", "1.0", *secrets))
    assert first.exit_code == 0, first.output
    hints = _hints(first.stderr)
    assert len(hints) == 1 and "secret" not in first.stderr and "-x" not in hints[0].split(), first.stderr
    assert "slots learned while running from its queue" in first.stderr  # said before the rows go
    assert f"server {v3.url}: learned 2 slots from its queue" in first.stderr  # the stand-in runs 2 at once
    program = os.path.relpath(Path(sys.executable).parent / "gbatch", tmp_path)
    program = program if not program.startswith("..") else str(Path(sys.executable).parent / "gbatch")
    command = f"{program} cosyvoice t.csv --server {v3.url} --out out --prompt-audio {VOICE} --prompt-text {shlex.quote(VOICE_TEXT)} --speed 1.0 --redo {tmp_path / 'out' / 'redo.txt'}"
    assert hints[0] == command + "   (and your login, token or headers again)"

    (tmp_path / "out" / "redo.txt").write_text("b\n", encoding="utf-8")
    pasted = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    assert pasted.returncode == 0, pasted.stderr
    assert (tmp_path / "out" / "b.take1.wav").exists() and not (tmp_path / "out" / "a.take1.wav").exists()
    assert _hints(pasted.stderr) == [command]  # the same hint again (and no secrets to give again)


def test_after_retry_failed_the_redo_hint_has_no_retry_failed(v3: Server, tmp_path: Path) -> None:
    tasks = write_csv(tmp_path / "t.csv", [["id", "text"], ["a", "One."], ["b", "Two."]])
    v3.rec.broken = {"Two."}
    first = cosy(run_cli, v3, tasks, tmp_path / "out", *with_voice("--retries", "0"))
    assert first.exit_code == 1
    hints = _hints(first.stderr)
    assert [h.endswith(" --retry-failed") for h in hints] == [True, False] and hints[1].endswith("redo.txt")
    v3.rec.broken = set()
    retried = cosy(run_cli, v3, tasks, tmp_path / "out", *with_voice("--retries", "0", "--retry-failed"))
    assert retried.exit_code == 0, retried.output
    (hint,) = _hints(retried.stderr)
    assert "--retry-failed" not in hint and hint.endswith(f"--redo {tmp_path / 'out' / 'redo.txt'}")


def test_help_shows_the_default_server() -> None:
    shown = run_cli("cosyvoice", "--help")
    assert shown.exit_code == 0
    assert "(repeatable). [default: http://127.0.0.1:8000]" in " ".join(shown.stdout.split())


def test_a_hidden_error_of_the_ui_driven_through_run_says_what_can_be_seen(cli: Cli, v3: Server, tmp_path: Path) -> None:
    """`gbatch run` on the upstream UI with a CosyVoice3 model: a row without the prompt marker
    fails with a hidden error. Its error quotes the app's last messages for that job (the UI's
    cross-lingual notice) and names the likely cause and the tool that avoids it."""
    tasks = write_csv(
        tmp_path / "t.csv",
        [
            ["id", "tts_text", "mode_checkbox_group", "prompt_text", "prompt_wav_upload"],
            ["zero", "Hello there.", "3s极速复刻", VOICE_TEXT, str(VOICE)],
            ["cross", "Hello there.", "跨语种复刻", "", str(VOICE)],
        ],
    )
    result = cli("run", v3.url, tasks, "--api", "/generate_audio", "--out", tmp_path / "out")
    assert result.exit_code == 1, result.output
    assert len(v3.rec.calls) == 2 and not any("<|endofprompt|>" in c["prompt_text"] + c["tts_text"] for c in v3.rec.calls)
    rows = latest(tmp_path / "out")
    for row in rows.values():
        assert row["error"].startswith("the app raised an error (the server hides the details: no show_error=True; see its log)")
        assert "lacks the <|endofprompt|> marker" in row["error"]
        assert f"`gbatch cosyvoice TASKS --server {v3.url}` adds it" in row["error"]
    assert "the app's last messages for it: info: 您正在使用跨语种复刻模式, 请确保合成文本和prompt文本为不同语言. " in rows["cross"]["error"]
    assert "last messages" not in rows["zero"]["error"]  # the UI said nothing about that job
    assert "lacks the <|endofprompt|> marker" in result.stderr

"""Tests for the CosyVoice stand-in server, driven through gradio_client over loopback."""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import asyncio  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from concurrent.futures import wait  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from gradio_client.utils import QueueError, Status  # noqa: E402

from gbatch import audio  # noqa: E402
from gbatch_cosyvoice.demo_server import build_demo, main, split_segments, synthesize  # noqa: E402

pytestmark = [
    pytest.mark.skipif(
        not (shutil.which("ffmpeg") and shutil.which("ffprobe")), reason="streaming audio needs ffmpeg + ffprobe"
    ),
    # gradio 6.31's queue analytics use pandas APIs that pandas 3 deprecates; with -W error those
    # warnings kill gradio's post-event cleanup task (after the result was sent). Not ours to fix.
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

VOICE = str(Path(__file__).parents[1] / "examples" / "voices" / "narrator.wav")
SYS = "You are a helpful assistant.<|endofprompt|>"
DEFAULT_TEXT = "我是通义实验室语音团队全新推出的生成式语音大模型，提供舒适自然的语音合成能力。"
GENERIC = "The upstream Gradio app has raised an exception but has not enabled verbose error reporting"


@pytest.fixture(scope="module")
def stand_in(serve_module: Any) -> Iterator[Callable[..., Client]]:
    """Launch stand-ins (conftest closes the servers) and hand out clients, closed at module end."""
    clients: list[Client] = []

    def start(**kwargs: Any) -> Client:
        url = serve_module(build_demo(**kwargs))
        clients.append(Client(url, download_files=False, analytics_enabled=False, verbose=False))
        return clients[-1]

    yield start
    for client in clients:
        client.close()


@pytest.fixture(scope="module")
def v3(stand_in: Callable[..., Client]) -> Client:
    return stand_in(variant="upstream", model_version=3)


@pytest.fixture(scope="module")
def space(stand_in: Callable[..., Client]) -> Client:
    return stand_in(variant="space")


def logs(job: Any) -> list[tuple[str, str]]:
    """All gr.Info/gr.Warning messages a finished job received, in order."""
    found: list[tuple[str, str]] = []
    while True:
        try:
            update = job.communicator.updates.get_nowait()
        except asyncio.QueueEmpty:
            return found
        if getattr(update, "code", None) == Status.LOG:
            found.append(update.log)


def fetch_wav(result: dict[str, Any]) -> tuple[np.ndarray, int]:
    resp = httpx.get(result["url"].replace("playlist.m3u8", "playlist-file"), timeout=30)
    resp.raise_for_status()
    assert resp.content[:4] == b"RIFF" and resp.headers["content-type"].startswith("audio/")
    return audio.decode_wav_bytes(resp.content)


def expected_seconds(text: str, sr: int) -> float:
    """Duration the stand-in synthesises for text (independent of seed and voice)."""
    rng = np.random.default_rng(0)
    return sum(len(synthesize(seg, rng, sr, 150.0)) for seg in split_segments(text)) / sr


def assert_aac_duration(got: float, want: float, sr: int) -> None:
    # one continuous AAC encode per stream: 1024 priming samples + padding to a 1024-sample frame
    assert want + 1024 / sr - 1e-6 <= got <= want + 2048 / sr + 1e-6, (got, want)


UPSTREAM_PARAMS = [
    ("tts_text", "输入合成文本", True, DEFAULT_TEXT, "Textbox"),
    ("mode_checkbox_group", "选择推理模式", True, "预训练音色", "Radio"),
    ("sft_dropdown", "选择预训练音色", True, "", "Dropdown"),
    ("prompt_text", "输入prompt文本", True, "", "Textbox"),
    ("prompt_wav_upload", "选择prompt音频文件，注意采样率不低于16khz", False, None, "Audio"),
    ("prompt_wav_record", "录制prompt音频文件", False, None, "Audio"),
    ("instruct_text", "输入instruct文本", True, "", "Textbox"),
    ("seed", "随机推理种子", True, 0, "Number"),
    ("stream", "是否流式推理", True, False, "Radio"),
    ("speed", "速度调节(仅支持非流式推理)", True, 1, "Number"),
]


def _shape(params: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (p["parameter_name"], p["label"], p["parameter_has_default"], p["parameter_default"], p["component"])
        for p in params
    ]


def test_upstream_view_api(v3: Client) -> None:
    api = v3.view_api(return_format="dict", print_info=False)
    assert list(api["named_endpoints"]) == ["/generate_seed", "/generate_audio", "/change_instruction"]
    assert api["unnamed_endpoints"] == {}
    endpoint = api["named_endpoints"]["/generate_audio"]
    assert _shape(endpoint["parameters"]) == UPSTREAM_PARAMS
    enums = [p["type"].get("enum") for p in endpoint["parameters"]]
    assert enums[1] == ["预训练音色", "3s极速复刻", "跨语种复刻", "自然语言控制"]
    assert enums[2] == [""]  # CosyVoice2/3 ship no speakers
    assert enums[8] == [False, True]
    assert [r["label"] for r in endpoint["returns"]] == ["合成音频"]
    step = v3.predict("3s极速复刻", api_name="/change_instruction")
    assert step.startswith("1. 选择prompt音频文件") and step.endswith("3. 点击生成音频按钮")


def test_v1_speakers(stand_in: Callable[..., Client]) -> None:
    v1 = stand_in(variant="upstream", model_version=1)
    api = v1.view_api(return_format="dict", print_info=False)
    params = api["named_endpoints"]["/generate_audio"]["parameters"]
    assert params[2]["type"]["enum"] == ["中文女", "中文男", "日语男", "粤语女", "英文女", "英文男", "韩语女"]
    assert params[2]["parameter_default"] == "中文女"
    result = v1.predict(
        "你好，世界。", "预训练音色", "中文男", "", None, None, "", 1, False, 1, api_name="/generate_audio"
    )
    samples, sr = fetch_wav(result)
    assert sr == 22050
    assert_aac_duration(len(samples) / sr, expected_seconds("你好，世界。", 22050), sr)


def test_zero_shot_returns_hls_stream_and_wav(v3: Client) -> None:
    text = "今天天气很好。We walked to the sea!"
    job = v3.submit(
        text,
        "3s极速复刻",
        "",
        SYS + "希望你以后能够做的比我还好呦。",
        handle_file(VOICE),
        None,
        "",
        42,
        False,
        1,
        api_name="/generate_audio",
    )
    result = job.result(timeout=60)
    assert result["is_stream"] is True and result["url"].endswith("/playlist.m3u8")
    assert len(job.outputs()) == 2  # one chunk per sentence segment, even with stream=False
    assert logs(job) == []
    playlist = httpx.get(result["url"], timeout=30).text
    assert playlist.startswith("#EXTM3U") and "#EXT-X-ENDLIST" in playlist
    samples, sr = fetch_wav(result)
    assert sr == 24000 and not audio.is_silent(samples)
    assert_aac_duration(len(samples) / sr, expected_seconds(text, sr), sr)
    # the AAC segments add up to the same duration as the combined WAV
    base = result["url"].rsplit("/", 1)[0]
    segments = [line for line in playlist.splitlines() if line and not line.startswith("#")]
    aac = b"".join(httpx.get(f"{base}/{name}", timeout=30).content for name in segments)
    assert audio.adts_duration(aac) == pytest.approx(len(samples) / sr, abs=1e-3)


def test_speed_and_stream(v3: Client) -> None:
    text = SYS + "你好你好你好你好你好你好你好。"  # cross-lingual: marker in the text, one segment
    args = (text, "跨语种复刻", "", "", handle_file(VOICE), None, "")
    slow = v3.submit(*args, 1, False, 1.0, api_name="/generate_audio")
    fast = v3.submit(*args, 1, False, 2.0, api_name="/generate_audio")
    streamed = v3.submit(*args, 1, True, 2.0, api_name="/generate_audio")  # speed ignored when streaming
    base = expected_seconds(text, 24000)
    assert_aac_duration(len(fetch_wav(slow.result(timeout=60))[0]) / 24000, base, 24000)
    fast_s = len(fetch_wav(fast.result(timeout=60))[0]) / 24000
    assert fast_s == pytest.approx(base / 2, abs=0.1)
    assert_aac_duration(len(fetch_wav(streamed.result(timeout=60))[0]) / 24000, base, 24000)
    assert len(streamed.outputs()) > len(slow.outputs()) == 1


def test_warning_continues_with_leading_silence(v3: Client) -> None:
    # empty prompt_text: warning + 1 s silence, then synthesis (marker is in the text, so CV3 accepts it)
    text = SYS + "你好。"
    job = v3.submit(text, "3s极速复刻", "", "", handle_file(VOICE), None, "", 0, False, 1, api_name="/generate_audio")
    samples, sr = fetch_wav(job.result(timeout=60))
    assert logs(job) == [("prompt文本为空，您是否忘记输入prompt文本？", "warning")]
    assert_aac_duration(len(samples) / sr, 1.0 + expected_seconds(text, sr), sr)
    assert audio.is_silent(samples[int(0.1 * sr) : int(0.9 * sr)])


def test_missing_prompt_audio_warns_then_fails(v3: Client) -> None:
    job = v3.submit("你好。", "跨语种复刻", "", "", None, None, "x", 0, False, 1, api_name="/generate_audio")
    with pytest.raises(AppError, match=GENERIC):
        job.result(timeout=60)
    assert logs(job) == [
        ("您正在使用跨语种复刻模式, instruct文本会被忽略", "info"),
        ("您正在使用跨语种复刻模式, 请提供prompt音频", "warning"),
        ("您正在使用跨语种复刻模式, 请确保合成文本和prompt文本为不同语言", "info"),
        ("prompt音频为空，您是否忘记输入prompt音频？", "warning"),
    ]


@pytest.mark.parametrize(
    ("mode", "sft", "prompt_text", "instruct", "seed"),
    [
        ("3s极速复刻", "", "no marker", "", 0),  # CV3 needs <|endofprompt|>
        ("自然语言控制", "", "", "请用广东话表达。", 0),  # inference_instruct is v1-only
        ("预训练音色", "", "", "", 0),  # no speakers: warning, then KeyError
        ("3s极速复刻", "", SYS + "hi", "", 3.5),  # float seed
        ("3s极速复刻", "", SYS + "hi", "", 2**32),  # seed out of range
    ],
)
def test_model_failures_are_generic(
    v3: Client, mode: str, sft: str, prompt_text: str, instruct: str, seed: float
) -> None:
    job = v3.submit(
        "你好。",
        mode,
        sft,
        prompt_text,
        handle_file(VOICE),
        None,
        instruct,
        seed,
        False,
        1,
        api_name="/generate_audio",
    )
    with pytest.raises(AppError, match=GENERIC):
        job.result(timeout=60)


def test_input_validation_messages_come_through(v3: Client) -> None:
    base = dict(tts_text="你好。", prompt_wav_upload=None, prompt_wav_record=None)
    with pytest.raises(AppError, match="is not in the list of choices"):
        v3.predict(mode_checkbox_group="zero_shot", api_name="/generate_audio", **base)
    with pytest.raises(AppError, match="Value 3 is greater than maximum value 2.0."):
        v3.predict(speed=3, api_name="/generate_audio", **base)
    with pytest.raises(AppError, match=r"Value: 'False' .* is not in the list of choices: \[False, True\]"):
        v3.predict(stream="False", api_name="/generate_audio", **base)


def test_space_variant(space: Client) -> None:
    api = space.view_api(return_format="dict", print_info=False)
    params = api["named_endpoints"]["/generate_audio"]["parameters"]
    assert [p["parameter_name"] for p in params] == [
        "tts_text",
        "mode_checkbox_group",
        "prompt_text",
        "prompt_wav_upload",
        "prompt_wav_record",
        "instruct_text",
        "seed",
        "stream",
        "speed",
    ]
    assert [p["label"] for p in params] == [
        "Input Text",
        "Inference Mode",
        "Input Prompt Text",
        "Select prompt audio file (Sample rate >= 16kHz)",
        "Record prompt audio",
        "Input Instruct Text",
        "Random Seed",
        "Stream Inference",
        "Speed Adjustment (Non-streaming only)",
    ]
    assert params[1]["type"]["enum"] == ["3s Zero-Shot", "Cross-Lingual", "Instruct"]
    assert params[1]["parameter_default"] == "3s Zero-Shot"
    assert params[7]["type"]["enum"] == [False, True]
    assert api["named_endpoints"]["/generate_audio"]["returns"][0]["label"] == "Generated Audio"

    ok = space.submit(
        "Hello there.", "3s Zero-Shot", "hello", handle_file(VOICE), None, "", 0, False, 1, api_name="/generate_audio"
    )
    samples, sr = fetch_wav(ok.result(timeout=60))
    assert sr == 24000 and logs(ok) == []
    assert_aac_duration(len(samples) / sr, expected_seconds("Hello there.", sr), sr)

    # a failed check returns after 1 s of silence instead of raising
    bad = space.submit(
        "Hello.", "Instruct", "", handle_file(VOICE), None, "speak slowly", 0, False, 1, api_name="/generate_audio"
    )
    samples, sr = fetch_wav(bad.result(timeout=60))
    assert logs(bad) == [("You are using Instruct Mode, please enter instruct text", "warning")]
    assert audio.is_silent(samples)
    assert_aac_duration(len(samples) / sr, 1.0, sr)


def test_queue_full(stand_in: Callable[..., Client]) -> None:
    """2 running + 4 waiting: of 6 more submissions while 2 run, exactly 2 get QueueError."""
    # Long enough that no running job ends (and frees a place) while the 6 are submitted,
    # even on a loaded machine; the first 2 must have left the queue before the rest arrive.
    client = stand_in(variant="upstream", model_version=1, chunk_seconds=2.0)
    args = ("你好。", "预训练音色", "中文女", "", None, None, "")  # v1 sft: no upload, joins at once
    running = [client.submit(*args, i, False, 1, api_name="/generate_audio") for i in range(2)]
    _wait_until_running(running)
    more = [client.submit(*args, i, False, 1, api_name="/generate_audio") for i in range(2, 8)]
    jobs = running + more
    wait(jobs, timeout=60)
    errors = [job.exception() for job in jobs if job.exception() is not None]
    assert [type(error).__name__ for error in errors] == ["QueueError", "QueueError"]
    assert all(isinstance(error, QueueError) for error in errors)
    assert sum(isinstance(job.result(), dict) for job in jobs if job.exception() is None) == 6


def _wait_until_running(jobs: list[Any], timeout: float = 30.0) -> None:
    started = Status.ordering(Status.PROCESSING)
    deadline = time.monotonic() + timeout
    while not all(Status.ordering(job.status().code) >= started for job in jobs):
        assert time.monotonic() < deadline, [job.status().code for job in jobs]
        time.sleep(0.05)


# --- in-process checks (no HTTP) ----------------------------------------------------------


def _run(demo: gr.Blocks, *args: Any) -> list[tuple[int, np.ndarray]]:
    fn: Any = next(f.fn for f in demo.fns.values() if f.name == "generate_audio")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gr.Warning outside a request is a Python warning
        return list(fn(*args))


def test_same_seed_same_audio() -> None:
    demo = build_demo("upstream", 2)
    args = ("你好。Hello, world.", "3s极速复刻", "", "hi", VOICE, None, "")
    a = _run(demo, *args, 7, False, 1.0)
    b = _run(demo, *args, 7, False, 1.0)
    c = _run(demo, *args, 8, False, 1.0)
    assert len(a) == 2 and all(sr == 24000 for sr, _ in a)
    assert all(x.dtype == np.int16 and np.array_equal(x, y) for (_, x), (_, y) in zip(a, b, strict=True))
    assert not np.array_equal(a[0][1], c[0][1])
    assert int(np.max(np.abs(a[0][1]))) == 32767  # peak-normalised per chunk, as gradio does


def test_synthesize_is_speech_like() -> None:
    rng = np.random.default_rng(1)
    samples = synthesize("你好，world.", rng, 24000, 150.0)
    assert samples.dtype == np.float32 and float(np.max(np.abs(samples))) == pytest.approx(0.3, rel=1e-5)
    assert len(samples) == int(0.18 * 24000) * 2 + int(0.15 * 24000) + int(0.35 * 24000) + int(0.3 * 24000)
    assert split_segments("第一句。第二句！Third one? 。") == ["第一句。", "第二句！", "Third one?"]
    assert split_segments(SYS + "一。二。") == [SYS + "一。二。"]  # markup switches splitting off


def test_show_error_exposes_the_message() -> None:
    demo = build_demo("upstream", 3, show_error=True)
    with pytest.raises(gr.Error, match="endofprompt"):
        _run(demo, "你好。", "3s极速复刻", "", "hi", VOICE, None, "", 0, False, 1.0)


def test_cli_help_and_bad_args(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "--model-version" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--variant", "nope"])


# --- speech with espeak-ng --------------------------------------------------------------------

needs_espeak = pytest.mark.skipif(not shutil.which("espeak-ng"), reason="espeak-ng is not installed (apt-get install espeak-ng)")


@needs_espeak
def test_espeak_speaks_the_text() -> None:
    demo = build_demo("upstream", 2, voice="espeak")
    args = ("Hello there, friend. 你好，世界。", "3s极速复刻", "", "hi", VOICE, None, "")
    english, chinese = _run(demo, *args, 7, False, 1.0)
    for (sr, chunk), low, high in ((english, 0.8, 4.0), (chinese, 0.6, 5.0)):
        assert sr == 24000 and chunk.dtype == np.int16 and int(np.max(np.abs(chunk))) == 32767
        assert low < len(chunk) / sr < high and not audio.is_silent(chunk.astype(np.float32) / 32768)
    again = _run(demo, *args, 7, False, 1.0)
    other_seed = _run(demo, *args, 8, False, 1.0)
    assert all(np.array_equal(x, y) for (_, x), (_, y) in zip([english, chinese], again, strict=True))
    assert not np.array_equal(english[1], other_seed[0][1])  # another seed, another pitch
    fast = _run(demo, *args, 7, False, 2.0)
    assert len(fast[0][1]) < 0.7 * len(english[1])  # espeak-ng's rate follows the speed
    streamed = _run(demo, *args, 7, True, 2.0)  # speed is ignored when streaming, as upstream
    assert sum(len(c) for _, c in streamed) == len(english[1]) + len(chinese[1]) and len(streamed) > 2


@needs_espeak
def test_espeak_every_new_seed_is_a_new_take(stand_in: Callable[..., Client]) -> None:
    """Ten seeds, more than the pitch has steps: ten different takes from the served stand-in."""
    client = stand_in(variant="upstream", model_version=3, voice="espeak")
    takes = set()
    for seed in range(10):
        job = client.submit("Hello there.", "3s极速复刻", "", SYS + "hi", handle_file(VOICE), None, "", seed, False, 1.0, api_name="/generate_audio")
        samples, _ = fetch_wav(job.result(timeout=60))
        takes.add(samples.tobytes())
    assert len(takes) == 10


@needs_espeak
def test_espeak_voice_language_and_markup() -> None:
    from gbatch_cosyvoice.demo_server import SYSTEM_PROMPT, Espeak, spoken_text

    engine = Espeak.find()
    assert engine is not None
    assert spoken_text(SYSTEM_PROMPT + "[breath]She said <strong>thank you</strong>.") == "She said thank you."
    _, v, voice, s, rate, p, pitch, *rest = engine.command("你好", "中文女", 1, 1.0)
    assert (v, s, rate, p, rest) == ("-v", "-s", "175", "-p", ["--stdout"]) and 35 <= int(pitch) <= 65
    # (no text in the command: it goes to stdin)
    assert voice.startswith("cmn+f") and engine.command("Hello", "英文男", 1, 1.0)[2].startswith("en+m")
    assert engine.command("Hello", "x", 1, 1.5)[4] == str(round(175 * 1.5))
    assert len(engine.say("[breath] <strong></strong>", 24000, "x", 1)) == 0  # nothing to say
    assert len(engine.say("-v nonsense --help", 24000, "x", 1)) > 2400  # a text is never read as options


def test_voice_choice_and_the_fallback_note(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from gbatch_cosyvoice import demo_server

    assert demo_server.resolve_voice("tones") is None
    with pytest.raises(ValueError, match="voice must be one of"):
        demo_server.resolve_voice("opera")
    monkeypatch.setattr(demo_server.shutil, "which", lambda name: None)  # no espeak-ng on this machine
    assert demo_server.resolve_voice("auto") is None
    with pytest.raises(RuntimeError, match="apt-get install espeak-ng"):
        demo_server.resolve_voice("espeak")
    with pytest.raises(SystemExit):
        main(["--voice", "espeak"])

    launched: list[Any] = []

    class Demo:
        def launch(self, **kwargs: Any) -> None:
            launched.append(kwargs)

    built: list[tuple[Any, ...]] = []
    monkeypatch.setattr(demo_server, "build_demo", lambda *args: built.append(args) or Demo())
    main(["--port", "1"])
    assert built[-1][-1] == "tones" and launched
    assert "espeak-ng is not installed, so the stand-in makes synthetic tones" in caplog.text
    monkeypatch.setenv("GBATCH_DEMO_VOICE", "tones")
    caplog.clear()
    main([])
    assert built[-1][-1] == "tones" and "espeak-ng" not in caplog.text

"""A CosyVoice web UI stand-in: same Gradio API, synthetic audio, no model.

This is **not CosyVoice**. It mirrors the Gradio interface of the upstream
``webui.py`` of github.com/FunAudioLLM/CosyVoice (commit ace7c47; the facts are
in docs/cosyvoice.md) closely enough that a batch client
cannot tell the difference at the API level:

* variant ``"upstream"``: the endpoints ``/generate_seed``, ``/generate_audio``
  and ``/change_instruction`` (names derived from the function names, as
  upstream), the 10 ``/generate_audio`` inputs with the same parameter names,
  labels, defaults and choices, the always-streaming ``合成音频`` output, the
  same warning/info texts and the "warn, yield 1 s of silence, continue" logic;
  model behaviour of CosyVoice v1, CosyVoice2 or CosyVoice3 (``model_version``).
* variant ``"space"``: the 9-input "Fun-CosyVoice3 Web UI" derivative
  (English labels; each failed check yields 1 s of silence and returns).

Both apply ``queue(max_size=4, default_concurrency_limit=2)`` like upstream.
Nothing is downloaded and no weights are loaded. The audio comes from one of two voices:

* ``"espeak"``: the text is spoken by the ``espeak-ng`` program (Debian package
  ``espeak-ng``), with its Mandarin voice for text with CJK characters and its English
  voice otherwise, so a demo's lines, joined chapters and subtitles can be checked by
  ear. The seed moves the pitch a little; the same seed gives the same audio.
* ``"tones"``: a deterministic sequence of synthetic voiced "syllables" made with
  numpy, whose length follows the text exactly (what the tests measure).

``build_demo`` uses tones unless asked; the command uses espeak-ng when it is
installed (``--voice auto``), and says so at start-up when it is not. Either way it is
synthetic audio, not CosyVoice. Chunks are handed to gradio as int16, converted exactly
the way gradio converts upstream's float chunks (per-chunk peak normalisation), so
clients receive the same kind of stream.

Run it with ``gbatch-cosyvoice-demo --port 8000`` (binds to 127.0.0.1).
"""

from __future__ import annotations

import os

# The stand-in must never phone home: set these before gradio is imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import functools  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from gbatch_asr_demo.said import SaidLog, garbled  # noqa: E402
from gbatch_cosyvoice.tool import STAND_IN  # noqa: E402

log = logging.getLogger("gbatch_cosyvoice.demo_server")

TITLE = STAND_IN.title
PROMPT_SR = 16000
MARKER = "<|endofprompt|>"
SYSTEM_PROMPT = "You are a helpful assistant." + MARKER
V1_SPEAKERS = ["中文女", "中文男", "日语男", "粤语女", "英文女", "英文男", "韩语女"]

# --- upstream (Chinese) UI texts, exactly as in webui.py -------------------------------------
MODES = ["预训练音色", "3s极速复刻", "跨语种复刻", "自然语言控制"]
SFT, ZERO_SHOT, CROSS, INSTRUCT = MODES
INSTRUCT_DICT = {
    SFT: "1. 选择预训练音色\n2. 点击生成音频按钮",
    ZERO_SHOT: "1. 选择prompt音频文件，或录入prompt音频，注意不超过30s，若同时提供，优先选择prompt音频文件\n"
    "2. 输入prompt文本\n3. 点击生成音频按钮",
    CROSS: "1. 选择prompt音频文件，或录入prompt音频，注意不超过30s，若同时提供，优先选择prompt音频文件\n"
    "2. 点击生成音频按钮",
    INSTRUCT: "1. 选择预训练音色\n2. 输入instruct文本\n3. 点击生成音频按钮",
}
DEFAULT_TEXT = "我是通义实验室语音团队全新推出的生成式语音大模型，提供舒适自然的语音合成能力。"

# --- Space-style (English) variant texts --------------------------------------------------
SPACE_MODES = ["3s Zero-Shot", "Cross-Lingual", "Instruct"]
SPACE_DEFAULT_TEXT = (
    "This is a stand-in for the CosyVoice speech synthesis demo. It makes synthetic sounds, not speech."
)

# Sentence ends after which the text is split into segments (one yielded chunk each).
_SPLIT_RE = re.compile(r"(?<=[。？！；：.?!;])")
# Markup the real tokenizer consumes without speaking it: <|tokens|>, [tags], <strong>.
_MARKUP_RE = re.compile(r"<\|[^|]*\|>|\[[^\]]*\]|</?[a-z]+>")
_UNIT_RE = re.compile(r"[A-Za-z]+|\d|\s+|[，、,]|[。？！；：.?!;:]|.", re.S)
# Han, kana and hangul: text with any of these is read with the Mandarin voice.
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")

VOICES = ("auto", "espeak", "tones")
ESPEAK_RATE = 175  # espeak-ng's default words per minute, scaled by ``speed``


def _h32(*parts: object) -> int:
    """A stable 32-bit hash (Python's hash() is salted per process)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big")


def _file_key(path: str) -> str:
    """Identify a prompt voice by its content, not by the server's temp path."""
    with open(path, "rb") as fh:
        return hashlib.blake2b(fh.read(1 << 22), digest_size=8).hexdigest()


def _check_seed(seed: Any) -> int:
    """Reject seeds exactly like ``np.random.seed`` does (TypeError / ValueError)."""
    np.random.RandomState(seed)  # raises numpy's own errors for floats and out-of-range values
    return int(seed)


def split_segments(text: str) -> list[str]:
    """Split text after sentence punctuation; markup switches splitting off, as in CosyVoice."""
    if "<|" in text and "|>" in text:
        return [text] if text.strip() else []
    pieces = [p.strip() for p in _SPLIT_RE.split(text)]
    return [p for p in pieces if re.search(r"\w", p)]


def _syllable(rng: np.random.Generator, sr: int, dur: float, f0: float) -> np.ndarray:
    """One voiced syllable: a few harmonics under a gliding pitch and a smooth envelope."""
    n = max(int(dur * sr), 16)
    t = np.arange(n) / sr
    pitch = f0 * (1 + rng.uniform(-0.12, 0.12)) * (1 + rng.uniform(-0.25, 0.25) * t / dur)
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    wave = sum(rng.uniform(0.5, 1.0) / k * np.sin(k * phase) for k in range(1, 5))
    env = np.sin(np.pi * np.arange(n) / n) ** 0.7
    return np.asarray(wave * env, dtype=np.float64)


def spoken_text(text: str) -> str:
    """What the model says: the text after the last ``<|endofprompt|>`` (so no system prompt), without markup."""
    return _MARKUP_RE.sub("", text.rsplit(MARKER, 1)[-1])


def synthesize(text: str, rng: np.random.Generator, sr: int, f0: float, speed: float = 1.0) -> np.ndarray:
    """Render one text segment as synthetic speech-like audio (float32, peak 0.3)."""
    spoken = spoken_text(text)
    parts: list[np.ndarray] = []
    for unit in _UNIT_RE.findall(spoken):
        if unit.isspace():
            parts.append(np.zeros(int(0.05 / speed * sr)))
        elif unit in "，、,":
            parts.append(np.zeros(int(0.15 / speed * sr)))
        elif unit in "。？！；：.?!;:":
            parts.append(np.zeros(int(0.3 / speed * sr)))
        elif unit.isascii() and unit.isalpha():
            # ~0.07 s per letter, grouped into syllables of about three letters
            n_syl = max(1, round(len(unit) / 3))
            for _ in range(n_syl):
                parts.append(_syllable(rng, sr, 0.07 * len(unit) / n_syl / speed, f0))
        elif unit.isdigit() or unit.isalpha():
            parts.append(_syllable(rng, sr, 0.18 / speed, f0))
        # other symbols are not spoken
    if not parts:
        return np.zeros(0, dtype=np.float32)
    audio = np.concatenate(parts)
    peak = float(np.abs(audio).max())
    if peak > 0:
        audio *= 0.3 / peak
    return audio.astype(np.float32)


def _resample(samples: np.ndarray, rate: int, sr: int) -> np.ndarray:
    """Linear-interpolation resampling: plenty for a stand-in, and numpy only."""
    if rate == sr or not len(samples):
        return samples
    n_out = max(1, round(len(samples) * sr / rate))
    return np.asarray(np.interp(np.arange(n_out) * (rate / sr), np.arange(len(samples)), samples), dtype=np.float64)


class Espeak:
    """Speech from the ``espeak-ng`` program: Mandarin for text with CJK characters, else English."""

    def __init__(self, binary: str) -> None:
        self.binary = binary

    @classmethod
    def find(cls) -> Espeak | None:
        binary = shutil.which("espeak-ng")
        return cls(binary) if binary else None

    def command(self, text: str, voice: str, seed: int, speed: float) -> list[str]:
        """The espeak-ng command line for a segment (the text itself goes to stdin)."""
        language = "cmn" if _CJK_RE.search(text) else "en"
        # A stable male or female variant per voice (男/女 speakers as named), and a pitch the
        # seed moves by a few steps: another seed is another take, the same seed the same audio.
        if "男" in voice or "女" in voice:
            variant = ("m" if "男" in voice else "f") + str(1 + _h32("variant", voice) % 3)
        else:
            variant = ("m", "f")[_h32("sex", voice) % 2] + str(1 + _h32("variant", voice) % 3)
        pitch = 40 + _h32("pitch", voice) % 21 + _h32("seed", seed) % 9 - 4
        rate = round(ESPEAK_RATE * speed)
        return [self.binary, "-v", f"{language}+{variant}", "-s", str(rate), "-p", str(pitch), "--stdout"]

    def say(self, text: str, sr: int, voice: str, seed: int, speed: float = 1.0) -> np.ndarray:
        """Speak one segment at ``sr`` (float32, peak 0.3); raises if espeak-ng fails."""
        spoken = " ".join(spoken_text(text).split())
        if not re.search(r"\w", spoken):
            return np.zeros(0, dtype=np.float32)
        # stdin, not an argument: a text starting with "-" must not read as an option
        done = subprocess.run(
            self.command(spoken, voice, seed, speed), input=spoken.encode("utf-8"), capture_output=True, timeout=60, check=True
        )
        samples, rate = sf.read(io.BytesIO(done.stdout), dtype="float32", always_2d=True)
        audio = _resample(samples.mean(axis=1), rate, sr)
        peak = float(np.abs(audio).max()) if len(audio) else 0.0
        if peak > 0:
            audio = audio * (0.3 / peak)
        # The pitch has only a few steps, so two seeds may share one: a faint noise floor of the
        # seed's own (60 dB down) makes every seed another take, as a new seed is on the model.
        floor = np.random.default_rng([seed, _h32("floor", voice), _h32("floor", spoken)]).normal(0.0, 3e-4, len(audio))
        return np.asarray(audio + floor, dtype=np.float32)


def resolve_voice(voice: str) -> Espeak | None:
    """The speech engine for ``voice`` (``auto``, ``espeak`` or ``tones``); None means tones."""
    if voice not in VOICES:
        raise ValueError(f"voice must be one of {', '.join(VOICES)}, not {voice!r}")
    if voice == "tones":
        return None
    engine = Espeak.find()
    if engine is None and voice == "espeak":
        raise RuntimeError("--voice espeak: the espeak-ng program is not installed (apt-get install espeak-ng)")
    return engine


def _pitch(voice: str) -> float:
    """A stable base pitch per voice, whatever the mode: low for 男 speakers, high for 女."""
    if "男" in voice:
        return 90.0 + _h32("f0", voice) % 50
    if "女" in voice:
        return 180.0 + _h32("f0", voice) % 60
    return 90.0 + _h32("f0", voice) % 150


def _stream_slices(audio: np.ndarray, sr: int) -> list[np.ndarray]:
    """Cut a segment into ~0.5 s pieces, as the streaming path yields more, smaller chunks."""
    step = sr // 2
    cuts = list(range(step, len(audio), step))
    if cuts and len(audio) - cuts[-1] < sr // 10:  # no tiny tail chunk
        cuts.pop()
    return [p for p in np.split(audio, cuts) if len(p)]


def _pcm16(samples: np.ndarray) -> np.ndarray:
    """Convert a float chunk to int16 exactly as gradio does for upstream's float chunks.

    gradio peak-normalises each float chunk (silence stays silent) but warns while doing so;
    converting here gives the same bytes on the wire without that UserWarning, which test
    suites running with ``-W error`` would turn into a server-side failure.
    """
    peak = np.abs(samples).max() if samples.size else 0
    if peak == 0:
        return np.zeros(samples.shape, dtype=np.int16)
    return (samples / peak * 32767).astype(np.int16)


class _FakeModel:
    """What the webui sees of ``cosyvoice``: a sample rate, speakers and inference generators."""

    def __init__(self, version: int, delay: float, speech: Espeak | None = None, said: SaidLog | None = None, garble: str | None = None) -> None:
        if version not in (1, 2, 3):
            raise ValueError(f"model_version must be 1, 2 or 3, not {version!r}")
        self.version = version
        self.delay = delay
        self.speech = speech
        self.sample_rate = 22050 if version == 1 else 24000
        self.speakers = list(V1_SPEAKERS) if version == 1 else []
        # The demo's side channel (--said-dir): what each take said, for the SenseVoice stand-in.
        self.said = said
        self.garble = re.compile(garble) if garble else None

    def _run(self, seed: int, text: str, mode: str, voice: str, stream: bool, speed: float) -> Iterator[np.ndarray]:
        if self.said is None:
            yield from self._takes(seed, text, mode, voice, stream, speed)
            return
        said_text = self._said_text(seed, text)
        spoken = text if said_text == spoken_text(text) else said_text
        said: list[np.ndarray] = []
        last: np.ndarray | None = None
        for chunk in self._takes(seed, spoken, mode, voice, stream, speed):
            if last is not None:
                yield last
            said.append(_pcm16(chunk))  # as the client receives it
            last = chunk
        # Recorded before the last chunk leaves: a client may check the take as soon as it has it.
        self.said.record(np.concatenate(said) if said else np.zeros(0, np.int16), self.sample_rate, said_text)
        if last is not None:
            yield last

    def _said_text(self, seed: int, text: str) -> str:
        """What this take says: the text, or with --garble its first take skips a phrase
        (the same seed again says the same; another seed says it right)."""
        spoken = spoken_text(text)
        if self.said is None or self.garble is None or not self.garble.search(spoken):
            return spoken
        first = self.said.first_seed(f"{_h32(spoken):08x}", seed)
        return garbled(spoken) if first == seed else spoken

    def _takes(self, seed: int, text: str, mode: str, voice: str, stream: bool, speed: float) -> Iterator[np.ndarray]:
        rng = np.random.default_rng([seed, _h32(text), _h32(mode), _h32(voice)])
        f0 = _pitch(voice)
        for segment in split_segments(text):
            if stream:  # speed only applies to the non-streaming path, like upstream
                chunks = _stream_slices(self._render(segment, rng, f0, seed, voice, 1.0), self.sample_rate)
            else:
                chunks = [self._render(segment, rng, f0, seed, voice, speed)]
            for chunk in chunks:
                time.sleep(self.delay)  # simulated GPU time per yielded chunk
                yield chunk

    def _render(self, segment: str, rng: np.random.Generator, f0: float, seed: int, voice: str, speed: float) -> np.ndarray:
        if self.speech is not None:
            try:
                return self.speech.say(segment, self.sample_rate, voice, seed, speed)
            except (OSError, subprocess.SubprocessError, RuntimeError) as exc:  # sf raises RuntimeError subclasses
                log.warning("espeak-ng failed (%s); this segment is tones instead", exc)
        return synthesize(segment, rng, self.sample_rate, f0, speed)

    def sft(self, seed: int, text: str, spk: Any, stream: bool, speed: float) -> Iterator[np.ndarray]:
        if spk not in self.speakers:
            raise KeyError(spk)  # spk2info lookup
        yield from self._run(seed, text, "sft", spk, stream, speed)

    def zero_shot(
        self, seed: int, text: str, prompt_text: str, wav: str, stream: bool, speed: float, mode: str = "zero_shot"
    ) -> Iterator[np.ndarray]:
        if self.version == 3 and MARKER not in prompt_text + text:
            raise AssertionError("<|endofprompt|> not detected in CosyVoice3 text or prompt_text, check your input!")
        yield from self._run(seed, text, mode, _file_key(wav), stream, speed)

    def cross_lingual(self, seed: int, text: str, wav: str, stream: bool, speed: float) -> Iterator[np.ndarray]:
        # the model drops the prompt text in cross-lingual mode, so only the text can carry the marker
        yield from self.zero_shot(seed, text, "", wav, stream, speed, mode="cross_lingual")

    def instruct(
        self, seed: int, text: str, spk: Any, instruct: str, stream: bool, speed: float
    ) -> Iterator[np.ndarray]:
        if self.version != 1:
            raise AssertionError("inference_instruct is only implemented for CosyVoice!")
        if spk not in self.speakers:
            raise KeyError(spk)
        yield from self._run(seed, text, f"instruct:{instruct}", spk, stream, speed)

    def instruct2(
        self, seed: int, text: str, instruct: str, wav: str, stream: bool, speed: float
    ) -> Iterator[np.ndarray]:
        yield from self._run(seed, text, f"instruct2:{instruct}", _file_key(wav), stream, speed)


def generate_seed() -> dict[str, Any]:
    """Return a random seed as an update dict, like upstream."""
    return {"__type__": "update", "value": random.randint(1, 100000000)}


def change_instruction(mode_checkbox_group: str) -> str:
    """Return the step-by-step help for a mode."""
    return INSTRUCT_DICT[mode_checkbox_group]


Chunk = tuple[int, np.ndarray]


def _upstream_fn(model: _FakeModel) -> Callable[..., Iterator[Chunk]]:
    """Build ``generate_audio`` with the upstream checks: warn, yield 1 s of silence, go on."""
    sr = model.sample_rate

    def generate_audio(
        tts_text: str,
        mode_checkbox_group: str,
        sft_dropdown: Any,
        prompt_text: str,
        prompt_wav_upload: str | None,
        prompt_wav_record: str | None,
        instruct_text: str,
        seed: Any,
        stream: bool,
        speed: float,
    ) -> Iterator[Chunk]:
        silence = (sr, _pcm16(np.zeros(sr)))
        prompt_wav = prompt_wav_upload if prompt_wav_upload is not None else prompt_wav_record
        mode = mode_checkbox_group
        if mode == INSTRUCT:
            if instruct_text == "":
                gr.Warning("您正在使用自然语言控制模式, 请输入instruct文本")
                yield silence
            if prompt_wav is not None or prompt_text != "":
                gr.Info("您正在使用自然语言控制模式, prompt音频/prompt文本会被忽略")
        if mode == CROSS:
            if instruct_text != "":
                gr.Info("您正在使用跨语种复刻模式, instruct文本会被忽略")
            if prompt_wav is None:
                gr.Warning("您正在使用跨语种复刻模式, 请提供prompt音频")
                yield silence
            gr.Info("您正在使用跨语种复刻模式, 请确保合成文本和prompt文本为不同语言")
        if mode in (ZERO_SHOT, CROSS):
            if prompt_wav is None:
                gr.Warning("prompt音频为空，您是否忘记输入prompt音频？")
                yield silence
            # upstream calls torchaudio.info(None) here and fails; sf.info(None) fails the same way
            prompt_sr = sf.info(prompt_wav).samplerate
            if prompt_sr < PROMPT_SR:
                gr.Warning(f"prompt音频采样率{prompt_sr}低于{PROMPT_SR}")
                yield silence
        if mode == SFT:
            if instruct_text != "" or prompt_wav is not None or prompt_text != "":
                gr.Info("您正在使用预训练音色模式，prompt文本/prompt音频/instruct文本会被忽略！")
            if sft_dropdown == "":
                gr.Warning("没有可用的预训练音色！")
                yield silence
        if mode == ZERO_SHOT:
            if prompt_text == "":
                gr.Warning("prompt文本为空，您是否忘记输入prompt文本？")
                yield silence
            if instruct_text != "":
                gr.Info("您正在使用3s极速复刻模式，预训练音色/instruct文本会被忽略！")

        log.info("get %s inference request", mode)
        seed = _check_seed(seed)
        if mode == SFT:
            chunks = model.sft(seed, tts_text, sft_dropdown, stream, speed)
        elif mode == ZERO_SHOT:
            chunks = model.zero_shot(seed, tts_text, prompt_text, prompt_wav, stream, speed)  # type: ignore[arg-type]
        elif mode == CROSS:
            chunks = model.cross_lingual(seed, tts_text, prompt_wav, stream, speed)  # type: ignore[arg-type]
        else:
            chunks = model.instruct(seed, tts_text, sft_dropdown, instruct_text, stream, speed)
        for chunk in chunks:
            yield (sr, _pcm16(chunk))

    return generate_audio


def _space_fn(model: _FakeModel) -> Callable[..., Iterator[Chunk]]:
    """Build the Space-style ``generate_audio``: every failed check returns after 1 s of silence."""
    sr = model.sample_rate

    def generate_audio(
        tts_text: str,
        mode_checkbox_group: str,
        prompt_text: str,
        prompt_wav_upload: str | None,
        prompt_wav_record: str | None,
        instruct_text: str,
        seed: Any,
        stream: bool,
        speed: float,
    ) -> Iterator[Chunk]:
        silence = (sr, _pcm16(np.zeros(sr)))
        prompt_wav = prompt_wav_upload if prompt_wav_upload is not None else prompt_wav_record
        mode = mode_checkbox_group
        if mode == "Instruct":
            # The spec lists no separate text for a missing marker, so that case reuses this one.
            if instruct_text == "" or MARKER not in instruct_text:
                gr.Warning("You are using Instruct Mode, please enter instruct text")
                yield silence
                return
            if prompt_wav is None:
                gr.Warning("Please provide prompt audio")
                yield silence
                return
        if mode == "Cross-Lingual" and prompt_wav is None:
            gr.Warning("You are using Cross-Lingual Mode, please provide prompt audio")
            yield silence
            return
        if prompt_wav is None:
            gr.Warning("Prompt audio is empty, did you forget to upload it?")
            yield silence
            return
        prompt_sr = sf.info(prompt_wav).samplerate
        if prompt_sr < PROMPT_SR:
            gr.Warning(f"Prompt audio sample rate {prompt_sr} is lower than {PROMPT_SR}")
            yield silence
            return
        if mode == "3s Zero-Shot" and prompt_text == "":
            gr.Warning("Prompt text is empty, did you forget to enter it?")
            yield silence
            return

        seed = _check_seed(seed)
        if mode == "3s Zero-Shot":
            chunks = model.zero_shot(seed, tts_text, SYSTEM_PROMPT + prompt_text, prompt_wav, stream, speed)
        elif mode == "Cross-Lingual":
            chunks = model.cross_lingual(seed, SYSTEM_PROMPT + tts_text, prompt_wav, stream, speed)
        else:
            chunks = model.instruct2(seed, tts_text, instruct_text, prompt_wav, stream, speed)
        for chunk in chunks:
            yield (sr, _pcm16(chunk))

    return generate_audio


def _debuggable(fn: Callable[..., Iterator[Chunk]]) -> Callable[..., Iterator[Chunk]]:
    """Re-raise exceptions as gr.Error so their text reaches the client (show_error=True)."""

    @functools.wraps(fn)  # keeps the name and signature gradio derives the API from
    def generate_audio(*args: Any) -> Iterator[Chunk]:
        try:
            yield from fn(*args)
        except gr.Error:
            raise
        except Exception as exc:
            raise gr.Error(f"{type(exc).__name__}: {exc}") from exc

    return generate_audio


def _build_upstream(demo: gr.Blocks, model: _FakeModel, fn: Callable[..., Iterator[Chunk]]) -> None:
    """Lay out the upstream UI; component order matches webui.py so component ids match too."""
    spk = model.speakers or [""]
    gr.Markdown("# " + TITLE)
    gr.Markdown("#### 请输入需要合成的文本，选择推理模式，并按照提示步骤进行操作 (stand-in: synthetic audio)")
    tts_text = gr.Textbox(label="输入合成文本", lines=1, value=DEFAULT_TEXT)
    with gr.Row():
        mode = gr.Radio(choices=MODES, label="选择推理模式", value=MODES[0])
        instruction_text = gr.Text(label="操作步骤", value=INSTRUCT_DICT[MODES[0]])
        sft_dropdown = gr.Dropdown(choices=spk, label="选择预训练音色", value=spk[0])
        stream = gr.Radio(choices=[("否", False), ("是", True)], label="是否流式推理", value=False)
        speed = gr.Number(value=1, label="速度调节(仅支持非流式推理)", minimum=0.5, maximum=2.0, step=0.1)
        with gr.Column():
            seed_button = gr.Button(value="\U0001f3b2")
            seed = gr.Number(value=0, label="随机推理种子")
    with gr.Row():
        upload = gr.Audio(sources="upload", type="filepath", label="选择prompt音频文件，注意采样率不低于16khz")
        record = gr.Audio(sources="microphone", type="filepath", label="录制prompt音频文件")
    prompt_text = gr.Textbox(
        label="输入prompt文本",
        lines=1,
        value="",
        placeholder="请输入prompt文本，需与prompt音频内容一致，暂时不支持自动识别...",
    )
    instruct_text = gr.Textbox(label="输入instruct文本", lines=1, placeholder="请输入instruct文本.", value="")
    generate_button = gr.Button("生成音频")
    audio_output = gr.Audio(label="合成音频", autoplay=True, streaming=True)

    seed_button.click(generate_seed, inputs=[], outputs=seed)
    generate_button.click(
        fn,
        inputs=[tts_text, mode, sft_dropdown, prompt_text, upload, record, instruct_text, seed, stream, speed],
        outputs=[audio_output],
    )
    mode.change(fn=change_instruction, inputs=[mode], outputs=[instruction_text])


def _build_space(demo: gr.Blocks, fn: Callable[..., Iterator[Chunk]]) -> None:
    """Lay out the Space-style 9-input UI."""
    gr.Markdown("# " + TITLE)
    gr.Markdown("Fun-CosyVoice3 Web UI layout (stand-in: synthetic audio only)")
    tts_text = gr.Textbox(label="Input Text", lines=1, value=SPACE_DEFAULT_TEXT)
    with gr.Row():
        mode = gr.Radio(choices=SPACE_MODES, label="Inference Mode", value=SPACE_MODES[0])
        stream = gr.Radio(choices=[("No", False), ("Yes", True)], label="Stream Inference", value=False)
        speed = gr.Number(value=1, label="Speed Adjustment (Non-streaming only)", minimum=0.5, maximum=2.0, step=0.1)
        with gr.Column():
            seed_button = gr.Button(value="\U0001f3b2")
            seed = gr.Number(value=0, label="Random Seed")
    with gr.Row():
        upload = gr.Audio(sources="upload", type="filepath", label="Select prompt audio file (Sample rate >= 16kHz)")
        record = gr.Audio(sources="microphone", type="filepath", label="Record prompt audio")
    prompt_text = gr.Textbox(label="Input Prompt Text", lines=1, value="")
    instruct_text = gr.Textbox(
        label="Input Instruct Text",
        lines=1,
        value="",
        placeholder="Example: Please speak this in Cantonese <|endofprompt|>",
    )
    generate_button = gr.Button("Generate Audio")
    audio_output = gr.Audio(label="Generated Audio", streaming=True)

    seed_button.click(generate_seed, inputs=[], outputs=seed)
    generate_button.click(
        fn,
        inputs=[tts_text, mode, prompt_text, upload, record, instruct_text, seed, stream, speed],
        outputs=[audio_output],
    )


def build_demo(
    variant: str = "upstream",
    model_version: int = 3,
    chunk_seconds: float = 0.0,
    show_error: bool = False,
    voice: str = "tones",
    said_dir: str | None = None,
    garble: str | None = None,
) -> gr.Blocks:
    """Build the stand-in app, queue already applied (``max_size=4, default_concurrency_limit=2``).

    ``chunk_seconds`` is the simulated compute time slept before each synthesised chunk.
    ``show_error=True`` turns exceptions into ``gr.Error`` so their text reaches clients
    (upstream does not do this; clients then see gradio's generic error).
    ``voice``: ``"tones"`` (default; lengths follow ``synthesize`` exactly), ``"espeak"``
    (speech; an error without espeak-ng) or ``"auto"`` (speech when espeak-ng is installed).
    ``said_dir``: record what each take said there, for the SenseVoice stand-in
    (``gbatch-asr-demo``); ``garble``: with it, the first take of each line matching this
    regular expression skips a phrase. Both show the checking mechanism, not any model.
    """
    if variant not in ("upstream", "space"):
        raise ValueError(f"variant must be 'upstream' or 'space', not {variant!r}")
    if variant == "space":
        model_version = 3  # the Space-style UI only exists for CosyVoice3
    said = SaidLog(said_dir) if said_dir else None
    model = _FakeModel(model_version, chunk_seconds, resolve_voice(voice), said, garble)
    fn = _upstream_fn(model) if variant == "upstream" else _space_fn(model)
    if show_error:
        fn = _debuggable(fn)
    demo = gr.Blocks(title=TITLE, analytics_enabled=False)
    with demo:
        if variant == "upstream":
            _build_upstream(demo, model, fn)
        else:
            _build_space(demo, fn)
    demo.queue(max_size=4, default_concurrency_limit=2)
    return demo


def main(argv: list[str] | None = None) -> None:
    """CLI: serve the stand-in on loopback until interrupted."""
    parser = STAND_IN.parser("gbatch-cosyvoice-demo", port=8000, delay=0.3)
    parser.add_argument("--variant", choices=["upstream", "space"], default="upstream", help="which UI: upstream webui.py (10 inputs) or the CosyVoice3 Space-style UI (9 inputs)")
    parser.add_argument("--model-version", type=int, choices=[1, 2, 3], default=3, help="the CosyVoice version it pretends to run (1 has preset speakers)")
    parser.add_argument("--show-error", action="store_true", help="send exception texts to clients")
    parser.add_argument(
        "--voice",
        choices=VOICES,
        default=os.environ.get("GBATCH_DEMO_VOICE") or "auto",
        help="espeak: speak with espeak-ng; tones: synthetic tones; auto: espeak-ng when installed "
        "(default: $GBATCH_DEMO_VOICE, else auto)",
    )
    parser.add_argument("--said-dir", default=os.environ.get("GBATCH_DEMO_SAID_DIR"), help="record what each take said here, for gbatch-asr-demo ($GBATCH_DEMO_SAID_DIR)")
    parser.add_argument("--garble", metavar="REGEX", default=os.environ.get("GBATCH_DEMO_GARBLE"), help="with --said-dir: the first take of each line matching this skips a phrase, a bad take to catch ($GBATCH_DEMO_GARBLE)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # gradio's own start-up probes
    try:
        speech = resolve_voice(args.voice)
    except (RuntimeError, ValueError) as exc:
        parser.error(str(exc))
    if speech is not None:
        log.info("speaking with %s (Mandarin voice for CJK text, English otherwise); still not CosyVoice", speech.binary)
    elif args.voice == "auto":
        log.warning("note: espeak-ng is not installed, so the stand-in makes synthetic tones, not speech (apt-get install espeak-ng)")
    said = {"said_dir": args.said_dir, "garble": args.garble} if args.said_dir else {}
    if said:
        log.info("recording what each take says in %s, for gbatch-asr-demo (a demo side channel, not recognition)", args.said_dir)
    demo = build_demo(args.variant, args.model_version, args.delay, args.show_error, "espeak" if speech else "tones", **said)
    STAND_IN.launch(demo, args, show_error=False)


if __name__ == "__main__":
    main()

"""The `cosyvoice` tool: task rows onto the CosyVoice web UI's `/generate_audio`.

Two server shapes are understood (docs/cosyvoice.md): the upstream
`webui.py` (10 inputs, Chinese mode names, preset-speaker dropdown) and the
CosyVoice3 Space-style UI (9 inputs, English mode names). Rows are checked
against the server's own rules first, so a request never trips one of its
warnings (which would add a second of silence, or fail later inside the model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import gbatch
from gbatch import Call, Column, File, Option, Outputs, Plan, RowFailed, RowProblem, ServerApi, ServerError, Tool

MODES = ("zero_shot", "cross_lingual", "instruct", "sft")
MODE_ALIASES = (
    ("3s极速复刻", "zero_shot"),
    ("跨语种复刻", "cross_lingual"),
    ("自然语言控制", "instruct"),
    ("预训练音色", "sft"),
    ("3s Zero-Shot", "zero_shot"),
    ("zero-shot", "zero_shot"),
    ("clone", "zero_shot"),
    ("Cross-Lingual", "cross_lingual"),
    ("Instruct", "instruct"),
    ("preset", "sft"),
)
UPSTREAM_MODES = {"sft": "预训练音色", "zero_shot": "3s极速复刻", "cross_lingual": "跨语种复刻", "instruct": "自然语言控制"}
SPACE_MODES = {"zero_shot": "3s Zero-Shot", "cross_lingual": "Cross-Lingual", "instruct": "Instruct"}
UPSTREAM_PARAMS = (
    "tts_text", "mode_checkbox_group", "sft_dropdown", "prompt_text", "prompt_wav_upload",
    "prompt_wav_record", "instruct_text", "seed", "stream", "speed",
)  # fmt: skip
SPACE_PARAMS = tuple(p for p in UPSTREAM_PARAMS if p != "sft_dropdown")
EXPECTED = gbatch.ExpectedApp("a CosyVoice web UI", "/generate_audio", {"upstream": UPSTREAM_PARAMS, "space": SPACE_PARAMS})
STAND_IN = gbatch.StandIn("CosyVoice", "synthetic audio")

MARKER = "<|endofprompt|>"
SYSTEM_PROMPT = "You are a helpful assistant." + MARKER
MAX_SEED = 2**32 - 1
MIN_PROMPT_RATE = 16000
MAX_PROMPT_SECONDS = 30.0
FORMATS = ("wav", "flac", "mp3", "ogg")

COLUMNS = (
    Column("text", required=True, aliases=("tts_text", "输入合成文本", "Input Text"), help="The text to speak."),
    Column(
        "mode",
        kind="text",
        default="zero_shot",
        choices=MODES,
        choice_aliases=MODE_ALIASES,
        aliases=("mode_checkbox_group", "选择推理模式", "Inference Mode"),
        help="zero_shot (3 s voice clone), cross_lingual, instruct or sft (preset speaker); the UI's own names work too.",
    ),
    Column("prompt_audio", kind="file", aliases=("prompt_wav", "prompt_wav_upload"), help="The voice to clone: audio of at least 16 kHz, at most 30 s."),
    Column("prompt_text", aliases=("输入prompt文本",), help="What is said in the prompt audio (zero_shot)."),
    Column("instruct", aliases=("instruct_text", "输入instruct文本"), help="A natural-language instruction, e.g. 请用广东话表达。 (instruct mode)."),
    Column("speaker", aliases=("sft_dropdown", "spk_id"), help="A preset speaker of the server (sft mode)."),
    gbatch.seed_column(maximum=MAX_SEED),
    Column("speed", kind="float", default=1.0, minimum=0.5, maximum=2.0, help="Speaking speed, 0.5-2.0."),
)


class CosyVoiceTool(Tool):
    name = "cosyvoice"
    help = """Speak every row of a task file with a CosyVoice web UI (upstream webui.py or the CosyVoice3 Space UI).

A file with only a `text` column (or a .txt, one line per row) works: give the
voice once with --prompt-audio/--prompt-text. Outputs are audio files named
after --name; --join COLUMN also makes one file per group with subtitles."""
    columns = COLUMNS
    options = (
        Option("format", str, "wav", "Output audio format.", choices=FORMATS),
        Option("bitrate", int, 128, "kb/s for mp3 (constant) and ogg (Vorbis quality aiming at it; it tops out near 100 kb/s for mono speech).", minimum=8, maximum=320),
        Option("join", str, None, "After the batch, join each group of rows with the same value in this column (e.g. chapter) into one file, with an .srt beside it."),
        Option("gap", float, 0.5, "Seconds of silence between joined rows.", minimum=0),
        Option(
            "normalize",
            bool,
            False,
            "Bring every row, and every --join group, to -18 LUFS (ITU-R BS.1770; true peak at most -3 dBFS), "
            "since the server normalises each chunk on its own.",
            flag=True,
        ),
        Option(
            "model_version",
            int,
            None,
            "CosyVoice model version the server runs (1, 2 or 3); 3 adds the <|endofprompt|> system prompt where "
            "the model needs it. Default: 1 when the server lists preset speakers (only v1 models have them), else 3.",
            choices=(1, 2, 3),
        ),
    )
    slots_per_server = 2  # the web UI runs 2 requests at once and queues 4 (queue(max_size=4, default_concurrency_limit=2))
    default_server = "http://127.0.0.1:8000"
    default_out = "cosyvoice-out"

    def plan(self, api: ServerApi, options: Mapping[str, Any]) -> Plan:
        # format, bitrate, gap and model_version are already checked against their choices and ranges
        return CosyVoicePlan(
            api, fmt=options["format"], version=options["model_version"], join=options["join"],
            gap=options["gap"], normalize=bool(options["normalize"]), kbps=options["bitrate"],
        )  # fmt: skip

    def diagnose(self, api: ServerApi, call: Call, failure: gbatch.Failure) -> str | None:
        """CosyVoice's web UI driven through `gbatch run`: what a hidden error most likely was."""
        endpoint = api.endpoint("/generate_audio")
        names = tuple(p.name for p in endpoint.parameters) if endpoint else ()
        if not failure.hidden or call.endpoint not in ("/generate_audio", "generate_audio") or names not in (UPSTREAM_PARAMS, SPACE_PARAMS):
            return None
        sent = " ".join(str(call.kwargs.get(name) or "") for name in ("tts_text", "prompt_text", "instruct_text"))
        command = f"gbatch cosyvoice TASKS --server {api.url}"
        if names == UPSTREAM_PARAMS and MARKER not in sent:
            return (
                f"This is CosyVoice's web UI: with a CosyVoice3 model it fails every row whose prompt text (zero-shot) "
                f"or text (cross-lingual) lacks the {MARKER} marker, which this UI does not add. "
                f"`{command}` adds it, and checks every row before sending"
            )
        return f"This is CosyVoice's web UI: `{command}` knows its modes and checks every row before sending"


class CosyVoicePlan(Plan):
    #: what a recogniser should hear in a take (--check-server), and what its duration is judged against
    text_column = "text"

    def __init__(self, api: ServerApi, *, fmt: str, version: int | None, join: str | None, gap: float, normalize: bool, kbps: int = 128) -> None:
        self.variant, endpoint = EXPECTED.find(api)
        params = {p.name: p for p in endpoint.parameters}
        self.api_name = EXPECTED.endpoint
        self.text_column = "text"
        self.voice_columns = ("mode", "prompt_audio", "prompt_text", "instruct", "speaker", "speed")
        # CosyVoice's own text frontend cuts at 80 units (characters for Chinese, BPE tokens for
        # English: split_paragraph(token_max_n=80)); 80 characters is as long or shorter for both.
        self.max_chars = 80
        self.fmt, self.join, self.gap, self.normalize, self.kbps = fmt, join, gap, normalize, kbps
        server_modes = set(params["mode_checkbox_group"].choices or ())
        wanted = UPSTREAM_MODES if self.variant == "upstream" else SPACE_MODES
        self.modes = {k: v for k, v in wanted.items() if v in server_modes}
        if not self.modes:
            raise ServerError(f"{api.url}: /generate_audio offers modes {sorted(server_modes)}, none of which gbatch knows")
        speakers = params["sft_dropdown"].choices if "sft_dropdown" in params else None
        self.speakers = tuple(s for s in (speakers or ()) if s)
        if self.variant == "space":
            self.version = 3  # the Space-style UI only exists for CosyVoice3; other values would break its markers
        elif version is None:
            # Only CosyVoice v1 models have preset speakers; v2 and v3 list none.
            self.version = 1 if self.speakers else 3
        else:
            self.version = version
        self.columns = [replace(c, choices=self.speakers) if c.name == "speaker" and self.speakers else c for c in COLUMNS]
        if join and not any(gbatch.normalize_key(join) in c.match_keys() for c in self.columns):
            # The --join column is checked with everything else, before anything is sent
            # (join_groups would only find it missing after the whole batch ran).
            self.columns.append(Column(join, required=True, option=False, help="The --join group of the row."))
        self.notice = STAND_IN.notice(api)
        self._probed: dict[str, Any] = {}

    def fingerprint(self) -> str:
        lossy = f"|{self.kbps}kbps" if self.fmt in ("mp3", "ogg") else ""
        return f"{self.fmt}|normalize={self.normalize}{lossy}"

    # -- rows ---------------------------------------------------------------

    def prepare(self, values: Mapping[str, Any], previous: Mapping[str, Any]) -> Call:
        mode = values.get("mode") or "zero_shot"
        if mode not in self.modes:
            available = ", ".join(self.modes)
            raise RowProblem(f"mode {mode!r} is not offered by this server (it offers: {available})", "mode")
        text: str = values["text"]
        prompt_audio: File | None = values.get("prompt_audio")
        prompt_text: str = values.get("prompt_text") or ""
        instruct: str = values.get("instruct") or ""
        speaker: str = values.get("speaker") or ""

        if mode in ("zero_shot", "cross_lingual") or (mode == "instruct" and self.variant == "space"):
            if prompt_audio is None:
                raise RowProblem(f"{mode} mode needs prompt audio (a prompt_audio column or --prompt-audio)", "prompt_audio")
            self._check_prompt(prompt_audio)
        if mode == "zero_shot" and not prompt_text.strip():
            raise RowProblem("zero_shot mode needs the prompt audio's transcript (prompt_text or --prompt-text)", "prompt_text")
        if mode == "instruct" and not instruct.strip():
            raise RowProblem("instruct mode needs an instruction (instruct column or --instruct)", "instruct")
        if mode == "sft" or (mode == "instruct" and self.variant == "upstream"):
            if not self.speakers and mode == "instruct":
                # No speakers means CosyVoice2/3, where this mode can never work.
                raise RowProblem(
                    "the upstream web UI's instruct mode (自然语言控制) only works with CosyVoice v1 "
                    "(it calls inference_instruct and needs a preset speaker), and this server has no speakers, "
                    "so it runs CosyVoice2/3: use zero_shot or cross_lingual, or the CosyVoice3 Space-style UI", "speaker"
                )  # fmt: skip
            if not self.speakers:
                raise RowProblem(
                    f"{mode} mode needs a preset speaker, and this server has none "
                    "(CosyVoice2/3 ship no preset speakers): use zero_shot or cross_lingual", "speaker"
                )  # fmt: skip
            if speaker not in self.speakers:
                raise RowProblem(f"{mode} mode needs a speaker, one of: {', '.join(self.speakers)}", "speaker")

        tts_text, prompt_text, instruct = self._markers(mode, text, prompt_text, instruct)

        # Only what the mode uses is sent: anything else makes the UI log "will be ignored".
        kwargs: dict[str, Any] = {
            "tts_text": tts_text,
            "mode_checkbox_group": self.modes[mode],
            "prompt_text": prompt_text if mode == "zero_shot" else "",
            "prompt_wav_upload": prompt_audio if mode in ("zero_shot", "cross_lingual") or self.variant == "space" and mode == "instruct" else None,
            "prompt_wav_record": None,
            "instruct_text": instruct if mode == "instruct" else "",
            "seed": values["seed"],
            "stream": False,  # speed only applies to non-streaming inference
            "speed": float(values.get("speed") or 1.0),
        }
        if self.variant == "upstream":
            kwargs["sft_dropdown"] = speaker if mode in ("sft", "instruct") else (self.speakers[0] if self.speakers else "")
        return Call(kwargs)

    def _markers(self, mode: str, text: str, prompt_text: str, instruct: str) -> tuple[str, str, str]:
        """CosyVoice3 asserts an <|endofprompt|> marker; add it where the UI does not."""
        if self.version != 3:
            return text, prompt_text, instruct
        if self.variant == "space":
            # The Space UI adds the system prompt itself; a second one would be spoken.
            if mode == "zero_shot":
                prompt_text = _strip_system(prompt_text)
            if mode == "cross_lingual":
                text = _strip_system(text)
            if mode == "instruct" and MARKER not in instruct:
                instruct = f"You are a helpful assistant. {instruct.strip()}{MARKER}"
            return text, prompt_text, instruct
        if mode == "zero_shot" and MARKER not in prompt_text and MARKER not in text:
            prompt_text = SYSTEM_PROMPT + prompt_text
        if mode == "cross_lingual" and MARKER not in text:
            text = SYSTEM_PROMPT + text
        return text, prompt_text, instruct

    def _check_prompt(self, audio: File) -> None:
        if audio.is_url:
            return  # checked by the server; we do not download prompts to look at them
        from gbatch.audio import probe

        if audio.source not in self._probed:
            try:
                self._probed[audio.source] = probe(audio.source)
            except ValueError as exc:
                self._probed[audio.source] = exc
        info = self._probed[audio.source]
        if isinstance(info, ValueError):
            raise RowProblem(f"prompt audio cannot be read: {info}", "prompt_audio")
        if info.samplerate < MIN_PROMPT_RATE:
            raise RowProblem(f"prompt audio sample rate {info.samplerate} Hz is below {MIN_PROMPT_RATE} Hz: {audio.source}", "prompt_audio")
        if info.duration > MAX_PROMPT_SECONDS:
            raise RowProblem(f"prompt audio is {info.duration:.1f} s long; the UI accepts at most 30 s: {audio.source}", "prompt_audio")
        if info.duration <= 0:
            raise RowProblem(f"prompt audio is empty: {audio.source}", "prompt_audio")

    def explain(self, failure: gbatch.Failure, call: Call) -> str:
        message = failure.message
        mode = call.kwargs.get("mode_checkbox_group")
        if failure.cause == "app" and failure.hidden and self.variant == "upstream":
            if mode == UPSTREAM_MODES["instruct"]:
                return (
                    f"{message}. The upstream web UI's instruct mode (自然语言控制) calls inference_instruct, "
                    "which only CosyVoice v1 models implement: with CosyVoice2/3 it always fails. Use the "
                    "CosyVoice3 Space-style UI (instruct with a prompt voice) or zero_shot/cross_lingual."
                )
            if self.version != 3:
                return f"{message}. If the server runs CosyVoice3, use --model-version 3 (it needs the <|endofprompt|> marker)."
        return message

    # -- results ------------------------------------------------------------

    def collect(self, result: gbatch.CallResult, out: Outputs) -> None:
        from gbatch import audio

        stream = result.value
        if not isinstance(stream, gbatch.ServerFile):
            raise RowFailed(f"expected an audio stream from /generate_audio, got {type(stream).__name__}")
        streamed = gbatch.fetch_stream(out, stream)
        warnings = [text for level, text in out.logs if level.lower() == "warning"]
        for text in warnings:
            out.warn(f"server warning: {text}")
        if streamed.suffix != ".wav":
            # Without ffmpeg on the server there is no joined WAV; keep the AAC segments as they are.
            seconds = audio.adts_duration(streamed.data)
            self._check_length(seconds, out)
            out.warn("the server could not join the stream into WAV (does it have ffmpeg and ffprobe?); saved AAC as sent")
            out.write(streamed.data, streamed.suffix)
            out.value("duration", round(seconds, 3))
            return
        try:
            samples, rate = audio.decode_wav_bytes(streamed.data)
        except Exception as exc:  # noqa: BLE001 - anything libsndfile cannot read is a bad download
            raise RowFailed(f"the server's audio could not be decoded ({exc})", retryable=True) from None
        seconds = len(samples) / rate if rate else 0.0
        self._check_length(seconds, out)
        if audio.is_silent(samples):
            raise RowFailed("the server returned only silence (a rejected request?)" + (f"; it warned: {warnings[0]}" if warnings else ""))
        if self.normalize:
            samples = audio.normalize_loudness(samples, rate)
        # The server's WAV is kept byte for byte unless it has to change.
        data = streamed.data if self.fmt == "wav" and not self.normalize else audio.encode_audio(samples, rate, self.fmt, self.kbps)
        out.write(data, "." + self.fmt)
        out.value("duration", round(seconds, 3))
        out.value("sample_rate", rate)

    def _check_length(self, seconds: float, out: Outputs) -> None:
        # Whether the duration fits the text (LLM-based TTS sometimes loses a segment, upstream
        # #1654, or babbles on) is one of gbatch's cheap checks on every take (text_column).
        if seconds < 0.05:
            raise RowFailed(f"the server returned {seconds:.2f} s of audio", retryable=True)

    # -- after the batch ----------------------------------------------------

    def finish(self, rows: Sequence[Mapping[str, Any]], out_dir: Path, say: Any) -> None:
        if not self.join:
            return
        # The --join column by its column name, whichever header (or default) fed it.
        wanted = gbatch.normalize_key(self.join)
        column = next((c.name for c in self.columns if wanted in c.match_keys()), self.join)
        from gbatch.audio import DEFAULT_LUFS, join_groups

        normalize = DEFAULT_LUFS if self.normalize else None
        join_groups(rows, out_dir, column, self.gap, self.fmt, say, self.kbps, normalize=normalize, text_column="text")


def _strip_system(text: str) -> str:
    head, sep, tail = text.partition(MARKER)
    return tail if sep else text

"""The `gptsovits` tool: task rows onto GPT-SoVITS's `inference_webui.py` (gradio 4).

The UI keeps the voice in the server's globals: a pair of weights loaded by
`/change_gpt_weights` and `/change_sovits_weights` (the two dropdowns' change events).
Each row says which weights it needs (a `gbatch.ServerState`); gbatch groups rows by
voice per server and switches a server only between groups. A row is spoken by
`/get_tts_wav` with its reference clip, transcript and languages; parameters are bound
by the names of upstream's function, so UIs with fewer inputs (the 2024 v2 release has
no sample-steps, super-resolution, pause or CUDA-graph inputs) work too: whatever the
server's event lacks is not sent, whatever it has that the row does not set goes with
its default, as the page sends it.

Languages and cut methods are the UI's own labels, in its language (Chinese or English
by the server's locale); a row may also give upstream's codes (`en`, `all_zh`, ...) or
the other language's label.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import gbatch
from gbatch import (
    Call,
    Column,
    Endpoint,
    File,
    Option,
    Outputs,
    Plan,
    RowFailed,
    RowProblem,
    ServerApi,
    ServerFile,
    ServerState,
    Tool,
)

SPEAK = "/get_tts_wav"
CHANGE_GPT = "/change_gpt_weights"
CHANGE_SOVITS = "/change_sovits_weights"
REFRESH = "/change_choices"
STAND_IN = gbatch.StandIn("GPT-SoVITS", "tones instead of speech")
#: upstream's reference-clip rule (`wav16k.shape[0] > 160000 or < 48000` at 16 kHz)
MIN_REF_SECONDS, MAX_REF_SECONDS = 3.0, 10.0

#: text language: upstream's code -> (Chinese label, English label)
LANGUAGES = {
    "all_zh": ("中文", "Chinese"),
    "en": ("英文", "English"),
    "all_ja": ("日文", "Japanese"),
    "all_yue": ("粤语", "Yue"),
    "all_ko": ("韩文", "Korean"),
    "zh": ("中英混合", "Chinese-English Mixed"),
    "ja": ("日英混合", "Japanese-English Mixed"),
    "yue": ("粤英混合", "Yue-English Mixed"),
    "ko": ("韩英混合", "Korean-English Mixed"),
    "auto": ("多语种混合", "Multilingual Mixed"),
    "auto_yue": ("多语种混合(粤语)", "Multilingual Mixed(Yue)"),
}
#: cut method: a short name -> (Chinese label, English label)
CUTS = {
    "none": ("不切", "No slice"),
    "four_sentences": ("凑四句一切", "Slice once every 4 sentences"),
    "fifty_chars": ("凑50字一切", "Slice per 50 characters"),
    "chinese_period": ("按中文句号。切", "Slice by Chinese punct"),
    "english_period": ("按英文句号.切", "Slice by English punct"),
    "punctuation": ("按标点符号切", "Slice by every punct"),
}

#: our column -> upstream's parameter of get_tts_wav
PARAMS = {
    "ref_audio": "ref_wav_path",
    "prompt_text": "prompt_text",
    "prompt_language": "prompt_language",
    "text": "text",
    "text_language": "text_language",
    "how_to_cut": "how_to_cut",
    "top_k": "top_k",
    "top_p": "top_p",
    "temperature": "temperature",
    "speed": "speed",
    "aux_refs": "inp_refs",
    "pause": "pause_second",
}

COLUMNS = (
    Column("text", required=True, help="The text to speak.", aliases=("需要合成的文本", "Inference text")),
    Column("text_language", help="The text's language, as the UI lists it (中文, 英文, ... or Chinese, English, ...) or upstream's code (all_zh, en, ja, auto, ...).", aliases=("需要合成的语种",)),
    Column("voice", help="The voice's name: matched against the weight files (alice -> GPT_weights_v2/alice-e15.ckpt, SoVITS_weights_v2/alice_e8_s200.pth) unless gpt_weights and sovits_weights are given; shown in progress and usable in --pin VOICE@URL."),
    Column("gpt_weights", help="The GPT weights as the server lists them (GPT_weights_v2/NAME.ckpt); the file name alone works.", aliases=("GPT模型列表", "GPT weight list")),
    Column("sovits_weights", help="The SoVITS weights as the server lists them (SoVITS_weights_v2/NAME.pth); the file name alone works.", aliases=("SoVITS模型列表", "SoVITS weight list")),
    Column("ref_audio", kind="file", required=True, help="The reference clip, 3 to 10 seconds.", aliases=("ref_wav_path", "reference", "请上传3~10秒内参考音频，超过会报错！")),
    Column("prompt_text", help="What the reference clip says (empty: no-reference-text mode).", aliases=("参考音频的文本", "Text for reference audio")),
    Column("prompt_language", help="The reference clip's language (as text_language).", aliases=("参考音频的语种", "Language for reference audio")),
    Column("aux_refs", kind="files", help="More reference clips whose timbres are averaged (a;b;c).", aliases=("inp_refs",)),
    Column("how_to_cut", help="How the text is cut: the UI's label (凑四句一切 ...), or none, four_sentences, fifty_chars, chinese_period, english_period, punctuation.", aliases=("怎么切", "How to slice the sentence")),
    Column("top_k", kind="int", help="GPT sampling top_k.", param="top_k"),
    Column("top_p", kind="float", help="GPT sampling top_p.", param="top_p"),
    Column("temperature", kind="float", help="GPT sampling temperature.", param="temperature"),
    Column("speed", kind="float", help="Speech rate (higher is faster).", param="speed", aliases=("语速",)),
    Column("pause", kind="float", help="Seconds of pause between sentences.", param="pause_second"),
)


class GptSovitsTool(Tool):
    name = "gptsovits"
    help = """Speak every row with a GPT-SoVITS inference web UI (inference_webui.py, gradio 4).

Each row names its voice (its GPT and SoVITS weights, as the server lists them, or a
voice name matching both files) and a 3-10 s reference clip with its transcript.
gbatch loads a voice on a server only when the rows there need it, keeps each voice
on one server where it can, and loads it again after a server restarts. The voice is
global on the server: another batch or a person in the browser switching it will
interfere. Outputs are <name>.wav."""
    columns = COLUMNS
    api_name = SPEAK
    options = (Option("refresh", bool, False, "Ask each server to list its weight files again (the 刷新模型路径 button) before the batch.", flag=True),)
    slots_per_server = 1  # upstream's queue runs one job at a time
    default_server = "http://127.0.0.1:9872"
    default_out = "gptsovits-out"

    def plan(self, api: ServerApi, options: Mapping[str, Any]) -> Plan:
        return GptSovitsPlan(api, refresh=bool(options.get("refresh")))


def _choices(endpoint: Endpoint | None, name: str) -> tuple[str, ...]:
    param = endpoint.param(name) if endpoint is not None else None
    if param is None or not param.choices:
        return ()
    return tuple(str(c[1]) if isinstance(c, (list, tuple)) and len(c) == 2 else str(c) for c in param.choices)


class GptSovitsPlan(Plan):
    text_column = "text"
    voice_columns = ("voice", "gpt_weights", "sovits_weights", "ref_audio", "prompt_text", "prompt_language", "aux_refs")

    def __init__(self, api: ServerApi, refresh: bool = False) -> None:
        speak, gpt, sovits = api.endpoint(SPEAK), api.endpoint(CHANGE_GPT), api.endpoint(CHANGE_SOVITS)
        if speak is None or gpt is None or sovits is None:
            found = "\n".join(f"  {e.signature()}" for e in api.every_endpoint())
            raise gbatch.not_the_app(api, "GPT-SoVITS's inference_webui.py", f"{SPEAK}, {CHANGE_GPT} and {CHANGE_SOVITS}.", found)
        self.api_name = SPEAK
        self.speak = speak
        self.refresh = refresh and api.endpoint(REFRESH) is not None
        self.languages = _choices(speak, "text_language") or _choices(speak, "prompt_language")
        self.cuts = _choices(speak, "how_to_cut")
        #: weight files every server lists (narrowed by `setup` when asked to refresh)
        self.gpt_names = _choices(gpt, "gpt_path")
        self.sovits_names = _choices(sovits, "sovits_path")
        self.params = {p.name for p in speak.parameters}
        # a UI without an input (older releases lack pause_second) leaves that column unbound
        self.columns = gbatch.bind_columns([c if c.param is None or speak.param(c.param) else replace(c, param=None) for c in COLUMNS], speak)
        self.notice = STAND_IN.notice(api)

    # -- per server -----------------------------------------------------------------------

    def setup(self, server: gbatch.Server) -> None:
        if not self.refresh:
            return
        sovits_update, gpt_update = (tuple(server.call(REFRESH, {}).outputs) + (None, None))[:2]
        for update, attribute in ((gpt_update, "gpt_names"), (sovits_update, "sovits_names")):
            if isinstance(update, gbatch.ComponentUpdate) and update.props.get("choices") is not None:
                listed = tuple(str(c[1]) if isinstance(c, (list, tuple)) else str(c) for c in update.props["choices"])
                setattr(self, attribute, tuple(n for n in getattr(self, attribute) if n in listed) or listed)

    # -- rows -----------------------------------------------------------------------------

    def prepare(self, values: Mapping[str, Any], previous: Mapping[str, Any]) -> Call:
        gpt, sovits = self._weights(values)
        text_language = self._language(values.get("text_language"), "text_language")
        prompt_language = self._language(values.get("prompt_language") or values.get("text_language"), "prompt_language")
        ref = values.get("ref_audio")
        if isinstance(ref, File):
            _check_reference(ref)
        kwargs = {p.name: p.default for p in self.speak.parameters}  # what the page holds untouched
        given = {
            "ref_audio": ref,
            "prompt_text": values.get("prompt_text") or "",
            "prompt_language": prompt_language,
            "text": values["text"],
            "text_language": text_language,
            "how_to_cut": self._cut(values.get("how_to_cut")),
            "top_k": values.get("top_k"),
            "top_p": values.get("top_p"),
            "temperature": values.get("temperature"),
            "speed": values.get("speed"),
            "aux_refs": values.get("aux_refs") or None,
            "pause": values.get("pause"),
        }
        for column, value in given.items():
            name = PARAMS[column]
            if name in self.params and (value is not None or column == "aux_refs"):
                kwargs[name] = value
        if "ref_free" in self.params:
            kwargs["ref_free"] = False  # an empty transcript turns it on upstream
        label = str(values.get("voice") or "").strip() or _stem(sovits)
        state = ServerState(
            key=f"{gpt}|{sovits}",
            label=label,
            calls=(
                Call({"gpt_path": gpt}, endpoint=CHANGE_GPT),
                Call({"sovits_path": sovits, "prompt_language": prompt_language, "text_language": text_language}, endpoint=CHANGE_SOVITS),
            ),
        )
        return Call(kwargs, state=state)

    def _weights(self, values: Mapping[str, Any]) -> tuple[str, str]:
        voice = str(values.get("voice") or "").strip()
        gpt = self._weight(values.get("gpt_weights"), voice, self.gpt_names, "gpt_weights")
        sovits = self._weight(values.get("sovits_weights"), voice, self.sovits_names, "sovits_weights")
        return gpt, sovits

    def _weight(self, given: Any, voice: str, names: Sequence[str], column: str) -> str:
        listed = ", ".join(names) or "none"
        if given is not None and str(given).strip():
            text = str(given).strip().replace("\\", "/")
            found = [n for n in names if n == text] or [n for n in names if n.rsplit("/", 1)[-1] == text.rsplit("/", 1)[-1]]
            if len(found) == 1:
                return found[0]
            raise RowProblem(f"{text!r} is not a weights file the server lists; it has: {listed}", column)
        if not voice:
            raise RowProblem(f"give a voice (or {column}); the server lists: {listed}", column)
        found = [n for n in names if _stem(n).casefold() == voice.casefold()]
        if len(found) != 1:
            why = "several" if found else "no"
            raise RowProblem(f"voice {voice!r} matches {why} {column.split('_')[0].upper() if column == 'gpt_weights' else 'SoVITS'} weights file{'s' if found else ''} ({', '.join(found) or listed}); name the file in {column}", column)
        return found[0]

    def _language(self, given: Any, column: str) -> str:
        return _pick(given, self.languages, LANGUAGES, column, "language")

    def _cut(self, given: Any) -> Any:
        if given is None or str(given).strip() == "":
            return None  # the page's default
        return _pick(given, self.cuts, CUTS, "how_to_cut", "cut method")

    def collect(self, result: gbatch.CallResult, out: Outputs) -> None:
        audio = result.value
        if not isinstance(audio, ServerFile):
            raise RowFailed("the server answered without audio")
        out.write(out.fetch(audio), audio.suffix or ".wav")

    def explain(self, failure: gbatch.Failure, call: Call) -> str:
        message = failure.message
        if failure.cause == "app" and (failure.hidden or message.strip() in ("", "None", "Error")):
            return f"{message} (GPT-SoVITS gives no reason to the client: see the server's console; the voice was {call.state})"
        return message


def _pick(given: Any, offered: Sequence[str], table: Mapping[str, tuple[str, str]], column: str, what: str) -> str:
    """The server's label for `given`: the label itself, the other language's label, or the code."""
    if given is None or str(given).strip() == "":
        return offered[0] if offered else ""
    text = str(given).strip()
    if not offered or text in offered:
        return text
    for code, labels in table.items():
        if text.casefold() in {code.casefold(), *(label.casefold() for label in labels)}:
            for label in labels:
                if label in offered:
                    return label
    raise RowProblem(f"{text!r} is not a {what} the UI lists; it has: {', '.join(offered)}", column)


def _stem(name: str) -> str:
    """The voice a weights file is for: `SoVITS_weights_v2/alice_e8_s200.pth` -> alice, `alice-e15.ckpt` -> alice."""
    stem = Path(name).stem
    return re.sub(r"([_-]e\d+)?([_-]s\d+)?$", "", stem)


def _check_reference(ref: File) -> None:
    """Upstream refuses a clip outside 3-10 s only after the row was sent: refuse it first."""
    if ref.is_url:
        return
    try:
        import soundfile

        info = soundfile.info(ref.source)
    except Exception:  # a format libsndfile cannot read (m4a): the server decides
        return
    seconds = info.frames / info.samplerate if info.samplerate else 0.0
    if not MIN_REF_SECONDS <= seconds <= MAX_REF_SECONDS:
        raise RowProblem(f"the reference clip is {seconds:.1f} s long; GPT-SoVITS takes 3 to 10 s: {ref.source}", "ref_audio")

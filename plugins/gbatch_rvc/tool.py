"""The `rvc` tool: audio files onto the RVC web UI's single inference (`infer-web.py`, gradio 3).

The UI keeps one voice loaded in the server's globals (`/infer_change_voice`, the
推理音色 dropdown's change event); each row names its voice, a `gbatch.ServerState`, so
gbatch groups rows by voice per server and switches a server only between groups.

`/infer_convert` takes the input audio as a *path on the server* (a Textbox). gbatch
uploads each local file (`input`) through the app's upload route (`POST /upload`, which
the page's own file inputs use) and sends the path the server gave it; `server_input`
is sent untouched, for audio already on the server. The
answer is the page's: its info text (kept as the row's `info` value) and the audio
(saved as `<name>.wav`). Inputs are bound by position and component (gradio 3 names
them input_0, input_1, ...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import gbatch
from gbatch import (
    Call,
    Column,
    Endpoint,
    File,
    Outputs,
    Param,
    Plan,
    RowFailed,
    RowProblem,
    ServerApi,
    ServerFile,
    ServerState,
    Tool,
)

STAND_IN = gbatch.StandIn("RVC", "pitch-shifted audio with a tone")
CONVERT = "/infer_convert"
CHANGE_VOICE = "/infer_change_voice"
SERVER_PREFIX = "server:"  # an index given as a path on the server
#: upstream's vc_single fails like this when no voice is loaded (the server restarted, or someone unloaded it)
NO_VOICE = "'NoneType' object has no attribute 'pipeline'"

#: infer_convert's 12 inputs in upstream's order: our name, component
CONVERT_INPUTS = (
    ("speaker_id", "slider"),
    ("input", "textbox"),
    ("transpose", "number"),
    ("f0_file", "file"),
    ("f0_method", "radio"),
    ("index_path", "textbox"),
    ("index", "dropdown"),
    ("index_rate", "slider"),
    ("filter_radius", "slider"),
    ("resample_sr", "slider"),
    ("rms_mix_rate", "slider"),
    ("protect", "slider"),
)
CHANGE_INPUTS = (("voice", "dropdown"), ("protect", "slider"), ("protect_batch", "slider"))

COLUMNS = (
    Column("input", kind="file", help="The audio to convert, a local file (uploaded to the server, whose converter reads a path on the server).", aliases=("audio", "song")),
    Column("server_input", help="Instead of input: the path of audio already on the server, sent as it is.", aliases=("server_path",)),
    Column("voice", required=True, help="The voice (a .pth the server lists under 推理音色; the name without .pth works)."),
    Column("transpose", kind="int", default=0, help="Pitch shift in semitones (12 = an octave up).", aliases=("f0_up_key", "pitch")),
    Column("f0_method", help="Pitch extraction: pm, harvest, crepe or rmvpe (as the server lists them)."),
    Column("index", help="A feature index the server lists (default: the one upstream picks for the voice; 'none' for none), or server:PATH."),
    Column("index_rate", kind="float", help="Share of the index's features (0-1)."),
    Column("filter_radius", kind="int", help="Median filter radius for harvest's pitch (0-7)."),
    Column("resample_sr", kind="int", help="Resample the output to this rate (0: the voice's own)."),
    Column("rms_mix_rate", kind="float", help="Mix of the output's loudness envelope over the input's (0-1)."),
    Column("protect", kind="float", help="Protect voiceless consonants and breaths (0-0.5; 0.5: off)."),
)
SLIDERS = ("index_rate", "filter_radius", "resample_sr", "rms_mix_rate", "protect")


class RvcTool(Tool):
    name = "rvc"
    help = """Convert audio with an RVC web UI (infer-web.py, gradio 3): one row per file.

`gbatch rvc --each input=songs/*.wav --voice alto -s URL` converts a folder; a task
file can give each row its own voice. Local files are uploaded to the server (its
converter reads a path on the server); server_input sends a server path as is. gbatch
loads a voice only when the rows on a server need it. The voice is global on the
server: another batch or a person in the browser switching it will interfere.
Outputs are <name>.wav; the server's info text goes to results.csv."""
    columns = COLUMNS
    api_name = CONVERT
    slots_per_server = 2
    default_server = "http://127.0.0.1:7865"
    default_out = "rvc-out"

    def plan(self, api: ServerApi, options: Mapping[str, Any]) -> Plan:
        return RvcPlan(api)


def bind(endpoint: Endpoint | None, spec: Sequence[tuple[str, str]]) -> dict[str, Param] | None:
    """The endpoint's parameters by our names, when their count and components are upstream's."""
    if endpoint is None or len(endpoint.parameters) != len(spec):
        return None
    found = {}
    for (name, component), param in zip(spec, endpoint.parameters, strict=True):
        if param.component.lower() != component:
            return None
        found[name] = param
    return found


def _values(param: Param) -> tuple[str, ...]:
    return tuple(str(c[1]) if isinstance(c, (list, tuple)) and len(c) == 2 else str(c) for c in param.choices or ())


class RvcPlan(Plan):
    voice_columns = ("voice", "index")

    def __init__(self, api: ServerApi) -> None:
        convert, change = bind(api.endpoint(CONVERT), CONVERT_INPUTS), bind(api.endpoint(CHANGE_VOICE), CHANGE_INPUTS)
        if convert is None or change is None:
            found = "\n".join(f"  {e.signature()}" for e in api.every_endpoint())
            expected = f"{CONVERT} with 12 inputs ({', '.join(c for _, c in CONVERT_INPUTS)}) and {CHANGE_VOICE} with 3 ({', '.join(c for _, c in CHANGE_INPUTS)})."
            raise gbatch.not_the_app(api, "RVC's infer-web.py", expected, found)
        self.api_name = CONVERT
        self.params, self.change = convert, change
        self.voices = _values(change["voice"])
        self.indexes = _values(convert["index"])
        self.f0_methods = _values(convert["f0_method"])
        self.columns = [self._bound(c) for c in COLUMNS]
        self.notice = STAND_IN.notice(api)

    def _bound(self, column: Column) -> Column:
        """A slider column with the page's range, initial value and label; f0_method with the page's choices."""
        if column.name in SLIDERS:
            return gbatch.bind_column(column, self.params[column.name], choices=False, taken=self._names_besides(column))
        if column.name == "f0_method" and self.f0_methods:
            return gbatch.bind_column(column, self.params["f0_method"], taken=self._names_besides(column))
        return column

    @staticmethod
    def _names_besides(column: Column) -> list[str]:
        return [n for c in COLUMNS if c is not column for n in (c.name, *c.aliases)]

    def prepare(self, values: Mapping[str, Any], previous: Mapping[str, Any]) -> Call:
        p = self.params
        voice = self._voice(str(values["voice"]).strip())
        kwargs: dict[str, Any] = {param.name: param.default for param in p.values()}
        kwargs[p["speaker_id"].name] = 0
        kwargs[p["transpose"].name] = values.get("transpose") or 0
        kwargs[p["f0_file"].name] = None  # hidden in the UI
        if values.get("f0_method"):
            kwargs[p["f0_method"].name] = values["f0_method"]
        index_path, index = self._index(values.get("index"), voice)
        kwargs[p["index_path"].name], kwargs[p["index"].name] = index_path, index
        for name in SLIDERS:
            if values.get(name) is not None:
                kwargs[p[name].name] = values[name]
        server_paths: dict[str, File] = {}
        local, remote = values.get("input"), str(values.get("server_input") or "").strip()
        if isinstance(local, File) and remote:
            raise RowProblem("give input (a local file) or server_input (a path on the server), not both", "server_input")
        if isinstance(local, File):
            if local.is_url:
                raise RowProblem(f"RVC reads a path on the server: download {local} first, or give server_input", "input")
            server_paths[p["input"].name] = local
            kwargs[p["input"].name] = ""  # the path the upload gets, at send time
        elif remote:
            kwargs[p["input"].name] = remote
        else:
            raise RowProblem("give input (a local audio file) or server_input (a path on the server)", "input")
        c = self.change
        state = ServerState(
            key=voice,
            label=re.sub(r"\.pth$", "", voice),
            calls=(Call({c["voice"].name: voice, c["protect"].name: c["protect"].default, c["protect_batch"].name: c["protect_batch"].default}, endpoint=CHANGE_VOICE),),
        )
        return Call(kwargs, state=state, server_paths=server_paths)

    def _voice(self, given: str) -> str:
        for name in self.voices:
            if given in (name, re.sub(r"\.pth$", "", name)):
                return name
        raise RowProblem(f"{given!r} is not a voice the server lists; it has: {', '.join(self.voices) or 'none'}", "voice")

    def _index(self, given: Any, voice: str) -> tuple[str, str]:
        """(file_index1 text, file_index2 choice) as the page would hold them for this row."""
        text = str(given or "").strip()
        if text.casefold() == "none":
            return "", ""
        if text.startswith(SERVER_PREFIX):
            return text[len(SERVER_PREFIX) :], ""
        if text:
            found = [i for i in self.indexes if i == text or i.rsplit("/", 1)[-1] == text]
            if not found:
                raise RowProblem(f"{text!r} is not an index the server lists; it has: {', '.join(self.indexes) or 'none'} (or write server:PATH, or none)", "index")
            return "", found[0]
        # what changing the voice puts in the dropdown: upstream's get_index_path_from_model
        return "", next((i for i in self.indexes if voice.split(".")[0] in i), "")

    def collect(self, result: gbatch.CallResult, out: Outputs) -> None:
        info, audio = (tuple(result.outputs) + (None, None))[:2]
        text = str(info or "")
        if not text.startswith("Success"):
            if NO_VOICE in text:
                # The server forgot its voice (restarted, or someone unloaded it): load it again, then retry.
                raise gbatch.ConnectionLost("the server has no voice loaded; loading it again")
            lines = [line for line in text.strip().splitlines() if line.strip()]
            raise RowFailed(lines[-1] if lines else "the server answered without a message or audio")
        if not isinstance(audio, ServerFile):
            raise RowFailed("the server said Success but returned no audio file")
        out.write(out.fetch(audio), audio.suffix or ".wav")
        out.value("info", text.strip())

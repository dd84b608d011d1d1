"""The `sovits` tool: task rows onto the So-VITS-SVC 4.x web UI (`webUI.py`, gradio 3).

The web UI has no `api_name` and no queue; its events are found by their structure
(the `加载模型` and `音频转换` buttons, their inputs' components and labels), never by
fn_index. The model is a process-wide global of the server: `Plan.setup` loads the
batch's model (`--model-folder`, or `--model` + `--config`) on every server before its
first row (and again after the server restarted), and reads the speakers from the
load's Dropdown update. A row may name another model folder (the `model` column):
each model is then a `gbatch.ServerState`, loaded on a server only when its rows run
there, so one batch can use several models; each such model is loaded once on the
first server while the rows are checked, to learn its speakers. Conversions answer
HTTP 200 either way; anything but `Success` in the first output fails the row with
the server's message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
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
    Param,
    Plan,
    RowFailed,
    RowProblem,
    ServerApi,
    ServerError,
    ServerFile,
    ServerState,
    Tool,
    UsageError,
)

LOAD_BUTTON = "加载模型"
CONVERT_BUTTON = "音频转换"
LOADED = "成功加载模型"  # the start of the load's status text when it worked
NO_CLUSTER_LOADED = "未加载聚类模型或特征检索模型"
NO_MODEL = "You need to upload an model"
FORMATS = ("wav", "flac", "mp3")
F0_PREDICTORS = ("pm", "dio", "harvest", "crepe", "rmvpe")
#: seconds a model load may take (the upload of a large .pth included)
LOAD_TIMEOUT = 600.0


@dataclass(frozen=True)
class Input:
    """One input of an upstream event: our name for it, upstream's, its exact label, its component."""

    name: str
    upstream: str
    label: str
    component: str


# vc_fn, fn_index 7 upstream: the order of its 19 inputs.
CONVERT_INPUTS = (
    Input("speaker", "sid", "音色（说话人）", "dropdown"),
    Input("audio", "input_audio", "选择音频", "audio"),
    Input("format", "output_format", "音频输出格式", "radio"),
    Input("transpose", "vc_transform", "变调（整数，可以正负，半音数量，升高八度就是12）", "number"),
    Input("auto_f0", "auto_f0", "自动f0预测，配合聚类模型f0预测效果更好,会导致变调功能失效（仅限转换语音，歌声勾选此项会究极跑调）", "checkbox"),
    Input("cluster_ratio", "cluster_ratio", "聚类模型/特征检索混合比例，0-1之间，0即不启用聚类/特征检索。使用聚类/特征检索能提升音色相似度，但会导致咬字下降（如果使用建议0.5左右）", "number"),
    Input("slice_db", "slice_db", "切片阈值", "number"),
    Input("noise_scale", "noise_scale", "noise_scale 建议不要动，会影响音质，玄学参数", "number"),
    Input("pad_seconds", "pad_seconds", "推理音频pad秒数，由于未知原因开头结尾会有异响，pad一小段静音段后就不会出现", "number"),
    Input("clip_seconds", "cl_num", "音频自动切片，0为不切片，单位为秒(s)", "number"),
    Input("crossfade_seconds", "lg_num", "两端音频切片的交叉淡入长度，如果自动切片后出现人声不连贯可调整该数值，如果连贯建议采用默认值0，注意，该设置会影响推理速度，单位为秒/s", "number"),
    Input("keep_ratio", "lgr_num", "自动音频切片后，需要舍弃每段切片的头尾。该参数设置交叉长度保留的比例，范围0-1,左开右闭", "number"),
    Input("f0_predictor", "f0_predictor", "选择F0预测器,可选择crepe,pm,dio,harvest,rmvpe,默认为pm(注意：crepe为原F0使用均值滤波器)", "dropdown"),
    Input("enhancer_adaptive_key", "enhancer_adaptive_key", "使增强器适应更高的音域(单位为半音数)|默认为0", "number"),
    Input("f0_filter_threshold", "cr_threshold", "F0过滤阈值，只有启动crepe时有效. 数值范围从0-1. 降低该值可减少跑调概率，但会增加哑音", "number"),
    Input("diffusion_steps", "k_step", "浅扩散步数，只有使用了扩散模型才有效，步数越大越接近扩散模型的结果", "slider"),
    Input("use_spk_mix", "use_spk_mix", "动态声线融合", "checkbox"),
    Input("second_encoding", "second_encoding", "二次编码，浅扩散前会对原始音频进行二次编码，玄学选项，效果时好时差，默认关闭", "checkbox"),
    Input("loudness_envelope", "loudness_envelope_adjustment", "输入源响度包络替换输出响度包络融合比例，越靠近1越使用输出响度包络", "number"),
)

# modelAnalysis, fn_index 10 upstream: the order of its 11 inputs.
LOAD_INPUTS = (
    Input("model", "model_path", "选择模型文件", "file"),
    Input("config", "config_path", "选择配置文件", "file"),
    Input("cluster_model", "cluster_model_path", "选择聚类模型或特征检索文件（没有可以不选）", "file"),
    Input("device", "device", "推理设备，默认为自动选择CPU和GPU", "dropdown"),
    Input("enhance", "enhance", "是否使用NSF_HIFIGAN增强,该选项对部分训练集少的模型有一定的音质增强效果，但是对训练好的模型有反面效果，默认关闭", "checkbox"),
    Input("diffusion_model", "diff_model_path", "选择扩散模型文件", "file"),
    Input("diffusion_config", "diff_config_path", "选择扩散模型配置文件", "file"),
    Input("only_diffusion", "only_diffusion", "是否使用全扩散推理，开启后将不使用So-VITS模型，仅使用扩散模型进行完整扩散推理，默认关闭", "checkbox"),
    Input("use_spk_mix", "use_spk_mix", "动态声线融合", "checkbox"),
    Input("local", "local_model_enabled", "", "checkbox"),  # hidden: True loads from a server folder
    Input("model_folder", "local_model_selection", "选择模型文件夹", "dropdown"),
)

LABELS = {i.name: i.label for i in CONVERT_INPUTS}
STAND_IN = gbatch.StandIn("So-VITS-SVC", "pitch-shifted audio")


def _column(name: str, kind: str, help_text: str, *aliases: str, **more: Any) -> Column:
    spec = next(i for i in CONVERT_INPUTS if i.name == name)
    names = tuple(dict.fromkeys(a for a in (*aliases, spec.upstream, spec.label) if a and a != name))
    return Column(name, kind=kind, help=help_text, aliases=names, **more)


COLUMNS = (
    _column("audio", "file", "The audio to convert (a song or speech; anything the server's ffmpeg reads).", required=True),
    Column("model", help="A model folder on the server for this row (e.g. ./trained/alice), instead of --model-folder: one batch can use several models.", aliases=("model_folder",), option=False),
    _column("speaker", "text", "A speaker of the loaded model (default: its first)."),
    _column("transpose", "int", "Pitch shift in semitones (12 = an octave up).", default=0),
    _column("f0_predictor", "text", "F0 predictor.", choices=F0_PREDICTORS, default="pm"),
    _column("format", "text", "Output audio format.", choices=FORMATS, default="wav"),
    _column("auto_f0", "bool", "Predict f0 automatically (speech only; transpose is then ignored).", default=False),
    _column("cluster_ratio", "float", "Cluster / feature-retrieval mix ratio, 0-1; above 0 needs --cluster-model.", default=0.0, minimum=0.0, maximum=1.0),
    _column("slice_db", "float", "Slicing threshold in dB.", default=-40.0),
    _column("noise_scale", "float", "noise_scale (best left alone).", default=0.4, minimum=0.0),
    _column("pad_seconds", "float", "Seconds of silence padded around the audio.", default=0.5, minimum=0.0),
    _column("clip_seconds", "float", "Slice the audio into clips of this many seconds (0: no slicing).", default=0.0, minimum=0.0),
    _column("crossfade_seconds", "float", "Cross-fade between slices, seconds.", default=0.0, minimum=0.0),
    _column("keep_ratio", "float", "Share of the cross-fade kept at each slice's ends, above 0 up to 1.", default=0.75, minimum=0.0, maximum=1.0),
    _column("enhancer_adaptive_key", "float", "Let the NSF-HiFiGAN enhancer reach higher, in semitones.", default=0.0),
    _column("f0_filter_threshold", "float", "F0 filter threshold, 0-1 (crepe only).", default=0.05, minimum=0.0, maximum=1.0),
    _column("diffusion_steps", "int", "Shallow-diffusion steps (with a diffusion model only).", default=100, minimum=1, maximum=1000),
    _column("second_encoding", "bool", "Encode the source again before shallow diffusion.", default=False),
    _column("loudness_envelope", "float", "Mix of the output's loudness envelope over the input's, 0-1.", default=0.0, minimum=0.0, maximum=1.0),
)

OPTIONS = (
    Option("model_folder", str, None, "A model folder on the server, relative to the web UI's working directory, e.g. ./trained/mymodel (the 本地 tab): its first *.pth and *.json are loaded."),
    Option("model", Path, None, "A model .pth to upload (the 上传 tab); needs --config."),
    Option("config", Path, None, "The model's config.json to upload (with --model)."),
    Option("cluster_model", Path, None, "A cluster model (.pt) or feature-retrieval index (.pkl) to upload; needed for cluster_ratio above 0."),
    Option("diffusion_model", Path, None, "A shallow-diffusion model to upload (needs --diffusion-config)."),
    Option("diffusion_config", Path, None, "The diffusion model's config to upload."),
    Option("only_diffusion", bool, False, "Use the diffusion model alone (needs --diffusion-model).", flag=True),
    Option("device", str, "Auto", "Inference device as the server lists it: Auto, cpu, or CUDA:<i> (cuda:0 works too)."),
    Option("enhance", bool, False, "Use the NSF-HiFiGAN enhancer (helps some models trained on little data).", flag=True),
)


class SovitsTool(Tool):
    name = "sovits"
    help = """Convert every row's audio with a So-VITS-SVC 4.x web UI (webUI.py, gradio 3).

Choose the model once: --model-folder ./trained/NAME (a folder on the server) or
--model G.pth --config config.json (uploaded). It is loaded on every server before
its first row, and the speakers come from that load. Each row's output is saved as
<name>.<format>. One row at a time per server: the model is global and there is no queue."""
    columns = COLUMNS
    options = OPTIONS
    slots_per_server = 1  # one global model, no queue: conversions must not overlap
    default_server = "http://127.0.0.1:7860"
    default_out = "sovits-out"

    def plan(self, api: ServerApi, options: Mapping[str, Any]) -> Plan:
        return SovitsPlan(api, _model_choice(options), _options_without_model(options))


@dataclass(frozen=True)
class ModelChoice:
    """Which model every server loads, from the tool's options."""

    folder: str | None
    model: Path | None
    config: Path | None
    cluster: Path | None
    diffusion_model: Path | None
    diffusion_config: Path | None
    only_diffusion: bool
    device: str
    enhance: bool

    def fingerprint(self) -> str:
        # Rows converted with another model are other rows: the model is part of every row's input.
        parts = [f"folder={self.folder}" if self.folder else ""]
        for label, path in (("model", self.model), ("config", self.config), ("cluster", self.cluster), ("diffusion", self.diffusion_model), ("diffusion_config", self.diffusion_config)):
            if path is not None:
                stat = path.stat()
                parts.append(f"{label}={path.name}:{stat.st_size}:{stat.st_mtime_ns}")
        parts.append(f"enhance={self.enhance}|only_diffusion={self.only_diffusion}")
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _path(options: Mapping[str, Any], name: str) -> Path | None:
    value = options.get(name)
    if value is None or str(value) == "":
        return None
    path = Path(value).expanduser()
    flag = "--" + name.replace("_", "-")
    if not path.is_file():
        raise UsageError(f"{flag} {value}: no such file")
    return path


def _options_without_model(options: Mapping[str, Any]) -> ModelChoice:
    """The batch's load options for a row that names its own model folder (the folder is the row's)."""
    base = _model_choice({**options, "model": None, "config": None, "model_folder": "."})
    assert base is not None  # a folder was given
    return base


def _model_choice(options: Mapping[str, Any]) -> ModelChoice | None:
    """The batch's model from its options; None when rows name theirs (the `model` column)."""
    folder = options.get("model_folder") or None
    model, config = _path(options, "model"), _path(options, "config")
    if folder and (model or config):
        raise UsageError("give either --model-folder (a folder on the server) or --model and --config (files to upload), not both")
    if not folder and not (model and config):
        if model or config:
            raise UsageError("--model and --config go together: give both (or --model-folder instead)")
        return None
    diffusion_model, diffusion_config = _path(options, "diffusion_model"), _path(options, "diffusion_config")
    if bool(diffusion_model) != bool(diffusion_config):
        raise UsageError("--diffusion-model and --diffusion-config go together")
    only_diffusion = bool(options.get("only_diffusion"))
    if only_diffusion and not diffusion_model:
        raise UsageError("--only-diffusion needs --diffusion-model and --diffusion-config")
    return ModelChoice(
        folder=str(folder) if folder else None,
        model=model,
        config=config,
        cluster=_path(options, "cluster_model"),
        diffusion_model=diffusion_model,
        diffusion_config=diffusion_config,
        only_diffusion=only_diffusion,
        device=str(options.get("device") or "Auto"),
        enhance=bool(options.get("enhance")),
    )


# -- finding the events ------------------------------------------------------------------


def bind(endpoint: Endpoint, spec: Sequence[Input]) -> dict[str, Param] | None:
    """The endpoint's parameter for each input of `spec` (by our name), or None if it is not that event.

    Inputs are matched by their exact label where the app has one (a fork may reorder
    them), else by position; the component types must agree either way.
    """
    params = endpoint.parameters
    if len(params) != len(spec):
        return None
    by_label: dict[str, Param] = {}
    for param in params:
        if param.label:
            by_label.setdefault(param.label, param)
    found: dict[str, Param] = {}
    for position, wanted in enumerate(spec):
        labelled = by_label.get(wanted.label) if wanted.label else None
        param = labelled if labelled is not None else params[position]
        if param.component.lower() != wanted.component:
            return None
        found[wanted.name] = param
    return found if len({id(p) for p in found.values()}) == len(spec) else None


def _returns(endpoint: Endpoint) -> tuple[str, ...]:
    return tuple(r.component.lower() for r in endpoint.returns)


def find_event(api: ServerApi, button: str, spec: Sequence[Input], returns: tuple[str, ...]) -> tuple[Endpoint, dict[str, Param]] | None:
    """The event triggered by `button` with `spec`'s inputs and these outputs; failing a button
    match, the only event of that shape."""
    shaped = []
    for endpoint in api.every_endpoint():
        bound = bind(endpoint, spec)
        if bound is not None and _returns(endpoint) == returns:
            shaped.append((endpoint, bound))
    named = [found for found in shaped if f'"{button}"' in found[0].trigger]
    if named:
        return named[0]
    return shaped[0] if len(shaped) == 1 else None


def describe_events(api: ServerApi) -> str:
    lines = []
    for endpoint in api.every_endpoint():
        inputs = ", ".join(p.component for p in endpoint.parameters) or "-"
        outputs = ", ".join(_returns(endpoint)) or "-"
        lines.append(f"  {endpoint.key} {endpoint.trigger or '(no trigger)'}: {len(endpoint.parameters)} inputs ({inputs}) -> {outputs}")
    return "\n".join(lines) or "  (no events)"


def _choice_value(item: Any) -> str:
    # gradio 3 may give choices as [label, value] pairs
    if isinstance(item, (list, tuple)) and len(item) == 2:
        return str(item[1])
    return str(item)


def _device(choice: str, param: Param) -> str:
    choices = [str(c) for c in (param.choices or ())]
    if not choices or choice in choices:
        return choice
    folded = choice.strip().casefold()
    for option in choices:
        # "cuda:0" for "CUDA:0 NVIDIA GeForce RTX 3090"
        if option.casefold() == folded or option.casefold().split(" ", 1)[0] == folded:
            return option
    raise UsageError(f"--device {choice!r}: the server offers {', '.join(repr(c) for c in choices)}")


# -- the plan -----------------------------------------------------------------------------


class SovitsPlan(Plan):
    def __init__(self, api: ServerApi, model: ModelChoice | None, base: ModelChoice) -> None:
        convert = find_event(api, CONVERT_BUTTON, CONVERT_INPUTS, ("textbox", "audio"))
        load = find_event(api, LOAD_BUTTON, LOAD_INPUTS, ("dropdown", "textbox"))
        if convert is None or load is None:
            missing = " and ".join(
                what for what, found in (
                    (f'the "{LOAD_BUTTON}" event (modelAnalysis: {len(LOAD_INPUTS)} inputs -> dropdown, textbox)', load),
                    (f'the "{CONVERT_BUTTON}" event (vc_fn: {len(CONVERT_INPUTS)} inputs, the 2nd an audio -> textbox, audio)', convert),
                ) if found is None
            )  # fmt: skip
            raise gbatch.not_the_app(api, "the So-VITS-SVC 4.x web UI", f"webUI.py's events, but it lacks {missing}.", describe_events(api))
        self.convert, self.params = convert
        self.load, self.load_params = load
        self.api_name = self.convert.key
        #: the batch's model (its options), or None when every row names its folder
        self.model = model
        #: the load options of a row that names its own folder
        self.base = base
        self.device = _device((model or base).device, self.load_params["device"])
        #: state key -> the model a row needs; speakers (and whether a cluster model loaded) per model
        self.models: dict[str, ModelChoice] = {}
        self.model_speakers: dict[str, tuple[str, ...]] = {}
        #: the server each row's own model is loaded on once, to learn its speakers (the first set up)
        self.lookup: gbatch.Server | None = None
        self.columns = [self._server_column(c) for c in COLUMNS]
        #: speakers of the loaded model, per server URL (filled by `setup`)
        self.speakers: dict[str, tuple[str, ...]] = {}
        self.has_cluster: dict[str, bool] = {}
        self.notice = STAND_IN.notice(api)

    def _server_column(self, column: Column) -> Column:
        """The column with the server's defaults, choices and limits (its own are the fallbacks),
        and the control's name and label as aliases. The speakers come from the model's load."""
        if column.name not in self.params:
            return column  # ours alone (the model column)
        param = self.params[column.name]
        use_default = column.name != "speaker" and not param.is_file
        return gbatch.bind_column(column, param, server_first=True, default=use_default, choices=column.choices is not None)

    def fingerprint(self) -> str:
        return (self.model or self.base).fingerprint()

    # -- per server: load the model --------------------------------------------------------

    def setup(self, server: gbatch.Server) -> None:
        if self.lookup is None:
            self.lookup = server
        if self.model is None:
            return  # every row names its model: each is loaded when its rows need it
        speakers, status_text = self._load(server, self.model)
        before = self.speakers.get(server.url)
        if before is not None and not set(before) <= set(speakers):
            lost = ", ".join(s for s in before if s not in speakers)
            raise RowFailed(f"{server.label}: after loading the model again it lacks speakers it had before: {lost}")
        self.speakers[server.url] = speakers
        self.has_cluster[server.url] = self.model.cluster is not None and NO_CLUSTER_LOADED not in status_text
        server.facts["speakers"] = speakers
        server.facts["model_status"] = status_text
        server.state = _key(self.model)

    def apply_state(self, server: gbatch.Server, state: ServerState) -> None:
        """Load the model a group of rows needs (worker thread, no other row running there)."""
        model = self.models[state.key]
        speakers, _ = self._load(server, model)
        known = self.model_speakers.get(state.key) or self.speakers.get(server.url) or ()
        lost = [s for s in known if s not in speakers]
        if lost:
            raise RowFailed(f"{server.label}: the model {state} now lacks speakers it had before: {', '.join(lost)}")
        server.state = state.key

    def _load(self, server: gbatch.Server, model: ModelChoice) -> tuple[tuple[str, ...], str]:
        """Load `model` on `server` (the 加载模型 button); its speakers and the status text."""
        p = self.load_params
        values: dict[str, Any] = {
            p["device"].name: self.device,
            p["enhance"].name: model.enhance,
            p["only_diffusion"].name: model.only_diffusion,
            p["use_spk_mix"].name: False,
            p["local"].name: model.folder is not None,
        }
        if model.folder is not None:
            values[p["model_folder"].name] = model.folder
        for key, path in (("model", model.model), ("config", model.config), ("cluster_model", model.cluster), ("diffusion_model", model.diffusion_model), ("diffusion_config", model.diffusion_config)):
            if path is not None:
                values[p[key].name] = File(str(path))
        try:
            result = server.call(self.load.key, values, timeout=LOAD_TIMEOUT)
        except gbatch.AppError as exc:
            raise ServerError(f"{server.label}: loading the model failed: {exc.message}{self._load_hint(exc.message, model)}") from None
        update, status = (tuple(result.outputs) + (None, None))[:2]
        status_text = str(status or "")
        if not status_text.startswith(LOADED):
            raise ServerError(f"{server.label}: loading the model failed; the server said: {status_text.strip()!r}")
        choices = update.props.get("choices") if isinstance(update, gbatch.ComponentUpdate) else None
        speakers = tuple(_choice_value(c) for c in choices or ())
        if not speakers:
            raise ServerError(f"{server.label}: the model loaded but lists no speakers; the server said: {status_text.strip()!r}")
        return speakers, status_text

    def _load_hint(self, message: str, model: ModelChoice) -> str:
        if model.folder is not None and "list index out of range" in message:
            return (
                f" (the server found no *.pth or no *.json in {model.folder!r}: the folder is relative to the web UI's "
                "working directory, e.g. ./trained/NAME)"
            )
        return ""

    def _row_model(self, folder: str) -> tuple[ModelChoice, tuple[str, ...]]:
        """A row's own model folder, and its speakers: learned by loading it once on the first server."""
        model = replace(self.base, folder=folder)
        key = _key(model)
        if key not in self.model_speakers:
            if self.lookup is None:
                raise RowProblem("no server to read the model's speakers from", "model")
            try:
                self.model_speakers[key], _ = self._load(self.lookup, model)
            except (ServerError, gbatch.CallError) as exc:
                raise RowProblem(str(exc), "model") from None
            self.lookup.state = key
        return model, self.model_speakers[key]

    # -- rows ------------------------------------------------------------------------------

    def available_speakers(self) -> tuple[str, ...]:
        """Speakers every server's model has (a row may run on any of them), in the first's order."""
        lists = list(self.speakers.values())
        if not lists:
            return ()
        return tuple(s for s in lists[0] if all(s in other for other in lists[1:]))

    def prepare(self, values: Mapping[str, Any], previous: Mapping[str, Any]) -> Call:
        folder = str(values.get("model") or "").strip()
        if folder and (self.model is None or folder != self.model.folder):
            model, speakers = self._row_model(folder)
        elif self.model is None:
            raise RowProblem("choose the model: --model-folder ./trained/NAME (a folder on the server) or --model G.pth --config config.json (uploaded), or a model column", "model")
        else:
            model, speakers = self.model, self.available_speakers()
        if not speakers:
            raise RowProblem("the model's speakers are not known yet: the model was not loaded on any server", "speaker")
        speaker = values.get("speaker")
        if speaker is None or str(speaker) == "":
            speaker = speakers[0]
        else:
            speaker = next((s for s in speakers if s == speaker), None) or next((s for s in speakers if s.casefold() == str(speaker).strip().casefold()), speaker)
            if speaker not in speakers:
                which = "the loaded model" if model is self.model else f"the model {model.folder}"
                raise RowProblem(f"{values.get('speaker')!r} is not a speaker of {which}; it has: {', '.join(speakers)}", "speaker")
        ratio = float(values.get("cluster_ratio") or 0)
        if ratio > 0 and model is not self.model and model.cluster is None:
            raise RowProblem(f"cluster_ratio {ratio:g} needs a cluster model or feature-retrieval index: give --cluster-model FILE, or use 0", "cluster_ratio")
        if ratio > 0 and model is self.model and not (self.has_cluster and all(self.has_cluster.values())):
            if self.model.cluster is None:
                why = "give --cluster-model FILE, or use 0"
            else:
                why = f"the server did not report loading {self.model.cluster.name} (see its status text), so use 0"
            raise RowProblem(f"cluster_ratio {ratio:g} needs a cluster model or feature-retrieval index: {why}", "cluster_ratio")
        keep = values.get("keep_ratio")
        if keep is not None and float(keep) <= 0:
            raise RowProblem("keep_ratio must be above 0 (the UI's range is 0-1, 0 excluded)", "keep_ratio")
        audio = values.get("audio")
        if isinstance(audio, File):
            _check_audio(audio)
        kwargs: dict[str, Any] = {}
        for spec in CONVERT_INPUTS:
            param = self.params[spec.name]
            if spec.name == "use_spk_mix":
                kwargs[param.name] = False  # not interactive in the UI, and needs a model made for it
            elif spec.name == "speaker":
                kwargs[param.name] = speaker
            else:
                kwargs[param.name] = values.get(spec.name)
        key = _key(model)
        self.models[key] = model
        return Call(kwargs, state=ServerState(key, _label(model)))

    def collect(self, result: gbatch.CallResult, out: Outputs) -> None:
        message, audio = (tuple(result.outputs) + (None, None))[:2]
        if message != "Success":
            if message == NO_MODEL:
                # The server forgot its model (restarted, or someone pressed 卸载模型): load it again, then retry.
                raise gbatch.ConnectionLost(f"the server has no model loaded ({NO_MODEL!r}); loading it again")
            raise RowFailed(str(message) if message else "the server answered without a message or audio")
        if not isinstance(audio, ServerFile):
            raise RowFailed("the server said Success but returned no audio file")
        fmt = str(out.call.kwargs.get(self.params["format"].name) or "wav")
        data = out.fetch(audio)
        problem = _unreadable(data, fmt)
        if problem:
            raise RowFailed(f"the audio downloaded from the server is not readable {fmt.upper()} ({problem}): {audio.name}", retryable=True)
        if audio.suffix and audio.suffix != f".{fmt}":
            out.warn(f"asked for {fmt} but the server returned {audio.name}")
        out.write(data, f".{fmt}")
        out.value("server_file", audio.path or audio.name)


def _key(model: ModelChoice) -> str:
    """The server state a model is: its folder on the server, or what identifies the uploaded files."""
    return f"folder:{model.folder}" if model.folder is not None else f"upload:{model.fingerprint()}"


def _label(model: ModelChoice) -> str:
    if model.folder is not None:
        return model.folder.rstrip("/").rsplit("/", 1)[-1] or model.folder
    return model.model.name if model.model is not None else "model"


def _check_audio(audio: File) -> None:
    """Refuse audio that is certainly empty; what soundfile cannot read locally is left to the server's ffmpeg."""
    if audio.is_url:
        return
    try:
        import soundfile

        info = soundfile.info(audio.source)
    except Exception:  # not a format libsndfile reads (m4a, say): the server decides
        return
    if info.frames == 0:
        raise RowProblem(f"the audio has no samples: {audio.source}", "audio")


def _unreadable(data: bytes, fmt: str) -> str | None:
    """Why `data` is not audio of format `fmt`, or None (also when this machine cannot tell)."""
    import io

    import soundfile

    if not data:
        return "empty file"
    if fmt.upper() not in soundfile.available_formats():
        return None
    try:
        info = soundfile.info(io.BytesIO(data))
    except Exception as exc:
        return str(exc).splitlines()[0][:200] or type(exc).__name__
    return None if info.frames > 0 or fmt == "mp3" else "no samples"

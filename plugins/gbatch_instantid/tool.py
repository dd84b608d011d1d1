"""The `instantid` tool: task rows onto the InstantID Gradio demo's `/generate_image`.

Two server shapes are understood: `gradio_demo/app.py` (12 inputs) and
`gradio_demo/app-multicontrolnet.py` (17 inputs: ControlNet selection and
strengths, and a scheduler). Rows are checked against the server's own choices
and slider ranges first, because the app enforces neither: an unknown style
silently becomes Watercolor and out-of-range numbers go straight to the model.
"""

from __future__ import annotations

import io
import random
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import gbatch
from gbatch import Call, Column, File, Option, Outputs, Param, Plan, RowFailed, RowProblem, ServerApi, ServerError, Tool

API_NAME = "/generate_image"
APP_PARAMS = (
    "face_image_path", "pose_image_path", "prompt", "negative_prompt", "style_name", "num_steps",
    "identitynet_strength_ratio", "adapter_strength_ratio", "guidance_scale", "seed", "enable_LCM", "enhance_face_region",
)  # fmt: skip
MULTI_PARAMS = (
    *APP_PARAMS[:8], "pose_strength", "canny_strength", "depth_strength", "controlnet_selection",
    "guidance_scale", "seed", "scheduler", "enable_LCM", "enhance_face_region",
)  # fmt: skip
VARIANTS = {APP_PARAMS: "app", MULTI_PARAMS: "multicontrolnet"}

#: column -> the endpoint parameter it fills
PARAM_OF = {
    "face_image": "face_image_path",
    "pose_image": "pose_image_path",
    "prompt": "prompt",
    "negative_prompt": "negative_prompt",
    "style": "style_name",
    "steps": "num_steps",
    "identitynet_strength": "identitynet_strength_ratio",
    "adapter_strength": "adapter_strength_ratio",
    "guidance_scale": "guidance_scale",
    "seed": "seed",
    "enable_lcm": "enable_LCM",
    "enhance_face_region": "enhance_face_region",
    "pose_strength": "pose_strength",
    "canny_strength": "canny_strength",
    "depth_strength": "depth_strength",
    "controlnet": "controlnet_selection",
    "scheduler": "scheduler",
}
MULTI_ONLY = ("pose_strength", "canny_strength", "depth_strength", "controlnet", "scheduler")

MAX_SEED = 2147483647  # np.iinfo(np.int32).max: the UI's seed slider
# LCM needs few steps and the UI, once LCM is switched on, allows 0..100 steps and guidance up
# to 20 (toggle_lcm_ui); 0 steps would fail in diffusers, so rows with LCM may go down to 1.
LCM_MIN_STEPS = 1
LCM_MAX_GUIDANCE = 20.0
FORMATS = ("png", "webp", "jpg")
JPEG_QUALITY = 95
NO_FACE_TEXTS = ("cannot find any face in the image", "unable to detect a face")
NO_POSE_FACE_TEXT = "cannot find any face in the reference image"
STYLE_ALIASES = (("none", "(No style)"), ("no style", "(No style)"), ("lineart", "Line art"))

COLUMNS = (
    Column("face_image", kind="file", required=True, aliases=("face_image_path", "face", "Upload a photo of your face"),
           help="The photo with the face to keep (the largest face in it is used)."),
    Column("pose_image", kind="file", aliases=("pose_image_path", "pose", "Upload a reference pose image (optional)"),
           help="Optional: a second photo whose face pose the result takes."),
    Column("prompt", default="", aliases=("Prompt",), help="What to make, e.g. 'a man in a spacesuit'; the style wraps it."),
    Column("negative_prompt", aliases=("Negative Prompt",), help="What to avoid (default: the UI's long negative prompt)."),
    Column("style", default="Watercolor", aliases=("style_name", "Style template"), choice_aliases=STYLE_ALIASES,
           help="A style template of the server, e.g. '(No style)', 'Watercolor', 'Film Noir', 'Neon'."),
    Column("steps", kind="int", default=30, minimum=LCM_MIN_STEPS, maximum=100, aliases=("num_steps", "Number of sample steps"),
           help="Sampling steps: the UI's range, 20-100 (down to 1 with enable_lcm)."),
    Column("identitynet_strength", kind="float", default=0.8, minimum=0.0, maximum=1.5,
           aliases=("identitynet_strength_ratio", "IdentityNet strength (for fidelity)"), help="IdentityNet strength, 0-1.5 (fidelity)."),
    Column("adapter_strength", kind="float", default=0.8, minimum=0.0, maximum=1.5,
           aliases=("adapter_strength_ratio", "Image adapter strength (for detail)"), help="Image adapter strength, 0-1.5 (detail)."),
    Column("guidance_scale", kind="float", default=5.0, minimum=0.1, maximum=LCM_MAX_GUIDANCE, aliases=("Guidance scale",),
           help="Guidance scale: the UI's range, 0.1-10 (up to 20 with enable_lcm)."),
    Column("seed", kind="int", minimum=0, maximum=MAX_SEED, aliases=("Seed",),
           help="Random seed, 0-2147483647; rows without one get a random seed, kept in the journal and reused on re-runs."),
    Column("enable_lcm", kind="bool", default=False, aliases=("enable_LCM", "lcm", "Enable Fast Inference with LCM"),
           help="Fast inference with the LCM LoRA (use about 5 steps and guidance 0-1.5)."),
    Column("enhance_face_region", kind="bool", default=True, aliases=("Enhance non-face region",),
           help="The UI's 'Enhance non-face region' switch."),
    # Only app-multicontrolnet.py has these; on app.py a row that sets one is refused.
    Column("pose_strength", kind="float", minimum=0.0, maximum=1.5, aliases=("Pose strength",), help="Pose ControlNet strength, 0-1.5 (multi-ControlNet UI only)."),
    Column("canny_strength", kind="float", minimum=0.0, maximum=1.5, aliases=("Canny strength",), help="Canny ControlNet strength, 0-1.5 (multi-ControlNet UI only)."),
    Column("depth_strength", kind="float", minimum=0.0, maximum=1.5, aliases=("Depth strength",), help="Depth ControlNet strength, 0-1.5 (multi-ControlNet UI only)."),
    Column("controlnet", kind="list", choices=("pose", "canny", "depth"), aliases=("controlnet_selection", "Controlnet"),
           help="ControlNets to use, e.g. 'pose;canny' (multi-ControlNet UI only)."),
    Column("scheduler", aliases=("Schedulers",), help="Sampling scheduler as the server lists it (multi-ControlNet UI only)."),
)  # fmt: skip


class InstantIDTool(Tool):
    name = "instantid"
    help = """Make one InstantID image per row of a task file with the InstantID Gradio demo (gradio_demo/app.py).

A file with a `face_image` column (paths relative to the file) and a `prompt`
column is enough; style, seed and the UI's sliders are optional columns or
command-line defaults. Images are saved as OUT/<name>.png (see --format)."""
    columns = COLUMNS
    options = (
        Option("format", str, "png", "Image format to save. The server sends WebP (lossy, quality 80); png keeps exactly "
               "those pixels in a file every program opens, webp keeps the server's file byte for byte, jpg is smallest.",
               choices=FORMATS),
    )  # fmt: skip
    slots_per_server = 1  # the demo's queue runs one request at a time, and LCM switching is global state
    default_server = "http://127.0.0.1:7860"
    default_out = "instantid-out"

    def plan(self, api: ServerApi, options: Mapping[str, Any]) -> Plan:
        fmt = str(options.get("format") or "png").lower().replace("jpeg", "jpg")
        if fmt not in FORMATS:
            raise gbatch.UsageError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
        if fmt != "webp" and not _have_pillow():
            raise gbatch.UsageError(
                f"--format {fmt} converts the server's WebP with Pillow, which is not installed: "
                "pip install pillow, or use --format webp (the server's file as it is)"
            )
        return InstantIDPlan(api, fmt)


def _have_pillow() -> bool:
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return False
    return True


def _describe_mismatch(api: ServerApi) -> str:
    lines = []
    for endpoint in api.endpoints.values():
        lines.append(f"  {endpoint.signature()}")
        if endpoint.name == API_NAME:
            names = [p.name for p in endpoint.parameters]
            missing = [p for p in APP_PARAMS if p not in names]
            extra = [p for p in names if p not in MULTI_PARAMS]
            lines.append(f"    missing: {', '.join(missing) or '-'}; unexpected: {', '.join(extra) or '-'}")
    return "\n".join(lines) or "  (no endpoints)"


def _bind(column: Column, param: Param) -> Column:
    """The column with the server's label, default, choices and slider range."""
    aliases = tuple(dict.fromkeys((*column.aliases, param.label) if param.label else column.aliases))
    changes: dict[str, Any] = {"aliases": aliases}
    # Not the seed's: the UI's 42 is replaced by a random seed in the hidden randomize step
    # (its "Randomize seed" box is ticked), so a row without a seed gets a random one here too.
    if param.has_default and param.default is not None and column.name != "seed":
        changes["default"] = int(param.default) if column.kind == "int" else param.default
    if param.choices is not None and column.kind in ("text", "list"):
        changes["choices"] = tuple(param.choices)
    if column.kind in ("int", "float"):
        # Widened to the server's own default (an LCM launch defaults to 5 steps, below the
        # slider's 20) and, for steps and guidance, to what the UI allows with LCM on;
        # `prepare` applies the range that fits the row.
        low, high = _limits(column, param)
        default = changes.get("default", column.default)
        if column.name == "steps":
            low = min(low, LCM_MIN_STEPS) if low is not None else None
        if column.name == "guidance_scale":
            high = max(high, LCM_MAX_GUIDANCE) if high is not None else None
        if isinstance(default, (int, float)):
            low = min(low, default) if low is not None else None
            high = max(high, default) if high is not None else None
        changes["minimum"], changes["maximum"] = low, high
    return replace(column, **changes)


def _limits(column: Column, param: Param) -> tuple[float | None, float | None]:
    low = param.minimum if param.minimum is not None else column.minimum
    high = param.maximum if param.maximum is not None else column.maximum
    return low, high


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


class InstantIDPlan(Plan):
    def __init__(self, api: ServerApi, fmt: str) -> None:
        endpoint = api.endpoint(API_NAME)
        names = tuple(p.name for p in endpoint.parameters) if endpoint else ()
        if names not in VARIANTS:
            raise ServerError(
                f"{api.url} does not look like the InstantID Gradio demo. Expected {API_NAME} with\n"
                f"  {', '.join(APP_PARAMS)} (gradio_demo/app.py), or the 17 inputs of app-multicontrolnet.py.\n"
                f"Found:\n{_describe_mismatch(api)}"
            )
        assert endpoint is not None
        self.variant = VARIANTS[names]
        self.api_name = API_NAME
        self.fmt = fmt
        params = {p.name: p for p in endpoint.parameters}
        self.params = params
        self.columns = [_bind(c, params[PARAM_OF[c.name]]) if PARAM_OF[c.name] in params else c for c in COLUMNS]
        bound = {c.name: c for c in self.columns}
        self.max_seed = int(bound["seed"].maximum or MAX_SEED)
        self.notice = None
        if "stand-in" in api.title.lower() or "not instantid" in api.title.lower():
            self.notice = f"note: {api.url} is the gbatch InstantID stand-in (drawn images), not InstantID."
        self._checked: dict[str, str | None] = {}

    def fingerprint(self) -> str:
        return f"format={self.fmt}"

    # -- rows ---------------------------------------------------------------

    def prepare(self, values: Mapping[str, Any], previous: Mapping[str, Any]) -> Call:
        face: File = values["face_image"]
        pose: File | None = values.get("pose_image")
        self._check_image(face, "face_image")
        if pose is not None:
            self._check_image(pose, "pose_image")
        if self.variant == "app":
            for name in MULTI_ONLY:
                if values.get(name) is not None:
                    raise RowProblem(
                        f"this server's {API_NAME} has no {PARAM_OF[name]} input: only the multi-ControlNet UI "
                        "(gradio_demo/app-multicontrolnet.py) has it", name
                    )  # fmt: skip
        lcm = bool(values.get("enable_lcm"))
        self._check_range(values, "steps", lcm)
        self._check_range(values, "guidance_scale", lcm)
        generated: dict[str, Any] = {}
        seed = gbatch.generated_value(
            "seed", values, previous, generated,
            make=lambda: random.SystemRandom().randint(0, self.max_seed),
            valid=lambda s: isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= self.max_seed,
        )  # fmt: skip
        kwargs = {PARAM_OF[name]: values.get(name) for name in PARAM_OF if PARAM_OF[name] in self.params}
        kwargs["pose_image_path"] = pose  # always sent, None included: the API declares it without a default
        kwargs["prompt"] = values.get("prompt") or ""
        kwargs["num_steps"] = int(values["steps"])
        kwargs["seed"] = int(seed)  # torch.manual_seed refuses a float (a hidden error on the server)
        kwargs["enable_LCM"] = lcm
        kwargs["enhance_face_region"] = bool(values.get("enhance_face_region"))
        ordered = {name: kwargs[name] for name in self.params}  # the endpoint's order, as the UI sends it
        return Call(ordered, generated)

    def _check_range(self, values: Mapping[str, Any], name: str, lcm: bool) -> None:
        """The UI's slider range for this row: the server's, or LCM's wider one when LCM is on."""
        value = values.get(name)
        param = self.params[PARAM_OF[name]]
        column = next(c for c in self.columns if c.name == name)
        if value is None or value == column.default:
            return  # the server's own default is what its UI sends
        low, high = _limits(column, param)
        if lcm and name == "steps":
            low = LCM_MIN_STEPS
        if lcm and name == "guidance_scale" and high is not None:
            high = max(high, LCM_MAX_GUIDANCE)
        with_lcm = " (with enable_lcm the UI allows more)" if not lcm else ""
        if low is not None and value < low:
            raise RowProblem(f"{value} is below the minimum {_num(low)} of the UI's slider{with_lcm}", name)
        if high is not None and value > high:
            raise RowProblem(f"{value} is above the maximum {_num(high)} of the UI's slider{with_lcm}", name)

    def _check_image(self, file: File, column: str) -> None:
        """A local file must be an image Pillow can open (the server would fail without saying why)."""
        if file.is_url or not _have_pillow():
            return
        if file.source not in self._checked:
            self._checked[file.source] = _image_problem(file.source)
        problem = self._checked[file.source]
        if problem:
            raise RowProblem(f"not an image file ({problem}): {file.source}", column)

    def explain(self, failure: gbatch.Failure, call: Call) -> str:
        message = failure.message
        if failure.cause != "app":
            return message
        text = message.casefold()
        if NO_POSE_FACE_TEXT in text:
            return f"{message} (pose_image: use a picture with a clearly visible face, or leave pose_image empty)"
        if any(t in text for t in NO_FACE_TEXTS):
            return (
                f"{message} (face_image: InstantID's face detector found no face; use a photo where the face is "
                "large, sharp and unobstructed; with several faces only the largest is used)"
            )
        if failure.hidden:
            return (
                f"{message}. The InstantID demo launches without show_error, so only its console says why; "
                "common causes are CUDA out of memory (fewer steps or a smaller face image help) and images "
                "the pipeline cannot read. gbatch always sends the seed as a whole number, as the model needs."
            )
        return message

    # -- results ------------------------------------------------------------

    def collect(self, result: gbatch.Result, out: Outputs) -> None:
        image = result.outputs[0] if result.outputs else None
        if isinstance(image, gbatch.Updated):
            image = image.value
        if not isinstance(image, gbatch.ServerFile):
            raise RowFailed(f"expected an image from {API_NAME}, got {type(image).__name__}")
        try:
            data = out.fetch(image)
        except gbatch.ConnectionLost as exc:
            raise RowFailed(f"could not download the image: {exc}", retryable=True) from None
        source = gbatch.suffix_of(image, ".webp").lstrip(".").replace("jpeg", "jpg")
        size, converted = _convert(data, self.fmt, keep=source == self.fmt)
        out.write(converted, "." + self.fmt)
        if size is not None:
            out.value("width", size[0])
            out.value("height", size[1])


def _image_problem(path: str) -> str | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return None


def _convert(data: bytes, fmt: str, keep: bool) -> tuple[tuple[int, int] | None, bytes]:
    """(width, height), and the image in `fmt`; the server's bytes as they are when `keep`."""
    if not _have_pillow():
        if not (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
            raise RowFailed("the server's image is not a WebP file", retryable=True)
        return None, data
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            size = image.size
            if keep:
                return size, data
            buffer = io.BytesIO()
            if fmt == "jpg":
                image.convert("RGB").save(buffer, "JPEG", quality=JPEG_QUALITY)
            else:
                image.save(buffer, fmt.upper())
    except (OSError, SyntaxError, ValueError) as exc:
        raise RowFailed(f"the server's image could not be decoded ({exc})", retryable=True) from None
    return size, buffer.getvalue()

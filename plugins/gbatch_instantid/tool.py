"""The `instantid` tool: task rows onto the InstantID Gradio demo's `/generate_image`.

Two server shapes are understood: `gradio_demo/app.py` (12 inputs) and
`gradio_demo/app-multicontrolnet.py` (17 inputs: ControlNet selection and
strengths, and a scheduler). Rows are checked against the server's own choices
and slider ranges first, because the app enforces neither: an unknown style
silently becomes Watercolor and out-of-range numbers go straight to the model.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import gbatch
from gbatch import Call, Column, File, Option, Outputs, Param, Plan, RowFailed, RowProblem, ServerApi, Tool

API_NAME = "/generate_image"
APP_PARAMS = (
    "face_image_path", "pose_image_path", "prompt", "negative_prompt", "style_name", "num_steps",
    "identitynet_strength_ratio", "adapter_strength_ratio", "guidance_scale", "seed", "enable_LCM", "enhance_face_region",
)  # fmt: skip
MULTI_PARAMS = (
    *APP_PARAMS[:8], "pose_strength", "canny_strength", "depth_strength", "controlnet_selection",
    "guidance_scale", "seed", "scheduler", "enable_LCM", "enhance_face_region",
)  # fmt: skip
EXPECTED = gbatch.ExpectedApp("the InstantID Gradio demo", API_NAME, {"app": APP_PARAMS, "multicontrolnet": MULTI_PARAMS})
STAND_IN = gbatch.StandIn("InstantID", "drawn images")

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

# Each column feeds the endpoint parameter of the same name (`param=`): its default, choices,
# range and label come from the server, as the page shows them.
COLUMNS = (
    Column("face_image", kind="file", required=True, param="face_image_path", aliases=("face", "Upload a photo of your face"),
           help="The photo with the face to keep (the largest face in it is used)."),
    Column("pose_image", kind="file", param="pose_image_path", aliases=("pose", "Upload a reference pose image (optional)"),
           help="Optional: a second photo whose face pose the result takes."),
    Column("prompt", default="", param="prompt", help="What to make, e.g. 'a man in a spacesuit'; the style wraps it."),
    Column("negative_prompt", param="negative_prompt", help="What to avoid (default: the UI's long negative prompt)."),
    Column("style", param="style_name", aliases=("Style template",), choice_aliases=STYLE_ALIASES,
           help="A style template of the server, e.g. '(No style)', 'Watercolor', 'Film Noir', 'Neon'."),
    # Steps and guidance go as far as the UI allows once LCM is on; `prepare` applies the row's range.
    Column("steps", kind="int", minimum=LCM_MIN_STEPS, maximum=100, param="num_steps", aliases=("Number of sample steps",),
           help="Sampling steps: the UI's range, 20-100 (down to 1 with enable_lcm)."),
    Column("identitynet_strength", kind="float", param="identitynet_strength_ratio", help="IdentityNet strength, 0-1.5 (fidelity)."),
    Column("adapter_strength", kind="float", param="adapter_strength_ratio", help="Image adapter strength, 0-1.5 (detail)."),
    Column("guidance_scale", kind="float", maximum=LCM_MAX_GUIDANCE, param="guidance_scale", aliases=("Guidance scale",),
           help="Guidance scale: the UI's range, 0.1-10 (up to 20 with enable_lcm)."),
    # The UI's 42 is replaced by a random seed in its hidden randomize step ("Randomize seed" is ticked).
    gbatch.seed_column(maximum=MAX_SEED, param="seed"),
    Column("enable_lcm", kind="bool", param="enable_LCM", aliases=("lcm", "Enable Fast Inference with LCM"),
           help="Fast inference with the LCM LoRA (use about 5 steps and guidance 0-1.5)."),
    Column("enhance_face_region", kind="bool", param="enhance_face_region", help="The UI's 'Enhance non-face region' switch."),
    # Only app-multicontrolnet.py has these; on app.py a row that sets one is refused.
    Column("pose_strength", kind="float", param="pose_strength", help="Pose ControlNet strength, 0-1.5 (multi-ControlNet UI only)."),
    Column("canny_strength", kind="float", param="canny_strength", help="Canny ControlNet strength, 0-1.5 (multi-ControlNet UI only)."),
    Column("depth_strength", kind="float", param="depth_strength", help="Depth ControlNet strength, 0-1.5 (multi-ControlNet UI only)."),
    Column("controlnet", kind="list", param="controlnet_selection", help="ControlNets to use, e.g. 'pose;canny' (multi-ControlNet UI only)."),
    Column("scheduler", param="scheduler", aliases=("Schedulers",), help="Sampling scheduler as the server lists it (multi-ControlNet UI only)."),
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
        fmt = options["format"]  # one of FORMATS: checked by gbatch
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


def _widened(column: Column) -> Column:
    """A number column's range, widened to the server's default (an LCM launch defaults to
    5 steps and guidance 0, below the sliders' minimum)."""
    default, low, high = column.default, column.minimum, column.maximum
    if column.kind not in ("int", "float") or not isinstance(default, (int, float)):
        return column
    return replace(column, minimum=None if low is None else min(low, default), maximum=None if high is None else max(high, default))


def _limits(column: Column, param: Param) -> tuple[float | None, float | None]:
    low = param.minimum if param.minimum is not None else column.minimum
    high = param.maximum if param.maximum is not None else column.maximum
    return low, high


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


class InstantIDPlan(Plan):
    def __init__(self, api: ServerApi, fmt: str) -> None:
        self.variant, endpoint = EXPECTED.find(api)
        self.api_name = API_NAME
        self.fmt = fmt
        self.params = {p.name: p for p in endpoint.parameters}
        # app.py lacks the multi-ControlNet inputs: those columns stay, unbound, so a row that sets one is refused.
        columns = [c if c.param in self.params else replace(c, param=None) for c in COLUMNS]
        self.columns = [_widened(c) for c in gbatch.bind_columns(columns, endpoint)]
        self.notice = STAND_IN.notice(api)
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
            for column in COLUMNS:
                if column.param not in self.params and values.get(column.name) is not None:
                    raise RowProblem(
                        f"this server's {API_NAME} has no {column.param} input: only the multi-ControlNet UI "
                        "(gradio_demo/app-multicontrolnet.py) has it", column.name
                    )  # fmt: skip
        lcm = bool(values.get("enable_lcm"))
        self._check_range(values, "steps", lcm)
        self._check_range(values, "guidance_scale", lcm)
        kwargs = {c.param: values.get(c.name) for c in self.columns if c.param}
        kwargs["pose_image_path"] = pose  # always sent, None included: the API declares it without a default
        kwargs["prompt"] = values.get("prompt") or ""
        kwargs["num_steps"] = int(values["steps"])
        kwargs["seed"] = int(values["seed"])  # torch.manual_seed refuses a float (a hidden error on the server)
        kwargs["enable_LCM"] = lcm
        kwargs["enhance_face_region"] = bool(values.get("enhance_face_region"))
        ordered = {name: kwargs[name] for name in self.params}  # the endpoint's order, as the UI sends it
        return Call(ordered)

    def _check_range(self, values: Mapping[str, Any], name: str, lcm: bool) -> None:
        """The UI's slider range for this row: the server's, or LCM's wider one when LCM is on."""
        value = values.get(name)
        column = next(c for c in self.columns if c.name == name)
        param = self.params[str(column.param)]
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

    def collect(self, result: gbatch.CallResult, out: Outputs) -> None:
        image = result.outputs[0] if result.outputs else None
        if isinstance(image, gbatch.ComponentUpdate):
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

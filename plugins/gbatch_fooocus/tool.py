"""The `fooocus` tool: task rows onto the Fooocus web UI's Generate chain.

Fooocus (2.5.x, gradio 3.41.2) names none of its events, and their fn_indexes move
with its flags, presets and version. The chain is found by its structure instead:
`get_task` is the event with by far the most inputs (about
150 controls and the session's `gr.State`), and `generate_clicked` is the event that
follows it with `.then()`. Each row is two calls in one server session: get_task
stores the task in the State, then generate_clicked runs it and yields the gallery.

Only what a row sets is sent; every other control keeps the value the page shows
(its default in `/config`), exactly as if a user had typed the row into the page.
The browser's seed step (`refresh_seed`) is skipped: gbatch sends its own seed,
random when the row gives none, journaled and reused on re-runs.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gbatch
from gbatch import (
    Call,
    Column,
    ComponentUpdate,
    Endpoint,
    Outputs,
    Param,
    Plan,
    RowFailed,
    RowProblem,
    ServerApi,
    ServerError,
    ServerFile,
    Tool,
)

MAX_SEED = 2**63 - 1  # Fooocus's modules/constants.py
#: get_task has about 150 inputs; anything under this is not Fooocus's Generate step
MIN_TASK_INPUTS = 100
OUTPUT_FORMATS = ("png", "jpeg", "webp")

# The controls a row can set, found in get_task's inputs by their labels (the prompt has none).
LABELS = {
    "negative_prompt": "Negative Prompt",
    "styles": "Selected Styles",
    "performance": "Performance",
    "aspect_ratio": "Aspect Ratios",
    "image_number": "Image Number",
    "output_format": "Output Format",
    "seed": "Seed",
    "sharpness": "Image Sharpness",
    "guidance_scale": "Guidance Scale",
    "base_model": "Base Model (SDXL only)",
    "refiner": "Refiner (SDXL or SD 1.5)",
    "sampler": "Sampler",
    "scheduler": "Scheduler",
}
#: the columns that take the server's choices as they are (the others are matched loosely in `prepare`)
SERVER_CHOICES = ("performance", "output_format", "sampler", "scheduler")
STAND_IN = gbatch.StandIn("Fooocus", "drawn images")
LORA_LABEL = re.compile(r"LoRA (\d+)")
RATIO = re.compile(r"^\s*(\d+)\s*[×xX*]\s*(\d+)\s*(?:[|∣]\s*(\d+)\s*:\s*(\d+)\s*)?$")
PROGRESS = re.compile(r'<progress\s+value="(\d+(?:\.\d+)?)"\s+max="(\d+(?:\.\d+)?)"')

LORA_FORMAT = "name:weight;name:weight (e.g. 'sd_xl_offset_example-lora_1.0.safetensors:0.5'); 'none' for no LoRA"

COLUMNS = (
    Column("prompt", required=True, aliases=("text", "positive_prompt"), help="What to draw."),
    Column("negative_prompt", help="What not to draw."),
    Column("styles", kind="list", aliases=("style", "style_selections"), help="Styles, as a JSON list or 'a;b' ('none' for none); checked against the server's styles."),
    Column("performance", aliases=("performance_selection",), help="Quality, Speed, Extreme Speed, Lightning or Hyper-SD (as the server lists them)."),
    Column("aspect_ratio", aliases=("aspect_ratios_selection", "resolution"), help="Width×height, e.g. 1152×896, 1152x896, 1152*896 or '1152×896 | 9:7'; one the server offers."),
    Column("image_number", kind="int", aliases=("images",), help="Images per row."),
    gbatch.seed_column(maximum=MAX_SEED, aliases=("image_seed",), help="0 … 2^63-1; rows without one get a random seed, journaled and reused on re-runs."),
    Column("base_model", aliases=("base_model_name",), help="A checkpoint the server lists."),
    Column("refiner", aliases=("refiner_model", "refiner_model_name"), help="A checkpoint the server lists, or None."),
    Column("loras", kind="any", aliases=("lora",), help=f"LoRAs for the server's LoRA slots: {LORA_FORMAT}."),
    Column("guidance_scale", kind="float", aliases=("cfg_scale", "cfg"), help="Guidance scale (CFG)."),
    Column("sharpness", kind="float", help="Image sharpness."),
    Column("sampler", aliases=("sampler_name",), help="A sampler the server lists, e.g. dpmpp_2m_sde_gpu."),
    Column("scheduler", aliases=("scheduler_name",), help="A scheduler the server lists, e.g. karras."),
    Column("output_format", aliases=("format", "save_extension"), help="png, jpeg or webp."),
)


class FooocusTool(Tool):
    name = "fooocus"
    help = """Generate images for every row of a task file with a Fooocus web UI (2.5.x).

A file with only a `prompt` column (or a .txt, one prompt per line) works. Every
image of a row is saved: <name>.png, then <name>.2.png, <name>.3.png ... Rows
without a seed get a random one, recorded in the journal and reused on re-runs."""
    columns = COLUMNS
    options = ()
    slots_per_server = 1  # Fooocus runs one task at a time (queue concurrency 1, one worker thread)
    default_server = "http://127.0.0.1:7865"
    default_out = "fooocus-out"

    def plan(self, api: ServerApi, options: Mapping[str, Any]) -> Plan:
        return FooocusPlan(api)


# -- finding the chain ----------------------------------------------------------------------


def find_chain(api: ServerApi) -> tuple[Endpoint, Endpoint]:
    """(get_task, generate_clicked) by structure: the event with by far the most inputs, and
    the event that follows it with `.then()` and returns a gallery. Raises ServerError."""
    events = [e for e in api.every_endpoint() if e.fn_index is not None]
    ranked = sorted(events, key=lambda e: len(e.parameters), reverse=True)
    top = ranked[0] if ranked else None
    runner_up = len(ranked[1].parameters) if len(ranked) > 1 else 0
    if top is None or len(top.parameters) < MIN_TASK_INPUTS or len(top.parameters) < 2 * runner_up:
        raise _not_fooocus(api, "no event has by far the most inputs", ranked)
    followers = [e for e in events if e.after == top.fn_index]
    generators = [e for e in followers if any(r.component == "gallery" for r in e.returns)]
    if len(generators) != 1:
        found = ", ".join(f"{e.key} -> {[r.component for r in e.returns]}" for e in followers) or "none"
        raise _not_fooocus(api, f"{top.key} ({len(top.parameters)} inputs) is not followed by one event returning a gallery (found: {found})", ranked)
    return top, generators[0]


def _not_fooocus(api: ServerApi, why: str, ranked: Sequence[Endpoint]) -> ServerError:
    biggest = "\n".join(f"  {e.key} ({len(e.parameters)} inputs)" for e in ranked[:3])
    chain = "Fooocus 2.5.x's Generate chain (get_task with about 150 inputs, then generate_clicked returning a gallery)"
    return gbatch.not_the_app(api, "the Fooocus web UI", f"{chain}, but {why} (gradio {api.version or '?'}).", biggest)


@dataclass(frozen=True)
class LoraSlot:
    enable: Param | None
    model: Param
    weight: Param | None


def _find_controls(get_task: Endpoint, url: str) -> tuple[dict[str, Param], list[LoraSlot]]:
    params = list(get_task.parameters)
    found: dict[str, Param] = {}
    prompt = next((p for p in params if p.component == "textbox" and not p.label), None)
    if prompt is not None:
        found["prompt"] = prompt
    for field_name, label in LABELS.items():
        param = next((p for p in params if p.label == label), None)
        if param is not None:
            found[field_name] = param
    missing = ["prompt (the unlabelled textbox)" if f == "prompt" else repr(LABELS[f]) for f in ("prompt", *LABELS) if f not in found]
    if missing:
        raise ServerError(
            f"{url}: the Generate step {get_task.key} has {len(params)} inputs but lacks {', '.join(missing)}; "
            "this is not a Fooocus version gbatch knows (2.5.x)"
        )
    slots = []
    for i, param in enumerate(params):
        if param.component == "dropdown" and LORA_LABEL.fullmatch(param.label):
            before = params[i - 1] if i > 0 and params[i - 1].component == "checkbox" else None
            after = params[i + 1] if i + 1 < len(params) and params[i + 1].component == "slider" else None
            slots.append(LoraSlot(before, param, after))
    return found, slots


# -- values -----------------------------------------------------------------------------------


def ratio_size(text: str) -> tuple[int, int, tuple[int, int] | None] | None:
    """(width, height, (a, b) or None) from `1152×896`, `1152x896`, `1152*896`, `1152×896 | 9:7`
    or Fooocus's own label `1152×896 <span …> ∣ 9:7</span>`; None if it is none of those."""
    plain = re.sub(r"<[^>]*>", " ", str(text))
    match = RATIO.match(plain)
    if match is None:
        return None
    width, height, a, b = match.groups()
    return int(width), int(height), (int(a), int(b)) if a and b else None


def progress_percent(outputs: Sequence[Any], index: int = 0) -> float | None:
    """0..1 from the progress bar in an intermediate output of generate_clicked (its HTML
    `<progress value="N" max="100">`), or None when it carries none."""
    if index >= len(outputs):
        return None
    value = outputs[index]
    if isinstance(value, ComponentUpdate):
        value = value.value
    if not isinstance(value, str):
        return None
    match = PROGRESS.search(value)
    if match is None:
        return None
    number, top = float(match.group(1)), float(match.group(2))
    return max(0.0, min(1.0, number / top)) if top > 0 else None


def _folded(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def _choose(value: Any, choices: Sequence[Any], what: str, column: str, *, stems: bool = False) -> Any:
    """The server's exact spelling of `value` among `choices` (case and spaces ignored; with
    `stems`, a model file's name without its extension too); RowProblem otherwise."""
    if value in choices:
        return value
    text = str(value)
    for choice in choices:
        if _folded(str(choice)) == _folded(text):
            return choice
    if stems:
        matches = [c for c in choices if _folded(str(c).rsplit(".", 1)[0]) == _folded(text)]
        if len(matches) == 1:
            return matches[0]
    names = [str(c) for c in choices]
    close = difflib.get_close_matches(text, names, n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    listed = ", ".join(repr(c) for c in names[:12]) + (f" … ({len(names)} in all)" if len(names) > 12 else "")
    raise RowProblem(f"{what} {text!r} is not on this server{hint}; it has: {listed}", column)


def parse_loras(raw: Any) -> list[tuple[str, float | None]]:
    """A `loras` cell as (file, weight or None) pairs. Accepts `name:weight;name:weight` (weight
    optional), `none`, or JSON: `[["name", 0.5], ...]`, `[{"name": ..., "weight": ...}]`, `["name"]`."""
    value = raw
    if isinstance(value, str):
        text = value.strip()
        if text.casefold() in ("", "none", "[]"):
            return []
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
        else:
            return [_lora_item(part.strip()) for part in re.split(r"[;\n]", text) if part.strip()]
    if not isinstance(value, list):
        raise ValueError(f"expected {LORA_FORMAT}, got {raw!r}")
    pairs: list[tuple[str, float | None]] = []
    for item in value:
        if isinstance(item, str):
            pairs.append(_lora_item(item))
        elif isinstance(item, (list, tuple)) and len(item) in (1, 2) and isinstance(item[0], str):
            pairs.append((item[0], _weight(item[1]) if len(item) == 2 else None))
        elif isinstance(item, dict) and isinstance(item.get("name", item.get("model")), str):
            weight = item.get("weight")
            pairs.append((str(item.get("name", item.get("model"))), None if weight is None else _weight(weight)))
        else:
            raise ValueError(f"expected {LORA_FORMAT}, got the item {item!r}")
    return pairs


def _lora_item(text: str) -> tuple[str, float | None]:
    name, sep, weight = text.rpartition(":")
    if sep and name.strip():
        try:
            return name.strip(), _weight(weight)
        except ValueError:
            pass  # a colon inside the name, with no weight after it
    return text.strip(), None


def _weight(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"a LoRA weight must be a number, got {value!r}")
    try:
        return float(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
    except ValueError:
        raise ValueError(f"a LoRA weight must be a number, got {value!r}") from None


# -- the plan --------------------------------------------------------------------------------


class FooocusPlan(Plan):
    """One Fooocus server's Generate chain, and how a row becomes its two calls."""

    def __init__(self, api: ServerApi) -> None:
        self.url = api.url
        self.get_task, self.generate = find_chain(api)
        self.api_name = self.generate.key
        self.controls, self.lora_slots = _find_controls(self.get_task, api.url)
        returns = self.generate.returns
        self.gallery_index = max(i for i, r in enumerate(returns) if r.component == "gallery")
        self.progress_index = next((i for i, r in enumerate(returns) if r.component == "html"), 0)
        self.ratios: dict[tuple[int, int], str] = {}
        for choice in self.controls["aspect_ratio"].choices or ():
            parsed = ratio_size(str(choice))
            if parsed is not None:
                self.ratios.setdefault(parsed[:2], str(choice))
        self.columns = [self._column(c) for c in COLUMNS]
        notices = [STAND_IN.notice(api)]
        base = self.controls["base_model"]
        if base.choices and base.default not in base.choices:
            notices.append(
                f"warning: {api.url}: its default base model {base.default!r} is not among the checkpoints it lists "
                f"({', '.join(map(str, base.choices))}); rows without a base_model will most likely finish without an image."
            )
        self.notice = "\n".join(n for n in notices if n) or None

    def _column(self, column: Column) -> Column:
        """The column with its control's name and label (as aliases) and limits, and for a few
        its choices. No default: a control the row leaves alone is not sent, as on the page;
        models, styles and ratios are matched more loosely by `prepare`."""
        param = self.controls.get(column.name)
        if param is None:
            return column
        taken = [n for c in COLUMNS if c.name != column.name for n in (c.name, *c.aliases)]
        return gbatch.bind_column(column, param, default=False, choices=column.name in SERVER_CHOICES, taken=taken)

    # -- rows -----------------------------------------------------------------------------

    def prepare(self, values: Mapping[str, Any], previous: Mapping[str, Any]) -> Call:
        controls = self.controls
        task: dict[str, Any] = {controls["prompt"].name: values["prompt"]}
        for name in ("negative_prompt", "image_number", "guidance_scale", "sharpness", "performance", "output_format", "sampler", "scheduler"):
            if values.get(name) is not None:
                task[controls[name].name] = values[name]
        if values.get("styles") is not None:
            task[controls["styles"].name] = self._styles(values["styles"])
        if values.get("aspect_ratio") is not None:
            task[controls["aspect_ratio"].name] = self.aspect_ratio(values["aspect_ratio"])
        for name, what in (("base_model", "base model"), ("refiner", "refiner")):
            if values.get(name) is not None:
                task[controls[name].name] = _choose(values[name], controls[name].choices or (), what, name, stems=True)
        if values.get("loras") is not None:
            task.update(self._loras(values["loras"]))
        seed, seed_param = values["seed"], controls["seed"]
        # The seed is a Textbox: the page sends its text (Fooocus runs int() on it).
        task[seed_param.name] = str(seed) if seed_param.component == "textbox" else seed
        first = Call(task, endpoint=self.get_task.key)
        return Call({}, endpoint=self.generate.key, before=(first,))

    def aspect_ratio(self, value: Any) -> str:
        """The server's exact aspect-ratio choice for any usual spelling; RowProblem otherwise."""
        choices = self.controls["aspect_ratio"].choices or ()
        if value in choices:
            return str(value)
        parsed = ratio_size(str(value))
        offered = ", ".join(f"{w}×{h}" for w, h in self.ratios) or ", ".join(map(repr, choices))
        if parsed is None:
            raise RowProblem(f"{str(value)!r} is not an aspect ratio; write width×height, e.g. 1152×896 (this server offers: {offered})", "aspect_ratio")
        width, height, ratio = parsed
        choice = self.ratios.get((width, height))
        if choice is None:
            raise RowProblem(f"{width}×{height} is not an aspect ratio this server offers: {offered}", "aspect_ratio")
        offered_ratio = ratio_size(choice)
        if ratio is not None and offered_ratio is not None and offered_ratio[2] is not None and offered_ratio[2] != ratio:
            a, b = offered_ratio[2]
            raise RowProblem(f"{width}×{height} is {a}:{b}, not {ratio[0]}:{ratio[1]}", "aspect_ratio")
        return choice

    def _styles(self, styles: list[Any]) -> list[Any]:
        choices = self.controls["styles"].choices or ()
        if len(styles) == 1 and str(styles[0]).strip().casefold() == "none" and "none" not in {str(c).casefold() for c in choices}:
            return []
        chosen = [_choose(style, choices, "style", "styles") for style in styles]
        return list(dict.fromkeys(chosen))

    def _loras(self, raw: Any) -> dict[str, Any]:
        try:
            pairs = parse_loras(raw)
        except ValueError as exc:
            raise RowProblem(str(exc), "loras") from None
        slots = self.lora_slots
        if len(pairs) > len(slots):
            raise RowProblem(f"{len(pairs)} LoRAs, but this server has {len(slots)} LoRA slots", "loras")
        sent: dict[str, Any] = {}
        for i, slot in enumerate(slots):
            name, weight = pairs[i] if i < len(pairs) else ("None", None)
            if i < len(pairs):
                name = _choose(name, slot.model.choices or ("None",), "LoRA", "loras", stems=True)
            sent[slot.model.name] = name
            if slot.enable is not None:
                sent[slot.enable.name] = True
            if slot.weight is not None:
                weight = 1.0 if weight is None else weight
                low, high = slot.weight.minimum, slot.weight.maximum
                if (low is not None and weight < low) or (high is not None and weight > high):
                    shown = " … ".join("∞" if bound is None else f"{bound:g}" for bound in (low, high))
                    raise RowProblem(f"LoRA {name!r}: weight {weight:g} is outside {shown}", "loras")
                sent[slot.weight.name] = weight
        return sent

    # -- results ----------------------------------------------------------------------------

    def collect(self, result: gbatch.CallResult, out: Outputs) -> None:
        outputs = result.outputs
        final = outputs[self.gallery_index] if self.gallery_index < len(outputs) else None
        if final is None or all(value is None for value in outputs):
            # generate_clicked found no task in the session's State: get_task's call did not reach it.
            raise RowFailed(
                "Fooocus answered without running the task: the session lost what get_task stored "
                "(was the server restarted between the two calls?)",
                retryable=True,
            )
        items = final.value if isinstance(final, ComponentUpdate) else final
        files = [item for item in items or [] if isinstance(item, ServerFile)] if isinstance(items, list) else []
        if not files:
            raise RowFailed(self.empty_gallery(out.call))
        for number, file in enumerate(files, 1):
            data = out.fetch(file)
            if not data:
                raise RowFailed(f"image {number} ({file.name}) downloaded empty", retryable=True)
            suffix = file.suffix or "." + self._format(out.call)
            # <name>.png, <name>.2.png, ...: a dot, never "_2", which a row named "<name>_2" could have
            out.write(data, suffix, None if number == 1 else str(number))
        out.value("images", len(files))

    def _format(self, call: Call) -> str:
        task = call.before[0].kwargs if call.before else {}
        value = task.get(self.controls["output_format"].name, self.controls["output_format"].default)
        return str(value) if value in OUTPUT_FORMATS else "png"

    def empty_gallery(self, call: Call) -> str:
        """Why a row may have finished with no image: what the row asked for, and the usual causes."""
        task = call.before[0].kwargs if call.before else {}
        base = self.controls["base_model"]
        model = task.get(base.name, base.default)
        ratio_param = self.controls["aspect_ratio"]
        ratio = task.get(ratio_param.name, ratio_param.default)
        head = (
            "Fooocus finished without an image and without an error (it swallows its worker's exceptions; "
            "the traceback is only in the server's console)"
        )
        if base.choices and model not in base.choices:
            whose = " (the server's default)" if base.name not in task else ""
            return f"{head}: most likely because the base model {model!r}{whose} is not among its checkpoints."
        width_height = str(ratio).replace("×", " ").split(" ")[:2]
        if len(width_height) < 2 or not all(part.isdigit() for part in width_height):
            return f"{head}: most likely because Fooocus cannot parse the aspect ratio {ratio!r}."
        return (
            f"{head}. Likely causes: the base model {model!r} or a LoRA could not be loaded, "
            "the GPU ran out of memory, or the task was stopped in the web UI."
        )

    def progress(self, outputs: Sequence[Any]) -> float | None:
        """0..1 from an intermediate output of generate_clicked (its progress-bar HTML), or None.

        Fooocus reports progress only this way, not through gr.Progress."""
        return progress_percent(outputs, self.progress_index)

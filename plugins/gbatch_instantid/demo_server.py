"""An InstantID web UI stand-in: same Gradio API, drawn images, no model.

This is **not InstantID**. It mirrors the Gradio interface of ``gradio_demo/app.py``
of github.com/InstantID/InstantID (commit 2145b67) closely enough that a batch
client cannot tell the difference at the API level:

* the endpoints ``/remove_tips``, ``/generate_image`` and ``/toggle_lcm_ui``, the
  hidden ``randomize_seed_fn`` step (``api_name=False``, ``queue=False``) and the
  submit chain remove_tips → randomize_seed_fn → generate_image;
* the 12 ``/generate_image`` inputs with upstream's components, labels, defaults,
  choices and slider ranges, and its outputs (an image served as WebP, and an
  update that shows the usage tips);
* cached examples at start-up (so start-up is slow, like upstream's), gradio's
  default queue (one request at a time), and progress through
  ``gr.Progress(track_tqdm=True)``;
* upstream's quirks: an unknown style silently falls back to Watercolor, slider
  bounds are not enforced, ``prompt=None`` becomes "a person", and the seed goes
  to a check that refuses what ``torch.Generator.manual_seed`` refuses (a float
  seed fails with a TypeError, which the client sees as a hidden error).

``variant="multicontrolnet"`` serves ``gradio_demo/app-multicontrolnet.py``'s UI
instead: 17 inputs, with the ControlNet selection and strengths and a scheduler.

Instead of a diffusion model the face image is drawn on: resized like upstream
(at half the size), posterised, tinted by the style, sprinkled with shapes chosen
by the seed, with the prompt written on it. The same inputs give the same image.
**Face detection rule**: an image whose pixels all have one colour "has no face"
and fails with upstream's "Cannot find any face in the image!" error (for the
pose image, "... in the reference image!"); any other image has one.

``--record FILE`` (or ``GBATCH_INSTANTID_RECORD``) appends every call
``/generate_image`` receives to FILE as a JSON line, before it runs, so tests can
check what was sent. Run it with ``gbatch-instantid-demo --port 7860``, or as a
script (it imports only gradio, Pillow and tqdm, never gbatch).
"""

from __future__ import annotations

import os

# The stand-in must never phone home: set these before gradio is imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402
from PIL import Image, ImageDraw, ImageOps  # noqa: E402
from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]  # noqa: E402 - no type hints

TITLE = "gbatch InstantID stand-in — NOT InstantID: drawn images for demos and tests"
VARIANTS = ("app", "multicontrolnet")
MAX_SEED = 2147483647  # np.iinfo(np.int32).max, as upstream
DEFAULT_STYLE_NAME = "Watercolor"
# Upstream's style names (style_template.py) in order, with the tint the stand-in paints each in.
STYLE_TINTS = {
    "(No style)": (128, 128, 128),
    "Watercolor": (90, 160, 220),
    "Film Noir": (20, 20, 20),
    "Neon": (230, 60, 200),
    "Jungle": (40, 140, 60),
    "Mars": (200, 80, 30),
    "Vibrant Color": (250, 200, 0),
    "Snow": (230, 240, 255),
    "Line art": (255, 255, 255),
}
STYLE_NAMES = list(STYLE_TINTS)
NEGATIVE_DEFAULT = (
    "(lowres, low quality, worst quality:1.2), (text:1.2), watermark, (frame:1.2), deformed, ugly, "
    "deformed eyes, blur, out of focus, blurry, deformed cat, deformed, photo, anthropomorphic cat, "
    "monochrome, pet collar, gun, weapon, blue, 3d, drones, drone, buildings in background, green"
)
SCHEDULERS = [
    "DEISMultistepScheduler",
    "HeunDiscreteScheduler",
    "EulerDiscreteScheduler",
    "DPMSolverMultistepScheduler",
    "DPMSolverMultistepScheduler-Karras",
    "DPMSolverMultistepScheduler-Karras-SDE",
]
APP_PARAMS = (
    "face_image_path", "pose_image_path", "prompt", "negative_prompt", "style_name", "num_steps",
    "identitynet_strength_ratio", "adapter_strength_ratio", "guidance_scale", "seed", "enable_LCM", "enhance_face_region",
)  # fmt: skip
MULTI_PARAMS = (
    *APP_PARAMS[:8], "pose_strength", "canny_strength", "depth_strength", "controlnet_selection",
    "guidance_scale", "seed", "scheduler", "enable_LCM", "enhance_face_region",
)  # fmt: skip
NO_INPUT_FACE = "Cannot find any input face image! Please upload the face image"
NO_FACE = {
    "app": "Cannot find any face in the image! Please upload another person image",
    # app-multicontrolnet.py words this one differently
    "multicontrolnet": "Unable to detect a face in the image. Please upload a different photo with a clear face.",
}
NO_POSE_FACE = "Cannot find any face in the reference image! Please upload another person image"
TIPS = """### Usage tips of InstantID
1. If you're not satisfied with the similarity, try increasing the weight of "IdentityNet Strength" and "Adapter Strength."
2. If you feel that the saturation is too high, first decrease the Adapter strength. If it remains too high, then decrease the IdentityNet strength.
3. If you find that text control is not as expected, decrease Adapter strength.
4. If you find that realistic style is not good enough, go for our Github repo and use a more realistic base model.
"""
# The examples upstream caches at start-up: (drawn face, prompt, style); ours are synthetic drawings.
EXAMPLES = [("a man", "Snow"), ("a man", "Mars"), ("a man", "Jungle"), ("a man", "Neon"), ("a man", "Vibrant Color")]


# --- what upstream's model code does with the inputs, minus the model ---------------------


def manual_seed(seed: Any) -> int:
    """Refuse seeds as `torch.Generator.manual_seed` does: only ints, in its 64-bit range."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"manual_seed(): argument 'seed' (position 1) must be int, not {type(seed).__name__}")
    if not -(2**63) <= seed < 2**64:
        raise RuntimeError("Overflow when unpacking long")
    return seed


def has_face(image: Image.Image) -> bool:
    """The stand-in's face detector: an image of one single colour has no face; any other has one."""
    return image.convert("RGB").getcolors(maxcolors=1) is None  # None: more than one colour


def resize_img(image: Image.Image, max_side: int, min_side: int, base: int = 64) -> Image.Image:
    """Upstream's resize_img: scale so the short side is min_side, then the long side max_side, floor to base."""
    w, h = image.size
    ratio = min_side / min(h, w)
    w, h = round(ratio * w), round(ratio * h)
    ratio = max_side / max(h, w)
    w_new = max(base, (round(ratio * w) // base) * base)
    h_new = max(base, (round(ratio * h) // base) * base)
    return image.resize((w_new, h_new), Image.Resampling.BILINEAR)


def apply_style(style_name: str, positive: str, negative: str = "") -> tuple[str, str, str]:
    """Like upstream, an unknown style silently becomes Watercolor; returns (style used, prompt, negative)."""
    used = style_name if style_name in STYLE_TINTS else DEFAULT_STYLE_NAME
    return used, f"{used}: {positive}", negative


def draw(
    face: Image.Image,
    pose: Image.Image | None,
    style: str,
    prompt: str,
    seed: int,
    identity: float,
    adapter: float,
    enhance_face_region: bool,
    max_side: int,
) -> Image.Image:
    """The stand-in's "generation": deterministic for the same inputs and seed."""
    base = resize_img(face.convert("RGB"), max_side=max_side, min_side=max_side * 4 // 5)
    if pose is not None:
        base = resize_img(pose.convert("RGB"), max_side=max_side, min_side=max_side * 4 // 5)
        base = Image.blend(base, face.convert("RGB").resize(base.size), 0.6)
    bits = max(1, min(8, 2 + round(float(adapter) * 2)))
    posterised = ImageOps.posterize(base, bits)
    alpha = 0.35 + 0.4 * max(0.0, min(float(identity), 1.5)) / 1.5
    image = Image.blend(Image.new("RGB", base.size, STYLE_TINTS[style]), posterised, alpha)
    canvas = ImageDraw.Draw(image, "RGBA")
    rng = random.Random(seed)
    w, h = image.size
    for _ in range(24):
        x, y, r = rng.randrange(w), rng.randrange(h), rng.randrange(4, max(5, w // 12))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256), 110)
        canvas.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    if enhance_face_region:
        canvas.rectangle((w // 4, h // 5, 3 * w // 4, 4 * h // 5), outline=(255, 255, 255, 200), width=3)
    lines = [f"STAND-IN, not InstantID | seed {seed}", *textwrap.wrap(prompt, width=max(20, w // 7))[:4]]
    canvas.rectangle((0, h - 14 * len(lines) - 8, w, h), fill=(0, 0, 0, 160))
    for i, line in enumerate(lines):
        canvas.text((6, h - 14 * (len(lines) - i) - 4), line, fill=(255, 255, 255, 255))
    return image


class Recorder:
    """Appends each received call to a JSON-lines file (when one is given), thread-safely."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self._lock = threading.Lock()

    def add(self, got: dict[str, Any]) -> None:
        if self.path is None:
            return
        line = json.dumps({"endpoint": "/generate_image", **got}, ensure_ascii=False)
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def _file_fact(path: str | None) -> dict[str, Any] | None:
    if path is None:
        return None
    file = Path(path)
    return {"name": file.name, "size": file.stat().st_size}


def _example_faces(folder: Path) -> list[str]:
    """Five synthetic face drawings for the cached examples (upstream ships photos)."""
    paths = []
    for i, (skin, hair) in enumerate([((240, 200, 170), (60, 40, 20)), ((200, 150, 110), (20, 20, 20)),
                                      ((150, 100, 70), (90, 60, 30)), ((250, 220, 200), (200, 160, 60)),
                                      ((180, 130, 90), (120, 120, 120))], start=1):  # fmt: skip
        image = Image.new("RGB", (96, 112), (200, 220, 235))
        canvas = ImageDraw.Draw(image)
        canvas.ellipse((18, 8, 78, 56), fill=hair)
        canvas.ellipse((22, 18, 74, 92), fill=skin)
        canvas.ellipse((34, 42, 42, 50), fill=(30, 30, 30))
        canvas.ellipse((54, 42, 62, 50), fill=(30, 30, 30))
        canvas.arc((36, 58, 60, 76), 20, 160, fill=(140, 40, 40), width=3)
        path = folder / f"example_{i}.png"
        image.save(path)
        paths.append(str(path))
    return paths


# --- the UI -------------------------------------------------------------------------------


def build_demo(variant: str = "app", *, enable_lcm: bool = False, delay: float = 0.0, record: str | None = None) -> gr.Blocks:
    """The upstream Blocks (``app.py``, or ``app-multicontrolnet.py`` for "multicontrolnet")."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}")
    multi = variant == "multicontrolnet"
    recorder = Recorder(record)

    def toggle_lcm_ui(value: bool) -> tuple[Any, Any]:
        if value:
            return (gr.update(minimum=0, maximum=100, step=1, value=5), gr.update(minimum=0.1, maximum=20.0, step=0.1, value=1.5))
        return (gr.update(minimum=5, maximum=100, step=1, value=30), gr.update(minimum=0.1, maximum=20.0, step=0.1, value=5))

    def randomize_seed_fn(seed: int, randomize_seed: bool) -> int:
        if randomize_seed:
            seed = random.randint(0, MAX_SEED)
        return seed

    def remove_tips() -> Any:
        return gr.update(visible=False)

    def run(got: dict[str, Any]) -> tuple[Image.Image, Any]:
        recorder.add({k: _file_fact(v) if k.endswith("_path") else v for k, v in got.items()} | {"seed_type": type(got["seed"]).__name__})
        if got["face_image_path"] is None:
            raise gr.Error(NO_INPUT_FACE)
        prompt = "a person" if got["prompt"] is None else got["prompt"]
        style, prompt, _negative = apply_style(got["style_name"], prompt, got["negative_prompt"])
        face = Image.open(got["face_image_path"])
        if not has_face(face):
            raise gr.Error(NO_FACE[variant])
        pose = None
        if got["pose_image_path"] is not None:
            pose = Image.open(got["pose_image_path"])
            if not has_face(pose):
                raise gr.Error(NO_POSE_FACE)
        seed = manual_seed(got["seed"])
        steps = max(1, int(got["num_steps"]))
        for _ in tqdm(range(steps), desc="stand-in sampling"):  # tracked by gr.Progress(track_tqdm=True)
            time.sleep(delay / steps)
        image = draw(face, pose, style, prompt, seed, got["identitynet_strength_ratio"], got["adapter_strength_ratio"],
                     bool(got["enhance_face_region"]), max_side=512 if multi else 640)  # fmt: skip
        return image, gr.update(visible=True)

    def generate_image(face_image_path, pose_image_path, prompt, negative_prompt, style_name, num_steps, identitynet_strength_ratio, adapter_strength_ratio, guidance_scale, seed, enable_LCM, enhance_face_region, progress=gr.Progress(track_tqdm=True)):  # type: ignore[no-untyped-def]  # noqa: N803, B008 - upstream's exact signature
        given = dict(locals())  # taken first: a comprehension has locals of its own
        got = {k: given[k] for k in APP_PARAMS}
        return run(got)

    def generate_image_multi(face_image_path, pose_image_path, prompt, negative_prompt, style_name, num_steps, identitynet_strength_ratio, adapter_strength_ratio, pose_strength, canny_strength, depth_strength, controlnet_selection, guidance_scale, seed, scheduler, enable_LCM, enhance_face_region, progress=gr.Progress(track_tqdm=True)):  # type: ignore[no-untyped-def]  # noqa: N803, B008 - upstream's exact signature
        given = dict(locals())  # taken first: a comprehension has locals of its own
        got = {k: given[k] for k in MULTI_PARAMS}
        return run(got)

    generate_image_multi.__name__ = "generate_image"  # the api_name gradio derives, as upstream

    def run_for_examples(face_file: str, prompt: str, style: str, negative_prompt: str) -> Any:
        values = (face_file, None, prompt, negative_prompt, style, 30, 0.8, 0.8, 5, 42, False, True)
        return run(dict(zip(APP_PARAMS, values, strict=True)))

    def run_for_examples_multi(face_file: str, pose_file: str | None, prompt: str, style: str, negative_prompt: str) -> Any:
        values = (face_file, pose_file, prompt, negative_prompt, style, 20, 0.8, 0.8, 0.4, 0.4, 0.4, ["pose"], 5.0, 42, "EulerDiscreteScheduler", False, True)
        return run(dict(zip(MULTI_PARAMS, values, strict=True)))

    demo = gr.Blocks(title=TITLE, analytics_enabled=False)
    with demo:
        gr.Markdown(f"<h1 align='center'>{TITLE}</h1>")
        gr.Markdown(
            "This page has the Gradio interface of the InstantID demo (`gradio_demo/app.py`) "
            "but no model: it draws on the face image. Use it to try gbatch, not to make portraits."
        )
        with gr.Row():
            with gr.Column():
                face_file = gr.Image(label="Upload a photo of your face", type="filepath")
                pose_file = gr.Image(label="Upload a reference pose image (Optional)" if multi else "Upload a reference pose image (optional)", type="filepath")
                prompt = gr.Textbox(label="Prompt", info="Give simple prompt is enough to achieve good face fidelity", placeholder="A photo of a person", value="")
                submit = gr.Button("Submit", variant="primary")
                enable_LCM = gr.Checkbox(  # noqa: N806 - upstream's name
                    label="Enable Fast Inference with LCM", value=enable_lcm,
                    info="LCM speeds up the inference step, the trade-off is the quality of the generated image. It performs better with portrait face images rather than distant faces",
                )  # fmt: skip
                style = gr.Dropdown(label="Style template", choices=STYLE_NAMES, value=DEFAULT_STYLE_NAME)
                identitynet_strength_ratio = gr.Slider(label="IdentityNet strength (for fidelity)", minimum=0, maximum=1.5, step=0.05, value=0.80)
                adapter_strength_ratio = gr.Slider(label="Image adapter strength (for detail)", minimum=0, maximum=1.5, step=0.05, value=0.80)
                if multi:
                    with gr.Accordion("Controlnet"):
                        controlnet_selection = gr.CheckboxGroup(
                            ["pose", "canny", "depth"], label="Controlnet", value=["pose"],
                            info="Use pose for skeleton inference, canny for edge detection, and depth for depth map estimation. You can try all three to control the generation process",
                        )  # fmt: skip
                        pose_strength = gr.Slider(label="Pose strength", minimum=0, maximum=1.5, step=0.05, value=0.40)
                        canny_strength = gr.Slider(label="Canny strength", minimum=0, maximum=1.5, step=0.05, value=0.40)
                        depth_strength = gr.Slider(label="Depth strength", minimum=0, maximum=1.5, step=0.05, value=0.40)
                with gr.Accordion(open=False, label="Advanced Options"):
                    negative_prompt = gr.Textbox(label="Negative Prompt", placeholder="low quality", value=NEGATIVE_DEFAULT)
                    num_steps = gr.Slider(label="Number of sample steps", minimum=1 if multi else 20, maximum=100, step=1, value=5 if enable_lcm else 30)
                    if multi:
                        guidance_scale = gr.Slider(label="Guidance scale", minimum=0.1, maximum=20.0, step=0.1, value=0.0 if enable_lcm else 5.0)
                    else:
                        guidance_scale = gr.Slider(label="Guidance scale", minimum=0.1, maximum=10.0, step=0.1, value=0 if enable_lcm else 5)
                    seed = gr.Slider(label="Seed", minimum=0, maximum=MAX_SEED, step=1, value=42)
                    if multi:
                        scheduler = gr.Dropdown(label="Schedulers", choices=SCHEDULERS, value="EulerDiscreteScheduler")
                    randomize_seed = gr.Checkbox(label="Randomize seed", value=True)
                    enhance_face_region = gr.Checkbox(label="Enhance non-face region", value=True)
            with gr.Column():
                gallery = gr.Image(label="Generated Images")
                usage_tips = gr.Markdown(label="Usage tips of InstantID", value=TIPS, visible=False)

            if multi:
                inputs = [face_file, pose_file, prompt, negative_prompt, style, num_steps, identitynet_strength_ratio, adapter_strength_ratio,
                          pose_strength, canny_strength, depth_strength, controlnet_selection, guidance_scale, seed, scheduler, enable_LCM, enhance_face_region]  # fmt: skip
            else:
                inputs = [face_file, pose_file, prompt, negative_prompt, style, num_steps, identitynet_strength_ratio, adapter_strength_ratio,
                          guidance_scale, seed, enable_LCM, enhance_face_region]  # fmt: skip
            submit.click(fn=remove_tips, outputs=usage_tips).then(
                fn=randomize_seed_fn, inputs=[seed, randomize_seed], outputs=seed, queue=False, api_name=False
            ).then(fn=generate_image_multi if multi else generate_image, inputs=inputs, outputs=[gallery, usage_tips])
            enable_LCM.input(fn=toggle_lcm_ui, inputs=[enable_LCM], outputs=[num_steps, guidance_scale], queue=False)

        faces = _example_faces(Path(tempfile.mkdtemp(prefix="gbatch-instantid-examples-")))
        if multi:
            gr.Examples(
                # One example has a pose image, as upstream's do (gradio drops an input no example fills).
                examples=[[face, faces[0] if i == 1 else None, text, name, NEGATIVE_DEFAULT]
                          for i, (face, (text, name)) in enumerate(zip(faces, EXAMPLES, strict=True))],
                inputs=[face_file, pose_file, prompt, style, negative_prompt],
                fn=run_for_examples_multi, outputs=[gallery, usage_tips], cache_examples=True,
            )  # fmt: skip
        else:
            gr.Examples(
                examples=[[face, text, name, NEGATIVE_DEFAULT] for face, (text, name) in zip(faces, EXAMPLES, strict=True)],
                inputs=[face_file, prompt, style, negative_prompt],
                run_on_click=True, fn=run_for_examples, outputs=[gallery, usage_tips], cache_examples=True,
            )  # fmt: skip
    return demo


def main(argv: list[str] | None = None) -> None:
    """`gbatch-instantid-demo`: serve the stand-in until interrupted."""
    parser = argparse.ArgumentParser(
        prog="gbatch-instantid-demo",
        description="Serve a stand-in of the InstantID Gradio demo (same API, drawn images, no model). It is NOT InstantID.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (upstream's default)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind; 0.0.0.0 exposes it to the network")
    parser.add_argument("--delay", type=float, default=1.0, help="simulated GPU seconds per image")
    parser.add_argument("--variant", choices=VARIANTS, default="app", help="which upstream UI: gradio_demo/app.py or app-multicontrolnet.py")
    parser.add_argument("--enable-lcm", action="store_true", help="start with LCM on, like upstream's --enable_LCM (5 steps, guidance 0 by default)")
    parser.add_argument("--record", default=os.environ.get("GBATCH_INSTANTID_RECORD"), help="append every /generate_image call to this JSON-lines file (env GBATCH_INSTANTID_RECORD)")
    args = parser.parse_args(argv)
    if args.delay < 0:
        parser.error("--delay must be 0 or more seconds")
    # Upstream caches its examples under the working directory; the stand-in keeps them out of it.
    os.environ.setdefault("GRADIO_EXAMPLES_CACHE", tempfile.mkdtemp(prefix="gbatch-instantid-cache-"))
    print(f"{TITLE}\nStarting on http://{args.host}:{args.port} (caching the examples first, like upstream)", flush=True)
    demo = build_demo(args.variant, enable_lcm=args.enable_lcm, delay=args.delay, record=args.record)
    demo.launch(server_name=args.host, server_port=args.port)  # like upstream: no show_error


if __name__ == "__main__":
    main()

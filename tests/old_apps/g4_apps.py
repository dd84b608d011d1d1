"""A gradio 4.44.1 app (run under .venvs/gradio4) with the shapes gbatch must send as a browser does.

- /seeded: a Slider(step=1) seed and a Number(precision=0), handed to code that refuses
  floats the way torch.manual_seed does (InstantID);
- /gif: a Gallery input (gradio's gif_maker demo) and a Gallery output;
- /zip: gr.File(file_count="multiple") in (gradio's zip_files demo), a .zip out;
- /slow: sleeps, in a queue of concurrency 1 and max_size 1 (queue full, cancel, kill);
- /boom: raises gr.Error.
Every handler appends what it received to RECORD (a JSON-lines file) so tests can check the wire.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import zipfile
from pathlib import Path

import gradio as gr

RECORD = Path(os.environ.get("GBATCH_TEST_RECORD", "received.jsonl"))


def record(endpoint: str, **got: object) -> None:
    with RECORD.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"endpoint": endpoint, **got}) + "\n")


def seeded(seed: float, n: float) -> str:
    record("/seeded", seed=seed, seed_type=type(seed).__name__, n=n, n_type=type(n).__name__)
    if not isinstance(seed, int):
        # what torch.manual_seed says to a float
        raise TypeError(f"manual_seed(): argument 'seed' must be int, not {type(seed).__name__}")
    return f"{seed}:{n}"


def gif(images: list[tuple[str, str | None]] | None) -> tuple[str, list[tuple[str, str]]]:
    images = images or []
    names = [Path(path).name for path, _ in images]
    record("/gif", names=names, captions=[caption for _, caption in images], sizes=[Path(p).stat().st_size for p, _ in images])
    return f"{len(images)} images", [(path, f"frame {i}") for i, (path, _) in enumerate(images, start=1)]


def zip_files(files: list[str] | None) -> str:
    files = files or []
    record("/zip", names=[Path(f).name for f in files])
    target = Path(tempfile.mkdtemp()) / "bundle.zip"
    with zipfile.ZipFile(target, "w") as archive:
        for file in files:
            archive.write(file, Path(file).name)
    return str(target)


def slow(seconds: float) -> str:
    record("/slow", seconds=seconds, started=time.time())
    time.sleep(seconds)
    return f"slept {seconds}"


def boom(text: str) -> str:
    record("/boom", text=text)
    raise gr.Error(f"cannot handle {text!r}")


def build() -> gr.Blocks:
    with gr.Blocks(title="gbatch gradio 4 test app") as demo:
        seed = gr.Slider(0, 2147483647, value=42, step=1, label="Seed")
        n = gr.Number(value=3, precision=0, label="Count")
        out = gr.Textbox(label="Result")
        gr.Button("Seeded").click(seeded, [seed, n], out, api_name="seeded")
        gallery_in = gr.Gallery(label="Frames", type="filepath")
        gallery_out = gr.Gallery(label="Captioned")
        gr.Button("Gif").click(gif, [gallery_in], [out, gallery_out], api_name="gif")
        files = gr.File(file_count="multiple", label="Files")
        bundle = gr.File(label="Bundle")
        gr.Button("Zip").click(zip_files, [files], bundle, api_name="zip")
        seconds = gr.Number(value=1.0, label="Seconds")
        gr.Button("Slow").click(slow, [seconds], out, api_name="slow", concurrency_limit=1)
        text = gr.Textbox(label="Text")
        gr.Button("Boom").click(boom, [text], out, api_name="boom")
    demo.queue(max_size=1)
    return demo


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--auth", default=None, help="USER:PASSWORD")
    args = parser.parse_args()
    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    build().launch(server_name="127.0.0.1", server_port=args.port, auth=auth, show_error=True)

"""Apps that run unchanged on gradio 3.41.2, 4.44.1 and 6.x, for the rules that must hold on every version.

- `speech`: a TTS-like form whose fields a user may leave untouched: a reference-text box
  ("leave blank to transcribe the reference audio"), a Slider and a Dropdown with values,
  a Number and a Radio with none, an optional reference Audio. `/speak` records what it got.
- `interface`: a `gr.Interface`, whose Flag and Clear buttons are events beside `/predict`.

Run as a script (`--port N --app NAME --record FILE`) under an old gradio's venv, or import
`build(name, record)` to serve it in-process under the gradio of the test venv.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import gradio as gr


def _recorder(record: Path | None) -> Any:
    def write(**got: Any) -> None:
        if record is not None:
            with record.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(got, default=str) + "\n")

    return write


def speech(record: Path | None) -> gr.Blocks:
    write = _recorder(record)

    def speak(text: str, ref_text: str, speed: float, voice: str, steps: float, style: str, ref_audio: str | None) -> str:
        write(text=text, ref_text=ref_text, speed=speed, voice=voice, steps=steps, style=style, ref_audio=ref_audio)
        if ref_text is None:
            raise ValueError("ref_text is None")  # what a real app does with .strip()
        return f"{text} ({ref_text or 'transcribed'})"

    with gr.Blocks(title="untouched fields") as demo:
        text = gr.Textbox(label="Text")
        ref_text = gr.Textbox(label="Reference text", placeholder="leave blank to transcribe the reference audio")
        speed = gr.Slider(0.5, 2.0, value=1.0, label="Speed")
        voice = gr.Dropdown(["alice", "bob"], value="alice", label="Voice")
        steps = gr.Number(label="Steps")
        style = gr.Radio(["calm", "bright"], label="Style")
        ref_audio = gr.Audio(type="filepath", label="Reference audio")
        said = gr.Textbox(label="Said")
        gr.Button("Speak").click(speak, [text, ref_text, speed, voice, steps, style, ref_audio], said, api_name="speak")
    return demo


def interface(record: Path | None) -> gr.Blocks:
    write = _recorder(record)

    def greet(name: str, times: float) -> str:
        write(name=name, times=times)
        return " ".join([f"hello {name}"] * int(times))

    return gr.Interface(greet, [gr.Textbox(label="name"), gr.Slider(1, 3, value=1, step=1, label="times")], gr.Textbox(label="greeting"))


def build(name: str, record: Path | None = None) -> gr.Blocks:
    return {"speech": speech, "interface": interface}[name](record)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--app", required=True)
    parser.add_argument("--record", default=None)
    args = parser.parse_args()
    build(args.app, Path(args.record) if args.record else None).queue().launch(server_name="127.0.0.1", server_port=args.port, show_error=True)

"""TinyTTS: a small text-to-speech-like Gradio app, the server gbatch-tinytts drives.

`/speak(text, voice, speed, seed) -> (audio, info)`, as many TTS web UIs have it.
The "speech" is a tone per word (each voice has its own pitch), so it needs no
model and no ffmpeg; the same seed gives the same audio.

    python tests/app.py --port 7860     # then: gbatch tinytts lines.txt -s http://127.0.0.1:7860
"""

from __future__ import annotations

import argparse
import math
import random
import struct
import tempfile
import wave
from pathlib import Path

import gradio as gr

RATE = 16_000
VOICES = {"alice": 220.0, "bob": 130.0, "carol": 330.0}
MAX_CHARS = 500


def speak(text: str, voice: str, speed: float, seed: float) -> tuple[str, str]:
    words = text.split()
    if not words:
        raise gr.Error("nothing to say")
    if len(text) > MAX_CHARS:
        raise gr.Error(f"text too long: at most {MAX_CHARS} characters")
    if voice not in VOICES:
        raise gr.Error(f"unknown voice {voice!r}")
    rng = random.Random(int(seed))
    samples: list[int] = []
    for _ in words:
        pitch = VOICES[voice] * rng.uniform(0.9, 1.1)
        length = int(RATE * 0.25 / speed)
        samples += [int(12_000 * math.sin(2 * math.pi * pitch * i / RATE)) for i in range(length)]
        samples += [0] * int(RATE * 0.05 / speed)
    path = Path(tempfile.mkdtemp()) / "speech.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return str(path), f"{voice}, {len(samples) / RATE:.2f} s, seed {int(seed)}"


def tinytts_app() -> gr.Blocks:
    demo = gr.Blocks(title="TinyTTS")
    with demo:
        text = gr.Textbox(label="Text")
        voice = gr.Dropdown(list(VOICES), value="alice", label="Voice")
        speed = gr.Slider(0.5, 2.0, value=1.0, step=0.1, label="Speed")
        seed = gr.Number(value=0, precision=0, label="Seed")
        audio = gr.Audio(type="filepath", format="wav", label="Audio")
        info = gr.Textbox(label="Info")
        gr.Button("Speak").click(speak, [text, voice, speed, seed], [audio, info], api_name="speak")
    return demo


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=7860)
    tinytts_app().launch(server_name="127.0.0.1", server_port=parser.parse_args().port)

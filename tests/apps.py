"""Small real gr.Blocks apps for the generic-mode tests (`gbatch run URL ... --api /x`).

Each builder takes a `Calls` recorder and returns an unlaunched Blocks; the
conftest `serve`/`serve_module` fixtures launch it on 127.0.0.1. Every handler
records what it received, so a test can prove what was (or was not) sent.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import soundfile as sf
from PIL import Image

__all__ = ["TYPED_DEFAULTS", "Calls", "auth_app", "echo_app", "files_app", "multi_app", "queue_app", "typed_app"]


class Calls:
    """A thread-safe record of the calls an app received: (endpoint, what it got)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: list[tuple[str, Any]] = []
        self._running = 0
        self.peak = 0  # most handlers running at the same time
        #: /shaky raises gr.Error("bad thing") for these texts; tests change it between runs
        self.broken: set[str] = set()

    def add(self, endpoint: str, received: Any) -> None:
        with self._lock:
            self._seen.append((endpoint, received))

    def of(self, endpoint: str) -> list[Any]:
        with self._lock:
            return [got for name, got in self._seen if name == endpoint]

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._seen)

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()
            self.peak = 0
            self.broken = set()

    def enter(self) -> None:
        with self._lock:
            self._running += 1
            self.peak = max(self.peak, self._running)

    def leave(self) -> None:
        with self._lock:
            self._running -= 1


# What typed_app's /typed receives for every parameter but `text` when a row leaves it out.
TYPED_DEFAULTS: dict[str, Any] = {
    "count": 3,
    "colour": "red",
    "size": 0,
    "speed": "fast",
    "enabled": True,
    "shout": False,
    "level": 1,
    "tags": [],
    "meta": {"k": 0},
    "table": [],
    "mood": "calm",
}


def typed_app(calls: Calls) -> gr.Blocks:
    """One endpoint, /typed, with an input of every plain kind; it echoes what it got as JSON.

    Parameter names differ from the labels so tests can tell which one matched a header.
    """

    def typed(
        text: str,
        count: int,
        colour: str,
        size: int,
        speed: str,
        enabled: bool,
        shout: bool,
        level: float,
        tags: list[str],
        meta: Any,
        table: list[list[Any]],
        mood: str,
    ) -> str:
        got = {
            "text": text,
            "count": count,
            "colour": colour,
            "size": size,
            "speed": speed,
            "enabled": enabled,
            "shout": shout,
            "level": level,
            "tags": tags,
            "meta": meta,
            "table": table,
            "mood": mood,
        }
        calls.add("/typed", got)
        return json.dumps(got, sort_keys=True)

    with gr.Blocks(title="typed") as demo:
        inputs = [
            gr.Textbox(label="Prompt Text"),
            gr.Number(label="How Many", value=3, minimum=1, maximum=10, precision=0),
            gr.Dropdown(["red", "green", "blue"], value="red", label="Colour Choice"),
            gr.Dropdown(["small", "medium", "large"], value="small", type="index", label="Size Index"),
            gr.Radio([("Fast mode", "fast"), ("Slow mode", "slow")], value="fast", label="Speed"),
            gr.Radio([("Keep it", True), ("Drop it", False)], value=True, label="Enabled"),
            gr.Checkbox(label="Shout"),
            gr.Slider(0, 5, value=1, step=0.5, label="Level"),
            gr.CheckboxGroup(["a", "b", "c"], label="Tags"),
            gr.JSON(value={"k": 0}, label="Meta"),
            gr.Dataframe(headers=["x", "y"], datatype=["number", "number"], type="array", label="Table"),
            gr.Dropdown(["calm", "busy"], value="calm", allow_custom_value=True, label="Mood"),
        ]
        echo = gr.Textbox(label="Echo")
        gr.Button("Go").click(typed, inputs, echo, api_name="typed")
    return demo


def files_app(calls: Calls) -> gr.Blocks:
    """/files: an image, a sound and a document in; a PNG, a WAV, a .txt and a text out.

    - the image comes back mirrored left-right (PNG, lossless);
    - the sound comes back reversed, same rate (16-bit WAV);
    - the document comes back upper-cased with the note appended;
    - the summary says what arrived.
    /shout: one document in, one .txt out.
    /twins: one document in, an upper- and a lower-case copy out, both labelled "Copy".
    """
    scratch = Path(tempfile.mkdtemp(prefix="gbatch-test-app-"))

    def upper_file(doc: str | None, note: str) -> str | None:
        if doc is None:
            return None
        target = Path(tempfile.mkdtemp(dir=scratch)) / "shouted.txt"
        target.write_bytes(Path(doc).read_bytes().upper() + note.encode("utf-8"))
        return str(target)

    def files(
        pic: str | None, snd: str | None, doc: str | None, note: str
    ) -> tuple[Any, Any, str | None, str]:
        calls.add("/files", {"pic": pic and Path(pic).name, "snd": snd and Path(snd).name, "doc": doc and Path(doc).name})
        mirrored = np.asarray(Image.open(pic).convert("RGB"))[:, ::-1] if pic else None
        sound = None
        if snd:
            samples, rate = sf.read(snd, dtype="int16")
            sound = (rate, samples[::-1].copy())
        summary = (
            f"image {mirrored.shape[1]}x{mirrored.shape[0]}" if mirrored is not None else "no image",
            f"sound {len(sound[1])}@{sound[0]}" if sound else "no sound",
            f"document {Path(doc).stat().st_size} bytes" if doc else "no document",
        )
        return mirrored, sound, upper_file(doc, note), ", ".join(summary)

    def shout(doc: str | None) -> str | None:
        calls.add("/shout", doc and Path(doc).name)
        return upper_file(doc, "")

    def twins(doc: str | None) -> tuple[str | None, str | None]:
        calls.add("/twins", doc and Path(doc).name)
        if doc is None:
            return None, None
        lower = Path(tempfile.mkdtemp(dir=scratch)) / "quiet.txt"
        lower.write_bytes(Path(doc).read_bytes().lower())
        return upper_file(doc, ""), str(lower)

    with gr.Blocks(title="files") as demo:
        ins = [
            gr.Image(type="filepath", label="Picture"),
            gr.Audio(type="filepath", label="Sound"),
            gr.File(type="filepath", label="Document"),
            gr.Textbox(value="", label="Note"),
        ]
        outs = [
            gr.Image(format="png", label="Flipped"),
            gr.Audio(format="wav", label="Reversed"),
            gr.File(label="Shouted"),
            gr.Textbox(label="Summary"),
        ]
        gr.Button("Files").click(files, ins, outs, api_name="files")
        one_in, one_out = gr.File(type="filepath", label="Text File"), gr.File(label="Loud")
        gr.Button("Shout").click(shout, one_in, one_out, api_name="shout")
        # two outputs under one label
        twin_in, twin_a, twin_b = gr.File(type="filepath", label="Text File"), gr.File(label="Copy"), gr.File(label="Copy")
        gr.Button("Twins").click(twins, twin_in, [twin_a, twin_b], api_name="twins")
    return demo


def multi_app(calls: Calls) -> gr.Blocks:
    """Several endpoints: /first, /second, /shaky (gr.Error for `calls.broken`, a plain exception for "crash"), /countdown (a generator),
    /swap (parameters `a` and `b` labelled "B" and "A")."""

    def first(text: str) -> str:
        calls.add("/first", text)
        return f"first:{text}"

    def second(text: str, times: int) -> str:
        calls.add("/second", (text, times))
        return "-".join([text] * int(times))

    def shaky(text: str) -> str:
        calls.add("/shaky", text)
        if text in calls.broken:
            raise gr.Error("bad thing")
        if text == "crash":
            raise RuntimeError("a detail only the server log shows")
        return f"ok:{text}"

    def countdown(text: str) -> Iterator[str]:
        for n in (3, 2, 1):
            calls.add("/countdown", f"{text}:{n}")
            yield f"{text}:{n}"
        calls.add("/countdown", f"{text}:liftoff")
        yield f"{text}:liftoff"

    def swap(a: str, b: str) -> str:
        calls.add("/swap", (a, b))
        return f"a={a} b={b}"

    with gr.Blocks(title="multi") as demo:
        a_in, a_out = gr.Textbox(label="Text"), gr.Textbox(label="Result")
        gr.Button("1").click(first, a_in, a_out, api_name="first")
        b_in, b_times, b_out = gr.Textbox(label="Text"), gr.Number(value=2, precision=0, label="Times"), gr.Textbox(label="Result")
        gr.Button("2").click(second, [b_in, b_times], b_out, api_name="second")
        c_in, c_out = gr.Textbox(label="Text"), gr.Textbox(label="Result")
        gr.Button("3").click(shaky, c_in, c_out, api_name="shaky")
        d_in, d_out = gr.Textbox(label="Text"), gr.Textbox(label="Result")
        gr.Button("4").click(countdown, d_in, d_out, api_name="countdown")
        # each parameter's label is the other one's name
        e_a, e_b, e_out = gr.Textbox(label="B"), gr.Textbox(label="A"), gr.Textbox(label="Result")
        gr.Button("5").click(swap, [e_a, e_b], e_out, api_name="swap")
    return demo


def queue_app(calls: Calls, hold: float = 0.3) -> gr.Blocks:
    """/slow: holds each call a little so concurrent rows overlap; at most 2 at a time on the server."""

    def slow(text: str) -> str:
        calls.enter()
        try:
            calls.add("/slow", text)
            time.sleep(hold)
        finally:
            calls.leave()
        return text.upper()

    with gr.Blocks(title="queue") as demo:
        t_in, t_out = gr.Textbox(label="Text"), gr.Textbox(label="Loud")
        gr.Button("Go").click(slow, t_in, t_out, api_name="slow")
    demo.queue(default_concurrency_limit=2)
    return demo


def auth_app(calls: Calls) -> gr.Blocks:
    """/greet behind a login (launch it with auth=...): a text and a .txt file out."""
    scratch = Path(tempfile.mkdtemp(prefix="gbatch-test-auth-"))

    def greet(name: str) -> tuple[str, str]:
        calls.add("/greet", name)
        card = Path(tempfile.mkdtemp(dir=scratch)) / "card.txt"
        card.write_text(f"Dear {name}", encoding="utf-8")
        return f"hello {name}", str(card)

    with gr.Blocks(title="auth") as demo:
        name, text, card = gr.Textbox(label="Name"), gr.Textbox(label="Greeting"), gr.File(label="Card")
        gr.Button("Greet").click(greet, name, [text, card], api_name="greet")
    return demo


def echo_app(calls: list[str], seconds: float = 0.0, fail_on: str | None = None, limit: int = 4) -> gr.Blocks:
    """/echo(text) -> TEXT, after `seconds`; raises gr.Error for texts containing `fail_on`."""
    lock = threading.Lock()

    def echo(text: str) -> str:
        with lock:
            calls.append(text)
        time.sleep(seconds)
        if fail_on and fail_on in text:
            raise gr.Error(f"cannot echo {text}")
        return text.upper()

    with gr.Blocks() as demo:
        box, out = gr.Textbox(label="Text"), gr.Textbox()
        gr.Button().click(echo, box, out, api_name="echo")
    demo.queue(default_concurrency_limit=limit)
    return demo

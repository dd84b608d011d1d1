"""A SenseVoice web UI stand-in: the same Gradio API, and no recogniser at all.

This is **not SenseVoice** and recognises nothing. It mirrors the Gradio interface of
the upstream ``webui.py`` of github.com/FunAudioLLM/SenseVoice: one event,
``/model_inference(input_wav, language)``, an ``Audio`` input labelled "Upload audio or
use the microphone", a "Language" dropdown (auto, zh, en, yue, ja, ko, nospeech;
default auto) inside a "Configuration" accordion, a "Start" button and a "Results"
textbox. Like upstream, the transcript is decorated with emoji: a sound event before
the text (🎼 music, 👏 applause, 😀 laughter, …) and an emotion after it (😊, 😔, 😡, …).
Upstream's examples (audio files under ``example/``) are left out.

To "hear" a take it looks it up in the folder the CosyVoice stand-in records what it
said into (``--said-dir``; see ``said.py``). So it shows how gbatch checks takes —
transcript, score, a regenerated take — not how well anything recognises speech. A take
it never saw comes back empty, as silence would from SenseVoice.

Run it with ``gbatch-asr-demo --port 8001 --said-dir DIR`` (binds to 127.0.0.1).
"""

from __future__ import annotations

import os

# The stand-in must never phone home: set these before gradio is imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from .said import SaidLog  # noqa: E402

log = logging.getLogger("gbatch_asr_demo.demo_server")

TITLE = "gbatch SenseVoice stand-in — NOT SenseVoice: it recognises nothing"
LANGUAGES = ["auto", "zh", "en", "yue", "ja", "ko", "nospeech"]
EMOTIONS = ["", "", "😊", "😔", "😮"]  # neutral (no emoji) most often
EVENTS = ["", "", "", "🎼", "😀"]
NOTICE = (
    "<div><h2>gbatch SenseVoice stand-in</h2>"
    "<p><b>This is not SenseVoice and it recognises nothing.</b> It has the Gradio API of SenseVoice's "
    "<code>webui.py</code> and reads back what the gbatch CosyVoice stand-in recorded saying in each take, "
    "so gbatch's take checking can be shown and tested. It shows the mechanism, not recognition quality.</p></div>"
)


def default_said_dir() -> str:
    return os.environ.get("GBATCH_DEMO_SAID_DIR") or os.path.join(tempfile.gettempdir(), "gbatch-demo-said")


def _decorated(text: str) -> str:
    """The transcript as SenseVoice's web UI shows it: an event emoji first, an emotion last."""
    h = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")
    return f"{EVENTS[h % len(EVENTS)]}{text}{EMOTIONS[(h // 7) % len(EMOTIONS)]}"


def build_demo(said_dir: str, delay: float = 0.0, fail_on: str | None = None) -> gr.Blocks:
    """Build the stand-in app. ``delay``: simulated seconds per request; ``fail_on``: a regular
    expression: a take whose text matches it makes the app raise (an error for one take)."""
    said = SaidLog(said_dir)
    failing = re.compile(fail_on) if fail_on else None

    def model_inference(input_wav: Any, language: str, fs: int = 16000) -> str:
        language = "auto" if len(language) < 1 else language
        if language not in LANGUAGES:
            raise KeyError(language)  # upstream's language_abbr lookup
        if not isinstance(input_wav, tuple):
            raise TypeError("no audio")  # upstream's model.generate fails on None the same way
        fs, samples = input_wav
        time.sleep(delay)
        text = said.lookup(np.asarray(samples), int(fs))
        said.heard(text)
        if failing is not None and text is not None and failing.search(text):
            raise RuntimeError("the stand-in was told to fail on this take (--fail-on)")
        log.info("language: %s, heard: %r", language, text)
        return _decorated(text) if text else ""

    demo = gr.Blocks(title=TITLE, analytics_enabled=False)
    with demo:
        gr.HTML(NOTICE)
        with gr.Row(), gr.Column():
            audio_inputs = gr.Audio(label="Upload audio or use the microphone")
            with gr.Accordion("Configuration"):
                language_inputs = gr.Dropdown(choices=LANGUAGES, value="auto", label="Language")
            fn_button = gr.Button("Start", variant="primary")
            text_outputs = gr.Textbox(label="Results")
        fn_button.click(model_inference, inputs=[audio_inputs, language_inputs], outputs=text_outputs)
    return demo


def main(argv: list[str] | None = None) -> None:
    """CLI: serve the stand-in on loopback until interrupted."""
    parser = argparse.ArgumentParser(
        prog="gbatch-asr-demo",
        description="Serve a SenseVoice-compatible Gradio stand-in (NOT SenseVoice: it reads back what the CosyVoice stand-in said).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=8001, help="port to listen on")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (loopback only unless you say otherwise)")
    parser.add_argument("--said-dir", default=default_said_dir(), help="the folder the CosyVoice stand-in records its takes in ($GBATCH_DEMO_SAID_DIR)")
    parser.add_argument("--delay", type=float, default=0.2, help="simulated seconds per request")
    parser.add_argument("--fail-on", metavar="REGEX", help="raise an error for takes whose text matches")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    log.info("not SenseVoice: reading takes back from %s (this shows the mechanism, not recognition quality)", args.said_dir)
    build_demo(args.said_dir, args.delay, args.fail_on).launch(server_name=args.host, server_port=args.port, show_error=False)


if __name__ == "__main__":
    main()

"""One endpoint that sleeps, in a queue that runs `--limit` jobs at once; the same script
runs under gradio 3.41.2, 4.44.1 and 6.x.

`/sleep` returns its text after `--sleep` seconds and appends what it received, with
when it started and ended, to `--record` (JSON lines): tests check from it that no row
was sent twice and how many jobs the server really ran at once.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import gradio as gr

_lock = threading.Lock()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--limit", type=int, default=1)
    parser.add_argument("--sleep", type=float, default=0.2)
    parser.add_argument("--record", type=Path, required=True)
    args = parser.parse_args()

    def sleep(text: str) -> str:
        started = time.time()
        time.sleep(args.sleep)
        line = json.dumps({"text": text, "start": started, "end": time.time()})
        with _lock, args.record.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        return text

    with gr.Blocks() as demo:
        text = gr.Textbox(label="text")
        echo = gr.Textbox(label="echo")
        gr.Button("Sleep").click(sleep, text, echo, api_name="sleep")
    if gr.__version__.startswith("3."):
        demo.queue(concurrency_count=args.limit)
    else:
        demo.queue(default_concurrency_limit=args.limit)
    demo.launch(server_name="127.0.0.1", server_port=args.port, show_error=True)


if __name__ == "__main__":
    main()

"""Gradio 6 apps for the fault and security suites, run as real processes so a test can
kill, stop or restart them:

    python tests/fault_apps.py --port N [--auth USER:PASS] [--limit N] [--max-size N] [--record FILE]

`/work(text, seconds, kb)` sleeps `seconds`, then returns a file of `kb` KiB that starts
with the text (and the text itself). Every call is appended to `--record` as a JSON line
when it starts, so a test can count what the server was asked to do.

The builders (`work_app`, `hostile_app`) are also used in-process by the security tests.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.data_classes import FileData

__all__ = ["HOSTILE_NAMES", "hostile_app", "work_app"]

_lock = threading.Lock()


def _record(path: Path | None, **entry: Any) -> None:
    if path is None:
        return
    with _lock, path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({**entry, "at": time.time()}) + "\n")


def work_app(record: Path | None = None, limit: int = 4, max_size: int | None = None) -> gr.Blocks:
    """/work(text, seconds, kb) -> (a file of kb KiB starting with the text, the text)."""
    scratch = Path(tempfile.mkdtemp(prefix="gbatch-fault-app-"))

    def work(text: str, seconds: float, kb: float) -> tuple[str, str]:
        _record(record, text=text, pid=os.getpid())
        time.sleep(float(seconds))
        head = f"{text}\n".encode()
        size = max(len(head), int(float(kb) * 1024))
        target = Path(tempfile.mkdtemp(dir=scratch)) / "result.txt"
        target.write_bytes(head + b"." * (size - len(head)))
        return str(target), text

    demo = gr.Blocks(title="fault app", analytics_enabled=False)
    with demo:
        ins = [gr.Textbox(label="Text"), gr.Number(value=0.3, label="Seconds"), gr.Number(value=1, label="KB")]
        outs = [gr.File(label="Result"), gr.Textbox(label="Echo")]
        gr.Button("Work").click(work, ins, outs, api_name="work")
    demo.queue(default_concurrency_limit=limit, max_size=max_size)
    return demo


# What /named returns as the file's name (gradio's FileData.orig_name), by the row's `kind`.
HOSTILE_NAMES = {
    "dotdot": "../../evil.sh",
    "absolute": "/tmp/evil-absolute.sh",
    "control": "bad\x1b[31m\nname\r.t\x00xt",
    "backslash": "..\\..\\evil.bat",
    "long": "x" * 300 + ".txt",
    "noext": "..",
}


def hostile_app(scratch: Path | None = None) -> gr.Blocks:
    """A server that tries to get things outside --out or to leak what the client sent.

    - /named(kind): a file whose announced name is one of HOSTILE_NAMES;
    - /labelled(text): two files under output labels "../x" and "/etc/passwd";
    - /big(mb): a file of `mb` MB;
    - /headers(mode, request): echoes the request's headers and cookies back — as a
      gr.Error ("error"), a gr.Warning and gr.Info ("warn"), a returned text ("value"),
      or a plain exception the server hides ("crash").
    """
    base = scratch or Path(tempfile.mkdtemp(prefix="gbatch-hostile-"))

    def fresh(name: str, data: bytes) -> str:
        target = Path(tempfile.mkdtemp(dir=base)) / name
        target.write_bytes(data)
        return str(target)

    def named(kind: str) -> str:
        return fresh("payload.txt", f"payload {kind}\n".encode())

    def labelled(text: str) -> tuple[str, str]:
        return fresh("a.txt", b"first " + text.encode()), fresh("b.txt", b"second " + text.encode())

    def big(mb: float) -> str:
        return fresh("big.bin", b"\0" * int(float(mb) * 1_000_000))

    def headers(mode: str, request: gr.Request) -> str:
        seen = json.dumps({"headers": dict(request.headers), "cookies": request.request.cookies if request.request else {}})
        if mode == "error":
            raise gr.Error(f"refused; you sent {seen}")
        if mode == "crash":
            raise RuntimeError(f"crashed; you sent {seen}")
        if mode == "warn":
            gr.Warning(f"careful; you sent {seen}")
            gr.Info(f"note; you sent {seen}")
            return "warned"
        return f"you sent {seen}"

    demo = gr.Blocks(title="hostile", analytics_enabled=False)
    with demo:
        kind, file_out = gr.Textbox(label="Kind"), gr.File(label="Named")
        names = dict(HOSTILE_NAMES)

        def postprocess(value: str | list[str] | None) -> FileData | None:
            # The name the server announces is whatever it likes; the client must not trust it.
            if not isinstance(value, str):
                return None
            announced = names.get(Path(value).read_text(encoding="utf-8").split()[-1], "plain.txt")
            return FileData(path=value, orig_name=announced, size=Path(value).stat().st_size)

        file_out.postprocess = postprocess  # type: ignore[method-assign]
        gr.Button("Named").click(named, kind, file_out, api_name="named")
        text, first, second = gr.Textbox(label="Text"), gr.File(label="../x"), gr.File(label="/etc/passwd")
        gr.Button("Labelled").click(labelled, text, [first, second], api_name="labelled")
        size, big_out = gr.Number(value=1, label="MB"), gr.File(label="Big")
        gr.Button("Big").click(big, size, big_out, api_name="big")
        mode, said = gr.Textbox(label="Mode"), gr.Textbox(label="Said")
        gr.Button("Headers").click(headers, mode, said, api_name="headers")
    demo.queue(default_concurrency_limit=4)
    return demo


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--auth", default=None, help="USER:PASS")
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--max-size", type=int, default=None)
    parser.add_argument("--record", default=None)
    args = parser.parse_args()
    demo = work_app(Path(args.record) if args.record else None, args.limit, args.max_size)
    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    demo.launch(server_name="127.0.0.1", server_port=args.port, auth=auth, quiet=True, show_error=True, prevent_thread_lock=False)


if __name__ == "__main__":
    main()

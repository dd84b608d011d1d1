"""How long `read_tasks` takes on large task files, and a dry run of the largest (prints
figures, asserts nothing).

The dry run goes against a local Gradio app (run in a subprocess) whose `/predict` takes
the CSV's five columns: `run_batch(dry_run=True)` in process, then `gbatch run URL
tasks.csv --dry-run -q` as a new process (start-up, connect, read, validate, print).

Run: python benchmarks/bench_tasks.py [rows] [--no-server]
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))  # runs from a plain checkout too

from gbatch._tasks import read_tasks  # noqa: E402

# No phoning home, in this process and in the server's.
QUIET_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}
os.environ.update(QUIET_ENV)
GBATCH = Path(sys.executable).with_name("gbatch")


def serve(port: int) -> None:
    """The app the dry run checks rows against: one input per column of the CSV."""
    import gradio as gr

    def predict(text: str, speaker: str, speed: float, prompt_audio: str, note: str) -> str:
        return text

    inputs = [gr.Textbox(label="text"), gr.Textbox(label="speaker"), gr.Number(label="speed"), gr.Textbox(label="prompt_audio"), gr.Textbox(label="note")]
    demo = gr.Interface(predict, inputs, gr.Textbox(label="out"), api_name="predict")
    demo.queue()
    demo.launch(server_name="127.0.0.1", server_port=port, quiet=True)


@contextmanager
def server() -> Iterator[str]:
    """This file run as the app (`start_script` passes `--port N`), until the block ends."""
    from gbatch.testing import start_script

    with tempfile.TemporaryDirectory(prefix="gbatch-bench-server-") as logs:
        started = start_script(Path(__file__), log_dir=Path(logs), timeout=60)
        try:
            yield started.url
        finally:
            started.stop()


def dry_runs(tasks: Path, folder: Path) -> None:
    """`--dry-run` of the whole file, in process and through the command line."""
    import gbatch

    rows = len(read_tasks(tasks).rows)
    with server() as url:
        print(f"\ndry run of {rows:,} rows ({tasks.stat().st_size / 1e6:.1f} MB CSV, 5 columns) against a local app, best of 3:")

        def in_process() -> None:
            options = gbatch.BatchOptions(servers=[url], out=folder / "out-lib", dry_run=True)
            gbatch.run_batch(gbatch.GenericTool("/predict"), tasks, options, say=lambda text: None)

        print(f"  {'run_batch(dry_run=True), in process':<46} {best_of(3, in_process):6.2f} s")
        command = [str(GBATCH), "run", url, str(tasks), "--dry-run", "-q", "--out", str(folder / "out-cli")]

        def through_cli() -> None:
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"gbatch run --dry-run exited {done.returncode}: {done.stderr.strip()[-500:]}")

        print(f"  {'gbatch run URL tasks.csv --dry-run -q':<46} {best_of(3, through_cli):6.2f} s   (a new process: start-up included)")


def best_of(runs: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    if sys.argv[1:2] == ["--port"]:  # started by `server()` as the app
        serve(int(sys.argv[2]))
        return
    numbers = [a for a in sys.argv[1:] if not a.startswith("--")]
    rows = int(numbers[0]) if numbers else 100_000
    text = "今天天气很好，我们去公园散步吧。The quick brown fox jumps over the lazy dog."
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with_id = folder / "with_id.csv"
        with_id.write_text(
            "id,text,speaker,speed,prompt_audio\n"
            + "".join(f'r{i},"{text} {i}",voice{i % 7},1.0,ref/{i % 50}.wav\n' for i in range(rows)),
            encoding="utf-8",
        )
        no_id = folder / "no_id.csv"
        no_id.write_text(
            "text,speaker,speed,prompt_audio,note\n"
            + "".join(f"{text} {i},voice{i % 7},1.0,ref/{i % 50}.wav,\n" for i in range(rows)),
            encoding="utf-8",
        )
        gbk = folder / "gbk.csv"
        gbk.write_bytes(with_id.read_text(encoding="utf-8").encode("gb18030"))
        jsonl = folder / "tasks.jsonl"
        jsonl.write_text(
            "".join(
                json.dumps({"id": f"r{i}", "text": f"{text} {i}", "speaker": f"voice{i % 7}", "speed": 1.0})
                + "\n"
                for i in range(rows)
            ),
            encoding="utf-8",
        )
        txt = folder / "tasks.txt"
        txt.write_text("".join(f"{text} {i}\n" for i in range(rows)), encoding="utf-8")

        print(f"read_tasks, {rows:,} rows, best of 3:")
        for label, path in [
            ("csv, 5 columns, id column", with_id),
            ("csv, 5 columns, row-number ids", no_id),
            ("csv, 5 columns, GB18030 (detected)", gbk),
            ("jsonl, 4 keys", jsonl),
            ("txt", txt),
        ]:
            seconds = best_of(3, functools.partial(read_tasks, path))
            size = path.stat().st_size / 1e6
            print(f"  {label:<36} {size:6.1f} MB  {seconds * 1000:7.0f} ms")
        if "--no-server" not in sys.argv:
            dry_runs(no_id, folder)


if __name__ == "__main__":
    main()

"""The cost of checking takes (prints, asserts nothing).

A 200-row batch against a sleep-style TTS app (L s per take, C slots), once without and
once with `--check-server` on a sleep-style recogniser with its own slots (A s per take,
R slots): the wall time of each, how much longer checking makes the batch, and the
client's CPU per row (the gbatch process only; servers excluded). Taking the check off
the generation slots is the point: checking row 1 overlaps generating row 2, so only the
last take's check should show in the wall time.

The TTS app returns a WAV whose length encodes the row number; the recogniser, which has
SenseVoice's API shape (`/model_inference(input_wav, language)`), reads the number back
from the length and says the row's text, so every take passes and nothing is regenerated.
Both run in their own processes.

Run: python benchmarks/bench_checks.py [--rows 200] [--slots 4] [--latency 0.3] [--asr-slots 2] [--asr-latency 0.1]
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "core"))
os.environ.update({"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"})
RATE = 16000


def row_text(n: int) -> str:
    return f"this is row number {n}"


def serve_tts(port: int, latency: float, slots: int) -> None:
    import gradio as gr
    import numpy as np
    import soundfile as sf

    def speak(text: str) -> str:
        time.sleep(latency)
        n = int(text.rsplit(" ", 1)[-1])
        t = np.arange(RATE + n * 8) / RATE  # the length says which row this is
        path = Path(tempfile.mkdtemp()) / "take.wav"
        buffer = io.BytesIO()
        sf.write(buffer, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), RATE, format="WAV")
        path.write_bytes(buffer.getvalue())
        return str(path)

    demo = gr.Interface(speak, gr.Textbox(label="text"), gr.Audio(label="take", type="filepath"), api_name="speak")
    demo.queue(default_concurrency_limit=slots)
    demo.launch(server_name="127.0.0.1", server_port=port, quiet=True)


def serve_asr(port: int, latency: float, slots: int) -> None:
    import gradio as gr

    def model_inference(input_wav: tuple[int, object], language: str) -> str:
        time.sleep(latency)
        rate, samples = input_wav
        return row_text(round((len(samples) * RATE / rate - RATE) / 8)) + "😊"  # type: ignore[arg-type]

    with gr.Blocks() as demo:
        audio = gr.Audio(label="Upload audio or use the microphone")
        language = gr.Dropdown(choices=["auto", "zh", "en"], value="auto", label="Language")
        text = gr.Textbox(label="Results")
        gr.Button("Start").click(model_inference, inputs=[audio, language], outputs=text)
    demo.queue(default_concurrency_limit=slots)
    demo.launch(server_name="127.0.0.1", server_port=port, quiet=True)


def start(kind: str, latency: float, slots: int, folder: Path) -> tuple[str, subprocess.Popen[bytes]]:
    import httpx

    from gbatch.testing import free_port

    port = free_port()
    log = (folder / f"{kind}-{port}.log").open("wb")
    process = subprocess.Popen([sys.executable, __file__, f"--serve-{kind}", str(port), "--latency", str(latency), "--slots", str(slots)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url + "config", timeout=2).status_code == 200:
                return url, process
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"{kind} server {url} did not start")
        time.sleep(0.3)


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_run(tts: str, asr: str | None, rows: int, folder: Path) -> tuple[float, float, int]:
    import gbatch

    tasks = folder / "tasks.csv"
    tasks.write_text("id,text\n" + "".join(f"r{i},{row_text(i)}\n" for i in range(rows)), encoding="utf-8")
    out = folder / f"out-{time.monotonic_ns()}"
    options = gbatch.BatchOptions(servers=[tts], out=out, check_servers=[asr] if asr else [], review=False)
    tool = gbatch.GenericTool("/speak", text_column="text")
    began_cpu, began = cpu(), time.perf_counter()
    result = gbatch.run_batch(tool, tasks, options, say=lambda text: None)
    wall, used = time.perf_counter() - began, cpu() - began_cpu
    assert result.succeeded == rows, (result.summary(), [r.get("error") for r in result.rows if r.get("status") != "ok"][:3])
    checked = sum(1 for r in result.rows if r.get("score") is not None)
    shutil.rmtree(out, ignore_errors=True)
    return wall, used, checked


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve-tts", type=int)
    parser.add_argument("--serve-asr", type=int)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--asr-slots", type=int, default=2)
    parser.add_argument("--asr-latency", type=float, default=0.1)
    args = parser.parse_args()
    if args.serve_tts:
        return serve_tts(args.serve_tts, args.latency, args.slots)
    if args.serve_asr:
        return serve_asr(args.serve_asr, args.latency, args.slots)

    folder = Path(tempfile.mkdtemp(prefix="gbatch-bench-checks-"))
    tts, tts_process = start("tts", args.latency, args.slots, folder)
    asr, asr_process = start("asr", args.asr_latency, args.asr_slots, folder)
    try:
        one_run(f"{tts}={args.slots}", f"{asr}={args.asr_slots}", 8, folder)  # warm both servers
        print(f"{args.rows} rows; TTS {args.slots} slots x {args.latency} s; recogniser {args.asr_slots} slots x {args.asr_latency} s; {os.cpu_count()} CPUs")
        print("| run | wall | rows/s | takes checked | longer | client CPU per row |")
        print("|---|---|---|---|---|---|")
        plain, used, _ = one_run(f"{tts}={args.slots}", None, args.rows, folder)
        print(f"| without --check-server | {plain:.2f} s | {args.rows / plain:.1f} | 0 | | {1000 * used / args.rows:.1f} ms |", flush=True)
        wall, used, checked = one_run(f"{tts}={args.slots}", f"{asr}={args.asr_slots}", args.rows, folder)
        print(f"| with --check-server | {wall:.2f} s | {args.rows / wall:.1f} | {checked} | {100 * (wall / plain - 1):+.1f} % | {1000 * used / args.rows:.1f} ms |", flush=True)
    finally:
        for process in (tts_process, asr_process):
            process.terminate()
        for process in (tts_process, asr_process):
            process.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

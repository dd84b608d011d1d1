"""`--cluster` figures (prints, asserts nothing).

- Throughput with 1, 2 and 4 Dask workers (LocalCluster, one process each), each with its
  own server as its `local:` server (C slots per worker, L seconds per request), ROWS rows.
- Dask's overhead per row: the same servers driven by the in-process executor
  (`--server URL=C` once per server) against the cluster run.
- Client CPU per row on the driver (the gbatch process only; workers and servers excluded).

The server is a plain Gradio app whose endpoint sleeps L s and returns a short text
(`queue(default_concurrency_limit=C)`), in its own process, so the figures measure
scheduling, not audio work.

Run: python benchmarks/bench_cluster.py [--rows 240] [--slots 2] [--latency 0.3] [--workers 1 2 4]
"""

from __future__ import annotations

import argparse
import json
import math
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
QUIET_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}
os.environ.update(QUIET_ENV)


def serve(port: int, latency: float, slots: int) -> None:
    import gradio as gr

    def slow_echo(text: str) -> str:
        time.sleep(latency)
        return text

    demo = gr.Interface(slow_echo, gr.Textbox(label="text"), gr.Textbox(label="echo"))
    demo.queue(default_concurrency_limit=slots)
    demo.launch(server_name="127.0.0.1", server_port=port, quiet=True)


def start_servers(count: int, latency: float, slots: int, folder: Path) -> list[tuple[str, subprocess.Popen[bytes]]]:
    import httpx

    from gbatch.testing import free_port

    started = []
    for _ in range(count):
        port = free_port()
        log = (folder / f"server-{port}.log").open("wb")
        process = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--latency", str(latency), "--slots", str(slots)], stdout=log, stderr=subprocess.STDOUT)
        started.append((f"http://127.0.0.1:{port}/", process))
    for url, process in started:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "config", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"server {url} did not start")
            time.sleep(0.3)
    return started


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_run(servers: list[str], rows: int, folder: Path, cluster: str | None, slots: int) -> tuple[float, float]:
    import gbatch

    tasks = folder / "tasks.csv"
    tasks.write_text("id,text\n" + "".join(f"r{i},row {i}\n" for i in range(rows)), encoding="utf-8")
    out = folder / f"out-{time.monotonic_ns()}"
    options = gbatch.BatchOptions(servers=servers, out=out, cluster=cluster)
    tool = gbatch.GenericTool("/slow_echo")
    began_cpu, began = cpu(), time.perf_counter()
    result = gbatch.run_batch(tool, tasks, options, say=lambda text: None)
    wall, used = time.perf_counter() - began, cpu() - began_cpu
    assert result.succeeded == rows, result.summary()
    shutil.rmtree(out, ignore_errors=True)
    return wall, used


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", type=int)
    parser.add_argument("--rows", type=int, default=240)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.latency, args.slots)
        return

    from distributed import LocalCluster

    folder = Path(tempfile.mkdtemp(prefix="gbatch-bench-cluster-"))
    started = start_servers(max(args.workers), args.latency, args.slots, folder)
    urls = [url for url, _ in started]
    print(f"{args.rows} rows, {args.slots} slots per server, {args.latency} s per request; {os.cpu_count()} CPUs")
    print("| workers | path | wall | ideal | / ideal | rows/s | speed-up | driver CPU per row |")
    print("|---|---|---|---|---|---|---|---|")
    base: float | None = None
    try:
        for count in args.workers:
            ideal = math.ceil(args.rows / (count * args.slots)) * args.latency
            # The in-process executor on the same servers.
            wall, used = one_run([f"{u}={args.slots}" for u in urls[:count]], args.rows, folder, None, args.slots)
            print(f"| {count} | in-process executor, {count} server(s) | {wall:.2f} s | {ideal:.1f} s | {wall / ideal:.2f} | {args.rows / wall:.1f} | | {1000 * used / args.rows:.1f} ms |", flush=True)
            in_process = wall
            mapping = {str(i): urls[i] for i in range(count)}
            cluster = LocalCluster(processes=True, n_workers=count, threads_per_worker=args.slots, host="127.0.0.1", dashboard_address=None, env={"GBATCH_LOCAL_SERVERS": json.dumps(mapping), **QUIET_ENV})
            try:
                address = cluster.scheduler_address
                one_run([f"local:{urls[0]}={args.slots}"], min(args.rows, 8 * count), folder, address, args.slots)  # warm: workers import gbatch, connect
                wall, used = one_run([f"local:{urls[0]}={args.slots}"], args.rows, folder, address, args.slots)
            finally:
                cluster.close()
            base = base or wall
            overhead = (wall - in_process) / args.rows * count * args.slots
            print(
                f"| {count} | --cluster, {count} worker(s) | {wall:.2f} s | {ideal:.1f} s | {wall / ideal:.2f} | {args.rows / wall:.1f} | {base / wall:.2f}× | {1000 * used / args.rows:.1f} ms |",
                flush=True,
            )
            print(f"|  | Dask overhead per row (per slot) | {1000 * overhead:+.0f} ms | | | | | |", flush=True)
    finally:
        for _, process in started:
            process.terminate()
        for _, process in started:
            process.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

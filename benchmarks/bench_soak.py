"""Soak: 10,000 rows against a fast local gradio 6 app; does gbatch stay flat?

By default gbatch gets no -j: it learns the app's slots from its queue (the summary's
learned number is printed); `--jobs N` runs with -j N instead.

The app (`tests/fault_apps.py`, `default_concurrency_limit=16`) answers each row at once
with a small file (1 KiB by default). `gbatch run` runs as its own process; every second
its resident memory (VmRSS) and thread count are read from /proc/<pid>/status. At the end:
first / median / last / max of both, leftover temporary files (`OUT/.gbatch-*.part`, and
anything left in the client's own TMPDIR, where gradio_client would put its files), and
whether the journal holds every row exactly once, ok.

    .venv/bin/python benchmarks/bench_soak.py [--rows 10000] [--limit 16] [--jobs N] [--kb 1] [--seconds 0]

A figure-printing script, not a timed test. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "tests" / "fault_apps.py"


def status(pid: int) -> tuple[float, int] | None:
    """(VmRSS in MB, Threads) of a live process, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    try:
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"])
    except (KeyError, ValueError):
        return None


def cpu_seconds(pid: int) -> float:
    try:
        parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def start_server(folder: Path, limit: int) -> tuple[subprocess.Popen[bytes], str]:
    from gbatch.testing import start_script

    server = start_script(APP, "--limit", str(limit), log_dir=folder, env={"GRADIO_TEMP_DIR": str(folder / "server-tmp")})
    return server.process, server.url


def summary(name: str, values: list[float], unit: str) -> str:
    return (
        f"{name:<8} first {values[0]:8.1f}  median {statistics.median(values):8.1f}  "
        f"last {values[-1]:8.1f}  max {max(values):8.1f} {unit}"
    )


def per_window(ended: list[str], first_record: float, cpu_at: list[tuple[float, float, float]]) -> None:
    """Rows finished per 10 s, and the CPU each process spent per row in that window: a falling
    rate with a rising figure says which side slows down."""
    from datetime import datetime

    stamps = [datetime.fromisoformat(e).timestamp() for e in ended]
    per = Counter(int((t - stamps[0]) // 10) for t in stamps)
    print("\n  window (s)  rows  gbatch CPU ms/row  app CPU ms/row")
    for i in range(max(per) + 1):
        start, end = first_record + 10 * i, first_record + 10 * (i + 1)
        inside = [c for c in cpu_at if start <= c[0] <= end]
        rows = per.get(i, 0)
        if len(inside) >= 2 and rows:
            ours, app = (inside[-1][1] - inside[0][1]) * 1000 / rows, (inside[-1][2] - inside[0][2]) * 1000 / rows
            print(f"  {10 * i:4d}-{10 * (i + 1):<4d}  {rows:5d}  {ours:17.1f}  {app:14.1f}")
        else:
            print(f"  {10 * i:4d}-{10 * (i + 1):<4d}  {rows:5d}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--limit", type=int, default=16, help="the app's default_concurrency_limit")
    parser.add_argument("--jobs", type=int, default=None, help="-j for gbatch [default: none, slots learned]")
    parser.add_argument("--kb", type=float, default=1.0, help="size of each row's output file")
    parser.add_argument("--seconds", type=float, default=0.0, help="time the endpoint takes per row")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="gbatch-soak-"))
    client_tmp = folder / "client-tmp"
    client_tmp.mkdir()
    ids = [f"r{i:05d}" for i in range(args.rows)]
    with (folder / "tasks.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "seconds", "kb"])
        writer.writerows([rid, f"row {rid}", args.seconds, args.kb] for rid in ids)

    server, url = start_server(folder, args.limit)
    jobs = ["-j", str(args.jobs)] if args.jobs else []
    print(
        f"soak: {args.rows} rows, {'-j ' + str(args.jobs) if args.jobs else 'no -j (slots learned)'}, app limit {args.limit}, "
        f"{args.kb:g} KiB file per row, endpoint {args.seconds:g} s; {os.cpu_count()} CPUs; load {load()}"
    )
    command = [sys.executable, "-m", "gbatch", "run", url, "tasks.csv", "--api", "/work", *jobs, "-q", "--json", "--out", "out"]
    env = {**os.environ, "TMPDIR": str(client_tmp)}
    samples: list[tuple[float, float, int]] = []
    cpu_at: list[tuple[float, float, float]] = []  # (t, gbatch CPU s, app CPU s): whose cost per row moves
    started = time.monotonic()
    try:
        process = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        cpu = 0.0
        first_record = float("inf")
        journal = folder / "out" / "gbatch-journal.jsonl"
        while process.poll() is None:
            if first_record == float("inf") and journal.exists():
                first_record = time.monotonic() - started
            found = status(process.pid)
            if found is not None:
                samples.append((time.monotonic() - started, *found))
                cpu = cpu_seconds(process.pid) or cpu
                cpu_at.append((time.monotonic() - started, cpu, cpu_seconds(server.pid)))
            time.sleep(1.0)
        stdout, stderr = process.communicate()
        wall = time.monotonic() - started
        server_load = load()
    finally:
        server.kill()
        server.wait()

    print(f"\nexit {process.returncode}; wall {wall:.1f} s; {args.rows / wall:.1f} rows/s; client CPU {cpu:.1f} s ({1000 * cpu / args.rows:.1f} ms/row); load at the end {server_load}")
    if process.returncode != 0:
        print(stderr[-3000:])
    try:
        for server_label, learned in json.loads(stdout).get("slots", {}).items():
            print(f"slots of {server_label}: learned {learned['learned']} {learned['how']} (peak {learned['peak']}, cap {learned['cap']})")
    except ValueError:
        print("(no --json summary on stdout)")
    print("\n  t (s)   RSS (MB)  threads")
    step = max(1, len(samples) // 30)
    for t, rss, threads in samples[::step] + ([samples[-1]] if samples and (len(samples) - 1) % step else []):
        print(f"{t:7.0f}  {rss:9.1f}  {threads:7d}")
    # Start-up (imports, connecting, reading the task file) is not the soak: summarise from the
    # first sample taken once the batch is running (journal on disk).
    running = [s for s in samples if s[0] >= first_record] or samples
    if running:
        samples = running
        print(f"\nfrom t = {samples[0][0]:.0f} s (first row finished at {first_record:.1f} s):")
        print(summary("RSS", [s[1] for s in samples], "MB"))
        print(summary("threads", [float(s[2]) for s in samples], ""))
        # Growth over the second half of the run, where start-up is over.
        half = [s for s in samples if s[0] >= samples[-1][0] / 2]
        if len(half) >= 2:
            print(f"RSS change over the second half: {half[-1][1] - half[0][1]:+.1f} MB; threads {half[0][2]} -> {half[-1][2]}")

    out = folder / "out"
    parts = list(out.glob(".gbatch-*.part"))
    leftovers = [p for p in client_tmp.rglob("*")]
    records = [json.loads(line) for line in (out / "gbatch-journal.jsonl").read_text(encoding="utf-8").splitlines()]
    ok = Counter(r["id"] for r in records if r["status"] == "ok")
    files = [p for p in out.glob("r*.txt")]
    ended = sorted(r["ended"] for r in records if r.get("ended"))
    if ended:
        per_window(ended, first_record, cpu_at)
    print(f"\nleftover .gbatch-*.part in --out: {len(parts)}")
    print(f"leftover entries in the client's TMPDIR: {len(leftovers)}" + (f" (e.g. {leftovers[0]})" if leftovers else ""))
    print(
        f"journal: {len(records)} records, {len(ok)} distinct ids ok, {sum(1 for c in ok.values() if c > 1)} ok more than once, "
        f"{len(set(ids) - set(ok))} missing; {len(files)} output files; complete: {set(ok) == set(ids) and len(records) == len(ids)}"
    )
    if args.keep:
        print(f"work folder kept: {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

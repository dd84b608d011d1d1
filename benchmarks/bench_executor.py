"""gbatch against a plain ThreadPoolExecutor + gradio_client loop (prints figures, asserts nothing).

A local Gradio app whose endpoint sleeps `--sleep` s runs in a subprocess (so its
CPU is not counted as client CPU), with `queue(default_concurrency_limit=4)`.
N rows go through it four ways: the baseline loop (ThreadPoolExecutor + one shared
gradio_client.Client), `gbatch.run_batch`, the baseline loop given one SSL context
(as gbatch does), and the `gbatch run` command. Then `gbatch --help` start-up and
validating a 100,000-row CSV.

Run: python benchmarks/bench_executor.py [--rows 200] [--jobs 4] [--sleep 0.2] [--repeat 2] [--profile]

`--learned` instead compares, against servers of 4, 2 and 8 slots (then two servers of
different speed): gbatch with no -j and no URL=N (slots learned from the queue), the
plain ThreadPoolExecutor loop with as many threads as the server has slots, and a
sweep of hand-tuned -j N (with --queue-ahead N, so exactly N rows are in flight, as
-j did before slots were learned), printing wall time, slot use and what was learned.

Run: python benchmarks/bench_executor.py --learned [--rows 200] [--sleep 0.2] [--sizes 4,2,8] [--repeat 2]
(`--sizes ""`: only the two servers)
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "core"))  # runs from a plain checkout too

# No phoning home, in this process and in every child (server and CLI runs).
QUIET_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}
os.environ.update(QUIET_ENV)

API_NAME = "/slow_echo"  # gradio 6 names an Interface endpoint after its function
GBATCH = Path(sys.executable).with_name("gbatch")


# --- the server (this file, run as the app by `server()`) -----------------------------------------


def serve(port: int, sleep: float, limit: int) -> None:
    import gradio as gr

    def slow_echo(text: str) -> str:
        time.sleep(sleep)
        return text

    demo = gr.Interface(slow_echo, gr.Textbox(label="text"), gr.Textbox(label="echo"))
    demo.queue(default_concurrency_limit=limit)
    demo.launch(server_name="127.0.0.1", server_port=port, quiet=True, show_error=True)


def cpu_of(pid: int) -> float | None:
    """CPU seconds used so far by another process (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(sleep: float, limit: int) -> Iterator[tuple[str, int]]:
    """This file run as the app (`start_script` passes `--port N`): its URL and pid."""
    from gbatch.testing import start_script

    with tempfile.TemporaryDirectory(prefix="gbatch-bench-server-") as logs:
        started = start_script(Path(__file__), "--sleep", str(sleep), "--limit", str(limit), log_dir=Path(logs), timeout=60)
        try:
            yield started.url, started.process.pid
        finally:
            started.stop()


# --- measuring -------------------------------------------------------------------------------------


@dataclass
class Run:
    wall: float
    cpu: float  # client CPU seconds: this process (process_time) or the child (rusage)
    ok: int
    server_cpu: float | None = None


def measured(action: Callable[[], int], server_pid: int) -> Run:
    """`action` timed: wall, this process's CPU, and (given a pid) the server's CPU."""
    server0, cpu0, wall0 = cpu_of(server_pid), time.process_time(), time.perf_counter()
    ok = action()
    run = Run(time.perf_counter() - wall0, time.process_time() - cpu0, ok)
    server1 = cpu_of(server_pid)
    run.server_cpu = server1 - server0 if server0 is not None and server1 is not None else None
    return run


def child_run(args: list[str], server_pid: int | None = None) -> tuple[Run, subprocess.CompletedProcess[str]]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server0 = cpu_of(server_pid) if server_pid else None
    wall0 = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **QUIET_ENV}, check=False)
    wall = time.perf_counter() - wall0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    run = Run(wall, cpu, 1 if done.returncode == 0 else 0)
    server1 = cpu_of(server_pid) if server_pid else None
    run.server_cpu = server1 - server0 if server0 is not None and server1 is not None else None
    return run, done


def baseline(url: str, texts: list[str], jobs: int, tls: bool = False) -> int:
    """The plain loop: one shared Client, a thread pool, predict per row.

    `tls=True` hands the Client one SSL context, as gbatch does: gradio_client otherwise
    makes httpx load the CA bundle for every job it submits, even to an http:// URL.
    """
    import httpx
    from gradio_client import Client

    extra = {"ssl_verify": httpx.create_ssl_context()} if tls else {}
    client = Client(url, download_files=False, verbose=False, analytics_enabled=False, **extra)
    try:
        def one(text: str) -> object:
            try:
                return client.predict(text, api_name=API_NAME)
            except Exception as exc:  # the plain loop has no retry: a dropped stream loses the row
                return exc

        with ThreadPoolExecutor(jobs) as pool:
            answers = list(pool.map(one, texts))
        lost = [a for a in answers if isinstance(a, Exception)]
        if lost:
            print(f"  !! plain loop: {len(lost)} row(s) failed ({type(lost[0]).__name__}: the event stream dropped?)", file=sys.stderr)
    finally:
        client.close()
    return sum(1 for text, answer in zip(texts, answers, strict=True) if answer == text)


def call_overhead(url: str, sleep: float, calls: int = 15) -> float:
    """Median seconds one predict() takes beyond the endpoint's sleep, one call at a time."""
    import httpx
    from gradio_client import Client

    client = Client(url, download_files=False, verbose=False, analytics_enabled=False, ssl_verify=httpx.create_ssl_context())
    try:
        extra = []
        for _ in range(calls):
            start = time.perf_counter()
            client.predict("x", api_name=API_NAME)
            extra.append(time.perf_counter() - start - sleep)
    finally:
        client.close()
    return statistics.median(extra)


def gbatch_library(url: str, tasks: Path, jobs: int | None, out: Path, slots: int | None = None) -> int:
    import gbatch

    server = f"{url}={slots}" if slots else url
    options = gbatch.BatchOptions(servers=[server], jobs=jobs, out=out)
    result = gbatch.run_batch(gbatch.GenericTool(API_NAME), tasks, options, say=lambda text: None)
    if result.failed or result.not_run:
        print(f"  !! gbatch: {result.failed} failed, {result.not_run} not run", file=sys.stderr)
    return result.succeeded


@dataclass
class Learned:
    ok: int
    slots: dict[str, dict[str, object]]
    by_server: dict[str, int]


def gbatch_learning(urls: list[str], tasks: Path, out: Path, jobs: int | None = None, queue_ahead: int | None = None) -> Learned:
    """One run_batch over `urls` (no URL=N); -j and --queue-ahead only when given."""
    import gbatch

    options = gbatch.BatchOptions(servers=urls, jobs=jobs, out=out)
    if queue_ahead is not None:
        options.queue_ahead = queue_ahead
    result = gbatch.run_batch(gbatch.GenericTool(API_NAME), tasks, options, say=lambda text: None)
    if result.failed or result.not_run:
        print(f"  !! gbatch: {result.failed} failed, {result.not_run} not run", file=sys.stderr)
    by_server: dict[str, int] = {}
    for row in result.rows:
        by_server[str(row.get("backend"))] = by_server.get(str(row.get("backend")), 0) + 1
    return Learned(result.succeeded, result.slots, by_server)


@dataclass
class Bench:
    """What every run of the learned-slots comparison shares."""

    rows: int
    sleep: float
    folder: Path
    tasks: Path
    texts: list[str]

    def learn(self, urls: list[str], key: str, jobs: int | None = None, queue_ahead: int | None = None) -> tuple[Run, Learned]:
        box: list[Learned] = []

        def action() -> int:
            box.append(gbatch_learning(urls, self.tasks, self.folder / f"out-{key}", jobs, queue_ahead))
            return box[0].ok

        run = measured(action, 0)
        return run, box[0]


def learned_report(args: argparse.Namespace) -> None:
    """gbatch's learned slots against the plain loop and the best hand-tuned -j, per server size."""
    import gradio_client

    import gbatch

    print(f"gbatch {gbatch.__version__}, gradio_client {gradio_client.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"{args.rows} rows per run, endpoint sleeps {args.sleep} s; best of {args.repeat} interleaved runs (the machine may be busy: compare within a block)")
    print("  slot use = the endpoint's busy time / (server slots x wall); CPU is this process's, per row\n")
    with tempfile.TemporaryDirectory(prefix="gbatch-bench-") as tmp:
        folder = Path(tmp)
        tasks = folder / "tasks.csv"
        bench = Bench(args.rows, args.sleep, folder, tasks, write_tasks(tasks, args.rows))
        for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
            one_size(bench, size, args.repeat)
        two_servers(bench, args.repeat)


def one_size(bench: Bench, size: int, repeat: int) -> None:
    n, sleep = bench.rows, bench.sleep
    with server(sleep, size) as (url, _):
        baseline(url, bench.texts[: size * 2], size)  # warm up
        ideal = math.ceil(n / size) * sleep
        print(f"server with {size} slots: ideal ceil({n}/{size}) x {sleep} = {ideal:.2f} s")
        print(f"  {'path':<44} {'wall s':>7} {'/ideal':>7} {'slot use':>9} {'CPU ms/row':>11}   learned; all walls")
        sweep = sorted({size, size + 1, size + 2, 2 * size})
        runs: dict[str, list[tuple[Run, Learned | None]]] = {}
        for i in range(repeat):  # interleaved, so a busy moment on the machine hits every path
            runs.setdefault("default", []).append(bench.learn([url], f"{size}-default-{i}"))
            plain = measured(lambda: baseline(url, bench.texts, size, tls=True), 0)
            runs.setdefault("plain", []).append((plain, None))
            for j in sweep:
                runs.setdefault(f"j{j}", []).append(bench.learn([url], f"{size}-j{j}-{i}", jobs=j, queue_ahead=j))

        def show(key: str, label: str) -> Run:
            run, learned = min(runs[key], key=lambda r: r[0].wall)
            use = n * sleep / (size * run.wall)
            what = ", ".join(f"{s['learned']} ({s['how']}, peak {s['peak']})" for s in learned.slots.values()) if learned else "-"
            walls = ", ".join(f"{r.wall:.2f}" for r, _ in runs[key])
            print(f"  {label:<44} {run.wall:7.2f} {run.wall / ideal:7.3f} {use:8.1%} {run.cpu / n * 1000:11.2f}   {what}; {walls}")
            return run

        default = show("default", "gbatch, no -j, no =N (learned)")
        plain = show("plain", f"ThreadPoolExecutor({size}) + 1 Client")
        tuned = [(j, show(f"j{j}", f"gbatch -j {j} (exactly {j} in flight)")) for j in sweep]
        best_j, best = min(tuned, key=lambda t: t[1].wall)
        print(f"  default vs the best hand-tuned (-j {best_j}): {(default.wall / best.wall - 1) * 100:+.1f} % wall; "
              f"vs the plain loop: {(default.wall / plain.wall - 1) * 100:+.1f} %\n")


def two_servers(bench: Bench, repeat: int) -> None:
    n, fast, slow = bench.rows, round(bench.sleep / 2, 3), round(bench.sleep * 1.5, 3)
    with server(fast, 4) as (fast_url, _), server(slow, 4) as (slow_url, _):
        rate = 4 / fast + 4 / slow
        print(f"two servers of 4 slots, {fast} s and {slow} s per row: ideal {n} / {rate:.1f} rows/s = {n / rate:.2f} s; "
              f"in proportion the fast one does {4 / fast / rate:.0%} of the rows")
        runs = [bench.learn([fast_url, slow_url], f"two-{i}") for i in range(repeat)]
        for run, learned in runs:
            rows_fast = sum(v for k, v in learned.by_server.items() if k.rstrip("/") == fast_url.rstrip("/"))
            print(f"  gbatch, no -j, no =N: {run.wall:.2f} s ({n / rate / run.wall:.0%} of ideal speed); the fast server did "
                  f"{rows_fast}/{n} rows ({rows_fast / n:.0%}); learned: " + ", ".join(f"{label} {s['learned']}" for label, s in learned.slots.items()))


def write_tasks(path: Path, rows: int) -> list[str]:
    texts = [f"row {i}: the quick brown fox jumps over the lazy dog" for i in range(rows)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([t] for t in texts)
    return texts


def profile(url: str, tasks: Path, jobs: int, out: Path) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    gbatch_library(url, tasks, jobs, out)
    profiler.disable()
    print("\ncProfile of the gbatch library run (main thread only), top 25 by own time:")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(25)


def validate_in_process(url: str, big: Path) -> tuple[float, float, int]:
    """read_tasks, then prepare_batch with the endpoint's GenericPlan: (read s, validate s, rows)."""
    import gbatch
    from gbatch._generic import GenericPlan
    from gbatch._prepare import prepare_batch

    session = gbatch.transports.AutoTransport().connect(url, gbatch.ConnectOptions(), 1)
    try:
        api = session.api
    finally:
        session.close()
    tool = gbatch.GenericTool(API_NAME)
    plan = GenericPlan(gbatch.choose_endpoint(api, API_NAME))
    t0 = time.perf_counter()
    task = gbatch.read_tasks(big)
    t1 = time.perf_counter()
    prepared = prepare_batch(task, [("api", plan, api)], gbatch.BatchOptions(servers=[url]), tool, {})
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, len(prepared)


def line(label: str, seconds: float, note: str = "") -> None:
    print(f"  {label:<50} {seconds:6.2f} s" + (f"   ({note})" if note else ""))


# --- the report ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--sleep", type=float, default=0.2, help="seconds the endpoint sleeps per row")
    parser.add_argument("--limit", type=int, default=4, help="the app's default_concurrency_limit")
    parser.add_argument("--repeat", type=int, default=2, help="runs of the baseline and of gbatch (best is kept)")
    parser.add_argument("--big-rows", type=int, default=100_000, help="rows of the CSV to validate")
    parser.add_argument("--profile", action="store_true", help="also profile one gbatch library run")
    parser.add_argument("--learned", action="store_true", help="compare learned slots with the plain loop and hand-tuned -j")
    parser.add_argument("--sizes", default="4,2,8", help="with --learned: the servers' slots, comma-separated")
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)  # run as the app, by `server()`
    args = parser.parse_args()
    if args.port:
        serve(args.port, args.sleep, args.limit)
        return
    if args.learned:
        learned_report(args)
        return

    import gradio_client  # noqa: F401 - imported before any timing, as both paths need it

    import gbatch

    n, jobs = args.rows, args.jobs
    ideal = math.ceil(n / jobs) * args.sleep
    print(f"gbatch {gbatch.__version__}, gradio_client {gradio_client.__version__}, Python {sys.version.split()[0]}")
    print(f"{os.cpu_count()} CPUs; {n} rows, -j {jobs}, endpoint sleeps {args.sleep} s, server limit {args.limit}")
    print(f"ideal wall time ceil({n}/{jobs}) x {args.sleep} s = {ideal:.2f} s\n")

    with tempfile.TemporaryDirectory(prefix="gbatch-bench-") as tmp, server(args.sleep, args.limit) as (url, pid):
        folder = Path(tmp)
        tasks = folder / "tasks.csv"
        texts = write_tasks(tasks, n)
        baseline(url, texts[: jobs * 2], jobs)  # warm up the server (first requests are slower)

        runs: dict[str, list[Run]] = {"baseline": [], "gbatch": [], "queued": [], "tuned": [], "cli": []}
        for i in range(args.repeat):  # interleaved, so a busy moment on the machine hits both
            runs["baseline"].append(measured(lambda: baseline(url, texts, jobs), pid))
            runs["gbatch"].append(measured(lambda i=i: gbatch_library(url, tasks, jobs, folder / f"out-lib-{i}"), pid))
            # URL=N is a cap: within it, the slots are learned from the queue.
            runs["queued"].append(measured(lambda i=i: gbatch_library(url, tasks, None, folder / f"out-q-{i}", slots=2 * args.limit), pid))
        runs["tuned"].append(measured(lambda: baseline(url, texts, jobs, tls=True), pid))
        cli_args = [str(GBATCH), "run", url, str(tasks), "-j", str(jobs), "-q", "--out", str(folder / "out-cli")]
        cli, done = child_run(cli_args, pid)  # once: it runs the same code as the library path
        if done.returncode != 0:
            print(f"  !! gbatch run exited {done.returncode}: {done.stderr.strip()[-500:]}", file=sys.stderr)
        cli.ok = n if done.returncode == 0 else 0
        runs["cli"].append(cli)

        print(f"{n} rows, best of {args.repeat} by wall time (the last two once); CPU ms/row is the client's")
        print("  slot use = the endpoint's busy time / (server concurrency x wall)")
        print(f"  {'path':<44} {'wall s':>7} {'/ideal':>7} {'slot use':>9} {'CPU ms/row':>11} {'server ms/row':>14} {'rows ok':>8}   all walls")
        labels = {
            "baseline": "ThreadPoolExecutor + 1 Client (predict)",
            "gbatch": f"gbatch.run_batch -j {jobs} (library)",
            "queued": f"gbatch.run_batch URL={2 * args.limit} (a cap; slots learned)",
            "tuned": "the same loop + one shared SSL context",
            "cli": "gbatch run ... -q (subprocess)",
        }
        busy = n * args.sleep
        best: dict[str, Run] = {}
        for key, label in labels.items():
            best[key] = min(runs[key], key=lambda r: r.wall)
            r = best[key]
            walls = ", ".join(f"{x.wall:.2f}" for x in runs[key])
            srv = f"{r.server_cpu / n * 1000:14.2f}" if r.server_cpu is not None else f"{'?':>14}"
            use = busy / (args.limit * r.wall)
            print(f"  {label:<44} {r.wall:7.2f} {r.wall / ideal:7.3f} {use:8.1%} {r.cpu / n * 1000:11.2f} {srv} {r.ok:>8}   {walls}")
        lib = best["gbatch"]
        overhead = call_overhead(url, args.sleep)
        floor = math.ceil(n / jobs) * (args.sleep + overhead)
        print(f"  one predict() at a time takes {overhead * 1000:.0f} ms beyond the sleep (median of 15); "
              f"{n} rows that each paid that: {floor:.2f} s = {floor / ideal:.3f} x ideal")
        for key in ("baseline", "tuned"):
            base = best[key]
            print(f"  gbatch - {key + ':':<9} wall {lib.wall - base.wall:+6.2f} s ({(lib.wall / base.wall - 1) * 100:+5.1f} %), "
                  f"CPU {(lib.cpu - base.cpu) / n * 1000:+7.2f} ms/row")
        print("  (the CLI's CPU includes its start-up: Python, imports, plugin loading)")

        helps = []
        for _ in range(5):
            run, done = child_run([str(GBATCH), "--help"])
            helps.append(run.wall)
        print(f"\ngbatch --help: median {statistics.median(helps) * 1000:.0f} ms of 5 "
              f"(min {min(helps) * 1000:.0f}, max {max(helps) * 1000:.0f})")
        probe = "import sys, gbatch.cli; print('gradio_client' in sys.modules, 'gradio' in sys.modules)"
        loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False).stdout.split()
        print(f"  `import gbatch.cli` loads gradio_client: {loaded[0] if loaded else '?'}; gradio: {loaded[1] if loaded else '?'}")

        big = folder / "big.csv"
        write_tasks(big, args.big_rows)
        print(f"\nValidating a {args.big_rows:,}-row CSV ({big.stat().st_size / 1e6:.1f} MB):")
        run, done = child_run([str(GBATCH), "run", url, str(big), "--dry-run", "-q", "--out", str(folder / "out-big")])
        status = "ok" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
        line("gbatch run URL big.csv --dry-run -q (subprocess)", run.wall,
             f"{status}; {len(done.stdout) / 1e6:.1f} MB printed on stdout")
        t0 = time.perf_counter()
        dry = gbatch.run_batch(
            gbatch.GenericTool(API_NAME), big, gbatch.BatchOptions(servers=[url], out=folder / "out-big2", dry_run=True),
            say=lambda text: None,
        )
        line("run_batch(dry_run=True) (in process, no printing)", time.perf_counter() - t0,
             f"{len(dry.planned):,} rows planned; connects, reads, validates")
        read_s, check_s, count = validate_in_process(url, big)
        line("read_tasks (in process)", read_s)
        line("prepare_batch with the GenericPlan (in process)", check_s, f"{count:,} rows ready")
        line("read_tasks + prepare_batch", read_s + check_s)

        if args.profile:
            profile(url, tasks, jobs, folder / "out-prof")


if __name__ == "__main__":
    main()

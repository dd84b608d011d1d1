"""How long `gbatch --help` takes, and what importing the CLI pulls in (prints figures, asserts nothing).

Run: python benchmarks/bench_startup.py [runs]

Each figure is the median of `runs` fresh processes (default 15) on this machine as it is:
on a busy machine every figure grows, so compare figures taken side by side. The goal is
`gbatch --help` under 0.15 s on an idle machine; `python -c pass` shows the floor.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time

#: modules a bare `gbatch --help` must not import: they are for when a batch runs
HEAVY = ("httpx", "gradio_client", "rich.progress", "gbatch._runner", "gbatch._cluster", "gbatch.transports.gradio_client", "gbatch.transports.gradio3", "distributed")


def median_seconds(command: list[str], runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of `runs` fresh processes.

    CPU time is what the process itself spent: it grows less than wall time when other
    processes share the CPUs, so it is the better figure on a busy machine."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def heavy_imports() -> list[str]:
    code = f"import sys, gbatch.cli; print(' '.join(m for m in sorted(sys.modules) if m.startswith({HEAVY!r})))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{runs} runs each, median; load average {load:.1f} on {os.cpu_count()} CPUs")
    rows = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("import gbatch.cli", [sys.executable, "-c", "import gbatch.cli"]),
        ("gbatch --help", [sys.executable, "-m", "gbatch", "--help"]),
        ("gbatch cosyvoice --help", [sys.executable, "-m", "gbatch", "cosyvoice", "--help"]),
    ]
    print(f"  {'':<26} {'wall':>7} {'cpu':>7}")
    for label, command in rows:
        wall, cpu = median_seconds(command, runs)
        print(f"  {label:<26} {wall:6.3f}s {cpu:6.3f}s")
    print(f"  heavy modules imported by `import gbatch.cli`: {', '.join(heavy_imports()) or 'none'}")


if __name__ == "__main__":
    main()

"""Voices that live on the server: grouped scheduling against a row-order run (prints figures, asserts nothing).

Two GPT-SoVITS stand-ins (gradio 4, `.venvs/gradio4`) load a voice in `--load` s and
speak a row in `--speak` s. The same task file (`--rows` rows over `--voices` voices, in
a random order) runs twice through `gbatch.run_batch`:

* grouped: gbatch's scheduler (`_states.StateRouter`): rows grouped by voice per server,
  voices assigned to servers for affinity, an idle server joining a long queue;
* row order: the same machinery told to take rows in file order, switching a server's
  voice whenever the next row needs another one (what a client that only makes sure
  never to mix voices would do).

Both runs are correct (no row is spoken with another voice); the figures are the voice
switches and the wall time. Then the same comparison without servers, on the
scheduler alone with simulated time, for larger batches.

Run: python benchmarks/bench_voices.py [--rows 60] [--voices 3] [--load 0.5] [--speak 0.1]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "core"))
sys.path.insert(0, str(ROOT / "plugins"))
os.environ.update({"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"})

import gbatch  # noqa: E402
import gbatch_gptsovits.tool  # noqa: E402
from gbatch._scheduler import Scheduler, ServerSlots  # noqa: E402
from gbatch._states import StateRouter  # noqa: E402
from gbatch.testing import start_script  # noqa: E402

DEMO = ROOT / "plugins" / "gbatch_gptsovits" / "demo_server.py"
WEIGHTS = ROOT / "examples" / "gptsovits"
GRADIO4 = ROOT / ".venvs" / "gradio4" / "bin" / "python"


def row_order(self: StateRouter, url: str, ready: Sequence[str | None], able: object = None) -> int | None:
    """The baseline: the next row in file order, on a server drained of any other voice."""
    if not ready:
        return None
    if ready[0] is None or ready[0] == self.current[url] or not self.running[url]:
        return 0
    return None


@contextlib.contextmanager
def policy(name: str) -> Iterator[None]:
    if name == "grouped":
        yield
        return
    with mock.patch.object(StateRouter, "choose", row_order):
        yield


def tasks(folder: Path, rows: int, voices: int, seed: int = 1) -> Path:
    names = ["alice", "bob", "carol"][:voices]
    rng = random.Random(seed)
    lines = ["id,voice,text,ref_audio,prompt_text,text_language"]
    for i in range(rows):
        voice = rng.choice(names)
        lines.append(f"r{i:03d},{voice},line {i} for {voice},{WEIGHTS / 'refs' / (voice + '.wav')},hello,en")
    path = folder / "lines.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def live(args: argparse.Namespace) -> None:
    if not GRADIO4.exists():
        print(f"skipped the live comparison: no {GRADIO4} (scripts/setup.sh builds it)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # each server its own GRADIO_TEMP_DIR: gradio 4 rewrites a cached upload in place, and two
        # servers sharing /tmp/gradio can read a reference clip the other is writing
        servers = [
            start_script(
                DEMO, "--weights", str(WEIGHTS), "--delay", str(args.speak), "--load-delay", str(args.load),
                python=GRADIO4, log_dir=folder, env={"GRADIO_TEMP_DIR": str(folder / f"gradio-{i}")},
            )
            for i in range(2)
        ]  # fmt: skip
        try:
            task_file = tasks(folder, args.rows, args.voices)
            tool = gbatch_gptsovits.tool.GptSovitsTool()
            print(f"live: {args.rows} rows, {args.voices} voices, 2 GPT-SoVITS stand-ins (load {args.load}s, speak {args.speak}s)")
            for name in ("row order", "grouped"):
                options = gbatch.BatchOptions(servers=[s.url for s in servers], out=folder / name.replace(" ", "-"), review=False)
                with policy(name):
                    began = time.monotonic()
                    result = gbatch.run_batch(tool, task_file, options, say=lambda _text: None)
                    took = time.monotonic() - began
                per_server = ", ".join(str(n) for n in result.switches.values())
                print(f"  {name:9s}: {sum(result.switches.values()):3d} switches ({per_server}), {took:6.1f}s wall, {result.succeeded}/{result.total} ok")
                for row in result.rows:
                    if row.get("status") != "ok":
                        print(f"    {row['id']}: {row.get('status')}: {row.get('error')}")
        finally:
            for server in servers:
                server.stop()


def simulated(rows: int, voices: int, servers: int, slots: int, load: float, speak: float, name: str) -> tuple[int, float]:
    """(switches, seconds) of a batch on the scheduler alone, with simulated time."""
    rng = random.Random(rows * 31 + voices)
    states: list[str | None] = [f"v{rng.randrange(voices)}" for _ in range(rows)]
    now = [0.0]
    backends = [ServerSlots(f"http://s{i}.test/", slots) for i in range(servers)]
    with policy(name):
        scheduler: Scheduler[int] = Scheduler([(str(i), i) for i in range(rows)], backends, clock=lambda: now[0], wall=lambda: now[0], states=states)
    router = scheduler.router
    assert router is not None
    free_at = {b.url: 0.0 for b in backends}  # a server runs one row (or switch) at a time: a GPU
    loaded: dict[str, str | None] = {b.url: None for b in backends}
    running: list[tuple[float, object]] = []
    switches = 0
    with policy(name):
        while not scheduler.finished:
            for start in scheduler.starts():
                url = start.backend.url
                began = max(now[0], free_at[url])
                if loaded[url] != start.row.state:
                    loaded[url], switches = start.row.state, switches + 1
                    began += load
                free_at[url] = began + speak
                running.append((free_at[url], start))
            running.sort(key=lambda pair: pair[0])
            done, start_obj = running.pop(0)
            now[0] = max(now[0], done)
            scheduler.succeeded(start_obj, 0)  # type: ignore[arg-type]
    return switches, now[0]


def offline() -> None:
    print("simulated (scheduler alone; load 5s, speak 1s per row, 2 rows at once per server):")
    for rows, voices, servers in ((60, 3, 2), (600, 6, 2), (2000, 12, 4)):
        line = [f"  {rows:5d} rows, {voices:2d} voices, {servers} servers:"]
        for name in ("row order", "grouped"):
            switches, seconds = simulated(rows, voices, servers, 2, 5.0, 1.0, name)
            line.append(f"{name} {switches:4d} switches {seconds:7.0f}s")
        print("  ".join(line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60)
    parser.add_argument("--voices", type=int, default=3)
    parser.add_argument("--load", type=float, default=0.5, help="seconds a stand-in takes to load a voice's weights")
    parser.add_argument("--speak", type=float, default=0.1, help="seconds a stand-in takes per row")
    parser.add_argument("--offline", action="store_true", help="only the simulated comparison")
    args = parser.parse_args()
    if not args.offline:
        live(args)
    offline()


if __name__ == "__main__":
    main()

"""How big the review page of a large batch is, how long it takes to write, and how fast it opens
in headless Chromium (prints figures, asserts nothing).

Each row gets its own one-second WAV, so the first write measures every waveform and the
second one reads them from the cache. The open time needs the Debian `chromium` and the
`playwright` package (no browser download); without them it is left out.

Run: python benchmarks/bench_review.py [rows]
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))  # runs from a plain checkout too

import numpy as np  # noqa: E402

from gbatch._review import write_review  # noqa: E402

CHROMIUM = os.environ.get("GBATCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TEXT = "The quick brown fox jumps over the lazy dog. 今天天气很好，我们去公园散步吧。"


def one_second_wav(rate: int = 8000) -> bytes:
    t = np.arange(rate) / rate
    samples = (np.sin(2 * np.pi * 200 * t) * np.sin(np.pi * t) * 20000).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.tobytes())
    return buffer.getvalue()


def make_batch(out: Path, rows: int) -> None:
    """A finished batch as the journal records it: one WAV per row, some failed, some warned."""
    data = one_second_wav()
    with (out / "gbatch-journal.jsonl").open("w", encoding="utf-8") as journal:
        for i in range(rows):
            rid = f"r{i:06d}"
            (out / f"{rid}.wav").write_bytes(data)
            record = {
                "id": rid,
                "line": i + 2,
                "name": rid,
                "status": "failed" if i % 97 == 0 else "ok",
                "attempts": 1,
                "ended": "2025-05-01T10:00:00.000+00:00",
                "outputs": [] if i % 97 == 0 else [f"{rid}.wav"],
                "values": {"duration": 1.0, "sample_rate": 8000},
                "error": "AppError: out of memory" if i % 97 == 0 else None,
                "warnings": ["only 0.10 s of audio for 40 characters: part of the text may be missing"] if i % 50 == 0 else [],
                "generated": {"seed": 1000 + i},
                "inputs": {"id": rid, "text": f"{TEXT} {i}", "chapter": f"ch{i // 100:04d}", "prompt_text": "The old keeper."},
                "tool": "cosyvoice",
            }
            journal.write(json.dumps(record, ensure_ascii=False) + "\n")


def open_times(page: Path, runs: int) -> list[tuple[float, float]]:
    """(seconds until the first rows are on screen, seconds until the page script finished) per run."""
    from playwright.sync_api import sync_playwright

    times = []
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            for _ in range(runs):
                tab = context.new_page()
                start = time.perf_counter()
                tab.goto(page.as_uri(), wait_until="load")
                tab.wait_for_selector("#rows .row")
                wall = time.perf_counter() - start
                times.append((wall, tab.evaluate("window.gbatchReview.ready") / 1000))
                tab.close()
        finally:
            context.close()
    return times


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        make_batch(out, rows)
        start = time.perf_counter()
        page = write_review(out)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        write_review(out)
        warm = time.perf_counter() - start
        size = page.stat().st_size
        print(f"review page, {rows:,} rows (one 1 s WAV each):")
        print(f"  page size                        {size / 1e6:7.2f} MB  ({size / rows:.0f} bytes a row)")
        print(f"  written, waveforms measured      {cold:7.2f} s")
        print(f"  written again, waveforms cached  {warm:7.2f} s")
        if not Path(CHROMIUM).exists():
            print(f"  open time: skipped, no Chromium at {CHROMIUM}")
            return
        try:
            times = open_times(page, runs=5)
        except ImportError:
            print("  open time: skipped, the playwright package is not installed")
            return
        walls, ready = [t[0] for t in times], [t[1] for t in times]
        print(f"  opens in headless Chromium       {statistics.median(walls):7.2f} s  (median of {len(times)}; first rows on screen)")
        print(f"  page script done at              {statistics.median(ready):7.2f} s  (after navigation start)")


if __name__ == "__main__":
    main()

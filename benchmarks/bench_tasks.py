"""How long `read_tasks` takes on large task files (prints figures, asserts nothing).

Run: python benchmarks/bench_tasks.py [rows]
"""

from __future__ import annotations

import functools
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))  # runs from a plain checkout too

from gbatch._tasks import read_tasks  # noqa: E402


def best_of(runs: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
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


if __name__ == "__main__":
    main()

"""Shared by the gradio 3.41.2 test apps: `--port N`, `--record FILE`, and recording what a handler received.

Tests read the record file to see what arrived on the server side (a value's Python
type, an uploaded file's base name and size), which the outputs alone cannot show.
"""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_record: Path | None = None


def parse_args() -> argparse.Namespace:
    global _record
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", default=None)
    args = parser.parse_args()
    _record = Path(args.record) if args.record else None
    return args


def record(handler: str, **received: Any) -> None:
    """Append one JSON line saying what `handler` received."""
    if _record is None:
        return
    line = json.dumps({"handler": handler, **received}, default=str)
    with _lock, _record.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def file_facts(path: str | None, orig_name: str | None = None) -> dict[str, Any] | None:
    """What a test needs to know about an uploaded file: its base name, size and first bytes."""
    if path is None:
        return None
    data = Path(path).read_bytes()
    return {"path": path, "basename": Path(path).name, "orig_name": orig_name, "size": len(data), "head": data[:16].decode("latin-1")}

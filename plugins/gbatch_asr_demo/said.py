"""The side channel between the two demo stand-ins: the CosyVoice stand-in records what it
said in each take; the SenseVoice stand-in looks a take up by its sound and reads the text back.

No offline recogniser that installs from a package registry hears espeak-ng speech well
enough for a demo, so the pair shares a folder instead. This shows the mechanism of
checking takes, never recognition quality. A take is found by its length and the shape of
its loudness over time, which survive what gbatch does to a take (a gain change for
loudness normalisation, another container such as FLAC).
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SaidLog", "distance", "envelope", "garbled"]

FRAME = 0.02  # seconds per loudness value
#: takes whose lengths differ by more than this are different takes (a client that receives
#: AAC, as from the CosyVoice web UI, gets up to 2048 samples of codec padding more)
LENGTH_TOLERANCE = 0.25
#: how far (in frames) a received take may be shifted against the recorded one (codec delay)
MAX_SHIFT = 8


def envelope(samples: np.ndarray, rate: int) -> list[float]:
    """The loudness of each FRAME of the take, scaled so the loudest frame is 1."""
    mono = np.abs(samples.astype(np.float64))
    if mono.ndim > 1:
        mono = mono.mean(axis=1)
    size = max(1, int(rate * FRAME))
    count = len(mono) // size
    if count == 0:
        return []
    frames = mono[: count * size].reshape(count, size).mean(axis=1)
    peak = frames.max()
    return [round(float(v), 3) for v in (frames / peak if peak > 0 else frames)]


def distance(recorded: np.ndarray, received: np.ndarray) -> float:
    """How unlike two loudness curves are, at the best shift of one against the other."""
    best = float("inf")
    for shift in range(-MAX_SHIFT, MAX_SHIFT + 1):
        a = recorded[max(0, -shift) :]
        b = received[max(0, shift) :]
        n = min(len(a), len(b))
        if n > 0:
            best = min(best, float(np.abs(a[:n] - b[:n]).mean()))
    return best


def garbled(text: str) -> str:
    """The text with its middle third left out, as a model that skips a phrase says it."""
    words = text.split()
    if len(words) >= 4:
        cut = max(1, len(words) // 3)
        start = len(words) // 3
        return " ".join(words[:start] + words[start + cut :])
    chars = [c for c in text if not c.isspace()]
    if len(chars) >= 4:
        cut = max(1, len(chars) // 3)
        start = len(chars) // 3
        return "".join(chars[:start] + chars[start + cut :])
    return ""


class SaidLog:
    """A folder of small JSON files, one per take said; safe for several processes."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._cache: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def record(self, samples: np.ndarray, rate: int, text: str) -> None:
        entry = {"seconds": len(samples) / rate, "envelope": envelope(samples, rate), "text": text}
        self._write(f"said-{uuid.uuid4().hex}.json", json.dumps(entry, ensure_ascii=False))

    def first_seed(self, key: str, seed: int) -> int:
        """The seed of the first take ever asked for `key` (this one, if it is the first)."""
        path = self.folder / f"first-{re.sub(r'[^0-9a-f]', '', key)}.txt"
        try:
            with open(path, "x", encoding="utf-8") as handle:
                handle.write(str(seed))
            return seed
        except FileExistsError:
            return int(path.read_text(encoding="utf-8").strip() or seed)

    def lookup(self, samples: np.ndarray, rate: int) -> str | None:
        """What was said in the take that sounds like `samples`, or None for a take never recorded."""
        seconds = len(samples) / rate if rate else 0.0
        shape = np.array(envelope(samples, rate))
        best: tuple[float, str] | None = None
        for entry in self._entries():
            if abs(entry["seconds"] - seconds) > LENGTH_TOLERANCE:
                continue
            unlike = distance(np.array(entry["envelope"]), shape)
            if best is None or unlike < best[0]:
                best = (unlike, entry["text"])
        return best[1] if best else None

    def heard(self, text: str | None) -> None:
        """Count one recognition request (tests compare it with the number of takes)."""
        with self._lock, open(self.folder / "heard.log", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(text, ensure_ascii=False) + "\n")

    def heard_count(self) -> int:
        path = self.folder / "heard.log"
        return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0

    def _entries(self) -> list[dict[str, Any]]:
        with self._lock:
            for path in self.folder.glob("said-*.json"):
                if path.name not in self._cache:
                    self._cache[path.name] = json.loads(path.read_text(encoding="utf-8"))
            return list(self._cache.values())

    def _write(self, name: str, text: str) -> None:
        partial = self.folder / f".{name}.partial"
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, self.folder / name)  # a reader never sees half a file

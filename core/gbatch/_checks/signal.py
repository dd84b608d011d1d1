"""Checks that need no model, run on every take: clipping, silence at either end, a long
silence inside, and a duration that does not fit the text. Each reports its figure.

A finding is a flag for the user (a warning in the journal and on the review page), not
a verdict: only the recogniser's score regenerates a take.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .normalize import is_cjk, normalize

__all__ = ["Finding", "Limits", "audio_findings", "duration_findings", "signal_findings"]

FRAME_SECONDS = 0.02


@dataclass(frozen=True)
class Limits:
    """When a figure is worth a flag. Silence is a frame quieter than `silence_db` dBFS."""

    clipped_fraction: float = 0.001
    lead_silence: float = 1.0
    trail_silence: float = 1.5
    inner_silence: float = 2.0
    silence_db: float = -45.0
    #: faster than this many characters (CJK) or letters a second, part of the text is missing
    max_rate: float = 40.0
    #: longer than `run_on_base` + this many seconds per character, the model ran on
    run_on_per_char: float = 1.0
    run_on_base: float = 5.0


@dataclass(frozen=True)
class Finding:
    """One check's figure; `flagged` when it is past its limit (then `message` says so)."""

    check: str
    figure: float
    unit: str
    limit: float
    flagged: bool
    message: str

    def as_record(self) -> dict[str, object]:
        return {"check": self.check, "figure": round(self.figure, 4), "unit": self.unit, "limit": self.limit, "flagged": self.flagged}


def signal_findings(samples: np.ndarray, rate: int, limits: Limits = Limits()) -> list[Finding]:
    """Clipping and silences of mono or multi-channel float samples (-1..1)."""
    mono = samples.mean(axis=1) if samples.ndim > 1 else samples
    seconds = len(mono) / rate if rate else 0.0
    clipped = _clipped_fraction(mono)
    loud = _loud_frames(mono, rate, limits.silence_db)
    if loud.any():
        first, last = int(np.argmax(loud)), int(len(loud) - 1 - np.argmax(loud[::-1]))
        lead, trail = first * FRAME_SECONDS, max(0.0, seconds - (last + 1) * FRAME_SECONDS)
        inner = _longest_run(~loud[first : last + 1]) * FRAME_SECONDS
    else:
        lead, trail, inner = seconds, 0.0, 0.0
    return [
        _finding("clipping", clipped * 100, "%", limits.clipped_fraction * 100, f"{clipped:.2%} of the samples are clipped"),
        _finding("leading silence", lead, "s", limits.lead_silence, f"{lead:.1f} s of silence before the speech"),
        _finding("trailing silence", trail, "s", limits.trail_silence, f"{trail:.1f} s of silence after the speech"),
        _finding("inner silence", inner, "s", limits.inner_silence, f"a silence of {inner:.1f} s inside the take"),
    ]


def duration_findings(seconds: float, text: str, speed: float = 1.0, limits: Limits = Limits()) -> list[Finding]:
    """Whether `seconds` of audio can hold `text` spoken at `speed` (rough bounds, not a verdict:
    no voice says 40 characters a second, and a model that loses or repeats a segment shows here)."""
    units = sum(len(u) if not is_cjk(u) else 1 for u in normalize(text).split())
    if not units or seconds <= 0:
        return []
    rate = units / seconds * speed
    longest = limits.run_on_base + units * limits.run_on_per_char / speed
    return [
        _finding("speaking rate", rate, "chars/s", limits.max_rate, f"only {seconds:.2f} s of audio for {units} characters: part of the text may be missing"),
        _finding("duration", seconds, "s", round(longest, 2), f"{seconds:.1f} s of audio for {units} characters: the model may have run on"),
    ]


def audio_findings(path: Path, text: str | None, speed: float = 1.0, limits: Limits = Limits()) -> list[Finding]:
    """Every cheap check of one audio file (those of the duration only with a `text`);
    [] for a file libsndfile cannot read (an image, say)."""
    import soundfile as sf

    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=False)
    except (RuntimeError, TypeError, ValueError):  # soundfile raises LibsndfileError, a RuntimeError
        return []
    findings = signal_findings(np.asarray(samples), int(rate), limits)
    if text:
        findings += duration_findings(len(samples) / rate if rate else 0.0, text, speed, limits)
    return findings


def flagged(findings: Sequence[Finding]) -> list[str]:
    return [f.message for f in findings if f.flagged]


def _finding(check: str, figure: float, unit: str, limit: float, message: str) -> Finding:
    return Finding(check, figure, unit, limit, figure > limit, message)


def _clipped_fraction(mono: np.ndarray) -> float:
    """Samples in flat runs (three or more equal samples) at full scale: a clipped waveform
    is cut flat, while audio normalised to full scale only touches the top."""
    if mono.size < 3:
        return 0.0
    top = np.abs(mono) >= 0.999
    flat = np.zeros(mono.size, dtype=bool)
    same = (mono[1:-1] == mono[:-2]) & (mono[1:-1] == mono[2:]) & top[1:-1]
    flat[1:-1] |= same
    flat[:-2] |= same
    flat[2:] |= same
    return float(flat.mean())


def _loud_frames(mono: np.ndarray, rate: int, silence_db: float) -> np.ndarray:
    frame = max(1, int(rate * FRAME_SECONDS))
    count = len(mono) // frame
    if count == 0:
        return np.zeros(0, dtype=bool)
    frames = mono[: count * frame].reshape(count, frame).astype(np.float64)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return np.asarray(rms > 10 ** (silence_db / 20))


def _longest_run(mask: np.ndarray) -> int:
    longest = current = 0
    for value in mask:
        current = current + 1 if value else 0
        longest = max(longest, current)
    return longest

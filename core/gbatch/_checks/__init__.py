"""Checking takes: normalisation and error rates (`score`), cheap signal checks (`signal`),
the verdict on a row's takes (`decide`), recogniser apps (`recognizer`) and the stage that
sends takes to them (`stage`). See docs/checks.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .decide import Judgement, TakeScore, Verdict, judge
from .normalize import normalize
from .score import Score, score
from .signal import Finding, Limits, audio_findings

__all__ = [
    "AUDIO_SUFFIXES",
    "Finding",
    "Judgement",
    "Limits",
    "Score",
    "TakeScore",
    "Verdict",
    "audio_findings",
    "judge",
    "normalize",
    "score",
    "take_findings",
]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif")


def take_findings(files: Sequence[Path], text: str | None, values: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The cheap checks of a take's audio files: (figures for the journal, warnings for what
    is past a limit). `values` are the row's; a numeric `speed` there scales the expected duration.
    Runs in the worker thread that saved the files."""
    speed = values.get("speed")
    factor = float(speed) if isinstance(speed, int | float) and speed > 0 else 1.0
    records: list[dict[str, Any]] = []
    warnings: list[str] = []
    for path in files:
        if path.suffix.lower() not in AUDIO_SUFFIXES:
            continue
        for finding in audio_findings(path, text, factor):
            records.append({"file": path.name, **finding.as_record()})
            if finding.flagged:
                warnings.append(f"{path.name}: {finding.message}")
    return records, warnings

"""How far what was heard is from what was meant: an error rate computed by jiwer.

Chinese, Japanese and Korean are scored per character (CER), Latin script per word
(WER); text with both is scored on one sequence of CJK characters and words, so
each script is counted in its own unit. Both sides are normalised first
(`normalize.normalize`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .normalize import is_cjk, normalize

if TYPE_CHECKING:
    import jiwer

__all__ = ["Score", "score"]

MAX_DIFFERENCES = 12


@dataclass(frozen=True)
class Score:
    """One take's score: `error` is (substitutions + deletions + insertions) / expected units."""

    error: float
    #: "cer" (CJK only), "wer" (no CJK) or "mixed"
    measure: str
    expected: str
    heard: str
    #: the edits, e.g. "-word", "+word", "word→other" (at most MAX_DIFFERENCES)
    differences: list[str] = field(default_factory=list)

    def as_record(self) -> dict[str, object]:
        return {"error": round(self.error, 4), "measure": self.measure, "expected": self.expected, "heard": self.heard, "differences": self.differences}


def score(expected: str, heard: str) -> Score:
    """Score `heard` (a recogniser's transcript) against `expected` (the row's text)."""
    ref, hyp = normalize(expected), normalize(heard)
    ref_units, hyp_units = ref.split(), hyp.split()
    cjk = sum(1 for u in ref_units if is_cjk(u))
    measure = "cer" if ref_units and cjk == len(ref_units) else "wer" if cjk == 0 else "mixed"
    if not ref_units:
        return Score(0.0 if not hyp_units else 1.0, measure, ref, hyp, [f"+{u}" for u in hyp_units[:MAX_DIFFERENCES]])
    if not hyp_units:
        return Score(1.0, measure, ref, hyp, ["(nothing heard)"])
    import jiwer  # loaded with the first take checked, not at start-up

    result = jiwer.process_words(ref, hyp)
    errors = result.substitutions + result.deletions + result.insertions
    return Score(errors / len(ref_units), measure, ref, hyp, _differences(result, ref_units, hyp_units))


def _differences(result: jiwer.WordOutput, ref: list[str], hyp: list[str]) -> list[str]:
    joiner = _joiner(ref + hyp)
    found: list[str] = []
    for chunk in result.alignments[0]:
        said = joiner.join(ref[chunk.ref_start_idx : chunk.ref_end_idx])
        heard = joiner.join(hyp[chunk.hyp_start_idx : chunk.hyp_end_idx])
        if chunk.type == "delete":
            found.append(f"-{said}")
        elif chunk.type == "insert":
            found.append(f"+{heard}")
        elif chunk.type == "substitute":
            found.append(f"{said}→{heard}")
    return found[:MAX_DIFFERENCES]


def _joiner(units: list[str]) -> str:
    return "" if units and all(is_cjk(u) for u in units) else " "

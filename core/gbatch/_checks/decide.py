"""What a row's takes so far mean: one pure function, tested without threads or servers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

__all__ = ["TakeScore", "Verdict", "Judgement", "judge"]


class Verdict(Enum):
    PASSED = "passed"  # the row is done: its best take scores within --max-error
    REGENERATE = "regenerate"  # make another take, with a new seed
    FIXED_SEED = "fixed seed"  # failed, but the same seed would give the same take: flagged, not retried
    CHECK_FAILED = "check failed"  # --takes takes made, none within --max-error
    UNCHECKED = "unchecked"  # the recogniser could not hear the latest take: wait for a re-run


#: the journal status a row ends with, per verdict (REGENERATE is not an end)
STATUS = {
    Verdict.PASSED: "ok",
    Verdict.FIXED_SEED: "check failed",
    Verdict.CHECK_FAILED: "check failed",
    Verdict.UNCHECKED: "unchecked",
    Verdict.REGENERATE: "retaking",
}


@dataclass(frozen=True)
class TakeScore:
    """A take as the decision sees it: its number and error rate (None: not checked)."""

    take: int
    error: float | None


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    #: the take that becomes the row's output: the lowest error among checked takes (the
    #: earliest on a tie), else the latest take
    best: int

    @property
    def status(self) -> str:
        return STATUS[self.verdict]


def judge(takes: Sequence[TakeScore], *, max_error: float, max_takes: int, seed_fixed: bool) -> Judgement:
    """The verdict on a row after `takes` (in the order they were made; at least one).

    A take that could not be checked is never a reason to regenerate: the recogniser's
    failure is not the take's. A row the user gave a seed is never regenerated either.
    """
    if not takes:
        raise ValueError("judge() needs at least one take")
    checked = [t for t in takes if t.error is not None]
    best = min(checked, key=lambda t: (t.error, t.take)).take if checked else takes[-1].take
    latest = takes[-1]
    if latest.error is None:
        return Judgement(Verdict.UNCHECKED, best)
    if any(t.error is not None and t.error <= max_error for t in takes):
        return Judgement(Verdict.PASSED, best)
    if seed_fixed:
        return Judgement(Verdict.FIXED_SEED, best)
    if len(takes) < max_takes:
        return Judgement(Verdict.REGENERATE, best)
    return Judgement(Verdict.CHECK_FAILED, best)

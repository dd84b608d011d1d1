"""Checking takes, for callers who score or judge takes themselves (`--check-server` does it for a batch).

`score(expected, heard)` is the error rate of a transcript against the text that was meant
(CER for Chinese/Japanese/Korean, WER for Latin script, per script for mixed text) after the
normalisation `normalize` applies to both; `judge(takes, ...)` is the pure decision on a row's
takes (pass, another take, flag a fixed seed, check failed, unchecked); `audio_findings(path, text)`
runs the cheap signal checks (clipping, silences, a duration that does not fit the text).
See docs/checks.md.
"""

from ._checks import Finding, Judgement, Limits, Score, TakeScore, Verdict, audio_findings, judge, normalize, score

__all__ = ["Finding", "Judgement", "Limits", "Score", "TakeScore", "Verdict", "audio_findings", "judge", "normalize", "score"]

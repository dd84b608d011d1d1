"""Loudness as listeners and audiobook stores measure it: integrated loudness per
ITU-R BS.1770 (pyloudnorm), in LUFS, and a true-peak ceiling in dBFS.

Audiobook stores ask for about -18 LUFS with true peaks at or below -3 dBFS; a chapter
is brought there with one gain, so its own dynamics stay as the voice made them.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ._files import Samples

__all__ = ["DEFAULT_LUFS", "DEFAULT_PEAK_DB", "loudness", "normalize_loudness", "true_peak_db"]

DEFAULT_LUFS = -18.0
DEFAULT_PEAK_DB = -3.0
#: BS.1770 gates 400 ms blocks: anything shorter has no integrated loudness
_MIN_SECONDS = 0.4
#: four times oversampling finds the peaks between samples (BS.1770-4, annex 2)
_OVERSAMPLE = 4


def loudness(samples: npt.ArrayLike, rate: int) -> float:
    """Integrated loudness in LUFS; -inf for silence or audio shorter than one 400 ms block."""
    import pyloudnorm

    data = np.asarray(samples, dtype=np.float64)
    if len(data) < _MIN_SECONDS * rate:
        return -math.inf
    with np.errstate(divide="ignore"):
        value = float(pyloudnorm.Meter(rate).integrated_loudness(data))
    return value if math.isfinite(value) else -math.inf


def true_peak_db(samples: npt.ArrayLike) -> float:
    """The highest peak in dBFS, between samples too (4x oversampled); -inf for silence."""
    from scipy.signal import resample_poly

    data = np.asarray(samples, dtype=np.float64)
    if data.size == 0:
        return -math.inf
    peak = float(np.max(np.abs(resample_poly(data, _OVERSAMPLE, 1, axis=0))))
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def normalize_loudness(samples: npt.ArrayLike, rate: int, target_lufs: float = DEFAULT_LUFS, peak_db: float = DEFAULT_PEAK_DB) -> Samples:
    """One gain that brings the integrated loudness to `target_lufs`, lowered if the true peak
    would pass `peak_db` (a plain gain, no limiter: loud-peaked speech ends up a little quieter
    rather than distorted). Audio too short or too quiet to measure is returned unchanged."""
    data: Samples = np.asarray(samples, dtype=np.float32)
    level = loudness(data, rate)
    if not math.isfinite(level):
        return np.array(data, dtype=np.float32)  # a copy
    gain_db = target_lufs - level
    peak = true_peak_db(data)
    if math.isfinite(peak) and peak + gain_db > peak_db:
        gain_db = peak_db - peak
    out: Samples = data * np.float32(10 ** (gain_db / 20))
    return out

"""Audio files on the client: reading headers, decoding, encoding, joining, subtitles.

Pure functions on soundfile + numpy, shared by every text-to-speech tool. No ffmpeg is
needed for these: they work on decoded samples or on file headers.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import soundfile as sf

Samples = npt.NDArray[np.float32]

# ADTS sampling_frequency_index -> Hz (ISO/IEC 14496-3, table 1.18); 13-15 are reserved.
_ADTS_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)

# fmt -> (libsndfile major format, subtype)
_FORMATS: dict[str, tuple[str, str]] = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
    "ogg": ("OGG", "VORBIS"),
}


@dataclass(frozen=True)
class AudioInfo:
    """What an audio file's header says."""

    samplerate: int
    frames: int
    channels: int
    duration: float


#: what libsndfile reads itself; other formats (m4a, opus, …) need ffprobe to be checked
READABLE = "wav, flac, mp3, ogg, aiff, au, caf"


def probe(path: str | os.PathLike[str]) -> AudioInfo:
    """Read only the header of an audio file: libsndfile first, then ffprobe (m4a, opus, webm,
    wma…) when it is installed. ValueError if it is missing or not audio — or if it is a format
    neither can read, saying which formats can be checked and how to enable more."""
    try:
        info = sf.info(os.fspath(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, OSError) as exc:
        found = _ffprobe(os.fspath(path))
        if found is not None:
            return found
        if shutil.which("ffprobe") is None:
            raise ValueError(
                f"{os.fspath(path)}: gbatch reads {READABLE} itself; install ffmpeg (ffprobe) to check other formats such as m4a or opus"
            ) from exc
        raise ValueError(f"{os.fspath(path)}: not a readable audio file ({exc})") from exc
    return AudioInfo(int(info.samplerate), int(info.frames), int(info.channels), float(info.duration))


def _ffprobe(path: str) -> AudioInfo | None:
    """The first audio stream's rate, channels and duration, as ffprobe reads them (None if it cannot)."""
    if shutil.which("ffprobe") is None:
        return None
    command = ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=sample_rate,channels,duration:format=duration", "-of", "json", path]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        found = json.loads(done.stdout or "{}")
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    streams = found.get("streams") or []
    if done.returncode != 0 or not streams:
        return None
    stream = streams[0]
    try:
        rate = int(stream.get("sample_rate") or 0)
        duration = float(stream.get("duration") or (found.get("format") or {}).get("duration") or 0)
    except (TypeError, ValueError):
        return None
    if rate <= 0:
        return None
    return AudioInfo(rate, round(duration * rate), int(stream.get("channels") or 1), duration)


def _skip_id3(data: bytes, pos: int) -> int:
    """Skip an ID3v2 tag at pos (HLS packed-audio segments may start with one)."""
    if data[pos : pos + 3] == b"ID3" and len(data) >= pos + 10:
        size = 0
        for b in data[pos + 6 : pos + 10]:  # syncsafe integer: 7 bits per byte
            size = (size << 7) | (b & 0x7F)
        footer = 10 if data[pos + 5] & 0x10 else 0
        return pos + 10 + size + footer
    return pos


def adts_duration(data: bytes) -> float:
    """Duration in seconds of an ADTS AAC stream (e.g. concatenated HLS ``.aac`` segments).

    Walks the frame headers: each raw data block holds 1024 samples at the frame's
    sampling rate. Raises ValueError if the bytes are not (entirely) ADTS.
    """
    pos, seconds, frames = 0, 0.0, 0
    while True:
        pos = _skip_id3(data, pos)
        if pos >= len(data):
            break
        header = data[pos : pos + 7]
        if len(header) < 7 or header[0] != 0xFF or header[1] & 0xF6 != 0xF0:  # sync word, layer 0
            raise ValueError(f"not an ADTS AAC stream (no frame sync at byte {pos})")
        rate_index = (header[2] >> 2) & 0x0F
        if rate_index >= len(_ADTS_RATES):
            raise ValueError(f"invalid ADTS sampling frequency index {rate_index} at byte {pos}")
        length = ((header[3] & 0x03) << 11) | (header[4] << 3) | (header[5] >> 5)
        if length < 7 or pos + length > len(data):
            raise ValueError(f"truncated or corrupt ADTS frame at byte {pos}")
        blocks = (header[6] & 0x03) + 1
        seconds += blocks * 1024 / _ADTS_RATES[rate_index]
        frames += 1
        pos += length
    if frames == 0:
        raise ValueError("not an ADTS AAC stream (no frames)")
    return seconds


def decode_wav_bytes(data: bytes) -> tuple[Samples, int]:
    """Decode an in-memory audio file (WAV, or anything libsndfile reads) to float32 samples.

    Mono gives shape (frames,), multi-channel (frames, channels).
    """
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise ValueError(f"cannot decode audio bytes ({exc})") from exc
    return np.asarray(samples, dtype=np.float32), int(rate)


#: kb/s for lossy formats unless told otherwise: clear speech, unlike libsndfile's default (~30 kb/s)
DEFAULT_KBPS = 128


def _mp3_bitrates(samplerate: int) -> tuple[int, int]:
    # The bitrates LAME offers at this rate: MPEG-1 (32 kHz and up), MPEG-2 (16-24 kHz), MPEG-2.5.
    if samplerate >= 32000:
        return 32, 320
    if samplerate >= 16000:
        return 8, 160
    return 8, 64


def _compression(fmt: str, samplerate: int, kbps: int) -> tuple[float, str | None] | None:
    """libsndfile's compression level (0 best … 1 smallest) for about `kbps`."""
    if fmt == "mp3":
        low, high = _mp3_bitrates(samplerate)
        wanted = min(max(kbps, low), high)
        return (high - wanted) / (high - low), "CONSTANT"
    if fmt == "ogg":
        # Vorbis is always variable. For mono audio at CosyVoice's 22-24 kHz its quality scale runs
        # from about 40 kb/s (level 1) to about 100 (level 0), close to linearly: a quality knob, not a promise.
        return min(max(1 - (kbps - 40) / 60, 0.0), 1.0), None
    return None


def write_audio(path: str | os.PathLike[str] | io.BytesIO, samples: npt.ArrayLike, samplerate: int, fmt: str, kbps: int = DEFAULT_KBPS) -> None:
    """Write samples to exactly ``path`` as wav|flac|mp3|ogg, whatever its suffix; mp3 at `kbps`
    (constant), ogg at a Vorbis quality meant to give about that.

    The format is explicit so callers can write to a temporary name and rename it.
    """
    if fmt not in _FORMATS:
        raise ValueError(f"unsupported audio format {fmt!r}; choose one of {', '.join(_FORMATS)}")
    major, subtype = _FORMATS[fmt]
    # libsndfile does not clip float->int conversions, so overs would wrap around
    data = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    target = path if isinstance(path, io.BytesIO) else os.fspath(path)
    compression = _compression(fmt, samplerate, kbps)
    if compression is None:
        sf.write(target, data, samplerate, format=major, subtype=subtype)
    else:
        level, mode = compression
        sf.write(target, data, samplerate, format=major, subtype=subtype, compression_level=level, bitrate_mode=mode)


def encode_audio(samples: npt.ArrayLike, samplerate: int, fmt: str, kbps: int = DEFAULT_KBPS) -> bytes:
    """Samples as the bytes of a wav|flac|mp3|ogg file (for an atomic write by the caller)."""
    buffer = io.BytesIO()
    write_audio(buffer, samples, samplerate, fmt, kbps)
    return buffer.getvalue()


def rms_db(samples: npt.ArrayLike) -> float:
    """RMS level in dBFS (-inf for silence or no samples)."""
    data = np.asarray(samples, dtype=np.float64)
    if data.size == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(np.square(data))))
    return 20 * math.log10(rms) if rms > 0 else -math.inf


def is_silent(samples: npt.ArrayLike, threshold_db: float = -60.0) -> bool:
    """True if no sample's magnitude reaches ``threshold_db`` dBFS (peak, not RMS)."""
    data = np.asarray(samples, dtype=np.float64)
    if data.size == 0:
        return True
    return float(np.max(np.abs(data))) < 10 ** (threshold_db / 20)


def normalize(samples: npt.ArrayLike, target_db: float) -> Samples:
    """Apply one gain so the RMS reaches ``target_db`` dBFS, then keep the peak at or below -1 dBFS.

    The peak limit is a plain gain reduction (no limiter), so loud-peaked material may end
    up below the target RMS rather than distorted. Silence is returned unchanged.
    """
    data: Samples = np.asarray(samples, dtype=np.float32)
    level = rms_db(data)
    if not math.isfinite(level):
        return np.array(data, dtype=np.float32)  # a copy
    out: Samples = data * np.float32(10 ** ((target_db - level) / 20))
    ceiling = 10 ** (-1 / 20)
    peak = float(np.max(np.abs(out)))
    if peak > ceiling:
        out *= np.float32(ceiling / peak)
    return out.astype(np.float32)


def join(
    parts: list[tuple[npt.NDArray[np.floating], int]], gap_seconds: float | Sequence[float]
) -> tuple[Samples, int, list[tuple[float, float]]]:
    """Concatenate parts in order with silence between them: ``gap_seconds`` after each
    part but the last (one number for all, or one per part).

    Returns the joined samples, the sample rate and each part's (start, end) in seconds.
    All parts must share one sample rate and channel count (no resampling here).
    """
    if not parts:
        raise ValueError("nothing to join")
    gaps = [float(gap_seconds)] * len(parts) if isinstance(gap_seconds, int | float) else [float(g) for g in gap_seconds]
    if len(gaps) != len(parts):
        raise ValueError(f"{len(gaps)} gaps for {len(parts)} parts")
    if any(g < 0 for g in gaps):
        raise ValueError(f"gap_seconds must be >= 0, not {min(gaps)}")
    rate = parts[0][1]
    shape = np.asarray(parts[0][0]).shape[1:]
    pieces: list[Samples] = []
    spans: list[tuple[float, float]] = []
    offset = 0
    for i, (samples, sr) in enumerate(parts):
        data = np.asarray(samples, dtype=np.float32)
        if sr != rate:
            raise ValueError(f"part {i} has sample rate {sr}, expected {rate}; resample first")
        if data.shape[1:] != shape:
            raise ValueError(f"part {i} has channel layout {data.shape[1:]}, expected {shape}")
        if i:
            gap = np.zeros((round(gaps[i - 1] * rate), *shape), dtype=np.float32)
            pieces.append(gap)
            offset += len(gap)
        spans.append((offset / rate, (offset + len(data)) / rate))
        pieces.append(data)
        offset += len(data)
    return np.concatenate(pieces), rate, spans


def _srt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{ms:03d}"


def srt(entries: list[tuple[float, float, str]]) -> str:
    """SubRip text for (start, end, text) cues: 1-based numbering, a blank line between cues.

    Newlines inside a cue's text are kept; empty lines are dropped because a blank
    line would end the cue early in every SRT reader.
    """
    cues = []
    for i, (start, end, text) in enumerate(entries, 1):
        if start < 0 or end < start:
            raise ValueError(f"cue {i}: invalid times {start} --> {end}")
        lines = [line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line.strip()]
        cues.append(f"{i}\n{_srt_time(start)} --> {_srt_time(end)}\n" + "\n".join(lines) + "\n")
    return "\n".join(cues)

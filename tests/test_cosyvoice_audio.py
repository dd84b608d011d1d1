"""Tests for gbatch.audio as the CosyVoice tool uses it (pure functions, no server)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from gbatch import audio

SR = 24000


def tone(seconds: float, sr: int = SR, amp: float = 0.5, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def adts_frame(rate_index: int, payload: int = 20, blocks: int = 1, channels: int = 1) -> bytes:
    """A hand-built ADTS frame: 7-byte header (no CRC) + zero payload."""
    length = 7 + payload
    profile = 1  # AAC LC (profile field = object type - 1)
    header = bytes(
        [
            0xFF,
            0xF1,  # sync, MPEG-4, layer 0, protection absent
            (profile << 6) | (rate_index << 2) | (channels >> 2),
            ((channels & 3) << 6) | (length >> 11),
            (length >> 3) & 0xFF,
            ((length & 7) << 5) | 0x1F,
            0xFC | (blocks - 1),
        ]
    )
    return header + bytes(payload)


# --- probe ------------------------------------------------------------------------------


def test_probe_reads_header(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, np.zeros((22050 * 2, 2), dtype=np.float32), 22050, subtype="PCM_16")
    info = audio.probe(path)
    assert info == audio.AudioInfo(samplerate=22050, frames=44100, channels=2, duration=2.0)
    with pytest.raises(AttributeError):
        info.samplerate = 1  # type: ignore[misc]  # frozen


def test_probe_rejects_non_audio_and_missing(tmp_path: Path) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("definitely not audio")
    with pytest.raises(ValueError, match="not a readable audio file"):
        audio.probe(text)
    with pytest.raises(ValueError, match="missing.wav"):
        audio.probe(tmp_path / "missing.wav")


def test_probe_example_voice() -> None:
    info = audio.probe(Path(__file__).parents[1] / "examples" / "voices" / "narrator.wav")
    assert info.samplerate >= 16000 and info.channels == 1 and 3 <= info.duration <= 6


# --- adts_duration ----------------------------------------------------------------------


def test_adts_duration_counts_frames() -> None:
    data = adts_frame(6) * 10  # index 6 = 24000 Hz
    assert audio.adts_duration(data) == pytest.approx(10 * 1024 / 24000)
    data = adts_frame(7, payload=50) * 3  # 22050 Hz, varying payload size
    assert audio.adts_duration(data) == pytest.approx(3 * 1024 / 22050)


def test_adts_duration_multiple_blocks_and_id3() -> None:
    id3 = b"ID3\x04\x00\x00" + bytes([0, 0, 0, 5]) + b"12345"  # 5-byte tag body
    data = id3 + adts_frame(3, blocks=2) + id3 + adts_frame(3)  # 48000 Hz
    assert audio.adts_duration(data) == pytest.approx(3 * 1024 / 48000)


@pytest.mark.parametrize(
    "data",
    [b"", b"RIFF\x00\x00\x00\x00WAVEfmt ", adts_frame(6) + b"junk-junk", adts_frame(6)[:-3], adts_frame(13)],
)
def test_adts_duration_rejects_non_adts(data: bytes) -> None:
    with pytest.raises(ValueError):
        audio.adts_duration(data)


# --- decode / write ---------------------------------------------------------------------


def test_decode_wav_bytes_roundtrip() -> None:
    buf = io.BytesIO()
    sf.write(buf, tone(0.5), SR, format="WAV", subtype="PCM_16")
    samples, sr = audio.decode_wav_bytes(buf.getvalue())
    assert sr == SR and samples.dtype == np.float32 and samples.shape == (SR // 2,)
    assert np.max(np.abs(samples - tone(0.5))) < 1e-3
    with pytest.raises(ValueError):
        audio.decode_wav_bytes(b"not audio at all")


@pytest.mark.parametrize(
    ("fmt", "major", "subtype"),
    [("wav", "WAV", "PCM_16"), ("flac", "FLAC", "PCM_16"), ("mp3", "MP3", "MPEG_LAYER_III"), ("ogg", "OGG", "VORBIS")],
)
def test_write_audio_roundtrip(tmp_path: Path, fmt: str, major: str, subtype: str) -> None:
    assert major in sf.available_formats()
    path = tmp_path / f"out.{fmt}.part"  # a temp name: the format must not come from the suffix
    audio.write_audio(path, tone(1.0), SR, fmt)
    info = sf.info(path)
    assert (info.format, info.subtype, info.samplerate, info.channels) == (major, subtype, SR, 1)
    data, sr = sf.read(path, dtype="float32")
    assert sr == SR
    assert abs(len(data) / sr - 1.0) < 0.1  # lossy codecs add or trim a little
    if fmt in ("wav", "flac"):
        assert np.max(np.abs(data - tone(1.0))) < 1e-3
    else:
        assert 0.2 < np.max(np.abs(data)) < 0.8


def test_write_audio_clips_and_rejects_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "loud.wav"
    audio.write_audio(path, np.array([2.0, -2.0, 0.5], dtype=np.float32), SR, "wav")
    data, _ = sf.read(path, dtype="float32")
    assert data[0] > 0.99 and data[1] < -0.99  # clipped, not wrapped around
    with pytest.raises(ValueError, match="unsupported"):
        audio.write_audio(tmp_path / "x.aac", tone(0.1), SR, "aac")


# --- levels -----------------------------------------------------------------------------


def test_is_silent() -> None:
    assert audio.is_silent(np.zeros(100))
    assert audio.is_silent(np.array([]))
    assert audio.is_silent(np.full(10, 10 ** (-70 / 20)))
    assert not audio.is_silent(np.full(10, 10 ** (-50 / 20)))
    assert audio.is_silent(np.full(10, 10 ** (-50 / 20)), threshold_db=-40)


def test_rms_db() -> None:
    assert audio.rms_db(np.zeros(10)) == -math.inf
    assert audio.rms_db(np.ones(10)) == pytest.approx(0.0)
    assert audio.rms_db(tone(1.0, amp=1.0)) == pytest.approx(-3.0103, abs=0.01)


def test_normalize_reaches_target_rms() -> None:
    out = audio.normalize(tone(1.0, amp=0.05), -20.0)
    assert out.dtype == np.float32
    assert audio.rms_db(out) == pytest.approx(-20.0, abs=0.01)


def test_normalize_limits_peak_to_minus_1_dbfs() -> None:
    spiky = np.zeros(1000, dtype=np.float32)
    spiky[::100] = 0.5  # low RMS, high crest factor
    out = audio.normalize(spiky, -10.0)
    assert np.max(np.abs(out)) == pytest.approx(10 ** (-1 / 20), rel=1e-5)
    assert audio.rms_db(out) < -10.0


def test_normalize_leaves_silence_alone() -> None:
    silence = np.zeros(100, dtype=np.float32)
    out = audio.normalize(silence, -20.0)
    assert not np.any(out) and out is not silence


# --- join / srt -------------------------------------------------------------------------


def test_join_timings() -> None:
    parts = [(tone(1.0), SR), (tone(0.5), SR), (tone(0.25), SR)]
    joined, sr, spans = audio.join(parts, 0.5)
    assert sr == SR and joined.dtype == np.float32
    assert len(joined) == int((1.0 + 0.5 + 0.5 + 0.5 + 0.25) * SR)
    assert spans == [(0.0, 1.0), (1.5, 2.0), (2.5, 2.75)]
    assert not np.any(joined[SR : int(1.5 * SR)])  # the gap is silence


def test_join_no_gap_and_errors() -> None:
    joined, _, spans = audio.join([(tone(0.5), SR), (tone(0.5), SR)], 0.0)
    assert len(joined) == SR and spans == [(0.0, 0.5), (0.5, 1.0)]
    with pytest.raises(ValueError, match="sample rate"):
        audio.join([(tone(0.5), SR), (tone(0.5, sr=22050), 22050)], 0.1)
    with pytest.raises(ValueError):
        audio.join([], 0.1)
    with pytest.raises(ValueError, match="channel"):
        audio.join([(tone(0.1), SR), (np.zeros((10, 2), dtype=np.float32), SR)], 0.1)


def test_srt_format_exact() -> None:
    text = audio.srt([(0.0, 1.5, "Hello."), (1.5, 3723.0456, "第一行\n第二行"), (3723.5, 3724.0, "end")])
    assert text == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello.\n"
        "\n"
        "2\n00:00:01,500 --> 01:02:03,046\n第一行\n第二行\n"
        "\n"
        "3\n01:02:03,500 --> 01:02:04,000\nend\n"
    )


def test_srt_edge_cases() -> None:
    assert audio.srt([]) == ""
    assert audio.srt([(59.9999, 60.0, "a\r\n\r\nb")]) == "1\n00:01:00,000 --> 00:01:00,000\na\nb\n"
    with pytest.raises(ValueError):
        audio.srt([(2.0, 1.0, "backwards")])

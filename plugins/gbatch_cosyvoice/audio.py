"""The audio helpers the CosyVoice tool uses; they live in `gbatch.audio`, shared by every
text-to-speech tool, and are named here too for code that imported them from this plugin."""

from gbatch.audio import (
    DEFAULT_KBPS,
    READABLE,
    AudioInfo,
    Samples,
    adts_duration,
    decode_wav_bytes,
    encode_audio,
    is_silent,
    join,
    normalize,
    probe,
    rms_db,
    srt,
    write_audio,
)

__all__ = [
    "DEFAULT_KBPS",
    "READABLE",
    "AudioInfo",
    "Samples",
    "adts_duration",
    "decode_wav_bytes",
    "encode_audio",
    "is_silent",
    "join",
    "normalize",
    "probe",
    "rms_db",
    "srt",
    "write_audio",
]

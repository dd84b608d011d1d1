"""Audio shared by every text-to-speech tool: reading and writing files, joining rows into
chapters with subtitles, loudness per ITU-R BS.1770, and one chaptered audiobook file."""

from ._container import BookAudio, BookChapter, write_book
from ._files import (
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
from ._joining import JOINED_DIR, PAUSE_COLUMN, BookInfo, Joined, join_book, join_groups
from ._loudness import DEFAULT_LUFS, DEFAULT_PEAK_DB, loudness, normalize_loudness, true_peak_db

__all__ = [
    "DEFAULT_KBPS",
    "DEFAULT_LUFS",
    "DEFAULT_PEAK_DB",
    "JOINED_DIR",
    "PAUSE_COLUMN",
    "READABLE",
    "AudioInfo",
    "BookAudio",
    "BookChapter",
    "BookInfo",
    "Joined",
    "Samples",
    "adts_duration",
    "decode_wav_bytes",
    "encode_audio",
    "is_silent",
    "join",
    "join_book",
    "join_groups",
    "loudness",
    "normalize",
    "normalize_loudness",
    "probe",
    "rms_db",
    "srt",
    "true_peak_db",
    "write_audio",
    "write_book",
]

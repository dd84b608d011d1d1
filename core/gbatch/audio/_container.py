"""One finished file for a whole book: chapters in order with a chapter mark each,
title, author and cover. `.m4b` (AAC in MP4, what audiobook players expect) or `.mp3`
with ID3v2 chapter frames (CHAP + CTOC).

The audio is written block by block (a chapter at a time), never held whole: a
ten-hour book would be gigabytes of samples. AAC is encoded with PyAV, whose wheel
carries its own FFmpeg: nothing to install on the machine. mutagen adds the cover to
the m4b and writes the mp3's tags and chapter frames.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["BookAudio", "BookChapter", "write_book"]

FORMATS = (".m4b", ".mp3")


@dataclass(frozen=True)
class BookChapter:
    """A chapter's title and where it starts and ends in the book's audio, in seconds."""

    title: str
    start: float
    end: float


@dataclass(frozen=True)
class BookAudio:
    """A whole book: its audio as blocks of samples in order (mono, or frames x channels),
    its chapters and tags. The chapters are known before the audio is written (from the
    chapters' lengths), since the file's header counts them."""

    blocks: Iterable[npt.NDArray[np.floating]]
    rate: int
    channels: int
    chapters: Sequence[BookChapter]
    title: str | None = None
    author: str | None = None
    cover: bytes | None = None  # JPEG or PNG


def write_book(book: BookAudio, path: Path, kbps: int = 64) -> Path:
    """Write `path` (.m4b or .mp3) atomically: a temporary file beside it, renamed when whole."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path.name}: an audiobook is .m4b or .mp3")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    try:
        if suffix == ".m4b":
            _write_m4b(book, Path(temp), kbps)
        else:
            _write_mp3(book, Path(temp), kbps)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return path


def _planes(block: npt.NDArray[np.floating], channels: int) -> npt.NDArray[np.float32]:
    data = np.clip(np.asarray(block, dtype=np.float32), -1.0, 1.0)
    return np.ascontiguousarray(data.reshape(len(data), channels).T)  # channels x frames, as AVFrame planes


def _write_m4b(book: BookAudio, path: Path, kbps: int) -> None:
    import av

    layout = "mono" if book.channels == 1 else "stereo"
    # the M4B brand tells players it is an audiobook (bookmarks, chapters), not music
    with av.open(str(path), "w", format="ipod", options={"brand": "M4B "}) as container:
        stream = container.add_stream("aac", rate=book.rate, layout=layout)
        stream.bit_rate = kbps * 1000 * book.channels
        if book.title:
            container.metadata["title"] = book.title
            container.metadata["album"] = book.title
        if book.author:
            container.metadata["artist"] = book.author
        container.metadata["genre"] = "Audiobook"
        base = Fraction(1, 1000)
        container.set_chapters(
            [
                {"id": n, "start": round(c.start * 1000), "end": round(c.end * 1000), "time_base": base, "metadata": {"title": c.title}}
                for n, c in enumerate(book.chapters, 1)
            ]
        )
        pts = 0
        step = 1024 * 16
        for block in book.blocks:
            planes = _planes(block, book.channels)
            for offset in range(0, planes.shape[1], step):
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planes[:, offset : offset + step]), format="fltp", layout=layout)
                frame.sample_rate = book.rate
                frame.pts = pts
                pts += frame.samples
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    if book.cover:
        from mutagen.mp4 import MP4, MP4Cover

        tagged = MP4(str(path))
        kind = MP4Cover.FORMAT_PNG if book.cover[:4] == b"\x89PNG" else MP4Cover.FORMAT_JPEG
        tagged["covr"] = [MP4Cover(book.cover, imageformat=kind)]
        tagged.save()


def _write_mp3(book: BookAudio, path: Path, kbps: int) -> None:
    import soundfile as sf
    from mutagen.id3 import APIC, CHAP, CTOC, ID3, TIT2, TPE1, CTOCFlags

    from ._files import _compression

    compression = _compression("mp3", book.rate, kbps)
    level, mode = compression if compression is not None else (None, None)
    with sf.SoundFile(str(path), "w", book.rate, book.channels, "MPEG_LAYER_III", format="MP3", compression_level=level, bitrate_mode=mode) as out:
        for block in book.blocks:
            out.write(np.clip(np.asarray(block, dtype=np.float32), -1.0, 1.0))
    tags = ID3()
    if book.title:
        tags.add(TIT2(encoding=3, text=book.title))
    if book.author:
        tags.add(TPE1(encoding=3, text=book.author))
    ids = [f"ch{n}" for n in range(1, len(book.chapters) + 1)]
    tags.add(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED, child_element_ids=ids, sub_frames=[TIT2(encoding=3, text="Chapters")]))
    for element, chapter in zip(ids, book.chapters, strict=True):
        tags.add(
            CHAP(
                element_id=element,
                start_time=round(chapter.start * 1000),
                end_time=round(chapter.end * 1000),
                sub_frames=[TIT2(encoding=3, text=chapter.title)],
            )
        )
    if book.cover:
        mime = "image/png" if book.cover[:4] == b"\x89PNG" else "image/jpeg"
        tags.add(APIC(encoding=3, mime=mime, type=3, desc="Cover", data=book.cover))
    tags.save(str(path))

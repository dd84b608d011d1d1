"""Joining rows' audio into one file per group (a chapter), with subtitles, and a whole
book into one chaptered file. Used after a batch by every text-to-speech tool."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._columns import normalize_key
from .._errors import UsageError
from .._outputs import atomic_write, sanitize
from ._container import BookAudio, BookChapter, write_book
from ._files import Samples, encode_audio, join, srt
from ._loudness import DEFAULT_LUFS, DEFAULT_PEAK_DB, normalize_loudness

__all__ = ["JOINED_DIR", "Joined", "join_book", "join_groups"]

JOINED_DIR = "joined"
#: the task column that holds the silence after a row, in seconds (books write it)
PAUSE_COLUMN = "pause"


@dataclass(frozen=True)
class Joined:
    """One joined group: its value, its audio and subtitle files, and its cues."""

    group: str
    audio: Path
    subtitles: Path
    seconds: float
    cues: list[tuple[float, float, str]]


def _cell(row: Mapping[str, Any], column: str) -> Any:
    # The converted value first: the column may be fed by an alias (`spk_id` for speaker)
    # or only by a command-line default; otherwise the task file's own cell.
    inputs = row.get("inputs") or {}
    if inputs.get(column) is not None:
        return inputs[column]
    cells = row.get("row") or {}
    key = next((k for k in cells if normalize_key(k) == normalize_key(column)), None)
    return None if key is None else cells[key]


def _group_of(row: Mapping[str, Any], column: str) -> Any:
    value = _cell(row, column)
    if value is None and not any(normalize_key(k) == normalize_key(column) for k in row.get("row") or {}):
        raise UsageError(f"--join {column!r}: the task file has no such column")
    return value


def _pause(row: Mapping[str, Any], gap: float) -> float:
    value = _cell(row, PAUSE_COLUMN)
    try:
        return gap if value in (None, "") else max(0.0, float(value))
    except (TypeError, ValueError):
        return gap


def _caption(row: Mapping[str, Any], text_column: str) -> str:
    # The text as written (a lexicon may have changed what was sent).
    inputs = row.get("inputs") or {}
    written = inputs.get(f"{text_column}_as_written")
    return str(written if written is not None else inputs.get(text_column) or _cell(row, text_column) or "")


def join_groups(
    rows: Sequence[Mapping[str, Any]],
    out_dir: Path,
    column: str,
    gap: float,
    fmt: str,
    say: Callable[[str], None],
    kbps: int = 128,
    *,
    normalize: float | None = None,
    text_column: str = "text",
) -> list[Joined]:
    """Join each group's outputs (rows sharing a value in `column`), in row order.

    The silence after a row is its `pause` cell (books write one: by what ended the piece),
    else `gap` seconds. With `normalize` (LUFS), each joined group is brought to that
    integrated loudness (true peak at most -3 dBFS). Writes `<out>/joined/<group>.<fmt>` and
    `<group>.srt`; a group with a row that did not succeed is left out (and said so), since
    its audio would have a hole.
    """
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(_group_of(row, column)), []).append(row)
    joined: list[Joined] = []
    for group, members in groups.items():
        done = _join_one(group, members, out_dir, column, gap, fmt, say, kbps, normalize, text_column)
        if done is not None:
            joined.append(done)
    return joined


def _join_one(
    group: str,
    members: Sequence[Mapping[str, Any]],
    out_dir: Path,
    column: str,
    gap: float,
    fmt: str,
    say: Callable[[str], None],
    kbps: int,
    normalize: float | None,
    text_column: str,
) -> Joined | None:
    import soundfile as sf

    unfinished = [str(m["id"]) for m in members if m.get("status") != "ok" or not m.get("outputs")]
    if unfinished:
        say(f"not joining {column}={group!r}: {len(unfinished)} row(s) not done ({', '.join(unfinished[:5])})")
        return None
    try:
        parts = []
        for member in members:
            data, rate = sf.read(str(out_dir / member["outputs"][0]), dtype="float32", always_2d=False)
            parts.append((data, int(rate)))
        samples, rate, spans = join(parts, [_pause(m, gap) for m in members])
    except (sf.LibsndfileError, ValueError) as exc:
        # e.g. AAC kept from a server without ffprobe: libsndfile cannot read it back
        say(f"not joining {column}={group!r}: {exc}")
        return None
    if normalize is not None:
        samples = normalize_loudness(samples, rate, normalize, DEFAULT_PEAK_DB)
    name = sanitize(group)
    audio_path = atomic_write(out_dir / JOINED_DIR / f"{name}.{fmt}", encode_audio(samples, rate, fmt, kbps))
    cues = [(start, end, _caption(m, text_column)) for (start, end), m in zip(spans, members, strict=True)]
    srt_path = atomic_write(out_dir / JOINED_DIR / f"{name}.srt", srt(cues).encode("utf-8"))
    seconds = len(samples) / rate
    say(f"joined {column}={group}: {len(members)} rows, {seconds:.1f} s -> {audio_path} (+ {srt_path.name})")
    return Joined(group, audio_path, srt_path, seconds, cues)


@dataclass(frozen=True)
class BookInfo:
    """What goes into the finished file besides the audio."""

    title: str | None = None
    author: str | None = None
    cover: bytes | None = None


def join_book(
    chapters: Sequence[tuple[str, Path, Sequence[tuple[float, float, str]]]],
    target: Path,
    info: BookInfo,
    chapter_gap: float = 2.0,
    normalize: float | None = DEFAULT_LUFS,
) -> tuple[Path, Path]:
    """The joined chapters (title, audio file, cues) in order as one chaptered `.m4b`/`.mp3`,
    and one `.srt` beside it for the whole book. Each chapter is brought to `normalize` LUFS
    on its own (so chapters sound alike) unless None. Chapters are read one at a time: the
    book is never in memory whole. Returns (audiobook, subtitles)."""
    import soundfile as sf

    if not chapters:
        raise UsageError("no chapter was joined: nothing to put into the audiobook")
    lengths: list[int] = []
    rate = channels = 0
    for title, audio, _ in chapters:
        try:
            found = sf.info(str(audio))
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise UsageError(f"chapter {title!r}: cannot read {audio} ({exc})") from None
        if rate and (found.samplerate, found.channels) != (rate, channels):
            raise UsageError(f"chapter {title!r}: {found.samplerate} Hz, {found.channels} channel(s), unlike the chapters before it")
        rate, channels = int(found.samplerate), int(found.channels)
        lengths.append(int(found.frames))
    gap = round(chapter_gap * rate)
    starts = [sum(lengths[:n]) + n * gap for n in range(len(lengths))]
    marks = [BookChapter(title, start / rate, (start + length) / rate) for (title, _, _), start, length in zip(chapters, starts, lengths, strict=True)]

    def blocks() -> Iterator[Samples]:
        for n, (_, audio, _) in enumerate(chapters):
            if n:
                yield np.zeros((gap, channels) if channels > 1 else gap, dtype=np.float32)
            data, _ = sf.read(str(audio), dtype="float32", always_2d=False)
            yield normalize_loudness(data, rate, normalize) if normalize is not None else data

    book = write_book(BookAudio(blocks(), rate, channels, marks, info.title, info.author, info.cover), target)
    cues = [(start + mark.start, end + mark.start, text) for (_, _, chapter_cues), mark in zip(chapters, marks, strict=True) for start, end, text in chapter_cues]
    subtitles = atomic_write(target.with_suffix(".srt"), srt(cues).encode("utf-8"))
    return book, subtitles

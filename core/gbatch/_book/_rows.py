"""A book as ordinary task rows (id, chapter, voice, text, pause, the voice's columns), and
voices given to the rows of an ordinary task file.

Piece ids are made from the piece's own text (a hash), so editing, inserting or deleting
one sentence changes that piece's id only: every other piece keeps its id, its output file
and its journal entry. The same text twice gets `-2`, `-3`… in reading order.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .._errors import Problem, ValidationError
from .._tasks import TaskFile, TaskRow
from ._reading import Book, read_book
from ._splitting import split_text
from ._voices import DEFAULT_VOICE, Voices, voice_segments

__all__ = ["BookOptions", "Pauses", "book_rows", "is_book", "piece_id", "split_book", "voice_rows"]

#: CosyVoice's own text frontend cuts Chinese at 80 characters (token_max_n=80, counted in characters for Chinese)
DEFAULT_MAX_CHARS = 80
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Pauses:
    """Seconds of silence after a piece, by what ended it."""

    sentence: float = 0.4
    paragraph: float = 0.8
    chapter: float = 2.0
    #: a long sentence cut at a clause boundary
    clause: float = 0.2

    @classmethod
    def parse(cls, text: str) -> Pauses:
        """`SENTENCE,PARAGRAPH,CHAPTER` seconds (a fourth number sets the clause pause)."""
        try:
            numbers = [float(part) for part in text.split(",")]
        except ValueError:
            raise ValueError(f"--pauses {text!r}: expected SENTENCE,PARAGRAPH,CHAPTER seconds, e.g. 0.4,0.8,2") from None
        if not 3 <= len(numbers) <= 4 or any(n < 0 for n in numbers):
            raise ValueError(f"--pauses {text!r}: expected three (or four) numbers of seconds, 0 or more")
        return cls(*numbers)


@dataclass
class BookOptions:
    """How a book becomes rows, and what is made of it after the batch. Mirrors the CLI flags."""

    #: read a .txt task file as a book (a .md or .epub always is one)
    book: bool = False
    voices: Path | None = None
    lexicon: Path | None = None
    #: the longest piece in characters (default: the tool's, else DEFAULT_MAX_CHARS)
    max_chars: int | None = None
    #: join a short piece (fewer characters than this) with the next when both fit
    merge_under: int = 0
    chapter_pattern: str | None = None
    pauses: Pauses = field(default_factory=Pauses)
    #: the column that gets each piece's text (default: the tool's text column, else "text")
    text_column: str | None = None
    #: write the whole book to this .m4b or .mp3
    audiobook: Path | None = None
    title: str | None = None
    author: str | None = None
    #: join each chapter (`gbatch run`: tools with a --join of their own do it themselves)
    join: str | None = None
    #: bring each joined chapter to this loudness (LUFS)
    normalize: float | None = None
    gap: float = 0.5
    encoding: str | None = None


def is_book(path: Path, options: BookOptions | None) -> bool:
    suffix = path.suffix.lower()
    return suffix in (".md", ".markdown", ".epub") or (suffix == ".txt" and options is not None and options.book)


def piece_id(text: str) -> str:
    """A piece's id from its text alone (spaces folded): `s` and 10 hex digits of BLAKE2b."""
    digest = hashlib.blake2b(_SPACES.sub(" ", text.strip()).encode("utf-8"), digest_size=5).hexdigest()
    return f"s{digest}"


@dataclass
class _Piece:
    chapter: str
    voice: str | None
    text: str
    line: int
    pause: float


def book_rows(
    path: Path, options: BookOptions, text_column: str, max_chars: int, voices: Voices | None, book: Book | None = None
) -> tuple[TaskFile, Book]:
    """The book's pieces as a task file: columns id, chapter, [voice], TEXT, pause and the
    voices' columns. `ValidationError` for an unknown voice (file and line), an empty chapter
    or a book that cannot be read."""
    book = book or read_book(path, options.chapter_pattern, options.encoding)
    pieces: list[_Piece] = []
    problems: list[Problem] = []
    pauses = options.pauses
    for chapter in book.chapters:
        file = str(path) + (f"!{chapter.source}" if chapter.source else "")
        for p_index, paragraph in enumerate(chapter.paragraphs):
            segments, unknown = voice_segments(paragraph.text, voices, None)
            problems.extend(voices.unknown(name, file, paragraph.line) for name in dict.fromkeys(unknown) if voices)
            for s_index, (voice, words) in enumerate(segments):
                parts = [p for p in split_text(words, max_chars, options.merge_under) if p.strip()]
                for n, part in enumerate(parts):
                    end = "clause" if not re.search(r"[。！？!?.…；;”」』\"')）]\s*$", part) else "sentence"
                    if n == len(parts) - 1 and s_index == len(segments) - 1:
                        end = "chapter" if p_index == len(chapter.paragraphs) - 1 else "paragraph"
                    pieces.append(_Piece(chapter.title, voice, part.strip(), paragraph.line, getattr(pauses, end)))
    if problems:
        raise ValidationError(problems)
    return _task_file(path, pieces, text_column, voices), book


def _task_file(path: Path, pieces: list[_Piece], text_column: str, voices: Voices | None) -> TaskFile:
    named = voices is not None or any(p.voice for p in pieces)
    columns = ["id", "chapter", *(["voice"] if named else []), text_column, "pause", *(voices.columns if voices else [])]
    seen: dict[str, int] = {}
    rows = []
    for piece in pieces:
        base = piece_id(piece.text)
        seen[base] = seen.get(base, 0) + 1
        row_id = base if seen[base] == 1 else f"{base}-{seen[base]}"
        values: dict[str, object] = {"chapter": piece.chapter, text_column: piece.text, "pause": piece.pause}
        if voices is not None:
            voice = voices.get(piece.voice or DEFAULT_VOICE)
            assert voice is not None  # unknown voices were reported above
            values["voice"] = voice.name
            values.update(voice.values)
        elif piece.voice:
            values["voice"] = piece.voice
        rows.append(TaskRow(row_id, piece.line, {"id": row_id, **values}))
    return TaskFile(path, "book", "utf-8", columns, rows)


def voice_rows(task: TaskFile, voices: Voices, text_column: str, is_empty: Callable[[object], bool]) -> TaskFile:
    """An ordinary task file's rows with their voice's columns filled in where the row leaves
    them empty. The voice: the row's `voice` cell, else a leading `[voice=NAME]` tag or
    `Name:` prefix of its text (taken out), else `default`."""
    header = next((h for h in task.columns if h.strip().casefold() == "voice"), None)
    problems: list[Problem] = []
    rows: list[TaskRow] = []
    for row in task.rows:
        values = dict(row.values)
        name = str(values.get(header) or "").strip() if header else ""
        text = values.get(text_column)
        if not name and isinstance(text, str):
            segments, unknown = voice_segments(text, voices, None)
            problems.extend(voices.unknown(n, str(task.path), row.line, text_column) for n in dict.fromkeys(unknown))
            if segments and segments[0][0]:
                name = str(segments[0][0])
                values[text_column] = "".join(words for _, words in segments)
        voice = voices.get(name or DEFAULT_VOICE)
        if voice is None:
            problems.append(voices.unknown(name or DEFAULT_VOICE, str(task.path), row.line, header or "voice"))
            continue
        values[header or "voice"] = voice.name
        for column, cell in voice.values.items():
            own = next((k for k in values if k.strip().casefold() == column.strip().casefold()), column)
            if is_empty(values.get(own)):
                values[own] = cell
        rows.append(TaskRow(row.id, row.line, values))
    if problems:
        raise ValidationError(problems)
    extra = [c for c in ([header or "voice"] + voices.columns) if c.strip().casefold() not in {h.strip().casefold() for h in task.columns}]
    return TaskFile(task.path, task.format, task.encoding, [*task.columns, *extra], rows, task.delimiter, task.notes)


def split_book(path: Path, options: BookOptions | None, text_column: str = "text", output: Path | None = None) -> int:
    """`gbatch split`: the book's rows (id, chapter, voice, text, pause) as CSV, to `output`
    (written whole, then renamed) or to standard output. Returns the number of pieces."""
    import csv
    import io
    import sys

    from .._outputs import atomic_write
    from ._voices import read_voices

    options = options or BookOptions(book=True)
    voices = read_voices(options.voices, lambda header: False, lambda source: None) if options.voices else None
    task, _ = book_rows(path, options, text_column, options.max_chars or DEFAULT_MAX_CHARS, voices)
    columns = [c for c in task.columns if c in ("id", "chapter", "voice", text_column, "pause")]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in task.rows:
        writer.writerow([row.values.get(c, "") for c in columns])
    if output is None:
        sys.stdout.write(buffer.getvalue())
    else:
        atomic_write(output, buffer.getvalue().encode("utf-8"))
    return len(task.rows)

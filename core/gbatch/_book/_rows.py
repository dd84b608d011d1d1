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
from dataclasses import dataclass
from pathlib import Path

from .._errors import TaskFileProblem, ValidationError
from .._tasks import TaskFile, TaskRow
from ._options import DEFAULT_MAX_CHARS, BookOptions
from ._reading import Book, read_book
from ._splitting import split_text
from ._voices import DEFAULT_VOICE, Voices, voice_segments

__all__ = ["book_rows", "piece_id", "split_book", "voice_rows"]

_SPACES = re.compile(r"\s+")
#: a piece that ends like this ended a sentence; otherwise a long sentence was cut at a clause
_SENTENCE_END = re.compile(r"[。！？!?.…；;”」』\"')）]\s*$")

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
    problems: list[TaskFileProblem] = []
    pauses = options.pauses
    for chapter in book.chapters:
        file = str(path) + (f"!{chapter.source}" if chapter.source else "")
        for p_index, paragraph in enumerate(chapter.paragraphs):
            segments, unknown = voice_segments(paragraph.text, voices, None)
            problems.extend(voices.unknown(name, file, paragraph.line) for name in dict.fromkeys(unknown) if voices)
            for s_index, (voice, words) in enumerate(segments):
                parts = [p for p in split_text(words, max_chars, options.merge_under) if p.strip()]
                for n, part in enumerate(parts):
                    end = "sentence" if _SENTENCE_END.search(part) else "clause"
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
    problems: list[TaskFileProblem] = []
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

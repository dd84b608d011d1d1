"""A book (or voices and a lexicon) in a batch: the rows it makes for a plan, and the
finished chapters and audiobook after it."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._columns import Column, normalize_key
from .._errors import TaskFileProblem, UsageError, ValidationError
from .._outputs import sanitize
from .._tasks import TaskFile
from .._tool import Plan
from ._lexicon import Lexicon, read_lexicon
from ._options import DEFAULT_MAX_CHARS, BookOptions, is_book
from ._reading import Book
from ._rows import book_rows, voice_rows
from ._voices import Voices, read_voices

__all__ = ["BookRun", "start_book"]

_AUDIO = (".wav", ".flac", ".mp3", ".ogg")


@dataclass
class BookRun:
    """What a batch knows about its book: the options, the text column, the lexicon, and the
    book itself when the task file is one (its title, author and cover)."""

    options: BookOptions
    text_column: str
    lexicon: Lexicon | None
    book: Book | None
    #: when the batch started: a joined chapter older than this is from an earlier run (stale)
    started: float = field(default_factory=time.time)

    def finish(self, rows: Sequence[Mapping[str, Any]], out_dir: Path, say: Callable[[str], None]) -> None:
        """After the plan's own `finish`: join chapters (`gbatch run --join`), write the audiobook."""
        from ..audio import join_groups

        if self.options.join:
            join_groups(rows, out_dir, self.options.join, self.options.gap, "wav", say, normalize=self.options.normalize, text_column=self.text_column)
        if self.options.audiobook:
            self._audiobook(rows, out_dir, say)

    def _audiobook(self, rows: Sequence[Mapping[str, Any]], out_dir: Path, say: Callable[[str], None]) -> None:
        from ..audio import DEFAULT_LUFS, JOINED_DIR, BookInfo, join_book, join_groups

        target = self.options.audiobook
        assert target is not None
        undone = [str(r.get("id")) for r in rows if r.get("status") != "ok"]
        if undone:
            say(f"not writing {target.name}: {len(undone)} piece(s) not done ({', '.join(undone[:5])}); run the same command again")
            return
        titles = list(dict.fromkeys(str(_chapter(r)) for r in rows))
        folder = out_dir / JOINED_DIR
        missing = [t for t in titles if _joined_audio(folder, t, self.started) is None]
        if missing:
            # The tool did not join by chapter in this run (no --join chapter): join what the book needs.
            wanted = [r for r in rows if str(_chapter(r)) in missing]
            join_groups(wanted, out_dir, "chapter", self.options.gap, "wav", say, text_column=self.text_column)
        chapters = []
        for title in titles:
            audio = _joined_audio(folder, title, self.started)
            if audio is None:
                raise UsageError(f"chapter {title!r} could not be joined: no audiobook written")
            chapters.append((title, audio, _cues(audio.with_suffix(".srt"))))
        info = BookInfo(
            self.options.title or (self.book.title if self.book else None),
            self.options.author or (self.book.author if self.book else None),
            self.book.cover if self.book else None,
        )
        path = target if target.is_absolute() else out_dir / target
        normalize = self.options.normalize if self.options.normalize is not None else DEFAULT_LUFS
        book, subtitles = join_book(chapters, path, info, self.options.pauses.chapter, normalize)
        say(f"audiobook: {len(chapters)} chapters -> {book} (+ {subtitles.name})")


def _chapter(row: Mapping[str, Any]) -> Any:
    inputs = row.get("inputs") or {}
    if inputs.get("chapter") is not None:
        return inputs["chapter"]
    cells = row.get("row") or {}
    key = next((k for k in cells if normalize_key(k) == "chapter"), None)
    if key is None:
        raise UsageError("--audiobook needs a chapter for each row (a book, or a 'chapter' column)")
    return cells[key]


def _joined_audio(folder: Path, title: str, since: float) -> Path | None:
    """The chapter's joined audio written by this run (the newest, whatever its format)."""
    name = sanitize(title)
    fresh = [path for path in (folder / f"{name}{suffix}" for suffix in _AUDIO) if path.is_file() and path.stat().st_mtime >= since]
    return max(fresh, key=lambda path: path.stat().st_mtime, default=None)


def _cues(path: Path) -> list[tuple[float, float, str]]:
    from .._review import parse_srt

    return parse_srt(path.read_text(encoding="utf-8")) if path.is_file() else []


def start_book(tasks: Path | None, task: TaskFile | None, options: BookOptions | None, plans: Sequence[Plan]) -> tuple[TaskFile | None, BookRun | None]:
    """The batch's rows when the task file is a book, or when voices are given; the plans'
    columns get `chapter`, `voice` and `pause` (journaled, shown on the review page, never sent)."""
    reading = tasks is not None and is_book(tasks, options)
    if not reading and (options is None or not (options.voices or options.lexicon or options.audiobook or options.join)):
        return task, None
    options = options or BookOptions()
    first = plans[0]
    text_column = options.text_column or first.text_column
    columns = {normalize_key(c.name): c for c in first.columns}
    if not text_column or normalize_key(text_column) not in columns:
        raise UsageError(
            "this tool declares no text column to put a book's pieces in: with `gbatch run`, name the endpoint's text parameter with --text-param"
            if not text_column
            else f"the text column {text_column!r} is not a parameter of this endpoint (it has: {', '.join(c.name for c in first.columns)})"
        )
    text_column = columns[normalize_key(text_column)].name
    voices = _voices(options.voices, first) if options.voices else None
    book = None
    if reading:
        assert tasks is not None
        max_chars = options.max_chars or first.max_chars or DEFAULT_MAX_CHARS
        task, book = book_rows(tasks, options, text_column, max_chars, voices)
    elif voices is not None and task is not None:
        task = voice_rows(task, voices, text_column, columns[normalize_key(text_column)].is_empty)
    if options.audiobook and task is not None and not any(normalize_key(h) == "chapter" for h in task.columns):
        # Said now, not after every row was spoken.
        raise UsageError(f"--audiobook needs a chapter for each row: {task.path} has no 'chapter' column (a book has one)")
    for plan in plans:
        plan.text_column = text_column  # `gbatch run --text-param` names it for a plan that could not
        plan.columns = _with_book_columns(plan.columns, voices is not None)
    lexicon = read_lexicon(options.lexicon) if options.lexicon else None
    return task, BookRun(options, text_column, lexicon, book)


def _voices(path: Path, plan: Plan) -> Voices:
    from ..audio import probe

    columns = plan.columns
    files = {key for c in columns if c.kind in ("file", "files") for key in c.match_keys()}

    def check(source: Path) -> str | None:
        try:
            probe(source)
        except ValueError as exc:
            return f"not an audio file: {exc}"
        return None

    voices = read_voices(path, lambda header: normalize_key(header) in files, check)
    known = {key for c in columns for key in c.match_keys()}
    strangers = [h for h in voices.columns if normalize_key(h) not in known]
    if strangers:
        # A misspelt voice column would silently not be sent: say which columns a voice can set.
        offered = ", ".join(plan.voice_columns or [c.name for c in columns if c.name != plan.text_column])
        raise ValidationError([TaskFileProblem(str(path), 1, h, f"{h!r} is not a column of this tool; a voice sets: {offered}") for h in strangers])
    return voices


def _with_book_columns(columns: Sequence[Column], voices: bool) -> list[Column]:
    names = {normalize_key(c.name) for c in columns}
    extra = [
        Column("chapter", option=False, help="The chapter a piece belongs to."),
        Column("pause", kind="float", option=False, help="Seconds of silence after the piece when joined."),
        *([Column("voice", option=False, help="The voice (a row of voices.csv).")] if voices else []),
    ]
    return [*columns, *(c for c in extra if normalize_key(c.name) not in names)]

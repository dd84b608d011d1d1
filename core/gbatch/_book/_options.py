"""A book's settings: light enough for `BatchOptions` to hold without importing the readers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEFAULT_MAX_CHARS", "BookOptions", "Pauses", "is_book"]

#: CosyVoice's own text frontend cuts Chinese at 80 characters (token_max_n=80, counted in characters for Chinese)
DEFAULT_MAX_CHARS = 80


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



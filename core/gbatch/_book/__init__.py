"""Books as task rows: reading TXT, Markdown and EPUB into chapters, cutting them into
pieces a speech model reads well, stable piece ids, voices and a pronunciation lexicon.

What comes out is an ordinary `TaskFile`, so validation, the journal, resuming and the
review page work on a book as on any task file. Only the settings (`BookOptions`) are
imported with this package; the readers arrive on first use of their names.
"""

import importlib as _importlib
import typing as _typing

from ._options import DEFAULT_MAX_CHARS, BookOptions, Pauses, is_book

if _typing.TYPE_CHECKING:
    from ._lexicon import Lexicon, read_lexicon
    from ._reading import BOOK_SUFFIXES, DEFAULT_CHAPTER_PATTERN, Book, Chapter, Paragraph, read_book
    from ._rows import book_rows, piece_id, split_book, voice_rows
    from ._splitting import cut_sentence, protected_spans, sentences, split_text
    from ._voices import DEFAULT_VOICE, Voice, Voices, read_voices, voice_segments

_LAZY = {
    "._lexicon": ("Lexicon", "read_lexicon"),
    "._reading": ("BOOK_SUFFIXES", "DEFAULT_CHAPTER_PATTERN", "Book", "Chapter", "Paragraph", "read_book"),
    "._rows": ("book_rows", "piece_id", "split_book", "voice_rows"),
    "._splitting": ("cut_sentence", "protected_spans", "sentences", "split_text"),
    "._voices": ("DEFAULT_VOICE", "Voice", "Voices", "read_voices", "voice_segments"),
}
_LAZY_HOME = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY_HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "BOOK_SUFFIXES",
    "DEFAULT_CHAPTER_PATTERN",
    "DEFAULT_MAX_CHARS",
    "DEFAULT_VOICE",
    "Book",
    "BookOptions",
    "Chapter",
    "Lexicon",
    "Paragraph",
    "Pauses",
    "Voice",
    "Voices",
    "book_rows",
    "cut_sentence",
    "is_book",
    "piece_id",
    "protected_spans",
    "read_book",
    "read_lexicon",
    "read_voices",
    "sentences",
    "split_book",
    "split_text",
    "voice_rows",
    "voice_segments",
]

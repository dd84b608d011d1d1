"""Books as task rows: reading TXT, Markdown and EPUB into chapters, cutting them into
pieces a speech model reads well, stable piece ids, voices and a pronunciation lexicon.

What comes out is an ordinary `TaskFile`, so validation, the journal, resuming and the
review page work on a book as on any task file.
"""

from ._lexicon import Lexicon, read_lexicon
from ._reading import BOOK_SUFFIXES, DEFAULT_CHAPTER_PATTERN, Book, Chapter, Paragraph, read_book
from ._rows import DEFAULT_MAX_CHARS, BookOptions, Pauses, book_rows, is_book, piece_id, split_book, voice_rows
from ._splitting import cut_sentence, protected_spans, sentences, split_text
from ._voices import DEFAULT_VOICE, Voice, Voices, read_voices, voice_segments

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

"""Cutting text into the pieces a speech model reads well: sentences, and a sentence longer
than the limit at its best clause boundary.

Sentences come from sentencex (measured against pysbd: it keeps a closing quote with its
sentence in Chinese and mixed text — `他说：“你好。”` stays whole, where pysbd's Chinese mode
cuts before the `”` — knows `Dr.`, `U.S.`, `3.14` and `Wait...`, and reads a 1 MB book in
about 0.2 s, pysbd in over a minute; wtpsplit-lite was ruled out unmeasured, since its
neural models are fetched from a model hub when first used). It is wrapped where it falls
short for Chinese: it does not end a sentence at `；` or `……`, it takes `Dr.` glued to
Chinese (`走了！Dr. Smith`) for a sentence end, and a boundary must never fall inside
CosyVoice markup, a word or a number.

Every function here returns slices of its input: joined, they are the input, so nothing
is lost.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable

__all__ = ["CLAUSE_ENDS", "cut_sentence", "protected_spans", "sentences", "split_text"]

#: what ends a clause, best place to cut a long sentence (after it)
CLAUSE_ENDS = "，、；：,;:—–"
_CLOSERS = "”’」』）)]】》〉\"'"
_EXTRA_ENDS = re.compile(r"(?:；|…{2,}|……)(?=[^" + re.escape(_CLOSERS) + r"…\s])")
_MARKUP_PATTERN = (
    r"<\|[^|<>]{1,40}\|>"  # <|endofprompt|>
    r"|<(\w+)[^<>]{0,80}>.*?</\1>"  # <strong>…</strong>: tag, content and its end tag
    r"|<[^<>\s][^<>]{0,80}>"  # a lone tag
    r"|\w?(?:\[[^\[\]\s]{1,24}\])+"  # [breath], 好[h][ǎo]: brackets and the character they mark
)
_MARKUP = re.compile(_MARKUP_PATTERN, re.DOTALL)
_PROTECTED = re.compile(
    _MARKUP_PATTERN
    + r"|[+\-]?\d+(?:[.,:/]\d+)*%?"  # 3.14, 1,000, 12:30, 50%
    + r"|[A-Za-z\u00c0-\u024f]+(?:['’\-][A-Za-z\u00c0-\u024f]+)*",  # a Latin-script word
    re.DOTALL,
)


def protected_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every stretch no cut may fall inside: markup, numbers, words."""
    return [match.span() for match in _PROTECTED.finditer(text)]


class _Inside:
    """Whether a cut at a position would fall strictly inside a protected span."""

    def __init__(self, text: str, markup_only: bool = False) -> None:
        if markup_only:
            # A sentence end is never inside a word or a number; markup is all it can split.
            spans = [m.span() for m in _MARKUP.finditer(text)] if ("<" in text or "[" in text) else []
        else:
            spans = protected_spans(text)
        self._starts = [s for s, _ in spans]
        self._ends = [e for _, e in spans]

    def __call__(self, position: int) -> bool:
        i = bisect.bisect_right(self._starts, position - 1) - 1
        return i >= 0 and self._starts[i] < position < self._ends[i]


def sentences(text: str) -> list[str]:
    """The sentences of `text`, each with its closing quotes, brackets and trailing spaces."""
    import sentencex

    ends: set[int] = set()
    position = 0
    # "en" rules: sentencex's Chinese rules are the same for 。！？, and it knows English abbreviations
    for segment in sentencex.segment("en", text):
        position += len(segment)
        ends.add(position)
    ends.update(match.end() for match in _EXTRA_ENDS.finditer(text))
    inside = _Inside(text, markup_only=True)
    cuts: list[int] = []
    for end in sorted(ends):
        if _abbreviation_before(text, end):
            continue
        # Closing quotes, ellipses and spaces that follow a sentence end belong to it.
        while end < len(text) and (text[end] in _CLOSERS or text[end] == "…" or text[end].isspace()):
            end += 1
        if 0 < end < len(text) and not inside(end) and (not cuts or end > cuts[-1]):
            cuts.append(end)
    return _slices(text, cuts)


_LAST_WORD = re.compile(r"([A-Za-z][A-Za-z.]{0,8})\.\s*$")


def _abbreviation_before(text: str, end: int) -> bool:
    """sentencex knows `Dr.` after a space, not glued to Chinese (`走了！Dr. Smith`): ask it
    about the word alone."""
    found = _LAST_WORD.search(text, max(0, end - 12), end)
    glued = found is not None and found.start() > 0 and not text[found.start() - 1].isascii()
    return glued and end < len(text) and found is not None and _is_abbreviation(found.group(1))


@functools.lru_cache(maxsize=512)
def _is_abbreviation(word: str) -> bool:
    import sentencex

    return len(list(sentencex.segment("en", f"See {word}. Smith"))) == 1


def _slices(text: str, cuts: Iterable[int]) -> list[str]:
    pieces, start = [], 0
    for cut in cuts:
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return [p for p in pieces if p]


def cut_sentence(sentence: str, max_chars: int) -> list[str]:
    """A sentence longer than `max_chars` cut at clause boundaries (，、；：— , ; :), else at a
    space, else between two characters — never inside a word, a number or markup. A stretch
    that cannot be cut (markup longer than the limit) is kept whole, longer than the limit."""
    if len(sentence.strip()) <= max_chars:
        return [sentence]
    inside = _Inside(sentence)
    cuts: list[int] = []
    start = 0
    while len(sentence) - start > max_chars:
        cut = _best_cut(sentence, start, start + max_chars, inside)
        if cut is None:
            break
        cuts.append(cut)
        start = cut
    return _slices(sentence, cuts)


def _best_cut(text: str, start: int, limit: int, inside: _Inside) -> int | None:
    def allowed(position: int) -> bool:
        return start < position < len(text) and not inside(position)

    floor = start + max(1, (limit - start) // 3)  # a cut this early leaves a crumb: prefer later ones
    for low in (floor, start + 1):
        for position in range(limit, low - 1, -1):
            if text[position - 1] in CLAUSE_ENDS and allowed(position):
                return _after_spaces(text, position)
    for position in range(limit, start, -1):
        if text[position - 1].isspace() and allowed(position):
            return position
    for position in range(limit, start, -1):
        if allowed(position) and text[position] not in CLAUSE_ENDS + _CLOSERS + "。！？!?.…":
            return position
    # Nothing fits under the limit: the first place after it (past the markup).
    return next((p for p in range(limit + 1, len(text)) if allowed(p)), None)


def _after_spaces(text: str, position: int) -> int:
    while position < len(text) and (text[position].isspace() or text[position] in _CLOSERS):
        position += 1
    return position


def split_text(text: str, max_chars: int, merge_under: int = 0) -> list[str]:
    """`text` (one paragraph) as pieces of at most `max_chars` (where it can be cut), as slices.

    With `merge_under`, a piece shorter than that joins the next one when both fit the limit
    (a lone "是的。" reads better with its neighbour)."""
    pieces = [piece for sentence in sentences(text) for piece in cut_sentence(sentence, max_chars)]
    if merge_under <= 0:
        return pieces
    merged: list[str] = []
    for piece in pieces:
        if merged and len(merged[-1].strip()) < merge_under and len(merged[-1]) + len(piece.strip()) <= max_chars:
            merged[-1] += piece
        else:
            merged.append(piece)
    return merged

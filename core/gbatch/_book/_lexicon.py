"""`lexicon.tsv`: a word and what to send instead, one pair a line (`WORD<TAB>REPLACEMENT`;
`#` starts a comment). The replacement is plain text or model markup (CosyVoice's pinyin
`[h][ào]` for a polyphone). Latin-script words match whole words only (`Dr` not in
`Drive`), case as written; Chinese matches exactly. Markup in the text is left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .._errors import TaskFileProblem, ValidationError

__all__ = ["Lexicon", "read_lexicon"]

_MARKUP = re.compile(r"<\|[^|<>]{1,40}\|>|<[^<>\s][^<>]{0,80}>|(?:\[[^\[\]\s]{1,24}\])+")
_WORDISH = re.compile(r"[0-9A-Za-z\u00c0-\u024f_]")


@dataclass(frozen=True)
class Lexicon:
    path: Path
    entries: tuple[tuple[str, str], ...]
    pattern: re.Pattern[str] | None

    def apply(self, text: str) -> str:
        """`text` with every entry replaced, markup untouched."""
        if self.pattern is None:
            return text
        pattern, table = self.pattern, dict(self.entries)
        parts, position = [], 0
        for markup in _MARKUP.finditer(text):
            parts.append(pattern.sub(lambda m: table[m.group(0)], text[position : markup.start()]))
            parts.append(markup.group(0))
            position = markup.end()
        parts.append(pattern.sub(lambda m: table[m.group(0)], text[position:]))
        return "".join(parts)


def _entry_pattern(word: str) -> str:
    # Whole words for Latin script: no letter or digit may touch the match on a side where the word has one.
    head = r"(?<![0-9A-Za-z\u00c0-\u024f_])" if _WORDISH.match(word[0]) else ""
    tail = r"(?![0-9A-Za-z\u00c0-\u024f_])" if _WORDISH.match(word[-1]) else ""
    return head + re.escape(word) + tail


def read_lexicon(path: Path) -> Lexicon:
    """Read lexicon.tsv; `ValidationError` with each bad line."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError([TaskFileProblem(file, None, None, f"cannot read the lexicon ({exc})")]) from None
    entries: dict[str, str] = {}
    lines: dict[str, int] = {}
    problems: list[TaskFileProblem] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        word, tab, replacement = line.partition("\t")
        word = word.strip()
        if not tab or not word:
            problems.append(TaskFileProblem(file, number, None, "expected WORD<TAB>REPLACEMENT"))
            continue
        if word in entries:
            problems.append(TaskFileProblem(file, number, None, f"{word!r} is already on line {lines[word]}"))
            continue
        entries[word], lines[word] = replacement.strip(), number
    if problems:
        raise ValidationError(problems)
    # Longest first: "New York" before "New".
    words = sorted(entries, key=len, reverse=True)
    pattern = re.compile("|".join(_entry_pattern(w) for w in words)) if words else None
    return Lexicon(path, tuple(entries.items()), pattern)

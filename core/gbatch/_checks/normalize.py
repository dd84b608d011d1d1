"""Text as a score compares it: the documented normalisation of docs/checks.md.

Both the expected text (the row's) and the heard text (the recogniser's) go through
the same steps, so a difference that is only spelling — a comma, a capital, 23 against
twenty-three, 後 against 后, "don't" against "do not", SenseVoice's emoji — costs nothing.
The tool's own markup (CosyVoice's `<|endofprompt|>`, `[breath]`, `[h][ào]`, an
instruct prefix) is removed first: it is never spoken.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

__all__ = ["is_cjk", "normalize", "strip_decorations", "strip_markup", "tokens"]

# `<|endofprompt|>`, `<|zh|>`, `<|HAPPY|>`: special tokens, never spoken.
_SPECIAL = re.compile(r"<\|[^|>]*\|>")
# `[breath]`, `[laughter]`, `[h][ào]` (CosyVoice's pronunciation marks), `<strong>…</strong>` tags.
_TAGS = re.compile(r"\[[^\]]*\]|</?[A-Za-z][^>]*>")
_MARKER = "<|endofprompt|>"
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\u3100-\u312f\u1100-\u11ff]")


def strip_markup(text: str) -> str:
    """The text without the tool's markup: what comes before `<|endofprompt|>` (an instruct
    prefix or system prompt), special `<|…|>` tokens, `[…]` tags and `<tag>`s."""
    head, sep, tail = text.rpartition(_MARKER)
    text = tail if sep else text
    return _TAGS.sub(" ", _SPECIAL.sub(" ", text))


def strip_decorations(text: str) -> str:
    """The text without a recogniser's decorations: SenseVoice's `<|…|>` tokens and the
    emoji it puts before (sound events) and after (emotion) what it heard."""
    text = _SPECIAL.sub(" ", text)
    return "".join(" " if unicodedata.category(c) in ("So", "Sk", "Cs") or c in "\ufe0f\u200d" else c for c in text)


def is_cjk(char: str) -> bool:
    return bool(_CJK.fullmatch(char))


def normalize(text: str) -> str:
    """Lower-case text of words and CJK characters separated by spaces (see the module doc)."""
    text = unicodedata.normalize("NFKC", strip_decorations(strip_markup(text)))
    text = _simplified(text)
    text = _numbers_spelt(text)
    text = _contractions().process_string(text.casefold().replace("\u2019", "'"))
    # Punctuation of every script becomes a space; an apostrophe inside a word goes ("o'clock").
    text = re.sub(r"(?<=\w)'(?=\w)", "", text)
    text = "".join(" " if unicodedata.category(c).startswith(("P", "S")) else c for c in text)
    return " ".join(tokens(text))


def tokens(text: str) -> list[str]:
    """Words of Latin (and other spaced) scripts, and each CJK character on its own."""
    out: list[str] = []
    for word in text.split():
        run = ""
        for char in word:
            if is_cjk(char):
                if run:
                    out.append(run)
                    run = ""
                out.append(char)
            else:
                run += char
        if run:
            out.append(run)
    return out


# The libraries below load only when a take is checked: a batch without --check-server
# (or a dry run) does not pay for them at start-up (cn2an alone takes 150 ms).


@functools.cache
def _contractions() -> Any:
    import jiwer

    return jiwer.ExpandCommonEnglishContractions()


@functools.cache
def _converter() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def _simplified(text: str) -> str:
    # Traditional and simplified characters are the same word; recognisers pick either.
    return str(_converter().convert(text)) if _CJK.search(text) else text


def _numbers_spelt(text: str) -> str:
    """Digits as words: Chinese numerals beside CJK text, English words elsewhere."""

    def spell(match: re.Match[str]) -> str:
        digits = match.group().replace(",", "")
        before, after = text[max(0, match.start() - 1) : match.start()], text[match.end() : match.end() + 1]
        if _CJK.search(before + after):
            import cn2an

            return str(cn2an.an2cn(digits))
        from num2words import num2words

        return " " + str(num2words(float(digits) if "." in digits else int(digits), lang="en")) + " "

    return _NUMBER.sub(spell, text)

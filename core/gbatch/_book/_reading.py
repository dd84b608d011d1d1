"""Reading a book into chapters of paragraphs: plain text, Markdown, EPUB.

Each paragraph keeps the line it starts on (in the file, or in the EPUB document it
comes from), so every later problem can name it.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .._errors import TaskFileProblem, ValidationError

__all__ = ["BOOK_SUFFIXES", "DEFAULT_CHAPTER_PATTERN", "Book", "Chapter", "Paragraph", "read_book"]

BOOK_SUFFIXES = (".md", ".markdown", ".epub", ".txt")

#: plain-text chapter lines: 第一章 / 第1章 / 第十二回 (with a title after), Chapter 1 / CHAPTER IV / Chapter One
DEFAULT_CHAPTER_PATTERN = (
    r"^\s*(第[0-9０-９零〇一二三四五六七八九十百千两]+[章回节卷](?:\s.*|[：:].*)?"
    r"|(?i:chapter)\s+(?:\d+|[IVXLCDM]+|[A-Za-z]+)\b.*)\s*$"
)
_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")


@dataclass(frozen=True)
class Paragraph:
    text: str
    line: int


@dataclass
class Chapter:
    title: str
    line: int
    paragraphs: list[Paragraph] = field(default_factory=list)
    #: the EPUB document it comes from (lines count in there), else None
    source: str | None = None


@dataclass
class Book:
    path: Path
    chapters: list[Chapter]
    title: str | None = None
    author: str | None = None
    cover: bytes | None = None


def read_book(path: Path, chapter_pattern: str | None = None, encoding: str | None = None) -> Book:
    """Read a `.md`, `.epub` or `.txt` book; `ValidationError` naming the file (and line) if it
    cannot be read, or if a chapter has no text."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ValidationError([TaskFileProblem(str(path), None, None, "no such file")])
    if suffix == ".epub":
        book = _read_epub(path)
    else:
        text = _decode(path, encoding)
        book = _read_markdown(path, text) if suffix in (".md", ".markdown") else _read_text(path, text, chapter_pattern)
    empty = [TaskFileProblem(str(path) + (f"!{c.source}" if c.source else ""), c.line, "chapter", f"chapter {c.title!r} has no text") for c in book.chapters if not c.paragraphs]
    if not book.chapters:
        empty.append(TaskFileProblem(str(path), None, None, "the book has no text"))
    if empty:
        raise ValidationError(empty)
    return book


def _decode(path: Path, encoding: str | None) -> str:
    data = path.read_bytes()
    try:
        return data.decode(encoding or "utf-8-sig")
    except (UnicodeDecodeError, LookupError) as exc:
        raise ValidationError([TaskFileProblem(str(path), None, None, f"cannot decode as {encoding or 'UTF-8'} ({exc}); give --encoding")]) from None


# --- plain text --------------------------------------------------------------------------


def _read_text(path: Path, text: str, chapter_pattern: str | None) -> Book:
    try:
        heading = re.compile(chapter_pattern or DEFAULT_CHAPTER_PATTERN)
    except re.error as exc:
        raise ValidationError([TaskFileProblem(str(path), None, "--chapter-pattern", f"not a regular expression: {exc}")]) from None
    chapters: list[Chapter] = []
    lines: list[str] = []
    start = 0

    def flush() -> None:
        # A paragraph ends at a blank line or a chapter line; text before the first chapter
        # line is a chapter named after the file.
        if lines:
            if not chapters:
                chapters.append(Chapter(path.stem, start))
            chapters[-1].paragraphs.append(Paragraph(_joined_lines(lines), start))
        lines.clear()

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if heading.match(line):
            flush()
            chapters.append(Chapter(line, number))
        elif not line:
            flush()
        else:
            if not lines:
                start = number
            lines.append(line)
    flush()
    return Book(path, chapters)


def _joined_lines(lines: list[str]) -> str:
    """Lines of one paragraph as one text: a space between words, nothing between CJK characters."""
    text = lines[0]
    for line in lines[1:]:
        text += ("" if _CJK.match(text[-1:]) and _CJK.match(line[:1]) else " ") + line
    return text


# --- Markdown ----------------------------------------------------------------------------


def _read_markdown(path: Path, text: str) -> Book:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(text)
    headings = [(int(t.tag[1]), i) for i, t in enumerate(tokens) if t.type == "heading_open"]
    levels = sorted({level for level, _ in headings})
    title = None
    chapter_level = levels[0] if levels else 0
    top = [i for level, i in headings if level == chapter_level]
    # One top heading before any other (a `# Title` over `## Chapter`s) names the book.
    if len(top) == 1 and len(levels) > 1 and headings[0][1] == top[0]:
        title = _inline_text(tokens[top[0] + 1])
        chapter_level = levels[1]
    title_at = top[0] if title is not None else -1
    chapters: list[Chapter] = []
    for i, token in enumerate(tokens):
        if token.type != "inline" or i == title_at + 1:
            continue
        line = (token.map[0] + 1) if token.map else 0
        words = _inline_text(token)
        opener = tokens[i - 1]
        if opener.type == "heading_open" and int(opener.tag[1]) == chapter_level:
            chapters.append(Chapter(words, line))
            continue
        if not words:
            continue
        if not chapters:
            chapters.append(Chapter(title or path.stem, line))
        chapters[-1].paragraphs.append(Paragraph(words, line))  # a lower heading is read as a paragraph
    return Book(path, chapters, title=title)


def _inline_text(token: object) -> str:
    """An inline token as the words it shows: emphasis and links unwrapped, inline HTML
    (CosyVoice's `<strong>`) kept as written, line breaks joined."""
    parts: list[str] = []
    for child in getattr(token, "children", None) or []:
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
    return _joined_lines([p for p in "".join(parts).split("\n") if p.strip()] or [""]).strip()


# --- EPUB --------------------------------------------------------------------------------

_BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "div", "dd", "dt", "pre")


def _read_epub(path: Path) -> Book:
    import ebooklib
    from ebooklib import epub

    if not zipfile.is_zipfile(path):
        raise ValidationError([TaskFileProblem(str(path), None, None, "not an EPUB: an EPUB is a zip archive, and this file is not one")])
    try:
        book = epub.read_epub(str(path), options={"ignore_ncx": False})
    except Exception as exc:  # noqa: BLE001 - ebooklib raises bare exceptions (KeyError, EpubException) for broken books
        raise ValidationError([TaskFileProblem(str(path), None, None, f"not a readable EPUB ({type(exc).__name__}: {exc})")]) from None
    titles = dict(_toc_titles(book.toc))
    chapters: list[Chapter] = []
    for item_id, _linear in book.spine:
        item = book.get_item_with_id(item_id)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT or isinstance(item, epub.EpubNav):
            continue
        paragraphs, heading = _xhtml_paragraphs(item.get_content())
        href = item.get_name()
        if not paragraphs and href not in titles:
            continue  # a cover or title page with no text
        title = titles.get(href) or heading or f"Chapter {len(chapters) + 1}"
        if paragraphs and heading and paragraphs[0].text == heading:
            paragraphs = paragraphs[1:]  # the heading is the chapter's title, not its text
        chapters.append(Chapter(title, paragraphs[0].line if paragraphs else 1, paragraphs, source=href))
    return Book(path, chapters, title=_meta(book, "title"), author=_meta(book, "creator"), cover=_cover(book))


def _toc_titles(toc: object) -> Iterator[tuple[str, str]]:
    """(document href, title) for every TOC entry, the first entry of a document winning."""
    from ebooklib import epub

    seen: set[str] = set()
    stack = list(toc) if isinstance(toc, list | tuple) else [toc]
    for entry in stack:
        if isinstance(entry, tuple):
            section, children = entry[0], entry[1]
            yield from _toc_titles([section, *children])
            continue
        if isinstance(entry, epub.Link | epub.Section) and getattr(entry, "href", None):
            href = str(entry.href).split("#", 1)[0]
            if href not in seen:
                seen.add(href)
                yield href, str(entry.title)


def _xhtml_paragraphs(content: bytes) -> tuple[list[Paragraph], str | None]:
    import lxml.html

    try:
        root = lxml.html.fromstring(content)
    except Exception:  # noqa: BLE001 - lxml's errors for an empty or broken document
        return [], None
    paragraphs: list[Paragraph] = []
    heading = None
    for element in root.iter(*_BLOCKS):
        if any(child.tag in _BLOCKS for child in element.iterchildren()):
            continue  # a container: its blocks are read one by one
        text = _joined_lines([line.strip() for line in element.text_content().splitlines() if line.strip()] or [""]).strip()
        if not text:
            continue
        if heading is None and element.tag in ("h1", "h2", "h3"):
            heading = text
        paragraphs.append(Paragraph(text, element.sourceline or 1))
    return paragraphs, heading


def _meta(book: object, name: str) -> str | None:
    found = book.get_metadata("DC", name)  # type: ignore[attr-defined]
    return str(found[0][0]).strip() or None if found else None


def _cover(book: object) -> bytes | None:
    import ebooklib

    for item in book.get_items():  # type: ignore[attr-defined]
        if item.get_type() == ebooklib.ITEM_COVER:
            return bytes(item.get_content())
    for item in book.get_items_of_type(ebooklib.ITEM_IMAGE):  # type: ignore[attr-defined]
        if "cover" in (item.get_name() or "").lower() or "cover" in (item.get_id() or "").lower():
            return bytes(item.get_content())
    return None

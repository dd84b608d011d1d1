"""Make lighthouse.epub from lighthouse.md: the same book, one XHTML document per chapter,
titles in the table of contents, title/author metadata and a cover.

    python examples/book/make_epub.py [OUT.epub]
"""

from __future__ import annotations

import html
import io
import sys
from pathlib import Path

from ebooklib import epub
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent


def chapters(markdown: str) -> tuple[str, list[tuple[str, list[str]]]]:
    """The book's title and its (chapter title, paragraphs), from `# Title` and `## Chapter` lines."""
    title, found = "", []
    for block in markdown.split("\n\n"):
        block = block.strip()
        if block.startswith("## "):
            found.append((block[3:].strip(), []))
        elif block.startswith("# "):
            title = block[2:].strip()
        elif block:
            found[-1][1].append(" ".join(block.splitlines()))
    return title, found


def cover() -> bytes:
    image = Image.new("RGB", (400, 600), (20, 40, 80))
    draw = ImageDraw.Draw(image)
    draw.polygon([(180, 520), (220, 520), (210, 220), (190, 220)], fill=(240, 240, 230))
    draw.ellipse((175, 190, 225, 240), fill=(255, 220, 90))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def main(out: Path = HERE / "lighthouse.epub") -> None:
    title, parts = chapters((HERE / "lighthouse.md").read_text(encoding="utf-8"))
    book = epub.EpubBook()
    book.set_identifier("gbatch-example-lighthouse")
    book.set_title(title)
    book.set_language("zh")
    book.add_author("gbatch examples")
    book.set_cover("cover.png", cover(), create_page=False)
    documents = []
    for number, (name, paragraphs) in enumerate(parts, 1):
        document = epub.EpubHtml(title=name, file_name=f"chapter{number}.xhtml", lang="zh")
        body = "".join(f"<p>{html.escape(p, quote=False)}</p>\n" for p in paragraphs)
        document.content = f"<h2>{html.escape(name)}</h2>\n{body}"
        book.add_item(document)
        documents.append(document)
    book.toc = documents
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *documents]
    epub.write_epub(str(out), book)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "lighthouse.epub")

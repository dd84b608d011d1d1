"""Books as task rows, without a server: reading TXT/Markdown/EPUB, sentences, clause cuts,
stable piece ids, voices, the lexicon, loudness and the chaptered audiobook file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

import gbatch.audio
from gbatch import ValidationError
from gbatch._book import (
    BookOptions,
    book_rows,
    cut_sentence,
    piece_id,
    protected_spans,
    read_book,
    read_lexicon,
    read_voices,
    sentences,
    split_text,
)

from .conftest import EXAMPLES

BOOK = EXAMPLES / "book"


def rows_of(text: str, suffix: str = ".md", **options: object) -> list[tuple[str, str, str]]:
    """(id, chapter, text) of a book written to a temporary file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"book{suffix}"
        path.write_text(text, encoding="utf-8")
        task, _ = book_rows(path, BookOptions(book=True, **options), "text", 80, None)  # type: ignore[arg-type]
    return [(r.id, str(r.values["chapter"]), str(r.values["text"])) for r in task.rows]


# --- sentences ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("他说：“你好。”然后走了！她问：“真的吗？”我不知道。", ["他说：“你好。”", "然后走了！", "她问：“真的吗？”", "我不知道。"]),
        ("「走吧。」他说。", ["「走吧。」", "他说。"]),
        ("Dr. Smith arrived in the U.S. at 3.14 pm. He left.", ["Dr. Smith arrived in the U.S. at 3.14 pm. ", "He left."]),
        ("然后走了！Dr. Smith came. 好的。", ["然后走了！", "Dr. Smith came. ", "好的。"]),
        ("Wait... really? Yes!", ["Wait... really? ", "Yes!"]),
        ("价格是3.14元。好的。", ["价格是3.14元。", "好的。"]),
        ("第一句；第二句。", ["第一句；", "第二句。"]),
        ("我不知道……他走了。", ["我不知道……", "他走了。"]),
        ("<strong>重要。</strong>好的。[breath]然后[h][ào]。", ["<strong>重要。</strong>好的。", "[breath]然后[h][ào]。"]),
    ],
)
def test_sentences_keep_quotes_abbreviations_decimals_and_markup(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected
    assert "".join(sentences(text)) == text


LONG = "这是一个非常长的句子，里面有很多逗号，还有分号；也有顿号、以及冒号：最后有数字3.14159265和英文单词extraordinarily以及标记[h][ào]与<strong>强调</strong>和<|endofprompt|>结尾。"


@pytest.mark.parametrize("limit", [8, 12, 20, 30, 50])
def test_a_long_sentence_is_cut_at_clauses_never_inside_words_numbers_or_markup(limit: int) -> None:
    pieces = cut_sentence(LONG, limit)
    assert "".join(pieces) == LONG
    assert len(pieces) > 1
    spans = protected_spans(LONG)
    cut = 0
    for piece in pieces[:-1]:
        cut += len(piece)
        assert not any(start < cut < end for start, end in spans), (limit, pieces)
    for piece in pieces:
        # over the limit only when one unbreakable stretch (markup, a word, a number) is longer
        assert len(piece) <= limit or any(end - start > limit // 2 for start, end in spans if LONG[start:end] in piece), pieces
    for token in ("3.14159265", "extraordinarily", "[h][ào]", "<strong>强调</strong>", "<|endofprompt|>"):
        assert any(token in piece for piece in pieces)


def test_clause_boundaries_are_preferred_to_spaces() -> None:
    text = "The quick brown fox, who was very quick indeed, jumped over the lazy dog; then it ran away."
    assert cut_sentence(text, 30) == ["The quick brown fox, ", "who was very quick indeed, ", "jumped over the lazy dog; ", "then it ran away."]


def test_short_pieces_may_merge_with_the_next() -> None:
    assert split_text("是的。好。我们走吧。", 80) == ["是的。", "好。", "我们走吧。"]
    assert split_text("是的。好。我们走吧。", 80, merge_under=4) == ["是的。好。", "我们走吧。"]


_MARKUP = st.sampled_from(["[breath]", "[h][ào]", "<|endofprompt|>", "<strong>重点</strong>", "3.14", "1,000", "extraordinary", "U.S.", "Dr. Lin"])
_WORDS = st.text(alphabet="天地人你我他好的了是在，、。！？ ", min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(st.one_of(_MARKUP, _WORDS), min_size=1, max_size=25), limit=st.integers(6, 60))
def test_nothing_is_lost_and_markup_is_never_cut(parts: list[str], limit: int) -> None:
    text = "".join(parts)
    pieces = split_text(text, limit)
    assert "".join(pieces) == text
    spans = [(s, e) for s, e in protected_spans(text) if text[s:e] in ("[breath]", "[h][ào]", "<|endofprompt|>", "<strong>重点</strong>", "3.14", "1,000", "extraordinary")]
    cut = 0
    for piece in pieces[:-1]:
        cut += len(piece)
        assert not any(start < cut < end for start, end in spans)


def test_a_200k_character_chapter() -> None:
    paragraph = "灯塔孤零零地立在海角的尽头，已经一百多年了。The keeper climbed 127 steps, every evening, to light the lamp; 他说：“灯不能灭。”"
    text = "# Book\n\n## 第一章\n\n" + "\n\n".join([paragraph] * (200_000 // len(paragraph) + 1))
    started = time.perf_counter()
    rows = rows_of(text)
    seconds = time.perf_counter() - started
    body = "".join(t for _, _, t in rows)
    assert len(body) >= 200_000
    assert all(len(t) <= 80 for _, _, t in rows)
    assert body.replace(" ", "") == "".join([paragraph] * (200_000 // len(paragraph) + 1)).replace(" ", "")
    assert seconds < 60  # a sanity bound only: benchmarks/bench_book.py measures the speed


# --- stable ids --------------------------------------------------------------------------

_SENTENCE = st.text(alphabet="天地人你我他好的了是在山水风雨花鸟", min_size=2, max_size=20).map(lambda s: s + "。")


@settings(max_examples=60, deadline=None)
@given(
    book=st.lists(_SENTENCE, min_size=2, max_size=15, unique=True),
    new=_SENTENCE,
    data=st.data(),
)
def test_an_edit_insert_or_delete_changes_only_that_pieces_id(book: list[str], new: str, data: st.DataObject) -> None:
    if new in book:
        return
    where = data.draw(st.integers(0, len(book) - 1))
    before = rows_of("## 第一章\n\n" + "\n\n".join(book))
    ids = {text: rid for rid, _, text in before}
    for change in ("insert", "delete", "edit"):
        edited = list(book)
        if change == "insert":
            edited.insert(where, new)
        elif change == "delete":
            del edited[where]
        else:
            edited[where] = new
        after = rows_of("## 第一章\n\n" + "\n\n".join(edited))
        assert [t for _, _, t in after] == edited  # the new order
        kept = [(rid, t) for rid, _, t in after if t in ids]
        assert all(ids[t] == rid for rid, t in kept), change
        new_ids = {rid for rid, _, t in after} - set(ids.values())
        assert len(new_ids) == (0 if change == "delete" else 1), change


def test_the_same_sentence_twice_gets_two_ids() -> None:
    rows = rows_of("## A\n\n“是的。”\n\n好。\n\n“是的。”")
    assert rows[0][0] != rows[2][0] and rows[2][0] == rows[0][0] + "-2"


# --- chapters ----------------------------------------------------------------------------


def test_markdown_and_epub_of_the_example_give_the_same_rows() -> None:
    markdown, book = book_rows(BOOK / "lighthouse.md", BookOptions(), "text", 80, None)
    epub, ebook = book_rows(BOOK / "lighthouse.epub", BookOptions(), "text", 80, None)
    assert [r.values for r in markdown.rows] == [r.values for r in epub.rows]
    assert [c.title for c in ebook.chapters] == ["第一章 海角 The Cape", "第二章 风暴 The Storm", "第三章 黎明 Dawn"]
    assert (book.title, ebook.title, ebook.author) == ("The Lighthouse 灯塔", "The Lighthouse 灯塔", "gbatch examples")
    assert ebook.cover is not None and ebook.cover.startswith(b"\x89PNG")


def test_the_example_epub_is_what_make_epub_makes(tmp_path: Path) -> None:
    made = tmp_path / "made.epub"
    subprocess.run([sys.executable, str(BOOK / "make_epub.py"), str(made)], check=True, timeout=120)
    fresh, _ = book_rows(made, BookOptions(), "text", 80, None)
    shipped, _ = book_rows(BOOK / "lighthouse.epub", BookOptions(), "text", 80, None)
    assert [r.values for r in fresh.rows] == [r.values for r in shipped.rows]


@pytest.mark.parametrize("heading", ["第一章 开始", "第1章", "第十二回 风起", "Chapter 1", "CHAPTER IV: The End", "Chapter One"])
def test_plain_text_chapters_by_default(heading: str) -> None:
    rows = rows_of(f"前言。\n\n{heading}\n\n第一段。\n第一段的下一行。\n\n第二段。\n", suffix=".txt")
    assert [(c, t) for _, c, t in rows] == [("book", "前言。"), (heading, "第一段。"), (heading, "第一段的下一行。"), (heading, "第二段。")]


def test_chapter_pattern_for_plain_text() -> None:
    rows = rows_of("== One ==\nHello.\n\n== Two ==\nBye.\n", suffix=".txt", chapter_pattern=r"^== .* ==$")
    assert [(c, t) for _, c, t in rows] == [("== One ==", "Hello."), ("== Two ==", "Bye.")]


def test_an_empty_chapter_is_a_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "b.md"
    path.write_text("# Book\n\n## One\n\nText.\n\n## Two\n\n## Three\n\nMore.\n", encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        read_book(path)
    assert [str(p) for p in caught.value.problems] == [f"{path}:7:chapter: chapter 'Two' has no text"]


def test_an_epub_that_is_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "book.epub"
    path.write_text("not a zip", encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        read_book(path)
    assert [str(p) for p in caught.value.problems] == [f"{path}: not an EPUB: an EPUB is a zip archive, and this file is not one"]
    broken = tmp_path / "broken.epub"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip")
    with pytest.raises(ValidationError) as caught:
        read_book(broken)
    assert len(caught.value.problems) == 1 and "not a readable EPUB" in str(caught.value.problems[0])


# --- voices and lexicon ------------------------------------------------------------------


def voices_file(tmp_path: Path, extra: str = "") -> Path:
    shutil.copy(EXAMPLES / "voices" / "narrator.wav", tmp_path / "n.wav")
    path = tmp_path / "voices.csv"
    path.write_text(f"voice,prompt_audio,prompt_text\n旁白,n.wav,narrator\nAlice,n.wav,alice\n{extra}", encoding="utf-8")
    return path


def load_voices(path: Path):  # type: ignore[no-untyped-def]
    def check(source: Path) -> str | None:
        try:
            gbatch.audio.probe(source)
        except ValueError as exc:
            return f"not an audio file: {exc}"
        return None

    return read_voices(path, lambda header: header == "prompt_audio", check)


def test_voices_by_tag_and_line_prefix_default_first_row(tmp_path: Path) -> None:
    voices = load_voices(voices_file(tmp_path))
    path = tmp_path / "b.md"
    path.write_text("## A\n\nNarration.\n\nalice: Hi there. 你好。\n\n旁白：夜深了。\n\n[voice=Alice]Look! [voice=旁白]远处有船。\n", encoding="utf-8")
    task, _ = book_rows(path, BookOptions(), "text", 80, voices)
    got = [(r.values["voice"], r.values["text"], Path(str(r.values["prompt_audio"])).name) for r in task.rows]
    assert got == [
        ("旁白", "Narration.", "n.wav"),
        ("Alice", "Hi there.", "n.wav"),
        ("Alice", "你好。", "n.wav"),
        ("旁白", "夜深了。", "n.wav"),
        ("Alice", "Look!", "n.wav"),
        ("旁白", "远处有船。", "n.wav"),
    ]
    assert Path(str(task.rows[0].values["prompt_audio"])).is_absolute()


def test_an_unknown_voice_is_one_problem_with_file_and_line(tmp_path: Path) -> None:
    voices = load_voices(voices_file(tmp_path))
    path = tmp_path / "b.md"
    path.write_text("## A\n\nText.\n\n[voice=bob]Hello. [voice=bob]Again.\n", encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        book_rows(path, BookOptions(), "text", 80, voices)
    assert [str(p) for p in caught.value.problems] == [f"{path}:5:voice: voice 'bob' is not in voices.csv (it has: 旁白, Alice)"]


def test_a_voice_file_that_is_not_audio(tmp_path: Path) -> None:
    (tmp_path / "notes.wav").write_text("not audio", encoding="utf-8")
    path = voices_file(tmp_path, "Bob,notes.wav,bob\n")
    with pytest.raises(ValidationError) as caught:
        load_voices(path)
    problems = caught.value.problems
    assert len(problems) == 1 and str(problems[0]).startswith(f"{path}:4:prompt_audio: not an audio file: ")


def test_lexicon_whole_words_exact_chinese_markup_untouched(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.tsv"
    path.write_text("# comment\nDr.\tDoctor\nLED\tL E D\n长大\t[zh][ǎng]大\nNew York\tNew York City\n", encoding="utf-8")
    lexicon = read_lexicon(path)
    assert lexicon.apply("Dr. Lin's LED, LEDs and OLED; 等我长大了。New York! <strong>LED</strong> [LED]") == (
        "Doctor Lin's L E D, LEDs and OLED; 等我[zh][ǎng]大了。New York City! <strong>L E D</strong> [LED]"
    )
    bad = tmp_path / "bad.tsv"
    bad.write_text("ok\tfine\nno tab here\n", encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        read_lexicon(bad)
    assert [str(p) for p in caught.value.problems] == [f"{bad}:2: expected WORD<TAB>REPLACEMENT"]


# --- loudness and the audiobook file ------------------------------------------------------


def speechlike(seconds: float, rate: int, level: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    return (level * envelope * (np.sin(2 * np.pi * 180 * t) + 0.3 * rng.standard_normal(len(t)))).astype(np.float32)


@pytest.mark.parametrize("level", [0.02, 0.1, 0.3])
def test_normalize_brings_a_chapter_to_minus_18_lufs_true_peak_under_minus_3(level: float) -> None:
    rate = 24000
    samples = speechlike(6, rate, level, 1)
    done = gbatch.audio.normalize_loudness(samples, rate)
    assert abs(gbatch.audio.loudness(done, rate) - -18.0) <= 1.0
    assert gbatch.audio.true_peak_db(done) <= -3.0 + 0.05


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="reads chapters back with ffprobe")
@pytest.mark.parametrize("suffix", [".m4b", ".mp3"])
def test_the_audiobook_file_has_chapters_title_author_and_cover(tmp_path: Path, suffix: str) -> None:
    rate = 24000
    chapters = []
    for n in range(3):
        audio = tmp_path / f"c{n}.wav"
        sf.write(audio, speechlike(2 + n, rate, 0.1, n), rate)
        chapters.append((f"第{n + 1}章 Part {n + 1}", audio, [(0.0, 1.0, f"line {n}")]))
    cover = b"\x89PNG\r\n\x1a\n" + bytes(64)
    book, subtitles = gbatch.audio.join_book(chapters, tmp_path / f"book{suffix}", gbatch.audio.BookInfo("Title 标题", "Author", cover), 1.0)
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_chapters", "-show_format", "-of", "json", str(book)], capture_output=True, text=True, check=True)
    found = json.loads(probe.stdout)
    marks = sorted((float(c["start_time"]), c["tags"]["title"]) for c in found["chapters"])
    assert [title for _, title in marks] == ["第1章 Part 1", "第2章 Part 2", "第3章 Part 3"]
    assert [round(start, 2) for start, _ in marks] == [0.0, 3.0, 7.0]  # 2 s + 1 s gap, 3 s + 1 s gap
    tags = found["format"]["tags"]
    assert (tags.get("title"), tags.get("artist")) == ("Title 标题", "Author")
    assert [c[2] for c in _srt(subtitles)] == ["line 0", "line 1", "line 2"]
    assert [c[0] for c in _srt(subtitles)] == [0.0, 3.0, 7.0]
    if suffix == ".m4b":
        from mutagen.mp4 import MP4

        assert bytes(MP4(str(book))["covr"][0]) == cover


def _srt(path: Path) -> list[tuple[float, float, str]]:
    from gbatch._review import parse_srt

    return parse_srt(path.read_text(encoding="utf-8"))


def test_gbatch_split_writes_the_rows_a_tool_reads(tmp_path: Path) -> None:
    from gbatch._tasks import read_tasks
    from gbatch.testing import run_cli

    out = tmp_path / "lines.csv"
    result = run_cli("split", BOOK / "lighthouse.md", "--voices", BOOK / "voices.csv", "-o", out)
    assert result.exit_code == 0, result.output
    assert "17 pieces" in result.stderr
    table = read_tasks(out)
    assert table.columns == ["id", "chapter", "voice", "text", "pause"]
    book, _ = book_rows(BOOK / "lighthouse.md", BookOptions(), "text", 80, load_voices(BOOK / "voices.csv"))
    assert [r.id for r in table.rows] == [r.id for r in book.rows]
    assert [r.values["voice"] for r in table.rows].count("Alice") == 4
    assert table.rows[0].values["pause"] == "0.4" and table.rows[5].values["pause"] == "2.0"

    txt = tmp_path / "book.txt"
    txt.write_text("第一章 开始\n\n你好。\n\n第2章\n\nHello.\n", encoding="utf-8")
    result = run_cli("split", txt, "--max-chars", "3")
    assert result.exit_code == 2 and "--max-chars must be 5 or more" in result.stderr
    result = run_cli("split", txt)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == [f"{piece_id('你好。')},第一章 开始,你好。,2.0", f"{piece_id('Hello.')},第2章,Hello.,2.0"]

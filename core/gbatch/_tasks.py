"""Reading task files: CSV, TSV, JSONL, plain text and xlsx, into rows with ids.

Every problem found in a file is collected and raised at once as a
`ValidationError`, so a user fixes the whole file in one go.

Cell values are kept as written (not stripped): leading and trailing spaces
may matter to the text being sent. Only header cells, ids and plain-text
lines are stripped.

Nothing is guessed silently. A file that is not UTF-8 is read in a detected
encoding only when one reading is clearly right, and `TaskFile.notes` says
which; when several readings are plausible the file is refused and the error
shows each of them, so the user picks one with `--encoding`.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import json
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from ._columns import normalize_key
from ._errors import TaskFileProblem, UsageError, ValidationError

__all__ = ["TaskFile", "TaskRow", "read_tasks"]

_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".txt": "txt",
    ".xlsx": "xlsx",
}
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16's: FF FE 00 00 also starts with FF FE
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

_Entry = tuple[int, dict[str, Any]]  # (line, values) of a row before it gets its id


@dataclass(frozen=True, slots=True)
class TaskRow:
    """One task: its id, the line where it starts, and its values by column name."""

    id: str
    line: int
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TaskFile:
    """A task file that was read, and how it was read.

    `encoding` is the codec used (None for xlsx), `delimiter` the CSV/TSV
    delimiter (None for other formats). `notes` are lines for the user about
    what was detected rather than given: an encoding other than UTF-8, a
    delimiter other than the comma.
    """

    path: Path
    format: str
    encoding: str | None
    columns: list[str]
    rows: list[TaskRow]
    delimiter: str | None = None
    notes: list[str] = field(default_factory=list)


def read_tasks(
    path: str | Path,
    *,
    encoding: str | None = None,
    text_column: str = "text",
    delimiter: str | None = None,
    problems: list[TaskFileProblem] | None = None,
) -> TaskFile:
    """Read a task file; raise `ValidationError` listing every problem found.

    The format comes from the extension. Text files are decoded with `encoding`
    if given, else detected (see the module docstring); `encoding` is ignored for
    xlsx. `text_column` names the one column of a .txt file. A .csv file's
    delimiter (`,` `;` tab `|`) is detected unless `delimiter` is given (one
    character, or tab/comma/semicolon/pipe); a .tsv file's is a tab.
    Rows get their id from an `id` column, else their 1-based data row number.

    With a `problems` list, problems of single rows (bad or duplicate ids,
    ragged rows, bad JSONL lines) are appended to it and the rows are returned,
    so the caller can add its own checks and report everything at once. Problems
    of the file as a whole (unreadable, undecodable, a bad header) always raise.
    """
    file = str(path)
    sep = _delimiter_option(delimiter, Path(path).suffix.lower())
    data = _read_bytes(Path(path), file)
    fmt = _format(Path(path), file)
    found: list[TaskFileProblem] = []
    notes: list[str] = []
    if fmt == "xlsx":
        columns, entries, header_line = _table(_xlsx_records(data, file), file, found)
        used = sep = None
    else:
        text, used, detected = _decode(data, encoding, file)
        if detected:
            notes.append(f"{file}: not UTF-8; read as {_label(used)} (detected; --encoding overrides)")
        columns, entries, header_line, sep = _parse(text, fmt, sep, text_column, file, found, notes)
    rows = _with_ids(entries, columns, file, found)
    found = _name_rows(found, rows, _id_column(columns))
    if fmt != "xlsx":
        found += _stray_boms(text, file)
    _settle(found, problems, header_line)
    return TaskFile(Path(path), fmt, used, columns, rows, sep, notes)


def _format(path: Path, file: str) -> str:
    suffix = path.suffix.lower()
    fmt = _FORMATS.get(suffix)
    if fmt is None:
        known = ", ".join(_FORMATS)
        message = f"unsupported file type {suffix or '(no extension)'!r}; use one of {known}"
        raise ValidationError([TaskFileProblem(file, None, None, message)])
    return fmt


def _parse(
    text: str, fmt: str, sep: str | None, text_column: str, file: str, found: list[TaskFileProblem], notes: list[str]
) -> tuple[list[str], list[_Entry], int | None, str | None]:
    """Columns, entries, header line and delimiter of a decoded text file."""
    if fmt == "jsonl":
        return (*_jsonl(text, file, found), None, None)
    if fmt == "txt":
        entries = [(n, {text_column: s}) for n, line in enumerate(text.split("\n"), 1) if (s := line.strip())]
        return [text_column], entries, None, None
    if sep is None and fmt == "tsv":
        sep = "\t"
    elif sep is None:
        sep = _sniff_delimiter(text)
        if sep != ",":
            notes.append(f"{file}: columns are separated by {_shown(sep)} (detected; --delimiter overrides)")
    return (*_table(_csv_records(text, sep, file, found), file, found), sep)


def _settle(found: list[TaskFileProblem], problems: list[TaskFileProblem] | None, header_line: int | None) -> None:
    """Raise every problem at once, or hand row problems to a caller that collects them."""
    if not found:
        return
    found.sort(key=lambda p: p.row or 0)  # stable: same-line problems keep their order
    whole_file = any(p.row is None or p.row == header_line for p in found)
    if problems is None or whole_file:
        raise ValidationError(found)
    problems.extend(found)


def _name_rows(found: list[TaskFileProblem], rows: list[TaskRow], id_column: str | None) -> list[TaskFileProblem]:
    """Give a row's problems the row's id, so they read `t.csv:7 (id a7): …`."""
    if not found:
        return found
    id_at = {row.line: row.id for row in rows if row.id}
    return [
        replace(p, id=id_at[p.row]) if p.id is None and p.row in id_at and (p.column != id_column or not p.column) else p
        for p in found
    ]


def _read_bytes(path: Path, file: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        message = "no such file"
    except IsADirectoryError:
        message = "is a directory, not a task file"
    except OSError as e:
        message = f"cannot read the file: {e.strerror or e}"
    raise ValidationError([TaskFileProblem(file, None, None, message)])


def _stray_boms(text: str, file: str) -> list[TaskFileProblem]:
    # A byte-order mark starting a later line means two files were joined; it would
    # otherwise hide inside an id or a header name, invisible to the user.
    found: list[TaskFileProblem] = []
    if "\ufeff" not in text:  # a one-character search is many times faster than a two-character one
        return found
    start = text.find("\n\ufeff")
    while start >= 0:
        line = text.count("\n", 0, start) + 2
        message = "a byte-order mark (U+FEFF) starts this line (were two files joined?); delete it"
        found.append(TaskFileProblem(file, line, None, message))
        start = text.find("\n\ufeff", start + 1)
    return found


# --- delimiters -------------------------------------------------------------------------

_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
_SNIFF_CHARS = 65_536


def _delimiter_option(value: str | None, suffix: str) -> str | None:
    if value is None:
        return None
    sep = _DELIMITER_NAMES.get(value.lower(), value)
    if len(sep) != 1 or sep in '"\r\n':
        raise UsageError(f"--delimiter must be one character, or tab, comma, semicolon or pipe; not {value!r}")
    if _FORMATS.get(suffix) not in ("csv", "tsv"):
        raise UsageError(f"--delimiter applies to .csv and .tsv files, not {suffix or 'this file'}")
    return sep


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the header into the most columns; csv.Sniffer breaks ties.

    The header decides because column names are short and hold no delimiters,
    while cells of free text hold commas and semicolons at random.
    """
    sample = text[:_SNIFF_CHARS]
    counts = {sep: len(_first_record(sample, sep)) for sep in _DELIMITERS}
    most = max(counts.values())
    tied = [sep for sep in _DELIMITERS if counts[sep] == most]
    if most <= 1 or len(tied) == 1:
        return tied[0] if most > 1 else ","  # a single column: nothing to split
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters="".join(tied)).delimiter
    except csv.Error:  # "Could not determine delimiter"
        return tied[0]
    return sniffed if sniffed in tied else tied[0]


def _first_record(sample: str, sep: str) -> list[str]:
    try:
        for cells in csv.reader(io.StringIO(sample, newline=""), delimiter=sep):
            if "".join(cells).strip():
                return cells
    except csv.Error:
        pass
    return []


def _shown(sep: str) -> str:
    return "tabs" if sep == "\t" else repr(sep)


# --- encodings --------------------------------------------------------------------------

# The legacy encodings recognised without --encoding: the Windows code pages that
# spreadsheets and editors write by default, and the East Asian ones. A file in
# another encoding is refused (its readings in these look wrong), never misread.
# (Thai cp874 and Vietnamese cp1258 are left out: such files are rare, and their
# readings of Chinese or Portuguese bytes look deceptively clean.)
_LEGACY = (
    "cp1252", "cp1250", "cp1251", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257",
    "mac_roman", "koi8_r",  # Excel for Mac's CSV, old Unix Russian
    "gb18030", "big5", "cp932", "euc_jp", "cp949",
)  # fmt: skip
_PREFERENCE = {codecs.lookup(name).name: rank for rank, name in enumerate(_LEGACY)}
_LABELS = {
    "utf-16": "UTF-16 (it has a byte-order mark)",
    "utf-32": "UTF-32 (it has a byte-order mark)",
    "utf-16-le": "UTF-16 little-endian (no byte-order mark)",
    "utf-16-be": "UTF-16 big-endian (no byte-order mark)",
    "utf-32-le": "UTF-32 little-endian (no byte-order mark)",
    "utf-32-be": "UTF-32 big-endian (no byte-order mark)",
    "cp1252": "cp1252 (Windows Western European, a superset of Latin-1)",
    "cp1250": "cp1250 (Windows Central European)",
    "cp1251": "cp1251 (Windows Cyrillic)",
    "cp1253": "cp1253 (Windows Greek)",
    "cp1254": "cp1254 (Windows Turkish)",
    "cp1255": "cp1255 (Windows Hebrew)",
    "cp1256": "cp1256 (Windows Arabic)",
    "cp1257": "cp1257 (Windows Baltic)",
    "mac-roman": "Mac Roman (older Excel for Mac CSV)",
    "koi8-r": "KOI8-R (Russian)",
    "gb18030": "GB18030 (Chinese; covers GBK and GB2312)",
    "big5": "Big5 (Traditional Chinese)",
    "cp932": "cp932 (Japanese Shift-JIS, as Windows writes it)",
    "euc_jp": "EUC-JP (Japanese)",
    "cp949": "cp949 (Korean; covers EUC-KR)",
}
# How sure a detected reading must be (tuned on short and long task files in 13
# languages and 15 encodings): real text has almost no odd characters, a wrong reading
# many. Odd characters score _STRONG or _WEAK points (see _odd_points).
_STRONG, _WEAK = 3, 1
_MAX_ODDITY = 0.15  # the best reading may score at most this many points per non-ASCII character,
_MAX_CHAOS = 0.2  # … and at most this "chaos" (charset-normalizer's own threshold),
_POINTS_MARGIN = 3  # … and every other reading must score this many more points,
_ODDITY_MARGIN = 0.1  # … or this much more per character,
_CHAOS_MARGIN = 0.05  # … or this much more of charset-normalizer's "chaos" (its own measure of mess)
_SAMPLE_BYTES = 16_384  # non-ASCII lines judged; the whole file must still decode
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class _Reading:
    """The whole file decoded with one codec, and how plausible its sample looks."""

    codec: str
    text: str
    sample: str  # the decoded non-ASCII lines that were judged
    points: int  # how odd its sample looks; see _odd_points
    oddity: float  # points per non-ASCII character of the sample
    chaos: float


def _decode(data: bytes, encoding: str | None, file: str) -> tuple[str, str, bool]:
    """The text, the codec's name, and whether the codec was detected (not UTF-8, not asked for)."""
    if encoding is not None:
        name = _codec_name(encoding, file)
        return _decode_as(data, name, file), name, False
    for bom, name in _BOMS:
        if data.startswith(bom):
            return _decode_as(data, name, file), name, name != "utf-8-sig"
    if b"\x1b" in data and b"\x1b$" in data and data.isascii():  # ESC first: one byte is a fast search
        # ISO-2022 (7-bit Japanese/Korean/Chinese mail encodings) is plain ASCII to a
        # UTF-8 decoder; its escape sequences give it away.
        message = "the file looks ISO-2022 encoded (it has escape sequences); pass --encoding, e.g. iso2022_jp"
        raise ValidationError([TaskFileProblem(file, _line_at(data, data.find(b"\x1b$"), "latin-1"), None, message)])
    if b"\x00" in data:
        # Text never holds NUL characters: this is UTF-16/32 without a BOM, or not text.
        text, name = _decode_wide(data, file)
        return text, name, True
    try:
        return data.decode("utf-8"), "utf-8", False
    except UnicodeDecodeError as e:
        first_bad = _line_at(data, e.start, "utf-8")
    best = _detect(data, file, first_bad)
    return best.text, best.codec, True


def _codec_name(encoding: str, file: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ValidationError([TaskFileProblem(file, None, None, f"unknown encoding {encoding!r}")]) from None


def _decode_as(data: bytes, name: str, file: str) -> str:
    try:
        text = data.decode(name)
    except LookupError:  # a codec that exists but is not a text encoding, e.g. "base64"
        raise ValidationError([TaskFileProblem(file, None, None, f"unknown encoding {name!r}")]) from None
    except UnicodeDecodeError as e:
        message = f"cannot be decoded as {name}: byte 0x{data[e.start]:02x} ({e.reason})"
        raise ValidationError([TaskFileProblem(file, _line_at(data, e.start, name), None, message)]) from None
    return text.removeprefix("\ufeff")  # a BOM left by a forced encoding such as "utf-8"


def _line_at(data: bytes, offset: int, encoding: str) -> int:
    return data[:offset].decode(encoding, errors="replace").count("\n") + 1


def _label(codec: str | None) -> str:
    return _LABELS.get(codec or "", codec or "")


def _decode_wide(data: bytes, file: str) -> tuple[str, str]:
    """UTF-16 or UTF-32 without a BOM: the one reading whose text has ASCII (newlines, commas) in it.

    Read with the wrong byte order, ASCII characters turn into CJK-like ones, so
    the right reading is the only one with a fair share of ASCII.
    """
    readings: list[tuple[float, str, str]] = []
    for name in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
        try:
            text = data.decode(name)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text and len(_CONTROLS.findall(text)) <= len(text) // 100:
            readings.append((len(text.encode("ascii", "ignore")) / max(len(text), 1), name, text))
    readings.sort(reverse=True)
    if readings and readings[0][0] >= 0.05 and (len(readings) == 1 or readings[1][0] < readings[0][0] / 4):
        return readings[0][2], readings[0][1]
    message = (
        "the file holds NUL bytes: it is not a text file, or it is UTF-16 without a byte-order mark"
        " in a byte order that could not be told; pass --encoding (e.g. utf-16-le)"
    )
    raise ValidationError([TaskFileProblem(file, None, None, message)])


def _detect(data: bytes, file: str, first_bad: int) -> _Reading:
    """The one clearly plausible reading of a non-UTF-8 file, or a ValidationError saying why not."""
    readings = sorted(_readings(data), key=lambda r: (r.oddity, r.chaos, _rank(r.codec)))
    if not readings or readings[0].oddity > _MAX_ODDITY:
        message = (
            "the file is not UTF-8 (its first non-UTF-8 byte is on this line), and it does not read as text"
            " in any encoding gbatch recognises; pass --encoding with the encoding it was saved in"
        )
        raise ValidationError([TaskFileProblem(file, first_bad, None, message)])
    best, *others = readings
    rivals = [r for r in others if _close(r, best)]
    if rivals:
        raise ValidationError([_ambiguity(file, [best, *rivals])])
    return best


def _close(other: _Reading, best: _Reading) -> bool:
    """Whether `other` is about as plausible as `best`: then the file is ambiguous.

    The lines where they differ, which may lie past the sample, are judged again
    with the sample (whose letters tell the language), so that what sets them
    apart counts twice and is not drowned by the text they share.
    """
    if other.chaos >= best.chaos + _CHAOS_MARGIN:
        return False
    mine, theirs = _differing_lines(best.text, other.text)
    best_points, best_total = _odd_points(f"{best.sample}\n{mine}", best.codec)
    other_points, other_total = _odd_points(f"{other.sample}\n{theirs}", other.codec)
    return other_points < best_points + _POINTS_MARGIN and (
        other_points / max(other_total, 1) < best_points / max(best_total, 1) + _ODDITY_MARGIN
    )


def _differing_lines(a: str, b: str, limit: int = 500) -> tuple[str, str]:
    """The first `limit` lines that read differently in `a` and `b` (both have the same line breaks)."""
    pairs = [(x, y) for x, y in zip(a.split("\n"), b.split("\n"), strict=False) if x != y][:limit]
    return "\n".join(x for x, _ in pairs), "\n".join(y for _, y in pairs)


def _readings(data: bytes) -> list[_Reading]:
    """The distinct decodings of the whole file that charset-normalizer finds plausible."""
    from charset_normalizer import from_bytes  # imported here: only non-UTF-8 files need it

    sample = _sample(data)
    seen: dict[str, _Reading] = {}
    for match in from_bytes(sample, cp_isolation=list(_LEGACY), threshold=_MAX_CHAOS):
        if match.chaos > _MAX_CHAOS:
            continue  # its fallback guess when nothing fits
        # Code pages that read the whole file alike are named by the most common one:
        # a German file is "cp1252", not "cp1250", though both read it the same.
        # Each is decoded whole: two that agree on the sample may differ further on.
        for codec in sorted({_widest(n) for n in (match.encoding, *match.could_be_from_charset)}, key=_rank):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                continue  # the sample decodes, a later line does not
            if text not in seen:
                judged = sample.decode(codec)[:_SAMPLE_BYTES]
                points, total = _odd_points(judged, codec)
                seen[text] = _Reading(codec, text, judged, points, points / max(total, 1), match.chaos)
    return list(seen.values())


def _rank(codec: str) -> int:
    return _PREFERENCE.get(codec, len(_PREFERENCE))


def _widest(name: str) -> str:
    # GBK and GB2312 files decode the same as GB18030, which also takes the rare characters they lack.
    codec = codecs.lookup(name).name
    return "gb18030" if codec in ("gbk", "gb2312") else codec


def _sample(data: bytes) -> bytes:
    """The file's lines with non-ASCII bytes, up to about _SAMPLE_BYTES: ASCII tells no encoding apart.

    Cutting at newlines is safe: no byte of a multi-byte character in these encodings is 0x0A.
    """
    parts: list[bytes] = []
    size = pos = 0
    while size < _SAMPLE_BYTES and (high := _HIGH_BYTE.search(data, pos)):
        start = data.rfind(b"\n", 0, high.start()) + 1
        end = data.find(b"\n", high.start())
        end = len(data) if end < 0 else end
        parts.append(data[start:end])
        size += end - start
        pos = end + 1
    return b"\n".join(parts)


def _ambiguity(file: str, readings: list[_Reading]) -> TaskFileProblem:
    """Refuse a file that reads plausibly in several encodings, showing the line where they differ."""
    first, second = readings[0].text, readings[1].text
    at = _first_difference(first, second)
    line = first.count("\n", 0, at)
    shown = [f"as {r.codec}: {_line_excerpt(r.text, line)!r}" for r in readings[:4]]
    message = (
        "cannot tell which encoding the file is in; this line reads "
        + ", ".join(shown)
        + f". Pass --encoding with the right one (e.g. --encoding {readings[0].codec})"
    )
    return TaskFileProblem(file, line + 1, None, message)


def _first_difference(a: str, b: str) -> int:
    lo, hi = 0, min(len(a), len(b))  # a[:lo] == b[:lo]; slices compare in C, a binary search suffices
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _line_excerpt(text: str, index: int, width: int = 60) -> str:
    start = 0
    for _ in range(index):
        start = text.find("\n", start) + 1
    end = text.find("\n", start)
    line = text[start : end if end >= 0 else len(text)].rstrip("\r")
    return line if len(line) <= width else line[: width - 1] + "…"


# --- how plausible a reading is ----------------------------------------------------------

# Letters of these alphabets do not share a word in real text; a misread byte often lands in
# another alphabet ("Schцn" for cp1252 "Schön" read as cp1251).
_ALPHABETS = frozenset({"LATIN", "CYRILLIC", "GREEK", "HEBREW", "ARABIC", "THAI", "ARMENIAN", "GEORGIAN", "OTHER"})
_WORD = re.compile(r"\S+")


def _odd_points(text: str, codec: str) -> tuple[int, int]:
    """How unlikely `text` is as real text read with `codec`, and its count of non-ASCII characters.

    A character in a word that mixes alphabets, a symbol inside a word or a control
    character scores _STRONG points: real text has almost none. Odd capitals, a
    letter foreign to the text's language, or a CJK character outside its standard's
    common tier score _WEAK points: names and loanwords have a few.
    """
    common = _COMMON.get(codec)
    odd = total = 0
    accented: dict[str, int] = {}
    for word in _WORD.findall(text):
        if word.isascii():
            continue
        mixed = len({_alphabet(c) for c in word if c.isalpha()} & _ALPHABETS) > 1
        for i, c in enumerate(word):
            if c.isascii():
                continue
            total += 1
            if mixed or _strange(word, i):
                odd += _STRONG
            elif _odd_case(word, i) or (common is not None and not common(c)):
                odd += _WEAK
            elif _alphabet(c) == "LATIN" and c.isalpha():
                accented[c.lower()] = accented.get(c.lower(), 0) + 1
    return odd + _WEAK * _foreign_letters(accented), total


# The accented letters of languages written in the Windows code pages above. Real text
# uses one language's letters (or a few loanwords); a misread mixes several languages'
# (cp1252 "Não você" read as cp1250 is "Năo vocę": Romanian ă with Polish ę).
_LATIN_LETTERS = (
    "àâæçéèêëîïôœùûüÿ",  # French
    "äöüßé",  # German
    "áéíñóúü",  # Spanish
    "áâãàçéêíóôõú",  # Portuguese
    "àèéìíîòóùú",  # Italian
    "àçèéíïòóúü",  # Catalan
    "áäéëèïóöüú",  # Dutch
    "åæøéó",  # Danish, Norwegian
    "åäöéü",  # Swedish, Finnish
    "áæðéíóöúýþ",  # Icelandic
    "ąćęłńóśźż",  # Polish
    "áčďéěíňóřšťúůýž",  # Czech
    "áäčďéíĺľňóôŕšťúýž",  # Slovak
    "áéíóöőúüű",  # Hungarian
    "ăâîșşțţ",  # Romanian
    "čćđšž",  # Croatian, Slovene, Bosnian
    "çğıöşüâî",  # Turkish
    "ąčęėįšųūž",  # Lithuanian
    "āčēģīķļņšūž",  # Latvian
    "äõöüšž",  # Estonian
)


def _foreign_letters(accented: dict[str, int]) -> int:
    """How many accented Latin letters fall outside the one language that covers the most of them."""
    if not accented:
        return 0
    total = sum(accented.values())
    covered = max(sum(n for c, n in accented.items() if c in letters) for letters in _LATIN_LETTERS)
    return total - covered


@functools.lru_cache(maxsize=8192)
def _alphabet(c: str) -> str:
    if c.isascii():
        return "LATIN"
    script = unicodedata.name(c, "OTHER").split(" ", 1)[0]
    return script if script in _ALPHABETS or script in ("CJK", "HIRAGANA", "KATAKANA", "HANGUL") else "OTHER"


_IN_WORD = frozenset("\u2019\u2010\u2011\u2013")  # ’ ‐ ‑ –: real text has these between letters


def _strange(word: str, i: int) -> bool:
    c = word[i]
    kind = unicodedata.category(c)
    if kind[0] == "C":  # controls, unassigned and private-use code points
        return True
    if kind == "Mn":  # a combining mark needs a letter under it: "ֱֻֻ" is KOI8-R Russian read as Hebrew
        base = word[:i].rstrip("".join(ch for ch in word[:i] if unicodedata.category(ch) == "Mn"))
        return not base[-1:].isalpha() or i - len(base) >= 3
    if kind[0] not in "SNP" or c in _IN_WORD or not 0 < i < len(word) - 1:
        return False
    if c == "\u00b7" and word[i - 1] in "lL" and word[i + 1] in "lL":
        return False  # Catalan "col·lecció"
    # a symbol or punctuation between letters of an alphabet: "Ð»Ð»", "d‚p“t" (Chinese
    # and Japanese, written without spaces, have punctuation between characters)
    return _lettered(word[i - 1]) and _lettered(word[i + 1])


def _lettered(c: str) -> bool:
    return c.isalpha() and _alphabet(c) in _ALPHABETS


def _odd_case(word: str, i: int) -> bool:
    c, before = word[i], word[i - 1] if i else ""
    if c.isupper():
        return before.islower()  # "dÉpÔt"
    # "ХЕИэ": lower case after two capitals, as bytes of Chinese read as Cyrillic come out
    return c.islower() and i >= 2 and before.isupper() and word[i - 2].isupper()


def _tier(encoding: str, accept: Callable[[bytes], bool]) -> Callable[[str], bool]:
    """Whether a character is in the common tier of an East Asian standard.

    The standards order characters by use: GB2312 level 1 (3,755 hanzi), Big5's
    frequent hanzi (5,401), JIS level 1 kanji with the kana, KS X 1001's hangul.
    Real text stays almost entirely within them; a misread rarely does.
    """

    @functools.lru_cache(maxsize=65536)
    def common(c: str) -> bool:
        try:
            raw = c.encode(encoding)
        except UnicodeEncodeError:
            return False
        return len(raw) == 2 and accept(raw)

    return common


def _japanese(raw: bytes) -> bool:
    code = raw[0] << 8 | raw[1]
    # symbols, full-width letters and hiragana, katakana, level-1 kanji
    return raw[0] in (0x81, 0x82) or 0x8340 <= code <= 0x8396 or 0x889F <= code <= 0x9872


_COMMON: dict[str, Callable[[str], bool]] = {
    "gb18030": _tier("gb2312", lambda b: b[0] in (0xA1, 0xA3) or 0xB0 <= b[0] <= 0xD7),
    "big5": _tier("big5", lambda b: b[0] in (0xA1, 0xA2) or 0xA440 <= (b[0] << 8 | b[1]) <= 0xC67E),
    "cp932": _tier("cp932", _japanese),
    "euc_jp": _tier("cp932", _japanese),
    "cp949": _tier("euc_kr", lambda b: b[0] in (0xA1, 0xA3) or 0xB0 <= b[0] <= 0xC8),
}
_COMMON["cp950"] = _COMMON["big5hkscs"] = _COMMON["big5"]
_COMMON["shift_jis"] = _COMMON["cp932"]
_COMMON["euc_kr"] = _COMMON["cp949"]


# --- tables -----------------------------------------------------------------------------


def _csv_records(
    text: str, delimiter: str, file: str, problems: list[TaskFileProblem]
) -> Iterator[tuple[int, list[str]]]:
    # strict=True: a field that opens a quote and has text after the closing one
    # (`"Hi," she said`) is reported instead of silently losing its quotes.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            problems.append(TaskFileProblem(file, start, None, _csv_message(str(e), delimiter)))
        else:
            yield start, cells
        start = reader.line_num + 1


def _csv_message(error: str, delimiter: str) -> str:
    if "unexpected end of data" in error:
        return "a quoted field that starts in this row is never closed"
    if "field larger than field limit" in error:
        limit = csv.field_size_limit()
        return f"a field in this row is longer than {limit:,} characters (is a quote never closed?)"
    if "expected after" in error:
        shown = "tab" if delimiter == "\t" else repr(delimiter)
        return (
            f"text after a closing quote (expected {shown}); quote the whole field"
            ' and double the quotes inside it ("")'
        )
    return f"cannot parse the row: {error}"


def _xlsx_records(data: bytes, file: str) -> list[tuple[int, list[str]]]:
    try:
        import openpyxl
    except ImportError:
        message = "reading .xlsx files needs openpyxl: pip install 'gbatch[xlsx]'"
        raise ValidationError([TaskFileProblem(file, None, None, message)]) from None
    with warnings.catch_warnings():
        # openpyxl warns about styles and extensions it ignores; none of it matters for values.
        warnings.simplefilter("ignore")
        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as e:  # damaged or non-xlsx files raise zipfile, KeyError, ValueError, ...
            message = f"not a readable .xlsx workbook: {e}"
            raise ValidationError([TaskFileProblem(file, None, None, message)]) from None
        try:
            sheet = book.active
            if sheet is None or not hasattr(sheet, "iter_rows"):
                raise ValidationError([TaskFileProblem(file, None, None, "the first sheet is not a worksheet")])
            # Some writers store a wrong sheet size, which would cut rows off.
            sheet.reset_dimensions()
            return [
                (n, [_cell_text(v) for v in row])
                for n, row in enumerate(sheet.iter_rows(values_only=True), 1)
            ]
        finally:
            book.close()


def _cell_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _table(
    records: Iterable[tuple[int, list[str]]], file: str, problems: list[TaskFileProblem]
) -> tuple[list[str], list[_Entry], int | None]:
    """Header, rows and header line of a CSV/TSV/xlsx table: blank rows skipped, short rows padded."""
    records = iter(records)
    first = next(((n, cells) for n, cells in records if "".join(cells).strip()), None)
    if first is None:
        problems.append(TaskFileProblem(file, None, None, "the file is empty; its first row must name the columns"))
        return [], [], None
    header_line, header = first
    columns = [c.strip() for c in header]
    while columns and not columns[-1]:
        columns.pop()  # spreadsheets often export empty trailing header cells
    seen: dict[str, int] = {}
    for i, name in enumerate(columns, 1):
        if not name:
            problems.append(TaskFileProblem(file, header_line, f"#{i}", "empty column name"))
        elif (same := seen.setdefault(normalize_key(name), i)) != i:
            # names are matched ignoring case, spaces, '-' and '_', so these would clash
            message = f"duplicate column name; column #{same} is {columns[same - 1]!r}"
            problems.append(TaskFileProblem(file, header_line, name, message))

    width = len(columns)
    entries: list[_Entry] = []
    for line, cells in records:
        if not "".join(cells).strip():
            continue
        if len(cells) > width:
            used = max(i for i, c in enumerate(cells, 1) if c.strip())
            if used > width:
                message = f"row has {used} cells but the header has {width}"
                problems.append(TaskFileProblem(file, line, None, message))
            cells = cells[:width]
        elif len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        entries.append((line, dict(zip(columns, cells, strict=True))))
    return columns, entries, header_line


def _jsonl(text: str, file: str, problems: list[TaskFileProblem]) -> tuple[list[str], list[_Entry]]:
    columns: dict[str, None] = {}  # an ordered set: keys in first-seen order
    folded: dict[str, str] = {}
    entries: list[_Entry] = []
    # Split on "\n" only: JSON strings may hold raw U+2028 etc., which splitlines() breaks on.
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(TaskFileProblem(file, n, None, f"not a JSON object: {e.msg} (column {e.colno})"))
            continue
        if not isinstance(obj, dict):
            problems.append(TaskFileProblem(file, n, None, f"not a JSON object: found {_json_type(obj)}"))
            continue
        for key in obj:
            if key not in columns:
                columns[key] = None
                other = folded.setdefault(normalize_key(key), key)
                if other != key:
                    message = f"key clashes with {other!r} (names are matched ignoring case, spaces, - and _)"
                    problems.append(TaskFileProblem(file, n, key, message))
        entries.append((n, obj))
    return list(columns), entries


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _id_column(columns: list[str]) -> str | None:
    return next((c for c in columns if normalize_key(c) == "id"), None)


def _with_ids(entries: list[_Entry], columns: list[str], file: str, problems: list[TaskFileProblem]) -> list[TaskRow]:
    id_column = _id_column(columns)
    if id_column is None:
        return [TaskRow(str(i), line, values) for i, (line, values) in enumerate(entries, 1)]
    rows: list[TaskRow] = []
    first_seen: dict[str, int] = {}
    for line, values in entries:
        if id_column not in values:  # only a JSONL row can lack a column
            problems.append(TaskFileProblem(file, line, id_column, "missing id"))
            continue
        raw = values[id_column]
        if isinstance(raw, str):
            row_id = raw.strip()
        elif raw is None:
            row_id = ""
        elif isinstance(raw, int) and not isinstance(raw, bool):  # JSONL ids may be numbers
            row_id = str(raw)
        else:
            shown = json.dumps(raw, ensure_ascii=False)
            message = f"id must be a string or an integer, not {shown[:40]}"
            problems.append(TaskFileProblem(file, line, id_column, message))
            continue
        if not row_id:
            problems.append(TaskFileProblem(file, line, id_column, "empty id"))
        elif (first := first_seen.setdefault(row_id, line)) != line:
            message = f"duplicate id {row_id!r} (first used on row {first})"
            problems.append(TaskFileProblem(file, line, id_column, message))
        rows.append(TaskRow(row_id, line, values))
    return rows

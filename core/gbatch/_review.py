"""The review page: `OUT/review.html`, one static page to look at and listen to a batch.

`write_review` reads the journal (the last record of each row), measures every
audio output once (duration and a waveform of per-bucket peaks, cached beside the
journal by path, size and mtime), and writes a single self-contained HTML file:
the rows are one JSON blob that a small inline script renders a page at a time,
so a 10,000-row batch opens as fast as a 10-row one. Outputs are linked by
relative path, never embedded, and every text reaches the page through
`textContent`, never as markup.

Working through the page (filters, search, `j`/`k`/space/`x`) keeps the marks in
the browser's localStorage and exports them as `redo.txt`. `serve_review` serves
OUT read-only on loopback and also accepts `POST /redo`, so the page can save the
marks straight into `OUT/redo.txt`.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import mimetypes
import re
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from ._errors import UsageError
from ._journal import JOURNAL_NAME, Journal
from ._outputs import atomic_write

__all__ = ["PAGE_NAME", "REDO_NAME", "review_data", "serve_review", "waveform", "write_review"]

PAGE_NAME = "review.html"
REDO_NAME = "redo.txt"
CACHE_NAME = ".gbatch-review-cache.json"
JOINED_DIR = "joined"
BUCKETS = 120  # waveform columns: enough to see a cut-off or a long silence, 120 bytes a file
PAGE_SIZE = 100  # rows rendered at once; the rest wait in the JSON blob
MAX_TEXT = 4000  # longer cells are cut: the page is for listening, the task file keeps the rest
_LEVELS = "0123456789abcdefghijklmnopqrstuvwxyz"  # one character per bucket peak (36 levels)

AUDIO = {"wav", "flac", "mp3", "ogg", "oga", "opus", "m4a", "aac", "weba"}
IMAGE = {"png", "jpg", "jpeg", "gif", "webp", "bmp", "svg", "avif"}
VIDEO = {"mp4", "webm", "mov", "mkv", "ogv", "m4v"}

# The CosyVoice tool's own length warnings ("only 0.10 s of audio for 40 characters: ...",
# "31.0 s of audio for 12 characters: the model may have run on").
_LENGTH_WARNING = re.compile(r"s of audio for \d+ characters")
_MARKUP = re.compile(r"\[[^\]]*\]|<[^>]*>|\s")
_MARKER = "<|endofprompt|>"


# --- audio measurements ----------------------------------------------------------------------


def kind_of(path: str) -> str:
    """`audio`, `image`, `video` or `file`, by extension: that decides the player."""
    ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if ext in AUDIO:
        return "audio"
    if ext in IMAGE:
        return "image"
    return "video" if ext in VIDEO else "file"


def waveform(path: Path, buckets: int = BUCKETS) -> tuple[float, str]:
    """Seconds and per-bucket peaks of an audio file, one character (0-9a-z) per bucket.

    Raises whatever soundfile raises for a file it cannot read; the caller decides.
    """
    import numpy as np
    import soundfile as sf

    with sf.SoundFile(str(path)) as handle:
        frames, rate = handle.frames, handle.samplerate
        if frames <= 0:
            return 0.0, ""
        if frames <= 4_000_000:
            samples = np.abs(handle.read(dtype="float32", always_2d=True)).max(axis=1)
            starts = np.linspace(0, len(samples), buckets + 1).astype(np.int64)[:-1]
            peaks = np.maximum.reduceat(samples, starts) if len(samples) else np.zeros(0)
        else:
            # A long joined chapter: read bucket by bucket instead of holding it all in memory.
            step = math.ceil(frames / buckets)
            peaks = np.array([np.abs(block).max() if block.size else 0.0 for block in handle.blocks(step, dtype="float32")])
    levels = np.clip(np.rint(np.asarray(peaks, dtype=np.float64) * (len(_LEVELS) - 1)), 0, len(_LEVELS) - 1)
    return frames / rate, "".join(_LEVELS[int(v)] for v in levels)


class _WaveCache:
    """Waveforms by (path, size, mtime) in a small JSON file under OUT, so a refresh reads no audio."""

    VERSION = 1

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / CACHE_NAME
        self.out_dir = out_dir
        self.entries: dict[str, list[Any]] = {}
        self.used: set[str] = set()
        self.changed = False
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
            if stored.get("version") == self.VERSION and isinstance(stored.get("files"), dict):
                self.entries = stored["files"]
        except (OSError, ValueError, AttributeError):
            pass  # no cache, or a broken one: measure again

    def get(self, rel: str) -> dict[str, Any]:
        """`seconds` and `peaks` of an audio output, or `missing` / `note` when it cannot be read."""
        try:
            stat = (self.out_dir / rel).stat()
        except (OSError, ValueError):
            return {"missing": True}
        self.used.add(rel)
        entry = self.entries.get(rel)
        if not (isinstance(entry, list) and len(entry) == 5 and entry[:2] == [stat.st_size, stat.st_mtime_ns]):
            entry = [stat.st_size, stat.st_mtime_ns, *self._measure(self.out_dir / rel)]
            self.entries[rel] = entry
            self.changed = True
        seconds, peaks, note = entry[2:]
        return {"seconds": seconds, "peaks": peaks, "note": note}

    @staticmethod
    def _measure(path: Path) -> list[Any]:
        try:
            seconds, peaks = waveform(path)
        except Exception as exc:  # any unreadable file (AAC, truncated, not audio) only loses its waveform
            # the page shows the file's name already: keep only why
            reason = re.sub(r"^Error opening\s*:?\s*", "", str(exc).replace(f"'{path}'", "").replace(str(path), ""))
            return [None, None, f"no waveform ({type(exc).__name__}: {' '.join(reason.split())[:160]})"]
        return [round(seconds, 3), peaks, None]

    def save(self) -> None:
        stale = set(self.entries) - self.used
        if not (self.changed or stale):
            return
        files = {k: v for k, v in self.entries.items() if k in self.used}
        text = json.dumps({"version": self.VERSION, "files": files}, ensure_ascii=False, separators=(",", ":"))
        with contextlib.suppress(OSError):  # a read-only OUT still gets its page if the page can be written
            atomic_write(self.path, text.encode("utf-8", "replace"))


# --- the rows -------------------------------------------------------------------------------------


def spoken_length(text: str) -> int:
    """Characters that take time to say: CosyVoice markup, the system prompt and spaces take none."""
    return len(_MARKUP.sub("", text.rsplit(_MARKER, 1)[-1]))


def length_flag(text: str | None, seconds: float | None, speed: float = 1.0) -> str | None:
    """Why `seconds` of audio is implausible for `text` (the CosyVoice tool's own bounds), or None."""
    if not text or seconds is None or speed <= 0:
        return None
    spoken = spoken_length(text)
    if spoken and seconds < spoken / 40 / speed:
        return f"only {seconds:.2f} s of audio for {spoken} characters"
    if seconds > 5 + spoken / speed:
        return f"{seconds:.1f} s of audio for {spoken} characters"
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _plain(value: Any) -> Any:
    """A JSON-safe, bounded version of a journal value (no NaN, no huge strings)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _file(rel: str, cache: _WaveCache) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": rel, "url": quote(rel), "kind": kind_of(rel)}
    if entry["kind"] == "audio":
        entry.update({k: v for k, v in cache.get(rel).items() if v is not None})
    elif not (cache.out_dir / rel).is_file():
        entry["missing"] = True
    return entry


def _take_paths(take: Any) -> list[str]:
    """Files of one earlier take, whether the journal lists it as a path or as a record."""
    if isinstance(take, str):
        return [take]
    if isinstance(take, Mapping):
        found = take.get("outputs") or take.get("files") or take.get("path") or take.get("file") or []
        return [found] if isinstance(found, str) else [str(p) for p in found if isinstance(p, str)]
    return []


def _row(record: Mapping[str, Any], cache: _WaveCache, columns: list[str]) -> dict[str, Any]:
    values, inputs, generated = (_mapping(record.get(key)) for key in ("values", "inputs", "generated"))
    outputs = [_file(p, cache) for p in record.get("outputs") or [] if isinstance(p, str)]
    checked = _checked_takes(record, cache)
    best = record.get("best_take")
    # A checked row lists every take, its kept one too (that one is the row's output).
    takes = [_file(p, cache) for take in record.get("takes") or [] if not (checked and isinstance(take, Mapping) and take.get("take") == best) for p in _take_paths(take)]
    seconds = _number(values.get("duration"))
    if seconds is None:
        seconds = next((o["seconds"] for o in outputs if o.get("seconds") is not None), None)
    warnings = [str(w) for w in record.get("warnings") or []]
    flag = next((w for w in warnings if _LENGTH_WARNING.search(w)), None)
    if flag is None:
        text = inputs.get("text")
        flag = length_flag(text if isinstance(text, str) else None, seconds, _number(inputs.get("speed")) or 1.0)
    return {
        "id": str(record.get("id")),
        "status": str(record.get("status") or "?"),
        "line": record.get("line") if isinstance(record.get("line"), int) else None,
        "name": _plain(record.get("name")),
        "attempts": record.get("attempts") if isinstance(record.get("attempts"), int) else None,
        "ended": _plain(record.get("ended")),
        "seconds": seconds,
        "rate": _number(values.get("sample_rate")),
        "seed": _plain(generated.get("seed", inputs.get("seed"))),
        "inputs": {k: _plain(inputs[k]) for k in columns if k != "id" and inputs.get(k) not in (None, "")},
        "values": {str(k): _plain(v) for k, v in values.items() if k not in ("duration", "sample_rate")},
        "outputs": outputs,
        "takes": takes,
        "warnings": [_plain(w) for w in warnings],
        "error": _plain(record.get("error")),
        "flag": flag,
        "checked": checked,
        "score": _number(record.get("score")),
        "check_flag": _plain(record.get("flag")),
    }


def _checked_takes(record: Mapping[str, Any], cache: _WaveCache) -> list[dict[str, Any]]:
    """Each take a recogniser checked (or could not): its transcript, score and edits."""
    found = []
    for take in record.get("takes") or []:
        if not isinstance(take, Mapping) or not ("score" in take or "unchecked" in take):
            continue
        score = _mapping(take.get("score"))
        found.append(
            {
                "take": take.get("take"),
                "best": take.get("take") == record.get("best_take"),
                "seed": _plain(_mapping(take.get("generated")).get("seed")),
                "error": _number(score.get("error")),
                "measure": _plain(score.get("measure")),
                "transcript": _plain(take.get("transcript")),
                "differences": [_plain(d) for d in score.get("differences") or []],
                "unchecked": _plain(take.get("unchecked")),
                "files": [_file(p, cache) for p in _take_paths(take)],
            }
        )
    return found


def _common_inputs(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Inputs with one value on every row (a voice, its transcript), moved out of the rows: shown once."""
    if len(rows) < 2:
        return {}
    first = rows[0]["inputs"]
    common = {k: v for k, v in first.items() if k not in ("id", "text") and all(r["inputs"].get(k) == v for r in rows)}
    for row in rows:
        row["inputs"] = {k: v for k, v in row["inputs"].items() if k not in common}
    return common


def _columns(records: Iterable[Mapping[str, Any]], wanted: list[str] | None) -> list[str]:
    if wanted is not None:
        return list(wanted)
    seen: dict[str, None] = {}
    for record in records:
        inputs = record.get("inputs")
        if isinstance(inputs, Mapping):
            seen.update(dict.fromkeys(str(k) for k in inputs))
    return list(seen)


# --- joined chapters ------------------------------------------------------------------------------

_SRT_TIME = re.compile(r"(\d+):(\d{2}):(\d{2})[,.](\d{3})")


def parse_srt(text: str) -> list[tuple[float, float, str]]:
    """(start, end, text) cues of an .srt file; blocks that do not parse are skipped."""
    cues = []
    for block in re.split(r"\r?\n\s*\r?\n", text.strip()):
        lines = block.splitlines()
        timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing is None:
            continue
        stamps = [_SRT_TIME.search(part) for part in lines[timing].split("-->", 1)]
        if not all(stamps):
            continue
        start, end = (int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3]) + int(m[4]) / 1000 for m in stamps if m)
        cues.append((start, end, "\n".join(lines[timing + 1 :])))
    return cues


def _joined(out_dir: Path, cache: _WaveCache) -> list[dict[str, Any]]:
    folder = out_dir / JOINED_DIR
    if not folder.is_dir():
        return []
    chapters = []
    for srt in sorted(folder.glob("*.srt")):
        audio = next((p for p in sorted(folder.glob(_glob_literal(srt.stem) + ".*")) if kind_of(p.name) == "audio"), None)
        try:
            cues = parse_srt(srt.read_text(encoding="utf-8-sig", errors="replace"))
        except OSError:
            cues = []
        entry: dict[str, Any] = {
            "name": srt.stem,
            "srt": _file(f"{JOINED_DIR}/{srt.name}", cache),
            "cues": [[round(a, 3), round(b, 3), _plain(t)] for a, b, t in cues],
        }
        if audio is not None:
            entry["audio"] = _file(f"{JOINED_DIR}/{audio.name}", cache)
        chapters.append(entry)
    return chapters


def _glob_literal(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


# --- the page -------------------------------------------------------------------------------------


def _read_redo(out_dir: Path) -> tuple[list[str], float | None]:
    path = out_dir / REDO_NAME
    try:
        ids = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
        return ids, path.stat().st_mtime
    except (OSError, UnicodeDecodeError):
        return [], None


def review_data(out_dir: Path, *, task_columns: list[str] | None = None) -> dict[str, Any]:
    """Everything the page shows, as plain JSON-ready data (rows in task-file order)."""
    out_dir = Path(out_dir)
    journal = Journal(out_dir)
    if not journal.path.is_file():
        raise UsageError(f"no gbatch journal in {out_dir} ({JOURNAL_NAME} is missing): run a batch with --out {out_dir} first")
    records = list(journal.read().values())
    # The journal lists rows in the order they finished; the task file's order reads better.
    records.sort(key=lambda r: (not isinstance(r.get("line"), int), r.get("line") if isinstance(r.get("line"), int) else 0))
    columns = _columns(records, task_columns)
    cache = _WaveCache(out_dir)
    rows = [_row(r, cache, columns) for r in records]
    common = _common_inputs(rows)
    joined = _joined(out_dir, cache)
    cache.save()
    redo, redo_mtime = _read_redo(out_dir)
    tools = sorted({str(r["tool"]) for r in records if r.get("tool")})
    return {
        "title": out_dir.resolve().name,
        "key": str(journal.path.resolve()),
        "tools": tools,
        "generated": datetime.now().astimezone().isoformat(timespec="seconds"),
        "columns": columns,
        "common": common,
        "page_size": PAGE_SIZE,
        "redo": redo,
        "redo_mtime": redo_mtime,
        "rows": rows,
        "joined": joined,
    }


def script_json(data: Any) -> str:
    """JSON that is safe inside a <script> element: no `<`, `>` or `&` can end or open a tag."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def render_page(data: Mapping[str, Any]) -> str:
    title = f"gbatch review — {data['title']}"
    return (
        _PAGE.replace("@TITLE@", html.escape(title))
        .replace("@CSS@", _CSS)
        .replace("@JS@", _JS)
        .replace("@DATA@", script_json(data))  # last: the data may contain the other markers
    )


def write_review(out_dir: Path, *, task_columns: list[str] | None = None) -> Path:
    """Write (or refresh) `OUT/review.html` from the journal; returns its path."""
    out_dir = Path(out_dir)
    page = render_page(review_data(out_dir, task_columns=task_columns))
    return atomic_write(out_dir / PAGE_NAME, page.encode("utf-8", "replace"))


# --- serving --------------------------------------------------------------------------------------

MAX_POST = 8 << 20  # a redo list of 100,000 long ids still fits


def _resolve(root: Path, url_path: str) -> Path | None:
    """The file under `root` a URL path names, or None: no `..`, no hidden files, nothing outside."""
    path = unquote(urlsplit(url_path).path)
    parts = [p for p in path.split("/") if p]
    if "\x00" in path or any(p.startswith(".") or "\\" in p for p in parts):
        return None
    target = root.joinpath(*parts).resolve() if parts else root / PAGE_NAME
    try:
        target.relative_to(root)  # a symlink out of OUT resolves outside it and is refused too
    except ValueError:
        return None
    return target if target.is_file() else None


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of a single `bytes=` range; None for the whole file. Raises ValueError if unsatisfiable."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].strip().partition("-")
    if not first:
        if not last.isdigit() or int(last) == 0:
            raise ValueError(header)
        return max(0, size - int(last)), size - 1
    if not first.isdigit() or (last and not last.isdigit()):
        return None
    start, end = int(first), min(int(last) if last else size - 1, size - 1)
    if start > end:
        raise ValueError(header)
    return start, end


class _Handler(BaseHTTPRequestHandler):
    """GET/HEAD files under OUT (with byte ranges, so players can seek); GET and POST /redo."""

    server_version = "gbatch-review"
    root: Path
    hosts: frozenset[str]
    lock: threading.Lock

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # the terminal shows the URL; a line per audio range request would bury it

    def _host_ok(self) -> bool:
        # Another site's page could reach a loopback server through DNS rebinding: answer only our names.
        if (self.headers.get("Host") or "").lower() in self.hosts:
            return True
        self.send_error(HTTPStatus.FORBIDDEN, "unexpected Host header")
        return False

    def _send_json(self, body: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        if not self._host_ok():
            return
        if urlsplit(self.path).path == "/redo":
            ids, mtime = _read_redo(self.root)
            self._send_json({"ids": ids, "mtime": mtime})
            return
        target = _resolve(self.root, self.path)
        if target is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        size = target.stat().st_size
        try:
            span = _byte_range(self.headers.get("Range"), size)
        except ValueError:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start, end = span or (0, size - 1)
        self.send_response(HTTPStatus.PARTIAL_CONTENT if span else HTTPStatus.OK)
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or target.suffix in (".srt", ".jsonl", ".csv"):
            kind = ("text/plain" if target.suffix in (".srt", ".jsonl") else kind) + "; charset=utf-8"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("X-Content-Type-Options", "nosniff")
        if span:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        if target.name == PAGE_NAME:
            self.send_header("Cache-Control", "no-store")  # refreshed after every batch
        self.end_headers()
        if body:
            self._copy(target, start, end - start + 1)

    def _copy(self, path: Path, start: int, length: int) -> None:
        with path.open("rb") as handle:
            handle.seek(start)
            while length > 0:
                block = handle.read(min(length, 1 << 16))
                if not block:
                    break
                try:
                    self.wfile.write(block)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the player moved on to another range
                length -= len(block)

    def do_POST(self) -> None:
        if not self._host_ok():
            return
        if urlsplit(self.path).path != "/redo":
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        # application/json only: a cross-site form or a "simple" fetch cannot send it without a preflight we never grant.
        if (self.headers.get("Content-Type") or "").split(";")[0].strip().lower() != "application/json":
            self.send_error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send a JSON list of ids")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_POST:
            self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE if length else HTTPStatus.LENGTH_REQUIRED)
            return
        try:
            ids = json.loads(self.rfile.read(length))
        except ValueError:
            ids = None
        if not (isinstance(ids, list) and all(isinstance(i, str) and i and not re.search(r"[\r\n]", i) for i in ids)):
            self.send_error(HTTPStatus.BAD_REQUEST, "expected a JSON list of row ids (strings without line breaks)")
            return
        with self.lock:
            atomic_write(self.root / REDO_NAME, "".join(f"{i}\n" for i in ids).encode("utf-8"))
        self._send_json({"saved": len(ids), "path": REDO_NAME})


def serve_review(out_dir: Path, port: int = 0, host: str = "127.0.0.1") -> tuple[str, ThreadingHTTPServer]:
    """Serve OUT read-only (and `POST /redo`) in a background thread; returns its URL and the server.

    Stop it with `server.shutdown(); server.server_close()`.
    """
    root = Path(out_dir).resolve()
    handler: type[_Handler] = type("ReviewHandler", (_Handler,), {"root": root, "lock": threading.Lock(), "hosts": frozenset()})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    bound = int(server.server_address[1])
    names = {host, "127.0.0.1", "localhost", "[::1]"}
    handler.hosts = frozenset(f"{name}:{bound}".lower() for name in names)
    threading.Thread(target=server.serve_forever, name="gbatch-review", daemon=True).start()
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{bound}/{PAGE_NAME}", server


# --- page template --------------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="gbatch">
<title>@TITLE@</title>
<style>@CSS@</style>
</head>
<body>
<header id="top">
  <h1 id="title"></h1>
  <p id="summary"></p>
  <details id="common" hidden><summary>Same for every row</summary></details>
  <nav id="bar">
    <span id="filters" role="group" aria-label="filter">
      <button data-filter="all" class="on">All <b></b></button>
      <button data-filter="failed">Failed <b></b></button>
      <button data-filter="check">Check failed or unchecked <b></b></button>
      <button data-filter="warnings">With warnings <b></b></button>
      <button data-filter="marked">Marked <b></b></button>
    </span>
    <input id="search" type="search" placeholder="Search id, text, warnings…  ( / )" aria-label="search">
    <button id="export" title="download redo.txt: one marked id per line">Export redo.txt</button>
    <span id="saved" role="status"></span>
  </nav>
  <p id="keys"><kbd>j</kbd>/<kbd>k</kbd> next/previous row · <kbd>space</kbd> play/pause · <kbd>x</kbd> mark for redo · <kbd>/</kbd> search</p>
</header>
<section id="joined" hidden><h2>Joined</h2><div id="chapters"></div></section>
<div class="pager"><button class="prev">← prev</button> <span class="pos"></span> <button class="next">next →</button></div>
<main id="rows"></main>
<div class="pager"><button class="prev">← prev</button> <span class="pos"></span> <button class="next">next →</button></div>
<noscript>This page needs JavaScript to list the rows; the outputs are the files beside it.</noscript>
<script type="application/json" id="gbatch-data">@DATA@</script>
<script>@JS@</script>
</body>
</html>
"""

_CSS = """
:root{--bg:#fbfbfa;--fg:#1d1d1f;--mute:#6b6b70;--line:#e2e2e0;--card:#fff;--acc:#2458d6;--bad:#c62828;--warn:#b26a00;--mark:#7b3fc4;--cur:#eef3ff}
@media (prefers-color-scheme:dark){:root{--bg:#17171a;--fg:#e8e8ea;--mute:#9a9aa2;--line:#303036;--card:#1f1f23;--acc:#7aa2ff;--bad:#ff6b6b;--warn:#f0a43a;--mark:#c49bff;--cur:#252d40}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",sans-serif;background:var(--bg);color:var(--fg)}
header#top{position:sticky;top:0;z-index:2;background:var(--bg);border-bottom:1px solid var(--line);padding:10px 16px 6px}
h1{font-size:18px;margin:0 0 2px}h2{font-size:15px;margin:8px 0}
#summary,#keys{margin:2px 0;color:var(--mute)}#common summary{cursor:pointer;color:var(--mute);font-size:12px}#keys{font-size:12px}
#bar{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:6px 0}
button{font:inherit;border:1px solid var(--line);background:var(--card);color:var(--fg);border-radius:6px;padding:3px 9px;cursor:pointer}
button.on{border-color:var(--acc);color:var(--acc);font-weight:600}button:disabled{opacity:.4;cursor:default}
#filters b{font-weight:400;color:var(--mute)}
#search{flex:1 1 220px;min-width:160px;font:inherit;padding:4px 8px;border:1px solid var(--line);border-radius:6px;background:var(--card);color:var(--fg)}
#saved{color:var(--mute);font-size:12px}
kbd{border:1px solid var(--line);border-radius:3px;padding:0 4px;font-size:11px}
#joined,#rows,.pager{padding:0 16px}.pager{margin:8px 0;color:var(--mute)}
.chapter{background:var(--card);border:1px solid var(--line);border-radius:8px;margin:6px 0;padding:6px 10px}
.chapter summary{cursor:pointer;font-weight:600}
.cues{list-style:none;margin:6px 0;padding:0;max-height:260px;overflow:auto}
.cues li{cursor:pointer;padding:1px 4px;border-radius:4px}.cues li:hover{background:var(--cur)}
.cues time{color:var(--mute);font-variant-numeric:tabular-nums;margin-right:4px}
.row{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--line);border-radius:8px;margin:8px 0;padding:8px 12px}
.row.st-failed{border-left-color:var(--bad)}.row.warn{border-left-color:var(--warn)}.row.marked{border-left-color:var(--mark)}
.row.current{background:var(--cur);outline:2px solid var(--acc)}
.head{display:flex;flex-wrap:wrap;gap:10px;align-items:baseline}
.rid{font-weight:700;font-family:ui-monospace,Menlo,Consolas,monospace}
.badge{font-size:12px;border-radius:10px;padding:0 8px;background:#e7f5e9;color:#1b6e2a}
.st-failed .badge{background:#fde8e8;color:var(--bad)}
.meta{color:var(--mute);font-size:12px}
.flag{color:var(--warn);font-weight:600;font-size:12px}
.mark{margin-left:auto}.marked .mark{border-color:var(--mark);color:var(--mark);font-weight:600}
dl{display:grid;grid-template-columns:max-content 1fr;gap:1px 10px;margin:4px 0}
dt{color:var(--mute)}dd{margin:0;white-space:pre-wrap;word-break:break-word}
.outs{display:flex;flex-wrap:wrap;gap:10px;margin:4px 0}
figure{margin:0;display:flex;flex-direction:column;gap:2px;max-width:100%}
figcaption{font-size:12px;color:var(--mute)}figcaption a{color:var(--acc)}
.wave{width:300px;height:32px;cursor:pointer;display:block}
.wave path{stroke:var(--acc);stroke-width:.7;fill:none}.wave rect{fill:var(--acc);opacity:.15}
audio{width:300px;height:32px}
img.thumb{max-width:240px;max-height:240px;border-radius:4px;border:1px solid var(--line)}
video{max-width:360px;max-height:240px}
ul.warnings{margin:4px 0;padding-left:18px;color:var(--warn)}
.error{color:var(--bad);white-space:pre-wrap;margin:4px 0}
.missing{color:var(--bad)}
details.takes summary{cursor:pointer;color:var(--mute);font-size:12px}
table.checked{border-collapse:collapse;margin:4px 0;font-size:13px}table.checked td{padding:2px 8px;vertical-align:top}
table.checked tr.best td{font-weight:600}table.checked td.num{white-space:nowrap}.diff{color:var(--bad);font-family:monospace}
.score{margin-left:6px;color:var(--mute)}
"""

_JS = r"""
(function () {
"use strict";
var D = JSON.parse(document.getElementById("gbatch-data").textContent);
var rows = D.rows, PAGE = D.page_size || 100, KEY = "gbatch-review:" + D.key, SVG = "http://www.w3.org/2000/svg";
var byId = new Map(rows.map(function (r) { return [r.id, r]; }));
var filter = "all", query = "", view = [], page = 0, cur = 0, served = false, saving = Promise.resolve(), hay = null;
var marks = loadMarks();

function $(id) { return document.getElementById(id); }
function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = String(text);
  return e;
}
function secs(s) { return s == null ? "" : (s < 60 ? s.toFixed(2) + " s" : Math.floor(s / 60) + ":" + ("0" + (s % 60).toFixed(1)).slice(-4)); }
function play(m) { var p = m.play(); if (p) p.catch(function () { /* paused again before it started */ }); }
function ended(r) { var t = Date.parse(r.ended || ""); return isNaN(t) ? 0 : t; }

// A mark belongs to one take: a row regenerated after it was marked comes back unmarked.
function keepMark(id, stamp, since) {
  var r = byId.get(id);
  if (!r) return false;
  return since == null ? r.ended === stamp : ended(r) <= since * 1000;
}
function loadMarks() {
  var m = new Map(), stored = null;
  try { stored = JSON.parse(localStorage.getItem(KEY) || "null"); } catch (e) { stored = null; }
  if (stored && typeof stored === "object") {
    Object.keys(stored).forEach(function (id) { if (keepMark(id, stored[id])) m.set(id, stored[id]); });
  } else {
    D.redo.forEach(function (id) { if (keepMark(id, null, D.redo_mtime || 0)) m.set(id, byId.get(id).ended); });
  }
  return m;
}
function redoIds() { return rows.filter(function (r) { return marks.has(r.id); }).map(function (r) { return r.id; }); }
function say(text) { $("saved").textContent = text; }
function saveMarks() {
  var obj = {};
  marks.forEach(function (v, k) { obj[k] = v; });
  try { localStorage.setItem(KEY, JSON.stringify(obj)); } catch (e) { /* private mode: the export still works */ }
  if (!served) { say(marks.size + " marked (kept in this browser; Export saves redo.txt)"); return; }
  var ids = redoIds();
  // One save at a time, in order: the last state the user made is the one on disk.
  saving = saving.then(function () {
    return fetch("redo", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(ids)})
      .then(function (res) { if (!res.ok) throw new Error("HTTP " + res.status); return res.json(); })
      .then(function (j) { say("saved to redo.txt (" + j.saved + (j.saved === 1 ? " id)" : " ids)")); })
      .catch(function (e) { say("could not save redo.txt: " + e.message); });
  });
}

function haystack(r) {
  return [r.id, r.name, r.status, r.error, r.flag, r.seed].concat(r.checked.map(function (t) { return t.transcript; }), Object.values(r.inputs), Object.values(r.values), r.warnings,
    r.outputs.map(function (o) { return o.path; })).filter(function (x) { return x != null; }).join("\n").toLowerCase();
}
function matches(r) {
  if (filter === "failed" && r.status === "ok") return false;
  if (filter === "check" && r.status !== "check failed" && r.status !== "unchecked") return false;
  if (filter === "warnings" && !(r.warnings.length || r.flag)) return false;
  if (filter === "marked" && !marks.has(r.id)) return false;
  return true;
}
function applyView(keepId) {
  var q = query.trim().toLowerCase();
  if (q && !hay) hay = rows.map(haystack);
  view = [];
  for (var i = 0; i < rows.length; i++) {
    if (matches(rows[i]) && (!q || hay[i].indexOf(q) >= 0)) view.push(i);
  }
  var at = keepId == null ? -1 : view.findIndex(function (i) { return rows[i].id === keepId; });
  cur = at >= 0 ? at : 0;
  page = Math.floor(cur / PAGE);
  render();
}

function wave(peaks, media) {
  var svg = document.createElementNS(SVG, "svg"), d = "", n = peaks.length;
  svg.setAttribute("viewBox", "0 0 " + n + " 32");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "wave");
  for (var i = 0; i < n; i++) {
    var h = Math.max(0.4, parseInt(peaks[i], 36) / 35 * 15);
    d += "M" + (i + 0.5) + " " + (16 - h).toFixed(1) + "V" + (16 + h).toFixed(1);
  }
  var played = document.createElementNS(SVG, "rect"), path = document.createElementNS(SVG, "path");
  played.setAttribute("height", "32");
  played.setAttribute("width", "0");
  path.setAttribute("d", d);
  svg.appendChild(played);
  svg.appendChild(path);
  if (media) {
    media.addEventListener("timeupdate", function () {
      if (media.duration) played.setAttribute("width", String(n * media.currentTime / media.duration));
    });
    svg.addEventListener("click", function (e) {  // the waveform is also a scrubber
      var at = (e.clientX - svg.getBoundingClientRect().left) / svg.getBoundingClientRect().width;
      var go = function () { media.currentTime = at * media.duration; play(media); };
      if (isFinite(media.duration)) go(); else { media.addEventListener("loadedmetadata", go, {once: true}); media.load(); }
    });
  }
  return svg;
}
function fileEl(f) {
  var fig = el("figure"), media = null;
  if (f.missing) {
    fig.appendChild(el("figcaption", "missing", f.path + " (missing)"));
    return fig;
  }
  if (f.kind === "audio" || f.kind === "video") {
    media = el(f.kind);
    media.controls = true;
    media.preload = "none";
    media.src = f.url;
  } else if (f.kind === "image") {
    media = el("img", "thumb");
    media.loading = "lazy";
    media.alt = f.path;
    media.src = f.url;
  }
  if (f.peaks) fig.appendChild(wave(f.peaks, media));
  if (media) fig.appendChild(media);
  var cap = el("figcaption"), a = el("a", null, f.path);
  a.href = f.url;
  cap.appendChild(a);
  if (f.seconds != null) cap.appendChild(document.createTextNode(" · " + secs(f.seconds)));
  if (f.note) cap.appendChild(document.createTextNode(" · " + f.note));
  fig.appendChild(cap);
  return fig;
}
function dl(obj) {
  var list = el("dl");
  Object.keys(obj).forEach(function (k) { list.appendChild(el("dt", null, k)); list.appendChild(el("dd", null, obj[k])); });
  return list;
}
function checkedEl(r) {
  var table = el("table", "checked");
  r.checked.forEach(function (t) {
    var tr = el("tr", t.best ? "best" : null);
    tr.appendChild(el("td", null, (t.best ? "★ " : "") + "take " + t.take + (t.seed != null ? " · seed " + t.seed : "")));
    tr.appendChild(el("td", "num", t.error != null ? t.error.toFixed(2) + " " + (t.measure || "") : "unchecked"));
    var heard = el("td");
    heard.appendChild(el("div", "heard", t.error != null ? "heard: " + (t.transcript || "(nothing)") : (t.unchecked || "")));
    if (t.differences.length) heard.appendChild(el("div", "diff", t.differences.join("  ")));
    tr.appendChild(heard);
    table.appendChild(tr);
  });
  return table;
}
function rowEl(r, at) {
  var art = el("article", "row st-" + (r.status === "ok" ? "ok" : "failed"));
  if (r.warnings.length || r.flag) art.classList.add("warn");
  if (marks.has(r.id)) art.classList.add("marked");
  art.dataset.at = at;
  art.dataset.id = r.id;
  var head = el("div", "head");
  head.appendChild(el("span", "rid", r.id));
  head.appendChild(el("span", "badge", r.status));
  var meta = [];
  if (r.seconds != null) meta.push(secs(r.seconds));
  if (r.rate) meta.push(r.rate + " Hz");
  if (r.seed != null) meta.push("seed " + r.seed);
  if (r.attempts != null) meta.push(r.attempts + (r.attempts === 1 ? " attempt" : " attempts"));
  if (r.line != null) meta.push("line " + r.line);
  head.appendChild(el("span", "meta", meta.join(" · ")));
  if (r.flag) head.appendChild(el("span", "flag", r.warnings.indexOf(r.flag) >= 0 ? "⚠ implausible length" : "⚠ length: " + r.flag));
  if (r.score != null) head.appendChild(el("span", "score", "score " + r.score.toFixed(2)));
  if (r.check_flag) head.appendChild(el("span", "flag", "⚠ " + r.check_flag));
  var mark = el("button", "mark", marks.has(r.id) ? "☑ redo" : "☐ redo");
  mark.title = "mark for redo (x)";
  mark.addEventListener("click", function () { select(at); toggleMark(); });
  head.appendChild(mark);
  art.appendChild(head);
  if (Object.keys(r.inputs).length) art.appendChild(dl(r.inputs));
  if (Object.keys(r.values).length) art.appendChild(dl(r.values));
  if (r.outputs.length) {
    var outs = el("div", "outs");
    r.outputs.forEach(function (f) { outs.appendChild(fileEl(f)); });
    art.appendChild(outs);
  }
  if (r.warnings.length) {
    var ul = el("ul", "warnings");
    r.warnings.forEach(function (w) { ul.appendChild(el("li", null, w)); });
    art.appendChild(ul);
  }
  if (r.error) art.appendChild(el("p", "error", r.error));
  if (r.checked.length) art.appendChild(checkedEl(r));
  if (r.takes.length) {
    var det = el("details", "takes"), box = el("div", "outs");
    det.appendChild(el("summary", null, "earlier takes (" + r.takes.length + ")"));
    r.takes.forEach(function (f) { box.appendChild(fileEl(f)); });
    det.appendChild(box);
    art.appendChild(det);
  }
  art.addEventListener("click", function (e) { if (e.target === art || e.target.closest(".head")) select(at); });
  return art;
}

function counts() {
  var n = {all: rows.length, failed: 0, check: 0, warnings: 0, marked: marks.size};
  rows.forEach(function (r) {
    if (r.status !== "ok") n.failed++;
    if (r.status === "check failed" || r.status === "unchecked") n.check++;
    if (r.warnings.length || r.flag) n.warnings++;
  });
  document.querySelectorAll("#filters button").forEach(function (b) {
    b.querySelector("b").textContent = n[b.dataset.filter];
    b.classList.toggle("on", b.dataset.filter === filter);
  });
}
function render() {
  var list = $("rows"), start = page * PAGE, end = Math.min(view.length, start + PAGE), frag = document.createDocumentFragment();
  document.querySelectorAll("#rows audio, #rows video").forEach(function (m) { m.pause(); });
  list.textContent = "";
  for (var v = start; v < end; v++) frag.appendChild(rowEl(rows[view[v]], v));
  list.appendChild(frag);
  document.querySelectorAll(".pos").forEach(function (p) { p.textContent = view.length ? (start + 1) + "–" + end + " of " + view.length : "no rows"; });
  document.querySelectorAll(".prev").forEach(function (b) { b.disabled = page === 0; });
  document.querySelectorAll(".next").forEach(function (b) { b.disabled = end >= view.length; });
  counts();
  highlight(false);
}
function current() { return document.querySelector('#rows .row[data-at="' + cur + '"]'); }
function highlight(scroll) {
  document.querySelectorAll("#rows .row.current").forEach(function (e) { e.classList.remove("current"); });
  var c = current();
  if (c) { c.classList.add("current"); if (scroll) c.scrollIntoView({block: "nearest"}); }
}
function select(at) {
  if (!view.length) return;
  var before = current();
  cur = Math.max(0, Math.min(view.length - 1, at));
  var want = Math.floor(cur / PAGE);
  if (want !== page) { page = want; render(); }
  else if (before !== current() && before) before.querySelectorAll("audio, video").forEach(function (m) { m.pause(); });
  highlight(true);
}
function toggleMark() {
  var c = current();
  if (!c) return;
  var id = c.dataset.id, r = byId.get(id);
  if (marks.has(id)) marks.delete(id); else marks.set(id, r.ended);
  c.classList.toggle("marked", marks.has(id));
  c.querySelector(".mark").textContent = marks.has(id) ? "☑ redo" : "☐ redo";
  counts();
  saveMarks();
}
function playPause() {
  var c = current(), m = c && c.querySelector("audio, video");
  if (!m) return;
  document.querySelectorAll("audio, video").forEach(function (o) { if (o !== m) o.pause(); });
  if (m.paused) play(m); else m.pause();
}
function exportRedo() {
  var ids = redoIds(), a = el("a");
  a.href = URL.createObjectURL(new Blob([ids.map(function (i) { return i + "\n"; }).join("")], {type: "text/plain"}));
  a.download = "redo.txt";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(function () { URL.revokeObjectURL(a.href); }, 5000);
  say("exported " + ids.length + (ids.length === 1 ? " id" : " ids") + " to redo.txt");
}

function chapters() {
  if (!D.joined.length) return;
  var box = $("chapters");
  $("joined").hidden = false;
  D.joined.forEach(function (c, i) {
    var det = el("details", "chapter"), sum = el("summary", null, c.name + (c.audio && c.audio.seconds != null ? " · " + secs(c.audio.seconds) : "") + " · " + c.cues.length + " lines");
    det.appendChild(sum);
    // Built when first opened: a long book has hundreds of chapters and thousands of cues.
    det.addEventListener("toggle", function () { if (det.open && !det.dataset.built) chapterBody(det, c); });
    det.open = i === 0 && D.joined.length <= 10;
    box.appendChild(det);
  });
}
function chapterBody(det, c) {
  det.dataset.built = "1";
  var player = c.audio ? fileEl(c.audio) : null, media = player && player.querySelector("audio");
  if (player) det.appendChild(player);
  var ol = el("ol", "cues");
  c.cues.forEach(function (q) {
    var li = el("li");
    li.appendChild(el("time", null, secs(q[0])));
    li.appendChild(document.createTextNode(" " + q[2]));
    li.addEventListener("click", function () {  // a line of the transcript plays from there
      if (!media) return;
      var go = function () { media.currentTime = q[0]; play(media); };
      if (isFinite(media.duration)) go(); else { media.addEventListener("loadedmetadata", go, {once: true}); media.load(); }
    });
    ol.appendChild(li);
  });
  det.appendChild(ol);
  det.appendChild(fileEl(c.srt));
}

document.addEventListener("keydown", function (e) {
  var t = e.target;
  if (t && t.matches && t.matches("input, textarea, select")) { if (e.key === "Escape") t.blur(); return; }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "j") select(cur + 1);
  else if (e.key === "k") select(cur - 1);
  else if (e.key === "x") toggleMark();
  else if (e.key === "/") $("search").focus();
  else if (e.key === " " && !(t && t.matches && t.matches("audio, video"))) playPause();
  else return;
  e.preventDefault();
});
document.querySelectorAll("#filters button").forEach(function (b) {
  b.addEventListener("click", function () { filter = b.dataset.filter; applyView(null); });
});
// A clicked button must not keep the focus: space would press it again instead of playing.
document.addEventListener("click", function (e) {
  var b = e.target.closest && e.target.closest("button");
  if (b && e.detail > 0) b.blur();
});
$("search").addEventListener("input", function (e) { query = e.target.value; applyView(null); });
$("export").addEventListener("click", exportRedo);
document.querySelectorAll(".prev").forEach(function (b) { b.addEventListener("click", function () { select((page - 1) * PAGE); }); });
document.querySelectorAll(".next").forEach(function (b) { b.addEventListener("click", function () { select((page + 1) * PAGE); }); });

$("title").textContent = "gbatch review — " + D.title;
var failed = rows.filter(function (r) { return r.status !== "ok"; }).length;
$("summary").textContent = rows.length + " rows · " + (rows.length - failed) + " ok · " + failed + " failed" +
  (D.tools.length ? " · tool: " + D.tools.join(", ") : "") + " · page written " + D.generated;
if (Object.keys(D.common).length) { $("common").appendChild(dl(D.common)); $("common").hidden = false; }
chapters();
applyView(null);
say(marks.size ? marks.size + " marked" : "");
window.gbatchReview = {ready: performance.now(), rows: rows.length};

// Served by `gbatch review --serve`: the marks go straight into OUT/redo.txt.
if (location.protocol === "http:" || location.protocol === "https:") {
  fetch("redo", {cache: "no-store"}).then(function (res) { return res.ok ? res.json() : null; }).then(function (j) {
    if (!j || !Array.isArray(j.ids)) return;
    served = true;
    // redo.txt and this browser's marks together: nothing marked before serving is lost.
    var before = marks.size, known = new Set(j.ids);
    j.ids.forEach(function (id) { if (keepMark(id, null, j.mtime || 0)) marks.set(id, byId.get(id).ended); });
    var at = view[cur];
    applyView(at == null ? null : rows[at].id);
    var extra = Array.from(marks.keys()).some(function (id) { return !known.has(id); });
    if (extra || before !== marks.size) saveMarks(); else say("served: marks are saved to redo.txt (" + marks.size + " marked)");
  }).catch(function () { /* a plain static server: marks stay in the browser */ });
}
})();
"""

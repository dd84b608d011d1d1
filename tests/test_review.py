"""The review page (`gbatch review OUT`): its data, its escaping, the serve mode, and the page
itself in headless Chromium, opened from a real CosyVoice batch run against the stand-in.

Browser tests drive the Debian `chromium` with the `playwright` package (no browser of its
own is downloaded); they are skipped, with the reason, only when either is missing.
"""

from __future__ import annotations

import functools
import http.client
import io
import json
import os
import re
import shutil
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from gbatch import UsageError
from gbatch._review import (
    BUCKETS,
    CACHE_NAME,
    PAGE_NAME,
    length_flag,
    parse_srt,
    render_page,
    review_data,
    script_json,
    serve_review,
    waveform,
    write_review,
)
from gbatch._review_cli import review_command, review_main

from .conftest import EXAMPLES, ServeFn, ignore_pandas4, run_cli

CHROMIUM = os.environ.get("GBATCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
RATE = 16000


# --- a batch written by hand ---------------------------------------------------------------------


def tone(path: Path, seconds: float, silent_tail: float = 0.0, rate: int = RATE) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    samples = 0.5 * np.sin(2 * np.pi * 220 * t)
    samples = np.concatenate([samples, np.zeros(int(silent_tail * rate))])
    sf.write(str(path), samples.astype(np.float32), rate, subtype="PCM_16")
    return path


def png(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 40, 40)).save(path)
    return path


def record(rid: str, line: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": rid,
        "line": line,
        "name": rid,
        "input_hash": "0" * 16,
        "status": "ok",
        "attempts": 1,
        "backend": "http://127.0.0.1:8000/",
        "started": "2025-05-01T10:00:00.000+00:00",
        "ended": f"2025-05-01T10:00:{line:02d}.000+00:00",
        "duration": 0.5,
        "outputs": [f"{rid}.wav"],
        "values": {},
        "error": None,
        "warnings": [],
        "logs": [],
        "generated": {},
        "tool": "cosyvoice",
    }
    base.update(fields)
    return base


EVIL = '</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2">'


def hand_batch(out: Path) -> Path:
    """A finished batch: ok rows, a failed one, a warned one, an image, takes, a joined chapter."""
    out.mkdir(parents=True, exist_ok=True)
    tone(out / "a.wav", 2.0)
    tone(out / "b.wav", 0.5, silent_tail=0.5)
    tone(out / "b.take1.wav", 0.3)
    tone(out / "c.wav", 0.1)
    tone(out / "long.wav", 30.0, rate=8000)
    (out / "aac.aac").write_bytes(b"\xff\xf1 not really aac")
    png(out / "pic #1?.png")
    records = [
        # written out of order: the page lists rows in task-file order
        record("c", 4, values={"duration": 0.1, "sample_rate": RATE}, inputs={"text": "x" * 40},
               warnings=["only 0.10 s of audio for 40 characters: part of the text may be missing"]),
        record("a", 2, values={"duration": 2.0, "sample_rate": RATE}, generated={"seed": 123},
               inputs={"text": "Hello there, friend.", "speaker": "中文女"}),
        record("b", 3, values={"duration": 1.0, "sample_rate": RATE}, inputs={"text": "Second line.", "seed": "7"},
               takes=["b.take1.wav"], attempts=2),
        record("broken", 5, status="failed", outputs=[], error="AppError: the model ran out of memory", attempts=4,
               inputs={"text": "Never spoken."}),
        record(EVIL, 6, outputs=["aac.aac"], inputs={"text": EVIL}),
        record("img", 7, outputs=["pic #1?.png", "gone.wav"], tool="run", inputs={"prompt": "a red square"}),
        record("long", 8, outputs=["long.wav"], inputs={"text": "Short."}, values={"duration": 30.0}),
    ]
    with (out / "gbatch-journal.jsonl").open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(record("a", 2, status="failed", outputs=[])) + "\n")  # an earlier attempt: the last record wins
        for rec in records:
            handle.write(json.dumps(rec, ensure_ascii=False) + "\n")
    (out / "joined").mkdir(exist_ok=True)
    tone(out / "joined" / "ch1.wav", 3.0)
    (out / "joined" / "ch1.srt").write_text(
        "1\n00:00:00,000 --> 00:00:02,000\nHello there, friend.\n\n2\n00:00:02,500 --> 00:00:03,000\n第二句 <b>bold</b>\n",
        encoding="utf-8",
    )
    return out


@pytest.fixture
def batch(tmp_path: Path) -> Path:
    return hand_batch(tmp_path / "out")


# --- the page data ------------------------------------------------------------------------------------


def test_rows_statuses_inputs_and_outputs(batch: Path) -> None:
    data = review_data(batch)
    rows = {r["id"]: r for r in data["rows"]}
    assert [r["id"] for r in data["rows"]] == ["a", "b", "c", "broken", EVIL, "img", "long"]
    assert rows["a"]["status"] == "ok" and rows["broken"]["status"] == "failed"
    assert rows["broken"]["error"] == "AppError: the model ran out of memory" and rows["broken"]["attempts"] == 4
    assert rows["a"]["seed"] == 123 and rows["b"]["seed"] == "7"  # generated, else the row's own seed
    assert rows["a"]["inputs"] == {"text": "Hello there, friend.", "speaker": "中文女"}
    assert data["columns"] == ["text", "speaker", "seed", "prompt"]
    (a,) = rows["a"]["outputs"]
    assert (a["path"], a["kind"], a["seconds"], len(a["peaks"])) == ("a.wav", "audio", 2.0, BUCKETS)
    assert rows["a"]["seconds"] == 2.0 and rows["a"]["rate"] == RATE
    assert [t["path"] for t in rows["b"]["takes"]] == ["b.take1.wav"] and rows["b"]["takes"][0]["seconds"] == 0.3
    image, gone = rows["img"]["outputs"]
    assert (image["kind"], image["url"]) == ("image", "pic%20%231%3F.png")  # relative and quoted, never embedded
    assert gone == {"path": "gone.wav", "url": "gone.wav", "kind": "audio", "missing": True}
    (aac,) = rows[EVIL]["outputs"]
    assert aac["note"].startswith("no waveform") and "peaks" not in aac  # unreadable audio only loses its waveform
    assert data["tools"] == ["cosyvoice", "run"]
    assert review_data(batch, task_columns=["speaker"])["rows"][0]["inputs"] == {"speaker": "中文女"}


def test_inputs_shared_by_every_row_are_shown_once(tmp_path: Path) -> None:
    voice = {"prompt_audio": "/voices/narrator.wav", "prompt_text": "The old keeper."}
    with (tmp_path / "gbatch-journal.jsonl").open("w", encoding="utf-8") as handle:
        for i, text in enumerate(["One.", "Two."]):
            handle.write(json.dumps(record(f"r{i}", i + 2, inputs={"id": f"r{i}", "text": text, "chapter": "c1", **voice})) + "\n")
    data = review_data(tmp_path)
    assert data["common"] == {"chapter": "c1", **voice}
    assert [r["inputs"] for r in data["rows"]] == [{"text": "One."}, {"text": "Two."}]


def test_implausible_length_flag(batch: Path) -> None:
    rows = {r["id"]: r for r in review_data(batch)["rows"]}
    assert rows["c"]["flag"].startswith("only 0.10 s of audio for 40 characters")  # the tool's own warning
    assert rows["long"]["flag"] == "30.0 s of audio for 6 characters"  # computed: text vs duration
    assert rows["a"]["flag"] is None and rows["broken"]["flag"] is None
    assert length_flag("x" * 400, 5.0) == "only 5.00 s of audio for 400 characters"
    assert length_flag("x" * 400, 5.0, speed=2.0) is None
    assert length_flag("[breath]<strong>hi</strong> you", 10.5) == "10.5 s of audio for 5 characters"  # markup takes no time
    assert length_flag("You are a helpful assistant.<|endofprompt|>Hello.", 1.0) is None
    assert length_flag(None, 100.0) is None and length_flag("text", None) is None


def test_waveform_peaks_show_the_shape(tmp_path: Path) -> None:
    seconds, peaks = waveform(tone(tmp_path / "t.wav", 1.0, silent_tail=1.0))
    assert seconds == 2.0 and len(peaks) == BUCKETS
    assert set(peaks[: BUCKETS // 2 - 1]) == {"i"} and set(peaks[BUCKETS // 2 + 1 :]) == {"0"}  # 0.5 peak, then silence
    sf.write(str(tmp_path / "empty.wav"), np.zeros(0, dtype=np.float32), RATE)
    assert waveform(tmp_path / "empty.wav") == (0.0, "")
    short = tone(tmp_path / "short.wav", 0.002)  # fewer samples than buckets
    assert len(waveform(short)[1]) == BUCKETS
    with pytest.raises(Exception, match="Format not recognised|Error opening"):
        waveform(png(tmp_path / "x.png"))


def test_waveforms_are_cached_by_size_and_mtime(batch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_review(batch)
    cache = json.loads((batch / CACHE_NAME).read_text(encoding="utf-8"))
    assert set(cache["files"]) == {"a.wav", "b.wav", "b.take1.wav", "c.wav", "aac.aac", "long.wav", "joined/ch1.wav"}

    def no_reading(path: Path, buckets: int = BUCKETS) -> tuple[float, str]:
        raise AssertionError(f"read {path} again")

    monkeypatch.setattr("gbatch._review.waveform", no_reading)
    first = review_data(batch)
    tone(batch / "a.wav", 1.0)  # a new take under the same name: measured again
    monkeypatch.undo()
    rows = {r["id"]: r for r in review_data(batch)["rows"]}
    assert rows["a"]["outputs"][0]["seconds"] == 1.0
    assert first["rows"][0]["outputs"][0]["seconds"] == 2.0


def test_joined_chapters_with_their_transcript(batch: Path) -> None:
    (chapter,) = review_data(batch)["joined"]
    assert chapter["name"] == "ch1" and chapter["audio"]["path"] == "joined/ch1.wav" and chapter["audio"]["seconds"] == 3.0
    assert chapter["cues"] == [[0.0, 2.0, "Hello there, friend."], [2.5, 3.0, "第二句 <b>bold</b>"]]
    assert chapter["srt"]["path"] == "joined/ch1.srt"
    assert parse_srt("1\r\n00:00:01,500 --> 00:01:02.250\r\nA\r\ntwo lines\r\n\r\nnot a cue\r\n") == [(1.5, 62.25, "A\ntwo lines")]


def test_the_page_is_safe_against_any_text(batch: Path) -> None:
    page = write_review(batch).read_text(encoding="utf-8")
    assert page.count("</script>") == 2  # the data blob's and the code's: no row text can close either
    assert "window.pwned" in page and "<img src=x" not in page
    blob = re.search(r'<script type="application/json" id="gbatch-data">(.*?)</script>', page, re.S)
    assert blob is not None
    data = json.loads(blob.group(1))
    assert EVIL in [r["id"] for r in data["rows"]]
    assert not re.search("https?://", page.replace('"http://www.w3.org/2000/svg"', ""))  # no CDN, nothing fetched
    assert script_json({"t": "a<b>&\u2028"}) == '{"t":"a\\u003cb\\u003e\\u0026\\u2028"}'
    assert "<title>gbatch review — x&lt;y</title>" in render_page({**review_data(batch), "title": "x<y"})


def test_marks_already_in_redo_txt_are_carried(batch: Path) -> None:
    (batch / "redo.txt").write_text("b\nbroken\n", encoding="utf-8")
    data = review_data(batch)
    assert data["redo"] == ["b", "broken"] and data["redo_mtime"] > 0
    assert data["key"].endswith("gbatch-journal.jsonl")


def test_no_journal_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no gbatch journal"):
        write_review(tmp_path)


def test_unusual_journal_values_do_not_break_the_page(tmp_path: Path) -> None:
    tmp_path.joinpath("gbatch-journal.jsonl").write_text(
        '{"id": 1, "status": "ok", "values": {"duration": NaN, "score": Infinity, "nested": {"a": [1]}}, "outputs": ["x.wav", 3]}\n'
        '{"id": "2", "line": "3", "generated": null, "warnings": null, "outputs": null, "takes": [{"outputs": ["y.take1.wav"], "seed": 4}]}\n'
        '{"id": "cut", "status": "ok", "outp\n',
        encoding="utf-8",
    )
    rows = review_data(tmp_path)["rows"]
    assert [r["id"] for r in rows] == ["1", "2"]
    assert rows[0]["seconds"] is None and rows[0]["values"] == {"score": None, "nested": '{"a": [1]}'}
    assert rows[1]["takes"] == [{"path": "y.take1.wav", "url": "y.take1.wav", "kind": "audio", "missing": True}]
    page = write_review(tmp_path).read_text(encoding="utf-8")
    blob = page.split('id="gbatch-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(blob)["rows"][0]["values"]["score"] is None  # strict JSON: no NaN or Infinity


# --- the command ---------------------------------------------------------------------------------------


def test_review_command_writes_the_page(batch: Path) -> None:
    import typer
    from typer.testing import CliRunner

    app = typer.Typer(add_completion=False)
    app.command("review")(review_command())
    app.command("other")(lambda: None)  # a second command keeps `review` a sub-command, as in gbatch
    ok = CliRunner().invoke(app, ["review", str(batch)])
    assert ok.exit_code == 0, ok.output
    assert f"review: {batch / PAGE_NAME}" in ok.output.replace("\n", "")
    missing = CliRunner().invoke(app, ["review", str(batch / "joined")])
    assert missing.exit_code == 2 and "no gbatch journal" in missing.output


def test_serve_stops_cleanly_on_ctrl_c(batch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("gbatch._review_cli._wait_for_ctrl_c", interrupted)
    buffer = io.StringIO()
    assert review_main(batch, True, 0, Console(file=buffer, width=300)) == 130
    assert re.search(r"serving .* at http://127\.0\.0\.1:\d+/review\.html", buffer.getvalue())
    assert "stopped serving." in buffer.getvalue()


# --- serving ----------------------------------------------------------------------------------------------


@pytest.fixture
def served(batch: Path) -> Iterator[tuple[str, int, Path]]:
    write_review(batch)
    url, server = serve_review(batch)
    yield url, int(server.server_address[1]), batch
    server.shutdown()
    server.server_close()


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host="Host" in (headers or {}), skip_accept_encoding=True)
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_serve_answers_files_and_ranges(served: tuple[str, int, Path]) -> None:
    url, port, out = served
    assert url == f"http://127.0.0.1:{port}/review.html"
    status, headers, body = request(port, "GET", "/review.html")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8" and b"gbatch-data" in body
    assert request(port, "GET", "/")[2] == body
    status, headers, body = request(port, "GET", "/a.wav", headers={"Range": "bytes=0-43"})
    assert status == 206 and body == (out / "a.wav").read_bytes()[:44]
    assert headers["content-range"] == f"bytes 0-43/{(out / 'a.wav').stat().st_size}"
    assert request(port, "GET", "/a.wav", headers={"Range": "bytes=999999999-"})[0] == 416
    assert request(port, "GET", "/pic%20%231%3F.png")[0] == 200
    assert request(port, "GET", "/joined/ch1.srt")[1]["content-type"] == "text/plain; charset=utf-8"
    assert request(port, "HEAD", "/a.wav")[2] == b""


@pytest.mark.parametrize(
    "path",
    ["/../secret.txt", "/%2e%2e/secret.txt", "/joined/../../secret.txt", "/..%2fsecret.txt", "/%2e%2e%5csecret.txt",
     "/" + CACHE_NAME, "/.gbatch-claims", "/outside/secret.txt", "/joined", "/nothing.wav", "//etc/passwd"],
)
def test_serve_refuses_paths_outside_out(served: tuple[str, int, Path], path: str) -> None:
    _, port, out = served
    (out.parent / "secret.txt").write_text("secret", encoding="utf-8")
    (out / "outside").symlink_to(out.parent, target_is_directory=True)  # a symlink out of OUT
    (out / CACHE_NAME).touch()
    status, _, body = request(port, "GET", path)
    assert status == 404 and b"secret" not in body


def test_post_redo_writes_redo_txt(served: tuple[str, int, Path]) -> None:
    _, port, out = served
    json_headers = {"Content-Type": "application/json"}
    status, _, body = request(port, "POST", "/redo", json.dumps(["b", EVIL, "中文"]).encode(), json_headers)
    assert status == 200 and json.loads(body) == {"saved": 3, "path": "redo.txt"}
    assert (out / "redo.txt").read_text(encoding="utf-8") == f"b\n{EVIL}\n中文\n"
    status, _, body = request(port, "GET", "/redo")
    assert status == 200 and json.loads(body)["ids"] == ["b", EVIL, "中文"]
    assert request(port, "POST", "/redo", b"[]", json_headers)[0] == 200
    assert (out / "redo.txt").read_text(encoding="utf-8") == ""
    # what is refused: not JSON, not a list of ids, a form post (another site's page), another Host
    assert request(port, "POST", "/redo", b"not json", json_headers)[0] == 400
    assert request(port, "POST", "/redo", b'["a\\nb"]', json_headers)[0] == 400
    assert request(port, "POST", "/redo", b'{"ids": []}', json_headers)[0] == 400
    assert request(port, "POST", "/redo", b'["a"]', {"Content-Type": "text/plain"})[0] == 415
    assert request(port, "POST", "/redo", b'["a"]', {**json_headers, "Host": f"evil.example:{port}"})[0] == 403
    assert request(port, "GET", "/review.html", headers={"Host": "evil.example"})[0] == 403
    assert request(port, "POST", "/review.html", b'["a"]', json_headers)[0] == 404
    assert (out / "redo.txt").read_text(encoding="utf-8") == ""
    assert not list(out.glob(".gbatch-*.part"))


# --- in a real browser ----------------------------------------------------------------------------------


def _browser_missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright; no browser download needed)"
    return None


needs_browser = pytest.mark.skipif(_browser_missing() is not None, reason=_browser_missing() or "")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the module, with a fresh profile; each test gets a new page."""
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True, accept_downloads=True,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    tab.close()
    assert errors == []


TEXTS = {
    "ch1-1": ("ch1", "The lighthouse stood alone at the end of a long, narrow cape."),
    "ch1-2": ("ch1", "灯塔孤零零地立在一条狭长海角的尽头。"),
    "ch1-3": ("ch1", "Every evening, old Mara climbed the steps to light the lamp."),
    "ch2-1": ("ch2", "At midnight she saw a small boat without a light, far out beyond the rocks and the reef."),
    "ch2-2": ("ch2", "This line breaks."),
    "ch2-3": ("ch2", "第二天早上，一个男孩敲响她的门，说：谢谢您。"),
}


def _misbehave(demo: Any) -> Any:
    """The stand-in with one row that fails and one whose audio is cut to 0.1 s (a lost segment)."""
    block = next(f for f in demo.fns.values() if f.api_name == "generate_audio")
    inner = block.fn

    @functools.wraps(inner)  # same name and signature: the API gradio derives does not change
    def generate_audio(*args: Any) -> Iterator[Any]:
        text = str(args[0]).rsplit("<|endofprompt|>", 1)[-1]
        if text == TEXTS["ch2-2"][1]:
            raise RuntimeError("broken on purpose")
        if text == TEXTS["ch2-1"][1]:
            rate, samples = next(iter(inner(*args)))
            yield rate, samples[: rate // 10]
            return
        yield from inner(*args)

    block.fn = generate_audio
    return demo


@pytest.fixture(scope="module")
def demo_out(serve_module: ServeFn, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished CosyVoice batch from the stand-in (speaking with espeak-ng when installed)."""
    if not (shutil.which("ffmpeg") and shutil.which("ffprobe")):
        pytest.skip("the stand-in's streaming audio needs ffmpeg + ffprobe")
    pytest.importorskip("gradio")
    from gbatch_cosyvoice.demo_server import build_demo

    folder = tmp_path_factory.mktemp("demo")
    tasks = folder / "book.csv"
    tasks.write_text("id,chapter,text\n" + "".join(f'{k},{c},"{t}"\n' for k, (c, t) in TEXTS.items()), encoding="utf-8")
    url = serve_module(_misbehave(build_demo("upstream", 3, voice="auto")))
    voice = EXAMPLES / "voices" / "narrator.wav"
    prompt = (EXAMPLES / "voices" / "narrator.txt").read_text(encoding="utf-8").strip()
    out = folder / "out"
    result = run_cli("cosyvoice", tasks, "--server", url, "--out", out, "--prompt-audio", voice, "--prompt-text", prompt,
                     "--join", "chapter", "--gap", "0.3", "--retries", "0", "--quiet")
    assert result.exit_code == 1, result.output  # the broken row failed, the others are done
    write_review(out)
    return out


def open_page(page: Any, out: Path) -> Any:
    page.goto((out / PAGE_NAME).as_uri())
    page.wait_for_function("window.gbatchReview !== undefined")
    return page


def shown_ids(page: Any) -> list[str]:
    return list(page.eval_on_selector_all("#rows .row", "rows => rows.map(r => r.dataset.id)"))


@needs_browser
@ignore_pandas4
def test_filter_mark_with_keys_and_export(page: Any, demo_out: Path, tmp_path: Path) -> None:
    open_page(page, demo_out)
    assert shown_ids(page) == list(TEXTS)
    assert page.locator("#rows .row.st-failed .rid").all_inner_texts() == ["ch2-2"]
    page.click("[data-filter=failed]")
    assert shown_ids(page) == ["ch2-2"]
    page.click("[data-filter=warnings]")
    assert shown_ids(page) == ["ch2-1"]  # the CosyVoice tool's "only 0.10 s of audio" warning
    assert page.locator("#rows .row .flag").inner_text() == "⚠ implausible length"
    page.click("[data-filter=all]")
    page.fill("#search", "BOAT")
    assert shown_ids(page) == ["ch2-1"]
    page.fill("#search", "")
    page.locator("#search").blur()

    # j/k move, x marks: the second and the fourth row
    for key in ["j", "x", "j", "j", "k", "j", "x"]:
        page.keyboard.press(key)
    assert page.locator("#rows .row.current").get_attribute("data-id") == "ch2-1"
    assert page.locator("#rows .row.marked .rid").all_inner_texts() == ["ch1-2", "ch2-1"]
    page.click("[data-filter=marked]")
    assert shown_ids(page) == ["ch1-2", "ch2-1"]
    assert page.locator("[data-filter=marked] b").inner_text() == "2"
    with page.expect_download() as info:
        page.click("#export")
    download = info.value
    assert download.suggested_filename == "redo.txt"
    saved = tmp_path / "redo.txt"
    download.save_as(saved)
    assert saved.read_text(encoding="utf-8").splitlines() == ["ch1-2", "ch2-1"]

    # the marks persist in the browser
    page.reload()
    page.wait_for_function("window.gbatchReview !== undefined")
    assert page.locator("#rows .row.marked .rid").all_inner_texts() == ["ch1-2", "ch2-1"]
    page.keyboard.press("j")
    page.keyboard.press("x")  # unmark ch1-2 again
    assert page.locator("#rows .row.marked .rid").all_inner_texts() == ["ch2-1"]


@needs_browser
@ignore_pandas4
def test_players_waveforms_and_transcript(page: Any, demo_out: Path) -> None:
    open_page(page, demo_out)
    first = page.locator("#rows .row").first
    assert first.locator("audio").get_attribute("preload") == "none"
    assert first.locator("audio").get_attribute("src") == "ch1-1.wav"
    path = first.locator("svg.wave path").get_attribute("d")
    assert path.count("M") == BUCKETS
    heights = [float(b) - float(a) for a, b in re.findall(r"M[\d.]+ ([\d.]+)V([\d.]+)", path)]
    assert max(heights) > 10  # the speech (or tones) shows in the waveform
    # space plays the current row's audio, and pauses it again
    page.keyboard.press(" ")
    page.wait_for_function("!document.querySelector('#rows .row.current audio').paused")
    page.keyboard.press(" ")
    page.wait_for_function("document.querySelector('#rows .row.current audio').paused")
    # the joined chapter, with its subtitles as a transcript (ch2 has a failed row: not joined)
    assert page.locator(".chapter summary").all_inner_texts()[0].startswith("ch1 · ")
    assert page.locator(".chapter .cues li").all_inner_texts() == [
        re.sub(r"\s+", " ", f"{t} {TEXTS[k][1]}") for k, t in zip(["ch1-1", "ch1-2", "ch1-3"], _cue_times(demo_out), strict=True)
    ]
    assert page.locator(".chapter audio").get_attribute("src") == "joined/ch1.wav"


def _cue_times(out: Path) -> list[str]:
    cues = parse_srt((out / "joined" / "ch1.srt").read_text(encoding="utf-8"))
    return [f"{start:.2f} s" if start < 60 else f"{int(start // 60)}:{start % 60:04.1f}" for start, _, _ in cues]


@needs_browser
@ignore_pandas4
def test_screenshot_is_not_blank(page: Any, demo_out: Path) -> None:
    from PIL import Image

    open_page(page, demo_out)
    assert page.locator("#rows .row").count() == len(TEXTS)
    shot = page.screenshot(full_page=False)
    pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("L"), dtype=np.float64)
    assert pixels.shape == (900, 1280) and pixels.std() > 10  # text, players and waveforms, not a blank page
    assert (pixels < 128).mean() > 0.01
    target = os.environ.get("GBATCH_SCREENSHOT")
    if target:  # for the README: GBATCH_SCREENSHOT=docs/review.png
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_bytes(shot)


@needs_browser
def test_the_page_cannot_be_scripted_by_row_text(page: Any, batch: Path) -> None:
    open_page(page, write_review(batch).parent)
    assert page.evaluate("window.pwned") is None
    assert page.locator(f'#rows .row[data-id="{EVIL.replace(chr(34), chr(92) + chr(34))}"] .rid').inner_text() == EVIL
    assert page.locator("#rows .row", has_text="img").locator("img.thumb").get_attribute("loading") == "lazy"
    assert page.locator(".missing").inner_text() == "gone.wav (missing)"


@needs_browser
def test_served_page_saves_marks_into_redo_txt(page: Any, served: tuple[str, int, Path]) -> None:
    url, _, out = served
    page.goto(url)
    page.wait_for_function("document.getElementById('saved').textContent.startsWith('served')")
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.wait_for_function("document.getElementById('saved').textContent.startsWith('saved to redo.txt')")
    assert (out / "redo.txt").read_text(encoding="utf-8") == "b\n"
    page.keyboard.press("k")
    page.keyboard.press("x")
    page.wait_for_function("document.getElementById('saved').textContent === 'saved to redo.txt (2 ids)'")
    assert (out / "redo.txt").read_text(encoding="utf-8") == "a\nb\n"
    # a reload shows what redo.txt holds
    page.reload()
    page.wait_for_function("document.getElementById('saved').textContent.startsWith('served')")
    assert page.locator("#rows .row.marked .rid").all_inner_texts() == ["a", "b"]


# --- scale --------------------------------------------------------------------------------------------


def big_batch(out: Path, rows: int) -> Path:
    """A journal of `rows` rows, each with its own small WAV (one second of tone at 8 kHz)."""
    out.mkdir(parents=True, exist_ok=True)
    t = np.arange(8000) / 8000
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(8000)
        handle.writeframes((np.sin(2 * np.pi * 200 * t) * np.sin(np.pi * t) * 20000).astype("<i2").tobytes())
    data = buffer.getvalue()
    with (out / "gbatch-journal.jsonl").open("w", encoding="utf-8") as journal:
        for i in range(rows):
            (out / f"r{i:05d}.wav").write_bytes(data)
            text = f"Line {i}: the quick brown fox jumps over the lazy dog. 今天天气很好，我们去公园散步吧。"
            rec = record(f"r{i:05d}", i + 2, values={"duration": 1.0, "sample_rate": 8000}, generated={"seed": i},
                         inputs={"text": text, "chapter": f"ch{i // 100:03d}"},
                         status="failed" if i % 97 == 0 else "ok", warnings=["a warning"] if i % 50 == 0 else [])
            journal.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return out


def measure_open(context: Any, page_path: Path) -> dict[str, float]:
    """Seconds from navigation to the first page of rows on screen, as the browser counts them."""
    tab = context.new_page()
    try:
        start = time.perf_counter()
        tab.goto(page_path.as_uri(), wait_until="load")
        tab.wait_for_selector("#rows .row")
        wall = time.perf_counter() - start
        ready = tab.evaluate("window.gbatchReview.ready") / 1000
        rows = tab.locator("#rows .row").count()
        position = tab.locator(".pos").first.inner_text()
        for _ in range(100):
            tab.keyboard.press("j")  # past the first page: the next one is rendered
        return {"wall": wall, "ready": ready, "rows": rows, "position": position,  # type: ignore[dict-item]
                "after": tab.locator(".pos").first.inner_text()}  # type: ignore[dict-item]
    finally:
        tab.close()


@needs_browser
def test_ten_thousand_rows_open_in_pages(browser: Any, tmp_path: Path) -> None:
    out = big_batch(tmp_path / "big", 10_000)
    start = time.perf_counter()
    write_review(out)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    page_path = write_review(out)
    warm = time.perf_counter() - start
    figures = measure_open(browser, page_path)
    size = page_path.stat().st_size
    print(  # a figure, not a timed assertion: the machine may be busy with other tests
        f"\n10,000 rows: page {size / 1e6:.2f} MB, written in {cold:.1f} s (waveforms measured) / {warm:.2f} s (cached); "
        f"opens in {figures['wall']:.2f} s (script done at {figures['ready']:.2f} s)",
        file=sys.stderr,
    )
    assert figures["rows"] == 100 and figures["position"] == "1–100 of 10000"
    assert figures["after"] == "101–200 of 10000"

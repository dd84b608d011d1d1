"""The gradio 3 transport against real gradio 3.41.2 servers (`.venvs/gradio3`, apps in tests/old_apps/g3_*.py).

The apps record what each handler received (one JSON line per call), so these tests
check what arrived on the server, not only what came back.
"""

from __future__ import annotations

import dataclasses
import functools
import http.server
import io
import json
import threading
import time
import wave
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from gbatch._columns import File
from gbatch._errors import AppError, CallCancelled, CallError, ConnectionLost, QueueFull, ServerError
from gbatch.transports.base import (
    CallResult,
    ComponentUpdate,
    ConnectOptions,
    Job,
    JobEvent,
    ServerFile,
    TransportRequest,
    browser_values,
)
from gbatch.transports.gradio3 import (
    HIDDEN_ERROR,
    Gradio3Session,
    Gradio3Transport,
    build_api,
    decode_data_url,
    parameter_name,
    progress_fraction,
    unique_name,
    websocket_url,
)

from . import oldgradio

pytestmark = pytest.mark.slow


@dataclass
class App:
    """A running gradio 3 app, and the file its handlers record what they received into."""

    server: oldgradio.OldServer
    record: Path

    @property
    def url(self) -> str:
        return self.server.url

    def received(self, handler: str) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        lines = self.record.read_text(encoding="utf-8").splitlines()
        return [entry for entry in map(json.loads, lines) if entry["handler"] == handler]

    def last(self, handler: str) -> dict[str, Any]:
        found = self.received(handler)
        assert found, f"{handler} was never called"
        return found[-1]


def start_app(script: str, folder: Path) -> App:
    record = folder / f"{Path(script).stem}.jsonl"
    server = oldgradio.start(script, 3, "--record", str(record), log_dir=folder)
    return App(server, record)


def running(script: str, folder: Path) -> Iterator[App]:
    app = start_app(script, folder)
    try:
        yield app
    finally:
        app.server.stop()


@pytest.fixture(scope="module")
def calculator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    yield from running("g3_calculator.py", tmp_path_factory.mktemp("calculator"))


@pytest.fixture(scope="module")
def blocks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    yield from running("g3_blocks.py", tmp_path_factory.mktemp("blocks"))


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    yield from running("g3_login.py", tmp_path_factory.mktemp("members"))


def connect(app: App, **connection: Any) -> Gradio3Session:
    return Gradio3Transport().connect(app.url, ConnectOptions(**connection), slots=2)


@pytest.fixture(scope="module")
def calc(calculator: App) -> Iterator[Gradio3Session]:
    session = connect(calculator)
    yield session
    session.close()


@pytest.fixture(scope="module")
def g3(blocks: App) -> Iterator[Gradio3Session]:
    session = connect(blocks)
    yield session
    session.close()


def call(session: Gradio3Session, ref: str | int, values: dict[str, Any] | None = None, key: str | None = None, timeout: float = 60) -> CallResult:
    return submit(session, ref, values, key).result(timeout)


def submit(session: Gradio3Session, ref: str | int, values: dict[str, Any] | None = None, key: str | None = None) -> Job:
    endpoint = session.api.endpoint(ref)
    assert endpoint is not None, f"no endpoint {ref}"
    return session.submit(TransportRequest(endpoint, browser_values(endpoint, values or {}), session=key))


def wait_for(job: Job, code: str, seen: list[JobEvent], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.extend(job.updates())
        if any(update.code == code for update in seen):
            return
        time.sleep(0.05)
    raise AssertionError(f"no {code!r} update within {timeout}s: {seen}")


def wait_until(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def png(width: int, height: int, color: tuple[int, int, int] = (200, 100, 50)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def write_wav(path: Path, samples: list[int], rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as sink:
        sink.setnchannels(1)
        sink.setsampwidth(2)
        sink.setframerate(rate)
        sink.writeframes(b"".join(sample.to_bytes(2, "little", signed=True) for sample in samples))
    return path


# -- the API from /config ---------------------------------------------------------------------


def test_calculator_api(calc: Gradio3Session) -> None:
    api = calc.api
    assert api.version == "3.41.2" and api.title == "Toy Calculator"
    predict = api.endpoints["/predict"]
    assert predict.fn_index == 0 and not predict.queued and not predict.hidden
    assert predict.trigger == 'button "Submit" click'
    assert [p.name for p in predict.parameters] == ["num1", "operation", "num2"]
    assert [p.label for p in predict.parameters] == ["num1", "operation", "num2"]
    num1, operation, _ = predict.parameters
    # a Number and a Radio showing nothing: the page sends null, which no call can use
    assert (num1.component, num1.kind, num1.has_default, num1.default, num1.required) == ("number", "float", False, None, True)
    assert operation.component == "radio" and operation.choices == ("add", "subtract", "multiply", "divide")
    assert operation.required
    assert operation.kind == "any" and operation.choice_labels == ()
    assert [(r.name, r.component) for r in predict.returns] == [("output", "number")]
    # pressing Enter in either Number box is an event of its own, without a name
    assert api.unnamed[1].trigger == 'number "num1" submit' and api.unnamed[1].parameters == predict.parameters
    assert api.endpoint("#2") is api.unnamed[2]


def test_blocks_api(g3: Gradio3Session) -> None:
    api = g3.api
    assert set(api.endpoints) == {"/sleep", "/sleep_now", "/count", "/sepia", "/reverse", "/documents", "/gallery", "/echo", "/countdown_now"}
    assert sorted(api.unnamed) == [6, 8, 9, 11]
    assert api.endpoints["/sleep"].queued and not api.endpoints["/sleep_now"].queued and not api.endpoints["/echo"].queued
    assert api.endpoints["/sleep"].parameters[0].default == 1.0

    echo = api.endpoints["/echo"]
    assert echo.fn_index == 10 and echo.trigger == 'button "Echo" click'
    kinds = {p.name: (p.kind, p.default) for p in echo.parameters}
    assert kinds == {"text": ("text", "hello"), "seed": ("float", 7), "mode": ("any", "fast"), "agree": ("bool", True), "styles": ("list", [])}
    mode = echo.param("mode")
    assert mode is not None and mode.choices == ("slow", "fast")
    assert mode.choice_labels == (("Slow mode", "slow"), ("Fast mode", "fast"))
    assert echo.param("seed") is not None and (echo.parameters[1].minimum, echo.parameters[1].maximum) == (0, 100)
    assert [(r.name, r.kind) for r in echo.returns] == [("echoed", "json")]

    # Fooocus's shape: get_task's State input is hidden, its unlabeled prompt is input_0
    get_task, generate = api.unnamed[8], api.unnamed[9]
    assert [p.name for p in get_task.parameters] == ["input_0", "seed", "selected_styles"]
    assert get_task.returns == () and get_task.trigger == 'button "Generate" click'
    assert generate.after == 8 and generate.parameters == () and generate.trigger == 'button "Generate" then'
    assert [r.name for r in generate.returns] == ["output_0", "finished_images"]
    assert api.unnamed[11].hidden and not get_task.hidden

    files = {p.name: (p.component, p.kind, p.multiple, p.has_default) for e in api.every_endpoint() for p in e.parameters if p.is_file}
    assert files == {
        "picture": ("image", "file", False, False),
        "voice": ("audio", "file", False, False),
        "documents": ("file", "files", True, False),
        "upload_a_file": ("uploadbutton", "file", False, False),
    }
    upload = api.unnamed[6]
    assert upload.trigger == 'uploadbutton "Upload a file" upload' and upload.queued
    assert api.endpoints["/gallery"].returns[0].multiple


def test_api_from_config_alone() -> None:
    config = {
        "version": "3.32.0",
        "enable_queue": False,
        "show_api": True,
        "components": [
            {"id": 1, "type": "textbox", "props": {"label": "选择音频", "value": ""}},
            {"id": 2, "type": "number", "props": {"label": "Seed", "value": 5, "precision": 0}},
            {"id": 3, "type": "number", "props": {"label": "seed", "value": 1.5}},
            {"id": 4, "type": "dropdown", "props": {"label": "Speaker", "choices": ["a", "b"], "value": "a", "multiselect": True}},
            {"id": 5, "type": "state", "props": {}},
            {"id": 6, "type": "button", "props": {"value": "Go"}},
            {"id": 7, "type": "file", "props": {"label": "Model", "file_count": "directory"}},
        ],
        "dependencies": [
            {"targets": [6], "trigger": "click", "inputs": [5, 1, 2, 3, 4, 7], "outputs": [5, 1], "backend_fn": True, "queue": None, "api_name": "go", "show_api": False},
            {"targets": [6], "trigger": "click", "inputs": [], "outputs": [], "backend_fn": False, "queue": False, "api_name": None},
        ],
    }
    api = build_api("http://h/", config)
    assert api.endpoints == {} and list(api.unnamed) == [0]
    go = api.unnamed[0]
    assert go.hidden and not go.queued and go.trigger == 'button "Go" click'
    assert [p.name for p in go.parameters] == ["input_0", "seed", "seed_2", "speaker", "model"]
    seed = go.parameters[1]
    assert (seed.kind, seed.precision, seed.python_type, seed.default) == ("int", 0, "int", 5)
    assert go.parameters[2].kind == "float"
    assert go.parameters[3].kind == "list" and go.parameters[3].choices == ("a", "b")
    assert go.parameters[4].kind == "files" and go.parameters[4].default is None
    assert [r.name for r in go.returns] == ["output_0"]


@pytest.mark.parametrize(
    ("label", "expected"),
    [("num1", "num1"), ("Selected Styles", "selected_styles"), ("Refiner (SDXL or SD 1.5)", "refiner_sdxl_or_sd_1_5"), ("", "input_3"), ("音色（说话人）", "input_3"), ("1st", "input_3"), ("!!", "input_3")],
)
def test_parameter_names(label: str, expected: str) -> None:
    assert parameter_name(label, "input_3") == expected


def test_unique_names() -> None:
    taken: set[str] = set()
    assert [unique_name(n, taken) for n in ["a", "a", "b", "a"]] == ["a", "a_2", "b", "a_3"]


def test_small_helpers() -> None:
    assert websocket_url("http://127.0.0.1:7860/") == "ws://127.0.0.1:7860/queue/join"
    assert websocket_url("https://example.org/apps/svc/") == "wss://example.org/apps/svc/queue/join"
    assert decode_data_url("data:text/plain;base64,aGk=") == b"hi"
    assert decode_data_url("data:text/plain;base64,aGk") == b"hi"
    assert decode_data_url("data:,a%20b") == b"a b"
    assert progress_fraction([{"index": 1, "length": 4, "progress": None}]) == 0.25
    assert progress_fraction([{"index": None, "length": None, "progress": 0.5}]) == 0.5
    assert progress_fraction([]) is None


def test_outputs_are_converted() -> None:
    session = Gradio3Session("http://h:1/app", ConnectOptions(), 1)
    try:
        session._read_config(
            {
                "version": "3.41.2",
                "components": [
                    {"id": 1, "type": "state", "props": {}},
                    {"id": 2, "type": "gallery", "props": {"label": "Gallery"}},
                    {"id": 3, "type": "image", "props": {"label": "Preview"}},
                    {"id": 4, "type": "file", "props": {"label": "Out"}},
                    {"id": 5, "type": "dropdown", "props": {"label": "Speaker"}},
                ],
                "dependencies": [{"targets": [], "trigger": "load", "inputs": [], "outputs": [1, 2, 3, 4, 5], "backend_fn": True, "queue": None, "api_name": None}],
            }
        )
        gallery_update = {"__type__": "update", "visible": True, "value": [{"name": "/tmp/gradio/a/x.png", "data": None, "is_file": True}]}
        outputs = session.outputs(
            0,
            [
                {"task": 1},
                gallery_update,
                "data:image/png;base64,iVBORw0KGgo=",
                {"name": "r.wav", "data": "data:audio/wav;base64,UklGRg==", "is_file": False},
                {"__type__": "update", "choices": ["a", "b"]},
            ],
        )
    finally:
        session.close()
    assert len(outputs) == 4
    gallery, preview, inline, speakers = outputs
    assert isinstance(gallery, ComponentUpdate) and gallery.has_value and gallery.props == {"visible": True}
    assert gallery.value == [ServerFile(name="x.png", url="http://h:1/app/file=/tmp/gradio/a/x.png", mime="image/png", path="/tmp/gradio/a/x.png")]
    assert isinstance(preview, ServerFile) and preview.name == "image.png" and preview.url.startswith("data:image/png")
    assert isinstance(inline, ServerFile) and inline.name == "r.wav" and inline.mime == "audio/wav"
    assert speakers == ComponentUpdate(value=None, props={"choices": ["a", "b"]}, has_value=False)


# -- queue-less calls ------------------------------------------------------------------------


def test_rest_call(calc: Gradio3Session, calculator: App) -> None:
    result = call(calc, "/predict", {"num1": 45, "operation": "add", "num2": 3})
    assert result.value == 48 and result.named() == {"output": 48}
    assert calculator.last("calculator")["operation"] == "add"


def test_gr_error_over_rest(calc: Gradio3Session) -> None:
    with pytest.raises(AppError, match="Cannot divide by zero!") as caught:
        call(calc, "/predict", {"num1": 1, "operation": "divide", "num2": 0})
    assert not caught.value.hidden


def test_values_arrive_as_the_page_sends_them(g3: Gradio3Session, blocks: App) -> None:
    call(g3, "/echo", {"text": "hi", "seed": 42.0, "styles": ["b"]})
    received = blocks.last("echo")
    # integral floats go as JSON integers; left-out parameters go as the page shows them
    assert received == {"handler": "echo", "text": "hi", "seed": 42, "seed_type": "int", "mode": "fast", "agree": True, "styles": ["b"]}
    call(g3, "/echo", {"seed": 2.5, "mode": "slow"})
    assert blocks.last("echo")["seed_type"] == "float" and blocks.last("echo")["mode"] == "slow"


def test_generator_over_rest(g3: Gradio3Session, blocks: App) -> None:
    countdown = g3.api.endpoints["/countdown_now"]
    # gradio 3.41.2 does not publish a Number's precision (here 0) in /config
    assert not countdown.queued and countdown.parameters[0].kind == "float"
    assert call(g3, "/countdown_now", {"start": 4}).value == "1"
    assert blocks.last("countdown")["start"] == 4


def test_hidden_error_over_rest(g3: Gradio3Session) -> None:
    with pytest.raises(AppError) as caught:
        call(g3, "/sleep_now", {"seconds": 5000})
    assert caught.value.hidden and caught.value.message == HIDDEN_ERROR


def test_rest_job_times_out_while_running(g3: Gradio3Session) -> None:
    job = submit(g3, "/sleep_now", {"seconds": 1})
    with pytest.raises(TimeoutError):
        job.result(0.1)
    assert job.result(30).value == "slept 1"


# -- queued calls --------------------------------------------------------------------------------


def test_queued_call(g3: Gradio3Session, blocks: App) -> None:
    job = submit(g3, "/sleep", {"seconds": 0.2})
    assert job.result(60).value == "slept 0.2"
    codes = [update.code for update in job.updates()]
    assert codes[0] == "queued" and codes[-2:] == ["started", "finished"]
    assert blocks.last("slept")["seconds"] == 0.2


def test_gr_error_over_the_queue(g3: Gradio3Session) -> None:
    with pytest.raises(AppError, match="Cannot sleep a negative time") as caught:
        call(g3, "/sleep", {"seconds": -1})
    assert not caught.value.hidden
    with pytest.raises(AppError) as hidden:
        call(g3, "/sleep", {"seconds": 5000})
    assert hidden.value.hidden


def test_progress_and_logs(g3: Gradio3Session, blocks: App) -> None:
    job = submit(g3, "/count", {"steps": 3})
    result = job.result(60)
    assert result.value == "3"
    assert result.logs == (("info", "counting to 3"), ("warning", "counted"))
    updates = job.updates()
    assert [u.log for u in updates if u.code == "log"] == [("info", "counting to 3"), ("warning", "counted")]
    fractions = [u.progress for u in updates if u.code == "progress"]
    assert fractions and all(f is not None and 0 <= f <= 1 for f in fractions)
    assert blocks.last("count")["steps_type"] == "int"


def test_image_in_and_out(g3: Gradio3Session, blocks: App, tmp_path: Path) -> None:
    picture = tmp_path / "holiday photo.png"
    picture.write_bytes(png(4, 3))
    result = call(g3, "/sepia", {"picture": File(str(picture))})
    assert blocks.last("sepia")["shape"] == [3, 4, 3]
    toned = result.value
    assert isinstance(toned, ServerFile) and toned.url.startswith("data:image/png;base64,") and toned.suffix == ".png"
    with Image.open(io.BytesIO(g3.fetch(toned))) as image:
        assert image.size == (4, 3)


def test_audio_in_and_out(g3: Gradio3Session, blocks: App, tmp_path: Path) -> None:
    voice = write_wav(tmp_path / "narrator take 1.wav", [0, 1000, 2000, 3000])
    result = call(g3, "/reverse", {"voice": File(str(voice))})
    received = blocks.last("reverse")["file"]
    assert received["basename"].startswith("narrator take 1") and str(tmp_path) not in received["path"]
    reversed_voice = result.value
    assert isinstance(reversed_voice, ServerFile) and reversed_voice.url.startswith(g3.url + "file=")
    assert reversed_voice.name == Path(reversed_voice.path).name and reversed_voice.suffix == ".wav"
    with wave.open(io.BytesIO(g3.fetch(reversed_voice))) as sound:
        frames = sound.readframes(sound.getnframes())
    assert [int.from_bytes(frames[i : i + 2], "little", signed=True) for i in range(0, len(frames), 2)] == [3000, 2000, 1000, 0]


def test_several_files_in_and_a_file_out(g3: Gradio3Session, blocks: App, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / "b.txt").write_text("bravo!")
    result = call(g3, "/documents", {"documents": [File(str(tmp_path / "a.txt")), File(str(tmp_path / "b.txt"))]})
    received = blocks.last("documents")["files"]
    # base names only: the server never sees where the files were
    # uploaded first, as the 3.x File widget does: the app sees gradio's copy, named after our base name
    assert [(Path(f["orig_name"]).name, f["basename"], f["size"], f["head"]) for f in received] == [("a.txt", "a.txt", 5, "alpha"), ("b.txt", "b.txt", 6, "bravo!")]
    assert all(str(tmp_path) not in f["orig_name"] for f in received)
    summary, bundle = result.outputs
    assert summary == "a.txt:5, b.txt:6"
    assert isinstance(bundle, ServerFile) and bundle.suffix == ".zip" and bundle.size is not None
    with zipfile.ZipFile(io.BytesIO(g3.fetch(bundle))) as archive:
        assert sorted(archive.namelist()) == ["a.txt", "b.txt"]


def test_upload_button(g3: Gradio3Session, blocks: App, tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# notes")
    assert call(g3, 6, {"upload_a_file": File(str(tmp_path / "notes.md"))}).value == "notes.md"
    assert Path(blocks.last("upload")["file"]["orig_name"]).name == "notes.md"


@pytest.fixture
def web_files(tmp_path: Path) -> Iterator[str]:
    """A plain HTTP server on loopback serving tmp_path."""
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_url_files_are_downloaded_and_sent(g3: Gradio3Session, blocks: App, tmp_path: Path, web_files: str) -> None:
    (tmp_path / "remote.txt").write_text("from afar")
    call(g3, "/documents", {"documents": [File(web_files + "remote.txt")]})
    assert [(Path(f["orig_name"]).name, f["head"]) for f in blocks.last("documents")["files"]] == [("remote.txt", "from afar")]
    with pytest.raises(CallError, match="404"):
        submit(g3, "/documents", {"documents": [File(web_files + "missing.txt")]})


def test_gallery_out(g3: Gradio3Session) -> None:
    shown = call(g3, "/gallery", {"images": 3}).value
    assert [item.caption for item in shown] == ["image 1", "image 2", "image 3"]
    for item in shown:
        assert isinstance(item, ServerFile) and item.path and item.suffix == ".png"
        with Image.open(io.BytesIO(g3.fetch(item))) as image:
            assert image.size == (8, 8)


def test_chain_shares_state_within_a_session_key(g3: Gradio3Session, blocks: App) -> None:
    assert call(g3, 8, {"input_0": "cat", "seed": 123456789.0}, key="row-1").outputs == ()
    assert blocks.last("get_task")["seed_type"] == "int" and blocks.last("get_task")["styles"] == ["Fooocus V2"]
    progress_html, finished = call(g3, 9, key="row-1").outputs
    assert blocks.last("generate_clicked")["task"] == {"prompt": "cat", "seed": 123456789, "styles": ["Fooocus V2"]}
    assert isinstance(progress_html, ComponentUpdate) and progress_html.props == {"visible": False}
    assert isinstance(finished, ComponentUpdate) and finished.props == {"visible": True}
    assert [item.name for item in finished.value] == ["cat_123456789_0.png", "cat_123456789_1.png"]
    assert all(g3.fetch(item).startswith(b"\x89PNG") for item in finished.value)
    # another row's session has no task
    assert call(g3, 9, key="row-2").outputs == (ComponentUpdate(), ComponentUpdate())
    assert blocks.last("generate_clicked")["task"] is None


def test_rows_in_parallel_keep_their_own_state(g3: Gradio3Session) -> None:
    def row(n: int) -> list[str]:
        call(g3, 8, {"input_0": f"row{n}", "seed": n}, key=f"parallel-{n}")
        finished = call(g3, 9, key=f"parallel-{n}").outputs[1]
        return [item.name for item in finished.value]

    # Two rows at once: a third could meet a full queue (max_size=2) while the server frees its workers.
    with ThreadPoolExecutor(2) as pool:
        names = list(pool.map(row, range(2)))
    assert names == [[f"row{n}_{n}_0.png", f"row{n}_{n}_1.png"] for n in range(2)]


def test_queue_full_and_cancel(g3: Gradio3Session, blocks: App) -> None:
    busy = [submit(g3, "/sleep", {"seconds": 2.5}) for _ in range(2)]
    for job in busy:
        wait_for(job, "started", [])
    waiting = [submit(g3, "/sleep", {"seconds": 0.125}), submit(g3, "/sleep", {"seconds": 0.25})]
    for job in waiting:
        wait_for(job, "queued", [])
    with pytest.raises(QueueFull):
        call(g3, "/sleep", {"seconds": 0.5})

    waiting[0].cancel()
    with pytest.raises(CallCancelled):
        waiting[0].result(1)
    assert waiting[1].result(30).value == "slept 0.25"
    assert all(job.result(30).value == "slept 2.5" for job in busy)
    # the cancelled job left the queue without running
    assert 0.125 not in [entry["seconds"] for entry in blocks.received("sleep")]


def test_queued_job_times_out_and_is_cancelled(g3: Gradio3Session, blocks: App) -> None:
    job = submit(g3, "/sleep", {"seconds": 1.5})
    with pytest.raises(TimeoutError):
        job.result(0.2)
    job.cancel()
    job.cancel()  # twice is fine
    with pytest.raises(CallCancelled):
        job.result(1)


def test_fetch_limits(g3: Gradio3Session, blocks: App) -> None:
    limited = connect(blocks, max_download=10)
    try:
        shown = call(limited, "/gallery", {"images": 1}).value
        with pytest.raises(CallError, match="limit"):
            limited.fetch(shown[0])
        with pytest.raises(CallError, match="limit"):
            limited.fetch("data:text/plain;base64," + "QUFB" * 10)
    finally:
        limited.close()
    with pytest.raises(CallError) as refused:
        g3.fetch(g3.url + "file=/etc/passwd")
    assert not isinstance(refused.value, ConnectionLost)


def test_reset_forgets_sessions(g3: Gradio3Session) -> None:
    call(g3, 8, {"input_0": "dog"}, key="row-9")
    assert call(g3, 9, key="row-9").outputs[1].has_value
    g3.reset()
    assert call(g3, 9, key="row-9").outputs == (ComponentUpdate(), ComponentUpdate())


# -- login ---------------------------------------------------------------------------------------


def test_login(members: App) -> None:
    session = connect(members, auth=("user", "pass"))
    try:
        greet = session.api.endpoints["/greet"]
        assert greet.queued and greet.hidden  # queue(api_open=False) hides the API page
        greeting, note = call(session, "/greet", {"name": "Ann"}).outputs
        assert greeting == "Hello, Ann!" and session.fetch(note) == b"Hello, Ann!"
        assert call(session, "/greet_now", {"name": "Bo"}).outputs[0] == "Hello, Bo!"
        # REST refused for a queued event ("Not authorized to skip the queue"): the queue takes it
        as_rest = dataclasses.replace(greet, queued=False)
        assert session.submit(TransportRequest(as_rest, {"name": "Cy"})).result(30).outputs[0] == "Hello, Cy!"
        session.reset()
        assert call(session, "/greet", {"name": "Di"}).outputs[0] == "Hello, Di!"
    finally:
        session.close()
    assert [entry["name"] for entry in members.received("greet")] == ["Ann", "Bo", "Cy", "Di"]


def test_login_refused(members: App) -> None:
    with pytest.raises(ServerError, match="login failed"):
        connect(members, auth=("user", "wrong"))
    with pytest.raises(ServerError, match="login failed"):
        connect(members)


def test_unreachable_server() -> None:
    with pytest.raises(ConnectionLost):
        Gradio3Transport().connect(f"http://127.0.0.1:{oldgradio.free_port()}/", ConnectOptions(http_timeout=5), slots=1)


# -- a server that dies -----------------------------------------------------------------------


def test_server_killed_mid_job(tmp_path: Path) -> None:
    app = start_app("g3_blocks.py", tmp_path)
    try:
        session = connect(app)
        queued = submit(session, "/sleep", {"seconds": 60})
        rest = submit(session, "/sleep_now", {"seconds": 60})
        wait_for(queued, "started", [])
        wait_until(lambda: len(app.received("sleep")) == 2)
        app.server.kill()
        for job in (queued, rest):
            with pytest.raises(ConnectionLost):
                job.result(30)
        with pytest.raises(ConnectionLost):
            call(session, "/sleep", {"seconds": 1})
        with pytest.raises(ConnectionLost):
            session.fetch(session.url + "file=/tmp/x.png")
        session.close()
        session.close()
    finally:
        app.server.stop()


def test_login_again_after_a_restart(tmp_path: Path) -> None:
    """gradio 3 keeps logins in memory: after a restart each session must log in again."""
    app = start_app("g3_login.py", tmp_path)
    rest, queued = connect(app, auth=("user", "pass")), connect(app, auth=("user", "pass"))
    try:
        assert call(rest, "/greet_now", {"name": "A"}).outputs[0] == "Hello, A!"
        assert call(queued, "/greet", {"name": "B"}).outputs[0] == "Hello, B!"
        app.server.stop()
        app = App(oldgradio.start("g3_login.py", 3, "--record", str(app.record), log_dir=tmp_path, port=app.server.port), app.record)
        for session, ref in ((rest, "/greet_now"), (queued, "/greet")):
            with pytest.raises(ConnectionLost) as lost:
                call(session, ref, {"name": "C"})
            assert lost.value.status == 401
            assert call(session, ref, {"name": "D"}).outputs[0] == "Hello, D!"
    finally:
        rest.close()
        queued.close()
        app.server.stop()

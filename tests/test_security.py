"""Security: secrets stay secret, nothing phones home, downloads are bounded, and nothing a
task file or a server says can make gbatch write outside `--out`.

Hostile servers are real gradio 6 apps (`tests/fault_apps.py`): one echoes every header
and cookie it receives back into errors, warnings and values; one announces file names
and output labels like `../../evil.sh`; one returns files larger than allowed.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gbatch import _errors as gbatch_errors
from gbatch.testing import CliResult, free_port

from . import oldgradio
from .conftest import ServeFn
from .fault_apps import HOSTILE_NAMES, hostile_app, work_app

pytestmark = [
    pytest.mark.slow,
    # gradio's queue statistics (server side, in this process) use pandas APIs pandas 3 deprecates.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

Cli = Callable[..., CliResult]

TOKEN = "hf_CanaryToken7f3a9c1e5b"
PASSWORD = "Canary-Pass-51be0d"
HEADER = "Canary-Header-c0ffee42"
CANARIES = (TOKEN, PASSWORD, HEADER)
SECRET_ARGS = ("--token", TOKEN, "--header", f"X-Api-Key: {HEADER}")


@pytest.fixture(scope="module")
def hostile(serve_module: ServeFn, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The hostile app behind a login whose password is a canary; it shows its errors' text."""
    return serve_module(hostile_app(tmp_path_factory.mktemp("hostile")), auth=("user", PASSWORD), show_error=True)


@pytest.fixture(scope="module")
def open_hostile(serve_module: ServeFn, tmp_path_factory: pytest.TempPathFactory) -> str:
    return serve_module(hostile_app(tmp_path_factory.mktemp("open-hostile")))


@pytest.fixture(scope="module")
def worker(serve_module: ServeFn) -> str:
    return serve_module(work_app(limit=4))


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def records(out: Path) -> dict[str, dict[str, Any]]:
    path = out / "gbatch-journal.jsonl"
    return {r["id"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())} if path.exists() else {}


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def assert_no_canary(texts: Sequence[str], folder: Path) -> None:
    """No canary in `texts` (what was printed) or in any file under `folder`; lists every leak."""
    leaks = [f"{canary} printed: {text[max(0, text.index(canary) - 80) :][:200]!r}" for text in texts for canary in CANARIES if canary in text]
    for path in sorted(files_under(folder)):
        if path.is_symlink():
            continue
        data = path.read_bytes()
        leaks += [f"{canary} in {path.relative_to(folder)}" for canary in CANARIES if canary.encode() in data]
    assert not leaks, "\n".join(leaks)


# --- a canary token never shows ------------------------------------------------------------


def gbatch(*args: Any, cwd: Path) -> CliResult:
    """`gbatch ARGS` as its own process, so stdout and stderr are gbatch's alone (the servers
    run in the test process and print their own tracebacks)."""
    done = subprocess.run([sys.executable, "-m", "gbatch", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120)
    return CliResult(done.returncode, done.stdout, done.stderr)


def test_secrets_never_appear_when_a_server_echoes_them_in_errors(hostile: str, tmp_path: Path) -> None:
    """gr.Error and a crash whose text holds every header the client sent: the row's error,
    the journal, results.csv, the output and the summary's hints all show `***` instead."""
    tasks = write_csv(tmp_path / "t.csv", ["id", "mode"], [["error", "error"], ["crash", "crash"]])
    out = tmp_path / "out"
    result = gbatch("run", hostile, tasks, "--api", "/headers", "--out", out, "--retries", "0", "--auth", f"user:{PASSWORD}", *SECRET_ARGS, cwd=tmp_path)
    assert result.exit_code == 1, result.output
    final = records(out)
    assert {r["status"] for r in final.values()} == {"failed"}
    assert "***" in final["error"]["error"] and "x-api-key" in final["error"]["error"]  # the echo arrived, redacted
    assert_no_canary([result.stdout, result.stderr], tmp_path)


def test_the_summary_never_repeats_secrets_from_the_command_line(hostile: str, tmp_path: Path) -> None:
    tasks = write_csv(tmp_path / "t.csv", ["id", "kind"], [["a", "plain"]])
    result = gbatch("run", hostile, tasks, "--api", "/named", "--out", tmp_path / "out", "--auth", f"user:{PASSWORD}", *SECRET_ARGS, cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert_no_canary([result.stdout, result.stderr], tmp_path)


def test_secrets_never_appear_when_a_server_echoes_them_in_warnings_and_values(hostile: str, tmp_path: Path) -> None:
    tasks = write_csv(tmp_path / "t.csv", ["id", "mode"], [["warn", "warn"], ["value", "value"]])
    out = tmp_path / "out"
    result = gbatch("run", hostile, tasks, "--api", "/headers", "--out", out, "--retries", "0", "--auth", f"user:{PASSWORD}", *SECRET_ARGS, cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "x-api-key" in records(out)["value"]["values"]["Said"]  # the echo arrived
    assert_no_canary([result.stdout, result.stderr], tmp_path)


@pytest.mark.parametrize("case", ["wrong-password", "no-login", "nothing-listening", "password-in-url", "not-gradio"])
def test_secrets_never_appear_when_connecting_fails(hostile: str, worker: str, tmp_path: Path, case: str) -> None:
    tasks = write_csv(tmp_path / "t.csv", ["id", "mode"], [["a", "value"]])
    out = tmp_path / "out"
    url, args = hostile, [*SECRET_ARGS]
    if case == "wrong-password":
        args += ["--auth", f"nobody:{PASSWORD}"]
    elif case == "nothing-listening":
        url, args = f"http://127.0.0.1:{free_port()}/", [*args, "--auth", f"user:{PASSWORD}"]
    elif case == "password-in-url":
        url = hostile.replace("http://", f"http://user:{PASSWORD}@")
    elif case == "not-gradio":
        url, args = worker + "no/such/app/", [*args, "--auth", f"user:{PASSWORD}"]
    result = gbatch("run", url, tasks, "--out", out, "--retries", "0", *args, cwd=tmp_path)
    assert result.exit_code in (2, 3), result.output
    assert "Traceback" not in result.output
    assert_no_canary([result.stdout, result.stderr], tmp_path)


# --- no telemetry ----------------------------------------------------------------------------

GUARD = textwrap.dedent(
    '''
    """Loaded at start-up (PYTHONPATH): any connection or name lookup that is not loopback is
    written to $GBATCH_NET_LOG and refused."""
    import ipaddress, os, socket

    _LOG = os.environ["GBATCH_NET_LOG"]
    _LOCAL = {"localhost", "ip6-localhost", "", None}


    def _loopback(host):
        if isinstance(host, bytes):
            host = host.decode()
        if host in _LOCAL:
            return True
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return False


    def _refuse(what, host):
        with open(_LOG, "a", encoding="utf-8") as handle:
            handle.write(f"{what} {host}\\n")
        raise OSError(f"blocked by the test: {what} {host}")


    _getaddrinfo = socket.getaddrinfo


    def getaddrinfo(host, *args, **kwargs):
        if not _loopback(host):
            _refuse("getaddrinfo", host)
        return _getaddrinfo(host, *args, **kwargs)


    def _guard(method):
        def guarded(self, address, *args):
            if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
                _refuse(method.__name__, address[0])
            return method(self, address, *args)
        return guarded


    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = _guard(socket.socket.connect)
    socket.socket.connect_ex = _guard(socket.socket.connect_ex)
    socket.socket.sendto = lambda self, data, *rest: _refuse("sendto", rest[-1][0]) if not _loopback(rest[-1][0]) else socket._socket.socket.sendto(self, data, *rest)
    '''
)


def guarded_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    site = tmp_path / "guard"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    log = tmp_path / "net.log"
    env = {k: v for k, v in os.environ.items() if k not in {"GRADIO_ANALYTICS_ENABLED", "HF_HUB_DISABLE_TELEMETRY", "HF_HUB_OFFLINE"}}
    env.update(PYTHONPATH=str(site), GBATCH_NET_LOG=str(log), NO_PROXY="*")
    return env, log


def test_the_guard_itself_catches_an_outside_connection(tmp_path: Path) -> None:
    env, log = guarded_env(tmp_path)
    code = "import httpx\ntry:\n    httpx.get('https://example.com', timeout=3)\nexcept Exception as e:\n    print(type(e).__name__)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert log.read_text(encoding="utf-8").split() == ["getaddrinfo", "example.com"]


def _guarded_run(args: Sequence[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    env, log = guarded_env(tmp_path)
    done = subprocess.run([sys.executable, "-m", "gbatch", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    return done, (log.read_text(encoding="utf-8") if log.exists() else "")


def test_no_telemetry_gradio_client_transport(worker: str, tmp_path: Path) -> None:
    """A whole batch (and inspect) through gradio_client, with every non-loopback connection refused."""
    write_csv(tmp_path / "t.csv", ["id", "text", "seconds"], [[f"r{i}", f"row {i}", 0] for i in range(4)])
    inspected, attempted = _guarded_run(["inspect", worker], tmp_path)
    assert inspected.returncode == 0, inspected.stderr
    assert attempted == ""
    done, attempted = _guarded_run(["run", worker, "t.csv", "--api", "/work", "--out", "out"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert attempted == "", f"gbatch tried to reach: {attempted}"
    assert sorted(records(tmp_path / "out")) == ["r0", "r1", "r2", "r3"]


@pytest.fixture(scope="module")
def gradio3_login(tmp_path_factory: pytest.TempPathFactory) -> Iterator[oldgradio.OldServer]:
    server = oldgradio.start("g3_login.py", 3, log_dir=tmp_path_factory.mktemp("g3"))
    yield server
    server.stop()


def test_no_telemetry_gradio3_transport(gradio3_login: oldgradio.OldServer, tmp_path: Path) -> None:
    """The same through the gradio 3 transport (login, queue websocket, file download)."""
    write_csv(tmp_path / "t.csv", ["id", "name"], [["a", "Ann"], ["b", "Bob"]])
    done, attempted = _guarded_run(["run", gradio3_login.url, "t.csv", "--api", "/greet", "--auth", "user:pass", "--out", "out"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert attempted == "", f"gbatch tried to reach: {attempted}"
    final = records(tmp_path / "out")
    assert {r["status"] for r in final.values()} == {"ok"}
    assert (tmp_path / "out" / "a.txt").read_text(encoding="utf-8") == "Hello, Ann!"


# --- downloads are bounded ------------------------------------------------------------------


def test_a_download_over_the_limit_fails_the_row_and_writes_nothing(cli: Cli, open_hostile: str, tmp_path: Path) -> None:
    tasks = write_csv(tmp_path / "t.csv", ["id", "mb"], [["small", 0.5], ["large", 2.5]])
    out = tmp_path / "out"
    result = cli("run", open_hostile, tasks, "--api", "/big", "--out", out, "--max-download-mb", "1", "--retries", "2")
    assert result.exit_code == 1, result.output
    final = records(out)
    assert final["small"]["status"] == "ok" and (out / "small.bin").stat().st_size == 500_000
    large = final["large"]
    assert large["status"] == "failed" and large["attempts"] == 1  # a refusal is not worth a retry
    assert "over the --max-download-mb limit" in large["error"] and "2.5 MB" in large["error"]
    assert not list(out.glob("large*")) and not list(out.glob(".gbatch-*.part"))


# --- nothing escapes --out -----------------------------------------------------------------


def assert_inside(out: Path, before: set[Path], root: Path) -> None:
    """Every file the run made is inside `out` (symlinks not followed), with a plain name."""
    made = files_under(root) - before
    assert made, "the run wrote nothing"
    for path in made:
        assert out in path.parents, f"{path} is outside {out}"
        assert path.parent == out or path.parent.name == "joined", path
        assert not any(ord(c) < 32 or c == "\\" for c in path.name), repr(path.name)


def test_server_supplied_file_names_and_labels_stay_inside_out(cli: Cli, open_hostile: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    out = root / "deep" / "out"
    out.mkdir(parents=True)
    tasks = write_csv(root / "t.csv", ["id", "kind"], [[kind, kind] for kind in HOSTILE_NAMES])
    two = write_csv(root / "l.csv", ["id", "text"], [["two", "x"]])
    before = files_under(tmp_path)
    named = cli("run", open_hostile, tasks, "--api", "/named", "--out", out)
    assert named.exit_code == 0, named.output
    labelled = cli("run", open_hostile, two, "--api", "/labelled", "--out", out)
    assert labelled.exit_code == 0, labelled.output
    assert_inside(out, before, tmp_path)
    final = records(out)
    for kind in HOSTILE_NAMES:
        (output,) = final[kind]["outputs"]
        assert (out / output).read_text(encoding="utf-8") == f"payload {kind}\n"
    assert sorted(final["two"]["outputs"]) == sorted(set(final["two"]["outputs"]))  # two files, two names
    assert [(out / o).read_text(encoding="utf-8") for o in final["two"]["outputs"]] == ["first x", "second x"]
    assert not (tmp_path / "evil.sh").exists() and not Path("/tmp/evil-absolute.sh").exists()


@pytest.mark.parametrize("how", ["ids", "template"])
def test_ids_and_name_templates_cannot_leave_out(cli: Cli, worker: str, tmp_path: Path, how: str) -> None:
    root = tmp_path / "root"
    out = root / "a" / "out"
    out.mkdir(parents=True)
    nasty = ["../x", "../../../../../../tmp/gbatch-escape", "/etc/gbatch-escape", "..", ".", "con", "NUL.txt", "a/../../b", "..\\..\\win", "\x1b[2J"]
    if how == "ids":
        tasks = write_csv(root / "t.csv", ["id", "text", "seconds"], [[n, f"t{i}", 0] for i, n in enumerate(nasty)])
        args: list[str] = []
    else:
        tasks = write_csv(root / "t.csv", ["id", "text", "seconds"], [[f"r{i}", n, 0] for i, n in enumerate(nasty)])
        args = ["--name", "{text}/{id}/../{text}"]
    before = files_under(tmp_path)
    result = cli("run", worker, tasks, "--api", "/work", "--out", out, *args)
    assert result.exit_code == 0, result.output
    assert_inside(out, before, tmp_path)
    outputs = [o for r in records(out).values() for o in r["outputs"]]
    assert len(outputs) == len(set(o.casefold() for o in outputs)) == len(nasty)
    assert not Path("/tmp/gbatch-escape.txt").exists() and not Path("/etc/gbatch-escape.txt").exists()


def test_a_symlink_inside_out_is_replaced_not_followed(cli: Cli, worker: str, tmp_path: Path) -> None:
    """OUT/row1.txt -> a file elsewhere: gbatch treats it as a file it did not write (refused
    without --overwrite); with --overwrite the link itself is replaced by the output, and the
    file it pointed to is untouched."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "precious.txt"
    target.write_text("do not touch", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "row1.txt").symlink_to(target)
    tasks = write_csv(tmp_path / "t.csv", ["id", "text", "seconds"], [["row1", "hello", 0], ["row2", "there", 0]])

    refused = cli("run", worker, tasks, "--api", "/work", "--out", out)
    assert refused.exit_code == 2, refused.output
    assert "row1.txt exists and is not from an earlier gbatch run" in refused.output
    assert target.read_text(encoding="utf-8") == "do not touch"

    replaced = cli("run", worker, tasks, "--api", "/work", "--out", out, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert not (out / "row1.txt").is_symlink()
    assert (out / "row1.txt").read_bytes().startswith(b"hello\n")
    assert target.read_text(encoding="utf-8") == "do not touch"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["precious.txt"]


def test_a_symlinked_subfolder_of_out_is_not_written_through(cli: Cli, worker: str, tmp_path: Path) -> None:
    """A name gbatch gives can never contain a separator, so a symlinked folder inside OUT
    (OUT/sub -> elsewhere) is never a path gbatch writes through."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(elsewhere, target_is_directory=True)
    tasks = write_csv(tmp_path / "t.csv", ["id", "text", "seconds"], [["sub/x", "a", 0], ["sub", "b", 0]])
    result = cli("run", worker, tasks, "--api", "/work", "--out", out, "--name", "{id}")
    assert result.exit_code == 0, result.output
    assert list(elsewhere.iterdir()) == []


# --- secrets go to the server's own origin only, redirects included ------------------------


class _Recorder(ThreadingHTTPServer):
    """A plain HTTP server on another port of 127.0.0.1 (another origin): it records the
    headers of every request and answers with a small text file."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.seen.append(f"{self.path}\n{self.headers}")
                body = b"moved here"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/"


@pytest.fixture
def elsewhere() -> Iterator[_Recorder]:
    server = _Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _redirecting_files(blocks: Any, target: str) -> None:
    """Make a served gradio app answer every file download with a redirect to `target`
    (as a proxy in front of a server might); the route goes before gradio's own."""
    from fastapi.responses import RedirectResponse
    from starlette.routing import Route

    def moved(request: Any) -> RedirectResponse:
        return RedirectResponse(target + "moved.txt", status_code=302)

    blocks.app.router.routes.insert(0, Route("/gradio_api/file={rest:path}", moved))


def test_a_redirect_to_another_origin_gets_no_token_header_or_cookie(serve: ServeFn, elsewhere: _Recorder, tmp_path: Path) -> None:
    import gradio as gr

    def make(text: str) -> str:
        target = tmp_path / "made.txt"
        target.write_text(text, encoding="utf-8")
        return str(target)

    with gr.Blocks() as blocks:
        box, file = gr.Textbox(label="text"), gr.File(label="made")
        gr.Button().click(make, box, file, api_name="make")
    url = serve(blocks, auth=("user", PASSWORD), allowed_paths=[str(tmp_path)])
    _redirecting_files(blocks, elsewhere.url)
    tasks = write_csv(tmp_path / "t.csv", ["id", "text"], [["a", "hello"]])
    out = tmp_path / "out"
    result = gbatch("run", url, tasks, "--out", out, "--auth", f"user:{PASSWORD}", *SECRET_ARGS, cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert (out / "a.txt").read_bytes() == b"moved here"  # the redirect was followed
    assert len(elsewhere.seen) == 1
    seen = elsewhere.seen[0].lower()
    assert "cookie" not in seen and "x-hf-authorization" not in seen and "x-api-key" not in seen
    assert not [canary for canary in CANARIES if canary.lower() in seen]


def test_a_config_redirected_to_another_origin_gets_no_secrets(elsewhere: _Recorder, tmp_path: Path) -> None:
    from gbatch.transports import ConnectOptions, read_config

    front = _Recorder()
    front.RequestHandlerClass.do_GET = _redirect_to(elsewhere.url + "config")  # type: ignore[attr-defined]
    thread = threading.Thread(target=front.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(gbatch_errors.ServerError):  # what answers there is no gradio app
            read_config(front.url, ConnectOptions(token=TOKEN, headers={"X-Api-Key": HEADER}))
    finally:
        front.shutdown()
        front.server_close()
        thread.join(timeout=10)
    assert [s.split("\n", 1)[0] for s in elsewhere.seen] == ["/config"]
    assert not [canary for canary in CANARIES if canary in elsewhere.seen[0]]


def _redirect_to(target: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def do_get(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", target)
        handler.send_header("Set-Cookie", "access-token=front-cookie; Path=/")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return do_get


def test_server_http_gives_secrets_and_cookies_to_its_own_origin_only(elsewhere: _Recorder) -> None:
    from gbatch.transports.http import ServerHttp, download

    front = _Recorder()
    thread = threading.Thread(target=front.serve_forever, daemon=True)
    thread.start()
    http = ServerHttp(front.url, {"X-Api-Key": HEADER}, 10.0, cookies={"access-token": TOKEN})
    try:
        assert download(http, front.url + "own", None) == b"moved here"
        assert download(http, elsewhere.url + "other", None) == b"moved here"
        # the same host on another port is another origin
        assert HEADER in front.seen[0] and TOKEN in front.seen[0]
        assert HEADER not in elsewhere.seen[0] and TOKEN not in elsewhere.seen[0] and "cookie" not in elsewhere.seen[0].lower()
        front.RequestHandlerClass.do_GET = _redirect_to(front.url + "again")  # type: ignore[attr-defined]
        with pytest.raises(gbatch_errors.CallError, match="more than 10 redirects"):
            download(http, front.url + "loop", None)
    finally:
        http.close()
        front.shutdown()
        front.server_close()
        thread.join(timeout=10)

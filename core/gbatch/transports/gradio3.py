"""The transport for gradio 3.x servers: plain HTTP and the `/queue/join` websocket.

gradio_client 2.x no longer speaks these protocols, and the 0.x line that did cannot be
installed beside it, so this module speaks them itself (httpx + websockets):

- Discovery: `GET /config` is the whole API. Its `dependencies` list is the list of
  events, and a dependency's position is the `fn_index` every call names. Inputs and
  outputs are component ids; each component's `props.value` is what the page shows.
  gradio 3 publishes no parameter names, so they are made from the labels.
- Login: `POST /login` (form fields username/password) sets an access-token cookie.
- Queue-less events: `POST /run/predict` with `{"fn_index", "session_hash", "data",
  "event_data"}`; 200 carries `{"data": [...], "is_generating"}`, 500 carries
  `{"error": message-or-null}`. A generator advances one yield per POST.
- Queued events: one websocket per job on `/queue/join`. The server asks `send_hash`
  (we answer fn_index + session_hash), reports `estimation` while the job waits, asks
  `send_data` when a worker is free, then sends `process_starts`, `progress`, `log`,
  `process_generating` and finally `process_completed`; `queue_full` refuses the job.
  Cancelling closes the socket and POSTs `/reset`.
- Values go as the 3.x page sends them: one per input component, null for gr.State
  (the server substitutes the session's state, which is keyed by session_hash). Files
  are inlined as base64: gr.Image takes a data-URL string, the other file components
  a `{"name", "data", "size", "is_file", "orig_name"}` object.
- Files come back as `{"name": <server path>, "is_file": true}` objects, downloaded from
  `GET /file=<path>`; gr.Image outputs come back inline as data URLs.
"""

from __future__ import annotations

import ast
import base64
import binascii
import contextlib
import json
import mimetypes
import queue
import re
import secrets
import string
import threading
import urllib.parse
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from .._api import FILE_COMPONENTS, Endpoint, Param, ServerApi, choice_labels, number_or_none, untouched_value
from .._columns import File
from .._errors import AppError, CallCancelled, CallError, ConnectionLost, QueueFull, ServerError
from .base import (
    CallResult,
    ComponentUpdate,
    ConnectOptions,
    Job,
    JobEvent,
    ServerFile,
    ServerSession,
    Transport,
    TransportRequest,
)
from .http import ServerHttp, download

__all__ = ["Gradio3Session", "Gradio3Transport"]

#: what a gr.Error-less failure says: gradio 3 sends `{"error": null}` unless the app has show_error=True
HIDDEN_ERROR = "the app failed without saying why (the server hides errors unless it runs with show_error=True)"
SKIP_QUEUE_REFUSED = "Not authorized to skip the queue"
#: session hashes remembered for chained calls; a row's steps run close together, so old ones can go
REMEMBERED_SESSIONS = 4096
HASH_ALPHABET = string.ascii_lowercase + string.digits
FILE_OBJECT_COMPONENTS = FILE_COMPONENTS - {"image", "gallery", "imageslider", "simpleimage"}
# Their 3.x widgets POST the file to /upload first and send the server path (large models stay out of the JSON).
UPLOADING_COMPONENTS = {"file", "uploadbutton"}


class Gradio3Transport(Transport):
    """Speaks to gradio 3.x servers (REST `/run/predict` and the `/queue/join` websocket)."""

    name = "gradio3"

    def connect(self, url: str, connection: ConnectOptions, slots: int, config: Mapping[str, Any] | None = None) -> Gradio3Session:
        session = Gradio3Session(url, connection, slots)
        try:
            session.open(config)
        except BaseException:
            session.close()
            raise
        return session


class Gradio3Session(ServerSession):
    """One gradio 3 server: an httpx client with the login cookie, and the app's `/config`."""

    def __init__(self, url: str, connection: ConnectOptions, slots: int) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.connection = connection
        self.slots = slots
        # Input URLs and gallery items may live on other hosts: they get no login, token or headers.
        self._client = ServerHttp(self.url, self._headers(), connection.http_timeout)
        self._lock = threading.Lock()
        self._login_lock = threading.Lock()
        self._hashes: OrderedDict[str, str] = OrderedDict()
        self._logged_in = False
        self._jobs: weakref.WeakSet[_Gradio3Job] = weakref.WeakSet()
        self._components: dict[int, dict[str, Any]] = {}
        self._dependencies: list[dict[str, Any]] = []

    # -- connecting ------------------------------------------------------------------

    def open(self, config: Mapping[str, Any] | None) -> None:
        self._login()
        self._read_config(dict(config) if config is not None else self._get_config())

    def _headers(self) -> dict[str, str]:
        headers = dict(self.connection.headers)
        if self.connection.token:
            headers["x-hf-authorization"] = f"Bearer {self.connection.token}"
        return headers

    def _login(self) -> None:
        with self._login_lock:
            if self._logged_in:
                return
            if self.connection.auth is not None:
                username, password = self.connection.auth
                try:
                    response = self._client.post(self.url + "login", data={"username": username, "password": password})
                except httpx.HTTPError as error:
                    raise ConnectionLost(f"{self.url}: {_describe(error)}") from error
                if response.status_code >= 500:
                    raise ConnectionLost(f"{self.url}: login answered HTTP {response.status_code}", status=response.status_code)
                # 302: the app has no login; 400 "Incorrect credentials."
                if response.status_code >= 400:
                    raise ServerError(f"{self.url}: login failed (check --auth / --token)")
            self._logged_in = True

    def _get_config(self) -> dict[str, Any]:
        try:
            response = self._client.get(self.url + "config")
        except httpx.HTTPError as error:
            raise ConnectionLost(f"{self.url}: {_describe(error)}") from error
        if response.status_code in (401, 403):
            raise ServerError(f"{self.url}: login failed (check --auth / --token)")
        if response.status_code >= 500 or response.status_code == 429:
            raise ConnectionLost(f"{self.url}: /config answered HTTP {response.status_code}", status=response.status_code)
        try:
            config = response.json()
        except ValueError:
            config = None
        if response.status_code != 200 or not isinstance(config, dict):
            raise ServerError(f"{self.url}: no gradio app here (/config answered HTTP {response.status_code})")
        return config

    def _read_config(self, config: dict[str, Any]) -> None:
        version = str(config.get("version", ""))
        major = version.split(".", 1)[0]
        if major.isdigit() and int(major) >= 4:
            raise ServerError(f"{self.url}: gradio {version} speaks a newer protocol than the gradio3 transport")
        if not isinstance(config.get("dependencies"), list) or not isinstance(config.get("components"), list):
            raise ServerError(f"{self.url}: its /config does not describe a gradio 3 app")
        self._components = {int(c["id"]): c for c in config["components"] if isinstance(c, dict) and "id" in c}
        self._dependencies = config["dependencies"]
        self._root = str(config.get("root") or "").rstrip("/")
        self.api = build_api(self.url, config)

    # -- ServerSession ---------------------------------------------------------------------

    def submit(self, request: TransportRequest, slot: int = 0) -> Job:
        endpoint = request.endpoint
        if endpoint.fn_index is None or not 0 <= endpoint.fn_index < len(self._dependencies):
            raise CallError(f"{endpoint.key} is not an event of {self.url}")
        try:
            self._login()  # again after a reset
        except ServerError as error:
            raise CallError(str(error)) from error
        dependency = self._dependencies[endpoint.fn_index]
        call = _Call(
            fn_index=endpoint.fn_index,
            session_hash=self._session_hash(request.session),
            data=self._data(dependency, endpoint, request.values),
        )
        job = _Gradio3Job(self, endpoint, call, queued=endpoint.queued)
        with self._lock:
            self._jobs.add(job)
        job.start()
        return job

    def fetch(self, file: ServerFile | str) -> bytes:
        url = file.url if isinstance(file, ServerFile) else file
        if url.startswith("data:"):
            data = decode_data_url(url)
            self._check_size(len(data), "an inline file")
            return data
        return self._download(url)

    def concurrency(self, endpoint: Endpoint) -> int | None:
        # gradio 3's /config does not publish the queue's concurrency_count (nor max_size).
        return None

    def reset(self) -> None:
        """Forget session hashes and the login; the next submit logs in again."""
        with self._lock:
            self._hashes.clear()
            self._client.clear_cookies()
            self._logged_in = False

    def close(self) -> None:
        with self._lock:
            jobs = list(self._jobs)
        for job in jobs:
            job.abandon()
        with contextlib.suppress(Exception):  # closing must never raise
            self._client.close()

    # -- sessions and values -----------------------------------------------------------

    def _session_hash(self, key: str | None) -> str:
        if key is None:
            return new_session_hash()
        with self._lock:
            found = self._hashes.get(key)
            if found is None:
                found = self._hashes[key] = new_session_hash()
                while len(self._hashes) > REMEMBERED_SESSIONS:
                    self._hashes.popitem(last=False)
            else:
                self._hashes.move_to_end(key)
            return found

    def _data(self, dependency: dict[str, Any], endpoint: Endpoint, values: Mapping[str, Any]) -> list[Any]:
        """One value per input component, as the page would send it."""
        params = iter(endpoint.parameters)
        data: list[Any] = []
        for component_id in dependency.get("inputs", []):
            component = self._components.get(component_id, {})
            kind = component.get("type", "")
            if kind == "state":
                data.append(None)
                continue
            param = next(params, None)
            if param is not None and param.name in values:
                data.append(self._encode(kind, values[param.name]))
            else:
                data.append(component.get("props", {}).get("value"))
        return data

    def _encode(self, component: str, value: Any) -> Any:
        if component == "image":
            return self._image_value(value)
        if component in FILE_OBJECT_COMPONENTS or component == "gallery":
            # File and UploadButton upload first, as their 3.x widgets do; the others inline the bytes.
            encode = self._uploaded if component in UPLOADING_COMPONENTS else self._file_object
            if isinstance(value, (list, tuple)):
                return [encode(item) for item in value]
            return encode(value)
        return value

    def _uploaded(self, value: Any) -> Any:
        """`POST /upload` (multipart, streamed from disk), then the server path as the page sends it."""
        if isinstance(value, ServerFile) or not _is_file_like(value):
            return self._file_object(value)
        source = value.source if isinstance(value, File) else str(value)
        if source.startswith(("http://", "https://", "data:")):
            name, data, mime = self._read(value)
            path = self._upload(name, data, mime)
            size = len(data)
        else:
            local = Path(source)
            try:
                size = local.stat().st_size
                with local.open("rb") as handle:
                    path = self._upload(local.name, handle, _guess_mime(local.name))
            except OSError as error:
                raise CallError(f"cannot read {source}: {error.strerror or error}") from error
            name = local.name
        return {"name": path, "orig_name": name, "size": size, "is_file": True, "data": f"{self._root}/file={path}"}

    def upload(self, file: File) -> str:
        return str(self._uploaded(file)["name"])

    def _upload(self, name: str, content: Any, mime: str) -> str:
        try:
            response = self._client.post(self.url + "upload", files=[("files", (name, content, mime))])
        except httpx.HTTPError as error:
            raise ConnectionLost(f"{self.url}: uploading {name} failed: {_describe(error)}") from error
        if response.status_code >= 400:
            raise CallError(f"{self.url}: uploading {name} was refused (HTTP {response.status_code})")
        paths = response.json()
        if not isinstance(paths, list) or not paths:
            raise CallError(f"{self.url}: /upload answered {str(paths)[:200]!r}")
        return str(paths[0])

    def _image_value(self, value: Any) -> Any:
        # gr.Image in 3.x takes a data-URL string; a sketch tool takes {"image": ..., "mask": ...}.
        if isinstance(value, dict):
            return {key: self._image_value(item) for key, item in value.items()}
        if _is_file_like(value):
            name, data, mime = self._read(value)
            return data_url(data, mime)
        return value

    def _file_object(self, value: Any) -> Any:
        if isinstance(value, ServerFile) and value.path and not value.url.startswith("data:"):
            # Already on this server: what the page sends back for a file it was given.
            return {"name": value.path, "data": None, "is_file": True, "orig_name": value.name}
        if not _is_file_like(value):
            return value
        name, data, mime = self._read(value)
        # The base name only: gradio names its temp copy after it, and a local path is nobody's business.
        return {"name": name, "data": data_url(data, mime), "size": len(data), "is_file": False, "orig_name": name}

    def _read(self, value: File | ServerFile | str) -> tuple[str, bytes, str]:
        """(base name, bytes, MIME type) of a file a request sends."""
        if isinstance(value, ServerFile):
            data = self.fetch(value)
            return value.name or "file", data, value.mime or _guess_mime(value.name)
        source = value.source if isinstance(value, File) else str(value)
        if source.startswith("data:"):
            return "file", decode_data_url(source), _data_url_mime(source)
        if source.startswith(("http://", "https://")):
            return self._read_url(source)
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CallError(f"cannot read {source}: {error.strerror or error}") from error
        return path.name, data, _guess_mime(path.name)

    def _read_url(self, url: str) -> tuple[str, bytes, str]:
        try:
            data = download(self._client, url, None)
        except httpx.HTTPError as error:
            raise CallError(f"downloading {url} failed: {_describe(error)}") from error
        except CallError as error:
            raise CallError(f"cannot send {url}: {error.message}") from error
        name = PurePosixPath(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name or "file"
        return name, data, _guess_mime(name)

    # -- downloads -------------------------------------------------------------------

    def _download(self, url: str) -> bytes:
        try:
            return download(self._client, url, self.connection.max_download)
        except httpx.HTTPError as error:
            raise ConnectionLost(f"downloading {url} failed: {_describe(error)}") from error

    def _check_size(self, size: int, what: str) -> None:
        limit = self.connection.max_download
        if limit is not None and size > limit:
            raise CallError(f"{what} is larger than the {limit}-byte download limit")

    # -- outputs ---------------------------------------------------------------------

    def outputs(self, fn_index: int, data: Sequence[Any]) -> tuple[Any, ...]:
        """The response's values without the gr.State positions, files as ServerFiles."""
        converted = []
        for component_id, value in zip(self._dependencies[fn_index].get("outputs", []), data, strict=False):
            kind = self._components.get(component_id, {}).get("type", "")
            if kind != "state":
                converted.append(self._output(kind, value))
        return tuple(converted)

    def _output(self, component: str, value: Any) -> Any:
        if isinstance(value, dict) and value.get("__type__") == "update":
            props = {k: v for k, v in value.items() if k not in ("__type__", "value")}
            return ComponentUpdate(value=self._output(component, value.get("value")), props=props, has_value="value" in value)
        if value is None:
            return None
        if component == "gallery" and isinstance(value, list):
            return [self._gallery_item(item) for item in value]
        if component == "video" and isinstance(value, list) and value:
            # (video, subtitles): the video is the output
            return self._server_file(value[0])
        if component == "image" and isinstance(value, str) and value.startswith("data:"):
            return inline_file(value, "image")
        if component in FILE_COMPONENTS:
            if isinstance(value, list):
                return [self._server_file(item) for item in value]
            return self._server_file(value)
        return value

    def _gallery_item(self, item: Any) -> Any:
        if isinstance(item, (list, tuple)) and len(item) == 2:
            found = self._server_file(item[0])
            caption = item[1] if isinstance(item[1], str) else None
            if isinstance(found, ServerFile) and caption is not None:
                return ServerFile(found.name, found.url, found.size, found.mime, found.is_stream, caption, found.path)
            return found
        return self._server_file(item)

    def _server_file(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("data:"):
            return inline_file(value, "file")
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            return value
        name = value["name"]
        size = value.get("size") if isinstance(value.get("size"), int) else None
        if value.get("is_stream"):
            return ServerFile(name=PurePosixPath(name).name, url=self.url + "stream/" + name, is_stream=True)
        data = value.get("data")
        if not value.get("is_file") and isinstance(data, str) and data.startswith("data:"):
            inline = inline_file(data, PurePosixPath(name).name or "file")
            return ServerFile(inline.name, inline.url, inline.size, inline.mime, path=name)
        if name.startswith(("http://", "https://")):
            base = PurePosixPath(urllib.parse.urlsplit(name).path).name or "file"
            return ServerFile(name=base, url=name, size=size, mime=_guess_mime(base))
        base = PurePosixPath(name.replace("\\", "/")).name
        return ServerFile(name=base, url=self.url + "file=" + name, size=size, mime=_guess_mime(base), path=name)


# -- one call ---------------------------------------------------------------------------


class _Call:
    """What a job sends: the event, its session and its values."""

    def __init__(self, fn_index: int, session_hash: str, data: list[Any]) -> None:
        self.fn_index = fn_index
        self.session_hash = session_hash
        self.data = data

    def predict_body(self) -> dict[str, Any]:
        return {"fn_index": self.fn_index, "session_hash": self.session_hash, "data": self.data, "event_data": None}

    def hash_message(self) -> str:
        return json.dumps({"fn_index": self.fn_index, "session_hash": self.session_hash})

    def data_message(self) -> str:
        return json.dumps({"data": self.data, "event_data": None, "fn_index": self.fn_index, "session_hash": self.session_hash})


class _Gradio3Job(Job):
    """One request, exchanged in a thread of its own so `result(timeout)` can give up on it."""

    def __init__(self, session: Gradio3Session, endpoint: Endpoint, call: _Call, queued: bool) -> None:
        self.session = session
        self.endpoint = endpoint
        self.call = call
        self.queued = queued
        self._updates: queue.SimpleQueue[JobEvent] = queue.SimpleQueue()
        self._logs: list[tuple[str, str]] = []
        self._done = threading.Event()
        # set when the job ends or says something: `result` returns then (see its docstring)
        self._wake = threading.Event()
        self._result: CallResult | None = None
        self._error: CallError | None = None
        self._cancelled = False
        self._socket: ClientConnection | None = None
        self._socket_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"gradio3 {endpoint.key}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    # -- Job -------------------------------------------------------------------------

    def wait(self, timeout: float) -> bool:
        if not self._done.is_set():
            self._wake.wait(timeout)
        self._wake.clear()  # before the caller drains: a later update sets it again
        return True

    def result(self, timeout: float) -> CallResult:
        if not self._done.wait(timeout):
            raise TimeoutError(f"{self.endpoint.key} is still running")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def updates(self) -> list[JobEvent]:
        found = []
        while True:
            try:
                found.append(self._updates.get_nowait())
            except queue.Empty:
                return found

    def cancel(self) -> None:
        with contextlib.suppress(Exception):  # best effort, and it must not raise
            self.abandon()
            if self.queued:
                # The server keeps a generator's iterator per session and event; /reset drops it.
                threading.Thread(target=self._reset, daemon=True).start()

    def abandon(self) -> None:
        """Stop waiting for the job: close its socket; a REST request is left to finish unheard."""
        self._cancelled = True
        self._finish(error=CallCancelled(f"{self.endpoint.key} was cancelled", logs=self._logs))
        with self._socket_lock:
            socket, self._socket = self._socket, None
        if socket is not None:
            with contextlib.suppress(Exception):  # the socket may already be gone
                socket.close()

    def _reset(self) -> None:
        body = {"fn_index": self.call.fn_index, "session_hash": self.call.session_hash}
        with contextlib.suppress(Exception):  # best effort
            self.session._client.post(self.session.url + "reset", json=body, timeout=10)

    # -- the exchange ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            data = self._queue_exchange() if self.queued else self._rest_exchange()
            if data is not None:
                outputs = self.session.outputs(self.call.fn_index, data)
                self._emit(JobEvent("finished"))
                self._finish(result=CallResult(outputs=outputs, endpoint=self.endpoint, logs=tuple(self._logs)))
        except CallError as error:
            if not error.logs:
                error.logs = list(self._logs)
            self._finish(error=error)
        except Exception as error:  # a bug or an unexpected answer must not leave the caller waiting forever
            self._finish(error=ConnectionLost(f"{self.endpoint.key}: unexpected answer from {self.session.url}: {error!r}"))

    def _finish(self, result: CallResult | None = None, error: CallError | None = None) -> None:
        with self._socket_lock:
            if self._done.is_set():
                return
            self._result, self._error = result, error
            self._done.set()
            self._wake.set()

    def _emit(self, update: JobEvent) -> None:
        self._updates.put(update)
        self._wake.set()

    # REST: POST /run/predict; a generator yields one output per POST.

    def _rest_exchange(self) -> list[Any] | None:
        self._emit(JobEvent("started"))
        latest: list[Any] | None = None
        while not self._cancelled:
            answer = self._post_predict()
            if answer is None:  # the server wants this event queued after all
                return self._queue_exchange()
            data = answer.get("data")
            if not isinstance(data, list):
                raise ConnectionLost(f"{self.endpoint.key}: {self.session.url} answered without data")
            if not answer.get("is_generating"):
                # An exhausted generator answers nulls: its output is the last yield.
                return latest if latest is not None else data
            latest = data
        return None

    def _post_predict(self) -> dict[str, Any] | None:
        session = self.session
        url = session.url + "run/predict"
        try:
            # A long conversion holds the request open: no read timeout (result(timeout) bounds the wait).
            response = session._client.post(url, json=self.call.predict_body(), timeout=httpx.Timeout(session.connection.http_timeout, read=None))
        except httpx.HTTPError as error:
            raise ConnectionLost(f"{self.endpoint.key}: {_describe(error)}") from error
        body = _json(response)
        status = response.status_code
        if status == 200 and isinstance(body, dict):
            return body
        detail = body.get("error", body.get("detail")) if isinstance(body, dict) else None
        if status == 500 and isinstance(body, dict) and "error" in body:
            message = body.get("error")
            raise AppError(_app_message(message) if message else HIDDEN_ERROR, hidden=not message)
        if status == 401 and detail == SKIP_QUEUE_REFUSED:
            return None
        if status == 401:
            # gradio 3 keeps logins in memory: a restarted server forgets ours.
            session.reset()
            raise ConnectionLost(f"{self.endpoint.key}: {session.url} no longer accepts our login", status=status)
        if status == 429 or status >= 500 or status == 200:
            raise ConnectionLost(f"{self.endpoint.key}: {session.url} answered HTTP {status}", status=status)
        raise AppError(f"{self.endpoint.key}: HTTP {status}: {detail or response.text[:200]}")

    # Queue: the /queue/join websocket.

    def _queue_exchange(self) -> list[Any] | None:
        try:
            with self._connect() as socket:
                if not self._hold(socket):
                    return None
                return self._converse(socket)
        except ConnectionClosed as error:
            if self._cancelled:
                return None
            raise ConnectionLost(f"{self.endpoint.key}: {self.session.url} closed the queue connection ({_closed(error)})") from error
        except InvalidStatus as error:
            status = error.response.status_code
            if status in (401, 403):
                # The queue refuses a socket without a valid login cookie: a restarted server forgot ours.
                self.session.reset()
            raise ConnectionLost(f"{self.endpoint.key}: the queue of {self.session.url} refused us: HTTP {status}", status=status) from error
        except (OSError, WebSocketException, TimeoutError) as error:
            if self._cancelled:
                return None
            raise ConnectionLost(f"{self.endpoint.key}: cannot talk to the queue of {self.session.url}: {_describe(error)}") from error
        finally:
            self._release()

    def _connect(self) -> ClientConnection:
        session = self.session
        headers = session._headers()
        cookies = session._client.cookie_header()
        if cookies:
            headers["Cookie"] = cookies
        return ws_connect(
            websocket_url(session.url),
            additional_headers=headers,
            max_size=None,  # gr.Image outputs arrive inline as base64, easily over the 1 MiB default
            open_timeout=session.connection.http_timeout,
            close_timeout=5,
        )

    def _hold(self, socket: ClientConnection) -> bool:
        """Keep the socket where `cancel` can close it; False if the job was cancelled meanwhile."""
        with self._socket_lock:
            if self._cancelled:
                return False
            self._socket = socket
            return True

    def _release(self) -> None:
        with self._socket_lock:
            self._socket = None

    def _converse(self, socket: ClientConnection) -> list[Any]:
        latest: list[Any] | None = None
        while True:
            message = json.loads(socket.recv())
            kind = message.get("msg") if isinstance(message, dict) else None
            if kind == "send_hash":
                socket.send(self.call.hash_message())
            elif kind == "send_data":
                socket.send(self.call.data_message())
            elif kind == "process_completed":
                return self._completed(message, latest)
            elif kind == "process_generating":
                latest = _output_data(message) or latest
                if latest is not None:
                    # Apps that report progress only in what they yield (Fooocus's HTML bar) need these.
                    self._emit(JobEvent("generating", outputs=self.session.outputs(self.call.fn_index, latest)))
            else:
                self._report(kind, message)

    def _report(self, kind: Any, message: dict[str, Any]) -> None:
        if kind == "queue_full":
            raise QueueFull("the server's queue is full")
        if kind == "estimation":
            rank, size, eta = message.get("rank"), message.get("queue_size"), message.get("rank_eta")
            self._emit(JobEvent("queued", rank=_int(rank), queue_size=_int(size), eta=number_or_none(eta)))
        elif kind == "process_starts":
            self._emit(JobEvent("started"))
        elif kind == "progress":
            self._emit(JobEvent("progress", progress=progress_fraction(message.get("progress_data"))))
        elif kind == "log":
            entry = (str(message.get("level", "info")), str(message.get("log", "")))
            self._logs.append(entry)
            self._emit(JobEvent("log", log=entry))

    def _completed(self, message: dict[str, Any], latest: list[Any] | None) -> list[Any]:
        output = message.get("output") if isinstance(message.get("output"), dict) else {}
        assert isinstance(output, dict)
        if not message.get("success", False):
            if "error" not in output and output.get("detail") == "Not authenticated":
                # The queue runs the job with our cookie, which a restarted server no longer knows.
                self.session.reset()
                raise ConnectionLost(f"{self.endpoint.key}: {self.session.url} no longer accepts our login", status=401)
            error = output.get("error", output.get("detail"))
            raise AppError(_app_message(error) if error else HIDDEN_ERROR, hidden=not error)
        data = _output_data(message)
        # A finished generator repeats its last yield here; fall back to it if the server sent none.
        if data is None:
            data = latest
        if data is None:
            raise ConnectionLost(f"{self.endpoint.key}: {self.session.url} completed without output")
        return data


# -- the API from /config ------------------------------------------------------------------


def build_api(url: str, config: Mapping[str, Any]) -> ServerApi:
    """The endpoints of a gradio 3 app, read from its `/config` alone."""
    components = {int(c["id"]): c for c in config.get("components", []) if isinstance(c, dict) and "id" in c}
    enable_queue = bool(config.get("enable_queue"))
    app_shows_api = config.get("show_api") is not False
    named: dict[str, Endpoint] = {}
    unnamed: dict[int, Endpoint] = {}
    for fn_index, dependency in enumerate(config.get("dependencies", [])):
        if not isinstance(dependency, dict) or not dependency.get("backend_fn"):
            continue
        endpoint = _endpoint(fn_index, dependency, components, enable_queue, app_shows_api)
        if endpoint.name:
            named[endpoint.name] = endpoint
        else:
            unnamed[fn_index] = endpoint
    return ServerApi(url=url, version=str(config.get("version", "")), endpoints=named, title=str(config.get("title") or ""), unnamed=unnamed)


def _endpoint(fn_index: int, dependency: dict[str, Any], components: dict[int, Any], enable_queue: bool, app_shows_api: bool) -> Endpoint:
    api_name = dependency.get("api_name")
    shown = dependency.get("show_api") is not False
    name = f"/{api_name}" if isinstance(api_name, str) and api_name and shown else ""
    queue_flag = dependency.get("queue")
    after = dependency.get("trigger_after")
    return Endpoint(
        name=name,
        parameters=_params(dependency.get("inputs", []), components, "input"),
        returns=_params(dependency.get("outputs", []), components, "output"),
        fn_index=fn_index,
        trigger=_trigger(dependency, components),
        queued=enable_queue and (queue_flag if isinstance(queue_flag, bool) else True),
        hidden=api_name is False or not shown or not app_shows_api,
        after=after if isinstance(after, int) else None,
    )


def _trigger(dependency: dict[str, Any], components: dict[int, Any]) -> str:
    event = str(dependency.get("trigger") or "")
    targets = dependency.get("targets") or []
    target = components.get(targets[0]) if targets else None
    if not isinstance(target, dict):
        return event
    props = target.get("props", {})
    text = props.get("value") if target.get("type") == "button" else props.get("label")
    text = text if isinstance(text, str) and text else props.get("label") or props.get("value")
    parts = [str(target.get("type", "")), f'"{text}"' if isinstance(text, str) and text else "", event]
    return " ".join(part for part in parts if part)


def _params(ids: Sequence[int], components: dict[int, Any], prefix: str) -> tuple[Param, ...]:
    params: list[Param] = []
    taken: set[str] = set()
    visible = [components.get(i, {"type": ""}) for i in ids if components.get(i, {}).get("type") != "state"]
    for position, component in enumerate(visible):
        props = component.get("props", {}) if isinstance(component.get("props"), dict) else {}
        name = unique_name(parameter_name(str(props.get("label") or ""), f"{prefix}_{position}"), taken)
        params.append(_param(name, component, props))
    return tuple(params)


def _param(name: str, component: dict[str, Any], props: dict[str, Any]) -> Param:
    kind = str(component.get("type", ""))
    is_file = kind in FILE_COMPONENTS
    multiple = kind == "gallery" or (kind in ("file", "uploadbutton") and props.get("file_count") in ("multiple", "directory"))
    choices = _choice_values(props.get("choices"))
    precision = props.get("precision") if isinstance(props.get("precision"), int) and not isinstance(props.get("precision"), bool) else None
    # The page sends what each field shows (a file input starts empty); a Number or a choice
    # showing nothing sends null, which no call can use.
    untouched = untouched_value(kind, {"value": props.get("value")}, 3)
    has_default, default = untouched or (not is_file, None)
    return Param(
        name=name,
        label=str(props.get("label") or ""),
        component=kind,
        python_type=_python_type(kind, props, multiple, precision),
        schema=_schema(kind, component, props),
        has_default=has_default,
        default=default,
        choices=choices,
        minimum=number_or_none(props.get("minimum")),
        maximum=number_or_none(props.get("maximum")),
        precision=precision,
        choice_labels=choice_labels(props, choices),
        custom_values=bool(props.get("allow_custom_value")),
        multiple=multiple,
        component_id=int(component["id"]) if isinstance(component.get("id"), int) else None,
    )


def _choice_values(raw: Any) -> tuple[Any, ...] | None:
    # gradio 3 gives Radio/CheckboxGroup choices as [label, value] pairs and Dropdown choices as values.
    if not isinstance(raw, list) or not raw:
        return None
    return tuple(item[1] if isinstance(item, list) and len(item) == 2 else item for item in raw)


SCHEMAS: dict[str, dict[str, Any]] = {
    "number": {"type": "number"},
    "slider": {"type": "number"},
    "checkbox": {"type": "boolean"},
    "textbox": {"type": "string"},
    "radio": {"type": "string"},
    "checkboxgroup": {"type": "array", "items": {"type": "string"}},
    "json": {},
    "dataframe": {},
}


def _schema(kind: str, component: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    if kind in FILE_COMPONENTS:
        return {}
    if kind == "dropdown":
        return {"type": "array", "items": {"type": "string"}} if props.get("multiselect") else {"type": "string"}
    if kind in SCHEMAS:
        return dict(SCHEMAS[kind])
    # Other components: the type their serializer declares, when it is a plain JSON type.
    info = component.get("api_info", {}).get("info") if isinstance(component.get("api_info"), dict) else None
    declared = info.get("type") if isinstance(info, dict) else None
    return {"type": declared} if isinstance(declared, str) else {}


PYTHON_TYPES = {
    "number": "float",
    "slider": "float",
    "checkbox": "bool",
    "textbox": "str",
    "radio": "str",
    "dropdown": "str",
    "checkboxgroup": "list[str]",
    "json": "Any",
    "dataframe": "dict",
}


def _python_type(kind: str, props: dict[str, Any], multiple: bool, precision: int | None) -> str:
    if kind in FILE_COMPONENTS:
        return "list[filepath]" if multiple else "filepath"
    if kind == "number" and precision == 0:
        return "int"
    if kind == "dropdown" and props.get("multiselect"):
        return "list[str]"
    return PYTHON_TYPES.get(kind, "Any")


def parameter_name(label: str, fallback: str) -> str:
    """A readable identifier from a label ("Selected Styles" -> selected_styles), else `fallback`."""
    if not label or not label.isascii():
        return fallback
    name = re.sub(r"\W+", "_", label.lower()).strip("_")
    if not name or not name.isidentifier():
        return fallback
    return name


def unique_name(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate


# -- small helpers ---------------------------------------------------------------------------


def new_session_hash() -> str:
    """A random 11-character hash, like the one the 3.x page makes."""
    return "".join(secrets.choice(HASH_ALPHABET) for _ in range(11))


def websocket_url(base: str) -> str:
    """`ws(s)://host[/prefix]/queue/join` for a server at `base` (which ends in "/")."""
    parts = urllib.parse.urlsplit(base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path + "queue/join", "", ""))


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime or 'application/octet-stream'};base64,{base64.b64encode(data).decode('ascii')}"


def decode_data_url(url: str) -> bytes:
    """The bytes of a `data:` URL (base64 or percent-encoded)."""
    header, comma, payload = url.partition(",")
    if not comma:
        raise CallError("a malformed data: URL")
    if header.endswith(";base64"):
        try:
            return base64.b64decode(payload + "=" * (-len(payload) % 4))
        except (binascii.Error, ValueError) as error:
            raise CallError("a malformed base64 data: URL") from error
    return urllib.parse.unquote_to_bytes(payload)


def inline_file(url: str, stem: str) -> ServerFile:
    """A ServerFile for data the server returned inline (a gr.Image output is a data URL in 3.x)."""
    mime = _data_url_mime(url)
    extension = (mimetypes.guess_extension(mime) or "") if mime else ""
    if extension == ".jpe":
        extension = ".jpg"
    name = stem if "." in stem else stem + extension
    _, _, payload = url.partition(",")
    size = len(payload) * 3 // 4 - payload[-2:].count("=") if ";base64" in url[:64] else None
    return ServerFile(name=name, url=url, size=size, mime=mime or None)


def progress_fraction(units: Any) -> float | None:
    """0..1 from the outermost gr.Progress unit (index/length for tqdm, else its own progress)."""
    if not isinstance(units, list) or not units or not isinstance(units[0], dict):
        return None
    unit = units[0]
    index, length = unit.get("index"), unit.get("length")
    if isinstance(index, (int, float)) and isinstance(length, (int, float)) and length > 0:
        return max(0.0, min(1.0, index / length))
    return number_or_none(unit.get("progress"))


def _data_url_mime(url: str) -> str:
    header = url[5:].split(",", 1)[0]
    return header.split(";", 1)[0]


def _guess_mime(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _is_file_like(value: Any) -> bool:
    return isinstance(value, (File, ServerFile)) or (isinstance(value, str) and value.startswith("data:"))


def _output_data(message: dict[str, Any]) -> list[Any] | None:
    output = message.get("output")
    data = output.get("data") if isinstance(output, dict) else None
    return data if isinstance(data, list) else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _closed(error: ConnectionClosed) -> str:
    frame = error.rcvd
    return f"code {frame.code}" if frame is not None else "no close frame"



def _app_message(message: object) -> str:
    """A gr.Error's text: gradio 3 sends `str()` of the exception, which is the repr of its
    message ("'Cannot divide by zero!'"); show it as the app wrote it."""
    text = str(message)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
        if isinstance(value, str):
            return value
    return text

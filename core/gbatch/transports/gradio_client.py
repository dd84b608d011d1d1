"""Gradio 4, 5 and 6 servers, through gradio_client (SSE protocol).

- every gradio_client Client is made without telemetry (it phones home otherwise), without
  touching the process's environment;
- a session builds Clients lazily, one per eight slots, since one Client is one
  event stream and one failure domain, and drops a Client whose stream broke;
- files go as the browser sends them: uploaded, and shaped per component (a
  Gallery item is `{"image": file, "caption": None}`, a multi-file input a list);
- gradio_client's exceptions become gbatch's `CallError` tree here, and its
  FileData dicts become `ServerFile`s: nothing of gradio_client leaves this module.
"""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import contextlib
import functools
import posixpath
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from .._api import Endpoint, Param, ServerApi, choice_labels, number_or_none, untouched_value
from .._columns import File
from .._errors import TIMEOUT_ERRORS, AppError, CallCancelled, CallError, ConnectionLost, QueueFull, ServerError
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

__all__ = ["GradioClientTransport", "make_client"]

CLIENTS_PER_SLOTS = 8
CANCEL_WAIT = 2.0  # seconds a cancel may take before the attempt ends anyway
# A download that stalls this long without a byte is dead (a server that stopped answering);
# a slow but moving one is fine, since the limit is between reads.
READ_STALL = 30.0
GENERIC_APP_ERROR = "The upstream Gradio app has raised an exception but has not enabled verbose error reporting"


ClientFactory = Callable[[str, ConnectOptions, int], Any]


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """What httpx builds for `verify=True` (certifi, or SSL_CERT_FILE/SSL_CERT_DIR), built once."""
    return httpx.create_ssl_context()


def make_client(url: str, connection: ConnectOptions, workers: int) -> Any:
    """A gradio_client.Client that never downloads on its own and never reports telemetry."""
    _hub_telemetry_off()
    return _quiet_client_class()(
        url,
        token=connection.token,
        auth=connection.auth,
        headers=dict(connection.headers) or None,
        httpx_kwargs={"timeout": connection.http_timeout},
        download_files=False,
        verbose=False,
        analytics_enabled=False,
        max_workers=max(2, workers),
        # gradio_client passes this as `verify=` to a new httpx client for every job it submits;
        # `True` makes httpx load the CA bundle each time (~20 ms CPU per row), a context does not.
        ssl_verify=_tls_context(),
    )


def _hub_telemetry_off() -> None:
    """Every Client builds its headers with huggingface_hub, which, unless its telemetry switch is
    off, asks huggingface.co which coding agent runs the process. The switch is a constant that
    huggingface_hub reads from the environment when first imported; gbatch sets the constant when
    it makes a client, and leaves the environment alone."""
    import huggingface_hub.constants

    huggingface_hub.constants.HF_HUB_DISABLE_TELEMETRY = True


@functools.lru_cache(maxsize=1)
def _quiet_client_class() -> type:
    """gradio_client.Client without its telemetry.

    A Client reports itself unless BOTH `analytics_enabled=False` and the variable
    GRADIO_ANALYTICS_ENABLED say no, and an unset variable says yes. Rather than change the
    caller's environment, the one method that reports does nothing here, and the flag reads
    false whatever the environment says. (gradio_client is imported only when a client is made.)
    """
    from gradio_client import Client

    class QuietClient(Client):  # type: ignore[misc]
        analytics_enabled = property(lambda self: False, lambda self, value: None)

        def _telemetry_thread(self) -> None:
            return

        def stream_messages(self, *args: Any, **kwargs: Any) -> Any:
            fruitless = 0  # streams in a row that ended at once and brought the waiting jobs nothing
            while True:
                waiting = _waiting_ids(self)
                opened = time.monotonic()
                ended = super().stream_messages(*args, **kwargs)
                quick = time.monotonic() - opened < 0.05 and waiting == _waiting_ids(self)
                fruitless = fruitless + 1 if quick else 0
                if fruitless >= 5 or not _read_on(self):
                    return ended

    return QuietClient


def _waiting_ids(client: Any) -> set[str]:
    """The jobs a Client waits for (a copy, taken under its lock: other threads add to it)."""
    lock = getattr(client, "pending_lock", None)
    waiting = getattr(client, "pending_event_ids", None)
    if lock is None or not isinstance(waiting, set):
        return set()
    with lock:
        return set(waiting)


def _forget_event(client: Any, event_id: str | None) -> None:
    """A cancelled job is no longer waited for: it must not keep the stream open (`_read_on`)."""
    lock = getattr(client, "pending_lock", None)
    waiting = getattr(client, "pending_event_ids", None)
    if event_id and lock is not None and isinstance(waiting, set):
        with lock:
            waiting.discard(event_id)


def _read_on(client: Any) -> bool:
    """Whether a session's event stream must be read again after the server closed it.

    The server closes a session's stream once none of its events is pending, and a job
    submitted while that close is on its way joins the queue but is tied to the stream that
    is ending: gradio_client then cancels it, though the server runs it, and a retry would
    run the row twice. Such jobs are still waiting (`pending_event_ids`) once the stream
    ends with `stream_open` false; the server keeps their messages for the session, so the
    stream is opened again, as the browser does for its next event. If another job already
    opened a new stream, the waiting jobs are handed to it instead.
    """
    lock = getattr(client, "pending_lock", None)
    if lock is None or not hasattr(client, "pending_event_ids") or not hasattr(client, "stream_open"):
        return False  # a gradio_client without these internals: its own behaviour stands
    with lock:
        if not client.pending_event_ids:
            return False
        if client.stream_open:
            epochs, epoch = getattr(client, "pending_event_epoch", None), getattr(client, "stream_epoch", None)
            if isinstance(epochs, dict) and epoch is not None:
                for event_id in client.pending_event_ids:
                    epochs[event_id] = epoch
            return False
        client.stream_open = True
        return True


class GradioClientTransport(Transport):
    """Gradio 4 and later. `client_factory` builds the gradio_client Clients (tests may replace it)."""

    name = "gradio-client"

    def __init__(self, client_factory: ClientFactory = make_client) -> None:
        self._factory = client_factory

    def connect(self, url: str, connection: ConnectOptions, slots: int, config: Mapping[str, Any] | None = None) -> ServerSession:
        session = ClientSession(url, slots, connection, self._factory)
        try:
            client = session.client(0)
            session.api = api_from_client(client, session.url)
        except Exception as exc:
            session.close()
            raise _connect_error(exc, url) from None
        return session


def _connect_error(exc: BaseException, url: str) -> Exception:
    if _is_login_failure(exc):
        return ServerError(f"{url}: login failed (check --auth / --token)")
    if "Unknown protocol" in str(exc):
        return ServerError(f"{url}: this server speaks a protocol gradio_client cannot (a gradio 3 app?)")
    return ConnectionLost(_describe(exc))


def _is_login_failure(exc: BaseException) -> bool:
    # 401 raises AuthenticationError; gradio 6 answers a wrong password with HTTP 400,
    # which gradio_client raises as ValueError("Could not login …").
    return type(exc).__name__ == "AuthenticationError" or (isinstance(exc, ValueError) and "Could not login" in str(exc))


class ClientSession(ServerSession):
    """gradio_client Clients for one server, built on first use and rebuilt after their stream drops."""

    def __init__(self, url: str, slots: int, connection: ConnectOptions, factory: ClientFactory) -> None:
        self.url = url.rstrip("/") + "/"
        self.slots = slots
        self.connection = connection
        self._factory = factory
        self._clients: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._making = threading.Lock()
        self._http: ServerHttp | None = None

    # -- clients ------------------------------------------------------------------

    def client(self, slot: int = 0) -> Any:
        group = slot // CLIENTS_PER_SLOTS
        with self._lock:
            existing = self._clients.get(group)
        if existing is not None:
            return existing
        # One Client is made at a time: rows that start together would otherwise each make one
        # (each reads the app's config over the network) and close all but the first.
        with self._making:
            with self._lock:
                existing = self._clients.get(group)
            if existing is not None:
                return existing
            # A Client runs at most `max_workers` jobs at once. Every Client gets room for its whole
            # group: slots are learned while the batch runs, so the first Client (made to read the
            # API) cannot know how many it will carry, and its pool starts threads only as jobs need them.
            made = self._factory(self.url, self.connection, CLIENTS_PER_SLOTS)
            with self._lock:
                self._clients[group] = made
            return made

    def discard(self, client: Any) -> None:
        """Forget a client whose event stream dropped; the next call builds a fresh one,
        and downloads get a fresh login too (a restarted server forgot the old cookies)."""
        with self._lock:
            for group, known in list(self._clients.items()):
                if known is client:
                    del self._clients[group]
                    _close(client)
            http, self._http = self._http, None
        if http is not None:
            http.close()

    def reset(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
            http, self._http = self._http, None
        for client in clients:
            _close(client)
        if http is not None:
            http.close()

    def _http_client(self) -> ServerHttp:
        """An HTTP client with the login cookies and headers of a live Client, for downloads
        (they go to this server's origin only)."""
        client = self.client(0)
        with self._lock:
            if self._http is None:
                self._http = ServerHttp(
                    self.url,
                    dict(getattr(client, "headers", {}) or {}),
                    httpx.Timeout(self.connection.http_timeout, read=min(READ_STALL, self.connection.http_timeout)),
                    cookies=dict(getattr(client, "cookies", {}) or {}),
                )
            return self._http

    # -- requests -----------------------------------------------------------------

    def submit(self, request: TransportRequest, slot: int = 0) -> Job:
        from gradio_client import handle_file

        params = {p.name: p for p in request.endpoint.parameters}
        target: dict[str, Any] = {"api_name": request.endpoint.name} if request.endpoint.name else {"fn_index": request.endpoint.fn_index}
        client = None
        try:
            # A fresh Client connects (after a restart the server may still be coming back).
            client = self.client(slot)
            args = {name: _payload(params.get(name), value, handle_file) for name, value in request.values.items()}
            job = client.submit(**target, **args)
        except Exception as exc:
            raise self._translate(exc, client, []) from None
        return ClientJob(self, client, job, request.endpoint)

    def _translate(self, exc: BaseException, client: Any, logs: list[tuple[str, str]]) -> CallError:
        error = translate(exc, logs)
        if isinstance(error, ConnectionLost):
            self.discard(client)
        return error

    def file_url(self, file: ServerFile | str) -> str:
        """A server file's URL, pointed at the address we reach the server by."""
        url = file.url if isinstance(file, ServerFile) else str(file)
        if not url.startswith(("http://", "https://")):
            return urljoin(self.url, "gradio_api/file=" + url)
        # A server launched on 0.0.0.0 or behind a proxy may announce an address we cannot use.
        ours, theirs = urlsplit(self.url), urlsplit(url)
        return urlunsplit((ours.scheme, ours.netloc, theirs.path, theirs.query, theirs.fragment))

    def fetch(self, file: ServerFile | str) -> bytes:
        url = self.file_url(file)
        try:
            return download(self._http_client(), url, self.connection.max_download)
        except httpx.TransportError:
            # A kept-alive connection the server closed (after an error response, say) fails
            # once at random; a second request gets a fresh connection.
            try:
                return download(self._http_client(), url, self.connection.max_download)
            except httpx.TransportError as exc:
                raise ConnectionLost(f"could not download {url}: {exc}") from None

    def server_file(self, data: Mapping[str, Any], caption: str | None = None) -> ServerFile:
        path = str(data.get("path") or "")
        url = data.get("url") or path
        name = str(data.get("orig_name") or posixpath.basename(path) or posixpath.basename(urlsplit(str(url)).path))
        size = data.get("size")
        return ServerFile(
            name=name,
            url=self.file_url(str(url)),
            size=size if isinstance(size, int) else None,
            mime=data.get("mime_type"),
            is_stream=bool(data.get("is_stream")),
            caption=caption,
            path=path,
        )

    def close(self) -> None:
        self.reset()


def _payload(param: Param | None, value: Any, handle_file: Callable[[str], Any]) -> Any:
    """A value as the browser sends it for this parameter (files uploaded, shaped per component)."""
    if isinstance(value, File):
        return handle_file(value.source)
    if isinstance(value, list) and value and all(isinstance(v, File) for v in value):
        if param is not None and param.component.lower() == "gallery":
            return [{"image": handle_file(v.source), "caption": None} for v in value]
        return [handle_file(v.source) for v in value]
    return value


class _WakingQueue(asyncio.Queue[Any]):
    """gradio_client's per-job update queue, which also wakes whoever waits for the job.

    gradio_client has no callback for a job's status: its reader puts each update
    into `Communicator.updates`. Waking on that put lets `ClientJob.result` return as
    soon as the server says a job waits or runs, so gbatch's scheduler hears it without
    a polling delay of its own."""

    def __init__(self, wake: threading.Event) -> None:
        super().__init__()
        self._wake = wake

    def put_nowait(self, item: Any) -> None:
        super().put_nowait(item)
        self._wake.set()


class ClientJob(Job):
    def __init__(self, session: ClientSession, client: Any, job: Any, endpoint: Endpoint) -> None:
        self._session = session
        self._client = client
        self._job = job
        self._endpoint = endpoint
        self._last: tuple[Any, ...] | None = None
        self._cancelled = False
        self._wake = threading.Event()
        self._queues = self._watch()

    def _watch(self) -> list[Any]:
        """The update queues to read, oldest first: the job's own (updates put before we
        got here) and the waking one that replaces it. Without a communicator: none."""
        communicator = getattr(self._job, "communicator", None)
        original = getattr(communicator, "updates", None)
        if communicator is None or original is None:
            return []
        waking = _WakingQueue(self._wake)
        communicator.updates = waking
        with contextlib.suppress(Exception):  # a job that is no Future (a test double) is polled
            self._job.future.add_done_callback(lambda _: self._wake.set())
        return [original, waking]

    def wait(self, timeout: float) -> bool:
        """Until the job ends or the server says something, at most `timeout` seconds."""
        if not self._queues:
            return False
        if not self._job.done():
            self._wake.wait(timeout)
        # Cleared before the caller drains: an update after this sets it again, none is missed.
        self._wake.clear()
        return True

    def _outputs(self, value: Any) -> tuple[Any, ...]:
        returns = len(self._endpoint.returns)
        values = tuple(value) if returns != 1 and isinstance(value, (list, tuple)) else (value,)
        return tuple(self._convert(v) for v in values)

    def result(self, timeout: float) -> CallResult:
        try:
            value = self._job.result(timeout=timeout)
        except TIMEOUT_ERRORS:
            # The Job protocol promises the builtin, which concurrent.futures' is not before 3.11.
            raise TimeoutError(f"{self._endpoint.key} is still running") from None
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            if self._cancelled:
                raise CallCancelled("cancelled") from None
            raise self._session._translate(exc, self._client, []) from None
        return CallResult(self._outputs(value), self._endpoint)

    def _convert(self, value: Any) -> Any:
        if _is_file_data(value):
            return self._session.server_file(value)
        if isinstance(value, Mapping):
            media = value.get("image") if _is_file_data(value.get("image")) else value.get("video")
            if isinstance(media, Mapping) and _is_file_data(media):
                return self._session.server_file(media, value.get("caption"))
            if value.get("__type__") == "update":
                props = {k: self._convert(v) for k, v in value.items() if k not in ("__type__", "value")}
                return ComponentUpdate(self._convert(value.get("value")), props, "value" in value)
            return {k: self._convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._convert(v) for v in value]
        if isinstance(value, tuple) and len(value) == 2 and _is_file_data(value[0]):
            return self._session.server_file(value[0], value[1])
        return value

    def cancel(self) -> None:
        self._cancelled = True
        communicator = getattr(self._job, "communicator", None)
        # Still uploading: /cancel names the job by the event id the queue gives it on joining,
        # so a cancel sent now cancels nothing. Send it again once the request has landed.
        landing = communicator is not None and not communicator.event_id

        def cancel_on_server() -> None:
            with contextlib.suppress(Exception):  # best effort: the server may be gone
                self._job.cancel()
                if landing:
                    self._cancel_once_queued(communicator)
            _forget_event(self._client, getattr(communicator, "event_id", None))

        # gradio_client posts /cancel with the run's long HTTP timeout; a frozen server must not
        # hold this worker (and the batch's end) for minutes: wait a little, then let it go.
        worker = threading.Thread(target=cancel_on_server, name="gbatch-cancel", daemon=True)
        worker.start()
        worker.join(CANCEL_WAIT)

    def _cancel_once_queued(self, communicator: Any) -> None:
        """Wait (in the cancel thread) for the upload to end; if the request then joined the
        queue, cancel it there by its event id (gradio_client's cancel reads it when called)."""
        future = self._job.future
        while not communicator.event_id and not future.done():
            time.sleep(0.05)
        cancel = getattr(self._job, "cancel_fn", None)
        if communicator.event_id and cancel is not None:
            cancel()

    def updates(self) -> list[JobEvent]:
        # Job.status() keeps only the latest update, so a log line could be lost: read the queue.
        found: list[JobEvent] = []
        yielded: list[Any] = []
        queues = self._queues or [getattr(getattr(self._job, "communicator", None), "updates", None)]
        for queue in queues:
            if queue is not None:
                self._read(queue, found, yielded)
        if yielded:
            # A generator's latest yield: apps that report progress only there need it (Plan.progress).
            with contextlib.suppress(Exception):
                found.insert(0, JobEvent("generating", outputs=self._outputs(yielded[-1])))
        return found

    def _read(self, queue: Any, found: list[JobEvent], yielded: list[Any]) -> None:
        while True:
            try:
                update = queue.get_nowait()
            except (asyncio.QueueEmpty, RuntimeError):
                return
            if getattr(update, "type", None) == "output":
                if not getattr(update, "final", True):
                    yielded.append(update.outputs)  # what job.outputs() gains as a generator yields
                continue
            log = getattr(update, "log", None)
            if log:
                text, level = log
                found.append(JobEvent("log", log=(str(level), str(text))))
            code = getattr(update, "code", None)
            if code is None:
                continue
            name = str(getattr(code, "value", code))
            progress = None
            units = getattr(update, "progress_data", None)
            if units:
                unit = units[0]
                if getattr(unit, "progress", None) is not None:
                    progress = float(unit.progress)
                elif getattr(unit, "length", None):
                    progress = float(unit.index or 0) / float(unit.length)
            found.append(JobEvent(_CODES.get(name, name.lower()), rank=update.rank, queue_size=update.queue_size, eta=update.eta, progress=progress))


_CODES = {"IN_QUEUE": "queued", "JOINING_QUEUE": "queued", "PROCESSING": "started", "ITERATING": "started", "PROGRESS": "progress", "FINISHED": "finished"}


def _is_file_data(value: Any) -> bool:
    return isinstance(value, Mapping) and "path" in value and ("meta" in value or "url" in value or "orig_name" in value)


def translate(exc: BaseException, logs: list[tuple[str, str]]) -> CallError:
    """gradio_client's exceptions as gbatch's own."""
    from gradio_client.exceptions import AppError as ClientAppError
    from gradio_client.utils import QueueError, TooManyRequestsError

    if isinstance(exc, CallError):
        return exc
    if isinstance(exc, QueueError):
        return QueueFull("the server's queue is full", logs=logs)
    if isinstance(exc, ClientAppError):
        message = _unquote(getattr(exc, "message", None) or str(exc))
        hidden = GENERIC_APP_ERROR in message
        return AppError(message, hidden=hidden, logs=logs)
    if isinstance(exc, TooManyRequestsError):
        return ConnectionLost("the server says: too many requests (HTTP 429)", status=429, logs=logs)
    if isinstance(exc, concurrent.futures.CancelledError):
        return ConnectionLost("the connection to the server dropped (server restarted or stopped?)", logs=logs)
    if isinstance(exc, httpx.HTTPStatusError):
        code = exc.response.status_code
        if code == 429 or code >= 500:
            return ConnectionLost(f"HTTP {code} from {exc.request.url}", status=code, logs=logs)
        return CallError(f"HTTP {code} from {exc.request.url}", logs=logs)
    if isinstance(exc, (httpx.TransportError, ConnectionError, *TIMEOUT_ERRORS)):
        return ConnectionLost(_describe(exc), logs=logs)
    if isinstance(exc, ValueError) and "Server stopped" in str(exc):
        return ConnectionLost("the server stopped", logs=logs)
    if _is_login_failure(exc):
        return CallError("login refused (check --auth / --token)", logs=logs)
    return CallError(_describe(exc), logs=logs)


def _unquote(message: str) -> str:
    # gradio 4.x sends a gr.Error's message quoted once more ('"cannot handle x"', "'Cannot find…'").
    if len(message) >= 2 and message[0] == message[-1] and message[0] in "'\"":
        with contextlib.suppress(ValueError, SyntaxError):
            decoded = ast.literal_eval(message)
            if isinstance(decoded, str):
                return decoded
    return message


def _describe(exc: BaseException) -> str:
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {exc}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _close(client: Any) -> None:
    with contextlib.suppress(Exception):  # closing is best effort
        client.close()


# -- the API, from view_api and /config ---------------------------------------------


def api_from_client(client: Any, url: str) -> ServerApi:
    """Named endpoints from `view_api`, with limits and choice labels from the config's props."""
    info = client.view_api(return_format="dict", print_info=False)
    config: dict[str, Any] = getattr(client, "config", None) or {}
    return api_from_info(info, config, url)


def api_from_info(info: Mapping[str, Any], config: Mapping[str, Any], url: str) -> ServerApi:
    components: dict[Any, Any] = {c["id"]: c for c in config.get("components", [])}
    dependencies: list[dict[str, Any]] = list(config.get("dependencies", []))
    by_name: dict[Any, tuple[int | None, dict[str, Any]]] = {d.get("api_name"): (i, d) for i, d in enumerate(dependencies) if d.get("api_name")}
    endpoints: dict[str, Endpoint] = {}
    version = str(config.get("version", ""))
    major = int(version.split(".", 1)[0]) if version.split(".", 1)[0].isdigit() else 0
    for name, spec in (info.get("named_endpoints") or {}).items():
        fn_index, dep = by_name.get(name.lstrip("/"), (None, {}))
        parameters = spec.get("parameters", [])
        returns = spec.get("returns", [])
        in_props = _props(dep.get("inputs", []), components, len(parameters))
        out_props = _props(dep.get("outputs", []), components, len(returns))
        endpoints[name] = Endpoint(
            name=name,
            parameters=tuple(_param(p, pr, cid, major=major) for p, (pr, cid) in zip(parameters, in_props, strict=True)),
            returns=tuple(_param(p, pr, cid, index=i) for i, (p, (pr, cid)) in enumerate(zip(returns, out_props, strict=True))),
            fn_index=dep.get("id", fn_index) if dep else None,
            trigger=_trigger(dep, components),
            queued=dep.get("queue") is not False,
            after=dep.get("trigger_after"),
        )
    return ServerApi(url=url, version=version, endpoints=endpoints, title=str(config.get("title", "")))


def _trigger(dep: Mapping[str, Any], components: Mapping[Any, Any]) -> str:
    for target in dep.get("targets") or []:
        cid, event = (target[0], target[1]) if isinstance(target, (list, tuple)) else (target, dep.get("trigger", ""))
        props = (components.get(cid) or {}).get("props", {})
        label = props.get("label") or props.get("value") or (components.get(cid) or {}).get("type", "")
        return f"{label} {event}".strip() if isinstance(label, str) else str(event)
    return ""


def _props(ids: list[int], components: Mapping[Any, Any], expected: int) -> list[tuple[dict[str, Any], int | None]]:
    # view_api hides State inputs; drop them here too so the two lists line up.
    found: list[tuple[dict[str, Any], int | None]] = [(components[i].get("props", {}), i) for i in ids if i in components and components[i].get("type") != "state"]
    if len(found) != expected:
        return [({}, None) for _ in range(expected)]
    return found


def _param(spec: Mapping[str, Any], props: Mapping[str, Any], component_id: int | None, index: int | None = None, major: int = 0) -> Param:
    schema = spec.get("type") or {}
    if not isinstance(schema, dict):
        schema = {}
    choices = _choices(schema)
    name = spec.get("parameter_name") or (f"output_{index}" if index is not None else "")
    python_type = spec.get("python_type") or {}
    component = str(spec.get("component", ""))
    multiple = component.lower() == "gallery" or props.get("file_count") in ("multiple", "directory")
    has_default, default = _untouched(spec, props, major) if index is None else (False, None)
    return Param(
        name=name,
        label=str(spec.get("label") or props.get("label") or ""),
        component=component,
        python_type=str(python_type.get("type", "")) if isinstance(python_type, dict) else str(python_type),
        schema=schema,
        has_default=has_default,
        default=default,
        choices=choices,
        minimum=number_or_none(props.get("minimum")),
        maximum=number_or_none(props.get("maximum")),
        precision=props.get("precision") if isinstance(props.get("precision"), int) else None,
        choice_labels=choice_labels(props, choices),
        # view_api lists the enum even when the app accepts any value
        custom_values=bool(props.get("allow_custom_value")),
        example=spec.get("example_input"),
        multiple=bool(multiple),
        component_id=component_id,
    )


def _untouched(spec: Mapping[str, Any], props: Mapping[str, Any], major: int) -> tuple[bool, Any]:
    """Whether the page sends a value for this field untouched, and which.

    view_api calls a field optional only when the config gives it a value or the function's
    argument defaults to None; the page also fills some that have none (a Textbox sends "").
    """
    listed = (bool(spec.get("parameter_has_default", False)), spec.get("parameter_default"))
    untouched = untouched_value(str(spec.get("component", "")), props, major)
    if untouched is None or (not untouched[0] and listed[0]):
        return listed  # nothing known from the config, or a function that takes None
    return untouched


def _choices(schema: Mapping[str, Any]) -> tuple[Any, ...] | None:
    # Real enums only: a boolean Radio's python_type says Literal['False', 'True'] but the enum is real bools.
    if "enum" in schema:
        return tuple(schema["enum"])
    items = schema.get("items")
    if isinstance(items, dict) and "enum" in items:
        return tuple(items["enum"])
    return None

"""Everything that talks to a Gradio server through gradio_client.

- telemetry is switched off before gradio_client is imported (it phones home otherwise);
- a `ClientPool` per server builds Clients lazily, one per eight slots, since one
  Client is one event stream and one failure domain;
- `call` submits one job, waits for it with a deadline, cancels it on the server
  when asked to stop, and keeps every log line (gr.Warning / gr.Info) it sends;
- `classify` sorts gradio_client's exceptions into the executor's error kinds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import os
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from ._columns import File
from ._errors import RowFailed, ServerError
from ._executor import Attempt, ErrorKind

__all__ = ["ClientPool", "Connection", "call", "classify", "describe", "quiet_telemetry"]

CLIENTS_PER_SLOTS = 8
GENERIC_APP_ERROR = "The upstream Gradio app has raised an exception but has not enabled verbose error reporting"


def quiet_telemetry() -> None:
    """gradio_client sends telemetry unless BOTH the variable and the argument say no (spec §8)."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


# huggingface_hub reads its variable when it is first imported, which may happen before any
# Client is made (by the caller's own code): switch both off as soon as gbatch is imported.
quiet_telemetry()


@dataclass(frozen=True)
class Connection:
    """How to reach the servers: login, Hugging Face token, extra headers, HTTP timeout."""

    auth: tuple[str, str] | None = None
    token: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    http_timeout: float = 120.0

    def secrets(self) -> list[str]:
        """Strings that must never be printed or journaled."""
        found = [self.token or "", *(self.headers.values())]
        if self.auth:
            found.append(self.auth[1])
        return [s for s in found if len(s) >= 3]


class AttemptTimeout(Exception):
    """The per-row timeout elapsed; the job was cancelled on the server."""


class AttemptCancelled(Exception):
    """We cancelled the job (Ctrl-C or halt)."""


ClientFactory = Callable[[str, Connection, int], Any]


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """What httpx builds for `verify=True` (certifi, or SSL_CERT_FILE/SSL_CERT_DIR), built once."""
    return httpx.create_ssl_context()


def make_client(url: str, connection: Connection, workers: int) -> Any:
    """A gradio_client.Client that never downloads on its own and never reports telemetry."""
    quiet_telemetry()
    from gradio_client import Client

    return Client(
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


class ClientPool:
    """Clients for one server, built on first use and rebuilt after their stream drops."""

    def __init__(self, url: str, slots: int, connection: Connection, factory: ClientFactory = make_client) -> None:
        self.url = url
        self.slots = slots
        self.connection = connection
        self._factory = factory
        self._clients: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None

    def _group(self, slot: int) -> int:
        return slot // CLIENTS_PER_SLOTS

    def client(self, slot: int = 0) -> Any:
        group = self._group(slot)
        with self._lock:
            existing = self._clients.get(group)
            if existing is not None:
                return existing
        workers = min(CLIENTS_PER_SLOTS, max(1, self.slots - group * CLIENTS_PER_SLOTS))
        made = self._factory(self.url, self.connection, workers)
        with self._lock:
            if group in self._clients:  # another thread won the race
                _close(made)
                return self._clients[group]
            self._clients[group] = made
            return made

    def discard(self, client: Any) -> None:
        """Forget a client whose event stream dropped; the next call builds a fresh one."""
        with self._lock:
            for group, known in list(self._clients.items()):
                if known is client:
                    del self._clients[group]
                    _close(client)

    def http(self) -> httpx.Client:
        """An HTTP client carrying the same login cookies and headers, for file downloads."""
        client = self.client(0)
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(
                    headers=dict(getattr(client, "headers", {}) or {}),
                    cookies=dict(getattr(client, "cookies", {}) or {}),
                    timeout=self.connection.http_timeout,
                    follow_redirects=True,
                )
            return self._http

    def file_url(self, file: Any) -> str:
        """The URL of a server file, pointed at the address we reach the server by."""
        if isinstance(file, Mapping):
            url = file.get("url")
            if not url:
                return urljoin(self.url.rstrip("/") + "/", "gradio_api/file=" + str(file.get("path", "")))
        else:
            url = str(file)
            if not url.startswith(("http://", "https://")):
                return urljoin(self.url.rstrip("/") + "/", "gradio_api/file=" + url)
        # A server launched on 0.0.0.0 or behind a proxy may announce an address we cannot use.
        ours, theirs = urlsplit(self.url), urlsplit(str(url))
        return urlunsplit((ours.scheme, ours.netloc, theirs.path, theirs.query, theirs.fragment))

    def fetch(self, file: Any) -> bytes:
        url = self.file_url(file)
        try:
            response = self.http().get(url)
        except httpx.TransportError:
            # A kept-alive connection the server closed (after an error response, say) fails
            # once at random; a second request gets a fresh connection.
            response = self.http().get(url)
        response.raise_for_status()
        return response.content

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
            http, self._http = self._http, None
        for client in clients:
            _close(client)
        if http is not None:
            http.close()


def _close(client: Any) -> None:
    with contextlib.suppress(Exception):  # closing is best effort
        client.close()


# The client's event stream dropped, or the server went away: every job of that client
# failed with it (spec §5), and the next attempt needs a fresh session.
SESSION_LOST = (concurrent.futures.CancelledError, httpx.TransportError)


@dataclass
class CallResult:
    value: Any
    logs: list[tuple[str, str]]


def call(pool: ClientPool, api_name: str, kwargs: Mapping[str, Any], attempt: Attempt, poll: float = 0.2) -> CallResult:
    """Submit one job and wait for it, honouring the attempt's deadline and cancellation.

    Runs in a worker thread. Log messages are read from the job's update queue as
    they arrive, because `Job.status()` only keeps the latest one (spec §4).
    """
    from gradio_client import handle_file

    client = pool.client(attempt.slot)
    args = {k: (handle_file(v.source) if isinstance(v, File) else v) for k, v in kwargs.items()}
    logs: list[tuple[str, str]] = []
    last: dict[str, Any] = {}
    try:
        job = client.submit(api_name=api_name, **args)
    except SESSION_LOST:
        pool.discard(client)
        raise
    while True:
        _drain(job, logs, last, attempt)
        if attempt.cancelled.is_set():
            job.cancel()
            raise AttemptCancelled("cancelled")
        left = attempt.time_left()
        if left is not None and left <= 0:
            # result(timeout) does not stop the job; cancel() removes it from the queue
            # or stops a generator between iterations (spec §4).
            job.cancel()
            raise AttemptTimeout("timed out; the job was cancelled on the server")
        try:
            value = job.result(timeout=poll if left is None else max(0.01, min(poll, left)))
        except TimeoutError:
            continue
        except BaseException as exc:
            if isinstance(exc, SESSION_LOST):
                pool.discard(client)
            _drain(job, logs, last, attempt)
            exc.gbatch_logs = logs  # type: ignore[attr-defined]
            raise
        _drain(job, logs, last, attempt)
        return CallResult(value, logs)


def _drain(job: Any, logs: list[tuple[str, str]], last: dict[str, Any], attempt: Attempt) -> None:
    updates = getattr(getattr(job, "communicator", None), "updates", None)
    if updates is None:
        return
    while True:
        try:
            update = updates.get_nowait()
        except (asyncio.QueueEmpty, RuntimeError):
            return
        log = getattr(update, "log", None)
        if log:
            text, level = log
            logs.append((str(level), str(text)))
        code = getattr(update, "code", None)
        if code is None:
            continue
        status = {"code": getattr(code, "value", str(code)), "rank": update.rank, "queue_size": update.queue_size}
        if status != last:
            last.clear()
            last.update(status)
            attempt.report(**status, eta=update.eta)


# Text of app errors that are worth retrying: quota and memory trouble pass with time.
TRANSIENT_APP_ERRORS = ("exceeded your gpu quota", "out of memory", "cuda error", "try again", "retry in")


def classify(exc: BaseException, *, retry_app_errors: bool = False) -> ErrorKind:
    """Sort an attempt's exception into permanent, transient or back-pressure (spec §6).

    An error raised by the app itself is permanent unless its text says it will pass
    (GPU quota, out of memory), or `retry_app_errors` is set.
    """
    from gradio_client.exceptions import AppError, AuthenticationError
    from gradio_client.utils import QueueError, TooManyRequestsError

    if isinstance(exc, QueueError):
        return ErrorKind.BACKPRESSURE
    if isinstance(exc, AttemptCancelled):
        return ErrorKind.CANCELLED
    if isinstance(exc, (TooManyRequestsError, AttemptTimeout, concurrent.futures.CancelledError)):
        return ErrorKind.TRANSIENT
    if isinstance(exc, RowFailed):
        return ErrorKind.TRANSIENT if exc.retryable else ErrorKind.PERMANENT
    if isinstance(exc, AuthenticationError):
        return ErrorKind.PERMANENT
    if isinstance(exc, AppError):
        text = str(exc).lower()
        passing = retry_app_errors or any(p in text for p in TRANSIENT_APP_ERRORS)
        return ErrorKind.TRANSIENT if passing else ErrorKind.PERMANENT
    if isinstance(exc, httpx.HTTPStatusError):
        code = exc.response.status_code
        return ErrorKind.TRANSIENT if code == 429 or code >= 500 else ErrorKind.PERMANENT
    # Network trouble passes; other OSErrors (a full disk, a permission) would fail again.
    if isinstance(exc, (httpx.TransportError, ConnectionError, TimeoutError)):
        return ErrorKind.TRANSIENT
    if isinstance(exc, ValueError) and "Server stopped" in str(exc):
        return ErrorKind.TRANSIENT
    return ErrorKind.PERMANENT


def is_login_failure(exc: BaseException) -> bool:
    """A refused login: 401 raises AuthenticationError, but gradio 6 answers a wrong
    password with HTTP 400, which gradio_client raises as ValueError("Could not login …")."""
    return type(exc).__name__ == "AuthenticationError" or (isinstance(exc, ValueError) and "Could not login" in str(exc))


def unusable(exc: BaseException, where: str) -> ServerError | None:
    """The error for a server that answered but cannot be used, or None if it simply was not reached."""
    if "Unknown protocol" in str(exc):
        return ServerError(f"{where}: this is a gradio 3.x app; gradio_client 2.x cannot drive it")
    if is_login_failure(exc):
        return ServerError(f"{where}: login failed (check --auth / --token)")
    return None


def describe(exc: BaseException) -> str:
    """A one-line message for an attempt's exception, as the user should read it."""
    from gradio_client.exceptions import AppError
    from gradio_client.utils import QueueError

    if isinstance(exc, concurrent.futures.CancelledError):
        return "the connection to the server dropped (server restarted or stopped?)"
    if isinstance(exc, QueueError):
        return "the server's queue is full"
    if isinstance(exc, AppError):
        message = getattr(exc, "message", None) or str(exc)
        if GENERIC_APP_ERROR in message:
            return "the app raised an error (the server hides the details: no show_error=True; see its log)"
        return f"the app raised an error: {message}"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {exc}"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code} from {exc.request.url}"
    if isinstance(exc, (RowFailed, AttemptTimeout, AttemptCancelled)):
        return str(exc)  # our own messages, written for the user: no class name in front
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

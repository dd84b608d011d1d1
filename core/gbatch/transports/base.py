"""The one way gbatch reaches a server: a `Transport` connects, a `ServerSession` talks.

Everything above this seam (runner, executor, tools) sees only the types
defined here and in `gbatch._api`: an endpoint is an `Endpoint`, a returned
file is a `ServerFile`, a failure is a `gbatch.CallError`. What a given Gradio
version puts on the wire (SSE and gradio_client for 4+, REST and websockets
for 3.x) stays inside its transport module.

The shape follows httpx's `BaseTransport`: a small protocol, documented in
full, that tests can replace (`gbatch.transports.fake`).

Threads: `Transport.connect` and `ServerSession.api` run in the main thread;
`ServerSession.submit`, `ServerSession.fetch`, and every `Job` method run in worker
threads, several at once, so a session must be thread-safe.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._api import Endpoint, Param, ServerApi
from .._errors import CallError

if TYPE_CHECKING:
    from .._columns import File

__all__ = [
    "ConnectOptions",
    "Job",
    "TransportRequest",
    "CallResult",
    "ServerFile",
    "ServerSession",
    "Transport",
    "JobEvent",
    "ComponentUpdate",
    "browser_values",
]


@dataclass(frozen=True)
class ConnectOptions:
    """How to reach the servers: login, Hugging Face token, extra headers, HTTP timeout."""

    auth: tuple[str, str] | None = None
    token: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    http_timeout: float = 120.0
    #: refuse to download an output larger than this many bytes (None: no limit)
    max_download: int | None = None

    def secrets(self) -> list[str]:
        """Strings that must never be printed or journaled."""
        found = [self.token or "", *(self.headers.values())]
        if self.auth:
            found.append(self.auth[1])
        return [s for s in found if len(s) >= 3]


@dataclass(frozen=True)
class ServerFile:
    """A file an endpoint returned, still on the server.

    :param name: its base name as the server gives it (never a local path).
    :param url: where to download it, pointed at the address we reach the server by.
    :param size: bytes, when the server says.
    :param mime: MIME type, when the server says.
    :param is_stream: an HLS playlist of a streaming output, not the media itself.
    :param caption: a Gallery item's caption.
    :param path: the server's own path of the file (what a later request would send back).
    """

    name: str
    url: str
    size: int | None = None
    mime: str | None = None
    is_stream: bool = False
    caption: str | None = None
    path: str = ""

    @property
    def suffix(self) -> str:
        """The lower-case extension of `name` (with its dot), or ""."""
        base = self.name.rsplit("/", 1)[-1]
        stem, dot, ext = base.rpartition(".")
        return f".{ext.lower()}" if dot and stem and 0 < len(ext) <= 8 else ""


@dataclass(frozen=True)
class ComponentUpdate:
    """A component update an endpoint returned (`gr.update(...)`): its new value and other props.

    Fooocus returns its gallery this way; So-VITS-SVC returns the speaker list as
    the `choices` of a Dropdown update.
    """

    value: Any = None
    props: Mapping[str, Any] = field(default_factory=dict)
    has_value: bool = False


@dataclass(frozen=True)
class TransportRequest:
    """One call of one endpoint.

    :param endpoint: the endpoint, as the session's `api` describes it.
    :param values: parameter name -> value. `gbatch.File` values (and lists of them)
        are uploaded as the component's browser would; other values go as JSON.
        A parameter left out takes the endpoint's default.
    :param session: a key shared by the calls that must share server state
        (`gr.State`), e.g. the steps of one row; None for a fresh one.
    """

    endpoint: Endpoint
    values: Mapping[str, Any]
    session: str | None = None


@dataclass(frozen=True)
class JobEvent:
    """Something the server said about a running job.

    :param code: "queued", "started", "progress", "generating", "log" or "finished".
    :param rank: 0-based position in the server queue, when queued.
    :param progress: 0..1 from `gr.Progress`, when reported.
    :param log: (level, text) of a `gr.Info` / `gr.Warning`.
    """

    code: str
    rank: int | None = None
    queue_size: int | None = None
    eta: float | None = None
    progress: float | None = None
    log: tuple[str, str] | None = None
    #: "generating": what a generator yielded so far (converted like a `CallResult`'s outputs)
    outputs: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class CallResult:
    """What a finished request returned: one value per output of the endpoint.

    Files are `ServerFile`s, file lists (galleries) are lists of them, component
    updates are `ComponentUpdate`; everything else is as the JSON had it.
    """

    outputs: tuple[Any, ...]
    endpoint: Endpoint
    logs: tuple[tuple[str, str], ...] = ()

    @property
    def value(self) -> Any:
        """The only output of a one-output endpoint; the tuple of them otherwise."""
        return self.outputs[0] if len(self.outputs) == 1 else self.outputs

    def named(self) -> dict[str, Any]:
        """Outputs by the endpoint's return names (label, or output_N)."""
        names = [r.name for r in self.endpoint.returns]
        return {(names[i] if i < len(names) else f"output_{i}"): v for i, v in enumerate(self.outputs)}


class Job(ABC):
    """A submitted request. Its methods are called from the worker thread that submitted it."""

    @abstractmethod
    def result(self, timeout: float) -> CallResult:
        """Wait up to `timeout` seconds. Returns the result, raises `TimeoutError` while
        the job is still running, and raises a `gbatch.CallError` if it failed."""

    @abstractmethod
    def cancel(self) -> None:
        """Cancel the job on the server (dequeue it, or stop it where the server can).
        Best effort; must not raise."""

    @abstractmethod
    def updates(self) -> list[JobEvent]:
        """Every update received since the last call, oldest first (never blocks)."""

    def wait(self, timeout: float) -> bool:
        """Block until the job ends or has something new for `updates`, at most `timeout`
        seconds; True if this job can wait so (then `result(0)` tells whether it ended).
        The default cannot, and returns False at once: the caller waits in `result`.
        Lets the caller hear "queued" and "started" without a polling delay."""
        return False


class ServerSession(ABC):
    """A connection to one server: its API, and requests to it.

    A session owns whatever it needs (HTTP clients, gradio_client Clients, session
    hashes) and rebuilds it after a `ConnectionLost`.
    """

    #: the server's base URL, ending in "/"
    url: str
    #: the server's API, read when the session connected
    api: ServerApi
    #: how many rows the runner may send at once; set before the first `submit`, so a
    #: transport sizes its pools by it lazily
    slots: int = 1

    @abstractmethod
    def submit(self, request: TransportRequest, slot: int = 0) -> Job:
        """Send one request (uploading its files first). `slot` (0..slots-1) is which of the
        backend's concurrent rows sends it. Raises `gbatch.CallError` if it cannot be sent."""

    @abstractmethod
    def fetch(self, file: ServerFile | str) -> bytes:
        """The bytes of a server file (or of a URL on this server), with the run's login.
        Raises `ConnectionLost` on network trouble and `CallError` on a refused download."""

    @abstractmethod
    def close(self) -> None:
        """Release everything; the session is not used again."""

    def concurrency(self, endpoint: Endpoint) -> int | None:
        """How many requests to `endpoint` the server runs at once, if it says; None if unknown."""
        return None

    def upload(self, file: File) -> str:
        """Upload a local file as the app's own file inputs do (`POST /upload`) and return its
        path on the server, for a textbox that takes a server path. Worker thread."""
        raise CallError(f"{self.url}: this transport cannot upload {file} on its own; give a path on the server")

    def reset(self) -> None:  # noqa: B027 - optional
        """Forget server-side state (sessions, cookies) after the server restarted."""


class Transport(ABC):
    """Connects to servers of the Gradio versions it speaks."""

    #: a short name for messages ("gradio-client", "gradio3", "fake")
    name: str

    @abstractmethod
    def connect(self, url: str, connection: ConnectOptions, slots: int, config: Mapping[str, Any] | None = None) -> ServerSession:
        """Log in if needed, read the API, and return a session for `slots` concurrent rows.

        :param config: the server's `/config`, when the caller already read it.

        Raises `gbatch.ServerError` for a server that answers but cannot be used (login
        refused, unsupported), and `ConnectionLost` when it cannot be reached.
        Runs in the main thread.
        """


# -- values as a browser sends them -------------------------------------------------


def browser_values(endpoint: Endpoint | None, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with numbers as the web page would send them.

    JavaScript has one number type and JSON.stringify writes 42.0 as `42`, so an
    integral float goes as an integer; a Number's `precision` rounds first (and 0
    makes it an integer). Apps pass these straight to torch or numpy, which refuse
    a float seed (InstantID's `torch.manual_seed`, CosyVoice's `np.random.seed`).
    """
    params = endpoint.params_by_name if endpoint is not None else {}
    return {name: _number(params.get(name), value) for name, value in values.items()}


def _number(param: Param | None, value: Any) -> Any:
    if type(value) is str:
        return value  # most values: skip the checks below
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, list):
            return [_number(None, v) for v in value]
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return value
        if param is not None and param.precision is not None:
            value = round(value, param.precision)
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
    return value

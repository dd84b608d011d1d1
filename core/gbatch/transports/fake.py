"""An in-memory transport, for testing runners, plans and resume logic without servers.

Like httpx's MockTransport: endpoints are plain Python functions, described by
their signatures, and every request is recorded::

    def shout(text: str, times: int = 1) -> str:
        return (text.upper() + "!") * times

    server = FakeServer({"/shout": shout})
    gbatch.run_batch(tool, "lines.csv", BatchOptions(servers=[server.url]), transport=FakeTransport([server]))
    assert server.calls[0].values == {"text": "hi", "times": 1}

A function may raise `gbatch.AppError` (the app failed the row), `QueueFull` or
`ConnectionLost`, and may return files made with `server.file(name, data)`.
"""

from __future__ import annotations

import inspect
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .._api import Endpoint, Param, ServerApi
from .._columns import File
from .._errors import CallError, ConnectionLost
from .base import CallResult, ConnectOptions, Job, JobEvent, ServerFile, ServerSession, Transport, TransportRequest

__all__ = ["FakeServer", "FakeTransport", "Received"]

_SCHEMAS: dict[Any, tuple[str, dict[str, Any], int | None]] = {
    str: ("textbox", {"type": "string"}, None),
    int: ("number", {"type": "number"}, 0),
    float: ("number", {"type": "number"}, None),
    bool: ("checkbox", {"type": "boolean"}, None),
    File: ("file", {}, None),
    list: ("json", {"type": "array"}, None),
    dict: ("json", {"type": "object"}, None),
}
_ANNOTATIONS = {"str": str, "int": int, "float": float, "bool": bool, "File": File, "list": list, "dict": dict}


@dataclass(frozen=True)
class Received:
    """One request a fake server received."""

    endpoint: str
    values: dict[str, Any]
    session: str | None


def _param(parameter: inspect.Parameter) -> Param:
    annotation = parameter.annotation
    if isinstance(annotation, str):
        annotation = _ANNOTATIONS.get(annotation.replace(" | None", "").strip(), str)
    component, schema, precision = _SCHEMAS.get(annotation, ("textbox", {}, None))
    has_default = parameter.default is not inspect.Parameter.empty
    return Param(
        name=parameter.name,
        label=parameter.name.replace("_", " ").title(),
        component=component,
        python_type=getattr(annotation, "__name__", "str"),
        schema=schema,
        has_default=has_default,
        default=parameter.default if has_default else None,
        precision=precision,
    )


def endpoint_of(name: str, func: Callable[..., Any], fn_index: int) -> Endpoint:
    """An Endpoint described by a function's signature (its parameters and one output)."""
    parameters = tuple(_param(p) for p in inspect.signature(func).parameters.values())
    output = Param(name="output", label="Output", component="textbox", python_type="str", schema={"type": "string"})
    return Endpoint(name=name, parameters=parameters, returns=(output,), fn_index=fn_index)


class FakeServer:
    """A server in memory: endpoints are functions; requests are recorded in `calls`."""

    _ports = itertools.count(7000)

    def __init__(self, endpoints: Mapping[str, Callable[..., Any]], *, url: str | None = None, version: str = "6.0.0", title: str = "fake", delay: float = 0.0) -> None:
        self.url = url or f"http://fake-{next(self._ports)}.invalid/"
        self.functions = dict(endpoints)
        self.api = ServerApi(
            url=self.url,
            version=version,
            endpoints={name: endpoint_of(name, func, i) for i, (name, func) in enumerate(self.functions.items())},
            title=title,
        )
        self.delay = delay
        self.calls: list[Received] = []
        self.files: dict[str, bytes] = {}
        self.down = False
        self._lock = threading.Lock()

    def file(self, name: str, data: bytes, mime: str | None = None) -> ServerFile:
        """A file the server holds, to return from an endpoint function."""
        with self._lock:
            path = f"/tmp/fake/{len(self.files)}/{name}"
            self.files[path] = data
        return ServerFile(name=name, url=self.url + "file=" + path, size=len(data), mime=mime, path=path)

    def handle(self, request: TransportRequest) -> CallResult:
        if self.down:
            raise ConnectionLost(f"cannot connect: {self.url} is down")
        with self._lock:
            self.calls.append(Received(request.endpoint.key, dict(request.values), request.session))
        if self.delay:
            time.sleep(self.delay)
        func = self.functions[request.endpoint.key]
        value = func(**request.values)
        outputs = value if isinstance(value, tuple) else (value,)
        return CallResult(outputs, request.endpoint)


class _DoneJob(Job):
    def __init__(self, outcome: CallResult | CallError) -> None:
        self._outcome = outcome

    def result(self, timeout: float) -> CallResult:
        if isinstance(self._outcome, CallError):
            raise self._outcome
        return self._outcome

    def cancel(self) -> None:
        pass

    def updates(self) -> list[JobEvent]:
        return []


class _FakeSession(ServerSession):
    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.url = server.url
        self.api = server.api

    def submit(self, request: TransportRequest, slot: int = 0) -> Job:
        try:
            return _DoneJob(self.server.handle(request))
        except CallError as exc:
            return _DoneJob(exc)

    def fetch(self, file: ServerFile | str) -> bytes:
        path = file.path if isinstance(file, ServerFile) else str(file).split("file=", 1)[-1]
        try:
            return self.server.files[path]
        except KeyError:
            raise CallError(f"HTTP 404 downloading {path}") from None

    def close(self) -> None:
        pass


class FakeTransport(Transport):
    """Serves `FakeServer`s by URL; any other URL cannot be reached."""

    name = "fake"

    def __init__(self, servers: Iterable[FakeServer]) -> None:
        self.servers = {s.url.rstrip("/") + "/": s for s in servers}

    def connect(self, url: str, connection: ConnectOptions, slots: int, config: Mapping[str, Any] | None = None) -> ServerSession:
        server = self.servers.get(url.rstrip("/") + "/")
        if server is None or server.down:
            raise ConnectionLost(f"cannot connect: {url}")
        return _FakeSession(server)

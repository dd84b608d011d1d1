"""The servers of a batch: parsing `--server`, connecting each through its transport,
and the `Server` handle a plan's setup step uses. Secrets never leave this room
unredacted.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._api import Endpoint, ServerApi
from ._errors import TIMEOUT_ERRORS, CallError, ConnectionLost, NoServerError, ServerError, UsageError
from ._executor import ServerSlots
from .transports.base import (
    CallResult,
    ConnectOptions,
    ServerFile,
    ServerSession,
    Transport,
    TransportRequest,
    browser_values,
)

__all__ = ["Server", "connect_servers", "parse_server", "redact", "redact_url"]

# `local:URL` is each cluster worker's own server (only with --cluster).
_SERVER = re.compile(r"^(?P<url>(?:local:)?https?://[^\s=]+?)(?:=(?P<slots>\d+))?$")


def parse_server(text: str, default_slots: int) -> ServerSlots:
    """`URL` or `URL=N` (N concurrent rows on that server). `default_slots` 0 means
    "not given": the batch then chooses from the server and the tool."""
    match = _SERVER.match(text.strip())
    if not match:
        raise UsageError(f"--server {text!r}: expected http(s)://host:port, optionally followed by =N (slots)")
    slots = int(match["slots"]) if match["slots"] else default_slots
    if slots < 1 and not (match["slots"] is None and default_slots == 0):
        raise UsageError(f"--server {text!r}: the slot count must be at least 1")
    url = match["url"].rstrip("/") + "/"
    return ServerSlots(url=url, slots=slots, label=redact_url(url))


def redact_url(url: str) -> str:
    # Up to the LAST '@' before a '/': httpx reads "http://u:p@ss@h/" as password "p@ss".
    return re.sub(r"//[^/]+@", "//***@", url)


def redact(text: str, secrets: Sequence[str]) -> str:
    # Longest first: replacing "abc" before "abcdef" would leave "***def" showing.
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return redact_url(text)


class Server:
    """One server of a batch, as a plan's `setup` sees it: its API, and calls to it.

    Calls made here are outside the batch's rows (loading a model, say); they block
    the calling thread until the server answers or `timeout` seconds pass.
    """

    def __init__(self, backend: ServerSlots, session: ServerSession, connection: ConnectOptions) -> None:
        self.backend = backend
        self.session = session
        self.url = backend.url
        self.label = str(backend)
        self._secrets = connection.secrets()
        self._timeout = connection.http_timeout
        #: the plan's setup must run (again) before the next row: at start, after a restart
        self.needs_setup = True
        self.setup_lock = threading.Lock()
        #: free-form facts a plan's setup found (e.g. the speakers of the loaded model)
        self.facts: dict[str, Any] = {}
        #: the server state (a `ServerState.key`) the plan's setup left the server in, when it
        #: knows (a model it loaded): rows needing it then run without loading it again
        self.state: str | None = None

    @property
    def api(self) -> ServerApi:
        return self.session.api

    def endpoint(self, ref: str | int) -> Endpoint:
        found = self.api.endpoint(ref)
        if found is None:
            raise ServerError(f"{self.label} has no endpoint {ref!r}")
        return found

    def call(self, ref: str | int | Endpoint, values: Mapping[str, Any], *, session: str | None = None, timeout: float | None = None) -> CallResult:
        """Call an endpoint and wait for its result. Raises `gbatch.CallError`."""
        endpoint = ref if isinstance(ref, Endpoint) else self.endpoint(ref)
        job = self.session.submit(TransportRequest(endpoint, browser_values(endpoint, values), session))
        deadline = time.monotonic() + (timeout or self._timeout)
        while True:
            try:
                return job.result(timeout=0.5)
            except TIMEOUT_ERRORS:
                if time.monotonic() > deadline:
                    job.cancel()
                    raise ConnectionLost(f"{self.label}: no answer within {timeout or self._timeout:.0f}s") from None

    def fetch(self, file: ServerFile | str) -> bytes:
        return self.session.fetch(file)

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def close(self) -> None:
        self.session.close()


@dataclass
class Connected:
    servers: list[Server]
    unreachable: list[str]

    def close(self) -> None:
        for server in self.servers:
            server.close()


def connect_servers(backends: Sequence[ServerSlots], connection: ConnectOptions, transport: Transport) -> Connected:
    """Connect every backend; unreachable ones are listed, a refused one stops the batch.

    Raises `NoServerError` when none can be reached, `ServerError` when one answers but
    cannot be used (every session opened so far is closed first).
    """
    servers: list[Server] = []
    errors: list[str] = []
    secrets = connection.secrets()
    for backend in backends:
        try:
            session = transport.connect(backend.url, connection, max(1, backend.slots))
        except ServerError as exc:
            for server in servers:
                server.close()
            raise ServerError(redact(str(exc), secrets)) from None
        except CallError as exc:
            errors.append(f"{backend}: {redact(str(exc), secrets)}")
            continue
        servers.append(Server(backend, session, connection))
    if not servers:
        raise NoServerError("No server could be reached:\n  " + "\n  ".join(errors))
    return Connected(servers, errors)

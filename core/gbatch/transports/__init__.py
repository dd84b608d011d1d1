"""How gbatch talks to servers: the `Transport` protocol and the transports that implement it.

`connect(url, connection, slots)` reads the server's `/config` and hands it to the
transport that speaks its Gradio version: `GradioClientTransport` (gradio_client,
SSE) for gradio 4 and later, `Gradio3Transport` (REST and the websocket queue, over
httpx and websockets) for gradio 3. Tests pass their own (`fake.FakeTransport`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from .._errors import CallError, ConnectionLost, ServerError
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
    browser_values,
)

__all__ = [
    "AutoTransport",
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
    "read_config",
]


def read_config(url: str, connection: ConnectOptions) -> tuple[dict[str, Any], dict[str, str]]:
    """The server's `/config` (logging in first when it asks for it) and the login cookies.

    Raises `ConnectionLost` when the server cannot be reached, `ServerError` when it
    refuses the login or is not a Gradio app.
    """
    import httpx  # imported when a server is first reached, not for `gbatch --help`

    from .http import ServerHttp

    headers = dict(connection.headers)
    if connection.token:
        headers["x-hf-authorization"] = f"Bearer {connection.token}"
    base = url.rstrip("/") + "/"
    try:
        http = ServerHttp(base, headers, min(connection.http_timeout, 30.0))  # secrets to this origin only
        with contextlib.closing(http):
            response = http.get(base + "config")
            if response.status_code in (401, 403) and connection.auth:
                user, password = connection.auth
                login = http.post(base + "login", data={"username": user, "password": password})
                if login.status_code >= 400:
                    raise ServerError(f"{url}: login failed (check --auth / --token)")
                response = http.get(base + "config")
            if response.status_code in (401, 403):
                raise ServerError(f"{url}: login failed (check --auth / --token): the server wants a login")
            if response.status_code == 429 or response.status_code >= 500:
                raise ConnectionLost(f"HTTP {response.status_code} from {base}config", status=response.status_code)
            if response.status_code >= 400:
                raise ServerError(f"{url}: HTTP {response.status_code} for /config; is this a Gradio app?")
            try:
                config = response.json()
            except ValueError:
                raise ServerError(f"{url}: /config is not JSON; is this a Gradio app?") from None
            if not isinstance(config, dict) or "components" not in config:
                raise ServerError(f"{url}: /config does not describe a Gradio app")
            return config, http.cookies
    except CallError as exc:  # a redirect loop
        raise ServerError(f"{url}: {exc.message}") from None
    except httpx.ConnectError as exc:
        raise ConnectionLost(f"cannot connect: {exc}") from None
    except httpx.TransportError as exc:
        raise ConnectionLost(f"{type(exc).__name__}: {exc}") from None


def gradio_major(config: Mapping[str, Any]) -> int:
    head = str(config.get("version", "")).split(".", 1)[0]
    return int(head) if head.isdigit() else 0


class AutoTransport(Transport):
    """Picks, per server, the transport that speaks the Gradio version its `/config` names."""

    name = "auto"

    def __init__(self, modern: Transport | None = None, legacy: Transport | None = None) -> None:
        self._modern = modern
        self._legacy = legacy

    def for_version(self, major: int) -> Transport:
        if major and major < 4:
            if self._legacy is None:
                from .gradio3 import Gradio3Transport  # websockets is imported only when a gradio 3 app is met

                self._legacy = Gradio3Transport()
            return self._legacy
        if self._modern is None:
            from .gradio_client import GradioClientTransport  # gradio_client is slow to import: not for --help

            self._modern = GradioClientTransport()
        return self._modern

    def connect(self, url: str, connection: ConnectOptions, slots: int, config: Mapping[str, Any] | None = None) -> ServerSession:
        if config is None:
            config, _ = read_config(url, connection)
        return self.for_version(gradio_major(config)).connect(url, connection, slots, config)

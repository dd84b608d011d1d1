"""HTTP to one Gradio server, shared by the transports: where its secrets may go, and bounded downloads.

The one policy for every transport: the secrets a server gets (the extra `--header`s, the
`--token` header and the login cookies) go to that server's own origin (scheme, host and
port) and nowhere else. Redirects are followed here, one hop at a time, so a redirect to
another origin, or a file URL on another host, is fetched without them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.cookiejar import CookieJar
from typing import Any

import httpx

from .._errors import CallError, ConnectionLost

__all__ = ["ServerHttp", "download", "same_origin"]

MAX_REDIRECTS = 10
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _origin(url: httpx.URL | str) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    scheme = parsed.scheme.lower()
    return scheme, parsed.host.lower(), parsed.port or _DEFAULT_PORTS.get(scheme)


def same_origin(url: httpx.URL | str, other: httpx.URL | str) -> bool:
    """Whether two URLs share scheme, host and port (a second port is another origin)."""
    return _origin(url) == _origin(other)


class _KeepNone(CookieJar):
    """A cookie jar that stores nothing: httpx's own jar would send a login cookie to another
    port of the same host (cookies ignore ports), so `ServerHttp` keeps them itself."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


class ServerHttp:
    """An httpx client for one server that gives its secrets only to the server's origin.

    Thread-safe: downloads run in worker threads. `cookies` starts with a login a library
    client made; logins made through this client (`/login` answers) are added.
    """

    def __init__(self, server_url: str, headers: Mapping[str, str], timeout: float | httpx.Timeout, cookies: Mapping[str, str] | None = None) -> None:
        self.server_url = server_url
        self._headers = dict(headers)
        self._cookies = dict(cookies or {})
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, cookies=_KeepNone())

    @property
    def cookies(self) -> dict[str, str]:
        with self._lock:
            return dict(self._cookies)

    def cookie_header(self) -> str:
        """The login cookies as a `Cookie` header value (for a websocket to the server)."""
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def clear_cookies(self) -> None:
        with self._lock:
            self._cookies.clear()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send a request (redirects followed) and read its answer."""
        with self.stream(method, url, **kwargs) as response:
            response.read()
            return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    @contextmanager
    def stream(self, method: str, url: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """Send a request, follow its redirects hop by hop, and yield the last answer unread.
        Raises httpx.TransportError on network trouble, `CallError` after too many redirects."""
        response = self._send(method, url, kwargs)
        try:
            yield response
        finally:
            response.close()

    def _send(self, method: str, url: str, kwargs: dict[str, Any]) -> httpx.Response:
        for _ in range(MAX_REDIRECTS + 1):
            request = self._client.build_request(method, url, **kwargs)
            if same_origin(request.url, self.server_url):
                self._add_secrets(request)
            response = self._client.send(request, stream=True)
            if same_origin(request.url, self.server_url):
                self._keep_cookies(response)
            following = response.next_request
            if following is None:
                return response
            response.close()
            if following.method != method:  # 303, or 301/302 after a POST: the body is dropped
                method, kwargs = following.method, {k: v for k, v in kwargs.items() if k == "timeout"}
            url = str(following.url)
        raise CallError(f"more than {MAX_REDIRECTS} redirects, the last to {url}")

    def _add_secrets(self, request: httpx.Request) -> None:
        for name, value in self._headers.items():
            request.headers.setdefault(name, value)
        cookies = self.cookie_header()
        if cookies:
            request.headers["Cookie"] = cookies

    def _keep_cookies(self, response: httpx.Response) -> None:
        fresh = {cookie.name: cookie.value for cookie in response.cookies.jar if cookie.value is not None}
        if fresh:
            with self._lock:
                self._cookies.update(fresh)

    def close(self) -> None:
        self._client.close()


def download(http: ServerHttp, url: str, max_bytes: int | None) -> bytes:
    """GET `url` into memory, refusing more than `max_bytes` (checked while reading, not
    only from Content-Length, which a server may leave out or get wrong).

    Raises httpx.TransportError on network trouble (the caller may retry), `ConnectionLost`
    for 429/5xx and `CallError` for any other refusal.
    """
    with http.stream("GET", url) as response:
        if response.status_code == 429 or response.status_code >= 500:
            raise ConnectionLost(f"HTTP {response.status_code} downloading {url}", status=response.status_code)
        if response.status_code >= 400:
            raise CallError(f"HTTP {response.status_code} downloading {url}")
        declared = response.headers.get("content-length")
        if max_bytes is not None and declared and declared.isdigit() and int(declared) > max_bytes:
            raise CallError(f"{url} is {int(declared) / 1e6:.1f} MB, over the --max-download-mb limit")
        chunks = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise CallError(f"{url} is over the --max-download-mb limit ({max_bytes / 1e6:.0f} MB)")
            chunks.append(chunk)
        return b"".join(chunks)

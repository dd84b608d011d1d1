"""Bounded downloads over httpx, shared by the transports."""

from __future__ import annotations

import httpx

from .._errors import CallError, ConnectionLost

__all__ = ["download"]


def download(client: httpx.Client, url: str, max_bytes: int | None) -> bytes:
    """GET `url` into memory, refusing more than `max_bytes` (checked while reading, not
    only from Content-Length, which a server may leave out or get wrong).

    Raises httpx.TransportError on network trouble (the caller may retry), `ConnectionLost`
    for 429/5xx and `CallError` for any other refusal.
    """
    with client.stream("GET", url) as response:
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

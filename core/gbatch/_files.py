"""Getting server files into the output folder, including streamed audio.

A streaming `gr.Audio` output arrives as an HLS playlist, not audio
(gradio-client-notes §7, cosyvoice-webui §5): ask the server for the joined
WAV (`playlist-file`), and if it cannot make one (no ffmpeg/ffprobe there),
fetch the segments and join them as an ADTS AAC stream.
"""

from __future__ import annotations

import mimetypes
import posixpath
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from ._errors import RowFailed
from ._tool import Outputs

__all__ = ["StreamedFile", "fetch_stream", "is_file_value", "save_file", "suffix_of"]


def is_file_value(value: Any) -> bool:
    """A FileData dict as gradio_client returns it with download_files=False."""
    return isinstance(value, Mapping) and "path" in value and ("meta" in value or "url" in value or "orig_name" in value)


def suffix_of(file: Mapping[str, Any], fallback: str = ".bin") -> str:
    for candidate in (file.get("orig_name"), file.get("path"), urlsplit(str(file.get("url") or "")).path):
        if candidate:
            suffix = PurePosixPath(str(candidate)).suffix
            if suffix and len(suffix) <= 8:
                return suffix.lower()
    mime = file.get("mime_type")
    guessed = mimetypes.guess_extension(str(mime)) if mime else None
    return guessed or fallback


class StreamedFile:
    """The audio behind a streaming output: bytes plus the suffix they are in."""

    def __init__(self, data: bytes, suffix: str, via: str) -> None:
        self.data = data
        self.suffix = suffix
        self.via = via  # "playlist-file" or "segments"


def fetch_stream(out: Outputs, file: Mapping[str, Any]) -> StreamedFile:
    """Fetch a streamed output as one file: the server's joined WAV, else the joined segments."""
    playlist_url = out.url(file)
    if not playlist_url.endswith(".m3u8"):
        raise RowFailed(f"expected a stream playlist, got {playlist_url}")
    joined_url = playlist_url[: -len("playlist.m3u8")] + "playlist-file" if playlist_url.endswith("playlist.m3u8") else None
    if joined_url:
        try:
            return StreamedFile(out.fetch(joined_url), ".wav", "playlist-file")
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code < 500 and exc.response.status_code != 404:
                raise
    try:
        playlist = out.fetch(playlist_url).decode("utf-8", "replace")
    except httpx.HTTPError as exc:
        raise RowFailed(f"could not fetch the stream playlist: {exc}", retryable=True) from None
    base = posixpath.dirname(urlsplit(playlist_url).path) + "/"
    segments = [line.strip() for line in playlist.splitlines() if line.strip() and not line.startswith("#")]
    if not segments:
        raise RowFailed("the stream playlist lists no segments", retryable=True)
    parts = [out.fetch(urljoin(playlist_url, urljoin(base, segment))) for segment in segments]
    suffix = PurePosixPath(segments[0]).suffix or ".aac"
    return StreamedFile(b"".join(parts), suffix, "segments")


def save_file(out: Outputs, file: Mapping[str, Any], label: str | None = None) -> None:
    """Copy one server file (streams included) to the row's output name."""
    if file.get("is_stream"):
        streamed = fetch_stream(out, file)
        out.write(streamed.data, streamed.suffix, label)
        return
    try:
        data = out.fetch(file)
    except httpx.HTTPError as exc:
        raise RowFailed(f"could not download the output file: {exc}", retryable=True) from None
    out.write(data, suffix_of(file), label)

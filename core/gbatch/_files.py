"""Getting server files into the output folder, including streamed audio.

A streaming `gr.Audio` output arrives as an HLS playlist, not audio: ask the
server for the joined WAV (`playlist-file`), and if it cannot make one (no
ffmpeg/ffprobe there), fetch the segments and join them as an ADTS AAC stream.
"""

from __future__ import annotations

import mimetypes
import posixpath
from typing import Any
from urllib.parse import urljoin, urlsplit

from ._errors import CallError, ConnectionLost, RowFailed
from ._tool import Outputs
from .transports.base import ServerFile

__all__ = ["StreamedFile", "fetch_stream", "is_file_value", "save_file", "suffix_of"]


def is_file_value(value: Any) -> bool:
    """Whether an output value is a server file."""
    return isinstance(value, ServerFile)


def suffix_of(file: ServerFile, fallback: str = ".bin") -> str:
    """The file's extension, from its name or URL, else from its MIME type."""
    for candidate in (file.name, file.path, urlsplit(file.url).path if not file.url.startswith("data:") else ""):
        if candidate:
            suffix = posixpath.splitext(str(candidate))[1]
            if suffix and len(suffix) <= 8:
                return suffix.lower()
    guessed = mimetypes.guess_extension(file.mime) if file.mime else None
    return guessed or fallback


class StreamedFile:
    """The audio behind a streaming output: bytes plus the suffix they are in."""

    def __init__(self, data: bytes, suffix: str, via: str) -> None:
        self.data = data
        self.suffix = suffix
        self.via = via  # "playlist-file" or "segments"


def fetch_stream(out: Outputs, file: ServerFile) -> StreamedFile:
    """Fetch a streamed output as one file: the server's joined WAV, else the joined segments."""
    playlist_url = file.url
    if not urlsplit(playlist_url).path.endswith(".m3u8"):
        raise RowFailed(f"expected a stream playlist, got {playlist_url}")
    if playlist_url.endswith("playlist.m3u8"):
        try:
            return StreamedFile(out.fetch(playlist_url[: -len("playlist.m3u8")] + "playlist-file"), ".wav", "playlist-file")
        except ConnectionLost as exc:
            if exc.status is None:
                raise
        except CallError as exc:
            if "HTTP 404" not in str(exc):
                raise
    try:
        playlist = out.fetch(playlist_url).decode("utf-8", "replace")
    except CallError as exc:
        raise RowFailed(f"could not fetch the stream playlist: {exc}", retryable=True) from None
    base = posixpath.dirname(urlsplit(playlist_url).path) + "/"
    segments = [line.strip() for line in playlist.splitlines() if line.strip() and not line.startswith("#")]
    if not segments:
        raise RowFailed("the stream playlist lists no segments", retryable=True)
    parts = [out.fetch(urljoin(playlist_url, urljoin(base, segment))) for segment in segments]
    suffix = posixpath.splitext(segments[0])[1] or ".aac"
    return StreamedFile(b"".join(parts), suffix, "segments")


def save_file(out: Outputs, file: ServerFile, label: str | None = None) -> None:
    """Copy one server file (streams included) to the row's output name."""
    if file.is_stream:
        streamed = fetch_stream(out, file)
        out.write(streamed.data, streamed.suffix, label)
        return
    try:
        data = out.fetch(file)
    except ConnectionLost as exc:
        raise RowFailed(f"could not download the output file: {exc}", retryable=True) from None
    out.write(data, suffix_of(file), label)

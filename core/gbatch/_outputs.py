"""Output file names and atomic writes.

Every row gets a base name rendered from a template over its columns
(`{id}_{speaker}`), made safe for any filesystem (`_resume.assign_names` then makes
it unique, and keeps it stable across runs).
Files are written to a temporary name in the same folder and renamed, so a
crash or Ctrl-C never leaves a half-written output.
"""

from __future__ import annotations

import os
import re
import string
import tempfile
import threading
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["NameTemplate", "atomic_write", "sanitize"]

MAX_NAME = 120  # leaves room for a suffix within the usual 255-byte limit, even in UTF-8 CJK
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')
_DOTS = re.compile(r"\.{2,}")
_SPACES = re.compile(r"\s+")
# DOS device names, as CPython's ntpath.isreserved lists them (superscript digits included).
_PORTS = "123456789\u00b9\u00b2\u00b3"
_RESERVED = {"con", "prn", "aux", "nul", "conin$", "conout$", *(f"com{i}" for i in _PORTS), *(f"lpt{i}" for i in _PORTS)}


def sanitize(name: str) -> str:
    """A file name from any text: no separators, no `..`, no control characters, bounded length."""
    name = unicodedata.normalize("NFC", name)
    name = _UNSAFE.sub("_", name).strip(" .")
    name = _DOTS.sub(".", name)
    name = _SPACES.sub(" ", name)
    encoded = name.encode("utf-8")[:MAX_NAME]
    name = encoded.decode("utf-8", "ignore").rstrip(" .")
    # Checked last, so folding and trimming cannot turn a name back into a device name;
    # Windows reserves one with any extension too ("nul.txt", "con .tar.gz" are devices).
    if not name or name.split(".", 1)[0].rstrip(" ").casefold() in _RESERVED:
        # the "_" must not push the name past MAX_NAME
        name = "_" + name.encode("utf-8")[: MAX_NAME - 1].decode("utf-8", "ignore").rstrip(" .")
    return name


class NameTemplate:
    """`{column}` placeholders over a row's values (and `{id}`, `{row}`)."""

    def __init__(self, template: str) -> None:
        self.template = template
        try:
            # Parsed once: a batch renders the template for every row.
            self._parts = [(literal, field) for literal, field, _, _ in string.Formatter().parse(template)]
        except ValueError as exc:
            raise ValueError(f"bad --name template {template!r}: {exc}") from None
        self.fields = [f for _, f in self._parts if f is not None]
        for field_name in self.fields:
            if not field_name.isidentifier() and not field_name.replace("-", "_").isidentifier():
                raise ValueError(f"bad --name template {template!r}: use plain column names, like {{id}}")

    def missing(self, available: Iterable[str]) -> list[str]:
        names = set(available)
        return [f for f in self.fields if f not in names]

    def render(self, values: Mapping[str, Any]) -> str:
        out = []
        for literal, field_name in self._parts:
            out.append(literal)
            if field_name is not None:
                value = values.get(field_name)
                out.append("" if value is None else str(value))
        return sanitize("".join(out))


_dir_lock = threading.Lock()
# mkstemp makes 0600 files; outputs should get the user's usual permissions.
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder, fsynced, then renamed.

    A failure (a full disk) leaves no temporary file behind and raises the OSError with
    `path` as its file name, so the message says which output could not be written.
    """
    tmp: str | None = None
    try:
        with _dir_lock:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".gbatch-", suffix=".part", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename in (None, tmp):
            exc.filename = str(path)  # "[Errno 28] No space left on device: '…/row1.wav'"
        raise
    return path


def clean_partials(folder: Path) -> None:
    """Remove temporary files a killed run may have left behind."""
    if folder.is_dir():
        for leftover in folder.glob(".gbatch-*.part"):
            leftover.unlink(missing_ok=True)

"""Typed task-file columns, and turning a cell into the value an endpoint wants.

A tool declares its columns; every cell of every row goes through
`Column.convert` before anything is sent, and a failure becomes a
`file:row:column: message` problem.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Column", "File", "normalize_key", "seed_column"]

KINDS = ("text", "int", "float", "bool", "json", "list", "file", "files", "any")

_TRUE = {"true", "yes", "y", "1", "on", "是"}
_FALSE = {"false", "no", "n", "0", "off", "否"}


@functools.lru_cache(maxsize=4096)  # called per cell while rows are prepared, for a handful of names
def normalize_key(name: str) -> str:
    """Header matching ignores case, spaces, '-' and '_' (so "Prompt Audio" == prompt_audio)."""
    return re.sub(r"[\s_\-]+", "", name).casefold()


@dataclass(frozen=True)
class File:
    """A file a row sends: a local path (already resolved and checked) or an http(s) URL."""

    source: str

    @property
    def is_url(self) -> bool:
        return self.source.startswith(("http://", "https://"))

    def __str__(self) -> str:
        return self.source


@dataclass(frozen=True)
class Column:
    """One column a tool accepts.

    :param name: the canonical column name (also the CLI option `--<name>`).
    :param kind: one of text, int, float, bool, json, list, file, files, any
        (`files`: a JSON list or `a;b;c` of paths or URLs, each a `File`).
    :param required: a row must give a non-empty value (or the CLI default must).
    :param default: used when the row and the CLI give nothing.
    :param choices: accepted values (after conversion); `choice_aliases` maps
        other spellings onto them.
    :param minimum, maximum: inclusive limits for numbers.
    :param aliases: other header names accepted for this column (e.g. a UI label).
    :param option: offer `--<name>` on the command line as a default for every row.
    :param param: the endpoint parameter this column feeds: its choices, limits and default
        (where the column sets none) and its name and label (as aliases) come from the
        server when the plan is made (`gbatch.bind_columns`). Naming a parameter the
        endpoint lacks is an error then, before anything is sent.
    :param seed: a random seed (make it with `seed_column`): a row without a value gets one
        gbatch picks in `minimum`..`maximum`, journaled and sent again on a re-run; never
        the endpoint's default, which would give every row the same seed.
    """

    name: str
    kind: str = "text"
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] | None = None
    choice_aliases: tuple[tuple[str, Any], ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""
    aliases: tuple[str, ...] = ()
    option: bool = True
    param: str | None = None
    seed: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name!r}: unknown kind {self.kind!r}; use one of {KINDS}")
        if self.seed and (self.kind != "int" or self.maximum is None or self.default is not None):
            raise ValueError(f"column {self.name!r}: a seed column is an int column with a maximum and no default (use gbatch.seed_column)")

    def match_keys(self) -> set[str]:
        return {normalize_key(n) for n in (self.name, *self.aliases) if n}

    def is_empty(self, raw: Any) -> bool:
        return raw is None or (isinstance(raw, str) and raw.strip() == "")

    def convert(self, raw: Any, base_dir: Path) -> Any:
        """The typed value for a cell; raises ValueError with a message for the user."""
        if self.is_empty(raw):
            return None  # the column's default then applies (and, in `run`, the endpoint's own)
        value = _CONVERTERS[self.kind](raw, base_dir)
        return self._check(value)

    def _check(self, value: Any) -> Any:
        if self.choices is not None:
            value = self._choose(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"{value} is below the minimum {_num(self.minimum)}")
            if self.maximum is not None and value > self.maximum:
                raise ValueError(f"{value} is above the maximum {_num(self.maximum)}")
        return value

    def _choose(self, value: Any) -> Any:
        assert self.choices is not None
        values = value if isinstance(value, list) else [value]
        chosen = []
        for item in values:
            match = _match_choice(item, self.choices, self.choice_aliases)
            if match is _NO_MATCH:
                shown = ", ".join(repr(c) for c in self.choices[:20])
                more = " …" if len(self.choices) > 20 else ""
                raise ValueError(f"{item!r} is not one of: {shown}{more}")
            chosen.append(match)
        return chosen if isinstance(value, list) else chosen[0]


def seed_column(
    name: str = "seed",
    *,
    maximum: int = 2**32 - 1,
    minimum: int = 0,
    param: str | None = None,
    aliases: tuple[str, ...] = (),
    help: str = "",
) -> Column:
    """A random-seed column: a row without a seed gets a random one in `minimum`..`maximum`,
    journaled, left out of the row's input hash and sent again on a re-run (`--redo` picks a
    new one). The plan reads it as `values[name]`, always an int.

    With `param=`, the endpoint parameter lends its name and label (as aliases), never its
    default: the seed the app's page shows (0, 42) would make every row the same.
    """
    text = help or f"Random seed, {minimum}-{maximum}; rows without one get a random seed, kept in the journal and reused on re-runs."
    return Column(name, kind="int", minimum=minimum, maximum=maximum, param=param, aliases=aliases, help=text, seed=True)


_NO_MATCH = object()


def _match_choice(item: Any, choices: tuple[Any, ...], aliases: tuple[tuple[str, Any], ...]) -> Any:
    for choice in choices:
        if type(choice) is type(item) and choice == item:
            return choice
    text = str(item).strip()
    for choice in choices:
        if isinstance(choice, bool):
            lowered = text.casefold()
            if (choice and lowered in _TRUE) or (not choice and lowered in _FALSE):
                return choice
        elif str(choice) == text:
            return choice
    folded = normalize_key(text)
    for alias, target in aliases:
        if normalize_key(alias) == folded:
            return target
    for choice in choices:
        if isinstance(choice, str) and normalize_key(choice) == folded:
            return choice
    return _NO_MATCH


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _to_text(raw: Any, _: Path) -> Any:
    return raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)


def _to_int(raw: Any, _: Path) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"expected a whole number, got {raw!r}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        if raw.is_integer():
            return int(raw)
        raise ValueError(f"expected a whole number, got {raw!r}")
    text = str(raw).strip().replace("_", "")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"expected a whole number, got {raw!r}") from None
    if number.is_integer():
        return int(number)
    raise ValueError(f"expected a whole number, got {raw!r}")


def _to_float(raw: Any, _: Path) -> float | int:
    if isinstance(raw, bool):
        raise ValueError(f"expected a number, got {raw!r}")
    if isinstance(raw, (int, float)):
        value: float | int = raw
    else:
        try:
            value = float(str(raw).strip())
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {raw!r}")
    return value


def _to_bool(raw: Any, _: Path) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _to_json(raw: Any, _: Path) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _to_list(raw: Any, base: Path) -> list[Any]:
    if isinstance(raw, list):
        return raw
    text = str(raw).strip()
    if text.startswith("["):
        value = _to_json(text, base)
        if not isinstance(value, list):
            raise ValueError("expected a JSON list")
        return value
    # A spreadsheet-friendly spelling: "a; b; c" or "a|b".
    return [part.strip() for part in re.split(r"[;|]", text) if part.strip()]


def _to_file(raw: Any, base: Path) -> File:
    text = str(raw).strip()
    if text.startswith(("http://", "https://")):
        return File(text)
    try:
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = base / path
        found, is_file = path.exists(), path.is_file()
        resolved = str(path.resolve())
    except (OSError, RuntimeError) as exc:  # ~nosuchuser, a name over 255 bytes
        raise ValueError(f"not a usable path: {text!r} ({exc})") from None
    if not found:
        raise ValueError(f"file not found: {path}")
    if not is_file:
        raise ValueError(f"not a file: {path}")
    return File(resolved)


def _to_files(raw: Any, base: Path) -> list[File]:
    items = _to_list(raw, base)
    files = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"expected a list of file paths or URLs, got {item!r}")
        files.append(_to_file(item, base))
    return files


_CONVERTERS: dict[str, Callable[[Any, Path], Any]] = {
    "text": _to_text,
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "json": _to_json,
    "list": _to_list,
    "file": _to_file,
    "files": _to_files,
    "any": lambda raw, _: raw,
}

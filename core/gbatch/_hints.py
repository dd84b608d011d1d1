"""The commands the CLI suggests after a batch (`--redo`, `--retry-failed`, resume), built
from the options this batch was given, never from the process's argv, so that they work
when pasted into the same shell.

A command records what it was given (`invoked`) while it runs; `command_again` turns that
back into words: options left at their defaults are left out, secrets always (`--auth`,
`--token`, `--header`, a password in a server URL), and this run's way of choosing rows
(`--redo`, `--retry-failed`, `--restart`, ...) gives way to the one the hint needs.
"""

from __future__ import annotations

import enum
import inspect
import os
import shlex
import shutil
import sys
import typing
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.models import ArgumentInfo, OptionInfo

__all__ = ["command_again", "invoked", "program"]

SECRETS = frozenset({"auth", "token", "header"})
# How this run chose its rows, or how it printed: a suggested command sets its own.
NOT_REPEATED = frozenset({"redo", "retry_failed", "restart", "dry_run", "rename", "overwrite", "json_out", "quiet"})
SECRETS_NOTE = "   (and your login, token or headers again)"


@dataclass(frozen=True)
class _Invocation:
    command: str
    params: Sequence[inspect.Parameter]
    values: Mapping[str, Any]


_current: ContextVar[_Invocation | None] = ContextVar("gbatch_invocation", default=None)


@contextmanager
def invoked(command: str, params: Sequence[inspect.Parameter], values: Mapping[str, Any]) -> Iterator[None]:
    """While a command runs: its name, its typer parameters and the values it was given."""
    token = _current.set(_Invocation(command, tuple(params), dict(values)))
    try:
        yield
    finally:
        _current.reset(token)


def program() -> str:
    """How to start this gbatch from the current shell: `gbatch` when that name finds this
    installation, else the path of its script (`.venv/bin/gbatch`), else `python -m gbatch`."""
    script = shutil.which("gbatch", path=str(Path(sys.executable).parent))
    if script is None:
        return shlex.join([sys.executable, "-m", "gbatch"])
    on_path = shutil.which("gbatch")
    if on_path is not None and Path(on_path).resolve() == Path(script).resolve():
        return "gbatch"
    relative = os.path.relpath(script)
    shown = script if relative.startswith("..") else relative
    return shlex.quote(shown if os.sep in shown else os.path.join(os.curdir, shown))


def command_again(extra: Sequence[str] = ()) -> str | None:
    """The running command again with `extra` words added (e.g. `--redo FILE`); None outside
    a command (a library call has no command line to repeat)."""
    from ._servers import redact_url  # after a batch: the servers room is loaded already (not for --help)

    invocation = _current.get()
    if invocation is None:
        return None
    words: list[str] = []
    dropped = False
    for param in invocation.params:
        value = invocation.values.get(param.name)
        if param.name in NOT_REPEATED or _is_default(value, param.default):
            continue
        if param.name in SECRETS:
            dropped = True
            continue
        for word in _words(param, value):
            hidden = redact_url(word)
            dropped = dropped or hidden != word
            words.append(hidden)
    command = f"{program()} {shlex.join([invocation.command, *words, *extra])}"
    return command + (SECRETS_NOTE if dropped else "")


def _is_default(value: Any, default: Any) -> bool:
    empty: tuple[Any, ...] = (None, [], ())
    return bool(value == default) or (value in empty and default in empty)


def _words(param: inspect.Parameter, value: Any) -> Iterator[str]:
    """A given parameter back as command-line words."""
    info = next((m for m in typing.get_args(param.annotation)[1:] if isinstance(m, (OptionInfo, ArgumentInfo))), None)
    values = value if isinstance(value, (list, tuple)) else [value]
    if not isinstance(info, OptionInfo):
        yield from (_text(v) for v in values if v is not None)
        return
    # Inside Annotated, typer takes a first positional "--flag" as a declaration (kept as `default`).
    given = [info.default] if isinstance(info.default, str) and info.default.startswith("-") else []
    decls = [d for decl in [*given, *(info.param_decls or ())] for d in decl.split("/")]
    longest = max((d for d in decls if d.startswith("--")), key=len, default=f"--{param.name.replace('_', '-')}")
    if isinstance(value, bool):
        positive = next((d for d in decls if d.startswith("--") and not d.startswith("--no-")), longest)
        # typer gives a bool option without a "/" its own "--no-…"
        negative = next((d for d in decls if d.startswith("--no-")), "--no-" + positive[2:])
        yield positive if value else negative
        return
    for item in values:
        if item is not None:
            yield from (longest, _text(item))


def _text(value: Any) -> str:
    return str(value.value) if isinstance(value, enum.Enum) else str(value)

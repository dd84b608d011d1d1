"""The hooks a gbatch plugin can implement.

A plugin is a module (or object) with functions decorated with
`gbatch.hookimpl`, named after the specs below, registered through the
`gbatch` entry-point group:

    [project.entry-points.gbatch]
    mytool = "gbatch_mytool"

An implementation may accept fewer arguments than the spec names; new
arguments can therefore be added to a hook without breaking plugins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from ._tool import Tool

hookspec = pluggy.HookspecMarker("gbatch")
hookimpl = pluggy.HookimplMarker("gbatch")


@hookspec
def register_tools(register: Callable[[Tool], None]) -> None:
    """Register the tools this plugin provides by calling `register(tool)`.

    :param register: call it once per `gbatch.Tool` instance; the tool's
        `name` becomes a `gbatch <name>` sub-command.

    Runs once, in the main thread, when gbatch loads its plugins (before any
    command line is parsed), so keep it cheap: no network, no heavy imports.
    """


@hookspec
def register_commands(app: Any) -> None:
    """Add extra commands to the `gbatch` command line.

    :param app: the root `typer.Typer` application; add commands with
        `@app.command()` or sub-groups with `app.add_typer(...)`.

    Runs once, in the main thread, after the tools are registered and before
    the command line is parsed. Library use of gbatch never calls it.
    """

"""What every tool plugin needs and should not write itself.

- `tool_hook("pkg.tool:MyTool")`: the `register_tools` hook of a plugin package,
  importing the tool module only when gbatch loads its plugins.
- `ExpectedApp`: "this is the app" declared as the endpoint and its exact parameter
  names (one list per variant of the app), checked with the standard message.
- `not_the_app(...)`: that standard message, for tools that find their app by its
  structure instead (events without names).
- `StandIn`: the test stand-in of an app: its page title, the notice a plan shows
  when it meets one, and the demo command's `main()`.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._api import Endpoint, ServerApi
from ._errors import ServerError
from .hookspecs import hookimpl

if TYPE_CHECKING:
    from ._tool import Tool

__all__ = ["ExpectedApp", "StandIn", "not_the_app", "tool_hook"]


def tool_hook(*tools: str | type[Tool]) -> Callable[[Callable[[Tool], None]], None]:
    """The `register_tools` hook of a plugin: one instance of each tool class registered.

    Name a class as `"module:Class"` to import its module only when gbatch loads its
    plugins (a package's `__init__.py` stays cheap), or pass the class itself::

        register_tools = gbatch.tool_hook("gbatch_mytool.tool:MyTool")
    """

    def register_tools(register: Callable[[Tool], None]) -> None:
        for tool in tools:
            register(_tool_class(tool)())

    return hookimpl(register_tools)


def _tool_class(tool: str | type[Tool]) -> type[Tool]:
    if not isinstance(tool, str):
        return tool
    module, _, name = tool.partition(":")
    found: type[Tool] = getattr(importlib.import_module(module), name)
    return found


def not_the_app(api: ServerApi, app: str, expected: str, found: str) -> ServerError:
    """The standard refusal: `<url> does not look like <app>`, what was expected, what was found."""
    return ServerError(f"{api.url} does not look like {app}. Expected {expected}\nFound:\n{found or '  (no endpoints)'}")


@dataclass(frozen=True)
class ExpectedApp:
    """An app recognised by one endpoint's exact parameter names, in order.

    :param app: how to name it in messages, e.g. "a CosyVoice web UI".
    :param endpoint: the endpoint rows call, e.g. "/generate_audio".
    :param variants: variant name -> the parameter names of that variant of the app
        (upstream's UI, a fork, a Space), in the endpoint's order.
    """

    app: str
    endpoint: str
    variants: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def find(self, api: ServerApi) -> tuple[str, Endpoint]:
        """(variant, endpoint) of the server; `ServerError` with the standard message otherwise."""
        endpoint = api.endpoint(self.endpoint)
        names = tuple(p.name for p in endpoint.parameters) if endpoint else ()
        for variant, params in self.variants.items():
            if endpoint is not None and names == tuple(params):
                return variant, endpoint
        shapes = "\n  or ".join(f"{', '.join(params)} ({variant})" for variant, params in self.variants.items())
        raise not_the_app(api, self.app, f"{self.endpoint} with\n  {shapes}.", self._found(api))

    def _found(self, api: ServerApi) -> str:
        everywhere = set.intersection(*(set(p) for p in self.variants.values())) if self.variants else set()
        anywhere = {name for params in self.variants.values() for name in params}
        lines = []
        for endpoint in api.every_endpoint():
            lines.append(f"  {endpoint.signature()}")
            if endpoint.key == self.endpoint:
                names = [p.name for p in endpoint.parameters]
                order = next(iter(self.variants.values()), ())
                missing = [p for p in order if p in everywhere and p not in names]
                extra = [p for p in names if p not in anywhere]
                lines.append(f"    missing: {', '.join(missing) or '-'}; unexpected: {', '.join(extra) or '-'}")
        return "\n".join(lines)


@dataclass(frozen=True)
class StandIn:
    """The test stand-in of an app: the same API on the wire, made-up outputs, no model.

    :param app: the real app's name, e.g. "InstantID".
    :param makes: what the stand-in returns instead, e.g. "drawn images".
    """

    app: str
    makes: str

    @property
    def title(self) -> str:
        """The stand-in's page title; it says plainly that it is not the app."""
        return f"gbatch {self.app} stand-in — NOT {self.app}: {self.makes} for demos and tests"

    def notice(self, api: ServerApi) -> str | None:
        """What a plan shows (`Plan.notice`) when `api` is this stand-in; None for anything else."""
        title = api.title.casefold()
        if "stand-in" in title or f"not {self.app}".casefold() in title:
            return f"note: {api.url} is the gbatch {self.app} stand-in ({self.makes}), not {self.app}."
        return None

    def parser(self, prog: str, port: int, delay: float, about: str = "") -> argparse.ArgumentParser:
        """The demo command's options: --port (the app's usual one), --host (loopback unless
        told otherwise) and --delay (simulated compute seconds); add the app's own to it."""
        parser = argparse.ArgumentParser(
            prog=prog,
            description=f"Serve a stand-in of {self.app} (same API, {self.makes}, no model). It is NOT {self.app}. {about}".strip(),
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        parser.add_argument("--port", type=int, default=port, help="port to listen on (upstream's default)")
        parser.add_argument("--host", default="127.0.0.1", help="address to bind; 0.0.0.0 exposes it to the network")
        parser.add_argument("--delay", type=_seconds, default=delay, help="simulated compute seconds per request")
        return parser

    def launch(self, demo: Any, args: argparse.Namespace, note: str = "", **launch: Any) -> None:
        """Say what is starting where, then serve `demo` (a gr.Blocks) until interrupted."""
        print(f"{self.title}\nStarting on http://{args.host}:{args.port}{f' ({note})' if note else ''}", flush=True)
        demo.launch(server_name=args.host, server_port=args.port, **launch)


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more seconds")
    return value

"""`gbatch inspect`: a server's endpoints as a table, or as a task-file template."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ._api import Endpoint, Param, ServerApi
from ._errors import CallError, NoServerError, ServerError
from ._generic import choose_endpoint
from ._servers import parse_server, redact
from .transports import AutoTransport
from .transports.base import ConnectOptions, Transport

__all__ = ["inspect_server", "print_api", "template_csv"]


def inspect_server(url: str, connection: ConnectOptions, transport: Transport | None = None) -> ServerApi:
    """Connect once and read the server's API; `NoServerError` if it cannot be reached."""
    backend = parse_server(url, 1)
    try:
        session = (transport or AutoTransport()).connect(backend.url, connection, 1)
    except ServerError as exc:
        raise ServerError(redact(str(exc), connection.secrets())) from None
    except CallError as exc:
        raise NoServerError(f"{backend}: {redact(str(exc), connection.secrets())}") from None
    try:
        return session.api
    finally:
        session.close()


def _limits(param: Param) -> str:
    parts = []
    if param.choices is not None:
        parts.append(", ".join(_choice(param, c) for c in param.choices[:12]) + (" …" if len(param.choices) > 12 else ""))
    if param.minimum is not None or param.maximum is not None:
        parts.append(f"{_n(param.minimum)} … {_n(param.maximum)}")
    return "; ".join(parts)


def _choice(param: Param, choice: Any) -> str:
    # Show the UI's label too: a cell may use either.
    text = json.dumps(choice, ensure_ascii=False)
    labels = [label for label, value in param.choice_labels if type(value) is type(choice) and value == choice]
    return f"{text} ({labels[0]})" if labels else text


def _n(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if value.is_integer() else str(value)


def _title(endpoint: Endpoint) -> str:
    if endpoint.name:
        return endpoint.name
    hidden = ", hidden from the API page" if endpoint.hidden else ""
    trigger = f": {endpoint.trigger}" if endpoint.trigger else ""
    return f"fn_index {endpoint.fn_index}{trigger}   (no api_name{hidden}; run it with --fn-index {endpoint.fn_index})"


def print_api(api: ServerApi, only: str | None, console: Console, fn_index: int | None = None, wide: bool = False) -> None:
    every = api.every_endpoint()
    endpoints = [choose_endpoint(api, only, fn_index)] if (only or fn_index is not None) else every
    named, unnamed = len(api.endpoints), len(api.unnamed)
    counts = f"{named} endpoint(s)" + (f", {unnamed} without a name (call them with --fn-index N)" if unnamed else "")
    # Names, labels, defaults and choices are the server's words: text, never rich markup.
    console.print(f"{api.url} (gradio {api.version or '?'}): {counts}", highlight=False, markup=False, soft_wrap=True)
    for endpoint in endpoints:
        if not endpoint.parameters:
            # No table without rows: say so under the title.
            console.print(f"{_title(endpoint)}\n  takes no inputs", highlight=False, markup=False, soft_wrap=True)
            console.print(f"  returns: {_returns(endpoint)}", highlight=False, markup=False)
            continue
        table = Table(title=Text(_title(endpoint)), title_justify="left")
        # At 80 columns a long default (a negative prompt) would wrap into a 30-line cell: one line
        # each, cut with "…", unless --wide.
        for header, widest in (("parameter", 20), ("label", 14), ("component", 10), ("type", 6), ("default", 12), ("choices / limits", 14), ("required", 8)):
            if wide:
                table.add_column(header, overflow="fold")
            else:
                table.add_column(header, no_wrap=True, overflow="ellipsis", max_width=widest)
        for p in endpoint.parameters:
            default = json.dumps(p.default, ensure_ascii=False) if p.has_default else ""
            cells = (p.name, p.label, p.component, p.describe_type(), default, _limits(p), "yes" if p.required else "no")
            table.add_row(*(Text(cell) for cell in cells))
        console.print(table)
        console.print(f"  returns: {_returns(endpoint)}", highlight=False, markup=False)


def _returns(endpoint: Endpoint) -> str:
    return ", ".join(f"{r.label or r.name} ({r.component})" for r in endpoint.returns) or "none"


_PLACEHOLDER_SUFFIX = {"audio": ".wav", "image": ".png", "imageeditor": ".png", "gallery": ".png", "video": ".mp4", "model3d": ".obj"}


def _example(param: Param) -> Any:
    if param.has_default and param.default is not None:
        value = param.default
    elif param.choices:
        value = param.choices[0]
    elif param.is_file:
        # One placeholder per parameter: two audio inputs must not look like the same file.
        stem, suffix = f"path/to/{param.name}", _PLACEHOLDER_SUFFIX.get(param.component.lower(), "")
        return f"{stem}_1{suffix};{stem}_2{suffix}" if param.multiple else f"{stem}{suffix}"
    elif param.kind in ("int", "float"):
        value = param.minimum if param.minimum is not None else 0
        if param.kind == "int":
            value = int(value)
    elif param.kind == "bool":
        value = False
    else:
        # An empty cell fails a required text or JSON parameter; the server's example does not.
        value = param.example if param.example is not None else ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def template_csv(api: ServerApi, only: str | None, fn_index: int | None = None) -> str:
    """A CSV header (an `id` column, then each parameter) and one example row."""
    endpoint = choose_endpoint(api, only, fn_index)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", *(p.name for p in endpoint.parameters)])
    writer.writerow(["1", *(_example(p) for p in endpoint.parameters)])
    return buffer.getvalue()

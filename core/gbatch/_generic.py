"""Driving any endpoint of any Gradio app, with no code: `gbatch run URL tasks.csv --api /name`
(or `--fn-index N` for an event without a name, as in many gradio 3 apps).

Columns are the endpoint's parameters (matched by name or label); files are
uploaded; every output is kept — files in the output folder (a gallery as
numbered files), other values in `results.csv` and the journal.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ._api import Endpoint, Param, ServerApi
from ._columns import Column, normalize_key
from ._errors import Failure, ServerError
from ._files import save_file
from ._tool import Call, Outputs, Plan, Tool
from .transports.base import CallResult, ComponentUpdate, ServerFile

__all__ = ["GenericTool", "choose_endpoint", "fitting_endpoints"]


def _listing(api: ServerApi) -> str:
    lines = [e.signature() + (f"   [{e.trigger}]" if not e.name and e.trigger else "") for e in api.every_endpoint()]
    return "\n  ".join(lines) or "(none)"


def choose_endpoint(api: ServerApi, name: str | None, fn_index: int | None = None, columns: Sequence[str] | None = None) -> Endpoint:
    """The endpoint called `name` (or at `fn_index`); with neither, the only one, or the only named
    one that fits the task file's `columns` (all of them when None); otherwise a ServerError listing them.

    Events without an api_name (a gradio 3 Interface's Flag and Clear buttons, Enter in a box)
    are chosen only by `--fn-index`: they are no candidates while a named endpoint fits.
    """
    if fn_index is not None:
        endpoint = api.by_index(fn_index)
        if endpoint is None:
            raise ServerError(f"{api.url} has no event with fn_index {fn_index}. Its endpoints:\n  {_listing(api)}")
        return endpoint
    if name:
        endpoint = api.endpoint(name)
        if endpoint is None:
            raise ServerError(f"{api.url} has no endpoint {name!r}. Its endpoints:\n  {_listing(api)}")
        return endpoint
    every = api.every_endpoint()
    if len(every) == 1:
        return every[0]
    if not every:
        raise ServerError(f"{api.url} offers no endpoint that can be called")
    fitting = fitting_endpoints(api, columns)
    if len(fitting) == 1:
        return fitting[0]
    hint = "--api" + (" NAME or --fn-index N" if api.unnamed else "")
    if len(fitting) > 1 and columns is not None:
        shown = "\n  ".join(e.signature() for e in fitting)
        raise ServerError(f"{api.url} has {len(fitting)} endpoints that fit the task file's columns; choose one with {hint}:\n  {shown}")
    none_fit = " and none with a name fits the task file's columns" if columns is not None and api.endpoints and not fitting else ""
    raise ServerError(f"{api.url} has {len(every)} endpoints{none_fit}; choose one with {hint}:\n  {_listing(api)}")


def fitting_endpoints(api: ServerApi, columns: Sequence[str] | None) -> list[Endpoint]:
    """The named endpoints that fit a task file with these headers best: each of their required
    parameters has a column, and no other uses more of the columns. Every named one when `columns` is None."""
    named = list(api.endpoints.values())
    if columns is None:
        return named
    headers = {normalize_key(c) for c in columns}

    def fed(param: Param) -> bool:
        return bool(param.column().match_keys() & headers)

    used = {e.key: sum(1 for p in e.parameters if fed(p)) for e in named}
    fitting = [e for e in named if used[e.key] and all(fed(p) for p in e.parameters if p.required)]
    most = max((used[e.key] for e in fitting), default=0)
    return [e for e in fitting if used[e.key] == most]


class GenericPlan(Plan):
    def __init__(
        self, endpoint: Endpoint, notice: str | None = None, api: ServerApi | None = None, known: Sequence[Tool] = (), text_column: str | None = None
    ) -> None:
        self.endpoint = endpoint
        self.api_name = endpoint.key
        self.columns: Sequence[Column] = [param.column() for param in endpoint.parameters]
        self.notice = notice
        if text_column is not None and endpoint.param(text_column) is None:
            names = ", ".join(p.name for p in endpoint.parameters)
            raise ServerError(f"--text-param {text_column!r}: {endpoint.signature()} has no such parameter (it has: {names})")
        self.text_column = text_column
        self._api = api
        self._known = known

    def explain(self, failure: Failure, call: Call) -> str:
        # A tool that knows this app (CosyVoice's web UI driven through `run`) may know the likely cause.
        if failure.cause != "app" or self._api is None:
            return failure.message
        sent = call if call.endpoint is not None else dataclasses.replace(call, endpoint=self.api_name)
        for tool in self._known:
            hint = tool.diagnose(self._api, sent, failure)
            if hint:
                return f"{failure.message}. {hint}"
        return failure.message

    def prepare(self, values: Mapping[str, Any], previous: Mapping[str, Any]) -> Call:
        kwargs = {}
        for param in self.endpoint.parameters:
            value = values.get(param.name)
            if value is None and param.has_default:
                continue  # the client fills in the endpoint's own default
            if param.component.lower() == "dataframe" and isinstance(value, list):
                value = _table(value, param.default)
            kwargs[param.name] = value
        return Call(kwargs)

    def collect(self, result: CallResult, out: Outputs) -> None:
        returns = self.endpoint.returns
        values = [v.value if isinstance(v, ComponentUpdate) else v for v in result.outputs]
        files = [v for v in values if isinstance(v, ServerFile) or _is_file_list(v)]
        # Count the declared file outputs too, so an output keeps its name in rows where others are empty.
        labelled = max(len(files), sum(1 for r in returns if r.is_file)) > 1
        keys: list[str] = []
        for index, value in enumerate(values):
            param = returns[index] if index < len(returns) else None
            key = _output_key(param.label if param else "", index)
            key = f"{key}_{index}" if key in keys else key  # two outputs with one label must not overwrite
            keys.append(key)
            if isinstance(value, ServerFile):
                save_file(out, value, key if labelled else None)
            elif _is_file_list(value):
                # A gallery: numbered files, and the captions as a value.
                for n, item in enumerate(value, start=1):
                    save_file(out, item, f"{key}-{n}" if labelled else str(n))
                captions = [item.caption for item in value]
                if any(captions):
                    out.value(f"{key}_captions", captions)
            else:
                out.value(key, value)


def _table(rows: list[Any], default: Any) -> dict[str, Any]:
    # A Dataframe takes {"headers", "data"}; a cell of bare rows ([[1, 2], [3, 4]]) is the
    # natural spelling, and the server rejects it with a hidden error. Reuse the default's headers.
    headers = default.get("headers") if isinstance(default, Mapping) else None
    if not headers:
        width = len(rows[0]) if rows and isinstance(rows[0], list) else 1
        headers = [str(n) for n in range(1, width + 1)]
    return {"headers": headers, "data": rows}


def _is_file_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, ServerFile) for v in value)


def _output_key(label: str, index: int) -> str:
    if not label or re.fullmatch(r"value_\d+", label):
        return f"output_{index}"
    return re.sub(r"[^\w\-]+", "_", label).strip("_") or f"output_{index}"


class GenericTool(Tool):
    """Any endpoint of any Gradio app (3.x to 6.x); columns come from the server."""

    name = "run"
    help = "Run a task file against any endpoint of any Gradio app."
    # gradio runs one job per event at a time unless the app says otherwise; two run
    # and two wait by default (the server's queue keeps them), -j or URL=N to change.
    slots_per_server = 2
    default_out = "gbatch-out"

    def __init__(
        self,
        api_name: str | None = None,
        fn_index: int | None = None,
        columns: Sequence[str] | None = None,
        known: Sequence[Tool] = (),
        text_column: str | None = None,
    ) -> None:
        """:param columns: the task file's headers, which choose the endpoint when neither api_name nor fn_index does.
        :param known: the installed tools, asked (`Tool.diagnose`) why a row of their app failed.
        :param text_column: the endpoint parameter that holds a row's text (`--text-param`)."""
        self.api_name = api_name
        self.fn_index = fn_index
        self.task_columns = columns
        self.known = tuple(known)
        self.text_column = text_column

    def for_task(self, columns: Sequence[str]) -> GenericTool:
        return GenericTool(self.api_name, self.fn_index, columns, self.known, self.text_column)

    def plan(self, api: ServerApi, options: Mapping[str, Any]) -> Plan:
        endpoint = choose_endpoint(api, self.api_name, self.fn_index, self.task_columns)
        notice = _chosen(api, endpoint) if self.api_name is None and self.fn_index is None else None
        return GenericPlan(endpoint, notice, api, self.known, self.text_column)


def _chosen(api: ServerApi, endpoint: Endpoint) -> str | None:
    """Say which endpoint was picked when the app has others (a user must not wonder what ran)."""
    others = [e.key + (f" [{e.trigger}]" if not e.name and e.trigger else "") for e in api.every_endpoint() if e is not endpoint]
    if not others:
        return None
    shown = ", ".join(others[:4]) + (f" and {len(others) - 4} more" if len(others) > 4 else "")
    return f"using {endpoint.key}, the named endpoint that fits the task file's columns (not {shown}; --api or --fn-index chooses)"

"""Driving any endpoint of any Gradio app, with no code: `gbatch run URL tasks.csv --api /name`.

Columns are the endpoint's parameters (matched by name or label); files are
uploaded; every output is kept — files in the output folder, other values in
`results.csv` and the journal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ._api import Endpoint, ServerApi
from ._columns import Column
from ._errors import ServerError
from ._files import is_file_value, save_file
from ._tool import Call, Outputs, Plan, Tool

__all__ = ["GenericTool", "choose_endpoint"]


def choose_endpoint(api: ServerApi, name: str | None) -> Endpoint:
    """The endpoint called `name`, or the only one; otherwise a ServerError listing them."""
    listing = "\n  ".join(e.signature() for e in api.endpoints.values()) or "(none)"
    if name:
        endpoint = api.endpoint(name)
        if endpoint is None:
            raise ServerError(f"{api.url} has no endpoint {name!r}. Its endpoints:\n  {listing}")
        return endpoint
    if len(api.endpoints) == 1:
        return next(iter(api.endpoints.values()))
    raise ServerError(f"{api.url} has {len(api.endpoints)} endpoints; choose one with --api:\n  {listing}")


class GenericPlan(Plan):
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.api_name = endpoint.name
        self.columns: Sequence[Column] = [param.column() for param in endpoint.parameters]

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

    def collect(self, result: Any, out: Outputs) -> None:
        returns = self.endpoint.returns
        values = list(result) if len(returns) > 1 and isinstance(result, (list, tuple)) else [result]
        files = [v for v in values if is_file_value(v) or _is_file_list(v)]
        # Count the declared file outputs too, so an output keeps its name in rows where others are empty.
        labelled = max(len(files), sum(1 for r in returns if r.is_file)) > 1
        keys: list[str] = []
        for index, value in enumerate(values):
            param = returns[index] if index < len(returns) else None
            key = _output_key(param.label if param else "", index)
            key = f"{key}_{index}" if key in keys else key  # two outputs with one label must not overwrite
            keys.append(key)
            if is_file_value(value):
                save_file(out, value, key if labelled else None)
            elif _is_file_list(value):
                for n, item in enumerate(value, start=1):
                    # Gallery items are {"image": FileData, "caption": ...}
                    file = item["image"] if "image" in item and is_file_value(item["image"]) else item
                    save_file(out, file, f"{key}-{n}")
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
    if not isinstance(value, list) or not value:
        return False
    return all(is_file_value(v) or (isinstance(v, Mapping) and is_file_value(v.get("image"))) for v in value)


def _output_key(label: str, index: int) -> str:
    if not label or re.fullmatch(r"value_\d+", label):
        return f"output_{index}"
    return re.sub(r"[^\w\-]+", "_", label).strip("_") or f"output_{index}"


class GenericTool(Tool):
    """Any endpoint of any gradio 4/5/6 app; columns come from the server."""

    name = "run"
    help = "Run a task file against any endpoint of any Gradio app."
    slots_per_server = 4
    default_out = "gbatch-out"

    def __init__(self, api_name: str | None = None) -> None:
        self.api_name = api_name

    def plan(self, api: ServerApi, options: Mapping[str, Any]) -> Plan:
        return GenericPlan(choose_endpoint(api, self.api_name))

"""Binding a tool's columns to the parameters of the endpoint they feed.

A column that names its parameter (`Column(param="style_name")`) takes from the
server what it does not declare itself: the choices the page offers, the slider's
range, the value the page starts with, and the parameter's name and label as
header aliases. A column naming a parameter the endpoint lacks is an error when
the plan is made, so a misspelt `param=` never reaches a row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from ._api import Endpoint, Param
from ._columns import Column, normalize_key
from ._errors import ServerError

__all__ = ["bind_column", "bind_columns"]


def bind_column(
    column: Column, param: Param, *, default: bool = True, choices: bool = True, server_first: bool = False, taken: Iterable[str] = ()
) -> Column:
    """`column` with what `param` offers: its choices, range and initial value, and its name
    and label as header aliases.

    What the column declares wins: a tool may narrow a range, or keep its own default.
    :param server_first: the other way round: the server's value wins wherever it has
        one, and what the column declares is only the fallback.
    :param default: take the page's initial value as the column's default (never for a seed).
    :param choices: take the page's choices (a Dropdown that allows custom values has none).
    :param taken: header names other columns use; the parameter's name or label is not
        added as an alias where it would feed two columns.
    """
    blocked = {normalize_key(name) for name in taken}
    extra = [n for n in (param.name, param.label) if n and n != column.name and normalize_key(n) not in blocked]
    offered_choices = None if param.custom_values or param.choices is None else tuple(param.choices)
    pick = _server_wins if server_first else _column_wins
    changes: dict[str, Any] = {
        "aliases": tuple(dict.fromkeys([*column.aliases, *extra])),
        "minimum": pick(column.minimum, param.minimum),
        "maximum": pick(column.maximum, param.maximum),
        "help": column.help or param.label,
    }
    if choices:
        changes["choices"] = pick(column.choices, offered_choices)
        changes["choice_aliases"] = column.choice_aliases or param.choice_labels
    if default and not column.seed:
        changes["default"] = pick(column.default, _as_kind(column.kind, param.default))
    return replace(column, **changes)


def _column_wins(declared: Any, offered: Any) -> Any:
    return declared if declared is not None else offered


def _server_wins(declared: Any, offered: Any) -> Any:
    return offered if offered is not None else declared


def bind_columns(columns: Sequence[Column], endpoint: Endpoint) -> list[Column]:
    """Every column with `param=` bound to that parameter of `endpoint` (`bind_column`);
    the others as they are. Raises `ServerError` naming the column, the parameter and the
    endpoint's real signature when a column names a parameter the endpoint lacks."""
    missing = [c for c in columns if c.param and endpoint.param(c.param) is None]
    if missing:
        lines = [f"column {c.name!r} is bound to parameter {c.param!r}, which {endpoint.key} does not have" for c in missing]
        raise ServerError("\n".join([*lines, f"the endpoint's parameters: {endpoint.signature()}"]))
    bound = []
    for column in columns:
        param = endpoint.param(column.param) if column.param else None
        others = [n for c in columns if c is not column for n in (c.name, *c.aliases)]
        bound.append(column if param is None else bind_column(column, param, taken=others))
    return bound


def _as_kind(kind: str, value: Any) -> Any:
    """A slider's 30.0 is 30 for an int column."""
    if kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value

"""From task rows to calls: which header feeds which column, each cell converted and
checked, each row turned into a call by the plan. Every problem is collected and
raised at once; nothing is sent before this has passed.
"""

from __future__ import annotations

import difflib
import functools
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._api import Endpoint, ServerApi
from ._batch import BatchOptions, PreparedRow
from ._columns import Column, normalize_key
from ._errors import TaskFileProblem, UsageError, ValidationError
from ._journal import input_hash
from ._outputs import NameTemplate
from ._tasks import TaskFile, TaskRow
from ._tool import Call, Plan, RowProblem, Tool
from .transports.base import browser_values

if TYPE_CHECKING:
    from ._book import Lexicon

__all__ = ["column_map", "pick_seeds", "prepare_batch"]

# Seeds need no secrecy, but the OS source keeps forked workers from repeating each other.
_RANDOM = random.SystemRandom()


def column_map(task: TaskFile, columns: Sequence[Column]) -> tuple[dict[str, str], list[TaskFileProblem]]:
    """Which header of the file feeds which column."""
    by_key: dict[str, Column] = {}
    # A column's own name wins over another column's alias (label), whatever their order.
    for column in columns:
        by_key.setdefault(normalize_key(column.name), column)
    for column in columns:
        for key in column.match_keys():
            by_key.setdefault(key, column)
    mapping: dict[str, str] = {}
    problems: list[TaskFileProblem] = []
    for header in task.columns:
        fed = by_key.get(normalize_key(header))
        if fed is None:
            continue  # extra columns are fine: they can name outputs or group rows
        if fed.name in mapping:
            problems.append(TaskFileProblem(str(task.path), 1, header, f"both {mapping[fed.name]!r} and {header!r} feed {fed.name!r}"))
            continue
        mapping[fed.name] = header
    problems.extend(_misspelt(task, columns, by_key, mapping))
    return mapping, problems


def _misspelt(task: TaskFile, columns: Sequence[Column], by_key: Mapping[str, Column], mapping: Mapping[str, str]) -> list[TaskFileProblem]:
    """An unused header one typo away from a column nobody feeds (`spead` for speed) would
    silently send that column's default: an error that names the column meant."""
    open_keys = {key: column for key, column in by_key.items() if column.name not in mapping}
    problems = []
    for header in task.columns:
        key = normalize_key(header)
        if header in mapping.values() or key == "id" or not key:
            continue
        close = difflib.get_close_matches(key, list(open_keys), n=1, cutoff=0.8)
        if close:
            meant = open_keys[close[0]].name
            problems.append(TaskFileProblem(str(task.path), 1, header, f"no column is called {header!r}: did you mean {meant!r}? (rename the header; other extra columns are fine)"))
    return problems


def _near_misses(name: str, task: TaskFile, mapping: Mapping[str, str]) -> str:
    unused = {normalize_key(h): h for h in task.columns if h not in mapping.values()}
    close = difflib.get_close_matches(normalize_key(name), list(unused), n=2, cutoff=0.6)
    return f" (the file has {', '.join(repr(unused[c]) for c in close)}: a typo?)" if close else ""


def _flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def prepare_batch(
    task: TaskFile,
    plans: Sequence[tuple[str, Plan, ServerApi]],
    options: BatchOptions,
    tool: Tool,
    previous: Mapping[str, Mapping[str, Any]],
    task_problems: Sequence[TaskFileProblem] = (),
    lexicon: Lexicon | None = None,
    text_column: str | None = None,
) -> list[PreparedRow]:
    """Convert and check every row for every plan (one per kind of server in the batch).

    With a `lexicon`, the `text_column` of each row is rewritten before the plan sees it; the
    text as written is kept beside it (`<text_column>_as_written`) for the journal.

    Raises `ValidationError` listing every problem, `UsageError` for a bad `--name`.
    """
    file = str(task.path)
    first = plans[0][1]
    mapping, problems = column_map(task, first.columns)
    defaults = {normalize_key(k): v for k, v in options.defaults.items() if v is not None}
    flags = {c.name for c in tool.columns if c.option}
    absent: set[str] = set()  # required columns missing from the file: one problem, not one per row
    for column in first.columns:
        if column.required and column.name not in mapping and normalize_key(column.name) not in defaults:
            absent.add(column.name)
            hint = f" (and no {_flag(column.name)} default was given)" if column.name in flags else ""
            problems.append(TaskFileProblem(file, None, column.name, f"required column {column.name!r} is missing{hint}{_near_misses(column.name, task, mapping)}"))
    try:
        template = NameTemplate(options.name or tool.default_name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    missing = template.missing([*task.columns, "id", "row"])
    if missing:
        raise UsageError(f"--name uses {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not a column of {file}")
    # Header problems and the task file's own row problems (bad or duplicate ids) are reported
    # with every row's problems, all at once.
    problems.extend(task_problems)

    prepared: list[PreparedRow] = []
    names: list[str] = []
    base = task.path.parent
    endpoints: dict[tuple[int, str | int], Endpoint | None] = {}  # looked up once per batch, not per row
    for row in task.rows:
        values, row_problems = _convert_row(row, first.columns, mapping, defaults, base, file, absent)
        if lexicon is not None and text_column is not None:
            values = _pronounced(values, lexicon, text_column)
        calls: dict[str, Call] = {}
        if not row_problems:
            earlier = previous.get(row.id, {}).get("generated") or {}
            seeds = pick_seeds(first.columns, values, earlier)
            for key, plan, api in plans:
                try:
                    call = plan.prepare({**values, **seeds}, earlier)
                except RowProblem as exc:
                    shown = mapping.get(exc.column, exc.column) if exc.column else None
                    row_problems.append(TaskFileProblem(file, row.line, shown, str(exc), id=row.id))
                    break
                calls[key] = _as_browser_sends(call, plan, api, endpoints, {**seeds, **call.generated})
        problems.extend(row_problems)
        if row_problems:
            continue
        call = calls[plans[0][0]]
        names.append(template.render({**row.values, "id": row.id, "row": row.line}))
        digest = functools.partial(input_hash, _sent(call), call.generated, first.fingerprint())
        prepared.append(PreparedRow(row, call, "", digest, values, calls))
    problems.extend(_unused_defaults(task, first, mapping, defaults, file))
    if problems:
        raise ValidationError(_one_line_per_cause(problems))
    for item, name in zip(prepared, names, strict=True):
        item.name = name  # made unique, and stable across runs, by `_resume.assign_names`
    return prepared


def _pronounced(values: dict[str, Any], lexicon: Lexicon, text_column: str) -> dict[str, Any]:
    written = values.get(text_column)
    if not isinstance(written, str):
        return values
    said = lexicon.apply(written)
    return values if said == written else {**values, text_column: said, f"{text_column}_as_written": written}


def pick_seeds(columns: Sequence[Column], values: Mapping[str, Any], earlier: Mapping[str, Any]) -> dict[str, int]:
    """A seed for every seed column the row left empty (`gbatch.seed_column`): the seed an
    earlier run chose for this row when it is still valid, else a new random one. They go to
    `Plan.prepare` with the row's values and into `Call.generated` (journaled, and left out of
    the row's input hash)."""
    chosen: dict[str, int] = {}
    for column in columns:
        if not column.seed or values.get(column.name) is not None:
            continue
        low, high = int(column.minimum or 0), int(column.maximum or 0)
        seed = earlier.get(column.name)
        if isinstance(seed, bool) or not isinstance(seed, int) or not low <= seed <= high:
            seed = _RANDOM.randint(low, high)
        chosen[column.name] = seed
    return chosen


def _sent(call: Call) -> Mapping[str, Any]:
    """What a row sends, for its input hash: its values, each earlier step's and the server
    state it needs (a one-step call hashes as it always did, so existing journals stay valid)."""
    sent: dict[str, Any] = {**call.kwargs, **call.server_paths}
    if call.before:
        sent[" before"] = [{"endpoint": step.endpoint, **step.kwargs} for step in call.before]
    if call.state is not None:
        sent[" state"] = call.state.key  # another voice is another output
    return sent


def _one_line_per_cause(problems: list[TaskFileProblem]) -> list[TaskFileProblem]:
    """A bad command-line default (`--prompt-audio missing.wav`) is one problem, not one per row."""
    seen: dict[tuple[str | None, str], int] = {}
    kept: list[TaskFileProblem] = []
    for problem in problems:
        if not (problem.column or "").startswith("--"):
            kept.append(problem)
            continue
        key = (problem.column, problem.message)
        if key in seen:
            seen[key] += 1
            continue
        seen[key] = 1
        kept.append(problem)
    return [
        TaskFileProblem(p.file, None, p.column, f"{p.message} (the {p.column} default, used by {seen[(p.column, p.message)]} rows)")
        if (p.column or "").startswith("--") and seen.get((p.column, p.message), 1) > 1
        else p
        for p in kept
    ]


def _unused_defaults(task: TaskFile, plan: Plan, mapping: Mapping[str, str], defaults: Mapping[str, Any], file: str) -> list[TaskFileProblem]:
    """A `--flag` default that no row uses (each gives its own value) is still checked, as the
    first row would see it with its cell left empty: `--speaker carol` for a server without
    carol is a mistake whether or not a row needs it today."""
    if not task.rows:
        return []
    first = task.rows[0]
    problems: list[TaskFileProblem] = []
    for column in plan.columns:
        header = mapping.get(column.name)
        key = normalize_key(column.name)
        if header is None or key not in defaults or any(column.is_empty(row.values.get(header)) for row in task.rows):
            continue  # no default, or a row uses it and was checked with it
        flag = _flag(column.name)
        probe = TaskRow(first.id, first.line, {**first.values, header: ""})
        values, found = _convert_row(probe, plan.columns, mapping, defaults, task.path.parent, file, set())
        messages = [p.message for p in found if p.column == flag]
        if not found:
            try:
                plan.prepare(values, {})
            except RowProblem as exc:
                if exc.column == column.name:
                    messages.append(str(exc))
        problems.extend(TaskFileProblem(file, None, flag, f"{flag} {defaults[key]!r}: {m} (no row uses this default, but it does not fit this server)") for m in messages)
    return problems


def _convert_row(
    row: TaskRow, columns: Sequence[Column], mapping: Mapping[str, str], defaults: Mapping[str, Any], base: Path, file: str, absent: set[str]
) -> tuple[dict[str, Any], list[TaskFileProblem]]:
    values: dict[str, Any] = {}
    problems: list[TaskFileProblem] = []
    for column in columns:
        header = mapping.get(column.name)
        raw = row.values.get(header) if header else None
        where = header or _flag(column.name)
        source_dir = base
        if column.is_empty(raw) and normalize_key(column.name) in defaults:
            # A command-line default is relative to where the command runs, not to the task file.
            raw, source_dir = defaults[normalize_key(column.name)], Path.cwd()
            where = _flag(column.name)
        try:
            value = column.convert(raw, source_dir)
        except ValueError as exc:
            problems.append(TaskFileProblem(file, row.line, where, str(exc), id=row.id))
            continue
        if value is None or (column.required and value == ""):
            if column.name in absent:
                continue  # already reported once for the whole file
            if column.required:
                problems.append(TaskFileProblem(file, row.line, header or column.name, "a value is required", id=row.id))
                continue
            value = column.default
        values[column.name] = value
    return values, problems


def _as_browser_sends(
    call: Call, plan: Plan, api: ServerApi, endpoints: dict[tuple[int, str | int], Endpoint | None], generated: dict[str, Any] | None = None
) -> Call:
    """The call with numbers as the web page sends them (42.0 as 42; precision honoured),
    so the dry run, the input hash and the wire all see the same values; `generated`, when
    given, replaces the call's own (the row's seeds merged in).

    `endpoints` remembers each server's endpoint by reference across the batch's rows."""
    ref = call.endpoint if call.endpoint is not None else plan.api_name
    slot = (id(api), ref)
    if slot not in endpoints:
        endpoints[slot] = api.endpoint(ref)
    kwargs = browser_values(endpoints[slot], call.kwargs)
    before = tuple(_as_browser_sends(step, plan, api, endpoints) for step in call.before)
    return Call(kwargs, call.generated if generated is None else generated, call.endpoint, before, call.state, dict(call.server_paths))

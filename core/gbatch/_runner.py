"""`run_batch`: a task file, a tool and some servers in; a journal, outputs and
`results.csv` out. This module strings the rooms together — servers, preparing
rows, resuming, the executor — and is the one place that knows all of them.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ._api import ServerApi
from ._batch import HAS_TAKE, BatchOptions, BatchResult, PreparedRow, plain_values
from ._binding import bind_columns
from ._book import is_book
from ._book._run import BookRun, start_book
from ._call import call, cause_of, classify, describe
from ._checks import take_findings
from ._columns import normalize_key
from ._each import cross, parse_each
from ._errors import CallError, ConnectionLost, PluginError, RowFailed, ServerError, TaskFileProblem, UsageError
from ._executor import Attempt, ErrorKind, ExecutorReport, ItemOutcome, Listener, RetryPolicy, ServerSlots, execute
from ._gate import StateGate
from ._journal import Journal, write_results
from ._outputs import atomic_write, clean_partials, sanitize
from ._prepare import column_map, prepare_batch
from ._resume import (
    OutLock,
    applied_copy,
    assign_names,
    read_redo,
    refuse_foreign_files,
    rename_outputs,
    select_rows,
    set_redo_aside,
    start_redo,
)
from ._review import write_review
from ._servers import Connected, Server, connect_servers, parse_server, redact, redact_url
from ._slots import DEFAULT_CAP, Learning, Slots
from ._states import parse_pin
from ._takes import RETAKING, Takes, connect_checks, row_text
from ._tasks import TaskFile, read_tasks
from ._tool import Call, Plan, ServerState, Tool
from .transports import AutoTransport
from .transports.base import CallResult, ServerFile, ServerSession, Transport, TransportRequest

__all__ = ["BatchOptions", "BatchResult", "PreparedRow", "parse_server", "run_batch"]


@dataclass
class _Group:
    """Servers that publish the same API share one plan (and one shape of call)."""

    key: str
    plan: Plan
    api: ServerApi


@dataclass
class _Batch:
    """One batch in progress: what the helpers below share."""

    tool: Tool
    groups: dict[str, _Group]
    group_of: dict[str, str]  # server URL -> group key
    servers: dict[str, Server]
    task: TaskFile
    options: BatchOptions
    journal: Journal
    history: dict[str, dict[str, Any]]
    out_dir: Path
    secrets: list[str]
    listener: Listener | None
    say: Callable[[str], None]
    redo: list[str]
    lock: OutLock
    #: --check-server: takes checked by recognisers, regenerated when wrong
    takes: Takes | None = None
    #: voice switches made per server label (rows that need a server state)
    switches: dict[str, int] = field(default_factory=dict)
    book: BookRun | None = None

    @property
    def plan(self) -> Plan:
        return next(iter(self.groups.values())).plan


class _RowOutputs:
    """The `gbatch.Outputs` a plan writes one row's results through (worker thread)."""

    def __init__(self, out_dir: Path, name: str, call: Call, session: ServerSession, logs: Sequence[tuple[str, str]]) -> None:
        self.out_dir = out_dir
        self.call = call
        self._name = name
        self._session = session
        self._logs = list(logs)
        self.files: list[Path] = []
        self.values: dict[str, Any] = {}
        self.warnings: list[str] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def logs(self) -> Sequence[tuple[str, str]]:
        return self._logs

    def url(self, file: ServerFile | str) -> str:
        return file.url if isinstance(file, ServerFile) else str(file)

    def fetch(self, file: ServerFile | str) -> bytes:
        return self._session.fetch(file)

    def write(self, data: bytes, suffix: str, label: str | None = None) -> Path:
        # A label or suffix may come from the server (an output's label): never a path.
        safe_suffix = "." + sanitize(suffix.lstrip(".")) if suffix else ""
        stem = f"{self._name}.{sanitize(label)}" if label else self._name
        path = atomic_write(self.out_dir / f"{stem}{safe_suffix}", data)
        self.files.append(path)
        return path

    def value(self, name: str, value: Any) -> None:
        self.values[name] = value

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def run_batch(
    tool: Tool,
    tasks: str | Path | None,
    options: BatchOptions,
    *,
    listener: Listener | None = None,
    transport: Transport | None = None,
    say: Callable[[str], None] = print,
) -> BatchResult:
    """Validate every row, then run the batch; see `BatchOptions` for the knobs.

    :param tasks: the task file; None when `options.each` makes the rows.
    :param transport: how servers are reached; by default the one each server's
        Gradio version needs (`gbatch.transports.AutoTransport`).

    Raises `ValidationError` (nothing sent), `NoServerError`, `ServerError` or
    `UsageError` before any row is sent; row failures are counted, not raised.
    """
    started = time.monotonic()
    jobs = options.jobs
    if jobs is not None and jobs < 1:
        raise UsageError("--jobs must be at least 1")
    servers = list(options.servers) or ([tool.default_server] if tool.default_server else [])
    if not servers:
        raise UsageError("Give at least one --server URL")
    # With one server, -j is its slot count; otherwise each server's own concurrency decides.
    backends = [parse_server(s, jobs if (jobs and len(servers) == 1) else 0) for s in servers]
    task_problems: list[TaskFileProblem] = []  # rows with bad or duplicate ids: reported with all the others
    if not options.cluster and any(b.url.startswith("local:") for b in backends):
        raise UsageError("--server local:URL names each cluster worker's own server: it needs --cluster")
    reading_book = tasks is not None and is_book(Path(tasks), options.book)
    task: TaskFile | None = None
    if not reading_book:
        task = cross(
            read_tasks(tasks, encoding=options.encoding, delimiter=options.delimiter, problems=task_problems) if tasks is not None else None,
            [parse_each(spec) for spec in options.each],
        )
        for note in task.notes:
            say(f"note: {note}")
        tool = tool.for_task(task.columns)
    elif options.each:
        raise UsageError("--each crosses the rows of a task file, not a book's pieces: split the book first (gbatch split)")
    else:
        # A book's pieces go to the text column (`gbatch run --text-param`): the endpoint that has it fits.
        tool = tool.for_task([options.book.text_column] if options.book and options.book.text_column else [])
    out_dir = Path(options.out or tool.default_out).resolve()
    journal = Journal(out_dir)
    lock = OutLock(out_dir)
    if transport is None and options.cluster:
        try:
            from ._cluster import cluster_transport  # distributed is imported only when a cluster is named
        except ImportError:
            raise UsageError("--cluster needs Dask: pip install 'gbatch[dask]'") from None
        transport = cluster_transport(options.cluster)
    connected = _connect(backends, options, transport or AutoTransport(), tool)
    checks: Connected | None = None
    try:
        for problem in connected.unreachable:
            say(f"warning: skipping unreachable server {problem}")
        groups, group_of = _plan(tool, connected.servers, options.tool_options)
        book_task, book = start_book(Path(tasks) if tasks is not None else None, task, options.book, [g.plan for g in groups.values()])
        assert book_task is not None
        task = book_task
        for server in connected.servers:
            _setup(server, groups[group_of[server.url]].plan)
        notices = {g.plan.notice for g in groups.values() if g.plan.notice}
        for notice in sorted(notices):
            say(notice)
        if out_dir.exists() and not options.dry_run:
            # Before reading the journal: renames (--rename), kept takes and rows all happen
            # under the lock. A folder not made yet is locked, and made, once the rows validate.
            lock.take()
        history = journal.read()
        redo = _redo_rows(options.redo, [r.id for r in task.rows], say)
        # A row done again gets a new seed (unless it fixes its own): hide what it generated before.
        previous = {k: v for k, v in history.items() if k not in set(redo) and v.get("status") != RETAKING}
        lexicon, text_column = (book.lexicon, book.text_column) if book else (None, None)
        prepared = prepare_batch(task, [(g.key, g.plan, g.api) for g in groups.values()], options, tool, previous, task_problems, lexicon, text_column)
        _names(prepared, history, journal, out_dir, options, say)
        first = next(iter(groups.values())).plan
        mapping, _ = column_map(task, first.columns)
        unused = [h for h in task.columns if h not in mapping.values() and normalize_key(h) != "id"]
        if unused:
            # Not an error (they can name or group outputs), but a typo here would silently send a default.
            say(f"note: column{'s' if len(unused) > 1 else ''} not sent to the server: {', '.join(unused)}")
        secrets = options.connection.secrets()
        batch = _Batch(tool, groups, group_of, {s.url: s for s in connected.servers}, task, options, journal, history, out_dir, secrets, listener, say, redo, lock, book=book)
        if options.check_servers and not options.dry_run:
            checks = _start_checks(batch, transport or AutoTransport())
        try:
            return _run(batch, prepared, started)
        finally:
            if batch.takes is not None:
                batch.takes.close()
    finally:
        if checks is not None:
            checks.close()
        journal.close()
        lock.release()
        connected.close()


def _start_checks(batch: _Batch, transport: Transport) -> Connected | None:
    """Connect the recognisers; the batch's takes are checked from now on."""
    options = batch.options
    if options.takes < 1:
        raise UsageError("--takes must be at least 1")
    if not 0 <= options.max_error <= 1:
        raise UsageError("--max-error is a fraction of the words or characters, from 0 to 1")
    if not batch.plan.text_column:
        raise UsageError(f"--check-server: tool {batch.tool.name!r} does not say which column holds a row's text (for gbatch run: --text-param NAME)")
    stage, connected = connect_checks(options.check_servers, options.check_api, options.connection, transport, options.timeout, batch.say)
    batch.takes = Takes(
        stage, out_dir=batch.out_dir, journal=batch.journal, history=batch.history,
        text_column=batch.plan.text_column, max_error=options.max_error, max_takes=options.takes,
    )  # fmt: skip
    return connected


def _redo_rows(path: Path | None, known: Sequence[str], say: Callable[[str], None]) -> list[str]:
    """The rows `--redo` names; none when an earlier run applied that file (and moved it aside)."""
    if path is None:
        return []
    if not path.exists() and applied_copy(path).exists():
        say(f"note: {path} was applied by an earlier run (now {applied_copy(path).name}); no row is redone. Mark takes in the review page again to redo them")
        return []
    return read_redo(path, known)


def _names(prepared: Sequence[PreparedRow], history: dict[str, dict[str, Any]], journal: Journal, out_dir: Path, options: BatchOptions, say: Callable[[str], None]) -> None:
    renamed = assign_names(prepared, history)
    if not renamed:
        return
    if options.rename and not options.dry_run:
        rename_outputs(renamed, history, journal, out_dir, say)
        return
    # Without --rename a finished row keeps its file and the name it had: say so.
    for item, old in renamed:
        item.name = old
    example = renamed[0]
    say(
        f"note: {len(renamed)} finished row{'s' if len(renamed) != 1 else ''} keep the names an earlier run gave them "
        f"(row {example[0].row.id}: {example[1]!r}); --rename moves them to the names --name gives now"
    )


def _connect(backends: Sequence[ServerSlots], options: BatchOptions, transport: Transport, tool: Tool) -> Connected:
    # Until the server's API is known, size each session for the most rows it may get.
    provisional = [b if b.slots else ServerSlots(b.url, DEFAULT_CAP, b.label) for b in backends]
    connected = connect_servers(provisional, options.connection, transport)
    chosen = {b.url: b for b in backends}
    for server in connected.servers:
        server.backend = chosen[server.url]
    return connected


def _plan(tool: Tool, servers: Sequence[Server], tool_options: Mapping[str, Any]) -> tuple[dict[str, _Group], dict[str, str]]:
    """One plan per distinct API: servers of one app with different UIs each get calls shaped for them."""
    groups: dict[str, _Group] = {}
    group_of: dict[str, str] = {}
    resolved = resolve_options(tool, tool_options)
    for server in servers:
        key = _api_shape(server.api)
        if key not in groups:
            groups[key] = _Group(key, make_plan(tool, server.api, resolved), server.api)
        group_of[server.url] = key
    return groups, group_of


def resolve_options(tool: Tool, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every `Tool.options` entry: the given value or the option's default, checked against its choices and range."""
    known = {o.name for o in tool.options}
    unknown = sorted(set(given) - known)
    if unknown:
        raise UsageError(f"tool {tool.name!r} has no option {', '.join(unknown)}; its options: {', '.join(sorted(known)) or 'none'}")
    return {option.name: option.resolve(given.get(option.name)) for option in tool.options}


def make_plan(tool: Tool, api: ServerApi, options: Mapping[str, Any]) -> Plan:
    """The tool's plan for this server, with the library's defaults: `api_name` and `columns`
    from the tool, the tool's columns bound to their endpoint parameters (`Column(param=...)`)."""
    plan = tool.plan(api, options)
    if not getattr(plan, "api_name", None):
        if not tool.api_name:
            raise PluginError(f"tool {tool.name!r}: its plan names no endpoint (set Plan.api_name, or Tool.api_name)")
        plan.api_name = tool.api_name
    endpoint = api.endpoint(plan.api_name)
    if endpoint is None:
        found = "\n  ".join(e.signature() for e in api.every_endpoint()) or "(none)"
        raise ServerError(f"{api.url} has no endpoint {plan.api_name!r}, which tool {tool.name!r} calls. Its endpoints:\n  {found}")
    if not getattr(plan, "columns", None):
        plan.columns = bind_columns(tool.columns, endpoint)  # a plan that sets its own columns binds them
    return plan


def _api_shape(api: ServerApi) -> str:
    return f"{api.major}|" + ";".join(f"{e.signature()}:{[p.component for p in e.parameters]}" for e in api.every_endpoint())


def _setup(server: Server, plan: Plan) -> None:
    """Run the plan's per-server setup (main thread, before rows are prepared)."""
    try:
        plan.setup(server)
    except CallError as exc:
        raise ServerError(f"{server.label}: setting up the server failed: {server.redact(describe(exc))}") from None
    server.needs_setup = False


def _slots(server: Server, plan: Plan, tool: Tool, queue_ahead: int | None) -> tuple[ServerSlots, Slots]:
    """How many rows go to a server at once, learned while the batch runs (`gbatch._slots`).

    A queued endpoint: the server's queue says which rows wait and which run; `queue_ahead`
    rows of ours wait there, the rest is what the server grants, up to `URL=N` (or -j with
    one server), else `DEFAULT_CAP`. An endpoint without a queue: additive increase while
    latency stays flat, up to `URL=N`/-j, else the tool's `slots_per_server` (nothing
    protects such an app from overlapping calls but the tool's word)."""
    backend = server.backend
    endpoint = server.api.endpoint(plan.api_name)
    queued = endpoint is None or endpoint.queued
    known = server.session.concurrency(endpoint) if endpoint is not None else None
    cap = backend.slots or (DEFAULT_CAP if queued else max(1, tool.slots_per_server))
    how = Learning.QUEUE if queued else Learning.LATENCY
    start = min(cap, known or tool.slots_per_server)
    return ServerSlots(backend.url, cap, backend.label), Slots(cap, queue_ahead=queue_ahead, how=how, start=start)


def _run(batch: _Batch, prepared: list[PreparedRow], started: float) -> BatchResult:
    options, history, out_dir, journal = batch.options, batch.history, batch.out_dir, batch.journal
    backends = []
    learning: dict[str, Slots] = {}
    for server in batch.servers.values():
        server.backend, learning[server.url] = _slots(server, batch.groups[batch.group_of[server.url]].plan, batch.tool, options.queue_ahead)
        server.session.slots = server.backend.slots
        backends.append(server.backend)
    to_run = select_rows(prepared, history, options, out_dir, batch.redo)
    if not options.overwrite and out_dir.exists():
        refuse_foreign_files(to_run, journal, history, out_dir, batch.task)
    sending = {item.row.id for item in to_run}
    # Rows this run does not send are done earlier, or (with --retry-failed) still waiting to run.
    done_before = [p for p in prepared if p.row.id not in sending and (history.get(p.row.id) or {}).get("status") in HAS_TAKE]
    waiting = [p for p in prepared if p.row.id not in sending and (history.get(p.row.id) or {}).get("status") not in HAS_TAKE]
    result = BatchResult(
        total=len(prepared),
        succeeded=0,
        failed=0,
        skipped=len(done_before),
        not_run=len(waiting),
        interrupted=False,
        halted=False,
        out_dir=out_dir,
        journal=journal.path,
        results=None,
        seconds=0.0,
        rows=[],
        dry_run=options.dry_run,
        planned=to_run,
        servers=[_describe_slots(s, learning[s.url]) for s in batch.servers.values()],
    )
    if options.dry_run:
        result.succeeded = len(done_before)
        result.seconds = time.monotonic() - started
        return result

    for line in result.servers:
        batch.say(f"server {line}")
    # Taken once nothing is left to check: a folder that fails validation is not even created.
    batch.lock.take()
    clean_partials(out_dir)
    if batch.redo:
        start_redo(to_run, history, journal, out_dir, keep=options.keep_takes)
        if options.redo is not None:
            moved = set_redo_aside(options.redo)
            batch.say(f"note: {options.redo} moved to {moved.name}: the same command run again redoes nothing more")
    if batch.takes is None:
        report = _execute(batch, to_run, backends, learning)
    else:
        report = _execute_checked(batch, batch.takes, to_run, done_before, backends, learning)
    return _report(batch, prepared, to_run, waiting, report, result, started)


def _report(
    batch: _Batch,
    prepared: Sequence[PreparedRow],
    to_run: Sequence[PreparedRow],
    waiting: Sequence[PreparedRow],
    report: ExecutorReport[dict[str, Any]],
    result: BatchResult,
    started: float,
) -> BatchResult:
    history, out_dir = batch.history, batch.out_dir
    not_run = set(report.not_run) | {p.row.id for p in waiting}
    rows = [
        {"id": item.row.id, "line": item.row.line, "status": "not run", "name": item.name}
        if item.row.id in not_run or item.row.id not in history
        else history[item.row.id]
        for item in prepared
    ]
    result.rows = rows
    result.succeeded = sum(1 for r in rows if r.get("status") == "ok")
    result.failed = sum(1 for o in report.outcomes if not o.ok)
    result.check_failed = sum(1 for r in rows if r.get("status") == "check failed")
    result.unchecked = sum(1 for r in rows if r.get("status") == "unchecked")
    result.not_run = len(not_run) + sum(1 for r in rows if r.get("status") == RETAKING)
    result.interrupted, result.halted = report.interrupted, report.halted
    learned = [(server, report.slots.get(server.url)) for server in batch.servers.values()]
    result.slots = {server.label: found.as_dict() for server, found in learned if found is not None}
    result.servers = [f"{server.label}: {found.describe()}" for server, found in learned if found is not None] or result.servers
    result.switches = dict(batch.switches)
    table = [{**rec, "row": item.row.values} for item, rec in zip(prepared, rows, strict=True)]
    result.results = write_results(out_dir, table, batch.task.columns)
    if batch.options.review:
        result.review = write_review(out_dir, task_columns=batch.task.columns)
    if not report.interrupted:
        finished = [{**rec, "row": item.row.values, "inputs": plain_values(item.values)} for item, rec in zip(prepared, rows, strict=True)]
        batch.plan.finish(finished, out_dir, batch.say)
        if batch.book is not None:
            batch.book.finish(finished, out_dir, batch.say)
    result.seconds = time.monotonic() - started
    return result


def _describe_slots(server: Server, slots: Slots) -> str:
    """What a server gets, before the batch runs (the dry run shows this)."""
    version = f"{server.label} (gradio {server.api.version or '?'})"
    if slots.how is Learning.LATENCY:
        return f"{version}: no queue; slots learned while running by latency (AIMD), from {slots.current()} up to {slots.cap}"
    waiting = f"{slots.queue_ahead} row(s)" if not slots.auto else f"enough rows to cover one round trip ({slots.queue_ahead} at first)"
    return f"{version}: slots learned while running from its queue, {waiting} kept waiting there, at most {slots.cap} at once"


def _send(server: Server, plan: Plan, step: Call, session: str, attempt: Attempt) -> CallResult:
    ref = step.endpoint if step.endpoint is not None else plan.api_name
    endpoint = server.api.endpoint(ref)
    if endpoint is None:
        raise CallError(f"{server.label} has no endpoint {ref!r}")
    progress = plan.progress if type(plan).progress is not Plan.progress else None
    # step.kwargs are already as a browser sends them (prepare_batch, for this server's API)
    return call(server.session, TransportRequest(endpoint, step.kwargs, session), attempt, progress=progress)


def _ensure_setup(server: Server, plan: Plan) -> bool:
    """Run setup again if the server lost its session (restarted: what setup loaded is gone); True if it ran."""
    ran = False
    if not server.needs_setup:
        return ran
    with server.setup_lock:
        if server.needs_setup:  # not if another row's thread did it meanwhile
            server.state = None
            plan.setup(server)
            server.needs_setup = False
            ran = True
    return ran


def _overrides_setup(plan: Plan) -> bool:
    return type(plan).setup is not Plan.setup


def _execute(batch: _Batch, to_run: Sequence[PreparedRow], backends: Sequence[ServerSlots], learning: Mapping[str, Slots]) -> ExecutorReport[dict[str, Any]]:
    """Send the rows; journal each one as it finishes (in the calling thread)."""
    options, out_dir, secrets = batch.options, batch.out_dir, batch.secrets
    by_id = {item.row.id: item for item in to_run}
    failed_logs: dict[str, list[tuple[str, str]]] = {}
    failed_cause: dict[str, str] = {}

    gates = {url: StateGate(server.state) for url, server in batch.servers.items()}

    def work(attempt: Attempt) -> dict[str, Any]:
        # Worker thread: the row's request(s), then the plan saves what came back.
        item: PreparedRow = attempt.payload
        server = batch.servers[attempt.backend.url]
        key = batch.group_of[server.url]
        plan = batch.groups[key].plan
        row_call = item.calls.get(key, item.call)
        if attempt.number == 1:
            # Claim the output name before any file can be written under it (see Journal).
            batch.journal.claim(item.name)
        logs: list[tuple[str, str]] = []
        # One server session per attempt: the steps of a row share gr.State, rows do not.
        session = f"{item.row.id}#{attempt.number}"
        try:
            if _ensure_setup(server, plan):
                gates[server.url].assume(server.state)
            with _in_state(batch, server, plan, gates[server.url], row_call.state, item, attempt):
                for step in row_call.before:
                    logs.extend(_send(server, plan, step, session, attempt).logs)
                result = _send(server, plan, _with_server_paths(row_call, server), session, attempt)
            logs.extend(result.logs)
            outputs = _RowOutputs(out_dir, item.name, row_call, server.session, logs)
            plan.collect(result, outputs)
        except BaseException as exc:
            if isinstance(exc, ConnectionLost):
                # A restarted server forgot what setup and the last switch loaded.
                gates[server.url].forget()
                if _overrides_setup(plan):
                    server.needs_setup = True
            failed_logs[item.row.id] = logs + list(getattr(exc, "logs", []) or [])
            failed_cause[item.row.id] = cause_of(exc)
            raise
        warnings = [text for level, text in logs if level.lower() == "warning"]
        findings, flagged = take_findings(outputs.files, row_text(item, plan.text_column) or None, item.values)
        if options.strict and warnings:
            failed_logs[item.row.id] = logs
            failed_cause[item.row.id] = "app"
            raise RowFailed(f"--strict: the server warned: {warnings[0]}")
        return {
            "outputs": [str(p.relative_to(out_dir)) for p in outputs.files],
            "values": outputs.values,
            "warnings": warnings + outputs.warnings + flagged,
            "logs": [[level, text] for level, text in logs],
            "checks": findings,
        }

    def explain(plan: Plan, message: str, row_call: Call, cause: str) -> str:
        # Plans written before `cause` existed take (message, call) only.
        if len(inspect.signature(plan.explain).parameters) >= 3:
            return plan.explain(message, row_call, cause)
        return plan.explain(message, row_call)

    class Recorder(Listener):
        def row_finished(self, outcome: ItemOutcome[Any]) -> None:
            item = by_id[outcome.id]
            body = outcome.value or {}
            # A row's record tells of the attempt that decided it: a retry that succeeded
            # carries its own logs and warnings (maybe none), not those of the attempt that failed.
            if outcome.ok:
                logs, warnings = body.get("logs") or [], body.get("warnings") or []
            else:
                logs = body.get("logs") or [[level, text] for level, text in failed_logs.get(item.row.id, [])]
                warnings = body.get("warnings") or [text for level, text in logs if level.lower() == "warning"]
            server_url = outcome.backend_url or ""
            group = batch.groups.get(batch.group_of.get(server_url, ""), next(iter(batch.groups.values())))
            row_call = item.calls.get(group.key, item.call)
            error = None
            if not outcome.ok:
                error = redact(explain(group.plan, outcome.error or "failed", row_call, failed_cause.get(item.row.id, "output")), secrets)
            record = {
                "id": item.row.id,
                "line": item.row.line,
                "name": item.name,
                "input_hash": item.hash,
                "status": "ok" if outcome.ok else "failed",
                "attempts": outcome.attempts,
                "backend": outcome.backend and redact_url(outcome.backend),
                "started": _iso(outcome.started),
                "ended": _iso(outcome.ended),
                "duration": round((outcome.ended or 0) - outcome.started, 3) if outcome.started else None,
                "outputs": body.get("outputs", []),
                "values": body.get("values", {}),
                "error": error,
                "cause": None if outcome.ok else failed_cause.get(item.row.id, "output"),
                "warnings": warnings,
                "logs": logs,
                "generated": item.call.generated,
                "inputs": plain_values(item.values),
                "takes": (batch.history.get(item.row.id) or {}).get("takes") or [],
                "tool": batch.tool.name,
                "checks": body.get("checks") or [],
            }
            # A server may echo a secret (a header, a token) in a warning, a log line or a value.
            for key in ("warnings", "logs", "values"):
                record[key] = _redacted(record[key], secrets)
            if batch.takes is not None:
                record = batch.takes.generated(item, record)
            batch.journal.append(record)
            batch.history[item.row.id] = record
            if batch.takes is not None:
                batch.takes.collect()
            if error is not None:
                outcome.error = error  # the progress display shows what the journal says

    settings: dict[str, Any] = {
        "jobs": options.jobs,
        "policy": options.policy or RetryPolicy(retries=options.retries),
        "classify": functools.partial(classify, retry_app_errors=options.retry_app_errors),
        "describe": lambda exc: redact(describe(exc), secrets),
        "timeout": options.timeout,
        "halt_on_failures": options.halt_on_failures,
        "listener": _Fanout([Recorder(), batch.listener or Listener()]),
    }
    states = [item.call.state.key if item.call.state else None for item in to_run]
    if options.cluster:
        if any(states):
            raise UsageError("this tool's rows need a voice loaded on the server, which --cluster does not schedule yet: use --server")
        from ._cluster import execute_on_cluster

        return execute_on_cluster(batch, to_run, failed_logs, failed_cause, slots=learning, **settings)
    report = execute(
        [(item.row.id, item) for item in to_run], work, backends, states=states, pins=_pins(batch, to_run), slots=learning, **settings
    )
    batch.switches = {batch.servers[url].label: len(gate.switches) for url, gate in gates.items() if gate.switches}
    return report


def _pins(batch: _Batch, to_run: Sequence[PreparedRow]) -> dict[str, set[str]]:
    """`--pin VOICE@URL` as state key -> server URLs; a voice or server the batch lacks is a usage error."""
    known: dict[str, str] = {}
    for item in to_run:
        state = item.call.state
        if state is not None:
            known.setdefault(state.key, state.key)
            known.setdefault(str(state), state.key)
    pins: dict[str, set[str]] = {}
    for text in batch.options.pins:
        pin = parse_pin(text)
        if pin.url not in batch.servers:
            raise UsageError(f"--pin {text!r}: {redact_url(pin.url)} is not one of this batch's --server URLs")
        key = known.get(pin.state) or next((k for name, k in known.items() if name.casefold() == pin.state.casefold()), None)
        if key is None:
            names = sorted({name for name, k in known.items() if name != k} or set(known))
            raise UsageError(f"--pin {text!r}: no row to run needs {pin.state!r}; the voices: {', '.join(names) or 'none'}")
        pins.setdefault(key, set()).add(pin.url)
    return pins


@contextlib.contextmanager
def _in_state(batch: _Batch, server: Server, plan: Plan, gate: StateGate, state: ServerState | None, item: PreparedRow, attempt: Attempt) -> Iterator[None]:
    """Run the body with `server` in the state the row needs: switched if need be (and the
    switch journaled and reported), waiting while rows of another state still run there."""
    if state is None:
        yield
        return
    reads = type(plan).read_state is not Plan.read_state
    with gate.holding(state.key, lambda: plan.apply_state(server, state), attempt.cancelled, (lambda: plan.read_state(server)) if reads else None) as took:
        if took is not None:
            batch.journal.append(
                {"event": "switch", "server": server.label, "state": str(state), "key": state.key, "row": item.row.id, "seconds": round(took, 3), "at": _iso(time.time())}
            )
        attempt.report(code="state", server=server.label, state=str(state), switched=took is not None, switches=len(gate.switches))
        yield


def _with_server_paths(call: Call, server: Server) -> Call:
    """The call with each `server_paths` file uploaded to this server and its path as the value."""
    if not call.server_paths:
        return call
    kwargs = {**call.kwargs, **{name: server.session.upload(file) for name, file in call.server_paths.items()}}
    return Call(kwargs, call.generated, call.endpoint, call.before, call.state, {})


def _execute_checked(
    batch: _Batch,
    takes: Takes,
    to_run: Sequence[PreparedRow],
    done_before: Sequence[PreparedRow],
    backends: Sequence[ServerSlots],
    learning: Mapping[str, Slots],
) -> ExecutorReport[dict[str, Any]]:
    """Rounds of generation: each take is checked while the round goes on; rows whose
    checks ask for another take go into the next round, with a new seed."""

    def prepare_again(items: Sequence[PreparedRow]) -> list[PreparedRow]:
        task = replace(batch.task, rows=[item.row for item in items])
        plans = [(g.key, g.plan, g.api) for g in batch.groups.values()]
        return prepare_batch(task, plans, batch.options, batch.tool, {})

    report = _execute(batch, takes.first_round(to_run, done_before), backends, learning)
    while True:
        report.interrupted = takes.settle(report.interrupted)
        rows = [] if report.interrupted or report.halted else takes.retakes(prepare_again)
        if not rows:
            return report
        ids = [item.row.id for item in rows]
        batch.say(f"{len(ids)} take{'s' if len(ids) != 1 else ''} failed {'their' if len(ids) != 1 else 'its'} check; making another: {', '.join(ids[:8])}{' …' if len(ids) > 8 else ''}")
        again = _execute(batch, rows, backends, learning)
        report.interrupted, report.halted = again.interrupted, again.halted


def _redacted(value: Any, secrets: Sequence[str]) -> Any:
    """`value` with every string in it redacted, however deeply nested."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, list | tuple):
        return [_redacted(v, secrets) for v in value]
    if isinstance(value, Mapping):
        return {k: _redacted(v, secrets) for k, v in value.items()}
    return value


def _iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp).astimezone().isoformat(timespec="milliseconds")


class _Fanout(Listener):
    """Pass each progress callback to several listeners, in order."""

    def __init__(self, listeners: Sequence[Listener]) -> None:
        self._listeners = listeners

    def batch_started(self, total: int) -> None:
        for listener in self._listeners:
            listener.batch_started(total)

    def row_started(self, item_id: str, backend: str, attempt: int) -> None:
        for listener in self._listeners:
            listener.row_started(item_id, backend, attempt)

    def row_status(self, item_id: str, status: dict[str, Any]) -> None:
        for listener in self._listeners:
            listener.row_status(item_id, status)

    def row_retrying(self, item_id: str, attempt: int, error: str, delay: float, kind: ErrorKind) -> None:
        for listener in self._listeners:
            listener.row_retrying(item_id, attempt, error, delay, kind)

    def row_finished(self, outcome: ItemOutcome[Any]) -> None:
        for listener in self._listeners:
            listener.row_finished(outcome)

    def batch_finished(self, report: ExecutorReport[Any]) -> None:
        for listener in self._listeners:
            listener.batch_finished(report)

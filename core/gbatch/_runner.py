"""`run_batch`: a task file, a tool and some servers in; a journal, outputs and
`results.csv` out. This module strings the rooms together — servers, preparing
rows, resuming, the executor — and is the one place that knows all of them.
One row's attempt and its journal record live one floor down, in `_row`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ._api import ServerApi
from ._batch import HAS_TAKE, BatchOptions, BatchResult, PreparedRow, plain_values
from ._binding import bind_columns
from ._book import is_book
from ._book._run import start_book
from ._call import classify, describe
from ._columns import normalize_key
from ._each import cross, parse_each
from ._errors import CallError, PluginError, ServerError, TaskFileProblem, UsageError
from ._executor import ErrorKind, ExecutorReport, ItemOutcome, Listener, RetryPolicy, ServerSlots, execute
from ._gate import StateGate
from ._heap import LongLived
from ._history import History
from ._journal import Journal, write_results
from ._outputs import clean_partials
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
from ._row import BatchRun, Collected, Group, JournalRecorder
from ._servers import Connected, Server, connect_servers, parse_server, redact, redact_url
from ._slots import DEFAULT_CAP, Learning, Slots
from ._states import parse_pin
from ._takes import RETAKING, Takes, connect_checks
from ._tasks import TaskFile, read_tasks
from ._tool import Plan, Tool
from .transports import AutoTransport
from .transports.base import Transport

__all__ = ["BatchOptions", "BatchResult", "PreparedRow", "parse_server", "run_batch"]


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
    backends = _backends(tool, options)
    task_problems: list[TaskFileProblem] = []  # rows with bad or duplicate ids: reported with all the others
    with LongLived() as heap:
        with heap.making():
            task, tool = _read_input(tool, tasks, options, task_problems, say)
        out_dir = Path(options.out or tool.default_out).resolve()
        journal = Journal(out_dir)
        lock = OutLock(out_dir)
        connected = _connect(backends, options, transport or _default_transport(options), tool)
        checks: Connected | None = None
        try:
            run, task = _start(tool, connected, (tasks, task), options, journal, lock, out_dir, say)
            redo = _redo_rows(options.redo, [r.id for r in task.rows], say)
            with heap.making():
                prepared = _prepare(run, task, redo, task_problems)
            if options.check_servers and not options.dry_run:
                checks = _start_checks(run, transport or AutoTransport())
            try:
                return _run(run, task, prepared, redo, listener, lock, started)
            finally:
                if run.takes is not None:
                    run.takes.close()
        finally:
            if checks is not None:
                checks.close()
            journal.close()
            lock.release()
            connected.close()


def _backends(tool: Tool, options: BatchOptions) -> list[ServerSlots]:
    """The servers to use, as given (`URL=N`, or -j with one server), checked."""
    jobs = options.jobs
    if jobs is not None and jobs < 1:
        raise UsageError("--jobs must be at least 1")
    servers = list(options.servers) or ([tool.default_server] if tool.default_server else [])
    if not servers:
        raise UsageError("Give at least one --server URL")
    # With one server, -j is its slot count; otherwise each server's own concurrency decides.
    backends = [parse_server(s, jobs if (jobs and len(servers) == 1) else 0) for s in servers]
    if not options.cluster and any(b.url.startswith("local:") for b in backends):
        raise UsageError("--server local:URL names each cluster worker's own server: it needs --cluster")
    return backends


def _read_input(
    tool: Tool, tasks: str | Path | None, options: BatchOptions, problems: list[TaskFileProblem], say: Callable[[str], None]
) -> tuple[TaskFile | None, Tool]:
    """The task file's rows and the tool fitted to its columns; no rows yet for a book: its
    pieces are cut once the plans name the text column they go to (`_start`)."""
    if tasks is None or not is_book(Path(tasks), options.book):
        task = _read_task(tasks, options, problems, say)
        return task, tool.for_task(task.columns)
    if options.each:
        raise UsageError("--each crosses the rows of a task file, not a book's pieces: split the book first (gbatch split)")
    # A book's pieces go to the text column (`gbatch run --text-param`): the endpoint that has it fits.
    book = options.book
    return None, tool.for_task([book.text_column] if book and book.text_column else [])


def _read_task(tasks: str | Path | None, options: BatchOptions, problems: list[TaskFileProblem], say: Callable[[str], None]) -> TaskFile:
    read = read_tasks(tasks, encoding=options.encoding, delimiter=options.delimiter, problems=problems) if tasks is not None else None
    task = cross(read, [parse_each(spec) for spec in options.each])
    for note in task.notes:
        say(f"note: {note}")
    return task


def _default_transport(options: BatchOptions) -> Transport:
    if not options.cluster:
        return AutoTransport()
    try:
        from ._cluster import cluster_transport  # distributed is imported only when a cluster is named
    except ImportError:
        raise UsageError("--cluster needs Dask: pip install 'gbatch[dask]'") from None
    return cluster_transport(options.cluster)


def _start(
    tool: Tool,
    connected: Connected,
    given: tuple[str | Path | None, TaskFile | None],
    options: BatchOptions,
    journal: Journal,
    lock: OutLock,
    out_dir: Path,
    say: Callable[[str], None],
) -> tuple[BatchRun, TaskFile]:
    """Plan for each server's API, read the book (if `given` names one, or voices are given),
    set each server up, and read what earlier runs journaled (under the output folder's lock,
    when the folder exists). The batch, and its rows."""
    for problem in connected.unreachable:
        say(f"warning: skipping unreachable server {problem}")
    groups, group_of = _plan(tool, connected.servers, options.tool_options)
    # Before any server is set up: a book that cannot be read sends nothing.
    tasks, read = given
    task, book = start_book(Path(tasks) if tasks is not None else None, read, options.book, [g.plan for g in groups.values()])
    assert task is not None  # a task file was read, or the book made the rows
    for server in connected.servers:
        _setup(server, groups[group_of[server.url]].plan)
    for notice in sorted({g.plan.notice for g in groups.values() if g.plan.notice}):
        say(notice)
    if out_dir.exists() and not options.dry_run:
        # Before reading the journal: renames (--rename), kept takes and rows all happen
        # under the lock. A folder not made yet is locked, and made, once the rows validate.
        lock.take()
    servers = {s.url: s for s in connected.servers}
    run = BatchRun(tool, groups, group_of, servers, options, journal, History(journal.read()), out_dir, options.connection.secrets(), say, book=book)
    return run, task


def _start_checks(run: BatchRun, transport: Transport) -> Connected | None:
    """Connect the recognisers; the batch's takes are checked from now on."""
    options = run.options
    if options.takes < 1:
        raise UsageError("--takes must be at least 1")
    if not 0 <= options.max_error <= 1:
        raise UsageError("--max-error is a fraction of the words or characters, from 0 to 1")
    if not run.plan.text_column:
        raise UsageError(f"--check-server: tool {run.tool.name!r} does not say which column holds a row's text (for gbatch run: --text-param NAME)")
    stage, connected = connect_checks(options.check_servers, options.check_api, options.connection, transport, options.timeout, run.say)
    run.takes = Takes(
        stage, out_dir=run.out_dir, journal=run.journal, history=run.history,
        text_column=run.plan.text_column, max_error=options.max_error, max_takes=options.takes,
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


def _prepare(run: BatchRun, task: TaskFile, redo: Sequence[str], task_problems: list[TaskFileProblem]) -> list[PreparedRow]:
    """Every row checked and turned into calls (raises `ValidationError`), with its output name."""
    # A row done again gets a new seed (unless it fixes its own): hide what it generated before.
    previous = {k: v for k, v in run.history.items() if k not in set(redo) and v.get("status") != RETAKING}
    groups = [(g.key, g.plan, g.api) for g in run.groups.values()]
    lexicon, text_column = (run.book.lexicon, run.book.text_column) if run.book else (None, None)
    prepared = prepare_batch(task, groups, run.options, run.tool, previous, task_problems, lexicon, text_column)
    _names(prepared, run.history, run.journal, run.out_dir, run.options, run.say)
    mapping, _ = column_map(task, run.plan.columns)
    unused = [h for h in task.columns if h not in mapping.values() and normalize_key(h) != "id"]
    if unused:
        # Not an error (they can name or group outputs), but a typo here would silently send a default.
        run.say(f"note: column{'s' if len(unused) > 1 else ''} not sent to the server: {', '.join(unused)}")
    return prepared


def _names(prepared: Sequence[PreparedRow], history: MutableMapping[str, dict[str, Any]], journal: Journal, out_dir: Path, options: BatchOptions, say: Callable[[str], None]) -> None:
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
    provisional = [b if b.slots else ServerSlots(b.url, 2 * max(1, tool.slots_per_server), b.label) for b in backends]
    connected = connect_servers(provisional, options.connection, transport)
    chosen = {b.url: b for b in backends}
    for server in connected.servers:
        server.backend = chosen[server.url]
    return connected


def _plan(tool: Tool, servers: Sequence[Server], tool_options: Mapping[str, Any]) -> tuple[dict[str, Group], dict[str, str]]:
    """One plan per distinct API: servers of one app with different UIs each get calls shaped for them."""
    groups: dict[str, Group] = {}
    group_of: dict[str, str] = {}
    resolved = resolve_options(tool, tool_options)
    for server in servers:
        key = _api_shape(server.api)
        if key not in groups:
            groups[key] = Group(key, make_plan(tool, server.api, resolved), server.api)
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


def _describe_slots(server: Server, slots: Slots) -> str:
    """What a server gets, before the batch runs (the dry run shows this)."""
    version = f"{server.label} (gradio {server.api.version or '?'})"
    if slots.how is Learning.LATENCY:
        return f"{version}: no queue; slots learned while running by latency (AIMD), from {slots.current()} up to {slots.cap}"
    waiting = f"{slots.queue_ahead} row(s)" if not slots.auto else f"enough rows to cover one round trip ({slots.limit()} in flight at first)"
    return f"{version}: slots learned while running from its queue, {waiting} kept waiting there, at most {slots.cap} at once"


def _run(
    run: BatchRun, task: TaskFile, prepared: list[PreparedRow], redo: Sequence[str], listener: Listener | None, lock: OutLock, started: float
) -> BatchResult:
    """Choose the rows to send, send them (unless a dry run), and report."""
    backends, described = _size_servers(run)
    to_run = select_rows(prepared, run.history, run.options, run.out_dir, redo)
    if not run.options.overwrite and run.out_dir.exists():
        refuse_foreign_files(to_run, run.journal, run.history, run.out_dir, task)
    result = _planned(run, prepared, to_run, described)
    if run.options.dry_run:
        result.succeeded = result.skipped
        result.seconds = time.monotonic() - started
        return result
    for line in result.servers:
        run.say(f"server {line}")
    # Taken once nothing is left to check: a folder that fails validation is not even created.
    lock.take()
    clean_partials(run.out_dir)
    if redo:
        _start_redo(run, to_run)
    if run.takes is None:
        report = _execute(run, to_run, backends, listener)
    else:
        report = _execute_checked(run, run.takes, task, prepared, to_run, backends, listener)
    return _report(run, task, prepared, to_run, report, result, started)


def _start_redo(run: BatchRun, to_run: Sequence[PreparedRow]) -> None:
    """Put the takes being redone aside (or keep them), and the --redo file too, once applied."""
    start_redo(to_run, run.history, run.journal, run.out_dir, keep=run.options.keep_takes)
    if run.options.redo is not None:
        moved = set_redo_aside(run.options.redo)
        run.say(f"note: {run.options.redo} moved to {moved.name}: the same command run again redoes nothing more")


def _size_servers(run: BatchRun) -> tuple[list[ServerSlots], list[str]]:
    """Each server's slots (at most; `run.learning` learns how many), set on its session, and the line that says them."""
    backends, described = [], []
    for server in run.servers.values():
        server.backend, run.learning[server.url] = _slots(server, run.group(server.url).plan, run.tool, run.options.queue_ahead)
        server.session.slots = server.backend.slots
        backends.append(server.backend)
        described.append(_describe_slots(server, run.learning[server.url]))
    return backends, described


def _planned(run: BatchRun, prepared: Sequence[PreparedRow], to_run: list[PreparedRow], described: list[str]) -> BatchResult:
    """The result before anything is sent: rows this run does not send are done earlier,
    or (with --retry-failed) still waiting to run."""
    waiting = _waiting(prepared, to_run, run.history)
    return BatchResult(
        total=len(prepared),
        succeeded=0,
        failed=0,
        skipped=len(prepared) - len(to_run) - len(waiting),
        not_run=len(waiting),
        interrupted=False,
        halted=False,
        out_dir=run.out_dir,
        journal=run.journal.path,
        results=None,
        seconds=0.0,
        rows=[],
        dry_run=run.options.dry_run,
        planned=to_run,
        servers=described,
    )


def _waiting(prepared: Sequence[PreparedRow], to_run: Sequence[PreparedRow], history: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Rows this run does not send and that are not done: with --retry-failed, failed rows wait."""
    sending = {item.row.id for item in to_run}
    return {p.row.id for p in prepared if p.row.id not in sending and (history.get(p.row.id) or {}).get("status") not in HAS_TAKE}


def _report(
    run: BatchRun,
    task: TaskFile,
    prepared: Sequence[PreparedRow],
    to_run: Sequence[PreparedRow],
    report: ExecutorReport[Collected],
    result: BatchResult,
    started: float,
) -> BatchResult:
    """Count the rows, write results.csv and the review page, and let the plan finish."""
    history = run.history
    if report.interrupted:
        # Ctrl-C or SIGTERM may land between a row's journal line and `history`'s copy of it;
        # the journal is what the next run trusts, so results.csv says what it says.
        history.adopt(run.journal.read())
    not_run = set(report.not_run) | _waiting(prepared, to_run, history)
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
    learned = [(server, report.slots.get(server.url)) for server in run.servers.values()]
    result.slots = {server.label: found.as_dict() for server, found in learned if found is not None}
    result.servers = [f"{server.label}: {found.describe()}" for server, found in learned if found is not None] or result.servers
    result.switches = run.switches()
    table = [{**rec, "row": item.row.values} for item, rec in zip(prepared, rows, strict=True)]
    result.results = write_results(run.out_dir, table, task.columns)
    if run.options.review:
        result.review = write_review(run.out_dir, task_columns=task.columns)
    if not report.interrupted:
        finished = [{**rec, "row": item.row.values, "inputs": plain_values(item.values)} for item, rec in zip(prepared, rows, strict=True)]
        run.plan.finish(finished, run.out_dir, run.say)
        if run.book is not None:
            run.book.finish(finished, run.out_dir, run.say)
    result.seconds = time.monotonic() - started
    return result


def _execute(run: BatchRun, to_run: Sequence[PreparedRow], backends: Sequence[ServerSlots], listener: Listener | None) -> ExecutorReport[Collected]:
    """Send the rows, here or on the cluster; journal each one as it finishes (in the calling thread)."""
    options = run.options
    recorder = JournalRecorder(run, {item.row.id: item for item in to_run})
    settings: dict[str, Any] = {
        "jobs": options.jobs,
        "policy": options.policy or RetryPolicy(retries=options.retries),
        "classify": functools.partial(classify, retry_app_errors=options.retry_app_errors),
        "describe": lambda exc: redact(describe(exc), run.secrets),
        "timeout": options.timeout,
        "halt_on_failures": options.halt_on_failures,
        "listener": _Fanout([recorder, listener or Listener()]),
        "slots": run.learning,
        # The journal keeps what each row came to (`run.history`): the report needs no values.
        "keep_values": False,
    }
    states = [item.call.state.key if item.call.state else None for item in to_run]
    if options.cluster:
        if any(states):
            raise UsageError("this tool's rows need a voice loaded on the server, which --cluster does not schedule yet: use --server")
        from ._cluster import ClusterRun  # distributed is imported only when a cluster is named

        return ClusterRun(run, to_run).execute(**settings)
    run.gates = {url: StateGate(server.state) for url, server in run.servers.items()}
    items = [(item.row.id, item) for item in to_run]
    return execute(items, run.attempt, backends, states=states, pins=_pins(run, to_run), **settings)


def _execute_checked(
    run: BatchRun,
    takes: Takes,
    task: TaskFile,
    prepared: Sequence[PreparedRow],
    to_run: Sequence[PreparedRow],
    backends: Sequence[ServerSlots],
    listener: Listener | None,
) -> ExecutorReport[Collected]:
    """Rounds of generation: each take is checked while the round goes on; rows whose
    checks ask for another take go into the next round, with a new seed."""

    def prepare_again(items: Sequence[PreparedRow]) -> list[PreparedRow]:
        again = replace(task, rows=[item.row for item in items])
        return prepare_batch(again, [(g.key, g.plan, g.api) for g in run.groups.values()], run.options, run.tool, {})

    sending = {item.row.id for item in to_run}
    done_before = [p for p in prepared if p.row.id not in sending and (run.history.get(p.row.id) or {}).get("status") in HAS_TAKE]
    report = _execute(run, takes.first_round(to_run, done_before), backends, listener)
    while True:
        report.interrupted = takes.settle(report.interrupted)
        rows = [] if report.interrupted or report.halted else takes.retakes(prepare_again)
        if not rows:
            return report
        ids = [item.row.id for item in rows]
        run.say(f"{len(ids)} take{'s' if len(ids) != 1 else ''} failed {'their' if len(ids) != 1 else 'its'} check; making another: {', '.join(ids[:8])}{' …' if len(ids) > 8 else ''}")
        again = _execute(run, rows, backends, listener)
        report.interrupted, report.halted = again.interrupted, again.halted


def _pins(run: BatchRun, to_run: Sequence[PreparedRow]) -> dict[str, set[str]]:
    """`--pin VOICE@URL` as state key -> server URLs; a voice or server the batch lacks is a usage error."""
    known: dict[str, str] = {}  # a state's key or its label -> its key
    for item in to_run:
        state = item.call.state
        if state is not None:
            known.setdefault(state.key, state.key)
            known.setdefault(str(state), state.key)
    pins: dict[str, set[str]] = {}
    for text in run.options.pins:
        pin = parse_pin(text)
        if pin.url not in run.servers:
            raise UsageError(f"--pin {text!r}: {redact_url(pin.url)} is not one of this batch's --server URLs")
        key = known.get(pin.state) or next((k for name, k in known.items() if name.casefold() == pin.state.casefold()), None)
        if key is None:
            names = sorted({name for name, k in known.items() if name != k} or set(known))
            raise UsageError(f"--pin {text!r}: no row to run needs {pin.state!r}; the voices: {', '.join(names) or 'none'}")
        pins.setdefault(key, set()).add(pin.url)
    return pins


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

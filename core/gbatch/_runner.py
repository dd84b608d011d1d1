"""`run_batch`: a task file, a tool and some servers in; a journal, outputs and
`results.csv` out. Everything the CLI does to run a batch happens here.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ._api import ServerApi
from ._columns import Column, File, normalize_key
from ._errors import ExitCode, NoServerError, Problem, RowFailed, UsageError, ValidationError
from ._executor import Attempt, Backend, ErrorKind, ExecutionReport, Listener, Outcome, RetryPolicy, execute
from ._gradio import ClientFactory, ClientPool, Connection, call, classify, describe, make_client, unusable
from ._journal import Journal, input_hash, write_results
from ._outputs import NameTemplate, atomic_write, clean_partials, unique_names
from ._tasks import TaskFile, TaskRow, read_tasks
from ._tool import Call, Plan, RowProblem, Tool

__all__ = ["BatchOptions", "BatchResult", "PreparedRow", "parse_server", "prepare_batch", "run_batch"]


@dataclass
class BatchOptions:
    """Everything about a batch that is not the tool or the task file. Mirrors the CLI flags."""

    servers: Sequence[str] = ()
    jobs: int | None = None
    out: Path | None = None
    name: str | None = None
    timeout: float | None = None
    retries: int = 3
    halt_on_failures: int | None = None
    overwrite: bool = False
    restart: bool = False
    retry_failed: bool = False
    dry_run: bool = False
    strict: bool = False
    #: retry rows the app itself failed (gr.Error), not only transient failures
    retry_app_errors: bool = False
    encoding: str | None = None
    connection: Connection = field(default_factory=Connection)
    #: column name -> value given on the command line, used where a row is empty
    defaults: Mapping[str, Any] = field(default_factory=dict)
    #: the tool's own options (`Tool.options`), by name
    tool_options: Mapping[str, Any] = field(default_factory=dict)
    policy: RetryPolicy | None = None


@dataclass
class PreparedRow:
    row: TaskRow
    call: Call
    name: str
    hash: str
    values: dict[str, Any]


@dataclass
class BatchResult:
    """What happened; `exit_code` is what the CLI exits with."""

    total: int
    succeeded: int
    failed: int
    skipped: int
    not_run: int
    interrupted: bool
    halted: bool
    out_dir: Path
    journal: Path
    results: Path | None
    seconds: float
    rows: list[dict[str, Any]]
    dry_run: bool = False
    planned: list[PreparedRow] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.failed or (self.not_run and not self.dry_run):
            return ExitCode.ROWS_FAILED
        return ExitCode.OK

    def summary(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "skipped": self.skipped,
            "not_run": self.not_run,
            "interrupted": self.interrupted,
            "halted": self.halted,
            "seconds": round(self.seconds, 3),
            "out_dir": str(self.out_dir),
            "journal": str(self.journal),
            "results": str(self.results) if self.results else None,
            "exit_code": int(self.exit_code),
        }


_SERVER = re.compile(r"^(?P<url>https?://[^\s=]+?)(?:=(?P<slots>\d+))?$")


def parse_server(text: str, default_slots: int) -> Backend:
    """`URL` or `URL=N` (N concurrent rows on that server)."""
    match = _SERVER.match(text.strip())
    if not match:
        raise UsageError(f"--server {text!r}: expected http(s)://host:port, optionally followed by =N (slots)")
    slots = int(match["slots"]) if match["slots"] else default_slots
    if slots < 1:
        raise UsageError(f"--server {text!r}: the slot count must be at least 1")
    url = match["url"].rstrip("/") + "/"
    return Backend(url=url, slots=slots, label=redact_url(url))


def redact_url(url: str) -> str:
    # Up to the LAST '@' before a '/': httpx reads "http://u:p@ss@h/" as password "p@ss".
    return re.sub(r"//[^/]+@", "//***@", url)


def redact(text: str, secrets: Sequence[str]) -> str:
    # Longest first: replacing "abc" before "abcdef" would leave "***def" showing.
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return redact_url(text)


@dataclass
class _Batch:
    """One batch in progress: what the helpers below share."""

    tool: Tool
    plan: Plan
    task: TaskFile
    options: BatchOptions
    connected: _Connected
    journal: Journal
    history: dict[str, dict[str, Any]]
    out_dir: Path
    secrets: list[str]
    listener: Listener | None
    say: Callable[[str], None]


@dataclass
class _Connected:
    api: ServerApi
    pools: dict[str, ClientPool]
    backends: list[Backend]
    unreachable: list[str]


def _connect(backends: Sequence[Backend], connection: Connection, factory: ClientFactory) -> _Connected:
    pools: dict[str, ClientPool] = {}
    api: ServerApi | None = None
    reachable: list[Backend] = []
    errors: list[str] = []
    secrets = connection.secrets()
    for backend in backends:
        pool = ClientPool(backend.url, backend.slots, connection, factory)
        try:
            client = pool.client(0)
            if api is None:
                api = ServerApi.from_client(client, backend.url)
        except Exception as exc:  # noqa: BLE001 - every failure here means "not usable"
            pool.close()
            refused = unusable(exc, str(backend))
            if refused:
                raise refused from None
            errors.append(f"{backend}: {redact(describe(exc), secrets)}")
            continue
        pools[backend.url] = pool
        reachable.append(backend)
    if api is None:
        raise NoServerError("No server could be reached:\n  " + "\n  ".join(errors))
    return _Connected(api, pools, reachable, errors)


def _column_map(task: TaskFile, columns: Sequence[Column]) -> tuple[dict[str, str], list[Problem]]:
    """Which header of the file feeds which column."""
    by_key: dict[str, Column] = {}
    # A column's own name wins over another column's alias (label), whatever their order.
    for column in columns:
        by_key.setdefault(normalize_key(column.name), column)
    for column in columns:
        for key in column.match_keys():
            by_key.setdefault(key, column)
    mapping: dict[str, str] = {}
    problems: list[Problem] = []
    for header in task.columns:
        fed = by_key.get(normalize_key(header))
        if fed is None:
            continue  # extra columns are fine: they can name outputs or group rows
        if fed.name in mapping:
            problems.append(Problem(str(task.path), 1, header, f"both {mapping[fed.name]!r} and {header!r} feed {fed.name!r}"))
            continue
        mapping[fed.name] = header
    return mapping, problems


def prepare_batch(
    task: TaskFile,
    plan: Plan,
    options: BatchOptions,
    tool: Tool,
    previous: Mapping[str, Mapping[str, Any]],
) -> list[PreparedRow]:
    """Convert and check every row; raises `ValidationError` listing every problem."""
    file = str(task.path)
    base = task.path.parent
    mapping, problems = _column_map(task, plan.columns)
    defaults = {normalize_key(k): v for k, v in options.defaults.items() if v is not None}
    flags = {c.name for c in tool.columns if c.option}
    for column in plan.columns:
        if column.required and column.name not in mapping and normalize_key(column.name) not in defaults:
            hint = f" (and no --{column.name.replace('_', '-')} default was given)" if column.name in flags else ""
            problems.append(Problem(file, None, column.name, f"required column {column.name!r} is missing{hint}"))
    try:
        template = NameTemplate(options.name or tool.default_name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    missing = template.missing([*task.columns, "id", "row"])
    if missing:
        raise UsageError(f"--name uses {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not a column of {file}")
    if problems:
        raise ValidationError(problems)

    prepared: list[PreparedRow] = []
    names: list[str] = []
    for row in task.rows:
        values: dict[str, Any] = {}
        row_problems: list[Problem] = []
        for column in plan.columns:
            header = mapping.get(column.name)
            raw = row.values.get(header) if header else None
            where = header or f"--{column.name.replace('_', '-')}"
            source_dir = base
            if column.is_empty(raw) and normalize_key(column.name) in defaults:
                # A command-line default is relative to where the command runs, not to the task file.
                raw, source_dir = defaults[normalize_key(column.name)], Path.cwd()
                where = f"--{column.name.replace('_', '-')}"
            try:
                value = column.convert(raw, source_dir)
            except ValueError as exc:
                row_problems.append(Problem(file, row.line, where, str(exc)))
                continue
            if value is None or (column.required and value == ""):
                if column.required:
                    row_problems.append(Problem(file, row.line, header or column.name, "a value is required"))
                    continue
                value = column.default
            values[column.name] = value
        if not row_problems:
            try:
                call = plan.prepare(values, previous.get(row.id, {}).get("generated") or {})
            except RowProblem as exc:
                column_name = exc.column
                shown = mapping.get(column_name, column_name) if column_name else None
                row_problems.append(Problem(file, row.line, shown, str(exc)))
        problems.extend(row_problems)
        if row_problems:
            continue
        name_values = {**row.values, "id": row.id, "row": row.line}
        names.append(template.render(name_values))
        prepared.append(PreparedRow(row, call, "", input_hash(call.kwargs, call.generated, plan.fingerprint()), values))
    if problems:
        raise ValidationError(problems)
    for item, name in zip(prepared, unique_names(names), strict=True):
        item.name = name
    return prepared


class _RowOutputs:
    """The `gbatch.Outputs` a plan writes one row's results through (worker thread)."""

    def __init__(self, out_dir: Path, name: str, call: Call, pool: ClientPool, logs: list[tuple[str, str]]) -> None:
        self.out_dir = out_dir
        self.call = call
        self._name = name
        self._pool = pool
        self._logs = logs
        self.files: list[Path] = []
        self.values: dict[str, Any] = {}
        self.warnings: list[str] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def logs(self) -> Sequence[tuple[str, str]]:
        return self._logs

    def url(self, file: Any) -> str:
        return self._pool.file_url(file)

    def fetch(self, file: Any) -> bytes:
        return self._pool.fetch(file)

    def write(self, data: bytes, suffix: str, label: str | None = None) -> Path:
        stem = f"{self._name}.{label}" if label else self._name
        path = atomic_write(self.out_dir / f"{stem}{suffix}", data)
        self.files.append(path)
        return path

    def value(self, name: str, value: Any) -> None:
        self.values[name] = value

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def run_batch(
    tool: Tool,
    tasks: str | Path,
    options: BatchOptions,
    *,
    listener: Listener | None = None,
    client_factory: ClientFactory = make_client,
    say: Callable[[str], None] = print,
) -> BatchResult:
    """Validate every row, then run the batch; see `BatchOptions` for the knobs.

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
    single_default = jobs if (jobs and len(servers) == 1) else tool.slots_per_server
    backends = [parse_server(s, single_default) for s in servers]
    task = read_tasks(tasks, encoding=options.encoding)
    out_dir = Path(options.out or tool.default_out).resolve()
    journal = Journal(out_dir)
    connected = _connect(backends, options.connection, client_factory)
    for problem in connected.unreachable:
        say(f"warning: skipping unreachable server {problem}")
    secrets = options.connection.secrets()
    try:
        plan = tool.plan(connected.api, options.tool_options)
        if plan.notice:
            say(plan.notice)
        history = journal.read()
        prepared = prepare_batch(task, plan, options, tool, history)
        mapping, _ = _column_map(task, plan.columns)
        unused = [h for h in task.columns if h not in mapping.values() and normalize_key(h) != "id"]
        if unused:
            # Not an error (they can name or group outputs), but a typo here would silently send a default.
            say(f"note: column{'s' if len(unused) > 1 else ''} not sent to the server: {', '.join(unused)}")
        batch = _Batch(tool, plan, task, options, connected, journal, history, out_dir, secrets, listener, say)
        return _run(batch, prepared, started)
    finally:
        journal.close()
        for pool in connected.pools.values():
            pool.close()


def _select(
    prepared: Sequence[PreparedRow], history: Mapping[str, Mapping[str, Any]], options: BatchOptions, out_dir: Path
) -> list[PreparedRow]:
    """The rows this run sends: by default those not already done with the same inputs."""
    if options.restart:
        return list(prepared)
    chosen = []
    for item in prepared:
        last = history.get(item.row.id) or {}
        if options.retry_failed:
            if last.get("status") == "failed":
                chosen.append(item)
            continue
        done = (
            last.get("status") == "ok"
            and last.get("input_hash") == item.hash
            and all((out_dir / f).exists() for f in last.get("outputs") or [])
        )
        if not done:
            chosen.append(item)
    return chosen


def _refuse_foreign_files(to_run: Sequence[PreparedRow], journal: Journal, history: Mapping[str, Mapping[str, Any]], out_dir: Path, task: TaskFile) -> None:
    """Never overwrite a file gbatch did not write (unless --overwrite): checked before sending."""
    owned = journal.owned_files(history.values())
    problems = []
    for item in to_run:
        if item.name in journal.claimed:
            continue  # an earlier run started this row: whatever it left under this name is ours
        for existing in out_dir.glob(_glob_escape(item.name) + ".*"):
            if existing.resolve() not in owned and not existing.name.startswith(".gbatch-"):
                message = f"{existing} exists and is not from an earlier gbatch run; use --overwrite or another --out"
                problems.append(Problem(str(task.path), item.row.line, None, message))
                break
    if problems:
        raise ValidationError(problems)


def _run(batch: _Batch, prepared: list[PreparedRow], started: float) -> BatchResult:
    options, history, out_dir, journal = batch.options, batch.history, batch.out_dir, batch.journal
    to_run = _select(prepared, history, options, out_dir)
    if not options.overwrite and out_dir.exists():
        _refuse_foreign_files(to_run, journal, history, out_dir, batch.task)
    result = BatchResult(
        total=len(prepared),
        succeeded=0,
        failed=0,
        skipped=len(prepared) - len(to_run),
        not_run=0,
        interrupted=False,
        halted=False,
        out_dir=out_dir,
        journal=journal.path,
        results=None,
        seconds=0.0,
        rows=[],
        dry_run=options.dry_run,
        planned=to_run,
    )
    if options.dry_run:
        sending = {item.row.id for item in to_run}
        result.succeeded = sum(1 for p in prepared if p.row.id not in sending and (history.get(p.row.id) or {}).get("status") == "ok")
        result.seconds = time.monotonic() - started
        return result

    clean_partials(out_dir)
    report = _execute(batch, to_run)
    not_run = set(report.not_run)
    rows = [
        {"id": item.row.id, "line": item.row.line, "status": "not run"}
        if item.row.id in not_run or item.row.id not in history
        else history[item.row.id]
        for item in prepared
    ]
    result.rows = rows
    result.succeeded = sum(1 for r in rows if r.get("status") == "ok")
    result.failed = sum(1 for o in report.outcomes if not o.ok)
    result.not_run = len(not_run)
    result.interrupted, result.halted = report.interrupted, report.halted
    result.results = write_results(out_dir, rows)
    if not report.interrupted:
        batch.plan.finish(
            [{**rec, "row": item.row.values, "inputs": _plain_inputs(item.values)} for item, rec in zip(prepared, rows, strict=True)],
            out_dir,
            batch.say,
        )
    result.seconds = time.monotonic() - started
    return result


def _execute(batch: _Batch, to_run: Sequence[PreparedRow]) -> ExecutionReport[dict[str, Any]]:
    """Send the rows; journal each one as it finishes (in the calling thread)."""
    plan, options, out_dir, secrets = batch.plan, batch.options, batch.out_dir, batch.secrets
    by_id = {item.row.id: item for item in to_run}
    failed_logs: dict[str, list[tuple[str, str]]] = {}

    def work(attempt: Attempt) -> dict[str, Any]:
        # Worker thread: one request, then the plan saves what came back.
        item: PreparedRow = attempt.payload
        pool = batch.connected.pools[attempt.backend.url]
        if attempt.number == 1:
            # Claim the output name before any file can be written under it (see Journal).
            batch.journal.claim(item.name)
        logs: list[tuple[str, str]] = []
        try:
            answer = call(pool, plan.api_name, item.call.kwargs, attempt)
            logs = answer.logs
            outputs = _RowOutputs(out_dir, item.name, item.call, pool, logs)
            plan.collect(answer.value, outputs)
        except BaseException as exc:
            failed_logs[item.row.id] = getattr(exc, "gbatch_logs", logs)
            raise
        warnings = [text for level, text in logs if level.lower() == "warning"]
        if options.strict and warnings:
            failed_logs[item.row.id] = logs
            raise RowFailed(f"--strict: the server warned: {warnings[0]}")
        return {
            "outputs": [str(p.relative_to(out_dir)) for p in outputs.files],
            "values": outputs.values,
            "warnings": warnings + outputs.warnings,
            "logs": [[level, text] for level, text in logs],
        }

    class Recorder(Listener):
        def row_finished(self, outcome: Outcome[Any]) -> None:
            item = by_id[outcome.id]
            body = outcome.value or {}
            logs = body.get("logs") or [[level, text] for level, text in failed_logs.get(item.row.id, [])]
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
                "error": None if outcome.ok else redact(plan.explain(outcome.error or "failed", item.call), secrets),
                "warnings": body.get("warnings") or [text for level, text in logs if level.lower() == "warning"],
                "logs": logs,
                "generated": item.call.generated,
                "tool": batch.tool.name,
            }
            batch.journal.append(record)
            batch.history[item.row.id] = record

    return execute(
        [(item.row.id, item) for item in to_run],
        work,
        batch.connected.backends,
        jobs=options.jobs,
        policy=options.policy or RetryPolicy(retries=options.retries),
        classify=functools.partial(classify, retry_app_errors=options.retry_app_errors),
        describe=lambda exc: redact(describe(exc), secrets),
        timeout=options.timeout,
        halt_on_failures=options.halt_on_failures,
        listener=_Fanout([Recorder(), batch.listener or Listener()]),
    )


def _plain_inputs(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, File) else v) for k, v in values.items()}


def _glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


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

    def row_finished(self, outcome: Outcome[Any]) -> None:
        for listener in self._listeners:
            listener.row_finished(outcome)

    def batch_finished(self, report: ExecutionReport[Any]) -> None:
        for listener in self._listeners:
            listener.batch_finished(report)

"""One attempt of one row, and the journal record of a finished row.

Both ways of running rows go through here: the local runner (`BatchRun.attempt`, in
an executor thread) and a Dask worker (`gbatch._cluster.run_row`). `attempt_row`
sends the row's request(s), lets the plan save what came back, and turns any failure
into an `AttemptFailed` carrying a `Failure` value; `JournalRecorder` writes the record
of each finished row from its outcome, with the plan's `explain` applied to a failure.

A row that needs a server state (`Call.state`, a loaded voice) is sent under its
server's `StateGate`: the state is applied first if the server is not in it, and the
switch is journaled (`{"event": "switch", ...}`) and reported to the listener.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._api import ServerApi
from ._batch import BatchOptions, PreparedRow, plain_values
from ._call import call, cause_of, classify, describe
from ._checks import take_findings
from ._errors import AppError, CallError, ConnectionLost, Failure
from ._executor import Attempt, AttemptFailed, ErrorKind, ItemOutcome, Listener
from ._gate import StateGate
from ._history import History
from ._journal import Journal
from ._outputs import atomic_write, sanitize
from ._servers import Server, redact, redact_url
from ._slots import Slots
from ._takes import row_text
from ._tool import Call, Plan, ServerState, Tool
from .transports.base import CallResult, ServerFile, ServerSession, TransportRequest

if TYPE_CHECKING:
    from ._book._run import BookRun
    from ._takes import Takes

__all__ = ["BatchRun", "Collected", "Group", "JournalRecorder", "RowOutputs", "attempt_row", "failure_of"]


@dataclass(frozen=True)
class Collected:
    """What one successful attempt produced (picklable: a cluster worker sends it back)."""

    outputs: list[str]  # file names, relative to the folder they were written in
    values: dict[str, Any]
    warnings: list[str]
    logs: list[tuple[str, str]]
    #: the cheap checks' figures for each audio file (`gbatch._checks.take_findings`)
    checks: list[dict[str, Any]] = field(default_factory=list)


class RowOutputs:
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


# --- one attempt ------------------------------------------------------------------------------------


def attempt_row(
    server: Server,
    plan: Plan,
    row_call: Call,
    *,
    name: str,
    folder: Path,
    attempt: Attempt,
    strict: bool,
    retry_app_errors: bool,
    secrets: Sequence[str],
    gate: StateGate | None = None,
    journal: Journal | None = None,
    checked: tuple[str | None, Mapping[str, Any]] | None = None,
) -> Collected:
    """Send one row's request(s) to `server`, then let the plan save the result into `folder`.

    Runs in a worker thread (or on a Dask worker). Raises `AttemptFailed` — the
    `Failure` and what the schedule does next — for whatever went wrong, including a
    `--strict` warning from the server.

    :param gate: the server's state gate, for a row whose call needs a server state.
    :param journal: where a state switch is recorded (None: not recorded).
    :param checked: the row's text and values, for the cheap checks of its audio (None: unchecked).
    """
    logs: list[tuple[str, str]] = []
    try:
        outputs = _send_and_collect(server, plan, row_call, name, folder, attempt, logs, gate, journal)
    except Exception as exc:  # noqa: BLE001 - every failure of the attempt becomes a Failure
        if isinstance(exc, ConnectionLost):
            _lost_session(server, plan, gate)
        raise AttemptFailed(failure_of(exc, logs, secrets), classify(exc, retry_app_errors=retry_app_errors)) from exc
    warnings = _warnings(logs)
    if strict and warnings:
        failure = Failure(redact(f"--strict: the server warned: {warnings[0]}", secrets), "app", logs=tuple(logs))
        raise AttemptFailed(failure, ErrorKind.PERMANENT)
    findings, flagged = take_findings(outputs.files, checked[0] or None, checked[1]) if checked is not None else ([], [])
    return Collected(
        outputs=[str(p.relative_to(folder)) for p in outputs.files],
        values=outputs.values,
        warnings=warnings + outputs.warnings + flagged,
        logs=logs,
        checks=findings,
    )


def _send_and_collect(
    server: Server,
    plan: Plan,
    row_call: Call,
    name: str,
    folder: Path,
    attempt: Attempt,
    logs: list[tuple[str, str]],
    gate: StateGate | None,
    journal: Journal | None,
) -> RowOutputs:
    if _ensure_setup(server, plan) and gate is not None:
        gate.assume(server.state)
    # One server session per attempt: the steps of a row share gr.State, rows do not.
    session = f"{attempt.item_id}#{attempt.number}"
    with _in_state(server, plan, row_call.state, gate, attempt, journal):
        for step in row_call.before:
            logs.extend(_send(server, plan, step, session, attempt).logs)
        result = _send(server, plan, _with_server_paths(row_call, server), session, attempt)
    logs.extend(result.logs)
    outputs = RowOutputs(folder, name, row_call, server.session, logs)
    plan.collect(result, outputs)
    return outputs


def failure_of(exc: BaseException, logs: Sequence[tuple[str, str]], secrets: Sequence[str]) -> Failure:
    """An attempt's exception as a `Failure`: the user's message and the logs, without secrets."""
    received = [*logs, *(getattr(exc, "logs", None) or [])]  # the failed request's own logs come last
    return Failure(
        message=redact(describe(exc), secrets),
        cause=cause_of(exc),
        hidden=isinstance(exc, AppError) and exc.hidden,
        logs=tuple((level, redact(text, secrets)) for level, text in received),
    )


def _send(server: Server, plan: Plan, step: Call, session: str, attempt: Attempt) -> CallResult:
    ref = step.endpoint if step.endpoint is not None else plan.api_name
    endpoint = server.api.endpoint(ref)
    if endpoint is None:
        raise CallError(f"{server.label} has no endpoint {ref!r}")
    progress = plan.progress if type(plan).progress is not Plan.progress else None
    # step.kwargs are already as a browser sends them (prepare_batch, for this server's API)
    return call(server.session, TransportRequest(endpoint, step.kwargs, session), attempt, progress=progress)


def _ensure_setup(server: Server, plan: Plan) -> bool:
    """Run the plan's setup again on a server that lost its session (restarted), once; True if it ran."""
    if not server.needs_setup:
        return False
    ran = False
    with server.setup_lock:
        if server.needs_setup:  # not if another row's thread did it meanwhile
            server.state = None  # setup says which state it leaves the server in, if it knows
            plan.setup(server)
            server.needs_setup = False
            ran = True
    return ran


def _lost_session(server: Server, plan: Plan, gate: StateGate | None) -> None:
    """A server that lost its session (restarted) has lost what setup and the last switch loaded."""
    if gate is not None:
        gate.forget()
    if _overrides_setup(plan):
        server.needs_setup = True


@contextmanager
def _in_state(
    server: Server, plan: Plan, state: ServerState | None, gate: StateGate | None, attempt: Attempt, journal: Journal | None
) -> Iterator[None]:
    """Run the body with `server` in the state the row needs: switched if need be (the switch
    journaled and reported), waiting while rows of another state still run there."""
    if state is None or gate is None:
        yield
        return
    read = (lambda: plan.read_state(server)) if type(plan).read_state is not Plan.read_state else None
    with gate.holding(state.key, lambda: plan.apply_state(server, state), attempt.cancelled, read) as took:
        if took is not None and journal is not None:
            switch = {"event": "switch", "server": server.label, "state": str(state), "key": state.key}
            journal.append({**switch, "row": attempt.item_id, "seconds": round(took, 3), "at": _iso(time.time())})
        attempt.report(code="state", server=server.label, state=str(state), switched=took is not None, switches=len(gate.switches))
        yield


def _with_server_paths(call: Call, server: Server) -> Call:
    """The call with each `server_paths` file uploaded to this server and its path as the value."""
    if not call.server_paths:
        return call
    uploaded = {name: server.session.upload(file) for name, file in call.server_paths.items()}
    return replace(call, kwargs={**call.kwargs, **uploaded}, server_paths={})


def _overrides_setup(plan: Plan) -> bool:
    return type(plan).setup is not Plan.setup


def _warnings(logs: Sequence[tuple[str, str]]) -> list[str]:
    return [text for level, text in logs if level.lower() == "warning"]


# --- the batch the attempts share -------------------------------------------------------------------


@dataclass
class Group:
    """Servers that publish the same API share one plan (and one shape of call)."""

    key: str
    plan: Plan
    api: ServerApi


@dataclass
class BatchRun:
    """What every attempt of a batch shares: the plans (one per API), the servers, where
    outputs go, and the journal that claims names and keeps records."""

    tool: Tool
    groups: dict[str, Group]
    group_of: dict[str, str]  # server URL (or cluster spec) -> group key
    servers: dict[str, Server]
    options: BatchOptions
    journal: Journal
    history: History
    out_dir: Path
    secrets: list[str]
    say: Callable[[str], None] = print
    #: server URL -> the state (voice) its rows hold, for rows that need one (set by the runner)
    gates: dict[str, StateGate] = field(default_factory=dict)
    #: server URL -> how many rows it takes at once, learned while the batch runs (set by the runner)
    learning: dict[str, Slots] = field(default_factory=dict)
    #: the book (or voices, lexicon, --join) the batch reads, finished after the plan (`gbatch._book`)
    book: BookRun | None = None
    #: --check-server: takes checked by recognisers, regenerated when wrong (set by the runner)
    takes: Takes | None = None

    @property
    def plan(self) -> Plan:
        return next(iter(self.groups.values())).plan

    def group(self, url: str) -> Group:
        """The group of the server at `url` (the first group for an unknown one)."""
        return self.groups.get(self.group_of.get(url, ""), next(iter(self.groups.values())))

    def switches(self) -> dict[str, int]:
        """Server label -> how many times its state (voice) was switched, for servers that switched."""
        return {self.servers[url].label: len(gate.switches) for url, gate in self.gates.items() if gate.switches}

    def claim(self, item: PreparedRow, attempt: Attempt) -> None:
        if attempt.number == 1:
            # Claim the output name before any file can be written under it (see Journal).
            self.journal.claim(item.name)

    def attempt(self, attempt: Attempt) -> Collected:
        """The executor's work for the local runner: one attempt of `attempt.payload` (worker thread)."""
        item: PreparedRow = attempt.payload
        server = self.servers[attempt.backend.url]
        group = self.group(server.url)
        self.claim(item, attempt)
        row_call = item.calls.get(group.key, item.call)
        return attempt_row(
            server,
            group.plan,
            row_call,
            name=item.name,
            folder=self.out_dir,
            attempt=attempt,
            strict=self.options.strict,
            retry_app_errors=self.options.retry_app_errors,
            secrets=self.secrets,
            gate=self.gates.get(server.url),
            journal=self.journal,
            checked=(row_text(item, group.plan.text_column), item.values),
        )


# --- the journal record of a finished row ------------------------------------------------------------


@dataclass
class JournalRecorder(Listener):
    """Journals each row as it finishes (in the thread that runs the executor).

    A failed row's `Failure` is first shown to its plan's `explain`; the record, the
    outcome's `failure` and `error` (what the progress display shows) then say the same.
    """

    run: BatchRun
    rows: Mapping[str, PreparedRow]

    def row_finished(self, outcome: ItemOutcome[Any]) -> None:
        item = self.rows[outcome.id]
        group = self.run.group(outcome.backend_url or "")
        if not outcome.ok:
            failure = outcome.failure or Failure(outcome.error or "failed", "output")
            outcome.failure = explained(group.plan, failure, item.calls.get(group.key, item.call), self.run.secrets)
            outcome.error = outcome.failure.message
        record = journal_record(item, outcome, self.run.tool.name, self.run.history.get(item.row.id), self.run.secrets)
        takes = self.run.takes
        if takes is not None:
            record = takes.generated(item, record)
        self.run.journal.append(record)
        self.run.history[item.row.id] = record
        if takes is not None:
            takes.collect()


def explained(plan: Plan, failure: Failure, row_call: Call, secrets: Sequence[str]) -> Failure:
    """`failure` with the message the plan's `explain` gives it (secrets removed again)."""
    return replace(failure, message=redact(plan.explain(failure, row_call), secrets))


def journal_record(item: PreparedRow, outcome: ItemOutcome[Any], tool: str, previous: Mapping[str, Any] | None, secrets: Sequence[str]) -> dict[str, Any]:
    """The journal line of a finished row: what it sent, where, when, and what came of it."""
    done: Collected | None = outcome.value if outcome.ok else None
    failure = outcome.failure
    logs = list(done.logs if done is not None else failure.logs if failure is not None else ())
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
        "outputs": done.outputs if done is not None else [],
        "values": done.values if done is not None else {},
        "error": failure.message if failure is not None else None,
        "cause": failure.cause if failure is not None else None,
        "warnings": done.warnings if done is not None else _warnings(logs),
        "logs": [[level, text] for level, text in logs],
        "generated": item.call.generated,
        "inputs": plain_values(item.values),
        "takes": (previous or {}).get("takes") or [],
        "tool": tool,
        "checks": done.checks if done is not None else [],
    }
    # A server may echo a secret (a header, a token) in a warning, a log line or a value.
    for key in ("warnings", "logs", "values"):
        record[key] = _redacted(record[key], secrets)
    return record


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

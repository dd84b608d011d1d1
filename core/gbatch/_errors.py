"""The one exception tree of gbatch, the exit codes the CLI turns it into, and
the `Failure` record a failed row carries.

    GbatchError                 base; its message is shown to the user as it is
    ├── UsageError              a bad option or argument                  exit 2
    ├── ValidationError         task file problems, all of them at once   exit 2
    ├── PluginError             a tool or plugin that cannot be used      exit 2
    ├── ServerError             the server does not offer what we need    exit 2
    ├── NoServerError           none of the servers could be reached      exit 3
    ├── JournalWriteError       the journal or results could not be kept  exit 1
    ├── RowProblem              `Plan.prepare`: this row cannot be sent (becomes a `Problem`)
    ├── RowFailed               a tool fails one row (`Plan.collect`)     cause "output"
    ├── AttemptFailed           one attempt of a row failed: its `Failure` and what the
    │                           scheduler does next (`gbatch._executor`)
    └── CallError               one request failed; `cause` names the kind  cause "request"
        ├── AppError            the app raised (gr.Error), or said no       cause "app"
        ├── QueueFull           the server's queue is full: back-pressure   cause "queue"
        ├── ConnectionLost      network trouble, dropped stream, restart    cause "transport"
        ├── CallTimeout         --timeout elapsed; the job was cancelled    cause "timeout"
        └── CallCancelled       we cancelled it (Ctrl-C, halt)              cause "cancelled"

Errors that stop a command reach the CLI, which prints the message and exits with the
class's `exit_code`. Row-level failures while a batch runs do not: a row that fails
becomes a `Failure` (a value, not an exception) on its outcome, is journaled and counted,
and the batch goes on. Transports raise only `CallError`s from a job.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "AppError",
    "CallCancelled",
    "CallError",
    "CallTimeout",
    "ConnectionLost",
    "ExitCode",
    "Failure",
    "GbatchError",
    "JournalWriteError",
    "NoServerError",
    "PluginError",
    "TaskFileProblem",
    "QueueFull",
    "RowFailed",
    "RowProblem",
    "ServerError",
    "TIMEOUT_ERRORS",
    "UsageError",
    "ValidationError",
]


# Before Python 3.11, concurrent.futures (gradio_client's jobs) and asyncio (dask's waits)
# raise timeout errors of their own, which are not the builtin `TimeoutError`. (Since 3.11
# both are the builtin: asyncio is then not imported here, which keeps `gbatch --help` fast.)
TIMEOUT_ERRORS: tuple[type[BaseException], ...] = (TimeoutError,)
if sys.version_info < (3, 11):
    import asyncio
    import concurrent.futures

    TIMEOUT_ERRORS = (TimeoutError, concurrent.futures.TimeoutError, asyncio.TimeoutError)

# A file with a problem on every one of 100,000 rows should not flood the terminal.
SHOWN_PROBLEMS = 200


class ExitCode(IntEnum):
    """What a `gbatch` process exits with."""

    OK = 0  # every row succeeded (or had succeeded in an earlier run)
    ROWS_FAILED = 1  # the batch ran, some rows failed
    USAGE = 2  # bad options, bad task file, unusable server API: nothing was sent
    NO_SERVER = 3  # no server could be reached
    INTERRUPTED = 130  # Ctrl-C: finished rows are kept, a re-run continues


class GbatchError(Exception):
    """Base of every error gbatch raises on purpose; the message is for the user."""

    exit_code: ExitCode = ExitCode.USAGE


class UsageError(GbatchError):
    """An option or argument that cannot work (e.g. a bad `--server` value)."""


class PluginError(GbatchError):
    """An unknown tool, or a tool declaration that cannot be used."""


class ServerError(GbatchError):
    """The server answers but does not offer the endpoint or inputs we need."""


class NoServerError(GbatchError):
    """None of the given servers could be reached."""

    exit_code = ExitCode.NO_SERVER


class JournalWriteError(GbatchError):
    """The journal, the claims or results.csv could not be written (a full disk, say).

    The batch stops: a row whose record cannot be kept must not be reported done.
    Whatever was journaled before stays readable, and a re-run continues from it.
    """

    exit_code = ExitCode.ROWS_FAILED


@dataclass(frozen=True)
class Failure:
    """Why one row failed, as a value: what the journal, `--json`, the review page and
    `Plan.explain` all read.

    :param message: one line for the user, secrets already removed.
    :param cause: what failed: "app" (the app raised or refused), "transport" (network,
        dropped stream, restart), "timeout", "queue", "cancelled", "request" (the server
        refused the request) or "output" (saving the result, a tool's own check).
    :param hidden: the app failed without saying why (it runs without `show_error=True`):
        only its console knows.
    :param logs: the server's log messages (level, text) received before the failure.
    """

    message: str
    cause: str
    hidden: bool = False
    logs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TaskFileProblem:
    """One thing wrong with a task file, located as precisely as we can.

    `row` is the 1-based line (CSV/TSV/TXT/JSONL) or sheet row (xlsx) as the
    user sees it in an editor; `column` is the column name as written in the file;
    `id` is the row's id, shown next to the line (`lines.csv:3 (id 2):speed: …`)
    because the line alone is hard to match with journal and output names.
    """

    file: str
    row: int | None
    column: str | None
    message: str
    id: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f":{self.row}"
        if self.id is not None:
            where += f" (id {self.id})"
        if self.row is not None and self.column:
            where += f":{self.column}"
        return f"{where}: {self.message}"

    def to_json(self) -> dict[str, str | int | None]:
        """The problem for `--json` output: file, line, id, column, message."""
        return {"file": self.file, "line": self.row, "id": self.id, "column": self.column, "message": self.message}


class ValidationError(GbatchError):
    """The task file has problems; every one of them is listed (`problems`), nothing was sent.

    The message gives one line per cause: rows that share a problem (same column, same
    message: a forgotten `--prompt-text`) are one line with their count and first ids.
    """

    def __init__(self, problems: list[TaskFileProblem]) -> None:
        self.problems = problems
        count = len(problems)
        causes = by_cause(problems)
        lines = causes[:SHOWN_PROBLEMS]
        if len(causes) > SHOWN_PROBLEMS:
            lines.append(f"… and {len(causes) - SHOWN_PROBLEMS} more (the first {SHOWN_PROBLEMS} are shown)")
        summary = f"{count} problem{'s' if count != 1 else ''} in the task file; nothing was sent."
        super().__init__("\n".join([*lines, summary]))


# How many rows a grouped problem names, so its line stays readable.
SHOWN_IDS = 3


def by_cause(problems: list[TaskFileProblem]) -> list[str]:
    """One line per cause, in the order first seen: a problem found on several rows is one
    line with the row count and the first few ids (or lines)."""
    groups: dict[tuple[str, str | None, str], list[TaskFileProblem]] = {}
    for index, problem in enumerate(problems):
        # A problem of the whole file (no row) is its own cause.
        key = (problem.file, problem.column, problem.message) if problem.row is not None else ("", None, str(index))
        groups.setdefault(key, []).append(problem)
    return [str(group[0]) if len(group) == 1 else _grouped(group) for group in groups.values()]


def _grouped(group: list[TaskFileProblem]) -> str:
    first = group[0]
    named = [f"id {p.id}" if p.id is not None else f"line {p.row}" for p in group[:SHOWN_IDS]]
    more = f" and {len(group) - SHOWN_IDS} more" if len(group) > SHOWN_IDS else ""
    where = f"{first.file}:{first.column}" if first.column else first.file
    return f"{where}: {first.message} ({len(group)} rows: {', '.join(named)}{more})"


class RowProblem(GbatchError):
    """Raised by `Plan.prepare`: this row cannot be sent. Name the column if you can."""

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


class RowFailed(GbatchError):
    """Raised by a tool while handling one row: that row fails with this message.

    `retryable=True` marks a failure worth another attempt (a truncated download,
    say); the default is a permanent failure of this row only.
    """

    cause = "output"
    exit_code = ExitCode.ROWS_FAILED

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class CallError(GbatchError):
    """One request to a server failed. Transports raise these, and only these, from a job.

    `cause` is one of "app", "queue", "transport", "timeout", "cancelled", or "request"
    (a request the server refused for another reason); whether the row is retried
    follows from it. Within a batch it fails an attempt; outside one (reading a
    server's API, say) the server could not be used.
    """

    cause = "request"
    exit_code = ExitCode.NO_SERVER

    def __init__(self, message: str, *, cause: str | None = None, logs: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if cause is not None:
            self.cause = cause
        #: the server's log messages (level, text) received before the failure
        self.logs: list[tuple[str, str]] = list(logs or [])


class AppError(CallError):
    """The app itself failed the request (a `gr.Error`, an exception, a refused value).

    `hidden` is true when the server did not say why (no `show_error=True`).
    """

    cause = "app"

    def __init__(self, message: str, *, hidden: bool = False, logs: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message, logs=logs)
        self.hidden = hidden


class QueueFull(CallError):
    """The server's queue is full: wait and send again; this spends no retry."""

    cause = "queue"


class ConnectionLost(CallError):
    """The request did not complete for reasons of the network or the server's life:
    refused or dropped connection, a dropped event stream, a restart, HTTP 429/5xx.
    The transport has already dropped whatever session state it had."""

    cause = "transport"

    def __init__(self, message: str, *, status: int | None = None, logs: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message, logs=logs)
        self.status = status


class CallTimeout(CallError):
    """The per-row timeout elapsed; the job was cancelled on the server."""

    cause = "timeout"


class CallCancelled(CallError):
    """gbatch cancelled the job (Ctrl-C or halt)."""

    cause = "cancelled"

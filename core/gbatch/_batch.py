"""What a batch is given and what it returns: `BatchOptions`, `PreparedRow`, `BatchResult`.

These live one floor below the runner so that the rooms it strings together
(servers, preparing rows, resuming) can share them without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._book._options import BookOptions
from ._columns import File
from ._errors import ExitCode
from .transports.base import ConnectOptions

if TYPE_CHECKING:  # annotations only: `gbatch --help` needs these dataclasses, not the rooms below
    from ._executor import RetryPolicy
    from ._tasks import TaskRow
    from ._tool import Call

__all__ = ["HAS_TAKE", "BatchOptions", "BatchResult", "PreparedRow", "plain_values"]

#: statuses of a row whose take is on disk: it needs no generation ("check failed" and
#: "unchecked" come from recognisers, docs/checks.md)
HAS_TAKE = ("ok", "check failed", "unchecked")


@dataclass
class BatchOptions:
    """Everything about a batch that is not the tool or the task file. Mirrors the CLI flags."""

    servers: Sequence[str] = ()
    jobs: int | None = None
    #: rows of ours kept waiting in each server's queue beyond those it runs; None: as many
    #: as cover one round trip (learned, at least 2); 0: a row goes only when one of ours
    #: finishes, the polite setting for a server shared with others
    queue_ahead: int | None = None
    out: Path | None = None
    name: str | None = None
    timeout: float | None = None
    retries: int = 3
    halt_on_failures: int | None = None
    overwrite: bool = False
    restart: bool = False
    retry_failed: bool = False
    #: move finished rows' files to the names a changed --name gives them
    rename: bool = False
    #: a file of row ids (one per line) to run again, each with a new seed unless the row fixes it
    redo: Path | None = None
    #: with `redo`: keep the previous output as `<name>.take<N>.<ext>` (False: replace it)
    keep_takes: bool = True
    #: write OUT/review.html after the batch
    review: bool = True
    dry_run: bool = False
    strict: bool = False
    #: retry rows the app itself failed (gr.Error), not only transient failures
    retry_app_errors: bool = False
    encoding: str | None = None
    connection: ConnectOptions = field(default_factory=ConnectOptions)
    #: column name -> value given on the command line, used where a row is empty
    defaults: Mapping[str, Any] = field(default_factory=dict)
    #: the tool's own options (`Tool.options`), by name
    tool_options: Mapping[str, Any] = field(default_factory=dict)
    policy: RetryPolicy | None = None
    #: `COLUMN=SOURCE` row sources (a glob, a .txt file, or a;b;c), crossed with the task file's rows
    each: Sequence[str] = ()
    #: the task file's delimiter (None: detected)
    delimiter: str | None = None
    #: a Dask scheduler address (`tcp://host:8786`): rows run on its workers (needs `gbatch[dask]`)
    cluster: str | None = None
    #: recogniser apps (`URL` or `URL=N`) that check every take (docs/checks.md); none: no checks
    check_servers: Sequence[str] = ()
    #: the recogniser's endpoint (default: found by shape)
    check_api: str | None = None
    #: a take whose error rate is above this is regenerated (0.15: 15 % of words or characters wrong)
    max_error: float = 0.15
    #: takes per row at most, the first included
    takes: int = 3
    #: `VOICE@URL`: rows needing that server state (a voice) run only on that server (repeatable)
    pins: Sequence[str] = ()
    #: a book's settings (voices, lexicon, piece length, audiobook); a .md or .epub task file is a book without them
    book: BookOptions | None = None


@dataclass
class PreparedRow:
    """A row that passed validation: its call for each kind of server, its output name and input hash.

    `calls` has one entry per distinct server API of the batch (servers of one app
    with different UIs get calls shaped for each); `call` is the first.
    """

    row: TaskRow
    call: Call
    name: str
    #: the input hash, or how to compute it: most rows of a first run (or a dry run) never need it
    digest: str | Callable[[], str]
    values: dict[str, Any]
    calls: dict[str, Call] = field(default_factory=dict)

    @property
    def hash(self) -> str:
        """A stable hash of what the row sends (`gbatch._journal.input_hash`), made when first asked."""
        if not isinstance(self.digest, str):
            self.digest = self.digest()
        return self.digest


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
    #: one line per server: how its slots are chosen (before the run), what was learned (after)
    servers: list[str] = field(default_factory=list)
    #: per server label: the slots learned while running (learned, peak, cap, queue_ahead, how)
    slots: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the review page written after the batch, if any
    review: Path | None = None
    #: rows whose best take still scored worse than --max-error (or whose fixed seed failed)
    check_failed: int = 0
    #: rows with a take the recogniser could not check (a re-run checks it)
    unchecked: int = 0
    #: server label -> how many times its voice (server state) was switched, for tools that need one
    switches: dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> ExitCode:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.failed or self.check_failed or self.unchecked or (self.not_run and not self.dry_run):
            return ExitCode.ROWS_FAILED
        return ExitCode.OK

    def summary(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "skipped": self.skipped,
            "not_run": self.not_run,
            "check_failed": self.check_failed,
            "unchecked": self.unchecked,
            "interrupted": self.interrupted,
            "halted": self.halted,
            "seconds": round(self.seconds, 3),
            "out_dir": str(self.out_dir),
            "journal": str(self.journal),
            "results": str(self.results) if self.results else None,
            "review": str(self.review) if self.review else None,
            "exit_code": int(self.exit_code),
            "servers": self.servers,
            "slots": self.slots,
            **({"switches": dict(self.switches)} if self.switches else {}),
        }


def plain_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values as JSON can hold them: a `File` (or a list of them) as its path or URL."""

    def plain(value: Any) -> Any:
        if isinstance(value, File):
            return str(value)
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return {k: plain(v) for k, v in values.items()}

"""What a tool plugin declares, and the objects it is handed while a batch runs.

A `Tool` is the static declaration (name, help, columns, options): enough to
build its CLI sub-command without touching the network. When a batch starts,
the tool is shown the server's API and returns a `Plan` that turns each row
into a `Call` and saves each result.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ._api import ServerApi
from ._columns import Column, File
from ._errors import Failure, RowProblem, UsageError
from .transports.base import CallResult, ServerFile

if TYPE_CHECKING:
    from ._servers import Server

__all__ = ["BUILTIN_FLAGS", "Call", "Option", "Outputs", "Plan", "RowProblem", "ServerState", "Tool", "generated_value"]

#: the flags every tool command has; a tool's column or option may not take one of these names
BUILTIN_FLAGS = frozenset(
    ["server", "pin", "jobs", "out", "name", "timeout", "retries", "retry-app-errors", "halt-on-failures", "overwrite", "restart", "retry-failed", "rename", "dry-run", "strict", "encoding", "delimiter", "each", "auth", "token", "header", "max-download-mb", "cluster", "quiet", "json", "help", "version"]
    # a book's flags (every tool with a text column reads books)
    + ["book", "voices", "lexicon", "max-chars", "merge-under", "chapter-pattern", "pauses", "audiobook", "title", "author"]
)


@dataclass(frozen=True)
class Option:
    """A tool-wide CLI option that is not a column (`--format`, `--join`, ...).

    `choices` and `minimum`/`maximum` are checked by gbatch before `Tool.plan` sees the
    value (a choice is matched ignoring case and handed over as declared), so a plan
    never re-checks them.
    """

    name: str
    type: type = str
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] | None = None
    flag: bool = False  # a boolean switch: `--name` / absent
    minimum: float | None = None
    maximum: float | None = None

    @property
    def flag_name(self) -> str:
        return "--" + self.name.replace("_", "-")

    def resolve(self, given: Any) -> Any:
        """The given value (or the default) checked against the choices and range; `UsageError` if it is neither."""
        value = self.default if given is None else given
        if value is None:
            return None
        if self.choices is not None:
            match = next((c for c in self.choices if str(c).casefold() == str(value).casefold()), None)
            if match is None:
                raise UsageError(f"{self.flag_name} {value!r}: choose one of {', '.join(map(str, self.choices))}")
            value = match
        if self._out_of_range(value):
            raise UsageError(f"{self.flag_name} {value!r}: {self.range_text()}")
        return value

    def _out_of_range(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum)

    def range_text(self) -> str:
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            return f"must be {low:g} … {high:g}"
        return f"must be at least {low:g}" if low is not None else f"must be at most {high:g}"


@dataclass
class Call:
    """One request to the endpoint, prepared from one row.

    :param kwargs: endpoint parameter name -> value. `gbatch.File` values (and lists
        of them) are uploaded as the browser would; everything else is sent as JSON,
        integral numbers as integers.
    :param generated: values the tool chose for this row (a random seed, say).
        They are journaled, offered back to `Plan.prepare` on a re-run, and left
        out of the row's input hash so a re-run does not see a "changed" row.
    :param endpoint: the endpoint to call (`/name` or `#fn_index`); default `Plan.api_name`.
    :param before: calls made first, in order, in the same server session (they share
        `gr.State`), e.g. Fooocus's `get_task` before `generate_clicked`. Their results
        are not collected; a failure fails the row.
    :param state: the server state the row needs (a voice's weights loaded), when the app
        keeps it in the server's global state rather than in the request. Rows are then
        grouped by state per server, and the state is applied before a server's first
        row of it (see `ServerState`).
    :param server_paths: parameter name -> a local file, for a textbox that takes a path
        on the server (RVC's input audio): the file is uploaded to the row's server
        (`POST /upload`, as the app's own file inputs do) and its server path sent as the text.
    """

    kwargs: dict[str, Any]
    generated: dict[str, Any] = field(default_factory=dict)
    endpoint: str | int | None = None
    before: tuple[Call, ...] = ()
    state: ServerState | None = None
    server_paths: dict[str, File] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerState:
    """A state of a server's globals that rows need, and the calls that reach it.

    :param key: its identity: rows with equal keys need the same state (e.g. the GPT and
        SoVITS weight files of a voice). Part of each row's input hash.
    :param label: how the user names it (a voice name): progress, journal, `--pin LABEL@URL`.
    :param calls: the calls that put a server in this state, in order (each `Call`'s
        `endpoint` and `kwargs`); `Plan.apply_state` sends them unless a plan overrides it.
    """

    key: str
    label: str = ""
    calls: tuple[Call, ...] = ()

    def __str__(self) -> str:
        return self.label or self.key


def generated_value(
    name: str,
    values: Mapping[str, Any],
    previous: Mapping[str, Any],
    generated: dict[str, Any],
    make: Callable[[], Any],
    valid: Callable[[Any], bool] = lambda value: value is not None,
) -> Any:
    """A value the row gives, or else one gbatch chooses and keeps (a seed, say).

    The row's own `values[name]` wins. Otherwise the value an earlier run generated for
    this row (`previous`, as handed to `Plan.prepare`) is reused if `valid`, so a re-run
    sends the same request; otherwise `make()` is called. A chosen value is put in
    `generated`, to go into `Call.generated`: it is journaled and kept out of the row's
    input hash.
    """
    given = values.get(name)
    if given is not None:
        return given
    value = previous.get(name)
    if not valid(value):
        value = make()
    generated[name] = value
    return value


#: seconds a state switch (loading a voice's weights) may take
STATE_TIMEOUT = 600.0


class Outputs(Protocol):
    """Where a plan puts what one row produced. Used from a worker thread."""

    @property
    def name(self) -> str:
        """The row's output base name, already rendered from `--name`, sanitised and unique."""

    @property
    def call(self) -> Call:
        """The request that produced this result."""

    def fetch(self, file: ServerFile | str) -> bytes:
        """The bytes of a server file (or of a URL on the server), fetched with the run's login."""

    def write(self, data: bytes, suffix: str, label: str | None = None) -> Path:
        """Atomically write `<out>/<name>[.<label>]<suffix>`; returns the final path.
        `label` and `suffix` are sanitised like names."""

    def value(self, name: str, value: Any) -> None:
        """Record a non-file result (text, number, JSON) for the results file."""

    def warn(self, message: str) -> None:
        """Record a warning about this row in the journal."""

    @property
    def logs(self) -> Sequence[tuple[str, str]]:
        """The server's log messages for this request, as (level, text), in order."""


class Plan(ABC):
    """A tool bound to one server API and one set of options, for one batch."""

    #: the endpoint every row calls, e.g. "/generate_audio" or "#7" (fn_index 7); default: `Tool.api_name`
    api_name: str
    #: the effective columns (may differ from Tool.columns once the server is known); default:
    #: `Tool.columns`, whose `param=` columns gbatch binds to the parameters of `api_name`'s
    #: endpoint when the plan is made. A plan that sets its own columns binds them itself
    #: (`gbatch.bind_columns(columns, endpoint)`, or `gbatch.bind_column` one by one).
    columns: Sequence[Column]
    #: shown to the user once the plan is made (e.g. "this server is a stand-in")
    notice: str | None = None
    #: the column whose text is spoken or read (a text-to-speech tool's `text`): a book puts each
    #: piece there, a lexicon rewrites it when a row is prepared, checks compare takes with it
    text_column: str | None = None
    #: the columns a voice sets (voices.csv's columns: prompt audio, its transcript, a speaker…)
    voice_columns: tuple[str, ...] = ()
    #: the longest piece of a book this model reads well, in characters (None: gbatch's default)
    max_chars: int | None = None

    def setup(self, server: Server) -> None:  # noqa: B027 - optional
        """Prepare one server before its first row (load a model, say); raise `gbatch.ServerError`
        if it cannot be used. Facts it learns (the model's speakers) can go in `server.facts`
        and be used by `prepare`.

        Runs once per server in the main thread before any row is prepared, and again in
        a worker thread before the next row after that server lost its session (restarted).
        """

    @abstractmethod
    def prepare(self, values: Mapping[str, Any], previous: Mapping[str, Any]) -> Call:
        """Turn one row's converted column values into a call; raise `RowProblem` if it cannot work.

        :param values: column name -> converted value (CLI defaults already applied).
        :param previous: `Call.generated` recorded for this row id by an earlier run.

        Runs in the main thread, for every row, before anything is sent.
        """

    @abstractmethod
    def collect(self, result: CallResult, out: Outputs) -> None:
        """Save what the endpoint returned. Raise `gbatch.RowFailed` to fail the row.

        :param result: `result.outputs` holds one value per output of the endpoint
            (`result.value` the only one, `result.named()` them by name); server files
            are `gbatch.ServerFile`s, not yet downloaded (`out.fetch(file)` or
            `gbatch.save_file(out, file)`), galleries lists of them, and component
            updates `gbatch.ComponentUpdate`.

        Runs in a worker thread, once per successful request.
        """

    def fingerprint(self) -> str:
        """Options that change a row's output without changing its call (e.g. the file format)."""
        return ""

    def apply_state(self, server: Server, state: ServerState) -> None:
        """Put `server` into `state` (see `Call.state`): by default, send `state.calls` in order.
        Raise `gbatch.CallError` (e.g. `RowFailed`) when it cannot be reached.

        Runs in a worker thread, while no row of another state runs on that server: before
        its first row of the state, and again after the server lost its session (restarted).
        """
        for step in state.calls:
            server.call(step.endpoint if step.endpoint is not None else self.api_name, step.kwargs, timeout=STATE_TIMEOUT)

    def read_state(self, server: Server) -> str | None:
        """The key of the state `server` is in now, read back cheaply from the app, or None
        when the app cannot tell (the default). When it can, gbatch asks before each group
        of rows and applies the state again if someone else changed it. Worker thread."""
        return None

    def progress(self, outputs: Sequence[Any]) -> float | None:
        """0..1 from what a generator endpoint yielded so far, for apps that report progress only
        there (Fooocus's progress HTML); None when the outputs say nothing. Worker thread."""
        return None

    def explain(self, failure: Failure, call: Call) -> str:
        """Reword a failed row's error for the user (add what the tool knows about the cause).

        :param failure: what failed (`failure.cause`: "app", "transport", "timeout",
            "queue", "request" or "output"), the message the user would read otherwise,
            whether the server hid the app's error (`failure.hidden`) and its log lines.
        :param call: the request the row sent.

        Returns the message to journal. Runs in the main thread, once per failed row.
        """
        return failure.message

    def finish(self, rows: Sequence[Mapping[str, Any]], out_dir: Path, say: Any) -> None:  # noqa: B027
        """After the batch: e.g. join outputs. `rows` holds every row of the task file in
        order: its journal record (`status` is "ok", "failed" or "not run") plus `row`
        (the task file's cells by header) and `inputs` (the converted column values).
        `say(text)` prints to the user.

        Runs in the main thread, once, only when the batch was not interrupted.
        """


class Tool(ABC):
    """A batch tool: a name, the columns of its task files, its options, and how to plan a run."""

    name: str
    help: str = ""
    columns: Sequence[Column] = ()
    #: the endpoint rows call (`/name` or `#fn_index`), when the tool always uses one; a plan
    #: that sets no `api_name` of its own takes this
    api_name: str | None = None
    options: Sequence[Option] = ()
    #: how many requests the app takes at once, as far as the tool knows: a queued endpoint
    #: starts there and learns the rest from its queue; an endpoint without a queue gets at
    #: most this many unless `URL=N` or `-j` says otherwise
    slots_per_server: int = 2
    #: the server used when the user gives none
    default_server: str | None = None
    #: the default output folder (relative to the current directory)
    default_out: str = "gbatch-out"
    #: the default `--name` template
    default_name: str = "{id}"

    def flag_clashes(self) -> list[str]:
        """Columns or options whose `--flag` would shadow one every tool has."""
        names = [c.name for c in self.columns if c.option] + [o.name for o in self.options]
        return [n for n in names if n.replace("_", "-") in BUILTIN_FLAGS]

    def diagnose(self, api: ServerApi, call: Call, failure: Failure) -> str | None:
        """The likely cause of a failed row when `gbatch run` drove this tool's app directly:
        `call` as it was sent to `api`, `failure` what went wrong. None when the app is not this
        tool's, or the tool has nothing to add. Main thread, once per failed row."""
        return None

    def for_task(self, columns: Sequence[str]) -> Tool:
        """This tool for a task file with these headers (`gbatch run` picks its endpoint by them);
        by default the tool itself. Main thread, once per batch, before `plan`."""
        return self

    @abstractmethod
    def plan(self, api: ServerApi, options: Mapping[str, Any]) -> Plan:
        """Check the server offers what the tool needs and bind to it.

        `options` holds every `Tool.options` entry: the given value, or the option's default,
        already checked against its choices.

        Raise `gbatch.ServerError` with a message that shows what was found when the
        server does not fit. Runs in the main thread, once per batch.
        """

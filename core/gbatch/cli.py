"""The `gbatch` command: a thin typer layer over the library.

Commands are built in `build_app` from the loaded plugins (one sub-command per
tool, with the tool's columns and options as flags), never at import time.
Errors of the `GbatchError` tree become a clean message and a named exit code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import json
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ._batch import plain_values
from ._columns import Column
from ._console import console
from ._errors import ExitCode, GbatchError, UsageError
from ._hints import command_again, invoked
from ._plugins import Registry, call_register_commands, load_registry
from ._scaffold import BUILTIN_COMMANDS
from ._slots import DEFAULT_QUEUE_AHEAD
from ._tool import Option, Tool

__all__ = ["build_app", "main"]

HELP = """Batch-drive Gradio AI apps from a task file (CSV, TSV, JSONL, TXT, XLSX).

Every row is checked before anything is sent; rows run concurrently on one or
more servers, transient failures are retried, each result lands in a
predictable file, and a journal lets a re-run continue where the last stopped.

Exit codes: 0 all rows succeeded, 1 some rows failed, 2 usage or validation
error, 3 no server reachable, 130 interrupted.
"""


# The dry run lists this many rows beyond the first three shown in full: a 100,000-row
# table would take longer to print than to validate.
DRY_RUN_LISTED = 50


def _stderr() -> Console:
    return console(stderr=True)


def _boundary(func: Callable[..., int | None]) -> Callable[..., None]:
    """Turn gbatch's errors and Ctrl-C into a message and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        as_json = bool(kwargs.get("json_out"))
        try:
            code = func(*args, **kwargs)
        except GbatchError as exc:
            # The message quotes the user's cells as written: never read them as markup.
            _stderr().print(Text.assemble(("Error: ", "bold red"), str(exc)), highlight=False, soft_wrap=True)
            if as_json:  # --json promises one JSON document on stdout, whatever happens
                typer.echo(json.dumps(error_document(exc), ensure_ascii=False))
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            # soft_wrap: the terminal wraps the sentence, rich does not cut it at 80 columns in a pipe
            _stderr().print("[yellow]Interrupted.[/] Nothing half-written was kept; run the same command again to continue.", soft_wrap=True)
            if as_json:
                typer.echo(json.dumps({"error": {"kind": "interrupted", "message": "interrupted"}, "exit_code": int(ExitCode.INTERRUPTED)}))
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        raise typer.Exit(int(code or 0))

    return wrapper


def error_document(exc: GbatchError) -> dict[str, Any]:
    """The `--json` document for a run that stopped before or instead of running rows."""
    problems = getattr(exc, "problems", None)
    message = str(exc) if problems is None else f"{len(problems)} problem(s) in the task file; nothing was sent"
    return {
        "error": {"kind": type(exc).__name__, "message": message},
        "problems": [p.to_json() for p in problems] if problems is not None else [],
        "exit_code": int(exc.exit_code),
    }


def _param(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def _connection_params() -> list[inspect.Parameter]:
    return [
        _param("auth", Annotated[str | None, typer.Option("--auth", metavar="USER:PASSWORD", help="Gradio login.", envvar="GBATCH_AUTH", show_envvar=True)], None),
        _param("token", Annotated[str | None, typer.Option("--token", metavar="TOKEN", help="Hugging Face token for private Spaces.", envvar="HF_TOKEN", show_envvar=True)], None),
        _param("header", Annotated[list[str] | None, typer.Option("--header", metavar="'NAME: VALUE'", help="Extra HTTP header (repeatable), e.g. for a proxy.")], None),
    ]


def _cluster_param() -> inspect.Parameter:
    return _param("cluster", Annotated[str | None, typer.Option("--cluster", metavar="ADDRESS", help="Run the rows on a Dask cluster (tcp://scheduler:8786); needs gbatch[dask]. --server local:URL is each worker's own server.")], None)


def _download_param() -> inspect.Parameter:
    return _param("max_download_mb", Annotated[float, typer.Option("--max-download-mb", metavar="MB", help="Refuse to download an output file larger than this.", show_default=True)], 2000.0)


def _batch_params(tool_default_out: str, tool_default_name: str, tool_default_server: str | None = None) -> list[inspect.Parameter]:
    server_default = f" [default: {tool_default_server}]" if tool_default_server else ""
    return [
        _param("server", Annotated[list[str] | None, typer.Option("--server", "-s", metavar="URL[=N]", help=f"A Gradio server, with at most N rows at once there (repeatable).{server_default}")], None),
        _param("jobs", Annotated[int | None, typer.Option("--jobs", "-j", metavar="N", help="Rows in flight at most, over all servers [default: what each server's queue grants, learned while running].")], None),
        _param("queue_ahead", Annotated[int | None, typer.Option("--queue-ahead", metavar="N", help=f"Rows kept waiting in each server's queue beyond those it runs; 0 sends a row only when one of ours finishes (a server shared with others) [default: enough to cover one round trip, at least {DEFAULT_QUEUE_AHEAD}].")], None),
        _param("out", Annotated[Path | None, typer.Option("--out", "-o", metavar="DIR", help=f"Output folder [default: {tool_default_out}].")], None),
        _param("name", Annotated[str | None, typer.Option("--name", metavar="TEMPLATE", help=f"Output name over the row's columns, e.g. '{{chapter}}_{{id}}' [default: {tool_default_name}].")], None),
        _param("timeout", Annotated[float | None, typer.Option("--timeout", metavar="SECONDS", help="Per attempt; the job is then cancelled on the server and retried [default: no limit].")], None),
        _param("retries", Annotated[int, typer.Option("--retries", metavar="N", help="Retries for transient failures (connection, 429/5xx, dropped stream, timeout).")], 3),
        _param("retry_app_errors", Annotated[bool, typer.Option("--retry-app-errors", help="Also retry rows the app itself failed (gr.Error); by default only transient failures are.")], False),
        _param("halt_on_failures", Annotated[int | None, typer.Option("--halt-on-failures", metavar="N", help="Stop starting rows after N failures; rows in flight are cancelled [default: never].")], None),
        _param("overwrite", Annotated[bool, typer.Option("--overwrite", help="Replace existing files that an earlier run did not write.")], False),
        _param("restart", Annotated[bool, typer.Option("--restart", help="Ignore the journal: run every row again.")], False),
        _param("retry_failed", Annotated[bool, typer.Option("--retry-failed", help="Run only the rows that failed last time.")], False),
        _param("rename", Annotated[bool, typer.Option("--rename", help="Move finished rows' files to the names --name gives them now (after changing --name).")], False),
        _param("redo", Annotated[Path | None, typer.Option("--redo", metavar="FILE", help="Run exactly these row ids again (one per line, e.g. OUT/redo.txt from the review page), each with a new seed unless the row fixes it.")], None),
        _param("keep", Annotated[bool, typer.Option("--keep/--no-keep", help="With --redo: keep each previous output as <name>.take<N>.<ext>, or replace it.")], True),
        _param("review", Annotated[bool, typer.Option("--review/--no-review", help="Write OUT/review.html after the batch.")], True),
        _param("dry_run", Annotated[bool, typer.Option("--dry-run", help="Check every row (the server is asked for its API) and show what would be sent; send nothing.")], False),
        _param("strict", Annotated[bool, typer.Option("--strict", help="A server warning fails the row.")], False),
        _param("encoding", Annotated[str | None, typer.Option("--encoding", metavar="NAME", help="Task file encoding (default: detected; a file that is not UTF-8 is named in a note).")], None),
        _param("delimiter", Annotated[str | None, typer.Option("--delimiter", metavar="CHAR", help="CSV delimiter: , ; tab | (default: detected).")], None),
        _param("each", Annotated[list[str] | None, typer.Option("--each", metavar="COLUMN=SOURCE", help="Rows from a glob of files (faces/*.png), a .txt file (one value per line) or a;b;c (repeatable: the cross product; with a task file, each row is crossed).")], None),
        *_check_params(),
        _param("pin", Annotated[list[str] | None, typer.Option("--pin", metavar="VOICE@URL", help="For tools whose voice lives on the server: run that voice's rows only on that --server (repeatable).")], None),
        _cluster_param(),
        *_connection_params(),
        _download_param(),
        _param("quiet", Annotated[bool, typer.Option("--quiet", "-q", help="No progress, only the summary.")], False),
        _param("json_out", Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON summary on stdout.")], False),
    ]


def _check_params() -> list[inspect.Parameter]:
    return [
        _param("check_server", Annotated[list[str] | None, typer.Option("--check-server", metavar="URL[=N]", help="A speech-recognition app that checks every take (repeatable), N takes at once there; see docs/checks.md.")], None),
        _param("check_api", Annotated[str | None, typer.Option("--check-api", metavar="/NAME", help="The recogniser's endpoint [default: the one that takes audio and returns text].")], None),
        _param("max_error", Annotated[float, typer.Option("--max-error", metavar="RATE", help="A take whose error rate (words, or characters for Chinese/Japanese/Korean) is above this is made again.", show_default=True)], 0.15),
        _param("takes", Annotated[int, typer.Option("--takes", metavar="N", help="Takes per row at most, with --check-server.", show_default=True)], 3),
    ]


def _book_params() -> list[inspect.Parameter]:
    """A book's flags, on every tool command and on `run` (docs/audiobook.md)."""
    return [
        _param("book", Annotated[bool, typer.Option("--book", help="Read a .txt task file as a book (chapters, sentences) instead of one row per line; .md and .epub always are books.")], False),
        _param("voices", Annotated[Path | None, typer.Option("--voices", metavar="FILE", help="voices.csv: one row per voice name with the tool's voice columns; the 'default' row reads what names no voice.")], None),
        _param("lexicon", Annotated[Path | None, typer.Option("--lexicon", metavar="FILE", help="lexicon.tsv: WORD<TAB>REPLACEMENT lines, applied to the text of every row before it is sent.")], None),
        _param("max_chars", Annotated[int | None, typer.Option("--max-chars", metavar="N", help="A book's longest piece in characters (longer sentences are cut at clause boundaries) [default: the tool's, else 80].")], None),
        _param("merge_under", Annotated[int, typer.Option("--merge-under", metavar="N", help="Join a book piece shorter than N characters with the next one when both fit --max-chars.")], 0),
        _param("chapter_pattern", Annotated[str | None, typer.Option("--chapter-pattern", metavar="REGEX", help="Chapter lines of a .txt book [default: 第一章 / 第1章 / Chapter 1 lines].")], None),
        _param("pauses", Annotated[str | None, typer.Option("--pauses", metavar="S,P,C", help="Seconds of silence after a sentence, a paragraph and a chapter of a book [default: 0.4,0.8,2].")], None),
        _param("audiobook", Annotated[Path | None, typer.Option("--audiobook", metavar="FILE", help="After the batch, write the whole book to FILE (.m4b or .mp3) with a chapter mark per chapter and one .srt.")], None),
        _param("title", Annotated[str | None, typer.Option("--title", metavar="TEXT", help="The audiobook's title [default: the EPUB's or Markdown's].")], None),
        _param("author", Annotated[str | None, typer.Option("--author", metavar="TEXT", help="The audiobook's author [default: the EPUB's].")], None),
    ]


def _book_options(kwargs: dict[str, Any]) -> Any:
    """The book flags as `BookOptions` (None when none was given)."""
    from ._book import BookOptions, Pauses

    given = ("book", "voices", "lexicon", "max_chars", "chapter_pattern", "pauses", "audiobook", "title", "author", "text_param", "join", "normalize_lufs")
    if not any(kwargs.get(name) for name in given) and not kwargs.get("merge_under"):
        return None
    try:
        pauses = Pauses.parse(kwargs["pauses"]) if kwargs.get("pauses") else Pauses()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    max_chars = kwargs.get("max_chars")
    if max_chars is not None and max_chars < 5:
        raise UsageError("--max-chars must be 5 or more")
    audiobook = kwargs.get("audiobook")
    if audiobook is not None and audiobook.suffix.lower() not in (".m4b", ".mp3"):
        raise UsageError(f"--audiobook {audiobook}: write a .m4b or an .mp3")
    return BookOptions(
        book=bool(kwargs.get("book")),
        voices=kwargs.get("voices"),
        lexicon=kwargs.get("lexicon"),
        max_chars=max_chars,
        merge_under=int(kwargs.get("merge_under") or 0),
        chapter_pattern=kwargs.get("chapter_pattern"),
        pauses=pauses,
        text_column=kwargs.get("text_param"),
        audiobook=audiobook.resolve() if audiobook is not None else None,
        title=kwargs.get("title"),
        author=kwargs.get("author"),
        join=kwargs.get("join"),
        normalize=kwargs.get("normalize_lufs"),
        gap=float(kwargs.get("gap") or 0.5) if kwargs.get("gap") != 0 else 0.0,
        encoding=kwargs.get("encoding"),
    )


def _column_param(column: Column) -> inspect.Parameter:
    help_text = column.help or column.name
    if column.choices:
        help_text += " Choices: " + ", ".join(str(c) for c in column.choices if c != "")
    if column.default is not None:
        help_text += f" [default: {column.default}]"
    return _param(
        f"col_{column.name}",
        Annotated[str | None, typer.Option(f"--{column.name.replace('_', '-')}", metavar=column.kind.upper(), help=f"Default for column '{column.name}': {help_text}")],
        None,
    )


_METAVARS: dict[type, str] = {str: "TEXT", int: "INT", float: "FLOAT", Path: "PATH"}


def _option_param(option: Option) -> inspect.Parameter:
    flag = f"--{option.name.replace('_', '-')}"
    help_text = option.help + (f" Choices: {', '.join(map(str, option.choices))}." if option.choices else "")
    if option.minimum is not None or option.maximum is not None:
        help_text += f" It {option.range_text()}."
    if option.flag:
        return _param(f"opt_{option.name}", Annotated[bool, typer.Option(flag, help=help_text)], bool(option.default))
    kind: Any = option.type | None
    return _param(f"opt_{option.name}", Annotated[kind, typer.Option(flag, metavar=_METAVARS.get(option.type, "VALUE"), help=help_text)], option.default)


def _command(name: str, help_text: str, params: Sequence[inspect.Parameter], body: Callable[[dict[str, Any]], int | None]) -> Callable[..., None]:
    def command(**kwargs: Any) -> int | None:
        with invoked(name, params, kwargs):  # what the summary's hints repeat
            return body(kwargs)

    command.__signature__ = inspect.Signature(list(params))  # type: ignore[attr-defined]
    command.__name__ = name.replace("-", "_")
    command.__doc__ = help_text
    return _boundary(command)


def _connection(kwargs: dict[str, Any]) -> Any:
    from .transports.base import ConnectOptions

    auth = None
    if kwargs.get("auth"):
        user, sep, password = str(kwargs["auth"]).partition(":")
        if not sep:
            raise UsageError("--auth expects USER:PASSWORD")
        auth = (user, password)
    headers = {}
    for header in kwargs.get("header") or []:
        key, sep, value = header.partition(":")
        if not sep or not key.strip():
            raise UsageError(f"--header {header.split(':')[0]!r}: expected 'Name: value'")
        headers[key.strip()] = value.strip()
    max_mb = kwargs.get("max_download_mb")
    if max_mb is not None and max_mb <= 0:
        raise UsageError("--max-download-mb must be more than 0")
    limit = int(max_mb * 1_000_000) if max_mb else None
    return ConnectOptions(auth=auth, token=kwargs.get("token") or None, headers=headers, max_download=limit)


def _run_tool(tool: Tool, tasks: Path | None, kwargs: dict[str, Any]) -> int:
    from ._batch import BatchOptions
    from ._progress import PlainListener, RichListener
    from ._runner import run_batch

    defaults = {k[4:]: v for k, v in kwargs.items() if k.startswith("col_") and v is not None}
    tool_options = {k[4:]: v for k, v in kwargs.items() if k.startswith("opt_")}
    if kwargs["retries"] < 0:
        raise UsageError("--retries must be 0 or more")
    if (kwargs.get("queue_ahead") or 0) < 0:
        raise UsageError("--queue-ahead must be 0 or more")
    options = BatchOptions(
        servers=kwargs.get("server") or [],
        jobs=kwargs.get("jobs"),
        queue_ahead=kwargs.get("queue_ahead"),
        out=kwargs.get("out"),
        name=kwargs.get("name"),
        timeout=kwargs.get("timeout"),
        retries=kwargs["retries"],
        halt_on_failures=kwargs.get("halt_on_failures"),
        overwrite=kwargs["overwrite"],
        restart=kwargs["restart"],
        retry_failed=kwargs["retry_failed"],
        rename=kwargs["rename"],
        redo=kwargs.get("redo"),
        keep_takes=kwargs["keep"],
        review=kwargs["review"],
        dry_run=kwargs["dry_run"],
        strict=kwargs["strict"],
        retry_app_errors=kwargs["retry_app_errors"],
        encoding=kwargs.get("encoding"),
        delimiter=kwargs.get("delimiter"),
        each=kwargs.get("each") or [],
        connection=_connection(kwargs),
        cluster=kwargs.get("cluster"),
        check_servers=kwargs.get("check_server") or [],
        check_api=kwargs.get("check_api"),
        max_error=kwargs["max_error"],
        takes=kwargs["takes"],
        pins=kwargs.get("pin") or [],
        defaults=defaults,
        tool_options=tool_options,
        book=_book_options(kwargs),
    )
    err = _stderr()
    quiet, as_json = kwargs["quiet"], kwargs["json_out"]
    listener: Any = None
    if not quiet and not options.dry_run:
        listener = RichListener(err) if err.is_terminal else PlainListener(err)

    def say(text: str) -> None:
        if not quiet:
            err.print(text, highlight=False, markup=False, soft_wrap=True)

    result = run_batch(tool, tasks, options, listener=listener, say=say)
    if as_json:
        typer.echo(json.dumps(_json_document(result), ensure_ascii=False, default=str))
    elif options.dry_run:
        _show_dry_run(result)
    else:
        _show_summary(result, err)
    return int(result.exit_code)


def _json_document(result: Any) -> dict[str, Any]:
    """`--json`: the summary, the failed rows with their errors, and for a dry run the planned calls."""
    document: dict[str, Any] = result.summary()
    document["failed_rows"] = [
        {"id": r.get("id"), "line": r.get("line"), "error": r.get("error"), "cause": r.get("cause")} for r in result.rows if r.get("status") == "failed"
    ]
    document["not_run_rows"] = [r.get("id") for r in result.rows if r.get("status") == "not run"]
    if any(r.get("takes") and any("score" in t or "unchecked" in t for t in r["takes"]) for r in result.rows):
        document["checked_rows"] = [_checked_row(r) for r in result.rows if r.get("takes")]
    if result.dry_run:
        document["planned"] = [
            {
                "id": item.row.id,
                "line": item.row.line,
                "name": item.name,
                "before": [{"endpoint": step.endpoint, "values": plain_values(step.kwargs)} for step in item.call.before],
                "values": plain_values(item.call.kwargs),
                "generated": item.call.generated,
            }
            for item in result.planned
        ]
    return document


def _checked_row(record: dict[str, Any]) -> dict[str, Any]:
    """One row's takes for --json: each take's seed, transcript and score, and which was kept."""
    return {
        "id": record.get("id"),
        "status": record.get("status"),
        "best_take": record.get("best_take"),
        "score": record.get("score"),
        "flag": record.get("flag"),
        "takes": [
            {
                "take": t.get("take"),
                "generated": t.get("generated"),
                "outputs": t.get("outputs"),
                "transcript": t.get("transcript"),
                "score": (t.get("score") or {}).get("error"),
                "unchecked": t.get("unchecked"),
            }
            for t in record.get("takes") or []
        ],
    }


def _show_dry_run(result: Any, out: Console | None = None) -> None:
    out = out or console()
    planned = result.planned
    out.print(f"Dry run: {len(planned)} row(s) would be sent, {result.skipped} already done; nothing was sent.")
    for line in result.servers:
        out.print(f"server {line}", highlight=False, markup=False)
    for item in planned[:3]:
        out.print(Text.assemble("\n", (f"row {item.row.line}", "bold"), f" id={item.row.id} -> {result.out_dir / item.name}.*"), highlight=False)
        for step in item.call.before:
            out.print(f"  first, {step.endpoint}:", highlight=False, markup=False)
            for key, value in step.kwargs.items():
                out.print(f"    {key} = {_shown(value)}", highlight=False, markup=False)
        if item.call.before:
            out.print(f"  then, {item.call.endpoint or 'the endpoint'}:", highlight=False, markup=False)
        for key, value in item.call.kwargs.items():
            out.print(f"  {key} = {_shown(value)}", highlight=False, markup=False)
        if item.call.generated:
            out.print(f"  (generated: {item.call.generated})", highlight=False, markup=False)
    listed = planned[3 : 3 + DRY_RUN_LISTED]
    if listed:
        table = Table("row", "id", "output")
        for item in listed:
            table.add_row(str(item.row.line), Text(item.row.id), Text(f"{item.name}.*"))
        out.print(table)
    if len(planned) > 3 + DRY_RUN_LISTED:
        out.print(f"… and {len(planned) - 3 - DRY_RUN_LISTED} more rows, all valid.")


def _shown(value: Any) -> str:
    if hasattr(value, "source"):
        return f"file {value}"
    if isinstance(value, list) and value and all(hasattr(v, "source") for v in value):
        return "files " + "; ".join(str(v) for v in value)
    return repr(value)


def _show_summary(result: Any, console: Console) -> None:
    ran = result.succeeded - result.skipped if result.succeeded >= result.skipped else result.succeeded
    parts = [f"{result.succeeded}/{result.total} rows ok"]
    if result.skipped:
        parts.append(f"{result.skipped} done earlier")
    if result.failed:
        parts.append(f"[red]{result.failed} failed[/]")
    if result.check_failed:
        parts.append(f"[red]{result.check_failed} check failed[/]")
    if result.unchecked:
        parts.append(f"[yellow]{result.unchecked} unchecked[/]")
    if result.not_run:
        parts.append(f"[yellow]{result.not_run} not run[/]")
    minutes = result.seconds / 60
    rate = f", {ran / minutes:.1f} rows/min" if ran and minutes > 0 else ""
    console.print(" · ".join(parts) + f" in {result.seconds:.1f}s{rate}", soft_wrap=True)
    for line in result.servers if result.slots else ():
        console.print(f"server {line}", highlight=False, markup=False, soft_wrap=True)
    if result.switches:
        each = ", ".join(f"{server} {count}" for server, count in result.switches.items())
        console.print(f"voice switches: {sum(result.switches.values())} ({each})", highlight=False, markup=False, soft_wrap=True)
    console.print(f"outputs: {result.out_dir}\njournal: {result.journal}\nresults: {result.results}", highlight=False, markup=False, soft_wrap=True)
    if result.review and not result.interrupted:
        console.print(f"review:  {result.review}", highlight=False, markup=False, soft_wrap=True)
    for line in _next_steps(result):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def _next_steps(result: Any) -> list[str]:
    """What to do next, for this outcome only, each with the command that does it."""
    if result.interrupted:
        return ["Interrupted: finished rows are kept; run the same command again to finish the rest:", _hint([])]
    steps = []
    if result.halted:
        steps += ["Halted after --halt-on-failures failures; to try the failed rows again:", _hint(["--retry-failed"])]
    elif result.failed:
        steps += ["To try the failed rows again:", _hint(["--retry-failed"])]
    if result.review:
        from ._review import REDO_NAME

        steps += ["To make new takes of some rows: mark them in the review page (x), then:", _hint(["--redo", str(result.out_dir / REDO_NAME)])]
    return steps


def _hint(extra: list[str]) -> str:
    command = command_again(extra)
    return "  " + (command if command is not None else f"the same command {shlex.join(extra)}".rstrip())


def _tool_command(tool: Tool) -> Callable[..., None]:
    params = [
        inspect.Parameter("tasks", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[Path | None, typer.Argument(help="Task file: .csv .tsv .jsonl .txt .xlsx (optional with --each)")], default=None),
        *_batch_params(tool.default_out, tool.default_name, tool.default_server),
        *_book_params(),
        *[_column_param(c) for c in tool.columns if c.option],
        *[_option_param(o) for o in tool.options],
    ]
    return _command(tool.name, tool.help, params, lambda kw: _run_tool(tool, kw.pop("tasks"), kw))


def _run_command(known: Sequence[Tool] = ()) -> Callable[..., None]:
    from ._generic import GenericTool

    params = [
        inspect.Parameter("url", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[str, typer.Argument(help="The Gradio app's URL.")]),
        inspect.Parameter("tasks", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[Path | None, typer.Argument(help="Task file: .csv .tsv .jsonl .txt .xlsx (optional with --each)")], default=None),
        _param("api", Annotated[str | None, typer.Option(help="Endpoint name, e.g. /predict (optional when the app has one).")], None),
        _param("fn_index", Annotated[int | None, typer.Option("--fn-index", metavar="N", help="Call the event at this fn_index (for events without an api_name; see `gbatch inspect`).")], None),
        *_batch_params(GenericTool.default_out, GenericTool.default_name),
        _param("text_param", Annotated[str | None, typer.Option("--text-param", metavar="PARAM", help="The endpoint parameter that holds a row's text: it gets each piece of a book, and --check-server compares takes with it; voices.csv columns are the endpoint's parameters.")], None),
        *_book_params(),
        _param("join", Annotated[str | None, typer.Option("--join", metavar="COLUMN", help="After the batch, join the audio of each group of rows with the same value in COLUMN (e.g. chapter), with an .srt beside it.")], None),
        _param("gap", Annotated[float | None, typer.Option("--gap", metavar="SECONDS", help="Silence between joined rows that have no pause of their own [default: 0.5].")], None),
        _param("normalize_lufs", Annotated[float | None, typer.Option("--normalize", metavar="LUFS", help="Bring each joined chapter (and the audiobook's) to this integrated loudness, e.g. -18.")], None),
    ]

    def body(kw: dict[str, Any]) -> int:
        url, tasks = kw.pop("url"), kw.pop("tasks")
        kw["server"] = [url, *(kw.get("server") or [])]
        return _run_tool(GenericTool(kw.pop("api"), kw.pop("fn_index"), known=known, text_column=kw.get("text_param")), tasks, kw)

    help_text = """Run a task file against any endpoint of any Gradio app (gradio 3, 4, 5, 6).

Columns map to the endpoint's parameters by name or label; use `gbatch inspect URL` to see them.
Events without an api_name (common in gradio 3 apps) are called with --fn-index N.
A book (.md, .epub, or .txt with --book) needs --text-param: the parameter that gets each piece."""
    return _command("run", help_text, params, body)


def _inspect_command() -> Callable[..., None]:
    params = [
        inspect.Parameter("url", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[str, typer.Argument(help="The Gradio app's URL.")]),
        _param("api", Annotated[str | None, typer.Option(help="Show only this endpoint.")], None),
        _param("fn_index", Annotated[int | None, typer.Option("--fn-index", metavar="N", help="Show only the event at this fn_index.")], None),
        _param("template", Annotated[bool, typer.Option("--template", help="Print a CSV header and one example row for --api or --fn-index.")], False),
        _param("wide", Annotated[bool, typer.Option("--wide", help="Show long values whole instead of cut to one line.")], False),
        *_connection_params(),
    ]

    def body(kw: dict[str, Any]) -> int:
        from ._inspect import inspect_server, print_api, template_csv

        api = inspect_server(kw["url"], _connection(kw))
        if kw["template"]:
            sys.stdout.write(template_csv(api, kw.get("api"), kw.get("fn_index")))
        else:
            print_api(api, kw.get("api"), console(), kw.get("fn_index"), wide=kw["wide"])
        return 0

    return _command("inspect", "Show a Gradio app's endpoints and every parameter (name, label, type, default, choices, limits).", params, body)


def _split_command() -> Callable[..., None]:
    params = [
        inspect.Parameter("book_file", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[Path, typer.Argument(metavar="BOOK", help="A .md, .epub or .txt book.")]),
        _param("output", Annotated[Path | None, typer.Option("--output", "-o", metavar="FILE", help="Write the rows to this .csv [default: standard output].")], None),
        _param("max_chars", Annotated[int | None, typer.Option("--max-chars", metavar="N", help="The longest piece in characters [default: 80, CosyVoice's].")], None),
        _param("merge_under", Annotated[int, typer.Option("--merge-under", metavar="N", help="Join a piece shorter than N characters with the next when both fit.")], 0),
        _param("chapter_pattern", Annotated[str | None, typer.Option("--chapter-pattern", metavar="REGEX", help="Chapter lines of a .txt book.")], None),
        _param("pauses", Annotated[str | None, typer.Option("--pauses", metavar="S,P,C", help="Seconds after a sentence, a paragraph, a chapter [default: 0.4,0.8,2].")], None),
        _param("voices", Annotated[Path | None, typer.Option("--voices", metavar="FILE", help="voices.csv: check the voices the book names (columns are not filled in).")], None),
        _param("text_column", Annotated[str, typer.Option("--text-column", metavar="NAME", help="The header of the text column.", show_default=True)], "text"),
        _param("encoding", Annotated[str | None, typer.Option("--encoding", metavar="NAME", help="The book's encoding (.txt, .md) [default: UTF-8].")], None),
    ]

    def body(kw: dict[str, Any]) -> int:
        from ._book import split_book

        kw["book"] = True
        options = _book_options(kw)
        rows = split_book(kw["book_file"], options, kw["text_column"], kw.get("output"))
        if kw.get("output"):
            _stderr().print(f"{rows} pieces -> {kw['output']}", highlight=False)
        return 0

    help_text = """Cut a book (.md, .epub, .txt) into the rows a tool reads: id, chapter, voice, text, pause.

The same splitting a tool does with the book itself, written out to inspect or edit.
Ids come from each piece's text, so an edit changes only the ids of what was edited."""
    return _command("split", help_text, params, body)


def _review_command() -> Callable[..., None]:
    from ._review_cli import REVIEW_HELP, review_main, review_params

    given = review_params()
    params = [
        inspect.Parameter("out", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=given["out"]),
        _param("serve", given["serve"], False),
        _param("port", given["port"], 0),
    ]
    return _command("review", REVIEW_HELP, params, lambda kw: review_main(kw["out"], kw["serve"], kw["port"], _stderr()))


def _new_plugin_command() -> Callable[..., None]:
    from ._scaffold import NEW_PLUGIN_HELP

    params = [
        inspect.Parameter("name", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[str, typer.Argument(help="The tool's name: the command `gbatch NAME` and the package gbatch-NAME.")]),
        _param("dir", Annotated[Path, typer.Option("--dir", metavar="DIR", help="Where to write gbatch-NAME/.", show_default=True)], Path(".")),
    ]

    def body(kw: dict[str, Any]) -> int:
        from ._scaffold import new_plugin_main

        return new_plugin_main(kw["name"], kw["dir"], console())

    return _command("new-plugin", NEW_PLUGIN_HELP, params, body)


def _plugins_command(registry: Registry) -> Callable[..., None]:
    def body(kw: dict[str, Any]) -> int:
        if kw["json_out"]:
            typer.echo(json.dumps([dataclasses.asdict(info) for info in registry.plugins], indent=2))
            return 0
        table = Table("plugin", "version", "tools", "status")
        for info in registry.plugins:
            version = f"{info.distribution or '?'} {info.version or ''}".strip()
            status = Text(f"failed: {info.error}", style="red") if info.error else Text("ok", style="green")
            table.add_row(Text(info.name), Text(version), Text(", ".join(info.tools) or "-"), status)
        console().print(table)
        return 0

    params = [_param("json_out", Annotated[bool, typer.Option("--json", help="Print the list as JSON.")], False)]
    return _command("plugins", "List the loaded plugins, their versions and tools, and any plugin that failed to load.", params, body)


def _servers_command() -> Callable[..., None]:
    params = [
        _param("server", Annotated[list[str] | None, typer.Option("--server", "-s", metavar="URL[=N]", help="A server, or local:URL[=N] for each worker's own (repeatable; default: each worker's GBATCH_LOCAL_SERVERS).")], None),
        _cluster_param(),
        *_connection_params(),
        _param("json_out", Annotated[bool, typer.Option("--json", help="Print the list as JSON.")], False),
    ]

    def body(kw: dict[str, Any]) -> int:
        if not kw.get("cluster"):
            raise UsageError("gbatch servers asks every worker of a cluster: give --cluster ADDRESS (for one server, see `gbatch inspect URL`)")
        try:
            from ._cluster import servers_on_cluster
        except ImportError:
            raise UsageError("--cluster needs Dask: pip install 'gbatch[dask]'") from None
        rows = servers_on_cluster(kw["cluster"], list(kw.get("server") or []), _connection(kw))
        if kw["json_out"]:
            typer.echo(json.dumps(rows, indent=2))
        else:
            table = Table("worker", "server", "gradio", "slots", "status")
            for row in rows:
                status = Text(str(row["error"]), style="red") if row["error"] else Text("ok", style="green")
                table.add_row(Text(str(row["worker"])), Text(str(row["server"])), Text(str(row["version"] or "-")), str(row["slots"] or "-"), status)
            console().print(table)
        return 3 if rows and all(r["error"] for r in rows) else 0

    help_text = "List, for every worker of a Dask cluster, the server it reaches, its Gradio version and its slots."
    return _command("servers", help_text, params, body)


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"gbatch {__version__}")
        raise typer.Exit()


def build_app(registry: Registry) -> typer.Typer:
    """The typer application for a set of loaded plugins."""
    app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)

    @app.callback()
    def root(
        version: Annotated[bool, typer.Option("--version", help="Show gbatch's version and exit.", callback=_version, is_eager=True)] = False,
    ) -> None:
        """Batch-drive Gradio AI apps from a task file."""

    app.command("run")(_run_command(list(registry.tools.values())))
    app.command("inspect")(_inspect_command())
    app.command("plugins")(_plugins_command(registry))
    app.command("review")(_review_command())
    app.command("split")(_split_command())
    app.command("new-plugin")(_new_plugin_command())
    app.command("servers")(_servers_command())
    for tool in registry.tools.values():
        if tool.name in BUILTIN_COMMANDS:
            continue
        app.command(tool.name, help=tool.help)(_tool_command(tool))
    call_register_commands(registry, app)
    return app


def _stop_on_sigterm() -> None:
    """SIGTERM (a service manager, `kill`, a cluster's scheduler) stops a batch the way Ctrl-C
    does: finished rows kept, jobs in flight cancelled on the server, exit 130."""
    import signal

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread (embedded use): leave it alone
        signal.signal(signal.SIGTERM, interrupt)


class _WithoutLibraryThreads:
    """stderr for the command line, without what library pool threads write.

    gradio_client's stream reader prints a traceback (`traceback.print_exc()`) when a server
    goes away mid-batch; the rows it served already fail as "connection dropped" and are
    retried, so on the user's terminal it is only noise."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        import threading

        # Library pool threads only: rich's refresh thread draws the progress bar through here.
        if threading.current_thread().name.startswith("ThreadPoolExecutor"):
            return len(text)
        return int(self._stream.write(text))

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, flush…
        return getattr(self._stream, name)


def _quiet_library_threads() -> None:
    import threading

    sys.stderr = _WithoutLibraryThreads(sys.stderr)
    default = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.thread is not None and args.thread.name.startswith("gbatch"):
            default(args)

    threading.excepthook = hook


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `gbatch` console script."""
    _stop_on_sigterm()
    _quiet_library_threads()
    registry = load_registry()
    app = build_app(registry)
    broken = [p for p in registry.plugins if p.error]
    if broken and (argv or sys.argv[1:])[:1] != ["plugins"]:
        for info in broken:
            _stderr().print(Text.assemble(("warning:", "yellow"), f" plugin {info.name!r} failed to load ({info.error}); see `gbatch plugins`"), highlight=False)
    try:
        app(args=argv, prog_name="gbatch")
    except SystemExit as done:
        _exit_now_if_stuck(done)
        raise


def _exit_now_if_stuck(done: SystemExit) -> None:
    """A request thread of gradio_client blocked on a server that stopped answering would keep
    the process alive after the batch ended (Python waits for such threads at exit). Everything
    gbatch keeps is written and fsynced by now: exit without waiting for them."""
    import os
    import threading

    # concurrent.futures joins its worker threads at exit, daemon or not: any thread still alive may hang it.
    stuck = [t for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()]
    if not stuck:
        return
    code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

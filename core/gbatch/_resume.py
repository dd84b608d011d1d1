"""Choosing what a run sends, from the journal of earlier runs, and never touching a file
gbatch did not write."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ._batch import BatchOptions, PreparedRow
from ._errors import TaskFileProblem, UsageError, ValidationError
from ._journal import Journal
from ._tasks import TaskFile

__all__ = ["OutLock", "assign_names", "keep_takes", "read_redo", "refuse_foreign_files", "rename_outputs", "select_rows"]


def read_redo(path: Path, known: Sequence[str]) -> list[str]:
    """The ids of a `--redo` file (one per line; blank lines and `#` comments skipped), all
    of which must be rows of the task file."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise UsageError(f"--redo {path}: cannot read it ({exc.strerror or exc})") from None
    ids = {i: None for i in known}
    wanted: list[str] = []
    problems = []
    for number, line in enumerate(lines, start=1):
        row_id = line.strip()
        if not row_id or row_id.startswith("#"):
            continue
        if row_id not in ids:
            problems.append(TaskFileProblem(str(path), number, None, f"{row_id!r} is not a row id of the task file"))
        elif row_id not in wanted:
            wanted.append(row_id)
    if problems:
        raise ValidationError(problems)
    return wanted


def select_rows(prepared: Sequence[PreparedRow], history: Mapping[str, Mapping[str, Any]], options: BatchOptions, out_dir: Path, redo: Sequence[str] = ()) -> list[PreparedRow]:
    """The rows this run sends: by default those not already done with the same inputs;
    with `--redo`, exactly the listed rows."""
    if redo:
        wanted = set(redo)
        return [item for item in prepared if item.row.id in wanted]
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


def refuse_foreign_files(to_run: Sequence[PreparedRow], journal: Journal, history: Mapping[str, Mapping[str, Any]], out_dir: Path, task: TaskFile) -> None:
    """Never overwrite a file gbatch did not write (unless --overwrite): checked before sending."""
    owned = journal.owned_files(history.values())
    problems = []
    for item in to_run:
        if item.name in journal.claimed:
            continue  # an earlier run started this row: whatever it left under this name is ours
        for existing in out_dir.glob(_glob_escape(item.name) + ".*"):
            if existing.resolve() not in owned and not existing.name.startswith(".gbatch-"):
                message = f"{existing} exists and is not from an earlier gbatch run; use --overwrite or another --out"
                problems.append(TaskFileProblem(str(task.path), item.row.line, None, message))
                break
    if problems:
        raise ValidationError(problems)


def _glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def assign_names(prepared: Sequence[PreparedRow], history: Mapping[str, Mapping[str, Any]]) -> list[tuple[PreparedRow, str]]:
    """Give each row its output name; on entry `item.name` is the name rendered from `--name`.

    A row that finished earlier keeps the name it had (and so its file), and no other row
    ever takes a name that a finished row's output holds, even that of a row no longer in
    the task file: a re-run with a changed file must not overwrite another row's result.
    Names are unique case-insensitively. Returns (row, recorded name) for finished rows whose
    recorded name no longer fits `--name` (the template changed); they get a new name here.
    """
    held = {str(rec["name"]).casefold(): rid for rid, rec in history.items() if rec.get("status") in ("ok", "pending") and rec.get("name")}
    taken: set[str] = set()
    bases = [item.name for item in prepared]
    kept: set[str] = set()
    for item, base in zip(prepared, bases, strict=True):
        recorded = str((history.get(item.row.id) or {}).get("name") or "")
        if recorded and _fits(recorded, base) and recorded.casefold() not in taken:
            item.name = recorded
            taken.add(recorded.casefold())
            kept.add(item.row.id)
    renamed: list[tuple[PreparedRow, str]] = []
    for item, base in zip(prepared, bases, strict=True):
        if item.row.id in kept:
            continue
        candidate, n = base, 1
        while candidate.casefold() in taken or held.get(candidate.casefold(), item.row.id) != item.row.id:
            n += 1
            candidate = f"{base}_{n}"
        record = history.get(item.row.id) or {}
        if record.get("status") == "ok" and record.get("name"):
            renamed.append((item, str(record["name"])))
        item.name = candidate
        taken.add(candidate.casefold())
    return renamed


def _fits(recorded: str, base: str) -> bool:
    """Whether a recorded name is what `base` renders to (or its made-unique form)."""
    return recorded == base or re.fullmatch(re.escape(base) + r"_\d+", recorded) is not None


def rename_outputs(
    renamed: Sequence[tuple[PreparedRow, str]], history: dict[str, dict[str, Any]], journal: Journal, out_dir: Path, say: Callable[[str], None]
) -> None:
    """`--rename`: move finished rows' files to their new names (each an atomic rename) and journal it."""
    for item, old in renamed:
        record = history[item.row.id]
        moved = []
        for output in record.get("outputs") or []:
            target = item.name + output[len(old) :] if output.startswith(old) else output
            source, destination = out_dir / output, out_dir / target
            if source.exists() and source != destination:
                if destination.exists():
                    raise UsageError(f"--rename: {destination} exists already; nothing was moved for row {item.row.id}")
                os.replace(source, destination)
            moved.append(target)
        updated = {**record, "name": item.name, "outputs": moved}
        journal.append(updated)
        history[item.row.id] = updated
    say(f"renamed the outputs of {len(renamed)} finished row{'s' if len(renamed) != 1 else ''} to the new --name")


class OutLock:
    """One gbatch run per output folder: two would delete each other's partial files.

    An advisory `flock` on `OUT/.gbatch-lock`, released when the process ends however it
    ends (a crash cannot leave a stale lock). On systems without fcntl it does nothing.
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / ".gbatch-lock"
        self._handle: Any = None

    def __enter__(self) -> OutLock:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise UsageError(f"{self.path.parent} is in use by another gbatch run (pid {holder}); wait for it, or use another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def keep_takes(redone: Sequence[PreparedRow], history: dict[str, dict[str, Any]], journal: Journal, out_dir: Path) -> None:
    """Before a `--redo`, move each redone row's current outputs aside as `<name>.take<N>.<ext>`
    (each an atomic rename) and record the take in the journal, so nothing is lost."""
    for item in redone:
        record = history.get(item.row.id) or {}
        outputs = [o for o in record.get("outputs") or [] if (out_dir / o).exists()]
        if record.get("status") != "ok" or not outputs:
            continue
        takes = list(record.get("takes") or [])
        number = len(takes) + 1
        kept = []
        for output in outputs:
            name = str(record.get("name") or item.name)
            rest = output[len(name) :] if output.startswith(name) else "." + output.rsplit(".", 1)[-1]
            target = f"{name}.take{number}{rest}"
            os.replace(out_dir / output, out_dir / target)
            kept.append(target)
        takes.append({"take": number, "outputs": kept, "generated": record.get("generated") or {}, "ended": record.get("ended")})
        # "pending" until the new take finishes: a run stopped before then makes it again
        updated = {**record, "outputs": [], "takes": takes, "status": "pending"}
        journal.append(updated)
        history[item.row.id] = updated

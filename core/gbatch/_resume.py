"""Choosing what a run sends, from the journal of earlier runs, and never touching a file
gbatch did not write."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from ._batch import HAS_TAKE, BatchOptions, PreparedRow
from ._errors import TaskFileProblem, UsageError, ValidationError
from ._journal import JOURNAL_NAME, RESULTS_NAME, Journal
from ._review import PAGE_NAME, REDO_NAME
from ._tasks import TaskFile

__all__ = ["OutLock", "applied_copy", "assign_names", "read_redo", "refuse_foreign_files", "rename_outputs", "select_rows", "set_redo_aside", "start_redo"]


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
            last.get("status") in HAS_TAKE
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


# Files gbatch itself keeps in the output folder: no row's files may take their names.
_OWN_FILES = (JOURNAL_NAME, RESULTS_NAME, PAGE_NAME, REDO_NAME)


class _NameSpace:
    """The output names in use, where a name stands for every file its row can write:
    `<name><suffix>`, `<name>.<label><suffix>` and `<name>.take<N><suffix>`. So two names
    clash when they are equal or one is the other plus a dot and more (`1` writes `1.2.png`,
    the second image of its result, which is also row `1.2`'s image); case is ignored."""

    def __init__(self) -> None:
        self._owner: dict[str, str | None] = {}
        self._stems: dict[str, str | None] = {}  # every "a", "a.b" a name "a.b.c" starts with

    def claim(self, name: str, owner: str | None) -> None:
        key = name.casefold()
        self._owner[key] = owner
        for stem in _dot_stems(key):
            self._stems.setdefault(stem, owner)

    def free_for(self, name: str, owner: str) -> bool:
        """Whether `owner` may take `name`: no file it could write is another owner's."""
        key = name.casefold()
        if self._owner.get(key, owner) != owner or self._stems.get(key, owner) != owner:
            return False
        return all(self._owner.get(stem, owner) == owner for stem in _dot_stems(key))


def _dot_stems(name: str) -> list[str]:
    """The proper prefixes of `name` that end before a dot: "a.b.c" -> ["a", "a.b"]."""
    if "." not in name:
        return []  # most names: called for every row, twice
    return [name[:i] for i, char in enumerate(name) if char == "." and i > 0]


def assign_names(prepared: Sequence[PreparedRow], history: Mapping[str, Mapping[str, Any]]) -> list[tuple[PreparedRow, str]]:
    """Give each row its output name; on entry `item.name` is the name rendered from `--name`.

    A row that finished earlier keeps the name it had (and so its file), and no other row
    ever takes a name that a finished row's output holds, even that of a row no longer in
    the task file: a re-run with a changed file must not overwrite another row's result.
    Names are unique case-insensitively, and no file one row can write (labelled outputs,
    kept takes) is a file another row can write (`_NameSpace`). Returns (row, recorded name)
    for finished rows whose recorded name no longer fits `--name` (the template changed);
    they get a new name here.
    """
    held = _NameSpace()
    for own in _OWN_FILES:
        held.claim(own, None)
    for rid, rec in history.items():
        if rec.get("status") in ("ok", "pending") and rec.get("name"):
            held.claim(str(rec["name"]), rid)
    taken = _NameSpace()
    bases = [item.name for item in prepared]
    kept: set[str] = set()
    for item, base in zip(prepared, bases, strict=True):
        rid = item.row.id
        recorded = str((history.get(rid) or {}).get("name") or "")
        if recorded and _fits(recorded, base) and held.free_for(recorded, rid) and taken.free_for(recorded, rid):
            item.name = recorded
            taken.claim(recorded, rid)
            kept.add(rid)
    renamed: list[tuple[PreparedRow, str]] = []
    for item, base in zip(prepared, bases, strict=True):
        rid = item.row.id
        if rid in kept:
            continue
        candidates = _candidates(base)
        candidate = next(candidates)
        while not (held.free_for(candidate, rid) and taken.free_for(candidate, rid)):
            candidate = next(candidates)
        record = history.get(rid) or {}
        if record.get("status") == "ok" and record.get("name"):
            renamed.append((item, str(record["name"])))
        item.name = candidate
        taken.claim(candidate, rid)
    return renamed


def _candidates(base: str) -> Iterator[str]:
    """`base`, then `base_2`, `base_3`...; then the same with its dots made underscores, for a
    base that starts with another row's name and a dot (no suffix can end that clash)."""
    for stem in dict.fromkeys([base, base.replace(".", "_")]):
        yield stem
        yield from (f"{stem}_{n}" for n in range(2, 1000))
    yield from (f"{base.replace('.', '_')}_{n}" for n in itertools.count(1000))


def _fits(recorded: str, base: str) -> bool:
    """Whether a recorded name is what `base` renders to (or its made-unique form)."""
    return any(recorded == stem or re.fullmatch(re.escape(stem) + r"_\d+", recorded) for stem in (base, base.replace(".", "_")))


def rename_outputs(
    renamed: Sequence[tuple[PreparedRow, str]], history: MutableMapping[str, dict[str, Any]], journal: Journal, out_dir: Path, say: Callable[[str], None]
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
    `take()` may be called again (it holds the lock once); `release()` or the `with` block's
    end lets it go.
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / ".gbatch-lock"
        self._handle: Any = None

    def __enter__(self) -> OutLock:
        return self.take()

    def take(self) -> OutLock:
        """Hold the folder (creating it), or raise `UsageError` naming the run that holds it."""
        if self._handle is not None:
            return self
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
        self.release()

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def start_redo(redone: Sequence[PreparedRow], history: MutableMapping[str, dict[str, Any]], journal: Journal, out_dir: Path, keep: bool = True) -> None:
    """Before a `--redo`, mark each redone row "pending" in the journal until its new take
    finishes, so a run stopped before then makes it again, with a new seed: the record keeps
    no generated values (the old take's seed would make the old take again).

    With `keep`, the row's current outputs are first moved aside as `<name>.take<N>.<ext>`
    (each an atomic rename) and recorded as a take, so nothing is lost."""
    for item in redone:
        record = history.get(item.row.id) or {}
        if record.get("status") not in HAS_TAKE:
            continue
        outputs = [o for o in record.get("outputs") or [] if (out_dir / o).exists()]
        takes = list(record.get("takes") or [])
        if keep and outputs:
            # A checked row lists its best take already (under the row's name): that take moves aside.
            listed = next((t for t in takes if t.get("outputs") == record.get("outputs")), None)
            if listed is not None:
                takes.remove(listed)
            number = int(listed["take"]) if listed is not None else len(takes) + 1
            kept = []
            for output in outputs:
                name = str(record.get("name") or item.name)
                rest = output[len(name) :] if output.startswith(name) else "." + output.rsplit(".", 1)[-1]
                target = f"{name}.take{number}{rest}"
                os.replace(out_dir / output, out_dir / target)
                kept.append(target)
            take = {**(listed or {}), "take": number, "outputs": kept, "generated": record.get("generated") or {}, "ended": record.get("ended")}
            takes = sorted([*takes, take], key=lambda t: int(t.get("take", 0)))
            outputs = []
        updated = {**record, "outputs": outputs, "takes": takes, "status": "pending", "generated": {}}
        journal.append(updated)
        history[item.row.id] = updated


def applied_copy(redo: Path) -> Path:
    """Where a `--redo` file goes once a run has applied it: `redo.txt` -> `redo.applied.txt`."""
    return redo.with_name(f"{redo.stem}.applied{redo.suffix}")


def set_redo_aside(redo: Path) -> Path:
    """Move an applied `--redo` file aside, so the same command run again does not make
    another take of its rows (the review page writes a new one for the next marks)."""
    target = applied_copy(redo)
    os.replace(redo, target)
    return target

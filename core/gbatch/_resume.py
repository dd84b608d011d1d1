"""Choosing what a run sends, from the journal of earlier runs, and never touching a file
gbatch did not write."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._batch import BatchOptions, PreparedRow
from ._errors import Problem, ValidationError
from ._journal import Journal
from ._tasks import TaskFile

__all__ = ["refuse_foreign_files", "select_rows"]


def select_rows(prepared: Sequence[PreparedRow], history: Mapping[str, Mapping[str, Any]], options: BatchOptions, out_dir: Path) -> list[PreparedRow]:
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
                problems.append(Problem(str(task.path), item.row.line, None, message))
                break
    if problems:
        raise ValidationError(problems)


def _glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)

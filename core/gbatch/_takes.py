"""Takes that check themselves, on the runner's side: which take a row is on, what its
journal record says about each take, when a row is regenerated and which take it keeps.

The runner calls `Takes` from the thread that owns the journal: `generated` when a take
was made (its record is journaled as "unchecked" first, so a Ctrl-C before its check
loses nothing and a re-run checks it), `collect` for check results, `settle` after each
round of generation, and `retakes` for the rows to generate again. The decision itself is
`_checks.judge`, pure; the recogniser calls are `_checks.stage.CheckStage`, threads.

Files: a row's best take is `<name>.<ext>`; every other take is kept as
`<name>.take<N>.<ext>`. A take is first written under its own name (take 1 as
`<name>.<ext>`), and names are swapped once the row's verdict is in.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ._batch import PreparedRow
from ._checks import AUDIO_SUFFIXES, TakeScore, Verdict, judge
from ._checks.recognizer import language_of
from ._checks.stage import CheckJob, CheckResult, CheckStage
from ._errors import NoServerError
from ._journal import Journal
from ._servers import Connected, connect_servers, parse_server

__all__ = ["Takes", "connect_checks", "row_text"]

#: a row waiting for its next take (a re-run makes it, with a new seed)
RETAKING = "retaking"


def row_text(item: PreparedRow, text_column: str | None) -> str:
    value = item.values.get(text_column) if text_column else None
    return str(value) if value is not None else ""


class Takes:
    """One batch's takes and checks (see the module doc). Not thread-safe: one thread calls it."""

    def __init__(
        self,
        stage: CheckStage,
        *,
        out_dir: Path,
        journal: Journal,
        history: MutableMapping[str, dict[str, Any]],
        text_column: str | None,
        max_error: float,
        max_takes: int,
    ) -> None:
        self.stage = stage
        self.out_dir = out_dir
        self.journal = journal
        self.history = history
        self.text_column = text_column
        self.max_error = max_error
        self.max_takes = max_takes
        self._rows: dict[str, PreparedRow] = {}  # row id -> the row, under its base name
        self._take: dict[str, int] = {}  # row id -> the take being made
        self._retake: list[str] = []

    # --- generation ---

    def first_round(self, to_run: Sequence[PreparedRow], done: Sequence[PreparedRow]) -> list[PreparedRow]:
        """The rows to generate now, each named for its take; rows done earlier whose takes
        were not checked are sent to the recognisers."""
        for item in done:
            record = self.history.get(item.row.id) or {}
            if record.get("status") == "unchecked" and record.get("takes"):
                self._rows[item.row.id] = item
                for take in record["takes"]:
                    if "error" not in (take.get("score") or {}):
                        self._submit(item, take)
        return [self._named(item, self._next_take(item)) for item in to_run]

    def generated(self, item: PreparedRow, record: dict[str, Any]) -> dict[str, Any]:
        """A take was made (or could not be): its record, as the journal should keep it."""
        row_id = item.row.id
        number = self._take.get(row_id, 1)
        base = self._rows[row_id].name if row_id in self._rows else item.name
        before = self._takes_before(row_id, number)
        if record.get("status") != "ok":
            if not before:
                return {**record, "name": base}
            # A retake that could not be made leaves the row with the takes it has.
            previous = self.history[row_id]
            warning = f"take {number} could not be made: {record.get('error')}"
            return self._conclude({**previous, "warnings": [*previous.get("warnings", []), warning]}, forced=Verdict.CHECK_FAILED)
        take = {
            "take": number,
            "outputs": list(record.get("outputs") or []),
            "generated": record.get("generated") or {},
            "input_hash": record.get("input_hash"),
            "ended": record.get("ended"),
            "checks": record.get("checks") or [],
            "values": record.get("values") or {},
            "warnings": record.get("warnings") or [],
        }
        updated = {**record, "name": base, "status": "unchecked", "takes": [*before, take]}
        self._submit(self._rows.get(row_id, item), take)
        return updated

    def retakes(self, prepare_again: Callable[[Sequence[PreparedRow]], list[PreparedRow]]) -> list[PreparedRow]:
        """The rows whose checks asked for another take, prepared again (a new seed) and named for it."""
        wanted, self._retake = self._retake, []
        if not wanted:
            return []
        fresh = prepare_again([self._rows[row_id] for row_id in wanted])
        return [self._named(replace(item, name=self._rows[item.row.id].name), self._next_take(item)) for item in fresh]

    # --- checks ---

    def collect(self) -> None:
        """Journal the check results that came in (never blocks)."""
        for result in self.stage.results():
            self._apply(result)

    def settle(self, interrupted: bool) -> bool:
        """Wait for every submitted check (none after a Ctrl-C: those takes stay unchecked).
        Returns True when a Ctrl-C came while waiting."""
        try:
            while not interrupted and self.stage.pending:
                for result in self.stage.wait(0.2):
                    self._apply(result)
        except KeyboardInterrupt:
            interrupted = True
        self.collect()
        return interrupted

    def close(self) -> None:
        self.stage.close()

    # --- inside ---

    def _next_take(self, item: PreparedRow) -> int:
        record = self.history.get(item.row.id) or {}
        if record.get("status") in (RETAKING, "pending"):
            return len(record.get("takes") or []) + 1
        return 1

    def _named(self, item: PreparedRow, number: int) -> PreparedRow:
        self._rows[item.row.id] = item
        self._take[item.row.id] = number
        return item if number == 1 else replace(item, name=f"{item.name}.take{number}")

    def _takes_before(self, row_id: str, number: int) -> list[dict[str, Any]]:
        if number == 1:
            return []
        takes = (self.history.get(row_id) or {}).get("takes") or []
        return [dict(t) for t in takes if int(t.get("take", 0)) < number]

    def _submit(self, item: PreparedRow, take: Mapping[str, Any]) -> None:
        audio = next((o for o in take.get("outputs") or [] if Path(o).suffix.lower() in AUDIO_SUFFIXES), None)
        text = row_text(item, self.text_column)
        language = language_of(text, {**item.row.values, **item.values})
        self.stage.submit(CheckJob(item.row.id, int(take["take"]), self.out_dir / audio if audio else None, text, language))

    def _apply(self, result: CheckResult) -> None:
        record = self.history.get(result.job.row_id)
        if not record:
            return
        takes = [dict(t) for t in record.get("takes") or []]
        for take in takes:
            if take.get("take") == result.job.take:
                if result.score is not None:
                    take["score"] = result.score.as_record()
                    take["transcript"] = result.transcript
                    take.pop("unchecked", None)
                else:
                    take["unchecked"] = result.error
                take["checked_by"] = result.server
        self._conclude({**record, "takes": takes})

    def _conclude(self, record: dict[str, Any], forced: Verdict | None = None) -> dict[str, Any]:
        takes = record["takes"]
        scores = [TakeScore(int(t["take"]), (t.get("score") or {}).get("error")) for t in takes]
        seed_fixed = not takes[-1].get("generated")
        judgement = judge(scores, max_error=self.max_error, max_takes=self.max_takes, seed_fixed=seed_fixed)
        verdict = forced or judgement.verdict
        best = next(t for t in takes if t["take"] == judgement.best)
        if verdict is Verdict.REGENERATE:
            self._retake.append(record["id"])
        elif verdict is not Verdict.UNCHECKED:
            self._keep_best(record, takes, best)
        status = {Verdict.PASSED: "ok", Verdict.UNCHECKED: "unchecked", Verdict.REGENERATE: RETAKING}.get(verdict, "check failed")
        updated = {
            **record,
            "status": status,
            "takes": takes,
            "best_take": best["take"],
            "score": (best.get("score") or {}).get("error"),
            "transcript": best.get("transcript"),
            "outputs": best["outputs"],
            # what the results file shows for the row is the kept take's
            "values": best.get("values", record.get("values")) or {},
            "warnings": best.get("warnings", record.get("warnings")) or [],
            "checks": best.get("checks", record.get("checks")) or [],
            "generated": best.get("generated") or {},
            "input_hash": best.get("input_hash") or record.get("input_hash"),
            "flag": "fixed seed: not regenerated" if verdict is Verdict.FIXED_SEED else None,
        }
        if verdict is Verdict.UNCHECKED:
            updated["error"] = f"not checked: {takes[-1].get('unchecked')}"
        elif verdict in (Verdict.CHECK_FAILED, Verdict.FIXED_SEED):
            error = (best.get("score") or {}).get("error")
            updated["error"] = f"best of {len(takes)} take{'s' if len(takes) != 1 else ''} scores {error:.2f} > --max-error {self.max_error}" if error is not None else "no take could be checked"
        self.journal.append(updated)
        self.history[record["id"]] = updated
        return updated

    def _keep_best(self, record: Mapping[str, Any], takes: list[dict[str, Any]], best: dict[str, Any]) -> None:
        """The best take under the row's name, every other under `.take<N>` (atomic renames)."""
        base = str(record.get("name"))
        for take in takes:
            at_base = _at_base(take, base)
            if take is best and not at_base:
                take["outputs"] = self._move(take["outputs"], f"{base}.take{take['take']}", base)
            elif take is not best and at_base:
                take["outputs"] = self._move(take["outputs"], base, f"{base}.take{take['take']}")
        # Two passes: the name the best take moves to is free only once the other take left it.
        for take in takes:
            take["outputs"] = [self._settle_name(o) for o in take["outputs"]]

    def _move(self, outputs: Sequence[str], old: str, new: str) -> list[str]:
        moved = []
        for output in outputs:
            target = new + output[len(old) :] if output.startswith(old) else output
            source = self.out_dir / output
            if source.exists() and output != target:
                pending = self.out_dir / (target + ".gbatch-move")
                os.replace(source, pending)
                moved.append(target + ".gbatch-move")
            else:
                moved.append(output)
        return moved

    def _settle_name(self, output: str) -> str:
        if not output.endswith(".gbatch-move"):
            return output
        final = output[: -len(".gbatch-move")]
        os.replace(self.out_dir / output, self.out_dir / final)
        return final


def _at_base(take: Mapping[str, Any], base: str) -> bool:
    outputs = take.get("outputs") or []
    return bool(outputs) and not str(outputs[0]).startswith(f"{base}.take")


def connect_checks(
    specs: Sequence[str], api_name: str | None, connection: Any, transport: Any, timeout: float | None, say: Callable[[str], None]
) -> tuple[CheckStage, Connected | None]:
    """Connect the `--check-server`s and find their recognition endpoint. A recogniser that
    cannot be reached is a warning, not an error: its takes stay unchecked."""
    from ._checks.recognizer import find_recognizer
    from ._checks.stage import Recogniser

    backends = [parse_server(spec, 0) for spec in specs]
    provisional = [b if b.slots else replace(b, slots=2) for b in backends]
    try:
        connected = connect_servers(provisional, connection, transport)
    except NoServerError as exc:
        say(f"warning: no --check-server could be reached ({exc}); takes are left unchecked")
        return CheckStage([], timeout=timeout), None
    for problem in connected.unreachable:
        say(f"warning: skipping unreachable --check-server {problem}")
    given = {b.url: b for b in backends}
    recognisers = []
    for server in connected.servers:
        recognizer = find_recognizer(server.api, api_name)
        slots = given[server.url].slots or server.session.concurrency(recognizer.endpoint) or 1
        server.session.slots = slots
        recognisers.append(Recogniser(server, recognizer, slots))
        say(f"check server {server.label}: {recognizer.endpoint.signature()}, {slots} take{'s' if slots != 1 else ''} at once")
    return CheckStage(recognisers, timeout=timeout), connected

"""The runner through the in-memory transport: resume, naming, per-server setup, chained calls and
servers of one app with different UIs, with no Gradio server (the logic, not the wire)."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import gbatch
import gbatch.executor
import gbatch.transports
from gbatch.transports.fake import FakeServer, FakeTransport


def tasks(path: Path, rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def journal(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "gbatch-journal.jsonl").read_text(encoding="utf-8").splitlines()]


def shout(text: str, times: int = 1) -> str:
    return (text.upper() + "!") * times


def run(tool: gbatch.Tool, task: Path, out: Path, *servers: FakeServer, **options: Any) -> gbatch.BatchResult:
    opts = gbatch.BatchOptions(servers=[s.url for s in servers], out=out, **options)
    return gbatch.run_batch(tool, task, opts, transport=FakeTransport(servers), say=lambda _: None)


def test_generic_run_resume_and_changed_rows(tmp_path: Path) -> None:
    server = FakeServer({"/shout": shout})
    task = tasks(tmp_path / "t.csv", [["id", "text", "times"], ["a", "hi", "2"], ["b", "yo", ""]])
    first = run(gbatch.GenericTool("/shout"), task, tmp_path / "out", server)
    assert (first.succeeded, first.failed) == (2, 0)
    # an empty optional cell takes the endpoint's own default, never ""
    assert sorted(c.values["text"] for c in server.calls) == ["hi", "yo"]
    assert {c.values["text"]: c.values for c in server.calls} == {"hi": {"text": "hi", "times": 2}, "yo": {"text": "yo", "times": 1}}
    assert {r["id"]: r["values"] for r in journal(tmp_path / "out")}["a"] == {"Output": "HI!HI!"}

    again = run(gbatch.GenericTool("/shout"), task, tmp_path / "out", server)
    assert (again.skipped, len(server.calls)) == (2, 2)  # nothing sent

    tasks(task, [["id", "text", "times"], ["a", "hi", "3"], ["b", "yo", ""]])
    changed = run(gbatch.GenericTool("/shout"), task, tmp_path / "out", server)
    assert (changed.skipped, len(server.calls)) == (1, 3)
    assert server.calls[-1].values == {"text": "hi", "times": 3}


def test_integral_floats_are_sent_as_integers(tmp_path: Path) -> None:
    def scale(value: float, steps: int) -> str:
        return f"{value!r} {steps!r}"

    server = FakeServer({"/scale": scale})
    task = tasks(tmp_path / "t.csv", [["value", "steps"], ["2.0", "5"], ["2.5", "1e1"]])
    run(gbatch.GenericTool(), task, tmp_path / "out", server)
    calls = sorted((c.values for c in server.calls), key=lambda v: v["steps"])
    assert calls == [{"value": 2, "steps": 5}, {"value": 2.5, "steps": 10}]
    assert [type(v["value"]) for v in calls] == [int, float]


def test_an_app_error_carries_its_cause_to_explain(tmp_path: Path) -> None:
    def picky(text: str) -> str:
        raise gbatch.AppError(f"no {text}")

    seen: list[tuple[str, str]] = []

    class Plan(gbatch.Plan):
        api_name = "/picky"
        columns = (gbatch.Column("text", required=True),)

        def prepare(self, values: Mapping[str, Any], previous: Mapping[str, Any]) -> gbatch.Call:
            return gbatch.Call({"text": values["text"]})

        def collect(self, result: gbatch.CallResult, out: gbatch.Outputs) -> None:
            raise AssertionError("not reached")

        def explain(self, failure: gbatch.Failure, call: gbatch.Call) -> str:
            seen.append((failure.message, failure.cause))
            return f"{failure.message} (hint)"

    class Tool(gbatch.Tool):
        name = "picky"

        def plan(self, api: gbatch.ServerApi, options: Mapping[str, Any]) -> gbatch.Plan:
            return Plan()

    server = FakeServer({"/picky": picky})
    result = run(Tool(), tasks(tmp_path / "t.csv", [["text"], ["x"]]), tmp_path / "out", server)
    assert result.failed == 1
    assert seen == [("the app raised an error: no x", "app")]
    record = journal(tmp_path / "out")[0]
    assert (record["error"], record["cause"], record["attempts"]) == ("the app raised an error: no x (hint)", "app", 1)


class ChainTool(gbatch.Tool):
    """Loads a model on every server first, then sends two chained calls per row."""

    name = "chain"
    columns = (gbatch.Column("text", required=True), gbatch.Column("voice"))

    def plan(self, api: gbatch.ServerApi, options: Mapping[str, Any]) -> gbatch.Plan:
        return ChainPlan()


class ChainPlan(gbatch.Plan):
    api_name = "/speak"
    columns = ChainTool.columns

    def __init__(self) -> None:
        self.voices: set[str] = set()

    def setup(self, server: gbatch.Server) -> None:
        loaded = server.call("/load", {"model": "m1"})
        self.voices.update(str(loaded.value).split(","))
        server.facts["voices"] = loaded.value

    def prepare(self, values: Mapping[str, Any], previous: Mapping[str, Any]) -> gbatch.Call:
        voice = values.get("voice") or "alto"
        if voice not in self.voices:
            raise gbatch.RowProblem(f"unknown voice {voice!r}; the model has: {', '.join(sorted(self.voices))}", "voice")
        return gbatch.Call({"text": values["text"]}, before=(gbatch.Call({"voice": voice}, endpoint="/choose"),))

    def collect(self, result: gbatch.CallResult, out: gbatch.Outputs) -> None:
        out.value("said", result.value)


def chain_server() -> FakeServer:
    chosen: dict[str | None, str] = {}
    server: FakeServer

    def load(model: str) -> str:
        return "alto,bass"

    def choose(voice: str) -> str:
        chosen[server.calls[-1].session] = voice
        return "ok"

    def speak(text: str) -> str:
        return f"{chosen[server.calls[-1].session]}: {text}"

    server = FakeServer({"/load": load, "/choose": choose, "/speak": speak})
    return server


def test_setup_runs_per_server_and_chained_calls_share_a_session(tmp_path: Path) -> None:
    server = chain_server()
    task = tasks(tmp_path / "t.csv", [["id", "text", "voice"], ["1", "hello", "bass"], ["2", "hi", ""]])
    result = run(ChainTool(), task, tmp_path / "out", server)
    assert result.succeeded == 2
    assert server.calls[0].endpoint == "/load"  # before any row
    assert sorted(c.endpoint for c in server.calls[1:]) == ["/choose", "/choose", "/speak", "/speak"]
    said = {r["id"]: r["values"]["said"] for r in journal(tmp_path / "out")}
    assert said == {"1": "bass: hello", "2": "alto: hi"}
    sessions = {c.session for c in server.calls if c.endpoint != "/load"}
    assert len(sessions) == 2  # one per row, shared by its two steps


def test_a_value_the_setup_did_not_find_is_refused_before_sending(tmp_path: Path) -> None:
    server = chain_server()
    task = tasks(tmp_path / "t.csv", [["id", "text", "voice"], ["1", "hello", "tenor"]])
    with pytest.raises(gbatch.ValidationError) as info:
        run(ChainTool(), task, tmp_path / "out", server)
    assert "t.csv:2 (id 1):voice: unknown voice 'tenor'; the model has: alto, bass" in str(info.value)
    assert [c.endpoint for c in server.calls] == ["/load"]


def test_servers_of_one_app_with_different_uis_each_get_their_own_calls(tmp_path: Path) -> None:
    """One plan per distinct API: a row goes to either server with a call shaped for that server."""

    def old_ui(text: str, speed: float) -> str:
        return f"old {text} {speed}"

    def new_ui(text: str, rate: float, voice: str = "a") -> str:
        return f"new {text} {rate}"

    class Tool(gbatch.Tool):
        name = "either"
        columns = (gbatch.Column("text", required=True),)

        def plan(self, api: gbatch.ServerApi, options: Mapping[str, Any]) -> gbatch.Plan:
            endpoint = next(iter(api.endpoints.values()))
            names = [p.name for p in endpoint.parameters]
            return Plan(endpoint.name, "speed" if "speed" in names else "rate")

    class Plan(gbatch.Plan):
        columns = (gbatch.Column("text", required=True),)

        def __init__(self, api_name: str, speed_param: str) -> None:
            self.api_name = api_name
            self.speed_param = speed_param

        def prepare(self, values: Mapping[str, Any], previous: Mapping[str, Any]) -> gbatch.Call:
            return gbatch.Call({"text": values["text"], self.speed_param: 1.5})

        def collect(self, result: gbatch.CallResult, out: gbatch.Outputs) -> None:
            out.value("said", result.value)

    old, new = FakeServer({"/speak": old_ui}), FakeServer({"/speak": new_ui})
    task = tasks(tmp_path / "t.csv", [["text"], *[[f"t{i}"] for i in range(8)]])
    result = run(Tool(), task, tmp_path / "out", old, new, jobs=2)
    assert result.succeeded == 8 and old.calls and new.calls
    assert all(set(c.values) == {"text", "speed"} for c in old.calls)
    assert all(set(c.values) == {"text", "rate"} for c in new.calls)


def test_an_unreachable_server_is_skipped(tmp_path: Path) -> None:
    up, down = FakeServer({"/shout": shout}), FakeServer({"/shout": shout})
    down.down = True
    messages: list[str] = []
    opts = gbatch.BatchOptions(servers=[up.url, down.url], out=tmp_path / "out")
    result = gbatch.run_batch(gbatch.GenericTool(), tasks(tmp_path / "t.csv", [["text"], ["a"]]), opts, transport=FakeTransport([up, down]), say=messages.append)
    assert result.succeeded == 1
    assert any(m.startswith("warning: skipping unreachable server") for m in messages)


def test_files_returned_by_the_app_are_saved_under_the_row_name(tmp_path: Path) -> None:
    server: FakeServer

    def render(text: str) -> gbatch.ServerFile:
        return server.file("picture.png", text.encode())

    server = FakeServer({"/render": render})
    result = run(gbatch.GenericTool(), tasks(tmp_path / "t.csv", [["id", "text"], ["x", "abc"]]), tmp_path / "out", server)
    assert result.succeeded == 1
    assert (tmp_path / "out" / "x.png").read_bytes() == b"abc"


def test_a_plan_reads_progress_from_what_a_generator_yields(serve: Any, tmp_path: Path) -> None:
    """On gradio 6 too: each yield of a generator endpoint is offered to Plan.progress."""
    from .apps import Calls, multi_app

    url = serve(multi_app(Calls()))
    seen: list[float] = []

    class Watch(gbatch.executor.Listener):
        def row_status(self, item_id: str, status: dict[str, Any]) -> None:
            if status.get("code") == "progress":
                seen.append(float(status["progress"]))

    class CountdownPlan(gbatch.Plan):
        api_name = "/countdown"
        columns = (gbatch.Column("text", required=True),)

        def prepare(self, values: Mapping[str, Any], previous: Mapping[str, Any]) -> gbatch.Call:
            return gbatch.Call({"text": values["text"]})

        def collect(self, result: gbatch.CallResult, out: gbatch.Outputs) -> None:
            out.value("said", result.value)

        def progress(self, outputs: Any) -> float | None:
            left = str(outputs[0]).rsplit(":", 1)[-1]
            return 1.0 if left == "liftoff" else (3 - int(left)) / 3

    class Countdown(gbatch.Tool):
        name = "countdown"

        def plan(self, api: gbatch.ServerApi, options: Mapping[str, Any]) -> gbatch.Plan:
            return CountdownPlan()

    result = gbatch.run_batch(Countdown(), tasks(tmp_path / "t.csv", [["text"], ["go"]]), gbatch.BatchOptions(servers=[url], out=tmp_path / "out"), listener=Watch(), say=lambda _: None)
    assert result.succeeded == 1
    assert seen and seen == sorted(seen) and max(seen) <= 1.0


def test_a_stop_just_after_a_row_is_journaled_still_lists_it_as_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C or SIGTERM may land between a row's journal line and the run's own note of it:
    results.csv, rebuilt at the stop, says what the journal says (the next run trusts the journal)."""
    from gbatch._journal import Journal

    written = Journal.append

    def append_then_stop(self: Journal, record: Mapping[str, Any]) -> None:
        written(self, record)
        if record.get("status") == "ok":
            raise KeyboardInterrupt  # the signal arrives the moment the line is on disk

    monkeypatch.setattr(Journal, "append", append_then_stop)
    server = FakeServer({"/shout": shout})
    task = tasks(tmp_path / "t.csv", [["id", "text", "times"], ["a", "hi", "1"], ["b", "yo", "1"]])
    result = run(gbatch.GenericTool("/shout"), task, tmp_path / "out", server, jobs=1)
    assert result.interrupted
    journaled = {record["id"] for record in journal(tmp_path / "out") if "status" in record}
    with (tmp_path / "out" / "results.csv").open(encoding="utf-8-sig", newline="") as handle:
        listed = {row["id"]: row["status"] for row in csv.DictReader(handle)}
    assert journaled == {"a"}
    assert listed == {"a": "ok", "b": "not run"}
    assert result.succeeded == 1

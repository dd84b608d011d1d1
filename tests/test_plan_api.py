"""The plan API's library-side help: columns bound to endpoint parameters, api_name and columns
defaulting from the tool, options resolved and checked, flags a tool may not shadow."""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

import gbatch
from gbatch.transports.fake import FakeServer, FakeTransport


def tasks(path: Path, rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def speak(text: str, voice: str = "alto", speed: float = 1.0) -> str:
    return f"{voice}@{speed}: {text}"


def server() -> FakeServer:
    fake = FakeServer({"/speak": speak})
    endpoint = fake.api.endpoints["/speak"]
    # a server that publishes choices and limits, as a Dropdown and a Slider do
    voice = endpoint.parameters[1]
    speed = endpoint.parameters[2]
    bound = (endpoint.parameters[0], _with(voice, choices=("alto", "bass"), label="Voice of the speaker"), _with(speed, minimum=0.5, maximum=2.0))
    fake.api.endpoints["/speak"] = _with(endpoint, parameters=bound)
    return fake


def _with(obj: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(obj, **changes)


class SpeakPlan(gbatch.Plan):
    def prepare(self, values: Mapping[str, Any], previous: Mapping[str, Any]) -> gbatch.Call:
        return gbatch.Call({k: v for k, v in values.items() if v is not None})

    def collect(self, result: gbatch.CallResult, out: gbatch.Outputs) -> None:
        out.value("said", result.value)


class SpeakTool(gbatch.Tool):
    name = "speak"
    api_name = "/speak"
    columns = (
        gbatch.Column("text", required=True),
        gbatch.Column("voice", param="voice"),
        gbatch.Column("speed", "float", param="speed"),
    )
    options = (gbatch.Option("mood", str, "calm", "How to speak.", choices=("calm", "loud")),)
    seen_options: dict[str, Any] = {}

    def plan(self, api: gbatch.ServerApi, options: Mapping[str, Any]) -> gbatch.Plan:
        SpeakTool.seen_options = dict(options)
        return SpeakPlan()


def run(tool: gbatch.Tool, task: Path, out: Path, fake: FakeServer, **options: Any) -> gbatch.BatchResult:
    opts = gbatch.BatchOptions(servers=[fake.url], out=out, **options)
    return gbatch.run_batch(tool, task, opts, transport=FakeTransport([fake]), say=lambda _: None)


def test_columns_take_choices_limits_and_labels_from_their_parameters(tmp_path: Path) -> None:
    fake = server()
    bad = tasks(tmp_path / "bad.csv", [["text", "voice", "speed"], ["a", "tenor", "1"], ["b", "alto", "3"]])
    with pytest.raises(gbatch.ValidationError) as info:
        run(SpeakTool(), bad, tmp_path / "out", fake)
    text = str(info.value)
    assert "bad.csv:2 (id 1):voice: 'tenor' is not one of: 'alto', 'bass'" in text
    assert "bad.csv:3 (id 2):speed: 3.0 is above the maximum 2" in text
    assert fake.calls == []
    # the UI label is an alias of the column; defaults come from the endpoint
    good = tasks(tmp_path / "good.csv", [["text", "Voice of the speaker"], ["a", "bass"], ["b", ""]])
    result = run(SpeakTool(), good, tmp_path / "out", fake)
    assert result.succeeded == 2
    assert sorted(c.values["voice"] for c in fake.calls) == ["alto", "bass"]


def test_options_get_their_defaults_and_are_checked(tmp_path: Path) -> None:
    fake = server()
    task = tasks(tmp_path / "t.csv", [["text"], ["a"]])
    run(SpeakTool(), task, tmp_path / "out", fake)
    assert SpeakTool.seen_options == {"mood": "calm"}
    with pytest.raises(gbatch.UsageError, match=r"--mood 'angry': choose one of calm, loud"):
        run(SpeakTool(), task, tmp_path / "out2", fake, tool_options={"mood": "angry"})
    with pytest.raises(gbatch.UsageError, match=r"has no option volume"):
        run(SpeakTool(), task, tmp_path / "out3", fake, tool_options={"volume": 3})


def test_a_plan_that_names_no_endpoint_is_an_error_at_plan_time(tmp_path: Path) -> None:
    class Nameless(SpeakTool):
        name = "nameless"
        api_name = None

    with pytest.raises(gbatch.PluginError, match="its plan names no endpoint"):
        run(Nameless(), tasks(tmp_path / "t.csv", [["text"], ["a"]]), tmp_path / "out", server())


def test_a_plan_naming_an_endpoint_the_server_lacks(tmp_path: Path) -> None:
    class Elsewhere(SpeakTool):
        name = "elsewhere"
        api_name = "/sing"

    with pytest.raises(gbatch.ServerError, match=r"has no endpoint '/sing', which tool 'elsewhere' calls"):
        run(Elsewhere(), tasks(tmp_path / "t.csv", [["text"], ["a"]]), tmp_path / "out", server())


def test_a_column_that_shadows_a_builtin_flag_is_refused_when_the_tool_registers() -> None:
    class Clash(SpeakTool):
        name = "clash"
        columns = (gbatch.Column("text", required=True), gbatch.Column("timeout", "float"))

    class Plugin:
        __name__ = "clashing-plugin"

        @gbatch.hookimpl
        def register_tools(self, register: Callable[[gbatch.Tool], None]) -> None:
            register(Clash())

    registry = gbatch.load_registry(entry_points=False, extra=[Plugin()])
    assert "clash" not in registry.tools
    info = next(p for p in registry.plugins if p.name == "clashing-plugin")
    assert info.error is not None and "--timeout would shadow the flag every tool has" in info.error

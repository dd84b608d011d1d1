"""What the core offers every tool plugin, against real Gradio servers on 127.0.0.1: a column
bound to a parameter the endpoint lacks is refused when the plan is made, seed columns that
never take the page's seed, option ranges checked before the plan, the standard "not this app"
refusal, the stand-in notice, and the one-line registration hook."""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

import gbatch
from gbatch.testing import run_cli

from .conftest import journal_by_id, write_csv


def journal(out: Path) -> dict[str, dict[str, Any]]:
    return {rid: r for rid, r in journal_by_id(out).items() if r.get("status") == "ok"}


def speech_app(calls: list[tuple[Any, ...]]) -> gr.Blocks:
    """/speak(text, speed, seed): no `voice` input; a seed slider whose page value is 0."""

    def speak(text: str, speed: float, seed: float) -> str:
        calls.append((text, speed, seed))
        return f"{text}@{speed}#{int(seed)}"

    with gr.Blocks() as demo:
        text = gr.Textbox(label="Text")
        speed = gr.Slider(0.5, 2.0, value=1.0, label="Speed")
        seed = gr.Slider(0, 1000, value=0, step=1, label="Seed")
        out = gr.Textbox(label="Said")
        gr.Button("Speak").click(speak, [text, speed, seed], out, api_name="speak")
    return demo


class SpeakPlan(gbatch.Plan):
    def prepare(self, values: Mapping[str, Any], previous: Mapping[str, Any]) -> gbatch.Call:
        return gbatch.Call({c.param: values[c.name] for c in self.columns if c.param})

    def collect(self, result: gbatch.CallResult, out: gbatch.Outputs) -> None:
        out.value("said", result.value)


class SpeakTool(gbatch.Tool):
    name = "speakkit"
    api_name = "/speak"
    columns = (
        gbatch.Column("text", required=True, param="text"),
        gbatch.Column("speed", "float", param="speed"),
        gbatch.seed_column(maximum=1000, param="seed"),
    )
    options = (gbatch.Option("pause", float, 0.5, "Seconds between lines.", minimum=0, maximum=5),)

    def plan(self, api: gbatch.ServerApi, options: Mapping[str, Any]) -> gbatch.Plan:
        return SpeakPlan()


class VoiceTool(SpeakTool):
    name = "voicekit"
    columns = (*SpeakTool.columns, gbatch.Column("voice", param="voice"))


plugin = types.SimpleNamespace(register_tools=gbatch.tool_hook(f"{__name__}:SpeakTool", f"{__name__}:VoiceTool"))


def test_a_column_bound_to_a_parameter_the_endpoint_lacks_is_refused_before_anything_is_sent(serve: Callable[..., str], tmp_path: Path) -> None:
    calls: list[tuple[Any, ...]] = []
    url = serve(speech_app(calls))
    task = write_csv(tmp_path / "t.csv", [["text", "voice"], ["hello", "alto"], ["again", "bass"]])
    for dry in ((), ("--dry-run",)):
        result = run_cli("voicekit", task, "--server", url, "--out", tmp_path / "out", *dry, plugins=[plugin])
        assert result.exit_code == 2, result.output
        assert "column 'voice' is bound to parameter 'voice', which /speak does not have" in result.stderr
        assert "the endpoint's parameters: /speak(text, speed, seed)" in result.stderr
    assert calls == []
    assert not (tmp_path / "out" / ".gbatch" / "journal.jsonl").exists()


def test_a_seed_column_never_takes_the_pages_seed_and_is_kept_for_re_runs(serve: Callable[..., str], tmp_path: Path) -> None:
    calls: list[tuple[Any, ...]] = []
    url = serve(speech_app(calls))
    rows = [["id", "text", "seed"], *[[f"r{i}", "same text", ""] for i in range(6)], ["fixed", "same text", "7"]]
    task = write_csv(tmp_path / "t.csv", rows)
    first = run_cli("speakkit", task, "--server", url, "--out", tmp_path / "out", plugins=[plugin])
    assert first.exit_code == 0, first.output
    records = journal(tmp_path / "out")
    seeds = {rid: records[rid]["generated"].get("seed") for rid in records}
    assert seeds["fixed"] is None  # the row's own seed is not a generated one
    chosen = [seeds[f"r{i}"] for i in range(6)]
    assert all(isinstance(s, int) and 0 <= s <= 1000 for s in chosen)
    assert len(set(chosen)) > 1  # random, not the page's 0 for every row
    assert sorted(int(c[2]) for c in calls) == sorted([*chosen, 7])
    # a re-run with --restart sends every row again, each with the seed it had
    calls.clear()
    again = run_cli("speakkit", task, "--server", url, "--out", tmp_path / "out", "--restart", plugins=[plugin])
    assert again.exit_code == 0, again.output
    assert sorted(int(c[2]) for c in calls) == sorted([*chosen, 7])


def test_a_seed_column_is_an_int_column_with_a_maximum() -> None:
    column = gbatch.seed_column(maximum=99, param="seed", aliases=("Seed",))
    assert (column.kind, column.minimum, column.maximum, column.default, column.seed) == ("int", 0, 99, None, True)
    with pytest.raises(ValueError, match="a seed column is an int column"):
        gbatch.Column("seed", kind="float", maximum=9, seed=True)
    with pytest.raises(ValueError, match="a seed column is an int column"):
        gbatch.Column("seed", kind="int", maximum=9, default=0, seed=True)


def test_option_ranges_and_choices_are_checked_before_the_plan(serve: Callable[..., str], tmp_path: Path) -> None:
    calls: list[tuple[Any, ...]] = []
    url = serve(speech_app(calls))
    task = write_csv(tmp_path / "t.csv", [["text"], ["hello"]])
    result = run_cli("speakkit", task, "--server", url, "--out", tmp_path / "out", "--pause", "9", plugins=[plugin])
    assert result.exit_code == 2 and "--pause 9.0: must be 0 … 5" in result.stderr, result.output
    assert calls == []
    option = gbatch.Option("format", str, "wav", choices=("wav", "mp3"))
    assert option.resolve("MP3") == "mp3" and option.resolve(None) == "wav"
    with pytest.raises(gbatch.UsageError, match="--format 'ogg': choose one of wav, mp3"):
        option.resolve("ogg")
    assert gbatch.Option("level", int, choices=(1, 2, 3)).resolve(2) == 2
    with pytest.raises(gbatch.UsageError, match="--gap -1: must be at least 0"):
        gbatch.Option("gap", float, minimum=0).resolve(-1)


def test_bind_column_lets_the_column_or_the_server_win() -> None:
    param = gbatch.Param(
        name="steps", label="Steps", component="slider", python_type="float", schema={"type": "number"},
        has_default=True, default=30.0, minimum=20, maximum=100,
    )  # fmt: skip
    column = gbatch.Column("steps", kind="int", minimum=1, default=25)
    assert (lambda c: (c.minimum, c.maximum, c.default, c.aliases))(gbatch.bind_column(column, param)) == (1, 100, 25, ("Steps",))
    server = gbatch.bind_column(column, param, server_first=True)
    assert (server.minimum, server.maximum, server.default) == (20, 100, 30)
    assert gbatch.bind_column(gbatch.Column("steps", kind="int"), param).default == 30  # a slider's 30.0 for an int column
    assert gbatch.bind_column(column, param, taken=["Steps"]).aliases == ()


def test_expected_app_names_the_variant_or_refuses_with_what_it_found(serve: Callable[..., str]) -> None:
    api = _api(serve(speech_app([])))
    variant, endpoint = gbatch.ExpectedApp("a speech app", "/speak", {"plain": ("text", "speed", "seed")}).find(api)
    assert (variant, endpoint.key) == ("plain", "/speak")
    expected = gbatch.ExpectedApp("a voice app", "/speak", {"v1": ("text", "voice", "speed", "seed"), "v2": ("text", "voice")})
    with pytest.raises(gbatch.ServerError) as info:
        expected.find(api)
    assert str(info.value) == (
        f"{api.url} does not look like a voice app. Expected /speak with\n"
        "  text, voice, speed, seed (v1)\n  or text, voice (v2).\n"
        "Found:\n  /speak(text, speed, seed)\n    missing: voice; unexpected: -"
    )


def _api(url: str) -> gbatch.ServerApi:
    from gbatch.transports import AutoTransport

    session = AutoTransport().connect(url, gbatch.ConnectOptions(), 1)
    session.close()
    return session.api


def test_the_stand_in_notice_and_title(serve: Callable[..., str]) -> None:
    stand_in = gbatch.StandIn("Speaker", "beeps")
    assert stand_in.title == "gbatch Speaker stand-in — NOT Speaker: beeps for demos and tests"
    with gr.Blocks(title=stand_in.title) as demo:
        gr.Button().click(lambda: "x", None, gr.Textbox(), api_name="go")
    url = serve(demo)
    api = _api(url)
    assert stand_in.notice(api) == f"note: {api.url} is the gbatch Speaker stand-in (beeps), not Speaker."
    assert stand_in.notice(_api(serve(speech_app([])))) is None


@pytest.mark.parametrize("tool", ["cosyvoice", "instantid", "fooocus", "sovits", "gptsovits", "rvc"])
def test_each_bundled_stand_in_has_the_title_its_tool_recognises(tool: str) -> None:
    import importlib

    demo = importlib.import_module(f"gbatch_{tool}.demo_server")
    assert importlib.import_module(f"gbatch_{tool}.tool").STAND_IN.title == demo.TITLE


def test_tool_hook_registers_the_named_tools() -> None:
    registry = gbatch.load_registry(extra=[plugin])
    assert isinstance(registry.tool("speakkit"), SpeakTool) and isinstance(registry.tool("voicekit"), VoiceTool)


@pytest.mark.parametrize(("tool", "app"), [("gptsovits", "GPT-SoVITS's inference_webui.py"), ("rvc", "RVC's infer-web.py")])
def test_the_voice_tools_refuse_another_app_with_the_standard_message(tool: str, app: str, serve: Callable[..., str]) -> None:
    api = _api(serve(speech_app([])))
    with pytest.raises(gbatch.ServerError) as info:
        gbatch.load_registry().tool(tool).plan(api, {})
    message = str(info.value)
    assert message.startswith(f"{api.url} does not look like {app}. Expected ") and message.endswith("Found:\n  /speak(text, speed, seed)")


def old_gptsovits_app() -> gr.Blocks:
    """GPT-SoVITS's web UI before pause_second and the v3 inputs (its 2024 v2 release)."""

    def get_tts_wav(
        ref_wav_path: str, prompt_text: str, prompt_language: str, text: str, text_language: str, how_to_cut: str, top_k: float, top_p: float, temperature: float, ref_free: bool, speed: float
    ) -> None:
        return None

    def change_gpt_weights(gpt_path: str) -> None:
        return None

    def change_sovits_weights(sovits_path: str) -> None:
        return None

    with gr.Blocks() as demo:
        gpt = gr.Dropdown(["GPT_weights_v2/alice-e15.ckpt"], value="GPT_weights_v2/alice-e15.ckpt", label="GPT weight list")
        sovits = gr.Dropdown(["SoVITS_weights_v2/alice_e8_s200.pth"], value="SoVITS_weights_v2/alice_e8_s200.pth", label="SoVITS weight list")
        ref = gr.Audio(type="filepath", label="Reference audio")
        prompt_text, text = gr.Textbox(label="Text for reference audio"), gr.Textbox(label="Inference text")
        prompt_language = gr.Dropdown(["Chinese", "English"], value="Chinese", label="Language for reference audio")
        text_language = gr.Dropdown(["Chinese", "English"], value="Chinese", label="Inference text language")
        how_to_cut = gr.Dropdown(["No slice", "Slice once every 4 sentences"], value="Slice once every 4 sentences", label="How to slice the sentence")
        top_k = gr.Slider(1, 100, value=15, step=1, label="top_k")
        top_p, temperature = gr.Slider(0, 1, value=1, label="top_p"), gr.Slider(0, 1, value=1, label="temperature")
        ref_free, speed = gr.Checkbox(label="No reference text"), gr.Slider(0.6, 1.65, value=1, label="Speed")
        speech = gr.Audio(label="Output")
        gpt.change(change_gpt_weights, [gpt], [], api_name="change_gpt_weights")
        sovits.change(change_sovits_weights, [sovits], [], api_name="change_sovits_weights")
        inputs = [ref, prompt_text, prompt_language, text, text_language, how_to_cut, top_k, top_p, temperature, ref_free, speed]
        gr.Button("Synthesize").click(get_tts_wav, inputs, [speech], api_name="get_tts_wav")
    return demo


def test_gptsovits_binds_only_the_inputs_an_older_ui_has(serve: Callable[..., str]) -> None:
    plan = gbatch.load_registry().tool("gptsovits").plan(_api(serve(old_gptsovits_app())), {})
    columns = {c.name: c for c in plan.columns}
    assert (columns["speed"].minimum, columns["speed"].maximum, columns["speed"].default) == (0.6, 1.65, 1)
    assert columns["pause"].param is None and columns["pause"].default is None  # the UI has no pause_second: the column stays unbound
    assert columns["top_k"].default == 15

"""gbatch-tinytts: speak every row of a task file through a TinyTTS-style Gradio app.

The app's endpoint is `/speak(text, voice, speed, seed) -> (audio, info)`. The voice
choices, the speed limits and their defaults are read from the server
(`Column(param=...)`), so a server with other voices needs no change here.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

import gbatch

__version__ = "0.1.0"

MAX_SEED = 2**31 - 1
MAX_CHARS = 500  # the app refuses longer texts; say so before anything is sent


class TinyTtsPlan(gbatch.Plan):
    """`api_name` and `columns` come from the tool, the columns bound to the server's parameters."""

    def prepare(self, values: Mapping[str, Any], previous: Mapping[str, Any]) -> gbatch.Call:
        if len(values["text"]) > MAX_CHARS:
            raise gbatch.RowProblem(f"{len(values['text'])} characters; the app takes at most {MAX_CHARS}", "text")
        generated: dict[str, Any] = {}
        # Random when the row gives none, journaled, and the same again on a re-run.
        seed = gbatch.generated_value(
            "seed", values, previous, generated,
            make=lambda: random.randint(0, MAX_SEED),
            valid=lambda s: isinstance(s, int) and 0 <= s <= MAX_SEED,
        )  # fmt: skip
        kwargs = {"text": values["text"], "voice": values["voice"], "speed": values["speed"], "seed": seed}
        return gbatch.Call(kwargs, generated)

    def collect(self, result: gbatch.Result, out: gbatch.Outputs) -> None:
        audio, info = result.outputs
        if not isinstance(audio, gbatch.ServerFile):
            raise gbatch.RowFailed(f"the app returned no audio ({info})")
        gbatch.save_file(out, audio)
        out.value("info", info)

    def explain(self, failure: gbatch.Failure, call: gbatch.Call) -> str:
        if failure.cause == "timeout":
            return f"{failure.message} ({len(call.kwargs['text'])} characters: long texts need a larger --timeout)"
        return failure.message


class TinyTtsTool(gbatch.Tool):
    name = "tinytts"
    help = "Speak every row's text with a TinyTTS app (/speak): one WAV per row, the app's info in results.csv."
    api_name = "/speak"
    columns = (
        gbatch.Column("text", required=True, help="What to say."),
        gbatch.Column("voice", param="voice", help="One of the voices the server offers."),
        gbatch.Column("speed", kind="float", param="speed", help="Speaking rate, within the server's limits."),
        # No param= here: the app's default seed (0) would then fill every row, and no seed would be random.
        gbatch.Column("seed", kind="int", minimum=0, maximum=MAX_SEED, help="Random when absent; kept for re-runs."),
    )
    default_out = "tinytts-out"
    slots_per_server = 1

    def plan(self, api: gbatch.ServerApi, options: Mapping[str, Any]) -> gbatch.Plan:
        return TinyTtsPlan()


@gbatch.hookimpl
def register_tools(register: Callable[[gbatch.Tool], None]) -> None:
    register(TinyTtsTool())

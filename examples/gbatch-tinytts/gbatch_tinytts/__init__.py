"""gbatch-tinytts: speak every row of a task file through a TinyTTS-style Gradio app.

The app's endpoint is `/speak(text, voice, speed, seed) -> (audio, info)`. The voice
choices, the speed limits and their defaults are read from the server
(`Column(param=...)`), so a server with other voices needs no change here.
"""

from __future__ import annotations

from collections.abc import Mapping
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
        return gbatch.Call({name: values[name] for name in ("text", "voice", "speed", "seed")})

    def collect(self, result: gbatch.CallResult, out: gbatch.Outputs) -> None:
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
        # Random when the row gives none, journaled, and the same again on a re-run (never the app's 0).
        gbatch.seed_column(maximum=MAX_SEED, param="seed"),
    )
    default_out = "tinytts-out"
    slots_per_server = 1

    def plan(self, api: gbatch.ServerApi, options: Mapping[str, Any]) -> gbatch.Plan:
        return TinyTtsPlan()


register_tools = gbatch.tool_hook(TinyTtsTool)

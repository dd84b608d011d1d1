"""gbatch-shout: an example third-party gbatch plugin (a tool for a `/shout` endpoint)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gbatch

__version__ = "0.2.0"


class ShoutPlan(gbatch.Plan):
    api_name = "/shout"

    def __init__(self, suffix: str) -> None:
        self.columns = ShoutTool.columns
        self.suffix = suffix

    def prepare(self, values: Mapping[str, Any], previous: Mapping[str, Any]) -> gbatch.Call:
        if not values["text"].strip():
            raise gbatch.RowProblem("nothing to shout", "text")
        return gbatch.Call({"text": values["text"], "times": values["times"]})

    def collect(self, result: gbatch.CallResult, out: gbatch.Outputs) -> None:
        text = str(result.value)
        out.write(f"{text}{self.suffix}\n".encode(), ".txt")
        out.value("length", len(text))

    def fingerprint(self) -> str:
        return self.suffix


class ShoutTool(gbatch.Tool):
    name = "shout"
    help = "Shout every row's text through a Gradio app's /shout endpoint."
    columns = (
        gbatch.Column("text", required=True, help="What to shout."),
        gbatch.Column("times", kind="int", default=1, minimum=1, maximum=5, help="How many times."),
    )
    options = (gbatch.Option("suffix", str, "!", "Appended to every answer."),)
    slots_per_server = 2
    default_out = "shout-out"

    def plan(self, api: gbatch.ServerApi, options: Mapping[str, Any]) -> gbatch.Plan:
        gbatch.ExpectedApp("a shout app", "/shout", {"shout": ("text", "times")}).find(api)
        return ShoutPlan(options.get("suffix") or "")


register_tools = gbatch.tool_hook(ShoutTool)

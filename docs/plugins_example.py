"""`gbatch painter`: the worked example of docs/plugins.md, for an image app that loads models.

The app has two endpoints: `/load_model(name) -> status` loads a model for every
user of the server (one process, one GPU), and `/paint(prompt, size, count, seed)
-> (gallery, info)` paints with whatever model is loaded. The guide includes this
file verbatim, and tests/test_docs_plugins.py runs it against such an app.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

import gbatch

MAX_SEED = 2**32 - 1
MAX_WORDS = 75  # the app's text encoder ignores the rest: refuse rather than paint half a prompt


class PainterPlan(gbatch.Plan):
    """`api_name` ("/paint") and `columns` come from the tool, bound to the server's parameters."""

    def __init__(self, model: str) -> None:
        self.model = model

    def setup(self, server: gbatch.Server) -> None:
        # Before the server's first row, and again after it restarted (and forgot the model).
        status = server.call("/load_model", {"name": self.model}).value
        if status != f"loaded {self.model}":
            raise gbatch.ServerError(f"{server.label} could not load {self.model!r}: {status}")

    def prepare(self, values: Mapping[str, Any], previous: Mapping[str, Any]) -> gbatch.Call:
        words = len(values["prompt"].split())
        if words > MAX_WORDS:
            raise gbatch.RowProblem(f"{words} words; the model reads at most {MAX_WORDS}", "prompt")
        generated: dict[str, Any] = {}
        seed = gbatch.generated_value(
            "seed", values, previous, generated,
            make=lambda: random.randint(0, MAX_SEED),
            valid=lambda s: isinstance(s, int) and 0 <= s <= MAX_SEED,
        )  # fmt: skip
        kwargs = {"prompt": values["prompt"], "size": values["size"], "count": values["count"], "seed": seed}
        return gbatch.Call(kwargs, generated)

    def collect(self, result: gbatch.Result, out: gbatch.Outputs) -> None:
        images, info = result.outputs  # a Gallery is a list of ServerFile, a gr.JSON a dict
        if not images:
            raise gbatch.RowFailed("the app returned no image")
        for number, image in enumerate(images, 1):
            gbatch.save_file(out, image, label=str(number) if len(images) > 1 else None)
        out.value("model", info["model"])

    def fingerprint(self) -> str:
        # The model is not part of the call, yet another model paints another picture.
        return self.model

    def explain(self, failure: gbatch.Failure, call: gbatch.Call) -> str:
        if failure.cause == "app" and "too large" in failure.message:
            return f"{failure.message} (try a smaller --size, or fewer images with --count)"
        return failure.message


class PainterTool(gbatch.Tool):
    name = "painter"
    help = "Paint every row's prompt with the painter app: one PNG per image."
    api_name = "/paint"
    columns = (
        gbatch.Column("prompt", required=True, aliases=("text",), help="What to paint."),
        gbatch.Column("size", param="size", help="One of the sizes the server offers."),
        gbatch.Column("count", kind="int", param="count", help="Images per row."),
        gbatch.Column("seed", kind="int", minimum=0, maximum=MAX_SEED, help="Random when absent; kept for re-runs."),
    )
    options = (gbatch.Option("model", str, "sketch", "The model to load on every server."),)
    slots_per_server = 1  # one GPU: a second row would only wait in the app's queue
    default_out = "painter-out"

    def plan(self, api: gbatch.ServerApi, options: Mapping[str, Any]) -> gbatch.Plan:
        load = api.endpoint("/load_model")
        name = load.param("name") if load is not None else None
        if name is None:
            raise gbatch.ServerError(f"{api.url} has no /load_model(name) endpoint: is it the painter app?")
        if name.choices is not None and options["model"] not in name.choices:
            raise gbatch.UsageError(f"--model {options['model']!r}: this server has {', '.join(map(str, name.choices))}")
        return PainterPlan(options["model"])


@gbatch.hookimpl
def register_tools(register: Callable[[gbatch.Tool], None]) -> None:
    register(PainterTool())

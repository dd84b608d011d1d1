"""`gbatch painter`: the worked example of docs/plugins.md, for an image app that loads models.

The app has two endpoints: `/load_model(name) -> status` loads a model for every
user of the server (one process, one GPU), and `/paint(prompt, size, count, seed)
-> (gallery, info)` paints with whatever model is loaded. The guide includes this
file verbatim, and tests/test_docs_plugins.py runs it against such an app.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gbatch

MAX_SEED = 2**32 - 1
MAX_WORDS = 75  # the app's text encoder ignores the rest: refuse rather than paint half a prompt
# "This is the painter app": /paint with exactly these inputs, in this order.
EXPECTED = gbatch.ExpectedApp("the painter app", "/paint", {"painter": ("prompt", "size", "count", "seed")})


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
        # values["seed"] is the row's seed, or the one gbatch chose (journaled, reused on re-runs)
        return gbatch.Call({name: values[name] for name in ("prompt", "size", "count", "seed")})

    def collect(self, result: gbatch.CallResult, out: gbatch.Outputs) -> None:
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
        # Random when absent, kept for re-runs; never the page's seed (0), which would paint every row alike.
        gbatch.seed_column(maximum=MAX_SEED, param="seed"),
    )
    options = (gbatch.Option("model", str, "sketch", "The model to load on every server."),)
    slots_per_server = 1  # one GPU: a second row would only wait in the app's queue
    default_out = "painter-out"

    def plan(self, api: gbatch.ServerApi, options: Mapping[str, Any]) -> gbatch.Plan:
        EXPECTED.find(api)  # the standard "does not look like the painter app" error otherwise
        load = api.endpoint("/load_model")
        name = load.param("name") if load is not None else None
        if name is None:
            raise gbatch.not_the_app(api, "the painter app", "/load_model(name).", f"  {api.url} has no /load_model(name)")
        if name.choices is not None and options["model"] not in name.choices:
            raise gbatch.UsageError(f"--model {options['model']!r}: this server has {', '.join(map(str, name.choices))}")
        return PainterPlan(options["model"])


# The hook gbatch calls when it loads its plugins (a package names "module:Class" to import it only then).
register_tools = gbatch.tool_hook(PainterTool)

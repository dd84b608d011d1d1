"""gbatch plugin for the Fooocus web UI (2.5.x, gradio 3): `gbatch fooocus prompts.csv`."""

from __future__ import annotations

from collections.abc import Callable

import gbatch

__version__ = "0.1.0"


@gbatch.hookimpl
def register_tools(register: Callable[[gbatch.Tool], None]) -> None:
    from .tool import FooocusTool

    register(FooocusTool())

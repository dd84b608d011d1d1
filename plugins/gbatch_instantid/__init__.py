"""gbatch plugin for the InstantID Gradio demo: `gbatch instantid faces.csv`."""

from __future__ import annotations

from collections.abc import Callable

import gbatch

__version__ = "0.1.0"


@gbatch.hookimpl
def register_tools(register: Callable[[gbatch.Tool], None]) -> None:
    from .tool import InstantIDTool

    register(InstantIDTool())

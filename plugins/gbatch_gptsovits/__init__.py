"""gbatch plugin for GPT-SoVITS's inference web UI (`inference_webui.py`, gradio 4): `gbatch gptsovits lines.csv`."""

from __future__ import annotations

from collections.abc import Callable

import gbatch

__version__ = "0.1.0"


@gbatch.hookimpl
def register_tools(register: Callable[[gbatch.Tool], None]) -> None:
    from .tool import GptSovitsTool

    register(GptSovitsTool())

"""gbatch plugin for the RVC web UI (`infer-web.py`, gradio 3): `gbatch rvc --each input=songs/*.wav`."""

from __future__ import annotations

from collections.abc import Callable

import gbatch

__version__ = "0.1.0"


@gbatch.hookimpl
def register_tools(register: Callable[[gbatch.Tool], None]) -> None:
    from .tool import RvcTool

    register(RvcTool())

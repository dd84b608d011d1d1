"""gbatch plugin for CosyVoice (v1, 2 and Fun-CosyVoice3) web UIs: `gbatch cosyvoice lines.csv`."""

from __future__ import annotations

from collections.abc import Callable

import gbatch

__version__ = "0.1.0"


@gbatch.hookimpl
def register_tools(register: Callable[[gbatch.Tool], None]) -> None:
    from .tool import CosyVoiceTool

    register(CosyVoiceTool())

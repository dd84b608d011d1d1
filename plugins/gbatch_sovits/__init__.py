"""gbatch plugin for the So-VITS-SVC 4.x web UI (`webUI.py`, gradio 3): `gbatch sovits songs.csv`."""

from __future__ import annotations

from collections.abc import Callable

import gbatch

__version__ = "0.1.0"


@gbatch.hookimpl
def register_tools(register: Callable[[gbatch.Tool], None]) -> None:
    from .tool import SovitsTool

    register(SovitsTool())

"""gbatch plugin for the So-VITS-SVC 4.x web UI (`webUI.py`, gradio 3): `gbatch sovits songs.csv`."""

import gbatch

__version__ = "0.1.0"

register_tools = gbatch.tool_hook("gbatch_sovits.tool:SovitsTool")

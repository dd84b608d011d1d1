"""gbatch plugin for the RVC web UI (`infer-web.py`, gradio 3): `gbatch rvc --each input=songs/*.wav`."""

import gbatch

__version__ = "0.1.0"

register_tools = gbatch.tool_hook("gbatch_rvc.tool:RvcTool")

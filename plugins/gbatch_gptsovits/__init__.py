"""gbatch plugin for GPT-SoVITS's inference web UI (`inference_webui.py`, gradio 4): `gbatch gptsovits lines.csv`."""

import gbatch

__version__ = "0.1.0"

register_tools = gbatch.tool_hook("gbatch_gptsovits.tool:GptSovitsTool")

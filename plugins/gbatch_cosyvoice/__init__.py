"""gbatch plugin for CosyVoice (v1, 2 and Fun-CosyVoice3) web UIs: `gbatch cosyvoice lines.csv`."""

import gbatch

__version__ = "0.1.0"

register_tools = gbatch.tool_hook("gbatch_cosyvoice.tool:CosyVoiceTool")

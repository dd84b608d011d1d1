"""gbatch plugin for the InstantID Gradio demo: `gbatch instantid faces.csv`."""

import gbatch

__version__ = "0.1.0"

register_tools = gbatch.tool_hook("gbatch_instantid.tool:InstantIDTool")

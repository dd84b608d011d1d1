"""gbatch plugin for the Fooocus web UI (2.5.x, gradio 3): `gbatch fooocus prompts.csv`."""

import gbatch

__version__ = "0.1.0"

register_tools = gbatch.tool_hook("gbatch_fooocus.tool:FooocusTool")

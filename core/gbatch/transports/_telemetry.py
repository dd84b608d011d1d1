"""gradio_client's two telemetry switches, turned off as soon as gbatch is imported.

A module of its own so that `import gbatch` switches them off without importing
gradio_client's transport (and httpx): `gbatch --help` stays fast.
"""

from __future__ import annotations

import os

__all__ = ["quiet_telemetry"]


def quiet_telemetry() -> None:
    """gradio_client sends telemetry unless BOTH the variable and the argument say no."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


# huggingface_hub reads its variable when it is first imported, which may happen before any
# Client is made (by the caller's own code): switch both off as soon as gbatch is imported.
quiet_telemetry()

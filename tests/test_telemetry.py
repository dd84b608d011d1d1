"""gbatch never sends telemetry: both switches are off before gradio_client is used."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable


def test_importing_gbatch_switches_telemetry_off() -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"GRADIO_ANALYTICS_ENABLED", "HF_HUB_DISABLE_TELEMETRY"}}
    code = (
        "import os, gbatch; "
        "print(os.environ['GRADIO_ANALYTICS_ENABLED'], os.environ['HF_HUB_DISABLE_TELEMETRY']); "
        "import huggingface_hub.constants as c; print(c.HF_HUB_DISABLE_TELEMETRY)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() == ["False", "1", "True"]


def test_clients_are_made_with_analytics_disabled(serve: Callable[..., str]) -> None:
    import gradio as gr

    from gbatch import ConnectOptions
    from gbatch.transports.gradio_client import make_client

    with gr.Blocks() as demo:
        gr.Textbox().submit(lambda text: text, gr.Textbox(), gr.Textbox(), api_name="echo")
    client = make_client(serve(demo), ConnectOptions(), 2)
    try:
        assert client.analytics_enabled is False
        assert client.verbose is False and client.download_files is False
    finally:
        client.close()

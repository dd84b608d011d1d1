"""gbatch never sends telemetry: every gradio_client Client it makes reports nothing, whatever the
environment says, and importing gbatch changes no environment variable."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable


def test_importing_gbatch_and_making_a_client_sends_no_telemetry_and_leaves_the_environment_alone() -> None:
    """In a fresh process with both telemetry variables unset (gradio_client's default: report),
    a client gbatch makes reports nothing, huggingface_hub's telemetry (which would ask
    huggingface.co about the process) is off, and os.environ is as it was. tests/test_security.py
    runs whole batches with every outside connection refused."""
    env = {k: v for k, v in os.environ.items() if k not in {"GRADIO_ANALYTICS_ENABLED", "HF_HUB_DISABLE_TELEMETRY"}}
    code = """
import os, time
import gradio as gr
import gradio_client.client as client_module
from gbatch import ConnectOptions
from gbatch.testing import free_port
from gbatch.transports.gradio_client import make_client

sent = []
client_module.send_telemetry = lambda **kwargs: sent.append(kwargs)
with gr.Blocks(analytics_enabled=False) as demo:
    gr.Textbox().submit(lambda text: text, gr.Textbox(), gr.Textbox(), api_name="echo")
demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
before = dict(os.environ)
client = make_client(demo.local_url, ConnectOptions(), 2)
time.sleep(0.5)  # a Client reports from a thread of its own
changed = sorted(k for k in set(os.environ) | set(before) if os.environ.get(k) != before.get(k))
import huggingface_hub.constants as hub
print(sent, changed, client.analytics_enabled, hub.HF_HUB_DISABLE_TELEMETRY)
client.close()
demo.close()
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "[] [] False True" in done.stdout.splitlines(), done.stdout


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

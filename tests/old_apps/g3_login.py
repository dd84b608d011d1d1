"""A login-protected gradio 3.41.2 app (auth=("user", "pass")) whose queue closes the REST routes.

`queue(api_open=False)` makes queued events refuse `/run/predict` ("Not authorized to skip
the queue") and hides the API page (`show_api` false in /config); a queue=False event
stays on REST. Both return a file, so downloads need the login cookie too.
"""

import tempfile
from pathlib import Path

import gradio as gr
from g3_common import parse_args, record

OUT = Path(tempfile.mkdtemp(prefix="g3_login_"))


def greet(name):
    record("greet", name=name)
    note = OUT / f"greeting_{name or 'nobody'}.txt"
    note.write_text(f"Hello, {name}!", encoding="utf-8")
    return f"Hello, {name}!", str(note)


with gr.Blocks(title="Members only") as demo:
    name = gr.Textbox(label="Name")
    greeting = gr.Textbox(label="Greeting")
    note = gr.File(label="Note")
    gr.Button("Greet").click(greet, name, [greeting, note], api_name="greet")
    gr.Button("Greet now").click(greet, name, [greeting, note], api_name="greet_now", queue=False)

demo.queue(api_open=False)

if __name__ == "__main__":
    args = parse_args()
    demo.launch(server_name="127.0.0.1", server_port=args.port, auth=("user", "pass"))

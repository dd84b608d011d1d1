"""A queued gradio 3.41.2 Blocks app with one event of each kind the gradio 3 transport must drive.

- Sleep: a slow queued function (fills the queue; cancelled and killed mid-run by the tests).
- Count: a generator reporting gr.Progress, with gr.Info / gr.Warning logs.
- Sepia: an Image in and out (gradio's sepia_filter demo).
- Reverse: an Audio in and out.
- Documents: a File(file_count="multiple") in, a summary and a zip out; an UploadButton.
- Gallery: images with captions out.
- Generate: a Fooocus-like chain without api_name: `get_task` stores the task in gr.State,
  then `.then(generate_clicked)` reads it back and yields gr.update dicts with a Gallery.
- Echo: a queue=False event, as JSON of what it received; Hidden: api_name=False.
- Count down: a generator on a queue=False event (REST advances it one yield per POST).

Every handler records what it received (see g3_common).
"""

import json
import os
import tempfile
import time
import zipfile
from pathlib import Path

import gradio as gr
import numpy as np
from g3_common import file_facts, parse_args, record
from PIL import Image

OUT = Path(tempfile.mkdtemp(prefix="g3_blocks_"))


def sleep(seconds):
    record("sleep", seconds=seconds, pid=os.getpid())
    if seconds < 0:
        raise gr.Error("Cannot sleep a negative time")
    if seconds > 1000:
        raise ValueError("a secret reason")
    time.sleep(seconds)
    record("slept", seconds=seconds)
    return f"slept {seconds:g}"


def count(steps, progress=gr.Progress()):
    record("count", steps=steps, steps_type=type(steps).__name__)
    gr.Info(f"counting to {steps}")
    for i in progress.tqdm(range(int(steps)), desc="counting"):
        time.sleep(0.3)
        yield str(i + 1)
    gr.Warning("counted")


def sepia(input_img):
    record("sepia", shape=list(input_img.shape), dtype=str(input_img.dtype))
    sepia_filter = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])
    sepia_img = input_img.dot(sepia_filter.T)
    sepia_img /= sepia_img.max()
    return sepia_img


def reverse(audio_path):
    record("reverse", file=file_facts(audio_path))
    if audio_path is None:
        return None
    import wave

    with wave.open(audio_path, "rb") as source:
        params = source.getparams()
        frames = source.readframes(params.nframes)
    width = params.sampwidth * params.nchannels
    chunks = [frames[i : i + width] for i in range(0, len(frames), width)]
    target = OUT / f"reversed_{Path(audio_path).stem}.wav"
    with wave.open(str(target), "wb") as sink:
        sink.setparams(params)
        sink.writeframes(b"".join(reversed(chunks)))
    return str(target)


def documents(files):
    facts = [file_facts(f.name, getattr(f, "orig_name", None)) for f in files or []]
    record("documents", files=facts)
    if not files:
        return "no files", None
    archive = OUT / f"documents_{time.time_ns()}.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for f in files:
            bundle.write(f.name, Path(f.name).name)
    return ", ".join(f"{fact['basename']}:{fact['size']}" for fact in facts), str(archive)


def upload(file):
    record("upload", file=file_facts(file.name, getattr(file, "orig_name", None)) if file else None)
    return Path(file.name).name if file else "nothing"


def painted(index, size=8):
    color = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)][index % 4]
    return np.full((size, size, 3), color, dtype=np.uint8)


def gallery(images):
    record("gallery", images=images, images_type=type(images).__name__)
    return [(painted(i), f"image {i + 1}") for i in range(int(images))]


def get_task(task, prompt, seed, styles):
    record("get_task", task=task, prompt=prompt, seed=seed, seed_type=type(seed).__name__, styles=styles)
    return {"prompt": prompt, "seed": seed, "styles": styles}


def generate_clicked(task):
    record("generate_clicked", task=task)
    if not task:
        yield gr.update(), gr.update()
        return
    yield gr.update(value="<p>working</p>", visible=True), gr.update()
    paths = []
    for i in range(2):
        path = OUT / f"{task['prompt'] or 'image'}_{task['seed']}_{i}.png"
        Image.fromarray(painted(i, 16)).save(path)
        paths.append(str(path))
    yield gr.update(visible=False), gr.update(value=paths, visible=True)


def countdown(start):
    record("countdown", start=start)
    for i in range(int(start), 0, -1):
        time.sleep(0.05)
        yield str(i)


def echo(text, seed, mode, agree, styles):
    received = {"text": text, "seed": seed, "seed_type": type(seed).__name__, "mode": mode, "agree": agree, "styles": styles}
    record("echo", **received)
    return json.dumps(received)


with gr.Blocks(title="Queued demo") as demo:
    with gr.Tab("Sleep"):
        seconds = gr.Number(label="Seconds", value=1)
        slept = gr.Textbox(label="Slept")
        gr.Button("Sleep").click(sleep, seconds, slept, api_name="sleep")
        gr.Button("Sleep now").click(sleep, seconds, slept, api_name="sleep_now", queue=False)
    with gr.Tab("Count"):
        steps = gr.Slider(1, 10, value=3, step=1, label="Steps")
        counted = gr.Textbox(label="Counted")
        gr.Button("Count").click(count, steps, counted, api_name="count")
    with gr.Tab("Sepia"):
        picture = gr.Image(label="Picture")
        toned = gr.Image(label="Sepia")
        gr.Button("Tone").click(sepia, picture, toned, api_name="sepia")
    with gr.Tab("Reverse"):
        voice = gr.Audio(type="filepath", label="Voice")
        reversed_voice = gr.Audio(label="Reversed")
        gr.Button("Reverse").click(reverse, voice, reversed_voice, api_name="reverse")
    with gr.Tab("Documents"):
        docs = gr.File(file_count="multiple", label="Documents")
        summary = gr.Textbox(label="Summary")
        bundle = gr.File(label="Bundle")
        gr.Button("Bundle").click(documents, docs, [summary, bundle], api_name="documents")
        upload_button = gr.UploadButton("Upload a file")
        uploaded = gr.Textbox(label="Uploaded")
        upload_button.upload(upload, upload_button, uploaded)
    with gr.Tab("Gallery"):
        images = gr.Slider(1, 4, value=2, step=1, label="Images")
        shown = gr.Gallery(label="Shown")
        gr.Button("Show").click(gallery, images, shown, api_name="gallery")
    with gr.Tab("Generate"):
        current_task = gr.State()
        prompt = gr.Textbox(show_label=False, placeholder="Type prompt here.")
        seed = gr.Slider(0, 2**31, value=0, step=1, label="Seed")
        styles = gr.CheckboxGroup(["Fooocus V2", "Fooocus Sharp", "Fooocus Enhance"], value=["Fooocus V2"], label="Selected Styles")
        progress_html = gr.HTML(visible=False)
        finished = gr.Gallery(label="Finished Images", visible=False)
        generate = gr.Button("Generate")
        generate.click(get_task, [current_task, prompt, seed, styles], current_task).then(
            generate_clicked, current_task, [progress_html, finished]
        )
    with gr.Tab("Echo"):
        text = gr.Textbox(label="Text", value="hello")
        echo_seed = gr.Slider(0, 100, value=7, step=1, label="Seed")
        mode = gr.Radio([("Slow mode", "slow"), ("Fast mode", "fast")], value="fast", label="Mode")
        agree = gr.Checkbox(label="Agree", value=True)
        echo_styles = gr.CheckboxGroup(["a", "b"], label="Styles")
        echoed = gr.JSON(label="Echoed")
        gr.Button("Echo").click(echo, [text, echo_seed, mode, agree, echo_styles], echoed, api_name="echo", queue=False)
        gr.Button("Hidden").click(lambda t: t.upper(), text, echoed, api_name=False)
    with gr.Tab("Countdown"):
        start = gr.Number(label="Start", value=3, precision=0)
        left = gr.Textbox(label="Left")
        gr.Button("Count down").click(countdown, start, left, api_name="countdown_now", queue=False)

demo.queue(concurrency_count=2, max_size=2)

if __name__ == "__main__":
    args = parse_args()
    demo.launch(server_name="127.0.0.1", server_port=args.port)

"""A GPT-SoVITS inference web UI stand-in: upstream's `GPT_SoVITS/inference_webui.py` API on gradio 4, no model.

This is **not GPT-SoVITS**. It serves the UI of `inference_webui.py` of
github.com/RVC-Boss/GPT-SoVITS (main branch, v2/v2Pro UI; requirements pin `gradio<5`)
on gradio 4.44.1 closely enough that a client cannot tell the difference at the API level:

* the same components with upstream's labels and choices in the UI's language
  (`--language zh_CN`, the default here, or `en_US`), and upstream's four events, named
  by gradio after their functions: `/change_choices` (the 刷新模型路径 button),
  `/get_tts_wav` (合成语音: 17 inputs, a generator), `/change_sovits_weights`
  (the SoVITS dropdown's change: 3 inputs, 11 updates, a generator) and
  `/change_gpt_weights` (the GPT dropdown's change: 1 input, no outputs);
  the hidden inputs (sample steps, super-resolution, CUDA graph) are there as upstream's;
* the loaded weights are process-wide globals, as upstream's: the dropdowns' choices are
  the files under `GPT_weights*/` (`*.ckpt`) and `SoVITS_weights*/` (`*.pth`) of the
  working directory (`--weights`), and at start the last GPT and first SoVITS weights
  are loaded, as upstream does without a `weight.json`;
* upstream's failures: a reference clip outside 3-10 s warns and raises
  `OSError(参考音频在3~10秒范围外，请更换！)`; an unknown language is a `KeyError`; a
  weights file that is not a checkpoint fails its load.

Instead of a model, each weights file is a small JSON document (`{"voice": "alice",
"pitch": 220}`); speech is a tone at the SoVITS weights' pitch (plus a GPT-dependent
vibrato), as long as the text, at 32 kHz, as int16 — so a row spoken with the wrong voice
is audibly (and measurably) wrong.

`--record FILE` appends one JSON line per call of each event (for `get_tts_wav`: the
text and the weights loaded when it ran, on arrival and when done), so tests can check
that every row was spoken with its own voice. Run it with `gbatch-gptsovits-demo`
(it re-runs itself under `.venvs/gradio4` when this Python lacks gradio 4); it never
imports gbatch.
"""

from __future__ import annotations

import os

# The stand-in must never phone home: set these before gradio is imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import soundfile  # noqa: E402

gr: Any = None
GRADIO4_PYTHON_ENV = "GBATCH_GRADIO4_PYTHON"
REEXEC_ENV = "GBATCH_GPTSOVITS_REEXEC"
# the title says plainly that this is the stand-in (the tool's gbatch.StandIn title), so a client can tell
TITLE = "gbatch GPT-SoVITS stand-in — NOT GPT-SoVITS: tones instead of speech for demos and tests"
NOTICE = TITLE
SAMPLE_RATE = 32000

GPT_ROOTS = ["GPT_weights", "GPT_weights_v2", "GPT_weights_v3", "GPT_weights_v4", "GPT_weights_v2Pro", "GPT_weights_v2ProPlus"]
SOVITS_ROOTS = ["SoVITS_weights", "SoVITS_weights_v2", "SoVITS_weights_v3", "SoVITS_weights_v4", "SoVITS_weights_v2Pro", "SoVITS_weights_v2ProPlus"]

#: the en_US translations of upstream's tools/i18n/locale/en_US.json for the texts used here
EN_US = {
    "中文": "Chinese",
    "英文": "English",
    "日文": "Japanese",
    "粤语": "Yue",
    "韩文": "Korean",
    "中英混合": "Chinese-English Mixed",
    "日英混合": "Japanese-English Mixed",
    "粤英混合": "Yue-English Mixed",
    "韩英混合": "Korean-English Mixed",
    "多语种混合": "Multilingual Mixed",
    "多语种混合(粤语)": "Multilingual Mixed(Yue)",
    "不切": "No slice",
    "凑四句一切": "Slice once every 4 sentences",
    "凑50字一切": "Slice per 50 characters",
    "按中文句号。切": "Slice by Chinese punct",
    "按英文句号.切": "Slice by English punct",
    "按标点符号切": "Slice by every punct",
    "GPT模型列表": "GPT weight list",
    "SoVITS模型列表": "SoVITS weight list",
    "刷新模型路径": "refreshing model paths",
    "请上传3~10秒内参考音频，超过会报错！": "Please upload a reference audio within the 3-10 second range; if it exceeds this duration, it will raise errors.",
    "参考音频的文本": "Text for reference audio",
    "参考音频的语种": "Language for reference audio",
    "需要合成的文本": "Inference text",
    "需要合成的语种": "Inference text language",
    "怎么切": "How to slice the sentence",
    "语速": "Speech rate",
    "输出的语音": "Inference Result",
    "合成语音": "Start inference",
    "参考音频在3~10秒范围外，请更换！": "Reference audio is outside the 3-10 second range, please choose another one!",
    "请上传参考音频": "Please Upload the Reference Audio",
    "请填入推理文本": "Please Fill in the Target Text",
    "模型加载中，请等待": "Model is loading, please wait...",
}
LANGUAGE_CODES = {
    "中文": "all_zh",
    "英文": "en",
    "日文": "all_ja",
    "粤语": "all_yue",
    "韩文": "all_ko",
    "中英混合": "zh",
    "日英混合": "ja",
    "粤英混合": "yue",
    "韩英混合": "ko",
    "多语种混合": "auto",
    "多语种混合(粤语)": "auto_yue",
}
CUTS = ["不切", "凑四句一切", "凑50字一切", "按中文句号。切", "按英文句号.切", "按标点符号切"]


class I18n:
    def __init__(self, language: str) -> None:
        self.table = EN_US if language == "en_US" else {}

    def __call__(self, key: str) -> str:
        return self.table.get(key, key)


def _gradio() -> Any:
    global gr
    if gr is None:
        gr = importlib.import_module("gradio")
    return gr


def custom_sort_key(s: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", s)]


def weights_names(root: Path) -> tuple[list[str], list[str]]:
    """(SoVITS names, GPT names) as upstream's `config.get_weights_names` lists them."""
    sovits = [f"{folder}/{p.name}" for folder in SOVITS_ROOTS if (root / folder).is_dir() for p in sorted((root / folder).iterdir()) if p.name.endswith(".pth")]
    gpt = [f"{folder}/{p.name}" for folder in GPT_ROOTS if (root / folder).is_dir() for p in sorted((root / folder).iterdir()) if p.name.endswith(".ckpt")]
    return sorted(sovits, key=custom_sort_key) or [""], sorted(gpt, key=custom_sort_key) or [""]


def load_weights(root: Path, name: str) -> dict[str, Any]:
    """A stand-in weights file: JSON with the voice's name and pitch. Anything else fails as torch.load would."""
    path = root / name
    data = path.read_bytes()  # FileNotFoundError for a name that is not there, as upstream
    try:
        weights = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RuntimeError("Invalid magic number; corrupt file?") from None
    if not isinstance(weights, dict) or "pitch" not in weights:
        raise KeyError("weight")
    return weights


class Recorder:
    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self.lock = threading.Lock()

    def add(self, handler: str, **fields: Any) -> None:
        if self.path is None:
            return
        line = json.dumps({"handler": handler, "pid": os.getpid(), "time": time.time(), **fields}, ensure_ascii=False, default=str)
        with self.lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")


class WebUI:
    """inference_webui.py's handlers and its module globals (the loaded weights)."""

    def __init__(self, root: Path, i18n: I18n, delay: float, load_delay: float, record: Recorder) -> None:
        self.root = root
        self.i18n = i18n
        self.delay = delay
        self.load_delay = load_delay
        self.record = record
        self.dict_language = {i18n(k): v for k, v in LANGUAGE_CODES.items()}
        sovits_names, gpt_names = weights_names(root)
        # upstream without weight.json: the last GPT and the first SoVITS weights
        self.gpt_path = gpt_names[-1]
        self.sovits_path = sovits_names[0]
        self.gpt: dict[str, Any] | None = None
        self.sovits: dict[str, Any] | None = None
        try:
            self.sovits = load_weights(root, self.sovits_path)
            self.gpt = load_weights(root, self.gpt_path)
        except Exception:  # upstream swallows a failed first SoVITS load, too
            pass

    def change_choices(self) -> tuple[dict[str, Any], dict[str, Any]]:
        sovits_names, gpt_names = weights_names(self.root)
        return {"choices": sovits_names, "__type__": "update"}, {"choices": gpt_names, "__type__": "update"}

    def change_sovits_weights(self, sovits_path: str, prompt_language: str | None = None, text_language: str | None = None) -> Any:
        i18n = self.i18n
        self.record.add("change_sovits_weights", sovits_path=sovits_path, prompt_language=prompt_language, text_language=text_language)
        languages = list(self.dict_language.keys())
        updates: list[Any] = []
        if prompt_language is not None and text_language is not None:
            if prompt_language in languages:
                prompt_text_update, prompt_language_update = {"__type__": "update"}, {"__type__": "update", "value": prompt_language}
            else:
                prompt_text_update, prompt_language_update = {"__type__": "update", "value": ""}, {"__type__": "update", "value": i18n("中文")}
            if text_language in languages:
                text_update, text_language_update = {"__type__": "update"}, {"__type__": "update", "value": text_language}
            else:
                text_update, text_language_update = {"__type__": "update", "value": ""}, {"__type__": "update", "value": i18n("中文")}
            updates = [prompt_text_update, prompt_language_update, text_update, text_language_update]
            yield self._sovits_updates(updates, {"__type__": "update", "value": i18n("模型加载中，请等待"), "interactive": False})
        time.sleep(self.load_delay)
        self.sovits = load_weights(self.root, sovits_path)
        self.sovits_path = sovits_path
        self.record.add("sovits_loaded", sovits_path=sovits_path)
        yield self._sovits_updates(updates, {"__type__": "update", "value": i18n("合成语音"), "interactive": True})

    def _sovits_updates(self, updates: list[Any], button: dict[str, Any]) -> tuple[Any, ...]:
        languages = list(self.dict_language.keys())
        prompt_text, prompt_language, text, text_language = updates or [{"__type__": "update"}] * 4
        return (
            {"__type__": "update", "choices": languages},
            {"__type__": "update", "choices": languages},
            prompt_text,
            prompt_language,
            text,
            text_language,
            {"__type__": "update", "visible": False, "value": 8, "choices": [4, 8, 16, 32]},
            {"__type__": "update", "visible": True},
            {"__type__": "update", "value": False, "interactive": True},
            {"__type__": "update", "visible": False},
            button,
        )

    def change_gpt_weights(self, gpt_path: str) -> None:
        self.record.add("change_gpt_weights", gpt_path=gpt_path)
        time.sleep(self.load_delay)
        self.gpt = load_weights(self.root, gpt_path)
        self.gpt_path = gpt_path
        self.record.add("gpt_loaded", gpt_path=gpt_path)

    def get_tts_wav(
        self,
        ref_wav_path: str | None,
        prompt_text: str | None,
        prompt_language: str,
        text: str,
        text_language: str,
        how_to_cut: str = "不切",
        top_k: int = 20,
        top_p: float = 0.6,
        temperature: float = 0.6,
        ref_free: bool = False,
        speed: float = 1,
        if_freeze: bool = False,
        inp_refs: list[Any] | None = None,
        sample_steps: int = 8,
        if_sr: bool = False,
        pause_second: float = 0.3,
        use_cuda_graph: bool = False,
    ) -> Any:
        gr, i18n = _gradio(), self.i18n
        # The weights this row is spoken with: the globals as the call starts, as upstream's.
        gpt_path, sovits_path, gpt, sovits = self.gpt_path, self.sovits_path, self.gpt, self.sovits
        received = {
            "text": text,
            "text_language": text_language,
            "prompt_text": prompt_text,
            "prompt_language": prompt_language,
            "how_to_cut": how_to_cut,
            "top_k": top_k,
            "top_p": top_p,
            "temperature": temperature,
            "ref_free": ref_free,
            "speed": speed,
            "inp_refs": len(inp_refs or []),
            "ref": Path(ref_wav_path).name if ref_wav_path else None,
        }
        self.record.add("get_tts_wav", gpt_path=gpt_path, sovits_path=sovits_path, **received)
        if not ref_wav_path:
            gr.Warning(i18n("请上传参考音频"))
        if not text:
            gr.Warning(i18n("请填入推理文本"))
        if prompt_text is None or len(prompt_text) == 0:
            ref_free = True
        prompt_code = self.dict_language[prompt_language]  # KeyError for a language the UI does not list
        text_code = self.dict_language[text_language]
        del prompt_code, text_code
        if not ref_free:
            audio, rate = soundfile.read(str(ref_wav_path), dtype="float32", always_2d=False)
            seconds = len(audio) / rate
            if seconds > 10 or seconds < 3:
                gr.Warning(i18n("参考音频在3~10秒范围外，请更换！"))
                raise OSError(i18n("参考音频在3~10秒范围外，请更换！"))
        if gpt is None or sovits is None:
            raise NameError("name 'vq_model' is not defined")
        time.sleep(self.delay)  # the GPU at work
        seconds = max(0.3, 0.06 * len(text.strip()) / float(speed))
        t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
        vibrato = 1 + 0.01 * np.sin(2 * np.pi * float(gpt.get("pitch", 5)) / 40 * t)
        wave = 0.5 * np.sin(2 * np.pi * float(sovits["pitch"]) * vibrato * t)
        self.record.add("get_tts_wav_done", gpt_path=gpt_path, sovits_path=sovits_path, text=text, now_gpt=self.gpt_path, now_sovits=self.sovits_path)
        yield SAMPLE_RATE, (wave * 32767).astype(np.int16)


def build_demo(root: Path, language: str = "zh_CN", delay: float = 0.0, load_delay: float = 0.0, record: str | None = None) -> Any:
    gr = _gradio()
    i18n = I18n(language)
    ui = WebUI(root, i18n, delay, load_delay, Recorder(record))
    sovits_names, gpt_names = weights_names(root)
    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        gr.HTML(f"<b>{NOTICE}</b>", elem_classes="markdown")
        with gr.Group():
            gr.Markdown(i18n("模型切换"))
            with gr.Row():
                gpt_dropdown = gr.Dropdown(label=i18n("GPT模型列表"), choices=sorted(gpt_names, key=custom_sort_key), value=ui.gpt_path, interactive=True, scale=14)
                sovits_dropdown = gr.Dropdown(label=i18n("SoVITS模型列表"), choices=sorted(sovits_names, key=custom_sort_key), value=ui.sovits_path, interactive=True, scale=14)
                refresh_button = gr.Button(i18n("刷新模型路径"), variant="primary", scale=14)
                refresh_button.click(fn=ui.change_choices, inputs=[], outputs=[sovits_dropdown, gpt_dropdown])
            with gr.Row():
                inp_ref = gr.Audio(label=i18n("请上传3~10秒内参考音频，超过会报错！"), type="filepath", scale=13)
                with gr.Column(scale=13):
                    ref_text_free = gr.Checkbox(
                        label=i18n("开启无参考文本模式。不填参考文本亦相当于开启。") + i18n("v3暂不支持该模式，使用了会报错。"),
                        value=False,
                        interactive=True,
                        show_label=True,
                        scale=1,
                    )
                    prompt_text = gr.Textbox(label=i18n("参考音频的文本"), value="", lines=5, max_lines=5, scale=1)
                with gr.Column(scale=14):
                    prompt_language = gr.Dropdown(label=i18n("参考音频的语种"), choices=list(ui.dict_language.keys()), value=i18n("中文"))
                    inp_refs = gr.File(
                        label=i18n(
                            "可选项：通过拖拽多个文件上传多个参考音频（建议同性），平均融合他们的音色。如不填写此项，音色由左侧单个参考音频控制。如是微调模型，建议参考音频全部在微调训练集音色内，底模不用管。"
                        ),
                        file_count="multiple",
                    )
                    sample_steps = gr.Radio(label=i18n("采样步数,如果觉得电,提高试试,如果觉得慢,降低试试"), choices=[4, 8, 16, 32], visible=False, value=8)
                    if_sr_checkbox = gr.Checkbox(label=i18n("v3输出如果觉得闷可以试试开超分"), value=False, interactive=True, show_label=True, visible=False)
            with gr.Row():
                with gr.Column(scale=13):
                    text = gr.Textbox(label=i18n("需要合成的文本"), value="", lines=26, max_lines=26)
                with gr.Column(scale=7):
                    text_language = gr.Dropdown(
                        label=i18n("需要合成的语种") + i18n(".限制范围越小判别效果越好。"), choices=list(ui.dict_language.keys()), value=i18n("中文"), scale=1
                    )
                    how_to_cut = gr.Dropdown(label=i18n("怎么切"), choices=[i18n(c) for c in CUTS], value=i18n("凑四句一切"), interactive=True, scale=1)
                    if_freeze = gr.Checkbox(label=i18n("是否直接对上次合成结果调整语速和音色。防止随机性。"), value=False, interactive=True, show_label=True, scale=1)
                    with gr.Row():
                        speed = gr.Slider(minimum=0.6, maximum=1.65, step=0.05, label=i18n("语速"), value=1, interactive=True, scale=1)
                        pause_second_slider = gr.Slider(minimum=0.1, maximum=0.5, step=0.01, label=i18n("句间停顿秒数"), value=0.3, interactive=True, scale=1)
                    top_k = gr.Slider(minimum=1, maximum=100, step=1, label=i18n("top_k"), value=15, interactive=True, scale=1)
                    top_p = gr.Slider(minimum=0, maximum=1, step=0.05, label=i18n("top_p"), value=1, interactive=True, scale=1)
                    temperature = gr.Slider(minimum=0, maximum=1, step=0.05, label=i18n("temperature"), value=1, interactive=True, scale=1)
            with gr.Row():
                inference_button = gr.Button(value=i18n("合成语音"), variant="primary", size="lg", scale=25)
                use_cuda_graph_checkbox = gr.Checkbox(label="CUDA Graph " + i18n("加速"), value=False, interactive=False, show_label=True, scale=5, visible=False)
                output = gr.Audio(label=i18n("输出的语音"), scale=14)
            inference_button.click(
                ui.get_tts_wav,
                [
                    inp_ref,
                    prompt_text,
                    prompt_language,
                    text,
                    text_language,
                    how_to_cut,
                    top_k,
                    top_p,
                    temperature,
                    ref_text_free,
                    speed,
                    if_freeze,
                    inp_refs,
                    sample_steps,
                    if_sr_checkbox,
                    pause_second_slider,
                    use_cuda_graph_checkbox,
                ],
                [output],
            )
            sovits_dropdown.change(
                ui.change_sovits_weights,
                [sovits_dropdown, prompt_language, text_language],
                [prompt_language, text_language, prompt_text, prompt_language, text, text_language, sample_steps, inp_refs, ref_text_free, if_sr_checkbox, inference_button],
            )
            gpt_dropdown.change(ui.change_gpt_weights, [gpt_dropdown], [])
    return app


def gradio_major() -> int | None:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return int(version("gradio").split(".", 1)[0])
    except (PackageNotFoundError, ValueError):
        return None


def gradio4_python() -> Path | None:
    given = os.environ.get(GRADIO4_PYTHON_ENV)
    if given:
        return Path(given)
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        candidate = root / ".venvs" / "gradio4" / "bin" / "python"
        if candidate.exists():
            return candidate
    return None


def main(argv: list[str] | None = None) -> None:
    """`gbatch-gptsovits-demo`: serve the stand-in until interrupted."""
    parser = argparse.ArgumentParser(
        prog="gbatch-gptsovits-demo",
        description="Serve a stand-in of GPT-SoVITS's inference_webui.py (same gradio 4 API, tones instead of speech, no model). It is NOT GPT-SoVITS.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=9872, help="port to listen on (upstream's default)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind; 0.0.0.0 exposes it to the network")
    parser.add_argument("--weights", default=".", help="the web UI's working directory, holding GPT_weights_v2/*.ckpt and SoVITS_weights_v2/*.pth")
    parser.add_argument("--language", default="zh_CN", choices=["zh_CN", "en_US"], help="the UI's language (upstream follows the system locale)")
    parser.add_argument("--delay", type=float, default=0.3, help="simulated GPU seconds per row")
    parser.add_argument("--load-delay", type=float, default=0.5, help="simulated seconds to load a weights file")
    parser.add_argument("--record", default=os.environ.get("GBATCH_GPTSOVITS_RECORD"), help="append every call to this JSON-lines file")
    args = parser.parse_args(argv)
    if gradio_major() != 4:
        python = gradio4_python()
        if python is None or os.environ.get(REEXEC_ENV):
            parser.exit(2, f"gbatch-gptsovits-demo: GPT-SoVITS's web UI pins gradio<5; build .venvs/gradio4 (scripts/setup.sh) or point {GRADIO4_PYTHON_ENV} at a Python with gradio 4.\n")
        os.environ[REEXEC_ENV] = "1"
        os.execv(str(python), [str(python), str(Path(__file__).resolve()), *(sys.argv[1:] if argv is None else argv)])
    root = Path(args.weights).resolve()
    print(f"{NOTICE}\nWeights: {root}\nStarting on http://{args.host}:{args.port}", flush=True)
    app = build_demo(root, args.language, args.delay, args.load_delay, args.record)
    app.queue().launch(server_name=args.host, server_port=args.port)  # like upstream: default queue, no show_error


if __name__ == "__main__":
    main()

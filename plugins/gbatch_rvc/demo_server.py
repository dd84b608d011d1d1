"""An RVC web UI stand-in: the inference tab of upstream's `infer-web.py` on gradio 3, no model.

This is **not RVC**. It serves the 模型推理 (Model Inference) tab of `infer-web.py` of
github.com/RVC-Project/Retrieval-based-Voice-Conversion-WebUI (main branch, whose
requirements pin gradio 3.34.0) on gradio 3.41.2, closely enough that a client cannot
tell the difference at the API level for that tab:

* the same components in the same order, with upstream's labels in the UI's language
  (`--language zh_CN`, the default, or `en_US`), its hidden inputs (the speaker-id
  slider, the F0 curve file), and the tab's six events in upstream's order and with
  its api_names: `infer_clean` (fn 0), `infer_refresh` (1), `infer_convert` (2),
  `infer_refresh_batch` (3), `infer_convert_batch` (4), `infer_change_voice` (5);
  the queue as upstream's (`concurrency_count=511`). The training, UVR5 and
  checkpoint tabs are left out: their events come after these;
* one process-wide voice (`vc.get_vc`), chosen by the 推理音色 dropdown: the `.pth`
  files in `weight_root` (`--weights DIR/assets/weights`), with the index found by
  upstream's rule (the first `.index` under `index_root` whose path contains the voice's
  name, `DIR/logs`); an empty choice unloads it;
* `infer_convert` takes the input audio as a **path on the server** (a Textbox), as
  upstream; its answer is `"Success.\\nIndex:\\n...\\nTime:..."` and the audio, or a
  traceback as the text. With no voice loaded, upstream's `vc_single` fails on
  `self.pipeline` (the traceback ends in `AttributeError: 'NoneType' object has no
  attribute 'pipeline'`).

Instead of a model, each voice file is JSON (`{"voice": "alto", "pitch": 330,
"tgt_sr": 40000}`): the conversion shifts the input's pitch by the transpose (by
resampling) and mixes in a tone at the voice's pitch. `--record FILE` appends one JSON
line per call (for conversions: the voice loaded when it ran), so tests can check
every song was converted with its own voice. Run it with `gbatch-rvc-demo` (it re-runs
itself under `.venvs/gradio3` when this Python lacks gradio 3); it never imports gbatch.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import soundfile  # noqa: E402

gr: Any = None
GRADIO3_PYTHON_ENV = "GBATCH_GRADIO3_PYTHON"
REEXEC_ENV = "GBATCH_RVC_REEXEC"
# the title says plainly that this is the stand-in (the tool's gbatch.StandIn title), so a client can tell
TITLE = "gbatch RVC stand-in — NOT RVC: pitch-shifted audio with a tone for demos and tests"
NOTICE = TITLE

EN_US = {
    "推理音色": "Inferencing voice:",
    "刷新音色列表和索引路径": "Refresh voice list and index path",
    "卸载音色省显存": "Unload voice to save GPU memory:",
    "请选择说话人id": "Select Speaker/Singer ID:",
    "模型推理": "Model Inference",
    "单次推理": "Single Inference",
    "批量推理": "Batch Inference",
    "变调(整数, 半音数量, 升八度12降八度-12)": "Transpose (integer, number of semitones, raise by an octave: 12, lower by an octave: -12):",
    "输入待处理音频文件路径(默认是正确格式示例)": "Enter the path of the audio file to be processed (default is the correct format example):",
    "特征检索库文件路径,为空则使用下拉的选择结果": "Path to the feature index file. Leave blank to use the selected result from the dropdown:",
    "自动检测index路径,下拉式选择(dropdown)": "Auto-detect index path and select from the dropdown:",
    "检索特征占比": "Search feature ratio (controls accent strength, too high has artifacting):",
    "转换": "Convert",
    "输出信息": "Output information",
    "输出音频(右下角三个点,点了可以下载)": "Export audio (click on the three dots in the lower right corner to download)",
    "后处理重采样至最终采样率，0为不进行重采样": "Resample the output audio in post-processing to the final sample rate. Set to 0 for no resampling:",
    "指定输出文件夹": "Specify output folder:",
    "导出文件格式": "Export file format",
    "也可批量输入音频文件, 二选一, 优先读文件夹": "Multiple audio files can also be imported. If a folder path exists, this input is ignored.",
    "F0曲线文件, 可选, 一行一个音高, 代替默认F0及升降调": "F0 curve file (optional). One pitch per line. Replaces the default F0 and pitch modulation:",
}
L_F0 = "选择音高提取算法,输入歌声可用pm提速,harvest低音好但巨慢无比,crepe效果好但吃GPU,rmvpe效果最好且微吃GPU"
L_RMS = "输入源音量包络替换输出音量包络融合比例，越靠近1越使用输出包络"
L_PROTECT = "保护清辅音和呼吸声，防止电音撕裂等artifact，拉满0.5不开启，调低加大保护力度但可能降低索引效果"
L_FILTER = ">=3则使用对harvest音高识别的结果使用中值滤波，数值为滤波半径，使用可以削弱哑音"
L_DIR = "输入待处理音频文件夹路径(去文件管理器地址栏拷就行了)"
L_BATCH_NOTE = "批量转换, 输入待转换音频文件夹, 或上传多个音频文件, 在指定文件夹(默认opt)下输出转换的音频. "


def _gradio() -> Any:
    global gr
    if gr is None:
        gr = importlib.import_module("gradio")
    return gr


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


class VC:
    """infer/modules/vc/modules.py's `VC`: one loaded voice, process-wide."""

    def __init__(self, weight_root: Path, index_root: Path, delay: float, load_delay: float, record: Recorder) -> None:
        self.weight_root = weight_root
        self.index_root = index_root
        self.delay = delay
        self.load_delay = load_delay
        self.record = record
        self.sid: str | None = None
        self.cpt: dict[str, Any] | None = None
        self.pipeline: Any = None
        self.if_f0 = 1

    def names(self) -> list[str]:
        return sorted(p.name for p in self.weight_root.iterdir() if p.name.endswith(".pth")) if self.weight_root.is_dir() else []

    def index_paths(self) -> list[str]:
        found = []
        for root, _dirs, files in os.walk(str(self.index_root), topdown=False):
            for name in files:
                if name.endswith(".index") and "trained" not in name:
                    found.append(f"{root}/{name}")
        return sorted(found)

    def get_vc(self, sid: Any, *to_return_protect: Any) -> Any:
        self.record.add("infer_change_voice", sid=sid)
        protect0 = {"visible": self.if_f0 != 0, "value": to_return_protect[0] if self.if_f0 != 0 and to_return_protect else 0.5, "__type__": "update"}
        protect1 = {"visible": self.if_f0 != 0, "value": to_return_protect[1] if self.if_f0 != 0 and to_return_protect else 0.33, "__type__": "update"}
        if sid == "" or sid == []:
            self.sid = self.cpt = self.pipeline = None
            return ({"visible": False, "__type__": "update"}, {"visible": True, "value": protect0, "__type__": "update"}, {"visible": True, "value": protect1, "__type__": "update"}, "", "")
        time.sleep(self.load_delay)
        person = f"{self.weight_root}/{sid}"
        with open(person, "rb") as handle:  # FileNotFoundError for a voice that is not there, as torch.load's
            self.cpt = json.loads(handle.read())
        self.sid = sid
        self.pipeline = argparse.Namespace(pipeline="the voice's conversion")  # upstream's Pipeline, in name only
        self.if_f0 = int(self.cpt.get("f0", 1))
        index = {"value": next((f for f in self.index_paths() if sid.split(".")[0] in f), ""), "__type__": "update"}
        self.record.add("voice_loaded", sid=sid)
        return ({"visible": True, "maximum": 1, "__type__": "update"}, protect0, protect1, index, index)

    def vc_single(
        self,
        sid: Any,
        input_audio_path: str | None,
        f0_up_key: Any,
        f0_file: Any,
        f0_method: str,
        file_index: str,
        file_index2: str,
        index_rate: float,
        filter_radius: float,
        resample_sr: float,
        rms_mix_rate: float,
        protect: float,
    ) -> Any:
        loaded = self.sid  # the voice this conversion runs with: the global as it starts
        self.record.add(
            "infer_convert",
            loaded=loaded,
            input=Path(input_audio_path).name if input_audio_path else None,
            input_path=input_audio_path,
            f0_up_key=f0_up_key,
            f0_method=f0_method,
            file_index=file_index,
            file_index2=file_index2,
            index_rate=index_rate,
            filter_radius=filter_radius,
            resample_sr=resample_sr,
            rms_mix_rate=rms_mix_rate,
            protect=protect,
            speaker=sid,
        )
        if input_audio_path is None:
            return "You need to upload an audio", None
        f0_up_key = int(f0_up_key)
        try:
            path = input_audio_path.strip(" ").strip('"').strip("\n").strip('"').strip(" ")
            try:
                audio, rate = soundfile.read(path, dtype="float32", always_2d=False)
            except Exception as e:
                raise RuntimeError(f"Failed to load audio: {e}") from None
            if audio.ndim > 1:
                audio = audio.mean(axis=1)
            if file_index:
                file_index = file_index.strip(" ").strip('"').strip("\n").strip('"').strip(" ").replace("trained", "added")
            elif file_index2:
                file_index = file_index2
            else:
                file_index = ""
            cpt = self.cpt
            self.pipeline.pipeline  # noqa: B018 - fails like upstream when no voice is loaded
            assert cpt is not None
            time.sleep(self.delay)
            tgt_sr = int(cpt.get("tgt_sr", 40000))
            ratio = 2.0 ** (f0_up_key / 12.0)
            shifted_len = max(1, int(len(audio) / ratio))
            shifted = np.interp(np.arange(shifted_len) * ratio, np.arange(len(audio)), audio)
            if tgt_sr != resample_sr >= 16000:
                tgt_sr = int(resample_sr)
            out_len = max(1, int(round(shifted_len * tgt_sr / rate)))
            out = np.interp(np.linspace(0, shifted_len - 1, out_len), np.arange(shifted_len), shifted)
            t = np.arange(out_len) / tgt_sr
            tone = np.sin(2 * np.pi * float(cpt.get("pitch", 220)) * t)
            mixed = 0.3 * out + 0.6 * tone
            audio_opt = (mixed / (np.max(np.abs(mixed)) or 1.0) * 0.9 * 32767).astype(np.int16)
            index_info = f"Index:\n{file_index}." if os.path.exists(file_index) else "Index not used."
            self.record.add("infer_convert_done", loaded=loaded, now=self.sid, input=Path(path).name)
            return f"Success.\n{index_info}\nTime:\nnpy: {0.0:.2f}s, f0: {0.0:.2f}s, infer: {self.delay:.2f}s.", (tgt_sr, audio_opt)
        except Exception:
            info = traceback.format_exc()
            return info, (None, None)

    def vc_multi(self, sid: Any, dir_path: str, opt_root: str, paths: Any, f0_up_key: Any, f0_method: str, file_index: str, file_index2: str, index_rate: float, filter_radius: float, resample_sr: float, rms_mix_rate: float, protect: float, format1: str) -> Any:
        try:
            dir_path = dir_path.strip(" ").strip('"').strip("\n").strip('"').strip(" ")
            opt_root = opt_root.strip(" ").strip('"').strip("\n").strip('"').strip(" ")
            os.makedirs(opt_root, exist_ok=True)
            try:
                names = [os.path.join(dir_path, name) for name in os.listdir(dir_path)] if dir_path != "" else [path.name for path in paths]
            except Exception:
                names = [path.name for path in paths]
            infos = []
            for path in names:
                info, opt = self.vc_single(sid, path, f0_up_key, None, f0_method, file_index, file_index2, index_rate, filter_radius, resample_sr, rms_mix_rate, protect)
                if "Success" in info:
                    tgt_sr, audio_opt = opt
                    soundfile.write(f"{opt_root}/{os.path.basename(path)}.{format1 if format1 in ('wav', 'flac') else 'wav'}", audio_opt, tgt_sr)
                infos.append(f"{os.path.basename(path)}->{info}")
                yield "\n".join(infos)
            yield "\n".join(infos)
        except Exception:
            yield traceback.format_exc()


def build_demo(root: Path, language: str = "zh_CN", delay: float = 0.0, load_delay: float = 0.0, record: str | None = None) -> Any:
    gr = _gradio()
    table = EN_US if language == "en_US" else {}

    def i18n(key: str) -> str:
        return table.get(key, key)

    vc = VC(root / "assets" / "weights", root / "logs", delay, load_delay, Recorder(record))

    def change_choices() -> tuple[dict[str, Any], dict[str, Any]]:
        return {"choices": vc.names(), "__type__": "update"}, {"choices": vc.index_paths(), "__type__": "update"}

    def clean() -> dict[str, Any]:
        return {"value": "", "__type__": "update"}

    f0_methods = ["pm", "harvest", "crepe", "rmvpe"]
    with gr.Blocks(title=TITLE) as app:
        gr.Markdown("## RVC WebUI")
        gr.Markdown(value=f"**{NOTICE}**")
        with gr.Tabs(), gr.TabItem(i18n("模型推理")):
            with gr.Row():
                sid0 = gr.Dropdown(label=i18n("推理音色"), choices=sorted(vc.names()))
                with gr.Column():
                    refresh_button = gr.Button(i18n("刷新音色列表和索引路径"), variant="primary")
                    clean_button = gr.Button(i18n("卸载音色省显存"), variant="primary")
                spk_item = gr.Slider(minimum=0, maximum=2333, step=1, label=i18n("请选择说话人id"), value=0, visible=False, interactive=True)
                clean_button.click(fn=clean, inputs=[], outputs=[sid0], api_name="infer_clean")
            with gr.TabItem(i18n("单次推理")):
                with gr.Group(), gr.Row():
                    with gr.Column():
                        vc_transform0 = gr.Number(label=i18n("变调(整数, 半音数量, 升八度12降八度-12)"), value=0)
                        input_audio0 = gr.Textbox(label=i18n("输入待处理音频文件路径(默认是正确格式示例)"), placeholder="C:\\Users\\Desktop\\audio_example.wav")
                        file_index1 = gr.Textbox(label=i18n("特征检索库文件路径,为空则使用下拉的选择结果"), placeholder="C:\\Users\\Desktop\\model_example.index", interactive=True)
                        file_index2 = gr.Dropdown(label=i18n("自动检测index路径,下拉式选择(dropdown)"), choices=sorted(vc.index_paths()), interactive=True)
                        f0method0 = gr.Radio(label=i18n(L_F0), choices=f0_methods, value="rmvpe", interactive=True)
                    with gr.Column():
                        resample_sr0 = gr.Slider(minimum=0, maximum=48000, label=i18n("后处理重采样至最终采样率，0为不进行重采样"), value=0, step=1, interactive=True)
                        rms_mix_rate0 = gr.Slider(minimum=0, maximum=1, label=i18n(L_RMS), value=0.25, interactive=True)
                        protect0 = gr.Slider(minimum=0, maximum=0.5, label=i18n(L_PROTECT), value=0.33, step=0.01, interactive=True)
                        filter_radius0 = gr.Slider(minimum=0, maximum=7, label=i18n(L_FILTER), value=3, step=1, interactive=True)
                        index_rate1 = gr.Slider(minimum=0, maximum=1, label=i18n("检索特征占比"), value=0.75, interactive=True)
                        f0_file = gr.File(label=i18n("F0曲线文件, 可选, 一行一个音高, 代替默认F0及升降调"), visible=False)
                        refresh_button.click(fn=change_choices, inputs=[], outputs=[sid0, file_index2], api_name="infer_refresh")
                with gr.Group(), gr.Column():
                    but0 = gr.Button(i18n("转换"), variant="primary")
                    with gr.Row():
                        vc_output1 = gr.Textbox(label=i18n("输出信息"))
                        vc_output2 = gr.Audio(label=i18n("输出音频(右下角三个点,点了可以下载)"))
                    but0.click(
                        vc.vc_single,
                        [spk_item, input_audio0, vc_transform0, f0_file, f0method0, file_index1, file_index2, index_rate1, filter_radius0, resample_sr0, rms_mix_rate0, protect0],
                        [vc_output1, vc_output2],
                        api_name="infer_convert",
                    )
            with gr.TabItem(i18n("批量推理")):
                gr.Markdown(value=i18n(L_BATCH_NOTE))
                with gr.Row():
                    with gr.Column():
                        vc_transform1 = gr.Number(label=i18n("变调(整数, 半音数量, 升八度12降八度-12)"), value=0)
                        opt_input = gr.Textbox(label=i18n("指定输出文件夹"), value="opt")
                        file_index3 = gr.Textbox(label=i18n("特征检索库文件路径,为空则使用下拉的选择结果"), value="", interactive=True)
                        file_index4 = gr.Dropdown(label=i18n("自动检测index路径,下拉式选择(dropdown)"), choices=sorted(vc.index_paths()), interactive=True)
                        f0method1 = gr.Radio(label=i18n(L_F0), choices=f0_methods, value="rmvpe", interactive=True)
                        format1 = gr.Radio(label=i18n("导出文件格式"), choices=["wav", "flac", "mp3", "m4a"], value="wav", interactive=True)
                        refresh_button.click(fn=lambda: change_choices()[1], inputs=[], outputs=file_index4, api_name="infer_refresh_batch")
                    with gr.Column():
                        resample_sr1 = gr.Slider(minimum=0, maximum=48000, label=i18n("后处理重采样至最终采样率，0为不进行重采样"), value=0, step=1, interactive=True)
                        rms_mix_rate1 = gr.Slider(minimum=0, maximum=1, label=i18n(L_RMS), value=1, interactive=True)
                        protect1 = gr.Slider(minimum=0, maximum=0.5, label=i18n(L_PROTECT), value=0.33, step=0.01, interactive=True)
                        filter_radius1 = gr.Slider(minimum=0, maximum=7, label=i18n(L_FILTER), value=3, step=1, interactive=True)
                        index_rate2 = gr.Slider(minimum=0, maximum=1, label=i18n("检索特征占比"), value=1, interactive=True)
                with gr.Row():
                    dir_input = gr.Textbox(label=i18n(L_DIR), placeholder="C:\\Users\\Desktop\\input_vocal_dir")
                    inputs = gr.File(file_count="multiple", label=i18n("也可批量输入音频文件, 二选一, 优先读文件夹"))
                with gr.Row():
                    but1 = gr.Button(i18n("转换"), variant="primary")
                    vc_output3 = gr.Textbox(label=i18n("输出信息"))
                    but1.click(
                        vc.vc_multi,
                        [spk_item, dir_input, opt_input, inputs, vc_transform1, f0method1, file_index3, file_index4, index_rate2, filter_radius1, resample_sr1, rms_mix_rate1, protect1, format1],
                        [vc_output3],
                        api_name="infer_convert_batch",
                    )
                sid0.change(fn=vc.get_vc, inputs=[sid0, protect0, protect1], outputs=[spk_item, protect0, protect1, file_index2, file_index4], api_name="infer_change_voice")
    return app


def gradio_major() -> int | None:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return int(version("gradio").split(".", 1)[0])
    except (PackageNotFoundError, ValueError):
        return None


def gradio3_python() -> Path | None:
    given = os.environ.get(GRADIO3_PYTHON_ENV)
    if given:
        return Path(given)
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        candidate = root / ".venvs" / "gradio3" / "bin" / "python"
        if candidate.exists():
            return candidate
    return None


def main(argv: list[str] | None = None) -> None:
    """`gbatch-rvc-demo`: serve the stand-in until interrupted."""
    parser = argparse.ArgumentParser(
        prog="gbatch-rvc-demo",
        description="Serve a stand-in of RVC's infer-web.py inference tab (same gradio 3 API, pitch-shifted audio with a tone, no model). It is NOT RVC.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=7865, help="port to listen on (upstream's default)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind; 0.0.0.0 exposes it to the network")
    parser.add_argument("--root", default=".", help="the web UI's folder: voices in assets/weights/*.pth, indexes under logs/")
    parser.add_argument("--language", default="zh_CN", choices=["zh_CN", "en_US"], help="the UI's language (upstream follows the system locale)")
    parser.add_argument("--delay", type=float, default=0.3, help="simulated GPU seconds per conversion")
    parser.add_argument("--load-delay", type=float, default=0.5, help="simulated seconds to load a voice")
    parser.add_argument("--record", default=os.environ.get("GBATCH_RVC_RECORD"), help="append every call to this JSON-lines file")
    args = parser.parse_args(argv)
    if gradio_major() != 3:
        python = gradio3_python()
        if python is None or os.environ.get(REEXEC_ENV):
            parser.exit(2, f"gbatch-rvc-demo: RVC's web UI pins gradio 3.34; build .venvs/gradio3 (scripts/setup.sh) or point {GRADIO3_PYTHON_ENV} at a Python with gradio 3.\n")
        os.environ[REEXEC_ENV] = "1"
        os.execv(str(python), [str(python), str(Path(__file__).resolve()), *(sys.argv[1:] if argv is None else argv)])
    root = Path(args.root).resolve()
    print(f"{NOTICE}\nVoices: {root / 'assets' / 'weights'}\nStarting on http://{args.host}:{args.port}", flush=True)
    os.chdir(root)  # upstream runs in its own folder: weight_root and index_root are relative to it
    app = build_demo(Path("."), args.language, args.delay, args.load_delay, args.record)
    app.queue(concurrency_count=511, max_size=1022).launch(server_name=args.host, server_port=args.port, quiet=True)


if __name__ == "__main__":
    main()

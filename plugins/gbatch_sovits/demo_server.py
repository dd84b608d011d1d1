"""A So-VITS-SVC web UI stand-in: the same Gradio 3 interface as upstream `webUI.py`, no model.

This is **not So-VITS-SVC**. It serves the UI definition of `webUI.py` of
github.com/svc-develop-team/so-vits-svc (branch 4.1-Stable) on gradio 3.41.2 closely
enough that a client cannot tell the difference at the API level:

* the same components in the same order, with upstream's labels, defaults and choices,
  and the same 12 events in the same fn_index order, none with an `api_name`, and no
  queue (every call is a plain `POST /run/predict`, and calls run at once, in threads):
  0 mix-model files changed, 1 mix-model upload, 2 `声线融合启动`, 3 `压缩模型`,
  4 `刷新本地模型列表`, 5/6 the `上传`/`本地` tabs' select events (they set the hidden
  Checkbox), 7 `音频转换` (`vc_fn`, 19 inputs), 8 `文字转换` (`vc_fn2`, 23 inputs),
  9 the debug Checkbox (a no-op), 10 `加载模型` (`modelAnalysis`, 11 inputs), 11 `卸载模型`;
* one process-wide model, loaded either from uploaded `.pth` + `config.json` files or
  from a server folder (the first `*.pth` and `*.json` in it, e.g. `./trained/demo`);
  the speakers are the keys of the config's `spk` map, returned as a Dropdown update,
  with upstream's status text (`成功加载模型到设备cpu上` ... `当前模型的可用音色：`);
* upstream's soft failures, as `[message, null]` with HTTP 200: `You need to upload an
  audio`, `You need to upload an model`, and `You need to upload an cluster model or
  feature retrieval model before assigning cluster ratio!`; other failures are `gr.Error`s;
* upstream's file naming: the upload is rewritten as `raw/<stem>.wav` (gradio's temp
  name minus its last 6 characters) and the result is written to
  `results/result_<stem>_<speaker>_<key><cluster><kind>.<format>` and returned as that
  path (gradio serves a copy of it).

Instead of a model, the fake `Svc` shifts the audio's pitch by `transpose` semitones
(by resampling; `auto_f0` leaves it alone), mixes in a tone that depends on the speaker,
and resamples to the config's `data.sampling_rate` (44100 when absent). WAV, FLAC and
MP3 are written with soundfile (MP3 needs libsndfile 1.1 or newer).

**Stand-in rules for tests**: an audio whose samples are all zero (digital silence) is
treated as no audio at all, so the call answers `You need to upload an audio`; and a
conversion keeps the model it started with, so `卸载模型` during a conversion affects
only the next one (upstream's would fail on the vanished global).

The working directory of the web UI (`raw/`, `results/`, `tts.wav`) is `--workdir`, by
default a fresh temporary folder; a `trained` link in it points at `--trained`, so
`./trained/<name>` names a model folder as it does upstream. `--record FILE` appends
every call of the load, unload and convert events to FILE as a JSON line (on arrival,
with how many conversions were running and, for conversions, which model was loaded), so tests can see what the server received.

Run it with `gbatch-sovits-demo --port 7860`, or as a script under a Python that has
gradio 3.41.2, numpy and soundfile; it never imports gbatch.
"""

from __future__ import annotations

import os

# The stand-in must never phone home: set these before gradio is imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import argparse  # noqa: E402
import glob  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import soundfile  # noqa: E402

#: gradio 3.x, imported by `build_demo` (the development tools type-check against a newer gradio,
#: and `main` first makes sure it runs under a gradio 3)
gr: Any = None
#: where `main` looks for a Python with gradio 3 when its own has another (or none)
GRADIO3_PYTHON_ENV = "GBATCH_GRADIO3_PYTHON"
REEXEC_ENV = "GBATCH_SOVITS_REEXEC"


def _gradio() -> Any:
    global gr
    if gr is None:
        gr = importlib.import_module("gradio")
    return gr


def gradio_major() -> int | None:
    """The major version of the gradio this Python has, or None without one."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return int(version("gradio").split(".", 1)[0])
    except (PackageNotFoundError, ValueError):
        return None


def gradio3_python() -> Path | None:
    """A Python with gradio 3: `$GBATCH_GRADIO3_PYTHON`, or `.venvs/gradio3` of this checkout or the current folder."""
    given = os.environ.get(GRADIO3_PYTHON_ENV)
    if given:
        return Path(given)
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        candidate = root / ".venvs" / "gradio3" / "bin" / "python"
        if candidate.exists():
            return candidate
    return None

TITLE = "gbatch So-VITS-SVC stand-in — NOT So-VITS-SVC: pitch-shifted audio for demos and tests"
LOCAL_MODEL_ROOT = "./trained"
NO_AUDIO = "You need to upload an audio"
NO_MODEL = "You need to upload an model"
NO_CLUSTER = "You need to upload an cluster model or feature retrieval model before assigning cluster ratio!"
# upstream lists every edge-tts voice (about 320); a few stand for them here
TTS_LANGUAGES = ["Auto", "zh-CN-XiaoxiaoNeural", "zh-CN-YunxiNeural", "en-US-AriaNeural", "en-US-GuyNeural", "ja-JP-NanamiNeural"]

# The labels of webUI.py, exactly.
L_DEVICE = "推理设备，默认为自动选择CPU和GPU"
L_ENHANCE = "是否使用NSF_HIFIGAN增强,该选项对部分训练集少的模型有一定的音质增强效果，但是对训练好的模型有反面效果，默认关闭"
L_ONLY_DIFFUSION = "是否使用全扩散推理，开启后将不使用So-VITS模型，仅使用扩散模型进行完整扩散推理，默认关闭"
L_AUTO_F0 = "自动f0预测，配合聚类模型f0预测效果更好,会导致变调功能失效（仅限转换语音，歌声勾选此项会究极跑调）"
L_F0_PREDICTOR = "选择F0预测器,可选择crepe,pm,dio,harvest,rmvpe,默认为pm(注意：crepe为原F0使用均值滤波器)"
L_TRANSPOSE = "变调（整数，可以正负，半音数量，升高八度就是12）"
L_CLUSTER_RATIO = "聚类模型/特征检索混合比例，0-1之间，0即不启用聚类/特征检索。使用聚类/特征检索能提升音色相似度，但会导致咬字下降（如果使用建议0.5左右）"
L_NOISE_SCALE = "noise_scale 建议不要动，会影响音质，玄学参数"
L_K_STEP = "浅扩散步数，只有使用了扩散模型才有效，步数越大越接近扩散模型的结果"
L_PAD = "推理音频pad秒数，由于未知原因开头结尾会有异响，pad一小段静音段后就不会出现"
L_CL_NUM = "音频自动切片，0为不切片，单位为秒(s)"
L_LG_NUM = "两端音频切片的交叉淡入长度，如果自动切片后出现人声不连贯可调整该数值，如果连贯建议采用默认值0，注意，该设置会影响推理速度，单位为秒/s"
L_LGR_NUM = "自动音频切片后，需要舍弃每段切片的头尾。该参数设置交叉长度保留的比例，范围0-1,左开右闭"
L_ENHANCER_KEY = "使增强器适应更高的音域(单位为半音数)|默认为0"
L_CR_THRESHOLD = "F0过滤阈值，只有启动crepe时有效. 数值范围从0-1. 降低该值可减少跑调概率，但会增加哑音"
L_LOUDNESS = "输入源响度包络替换输出响度包络融合比例，越靠近1越使用输出响度包络"
L_SECOND_ENCODING = "二次编码，浅扩散前会对原始音频进行二次编码，玄学选项，效果时好时差，默认关闭"


class Recorder:
    """Appends one JSON line per call to a file (tests read it); counts conversions in flight."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self.in_flight = 0

    def add(self, handler: str, **received: Any) -> None:
        if self.path is None:
            return
        line = json.dumps({"handler": handler, "pid": os.getpid(), "time": time.time(), **received}, ensure_ascii=False, default=str)
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def enter(self) -> int:
        with self._lock:
            self.in_flight += 1
            return self.in_flight

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


def _file_name(file: Any) -> str | None:
    """The temp path of a gr.File input (a tempfile object in gradio 3), or None."""
    return None if file is None else str(file.name)


def _facts(path: str | None) -> dict[str, Any] | None:
    if path is None:
        return None
    data = Path(path).read_bytes()
    return {"path": path, "basename": Path(path).name, "size": len(data), "crc32": zlib.crc32(data)}


class FakeSvc:
    """What `inference.infer_tool.Svc` is to webUI.py, without a network: reads the config's
    speakers and sampling rate, and "converts" by shifting pitch and adding a speaker tone."""

    def __init__(
        self,
        net_g_path: str,
        config_path: str,
        device: str | None = None,
        cluster_model_path: str = "",
        nsf_hifigan_enhance: bool = False,
        diffusion_model_path: str = "",
        diffusion_config_path: str = "",
        shallow_diffusion: bool = False,
        only_diffusion: bool = False,
        spk_mix_enable: bool = False,
        feature_retrieval: bool = False,
        delay: float = 0.0,
    ) -> None:
        if Path(net_g_path).stat().st_size == 0:
            # what torch.load says about a file that is not a checkpoint
            raise RuntimeError("PytorchStreamReader failed reading zip archive: failed finding central directory")
        with open(config_path, encoding="utf-8") as handle:
            config = json.load(handle)
        speakers = config.get("spk") if isinstance(config, dict) else None
        if not isinstance(speakers, dict) or not speakers:
            raise AttributeError("'HParams' object has no attribute 'spk'")
        self.spk2id: dict[str, int] = {str(k): int(v) for k, v in speakers.items()}
        data = config.get("data") if isinstance(config.get("data"), dict) else {}
        self.target_sample = int(data.get("sampling_rate", 44100))
        self.dev = device or "cpu"
        self.cluster_model = object() if cluster_model_path and not feature_retrieval else None
        self.feature_retrieval = bool(feature_retrieval and cluster_model_path)
        self.shallow_diffusion = shallow_diffusion
        self.only_diffusion = only_diffusion
        self.enhance = nsf_hifigan_enhance
        self.delay = delay

    def slice_inference(self, raw_audio_path: str, spk: str, tran: float, slice_db: float, cluster_infer_ratio: float, auto_predict_f0: bool, noice_scale: float, *rest: Any) -> np.ndarray:
        if spk not in self.spk2id:
            raise KeyError(spk)  # upstream fails the same way on an unknown speaker
        audio, rate = soundfile.read(raw_audio_path, dtype="float32", always_2d=False)
        if audio.ndim > 1:
            audio = audio.mean(axis=1)
        time.sleep(self.delay)  # the GPU at work
        shift = 0.0 if auto_predict_f0 else float(tran)
        ratio = 2.0 ** (shift / 12.0)
        # Pitch shift by resampling (the duration changes with it), then to the model's rate.
        shifted_len = max(1, int(len(audio) / ratio))
        shifted = np.interp(np.arange(shifted_len) * ratio, np.arange(len(audio)), audio)
        out_len = max(1, int(round(shifted_len * self.target_sample / rate)))
        out = np.interp(np.linspace(0, shifted_len - 1, out_len), np.arange(shifted_len), shifted)
        # A tone per speaker, following the input's loudness, so each speaker sounds different.
        t = np.arange(out_len) / self.target_sample
        envelope = np.convolve(np.abs(out), np.ones(256) / 256, mode="same")
        tone = np.sin(2 * np.pi * 220.0 * 2 ** (self.spk2id[spk] / 3.0) * t) * envelope
        mixed = 0.7 * out + 0.6 * tone
        peak = float(np.max(np.abs(mixed))) or 1.0
        result: np.ndarray = (0.9 * mixed / peak).astype(np.float32)
        return result

    def clear_empty(self) -> None:
        pass

    def unload_model(self) -> None:
        pass


class WebUI:
    """The handlers of webUI.py, sharing one global model like upstream's module globals."""

    def __init__(self, workdir: Path, delay: float, recorder: Recorder) -> None:
        self.workdir = workdir
        self.delay = delay
        self.record = recorder
        self.model: FakeSvc | None = None
        self.model_source: str | None = None
        self.debug = False
        self.cuda: dict[str, str] = {}  # no GPUs here: the device choices are Auto and cpu
        self.sid: Any = None
        self.mix_model_output1: Any = None
        self.debug_button: Any = None

    def path(self, relative: str) -> str:
        return str(self.workdir / relative)

    # -- model ------------------------------------------------------------------------

    def modelAnalysis(self, model_path: Any, config_path: Any, cluster_model_path: Any, device: str, enhance: bool, diff_model_path: Any, diff_config_path: Any, only_diffusion: bool, use_spk_mix: bool, local_model_enabled: bool, local_model_selection: str | None) -> Any:  # noqa: N802 - upstream's name
        self.record.add(
            "modelAnalysis",
            model_path=_facts(_file_name(model_path)),
            config_path=_facts(_file_name(config_path)),
            cluster_model_path=_facts(_file_name(cluster_model_path)),
            device=device,
            enhance=enhance,
            diff_model_path=_facts(_file_name(diff_model_path)),
            diff_config_path=_facts(_file_name(diff_config_path)),
            only_diffusion=only_diffusion,
            use_spk_mix=use_spk_mix,
            local_model_enabled=local_model_enabled,
            local_model_selection=local_model_selection,
        )
        try:
            device = self.cuda[device] if "CUDA" in device else device
            cluster_filepath = os.path.split(cluster_model_path.name) if cluster_model_path is not None else "no_cluster"
            if local_model_enabled:
                folder = os.path.join(str(self.workdir), local_model_selection or "")
                model_file = glob.glob(os.path.join(folder, "*.pth"))[0]
                config_file = glob.glob(os.path.join(folder, "*.json"))[0]
            else:
                model_file = model_path.name
                config_file = config_path.name
            fr = ".pkl" in cluster_filepath[1]
            self.model = FakeSvc(
                model_file,
                config_file,
                device=device if device != "Auto" else None,
                cluster_model_path=cluster_model_path.name if cluster_model_path is not None else "",
                nsf_hifigan_enhance=enhance,
                diffusion_model_path=diff_model_path.name if diff_model_path is not None else "",
                diffusion_config_path=diff_config_path.name if diff_config_path is not None else "",
                shallow_diffusion=diff_model_path is not None,
                only_diffusion=only_diffusion,
                spk_mix_enable=use_spk_mix,
                feature_retrieval=fr,
                delay=self.delay,
            )
            # which model it is, for the record: the folder chosen, or the uploaded file's name
            self.model_source = local_model_selection if local_model_enabled else Path(model_file).name
            spks = list(self.model.spk2id.keys())
            msg = f"成功加载模型到设备{self.model.dev}上\n"
            if cluster_model_path is None:
                msg += "未加载聚类模型或特征检索模型\n"
            elif fr:
                msg += f"特征检索模型{cluster_filepath[1]}加载成功\n"
            else:
                msg += f"聚类模型{cluster_filepath[1]}加载成功\n"
            if diff_model_path is None:
                msg += "未加载扩散模型\n"
            else:
                msg += f"扩散模型{diff_model_path.name}加载成功\n"
            msg += "当前模型的可用音色：\n"
            for name in spks:
                msg += name + " "
            return gr.Dropdown.update(choices=spks, value=spks[0]), msg
        except Exception as e:
            raise gr.Error(e) from e

    def modelUnload(self) -> Any:  # noqa: N802 - upstream's name
        self.record.add("modelUnload")
        if self.model is None:
            return gr.Dropdown.update(choices=[], value=""), "没有模型需要卸载!"
        self.model.unload_model()
        self.model = None
        return gr.Dropdown.update(choices=[], value=""), "模型卸载完毕!"

    # -- conversion ---------------------------------------------------------------------

    def vc_infer(self, model: FakeSvc, output_format: str, sid: str, audio_path: str, truncated_basename: str, vc_transform: float, auto_f0: bool, cluster_ratio: float, slice_db: float, noise_scale: float, pad_seconds: float, cl_num: float, lg_num: float, lgr_num: float, f0_predictor: str, enhancer_adaptive_key: float, cr_threshold: float, k_step: float, use_spk_mix: bool, second_encoding: bool, loudness_envelope_adjustment: float) -> str:
        audio = model.slice_inference(audio_path, sid, vc_transform, slice_db, cluster_ratio, auto_f0, noise_scale, pad_seconds, cl_num, lg_num, lgr_num, f0_predictor, enhancer_adaptive_key, cr_threshold, k_step, use_spk_mix, second_encoding, loudness_envelope_adjustment)
        model.clear_empty()
        os.makedirs(self.path("results"), exist_ok=True)
        key = "auto" if auto_f0 else f"{int(vc_transform)}key"
        cluster = "_" if cluster_ratio == 0 else f"_{cluster_ratio}_"
        kind = "sovits"
        if model.shallow_diffusion:
            kind = "sovdiff"
        if model.only_diffusion:
            kind = "diff"
        output_file_name = "result_" + truncated_basename + f"_{sid}_{key}{cluster}{kind}.{output_format}"
        output_file = os.path.join(self.path("results"), output_file_name)
        soundfile.write(output_file, audio, model.target_sample, format=output_format)
        return output_file

    def vc_fn(self, sid: str, input_audio: str | None, output_format: str, vc_transform: float, auto_f0: bool, cluster_ratio: float, slice_db: float, noise_scale: float, pad_seconds: float, cl_num: float, lg_num: float, lgr_num: float, f0_predictor: str, enhancer_adaptive_key: float, cr_threshold: float, k_step: float, use_spk_mix: bool, second_encoding: bool, loudness_envelope_adjustment: float) -> tuple[str, str | None]:
        running = self.record.enter()
        try:
            self.record.add(
                "vc_fn",
                in_flight=running,
                loaded=self.model_source if self.model is not None else None,
                sid=sid,
                input_audio=_facts(input_audio),
                output_format=output_format,
                vc_transform=vc_transform,
                auto_f0=auto_f0,
                cluster_ratio=cluster_ratio,
                slice_db=slice_db,
                noise_scale=noise_scale,
                pad_seconds=pad_seconds,
                cl_num=cl_num,
                lg_num=lg_num,
                lgr_num=lgr_num,
                f0_predictor=f0_predictor,
                enhancer_adaptive_key=enhancer_adaptive_key,
                cr_threshold=cr_threshold,
                k_step=k_step,
                use_spk_mix=use_spk_mix,
                second_encoding=second_encoding,
                loudness_envelope_adjustment=loudness_envelope_adjustment,
                types={"vc_transform": type(vc_transform).__name__, "cluster_ratio": type(cluster_ratio).__name__, "k_step": type(k_step).__name__},
            )
            return self._vc_fn(sid, input_audio, output_format, vc_transform, auto_f0, cluster_ratio, slice_db, noise_scale, pad_seconds, cl_num, lg_num, lgr_num, f0_predictor, enhancer_adaptive_key, cr_threshold, k_step, use_spk_mix, second_encoding, loudness_envelope_adjustment)
        finally:
            self.record.leave()

    def _vc_fn(self, sid: str, input_audio: str | None, output_format: str, vc_transform: float, auto_f0: bool, cluster_ratio: float, *rest: Any) -> tuple[str, str | None]:
        try:
            if input_audio is None:
                return NO_AUDIO, None
            model = self.model
            if model is None:
                return NO_MODEL, None
            if getattr(model, "cluster_model", None) is None and model.feature_retrieval is False and cluster_ratio != 0:
                return NO_CLUSTER, None
            audio, sampling_rate = soundfile.read(input_audio)
            if np.issubdtype(audio.dtype, np.integer):
                audio = (audio / np.iinfo(audio.dtype).max).astype(np.float32)
            if len(audio.shape) > 1:
                audio = audio.mean(axis=1)
            if not np.any(audio):
                return NO_AUDIO, None  # the stand-in's rule: digital silence counts as no audio
            # gradio names its copy "<stem>-<crop_min>-<crop_max>.wav": upstream cuts 6 characters
            truncated_basename = Path(input_audio).stem[:-6]
            processed_audio = os.path.join(self.path("raw"), f"{truncated_basename}.wav")
            soundfile.write(processed_audio, audio, sampling_rate, format="wav")
            output_file = self.vc_infer(model, output_format, sid, processed_audio, truncated_basename, vc_transform, auto_f0, cluster_ratio, *rest)
            return "Success", output_file
        except Exception as e:
            raise gr.Error(e) from e

    def vc_fn2(self, _text: str, _lang: str, _gender: str, _rate: float, _volume: float, sid: str, output_format: str, vc_transform: float, auto_f0: bool, cluster_ratio: float, *rest: Any) -> tuple[str, str | None]:
        # Upstream speaks the text with edge-tts (online); the stand-in beeps once per character.
        self.record.add("vc_fn2", text=_text, lang=_lang, gender=_gender, sid=sid)
        try:
            model = self.model
            if model is None:
                return NO_MODEL, None
            if getattr(model, "cluster_model", None) is None and model.feature_retrieval is False and cluster_ratio != 0:
                return NO_CLUSTER, None
            rate = 44100
            base = 180.0 if _gender == "男" else 260.0
            beeps = [np.sin(2 * np.pi * base * 2 ** ((ord(ch) % 12) / 12) * np.arange(int(rate * 0.15)) / rate) * 0.5 for ch in (_text or " ")]
            tts = self.path("tts.wav")
            soundfile.write(tts, np.concatenate(beeps).astype(np.float32), rate, subtype="PCM_16")
            output_file_path = self.vc_infer(model, output_format, sid, tts, "tts", vc_transform, auto_f0, cluster_ratio, *rest)
            os.remove(tts)
            return "Success", output_file_path
        except Exception as e:
            raise gr.Error(e) from e

    # -- the small tools ------------------------------------------------------------------

    def upload_mix_append_file(self, files: Any, sfiles: Any) -> Any:
        try:
            paths = [f.name for f in files] + [f.name for f in (sfiles or [])]
            return paths, self.mix_model_output1.update(value=json.dumps({p: 100 for p in paths}, indent=2))
        except Exception as e:
            raise gr.Error(e) from e

    def mix_submit_click(self, js: str, mode: str) -> str:
        try:
            assert js.lstrip() != ""
            modes = {"凸组合": 0, "线性组合": 1}
            modes[mode]
            data = json.loads(js)
            out = self.path("output.pth")
            with open(out, "wb") as handle:
                handle.write(json.dumps(data).encode())  # the stand-in "mixes" by listing the inputs
            return f"成功，文件被保存在了{out}"
        except Exception as e:
            raise gr.Error(e) from e

    def updata_mix_info(self, files: Any) -> Any:
        try:
            if files is None:
                return self.mix_model_output1.update(value="")
            return self.mix_model_output1.update(value=json.dumps({f.name: 100 for f in files}, indent=2))
        except Exception as e:
            raise gr.Error(e) from e

    def model_compression(self, _model: Any) -> str:
        if _model == "" or _model is None:
            return "请先选择要压缩的模型"
        filename, extension = os.path.splitext(os.path.split(_model.name)[1])
        output_path = self.path(f"{filename}_compressed{extension}")
        shutil.copyfile(_model.name, output_path)  # a fake model has no optimizer state to drop
        return f"模型已成功被保存在了{output_path}"

    def scan_local_models(self) -> list[str]:
        res = []
        root = os.path.join(str(self.workdir), LOCAL_MODEL_ROOT)
        for candidate in sorted({os.path.dirname(c) for c in glob.glob(os.path.join(root, "**", "*.json"), recursive=True)}):
            if len(glob.glob(os.path.join(candidate, "*.json"))) == 1 and len(glob.glob(os.path.join(candidate, "*.pth"))) == 1:
                res.append(os.path.join(LOCAL_MODEL_ROOT, os.path.relpath(candidate, root)))
        return res

    def local_model_refresh_fn(self) -> Any:
        return gr.Dropdown.update(choices=self.scan_local_models())

    def debug_change(self) -> None:
        self.debug = self.debug_button.value  # upstream reads the initial value: in effect a no-op


def build_demo(workdir: Path, delay: float = 0.0, record: str | None = None) -> Any:
    """The gr.Blocks of webUI.py, bound to a fake model working in `workdir`."""
    gr = _gradio()
    ui = WebUI(workdir, delay, Recorder(record))
    theme = gr.themes.Base(primary_hue=gr.themes.colors.green, font=["Source Sans Pro", "Arial", "sans-serif"], font_mono=["JetBrains mono", "Consolas", "Courier New"])
    with gr.Blocks(theme=theme, title=TITLE) as app:
        with gr.Tabs():
            with gr.TabItem("推理"):
                gr.Markdown(value=f"\n                So-vits-svc 4.0 推理 webui\n\n                **{TITLE}**\n                ")
                with gr.Row(variant="panel"):
                    with gr.Column():
                        gr.Markdown(value="\n                        <font size=2> 模型设置</font>\n                        ")
                        with gr.Tabs():
                            local_model_enabled = gr.Checkbox(value=False, visible=False)
                            with gr.TabItem("上传") as local_model_tab_upload, gr.Row():
                                model_path = gr.File(label="选择模型文件")
                                config_path = gr.File(label="选择配置文件")
                            with gr.TabItem("本地") as local_model_tab_local:
                                gr.Markdown(f"模型应当放置于{LOCAL_MODEL_ROOT}文件夹下")
                                local_model_refresh_btn = gr.Button("刷新本地模型列表")
                                local_model_selection = gr.Dropdown(label="选择模型文件夹", choices=[], interactive=True)
                        with gr.Row():
                            diff_model_path = gr.File(label="选择扩散模型文件")
                            diff_config_path = gr.File(label="选择扩散模型配置文件")
                        cluster_model_path = gr.File(label="选择聚类模型或特征检索文件（没有可以不选）")
                        device = gr.Dropdown(label=L_DEVICE, choices=["Auto", *ui.cuda.keys(), "cpu"], value="Auto")
                        enhance = gr.Checkbox(label=L_ENHANCE, value=False)
                        only_diffusion = gr.Checkbox(label=L_ONLY_DIFFUSION, value=False)
                    with gr.Column():
                        gr.Markdown(value="\n                        <font size=3>左侧文件全部选择完毕后(全部文件模块显示download)，点击“加载模型”进行解析：</font>\n                        ")
                        model_load_button = gr.Button(value="加载模型", variant="primary")
                        model_unload_button = gr.Button(value="卸载模型", variant="primary")
                        sid = ui.sid = gr.Dropdown(label="音色（说话人）")
                        sid_output = gr.Textbox(label="Output Message")

                with gr.Row(variant="panel"):
                    with gr.Column():
                        gr.Markdown(value="\n                        <font size=2> 推理设置</font>\n                        ")
                        auto_f0 = gr.Checkbox(label=L_AUTO_F0, value=False)
                        f0_predictor = gr.Dropdown(label=L_F0_PREDICTOR, choices=["pm", "dio", "harvest", "crepe", "rmvpe"], value="pm")
                        vc_transform = gr.Number(label=L_TRANSPOSE, value=0)
                        cluster_ratio = gr.Number(label=L_CLUSTER_RATIO, value=0)
                        slice_db = gr.Number(label="切片阈值", value=-40)
                        output_format = gr.Radio(label="音频输出格式", choices=["wav", "flac", "mp3"], value="wav")
                        noise_scale = gr.Number(label=L_NOISE_SCALE, value=0.4)
                        k_step = gr.Slider(label=L_K_STEP, value=100, minimum=1, maximum=1000)
                    with gr.Column():
                        pad_seconds = gr.Number(label=L_PAD, value=0.5)
                        cl_num = gr.Number(label=L_CL_NUM, value=0)
                        lg_num = gr.Number(label=L_LG_NUM, value=0)
                        lgr_num = gr.Number(label=L_LGR_NUM, value=0.75)
                        enhancer_adaptive_key = gr.Number(label=L_ENHANCER_KEY, value=0)
                        cr_threshold = gr.Number(label=L_CR_THRESHOLD, value=0.05)
                        loudness_envelope_adjustment = gr.Number(label=L_LOUDNESS, value=0)
                        second_encoding = gr.Checkbox(label=L_SECOND_ENCODING, value=False)
                        use_spk_mix = gr.Checkbox(label="动态声线融合", value=False, interactive=False)
                with gr.Tabs():
                    with gr.TabItem("音频转音频"):
                        vc_input3 = gr.Audio(label="选择音频", type="filepath")
                        vc_submit = gr.Button("音频转换", variant="primary")
                    with gr.TabItem("文字转音频"):
                        text2tts = gr.Textbox(label="在此输入要转译的文字。注意，使用该功能建议打开F0预测，不然会很怪")
                        with gr.Row():
                            tts_gender = gr.Radio(label="说话人性别", choices=["男", "女"], value="男")
                            tts_lang = gr.Dropdown(label="选择语言，Auto为根据输入文字自动识别", choices=TTS_LANGUAGES, value="Auto")
                            tts_rate = gr.Slider(label="TTS语音变速（倍速相对值）", minimum=-1, maximum=3, value=0, step=0.1)
                            tts_volume = gr.Slider(label="TTS语音音量（相对值）", minimum=-1, maximum=1.5, value=0, step=0.1)
                        vc_submit2 = gr.Button("文字转换", variant="primary")
                with gr.Row():
                    with gr.Column():
                        vc_output1 = gr.Textbox(label="Output Message")
                    with gr.Column():
                        vc_output2 = gr.Audio(label="Output Audio", interactive=False)

            with gr.TabItem("小工具/实验室特性"):
                gr.Markdown(value="\n                        <font size=2> So-vits-svc 4.0 小工具/实验室特性</font>\n                        ")
                with gr.Tabs():
                    with gr.TabItem("静态声线融合"):
                        gr.Markdown(value="<font size=2> 介绍:该功能可以将多个声音模型合成为一个声音模型(多个模型参数的凸组合或线性组合)，从而制造出现实中不存在的声线</font>")
                        mix_model_path = gr.Files(label="选择需要混合模型文件")
                        mix_model_upload_button = gr.UploadButton("选择/追加需要混合模型文件", file_count="multiple")
                        mix_model_output1 = ui.mix_model_output1 = gr.Textbox(label="混合比例调整，单位/%", interactive=True)
                        mix_mode = gr.Radio(choices=["凸组合", "线性组合"], label="融合模式", value="凸组合", interactive=True)
                        mix_submit = gr.Button("声线融合启动", variant="primary")
                        mix_model_output2 = gr.Textbox(label="Output Message")
                        mix_model_path.change(ui.updata_mix_info, [mix_model_path], [mix_model_output1])
                        mix_model_upload_button.upload(ui.upload_mix_append_file, [mix_model_upload_button, mix_model_path], [mix_model_path, mix_model_output1])
                        mix_submit.click(ui.mix_submit_click, [mix_model_output1, mix_mode], [mix_model_output2])
                    with gr.TabItem("模型压缩工具"):
                        gr.Markdown(value="该工具可以实现对模型的体积压缩，在**不影响模型推理功能**的情况下，将原本约600M的So-VITS模型压缩至约200M, 大大减少了硬盘的压力。**注意：压缩后的模型将无法继续训练，请在确认封炉后再压缩。**")
                        model_to_compress = gr.File(label="模型上传")
                        compress_model_btn = gr.Button("压缩模型", variant="primary")
                        compress_model_output = gr.Textbox(label="输出信息", value="")
                        compress_model_btn.click(ui.model_compression, [model_to_compress], [compress_model_output])

        with gr.Tabs():
            with gr.Row(variant="panel"), gr.Column():
                gr.Markdown(value="\n                    <font size=2> WebUI设置</font>\n                    ")
                debug_button = ui.debug_button = gr.Checkbox(label="Debug模式，如果向社区反馈BUG需要打开，打开后控制台可以显示具体错误提示", value=ui.debug)
            local_model_refresh_btn.click(ui.local_model_refresh_fn, outputs=local_model_selection)
            local_model_tab_upload.select(lambda: False, outputs=local_model_enabled)
            local_model_tab_local.select(lambda: True, outputs=local_model_enabled)
            settings = [output_format, vc_transform, auto_f0, cluster_ratio, slice_db, noise_scale, pad_seconds, cl_num, lg_num, lgr_num, f0_predictor, enhancer_adaptive_key, cr_threshold, k_step, use_spk_mix, second_encoding, loudness_envelope_adjustment]
            vc_submit.click(ui.vc_fn, [sid, vc_input3, *settings], [vc_output1, vc_output2])
            vc_submit2.click(ui.vc_fn2, [text2tts, tts_lang, tts_gender, tts_rate, tts_volume, sid, *settings], [vc_output1, vc_output2])
            debug_button.change(ui.debug_change, [], [])
            model_load_button.click(ui.modelAnalysis, [model_path, config_path, cluster_model_path, device, enhance, diff_model_path, diff_config_path, only_diffusion, use_spk_mix, local_model_enabled, local_model_selection], [sid, sid_output])
            model_unload_button.click(ui.modelUnload, [], [sid, sid_output])
    return app


def prepare_workdir(workdir: str | None, trained: str) -> tuple[Path, bool]:
    """The web UI's working directory (with `raw/`, `results/` and a `trained` link); True if temporary."""
    temporary = workdir is None
    folder = Path(tempfile.mkdtemp(prefix="gbatch-sovits-")) if workdir is None else Path(workdir).resolve()
    (folder / "raw").mkdir(parents=True, exist_ok=True)  # upstream ships an empty raw/
    (folder / "results").mkdir(exist_ok=True)
    link = folder / "trained"
    target = Path(trained).resolve()
    if not link.exists() and not link.is_symlink() and target != link:
        link.symlink_to(target, target_is_directory=True)
    return folder, temporary


def main(argv: list[str] | None = None) -> None:
    """`gbatch-sovits-demo`: serve the stand-in until interrupted."""
    parser = argparse.ArgumentParser(
        prog="gbatch-sovits-demo",
        description="Serve a stand-in of the So-VITS-SVC 4.1 webUI.py (same gradio 3 API, pitch-shifted audio, no model). It is NOT So-VITS-SVC; it needs gradio 3.x.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (upstream's default)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind; 0.0.0.0 exposes it to the network")
    parser.add_argument("--delay", type=float, default=0.5, help="simulated GPU seconds per conversion")
    parser.add_argument("--trained", default=LOCAL_MODEL_ROOT, help="folder of model folders (each with one *.pth and one config *.json), seen by the UI as ./trained")
    parser.add_argument("--workdir", default=None, help="the UI's working directory (raw/, results/); default: a new temporary folder, removed at exit")
    parser.add_argument("--record", default=os.environ.get("GBATCH_SOVITS_RECORD"), help="append every load/unload/convert call to this JSON-lines file (env GBATCH_SOVITS_RECORD)")
    args = parser.parse_args(argv)
    if args.delay < 0:
        parser.error("--delay must be 0 or more seconds")
    major = gradio_major()
    if major != 3:
        # webUI.py only runs on gradio 3, which cannot share a venv with gbatch's gradio_client 2:
        # hand over to a Python that has it.
        python = gradio3_python()
        if python is None or os.environ.get(REEXEC_ENV):
            found = "no gradio" if major is None else f"gradio {major}.x"
            parser.exit(
                2,
                f"gbatch-sovits-demo: So-VITS-SVC's web UI needs gradio 3.x, and this Python has {found}.\n"
                "Build a gradio 3 venv (scripts/setup.sh --tests makes .venvs/gradio3 from tests/envs/gradio-3.41.2.txt) "
                f"and run it there, or point {GRADIO3_PYTHON_ENV} at its python.\n",
            )
        os.environ[REEXEC_ENV] = "1"
        os.execv(str(python), [str(python), str(Path(__file__).resolve()), *(sys.argv[1:] if argv is None else argv)])
    workdir, temporary = prepare_workdir(args.workdir, args.trained)
    print(f"{TITLE}\nModels: {Path(args.trained).resolve()} (as {LOCAL_MODEL_ROOT}); working directory: {workdir}\nStarting on http://{args.host}:{args.port}", flush=True)
    try:
        build_demo(workdir, delay=args.delay, record=args.record).launch(server_name=args.host, server_port=args.port)  # like upstream: no queue, no show_error
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

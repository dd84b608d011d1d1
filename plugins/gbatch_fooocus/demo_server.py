"""A Fooocus web UI stand-in: the same gradio 3 API, drawn images, no model.

This is **not Fooocus**. It mirrors what a client of Fooocus 2.5.5's ``webui.py``
(github.com/lllyasviel/Fooocus, commit 59f183a) sees, closely enough that a batch
client cannot tell the difference at the API level:

* gradio 3.41.2, ``.queue()`` with one job at a time, and no ``api_name`` anywhere:
  every event is called by its fn_index;
* the Generate chain as ``generate_button.click(...).then(...)`` registers it: a lambda
  that swaps the buttons, ``refresh_seed``, ``get_task`` (the session's ``gr.State`` and
  the 152 controls of ``ctrls``, in upstream's order, with upstream's component types,
  labels, defaults, choices and ranges), ``generate_clicked`` (a generator yielding four
  ``gr.update`` dicts: progress HTML, preview, finished images, gallery), then the
  lambdas that restore the buttons and refresh the history link;
* Stop and Skip at fn_index 0 and 1 (``queue=False``), and other events before the
  chain, so get_task and generate_clicked sit at indices a client has to discover
  (``--extra-events N`` adds N more in front of the chain to move them);
* ``--disable-image-log`` and ``--disable-metadata`` drop the controls upstream drops
  with those flags (get_task then takes 150 values);
* upstream's worker: a thread that takes queued tasks one by one and reports progress
  as HTML with a percentage; it **swallows its exceptions** (prints the traceback on the
  console) and finishes with whatever images it has, so a failure reaches the client
  as an empty gallery, never as an error. Like upstream, the aspect ratio is parsed by
  replacing ``×`` with a space and taking the first two fields (``1152*896`` fails), a
  base model that is not among the checkpoints fails, and the seed increments per image
  unless "Disable seed increment" is set.

Instead of a diffusion model each image is drawn from the prompt and its seed (the same
prompt and seed give the same picture), at a quarter of the requested width and height,
in the requested output format.

``--record FILE`` appends every call the server receives (fn_index, session hash and
the raw values, with ``null`` where the page sends a ``gr.State``) to FILE as a JSON
line, so tests can check the wire. Run it with ``gbatch-fooocus-demo --port 7865`` or as
a script under gradio 3.41.2 (it needs gradio and Pillow, never gbatch).
"""

from __future__ import annotations

import os

# The stand-in must never phone home: set these before gradio is imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

TITLE = "gbatch Fooocus stand-in — NOT Fooocus: drawn images for demos and tests"
VERSION = "2.5.5"
MIN_SEED, MAX_SEED = 0, 2**63 - 1  # modules/constants.py
DEFAULT_CHECKPOINTS = ("juggernautXL_v8Rundiffusion.safetensors", "realisticStockPhoto_v20.safetensors")
DEFAULT_BASE_MODEL = "juggernautXL_v8Rundiffusion.safetensors"  # presets/default.json
LORAS = ("sd_xl_offset_example-lora_1.0.safetensors", "sdxl_film_photography_style.safetensors", "SDXL_FILM_PHOTOGRAPHY_STYLE_V1.safetensors")
DEFAULT_LORAS = ((True, "sd_xl_offset_example-lora_1.0.safetensors", 0.1), *((True, "None", 1.0),) * 4)
PERFORMANCES = ("Quality", "Speed", "Extreme Speed", "Lightning", "Hyper-SD")
OUTPUT_FORMATS = ("png", "jpeg", "webp")
SAMPLERS = (
    "euler", "euler_ancestral", "heun", "heunpp2", "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive",
    "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu", "dpmpp_3m_sde",
    "dpmpp_3m_sde_gpu", "ddpm", "lcm", "tcd", "restart", "ddim", "uni_pc", "uni_pc_bh2",
)  # fmt: skip
SCHEDULERS = (
    "normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "lcm", "turbo", "align_your_steps", "tcd",
    "edm_playground_v2.5",
)  # fmt: skip
SDXL_ASPECT_RATIOS = (
    "704*1408", "704*1344", "768*1344", "768*1280", "832*1216", "832*1152", "896*1152", "896*1088", "960*1088",
    "960*1024", "1024*1024", "1024*960", "1088*960", "1088*896", "1152*896", "1152*832", "1216*832", "1280*768",
    "1344*768", "1344*704", "1408*704", "1472*704", "1536*640", "1600*640", "1664*576", "1728*576",
)  # fmt: skip
UOV_LIST = ("Disabled", "Vary (Subtle)", "Vary (Strong)", "Upscale (1.5x)", "Upscale (2x)", "Upscale (Fast 2x)")
IP_LIST = ("ImagePrompt", "PyraCanny", "CPDS", "FaceSwap")
INPAINT_ENGINES = ("None", "v1", "v2.5", "v2.6")
MASK_MODELS = ("u2net", "u2netp", "u2net_human_seg", "u2net_cloth_seg", "silueta", "isnet-general-use", "isnet-anime", "sam")
METADATA_SCHEMES = (("fooocus (json)", "fooocus"), ("a1111 (plain text)", "a1111"))
DEFAULT_STYLES = ("Fooocus V2", "Fooocus Enhance", "Fooocus Sharp")
# The Styles tab's 279 choices in the page's order (sdxl_styles/*.json; the defaults first).
STYLES = (
    "Fooocus V2", "Fooocus Enhance", "Fooocus Sharp", "Random Style", "Fooocus Semi Realistic", "Fooocus Masterpiece",
    "Fooocus Photograph", "Fooocus Negative", "Fooocus Cinematic", "Fooocus Pony", "SAI 3D Model", "SAI Analog Film",
    "SAI Anime", "SAI Cinematic", "SAI Comic Book", "SAI Craft Clay", "SAI Digital Art", "SAI Enhance",
    "SAI Fantasy Art", "SAI Isometric", "SAI Line Art", "SAI Lowpoly", "SAI Neonpunk", "SAI Origami",
    "SAI Photographic", "SAI Pixel Art", "SAI Texture", "MRE Cinematic Dynamic", "MRE Spontaneous Picture",
    "MRE Artistic Vision", "MRE Dark Dream", "MRE Gloomy Art", "MRE Bad Dream", "MRE Underground",
    "MRE Surreal Painting", "MRE Dynamic Illustration", "MRE Undead Art", "MRE Elemental Art", "MRE Space Art",
    "MRE Ancient Illustration", "MRE Brave Art", "MRE Heroic Fantasy", "MRE Dark Cyberpunk", "MRE Lyrical Geometry",
    "MRE Sumi E Symbolic", "MRE Sumi E Detailed", "MRE Manga", "MRE Anime", "MRE Comic", "Ads Advertising",
    "Ads Automotive", "Ads Corporate", "Ads Fashion Editorial", "Ads Food Photography", "Ads Gourmet Food Photography",
    "Ads Luxury", "Ads Real Estate", "Ads Retail", "Artstyle Abstract", "Artstyle Abstract Expressionism",
    "Artstyle Art Deco", "Artstyle Art Nouveau", "Artstyle Constructivist", "Artstyle Cubist", "Artstyle Expressionist",
    "Artstyle Graffiti", "Artstyle Hyperrealism", "Artstyle Impressionist", "Artstyle Pointillism", "Artstyle Pop Art",
    "Artstyle Psychedelic", "Artstyle Renaissance", "Artstyle Steampunk", "Artstyle Surrealist", "Artstyle Typography",
    "Artstyle Watercolor", "Futuristic Biomechanical", "Futuristic Biomechanical Cyberpunk", "Futuristic Cybernetic",
    "Futuristic Cybernetic Robot", "Futuristic Cyberpunk Cityscape", "Futuristic Futuristic",
    "Futuristic Retro Cyberpunk", "Futuristic Retro Futurism", "Futuristic Sci Fi", "Futuristic Vaporwave",
    "Game Bubble Bobble", "Game Cyberpunk Game", "Game Fighting Game", "Game Gta", "Game Mario", "Game Minecraft",
    "Game Pokemon", "Game Retro Arcade", "Game Retro Game", "Game Rpg Fantasy Game", "Game Strategy Game",
    "Game Streetfighter", "Game Zelda", "Misc Architectural", "Misc Disco", "Misc Dreamscape", "Misc Dystopian",
    "Misc Fairy Tale", "Misc Gothic", "Misc Grunge", "Misc Horror", "Misc Kawaii", "Misc Lovecraftian", "Misc Macabre",
    "Misc Manga", "Misc Metropolis", "Misc Minimalist", "Misc Monochrome", "Misc Nautical", "Misc Space",
    "Misc Stained Glass", "Misc Techwear Fashion", "Misc Tribal", "Misc Zentangle", "Papercraft Collage",
    "Papercraft Flat Papercut", "Papercraft Kirigami", "Papercraft Paper Mache", "Papercraft Paper Quilling",
    "Papercraft Papercut Collage", "Papercraft Papercut Shadow Box", "Papercraft Stacked Papercut",
    "Papercraft Thick Layered Papercut", "Photo Alien", "Photo Film Noir", "Photo Glamour", "Photo Hdr",
    "Photo Iphone Photographic", "Photo Long Exposure", "Photo Neon Noir", "Photo Silhouette", "Photo Tilt Shift",
    "Cinematic Diva", "Abstract Expressionism", "Academia", "Action Figure", "Adorable 3D Character", "Adorable Kawaii",
    "Art Deco", "Art Nouveau", "Astral Aura", "Avant Garde", "Baroque", "Bauhaus Style Poster",
    "Blueprint Schematic Drawing", "Caricature", "Cel Shaded Art", "Character Design Sheet", "Classicism Art",
    "Color Field Painting", "Colored Pencil Art", "Conceptual Art", "Constructivism", "Cubism", "Dadaism",
    "Dark Fantasy", "Dark Moody Atmosphere", "Dmt Art Style", "Doodle Art", "Double Exposure",
    "Dripping Paint Splatter Art", "Expressionism", "Faded Polaroid Photo", "Fauvism", "Flat 2d Art",
    "Fortnite Art Style", "Futurism", "Glitchcore", "Glo Fi", "Googie Art Style", "Graffiti Art",
    "Harlem Renaissance Art", "High Fashion", "Idyllic", "Impressionism", "Infographic Drawing", "Ink Dripping Drawing",
    "Japanese Ink Drawing", "Knolling Photography", "Light Cheery Atmosphere", "Logo Design", "Luxurious Elegance",
    "Macro Photography", "Mandola Art", "Marker Drawing", "Medievalism", "Minimalism", "Neo Baroque", "Neo Byzantine",
    "Neo Futurism", "Neo Impressionism", "Neo Rococo", "Neoclassicism", "Op Art", "Ornate And Intricate",
    "Pencil Sketch Drawing", "Pop Art 2", "Rococo", "Silhouette Art", "Simple Vector Art", "Sketchup", "Steampunk 2",
    "Surrealism", "Suprematism", "Terragen", "Tranquil Relaxing Atmosphere", "Sticker Designs", "Vibrant Rim Light",
    "Volumetric Lighting", "Watercolor 2", "Whimsical And Playful", "Mk Chromolithography", "Mk Cross Processing Print",
    "Mk Dufaycolor Photograph", "Mk Herbarium", "Mk Punk Collage", "Mk Mosaic", "Mk Van Gogh", "Mk Coloring Book",
    "Mk Singer Sargent", "Mk Pollock", "Mk Basquiat", "Mk Andy Warhol", "Mk Halftone Print", "Mk Gond Painting",
    "Mk Albumen Print", "Mk Aquatint Print", "Mk Anthotype Print", "Mk Inuit Carving", "Mk Bromoil Print",
    "Mk Calotype Print", "Mk Color Sketchnote", "Mk Cibulak Porcelain", "Mk Alcohol Ink Art", "Mk One Line Art",
    "Mk Blacklight Paint", "Mk Carnival Glass", "Mk Cyanotype Print", "Mk Cross Stitching", "Mk Encaustic Paint",
    "Mk Embroidery", "Mk Gyotaku", "Mk Luminogram", "Mk Lite Brite Art", "Mk Mokume Gane", "Pebble Art", "Mk Palekh",
    "Mk Suminagashi", "Mk Scrimshaw", "Mk Shibori", "Mk Vitreous Enamel", "Mk Ukiyo E", "Mk Vintage Airline Poster",
    "Mk Vintage Travel Poster", "Mk Bauhaus Style", "Mk Afrofuturism", "Mk Atompunk", "Mk Constructivism",
    "Mk Chicano Art", "Mk De Stijl", "Mk Dayak Art", "Mk Fayum Portrait", "Mk Illuminated Manuscript",
    "Mk Kalighat Painting", "Mk Madhubani Painting", "Mk Pictorialism", "Mk Pichwai Painting", "Mk Patachitra Painting",
    "Mk Samoan Art Inspired", "Mk Tlingit Art", "Mk Adnate Style", "Mk Ron English Style", "Mk Shepard Fairey Style",
)


def add_ratio(x: str) -> str:
    """Upstream's label for an aspect ratio (modules/config.py): `1152*896` -> `1152×896 <span …> ∣ 9:7</span>`."""
    a, b = (int(part) for part in x.replace("*", " ").split(" ")[:2])
    g = math.gcd(a, b)
    return f'{a}×{b} <span style="color: grey;"> \U00002223 {a // g}:{b // g}</span>'


ASPECT_RATIOS = tuple(add_ratio(x) for x in SDXL_ASPECT_RATIOS)
DEFAULT_ASPECT_RATIO = add_ratio("1152*896")


@dataclass(frozen=True)
class Control:
    """One input of get_task (an entry of upstream's `ctrls`), as the page shows it.

    :param name: the AsyncTask attribute it becomes (modules/async_worker.py).
    :param kind: checkbox, textbox, checkboxgroup, radio, slider, dropdown, image or sketch
        (an Image with tool="sketch").
    :param label: upstream's label; None for the unlabelled prompt and current_tab.
    :param flag: the upstream command-line flag that removes it ("image_log", "metadata").
    """

    name: str
    kind: str
    label: str | None
    value: Any = None
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    props: dict[str, Any] = field(default_factory=dict)
    flag: str | None = None


def _checkbox(name: str, label: str, value: bool = False, **props: Any) -> Control:
    return Control(name, "checkbox", label, value, props=props)


def _slider(name: str, label: str, value: float, minimum: float, maximum: float, step: float, **props: Any) -> Control:
    return Control(name, "slider", label, value, minimum=minimum, maximum=maximum, step=step, props=props)


def _lora_controls() -> list[Control]:
    found = []
    for i, (enabled, filename, weight) in enumerate(DEFAULT_LORAS):
        found += [
            _checkbox(f"lora_{i + 1}_enabled", "Enable", enabled),
            Control(f"lora_{i + 1}_model", "dropdown", f"LoRA {i + 1}", filename, ("None", *LORAS)),
            _slider(f"lora_{i + 1}_weight", "Weight", weight, -2, 2, 0.01),
        ]
    return found


def _image_prompt_controls() -> list[Control]:
    found = []
    for i in range(1, 5):
        found += [
            Control(f"cn_{i}_image", "image", "Image", props={"show_label": False}),
            _slider(f"cn_{i}_stop", "Stop At", 0.5, 0.0, 1.0, 0.001),
            _slider(f"cn_{i}_weight", "Weight", 0.6, 0.0, 2.0, 0.001),
            Control(f"cn_{i}_type", "radio", "Type", "ImagePrompt", IP_LIST, props={"container": False}),
        ]
    return found


def _enhance_controls() -> list[Control]:
    found = []
    for i in range(1, 4):
        found += [
            _checkbox(f"enhance_{i}_enabled", "Enable", False),
            Control(f"enhance_{i}_mask_dino_prompt_text", "textbox", "Detection prompt", ""),
            Control(f"enhance_{i}_prompt", "textbox", "Enhancement positive prompt", ""),
            Control(f"enhance_{i}_negative_prompt", "textbox", "Enhancement negative prompt", ""),
            Control(f"enhance_{i}_mask_model", "dropdown", "Mask generation model", "sam", MASK_MODELS),
            Control(f"enhance_{i}_mask_cloth_category", "dropdown", "Cloth category", "full", ("full", "upper", "lower"), props={"visible": False}),
            Control(f"enhance_{i}_mask_sam_model", "dropdown", "SAM model", "vit_b", ("vit_b", "vit_l", "vit_h")),
            _slider(f"enhance_{i}_mask_text_threshold", "Text Threshold", 0.25, 0.0, 1.0, 0.05),
            _slider(f"enhance_{i}_mask_box_threshold", "Box Threshold", 0.3, 0.0, 1.0, 0.05),
            _slider(f"enhance_{i}_mask_sam_max_detections", "Maximum number of detections", 0, 0, 10, 1),
            _checkbox(f"enhance_{i}_inpaint_disable_initial_latent", "Disable initial latent in inpaint", False),
            Control(f"enhance_{i}_inpaint_engine", "dropdown", "Inpaint Engine", "v2.6", INPAINT_ENGINES),
            _slider(f"enhance_{i}_inpaint_strength", "Inpaint Denoising Strength", 1.0, 0.0, 1.0, 0.001),
            _slider(f"enhance_{i}_inpaint_respective_field", "Inpaint Respective Field", 0.618, 0.0, 1.0, 0.001),
            _slider(f"enhance_{i}_inpaint_erode_or_dilate", "Mask Erode or Dilate", 0, -64, 64, 1),
            _checkbox(f"enhance_{i}_mask_invert", "Invert Mask", False),
        ]
    return found


def controls(checkpoints: tuple[str, ...] = DEFAULT_CHECKPOINTS) -> list[Control]:
    """All 152 inputs of get_task after the State, in upstream's `ctrls` order (default flags)."""
    return [
        _checkbox("generate_image_grid", "Generate Image Grid for Each Batch", False),
        Control("prompt", "textbox", None, "", props={"show_label": False, "placeholder": "Type prompt here or paste parameters.", "elem_id": "positive_prompt", "lines": 3}),
        Control("negative_prompt", "textbox", "Negative Prompt", "", props={"placeholder": "Type prompt here.", "info": "Describing what you do not want to see.", "lines": 2}),
        Control("style_selections", "checkboxgroup", "Selected Styles", list(DEFAULT_STYLES), STYLES, props={"show_label": False, "container": False}),
        Control("performance_selection", "radio", "Performance", "Speed", PERFORMANCES),
        Control("aspect_ratios_selection", "radio", "Aspect Ratios", DEFAULT_ASPECT_RATIO, ASPECT_RATIOS, props={"show_label": False, "info": "width × height"}),
        _slider("image_number", "Image Number", 2, 1, 32, 1),
        Control("output_format", "radio", "Output Format", "png", OUTPUT_FORMATS),
        # value=0: gradio 3 keeps a Textbox's value as the string "0"; hidden while "Random" is ticked
        Control("seed", "textbox", "Seed", 0, props={"max_lines": 1, "visible": False}),
        _checkbox("read_wildcards_in_order", "Read wildcards in order", False),
        _slider("sharpness", "Image Sharpness", 2.0, 0.0, 30.0, 0.001),
        _slider("cfg_scale", "Guidance Scale", 4.0, 1.0, 30.0, 0.01),
        Control("base_model_name", "dropdown", "Base Model (SDXL only)", DEFAULT_BASE_MODEL, checkpoints),
        Control("refiner_model_name", "dropdown", "Refiner (SDXL or SD 1.5)", "None", ("None", *checkpoints)),
        _slider("refiner_switch", "Refiner Switch At", 0.5, 0.1, 1.0, 0.0001, visible=False),
        *_lora_controls(),
        _checkbox("input_image_checkbox", "Input Image", False),
        Control("current_tab", "textbox", None, "uov", props={"visible": False}),
        Control("uov_method", "radio", "Upscale or Variation:", "Disabled", UOV_LIST),
        Control("uov_input_image", "image", "Image", props={"show_label": False}),
        Control("outpaint_selections", "checkboxgroup", "Outpaint Direction", [], ("Left", "Right", "Top", "Bottom")),
        Control("inpaint_input_image", "sketch", "Image", props={"show_label": False}),
        Control("inpaint_additional_prompt", "textbox", "Inpaint Additional Prompt", "", props={"visible": False}),
        Control("inpaint_mask_image_upload", "sketch", "Mask Upload"),
        _checkbox("disable_preview", "Disable Preview", False),
        _checkbox("disable_intermediate_results", "Disable Intermediate Results", False),
        _checkbox("disable_seed_increment", "Disable seed increment", False),
        _checkbox("black_out_nsfw", "Black Out NSFW", False),
        _slider("adm_scaler_positive", "Positive ADM Guidance Scaler", 1.5, 0.1, 3.0, 0.001),
        _slider("adm_scaler_negative", "Negative ADM Guidance Scaler", 0.8, 0.1, 3.0, 0.001),
        _slider("adm_scaler_end", "ADM Guidance End At Step", 0.3, 0.0, 1.0, 0.001),
        _slider("adaptive_cfg", "CFG Mimicking from TSNR", 7.0, 1.0, 30.0, 0.01),
        _slider("clip_skip", "CLIP Skip", 2, 1, 12, 1),
        Control("sampler_name", "dropdown", "Sampler", "dpmpp_2m_sde_gpu", SAMPLERS),
        Control("scheduler_name", "dropdown", "Scheduler", "karras", SCHEDULERS),
        Control("vae_name", "dropdown", "VAE", "Default (model)", ("Default (model)",)),
        _slider("overwrite_step", "Forced Overwrite of Sampling Step", -1, -1, 200, 1),
        _slider("overwrite_switch", "Forced Overwrite of Refiner Switch Step", -1, -1, 200, 1),
        _slider("overwrite_width", "Forced Overwrite of Generating Width", -1, -1, 2048, 1),
        _slider("overwrite_height", "Forced Overwrite of Generating Height", -1, -1, 2048, 1),
        _slider("overwrite_vary_strength", 'Forced Overwrite of Denoising Strength of "Vary"', -1, -1, 1.0, 0.001),
        _slider("overwrite_upscale_strength", 'Forced Overwrite of Denoising Strength of "Upscale"', -1, -1, 1.0, 0.001),
        _checkbox("mixing_image_prompt_and_vary_upscale", "Mixing Image Prompt and Vary/Upscale", False),
        _checkbox("mixing_image_prompt_and_inpaint", "Mixing Image Prompt and Inpaint", False),
        _checkbox("debugging_cn_preprocessor", "Debug Preprocessors", False),
        _checkbox("skipping_cn_preprocessor", "Skip Preprocessors", False),
        _slider("canny_low_threshold", "Canny Low Threshold", 64, 1, 255, 1),
        _slider("canny_high_threshold", "Canny High Threshold", 128, 1, 255, 1),
        Control("refiner_swap_method", "dropdown", "Refiner swap method", "joint", ("joint", "separate", "vae")),
        _slider("controlnet_softness", "Softness of ControlNet", 0.25, 0.0, 1.0, 0.001),
        _checkbox("freeu_enabled", "Enabled", False),
        _slider("freeu_b1", "B1", 1.01, 0, 2, 0.01),
        _slider("freeu_b2", "B2", 1.02, 0, 2, 0.01),
        _slider("freeu_s1", "S1", 0.99, 0, 4, 0.01),
        _slider("freeu_s2", "S2", 0.95, 0, 4, 0.01),
        _checkbox("debugging_inpaint_preprocessor", "Debug Inpaint Preprocessing", False),
        _checkbox("inpaint_disable_initial_latent", "Disable initial latent in inpaint", False),
        Control("inpaint_engine", "dropdown", "Inpaint Engine", "v2.6", INPAINT_ENGINES),
        _slider("inpaint_strength", "Inpaint Denoising Strength", 1.0, 0.0, 1.0, 0.001),
        _slider("inpaint_respective_field", "Inpaint Respective Field", 0.618, 0.0, 1.0, 0.001),
        _checkbox("inpaint_advanced_masking_checkbox", "Enable Advanced Masking Features", False),
        _checkbox("invert_mask_checkbox", "Invert Mask When Generating", False),
        _slider("inpaint_erode_or_dilate", "Mask Erode or Dilate", 0, -64, 64, 1),
        Control("save_final_enhanced_image_only", "checkbox", "Save only final enhanced image", False, flag="image_log"),
        Control("save_metadata_to_images", "checkbox", "Save Metadata to Images", False, flag="metadata"),
        Control("metadata_scheme", "radio", "Metadata Scheme", "fooocus", METADATA_SCHEMES, props={"visible": False}, flag="metadata"),
        *_image_prompt_controls(),
        _checkbox("debugging_dino", "Debug GroundingDINO", False),
        _slider("dino_erode_or_dilate", "GroundingDINO Box Erode or Dilate", 0, -64, 64, 1),
        _checkbox("debugging_enhance_masks_checkbox", "Debug Enhance Masks", False),
        Control("enhance_input_image", "image", "Use with Enhance, skips image generation"),
        _checkbox("enhance_checkbox", "Enhance", False, container=False),
        Control("enhance_uov_method", "radio", "Upscale or Variation:", "Disabled", UOV_LIST),
        Control("enhance_uov_processing_order", "radio", "Order of Processing", "Before First Enhancement", ("Before First Enhancement", "After Last Enhancement")),
        Control("enhance_uov_prompt_type", "radio", "Prompt", "Original Prompts", ("Original Prompts", "Last Filled Enhancement Prompts"), props={"visible": False}),
        *_enhance_controls(),
    ]


def active_controls(checkpoints: tuple[str, ...] = DEFAULT_CHECKPOINTS, *, image_log: bool = True, metadata: bool = True) -> list[Control]:
    """The controls get_task takes with these upstream flags (`--disable-image-log` / `--disable-metadata` drop some)."""
    dropped = {flag for flag, on in (("image_log", image_log), ("metadata", metadata)) if not on}
    return [c for c in controls(checkpoints) if c.flag not in dropped]


# -- the worker (modules/async_worker.py, with drawing instead of diffusion) --------------------

PROGRESS_HTML = """
<div class="loader-container">
  <div class="loader"></div>
  <div class="progress-container">
    <progress value="*number*" max="100"></progress>
  </div>
  <span>*text*</span>
</div>
"""


def make_progress_html(number: int, text: str) -> str:
    """modules/html.py: the progress bar the page shows while a task runs."""
    return PROGRESS_HTML.replace("*number*", str(number)).replace("*text*", text)


class AsyncTask:
    """What get_task stores in the session's gr.State: the controls' values, and the worker's yields."""

    def __init__(self, args: list[Any], names: list[str] | None = None) -> None:
        self.args = list(args)
        self.yields: list[tuple[str, Any]] = []
        self.results: list[str] = []
        self.last_stop: str | bool = False
        self.processing = False
        self.values: dict[str, Any] = {}
        if not args:
            return
        self.values = dict(zip(names or [], args, strict=True))
        # Like upstream's AsyncTask.__init__: the seed textbox's string goes through int() here.
        self.seed = int(self.values["seed"])


class Worker:
    """One thread taking tasks one at a time, as upstream's `worker()`; it never lets an exception out."""

    def __init__(self, checkpoints: tuple[str, ...], delay: float, out_dir: Path) -> None:
        self.checkpoints = checkpoints
        self.delay = delay
        self.out_dir = out_dir
        self.tasks: list[AsyncTask] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._loop, name="fooocus-worker", daemon=True).start()

    def submit(self, task: AsyncTask) -> None:
        with self._lock:
            self.tasks.append(task)

    def _loop(self) -> None:
        while True:
            time.sleep(0.01)
            with self._lock:
                task = self.tasks.pop(0) if self.tasks else None
            if task is None:
                continue
            try:
                self.handler(task)
                task.yields.append(("finish", task.results))
            except Exception:
                # Upstream: `except: traceback.print_exc(); task.yields.append(['finish', task.results])`
                traceback.print_exc()
                task.yields.append(("finish", task.results))

    @staticmethod
    def progressbar(task: AsyncTask, number: int, text: str) -> None:
        print(f"[Fooocus] {text}", flush=True)
        task.yields.append(("preview", (number, text, None)))

    def handler(self, task: AsyncTask) -> None:
        values = task.values
        task.processing = True
        try:
            self.progressbar(task, 1, "Loading models ...")
            base_model = values["base_model_name"]
            if base_model not in self.checkpoints:
                raise FileNotFoundError(f"Base model not found: models/checkpoints/{base_model}")
            refiner = values["refiner_model_name"]
            if refiner != "None" and refiner not in self.checkpoints:
                raise FileNotFoundError(f"Refiner model not found: models/checkpoints/{refiner}")
            self.progressbar(task, 3, "Processing prompts ...")
            # Upstream (async_worker.py): width, height = aspect_ratios_selection.replace('×', ' ').split(' ')[:2]
            width_text, height_text = values["aspect_ratios_selection"].replace("×", " ").split(" ")[:2]
            width, height = int(width_text), int(height_text)
            count = int(values["image_number"])
            steps = 5
            for i in range(count):
                seed = task.seed if values["disable_seed_increment"] else (task.seed + i) % (MAX_SEED + 1)
                for step in range(steps):
                    if task.last_stop:
                        return
                    time.sleep(self.delay / steps)
                    done = i * steps + step + 1
                    percent = int(15.0 + 85.0 * done / (count * steps))
                    self.progressbar(task, percent, f"Sampling step {step + 1}/{steps}, image {i + 1}/{count} ...")
                path = self._draw(values, seed, width, height, i)
                task.results = [*task.results, path]
                task.yields.append(("results", task.results))
        finally:
            task.processing = False

    def _draw(self, values: dict[str, Any], seed: int, width: int, height: int, index: int) -> str:
        from PIL import Image, ImageDraw

        prompt = str(values["prompt"])
        rng = random.Random(f"{prompt}\n{seed}")
        w, h = max(8, width // 4), max(8, height // 4)
        image = Image.new("RGB", (w, h), tuple(rng.randrange(40, 216) for _ in range(3)))
        draw = ImageDraw.Draw(image)
        for _ in range(12):
            x0, y0 = rng.randrange(w), rng.randrange(h)
            x1, y1 = x0 + rng.randrange(4, max(5, w // 3)), y0 + rng.randrange(4, max(5, h // 3))
            colour = tuple(rng.randrange(256) for _ in range(3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
        draw.text((4, 4), f"{prompt[:40]}\nseed {seed}", fill=(255, 255, 255))
        fmt = values["output_format"] if values["output_format"] in OUTPUT_FORMATS else "png"
        day = time.strftime("%Y-%m-%d")
        folder = self.out_dir / day
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(f"{prompt}\n{seed}\n{time.time_ns()}".encode()).hexdigest()[:8]
        path = folder / f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{index}_{digest}.{fmt}"
        image.save(path, format="JPEG" if fmt == "jpeg" else fmt.upper())
        return str(path)


# -- the page --------------------------------------------------------------------------------


class Recorder:
    """Appends every call the server receives (fn_index, session hash, raw data) to a JSON-lines file."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self._lock = threading.Lock()

    def add(self, fn_index: int, name: str, session_hash: str | None, data: Any) -> None:
        if self.path is None:
            return
        line = json.dumps({"fn_index": fn_index, "fn": name, "session_hash": session_hash, "data": data}, ensure_ascii=False, default=repr)
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def _component(gr: Any, control: Control) -> Any:
    props = dict(control.props)
    if control.label is not None:
        props["label"] = control.label
    if control.kind == "checkbox":
        return gr.Checkbox(value=control.value, **props)
    if control.kind == "textbox":
        return gr.Textbox(value=control.value, **props)
    if control.kind == "checkboxgroup":
        return gr.CheckboxGroup(choices=list(control.choices or ()), value=control.value, **props)
    if control.kind == "radio":
        return gr.Radio(choices=list(control.choices or ()), value=control.value, **props)
    if control.kind == "dropdown":
        return gr.Dropdown(choices=list(control.choices or ()), value=control.value, **props)
    if control.kind == "slider":
        return gr.Slider(minimum=control.minimum, maximum=control.maximum, step=control.step, value=control.value, **props)
    if control.kind == "image":
        return gr.Image(source="upload", type="numpy", **props)
    if control.kind == "sketch":
        return gr.Image(source="upload", type="numpy", tool="sketch", **props)
    raise ValueError(f"unknown control kind {control.kind!r}")


def build_demo(
    *,
    delay: float = 1.0,
    checkpoints: tuple[str, ...] = DEFAULT_CHECKPOINTS,
    extra_events: int = 0,
    image_log: bool = True,
    metadata: bool = True,
    record: str | None = None,
) -> Any:
    """The stand-in's gr.Blocks (gradio 3.41.2), queued one job at a time like upstream's `.queue()`."""
    import gradio as gr

    table = active_controls(checkpoints, image_log=image_log, metadata=metadata)
    names = [c.name for c in table]
    worker = Worker(checkpoints, delay, Path(tempfile.mkdtemp(prefix="gbatch-fooocus-outputs-")))
    recorder = Recorder(record)

    def get_task(*args: Any) -> AsyncTask:
        values = list(args)
        values.pop(0)  # the State
        return AsyncTask(values, names)

    def generate_clicked(task: AsyncTask) -> Iterator[tuple[Any, Any, Any, Any]]:
        # outputs=[progress_html, progress_window, progress_gallery, gallery]
        if len(task.args) == 0:
            return
        started = time.perf_counter()
        finished = False
        yield (
            gr.update(visible=True, value=make_progress_html(1, "Waiting for task to start ...")),
            gr.update(visible=True, value=None),
            gr.update(visible=False, value=None),
            gr.update(visible=False),
        )
        worker.submit(task)
        while not finished:
            time.sleep(0.01)
            if len(task.yields) > 0:
                flag, product = task.yields.pop(0)
                if flag == "preview":
                    if len(task.yields) > 0 and task.yields[0][0] == "preview":
                        continue  # upstream skips a preview when the next one is already there
                    percentage, title, image = product
                    yield (
                        gr.update(visible=True, value=make_progress_html(percentage, title)),
                        gr.update(visible=True, value=image) if image is not None else gr.update(),
                        gr.update(),
                        gr.update(visible=False),
                    )
                if flag == "results":
                    yield gr.update(visible=True), gr.update(visible=True), gr.update(visible=True, value=product), gr.update(visible=False)
                if flag == "finish":
                    yield gr.update(visible=False), gr.update(visible=False), gr.update(visible=False), gr.update(visible=True, value=product)
                    finished = True
        print(f"Total time: {time.perf_counter() - started:.2f} seconds", flush=True)

    def refresh_seed(r: bool, seed_string: Any) -> int:
        if r:
            return random.randint(MIN_SEED, MAX_SEED)
        try:
            seed_value = int(seed_string)
            if MIN_SEED <= seed_value <= MAX_SEED:
                return seed_value
        except ValueError:
            pass
        return random.randint(MIN_SEED, MAX_SEED)

    def stop_clicked(task: AsyncTask) -> AsyncTask:
        task.last_stop = "stop"
        return task

    def skip_clicked(task: AsyncTask) -> AsyncTask:
        task.last_stop = "skip"
        return task

    def update_history_link() -> Any:
        return gr.update(value="" if not image_log else '<a href="file=log.html" target="_blank">\U0001f4da History Log</a>')

    def search_styles(selected: list[str], query: str) -> Any:
        matched = [s for s in STYLES if query.lower() in s.lower() and s not in selected]
        return gr.update(choices=selected + matched)

    with gr.Blocks(title=TITLE) as demo:
        current_task = gr.State(AsyncTask([]))
        gr.Markdown(f"## {TITLE}\nThe API of Fooocus {VERSION} (`webui.py`), served by gradio {gr.__version__}; no model.")
        progress_window = gr.Image(label="Preview", show_label=True, visible=False)
        progress_gallery = gr.Gallery(label="Finished Images", show_label=True, visible=False)
        progress_html = gr.HTML(value=make_progress_html(32, "Progress 32%"), visible=False, elem_id="progress-bar")
        gallery = gr.Gallery(label="Gallery", show_label=False, visible=True, elem_id="final_gallery")
        generate_button = gr.Button(value="Generate", elem_id="generate_button", visible=True)
        reset_button = gr.Button(value="Reconnect", elem_id="reset_button", visible=False)
        skip_button = gr.Button(value="Skip", elem_id="skip_button", visible=False)
        stop_button = gr.Button(value="Stop", elem_id="stop_button", visible=False)
        stop_button.click(stop_clicked, inputs=current_task, outputs=current_task, queue=False, show_progress=False)
        skip_button.click(skip_clicked, inputs=current_task, outputs=current_task, queue=False, show_progress=False)

        components: dict[str, Any] = {}
        with gr.Tabs():
            with gr.Tab("Settings"):
                seed_random = gr.Checkbox(label="Random", value=True)
                style_search_bar = gr.Textbox(show_label=False, container=False, placeholder="\U0001f50e Type here to search styles ...", value="", label="Search Styles")
                for control in table:
                    components[control.name] = _component(gr, control)
            with gr.Tab("Log"):
                history_link = gr.HTML()
                extras = [gr.Textbox(label=f"Extra {i + 1}", visible=False) for i in range(extra_events)]
        state_is_generating = gr.State(False)

        # Some of upstream's events that come before the Generate chain (upstream has ~60).
        seed_random.change(lambda r: gr.update(visible=not r), inputs=seed_random, outputs=components["seed"], queue=False, show_progress=False)
        components["refiner_model_name"].change(lambda x: gr.update(visible=x != "None"), inputs=components["refiner_model_name"], outputs=components["refiner_switch"], queue=False, show_progress=False)
        components["input_image_checkbox"].change(lambda x: None, inputs=components["input_image_checkbox"], queue=False, show_progress=False)
        style_search_bar.change(search_styles, inputs=[components["style_selections"], style_search_bar], outputs=components["style_selections"], queue=False, show_progress=False)
        if metadata:
            components["save_metadata_to_images"].change(lambda x: gr.update(visible=x), inputs=components["save_metadata_to_images"], outputs=components["metadata_scheme"], queue=False, show_progress=False)
        demo.load(update_history_link, outputs=history_link, queue=False, show_progress=False)
        for extra in extras:
            extra.change(lambda x: x, inputs=extra, outputs=extra, queue=False, show_progress=False)

        ctrls = [current_task, *(components[name] for name in names)]
        generate_button.click(
            lambda: (gr.update(visible=True, interactive=True), gr.update(visible=True, interactive=True), gr.update(visible=False, interactive=False), [], True),
            outputs=[stop_button, skip_button, generate_button, gallery, state_is_generating],
        ).then(fn=refresh_seed, inputs=[seed_random, components["seed"]], outputs=components["seed"]).then(
            fn=get_task, inputs=ctrls, outputs=current_task
        ).then(fn=generate_clicked, inputs=current_task, outputs=[progress_html, progress_window, progress_gallery, gallery]).then(
            lambda: (gr.update(visible=True, interactive=True), gr.update(visible=False, interactive=False), gr.update(visible=False, interactive=False), False),
            outputs=[generate_button, stop_button, skip_button, state_is_generating],
        ).then(fn=update_history_link, outputs=history_link).then(fn=lambda: None, _js="playNotification").then(fn=lambda: None, _js="refresh_grid_delayed")

        reset_button.click(
            lambda: [AsyncTask([]), False, gr.update(visible=True, interactive=True)] + [gr.update(visible=False)] * 6 + [gr.update(visible=True, value=[])],
            outputs=[current_task, state_is_generating, generate_button, reset_button, stop_button, skip_button, progress_html, progress_window, progress_gallery, gallery],
            queue=False,
        )

    _record_calls(demo, recorder)
    return demo.queue(concurrency_count=1)


def _record_calls(demo: Any, recorder: Recorder) -> None:
    """Wrap Blocks.process_api: it sees each call's raw data (null at gr.State) before preprocessing."""
    original = demo.process_api

    async def process_api(*args: Any, **kwargs: Any) -> Any:
        fn_index = kwargs.get("fn_index", args[0] if args else None)
        iterators = kwargs.get("iterators") or {}
        if isinstance(fn_index, int) and iterators.get(fn_index) is None:
            # The first call of an event; a generator's later steps come back with its iterator.
            name = getattr(demo.fns[fn_index].fn, "__name__", "?")
            recorder.add(fn_index, name, kwargs.get("session_hash"), kwargs.get("inputs", args[1] if len(args) > 1 else None))
        return await original(*args, **kwargs)

    demo.process_api = process_api


def gradio_version() -> str:
    """The installed gradio's version ("" if none), read without importing it."""
    from importlib import metadata

    try:
        return metadata.version("gradio")
    except metadata.PackageNotFoundError:
        return ""


def _run_under_gradio3(parser: argparse.ArgumentParser, found: str, argv: list[str]) -> None:
    """This Python has no gradio 3 (gbatch itself needs gradio_client 2, which gradio 3 cannot sit
    beside): run this file with the interpreter of a gradio 3.41.2 environment if there is one."""
    other = os.environ.get("GBATCH_GRADIO3_PYTHON") or str(Path.cwd() / ".venvs" / "gradio3" / "bin" / "python")
    if Path(other).is_file() and not os.environ.get("GBATCH_FOOOCUS_DEMO_REEXEC"):
        print(f"gradio {found or 'is not installed'} here; serving the stand-in with {other} (gradio 3.41.2)", flush=True)
        os.environ["GBATCH_FOOOCUS_DEMO_REEXEC"] = "1"
        os.execv(other, [other, str(Path(__file__).resolve()), *argv])
    parser.exit(
        2,
        f"gbatch-fooocus-demo needs gradio 3.41.2 (Fooocus's version); this Python has {'gradio ' + found if found else 'no gradio'}.\n"
        f"Run {Path(__file__).resolve()} with the Python of an environment that has gradio==3.41.2 and Pillow,\n"
        "or point GBATCH_GRADIO3_PYTHON at that Python (scripts/setup.sh --tests builds one in .venvs/gradio3).\n",
    )


def main(argv: list[str] | None = None) -> None:
    """`gbatch-fooocus-demo`: serve the stand-in until interrupted."""
    parser = argparse.ArgumentParser(
        prog="gbatch-fooocus-demo",
        description="Serve a stand-in of the Fooocus web UI (same gradio 3 API, drawn images, no model). It is NOT Fooocus. Needs gradio 3.41.2.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=7865, help="port to listen on (Fooocus's default)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind; 0.0.0.0 exposes it to the network")
    parser.add_argument("--delay", type=float, default=1.0, help="simulated GPU seconds per image")
    parser.add_argument("--checkpoints", default=",".join(DEFAULT_CHECKPOINTS), help=f"comma-separated checkpoint files the server has; the default base model is always {DEFAULT_BASE_MODEL}, so leaving it out makes rows that use it finish without an image")
    parser.add_argument("--extra-events", type=int, default=0, help="add this many events before the Generate chain (moves its fn_indexes)")
    parser.add_argument("--disable-image-log", action="store_true", help="as upstream's flag: get_task loses 'Save only final enhanced image'")
    parser.add_argument("--disable-metadata", action="store_true", help="as upstream's flag: get_task loses the two metadata controls")
    parser.add_argument("--record", default=os.environ.get("GBATCH_FOOOCUS_RECORD"), help="append every call received to this JSON-lines file (env GBATCH_FOOOCUS_RECORD)")
    args = parser.parse_args(argv)
    if args.delay < 0:
        parser.error("--delay must be 0 or more seconds")
    if args.extra_events < 0:
        parser.error("--extra-events must be 0 or more")
    checkpoints = tuple(name.strip() for name in args.checkpoints.split(",") if name.strip())
    found = gradio_version()
    if not found.startswith("3."):
        _run_under_gradio3(parser, found, sys.argv[1:] if argv is None else argv)
    print(f"{TITLE}\nStarting on http://{args.host}:{args.port}", flush=True)
    demo = build_demo(
        delay=args.delay,
        checkpoints=checkpoints,
        extra_events=args.extra_events,
        image_log=not args.disable_image_log,
        metadata=not args.disable_metadata,
        record=args.record,
    )
    demo.launch(server_name=args.host, server_port=args.port)  # like upstream: no show_error


if __name__ == "__main__":
    main()

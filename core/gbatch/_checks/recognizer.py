"""A speech-recognition app as the check stage uses it: which endpoint, what to send,
what came back.

The endpoint is found by shape — one audio input, a text output, and at most a
language choice besides — or named with `--check-api`. Known apps get their quirks
handled: SenseVoice's `webui.py` (`/model_inference(input_wav, language)`, a transcript
decorated with emoji, stripped by the normalisation) and Whisper-style web UIs (a
language dropdown with names such as "english" or "Chinese").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._api import Endpoint, Param, ServerApi
from .._columns import File
from .._errors import ServerError
from .normalize import is_cjk

__all__ = ["Recognizer", "find_recognizer", "language_of"]

# A row's language -> the names apps give it in their language choices.
_NAMES = {
    "zh": ("zh", "chinese", "mandarin", "zh-cn", "中文"),
    "en": ("en", "english"),
    "ja": ("ja", "japanese"),
    "ko": ("ko", "korean"),
    "yue": ("yue", "cantonese", "粤语"),
}
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")


@dataclass(frozen=True)
class Recognizer:
    """The endpoint a take is sent to: its audio parameter and language parameter (if any)."""

    endpoint: Endpoint
    audio: Param
    language: Param | None

    def values(self, audio: File, language: str | None) -> dict[str, Any]:
        """The request for one take: the audio file, and the row's language where the app
        offers it (else the app's "auto", else its default)."""
        values: dict[str, Any] = {self.audio.name: audio}
        if self.language is not None:
            values[self.language.name] = self._choice(language)
        return values

    def _choice(self, language: str | None) -> Any:
        choices = [c for _label, c in self.language.choice_labels] if self.language and self.language.choice_labels else list(self.language.choices or []) if self.language else []
        given = (language or "").lower()
        wanted = next((names for names in _NAMES.values() if given in names), (given,))
        for choice in choices:
            if str(choice).lower() in wanted:
                return choice
        for choice in choices:
            if str(choice).lower() in ("auto", "automatic", "automatic detection"):
                return choice
        return self.language.default if self.language is not None else None

    def transcript(self, outputs: tuple[Any, ...] | list[Any]) -> str:
        """The text the app returned (the first text output)."""
        for value in outputs:
            value = getattr(value, "value", value)  # a component update
            if isinstance(value, str):
                return value
        return ""


def find_recognizer(api: ServerApi, name: str | None = None) -> Recognizer:
    """The recognition endpoint of `api`: `name`, or the one endpoint with the right shape."""
    if name:
        endpoint = api.endpoint(name)
        if endpoint is None:
            raise ServerError(f"{api.url} has no endpoint {name!r} (--check-api)")
        found = _shape(endpoint)
        if found is None:
            raise ServerError(f"{api.url}: {endpoint.signature()} does not take one audio file and return text (--check-api)")
        return found
    fitting = [r for e in api.every_endpoint() if not e.hidden and (r := _shape(e)) is not None]
    if len(fitting) == 1:
        return fitting[0]
    listing = "\n  ".join(e.signature() for e in api.every_endpoint()) or "(none)"
    if not fitting:
        raise ServerError(f"{api.url} has no endpoint that takes audio and returns text; its endpoints:\n  {listing}")
    return _prefer_known(fitting, api.url, listing)


def language_of(text: str, row: Mapping[str, Any]) -> str:
    """The row's language: its `language`/`lang` column, else guessed from the script."""
    for key in ("language", "lang"):
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    if _KANA.search(text):
        return "ja"
    if _HANGUL.search(text):
        return "ko"
    if any(is_cjk(c) for c in text):
        return "zh"
    return "en"


def _shape(endpoint: Endpoint) -> Recognizer | None:
    audio = [p for p in endpoint.parameters if p.component.lower() in ("audio", "file") or (p.is_file and "audio" in p.label.lower())]
    others = [p for p in endpoint.parameters if p not in audio]
    texts = [r for r in endpoint.returns if r.component.lower() in ("textbox", "text", "markdown", "label", "html") or r.python_type == "str"]
    if len(audio) != 1 or not texts:
        return None
    language = next((p for p in others if "lang" in (p.name + " " + p.label).lower() and p.choices), None)
    # Anything else must have a default: the check sends only the audio and the language.
    if any(p is not language and p.required for p in others):
        return None
    return Recognizer(endpoint, audio[0], language)


def _prefer_known(fitting: list[Recognizer], url: str, listing: str) -> Recognizer:
    for recognizer in fitting:
        if recognizer.endpoint.name in ("/model_inference", "/transcribe", "/predict"):
            return recognizer
    raise ServerError(f"{url} has several endpoints that take audio and return text; choose one with --check-api:\n  {listing}")

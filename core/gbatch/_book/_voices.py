"""`voices.csv`: one row per voice name with the tool's voice columns, and how a piece of
text names its voice.

A piece's voice comes from, in order: a `voice` column (task files); an inline tag
`[voice=NAME]`, which holds until the next tag or the end of the paragraph; a paragraph that
starts with a known voice's name and a colon (`Alice:` / `旁白：`); else the `default` voice
(the voice named `default`, or without one, the first row of voices.csv).
Tags and prefixes are taken out of the text: they are not read aloud.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .._columns import normalize_key
from .._errors import TaskFileProblem, ValidationError

__all__ = ["DEFAULT_VOICE", "Voice", "Voices", "read_voices", "voice_segments"]

DEFAULT_VOICE = "default"
_NAME_HEADERS = ("voice", "name")
_TAG = re.compile(r"\[voice\s*=\s*([^\]\n]*?)\s*\]", re.IGNORECASE)


@dataclass(frozen=True)
class Voice:
    name: str
    line: int
    values: dict[str, str]


@dataclass(frozen=True)
class Voices:
    path: Path
    #: the voice columns, as headed in the file (the name column left out)
    columns: list[str]
    voices: dict[str, Voice]  # by name, folded

    def get(self, name: str) -> Voice | None:
        found = self.voices.get(name.strip().casefold())
        if found is None and name == DEFAULT_VOICE and self.voices:
            return next(iter(self.voices.values()))  # no row is called default: the first one is
        return found

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.voices.values()]

    def unknown(self, name: str, file: str, line: int | None, column: str | None = "voice") -> TaskFileProblem:
        return TaskFileProblem(file, line, column, f"voice {name!r} is not in {self.path.name} (it has: {', '.join(self.names)})")

    @functools.cached_property
    def prefix(self) -> re.Pattern[str] | None:
        """A paragraph's start that names a known voice: `Alice:` / `旁白：`."""
        names = sorted((re.escape(v.name) for v in self.voices.values()), key=len, reverse=True)
        return re.compile(r"^\s*(" + "|".join(names) + r")\s*[:：]\s*", re.IGNORECASE) if names else None


def read_voices(path: Path, is_file: Callable[[str], bool], check_audio: Callable[[Path], str | None]) -> Voices:
    """Read voices.csv (any task-file format). Paths in file columns (`is_file(header)`) are
    taken relative to the file's folder; each is checked with `check_audio` (None: fine, else
    why not) once, here, so a bad voice is one problem on its own line of voices.csv."""
    from .._tasks import read_tasks

    file = str(path)
    table = read_tasks(path)
    name_header = next((h for h in table.columns if normalize_key(h) in _NAME_HEADERS), None)
    if name_header is None:
        raise ValidationError([TaskFileProblem(file, 1, None, "voices need a 'voice' (or 'name') column naming each voice")])
    columns = [h for h in table.columns if h != name_header and normalize_key(h) != "id"]
    problems: list[TaskFileProblem] = []
    voices: dict[str, Voice] = {}
    for row in table.rows:
        name = str(row.values.get(name_header) or "").strip()
        if not name:
            problems.append(TaskFileProblem(file, row.line, name_header, "a voice needs a name"))
            continue
        if name.casefold() in voices:
            problems.append(TaskFileProblem(file, row.line, name_header, f"voice {name!r} is named twice (first on line {voices[name.casefold()].line})"))
            continue
        values = {h: str(row.values.get(h) or "") for h in columns}
        for header in columns:
            cell = values[header].strip()
            if not cell or not is_file(header) or "://" in cell:
                continue
            source = Path(cell).expanduser()
            source = source if source.is_absolute() else (path.parent / source)
            values[header] = str(source.resolve())
            why = check_audio(source) if source.is_file() else f"no such file: {source}"
            if why:
                problems.append(TaskFileProblem(file, row.line, header, why))
        voices[name.casefold()] = Voice(name, row.line, values)
    if problems:
        raise ValidationError(problems)
    return Voices(path, columns, voices)


def voice_segments(text: str, voices: Voices | None, current: str | None) -> tuple[list[tuple[str | None, str]], list[str]]:
    """A paragraph as (voice name, text) stretches, tags and the voice prefix taken out;
    and the names its tags give that voices.csv lacks. `current` is the voice before any tag."""
    prefix = voices.prefix if voices is not None else None
    found = prefix.match(text) if prefix else None
    if found:
        current = found.group(1)
        text = text[found.end() :]
    unknown: list[str] = []
    segments: list[tuple[str | None, str]] = []
    position = 0
    for tag in _TAG.finditer(text):
        segments.append((current, text[position : tag.start()]))
        current = tag.group(1)
        if voices is not None and voices.get(current) is None:
            unknown.append(current)
        position = tag.end()
    segments.append((current, text[position:]))
    return [(voice, words) for voice, words in segments if words.strip()], unknown

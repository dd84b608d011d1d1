"""`--join COLUMN`: one audio file per group of rows, in row order, with subtitles."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gbatch

JOINED_DIR = "joined"


def _group_of(row: Mapping[str, Any], column: str) -> Any:
    # The converted value first: the column may be fed by an alias (`spk_id` for speaker)
    # or only by a command-line default; otherwise the task file's own cell.
    inputs = row.get("inputs") or {}
    if inputs.get(column) is not None:
        return inputs[column]
    cells = row.get("row") or {}
    key = next((k for k in cells if gbatch.normalize_key(k) == gbatch.normalize_key(column)), None)
    if key is None:
        raise gbatch.UsageError(f"--join {column!r}: the task file has no such column")
    return cells[key]


def join_groups(rows: Sequence[Mapping[str, Any]], out_dir: Path, column: str, gap: float, fmt: str, say: Callable[[str], None], kbps: int = 128) -> list[Path]:
    """Join each group's outputs (rows sharing a value in `column`) with `gap` seconds between them.

    Writes `<out>/joined/<group>.<fmt>` and `<group>.srt`; a group with a row that
    did not succeed is left out (and said so), since its audio would have a hole.
    """
    import soundfile as sf

    from .audio import encode_audio, join, srt

    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(_group_of(row, column)), []).append(row)

    written: list[Path] = []
    for group, members in groups.items():
        unfinished = [m["id"] for m in members if m.get("status") != "ok" or not m.get("outputs")]
        if unfinished:
            say(f"not joining {column}={group!r}: {len(unfinished)} row(s) not done ({', '.join(unfinished[:5])})")
            continue
        try:
            parts = []
            for member in members:
                data, rate = sf.read(str(out_dir / member["outputs"][0]), dtype="float32", always_2d=False)
                parts.append((data, int(rate)))
            samples, rate, spans = join(parts, gap)
        except (sf.LibsndfileError, ValueError) as exc:
            # e.g. AAC kept from a server without ffprobe: libsndfile cannot read it back
            say(f"not joining {column}={group!r}: {exc}")
            continue
        name = gbatch.sanitize(group)
        audio_path = gbatch.atomic_write(out_dir / JOINED_DIR / f"{name}.{fmt}", encode_audio(samples, rate, fmt, kbps))
        cues = [(start, end, str((m.get("inputs") or {}).get("text", ""))) for (start, end), m in zip(spans, members, strict=True)]
        srt_path = gbatch.atomic_write(out_dir / JOINED_DIR / f"{name}.srt", srt(cues).encode("utf-8"))
        written += [audio_path, srt_path]
        say(f"joined {column}={group}: {len(members)} rows, {len(samples) / rate:.1f} s -> {audio_path} (+ {srt_path.name})")
    return written

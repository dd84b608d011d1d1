"""The consoles the command line prints through.

What gbatch prints quotes task files and servers: row ids, cells, error texts, labels,
paths. Rich reads `[...]` as markup and `:name:` as an emoji code, so such text must reach
a console as `rich.text.Text`, through `rich.markup.escape`, or with `markup=False`; and
the console itself never turns `:smile:` into a picture.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

__all__ = ["console"]


def console(stderr: bool = False, **options: Any) -> Console:
    """A rich Console for the command line (`options` as rich's, e.g. `file=` or `width=` in tests)."""
    return Console(stderr=stderr, emoji=False, **options)

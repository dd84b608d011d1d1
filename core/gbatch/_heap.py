"""The cycle collector and a batch's own objects.

Reading and checking a large task file makes millions of objects that live as long as the
batch, and no garbage cycles. The cycle collector would walk all of them each time their
number grew by a quarter, and then again through the whole run: over a third of a
100,000-row dry run. So it is paused while they are made, and what was made is then set
aside from it (`gc.freeze`) until the batch ends. Reference counting still frees them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


class LongLived:
    """Pauses the collector for each `making()` step; `release()` (or the end of a `with`
    block) hands what was set aside back.

    A process that froze objects of its own before the batch keeps them frozen: the batch
    then only pauses the collector, and freezes nothing it would have to thaw.
    """

    def __init__(self) -> None:
        self._freezes = gc.get_freeze_count() == 0
        self._froze = False

    def __enter__(self) -> LongLived:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @contextmanager
    def making(self) -> Iterator[None]:
        was_enabled = gc.isenabled()  # another batch in this process may have paused it: it resumes it
        gc.disable()
        try:
            yield
        finally:
            if self._freezes:
                gc.freeze()
                self._froze = True
            if was_enabled:
                gc.enable()

    def release(self) -> None:
        if self._froze:
            gc.unfreeze()
            self._froze = False

"""How a running batch reports progress: a bar on a terminal, a callback, or nothing."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any


class Bar:
    """The batch's progress on stderr (a tqdm bar), fed the counts after each document."""

    def __init__(self, total: int, file: Any = None) -> None:
        from tqdm import tqdm

        self.bar = tqdm(
            total=total,
            unit="doc",
            desc="salesnb batch",
            file=file or sys.stderr,
            dynamic_ncols=True,
            smoothing=0.1,
            mininterval=0,  # every document shows as it completes (a redraw costs ~nothing)
        )

    def __call__(self, counts: Mapping[str, int]) -> None:
        # the counts first, then the step that redraws the bar: set after the step (without a
        # redraw), they showed the document before this one until the next step
        figures = {"ok": counts["ok"], "failed": counts["failed"], "remaining": counts["pending"]}
        self.bar.set_postfix(figures, refresh=False)
        self.bar.update(counts["done"] - self.bar.n)

    def close(self) -> None:
        self.bar.close()


class Callback:
    """The counts, handed to the caller's function (``progress=callable``)."""

    def __init__(self, fn: Callable[[dict[str, int]], None]) -> None:
        self.fn = fn

    def __call__(self, counts: Mapping[str, int]) -> None:
        self.fn(dict(counts))

    def close(self) -> None:
        pass


class Silent(Callback):
    def __init__(self) -> None:
        super().__init__(lambda counts: None)


def progress_reporter(total: int, enabled: bool | Callable[[dict[str, int]], None]) -> Any:
    """What reports progress: a bar on a terminal, the caller's function, or nothing."""
    if callable(enabled):
        return Callback(enabled)
    if not enabled or total == 0 or not sys.stderr.isatty():
        return Silent()
    return Bar(total)

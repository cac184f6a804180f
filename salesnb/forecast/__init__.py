"""Forecasts: history models, pipeline simulation, win probabilities, calibration.

models, seasonal, history, pipeline, winprob, calibration, combined (the views blended),
backtest. Uses core, data and analytics only.

Modules are imported on first use (``salesnb.forecast.<module>``); other public names are those of
the main module (``salesnb.batch.run`` is ``salesnb.batch.documents.run``); see docs/architecture.md.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if not name.startswith("_"):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
        # the package's own API is its main module's (``salesnb.forecast.combined``)
        main = importlib.import_module(f"{__name__}.combined")
        if hasattr(main, name):
            return getattr(main, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

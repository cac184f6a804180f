"""Analytics on a loaded workbook: KPIs, pipeline change, goals, coaching.

kpis, pipeline, decompose, funnel, smart*, goals, coaching*, pip. Uses core and data only.

Modules are imported on first use (``salesnb.analytics.<module>``); see docs/architecture.md.
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
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""What a document shows: per-subject context, views per workbook, charts, rendering.

subject, facts, workbooks, plausibility, record, charts/chart*, render, vegabundle.

Modules are imported on first use (``salesnb.reports.<module>``); see docs/architecture.md.
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

"""The data layer: the canonical model and everything that reads, checks or writes it.

schema, model, config, profiles, readers/io (files), sql, store (snapshots), validation,
sample (a generated team), memo (results shared per data set).

Modules are imported on first use (``salesnb.data.<module>``); see docs/architecture.md.
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

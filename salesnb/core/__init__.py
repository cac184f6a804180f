"""Shared infrastructure every layer may use, and that uses no other layer.

errors (the one exception family), files (atomic writes, the lock, the cache folder),
resources (where the workbooks and templates are), dates, safecsv, lazydeps.

Modules are imported on first use (``salesnb.core.<module>``); see docs/architecture.md.
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

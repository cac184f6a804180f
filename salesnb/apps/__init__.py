"""The workshop apps: pure logic (workshop) and its ipywidgets front ends (widgets).

Modules are imported on first use (``salesnb.apps.<module>``); other public names are those of
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
        # the package's own API is its main module's (``salesnb.apps.widgets``)
        main = importlib.import_module(f"{__name__}.widgets")
        if hasattr(main, name):
            return getattr(main, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

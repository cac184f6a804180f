"""The ``salesnb`` command: a thin layer over the Python API.

commands (the group), batch, snapshot, workshop, init.

Modules are imported on first use (``salesnb.cli.<module>``); other public names are those of
the main module (``salesnb.batch.run`` is ``salesnb.batch.documents.run``); see docs/architecture.md.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("run", "main"):  # the console script: ``salesnb.cli.run`` is ``commands.run``
        return getattr(importlib.import_module("salesnb.cli.commands"), name)
    if not name.startswith("_"):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
        # the package's own API is its main module's (``salesnb.cli.commands``)
        main = importlib.import_module(f"{__name__}.commands")
        if hasattr(main, name):
            return getattr(main, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

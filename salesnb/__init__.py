"""salesnb: coaching and planning workbooks for sales teams.

Submodules are imported lazily so that ``import salesnb`` stays cheap (batch
workers and the CLI pay only for what they use).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Before anything imports jsonschema (nbformat, Altair): saves about 1.2 s per process.
from salesnb.core.lazydeps import defer_iri_grammar as _defer_iri_grammar

_defer_iri_grammar()

_SUBMODULES = {
    "errors",
    "config",
    "schema",
    "model",
    "io",
    "profiles",
    "validation",
    "sample",
    "kpis",
    "pipeline",
    "goals",
    "forecast",
    "forecast_models",
    "forecast_history",
    "forecast_pipeline",
    "forecast_calibration",
    "winprob",
    "coaching",
    "charts",
    "apps",
    "batch",
    "executor",
    "render",
    "params",
    "cli",
    "store",
    "subject",
    "record",
    "safecsv",
    "backtest",
    "chartrender",
    "workbooks",
    "facts",
    "fastengine",
    "sql",
    "decompose",
    "funnel",
    "smart_goal",
    "smart",
    "smart_history",
    "coaching_facts",
    "coaching_rules",
    "pip",
    "lazydeps",
}
_FUNCTIONS = {"load": "io"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"salesnb.{name}")
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(f"salesnb.{_FUNCTIONS[name]}"), name)
    raise AttributeError(f"module 'salesnb' has no attribute {name!r}")


__all__ = ["__version__", "load"]

"""salesnb: coaching and planning workbooks for sales teams.

The package is layered; data flows one way (docs/architecture.md)::

    core -> data -> analytics / forecast -> reports -> batch -> apps / cli

The names below are the public API, imported lazily so that ``import salesnb`` stays cheap
(batch workers and the CLI pay only for what they use)::

    >>> import salesnb
    >>> wb = salesnb.load("data/sample")  # doctest: +SKIP
    >>> salesnb.run_batch("pipeline_review", "data/sample", out="reports")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Before anything imports jsonschema (nbformat, Altair): saves about 1.2 s per process.
from salesnb.core.lazydeps import defer_iri_grammar as _defer_iri_grammar

_defer_iri_grammar()

#: The subpackages, lowest layer first.
SUBPACKAGES = ("core", "data", "analytics", "forecast", "reports", "batch", "apps", "cli")

#: Public name -> (module, attribute).
_API = {
    "load": ("salesnb.data.io", "load"),
    "write": ("salesnb.data.io", "write"),
    "load_sql": ("salesnb.data.sql", "load_sql"),
    "load_config": ("salesnb.data.config", "load_config"),
    "Workbook": ("salesnb.data.model", "Workbook"),
    "generate_sample": ("salesnb.data.sample", "generate"),
    "open_context": ("salesnb.reports.facts", "open_context"),
    "run_batch": ("salesnb.batch.documents", "run"),
    "SalesnbError": ("salesnb.core.errors", "SalesnbError"),
    "ConfigError": ("salesnb.core.errors", "ConfigError"),
    "ProfileError": ("salesnb.core.errors", "ProfileError"),
    "DataValidationError": ("salesnb.core.errors", "DataValidationError"),
    "ParameterError": ("salesnb.core.errors", "ParameterError"),
    "NotEnoughDataError": ("salesnb.core.errors", "NotEnoughDataError"),
    "BatchError": ("salesnb.core.errors", "BatchError"),
    "RenderError": ("salesnb.core.errors", "RenderError"),
    "Problem": ("salesnb.core.errors", "Problem"),
}

if TYPE_CHECKING:  # for type checkers and IDEs; at run time these load on first use
    from salesnb.batch.documents import run as run_batch
    from salesnb.core.errors import (
        BatchError,
        ConfigError,
        DataValidationError,
        NotEnoughDataError,
        ParameterError,
        Problem,
        ProfileError,
        RenderError,
        SalesnbError,
    )
    from salesnb.data.config import load_config
    from salesnb.data.io import load, write
    from salesnb.data.model import Workbook
    from salesnb.data.sample import generate as generate_sample
    from salesnb.data.sql import load_sql
    from salesnb.reports.facts import open_context


def __getattr__(name: str) -> Any:
    if name in _API:
        module, attr = _API[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in SUBPACKAGES:
        return importlib.import_module(f"salesnb.{name}")
    raise AttributeError(f"module 'salesnb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API, *SUBPACKAGES})


__all__ = [
    "BatchError",
    "ConfigError",
    "DataValidationError",
    "NotEnoughDataError",
    "ParameterError",
    "Problem",
    "ProfileError",
    "RenderError",
    "SalesnbError",
    "Workbook",
    "__version__",
    "generate_sample",
    "load",
    "load_config",
    "load_sql",
    "open_context",
    "run_batch",
    "write",
]

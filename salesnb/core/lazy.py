"""Subpackages whose modules load on first use: one ``__getattr__`` for every ``__init__``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def submodule_getattr(package: str, main: str | None = None) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``package.<name>`` on first use.

    Parameters
    ----------
    package : str
        The package's dotted name (its ``__name__``).
    main : str, optional
        The package's main module: a public name that is no submodule is looked up there, so
        ``salesnb.batch.run`` is ``salesnb.batch.documents.run``.

    Examples
    --------
    >>> getattr_ = submodule_getattr("salesnb.core")
    >>> getattr_("dates").__name__
    'salesnb.core.dates'
    """

    def __getattr__(name: str) -> Any:
        if not name.startswith("_"):
            try:
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{package}.{name}":
                    raise
            if main is not None:
                module = importlib.import_module(f"{package}.{main}")
                if hasattr(module, name):
                    return getattr(module, name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__

"""Optional features and the extra that installs each: a missing one says how to get it.

``pip install salesnb`` gives the workbooks, the batch and every document format but PDF's
browser; these features need an extra (``pip install 'salesnb[sql]'``, or ``[all]``):

========  ================================  ==========================================
extra     packages                          feature
========  ================================  ==========================================
sql       sqlalchemy, psycopg, duckdb       reading a database; the snapshot store
dask      dask, distributed                 ``salesnb batch --runner dask``
workshop  ipywidgets, voila, jupyterlab     the workshop apps and ``salesnb workshop``
========  ================================  ==========================================

PDF documents need a Chromium browser on the machine (a system package, not a Python one):
:func:`salesnb.reports.render.require_chromium` says how to install it.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from salesnb.core.errors import SalesnbError

#: import name -> (extra, distribution to name in the message)
EXTRAS: dict[str, tuple[str, str]] = {
    "sqlalchemy": ("sql", "sqlalchemy"),
    "psycopg": ("sql", "psycopg"),
    "duckdb": ("sql", "duckdb"),
    "dask": ("dask", "dask"),
    "distributed": ("dask", "distributed"),
    "ipywidgets": ("workshop", "ipywidgets"),
    "voila": ("workshop", "voila"),
}


class MissingExtraError(SalesnbError, ImportError):
    """An optional feature was used without the extra that installs it."""


def install_hint(module: str) -> str:
    """The pip command that installs what ``module`` needs.

    Examples
    --------
    >>> install_hint("duckdb")
    "pip install 'salesnb[sql]'"
    """
    extra = EXTRAS.get(module.partition(".")[0], ("all", module))[0]
    return f"pip install 'salesnb[{extra}]'"


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature``, or raise :class:`MissingExtraError` with the fix.

    Parameters
    ----------
    module : str
        The import name (``"duckdb"``).
    feature : str
        What the user asked for, in plain words (``"the snapshot store"``).

    Examples
    --------
    >>> require("json", "reading JSON").__name__
    'json'
    >>> require("not_a_module_xyz", "a test")
    Traceback (most recent call last):
    ...
    salesnb.core.extras.MissingExtraError: a test needs not_a_module_xyz, which is not installed. Fix: pip install 'salesnb[all]'
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.partition(".")[0]
        if exc.name is None or exc.name.partition(".")[0] != top:
            raise  # the package is there but one of its own imports failed: show that
        msg = f"{feature} needs {top}, which is not installed. Fix: {install_hint(module)}"
        raise MissingExtraError(msg) from None


def available(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it).

    Examples
    --------
    >>> available("json"), available("not_a_module_xyz")
    (True, False)
    """
    return importlib.util.find_spec(module.partition(".")[0]) is not None

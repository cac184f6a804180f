"""Import-time fixes for third-party libraries that are slow to import for no use of ours.

``jsonschema`` (pulled in by nbformat and Altair) imports ``rfc3987_syntax`` at module
level to check the ``iri`` formats, and that package builds about 35 Lark parsers as it is
imported: about 1.2 s of every process that touches a notebook or a chart (measured here;
python-jsonschema/jsonschema#1428). No schema we validate uses those formats.
:func:`defer_iri_grammar` puts a stand-in module in its place whose ``is_valid_syntax``
imports the real package on first call, so behaviour is unchanged and the cost is paid
only by a process that actually checks an IRI.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

_NAME = "rfc3987_syntax"


class _Deferred(types.ModuleType):
    """Stands in for ``rfc3987_syntax`` until something needs more than its name."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):  # the import system probing: not a use
            raise AttributeError(attr)
        return getattr(_real(), attr)


def _real() -> types.ModuleType:
    if isinstance(sys.modules.get(_NAME), _Deferred):
        del sys.modules[_NAME]
    return importlib.import_module(_NAME)


def _is_valid_syntax(*args: Any, **kwargs: Any) -> bool:
    return _real().is_valid_syntax(*args, **kwargs)


def defer_iri_grammar() -> bool:
    """Defer ``rfc3987_syntax``'s import to its first use; True when the stand-in is in place.

    Does nothing when the package is absent or already imported (then there is nothing
    left to save).

    Examples
    --------
    >>> defer_iri_grammar() in (True, False)
    True
    """
    if _NAME in sys.modules:
        return isinstance(sys.modules[_NAME], _Deferred)
    try:
        spec = importlib.util.find_spec(_NAME)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    stand_in = _Deferred(_NAME, "deferred by salesnb.core.lazydeps; imported on first use")
    stand_in.is_valid_syntax = _is_valid_syntax  # type: ignore[attr-defined]
    # a package: `import rfc3987_syntax.x` still finds its submodules
    stand_in.__path__ = list(spec.submodule_search_locations or [])
    sys.modules[_NAME] = stand_in
    return True

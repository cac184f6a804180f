"""The chart formats of review documents, and which one is in force.

Kept apart from :mod:`salesnb.reports.chartrender` (which imports Altair) so that the ``salesnb
batch`` command can check ``--charts`` without importing Altair itself: its documents do.
"""

from __future__ import annotations

import os
from typing import Final

from salesnb.core.errors import RenderError

#: Chart formats: static SVG in the outputs, or the spec drawn by an inlined Vega runtime.
CHART_FORMATS: Final = ("svg", "vega")
#: Environment variable read by :func:`chart_format` when a notebook does not say.
CHARTS_ENV: Final = "SALESNB_CHARTS"


def chart_format(charts: str | None = None) -> str:
    """The chart format in force: ``charts`` if given, else ``$SALESNB_CHARTS``, else ``"svg"``.

    Examples
    --------
    >>> chart_format("vega")
    'vega'
    """
    value = charts if charts is not None else (os.environ.get(CHARTS_ENV) or "svg")
    value = str(value).strip().lower()
    if value not in CHART_FORMATS:
        source = "charts" if charts is not None else CHARTS_ENV
        msg = (
            f"Unknown chart format {value!r} (from {source}). Fix: use one of "
            f"{', '.join(CHART_FORMATS)}."
        )
        raise RenderError(msg)
    return value

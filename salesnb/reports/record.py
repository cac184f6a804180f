"""What a workbook records for the batch: headline figures and the title block.

A notebook calls :func:`headline` and :func:`title`; each displays one output
with a salesnb mimetype (plus a short ``text/plain`` fallback that Jupyter shows
and review documents hide). After execution, :func:`collect` reads them back
from the executed notebook, so the batch index and the document title block
come from what the notebook itself computed, not from a second computation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

from salesnb.core.errors import ParameterError

HEADLINE_MIME = "application/vnd.salesnb.headline+json"
TITLE_MIME = "application/vnd.salesnb.title+json"
MIMETYPES = (HEADLINE_MIME, TITLE_MIME)

JSONScalar = float | int | str | bool | None


def _jsonable(name: str, value: Any) -> Any:
    """``value`` as plain JSON (numpy scalars unwrapped, NaN/inf -> None)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # numpy scalar
        value = value.item()
        if isinstance(value, (bool, str)):
            return value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        f = float(value)
        return f if math.isfinite(f) else None
    if hasattr(value, "isoformat"):  # date, datetime, pandas Timestamp
        return value.isoformat()[:10] if getattr(value, "hour", 0) == 0 else value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_jsonable(name, v) for v in value]
    msg = (
        f"Headline figure {name!r} has a value of type {type(value).__name__}: {value!r}. "
        "Fix: record numbers, text, True/False, None, dates or lists of those."
    )
    raise ParameterError(msg)


def _display(mime: str, data: dict[str, Any], plain: str) -> None:
    # Imported here so that importing salesnb.reports.record outside a kernel costs nothing.
    from IPython.display import display

    display({mime: data, "text/plain": plain}, raw=True)


def headline(**figures: Any) -> None:
    """Record the headline figures of this document for the batch index.

    Parameters
    ----------
    **figures
        Name -> number (currency units, ratios 0-1, counts), text, bool, None,
        date, or a list of those (e.g. ``flags=["stale deals"]``). NaN becomes None.

    Returns nothing, so a call that ends a cell adds no second output.

    Examples
    --------
    >>> headline(attainment=0.83, forecast=412000.0, flags=["low coverage"])  # doctest: +SKIP
    """
    data = {str(k): _jsonable(k, v) for k, v in figures.items()}
    plain = "Headline: " + ", ".join(f"{k}={v!r}" for k, v in data.items())
    _display(HEADLINE_MIME, data, plain)


def title(
    *,
    subject_name: str,
    period: str | None = None,
    as_of: Any = None,
    data_fingerprint: str | None = None,
    **extra: Any,
) -> None:
    """Record the title block of this document (subject, period, as-of date, data fingerprint).

    Parameters
    ----------
    subject_name : str
        Who the document is about (a rep's name, a region, a manager).
    period : str, optional
        Period label, e.g. ``"FY2026-Q3"``.
    as_of : date or str, optional
        The data's as-of date (day precision).
    data_fingerprint : str, optional
        ``Workbook.fingerprint()`` of the data the document was computed from.
    **extra
        More title fields (text), e.g. ``heading="Pipeline review"``.

    Examples
    --------
    >>> title(subject_name="Ava Thompson", period="FY2026-Q3", as_of="2026-09-30")  # doctest: +SKIP
    """
    from salesnb import __version__

    data = {
        "subject_name": _jsonable("subject_name", subject_name),
        "period": _jsonable("period", period),
        "as_of": _jsonable("as_of", as_of),
        "data_fingerprint": _jsonable("data_fingerprint", data_fingerprint),
        "salesnb_version": __version__,
    }
    data.update({str(k): _jsonable(k, v) for k, v in extra.items()})
    plain = f"{data['subject_name']} · {data['period'] or ''} · as of {data['as_of'] or ''}"
    _display(TITLE_MIME, data, plain)


def collect(nb: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The headline figures and title recorded in an executed notebook.

    Later calls win key by key, so a notebook may record figures in several cells.

    Returns
    -------
    (headline, title) : tuple of dict
        Empty dicts when the notebook recorded nothing.

    Examples
    --------
    >>> out = {"output_type": "display_data", "data": {HEADLINE_MIME: {"x": 1.0}}}
    >>> collect({"cells": [{"cell_type": "code", "outputs": [out]}]})
    ({'x': 1.0}, {})
    """
    heads: dict[str, Any] = {}
    titles: dict[str, Any] = {}
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = out.get("data") or {}
            if isinstance(data.get(HEADLINE_MIME), Mapping):
                heads.update(data[HEADLINE_MIME])
            if isinstance(data.get(TITLE_MIME), Mapping):
                titles.update(data[TITLE_MIME])
    return heads, titles

"""Forecast tables a batch's documents share, made once before the documents start.

The roll-up of the pipeline review and the one-on-one (for a region, manager, team or the
whole team) and the team review show each rep's forecast
(:func:`salesnb.reports.rollup.rep_forecasts`). The figures rest on tables computed once per
data set -- every rep's forecast, their past misses, how past chances came true -- which
:mod:`salesnb.forecast.cache` keeps on disk. With nothing on disk yet, every worker's first
document computed them itself, at the same time (about 25 s of CPU each on the sample data).

:func:`prefill` computes them once, in the batch's own process, before the documents start;
the documents then read them from disk. It does so only when the notebook shows a forecast
for the batch's kind of subject and the tables are not on disk already, and it never stops a
batch: whatever fails here is left to the documents, which compute it and report why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = ["NEEDS", "Need", "call_period", "need", "on_disk", "prefill"]


@dataclass(frozen=True)
class Need:
    """What a notebook's documents forecast: ``kind`` ``"rollup"`` (each rep's forecast, in
    documents about several reps) or ``"team"`` (the team review: each rep's forecast and the
    subject's own), and ``forward``, how the notebook opens its context
    (:func:`salesnb.reports.facts.open_context`)."""

    kind: str
    forward: bool


#: Notebooks (by file name) whose documents show forecasts resting on the shared tables.
NEEDS: dict[str, Need] = {
    "pipeline_review": Need("rollup", forward=True),
    "one_on_one": Need("rollup", forward=False),
    "team_review": Need("team", forward=False),
}


def need(notebook: str, by: str) -> Need | None:
    """What documents of ``notebook`` made ``by`` a kind of subject forecast (None: nothing).

    Examples
    --------
    >>> need("one_on_one", "manager")
    Need(kind='rollup', forward=False)
    >>> need("one_on_one", "rep") is None  # a rep's copy has no roll-up
    True
    """
    found = NEEDS.get(notebook)
    if found is None or (found.kind == "rollup" and by == "rep"):
        return None
    return found


def call_period(ctx: Any) -> str:
    """The quarter the team review's forecast call is about: the period under review while it
    runs (or before it starts), else the quarter after as-of (as
    :func:`salesnb.reports.team_review.team_review_view` picks it).

    Examples
    --------
    >>> from salesnb.analytics.dimensions import _example
    >>> from salesnb.reports.facts import context
    >>> call_period(context(_example(), "manager", "M", "FY2026-Q1", "2026-03-31"))
    'FY2026-Q2'
    """
    if ctx.start > ctx.as_of or ctx.end > ctx.as_of:
        return ctx.period
    return str(ctx.wb.config.calendar.period_label(ctx.as_of + pd.Timedelta(days=1), "Q"))


def on_disk(wb: Any, period: str, as_of: Any) -> bool:
    """Whether every rep's forecast table of ``period`` at ``as_of`` is on disk already (what
    :func:`salesnb.forecast.levels.rep_table` writes, with the documents' seed), checked
    without importing the forecasting modules.

    Examples
    --------
    >>> on_disk(wb, "FY2026-Q4", "2026-09-30")  # doctest: +SKIP
    False
    """
    from salesnb.forecast.cache import learned_cache_path

    when = pd.Timestamp(as_of).normalize()
    return learned_cache_path(wb, "reptable", (period, when, 0)).is_file()


def prefill(
    wb: Any, notebook: str, by: str, subjects: Sequence[str], params: Mapping[str, Any]
) -> str | None:
    """Compute the forecast tables ``notebook``'s documents about ``subjects`` share, once,
    so that they find them on disk; return the period filled (None: nothing to do).

    ``params`` are the batch's notebook parameters (``period`` and ``as_of`` are read). The
    first subject's figures are computed as its document computes them; documents about
    other subjects then read the tables they share.

    Examples
    --------
    >>> prefill(wb, "one_on_one", "manager", ["Rebecca Stone"], {})  # doctest: +SKIP
    'FY2026-Q4'
    """
    what = need(notebook, by)
    if what is None or not subjects or getattr(wb, "counts_only", False):
        return None
    from salesnb.reports import facts

    try:
        ctx = facts.context(wb, by, subjects[0], params.get("period"), params.get("as_of"),
                            forward=what.forward)  # fmt: skip
    except Exception:  # noqa: BLE001 - the documents say what is wrong with their parameters
        return None
    from salesnb.reports.rollup import forecast_period, rep_forecasts

    period = forecast_period(ctx) if what.kind == "rollup" else call_period(ctx)
    if on_disk(wb, period, ctx.as_of):
        return None
    try:
        rep_forecasts(ctx, ctx.rep_ids, period)  # as the first document would
        if what.kind == "team":  # the subject's own forecast: its level's calibration
            from salesnb.forecast.combined import period_forecast

            key = None if ctx.subject.type == "all" else ctx.subject.key
            period_forecast(ctx.wb, ctx.subject.type, key, period, ctx.as_of)
    except Exception:  # noqa: BLE001 - fails (and is reported) in the documents too
        return None
    return period

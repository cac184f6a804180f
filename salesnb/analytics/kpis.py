"""Sales KPIs: vectorised functions over a :class:`~salesnb.data.model.Workbook`.

Every grouped KPI shares one signature and one result shape::

    kpis.win_rate(wb, by="rep", freq="Q", start=None, end=None, period=None, as_of=None)

``by`` is ``"rep"`` (column ``rep_id``), ``"region"``, ``"manager"``, ``"team"``, a list of these, or
``None`` for the whole team; the keys are joined from the reps table. ``freq`` (``"M"``, ``"Q"``,
``"Y"``) adds a ``period`` column of fiscal period labels (``"2026-09"``, ``"FY2026-Q3"``,
``"FY2026"``). The result has the group keys (and ``period``) as columns, one row for every group and
every period of the window even when it has no data: sums are 0 there and undefined ratios NaN.

Dates: ``period="FY2026-Q3"`` (or ``start``/``end``, inclusive) restricts the window. ``as_of``
(default ``wb.as_of``) is the day the report is run: nothing after it is seen. Deals created after it
are ignored; deals closed after it count as still open (their stage, amount and close date come from
the latest snapshot on or before ``as_of``, else from the deal's furthest stage, or the first stage
for a deal created after a recent snapshot); deals still open today are read from that snapshot
when it is nearer to ``as_of`` than the data's own date.

Definitions are the same words here and in ``docs/kpis.md``.

This module is the KPIs' public face: they live in one module per family
(:mod:`~salesnb.analytics.kpiclosed` closed deals and targets,
:mod:`~salesnb.analytics.kpipipeline` open pipeline, :mod:`~salesnb.analytics.kpifunnel` funnel
and hygiene, :mod:`~salesnb.analytics.kpiactivity` growth and activity,
:mod:`~salesnb.analytics.kpiscorecard` the wide table and peers), on the call resolution and
cube of :mod:`~salesnb.analytics.kpibase`.
"""

# ruff: noqa: F401 -- the public face: every public name of the KPI modules, re-exported

from __future__ import annotations

import pandas as pd

from salesnb.analytics.kpiactivity import (
    activity_conversion,
    activity_counts,
    growth,
    new_vs_existing,
)
from salesnb.analytics.kpibase import (
    _BY,  # read as kpis._BY by salesnb.reports.pipfacts
    By,
    DateLike,
    Freq,
    deals_as_of,
)
from salesnb.analytics.kpiclosed import (
    avg_deal_size,
    bookings,
    quota_attainment,
    sales_cycle,
    win_rate,
)
from salesnb.analytics.kpifunnel import (
    UNKNOWN_REACH_TOLERANCE,
    bottleneck,
    hygiene,
    hygiene_summary,
    slipped,
    stage_conversion,
)
from salesnb.analytics.kpipipeline import (
    concentration,
    coverage,
    pipeline,
    velocity,
    weighted_pipeline,
)
from salesnb.analytics.kpiscorecard import (
    kpi_table,
    percentile_rank,
    scorecard,
)
from salesnb.data.model import Workbook

__all__ = [
    "activity_conversion", "activity_counts", "avg_deal_size", "bookings", "bottleneck",
    "concentration", "coverage", "growth", "hygiene", "hygiene_summary", "kpi_table",
    "new_vs_existing", "percentile_rank", "pipeline", "quota_attainment", "sales_cycle",
    "scorecard", "slipped", "stage_conversion", "velocity", "weighted_pipeline", "win_rate",
]  # fmt: skip


# --------------------------------------------------------------------------- doc example
def _example() -> Workbook:
    """A six-deal, two-rep workbook used by the docstring examples (as of 2026-03-31)."""
    from salesnb.data.config import load_config

    d = pd.to_datetime
    reps = pd.DataFrame(
        {"rep_id": ["r1", "r2"], "name": ["Zoë O'Brien", "José Nuñez-García"],
         "manager": ["M", "M"], "region": ["East", "West"], "team": ["East", "West"],
         "start_date": d(["2024-01-01", "2025-06-01"])}
    )  # fmt: skip
    opps = pd.DataFrame(
        {"opp_id": ["o1", "o2", "o3", "o4", "o5", "o6"], "rep_id": ["r1"] * 4 + ["r2", "r1"],
         "account": ["A", "A", "B", "C", "D", None], "product": None,
         "stage": ["Closed Won", "Closed Won", "Closed Lost", "Proposal", "Demo", "Closed Lost"],
         "amount": [400.0, 600.0, 500.0, 1000.0, 500.0, 0.0],
         "created_date": d(["2025-12-01", "2026-01-01", "2026-01-10", "2026-03-01", "2026-01-10",
                            "2026-01-15"]),
         "close_date": d(["2026-01-15", "2026-02-20", "2026-02-01", "2026-04-30", "2026-03-15",
                          "2026-03-10"]),
         "outcome": ["won", "won", "lost", "open", "open", "lost"],
         "forecast_category": None, "source": None,
         "furthest_stage": [None, None, "Proposal", "Proposal", "Demo", "Prospecting"],
         "last_activity_date": d(["2026-01-15", "2026-02-20", "2026-02-01", "2026-03-20",
                                  "2026-01-20", "2026-03-10"])}
    )  # fmt: skip
    targets = pd.DataFrame(
        {"rep_id": ["r1"] * 4, "region": [None] * 4,
         "month": d(["2026-01-01", "2026-02-01", "2026-04-01", "2026-05-01"]),
         "amount": [300.0, 500.0, 500.0, 500.0]}
    )  # fmt: skip
    acts = pd.DataFrame(
        {"rep_id": ["r1", "r1", "r2"], "date": d(["2026-01-05", "2026-02-05", "2026-02-05"]),
         "type": ["call", "email", "meeting"], "count": [10, 5, 2]}
    )  # fmt: skip
    snaps = pd.DataFrame(
        {"as_of": d(["2026-03-01", "2026-03-31"]), "opp_id": ["o4", "o4"], "rep_id": ["r1", "r1"],
         "stage": ["Proposal", "Proposal"], "amount": [1000.0, 1000.0],
         "close_date": d(["2026-03-31", "2026-04-30"]), "forecast_category": ["commit", "commit"]}
    )  # fmt: skip
    cfg = load_config(overrides={"as_of": "2026-03-31"})
    return Workbook(reps, opps, cfg, targets=targets, activities=acts, snapshots=snaps)

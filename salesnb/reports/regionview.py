"""Regions side by side for the team review: every region on the same KPIs and the spread
between the highest and the lowest (:func:`regions_side_by_side`).

Re-exported by :mod:`salesnb.reports.team_review`, which shows it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from salesnb.reports import facts
from salesnb.reports import subject as subj
from salesnb.reports.facts import Context
from salesnb.reports.workbooks import Html, bullets, fmt, humane, para

__all__ = ["REGION_KPIS", "regions_side_by_side"]

REGION_KPIS = (("attainment", "attainment", "percent"), ("bookings", "bookings", "currency"),
                ("win_rate", "win rate", "percent"), ("avg_deal_size", "average deal size",
                                                      "currency"),
                ("median_cycle_days", "sales cycle (days)", "days"),
                ("coverage", "coverage", "multiple"))  # fmt: skip


def regions_side_by_side(ctx: Context, call_period: str) -> tuple[Any, Html]:
    """Every region on the same KPIs (quarter under review; coverage of the call's quarter)
    and the spread between the highest and the lowest; a sentence when there is one region.

    Returns
    -------
    (DataFrame or None, Html)
        The table (a spread row last) and the highest/lowest sentence per KPI.

    Examples
    --------
    >>> ctx = facts.open_context("data/sample", None, "all", None)     # doctest: +SKIP
    >>> regions_side_by_side(ctx, "FY2026-Q4")[0]["region"].iloc[-1]   # doctest: +SKIP
    'Spread (highest - lowest)'
    """
    regions = subj.subjects(ctx.wb, "region")
    if len(regions) < 2:
        return None, para("<em>The team works in one region: there is nothing to compare.</em>")
    rctx = facts.context(ctx.wb, "region", regions[0][0], ctx.period, ctx.as_of)
    t = facts.unit_table(rctx).set_index("region").sort_index()
    if call_period != ctx.period:
        t["coverage"] = t["coverage_next"]
    mine = set(ctx.wb.reps.loc[ctx.wb.reps["rep_id"].isin(ctx.rep_ids), "region"])
    cur = ctx.currency
    cols = {}
    for key, label, unit in REGION_KPIS:
        cols[label] = [fmt(v, unit, cur) for v in t[key]]
    shown = pd.DataFrame({"region": [f"{r} (this document)" if r in mine and
                                     ctx.subject.type != "all" else r for r in t.index],
                          "reps": ctx.wb.reps["region"].value_counts().reindex(t.index)
                          .fillna(0).astype(int).to_numpy(), **cols})  # fmt: skip
    spread_row = {"region": "Spread (highest - lowest)", "reps": ""}
    lines = []
    for key, label, unit in REGION_KPIS:
        v = pd.to_numeric(t[key], errors="coerce").dropna()
        if len(v) < 2:
            spread_row[label] = "n/a"
            continue
        gap = float(v.max() - v.min())
        spread_row[label] = fmt(gap, "points" if unit == "percent" else unit, cur)
        lines.append(f"{label}: {v.idxmax()} {fmt(v.max(), unit, cur)}, {v.idxmin()} "
                     f"{fmt(v.min(), unit, cur)}")  # fmt: skip
    shown = pd.concat([shown, pd.DataFrame([spread_row])], ignore_index=True)
    text = Html(
        para("Highest and lowest region on each KPI in {q} (coverage: {c}). A wide spread is "
             "a practice to share: ask the leading region what it does differently.",
             q=ctx.period, c=call_period) + bullets(lines, empty="Too little data to compare.")
    )  # fmt: skip
    return humane(shown), text

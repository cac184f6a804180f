"""The performance improvement plan's measures: :func:`pip_measures` over
:data:`PIP_WINDOWS`, the plan's coaching facts, quarterly attainment and the actuals at each
checkpoint.

Public through :mod:`salesnb.reports.facts`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from salesnb.analytics import kpis
from salesnb.analytics.coaching import RepFacts
from salesnb.data.model import Workbook
from salesnb.reports.factcontext import (
    SALES_CYCLE_WINDOW_DAYS,
    Context,
)
from salesnb.reports.peerfacts import (
    own_rows,
    peer_group,
    peer_stats,
)

# --------------------------------------------------------------------------- PIP measures
#: Trailing window (days) behind each improvement-plan metric, so a baseline and every weekly
#: checkpoint are measured the same way; 0 = a count at the date.
PIP_WINDOWS: dict[str, int] = {
    "win_rate": 90, "avg_deal_size": 90, "sales_cycle_days": SALES_CYCLE_WINDOW_DAYS,
    "activities": 28,
    "activity_to_opp": 90, "coverage_next": 0, "stale_deals": 0, "past_due_deals": 0,
    "stage_conversion": 180,
}  # fmt: skip


def pip_measures(wb: Workbook, by: str | None, at: Any) -> pd.DataFrame:
    """Each unit's improvement-plan metrics at date ``at`` over :data:`PIP_WINDOWS`.

    Returns one row per unit of ``by`` (key column as in :mod:`salesnb.analytics.kpis`) with
    ``win_rate``, ``avg_deal_size``, ``sales_cycle_days``, ``activities`` (last 28 days),
    ``activity_to_opp``, ``coverage_next`` (the quarter after the one holding ``at``),
    ``stale_deals`` and ``past_due_deals`` (open deals at ``at``).
    """
    at = pd.Timestamp(at).normalize()

    def since(days: int) -> dict[str, Any]:
        return {"start": at - pd.Timedelta(days=days - 1), "end": at, "as_of": at}

    keys = [] if by is None else [kpis._BY[by]]
    w = PIP_WINDOWS
    cal = wb.config.calendar
    q = cal.period_label(at, "Q")
    nxt = cal.period_label(cal.period_bounds(q)[1] + pd.Timedelta(days=1), "Q")
    parts = [
        kpis.win_rate(wb, by, **since(w["win_rate"]))[keys + ["win_rate"]],
        kpis.avg_deal_size(wb, by, **since(w["avg_deal_size"]))[keys + ["avg_deal_size"]],
        kpis.sales_cycle(wb, by, **since(w["sales_cycle_days"]))[keys + ["median_cycle_days"]]
        .rename(columns={"median_cycle_days": "sales_cycle_days"}),
        kpis.activity_counts(wb, by, **since(w["activities"]))[keys + ["activities"]],
        kpis.activity_conversion(wb, by, **since(w["activity_to_opp"]))
        [keys + ["opportunities_per_activity"]]
        .rename(columns={"opportunities_per_activity": "activity_to_opp"}),
        kpis.coverage(wb, by, period=str(nxt), as_of=at)[keys + ["coverage"]]
        .rename(columns={"coverage": "coverage_next"}),
        kpis.hygiene_summary(wb, by, as_of=at)[keys + ["stale_deals", "past_due_deals"]],
    ]  # fmt: skip
    out = parts[0]
    for part in parts[1:]:
        out = out.merge(part, on=keys, how="left") if keys else pd.concat([out, part], axis=1)
    return out


def pip_stage_conversion(wb: Workbook, rep_ids: list[str] | None, at: Any) -> pd.Series:
    """Stage conversion (0-1, by stage) of some reps' deals created in the 180 days to ``at``."""
    at = pd.Timestamp(at).normalize()
    w = wb if rep_ids is None else wb.subset(rep_ids)
    start = at - pd.Timedelta(days=PIP_WINDOWS["stage_conversion"] - 1)
    conv = kpis.stage_conversion(w, None, start=start, end=at, as_of=at)
    return conv.set_index("stage")["conversion"]


def pip_facts(ctx: Context, at: Any) -> RepFacts:
    """RepFacts for an improvement plan starting at ``at``: trailing-window metrics vs peers.

    Attainment and bookings are those of the six complete months before ``at`` (the
    sustained outcome the plan is about); the other metrics follow :data:`PIP_WINDOWS`. Peers as in
    :func:`peer_comparison` (aggregates only).
    """
    at = pd.Timestamp(at).normalize()
    table = pip_measures(ctx.wb, ctx.by, at)
    # Six complete months: a month ending on ``at`` is complete (September at 30 September).
    month_end = at.to_period("M").end_time.normalize()
    last = at if at == month_end else at.to_period("M").start_time - pd.Timedelta(days=1)
    first = (last - pd.DateOffset(months=6) + pd.Timedelta(days=1)).normalize()
    att = kpis.quota_attainment(ctx.wb, ctx.by, start=first, end=last, as_of=at)
    keys = [ctx.key] if ctx.key else []
    table = (table.merge(att[keys + ["attainment", "bookings"]], on=keys, how="left") if keys
             else pd.concat([table, att[["attainment", "bookings"]]], axis=1))  # fmt: skip
    metrics = [c for c in table.columns if c not in keys]
    if ctx.key is None:
        agg = pd.DataFrame({"metric": metrics, "value": [table.iloc[0][m] for m in metrics]})
    else:
        agg = peer_stats(ctx, table, metrics)
    facts = RepFacts.from_frame(agg, subject=ctx.subject.name)
    own, team = (
        pip_stage_conversion(ctx.wb, ctx.rep_ids, at),
        pip_stage_conversion(ctx.wb, None, at),
    )
    reached = kpis.stage_conversion(
        ctx.wb.subset(ctx.rep_ids), None, as_of=at,
        start=at - pd.Timedelta(days=PIP_WINDOWS["stage_conversion"] - 1), end=at,
    ).set_index("stage")["reached"]  # fmt: skip
    stages = {s: (own[s], team.get(s), reached.get(s)) for s in own.index if pd.notna(own[s])}
    return RepFacts(facts.metrics, stages, None, ctx.subject.name, peer_group(ctx).noun)


def quarterly_attainment(ctx: Context, at: Any, n: int) -> dict[str, float | None]:
    """The subject's attainment in each of the last ``n`` complete fiscal quarters by ``at``.

    A quarter ending on ``at`` counts as complete. Returns quarter label (oldest first) to
    attainment (1.0 = 100%), None where the quarter had no target.

    Examples
    --------
    >>> quarterly_attainment(ctx, "2026-09-30", 3)  # doctest: +SKIP
    {'FY2026-Q1': 1.5, 'FY2026-Q2': 2.1, 'FY2026-Q3': 0.68}
    """
    at = pd.Timestamp(at).normalize()
    cal = ctx.wb.config.calendar
    label = cal.period_label(at, "Q")
    start, end = cal.period_bounds(label)
    labels: list[str] = [label] if at >= end.normalize() else []
    while len(labels) < n:
        start, _ = cal.period_bounds(cal.period_label(start - pd.Timedelta(days=1), "Q"))
        labels.insert(0, cal.period_label(start, "Q"))
    out: dict[str, float | None] = {}
    for q in labels:
        t = own_rows(ctx, "quota_attainment", period=q, as_of=at)
        v = float(t["attainment"].iloc[0]) if len(t) else float("nan")
        out[q] = v if np.isfinite(v) else None
    return out


def pip_actuals(ctx: Context, metrics: list[str], dates: list[pd.Timestamp]) -> pd.DataFrame:
    """The subject's value of each plan metric at each date, measured like the baseline.

    Returns ``date``, ``metric`` (``stage_conversion:<stage>`` for stages) and ``value``.
    """
    wb = ctx.wb.subset(ctx.rep_ids)
    rows = []
    for d in dates:
        m = pip_measures(wb, None, d).iloc[0]
        conv = pip_stage_conversion(wb, None, d)
        for name in metrics:
            base, _, stage = name.partition(":")
            value = conv.get(stage, np.nan) if base == "stage_conversion" else m.get(base, np.nan)
            rows.append({"date": d, "metric": name, "value": float(value)})
    return pd.DataFrame(rows, columns=["date", "metric", "value"])

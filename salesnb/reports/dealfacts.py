"""The subject's own deals as the workbooks show them: the funnel, coverage, velocity, open
deals and their aging, what needs attention, the pipeline waterfall, wins, the coaching
facts (:func:`facts_for`, :func:`rep_facts`) and the per-rep breakdown.

Public through :mod:`salesnb.reports.facts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesnb.analytics import kpis
from salesnb.analytics import pipeline as pipe
from salesnb.analytics.coaching import DealRef, RepFacts
from salesnb.core.errors import NotEnoughDataError, ParameterError
from salesnb.data import memo
from salesnb.data.model import Workbook
from salesnb.reports import subject as subj
from salesnb.reports.factcontext import (
    LOOKBACK_DAYS,
    MIN_CLOSED_DEALS,
    Context,
    context,
    joined_during,
    previous_period,
    subject_name_map,
)
from salesnb.reports.peerfacts import (
    _kpi_table,
    _own_row,
    own_rows,
    peer_comparison,
    peer_group,
    sales_cycle_days,
    unit_table,
)


# --------------------------------------------------------------------------- funnel
def lookback(ctx: Context, days: int = LOOKBACK_DAYS) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day of the trailing window behind conversion figures."""
    return ctx.as_of - pd.Timedelta(days=days - 1), ctx.as_of


def stage_table(ctx: Context, days: int = LOOKBACK_DAYS) -> pd.DataFrame:
    """Stage conversion of the subject's deals created in the trailing window, vs the team.

    Returns one row per open stage: ``stage``, ``next_stage``, ``reached``, ``advanced``
    (deal counts), ``conversion``, ``team_conversion`` (everyone in the data, fractions),
    ``relative`` (conversion / team) and ``bottleneck`` (bool: the kpis bottleneck, the
    lowest relative conversion among stages reached by 5+ deals).

    Examples
    --------
    >>> stage_table(ctx)[["stage", "conversion", "bottleneck"]]  # doctest: +SKIP
    """
    start, end = lookback(ctx, days)
    own = own_rows(ctx, "stage_conversion", start=start, end=end, as_of=ctx.as_of)
    team = _kpi_table(ctx.wb, "stage_conversion", None, start=start, end=end, as_of=ctx.as_of)
    team = team[["stage", "conversion"]]
    df = own.merge(team.rename(columns={"conversion": "team_conversion"}), on="stage", how="left")
    df["relative"] = df["conversion"] / df["team_conversion"].where(df["team_conversion"] > 0)
    ok = (df["reached"] >= 5) & df["relative"].notna()
    df["bottleneck"] = False
    if ok.any():
        best = df[ok].sort_values(["relative", "conversion"], kind="stable").index[0]
        df.loc[best, "bottleneck"] = True
    return df.reset_index(drop=True)


def funnel_frame(stages: pd.DataFrame, won_name: str = "Closed Won") -> pd.DataFrame:
    """:func:`stage_table` as :func:`salesnb.reports.charts.funnel` wants it (won deals as last row)."""
    last = pd.DataFrame({"stage": [won_name], "count": [int(stages["advanced"].iloc[-1])]
                         if len(stages) else [0]})  # fmt: skip
    body = stages.rename(columns={"reached": "count"})[
        ["stage", "count", "conversion", "team_conversion"]
    ]
    return pd.concat([body, last], ignore_index=True)


# --------------------------------------------------------------------------- pipeline
def coverage_table(ctx: Context) -> pd.DataFrame:
    """Pipeline, weighted pipeline and coverage of the subject for this and the next period.

    Returns one row per period: ``period``, ``target``, ``bookings``, ``remaining_target``,
    ``pipeline``, ``weighted_pipeline`` (currency), ``coverage`` (multiple; NaN when the
    target is met or missing), ``open_deals``.
    """
    rows = []
    for label in (ctx.period, ctx.next_period):
        cov = own_rows(ctx, "coverage", period=label, as_of=ctx.as_of).iloc[0]
        p = own_rows(ctx, "pipeline", period=label, as_of=ctx.as_of).iloc[0]
        rows.append({
            "period": label, "target": cov["target"], "bookings": cov["bookings"],
            "remaining_target": cov["remaining_target"], "pipeline": p["pipeline"],
            "weighted_pipeline": p["weighted_pipeline"], "coverage": cov["coverage"],
            "open_deals": int(p["open_deals"]),
        })  # fmt: skip
    return pd.DataFrame(rows)


def velocity(ctx: Context) -> pd.Series:
    """Sales velocity of the subject over the trailing window (see :func:`salesnb.analytics.kpis.velocity`)."""
    start, end = lookback(ctx)
    v = own_rows(ctx, "velocity", start=start, end=end, as_of=ctx.as_of).iloc[0]
    open_now = own_rows(ctx, "pipeline", as_of=ctx.as_of).iloc[0]["open_deals"]
    cycle = sales_cycle_days(ctx)  # the one definition, not the trailing year's
    value = open_now * v["win_rate"] * v["avg_deal_size"]
    vel = value / cycle if cycle and np.isfinite(cycle) and cycle > 0 else np.nan
    return pd.Series({"open_deals": int(open_now), "win_rate": v["win_rate"],
                      "avg_deal_size": v["avg_deal_size"], "median_cycle_days": cycle,
                      "velocity": vel})  # fmt: skip


def open_deals(ctx: Context) -> pd.DataFrame:
    """The subject's open deals at as-of with hygiene flags (:func:`salesnb.analytics.kpis.hygiene`)."""
    h = _team_hygiene(ctx.wb, ctx.as_of)
    return h[h["rep_id"].isin(ctx.rep_ids)].reset_index(drop=True)


@memo.shared
def _team_hygiene(wb: Workbook, as_of: Any) -> pd.DataFrame:
    return kpis.hygiene(wb, as_of=as_of)


def aging_frame(deals: pd.DataFrame) -> pd.DataFrame:
    """:func:`open_deals` in the shape of :func:`salesnb.reports.charts.pipeline_aging`."""
    label = deals["account"].fillna("(no account)") + " · " + deals["opp_id"]
    return pd.DataFrame({
        "age_days": deals["age_days"], "amount": deals["amount"], "is_stale": deals["stale"],
        "is_past_due": deals["past_due"], "stage": deals["stage"], "label": label,
    })  # fmt: skip


def typical_cycle_days(ctx: Context) -> float:
    """Median days from creation to close of the team's deals won in the trailing window."""
    start, end = lookback(ctx)
    cycle = _kpi_table(ctx.wb, "sales_cycle", None, start=start, end=end, as_of=ctx.as_of)
    return float(cycle.iloc[0]["median_cycle_days"])


def attention(ctx: Context) -> pd.DataFrame:
    """The subject's open deals that need attention, with the reasons (biggest first).

    The same rows as ``pipe.deals_needing_attention(ctx.wb, ctx.rep_ids, ctx.as_of)``: every
    rule looks at one deal at a time (the "large deal" threshold at all open deals), so the
    team's list, computed once per data set, filtered to the subject's reps is the answer.
    """
    team = _team_attention(ctx.wb, ctx.as_of)
    return team[team["rep_id"].isin(ctx.rep_ids)].reset_index(drop=True)


@memo.shared
def _team_attention(wb: Workbook, as_of: Any) -> pd.DataFrame:
    return pipe.deals_needing_attention(wb, None, as_of)


@dataclass(frozen=True)
class WaterfallView:
    """A pipeline waterfall ready to chart: ``bars`` (``step, amount, count``) and ``deals``.

    ``waterfall`` is None when the data cannot show the change (``note`` says why).
    """

    waterfall: pipe.Waterfall | None
    bars: pd.DataFrame
    deals: pd.DataFrame
    note: str


_STEP_LABELS = {
    "start": "Start", "new": "New", "pulled_in": "Pulled in", "pushed_out": "Pushed out",
    "won": "Won", "lost": "Lost", "removed": "Removed", "value_up": "Value up",
    "value_down": "Value down", "end": "End",
}  # fmt: skip


def waterfall_view(
    ctx: Context, since: Any = None, *, weeks: int = 4, period: str | None = None
) -> WaterfallView:
    """How the subject's open pipeline moved from ``since`` (default ``weeks`` before as-of).

    Uses the snapshots nearest on or before each date; with ``period`` only deals due in it
    count, so deals can be pushed out of it or pulled into it. Without snapshots, or with
    ``since`` before the first one, returns an empty view whose ``note`` explains.
    """
    start = (
        pd.Timestamp(since) if since not in (None, "") else ctx.as_of - pd.Timedelta(weeks=weeks)
    )
    empty = pd.DataFrame({"step": pd.Series(dtype="str"), "amount": pd.Series(dtype=float),
                          "count": pd.Series(dtype=float)})  # fmt: skip
    try:
        w = pipe.waterfall(ctx.wb, start, ctx.as_of, rep_ids=ctx.rep_ids, period=period)
    except NotEnoughDataError as exc:
        return WaterfallView(None, empty, pd.DataFrame(), str(exc))
    bars = w.bars.assign(step=w.bars["category"].map(_STEP_LABELS))
    bars = bars[(bars["deals"] > 0) | bars["category"].isin(["start", "end"])]
    bars = pd.DataFrame({"step": bars["step"], "amount": bars["signed"], "count": bars["deals"]})
    deals = w.deals.assign(step=w.deals["category"].map(_STEP_LABELS))
    note = " ".join(w.notes)
    if w.start_date != start.normalize():
        note = (note + f" The nearest snapshot on or before {start:%Y-%m-%d} is "
                f"{w.start_date:%Y-%m-%d}.").strip()  # fmt: skip
    return WaterfallView(w, bars.reset_index(drop=True), deals, note)


def wins(ctx: Context, since: Any = None) -> pd.DataFrame:
    """The subject's deals won from ``since`` (default: the period start) to as-of, biggest first."""
    start = pd.Timestamp(since) if since not in (None, "") else ctx.start
    o = ctx.wb.opportunities
    hit = o[o["rep_id"].isin(ctx.rep_ids) & (o["outcome"] == "won")
            & o["close_date"].between(start, ctx.as_of)]  # fmt: skip
    cols = ["opp_id", "rep_id", "account", "product", "amount", "created_date", "close_date"]
    out = hit[[c for c in cols if c in hit]].copy()
    out["cycle_days"] = (out["close_date"] - out["created_date"]).dt.days
    return out.sort_values(["amount", "opp_id"], ascending=[False, True]).reset_index(drop=True)


def biggest_open_deal(deals: pd.DataFrame) -> DealRef | None:
    """The subject's largest open deal as a coaching DealRef (name: account and id)."""
    if deals.empty:
        return None
    d = deals.sort_values(["amount", "opp_id"], ascending=[False, True]).iloc[0]
    name = f"{d['account']} ({d['opp_id']})" if pd.notna(d["account"]) else str(d["opp_id"])
    close = d["close_date"].date() if pd.notna(d["close_date"]) else None
    return DealRef(name, float(d["amount"]), str(d["stage"]), close)


# --------------------------------------------------------------------------- coaching facts
def facts_for(ctx: Context, comparison: pd.DataFrame | None = None) -> RepFacts:
    """The :class:`~salesnb.analytics.coaching.RepFacts` of the subject (aggregates only for peers)."""
    comp = peer_comparison(ctx) if comparison is None else comparison
    frame = comp.rename(columns={"peer_median": "median", "peer_p25": "q1", "peer_p75": "q3"})
    frame = frame[["metric", "value", "median", "q1", "q3", "previous", "percentile", "target"]]
    own = _own_row(ctx, unit_table(ctx))
    if not float(own["won_deals"] + own["lost_deals"]) >= MIN_CLOSED_DEALS:
        # too few deals closed for a win rate to judge ("win rate is 0%" on two losses)
        few = frame["metric"].isin(["win_rate", "win_rate_value"])
        frame.loc[few, ["value", "previous"]] = np.nan
    if joined_during(ctx, previous_period(ctx)) is not None:
        # the previous period was the rep's first: "win rate rose from 0%" would praise
        # settling in as a change in how deals are run, so no rule compares with it
        frame = frame.assign(previous=np.nan)
        frame.loc[frame["metric"] == "bookings_growth", "value"] = np.nan
    facts = RepFacts.from_frame(frame, subject=ctx.subject.name, peers=peer_group(ctx).noun)
    stages = stage_table(ctx)
    conv = {r.stage: (r.conversion, r.team_conversion, r.reached)
            for r in stages.itertuples() if pd.notna(r.conversion)}  # fmt: skip
    metrics = dict(facts.metrics)
    # How much of the period is left decides what can still be done in it (no "pull deals
    # in" on its last day).
    end = ctx.wb.config.calendar.period_bounds(ctx.period)[1]
    metrics["days_left"] = {"value": float(max((end.normalize() - ctx.as_of.normalize()).days, 0))}
    # Without amounts no deal is "the biggest": no deal review picked by size.
    deal = None if ctx.wb.counts_only else biggest_open_deal(open_deals(ctx))
    return RepFacts(metrics, conv, deal, ctx.subject.name, facts.peers)


def rep_facts(wb: Workbook, subject: Any, period: str | None = None, as_of: Any = None) -> RepFacts:
    """RepFacts of one rep (``subject``: a rep_id, an exact name or a resolved Subject).

    Examples
    --------
    >>> f = rep_facts(wb, "R01")          # doctest: +SKIP
    >>> f.metric("win_rate").median       # doctest: +SKIP
    """
    if isinstance(subject, subj.Subject):
        subject_type, key = subject.type, subject.key
    else:
        subject_type, key = "rep", subject
    return facts_for(context(wb, subject_type, key, period, as_of))


# --------------------------------------------------------------------------- group tables
def rep_breakdown(ctx: Context, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-rep KPIs of a region, manager or team subject (names allowed: managers' documents).

    Raises :class:`ParameterError` for a rep subject: a rep's document never lists peers.
    """
    if ctx.is_rep:
        raise ParameterError("A rep's document cannot list other reps. Fix: use a region "
                             "or manager subject for a per-rep breakdown.")  # fmt: skip
    rep_ctx = Context(ctx.wb, subj.resolve(ctx.wb, "rep", ctx.rep_ids[0]), ctx.as_of, ctx.period,
                      ctx.start, ctx.end, ctx.next_period, ctx.next_start, ctx.next_end)  # fmt: skip
    t = unit_table(rep_ctx) if table is None else table
    t = t[t["rep_id"].isin(ctx.rep_ids)]
    names = subject_name_map(ctx)
    cols = ["rep_id", "target", "bookings", "attainment", "win_rate", "pipeline", "coverage",
            "coverage_next", "stale_deals", "past_due_deals"]  # fmt: skip
    out = t[cols].copy()
    out.insert(1, "name", out["rep_id"].map(names))
    return out.sort_values("attainment", ascending=False, na_position="last").reset_index(drop=True)

"""Goals measured from a workbook: each rep's metric per period, and the SMART check from it.

Definitions of the metrics follow the domain notes (section 2); see ``docs/goals.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, Literal

import pandas as pd

from salesnb.analytics.smart import SmartResult, smart_check, smart_thresholds
from salesnb.analytics.smart_goal import METRICS, Goal
from salesnb.core.errors import ParameterError

__all__ = ["metric_history", "smart_check_from_history"]


_STEP = {"M": 1, "Q": 3, "Y": 12}


def _period_start(dates: pd.Series, freq: str, start_month: int) -> pd.Series:
    """First day of the (fiscal) month, quarter or year of each date (vectorised)."""
    months = dates.dt.year * 12 + dates.dt.month - 1
    off = 0 if freq == "M" else start_month - 1
    p = (months - off) // _STEP[freq] * _STEP[freq] + off
    return pd.to_datetime(pd.DataFrame({"year": p // 12, "month": p % 12 + 1, "day": 1}))


def metric_history(
    wb: Any,
    metric: str,
    *,
    freq: Literal["M", "Q", "Y"] = "Q",
    as_of: Any = None,
    rep_ids: list[str] | None = None,
) -> pd.DataFrame:
    """Each rep's value of a :data:`METRICS` metric per complete (fiscal) period.

    Definitions follow the domain notes: bookings = won amount by close date; win rate =
    won / closed by count; sales cycle = median days created -> close of won deals;
    activity counts by activity date; attainment = bookings / the rep's targets. Periods
    before a rep's start date are NaN, as are rates with nothing to divide by.

    Returns
    -------
    DataFrame
        Index: period start dates up to the last period complete at ``as_of``; columns: rep_id.

    Examples
    --------
    >>> metric_history(wb, "bookings", freq="Q").tail(4)   # doctest: +SKIP
    """
    if metric not in METRICS:
        raise ParameterError(f"Unknown metric {metric!r}. Fix: use one of {', '.join(METRICS)}.")
    if freq not in _STEP:
        raise ParameterError(f"freq={freq!r}. Fix: use 'M', 'Q' or 'Y'.")
    end = pd.Timestamp(as_of).normalize() if as_of is not None else wb.as_of
    sm = wb.config.calendar.start_month
    ids = list(rep_ids) if rep_ids is not None else wb.rep_ids()
    o = wb.opportunities[wb.opportunities["rep_id"].isin(ids)]
    closed = o[
        o["outcome"].isin(["won", "lost"]) & o["close_date"].notna() & (o["close_date"] <= end)
    ].copy()
    won = closed[closed["outcome"] == "won"].copy()
    won["days"] = (won["close_date"] - won["created_date"]).dt.days.astype(float)
    acts = wb.activities[wb.activities["rep_id"].isin(ids) & (wb.activities["date"] <= end)]
    created = o[o["created_date"] <= end]

    def agg(df: pd.DataFrame, date: str, col: str, how: str) -> pd.Series:
        per = _period_start(df[date], freq, sm) if len(df) else pd.Series([], dtype="M8[ns]")
        return df.groupby([per.rename("period"), df["rep_id"]])[col].agg(how)

    zero_fill = True
    if metric == "bookings":
        long = agg(won, "close_date", "amount", "sum")
    elif metric == "deals_won":
        long = agg(won, "close_date", "amount", "size")
    elif metric == "win_rate":
        closed["won"] = (closed["outcome"] == "won").astype(float)
        long, zero_fill = agg(closed, "close_date", "won", "mean"), False
    elif metric == "avg_deal_size":
        long, zero_fill = agg(won, "close_date", "amount", "mean"), False
    elif metric == "sales_cycle":
        long, zero_fill = agg(won, "close_date", "days", "median"), False
    elif metric == "pipeline_created":
        long = agg(created, "created_date", "amount", "sum")
    elif metric == "opportunities_created":
        long = agg(created, "created_date", "amount", "size")
    elif metric == "attainment":
        t = wb.targets[wb.targets["rep_id"].isin(ids) & (wb.targets["month"] <= end)]
        target = agg(t, "month", "amount", "sum")
        booked = agg(won, "close_date", "amount", "sum").reindex(target.index, fill_value=0.0)
        long, zero_fill = (booked / target.where(target > 0)), False
    else:
        kinds = {"calls": "call", "emails": "email", "meetings": "meeting", "demos": "demo"}
        a = acts if metric == "activities" else acts[acts["type"] == kinds[metric]]
        long = agg(a, "date", "count", "sum").astype(float)
    wide = long.unstack("rep_id") if len(long) else pd.DataFrame()
    # Complete periods only: the one holding as_of + 1 day is still running.
    last = _period_start(pd.Series([end + pd.Timedelta(days=1)]), freq, sm).iloc[0]
    last -= pd.DateOffset(months=_STEP[freq])
    firsts = [
        d.min()
        for d in (won["close_date"], closed["close_date"], created["created_date"], acts["date"])
        if len(d)
    ]
    if not firsts:
        return pd.DataFrame(columns=pd.Index(ids, name="rep_id"), dtype=float)
    first = _period_start(pd.Series([min(firsts)]), freq, sm).iloc[0]
    grid = pd.date_range(first, last, freq=f"{_STEP[freq]}MS", name="period")
    wide = wide.reindex(index=grid, columns=pd.Index(ids, name="rep_id")).astype(float)
    if zero_fill:
        wide = wide.fillna(0.0)
    starts = (
        wb.reps.set_index("rep_id")["start_date"].reindex(ids)
        if "start_date" in wb.reps.columns
        else pd.Series(pd.NaT, index=ids)
    )
    period_end = grid + pd.DateOffset(months=_STEP[freq]) - pd.Timedelta(days=1)
    before = period_end.to_numpy()[:, None] < starts.to_numpy(dtype="M8[ns]")[None, :]
    return wide.mask(before)


def smart_check_from_history(
    wb: Any,
    goal: Goal | Mapping[str, Any],
    rep_id: str | None = None,
    *,
    freq: Literal["M", "Q", "Y"] = "Q",
    peer_group: Literal["team", "region", "all"] = "team",
    objectives: list[str] | None = None,
    as_of: Any = None,
    thresholds: Mapping[str, Any] | None = None,
) -> SmartResult:
    """:func:`smart_check` with history, peers and team history taken from the workbook.

    ``rep_id`` defaults to the goal's owner (a rep id or name). Peers are the other reps
    of the same ``peer_group``; a peer's level is the median of their last
    ``baseline_periods`` periods. Thresholds: defaults < ``[smart]`` in the config < ``thresholds``.

    Examples
    --------
    >>> smart_check_from_history(wb, {"metric": "win_rate", "target": 0.3,
    ...     "deadline": "2026-12-31", "objective": "Grow revenue"}, "R001")   # doctest: +SKIP
    """
    g = goal if isinstance(goal, Goal) else Goal.from_dict(goal)
    who = rep_id if rep_id is not None else g.owner
    if who is None:
        raise ParameterError("No rep to check the goal for. Fix: pass rep_id= or goal.owner.")
    rep = wb.rep(who)
    th = smart_thresholds(thresholds, wb.config)
    if g.owner is None:
        g = Goal(**{f.name: getattr(g, f.name) for f in fields(g)} | {"owner": rep["name"]})
    g.period = {"M": "month", "Q": "quarter", "Y": "year"}[freq]
    metric = str(g.metric).strip().lower()
    if metric not in METRICS:
        return smart_check(
            g,
            objectives=objectives,
            as_of=as_of or wb.as_of,
            thresholds=th,
            currency=wb.config.currency,
        )
    col = peer_group if peer_group in wb.reps.columns and peer_group != "all" else None
    group = wb.reps if col is None else wb.reps[wb.reps[col] == rep[col]]
    h = metric_history(wb, metric, freq=freq, as_of=as_of, rep_ids=group["rep_id"].tolist())
    rid = rep["rep_id"]
    others = h.drop(columns=[rid])
    peers = others.tail(int(th["baseline_periods"])).median()
    return smart_check(
        g,
        history=h[rid],
        peers=peers,
        peer_history=h,
        objectives=objectives,
        as_of=as_of or wb.as_of,
        thresholds=th,
        currency=wb.config.currency,
    )

"""The bottom-up reverse funnel: from a target back to pipeline, deals, opportunities, activities.

Rates come from the caller (:func:`reverse_funnel`) or from the rep's own recent deals, falling
back to the team's (:func:`reverse_funnel_from_history`); see ``docs/goals.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from salesnb.analytics.decompose import _clean_weights, split_by_weights
from salesnb.analytics.kpis import UNKNOWN_REACH_TOLERANCE
from salesnb.core.errors import NotEnoughDataError, ParameterError

__all__ = ["ReverseFunnel", "history_rates", "reverse_funnel", "reverse_funnel_from_history"]


@dataclass(frozen=True)
class ReverseFunnel:
    """What it takes to reach a target, worked back from the conversion rates.

    Counts are whole numbers rounded up (a deal cannot be split); per-week counts are
    rounded up too, so ``per_week * weeks >= total``.
    """

    target: float
    win_rate: float
    avg_deal_size: float
    weeks: int
    pipeline_needed: float
    deals_needed: int
    opportunities_needed: int
    stage_entries: pd.Series
    activity_to_opp: float | None
    activities_needed: int | None
    activities_by_type: pd.Series
    notes: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """One row per quantity: ``item``, ``unit``, ``total`` and ``per_week``."""
        rows = [
            ("pipeline", "currency", self.pipeline_needed),
            ("deals", "count", self.deals_needed),
            ("opportunities", "count", self.opportunities_needed),
        ]
        rows += [(f"entries: {s}", "count", v) for s, v in self.stage_entries.items()]
        if self.activities_needed is not None:
            rows.append(("activities", "count", self.activities_needed))
            rows += [(str(t), "count", v) for t, v in self.activities_by_type.items()]
        df = pd.DataFrame(rows, columns=["item", "unit", "total"])
        per = df["total"].astype(float) / self.weeks
        df["per_week"] = np.where(df["unit"] == "count", np.ceil(per - 1e-9), per)
        return df

    def per_week(self) -> pd.Series:
        """``per_week`` of :meth:`table` indexed by item."""
        return self.table().set_index("item")["per_week"]


def _rate(value: Any, name: str, *, upper: float | None = 1.0) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not math.isfinite(v) or v <= 0 or (upper is not None and v > upper):
        rng = f"above 0 and at most {upper:g}" if upper is not None else "above 0"
        msg = f"{name} is {value!r}; it must be a number {rng}."
        if upper == 1.0 and math.isfinite(v) and 1 < v <= 100:
            msg += f" Fix: write {v:g}% as {v / 100:g}."
        else:
            msg += " Fix: pass a rate such as 0.25."
        raise ParameterError(msg)
    return v


def _amount(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not math.isfinite(v) or v < 0:
        raise ParameterError(f"{name} is {value!r}. Fix: pass a finite number >= 0.")
    return v


def _ceil(x: float) -> int:
    return math.ceil(x - 1e-9)  # 0.1 * 30 must give 3, not 4


def reverse_funnel(
    target: float,
    *,
    win_rate: float,
    avg_deal_size: float,
    stage_conversions: Mapping[str, float] | pd.Series | None = None,
    activity_to_opp: float | None = None,
    weeks: int = 13,
    activity_mix: Mapping[str, float] | None = None,
    win_rate_by_value: float | None = None,
) -> ReverseFunnel:
    """Work back from a target to the pipeline, deals, opportunities and activities it needs.

    pipeline = target / win rate (by value when given); deals = ceil(target / average
    deal size); opportunities = ceil(deals / win rate); stage entries: last stage =
    ceil(deals / its conversion), each earlier stage = ceil(next entries / its conversion);
    activities = ceil(opportunities / activity-to-opportunity rate), split by
    ``activity_mix`` exactly.

    Parameters
    ----------
    target : float
        Bookings to reach (currency, >= 0).
    win_rate : float
        Share of closed deals won, by count (0 < rate <= 1).
    avg_deal_size : float
        Mean won amount (currency, > 0).
    stage_conversions : dict or Series, optional
        Open stages in pipeline order -> share of deals entering the stage that reach the
        next (the last: that are won).
    activity_to_opp : float, optional
        Opportunities created per activity (0 < rate <= 1); without it no activity rows.
    weeks : int, default 13
        Weeks available (13 = a quarter).
    activity_mix : dict, optional
        Activity type -> share of activities (e.g. ``{"call": 3, "meeting": 1}``).
    win_rate_by_value : float, optional
        Won amount / closed amount; used for the pipeline figure if given.

    Examples
    --------
    >>> rf = reverse_funnel(100_000, win_rate=0.25, avg_deal_size=10_000, activity_to_opp=0.1)
    >>> rf.pipeline_needed, rf.deals_needed, rf.opportunities_needed, rf.activities_needed
    (400000.0, 10, 40, 400)
    """
    t = _amount(target, "target")
    wr = _rate(win_rate, "win_rate")
    size = _rate(avg_deal_size, "avg_deal_size", upper=None)
    wrv = wr if win_rate_by_value is None else _rate(win_rate_by_value, "win_rate_by_value")
    if not isinstance(weeks, int | np.integer) or weeks < 1:
        raise ParameterError(f"weeks is {weeks!r}. Fix: pass a whole number of weeks >= 1.")
    deals = _ceil(t / size)
    opps = _ceil(deals / wr)
    notes: list[str] = []
    entries = pd.Series(dtype="int64", name="entries")
    if stage_conversions is not None:
        conv = pd.Series(stage_conversions, dtype=object)
        conv = pd.Series(
            [_rate(v, f"stage_conversions[{k!r}]") for k, v in conv.items()],
            index=conv.index.astype(str),
        )
        need, out = deals, []
        for c in conv.to_numpy()[::-1]:
            need = _ceil(need / c)
            out.append(need)
        entries = pd.Series(out[::-1], index=conv.index, dtype="int64", name="entries")
        implied = float(conv.prod())
        if len(entries) and abs(implied - wr) > 0.02:
            notes.append(
                f"The stage conversions multiply to a {implied:.0%} win rate, not the "
                f"{wr:.0%} given: the stage path needs {entries.iloc[0]} new opportunities, "
                f"the win rate {opps}."
            )
    acts, by_type, a2o = None, pd.Series(dtype="int64"), None
    if activity_to_opp is not None:
        a2o = _rate(activity_to_opp, "activity_to_opp")
        acts = _ceil(opps / a2o)
        if activity_mix:
            mix = _clean_weights(pd.Series(dict(activity_mix)), "activity_mix")
            by_type = split_by_weights(acts, mix).astype("int64")
    elif activity_mix:
        notes.append("activity_mix is ignored without activity_to_opp.")
    return ReverseFunnel(
        target=t,
        win_rate=wr,
        avg_deal_size=size,
        weeks=int(weeks),
        pipeline_needed=t / wrv,
        deals_needed=deals,
        opportunities_needed=opps,
        stage_entries=entries,
        activity_to_opp=a2o,
        activities_needed=acts,
        activities_by_type=by_type,
        notes=notes,
    )


def history_rates(
    wb: Any, rep_ids: Sequence[str], start: pd.Timestamp, end: pd.Timestamp
) -> dict[str, Any]:
    """Funnel rates of some reps' deals closed between ``start`` and ``end`` (inclusive).

    Win rate = won / closed (count); ``win_rate_by_value`` = won amount / closed amount;
    average deal size = mean won amount (currency); ``stage_reached`` = how many closed
    deals reached each open stage and, last, a win (won deals reached every stage, lost
    ones their ``furthest_stage``); ``stage_conversions`` = reached next / reached, from
    the first stage anybody entered, or None when a conversion is zero or not known (too
    many lost deals do not say how far they got: ``unknown_reach`` counts them); the
    conversions multiply to the win rate. ``activity_to_opp`` = deals created / activities
    in the window (at most 1); ``activity_mix`` = activities by type (None without any).

    Examples
    --------
    >>> r = history_rates(wb, ["R001"], pd.Timestamp("2025-01-01"), wb.as_of)  # doctest: +SKIP
    >>> r["win_rate"]                                                           # doctest: +SKIP
    0.21
    """
    o = wb.opportunities
    o = o[o["rep_id"].isin(list(rep_ids))]
    closed = o[o["outcome"].isin(["won", "lost"]) & o["close_date"].between(start, end)]
    won = closed[closed["outcome"] == "won"]
    r: dict[str, Any] = {"closed": len(closed)}
    r["win_rate"] = len(won) / len(closed) if len(closed) else None
    value = closed["amount"].sum()
    r["win_rate_by_value"] = won["amount"].sum() / value if value > 0 and len(won) else None
    r["avg_deal_size"] = float(won["amount"].mean()) if len(won) else None
    # Stage reached: won deals passed every open stage; lost ones reached furthest_stage.
    open_names = wb.config.stages.open_names
    order = {s: i for i, s in enumerate(open_names)}
    reach = np.where(
        closed["outcome"] == "won",
        len(open_names),
        closed["furthest_stage"].map(order).astype(float),
    )
    unknown = int(np.isnan(reach).sum())
    reach = reach[~np.isnan(reach)]
    r["stage_conversions"] = None
    # Lost deals that do not say how far they got: the conversions are not known (leaving
    # them out would show every stage converting at 100%).
    r["unknown_reach"] = unknown
    at = np.array([(reach >= k).sum() for k in range(len(open_names) + 1)], dtype=float)
    known = unknown <= UNKNOWN_REACH_TOLERANCE * (len(reach) + unknown)
    r["stage_reached"] = (
        dict(zip([*open_names, "won"], at.tolist(), strict=True)) if known else None
    )
    if len(reach) and known:
        with np.errstate(divide="ignore", invalid="ignore"):
            conv = at[1:] / at[:-1]
        first = int(np.argmax(at[:-1] > 0))  # stages nobody entered before are skipped
        conv = conv[first:]
        if np.all(np.isfinite(conv)) and np.all(conv > 0):
            r["stage_conversions"] = dict(zip(open_names[first:], conv.tolist(), strict=True))
    created = o["created_date"].between(start, end).sum()
    a = wb.activities
    a = a[a["rep_id"].isin(rep_ids) & a["date"].between(start, end)]
    n_acts = a["count"].sum()
    r["activity_to_opp"] = min(1.0, created / n_acts) if n_acts > 0 and created > 0 else None
    mix = a.groupby("type")["count"].sum()
    r["activity_mix"] = mix[mix > 0].astype(float).to_dict() if n_acts > 0 else None
    return r


def reverse_funnel_from_history(
    wb: Any,
    rep_id: str,
    target: float,
    *,
    weeks: int = 13,
    as_of: Any = None,
    lookback_days: int = 365,
    min_closed: int = 10,
    **overrides: Any,
) -> ReverseFunnel:
    """:func:`reverse_funnel` with rates from the rep's last ``lookback_days`` of deals.

    With fewer than ``min_closed`` closed deals the rep's team (then everyone) is used
    instead, and the result's ``notes`` say so. Keyword ``overrides`` (``win_rate=``,
    ``avg_deal_size=``, ``stage_conversions=``, ``activity_to_opp=``, ``activity_mix=``)
    replace the computed rate.

    Examples
    --------
    >>> rf = reverse_funnel_from_history(wb, "R001", 150_000)   # doctest: +SKIP
    >>> rf.table()                                               # doctest: +SKIP
    """
    allowed = {
        "win_rate",
        "avg_deal_size",
        "stage_conversions",
        "activity_to_opp",
        "activity_mix",
        "win_rate_by_value",
    }
    unknown = set(overrides) - allowed
    if unknown:
        raise ParameterError(f"Unknown overrides {sorted(unknown)!r}. Fix: use {sorted(allowed)}.")
    rep = wb.rep(rep_id)
    end = pd.Timestamp(as_of) if as_of is not None else wb.as_of
    start = end - pd.Timedelta(days=lookback_days)
    team_col = "team" if "team" in wb.reps.columns and pd.notna(rep.get("team")) else "region"
    groups = [
        ("your own", [rep["rep_id"]]),
        (f"your {team_col}'s", wb.reps.loc[wb.reps[team_col] == rep[team_col], "rep_id"].tolist()),
        ("the whole team's", wb.reps["rep_id"].tolist()),
    ]
    notes, used = [], None
    for label, ids in groups:
        rates = history_rates(wb, ids, start, end)
        if rates["closed"] >= min_closed and rates["win_rate"] and rates["avg_deal_size"]:
            used = label
            break
    if used is None:
        if not all(k in overrides for k in ("win_rate", "avg_deal_size")):
            raise NotEnoughDataError(
                f"Fewer than {min_closed} deals closed between {start:%Y-%m-%d} and "
                f"{end:%Y-%m-%d} for rep {rep_id!r}, their team or the whole team. Fix: pass "
                "win_rate= and avg_deal_size=, or a longer lookback_days=."
            )
        used = "given"
    if used != "your own":
        notes.append(
            f"Rates are {used} (rep {rep_id!r} closed too few deals in {lookback_days} days)."
        )
    params = {k: rates.get(k) for k in allowed} if used != "given" else {}
    params.update(overrides)
    params = {k: v for k, v in params.items() if v is not None}
    if "activity_to_opp" not in params:
        notes.append("No activities recorded: the activity rows are left out.")
    rf = reverse_funnel(target, weeks=weeks, **params)
    inputs = {k: params.get(k) for k in sorted(allowed)} | {
        "source": used,
        "from": start,
        "to": end,
    }
    return ReverseFunnel(
        **{f.name: getattr(rf, f.name) for f in fields(rf) if f.name not in ("notes", "inputs")},
        notes=notes + rf.notes,
        inputs=inputs,
    )

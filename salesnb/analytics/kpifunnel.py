"""Funnel and hygiene KPIs: :func:`stage_conversion`, :func:`bottleneck`, :func:`hygiene`,
:func:`hygiene_summary`, :func:`slipped`.

Public through :mod:`salesnb.analytics.kpis` (its docstring gives the shared signature).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesnb.analytics.kpibase import (
    By,
    DateLike,
    Freq,
    _by_columns,
    _Call,
    _call,
    _check_freq,
    _Cube,
    _days,
    _outcomes,
    _ts,
    ratio,
)
from salesnb.core.errors import ParameterError
from salesnb.data.model import Workbook


# --------------------------------------------------------------------------- funnel
def _reach(call: _Call, o: pd.DataFrame) -> np.ndarray:
    """Index of the furthest stage each deal reached (open stages 0..k-1, won = k)."""
    cat = call.wb.config.stages
    order = {s: i for i, s in enumerate(cat.open_names)}
    k = len(cat.open_names)

    def pos(col: str) -> np.ndarray:
        codes, uniq = pd.factorize(o[col])
        return np.array([order.get(s, -1) for s in uniq] + [-1], dtype=np.int64)[codes]

    is_won, is_lost, is_open = _outcomes(o)
    furthest = pos("furthest_stage") if "furthest_stage" in o else np.full(len(o), -1)
    reach = np.where(is_open, np.maximum(pos("stage"), furthest), np.maximum(furthest, 0))
    reach = np.where(is_won, k, np.maximum(reach, 0))
    # A lost deal that does not say how far it got: -1 (not known), not "lost at the first".
    return np.where(is_lost & (furthest < 0), -1, reach)


#: Largest share of a group's deals that may be lost deals of unknown reach (no furthest stage,
#: no snapshot) for its stage conversions to be computed from the others; above it they are
#: not known (NaN).
UNKNOWN_REACH_TOLERANCE = 0.05


def stage_conversion(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
    include_open: bool = True,
) -> pd.DataFrame:  # fmt: skip
    """Stage-to-stage conversion of the deals created in the period (a long table).

    Definition: stage conversion = share of the deals that reached stage k which went on to reach
    stage k+1 (the last open stage converts to won). Won deals reached every stage, open deals the
    stages up to their current one, lost deals those up to their furthest stage.

    Returns one row per group, period and open stage: ``stage``, ``next_stage``, ``reached``,
    ``advanced`` (deal counts), ``unknown_reach`` (lost deals of the group that do not say how
    far they got: left out of the counts) and ``conversion`` (0-1; NaN when no deal reached the
    stage, or when more than :data:`UNKNOWN_REACH_TOLERANCE` of the group's deals are of unknown
    reach: the conversions are then not known). ``include_open=False`` counts closed deals only
    (open deals may still advance).

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.stage_conversion(kpis._example(), by=None).head(2)[["stage", "reached", "conversion"]]
           stage  reached  conversion
    0    Prospecting        6    0.833333
    1  Qualification        5    1.000000
    """
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    o = call.opps
    _, _, is_open = _outcomes(o)
    mask = call.in_window(o["created_date"]) & (include_open | ~is_open)
    rows = cube.add(cube.opp_reps(), o["created_date"], mask)
    cube.finalize()
    stages = [*call.wb.config.stages.open_names, call.wb.config.stages.won_name]
    k = len(stages) - 1
    reach = _reach(call, o)[rows.mask]
    unknown = reach < 0
    cells = rows.cells[~unknown]
    hist = np.bincount(cells * (k + 1) + reach[~unknown], minlength=cube.n * (k + 1))
    reached = hist.reshape(cube.n, k + 1)[:, ::-1].cumsum(axis=1)[:, ::-1]
    n_unknown = np.bincount(rows.cells[unknown], minlength=cube.n)
    too_many = n_unknown > UNKNOWN_REACH_TOLERANCE * (reached[:, 0] + n_unknown)
    base = cube.frame({})
    out = base.take(np.repeat(np.arange(len(base)), k)).reset_index(drop=True)
    out["stage"] = pd.Series(np.tile(stages[:-1], cube.n), dtype="str")
    out["next_stage"] = pd.Series(np.tile(stages[1:], cube.n), dtype="str")
    out["reached"] = reached[:, :-1].ravel()
    out["advanced"] = reached[:, 1:].ravel()
    out["unknown_reach"] = np.repeat(n_unknown, k)
    conv = ratio(out["advanced"], out["reached"])
    out["conversion"] = np.where(np.repeat(too_many, k), np.nan, conv)
    return out


def bottleneck(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
    min_deals: int = 5,
) -> pd.DataFrame:  # fmt: skip
    """The stage where each group loses most deals compared with the whole team.

    Definition: bottleneck = the stage whose conversion is lowest relative to the whole team's
    conversion at that stage (``relative`` = conversion / team conversion; ties go to the lower
    conversion, then the earlier stage), among stages reached by at least ``min_deals`` deals.

    Returns ``stage``, ``next_stage``, ``reached``, ``conversion``, ``team_conversion`` and
    ``relative``; NaN when no stage qualifies.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.bottleneck(kpis._example(), by=None, min_deals=1)[["stage", "conversion"]]
          stage  conversion
    0  Proposal         0.5
    """
    conv = stage_conversion(wb, by, freq, start=start, end=end, period=period, as_of=as_of)
    team = stage_conversion(wb, None, freq, start=start, end=end, period=period, as_of=as_of)
    keys = _by_columns(by) + (["period"] if freq else [])
    on = ["stage"] + (["period"] if freq else [])
    team = team[on + ["conversion"]].rename(columns={"conversion": "team_conversion"})
    df = conv.merge(team, on=on, how="left")
    df["relative"] = ratio(df["conversion"], df["team_conversion"])
    df["_order"] = df.groupby(keys, sort=False).cumcount() if keys else np.arange(len(df))
    eligible = (df["reached"] >= min_deals) & df["relative"].notna()
    best = df[eligible].sort_values([*keys, "relative", "conversion", "_order"])
    best = best.drop_duplicates(keys, keep="first") if keys else best.head(1)
    cols = ["stage", "next_stage", "reached", "conversion", "team_conversion", "relative"]
    grid = conv[keys].drop_duplicates().reset_index(drop=True) if keys else pd.DataFrame(index=[0])
    out = (
        grid.merge(best[keys + cols], on=keys, how="left")
        if keys
        else best[cols].reset_index(drop=True).reindex(range(1))
    )
    return out


# --------------------------------------------------------------------------- hygiene
def _median_won_cycle(call: _Call) -> float:
    o = call.opps
    is_won, _, _ = _outcomes(o)
    cycle = _days(o["close_date"], o["created_date"])[is_won]
    return float(np.nanmedian(cycle)) if np.isfinite(cycle).any() else np.nan


def hygiene(wb: Workbook, *, as_of: DateLike = None) -> pd.DataFrame:
    """Pipeline hygiene of each deal open at as-of.

    Definition: deal age = days from creation to as-of; a deal is stale when more than
    ``stale_after_days`` days passed since its last activity (its creation when it has none),
    past-due when it is open with a close date before as-of, and old when its age exceeds
    ``old_age_multiple`` x the median sales cycle of all won deals up to as-of.

    Returns one row per open deal: ``opp_id``, ``rep_id``, ``account``, ``stage``, ``amount``,
    ``created_date``, ``close_date``, ``age_days``, ``days_since_activity`` (NaN when the last
    activity is after as-of), ``days_past_due`` (0 unless past due), ``stale``, ``past_due``,
    ``old``; sorted by rep and deal.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.hygiene(kpis._example())[["opp_id", "age_days", "stale", "past_due", "old"]]
      opp_id  age_days  stale  past_due    old
    0     o4      30.0  False     False  False
    1     o5      80.0   True      True   True
    """
    call = _call(wb, None, None, None, None, None, as_of)
    o = call.opps
    _, _, is_open = _outcomes(o)
    cols = ["opp_id", "rep_id", "account", "stage", "amount", "created_date", "close_date"]
    d = o.loc[is_open, [c for c in cols if c in o]].copy()
    as_of64 = np.datetime64(call.as_of, "ns")
    d["age_days"] = _days(as_of64, d["created_date"])
    last = o.loc[is_open, "last_activity_date"] if "last_activity_date" in o else d["created_date"]
    last = last.fillna(d["created_date"])
    since = _days(as_of64, last)
    d["days_since_activity"] = np.where(since >= 0, since, np.nan)
    past = _days(as_of64, d["close_date"])
    d["days_past_due"] = np.where(past > 0, past, 0.0)
    cfg = call.wb.config
    d["stale"] = d["days_since_activity"].to_numpy() > cfg.stale_after_days
    d["past_due"] = past > 0
    d["old"] = d["age_days"].to_numpy() > cfg.old_age_multiple * _median_won_cycle(call)
    return d.sort_values(["rep_id", "opp_id"]).reset_index(drop=True)


def hygiene_summary(wb: Workbook, by: By = "rep", *, as_of: DateLike = None) -> pd.DataFrame:
    """Pipeline hygiene aggregated by group (see :func:`hygiene` for the definitions).

    Returns ``open_deals``, ``stale_deals``, ``past_due_deals``, ``old_deals`` (counts),
    ``stale_amount``, ``past_due_amount`` (currency) and ``median_age_days``.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.hygiene_summary(kpis._example(), by="rep")[["rep_id", "open_deals", "stale_deals"]]
      rep_id  open_deals  stale_deals
    0     r1           1            0
    1     r2           1            1
    """
    call = _call(wb, by, None, None, None, None, as_of)
    d = hygiene(wb, as_of=call.as_of)
    cube = _Cube(call)
    rows = cube.add(cube.rep_positions(d["rep_id"]), None, np.ones(len(d), bool))
    cube.finalize()
    n, amount = cube.n, d["amount"].to_numpy(dtype=float)
    stale, past, old = (d[c].to_numpy(dtype=float) for c in ("stale", "past_due", "old"))
    return cube.frame(
        {"open_deals": rows.count(n), "stale_deals": rows.sum(n, stale).astype(np.int64),
         "past_due_deals": rows.sum(n, past).astype(np.int64),
         "old_deals": rows.sum(n, old).astype(np.int64), "stale_amount": rows.sum(n, amount * stale),
         "past_due_amount": rows.sum(n, amount * past),
         "median_age_days": rows.median(n, d["age_days"].to_numpy())}
    )  # fmt: skip


def _snapshot_at(wb: Workbook, when: DateLike, name: str) -> tuple[pd.Timestamp, pd.DataFrame]:
    ts = _ts(when, name)
    s = wb.snapshots
    dates = s["as_of"][s["as_of"] <= ts]
    if dates.empty:
        first = s["as_of"].min() if len(s) else None
        msg = (
            f"No pipeline snapshot on or before {name}={when!r}"
            + (f" (the first is {first.date()})." if first is not None else " (there are none).")
            + " Fix: pick a later date or load a snapshots table."
        )
        raise ParameterError(msg)
    taken = dates.max()
    return taken, s[s["as_of"] == taken]


def slipped(wb: Workbook, before: DateLike, after: DateLike, *, freq: Freq = "Q") -> pd.DataFrame:
    """Deals whose expected close date slipped out of its period between two snapshots.

    Definition: a deal slipped when it is open in both snapshots and its close date in the later
    snapshot falls after the end of the period (``freq``) that held its close date in the earlier
    one; days pushed = later close date - earlier close date.

    ``before`` and ``after`` pick the latest snapshot on or before each date.

    Returns one row per slipped deal: ``opp_id``, ``rep_id``, ``stage``, ``amount``,
    ``close_date_before``, ``close_date_after``, ``period_before``, ``period_after``,
    ``days_pushed`` and the snapshot dates ``before`` and ``after``.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.slipped(kpis._example(), "2026-03-01", "2026-03-31")[["opp_id", "days_pushed"]]
      opp_id  days_pushed
    0     o4         30.0
    """
    _check_freq(freq)
    if freq is None:
        raise ParameterError("slipped needs freq='M', 'Q' or 'Y'. Fix: pass freq='Q'.")
    t0, s0 = _snapshot_at(wb, before, "before")
    t1, s1 = _snapshot_at(wb, after, "after")
    kind = wb.config.stages.kind_of()
    s0 = s0[s0["stage"].map(kind).fillna("open").eq("open")]
    s1 = s1[s1["stage"].map(kind).fillna("open").eq("open")]
    both = s0[["opp_id", "close_date"]].merge(
        s1[["opp_id", "rep_id", "stage", "amount", "close_date"]],
        on="opp_id", suffixes=("_before", "_after"),
    )  # fmt: skip
    both = both.dropna(subset=["close_date_before", "close_date_after"])
    cal = wb.config.calendar
    both["period_before"] = cal.period_of(both["close_date_before"], freq).astype("str")
    both["period_after"] = cal.period_of(both["close_date_after"], freq).astype("str")
    ends = {p: cal.period_bounds(p)[1] for p in both["period_before"].unique()}
    period_end = both["period_before"].map(ends)
    out = both[both["close_date_after"] > period_end].copy()
    out["days_pushed"] = _days(out["close_date_after"], out["close_date_before"])
    out["before"], out["after"] = t0, t1
    cols = ["opp_id", "rep_id", "stage", "amount", "close_date_before", "close_date_after",
            "period_before", "period_after", "days_pushed", "before", "after"]  # fmt: skip
    return out[cols].sort_values(["rep_id", "opp_id"]).reset_index(drop=True)

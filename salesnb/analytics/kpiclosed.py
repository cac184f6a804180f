"""KPIs of closed deals and targets: :func:`bookings`, :func:`win_rate`, :func:`avg_deal_size`,
:func:`sales_cycle`, :func:`quota_attainment`.

Public through :mod:`salesnb.analytics.kpis` (its docstring gives the shared signature).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesnb.analytics.kpibase import (
    By,
    DateLike,
    Freq,
    _Call,
    _call,
    _Cube,
    _days,
    _outcomes,
    _Rows,
    add_closed_rates,
    ratio,
)
from salesnb.data.model import Workbook


# --------------------------------------------------------------------------- closed deals
def _closed(call: _Call, cube: _Cube) -> dict[str, np.ndarray]:
    o = call.opps
    rep = cube.opp_reps()
    is_won, is_lost, _ = _outcomes(o)
    window = call.in_window(o["close_date"])
    won = cube.add(rep, o["close_date"], is_won & window)
    lost = cube.add(rep, o["close_date"], is_lost & window)
    cube.finalize()
    n, amount = cube.n, o["amount"].to_numpy(dtype=float)
    cycle = _days(o["close_date"], o["created_date"])
    stats = {
        "won_deals": won.count(n),
        "lost_deals": lost.count(n),
        "bookings": won.sum(n, amount),
        "lost_amount": lost.sum(n, amount),
    }
    add_closed_rates(stats)
    stats["median_cycle_days"] = won.median(n, cycle)
    return stats


def _closed_frame(wb, by, freq, start, end, period, as_of, cols: list[str]) -> pd.DataFrame:
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    stats = _closed(call, cube)
    return cube.frame({c: stats[c] for c in cols})


def bookings(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Bookings: the closed-won amount (currency) and number of won deals.

    Definition: bookings = sum of the amounts of deals won with a close date in the period.

    Returns columns ``bookings`` (currency) and ``won_deals``; 0 where nothing was won.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.bookings(kpis._example(), by="region")
      region  bookings  won_deals
    0   East    1000.0          2
    1   West       0.0          0
    """
    return _closed_frame(wb, by, freq, start, end, period, as_of, ["bookings", "won_deals"])


def win_rate(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Win rate by count and by value over deals closed in the period.

    Definition: win rate = won / (won + lost) over deals closed in the period, by count
    (``win_rate``) and by amount (``win_rate_value``); NaN when no deal closed.

    Returns ``won_deals``, ``lost_deals``, ``bookings``, ``lost_amount`` (currency), ``win_rate``
    and ``win_rate_value`` (shares 0-1).

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.win_rate(kpis._example(), by=None)[["won_deals", "lost_deals", "win_rate"]]
       won_deals  lost_deals  win_rate
    0          2           2       0.5
    """
    cols = ["won_deals", "lost_deals", "bookings", "lost_amount", "win_rate", "win_rate_value"]
    return _closed_frame(wb, by, freq, start, end, period, as_of, cols)


def avg_deal_size(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Average deal size (currency).

    Definition: average deal size = mean amount of the deals won in the period; NaN when none.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.avg_deal_size(kpis._example(), by=None)
       won_deals  avg_deal_size
    0          2          500.0
    """
    return _closed_frame(wb, by, freq, start, end, period, as_of, ["won_deals", "avg_deal_size"])


def sales_cycle(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Sales cycle in days.

    Definition: sales cycle = median number of days from creation to close over the deals won in
    the period; NaN when none.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.sales_cycle(kpis._example(), by=None)
       won_deals  median_cycle_days
    0          2               47.5
    """
    return _closed_frame(
        wb, by, freq, start, end, period, as_of, ["won_deals", "median_cycle_days"]
    )


# --------------------------------------------------------------------------- targets
def _targets(call: _Call, cube: _Cube) -> _Rows:
    """Register target rows; call before ``cube.finalize``. Values are in ``rows.amount``."""
    t = call.wb.targets
    month_start = pd.to_datetime(t["month"]).dt.to_period("M").dt.start_time
    month_end = month_start + pd.offsets.MonthEnd(0)
    ok = np.ones(len(t), dtype=bool)
    if call.start is not None:
        ok &= (month_end >= call.start).to_numpy()
    if call.end is not None:
        ok &= (month_start <= call.end).to_numpy()
    is_rep = np.array(t["rep_id"].notna(), dtype=bool)
    is_region = ~is_rep & np.array(t["region"].notna(), dtype=bool)
    reps = cube._reps.set_index("rep_id")
    rep_ids = t["rep_id"].copy()
    if call.cols in ([], ["region"]) and is_region.any():
        # Region rows replace the sum of the reps' rows for that region and month.
        rep_region = t["rep_id"].map(reps["region"])
        covered = pd.MultiIndex.from_arrays([t["region"][is_region], month_start[is_region]])
        mine = pd.MultiIndex.from_arrays([rep_region, month_start])
        is_rep &= ~mine.isin(covered)
        # A region row is booked to the region's first rep: every rep of a region shares its key.
        first_rep = cube._reps.drop_duplicates("region").set_index("region")["rep_id"]
        rep_ids = rep_ids.where(~pd.Series(is_region, index=t.index), t["region"].map(first_rep))
        is_region &= rep_ids.notna().to_numpy()
    else:
        is_region[:] = False
    use = ok & (is_rep | is_region)
    rows = cube.add(cube.rep_positions(rep_ids, use), month_start, use)
    rows.amount = t["amount"].to_numpy(dtype=float)
    return rows


def _target_values(rows: _Rows, n: int) -> np.ndarray:
    total = rows.sum(n, rows.amount)
    return np.where(rows.count(n) > 0, total, np.nan)


def quota_attainment(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Quota attainment: bookings against target.

    Definition: quota attainment = closed-won amount in the period / target for the period. A
    rep's target is the sum of its monthly target rows; a region's, manager's, team's or the whole
    team's is the sum of its reps' targets, except that region target rows (no rep) replace the
    reps' rows of that region and month when grouping by region or by nothing. Target months
    count when they overlap the window. NaN when there is no target (or it is 0).

    Returns ``target``, ``bookings`` (currency) and ``attainment`` (a share: 1.0 = 100 %).

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.quota_attainment(kpis._example(), by="rep", period="FY2026-Q1")
      rep_id  target  bookings  attainment
    0     r1   800.0    1000.0        1.25
    1     r2     NaN       0.0         NaN
    """
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    trows = _targets(call, cube)
    stats = _closed(call, cube)
    target = _target_values(trows, cube.n)
    return cube.frame(
        {"target": target, "bookings": stats["bookings"],
         "attainment": ratio(stats["bookings"], target)}
    )  # fmt: skip

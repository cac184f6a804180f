"""KPIs of the open pipeline: :func:`pipeline`, :func:`weighted_pipeline`, :func:`coverage`,
:func:`velocity`, :func:`concentration`.

Public through :mod:`salesnb.analytics.kpis` (its docstring gives the shared signature).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from salesnb.analytics.kpibase import (
    By,
    DateLike,
    Freq,
    _Call,
    _call,
    _Cube,
    _outcomes,
    _probabilities,
    ratio,
)
from salesnb.analytics.kpiclosed import (
    _closed,
    _target_values,
    _targets,
)
from salesnb.data.model import Workbook


# --------------------------------------------------------------------------- open pipeline
def _open(call: _Call, cube: _Cube, probabilities=None, finalize: bool = True) -> dict:
    o = call.opps
    rep = cube.opp_reps()
    _, _, is_open = _outcomes(o)
    rows = cube.add(rep, o["close_date"], is_open & call.in_window(o["close_date"]))
    amount = o["amount"].to_numpy(dtype=float)
    prob = _probabilities(call, o, probabilities)
    if finalize:
        cube.finalize()
    return {"rows": rows, "amount": amount, "weighted": amount * prob}


def pipeline(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
    probabilities: Mapping[str, float] | pd.Series | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Open pipeline and weighted pipeline (currency), by expected close date.

    Definition: pipeline = sum of the amounts of deals open at as-of with an expected close date in
    the period. Weighted pipeline = sum of amount x win probability of the deal's stage, from the
    stage catalogue unless ``probabilities`` are passed.

    Parameters
    ----------
    probabilities : mapping or Series, optional
        Learned win probabilities (0-1) by stage name, overriding the catalogue for those stages;
        or a Series whose index is named ``opp_id`` giving each deal its own probability.

    Returns ``open_deals``, ``pipeline`` and ``weighted_pipeline``. With ``freq`` or a window,
    open deals without a close date are left out.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.pipeline(kpis._example(), by=None)
       open_deals  pipeline  weighted_pipeline
    0           2    1500.0              650.0
    """
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    p = _open(call, cube, probabilities)
    rows, n = p["rows"], cube.n
    return cube.frame(
        {"open_deals": rows.count(n), "pipeline": rows.sum(n, p["amount"]),
         "weighted_pipeline": rows.sum(n, p["weighted"])}
    )  # fmt: skip


def weighted_pipeline(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
    probabilities: Mapping[str, float] | pd.Series | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Weighted pipeline only (currency); see :func:`pipeline` for the definition.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.weighted_pipeline(kpis._example(), by=None, probabilities={"Proposal": 0.4})
       open_deals  weighted_pipeline
    0           2              550.0
    """
    df = pipeline(
        wb, by, freq, start=start, end=end, period=period, as_of=as_of, probabilities=probabilities
    )
    return df.drop(columns="pipeline")


def coverage(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Pipeline coverage of the target still to close.

    Definition: pipeline coverage = open pipeline due in the period / (target for the period -
    bookings already won in the period). When the target is already met nothing remains to cover:
    coverage is NaN and ``target_met`` is True. NaN as well when there is no target.

    Returns ``pipeline``, ``target``, ``bookings``, ``remaining_target`` (currency, >= 0),
    ``coverage`` (a multiple: 3.0 = 3x) and ``target_met``.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.coverage(kpis._example(), by="rep", period="FY2026-Q2")
      rep_id  pipeline  target  bookings  remaining_target  coverage  target_met
    0     r1    1000.0  1000.0       0.0            1000.0       1.0       False
    1     r2       0.0     NaN       0.0               NaN       NaN       False
    >>> kpis.coverage(kpis._example(), by="rep", period="FY2026-Q1").loc[0, "target_met"]
    np.True_
    """
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    trows = _targets(call, cube)
    p = _open(call, cube, finalize=False)
    stats = _closed(call, cube)
    n = cube.n
    target = _target_values(trows, n)
    pipe = p["rows"].sum(n, p["amount"])
    remaining = target - stats["bookings"]
    met = remaining <= 0
    return cube.frame(
        {"pipeline": pipe, "target": target, "bookings": stats["bookings"],
         "remaining_target": np.where(met, 0.0, remaining),
         "coverage": np.where(met, np.nan, ratio(pipe, remaining)), "target_met": met}
    )  # fmt: skip


def velocity(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Sales velocity (currency per day).

    Definition: sales velocity = open deals x win rate x average deal size / sales cycle in days,
    with open deals due in the period and the win rate, deal size and cycle of the deals closed in
    it (whole history up to as-of without a window); NaN when any part is undefined or the cycle
    is 0 days.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.velocity(kpis._example(), by=None)[["open_deals", "velocity"]]
       open_deals   velocity
    0           2  10.526316
    """
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    p = _open(call, cube, finalize=False)
    stats = _closed(call, cube)
    opened = p["rows"].count(cube.n)
    cycle = stats["median_cycle_days"]
    value = opened * stats["win_rate"] * stats["avg_deal_size"]
    return cube.frame(
        {"open_deals": opened, "win_rate": stats["win_rate"],
         "avg_deal_size": stats["avg_deal_size"], "median_cycle_days": cycle,
         "velocity": ratio(value, np.where(np.isnan(value), np.nan, cycle))}
    )  # fmt: skip


def concentration(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """How much of the open pipeline rides on the biggest deals.

    Definition: concentration = share of the open pipeline (due in the period) in the largest deal
    (``top_deal_share``) and in the three largest (``top3_share``); NaN when the pipeline is 0.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.concentration(kpis._example(), by=None)
       open_deals  pipeline  largest_deal  top_deal_share  top3_share
    0           2    1500.0        1000.0        0.666667         1.0
    """
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    p = _open(call, cube)
    rows, n = p["rows"], cube.n
    cells, amount = rows.cells, p["amount"][rows.mask]
    order = np.lexsort((-amount, cells))
    cells, amount = cells[order], amount[order]
    first = np.searchsorted(cells, cells, side="left")
    rank = np.arange(len(cells)) - first
    total = np.bincount(cells, amount, minlength=n)
    largest = np.bincount(cells[rank == 0], amount[rank == 0], minlength=n)
    top3 = np.bincount(cells[rank < 3], amount[rank < 3], minlength=n)
    count = np.bincount(cells, minlength=n)
    return cube.frame(
        {"open_deals": count, "pipeline": total,
         "largest_deal": np.where(count > 0, largest, np.nan),
         "top_deal_share": ratio(largest, total), "top3_share": ratio(top3, total)}
    )  # fmt: skip

"""Growth and activity KPIs: :func:`growth`, :func:`activity_counts`,
:func:`activity_conversion`, :func:`new_vs_existing`.

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
    _outcomes,
    _Rows,
    ratio,
)
from salesnb.analytics.kpiclosed import (
    _closed,
)
from salesnb.core.errors import ParameterError
from salesnb.data.model import Workbook
from salesnb.data.schema import ACTIVITY_TYPES


# --------------------------------------------------------------------------- growth, activity
def growth(
    wb: Workbook, by: By = "rep", freq: Freq = "Q", *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Bookings growth against the previous period.

    Definition: growth = bookings in the period / bookings in the previous period - 1; NaN when
    the previous period had no bookings or lies before the data.

    Returns ``bookings``, ``previous_bookings`` (currency) and ``growth`` (a share: 0.1 = +10 %).

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.growth(kpis._example(), by=None, freq="M")[["period", "bookings", "growth"]]
        period  bookings  growth
    0  2026-01     400.0     NaN
    1  2026-02     600.0     0.5
    2  2026-03       0.0    -1.0
    """
    if freq is None:
        raise ParameterError("growth needs freq='M', 'Q' or 'Y'. Fix: pass freq='Q'.")
    call = _call(wb, by, freq, start, end, period, as_of)
    first = None
    if call.start is not None:
        cal = wb.config.calendar
        first = cal.period_label(call.start, freq)
        prev_start = cal.period_bounds(first)[0] - pd.Timedelta(days=1)
        prev = cal.period_label(prev_start, freq)
        # Read the whole previous period, but not the days between its end and ``start``.
        if call.start > prev_start + pd.Timedelta(days=1):
            call.gap = (prev_start + pd.Timedelta(days=1), call.start - pd.Timedelta(days=1))
        call.start = cal.period_bounds(prev)[0]
    cube = _Cube(call)
    stats = _closed(call, cube)
    df = cube.frame({"bookings": stats["bookings"]})
    keys = call.cols
    prev = df.groupby(keys, sort=False)["bookings"].shift(1) if keys else df["bookings"].shift(1)
    df["previous_bookings"] = prev
    df["growth"] = ratio(df["bookings"], df["previous_bookings"]) - 1
    if first is not None:
        df = df[df["period"] != df["period"].iloc[0]].reset_index(drop=True) if len(df) else df
    return df


def _activities(call: _Call, cube: _Cube) -> tuple[_Rows, np.ndarray, pd.DataFrame]:
    a = call.wb.activities
    mask = call.in_window(a["date"]) & ~(a["date"] > call.as_of).to_numpy()
    rows = cube.add(cube.rep_positions(a["rep_id"]), a["date"], mask)
    return rows, a["count"].to_numpy(dtype=float), a


def activity_counts(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Activity counts by type.

    Definition: activity count = number of activities of each type (call, email, meeting, demo and
    any other type in the data) logged in the period.

    Returns ``calls``, ``emails``, ``meetings``, ``demos`` (plus other types under their own
    name) and ``activities`` (all types), as int counts.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.activity_counts(kpis._example(), by=None)
       calls  emails  meetings  demos  activities
    0     10       5         2      0          17
    """
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    rows, count, a = _activities(call, cube)
    cube.finalize()
    types = list(ACTIVITY_TYPES) + sorted(set(a["type"].dropna()) - set(ACTIVITY_TYPES))
    kind = a["type"].to_numpy(dtype=object)
    values = {}
    for t in types:
        name = f"{t}s" if t in ACTIVITY_TYPES else str(t)
        values[name] = rows.sum(cube.n, count * (kind == t)).astype(np.int64)
    values["activities"] = rows.sum(cube.n, count).astype(np.int64)
    return cube.frame(values)


def activity_conversion(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Activity-to-opportunity conversion.

    Definition: activity-to-opportunity conversion = opportunities created in the period /
    activities logged in the period; NaN when there were no activities.

    Returns ``activities``, ``created_deals`` (counts) and ``opportunities_per_activity``.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.activity_conversion(kpis._example(), by=None)
       activities  created_deals  opportunities_per_activity
    0          17              6                    0.352941
    """
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    rows, count, _ = _activities(call, cube)
    o = call.opps
    created = cube.add(cube.opp_reps(), o["created_date"],
                       call.in_window(o["created_date"]))  # fmt: skip
    cube.finalize()
    acts, made = rows.sum(cube.n, count), created.count(cube.n)
    return cube.frame(
        {"activities": acts.astype(np.int64), "created_deals": made,
         "opportunities_per_activity": ratio(made, acts)}
    )  # fmt: skip


def new_vs_existing(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """New-customer acquisition: bookings from new versus existing accounts.

    Definition: a new customer is an account whose first won deal (over all history up to as-of)
    closed in the period; that first deal's amount is new-account bookings, later won deals with
    the account are existing-account bookings, and won deals without an account are counted apart.

    Returns ``new_accounts`` (count), ``new_account_bookings``, ``existing_account_bookings`` and
    ``no_account_bookings`` (currency; the three add up to bookings).

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.new_vs_existing(kpis._example(), by=None)[["new_accounts", "existing_account_bookings"]]
       new_accounts  existing_account_bookings
    0             1                      600.0
    """
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    o = call.opps
    is_won, _, _ = _outcomes(o)
    has_account = o["account"].notna().to_numpy() if "account" in o else np.zeros(len(o), bool)
    won = o[is_won & has_account]
    first_ids = won.sort_values(["close_date", "opp_id"]).drop_duplicates("account")["opp_id"]
    is_first = o["opp_id"].isin(first_ids).to_numpy() & is_won & has_account
    rep, window = cube.opp_reps(), call.in_window(o["close_date"])
    new = cube.add(rep, o["close_date"], window & is_first)
    old = cube.add(rep, o["close_date"], window & is_won & has_account & ~is_first)
    none = cube.add(rep, o["close_date"], window & is_won & ~has_account)
    cube.finalize()
    n, amount = cube.n, o["amount"].to_numpy(dtype=float)
    return cube.frame(
        {"new_accounts": new.count(n), "new_account_bookings": new.sum(n, amount),
         "existing_account_bookings": old.sum(n, amount),
         "no_account_bookings": none.sum(n, amount)}
    )  # fmt: skip

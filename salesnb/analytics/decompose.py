"""Top-down target decomposition: exact splits, seasonality, fiscal quarters/months/weeks, reps.

Every split here adds up *exactly*: amounts are counted in whole ``unit`` s (currency
units by default, cents with ``unit=0.01``) and shared out by the largest-remainder
method (see :func:`split_by_weights` and ``docs/goals.md``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from salesnb.core.errors import ParameterError

__all__ = [
    "Decomposition",
    "decompose_annual",
    "largest_remainder",
    "seasonality_weights",
    "split_across",
    "split_by_weights",
]

_MONTH_ABBR = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS_PER_MONTH = 365.25 / 12


# --------------------------------------------------------------------------- exact splitting
def _units(total: float, unit: float) -> int:
    """``total`` as a whole number of ``unit`` s; a ParameterError if it is not one."""
    if not isinstance(unit, int | float) or not math.isfinite(unit) or unit <= 0:
        raise ParameterError(f"unit is {unit!r}. Fix: use a positive number such as 1 or 0.01.")
    try:
        t = float(total)
    except (TypeError, ValueError):
        raise ParameterError(f"The total {total!r} is not a number. Fix: pass a number.") from None
    if not math.isfinite(t) or t < 0:
        raise ParameterError(f"The total {total!r} must be a finite number >= 0. Fix: pass one.")
    n = t / unit
    k = round(n)
    if abs(n - k) > max(1e-6, 1e-9 * abs(n)):
        msg = (
            f"The total {total!r} is not a whole number of units of {unit!r}, so its parts "
            f"cannot add up to it exactly. Fix: round the total (e.g. {k * unit:.10g}) or pass "
            "a smaller unit such as unit=0.01."
        )
        raise ParameterError(msg)
    if k > 2**52:
        raise ParameterError(f"The total {total!r} is too large to split in units of {unit!r}.")
    return int(k)


def largest_remainder(n: int, w: np.ndarray, remainder_to: int | None = None) -> np.ndarray:
    """Whole parts of ``n`` units proportional to ``w``, summing exactly to ``n``.

    The primitive under :func:`split_by_weights`, with no validation: ``w`` must hold finite
    weights >= 0 (all zero = an even split). Left-over units go one each to the largest
    fractional shares (ties: larger weight, then earlier position), or all to the part at
    position ``remainder_to``.

    Parameters
    ----------
    n : int
        Number of whole units to share out (>= 0).
    w : ndarray
        Weights of the parts.
    remainder_to : int, optional
        Position of the part that takes every left-over unit.

    Returns
    -------
    ndarray of int64
        Units per part.

    Examples
    --------
    >>> largest_remainder(10, np.array([1.0, 1.0, 1.0])).tolist()
    [4, 3, 3]
    >>> largest_remainder(10, np.array([1.0, 1.0, 1.0]), remainder_to=2).tolist()
    [3, 3, 4]
    """
    m = len(w)
    wsum = float(w.sum())
    if wsum <= 0:  # nothing to go by: an even split
        w, wsum = np.ones(m), float(m)
    quotas = n * (w / wsum)
    base = np.floor(quotas).astype(np.int64)
    left = int(n - base.sum())
    if remainder_to is not None:
        base[remainder_to] += left
        return base
    # Rounded fractions make near-ties (float noise) fall back to the weight, then position.
    frac = np.round(quotas - base, 9)
    order = np.lexsort((np.arange(m), -w, -frac))
    if left >= 0:
        base += left // m
        base[order[: left % m]] += 1
    else:  # float quotas overshot by a unit: take it back from the smallest fractions
        give_back = [i for i in order[::-1] if base[i] > 0][:-left]
        base[give_back] -= 1
    return base


def split_by_weights(
    total: float, weights: pd.Series, unit: float = 1.0, *, remainder_to: Any = None
) -> pd.Series:
    """Split ``total`` in proportion to ``weights`` so that the parts add up exactly.

    The total is counted in whole ``unit`` s; each part gets the whole units of its exact
    share, and the units left over go one each to the parts with the largest fractional
    shares (ties: larger weight first, then earlier position). With ``remainder_to`` set
    to a label of ``weights`` every left-over unit goes to that part instead.

    Parameters
    ----------
    total : float
        Amount to split (currency or a count), >= 0 and a whole number of ``unit`` s.
    weights : Series
        Relative weights (>= 0). NaN counts as 0; if every weight is 0 or NaN the split is even.
    unit : float, default 1.0
        Smallest amount a part may hold: 1 for whole currency units, 0.01 for cents.
    remainder_to : label, optional
        Put all left-over units on this part (e.g. a house account) instead.

    Returns
    -------
    Series
        Parts (same index as ``weights``) whose sum, in units, equals ``total``.

    Examples
    --------
    >>> split_by_weights(100, pd.Series([1, 1, 1], index=["a", "b", "c"])).tolist()
    [34.0, 33.0, 33.0]
    >>> split_by_weights(10, pd.Series({"x": 1.0, "y": 3.0}), unit=0.01).tolist()
    [2.5, 7.5]
    """
    n = _units(total, unit)
    w = _clean_weights(weights, "weights")
    pos = None
    if remainder_to is not None:
        if remainder_to not in w.index:
            raise ParameterError(
                f"remainder_to={remainder_to!r} is not one of the parts {list(w.index)!r}. "
                "Fix: name one of them or leave it out."
            )
        pos = int(w.index.get_loc(remainder_to))
    parts = largest_remainder(n, w.to_numpy(dtype=float), pos)
    return pd.Series(np.round(parts * unit, _decimals(unit)), index=w.index, name=weights.name)


def _decimals(unit: float) -> int:
    """Decimals that show ``unit`` exactly (at most 10): 0 for 1, 2 for 0.01 or 0.25."""
    # Rounding to 10 decimals regardless scaled large totals past float precision
    # (7641653750.0 came back as 7641653749.999999): round no finer than the unit.
    return next((d for d in range(11) if abs(round(unit, d) - unit) <= 1e-12 * unit), 10)


def _clean_weights(weights: Any, what: str) -> pd.Series:
    w = pd.Series(weights) if not isinstance(weights, pd.Series) else weights
    if w.empty:
        raise ParameterError(f"{what} is empty. Fix: give at least one part a weight.")
    if w.index.has_duplicates:
        dup = w.index[w.index.duplicated()].unique().tolist()
        raise ParameterError(f"{what} has duplicate labels {dup!r}. Fix: make them unique.")
    num = pd.to_numeric(w, errors="coerce").astype(float)
    bad = num.isna() & w.notna()
    if bad.any():
        raise ParameterError(
            f"{what} has non-numeric values {w[bad].tolist()[:3]!r}. Fix: use numbers >= 0."
        )
    num = num.fillna(0.0)
    if (num < 0).any() or np.isinf(num).any():
        raise ParameterError(
            f"{what} has negative or infinite values {num[(num < 0) | np.isinf(num)].tolist()[:3]!r}."
            " Fix: use finite weights >= 0."
        )
    return num


# --------------------------------------------------------------------------- seasonality
def _monthly_series(s: pd.Series, what: str) -> pd.Series:
    idx = s.index
    try:
        ts = idx.to_timestamp() if isinstance(idx, pd.PeriodIndex) else pd.to_datetime(idx)
    except (TypeError, ValueError):
        msg = f"{what} must be indexed by month (dates or 'YYYY-MM'). Got {list(idx[:3])!r}."
        raise ParameterError(msg + " Fix: index it by the first day of each month.") from None
    vals = pd.to_numeric(pd.Series(s.to_numpy(), index=ts), errors="coerce").fillna(0.0)
    month = vals.index.to_period("M").to_timestamp()
    out = vals.groupby(month).sum()
    if out.empty:
        return out.astype(float)
    full = pd.date_range(out.index.min(), out.index.max(), freq="MS")
    return out.reindex(full, fill_value=0.0).astype(float)


def seasonality_weights(
    monthly_bookings: pd.Series, min_months: int = 24, *, shrink: float | None = None
) -> pd.Series:
    """Weights of the 12 calendar months (summing to 1) from past monthly bookings.

    Each month's bookings are divided by the level of the series (a linear trend when
    there are at least 24 months, else the mean); a calendar month's raw index
    is the mean of its ratios. The index is then shrunk toward even by the credibility
    ``λ = months of history / min_months`` (capped at 1; ``shrink`` overrides it), so a
    short, noisy history moves the split only a little. Under 12 months the split is even.

    Parameters
    ----------
    monthly_bookings : Series
        Bookings (currency) indexed by month (dates, periods or 'YYYY-MM'); gaps count as 0.
    min_months : int, default 24
        Months of history needed for full weight on the estimated pattern.
    shrink : float, optional
        Weight λ in [0, 1] on the estimated pattern, overriding the rule above.

    Returns
    -------
    Series
        Index 1..12 (calendar month), values summing to 1.

    Examples
    --------
    >>> hist = pd.Series([10.0] * 11 + [30.0], index=pd.date_range("2025-01", periods=12, freq="MS"))
    >>> w = seasonality_weights(hist, min_months=12)
    >>> round(float(w[12] / w[1]), 6)
    3.0
    """
    s = _monthly_series(monthly_bookings, "monthly_bookings").clip(lower=0.0)
    n = len(s)
    even = pd.Series(1.0 / 12, index=pd.Index(range(1, 13), name="month"), name="weight")
    if n < 12 or s.sum() <= 0:
        return even
    if n >= 24:  # a trend needs two full years, else it soaks up the seasonality
        t = np.arange(n, dtype=float)
        slope, intercept = np.polyfit(t, s.to_numpy(), 1)
        level = intercept + slope * t
        if (level <= 0).any():  # a trend through zero would blow the ratios up
            level = np.full(n, s.mean())
    else:
        level = np.full(n, s.mean())
    ratio = pd.Series(s.to_numpy() / level, index=s.index.month)
    raw = ratio.groupby(level=0).mean().reindex(range(1, 13), fill_value=1.0)
    lam = min(1.0, n / max(1, min_months)) if shrink is None else float(shrink)
    if not 0.0 <= lam <= 1.0:
        raise ParameterError(f"shrink is {shrink!r}. Fix: use a number from 0 to 1.")
    index = 1.0 + lam * (raw.to_numpy() - 1.0)
    return pd.Series(index / index.sum(), index=even.index, name="weight")


# --------------------------------------------------------------------------- decomposition
@dataclass(frozen=True)
class Decomposition:
    """An annual target split into fiscal quarters, months and weeks; every level adds up.

    ``weeks`` holds *month weeks*: each month cut at Mondays into Monday-Sunday pieces
    (the first and last may be short), its amount shared by business days (Mon-Fri). Each
    row names its ISO week so rows can be regrouped into ISO weeks.
    """

    total: float
    unit: float
    year_start: pd.Timestamp
    method: str
    weights: pd.Series
    quarters: pd.DataFrame
    months: pd.DataFrame
    weeks: pd.DataFrame

    def check(self) -> None:
        """Raise :class:`ParameterError` unless each level adds up exactly to its parent."""
        u = self.unit

        def units(x: pd.Series) -> pd.Series:
            return (x / u).round().astype("int64")

        ok = units(self.quarters["amount"]).sum() == round(self.total / u)
        q = units(self.months["amount"]).groupby(self.months["quarter"]).sum()
        ok &= bool((q == units(self.quarters.set_index("quarter")["amount"]).loc[q.index]).all())
        w = units(self.weeks["amount"]).groupby(self.weeks["month"]).sum()
        ok &= bool((w == units(self.months.set_index("month")["amount"]).loc[w.index]).all())
        if not ok:
            raise ParameterError("The decomposition does not add up; this is a bug in salesnb.")


def _year_start(value: Any) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        ts = pd.NaT
    if isinstance(value, int) or pd.isna(ts):
        msg = (
            f"year_start is {value!r}. Fix: pass the first month of the (fiscal) year as a "
            "date, e.g. '2026-02' for a year running Feb 2026 - Jan 2027."
        )
        raise ParameterError(msg)
    return ts.to_period("M").to_timestamp()


def _fiscal_month_weights(weights: Any, history: pd.Series | None, start: pd.Timestamp):
    """(weights by the 12 fiscal month starts, method name)."""
    months = pd.date_range(start, periods=12, freq="MS")
    cal = months.month
    if weights is None:
        weights = "seasonal" if history is not None else "even"
    if isinstance(weights, str):
        if weights == "even":
            return pd.Series(1.0, index=months), "even"
        if weights == "seasonal":
            if history is None:
                raise ParameterError(
                    "weights='seasonal' needs history. Fix: pass history=<monthly bookings "
                    "Series> or use weights='even'."
                )
            sw = seasonality_weights(history)
            return pd.Series(sw.loc[cal].to_numpy(), index=months), "seasonal"
        raise ParameterError(
            f"weights={weights!r} is not understood. Fix: use 'seasonal', 'even' or a dict."
        )
    raw = dict(weights.items()) if isinstance(weights, Mapping | pd.Series) else None
    if raw is None:
        raise ParameterError(
            f"weights must be 'seasonal', 'even' or a dict, got {type(weights).__name__}."
        )
    keys = [str(k).strip().lower() for k in raw]
    vals = _clean_weights(pd.Series(list(raw.values()), index=keys), "weights")
    if all(k in ("q1", "q2", "q3", "q4") for k in keys):
        q = (np.arange(12) // 3) + 1
        per = vals.reindex([f"q{i}" for i in q], fill_value=0.0).to_numpy() / 3
        return pd.Series(per, index=months), "custom"
    num = {}
    for k, v in zip(keys, vals, strict=True):
        m = int(k) if k.isdigit() else (_MONTH_ABBR.index(k[:3]) + 1 if k[:3] in _MONTH_ABBR else 0)
        if not 1 <= m <= 12:
            raise ParameterError(
                f"Weight key {k!r} is not a month or fiscal quarter. Fix: use 1-12, 'jan'-'dec' "
                "or 'Q1'-'Q4'."
            )
        num[m] = v
    return pd.Series([num.get(m, 0.0) for m in cal], index=months), "custom"


def _month_weeks(months: pd.DatetimeIndex) -> pd.DataFrame:
    days = pd.date_range(months[0], months[-1] + pd.offsets.MonthEnd(0), freq="D")
    d = pd.DataFrame({"day": days})
    d["month"] = days.to_period("M").to_timestamp()
    d["monday"] = days - pd.to_timedelta(days.day_of_week, unit="D")
    d["bday"] = days.day_of_week < 5
    g = d.groupby(["month", "monday"], sort=True)
    w = g.agg(
        week_start=("day", "min"),
        week_end=("day", "max"),
        days=("day", "size"),
        business_days=("bday", "sum"),
    ).reset_index()
    iso = w["monday"].dt.isocalendar()
    w["iso_week"] = iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)
    return w.drop(columns="monday")


def decompose_annual(
    total: float,
    *,
    year_start: Any,
    weights: Any = None,
    history: pd.Series | None = None,
    unit: float = 1.0,
) -> Decomposition:
    """Split an annual target into fiscal quarters, months and weeks that add up exactly.

    Quarters are split from the total, months from their quarter and weeks from their
    month, each with :func:`split_by_weights`, so every level sums to its parent.

    Parameters
    ----------
    total : float
        Annual target (currency), a whole number of ``unit`` s.
    year_start : date-like
        First month of the fiscal year, e.g. ``"2026-01"``.
    weights : {"seasonal", "even"} or dict, optional
        ``"seasonal"`` uses :func:`seasonality_weights` of ``history``; a dict maps months
        (1-12 or 'jan'-'dec', calendar months) or fiscal quarters ('Q1'-'Q4') to weights.
        Default: seasonal when ``history`` is given, else even.
    history : Series, optional
        Past monthly bookings (currency) indexed by month.
    unit : float, default 1.0
        Rounding unit (1 = whole currency units, 0.01 = cents).

    Examples
    --------
    >>> d = decompose_annual(1_200_000, year_start="2026-01")
    >>> d.quarters["amount"].tolist()
    [300000.0, 300000.0, 300000.0, 300000.0]
    >>> float(d.weeks.loc[d.weeks["month"] == "2026-01-01", "amount"].sum())
    100000.0
    """
    start = _year_start(year_start)
    mw, method = _fiscal_month_weights(weights, history, start)
    _units(total, unit)
    months = mw.index
    qnum = np.arange(12) // 3 + 1
    fy = start.year + (1 if start.month > 1 else 0)  # named by the year it ends, as config does
    qlabel = pd.Index([f"FY{fy}-Q{q}" for q in qnum])
    mdf = pd.DataFrame({"month": months, "label": months.strftime("%Y-%m"), "quarter": qlabel})
    mdf["weight"] = mw.to_numpy() / mw.sum() if mw.sum() > 0 else 1.0 / 12
    qw = mdf.groupby("quarter", sort=False)["weight"].sum()
    qamt = split_by_weights(total, qw, unit)
    mdf["amount"] = pd.concat(
        [
            split_by_weights(qamt[q], g.set_index("month")["weight"], unit)
            for q, g in mdf.groupby("quarter", sort=False)
        ]
    ).to_numpy()
    qdf = pd.DataFrame(
        {
            "quarter": qw.index,
            "start": months[::3],
            "end": months[2::3] + pd.offsets.MonthEnd(0),
            "weight": qw.to_numpy(),
            "amount": qamt.to_numpy(),
        }
    )
    wk = _month_weeks(months)
    wk["quarter"] = wk["month"].map(dict(zip(mdf["month"], mdf["quarter"], strict=True)))
    mamt = mdf.set_index("month")["amount"]
    wk["amount"] = pd.concat(
        [
            split_by_weights(mamt[m], g["business_days"].astype(float), unit)
            for m, g in wk.groupby("month", sort=True)
        ]
    ).to_numpy()
    wk = wk[
        [
            "week_start",
            "week_end",
            "month",
            "quarter",
            "iso_week",
            "days",
            "business_days",
            "amount",
        ]
    ]
    out = Decomposition(
        float(total), unit, start, method, mw / mw.sum() if mw.sum() else mw, qdf, mdf, wk
    )
    out.check()
    return out


def _ramp(start_dates: pd.Series, as_of: pd.Timestamp, ramp_months: float, horizon: int):
    """Mean ramp fraction over ``horizon`` months from ``as_of`` (linear, mid-month)."""
    tenure = (as_of - start_dates).dt.days.to_numpy(dtype=float) / _DAYS_PER_MONTH
    mid = tenure[:, None] + np.arange(horizon)[None, :] + 0.5
    frac = np.clip(mid / ramp_months, 0.0, 1.0) if ramp_months > 0 else (mid >= 0).astype(float)
    frac = frac.mean(axis=1)
    return np.where(np.isnan(tenure), 1.0, frac)  # no start date: a tenured rep


def split_across(
    total: float,
    reps: pd.DataFrame,
    method: Literal["history", "even", "capacity", "custom"] = "history",
    *,
    key: str = "rep_id",
    history: pd.Series | Mapping | None = None,
    weights: pd.Series | Mapping | None = None,
    start_dates: pd.Series | Mapping | None = None,
    as_of: Any = None,
    ramp_months: float = 6,
    horizon_months: int = 12,
    unit: float = 1.0,
    remainder_to: Any = None,
) -> pd.DataFrame:
    """Split a target across reps, teams or regions so the parts add up exactly.

    Methods: ``"history"`` (share of past bookings, ``history[key]``; nobody with history
    -> even), ``"even"``, ``"capacity"`` (headcount with tenure ramp: a rep counts as the
    mean over ``horizon_months`` months from ``as_of`` of ``min(1, tenure / ramp_months)``,
    tenure taken at mid-month; no start date = fully ramped), ``"custom"`` (``weights``).

    Parameters
    ----------
    total : float
        Target to split (currency).
    reps : DataFrame
        One row per part with a ``key`` column (and ``start_date`` for capacity).
    method : str
        See above.
    history, weights, start_dates : Series or dict keyed by ``key``, optional
        Past bookings (currency), custom weights, start dates (default: ``reps.start_date``).
    as_of : date-like
        Start of the period being planned (needed for ``"capacity"``).
    ramp_months : float, default 6
        Months until a new hire counts fully.
    horizon_months : int, default 12
        Length of the planned period in months (12 for an annual target).
    unit : float, default 1.0
        Rounding unit of the amounts.
    remainder_to : label, optional
        A ``key`` value that takes all left-over units.

    Returns
    -------
    DataFrame
        ``reps`` columns plus ``basis`` (raw weight), ``share`` (0-1) and ``amount``.

    Examples
    --------
    >>> reps = pd.DataFrame({"rep_id": ["a", "b"], "start_date": pd.to_datetime(["2020-01-01", "2026-01-01"])})
    >>> split_across(1000, reps, "capacity", as_of="2026-01-01")["amount"].tolist()
    [571.0, 429.0]
    """
    if not isinstance(reps, pd.DataFrame) or key not in reps.columns:
        raise ParameterError(
            f"reps must be a DataFrame with a {key!r} column. Fix: pass wb.reps or name the "
            "id column with key=."
        )
    ids = reps[key]
    if ids.duplicated().any():
        raise ParameterError(
            f"reps has duplicate {key} values {ids[ids.duplicated()].unique().tolist()[:5]!r}. "
            f"Fix: pass one row per {key}."
        )

    def by_key(values: Any, what: str) -> pd.Series:
        if values is None:
            raise ParameterError(f"method={method!r} needs {what}=. Fix: pass it keyed by {key}.")
        s = pd.Series(values) if not isinstance(values, pd.Series) else values
        return s.reindex(ids.to_numpy())

    if method == "even":
        basis = pd.Series(1.0, index=ids.to_numpy())
    elif method == "history":
        basis = pd.to_numeric(by_key(history, "history"), errors="coerce").fillna(0.0)
    elif method == "custom":
        basis = pd.to_numeric(by_key(weights, "weights"), errors="coerce").fillna(0.0)
    elif method == "capacity":
        if as_of is None:
            raise ParameterError("method='capacity' needs as_of=. Fix: pass the period start.")
        if start_dates is None:
            sd = (
                reps["start_date"]
                if "start_date" in reps.columns
                else pd.Series(pd.NaT, index=reps.index)
            )
            sd = pd.Series(sd.to_numpy(), index=ids.to_numpy())
        else:
            sd = by_key(start_dates, "start_dates")
        sd = pd.to_datetime(sd, errors="coerce")
        basis = pd.Series(
            _ramp(sd, pd.Timestamp(as_of), ramp_months, int(horizon_months)), index=ids.to_numpy()
        )
    else:
        raise ParameterError(
            f"method={method!r} is not known. Fix: use 'history', 'even', 'capacity' or 'custom'."
        )
    basis = _clean_weights(basis, f"{method} weights")
    amount = split_by_weights(total, basis, unit, remainder_to=remainder_to)
    out = reps.copy()
    out["basis"] = basis.to_numpy()
    out["share"] = (basis / basis.sum()).to_numpy() if basis.sum() > 0 else 1.0 / len(basis)
    out["amount"] = amount.to_numpy()
    return out

"""Goal setting: top-down decomposition, the bottom-up reverse funnel and the SMART check.

Every split here adds up *exactly*: amounts are counted in whole ``unit`` s (currency
units by default, cents with ``unit=0.01``) and shared out by the largest-remainder
method (see :func:`split_by_weights` and ``docs/goals.md``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np
import pandas as pd

from salesnb.errors import ConfigError, NotEnoughDataError, ParameterError

__all__ = [
    "DEFAULT_SMART_THRESHOLDS",
    "METRICS",
    "Decomposition",
    "Goal",
    "Metric",
    "ReverseFunnel",
    "SmartResult",
    "Verdict",
    "decompose_annual",
    "metric_history",
    "reverse_funnel",
    "reverse_funnel_from_history",
    "seasonality_weights",
    "smart_check",
    "smart_check_from_history",
    "smart_thresholds",
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


def _largest_remainder(n: int, w: np.ndarray, remainder_to: int | None = None) -> np.ndarray:
    """Integer parts of ``n`` proportional to ``w`` (already validated, >= 0) summing to ``n``."""
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
    parts = _largest_remainder(n, w.to_numpy(dtype=float), pos)
    return pd.Series(np.round(parts * unit, 10), index=w.index, name=weights.name)


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


# --------------------------------------------------------------------------- reverse funnel
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


def _history_rates(wb: Any, rep_ids: list[str], start: pd.Timestamp, end: pd.Timestamp):
    """Win rate, deal size, stage conversions, activity rate and mix of some reps' deals."""
    o = wb.opportunities
    o = o[o["rep_id"].isin(rep_ids)]
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
    reach = reach[~np.isnan(reach)]
    r["stage_conversions"] = None
    if len(reach):
        at = np.array([(reach >= k).sum() for k in range(len(open_names) + 1)], dtype=float)
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
        rates = _history_rates(wb, ids, start, end)
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


# --------------------------------------------------------------------------- SMART goals
@dataclass(frozen=True)
class Metric:
    """A metric a goal may name: its label, kind (unit family) and good direction."""

    name: str
    label: str
    kind: Literal["currency", "ratio", "count", "days"]
    higher_is_better: bool = True
    upper: float | None = None
    additive: bool = True  # sums over its period, so "per quarter" makes sense


#: The metrics a SMART goal can name (definitions: domain notes, section 2).
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("bookings", "bookings", "currency"),
        Metric("attainment", "quota attainment", "ratio", additive=False),
        Metric("win_rate", "win rate", "ratio", upper=1.0, additive=False),
        Metric("avg_deal_size", "average deal size", "currency", additive=False),
        Metric("deals_won", "deals won", "count"),
        Metric("pipeline_created", "pipeline created", "currency"),
        Metric("opportunities_created", "new opportunities", "count"),
        Metric("sales_cycle", "median sales cycle", "days", higher_is_better=False, additive=False),
        Metric("activities", "activities", "count"),
        Metric("calls", "calls", "count"),
        Metric("emails", "emails", "count"),
        Metric("meetings", "meetings", "count"),
        Metric("demos", "demos", "count"),
    )
}
_ALIASES = {
    "revenue": "bookings",
    "sales": "bookings",
    "quota": "attainment",
    "deal size": "avg_deal_size",
    "cycle": "sales_cycle",
    "pipeline": "pipeline_created",
    "opportunities": "opportunities_created",
    "wins": "deals_won",
    "conversion": "win_rate",
}
_UNIT_WORDS = {
    "ratio": {"%", "ratio", "share", "pct", "percent", "rate", "x"},
    "days": {"days", "day", "d"},
    "count": {
        "count",
        "#",
        "number",
        "n",
        "deals",
        "calls",
        "meetings",
        "emails",
        "demos",
        "activities",
        "opportunities",
    },
    "currency": {"currency", "$", "€", "£", "¥", "money"},
}
_SYMBOL = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}

#: Thresholds of the SMART check; override with ``[smart]`` in salesnb.toml or ``thresholds=``.
DEFAULT_SMART_THRESHOLDS: dict[str, float] = {
    "min_horizon_days": 14,  # sooner than this: warn (too short to change anything)
    "max_horizon_days": 366,  # later than this: warn (break into milestones)
    "own_pass_quantile": 0.75,  # required change <= this quantile of own past changes: pass
    "team_pass_quantile": 0.90,  # ... of the team's pooled past changes: pass
    "peer_pass_quantile": 0.90,  # target level <= this quantile of peers' levels: pass
    "min_history_points": 4,  # fewer past changes than this: not judged on them
    "min_peers": 3,  # fewer peers than this: not judged on them
    "min_stretch": 0.0,  # required improvement <= this: warn (no stretch)
    "baseline_periods": 3,  # baseline from history = median of the last N periods
}
Status = Literal["pass", "warn", "fail"]
_RANK = {"pass": 0, "warn": 1, "fail": 2}


def smart_thresholds(overrides: Mapping[str, Any] | None = None, config: Any = None) -> dict:
    """Defaults, then ``config.extra['smart']`` (a ``[smart]`` TOML table), then ``overrides``.

    Examples
    --------
    >>> smart_thresholds({"max_horizon_days": 400})["max_horizon_days"]
    400.0
    """
    out = dict(DEFAULT_SMART_THRESHOLDS)
    layers = [
        getattr(config, "extra", {}).get("smart", {}) if config is not None else {},
        overrides or {},
    ]
    for layer in layers:
        for k, v in dict(layer).items():
            if k not in out:
                raise ConfigError(f"Unknown SMART threshold {k!r}. Fix: use one of {sorted(out)}.")
            try:
                out[k] = float(v)
            except (TypeError, ValueError):
                raise ConfigError(f"SMART threshold {k} = {v!r} is not a number.") from None
    return out


def _fmt_value(v: float, m: Metric | None, currency: str = "USD") -> str:
    if m is None or not math.isfinite(v):
        return f"{v:,.6g}"
    if m.kind == "currency":
        sym = _SYMBOL.get(currency)
        return f"{sym}{v:,.0f}" if sym else f"{v:,.0f} {currency}"
    if m.kind == "ratio":
        return f"{v * 100:.1f}".rstrip("0").rstrip(".") + "%"
    if m.kind == "days":
        return f"{v:,.0f} days"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def _fmt_change(x: float, m: Metric) -> str:
    """A change: relative (+25%) or, for rates, in percentage points (+5 pts)."""
    if m.kind == "ratio":
        return f"{x * 100:+.1f}".rstrip("0").rstrip(".") + " pts"
    return f"{x * 100:+.0f}%"


def _date_or_none(value: Any) -> pd.Timestamp | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    return None if pd.isna(ts) else ts.normalize()


@dataclass
class Goal:
    """A proposed goal: one metric, a target (and baseline), a deadline, an owner, a why.

    ``target``/``baseline`` are in the metric's unit: currency, a 0-1 rate, a count per
    ``period`` or days. ``period`` is the span the metric is measured over.

    Examples
    --------
    >>> Goal("bookings", 150_000, baseline=120_000, deadline="2026-12-31", owner="Ann",
    ...      objective="grow new-logo revenue").as_text()
    'Ann will raise quarterly bookings from $120,000 to $150,000 (+25%) by 31 Dec 2026, in support of: grow new-logo revenue.'
    """

    metric: str
    target: float | None = None
    baseline: float | None = None
    unit: str | None = None
    deadline: Any = None
    owner: str | None = None
    objective: str | None = None
    period: Literal["month", "quarter", "year"] = "quarter"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Goal:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ParameterError(
                f"Unknown goal fields {sorted(unknown)!r}. Fix: use {sorted(known)}."
            )
        if "metric" not in d:
            raise ParameterError("A goal needs a 'metric'. Fix: add e.g. metric='bookings'.")
        return cls(**dict(d))

    def as_text(self, currency: str = "USD") -> str:
        """The goal as one SMART sentence; missing parts show as ``[owner]``, ``[deadline]``..."""
        m = METRICS.get(str(self.metric).strip().lower())
        label = m.label if m else str(self.metric)
        if m is None or m.additive:
            label = (
                {"month": "monthly", "quarter": "quarterly", "year": "annual"}.get(self.period, "")
                + " "
                + label
            )
        owner = self.owner or "[owner]"
        tgt = _num(self.target)
        t_txt = _fmt_value(tgt, m, currency) if tgt is not None else "[target]"
        dl = _date_or_none(self.deadline)
        when = f"{dl.day} {dl:%b %Y}" if dl is not None else "[deadline]"
        base = _num(self.baseline)
        if base is None or tgt is None or m is None:
            what = f"reach {label.strip()} of {t_txt}"
        else:
            verb = "raise" if tgt > base else "reduce" if tgt < base else "hold"
            rel = m.kind != "ratio"
            chg = (tgt / base - 1) if rel and base > 0 else (tgt - base) if not rel else None
            pct = f" ({_fmt_change(chg, m)})" if chg is not None and verb != "hold" else ""
            what = (
                f"{verb} {label.strip()} from {_fmt_value(base, m, currency)} to {t_txt}{pct}"
                if verb != "hold"
                else f"hold {label.strip()} at {t_txt}"
            )
        why = (
            f", in support of: {self.objective.strip()}"
            if self.objective
            else ", in support of: [objective]"
        )
        return f"{owner} will {what} by {when}{why}."


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


@dataclass(frozen=True)
class Verdict:
    """One SMART criterion: ``pass``, ``warn`` or ``fail``, and why (with the numbers)."""

    status: Status
    reason: str


_CRITERIA = {
    "S": "Specific",
    "M": "Measurable",
    "A": "Achievable",
    "R": "Relevant",
    "T": "Time-bound",
}


@dataclass(frozen=True)
class SmartResult:
    """The SMART check of a goal: a :class:`Verdict` per criterion and the numbers used."""

    goal: Goal
    criteria: dict[str, Verdict]
    stats: dict[str, Any]
    currency: str = "USD"

    @property
    def status(self) -> Status:
        return max((v.status for v in self.criteria.values()), key=_RANK.__getitem__)

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def failures(self) -> list[str]:
        return [k for k, v in self.criteria.items() if v.status == "fail"]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [(k, _CRITERIA[k], v.status, v.reason) for k, v in self.criteria.items()],
            columns=["criterion", "name", "status", "reason"],
        )

    def as_text(self) -> str:
        """The goal's SMART sentence, with the baseline the check used if none was given."""
        g = self.goal
        if g.baseline is None and self.stats.get("baseline") is not None:
            g = Goal(**{f.name: getattr(g, f.name) for f in fields(g)})
            g.baseline = self.stats["baseline"]
        return g.as_text(self.currency)

    def __str__(self) -> str:
        lines = [self.as_text()]
        lines += [f"  {k} {v.status.upper():4} {v.reason}" for k, v in self.criteria.items()]
        return "\n".join(lines)


def _span_words(index: pd.Index) -> tuple[str, str, float | None]:
    """(span of the history in words, the period's name, its length in days)."""
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        return f"{len(index)} periods", "period", None
    days = float(np.median(np.diff(index.to_numpy()).astype("timedelta64[D]").astype(float)))
    word = min(
        {"week": 7, "month": 30.4, "quarter": 91.3, "year": 365.25}.items(),
        key=lambda kv: abs(kv[1] - days),
    )[0]
    years = ((index.max() - index.min()).days + days) / 365.25
    span = (
        f"{round(years)} years"
        if years >= 1.5
        else "a year"
        if years >= 0.9
        else f"{round(years * 12)} months"
    )
    return span, word, days


def _changes(frame: pd.DataFrame, steps: int, relative: bool, sign: int) -> np.ndarray:
    v = frame.to_numpy(dtype=float)
    prev, nxt = v[:-steps], v[steps:]
    ok = np.isfinite(prev) & np.isfinite(nxt)
    if relative:
        ok &= prev > 0
        ch = nxt[ok] / np.where(ok, prev, 1.0)[ok] - 1
    else:
        ch = nxt[ok] - prev[ok]
    return sign * ch


def _achievable(
    m: Metric,
    target: float,
    base: float | None,
    history,
    peers,
    peer_history,
    horizon_days: float | None,
    th: dict,
    currency: str,
    stats: dict,
) -> Verdict:
    sign = 1 if m.higher_is_better else -1
    relative = m.kind != "ratio"
    imp = None
    if base is not None:
        if relative and base > 0:
            imp = sign * (target / base - 1)
        elif not relative:
            imp = sign * (target - base)
    stats["required_improvement"] = imp
    parts: list[tuple[Status, str]] = []
    chg = _fmt_change(sign * imp, m) + " " + m.label if imp is not None else None
    if imp is not None and imp <= th["min_stretch"]:
        parts.append(
            (
                "warn",
                (
                    f"{chg} asks for no improvement over the baseline "
                    f"{_fmt_value(base, m, currency)}; a goal should stretch"
                ),
            )
        )
    for who, frame, q_key in (
        ("you", history, "own_pass_quantile"),
        ("a rep on this team", peer_history, "team_pass_quantile"),
    ):
        if frame is None or imp is None or imp <= th["min_stretch"]:
            continue
        frame = frame.to_frame() if isinstance(frame, pd.Series) else frame
        frame = frame.sort_index()
        span, word, pdays = _span_words(frame.index)
        steps = max(1, round(horizon_days / pdays)) if horizon_days and pdays else 1
        if len(frame) <= steps:
            continue
        ch = _changes(frame, steps, relative, sign)
        key = "own" if who == "you" else "team"
        if len(ch) < th["min_history_points"]:
            stats[f"{key}_changes"] = len(ch)
            continue
        best, q = float(ch.max()), float(np.quantile(ch, th[q_key]))
        whose = "your" if who == "you" else "the team's"
        reached = int((ch >= imp - 1e-12).sum())
        kind = f"{word}-on-{word}" if steps == 1 else f"{steps}-{word}"
        best_txt = _fmt_change(sign * best, m)
        stats.update(
            {f"{key}_best": sign * best, f"{key}_reached": reached, f"{key}_changes": len(ch)}
        )
        if imp > best + 1e-12:
            did = "you have reached" if who == "you" else f"{who} has reached"
            parts.append(("fail", f"{chg} is above anything {did} in {span} (best: {best_txt})"))
        elif imp > q + 1e-12:
            parts.append(
                (
                    "warn",
                    (
                        f"{chg} is a stretch: reached in only {reached} of {len(ch)} "
                        f"{kind} changes {'of yours' if who == 'you' else 'on the team'}"
                        f" (best: {best_txt})"
                    ),
                )
            )
        else:
            parts.append(
                (
                    "pass",
                    (
                        f"{chg} is within {whose} "
                        f"record: reached in {reached} of {len(ch)} {kind} changes"
                    ),
                )
            )
    if peers is not None:
        p = pd.to_numeric(pd.Series(peers), errors="coerce").dropna()
        if len(p) >= th["min_peers"]:
            below = float((sign * p < sign * target).mean())
            top = float(p.max() if sign > 0 else p.min())
            stats.update({"peer_percentile": below, "peer_best": top})
            t_txt, top_txt = _fmt_value(target, m, currency), _fmt_value(top, m, currency)
            if sign * target > sign * top:
                st: Status = "warn" if base is not None and sign * base >= sign * top else "fail"
                parts.append(
                    (
                        st,
                        (
                            f"{t_txt} {m.label} is beyond every one of {len(p)} peers "
                            f"today (best: {top_txt})"
                        ),
                    )
                )
            elif below > th["peer_pass_quantile"]:
                parts.append(
                    (
                        "warn",
                        (
                            f"{t_txt} {m.label} would beat {below:.0%} of {len(p)} "
                            f"peers (best: {top_txt})"
                        ),
                    )
                )
            else:
                parts.append(
                    (
                        "pass",
                        (
                            f"{t_txt} {m.label} is at the {below:.0%} percentile of "
                            f"{len(p)} peers (best: {top_txt})"
                        ),
                    )
                )
    if not parts:
        why = (
            "no baseline to compare with"
            if imp is None and history is not None
            else "too little history or too few peers"
        )
        return Verdict(
            "warn",
            f"Cannot judge achievability ({why}). Fix: give a baseline, the "
            "rep's history (4+ periods) or 3+ peers' values.",
        )
    parts.sort(key=lambda sr: -_RANK[sr[0]])
    status = parts[0][0]
    return Verdict(status, "; ".join(r for _, r in parts) + ".")


def smart_check(
    goal: Goal | Mapping[str, Any],
    *,
    history: pd.Series | None = None,
    peers: pd.Series | None = None,
    peer_history: pd.DataFrame | None = None,
    objectives: list[str] | None = None,
    as_of: Any = None,
    thresholds: Mapping[str, Any] | None = None,
    currency: str = "USD",
) -> SmartResult:
    """Check a goal against each SMART criterion, with reasons that cite numbers.

    S: a known metric (:data:`METRICS`) and an owner. M: a numeric target in the metric's
    unit (rates 0-1) and a baseline (given, or the median of the last
    ``baseline_periods`` of ``history``). A: the required improvement against the rep's
    own past changes over the same horizon (``history``), the team's (``peer_history``)
    and the target against peers' levels (``peers``). R: names an objective (one of
    ``objectives`` if given). T: a deadline after ``as_of`` and within the horizon limits.

    Parameters
    ----------
    goal : Goal or dict
        The proposed goal.
    history : Series, optional
        The rep's own values of the metric per period, indexed by period start date.
    peers : Series, optional
        Peers' current levels of the metric (one value per peer).
    peer_history : DataFrame, optional
        Periods x reps values of the team (for "above anything a rep on this team reached").
    objectives : list of str, optional
        The team's or company's objectives the goal should serve.
    as_of : date-like, optional
        Today (default: the real today).
    thresholds : dict, optional
        Overrides of :data:`DEFAULT_SMART_THRESHOLDS`.
    currency : str, default "USD"

    Examples
    --------
    >>> g = Goal("bookings", 216_000, baseline=120_000, deadline="2026-12-31", owner="Ann",
    ...          objective="Grow revenue")
    >>> hist = pd.Series([100e3, 110e3, 120e3, 150e3, 120e3],
    ...                  index=pd.date_range("2025-07-01", periods=5, freq="QS"))
    >>> r = smart_check(g, history=hist, as_of="2026-09-30")
    >>> r.criteria["A"].status, r.criteria["A"].reason
    ('fail', '+80% bookings is above anything you have reached in a year (best: +25%).')
    """
    g = goal if isinstance(goal, Goal) else Goal.from_dict(goal)
    th = smart_thresholds(thresholds)
    today = _date_or_none(as_of) or pd.Timestamp.today().normalize()
    stats: dict[str, Any] = {}
    crit: dict[str, Verdict] = {}
    m = METRICS.get(_ALIASES.get(str(g.metric).strip().lower(), str(g.metric).strip().lower()))
    if m is not None and m.name != str(g.metric).strip().lower():
        m = None  # an alias is a hint, not a match: the goal should name the metric
    # S
    if m is None:
        alias = _ALIASES.get(str(g.metric).strip().lower())
        close = [alias] if alias else difflib.get_close_matches(str(g.metric), list(METRICS), 3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        crit["S"] = Verdict(
            "fail",
            f"{g.metric!r} is not a metric the kit can measure.{hint} "
            f"Fix: name one of {', '.join(METRICS)}.",
        )
    elif not (g.owner and str(g.owner).strip()):
        crit["S"] = Verdict(
            "warn", f"One metric ({m.label}) but no owner. Fix: say whose goal it is."
        )
    else:
        crit["S"] = Verdict("pass", f"One metric ({m.label}), owned by {g.owner}.")
    # M
    target, base = _num(g.target), _num(g.baseline)
    base_src = "given"
    if base is None and history is not None:
        h = pd.to_numeric(pd.Series(history), errors="coerce").dropna().sort_index()
        if len(h):
            base = float(h.tail(int(th["baseline_periods"])).median())
            base_src = f"median of the last {min(len(h), int(th['baseline_periods']))} periods"
    stats.update({"baseline": base, "baseline_source": base_src if base is not None else None})
    unit_kind = next(
        (
            k
            for k, ws in _UNIT_WORDS.items()
            if g.unit and str(g.unit).strip().lower() in {w.lower() for w in ws}
        ),
        None,
    )
    if (
        unit_kind is None
        and g.unit
        and len(str(g.unit)) == 3
        and str(g.unit).isalpha()
        and str(g.unit).isupper()
    ):
        unit_kind = "currency"
    if target is None:
        crit["M"] = Verdict(
            "fail", f"No target number (got {g.target!r}). Fix: give the value to reach."
        )
    elif m is None:
        crit["M"] = Verdict("fail", "Cannot be measured: the metric is unknown (see S).")
    elif g.unit and unit_kind is not None and unit_kind != m.kind:
        crit["M"] = Verdict(
            "fail",
            f"Unit {g.unit!r} does not fit {m.label} (measured in "
            f"{m.kind}). Fix: give the target in {m.kind}.",
        )
    elif target < 0 or (m.upper is not None and target > m.upper):
        fix = (
            f" Fix: write {target:g}% as {target / 100:g}."
            if m.upper == 1 and target <= 100
            else ""
        )
        crit["M"] = Verdict(
            "fail",
            f"Target {target:g} is outside the range of {m.label} "
            f"(0 to {m.upper if m.upper is not None else '∞'}).{fix}",
        )
    elif base is None:
        crit["M"] = Verdict(
            "warn",
            f"Target {_fmt_value(target, m, currency)} but no baseline: "
            "progress has no starting point. Fix: give the current value.",
        )
    else:
        src = "" if base_src == "given" else f" (baseline: {base_src})"
        crit["M"] = Verdict(
            "pass",
            f"{m.label} from {_fmt_value(base, m, currency)} to "
            f"{_fmt_value(target, m, currency)}{src}.",
        )
    # A
    dl = _date_or_none(g.deadline)
    horizon = float((dl - today).days) if dl is not None else None
    if m is None or crit["M"].status == "fail":
        crit["A"] = Verdict(
            "fail", "Cannot judge achievability without a valid metric and target (see S and M)."
        )
    else:
        crit["A"] = _achievable(
            m,
            target,
            base,
            history,
            peers,
            peer_history,
            horizon if horizon and horizon > 0 else None,
            th,
            currency,
            stats,
        )
    # R
    obj = str(g.objective).strip() if g.objective else ""
    listed = [str(o) for o in (objectives or [])]
    if not obj:
        hint = f" (the team's: {'; '.join(listed)})" if listed else ""
        crit["R"] = Verdict(
            "fail",
            f"Not tied to an objective. Fix: name the team or company objective it serves{hint}.",
        )
    elif listed and not any(
        obj.lower() in o.lower()
        or o.lower() in obj.lower()
        or difflib.SequenceMatcher(None, obj.lower(), o.lower()).ratio() > 0.75
        for o in listed
    ):
        crit["R"] = Verdict(
            "warn",
            f"{obj!r} is not one of the team's objectives "
            f"({'; '.join(listed)}). Fix: link it to one of them.",
        )
    else:
        crit["R"] = Verdict("pass", f"Serves the objective {obj!r}.")
    # T
    if dl is None:
        bad = f" ({g.deadline!r} is not a date)" if g.deadline not in (None, "") else ""
        crit["T"] = Verdict(
            "fail",
            f"No deadline{bad}. Fix: give a date such as "
            f"{(today + pd.Timedelta(days=90)):%Y-%m-%d}.",
        )
    elif horizon <= 0:
        crit["T"] = Verdict(
            "fail",
            f"The deadline {dl:%Y-%m-%d} is not after today "
            f"({today:%Y-%m-%d}). Fix: pick a future date.",
        )
    elif horizon < th["min_horizon_days"]:
        crit["T"] = Verdict(
            "warn",
            f"Only {horizon:.0f} days to the deadline {dl:%Y-%m-%d}: "
            "too short to change a result. Fix: allow at least "
            f"{th['min_horizon_days']:.0f} days.",
        )
    elif horizon > th["max_horizon_days"]:
        crit["T"] = Verdict(
            "warn",
            f"The deadline {dl:%Y-%m-%d} is {horizon:.0f} days away. "
            "Fix: break it into milestones of a quarter or less.",
        )
    else:
        crit["T"] = Verdict("pass", f"Due {dl:%Y-%m-%d}, {horizon:.0f} days from {today:%Y-%m-%d}.")
    order = {k: crit[k] for k in "SMART"}
    return SmartResult(g, order, stats, currency)


# --------------------------------------------------------------------------- metric history
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

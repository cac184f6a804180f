"""Seasonality borrowed across the hierarchy: the whole team's monthly pattern for a rep.

A rep's three years of lumpy months cannot tell a seasonal pattern from noise (two or three
values per calendar month), so the automatic choice of :mod:`salesnb.forecast.history` ends
with a flat forecast even when the team plainly books a third more in its last quarter. The
sum over all reps has the same pattern with a fraction of the noise. Top-down seasonal
indices (the "top-down proportions" of hierarchical forecasting, here on the seasonal part
only) take that pattern from the parent series and apply it to each subject's own
deseasonalised level:

1. :func:`seasonal_indices` estimates one multiplicative index per calendar month from the
   parent (whole team) series by classical decomposition (statsmodels ``seasonal_decompose``:
   a centred 12-month moving average for the trend, the ratios to it averaged per calendar
   month, normalised to a mean of 1).
2. The subject's months are divided by their month's index, the candidate models are fitted
   to that adjusted series, and their forecasts (from the last month and from every rolling
   selection origin) are multiplied back by the indices of the months they forecast
   (:func:`apply_indices`). The model choice, its MASE and the interval calibration are
   computed on the original, unadjusted months, so they compare fairly with the unborrowed
   candidates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesnb.forecast.models import MIN_SEASONAL, SEASON, _Fit

#: Pseudo-years of "no seasonality" (an index of 1) the estimated indices may be shrunk
#: towards. None: on the sample's quarter totals (bench/forecast_quarters.py) one pseudo-year
#: gave MASE 0.80 / 1.02 / 0.97 per rep / manager / region, no shrinkage 0.74 / 0.83 / 0.64.
INDEX_PRIOR = 0.0
#: Indices are kept within these bounds (a month of a tenth or four times the average is a
#: data problem, not a season).
INDEX_BOUNDS = (0.1, 4.0)


def centred_moving_average(y: np.ndarray, period: int = SEASON) -> np.ndarray:
    """The centred moving average of ``period`` months (2x12 for an even period), NaN where it
    is undefined: the trend of statsmodels' ``seasonal_decompose`` (same filter, same
    figures), without importing it (with scipy.signal, a third of a warm forecast's time).

    Examples
    --------
    >>> centred_moving_average(np.arange(14.0))[5:9].tolist()
    [nan, 6.0, 7.0, nan]
    """
    y = np.asarray(y, dtype=float)
    if period % 2:
        w = np.full(period, 1.0 / period)
    else:
        w = np.r_[0.5, np.ones(period - 1), 0.5] / period
    half = len(w) // 2
    out = np.full(y.shape, np.nan)
    if y.size >= len(w):
        out[half : y.size - half] = np.convolve(y, w, mode="valid")
    return out


def seasonal_indices(parent: pd.Series, *, until: pd.Period | None = None) -> np.ndarray | None:
    """Multiplicative seasonal index of each calendar month (January first), mean 1.

    Parameters
    ----------
    parent : Series
        Monthly values of the series whose pattern is borrowed (the whole team's bookings),
        on a monthly ``PeriodIndex``; leading NaN are dropped.
    until : Period, optional
        Only months up to this one are used (no look-ahead in backtests).

    Returns
    -------
    ndarray of shape (12,) or None
        None when fewer than 24 months are left or a month is not positive (multiplicative
        indices need positive values). The indices are shrunk towards 1 by
        :data:`INDEX_PRIOR` pseudo-years (none by default) and renormalised to a mean of 1.

    Examples
    --------
    >>> idx = pd.period_range("2023-01", periods=36, freq="M")
    >>> y = pd.Series(np.where(idx.month == 12, 200.0, 100.0), index=idx)
    >>> s = seasonal_indices(y)
    >>> round(float(s[11] / s[0]), 2)  # December over January
    2.0
    """
    s = pd.Series(parent, dtype=float)
    if until is not None:
        s = s[s.index <= until]
    first = s.first_valid_index()
    if first is None:
        return None
    s = s.loc[first:]
    if len(s) < MIN_SEASONAL or s.isna().any() or (s <= 0).any():
        return None
    ratio = s.to_numpy() / centred_moving_average(s.to_numpy())  # NaN at the ends
    months = s.index.month.to_numpy() - 1
    raw = np.ones(SEASON)
    for m in range(SEASON):
        r = ratio[(months == m) & np.isfinite(ratio)]
        k = r.size
        raw[m] = (r.sum() + INDEX_PRIOR) / (k + INDEX_PRIOR) if k else 1.0
    raw = np.clip(raw / raw.mean(), *INDEX_BOUNDS)
    return raw / raw.mean()


def month_factors(indices: np.ndarray, months: pd.PeriodIndex) -> np.ndarray:
    """The index of each month of ``months`` (its calendar month's).

    Examples
    --------
    >>> s = np.arange(1.0, 13.0)
    >>> month_factors(s, pd.period_range("2025-11", periods=3, freq="M")).tolist()
    [11.0, 12.0, 1.0]
    """
    return np.asarray(indices, dtype=float)[months.month.to_numpy() - 1]


def apply_indices(fit: _Fit, s_hist: np.ndarray, s_future: np.ndarray, origins: list[int]) -> _Fit:
    """Put the seasonal pattern back into a candidate fitted to the adjusted series.

    Parameters
    ----------
    fit : _Fit
        Fitted to ``y / s_hist``; changed in place and returned.
    s_hist : ndarray
        Index of each history month, followed by enough later months to cover every
        selection origin's steps (length ``n + h_sel`` at least).
    s_future : ndarray
        Index of each forecast month (length ``len(fit.mean)``).
    origins : list of int
        Training lengths of the selection origins (``fit.origin_fc`` rows).

    Returns
    -------
    _Fit
        Point forecasts and origin forecasts multiplied by their months' indices; its error
        covariance becomes ``diag(s) C diag(s)`` (an error in the adjusted level scales with
        the month's index).
    """
    s_future = np.asarray(s_future, dtype=float)
    fit.mean = fit.mean * s_future
    if fit.origin_fc.size:
        h_sel = fit.origin_fc.shape[1]
        pos = np.asarray(origins, dtype=int)[:, None] + np.arange(h_sel)[None, :]
        fit.origin_fc = fit.origin_fc * np.asarray(s_hist, dtype=float)[pos]
    fit.season_scale = s_future
    return fit

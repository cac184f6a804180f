"""Forecasts of bookings: from history, from the pipeline, their blend and P(attain target).

Two views a manager combines (domain notes, section 5):

* **History** -- :func:`forecast_history` fits statsmodels exponential smoothing (ETS) and
  SARIMAX candidates beside simple baselines (mean, naive, drift, seasonal naive) to monthly
  bookings and picks one by rolling-origin MASE. Intervals come from each model's error
  covariance, calibrated by the same rolling-origin errors so that they are honest on sparse,
  lumpy sales series.
* **Pipeline** -- :func:`forecast_pipeline` weights the open deals due in a period by win
  probabilities learned from closed deals (:func:`win_probabilities`), adds a run-rate of deals
  that will be created and won inside the period, and simulates the period's bookings.

:func:`blend` pools the two, :func:`p_attain` reads the chance of reaching a target and
:func:`period_forecast` does all of it in one call. Rolling-origin evaluation lives in
:mod:`salesnb.backtest`.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from salesnb.errors import ParameterError

SEASON = 12
Method = Literal["auto", "ets", "arima", "snaive", "naive", "mean", "drift"]
SubjectType = Literal["rep", "region", "manager", "team", "all"]

#: Below this many months no seasonal model is fitted (two full years are needed to tell
#: seasonality from noise).
MIN_SEASONAL = 24
#: Below this many months only the simple models (mean, naive, drift) are tried.
MIN_MODELS = 6
#: Below this many months no ARIMA: AR coefficients from a few points are noise (the public
#: CRM benchmark showed ARIMA intervals covering 62% instead of 80% on 6-8 months).
MIN_ARIMA = 12
#: Rolling origins used to choose a model and calibrate its intervals.
SELECTION_ORIGINS = 12
SELECTION_HORIZON = 3
#: Pseudo-observations pulling the interval calibration factor towards 1 (no change).
CALIBRATION_PRIOR = 6.0


# --------------------------------------------------------------------------- history


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Run BLAS single-threaded: the models multiply tiny matrices, where threads cost ~3x
    more CPU than they save (and oversubscribe the cores in :func:`forecast_many`). Uses
    threadpoolctl when installed, else does nothing."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional speed-up
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


@dataclass
class HistoryForecast:
    """A forecast of a monthly series with calibrated intervals.

    Attributes
    ----------
    mean : Series
        Point forecast per future month (currency), indexed by monthly ``Period``.
    lower, upper : dict of float -> Series
        Interval bounds per level (e.g. ``0.8``), same index as ``mean``.
    method : str
        The chosen model, e.g. ``"ets(A,Ad,A)"``, ``"arima(0,1,1)"``, ``"snaive"``; ``"none"``
        when there is no history.
    scores : DataFrame
        One row per candidate: ``family``, ``aicc`` (ETS only), ``mase`` (rolling origin).
    note : str
        Why this model, and any fallback taken.
    n_obs : int
        Months of history used.
    cov : ndarray
        Calibrated covariance (currency squared) of the forecast errors, horizon x horizon.
    calibration : dict of float -> float
        Factor each level's analytic half-width was multiplied by (1 = none).
    warnings : list of str
        Convergence and other warnings statsmodels raised, recorded instead of printed.

    Examples
    --------
    >>> y = pd.Series([10.0, 12, 11, 13, 12, 14, 13, 15],
    ...               index=pd.period_range("2025-01", periods=8, freq="M"))
    >>> fc = forecast_history(y, 3)
    >>> len(fc.mean), fc.ok
    (3, True)
    """

    mean: pd.Series
    lower: dict[float, pd.Series]
    upper: dict[float, pd.Series]
    method: str
    scores: pd.DataFrame
    note: str
    n_obs: int
    cov: np.ndarray
    calibration: dict[float, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """False when there was not enough history to forecast."""
        return self.method != "none"

    @property
    def sd(self) -> pd.Series:
        """Standard deviation of the forecast error per month (currency)."""
        return pd.Series(np.sqrt(np.diag(self.cov)), index=self.mean.index)

    def total(self, weights: Sequence[float] | np.ndarray) -> tuple[float, float]:
        """Mean and standard deviation of ``sum(weights * forecast)`` (currency).

        Uses the full error covariance, so months whose errors move together (a level shift
        carries over to every later month) add up correctly.
        """
        w = np.asarray(weights, dtype=float)
        if not self.ok or w.size == 0:
            return 0.0, 0.0
        w = np.resize(w, len(self.mean)) if w.size != len(self.mean) else w
        return float(w @ self.mean.to_numpy()), float(math.sqrt(max(w @ self.cov @ w, 0.0)))

    def to_frame(self) -> pd.DataFrame:
        """Mean and bounds in one frame, one row per month."""
        out = {"mean": self.mean}
        for lvl in sorted(self.lower):
            out[f"lower_{round(lvl * 100)}"] = self.lower[lvl]
            out[f"upper_{round(lvl * 100)}"] = self.upper[lvl]
        return pd.DataFrame(out)


@dataclass
class _Fit:
    """One fitted candidate: point forecasts, error structure and rolling-origin forecasts."""

    name: str
    family: str
    mean: np.ndarray  # (H,)
    sigma: float  # one-step error sd
    psi: np.ndarray  # (H,) MA weights, psi[0] = 1
    extra: np.ndarray  # (H, H) parameter-uncertainty covariance / sigma^2
    origin_fc: np.ndarray  # (n_origins, h_sel) point forecasts from each selection origin
    aicc: float = np.nan

    def cov(self) -> np.ndarray:
        h = len(self.psi)
        lag = np.subtract.outer(np.arange(h), np.arange(h))
        lower = np.where(lag >= 0, self.psi[np.clip(lag, 0, h - 1)], 0.0)
        return self.sigma**2 * (lower @ lower.T + self.extra)


def _origins(n: int, n_origins: int, h: int) -> list[int]:
    """Training lengths of the selection origins, most recent last (each keeps >= 3 points)."""
    first = max(3, n - n_origins)
    return [o for o in range(first, n) if n - o >= 1][-n_origins:] if n > 3 else []


def _simple(kind: str, y: np.ndarray, h: int, origins: list[int], h_sel: int) -> _Fit:
    n = len(y)
    steps = np.arange(1, h + 1)
    zeros = np.zeros((h, h))
    psi = np.zeros(h)
    psi[0] = 1.0
    if kind == "mean":
        sigma = float(np.std(y, ddof=1)) if n > 1 else float(abs(y[0]) or 1.0)
        fc = np.full(h, y.mean())
        extra = np.full((h, h), 1.0 / n)  # uncertainty of the estimated mean, shared by all h
        ofc = np.array([[y[:o].mean()] * h_sel for o in origins]).reshape(len(origins), h_sel)
    elif kind == "naive":
        d = np.diff(y)
        sigma = float(np.sqrt(np.mean(d**2))) if n > 1 else 0.0
        fc = np.full(h, y[-1])
        psi[:] = 1.0
        extra = zeros
        ofc = np.array([[y[o - 1]] * h_sel for o in origins]).reshape(len(origins), h_sel)
    elif kind == "drift":
        slope = (y[-1] - y[0]) / (n - 1)
        d = np.diff(y) - slope
        sigma = float(np.sqrt(np.sum(d**2) / max(n - 2, 1)))
        fc = y[-1] + slope * steps
        psi[:] = 1.0
        extra = np.outer(steps, steps) / (n - 1)  # the slope is estimated
        hs = np.arange(1, h_sel + 1)
        ofc = np.array(
            [y[o - 1] + (y[o - 1] - y[0]) / max(o - 1, 1) * hs for o in origins]
        ).reshape(len(origins), h_sel)
    elif kind == "snaive":
        d = y[SEASON:] - y[:-SEASON]
        sigma = float(np.sqrt(np.mean(d**2)))
        fc = y[n - SEASON + (steps - 1) % SEASON]
        psi = np.where(np.arange(h) % SEASON == 0, 1.0, 0.0)
        extra = zeros
        hs = np.arange(1, h_sel + 1)
        ofc = np.array([y[o - SEASON + (hs - 1) % SEASON] for o in origins]).reshape(
            len(origins), h_sel
        )
    else:  # pragma: no cover - guarded by callers
        raise ValueError(kind)
    return _Fit(kind, kind, fc.astype(float), sigma, psi, extra, ofc.astype(float))


_ETS_SPECS = [  # (trend, damped, seasonal); an undamped linear trend is the drift model's job
    (None, False, None),
    ("add", True, None),
    (None, False, "add"),
    ("add", True, "add"),
    (None, False, "mul"),
]


def _ets_name(trend: str | None, damped: bool, seasonal: str | None) -> str:
    t = "N" if trend is None else ("Ad" if damped else "A")
    s = {None: "N", "add": "A", "mul": "M"}[seasonal]
    return f"ets(A,{t},{s})"


def _ets(y: np.ndarray, spec: tuple, h: int) -> tuple[_Fit, object, object]:
    """Fit one ETS spec: the fit (no origin forecasts yet), the results and a refilter."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    trend, damped, seasonal = spec
    kw = {
        "trend": trend,
        "damped_trend": damped,
        "seasonal": seasonal,
        "seasonal_periods": SEASON if seasonal else None,
    }
    init = "heuristic" if len(y) >= (2 * SEASON if seasonal else 10) else "estimated"
    res = ExponentialSmoothing(y, initialization_method=init, **kw).fit()
    p = res.params
    smooth = {
        k: p[k]
        for k in ("smoothing_level", "smoothing_trend", "smoothing_seasonal", "damping_trend")
        if not (isinstance(p[k], float) and math.isnan(p[k]))
    }
    known = {"initial_level": p["initial_level"]}
    if trend:
        known["initial_trend"] = p["initial_trend"]
    if seasonal:
        known["initial_seasonal"] = p["initial_seasons"]

    def fixed(data: np.ndarray, steps: int) -> np.ndarray:
        # Refilter other data with the fitted parameters and initial states.
        m = ExponentialSmoothing(data, initialization_method="known", **known, **kw)
        return np.asarray(m.fit(optimized=False, **smooth).forecast(steps))

    fc = np.asarray(res.forecast(h))
    k = len(smooth) + len(known) + (SEASON - 1 if seasonal else 0)
    sigma = float(math.sqrt(res.sse / max(len(y) - k, 1)))
    fit = _Fit(_ets_name(*spec), "ets", fc, sigma, np.ones(h), np.zeros((h, h)), np.empty((0, 0)))
    fit.aicc = float(res.aicc)
    return fit, res, fixed


def _ets_finish(fit: _Fit, res, fixed, y: np.ndarray, origins: list[int], h_sel: int) -> _Fit:
    """MA weights and rolling-origin forecasts of the ETS spec AICc picked (fixed parameters)."""
    h = len(fit.mean)
    # A unit shock at the last month moves the j-step forecast by psi_j (exact for additive
    # models, a local linearisation for multiplicative seasonality).
    if h > 1:
        bumped = y.copy()
        bumped[-1] += 1.0
        fit.psi[1:] = fixed(bumped, h - 1) - fit.mean[: h - 1]
    # Forecasts from each origin straight from the filtered states (what a refit with the same
    # parameters on the data up to that origin would give, at a fraction of the cost).
    o = np.asarray(origins, dtype=int)[:, None] - 1
    steps = np.arange(1, h_sel + 1)[None, :]
    p = res.params
    phi = p["damping_trend"] if fit.name.split(",")[1] == "Ad" else 1.0
    damp = np.cumsum(phi ** np.arange(1, h_sel + 1))[None, :]
    level = res.level[o]
    trend = res.trend[o] * damp if fit.name.split(",")[1] != "N" else 0.0
    base = level + trend
    season = fit.name[-2]
    if season == "N":
        fit.origin_fc = np.broadcast_to(base, (len(origins), h_sel)).copy()
    else:
        k = np.ceil(steps / SEASON).astype(int)
        s = res.season[o + steps - SEASON * k]
        fit.origin_fc = base * s if season == "M" else base + s
    return fit


def _arima_specs(n: int) -> list[tuple[tuple, tuple, str]]:
    # ARIMA(0,1,1) is ETS(A,N,N) again, so the grid adds what ETS lacks: mean reversion
    # around a constant (AR(1), AR(2)) and, with two years, AR(1) errors around last year's
    # month (a seasonal difference).
    specs = [((1, 0, 0), (0, 0, 0, 0), "c"), ((2, 0, 0), (0, 0, 0, 0), "c")]
    if n >= MIN_SEASONAL:
        specs.append(((1, 0, 0), (0, 1, 0, SEASON), "n"))
    return specs


def _arima(y: np.ndarray, spec: tuple, h: int, origins: list[int], h_sel: int) -> _Fit:
    from statsmodels.regression.linear_model import burg
    from statsmodels.tsa.arima.model import ARIMA

    order, sorder, trend = spec
    # Pure AR orders estimated by Burg's method on the (seasonally differenced, demeaned)
    # series: closed form, ~50x faster than numerical maximum likelihood, then one Kalman
    # filter of the SARIMAX state space gives the forecasts, variances and AICc.
    x = y[SEASON:] - y[:-SEASON] if sorder[1] else y
    mu = float(x.mean()) if trend == "c" else 0.0
    rho, sigma2 = burg(x - mu, order[0], demean=False)
    if np.any(np.abs(np.roots(np.r_[1.0, -np.asarray(rho)][::-1])) <= 1.0):
        raise ValueError("non-stationary AR estimate")
    params = np.r_[[mu] if trend == "c" else [], rho, max(float(sigma2), 1e-9)]
    model = ARIMA(y, order=order, seasonal_order=sorder, trend=trend)
    res = model.filter(params, cov_type="none")
    f = res.get_forecast(h)
    fc = np.asarray(f.predicted_mean)
    var = np.asarray(f.var_pred_mean, dtype=float)
    sigma = float(math.sqrt(max(var[0], 1e-12)))
    # |psi_j| from the growth of the forecast variance; signs taken positive, as for the
    # persistent (level-carrying) models that fit sales series.
    psi = np.sqrt(np.maximum(np.diff(var, prepend=0.0), 0.0)) / sigma
    # Forecasts from each origin by running the state-space prediction forward from the
    # filtered state there (same as a dynamic prediction, for all origins at once).
    ssm = res.model.ssm
    z, t, c, d = ssm["design"], ssm["transition"], ssm["state_intercept"], ssm["obs_intercept"]
    c = c[:, 0] if c.ndim == 2 else c
    d = d[:, 0] if d.ndim == 2 else d
    a = res.filter_results.predicted_state[:, origins]
    ofc = np.empty((len(origins), h_sel))
    for j in range(h_sel):
        ofc[:, j] = (z @ a)[0] + d[0]
        a = c[:, None] + t @ a
    name = f"arima{order[0], order[1], order[2]}".replace(" ", "")
    if sorder[3]:
        name += f"{sorder[0], sorder[1], sorder[2]}".replace(" ", "") + f"[{SEASON}]"
    return _Fit(name, "arima", fc, sigma, psi, np.zeros((h, h)), ofc, float(res.aicc))


def _candidates(n: int, method: str) -> list[tuple[str, object]]:
    simple = ["mean", "naive", "drift"] + (["snaive"] if n >= MIN_SEASONAL else [])
    out: list[tuple[str, object]] = [("simple", k) for k in simple]
    if n >= MIN_MODELS:
        seasonal_ok = n >= MIN_SEASONAL
        out += [("ets", s) for s in _ETS_SPECS if s[2] is None or seasonal_ok]
        if n >= MIN_ARIMA:
            out += [("arima", s) for s in _arima_specs(n)]
    if method == "auto":
        return out
    fam = "simple" if method in ("mean", "naive", "drift", "snaive") else method
    return [c for c in out if c[0] == fam and (fam != "simple" or c[1] == method)]


def _origin_errors(fit: _Fit, y: np.ndarray, origins: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Forecast minus actual at every (origin, step) inside the data, and the step (0-based)."""
    n = len(y)
    errs, steps = [], []
    for i, o in enumerate(origins):
        k = min(fit.origin_fc.shape[1], n - o)
        errs.append(fit.origin_fc[i, :k] - y[o : o + k])
        steps.append(np.arange(k))
    if not errs:
        return np.array([]), np.array([], dtype=int)
    return np.concatenate(errs), np.concatenate(steps)


def _empty(horizon: int, start: pd.Period | None, levels: Sequence[float], note: str):
    idx = (
        pd.period_range(start, periods=horizon, freq="M")
        if start is not None
        else pd.PeriodIndex([], freq="M")
    )
    nan = pd.Series(np.nan, index=idx, dtype=float)
    return HistoryForecast(
        mean=nan,
        lower={lv: nan.copy() for lv in levels},
        upper={lv: nan.copy() for lv in levels},
        method="none",
        scores=pd.DataFrame(columns=["candidate", "family", "aicc", "mase"]),
        note=note,
        n_obs=0,
        cov=np.full((len(idx), len(idx)), np.nan),
    )


def _as_monthly(series: pd.Series) -> pd.Series:
    s = pd.Series(series, dtype=float).copy()
    if isinstance(s.index, pd.DatetimeIndex):
        s.index = s.index.to_period("M")
    elif not isinstance(s.index, pd.PeriodIndex):
        msg = (
            f"forecast_history needs a monthly PeriodIndex or DatetimeIndex, got "
            f"{type(s.index).__name__!r}. Fix: pass monthly_bookings(wb)[subject]."
        )
        raise ParameterError(msg)
    if s.index.freqstr not in ("M", "ME"):
        s.index = s.index.asfreq("M")
    s = s.groupby(level=0).sum(min_count=1).sort_index()
    if len(s):
        full = pd.period_range(s.index[0], s.index[-1], freq="M")
        s = s.reindex(full)
    first = s.first_valid_index()
    return s.loc[first:].fillna(0.0) if first is not None else s.iloc[0:0]


def forecast_history(
    series: pd.Series,
    horizon: int,
    *,
    method: Method = "auto",
    levels: Sequence[float] = (0.8, 0.95),
    seed: int = 0,
) -> HistoryForecast:
    """Forecast a monthly bookings series ``horizon`` months ahead with calibrated intervals.

    Parameters
    ----------
    series : Series
        Monthly values (currency) on a ``PeriodIndex`` or month-start ``DatetimeIndex``.
        Leading NaN are dropped (months before the subject existed); later gaps count as 0.
    horizon : int
        Months to forecast after the last month of ``series`` (>= 1).
    method : {"auto", "ets", "arima", "snaive", "naive", "mean", "drift"}
        ``"auto"`` fits every candidate the history allows and keeps the one with the lowest
        rolling-origin MASE over up to the last 12 origins (1-3 months ahead). A family name keeps
        that family only (ETS specs compared by AICc).
    levels : sequence of float
        Interval coverage levels in (0, 1).
    seed : int
        Unused by the models (they are deterministic); kept for a uniform API.

    Returns
    -------
    HistoryForecast
        With ``method == "none"`` and a note (no exception) when the series is empty.

    Notes
    -----
    Fallbacks: under 24 months no seasonal model; under 12 months no ARIMA; under 6 months
    only mean, naive and drift; under 4 months the mean. Forecasts and lower bounds are floored at 0 when the history
    has no negative month.

    Examples
    --------
    >>> y = pd.Series(np.arange(1.0, 13.0), index=pd.period_range("2025-01", periods=12,
    ...               freq="M"))
    >>> round(forecast_history(y, 2).mean.iloc[0])
    13
    """
    del seed
    with _one_blas_thread():
        return _forecast_history(series, horizon, method, levels)


def _forecast_history(
    series: pd.Series, horizon: int, method: str, levels: Sequence[float]
) -> HistoryForecast:
    if int(horizon) < 1:
        msg = f"horizon is {horizon!r}. Fix: ask for at least 1 month."
        raise ParameterError(msg)
    horizon = int(horizon)
    bad = [lv for lv in levels if not 0 < lv < 1]
    if bad:
        msg = f"Interval levels {bad!r} are out of range. Fix: use levels such as 0.8 and 0.95."
        raise ParameterError(msg)
    s = _as_monthly(series)
    y = s.to_numpy(dtype=float)
    n = len(y)
    if n == 0:
        return _empty(horizon, None, levels, "not enough history: no months with data")
    start = s.index[-1] + 1
    idx = pd.period_range(start, periods=horizon, freq="M")
    notes = []
    if n < MIN_MODELS:
        notes.append(f"only {n} months of history: simple models only")
    elif n < MIN_SEASONAL:
        notes.append(f"{n} months of history (< {MIN_SEASONAL}): no seasonal model")
    n_orig = int(np.clip(n // 3, 2, SELECTION_ORIGINS))
    origins = _origins(n, n_orig, SELECTION_HORIZON) if n >= 4 else []
    h_sel = SELECTION_HORIZON
    if n >= MIN_SEASONAL:
        origins = [o for o in origins if o >= SEASON]
    rec: list[str] = []
    fits: list[_Fit] = []
    ets_fits: list[tuple[_Fit, object, object]] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for fam, spec in _candidates(n, method):
            try:
                if fam == "simple":
                    fits.append(_simple(spec, y, horizon, origins, h_sel))
                elif fam == "ets":
                    if spec[2] == "mul" and (y <= 0).any():
                        continue  # multiplicative seasonality needs strictly positive months
                    ets_fits.append(_ets(y, spec, horizon))
                else:
                    fits.append(_arima(y, spec, horizon, origins, h_sel))
            except (ValueError, np.linalg.LinAlgError, IndexError) as exc:
                rec.append(f"{fam} {spec}: failed ({type(exc).__name__}: {exc})")
        if ets_fits:
            # Within ETS the likelihoods share one basis, so AICc picks the spec; only that one
            # is backtested (the others keep their AICc in the scores table).
            best = min(ets_fits, key=lambda fx: fx[0].aicc)
            try:
                fits.append(_ets_finish(*best, y, origins, h_sel))
            except (ValueError, np.linalg.LinAlgError, IndexError) as exc:
                rec.append(f"{best[0].name}: failed ({type(exc).__name__}: {exc})")
            others = [f for f, _, _ in ets_fits if f is not best[0]]
    for w in caught:
        if "differenced to eliminate integration" in str(w.message):
            continue  # expected: Burg estimates on the seasonally differenced series
        msg = f"{w.category.__name__}: {str(w.message).splitlines()[0]}"
        if msg not in rec:
            rec.append(msg)
    if not fits:
        fits = [_simple("mean", y, horizon, origins, h_sel)]
        notes.append(f"no {method!r} model could be fitted: fell back to the mean")
    # Scale errors by the in-sample MAE of the benchmark (seasonal naive with two years,
    # else naive), as MASE does, so scores are comparable across subjects.
    lag = SEASON if n >= MIN_SEASONAL else 1
    scale = float(np.mean(np.abs(y[lag:] - y[:-lag]))) if n > lag else 0.0
    scale = scale if scale > 0 else (float(np.mean(np.abs(y))) or 1.0)
    rows, errs = [], {}
    for f in others if ets_fits else []:
        rows.append({"candidate": f.name, "family": "ets", "aicc": f.aicc, "mase": np.nan})
    for f in fits:
        e, steps = _origin_errors(f, y, origins)
        errs[f.name] = (e, steps)
        mase = float(np.mean(np.abs(e)) / scale) if e.size else np.nan
        rows.append({"candidate": f.name, "family": f.family, "aicc": f.aicc, "mase": mase})
    scores = pd.DataFrame(rows)
    chosen = _choose(fits, scores, errs, scale, notes)
    cov, calib = _calibrate(chosen, *errs[chosen.name], levels)
    mean = chosen.mean.copy()
    nonneg = bool((y >= 0).all())
    if nonneg:
        mean = np.maximum(mean, 0.0)
    sd = np.sqrt(np.diag(cov))
    # The stored covariance (used for sums over months and for sampling) carries the 80%
    # factor, the level closest to the bulk of the distribution.
    central = calib.get(0.8, float(np.median(list(calib.values()))))
    cov = cov * central**2
    lower, upper = {}, {}
    for lv in levels:
        z = stats.norm.ppf(0.5 + lv / 2) * calib[lv]
        lo = mean - z * sd
        lower[lv] = pd.Series(np.maximum(lo, 0.0) if nonneg else lo, index=idx)
        upper[lv] = pd.Series(mean + z * sd, index=idx)
    return HistoryForecast(
        mean=pd.Series(mean, index=idx),
        lower=lower,
        upper=upper,
        method=chosen.name,
        scores=scores,
        note="; ".join(notes),
        n_obs=n,
        cov=cov,
        calibration=calib,
        warnings=rec,
    )


_RANK = {"mean": 0, "naive": 1, "snaive": 2, "drift": 3, "ets": 4, "arima": 5}


def _choose(fits: list[_Fit], scores: pd.DataFrame, errs: dict, scale: float, notes: list[str]):
    """Pick a model: the simplest whose rolling-origin MASE is within one standard error of
    the best (the one-standard-error rule), since a dozen correlated errors cannot tell close
    candidates apart and the simpler one generalises better. Across families (and ARIMA orders
    with different differencing) only out-of-sample error compares fairly; AICc already
    picked the ETS spec."""
    by_name = {f.name: f for f in fits}
    pool = scores[scores["candidate"].isin(list(by_name)) & scores["mase"].notna()]
    if len(pool):
        best = pool.loc[pool["mase"].idxmin()]
        e = np.abs(errs[best["candidate"]][0]) / scale
        se = float(np.std(e, ddof=1) / np.sqrt(e.size)) if e.size > 1 else 0.0
        near = pool[pool["mase"] <= best["mase"] + se]
        pick = near.assign(rank=near["family"].map(_RANK)).sort_values(["rank", "mase"]).iloc[0]
        how = (
            ""
            if pick["candidate"] == best["candidate"]
            else (
                f", the simplest within one standard error of {best['candidate']}"
                f" ({best['mase']:.2f})"
            )
        )
        notes.append(f"chose {pick['candidate']} by rolling-origin MASE {pick['mase']:.2f}{how}")
        return by_name[pick["candidate"]]
    ets = scores[(scores["family"] == "ets") & scores["candidate"].isin(list(by_name))]
    if len(ets) and len(fits) > 1:
        name = ets.loc[ets["aicc"].idxmin(), "candidate"]
        notes.append(f"chose {name} by AICc (too short to backtest)")
        return by_name[name]
    first = fits[0]
    notes.append(f"{first.name}: too short to compare models")
    return first


def _calibrate(
    fit: _Fit, errors: np.ndarray, steps: np.ndarray, levels: Sequence[float]
) -> tuple[np.ndarray, dict[float, float]]:
    """The analytic error covariance and, per level, a factor for the interval half-width.

    Analytic intervals assume the model is right; on lumpy sales series they are often too
    narrow. Each level's factor is the ratio of the empirical quantile of |error / sd| over
    the rolling origins to the normal quantile, shrunk towards 1 by ``CALIBRATION_PRIOR``
    pseudo-errors and kept within [0.75, 3] so a handful of errors cannot collapse or
    explode the intervals.
    """
    cov = fit.cov()
    if not np.isfinite(cov).all() or fit.sigma <= 0:
        var = float(np.mean(errors**2)) if errors.size else 0.0
        cov = np.eye(len(fit.mean)) * var
    sd_h = np.sqrt(np.maximum(np.diag(cov), 0.0))
    k = errors.size
    calib = {}
    for lv in levels:
        ratio = 1.0
        if k and (sd := sd_h[np.minimum(steps, len(sd_h) - 1)]).min() > 0:
            z = np.abs(errors / sd)
            ratio = float(np.quantile(z, lv) / stats.norm.ppf(0.5 + lv / 2))
        w = k / (k + CALIBRATION_PRIOR)
        calib[lv] = float(np.clip(w * ratio + (1 - w), 0.75, 3.0))
    return cov, calib


def _fc_chunk(args: tuple) -> list[tuple[str, HistoryForecast]]:
    cols, frame, horizon, method, levels = args
    with _one_blas_thread():
        return [(c, _forecast_history(frame[c], horizon, method, levels)) for c in cols]


def forecast_many(
    wide: pd.DataFrame,
    horizon: int,
    *,
    method: Method = "auto",
    levels: Sequence[float] = (0.8, 0.95),
    n_jobs: int = 1,
    seed: int = 0,
) -> dict[str, HistoryForecast]:
    """Forecast every column of a wide monthly frame, in parallel over processes.

    Parameters
    ----------
    wide : DataFrame
        One column per subject, monthly index (as :func:`monthly_bookings` returns).
    horizon : int
        Months ahead.
    n_jobs : int
        Worker processes (1 = in this process). Results do not depend on it.

    Examples
    --------
    >>> idx = pd.period_range("2024-01", periods=12, freq="M")
    >>> w = pd.DataFrame({"a": np.arange(12.0), "b": np.ones(12)}, index=idx)
    >>> sorted(forecast_many(w, 3))
    ['a', 'b']
    """
    del seed
    cols = [str(c) for c in wide.columns]
    frame = wide.copy()
    frame.columns = cols
    if n_jobs <= 1 or len(cols) < 2:
        return dict(_fc_chunk((cols, frame, horizon, method, tuple(levels))))
    n_chunks = min(len(cols), n_jobs * 4)
    chunks = [cols[i::n_chunks] for i in range(n_chunks)]
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    out: dict[str, HistoryForecast] = {}
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx) as pool:
        jobs = [(c, frame[c], horizon, method, tuple(levels)) for c in chunks]
        for part in pool.map(_fc_chunk, jobs):
            out.update(part)
    return {c: out[c] for c in cols}


# --------------------------------------------------------------------------- bookings


def _subject_of(wb, by: str | None) -> pd.Series:
    """Subject of each rep (index rep_id) for a grouping."""
    reps = wb.reps.set_index("rep_id")
    if by in (None, "all"):
        return pd.Series("all", index=reps.index, dtype="str")
    if by == "rep":
        return pd.Series(reps.index, index=reps.index, dtype="str")
    if by not in ("region", "manager", "team"):
        msg = f"by={by!r} is not a grouping. Fix: use 'rep', 'region', 'manager', 'team' or None."
        raise ParameterError(msg)
    col = reps[by]
    if by == "team":
        col = col.fillna(reps["region"])
    return col.astype("str")


def _last_complete_month(as_of: pd.Timestamp) -> pd.Period:
    as_of = pd.Timestamp(as_of)
    month = as_of.to_period("M")
    return month if as_of == month.end_time.normalize() else month - 1


def monthly_bookings(
    wb, by: Literal["rep", "region", "manager", "team"] | None = "rep", as_of=None
) -> pd.DataFrame:
    """Closed-won amount per month and subject, up to the last complete month before ``as_of``.

    Parameters
    ----------
    wb : Workbook
    by : {"rep", "region", "manager", "team", None}
        Subject grouping; None gives one column ``"all"``.
    as_of : date, optional
        Defaults to ``wb.as_of``. A month counts once its last day is on or before ``as_of``.

    Returns
    -------
    DataFrame
        Monthly ``PeriodIndex`` named ``month``, one column per subject (currency). Months
        with no bookings are 0; months before a rep's start date (or, without one, first
        deal) are NaN, so a new rep has a short history rather than years of false zeros.

    Examples
    --------
    >>> monthly_bookings(wb, by="region").tail(3)  # doctest: +SKIP
    """
    as_of = pd.Timestamp(wb.as_of if as_of is None else as_of)
    last = _last_complete_month(as_of)
    subj = _subject_of(wb, by)
    opps = wb.opportunities
    # A rep's history starts at their start date, but not before the data does (zeros before
    # the export window would be invented); without a start date, at their first deal.
    starts = opps.groupby("rep_id")["created_date"].min().reindex(subj.index)
    if "start_date" in wb.reps.columns and len(opps):
        sd = wb.reps.set_index("rep_id")["start_date"].reindex(subj.index)
        sd = sd.clip(lower=opps["created_date"].min())
        starts = sd.fillna(starts)
    first = starts.groupby(subj).min().dropna()
    won = opps[(opps["outcome"] == "won") & opps["close_date"].notna()]
    won = won[won["close_date"].dt.to_period("M") <= last]
    keys = won["rep_id"].map(subj)
    table = (
        won.assign(subject=keys.to_numpy(), month=won["close_date"].dt.to_period("M"))
        .dropna(subset=["subject"])
        .pivot_table(index="month", columns="subject", values="amount", aggfunc="sum")
    )
    subjects = sorted(set(subj.dropna()))
    if first.empty:
        return pd.DataFrame(columns=subjects, index=pd.PeriodIndex([], freq="M", name="month"))
    start = min(first.min().to_period("M"), table.index.min() if len(table) else last)
    months = pd.period_range(start, last, freq="M", name="month")
    out = table.reindex(index=months, columns=subjects).fillna(0.0).astype(float)
    first_month = first.dt.to_period("M").reindex(subjects)
    before = np.asarray(months)[:, None] < first_month.to_numpy()[None, :]
    out = out.mask(before & out.eq(0).to_numpy())
    out.columns.name = by or "all"
    return out


# --------------------------------------------------------------------------- win probabilities

AGE_BANDS = ("new", "typical", "old")


def _stage_order(wb) -> dict[str, int]:
    cat = wb.config.stages
    order = {n: i for i, n in enumerate(cat.open_names)}
    top = len(cat.open_names) - 1
    for st in cat.stages:
        if st.kind == "won":
            order[st.name] = top
    return order


def _median_cycle(closed: pd.DataFrame) -> float:
    won = closed[closed["outcome"] == "won"]
    days = (won["close_date"] - won["created_date"]).dt.days
    return float(days.median()) if len(days.dropna()) else 90.0


def _age_band(age_days: pd.Series, cycle: float, old_multiple: float) -> pd.Series:
    bins = [-np.inf, 0.5 * cycle, old_multiple * cycle, np.inf]
    return pd.cut(age_days, bins, labels=list(AGE_BANDS)).astype("str")


def _reached(wb, as_of: pd.Timestamp) -> pd.DataFrame:
    """One row per closed deal (closed by ``as_of``) and open stage it reached, with ``won``."""
    opps = wb.opportunities
    closed = opps[(opps["outcome"] != "open") & (opps["close_date"] <= as_of)]
    order = _stage_order(wb)
    top = pd.Series(closed["furthest_stage"].map(order), index=closed.index)
    snaps = wb.snapshots
    if len(snaps):
        s = snaps[(snaps["as_of"] <= as_of) & _member(snaps["opp_id"], closed["opp_id"])]
        seen = s.assign(o=s["stage"].map(order)).groupby("opp_id")["o"].max()
        top = pd.concat([top, closed["opp_id"].map(seen)], axis=1).max(axis=1)
    # Won deals went through every stage; lost deals with no recorded stage count at the first.
    top = top.where(closed["outcome"] != "won", len(wb.config.stages.open_names) - 1).fillna(0)
    names = wb.config.stages.open_names
    counts = top.to_numpy().astype(int) + 1
    rows = np.repeat(np.arange(len(closed)), counts)
    stage_idx = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    base = closed.iloc[rows]
    return pd.DataFrame(
        {
            "opp_id": base["opp_id"].to_numpy(),
            "rep_id": base["rep_id"].to_numpy(),
            "stage": np.asarray(names, dtype=object)[stage_idx],
            "won": (base["outcome"] == "won").to_numpy(),
        }
    )


def _eb_strength(n: pd.Series, k: pd.Series, p0: pd.Series) -> float:
    """Beta prior strength (pseudo-deals) from the spread of group rates: method of moments."""
    ok = n >= 5
    if ok.sum() < 3:
        return 20.0
    rate = k[ok] / n[ok]
    between = float(np.var(rate - p0[ok], ddof=1))
    sampling = float(np.mean(p0[ok] * (1 - p0[ok]) / n[ok]))
    pq = float(np.mean(p0[ok] * (1 - p0[ok])))
    excess = between - sampling
    return float(np.clip(pq / excess - 1 if excess > 0 else 1000.0, 5.0, 1000.0))


def win_probabilities(
    wb,
    as_of=None,
    by: Sequence[str] = ("stage",),
    *,
    prior_strength: float | None = None,
) -> pd.DataFrame:
    """Win probability of a deal at each stage, learned from deals closed by ``as_of``.

    A closed deal counts at every open stage it reached (its ``furthest_stage`` and, where
    kept, the stages snapshots saw; won deals reached them all). The stage rate is shrunk
    towards the configured stage probability by 2 pseudo-deals; rates per rep or deal-age band
    are shrunk towards their stage rate by a beta prior whose strength is estimated from how
    much groups really differ (empirical Bayes), so a rep with 3 deals gets neither 0 nor 1.

    Parameters
    ----------
    by : sequence of {"stage", "rep_id", "age_band"}
        ``("stage",)``, ``("stage", "rep_id")`` or ``("stage", "age_band")``. Age bands
        (``new`` < half the median won cycle, ``old`` > ``old_age_multiple`` x it) need
        snapshots; without them the table is per stage.
    prior_strength : float, optional
        Pseudo-deals of the group-level prior; estimated when None.

    Returns
    -------
    DataFrame
        Columns ``*by, n, won, rate, prior, p`` (p = shrunk probability, 0-1).

    Examples
    --------
    >>> win_probabilities(wb)  # doctest: +SKIP
    """
    as_of = pd.Timestamp(wb.as_of if as_of is None else as_of)
    by = tuple(by)
    allowed = {("stage",), ("stage", "rep_id"), ("stage", "age_band")}
    if by not in allowed:
        msg = f"by={by!r} is not supported. Fix: use one of {sorted(allowed)!r}."
        raise ParameterError(msg)
    names = wb.config.stages.open_names
    cfg = pd.Series(wb.config.stages.probability_of()).reindex(names)
    r = _reached(wb, as_of)
    g = r.groupby("stage")["won"].agg(["size", "sum"]).reindex(names, fill_value=0)
    stage = pd.DataFrame({"stage": names, "n": g["size"].to_numpy(), "won": g["sum"].to_numpy()})
    stage["rate"] = stage["won"] / stage["n"].where(stage["n"] > 0)
    stage["prior"] = cfg.to_numpy()
    stage["p"] = (stage["won"] + 2.0 * stage["prior"]) / (stage["n"] + 2.0)
    if by == ("stage",):
        return stage
    p_stage = stage.set_index("stage")["p"]
    if by == ("stage", "age_band"):
        snaps = wb.snapshots
        opps = wb.opportunities
        closed = opps[(opps["outcome"] != "open") & (opps["close_date"] <= as_of)]
        s = snaps[(snaps["as_of"] <= as_of) & _member(snaps["opp_id"], closed["opp_id"])]
        s = s[s["stage"].isin(names)].merge(
            closed[["opp_id", "created_date", "outcome"]], on="opp_id"
        )
        cycle = _median_cycle(closed)
        s["age_band"] = _age_band(
            (s["as_of"] - s["created_date"]).dt.days, cycle, wb.config.old_age_multiple
        )
        r = s.assign(won=s["outcome"] == "won").drop_duplicates(["opp_id", "stage", "age_band"])
    key = list(by)
    grp = r.groupby(key)["won"].agg(["size", "sum"]).reset_index()
    grp = grp.rename(columns={"size": "n", "sum": "won"})
    grp["prior"] = grp["stage"].map(p_stage).astype(float)
    grp["rate"] = grp["won"] / grp["n"]
    k = (
        prior_strength
        if prior_strength is not None
        else _eb_strength(grp["n"], grp["won"], grp["prior"])
    )
    grp["p"] = (grp["won"] + k * grp["prior"]) / (grp["n"] + k)
    grp.attrs["prior_strength"] = k
    return grp[[*key, "n", "won", "rate", "prior", "p"]]


def _member(values: pd.Series, pool) -> np.ndarray:
    """``values.isin(pool)`` through a hash index (pandas' str ``isin`` is ~20x slower)."""
    return pd.Index(pd.unique(pd.Series(pool, dtype="str"))).get_indexer(values) >= 0


def _logit(p):
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


_CACHE: dict[tuple, tuple] = {}

#: Pseudo-observations pulling the in-period factor towards 1 (no slippage adjustment).
SLIP_PRIOR = 30.0


def in_period_factors(wb, as_of=None) -> pd.DataFrame:
    """How much of a stage's win probability lands inside the period a deal is due in.

    A deal's probability from :func:`win_probabilities` is that it is *ever* won; deals due
    this quarter often slip to the next. From every past snapshot whose quarter has ended by
    ``as_of``, take the open deals due in that quarter and count those won by its end. The
    factor is that in-quarter rate over the stage's eventual win rate, shrunk towards 1 by
    ``SLIP_PRIOR`` pseudo-deals; without snapshots it is 1.

    Returns
    -------
    DataFrame
        Columns ``stage, n, won_in_period, rate, p_eventual, factor``.

    Examples
    --------
    >>> in_period_factors(wb)  # doctest: +SKIP
    """
    as_of = pd.Timestamp(wb.as_of if as_of is None else as_of)
    names = wb.config.stages.open_names
    p_ev = win_probabilities(wb, as_of).set_index("stage")["p"]
    snaps = wb.snapshots
    snaps = snaps[(snaps["as_of"] <= as_of) & snaps["stage"].isin(names)]
    cal = wb.config.calendar
    if len(snaps):
        labels = cal.period_of(snaps["as_of"], "Q")
        ends = {q: cal.period_bounds(q)[1] for q in labels.unique()}
        q_end = labels.map(ends).astype("datetime64[ns]")
        due = snaps["close_date"].where(snaps["close_date"] > snaps["as_of"], snaps["as_of"])
        keep = (q_end <= as_of) & (due <= q_end)
        s = snaps[keep].assign(q_end=q_end[keep])
        o = wb.opportunities.set_index("opp_id")
        outcome = s["opp_id"].map(o["outcome"])
        closed = s["opp_id"].map(o["close_date"])
        s = s.assign(hit=(outcome == "won") & (closed <= s["q_end"]))
        g = s.groupby("stage")["hit"].agg(["size", "sum"]).reindex(names, fill_value=0)
    else:
        g = pd.DataFrame({"size": 0, "sum": 0}, index=names)
    out = pd.DataFrame(
        {"stage": names, "n": g["size"].to_numpy(), "won_in_period": g["sum"].to_numpy()}
    )
    out["rate"] = out["won_in_period"] / out["n"].where(out["n"] > 0)
    out["p_eventual"] = p_ev.reindex(names).to_numpy()
    shrunk = (out["won_in_period"] + SLIP_PRIOR * out["p_eventual"]) / (out["n"] + SLIP_PRIOR)
    out["factor"] = (shrunk / out["p_eventual"].clip(lower=1e-6)).clip(upper=1.0 / 0.999)
    return out


def _learned(wb, as_of: pd.Timestamp) -> tuple:
    """Stage, rep and age-band tables, cached per data and as_of: batch runs call
    :func:`period_forecast` once per rep on the same workbook."""
    key = (id(wb.opportunities), id(wb.snapshots), id(wb.config), as_of)
    hit = _CACHE.get(key)
    # The cached entry holds the frames themselves, so their ids cannot be reused meanwhile.
    if hit is not None and hit[0] is wb.opportunities and hit[1] is wb.snapshots:
        return hit[2]
    tables = (
        win_probabilities(wb, as_of),
        win_probabilities(wb, as_of, ("stage", "rep_id")),
        win_probabilities(wb, as_of, ("stage", "age_band")) if len(wb.snapshots) else None,
        in_period_factors(wb, as_of).set_index("stage")["factor"],
    )
    if len(_CACHE) >= 8:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = (wb.opportunities, wb.snapshots, tables)
    return tables


def deal_probabilities(wb, deals: pd.DataFrame, as_of=None) -> pd.Series:
    """Win probability of each open deal: stage rate adjusted for its rep and age band.

    Adjustments add on the log-odds scale: ``logit p = logit p_stage + (logit p_rep,stage -
    logit p_stage) + (logit p_stage,band - logit p_stage)``, each group rate already shrunk.

    Parameters
    ----------
    deals : DataFrame
        Open deals with ``stage``, ``rep_id`` and ``created_date``.
    """
    as_of = pd.Timestamp(wb.as_of if as_of is None else as_of)
    by_stage, by_rep, by_age, _ = _learned(wb, as_of)
    stage = by_stage.set_index("stage")["p"]
    base = deals["stage"].map(stage).astype(float)
    base = base.fillna(deals["stage"].map(wb.config.stages.probability_of())).fillna(0.0)
    z = _logit(base)
    if len(by_rep):
        key = pd.MultiIndex.from_frame(deals[["stage", "rep_id"]])
        p_rep = by_rep.set_index(["stage", "rep_id"])["p"].reindex(key).to_numpy()
        z = z + np.where(np.isnan(p_rep), 0.0, _logit(p_rep) - _logit(base))
    if by_age is not None and len(by_age):
        opps = wb.opportunities
        closed = opps[(opps["outcome"] != "open") & (opps["close_date"] <= as_of)]
        band = _age_band(
            (as_of - deals["created_date"]).dt.days,
            _median_cycle(closed),
            wb.config.old_age_multiple,
        )
        key = pd.MultiIndex.from_arrays([deals["stage"], band])
        p_age = by_age.set_index(["stage", "age_band"])["p"].reindex(key).to_numpy()
        z = z + np.where(np.isnan(p_age), 0.0, _logit(p_age) - _logit(base))
    return pd.Series(1 / (1 + np.exp(-z)), index=deals.index, name="p_win")


# --------------------------------------------------------------------------- pipeline


@dataclass
class Distribution:
    """Monte Carlo draws of a period's bookings (currency).

    Examples
    --------
    >>> d = Distribution(np.array([1.0, 2.0, 3.0, 4.0]))
    >>> d.mean, d.quantile(0.5)
    (2.5, 2.5)
    """

    samples: np.ndarray

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples)) if self.samples.size else 0.0

    @property
    def sd(self) -> float:
        return float(np.std(self.samples)) if self.samples.size else 0.0

    def quantile(self, q: float) -> float:
        return float(np.quantile(self.samples, q)) if self.samples.size else 0.0


@dataclass
class PipelineForecast:
    """Period bookings from the open pipeline plus a run-rate, by simulation.

    Attributes
    ----------
    already_won : float
        Won in the period up to ``as_of`` (currency).
    deals : DataFrame
        Open deals due in the period (past-due count as due now) with ``p_win``.
    expected_open, expected_run_rate : float
        Analytic expectations: ``sum(p_win * amount)`` and ``E[count] * mean size``.
    run_rate : dict
        ``rate`` (expected deals created and won in the rest of the period), ``mean_size``,
        ``windows`` (historical windows it was learned from).
    remaining : Distribution
        Simulated bookings still to come (currency); ``total`` adds ``already_won``.
    categories : dict or None
        Forecast-category roll-up: ``closed``, ``commit``, ``best_case``, ``pipeline`` sums
        (each including the ones before it), when the data has categories.
    """

    already_won: float
    deals: pd.DataFrame
    expected_open: float
    expected_run_rate: float
    run_rate: dict
    remaining: Distribution
    categories: dict | None
    note: str = ""

    @property
    def total(self) -> Distribution:
        return Distribution(self.remaining.samples + self.already_won)

    @property
    def expected(self) -> float:
        return self.already_won + self.expected_open + self.expected_run_rate


def _open_at(wb, as_of: pd.Timestamp) -> tuple[pd.DataFrame, str]:
    """Open deals as they stood at ``as_of``: the latest snapshot when looking back."""
    opps = wb.opportunities
    snaps = wb.snapshots
    cols = ["opp_id", "rep_id", "stage", "amount", "close_date", "forecast_category"]
    if len(snaps) and as_of < wb.as_of - pd.Timedelta(days=6):
        dates = snaps.loc[snaps["as_of"] <= as_of, "as_of"]
        if len(dates):
            s = snaps[snaps["as_of"] == dates.max()]
            s = s[s["stage"].isin(wb.config.stages.open_names)]
            s = s.drop(columns=["rep_id"], errors="ignore").merge(
                opps[["opp_id", "rep_id", "created_date"]], on="opp_id", how="left"
            )
            return s[
                [*cols, "created_date"]
            ], f"pipeline from the snapshot of {dates.max():%Y-%m-%d}"
    if as_of < wb.as_of - pd.Timedelta(days=6):
        was_open = (opps["created_date"] <= as_of) & (
            (opps["outcome"] == "open") | (opps["close_date"] > as_of)
        )
        d = opps[was_open].copy()
        d["stage"] = d["furthest_stage"].where(d["outcome"] != "open", d["stage"])
        d["stage"] = d["stage"].fillna(wb.config.stages.open_names[0])
        return d[[*cols, "created_date"]], "no snapshot at as_of: pipeline rebuilt approximately"
    return opps.loc[opps["outcome"] == "open", [*cols, "created_date"]], ""


def _run_rate(
    opps: pd.DataFrame, as_of: pd.Timestamp, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[float, float, np.ndarray]:
    """Learn how many deals are created after ``as_of`` and won by ``end``; and their sizes.

    Replays the same window (length ``end - as_of``) from weekly origins over the past year.
    Returns the mean count per window, the number of independent windows, and the sizes.
    """
    span = (end - as_of).days
    gap = max((start - as_of).days, 0)
    won = opps[(opps["outcome"] == "won") & (opps["close_date"] <= as_of)]
    cycle = (won["close_date"] - won["created_date"]).dt.days
    fast = won[cycle <= span]
    if span <= 0 or won.empty:
        return 0.0, 1.0, np.array([])
    earliest = opps["created_date"].min()
    origins = as_of - pd.to_timedelta(np.arange(1, 53) * 7, unit="D") - pd.Timedelta(days=span)
    origins = origins[origins >= earliest]
    if len(origins) == 0:
        return 0.0, 1.0, np.array([])
    o = origins.to_numpy()[None, :]
    c = fast["created_date"].to_numpy()[:, None]
    k = fast["close_date"].to_numpy()[:, None]
    inside = (c > o) & (k > o + np.timedelta64(gap, "D")) & (k <= o + np.timedelta64(span, "D"))
    counts = inside.sum(axis=0)
    used = inside.any(axis=1)
    covered = (origins.max() - origins.min()).days + span
    return float(counts.mean()), max(covered / span, 1.0), fast["amount"].to_numpy()[used]


def _simulate_deals(p: np.ndarray, amount: np.ndarray, n_sims: int, rng) -> np.ndarray:
    out = np.zeros(n_sims)
    if p.size == 0:
        return out
    block = max(1, 2_000_000 // p.size)  # bound memory: block x deals uniforms at a time
    p32, amt = p.astype(np.float32), amount.astype(float)
    for lo in range(0, n_sims, block):
        hi = min(lo + block, n_sims)
        out[lo:hi] = (rng.random((hi - lo, p.size), dtype=np.float32) < p32) @ amt
    return out


def forecast_pipeline(
    wb,
    reps: Sequence[str] | None,
    period_start,
    period_end,
    as_of=None,
    *,
    n_sims: int = 10_000,
    seed: int = 0,
    run_rate: bool = True,
) -> PipelineForecast:
    """Simulate a period's bookings from the open pipeline and a learned run-rate.

    Parameters
    ----------
    wb : Workbook
    reps : sequence of str or None
        Rep ids whose deals count (None = everyone).
    period_start, period_end : date
        First and last day of the period.
    as_of : date, optional
        Defaults to ``wb.as_of``. Earlier dates use the pipeline as snapshots saw it then and
        learn only from deals closed by then (for backtests).
    n_sims : int
        Monte Carlo draws.
    seed : int
        Seed of the generator; same seed, same draws.
    run_rate : bool
        Add deals created after ``as_of`` and won within the period.

    Notes
    -----
    Each due deal is won with its :func:`deal_probabilities` probability, independently;
    deals whose close date has passed count as due now. The run-rate count is Poisson with a
    rate drawn from its gamma posterior (so a rate learned from few windows is uncertain) and
    sizes are resampled from the historical deals that made it.

    Examples
    --------
    >>> fc = forecast_pipeline(wb, None, "2026-07-01", "2026-09-30")  # doctest: +SKIP
    >>> fc.total.quantile(0.1), fc.expected  # doctest: +SKIP
    """
    as_of = pd.Timestamp(wb.as_of if as_of is None else as_of).normalize()
    start, end = pd.Timestamp(period_start), pd.Timestamp(period_end)
    if end < start:
        msg = f"period_end {end.date()} is before period_start {start.date()}. Fix: swap them."
        raise ParameterError(msg)
    opps = wb.opportunities
    if reps is not None:
        opps = opps[_member(opps["rep_id"], list(reps))]
    done = (
        (opps["outcome"] == "won")
        & opps["close_date"].between(start, min(as_of, end))
        & (opps["close_date"] <= as_of)
    )
    already = float(opps.loc[done, "amount"].sum())
    pipe, note = _open_at(wb, as_of)
    if reps is not None:
        pipe = pipe[_member(pipe["rep_id"], list(reps))]
    due_on = pipe["close_date"].where(pipe["close_date"] > as_of, as_of)
    due = pipe[due_on.between(start, end) & (as_of < end)].copy()
    if len(due):
        # Eventual win probability times the share of it that lands inside the period.
        slip = _learned(wb, as_of)[3]
        factor = due["stage"].map(slip).astype(float).fillna(1.0).to_numpy()
        p_ever = deal_probabilities(wb, due, as_of).to_numpy()
        due["p_win"] = np.clip(p_ever * factor, 0.0, 1.0)
    else:
        due["p_win"] = []
    rng = np.random.default_rng(seed)
    sims = _simulate_deals(due["p_win"].to_numpy(), due["amount"].to_numpy(), n_sims, rng)
    rate = windows = 0.0
    sizes = np.array([])
    if run_rate and as_of < end:
        rate, windows, sizes = _run_rate(opps, as_of, start, end)
    exp_rr = 0.0
    if sizes.size and rate > 0:
        shape, scale = rate * windows + 0.5, 1.0 / windows
        lam = rng.gamma(shape, scale, n_sims)
        count = rng.poisson(lam)
        draws = rng.choice(sizes, int(count.sum()))
        sims += np.bincount(np.repeat(np.arange(n_sims), count), draws, minlength=n_sims)
        exp_rr = shape * scale * float(sizes.mean())
    cats = None
    fc = due["forecast_category"]
    if fc.notna().any():
        by = due.groupby(fc)["amount"].sum()
        commit = already + float(by.get("commit", 0.0))
        best = commit + float(by.get("best_case", 0.0))
        cats = {
            "closed": already,
            "commit": commit,
            "best_case": best,
            "pipeline": best + float(by.get("pipeline", 0.0)),
        }
    return PipelineForecast(
        already_won=already,
        deals=due.reset_index(drop=True),
        expected_open=float((due["p_win"] * due["amount"]).sum()),
        expected_run_rate=exp_rr,
        run_rate={
            "rate": rate,
            "mean_size": float(sizes.mean()) if sizes.size else 0.0,
            "windows": windows,
        },
        remaining=Distribution(sims),
        categories=cats,
        note=note,
    )


# --------------------------------------------------------------------------- blend


def blend(
    history: Distribution,
    pipeline: Distribution,
    already_won: float = 0.0,
    *,
    weight: float | None = None,
    seed: int = 0,
) -> tuple[Distribution, float]:
    """Pool two forecasts of the bookings still to come into one distribution of the total.

    Parameters
    ----------
    history, pipeline : Distribution
        Draws of the remaining bookings (currency) from each view.
    already_won : float
        Added to every draw.
    weight : float, optional
        Weight of the pipeline view (0-1). By default inverse-variance:
        ``var_h / (var_h + var_p)``, floored at 0.2 and capped at 0.8 so neither view is
        ignored (pass a backtest-derived weight to override).

    Returns
    -------
    (Distribution, float)
        The blended total and the pipeline weight used.

    Notes
    -----
    A linear opinion pool: each draw comes from the pipeline view with probability ``weight``
    and from history otherwise. Its mean is the weighted mean; unlike averaging draws it does
    not assume the two views' errors are independent, and when they disagree the spread
    widens, as the manager's uncertainty should.

    Examples
    --------
    >>> h, p = Distribution(np.full(1000, 100.0)), Distribution(np.full(1000, 200.0))
    >>> d, w = blend(h, p, 50.0, weight=0.25)
    >>> sorted(set(d.samples.tolist())), abs(d.mean - 175) < 5  # 0.75*100 + 0.25*200 + 50
    ([150.0, 250.0], True)
    """
    if weight is None:
        vh, vp = history.sd**2, pipeline.sd**2
        weight = 0.5 if vh + vp == 0 else vh / (vh + vp)
        weight = float(np.clip(weight, 0.2, 0.8))
    if not 0 <= weight <= 1:
        msg = f"weight is {weight!r}. Fix: give the pipeline's weight between 0 and 1."
        raise ParameterError(msg)
    n = max(history.samples.size, pipeline.samples.size)
    rng = np.random.default_rng(seed)
    take_p = rng.random(n) < weight
    h = rng.choice(history.samples, n) if history.samples.size else np.zeros(n)
    p = rng.choice(pipeline.samples, n) if pipeline.samples.size else np.zeros(n)
    return Distribution(np.where(take_p, p, h) + already_won), float(weight)


def p_attain(distribution: Distribution | np.ndarray, target: float) -> float:
    """Probability that period bookings reach ``target`` (share of draws >= target).

    Examples
    --------
    >>> p_attain(np.array([1.0, 2.0, 3.0, 4.0]), 3.0)
    0.5
    """
    s = distribution.samples if isinstance(distribution, Distribution) else np.asarray(distribution)
    if s.size == 0 or target is None or not np.isfinite(target):
        return float("nan")
    return float(np.mean(s >= target))


# --------------------------------------------------------------------------- one call


@dataclass
class PeriodForecast:
    """Where a subject will land in a period, from history, pipeline and both.

    Examples
    --------
    >>> pf = period_forecast(wb, "rep", "R001", "FY2026-Q4")  # doctest: +SKIP
    >>> pf.to_dict()["p_attain"]  # doctest: +SKIP
    """

    subject_type: str
    subject: str
    period: str
    period_start: pd.Timestamp
    period_end: pd.Timestamp
    as_of: pd.Timestamp
    already_won: float
    target: float | None
    history: HistoryForecast
    history_total: Distribution
    pipeline: PipelineForecast
    blended: Distribution
    pipeline_weight: float
    notes: list[str] = field(default_factory=list)

    @property
    def p_attain(self) -> float:
        return p_attain(self.blended, self.target) if self.target else float("nan")

    def summary(self, dist: Distribution) -> dict[str, float]:
        return {
            "mean": dist.mean,
            "p10": dist.quantile(0.1),
            "p50": dist.quantile(0.5),
            "p90": dist.quantile(0.9),
        }

    def to_dict(self) -> dict:
        """Plain floats and strings, ready for JSON."""
        return {
            "subject_type": self.subject_type,
            "subject": self.subject,
            "period": self.period,
            "period_start": f"{self.period_start:%Y-%m-%d}",
            "period_end": f"{self.period_end:%Y-%m-%d}",
            "as_of": f"{self.as_of:%Y-%m-%d}",
            "already_won": float(self.already_won),
            "target": None if self.target is None else float(self.target),
            "history": {"method": self.history.method, **self.summary(self.history_total)},
            "pipeline": {
                "expected": float(self.pipeline.expected),
                **self.summary(self.pipeline.total),
                "categories": self.pipeline.categories,
            },
            "blend": self.summary(self.blended),
            "pipeline_weight": self.pipeline_weight,
            "p_attain": self.p_attain,
            "p_attain_history": p_attain(self.history_total, self.target)
            if self.target
            else float("nan"),
            "p_attain_pipeline": p_attain(self.pipeline.total, self.target)
            if self.target
            else float("nan"),
            "notes": list(self.notes),
        }


def _reps_of(wb, subject_type: str, subject: str | None) -> tuple[list[str], str]:
    if subject_type == "all":
        return wb.reps["rep_id"].tolist(), "all"
    if subject is None:
        msg = f"subject_type={subject_type!r} needs a subject. Fix: pass subject=..."
        raise ParameterError(msg)
    if subject_type == "rep":
        rid = str(wb.rep(subject)["rep_id"])
        return [rid], rid
    subj = _subject_of(wb, subject_type)
    hit = subj.index[subj == str(subject)].tolist()
    if not hit:
        import difflib

        close = difflib.get_close_matches(str(subject), sorted(set(subj)), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        msg = (
            f"No {subject_type} called {subject!r}.{hint} Fix: use a value of reps.{subject_type}."
        )
        raise ParameterError(msg)
    return hit, str(subject)


def _target(wb, reps: list[str], subject_type: str, subject: str, start, end) -> float | None:
    t = wb.targets
    if t.empty:
        return None
    in_period = t["month"].between(start, end)
    if subject_type == "region":
        own = t[in_period & t["rep_id"].isna() & (t["region"] == subject)]
        if len(own):
            return float(own["amount"].sum())
    rows = t[in_period & _member(t["rep_id"], reps)]
    if subject_type == "all" and rows.empty:
        rows = t[in_period & t["rep_id"].isna()]
    return float(rows["amount"].sum()) if len(rows) else None


def _month_weights(first: pd.Period, horizon: int, start, end, as_of: pd.Timestamp) -> np.ndarray:
    """Share of each forecast month still to come inside the period (the current month's
    remaining days, 1 for later months inside the period, 0 outside)."""
    months = pd.period_range(first, periods=horizon, freq="M")
    m_start = months.start_time
    m_end = months.end_time.normalize()
    lo = np.maximum(
        m_start.to_numpy(), np.datetime64(max(pd.Timestamp(start), as_of + pd.Timedelta(days=1)))
    )
    hi = np.minimum(m_end.to_numpy(), np.datetime64(pd.Timestamp(end)))
    days = (hi - lo).astype("timedelta64[D]").astype(int) + 1
    return np.clip(days, 0, None) / months.days_in_month.to_numpy()


def period_forecast(
    wb,
    subject_type: SubjectType = "all",
    subject: str | None = None,
    period: str | None = None,
    as_of=None,
    *,
    seed: int = 0,
    n_sims: int = 10_000,
    method: Method = "auto",
) -> PeriodForecast:
    """Forecast one subject's bookings for one period: history, pipeline, blend, P(attain).

    Parameters
    ----------
    wb : Workbook
    subject_type : {"rep", "region", "manager", "team", "all"}
    subject : str, optional
        Rep id (or unique name), region, manager or team; not needed for ``"all"``.
    period : str, optional
        ``"2026-09"``, ``"FY2026-Q4"`` or ``"FY2026"``; default the fiscal quarter in play at
        ``as_of`` (the next one when ``as_of`` is a quarter's last day).
    as_of : date, optional
        Defaults to ``wb.as_of``.
    seed : int
        Makes the simulation repeatable.

    Returns
    -------
    PeriodForecast
        ``to_dict()`` gives plain numbers for JSON.

    Examples
    --------
    >>> period_forecast(wb, "region", "West").to_dict()["blend"]  # doctest: +SKIP
    """
    as_of = pd.Timestamp(wb.as_of if as_of is None else as_of).normalize()
    cal = wb.config.calendar
    if period is None:
        # The quarter still in play: on a quarter's last day that is the next one.
        period = str(cal.period_of(pd.Series([as_of + pd.Timedelta(days=1)]), "Q").iloc[0])
    start, end = cal.period_bounds(period)
    reps, name = _reps_of(wb, subject_type, subject)
    notes: list[str] = []
    by = None if subject_type == "all" else subject_type
    wide = monthly_bookings(wb, by=by, as_of=as_of)
    series = wide[name] if name in wide.columns else pd.Series(dtype=float)
    last = _last_complete_month(as_of)
    horizon = max((end.to_period("M") - last).n, 0)
    pipe = forecast_pipeline(wb, reps, start, end, as_of, n_sims=n_sims, seed=seed)
    if pipe.note:
        notes.append(pipe.note)
    rng = np.random.default_rng(seed + 1)
    if horizon == 0:
        hist = _empty(1, last + 1, (0.8, 0.95), "the period is over: nothing left to forecast")
        remaining = Distribution(np.zeros(n_sims))
    else:
        hist = forecast_history(series, horizon, method=method)
        if hist.ok:
            w = _month_weights(last + 1, horizon, start, end, as_of)
            mu, sd = hist.total(w)
            remaining = Distribution(np.maximum(rng.normal(mu, sd, n_sims), 0.0))
        else:
            remaining = Distribution(np.array([]))
        notes.append(f"history: {hist.method}" + (f" ({hist.note})" if hist.note else ""))
    history_total = Distribution(remaining.samples + pipe.already_won)
    if remaining.samples.size:
        blended, weight = blend(remaining, pipe.remaining, pipe.already_won, seed=seed + 2)
    else:
        blended, weight = pipe.total, 1.0
        notes.append("no usable history: the blend is the pipeline view")
    return PeriodForecast(
        subject_type=subject_type,
        subject=name,
        period=period,
        period_start=start,
        period_end=end,
        as_of=as_of,
        already_won=pipe.already_won,
        target=_target(wb, reps, subject_type, name, start, end),
        history=hist,
        history_total=history_total,
        pipeline=pipe,
        blended=blended,
        pipeline_weight=weight,
        notes=notes,
    )

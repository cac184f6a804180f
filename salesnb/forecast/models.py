"""Candidate models for monthly bookings: simple baselines, statsmodels ETS and AR(I)MA.

Each candidate is fitted to a monthly series and returns a :class:`_Fit`: point forecasts, the
structure of its forecast errors (one-step sd, MA weights, parameter uncertainty) and its
forecasts from the rolling selection origins. Choosing among them and calibrating the intervals
is :mod:`salesnb.forecast.history`'s job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Months in a season (monthly data, yearly pattern).
SEASON = 12

#: Below this many months no seasonal model is fitted (two full years are needed to tell
#: seasonality from noise).
MIN_SEASONAL = 24
#: Below this many months only the simple models (mean, naive, drift) are tried.
MIN_MODELS = 6
#: Below this many months no ARIMA: AR coefficients from a few points are noise (the public
#: CRM benchmark showed ARIMA intervals covering 62% instead of 80% on 6-8 months).
MIN_ARIMA = 12


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
    #: Seasonal index of each forecast month when fitted to a seasonally adjusted series
    #: (:mod:`salesnb.forecast.seasonal`); the errors scale with it.
    season_scale: np.ndarray | None = None

    def cov(self) -> np.ndarray:
        h = len(self.psi)
        lag = np.subtract.outer(np.arange(h), np.arange(h))
        lower = np.where(lag >= 0, self.psi[np.clip(lag, 0, h - 1)], 0.0)
        cov = self.sigma**2 * (lower @ lower.T + self.extra)
        if self.season_scale is not None:
            cov = cov * np.outer(self.season_scale, self.season_scale)
        return cov


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
    """Fit one ETS spec: the fit (no forecasts yet: NaN until :func:`_ets_finish`), the results
    and a refilter."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    trend, damped, seasonal = spec
    kw = {
        "trend": trend,
        "damped_trend": damped,
        "seasonal": seasonal,
        "seasonal_periods": SEASON if seasonal else None,
    }
    # Non-seasonal specs estimate the initial level (and trend) with the smoothing
    # parameters, as statsforecast's and R's ets do. The heuristic start is a line through
    # the first 10 months, held fixed: on a lumpy sales series that anchors the level to a
    # few early deals and the fit answers with a large alpha that chases every month.
    # Seasonal specs keep the heuristic start (a moving-average decomposition of the first
    # years): estimating 11 more states about doubles their fitting time.
    init = "heuristic" if seasonal and len(y) >= 2 * SEASON else "estimated"
    # statsmodels' default first runs a brute-force grid over the smoothing weights for
    # starting values: 40% of a fit, and on the benchmark's series the optimiser lands on
    # the same fits without it (bench/forecast_accuracy.py: the same MASE per sample rep and
    # region, 1,000 series in 1.4x statsforecast's time instead of 3.4x).
    res = ExponentialSmoothing(y, initialization_method=init, **kw).fit(use_brute=False)
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

    # the forecast itself waits for _ets_finish: only the spec AICc picks needs one (the
    # others' forecasts were a tenth of the time of 20 series)
    fc = np.full(h, np.nan)
    k = len(smooth) + len(known) + (SEASON - 1 if seasonal else 0)
    sigma = float(math.sqrt(res.sse / max(len(y) - k, 1)))
    fit = _Fit(_ets_name(*spec), "ets", fc, sigma, np.ones(h), np.zeros((h, h)), np.empty((0, 0)))
    fit.aicc = float(res.aicc)
    return fit, res, fixed


def _ets_finish(fit: _Fit, res, fixed, y: np.ndarray, origins: list[int], h_sel: int) -> _Fit:
    """Forecasts, MA weights and rolling-origin forecasts of the ETS spec AICc picked (fixed
    parameters)."""
    h = len(fit.mean)
    fit.mean = np.asarray(res.forecast(h), dtype=float)
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


@dataclass
class _Combo(_Fit):
    """An equal- or error-weighted combination of fitted candidates (one per family).

    Its point and origin forecasts are the weighted means of its members'. Its error
    covariance is the weighted mean of theirs: the members' errors are strongly correlated,
    and for perfectly correlated errors this bounds the true variance from above (Jensen);
    the rolling-origin calibration then scales it to the combination's own errors.
    """

    members: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()
    cov_matrix: np.ndarray | None = None

    def cov(self) -> np.ndarray:
        return self.cov_matrix


def _combine(fits: list[_Fit], weights: np.ndarray) -> _Combo:
    """Combine fitted candidates with weights summing to 1 (same horizon and origins)."""
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    mean = sum(wi * f.mean for wi, f in zip(w, fits, strict=True))
    ofc = sum(wi * f.origin_fc for wi, f in zip(w, fits, strict=True))
    cov = sum(wi * f.cov() for wi, f in zip(w, fits, strict=True))
    h = len(mean)
    psi = np.zeros(h)
    psi[0] = 1.0
    return _Combo(
        name="combo(" + "+".join(f.name for f in fits) + ")",
        family="combo",
        mean=np.asarray(mean, dtype=float),
        sigma=float(sum(wi * f.sigma for wi, f in zip(w, fits, strict=True))),
        psi=psi,
        extra=np.zeros((h, h)),
        origin_fc=np.asarray(ofc, dtype=float),
        members=tuple(f.name for f in fits),
        weights=tuple(float(x) for x in w),
        cov_matrix=np.asarray(cov, dtype=float),
    )

"""Forecasts of monthly bookings from history, with automatic model choice.

:func:`forecast_history` fits the candidates of :mod:`salesnb.forecast.models` (statsmodels
ETS and AR models beside mean, naive, drift and seasonal naive), picks one by rolling-origin
MASE and calibrates its intervals with the same rolling-origin errors; :func:`forecast_many`
does it for many series over processes, choosing for them together; :func:`pooled_choice` gives
that choice alone, so one series can be forecast with it (``forecast_history(..., choice=)``).
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

from salesnb.core.errors import ParameterError
from salesnb.forecast.models import (
    MIN_MODELS,
    MIN_SEASONAL,
    SEASON,
    _arima,
    _candidates,
    _combine,
    _ets,
    _ets_finish,
    _Fit,
    _origin_errors,
    _origins,
    _simple,
)
from salesnb.forecast.seasonal import apply_indices, month_factors, seasonal_indices

Method = Literal["auto", "ets", "arima", "snaive", "naive", "mean", "drift"]

#: Rolling origins used to choose a model and calibrate its intervals.
SELECTION_ORIGINS = 12
SELECTION_HORIZON = 3
#: Pseudo-observations pulling the interval calibration factor towards 1 (no change).
CALIBRATION_PRIOR = 6.0


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
    choice: PooledChoice | None = None,
    parent: pd.Series | None = None,
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
    choice : PooledChoice, optional
        With ``method="auto"``: combine these families of the series' own fits, as chosen
        for the series' level by :func:`pooled_choice`, instead of choosing for the series
        alone (it still chooses alone if the families do not all fit this series).
    parent : Series, optional
        Monthly series of the subject's parent in the hierarchy (the whole team) whose
        seasonal pattern is borrowed: the candidates are fitted to the series divided by the
        parent's seasonal indices up to the series' last month
        (:func:`salesnb.forecast.seasonal.seasonal_indices`) and their forecasts multiplied
        back; choice, MASE and intervals are computed on the original months. Ignored when
        the parent has under 24 months.

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
    if choice is not None and method != "auto":
        msg = f"choice= needs method='auto', got method={method!r}. Fix: drop one of them."
        raise ParameterError(msg)
    with _one_blas_thread():
        return _forecast_history(series, horizon, method, levels, choice, parent)


@dataclass
class _Prepared:
    """Every candidate fitted to one series, with its rolling-origin errors, before a choice."""

    y: np.ndarray
    idx: pd.PeriodIndex
    levels: tuple[float, ...]
    fits: list[_Fit]
    scores: pd.DataFrame
    errs: dict[str, tuple[np.ndarray, np.ndarray]]
    scale: float
    origins: list[int]
    notes: list[str]
    rec: list[str]
    season: np.ndarray | None = None


def _forecast_history(
    series: pd.Series,
    horizon: int,
    method: str,
    levels: Sequence[float],
    choice: PooledChoice | None = None,
    parent: pd.Series | None = None,
) -> HistoryForecast:
    prep = _prepare(series, horizon, method, levels, parent)
    if isinstance(prep, HistoryForecast):
        return prep
    return _finish(prep, _apply_choice(prep, choice))


def _prepare(
    series: pd.Series,
    horizon: int,
    method: str,
    levels: Sequence[float],
    parent: pd.Series | None = None,
) -> _Prepared | HistoryForecast:
    """Fit every candidate and score it at the rolling origins (an empty forecast when the
    series has no data)."""
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
    if not (np.nan_to_num(y) > 0).any():
        # a new hire's first months: a history of zeros forecasts zero by construction,
        # which is no forecast (the sample's R16 and R26 read ~$4.5K at FY2026-Q3's start
        # and booked $35.7K and $25.3K); the pipeline view carries such a subject alone
        return _empty(horizon, start, levels, "no booking yet: nothing for history to go on")
    idx = pd.period_range(start, periods=horizon, freq="M")
    notes = []
    season = None if parent is None else seasonal_indices(_as_monthly(parent), until=s.index[-1])
    y_raw = y
    if season is not None:
        # Fit to the subject's level with the parent's seasonal pattern taken out; the
        # pattern goes back into every forecast below, before anything is scored.
        ext = pd.period_range(s.index[0], periods=n + max(horizon, SELECTION_HORIZON), freq="M")
        s_ext = month_factors(season, ext)
        y = y / s_ext[:n]
        notes.append(
            "seasonal pattern borrowed from the whole team (month indices "
            f"{season.min():.2f} to {season.max():.2f})"
        )
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
    if not fits:
        fits = [_simple("mean", y, horizon, origins, h_sel)]
        notes.append(f"no {method!r} model could be fitted: fell back to the mean")
    if season is not None:
        s_fut = month_factors(season, idx)
        for f in fits:
            apply_indices(f, s_ext, s_fut, origins)
        y = y_raw
    for w in caught:
        if "differenced to eliminate integration" in str(w.message):
            continue  # expected: Burg estimates on the seasonally differenced series
        msg = f"{w.category.__name__}: {str(w.message).splitlines()[0]}"
        if msg not in rec:
            rec.append(msg)
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
    return _Prepared(y, idx, tuple(levels), fits, scores, errs, scale, origins, notes, rec, season)


def _finish(prep: _Prepared, chosen: _Fit) -> HistoryForecast:
    """Calibrated intervals of the chosen model (or combination)."""
    y, idx, levels = prep.y, prep.idx, prep.levels
    if chosen.name not in prep.errs:
        prep.errs[chosen.name] = _origin_errors(chosen, y, prep.origins)
    cov, calib = _calibrate(chosen, *prep.errs[chosen.name], levels)
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
        method=chosen.name if prep.season is None else f"{chosen.name}×season(team)",
        scores=prep.scores,
        note="; ".join(prep.notes),
        n_obs=len(y),
        cov=cov,
        calibration=calib,
        warnings=prep.rec,
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


#: Families combined when a model is chosen for many subjects together (see
#: :func:`_choose_pooled`).
POOL_TOP = 3
#: Families that may join a combination besides the pooled best: the fitted models. The
#: random-walk benchmarks (naive, seasonal naive, drift) carry the whole noise of the last
#: observation(s) into every forecast, so averaging them in adds variance instead of
#: averaging it out; they are used only when they come first.
COMBINABLE = ("mean", "ets", "arima")


def _family_best(prep: _Prepared) -> dict[str, _Fit]:
    """Per family, the subject's candidate with the lowest rolling-origin MASE (the ETS spec
    was already picked by AICc; this picks among the AR orders)."""
    by_name = {f.name: f for f in prep.fits}
    sc = prep.scores[prep.scores["candidate"].isin(list(by_name)) & prep.scores["mase"].notna()]
    out = {}
    for fam, g in sc.groupby("family", sort=False):
        out[str(fam)] = by_name[g.loc[g["mase"].idxmin(), "candidate"]]
    return out


def pooled_scores(errors: dict[str, dict[str, np.ndarray]]) -> pd.Series:
    """Pooled MASE per family: all scaled absolute errors of all subjects, averaged together.

    Parameters
    ----------
    errors : dict of str -> dict of str -> ndarray
        Per subject, per family, the rolling-origin errors already divided by the subject's
        MASE scale (unitless). Only families every subject has are scored.

    Returns
    -------
    Series
        Pooled MASE per family (unitless), lowest first; ties keep the simpler family.

    Examples
    --------
    >>> e = {"a": {"mean": np.array([1.0, 1.0]), "naive": np.array([0.0, 3.0])},
    ...      "b": {"mean": np.array([2.0, 2.0]), "naive": np.array([1.0, 1.0])}}
    >>> pooled_scores(e).round(2).to_dict()
    {'naive': 1.25, 'mean': 1.5}
    """
    if not errors:
        return pd.Series(dtype=float)
    common = set.intersection(*(set(v) for v in errors.values()))
    fams = sorted(common, key=lambda f: _RANK.get(f, 9))
    out = {f: float(np.mean(np.abs(np.concatenate([errors[s][f] for s in errors])))) for f in fams}
    return pd.Series(out, dtype=float).sort_values(kind="stable")


def _combination(ranked: pd.Series) -> list[str]:
    """The families to combine: the pooled best, then the best of :data:`COMBINABLE`, up to
    :data:`POOL_TOP` in all (``ranked`` is pooled MASE per family, lowest first)."""
    rest = [f for f in ranked.index[1:] if f in COMBINABLE]
    return [str(f) for f in [ranked.index[0], *rest][:POOL_TOP]]


@dataclass(frozen=True)
class PooledChoice:
    """The model families chosen for a subject together with its peers (see
    :func:`pooled_choice`).

    Attributes
    ----------
    families : tuple of str
        Families combined with equal weights, each the subject's own best candidate in it,
        e.g. ``("arima", "mean", "ets")``.
    why : str
        The pooled scores behind the choice, for the forecast's note.
    """

    families: tuple[str, ...]
    why: str


def _pooled_families(
    preps: dict[str, _Prepared], best: dict[str, dict[str, _Fit]]
) -> dict[str, PooledChoice | None]:
    """Per subject, the families chosen with its peers; None for a subject alone in its band
    (it keeps its own choice, :func:`_choose`). ``best`` is :func:`_family_best` of each."""
    groups: dict[frozenset, list[str]] = {}
    for name, fams in best.items():
        groups.setdefault(frozenset(fams), []).append(name)
    out: dict[str, PooledChoice | None] = {}
    for fams, names in groups.items():
        if len(names) < 2 or len(fams) < 2:
            out.update(dict.fromkeys(names))
            continue
        errors = {
            s: {f: preps[s].errs[fit.name][0] / preps[s].scale for f, fit in best[s].items()}
            for s in names
        }
        ranked = pooled_scores(errors)
        how = ", ".join(f"{f} {ranked[f]:.2f}" for f in ranked.index)
        why = (
            f"the best families by rolling-origin MASE pooled over {len(names)} subjects "
            f"({how}), equal weights"
        )
        out.update(dict.fromkeys(names, PooledChoice(tuple(_combination(ranked)), why)))
    return out


def _apply_choice(
    prep: _Prepared, choice: PooledChoice | None, best: dict[str, _Fit] | None = None
) -> _Fit:
    """The subject's own fits of the chosen families, combined (its own choice for None)."""
    if choice is not None:
        best = _family_best(prep) if best is None else best
        fits = [best[f] for f in choice.families if f in best]
        if len(fits) == len(choice.families):
            pick = fits[0] if len(fits) == 1 else _combine(fits, np.ones(len(fits)))
            prep.notes.append(f"chose {pick.name}: {choice.why}")
            return pick
        # A series other than the one the choice was made for (another history band).
        prep.notes.append(f"the pooled families {choice.families} do not all fit: chose alone")
    return _choose(prep.fits, prep.scores, prep.errs, prep.scale, prep.notes)


def _choose_pooled(preps: dict[str, _Prepared]) -> dict[str, _Fit]:
    """Choose for many subjects together: rank the model families by their rolling-origin
    MASE pooled over all subjects (sum of scaled errors over subjects and origins) and
    combine the best with the next best fitted models (:func:`_combination`, up to
    :data:`POOL_TOP` families) with equal weights in every subject.

    Per-subject choices among six families flip with the noise of a dozen errors; pooling
    and an equal-weight combination of the best few (the M4 competition's finding) cut that
    selection variance. Subjects are pooled with those that have the same candidate
    families (the same history-length band); a subject alone in its band keeps its own
    choice (:func:`_choose`).
    """
    best = {name: _family_best(p) for name, p in preps.items()}
    choice = _pooled_families(preps, best)
    return {name: _apply_choice(preps[name], choice[name], best[name]) for name in preps}


def _prep_chunk(args: tuple) -> list[tuple[str, _Prepared | HistoryForecast]]:
    cols, frame, horizon, method, levels, parent = args
    with _one_blas_thread():
        return [(c, _prepare(frame[c], horizon, method, levels, parent)) for c in cols]


def _prepare_all(
    wide: pd.DataFrame,
    horizon: int,
    method: str,
    levels: tuple[float, ...],
    n_jobs: int,
    parent: pd.Series | None = None,
) -> tuple[list[str], dict[str, _Prepared | HistoryForecast]]:
    """Every column's candidates fitted and scored (over processes when ``n_jobs > 1``)."""
    cols = [str(c) for c in wide.columns]
    frame = wide.copy()
    frame.columns = cols
    if n_jobs <= 1 or len(cols) < 2:
        return cols, dict(_prep_chunk((cols, frame, horizon, method, levels, parent)))
    n_chunks = min(len(cols), n_jobs * 4)
    chunks = [cols[i::n_chunks] for i in range(n_chunks)]
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    parts: dict[str, _Prepared | HistoryForecast] = {}
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx) as pool:
        jobs = [(c, frame[c], horizon, method, levels, parent) for c in chunks]
        for part in pool.map(_prep_chunk, jobs):
            parts.update(part)
    return cols, parts


def pooled_choice(
    wide: pd.DataFrame, horizon: int, *, n_jobs: int = 1, parent: pd.Series | None = None
) -> dict[str, PooledChoice | None]:
    """The automatic choice of :func:`forecast_many` for every column, without the forecasts.

    Lets one subject be forecast with its level's choice
    (``forecast_history(wide[s], horizon, choice=pooled_choice(wide, horizon)[s])`` equals
    ``forecast_many(wide, horizon)[s]``), so the choice can be computed once and reused.

    Parameters
    ----------
    wide : DataFrame
        One column per subject of one level, as :func:`monthly_bookings` returns.
    horizon : int
        Months ahead (>= 1).
    n_jobs : int
        Worker processes; the result does not depend on it.
    parent : Series, optional
        As for :func:`forecast_history`: the seasonal pattern borrowed by every column.

    Returns
    -------
    dict of str -> PooledChoice or None
        Per column; None where the subject chooses alone (alone in its history-length band,
        or no history).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> idx = pd.period_range("2023-01", periods=30, freq="M")
    >>> w = pd.DataFrame({s: 100 + rng.normal(0, 10, 30) for s in "ab"}, index=idx)
    >>> ch = pooled_choice(w, 3)
    >>> ch["a"] == ch["b"] and len(ch["a"].families) <= POOL_TOP
    True
    """
    cols, parts = _prepare_all(wide, horizon, "auto", (0.8,), n_jobs, parent)
    preps = {c: p for c, p in parts.items() if isinstance(p, _Prepared)}
    choice = _pooled_families(preps, {c: _family_best(p) for c, p in preps.items()})
    return {c: choice.get(c) for c in cols}


def forecast_many(
    wide: pd.DataFrame,
    horizon: int,
    *,
    method: Method = "auto",
    levels: Sequence[float] = (0.8, 0.95),
    n_jobs: int = 1,
    pooled: bool = True,
    seed: int = 0,
    parent: pd.Series | None = None,
) -> dict[str, HistoryForecast]:
    """Forecast every column of a wide monthly frame, in parallel over processes.

    Parameters
    ----------
    wide : DataFrame
        One column per subject, monthly index (as :func:`monthly_bookings` returns).
    horizon : int
        Months ahead.
    method : str
        As for :func:`forecast_history`.
    n_jobs : int
        Worker processes (1 = in this process). Results do not depend on it.
    pooled : bool
        With ``method="auto"``, choose for the subjects together: the family with the least
        rolling-origin MASE pooled over all subjects with the same candidates, combined with
        equal weights with the next best of mean, ETS and ARIMA (3 families at most; see
        :func:`pooled_scores`). False chooses per subject,
        as :func:`forecast_history` does for one series.
    parent : Series, optional
        As for :func:`forecast_history`: the seasonal pattern borrowed by every column.

    Examples
    --------
    >>> idx = pd.period_range("2024-01", periods=12, freq="M")
    >>> w = pd.DataFrame({"a": np.arange(12.0), "b": np.ones(12)}, index=idx)
    >>> sorted(forecast_many(w, 3))
    ['a', 'b']
    """
    del seed
    cols, parts = _prepare_all(wide, horizon, method, tuple(levels), n_jobs, parent)
    preps = {c: p for c, p in parts.items() if isinstance(p, _Prepared)}
    if method == "auto" and pooled:
        chosen = _choose_pooled(preps)
    else:
        chosen = {c: _choose(p.fits, p.scores, p.errs, p.scale, p.notes) for c, p in preps.items()}
    return {c: _finish(preps[c], chosen[c]) if c in preps else parts[c] for c in cols}

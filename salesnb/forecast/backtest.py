"""How good are the forecasts? Rolling-origin backtests of :mod:`salesnb.forecast`.

* :func:`backtest_history` -- refit at each of several past origins (model choice included,
  nothing from the future) and score the forecasts of the following months: MASE against the
  seasonal naive forecast (naive under two years), bias, and coverage of the 80% interval.
* :func:`backtest_many` -- the same over all subjects of a level, forecast together at each
  origin, so ``"auto"`` is the pooled choice; :func:`level_backtest` runs it on a workbook's
  level (memoised and cached on disk) and :func:`subject_backtest` scores one subject of it,
  as a forecast document shows.
* :func:`backtest_pipeline` -- at each pipeline snapshot, forecast that quarter from the
  pipeline as it stood then (and optionally from history and the blend) and compare with
  what closed; the Brier score says whether P(attain target) was calibrated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from salesnb.core.errors import NotEnoughDataError, ParameterError
from salesnb.forecast.combined import (
    _subject_of,
    forecast_history,
    forecast_many,
    forecast_pipeline,
    monthly_bookings,
    p_attain,
    period_forecast,
    team_series,
)
from salesnb.forecast.history import _as_monthly
from salesnb.forecast.models import MIN_SEASONAL, SEASON

FAMILIES = ("snaive", "naive", "mean", "drift", "ets", "arima", "auto")


@dataclass
class BacktestResult:
    """Rolling-origin forecasts beside what happened.

    Attributes
    ----------
    forecasts : DataFrame
        One row per method, origin and step: ``method, origin, step, forecast, actual,
        lower, upper, scale, chosen`` (``scale`` = in-sample MAE of the benchmark at that
        origin; ``chosen`` = the model the method picked there).
    summary : DataFrame
        Per method: ``mase``, ``rel_mase`` (its MASE over the benchmark's on the same
        points; < 1 beats it), ``bias`` (sum of errors over sum of actuals), ``coverage``
        (share of actuals inside the interval), ``n``.
    benchmark : str
        ``"snaive"`` with 24+ months at every origin, else ``"naive"``.
    """

    forecasts: pd.DataFrame
    summary: pd.DataFrame
    benchmark: str


def summarise(forecasts: pd.DataFrame, benchmark: str) -> pd.DataFrame:
    """Per-method MASE, relative MASE, bias and coverage of a forecasts frame (any subjects).

    Points where the benchmark has no forecast are dropped so every method is scored on the
    same months.
    """
    f = forecasts.dropna(subset=["forecast", "actual"])
    key = [c for c in ("subject", "origin", "step") if c in f.columns]
    bench = f[f["method"] == benchmark].set_index(key)["forecast"].rename("bench")
    f = f.join(bench, on=key).dropna(subset=["bench"])
    f = f.assign(
        ae=(f["forecast"] - f["actual"]).abs() / f["scale"],
        bae=(f["bench"] - f["actual"]).abs() / f["scale"],
        err=f["forecast"] - f["actual"],
        inside=(f["actual"] >= f["lower"]) & (f["actual"] <= f["upper"]),
    )
    g = f.groupby("method", sort=False)
    out = pd.DataFrame(
        {
            "mase": g["ae"].mean(),
            "rel_mase": g["ae"].mean() / g["bae"].mean(),
            "bias": g["err"].sum() / g["actual"].sum().where(g["actual"].sum() != 0),
            "coverage": g["inside"].mean(),
            "n": g.size(),
        }
    )
    return out


def _too_short(horizon: int, n_origins: int, months: int) -> NotEnoughDataError:
    return NotEnoughDataError(
        f"A backtest with horizon={horizon} and n_origins={n_origins} needs at least "
        f"{horizon + n_origins + 2} months; the series has {months}. Fix: lower n_origins or "
        "horizon."
    )


def backtest_history(
    series: pd.Series,
    horizon: int = 3,
    n_origins: int = 6,
    *,
    methods: Sequence[str] = FAMILIES,
    level: float = 0.8,
    parent: pd.Series | None = None,
) -> BacktestResult:
    """Rolling-origin evaluation of :func:`~salesnb.forecast.combined.forecast_history`.

    Parameters
    ----------
    series : Series
        Monthly bookings (currency), as for ``forecast_history``.
    horizon : int
        Months forecast from each origin.
    n_origins : int
        Origins, one month apart, the last leaving exactly ``horizon`` months to score.
    methods : sequence of str
        ``forecast_history`` methods to compare; the benchmark is always included.
    level : float
        Interval level whose coverage is measured.
    parent : Series, optional
        The series whose seasonal pattern ``"auto"`` borrows (``parent=`` of
        ``forecast_history``), up to each origin; the other methods never borrow.

    Returns
    -------
    BacktestResult

    Raises
    ------
    NotEnoughDataError
        When fewer than 3 months would remain to fit at the first origin.

    Examples
    --------
    >>> y = pd.Series(np.r_[np.arange(30.0)], index=pd.period_range("2023-01", periods=30,
    ...               freq="M"))
    >>> float(backtest_history(y, 3, 4, methods=["drift"]).summary.loc["drift", "mase"])
    0.0
    """
    y = _as_monthly(series)
    n = len(y)
    first = n - horizon - n_origins + 1
    if first < 3:
        raise _too_short(horizon, n_origins, n)
    benchmark = "snaive" if first >= MIN_SEASONAL else "naive"
    methods = list(dict.fromkeys([benchmark, *methods]))
    rows = []
    values = y.to_numpy()
    for o in range(first, first + n_origins):
        train = y.iloc[:o]
        lag = SEASON if o >= MIN_SEASONAL else 1
        d = np.abs(values[lag:o] - values[: o - lag])
        scale = float(d.mean()) if d.size and d.mean() > 0 else float(np.abs(values[:o]).mean())
        scale = scale or 1.0
        actual = values[o : o + horizon]
        for m in methods:
            if m == "snaive" and o < MIN_SEASONAL:
                continue
            lent = parent if m == "auto" else None
            fc = forecast_history(train, horizon, method=m, levels=(level,), parent=lent)
            rows.append(
                pd.DataFrame(
                    {
                        "method": m,
                        "origin": str(y.index[o - 1]),
                        "step": np.arange(1, horizon + 1),
                        "forecast": fc.mean.to_numpy(),
                        "actual": actual,
                        "lower": fc.lower[level].to_numpy(),
                        "upper": fc.upper[level].to_numpy(),
                        "scale": scale,
                        "chosen": fc.method,
                    }
                )
            )
    forecasts = pd.concat(rows, ignore_index=True)
    return BacktestResult(forecasts, summarise(forecasts, benchmark), benchmark)


def _many_task(args: tuple) -> list[pd.DataFrame]:
    train, horizon, method, level, info, parent = args
    # only the automatic model borrows: the benchmarks stay what their names say
    parent = parent if method == "auto" else None
    fcs = forecast_many(train, horizon, method=method, levels=(level,), parent=parent)
    rows = []
    for c, fc in fcs.items():
        origin, scale, actual = info[c]
        rows.append(
            pd.DataFrame(
                {
                    "subject": c,
                    "method": method,
                    "origin": origin,
                    "step": np.arange(1, horizon + 1),
                    "forecast": fc.mean.to_numpy(),
                    "actual": actual,
                    "lower": fc.lower[level].to_numpy(),
                    "upper": fc.upper[level].to_numpy(),
                    "scale": scale,
                    "chosen": fc.method,
                }
            )
        )
    return rows


def backtest_many(
    wide: pd.DataFrame,
    horizon: int = 3,
    n_origins: int = 6,
    *,
    methods: Sequence[str] = FAMILIES,
    level: float = 0.8,
    n_jobs: int = 1,
    parent: pd.Series | None = None,
) -> BacktestResult:
    """Rolling-origin evaluation of :func:`~salesnb.forecast.combined.forecast_many` over many subjects.

    As :func:`backtest_history`, but at each origin all subjects are forecast together, so
    ``"auto"`` makes the pooled choice of ``forecast_many`` from the data before that origin.

    Parameters
    ----------
    wide : DataFrame
        One column per subject (monthly bookings, currency), as ``monthly_bookings`` returns.
    horizon, n_origins, methods, level
        As for :func:`backtest_history`; origins are the same calendar months for every
        subject. Subjects too short for ``n_origins`` are left out.
    n_jobs : int
        Worker processes over (origin, method) pairs; results do not depend on it.
    parent : Series, optional
        The series whose seasonal pattern every subject's ``"auto"`` borrows (``parent=`` of
        :func:`~salesnb.forecast.combined.forecast_many`); at each origin only its months up to the
        origin are used. The other methods never borrow.

    Returns
    -------
    BacktestResult
        ``forecasts`` has a ``subject`` column; the benchmark is ``"snaive"`` when any subject
        has 24+ months at every origin.

    Raises
    ------
    NotEnoughDataError
        When no subject is long enough.

    Examples
    --------
    >>> idx = pd.period_range("2023-01", periods=30, freq="M")
    >>> w = pd.DataFrame({"a": np.arange(30.0), "b": 2 * np.arange(30.0)}, index=idx)
    >>> r = backtest_many(w, 3, 4, methods=["drift"])
    >>> float(r.summary.loc["drift", "mase"])
    0.0
    """
    series = {str(c): _as_monthly(wide[c]) for c in wide.columns}
    n_all = len(wide.index)
    first_all = n_all - horizon - n_origins + 1
    keep = {c: s for c, s in series.items() if len(s) - horizon - n_origins + 1 >= 3}
    if not keep:
        msg = (
            f"A backtest with horizon={horizon} and n_origins={n_origins} needs subjects with "
            f"at least {horizon + n_origins + 2} months; the longest has "
            f"{max((len(s) for s in series.values()), default=0)}. Fix: lower n_origins or "
            "horizon."
        )
        raise NotEnoughDataError(msg)
    long_enough = [len(s) - horizon - n_origins + 1 >= MIN_SEASONAL for s in keep.values()]
    benchmark = "snaive" if any(long_enough) else "naive"
    methods = list(dict.fromkeys([benchmark, *methods]))
    tasks = []
    for k in range(n_origins):
        cut = first_all + k  # training months in wide's own index
        info, train = {}, {}
        for c, s in keep.items():
            o = len(s) - (n_all - cut)
            v = s.to_numpy()
            lag = SEASON if o >= MIN_SEASONAL else 1
            d = np.abs(v[lag:o] - v[: o - lag])
            scale = float(d.mean()) if d.size and d.mean() > 0 else float(np.abs(v[:o]).mean())
            info[c] = (str(s.index[o - 1]), scale or 1.0, v[o : o + horizon], o)
            train[c] = s.iloc[:o]
        for m in methods:
            cols = [c for c in keep if m != "snaive" or info[c][3] >= MIN_SEASONAL]
            if not cols:
                continue
            frame = pd.DataFrame({c: train[c] for c in cols})
            tasks.append((frame, horizon, m, level, {c: info[c][:3] for c in cols}, parent))
    if n_jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=n_jobs) as pool:
            parts = list(pool.map(_many_task, tasks))
    else:
        parts = [_many_task(t) for t in tasks]
    forecasts = pd.concat([r for p in parts for r in p], ignore_index=True)
    order = {c: i for i, c in enumerate(keep)}
    forecasts = forecasts.sort_values(
        ["subject", "method", "origin", "step"],
        key=lambda x: x.map(order) if x.name == "subject" else x,
        kind="stable",
    ).reset_index(drop=True)
    return BacktestResult(forecasts, summarise(forecasts, benchmark), benchmark)


_SOURCE_VERSION: str | None = None


def _source_version() -> str:
    # The disk cache key hashes the forecasting modules but not this one, whose origins and
    # scales also decide a level backtest.
    global _SOURCE_VERSION
    if _SOURCE_VERSION is None:
        _SOURCE_VERSION = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    return _SOURCE_VERSION


def _dump_result(r: BacktestResult) -> dict:
    f = r.forecasts
    return {"benchmark": r.benchmark, "forecasts": {c: f[c].tolist() for c in f.columns}}


def _load_result(d: dict) -> BacktestResult:
    f = pd.DataFrame(d["forecasts"])
    f = f.astype({c: float for c in ("forecast", "actual", "lower", "upper", "scale")})
    f = f.astype({"step": np.int64})
    bench = str(d["benchmark"])
    return BacktestResult(f, summarise(f, bench), bench)


def level_backtest(
    wb,
    by: str,
    as_of: pd.Timestamp | str,
    horizon: int = 3,
    n_origins: int = 6,
    *,
    methods: Sequence[str] = ("auto",),
) -> BacktestResult:
    """:func:`backtest_many` of one level of a workbook, memoised and cached on disk.

    The level's subjects are forecast together at each origin, so ``"auto"`` is the pooled
    choice that :func:`~salesnb.forecast.combined.period_forecast` forecasts with, with the whole
    team's seasonal pattern borrowed as it stood at each origin. Backtesting a level
    fits every subject's candidates at every origin (several seconds for 30 reps), the same
    for every document of a batch, so it is kept in the process and on disk (kind
    ``"levelbt"``, see :func:`salesnb.forecast.calibration.learned_cache_path`; the key also
    hashes this module's source).

    Parameters
    ----------
    wb : Workbook
    by : {"rep", "region", "manager", "team"}
        The level: ``monthly_bookings(wb, by=by, as_of=as_of)`` is backtested.
    as_of : date
    horizon, n_origins, methods
        As for :func:`backtest_many`.

    Returns
    -------
    BacktestResult
        As :func:`backtest_many` returns it.

    Raises
    ------
    NotEnoughDataError
        When no subject of the level is long enough.

    Examples
    --------
    >>> level_backtest(wb, "rep", "2026-09-30").benchmark  # doctest: +SKIP
    'snaive'
    """
    from salesnb.forecast.cache import cached as _cached
    from salesnb.forecast.cache import disk_cached as _disk_cached

    as_of = pd.Timestamp(as_of).normalize()
    methods = tuple(methods)

    def make() -> BacktestResult:
        wide = monthly_bookings(wb, by=by, as_of=as_of)
        # n_jobs=1: documents of a batch already run in parallel, one per core
        return backtest_many(
            wide, horizon, n_origins, methods=methods, n_jobs=1, parent=team_series(wb, as_of)
        )

    parts = (by, as_of, int(horizon), int(n_origins), methods, _source_version())
    return _cached(
        ("levelbt", *parts),
        wb,
        lambda: _disk_cached(wb, "levelbt", parts, make, _dump_result, _load_result),
    )


def subject_backtest(
    wb,
    by: str,
    subject: str,
    as_of: pd.Timestamp | str,
    horizon: int = 3,
    n_origins: int = 6,
    *,
    methods: Sequence[str] = ("auto",),
) -> BacktestResult:
    """One subject's forecasts of :func:`level_backtest`, summarised as :func:`summarise` does.

    The subject is scored against the level's benchmark on its own points. A subject too
    short for the seasonal benchmark at some origin (24 months) while others of the level
    have it is scored against the naive benchmark, as :func:`backtest_history` would score it
    alone; its forecasts still come from the level's pooled backtest.

    Parameters
    ----------
    wb : Workbook
    by : {"rep", "region", "manager", "team"}
    subject : str
        A column of ``monthly_bookings(wb, by=by, as_of=as_of)`` (rep id, region...).
    as_of : date
    horizon, n_origins, methods
        As for :func:`backtest_many`.

    Returns
    -------
    BacktestResult
        ``forecasts`` holds the subject's rows only (with its ``subject`` column),
        ``summary`` one row per method, ``benchmark`` the benchmark it was scored against.

    Raises
    ------
    NotEnoughDataError
        When the subject's history is too short for the backtest (or no subject's is).

    Examples
    --------
    >>> subject_backtest(wb, "rep", "R05", "2026-09-30").summary.loc["auto", "n"]  # doctest: +SKIP
    18
    """
    level = level_backtest(wb, by, as_of, horizon, n_origins, methods=methods)
    f = level.forecasts
    own = f[f["subject"] == str(subject)]
    benchmark = level.benchmark
    partial = set(own.loc[own["method"] == benchmark, "origin"]) != set(own["origin"])
    if own.empty or partial:
        wide = monthly_bookings(wb, by=by, as_of=pd.Timestamp(as_of).normalize())
        series = wide[subject] if subject in wide.columns else pd.Series(dtype=float)
        if own.empty:
            raise _too_short(horizon, n_origins, int(series.notna().sum()))
        alone = backtest_history(series.dropna(), horizon, n_origins, methods=[])
        drop = own["method"].isin([benchmark, alone.benchmark])
        own = pd.concat(
            [own[~drop], alone.forecasts.assign(subject=str(subject))[own.columns]],
            ignore_index=True,
        )
        benchmark = alone.benchmark
    # benchmark first, as backtest_history orders its methods
    own = own.sort_values("method", key=lambda m: m != benchmark, kind="stable")
    own = own.reset_index(drop=True)
    return BacktestResult(own, summarise(own, benchmark), benchmark)


def _quarters(wb, dates: pd.Series) -> pd.Series:
    return wb.config.calendar.period_of(dates, "Q")


def backtest_pipeline(
    wb,
    *,
    by: str | None = None,
    views: Sequence[str] = ("pipeline",),
    n_sims: int = 2_000,
    seed: int = 0,
    every: int = 1,
) -> pd.DataFrame:
    """Forecast each quarter from every past pipeline snapshot and compare with what closed.

    Parameters
    ----------
    wb : Workbook
        Needs snapshots; only quarters that ended by ``wb.as_of`` are scored.
    by : {None, "rep", "region", "manager", "team"}
        One forecast per subject (None = the whole team).
    views : sequence of {"pipeline", "history", "blend"}
        ``"history"`` and ``"blend"`` run :func:`~salesnb.forecast.combined.period_forecast` (slower).
    every : int
        Use every n-th snapshot date.

    Returns
    -------
    DataFrame
        One row per snapshot, subject and view: ``as_of, quarter, subject, view, expected,
        p10, p90, actual, target, p_attain, hit, pipeline_weight`` (hit = actual >= target;
        the blend's pipeline weight, NaN without the history view). Summaries:
        :func:`pipeline_scores`.

    Examples
    --------
    >>> pipeline_scores(backtest_pipeline(wb))  # doctest: +SKIP
    """
    snaps = wb.snapshots
    if snaps.empty:
        msg = "backtest_pipeline needs pipeline snapshots. Fix: load a snapshots table."
        raise NotEnoughDataError(msg)
    bad = set(views) - {"pipeline", "history", "blend"}
    if bad:
        msg = f"Unknown views {sorted(bad)!r}. Fix: use 'pipeline', 'history' or 'blend'."
        raise ParameterError(msg)
    dates = pd.Series(sorted(snaps["as_of"].unique()))[::every]
    quarter = _quarters(wb, dates)
    cal = wb.config.calendar
    subj = _subject_of(wb, by)
    groups = {k: v.index.tolist() for k, v in subj.groupby(subj)}
    opps = wb.opportunities
    won = opps[opps["outcome"] == "won"]
    rows = []
    for d, q in zip(dates, quarter, strict=True):
        start, end = cal.period_bounds(q)
        if end > wb.as_of or d >= end:
            continue
        in_q = won[won["close_date"].between(start, end)]
        for name, reps in groups.items():
            actual = float(in_q.loc[in_q["rep_id"].isin(reps), "amount"].sum())
            if "history" in views or "blend" in views:
                st = "all" if by is None else by
                pf = period_forecast(
                    wb, st, None if by is None else name, q, d, seed=seed, n_sims=n_sims
                )
                dists = {
                    "pipeline": pf.pipeline.total,
                    "history": pf.history_total,
                    "blend": pf.blended,
                }
                target, weight = pf.target, pf.pipeline_weight
            else:
                pfc = forecast_pipeline(wb, reps, start, end, d, n_sims=n_sims, seed=seed)
                dists = {"pipeline": pfc.total}
                target, weight = _target_sum(wb, reps, start, end), np.nan
            for v in views:
                dist = dists[v]
                rows.append(
                    {
                        "as_of": d,
                        "quarter": q,
                        "subject": name,
                        "view": v,
                        "expected": dist.mean,
                        "p10": dist.quantile(0.1),
                        "p90": dist.quantile(0.9),
                        "actual": actual,
                        "target": target,
                        "p_attain": p_attain(dist, target) if target else np.nan,
                        "hit": actual >= target if target else np.nan,
                        "pipeline_weight": weight,
                    }
                )
    return pd.DataFrame(rows)


def _target_sum(wb, reps: list[str], start, end) -> float | None:
    t = wb.targets
    rows = t[t["month"].between(start, end) & t["rep_id"].isin(reps)]
    return float(rows["amount"].sum()) if len(rows) else None


def pipeline_scores(bt: pd.DataFrame) -> pd.DataFrame:
    """Per view: bias of the expected value, coverage of the 10-90% band, and Brier score.

    Brier = mean of (P(attain) - hit)^2 over forecasts with a target: 0 is perfect, 0.25 is
    what always saying 50% earns.

    Examples
    --------
    >>> bt = pd.DataFrame({"view": ["pipeline"] * 2, "expected": [90.0, 110.0],
    ...     "p10": [80.0, 100.0], "p90": [100.0, 120.0], "actual": [100.0, 100.0],
    ...     "p_attain": [0.2, 0.9], "hit": [True, False]})
    >>> round(float(pipeline_scores(bt).loc["pipeline", "brier"]), 3)  # (0.8^2 + 0.9^2) / 2
    0.725
    """
    bt = bt.assign(
        err=bt["expected"] - bt["actual"],
        inside=(bt["actual"] >= bt["p10"]) & (bt["actual"] <= bt["p90"]),
        sq=(bt["p_attain"] - bt["hit"].astype(float)) ** 2,
        ape=(bt["expected"] - bt["actual"]).abs() / bt["actual"].clip(lower=1.0),
    )
    g = bt.groupby("view", sort=False)
    return pd.DataFrame(
        {
            "bias": g["err"].sum() / g["actual"].sum(),
            "mape": g["ape"].mean(),
            "coverage_80": g["inside"].mean(),
            "brier": g["sq"].mean(),
            "n": g.size(),
        }
    )

"""How far to trust each forecast view, learned from past snapshots against what closed.

Two things the pipeline and history views cannot tell about themselves:

* :func:`pipeline_shock` -- how strongly the deals of one quarter move together. Deals are
  not independent draws: a strong or weak quarter (budgets, a competitor, deals slipping
  together at quarter end) lifts or sinks them all. The latent correlation ``rho`` of
  :func:`salesnb.forecast.pipeline.simulate` is chosen so that the forecasts made at past
  snapshots had the best 10-90% interval score against what then closed, at every level at
  once (each rep, each region and the whole team), and shrunk towards :data:`SHOCK_PRIOR`.
* :func:`blend_weight` -- the weight of the pipeline view in the blend: inverse mean squared
  error of each view's forecasts at the subject's past snapshots, shrunk towards the
  inverse-variance default.

Only snapshots whose quarter had ended by ``as_of`` are used, with win probabilities learned
from deals closed by each snapshot's own date, so nothing comes from the future.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesnb.forecast.cache import (  # learned_cache_path, learned_cached: re-exported
    cached,
    disk_cached,
    learned_cache_path,  # noqa: F401
    learned_cached,  # noqa: F401
)
from salesnb.forecast.history import forecast_history
from salesnb.forecast.pipeline import (
    SHOCK_PRIOR,
    Distribution,
    PipelineForecast,
    RunRate,
    _due_deals,
    _p_new,
    _run_rates_by_rep,
    _snapshot_pipeline,
    simulate_groups,
)
from salesnb.forecast.pipeline import forecast_pipeline as _pipeline_view
from salesnb.forecast.subjects import (
    last_complete_month,
    month_weights,
    monthly_bookings,
    subject_of,
    team_series,
)

#: Pseudo-quarters the prior counts for against the quarters learned from.
SHOCK_PRIOR_QUARTERS = 1.0
#: Candidate correlations compared by interval score.
SHOCK_GRID = (0.0, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.45)
#: Monte Carlo draws per past snapshot and candidate (common random numbers across candidates).
LEARN_SIMS = 300
#: Past snapshots used per quarter (evenly spread), to bound the cost of learning.
DATES_PER_QUARTER = 7
#: Pseudo-snapshots the default blend weight counts for against the learned one.
BLEND_PRIOR = 4.0

#: Old private names, kept for callers of this module (see :mod:`salesnb.forecast.cache`).
_cached, _disk_cached = cached, disk_cached


def _dump_shock(v: dict) -> dict:
    out = {k: v[k] for k in ("shock", "source", "learned", "quarters", "snapshots")}
    sc = v["scores"]
    out["scores"] = None if sc is None else [[float(k), float(x)] for k, x in sc.items()]
    return out


def _load_shock(d: dict) -> dict:
    out = {k: d[k] for k in ("shock", "source", "learned", "quarters", "snapshots")}
    sc = d["scores"]
    out["scores"] = (
        None
        if sc is None
        else pd.Series([x for _, x in sc], index=pd.Index([k for k, _ in sc], name="shock"))
    )
    return out


def _past_dates(wb, as_of: pd.Timestamp) -> list[tuple[pd.Timestamp, str, pd.Timestamp]]:
    """Snapshot dates whose fiscal quarter ended by ``as_of`` (so what closed is known), with
    the quarter and the quarter's first snapshot date used, at which win probabilities are
    learned for all its snapshots (once per quarter; nothing after a snapshot's date). At
    most :data:`DATES_PER_QUARTER` dates per quarter, evenly spread."""
    snaps = wb.snapshots
    if snaps.empty:
        return []
    cal = wb.config.calendar
    dates = pd.Series(sorted(snaps["as_of"].unique()))
    dates = dates[dates < as_of].reset_index(drop=True)
    if dates.empty:
        return []
    quarters = cal.period_of(dates, "Q")
    out = []
    for q, ds in dates.groupby(quarters.to_numpy(), sort=True):
        end = cal.period_bounds(q)[1]
        ds = ds[ds < end]
        if end > as_of or ds.empty:
            continue
        pick = np.unique(np.linspace(0, len(ds) - 1, min(len(ds), DATES_PER_QUARTER)).round())
        ds = ds.iloc[pick.astype(int)]
        out += [(pd.Timestamp(d), str(q), pd.Timestamp(ds.iloc[0])) for d in ds]
    return out


def _quarters_learned(wb, dates) -> float:
    """Quarters of evidence: each quarter counts by the share of its days its snapshots span
    (weekly snapshots from its first week count as one quarter)."""
    cal = wb.config.calendar
    total = 0.0
    for q in sorted({q for _, q, _ in dates}):
        start, end = cal.period_bounds(q)
        first = min(d for d, qq, _ in dates if qq == q)
        total += min(1.0, ((end - first).days + 7) / ((end - start).days + 1))
    return total


@dataclass
class _Past:
    """The pipeline forecast made at one past snapshot, per rep, beside what closed."""

    reps: list[str]
    already: np.ndarray  # (n_reps,) won in the quarter by the snapshot (currency)
    actual: np.ndarray  # (n_reps,) won in the whole quarter
    expected: np.ndarray  # (n_reps,) analytic pipeline expectation of the total
    p: np.ndarray  # due deals' win probabilities
    amount: np.ndarray
    group: np.ndarray  # index into reps
    run_rates: list[RunRate]


def _past(wb, d: pd.Timestamp, quarter: str, learned_as_of: pd.Timestamp) -> _Past:
    def make() -> _Past:
        cal = wb.config.calendar
        start, end = cal.period_bounds(quarter)
        opps = wb.opportunities
        reps = [str(r) for r in wb.reps["rep_id"]]
        index = {r: i for i, r in enumerate(reps)}
        won = opps[opps["outcome"] == "won"]
        in_q = won[won["close_date"].between(start, end)]
        actual = in_q.groupby("rep_id")["amount"].sum().reindex(reps, fill_value=0.0)
        early = in_q[in_q["close_date"] <= d]
        already = early.groupby("rep_id")["amount"].sum().reindex(reps, fill_value=0.0)
        due = _due_deals(wb, _snapshot_pipeline(wb, d), start, end, d, learned_as_of)
        due = due[due["rep_id"].isin(index)]
        group = due["rep_id"].map(index).to_numpy(dtype=int)
        p_new = _p_new(wb, learned_as_of)
        rates = [RunRate(*rr, p_new=p_new) for rr in _run_rates_by_rep(opps, d, start, end, reps)]
        open_exp = np.bincount(group, due["p_win"] * due["amount"], minlength=len(reps))
        expected = already.to_numpy() + open_exp + np.array([rr.expected for rr in rates])
        return _Past(
            reps=reps,
            already=already.to_numpy(dtype=float),
            actual=actual.to_numpy(dtype=float),
            expected=expected,
            p=due["p_win"].to_numpy(dtype=float),
            amount=due["amount"].to_numpy(dtype=float),
            group=group,
            run_rates=rates,
        )

    return _cached(("past", d, quarter, learned_as_of), wb, make)


def _interval_score(lo: np.ndarray, hi: np.ndarray, x: np.ndarray, alpha: float = 0.2):
    """Gneiting and Raftery's interval score of a central (1 - alpha) interval (lower is
    better; proper, so it is minimised by the true 10% and 90% quantiles)."""
    return (hi - lo) + 2 / alpha * (np.maximum(lo - x, 0) + np.maximum(x - hi, 0))


def _shock_scores(wb, dates: list[tuple]) -> pd.DataFrame:
    """Mean relative interval score per candidate shock and level (rep, region, team)."""
    region = subject_of(wb, "region")
    rows = []
    for i, (d, q, learned_as_of) in enumerate(dates):
        past = _past(wb, d, q, learned_as_of)
        keys = {
            "rep": np.arange(len(past.reps)),
            "region": pd.factorize(region.reindex(past.reps).fillna("").to_numpy())[0],
            "team": np.zeros(len(past.reps), dtype=int),
        }
        for rho in SHOCK_GRID:
            sims = simulate_groups(
                past.p,
                past.amount,
                past.group,
                past.run_rates,
                n_sims=LEARN_SIMS,
                shock=rho,
                seed=i,  # common random numbers across candidates
            )
            for level, key in keys.items():
                k = int(key.max()) + 1
                agg = sims @ np.eye(k)[key]
                already = np.bincount(key, past.already, minlength=k)
                actual = np.bincount(key, past.actual, minlength=k)
                expected = np.bincount(key, past.expected, minlength=k)
                lo, hi = np.quantile(agg, [0.1, 0.9], axis=0) + already
                ok = expected > 0
                score = _interval_score(lo, hi, actual)[ok] / expected[ok]
                rows += [{"shock": rho, "level": level, "quarter": q, "score": s} for s in score]
    return pd.DataFrame(rows, columns=["shock", "level", "quarter", "score"])


def pipeline_shock(wb, as_of=None) -> dict:
    """The latent correlation of a period's deals, learned from past snapshots.

    For every snapshot whose quarter had ended by ``as_of``, the pipeline forecast made then
    (win probabilities learned from deals closed by that date) is simulated for each
    candidate correlation in :data:`SHOCK_GRID`, and scored against what closed with the
    interval score of its 10-90% band, relative to the forecast's expected total. Scores are
    averaged per level (each rep, each region, the team) and the levels averaged, so one
    correlation serves forecasts at every level. The best candidate is shrunk towards
    :data:`SHOCK_PRIOR` by :data:`SHOCK_PRIOR_QUARTERS` pseudo-quarters.

    Parameters
    ----------
    wb : Workbook
    as_of : date, optional
        Defaults to ``wb.as_of``.

    Returns
    -------
    dict
        ``shock`` (correlation, 0-1), ``source`` (``"learned"`` or ``"prior"``), ``learned``
        (the best candidate, or None), ``quarters`` and ``snapshots`` learned from, and
        ``scores`` (mean relative interval score per candidate).

    Examples
    --------
    >>> pipeline_shock(wb)["shock"]  # doctest: +SKIP
    0.085
    """
    as_of = pd.Timestamp(wb.as_of if as_of is None else as_of).normalize()
    dates = _past_dates(wb, as_of)

    def make() -> dict:
        if not dates:
            return {
                "shock": SHOCK_PRIOR,
                "source": "prior",
                "learned": None,
                "quarters": 0,
                "snapshots": 0,
                "scores": None,
            }
        scores = _shock_scores(wb, dates)
        by = scores.groupby(["shock", "level"])["score"].mean().unstack("level").mean(axis=1)
        best = float(by.idxmin())
        n_q = _quarters_learned(wb, dates)
        rho = (n_q * best + SHOCK_PRIOR_QUARTERS * SHOCK_PRIOR) / (n_q + SHOCK_PRIOR_QUARTERS)
        return {
            "shock": float(rho),
            "source": "learned",
            "learned": best,
            "quarters": round(n_q, 2),
            "snapshots": len(dates),
            "scores": by,
        }

    def from_disk() -> dict:
        if not dates:
            return make()
        parts = (as_of, *dates)
        return _disk_cached(wb, "shock", parts, make, _dump_shock, _load_shock)

    return _cached(("shock", as_of, tuple(dates)), wb, from_disk)


@dataclass
class _PastTotals:
    """Per rep at one past snapshot: won by then, won in the quarter, pipeline expectation."""

    reps: list[str]
    already: np.ndarray
    actual: np.ndarray
    expected: np.ndarray


def _past_totals(wb, dates: list[tuple]) -> list[_PastTotals]:
    """The team-level part of :func:`blend_weight` at every past snapshot, the same for every
    subject: cached on disk, so only the first document of a batch pays for it (floats
    round-trip exactly through JSON)."""

    def make() -> list[_PastTotals]:
        out = []
        for d, q, learned_as_of in dates:
            p = _past(wb, d, q, learned_as_of)
            out.append(_PastTotals(p.reps, p.already, p.actual, p.expected))
        return out

    def dump(v: list[_PastTotals]) -> list:
        return [[t.reps, t.already.tolist(), t.actual.tolist(), t.expected.tolist()] for t in v]

    def load(d: list) -> list[_PastTotals]:
        if len(d) != len(dates):
            raise ValueError("not a past-totals entry for these dates")
        return [_PastTotals(list(r), *(np.asarray(x, dtype=float) for x in xs)) for r, *xs in d]

    return _cached(
        ("past_totals", tuple(dates)),
        wb,
        lambda: _disk_cached(wb, "past", tuple(dates), make, dump, load),
    )


def _history_expected(wb, subject_type: str, name: str, d: pd.Timestamp, start, end) -> float:
    """The history view's expected remaining bookings of the quarter, as forecast at ``d``."""
    last = last_complete_month(d)
    horizon = max((end.to_period("M") - last).n, 0)
    if horizon == 0:
        return 0.0
    by = None if subject_type == "all" else subject_type

    def fit():
        wide = monthly_bookings(wb, by=by, as_of=d)
        series = wide[name] if name in wide.columns else pd.Series(dtype=float)
        # the whole team's seasonal pattern borrowed, as period_forecast's history view does
        return forecast_history(series, horizon, parent=team_series(wb, d))

    hist = _cached(("hist", by, name, last, horizon), wb, fit)
    if not hist.ok:
        return float("nan")
    return hist.total(month_weights(last + 1, horizon, start, end, d))[0]


def blend_weight(
    wb,
    subject_type: str,
    subject: str,
    reps: list[str],
    as_of=None,
    *,
    history: Distribution | None = None,
    pipeline: Distribution | None = None,
) -> dict:
    """Weight of the pipeline view in the blend, from both views' errors at past snapshots.

    At every snapshot whose quarter had ended by ``as_of`` both views forecast the quarter as
    they would have then; the weight is inverse mean squared error,
    ``w = MSE_history / (MSE_history + MSE_pipeline)``, shrunk towards the default by
    :data:`BLEND_PRIOR` pseudo-snapshots. The default, used alone without past snapshots, is
    inverse variance of the two current distributions, ``var_h / (var_h + var_p)``, kept
    within [0.2, 0.8].

    Parameters
    ----------
    subject_type, subject : str
        As for :func:`salesnb.forecast.combined.period_forecast` (``subject`` = the column name).
    reps : list of str
        The subject's rep ids.
    history, pipeline : Distribution, optional
        Current draws of the remaining bookings, for the default.

    Returns
    -------
    dict
        ``weight`` (0-1), ``source`` (``"learned"`` or ``"default"``), ``default``,
        ``learned`` (or None), ``snapshots``, ``rmse_history`` and ``rmse_pipeline``
        (currency, or None).

    Examples
    --------
    >>> blend_weight(wb, "region", "EMEA", reps)["weight"]  # doctest: +SKIP
    0.41
    """
    as_of = pd.Timestamp(wb.as_of if as_of is None else as_of).normalize()
    default = 0.5
    if history is not None and pipeline is not None:
        vh, vp = history.sd**2, pipeline.sd**2
        default = float(np.clip(0.5 if vh + vp == 0 else vh / (vh + vp), 0.2, 0.8))
    out = {
        "weight": default,
        "source": "default",
        "default": default,
        "learned": None,
        "snapshots": 0,
        "rmse_history": None,
        "rmse_pipeline": None,
    }
    dates = _past_dates(wb, as_of)

    def make() -> list[list[float]]:
        cal = wb.config.calendar
        errors = []
        for (d, q, _), past in zip(dates, _past_totals(wb, dates), strict=True):
            start, end = cal.period_bounds(q)
            mine = np.isin(np.asarray(past.reps), np.asarray(reps, dtype=str))
            actual = float(past.actual[mine].sum())
            e_pipe = float(past.expected[mine].sum())
            h = _history_expected(wb, subject_type, subject, d, start, end)
            if np.isfinite(h):
                errors.append([float(past.already[mine].sum()) + h - actual, e_pipe - actual])
        return errors

    parts = (as_of, subject_type, subject, sorted(map(str, reps)), *dates)
    errors = _disk_cached(wb, "blend", parts, make, list, list) if dates else []
    if not errors:
        return out
    e = np.asarray(errors)
    mse_h, mse_p = np.mean(e[:, 0] ** 2), np.mean(e[:, 1] ** 2)
    learned = 0.5 if mse_h + mse_p == 0 else float(mse_h / (mse_h + mse_p))
    n = len(e)
    weight = (n * learned + BLEND_PRIOR * default) / (n + BLEND_PRIOR)
    out.update(
        weight=float(weight),
        source="learned",
        learned=learned,
        snapshots=n,
        rmse_history=float(np.sqrt(mse_h)),
        rmse_pipeline=float(np.sqrt(mse_p)),
    )
    return out


def forecast_pipeline(
    wb,
    reps,
    period_start,
    period_end,
    as_of=None,
    *,
    shock: float | None = None,
    **kwargs,
) -> PipelineForecast:
    """The pipeline view (:func:`salesnb.forecast.pipeline.forecast_pipeline`) with the
    period's shock learned from past snapshots (:func:`pipeline_shock`) unless given.

    Parameters
    ----------
    wb, reps, period_start, period_end, as_of
        As for :func:`salesnb.forecast.pipeline.forecast_pipeline`.
    shock : float, optional
        Latent correlation of the period's deals; default learned at ``as_of``.
    **kwargs
        ``n_sims``, ``seed``, ``run_rate``.

    Returns
    -------
    PipelineForecast
        ``shock["source"]`` says ``"learned"``, ``"prior"`` or ``"given"``.

    Examples
    --------
    >>> forecast_pipeline(wb, None, "2026-07-01", "2026-09-30").shock  # doctest: +SKIP
    {'shock': 0.085, 'source': 'learned'}
    """
    if shock is not None:
        return _pipeline_view(wb, reps, period_start, period_end, as_of, shock=shock, **kwargs)
    at = pd.Timestamp(wb.as_of if as_of is None else as_of).normalize()
    learned = pipeline_shock(wb, at)
    fc = _pipeline_view(wb, reps, period_start, period_end, at, shock=learned["shock"], **kwargs)
    fc.shock = {"shock": float(learned["shock"]), "source": learned["source"]}
    return fc

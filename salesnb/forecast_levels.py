"""Every level's forecast from the same reps' draws, with a spread learned from past quarters.

A manager's, region's and the whole team's forecast documents show the sum of their reps'
forecasts, draw by draw (:mod:`salesnb.forecast_reconcile`): the expected figure of a
manager equals the sum of the figures in the reps' documents, and the bands and P(target)
come from the same simulated quarters. The reps' expected figures are the whole team's own
forecast shared in proportion to each rep's own forecast (top-down proportions): the team's
series is the least noisy, and the sum of the reps' own forecasts strays from it (on the
sample's next quarter, 2.63M against the team's 3.21M, while the team booked 3.29M and 3.38M
in the same quarter of the last two years).

1. :func:`rep_table` -- every rep's expected bookings for the period as its own document
   forecasts them (history and pipeline views blended), and shared out of the whole team's
   own forecast; computed once per data set.
2. :func:`past_errors` -- the same forecast replayed for every rep at past as-of dates: the
   day before each finished quarter started and the end of its first month (rest of the
   quarter), each with only the data known then, beside what was then booked.
3. :func:`level_draws` -- joint draws of all reps that replay the errors all reps made
   together at one past date (:func:`salesnb.forecast_reconcile.coherent_draws`), summed
   over the subject's reps. The spread at each level is then its own past errors'.

Past forecasts use today's blend weight of each rep (learned from the snapshots of finished
quarters); everything else is as known at each past date.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special

from salesnb.forecast_calibration import learned_cached
from salesnb.forecast_pipeline import Distribution, expected_by_rep, expected_run_rate
from salesnb.forecast_reconcile import (
    coherent_draws,
    error_scale,
    min_origins,
    shared_normal_draws,
    top_down,
)

#: Past quarters (per horizon) needed before a band is called calibrated.
MIN_QUARTERS = 6
#: Draws per rep when tabulating every rep's forecast (only its mean and spread are kept).
TABLE_SIMS = 2000
#: A document is a "quarter start" forecast while more than this share of the quarter is left;
#: later it is a "rest of the quarter" forecast, calibrated on mid-quarter errors.
START_SHARE = 5 / 6
#: Months of whole-team history needed before a past date is replayed.
MIN_HISTORY_MONTHS = 12


def positive_mean(mu: float, sd: float) -> float:
    """Mean of ``max(X, 0)`` for ``X ~ N(mu, sd)`` (bookings are never negative).

    Examples
    --------
    >>> positive_mean(100.0, 0.0), round(positive_mean(0.0, 1.0), 4)
    (100.0, 0.3989)
    """
    if sd <= 0:
        return max(mu, 0.0)
    z = mu / sd
    return float(mu * special.ndtr(z) + sd * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi))


def rep_table(wb, period: str, as_of, *, seed: int = 0) -> pd.DataFrame:
    """Every rep's forecast of ``period`` as its own document makes it, before reconciling.

    Parameters
    ----------
    wb : Workbook
    period : str
        As for :func:`salesnb.forecast.period_forecast`.
    as_of : date
    seed : int
        The documents' seed.

    Returns
    -------
    DataFrame
        Index ``rep_id``; ``already_won``, ``rest`` (expected bookings still to come),
        ``sd`` (spread of the blended view's draws), ``reconciled`` (``rest`` scaled so the
        reps add up to the whole team's own forecast of the rest of the period) in currency,
        ``weight`` (the pipeline view's weight in the blend) and ``team_weight`` (the whole
        team's). Cached per data set (kind ``"reptable"``).

    Examples
    --------
    >>> rep_table(wb, "FY2026-Q4", "2026-09-30").loc["R01", "rest"]  # doctest: +SKIP
    """
    from salesnb.forecast import period_forecast

    as_of = pd.Timestamp(as_of).normalize()
    reps = [str(r) for r in wb.reps["rep_id"]]

    def make() -> pd.DataFrame:
        rows = []
        for r in reps:
            pf = period_forecast(
                wb, "rep", r, period, as_of, seed=seed, n_sims=TABLE_SIMS, coherent=False
            )
            rows.append(
                {
                    "rep_id": r,
                    "already_won": float(pf.already_won),
                    "rest": float(pf.base_expected - pf.already_won),
                    "sd": float(pf.blended.sd),
                    "weight": float(pf.pipeline_weight),
                }
            )
        out = pd.DataFrame(rows).set_index("rep_id")
        team = period_forecast(
            wb, "all", None, period, as_of, seed=seed, n_sims=TABLE_SIMS, coherent=False
        )
        team_rest = team.base_expected - team.already_won
        out["reconciled"] = top_down(team_rest, out["rest"].to_numpy())
        out["team_weight"] = float(team.pipeline_weight)
        return out

    def load(d: dict) -> pd.DataFrame:
        return pd.DataFrame(d).set_index("rep_id")

    return learned_cached(
        wb, "reptable", (period, as_of, seed), make, lambda t: t.reset_index().to_dict("list"), load
    )


def _origins(wb, as_of: pd.Timestamp) -> list[tuple[pd.Timestamp, str, str]]:
    """(date, kind, quarter) of the past forecasts replayed: each finished quarter's eve and
    the end of its first month, once the whole team has :data:`MIN_HISTORY_MONTHS` months."""
    from salesnb.forecast import team_series

    cal = wb.config.calendar
    team = team_series(wb, as_of)
    first = team.first_valid_index()
    if first is None:
        return []
    out = []
    quarters = sorted({str(cal.period_label(m.start_time, "Q")) for m in team.index})
    for q in quarters:
        start, end = cal.period_bounds(q)
        if end > as_of:
            continue
        eve = start - pd.Timedelta(days=1)
        mid = (start + pd.offsets.MonthEnd(0)).normalize()
        for d, kind in ((eve, "start"), (mid, "mid")):
            if (d.to_period("M") - first).n + 1 >= MIN_HISTORY_MONTHS + (kind == "mid"):
                out.append((d, kind, q))
    return out


def past_errors(wb, as_of, weights: pd.Series, team_weight: float = 0.5) -> pd.DataFrame:
    """Every rep's rest-of-quarter forecast at past dates, beside what was then booked.

    At each date of :func:`_origins` (known data only): the history view as
    :func:`salesnb.forecast.forecast_many` gives it for all reps together with the team's
    seasonal pattern borrowed, the pipeline view's expectation
    (:func:`salesnb.forecast_pipeline.expected_by_rep`), blended with ``weights``, then
    shared out of the whole team's own forecast made the same way (blended with
    ``team_weight``) as documents do (:func:`salesnb.forecast_reconcile.top_down`).

    Parameters
    ----------
    wb : Workbook
    as_of : date
        Only quarters finished by then are replayed.
    weights : Series
        Pipeline weight per rep id (0-1); reps not in it get 0.5.

    Returns
    -------
    DataFrame
        One row per (date, rep): ``date``, ``kind`` (``"start"`` or ``"mid"``), ``quarter``,
        ``rep_id``, ``forecast`` and ``actual`` (bookings after the date inside the
        quarter, currency). Cached per data set (kind ``"pasterrors"``).

    Examples
    --------
    >>> past_errors(wb, "2026-09-30", pd.Series(0.5, index=["R01"])).columns[:3].tolist()  # doctest: +SKIP
    ['date', 'kind', 'quarter']
    """
    from salesnb.forecast import (
        forecast_history,
        forecast_many,
        monthly_bookings,
        rest_of_period,
        team_series,
    )

    as_of = pd.Timestamp(as_of).normalize()
    origins = _origins(wb, as_of)
    w = {str(k): round(float(v), 4) for k, v in weights.items()}
    cal = wb.config.calendar

    def make() -> pd.DataFrame:
        rows = []
        for d, kind, q in origins:
            start, end = cal.period_bounds(q)
            wide = monthly_bookings(wb, by="rep", as_of=d).dropna(axis=1, how="all")
            _, horizon, mw = rest_of_period(d, start, end)
            team = team_series(wb, d)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hist = forecast_many(wide, horizon, levels=(0.8,), parent=team)
                team_hist = forecast_history(team, horizon, levels=(0.8,), parent=team)
            reps = [str(r) for r in wb.reps["rep_id"]]
            pipe = expected_by_rep(wb, reps, start, end, d)
            team_pipe = float(pipe["expected_open"].sum()) + expected_run_rate(wb, start, end, d)
            team_fc = team_pipe
            if team_hist.ok:
                mu, sd = team_hist.total(mw)
                team_fc = (1 - team_weight) * positive_mean(mu, sd) + team_weight * team_pipe
            own = []
            for r in reps:
                p = pipe.loc[r]
                e_pipe = float(p["expected_open"] + p["expected_run_rate"])
                h = hist.get(r)
                wr = w.get(r, 0.5)
                if h is not None and h.ok:
                    mu, sd = h.total(mw)
                    fc = (1 - wr) * positive_mean(mu, sd) + wr * e_pipe
                else:
                    fc = e_pipe
                own.append(fc)
            shared = top_down(team_fc, np.asarray(own))
            for r, fc in zip(reps, shared, strict=True):
                rows.append([f"{d:%Y-%m-%d}", kind, q, r, fc, float(pipe.loc[r, "actual_rest"])])
        return pd.DataFrame(
            rows, columns=["date", "kind", "quarter", "rep_id", "forecast", "actual"]
        )

    def load(d: dict) -> pd.DataFrame:
        return pd.DataFrame(d)

    parts = (
        as_of,
        tuple(sorted(w.items())),
        round(team_weight, 4),
        tuple(f"{d:%Y-%m-%d}" for d, _, _ in origins),
    )
    return learned_cached(wb, "pasterrors", parts, make, lambda t: t.to_dict("list"), load)


def error_matrix(errors: pd.DataFrame, kind: str, reps: Sequence[str]) -> np.ndarray:
    """Relative errors ``(actual - forecast) / scale`` per past date (rows) and rep (columns),
    ``scale`` = :func:`salesnb.forecast_reconcile.error_scale` of that date's forecasts; NaN
    where a rep was not forecast.

    Examples
    --------
    >>> e = pd.DataFrame({"date": ["d"] * 2, "kind": ["start"] * 2, "rep_id": ["a", "b"],
    ...                   "forecast": [100.0, 50.0], "actual": [120.0, 40.0]})
    >>> error_matrix(e, "start", ["a", "b", "c"]).round(2).tolist()
    [[0.2, -0.2, nan]]
    """
    e = errors[errors["kind"] == kind]
    if e.empty:
        return np.zeros((0, len(reps)))
    out = []
    for _, g in e.groupby("date", sort=True):
        scale = error_scale(g["forecast"].to_numpy())
        rel = pd.Series((g["actual"].to_numpy() - g["forecast"].to_numpy()) / scale,
                        index=g["rep_id"].astype(str).to_numpy())  # fmt: skip
        out.append(rel.reindex([str(r) for r in reps]).to_numpy(dtype=float))
    return np.vstack(out)


def level_draws(
    wb,
    reps: Sequence[str],
    period: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    as_of: pd.Timestamp,
    *,
    seed: int = 0,
    n_sims: int = 10_000,
) -> tuple[Distribution, dict]:
    """The subject's total for the period: the sum of its reps' coherent, calibrated draws.

    Parameters
    ----------
    wb : Workbook
    reps : sequence of str
        The subject's rep ids (one for a rep, all for the whole team).
    period, start, end, as_of
        The document's period (label and bounds) and as-of date.
    seed, n_sims
        The document's; every document of a data set draws the same joint quarters.

    Returns
    -------
    (Distribution, dict)
        Draws of the total (currency), and ``calibration``: ``calibrated`` (bool),
        ``horizon`` (``"quarter start"`` or ``"rest of quarter"``), ``quarters`` (past
        quarters the spread was learned from), ``reliable_95`` (enough for the 95% band)
        and ``sentence`` (plain words for the document).

    Examples
    --------
    >>> d, info = level_draws(wb, ["R01", "R02"], "FY2026-Q4", *bounds, as_of)  # doctest: +SKIP
    """
    table = rep_table(wb, period, as_of, seed=seed)
    ids = [str(r) for r in table.index]
    cols = np.isin(ids, [str(r) for r in reps])
    already = float(table["already_won"].to_numpy()[cols].sum())
    rest = table["reconciled"].to_numpy(dtype=float)
    days = (end - start).days + 1
    left = max((end - max(as_of, start - pd.Timedelta(days=1))).days, 0)
    info: dict = {"calibrated": False, "quarters": 0, "reliable_95": False}
    if left == 0:
        info.update(horizon="period over", sentence="The period is over: nothing left to forecast.")
        return Distribution(np.full(n_sims, already)), info
    kind = "start" if left / days > START_SHARE else "mid"
    info["horizon"] = "quarter start" if kind == "start" else "rest of quarter"
    is_quarter = "-Q" in str(period) and start <= as_of + pd.Timedelta(days=8)
    team_w = float(table["team_weight"].iloc[0]) if len(table) else 0.5
    errs = past_errors(wb, as_of, table["weight"], team_w) if is_quarter else pd.DataFrame()
    e = error_matrix(errs, kind, ids) if len(errs) else np.zeros((0, len(ids)))
    n = len(e)
    if is_quarter and n >= MIN_QUARTERS:
        draws = coherent_draws(rest, error_scale(rest), e, n_sims=n_sims, seed=seed + 3)
        info.update(calibrated=True, quarters=n, reliable_95=n >= min_origins(0.95))
        info["sentence"] = (
            f"The bands and the chance of reaching target are set by how far the same forecast, "
            f"made at the same point of the quarter, missed in the {n} past quarters "
            "(the reps' misses added up as for this document)."
            + (
                ""
                if info["reliable_95"]
                else " With so few quarters the 95% band is a rougher guide than the 80% one."
            )
        )
    else:
        draws = shared_normal_draws(
            rest, table["sd"].to_numpy(dtype=float), n_sims=n_sims, seed=seed + 3
        )
        why = (
            "the period is not a fiscal quarter in play"
            if not is_quarter
            else f"only {n} past quarters to check it against (at least {MIN_QUARTERS} needed)"
        )
        info.update(quarters=n)
        info["sentence"] = (
            f"Uncalibrated band: {why}, so the 80% band and the chance of reaching target come "
            "from the models' own spread, not from past misses; treat them as rough."
        )
    return Distribution(draws[:, cols].sum(axis=1) + already), info

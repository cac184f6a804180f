"""Every level's forecast from the same reps' draws, with a spread learned from past quarters.

A manager's, region's and the whole team's forecast documents show the sum of their reps'
forecasts, draw by draw (:mod:`salesnb.forecast.reconcile`): the expected figure of a
manager equals the sum of the figures in the reps' documents, and the bands and P(target)
come from the same simulated quarters. The reps' expected figures are the whole team's own
forecast shared in proportion to each rep's own forecast (top-down proportions): the team's
series is the least noisy, and the sum of the reps' own forecasts strays from it (on the
sample's next quarter, 2.63M against the team's 3.21M, while the team booked 3.29M and 3.38M
in the same quarter of the last two years).

1. :func:`all_reps` -- every rep's own forecast of the rest of a period (its history view
   and its pipeline view's expectation, blended with the whole team's learned pipeline
   weight), shared out of the whole team's own forecast. :func:`rep_table` does it today
   (the team's figure is its document's), once per data set.
2. :func:`past_errors` -- the same forecast replayed at past as-of dates: the day before each
   finished quarter started and the end of its first month (rest of the quarter), each
   with only the data known then, beside what was then booked. At the end of the first
   month the history views are those fitted on the quarter's eve (one fit per quarter, half
   the cost), the pipeline and what was won are the month-end's.
3. :func:`mix_model` -- per level (the whole team, regions, managers, reps) the mix of three
   candidates -- top-down (the team's forecast shared out), bottom-up (the reps' own
   forecasts added up) and the same quarter last year (:func:`same_quarter_last_year`) --
   that missed least at the replayed past dates, and each level's band factor fitted so
   that past 80% bands held about 80% of that level's outcomes
   (:mod:`salesnb.forecast.levelmix`; every choice for a past quarter is made without it).
   With fewer than :data:`MIN_MIX_QUARTERS` past quarters, every level above the reps half
   top-down and half the same quarter last year, the reps top-down
   (:func:`~salesnb.forecast.levelmix.default_mixes`).
4. :func:`level_draws` -- every rep's figure from those mixes, shared out top-down so reps
   add up to every level, and joint draws of all reps that replay the errors all reps made
   together at one past date (:func:`salesnb.forecast.reconcile.coherent_draws`), scaled
   per level (:func:`salesnb.forecast.levelmix.nested_scale`), summed over the subject's
   reps. The spread at each level is then its own past errors', scaled to its own record.

Past forecasts use today's pipeline weight (learned from the snapshots of finished quarters);
everything else is as known at each past date. Before 2026-03 the sample has no snapshots,
so the pipeline at those dates is rebuilt from the deals' dates and furthest stages.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import special

from salesnb.forecast.cache import learned_cached
from salesnb.forecast.history import forecast_history, forecast_many
from salesnb.forecast.levelmix import (
    MIXES,
    choose_mix,
    chosen_mix_sentence,
    coherent_means,
    default_mix_sentence,
    default_mixes,
    few_quarters,
    fit_factors,
    nested_levels,
    nested_scale,
    out_of_sample_means,
)
from salesnb.forecast.pipeline import Distribution, expected_by_rep, expected_run_rate
from salesnb.forecast.reconcile import (
    SHARED_PRIOR,
    coherent_draws,
    error_scale,
    min_origins,
    shared_normal_draws,
    shared_share,
    top_down,
)
from salesnb.forecast.subjects import (
    first_activity,
    monthly_bookings,
    rest_of_period,
    subject_of,
    target_of,
    team_series,
)

#: Past quarters (per horizon) needed before a band is called calibrated.
MIN_QUARTERS = 6
#: Past quarters (per horizon) needed before each level's figure follows its chosen mix
#: (:func:`mix_model`); below :data:`MIN_QUARTERS` the band is still the uncalibrated one.
#: Two, as for the chance map: with fewer no choice can be checked on another quarter, and
#: each level takes its default (:func:`~salesnb.forecast.levelmix.default_mixes`).
MIN_MIX_QUARTERS = 2
#: Draws per rep when tabulating every rep's forecast (only its mean and spread are kept).
TABLE_SIMS = 2000
#: A document is a "quarter start" forecast while more than this share of the quarter is left;
#: later it is a "rest of the quarter" forecast, calibrated on mid-quarter errors.
START_SHARE = 5 / 6
#: Months of whole-team history needed before a past date is replayed.
MIN_HISTORY_MONTHS = 12
#: Levels whose P(target) is replayed (:func:`target_backtest`).
P_LEVELS = ("rep", "manager", "region", "all")
#: Draws per replayed past date when reading its P(target) (only a probability is kept).
P_SIMS = 2000


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


def pooled_rep_weights(wb, as_of: pd.Timestamp) -> tuple[dict[str, float], float | None]:
    """Each rep's pipeline weight in its own forecast, and the reps' pooled weight.

    A rep's weight of :func:`salesnb.forecast.calibration.blend_weight` (inverse mean squared
    error of the two views at the snapshots of quarters finished by ``as_of``) counts its
    ``n`` snapshots against :data:`~salesnb.forecast.calibration.BLEND_PRIOR` pseudo-snapshots
    at the reps' pooled weight (every rep's learned weight, weighted by its snapshots):
    ``(n w_rep + prior w_reps) / (n + prior)``; a rep with none (a new hire) gets the pooled
    weight. The team's own weight is no guide for one rep: a team's history is smoother than
    any rep's (the sample at 2026-08-14: team 0.18, reps pooled 0.50). Returns the weight
    per rep id (0-1) and the pooled weight; ``({}, None)`` when no rep has a snapshot.

    Examples
    --------
    >>> pooled_rep_weights(wb, pd.Timestamp("2026-09-30"))[1]  # doctest: +SKIP
    0.53
    """
    from salesnb.forecast.calibration import BLEND_PRIOR, blend_weight

    reps = [str(r) for r in wb.reps["rep_id"]]

    def make() -> list:
        bws = [blend_weight(wb, "rep", r, [r], as_of) for r in reps]
        n = np.array([b["snapshots"] if b["source"] == "learned" else 0 for b in bws], float)
        w = np.array([b["learned"] if b["source"] == "learned" else 0.0 for b in bws], float)
        if n.sum() == 0:
            return [{}, None]
        pooled = float((n * w).sum() / n.sum())
        own = (n * w + BLEND_PRIOR * pooled) / (n + BLEND_PRIOR)
        return [dict(zip(reps, own.tolist(), strict=True)), pooled]

    return tuple(learned_cached(wb, "repweights", (as_of, *reps), make, list, list))


def rep_weights(wb, reps: Sequence[str], as_of: pd.Timestamp, weight: float) -> np.ndarray:
    """Each rep's pipeline weight in its own forecast (:func:`pooled_rep_weights`); the whole
    team's ``weight`` when no rep has a past snapshot to learn from (a rep whose pipeline
    forecast its past quarters better, as the sample's R28's, is read mostly from it).

    Examples
    --------
    >>> rep_weights(wb, ["R28"], pd.Timestamp("2026-09-30"), 0.2)  # doctest: +SKIP
    array([0.7])
    """
    own, pooled = pooled_rep_weights(wb, as_of)
    if pooled is None:
        return np.full(len(reps), float(weight))
    return np.array([own.get(str(r), pooled) for r in reps], dtype=float)


def all_reps(
    wb,
    start: pd.Timestamp,
    end: pd.Timestamp,
    as_of: pd.Timestamp,
    weight: float,
    team_rest: float | None = None,
    history_as_of: pd.Timestamp | None = None,
    fits: dict | None = None,
) -> pd.DataFrame:
    """Every rep's forecast of the rest of a period at ``as_of``, shared out of the team's.

    Each rep's own forecast blends its history view (the level's pooled model choice with the
    team's seasonal pattern borrowed, :func:`salesnb.forecast.combined.forecast_many`) and its
    pipeline view's expectation (:func:`salesnb.forecast.pipeline.expected_by_rep`) with its
    own pipeline weight (:func:`rep_weights`: learned from its past snapshots, shrunk towards
    the reps' pooled weight); the reps' forecasts are then scaled to add up to the
    whole team's own forecast of the rest of the period (top-down proportions,
    :func:`salesnb.forecast.reconcile.top_down`): ``team_rest`` when given (today's team
    document), else the team's history and pipeline views blended the same way.

    ``history_as_of`` (an earlier date in the period, e.g. its eve) fits the history views
    on the months complete then and reads the months still to come from those fits (the
    replay at mid-quarter reuses the quarter-start fits: half the cost); ``fits`` is a dict
    that keeps the fits between calls.

    Returns
    -------
    DataFrame
        Index ``rep_id``: ``already_won``, ``own`` (the rep's own forecast of the rest),
        ``rest`` (its share of the team's), ``sd`` (the history view's spread) and
        ``actual`` (booked after ``as_of`` in the period: known only looking back), currency.

    Examples
    --------
    >>> all_reps(wb, *bounds, pd.Timestamp("2026-07-31"), 0.2)["rest"].sum()  # doctest: +SKIP
    """
    reps = [str(r) for r in wb.reps["rep_id"]]
    pipe = expected_by_rep(wb, reps, start, end, as_of)
    e_pipe = (pipe["expected_open"] + pipe["expected_run_rate"]).to_numpy(dtype=float)
    first, horizon, mw = rest_of_period(as_of, start, end)
    own, sd = e_pipe.copy(), np.zeros(len(reps))
    h_as_of = as_of if history_as_of is None else pd.Timestamp(history_as_of)
    h_first, h_horizon, _ = rest_of_period(h_as_of, start, end)
    team = team_series(wb, h_as_of)
    fits = {} if fits is None else fits
    team_hist = None
    if horizon:
        # the months still to come, as weights on the history fits' months
        full = np.zeros(h_horizon)
        k = (first - h_first).n
        full[k : k + len(mw)] = mw
        mw = full

        def fit() -> tuple[dict, object]:
            wide = monthly_bookings(wb, by="rep", as_of=h_as_of).dropna(axis=1, how="all")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                many = (
                    forecast_many(wide, h_horizon, levels=(0.8,), parent=team) if wide.size else {}
                )
                own_team = (
                    forecast_history(team, h_horizon, levels=(0.8,), parent=team)
                    if team.notna().any()
                    else None
                )
            return many, own_team

        key = (h_as_of, h_horizon)
        if key not in fits:
            fits[key] = fit()
        hist, team_hist = fits[key]
        w_rep = rep_weights(wb, reps, as_of, weight)
        for i, r in enumerate(reps):
            h = hist.get(r)
            if h is not None and h.ok:
                mu, sd[i] = h.total(mw)
                own[i] = (1 - w_rep[i]) * positive_mean(mu, sd[i]) + w_rep[i] * e_pipe[i]
    else:
        own[:] = 0.0
    if team_rest is None:
        team_rest = float(pipe["expected_open"].sum()) + expected_run_rate(wb, start, end, as_of)
        if horizon and team_hist is not None and team_hist.ok:
            mu, s = team_hist.total(mw)
            team_rest = (1 - weight) * positive_mean(mu, s) + weight * team_rest
    return pd.DataFrame(
        {
            "already_won": pipe["already_won"].to_numpy(dtype=float),
            "own": own,
            "rest": top_down(team_rest, own),
            "sd": sd,
            "actual": pipe["actual_rest"].to_numpy(dtype=float),
        },
        index=pd.Index(reps, name="rep_id"),
    )


def rep_table(wb, period: str, as_of, team_forecast: Callable, *, seed: int = 0) -> pd.DataFrame:
    """Every rep's expected bookings for ``period`` as the documents show them.

    The whole team's own forecast (its document's blend of history and pipeline views),
    shared by the reps in proportion to their own forecasts (:func:`all_reps`).

    Parameters
    ----------
    wb : Workbook
    period : str
        As for :func:`salesnb.forecast.combined.period_forecast`.
    as_of : date
    team_forecast : callable
        ``team_forecast(n_sims)`` gives the whole team's own forecast for the period (a
        :class:`~salesnb.forecast.combined.PeriodForecast` with ``coherent=False``: its
        ``pipeline_weight``, ``base_expected``, ``already_won``, ``period_start`` and
        ``period_end`` are read); called only when the table is not cached.
    seed : int
        The documents' seed.

    Returns
    -------
    DataFrame
        As :func:`all_reps` (without ``actual``), plus ``weight``: the whole team's pipeline
        weight in the blend, used for every rep. Cached per data set (kind ``"reptable"``).

    Examples
    --------
    >>> rep_table(wb, "FY2026-Q4", "2026-09-30", team).loc["R01", "rest"]  # doctest: +SKIP
    """
    as_of = pd.Timestamp(as_of).normalize()

    def make() -> pd.DataFrame:
        team = team_forecast(TABLE_SIMS)
        weight = float(team.pipeline_weight)
        out = all_reps(
            wb,
            team.period_start,
            team.period_end,
            as_of,
            weight,
            team_rest=team.base_expected - team.already_won,
        ).drop(columns="actual")
        out["weight"] = weight
        return out

    def load(d: dict) -> pd.DataFrame:
        return pd.DataFrame(d).set_index("rep_id")

    return learned_cached(
        wb, "reptable", (period, as_of, seed), make, lambda t: t.reset_index().to_dict("list"), load
    )


def _origins(wb, as_of: pd.Timestamp) -> list[tuple[pd.Timestamp, str, str]]:
    """(date, kind, quarter) of the past forecasts replayed: each finished quarter's eve and
    the end of its first month, once the whole team has :data:`MIN_HISTORY_MONTHS` months."""
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


def past_errors(wb, as_of, weight: float) -> pd.DataFrame:
    """Every rep's rest-of-quarter forecast at past dates, beside what was then booked.

    At each date of :func:`_origins`, :func:`all_reps` with only the data known then (the
    team's own forecast made the same way and shared by the reps), with today's team
    pipeline ``weight``.

    Parameters
    ----------
    wb : Workbook
    as_of : date
        Only quarters finished by then are replayed.
    weight : float
        The pipeline view's weight in the blend (0-1).

    Returns
    -------
    DataFrame
        One row per (date, rep): ``date``, ``kind`` (``"start"`` or ``"mid"``), ``quarter``,
        ``rep_id``, ``forecast`` (the rep's share of the team's forecast), ``own`` (the
        rep's own forecast) and ``actual`` (bookings after the date inside the quarter),
        currency. Cached per data set (kind ``"pasterrors"``).

    Examples
    --------
    >>> past_errors(wb, "2026-09-30", 0.2).columns[:3].tolist()  # doctest: +SKIP
    ['date', 'kind', 'quarter']
    """
    as_of = pd.Timestamp(as_of).normalize()
    cal = wb.config.calendar

    def make() -> pd.DataFrame:
        parts, fits = [], {}
        for d, kind, q in _origins(wb, as_of):
            start, end = cal.period_bounds(q)
            t = all_reps(wb, start, end, d, weight, history_as_of=start - pd.Timedelta(days=1),
                         fits=fits)  # fmt: skip
            parts.append(
                pd.DataFrame(
                    {
                        "date": f"{d:%Y-%m-%d}",
                        "kind": kind,
                        "quarter": q,
                        "rep_id": t.index,
                        "forecast": t["rest"].to_numpy(),
                        "own": t["own"].to_numpy(),
                        "actual": t["actual"].to_numpy(),
                    }
                )
            )
        cols = ["date", "kind", "quarter", "rep_id", "forecast", "own", "actual"]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)

    def load(d: dict) -> pd.DataFrame:
        return pd.DataFrame(d)

    # the past dates follow from the data and as_of, both in the key
    parts = (as_of, round(float(weight), 4))
    return learned_cached(wb, "pasterrors", parts, make, lambda t: t.to_dict("list"), load)


def error_matrix(errors: pd.DataFrame, kind: str, reps: Sequence[str]) -> np.ndarray:
    """Relative errors ``(actual - forecast) / scale`` per past date (rows) and rep (columns),
    ``scale`` = :func:`salesnb.forecast.reconcile.error_scale` of that date's forecasts; NaN
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


def same_quarter_last_year(wb, ids: Sequence[str], start, end, as_of) -> np.ndarray:
    """What each rep booked in the same part of the same quarter a year before (currency).

    The part still to come at ``as_of`` (the whole quarter on its eve), moved back to the
    fiscal quarter a year earlier; NaN for a rep with no sign of activity by that quarter's
    start (nothing to go on). Only bookings a year old are read: nothing after ``as_of``.

    Examples
    --------
    >>> same_quarter_last_year(wb, ["R01"], *bounds, bounds[0] - pd.Timedelta(days=1))  # doctest: +SKIP
    array([88000.])
    """
    cal = wb.config.calendar
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    ls, le = cal.period_bounds(str(cal.period_label(start - pd.DateOffset(years=1), "Q")))
    lo = max(start, pd.Timestamp(as_of) + pd.Timedelta(days=1))
    frm = ls + (lo - start)
    o = wb.opportunities
    w = o[(o["outcome"] == "won") & o["close_date"].between(frm, le)]
    ids = [str(r) for r in ids]
    out = w.groupby(w["rep_id"].astype(str))["amount"].sum().reindex(ids, fill_value=0.0)
    first = first_activity(wb, pd.Timestamp(as_of))
    first.index = first.index.astype(str)
    known = first.reindex(ids) <= ls
    return np.where(known.to_numpy(dtype=bool), out.to_numpy(dtype=float), np.nan)


def hierarchy(wb, ids: Sequence[str]) -> list[tuple[str, np.ndarray]]:
    """The nested levels of the reps ``ids`` (:func:`salesnb.forecast.levelmix.nested_levels`):
    the whole team, regions, managers, reps (a rep without a region or manager is a group
    of its own kind, labelled empty).

    Examples
    --------
    >>> [name for name, _ in hierarchy(wb, ids)]  # doctest: +SKIP
    ['all', 'region', 'manager', 'rep']
    """
    ids = [str(r) for r in ids]
    groups: list[tuple[str, Sequence]] = [("all", np.full(len(ids), "all"))]
    for lv in ("region", "manager"):
        sub = subject_of(wb, lv)
        sub.index = sub.index.astype(str)
        groups.append((lv, sub.reindex(ids).fillna("").to_numpy(dtype=str)))
    groups.append(("rep", np.asarray(ids, dtype=str)))
    return nested_levels(groups)


def mix_model(wb, errors: pd.DataFrame, kind: str, ids: Sequence[str]) -> dict:
    """Each level's mix of forecasts and band factor, learned from the replayed past dates.

    From the past dates of ``kind`` in ``errors`` (:func:`past_errors`), with the same
    quarter last year added (:func:`same_quarter_last_year`):

    * ``mixes``: per level, the mix of top-down, bottom-up and same-quarter-last-year with
      the least scaled error over all those dates (:func:`~salesnb.forecast.levelmix.choose_mix`);
    * ``oos``: each past date's figures per rep (:func:`~salesnb.forecast.levelmix.coherent_means`)
      with mixes chosen *without* the date's own quarter, and ``errors``, their relative misses
      (rows: dates, columns: ``ids``; NaN where a rep had not joined by that date), which draw
      today's band;
    * ``factors`` and ``bands``: each level's band factor, fitted on those out-of-sample
      figures (:func:`~salesnb.forecast.levelmix.fit_factors`).

    Returns
    -------
    dict
        The above, plus ``levels``, ``dates``, ``actual`` and ``n`` (past dates).

    Examples
    --------
    >>> mix_model(wb, past_errors(wb, as_of, 0.2), "start", ids)["mixes"]  # doctest: +SKIP
    {'all': 10, 'region': 10, 'manager': 0, 'rep': 0}
    """
    ids = [str(r) for r in ids]
    levels = hierarchy(wb, ids)
    e = errors[errors["kind"] == kind]
    dates = sorted(e["date"].unique())
    cal = wb.config.calendar
    cands, actual, quarters = [], [], []
    for d in dates:
        g = e[e["date"] == d].drop_duplicates("rep_id").set_index("rep_id")
        g.index = g.index.astype(str)
        g = g.reindex(ids)
        q = str(g["quarter"].dropna().iloc[0])
        start, end = cal.period_bounds(q)
        naive = same_quarter_last_year(wb, ids, start, end, pd.Timestamp(d))
        cands.append(np.vstack([g["forecast"].to_numpy(float), g["own"].to_numpy(float), naive]))
        actual.append(g["actual"].fillna(0.0).to_numpy(dtype=float))
        quarters.append(q)
    n = len(dates)
    c = np.asarray(cands).reshape(n, 3, len(ids))
    a = np.asarray(actual).reshape(n, len(ids))
    q = np.asarray(quarters)
    mixes = choose_mix(c, a, levels)
    oos = out_of_sample_means(c, a, q, levels)
    errs = np.vstack([(a[i] - oos[i]) / error_scale(oos[i]) for i in range(n)]) if n else a
    if n:
        # A rep not yet joined at a past date (no start date, deal or close by then) was
        # "forecast" nothing and booked nothing: an error of 0 that says nothing about the rep
        # and gave new hires' bands no width ($20.3K-$20.5K). NaN instead: the draws borrow
        # a peer's error at that date (reconcile.coherent_draws).
        joined = first_activity(wb, pd.Timestamp(dates[-1])).reindex(ids)
        joined = joined.to_numpy(dtype="datetime64[ns]")[None, :]
        errs = np.where(joined <= pd.to_datetime(dates).to_numpy()[:, None], errs, np.nan)
    factors, bands = fit_factors(oos, a, levels) if n >= MIN_QUARTERS else ([1.0] * len(levels), {})
    return {"levels": levels, "mixes": mixes, "oos": oos, "errors": errs, "actual": a,
            "factors": factors, "bands": bands, "dates": dates, "n": n}  # fmt: skip


def model_to_json(model: dict) -> dict:
    """A :func:`mix_model` result as plain JSON data (for the disk cache).

    Examples
    --------
    >>> m = {"levels": [("all", np.array(["all"]))], "mixes": {"all": 0}, "oos": np.ones((1, 1)),
    ...      "errors": np.zeros((1, 1)), "actual": np.ones((1, 1)), "factors": [1.0],
    ...      "bands": {}, "dates": ["2026-06-30"], "n": 1}
    >>> model_from_json(model_to_json(m))["oos"].shape
    (1, 1)
    """
    out = dict(model)
    out["levels"] = [[name, [str(x) for x in lab]] for name, lab in model["levels"]]
    for k in ("oos", "errors", "actual"):
        out[k] = np.asarray(model[k], dtype=float).tolist()
    out["factors"] = [float(x) for x in model["factors"]]
    out["mixes"] = {k: int(v) for k, v in model["mixes"].items()}
    out["dates"] = [str(d) for d in model["dates"]]
    out["n"] = int(model["n"])
    return out


def model_from_json(d: dict) -> dict:
    """The inverse of :func:`model_to_json`.

    Examples
    --------
    >>> model_from_json({"levels": [["all", ["all"]]], "mixes": {}, "oos": [], "errors": [],
    ...                  "actual": [], "factors": [1.0], "bands": {}, "dates": [], "n": 0})["n"]
    0
    """
    out = dict(d)
    levels = [(name, np.asarray(lab, dtype=str)) for name, lab in d["levels"]]
    k = len(levels[-1][1]) if levels else 0
    out["levels"] = levels
    for key in ("oos", "errors", "actual"):
        out[key] = np.asarray(d[key], dtype=float).reshape(-1, k)
    return out


def _mix_model(wb, as_of: pd.Timestamp, weight: float, kind: str, ids: list[str]) -> dict:
    """:func:`mix_model` on :func:`past_errors`, remembered in the process and on disk (kind
    ``"levelmix"``; the key holds the source of :mod:`salesnb.forecast.levelmix`, so a
    changed method never reads an old result)."""
    import hashlib
    from pathlib import Path

    src = Path(__file__).with_name("levelmix.py").read_bytes()
    version = hashlib.sha256(src).hexdigest()[:16]
    parts = (as_of, round(float(weight), 4), kind, len(ids), version)
    return learned_cached(
        wb,
        "levelmix",
        parts,
        lambda: mix_model(wb, past_errors(wb, as_of, weight), kind, ids),
        model_to_json,
        model_from_json,
    )


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
    level: str = "rep",
    team_forecast: Callable,
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
    team_forecast : callable
        The whole team's own forecast, as for :func:`rep_table`.
    level : str
        The document's subject type (``"rep"``, ``"manager"``, ``"region"``, ``"team"``,
        ``"all"``): whose band the sentence describes.

    Returns
    -------
    (Distribution, dict)
        Draws of the total (currency), and ``calibration``: ``calibrated`` (bool),
        ``horizon`` (``"quarter start"`` or ``"rest of quarter"``), ``quarters`` (past
        quarters the spread was learned from), ``reliable_95`` (enough for the 95% band)
        and ``sentence`` (plain words for the document). P(target) is read on these draws
        by :func:`salesnb.forecast.chance.target_chance`.

    Examples
    --------
    >>> d, info = level_draws(wb, ["R01", "R02"], "FY2026-Q4", *bounds, as_of,
    ...                       team_forecast=team)  # doctest: +SKIP
    """
    table = rep_table(wb, period, as_of, team_forecast, seed=seed)
    ids = [str(r) for r in table.index]
    cols = np.isin(ids, [str(r) for r in reps])
    already = float(table["already_won"].to_numpy()[cols].sum())
    rest = table["rest"].to_numpy(dtype=float)
    days = (end - start).days + 1
    left = max((end - max(as_of, start - pd.Timedelta(days=1))).days, 0)
    info: dict = {"calibrated": False, "quarters": 0, "reliable_95": False}
    if left == 0:
        info.update(horizon="period over", sentence="The period is over: nothing left to forecast.")
        return Distribution(np.full(n_sims, already)), info
    kind = "start" if left / days > START_SHARE else "mid"
    info["horizon"] = "quarter start" if kind == "start" else "rest of quarter"
    is_quarter = "-Q" in str(period) and start <= as_of + pd.Timedelta(days=8)
    weight = float(table["weight"].iloc[0]) if len(table) else 0.5
    errs = past_errors(wb, as_of, weight) if is_quarter else pd.DataFrame()
    e = error_matrix(errs, kind, ids) if len(errs) else np.zeros((0, len(ids)))
    n = len(e)
    own = table["own"].to_numpy(dtype=float)
    means, model = rest, None
    how = ""
    if is_quarter:
        # each level's figure is its chosen mix (the default one with under 2 past quarters
        # to choose from), shared out so that reps add up
        naive = same_quarter_last_year(wb, ids, start, end, as_of)
        last_year = bool(np.isfinite(naive[cols]).any())
        if n >= MIN_MIX_QUARTERS:
            model = _mix_model(wb, as_of, weight, kind, ids)
            levels, mixes = model["levels"], model["mixes"]
            how = chosen_mix_sentence(mixes, level, n, last_year)
        else:
            levels = hierarchy(wb, ids)
            mixes = default_mixes(levels)
            how = default_mix_sentence(levels, level, n, last_year)
        means = coherent_means(np.vstack([rest, own, naive]), levels, mixes)
        info["mix"] = {k: list(MIXES[v]) for k, v in mixes.items()}
        info["mix_chosen"], info["last_year"] = n >= MIN_MIX_QUARTERS, last_year
    if model is not None and n >= MIN_QUARTERS:
        draws = coherent_draws(means, error_scale(means), model["errors"], n_sims=n_sims,
                               seed=seed + 3)  # fmt: skip
        draws = nested_scale(draws, model["levels"], model["factors"])
        names = [name for name, _ in model["levels"]]
        info.update(calibrated=True, quarters=n, reliable_95=n >= min_origins(0.95))
        info["band_factor"] = dict(zip(names, model["factors"], strict=True))
        how = how or "The figure adds up the figures of this subject's reps. "
        band = model["bands"].get(level, {})
        width = ""
        if band.get("factor") is not None and band.get("factor") != 1.0:
            width = (
                f"; the 80% band at this level is then "
                f"{'widened' if band['factor'] > 1 else 'narrowed'} so that it would have held "
                f"{band['coverage_after']:.0%} of this level's past outcomes "
                f"({band['coverage_before']:.0%} before)"
            )
        info["sentence"] = (
            how + "The bands are set by how far the same forecast missed in those quarters "
            "(the reps' misses added up as for this document)"
            + width
            + ". The chance of reaching target is then corrected by how often such chances "
            "came true in past quarters, all levels together."
            + (
                ""
                if info["reliable_95"]
                else " With so few quarters the 95% band is a rougher guide than the 80% one."
            )
        )
    else:
        shared = SHARED_PRIOR
        if model is not None:
            # too few quarters to calibrate a band, enough to choose each level's figure and
            # to see how much reps' misses moved together in them (the sample's: 0-0.15, not
            # the 0.3 assumed without any, which made upper levels' bands too wide)
            shared = shared_share(model["errors"])
            info["shared"] = shared
        # the history view's spread, scaled as the rep's forecast was shared out
        ratio = np.divide(means, own, out=np.ones_like(means), where=own > 0)
        sds = table["sd"].to_numpy(dtype=float) * ratio
        draws = shared_normal_draws(means, sds, shared=shared, n_sims=n_sims, seed=seed + 3)
        why = (
            "the period is not a fiscal quarter in play"
            if not is_quarter
            else f"{few_quarters(n)} to check it against (at least {MIN_QUARTERS} needed)"
        )
        info.update(quarters=n)
        together = (
            f" (reps' misses taken to move together as much as in those {n} quarters)"
            if "shared" in info
            else ""
        )
        info["sentence"] = how + (
            f"Uncalibrated band: {why}, so the 80% band and the chance of reaching target come "
            f"from the models' own spread{together}, not from how far past forecasts missed; "
            "treat them as rough."
        )
    return Distribution(draws[:, cols].sum(axis=1) + already), info


def target_backtest(wb, errors: pd.DataFrame, kind: str, ids: Sequence[str]) -> pd.DataFrame:
    """P(target) as it would have been read at each replayed past date, beside the outcome.

    At each past date of ``kind`` in ``errors`` (:func:`past_errors`), every rep's rest of
    the quarter is drawn as :func:`level_draws` draws it (figures mixed per level without
    the date's quarter, :func:`mix_model`), from the misses of the *other* past dates of
    the same kind (so never from the date's own outcome; the level band factors are fitted
    on all the dates), summed per subject
    of every level in :data:`P_LEVELS`, and won so far added: the share of draws reaching
    the subject's target is the probability the document would have shown; ``hit`` says
    whether the target was reached. Subjects that had reached target by the date are left
    out (their probability is certain, not forecast).

    Returns
    -------
    DataFrame
        One row per (date, level, subject) with a target: ``date``, ``level``, ``subject``,
        ``p`` (0-1) and ``hit`` (0 or 1).

    Examples
    --------
    >>> target_backtest(wb, errs, "start", ids).groupby("level")["hit"].mean()  # doctest: +SKIP
    """
    cols = ["date", "level", "subject", "p", "hit"]
    ids = [str(r) for r in ids]
    e = errors[errors["kind"] == kind]
    dates = sorted(e["date"].unique())
    if len(dates) < 2:
        return pd.DataFrame(columns=cols)
    model = mix_model(wb, errors, kind, ids)
    cal = wb.config.calendar
    opps = wb.opportunities
    won = opps[opps["outcome"] == "won"]
    groups = {
        lv: subject_of(wb, None if lv == "all" else lv).reindex(ids).fillna("").to_numpy()
        for lv in P_LEVELS
    }
    rows = []
    for i, d in enumerate(dates):
        g = e[e["date"] == d].drop_duplicates("rep_id").set_index("rep_id")
        g.index = g.index.astype(str)
        g = g.reindex(ids)
        start, end = cal.period_bounds(str(g["quarter"].dropna().iloc[0]))
        rest = model["oos"][i]
        booked = g["actual"].fillna(0.0).to_numpy(dtype=float)
        w = won[won["close_date"].between(start, min(end, pd.Timestamp(d)))]
        already = w.groupby(w["rep_id"].astype(str))["amount"].sum().reindex(ids, fill_value=0.0)
        already = already.to_numpy(dtype=float)
        others = np.delete(model["errors"], i, axis=0)
        draws = coherent_draws(rest, error_scale(rest), others, n_sims=P_SIMS, seed=i)
        draws = nested_scale(draws, model["levels"], model["factors"])
        for lv, sub in groups.items():
            for s in sorted(set(sub) - {""}):
                m = sub == s
                reps = [r for r, k in zip(ids, m, strict=True) if k]
                target = target_of(wb, reps, lv, s, start, end)
                if not target:
                    continue
                if already[m].sum() >= target:
                    continue  # reached already: certain, not a forecast
                total = draws[:, m].sum(axis=1) + already[m].sum()
                hit = float(already[m].sum() + booked[m].sum() >= target)
                rows.append([d, lv, s, float(np.mean(total >= target)), hit])
    return pd.DataFrame(rows, columns=cols)

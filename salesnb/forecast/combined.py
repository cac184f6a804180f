"""Forecasts of bookings: from history, from the pipeline, their blend and P(attain target).

Two views a manager combines (domain notes, section 5):

* **History** -- :func:`forecast_history` fits statsmodels exponential smoothing (ETS) and
  SARIMAX candidates beside simple baselines (mean, naive, drift, seasonal naive) to monthly
  bookings and picks one by rolling-origin MASE. Intervals come from each model's error
  covariance, calibrated by the same rolling-origin errors so that they are honest on sparse,
  lumpy sales series.
* **Pipeline** -- :func:`forecast_pipeline` weights the open deals due in a period by win
  probabilities learned from closed deals (:func:`win_probabilities`), adds a run-rate of deals
  that will be created and won inside the period, and simulates the period's bookings with a
  shared period-level shock learned from past snapshots.

:func:`blend` pools the two, with weights learned from past forecasts, :func:`p_attain` reads
the chance of reaching a target and :func:`period_forecast` does all of it in one call, its
history view with the model choice made for all subjects of its level (:func:`level_choice`,
the pooled choice of :func:`forecast_many` that the benchmark measures).

This module is the public façade: :func:`monthly_bookings` and :func:`period_forecast` live
here, the rest is re-exported from modules with one job each --
:mod:`salesnb.forecast.models` (candidate models), :mod:`salesnb.forecast.history` (model
choice, calibrated intervals, :func:`forecast_many`), :mod:`salesnb.forecast.winprob` (learned win
probabilities), :mod:`salesnb.forecast.pipeline` (simulation, blend, P(attain)) and
:mod:`salesnb.forecast.calibration` (spread and blend weights learned from past forecasts).
Rolling-origin evaluation lives in :mod:`salesnb.forecast.backtest`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from salesnb.forecast.calibration import (
    BLEND_PRIOR,
    SHOCK_PRIOR,
    blend_weight,
    forecast_pipeline,
    pipeline_shock,
)
from salesnb.forecast.history import (
    CALIBRATION_PRIOR,
    SELECTION_HORIZON,
    SELECTION_ORIGINS,
    HistoryForecast,
    Method,
    PooledChoice,
    _empty,
    forecast_history,
    forecast_many,
    pooled_choice,
    pooled_scores,
)
from salesnb.forecast.levels import pooled_rep_weights, positive_mean
from salesnb.forecast.models import MIN_ARIMA, MIN_MODELS, MIN_SEASONAL, SEASON
from salesnb.forecast.pipeline import (
    Distribution,
    PipelineForecast,
    RunRate,
    blend,
    p_attain,
    simulate,
)
from salesnb.forecast.subjects import (
    first_activity,
    last_complete_month,
    month_weights,
    monthly_bookings,
    reps_of,
    subject_of,
    target_of,
    team_series,
)
from salesnb.forecast.winprob import (
    AGE_BANDS,
    SLIP_PRIOR,
    deal_probabilities,
    in_period_factors,
    win_probabilities,
)

__all__ = [
    "AGE_BANDS",
    "BLEND_PRIOR",
    "CALIBRATION_PRIOR",
    "MIN_ARIMA",
    "MIN_MODELS",
    "MIN_SEASONAL",
    "SEASON",
    "SELECTION_HORIZON",
    "SELECTION_ORIGINS",
    "SHOCK_PRIOR",
    "SLIP_PRIOR",
    "Distribution",
    "HistoryForecast",
    "Method",
    "PeriodForecast",
    "PipelineForecast",
    "PooledChoice",
    "RunRate",
    "SubjectType",
    "blend",
    "blend_weight",
    "deal_probabilities",
    "forecast_history",
    "forecast_many",
    "forecast_pipeline",
    "in_period_factors",
    "level_choice",
    "monthly_bookings",
    "p_attain",
    "period_forecast",
    "pipeline_shock",
    "pooled_choice",
    "pooled_scores",
    "simulate",
    "team_forecast",
    "team_series",
    "win_probabilities",
]

SubjectType = Literal["rep", "region", "manager", "team", "all"]

# --------------------------------------------------------------------------- bookings


#: Old private names, kept for callers of this module (see :mod:`salesnb.forecast.subjects`).
_subject_of, _last_complete_month, _first_activity = subject_of, last_complete_month, first_activity
_reps_of, _target, _month_weights = reps_of, target_of, month_weights


# --------------------------------------------------------------------------- one call


@dataclass
class PeriodForecast:
    """Where a subject will land in a period, from history, pipeline and both.

    Examples
    --------
    >>> pf = period_forecast(wb, "rep", "R001", "FY2026-Q4")  # doctest: +SKIP
    >>> pf.to_dict()["p_attain_raw"]  # doctest: +SKIP
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
    #: The subject's own blend before reconciling (``blended`` is the sum of its reps' draws).
    blended_base: Distribution | None = None
    #: Analytic expected total of the subject's own blend (currency).
    base_expected: float = float("nan")
    #: How the band was set: see :func:`salesnb.forecast.levels.level_draws`.
    calibration: dict = field(default_factory=dict)

    @property
    def p_attain_raw(self) -> float:
        """Share of the blended draws at or above target (0-1; NaN without a target). The
        chance a document shows is this share corrected by past quarters
        (:func:`salesnb.forecast.chance.target_chance`)."""
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
                "expected_open": float(self.pipeline.expected_open),
                "expected_not_created": float(self.pipeline.expected_run_rate),
                "run_rate": {k: float(v) for k, v in self.pipeline.run_rate.items()},
                **self.summary(self.pipeline.total),
                "categories": self.pipeline.categories,
            },
            "blend": self.summary(self.blended),
            "pipeline_weight": self.pipeline_weight,
            "p_attain_raw": self.p_attain_raw,
            "p_attain_history": p_attain(self.history_total, self.target)
            if self.target
            else float("nan"),
            "p_attain_pipeline": p_attain(self.pipeline.total, self.target)
            if self.target
            else float("nan"),
            "notes": list(self.notes),
            "blend_base": None if self.blended_base is None else self.summary(self.blended_base),
            "blend_bands": {
                "p025": self.blended.quantile(0.025),
                "p975": self.blended.quantile(0.975),
            },
            "calibration": dict(self.calibration),
        }


def _dump_choice(choice: dict[str, PooledChoice | None]) -> dict:
    return {k: None if v is None else [list(v.families), v.why] for k, v in choice.items()}


def _load_choice(d: dict) -> dict[str, PooledChoice | None]:
    return {k: None if v is None else PooledChoice(tuple(v[0]), str(v[1])) for k, v in d.items()}


def level_choice(
    wb, by: str, as_of: pd.Timestamp | str, horizon: int
) -> dict[str, PooledChoice | None]:
    """The automatic model choice for every subject of one level, as :func:`forecast_many`
    makes it on ``monthly_bookings(wb, by=by, as_of=as_of)`` with the whole team's seasonal
    pattern borrowed (``parent=team_series(wb, as_of)``).

    Choosing over a level fits every subject's candidates (about 3 s for 30 reps), the same
    for every document of a batch, so it is memoised in the process and kept on disk (kind
    ``"pooled"``, see :func:`salesnb.forecast.calibration.learned_cache_path`).

    Parameters
    ----------
    wb : Workbook
    by : {"rep", "region", "manager", "team"}
    as_of : date
    horizon : int
        Months ahead (>= 1).

    Returns
    -------
    dict of str -> PooledChoice or None
        Per subject (column of ``monthly_bookings``); None where it chooses alone.

    Examples
    --------
    >>> level_choice(wb, "rep", "2026-09-30", 3)["R01"].families  # doctest: +SKIP
    ('arima', 'ets', 'mean')
    """
    from salesnb.forecast.cache import cached as _cached
    from salesnb.forecast.cache import disk_cached as _disk_cached

    as_of = pd.Timestamp(as_of).normalize()
    horizon = int(horizon)

    def make() -> dict[str, PooledChoice | None]:
        wide = monthly_bookings(wb, by=by, as_of=as_of)
        return pooled_choice(wide, horizon, parent=team_series(wb, as_of))

    parts = (by, as_of, horizon)
    return _cached(
        ("pooled", *parts),
        wb,
        lambda: _disk_cached(wb, "pooled", parts, make, _dump_choice, _load_choice),
    )


def _blend_note(bw: dict, weight: float, pooled: float | None) -> str:
    """The modelling note on the blend's pipeline weight (``pooled``: the reps')."""
    if bw["source"] == "learned":
        towards = f"the reps' pooled {pooled:.2f}" if pooled is not None else f"{bw['default']:.2f}"
        return (
            f"blend: pipeline weight {weight:.2f} from both views' errors at "
            f"{bw['snapshots']} past snapshots (RMSE history {bw['rmse_history']:,.0f}, "
            f"pipeline {bw['rmse_pipeline']:,.0f}), shrunk towards {towards}"
        )
    if pooled is not None:
        return (
            f"blend: pipeline weight {weight:.2f}, the reps' pooled weight (none of this rep's "
            "past snapshots could be replayed with a history view)"
        )
    return (
        f"blend: pipeline weight {weight:.2f} by inverse variance (no past snapshot of a "
        "finished quarter to learn from)"
    )


def team_forecast(wb, period: str, as_of, *, seed: int = 0) -> Callable[[int], PeriodForecast]:
    """The whole team's own forecast of ``period``, as a function of the number of draws: what
    :func:`salesnb.forecast.levels.rep_table` and :func:`~salesnb.forecast.levels.level_draws`
    share out to the reps (called only when their cached tables must be made).

    Examples
    --------
    >>> whole = team_forecast(wb, "FY2026-Q4", "2026-09-30")  # doctest: +SKIP
    >>> whole(1_000).subject_type                             # doctest: +SKIP
    'all'
    """

    def make(n_sims: int) -> PeriodForecast:
        return period_forecast(wb, "all", None, period, as_of, seed=seed, n_sims=n_sims,
                               coherent=False)  # fmt: skip

    return make


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
    coherent: bool = True,
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
    method : {"auto", "ets", "arima", "snaive", "naive", "mean", "drift"}
        History model. ``"auto"`` uses the choice made for all subjects of the level
        together (:func:`level_choice`), so the history view is what
        ``forecast_many(monthly_bookings(wb, by=subject_type), horizon,
        parent=team_series(wb))`` gives for this subject, the method the benchmark
        measures: each subject borrows the whole team's seasonal pattern
        (:mod:`salesnb.forecast.seasonal`). ``subject_type="all"`` has no peers and chooses
        alone, on its own series divided by its own seasonal indices. A family name keeps
        that family, without borrowing.
    coherent : bool
        True (default): ``blended`` is the sum of the subject's reps' draws, drawn together
        for all reps with a spread learned from the errors the same forecast made in past
        quarters (:func:`salesnb.forecast.levels.level_draws`), so a manager's figure is
        the sum of the reps' figures and every level's band is calibrated at that level;
        ``calibration`` says how. False: the subject's own blend alone (also kept in
        ``blended_base``).

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
        period = str(cal.period_label(as_of + pd.Timedelta(days=1), "Q"))
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
    e_hist = float("nan")
    if horizon == 0:
        hist = _empty(1, last + 1, (0.8, 0.95), "the period is over: nothing left to forecast")
        remaining = Distribution(np.zeros(n_sims))
    else:
        choice, parent = None, None
        if method == "auto" and series.notna().any():
            # every level borrows the whole team's seasonal pattern (the team its own)
            parent = team_series(wb, as_of)
            if by is not None:
                choice = level_choice(wb, by, as_of, horizon).get(name)
        hist = forecast_history(series, horizon, method=method, choice=choice, parent=parent)
        if hist.ok:
            w = _month_weights(last + 1, horizon, start, end, as_of)
            mu, sd = hist.total(w)
            e_hist = positive_mean(mu, sd)
            remaining = Distribution(np.maximum(rng.normal(mu, sd, n_sims), 0.0))
        else:
            remaining = Distribution(np.array([]))
        notes.append(f"history: {hist.method}" + (f" ({hist.note})" if hist.note else ""))
    history_total = Distribution(remaining.samples + pipe.already_won)
    if remaining.samples.size:
        bw = blend_weight(
            wb, subject_type, name, reps, as_of, history=remaining, pipeline=pipe.remaining
        )
        # one weight per rep, the one its share of the figures that add up uses
        own, pooled = pooled_rep_weights(wb, as_of) if subject_type == "rep" else ({}, None)
        w = own.get(str(name), bw["weight"])
        blended, weight = blend(
            remaining, pipe.remaining, pipe.already_won, weight=w, seed=seed + 2
        )
        notes.append(_blend_note(bw, weight, pooled))
    else:
        blended, weight = pipe.total, 1.0
        notes.append("no usable history: the blend is the pipeline view")
    e_pipe = float(pipe.expected_open + pipe.expected_run_rate)
    base_expected = pipe.already_won + (
        e_pipe if not np.isfinite(e_hist) else weight * e_pipe + (1 - weight) * e_hist
    )
    if horizon == 0:
        base_expected = pipe.already_won
    blended_base, calibration = blended, {}
    if coherent:
        from salesnb.forecast.levels import level_draws

        blended, calibration = level_draws(
            wb, reps, period, start, end, as_of, seed=seed, n_sims=n_sims, level=subject_type,
            team_forecast=team_forecast(wb, period, as_of, seed=seed),
        )  # fmt: skip
        notes.append(
            f"adding up: the expected {blended.mean:,.0f} is the sum of this subject's reps' "
            f"figures, each level's figure chosen by its past quarters where there are enough "
            f"and shared out so that reps add up to their manager, region and the team (this "
            f"subject's own blend alone: {base_expected:,.0f})"
        )
        notes.append(calibration["sentence"])
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
        blended_base=blended_base,
        base_expected=float(base_expected),
        calibration=calibration,
    )

"""The chance of reaching target a forecast document and the what-if app show.

A document's simulated quarters give a share reaching target (``PeriodForecast.p_attain_raw``);
on past quarters that share ran high. :func:`target_chance` corrects it with a map learned
from replayed past quarters (:func:`salesnb.forecast.levels.past_errors` and
:func:`~salesnb.forecast.levels.target_backtest`: the probability each subject of every level
would have been shown at the start and at the end of the first month of each finished quarter,
beside whether it then reached target), pooled across subjects, levels and the two points of
the quarter (:func:`salesnb.forecast.ptarget.pooled_map`). Only quarters finished by the
forecast's as-of date are replayed, so the quarter being forecast never teaches its own map.
Where even the pooled evidence is too thin, the chance is not shown as a number: the document
says "not calibrated: too few past quarters".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesnb.forecast.cache import learned_cached
from salesnb.forecast.combined import PeriodForecast, team_forecast
from salesnb.forecast.levels import past_errors, rep_table, target_backtest
from salesnb.forecast.pipeline import p_attain
from salesnb.forecast.ptarget import NOT_CALIBRATED, chance, platt_apply, pooled_map

#: Evidence columns (:func:`chance_evidence`).
COLUMNS = ["date", "kind", "level", "subject", "p", "hit"]


@dataclass(frozen=True)
class TargetChance:
    """P(target) as shown: ``p`` (0-1, NaN when not shown), ``raw`` (share of simulated
    quarters reaching target), ``calibrated``, ``map`` (:func:`~salesnb.forecast.ptarget.pooled_map`)
    and ``sentence`` (plain words for the document)."""

    p: float
    raw: float
    calibrated: bool
    map: dict
    sentence: str

    def text(self, fmt) -> str:
        """The chance as a document prints it: ``fmt(p)`` or the words saying why not.

        Examples
        --------
        >>> TargetChance(float("nan"), 0.8, False, {}, "").text(str)
        'not calibrated: too few past quarters'
        """
        return fmt(self.p) if np.isfinite(self.p) else NOT_CALIBRATED

    def reaching(self, pf: PeriodForecast, amount: float) -> float:
        """The chance (0-1) of ``pf``'s period reaching ``amount`` (currency) instead of
        target, on the same map: NaN where the document gives no figure for target either
        (not calibrated), so a call's chance and target's follow one rule.

        Examples
        --------
        >>> tc = TargetChance(0.5, 0.5, True, {"a": 0.0, "b": 1.0, "calibrated": True}, "")
        >>> pf = PeriodForecast.__new__(PeriodForecast)                 # doctest: +SKIP
        >>> tc.reaching(pf, 150_000)                                    # doctest: +SKIP
        0.31
        """
        return chance(p_attain(pf.blended, amount), self.map, pf.already_won, amount)


def chance_evidence(wb, as_of, weight: float) -> pd.DataFrame:
    """Replayed past P(target) and outcomes at both points of the quarter, every level.

    Parameters
    ----------
    wb : Workbook
    as_of : date
        Only quarters finished by then are replayed.
    weight : float
        The whole team's pipeline weight (0-1), as the documents' :func:`rep_table`.

    Returns
    -------
    DataFrame
        :data:`COLUMNS`; cached per data set (kind ``"chanceevidence"``).

    Examples
    --------
    >>> chance_evidence(wb, "2026-09-30", 0.2)["kind"].unique().tolist()  # doctest: +SKIP
    ['start', 'mid']
    """
    as_of = pd.Timestamp(as_of).normalize()

    def make() -> pd.DataFrame:
        errs = past_errors(wb, as_of, weight)
        ids = [str(r) for r in wb.reps["rep_id"]]
        parts = [
            target_backtest(wb, errs, kind, ids).assign(kind=kind)
            for kind in ("start", "mid")
            if len(errs)
        ]
        parts = [p for p in parts if len(p)]
        return (
            pd.concat(parts, ignore_index=True)[COLUMNS] if parts else pd.DataFrame(columns=COLUMNS)
        )

    def load(d: dict) -> pd.DataFrame:
        return pd.DataFrame(d, columns=COLUMNS) if d else pd.DataFrame(columns=COLUMNS)

    parts = (as_of, round(float(weight), 4))
    return learned_cached(wb, "chanceevidence", parts, make, lambda t: t.to_dict("list"), load)


def target_chance(wb, pf: PeriodForecast, *, seed: int = 0) -> TargetChance:
    """The P(target) a forecast document shows for ``pf`` (:func:`period_forecast`'s result).

    The share of the document's simulated quarters reaching target, corrected by the map of
    ``pf``'s level at its point of the quarter (quarter start, or the rest of the quarter),
    learned from :func:`chance_evidence` at ``pf.as_of``; 1 once target is reached. Not a
    number (NaN, and a sentence saying so) when there is no target, when the period is not
    a fiscal quarter in play, or when the pooled evidence is too thin.

    Parameters
    ----------
    wb : Workbook
    pf : PeriodForecast
        A coherent forecast (``calibration["horizon"]`` says the point of the quarter).
    seed : int
        The document's seed (for the cached table of reps).

    Returns
    -------
    TargetChance

    Examples
    --------
    >>> pf = period_forecast(wb, "rep", "R01")                 # doctest: +SKIP
    >>> target_chance(wb, pf).text(lambda p: f"{p:.0%}")      # doctest: +SKIP
    '41%'
    """
    raw = pf.p_attain_raw
    horizon = pf.calibration.get("horizon")
    in_play = "-Q" in str(pf.period) and pf.period_start <= pf.as_of + pd.Timedelta(days=8)
    if horizon in ("quarter start", "rest of quarter") and in_play:
        kind = "start" if horizon == "quarter start" else "mid"
        table = rep_table(wb, pf.period, pf.as_of,
                          team_forecast(wb, pf.period, pf.as_of, seed=seed), seed=seed)  # fmt: skip
        weight = float(table["weight"].iloc[0]) if len(table) else 0.5
        cal = pooled_map(chance_evidence(wb, pf.as_of, weight), kind, pf.subject_type)
    else:
        why = f"{NOT_CALIBRATED} (the period is not a fiscal quarter in play)"
        cal = {"a": 0.0, "b": 1.0, "calibrated": False, "quarters": 0, "n": 0, "n_pooled": 0,
               "hits": 0, "why": why}  # fmt: skip
    p = chance(raw, cal, pf.already_won, pf.target)
    if not pf.target:
        return TargetChance(p, raw, cal["calibrated"], cal, "No target for this period.")
    if pf.already_won >= pf.target:
        return TargetChance(p, raw, cal["calibrated"], cal, "Target already reached.")
    if not cal["calibrated"]:
        return TargetChance(p, raw, False, cal, _words(cal["why"]))
    sentence = (
        f"The chance of reaching target is the share of simulated quarters reaching it, "
        f"corrected by how often such chances came true in {cal['quarters']} past quarters "
        f"replayed at the same point of the quarter ({cal['n_pooled']} past chances over all "
        f"levels, {cal['n']} at this level; the raw share ran "
        + ("high" if _lowers(cal) else "low or about right")
        + ")."
    )
    return TargetChance(p, raw, True, cal, sentence)


def _lowers(cal: dict) -> bool:
    """Whether the map lowers a middling chance (0.6)."""
    return float(platt_apply(0.6, cal["a"], cal["b"])) < 0.6


def _words(why: str) -> str:
    return (
        f"Chance of reaching target {why}: too little past to check the simulated share "
        "against, so no figure is given; read the 80% band instead."
    )

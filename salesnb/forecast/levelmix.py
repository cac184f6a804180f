"""Each level's quarter forecast chosen by its own past, kept coherent, bands scaled per level.

Pure numpy functions, no workbook (the wiring is :mod:`salesnb.forecast.levels`). Three
candidate forecasts of the rest of a quarter are known for every rep at every replayed past
date and today: **top-down** (the rep's share of the whole team's own forecast), **bottom-up**
(the rep's own forecast) and **same quarter last year** (what the rep booked in the same part
of the same quarter a year before). Summed over a manager's, a region's or the whole team's
reps they give that level's candidates.

* :func:`choose_mix` -- per level, the mix of the three (weights in steps of a quarter, see
  :data:`MIXES`) with the least mean absolute error, each subject's errors divided by its
  mean outcome, over the past dates given (the caller leaves out the quarter being
  forecast: choices are out of sample); with under 2 dates, :func:`default_mixes`.
* :func:`coherent_means` -- every rep's figure such that the whole team gets its level's mix,
  each region its level's mix shared out of the team's, each manager its level's mix shared
  out of the region's, each rep its own mix shared out of the manager's: every parent is
  the sum of its reps (middle-out proportions, Hyndman and Athanasopoulos, *Forecasting:
  principles and practice*, chapter 11).
* :func:`nested_scale` -- widens or narrows the band of each level by its own factor while
  every parent's draws stay the sums of its reps' draws: a child's deviation from its mean
  is split into its share of the parent's deviation and its own part, and only the own part
  is scaled by the child's level factor.
* :func:`chosen_mix_sentence`, :func:`default_mix_sentence` -- the documents' plain words
  for how a level's figure was made.
* :func:`fit_factors` -- the factors, one level after the other from the top, such that the
  past dates' 80% bands (each drawn from the *other* dates' misses) held closest to 80% of
  what was booked at that level.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from salesnb.core.errors import ParameterError
from salesnb.forecast.reconcile import coherent_draws, error_scale

#: Weights on (top-down, bottom-up, same quarter last year), in steps of 0.25; top-down
#: first, so it wins ties (the method documents used before the choice was learned).
MIXES: tuple[tuple[float, float, float], ...] = tuple(
    (a / 4, b / 4, (4 - a - b) / 4) for a in range(4, -1, -1) for b in range(4 - a, -1, -1)
)
#: The mix of every level above the reps with under 2 past dates to choose from (index into
#: :data:`MIXES`): half the team's forecast shared out, half the same quarter last year.
#: Without evidence on which suits a level, the two sources of information count equally
#: (equal weights are the combination that is hardest to beat: Clemen 1989; Smith and
#: Wallis 2009): the history and pipeline views on one side (the reps' own forecasts added
#: up are the same two views seen from below), and on the other what the same quarter
#: booked a year before, which holds the season that a history under two years long cannot
#: show. The reps' own level takes the team's forecast alone (:func:`default_mixes`). Where
#: no same quarter last year is known, the team's forecast shared out stands in for it.
DEFAULT_MIX = MIXES.index((0.5, 0.0, 0.5))
#: Words for the three candidates, in the order of :data:`MIXES`' weights.
CANDIDATES = ("the team's forecast shared out", "the reps' own forecasts added up",
              "the same quarter last year")  # fmt: skip
#: Candidate band factors (log-spaced, 1 included).
FACTORS = tuple(float(x) for x in np.round(np.exp(np.linspace(-1.2, 0.9, 29)), 4))
#: Least past outcomes at a level before its band factor is fitted (else 1).
MIN_OUTCOMES = 6


def mix_words(mix: Sequence[float]) -> str:
    """Plain words for a mix of :data:`MIXES`.

    Examples
    --------
    >>> mix_words((0.5, 0.0, 0.5))
    "half the team's forecast shared out, half the same quarter last year"
    >>> mix_words((1.0, 0.0, 0.0))
    "the team's forecast shared out"
    """
    names = {0.25: "a quarter", 0.5: "half", 0.75: "three quarters"}
    parts = [
        name if w == 1 else f"{names.get(w, f'{w:.0%}')} {name}"
        for w, name in zip(mix, CANDIDATES, strict=True)
        if w > 0
    ]
    return ", ".join(parts)


def few_quarters(n: int) -> str:
    """Words for ``n`` past quarters.

    Examples
    --------
    >>> few_quarters(0), few_quarters(1), few_quarters(3)
    ('no past quarter', 'only 1 past quarter', 'only 3 past quarters')
    """
    return "no past quarter" if n == 0 else f"only {n} past quarter" + ("s" if n > 1 else "")


def chosen_mix_sentence(mixes: dict[str, int], level: str, n: int, last_year: bool = True) -> str:
    """Plain words for how a level's figure was chosen from ``n`` past quarters ("" when the
    level has no mix of its own, e.g. a manager level that cuts across regions).
    ``last_year``: whether the subject has a same quarter last year (else the team's
    forecast shared out stands in for it).

    Examples
    --------
    >>> chosen_mix_sentence({"all": 5}, "all", 3)[:60]
    'The figure follows what forecast this level best, made at th'
    >>> "stands in" in chosen_mix_sentence({"all": 5}, "all", 3, last_year=False)
    True
    """
    if level not in mixes:
        return ""
    mix = MIXES[mixes[level]]
    stand_in = (
        f" (with no same quarter last year here, {CANDIDATES[0]} stands in for it)"
        if not last_year and mix[2] > 0
        else ""
    )
    return (
        f"The figure follows what forecast this level best, made at the same point of the "
        f"quarter, in the {n} past quarters: {mix_words(mix)}{stand_in}; it is "
        "shared out so that reps add up to their manager, region and the team. "
    )


def default_mix_sentence(
    levels: list[tuple[str, np.ndarray]], level: str, n: int, last_year: bool
) -> str:
    """Plain words for a level's figure with under 2 past quarters (:func:`default_mixes`);
    "" for a level without a mix of its own. ``last_year``: whether the subject has a same
    quarter last year.

    Examples
    --------
    >>> lv = nested_levels([("all", ["a", "a"]), ("rep", ["r1", "r2"])])
    >>> default_mix_sentence(lv, "all", 1, True)[:66]
    'With only 1 past quarter to tell which forecast suits this level b'
    >>> "no same quarter last year" in default_mix_sentence(lv, "all", 0, False)
    True
    """
    names = [name for name, _ in levels]
    if level not in names:
        return ""
    few = few_quarters(n)
    if level == names[-1]:
        return (
            f"With {few} to tell which forecast suits each level best, the team's, regions' "
            f"and managers' figures are {mix_words(MIXES[DEFAULT_MIX])}, which holds the "
            "season; a rep's figure is its share of its manager's, in proportion to its "
            "share of the team's forecast (one rep's same quarter last year turns on a few "
            "deals). "
        )
    what = (
        f"{mix_words(MIXES[DEFAULT_MIX])}, which holds the season"
        if last_year
        else f"{CANDIDATES[0]} (with no same quarter last year to set beside it)"
    )
    return (
        f"With {few} to tell which forecast suits this level best, the figure is {what}; it "
        "is shared out so that reps add up to their manager, region and the team. "
    )


def nested_levels(groups: Sequence[tuple[str, Sequence]]) -> list[tuple[str, np.ndarray]]:
    """The levels (top first) each of whose groups lies inside one group of the level kept
    above it; a level that cuts across the one above is dropped (its subjects are still
    sums of their reps, only no mix of its own is applied).

    Parameters
    ----------
    groups : sequence of (level, labels)
        Labels per rep, one array per level, top first; the first level must be the whole
        team (one label) and the last the reps (one label each).

    Examples
    --------
    >>> lv = nested_levels([("all", "aaa"), ("region", "EEW"), ("manager", "xyy"),
    ...                     ("rep", "123")])
    >>> [name for name, _ in lv]
    ['all', 'region', 'rep']
    """
    out: list[tuple[str, np.ndarray]] = []
    for name, lab in groups:
        lab = np.asarray(list(lab) if isinstance(lab, str) else lab).astype(str)
        if out:
            parent = out[-1][1]
            pairs = pd.DataFrame({"c": lab, "p": parent}).drop_duplicates()
            if pairs["c"].duplicated().any():
                continue
        out.append((name, lab))
    if not out or len(set(out[0][1])) != 1:
        msg = "The first level must be the whole team (one label). Fix: put ('all', ...) first."
        raise ParameterError(msg)
    return out


def _codes(lab: np.ndarray) -> tuple[np.ndarray, int]:
    codes, uniq = pd.factorize(lab)
    return codes, len(uniq)


def default_mixes(levels: list[tuple[str, np.ndarray]]) -> dict[str, int]:
    """Each level's mix with under 2 past dates to choose from: :data:`DEFAULT_MIX` for every
    level above the last, top-down alone (0) for the last, the reps' own. Summed over a
    manager's or a region's reps, last year's quarter is a fair guide to the season; one
    rep's turns on a few deals (on the sample it missed reps' quarters by more than any
    other forecast, and the whole team's by less), so within a manager the reps' split
    follows their shares of the team's forecast.

    Examples
    --------
    >>> lv = nested_levels([("all", ["a", "a"]), ("rep", ["r1", "r2"])])
    >>> {k: MIXES[v] for k, v in default_mixes(lv).items()}
    {'all': (0.5, 0.0, 0.5), 'rep': (1.0, 0.0, 0.0)}
    """
    last = len(levels) - 1
    return {name: 0 if j == last else DEFAULT_MIX for j, (name, _) in enumerate(levels)}


def choose_mix(
    cands: np.ndarray, actual: np.ndarray, levels: list[tuple[str, np.ndarray]]
) -> dict[str, int]:
    """Index into :data:`MIXES` per level: the least scaled absolute error over past dates.

    Levels are chosen from the top: the whole team's mix by the error of its own total; each
    lower level's by the error, at that level, of the figures :func:`coherent_means` gives
    with the levels above at their chosen mixes (so a lower level's mix decides how its
    parent's figure is shared, and is judged on that).

    Parameters
    ----------
    cands : ndarray (n_dates, 3, n_reps)
        Each candidate's forecast of the rest of the quarter per past date and rep
        (currency); NaN in the third (no same quarter last year) is read as the first.
    actual : ndarray (n_dates, n_reps)
        What was booked in the rest of the quarter.
    levels : list
        :func:`nested_levels`.

    Returns
    -------
    dict
        Level name -> index into :data:`MIXES` (:func:`default_mixes` with under 2 dates).
        Each subject's absolute errors are divided by its mean outcome over the dates, so a
        large region does not outweigh a small one; subjects that never booked are left out.

    Examples
    --------
    >>> c = np.array([[[10.0, 10.0]], [[10.0, 10.0]], [[20.0, 0.0]]]).transpose(1, 0, 2)
    >>> c = np.repeat(c, 3, axis=0)          # 3 dates, last year right on every rep
    >>> lv = nested_levels([("all", ["a", "a"]), ("rep", ["r1", "r2"])])
    >>> {k: MIXES[v] for k, v in choose_mix(c, np.array([[20.0, 0.0]] * 3), lv).items()}
    {'all': (1.0, 0.0, 0.0), 'rep': (0.0, 0.0, 1.0)}
    """
    x = np.array(cands, dtype=float)
    a = np.nan_to_num(np.asarray(actual, dtype=float))
    chosen: dict[str, int] = {}
    if len(x) < 2:
        return default_mixes(levels)
    for j, (name, lab) in enumerate(levels):
        codes, k = _codes(lab)
        ag = np.vstack([np.bincount(codes, row, minlength=k) for row in a])
        scale = ag.mean(axis=0)
        ok = scale > 0
        if not ok.any():
            chosen[name] = 0
            continue
        scores = []
        for m in range(len(MIXES)):
            trial = {**chosen, **{lower: m for lower, _ in levels[j:]}}
            f = np.vstack(
                [np.bincount(codes, coherent_means(c, levels, trial), minlength=k) for c in x]
            )
            scores.append(float((np.abs(f - ag)[:, ok] / scale[ok]).mean()))
        chosen[name] = int(np.argmin(np.round(scores, 12)))
    return chosen


def coherent_means(
    cands: np.ndarray, levels: list[tuple[str, np.ndarray]], mixes: dict[str, int]
) -> np.ndarray:
    """Every rep's figure from each level's mix, shared out top-down so parents add up.

    The whole team gets its level's mix of the three candidates; each group of the next level
    its level's mix, scaled so the groups inside one parent add up to the parent's figure;
    and so on down to the reps. A parent whose children's mixes are all 0 is shared equally.

    Parameters
    ----------
    cands : ndarray (3, n_reps)
        Today's candidates per rep (NaN in the third read as the first).
    levels, mixes
        :func:`nested_levels` and :func:`choose_mix`.

    Examples
    --------
    >>> lv = nested_levels([("all", ["a", "a"]), ("rep", ["r1", "r2"])])
    >>> c = np.array([[10.0, 10.0], [5.0, 5.0], [30.0, 10.0]])
    >>> coherent_means(c, lv, {"all": 14, "rep": 0}).tolist()  # team: last year, 40
    [20.0, 20.0]
    """
    x = np.array(cands, dtype=float)
    x[2] = np.where(np.isfinite(x[2]), x[2], x[0])
    x = np.clip(np.nan_to_num(x), 0.0, None)
    parent_total: np.ndarray | None = None
    parent_codes = None
    for name, lab in levels:
        mine = np.asarray(MIXES[mixes.get(name, 0)]) @ x  # per rep
        codes, k = _codes(lab)
        own = np.bincount(codes, mine, minlength=k)
        if parent_total is None:
            total = own
        else:
            # each group's parent: the parent code of any of its reps
            par = np.zeros(k, dtype=int)
            par[codes] = parent_codes
            sums = np.bincount(par, own, minlength=len(parent_total))
            count = np.bincount(par, minlength=len(parent_total))
            share = np.where(sums[par] > 0, own / np.where(sums[par] > 0, sums[par], 1.0),
                             1.0 / np.maximum(count[par], 1))  # fmt: skip
            total = parent_total[par] * share
        parent_total, parent_codes = total, codes
    return parent_total[parent_codes]


def out_of_sample_means(
    cands: np.ndarray,
    actual: np.ndarray,
    quarters: Sequence[str],
    levels: list[tuple[str, np.ndarray]],
) -> np.ndarray:
    """Each past date's figures per rep with mixes chosen on the *other* quarters only.

    Date ``i``'s mixes come from :func:`choose_mix` on the dates whose quarter differs from
    date ``i``'s, so neither the date's outcome nor any other outcome of its quarter is used
    to forecast it.

    Parameters
    ----------
    cands : ndarray (n_dates, 3, n_reps)
    actual : ndarray (n_dates, n_reps)
    quarters : sequence of str
        The quarter of each date.
    levels : list
        :func:`nested_levels`.

    Returns
    -------
    ndarray (n_dates, n_reps)
        :func:`coherent_means` of each date (currency).

    Examples
    --------
    >>> lv = nested_levels([("all", ["a", "a"]), ("rep", ["r1", "r2"])])
    >>> c = np.tile([[10.0, 10.0], [5.0, 5.0], [30.0, 10.0]], (3, 1, 1))
    >>> m = out_of_sample_means(c, np.full((3, 2), 20.0), ["Q1", "Q2", "Q3"], lv)
    >>> m[0].tolist()  # the team: last year (40); split between reps: top-down (equal)
    [20.0, 20.0]
    """
    c = np.asarray(cands, dtype=float)
    a = np.asarray(actual, dtype=float)
    q = np.asarray(quarters)
    out = np.zeros((len(c), c.shape[-1]))
    for i in range(len(c)):
        keep = q != q[i]
        out[i] = coherent_means(c[i], levels, choose_mix(c[keep], a[keep], levels))
    return out


def nested_scale(
    draws: np.ndarray, levels: list[tuple[str, np.ndarray]], factors: Sequence[float]
) -> np.ndarray:
    """Draws with each level's band scaled by its factor, parents still the sums of reps.

    With ``d`` the deviations of the draws from their means, the whole team's deviation
    becomes ``c_0 D``; a group ``g`` of the next level, with share ``s_g`` of its parent's
    mean, becomes ``c_1 (D_g - s_g D_parent) + s_g D'_parent``, and so on to the reps.
    Summing children gives the parent's new deviation exactly; draws are then floored at 0
    per rep (parents are read as sums of reps, so they stay coherent).

    Parameters
    ----------
    draws : ndarray (n_sims, n_reps)
    levels : list
        :func:`nested_levels`.
    factors : sequence of float
        One per level (1 leaves it as it is).

    Examples
    --------
    >>> lv = nested_levels([("all", ["a", "a"]), ("rep", ["r1", "r2"])])
    >>> d = np.array([[9.0, 11.0], [11.0, 9.0], [12.0, 12.0], [8.0, 8.0]])
    >>> nested_scale(d, lv, [0.5, 1.0]).tolist()  # team half as wide, rep splits kept
    [[9.0, 11.0], [11.0, 9.0], [11.0, 11.0], [9.0, 9.0]]
    """
    x = np.asarray(draws, dtype=float)
    if len(factors) != len(levels):
        msg = f"{len(factors)} factors for {len(levels)} levels. Fix: one factor per level."
        raise ParameterError(msg)
    mean = x.mean(axis=0)
    d = x - mean
    new_parent = old_parent = parent_mean = parent_codes = None
    for (_, lab), c in zip(levels, factors, strict=True):
        codes, k = _codes(lab)
        onehot = np.eye(k)[codes]
        old = d @ onehot  # sims x groups
        m = mean @ onehot
        if new_parent is None:
            new = c * old
        else:
            par = np.zeros(k, dtype=int)
            par[codes] = parent_codes
            count = np.bincount(par, minlength=parent_mean.size)
            pm = parent_mean[par]
            share = np.where(pm > 0, m / np.where(pm > 0, pm, 1.0), 1.0 / count[par])
            new = c * (old - share * old_parent[:, par]) + share * new_parent[:, par]
        new_parent, old_parent, parent_mean, parent_codes = new, old, m, codes
    # the last level is the reps: each rep's group column, back in the reps' order
    return np.clip(mean + new_parent[:, parent_codes], 0.0, None)


def _coverage(draws: np.ndarray, actual: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """Per group: 1 when the rest booked lay in the 10-90% range of the group's draws."""
    codes, k = _codes(lab)
    onehot = np.eye(k)[codes]
    g = draws @ onehot
    lo, hi = np.quantile(g, [0.1, 0.9], axis=0)
    a = np.nan_to_num(actual) @ onehot
    return ((a >= lo) & (a <= hi)).astype(float)


def fit_factors(
    means: np.ndarray,
    actual: np.ndarray,
    levels: list[tuple[str, np.ndarray]],
    *,
    n_sims: int = 1000,
    level: float = 0.8,
) -> tuple[list[float], dict[str, dict]]:
    """Band factors per level so that past 80% bands held closest to 80% of outcomes.

    Past date ``i`` is drawn as today's forecast would be (:func:`coherent_draws`) from the
    relative misses of every *other* past date, around date ``i``'s own figures; then, from
    the top level down, the factor of :data:`FACTORS` whose 10-90% bands held the share of
    that level's outcomes nearest ``level`` is kept (ties: the factor nearest 1), the levels
    above already scaled. A level with under :data:`MIN_OUTCOMES` outcomes keeps factor 1.

    Parameters
    ----------
    means : ndarray (n_dates, n_reps)
        The past dates' forecasts of the rest of the quarter (currency), made without the
        date's own quarter.
    actual : ndarray (n_dates, n_reps)
        What was booked.
    levels : list
        :func:`nested_levels`.

    Returns
    -------
    (factors, info)
        One factor per level, and per level ``outcomes``, ``coverage_before`` and
        ``coverage_after`` (0-1, over the past dates).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> m = np.full((30, 4), 100.0); a = m + rng.normal(0, 10, m.shape)
    >>> lv = nested_levels([("all", "aaaa"), ("rep", "1234")])
    >>> f, info = fit_factors(m, a, lv, n_sims=400)
    >>> 0.7 <= info["rep"]["coverage_after"] <= 0.9
    True
    """
    mu = np.nan_to_num(np.asarray(means, dtype=float))
    a = np.nan_to_num(np.asarray(actual, dtype=float))
    n = len(mu)
    factors = [1.0] * len(levels)
    info: dict[str, dict] = {}
    if n < 3:
        return factors, {name: {"outcomes": 0} for name, _ in levels}
    scales = np.vstack([error_scale(m) for m in mu])
    rel = (a - mu) / scales
    past = [
        coherent_draws(mu[i], scales[i], np.delete(rel, i, axis=0), n_sims=n_sims, seed=i)
        for i in range(n)
    ]
    for j, (name, lab) in enumerate(levels):
        outcomes = n * len(set(lab))

        def cov(c: float, j=j, lab=lab) -> float:
            f = [*factors[:j], c, *([1.0] * (len(levels) - j - 1))]
            return float(
                np.mean([_coverage(nested_scale(past[i], levels, f), a[i], lab) for i in range(n)])
            )

        before = cov(1.0)
        if outcomes < MIN_OUTCOMES:
            info[name] = {"outcomes": outcomes, "coverage_before": before, "coverage_after": before}
            continue
        best, best_key = 1.0, (abs(before - level), 0.0)
        for c in FACTORS:
            key = (round(abs(cov(c) - level), 9), abs(math.log(c)))
            if key < best_key:
                best, best_key = c, key
        factors[j] = best
        info[name] = {
            "outcomes": outcomes,
            "coverage_before": before,
            "coverage_after": cov(best),
            "factor": best,
        }
    return factors, info

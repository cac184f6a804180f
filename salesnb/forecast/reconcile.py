"""Coherent forecasts across the sales hierarchy, with spreads calibrated on past errors.

Pure numpy functions, no workbook (the wiring is :mod:`salesnb.forecast.levels`):

* :func:`summing_matrix` -- the hierarchy as a summing matrix ``S`` (one row per node: the
  whole team, each region, team, manager and rep; one column per rep), the notation of
  Hyndman and Athanasopoulos, *Forecasting: principles and practice*, chapter 11, and of
  Nixtla's hierarchicalforecast.
* :func:`reconcile_means` -- coherent means from base means at every node: bottom-up, OLS or
  structurally weighted least squares (``y~ = S (S' W^-1 S)^-1 S' W^-1 y^``);
  :func:`top_down` shares a parent's forecast by its children's own (what the documents use).
* :func:`coherent_draws` -- joint draws of every rep's bookings such that any parent's draws
  are the sums of its reps' draws, so parents' quantiles and P(target) come from the same
  simulated quarters as their reps'. Each draw replays the errors that *all* reps made
  together at one past forecast origin (a quarter's shared luck stays shared), scaled to
  today's forecasts and smoothed by a little Gaussian noise with the same cross-rep
  covariance. A parent's draws therefore follow the parent's own past errors: the spread is
  calibrated at every level at once, from the errors at that level.
* :func:`shared_normal_draws` -- the fallback without enough past errors: normal errors with a
  shared part, also coherent, but not calibrated; :func:`shared_share` learns how large
  the shared part is from the few past dates there are.
* :func:`conformal_quantile`, :func:`interval_coverage` -- the calibration arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from salesnb.core.errors import ParameterError

#: Levels of the hierarchy, top first, as columns of the reps table ("all" is the whole team).
LEVELS = ("all", "region", "team", "manager", "rep")


def summing_matrix(
    members: pd.DataFrame, levels: Sequence[str] = LEVELS
) -> tuple[list[tuple[str, str]], np.ndarray]:
    """The hierarchy as a summing matrix: which reps add up to which node.

    Parameters
    ----------
    members : DataFrame
        One row per rep: ``rep_id`` and a column per grouping level (``region``, ``team``,
        ``manager``); missing groupings are skipped, a rep without a value is left out of
        that level.
    levels : sequence of str
        Levels to include, any of :data:`LEVELS`.

    Returns
    -------
    (nodes, S)
        ``nodes``: (level, name) per row; ``S``: 0/1 array (nodes x reps), reps in the
        order of ``members``. ``S @ rep_values`` gives every node's value.

    Examples
    --------
    >>> m = pd.DataFrame({"rep_id": ["a", "b", "c"], "region": ["E", "E", "W"]})
    >>> nodes, S = summing_matrix(m, ("all", "region", "rep"))
    >>> nodes[:3], S[:3].tolist()
    ([('all', 'all'), ('region', 'E'), ('region', 'W')], [[1, 1, 1], [1, 1, 0], [0, 0, 1]])
    """
    reps = members["rep_id"].astype(str).to_numpy()
    nodes: list[tuple[str, str]] = []
    rows: list[np.ndarray] = []
    for level in levels:
        if level == "all":
            nodes.append(("all", "all"))
            rows.append(np.ones(len(reps), dtype=int))
        elif level == "rep":
            nodes += [("rep", r) for r in reps]
            rows += list(np.eye(len(reps), dtype=int))
        elif level in members.columns:
            col = members[level]
            for name in sorted(set(col.dropna().astype(str))):
                nodes.append((level, name))
                rows.append((col.astype(str) == name).to_numpy(dtype=int) & col.notna().to_numpy())
    return nodes, np.vstack(rows) if rows else np.zeros((0, len(reps)), dtype=int)


def reconcile_means(base: np.ndarray, S: np.ndarray, method: str = "wls_struct") -> np.ndarray:
    """Coherent forecasts of every node from base forecasts of every node.

    Parameters
    ----------
    base : ndarray
        Base forecast of each node (rows of ``S``), any unit; the last ``S.shape[1]`` rows
        must be the bottom level (the reps) for ``"bottom_up"``.
    S : ndarray
        Summing matrix (:func:`summing_matrix`).
    method : {"bottom_up", "ols", "wls_struct"}
        ``bottom_up`` adds the reps' forecasts up; ``ols`` projects the base forecasts onto
        the coherent ones closest in squared error; ``wls_struct`` weights each node by the
        inverse of the number of reps in it (Athanasopoulos et al. 2017), so a parent's own
        forecast counts as much as its reps' together.

    Returns
    -------
    ndarray
        Coherent forecast of each node: ``S @ b`` for some bottom vector ``b``.

    Examples
    --------
    >>> S = np.array([[1, 1], [1, 0], [0, 1]])
    >>> reconcile_means(np.array([12.0, 5.0, 5.0]), S, "ols").round(3).tolist()
    [11.333, 5.667, 5.667]
    >>> reconcile_means(np.array([12.0, 5.0, 5.0]), S, "bottom_up").tolist()
    [10.0, 5.0, 5.0]
    """
    S = np.asarray(S, dtype=float)
    y = np.asarray(base, dtype=float)
    if y.shape[0] != S.shape[0]:
        msg = f"{y.shape[0]} base forecasts for {S.shape[0]} nodes. Fix: one per row of S."
        raise ParameterError(msg)
    if method == "bottom_up":
        return S @ y[-S.shape[1] :]
    if method == "ols":
        w = np.ones(S.shape[0])
    elif method == "wls_struct":
        w = 1.0 / S.sum(axis=1)
    else:
        msg = f"method={method!r}. Fix: use 'bottom_up', 'ols' or 'wls_struct'."
        raise ParameterError(msg)
    sw = S.T * w  # S' W^-1 with W = diag(1 / w)
    bottom = np.linalg.solve(sw @ S, sw @ y)
    return S @ bottom


def top_down(total: float, bottom: np.ndarray) -> np.ndarray:
    """Top-down proportions: the parent's forecast shared by its children's own forecasts.

    The children keep their shares of each other; their sum is the parent's forecast. With
    no child forecast above zero the children are left as they are.

    Examples
    --------
    >>> top_down(300.0, np.array([100.0, 50.0, 50.0])).tolist()
    [150.0, 75.0, 75.0]
    """
    b = np.clip(np.nan_to_num(np.asarray(bottom, dtype=float)), 0.0, None)
    s = float(b.sum())
    if s <= 0 or not np.isfinite(total):
        return b
    return (b / s) * max(float(total), 0.0)


def error_scale(means: np.ndarray, floor_share: float = 0.25) -> np.ndarray:
    """Scale that turns each rep's error into a relative one: its forecast, floored.

    A rep forecast near zero would make any error enormous (and today's near-zero forecast
    would then get no spread at all), so the scale is at least ``floor_share`` times the
    median forecast of the reps at the same origin.

    Examples
    --------
    >>> error_scale(np.array([100.0, 10.0, 80.0])).tolist()
    [100.0, 20.0, 80.0]
    """
    m = np.asarray(means, dtype=float)
    ok = m[np.isfinite(m)]
    floor = floor_share * float(np.median(ok)) if ok.size else 0.0
    return np.maximum(np.nan_to_num(m, nan=0.0), max(floor, 1e-9))


#: Added to a past ratio ``booked / forecast`` before its log is taken (:func:`coherent_draws`),
#: so a quarter that booked nothing is a finite miss; a quarter of the forecast.
LOG_OFFSET = 0.25


def _filled(errors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Missing errors (a rep not forecast at an origin) borrowed from a peer at the same
    origin, so the origin's shared luck still reaches the rep."""
    e = np.array(errors, dtype=float)
    for i, row in enumerate(e):
        miss = ~np.isfinite(row)
        if miss.all():
            e[i] = 0.0
        elif miss.any():
            e[i, miss] = rng.choice(row[~miss], int(miss.sum()))
    return e


def coherent_draws(
    means: np.ndarray,
    scales: np.ndarray,
    errors: np.ndarray,
    *,
    n_sims: int = 10_000,
    seed: int = 0,
    bandwidth: float | None = None,
    center: bool = True,
) -> np.ndarray:
    """Joint draws of every rep's bookings from the errors all reps made at past origins.

    Draw ``i`` picks one past origin ``t`` and gives rep ``r``
    ``means[r] + scales[r] * e[t, r]``, plus Gaussian smoothing whose covariance across reps
    is ``bandwidth**2`` times the errors' own (the whole is shrunk by
    ``1 / sqrt(1 + bandwidth**2)`` around the mean error so the variance stays the
    observed one). Negative draws are set to 0. Because every rep's draw ``i`` comes from the
    same origin and the same noise, summing draws over any group of reps replays the group's
    own past errors: parents are coherent with their reps draw by draw, and their spread is
    the spread of the parent's past errors.

    Parameters
    ----------
    means : ndarray (n_reps,)
        Today's forecast of each rep (currency).
    scales : ndarray (n_reps,)
        Today's error scale of each rep (:func:`error_scale` of ``means``).
    errors : ndarray (n_origins, n_reps)
        Past relative errors ``(actual - forecast) / scale``; NaN where a rep was not
        forecast (filled from a peer at the same origin).
    n_sims : int
        Draws.
    seed : int
        Same seed, same draws (every document of a data set uses the same).
    bandwidth : float, optional
        Smoothing; default Silverman's ``(4 / (3 n)) ** 0.2`` for ``n`` origins.
    center : bool
        Remove each rep's mean past error first, so the draws' mean stays ``means`` (up to
        the clipping at 0): the band is calibrated, the figure is not moved. The centred
        errors are widened by ``sqrt(1 + 1 / n)``, as a prediction interval is when the mean
        is estimated (on the sample, leave-one-quarter-out 80% coverage per rep / manager /
        region went from 77% / 79% / 77% to 81% / 81% / 81%).

    Returns
    -------
    ndarray (n_sims, n_reps)
        Draws (currency); ``draws @ S.T`` gives every node's draws.

    Examples
    --------
    >>> e = np.array([[-0.5, -0.2], [0.0, 0.1], [0.5, 0.1]])
    >>> d = coherent_draws(np.array([100.0, 50.0]), np.array([100.0, 50.0]), e, n_sims=6000)
    >>> bool(abs(d[:, 0].mean() - 100) < 3), d.shape
    (True, (6000, 2))
    """
    mu = np.asarray(means, dtype=float)
    sc = np.asarray(scales, dtype=float)
    rng = np.random.default_rng(seed)
    e = _filled(np.atleast_2d(errors), rng)
    n, k = e.shape
    if k != mu.size or k != sc.size:
        msg = f"errors has {k} reps, means {mu.size}, scales {sc.size}. Fix: one column per rep."
        raise ParameterError(msg)
    if n == 0:
        return np.repeat(np.clip(mu, 0, None)[None, :], n_sims, axis=0)
    # misses are ratios: 1 + e = (booked + c) / (forecast + c) >= 0, with c = scale - forecast
    # (0 unless the forecast was floored); resampled and smoothed as logs, so a draw is the
    # forecast times a past ratio and reaches 0 only where a past quarter nearly did
    lg = np.log(np.clip(1.0 + e, 0.0, None) + LOG_OFFSET)
    if center:
        # each rep's mean error is estimated from n origins: a new error strays from it by
        # sqrt(1 + 1/n) times the spread seen (the usual prediction-interval widening)
        lg = (lg - lg.mean(axis=0)) * math.sqrt(1.0 + 1.0 / n)
    h = (4.0 / (3.0 * n)) ** 0.2 if bandwidth is None else float(bandwidth)
    pick = rng.integers(0, n, n_sims)
    dev = lg - lg.mean(axis=0)
    # g @ dev / sqrt(n - 1) has the errors' covariance across reps
    noise = (rng.standard_normal((n_sims, n)) @ dev) / math.sqrt(max(n - 1, 1))
    out = lg.mean(axis=0) + (lg[pick] - lg.mean(axis=0) + h * noise) / math.sqrt(1.0 + h * h)
    ratio = np.exp(out)
    if center:
        ratio *= (1.0 + LOG_OFFSET) / ratio.mean(axis=0)  # the draws' mean stays ``means``
    return np.clip(mu + sc * (ratio - LOG_OFFSET - 1.0), 0.0, None)


#: The correlation of two reps' misses assumed with no past quarter to learn it from
#: (:func:`shared_normal_draws`), and the weight, in past quarters, that assumption keeps
#: once some are known (:func:`shared_share`).
SHARED_PRIOR = 0.3
SHARED_PRIOR_QUARTERS = 1.0


def shared_normal_draws(
    means: np.ndarray,
    sds: np.ndarray,
    *,
    shared: float = SHARED_PRIOR,
    n_sims: int = 10_000,
    seed: int = 0,
) -> np.ndarray:
    """Coherent joint draws without past errors: normal, with a shared part (not calibrated).

    Rep ``r`` gets ``means[r] + sds[r] * (sqrt(shared) Z + sqrt(1 - shared) Z_r)`` with one
    ``Z`` per draw for all reps, clipped at 0. ``shared`` is the correlation of two reps'
    errors: assumed, or roughly learned from a few past dates (:func:`shared_share`); the
    document says the band is uncalibrated either way.

    Examples
    --------
    >>> d = shared_normal_draws(np.array([100.0, 100.0]), np.array([10.0, 10.0]), n_sims=20000)
    >>> round(float(np.corrcoef(d.T)[0, 1]), 1)
    0.3
    """
    mu = np.asarray(means, dtype=float)
    sd = np.asarray(sds, dtype=float)
    if not 0 <= shared <= 1:
        msg = f"shared is {shared!r}. Fix: give a correlation between 0 and 1."
        raise ParameterError(msg)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n_sims, 1))
    zr = rng.standard_normal((n_sims, mu.size))
    return np.clip(mu + sd * (math.sqrt(shared) * z + math.sqrt(1 - shared) * zr), 0.0, None)


def shared_share(errors: np.ndarray, *, prior: float = SHARED_PRIOR,
                 prior_weight: float = SHARED_PRIOR_QUARTERS) -> float:  # fmt: skip
    """How much reps' relative misses moved together at past dates: their average correlation.

    One-way analysis of variance over dates: with ``W`` the mean variance of the misses
    across reps at one date and ``B`` the variance of the dates' mean misses, a common part
    of variance ``s2 = B - W / k`` (``k`` reps, floored at 0) beside an own part ``W`` gives
    the correlation ``s2 / (s2 + W)``. With ``n`` past dates it is shrunk towards ``prior``
    as ``(n * estimate + prior_weight * prior) / (n + prior_weight)``: two or three dates
    tell the own part well (every rep adds to it) but the common part roughly.

    Parameters
    ----------
    errors : ndarray (n_dates, n_reps)
        Past relative misses (``(booked - forecast) / scale``); NaN where a rep was not
        forecast.
    prior, prior_weight
        The assumed correlation and its weight in dates.

    Returns
    -------
    float
        Between 0 and 1; ``prior`` with fewer than 2 dates or 2 reps.

    Examples
    --------
    >>> e = np.array([[0.5, -0.5, 0.1, -0.1], [-0.5, 0.5, -0.1, 0.1]])  # no common part
    >>> round(shared_share(e), 3)          # (2 * 0 + 1 * 0.3) / 3
    0.1
    >>> e = np.array([[0.3, 0.3, 0.3], [-0.3, -0.3, -0.3]])            # all common
    >>> round(shared_share(e), 3)          # (2 * 1 + 0.3) / 3
    0.767
    """
    e = np.asarray(errors, dtype=float)
    if e.ndim != 2:
        return float(prior)
    ok = np.isfinite(e)
    rows = ok.sum(axis=1) >= 2
    e, ok = e[rows], ok[rows]
    n = len(e)
    if n < 2:
        return float(prior)
    k = float(ok.sum(axis=1).mean())
    x = np.where(ok, e, np.nan)
    within = float(np.nanmean(np.nanvar(x, axis=1, ddof=1)))
    between = float(np.var(np.nanmean(x, axis=1), ddof=1))
    common = max(between - within / k, 0.0)
    rho = common / (common + within) if common + within > 0 else float(prior)
    return float((n * rho + prior_weight * prior) / (n + prior_weight))


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """Split-conformal quantile: the ``ceil((n + 1) level)``-th smallest of ``n`` scores.

    With exchangeable scores, a new score is at most this value with probability at least
    ``level``. NaN when ``n`` is too small for the level (``(n + 1) level > n``): then no
    honest band of that level can be read from the past.

    Examples
    --------
    >>> conformal_quantile(np.arange(1.0, 10.0), 0.8)  # ceil(10 * 0.8) = 8th of 9
    8.0
    >>> conformal_quantile(np.arange(1.0, 10.0), 0.95)  # would need 19 scores
    nan
    """
    s = np.sort(np.asarray(scores, dtype=float)[np.isfinite(scores)])
    n = s.size
    k = math.ceil((n + 1) * level)
    return float(s[k - 1]) if 0 < k <= n else float("nan")


def min_origins(level: float) -> int:
    """Least past errors for a central ``level`` band to be read from them (two-sided:
    each tail needs one error beyond it, ``(n + 1) (1 - level) / 2 >= 1``).

    Examples
    --------
    >>> min_origins(0.8), min_origins(0.95)
    (9, 39)
    """
    return math.ceil(2.0 / (1.0 - level) - 1.0 - 1e-9)


def interval_coverage(lo: np.ndarray, hi: np.ndarray, actual: np.ndarray) -> float:
    """Share of outcomes inside their bands (bounds included).

    Examples
    --------
    >>> interval_coverage(np.array([0, 0, 0]), np.array([1, 1, 1]), np.array([0.5, 2, 1]))
    0.6666666666666666
    """
    a = np.asarray(actual, dtype=float)
    return float(np.mean((a >= np.asarray(lo)) & (a <= np.asarray(hi)))) if a.size else math.nan

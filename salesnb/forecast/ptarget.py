"""P(target) calibrated on past outcomes: Platt scaling of the simulated probability.

The share of simulated quarters that reach target is only as good as the simulation. On the
sample, replayed past quarters (each quarter's probability read from draws learned on the
other quarters' misses) showed it running high: subjects given 50-70% reached target 36% (at
quarter start) and 45% (mid-quarter) of the time, those given 70-90% 63% and 73%, while
those given under 10% reached it 9-13% of the time. The bands were calibrated (80% of
outcomes inside the 80% band); the probability of one threshold was not.

:func:`platt_fit` learns ``logit(P) = a + b logit(p)`` from such replayed pairs (probability
``p``, reached target or not) by penalised maximum likelihood, shrunk towards given
parameters (the identity ``a = 0, b = 1``, or a pooled fit over all levels), so a level
with few past quarters keeps close to the pooled answer; :func:`platt_apply` maps a new
probability. ``b < 1`` flattens an over-confident probability, ``a < 0`` lowers it.
"""

from __future__ import annotations

import numpy as np

#: Probabilities are clipped to [EPS, 1 - EPS] before the logit (a 0 of draws is not a 0).
EPS = 0.001


def logit(p: np.ndarray | float) -> np.ndarray:
    """``log(p / (1 - p))`` of ``p`` clipped to ``[EPS, 1 - EPS]``.

    Examples
    --------
    >>> float(logit(0.5)), round(float(logit(1.0)), 2)
    (0.0, 6.91)
    """
    q = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return np.log(q / (1 - q))


def platt_apply(p: np.ndarray | float, a: float, b: float) -> np.ndarray | float:
    """Calibrated probability ``1 / (1 + exp(-(a + b logit(p))))`` (0-1).

    Examples
    --------
    >>> round(float(platt_apply(0.7, 0.0, 1.0)), 3)  # the identity keeps it
    0.7
    >>> round(float(platt_apply(0.7, -0.5, 0.8)), 3)  # lowered and flattened
    0.544
    """
    z = a + b * logit(p)
    out = 0.5 * (1.0 + np.tanh(0.5 * z))
    return float(out) if np.ndim(out) == 0 else out


def platt_fit(
    p: np.ndarray,
    hit: np.ndarray,
    *,
    prior: tuple[float, float] = (0.0, 1.0),
    strength: float = 1.0,
) -> tuple[float, float]:
    """Platt parameters ``(a, b)`` learned from past probabilities and outcomes.

    Maximises the Bernoulli log-likelihood of ``hit`` under ``platt_apply(p, a, b)`` minus
    ``strength / 2 * ((a - a0)**2 + (b - b0)**2)`` (Newton's method with step halving, so it
    converges even when the outcomes are nearly separated): with no data it returns
    ``prior``, with many it returns the plain logistic fit.

    Parameters
    ----------
    p : ndarray
        Past predicted probabilities (0-1).
    hit : ndarray
        1 where the target was reached, else 0.
    prior : (float, float)
        ``(a0, b0)`` shrunk towards; ``(0, 1)`` leaves probabilities as they are.
    strength : float
        Weight of the prior, in units of the log-likelihood's curvature (about how many
        well-spread past outcomes it counts for, times 0.1-0.25).

    Returns
    -------
    (float, float)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(-3, 3, 4000)
    >>> y = (rng.uniform(size=x.size) < 1 / (1 + np.exp(-(-0.5 + 0.6 * x)))).astype(float)
    >>> a, b = platt_fit(1 / (1 + np.exp(-x)), y)
    >>> round(a, 1), round(b, 1)
    (-0.5, 0.6)
    >>> platt_fit(np.array([]), np.array([]))
    (0.0, 1.0)
    """
    x = logit(p)
    y = np.asarray(hit, dtype=float)
    prior_v = np.asarray(prior, dtype=float)
    theta = prior_v.copy()
    design = np.column_stack([np.ones_like(x), x])

    def objective(th: np.ndarray) -> float:
        z = design @ th
        # log-likelihood of y under sigmoid(z), computed without overflow
        ll = np.sum(y * z - np.logaddexp(0.0, z))
        return float(ll - strength / 2 * np.sum((th - prior_v) ** 2))

    best = objective(theta)
    for _ in range(100):
        q = 0.5 * (1.0 + np.tanh(0.5 * (design @ theta)))  # sigmoid, no overflow
        grad = design.T @ (y - q) - strength * (theta - prior_v)
        hess = (design * (q * (1 - q))[:, None]).T @ design + strength * np.eye(2)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-6 and objective(theta + t * step) < best - 1e-12:
            t /= 2
        theta = theta + t * step
        best = objective(theta)
        if np.abs(t * step).max() < 1e-9:
            break
    return float(theta[0]), float(theta[1])


def brier(p: np.ndarray, hit: np.ndarray) -> float:
    """Mean squared difference between probabilities and outcomes (lower is better).

    Examples
    --------
    >>> brier(np.array([0.9, 0.2]), np.array([1.0, 0.0]))
    0.025
    """
    d = np.asarray(p, dtype=float) - np.asarray(hit, dtype=float)
    return float(np.mean(d * d)) if d.size else float("nan")


# ----------------------------------------------------------------------------- pooled map

#: Minimum evidence for a calibrated P(target) at one point of the quarter: replayed past
#: quarters, outcomes pooled over every level, and reached / missed targets among them.
MIN_PAST_QUARTERS, MIN_OUTCOMES, MIN_EACH = 2, 40, 5
#: Prior strengths (:func:`platt_fit`): both points of the quarter and all levels pooled,
#: shrunk towards the identity; one point of the quarter, all levels, shrunk towards that;
#: one level at that point, shrunk towards its point's fit.
PRIOR_ALL, PRIOR_KIND, PRIOR_LEVEL = 1.0, 2.0, 4.0
#: What a document says instead of a number when the evidence is too thin.
NOT_CALIBRATED = "not calibrated: too few past quarters"


def pooled_map(evidence, kind: str, level: str) -> dict:
    """The P(target) calibration map of one level at one point of the quarter.

    Fitted on replayed past outcomes (the probability a document would have shown at a past
    date and whether the target was then reached), pooled three ways so that a short history
    still gets a map: first every outcome of both points of the quarter and every level
    (shrunk towards leaving probabilities as they are, strength :data:`PRIOR_ALL`), then
    those of ``kind`` (shrunk towards the first, :data:`PRIOR_KIND`), then those of ``kind``
    and ``level`` (shrunk towards the second, :data:`PRIOR_LEVEL`): a level with few
    subjects keeps close to the pooled answer. The map is called calibrated when the outcomes
    of ``kind`` come from at least :data:`MIN_PAST_QUARTERS` past quarters, number at least
    :data:`MIN_OUTCOMES` and hold at least :data:`MIN_EACH` reached and :data:`MIN_EACH`
    missed targets; otherwise it is the identity and ``calibrated`` is False.

    The caller passes only outcomes of quarters finished before the forecast's as-of date
    (nothing here looks at dates beyond counting them).

    Parameters
    ----------
    evidence : DataFrame
        One row per replayed (date, subject): ``date`` (one per past quarter and point),
        ``kind`` (``"start"`` or ``"mid"``), ``level``, ``p`` (0-1) and ``hit`` (0 or 1).
    kind : {"start", "mid"}
    level : str
        ``"rep"``, ``"manager"``, ``"region"`` or ``"all"`` (the whole team); a level with
        no replayed outcomes (a ``"team"`` grouping) gets the map of ``kind``, all levels.

    Returns
    -------
    dict
        ``a``, ``b`` (:func:`platt_apply`), ``calibrated`` (bool), ``quarters`` (past
        quarters of ``kind``), ``n`` (outcomes of the level at ``kind``), ``n_pooled``
        (outcomes of ``kind``, all levels), ``hits`` (reached among those) and ``why``
        (plain words when not calibrated, else "").

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"date": ["d1"] * 2, "kind": "start", "level": "rep",
    ...                    "p": [0.9, 0.2], "hit": [1.0, 0.0]})
    >>> m = pooled_map(ev, "start", "rep")
    >>> m["calibrated"], m["a"], m["b"], m["why"]
    (False, 0.0, 1.0, 'not calibrated: too few past quarters (1 whose chance could be replayed, at least 2 needed)')
    """
    cols = ("date", "kind", "level", "p", "hit")
    ev = evidence if len(evidence) else None
    p_all = np.asarray([] if ev is None else ev["p"], dtype=float)
    y_all = np.asarray([] if ev is None else ev["hit"], dtype=float)
    in_kind = np.asarray([] if ev is None else ev["kind"] == kind, dtype=bool)
    in_level = in_kind & np.asarray([] if ev is None else ev["level"] == level, dtype=bool)
    quarters = 0 if ev is None else int(ev.loc[in_kind, "date"].nunique())
    n_pooled, hits = int(in_kind.sum()), int(y_all[in_kind].sum())
    out = {"a": 0.0, "b": 1.0, "calibrated": False, "quarters": quarters,
           "n": int(in_level.sum()), "n_pooled": n_pooled, "hits": hits}  # fmt: skip
    if ev is not None:
        missing = [c for c in cols if c not in ev.columns]
        if missing:
            raise ValueError(f"evidence lacks the columns {missing}")
    if quarters < MIN_PAST_QUARTERS:
        # a past quarter's chance is replayed from the other quarters' misses, so the first
        # past quarter never counts: "1 past quarter" in the band's sentence, 0 here
        why = (
            f"{NOT_CALIBRATED} ({quarters} whose chance could be replayed, at least "
            f"{MIN_PAST_QUARTERS} needed)"
        )
    elif n_pooled < MIN_OUTCOMES or min(hits, n_pooled - hits) < MIN_EACH:
        why = (
            f"{NOT_CALIBRATED} ({quarters} quarters, {n_pooled} past chances of which "
            f"{hits} came true; at least {MIN_OUTCOMES}, with {MIN_EACH} each way, needed)"
        )
    else:
        why = ""
    if why:
        return {**out, "why": why}
    top = monotone_fit(p_all, y_all, prior=(0.0, 1.0), strength=PRIOR_ALL)
    mid = monotone_fit(p_all[in_kind], y_all[in_kind], prior=top, strength=PRIOR_KIND)
    a, b = monotone_fit(p_all[in_level], y_all[in_level], prior=mid, strength=PRIOR_LEVEL)
    return {**out, "a": a, "b": b, "calibrated": True, "why": ""}


#: Least slope of a calibration map: a higher simulated share always maps higher.
B_MIN = 0.1


def monotone_fit(
    p: np.ndarray, hit: np.ndarray, *, prior: tuple[float, float], strength: float
) -> tuple[float, float]:
    """:func:`platt_fit` with the slope kept at least :data:`B_MIN`: when the free fit's
    slope is lower (noise can make it flat or even negative), the slope is set to
    :data:`B_MIN` and the intercept refitted alone (penalised Newton steps).

    Examples
    --------
    >>> p = np.array([0.2, 0.4, 0.6, 0.8] * 5)
    >>> y = np.array([1.0, 1.0, 0.0, 0.0] * 5)  # higher chances came true less often
    >>> a, b = monotone_fit(p, y, prior=(0.0, 1.0), strength=0.01)
    >>> b
    0.1
    """
    a, b = platt_fit(p, hit, prior=prior, strength=strength)
    if b >= B_MIN:
        return a, b
    x, y = B_MIN * logit(p), np.asarray(hit, dtype=float)
    a = float(prior[0])
    for _ in range(100):
        q = 0.5 * (1.0 + np.tanh(0.5 * (a + x)))
        step = (np.sum(y - q) - strength * (a - prior[0])) / (np.sum(q * (1 - q)) + strength)
        a += step
        if abs(step) < 1e-10:
            break
    return float(a), B_MIN


def chance(raw: float, cal: dict | None, already_won: float, target: float | None) -> float:
    """P(target) a document shows (0-1): 1 once target is reached, else the share of simulated
    quarters reaching it (``raw``) through the map ``cal`` (:func:`pooled_map`); NaN without
    a target, or when ``cal`` is missing or not calibrated (the document then says so).

    Examples
    --------
    >>> chance(0.7, {"a": 0.0, "b": 1.0, "calibrated": True}, 10.0, 100.0)
    0.7
    >>> chance(0.7, {"a": 0.0, "b": 1.0, "calibrated": False}, 10.0, 100.0)
    nan
    >>> chance(0.7, None, 120.0, 100.0)
    1.0
    """
    if not target or not np.isfinite(raw):
        return float("nan")
    if already_won >= target:
        return 1.0
    if not cal or not cal.get("calibrated"):
        return float("nan")
    return float(platt_apply(raw, cal["a"], cal["b"]))


def log_score(p: np.ndarray, hit: np.ndarray) -> float:
    """Mean negative log-likelihood of outcomes under probabilities clipped to [EPS, 1 - EPS]
    (lower is better).

    Examples
    --------
    >>> round(log_score(np.array([0.5, 0.5]), np.array([1.0, 0.0])), 4)
    0.6931
    """
    q = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    y = np.asarray(hit, dtype=float)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))) if y.size else float("nan")

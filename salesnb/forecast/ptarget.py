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

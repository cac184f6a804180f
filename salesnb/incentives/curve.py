"""The commission curve on arrays of attainment: one function the payout engine and the
plan-cost simulation share, so a statement and a simulation can never disagree."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CurveParts:
    """The curve's pay split into steps, each an array shaped like the attainment (currency).

    ``commission = at_base_rate + decelerator + accelerator + cap_cut``."""

    at_base_rate: np.ndarray
    decelerator: np.ndarray
    accelerator: np.ndarray
    cap_cut: np.ndarray

    @property
    def commission(self) -> np.ndarray:
        return self.at_base_rate + self.decelerator + self.accelerator + self.cap_cut


def curve(att: np.ndarray, ti: np.ndarray, starts: np.ndarray, rates: np.ndarray,
          cap: float | None) -> CurveParts:  # fmt: skip
    """Pay of one role's marginal commission curve.

    Parameters
    ----------
    att : array
        Attainment (credited bookings / quota; 1.0 = 100 %); NaN stays NaN.
    ti : array
        Target incentive of the period (currency), broadcastable to ``att``.
    starts, rates : 1-d array
        The bands: where each starts (the first at 0, increasing) and its rate; each band pays
        ``rate`` x ``ti`` per unit of attainment inside it.
    cap : float or None
        The most the curve pays, times ``ti`` (None: no cap).

    Examples
    --------
    >>> p = curve(np.array([0.4, 1.3]), np.array(5000.0), np.array([0.0, 0.5, 1.0]),
    ...           np.array([0.5, 1.0, 1.5]), 2.0)
    >>> [np.round(x, 6).tolist() for x in (p.commission, p.decelerator, p.accelerator)]
    [[1000.0, 6000.0], [-1000.0, -1250.0], [0.0, 750.0]]
    """
    att = np.asarray(att, dtype=float)
    ti = np.asarray(ti, dtype=float)
    f = _shape(starts, rates)
    a1 = np.minimum(att, 1.0)
    f_all, f_1 = f(att), f(a1)
    base = ti * att
    decel = ti * (f_1 - a1)
    accel = ti * ((f_all - f_1) - (att - a1))
    uncapped = ti * f_all
    limit = np.inf if cap is None else cap
    cap_cut = np.minimum(0.0, limit * ti - uncapped)
    return CurveParts(base, decel, accel, cap_cut)


def _shape(starts: np.ndarray, rates: np.ndarray):
    """The curve in units of the target incentive: piecewise linear through its value at each
    band start, the last band's rate onwards."""
    s, r = np.asarray(starts, float), np.asarray(rates, float)
    knots = np.concatenate([[0.0], np.cumsum(r[:-1] * np.diff(s))])

    def f(x: np.ndarray) -> np.ndarray:
        return np.interp(x, s, knots) + r[-1] * np.maximum(x - s[-1], 0.0)

    return f


def commission(att: np.ndarray, ti: np.ndarray, starts: np.ndarray, rates: np.ndarray,
               cap: float | None) -> np.ndarray:  # fmt: skip
    """``curve(...).commission`` without its parts (for simulations: half the work).

    Examples
    --------
    >>> pay = commission(np.array([0.4, 1.3, 2.5]), np.array(5000.0), np.array([0.0, 0.5, 1.0]),
    ...                  np.array([0.5, 1.0, 1.5]), 2.0)
    >>> np.round(pay, 6).tolist()
    [1000.0, 6000.0, 10000.0]
    """
    pay = np.asarray(ti, float) * _shape(starts, rates)(np.asarray(att, float))
    return pay if cap is None else np.minimum(pay, cap * np.asarray(ti, float))

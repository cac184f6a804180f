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
          cap: np.ndarray) -> CurveParts:  # fmt: skip
    """Pay of a marginal commission curve.

    Parameters
    ----------
    att : array
        Attainment (credited bookings / quota; 1.0 = 100 %); NaN stays NaN.
    ti : array
        Target incentive of the period (currency), broadcastable to ``att``.
    starts, rates : array
        Band starts and rates on a last axis of bands, the rest broadcastable to ``att``;
        unused bands start at ``inf``. Each band pays ``rate`` x ``ti`` per unit of
        attainment inside it.
    cap : array
        The most the curve pays, times ``ti`` (``inf``: no cap).

    Examples
    --------
    >>> p = curve(np.array([0.4, 1.3]), np.array(5000.0), np.array([0.0, 0.5, 1.0]),
    ...           np.array([0.5, 1.0, 1.5]), np.array(2.0))
    >>> [np.round(x, 6).tolist() for x in (p.commission, p.decelerator, p.accelerator)]
    [[1000.0, 6000.0], [-1000.0, -1250.0], [0.0, 750.0]]
    """
    att = np.asarray(att, dtype=float)
    ti = np.asarray(ti, dtype=float)
    starts, rates = np.asarray(starts, float), np.asarray(rates, float)
    n_bands = starts.shape[-1]
    decel = np.zeros(np.broadcast(att, ti).shape)
    accel = np.zeros_like(decel)
    with np.errstate(invalid="ignore"):  # inf - inf of unused bands: masked
        for b in range(n_bands):
            s = starts[..., b]
            e = starts[..., b + 1] if b + 1 < n_bands else np.inf
            width = np.where(np.isfinite(s), np.maximum(e - s, 0.0), 0.0)
            s0 = np.where(np.isfinite(s), s, 0.0)
            inside = np.clip(att - s0, 0.0, width)
            below = np.clip(
                np.minimum(att, 1.0) - s0, 0.0, np.minimum(width, np.maximum(1.0 - s0, 0.0))
            )
            extra = rates[..., b] - 1.0
            decel = decel + extra * below
            accel = accel + extra * (inside - below)
    base = ti * att
    decel, accel = ti * decel, ti * accel
    uncapped = base + decel + accel
    cap_cut = np.minimum(0.0, np.asarray(cap, float) * ti - uncapped)
    return CurveParts(base, decel, accel, cap_cut)

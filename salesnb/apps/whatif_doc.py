"""The forecast document's P(target) in the what-if app: the same figure for the same inputs.

:class:`DocumentChance` holds what the forecast document shows for the app's subject and
period (its simulated quarters, the pipeline view's weight in the blend and its calibrated
chance, :func:`salesnb.forecast.chance.target_chance`); :func:`what_if_chance` moves those
quarters by the what-if's change of the pipeline view and reads the chance through the
document's own map. Re-exported by :mod:`salesnb.apps.workshop`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from salesnb.apps.workshop import WhatIfResult


@dataclass(frozen=True)
class DocumentChance:
    """The forecast document's P(target) for the what-if's subject and period.

    Its simulated quarters (history and pipeline views pooled, summed over the subject's
    reps), the pipeline view's weight in that pool and the chance it shows
    (:func:`salesnb.forecast.chance.target_chance`, whose calibration map the what-if reuses).
    """

    blended: np.ndarray = field(repr=False)  # currency, the document's simulated totals
    weight: float  # the pipeline view's share of the blend (0-1)
    already_won: float
    target: float | None
    chance: Any  # salesnb.forecast.chance.TargetChance

    @classmethod
    def build(cls, wb: Any, subject_type: str, subject: str | None, period: str, *,
              seed: int = 0) -> DocumentChance:  # fmt: skip
        """``period_forecast`` as the forecast document makes it, and its chance."""
        from salesnb.forecast.chance import target_chance
        from salesnb.forecast.combined import period_forecast

        pf = period_forecast(wb, subject_type, subject, period, seed=seed)
        return cls(
            blended=pf.blended.samples,
            weight=float(pf.pipeline_weight),
            already_won=float(pf.already_won),
            target=pf.target,
            chance=target_chance(wb, pf, seed=seed),
        )


def what_if_chance(doc: DocumentChance, base: WhatIfResult, changed: WhatIfResult) -> float:
    """P(target) (0-1) under the what-if, on the forecast document's own scale.

    The document's simulated totals move by the pipeline view's weight in its blend times
    the what-if's change of the pipeline view, simulation by simulation (``changed`` minus
    ``base``: the same random numbers, so the change is the what-if's alone); the share
    reaching ``changed.target`` then goes through the document's calibration map
    (:func:`salesnb.forecast.ptarget.chance`). With every slider at 1 and the document's
    target, this is exactly the chance the document shows. NaN when the document gives no
    figure (``doc.chance.sentence`` says why) or there is no target.

    Examples
    --------
    >>> what_if_chance(doc, what_if(ctx), what_if(ctx, win_rate=1.2))   # doctest: +SKIP
    0.47
    """
    from salesnb.forecast.ptarget import chance

    tgt = changed.target
    if not tgt or doc.blended.size == 0:
        return float("nan")
    delta = np.resize(changed.samples - base.samples, doc.blended.size)
    raw = float(np.mean(doc.blended + doc.weight * delta >= tgt))
    return chance(raw, doc.chance.map, doc.already_won, tgt)

"""Forecasts: history models, pipeline simulation, win probabilities, calibration.

From the bottom up: cache (memo and disk cache), winprob, subjects (who a forecast is about,
monthly bookings, targets), models, seasonal, history, pipeline, calibration (learned shock
and blend weight), reconcile, ptarget (P(target) calibration), levels (coherent, calibrated
draws of every level), combined (the views blended; the public façade), backtest. No import
cycle among them. Uses core, data and analytics only.

Modules are imported on first use (``salesnb.forecast.<module>``); other public names are those of
the main module (``salesnb.batch.run`` is ``salesnb.batch.documents.run``); see docs/architecture.md.
"""

from __future__ import annotations

from salesnb.core.lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__, "combined")

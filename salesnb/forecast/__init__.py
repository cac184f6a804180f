"""Forecasts: history models, pipeline simulation, win probabilities, calibration.

models, seasonal, history, pipeline, winprob, calibration, combined (the views blended),
backtest. Uses core, data and analytics only.

Modules are imported on first use (``salesnb.forecast.<module>``); other public names are those of
the main module (``salesnb.batch.run`` is ``salesnb.batch.documents.run``); see docs/architecture.md.
"""

from __future__ import annotations

from salesnb.core.lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__, "combined")

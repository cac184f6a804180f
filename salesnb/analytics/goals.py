"""Goal setting: top-down decomposition, the bottom-up reverse funnel and the SMART check.

A facade: the work is done in small modules, re-exported here so ``salesnb.analytics.goals.<name>``
keeps working.

- :mod:`salesnb.analytics.decompose`: exact splits (:func:`split_by_weights`, :func:`largest_remainder`),
  :func:`seasonality_weights`, :func:`decompose_annual`, :func:`split_across`.
- :mod:`salesnb.analytics.funnel`: :func:`reverse_funnel`, :func:`reverse_funnel_from_history`.
- :mod:`salesnb.analytics.smart_goal`: the :data:`METRICS` catalogue and :class:`Goal`.
- :mod:`salesnb.analytics.smart`: :func:`smart_check` and its thresholds, :class:`SmartResult`.
- :mod:`salesnb.analytics.smart_history`: :func:`metric_history`, :func:`smart_check_from_history`.

Every split adds up *exactly* (see ``docs/goals.md``).
"""

from __future__ import annotations

from salesnb.analytics.decompose import (
    Decomposition,
    decompose_annual,
    largest_remainder,
    seasonality_weights,
    split_across,
    split_by_weights,
)
from salesnb.analytics.funnel import ReverseFunnel, reverse_funnel, reverse_funnel_from_history
from salesnb.analytics.smart import (
    DEFAULT_SMART_THRESHOLDS,
    SmartResult,
    Status,
    Verdict,
    smart_check,
    smart_thresholds,
)
from salesnb.analytics.smart_goal import METRICS, Goal, Metric
from salesnb.analytics.smart_history import metric_history, smart_check_from_history

# The old private name, kept for callers written before it was made public.
_largest_remainder = largest_remainder

__all__ = [
    "DEFAULT_SMART_THRESHOLDS",
    "METRICS",
    "Decomposition",
    "Goal",
    "Metric",
    "ReverseFunnel",
    "SmartResult",
    "Status",
    "Verdict",
    "decompose_annual",
    "largest_remainder",
    "metric_history",
    "reverse_funnel",
    "reverse_funnel_from_history",
    "seasonality_weights",
    "smart_check",
    "smart_check_from_history",
    "smart_thresholds",
    "split_across",
    "split_by_weights",
]

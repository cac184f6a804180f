"""Analytics on a loaded workbook: KPIs, pipeline change, goals, coaching.

kpis, pipeline, decompose, funnel, smart*, goals, coaching*, pip. Uses core and data only.

Modules are imported on first use (``salesnb.analytics.<module>``); see docs/architecture.md.
"""

from __future__ import annotations

from salesnb.core.lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)

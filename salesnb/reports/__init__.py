"""What a document shows: per-subject context, views per workbook, charts, rendering.

subject, facts, workbooks, plausibility, record, charts/chart*, render, vegabundle.

Modules are imported on first use (``salesnb.reports.<module>``); see docs/architecture.md.
"""

from __future__ import annotations

from salesnb.core.lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)

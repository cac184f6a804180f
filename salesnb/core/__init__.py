"""Shared infrastructure every layer may use, and that uses no other layer.

errors (the one exception family), files (atomic writes, the lock, the cache folder),
resources (where the workbooks and templates are), dates, safecsv, lazydeps.

Modules are imported on first use (``salesnb.core.<module>``); see docs/architecture.md.
"""

from __future__ import annotations

from salesnb.core.lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)

"""The data layer: the canonical model and everything that reads, checks or writes it.

schema, model, config, profiles, readers/io (files), sql, store (snapshots), validation,
sample (a generated team), memo (results shared per data set).

Modules are imported on first use (``salesnb.data.<module>``); see docs/architecture.md.
"""

from __future__ import annotations

from salesnb.core.lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)

"""The workshop apps: pure logic (workshop) and its ipywidgets front ends (widgets).

Modules are imported on first use (``salesnb.apps.<module>``); other public names are those of
the main module (``salesnb.batch.run`` is ``salesnb.batch.documents.run``); see docs/architecture.md.
"""

from __future__ import annotations

from salesnb.core.lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__, "widgets")

"""The ``salesnb`` command: a thin layer over the Python API.

commands (the group), batch, snapshot, workshop, init.

Modules are imported on first use (``salesnb.cli.<module>``); other public names are those of
the main module (``salesnb.batch.run`` is ``salesnb.batch.documents.run``); see docs/architecture.md.
"""

from __future__ import annotations

from salesnb.core.lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__, "commands")

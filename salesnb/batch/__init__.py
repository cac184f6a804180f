"""Batch review documents: one notebook run per subject, engines and runners.

documents (run), inputs, names, folders, index, progress, params, executor, schemacache;
the engines: fastengine (public face of capture, inshell, pmengine, ahead, warmup, forkdoc,
forkpool), forkengine, kernelshim.

Modules are imported on first use (``salesnb.batch.<module>``); other public names are those of
the main module (``salesnb.batch.run`` is ``salesnb.batch.documents.run``); see docs/architecture.md.
"""

from __future__ import annotations

from salesnb.core.lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__, "documents")

"""The fast engine: one copy-on-write fork of a pre-imported process per document.

A papermill run pays a kernel start and every import (pandas, altair, statsmodels...)
for each document; the notebook's own work is a small part of it. This engine pays
them once:

* a **zygote** process imports the heavy libraries, creates an IPython shell, warms
  the HTML exporter and loads the batch's data once, and never runs a notebook cell;
* each document runs in a fresh ``os.fork()`` of it: the child executes the notebook
  in-process through papermill (the ``"salesnb"`` papermill engine below, so
  papermill's parameter injection, metadata and error banners are its own), renders
  the HTML, sends the outputs back through a pipe and exits. Nothing a document
  does (globals, module attributes, environment variables, mutated data) reaches
  another: each child starts from the zygote's untouched memory;
* charts are converted to SVG by a converter process forked from the zygote before
  vl-convert is first used (a forked child that inherits a warmed vl-convert hangs).

The zygote kills a child that exceeds its timeout (``SIGKILL``) and rebuilds the
partial notebook from the cells the child streamed back, so timeouts and dying
documents fail only their subject, with a partial notebook and an error banner.

Names: ``salesnb batch --engine fork`` (:class:`ForkRunner`, the default where
``os.fork`` exists), the executor engine ``"fork"`` (:func:`fork_execute`, one fork
per document from the calling process, for Dask workers or custom runners), and the
papermill engine ``"salesnb"`` (:class:`InProcessEngine`: in-process execution in
the *calling* process, so ``papermill --engine salesnb`` works, without isolation).

This module is the engine's public face; the work is done in modules of one job each:

* :mod:`salesnb.batch.capture` -- outputs recorded as nbclient records a kernel's messages;
* :mod:`salesnb.batch.inshell` -- the recording IPython shell and papermill's cell loop on it;
* :mod:`salesnb.batch.pmengine` -- the papermill engine class (``InProcessEngine``);
* :mod:`salesnb.batch.ahead` -- data, imports and notebooks loaded once for every document;
* :mod:`salesnb.batch.warmup` -- chart converters and the warm-up before forking;
* :mod:`salesnb.batch.forkdoc` -- one forked document, supervised (executor engine ``"fork"``);
* :mod:`salesnb.batch.forkpool` -- the zygote and :class:`ForkRunner`, the batch's pool.
"""

from __future__ import annotations

from typing import Any

from salesnb.batch import pmengine
from salesnb.batch.ahead import (
    adopt,
    compute_shared,
    notebook_imports,
    preload,
    preread,
    warm_imports,
)
from salesnb.batch.capture import log_output_message, output_node, set_output_sink
from salesnb.batch.forkdoc import fork_execute, supervise
from salesnb.batch.forkpool import ForkRunner
from salesnb.batch.inshell import (
    RAISES_TAG,
    SKIP_TAG,
    execute_cell,
    kernel_language,
    run_cells,
    set_progress,
    shell,
    timestamp,
)
from salesnb.batch.jobs import EngineSpec
from salesnb.batch.pmengine import (
    PAPERMILL_ENGINE,
    inprocess_execute,
    log_kernel,
    register_papermill_engine,
)
from salesnb.batch.warmup import (
    PRELOAD_MODULES,
    ensure_converter,
    prepare,
    runtime_threads,
    shutdown,
)

__all__ = [
    "FORK_ENGINE",
    "PAPERMILL_ENGINE",
    "PRELOAD_MODULES",
    "RAISES_TAG",
    "SKIP_TAG",
    "ForkRunner",
    "adopt",
    "compute_shared",
    "ensure_converter",
    "execute_cell",
    "fork_execute",
    "inprocess_execute",
    "kernel_language",
    "log_kernel",
    "log_output_message",
    "notebook_imports",
    "output_node",
    "preload",
    "prepare",
    "preread",
    "register_papermill_engine",
    "run_cells",
    "runtime_threads",
    "set_output_sink",
    "set_progress",
    "shell",
    "shutdown",
    "supervise",
    "timestamp",
    "warm_imports",
]

#: The executor engine ``"fork"``: :func:`salesnb.batch.executor.get_engine` returns it (this
#: module registers nothing itself, so it does not import the executor).
FORK_ENGINE = EngineSpec("fork", fork_execute, prepare)


def __getattr__(name: str) -> Any:
    # The papermill entry point names salesnb.batch.fastengine:InProcessEngine; the class is
    # built lazily (salesnb.batch.pmengine), which keeps papermill and IPython out of
    # `import salesnb.batch.fastengine`.
    if name == "InProcessEngine":
        cls = pmengine.InProcessEngine
        globals()["InProcessEngine"] = cls
        return cls
    raise AttributeError(f"module 'salesnb.batch.fastengine' has no attribute {name!r}")

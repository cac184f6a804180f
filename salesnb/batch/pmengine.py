"""The papermill engine ``salesnb``: a notebook's cells in this process's recording shell.

``papermill --engine salesnb`` (entry point ``salesnb.batch.fastengine:InProcessEngine``)
runs in any process, without isolation; the salesnb batch forks a fresh process per
document before calling it (:mod:`salesnb.batch.forkdoc`), which is what isolates them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from salesnb.batch.inshell import (
    emit,
    fresh_shell,
    kernel_language,
    reporting,
    run_cells,
)
from salesnb.batch.jobs import Execution, fix_cell_ids, papermill_execute

PAPERMILL_ENGINE = "salesnb"


def log_kernel(kernel_name: str) -> None:
    """Log papermill's engine's first line of a run (``PapermillNotebookClient.execute``).

    Examples
    --------
    >>> log_kernel("python3")
    """
    from papermill.log import logger

    logger.info(f"Executing notebook with kernel: {kernel_name}")


def _papermill_engine_class() -> type:
    from papermill.engines import Engine, NBClientEngine, NotebookExecutionManager

    class InProcessEngine(Engine):
        """Papermill engine running cells in this process's IPython shell.

        ``papermill --engine salesnb`` works in any process; the salesnb batch forks
        a fresh process per document before calling it, which is what isolates them.
        A notebook whose kernel is not a Python one is handed to papermill's own engine.
        """

        @classmethod
        def execute_notebook(
            cls,
            nb: Any,
            kernel_name: str,
            output_path: Any = None,
            progress_bar: Any = True,
            log_output: bool = False,
            autosave_cell_every: int = 30,
            **kwargs: Any,
        ) -> Any:
            # A forked document streams its cells to its parent, which rebuilds a partial
            # notebook if the document dies: saving after every cell is waste. papermill
            # writes the finished notebook itself; one whose run raised (a timeout) is
            # saved here, as papermill's own engine leaves it.
            forked = reporting()
            nb_man = NotebookExecutionManager(
                nb,
                output_path=None if forked else output_path,
                progress_bar=progress_bar,
                log_output=log_output,
                autosave_cell_every=autosave_cell_every,
            )
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            except BaseException:
                nb_man.output_path = output_path
                raise
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
            if kernel_language(kernel_name) != "python":
                # not ours to run: papermill's engine starts that kernel (or raises NoSuchKernel)
                return NBClientEngine.execute_managed_notebook(nb_man, kernel_name, **kwargs)
            if not reporting():  # in a forked child, its parent logs it
                log_kernel(kernel_name)
            sh = fresh_shell()
            nb = nb_man.nb
            emit("nb", nb)
            run_cells(nb_man, sh, **kwargs)
            # the ids job_result gives them: papermill then saves the notebook as it is kept
            fix_cell_ids(nb)
            return nb

    return InProcessEngine


def __getattr__(name: str) -> Any:
    # Built lazily: importing this module (or salesnb.batch.fastengine, whose InProcessEngine
    # the papermill entry point names) imports neither papermill nor IPython.
    if name == "InProcessEngine":
        cls = _papermill_engine_class()
        globals()["InProcessEngine"] = cls
        return cls
    raise AttributeError(f"module 'salesnb.batch.pmengine' has no attribute {name!r}")


def register_papermill_engine() -> None:
    """Make ``engine_name="salesnb"`` available to papermill in this process."""
    from papermill.engines import papermill_engines

    from salesnb.core import compat

    if PAPERMILL_ENGINE not in compat.papermill_engine_names():
        papermill_engines.register(PAPERMILL_ENGINE, __getattr__("InProcessEngine"))


def inprocess_execute(
    notebook: Path,
    parameters: dict[str, Any],
    output_path: Path,
    timeout: float | None,
    *,
    cwd: str | None = None,
) -> Execution:
    """Execute one notebook through papermill in this process (no isolation).

    ``timeout`` (seconds, the whole document) stops the cell running when it passes, as
    :func:`salesnb.batch.jobs.papermill_execute` does with papermill's engine; the partial
    notebook keeps that cell's outputs and execution count.
    """
    register_papermill_engine()
    return papermill_execute(
        notebook, parameters, output_path, timeout, cwd=cwd, engine_name=PAPERMILL_ENGINE
    )

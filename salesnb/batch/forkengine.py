"""The papermill engine ``salesnb-fork``: each notebook in a fork of the calling process.

``papermill --engine salesnb-fork in.ipynb out.ipynb`` (or ``engine_name="salesnb-fork"``
in ``papermill.execute_notebook``) runs the notebook's cells in an IPython shell of a
child process forked for it (:mod:`salesnb.batch.fastengine`'s in-process engine, in the
child). The notebook's state, signals, ``os._exit`` and crashes stay in the child; the
parent keeps papermill's notebook up to date as cells finish (autosave, progress bar),
stops a cell stuck past its timeout, and raises what papermill's own engine raises:
``CellTimeoutError`` for a cell over ``execution_timeout``, ``DeadKernelError`` when the
child died. A notebook whose kernel is not a Python one is handed to papermill's engine.

Nothing is imported ahead: the child imports what the notebook imports. A long-lived
process that warmed itself up first (:func:`salesnb.batch.fastengine.prepare`) forks warm
children; ``salesnb batch --engine fork`` does that for a whole batch.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import time
import traceback
from typing import Any

from salesnb.batch import capture, inshell, pmengine

PAPERMILL_ENGINE = "salesnb-fork"
#: How long after a cell's timeout a child that did not stop it itself is killed (seconds).
KILL_GRACE = 5.0
#: papermill's arguments for what becomes of each output; honoured in the parent.
OUTPUT_OPTIONS = ("log_output", "stdout_file", "stderr_file")


def _child(conn: Any, nb: Any, kernel_name: str, kwargs: dict[str, Any]) -> None:
    """In the forked child: run ``nb`` in-process, streaming each cell to the parent."""
    from papermill.engines import NotebookExecutionManager

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def progress(*event: Any) -> None:
        if event[0] == "running":
            conn.send(("running", event[1]))
        elif event[0] == "cell":
            conn.send(("cell", event[1], pickle.dumps(event[2], pickle.HIGHEST_PROTOCOL)))

    inshell.set_progress(progress)
    # papermill's log_output, stdout_file and stderr_file are the parent's: each output goes
    # there, between the cell's start and its end as it went in papermill's engine
    streams = {k: kwargs.pop(k, None) for k in OUTPUT_OPTIONS}
    if any(streams.values()):
        capture.set_output_sink(lambda out: conn.send(("output", out)))
    nb_man = NotebookExecutionManager(nb, output_path=None, progress_bar=False)
    nb_man.notebook_start()
    raised = None
    try:
        pmengine.InProcessEngine.execute_managed_notebook(nb_man, kernel_name, **kwargs)
    except Exception as exc:  # noqa: BLE001 -- the parent raises it as papermill's engine would
        raised = exc
    # the whole notebook: a display updated later (update_display) changed earlier cells
    conn.send(("end", pickle.dumps(nb_man.nb, pickle.HIGHEST_PROTOCOL), _pickled(raised)))


def _pickled(exc: BaseException | None) -> bytes | None:
    if exc is None:
        return None
    try:
        return pickle.dumps(exc)
    except Exception:  # noqa: BLE001 -- an exception that does not pickle: its text does
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return pickle.dumps(RuntimeError(text))


def run_forked(nb_man: Any, kernel_name: str, **kwargs: Any) -> None:
    """Execute ``nb_man``'s notebook in a forked child; update ``nb_man`` as cells finish.

    Raises ``DeadKernelError`` when the child died, ``CellTimeoutError`` when a cell ran
    past its timeout (the child stops it itself; a child that cannot is killed
    :data:`KILL_GRACE` seconds later), or what the child's engine raised.
    """
    from multiprocessing.connection import Pipe, wait

    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    if not hasattr(os, "fork"):
        msg = "The salesnb-fork engine needs os.fork (Linux, macOS). Fix: use papermill's engine."
        raise RuntimeError(msg)
    recv, send = Pipe(duplex=False)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            recv.close()
            _child(send, nb_man.nb, kernel_name, kwargs)
        except BaseException:  # noqa: BLE001 -- never return into the parent's code
            code = 70
        finally:
            os._exit(code)
    send.close()
    nb = nb_man.nb
    running: int | None = None
    started = ""  # when the running cell started
    deadline: float | None = None
    end = None
    streams = {k: kwargs.get(k) for k in OUTPUT_OPTIONS}
    try:
        while end is None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not wait([recv], timeout=left):
                os.kill(pid, signal.SIGKILL)
                cell = nb.cells[running] if running is not None else None
                raise CellTimeoutError.error_from_timeout_and_cell(
                    "Cell execution timed out", int(_timeout(cell, kwargs) or 0), cell
                )
            try:
                msg = recv.recv()
            except (EOFError, OSError):
                if running is not None:
                    _started(nb.cells[running], nb.cells[:running], started)
                raise DeadKernelError("Kernel died") from None
            if msg[0] == "running":
                running, started = msg[1], inshell.timestamp()
                nb_man.cell_start(nb.cells[running], running)
                limit = _timeout(nb.cells[running], kwargs)
                deadline = time.monotonic() + limit + KILL_GRACE if limit else None
            elif msg[0] == "output":
                capture.log_output_message(msg[1], **streams)
            elif msg[0] == "cell":
                nb.cells[msg[1]] = pickle.loads(msg[2])
                running = deadline = None
                # papermill's end of a cell (log line, autosave, progress bar); the child's
                # end time stays in the notebook it sends at the end
                nb_man.cell_complete(nb.cells[msg[1]], cell_index=msg[1])
            elif msg[0] == "end":
                end = msg
    finally:
        with contextlib.suppress(OSError):
            recv.close()
        if end is None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        if running is not None:  # what papermill's loop does for the cell it was running
            nb_man.cell_complete(nb.cells[running], cell_index=running)
    final = pickle.loads(end[1])
    nb.cells[:] = final.cells
    nb.metadata.update(final.metadata)
    if end[2] is not None:
        raise pickle.loads(end[2])


def _started(cell: Any, before: list[Any], when: str) -> None:
    """What a kernel had told nbclient of ``cell`` before it died: its execution count and
    when it started (nbclient's ``iopub.status.busy`` and ``iopub.execute_input``)."""
    if cell.cell_type != "code" or not cell.source.strip():
        return
    if inshell.SKIP_TAG in cell.metadata.get("tags", []):
        return
    counts = [c.get("execution_count") or 0 for c in before if c.cell_type == "code"]
    cell["execution_count"] = max(counts, default=0) + 1
    cell["metadata"]["execution"] = {"iopub.status.busy": when, "iopub.execute_input": when}


def _timeout(cell: Any, kwargs: dict[str, Any]) -> float | None:
    func = kwargs.get("timeout_func")
    value = func(cell) if func is not None and cell is not None else kwargs.get("execution_timeout")
    return value if value and value > 0 else None


def _engine_class() -> type:
    from papermill.engines import Engine, NBClientEngine

    class ForkEngine(Engine):
        """Papermill engine running each notebook in a forked child (see module docs)."""

        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
            if inshell.kernel_language(kernel_name) != "python":
                return NBClientEngine.execute_managed_notebook(nb_man, kernel_name, **kwargs)
            pmengine.log_kernel(kernel_name)
            run_forked(nb_man, kernel_name, **kwargs)
            return nb_man.nb

    return ForkEngine


def __getattr__(name: str) -> Any:
    # The entry point names salesnb.batch.forkengine:ForkEngine; built lazily so that importing
    # this module does not import papermill.
    if name == "ForkEngine":
        cls = _engine_class()
        globals()["ForkEngine"] = cls
        return cls
    raise AttributeError(f"module 'salesnb.batch.forkengine' has no attribute {name!r}")

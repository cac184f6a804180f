"""One document in a fork of a warmed process: forked, supervised, its partial notebook
rebuilt if it dies or runs past its timeout (:func:`fork_execute`, executor engine ``"fork"``).
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from salesnb.batch.ahead import (
    ImportRecorder,
    library_modules,
    preloaded,
    ready_for,
    warm_imports,
)
from salesnb.batch.inshell import Progress, emit, set_progress
from salesnb.batch.jobs import (
    EngineSpec,
    Execution,
    Job,
    add_error_banner,
    execute_job,
    now_iso,
    running_cell,
)
from salesnb.batch.pmengine import inprocess_execute
from salesnb.batch.warmup import converters, parent_death_signal, prepare

_KILL_GRACE = 5.0

# --------------------------------------------------------------------------- one forked document


@dataclass
class Child:
    """A forked document as its parent sees it: pid, pipe, deadline and streamed cells."""

    job: Job
    pid: int
    conn: Any
    deadline: float | None
    started: str
    t0: float
    nb: bytes | None = None  # pickled, as the child sent it (see _progress_message)
    cells: dict[int, bytes] = field(default_factory=dict)
    running: int | None = None
    outcome: Any = None
    ended: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    converter: Any = None

    def partial_notebook(self) -> Any:
        """The notebook as far as the child got (None if it never started one)."""
        if self.nb is None:
            return None
        nb = pickle.loads(self.nb)
        for index, cell in self.cells.items():
            nb.cells[index] = pickle.loads(cell)
        return nb

    def receive(self) -> bool:
        """Handle one message; False once the pipe closed (the child is gone)."""
        try:
            msg = self.conn.recv()
        except (EOFError, OSError):
            return False
        if msg[0] == "both":  # a finished cell and the start of the next (see Progress)
            self._take(msg[1])
            self._take(msg[2])
        else:
            self._take(msg)
        return True

    def _take(self, msg: tuple) -> None:
        kind = msg[0]
        if kind == "nb":
            self.nb, self.cells = msg[1], {}
        elif kind == "running":
            self.running = msg[1]
        elif kind == "cell" and self.nb is not None:
            self.cells[msg[1]] = msg[2]
        elif kind in ("result", "execution"):
            self.outcome = msg[1]
        elif kind == "crash":
            self.extra["crash"] = msg[1]
        elif kind in ("imports", "shared"):
            self.extra[kind] = msg[1]
        elif kind == "ask":
            reply = _answer(*msg[1:])
            try:
                self.conn.send(reply)
            except (OSError, ValueError):  # the child is gone; its failure shows elsewhere
                pass
            except Exception:  # noqa: BLE001 -- the value does not pickle: the child computes it
                with contextlib.suppress(OSError, ValueError):
                    self.conn.send(("none",))

    def reap(self, kill: bool = False) -> int:
        if kill:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            status = 0
        with contextlib.suppress(OSError):
            self.conn.close()
        self.ended = True
        return status

    def failure(self, kind: str) -> Execution:
        """The failed Execution of a child that was killed (timeout) or died."""
        self.extra["rebuilt"] = True
        duration = time.monotonic() - self.t0
        if kind == "timeout":
            limit = self.job.timeout or 0
            error = {
                "kind": "timeout", "ename": "Timeout", "cell": None,
                "evalue": f"the document did not finish within {limit:g} s",
                "lines": [(f"Timeout: the document did not finish within {limit:g} s. "
                           "Fix: raise --timeout or find the slow cell.")],
            }  # fmt: skip
        elif "crash" in self.extra:  # the engine itself failed, not the notebook
            text = str(self.extra["crash"]).strip().splitlines()
            error = {
                "kind": "engine", "ename": "EngineError", "cell": None,
                "evalue": text[-1] if text else "engine failure",
                "lines": [f"EngineError: {text[-1] if text else 'engine failure'}", *text[-5:-1]],
            }  # fmt: skip
        else:
            error = {
                "kind": "kernel-died", "ename": "DeadKernelError", "cell": None,
                "evalue": "Kernel died",
                "lines": [("DeadKernelError: the kernel process died (crash, out of memory, "
                           "or os._exit) while running the notebook.")],
            }  # fmt: skip
        nb = self.partial_notebook()
        if nb is not None:
            _finish_partial(nb, self.running)
            error["cell"] = running_cell(nb)
            add_error_banner(nb, error["kind"], error["evalue"], error["cell"])
        return Execution("failed", duration, error, nb=nb)


def _finish_partial(nb: Any, running: int | None) -> None:
    """What papermill's notebook_complete leaves in a notebook whose kernel stopped."""
    meta = nb.metadata.get("papermill", {})
    end = datetime.now(UTC)
    meta["end_time"] = end.isoformat()
    if meta.get("start_time"):
        meta["duration"] = (end - datetime.fromisoformat(meta["start_time"])).total_seconds()
    if running is not None and 0 <= running < len(nb.cells):
        nb.cells[running].metadata.setdefault("papermill", {})["status"] = "running"
    for cell in nb.cells:
        pm = cell.metadata.get("papermill", {})
        if pm.get("status") == "failed":
            break
        if pm.get("status") == "pending":
            pm["status"] = "completed"


def fork_document(job: Job, *, render: bool, converter: Any = None, ask: bool = False) -> Child:
    """Fork a child that executes ``job`` (and renders it when ``render``), drawing SVG
    through ``converter`` (default: this process's first one). With ``ask``, the child asks
    this process for the shared results it lacks (this process must answer: the zygote)."""
    from multiprocessing.connection import Pipe

    recv, send = Pipe(duplex=ask)
    started, t0 = now_iso(), time.monotonic()
    parent = os.getpid()
    flush_real_streams()
    # The cyclic GC walks every object it tracks, which writes to each one's header: in a
    # child that copies nearly the whole parent page by page. Frozen objects are not walked.
    gc.freeze()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            recv.close()
            _child_main(job, send, parent, render, converter, ask)
            code = 0
        except BaseException:  # noqa: BLE001 -- report and exit; never return into the parent
            with contextlib.suppress(Exception):
                emit("flush")  # the cells it finished first
                send.send(("crash", traceback.format_exc()))
        finally:
            os._exit(code)
    send.close()
    # the document stops itself at its timeout (its partial notebook then keeps the running
    # cell's outputs); one that cannot (stuck in C code) is killed a little later
    deadline = t0 + job.timeout + _KILL_GRACE if job.timeout else None
    return Child(job, pid, recv, deadline, started, t0, converter=converter)


def flush_real_streams() -> None:
    # buffered text would otherwise be written twice, by the parent and by the child
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _child_main(
    job: Job,
    conn: Any,
    parent: int,
    render: bool,
    converter: Any = None,
    ask: bool = False,
) -> None:
    parent_death_signal()
    if os.getppid() != parent:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _fresh_warnings()
    from salesnb.reports import chartrender

    conv = converter or next(iter(converters()), None)
    if conv is not None:
        chartrender.set_svg_converter(conv.client)
    progress = Progress(conn)
    set_progress(progress)
    if ask:
        from salesnb.data import memo

        memo.set_source(_asker(conn))
    spec = EngineSpec("salesnb-inprocess", inprocess_execute)
    imported = ImportRecorder()
    sys.meta_path.insert(0, imported)
    if render:
        outcome = ("result", execute_job(job, spec))
    else:
        out = Path(job.output_path)  # type: ignore[attr-defined]
        ex = inprocess_execute(
            Path(job.notebook), dict(job.parameters), out, job.timeout, cwd=job.cwd
        )
        outcome = ("execution", ex)
    progress.flush()
    # what this document imported that its parent had not: the parent imports it for the next
    conn.send(("imports", library_modules(set(imported.names))))
    from salesnb.data import memo

    conn.send(("shared", memo.asked()))  # names and arguments only, never the results
    conn.send(outcome)


def _asker(conn: Any) -> Callable[[str, tuple, tuple], tuple[bool, Any]]:
    """A :func:`salesnb.data.memo.set_source` that asks the zygote over ``conn`` (see :func:`_answer`)."""

    def ask(name: str, token: tuple, args: tuple) -> tuple[bool, Any]:
        from salesnb.data import memo

        try:
            conn.send(("ask", name, token, args))
            reply = conn.recv()
        except Exception:  # noqa: BLE001 -- zygote gone or arguments not picklable: compute here
            memo.set_source(None)
            return False, None
        return (True, reply[1]) if reply[0] == "value" else (False, None)

    return ask


def _answer(name: str, token: tuple, args: tuple) -> tuple:
    """A document's ask: the shared result computed here, from this process's own data."""
    from salesnb.data import memo

    for wb in preloaded():
        if memo.token(wb) == token:
            try:
                return ("value", memo.compute(name, wb, args))
            except Exception:  # noqa: BLE001 -- the document computes it and reports why
                return ("none",)
    return ("none",)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Print a warning as CPython's own printer does (``warnings.formatwarning``)."""
    import warnings

    out = file if file is not None else sys.stderr
    if out is not None:
        with contextlib.suppress(OSError):
            out.write(warnings.formatwarning(message, category, filename, lineno, line))


def _fresh_warnings() -> None:
    """Warning filters as in a new kernel, whatever the forked host (pytest, a notebook) set."""
    from salesnb.core import compat

    warnings.resetwarnings()
    # replaces whatever printer the host had (pytest's catch_warnings records into a list)
    warnings.showwarning = _show_warning
    # CPython's defaults, then -W/PYTHONWARNINGS, then IPython's own for the user namespace
    for category in (ResourceWarning, ImportWarning, PendingDeprecationWarning, DeprecationWarning):
        warnings.simplefilter("ignore", category)
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
    compat.apply_warning_options(sys.warnoptions)
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")


def supervise(child: Child) -> None:
    """Wait for one child: its outcome, or a failure after a timeout or death."""
    from multiprocessing.connection import wait

    while not child.ended:
        left = None if child.deadline is None else child.deadline - time.monotonic()
        if left is not None and left <= 0:
            child.reap(kill=True)
            child.outcome = child.failure("timeout")
            return
        if wait([child.conn], timeout=left) and not child.receive():
            child.reap()
            if child.outcome is None:
                child.outcome = child.failure("died")
            return


def fork_execute(
    notebook: Path,
    parameters: dict[str, Any],
    output_path: Path,
    timeout: float | None,
    *,
    cwd: str | None = None,
) -> Execution:
    """Executor engine ``"fork"``: execute one notebook in a fork of this (warmed) process.

    The parent stays clean: it imports and warms up once (:func:`prepare`), each call
    forks a child for the document. ``timeout`` (seconds, whole document) kills the
    child; a child that dies fails only this document. Never raises for notebook
    failures; the executed or partial notebook is written to ``output_path``.

    Examples
    --------
    >>> ex = fork_execute(Path("tests/notebooks/ok.ipynb"), {"subject": "R01"},
    ...                   Path("/tmp/out.ipynb"), 60)  # doctest: +SKIP
    >>> ex.status                                      # doctest: +SKIP
    'ok'
    """
    import nbformat

    prepare()
    ready_for(notebook, parameters)
    job = _OneShot(str(notebook), dict(parameters), timeout, cwd, str(output_path))
    child = fork_document(job, render=False)  # type: ignore[arg-type]
    supervise(child)
    warm_imports(child.extra.get("imports", ()))
    ex = child.outcome
    if not isinstance(ex, Execution):
        ex = child.failure("died")
    if child.extra.get("rebuilt") and ex.nb is not None:
        nbformat.write(ex.nb, str(output_path))  # papermill in the child did not get to it
    return ex


@dataclass(frozen=True)
class _OneShot:
    """The little :func:`fork_execute` needs to know of a document."""

    notebook: str
    parameters: dict[str, Any]
    timeout: float | None
    cwd: str | None
    output_path: str
    key: str = ""

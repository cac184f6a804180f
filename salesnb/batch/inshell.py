"""The in-process engine's shell: an IPython shell recording outputs as a kernel's, and
papermill's cell loop on it (tags, timeouts, errors, ``metadata.execution``).

A document forked from a warmed process runs here (:mod:`salesnb.batch.forkdoc`), and so
does ``papermill --engine salesnb`` (:mod:`salesnb.batch.pmengine`).
"""

from __future__ import annotations

import contextlib
import functools
import pickle
import sys
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from salesnb.batch.capture import (
    Capture,
    current_capture,
    flush_streams,
    kernel_io,
    output_listener,
)


def _shell_classes() -> tuple[type, type, type]:
    """The shell, display publisher and display hook classes (IPython imported lazily)."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    class Publisher(DisplayPublisher):
        def publish(
            self,
            data: dict,
            metadata: dict | None = None,
            source: Any = None,
            *,
            transient: dict | None = None,
            update: bool = False,
            **kwargs: Any,
        ) -> None:
            flush_streams()
            self._validate_data(data, metadata)
            content = {"data": data, "metadata": metadata or {}, "transient": transient or {}}
            current_capture().message("update_display_data" if update else "display_data", content)

        def clear_output(self, wait: bool = False) -> None:
            flush_streams()
            current_capture().clear(wait)

    class Hook(DisplayHook):
        msg: dict[str, Any] | None = None

        def start_displayhook(self) -> None:
            self.msg = {"data": {}, "metadata": {}}

        def write_output_prompt(self) -> None:
            if self.msg is not None:
                self.msg["execution_count"] = self.prompt_count

        def write_format_data(self, format_dict: dict, md_dict: dict | None = None) -> None:
            if self.msg is not None:
                self.msg["data"], self.msg["metadata"] = format_dict, md_dict

        def finish_displayhook(self) -> None:
            flush_streams()
            if self.msg and self.msg["data"]:
                current_capture().message("execute_result", self.msg)
            self.msg = None

    # "zmq" in the class name: pandas (and others) detect a notebook front end by it and
    # format output for one (e.g. no terminal-width wrapping), as in a kernel.
    class ZMQCompatibleShell(InteractiveShell):
        """An IPython shell whose outputs are recorded as a Jupyter kernel's would be."""

        displayhook_class = Hook
        display_pub_class = Publisher

        #: the request of the cell running now, as in ipykernel's shell
        parent_header: dict[str, Any] = {}  # noqa: RUF012 -- replaced per cell, never mutated

        def get_parent(self) -> dict[str, Any]:
            return self.parent_header

        def set_parent(self, parent: dict[str, Any]) -> None:
            self.parent_header = parent

        def showtraceback(self, *args: Any, **kwargs: Any) -> None:
            from salesnb.batch import kernelshim

            kernelshim.cell_over()  # before formatting, which can take a while
            super().showtraceback(*args, **kwargs)

        def _showtraceback(self, etype: type, evalue: BaseException, stb: list[str]) -> None:
            flush_streams()
            from salesnb.batch.kernelshim import CellStopped

            if isinstance(evalue, CellStopped):  # a timeout or SIGTERM: the engine reports it
                return
            content = {"traceback": stb, "ename": str(etype.__name__), "evalue": str(evalue)}
            current_capture().message("error", content)
            self._last_traceback = stb

        def init_virtualenv(self) -> None:
            """A kernel does no virtualenv detection (ipykernel overrides it the same way)."""

    return ZMQCompatibleShell, Publisher, Hook


_SHELL: dict[str, Any] = {}


def shell() -> Any:
    """The process's recording shell (created once; kept free of any notebook's state).

    Examples
    --------
    >>> shell().execution_count  # doctest: +SKIP
    1
    """
    if "shell" not in _SHELL:
        from traitlets.config import Config

        cls, _, _ = _shell_classes()
        kwargs: dict[str, Any] = {}
        with contextlib.suppress(ImportError):
            # a kernel's cell file names (/tmp/ipykernel_PID/HASH.py), shown in warnings
            from ipykernel.compiler import XCachingCompiler

            kwargs["compiler_class"] = XCachingCompiler
        # In-memory history, as nbclient asks of a kernel (no file, no saving thread, which
        # would not survive fork either)
        config = Config({"HistoryManager": {"hist_file": ":memory:"}})
        _SHELL["shell"] = cls.instance(config=config, **kwargs)
        _main_spec(_SHELL["shell"])
    return _SHELL["shell"]


def fresh_shell() -> Any:
    """The recording shell as a fresh kernel's: its namespace and history reset when a
    notebook ran in it before, numbered from 1 whatever the process ran before it forked.

    Examples
    --------
    >>> fresh_shell().execution_count  # doctest: +SKIP
    1
    """
    sh = shell()
    if _SHELL.get("used"):
        sh.reset(new_session=True)
        _main_spec(sh)
    _SHELL["used"] = True
    sh.execution_count = 1
    return sh


def _main_spec(sh: Any) -> None:
    # IPython puts the shell's namespace in sys.modules["__main__"]; a kernel's has __spec__
    # (None), which multiprocessing's spawn start reads -- a reset must not take it away.
    sh.user_ns.setdefault("__spec__", None)


def timestamp() -> str:
    """Now, UTC, as nbclient stamps ``metadata.execution`` (``2026-01-31T09:00:00.000000Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _language_info() -> dict[str, Any]:
    # What ipykernel reports (IPythonKernel.language_info), without importing the kernel.
    return {
        "codemirror_mode": {"name": "ipython", "version": sys.version_info[0]},
        "file_extension": ".py",
        "mimetype": "text/x-python",
        "name": "python",
        "nbconvert_exporter": "python",
        "pygments_lexer": "ipython3",
        "version": sys.version.split()[0],
    }


#: Set in a forked child: called with ("nb", nb), ("running", i), ("cell", i, cell) and
#: ("flush",) (see :class:`Progress`).
_PROGRESS: dict[str, Callable[..., None] | None] = {"fn": None}


def _progress_message(event: tuple) -> tuple:
    """``event`` as sent to the parent: the notebook and cells already pickled.

    The parent keeps them only to rebuild a partial notebook should the child die; it
    unpickles them then, not for every cell of every document (most of its own CPU time).
    """
    if event[0] in ("nb", "cell"):
        return (*event[:-1], pickle.dumps(event[-1], protocol=pickle.HIGHEST_PROTOCOL))
    return event


class Progress:
    """A forked document's progress, sent to its parent: a finished cell goes together with
    the start of the next one (one message, where each was one: 25 fewer per review)."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.held = conn, None

    def __call__(self, *event: Any) -> None:
        if event[0] == "flush":
            self.flush()
            return
        msg = _progress_message(event)
        if event[0] == "cell":
            self.flush()
            self.held = msg
        elif self.held is not None:
            held, self.held = self.held, None
            self.conn.send(("both", held, msg))
        else:
            self.conn.send(msg)

    def flush(self) -> None:
        if self.held is not None:
            held, self.held = self.held, None
            self.conn.send(held)


def set_progress(fn: Callable[..., None] | None) -> None:
    """Have the in-process engine report its progress to ``fn`` (None: stop reporting).

    ``fn`` is called with ``("nb", nb)`` before the first cell, ``("running", index)`` as a
    cell starts, ``("cell", index, cell)`` once it finished and ``("flush",)`` at the end.
    A process that reports its progress is taken to be a forked child whose parent keeps
    the notebook: the engine then saves it only once, at the end.

    Examples
    --------
    >>> set_progress(None)
    """
    _PROGRESS["fn"] = fn


def reporting() -> bool:
    """Whether this process reports its progress (:func:`set_progress`): a forked child.

    Examples
    --------
    >>> reporting()
    False
    """
    return _PROGRESS["fn"] is not None


def emit(*event: Any) -> None:
    fn = _PROGRESS["fn"]
    if fn is not None:
        fn(*event)


SKIP_TAG = "skip-execution"  # nbclient's skip_cells_with_tag
RAISES_TAG = "raises-exception"


def execute_cell(
    sh: Any, cap: Capture, cell: Any, index: int, timeout: float | None = None
) -> bool:
    """Run one cell as a kernel would for nbclient; True when it raised.

    ``timeout`` (seconds) stops the cell as nbclient does: :class:`salesnb.batch.kernelshim.
    CellStopped` is raised in it and, once it returned, nbclient's ``CellTimeoutError``
    here. A SIGTERM received meanwhile (see :func:`salesnb.batch.kernelshim.sigterm_guard`)
    raises nbclient's ``DeadKernelError``.
    """
    from salesnb.batch import kernelshim

    if cell.cell_type != "code" or not cell.source.strip():
        return False
    if SKIP_TAG in cell.metadata.get("tags", []):
        return False
    timing: dict[str, str] = {}
    kernel = getattr(sh, "kernel", None)
    if kernel is not None:
        sh.parent_header = kernel.new_parent()
    timing["iopub.status.busy"] = timestamp()
    cell.outputs = []
    cap.start_cell(index, cell.outputs)
    cell["execution_count"] = sh.execution_count
    timing["iopub.execute_input"] = timestamp()
    stopped = result = None
    deadline = {"fired": False}
    try:
        with kernelshim.cell_deadline(timeout) as deadline:
            result = sh.run_cell(cell.source, store_history=True, silent=False)
    except (kernelshim.CellStopped, KeyboardInterrupt) as exc:  # outside the cell's own code
        if not (deadline["fired"] or isinstance(exc, kernelshim.CellStopped)):
            raise  # a Ctrl-C of the host's own
        stopped = exc
    if result is not None and isinstance(result.error_in_exec, kernelshim.CellStopped):
        stopped = result.error_in_exec
    flush_streams()
    if cap.widgets is not None:
        cap.widgets.after_cell()
    if isinstance(stopped, kernelshim.CellStopped) and stopped.why == "sigterm":
        from nbclient.exceptions import DeadKernelError

        cell["metadata"]["execution"] = timing  # the kernel never replied, as nbclient records
        raise DeadKernelError(
            "Kernel died: the notebook's process received SIGTERM (the notebook may have "
            "signalled itself). The in-process engine cannot isolate a notebook from its "
            "host process; use the salesnb-fork engine for isolation."
        )
    if deadline["fired"] or stopped is not None:
        from nbclient.exceptions import CellTimeoutError

        if not isinstance(stopped, kernelshim.CellStopped):
            timing["iopub.status.idle"] = timestamp()  # the interrupted kernel's idle
        cell["metadata"]["execution"] = timing
        raise CellTimeoutError.error_from_timeout_and_cell(
            "Cell execution timed out", int(timeout or 0), cell
        )
    timing["shell.execute_reply"] = timestamp()
    timing["iopub.status.idle"] = timestamp()
    # set once filled: a NotebookNode stores a copy of a dict assigned to it
    cell["metadata"]["execution"] = timing
    return not result.success


@functools.cache
def kernel_language(name: str) -> str | None:
    """The language of the kernelspec ``name`` (lower case); None when no such kernel.

    Examples
    --------
    >>> kernel_language("python3")
    'python'
    """
    if name in ("python3", "python"):  # jupyter_client's native kernel (and its alias)
        return "python"
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        return str(KernelSpecManager().get_kernel_spec(name).language).lower()
    except (NoSuchKernel, OSError, ValueError):
        return None


def _cell_timeout(cell: Any, execution_timeout: Any, timeout_func: Any) -> float | None:
    """nbclient's ``_get_timeout``: ``timeout_func(cell)`` when given, else the timeout."""
    timeout = timeout_func(cell) if timeout_func is not None else execution_timeout
    return timeout if timeout and timeout > 0 else None


@contextlib.contextmanager
def root_logging_kept() -> Iterator[None]:
    """The root logger's handlers and level as they were before, once the block ends.

    A notebook's ``logging.basicConfig()`` sets up the root logger of the process it runs in:
    a kernel's, which ends with the notebook. In-process, the next notebook would find it set
    up already (its own ``basicConfig`` then does nothing) and papermill's own log records
    would reach the notebook's handler.

    Examples
    --------
    >>> import logging
    >>> with root_logging_kept():
    ...     logging.getLogger().addHandler(logging.NullHandler())
    >>> any(isinstance(h, logging.NullHandler) for h in logging.getLogger().handlers)
    False
    """
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def run_cells(nb_man: Any, sh: Any, **options: Any) -> None:
    """Papermill's cell loop (``papermill_execute_cells``) on the in-process shell ``sh``.

    ``options``: nbclient's ``execution_timeout`` (seconds a cell), ``timeout_func``,
    ``allow_errors``; papermill's ``log_output``, ``stdout_file``, ``stderr_file`` (see
    :func:`log_output_message`). Raises what nbclient raises: ``CellTimeoutError`` for a cell over
    its timeout, ``DeadKernelError`` when the process got SIGTERM.
    """
    from salesnb.batch import kernelshim

    nb = nb_man.nb
    allow_errors = bool(options.get("allow_errors"))
    # warning filters and the root logger's handlers and level a notebook sets stay in its
    # run (as a kernel's end with the kernel)
    # in a forked child SIGTERM ends the child, as it ends a kernel; in the host process it
    # would end the host, so it stops the notebook instead
    forked = _PROGRESS["fn"] is not None
    with (
        kernel_io(nb) as cap,
        kernelshim.no_stdin(),
        contextlib.nullcontext() if forked else kernelshim.sigterm_guard(),
        warnings.catch_warnings(),
        root_logging_kept(),
    ):
        kernel = kernelshim.Kernel(cap.kernel_message)
        cap.widgets = kernelshim.WidgetRecorder(kernel)
        cap.listener = output_listener(options)
        sh.kernel = kernel
        try:
            with kernelshim.comms(kernel):
                for index, cell in enumerate(nb.cells):
                    failed = False
                    try:
                        with cap.host_streams():  # papermill logs there (log_output)
                            nb_man.cell_start(cell, index)
                        emit("running", index)
                        timeout = _cell_timeout(
                            cell, options.get("execution_timeout"), options.get("timeout_func")
                        )
                        failed = execute_cell(sh, cap, cell, index, timeout)
                        # nbclient raises CellExecutionError unless the cell may fail
                        failed = failed and not (
                            allow_errors or RAISES_TAG in cell.metadata.get("tags", [])
                        )
                        if failed:
                            nb_man.cell_exception(nb.cells[index], cell_index=index)
                    finally:
                        with cap.host_streams():
                            nb_man.cell_complete(nb.cells[index], cell_index=index)
                        emit("cell", index, nb.cells[index])
                    if failed:
                        break
        finally:
            sh.kernel = None
    emit("flush")  # the last cell reaches the parent before the document renders
    nb.metadata["language_info"] = _language_info()
    widgets = cap.widgets.widgets_metadata()
    if widgets:
        nb.metadata["widgets"] = widgets

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
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import io
import os
import pickle
import signal
import socket
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from salesnb.batch import executor
from salesnb.core.errors import BatchError

#: What the zygote imports before forking any document: what every document needs to run
#: and render. A notebook's own imports are added per notebook (:func:`notebook_imports`),
#: and what its first documents import on top is learned (:func:`warm_imports`).
PRELOAD_MODULES = (
    "numpy",
    "pandas",
    "altair",
    "IPython.display",
    "nbformat",
    "nbconvert",
    "papermill",
    "jupyter_client.session",
    "salesnb.data.io",
    "salesnb.reports.subject",
    "salesnb.reports.charts",
    "salesnb.reports.chartrender",
    "salesnb.reports.record",
    "salesnb.reports.render",
)
#: Never imported ahead: they start threads or runtimes, which do not survive a fork.
_NOT_AHEAD = ("vl_convert", "dask", "distributed", "tornado", "zmq", "ipykernel", "__main__",
              "__mp_main__", "tqdm", "matplotlib.pyplot")  # fmt: skip
PAPERMILL_ENGINE = "salesnb"
_KILL_GRACE = 5.0

# What ipykernel's shell sets in a kernel's environment (ZMQInteractiveShell.init_environment).
_KERNEL_ENV = {
    "TERM": "xterm-color",
    "CLICOLOR": "1",
    "FORCE_COLOR": "1",
    "CLICOLOR_FORCE": "1",
    "PAGER": "cat",
    "GIT_PAGER": "cat",
}


# --------------------------------------------------------------------------- recording shell


class _Capture:
    """One notebook's outputs, recorded as nbclient records a kernel's messages."""

    def __init__(self, nb: Any) -> None:
        self.nb = nb
        self.outs: list[Any] = []
        self.cell_index = -1
        self.clear_before_next = False
        self.display_ids: dict[str, dict[int, list[int]]] = {}
        #: comms and Output widgets, as nbclient records them (set by the engine)
        self.widgets: Any = None
        #: called with each output a cell got (not one an Output widget took), as papermill's
        #: engine hands each to ``log_output_message`` (set by the engine)
        self.listener: Callable[[Any], None] | None = None
        #: the host process's own ``sys.stdout``, ``sys.stderr`` (set by :func:`_kernel_io`)
        self.host: tuple[Any, Any] = (sys.stdout, sys.stderr)

    def start_cell(self, index: int, outs: list[Any]) -> None:
        self.cell_index, self.outs, self.clear_before_next = index, outs, False

    def kernel_message(self, msg_type: str, content: dict[str, Any], buffers: list[Any]) -> None:
        """A message the notebook sent on the kernel's iopub socket (see salesnb.batch.kernelshim)."""
        if msg_type in ("stream", "display_data", "execute_result", "error", "update_display_data"):
            _flush_streams()
            self.message(msg_type, content)
        elif msg_type == "clear_output":
            _flush_streams()
            self.clear(bool(content.get("wait")))
        elif msg_type.startswith("comm") and self.widgets is not None:
            from jupyter_client.session import json_packer, json_unpacker

            self.widgets.comm_message(msg_type, json_unpacker(json_packer(content)), buffers)

    def _hook(self) -> Any:
        return self.widgets.hook() if self.widgets is not None else None

    def _as_msg(self, msg_type: str, content: dict[str, Any]) -> dict[str, Any]:
        return self.widgets.kernel.session.msg(msg_type, content, parent=self.widgets.kernel.parent)

    def message(self, msg_type: str, content: dict[str, Any]) -> None:
        from jupyter_client.session import json_packer, json_unpacker

        # Kernel messages travel as JSON: what reaches the notebook is what survives it.
        content = json_unpacker(json_packer(content))
        transient = content.get("transient")
        display_id = transient.get("display_id") if transient else None
        if display_id and msg_type in {"execute_result", "display_data", "update_display_data"}:
            self._update_display_id(display_id, content)
        if msg_type == "update_display_data":
            return
        hook = self._hook()
        if hook is not None:  # inside `with out:` of an ipywidgets Output widget
            hook.output(self.outs, self._as_msg(msg_type, content), display_id, self.cell_index)
            return
        out = output_node(msg_type, content)
        if self.clear_before_next:
            self.outs[:] = []
            self._clear_ids()
            self.clear_before_next = False
        if display_id:
            cells = self.display_ids.setdefault(display_id, {})
            cells.setdefault(self.cell_index, []).append(len(self.outs))
        self.outs.append(out)
        if self.listener is not None:
            with self.host_streams():
                self.listener(out)

    @contextlib.contextmanager
    def host_streams(self) -> Iterator[None]:
        """The host's own ``sys.stdout``/``sys.stderr`` meanwhile, as papermill's engine logs
        and writes in a process whose streams are its own (a log handler that looks
        ``sys.stderr`` up when it writes must not write into the cell)."""
        inner = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = self.host
        _HOSTED["depth"] += 1
        try:
            yield
        finally:
            _HOSTED["depth"] -= 1
            sys.stdout, sys.stderr = inner

    def clear(self, wait: bool) -> None:
        hook = self._hook()
        if hook is not None:  # clears the Output widget, not the cell
            hook.clear_output(self.outs, self._as_msg("clear_output", {"wait": wait}), 0)
            return
        if wait:
            self.clear_before_next = True
        else:
            self.outs[:] = []
            self._clear_ids()

    def _clear_ids(self) -> None:
        for cells in self.display_ids.values():
            if self.cell_index in cells:
                cells[self.cell_index] = []

    def _update_display_id(self, display_id: str, content: dict[str, Any]) -> None:
        for cell_index, positions in self.display_ids.get(display_id, {}).items():
            outputs = self.outs if cell_index == self.cell_index else None
            if outputs is None:
                outputs = self.nb.cells[cell_index].get("outputs", [])
            for i in positions:
                if i < len(outputs):
                    outputs[i]["data"] = content["data"]
                    outputs[i]["metadata"] = content["metadata"]


_CAPTURE: dict[str, _Capture | None] = {"now": None}


def log_output_message(
    output: Any, *, log_output: bool = False, stdout_file: Any = None, stderr_file: Any = None
) -> None:
    """What papermill's engine does with each output of a cell (``PapermillNotebookClient.
    log_output_message``): with ``log_output``, stdout text logged at INFO and stderr text at
    WARNING on the ``papermill`` logger, a display's ``text/plain`` at INFO; stdout and stderr
    text written (and flushed) to ``stdout_file`` and ``stderr_file`` when given.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> log_output_message(output_node("stream", {"name": "stdout", "text": "hi"}), stdout_file=out)
    >>> out.getvalue()
    'hi'
    """
    from papermill.log import logger

    if output.get("output_type") == "stream":
        content = "".join(output["text"])
        if output["name"] == "stdout":
            if log_output:
                logger.info(content)
            if stdout_file:
                stdout_file.write(content)
                stdout_file.flush()
        elif output["name"] == "stderr":
            if log_output:
                logger.warning(content)
            if stderr_file:
                stderr_file.write(content)
                stderr_file.flush()
    elif log_output and "data" in output and "text/plain" in output["data"]:
        logger.info("".join(output["data"]["text/plain"]))


#: Set in the fork engine's child: where each output goes instead (its parent logs it).
_OUTPUT_SINK: dict[str, Callable[[Any], None] | None] = {"fn": None}


def set_output_sink(fn: Callable[[Any], None] | None) -> None:
    """Hand each output a cell gets to ``fn`` instead of logging it or writing it to papermill's
    ``stdout_file``/``stderr_file`` here (None: do that here again). The fork engine's child
    sends them to its parent, whose logger and files are the ones papermill was given.

    Examples
    --------
    >>> set_output_sink(None)
    """
    _OUTPUT_SINK["fn"] = fn


def _output_listener(options: dict[str, Any]) -> Callable[[Any], None] | None:
    """What each output is handed to for papermill's ``log_output``, ``stdout_file`` and
    ``stderr_file`` (``options``: the engine's arguments); None when none is asked for."""
    if _OUTPUT_SINK["fn"] is not None:
        return _OUTPUT_SINK["fn"]
    wanted = {k: options.get(k) for k in ("log_output", "stdout_file", "stderr_file")}
    if not any(wanted.values()):
        return None
    return functools.partial(log_output_message, **wanted)


def output_node(msg_type: str, content: dict[str, Any]) -> Any:
    """The output ``nbformat.v4.output_from_msg`` makes of a kernel message, unvalidated.

    nbformat validates each output against the notebook schema as it makes it (about 4 ms of
    a pipeline review's outputs); the notebook is validated whole when written, as papermill
    writes it, so the per-output check is left out. Same keys, same order, same node types.

    Examples
    --------
    >>> output_node("stream", {"name": "stdout", "text": "hi"})
    {'output_type': 'stream', 'name': 'stdout', 'text': 'hi'}
    """
    from nbformat import NotebookNode

    out = NotebookNode(output_type=msg_type)
    if msg_type == "stream":
        out["name"], out["text"] = content["name"], content["text"]
    elif msg_type in ("display_data", "execute_result"):
        out["metadata"], out["data"] = content["metadata"], content["data"]
        if msg_type == "execute_result":
            out["execution_count"] = content["execution_count"]
    elif msg_type == "error":
        out["ename"], out["evalue"] = content["ename"], content["evalue"]
        out["traceback"] = content["traceback"]
    else:
        raise ValueError(f"Unrecognized output msg type: {msg_type!r}")
    return out


def _capture() -> _Capture:
    cap = _CAPTURE["now"]
    if cap is None:  # output outside a notebook run (a library printing at import)
        import nbformat

        cap = _Capture(nbformat.v4.new_notebook())
        _CAPTURE["now"] = cap
    return cap


#: Above 0 while the engine logs or writes for papermill (``Capture.host_streams``).
_HOSTED = {"depth": 0}


class _OutStream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` of a kernel: buffered text, one stream output per flush.

    What is written to it while the engine logs for papermill, or once its notebook's run
    ended, goes to the host's own stream (``host``) instead: a log handler a notebook set up
    (``logging.basicConfig()`` keeps the ``sys.stderr`` of that moment) is the host's after
    all, in a process the notebook shares with it; in a kernel it would have stayed there.
    """

    def __init__(self, name: str, host: Any = None) -> None:
        self.name_ = name
        self.parts: list[str] = []
        self.host = host
        self.detached = False

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"<{self.name_}>"

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "UTF-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            msg = f"write() argument must be str, not {type(text).__name__}"
            raise TypeError(msg)
        if text and (self.detached or _HOSTED["depth"]) and self.host is not None:
            return self.host.write(text)
        if text:
            self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        if (self.detached or _HOSTED["depth"]) and self.host is not None:
            with contextlib.suppress(Exception):
                self.host.flush()
            return
        if self.parts:
            text, self.parts = "".join(self.parts), []
            _capture().message("stream", {"name": self.name_, "text": text})


def _flush_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


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
            _flush_streams()
            self._validate_data(data, metadata)
            content = {"data": data, "metadata": metadata or {}, "transient": transient or {}}
            _capture().message("update_display_data" if update else "display_data", content)

        def clear_output(self, wait: bool = False) -> None:
            _flush_streams()
            _capture().clear(wait)

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
            _flush_streams()
            if self.msg and self.msg["data"]:
                _capture().message("execute_result", self.msg)
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
            _flush_streams()
            from salesnb.batch.kernelshim import CellStopped

            if isinstance(evalue, CellStopped):  # a timeout or SIGTERM: the engine reports it
                return
            content = {"traceback": stb, "ename": str(etype.__name__), "evalue": str(evalue)}
            _capture().message("error", content)
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
#: ("flush",) (see :class:`_Progress`).
_PROGRESS: dict[str, Callable[..., None] | None] = {"fn": None}


def _progress_message(event: tuple) -> tuple:
    """``event`` as sent to the parent: the notebook and cells already pickled.

    The parent keeps them only to rebuild a partial notebook should the child die; it
    unpickles them then, not for every cell of every document (most of its own CPU time).
    """
    if event[0] in ("nb", "cell"):
        return (*event[:-1], pickle.dumps(event[-1], protocol=pickle.HIGHEST_PROTOCOL))
    return event


class _Progress:
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


def _emit(*event: Any) -> None:
    fn = _PROGRESS["fn"]
    if fn is not None:
        fn(*event)


@contextlib.contextmanager
def _kernel_io(nb: Any) -> Iterator[_Capture]:
    """Route stdout/stderr and displays of this process into ``nb``'s outputs."""
    cap = _Capture(nb)
    saved = sys.stdout, sys.stderr, _CAPTURE["now"]
    cap.host = saved[:2]
    saved_env = {k: os.environ.get(k) for k in (*_KERNEL_ENV, "MPLBACKEND")}
    os.environ.update(_KERNEL_ENV)
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    _CAPTURE["now"] = cap
    streams = _OutStream("stdout", saved[0]), _OutStream("stderr", saved[1])
    sys.stdout, sys.stderr = streams
    try:
        yield cap
    finally:
        _flush_streams()
        for stream in streams:
            stream.detached = True
        sys.stdout, sys.stderr, _CAPTURE["now"] = saved
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


SKIP_TAG = "skip-execution"  # nbclient's skip_cells_with_tag
RAISES_TAG = "raises-exception"


def execute_cell(
    sh: Any, cap: _Capture, cell: Any, index: int, timeout: float | None = None
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
    _flush_streams()
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
    # warning filters a notebook sets stay in its run (as a kernel's end with the kernel)
    # in a forked child SIGTERM ends the child, as it ends a kernel; in the host process it
    # would end the host, so it stops the notebook instead
    forked = _PROGRESS["fn"] is not None
    with (
        _kernel_io(nb) as cap,
        kernelshim.no_stdin(),
        contextlib.nullcontext() if forked else kernelshim.sigterm_guard(),
        warnings.catch_warnings(),
    ):
        kernel = kernelshim.Kernel(cap.kernel_message)
        cap.widgets = kernelshim.WidgetRecorder(kernel)
        cap.listener = _output_listener(options)
        sh.kernel = kernel
        try:
            with kernelshim.comms(kernel):
                for index, cell in enumerate(nb.cells):
                    failed = False
                    try:
                        with cap.host_streams():  # papermill logs there (log_output)
                            nb_man.cell_start(cell, index)
                        _emit("running", index)
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
                        _emit("cell", index, nb.cells[index])
                    if failed:
                        break
        finally:
            sh.kernel = None
    _emit("flush")  # the last cell reaches the parent before the document renders
    nb.metadata["language_info"] = _language_info()
    widgets = cap.widgets.widgets_metadata()
    if widgets:
        nb.metadata["widgets"] = widgets


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
            forked = _PROGRESS["fn"] is not None
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
            if _PROGRESS["fn"] is None:  # in a forked child, its parent logs it
                log_kernel(kernel_name)
            sh = shell()
            if _SHELL.get("used"):  # a fresh kernel's namespace and history for each notebook
                sh.reset(new_session=True)
                _main_spec(sh)
            _SHELL["used"] = True
            # numbered like a fresh kernel, whatever the process ran before it forked
            sh.execution_count = 1
            nb = nb_man.nb
            _emit("nb", nb)
            run_cells(nb_man, sh, **kwargs)
            # the ids job_result gives them: papermill then saves the notebook as it is kept
            executor.fix_cell_ids(nb)
            return nb

    return InProcessEngine


def __getattr__(name: str) -> Any:
    # The papermill entry point names salesnb.batch.fastengine:InProcessEngine; building the class
    # lazily keeps papermill (and IPython) out of `import salesnb.batch.fastengine`.
    if name == "InProcessEngine":
        cls = _papermill_engine_class()
        globals()["InProcessEngine"] = cls
        return cls
    raise AttributeError(f"module 'salesnb.batch.fastengine' has no attribute {name!r}")


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
) -> executor.Execution:
    """Execute one notebook through papermill in this process (no isolation).

    ``timeout`` (seconds, the whole document) stops the cell running when it passes, as
    :func:`salesnb.batch.executor.papermill_execute` does with papermill's engine; the partial
    notebook keeps that cell's outputs and execution count.
    """
    register_papermill_engine()
    return executor.papermill_execute(
        notebook, parameters, output_path, timeout, cwd=cwd, engine_name=PAPERMILL_ENGINE
    )


# --------------------------------------------------------------------------- data cache

_DATA: dict[tuple[str, Any], tuple[Any, Any]] = {}
_ORIGINAL_LOAD: dict[str, Callable[..., Any]] = {}


def _data_key(data: Any) -> str:
    """The cache key of a data source: a path made absolute, a database URL masked (the
    form batch documents get it in, see :func:`salesnb.batch.documents._data_source`)."""
    from salesnb.data.dburl import is_url, mask_url

    return mask_url(data) if is_url(data) else str(Path(data).expanduser().resolve())


def _signature(path: Path | str) -> tuple:
    """Size and mtime of a data source (a file, or a folder's files): detects edits.
    Nothing for a database URL (a batch's documents read what the batch loaded)."""
    from salesnb.data.dburl import is_url

    if is_url(path):
        return ()
    path = Path(path)
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    out = []
    for f in files:
        with contextlib.suppress(OSError):
            st = f.stat()
            out.append((f.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


def _cached_load(source: Any, profile: Any = None, **kwargs: Any) -> Any:
    """``salesnb.data.io.load`` answering from the data pre-loaded in the zygote when it can."""
    from dataclasses import replace

    load = _ORIGINAL_LOAD["load"]
    if kwargs.get("as_of") is not None or kwargs.get("config_overrides"):
        return load(source, profile, **kwargs)
    from salesnb.data.dburl import is_url

    try:
        path = _data_key(source)
        key = (path, profile if isinstance(profile, str | None) else repr(profile))
        hit = _DATA.get(key)
        if hit is None or hit[1] != _signature(path):
            return load(source, profile, **kwargs)
    except (OSError, TypeError, ValueError):
        return load(source, profile, **kwargs)
    wb = hit[0]
    # What a fresh load returns: its own frames (pandas copy-on-write makes these shallow
    # copies independent) and the source spelled as given (a URL: masked, as loaded).
    frames = {n: getattr(wb, n).copy(deep=False) for n in wb.TABLE_NAMES}
    from salesnb.data import memo

    shown = wb.source if is_url(source) else str(Path(source).expanduser())
    copy = replace(wb, **frames, source=shown, warnings=list(wb.warnings))
    return memo.seal(copy, like=wb)  # same content: the fingerprint and shared results carry over


def preload(data: str | Path, profile: str | None = None) -> bool:
    """Load ``data`` once so documents forked from this process skip loading it.

    Installs a caching ``salesnb.data.io.load`` that answers with a private copy when the
    same source (and profile, no ``as_of``/overrides) is asked for and its files did
    not change; anything else loads as usual. False when the data does not load (the
    documents then load it themselves and report the problem).
    """
    from salesnb.data import io as sio
    from salesnb.data.dburl import is_url

    if "load" not in _ORIGINAL_LOAD:
        _ORIGINAL_LOAD["load"] = sio.load
        sio.load = _cached_load
    path = _data_key(data)
    key = (path, profile)
    if key in _DATA and _DATA[key][1] == _signature(path):
        return True
    if is_url(data):
        return False  # the batch hands it over (adopt); the documents load it themselves
    try:
        sig = _signature(path)
        wb = _ORIGINAL_LOAD["load"](str(path), profile)
        wb.fingerprint()  # once here, not in every document
        _DATA[key] = (wb, sig)
    except Exception:  # noqa: BLE001 -- the notebook reports bad data itself
        return False
    return True


def adopt(data: str, profile: str | None, wb: Any, signature: tuple, fingerprint: str) -> None:
    """Take ``wb``, loaded by another process from ``data`` while its files had ``signature``,
    as this process's pre-loaded copy (what :func:`preload` would have loaded).

    The batch's own process loads the data anyway to check it; handing the zygote that copy
    (a few milliseconds to pickle) saves it loading the data again on the start-up path.
    """
    from salesnb.data import io as sio
    from salesnb.data import memo

    if "load" not in _ORIGINAL_LOAD:
        _ORIGINAL_LOAD["load"] = sio.load
        sio.load = _cached_load
    memo.seal(wb)
    memo.fingerprint(wb, lambda: fingerprint)  # computed by the sender from the same rows
    _DATA[(_data_key(data), profile)] = (wb, signature)


def compute_shared(wanted: list[tuple[str, tuple, tuple]]) -> int:
    """Compute here, from the pre-loaded data, the shared results documents asked for.

    Documents only say *which* :func:`salesnb.data.memo.shared` results they needed; computing
    them in this process (which runs no notebook code) keeps every document's inputs free of
    anything another document did, and the documents forked next find them ready.
    """
    if not wanted:
        return 0
    from salesnb.data import memo

    return sum(memo.compute_ahead(wb, wanted) for wb, _ in _DATA.values())


# --------------------------------------------------------------------------- imports ahead

_IMPORTS_SEEN: dict[str, tuple[str, ...]] = {}


def notebook_imports(notebook: str | Path) -> tuple[str, ...]:
    """The modules a notebook's code cells import, as dotted names (cached per file).

    ``from salesnb import charts`` yields ``salesnb`` and ``salesnb.reports.charts`` (a name that
    turns out to be an attribute, not a module, is skipped when imported).

    Examples
    --------
    >>> "salesnb.reports.facts" in notebook_imports("notebooks/pipeline_review.ipynb")
    True
    """
    import ast

    import nbformat

    key = str(Path(notebook).resolve())
    if key in _IMPORTS_SEEN:
        return _IMPORTS_SEEN[key]
    names: list[str] = []
    try:
        nb = nbformat.read(key, as_version=4)
    except Exception:  # noqa: BLE001 -- the document itself reports an unreadable notebook
        nb = None
    for cell in nb.cells if nb is not None else []:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # magics and the like: nothing to learn ahead
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    _IMPORTS_SEEN[key] = found = tuple(dict.fromkeys(names))
    return found


@functools.cache
def _library_roots() -> tuple[str, ...]:
    import sysconfig

    import salesnb

    paths = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return (*sorted(paths), str(Path(salesnb.__file__).parent))


class _ImportRecorder:
    """A finder that finds nothing and notes the names it is asked for.

    Only modules not imported yet reach the finders, so the names are what this process
    imported. Comparing ``sys.modules`` before and after instead touches every module name
    (a reference count each), which copies hundreds of the parent's memory pages into a
    forked document: about 8% of its page faults.
    """

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        self.names.append(name)


def _library_modules(names: set[str]) -> list[str]:
    """Installed-library modules among ``names`` (see :func:`warm_imports`)."""
    roots = _library_roots()
    keep = []
    for name in sorted(names):
        origin = getattr(sys.modules.get(name), "__file__", None)
        if origin and str(origin).startswith(roots):
            keep.append(name)
    return keep


def warm_imports(names: Iterator[str] | tuple[str, ...] | list[str]) -> int:
    """Import ``names`` here, ahead of the documents that will need them; how many were new.

    Only installed libraries (the standard library, site-packages, salesnb) are imported
    ahead: a user's module next to the notebook may do anything when imported, so each
    document imports it itself. Modules that start threads or runtimes (:data:`_NOT_AHEAD`)
    are left to the documents too; a module that fails to import is skipped.
    """
    import importlib
    import importlib.util

    new = 0
    roots = _library_roots()
    for name in names:
        if name in sys.modules or name.startswith(_NOT_AHEAD) or not name.isascii():
            continue
        try:
            top = importlib.util.find_spec(name.partition(".")[0])
            if top is None or not str(top.origin or "").startswith(roots):
                continue  # not an installed library: the documents import it themselves
            importlib.import_module(name)
        except BaseException:  # noqa: BLE001,S112 -- e.g. an attribute, not a module; a SystemExit
            continue
        new += 1
    return new


def _ready_for(notebook: str | Path, parameters: dict[str, Any]) -> None:
    """Before forking a document: its notebook's imports and its data, here, once."""
    warm_imports(notebook_imports(notebook))
    if parameters.get("data"):
        preload(parameters["data"], parameters.get("profile"))
    preread(notebook)


_NOTEBOOKS: dict[tuple, Any] = {}
_READ: dict[str, Callable[[Any], Any]] = {}


def _notebook_key(path: Any) -> tuple | None:
    try:
        p = Path(path).resolve()
        st = p.stat()
    except (OSError, TypeError, ValueError):
        return None
    return (str(p), st.st_mtime_ns, st.st_size)


def _read_notebook(path: Any) -> Any:
    """papermill's ``load_notebook_node``, answered once per process from :func:`preread`."""
    key = _notebook_key(path) if isinstance(path, str | Path) else None
    # once: the notebook papermill gets is its to change (parameters, metadata), and a
    # forked document's change stays in the document's own memory
    hit = _NOTEBOOKS.pop(key, None) if key is not None else None
    return hit if hit is not None else _READ["load"](path)


def preread(notebook: str | Path) -> None:
    """Read and parse ``notebook`` here, as papermill would, for the documents forked next.

    Each forked document's papermill then starts from this process's parsed copy (which the
    document may change: it is the document's own copy of this memory) instead of reading and
    validating the file again. A file changed meanwhile is read afresh.
    """
    from salesnb.core import compat

    if "load" not in _READ:
        _READ["load"] = compat.replace_notebook_loader(_read_notebook)
    key = _notebook_key(notebook)
    if key is None or key in _NOTEBOOKS:
        return
    with contextlib.suppress(Exception):  # a document that reads it reports the problem
        _NOTEBOOKS[key] = nb = _READ["load"](str(notebook))
        from salesnb.reports import render

        render.warm_markdown(nb)  # its prose, rendered once for every document


# --------------------------------------------------------------------------- warm-up


def _parent_death_signal(sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG


def runtime_threads() -> list[str]:
    """Names of this process's threads that belong to a JavaScript runtime (vl-convert's V8
    and tokio workers), which a forked child cannot use: its first conversion would hang.

    Empty where the kernel does not list threads (then nothing is known to be warmed).
    """
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return []
    names = []
    for tid in tasks:
        with contextlib.suppress(OSError):
            names.append(Path(f"/proc/self/task/{tid}/comm").read_text().strip())
    return [n for n in names if n.startswith(("V8 ", "tokio-runtime"))]


def _start_converter() -> Any:
    """Fork a chart converter process now (before vl-convert is used here); its client.

    A process that already ran vl-convert itself (a notebook that drew charts in-process)
    cannot fork a working converter, so it starts a fresh (``spawn``) one instead.
    """
    import multiprocessing as mp
    import secrets

    from salesnb.reports import chartrender

    if runtime_threads():
        proc = chartrender.ConverterProcess()
        return _Converter(proc._process.pid, proc.converter(), spawned=proc)

    authkey = secrets.token_bytes(32)
    ready_parent, ready_child = mp.Pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # converter: serve until told to stop or the parent dies
        code = 0
        try:
            _parent_death_signal()
            if os.getppid() != parent:
                os._exit(0)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            from salesnb.core import compat

            # A fork inherits the parent's multiprocessing temp folder and the finalizer that
            # deletes it: give this process its own folder and forget the parent's clean-ups,
            # or stopping this converter would delete sockets other converters still serve on.
            compat.forget_inherited_finalizers()
            chartrender._serve(ready_child, authkey)
            compat.run_finalizers()  # remove this converter's socket folder
        except BaseException:  # noqa: BLE001 -- never return into the parent's code
            code = 1
        finally:
            os._exit(code)
    ready_child.close()
    if not ready_parent.poll(60):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        raise BatchError("The chart converter process did not start within 60 s. Fix: retry.")
    address = ready_parent.recv()
    ready_parent.close()
    return _Converter(pid, chartrender._RemoteConverter(address, authkey))


@dataclass
class _Converter:
    pid: int
    client: Any
    spawned: Any = None  # the ConverterProcess, when it was spawned rather than forked

    def warm_up(self) -> Any:
        """Send a tiny chart now (starting vl-convert); returns the connection to read later."""
        from multiprocessing.connection import Client

        spec = {
            "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
            "data": {"values": [{"x": 1}]},
            "mark": "point",
            "encoding": {"x": {"field": "x", "type": "quantitative"}},
        }
        conn = Client(self.client.address, family="AF_UNIX", authkey=self.client.authkey)
        conn.send(spec)
        return conn

    def close(self) -> None:
        from multiprocessing.connection import Client

        if self.spawned is not None:
            self.spawned.close()
            return
        address, key = self.client.address, self.client.authkey
        with contextlib.suppress(Exception), Client(address, family="AF_UNIX", authkey=key) as c:
            c.send("salesnb-converter-stop")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(self.pid, os.WNOHANG)[0]:
                    return
            time.sleep(0.02)
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)


_WARM: dict[str, Any] = {}


def ensure_converter(*, warm: bool = False, count: int = 1) -> Any:
    """Start chart converter processes until this process has ``count`` (idempotent).

    With ``warm``, a first chart is sent at once to the first one (vl-convert's cold start,
    about 1 s, then runs in the converter meanwhile); the connection to read its answer from
    is returned.
    """
    pending = None
    if _WARM.get("converter") is None:
        _WARM["converter"] = conv = _start_converter()
        _WARM["owner"] = os.getpid()
        pending = conv.warm_up() if warm else None
    extra = _WARM.setdefault("extra_converters", [])
    while 1 + len(extra) < count:
        extra.append(_start_converter())
    return pending


def _converters() -> list[Any]:
    first = _WARM.get("converter")
    return [] if first is None else [first, *_WARM.get("extra_converters", [])]


def _free_converter(running: Any) -> Any:
    """A converter no running document uses (one per worker: each converts in turn)."""
    busy = {id(c.converter) for c in running}
    convs = _converters()
    return next((c for c in convs if id(c) not in busy), convs[0] if convs else None)


def _needs_converter(job: Any) -> bool:
    """Whether ``job``'s charts are drawn as SVG during the batch (not ``--charts vega``)."""
    from salesnb.core.errors import RenderError
    from salesnb.reports.chartformat import CHARTS_ENV, chart_format

    try:
        return chart_format(dict(getattr(job, "env", ()) or ()).get(CHARTS_ENV)) == "svg"
    except RenderError:  # the document reports the bad value itself
        return True


def _load_vega_bundle() -> None:
    """Read the Vega bundle once here (about 0.9 MB, checked when read), not in each document."""
    from salesnb.reports import vegabundle

    with contextlib.suppress(Exception):  # a document that needs it reports the problem
        vegabundle.vega_bundle_bytes()


def prepare(*, converter: bool = True) -> None:
    """Warm this process up for forking documents (idempotent).

    Starts the chart converter first (forked before anything could warm vl-convert; with
    ``converter=False`` it is left to :func:`ensure_converter`, when a document needs SVG),
    creates the recording shell, imports :data:`PRELOAD_MODULES` and builds the HTML
    exporter, so each forked document pays none of it.
    """
    if _WARM.get("done"):
        if converter:
            ensure_converter()
        return
    import importlib

    collecting = gc.isenabled()
    gc.disable()  # the imports' objects: see _zygote_main
    try:
        pending = ensure_converter(warm=True) if converter else None
        from salesnb.batch import schemacache

        schemacache.install()  # nbformat's validators, compiled once on this machine
        shell()  # before the imports: libraries that look for IPython at import find it
        for name in PRELOAD_MODULES:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
        register_papermill_engine()
        if "pandas" in sys.modules:
            # pandas fixes its column limit at import from whether it thinks it runs in a
            # terminal (0: fit the terminal); in a kernel it is 20
            sys.modules["pandas"].set_option("display.max_columns", 20)
        _warm_rendering()
        _warm_display()
        _warm_arrow()
        if pending is not None:
            with contextlib.suppress(Exception):
                pending.recv()
                pending.close()
    finally:
        if collecting:
            gc.enable()
    _WARM["done"] = True


def _warm_display() -> None:
    """Show a small table and chart through the shell's display formatter once.

    The first display of each kind builds what later ones reuse: Altair's schema validator
    (about 20 ms), pandas' HTML table formatter, IPython's formatter lookups. Done here, every
    forked document inherits them instead of building them again. Altair's own default
    renderer returns the spec without drawing it, so vl-convert is not started here (a fork
    of a process running it would hang).
    """
    if "pandas" not in sys.modules:
        return
    pd = sys.modules["pandas"]
    fmt = shell().display_formatter
    df = pd.DataFrame({"stage": ["a", "b"], "amount": [1.5, 2.0]})
    with contextlib.suppress(Exception):  # a warm-up only: a document meets any error itself
        fmt.format(df)
        if "altair" in sys.modules:
            alt = sys.modules["altair"]
            if alt.renderers.active == "default":
                fmt.format(alt.Chart(df).mark_bar().encode(x=alt.X("amount:Q"), y=alt.Y("stage:N")))


def _warm_arrow() -> None:
    """Fill Arrow's UTF-8 lookup tables (pandas' text columns are Arrow arrays) once, here.

    Arrow fills them on the first text kernel a process runs: otherwise every document
    filled them again, about 250 of its page faults and their CPU.
    """
    if "pyarrow" not in sys.modules:
        return
    with contextlib.suppress(Exception):  # a warm-up only
        import pyarrow.compute as pc

        pc.utf8_upper(sys.modules["pyarrow"].array(["a"]))


def _warm_rendering() -> None:
    """Compile the review template and its filters once, on a notebook with every output kind."""
    import nbformat

    from salesnb.reports import record, render

    v4 = nbformat.v4
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="2" height="2"></svg>'
    outputs = [
        v4.new_output("stream", name="stdout", text="x"),
        v4.new_output("display_data", data={"text/html": "<table><tr><td>1</td></tr></table>"}),
        v4.new_output("display_data", data={"image/svg+xml": svg, "text/plain": "c"}),
        v4.new_output("execute_result", data={"text/markdown": "**x**"}, execution_count=1),
        v4.new_output("display_data", data={record.TITLE_MIME: {"subject_name": "x"}}),
    ]
    nb = v4.new_notebook(
        cells=[v4.new_markdown_cell("# x\n\nwarm-up"), v4.new_code_cell("x", outputs=outputs)]
    )
    nbformat.validate(nb)
    render.to_html(nb, document_title="warm-up")


def shutdown() -> None:
    """Stop the converter process started by :func:`prepare`."""
    convs = _converters()
    _WARM.pop("converter", None)
    _WARM.pop("extra_converters", None)
    # A zygote forked from a warmed process shares that process's converter: only the
    # process that started a converter may stop it, or the next batch finds it gone.
    if _WARM.pop("owner", None) == os.getpid():
        for conv in convs:
            conv.close()
    _WARM.pop("done", None)


# --------------------------------------------------------------------------- one forked document


@dataclass
class _Child:
    """A forked document as its parent sees it: pid, pipe, deadline and streamed cells."""

    job: executor.Job
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
        if msg[0] == "both":  # a finished cell and the start of the next (see _Progress)
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

    def failure(self, kind: str) -> executor.Execution:
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
            error["cell"] = executor._running_cell(nb)
            executor._banner(nb, error["kind"], error["evalue"], error["cell"])
        return executor.Execution("failed", duration, error, nb=nb)


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


def _fork_document(
    job: executor.Job, *, render: bool, converter: Any = None, ask: bool = False
) -> _Child:
    """Fork a child that executes ``job`` (and renders it when ``render``), drawing SVG
    through ``converter`` (default: this process's first one). With ``ask``, the child asks
    this process for the shared results it lacks (this process must answer: the zygote)."""
    from multiprocessing.connection import Pipe

    recv, send = Pipe(duplex=ask)
    started, t0 = executor._now(), time.monotonic()
    parent = os.getpid()
    _flush_real_streams()
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
                _emit("flush")  # the cells it finished first
                send.send(("crash", traceback.format_exc()))
        finally:
            os._exit(code)
    send.close()
    # the document stops itself at its timeout (its partial notebook then keeps the running
    # cell's outputs); one that cannot (stuck in C code) is killed a little later
    deadline = t0 + job.timeout + _KILL_GRACE if job.timeout else None
    return _Child(job, pid, recv, deadline, started, t0, converter=converter)


def _flush_real_streams() -> None:
    # buffered text would otherwise be written twice, by the parent and by the child
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _child_main(
    job: executor.Job,
    conn: Any,
    parent: int,
    render: bool,
    converter: Any = None,
    ask: bool = False,
) -> None:
    _parent_death_signal()
    if os.getppid() != parent:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _fresh_warnings()
    from salesnb.reports import chartrender

    conv = converter or _WARM.get("converter")
    if conv is not None:
        chartrender.set_svg_converter(conv.client)
    _PROGRESS["fn"] = progress = _Progress(conn)
    if ask:
        from salesnb.data import memo

        memo.set_source(_asker(conn))
    spec = executor.EngineSpec("salesnb-inprocess", inprocess_execute)
    imported = _ImportRecorder()
    sys.meta_path.insert(0, imported)
    if render:
        outcome = ("result", executor.run_job(job, spec))
    else:
        out = Path(job.output_path)  # type: ignore[attr-defined]
        ex = inprocess_execute(
            Path(job.notebook), dict(job.parameters), out, job.timeout, cwd=job.cwd
        )
        outcome = ("execution", ex)
    progress.flush()
    # what this document imported that its parent had not: the parent imports it for the next
    conn.send(("imports", _library_modules(set(imported.names))))
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

    for wb, _ in _DATA.values():
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


def supervise(child: _Child) -> None:
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
) -> executor.Execution:
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
    _ready_for(notebook, parameters)
    job = _OneShot(str(notebook), dict(parameters), timeout, cwd, str(output_path))
    child = _fork_document(job, render=False)  # type: ignore[arg-type]
    supervise(child)
    warm_imports(child.extra.get("imports", ()))
    ex = child.outcome
    if not isinstance(ex, executor.Execution):
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


executor.register_engine("fork", fork_execute, prepare)


# --------------------------------------------------------------------------- the batch runner


def _zygote_main(
    conn: Any,
    workers: int,
    parent: int,
    warm: tuple[str, str | None, str | None] | None = None,
    charts: str | None = None,
) -> None:
    """The pre-imported process documents are forked from; talks to the batch over ``conn``.

    With ``charts="svg"`` the chart converters are forked first, from this still small
    process, and warm up (vl-convert's cold start) while this process imports.
    """
    _parent_death_signal()
    if os.getppid() != parent:
        os._exit(0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the batch decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_WRONLY)  # documents' stray C-level output
    os.dup2(devnull, 2)
    os.close(devnull)
    # Imports make hundreds of thousands of objects, and the cyclic GC walked all of them
    # several times over (about a fifth of the warm-up, which every document waits for);
    # they are frozen afterwards, so no collection walks them again.
    gc.disable()
    try:
        pending = []
        if charts == "svg":
            ensure_converter(count=max(1, workers))
            pending = [c.warm_up() for c in _converters()]
        from salesnb.data import memo

        # what the process this zygote was forked from computed or asked for (a notebook, a
        # test session) is none of the documents' business: shared results start afresh
        memo.clear()
        prepare(converter=False)  # started with the first document that draws SVG
        if warm is not None:
            notebook, data, profile = warm
            _ready_for(notebook, {"data": data, "profile": profile})
        for answer in pending:  # warm: nothing forked later waits for a cold converter
            with contextlib.suppress(Exception):
                answer.recv()
                answer.close()
        gc.freeze()
        gc.enable()
        conn.send(("ready",))
        _zygote_loop(conn, max(1, workers))
    except BaseException:  # noqa: BLE001 -- tell the batch, then go
        with contextlib.suppress(Exception):
            conn.send(("fatal", traceback.format_exc()))
    finally:
        shutdown()
        os._exit(0)


def _zygote_loop(conn: Any, workers: int) -> None:
    from multiprocessing.connection import wait

    queue: list[executor.Job] = []
    running: dict[Any, _Child] = {}
    outbox: list[tuple] = []  # results go out after the next documents are forked
    learned: list[_Child] = []  # what finished documents imported and asked for
    exiting: list[int] = []  # documents that sent their result, not reaped yet
    stopping = False
    while True:
        # Learning comes before forking: a document forked earlier would compute the same
        # shared results itself (on two cores that is the same CPU, spent again per document).
        for child in learned:
            warm_imports(child.extra.get("imports", ()))
            compute_shared(child.extra.get("shared", []))
        learned.clear()
        while queue and len(running) < workers and not stopping:
            job = queue.pop(0)
            conv = None
            if _needs_converter(job):
                # one converter per worker: vl-convert draws one chart at a time
                ensure_converter(count=workers)
                conv = _free_converter(running.values())
            else:
                _load_vega_bundle()
            _ready_for(job.notebook, job.parameters)
            child = _fork_document(job, render=True, converter=conv, ask=True)
            running[child.conn] = child
        # a result is large (the documents) and the batch may be busy writing the last one:
        # sending it only now keeps the workers busy meanwhile
        for msg in outbox:
            conn.send(msg)
        outbox.clear()
        _reap(exiting, block=stopping)
        if stopping:
            for child in running.values():
                child.reap(kill=True)
            return
        deadlines = [c.deadline for c in running.values() if c.deadline is not None]
        left = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        ready = wait([conn, *running], timeout=left)
        for r in ready:
            if r is conn:
                try:
                    msg = conn.recv()
                except (EOFError, OSError):
                    stopping = True
                    continue
                if msg[0] == "jobs":
                    queue.extend(msg[1])
                elif msg[0] == "data":
                    adopt(*msg[1:])
                else:  # "close" once every result is in, "stop" on interrupt
                    stopping = True
                continue
            child = running[r]
            if not child.receive():
                child.reap()
                del running[r]
                outbox.append(("result", child.job.key, _result(child, "died")))
                continue
            if isinstance(child.outcome, executor.JobResult):
                # done: it only exits now (unmapping its memory takes ~10 ms); it is reaped
                # later rather than waited for before the next document is forked
                child.conn.close()
                exiting.append(child.pid)
                del running[r]
                outbox.append(("result", child.job.key, child.outcome))
                learned.append(child)
        now = time.monotonic()
        for key, child in list(running.items()):
            if child.deadline is not None and now >= child.deadline:
                child.reap(kill=True)
                del running[key]
                outbox.append(("result", child.job.key, _result(child, "timeout")))


def _reap(pids: list[int], *, block: bool = False) -> None:
    """Reap the children in ``pids`` that have exited (all of them with ``block``)."""
    for pid in list(pids):
        try:
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            pids.remove(pid)


def _result(child: _Child, how: str) -> executor.JobResult:
    if isinstance(child.outcome, executor.JobResult):
        return child.outcome
    ex = child.failure(how)
    result = executor.job_result(child.job, ex, child.started, child.t0, None)
    result.worker = f"{os.uname().nodename}:{child.pid}"
    return result


class ForkRunner:
    """Run batch jobs as forks of one pre-imported zygote process, ``workers`` at once.

    Same interface as :class:`salesnb.batch.executor.LocalRunner`. The zygote is forked from
    this process when it runs no other threads (it then shares this process's imports),
    else started fresh (``spawn``). ``warm`` is ``(notebook, data, profile)`` of the jobs to
    come: the zygote imports what the notebook imports and loads the data before it reports
    ready, while this process goes on with its own work; ``charts="svg"`` starts and warms
    the chart converters meanwhile too.

    Examples
    --------
    >>> runner = ForkRunner(2)                          # doctest: +SKIP
    >>> for job, result in runner.run(jobs): ...        # doctest: +SKIP
    >>> runner.close()                                  # doctest: +SKIP
    """

    def __init__(
        self,
        workers: int,
        *,
        warm: tuple[str, str | None, str | None] | None = None,
        charts: str | None = None,
    ) -> None:
        import multiprocessing as mp

        if not hasattr(os, "fork"):
            msg = "The fork engine needs os.fork (Linux, macOS). Fix: use --engine papermill."
            raise BatchError(msg)
        # fork shares this process's imports; not with other threads, or a warmed JS runtime
        method = "fork" if threading.active_count() == 1 and not runtime_threads() else "spawn"
        ctx = mp.get_context(method)
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_zygote_main,
            args=(child, int(workers), os.getpid(), warm, charts),
            daemon=True,
        )
        _flush_real_streams()
        self.process.start()
        child.close()
        self.workers = workers
        self.ready = False
        self._sending: threading.Thread | None = None

    def load(self, data: str | Path, profile: str | None = None) -> Any:
        """``salesnb.load(data, profile)`` here, handing the zygote a copy of the result.

        The zygote then skips loading the data itself (it would if this is never called).
        Errors are the loader's own, raised here.
        """
        from salesnb.data import io as sio
        from salesnb.data.dburl import is_url

        path = _data_key(data)  # a URL masked: the key the documents ask for
        prof = profile
        if profile is not None and Path(profile).exists():
            prof = str(Path(profile).resolve())
        signature = _signature(path)  # before loading: a file edited meanwhile mismatches
        wb = sio.load(str(data).strip() if is_url(data) else path, profile)
        msg = ("data", path, prof, wb, signature, wb.fingerprint())
        # The zygote reads it once warmed up; a pipe holds 64 KiB: sending from a thread lets
        # this process go on meanwhile. Every later send waits for it (_sent).
        self._sending = threading.Thread(target=self._send, args=(msg,), daemon=True)
        self._sending.start()
        return wb

    def _send(self, msg: tuple) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(msg)

    def _sent(self) -> None:
        if self._sending is not None:
            self._sending.join()
            self._sending = None

    def _recv(self) -> Any:
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            return ("fatal", "the fork engine's zygote process died")

    def run(self, jobs: list[executor.Job]) -> Iterator[tuple[executor.Job, executor.JobResult]]:
        """Yield ``(job, result)`` as documents finish."""
        msg = ("ready",) if self.ready else self._recv()
        self.ready = msg[0] == "ready"
        if not self.ready:
            raise BatchError(
                f"The fork engine could not start: {str(msg[-1]).strip().splitlines()[-1]}. "
                "Fix: run with --engine papermill, and report the error."
            )
        by_key = {j.key: j for j in jobs}
        self._sent()
        self.conn.send(("jobs", list(jobs)))
        while by_key:
            msg = self._recv()
            if msg[0] == "result":
                yield by_key.pop(msg[1]), msg[2]
            elif msg[0] == "fatal":
                for job in list(by_key.values()):
                    yield job, _lost(job, str(msg[1]))
                by_key.clear()

    def abort(self) -> None:
        """Kill the zygote at once (no document was sent to it: nothing to wait for).

        The pipe is closed only after the thread sending the data has ended: closing it under
        a send in progress made that thread die with a traceback on the user's terminal.
        """
        with contextlib.suppress(OSError, ValueError, AttributeError):
            self.process.kill()
            self.process.join(5)
        sending = self._sending
        if sending is not None:
            sending.join(5)  # the reader is gone: the send fails (quietly) at once
            if sending.is_alive():  # a converter of the zygote still holds the pipe open
                with contextlib.suppress(OSError, ValueError):
                    dup = os.dup(self.conn.fileno())
                    with socket.socket(fileno=dup) as end:
                        end.shutdown(socket.SHUT_RDWR)
        self._sent()
        with contextlib.suppress(OSError):
            self.conn.close()

    def close(self, *, interrupted: bool = False, grace: float = 10.0) -> None:
        """Stop the zygote; on interrupt, kill running documents at once."""
        self._sent()
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(("stop",) if interrupted else ("close",))
        self.process.join(grace)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        with contextlib.suppress(OSError):
            self.conn.close()


def _lost(job: executor.Job, why: str) -> executor.JobResult:
    now = executor._now()
    last = why.strip().splitlines()[-1] if why.strip() else why
    return executor.JobResult(job.key, "failed", now, now, 0.0, {
        "kind": "worker", "ename": "WorkerError", "evalue": last, "cell": None,
        "lines": [f"WorkerError: {last}", "The process running this document died."],
    })  # fmt: skip

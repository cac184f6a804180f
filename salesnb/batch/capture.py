"""A notebook's outputs, recorded in-process as nbclient records a kernel's messages.

The in-process engine (:mod:`salesnb.batch.inshell`) runs cells in this process: its
``sys.stdout``/``sys.stderr`` and IPython's display publisher write here, and each output
becomes the ``nbformat`` node nbclient would make of the kernel message (streams, displays,
``update_display``, ``clear_output``, Output widgets). Each output also goes where papermill's
``log_output``, ``stdout_file`` and ``stderr_file`` send it (:func:`log_output_message`).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

# What ipykernel's shell sets in a kernel's environment (ZMQInteractiveShell.init_environment).
_KERNEL_ENV = {
    "TERM": "xterm-color",
    "CLICOLOR": "1",
    "FORCE_COLOR": "1",
    "CLICOLOR_FORCE": "1",
    "PAGER": "cat",
    "GIT_PAGER": "cat",
}


class Capture:
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
        #: the host process's own ``sys.stdout``, ``sys.stderr`` (set by :func:`kernel_io`)
        self.host: tuple[Any, Any] = (sys.stdout, sys.stderr)

    def start_cell(self, index: int, outs: list[Any]) -> None:
        self.cell_index, self.outs, self.clear_before_next = index, outs, False

    def kernel_message(self, msg_type: str, content: dict[str, Any], buffers: list[Any]) -> None:
        """A message the notebook sent on the kernel's iopub socket (see salesnb.batch.kernelshim)."""
        if msg_type in ("stream", "display_data", "execute_result", "error", "update_display_data"):
            flush_streams()
            self.message(msg_type, content)
        elif msg_type == "clear_output":
            flush_streams()
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


_CAPTURE: dict[str, Capture | None] = {"now": None}


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


def output_listener(options: dict[str, Any]) -> Callable[[Any], None] | None:
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


def current_capture() -> Capture:
    cap = _CAPTURE["now"]
    if cap is None:  # output outside a notebook run (a library printing at import)
        import nbformat

        cap = Capture(nbformat.v4.new_notebook())
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
            current_capture().message("stream", {"name": self.name_, "text": text})


def flush_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


@contextlib.contextmanager
def kernel_io(nb: Any) -> Iterator[Capture]:
    """Route stdout/stderr and displays of this process into ``nb``'s outputs."""
    cap = Capture(nb)
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
        flush_streams()
        for stream in streams:
            stream.detached = True
        sys.stdout, sys.stderr, _CAPTURE["now"] = saved
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

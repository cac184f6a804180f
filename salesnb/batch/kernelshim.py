"""What a Jupyter kernel and nbclient do around a cell, for notebooks run in-process.

The in-process engine (:mod:`salesnb.batch.fastengine`) runs a notebook's cells in an IPython
shell of the calling process, with no kernel and no nbclient. What a notebook can observe
of them is reproduced here, through public interfaces only:

* :class:`Kernel`: ``get_ipython().kernel`` with a ``session`` and an ``iopub_socket``
  (``session.send(iopub, "display_data", ...)`` records an output as nbclient would),
  the parent request of the running cell, and a comm manager;
* comms through the ``comm`` package's documented hooks (``comm.create_comm`` and
  ``comm.get_comm_manager``, which a kernel sets); their messages are recorded as nbclient
  records them: the widgets' state for ``metadata.widgets``, and an ipywidgets ``Output``
  widget captures what is shown inside ``with out:`` (nbclient's own
  :class:`nbclient.output_widget.OutputWidget`, its front-end mimic, does the capturing);
* :func:`no_stdin`: ``input()`` and ``getpass()`` raise ``StdinNotImplementedError`` as in
  a kernel whose front end allows no input; the host's standard input is never read;
* :func:`cell_deadline`: a cell still running after its timeout is stopped (nbclient's
  ``CellTimeoutError``);
* :func:`sigterm_guard`: a notebook that sends SIGTERM to its own process stops with
  nbclient's ``DeadKernelError`` instead of killing the host.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import os
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

OUTPUT_TYPES = ("stream", "display_data", "execute_result", "error", "update_display_data")


class CellStopped(BaseException):
    """Raised inside a running cell to stop it (timeout, SIGTERM); never shown as output."""

    def __init__(self, why: str = "timeout") -> None:
        super().__init__(why)
        self.why = why


def _now_iso() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat()


class Session:
    """``kernel.session``: messages sent on the iopub socket become the cell's outputs."""

    def __init__(self, recorder: Callable[[str, dict[str, Any], list[Any]], None]) -> None:
        self.recorder = recorder
        self.session = uuid.uuid4().hex
        self.username = "salesnb"

    def msg(
        self,
        msg_type: str,
        content: dict[str, Any] | None = None,
        parent: dict[str, Any] | None = None,
        header: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A message as ``jupyter_client.session.Session.msg`` builds it."""
        head = header or {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "session": self.session,
            "username": self.username,
            "date": _now_iso(),
            "version": "5.3",
        }
        parent_header = (parent or {}).get("header", parent or {})
        return {
            "header": head,
            "msg_id": head["msg_id"],
            "msg_type": msg_type,
            "parent_header": parent_header,
            "content": content if content is not None else {},
            "metadata": metadata or {},
            "buffers": [],
        }

    def send(
        self,
        stream: Any,
        msg_or_type: dict[str, Any] | str,
        content: dict[str, Any] | None = None,
        parent: dict[str, Any] | None = None,
        ident: Any = None,
        buffers: list[Any] | None = None,
        track: bool = False,
        header: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send a message: on the iopub socket it is recorded as a kernel's output."""
        if isinstance(msg_or_type, dict):
            msg = msg_or_type
        else:
            msg = self.msg(msg_or_type, content, parent, header, metadata)
        if stream is IOPUB:
            self.recorder(msg["msg_type"], msg["content"], list(buffers or []))
        return msg


class _IOPub:
    """The kernel's iopub socket, as a marker for :meth:`Session.send`."""

    def __repr__(self) -> str:
        return "<in-process iopub>"


IOPUB = _IOPub()


class Kernel:
    """``get_ipython().kernel`` of the in-process engine (enough of ipykernel's kernel for
    ``update_display``, comms and widgets): session, iopub socket, parent request."""

    def __init__(self, recorder: Callable[[str, dict[str, Any], list[Any]], None]) -> None:
        self.session = Session(recorder)
        self.iopub_socket = IOPUB
        self.parent: dict[str, Any] = {}
        from comm.base_comm import CommManager

        self.comm_manager = CommManager()

    @property
    def _parent_header(self) -> dict[str, Any]:  # ipykernel < 6 spelling, read by ipywidgets 7
        return self.parent

    def get_parent(self, channel: str = "shell") -> dict[str, Any]:
        """The request of the cell running now (``{"header": {"msg_id": ...}, ...}``)."""
        return self.parent

    def new_parent(self) -> dict[str, Any]:
        """Start a new execute request (one per cell); returns it."""
        self.parent = self.session.msg("execute_request")
        return self.parent


def comm_class() -> type:
    """A ``comm.base_comm.BaseComm`` whose messages go to the running kernel stand-in."""
    from comm.base_comm import BaseComm

    class InProcessComm(BaseComm):
        kernel: Kernel | None = None

        def publish_msg(
            self,
            msg_type: str,
            data: dict[str, Any] | None = None,
            metadata: dict[str, Any] | None = None,
            buffers: list[Any] | None = None,
            **keys: Any,
        ) -> None:
            kernel = _STATE["kernel"]
            if kernel is None:
                return
            content = dict(data=data if data is not None else {}, comm_id=self.comm_id, **keys)
            kernel.session.send(IOPUB, msg_type, content, parent=kernel.parent, buffers=buffers)

        def close(
            self,
            data: dict[str, Any] | None = None,
            metadata: dict[str, Any] | None = None,
            buffers: list[Any] | None = None,
            deleting: bool = False,
        ) -> None:
            # BaseComm.close asks whatever comm manager is current then; this comm belongs
            # to its own kernel's, which may be over (a widget collected after the run)
            if self._closed:
                return
            self._closed = True
            if not deleting and self.kernel is not None and self.kernel is _STATE["kernel"]:
                self.publish_msg("comm_close", data=data, metadata=metadata, buffers=buffers)
            if self.kernel is not None:
                self.kernel.comm_manager.comms.pop(self.comm_id, None)

    return InProcessComm


_STATE: dict[str, Any] = {"kernel": None, "comm_class": None}


def _create_comm(*args: Any, **kwargs: Any) -> Any:
    if _STATE["comm_class"] is None:
        _STATE["comm_class"] = comm_class()
    c = _STATE["comm_class"](*args, **kwargs)
    c.kernel = _STATE["kernel"]
    return c


def _get_comm_manager() -> Any:
    kernel = _STATE["kernel"]
    if kernel is None:
        from comm.base_comm import CommManager

        return CommManager()
    return kernel.comm_manager


@contextlib.contextmanager
def comms(kernel: Kernel) -> Iterator[None]:
    """Comms created meanwhile talk to ``kernel`` (``comm``'s documented kernel hooks)."""
    import comm

    saved = comm.create_comm, comm.get_comm_manager, _STATE["kernel"]
    comm.create_comm, comm.get_comm_manager = _create_comm, _get_comm_manager
    _STATE["kernel"] = kernel
    try:
        yield
    finally:
        comm.create_comm, comm.get_comm_manager, _STATE["kernel"] = saved


class WidgetRecorder:
    """nbclient's record of comm messages: widget states, buffers and Output widgets.

    ``deliver`` sends a front end's message to the kernel's comm (an Output widget
    syncing its outputs back); as with a real kernel, which handles it only after the
    running cell, it is held until :meth:`after_cell`.
    """

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.widget_state: dict[str, dict[str, Any]] = {}
        self.widget_buffers: dict[str, dict[tuple, dict[str, str]]] = {}
        self.comm_objects: dict[str, Any] = {}
        self.output_hook_stack: dict[str, list[Any]] = {}
        self.held: list[dict[str, Any]] = []
        self.muted = False
        self.kc = _KernelClient(self)

    # nbclient's executor interface used by its OutputWidget
    def register_output_hook(self, msg_id: str, hook: Any) -> None:
        self.output_hook_stack.setdefault(msg_id, []).append(hook)

    def remove_output_hook(self, msg_id: str, hook: Any) -> None:
        stack = self.output_hook_stack.get(msg_id, [])
        if stack and stack[-1] is hook:
            stack.pop()

    def hook(self) -> Any:
        """The Output widget capturing the running cell's outputs, if any."""
        stack = self.output_hook_stack.get(self.kernel.parent.get("header", {}).get("msg_id"))
        return stack[-1] if stack else None

    def comm_message(self, msg_type: str, content: dict[str, Any], buffers: list[Any]) -> None:
        """What nbclient's ``handle_comm_msg`` does with a comm message from the kernel."""
        if self.muted:
            return
        data = content.get("data") or {}
        comm_id = content.get("comm_id")
        if "state" in data:
            self.widget_state.setdefault(comm_id, {}).update(data["state"])
            if data.get("buffer_paths"):
                bufs = self.widget_buffers.setdefault(comm_id, {})
                for path, buf in zip(data["buffer_paths"], buffers, strict=False):
                    encoded = base64.b64encode(bytes(buf)).decode("utf-8")
                    bufs[tuple(path)] = {"data": encoded, "encoding": "base64", "path": path}
        if msg_type == "comm_open" and content.get("target_name") == "jupyter.widget":
            state = data.get("state", {})
            if (state.get("_model_module"), state.get("_model_name")) == (
                "@jupyter-widgets/output",
                "OutputModel",
            ):
                from nbclient.output_widget import OutputWidget

                self.comm_objects[comm_id] = OutputWidget(comm_id, state, self.kc, self)
        elif msg_type == "comm_msg" and comm_id in self.comm_objects:
            msg = self.kernel.session.msg(msg_type, content, parent=self.kernel.parent)
            self.comm_objects[comm_id].handle_msg(msg)

    def after_cell(self) -> None:
        """Hand the kernel's comms what the front end sent meanwhile (echoes are not
        recorded: nbclient listens only to the messages of the cell it runs)."""
        held, self.held = self.held, []
        self.muted = True
        try:
            for msg in held:
                with contextlib.suppress(Exception):
                    self.kernel.comm_manager.comm_msg(None, None, msg)
        finally:
            self.muted = False

    def widgets_metadata(self) -> dict[str, Any] | None:
        """``metadata.widgets`` as nbclient's ``set_widgets_metadata`` writes it."""
        if not self.widget_state:
            return None
        state = {
            model_id: {
                "model_name": s.get("_model_name"),
                "model_module": s.get("_model_module"),
                "model_module_version": s.get("_model_module_version"),
                "state": s,
            }
            for model_id, s in self.widget_state.items()
            if "_model_name" in s
        }
        for key, widget in state.items():
            buffers = self.widget_buffers.get(key)
            if buffers:
                widget["buffers"] = list(buffers.values())
        return {
            "application/vnd.jupyter.widget-state+json": {
                "state": state,
                "version_major": 2,
                "version_minor": 0,
            }
        }


class _Channel:
    def __init__(self, recorder: WidgetRecorder) -> None:
        self.recorder = recorder

    def send(self, msg: dict[str, Any]) -> None:
        self.recorder.held.append(msg)


class _KernelClient:
    """The front end's side, as nbclient's OutputWidget uses it: session and shell channel."""

    def __init__(self, recorder: WidgetRecorder) -> None:
        self.session = recorder.kernel.session
        self.shell_channel = _Channel(recorder)


# --------------------------------------------------------------------------- stdin


def _no_raw_input(prompt: str = "", *args: Any, **kwargs: Any) -> str:
    from IPython.core.error import StdinNotImplementedError

    msg = "raw_input was called, but this frontend does not support input requests."
    raise StdinNotImplementedError(msg)


def _no_getpass(prompt: str = "", stream: Any = None) -> str:
    from IPython.core.error import StdinNotImplementedError

    msg = "getpass was called, but this frontend does not support input requests."
    raise StdinNotImplementedError(msg)


@contextlib.contextmanager
def no_stdin(*, detach_fd: bool = True) -> Iterator[None]:
    """Refuse input as ipykernel does when the front end allows none (nbclient's case).

    ``input()`` and ``getpass.getpass()`` raise ``StdinNotImplementedError``;
    ``sys.stdin`` reads nothing and, with ``detach_fd``, file descriptor 0 is
    ``/dev/null`` meanwhile, so even ``os.read(0, n)`` cannot read the host's input.

    Examples
    --------
    >>> with no_stdin(detach_fd=False):
    ...     sys.stdin.read()
    ''
    """
    import getpass
    import io

    saved = builtins.input, getpass.getpass, sys.stdin
    saved_fd = None
    if detach_fd:
        with contextlib.suppress(OSError):
            saved_fd = os.dup(0)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.close(devnull)
    builtins.input, getpass.getpass = _no_raw_input, _no_getpass
    sys.stdin = io.StringIO("")
    try:
        yield
    finally:
        builtins.input, getpass.getpass, sys.stdin = saved
        if saved_fd is not None:
            os.dup2(saved_fd, 0)
            os.close(saved_fd)


# --------------------------------------------------------------------------- stopping a cell


def _raise_in_thread(thread_id: int, exc: type[BaseException]) -> None:
    import ctypes

    # CPython's documented C API for this; the class is instantiated without arguments
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc))


#: After a timeout's KeyboardInterrupt, how long a cell that catches it gets before it is
#: stopped for good (seconds).
STOP_GRACE = 1.0
#: The running deadline's way to stand down (see :func:`cell_over`).
_DEADLINE: dict[str, Callable[[], None] | None] = {"disarm": None}


def cell_over() -> None:
    """The cell's code is over (its exception reached the shell's top level): a deadline
    that already interrupted it stops there, so that the traceback is shown whole however
    long formatting it takes."""
    disarm = _DEADLINE["disarm"]
    if disarm is not None:
        disarm()


@contextlib.contextmanager
def cell_deadline(seconds: float | None) -> Iterator[dict[str, bool]]:
    """Interrupt the code running in this thread after ``seconds``, as nbclient's shutdown
    of a timed-out kernel does: ``KeyboardInterrupt`` (its traceback becomes the cell's
    output), then, if the code caught it, :class:`CellStopped` every :data:`STOP_GRACE`
    seconds. The state yielded says whether the deadline passed (``fired``).

    In the main thread a real-time timer signal interrupts even ``time.sleep``; in another
    thread the exception is raised at the thread's next bytecode (a sleep ends first).
    """
    state = {"fired": False}
    if not seconds or seconds <= 0:
        yield state
        return
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):

        def on_alarm(signum: int, frame: Any) -> None:
            first = not state["fired"]
            state["fired"] = True
            signal.setitimer(signal.ITIMER_REAL, STOP_GRACE)
            raise KeyboardInterrupt if first else CellStopped("timeout")

        def disarm() -> None:
            if state["fired"]:
                signal.setitimer(signal.ITIMER_REAL, 0)

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        _DEADLINE["disarm"] = disarm
        try:
            yield state
        finally:
            _DEADLINE["disarm"] = None
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        return
    done = threading.Event()
    target = threading.get_ident()

    def watch() -> None:
        wait = seconds
        while not done.wait(wait):
            first = not state["fired"]
            state["fired"] = True
            _raise_in_thread(target, KeyboardInterrupt if first else CellStopped)
            wait = STOP_GRACE

    def stand_down() -> None:
        if state["fired"]:
            done.set()

    watcher = threading.Thread(target=watch, daemon=True, name="salesnb-cell-timeout")
    watcher.start()
    _DEADLINE["disarm"] = stand_down
    try:
        yield state
    finally:
        _DEADLINE["disarm"] = None
        done.set()


@contextlib.contextmanager
def sigterm_guard() -> Iterator[dict[str, bool]]:
    """While a notebook runs in this process, SIGTERM stops the notebook, not the process.

    The notebook's running cell gets :class:`CellStopped` ("sigterm"); the state yielded
    says whether it came. Only in the main thread (signals are delivered there).
    """
    state = {"received": False}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def on_term(signum: int, frame: Any) -> None:
        state["received"] = True
        raise CellStopped("sigterm")

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield state
    finally:
        signal.signal(signal.SIGTERM, previous)

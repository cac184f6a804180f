"""Warming a process up for forking documents: chart converter processes, imports, the
recording shell, the HTML exporter and display formatters (:func:`prepare`).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from salesnb.batch.inshell import shell
from salesnb.batch.pmengine import register_papermill_engine
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
# --------------------------------------------------------------------------- warm-up


def parent_death_signal(sig: int = signal.SIGKILL) -> None:
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
            parent_death_signal()
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


def converters() -> list[Any]:
    first = _WARM.get("converter")
    return [] if first is None else [first, *_WARM.get("extra_converters", [])]


def free_converter(running: Any) -> Any:
    """A converter no running document uses (one per worker: each converts in turn)."""
    busy = {id(c.converter) for c in running}
    convs = converters()
    return next((c for c in convs if id(c) not in busy), convs[0] if convs else None)


def needs_converter(job: Any) -> bool:
    """Whether ``job``'s charts are drawn as SVG during the batch (not ``--charts vega``)."""
    from salesnb.core.errors import RenderError
    from salesnb.reports.chartformat import CHARTS_ENV, chart_format

    try:
        return chart_format(dict(getattr(job, "env", ()) or ()).get(CHARTS_ENV)) == "svg"
    except RenderError:  # the document reports the bad value itself
        return True


def load_vega_bundle() -> None:
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
    convs = converters()
    _WARM.pop("converter", None)
    _WARM.pop("extra_converters", None)
    # A zygote forked from a warmed process shares that process's converter: only the
    # process that started a converter may stop it, or the next batch finds it gone.
    if _WARM.pop("owner", None) == os.getpid():
        for conv in convs:
            conv.close()
    _WARM.pop("done", None)

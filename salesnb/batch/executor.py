"""Running review jobs: one engine executes one notebook; runners fan jobs out.

An **engine** turns (notebook, parameters, output path, timeout) into an
:class:`Execution` (status, error, duration, headline). The default engine,
``"papermill"``, is papermill's standard ``execute_notebook`` with a fresh
kernel per document. Any engine registered with papermill through the
``papermill.engines`` entry point is available under its own name, and
:func:`register_engine` adds Python-level engines, so a faster engine plugs in
without changes to the batch.

:func:`run_job` is what a worker runs: execute, then render HTML (and PDF),
and return every output as bytes; the parent process writes them atomically,
so workers never leave files under final names. Runners: :class:`LocalRunner`
(a process pool on this machine) and :class:`DaskRunner` (a Dask distributed
cluster, or ``local:N`` for a loopback one).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import shutil
import signal
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from salesnb.core.errors import BatchError, ParameterError

ERROR_TAG = "papermill-error-cell-tag"
_ANSI = __import__("re").compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class Execution:
    """What an engine returns for one notebook.

    Attributes
    ----------
    status : {"ok", "failed"}
    error : dict or None
        ``kind`` (error | timeout | kernel-died | interrupted | engine), ``ename``,
        ``evalue``, ``lines`` (the first lines a person needs), ``cell`` (index or None).
    duration : float
        Wall time in seconds.
    headline, title : dict
        What the notebook recorded with :mod:`salesnb.reports.record`.
    nb : notebook node or None
        The executed (or partial) notebook; also written to the output path.
    saved : path or None
        Where ``nb`` was written exactly as it is (``nbformat.writes``), if the engine knows:
        the file's bytes are then taken as they are instead of serialising ``nb`` again.
    """

    status: str
    duration: float
    error: dict[str, Any] | None = None
    headline: dict[str, Any] = field(default_factory=dict)
    title: dict[str, Any] = field(default_factory=dict)
    nb: Any = None
    saved: Path | None = None


class Engine(Protocol):
    def __call__(
        self,
        notebook: Path,
        parameters: dict[str, Any],
        output_path: Path,
        timeout: float | None,
        *,
        cwd: str | None = None,
    ) -> Execution: ...


@dataclass(frozen=True)
class EngineSpec:
    """A named engine and an optional ``prepare()`` run once per worker process (warm-up)."""

    name: str
    run: Engine
    prepare: Callable[[], None] | None = None


_ENGINES: dict[str, EngineSpec] = {}


def register_engine(name: str, run: Engine, prepare: Callable[[], None] | None = None) -> None:
    """Make an engine available to ``salesnb batch --engine NAME``.

    ``run`` (and ``prepare``) should be module-level functions: worker processes and Dask
    workers receive them pickled by reference. ``prepare()`` runs once per worker process.

    Examples
    --------
    >>> register_engine("echo", lambda nb, p, out, t, cwd=None: Execution("ok", 0.0))
    >>> get_engine("echo").name
    'echo'
    """
    _ENGINES[name] = EngineSpec(name, run, prepare)


def _entry_point_engines() -> dict[str, Any]:
    """Engines other packages declare in the ``salesnb.engines`` entry point group."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group="salesnb.engines")}


def engine_names() -> list[str]:
    """Every engine name: registered here, ``salesnb.engines`` and ``papermill.engines`` ones."""
    from salesnb.core import compat

    names = set(_ENGINES) | set(_entry_point_engines()) | compat.papermill_engine_names()
    if hasattr(os, "fork"):
        names.add("fork")
    return sorted(names)


def default_engine(scheduler: str | None = None) -> str:
    """The engine ``"auto"`` stands for: ``"fork"`` where ``os.fork`` exists, on this machine
    (no ``scheduler``), else ``"papermill"``.

    Examples
    --------
    >>> default_engine("tcp://host:8786")
    'papermill'
    """
    return "fork" if hasattr(os, "fork") and not scheduler else "papermill"


def get_engine(name: str) -> EngineSpec:
    """The engine called ``name``; a :class:`ParameterError` listing the choices if unknown.

    Looked up in this order: :func:`register_engine`, the ``salesnb.engines`` entry points
    (an :class:`EngineSpec` or an engine callable), then papermill's engines (its own and
    the ``papermill.engines`` entry points), run through :func:`papermill_execute`.
    """
    if name == "fork" and name not in _ENGINES and hasattr(os, "fork"):
        import salesnb.batch.fastengine  # noqa: F401 -- registers the "fork" engine
    if name in _ENGINES:
        return _ENGINES[name]
    declared = _entry_point_engines()
    if name in declared:
        obj = declared[name].load()
        spec = obj if isinstance(obj, EngineSpec) else EngineSpec(name, obj)
        _ENGINES[name] = spec
        return spec
    from salesnb.core import compat

    if name in compat.papermill_engine_names():
        # a partial of a module-level function pickles, so workers and clusters receive it
        return EngineSpec(name, functools.partial(papermill_execute, engine_name=name))
    msg = f"Unknown engine {name!r}. Fix: use one of {', '.join(map(repr, engine_names()))}."
    raise ParameterError(msg)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _error_lines(ename: str, evalue: str, tb: Iterable[str] = (), n: int = 6) -> list[str]:
    head = f"{ename}: {evalue}".strip().rstrip(":")
    lines = [ln for t in tb for ln in _ANSI.sub("", t).splitlines() if ln.strip()]
    # The last traceback lines name the failing statement; the header says what failed.
    tail = [ln for ln in lines[-n:] if ln.strip() != head][-(n - 1) :]
    return [head, *tail]


def _banner(nb: Any, kind: str, text: str, cell: int | None) -> None:
    """Add papermill-style error banners to a partial notebook papermill did not mark."""
    import nbformat

    style = 'style="color:red; font-family:Helvetica Neue, Helvetica, Arial, sans-serif;"'
    top = nbformat.v4.new_markdown_cell(f"<span {style}>Execution stopped: {kind}: {text}</span>")
    top.metadata["tags"] = [ERROR_TAG]
    if cell is not None and 0 <= cell < len(nb.cells):
        anchor = nbformat.v4.new_markdown_cell(
            f'<span id="papermill-error-cell" {style}>Execution stopped here ({kind}).</span>'
        )
        anchor.metadata["tags"] = [ERROR_TAG]
        nb.cells.insert(cell, anchor)
    nb.cells.insert(0, top)


def _running_cell(nb: Any) -> int | None:
    """The cell that was running when the notebook stopped: marked "running", or else (a
    timeout, where papermill marks the interrupted cell "completed") the last one started."""
    started = None
    for i, cell in enumerate(nb.cells):
        pm = cell.get("metadata", {}).get("papermill", {})
        if pm.get("status") == "running":
            return i
        if pm.get("start_time"):
            started = i
    return started


def papermill_execute(
    notebook: Path,
    parameters: dict[str, Any],
    output_path: Path,
    timeout: float | None,
    *,
    cwd: str | None = None,
    engine_name: str | None = None,
) -> Execution:
    """Execute one notebook with papermill in a fresh kernel; never raises for notebook failures.

    ``timeout`` (seconds) bounds the whole document, not each cell: every cell
    gets what is left of it. A failing cell, a dying kernel or a timeout gives
    ``status="failed"`` with the partial notebook (papermill's error banner on top)
    written to ``output_path``.
    """
    import nbformat
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    from salesnb.reports.record import collect

    start = time.monotonic()
    deadline = start + timeout if timeout else None

    def cell_timeout(cell: Any) -> int | None:
        return None if deadline is None else max(1, int(deadline - time.monotonic() + 0.999))

    error = None
    nb = None
    try:
        nb = papermill.execute_notebook(
            str(notebook),
            str(output_path),
            parameters=parameters,
            engine_name=engine_name,
            progress_bar=False,
            log_output=False,
            cwd=cwd,
            timeout_func=cell_timeout,
            start_timeout=60,
        )
    except PapermillExecutionError as exc:
        error = {
            "kind": "error",
            "ename": exc.ename,
            "evalue": exc.evalue,
            "cell": exc.cell_index,
            "lines": _error_lines(exc.ename, exc.evalue, exc.traceback),
        }
    except CellTimeoutError:
        error = {
            "kind": "timeout",
            "ename": "Timeout",
            "cell": None,
            "evalue": f"the document did not finish within {timeout:g} s",
            "lines": [
                (
                    f"Timeout: the document did not finish within {timeout:g} s. "
                    "Fix: raise --timeout or find the slow cell."
                )
            ],
        }
    except DeadKernelError as exc:
        error = {
            "kind": "kernel-died",
            "ename": "DeadKernelError",
            "cell": None,
            "evalue": str(exc) or "Kernel died",
            "lines": [
                (
                    "DeadKernelError: the kernel process died (crash, out of memory, "
                    "or os._exit) while running the notebook."
                )
            ],
        }
    except Exception as exc:  # noqa: BLE001 -- kernel did not start, bad notebook, engine bug
        error = {
            "kind": "engine",
            "ename": type(exc).__name__,
            "evalue": str(exc),
            "cell": None,
            "lines": _error_lines(
                type(exc).__name__, str(exc), traceback.format_exception(exc)[-4:]
            ),
        }
    duration = time.monotonic() - start
    if error is not None:
        if Path(output_path).exists():
            nb = nbformat.read(str(output_path), as_version=4)
            if error["kind"] != "error":
                error["cell"] = _running_cell(nb)
                _banner(nb, error["kind"], error["evalue"], error["cell"])
                nbformat.write(nb, str(output_path))
        return Execution("failed", duration, error, nb=nb)
    headline, title = collect(nb)
    # papermill's last act was writing nb to output_path; nothing changed it since
    return Execution("ok", duration, None, headline, title, nb, saved=Path(output_path))


register_engine("papermill", papermill_execute)


@dataclass(frozen=True)
class Job:
    """One document to make: a notebook, its parameters, and what to render.

    ``key`` identifies the subject; ``formats`` is a subset of ("ipynb", "html", "pdf")
    (the executed notebook is always produced).
    """

    key: str
    notebook: str
    parameters: dict[str, Any]
    timeout: float | None = 600.0
    formats: tuple[str, ...] = ("html",)
    engine: str = "papermill"
    cwd: str | None = None
    document_title: str = "Review"
    subject_name: str | None = None
    #: Environment variables set while the document executes (e.g. ``SALESNB_CHARTS``,
    #: ``SALESNB_DATA_URL``: a secret, so left out of the job's repr, which logs may show).
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    #: A folder the process that renders the document may write its files into itself
    #: (hidden temporary files; :attr:`JobResult.spooled` names them) instead of returning
    #: them as bytes: set for engines on this machine, whose results would otherwise carry
    #: every document through a pipe or two.
    spool: str | None = None


@dataclass
class JobResult:
    """A finished job: status, timings, recorded figures and the output files as bytes."""

    key: str
    status: str
    started: str
    finished: str
    duration: float
    error: dict[str, Any] | None = None
    headline: dict[str, Any] = field(default_factory=dict)
    title: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    worker: str = ""
    #: Outputs written into the job's spool folder instead of ``files``: format -> (path,
    #: SHA-256 of the content). The receiver moves them into place.
    spooled: dict[str, tuple[str, str]] = field(default_factory=dict)


class _Stop(BaseException):
    """Raised in a worker on SIGTERM so the engine's cleanup shuts its kernel down."""


#: Set in a worker once it was told to stop: jobs already queued to it return at once.
_STATE = {"stopping": False}


def _interrupted(duration: float) -> Execution:
    return Execution("failed", duration, {
        "kind": "interrupted", "ename": "Interrupted", "evalue": "the batch was stopped",
        "cell": None, "lines": ["Interrupted: the batch was stopped (Ctrl-C)."]})  # fmt: skip


@contextlib.contextmanager
def _environment(pairs: tuple[tuple[str, str], ...]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k, _ in pairs}
    os.environ.update(dict(pairs))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_job(job: Job, engine: EngineSpec | None = None) -> JobResult:
    """Execute and render one job in this process; all outputs come back as bytes.

    Examples
    --------
    >>> r = run_job(Job("R01", "tests/notebooks/ok.ipynb", {"subject": "R01"}))  # doctest: +SKIP
    >>> r.status, sorted(r.files)                                                # doctest: +SKIP
    ('ok', ['html', 'ipynb'])
    """
    import nbformat

    started, t0 = _now(), time.monotonic()
    if _STATE["stopping"]:
        return JobResult(job.key, "failed", started, _now(), 0.0, _interrupted(0.0).error)
    scratch = Path(tempfile.mkdtemp(prefix="salesnb-job-"))
    try:
        out = scratch / "executed.ipynb"
        try:
            with _environment(job.env):  # a kernel started here inherits it too
                ex = (engine or get_engine(job.engine)).run(
                    Path(job.notebook), dict(job.parameters), out, job.timeout, cwd=job.cwd
                )
        except _Stop:
            _STATE["stopping"] = True
            ex = _interrupted(time.monotonic() - t0)
            if out.exists():
                ex.nb = nbformat.read(str(out), as_version=4)
        return job_result(job, ex, started, t0, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def fix_cell_ids(nb: Any) -> bool:
    """Give the cells papermill adds (parameters, error banner) fixed ids; True if any changed.

    papermill gives them random ids; fixed ones keep reruns comparable.
    """
    changed = False
    for i, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if ERROR_TAG in tags:
            want = f"salesnb-error-{i}"
        elif "injected-parameters" in tags:
            want = f"injected-parameters-{i}"
        else:
            continue
        if cell.get("id") != want:
            cell["id"] = want
            changed = True
    return changed


def job_result(job: Job, ex: Execution, started: str, t0: float, scratch: Path | None) -> JobResult:
    """Render a finished execution (HTML, PDF) and pack every output as bytes.

    ``scratch`` is a folder for the PDF's intermediate files (a temporary one when None).
    """
    import nbformat

    files: dict[str, bytes] = {}
    if ex.nb is not None:
        if not fix_cell_ids(ex.nb) and ex.saved is not None and ex.saved.exists():
            files["ipynb"] = ex.saved.read_bytes()  # what nbformat.writes(ex.nb) gives
        else:
            files["ipynb"] = nbformat.writes(ex.nb).encode("utf-8")
    if ex.status == "ok":
        if scratch is None:
            with tempfile.TemporaryDirectory(prefix="salesnb-job-") as tmp:
                ex = _render(job, ex, Path(tmp), files)
        else:
            ex = _render(job, ex, scratch, files)
    spooled = _spool(files, Path(job.spool)) if job.spool else {}
    return JobResult(
        job.key,
        ex.status,
        started,
        _now(),
        time.monotonic() - t0,
        ex.error,
        ex.headline,
        ex.title,
        files,
        worker=f"{os.uname().nodename}:{os.getpid()}",
        spooled=spooled,
    )


def _spool(files: dict[str, bytes], folder: Path) -> dict[str, tuple[str, str]]:
    """Move ``files`` into hidden temporary files in ``folder``; what could not be written
    stays in ``files``, returned as bytes as usual. The receiver syncs them to disk when it
    moves them into place (a document's process does not wait for the disk)."""
    import hashlib
    import secrets

    spooled = {}
    for fmt in list(files):
        data = files[fmt]
        # the name a batch's clean-up removes should nobody move the file into place
        path = folder / f".spool-{os.getpid()}-{secrets.token_hex(6)}.{fmt}.tmp"
        try:
            with open(path, "xb") as f:
                f.write(data)
        except OSError:
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        spooled[fmt] = (str(path), hashlib.sha256(data).hexdigest())
        del files[fmt]
    return spooled


def _render(job: Job, ex: Execution, scratch: Path, files: dict[str, bytes]) -> Execution:
    from salesnb.core.errors import RenderError
    from salesnb.reports import render

    try:
        if "html" in job.formats or "pdf" in job.formats:
            files["html"] = render.to_html_bytes(
                ex.nb, document_title=job.document_title, subject_name=job.subject_name
            )
        if "pdf" in job.formats:
            page = scratch / "document.html"
            page.write_bytes(files["html"])
            files["pdf"] = render.html_to_pdf(page, scratch / "document.pdf").read_bytes()
        if "html" not in job.formats:
            files.pop("html", None)
    except RenderError as exc:
        ex.status = "failed"
        ex.error = {
            "kind": "render",
            "ename": "RenderError",
            "evalue": str(exc),
            "cell": None,
            "lines": [f"RenderError: {exc}"],
        }
    return ex


# --------------------------------------------------------------------------- runners


def _die_with_parent(parent: int) -> None:
    """Exit this worker as soon as its parent is gone (a SIGKILLed batch leaves no orphans)."""
    try:  # Linux: the kernel kills us with the parent; the poll below is the portable net
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(70)

    threading.Thread(target=watch, daemon=True, name="salesnb-parent-watch").start()


def _worker_init(spec: EngineSpec) -> None:
    _die_with_parent(os.getppid())
    # Kernels inherit this process's stderr; their start-up chatter would garble the
    # progress bar. Failures reach the user through the results, not through stderr.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    # Ctrl-C reaches the whole process group: the parent decides, workers stop on SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def stop(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise _Stop()

    signal.signal(signal.SIGTERM, stop)
    _ENGINES[spec.name] = spec  # engines registered in the parent exist here too
    if spec.prepare is not None:
        spec.prepare()


class LocalRunner:
    """Run jobs in a pool of worker processes on this machine (``workers`` at once).

    Each worker imports papermill and nbconvert once (fork server preload); each
    document still gets its own fresh kernel.
    """

    def __init__(self, workers: int, engine: str = "papermill"):
        import multiprocessing as mp

        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(
            ["salesnb.batch.executor", "salesnb.reports.render", "papermill", "nbconvert"]
        )
        self.workers = max(1, int(workers))
        self.pool = ProcessPoolExecutor(
            self.workers, mp_context=ctx, initializer=_worker_init, initargs=(get_engine(engine),)
        )
        self.futures: dict[Future, Job] = {}

    def run(self, jobs: list[Job]) -> Iterator[tuple[Job, JobResult]]:
        """Yield ``(job, result)`` as jobs finish; a crashed worker fails only its job."""
        pending = {self.pool.submit(run_job, j): j for j in jobs}
        self.futures = pending
        while pending:
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in done:
                job = pending.pop(fut)
                yield job, _result_of(job, fut)

    def close(self, *, interrupted: bool = False, grace: float = 20.0) -> None:
        """Shut the pool down; on interrupt, stop running documents (their kernels too)."""
        if not interrupted:
            self.pool.shutdown(wait=True)
            return
        for fut in self.futures:
            fut.cancel()
        running = [f for f in self.futures if not f.done()]
        from salesnb.core import compat

        procs = compat.pool_processes(self.pool)
        for p in procs:
            if p.is_alive():
                p.terminate()  # SIGTERM -> _Stop in the worker -> nbclient shuts its kernel down
        wait(running, timeout=grace)  # each stopped document reports back once its kernel is gone
        for p in procs:
            if p.is_alive():
                p.kill()
        self.pool.shutdown(wait=False, cancel_futures=True)


def _result_of(job: Job, fut: Any) -> JobResult:
    try:
        return fut.result()
    except Exception as exc:  # noqa: BLE001 -- the worker died, or the cluster lost the task
        now = _now()
        name = type(exc).__name__
        return JobResult(
            job.key,
            "failed",
            now,
            now,
            0.0,
            {
                "kind": "worker",
                "ename": name,
                "evalue": str(exc),
                "cell": None,
                "lines": [f"{name}: {exc}", "The worker running this document died."],
            },
        )


class DaskRunner:
    """Run jobs on a Dask distributed cluster: an address, or ``local:N`` for a loopback one.

    Workers must be able to import salesnb and read the notebook and data paths;
    outputs come back as bytes, so they need no access to the output folder.
    """

    def __init__(self, scheduler: str, engine: str = "papermill"):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise BatchError(
                "--scheduler needs the 'distributed' package. Fix: "
                "pip install 'salesnb[dask]', or drop --scheduler."
            ) from None
        self.cluster = None
        try:
            if scheduler.startswith("local:") or scheduler == "local":
                n = int(scheduler.partition(":")[2] or os.cpu_count() or 1)
                self.cluster = LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=40,
                )
                self.client = Client(self.cluster)
            else:
                self.client = Client(scheduler, timeout="20s")
        except (OSError, ValueError, TimeoutError) as exc:
            if self.cluster is not None:
                self.cluster.close()
            msg = (
                f"Cannot connect to the Dask scheduler {scheduler!r}: {exc}. Fix: check the "
                "address (tcp://HOST:8786) and that the scheduler runs, or use local:N."
            )
            raise BatchError(msg) from None
        self.engine = get_engine(engine)
        self.futures: list[Any] = []

    def run(self, jobs: list[Job]) -> Iterator[tuple[Job, JobResult]]:
        from distributed import as_completed

        by_key = {}
        for job in jobs:
            fut = self.client.submit(run_job, job, self.engine, pure=False, retries=0)
            by_key[fut.key] = job
            self.futures.append(fut)
        for fut in as_completed(self.futures):
            yield by_key[fut.key], _result_of(by_key[fut.key], fut)

    def close(self, *, interrupted: bool = False) -> None:
        if interrupted and self.futures:
            self.client.cancel(self.futures, force=True)
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_runner(
    workers: int | None,
    scheduler: str | None,
    engine: str,
    *,
    warm: tuple[str, str | None, str | None] | None = None,
    charts: str | None = None,
) -> Any:
    """A :class:`DaskRunner` when ``scheduler`` is given, else a :class:`LocalRunner`
    (a :class:`salesnb.batch.fastengine.ForkRunner` for the ``"fork"`` engine).

    ``warm`` is ``(notebook, data, profile)`` of the jobs to come and ``charts`` their chart
    format: the fork engine prepares for them (imports, data, chart converters) while the
    caller is still busy.
    """
    if scheduler:
        return DaskRunner(scheduler, engine)
    if engine == "fork":
        from salesnb.batch.fastengine import ForkRunner

        return ForkRunner(workers or os.cpu_count() or 1, warm=warm, charts=charts)
    return LocalRunner(workers or os.cpu_count() or 1, engine)

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

The jobs, results and engine types (:class:`Job`, :class:`JobResult`, :class:`Execution`,
:class:`EngineSpec`) and the papermill engine live in :mod:`salesnb.batch.jobs`, which the
engines build on; this module re-exports them and picks the fork engine
(:mod:`salesnb.batch.fastengine`) when a batch first asks for it.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from salesnb.batch.jobs import (
    ERROR_TAG,
    Engine,
    EngineSpec,
    Execution,
    Job,
    JobResult,
    Stopped,
    execute_job,
    fix_cell_ids,
    job_result,
    now_iso,
    papermill_execute,
    spool_outputs,
)
from salesnb.core.errors import BatchError, ParameterError

# The types and the default engine live in salesnb.batch.jobs (which the engines import and
# which imports no engine); they stay importable from here, the batch's public engine API.
__all__ = [
    "ERROR_TAG",
    "DaskRunner",
    "Engine",
    "EngineSpec",
    "Execution",
    "Job",
    "JobResult",
    "LocalRunner",
    "default_engine",
    "engine_names",
    "fix_cell_ids",
    "get_engine",
    "job_result",
    "make_runner",
    "papermill_execute",
    "register_engine",
    "run_job",
]

#: The name tests/test_batch.py knows :func:`salesnb.batch.jobs.spool_outputs` by.
_spool = spool_outputs

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

    Looked up in this order: :func:`register_engine`, the fork engine
    (:data:`salesnb.batch.fastengine.FORK_ENGINE`, where ``os.fork`` exists), the
    ``salesnb.engines`` entry points (an :class:`EngineSpec` or an engine callable), then
    papermill's engines (its own and the ``papermill.engines`` entry points), run through
    :func:`papermill_execute`.

    Examples
    --------
    >>> get_engine("papermill").run is papermill_execute
    True
    """
    if name == "fork" and name not in _ENGINES and hasattr(os, "fork"):
        # the fork engine's modules are imported when a batch first asks for it (they do not
        # import this module: the engines build on salesnb.batch.jobs)
        from salesnb.batch import fastengine

        _ENGINES[name] = fastengine.FORK_ENGINE
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


register_engine("papermill", papermill_execute)


def run_job(job: Job, engine: EngineSpec | None = None) -> JobResult:
    """Execute and render one job in this process; all outputs come back as bytes.

    ``engine`` defaults to the one ``job.engine`` names (:func:`get_engine`); this is what a
    worker of :class:`LocalRunner` or :class:`DaskRunner` runs (:func:`salesnb.batch.jobs.
    execute_job` does the work).

    Examples
    --------
    >>> r = run_job(Job("R01", "tests/notebooks/ok.ipynb", {"subject": "R01"}))  # doctest: +SKIP
    >>> r.status, sorted(r.files)                                                # doctest: +SKIP
    ('ok', ['html', 'ipynb'])
    """
    return execute_job(job, engine or get_engine(job.engine))


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
        raise Stopped()

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
                p.terminate()  # SIGTERM -> Stopped in the worker -> nbclient shuts its kernel down
        wait(running, timeout=grace)  # each stopped document reports back once its kernel is gone
        for p in procs:
            if p.is_alive():
                p.kill()
        self.pool.shutdown(wait=False, cancel_futures=True)


def _result_of(job: Job, fut: Any) -> JobResult:
    try:
        return fut.result()
    except Exception as exc:  # noqa: BLE001 -- the worker died, or the cluster lost the task
        now = now_iso()
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

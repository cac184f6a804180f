"""What a batch runs and what it gets back: jobs, executions, engines' types, papermill's engine.

A :class:`Job` is one document to make; an engine (an :class:`EngineSpec`'s ``run``) turns a
notebook, its parameters, an output path and a timeout into an :class:`Execution`;
:func:`execute_job` runs one job with a given engine in this process and packs every output
into a :class:`JobResult` (bytes, or files spooled into the job's folder).
:func:`papermill_execute` is the default engine, papermill's ``execute_notebook`` with a
fresh kernel per document.

This module imports no engine and no runner: the engines (:mod:`salesnb.batch.fastengine` and
its parts) build on it, and :mod:`salesnb.batch.executor` (the engine registry and the
runners) re-exports its names, so ``salesnb.batch.executor.Job`` and friends keep working.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

ERROR_TAG = "papermill-error-cell-tag"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


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
    """A named engine and an optional ``prepare()`` run once per worker process (warm-up).

    :func:`salesnb.batch.executor.register_engine` makes one available by name.

    Examples
    --------
    >>> EngineSpec("papermill", papermill_execute).prepare is None
    True
    """

    name: str
    run: Engine
    prepare: Callable[[], None] | None = None


def now_iso() -> str:
    """The time now in UTC, ISO 8601 to the millisecond (what results record as started/finished).

    Examples
    --------
    >>> now_iso().endswith("+00:00")
    True
    """
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _error_lines(ename: str, evalue: str, tb: Iterable[str] = (), n: int = 6) -> list[str]:
    head = f"{ename}: {evalue}".strip().rstrip(":")
    lines = [ln for t in tb for ln in _ANSI.sub("", t).splitlines() if ln.strip()]
    # The last traceback lines name the failing statement; the header says what failed.
    tail = [ln for ln in lines[-n:] if ln.strip() != head][-(n - 1) :]
    return [head, *tail]


def add_error_banner(nb: Any, kind: str, text: str, cell: int | None) -> None:
    """Add papermill-style error banners to a partial notebook papermill did not mark: one on
    top saying ``kind`` and ``text``, one before cell ``cell`` (an index, or None).

    Examples
    --------
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    >>> add_error_banner(nb, "timeout", "too slow", 0)
    >>> [c.cell_type for c in nb.cells]
    ['markdown', 'markdown', 'code']
    """
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


def running_cell(nb: Any) -> int | None:
    """The cell that was running when the notebook stopped: marked "running", or else (a
    timeout, where papermill marks the interrupted cell "completed") the last one started.

    Examples
    --------
    >>> import nbformat
    >>> cell = nbformat.v4.new_code_cell("1", metadata={"papermill": {"status": "running"}})
    >>> running_cell(nbformat.v4.new_notebook(cells=[cell]))
    0
    """
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
                error["cell"] = running_cell(nb)
                add_error_banner(nb, error["kind"], error["evalue"], error["cell"])
                nbformat.write(nb, str(output_path))
        return Execution("failed", duration, error, nb=nb)
    headline, title = collect(nb)
    # papermill's last act was writing nb to output_path; nothing changed it since
    return Execution("ok", duration, None, headline, title, nb, saved=Path(output_path))


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


class Stopped(BaseException):
    """Raised in a worker on SIGTERM so the engine's cleanup shuts its kernel down
    (:func:`execute_job` turns it into an "interrupted" result)."""


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


def execute_job(job: Job, engine: EngineSpec) -> JobResult:
    """Execute and render one job in this process with ``engine``; outputs come back as bytes
    (or spooled into ``job.spool``).

    :func:`salesnb.batch.executor.run_job` is this with the engine looked up by ``job.engine``.

    Examples
    --------
    >>> spec = EngineSpec("papermill", papermill_execute)
    >>> r = execute_job(Job("R01", "tests/notebooks/ok.ipynb", {"subject": "R01"}), spec)  # doctest: +SKIP
    >>> r.status, sorted(r.files)                                                         # doctest: +SKIP
    ('ok', ['html', 'ipynb'])
    """
    import nbformat

    started, t0 = now_iso(), time.monotonic()
    if _STATE["stopping"]:
        return JobResult(job.key, "failed", started, now_iso(), 0.0, _interrupted(0.0).error)
    scratch = Path(tempfile.mkdtemp(prefix="salesnb-job-"))
    try:
        out = scratch / "executed.ipynb"
        try:
            with _environment(job.env):  # a kernel started here inherits it too
                ex = engine.run(
                    Path(job.notebook), dict(job.parameters), out, job.timeout, cwd=job.cwd
                )
        except Stopped:
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
    spooled = spool_outputs(files, Path(job.spool)) if job.spool else {}
    return JobResult(
        job.key,
        ex.status,
        started,
        now_iso(),
        time.monotonic() - t0,
        ex.error,
        ex.headline,
        ex.title,
        files,
        worker=f"{platform.node()}:{os.getpid()}",
        spooled=spooled,
    )


def spool_outputs(files: dict[str, bytes], folder: Path) -> dict[str, tuple[str, str]]:
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

"""The batch's worker pool: a zygote process forking one document per job
(:class:`ForkRunner`, ``salesnb batch --engine fork``).
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from salesnb.batch.ahead import (
    adopt,
    compute_shared,
    data_key,
    data_signature,
    ready_for,
    warm_imports,
)
from salesnb.batch.forkdoc import Child, flush_real_streams, fork_document
from salesnb.batch.jobs import Job, JobResult, job_result, now_iso
from salesnb.batch.warmup import (
    converters,
    ensure_converter,
    free_converter,
    load_vega_bundle,
    needs_converter,
    parent_death_signal,
    prepare,
    runtime_threads,
    shutdown,
)
from salesnb.core.errors import BatchError

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
    parent_death_signal()
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
            pending = [c.warm_up() for c in converters()]
        from salesnb.data import memo

        # what the process this zygote was forked from computed or asked for (a notebook, a
        # test session) is none of the documents' business: shared results start afresh
        memo.clear()
        prepare(converter=False)  # started with the first document that draws SVG
        if warm is not None:
            notebook, data, profile = warm
            ready_for(notebook, {"data": data, "profile": profile})
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

    queue: list[Job] = []
    running: dict[Any, Child] = {}
    outbox: list[tuple] = []  # results go out after the next documents are forked
    learned: list[Child] = []  # what finished documents imported and asked for
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
            if needs_converter(job):
                # one converter per worker: vl-convert draws one chart at a time
                ensure_converter(count=workers)
                conv = free_converter(running.values())
            else:
                load_vega_bundle()
            ready_for(job.notebook, job.parameters)
            child = fork_document(job, render=True, converter=conv, ask=True)
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
            if isinstance(child.outcome, JobResult):
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


def _result(child: Child, how: str) -> JobResult:
    if isinstance(child.outcome, JobResult):
        return child.outcome
    ex = child.failure(how)
    result = job_result(child.job, ex, child.started, child.t0, None)
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
        flush_real_streams()
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

        path = data_key(data)  # a URL masked: the key the documents ask for
        prof = profile
        if profile is not None and Path(profile).exists():
            prof = str(Path(profile).resolve())
        signature = data_signature(path)  # before loading: a file edited meanwhile mismatches
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

    def run(self, jobs: list[Job]) -> Iterator[tuple[Job, JobResult]]:
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


def _lost(job: Job, why: str) -> JobResult:
    now = now_iso()
    last = why.strip().splitlines()[-1] if why.strip() else why
    return JobResult(job.key, "failed", now, now, 0.0, {
        "kind": "worker", "ename": "WorkerError", "evalue": last, "cell": None,
        "lines": [f"WorkerError: {last}", "The process running this document died."],
    })  # fmt: skip

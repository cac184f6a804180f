"""Run every fidelity case through papermill with one engine; one JSON line per case.

Usage: ``python run_engine.py ENGINE OUTDIR`` (ENGINE: a papermill engine name, e.g.
``nbclient``, ``salesnb``, ``salesnb-fork``). Each case's output notebook is written to
OUTDIR, and OUTDIR/results.jsonl gets ``{"case", "exception", "message"}`` as each case
ends, so a process the engine let a notebook kill shows where it died.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from cases import CASES, FILE, NOTEBOOKS


class _LogFile(logging.Handler):
    """papermill's log records of one case, one ``LEVEL message`` block each."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.INFO)
        self.file = open(path, "w", encoding="utf-8")  # noqa: SIM115 -- closed in close()

    def emit(self, record: logging.LogRecord) -> None:
        self.file.write(json.dumps([record.levelname, record.getMessage()]) + "\n")

    def close(self) -> None:
        self.file.close()
        super().close()


@contextlib.contextmanager
def _streams(kwargs: dict, dest: Path) -> Iterator[None]:
    """Open the files a case's kwargs ask for (:data:`cases.FILE`) beside its notebook, and
    record papermill's log records when ``log_output`` is on."""
    with contextlib.ExitStack() as stack:
        for key in ("stdout_file", "stderr_file"):
            if kwargs.get(key) == FILE:
                path = dest.with_suffix("." + key.partition("_")[0])
                kwargs[key] = stack.enter_context(open(path, "w", encoding="utf-8"))
        if kwargs.get("log_output"):
            handler = _LogFile(dest.with_suffix(".log"))
            logger = logging.getLogger("papermill")
            level = logger.level
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            stack.callback(logger.setLevel, level)
            stack.callback(handler.close)
            stack.callback(logger.removeHandler, handler)
        yield


def _kernelspec(path: Path) -> str | None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return nb.get("metadata", {}).get("kernelspec", {}).get("name")


def main(engine: str, outdir: str) -> None:
    import papermill
    from papermill.engines import papermill_engines

    papermill_engines.register_entry_points()
    if engine.startswith("salesnb") and engine not in papermill_engines._engines:
        # an editable install made before the entry point existed: the module's own class
        import importlib

        module, _, cls = {
            "salesnb": "salesnb.batch.fastengine:InProcessEngine",
            "salesnb-fork": "salesnb.batch.forkengine:ForkEngine",
        }[engine].partition(":")
        papermill_engines.register(engine, getattr(importlib.import_module(module), cls))
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "a", encoding="utf-8") as log:
        only = set(sys.argv[3:])
        for case in CASES:
            if only and case.name not in only:
                continue
            src = NOTEBOOKS / case.path
            dest = out / (case.name.replace("/", "__") + ".ipynb")
            exc_name = message = None
            kwargs = dict(case.kwargs)
            if not _kernelspec(src):  # papermill asks for a kernel name then: the same for all
                kwargs.setdefault("kernel_name", "python3")
            t0 = time.monotonic()
            try:
                with _streams(kwargs, dest):
                    papermill.execute_notebook(
                        str(src),
                        str(dest),
                        parameters=case.parameters,
                        engine_name=engine,
                        progress_bar=False,
                        cwd=str(src.parent),
                        **kwargs,
                    )
            except BaseException as exc:  # noqa: BLE001 -- what the engine raised is the result
                exc_name = f"{type(exc).__module__}.{type(exc).__qualname__}"
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            line = {"case": case.name, "exception": exc_name, "message": message,
                    "seconds": round(time.monotonic() - t0, 2)}  # fmt: skip
            log.write(json.dumps(line) + "\n")
            log.flush()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

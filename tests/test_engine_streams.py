"""papermill's ``log_output``, ``stdout_file`` and ``stderr_file`` under salesnb's engines.

Each engine runs the same notebook through ``papermill.execute_notebook`` with the three
arguments; what it writes to the two files and logs on papermill's logger must be what
papermill's own engine (nbclient, a real kernel) writes and logs, record for record.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="the fork engine needs os.fork"),
]

ENGINES = ("salesnb", "salesnb-fork")
CELLS = [
    "import sys\nprint('out one')\nprint('err one', file=sys.stderr)",
    "from IPython.display import display\ndisplay('shown')\n42",
    "print('a', end='')\nsys.stdout.flush()\nprint('b')\nsys.stderr.write('e2\\n')",
    # an Output widget takes what is printed inside it: nbclient neither logs nor copies it
    (
        "import ipywidgets\nout = ipywidgets.Output()\nwith out:\n    print('in widget')\n"
        "print('after widget')"
    ),
    "print('before error')\nraise ValueError('stop here')",
    "print('never runs')",
]


def _engine(name: str) -> None:
    from papermill.engines import papermill_engines

    papermill_engines.register_entry_points()
    if name == "salesnb":
        from salesnb.batch import fastengine

        papermill_engines.register(name, fastengine.InProcessEngine)
    elif name == "salesnb-fork":
        from salesnb.batch import forkengine

        papermill_engines.register(name, forkengine.ForkEngine)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelname, record.getMessage()))


@pytest.fixture(scope="module")
def notebook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    v4 = nbformat.v4
    nb = v4.new_notebook(cells=[v4.new_code_cell(src) for src in CELLS])
    nb.metadata.kernelspec = {"name": "python3", "language": "python", "display_name": "Python 3"}
    path = tmp_path_factory.mktemp("streams") / "streams.ipynb"
    nbformat.write(nb, str(path))
    return path


def _run(engine: str, notebook: Path, **kwargs: object) -> dict[str, object]:
    """What ``engine`` wrote to stdout_file/stderr_file and logged (cell logs only)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    _engine(engine)
    out, err, handler = io.StringIO(), io.StringIO(), _Records()
    logger = logging.getLogger("papermill")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with pytest.raises(PapermillExecutionError, match="stop here"):
            papermill.execute_notebook(
                str(notebook),
                str(notebook.with_name(f"{engine}.ipynb")),
                engine_name=engine,
                progress_bar=False,
                stdout_file=out,
                stderr_file=err,
                **kwargs,
            )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    # papermill's own lines about the input and output paths are the same for every engine
    skip = ("Input Notebook", "Output Notebook")
    records = [r for r in handler.records if not r[1].startswith(skip)]
    return {"stdout": out.getvalue(), "stderr": err.getvalue(), "log": records}


def _nbclient(notebook: Path, **kwargs: object) -> dict[str, object]:
    """:func:`_run` on papermill's own engine, with a cell timeout and two more tries.

    nbclient can wait forever for the reply to a cell that uses an Output widget
    (jupyter/nbclient#312, open: ``shell_channel.get_msg(timeout=None)`` misses the reply);
    seen here once, under load. With a timeout the wait ends in ``CellTimeoutError`` and a
    fresh kernel runs the notebook again, instead of the suite hanging.
    """
    from nbclient.exceptions import CellTimeoutError

    for attempt in range(3):
        try:
            return _run("nbclient", notebook, execution_timeout=120, **kwargs)
        except CellTimeoutError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def reference(notebook: Path) -> dict[str, dict[str, object]]:
    """papermill's own engine, with and without ``log_output``."""
    return {
        "logged": _nbclient(notebook, log_output=True),
        "quiet": _nbclient(notebook),
    }


def test_reference_is_what_the_notebook_says(reference) -> None:
    """The reference itself, by hand: so a comparison with it means something."""
    got = reference["logged"]
    assert got["stdout"] == "out one\nab\nafter widget\nbefore error\n"
    assert got["stderr"] == "err one\ne2\n"
    log = got["log"]
    assert ("WARNING", "err one\n") in log
    assert ("INFO", "'shown'") in log
    assert ("INFO", "42") in log
    assert not any("in widget" in m or "never runs" in m for _, m in log)
    assert log[0] == ("INFO", "Executing notebook with kernel: python3")
    assert log[1] == ("INFO", "Executing Cell " + "1".ljust(40, "-"))
    assert reference["quiet"]["log"] == [log[0]]


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_writes_and_logs_as_papermill(engine: str, notebook: Path, reference) -> None:
    assert _run(engine, notebook, log_output=True) == reference["logged"]


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_without_log_output_only_writes_the_files(engine, notebook, reference) -> None:
    assert _run(engine, notebook) == reference["quiet"]


@pytest.mark.parametrize("engine", ("nbclient", *ENGINES))
def test_logged_stderr_never_lands_in_the_notebook(engine: str, notebook: Path) -> None:
    """With no logging set up, Python prints warnings to ``sys.stderr`` when they are logged:
    the in-process engine must print them to the host's stderr, not into the cell (where
    logging the cell's stderr again would loop)."""
    out = notebook.with_name(f"lastresort-{engine}.ipynb")
    code = (
        "import sys, papermill\n"
        "from papermill.engines import papermill_engines\n"
        "papermill_engines.register_entry_points()\n"
        "from salesnb.batch import fastengine, forkengine\n"
        "papermill_engines.register('salesnb', fastengine.InProcessEngine)\n"
        "papermill_engines.register('salesnb-fork', forkengine.ForkEngine)\n"
        "try:\n"
        f"    papermill.execute_notebook({str(notebook)!r}, {str(out)!r}, engine_name="
        f"{engine!r}, progress_bar=False, log_output=True)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    # papermill's own engine can wait forever on the Output-widget cell (jupyter/nbclient#312,
    # see _nbclient): it gets two more fresh processes; the kit's engines get none
    attempts = 3 if engine == "nbclient" else 1
    for attempt in range(attempts):
        try:
            proc = subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
                check=False,
            )
            break
        except subprocess.TimeoutExpired:
            if attempt + 1 == attempts:
                raise
    assert proc.stdout.strip() == "PapermillExecutionError", proc.stderr
    assert proc.stderr.count("err one") == 1
    nb = nbformat.read(str(out), as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")  # after papermill's error banner
    texts = [o.get("text", "") for o in first.outputs]
    assert texts == ["out one\n", "err one\n"]

"""salesnb's papermill engines against stock papermill, on nbclient's and papermill's own
test notebooks (vendored, see README.md) and a few of this suite's.

Each engine runs every case once per module, in its own process (run_engine.py), with a
secret piped to its standard input; each output notebook is compared cell by cell with
papermill's (engine nbclient) after normalising times, addresses and random ids
(normalise.py). Any difference fails, except the ones listed in ``ALLOWED`` with a reason.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fidelity.cases import CASES, NOTEBOOKS, SECRET
from tests.fidelity.compare import differences, results

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
REFERENCE = "nbclient"
ENGINES = ("salesnb", "salesnb-fork")
#: (engine, case) -> why a difference from papermill is accepted. Keep it short.
ALLOWED: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every engine's run of every case (the three engines run side by side)."""
    base = tmp_path_factory.mktemp("fidelity")
    out = {e: base / e for e in (REFERENCE, *ENGINES)}
    procs = []
    for engine, folder in out.items():
        log = open(base / f"{engine}.log", "wb")  # noqa: SIM115 -- closed below
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "run_engine.py"), engine, str(folder)],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        assert proc.stdin is not None
        proc.stdin.write((SECRET + "\n").encode() * 100)
        proc.stdin.close()
        procs.append((proc, log))
    for proc, log in procs:
        try:
            proc.wait(timeout=1800)  # a loaded CI machine: 45 real kernels each
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    return out


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_engine_matches_papermill(runs: dict[str, Path], engine: str, case) -> None:
    diffs = differences(runs[REFERENCE], runs[engine], case.name, NOTEBOOKS / case.path)
    if diffs and (engine, case.name) in ALLOWED:
        pytest.xfail(ALLOWED[(engine, case.name)])
    assert not diffs, f"{engine} differs from papermill on {case.name}:\n" + "\n".join(diffs)


def test_reference_ran_every_case(runs: dict[str, Path]) -> None:
    """The comparison means something only if papermill itself ran every case."""
    assert set(results(runs[REFERENCE])) == {c.name for c in CASES}


@pytest.mark.parametrize("engine", (REFERENCE, *ENGINES))
def test_no_engine_reads_the_hosts_stdin(runs: dict[str, Path], engine: str) -> None:
    written = list(runs[engine].glob("*.ipynb"))
    assert written
    leaked = [p.name for p in written if SECRET in p.read_text(encoding="utf-8")]
    assert not leaked, f"the secret piped to the host reached {leaked}"

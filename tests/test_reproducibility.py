"""The same data, parameters and kit version give the same figures and the same documents.

The forecast (Monte Carlo simulation, model selection) and the pipeline review run twice for
three sample reps through ``salesnb.batch.documents.run`` with its default engine: once in this
process with two workers, once in a fresh interpreter with another hash seed, one worker and
the subjects in reverse order. Headline figures, title blocks, HTML documents and notebook
outputs must be identical (run timestamps and durations aside).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from builds import build_once

from salesnb.batch import documents as batch

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
REPS = ["R04", "R07", "R27"]  # an under-performer, the star, the typical rep
NOTEBOOKS = ("forecast", "pipeline_review")

pytestmark = pytest.mark.slow


_SECOND_RUN = """
import sys
from salesnb.batch import documents as batch
out, data, *notebooks = sys.argv[1:]
for nb in notebooks:
    batch.run(nb, data=data, out=f"{out}/{nb}", only=%r, workers=1, progress=False)
"""


@pytest.fixture(scope="session")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    def build(out: Path) -> None:
        for nb in NOTEBOOKS:
            batch.run(nb, data=SAMPLE, out=out / "a" / nb, only=REPS, workers=2, progress=False)
        env = dict(os.environ, PYTHONHASHSEED="12345")
        code = _SECOND_RUN % (REPS[::-1],)
        args = [sys.executable, "-c", code, str(out / "b"), str(SAMPLE), *NOTEBOOKS]
        done = subprocess.run(
            args, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, done.stderr[-3000:]

    out = build_once(tmp_path_factory, "hardening-reproducibility", build)
    return out / "a", out / "b"


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def outputs(path: Path) -> list:
    """A notebook's cells and outputs without run timestamps and durations."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [
        (c["cell_type"], c["source"], c.get("execution_count"), c.get("outputs", []))
        for c in nb["cells"]
    ]


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_same_inputs_give_the_same_figures(two_runs, notebook):
    a, b = (_manifest(run / notebook) for run in two_runs)
    assert a["summary"]["ok"] == b["summary"]["ok"] == len(REPS)
    assert a["data"]["fingerprint"] == b["data"]["fingerprint"]
    heads = [{s["key"]: (s["headline"], s["title"]) for s in m["subjects"]} for m in (a, b)]
    assert heads[0] == heads[1]
    assert all(h for h, _ in heads[0].values())  # figures were recorded at all


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_same_inputs_give_the_same_documents(two_runs, notebook):
    a, b = (run / notebook for run in two_runs)
    for s in _manifest(a)["subjects"]:
        html = [(run / s["outputs"]["html"]["path"]).read_text(encoding="utf-8") for run in (a, b)]
        assert html[0] == html[1], f"{notebook} {s['key']}: HTML differs"
        cells = [outputs(run / s["outputs"]["ipynb"]["path"]) for run in (a, b)]
        assert cells[0] == cells[1], f"{notebook} {s['key']}: notebook outputs differ"

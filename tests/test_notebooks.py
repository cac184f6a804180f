"""The five workbooks executed end to end with papermill, then checked with nbval.

Each case runs one notebook in a fresh python3 kernel with the notebooks folder as working
directory (as JupyterLab and the batch do), on the sample data for a spread of personas and
subjects (every notebook for the typical rep), and on the public data set through its import
profile. Every executed notebook must record a title and its headline figures, and a rep's
notebook must not contain any other rep's name or id nor any account that rep does not own.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from salesnb.data.sample import PERSONAS
from salesnb.reports import record

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SAMPLE = ROOT / "data" / "sample"
PUBLIC = ROOT / ".." / "shared" / "data" / "crm_sales_opportunities"
NAMES = (
    "goal_setting",
    "pipeline_review",
    "forecast",
    "performance_improvement_plan",
    "one_on_one",
)

HEADLINE_KEYS = {
    "goal_setting": {"annual_target", "first_quarter_target", "pipeline_needed", "goals_checked",
                     "goals_failing", "flags"},
    "pipeline_review": {"pipeline", "coverage", "coverage_next", "stale_deals", "past_due_deals",
                        "deals_needing_attention", "flags"},
    "forecast": {"forecast", "forecast_p10", "forecast_p90", "target", "p_target", "flags"},
    "performance_improvement_plan": {"attainment", "goals", "checkpoints_due", "on_track",
                                     "behind", "flags"},
    "one_on_one": {"attainment", "bookings", "attainment_percentile", "coverage_next",
                   "talking_points", "flags"},
}  # fmt: skip

TYPICAL = PERSONAS["typical"]
NEW_HIRE = PERSONAS["new_hires"][0]
UNDER = PERSONAS["under_performers"]
EMPTY = PERSONAS["empty_pipeline"]
PUBLIC_REP = "Darcel Schlecht"  # an agent with many deals in the public data set

# (notebook, subject_type, subject, extra parameters, data set, run nbval on it)
CASES = [
    *((nb, "rep", TYPICAL, {}, "sample", True) for nb in NAMES),
    ("one_on_one", "rep", NEW_HIRE, {"since": "2026-09-01"}, "sample", False),
    ("one_on_one", "rep", EMPTY, {}, "sample", False),
    ("one_on_one", "manager", "Rebecca Stone", {}, "sample", False),
    ("pipeline_review", "rep", EMPTY, {}, "sample", False),
    ("pipeline_review", "rep", UNDER[0], {"compare_to": "2026-07-01"}, "sample", False),
    ("pipeline_review", "region", "EMEA", {}, "sample", False),
    ("forecast", "rep", NEW_HIRE, {}, "sample", False),
    ("forecast", "manager", "Kevin O'Neill", {}, "sample", False),
    ("goal_setting", "rep", UNDER[0], {"annual_target": 400000.0}, "sample", False),
    ("goal_setting", "region", "North America West", {"split_method": "capacity"}, "sample",
     False),
    ("performance_improvement_plan", "rep", UNDER[1], {"plan_start": "2026-07-01"}, "sample",
     False),
    ("performance_improvement_plan", "rep", NEW_HIRE, {}, "sample", False),
    ("performance_improvement_plan", "manager", "Ingrid Svensson", {}, "sample", False),
    *((nb, "rep", PUBLIC_REP, {}, "public", False) for nb in NAMES),
]  # fmt: skip


def _id(case: tuple) -> str:
    nb, st, s, extra, data, _ = case
    return f"{nb}-{data}-{st}-{s}" + ("-" + "-".join(extra) if extra else "")


def _strings(node: object) -> list[str]:
    """Every string in a JSON document (keys and values), escapes decoded."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (k, *_strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def _data(kind: str) -> tuple[Path, str | None]:
    if kind == "public":
        if not (PUBLIC / "sales_pipeline.csv").is_file():
            pytest.skip(
                f"public data set not found at {PUBLIC.resolve()} (../shared beside the repo)"
            )
        return PUBLIC.resolve(), "crm_sales_opportunities"
    return SAMPLE, None


def _leaks(nb_json: dict, data: Path, profile: str | None, rep: str) -> list[str]:
    """Other reps' names/ids and accounts the rep does not own that appear in the notebook."""
    from salesnb.data.io import load
    from salesnb.reports import facts

    ctx = facts.context(load(data, profile=profile), "rep", rep)
    text = "\n".join(_strings(nb_json))
    assert ctx.subject.name in text  # the scan reads what the reader reads
    found = []
    for term in facts.forbidden_terms(ctx):
        if re.search(rf"(?<![\w]){re.escape(term)}(?![\w])", text):
            found.append(term)
    return found


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_notebook_runs(case, tmp_path):
    import papermill

    nb_name, subject_type, subject, extra, kind, nbval = case
    data, profile = _data(kind)
    params = {"data": str(data), "profile": profile, "subject_type": subject_type,
              "subject": subject, **extra}  # fmt: skip
    out = tmp_path / f"{nb_name}.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{nb_name}.ipynb"), str(out), parameters=params, kernel_name="python3",
        cwd=str(NOTEBOOKS), progress_bar=False, log_output=False,
    )  # fmt: skip
    nb = json.loads(out.read_text(encoding="utf-8"))
    heads, title = record.collect(nb)
    missing = HEADLINE_KEYS[nb_name] - set(heads)
    assert not missing, f"headline lacks {sorted(missing)}: {heads}"
    assert title["subject_name"] and title["period"] and title["data_fingerprint"]
    if subject_type != "rep":
        assert title["subject_name"] == subject
    errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors
    stderr = [o for c in nb["cells"] for o in c.get("outputs", [])
              if o["output_type"] == "stream" and o["name"] == "stderr"]  # fmt: skip
    assert not stderr, f"warnings leaked into the document: {stderr[:1]}"
    charts = [o for c in nb["cells"] for o in c.get("outputs", []) if "image/svg+xml" in
              o.get("data", {})]  # fmt: skip
    assert charts, "no chart carries a static SVG"
    if subject_type == "rep":
        assert _leaks(nb, data, profile, subject) == []
    if nb_name == "performance_improvement_plan" and "plan_start" in extra:
        assert heads["checkpoints_due"] > 0
    if nbval:
        (tmp_path / "pytest.ini").write_text("[pytest]\n")
        res = subprocess.run(
            [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-q",
             "-p", "no:cacheprovider", "-p", "no:xdist", "--rootdir", str(tmp_path), str(out)],
            cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]


@pytest.mark.parametrize("name", NAMES)
def test_notebook_shape(name):
    import papermill

    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    declared = {t.id for n in ast.parse(params[0].source).body if isinstance(n, ast.Assign)
                for t in n.targets if isinstance(t, ast.Name)}  # fmt: skip
    assert {"data", "profile", "subject_type", "subject", "period", "as_of"} <= declared
    # papermill (and so the batch's parameter check) must read every one of them
    assert set(papermill.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))) == declared
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "record.title(" in code and "record.headline(" in code
    last_code = [c for c in nb.cells if c.cell_type == "code"][-1].source
    assert last_code.startswith("record.headline(")


@pytest.mark.parametrize("name", NAMES)
def test_no_long_functions_in_notebooks(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
                lines = node.end_lineno - node.lineno + 1
                assert lines <= 3, f"{name}: a {lines}-line definition belongs in salesnb"

"""The workshop notebooks: structure, exercise answers that match the code, papermill and nbval.

Each notebook's expected exercise answers are recomputed here with the pure functions of
:mod:`salesnb.apps.workshop` on the sample data, so a change in the analytics that would make a
printed answer wrong fails this test instead of misleading a workshop.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from answer_text import answer_in

from salesnb.apps import widgets as apps
from salesnb.apps import workshop as ws
from salesnb.reports.workbooks import pipeline_split

ROOT = Path(__file__).resolve().parents[1]
WORKSHOP = ROOT / "notebooks" / "workshop"
SAMPLE = ROOT / "data" / "sample"
NAMES = [
    "smart_goal_builder",
    "target_decomposition",
    "reverse_funnel",
    "forecast_what_if",
    "pipeline_explorer",
]
OBJECTIVES = ["Grow new-logo revenue", "Expand existing accounts"]


def _m(x: float) -> str:
    return ws.fmt_money(x, "USD")


def exercise_answers(wb) -> dict[str, list[str]]:
    """Text each notebook's answers must contain, computed from the sample data."""
    out: dict[str, list[str]] = {}
    # SMART goal builder: R01, objective set, deadline at quarter end.
    sc = ws.SmartContext(wb, objectives=OBJECTIVES)
    kw = {"rep_id": "R01", "deadline": "2026-12-31", "objective": OBJECTIVES[0]}
    big = ws.smart_feedback(sc, target="500k", **kw).result.criteria["A"]
    rel = ws.smart_feedback(sc, target="+20%", **{**kw, "objective": ""})
    no_obj = rel.result.criteria["R"]
    wr = ws.smart_feedback(sc, metric="win_rate", target="35%", **kw).result.criteria["A"]
    out["smart_goal_builder"] = [
        f"**{big.status}**: {big.reason}",
        f"{rel.target_note}\n\n**{no_obj.status}**: {no_obj.reason}",
        f"**{wr.status}**: {wr.reason}",
    ]
    # Target decomposition of FY2027.
    dc = ws.DecompositionContext.from_workbook(wb)
    even, _ = ws.decompose_target(dc, 1_200_000, year_start="2027-01-01", method="even")
    jan = even.weeks[even.weeks["month"] == "2027-01-01"]
    seas, _ = ws.decompose_target(dc, dc.default_total, year_start="2027-01-01")
    top = seas.quarters.loc[seas.quarters["amount"].idxmax()]
    cust, reps = ws.decompose_target(
        dc, 1_200_000, year_start="2027-01-01", method="custom",
        custom_weights="Q1=20, Q2=25, Q3=25, Q4=30",
    )  # fmt: skip
    first = reps.sort_values(["amount", "name"], ascending=[False, True]).iloc[0]
    out["target_decomposition"] = [
        f"{_m(jan['amount'].iloc[0])} for the week of {jan['week_start'].iloc[0]:%d %b %Y}",
        f"{top['quarter']}: {_m(top['amount'])} ({top['amount'] / dc.default_total:.1%})",
        " / ".join(_m(a) for a in cust.quarters["amount"]),
        f"{first['name']}: {_m(first['amount'])}",
    ]
    # Reverse funnel for the whole team and the quarter's target.
    r = ws.history_rates(wb)
    t = wb.targets
    target = float(t.loc[t["month"].between("2026-10-01", "2026-12-31"), "amount"].sum())
    base = {
        "win_rate": r["win_rate"], "avg_deal_size": round(r["avg_deal_size"], -2),
        "stage_conversions": r["stage_conversions"], "activity_to_opp": r["activity_to_opp"],
        "activity_mix": r["activity_mix"], "weeks": 13,
    }  # fmt: skip
    v0 = ws.funnel_view(target, **base).per_week
    v1 = ws.funnel_view(target, **{**base, "win_rate": 0.30}).per_week
    ann = apps.ReverseFunnelApp(wb, rep="R01")  # the app's own pre-fill from R01's history
    v2 = ann.result
    out["reverse_funnel"] = [
        (
            f"{v0['opportunities']:,.0f} opportunities, {v0['meeting']:,.0f} meetings and "
            f"{v0['call']:,.0f} calls per week"
        ),
        f"{v1['opportunities']:,.0f} opportunities per week (deals stay at {v1['deals']:,.0f})",
        (
            f"{_m(float(ann.controls['target'].value))}; {v2.funnel.deals_needed} deals; "
            f"{v2.per_week['opportunities']:,.0f} opportunities and {v2.per_week['call']:,.0f} "
            "calls per week"
        ),
    ]
    # Forecast what-if for Olga Petrova (R15), the quarter in play.
    wc = ws.WhatIfContext.build(wb, ["R15"])
    b, w1, w2 = ws.what_if(wc), ws.what_if(wc, win_rate=1.2), ws.what_if(wc, cycle=1.5)
    new = pipeline_split(SimpleNamespace(pipeline=wc.pipeline))["rows"][2][1]
    # the app's P(target) is the forecast document's, moved by the what-if
    doc = ws.DocumentChance.build(wb, "rep", "R15", wc.period)
    pb, p1, p2 = (ws.what_if_chance(doc, b, r) for r in (b, w1, w2))
    out["forecast_what_if"] = [
        (
            f"expected {_m(b.expected)}, P(reach {_m(b.target)}) = {pb:.0%}; "
            f"{_m(new)} from deals not yet created"
        ),
        f"P = {p1:.0%}",
        f"{w2.deals_due} open deals due instead of {b.deals_due}; P = {p2:.0%}",
    ]
    # Pipeline explorer.
    ec = ws.ExplorerContext.from_workbook(wb)
    s1 = ws.explore(ec, reps=["R01"]).summary
    s2 = ws.explore(ec, close_months=["past_due"]).summary
    s3 = ws.explore(ec, stages=["Negotiation"], age=(120, 10_000)).summary
    out["pipeline_explorer"] = [
        f"{s1['deals']} deals worth {_m(s1['amount'])}",
        f"{s2['deals']} deals worth {_m(s2['amount'])}",
        f"{s3['deals']} deals",
    ]
    return out


def _load(name: str) -> dict:
    return json.loads((WORKSHOP / f"{name}.ipynb").read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


@pytest.mark.parametrize("name", NAMES)
def test_notebook_has_parameters_notes_and_exercises(name: str) -> None:
    nb = _load(name)
    params = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1 and 'data = "data/sample"' in _source(params[0])
    md = "\n".join(_source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "Facilitator notes" in md
    assert 2 <= md.count("### Exercise") <= 3
    assert md.count("<details>") == md.count("### Exercise")
    code = [_source(c) for c in nb["cells"] if c["cell_type"] == "code"]
    assert any(".show()" in c for c in code)
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")


def test_exercise_answers_match_the_code(sample_wb) -> None:
    answers = exercise_answers(sample_wb)
    for name in NAMES:
        md = "\n".join(_source(c) for c in _load(name)["cells"] if c["cell_type"] == "markdown")
        for text in answers[name]:
            assert answer_in(text, md), f"{name}: expected answer {text!r} not in the notebook"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_under_papermill(name: str, tmp_path: Path) -> None:
    """Run from notebooks/workshop with the default relative `data`: the path is found.

    Each cell gets 300 s and the run up to three fresh kernels: these notebooks hold Output
    widgets, and nbclient can wait forever for the reply to such a cell (jupyter/nbclient#312,
    seen once in this suite on papermill's reference run, tests/test_engine_streams.py)."""
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError

    out = tmp_path / f"{name}.ipynb"
    for attempt in range(3):
        try:
            pm.execute_notebook(
                str(WORKSHOP / f"{name}.ipynb"), str(out), cwd=str(WORKSHOP),
                kernel_name="python3", progress_bar=False, log_output=False,
                execution_timeout=300,
            )  # fmt: skip
            break
        except CellTimeoutError:
            if attempt == 2:
                raise
    nb = json.loads(out.read_text(encoding="utf-8"))
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    data = [o.get("data", {}) for o in outputs]
    # The live widget and, for readers of the rendered notebook, a static copy and a chart.
    assert any("application/vnd.jupyter.widget-view+json" in d for d in data)
    assert any("snb-app" in "".join(d.get("text/html", "")) for d in data)
    if name != "smart_goal_builder":  # the goal builder has text feedback, no chart
        assert any("image/svg+xml" in d for d in data)


@pytest.mark.slow
def test_notebooks_pass_nbval_lax(tmp_path: Path) -> None:
    cmd = [
        sys.executable, "-m", "pytest", "-q", "--nbval-lax", "-p", "no:cacheprovider",
        "-o", "addopts=", "--rootdir", str(tmp_path), *(str(WORKSHOP / f"{n}.ipynb") for n in NAMES),
    ]  # fmt: skip
    res = subprocess.run(
        cmd, cwd=WORKSHOP, capture_output=True, text=True, timeout=900, check=False
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert " passed" in res.stdout and "failed" not in res.stdout

"""The plan review for leaders: hand-computed cost and fairness figures, the comparison of two
plans, and the notebook's shape; a team's copy names its own reps only."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from test_incentives import BASE, plan, workbook
from test_privacy import Scanner, document_texts

from salesnb.batch import documents as batch
from salesnb.data.io import load
from salesnb.incentives import parse_plan, payouts
from salesnb.incentives import review as rv

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
NB = ROOT / "notebooks" / "incentives.ipynb"


def _table():
    wb = workbook([("o1", "r1", 5000, "2026-01-15", "X", "A"),
                   ("o2", "r1", 10000, "2026-02-15", "X", "B"),
                   ("o3", "r2", 13000, "2026-01-20", "X", "C")], reps=("r1", "r2"))  # fmt: skip
    return wb, payouts(wb, plan(), ["2026-01", "2026-02"])


def test_cost_by_period_by_hand():
    _, t = _table()
    c = rv.cost_by_period(t).set_index("period")
    # January: r1 5,000 -> 1,250; r2 13,000 -> 6,000; bookings 18,000
    assert c.loc["2026-01", "payout"] == pytest.approx(7250)
    assert c.loc["2026-01", "cost_of_sales"] == pytest.approx(7250 / 18000)
    assert c.loc["2026-01", "share_at_target"] == 0.5
    # February: r1 10,000 -> 3,750; r2 nothing
    assert c.loc["2026-02", "payout"] == pytest.approx(3750)
    assert c.loc["2026-02", "median_payout"] == pytest.approx(3750 / 2)


def test_payout_by_rep_and_fairness():
    wb, t = _table()
    wide = rv.payout_by_rep(t)
    assert wide.index.tolist() == ["Rep r2", "Rep r1"]
    assert wide.loc["Rep r1", "total"] == pytest.approx(5000)
    assert wide.loc["Rep r1", "last_attainment"] == pytest.approx(1.0)
    f = rv.fairness(t, wb).set_index(["by", "group"])
    row = f.loc[("tenure", "3 years or more")]
    assert row["reps"] == 2
    assert row["mean_attainment"] == pytest.approx((0.5 + 1.3 + 1.0 + 0.0) / 4)
    assert row["mean_payout"] == pytest.approx((1250 + 6000 + 3750 + 0) / 4)
    assert row["pay_follows_attainment"] == 1.0  # a monotone plan: ranks agree


def test_compare_two_plans_on_the_same_draws():
    wb, _ = _table()
    steeper = parse_plan(BASE.replace("{ from = 1.0, rate = 1.5 }", "{ from = 1.0, rate = 2.0 }"))
    draws = np.array([[5000.0, 13000.0], [10000.0, 0.0]])
    side, costs = rv.compare(
        wb, {"now": plan(), "steeper": steeper}, "2026-03", ["r1", "r2"], draws
    )
    s = side.set_index("plan")
    # simulation 1: r1 5,000 -> 1,250, r2 10,000 -> 3,750; simulation 2: r1 13,000 -> 6,000
    # (steeper: 5,000 x (0.75 + 2 x 0.3) = 6,750), r2 nothing
    assert s.loc["now", "expected_cost"] == pytest.approx((5000 + 6000) / 2)
    assert s.loc["steeper", "expected_cost"] == pytest.approx((5000 + 6750) / 2)
    assert s.loc["now", "share_reaching_100"] == pytest.approx(0.5)
    # r1 passes 100 % in one simulation of two; r2 reaches exactly 100 %, not above
    assert costs["now"].per_rep["p_accelerator"].tolist() == [0.5, 0.0]
    assert costs["now"].per_rep["p_target"].tolist() == [0.5, 0.5]


def test_next_period_and_formatting():
    wb, _ = _table()
    assert rv.next_period(wb, plan()) == "2027-01"  # as of 2026-12-31
    out = rv.formatted(pd.DataFrame({"x": [0.251, float("nan")]}), {"x": "percent"})
    assert out["x"].tolist() == ["25%", "n/a"]


def test_notebook_shape():
    import papermill

    nb = nbformat.read(NB, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    declared = {t.id for n in ast.parse(params[0].source).body if isinstance(n, ast.Assign)
                for t in n.targets if isinstance(t, ast.Name)}  # fmt: skip
    assert {"data", "profile", "subject_type", "subject", "period", "as_of", "plan"} <= declared
    assert set(papermill.inspect_notebook(str(NB))) == declared
    assert set(nb.metadata["salesnb"]["parameters"]) <= declared
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert "record.title(" in "\n".join(code) and code[-1].startswith("summary = cost.summary()")
    assert "record.headline(" in code[-1]
    for src in code:
        for node in ast.walk(ast.parse(src)):
            assert not isinstance(node, ast.FunctionDef | ast.Lambda | ast.ClassDef)


@pytest.mark.slow
def test_a_managers_review_names_only_the_team(tmp_path):
    wb = load(SAMPLE)
    out = tmp_path / "out"
    batch.run(NB, by="manager", data=SAMPLE, out=out, only=["Rafael Costa"], progress=False,
              params={"n_sims": 200})  # fmt: skip
    m = json.loads((out / "manifest.json").read_text("utf-8"))
    assert m["summary"]["ok"] == 1, m["summary"]
    s = m["subjects"][0]
    mine = wb.reps[wb.reps["manager"] == "Rafael Costa"]
    others = wb.reps[wb.reps["manager"] != "Rafael Costa"]
    theirs = wb.opportunities[wb.opportunities["rep_id"].isin(others["rep_id"])]
    forbidden = Scanner([*others["rep_id"], *others["name"], *theirs["account"].dropna()])
    for fmt, text in document_texts(out, s).items():
        assert forbidden.found(text) == [], fmt
        assert Scanner(mine["name"]).found(text) == sorted(mine["name"]), fmt
    assert s["headline"]["expected_cost"] > 0


def test_formatted_tables_read_as_words_not_pandas():
    # no 0, 1, 2 index, no snake_case header, Yes/No not True/False; a named index (the rep)
    # becomes the first column (issue 18)
    df = pd.DataFrame({"cost_of_sales": [0.1, 0.2], "complete": [True, False]})
    out = rv.formatted(df, {"cost_of_sales": "percent"})
    assert list(out.columns) == ["cost of sales", "complete"]
    assert out["complete"].tolist() == ["Yes", "No"] and out.index.tolist() == ["", ""]
    html = out.to_html()
    assert "True" not in html and "cost_of_sales" not in html and "<th>0</th>" not in html
    named = rv.formatted(pd.DataFrame({"payout": [5.0]}, index=pd.Index(["Ann"], name="rep")), {})
    assert list(named.columns) == ["rep", "payout"] and named["rep"].tolist() == ["Ann"]

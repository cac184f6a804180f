"""The incentive what-if: hand-computed what-ifs on the payout engine, the app's widget logic
(no browser), its workshop notebook (answers recomputed here) and the app in Voila + Chromium.

The hand-made plan pays monthly: target incentive 5,000, quota 10,000, bands 0.5x below 50 %,
1x to 100 %, 1.5x above, cap 2x the target incentive (see tests/test_incentives.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from answer_text import answer_in
from hypothesis import given, settings
from hypothesis import strategies as st
from test_incentives import plan, workbook

from salesnb.apps.incentive_whatif import IncentiveWhatIfApp
from salesnb.core.errors import ParameterError
from salesnb.incentives import load_plan
from salesnb.incentives.whatif import (
    EXTRA_DEAL,
    adjust_plan,
    earnings_curve,
    next_step,
    next_step_text,
    payout_what_if,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
PLAN = SAMPLE / "incentive_plan.toml"
WORKSHOP = ROOT / "notebooks" / "workshop"
NAME = "incentive_what_if"


def _wb():
    # r1 won 8,000 in December (account A) and has 5,000 open (account B); r2 is someone else
    return workbook([("o1", "r1", 8000, "2026-12-10", "X", "A"),
                     ("o2", "r1", 5000, "2026-12-20", "X", "B", "open"),
                     ("o3", "r2", 4000, "2026-12-05", "X", "C", "open")],
                    reps=("r1", "r2"))  # fmt: skip


# --------------------------------------------------------------------------- pure logic
def test_winning_a_deal_pays_what_the_curve_says():
    w = payout_what_if(_wb(), plan(), "r1", "2026-12")
    # 80 %: 5,000 x (0.5 x 0.5 + 0.3 x 1.0) = 2,750; nothing changed
    assert (w.before["commission"], w.change) == (pytest.approx(2750), 0)
    won = payout_what_if(_wb(), plan(), "r1", "2026-12", opp_ids=["o2"])
    # 130 %: 5,000 x (0.25 + 0.5 + 0.3 x 1.5) = 6,000
    assert won.after["credited"] == pytest.approx(13000)
    assert won.after["commission"] == pytest.approx(6000) and won.change == pytest.approx(3250)
    more = payout_what_if(_wb(), plan(), "r1", "2026-12", opp_ids=["o2"], extra=7000)
    # 200 %: 5,000 x 2.25 = 11,250, capped at 2 x 5,000
    assert more.after["commission"] == pytest.approx(10000)
    assert more.after["cap_cut"] == pytest.approx(-1250)
    uncapped = payout_what_if(_wb(), plan(), "r1", "2026-12", opp_ids=["o2"], extra=7000, cap=None)
    assert uncapped.after["commission"] == pytest.approx(11250)
    assert "Payout: $11.2K." in uncapped.lines[-1]


def test_the_accelerator_moves_only_pay_above_quota():
    below = payout_what_if(_wb(), plan(), "r1", "2026-12", accelerator=2.0)
    assert below.after["commission"] == pytest.approx(2750)  # 80 %: no accelerator band
    above = payout_what_if(_wb(), plan(), "r1", "2026-12", opp_ids=["o2"], accelerator=2.0)
    assert above.after["commission"] == pytest.approx(5000 * (0.25 + 0.5 + 0.3 * 3.0))
    assert above.curve["after"].iloc[-1] == pytest.approx(10000)  # 200 %: still capped
    assert above.curve["before"].iloc[-1] == pytest.approx(10000)


def test_the_extra_amount_is_credited_with_the_plans_weights():
    p = plan("[roles.ae.crediting]\nnew_account = 1.0\nexisting_account = 0.5\n")
    old = payout_what_if(_wb(), p, "r1", "2026-12", extra=4000)
    new = payout_what_if(_wb(), p, "r1", "2026-12", extra=4000, new_account=True)
    assert old.after["credited"] - old.before["credited"] == pytest.approx(2000)
    assert new.after["credited"] - new.before["credited"] == pytest.approx(4000)
    assert EXTRA_DEAL not in set(_wb().opportunities["opp_id"])  # the data is not changed


def test_next_step_says_what_the_next_band_is_worth():
    w = payout_what_if(_wb(), plan("[[roles.ae.kickers]]\nat = 1.0\namount = 300\n"), "r1",
                       "2026-12")  # fmt: skip
    s = w.next_before
    assert (s.at, s.what, s.rate, s.kicker) == (1.0, "accelerator", 1.5, 300)
    assert s.bookings_needed == pytest.approx(2000)  # 100 % - 80 % of 10,000
    assert s.per_1000 == pytest.approx(750)  # 1.5 x 5,000 / 10,000 x 1,000
    assert next_step_text(s) == (
        "$2K more credited bookings reach 100% of quota: a $300 kicker, then each further $1K "
        "of credited bookings pays $750 (the accelerator, 1.5x the base rate)."
    )
    assert s.cap_at == pytest.approx(1 + (2.0 - 0.75) / 1.5)  # the curve reaches 2x here
    top = payout_what_if(_wb(), plan(), "r1", "2026-12", opp_ids=["o2"]).next_after
    assert (top.what, top.rate, top.per_1000, top.bookings_needed) == ("top", 1.5, 750, 0)
    assert next_step_text(top) == (
        "Each further $1K of credited bookings pays $750 (the top band, 1.5x the base rate) up "
        "to the cap, reached at 183% of quota."
    )
    row = {"role": "ae", "attainment": 0.8, "quota": 1e4, "target_incentive": 5e3, "cap_cut": 0.0}
    capped = next_step(adjust_plan(plan(), "ae", cap=0.5), row)  # 0.5x is reached at 75 %
    assert (capped.what, capped.per_1000, capped.cap_at) == ("capped", 0, pytest.approx(0.75))
    assert next_step_text(capped).startswith("The curve is capped for this period")
    assert next_step(plan(), {**row, "quota": float("nan")}) is None
    assert next_step_text(None).startswith("What more bookings would pay is unknown")


def test_bad_what_ifs_name_the_fix():
    for kw, words in (({"opp_ids": ["o3"]}, "'o3' is not an open deal of r1"),
                      ({"opp_ids": ["o1"]}, "'o1' is not an open deal"),
                      ({"extra": -5.0}, "Extra amount -5.0"),
                      ({"accelerator": float("nan")}, "Accelerator factor"),
                      ({"cap": 0}, "Cap 0 is not a positive number")):  # fmt: skip
        with pytest.raises(ParameterError, match=words) as exc:
            payout_what_if(_wb(), plan(), "r1", "2026-12", **kw)
        assert "Fix:" in str(exc.value)
    with pytest.raises(ParameterError, match="no role to r2.*Fix"):
        payout_what_if(_wb(), plan(base=BASE_R1_ONLY), "r2", "2026-12")
    with pytest.raises(ParameterError, match="no role 'x'"):
        adjust_plan(plan(), "x")


BASE_R1_ONLY = """
[plan]
name = "Test"
effective_from = 2026-01-01
period = "month"

[roles.ae]
ote = 120000
variable_share = 0.5
bands = [{ from = 0.0, rate = 1.0 }]

[[assign]]
role = "ae"
rep = "r1"
"""


@settings(max_examples=40, deadline=None)
@given(extra=st.floats(0, 40000), more=st.floats(0, 40000), acc=st.floats(0.5, 3.0))
def test_more_bookings_never_pay_less(extra, more, acc):
    """Under a monotone plan a bigger extra amount never lowers the payout; the curve rises."""
    p = plan("[[roles.ae.kickers]]\nat = 1.2\namount = 500\n")
    a = payout_what_if(_wb(), p, "r1", "2026-12", extra=extra, accelerator=acc)
    b = payout_what_if(_wb(), p, "r1", "2026-12", extra=extra + more, accelerator=acc)
    assert b.after["payout"] >= a.after["payout"] - 1e-6
    assert a.curve["after"].is_monotonic_increasing
    assert a.after["commission"] <= 2.0 * 5000 + 1e-6  # the cap holds


def test_earnings_curve_adds_kickers_at_their_threshold():
    c = earnings_curve(plan("[[roles.ae.kickers]]\nat = 1.0\namount = 300\n"), "ae", 5000.0,
                       upto=1.0, points=3)  # fmt: skip
    assert c["pay"].tolist() == pytest.approx([0.0, 1250.0, 3750.0 + 300.0])


# --------------------------------------------------------------------------- the app's widgets
@pytest.fixture(scope="module")
def app_and_plan():
    from salesnb.apps import workshop as ws

    wb, p = ws.load_workbook(SAMPLE), load_plan(PLAN)
    return IncentiveWhatIfApp(wb, p, rep="R15"), wb, p


def test_app_controls_recompute_with_the_engine(app_and_plan):
    app, wb, p = app_and_plan
    c = app.controls
    assert app.error is None and app.result.change == 0 and app.result.period == "FY2026-Q3"
    assert "Olga Petrova, FY2026-Q3 (enterprise)" in app.outputs["headline"].value
    c["extra"].value = "20k"
    want = payout_what_if(wb, p, "R15", "FY2026-Q3", extra=20000)
    assert app.result.after["payout"] == pytest.approx(want.after["payout"])
    assert "(+$4.7K)" in app.outputs["headline"].value
    c["accelerator"].value = 1.5
    want = payout_what_if(wb, p, "R15", "FY2026-Q3", extra=20000, accelerator=1.5)
    assert app.result.after["payout"] == pytest.approx(want.after["payout"])
    assert app.chart is not None and "snb-app" in app.static_html()
    c["no_cap"].value = True
    assert app.result.after["cap_cut"] == 0
    c["extra"].value = "lots"
    assert "not a number" in app.error and "Fix:" in app.error
    c["extra"].value = ""
    assert app.error is None


def test_app_follows_the_rep_and_deals(app_and_plan):
    app, wb, p = app_and_plan
    c = app.controls
    c["rep"].value = "R16"  # a mid-market new hire: the knobs go back to the plan's
    assert (c["accelerator"].value, c["cap"].value, c["no_cap"].value) == (1.0, 2.0, False)
    assert app.result.rep_id == "R16" and app.result.change == 0
    o = wb.opportunities
    mine = set(o.loc[(o["rep_id"] == "R16") & (o["outcome"] == "open"), "opp_id"])
    assert {v for _, v in c["deals"].options} == mine and c["deals"].value == ()
    c["period"].value = "FY2026-Q4"
    c["deals"].value = tuple(sorted(mine))  # every open deal won in Q4
    want = payout_what_if(wb, p, "R16", "FY2026-Q4", opp_ids=sorted(mine))
    got = app.result
    assert got.after["payout"] == pytest.approx(want.after["payout"])
    added = o.loc[o["opp_id"].isin(mine), "amount"].sum()  # mid-market credits every deal at 1
    assert got.after["credited"] - got.before["credited"] == pytest.approx(added)
    assert "Next step:" in app.outputs["next"].value


def test_a_missing_plan_file_names_the_parameter(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParameterError, match=r"Plan file 'nope.toml' not found.*`plan` parameter"):
        IncentiveWhatIfApp.from_path(str(SAMPLE), plan="nope.toml")


# --------------------------------------------------------------------------- the notebook
def _cells() -> list[dict]:
    return json.loads((WORKSHOP / f"{NAME}.ipynb").read_text(encoding="utf-8"))["cells"]


def _src(c: dict) -> str:
    return "".join(c["source"]) if isinstance(c["source"], list) else c["source"]


def exercise_answers() -> list[str]:
    from salesnb.analytics.coaching_facts import format_value
    from salesnb.data.io import load

    wb, p = load(SAMPLE), load_plan(PLAN)
    m = lambda v: format_value(v, "currency", "USD")
    base = payout_what_if(wb, p, "R15", "FY2026-Q3")
    more = payout_what_if(wb, p, "R15", "FY2026-Q3", extra=20000)
    new = payout_what_if(wb, p, "R15", "FY2026-Q3", extra=20000, new_account=True)
    acc = payout_what_if(wb, p, "R15", "FY2026-Q3", accelerator=1.5)
    cap = payout_what_if(wb, p, "R15", "FY2026-Q3", cap=1.0)
    assert p.roles["enterprise"].crediting.existing_account == 0.8
    return [
        f"payout {m(base.before['payout'])} as things stand; {next_step_text(base.next_before)}",
        (
            f"+{m(more.change)} (payout {m(more.after['payout'])}); as a new account "
            f"+{m(new.change)} (payout {m(new.after['payout'])}): the enterprise plan credits "
            "deals on existing accounts at 80%."
        ),
        (
            f"accelerator at 150%: +{m(acc.change)} (payout {m(acc.after['payout'])}); cap at "
            f"1.00: -{m(-cap.change)} (payout {m(cap.after['payout'])})"
        ),
    ]


def test_notebook_has_parameters_notes_and_exercises():
    cells = _cells()
    params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1 and 'data = "data/sample"' in _src(params[0])
    md = "\n".join(_src(c) for c in cells if c["cell_type"] == "markdown")
    assert "Facilitator notes" in md and md.count("### Exercise") == 3 == md.count("<details>")
    assert any(".show()" in _src(c) for c in cells if c["cell_type"] == "code")
    assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code")
    for text in exercise_answers():
        assert answer_in(text, md), f"expected answer {text!r} not in the notebook"


@pytest.mark.slow
def test_notebook_runs_under_papermill(tmp_path):
    import papermill as pm

    out = tmp_path / f"{NAME}.ipynb"
    pm.execute_notebook(str(WORKSHOP / f"{NAME}.ipynb"), str(out), cwd=str(WORKSHOP),
                        kernel_name="python3", progress_bar=False, log_output=False)  # fmt: skip
    nb = json.loads(out.read_text(encoding="utf-8"))
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    data = [o.get("data", {}) for o in outputs]
    assert any("application/vnd.jupyter.widget-view+json" in d for d in data)
    assert any("Olga Petrova, FY2026-Q3" in "".join(d.get("text/html", "")) for d in data)
    assert any("image/svg+xml" in d for d in data)

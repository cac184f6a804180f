"""Widget logic of the workshop apps: set a control, assert the computed output.

Hand-computed values use the tiny workbook of ``conftest.py`` (as of 2026-09-30) or small
hand-built contexts; a few consistency checks run on the sample data.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesnb.analytics import goals
from salesnb.analytics.coaching_facts import format_value
from salesnb.analytics.smart import history_baseline
from salesnb.apps import widgets as apps
from salesnb.apps import workshop as ws
from salesnb.cli import workshop as cli_workshop
from salesnb.core.errors import ParameterError
from salesnb.forecast import combined as forecast
from salesnb.reports import charts


# --------------------------------------------------------------------------- helpers
@pytest.mark.parametrize(
    ("text", "value"),
    [("150000", 150000.0), ("150,000", 150000.0), ("$150k", 150000.0), ("1.2M", 1.2e6),
     ("30%", 0.3), ("", None), (None, None), (7, 7.0), (" -5 ", -5.0)],
)  # fmt: skip
def test_parse_number(text, value) -> None:
    assert ws.parse_number(text) == value


def test_parse_number_rejects_words_with_a_fix() -> None:
    with pytest.raises(ParameterError, match=r"'lots' is not a number\. Fix"):
        ws.parse_number("lots", "Target")


def test_parse_weights_forms() -> None:
    assert ws.parse_weights("Q1=1, Q2=2; q3:3 Q4=4") == {"Q1": 1, "Q2": 2, "q3": 3, "Q4": 4}
    # 12 numbers are fiscal months: with a February start the 12th is January (month 1).
    w = ws.parse_weights(" ".join(["1"] * 11 + ["5"]), "2026-02-01")
    assert w[1] == 5.0 and w[2] == 1.0 and len(w) == 12
    with pytest.raises(ParameterError, match="have 3 numbers"):
        ws.parse_weights("1, 2, 3")


def test_resolve_data_walks_up_from_a_notebook_folder(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "data" / "mine").mkdir(parents=True)
    nb = tmp_path / "notebooks" / "workshop"
    nb.mkdir(parents=True)
    monkeypatch.chdir(nb)
    assert ws.resolve_data("data/mine") == tmp_path / "data" / "mine"
    with pytest.raises(ParameterError, match="not found.*Fix"):
        ws.resolve_data("data/nope")


def test_fmt_money() -> None:
    assert ws.fmt_money(1234.5) == "$1,234" and ws.fmt_money(-3, "EUR") == "-€3"
    assert ws.fmt_money(float("nan")) == "–"


# --------------------------------------------------------------------------- 1. SMART goals
def test_smart_app_goal_text_and_verdicts(tiny_wb) -> None:
    app = apps.SmartGoalApp(tiny_wb, "A", objective="Grow revenue", deadline="2026-12-31")
    app.controls["baseline"].value = "1000"
    app.controls["target"].value = "1.5k"
    # (1500 / 1000 - 1) = +50%
    assert app.result.text == (
        "Ann Able will raise quarterly bookings from $1,000 to $1,500 (+50%) by 31 Dec 2026, "
        "in support of: Grow revenue."
    )
    assert app.result.result.criteria["M"].status == "pass"
    assert "Ann Able will raise" in app.outputs["goal"].value
    # 2026-09-30 -> 2026-10-05 is 5 days, under the 14-day minimum.
    app.controls["deadline"].value = "2026-10-05"
    t = app.result.result.criteria["T"]
    assert t.status == "warn" and "Only 5 days" in t.reason
    app.controls["objective"].value = ""
    assert app.result.result.criteria["R"].status == "fail"
    assert "✖ fail" in app.outputs["verdicts"].value


def test_smart_app_shows_bad_input_instead_of_raising(tiny_wb) -> None:
    app = apps.SmartGoalApp(tiny_wb, "A", target="100")
    app.controls["target"].value = "a lot"
    assert app.error is not None and "Fix" in app.error
    assert "snb-error" in app._error.value
    app.controls["target"].value = "200"
    assert app.error is None and app._error.value == ""


@pytest.mark.parametrize(
    ("text", "value"),
    [("+40%", 1400.0), ("40% more", 1400.0), ("up 40%", 1400.0), ("x1.4", 1400.0),
     ("1.4x", 1400.0), ("×1.4", 1400.0), ("-10%", 900.0), ("10% less", 900.0),
     ("+250", 1250.0), ("+0.5k", 1500.0), ("-$200", 800.0), ("1,200", 1200.0)],
)  # fmt: skip
def test_relative_targets_of_bookings_by_hand(text, value) -> None:
    # Baseline 1,000: +40% = 1,000 x 1.4; -10% = 1,000 x 0.9; +0.5k = 1,000 + 500.
    got, note = ws.smart_target(text, 1000.0, "bookings")
    assert got == pytest.approx(value, rel=1e-12)
    assert (note is None) == (text == "1,200")


def test_relative_targets_of_a_rate_by_hand() -> None:
    # Win rate 25%: +5 pts = 30%; x1.2 = 30%; 3 pts less = 22%.
    assert ws.smart_target("+5 pts", 0.25, "win_rate")[0] == pytest.approx(0.30)
    assert ws.smart_target("x1.2", 0.25, "win_rate")[0] == pytest.approx(0.30)
    assert ws.smart_target("3 pts less", 0.25, "win_rate")[0] == pytest.approx(0.22)
    assert ws.smart_target("35%", 0.25, "win_rate") == (pytest.approx(0.35), None)


@pytest.mark.parametrize(
    ("text", "baseline", "metric", "message"),
    [("+10%", 0.25, "win_rate", r"ambiguous.*Fix: write \+10 pts for 35%, or x1\.1 for 27\.5%"),
     ("40%", 1000.0, "bookings", r"not a percentage\. Fix: write \+40% .*\(here \$1,400\)"),
     ("+40%", None, "bookings", r"no baseline here\. Fix: type the baseline"),
     ("+5 pts", 1000.0, "bookings", r"points are for rates.*Fix: write \+5%"),
     ("-150%", 1000.0, "bookings", r"below zero.*Fix")],
)  # fmt: skip
def test_relative_targets_refused_with_the_fix(text, baseline, metric, message) -> None:
    with pytest.raises(ParameterError, match=message):
        ws.smart_target(text, baseline, metric)


@settings(max_examples=200, deadline=None)
@given(b=st.floats(1.0, 1e9), p=st.floats(-99.99, 1000.0).map(lambda x: round(x, 2)))
def test_relative_percent_target_is_baseline_times_one_plus_p(b, p) -> None:
    value, note = ws.smart_target(f"{p:+.2f}%", b, "bookings")
    assert value == pytest.approx(b * (1 + p / 100), rel=1e-12)
    assert note is not None and note.startswith(f"{p:+g}% on the baseline")


@settings(max_examples=100, deadline=None)
@given(b=st.floats(0.0, 1e9), f=st.floats(0.0, 10.0).map(lambda x: round(x, 3)))
def test_relative_factor_target_is_baseline_times_factor(b, f) -> None:
    assert ws.smart_target(f"x{f:g}", b, "bookings")[0] == pytest.approx(b * f, rel=1e-12)


def test_smart_app_reads_plus_40_percent_against_the_baseline(tiny_wb) -> None:
    app = apps.SmartGoalApp(tiny_wb, "A", objective="Grow revenue", deadline="2026-12-31")
    app.controls["baseline"].value = "1000"
    app.controls["target"].value = "+40%"
    # Was "reduce quarterly bookings from $1,000 to $0 (-100%)": 40% read as the amount 0.4.
    assert app.error is None
    assert app.result.text == (
        "Ann Able will raise quarterly bookings from $1,000 to $1,400 (+40%) by 31 Dec 2026, "
        "in support of: Grow revenue."
    )
    assert "Target read as: +40% on the baseline $1,000 is $1,400." in app.outputs["verdicts"].value
    app.controls["target"].value = "40%"
    assert "not a percentage" in app.error and "Fix: write +40%" in app.error
    # A blank baseline: the change is applied to the baseline the check takes from history.
    app.controls["baseline"].value = ""
    app.controls["target"].value = "x1.5"
    fb = app.result
    th = goals.smart_thresholds(None, tiny_wb.config)
    base = history_baseline(app.ctx.history("bookings")["A"], th)[0]
    assert fb.baseline == base and fb.result.goal.target == pytest.approx(base * 1.5)


def test_smart_feedback_agrees_with_smart_check_from_history(sample_wb) -> None:
    ctx = ws.SmartContext(sample_wb, objectives=["Grow revenue"])
    goal = {"metric": "bookings", "target": 250_000, "deadline": "2026-12-31",
            "objective": "Grow revenue"}  # fmt: skip
    ref = goals.smart_check_from_history(sample_wb, goal, "R03", objectives=["Grow revenue"])
    fb = ws.smart_feedback(ctx, rep_id="R03", target="250k", deadline="2026-12-31",
                           objective="Grow revenue")  # fmt: skip
    assert fb.result.criteria == ref.criteria and fb.text == ref.as_text()


# --------------------------------------------------------------------------- 2. decomposition
def test_decomposition_app_even_split_adds_up(tiny_wb) -> None:
    app = apps.DecompositionApp(tiny_wb, year=2027, method="even")
    app.controls["total"].value = "1,200,000"
    d, reps = app.result
    assert d.quarters["amount"].tolist() == [300_000.0] * 4
    assert d.months["amount"].tolist() == [100_000.0] * 12
    # Jan 2027 has 21 business days: Fri 1st (1), then four Mon-Fri weeks (5 each).
    # 100000 / 21 = 4761.9 and 23809.5: floors sum to 99997; the 3 units left go to the
    # largest fractions (.90, then the first two .52s).
    jan = d.weeks.loc[d.weeks["month"] == "2027-01-01", "amount"].tolist()
    assert jan == [4762.0, 23810.0, 23810.0, 23809.0, 23809.0]
    # Last 365 days' bookings: A 1000, B 300, C 700, D 0 -> shares 1/2, 3/20, 7/20, 0.
    assert reps.set_index("rep_id")["amount"].to_dict() == {
        "A": 600_000.0, "B": 180_000.0, "C": 420_000.0, "D": 0.0
    }  # fmt: skip
    assert "4 quarters add up to $1,200,000 ✔" in app.outputs["check"].value
    assert (
        "30 reps" not in app.outputs["check"].value
        and "4 reps add up" in app.outputs["check"].value
    )


def test_decomposition_app_custom_weights_and_views(tiny_wb) -> None:
    app = apps.DecompositionApp(tiny_wb, total=1_000_000, year=2027)
    app.controls["custom"].value = "Q1=20, Q2=25, Q3=25, Q4=30"
    assert app.controls["custom"].disabled  # only used with the custom method
    app.controls["method"].value = "custom"
    assert not app.controls["custom"].disabled
    assert app.result[0].quarters["amount"].tolist() == [200_000.0, 250_000.0, 250_000.0, 300_000.0]
    app.controls["view"].value = "Quarters"
    assert app.frame(app.result)["amount"].tolist() == [200_000.0, 250_000.0, 250_000.0, 300_000.0]
    assert "$300,000" in app.outputs["table"].value and "Total" in app.outputs["table"].value
    app.controls["custom"].value = "1, 2, 3"
    assert "have 3 numbers" in app.error


@settings(max_examples=25, deadline=None)
@given(total=st.integers(0, 50_000_000), method=st.sampled_from(["seasonal", "even"]))
def test_fast_decomposition_equals_goals_decompose_annual(sample_dc, total, method) -> None:
    d, _ = ws.decompose_target(sample_dc, total, year_start="2027-01-01", method=method)
    ref = goals.decompose_annual(total, year_start="2027-01-01", weights=method,
                                 history=sample_dc.history)  # fmt: skip
    for a, b in ((d.quarters, ref.quarters), (d.months, ref.months), (d.weeks, ref.weeks)):
        assert a["amount"].tolist() == b["amount"].tolist()


@pytest.fixture(scope="module")
def sample_dc():
    return ws.DecompositionContext.from_workbook(
        ws.load_workbook(Path(__file__).parents[1] / "data" / "sample")
    )


# --------------------------------------------------------------------------- 3. reverse funnel
def test_history_rates_by_hand(tiny_wb) -> None:
    r = ws.history_rates(tiny_wb)
    # Closed in the last 365 days: o1 won 1000, o2 lost 500 (reached Demo), o4 won 300, o6 won 700.
    assert r["closed"] == 4 and r["win_rate"] == 0.75
    assert r["avg_deal_size"] == pytest.approx(2000 / 3)
    # Reach: won deals all 5 stages, o2 up to Demo -> 4,4,4,3,3,3 -> 1, 1, 3/4, 1, 1.
    assert list(r["stage_conversions"].values()) == [1.0, 1.0, 0.75, 1.0, 1.0]
    assert np.prod(list(r["stage_conversions"].values())) == r["win_rate"]
    assert r["activity_to_opp"] is None and r["activity_mix"] == {}


def test_the_workshop_and_the_goal_funnel_read_the_same_history(tiny_wb) -> None:
    """One computation of a funnel's history (analytics.funnel), two views of it."""
    from salesnb.analytics import funnel

    start = tiny_wb.as_of - pd.Timedelta(days=365)
    r = funnel.history_rates(tiny_wb, tiny_wb.reps["rep_id"].tolist(), start, tiny_wb.as_of)
    assert list(r["stage_reached"].values()) == [4, 4, 4, 3, 3, 3]
    assert r["win_rate"] == 0.75 and r["unknown_reach"] == 0
    assert r["stage_conversions"] == dict(zip(tiny_wb.config.stages.open_names,
                                              [1.0, 1.0, 0.75, 1.0, 1.0], strict=True))  # fmt: skip
    assert r["activity_mix"] is None  # no activities: the workshop shows {} instead


def test_funnel_view_per_week() -> None:
    v = ws.funnel_view("100k", win_rate=0.25, avg_deal_size=10_000, activity_to_opp=0.1,
                       activity_mix={"call": 3, "meeting": 1}, weeks=10)  # fmt: skip
    # 100000/10000 = 10 deals; /0.25 = 40 opps; /0.1 = 400 activities = 300 calls + 100 meetings
    assert v.per_week == {"deals": 1.0, "opportunities": 4.0, "activities": 40.0,
                          "call": 30.0, "meeting": 10.0}  # fmt: skip


def test_reverse_funnel_app_sliders(tiny_wb) -> None:
    app = apps.ReverseFunnelApp(tiny_wb, target=100_000, weeks=10)
    c = app.controls
    c["win_rate"].value = 0.25
    c["avg_deal_size"].value = 2000.0  # slider top: 3 x 667 rounded = 2000
    c["activity_to_opp"].value = 0.1
    rf = app.result.funnel
    # 100000 / 2000 = 50 deals; 50 / 0.25 = 200 opps; 200 / 0.1 = 2000 activities
    assert (rf.deals_needed, rf.opportunities_needed, rf.activities_needed) == (50, 200, 2000)
    assert app.result.per_week["opportunities"] == 20.0  # 200 / 10 weeks
    assert "<b>20</b> new opportunities" in app.outputs["headline"].value
    # Stage path with conversions 1, 1, .75, 1, 1 multiplies to 0.75, not 0.25: a note.
    assert "multiply to a 75% win rate" in app.outputs["headline"].value
    c["weeks"].value = 4
    assert app.result.per_week["opportunities"] == 50.0  # 200 / 4


def _with_q4_quota(wb):
    """``wb`` with Ann Able's (A) quota for the quarter in play: 3 x 1,500 = 4,500."""
    extra = pd.DataFrame({"rep_id": ["A"] * 3, "region": [None] * 3,
                          "month": pd.to_datetime(["2026-10-01", "2026-11-01", "2026-12-01"]),
                          "amount": [1500.0] * 3})  # fmt: skip
    wb.targets = pd.concat([wb.targets, extra], ignore_index=True)
    return wb


def test_reverse_funnel_starts_from_a_rep(tiny_wb) -> None:
    app = apps.ReverseFunnelApp(_with_q4_quota(tiny_wb))
    c = app.controls
    # Team: closed in the last year o1 won 1000, o2 lost, o4 won 300, o6 won 700:
    # win rate 3/4, deal size 2000/3 = 667 -> 700 on the slider.
    assert c["win_rate"].value == 0.75 and c["avg_deal_size"].value == 700.0
    c["rep"].value = "A"
    # Ann: o1 won (1000), o2 lost after Demo: win rate 1/2, deal size 1000; of 2 deals
    # reaching Demo, 1 went on (50%); every other stage 2 of 2.
    assert c["win_rate"].value == 0.5 and c["avg_deal_size"].value == 1000.0
    assert [c[f"conv_{i}"].value for i in range(5)] == [1.0, 1.0, 0.5, 1.0, 1.0]
    assert c["target"].value == "4500"
    rf = app.result.funnel
    # 4500 / 1000 = 4.5 -> 5 deals; 5 / 0.5 = 10 opportunities.
    assert (rf.deals_needed, rf.opportunities_needed) == (5, 10)
    src = app.outputs["source"].value
    assert "Starting from Ann Able" in src and "2 deals closed in the last 365 days" in src
    assert "$4,500" in src and "activity → opportunity" in src  # no activities: team kept
    c["rep"].value = ""
    assert c["win_rate"].value == 0.75 and c["avg_deal_size"].value == 700.0
    assert app.outputs["source"].value == ""


def test_reverse_funnel_rep_parameter_and_refresh_once(tiny_wb) -> None:
    app = apps.ReverseFunnelApp(_with_q4_quota(tiny_wb), rep="Ann Able")
    assert app.controls["rep"].value == "A" and app.controls["win_rate"].value == 0.5
    calls = []
    app.render = lambda v: calls.append(v)  # one recomputation per rep change, not per slider
    app.controls["rep"].value = ""
    assert len(calls) == 1


# --------------------------------------------------------------------------- 4. forecast what-if
def _ctx(rate: float = 0.0) -> ws.WhatIfContext:
    """Two open deals (100 due in 10 days, 200 in 50), a 30-day period, 2 simulations."""
    as_of = pd.Timestamp("2026-09-30")
    return ws.WhatIfContext(
        period="P", start=as_of + pd.Timedelta(days=1), end=as_of + pd.Timedelta(days=30),
        as_of=as_of, currency="USD", target=100.0, already_won=50.0,
        amount=np.array([100.0, 200.0]), days_to_close=np.array([10.0, 50.0]),
        p_win=np.array([0.5, 1.0]), rate=rate, rate_noise=np.ones(2),
        cycles=np.array([20.0, 40.0]), mean_size=20.0,
        deal_u=np.array([[0.2, 0.1], [0.7, 0.1]], dtype=np.float32),
        count_u=np.array([0.5, 0.9]), size_cum=np.array([[10.0, 30.0, 60.0]] * 2),
    )  # fmt: skip


def test_what_if_by_hand() -> None:
    ctx = _ctx()
    base = ws.what_if(ctx)
    # Only the 100 deal is due (10 <= 30 days); sim 1 wins it (0.2 < 0.5), sim 2 not.
    assert base.samples.tolist() == [150.0, 50.0] and base.p_attain == 0.5
    assert base.expected_open == 50.0 and base.deals_due == 1
    assert ws.what_if(ctx, win_rate=2.0).samples.tolist() == [150.0, 150.0]  # p = 1
    # Cycle x 0.5: the 200 deal closes in 25 days, inside the period, and is won (p = 1).
    assert ws.what_if(ctx, cycle=0.5).samples.tolist() == [350.0, 250.0]
    assert ws.what_if(ctx, deal_size=2.0).samples.tolist() == [250.0, 50.0]
    assert ws.what_if(ctx, target="151").p_attain == 0.0


def test_what_if_run_rate_by_hand() -> None:
    ctx = _ctx(rate=1.0)
    # Poisson(1) quantiles at 0.5 and 0.9 are 1 and 2 deals: sizes 10 and 10 + 20 = 30.
    assert ws.what_if(ctx).samples.tolist() == [160.0, 80.0]
    assert ws.what_if(ctx, pipeline_creation=0.0).samples.tolist() == [150.0, 50.0]
    # Cycle x 2: cycles 40 and 80 vs 30 days left -> none fast enough (base: 1 of 2).
    assert ws.what_if(ctx, cycle=2.0).expected_new == 0.0
    with pytest.raises(ParameterError, match="win_rate multiplier is 5"):
        ws.what_if(ctx, win_rate=5)


@pytest.fixture(scope="module")
def r15_ctx():
    wb = ws.load_workbook(Path(__file__).parents[1] / "data" / "sample")
    return wb, ws.WhatIfContext.build(wb, ["R15"])


def test_what_if_baseline_is_the_pipeline_forecast(r15_ctx) -> None:
    wb, ctx = r15_ctx
    fp = forecast.forecast_pipeline(wb, ["R15"], ctx.start, ctx.end, n_sims=10)
    base = ws.what_if(ctx)
    assert base.expected_open == pytest.approx(fp.expected_open)
    assert base.expected_new == pytest.approx(fp.expected_run_rate)
    assert base.deals_due == len(fp.deals) and base.already_won == fp.already_won


@settings(max_examples=20, deadline=None)
@given(lo=st.floats(0.5, 2.0), hi=st.floats(0.5, 2.0))
def test_what_if_p_attain_never_drops_when_win_rate_rises(r15_ctx, lo, hi) -> None:
    _, ctx = r15_ctx
    lo, hi = min(lo, hi), max(lo, hi)
    a, b = ws.what_if(ctx, win_rate=lo), ws.what_if(ctx, win_rate=hi)
    assert (b.samples >= a.samples - 1e-6).all() and b.p_attain >= a.p_attain


def test_open_by_stage_by_hand() -> None:
    deals = pd.DataFrame({"stage": ["Proposal", "Demo", "Proposal"],
                          "amount": [100.0, 300.0, 200.0], "p_win": [0.5, 0.1, 0.2]})  # fmt: skip
    ctx = _ctx()
    ctx.pipeline = SimpleNamespace(deals=deals)
    t = ws.open_by_stage(ctx, ["Demo", "Proposal"])
    # Demo: 300 x 0.1 = 30; Proposal: 100 x 0.5 + 200 x 0.2 = 90 of 300 -> 30%.
    assert t["stage"].tolist() == ["Demo", "Proposal"] and t["deals"].tolist() == [1, 2]
    assert t["expected"].tolist() == pytest.approx([30.0, 90.0])
    assert t["p_win"].tolist() == pytest.approx([0.1, 0.3])


def test_forecast_app_shows_the_documents_split(r15_ctx) -> None:
    from salesnb.reports.workbooks import pipeline_split

    wb, ctx = r15_ctx
    fp = forecast.forecast_pipeline(wb, ["R15"], ctx.start, ctx.end, n_sims=10)
    app = apps.ForecastWhatIfApp(wb, "R15")
    split = pipeline_split(SimpleNamespace(pipeline=fp))
    html = app.outputs["table"].value
    for part, value, how in split["rows"]:
        assert part.capitalize() in html and ws.fmt_money(value) in html and how in html
    assert [v for _, v, _ in split["rows"]] == pytest.approx(
        [fp.already_won, fp.expected_open, fp.expected_run_rate]
    )
    st_ = ws.open_by_stage(app.context(), wb.config.stages.open_names)
    assert st_["deals"].sum() == len(fp.deals)
    assert st_["expected"].sum() == pytest.approx(fp.expected_open)
    for row in st_.itertuples():
        assert f"<td>{row.stage}</td>" in app.outputs["stages"].value
    app.controls["deal_size"].value = 2.0  # what-if column moves, before stays
    html = app.outputs["table"].value
    moved = ws.what_if(app.context(), deal_size=2.0)
    assert ws.fmt_money(moved.expected_open) in html and ws.fmt_money(fp.expected_open) in html


def test_forecast_app_slider_moves_p_target(r15_ctx) -> None:
    wb, ctx = r15_ctx
    app = apps.ForecastWhatIfApp(wb, "R15")
    app.controls["win_rate"].value = 1.2
    expected = ws.what_if(ctx, win_rate=1.2)
    assert app.result[1].samples.tolist() == expected.samples.tolist()
    # the chance is the forecast document's, moved by the what-if (tests/test_apps_whatif_chance.py)
    doc = app.document()
    p = ws.what_if_chance(doc, app.result[0], expected)
    before = ws.what_if_chance(doc, app.result[0], app.result[0])
    assert p >= before  # more wins never lower it
    assert f"it: <b>{format_value(p, 'chance')}</b>" in app.outputs["headline"].value
    app.controls["target"].value = "1"
    p = ws.what_if_chance(doc, *app.result)
    assert p > 0.9 and f"it: <b>{format_value(p, 'chance')}</b>" in app.outputs["headline"].value


# --------------------------------------------------------------------------- 5. pipeline explorer
def test_explore_filters_by_hand(tiny_wb) -> None:
    ctx = ws.ExplorerContext.from_workbook(tiny_wb)
    # Open: o3 (A, Demo, 2000, 60 days old, due 2026-10-15), o5 (C, Proposal, 800, 46 days,
    # due 2026-09-20: past due).
    v = ws.explore(ctx)
    assert v.deals["opp_id"].tolist() == ["o3", "o5"]
    assert v.funnel["count"].tolist() == [2, 2, 2, 1, 0]
    assert v.summary["weighted"] == pytest.approx(2000 * 0.30 + 800 * 0.50)
    assert ws.explore(ctx, reps=["A"]).summary["amount"] == 2000.0
    assert ws.explore(ctx, close_months=["past_due"]).deals["opp_id"].tolist() == ["o5"]
    assert ws.explore(ctx, close_months="2026-10").deals["opp_id"].tolist() == ["o3"]
    assert ws.explore(ctx, age=(50, 100)).deals["opp_id"].tolist() == ["o3"]
    assert ws.explore(ctx, stages=["Proposal"]).funnel["count"].tolist() == [1, 1, 1, 1, 0]
    with pytest.raises(ParameterError, match="Unknown stages"):
        ws.explore(ctx, stages=["Won?"])


def test_pipeline_app_dropdown(tiny_wb) -> None:
    app = apps.PipelineExplorerApp(tiny_wb)
    assert "<b>2 deals</b> worth <b>$2,800</b>" in app.outputs["summary"].value
    app.controls["rep"].value = "A"
    assert "<b>1 deal</b> worth <b>$2,000</b> (weighted $600)" in app.outputs["summary"].value
    assert "o3" in app.outputs["table"].value and "o5" not in app.outputs["table"].value
    app.controls["rep"].value = ""
    app.controls["close_month"].value = "past_due"
    assert "1 past due" in app.outputs["summary"].value


def test_explorer_legend_lists_only_the_colours_of_the_bars(tiny_wb) -> None:
    app = apps.PipelineExplorerApp(tiny_wb)

    def legend_and_bars():
        enc = app.chart.to_dict()["layer"][0]["encoding"]["color"]
        return enc["scale"], list(app.chart.data["status"])

    scale, bars = legend_and_bars()
    # All reps: no team to compare with, so four grey stages and the final one; the legend
    # has those two entries, not five.
    assert set(scale["domain"]) == set(bars) == {charts.LAST_STAGE, charts.NO_TEAM}
    assert scale["range"] == [charts.TEAM_STATUS[s] for s in scale["domain"]]
    app.controls["rep"].value = "A"
    v = app.result
    # Team (o3 Demo, o5 Proposal): 2, 2, 2, 1, 0 deals at or past each stage -> 100%,
    # 100%, 50%, 0%. Ann (o3): 1, 1, 1, 0, 0 -> 100%, 100%, 0% (below the team's 50%).
    assert v.funnel["team_conversion"].tolist()[:4] == [1.0, 1.0, 0.5, 0.0]
    scale, bars = legend_and_bars()
    assert bars[:3] == [charts.AT_OR_ABOVE_TEAM, charts.AT_OR_ABOVE_TEAM, charts.BELOW_TEAM]
    assert scale["domain"] == [s for s in charts.TEAM_STATUS if s in set(bars)]
    assert "against the whole team" in app.chart.to_dict()["title"]["subtitle"]


def test_workshop_command_starts_voila_with_culling_and_unix_sockets(tmp_path, monkeypatch):
    from click.testing import CliRunner

    started: list[list[str]] = []

    class Proc:
        def __init__(self, cmd, **kwargs) -> None:
            started.append(cmd)

        def wait(self) -> int:
            return 0

    monkeypatch.setattr(cli_workshop.subprocess, "Popen", Proc)
    monkeypatch.setattr(cli_workshop.signal, "signal", lambda *a: None)
    run = CliRunner().invoke
    res = run(cli_workshop.workshop, ["--no-browser", "--notebooks", str(tmp_path)])
    assert res.exit_code == 0, res.output
    cmd = started[-1]
    # 20 minutes = 1200 s idle, checked every 60 s, open tab or not; kernels on Unix sockets.
    for flag in ("--MappingKernelManager.cull_idle_timeout=1200",
                 "--MappingKernelManager.cull_interval=60",
                 "--MappingKernelManager.cull_connected=True",
                 "--KernelManager.transport=ipc", "--VoilaExecutor.timeout=120"):  # fmt: skip
        assert flag in cmd
    assert "stops; reloading its page starts it again" in res.output
    res = run(cli_workshop.workshop, ["--no-browser", "--notebooks", str(tmp_path),
                                      "--cull-after", "0"])  # fmt: skip
    assert res.exit_code == 0 and not any("cull" in a for a in started[-1])
    assert "--KernelManager.transport=ipc" in started[-1]


def test_every_app_has_a_static_copy(tiny_wb) -> None:
    for name, cls in apps.APPS.items():
        app = cls(tiny_wb)
        assert app.error is None, (name, app.error)
        assert "snb-app" in app.static_html() and app.widget is not None

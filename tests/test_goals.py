"""Goal setting: exact splits, seasonality, decomposition, reverse funnel, SMART check.

Every expected value is worked out by hand in the comment beside it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from salesnb.analytics import goals
from salesnb.core.errors import ConfigError, NotEnoughDataError, ParameterError

T = pd.Timestamp


# --- split_by_weights -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("total", "weights", "unit", "expected"),
    [
        (100, [1, 1, 1], 1.0, [34, 33, 33]),  # 33.3 each: the 1 left goes to the first (tie)
        (7, [0.5, 0.3, 0.2], 1.0, [4, 2, 1]),  # 3.5, 2.1, 1.4 -> 3,2,1 + 1 to the .5
        (2, [1, 3], 1.0, [0, 2]),  # 0.5, 1.5: equal fractions, the larger weight wins
        (3, [1, 1, 2, 2], 1.0, [1, 0, 1, 1]),  # 0.5, 0.5, 1, 1: earlier of the equal pair
        (10, [1, 3], 0.01, [2.5, 7.5]),  # 1000 cents: 250 and 750
        (1, [1, 1, 1], 0.01, [0.34, 0.33, 0.33]),  # 100 cents: 34, 33, 33
        (10, [0, 0], 1.0, [5, 5]),  # nothing to go by: even
        (10, [np.nan, 1], 1.0, [0, 10]),  # NaN counts as 0
        (0, [1, 2], 1.0, [0, 0]),
    ],
)
def test_split_by_weights(total, weights, unit, expected):
    w = pd.Series(weights, index=list("abcd")[: len(weights)], dtype=float)
    parts = goals.split_by_weights(total, w, unit)
    assert parts.tolist() == pytest.approx(expected)
    assert list(parts.index) == list(w.index)
    assert round(parts.sum() / unit) == round(total / unit)


def test_split_remainder_to_named_part():
    w = pd.Series(1.0, index=["a", "b", "house"])
    # floor(33.3) = 33 each, the 1 left goes to "house"
    assert goals.split_by_weights(100, w, remainder_to="house").tolist() == [33, 33, 34]
    with pytest.raises(ParameterError, match="remainder_to"):
        goals.split_by_weights(100, w, remainder_to="zzz")


@pytest.mark.parametrize(
    ("total", "weights", "unit", "match"),
    [
        (10.5, [1, 1], 1.0, "not a whole number of units"),
        (-5, [1, 1], 1.0, ">= 0"),
        (10, [1, -1], 1.0, "negative"),
        (10, ["x", 1], 1.0, "non-numeric"),
        (10, [], 1.0, "empty"),
        (10, [1, 1], 0.0, "unit"),
        ("ten", [1], 1.0, "not a number"),
    ],
)
def test_split_by_weights_errors(total, weights, unit, match):
    with pytest.raises(ParameterError, match=match):
        goals.split_by_weights(total, pd.Series(weights, dtype=object), unit)


# --- seasonality ------------------------------------------------------------------------
def _monthly(values, start="2025-01"):
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="MS"))


def test_seasonality_short_history_is_even():
    w = goals.seasonality_weights(_monthly([10.0] * 11))
    assert w.tolist() == pytest.approx([1 / 12] * 12)
    assert list(w.index) == list(range(1, 13))


def test_seasonality_shrinks_toward_even():
    # 12 months, Dec = 30, others 10; mean 140/12 -> raw Jan 6/7, Dec 18/7.
    # lambda = 12/24 = 0.5: Jan 1 - 0.5/7 = 13/14, Dec 1 + 0.5*11/7 = 25/14 (sum 12).
    w = goals.seasonality_weights(_monthly([10.0] * 11 + [30.0]))
    assert w[1] == pytest.approx(13 / 14 / 12)
    assert w[12] == pytest.approx(25 / 14 / 12)
    assert w.sum() == pytest.approx(1.0)
    full = goals.seasonality_weights(_monthly([10.0] * 11 + [30.0]), shrink=1.0)
    assert full[12] / full[1] == pytest.approx(3.0)
    assert goals.seasonality_weights(_monthly([10.0] * 11 + [30.0]), shrink=0.0)[12] == \
        pytest.approx(1 / 12)  # fmt: skip


def test_seasonality_removes_linear_trend():
    # 36 months of steady growth and no season: the trend explains everything -> even.
    w = goals.seasonality_weights(_monthly([100.0 + 10 * t for t in range(36)], "2023-01"))
    assert w.tolist() == pytest.approx([1 / 12] * 12)


def test_seasonality_gaps_count_as_zero_and_strings_are_months():
    s = pd.Series([10.0, 10.0], index=["2025-01", "2025-12"])  # Feb-Nov are missing = 0
    w = goals.seasonality_weights(s, shrink=1.0)
    # mean 20/12; raw Jan = Dec = 6, others 0
    assert w[1] == pytest.approx(0.5) and w[2] == 0
    with pytest.raises(ParameterError, match="indexed by month"):
        goals.seasonality_weights(pd.Series([1.0], index=["not a month"]))


# --- decompose_annual -------------------------------------------------------------------
def test_decompose_even_calendar_year():
    d = goals.decompose_annual(1_200_000, year_start="2026-01")
    assert d.method == "even"
    assert d.quarters["quarter"].tolist() == [f"FY2026-Q{i}" for i in range(1, 5)]
    assert d.quarters["amount"].tolist() == [300_000] * 4
    assert d.months["amount"].tolist() == [100_000] * 12
    jan = d.weeks[d.weeks["month"] == T("2026-01-01")]
    # Jan 2026 starts on a Thursday: pieces 1-4 (2 business days), 5-11, 12-18, 19-25,
    # 26-31 (5 each) = 22. 100000*2/22 = 9090.9, 5/22 -> 22727.3: floors sum to 99998;
    # the 2 left go to the .909 piece and then the first of the four .273 ties.
    assert jan["business_days"].tolist() == [2, 5, 5, 5, 5]
    assert jan["amount"].tolist() == [9091, 22728, 22727, 22727, 22727]
    assert jan["iso_week"].tolist() == ["2026-W01", "2026-W02", "2026-W03", "2026-W04",
                                        "2026-W05"]  # fmt: skip
    assert (jan["week_start"].iloc[0], jan["week_end"].iloc[-1]) == (
        T("2026-01-01"),
        T("2026-01-31"),
    )
    assert d.weeks["days"].sum() == 365
    d.check()


def test_decompose_fiscal_year_custom_quarters():
    d = goals.decompose_annual(
        1000, year_start="2026-02-01", weights={"Q1": 1, "Q2": 2, "Q3": 3, "Q4": 4}
    )
    # FY2027 runs Feb 2026 - Jan 2027 (named by the year it ends, like FiscalCalendar)
    assert d.quarters["quarter"].tolist()[0] == "FY2027-Q1"
    assert (d.quarters["start"].iloc[0], d.quarters["end"].iloc[0]) == (
        T("2026-02-01"),
        T("2026-04-30"),
    )
    assert d.quarters["amount"].tolist() == [100, 200, 300, 400]
    # Q1 = 100 over Feb, Mar, Apr: 33.3 each -> 34, 33, 33
    assert d.months["amount"].tolist()[:3] == [34, 33, 33]
    assert d.months["month"].iloc[-1] == T("2027-01-01")


def test_decompose_seasonal_from_history():
    # Weights from test_seasonality_shrinks_toward_even: Jan-Nov 13/168, Dec 25/168.
    # 168000: Q1-Q3 = 3*13*1000 = 39000; Q4 = (13+13+25)*1000 = 51000; Dec = 25000.
    hist = _monthly([10.0] * 11 + [30.0])
    d = goals.decompose_annual(168_000, year_start="2026-01", history=hist)
    assert d.method == "seasonal"
    assert d.quarters["amount"].tolist() == [39_000, 39_000, 39_000, 51_000]
    assert d.months["amount"].tolist() == [13_000] * 11 + [25_000]


def test_decompose_month_weights_by_name_and_errors():
    d = goals.decompose_annual(120, year_start="2026-01", weights={"jan": 1, "dec": 1})
    assert d.months["amount"].tolist() == [60] + [0] * 10 + [60]
    with pytest.raises(ParameterError, match="year_start"):
        goals.decompose_annual(100, year_start=1)
    with pytest.raises(ParameterError, match="needs history"):
        goals.decompose_annual(100, year_start="2026-01", weights="seasonal")
    with pytest.raises(ParameterError, match="not a month or fiscal quarter"):
        goals.decompose_annual(100, year_start="2026-01", weights={"Q9": 1})


# --- split_across -----------------------------------------------------------------------
REPS = pd.DataFrame({
    "rep_id": ["a", "b", "c"],
    "start_date": pd.to_datetime(["2020-01-01", "2026-01-01", None]),
})  # fmt: skip


def test_split_across_capacity_with_ramp():
    # a: tenured -> 1; b starts on as_of: mean over 12 months of min(1, (i + 0.5)/6)
    # = (0.5+1.5+...+5.5)/6 + 6 = 3 + 6 = 9 -> 9/12 = 0.75; c: no start date -> 1.
    out = goals.split_across(2750, REPS, "capacity", as_of="2026-01-01")
    assert out["basis"].tolist() == pytest.approx([1.0, 0.75, 1.0])
    # shares 1/2.75, 0.75/2.75, 1/2.75 of 2750 = 1000, 750, 1000 exactly
    assert out["amount"].tolist() == [1000, 750, 1000]
    # a one-month horizon: b counts min(1, 0.5/6) = 1/12
    one = goals.split_across(2750, REPS, "capacity", as_of="2026-01-01", horizon_months=1)
    assert one.loc[1, "basis"] == pytest.approx(1 / 12)


def test_split_across_other_methods():
    hist = {"a": 300.0, "b": 100.0}  # c has none -> 0
    assert goals.split_across(1000, REPS, "history", history=hist)["amount"].tolist() == \
        [750, 250, 0]  # fmt: skip
    assert goals.split_across(1000, REPS, "even")["amount"].tolist() == [334, 333, 333]
    out = goals.split_across(10, REPS, "custom", weights=pd.Series({"a": 1, "b": 1, "c": 2}))
    assert out["amount"].tolist() == [3, 2, 5]  # 2.5, 2.5, 5: the tied unit goes to a
    assert out["share"].tolist() == pytest.approx([0.25, 0.25, 0.5])
    regions = pd.DataFrame({"region": ["East", "West"]})
    assert goals.split_across(100, regions, "even", key="region")["amount"].tolist() == [50, 50]


def test_split_across_errors():
    with pytest.raises(ParameterError, match="duplicate"):
        goals.split_across(10, pd.DataFrame({"rep_id": ["a", "a"]}), "even")
    with pytest.raises(ParameterError, match="'rep_id' column"):
        goals.split_across(10, pd.DataFrame({"x": [1]}), "even")
    with pytest.raises(ParameterError, match="needs as_of"):
        goals.split_across(10, REPS, "capacity")
    with pytest.raises(ParameterError, match="needs history"):
        goals.split_across(10, REPS, "history")
    with pytest.raises(ParameterError, match="not known"):
        goals.split_across(10, REPS, "magic")


# --- reverse funnel ---------------------------------------------------------------------
def test_reverse_funnel_basic():
    rf = goals.reverse_funnel(
        100_000,
        win_rate=0.25,
        avg_deal_size=10_000,
        activity_to_opp=0.1,
        weeks=10,
        activity_mix={"call": 3, "meeting": 1},
    )
    # pipeline 100000/0.25; deals 100000/10000 = 10; opps 10/0.25 = 40; activities 40/0.1
    assert (rf.pipeline_needed, rf.deals_needed, rf.opportunities_needed) == (400_000, 10, 40)
    assert rf.activities_needed == 400
    assert rf.activities_by_type.to_dict() == {"call": 300, "meeting": 100}
    pw = rf.per_week()
    assert (pw["pipeline"], pw["opportunities"], pw["call"], pw["meeting"]) == (40_000, 4, 30, 10)


def test_reverse_funnel_rounds_up_and_stage_entries():
    rf = goals.reverse_funnel(95_000, win_rate=0.25, avg_deal_size=10_000, weeks=13,
                              stage_conversions={"Qualification": 0.5, "Demo": 0.5,
                                                 "Proposal": 0.8})  # fmt: skip
    # deals ceil(9.5) = 10; Proposal ceil(10/0.8 = 12.5) = 13; Demo 26; Qualification 52
    assert rf.deals_needed == 10
    assert rf.stage_entries.to_dict() == {"Qualification": 52, "Demo": 26, "Proposal": 13}
    # 0.5*0.5*0.8 = 20% vs 25%: a note says so
    assert "20% win rate, not the 25%" in rf.notes[0]
    assert rf.activities_needed is None and "activities" not in set(rf.table()["item"])
    # 40 opportunities over 13 weeks = 3.08 -> 4 a week
    assert rf.per_week()["opportunities"] == 4
    assert goals.reverse_funnel(100_001, win_rate=1, avg_deal_size=10_000).deals_needed == 11
    zero = goals.reverse_funnel(0, win_rate=0.3, avg_deal_size=5, activity_to_opp=0.2)
    assert (zero.deals_needed, zero.opportunities_needed, zero.activities_needed) == (0, 0, 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"win_rate": 0}, "win_rate is 0"),
        ({"win_rate": 1.5}, "at most 1"),
        ({"win_rate": 25}, "write 25% as 0.25"),
        ({"avg_deal_size": 0}, "avg_deal_size"),
        ({"weeks": 0}, "weeks"),
        ({"activity_to_opp": 0}, "activity_to_opp"),
        ({"stage_conversions": {"Demo": 0}}, "stage_conversions"),
    ],
)
def test_reverse_funnel_errors(kwargs, match):
    args = {"win_rate": 0.25, "avg_deal_size": 1000} | kwargs
    with pytest.raises(ParameterError, match=match):
        goals.reverse_funnel(10_000, **args)
    with pytest.raises(ParameterError, match="target"):
        goals.reverse_funnel(-1, win_rate=0.5, avg_deal_size=1)


def test_reverse_funnel_from_history(tiny_wb):
    # Rep A closed o1 (won 1000) and o2 (lost 500, furthest Demo): win rate 1/2, size 1000,
    # by value 1000/1500. Stage reach: won = past Negotiation (5), lost at Demo (2):
    # reached >= k for k = 0..5: 2,2,2,1,1,1 -> conversions 1, 1, 0.5, 1, 1.
    rf = goals.reverse_funnel_from_history(tiny_wb, "A", 3000, min_closed=2)
    assert (rf.win_rate, rf.avg_deal_size) == (0.5, 1000)
    assert rf.pipeline_needed == pytest.approx(4500)  # 3000 / (2/3)
    assert (rf.deals_needed, rf.opportunities_needed) == (3, 6)
    assert rf.stage_entries.to_dict() == {"Prospecting": 6, "Qualification": 6, "Demo": 6,
                                          "Proposal": 3, "Negotiation": 3}  # fmt: skip
    assert rf.inputs["source"] == "your own"
    assert any("No activities" in n for n in rf.notes)
    # D (new hire, West with C: 1 closed deal) falls back to the whole team:
    # o1 won 1000, o2 lost, o4 won 300, o6 won 700 -> 3/4, size 2000/3
    d = goals.reverse_funnel_from_history(tiny_wb, "D", 2000, min_closed=2)
    assert d.win_rate == 0.75 and d.avg_deal_size == pytest.approx(2000 / 3)
    assert "whole team" in d.notes[0]
    with pytest.raises(NotEnoughDataError, match="win_rate= and avg_deal_size="):
        goals.reverse_funnel_from_history(tiny_wb, "A", 3000)  # 10 closed deals needed
    given = goals.reverse_funnel_from_history(tiny_wb, "A", 3000, win_rate=0.5,
                                              avg_deal_size=100)  # fmt: skip
    assert given.deals_needed == 30
    with pytest.raises(ParameterError, match="Unknown overrides"):
        goals.reverse_funnel_from_history(tiny_wb, "A", 3000, winrate=0.5)


# --- SMART ------------------------------------------------------------------------------
def _q(values, start="2025-07-01"):
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="QS"))


GOOD = {"metric": "bookings", "target": 120.0, "baseline": 100.0, "deadline": "2026-12-31",
        "owner": "Ann", "objective": "Grow revenue"}  # fmt: skip
# Quarter-on-quarter changes +10%, +20%, +5%, +30%: 75% quantile (linear) = 0.225, best 0.3
OWN = _q([100, 110, 132, 138.6, 180.18])


def test_smart_all_pass():
    r = goals.smart_check(GOOD, history=OWN, objectives=["Grow revenue"], as_of="2026-09-30")
    assert r.status == "pass", str(r)
    # +20%: at or below the 0.225 quantile; +20% or more happened twice (+20%, +30%)
    assert r.criteria["A"].reason == (
        "+20% bookings is within your record: reached in 2 of 4 quarter-on-quarter changes."
    )
    assert r.criteria["T"].reason == "Due 2026-12-31, 92 days from 2026-09-30."
    assert r.to_frame()["criterion"].tolist() == list("SMART")


@pytest.mark.parametrize(
    ("target", "status", "text"),
    [
        (125.0, "warn", "+25% bookings is a stretch: reached in only 1 of 4"),
        (140.0, "fail", "+40% bookings is above anything you have reached in a year (best: +30%)"),
    ],
)
def test_smart_achievable_against_own_history(target, status, text):
    r = goals.smart_check(GOOD | {"target": target}, history=OWN, as_of="2026-09-30")
    assert r.criteria["A"].status == status
    assert text in r.criteria["A"].reason
    assert r.stats["own_best"] == pytest.approx(0.3)


def test_smart_thresholds_are_data():
    # with own_pass_quantile 1.0 anything up to the best (+30%) passes
    r = goals.smart_check(
        GOOD | {"target": 125.0},
        history=OWN,
        as_of="2026-09-30",
        thresholds={"own_pass_quantile": 1.0},
    )
    assert r.criteria["A"].status == "pass"
    with pytest.raises(ConfigError, match="Unknown SMART threshold"):
        goals.smart_check(GOOD, thresholds={"own_pass": 1})


def test_smart_team_history_message():
    # 13 quarters (3.25 years); r1 jumps once 100 -> 142 (+42%), everything else flat.
    team = pd.DataFrame(
        {"r1": [100.0] * 6 + [142.0] * 7, "r2": [100.0] * 13},
        index=pd.date_range("2023-07-01", periods=13, freq="QS"),
    )
    r = goals.smart_check(GOOD | {"target": 180.0}, peer_history=team, as_of="2026-09-30")
    assert r.criteria["A"].status == "fail"
    assert r.criteria["A"].reason == (
        "+80% bookings is above anything a rep on this team has reached in 3 years (best: +42%)."
    )


@pytest.mark.parametrize(
    ("target", "baseline", "status", "text"),
    [
        (250.0, 120.0, "fail", "$250 bookings is beyond every one of 4 peers today (best: $200)"),
        (250.0, 210.0, "warn", "beyond every one of 4 peers"),  # already the best: a warning
        (130.0, 120.0, "pass", "at the 50% percentile of 4 peers"),  # 100, 120 below 130
    ],
)
def test_smart_against_peers(target, baseline, status, text):
    peers = pd.Series([100.0, 120.0, 150.0, 200.0])
    r = goals.smart_check(
        GOOD | {"target": target, "baseline": baseline}, peers=peers, as_of="2026-09-30"
    )
    assert r.criteria["A"].status == status
    assert text in r.criteria["A"].reason


def test_smart_lower_is_better_metric():
    # cycle 60, 55, 50, 52, 45 days: improvements 8.3%, 9.1%, -4%, 13.5%; 75% quantile 10.2%.
    # 45 -> 40 days is an 11.1% improvement: above the quantile, below the best -> a stretch.
    hist = pd.Series([60.0, 55, 50, 52, 45], index=pd.date_range("2026-01", periods=5, freq="MS"))
    g = {"metric": "sales_cycle", "target": 40, "baseline": 45, "deadline": "2026-07-31",
         "owner": "Ann", "objective": "Faster deals"}  # fmt: skip
    r = goals.smart_check(g, history=hist, as_of="2026-06-30")
    assert r.criteria["A"].status == "warn"
    assert r.criteria["A"].reason.startswith("-11% median sales cycle is a stretch")


@pytest.mark.parametrize(
    ("change", "crit", "status", "text"),
    [
        ({"metric": "revenue"}, "S", "fail", "Did you mean 'bookings'?"),
        ({"owner": None}, "S", "warn", "no owner"),
        ({"metric": "win_rate", "target": 35, "baseline": 0.3}, "M", "fail", "write 35% as 0.35"),
        ({"unit": "%"}, "M", "fail", "does not fit bookings"),
        ({"target": None}, "M", "fail", "No target"),
        ({"baseline": None}, "M", "warn", "no baseline"),
        ({"objective": None}, "R", "fail", "Not tied to an objective"),
        ({"objective": "Win the lottery"}, "R", "warn", "not one of the team's objectives"),
        ({"deadline": None}, "T", "fail", "No deadline"),
        ({"deadline": "soon"}, "T", "fail", "'soon' is not a date"),
        ({"deadline": "2026-09-01"}, "T", "fail", "not after today"),
        ({"deadline": "2026-10-05"}, "T", "warn", "Only 5 days"),
        ({"deadline": "2027-12-31"}, "T", "warn", "milestones"),
        ({"target": 100.0}, "A", "warn", "asks for no improvement"),
        ({}, "A", "warn", "Cannot judge achievability"),
    ],
)
def test_smart_criteria_fail_and_warn(change, crit, status, text):
    r = goals.smart_check(
        GOOD | change, objectives=["Grow revenue", "Keep customers"], as_of="2026-09-30"
    )
    assert r.criteria[crit].status == status, str(r)
    assert text in r.criteria[crit].reason
    others = {k: v.status for k, v in r.criteria.items() if k != crit and k != "A"}
    if not change.get("metric") and change.get("target", 1) is not None:
        assert set(others.values()) == {"pass"}, str(r)


def test_smart_baseline_from_history():
    r = goals.smart_check(GOOD | {"baseline": None}, history=OWN, as_of="2026-09-30")
    # median of the last 3 quarters: 132, 138.6, 180.18 -> 138.6
    assert r.stats["baseline"] == pytest.approx(138.6)
    assert "median of the last 3 periods" in r.criteria["M"].reason
    assert "from $139 to $120" in r.as_text()
    with pytest.raises(ParameterError, match="Unknown goal fields"):
        goals.smart_check({"metric": "bookings", "tgt": 1})


def test_goal_as_text():
    g = goals.Goal(**GOOD)
    assert g.as_text() == (
        "Ann will raise quarterly bookings from $100 to $120 (+20%) by "
        "31 Dec 2026, in support of: Grow revenue."
    )
    wr = goals.Goal("win_rate", 0.27, baseline=0.22, deadline="2026-12-31", owner="Bo",
                    objective="Win more")  # fmt: skip
    assert wr.as_text() == (
        "Bo will raise win rate from 22% to 27% (+5 pts) by 31 Dec 2026, in support of: Win more."
    )
    cyc = goals.Goal("sales_cycle", 45, baseline=60, deadline="2027-03-31", owner="Cy",
                     objective="Faster deals")  # fmt: skip
    assert "reduce median sales cycle from 60 days to 45 days (-25%)" in cyc.as_text()
    assert goals.Goal("calls", 300, period="month").as_text("EUR") == (
        "[owner] will reach monthly calls of 300 by [deadline], in support of: [objective]."
    )
    assert "€1,000" in goals.Goal("bookings", 1000).as_text("EUR")


# --- metric history ---------------------------------------------------------------------
def test_metric_history_quarterly(tiny_wb):
    # as_of 2026-09-30: Q3 is complete. First data: o6 created 2026-06-01 (Q2).
    h = goals.metric_history(tiny_wb, "bookings", freq="Q")
    assert list(h.index) == [T("2026-04-01"), T("2026-07-01")]
    # Q3 won: A o1 1000, B o4 300, C o6 700 (closed 07-01); D nothing
    assert h.loc[T("2026-07-01")].to_dict() == {"A": 1000, "B": 300, "C": 700, "D": 0}
    assert h.loc[T("2026-04-01")].sum() == 0
    wr = goals.metric_history(tiny_wb, "win_rate", freq="Q").loc[T("2026-07-01")]
    assert wr["A"] == 0.5 and wr["B"] == 1.0 and np.isnan(wr["D"])


def test_metric_history_masks_before_start(tiny_wb):
    reps = tiny_wb.reps.copy()
    reps.loc[reps["rep_id"] == "D", "start_date"] = T("2026-08-15")
    wb = dataclasses.replace(tiny_wb, reps=reps)
    h = goals.metric_history(wb, "bookings", freq="M")
    # months Jun-Sep 2026; D starts Aug 15 -> Jun and Jul are NaN, Aug and Sep 0
    assert h["D"].isna().tolist() == [True, True, False, False]
    with pytest.raises(ParameterError, match="Unknown metric"):
        goals.metric_history(wb, "happiness")


def test_smart_check_from_history(tiny_wb):
    goal = {"metric": "bookings", "target": 1500, "deadline": "2026-12-31",
            "objective": "Grow revenue"}  # fmt: skip
    r = goals.smart_check_from_history(tiny_wb, goal, "A", peer_group="all")
    assert r.goal.owner == "Ann Able"
    # A's quarters: 0, 1000 -> baseline = median = 500
    assert r.stats["baseline"] == 500
    # peers' levels (median of last 3 quarters): B 150, C 350, D 0; A is already above them
    assert r.criteria["A"].status == "warn"
    assert "beyond every one of 3 peers today (best: $350)" in r.criteria["A"].reason
    team = goals.smart_check_from_history(tiny_wb, goal, "Ann Able")  # East: only B
    assert "Cannot judge" in team.criteria["A"].reason

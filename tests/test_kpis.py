"""KPI engine: every KPI against hand-computed values on a tiny workbook, edge cases, public data.

The fixture (as of 2026-06-30, fiscal year = calendar year, default stage catalogue):

reps: a (East, M1), b (East, M1), c (West, M2), d (West, M2; no data at all).

opp  rep stage          amount created    close      outcome  furthest     last activity
o01  a   Closed Won       1000 2026-01-01 2026-01-31 won      Negotiation  -          cycle 30
o02  a   Closed Won       3000 2026-02-01 2026-04-02 won      Negotiation  -          cycle 60
o03  a   Closed Lost      2000 2026-03-01 2026-04-15 lost     Demo
o04  b   Closed Won        500 2026-04-01 2026-05-21 won      -                       cycle 50
o05  b   Closed Lost      1500 2026-04-10 2026-05-01 lost     Qualification
o06  b   Closed Lost       500 2026-05-01 2026-06-10 lost     Prospecting
o07  a   Proposal         4000 2026-05-01 2026-07-15 open     Proposal     2026-06-25
o08  c   Demo             2000 2026-03-01 2026-06-15 open     Demo         2026-04-01 (stale)
o09  b   Qualification    1000 2026-06-01 2026-10-05 open     Negotiation  2026-06-29
o10  a   Closed Won       7000 2026-06-01 2026-07-20 won      Negotiation  2026-07-20 (after as-of)
o11  b   Prospecting       800 2026-07-05 2026-08-01 open     -            (created after as-of)

o10 closed after as-of, so at as-of it is open; the 2026-06-26 snapshot says Negotiation, 6000,
close 2026-07-10. o11 does not exist yet at as-of.

targets: a 1000/month Jan-Jun + 2000 in Jul; b 800/month Apr-Jun + 1000 in Jul;
region East 2000 in May (replaces a's and b's May rows when grouping by region or by nothing).
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesnb.analytics import kpis
from salesnb.core.errors import ConfigError, ParameterError
from salesnb.data.config import load_config
from salesnb.data.model import Workbook, empty_table

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared"
D = pd.to_datetime


def make_wb() -> Workbook:
    reps = pd.DataFrame(
        {"rep_id": ["a", "b", "c", "d"], "name": ["Ann", "Zoë O'Brien", "Cy", "Di"],
         "manager": ["M1", "M1", "M2", "M2"], "region": ["East", "East", "West", "West"],
         "team": ["E1", "E1", "W1", None], "start_date": D(["2024-01-01"] * 4)}
    )  # fmt: skip
    rows = [
        ("o01", "a", "X", "Closed Won", 1000, "2026-01-01", "2026-01-31", "won", "Negotiation", None),
        ("o02", "a", "X", "Closed Won", 3000, "2026-02-01", "2026-04-02", "won", "Negotiation", None),
        ("o03", "a", "Y", "Closed Lost", 2000, "2026-03-01", "2026-04-15", "lost", "Demo", None),
        ("o04", "b", "Z", "Closed Won", 500, "2026-04-01", "2026-05-21", "won", None, None),
        ("o05", "b", "W", "Closed Lost", 1500, "2026-04-10", "2026-05-01", "lost", "Qualification",
         None),
        ("o06", "b", "V", "Closed Lost", 500, "2026-05-01", "2026-06-10", "lost", "Prospecting",
         None),
        ("o07", "a", "X", "Proposal", 4000, "2026-05-01", "2026-07-15", "open", "Proposal",
         "2026-06-25"),
        ("o08", "c", "U", "Demo", 2000, "2026-03-01", "2026-06-15", "open", "Demo", "2026-04-01"),
        ("o09", "b", None, "Qualification", 1000, "2026-06-01", "2026-10-05", "open", "Negotiation",
         "2026-06-29"),
        ("o10", "a", "Q", "Closed Won", 7000, "2026-06-01", "2026-07-20", "won", "Negotiation",
         "2026-07-20"),
        ("o11", "b", "R", "Prospecting", 800, "2026-07-05", "2026-08-01", "open", None, None),
    ]  # fmt: skip
    cols = ["opp_id", "rep_id", "account", "stage", "amount", "created_date", "close_date",
            "outcome", "furthest_stage", "last_activity_date"]  # fmt: skip
    opps = pd.DataFrame(rows, columns=cols)
    for c in ("created_date", "close_date", "last_activity_date"):
        opps[c] = D(opps[c])
    opps["amount"] = opps["amount"].astype(float)
    opps["product"], opps["forecast_category"], opps["source"] = "P", "pipeline", "inbound"
    months = D([f"2026-{m:02d}-01" for m in range(1, 8)])
    targets = pd.concat(
        [
            pd.DataFrame({"rep_id": "a", "region": None, "month": months,
                          "amount": [1000.0] * 6 + [2000.0]}),
            pd.DataFrame({"rep_id": "b", "region": None, "month": months[3:],
                          "amount": [800.0] * 3 + [1000.0]}),
            pd.DataFrame({"rep_id": [None], "region": ["East"], "month": D(["2026-05-01"]),
                          "amount": [2000.0]}),
        ],
        ignore_index=True,
    )  # fmt: skip
    acts = pd.DataFrame(
        [("a", "2026-04-05", "call", 20), ("a", "2026-05-05", "email", 10),
         ("b", "2026-04-07", "call", 5), ("b", "2026-05-07", "meeting", 3),
         ("c", "2026-06-01", "demo", 2), ("a", "2026-07-02", "call", 99),
         ("b", "2026-06-01", "linkedin", 4)],
        columns=["rep_id", "date", "type", "count"],
    )  # fmt: skip
    acts["date"] = D(acts["date"])
    snaps = pd.DataFrame(
        [("2026-06-19", "o07", "a", "Proposal", 4000.0, "2026-06-28"),
         ("2026-06-19", "o08", "c", "Demo", 2000.0, "2026-06-15"),
         ("2026-06-19", "o09", "b", "Qualification", 1000.0, "2026-09-30"),
         ("2026-06-19", "o10", "a", "Negotiation", 7000.0, "2026-06-30"),
         ("2026-06-26", "o07", "a", "Proposal", 4000.0, "2026-07-15"),
         ("2026-06-26", "o08", "c", "Demo", 2000.0, "2026-06-15"),
         ("2026-06-26", "o09", "b", "Qualification", 1000.0, "2026-10-05"),
         ("2026-06-26", "o10", "a", "Negotiation", 6000.0, "2026-07-10")],
        columns=["as_of", "opp_id", "rep_id", "stage", "amount", "close_date"],
    )  # fmt: skip
    snaps["as_of"], snaps["close_date"] = D(snaps["as_of"]), D(snaps["close_date"])
    snaps["forecast_category"] = "commit"
    cfg = load_config(overrides={"as_of": "2026-06-30"})
    return Workbook(reps, opps, cfg, targets=targets, activities=acts, snapshots=snaps)


@pytest.fixture
def wb() -> Workbook:
    return make_wb()


def col(df: pd.DataFrame, name: str) -> list:
    return df[name].tolist()


def approx(values) -> object:
    return pytest.approx(values, nan_ok=True)


# ----------------------------------------------------------------------------- closed deals
def test_bookings_by_rep_region_and_quarter(wb):
    df = kpis.bookings(wb, by="rep")
    assert list(df.columns) == ["rep_id", "bookings", "won_deals"]
    # a: o01 1000 + o02 3000; b: o04 500; o10 closed after as-of is not booked.
    assert col(df, "rep_id") == ["a", "b", "c", "d"]
    assert col(df, "bookings") == [4000.0, 500.0, 0.0, 0.0]
    assert col(df, "won_deals") == [2, 1, 0, 0]
    assert col(kpis.bookings(wb, by="region"), "bookings") == [4500.0, 0.0]
    q = kpis.bookings(wb, by="rep", freq="Q")
    # Closed deals span Jan-Jun: two quarters x four reps, every cell present.
    assert col(q, "period") == ["FY2026-Q1", "FY2026-Q2"] * 4
    assert col(q, "bookings") == [1000.0, 3000.0, 0.0, 500.0, 0.0, 0.0, 0.0, 0.0]


def test_win_rate_by_count_and_value(wb):
    df = kpis.win_rate(wb, by="rep")
    # a: 2 won / (2 + 1 lost); by value 4000 / (4000 + 2000)
    # b: 1 / (1 + 2); by value 500 / (500 + 1500 + 500) = 0.2; c, d: nothing closed -> NaN
    assert col(df, "win_rate") == approx([2 / 3, 1 / 3, np.nan, np.nan])
    assert col(df, "win_rate_value") == approx([4000 / 6000, 0.2, np.nan, np.nan])
    team = kpis.win_rate(wb, by=None)
    assert list(team.columns)[:2] == ["won_deals", "lost_deals"]
    # 3 won of 6 closed; 4500 / (4500 + 4000)
    assert team["win_rate"].item() == pytest.approx(0.5)
    assert team["win_rate_value"].item() == pytest.approx(4500 / 8500)
    q2 = kpis.win_rate(wb, by="rep", period="FY2026-Q2")
    # Q2: a won o02, lost o03 -> 0.5 (value 3000/5000); b as all-time.
    assert col(q2, "win_rate") == approx([0.5, 1 / 3, np.nan, np.nan])
    assert col(q2, "win_rate_value") == approx([0.6, 0.2, np.nan, np.nan])


def test_avg_deal_size_and_sales_cycle(wb):
    assert col(kpis.avg_deal_size(wb), "avg_deal_size") == approx([2000.0, 500.0, np.nan, np.nan])
    # a: median(30, 60) = 45 days; b: 50; team: median(30, 60, 50) = 50
    assert col(kpis.sales_cycle(wb), "median_cycle_days") == approx([45.0, 50.0, np.nan, np.nan])
    assert kpis.sales_cycle(wb, by=None)["median_cycle_days"].item() == 50.0


def test_quota_attainment_rep_region_manager_team(wb):
    df = kpis.quota_attainment(wb, by="rep")
    # a: target 6 x 1000 + 2000 = 8000, 4000 / 8000; b: 3 x 800 + 1000 = 3400, 500 / 3400
    assert col(df, "target") == approx([8000.0, 3400.0, np.nan, np.nan])
    assert col(df, "attainment") == approx([0.5, 500 / 3400, np.nan, np.nan])
    reg = kpis.quota_attainment(wb, by="region")
    # East: the May region row (2000) replaces a's and b's May rows (1000 + 800):
    # 8000 + 3400 - 1800 + 2000 = 11600. West has no target.
    assert col(reg, "target") == approx([11600.0, np.nan])
    assert col(reg, "attainment") == approx([4500 / 11600, np.nan])
    assert kpis.quota_attainment(wb, by=None)["target"].item() == 11600.0
    # Managers and teams sum their reps' rows: M1 = 8000 + 3400.
    assert col(kpis.quota_attainment(wb, by="manager"), "target") == approx([11400.0, np.nan])
    team = kpis.quota_attainment(wb, by="team")
    # d has no team: it falls back to its region, West.
    assert col(team, "team") == ["E1", "W1", "West"]
    q2 = kpis.quota_attainment(wb, by="rep", period="FY2026-Q2")
    # a: 3000 / 3000; b: 500 / 2400
    assert col(q2, "attainment") == approx([1.0, 500 / 2400, np.nan, np.nan])


# ----------------------------------------------------------------------------- open pipeline
def test_pipeline_and_weighted_pipeline(wb):
    df = kpis.pipeline(wb, by="rep")
    # a: o07 4000 x 0.5 + o10 (snapshot: Negotiation, 6000) x 0.75 = 2000 + 4500
    # b: o09 1000 x 0.15; c: o08 2000 x 0.30; o11 is not created yet.
    assert col(df, "open_deals") == [2, 1, 1, 0]
    assert col(df, "pipeline") == [10000.0, 1000.0, 2000.0, 0.0]
    assert col(df, "weighted_pipeline") == approx([6500.0, 150.0, 600.0, 0.0])
    learned = kpis.weighted_pipeline(wb, probabilities={"Proposal": 0.6})
    # a: 4000 x 0.6 + 4500 = 6900
    assert col(learned, "weighted_pipeline") == approx([6900.0, 150.0, 600.0, 0.0])
    per_deal = pd.Series({"o07": 0.9}).rename_axis("opp_id")
    # a: 4000 x 0.9 + 4500 = 8100; deals not in the series keep the stage probability
    assert kpis.weighted_pipeline(wb, probabilities=per_deal)["weighted_pipeline"][0] == 8100.0
    q3 = kpis.pipeline(wb, by="rep", period="FY2026-Q3")
    # due Jul-Sep: a o07 (Jul 15) + o10 (Jul 10); b's o09 is due in October
    assert col(q3, "pipeline") == [10000.0, 0.0, 0.0, 0.0]
    with pytest.raises(ParameterError, match="0-1"):
        kpis.pipeline(wb, probabilities={"Demo": 30})


def test_coverage_including_target_met(wb):
    q3 = kpis.coverage(wb, by="rep", period="FY2026-Q3")
    # a: 10000 / (2000 - 0) = 5.0; b: 0 / (1000 - 0) = 0.0; c, d: no target -> NaN
    assert col(q3, "coverage") == approx([5.0, 0.0, np.nan, np.nan])
    assert col(q3, "remaining_target") == approx([2000.0, 1000.0, np.nan, np.nan])
    q2 = kpis.coverage(wb, by="rep", period="FY2026-Q2")
    # a: target 3000 already met by 3000 booked -> coverage NaN, target_met True
    # b: 2400 - 500 = 1900 to go, nothing due in Q2 -> 0.0
    assert col(q2, "target_met") == [True, False, False, False]
    assert col(q2, "coverage") == approx([np.nan, 0.0, np.nan, np.nan])
    assert col(q2, "remaining_target") == approx([0.0, 1900.0, np.nan, np.nan])


def test_velocity(wb):
    df = kpis.velocity(wb, by="rep")
    # a: 2 open x 2/3 x 2000 / 45 days; b: 1 x 1/3 x 500 / 50; c: no win rate -> NaN
    assert col(df, "velocity") == approx([2 * 2 / 3 * 2000 / 45, 1 / 3 * 500 / 50, np.nan, np.nan])


def test_concentration(wb):
    df = kpis.concentration(wb, by="rep")
    # a: largest o10 6000 of 10000; d: no pipeline -> NaN
    assert col(df, "top_deal_share") == approx([0.6, 1.0, 1.0, np.nan])
    assert col(df, "top3_share") == approx([1.0, 1.0, 1.0, np.nan])
    assert col(df, "largest_deal") == approx([6000.0, 1000.0, 2000.0, np.nan])
    team = kpis.concentration(wb, by=None)
    # 6000 / 13000; top 3 = 6000 + 4000 + 2000
    assert team["top_deal_share"].item() == pytest.approx(6000 / 13000)
    assert team["top3_share"].item() == pytest.approx(12000 / 13000)


# ----------------------------------------------------------------------------- funnel
def test_stage_conversion_team_and_rep(wb):
    team = kpis.stage_conversion(wb, by=None)
    # Furthest stage index (Prospecting 0 .. Negotiation 4, Won 5) of o01..o10:
    # won 5,5,5; lost o03 Demo 2, o05 Qual 1, o06 Prosp 0; open o07 3, o08 2,
    # o09 max(Qual 1, furthest Neg 4) = 4, o10 (snapshot Negotiation) 4.
    # Reached >=0: 10, >=1: 9, >=2: 8, >=3: 6, >=4: 5, >=5: 3.
    assert col(team, "stage") == ["Prospecting", "Qualification", "Demo", "Proposal", "Negotiation"]
    assert col(team, "next_stage")[-1] == "Closed Won"
    assert col(team, "reached") == [10, 9, 8, 6, 5]
    assert col(team, "advanced") == [9, 8, 6, 5, 3]
    assert col(team, "conversion") == approx([0.9, 8 / 9, 0.75, 5 / 6, 0.6])
    rep = kpis.stage_conversion(wb, by="rep")
    # a (o01 5, o02 5, o03 2, o07 3, o10 4): reached 5, 5, 5, 4, 3, won 2
    a = rep[rep["rep_id"] == "a"]
    assert col(a, "conversion") == approx([1.0, 1.0, 0.8, 0.75, 2 / 3])
    d = rep[rep["rep_id"] == "d"]
    assert col(d, "reached") == [0] * 5 and d["conversion"].isna().all()
    closed_only = kpis.stage_conversion(wb, by=None, include_open=False)
    # o01..o06 only: reached 6, 5, 4, 3, 3, won 3
    assert col(closed_only, "conversion") == approx([5 / 6, 0.8, 0.75, 1.0, 1.0])


def test_bottleneck(wb):
    df = kpis.bottleneck(wb, by="rep", min_deals=1)
    # relative to team [0.9, 8/9, 0.75, 5/6, 0.6]:
    # a [1, 1, .8, .75, 2/3] -> Proposal at 0.75 / (5/6) = 0.9
    # b [.75, 2/3, 1, 1, .5] -> Qualification at (2/3) / (8/9) = 0.75
    # c [1, 1, 0, -, -] -> Demo at 0; d has no deals -> NaN
    assert col(df, "rep_id") == ["a", "b", "c", "d"]
    assert col(df, "stage")[:3] == ["Proposal", "Qualification", "Demo"]
    assert pd.isna(df["stage"][3])
    assert col(df, "relative") == approx([0.9, 0.75, 0.0, np.nan])
    strict = kpis.bottleneck(wb, by="rep", min_deals=2)
    # c reached each stage with a single deal: not enough to name a bottleneck
    assert pd.isna(strict["stage"][2]) and strict["stage"][0] == "Proposal"
    # The whole team against itself: all ratios 1, so the lowest conversion wins (Negotiation 0.6)
    assert kpis.bottleneck(wb, by=None, min_deals=1)["stage"].item() == "Negotiation"


# ----------------------------------------------------------------------------- hygiene
def test_hygiene_per_deal(wb):
    h = kpis.hygiene(wb).set_index("opp_id")
    assert list(h.index) == ["o07", "o10", "o09", "o08"]  # by rep, then deal
    # ages at 2026-06-30: o07 60, o08 121, o09 29, o10 29 days
    assert h.loc[["o07", "o08", "o09", "o10"], "age_days"].tolist() == [60, 121, 29, 29]
    # o08: 90 days since 2026-04-01 > 30 -> stale; due 2026-06-15 -> 15 days past due;
    # old: 121 > 1.5 x median won cycle 50 = 75. o10's activity is after as-of -> unknown.
    assert h.loc["o08", ["stale", "past_due", "old"]].tolist() == [True, True, True]
    assert h.loc["o08", "days_past_due"] == 15
    assert np.isnan(h.loc["o10", "days_since_activity"]) and not h.loc["o10", "stale"]
    assert h.loc["o07", "days_since_activity"] == 5
    assert not h.loc[["o07", "o09", "o10"], ["stale", "past_due", "old"]].any().any()


def test_hygiene_summary(wb):
    s = kpis.hygiene_summary(wb, by="rep")
    assert col(s, "open_deals") == [2, 1, 1, 0]
    assert col(s, "stale_deals") == [0, 0, 1, 0]
    assert col(s, "past_due_amount") == [0.0, 0.0, 2000.0, 0.0]
    # a: median(60, 29) = 44.5
    assert col(s, "median_age_days") == approx([44.5, 29.0, 121.0, np.nan])


def test_slipped_between_snapshots(wb):
    s = kpis.slipped(wb, "2026-06-19", "2026-06-26")
    # o07 Jun 28 -> Jul 15 (Q2 -> Q3, 17 days); o10 Jun 30 -> Jul 10 (10 days);
    # o09 Sep 30 -> Oct 5 (Q3 -> Q4, 5 days); o08 did not move.
    assert col(s, "opp_id") == ["o07", "o10", "o09"]
    assert col(s, "days_pushed") == [17.0, 10.0, 5.0]
    assert col(s, "period_before") == ["FY2026-Q2", "FY2026-Q2", "FY2026-Q3"]
    # A date between snapshots picks the latest one before it.
    assert len(kpis.slipped(wb, "2026-06-22", "2026-06-30")) == 3
    # Within the fiscal year nothing left its period.
    assert kpis.slipped(wb, "2026-06-19", "2026-06-26", freq="Y").empty
    with pytest.raises(ParameterError, match="first is 2026-06-19"):
        kpis.slipped(wb, "2026-01-01", "2026-06-26")


# ----------------------------------------------------------------------------- growth, activity
def test_growth(wb):
    g = kpis.growth(wb, by=None, freq="Q")
    # Q1 1000 (no earlier data -> NaN), Q2 3500 -> 3500 / 1000 - 1
    assert col(g, "growth") == approx([np.nan, 2.5])
    one = kpis.growth(wb, by="rep", freq="Q", period="FY2026-Q2")
    # the window reaches back one quarter for the comparison: a 3000 / 1000 - 1; b from 0 -> NaN
    assert col(one, "period") == ["FY2026-Q2"] * 4
    assert col(one, "previous_bookings") == [1000.0, 0.0, 0.0, 0.0]
    assert col(one, "growth") == approx([2.0, np.nan, np.nan, np.nan])
    part = kpis.growth(wb, by=None, freq="Q", start="2026-05-01", end="2026-06-30")
    # May-June only: o04 500 (o02 closed Apr 2 is outside the window); previous = all of Q1
    assert col(part, "bookings") == [500.0] and col(part, "previous_bookings") == [1000.0]
    with pytest.raises(ParameterError):
        kpis.growth(wb, freq=None)


def test_activity_counts_and_conversion(wb):
    a = kpis.activity_counts(wb, by="rep")
    # a's 99 calls on 2026-07-02 are after as-of
    assert list(a.columns) == [
        "rep_id", "calls", "emails", "meetings", "demos", "linkedin", "activities"
    ]  # fmt: skip
    assert col(a, "activities") == [30, 12, 2, 0]
    assert col(a, "calls") == [20, 5, 0, 0] and col(a, "linkedin") == [0, 4, 0, 0]
    c = kpis.activity_conversion(wb, by="rep", freq="Q")
    # created per quarter: a Q1 3 (o01-o03), Q2 2 (o07, o10); b Q2 4; c Q1 1 (o08)
    # activities all in Q2: a 30, b 12, c 2
    assert col(c, "created_deals") == [3, 2, 0, 4, 1, 0, 0, 0]
    assert col(c, "opportunities_per_activity") == approx(
        [np.nan, 2 / 30, np.nan, 4 / 12, np.nan, 0.0, np.nan, np.nan]
    )


def test_new_vs_existing(wb):
    df = kpis.new_vs_existing(wb, by="rep")
    # X first won on o01 (a, 1000), again on o02 (3000); Z first won on o04 (b, 500)
    assert col(df, "new_accounts") == [1, 1, 0, 0]
    assert col(df, "new_account_bookings") == [1000.0, 500.0, 0.0, 0.0]
    assert col(df, "existing_account_bookings") == [3000.0, 0.0, 0.0, 0.0]
    q2 = kpis.new_vs_existing(wb, by="rep", period="FY2026-Q2")
    # X was won before Q2: o02 is existing business even though Q2 sees no earlier deal
    assert col(q2, "new_accounts") == [0, 1, 0, 0]


# ----------------------------------------------------------------------------- peers, scorecard
def test_percentile_rank():
    df = pd.DataFrame({"region": ["E"] * 4 + ["W"], "v": [1.0, 2.0, 2.0, 4.0, 9.0]})
    # E ranks 1, 2.5, 2.5, 4 of 4 -> (r - 1) / 3 x 100; W alone -> 50
    assert kpis.percentile_rank(df, "v").tolist() == approx([0.0, 50.0, 50.0, 100.0, 50.0])
    assert kpis.percentile_rank(df, "v", higher_is_better=False).tolist() == approx(
        [100.0, 50.0, 50.0, 0.0, 50.0]
    )
    assert kpis.percentile_rank(df, "v", within=None).tolist() == approx(
        [0.0, 37.5, 37.5, 75.0, 100.0]
    )


def test_percentile_rank_looks_up_region_and_ranks_within_period(wb):
    wr = kpis.win_rate(wb, by="rep")
    pct = kpis.percentile_rank(wr, "win_rate", within="region", reps=wb)
    # East: a 2/3 beats b 1/3; West: no closed deals -> NaN
    assert pct.tolist() == approx([100.0, 0.0, np.nan, np.nan])
    with pytest.raises(ParameterError, match="reps=wb"):
        kpis.percentile_rank(wr, "win_rate", within="region")
    q = kpis.bookings(wb, by="rep", freq="Q")
    pq = kpis.percentile_rank(q, "bookings", within=None)
    # Q1: a 1000 vs three zeros (ranks 4; 2, 2, 2) -> 100, 33.3...
    assert pq[q["period"] == "FY2026-Q1"].tolist() == approx([100.0, 100 / 3, 100 / 3, 100 / 3])


def test_scorecard(wb):
    sc = kpis.scorecard(wb, by="rep")  # default period: quarter holding as-of = FY2026-Q2
    assert list(sc.columns[:3]) == ["rep_id", "name", "period"]
    assert col(sc, "name")[1] == "Zoë O'Brien" and set(sc["period"]) == {"FY2026-Q2"}
    assert col(sc, "attainment") == approx([1.0, 500 / 2400, np.nan, np.nan])
    assert col(sc, "win_rate") == approx([0.5, 1 / 3, np.nan, np.nan])
    assert col(sc, "avg_deal_size") == approx([3000.0, 500.0, np.nan, np.nan])
    # only c's o08 is due in Q2
    assert col(sc, "pipeline") == [0.0, 0.0, 2000.0, 0.0]
    assert col(sc, "coverage") == approx([np.nan, 0.0, np.nan, np.nan])
    # a: 0 open deals due -> velocity 0 / 60 days
    assert col(sc, "velocity") == approx([0.0, 0.0, np.nan, np.nan])
    assert col(sc, "growth") == approx([2.0, np.nan, np.nan, np.nan])
    assert col(sc, "stale_deals") == [0, 0, 1, 0]
    pd.testing.assert_frame_equal(sc, kpis.scorecard(wb, by="rep", period="FY2026-Q2"))
    team = kpis.scorecard(wb, by=None, period="2026-05")
    # May: b won o04 500; May target = region row 2000 (replaces a's and b's May rows)
    assert team["bookings"].item() == 500.0 and team["target"].item() == 2000.0


# ----------------------------------------------------------------------------- as-of, edge cases
def test_as_of_hides_the_future(wb):
    kw = {"by": None, "as_of": "2026-04-30"}
    # won by Apr 30: o01 + o02; o04 (won May 21) was still open then
    assert kpis.bookings(wb, **kw)["bookings"].item() == 4000.0
    assert kpis.win_rate(wb, **kw)["win_rate"].item() == pytest.approx(2 / 3)
    p = kpis.pipeline(wb, **kw)
    # open then: o04 (won later, no snapshot -> last open stage Negotiation 0.75),
    # o05 (lost later at Qualification 0.15), o08 (Demo 0.30); o06, o07, o09, o10 not created
    assert p["open_deals"].item() == 3 and p["pipeline"].item() == 4000.0
    assert p["weighted_pipeline"].item() == pytest.approx(500 * 0.75 + 1500 * 0.15 + 2000 * 0.3)


def test_a_past_date_reads_its_open_deals_from_the_latest_snapshot(wb):
    """Between snapshots, a still-open deal stands as the nearer snapshot saw it; a deal closed
    since and created after that snapshot stood at the first open stage, uncalled."""
    young = {"opp_id": "o12", "rep_id": "a", "account": "Q", "stage": "Closed Won",
             "amount": 900.0, "created_date": D("2026-06-20"), "close_date": D("2026-07-25"),
             "outcome": "won", "furthest_stage": "Negotiation", "product": "P",
             "forecast_category": "omitted", "source": "inbound"}  # fmt: skip
    wb.opportunities = pd.concat([wb.opportunities, pd.DataFrame([young])], ignore_index=True)
    # 2026-06-22: the 2026-06-19 snapshot (3 days before) is nearer than the record (8 after)
    d = kpis.deals_as_of(wb, "2026-06-22").set_index("opp_id")
    assert d.loc["o07", "close_date"] == D("2026-06-28")  # the record says 2026-07-15
    assert d.loc["o07", "forecast_category"] == "commit"  # the record says "pipeline"
    assert d.loc["o10", ["stage", "amount"]].tolist() == ["Negotiation", 7000.0]
    assert d.loc["o12", ["stage", "outcome"]].tolist() == ["Prospecting", "open"]
    assert pd.isna(d.loc["o12", "forecast_category"])
    # 2026-06-27: o12 was created before the 2026-06-26 snapshot and is not in it: furthest stage
    assert kpis.deals_as_of(wb, "2026-06-27").set_index("opp_id").loc["o12", "stage"] == (
        "Negotiation"
    )
    # the data's own date: the records as they are
    d = kpis.deals_as_of(wb, "2026-06-30").set_index("opp_id")
    assert d.loc["o07", "close_date"] == D("2026-07-15")


def test_period_with_no_data_and_by_none(wb):
    df = kpis.bookings(wb, by="rep", period="FY2025-Q1", freq="M")
    assert len(df) == 12 and (df["bookings"] == 0).all()
    assert col(df, "period")[:3] == ["2025-01", "2025-02", "2025-03"]
    assert kpis.win_rate(wb, by=None, period="FY2025-Q1")["win_rate"].isna().all()
    combo = kpis.bookings(wb, by=["region", "manager"])
    assert list(combo.columns[:2]) == ["region", "manager"] and len(combo) == 2


def test_empty_workbook():
    empty = Workbook(
        empty_table("reps"), empty_table("opportunities"),
        load_config(overrides={"as_of": "2026-06-30"}),
    )  # fmt: skip
    assert kpis.bookings(empty, by="rep").empty
    assert list(kpis.bookings(empty, by="rep").columns) == ["rep_id", "bookings", "won_deals"]
    team = kpis.win_rate(empty, by=None)
    assert team["won_deals"].item() == 0 and np.isnan(team["win_rate"].item())
    assert kpis.kpi_table(empty, by="rep", freq="M").empty
    assert kpis.scorecard(empty, by=None)["bookings"].item() == 0.0
    assert kpis.hygiene(empty).empty
    assert kpis.stage_conversion(empty, by=None)["reached"].sum() == 0


def test_deals_of_reps_missing_from_reps_table_still_count(wb):
    wb.opportunities.loc[0, "rep_id"] = "ghost"
    df = kpis.bookings(wb, by="rep")
    assert col(df, "rep_id") == ["a", "b", "c", "d", "ghost"]
    assert kpis.bookings(wb, by=None)["bookings"].item() == 4500.0
    assert kpis.bookings(wb, by="region")["bookings"].sum() == 4500.0


def test_kpi_table_matches_the_single_kpis(wb):
    t = kpis.kpi_table(wb, by="rep", freq="Q")
    b = kpis.bookings(wb, by="rep", freq="Q")
    merged = t.merge(b, on=["rep_id", "period"], suffixes=("", "_b"))
    assert len(merged) == len(b) and (merged["bookings"] == merged["bookings_b"]).all()
    # created per quarter: a Q1 3, Q2 2; c Q1 1; open pipeline by due quarter: a Q3 10000
    row = t[(t["rep_id"] == "a") & (t["period"] == "FY2026-Q3")]
    assert row["pipeline"].item() == 10000.0 and row["created_deals"].item() == 0
    assert t["created_deals"].sum() == 10


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"by": "country"}, ParameterError, "not a grouping"),
        ({"freq": "W"}, ParameterError, "not a period"),
        ({"period": "2026-13"}, ConfigError, "not understood"),
        ({"period": "FY2026-Q1", "start": "2026-01-01"}, ParameterError, "either period"),
        ({"start": "2026-05-01", "end": "2026-04-01"}, ParameterError, "swap"),
        ({"as_of": "yesterday-ish"}, ParameterError, "not a date"),
    ],
)
def test_bad_parameters_raise_salesnb_errors(wb, kwargs, error, match):
    with pytest.raises(error, match=match):
        kpis.win_rate(wb, **kwargs)


def test_not_a_workbook():
    with pytest.raises(ParameterError, match="salesnb.load"):
        kpis.bookings(pd.DataFrame())


# ----------------------------------------------------------------------------- docs
def _definition(func) -> str:
    """The docstring paragraph that starts with 'Definition:', whitespace normalised."""
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", func.__doc__)]
    found = [p for p in paragraphs if p.startswith("Definition: ")]
    assert len(found) == 1, f"{func.__name__} needs exactly one 'Definition:' paragraph"
    return found[0]


DEFINED = [
    kpis.bookings, kpis.win_rate, kpis.avg_deal_size, kpis.sales_cycle, kpis.quota_attainment,
    kpis.pipeline, kpis.coverage, kpis.velocity, kpis.concentration, kpis.stage_conversion,
    kpis.bottleneck, kpis.hygiene, kpis.slipped, kpis.growth, kpis.activity_counts,
    kpis.activity_conversion, kpis.new_vs_existing, kpis.percentile_rank,
]  # fmt: skip


@pytest.mark.parametrize("func", DEFINED, ids=lambda f: f.__name__)
def test_docs_state_the_same_definition(func):
    docs = " ".join((ROOT / "docs" / "kpis.md").read_text("utf-8").split())
    assert _definition(func) in docs


def test_docstring_examples_run():
    from salesnb.analytics import (
        kpiactivity,
        kpibase,
        kpiclosed,
        kpifunnel,
        kpipipeline,
        kpiscorecard,
    )

    attempted = 0
    for module in (kpis, kpibase, kpiclosed, kpipipeline, kpifunnel, kpiactivity, kpiscorecard):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, module.__name__
        attempted += result.attempted
    assert attempted >= 20


# ----------------------------------------------------------------------------- public data set
def _public_workbook(folder: Path) -> tuple[Workbook, pd.DataFrame]:
    raw = pd.read_csv(folder / "sales_pipeline.csv", dtype={"close_value": "float64"})
    teams = pd.read_csv(folder / "sales_teams.csv")
    stage = raw["deal_stage"]
    outcome = stage.map({"Won": "won", "Lost": "lost"}).fillna("open")
    engaged = D(raw["engage_date"])
    opps = pd.DataFrame(
        {"opp_id": raw["opportunity_id"], "rep_id": raw["sales_agent"], "account": raw["account"],
         "product": raw["product"], "stage": stage, "amount": raw["close_value"].fillna(0.0),
         "created_date": engaged, "close_date": D(raw["close_date"]), "outcome": outcome,
         "forecast_category": None, "source": None,
         # a deal with an engage date was engaged: lost deals reached Engaging
         "furthest_stage": np.where(engaged.notna() & (stage != "Won"), "Engaging", "Prospecting"),
         "last_activity_date": D(raw["close_date"]).fillna(engaged)}
    )  # fmt: skip
    reps = pd.DataFrame(
        {"rep_id": teams["sales_agent"], "name": teams["sales_agent"],
         "manager": teams["manager"], "region": teams["regional_office"],
         "team": teams["regional_office"], "start_date": pd.NaT}
    )  # fmt: skip
    stages = [
        {"name": "Prospecting", "kind": "open", "probability": 0.1},
        {"name": "Engaging", "kind": "open", "probability": 0.4},
        {"name": "Won", "kind": "won", "probability": 1.0},
        {"name": "Lost", "kind": "lost", "probability": 0.0},
    ]
    cfg = load_config(overrides={"stages": stages, "as_of": "2017-12-31"})
    return Workbook(reps, opps, cfg, source=str(folder)), raw


@pytest.mark.shared
def test_kpis_on_the_public_data_set():
    folder = SHARED / "data" / "crm_sales_opportunities"
    if not (folder / "sales_pipeline.csv").is_file():
        pytest.skip(f"public data set not found at {folder} (../shared is absent)")
    wb, raw = _public_workbook(folder)
    won, lost = raw[raw["deal_stage"] == "Won"], raw[raw["deal_stage"] == "Lost"]
    total = kpis.bookings(wb, by=None)
    assert total["bookings"].item() == pytest.approx(won["close_value"].sum())
    assert total["won_deals"].item() == len(won)
    team = kpis.win_rate(wb, by=None)
    assert team["win_rate"].item() == pytest.approx(len(won) / (len(won) + len(lost)))
    by_rep = kpis.win_rate(wb, by="rep")
    assert len(by_rep) == 35  # every agent, including the 5 without deals (NaN)
    assert by_rep["win_rate"].isna().sum() == 5
    agents = raw.groupby("sales_agent")["deal_stage"]
    expected = agents.apply(lambda s: (s == "Won").sum() / s.isin(["Won", "Lost"]).sum())
    got = by_rep.set_index("rep_id")["win_rate"].dropna()
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    by_region = kpis.bookings(wb, by="region")
    assert by_region["bookings"].sum() == pytest.approx(won["close_value"].sum())
    monthly = kpis.bookings(wb, by=None, freq="M")
    assert col(monthly, "period")[0] == "2017-03" and col(monthly, "period")[-1] == "2017-12"
    pandas_monthly = won.groupby(won["close_date"].str[:7])["close_value"].sum()
    assert col(monthly, "bookings") == approx(pandas_monthly.tolist())
    cycle = (D(won["close_date"]) - D(won["engage_date"])).dt.days.median()
    assert kpis.sales_cycle(wb, by=None)["median_cycle_days"].item() == cycle
    conv = kpis.stage_conversion(wb, by=None)
    n, prospecting = len(raw), (raw["deal_stage"] == "Prospecting").sum()
    engaging = (raw["deal_stage"] == "Engaging").sum()
    # Every deal reached Prospecting; all but the open Prospecting ones reached Engaging;
    # of those, the won ones reached Won.
    assert col(conv, "reached") == [n, n - prospecting]
    assert col(conv, "conversion") == approx(
        [(n - prospecting) / n, len(won) / (len(won) + len(lost) + engaging)]
    )
    pipe = kpis.pipeline(wb, by=None)
    assert pipe["open_deals"].item() == prospecting + engaging


@pytest.mark.shared
def test_public_data_set_through_the_loader_agrees():
    folder = SHARED / "data" / "crm_sales_opportunities"
    if not (folder / "sales_pipeline.csv").is_file():
        pytest.skip(f"public data set not found at {folder} (../shared is absent)")
    io = pytest.importorskip(
        "salesnb.data.io", reason="salesnb.data.io (the loader) is not written yet"
    )
    if not hasattr(io, "load"):
        pytest.skip("salesnb.data.io.load is not written yet")
    wb = io.load(folder, profile="crm_sales_opportunities")
    raw = pd.read_csv(folder / "sales_pipeline.csv")
    won, lost = raw[raw["deal_stage"] == "Won"], raw[raw["deal_stage"] == "Lost"]
    total = kpis.win_rate(wb, by=None)
    assert total["bookings"].item() == pytest.approx(won["close_value"].sum())
    assert (total["won_deals"].item(), total["lost_deals"].item()) == (len(won), len(lost))

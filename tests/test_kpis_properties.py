"""Invariants of the KPI engine on random small workbooks (hypothesis).

- rates and shares lie in [0, 1]; percentiles in [0, 100]; coverage >= 0;
- sums (bookings, pipeline, weighted pipeline, deal, activity and target counts) grouped by rep add
  up to the ungrouped total and to the region-grouped total, per period too.
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesnb.analytics import kpis
from salesnb.data.config import load_config
from salesnb.data.model import Workbook

CFG = load_config(overrides={"as_of": "2026-06-30"})
STAGES = CFG.stages.names  # 5 open stages, Closed Won, Closed Lost
OPEN = CFG.stages.open_names
BASE = pd.Timestamp("2025-07-01")
SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

deal = st.tuples(
    st.integers(0, 5),  # rep (reps 4 and 5 are not always in the reps table)
    st.sampled_from(["open", "won", "lost"]),
    st.floats(0, 1e6, allow_nan=False).map(lambda x: round(x, 2)),
    st.integers(0, 420),  # created, days after BASE (as-of is day 364)
    st.integers(0, 200),  # days to close
    st.integers(0, len(OPEN) - 1),  # open stage / furthest stage
)


@st.composite
def workbooks(draw) -> Workbook:
    n_reps = draw(st.integers(1, 5))
    regions = draw(st.lists(st.sampled_from(["East", "West", "North"]), min_size=n_reps,
                            max_size=n_reps))  # fmt: skip
    reps = pd.DataFrame(
        {"rep_id": [f"r{i}" for i in range(n_reps)], "name": [f"Rep {i}" for i in range(n_reps)],
         "manager": [f"M{i % 2}" for i in range(n_reps)], "region": regions,
         "team": [None if i % 3 == 0 else f"T{i % 2}" for i in range(n_reps)],
         "start_date": pd.Timestamp("2024-01-01")}
    )  # fmt: skip
    rows = draw(st.lists(deal, max_size=30))
    rep, outcome, amount, created, cycle, stage = (list(x) for x in zip(*rows)) if rows else (
        [], [], [], [], [], []
    )  # fmt: skip
    created_d = BASE + pd.to_timedelta(created, unit="D")
    close_d = created_d + pd.to_timedelta(cycle, unit="D")
    stage_names = [
        OPEN[s] if o == "open" else CFG.stages.won_name if o == "won" else CFG.stages.lost_name
        for o, s in zip(outcome, stage)
    ]
    opps = pd.DataFrame(
        {"opp_id": [f"o{i}" for i in range(len(rows))], "rep_id": [f"r{r}" for r in rep],
         "account": [f"A{a % 4}" for a in created], "product": "P", "stage": stage_names,
         "amount": pd.Series(amount, dtype="float64"), "created_date": created_d,
         "close_date": close_d, "outcome": outcome, "forecast_category": "pipeline",
         "source": "inbound", "furthest_stage": [OPEN[s] for s in stage],
         "last_activity_date": created_d}
    )  # fmt: skip
    months = draw(st.lists(st.tuples(st.integers(0, n_reps + 1), st.integers(0, 14),
                                     st.floats(0, 1e5, allow_nan=False)), max_size=12))  # fmt: skip
    targets = pd.DataFrame(
        {"rep_id": [f"r{r}" for r, _, _ in months], "region": None,
         "month": [BASE + pd.DateOffset(months=m) for _, m, _ in months],
         "amount": pd.Series([a for _, _, a in months], dtype="float64")}
    )  # fmt: skip
    acts = draw(st.lists(st.tuples(st.integers(0, n_reps + 1), st.integers(0, 400),
                                   st.sampled_from(["call", "email", "meeting", "demo"]),
                                   st.integers(0, 50)), max_size=12))  # fmt: skip
    activities = pd.DataFrame(
        {"rep_id": [f"r{r}" for r, _, _, _ in acts],
         "date": BASE + pd.to_timedelta([d for _, d, _, _ in acts], unit="D"),
         "type": [t for _, _, t, _ in acts], "count": pd.Series([c for *_, c in acts], dtype="int64")}
    )  # fmt: skip
    return Workbook(reps, opps, CFG, targets=targets, activities=activities)


def in_unit_interval(s: pd.Series) -> bool:
    v = s.dropna()
    return bool(((v >= 0) & (v <= 1 + 1e-12)).all())


@SETTINGS
@given(workbooks(), st.sampled_from([None, "M", "Q"]))
def test_rates_and_shares_are_within_0_and_1(wb, freq):
    t = kpis.kpi_table(wb, by="rep", freq=freq)
    assert in_unit_interval(t["win_rate"]) and in_unit_interval(t["win_rate_value"])
    c = kpis.concentration(wb, by="region", freq=freq)
    assert in_unit_interval(c["top_deal_share"]) and in_unit_interval(c["top3_share"])
    assert (c["top3_share"].fillna(1) >= c["top_deal_share"].fillna(0) - 1e-12).all()
    conv = kpis.stage_conversion(wb, by="rep", freq=freq)
    assert in_unit_interval(conv["conversion"]) and (conv["advanced"] <= conv["reached"]).all()
    assert in_unit_interval(kpis.activity_conversion(wb, by="rep")["opportunities_per_activity"])


def _sums_agree(frames: dict, cols: list[str], freq) -> None:
    keys = ["period"] if freq else []
    total = frames[None]
    for by in ("rep", "region", "manager", "team"):
        grouped = frames[by]
        if keys:
            summed = grouped.groupby(keys, sort=True)[cols].sum(min_count=1).reset_index()
            expect = total.sort_values(keys).reset_index(drop=True)[keys + cols]
            pd.testing.assert_frame_equal(summed, expect, check_dtype=False, rtol=1e-9)
        else:
            for c in cols:
                assert grouped[c].sum(min_count=1) == pytest.approx(total[c].item(), nan_ok=True)


@SETTINGS
@given(workbooks(), st.sampled_from([None, "M", "Q", "Y"]))
def test_grouped_sums_equal_the_team_total(wb, freq):
    groups = (None, "rep", "region", "manager", "team")
    cols = ["bookings", "won_deals", "lost_deals", "pipeline", "weighted_pipeline", "open_deals",
            "created_deals"]  # fmt: skip
    _sums_agree({by: kpis.kpi_table(wb, by=by, freq=freq) for by in groups}, cols, freq)
    _sums_agree({by: kpis.activity_counts(wb, by=by, freq=freq) for by in groups},
                ["calls", "emails", "meetings", "demos", "activities"], freq)  # fmt: skip
    _sums_agree({by: kpis.quota_attainment(wb, by=by, freq=freq) for by in groups}, ["target"],
                freq)  # fmt: skip
    # the total itself: bookings = won amounts closed by as-of (independent pandas arithmetic)
    o = wb.opportunities
    won = o[(o["outcome"] == "won") & (o["close_date"] <= wb.as_of)]
    assert kpis.bookings(wb, by=None)["bookings"].item() == pytest.approx(won["amount"].sum())


@SETTINGS
@given(workbooks())
def test_percentiles_within_0_and_100(wb):
    t = kpis.kpi_table(wb, by="rep", freq="Q")
    for col in ("bookings", "win_rate", "median_cycle_days"):
        for within in (None, "region", "team"):
            p = kpis.percentile_rank(t, col, within=within, reps=wb)
            v = p.dropna()
            assert ((v >= 0) & (v <= 100)).all()
            assert p.isna().equals(t[col].isna())


@SETTINGS
@given(workbooks(), st.sampled_from([None, "M", "Q"]))
def test_coverage_is_never_negative(wb, freq):
    c = kpis.coverage(wb, by="rep", freq=freq)
    assert (c["coverage"].dropna() >= 0).all()
    assert (c["remaining_target"].dropna() >= 0).all()
    # target met <=> nothing remains; coverage is then undefined
    assert c.loc[c["target_met"], "coverage"].isna().all()


@SETTINGS
@given(workbooks())
def test_every_rep_appears_once_per_period(wb):
    t = kpis.kpi_table(wb, by="rep", freq="M")
    if not (wb.opportunities["created_date"] <= wb.as_of).any():
        # no deal exists yet at as-of and no window is given: there is no period to show
        assert t.empty
        return
    assert set(wb.reps["rep_id"]) <= set(t["rep_id"])
    assert not t.duplicated(["rep_id", "period"]).any()
    # every rep has the same run of months, with no gap from the first to the last
    months = sorted(set(t["period"]))
    expected = pd.period_range(months[0], months[-1], freq="M").strftime("%Y-%m").tolist()
    assert months == expected
    assert (t.groupby("rep_id")["period"].count() == len(months)).all()

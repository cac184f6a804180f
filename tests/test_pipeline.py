"""Pipeline change analysis on a hand-made snapshot history (amounts checked by hand)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from salesnb.analytics import pipeline
from salesnb.core.errors import ConfigError, NotEnoughDataError, ParameterError
from salesnb.data.config import load_config
from salesnb.data.model import Workbook

T = pd.Timestamp
S0, S1, S2 = "2026-07-06", "2026-07-13", "2026-07-20"

# opp_id, rep, stage, amount, created, close, outcome, last activity (state on 2026-07-20)
OPPS = [
    ("d1", "A", "Demo", 1200, "2026-06-01", "2026-08-29", "open", "2026-07-18"),
    ("d2", "A", "Proposal", 400, "2026-06-01", "2026-08-20", "open", "2026-07-18"),
    ("d3", "A", "Negotiation", 700, "2026-05-01", "2026-11-15", "open", "2026-07-18"),
    ("d4", "A", "Proposal", 350, "2026-06-10", "2026-09-01", "open", "2026-07-18"),
    ("d5", "A", "Closed Won", 950, "2026-05-01", "2026-07-10", "won", "2026-07-10"),
    ("d6", "A", "Closed Lost", 400, "2026-05-01", "2026-07-08", "lost", "2026-07-08"),
    ("d7", "A", "Qualification", 250, "2026-06-01", "2026-07-10", "open", "2026-07-15"),
    ("d8", "A", "Prospecting", 600, "2026-07-08", "2026-08-30", "open", "2026-07-18"),
    ("d9", "A", "Closed Won", 150, "2026-07-07", "2026-07-10", "won", "2026-07-10"),
    ("d10", "A", "Demo", 800, "2026-04-01", "2026-12-01", "open", "2026-05-01"),
    ("d11", "B", "Proposal", 100, "2026-06-01", "2026-09-15", "open", "2026-07-18"),
]
# as_of, opp_id, stage, amount, close_date
SNAPS = [
    (S0, "d1", "Demo", 1000, "2026-08-15"), (S0, "d2", "Proposal", 500, "2026-08-20"),
    (S0, "d3", "Negotiation", 700, "2026-09-20"), (S0, "d4", "Qualification", 300, "2026-10-10"),
    (S0, "d5", "Negotiation", 900, "2026-07-10"), (S0, "d6", "Demo", 400, "2026-07-25"),
    (S0, "d7", "Qualification", 250, "2026-07-10"), (S0, "d10", "Demo", 800, "2026-12-01"),
    (S0, "d11", "Proposal", 100, "2026-09-15"),
    (S1, "d1", "Demo", 1200, "2026-08-15"), (S1, "d2", "Proposal", 400, "2026-08-20"),
    (S1, "d3", "Negotiation", 700, "2026-10-15"), (S1, "d4", "Proposal", 350, "2026-09-01"),
    (S1, "d5", "Closed Won", 950, "2026-07-10"), (S1, "d8", "Prospecting", 600, "2026-08-30"),
    (S1, "d10", "Demo", 800, "2026-12-01"), (S1, "d11", "Proposal", 100, "2026-09-15"),
    (S2, "d1", "Demo", 1200, "2026-08-29"), (S2, "d2", "Proposal", 400, "2026-08-20"),
    (S2, "d3", "Negotiation", 700, "2026-11-15"), (S2, "d4", "Proposal", 350, "2026-09-01"),
    (S2, "d8", "Prospecting", 600, "2026-08-30"), (S2, "d10", "Demo", 800, "2026-12-01"),
    (S2, "d11", "Proposal", 100, "2026-09-15"),
]  # fmt: skip


def make_wb(snaps=SNAPS, opps=OPPS, as_of=S2) -> Workbook:
    o = pd.DataFrame(opps, columns=["opp_id", "rep_id", "stage", "amount", "created_date",
                                     "close_date", "outcome", "last_activity_date"])  # fmt: skip
    for c in ("created_date", "close_date", "last_activity_date"):
        o[c] = pd.to_datetime(o[c])
    o["amount"] = o["amount"].astype(float)
    o["account"] = "Acct-" + o["opp_id"]
    s = pd.DataFrame(snaps, columns=["as_of", "opp_id", "stage", "amount", "close_date"])
    s["as_of"], s["close_date"] = pd.to_datetime(s["as_of"]), pd.to_datetime(s["close_date"])
    s["amount"] = s["amount"].astype(float)
    s["rep_id"] = s["opp_id"].map(o.set_index("opp_id")["rep_id"])
    reps = pd.DataFrame({"rep_id": ["A", "B"], "name": ["Ann", "Bob"], "manager": ["M", "M"],
                         "region": ["East", "East"]})  # fmt: skip
    cfg = load_config(overrides={"as_of": as_of})
    return Workbook(reps=reps, opportunities=o, config=cfg, snapshots=s)


@pytest.fixture
def wb() -> Workbook:
    return make_wb()


def test_snapshot_dates_and_pipeline_at(wb):
    assert pipeline.snapshot_dates(wb) == [T(S0), T(S1), T(S2)]
    # 2026-07-15 falls between snapshots: the one of 07-13 is used; d5 is Closed Won there.
    p = pipeline.pipeline_at(wb, "2026-07-15")
    assert set(p["as_of"]) == {T(S1)}
    assert sorted(p["opp_id"]) == sorted(["d1", "d2", "d3", "d4", "d8", "d10", "d11"])
    # open pipeline on 07-13: 1200+400+700+350+600+800+100 = 4150
    assert p["amount"].sum() == 4150
    assert len(pipeline.pipeline_at(wb, S1, open_only=False)) == 8
    assert pipeline.pipeline_at(wb, S1, rep_ids=["B"])["opp_id"].tolist() == ["d11"]


def test_pipeline_at_before_first_snapshot_names_the_first(wb):
    with pytest.raises(NotEnoughDataError, match="2026-07-06"):
        pipeline.pipeline_at(wb, "2026-07-01")
    with pytest.raises(ParameterError, match="not a date"):
        pipeline.pipeline_at(wb, "someday")


def test_waterfall_in_quarter_window(wb):
    w = pipeline.waterfall(wb, S0, S1, period="FY2026-Q3")
    # start: d1 1000 + d2 500 + d3 700 + d5 900 + d6 400 + d7 250 + d11 100 = 3850
    # end:   d1 1200 + d2 400 + d4 350 + d8 600 + d11 100 = 2650
    # new: d8 600 + d9 150 (created and won in between) = 750; pulled in: d4 at 350;
    # pushed out: d3 700; won: d5 at its booked 950 + d9 150 = 1100; lost: d6 400;
    # removed: d7 250 (gone from the snapshot, still open); value up: d1 +200, d5 +50;
    # value down: d2 -100.  3850+750+350-700-1100-400-250+250-100 = 2650
    expected = {
        "start": 3850,
        "new": 750,
        "pulled_in": 350,
        "pushed_out": 700,
        "won": 1100,
        "lost": 400,
        "removed": 250,
        "value_up": 250,
        "value_down": 100,
        "end": 2650,
    }
    assert w.as_dict() == expected
    assert w.check()
    assert w.window == (T("2026-07-01"), T("2026-09-30"))
    cats = w.deals.groupby("category")["opp_id"].apply(sorted).to_dict()
    assert cats == {"new": ["d8", "d9"], "pulled_in": ["d4"], "pushed_out": ["d3"],
                    "won": ["d5", "d9"], "lost": ["d6"], "removed": ["d7"],
                    "value_up": ["d1", "d5"], "value_down": ["d2"]}  # fmt: skip
    d3 = w.deals.set_index("category").loc["pushed_out"]
    assert (d3["close_start"], d3["close_end"], d3["direction"]) == (
        T("2026-09-20"),
        T("2026-10-15"),
        "later",
    )
    d4 = w.deals.set_index("category").loc["pulled_in"]
    assert (d4["stage_start"], d4["stage_end"], d4["direction"]) == (
        "Qualification",
        "Proposal",
        "earlier",
    )
    won5 = w.deals[(w.deals["opp_id"] == "d5") & (w.deals["category"] == "won")].iloc[0]
    assert (won5["amount"], won5["effect"], won5["amount_start"]) == (950, -950, 900)
    assert w.bars.set_index("category").loc["won", "deals"] == 2
    assert w["pushed_out"] == 700


def test_waterfall_all_open_and_rep_filter(wb):
    w = pipeline.waterfall(wb, S0, "2026-07-14")  # the end resolves to 07-13
    assert w.end_date == T(S1)
    # start adds d4 300 and d10 800: 4950; end adds d3 700 and d10 800: 4150;
    # nothing moves across a window; d4's 300 -> 350 becomes value up: 200+50+50 = 300.
    # 4950 + 750 - 1100 - 400 - 250 + 300 - 100 = 4150
    assert w.as_dict() == {"start": 4950, "new": 750, "pulled_in": 0, "pushed_out": 0,
                           "won": 1100, "lost": 400, "removed": 250, "value_up": 300,
                           "value_down": 100, "end": 4150}  # fmt: skip
    b = pipeline.waterfall(wb, S0, S1, rep_ids=["B"])
    assert (b["start"], b["end"], len(b.deals)) == (100, 100, 0)


def test_waterfall_parameters(wb):
    with pytest.raises(ParameterError, match="before start"):
        pipeline.waterfall(wb, S1, S0)
    with pytest.raises(ParameterError, match="period"):
        pipeline.waterfall(wb, S0, S1, period=("x", "y"))
    same = pipeline.waterfall(wb, S1, "2026-07-15")
    assert same.notes and same["start"] == same["end"] == 4150
    empty = make_wb(snaps=[])
    with pytest.raises(NotEnoughDataError, match="no pipeline snapshots"):
        pipeline.waterfall(empty, S0, S1)


def test_push_counts(wb):
    pc = pipeline.push_counts(wb).set_index("opp_id")
    # d3: 09-20 -> 10-15 (+25 days) -> 11-15 (+31 days): 2 pushes, 56 days
    assert (pc.loc["d3", "pushes"], pc.loc["d3", "days_pushed"]) == (2, 56)
    assert pc.loc["d3", "last_push"] == T(S2)
    # d1: 08-15, 08-15, 08-29: one push of 14 days; d4: 10-10 -> 09-01 is a pull
    assert (pc.loc["d1", "pushes"], pc.loc["d1", "days_pushed"]) == (1, 14)
    assert (pc.loc["d4", "pushes"], pc.loc["d4", "pulls"]) == (0, 1)
    # d5 is open in one snapshot only (won in the next): nothing to compare
    assert (pc.loc["d5", "snapshots"], pc.loc["d5", "pushes"]) == (1, 0)
    assert pipeline.push_counts(wb, rep_ids=["B"])["opp_id"].tolist() == ["d11"]
    assert pipeline.push_counts(make_wb(snaps=[])).empty
    some = pipeline.push_counts(wb, opp_ids=["d3", "d4"]).set_index("opp_id")
    assert some.index.tolist() == ["d3", "d4"]
    pd.testing.assert_frame_equal(some, pc.loc[["d3", "d4"]])  # the same figures as for all


def test_deals_needing_attention_defaults(wb):
    out = pipeline.deals_needing_attention(wb)
    # sorted by amount: d10 800 (stale: last activity 05-01, 80 days before 07-20),
    # d3 700 (pushed twice), d2 400 (500 -> 400 = -20%), d7 250 (due 07-10: 10 days ago)
    assert out["opp_id"].tolist() == ["d10", "d3", "d2", "d7"]
    assert out["rules_hit"].tolist() == ["stale", "pushed", "amount_dropped", "past_due"]
    reasons = dict(zip(out["opp_id"], out["reasons"], strict=True))
    assert reasons["d10"] == "no change for 80 days"
    assert reasons["d3"] == "close date pushed 2 times (2026-09-20 → 2026-11-15)"
    assert reasons["d2"] == "amount down 20% since 2026-07-06 (from $500 to $400)"
    assert reasons["d7"] == "close date 2026-07-10 passed 10 days ago"
    assert out.loc[out["opp_id"] == "d7", "days_to_close"].item() == -10


def test_deals_needing_attention_rules(wb):
    # d8 600 Prospecting due 08-30; on 09-10 the quarter has 20 days left. Median-ish quantile
    # 0.5 of open amounts (100,250,350,400,600,700,800,1200) = (400+600)/2 = 500 <= 600.
    out = pipeline.deals_needing_attention(
        wb, ["A"], "2026-09-10", rules={"large_deal_quantile": 0.5}
    )
    d8 = out.set_index("opp_id").loc["d8"]
    assert "early_large" in d8["rules_hit"]
    assert "large deal still in Prospecting with 20 days to quarter end" in d8["reasons"]
    assert "d11" not in set(out["opp_id"])  # rep filter
    # d11 has been in Proposal since the first snapshot (07-06): 14 days on 07-20.
    long = pipeline.deals_needing_attention(wb, ["B"], rules={"long_in_stage_days": 10})
    assert long["reasons"].tolist() == ["14 days in Proposal"]
    assert pipeline.deals_needing_attention(wb, ["B"]).empty
    with pytest.raises(ConfigError, match="Unknown attention rule"):
        pipeline.deals_needing_attention(wb, rules={"stale_days": 3})


# --- property: the identity holds for random snapshot histories -------------------------
STAGES = ["Prospecting", "Demo", "Negotiation", "Closed Won", "Closed Lost"]
row = st.tuples(
    st.sampled_from([f"p{i}" for i in range(8)]),
    st.sampled_from(STAGES),
    st.integers(0, 100_000).map(lambda c: c / 100),  # amounts with cents
    st.integers(0, 200),  # close date offset in days from 2026-06-01
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.lists(row, max_size=10),
    second=st.lists(row, max_size=10),
    windowed=st.booleans(),
    won_ids=st.sets(st.sampled_from([f"p{i}" for i in range(8)])),
    reps=st.sampled_from([None, ["A"]]),
)
def test_waterfall_identity_property(first, second, windowed, won_ids, reps):
    base = T("2026-06-01")
    # a closed sentinel deal makes sure both snapshot dates exist
    rows = [(S0, "zz", "Closed Lost", 0.0, 0), (S1, "zz", "Closed Lost", 0.0, 0)]
    rows += [(S0, *r) for r in first] + [(S1, *r) for r in second]
    snaps = [(d, o, s, a, base + pd.Timedelta(days=c)) for d, o, s, a, c in rows]
    opps = [
        (f"p{i}", "A" if i % 2 else "B", "Closed Won" if f"p{i}" in won_ids else "Demo",
         12.34 * i, "2026-05-01", "2026-07-09", "won" if f"p{i}" in won_ids else "open",
         "2026-07-01")
        for i in range(8)
    ]  # fmt: skip
    wb = make_wb(snaps=snaps, opps=opps)
    period = ("2026-07-01", "2026-09-30") if windowed else None
    w = pipeline.waterfall(wb, S0, S1, period=period, rep_ids=reps)
    assert w.check()
    c = {k: round(v * 100) for k, v in w.as_dict().items()}
    assert (c["start"] + c["new"] + c["pulled_in"] - c["pushed_out"] - c["won"] - c["lost"]
            - c["removed"] + c["value_up"] - c["value_down"]) == c["end"]  # fmt: skip
    # the deals table explains every flow bar exactly
    by_cat = w.deals.groupby("category")["amount"].sum().mul(100).round()
    for k in pipeline.CATEGORIES:
        if k not in ("start", "end"):
            assert by_cat.get(k, 0) == c[k]
    # start and end are the window's open pipeline in each snapshot
    for when, key in ((S0, "start"), (S1, "end")):
        p = pipeline.pipeline_at(wb, when, rep_ids=reps)
        if period:
            p = p[p["close_date"].between(*pd.to_datetime(period))]
        assert round(p["amount"].sum() * 100) == c[key]


ghost = st.tuples(
    st.sampled_from(["g1", "g2"]),  # deals no longer in the opportunities
    st.sampled_from(STAGES),
    st.integers(0, 100_000).map(lambda c: c / 100),
    st.integers(0, 200),
    st.sampled_from(["A", "B", None]),  # the rep each snapshot names
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(  # a deleted deal that changed hands between the two snapshots
    first=[], second=[], windowed=True,
    ghosts=[(False, ("g1", "Demo", 500.0, 60, "A")), (True, ("g1", "Demo", 500.0, 60, "B"))],
)  # fmt: skip
@given(
    first=st.lists(row, max_size=8),
    second=st.lists(row, max_size=8),
    ghosts=st.lists(st.tuples(st.booleans(), ghost), max_size=4),
    windowed=st.booleans(),
)
def test_a_reps_waterfall_from_the_teams_equals_its_own(first, second, ghosts, windowed):
    """Sealed data takes the rep's waterfall from the team's (kept per data set); it must
    be the one computed for the rep alone, also when deleted deals changed hands."""
    from salesnb.data import memo

    base = T("2026-06-01")
    rows = [(S0, "zz", "Closed Lost", 0.0, 0), (S1, "zz", "Closed Lost", 0.0, 0)]
    rows += [(S0, *r) for r in first] + [(S1, *r) for r in second]
    snaps = [(d, o, s, a, base + pd.Timedelta(days=c)) for d, o, s, a, c in rows]
    opps = [(f"p{i}", "A" if i % 2 else "B", "Demo", 10.0 * i, "2026-05-01", "2026-07-09",
             "open", "2026-07-01") for i in range(8)]  # fmt: skip
    plain = make_wb(snaps=snaps, opps=opps)
    extra = pd.DataFrame(
        [((S1 if later else S0), o, s, a, base + pd.Timedelta(days=c), r)
         for later, (o, s, a, c, r) in ghosts],
        columns=["as_of", "opp_id", "stage", "amount", "close_date", "rep_id"],
    )  # fmt: skip
    extra["as_of"] = pd.to_datetime(extra["as_of"])
    extra["close_date"] = pd.to_datetime(extra["close_date"])
    plain.snapshots = pd.concat([plain.snapshots, extra.astype({"amount": float})],
                                ignore_index=True)  # fmt: skip
    sealed = make_wb(snaps=snaps, opps=opps)
    sealed.snapshots = plain.snapshots.copy()
    # every canonical column, as a loaded workbook has (the seal's fingerprint reads them)
    sealed.reps = sealed.reps.assign(team="East", start_date=T("2020-01-01"))
    for c in ("product", "forecast_category", "source", "furthest_stage"):
        sealed.opportunities[c] = pd.NA
    sealed.snapshots["forecast_category"] = pd.NA
    memo.seal(sealed)
    assert memo.token(sealed) is not None
    period = ("2026-07-01", "2026-09-30") if windowed else None
    for reps in (["A"], ["B"], ["A", "B"]):
        mine = pipeline.waterfall(sealed, S0, S1, period=period, rep_ids=reps)
        alone = pipeline.waterfall(plain, S0, S1, period=period, rep_ids=reps)
        pd.testing.assert_frame_equal(mine.bars, alone.bars)
        pd.testing.assert_frame_equal(mine.deals, alone.deals)

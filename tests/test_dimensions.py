"""KPIs by any dimension (salesnb.analytics.dimensions): hand-computed values on the
eight-deal example, the groups adding up to the whole team (hypothesis), clear errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesnb.analytics import dimensions as dim
from salesnb.analytics import kpis
from salesnb.core.errors import ParameterError, SalesnbError
from salesnb.data.config import load_config
from salesnb.data.model import Workbook, empty_table


@pytest.fixture(scope="module")
def wb() -> Workbook:
    return dim._example()


def _row(df: pd.DataFrame, **keys) -> pd.Series:
    m = np.ones(len(df), bool)
    for k, v in keys.items():
        m &= (df[k] == v).to_numpy()
    assert m.sum() == 1, (keys, df)
    return df[m].iloc[0]


# --------------------------------------------------------------------------- hand-computed
def test_channel_efficiency_by_hand(wb):
    t = dim.channel_efficiency(wb)
    # inbound: won o1 400, o2 600, o7 200, o8 100; cycles 45, 50, 101, 292 days
    inbound = _row(t, source="inbound")
    assert (inbound.won_deals, inbound.lost_deals, inbound.bookings) == (4, 0, 1300.0)
    assert inbound.win_rate == 1.0 and inbound.avg_deal_size == 325.0
    assert inbound.median_cycle_days == (50 + 101) / 2
    assert inbound.bookings_share == 1300 / 1600
    # outbound: o6 won 300 after 55 days, o3 lost 500
    out = _row(t, source="outbound")
    assert (out.won_deals, out.lost_deals, out.win_rate) == (1, 1, 0.5)
    assert out.median_cycle_days == 55 and out.avg_deal_size == 300
    # partner: only the open o4: nothing closed, so no win rate, cycle or deal size
    partner = _row(t, source="partner")
    assert partner.won_deals == 0 and math.isnan(partner.win_rate)
    assert math.isnan(partner.median_cycle_days) and math.isnan(partner.avg_deal_size)


def test_channel_efficiency_uses_the_kits_definitions(wb):
    """Per source, the same numbers as kpis.win_rate / sales_cycle on that source's deals."""
    t = dim.channel_efficiency(wb)
    for src in ("inbound", "outbound"):
        keep = wb.opportunities["source"] == src
        one = Workbook(wb.reps, wb.opportunities[keep], wb.config)
        wr = kpis.win_rate(one, by=None).iloc[0]
        cyc = kpis.sales_cycle(one, by=None).iloc[0]
        row = _row(t, source=src)
        assert row.win_rate == wr.win_rate and row.bookings == wr.bookings
        assert row.median_cycle_days == cyc.median_cycle_days


def test_kpis_by_region_and_product_by_hand(wb):
    t = dim.kpis_by(wb, ("region", "product"))
    assert len(t) == 4  # East x {X, Y}, West x {X, Y}
    east_x = _row(t, region="East", product="X")  # o1 won 400, o8 won 100, o3 lost, o4 open
    assert (east_x.won_deals, east_x.lost_deals, east_x.bookings) == (2, 1, 500.0)
    assert (east_x.open_deals, east_x.pipeline) == (1, 1000.0)
    west_y = _row(t, region="West", product="Y")  # o6 won 300, o5 open 500
    assert (west_y.won_deals, west_y.bookings, west_y.pipeline) == (1, 300.0, 500.0)
    # a window: Q1 2026 holds o1, o2 won and o3 lost; o4 (April) is outside
    q1 = dim.kpis_by(wb, "product", start="2026-01-01", end="2026-03-31")
    assert list(q1["won_deals"]) == [1, 1] and list(q1["lost_deals"]) == [1, 0]
    assert list(q1["open_deals"]) == [0, 1]  # o5 is due 2026-03-15, o4 in April


def test_product_mix_by_hand(wb):
    t = dim.product_mix(wb)
    x, y = _row(t, product="X"), _row(t, product="Y")
    assert (x.bookings, y.bookings) == (700.0, 900.0)
    assert (x.bookings_share, y.bookings_share) == (700 / 1600, 900 / 1600)
    assert (x.pipeline_share, y.pipeline_share) == (1000 / 1500, 500 / 1500)
    by_region = dim.product_mix(wb, "region")
    assert _row(by_region, region="West", product="X").bookings_share == 200 / 500


def test_retention_and_repeat_business_by_hand(wb):
    # this window: 2025-04-01..2026-03-31; last window: 2024-04-01..2025-03-31
    t = dim.retention(wb).iloc[0]
    assert (t.customers_last, t.retained, t.lapsed) == (3, 1, 2)  # A, D, E; A again
    assert t.retention_rate == 1 / 3
    assert (t.revenue_last, t.revenue_retained) == (600.0, 1000.0)  # A 100 + D 300 + E 200
    assert t.revenue_retention == 1000 / 600
    # first won deals in the last window: A (2025-03-20), D, E; only A again within 365 days
    assert (t.first_buyers_last, t.bought_again, t.repeat_rate) == (3, 1, 1 / 3)
    seg = dim.retention(wb, "segment")
    assert _row(seg, segment="SMB").retained == 1 and _row(seg, segment="Enterprise").lapsed == 1
    assert _row(seg, segment=dim.UNKNOWN).customers_last == 1  # E is not in accounts
    # a shorter window: A's second deal is 301 days after its first
    assert dim.retention(wb, window_days=300).iloc[0].bought_again == 0


def test_acquisition_by_segment_by_hand(wb):
    t = dim.acquisition(wb, "segment")  # default: the 365 days to as-of; A first won before
    assert list(t["segment"]) == ["SMB"] and t["new_accounts"].item() == 0
    assert t["won_accounts"].item() == 1 and t["new_share"].item() == 0
    t = dim.acquisition(wb, "segment", start="2024-01-01")
    assert _row(t, segment="SMB").new_bookings == 1100.0  # A: 100 + 400 + 600
    assert t["new_accounts"].sum() == 3


def test_satisfaction_summary_by_hand(wb):
    t = dim.satisfaction_summary(wb, "rep")
    r1 = _row(t, rep_id="r1", kind="csat")  # 5, 4, 4, 3, 5: 4 of 5 satisfied
    assert (r1.responses, r1.mean_score, r1.score) == (5, 4.2, 0.8)
    assert r1.reading == "80% satisfied (n=5)"
    r2 = _row(t, rep_id="r2", kind="nps")  # 3 responses < 5: unknown
    assert r2.responses == 3 and math.isnan(r2.score) and r2.reading.startswith("unknown")
    low = dim.satisfaction_summary(wb, "segment", min_n=3)
    nps = _row(low, segment="Enterprise", kind="nps")  # 10, 9 promoters; 6 detractor
    assert nps.score == pytest.approx(100 * (2 - 1) / 3) and nps.reading == "NPS +33 (n=3)"
    assert nps.mean_score == pytest.approx(25 / 3)
    window = dim.satisfaction_summary(wb, "rep", start="2026-01-01", min_n=1)
    assert _row(window, rep_id="r2").responses == 1


# --------------------------------------------------------------------------- errors
def test_unknown_or_absent_dimension_is_explained(wb):
    with pytest.raises(
        ParameterError, match=r"'prodcut' is not a dimension. Did you mean 'product'"
    ):
        dim.kpis_by(wb, "prodcut")
    bare = Workbook(wb.reps, wb.opportunities.assign(product=None), wb.config)
    with pytest.raises(ParameterError, match="no product on any deal.*Fix"):
        dim.kpis_by(bare, "region,product")
    with pytest.raises(ParameterError, match="no accounts table.*Fix: add accounts.csv"):
        dim.kpis_by(bare, "segment")
    with pytest.raises(ParameterError, match="describes deals, not customers.*Fix"):
        dim.retention(wb, "product")  # retention groups customers, not deals
    assert dim.kpis_by(bare, "source")["won_deals"].sum() == 5
    with pytest.raises(ParameterError, match="'soon' is not a date. Fix"):
        dim.kpis_by(wb, "product", start="soon")
    with pytest.raises(ParameterError, match="after end.*swap"):
        dim.acquisition(wb, start="2026-03-01", end="2026-01-01")
    with pytest.raises(SalesnbError, match="FY2026-Q7.*Fix"):  # the calendar's own message
        dim.product_mix(wb, period="FY2026-Q7")


def test_absent_tables_leave_deal_kpis_alone(wb):
    bare = Workbook(wb.reps, wb.opportunities, wb.config)
    for by in ("rep", "product", "source"):
        pd.testing.assert_frame_equal(dim.kpis_by(bare, by), dim.kpis_by(wb, by))
    assert dim.satisfaction_summary(bare).empty
    assert bare.satisfaction.equals(empty_table("satisfaction"))


# --------------------------------------------------------------------------- property
_DAYS = pd.date_range("2024-01-01", "2026-03-31", freq="D")


@st.composite
def workbooks(draw) -> Workbook:
    n = draw(st.integers(1, 30))
    pick = lambda xs: st.lists(st.sampled_from(xs), min_size=n, max_size=n)
    created = np.array(draw(st.lists(st.integers(0, len(_DAYS) - 200), min_size=n, max_size=n)))
    length = np.array(draw(st.lists(st.integers(0, 199), min_size=n, max_size=n)))
    outcome = draw(pick(["won", "lost", "open"]))
    stage = {"won": "Closed Won", "lost": "Closed Lost", "open": "Demo"}
    opps = pd.DataFrame({
        "opp_id": [f"o{i}" for i in range(n)], "rep_id": draw(pick(["r1", "r2", "r3", "rX"])),
        "account": draw(pick(["A", "B", "C", "D", None])),
        "product": draw(pick(["X", "Y", None])), "stage": [stage[o] for o in outcome],
        "amount": [float(a) for a in draw(pick([0, 100, 250, 1000]))],
        "created_date": _DAYS[created], "close_date": _DAYS[created + length],
        "outcome": outcome, "forecast_category": None, "source": draw(pick(["in", "out", None])),
        "furthest_stage": None, "last_activity_date": pd.NaT,
    })  # fmt: skip
    reps = pd.DataFrame({"rep_id": ["r1", "r2", "r3"], "name": ["a", "b", "c"],
                         "manager": ["M", "M", "N"], "region": ["E", "W", "W"],
                         "team": ["E", "W1", "W2"], "start_date": pd.NaT})  # fmt: skip
    accounts = pd.DataFrame({"account": ["A", "B", "C"], "segment": ["S", "E", None],
                             "industry": ["i", "j", "j"], "size": None,
                             "country": ["FR", None, "US"],
                             "owner": draw(pick(["r1", "r2", None]))[:1] * 3})  # fmt: skip
    m = draw(st.integers(0, 15))
    sat = pd.DataFrame({
        "account": draw(st.lists(st.sampled_from(["A", "B", "D"]), min_size=m, max_size=m)),
        "date": _DAYS[draw(st.lists(st.integers(0, len(_DAYS) - 1), min_size=m, max_size=m))],
        "score": [float(x) for x in draw(st.lists(st.integers(1, 5), min_size=m, max_size=m))],
        "kind": draw(st.lists(st.sampled_from(["csat", "nps"]), min_size=m, max_size=m)),
    }).drop_duplicates(["account", "date", "kind"])  # fmt: skip
    cfg = load_config(overrides={"as_of": "2026-03-31"})
    return Workbook(reps, opps, cfg, accounts=accounts, satisfaction=sat)


_SUMS = ["won_deals", "lost_deals", "bookings", "lost_amount", "open_deals", "pipeline"]
_BYS = [d for d in dim.DIMENSIONS if d not in ("rep_id", "channel", "size")]
_BYS += ["region,product", "segment,source", "team,industry,country"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workbooks(), st.sampled_from(_BYS), st.sampled_from([None, "FY2025", "FY2026-Q1"]))
def test_groups_add_up_to_the_whole_team(wb, by, period):
    if "product" in by and wb.opportunities["product"].isna().all():
        return
    if "source" in by and wb.opportunities["source"].isna().all():
        return
    total = dim.kpis_by(wb, None, period=period)
    parts = dim.kpis_by(wb, by, period=period)
    for c in _SUMS:
        assert parts[c].sum() == pytest.approx(total[c].item())
    customer = [b for b in by.split(",") if b not in ("product", "source")]
    if len(customer) == len(by.split(",")):
        r0, r1 = dim.retention(wb, None), dim.retention(wb, by)
        for c in ("customers_last", "retained", "lapsed", "revenue_last", "bought_again"):
            assert r1[c].sum() == pytest.approx(r0[c].item())
        a0, a1 = dim.acquisition(wb, None), dim.acquisition(wb, by)
        assert a1["new_accounts"].sum() == (a0["new_accounts"].sum() if len(a0) else 0)
        s0, s1 = dim.satisfaction_summary(wb, None), dim.satisfaction_summary(wb, by)
        assert s1["responses"].sum() == s0["responses"].sum() == len(wb.satisfaction)


def test_org_groupings_equal_the_kpis_module_on_the_sample():
    """By region, the dimension table carries exactly kpis.win_rate / sales_cycle /
    pipeline of the same period (one definition of each KPI in the kit)."""
    from pathlib import Path

    import salesnb

    wb = salesnb.load(Path(__file__).resolve().parents[1] / "data" / "sample")
    for period in ("FY2026-Q3", "FY2025"):
        t = dim.kpis_by(wb, "region", period=period)
        wr = kpis.win_rate(wb, by="region", period=period)
        cyc = kpis.sales_cycle(wb, by="region", period=period)
        pipe = kpis.pipeline(wb, by="region", period=period)
        assert list(t["region"]) == list(wr["region"])
        pairs = [("won_deals", wr), ("lost_deals", wr), ("bookings", wr), ("win_rate", wr),
                 ("win_rate_value", wr), ("median_cycle_days", cyc), ("open_deals", pipe),
                 ("pipeline", pipe)]  # fmt: skip
        for col, ref in pairs:
            np.testing.assert_allclose(t[col].to_numpy(float), ref[col].to_numpy(float),
                                       rtol=1e-12, err_msg=f"{period} {col}")  # fmt: skip

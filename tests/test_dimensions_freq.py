"""kpis_by(freq=...): the deal KPIs by any dimension and month or quarter in one call.

Hand-computed values on the eight-deal example; the periods of every group add up to the
group's row of the same window without ``freq`` (hypothesis); a clear error for a bad freq."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dimensions import workbooks

from salesnb.analytics import dimensions as dim
from salesnb.core.errors import ParameterError


def _row(df, **keys):
    m = np.ones(len(df), bool)
    for k, v in keys.items():
        m &= (df[k] == v).to_numpy()
    assert m.sum() == 1, (keys, df)
    return df[m].iloc[0]


def test_rep_by_product_by_month_by_hand():
    t = dim.kpis_by(dim._example(), "rep,product", freq="M", start="2025-01-01")
    assert list(t.columns[:3]) == ["rep_id", "product", "period"]
    # r1 X: o8 won 100 on 2025-03-20 (cycle 292); o1 won 400 on 2026-01-15 (cycle 45);
    # o3 lost 500 on 2026-02-01; o4 open 1000, expected 2026-04-30.
    # r1 Y: o2 won 600 on 2026-02-20 (cycle 50).
    # r2 X: o7 won 200 on 2025-02-10 (cycle 101). r2 Y: o6 won 300 on 2025-03-01 (cycle 55);
    # o5 open 500, expected 2026-03-15.
    expected = {
        ("r1", "X", "2025-03"): (1, 0, 100.0, 292.0, 0, 0.0),
        ("r1", "X", "2026-01"): (1, 0, 400.0, 45.0, 0, 0.0),
        ("r1", "X", "2026-02"): (0, 1, 0.0, math.nan, 0, 0.0),
        ("r1", "X", "2026-04"): (0, 0, 0.0, math.nan, 1, 1000.0),
        ("r1", "Y", "2026-02"): (1, 0, 600.0, 50.0, 0, 0.0),
        ("r2", "X", "2025-02"): (1, 0, 200.0, 101.0, 0, 0.0),
        ("r2", "Y", "2025-03"): (1, 0, 300.0, 55.0, 0, 0.0),
        ("r2", "Y", "2026-03"): (0, 0, 0.0, math.nan, 1, 500.0),
    }
    got = {
        (r.rep_id, r.product, r.period): (r.won_deals, r.lost_deals, r.bookings,
                                          r.median_cycle_days, r.open_deals, r.pipeline)
        for r in t.itertuples()
    }  # fmt: skip
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        assert got[key] == pytest.approx(want, nan_ok=True), key
    lost_month = _row(t, rep_id="r1", product="X", period="2026-02")
    assert lost_month.win_rate == 0.0 and math.isnan(lost_month.avg_deal_size)


def test_quarters_follow_the_fiscal_calendar():
    from salesnb.data.config import load_config
    from salesnb.data.model import Workbook

    wb = dim._example()
    fy_feb = load_config(
        overrides={"as_of": "2026-03-31", "calendar": {"fiscal_year_start_month": 2}}
    )
    wb2 = Workbook(wb.reps, wb.opportunities, fy_feb, accounts=wb.accounts)
    t = dim.kpis_by(wb2, None, freq="Q", start="2026-01-01", end="2026-03-31")
    # Fiscal years starting in February: January 2026 is the last month of FY2026-Q4 of
    # FY2026 (Feb 2025 - Jan 2026); February and March 2026 open FY2027-Q1.
    q4, q1 = _row(t, period="FY2026-Q4"), _row(t, period="FY2027-Q1")
    assert (q4.won_deals, q4.bookings) == (1, 400.0)
    assert (q1.won_deals, q1.lost_deals, q1.bookings, q1.open_deals) == (1, 1, 600.0, 1)


def test_a_bad_freq_is_explained():
    with pytest.raises(ParameterError, match=r"freq='W'.*Fix: use 'M'"):
        dim.kpis_by(dim._example(), "rep", freq="W")


_SUMS = ["won_deals", "lost_deals", "bookings", "lost_amount", "open_deals", "pipeline"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    workbooks(),
    st.sampled_from(["rep", "product", "rep,product", "region,source", None]),
    st.sampled_from(["M", "Q", "Y"]),
    st.sampled_from([None, "FY2025", "FY2026-Q1"]),
)
def test_periods_add_up_to_the_window_total(wb, by, freq, period):
    if by and "product" in by and wb.opportunities["product"].isna().all():
        return
    if by and "source" in by and wb.opportunities["source"].isna().all():
        return
    whole = dim.kpis_by(wb, by, period=period)
    parts = dim.kpis_by(wb, by, freq=freq, period=period)
    keys = dim.parse_by(by)
    summed = parts.groupby(keys)[_SUMS].sum() if keys else parts[_SUMS].sum().to_frame().T
    whole = whole.set_index(keys)[_SUMS] if keys else whole[_SUMS]
    # A group without a deal closing in the window has no period row: its sums are all 0.
    if keys:
        summed = summed.reindex(whole.index, fill_value=0)
    np.testing.assert_allclose(summed.to_numpy(float), whole.to_numpy(float))
    if period is not None:
        lo, hi = wb.config.calendar.period_bounds(period)
        for label in set(parts["period"]):
            a, b = wb.config.calendar.period_bounds(label)
            assert a <= hi and b >= lo, (label, period)

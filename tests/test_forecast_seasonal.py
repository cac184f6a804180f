"""Seasonality borrowed across the hierarchy (salesnb.forecast.seasonal)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesnb.forecast import combined as fc
from salesnb.forecast.chance import target_chance
from salesnb.forecast.seasonal import month_factors, seasonal_indices

IDX = pd.period_range("2023-01", periods=36, freq="M")
#: 100 a month, 200 every December.
DECEMBERS = pd.Series(np.where(IDX.month == 12, 200.0, 100.0), index=IDX)


def test_indices_of_a_december_peak_hand_computed():
    # The centred 2x12 moving average of this series is 1300/12 everywhere it is defined
    # (any 13-month window holds one December at full weight or two at half weight), so
    # the ratios are 200/(1300/12) = 24/13 for December and 12/13 otherwise, whose mean
    # over the 12 months is (24 + 11 * 12) / (12 * 13) = 1 already.
    s = seasonal_indices(DECEMBERS)
    assert s[11] == pytest.approx(24 / 13, rel=1e-9)
    assert s[:11] == pytest.approx(np.full(11, 12 / 13), rel=1e-9)
    assert s.mean() == pytest.approx(1.0)


def test_indices_shrink_towards_one_by_the_prior(monkeypatch):
    import salesnb.forecast.seasonal as fs

    # The moving average is defined for July 2023 .. June 2025: two ratios per calendar
    # month. One pseudo-year of 1: December (2 * 24/13 + 1) / 3 = 61/39, the others
    # (2 * 12/13 + 1) / 3 = 37/39, whose mean is (61 + 11 * 37) / (12 * 39) = 1.
    monkeypatch.setattr(fs, "INDEX_PRIOR", 1.0)
    s = seasonal_indices(DECEMBERS)
    assert s[11] == pytest.approx(61 / 39, rel=1e-9)
    assert s[0] == pytest.approx(37 / 39, rel=1e-9)


def test_indices_need_two_years_of_positive_months_and_respect_until():
    assert seasonal_indices(DECEMBERS.iloc[:23]) is None
    assert seasonal_indices(DECEMBERS.where(IDX != IDX[30], 0.0)) is None
    # A December of 300 in the third year moves the full-data indices, not those of the
    # first 24 months (the moving average there ends in June 2024, before it).
    later = DECEMBERS.where(IDX != IDX[35], 300.0)
    assert seasonal_indices(later)[11] != pytest.approx(24 / 13)
    s = seasonal_indices(later, until=IDX[23])
    assert s[11] == pytest.approx(24 / 13)
    assert s[0] == pytest.approx(12 / 13)


def test_month_factors_follow_the_calendar_month():
    s = np.arange(1.0, 13.0)
    assert month_factors(s, pd.period_range("2025-11", periods=4, freq="M")).tolist() == [
        11.0,
        12.0,
        1.0,
        2.0,
    ]


def test_a_flat_model_on_the_borrowed_pattern_forecasts_the_peak_hand_computed():
    # The series divided by its indices is 200 / (24/13) = 100 / (12/13) = 1300/12 every
    # month, and the mean model forecasts that times each month's index: 200 in December,
    # 100 otherwise.
    f = fc.forecast_history(DECEMBERS, 12, method="mean", parent=DECEMBERS)
    assert f.mean.iloc[11] == pytest.approx(200.0)
    assert f.mean.iloc[:11].to_numpy() == pytest.approx(np.full(11, 100.0))
    assert f.method == "mean×season(team)"
    # Without the parent the mean model is flat at the series mean 1300/12.
    alone = fc.forecast_history(DECEMBERS, 12, method="mean")
    assert alone.mean.to_numpy() == pytest.approx(np.full(12, 1300 / 12))


def test_borrowed_forecast_scales_the_error_spread_with_the_index():
    f = fc.forecast_history(DECEMBERS, 12, method="mean", parent=DECEMBERS)
    sd = f.sd.to_numpy()
    # the same error in the adjusted level, times the month's index
    assert sd[11] / sd[0] == pytest.approx(2.0)


def test_rolling_origin_errors_are_scored_on_the_original_months():
    # A rep whose months are a tenth of the team's: with the team's pattern borrowed the
    # seasonal naive and the flat models agree on December, so the rolling-origin MASE of
    # the mean model (scored against the unadjusted months) falls well below its MASE
    # without borrowing, which misses every December by the peak.
    rng = np.random.default_rng(0)
    rep = DECEMBERS / 10 * (1 + rng.normal(0, 0.02, 36))
    own = fc.forecast_history(rep, 3, method="mean").scores.set_index("candidate")
    lent = fc.forecast_history(rep, 3, method="mean", parent=DECEMBERS).scores
    lent = lent.set_index("candidate")
    assert lent.loc["mean", "mase"] < 0.5 * own.loc["mean", "mase"]


def test_a_parent_too_short_changes_nothing():
    short = DECEMBERS.iloc[:20]
    a = fc.forecast_history(DECEMBERS, 3, method="mean", parent=short)
    b = fc.forecast_history(DECEMBERS, 3, method="mean")
    assert a.method == b.method == "mean"
    assert a.mean.to_numpy() == pytest.approx(b.mean.to_numpy())


def test_sample_typical_rep_q4_forecast_reflects_the_teams_q4(sample_wb):
    # R27 booked 122K and 88K in the last two Q4s and 58K in Q3 2026; the whole team books
    # about 45% more in Q4 than in its other quarters (3.3-3.5M against 1.9-2.6M), and its
    # October-December indices average 1.32 (July-September 0.83). Without borrowing the
    # history view was flat, 67K for Q4 (the rep's average level), and the blend gave
    # P(target 111.5K) 7.4%. Borrowing multiplies the rep's deseasonalised level by the Q4
    # indices, so the history view must clear that flat forecast by at least 20%
    # (67K * 1.2 = 80.4K; about 67K * 1.32 = 88K expected) and the rep's own Q3 (58K),
    # and P(target) from the blend must at least double (>= 14.8%).
    pf = fc.period_forecast(sample_wb, "rep", "R27", "FY2026-Q4", "2026-09-30", n_sims=4000)
    season = seasonal_indices(fc.team_series(sample_wb, "2026-09-30"))
    assert season[9:12].mean() == pytest.approx(1.32, abs=0.01)
    assert "season(team)" in pf.history.method
    hist = pf.history.mean.sum()
    assert hist > 80_400
    assert hist > 57_585
    assert target_chance(sample_wb, pf).p >= 2 * 0.074  # the chance the document shows


@settings(max_examples=40, deadline=None)
@given(
    y=st.lists(st.floats(1.0, 1e6), min_size=13, max_size=60),
    period=st.sampled_from([4, 7, 12]),
)
def test_centred_moving_average_is_statsmodels_trend(y, period):
    from statsmodels.tsa.seasonal import seasonal_decompose

    from salesnb.forecast.seasonal import centred_moving_average

    y = np.asarray(y)
    if y.size < 2 * period:
        return
    want = seasonal_decompose(y, model="multiplicative", period=period).trend
    np.testing.assert_allclose(centred_moving_average(y, period), want, rtol=1e-10)

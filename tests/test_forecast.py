"""Tests of salesnb.forecast.combined: history models, win probabilities, pipeline simulation, blend."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import salesnb.forecast.cache as fcache
from salesnb.core.errors import NotEnoughDataError, ParameterError
from salesnb.data.config import load_config
from salesnb.data.model import Workbook, empty_table
from salesnb.forecast.combined import (
    Distribution,
    RunRate,
    blend,
    blend_weight,
    deal_probabilities,
    forecast_history,
    forecast_many,
    forecast_pipeline,
    monthly_bookings,
    p_attain,
    period_forecast,
    pipeline_shock,
    simulate,
    team_series,
    win_probabilities,
)
from salesnb.forecast.pipeline import (
    _run_rate,
    _run_rates_by_rep,
    creation_factor,
    simulate_groups,
)


def months(n: int, start: str = "2022-01") -> pd.PeriodIndex:
    return pd.period_range(start, periods=n, freq="M")


def series(values, start: str = "2022-01") -> pd.Series:
    values = np.asarray(values, dtype=float)
    return pd.Series(values, index=months(len(values), start))


def make_wb(opps: list[dict], *, snapshots=None, targets=None, as_of="2026-08-15") -> Workbook:
    """A Workbook from a few opportunity dicts (missing columns blank, canonical dtypes)."""
    reps = pd.DataFrame(
        {
            "rep_id": ["R1", "R2"],
            "name": ["Ann", "Bob"],
            "manager": ["Meg", "Meg"],
            "region": ["West", "East"],
            "team": ["W", "E"],
            "start_date": pd.to_datetime(["2020-01-01", "2026-03-01"]),
        }
    ).astype({"rep_id": "str", "name": "str", "manager": "str", "region": "str", "team": "str"})
    base = empty_table("opportunities")
    frame = pd.DataFrame(opps)
    for c in base.columns:
        if c not in frame:
            frame[c] = pd.Series([None] * len(frame), dtype=base[c].dtype)
    for c in ("created_date", "close_date", "last_activity_date"):
        frame[c] = pd.to_datetime(frame[c])
    frame = frame[base.columns].astype(base.dtypes.to_dict())
    cfg = load_config(overrides={"as_of": pd.Timestamp(as_of)})
    wb = Workbook(reps=reps, opportunities=frame, config=cfg)
    if snapshots is not None:
        wb.snapshots = snapshots
    if targets is not None:
        wb.targets = targets
    return wb


def _deal(i, rep, stage, outcome, amount, created, close, furthest=None, cat=None):
    return {
        "opp_id": f"O{i}",
        "rep_id": rep,
        "stage": stage,
        "outcome": outcome,
        "amount": float(amount),
        "created_date": created,
        "close_date": close,
        "furthest_stage": furthest,
        "forecast_category": cat,
    }


@pytest.fixture
def wb() -> Workbook:
    """8 won, 4 lost at Prospecting, 4 lost at Proposal (all rep R1, closed 2026-01..06);
    3 open deals due in FY2026-Q3."""
    d = []
    for i in range(8):
        d.append(
            _deal(
                i,
                "R1",
                "Closed Won",
                "won",
                1000,
                "2026-01-05",
                f"2026-0{1 + i % 6}-20",
                "Negotiation",
                "omitted",
            )
        )
    for i in range(8, 12):
        d.append(
            _deal(i, "R1", "Closed Lost", "lost", 500, "2026-01-05", "2026-03-10", "Prospecting")
        )
    for i in range(12, 16):
        d.append(_deal(i, "R1", "Closed Lost", "lost", 500, "2026-01-05", "2026-04-10", "Proposal"))
    d.append(_deal(16, "R1", "Proposal", "open", 10_000, "2026-06-01", "2026-09-15", cat="commit"))
    d.append(
        _deal(17, "R2", "Prospecting", "open", 4_000, "2026-07-01", "2026-08-01", cat="pipeline")
    )  # past due at 2026-08-15: counts as due now
    d.append(
        _deal(18, "R2", "Negotiation", "open", 7_000, "2026-07-01", "2026-12-01", cat="best_case")
    )  # due next quarter: excluded
    d.append(_deal(19, "R2", "Closed Won", "won", 2_500, "2026-07-02", "2026-07-20", "Negotiation"))
    return make_wb(d)


# ---------------------------------------------------------------- history: structure


def test_linear_trend_is_continued():
    # y = 100 + 5 t for t = 0..35 -> the next three months are 280, 285, 290.
    fc = forecast_history(series(100 + 5.0 * np.arange(36)), 3)
    np.testing.assert_allclose(fc.mean.to_numpy(), [280, 285, 290], rtol=0.01)
    assert str(fc.mean.index[0]) == "2025-01"


def test_pure_seasonality_picks_a_seasonal_model_and_repeats_the_pattern():
    pattern = np.array([80, 90, 100, 120, 110, 100, 90, 85, 95, 130, 150, 170.0])
    rng = np.random.default_rng(1)
    y = np.tile(pattern, 3) + rng.normal(0, 2, 36)
    fc = forecast_history(series(y), 12)
    seasonal = fc.method in ("snaive",) or fc.method.endswith(("A)", "M)")) or "[12]" in fc.method
    assert seasonal, fc.method
    # Every month within 4 noise sd (sd 2) of the true pattern.
    np.testing.assert_allclose(fc.mean.to_numpy(), pattern, atol=8.0)


@pytest.mark.parametrize("seed", range(4))
def test_white_noise_gives_a_flat_forecast_near_the_mean(seed):
    rng = np.random.default_rng(seed)
    fc = forecast_history(series(100 + rng.normal(0, 10, 48)), 6)
    assert np.ptp(fc.mean.to_numpy()) < 5.0  # flat: within half a noise sd
    assert abs(fc.mean.mean() - 100) < 12.0  # and near the mean (1.2 sd)


def test_no_seasonal_model_under_24_months():
    pattern = np.array([80, 90, 100, 120, 110, 100, 90, 85, 95, 130, 150, 170.0])
    fc = forecast_history(series(np.r_[pattern, pattern[:8]]), 3)
    assert not fc.scores["candidate"].str.contains(r"snaive|,A\)|,M\)|\[12\]").any()
    assert "no seasonal model" in fc.note


def test_intervals_widen_with_horizon_on_a_random_walk():
    rng = np.random.default_rng(3)
    fc = forecast_history(series(500 + np.cumsum(rng.normal(0, 10, 36))), 6)
    for lv in (0.8, 0.95):
        width = (fc.upper[lv] - fc.lower[lv]).to_numpy()
        assert np.all(np.diff(width) >= -1e-9) and width[-1] > width[0]
    assert np.all(fc.upper[0.95] >= fc.upper[0.8])


def test_empty_history_returns_a_result_not_an_exception():
    fc = forecast_history(pd.Series([], index=months(0), dtype=float), 3)
    assert not fc.ok and fc.method == "none"
    assert "not enough history" in fc.note
    assert fc.total([1, 1, 1]) == (0.0, 0.0)


def test_three_months_uses_the_mean():
    # Too short to backtest: mean of 10, 20, 30 = 20.
    fc = forecast_history(series([10.0, 20.0, 30.0]), 2)
    assert fc.method == "mean"
    np.testing.assert_allclose(fc.mean.to_numpy(), [20.0, 20.0])
    assert "simple models only" in fc.note


def test_twelve_months_fits_models_but_no_seasonal_one():
    rng = np.random.default_rng(5)
    fc = forecast_history(series(100 + rng.normal(0, 5, 12)), 3)
    assert fc.ok and fc.n_obs == 12
    assert set(fc.scores["family"]) >= {"mean", "naive", "drift", "ets"}
    assert "snaive" not in set(fc.scores["family"])


def test_leading_nan_is_dropped_and_gaps_count_as_zero():
    s = series([np.nan, np.nan, 5.0, np.nan, 7.0])
    fc = forecast_history(s, 1, method="mean")
    # history is 5, 0, 7 -> mean 4
    assert fc.n_obs == 3 and fc.mean.iloc[0] == pytest.approx(4.0)


def test_forecasts_of_nonnegative_series_are_not_negative():
    y = np.r_[np.full(20, 100.0), np.linspace(90, 0, 10)]
    fc = forecast_history(series(y), 6)
    assert (fc.mean >= 0).all() and (fc.lower[0.8] >= 0).all()


def test_deterministic_and_parallel_equals_serial():
    rng = np.random.default_rng(7)
    wide = pd.DataFrame(
        {f"s{i}": 100 + rng.normal(0, 10, 30).cumsum() for i in range(4)}, index=months(30)
    )
    a = forecast_many(wide, 3, n_jobs=1)
    b = forecast_many(wide, 3, n_jobs=2)
    for k in wide.columns:
        pd.testing.assert_series_equal(a[k].mean, b[k].mean)
        assert a[k].method == b[k].method
        pd.testing.assert_series_equal(a[k].upper[0.8], b[k].upper[0.8])


def test_total_uses_the_error_covariance():
    # Naive on a random walk: cov(e_i, e_j) = s^2 min(i, j), so var(e1 + e2) = s^2 (1 + 2 + 2).
    y = series(np.cumsum(np.r_[100.0, np.tile([10.0, -10.0], 15)]))
    fc = forecast_history(y, 2, method="naive")
    s2 = fc.cov[0, 0]
    mu, sd = fc.total([1.0, 1.0])
    assert mu == pytest.approx(2 * y.iloc[-1])
    assert sd == pytest.approx(np.sqrt(5 * s2))


def test_bad_horizon_and_levels_raise_parameter_errors():
    with pytest.raises(ParameterError, match="horizon"):
        forecast_history(series([1.0, 2.0]), 0)
    with pytest.raises(ParameterError, match="levels"):
        forecast_history(series([1.0, 2.0]), 1, levels=(80,))
    with pytest.raises(ParameterError, match="PeriodIndex"):
        forecast_history(pd.Series([1.0, 2.0]), 1)


def test_convergence_warnings_are_recorded_not_emitted(recwarn):
    fc = forecast_history(series(100 + 5.0 * np.arange(36)), 3)
    assert isinstance(fc.warnings, list)
    assert not [w for w in recwarn if "statsmodels" in str(w.filename)]


# ---------------------------------------------------------------- bookings


def test_monthly_bookings_fills_zeros_and_stops_at_last_complete_month(wb):
    m = monthly_bookings(wb, by="rep")
    # as_of 2026-08-15: July is the last complete month.
    assert str(m.index[-1]) == "2026-07"
    # R1 won 1000 in Jan..Jun (i % 6): Jan and Feb twice -> 2000, Mar..Jun 1000, Jul 0.
    assert m.loc[pd.Period("2026-01", "M"), "R1"] == 2000.0
    assert m.loc[pd.Period("2026-07", "M"), "R1"] == 0.0
    # R2 started in March 2026: February is NaN, June 0, July holds 2500.
    assert np.isnan(m.loc[pd.Period("2026-02", "M"), "R2"])
    assert m.loc[pd.Period("2026-06", "M"), "R2"] == 0.0
    # R1 started before the data (Jan 2026): the history starts with the data.
    assert str(m.index[0]) == "2026-01"
    assert m.loc[pd.Period("2026-07", "M"), "R2"] == 2500.0
    total = monthly_bookings(wb, by=None, as_of="2026-07-31")
    assert str(total.index[-1]) == "2026-07" and list(total.columns) == ["all"]


def test_monthly_bookings_starts_at_first_activity_not_the_datas_first_month():
    """Deals created in 2025-10, first close anywhere in 2026-01: months before are unknown,
    not zero. R2 (no start date) first shows up with a deal created in 2026-03."""
    deals = [
        _deal(1, "R1", "Closed Won", "won", 100, "2025-10-01", "2026-01-10", "Negotiation"),
        _deal(2, "R1", "Closed Lost", "lost", 50, "2025-10-05", "2026-02-10", "Demo"),
        _deal(3, "R2", "Closed Won", "won", 70, "2026-03-15", "2026-05-20", "Negotiation"),
    ]
    wb = make_wb(deals, as_of="2026-06-30")
    wb.reps["start_date"] = pd.NaT  # no start dates: first activity only
    m = monthly_bookings(wb, by="rep")
    assert str(m.index[0]) == "2026-01"  # not 2025-10, when the first deal was created
    assert m["R1"].notna().sum() == 6  # Jan..Jun 2026
    # R2's first activity is 2026-03 (a created deal): Jan, Feb NaN; Mar, Apr 0; May 70.
    assert m["R2"].isna().tolist() == [True, True, False, False, False, False]
    assert m["R2"].iloc[2:].tolist() == [0.0, 0.0, 70.0, 0.0]
    # A rep with no deal and no start date has no history at all.
    wb.reps.loc[len(wb.reps)] = ["R3", "Cy", "Meg", "West", "W", pd.NaT]
    assert monthly_bookings(wb, by="rep")["R3"].isna().all()
    # Before the first close of the data nothing is known: the frame is empty.
    early = monthly_bookings(wb, by="rep", as_of="2025-12-31")
    assert early.empty and set(early.columns) >= {"R1", "R2"}


# ---------------------------------------------------------------- win probabilities


def test_stage_win_rates_are_learned_and_shrunk(wb):
    p = win_probabilities(wb).set_index("stage")
    # 9 won (8 of R1 + O19), 4 lost at Prospecting, 4 lost at Proposal, all closed by as_of.
    # Prospecting: reached by all 17, 9 won -> (9 + 2 * 0.05) / (17 + 2)
    assert p.loc["Prospecting", "n"] == 17
    assert p.loc["Prospecting", "p"] == pytest.approx(9.1 / 19)
    # Proposal: 9 won + 4 lost there = 13 -> (9 + 2 * 0.5) / 15
    assert p.loc["Proposal", "p"] == pytest.approx(10 / 15)
    # Negotiation: only the 9 won -> (9 + 2 * 0.75) / 11, not 1
    assert p.loc["Negotiation", "p"] == pytest.approx(10.5 / 11)


def test_rep_rates_shrink_towards_the_stage_rate(wb):
    by_rep = win_probabilities(wb, by=("stage", "rep_id"), prior_strength=10)
    row = by_rep[(by_rep["stage"] == "Negotiation") & (by_rep["rep_id"] == "R1")].iloc[0]
    # raw 8/8 = 1 pulled to (8 + 10 * 10.5/11) / 18
    assert row["p"] == pytest.approx((8 + 10 * 10.5 / 11) / 18)
    assert 0 < row["p"] < 1


def test_unknown_grouping_raises(wb):
    with pytest.raises(ParameterError, match="not supported"):
        win_probabilities(wb, by=("rep_id",))


# ---------------------------------------------------------------- pipeline


def test_a_date_between_snapshots_counts_each_deal_once():
    """At a past date four days after a snapshot: a deal won since is already won and not also
    open, one lost since is gone, one created since is open at the first stage."""
    d = [_deal(i, "R1", "Closed Won", "won", 1000, "2026-01-05", "2026-03-20", "Negotiation")
         for i in range(4)]  # fmt: skip
    d += [
        _deal(4, "R1", "Closed Won", "won", 3000, "2026-06-01", "2026-08-12", "Negotiation"),
        _deal(5, "R1", "Closed Lost", "lost", 5000, "2026-06-01", "2026-08-13", "Proposal"),
        _deal(6, "R1", "Proposal", "open", 7000, "2026-06-01", "2026-09-20", cat="commit"),
        _deal(7, "R1", "Closed Won", "won", 2000, "2026-08-11", "2026-09-01", "Negotiation"),
    ]
    snaps = pd.DataFrame(
        {"as_of": pd.to_datetime(["2026-08-10"] * 3), "opp_id": ["O4", "O5", "O6"],
         "rep_id": "R1", "stage": ["Negotiation", "Proposal", "Proposal"],
         "amount": [3000.0, 5000.0, 7000.0], "close_date": pd.to_datetime(["2026-08-20"] * 3),
         "forecast_category": "commit"}
    )  # fmt: skip
    wb = make_wb(d, snapshots=snaps, as_of="2026-09-30")
    fc = forecast_pipeline(wb, None, "2026-07-01", "2026-09-30", "2026-08-14", n_sims=500)
    assert fc.already_won == 3000.0  # O4, won on 2026-08-12
    deals = fc.deals.set_index("opp_id")
    assert sorted(deals.index) == ["O6", "O7"]  # not O4 again, not O5 (lost on 2026-08-13)
    assert deals.loc["O6", "close_date"] == pd.Timestamp("2026-08-20")  # as the snapshot saw it
    assert deals.loc["O7", "stage"] == "Prospecting"  # created after the snapshot
    assert "snapshot of 2026-08-10, brought forward to 2026-08-14" in fc.note


def test_pipeline_monte_carlo_mean_matches_the_expectation(wb):
    fc = forecast_pipeline(
        wb, None, "2026-07-01", "2026-09-30", n_sims=40_000, seed=1, run_rate=False
    )
    # Due: O16 (Proposal, 10000) and O17 (past due, 4000); O18 is due in Q4.
    assert sorted(fc.deals["opp_id"]) == ["O16", "O17"]
    expected = float((fc.deals["p_win"] * fc.deals["amount"]).sum())
    assert fc.expected_open == pytest.approx(expected)
    sd = np.sqrt((fc.deals["p_win"] * (1 - fc.deals["p_win"]) * fc.deals["amount"] ** 2).sum())
    assert abs(fc.remaining.mean - expected) < 4 * sd / np.sqrt(40_000)
    assert fc.already_won == 2500.0  # O19 won on 2026-07-20
    assert fc.total.mean == pytest.approx(fc.remaining.mean + 2500.0)


def test_pipeline_with_run_rate_matches_its_expectation(wb):
    fc = forecast_pipeline(wb, None, "2026-07-01", "2026-09-30", n_sims=40_000, seed=2)
    assert fc.remaining.mean == pytest.approx(fc.expected_open + fc.expected_run_rate, rel=0.03)
    assert fc.expected == pytest.approx(fc.already_won + fc.expected_open + fc.expected_run_rate)


def test_pipeline_categories_roll_up(wb):
    fc = forecast_pipeline(wb, None, "2026-07-01", "2026-09-30", n_sims=100)
    # closed 2500; commit +10000; best case +0 (O18 is next quarter); pipeline +4000.
    assert fc.categories == {
        "closed": 2500.0,
        "commit": 12500.0,
        "best_case": 12500.0,
        "pipeline": 16500.0,
    }


def test_pipeline_is_deterministic_with_a_seed(wb):
    a = forecast_pipeline(wb, ["R1", "R2"], "2026-07-01", "2026-09-30", seed=5, n_sims=500)
    b = forecast_pipeline(wb, ["R1", "R2"], "2026-07-01", "2026-09-30", seed=5, n_sims=500)
    np.testing.assert_array_equal(a.remaining.samples, b.remaining.samples)


def test_deal_probabilities_stay_inside_0_1(wb):
    open_deals = wb.opportunities[wb.opportunities["outcome"] == "open"]
    p = deal_probabilities(wb, open_deals)
    assert ((p > 0) & (p < 1)).all()


def _hand_var(p, a, rho):
    """Variance of sum a_i 1{win_i} under the one-factor copula, by the bivariate normal."""
    from scipy import stats

    z = stats.norm.ppf(p)
    var = 0.0
    for i in range(len(p)):
        for j in range(len(p)):
            if i == j:
                var += a[i] ** 2 * p[i] * (1 - p[i])
            else:
                joint = stats.multivariate_normal([0, 0], [[1, rho], [rho, 1]]).cdf([z[i], z[j]])
                var += a[i] * a[j] * (joint - p[i] * p[j])
    return var


def test_shock_keeps_the_mean_and_widens_the_spread_as_the_copula_says():
    p = np.array([0.2, 0.5, 0.7, 0.35])
    a = np.array([1000.0, 400.0, 250.0, 800.0])
    mean = float(p @ a)  # 660
    for rho in (0.0, 0.2, 0.5):
        d = simulate(p, a, n_sims=200_000, shock=rho, seed=4)
        assert d.mean() == pytest.approx(mean, rel=0.01)
        assert d.var() == pytest.approx(_hand_var(p, a, rho), rel=0.03)
    assert simulate(p, a, n_sims=2000, shock=0.5).std() > simulate(p, a, n_sims=2000).std()
    with pytest.raises(ParameterError, match="correlation"):
        simulate(p, a, shock=1.0)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(0.01, 0.99), min_size=1, max_size=30),
    st.floats(0.0, 0.9),
    st.integers(0, 2**16),
)
def test_shock_is_mean_preserving_bounded_and_deterministic(ps, rho, seed):
    p = np.array(ps)
    a = np.linspace(1.0, 2.0, p.size) * 100
    d = simulate(p, a, n_sims=4000, shock=rho, seed=seed)
    sd = float(np.sum(a)) / 2  # the largest possible sd of a sum bounded by sum(a)
    assert abs(d.mean() - p @ a) < 5 * sd / np.sqrt(4000) + 1e-9
    assert d.min() >= 0 and d.max() <= a.sum() + 1e-9
    np.testing.assert_array_equal(d, simulate(p, a, n_sims=4000, shock=rho, seed=seed))


def test_run_rate_moves_with_the_shock_but_keeps_its_mean():
    rr = RunRate(rate=4.0, windows=50.0, sizes=np.array([100.0, 300.0]), p_new=0.25)
    assert rr.expected == pytest.approx((4.0 * 50 + 0.5) / 50 * 200.0)
    calm = simulate([], [], n_sims=100_000, run_rate=rr, seed=1)
    shaken = simulate([], [], n_sims=100_000, shock=0.3, run_rate=rr, seed=1)
    assert calm.mean() == pytest.approx(rr.expected, rel=0.02)
    assert shaken.mean() == pytest.approx(rr.expected, rel=0.02)
    assert shaken.std() > 1.2 * calm.std()


def test_groups_share_the_factor_so_totals_are_wider_than_independent_sums():
    p, a = np.full(40, 0.3), np.full(40, 10.0)
    group = np.repeat([0, 1], 20)
    joint = simulate_groups(p, a, group, [None, None], n_sims=20_000, shock=0.3, seed=2)
    # The two halves move together: positive correlation, as one period factor drives both.
    assert np.corrcoef(joint[:, 0], joint[:, 1])[0, 1] > 0.3
    alone = simulate_groups(p, a, group, [None, None], n_sims=20_000, seed=2)
    assert abs(np.corrcoef(alone[:, 0], alone[:, 1])[0, 1]) < 0.05


def test_run_rates_by_rep_equal_the_one_rep_run_rate(wb):
    opps = wb.opportunities
    as_of, start, end = (
        pd.Timestamp("2026-08-15"),
        pd.Timestamp("2026-07-01"),
        pd.Timestamp("2026-09-30"),
    )
    both = _run_rates_by_rep(opps, as_of, start, end, ["R1", "R2", "R9"])
    for rep, got in zip(["R1", "R2", "R9"], both, strict=True):
        mine = opps[opps["rep_id"] == rep]
        want = _run_rate(mine, as_of, start, end)
        factor = creation_factor(mine["created_date"], as_of)[0]
        assert got[0] == pytest.approx(want[0] * factor) and got[1] == pytest.approx(want[1])
        np.testing.assert_array_equal(np.sort(got[2]), np.sort(want[2]))


def test_without_snapshots_the_shock_is_the_prior_and_the_blend_weight_the_default(wb):
    from salesnb.forecast.combined import SHOCK_PRIOR

    s = pipeline_shock(wb)
    assert s["source"] == "prior" and s["shock"] == SHOCK_PRIOR
    fc = forecast_pipeline(wb, None, "2026-07-01", "2026-09-30", n_sims=100)
    assert fc.shock == {"shock": SHOCK_PRIOR, "source": "prior"}
    h, p = Distribution(np.array([0.0, 30.0])), Distribution(np.array([0.0, 10.0]))
    bw = blend_weight(wb, "rep", "R1", ["R1"], history=h, pipeline=p)
    # var_h = 225, var_p = 25: 225 / 250 = 0.9, capped at 0.8.
    assert bw["source"] == "default" and bw["weight"] == pytest.approx(0.8)


def _monthly_wb(history_perfect: bool) -> Workbook:
    """R1 wins 1000 on the 10th of every month from 2024-01; weekly snapshots through
    2025-Q1..Q3 hold one open deal per month. With ``history_perfect`` the pipeline deals
    are all lost (bookings come only from deals created and won inside the month, which the
    run-rate also misses at month starts), so only history forecasts the quarters right."""
    deals, snaps = [], []
    i = 0
    for m in pd.period_range("2024-01", "2025-09", freq="M"):
        start = m.start_time
        deals.append(_deal(i, "R1", "Closed Won", "won", 1000, start, start + pd.Timedelta(days=9)))
        i += 1
        # a big deal in the pipeline from the month before, due on the 20th
        due = start + pd.Timedelta(days=19)
        outcome = ("lost", "Closed Lost") if history_perfect else ("won", "Closed Won")
        deals.append(
            _deal(
                i,
                "R1",
                outcome[1],
                outcome[0],
                5000,
                start - pd.Timedelta(days=20),
                due,
                "Negotiation",
            )
        )
        if m >= pd.Period("2025-01", "M"):
            for wk in range(0, 28, 7):
                d = start + pd.Timedelta(days=wk)
                if d < due:
                    snaps.append(
                        {
                            "as_of": d,
                            "opp_id": f"O{i}",
                            "rep_id": "R1",
                            "stage": "Negotiation",
                            "amount": 5000.0,
                            "close_date": due,
                            "forecast_category": "commit",
                        }
                    )
        i += 1
    snaps = pd.DataFrame(snaps).astype(
        {"opp_id": "str", "rep_id": "str", "stage": "str", "forecast_category": "str"}
    )
    wb = make_wb(deals, snapshots=snaps, as_of="2025-10-15")
    return wb


def test_blend_weight_is_learned_from_past_snapshots():
    # Pipeline deals always lost: history (a flat 1000 a month, plus 5000 won when deals win)
    # is far better, so the learned pipeline weight is small.
    wb = _monthly_wb(history_perfect=True)
    bw = blend_weight(wb, "rep", "R1", ["R1"])
    assert bw["source"] == "learned" and bw["snapshots"] >= 10
    assert bw["rmse_history"] < 0.2 * bw["rmse_pipeline"]
    assert bw["learned"] < 0.05
    # shrunk towards the default 0.5 by BLEND_PRIOR pseudo-snapshots
    from salesnb.forecast.combined import BLEND_PRIOR

    n = bw["snapshots"]
    assert bw["weight"] == pytest.approx(
        (n * bw["learned"] + BLEND_PRIOR * 0.5) / (n + BLEND_PRIOR)
    )
    assert bw["weight"] < 0.2
    s = pipeline_shock(wb)
    assert s["source"] == "learned" and s["quarters"] > 1.5


# ---------------------------------------------------------------- blend and P(attain)


def test_blend_with_a_fixed_weight_is_a_mixture():
    h, p = Distribution(np.full(4000, 100.0)), Distribution(np.full(4000, 200.0))
    d, w = blend(h, p, 50.0, weight=0.25)
    # 0.75 * 100 + 0.25 * 200 + 50 = 175; a pool keeps both modes.
    assert w == 0.25 and d.mean == pytest.approx(175, abs=3)
    assert set(np.unique(d.samples)) == {150.0, 250.0}


def test_blend_weight_must_be_a_share():
    with pytest.raises(ParameterError):
        blend(Distribution(np.ones(3)), Distribution(np.ones(3)), weight=1.5)


def test_p_attain_hand_computed():
    assert p_attain(np.array([1.0, 2.0, 3.0, 4.0]), 3.0) == 0.5
    assert np.isnan(p_attain(np.array([]), 3.0))


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(0, 1e6), min_size=1, max_size=50),
    st.floats(0, 1e6),
    st.floats(0, 1e6),
)
def test_p_attain_is_monotone_in_target(samples, t1, t2):
    lo, hi = sorted((t1, t2))
    s = np.array(samples)
    assert p_attain(s, lo) >= p_attain(s, hi)


# ---------------------------------------------------------------- one call


def test_period_forecast_to_dict_is_json_ready(wb):
    targets = pd.DataFrame(
        {
            "rep_id": ["R1", "R1", "R1"],
            "region": [None] * 3,
            "month": pd.to_datetime(["2026-07-01", "2026-08-01", "2026-09-01"]),
            "amount": [5000.0, 5000.0, 5000.0],
        }
    ).astype({"rep_id": "str", "region": "str"})
    wb.targets = targets
    pf = period_forecast(wb, "rep", "R1", "FY2026-Q3", seed=3, n_sims=2000)
    d = json.loads(json.dumps(pf.to_dict()))
    assert d["period_start"] == "2026-07-01" and d["target"] == 15000.0
    assert 0 <= d["p_attain_raw"] <= 1 and "p_attain" not in d  # the shown chance: target_chance
    b = d["blend"]
    assert b["p10"] <= b["p50"] <= b["p90"]
    lo, hi = sorted((d["history"]["mean"], d["pipeline"]["mean"]))
    assert lo - 1 <= b["mean"] <= hi + 1
    again = period_forecast(wb, "rep", "R1", "FY2026-Q3", seed=3, n_sims=2000).to_dict()
    assert again == pf.to_dict()


def test_period_forecast_defaults_and_errors(wb):
    pf = period_forecast(wb, "all", n_sims=500)
    assert pf.period == "FY2026-Q3" and pf.target is None and np.isnan(pf.p_attain_raw)
    with pytest.raises(ParameterError, match="Did you mean 'West'"):
        period_forecast(wb, "region", "Wset")
    with pytest.raises(ParameterError, match="needs a subject"):
        period_forecast(wb, "team")


def _two_rep_wb() -> Workbook:
    """R1 and R2 each win a few deals of random size every month from 2024-01 to 2026-07
    (31 complete months at 2026-08-15: the same history band, so they are pooled)."""
    rng = np.random.default_rng(5)
    deals = []
    for m in pd.period_range("2024-01", "2026-07", freq="M"):
        for rep in ("R1", "R2"):
            for _ in range(int(rng.integers(1, 4))):
                day = m.start_time + pd.Timedelta(days=int(rng.integers(0, 25)))
                amount = float(rng.integers(5, 40)) * 100
                deals.append(
                    _deal(len(deals), rep, "Closed Won", "won", amount, day, day, "Negotiation")
                )
    deals.append(
        _deal(len(deals), "R1", "Proposal", "open", 3000, "2026-07-01", "2026-09-10", cat="commit")
    )
    return make_wb(deals)


def test_period_forecast_uses_the_levels_pooled_choice_and_caches_it(monkeypatch, tmp_path):
    import salesnb.forecast.combined as fc

    monkeypatch.setenv("SALESNB_CACHE", str(tmp_path))
    monkeypatch.setattr(fcache, "_CACHE", {})
    wb = _two_rep_wb()
    pf = period_forecast(wb, "rep", "R1", "FY2026-Q3", n_sims=500)
    wide = monthly_bookings(wb, by="rep", as_of=wb.as_of)
    # below the whole team the level borrows the team's seasonal pattern
    team_months = fc.team_series(wb, wb.as_of)
    many = forecast_many(wide, len(pf.history.mean), parent=team_months)["R1"]
    assert pf.history.method == many.method and pf.history.method.startswith("combo(")
    assert "pooled over 2 subjects" in pf.history.note
    pd.testing.assert_series_equal(pf.history.mean, many.mean)
    for lv in (0.8, 0.95):
        pd.testing.assert_series_equal(pf.history.lower[lv], many.lower[lv])
        pd.testing.assert_series_equal(pf.history.upper[lv], many.upper[lv])
    assert len(list((tmp_path / "forecast").glob("pooled-*.json"))) == 1

    def boom(*args, **kwargs):
        raise AssertionError("pooled choice recomputed despite the cache")

    monkeypatch.setattr(fc, "pooled_choice", boom)
    # the in-process memo, then (memo emptied) the disk cache: same figures, no refit of peers
    again = period_forecast(wb, "rep", "R1", "FY2026-Q3", n_sims=500)
    monkeypatch.setattr(fcache, "_CACHE", {})
    from_disk = period_forecast(wb, "rep", "R1", "FY2026-Q3", n_sims=500)
    same = json.dumps(pf.to_dict())  # NaN (no target) compares equal as text
    assert json.dumps(again.to_dict()) == same == json.dumps(from_disk.to_dict())
    # another rep of the same level reuses the level's choice
    other = period_forecast(wb, "rep", "R2", "FY2026-Q3", n_sims=500)

    def families(method: str) -> list[str]:
        combo = method.split("×")[0]
        return [m.split("(")[0] for m in combo[len("combo(") : -1].split("+")]

    assert families(other.history.method) == families(pf.history.method)
    h = len(pf.history.mean)
    assert other.history.method == forecast_many(wide, h, parent=team_months)["R2"].method
    # explicit methods and the whole team (no peers, its own seasonal pattern) choose alone
    ets = period_forecast(wb, "rep", "R1", "FY2026-Q3", n_sims=500, method="ets")
    assert ets.history.method.startswith("ets(")
    team = period_forecast(wb, "all", None, "FY2026-Q3", n_sims=500)
    all_wide = monthly_bookings(wb, by=None, as_of=wb.as_of)
    own = forecast_history(all_wide["all"], 2, parent=all_wide["all"])
    assert team.history.method == own.method


def test_forecast_history_with_a_choice_equals_forecast_many():
    from salesnb.forecast.history import PooledChoice, pooled_choice

    wide = _noisy_panel(4, 30)
    choice = pooled_choice(wide, 3)
    many = forecast_many(wide, 3)
    for c in wide:
        one = forecast_history(wide[c], 3, choice=choice[c])
        assert one.method == many[c].method
        pd.testing.assert_series_equal(one.upper[0.8], many[c].upper[0.8])
    # families a series cannot fit (too short for ARIMA): it chooses alone, and says so
    short = forecast_history(wide["s0"].iloc[:8], 3, choice=PooledChoice(("arima",), "x"))
    assert not short.method.startswith("arima") and "chose alone" in short.note
    with pytest.raises(ParameterError, match="method='auto'"):
        forecast_history(wide["s0"], 3, method="ets", choice=choice["s0"])


# ---------------------------------------------------------------- pooled choice, combinations


def test_pooled_scores_hand_computed():
    from salesnb.forecast.history import pooled_scores

    # a: mean errors 1, 1; naive 0, 3.  b: mean 2, 2; naive 1, 1.  c lacks drift's partner.
    e = {
        "a": {"mean": np.array([1.0, -1.0]), "naive": np.array([0.0, 3.0])},
        "b": {"mean": np.array([2.0, 2.0]), "naive": np.array([1.0, -1.0]), "drift": np.ones(2)},
    }
    s = pooled_scores(e)
    # only families both subjects have; mean (1+1+2+2)/4 = 1.5, naive (0+3+1+1)/4 = 1.25
    assert list(s.index) == ["naive", "mean"]
    assert s["naive"] == pytest.approx(1.25) and s["mean"] == pytest.approx(1.5)


def test_combination_is_the_weighted_mean_of_its_members():
    from salesnb.forecast.models import _combine, _simple

    y = np.array([10.0, 12, 9, 14, 11, 13, 15, 12])
    a = _simple("mean", y, 3, [5, 6], 3)
    b = _simple("naive", y, 3, [5, 6], 3)
    c = _combine([a, b], np.array([1.0, 3.0]))
    # mean forecast 12, naive 12 -> equal; origin forecasts differ: check by hand
    assert c.mean == pytest.approx(0.25 * a.mean + 0.75 * b.mean)
    assert c.origin_fc[0, 0] == pytest.approx(0.25 * y[:5].mean() + 0.75 * y[4])
    assert c.cov() == pytest.approx(0.25 * a.cov() + 0.75 * b.cov())
    assert c.weights == (0.25, 0.75) and c.members == ("mean", "naive")
    assert c.name == "combo(mean+naive)"


def _noisy_panel(n_subjects: int, n_months: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {f"s{i}": 1000 + rng.normal(0, 100, n_months) for i in range(n_subjects)},
        index=months(n_months),
    )


def test_pooled_choice_takes_the_family_with_least_summed_scaled_error():
    from salesnb.forecast.history import COMBINABLE, POOL_TOP

    wide = _noisy_panel(5, 30)
    out = forecast_many(wide, 3)
    # Same length, so the same origins: the pooled MASE of a family is the mean of the
    # subjects' MASEs of their best candidate in it (each has the same number of errors).
    per = pd.DataFrame(
        {c: out[c].scores.dropna(subset=["mase"]).groupby("family")["mase"].min() for c in wide}
    )
    pooled = per.mean(axis=1).sort_values()
    expected = [pooled.index[0]] + [f for f in pooled.index[1:] if f in COMBINABLE]
    expected = expected[:POOL_TOP]
    methods = {fc.method for fc in out.values()}
    assert len({m.split("(")[0] for m in methods}) == 1  # the same choice for every subject
    for c in wide:
        fc = out[c]
        assert fc.method.startswith("combo(")
        members = [m.split("(")[0] for m in fc.method[6:-1].split("+")]
        assert members == expected
        assert "pooled over 5 subjects" in fc.note


def test_pooled_combination_forecast_equals_the_mean_of_its_members():
    # Five months: only mean, naive and drift; the members are the simple models themselves.
    wide = _noisy_panel(4, 5, seed=11)
    out = forecast_many(wide, 2)
    for c in wide:
        fc = out[c]
        members = fc.method[6:-1].split("+") if fc.method.startswith("combo(") else [fc.method]
        assert 1 <= len(members) <= 3
        singles = [forecast_history(wide[c], 2, method=m).mean for m in members]
        assert fc.mean.to_numpy() == pytest.approx(np.mean(singles, axis=0))


def test_a_subject_alone_keeps_its_own_choice():
    wide = _noisy_panel(3, 30).iloc[:, :1]
    alone = forecast_many(wide, 3)["s0"]
    single = forecast_history(wide["s0"], 3)
    assert alone.method == single.method
    pd.testing.assert_series_equal(alone.mean, single.mean)
    # pooled=False is the per-subject choice for every subject
    wide = _noisy_panel(3, 30)
    each = forecast_many(wide, 3, pooled=False)
    for c in wide:
        assert each[c].method == forecast_history(wide[c], 3).method


def test_pooling_needs_the_same_candidates_and_is_deterministic():
    wide = _noisy_panel(3, 30)
    wide["short"] = np.r_[np.full(20, np.nan), np.linspace(900, 1100, 10)]
    a = forecast_many(wide, 3, n_jobs=1)
    b = forecast_many(wide, 3, n_jobs=2)
    # "short" (10 months: no ARIMA or seasonal model) is alone in its band
    assert a["short"].method == forecast_history(wide["short"], 3).method
    assert "pooled" not in a["short"].note
    for c in wide:
        assert a[c].method == b[c].method
        pd.testing.assert_series_equal(a[c].upper[0.8], b[c].upper[0.8])


def test_combination_intervals_are_calibrated_on_its_own_errors():
    out = forecast_many(_noisy_panel(5, 30), 3)
    fc = out["s0"]
    assert fc.method.startswith("combo(")
    assert 0.75 <= fc.calibration[0.8] <= 3.0
    assert (fc.upper[0.95] > fc.upper[0.8]).all() and (fc.upper[0.8] > fc.mean).all()


# ---------------------------------------------------------------- disk cache of learned values


def test_learned_shock_is_cached_on_disk(monkeypatch, tmp_path):
    import salesnb.forecast.calibration as fcal

    monkeypatch.setenv("SALESNB_CACHE", str(tmp_path))
    monkeypatch.setattr(fcache, "_CACHE", {})
    real = fcal._shock_scores
    calls = []

    def counting(wb, dates):
        calls.append(len(dates))
        return real(wb, dates)

    monkeypatch.setattr(fcal, "_shock_scores", counting)
    wb = _monthly_wb(history_perfect=True)
    first = pipeline_shock(wb)
    assert len(calls) == 1
    files = list((tmp_path / "forecast").glob("shock-*.json"))
    assert len(files) == 1 and not list((tmp_path / "forecast").glob(".*tmp"))
    # a fresh process (empty in-process cache) reads the file instead of recomputing
    monkeypatch.setattr(fcache, "_CACHE", {})
    again = pipeline_shock(wb)
    assert len(calls) == 1
    assert {k: again[k] for k in ("shock", "learned", "quarters", "snapshots", "source")} == {
        k: first[k] for k in ("shock", "learned", "quarters", "snapshots", "source")
    }
    pd.testing.assert_series_equal(again["scores"], first["scores"], check_exact=True)
    # other data (another fingerprint) misses
    other = _monthly_wb(history_perfect=False)
    assert other.fingerprint() != wb.fingerprint()
    pipeline_shock(other)
    assert len(calls) == 2
    assert len(list((tmp_path / "forecast").glob("shock-*.json"))) == 2


def test_learned_blend_errors_are_cached_on_disk(monkeypatch, tmp_path):
    import salesnb.forecast.calibration as fcal

    monkeypatch.setenv("SALESNB_CACHE", str(tmp_path))
    monkeypatch.setattr(fcache, "_CACHE", {})
    wb = _monthly_wb(history_perfect=True)
    first = blend_weight(wb, "rep", "R1", ["R1"])

    def boom(*args, **kwargs):
        raise AssertionError("recomputed despite the disk cache")

    monkeypatch.setattr(fcache, "_CACHE", {})
    monkeypatch.setattr(fcal, "_history_expected", boom)
    assert blend_weight(wb, "rep", "R1", ["R1"]) == first
    # another as_of is another key: recomputed
    with pytest.raises(AssertionError, match="recomputed"):
        blend_weight(wb, "rep", "R1", ["R1"], as_of="2025-10-20")


def test_cache_path_follows_the_cache_dir_convention(monkeypatch, tmp_path):
    from salesnb.forecast.calibration import learned_cache_path

    wb = _monthly_wb(history_perfect=True)
    monkeypatch.setenv("SALESNB_CACHE", str(tmp_path / "a"))
    p = learned_cache_path(wb, "shock", ("2025-10-15",))
    assert p.parent == tmp_path / "a" / "forecast" and p.name.startswith("shock-")
    assert learned_cache_path(wb, "shock", ("2025-10-16",)) != p
    monkeypatch.delenv("SALESNB_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert learned_cache_path(wb, "shock", ("2025-10-15",)).parent == (
        tmp_path / "x" / "salesnb" / "forecast"
    )


def test_every_forecasting_module_is_part_of_the_cache_key(monkeypatch, tmp_path):
    # a changed band method (levelmix.py) must not read band factors cached by the old one
    import shutil

    src = Path(fcache.__file__).parent
    for f in src.glob("*.py"):
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.setattr(fcache, "_CODE_DIR", tmp_path)
    versions = []
    for name in (None, "levelmix.py", "backtest.py"):
        if name:
            (tmp_path / name).write_text((tmp_path / name).read_text() + "\n# changed\n")
        monkeypatch.setattr(fcache, "_CODE_VERSION", None)
        versions.append(fcache.code_version())
    assert len(set(versions)) == 3


def test_an_unwritable_cache_still_gives_the_value(monkeypatch, tmp_path):

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("SALESNB_CACHE", str(blocker))
    monkeypatch.setattr(fcache, "_CACHE", {})
    s = pipeline_shock(_monthly_wb(history_perfect=True))
    assert s["source"] == "learned"


def _assert_tables_equal(a: tuple, b: tuple) -> None:
    assert len(a) == len(b) == 4
    for x, y in zip(a, b, strict=True):
        if x is None:
            assert y is None
        elif isinstance(x, pd.Series):
            pd.testing.assert_series_equal(x, y, check_exact=True)
        else:
            pd.testing.assert_frame_equal(x, y, check_exact=True)
            assert x.attrs == y.attrs


def test_learned_win_probabilities_are_cached_on_disk(monkeypatch, tmp_path):
    import salesnb.forecast.winprob as wp

    monkeypatch.setenv("SALESNB_CACHE", str(tmp_path))
    monkeypatch.setattr(wp, "_CACHE", {})
    real, calls = wp._learn, []

    def once(wb, as_of):
        calls.append(as_of)
        if len(calls) > 1 and calls[-1] == calls[0]:
            raise AssertionError("recomputed despite the disk cache")
        return real(wb, as_of)

    monkeypatch.setattr(wp, "_learn", once)
    wb = _monthly_wb(history_perfect=True)
    as_of = pd.Timestamp("2025-07-01")
    first = wp._learned(wb, as_of)
    files = list((tmp_path / "forecast").glob("winprob-*.json"))
    assert len(files) == 1 and not list((tmp_path / "forecast").glob(".*tmp"))
    # a fresh process (empty in-process cache) reads the file: the very same tables
    monkeypatch.setattr(wp, "_CACHE", {})
    _assert_tables_equal(wp._learned(wb, as_of), first)
    _assert_tables_equal(real(wb, as_of), first)
    assert len(calls) == 1
    # other data (another fingerprint) misses
    other = _monthly_wb(history_perfect=False)
    assert other.fingerprint() != wb.fingerprint()
    monkeypatch.setattr(wp, "_learn", real)
    wp._learned(other, as_of)
    assert len(list((tmp_path / "forecast").glob("winprob-*.json"))) == 2


def test_cached_win_probabilities_give_the_same_forecast(monkeypatch, tmp_path):
    import salesnb.forecast.winprob as wp

    monkeypatch.setenv("SALESNB_CACHE", str(tmp_path))
    wb = _monthly_wb(history_perfect=False)
    results = []
    for _ in range(2):  # computed, then read from disk in a "fresh process"
        monkeypatch.setattr(wp, "_CACHE", {})
        monkeypatch.setattr(fcache, "_CACHE", {})
        fc = forecast_pipeline(wb, ["R1"], "2025-07-01", "2025-09-30", "2025-07-14", n_sims=200)
        results.append((fc.expected, fc.total.quantile(0.1), fc.total.quantile(0.9), fc.shock))
    assert results[0] == results[1]
    assert list((tmp_path / "forecast").glob("winprob-*.json"))


def test_blend_reads_the_team_level_past_totals_from_disk(monkeypatch, tmp_path):
    import salesnb.forecast.calibration as fcal

    monkeypatch.setenv("SALESNB_CACHE", str(tmp_path))
    monkeypatch.setattr(fcache, "_CACHE", {})
    wb = _monthly_wb(history_perfect=True)
    first = blend_weight(wb, "rep", "R1", ["R1"])
    assert len(list((tmp_path / "forecast").glob("past-*.json"))) == 1
    for f in (tmp_path / "forecast").glob("blend-*.json"):
        f.unlink()  # another subject's document: its blend errors are not cached yet

    def boom(*args, **kwargs):
        raise AssertionError("team-level past snapshots recomputed despite the disk cache")

    monkeypatch.setattr(fcache, "_CACHE", {})
    monkeypatch.setattr(fcal, "_past", boom)
    assert blend_weight(wb, "rep", "R1", ["R1"]) == first


def test_documents_computing_the_same_entry_at_once_both_succeed(monkeypatch, tmp_path):
    import threading

    import salesnb.forecast.calibration as fcal

    monkeypatch.setenv("SALESNB_CACHE", str(tmp_path))
    wb = _monthly_wb(history_perfect=True)
    barrier = threading.Barrier(2, timeout=30)
    results, errors = [], []

    def make():
        barrier.wait()  # both compute before either has written
        return [[1.0, 0.1 + 0.2], [float("nan"), 3.0]]

    def document():
        try:
            results.append(fcal._disk_cached(wb, "blend", ("same",), make, list, list))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=document) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 2
    files = list((tmp_path / "forecast").iterdir())
    assert len(files) == 1 and files[0].name.startswith("blend-")
    again = fcal._disk_cached(wb, "blend", ("same",), lambda: 1 / 0, list, list)
    assert again[0] == [1.0, 0.1 + 0.2] and np.isnan(again[1][0])


def _document_history_backtest(wb, subject_type: str, subject: str | None):
    from salesnb.reports import facts, workbooks

    ctx = facts.context(wb, subject_type, subject, forward=True)
    by = None if subject_type == "all" else subject_type
    wide = monthly_bookings(wb, by=by, as_of=ctx.as_of)
    name = wide.columns[0] if subject is None else subject
    table, _, notes = workbooks.forecast_backtest(ctx, wide[name], subject=name)
    return ctx, wide, table, notes


def _as_shown(summary: pd.DataFrame) -> pd.DataFrame:
    """A backtest summary formatted as the document's history backtest table shows it."""
    from salesnb.reports.viewkit import _ratio_text, fmt

    return pd.DataFrame(
        {
            "MASE": [_ratio_text(v) for v in summary["mase"]],
            "vs benchmark": [_ratio_text(v) for v in summary["rel_mase"]],
            "bias": [fmt(v, "growth") for v in summary["bias"]],
            "inside 80% interval": [fmt(v, "percent") for v in summary["coverage"]],
            "forecasts": summary["n"].astype(int).to_numpy(),
        },
    )  # the document shows no index: its first column names the method


def test_document_history_backtest_is_the_levels_pooled_backtest(monkeypatch, tmp_path):
    import salesnb.forecast.backtest as bt

    monkeypatch.setenv("SALESNB_CACHE", str(tmp_path))
    monkeypatch.setattr(fcache, "_CACHE", {})
    wb = _two_rep_wb()
    ctx, wide, table, notes = _document_history_backtest(wb, "rep", "R1")
    # below the whole team the level borrows the team's seasonal pattern
    team_months = team_series(wb, ctx.as_of)
    many = bt.backtest_many(wide, 3, 6, methods=["auto"], parent=team_months)
    own = many.forecasts[many.forecasts["subject"] == "R1"]
    want = bt.summarise(own, many.benchmark)
    want = want.loc[[many.benchmark, "auto"]]  # the benchmark first, as the table shows it
    # the subject's own forecasts of the level's pooled backtest, scored the same way
    assert table.index.tolist() == [0, 1] and table.index.name is None  # no stray header row
    assert table["method"].tolist() == [f"{many.benchmark} (benchmark)", "automatic model"]
    pd.testing.assert_frame_equal(table.drop(columns="method"), _as_shown(want))
    assert table.attrs["rel_mase"] == want.loc["auto", "rel_mase"]
    assert want.loc["auto", "n"] == 18 and "History backtest: 6 monthly origins" in notes[0]
    res = bt.subject_backtest(wb, "rep", "R1", ctx.as_of)
    pd.testing.assert_frame_equal(res.summary, want)
    cols = ["origin", "step", "forecast", "actual", "lower", "upper", "scale", "chosen"]
    got_auto = res.forecasts[res.forecasts["method"] == "auto"][cols].reset_index(drop=True)
    want_auto = own[own["method"] == "auto"][cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(got_auto, want_auto)
    assert got_auto["chosen"].str.startswith("combo(").all()  # pooled over R1 and R2
    assert len(list((tmp_path / "forecast").glob("levelbt-*.json"))) == 1

    def boom(*args, **kwargs):
        raise AssertionError("level backtest recomputed despite the cache")

    monkeypatch.setattr(bt, "backtest_many", boom)
    # the in-process memo, then (memo emptied) the disk cache: the same table, no refits
    for clear in (False, True):
        if clear:
            monkeypatch.setattr(fcache, "_CACHE", {})
        again = _document_history_backtest(wb, "rep", "R1")[2]
        pd.testing.assert_frame_equal(again, table)
        assert again.attrs == table.attrs
    # another subject of the level reads the same entry
    other = _document_history_backtest(wb, "rep", "R2")[2]
    r2 = bt.summarise(many.forecasts[many.forecasts["subject"] == "R2"], many.benchmark)
    pd.testing.assert_frame_equal(
        other.drop(columns="method"), _as_shown(r2.loc[[many.benchmark, "auto"]])
    )


def test_document_history_backtest_of_the_whole_team_chooses_alone(monkeypatch, tmp_path):
    import salesnb.forecast.backtest as bt

    monkeypatch.setenv("SALESNB_CACHE", str(tmp_path))

    def boom(*args, **kwargs):
        raise AssertionError("the whole team has no peers to pool with")

    monkeypatch.setattr(bt, "backtest_many", boom)
    monkeypatch.setattr(bt, "level_backtest", boom)
    wb = _two_rep_wb()
    _, wide, table, _ = _document_history_backtest(wb, "all", None)
    # the whole team borrows its own seasonal pattern
    team = wide["all"]
    alone = bt.backtest_history(team.dropna(), 3, 6, methods=["auto"], parent=team).summary
    pd.testing.assert_frame_equal(table.drop(columns="method"), _as_shown(alone))
    assert table.attrs["rel_mase"] == alone.loc["auto", "rel_mase"]


def test_a_subject_too_short_for_the_levels_seasonal_benchmark_is_scored_as_alone(
    monkeypatch, tmp_path
):
    import salesnb.forecast.backtest as bt

    monkeypatch.setenv("SALESNB_CACHE", str(tmp_path))
    rng = np.random.default_rng(7)
    deals = []
    for m in pd.period_range("2023-09", "2026-07", freq="M"):
        for rep in ("R1", "R2") if m >= pd.Period("2024-04", "M") else ("R1",):
            day = m.start_time + pd.Timedelta(days=int(rng.integers(0, 25)))
            amount = float(rng.integers(5, 40)) * 100
            deals.append(
                _deal(len(deals), rep, "Closed Won", "won", amount, day, day, "Negotiation")
            )
    wb = make_wb(deals)
    wide = monthly_bookings(wb, by="rep", as_of=wb.as_of)
    assert wide["R1"].notna().sum() == 35 and wide["R2"].notna().sum() == 28
    many = bt.backtest_many(wide, 3, 6, methods=["auto"], parent=team_series(wb, wb.as_of))
    assert many.benchmark == "snaive"  # R1 has 24+ months at every origin, R2 at two only
    res = bt.subject_backtest(wb, "rep", "R2", wb.as_of)
    alone = bt.backtest_history(wide["R2"].dropna(), 3, 6, methods=[])
    assert res.benchmark == alone.benchmark == "naive"
    assert list(res.summary.index) == ["naive", "auto"]
    assert (res.summary["n"] == 18).all()
    own = many.forecasts[(many.forecasts["subject"] == "R2") & (many.forecasts["method"] == "auto")]
    pd.testing.assert_frame_equal(
        res.forecasts[res.forecasts["method"] == "auto"].reset_index(drop=True),
        own.reset_index(drop=True),
    )
    # R1 keeps the level's seasonal benchmark
    r1 = bt.subject_backtest(wb, "rep", "R1", wb.as_of)
    assert r1.benchmark == "snaive" and list(r1.summary.index) == ["snaive", "auto"]
    wb.opportunities = wb.opportunities[
        (wb.opportunities["rep_id"] == "R1") | (wb.opportunities["close_date"] >= "2026-02-01")
    ]
    with pytest.raises(NotEnoughDataError, match="the series has 6"):
        bt.subject_backtest(wb, "rep", "R2", wb.as_of)  # a new hire: too short to backtest

"""Coherence across the hierarchy and calibration from past errors (salesnb.forecast.reconcile,
salesnb.forecast.levels), on synthetic series with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.stats import norm

from salesnb.core.errors import ParameterError
from salesnb.forecast.levels import error_matrix, positive_mean
from salesnb.forecast.reconcile import (
    coherent_draws,
    conformal_quantile,
    error_scale,
    interval_coverage,
    min_origins,
    reconcile_means,
    shared_normal_draws,
    summing_matrix,
    top_down,
)


@st.composite
def hierarchies(draw):
    """A random team: reps assigned to managers, managers to regions."""
    n_reps = draw(st.integers(1, 12))
    n_regions = draw(st.integers(1, 3))
    managers = draw(st.lists(st.integers(0, 4), min_size=n_reps, max_size=n_reps))
    region_of = {m: f"G{m % n_regions}" for m in range(5)}
    return pd.DataFrame(
        {
            "rep_id": [f"R{i}" for i in range(n_reps)],
            "manager": [f"M{m}" for m in managers],
            "region": [region_of[m] for m in managers],
        }
    )


def test_summing_matrix_known_team():
    m = pd.DataFrame(
        {"rep_id": ["a", "b", "c"], "manager": ["X", "X", "Y"], "region": ["E", "E", "E"]}
    )
    nodes, S = summing_matrix(m)
    assert nodes == [("all", "all"), ("region", "E"), ("manager", "X"), ("manager", "Y"),
                     ("rep", "a"), ("rep", "b"), ("rep", "c")]  # fmt: skip
    assert S.tolist() == [[1, 1, 1], [1, 1, 1], [1, 1, 0], [0, 0, 1],
                          [1, 0, 0], [0, 1, 0], [0, 0, 1]]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(hierarchies(), st.sampled_from(["bottom_up", "ols", "wls_struct"]), st.data())
def test_reconciled_means_add_up_at_every_node(members, method, data):
    nodes, S = summing_matrix(members)
    base = data.draw(hnp.arrays(float, len(nodes), elements=st.floats(0, 1e6, allow_nan=False)))
    rec = reconcile_means(base, S, method)
    bottom = rec[-S.shape[1] :]
    np.testing.assert_allclose(rec, S @ bottom, rtol=1e-9, atol=1e-6)
    # an already coherent forecast is left as it is (the projection is unbiased)
    again = reconcile_means(rec, S, method)
    np.testing.assert_allclose(again, rec, rtol=1e-9, atol=1e-6)


def test_reconcile_means_known_answers_and_errors():
    S = np.array([[1, 1], [1, 0], [0, 1]])
    # OLS: the total's excess of 2 is split evenly over the three nodes' residuals
    assert reconcile_means(np.array([12.0, 5.0, 5.0]), S, "ols").round(3).tolist() == [
        11.333, 5.667, 5.667]  # fmt: skip
    # WLS (structural): the total counts half as much as each rep: bottom = 5 + 2/4 each
    assert reconcile_means(np.array([12.0, 5.0, 5.0]), S, "wls_struct").tolist() == pytest.approx(
        [11.0, 5.5, 5.5])  # fmt: skip
    with pytest.raises(ParameterError, match="Fix"):
        reconcile_means(np.ones(2), S)
    with pytest.raises(ParameterError, match="Fix"):
        reconcile_means(np.ones(3), S, "minT")


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(float, st.integers(1, 8), elements=st.floats(0, 1e6)),
    st.floats(0, 1e7),
)
def test_top_down_adds_up_and_keeps_shares(bottom, total):
    out = top_down(total, bottom)
    if bottom.sum() > 0:
        assert out.sum() == pytest.approx(total, rel=1e-9, abs=1e-6)
        np.testing.assert_allclose(out * bottom.sum(), bottom * out.sum(), rtol=1e-9, atol=1e-3)
    else:
        np.testing.assert_array_equal(out, bottom)


@settings(max_examples=40, deadline=None)
@given(hierarchies(), st.integers(0, 12), st.integers(0, 10_000), st.data())
def test_every_draw_of_a_parent_is_the_sum_of_its_reps(members, n_origins, seed, data):
    k = len(members)
    means = data.draw(hnp.arrays(float, k, elements=st.floats(0, 1e5)))
    errors = data.draw(
        hnp.arrays(float, (n_origins, k), elements=st.floats(-1, 3) | st.just(float("nan")))
    )
    nodes, S = summing_matrix(members)
    draws = coherent_draws(means, error_scale(means), errors, n_sims=200, seed=seed)
    assert draws.shape == (200, k)
    assert (draws >= 0).all()
    every = draws @ S.T  # every node's draws
    for j, (level, name) in enumerate(nodes):
        reps = members["rep_id"] if level == "all" else members.loc[
            members.get(level, members["rep_id"]) == name, "rep_id"]  # fmt: skip
        cols = members.index[members["rep_id"].isin(reps)]
        np.testing.assert_allclose(every[:, j], draws[:, cols].sum(axis=1))
    # the same seed gives the same draws in every document
    np.testing.assert_array_equal(
        draws, coherent_draws(means, error_scale(means), errors, n_sims=200, seed=seed)
    )


def test_parent_spread_is_the_parents_own_past_errors():
    # two reps whose misses always cancel: the parent never missed, so it has next to no
    # spread (misses are drawn as ratios, so they cancel only nearly: -25% and +25% are
    # logs -0.22 and +0.18 after the offset)
    e = np.array([[-0.25, 0.25], [0.15, -0.15], [0.05, -0.05], [-0.1, 0.1]])
    d = coherent_draws(np.array([100.0, 100.0]), np.array([100.0, 100.0]), e, n_sims=4000)
    assert d[:, 0].std() > 8 and d[:, 1].std() > 8
    assert d.sum(axis=1).std() < 0.25 * d[:, 0].std()
    # misses that always agree add up: the parent's spread is the sum of the reps'
    same = np.abs(e)
    d = coherent_draws(np.array([100.0, 100.0]), np.array([100.0, 100.0]), same, n_sims=4000)
    assert d.sum(axis=1).std() == pytest.approx(d[:, 0].std() + d[:, 1].std(), rel=1e-6)


def test_known_ratio_distribution_gives_known_quantiles():
    # past ratios (booked + 0.25 forecast) / (1.25 forecast) lognormal with sigma 0.3 (400
    # evenly spread normal quantiles): today's draws are 1000 * (1.25 exp(sigma z - sigma^2/2)
    # - 0.25), the mean kept at 1000. By hand: the 2.5%, 10%, 50%, 90% and 97.5% quantiles
    # are 413.7, 563.5, 945.3, 1505.3 and 1901.5
    z = norm.ppf((np.arange(400) + 0.5) / 400)[:, None]
    e = 1.25 * (np.exp(0.3 * z) - 1.0)
    d = coherent_draws(np.array([1000.0]), np.array([1000.0]), e, n_sims=40_000, seed=1)[:, 0]
    expected = [413.7, 563.5, 945.3, 1505.3, 1901.5]
    got = np.quantile(d, [0.025, 0.1, 0.5, 0.9, 0.975])
    np.testing.assert_allclose(got, expected, rtol=0.02)
    assert d.mean() == pytest.approx(1000, abs=1e-6)  # centred: the figure is not moved
    assert d.min() > 0  # a ratio never drawn below what the past saw: no mass at 0


def test_a_rep_who_never_booked_nothing_is_not_drawn_at_nothing():
    """R01 of the sample at FY2026-Q4's start: misses -84% ... +144% of the forecast; drawn
    as differences (the method before ratios), 12% of the draws were $0 and the band read
    "$0 - $347K" though no past quarter came near nothing."""
    e = np.array([[-0.84], [0.76], [0.90], [-0.48], [0.30], [-0.51], [-0.36], [1.44]])
    d = coherent_draws(np.array([168_000.0]), np.array([168_000.0]), e, n_sims=20_000)[:, 0]
    assert np.mean(d <= 1.0) < 0.02
    assert np.quantile(d, 0.1) > 15_000
    assert d.mean() == pytest.approx(168_000, rel=2e-3)  # up to the few draws floored at 0
    # a rep who did book nothing once keeps that possibility
    e0 = e.copy()
    e0[0, 0] = -1.0
    d0 = coherent_draws(np.array([168_000.0]), np.array([168_000.0]), e0, n_sims=20_000)[:, 0]
    assert np.quantile(d0, 0.05) < np.quantile(d, 0.05)


def test_bands_learned_from_past_errors_cover_80_percent_of_new_outcomes():
    # synthetic sales: each quarter a shared shock and each rep's own luck (skewed: gamma);
    # 12 past quarters teach the band, 200 new quarters check it, at each level, averaged
    # over 40 different pasts (one past alone is luck)
    rng = np.random.default_rng(3)
    members = pd.DataFrame({"rep_id": [f"R{i}" for i in range(8)],
                            "manager": ["A"] * 4 + ["B"] * 4})  # fmt: skip
    nodes, S = summing_matrix(members, ("all", "manager", "rep"))
    means = np.array([50.0, 80, 120, 60, 90, 40, 70, 100])

    def outcomes(n):
        shared = rng.normal(0, 0.15, (n, 1))
        own = rng.gamma(4.0, 0.1, (n, 8)) - 0.4
        return means * (1 + shared + own)

    cover = {level: [] for level in ("all", "manager", "rep")}
    for i in range(40):
        errors = (outcomes(12) - means) / error_scale(means)
        draws = coherent_draws(means, error_scale(means), errors, n_sims=4000, seed=i) @ S.T
        lo, hi = np.quantile(draws, [0.1, 0.9], axis=0)
        new = outcomes(200) @ S.T
        for j, (level, _) in enumerate(nodes):
            cover[level].append(interval_coverage(np.full(200, lo[j]), np.full(200, hi[j]),
                                                  new[:, j]))  # fmt: skip
    for level, c in cover.items():
        assert 0.72 <= np.mean(c) <= 0.86, (level, np.mean(c))


def test_fallback_draws_are_coherent_but_say_nothing_learned():
    d = shared_normal_draws(np.array([100.0, 50.0]), np.array([10.0, 5.0]), n_sims=30_000)
    assert np.corrcoef(d.T)[0, 1] == pytest.approx(0.3, abs=0.03)
    assert d.mean(axis=0) == pytest.approx([100.0, 50.0], abs=0.5)
    with pytest.raises(ParameterError, match="Fix"):
        shared_normal_draws(np.ones(2), np.ones(2), shared=1.5)


def test_conformal_quantile_and_minimum_origins():
    s = np.arange(1.0, 10.0)
    assert conformal_quantile(s, 0.8) == 8.0  # ceil(10 x 0.8) = 8th smallest of 9
    assert conformal_quantile(s, 0.5) == 5.0
    assert math.isnan(conformal_quantile(s, 0.95))  # needs 19 scores
    assert min_origins(0.8) == 9 and min_origins(0.95) == 39
    # with exchangeable scores the conformal quantile covers at least the level
    rng = np.random.default_rng(0)
    hits = [rng.exponential() <= conformal_quantile(rng.exponential(size=19), 0.8)
            for _ in range(4000)]  # fmt: skip
    assert 0.78 <= np.mean(hits) <= 0.86


def test_error_scale_and_error_matrix_known_answers():
    assert error_scale(np.array([100.0, 10.0, 80.0])).tolist() == [100.0, 20.0, 80.0]
    e = pd.DataFrame({"date": ["2025-06-30"] * 2 + ["2025-09-30"] * 2, "kind": ["start"] * 4,
                      "rep_id": ["a", "b", "a", "b"], "forecast": [100.0, 50.0, 100.0, 100.0],
                      "actual": [120.0, 40.0, 50.0, 150.0]})  # fmt: skip
    m = error_matrix(e, "start", ["b", "a", "new"])
    # scale: the forecast, at least a quarter of the date's median forecast (18.75, then 25)
    np.testing.assert_allclose(m[:, :2], [[-0.2, 0.2], [0.5, -0.5]])
    assert np.isnan(m[:, 2]).all()
    assert error_matrix(e, "mid", ["a"]).shape == (0, 1)


def test_positive_mean_is_the_mean_of_clipped_normal_draws():
    rng = np.random.default_rng(0)
    x = np.maximum(rng.normal(20.0, 50.0, 400_000), 0)
    assert positive_mean(20.0, 50.0) == pytest.approx(x.mean(), rel=0.01)
    assert positive_mean(-5.0, 0.0) == 0.0


def _team_candidates(wb, args: dict, team) -> tuple[pd.DataFrame, list[float]]:
    """The reps' table and the whole team's three candidate figures for the rest of the
    period: the team's forecast shared out, the reps' own added up, the same quarter last
    year (a rep without one counts its share of the team's, as the kit reads it)."""
    from salesnb.forecast import combined as fc
    from salesnb.forecast import levels

    whole = fc.team_forecast(wb, args["period"], args["as_of"])
    table = levels.rep_table(wb, args["period"], args["as_of"], whole)
    start, end = wb.config.calendar.period_bounds(args["period"])
    naive = levels.same_quarter_last_year(wb, table.index, start, end, team.as_of)
    naive = np.where(np.isfinite(naive), naive, table["rest"].to_numpy())
    return table, [table["rest"].sum(), table["own"].sum(), naive.sum()]


def test_documents_of_a_manager_and_its_reps_add_up(sample_wb):
    """Through the public API: a manager's, a region's and the whole team's expected figure,
    band and P(target) come from the sums of their reps' draws (same as-of, same seed)."""
    from salesnb.forecast import combined as fc

    wb = sample_wb
    reps = wb.reps
    manager = reps["manager"].iloc[0]
    mine = reps.loc[reps["manager"] == manager, "rep_id"].tolist()
    args = {"period": "FY2026-Q4", "as_of": "2026-09-30", "n_sims": 500}
    parent = fc.period_forecast(wb, "manager", manager, **args)
    kids = [fc.period_forecast(wb, "rep", r, **args) for r in mine]
    np.testing.assert_allclose(parent.blended.samples, sum(k.blended.samples for k in kids))
    assert parent.to_dict()["blend"]["mean"] == pytest.approx(
        sum(k.to_dict()["blend"]["mean"] for k in kids), rel=1e-9
    )
    team = fc.period_forecast(wb, "all", **args)
    every = [fc.period_forecast(wb, "rep", r, **args) for r in reps["rep_id"]]
    np.testing.assert_allclose(team.blended.samples, sum(k.blended.samples for k in every))
    # the whole team's expected figure is its level's chosen mix of the team's own forecast,
    # the reps' own forecasts added up and the same quarter last year (issue 17)
    _, cands = _team_candidates(wb, args, team)
    mix = team.calibration["mix"]["all"]
    want = team.already_won + float(np.dot(mix, cands))
    assert team.blended.mean == pytest.approx(want, rel=0.02)
    cal = parent.calibration
    assert cal["calibrated"] and cal["quarters"] >= 6 and cal["horizon"] == "quarter start"
    assert cal["sentence"] in parent.notes


def test_a_new_hires_band_has_width(sample_wb):
    """A rep who joined after most replayed quarters started was "forecast" nothing and
    booked nothing at those past dates; those zero errors must not make the rep's band a
    point. The sample's new hires (R16 joined 2026-04-06, R26 later) at mid-quarter: their
    80% band is at least as wide as the error scale's floor share of a typical rep, and the
    already-won amount stays the floor of every draw."""
    from salesnb.data.sample import PERSONAS
    from salesnb.forecast import combined as fc
    from salesnb.forecast.reconcile import error_scale

    wb = sample_wb
    args = {"period": "FY2026-Q3", "as_of": "2026-08-14", "n_sims": 2000}
    table_rest = []
    for rep in PERSONAS["new_hires"]:
        pf = fc.period_forecast(wb, "rep", rep, **args)
        p10, p90 = np.percentile(pf.blended.samples, [10, 90])
        assert pf.calibration["calibrated"]
        assert pf.blended.samples.min() >= pf.already_won - 1e-6
        table_rest.append((rep, p90 - p10, pf.blended.mean - pf.already_won))
    from salesnb.forecast import levels

    whole = fc.team_forecast(wb, args["period"], args["as_of"])
    table = levels.rep_table(wb, args["period"], args["as_of"], whole)
    floor = float(error_scale(table["rest"].to_numpy()).min())  # 0.25 x the median rep's
    for rep, width, _rest in table_rest:
        assert width > 0.5 * floor, (rep, width, floor)


def test_with_few_past_quarters_the_figure_follows_the_mix_and_the_band_says_rough(sample_wb):
    """At FY2025-Q3's start the sample has 3 replayed past quarters: too few to calibrate a
    band (6), enough to choose each level's mix (2). The whole team's figure is its level's
    mix of its three candidates, reps still add up to it draw by draw, and the sentence says
    both how the figure was chosen and that the band is rough."""
    from salesnb.forecast import combined as fc
    from salesnb.forecast import levels

    wb = sample_wb
    args = {"period": "FY2025-Q3", "as_of": "2025-06-30", "n_sims": 500}
    team = fc.period_forecast(wb, "all", **args)
    cal = team.calibration
    assert not cal["calibrated"] and cal["quarters"] == 3 and cal["horizon"] == "quarter start"
    assert levels.MIN_MIX_QUARTERS <= cal["quarters"] < levels.MIN_QUARTERS
    table, cands = _team_candidates(wb, args, team)
    mix = cal["mix"]["all"]
    assert mix != [1.0, 0.0, 0.0]  # a mix other than top-down alone, so the test can fail
    want = team.already_won + float(np.dot(mix, cands))
    assert team.blended.mean == pytest.approx(want, rel=0.02)
    every = [fc.period_forecast(wb, "rep", r, **args) for r in wb.reps["rep_id"]]
    np.testing.assert_allclose(team.blended.samples, sum(k.blended.samples for k in every))
    assert "follows what forecast this level best" in cal["sentence"]
    assert "in the 3 past quarters" in cal["sentence"]
    assert "Uncalibrated band: only 3 past quarters" in cal["sentence"]
    assert cal["sentence"] in team.notes
    # how much the reps' misses moved together is learned from those quarters: on the
    # sample hardly at all, so the team's band is narrower than the assumed 0.3 makes it
    from salesnb.forecast.reconcile import SHARED_PRIOR, shared_share

    weight = float(table["weight"].iloc[0])
    model = levels.mix_model(wb, levels.past_errors(wb, team.as_of, weight), "start",
                             [str(r) for r in table.index])  # fmt: skip
    assert cal["shared"] == pytest.approx(shared_share(model["errors"]))
    assert cal["shared"] < SHARED_PRIOR / 2
    assert "move together as much as in those 3 quarters" in cal["sentence"]


def test_shared_share_is_the_one_way_anova_correlation_shrunk_by_one_quarter():
    from salesnb.forecast.reconcile import SHARED_PRIOR, shared_share

    # by hand: W = mean(1, 1) = 1; B = var(2, 4) = 2; k = 3; common = 2 - 1/3 = 5/3;
    # rho = (5/3) / (5/3 + 1) = 0.625; two dates and one prior date: (2 * 0.625 + 0.3) / 3
    e = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]])
    assert shared_share(e) == pytest.approx((2 * 0.625 + 0.3) / 3)
    assert shared_share(e, prior_weight=0.0) == pytest.approx(0.625)
    # a rep not forecast at a date is left out of that date, not read as a miss of 0
    e_nan = np.array([[1.0, 2.0, 3.0, np.nan], [3.0, 4.0, 5.0, np.nan]])
    assert shared_share(e_nan) == pytest.approx(shared_share(e))
    # too little to learn from: the prior
    assert shared_share(e[:1]) == SHARED_PRIOR
    assert shared_share(np.array([[1.0], [2.0]])) == SHARED_PRIOR


@pytest.mark.parametrize("rho", [0.0, 0.15, 0.5])
def test_shared_share_recovers_a_known_correlation(rho):
    """Misses with a known common part (28 reps, 400 dates): the estimate is within 0.05."""
    from salesnb.forecast.reconcile import shared_share

    rng = np.random.default_rng(7)
    z = rng.standard_normal((400, 1))
    e = np.sqrt(rho) * z + np.sqrt(1 - rho) * rng.standard_normal((400, 28))
    assert shared_share(e, prior_weight=0.0) == pytest.approx(rho, abs=0.05)
    # and draws made with it move together as much
    d = shared_normal_draws(np.full(2, 100.0), np.full(2, 10.0), shared=rho, n_sims=40_000)
    assert np.corrcoef(d.T)[0, 1] == pytest.approx(rho, abs=0.03)


def test_with_one_past_quarter_the_figure_is_half_the_teams_forecast_half_last_year(sample_wb):
    """At FY2025-Q1's start the sample has one replayed past quarter: nothing to tell which
    forecast suits a level. The whole team's, regions' and managers' figures are then half
    the team's forecast shared out and half the same quarter last year (on the sample the
    team's total missed by $0.18M where the team's forecast alone missed by $0.57M), each
    rep's its share of its manager's by the team's forecast; reps still add up draw by draw,
    and the documents say so."""
    from salesnb.forecast import combined as fc
    from salesnb.forecast import levels

    wb = sample_wb
    args = {"period": "FY2025-Q1", "as_of": "2024-12-31", "n_sims": 2000}
    team = fc.period_forecast(wb, "all", **args)
    cal = team.calibration
    assert cal["quarters"] == 1 and not cal["calibrated"]
    assert cal["mix"] == {
        "all": [0.5, 0.0, 0.5],
        "region": [0.5, 0.0, 0.5],
        "manager": [0.5, 0.0, 0.5],
        "rep": [1.0, 0.0, 0.0],
    }
    table, (top_down, _, last_year) = _team_candidates(wb, args, team)
    assert abs(top_down - last_year) > 0.2 * top_down  # the candidates differ: can fail
    # each rep's figure drawn around its mean and floored at 0: the expected total adds up
    # the reps' floored means
    start, end = wb.config.calendar.period_bounds(args["period"])
    naive = levels.same_quarter_last_year(wb, table.index, start, end, team.as_of)
    own = table["own"].to_numpy()
    mixes = {k: levels.MIXES.index(tuple(v)) for k, v in cal["mix"].items()}
    cands = np.vstack([table["rest"].to_numpy(), own, naive])
    means = levels.coherent_means(cands, levels.hierarchy(wb, list(table.index)), mixes)
    assert means.sum() == pytest.approx((top_down + last_year) / 2, rel=1e-9)
    sds = table["sd"].to_numpy() * np.divide(means, own, out=np.ones_like(own), where=own > 0)
    floored = sum(levels.positive_mean(m, s) for m, s in zip(means, sds, strict=True))
    assert team.blended.mean == pytest.approx(team.already_won + floored, rel=0.02)
    assert abs(team.blended.mean - top_down) > 0.08 * top_down
    every = {r: fc.period_forecast(wb, "rep", r, **args) for r in wb.reps["rep_id"]}
    np.testing.assert_allclose(team.blended.samples, sum(k.blended.samples for k in every.values()))
    words = (
        "With only 1 past quarter to tell which forecast suits this level best, the figure is "
        "half the team's forecast shared out, half the same quarter last year, which holds "
        "the season"
    )
    assert words in cal["sentence"] and cal["sentence"] in team.notes
    assert "Uncalibrated band: only 1 past quarter to check it against" in cal["sentence"]
    # a rep's document says how its own figure was shared
    sentence = every["R01"].calibration["sentence"]
    assert "a rep's figure is its share of its manager's" in sentence
    assert "half the same quarter last year" in sentence


def test_a_subject_without_a_same_quarter_last_year_is_not_told_of_one(public_dir):
    """The public set has ten months of bookings: no past quarter to replay and no same
    quarter last year. Its documents keep the team's forecast shared out (the default's
    other half has nothing to stand on) and say so, never that last year's quarter counted."""
    import salesnb
    from salesnb.forecast import combined as fc

    wb = salesnb.load(public_dir, profile="crm_sales_opportunities")
    start, _ = wb.config.calendar.period_bounds("FY2017-Q4")
    args = {"period": "FY2017-Q4", "as_of": start - pd.Timedelta(days=1), "n_sims": 500}
    manager = str(wb.reps["manager"].iloc[0])
    for kind, name in (("all", None), ("manager", manager)):
        doc = fc.period_forecast(wb, kind, name, **args)
        cal = doc.calibration
        assert cal["quarters"] == 0
        sentence = cal["sentence"]
        assert "With no past quarter to tell which forecast suits this level best" in sentence
        assert "the team's forecast shared out (with no same quarter last year" in sentence
        assert "half the same quarter last year" not in sentence
        assert sentence in doc.notes
        # and the figure is the team's forecast shared out: the subject's own table rows
        from salesnb.forecast import levels

        table = levels.rep_table(
            wb, args["period"], doc.as_of, fc.team_forecast(wb, args["period"], doc.as_of)
        )
        mine = (
            wb.reps["rep_id"].astype(str).tolist()
            if name is None
            else (wb.reps.loc[wb.reps["manager"] == name, "rep_id"].astype(str).tolist())
        )
        want = doc.already_won + table.loc[mine, "rest"].sum()
        assert doc.blended.mean == pytest.approx(want, rel=0.05)

"""P(target) calibrated by Platt scaling: known answers on synthetic outcomes."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from salesnb.forecast.ptarget import brier, logit, platt_apply, platt_fit


def _overconfident(n: int, seed: int):
    """Outcomes X ~ N(0, 1); a forecaster who believes N(0.3, 0.5) (runs high, too sure).

    Returns the forecaster's P(X >= T), whether X reached T, and the thresholds T."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    t = rng.uniform(-1.5, 1.5, n)
    raw = stats.norm.sf(t, loc=0.3, scale=0.5)
    return raw, (x >= t).astype(float), t


def test_known_normal_outcome_gets_its_true_probability():
    raw, hit, _ = _overconfident(20_000, 0)
    a, b = platt_fit(raw, hit)
    # logistic ~ probit * 1.7: logit(raw) = 3.4 (0.3 - T), truth 1.7 (-T) -> b 0.5, a -0.51
    # (the logistic's heavier tails pull b a little lower)
    assert 0.4 < b < 0.55 and abs(a + 0.51) < 0.08
    grid = np.linspace(-1.2, 1.2, 13)
    truth = stats.norm.sf(grid)
    before = stats.norm.sf(grid, loc=0.3, scale=0.5)
    after = platt_apply(before, a, b)
    assert np.abs(after - truth).max() < 0.04  # the true P(X >= T), to within 4 points
    assert np.abs(before - truth).max() > 0.2  # and the raw one was far off
    # on fresh outcomes the calibrated probability scores better than the raw one
    raw2, hit2, _ = _overconfident(20_000, 1)
    assert brier(platt_apply(raw2, a, b), hit2) < brier(raw2, hit2) - 0.01


def test_calibrated_probability_keeps_a_calibrated_forecaster():
    rng = np.random.default_rng(2)
    t = rng.uniform(-2.0, 2.0, 20_000)
    p = stats.norm.sf(t)
    hit = (rng.standard_normal(t.size) >= t).astype(float)
    a, b = platt_fit(p, hit)
    assert abs(a) < 0.08 and abs(b - 1.0) < 0.08


def test_prior_rules_with_little_data_and_fades_with_much():
    assert platt_fit(np.array([]), np.array([]), prior=(-0.4, 0.7)) == (-0.4, 0.7)
    raw, hit, _ = _overconfident(20, 3)
    a, b = platt_fit(raw, hit, prior=(0.0, 1.0), strength=1e6)
    assert abs(a) < 1e-3 and abs(b - 1.0) < 1e-3
    raw, hit, _ = _overconfident(20_000, 4)
    loose = platt_fit(raw, hit, prior=(0.0, 1.0), strength=1.0)
    assert 0.4 < loose[1] < 0.55


def test_known_values():
    assert platt_apply(0.5, 0.0, 1.0) == 0.5
    # hand: logit(0.7) = 0.8473; 0.8 * 0.8473 - 0.5 = 0.1778; 1 / (1 + exp(-0.1778)) = 0.5443
    assert round(platt_apply(0.7, -0.5, 0.8), 4) == 0.5443
    assert brier(np.array([1.0, 0.0, 0.5]), np.array([1.0, 1.0, 0.0])) == (0 + 1 + 0.25) / 3
    assert np.isnan(brier(np.array([]), np.array([])))
    assert logit(0.0) == logit(0.001)  # clipped, never infinite


@settings(max_examples=60, deadline=None)
@given(
    a=st.floats(-3, 3),
    b=st.floats(0.01, 3),
    p=st.lists(st.floats(0, 1), min_size=2, max_size=20),
)
def test_calibration_is_a_monotone_map_into_0_1(a, b, p):
    q = platt_apply(np.sort(np.array(p)), a, b)
    assert np.all((q > 0) & (q < 1))
    assert np.all(np.diff(q) >= -1e-12)  # a higher simulated chance never ranks lower

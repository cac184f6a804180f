"""P(target) for short histories: the pooled calibration map on synthetic outcomes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from salesnb.forecast.ptarget import (
    MIN_OUTCOMES,
    MIN_PAST_QUARTERS,
    NOT_CALIBRATED,
    brier,
    chance,
    log_score,
    platt_apply,
    pooled_map,
)


def _evidence(quarters: int, per_date: int, seed: int, *, high: float = 0.3) -> pd.DataFrame:
    """Replayed outcomes whose simulated chances run high: the truth is X ~ N(0, 1), the
    simulation believes N(high, 0.5); four levels, both points of the quarter."""
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(quarters):
        for kind in ("start", "mid"):
            t = rng.uniform(-1.5, 1.5, per_date)
            x = rng.standard_normal(per_date)
            lv = rng.choice(["rep", "rep", "rep", "manager", "region", "all"], per_date)
            rows.append(pd.DataFrame({
                "date": f"q{q}-{kind}", "kind": kind, "level": lv, "subject": "s",
                "p": stats.norm.sf(t, loc=high, scale=0.5), "hit": (x >= t).astype(float),
            }))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def test_too_high_chances_are_lowered_and_score_better_on_fresh_quarters():
    ev = _evidence(3, 40, 0)  # three past quarters only: a short history
    m = pooled_map(ev, "start", "rep")
    assert m["calibrated"] and m["quarters"] == 3 and m["n_pooled"] == 120
    # a chance the simulation puts at 70% came true about 44% of the time (truth below)
    t = stats.norm.isf(0.7, loc=0.3, scale=0.5)
    truth = stats.norm.sf(t)
    assert platt_apply(0.7, m["a"], m["b"]) < 0.7 - 0.1
    assert abs(platt_apply(0.7, m["a"], m["b"]) - truth) < 0.12
    fresh = _evidence(4, 200, 1)
    s = fresh[fresh["kind"] == "start"]
    after = platt_apply(s["p"].to_numpy(), m["a"], m["b"])
    assert brier(after, s["hit"]) < brier(s["p"], s["hit"]) - 0.01
    assert log_score(after, s["hit"]) < log_score(s["p"], s["hit"])


def test_a_level_with_few_outcomes_follows_the_pool():
    ev = _evidence(3, 40, 2)
    ev = ev[~((ev["level"] == "all") & (ev.index % 4 != 0))]  # hardly any team outcomes
    pooled = pooled_map(ev.assign(level="rep"), "start", "rep")
    team = pooled_map(ev, "start", "all")
    assert team["n"] < 10
    assert abs(team["a"] - pooled["a"]) < 0.3 and abs(team["b"] - pooled["b"]) < 0.3
    # a grouping with no replayed outcomes of its own (a "team" of reps) gets the pooled map
    own = pooled_map(ev, "start", "team")
    assert own["n"] == 0 and own["calibrated"]
    assert abs(own["a"] - pooled["a"]) < 0.3 and abs(own["b"] - pooled["b"]) < 0.3


def test_thin_evidence_is_not_calibrated_and_says_so():
    assert MIN_PAST_QUARTERS >= 2
    one = _evidence(1, 60, 3)
    m = pooled_map(one, "start", "rep")
    assert not m["calibrated"] and (m["a"], m["b"]) == (0.0, 1.0)
    assert m["why"].startswith(NOT_CALIBRATED)
    assert np.isnan(chance(0.8, m, 0.0, 100.0))  # no confident raw share
    few = _evidence(2, 10, 4)  # two quarters but only 10 outcomes per point of the quarter
    m = pooled_map(few, "mid", "rep")
    assert m["n_pooled"] < MIN_OUTCOMES and not m["calibrated"] and "past chances" in m["why"]
    none = pooled_map(pd.DataFrame(columns=["date", "kind", "level", "p", "hit"]), "mid", "rep")
    assert not none["calibrated"] and none["quarters"] == 0
    # all hits: nothing to learn the lower side from
    allhit = _evidence(3, 40, 5).assign(hit=1.0)
    assert not pooled_map(allhit, "start", "rep")["calibrated"]


def test_only_the_evidence_given_is_used_no_leak_of_the_forecast_quarter():
    """The map at a date is fitted on quarters before it: adding the forecast quarter's own
    outcomes (here: the opposite of what the past says) would move it, so callers must not;
    the map fitted without them is unchanged by what the forecast quarter did."""
    past = _evidence(3, 40, 6)
    now = _evidence(1, 40, 7).assign(date="now-start")
    now = now[now["kind"] == "start"].assign(hit=lambda d: 1.0 - d["hit"])
    m_past = pooled_map(past, "start", "rep")
    m_leak = pooled_map(pd.concat([past, now]), "start", "rep")
    assert (m_leak["a"], m_leak["b"]) != (m_past["a"], m_past["b"])
    assert pooled_map(past, "start", "rep") == m_past  # a pure function of its evidence


def test_the_other_point_of_the_quarter_informs_but_does_not_decide():
    ev = _evidence(3, 40, 8)
    flipped = ev.copy()
    mid = flipped["kind"] == "mid"
    flipped.loc[mid, "hit"] = 1.0 - flipped.loc[mid, "hit"]  # mid outcomes anti-calibrated
    a = pooled_map(ev, "start", "rep")
    b = pooled_map(flipped, "start", "rep")
    # start's own 120 outcomes keep its map lowering high chances
    assert platt_apply(0.8, b["a"], b["b"]) < 0.8 and b["b"] > 0
    assert (a["a"], a["b"]) != (b["a"], b["b"])


def test_chance_by_hand():
    cal = {"a": -0.5, "b": 0.8, "calibrated": True}
    assert chance(0.7, cal, 0.0, 100.0) == pytest.approx(0.5443, abs=1e-4)  # as platt_apply
    assert chance(0.7, cal, 100.0, 100.0) == 1.0  # reached already: certain
    assert np.isnan(chance(0.7, cal, 0.0, None))
    assert np.isnan(chance(float("nan"), cal, 0.0, 100.0))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), high=st.floats(-0.5, 0.8), q=st.integers(2, 5))
def test_the_map_is_monotone_whatever_the_evidence(seed, high, q):
    ev = _evidence(q, 30, seed, high=high)
    for kind in ("start", "mid"):
        for level in ("rep", "manager", "all"):
            m = pooled_map(ev, kind, level)
            grid = platt_apply(np.linspace(0.01, 0.99, 25), m["a"], m["b"])
            assert np.all(np.diff(grid) >= -1e-12)  # a higher simulated share never ranks lower
            assert np.all((grid > 0) & (grid < 1))


def test_monthly_bookings_memo_returns_fresh_equal_copies(tiny_wb):
    from dataclasses import replace

    from salesnb.forecast.subjects import monthly_bookings

    a = monthly_bookings(tiny_wb, by="region")
    a.iloc[:, :] = -1.0  # a caller's change never reaches the memo
    b = monthly_bookings(tiny_wb, by="region")
    assert (b.fillna(0.0) >= 0).all().all()
    assert b.equals(monthly_bookings(tiny_wb, by="region"))
    # a rep changed in place is seen (its region renamed)
    tiny_wb.reps.loc[tiny_wb.reps["rep_id"] == "A", "region"] = "North"
    try:
        assert "North" in monthly_bookings(tiny_wb, by="region").columns
    finally:
        tiny_wb.reps.loc[tiny_wb.reps["rep_id"] == "A", "region"] = "East"
    # other data (here: no deals won) is computed afresh, not read from the memo
    opps = tiny_wb.opportunities.assign(outcome="open")
    other = monthly_bookings(replace(tiny_wb, opportunities=opps), by="region")
    assert not other.equals(b)

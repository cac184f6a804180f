"""In-period factors: how much of a deal's win probability lands in the quarter it is due in,
learned apart for deals on time and deals already past their close date; without snapshots,
from the open deals of past month-ends rebuilt from the deals' dates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_forecast import _deal, make_wb

from salesnb.forecast.pipeline import forecast_pipeline
from salesnb.forecast.winprob import (
    PAST_DUE,
    SLIP_PRIOR,
    deal_probabilities,
    in_period_factors,
    rebuilt_snapshots,
)


@pytest.fixture
def stale_wb():
    """No snapshots; as of 2026-06-30 (FY2026-Q1 and Q2 ended), every deal at Proposal. At a
    month-end the quarter in play is the one of the next day (a quarter's last day looks at
    the next quarter); a deal past its close date is due the next day:

    * O1 created 2025-12-15, won 2026-01-20: open at 2025-12-31, due in Q1, won in it;
    * O2 created 2026-01-10, won 2026-02-15: open at 2026-01-31, on time, won in Q1;
    * O3 created 2026-01-10, due 2026-01-25 and still open: past due at 2026-01-31, 02-28
      (Q1), 03-31, 04-30 and 05-31 (Q2), never won; at 06-30 its quarter (Q3) has not ended;
    * O4 created 2026-04-05, lost 2026-05-20: open at 2026-04-30, on time, not won.
    """
    deals = [
        _deal(1, "R1", "Closed Won", "won", 1000, "2025-12-15", "2026-01-20", "Proposal"),
        _deal(2, "R1", "Closed Won", "won", 1000, "2026-01-10", "2026-02-15", "Proposal"),
        _deal(3, "R1", "Proposal", "open", 8000, "2026-01-10", "2026-01-25"),
        _deal(4, "R1", "Closed Lost", "lost", 1000, "2026-04-05", "2026-05-20", "Proposal"),
    ]
    return make_wb(deals, as_of="2026-06-30")


def test_rebuilt_month_ends_hold_the_deals_open_then(stale_wb):
    s = rebuilt_snapshots(stale_wb, "2026-06-30")
    open_at = s.groupby("as_of")["opp_id"].apply(sorted).to_dict()
    assert open_at[pd.Timestamp("2025-12-31")] == ["O1"]
    assert open_at[pd.Timestamp("2026-01-31")] == ["O2", "O3"]
    assert open_at[pd.Timestamp("2026-04-30")] == ["O3", "O4"]
    assert open_at[pd.Timestamp("2026-06-30")] == ["O3"]
    assert set(s["stage"]) == {"Proposal"}


def test_factors_on_time_and_past_due_are_hand_computed(stale_wb):
    t = in_period_factors(stale_wb, "2026-06-30").set_index("key")
    on, late = t.loc["Proposal"], t.loc["Proposal" + PAST_DUE]
    p = on["p_eventual"]
    # on time: O1 and O2 (won in their quarter) and O4 (not): 2 of 3
    assert (on["n"], on["won_in_period"]) == (3, 2)
    # (capped just above 1: landing in the quarter never makes a win likelier than ever)
    assert on["factor"] == pytest.approx(
        min((2 + SLIP_PRIOR * p) / (3 + SLIP_PRIOR) / p, 1 / 0.999)
    )
    # past due: O3 at five month-ends, never won: (0 + 30 p) / (5 + 30) / p = 30 / 35
    assert (late["n"], late["won_in_period"]) == (5, 0)
    assert late["factor"] == pytest.approx(30 / 35)
    # rebuilt deals show their furthest stage, not the one they were at that day: every stage
    # shares the counts of deals on time, and of deals past due
    for stage in ("Prospecting", "Negotiation"):
        assert tuple(t.loc[stage, ["n", "won_in_period"]]) == (3, 2)
        assert tuple(t.loc[stage + PAST_DUE, ["n", "won_in_period"]]) == (5, 0)


def test_a_past_due_deal_gets_the_past_due_factor(stale_wb):
    pf = forecast_pipeline(stale_wb, ["R1"], "2026-07-01", "2026-09-30", "2026-06-30",
                           n_sims=200)  # fmt: skip
    deal = pf.deals.set_index("opp_id").loc[["O3"]]
    ever = deal_probabilities(stale_wb, deal.reset_index(), pd.Timestamp("2026-06-30"))
    # past due at the quarter's eve: due the next day, in FY2026-Q3, at the past-due factor
    assert deal["p_win"].iloc[0] == pytest.approx(float(ever.iloc[0]) * 30 / 35)


def test_on_the_sample_past_due_deals_win_in_time_far_less_often(sample_wb):
    t = in_period_factors(sample_wb).set_index("key")
    for stage in ("Qualification", "Demo", "Proposal"):
        assert t.loc[stage + PAST_DUE, "rate"] < 0.5 * t.loc[stage, "rate"]
        assert t.loc[stage + PAST_DUE, "factor"] < t.loc[stage, "factor"]
    assert np.isfinite(t["factor"]).all() and (t["factor"] <= 1.0 / 0.999).all()

"""Incentive payouts: hand-computed figures for every plan feature, and invariants (hypothesis).

The plans here pay monthly with yearly variable pay of 60,000, so the target incentive of a
month is 5,000; every rep's monthly quota is 10,000 unless a test says otherwise.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesnb.data.config import load_config
from salesnb.data.model import Workbook, empty_table
from salesnb.incentives import COLUMNS, parse_plan, payouts, statement_lines

d = pd.Timestamp

BASE = """
[plan]
name = "Test"
effective_from = 2026-01-01
period = "month"

[roles.ae]
ote = 120000
variable_share = 0.5
bands = [{ from = 0.0, rate = 0.5 }, { from = 0.5, rate = 1.0 }, { from = 1.0, rate = 1.5 }]
cap = 2.0

[[assign]]
role = "ae"
"""


def plan(extra: str = "", base: str = BASE, **kw):
    return parse_plan(textwrap.dedent(base) + textwrap.dedent(extra), **kw)


def workbook(deals=(), reps=("r1",), targets=None, starts=None, snapshots=(), teams=None):
    """deals: (opp_id, rep_id, amount, close, product, account[, outcome])."""
    n = len(reps)
    rep_df = pd.DataFrame({
        "rep_id": list(reps), "name": [f"Rep {r}" for r in reps], "manager": "M",
        "region": "East", "team": teams or ["T1"] * n,
        "start_date": pd.to_datetime(starts or ["2020-01-01"] * n),
    })  # fmt: skip
    rows = [tuple(x) + ("won",) * (7 - len(x)) for x in deals]
    opps = pd.DataFrame({
        "opp_id": [x[0] for x in rows], "rep_id": [x[1] for x in rows],
        "account": [x[5] for x in rows], "product": [x[4] for x in rows],
        "stage": ["Closed Won" if x[6] == "won" else "Closed Lost" for x in rows],
        "amount": [float(x[2]) for x in rows],
        "created_date": pd.to_datetime(["2025-06-01"] * len(rows)),
        "close_date": pd.to_datetime([x[3] for x in rows]),
        "outcome": [x[6] for x in rows], "forecast_category": None, "source": None,
        "furthest_stage": None, "last_activity_date": pd.to_datetime([x[3] for x in rows]),
    })  # fmt: skip
    if not len(rows):
        opps = empty_table("opportunities")
    if targets is None:
        targets = [(r, f"2026-{m:02d}-01", 10000.0) for r in reps for m in range(1, 13)]
    t = pd.DataFrame({
        "rep_id": [x[0] for x in targets], "region": None,
        "month": pd.to_datetime([x[1] for x in targets]), "amount": [x[2] for x in targets],
    })  # fmt: skip
    snaps = empty_table("snapshots")
    if snapshots:
        snaps = pd.DataFrame({
            "as_of": pd.to_datetime([s[0] for s in snapshots]), "opp_id": [s[1] for s in snapshots],
            "rep_id": [s[2] for s in snapshots], "stage": [s[3] for s in snapshots],
            "amount": [float(s[4]) for s in snapshots],
            "close_date": pd.to_datetime([s[5] for s in snapshots]), "forecast_category": None,
        })  # fmt: skip
    cfg = load_config(overrides={"as_of": "2026-12-31"})
    return Workbook(rep_df, opps, cfg, targets=t, snapshots=snaps)


def one(df: pd.DataFrame, payee: str = "r1", period: str = "2026-01") -> pd.Series:
    rows = df[(df["payee_id"] == payee) & (df["period"] == period)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def pay(bookings: float, p=None, **kw) -> pd.Series:
    # a lost deal keeps a data set of one won deal of 1 from reading as deal counts
    lost = ("o0", "r1", 1234, "2026-01-02", "X", "Z", "lost")
    wb = workbook([lost] + ([("o1", "r1", bookings, "2026-01-15", "X", "A")] if bookings else []))
    return one(payouts(wb, p or plan(), "2026-01", **kw))


# ----------------------------------------------------------------------------- the curve
def test_decelerator_band_below_half_pays_half_rate():
    r = pay(4000)  # attainment 40 %: 5,000 x 0.5 x 0.4
    assert r["attainment"] == pytest.approx(0.4)
    assert r["band"] == "0% to 50%" and r["rate"] == 0.5
    assert r["at_base_rate"] == pytest.approx(2000)
    assert r["decelerator"] == pytest.approx(-1000)
    assert r["commission"] == pytest.approx(1000)
    assert r["payout"] == pytest.approx(1000)


def test_bands_are_marginal():
    r = pay(8000)  # 5,000 x (0.5 x 0.5 + 1.0 x 0.3)
    assert r["commission"] == pytest.approx(2750)
    assert r["decelerator"] == pytest.approx(-1250)
    assert r["accelerator"] == 0
    assert r["band"] == "50% to 100%" and r["rate"] == 1.0


def test_accelerator_above_quota():
    r = pay(13000)  # 5,000 x (0.25 + 0.5 + 1.5 x 0.3) = 6,000
    assert r["commission"] == pytest.approx(6000)
    assert r["at_base_rate"] == pytest.approx(6500)
    assert r["accelerator"] == pytest.approx(750)
    assert r["band"] == "100% and above" and r["rate"] == 1.5
    assert r["cap_cut"] == 0


def test_cap_limits_the_curve():
    r = pay(25000)  # uncapped 5,000 x (0.25 + 0.5 + 1.5 x 1.5) = 15,000; cap 2 x 5,000
    assert r["commission"] == pytest.approx(10000)
    assert r["cap_cut"] == pytest.approx(-5000)


def test_gate_below_threshold_pays_nothing():
    p = plan(base=BASE.replace("{ from = 0.0, rate = 0.5 }", "{ from = 0.0, rate = 0.0 }"))
    assert pay(4999, p)["commission"] == 0
    assert pay(6000, p)["commission"] == pytest.approx(5000 * 0.1)


def test_kicker_at_threshold():
    p = plan(base=BASE.replace("cap = 2.0", "cap = 2.0\nkickers = [{ at = 1.0, amount = 1000 }]"))
    assert pay(9999, p)["kicker"] == 0
    r = pay(10000, p)
    assert r["kicker"] == 1000
    assert r["commission"] == pytest.approx(3750)
    assert r["payout"] == pytest.approx(4750)


# ----------------------------------------------------------------------------- crediting
def test_product_and_existing_account_weights():
    p = plan(base=BASE + '[roles.ae.crediting]\nproducts = { "Y" = 0.5 }\nexisting_account = 0.8\n')
    wb = workbook([
        ("o1", "r1", 1000, "2026-01-05", "X", "A"),   # A's first win: new, weight 1
        ("o2", "r1", 1000, "2026-01-20", "X", "A"),   # A again: existing, 0.8
        ("o3", "r1", 1000, "2026-01-21", "Y", "B"),   # B new, product Y 0.5
        ("o4", "r1", 1000, "2026-01-22", "X", None),  # no account: existing, 0.8
        ("o5", "r1", 1000, "2025-12-20", "X", "C"),   # C won before the plan...
        ("o6", "r1", 1000, "2026-01-23", "X", "C"),   # ...so this is existing, 0.8
    ])  # fmt: skip
    r = one(payouts(wb, p, "2026-01"))
    assert r["won_amount"] == 5000
    assert r["credited"] == pytest.approx(1000 + 800 + 500 + 800 + 800)


def test_lost_and_open_deals_are_not_credited():
    wb = workbook([("o1", "r1", 5000, "2026-01-05", "X", "A", "lost"),
                   ("o2", "r1", 3000, "2026-01-06", "X", "A")])  # fmt: skip
    assert one(payouts(wb, plan(), "2026-01"))["credited"] == 3000


def test_spif_per_qualifying_deal():
    extra = """
    [[spif]]
    name = "X push"
    from = 2026-01-10
    to = 2026-01-20
    amount = 300
    products = ["X"]
    min_amount = 1000
    """
    wb = workbook([
        ("o1", "r1", 2000, "2026-01-15", "X", "A"),  # qualifies
        ("o2", "r1", 2000, "2026-01-15", "Y", "B"),  # other product
        ("o3", "r1", 500, "2026-01-15", "X", "C"),   # too small
        ("o4", "r1", 2000, "2026-01-25", "X", "D"),  # after the window
    ])  # fmt: skip
    r = one(payouts(wb, plan(extra), "2026-01"))
    assert r["spif"] == 300 and r["spif_deals"] == 1
    assert any("SPIF (1 qualifying deal(s)): +$300" in x for x in statement_lines(r))


def test_split_credit_and_spif_share(tmp_path):
    (tmp_path / "splits.csv").write_text("opp_id,rep_id,share\no1,r1,0.6\no1,r2,0.4\n")
    extra = """
    [[spif]]
    name = "all"
    from = 2026-01-01
    to = 2026-01-31
    amount = 100
    """
    text = BASE.replace('period = "month"', 'period = "month"\nsplits = "splits.csv"')
    p = parse_plan(textwrap.dedent(text) + textwrap.dedent(extra), base=tmp_path)
    wb = workbook([("o1", "r1", 10000, "2026-01-15", "X", "A")], reps=("r1", "r2"))
    df = payouts(wb, p, "2026-01")
    assert one(df, "r1")["credited"] == pytest.approx(6000)
    assert one(df, "r2")["credited"] == pytest.approx(4000)
    assert one(df, "r1")["spif"] == pytest.approx(60)
    assert one(df, "r2")["spif"] == pytest.approx(40)


def test_manager_override_on_team_bookings():
    wb = workbook([("o1", "r1", 4000, "2026-01-15", "X", "A"),
                   ("o2", "r2", 6000, "2026-01-16", "X", "B")], reps=("r1", "r2"))  # fmt: skip
    df = payouts(wb, plan("[override]\nrate = 0.02\n"), "2026-01")
    m = one(df, "M")
    assert m["payee_kind"] == "manager"
    assert m["credited"] == 10000 and m["override"] == pytest.approx(200)
    assert m["payout"] == pytest.approx(200)
    assert one(df, "r1")["override"] == 0


# ----------------------------------------------------------------------------- ramp and draw
RAMP = (
    BASE
    + """
[roles.ae.ramp]
months = 2
quota = [0.5, 0.75]
draw = 2000
recoverable = true
"""
)


def _ramp_wb():
    # starts mid-January: January and February are ramp months
    return workbook([("o1", "r1", 7500, "2026-02-10", "X", "A"),
                     ("o2", "r1", 10000, "2026-03-10", "X", "B")], starts=["2026-01-15"])  # fmt: skip


def test_ramp_quota_and_recoverable_draw():
    df = payouts(_ramp_wb(), plan(base=RAMP), ["2026-01", "2026-02", "2026-03"])
    jan, feb, mar = (one(df, "r1", f"2026-0{m}") for m in (1, 2, 3))
    assert (jan["quota"], feb["quota"], mar["quota"]) == (5000, 7500, 10000)
    # January: nothing earned, the draw is paid and owed back
    assert jan["draw"] == 2000 and jan["draw_topup"] == 2000 and jan["payout"] == 2000
    assert jan["draw_balance"] == 2000
    # February: 100 % of 7,500 earns 5,000 x 0.75 = 3,750; above the draw by 1,750, all recovered
    assert feb["commission"] == pytest.approx(3750)
    assert feb["draw_recovery"] == pytest.approx(1750) and feb["payout"] == pytest.approx(2000)
    assert feb["draw_balance"] == pytest.approx(250)
    # March: no draw; the last 250 is recovered
    assert mar["draw"] == 0 and mar["draw_recovery"] == pytest.approx(250)
    assert mar["payout"] == pytest.approx(3500) and mar["draw_balance"] == 0


def test_non_recoverable_draw_is_never_taken_back():
    df = payouts(_ramp_wb(), plan(base=RAMP.replace("recoverable = true", "recoverable = false")),
                 "FY2026-Q1")  # fmt: skip
    assert list(df["payout"]) == pytest.approx([2000, 3750, 3750])
    assert list(df["draw_recovery"]) == [0, 0, 0]


def test_before_start_date_no_rows():
    wb = workbook([], starts=["2026-03-02"])
    df = payouts(wb, plan(), "FY2026-Q1")
    assert list(df["period"]) == ["2026-03"]


# ----------------------------------------------------------------------------- clawback
def _claw_wb():
    # o9 was seen won (booked 2026-01-18), then lost (seen 2026-02-12)
    snaps = [("2026-01-20", "o9", "r1", "Closed Won", 10000, "2026-01-18"),
             ("2026-02-12", "o9", "r1", "Closed Lost", 10000, "2026-02-10")]  # fmt: skip
    return workbook([("o9", "r1", 10000, "2026-02-10", "X", "A", "lost")], snapshots=snaps)


def test_clawback_of_a_deal_lost_after_booked_won():
    df = payouts(_claw_wb(), plan("[clawback]\nwithin_days = 90\n"), ["2026-01", "2026-02"])
    jan, feb = one(df, "r1", "2026-01"), one(df, "r1", "2026-02")
    assert jan["credited"] == 10000 and jan["commission"] == pytest.approx(3750)
    # February takes back January's effective rate (3,750 / 10,000) on the deal
    assert feb["clawback"] == pytest.approx(3750) and feb["clawback_deals"] == 1
    assert feb["payout"] == pytest.approx(-3750)
    assert any("Clawback (1 deal(s)" in x for x in statement_lines(feb))


def test_clawback_window():
    df = payouts(_claw_wb(), plan("[clawback]\nwithin_days = 10\n"), ["2026-01", "2026-02"])
    assert one(df, "r1", "2026-02")["clawback"] == 0


def test_clawback_from_stage_history():
    wb = workbook([("o9", "r1", 10000, "2026-02-10", "X", "A", "lost")])
    hist = pd.DataFrame({"opp_id": ["o9", "o9"], "stage": ["Closed Won", "Closed Lost"],
                         "date": pd.to_datetime(["2026-01-18", "2026-02-03"])})  # fmt: skip
    df = payouts(wb, plan("[clawback]\nwithin_days = 90\n"), ["2026-01", "2026-02"],
                 stage_history=hist)  # fmt: skip
    assert one(df, "r1", "2026-02")["clawback"] == pytest.approx(3750)


# ----------------------------------------------------------------------------- assignment, periods
def test_assignment_by_rep_beats_everyone_and_is_effective_dated():
    extra = BASE.replace("[roles.ae]", "[roles.senior]\note = 240000\nvariable_share = 0.5\n"
                         "bands = [{ from = 0.0, rate = 1.0 }]\n\n[roles.ae]")  # fmt: skip
    extra += '\n[[assign]]\nrole = "senior"\nrep = "r1"\nfrom = 2026-02-01\n'
    wb = workbook([("o1", "r1", 10000, "2026-01-15", "X", "A"),
                   ("o2", "r1", 10000, "2026-02-15", "X", "B")])  # fmt: skip
    df = payouts(wb, parse_plan(extra), ["2026-01", "2026-02"])
    jan, feb = one(df, "r1", "2026-01"), one(df, "r1", "2026-02")
    assert jan["role"] == "ae" and jan["commission"] == pytest.approx(3750)
    assert feb["role"] == "senior" and feb["commission"] == pytest.approx(10000)


def test_quarter_period_sums_months():
    p = plan(base=BASE.replace('period = "month"', 'period = "quarter"'))
    wb = workbook([("o1", "r1", 30000, "2026-02-15", "X", "A")])
    r = one(payouts(wb, p, "2026Q1"), "r1", "FY2026-Q1")
    assert r["quota"] == 30000 and r["target_incentive"] == 15000
    assert r["commission"] == pytest.approx(15000 * 0.75)


def test_unknown_quota_is_unknown_not_zero():
    wb = workbook([("o1", "r1", 5000, "2026-01-15", "X", "A")], targets=[])
    r = one(payouts(wb, plan(), "2026-01"))
    assert math.isnan(r["quota"]) and math.isnan(r["payout"])
    assert r["note"] == "no quota in the targets table for this period"
    assert "Payout: unknown." in statement_lines(r)


def test_columns_and_statement_end_with_payout():
    df = payouts(workbook([("o1", "r1", 13000, "2026-01-15", "X", "A")]), plan(), "2026-01")
    assert tuple(df.columns) == COLUMNS
    lines = statement_lines(one(df))
    assert lines[-1] == "Payout: $6K."
    assert "Accelerator (bands above 100% pay more): +$750." in lines


def test_sample_plan_runs_on_sample_data():
    import salesnb
    from salesnb.incentives import load_plan

    wb = salesnb.load("data/sample")
    p = load_plan("data/sample/incentive_plan.toml")
    df = payouts(wb, p, "FY2026")
    reps = df[df["payee_kind"] == "rep"]
    assert set(reps["role"]) == {"enterprise", "mid_market"}
    assert reps["payout"].notna().all()
    # the ramping new hires (R16, R26) get their draw in their first quarter
    new = reps[reps["payee_id"].isin(["R16", "R26"]) & (reps["period"] == "FY2026-Q2")]
    assert (new["draw"] > 0).all() and (new["payout"] >= new["draw"]).all()


# ----------------------------------------------------------------------------- properties
MONOTONE = BASE.replace("cap = 2.0", "cap = 2.0\nkickers = [{ at = 0.8, amount = 500 }]")


@settings(max_examples=25, deadline=None)
@given(st.floats(0, 40000), st.floats(0, 40000))
def test_payout_monotone_in_bookings_and_capped(a, b):
    lo, hi = sorted((a, b))
    p = plan(base=MONOTONE)
    r_lo, r_hi = pay(lo, p), pay(hi, p)
    assert r_lo["payout"] <= r_hi["payout"] + 1e-6
    assert r_hi["commission"] <= 2.0 * 5000 + 1e-6


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 100), min_size=1, max_size=4), st.floats(2, 1e6))
def test_split_credits_sum_to_the_deal(weights, amount):
    import tempfile
    from pathlib import Path

    reps = [f"r{i}" for i in range(len(weights))]
    shares = np.array(weights, float) / sum(weights)
    with tempfile.TemporaryDirectory() as tmp:
        rows = "\n".join(f"o1,{r},{float(s)!r}" for r, s in zip(reps, shares, strict=True))
        Path(tmp, "s.csv").write_text("opp_id,rep_id,share\n" + rows + "\n")
        text = BASE.replace('period = "month"', 'period = "month"\nsplits = "s.csv"')
        p = parse_plan(textwrap.dedent(text), base=Path(tmp))
    wb = workbook([("o1", "r0", amount, "2026-01-15", "X", "A")], reps=tuple(reps))
    df = payouts(wb, p, "2026-01")
    assert df["credited"].sum() == pytest.approx(amount, rel=1e-9)


# ----------------------------------------------------------------------------- plan cost
def test_simulated_cost_by_hand():
    from salesnb.incentives.simulate import simulate_cost

    wb = workbook([("o1", "r1", 1000, "2025-12-15", "X", "A")])
    p = plan("[override]\nrate = 0.01\n")
    draws = np.array([[0.0, 5000.0, 10000.0, 20000.0]])
    cost = simulate_cost(wb, p, "2026-01", ["r1"], draws)
    # 0; 5,000 x 0.5 x 0.5; 5,000 x (0.25 + 0.5); 5,000 x (0.75 + 1.5) = 11,250 capped at 10,000
    assert cost.per_rep.loc[0, "expected_payout"] == pytest.approx((0 + 1250 + 3750 + 10000) / 4)
    assert cost.per_rep.loc[0, "p_accelerator"] == 0.25
    assert cost.total.tolist() == pytest.approx([0, 1250 + 50, 3750 + 100, 10000 + 200])
    s = cost.summary()
    assert s["expected_bookings"] == 8750
    assert s["cost_of_sales"] == pytest.approx(np.mean([0, 1300, 3850, 10200]) / 8750)
    shares = cost.bands.set_index("band")["share"]
    assert shares.to_dict() == {0.0: 1.0, 0.5: 0.75, 1.0: 0.5}


def test_simulated_cost_draw_floor_and_credit_ratio():
    from salesnb.incentives.simulate import simulate_cost

    p = plan(base=RAMP + '[roles.ae.crediting]\nproducts = { "Y" = 0.5 }\n')
    # one January deal of product Y: credited at half, so February's draws are credited at half
    wb = workbook([("o1", "r1", 2000, "2026-01-20", "Y", "A")], starts=["2026-01-15"])
    cost = simulate_cost(wb, p, "2026-02", ["r1"], np.array([[0.0, 15000.0]]))
    row = cost.per_rep.iloc[0]
    assert row["credit_ratio"] == 0.5 and row["quota"] == 7500
    # draw 0: the draw of 2,000; draw 15,000 credits 7,500 = 100 %: 5,000 x 0.75
    assert cost.total.tolist() == pytest.approx([2000, 3750])
    assert row["p_draw"] == 0.5


def test_stage_history_without_its_columns_is_named():
    from salesnb.core.errors import ParameterError

    hist = pd.DataFrame({"Opportunity": ["o9"], "stage": ["Closed Won"], "date": [d("2026-01-18")]})
    with pytest.raises(ParameterError, match="stage_history has no column 'opp_id'"):
        payouts(workbook(), plan(), "2026-01", stage_history=hist)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 5), min_size=1, max_size=20), st.floats(0.5, 5) | st.none())
def test_commission_is_the_sum_of_the_curves_parts(att, cap):
    from salesnb.incentives.curve import commission, curve

    a = np.array(att)
    args = (a, np.array(5000.0), np.array([0.0, 0.4, 1.0, 1.6]), np.array([0.0, 1.0, 1.5, 2.0]))
    assert curve(*args, cap).commission == pytest.approx(commission(*args, cap))
    assert (commission(*args, cap) <= (np.inf if cap is None else cap * 5000) + 1e-6).all()

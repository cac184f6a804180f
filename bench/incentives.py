"""Benchmark: incentive payouts for 1,000 reps x 12 months, beside a naive per-rep loop.

Generates a seeded synthetic workbook (``--reps`` reps, about 4 won deals per rep and month,
monthly targets, a tenth of the reps hired during the year) and a monthly plan with two roles,
a decelerator, accelerators, a cap, a kicker, crediting weights, a SPIF, a recoverable ramp
draw and a manager override. Times :func:`salesnb.incentives.payouts` (best of ``--repeat``)
and a plain Python loop over reps and months computing the same rep payouts in the same run,
checks both give the same numbers, and prints both times and the ratio.

Then simulates the plan's cost in December over ``--draws`` seeded draws of each rep's
bookings (lognormal around the rep's quota, standing in for the forecast's distributions) with
:func:`salesnb.incentives.simulate.simulate_cost`.

Run: ``python bench/incentives.py [--reps 1000] [--repeat 3] [--draws 10000]``.
Goals: payouts under 1 s; the simulation under 10 s.
Exit code 1 when a goal is missed or the two payout computations disagree.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from salesnb.data.config import load_config
from salesnb.data.model import Workbook
from salesnb.incentives import parse_plan, payouts
from salesnb.incentives.simulate import simulate_cost

PLAN = """
[plan]
name = "Bench"
effective_from = 2026-01-01
effective_to = 2026-12-31
period = "month"

[roles.ent]
ote = 160000
variable_share = 0.5
bands = [{ from = 0.0, rate = 0.5 }, { from = 0.5, rate = 1.0 }, { from = 1.0, rate = 1.5 },
         { from = 1.5, rate = 2.0 }]
cap = 2.5
kickers = [{ at = 1.0, amount = 500 }]
crediting = { products = { "P2" = 0.5 }, existing_account = 0.8 }
ramp = { months = 3, draw = 3000, recoverable = true }

[roles.mm]
ote = 110000
variable_share = 0.4
bands = [{ from = 0.0, rate = 0.0 }, { from = 0.4, rate = 1.0 }, { from = 1.0, rate = 1.25 }]
cap = 2.0
ramp = { months = 3, draw = 2000, recoverable = false }

[[assign]]
role = "mm"

[[assign]]
role = "ent"
region = "Enterprise"

[[spif]]
name = "P1 push"
from = 2026-06-01
to = 2026-08-31
amount = 250
products = ["P1"]
min_amount = 5000

[override]
rate = 0.01
"""


def generate(n_reps: int, seed: int = 11) -> Workbook:
    """A synthetic workbook: ``n_reps`` reps, 2026 targets and won deals (vectorised)."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"R{i:04d}" for i in range(n_reps)], dtype=object)
    start = pd.to_datetime("2018-01-01") + pd.to_timedelta(rng.integers(0, 2900, n_reps), "D")
    reps = pd.DataFrame({
        "rep_id": ids, "name": [f"Rep {i}" for i in range(n_reps)],
        "manager": [f"M{i // 10:03d}" for i in range(n_reps)],
        "region": np.where(np.arange(n_reps) % 2 == 0, "Enterprise", "Mid-Market"),
        "team": [f"T{i // 10:03d}" for i in range(n_reps)], "start_date": start,
    })  # fmt: skip
    months = pd.date_range("2026-01-01", periods=12, freq="MS")
    t_rep = np.repeat(ids, 12)
    targets = pd.DataFrame({"rep_id": t_rep, "region": None, "month": np.tile(months, n_reps),
                            "amount": np.round(rng.uniform(20000, 60000, n_reps * 12), -2)})  # fmt: skip
    n = n_reps * 48
    day = rng.integers(0, 365, n)
    close = pd.to_datetime("2026-01-01") + pd.to_timedelta(day, "D")
    opps = pd.DataFrame({
        "opp_id": [f"O{i:07d}" for i in range(n)], "rep_id": ids[rng.integers(0, n_reps, n)],
        "account": [f"A{i:06d}" for i in rng.integers(0, n // 3, n)],
        "product": np.array(["P1", "P2", "P3"])[rng.integers(0, 3, n)], "stage": "Closed Won",
        "amount": np.round(rng.lognormal(9, 0.8, n), 2), "created_date": close - pd.Timedelta(days=60),
        "close_date": close, "outcome": "won", "forecast_category": None, "source": None,
        "furthest_stage": None, "last_activity_date": close,
    })  # fmt: skip
    cfg = load_config(overrides={"as_of": "2026-12-31"})
    return Workbook(reps, opps, cfg, targets=targets)


def naive(wb: Workbook, plan) -> dict[tuple[str, str], float]:
    """The same rep payouts, one rep and one month at a time in plain Python."""
    o = wb.opportunities
    won = sorted(zip(o["close_date"], o["opp_id"], o["account"], strict=True))
    first = {}
    for close, opp, acct in won:
        first.setdefault(acct, opp)
    deals: dict[str, list] = {}
    for row in o.itertuples(index=False):
        deals.setdefault(row.rep_id, []).append(row)
    quota = {(r.rep_id, r.month.month): r.amount for r in wb.targets.itertuples(index=False)}
    out = {}
    for rep in wb.reps.itertuples(index=False):
        role_name = "ent" if rep.region == "Enterprise" else "mm"
        role = plan.roles[role_name]
        owed = 0.0
        for m in range(1, 13):
            month_start = pd.Timestamp(2026, m, 1)
            if rep.start_date > month_start + pd.offsets.MonthEnd(0):
                continue
            credited, spif = 0.0, 0.0
            for deal in deals.get(rep.rep_id, []):
                if deal.close_date.month != m:
                    continue
                cr = role.crediting
                w = cr.product_weight(deal.product)
                w *= cr.new_account if first[deal.account] == deal.opp_id else cr.existing_account
                credited += deal.amount * w
                for s in plan.spifs:
                    ok = s.start <= deal.close_date <= s.end and deal.amount >= s.min_amount
                    if ok and (not s.products or deal.product in s.products):
                        spif += s.amount
            q = quota[(rep.rep_id, m)]
            att = credited / q
            ti = role.variable / 12
            commission = 0.0
            for i, b in enumerate(role.bands):
                hi = role.bands[i + 1].start if i + 1 < len(role.bands) else float("inf")
                commission += ti * b.rate * max(0.0, min(att, hi) - b.start)
            commission = min(commission, role.cap * ti)
            earned = commission + spif + sum(k.amount for k in role.kickers if att >= k.at)
            tenure = (2026 - rep.start_date.year) * 12 + m - rep.start_date.month
            draw = role.ramp.draw if 0 <= tenure < role.ramp.months else 0.0
            topup = max(draw - earned, 0.0) if draw else 0.0
            back = min(owed, max(earned - draw, 0.0)) if role.ramp.recoverable else 0.0
            owed += (topup if role.ramp.recoverable else 0.0) - back
            out[(rep.rep_id, f"2026-{m:02d}")] = earned + topup - back
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--draws", type=int, default=10_000)
    args = ap.parse_args()
    wb = generate(args.reps)
    plan = parse_plan(PLAN)
    best = float("inf")
    for _ in range(args.repeat):
        t = time.perf_counter()
        table = payouts(wb, plan, "FY2026")
        best = min(best, time.perf_counter() - t)
    t = time.perf_counter()
    ref = naive(wb, plan)
    slow = time.perf_counter() - t
    reps = table[table["payee_kind"] == "rep"]
    got = dict(zip(zip(reps["payee_id"], reps["period"], strict=True), reps["payout"], strict=True))
    same = got.keys() == ref.keys() and all(abs(got[k] - ref[k]) < 1e-6 for k in ref)
    print(f"incentives: {args.reps} reps x 12 months ({len(wb.opportunities):,} deals), "
          f"salesnb {best:.3f} s, naive loop {slow:.2f} s, ratio {slow / best:.0f}x, "
          f"same payouts: {'yes' if same else 'NO'}; goal under 1 s: {'met' if best < 1 else 'missed'}")  # fmt: skip
    rng = np.random.default_rng(5)
    quota = wb.targets.loc[wb.targets["month"] == "2026-12-01"].set_index("rep_id")["amount"]
    ids = list(wb.reps["rep_id"])
    draws = quota.reindex(ids).to_numpy()[:, None] * rng.lognormal(
        -0.1, 0.45, (len(ids), args.draws)
    )
    t = time.perf_counter()
    cost = simulate_cost(wb, plan, "2026-12", ids, draws)
    sim = time.perf_counter() - t
    s = cost.summary()
    print(f"incentives simulation: {len(ids)} reps x {args.draws:,} draws, {sim:.2f} s "
          f"(expected cost {s['expected_cost']:,.0f}, P10-P90 {s['p10']:,.0f}-{s['p90']:,.0f}); "
          f"goal under 10 s: {'met' if sim < 10 else 'missed'}")  # fmt: skip
    return 0 if same and best < 1 and sim < 10 else 1


if __name__ == "__main__":
    sys.exit(main())

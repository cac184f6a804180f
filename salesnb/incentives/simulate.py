"""What a plan will cost next period, simulated on the forecast's per-rep distributions.

Each rep's bookings in the period are drawn from the calibrated forecast
(:func:`salesnb.forecast.combined.period_forecast`, its blend of history and pipeline); every draw is
paid through the same curve as the statements (:mod:`salesnb.incentives.curve`), with the
rep's role, quota, kickers, ramp draw and the managers' overrides from
:func:`salesnb.incentives.payouts`. The result is the distribution of the plan's cost, its
cost of sales, each rep's expected payout and how likely each band is reached.

Left out, and said so in :attr:`PlanCost.notes`: SPIFs and clawbacks (they depend on single
deals, which the forecast does not draw) and the recovery of draws (a loan, not a cost).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from salesnb.core.errors import ParameterError, SalesnbError
from salesnb.data.model import Workbook
from salesnb.incentives.curve import commission
from salesnb.incentives.engine import payouts, period_label, role_arrays
from salesnb.incentives.plan import Plan

#: What every simulation leaves out, in plain words.
NOTES = (
    (
        "SPIFs and clawbacks are left out: they depend on single deals, which the forecast "
        "does not draw."
    ),
    "A recoverable draw's top-up counts as cost when paid; its later recovery is not counted.",
    (
        "Reps' forecasts are independent: a swing shared by the whole team would widen the "
        "P10-P90 range of the total."
    ),
)


@dataclass(frozen=True)
class PlanCost:
    """A plan's simulated cost in one period.

    Attributes
    ----------
    period : str
        The fiscal period label.
    per_rep : DataFrame
        One row per rep simulated: rep_id, name, role, region, team, quota, credit_ratio
        (credited / closed-won so far in the plan), expected_bookings, expected_payout,
        payout_p10, payout_p90, p_target (chance of reaching 100 %), p_accelerator (chance of
        reaching a band above 100 % that pays more than the base rate), p_draw (chance the ramp draw tops up the pay).
    bands : DataFrame
        role, band (its start, a fraction), share: the expected share of the role's reps
        whose attainment reaches the band.
    total : ndarray
        Draws of the total payout (reps and manager overrides, currency).
    bookings : ndarray
        Draws of the total bookings of the reps simulated (currency).
    notes : list of str
        What was left out and why.
    pay : ndarray or None
        Each rep's payout per draw (rows as ``per_rep``, currency), kept when
        :func:`simulate_cost` is asked (``keep_pay=True``); None otherwise.
    """

    period: str
    per_rep: pd.DataFrame
    bands: pd.DataFrame
    total: np.ndarray
    bookings: np.ndarray
    notes: list[str] = field(default_factory=list)
    pay: np.ndarray | None = None

    def summary(self) -> dict[str, float]:
        """Expected cost, its P10 / P50 / P90, expected bookings and the cost of sales
        (expected cost / expected bookings).

        Examples
        --------
        >>> c = PlanCost("FY2026-Q4", pd.DataFrame(), pd.DataFrame(), np.array([1.0, 3.0]),
        ...              np.array([10.0, 30.0]))
        >>> c.summary()["cost_of_sales"]
        0.1
        """
        t, b = self.total, self.bookings
        exp_b = float(b.mean()) if b.size else float("nan")
        return {
            "expected_cost": float(t.mean()) if t.size else float("nan"),
            "p10": float(np.quantile(t, 0.1)) if t.size else float("nan"),
            "p50": float(np.quantile(t, 0.5)) if t.size else float("nan"),
            "p90": float(np.quantile(t, 0.9)) if t.size else float("nan"),
            "expected_bookings": exp_b,
            "cost_of_sales": float(t.mean()) / exp_b if t.size and exp_b > 0 else float("nan"),
        }


def forecast_draws(
    wb: Workbook, period: str, rep_ids: Sequence[str] | None = None, *, n_sims: int = 10_000,
    seed: int = 0,
) -> tuple[list[str], np.ndarray, list[str]]:  # fmt: skip
    """Draws of each rep's bookings in ``period`` from the calibrated forecast.

    Returns ``(rep_ids, draws, notes)``: draws shaped reps x ``n_sims`` (currency); a rep
    the forecast cannot cover is left out and named in the notes.

    Examples
    --------
    >>> ids, draws, notes = forecast_draws(wb, "FY2026-Q4", ["R01"], n_sims=1000)  # doctest: +SKIP
    >>> draws.shape  # doctest: +SKIP
    (1, 1000)
    """
    from salesnb.forecast.combined import period_forecast

    ids = list(wb.rep_ids() if rep_ids is None else rep_ids)
    label = period_label(wb, period)
    keep, rows, notes = [], [], []
    for i, rep in enumerate(ids):
        try:
            pf = period_forecast(wb, "rep", rep, label, seed=seed + i, n_sims=n_sims)
        except SalesnbError as exc:
            notes.append(f"{rep}: no forecast ({exc}).")
            continue
        keep.append(rep)
        rows.append(np.asarray(pf.blended.samples, dtype=float)[:n_sims])
    draws = np.vstack(rows) if rows else np.zeros((0, n_sims))
    return keep, draws, notes


def period_table(wb: Workbook, plan: Plan, period: str) -> pd.DataFrame:
    """The payouts table :func:`simulate_cost` reads (the plan's first period to ``period``).

    Its roles, quotas, draws and credit ratios do not depend on the plan's curves, caps or
    kickers, so one table serves every variant of a plan that moves only those (the plan
    designer passes it as ``base`` to skip recomputing it on each move).

    Examples
    --------
    >>> base = period_table(wb, plan, "FY2026-Q4")  # doctest: +SKIP
    >>> simulate_cost(wb, plan, "FY2026-Q4", ids, draws, base=base)  # doctest: +SKIP
    """
    label = period_label(wb, period)
    first = wb.config.calendar.period_label(plan.effective_from, label_freq(plan))
    return payouts(wb, plan, [first, label])


def simulate_cost(
    wb: Workbook, plan: Plan, period: str, rep_ids: Sequence[str], draws: np.ndarray,
    *, chunk: int = 100, base: pd.DataFrame | None = None, keep_pay: bool = False,
) -> PlanCost:  # fmt: skip
    """The plan's cost in one plan period, over draws of each rep's bookings.

    Parameters
    ----------
    wb : Workbook
        The data (roles, quotas, draws and credit ratios come from :func:`payouts`).
    plan : Plan
    period : str
        One plan period, e.g. ``"2026Q4"``.
    rep_ids : sequence of str
        The reps of the rows of ``draws``.
    draws : ndarray
        Reps x simulations: bookings (closed-won amount) in the period, currency; e.g. from
        :func:`forecast_draws`. Reps' draws are paired column by column (draw j of every rep
        makes simulation j); independent forecasts give a total spread narrower than a
        shared market swing would.
    chunk : int
        Reps computed at once (memory: chunk x simulations x 8 bytes per array).
    base : DataFrame, optional
        :func:`period_table` of a plan that differs from ``plan`` at most in its curves, caps
        and kickers (saves recomputing the payouts); None: computed here.
    keep_pay : bool
        Keep every rep's payout per draw in :attr:`PlanCost.pay` (reps x simulations).

    Returns
    -------
    PlanCost

    Examples
    --------
    >>> cost = simulate_cost(wb, plan, "2026Q4", ids, draws)  # doctest: +SKIP
    >>> cost.summary()["expected_cost"]  # doctest: +SKIP
    """
    draws = np.asarray(draws, dtype=float)
    if draws.ndim != 2 or draws.shape[0] != len(rep_ids):
        msg = (f"draws has shape {draws.shape}, not (number of reps, simulations) = "
               f"({len(rep_ids)}, n). Fix: pass one row of draws per rep of rep_ids.")  # fmt: skip
        raise ParameterError(msg)
    label = period_label(wb, period)
    start, _ = wb.config.calendar.period_bounds(label)
    table = period_table(wb, plan, label) if base is None else base
    reps = table[table["payee_kind"] == "rep"]
    here = reps[(reps["start"] <= start) & (reps["end"] >= start)].set_index("payee_id")
    if here["period"].nunique() > 1:  # pragma: no cover - one plan period holds a date
        raise ParameterError(f"{label!r} spans several plan periods. Fix: simulate one at a time.")
    past = (
        reps[(reps["end"] < start) & reps["complete"]]
        .groupby("payee_id")[["credited", "won_amount"]]
        .sum()
    )
    ratio = (past["credited"] / past["won_amount"]).where(past["won_amount"] > 0)
    notes = list(NOTES)
    pos = {r: i for i, r in enumerate(rep_ids)}
    ids = [r for r in rep_ids if r in here.index and pd.notna(here.at[r, "quota"])
           and here.at[r, "quota"] > 0]  # fmt: skip
    for r in rep_ids:
        if r not in here.index:
            notes.append(f"{r}: the plan assigns no role in {label}; left out.")
        elif r not in ids:
            notes.append(f"{r}: no quota in the targets table for {label}; left out.")
    rows = here.loc[ids]
    roles, T = role_arrays(plan)
    names = list(plan.roles)
    ri = np.array([names.index(x) for x in rows["role"]], dtype=int)
    quota = rows["quota"].to_numpy(float)
    ti = rows["target_incentive"].to_numpy(float)
    floor = rows["draw"].to_numpy(float)
    cr = ratio.reindex(ids).fillna(1.0).to_numpy(float)
    mgr = rows["manager"].to_numpy(object)
    ov = plan.override
    ov_rate = np.zeros(len(ids))
    if ov is not None:
        paid = np.isin(mgr, list(ov.managers)) if ov.managers else np.ones(len(ids), bool)
        ov_rate = np.where(paid, ov.rate, 0.0)
    # where each role's accelerator starts: the first band paying more than the base rate
    above = np.where(T["b_rate"] > 1.0, T["b_start"], np.inf)
    acc_start = np.maximum(above.min(axis=1), 1.0)
    D = draws.shape[1]
    total, bookings = np.zeros(D), np.zeros(D)
    stats = {
        k: np.zeros(len(ids)) for k in ("exp_b", "exp_p", "p10", "p90", "p_tgt", "p_acc", "p_draw")
    }
    reach = np.zeros((len(ids), T["b_start"].shape[1]))
    kept = np.zeros((len(ids), D)) if keep_pay else None
    sel = np.array([pos[r] for r in ids], dtype=int)
    for lo in range(0, len(ids), max(1, chunk)):
        s = slice(lo, lo + chunk)
        b = draws[sel[s]]
        credited = b * cr[s, None]
        att = credited / quota[s, None]
        starts = T["b_start"][ri[s]][:, None, :]
        earned = np.empty_like(att)
        for i, rl in enumerate(roles):
            m = ri[s] == i
            if m.any():
                earned[m] = commission(att[m], ti[s][m, None], np.array([b.start for b in rl.bands]),
                                       np.array([b.rate for b in rl.bands]), rl.cap)  # fmt: skip
        for j in range(T["k_at"].shape[1]):
            earned = earned + np.where(
                att >= T["k_at"][ri[s], j, None], T["k_amt"][ri[s], j, None], 0.0
            )
        pay = np.maximum(earned, floor[s, None])
        if kept is not None:
            kept[s] = pay
        total += pay.sum(axis=0) + (credited * ov_rate[s, None]).sum(axis=0)
        bookings += b.sum(axis=0)
        stats["exp_b"][s], stats["exp_p"][s] = b.mean(axis=1), pay.mean(axis=1)
        stats["p10"][s], stats["p90"][s] = np.quantile(pay, [0.1, 0.9], axis=1)
        stats["p_tgt"][s] = (att >= 1.0).mean(axis=1)
        stats["p_acc"][s] = (att > acc_start[ri[s], None]).mean(axis=1)
        stats["p_draw"][s] = (floor[s, None] > earned).mean(axis=1)
        with np.errstate(invalid="ignore"):
            reach[s] = (att[:, :, None] >= starts).mean(axis=1)
    per_rep = pd.DataFrame({
        "rep_id": ids, "name": rows["name"].to_numpy(), "role": rows["role"].to_numpy(),
        "region": rows["region"].to_numpy(), "team": rows["team"].to_numpy(), "quota": quota,
        "credit_ratio": cr, "expected_bookings": stats["exp_b"], "expected_payout": stats["exp_p"],
        "payout_p10": stats["p10"], "payout_p90": stats["p90"], "p_target": stats["p_tgt"], "p_accelerator": stats["p_acc"],
        "p_draw": stats["p_draw"],
    })  # fmt: skip
    band_rows = []
    for i, role in enumerate(roles):
        mine = ri == i
        for j, band in enumerate(role.bands):
            share = float(reach[mine, j].mean()) if mine.any() else float("nan")
            band_rows.append(
                {"role": role.name, "band": band.start, "rate": band.rate, "share": share}
            )
    return PlanCost(label, per_rep, pd.DataFrame(band_rows), total, bookings, notes, kept)


def label_freq(plan: Plan) -> str:
    """The fiscal calendar's label kind of the plan's period: "M", "Q" or "Y"."""
    return {"month": "M", "quarter": "Q", "year": "Y"}[plan.period]

"""What-if questions on an incentive plan, answered by the payout engine itself.

"If I close this deal / this amount by period end, I earn ...": :func:`with_won_deals` makes a
copy of the data in which the chosen open deals (and an extra amount) are won in the period,
and :func:`salesnb.incentives.payouts` pays it, so crediting weights, kickers, SPIFs, the cap
and the draw apply exactly as on a statement. :func:`adjust_plan` moves a role's knobs (the
accelerator, the cap), :func:`earnings_curve` draws what the role's curve pays by attainment,
and :func:`next_step` says what the next band or kicker is worth to a rep. The workshop app
(:mod:`salesnb.apps.incentive_whatif`) and the one-on-one use these.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from salesnb.analytics.coaching_facts import format_value
from salesnb.core.errors import ParameterError
from salesnb.data.model import Workbook
from salesnb.incentives.curve import commission
from salesnb.incentives.engine import payouts, statement_lines
from salesnb.incentives.plan import Plan

#: The opp_id of the extra amount's made-up deal in :func:`with_won_deals`.
EXTRA_DEAL = "what-if extra deal"


def adjust_plan(plan: Plan, role: str, *, accelerator: float = 1.0,
                cap: float | None | str = "keep") -> Plan:  # fmt: skip
    """The plan with one role's knobs moved: accelerator rates scaled, the cap set.

    Parameters
    ----------
    plan : Plan
        The plan to start from (unchanged).
    role : str
        The role to change (a key of ``plan.roles``).
    accelerator : float
        Factor on the rate of every band starting at or above 100 % of quota (1.0: as planned).
    cap : float, None or "keep"
        The most the curve pays in a period, times the target incentive; None: no cap;
        ``"keep"``: the plan's.

    Examples
    --------
    >>> from salesnb.incentives.plan import EXAMPLE, parse_plan
    >>> p = adjust_plan(parse_plan(EXAMPLE), "ae", accelerator=2.0, cap=None)
    >>> [b.rate for b in p.roles["ae"].bands], p.roles["ae"].cap
    ([0.5, 1.0, 3.0], None)
    """
    if role not in plan.roles:
        msg = f"The plan has no role {role!r}. Fix: use one of {sorted(plan.roles)!r}."
        raise ParameterError(msg)
    if not (math.isfinite(accelerator) and accelerator >= 0):
        msg = f"Accelerator factor {accelerator!r} is not a number of 0 or more. Fix: use e.g. 1.2."
        raise ParameterError(msg)
    if cap != "keep" and cap is not None and not (isinstance(cap, int | float) and cap > 0):
        msg = (
            f"Cap {cap!r} is not a positive number. Fix: use e.g. 2.5 (times the target incentive)."
        )
        raise ParameterError(msg)
    r = plan.roles[role]
    bands = tuple(replace(b, rate=b.rate * accelerator) if b.start >= 1.0 else b for b in r.bands)
    new = replace(r, bands=bands, cap=r.cap if cap == "keep" else cap)
    return replace(plan, roles={**plan.roles, role: new})


def with_won_deals(wb: Workbook, rep_id: str, start: pd.Timestamp, end: pd.Timestamp, *,
                   opp_ids: Iterable[str] = (), extra: float = 0.0,
                   new_account: bool = False) -> Workbook:  # fmt: skip
    """A copy of the data in which a rep wins more in the period ``start``-``end``.

    The rep's open deals ``opp_ids`` are won, and ``extra`` (currency, if not 0) is one more
    won deal (id :data:`EXTRA_DEAL`, no product, on a new account if ``new_account``, else
    on an existing one); each closes on the as-of date, or the period's first day if the
    period lies ahead (its last day if it lies behind).

    Examples
    --------
    >>> more = with_won_deals(wb, "R01", start, end, extra=25_000)  # doctest: +SKIP
    >>> more.opportunities.iloc[-1][["opp_id", "amount", "outcome"]].tolist()  # doctest: +SKIP
    ['what-if extra deal', 25000.0, 'won']
    """
    if not (math.isfinite(extra) and extra >= 0):
        msg = f"Extra amount {extra!r} is not a number of 0 or more. Fix: type an amount, e.g. 25k."
        raise ParameterError(msg)
    o = wb.opportunities
    ids = set(opp_ids)
    day = min(max(wb.as_of.normalize(), pd.Timestamp(start)), pd.Timestamp(end))
    mine = (o["rep_id"] == rep_id) & (o["outcome"] == "open")
    pick = mine & o["opp_id"].isin(ids)
    unknown = ids - set(o.loc[pick, "opp_id"])
    if unknown:
        msg = (f"{min(unknown)!r} is not an open deal of {rep_id}. "
               "Fix: pick one of the rep's open deals.")  # fmt: skip
        raise ParameterError(msg)
    won = wb.config.stages.won_name
    o = o.copy()
    o.loc[pick, ["outcome", "stage", "furthest_stage"]] = ["won", won, won]
    o.loc[pick, "close_date"] = day
    if extra > 0:
        row = {c: pd.NA for c in o.columns}
        row.update(opp_id=EXTRA_DEAL, rep_id=rep_id, amount=float(extra), outcome="won",
                   stage=won, furthest_stage=won, created_date=day, close_date=day,
                   account="what-if new account" if new_account else pd.NA)  # fmt: skip
        o = pd.concat([o, pd.DataFrame([row]).astype(o.dtypes.to_dict())], ignore_index=True)
    return replace(wb, opportunities=o)


def earnings_curve(plan: Plan, role: str, target_incentive: float,
                   upto: float = 2.0, points: int = 201) -> pd.DataFrame:  # fmt: skip
    """What a role's curve and kickers pay in a period, by attainment from 0 to ``upto``.

    Returns a frame with ``attainment`` (fraction) and ``pay`` (commission plus kickers,
    currency); draws, SPIFs and clawbacks depend on the deals and are not in it.

    Examples
    --------
    >>> from salesnb.incentives.plan import EXAMPLE, parse_plan
    >>> c = earnings_curve(parse_plan(EXAMPLE), "ae", 12500.0, upto=2.0, points=5)
    >>> c["pay"].round(2).tolist()  # 0, 50 %, 100 %, 150 %, 200 % of quota; cap 2.0
    [0.0, 3125.0, 9375.0, 18750.0, 25000.0]
    """
    r = plan.roles[role]
    att = np.linspace(0.0, upto, points)
    starts = np.array([b.start for b in r.bands])
    rates = np.array([b.rate for b in r.bands])
    pay = commission(att, np.array(target_incentive), starts, rates, r.cap)
    for k in r.kickers:
        pay = pay + np.where(att >= k.at - 1e-12, k.amount, 0.0)
    return pd.DataFrame({"attainment": att, "pay": pay})


@dataclass(frozen=True)
class NextStep:
    """What more bookings are worth to a rep this period, by the role's curve.

    Attributes
    ----------
    what : str
        ``"band"`` or ``"accelerator"`` (a band starts at ``at``; at or above 100 %: the
        accelerator), ``"kicker"`` (a kicker only), ``"top"`` (no further band or kicker
        before the cap or at all: more bookings pay the current band's rate), ``"capped"``
        (the curve pays no more this period).
    at : float
        Attainment of the step (1.0 = 100 % of quota); for "top" and "capped" the rep's own.
    bookings_needed : float
        Credited bookings still needed to reach it (currency; 0 for "top" and "capped").
    rate : float
        Rate of the band from there, times the base rate (0 when capped).
    per_1000 : float
        Commission each further 1,000 of credited bookings pays from there (currency).
    kicker : float
        A fixed bonus paid on reaching it (currency; 0 if none).
    cap_at : float or None
        Attainment where the cap stops the curve (None: no cap).
    """

    what: str
    at: float
    bookings_needed: float
    rate: float
    per_1000: float
    kicker: float = 0.0
    cap_at: float | None = None


def _cap_at(bands: tuple, cap: float | None) -> float | None:
    """Attainment where the curve (in units of the target incentive) reaches ``cap``."""
    if cap is None:
        return None
    value = 0.0
    for b, nxt in zip(bands, (*(x.start for x in bands[1:]), math.inf), strict=True):
        top = value + b.rate * (nxt - b.start)
        if b.rate > 0 and top >= cap:
            return b.start + (cap - value) / b.rate
        value = top
    return None


def next_step(plan: Plan, row: Mapping[str, Any]) -> NextStep | None:
    """What the next band start or kicker above a rep's attainment is worth (a payouts row).

    None when the attainment is unknown (no quota) or the rep has no role in the plan.

    Examples
    --------
    >>> from salesnb.incentives.plan import EXAMPLE, parse_plan
    >>> row = {"role": "ae", "attainment": 0.8, "quota": 100000.0, "target_incentive": 12500.0,
    ...        "cap_cut": 0.0}
    >>> s = next_step(parse_plan(EXAMPLE), row)
    >>> s.what, round(s.bookings_needed), s.rate, s.per_1000, round(s.cap_at, 4)
    ('accelerator', 20000, 1.5, 187.5, 1.8333)
    >>> next_step(parse_plan(EXAMPLE), {**row, "attainment": 1.2}).what
    'top'
    """
    role = plan.roles.get(str(row.get("role")))
    att, quota = row.get("attainment"), row.get("quota")
    ti = row.get("target_incentive")
    if role is None or any(v is None or not math.isfinite(v) for v in (att, quota, ti)):
        return None
    if quota <= 0:
        return None
    cap_at = _cap_at(role.bands, role.cap)
    if (row.get("cap_cut") or 0.0) < 0 or (cap_at is not None and att >= cap_at - 1e-12):
        return NextStep("capped", float(att), 0.0, 0.0, 0.0, cap_at=cap_at)
    kick = {k.at: k.amount for k in role.kickers}
    steps = sorted({b.start for b in role.bands if b.start > att + 1e-12}
                   | {a for a in kick if a > att + 1e-12})  # fmt: skip
    if not steps or (cap_at is not None and steps[0] >= cap_at):
        band = [b for b in role.bands if b.start <= att + 1e-12][-1]
        return NextStep("top", float(att), 0.0, float(band.rate),
                        float(band.rate * ti / quota * 1000.0), cap_at=cap_at)  # fmt: skip
    at = steps[0]
    band = [b for b in role.bands if b.start <= at + 1e-12][-1]
    starts_band = any(abs(b.start - at) < 1e-12 for b in role.bands)
    what = ("accelerator" if at >= 1.0 else "band") if starts_band else "kicker"
    return NextStep(what, float(at), float((at - att) * quota), float(band.rate),
                    float(band.rate * ti / quota * 1000.0), float(kick.get(at, 0.0)),
                    cap_at)  # fmt: skip


def next_step_text(step: NextStep | None, currency: str = "USD") -> str:
    """One plain sentence on what more bookings are worth (the kit's formatter).

    Examples
    --------
    >>> next_step_text(NextStep("accelerator", 1.0, 20000.0, 1.5, 187.5, 1000.0))
    '$20K more credited bookings reach 100% of quota: a $1K kicker, then each further $1K of credited bookings pays $188 (the accelerator, 1.5x the base rate).'
    >>> next_step_text(NextStep("top", 1.6, 0.0, 2.0, 392.0, cap_at=2.0))
    'Each further $1K of credited bookings pays $392 (the top band, 2x the base rate) up to the cap, reached at 200% of quota.'
    >>> next_step_text(None)
    'What more bookings would pay is unknown: the period has no quota in the targets table.'
    """
    m = lambda v: format_value(v, "currency", currency)
    if step is None:
        return (
            "What more bookings would pay is unknown: the period has no quota in the targets table."
        )
    cap = (f" up to the cap, reached at {format_value(step.cap_at, 'percent')} of quota"
           if step.cap_at is not None else "")  # fmt: skip
    if step.what == "capped":
        return ("The curve is capped for this period: more credited bookings add no commission "
                "(kickers and SPIFs aside).")  # fmt: skip
    if step.what == "top":
        return (f"Each further {m(1000)} of credited bookings pays {m(step.per_1000)} (the top "
                f"band, {step.rate:g}x the base rate){cap}.")  # fmt: skip
    head = (f"{m(step.bookings_needed)} more credited bookings reach "
            f"{format_value(step.at, 'percent')} of quota")  # fmt: skip
    parts = [f"a {m(step.kicker)} kicker"] if step.kicker else []
    if step.what != "kicker":
        name = "the accelerator" if step.what == "accelerator" else "the next band"
        parts.append(f"{'then ' if parts else ''}each further {m(1000)} of credited bookings "
                     f"pays {m(step.per_1000)} ({name}, {step.rate:g}x the base rate)")  # fmt: skip
    return f"{head}: {', '.join(parts)}."


@dataclass(frozen=True)
class PayoutWhatIf:
    """A rep's payout for a period before and after a what-if (see :func:`payout_what_if`).

    ``before`` and ``after`` are the rep's :func:`~salesnb.incentives.payouts` rows (the data
    and plan as they are; with the deals won and the knobs moved); ``curve`` has the role's
    ``attainment`` and ``pay`` as planned (``before``) and as changed (``after``);
    ``lines`` explains ``after`` step by step; ``next_before``/``next_after`` are
    :func:`next_step` of each.
    """

    rep_id: str
    role: str
    period: str
    before: dict[str, Any]
    after: dict[str, Any]
    curve: pd.DataFrame
    lines: list[str]
    next_before: NextStep | None
    next_after: NextStep | None

    @property
    def change(self) -> float:
        """What the what-if adds to the payout (currency)."""
        return float(self.after["payout"] - self.before["payout"])


def rep_row(table: pd.DataFrame, rep_id: str) -> dict[str, Any]:
    """The rep's row of a one-period :func:`~salesnb.incentives.payouts` table.

    Raises
    ------
    ParameterError
        When the plan assigns the rep no role (the table has no row for the rep).
    """
    rows = table[(table["payee_kind"] == "rep") & (table["payee_id"] == rep_id)]
    if rows.empty:
        msg = (f"The plan assigns no role to {rep_id} in this period, so it pays nothing here. "
               "Fix: pick another rep or period, or add an [[assign]] for the rep.")  # fmt: skip
        raise ParameterError(msg)
    return rows.iloc[-1].to_dict()


def payout_what_if(wb: Workbook, plan: Plan, rep_id: str, period: str, *,
                   opp_ids: Iterable[str] = (), extra: float = 0.0, new_account: bool = False,
                   accelerator: float = 1.0, cap: float | None | str = "keep",
                   base: pd.DataFrame | None = None) -> PayoutWhatIf:  # fmt: skip
    """What a rep earns in ``period`` if more deals close and the plan's knobs move.

    Parameters
    ----------
    wb, plan : Workbook, Plan
        The data and the plan as they are.
    rep_id, period : str
        The rep and one plan period (``"FY2026-Q3"``).
    opp_ids, extra, new_account
        Deals won in the period (:func:`with_won_deals`).
    accelerator, cap
        The rep's role's knobs (:func:`adjust_plan`).
    base : DataFrame, optional
        ``payouts(wb, plan, period)`` if already made (an app keeps it between changes).

    Examples
    --------
    >>> w = payout_what_if(wb, plan, "R15", "FY2026-Q3", extra=20_000)  # doctest: +SKIP
    >>> round(w.change)  # doctest: +SKIP
    4706
    """
    opp_ids = tuple(opp_ids)
    table = payouts(wb, plan, period) if base is None else base
    before = rep_row(table, rep_id)
    role = str(before["role"])
    moved = adjust_plan(plan, role, accelerator=accelerator, cap=cap)
    more = with_won_deals(wb, rep_id, before["start"], before["end"], opp_ids=opp_ids,
                          extra=extra, new_account=new_account)  # fmt: skip
    same = accelerator == 1.0 and cap == "keep" and not opp_ids and extra == 0
    after = before if same else rep_row(payouts(more, moved, period), rep_id)
    ti = float(before["target_incentive"])
    top = max(2.0, *(float(r["attainment"]) * 1.15 for r in (before, after)
                     if r["attainment"] == r["attainment"]))  # fmt: skip
    c0, c1 = earnings_curve(plan, role, ti, top), earnings_curve(moved, role, ti, top)
    curve = pd.DataFrame({"attainment": c0["attainment"], "before": c0["pay"], "after": c1["pay"]})
    return PayoutWhatIf(rep_id=rep_id, role=role, period=str(before["period"]), before=before,
                        after=after, curve=curve, lines=statement_lines(after, wb.unit),
                        next_before=next_step(plan, before),
                        next_after=next_step(moved, after))  # fmt: skip

"""An incentive statement: one subject's payouts, step by step, and nobody else's.

:func:`statement_view` gathers what the statement notebook (notebooks/incentive_statement.ipynb)
shows: the period's calculation in plain words, every plan period so far, the role's curve
and the headline figures for the batch index. Only the subject's own reps' rows are kept (a
rep's statement holds that rep's figures alone; a manager's adds their override).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from salesnb.analytics.coaching_facts import format_value
from salesnb.data.model import Workbook
from salesnb.incentives.engine import payouts, period_label, statement_lines
from salesnb.incentives.plan import Plan

_HISTORY = (("period", "period", "text"), ("credited", "credited bookings", "currency"),
            ("quota", "quota", "currency"), ("attainment", "attainment", "percent"),
            ("commission", "commission", "currency"), ("kicker", "kickers", "currency"),
            ("spif", "SPIFs", "currency"), ("clawback", "clawbacks", "currency"),
            ("draw_topup", "draw top-up", "currency"),
            ("draw_recovery", "draw recovered", "currency"), ("payout", "payout", "currency"))  # fmt: skip


@dataclass
class StatementView:
    """What an incentive statement shows (see :func:`statement_view`)."""

    period: str
    rows: pd.DataFrame
    lines: dict[str, list[str]]
    history: pd.DataFrame
    curve: pd.DataFrame
    headline: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def statement_view(
    wb: Workbook, plan: Plan, rep_ids: Sequence[str], period: str, manager: str | None = None
) -> StatementView:
    """The statement of ``rep_ids`` (a rep, or a manager's team) for the plan period holding
    ``period``, with every plan period from the plan's start to it.

    Parameters
    ----------
    wb : Workbook
    plan : Plan
    rep_ids : sequence of str
        The subject's reps; nobody else's figures are kept.
    period : str
        A fiscal period; the plan period holding its first day is the statement's.
    manager : str, optional
        A manager subject: their override rows are kept too.

    Examples
    --------
    >>> v = statement_view(wb, plan, ["R01"], "FY2026-Q3")  # doctest: +SKIP
    >>> v.lines["R01"][-1]  # doctest: +SKIP
    'Payout: $50.1K.'
    """
    label = period_label(wb, period)
    start, _ = wb.config.calendar.period_bounds(label)
    freq = {"month": "M", "quarter": "Q", "year": "Y"}[plan.period]
    first = wb.config.calendar.period_label(plan.effective_from, freq)
    table = payouts(wb, plan, [first, label])
    mine = (table["payee_kind"] == "rep") & table["payee_id"].isin(list(rep_ids))
    if manager is not None:
        mine |= (table["payee_kind"] == "manager") & (table["payee_id"] == manager)
    table = table[mine].reset_index(drop=True)
    now = table[(table["start"] <= start) & (table["end"] >= start)]
    cur = wb.unit
    lines = {f"{r['name']} ({r['payee_id']})" if r["payee_kind"] == "rep" else r["name"]:
             statement_lines(r, cur) for r in now.to_dict("records")}  # fmt: skip
    history = pd.DataFrame({
        head: [format_value(v, unit, cur) for v in table[col]] for col, head, unit in _HISTORY
    })  # fmt: skip
    history.insert(0, "who", table["name"].to_numpy())
    reps_now = now[now["payee_kind"] == "rep"]
    roles = sorted(set(reps_now["role"]))
    curve_rows = []
    for name in roles:
        role = plan.roles[name]
        for i, b in enumerate(role.bands):
            hi = role.bands[i + 1].start if i + 1 < len(role.bands) else None
            span = (f"{format_value(b.start, 'percent')} to {format_value(hi, 'percent')}"
                    if hi is not None else f"{format_value(b.start, 'percent')} and above")  # fmt: skip
            curve_rows.append({"role": name, "attainment": span,
                               "pays": f"{b.rate:g}x the base rate"})  # fmt: skip
        if role.cap is not None:
            curve_rows.append({"role": name, "attainment": "cap",
                               "pays": f"at most {role.cap:g}x the target incentive"})  # fmt: skip
        for k in role.kickers:
            curve_rows.append({"role": name, "attainment": f"kicker at {format_value(k.at, 'percent')}",
                               "pays": format_value(k.amount, "currency", cur)})  # fmt: skip
    flags = []
    if reps_now["note"].astype(bool).any():
        flags.append("quota unknown")
    if (reps_now["draw_topup"] > 0).any():
        flags.append("on the draw")
    if (reps_now["clawback"] > 0).any():
        flags.append("clawback")
    one = len(reps_now) == 1
    own = now[now["payee_kind"] == "manager"] if manager is not None else reps_now
    headline = {
        "payout": float(own["payout"].sum(min_count=1)) if len(own) else None,
        "team_payout": float(reps_now["payout"].sum(min_count=1)) if manager else None,
        "commission": float(reps_now["commission"].sum(min_count=1)) if len(reps_now) else None,
        "attainment": float(reps_now["attainment"].iloc[0]) if one else None,
        "flags": flags,
    }
    notes = []
    if not len(now):
        notes.append(f"The plan pays nobody of this statement in {label}: no role is assigned, "
                     "or the period is before the start date.")  # fmt: skip
    return StatementView(label, now, lines, history, pd.DataFrame(curve_rows), headline, notes)

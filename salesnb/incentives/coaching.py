"""A rep's pay in coaching documents: earnings to date, what the next band is worth, what the
open commit would earn. The one-on-one shows it only when given a plan file (pay is private,
and many teams do not share it); it holds the rep's own figures only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from salesnb.analytics.coaching_facts import format_value
from salesnb.data.model import Workbook
from salesnb.incentives.engine import payouts
from salesnb.incentives.plan import Plan
from salesnb.incentives.whatif import NextStep, next_step, next_step_text, payout_what_if

_FREQ = {"month": "M", "quarter": "Q", "year": "Y"}
#: The forecast category of deals a rep has committed to close.
COMMIT = "commit"


def known_at(wb: Workbook, as_of: Any) -> Workbook:
    """The data as it stood at the end of ``as_of``, as far as pay is concerned.

    Deals created later are left out, deals closed later are still open, snapshots taken
    later are dropped, and ``as_of`` becomes the data's as-of date. (Pay depends on the
    outcome and close date only, so an open deal's stage then is not reconstructed.)

    Examples
    --------
    >>> known_at(wb, "2026-08-14").as_of  # doctest: +SKIP
    Timestamp('2026-08-14 00:00:00')
    """
    day = pd.Timestamp(as_of).normalize()
    if day == wb.as_of.normalize():
        return wb
    o = wb.opportunities
    o = o[~(o["created_date"] > day).to_numpy()].copy()
    late = ((o["outcome"] != "open") & (o["close_date"] > day)).to_numpy()
    o.loc[late, "outcome"] = "open"
    o.loc[late, "stage"] = wb.config.stages.open_names[-1]
    s = wb.snapshots
    return replace(wb, opportunities=o, snapshots=s[~(s["as_of"] > day).to_numpy()],
                   config=replace(wb.config, as_of=day))  # fmt: skip


@dataclass(frozen=True)
class EarningsBrief:
    """A rep's pay for a coaching document (see :func:`earnings_brief`).

    Attributes
    ----------
    period : str
        The plan period holding the as-of date.
    to_date : float
        Payouts from the plan's start to the as-of date (currency).
    by_period : DataFrame
        ``period``, ``payout``, ``complete`` of each plan period so far.
    draw_paid : float
        Of ``to_date``, guaranteed draw paid above earnings while ramping (currency).
    accelerator : float
        Of ``to_date``, accelerator pay (currency).
    now : dict
        The rep's payouts row of ``period``.
    next : NextStep or None
        What more bookings are worth this period.
    commit_deals : int
        Open deals in commit due by the period's end.
    commit_payout : float or None
        The period's payout if they are all won (None: no such deal).
    lines : list of str
        The sentences to show, in plain words.
    """

    rep_id: str
    name: str
    plan: str
    period: str
    to_date: float
    by_period: pd.DataFrame
    draw_paid: float
    accelerator: float
    now: dict[str, Any]
    next: NextStep | None
    commit_deals: int
    commit_payout: float | None
    lines: list[str]


def earnings_brief(
    wb: Workbook, plan: Plan, rep_id: str, as_of: Any = None
) -> EarningsBrief | None:
    """What a rep has earned under ``plan`` so far, and what more bookings would earn.

    Parameters
    ----------
    wb : Workbook
        The data (the whole team's: crediting a new account needs every rep's wins).
    plan : Plan
        From :func:`salesnb.incentives.load_plan`.
    rep_id : str
        The rep.
    as_of : date, optional
        The document's date (default: the data's); later deals are not known yet.

    Returns
    -------
    EarningsBrief or None
        None when the plan assigns the rep no role or the as-of date is outside the plan.

    Examples
    --------
    >>> b = earnings_brief(wb, load_plan("data/sample/incentive_plan.toml"), "R07")  # doctest: +SKIP
    >>> b.lines[0]  # doctest: +SKIP
    'Earned under FY2026 account executive plan so far: $48.6K (FY2026-Q1 $21.8K, ...).'
    """
    wb = known_at(wb, wb.as_of if as_of is None else as_of)
    day = wb.as_of
    if day < plan.effective_from or (plan.effective_to is not None and day > plan.effective_to):
        return None
    cal = wb.config.calendar
    first = cal.period_label(plan.effective_from, _FREQ[plan.period])
    now_label = cal.period_label(day, _FREQ[plan.period])
    table = payouts(wb, plan, [first, now_label])
    mine = table[(table["payee_kind"] == "rep") & (table["payee_id"] == rep_id)]
    if mine.empty:
        return None
    now = mine.iloc[-1].to_dict()
    cur = wb.unit
    m = lambda v: format_value(v, "currency", cur)
    by_period = mine[["period", "payout", "complete"]].reset_index(drop=True)
    known = by_period["payout"].notna()
    to_date = float(by_period.loc[known, "payout"].sum())
    draw_paid = float(np.nansum(mine["draw_topup"]))
    parts = ", ".join(f"{r.period} {m(r.payout)}" + ("" if r.complete else " so far")
                      for r in by_period.itertuples())  # fmt: skip
    lines = [f"Earned under {plan.name} so far: {m(to_date)} ({parts})."]
    if not known.all():
        lines[0] += (
            " Periods without a quota in the targets table are left out: ask sales operations."
        )
    accel = float(np.nansum(mine["accelerator"]))
    if accel > 0:
        lines.append(f"Of this, {m(accel)} is accelerator pay: bookings above 100% of quota "
                     "paid at a higher rate.")  # fmt: skip
    if draw_paid > 0:
        role = plan.roles.get(str(now["role"]))
        back = ("; it is not paid back" if role is not None and not role.ramp.recoverable
                else _recovery(now, m))  # fmt: skip
        lines.append(f"Of this, {m(draw_paid)} is the new-hire draw: pay guaranteed while "
                     f"ramping, above what commission earned{back}.")  # fmt: skip
    att = now["attainment"]
    if pd.notna(att):
        so_far = "" if now["complete"] else " so far"
        lines.append(f"This period ({now['period']}): {m(now['credited'])} credited against a "
                     f"quota of {m(now['quota'])}, {format_value(att, 'percent')} of quota, "
                     f"payout {m(now['payout'])}{so_far}.")  # fmt: skip
    step = next_step(plan, now)
    lines.append(next_step_text(step, cur))
    o = wb.opportunities
    category = o["forecast_category"].astype("string").str.lower().eq(COMMIT).fillna(False)
    commit = o[((o["rep_id"] == rep_id) & (o["outcome"] == "open") & category
                & (o["close_date"] <= now["end"])).to_numpy(dtype=bool)]  # fmt: skip
    commit_payout = None
    if len(commit):
        w = payout_what_if(wb, plan, rep_id, now["period"], opp_ids=list(commit["opp_id"]),
                           base=table)  # fmt: skip
        commit_payout = float(w.after["payout"])
        n = len(commit)
        lines.append(f"If the {n} open deal{'s' if n != 1 else ''} in commit due by "
                     f"{now['end']:%Y-%m-%d} close{'s' if n == 1 else ''} as won: payout "
                     f"{m(commit_payout)} for {now['period']} ({'+' if w.change >= 0 else '-'}"
                     f"{m(abs(w.change))}).")  # fmt: skip
    else:
        lines.append(f"No open deal in commit is due by {now['end']:%Y-%m-%d}.")
    return EarningsBrief(rep_id=rep_id, name=str(now["name"]), plan=plan.name,
                         period=str(now["period"]), to_date=to_date, by_period=by_period,
                         draw_paid=draw_paid, accelerator=accel, now=now, next=step, commit_deals=len(commit),
                         commit_payout=commit_payout, lines=lines)  # fmt: skip


def _recovery(now: dict[str, Any], m: Any) -> str:
    balance = now.get("draw_balance") or 0.0
    if balance > 0:
        return f"; {m(balance)} of it is still to be paid back from later earnings above the draw"
    return ""


def earnings_html(wb: Workbook, plan: str | Plan | None, subject_type: str, subject: str,
                  as_of: Any = None) -> str:  # fmt: skip
    """The one-on-one's pay section as escaped HTML; ``""`` when no plan is given.

    Parameters
    ----------
    wb : Workbook
        The data.
    plan : path, Plan or None
        The plan file (or plan); None: pay is not shown (the default: many teams do not
        share pay data).
    subject_type, subject : str
        The document's subject; a rep gets their own figures, any other subject one sentence.
    as_of : date, optional
        The document's date.

    Examples
    --------
    >>> earnings_html(wb, None, "rep", "R07")  # doctest: +SKIP
    ''
    """
    import html

    if plan is None:
        return ""
    from salesnb.incentives.plan import load_plan

    the_plan = plan if isinstance(plan, Plan) else load_plan(plan)
    head = "<h2>Pay under the incentive plan</h2>"
    if subject_type != "rep":
        return (f"{head}<p>Pay is personal: it is shown only in each rep's own one-on-one, "
                "never in a team's copy.</p>")  # fmt: skip
    brief = earnings_brief(wb, the_plan, subject, as_of)
    if brief is None:
        name = html.escape(str(wb.rep(subject)["name"]))
        return (f"{head}<p>{html.escape(the_plan.name)} pays {name} nothing on this date: it "
                "assigns them no role, or it is not in effect.</p>")  # fmt: skip
    items = "".join(f"<li>{html.escape(x)}</li>" for x in brief.lines)
    return (
        f"{head}<p>What the plan has paid so far and what more bookings would earn. Use it to "
        "connect the deals you discuss to the rep's pay; check a figure that looks wrong "
        "against the incentive statement.</p>"
        f"<ul>{items}</ul><p><small>Worked out with the plan file's rules as on the incentive "
        "statement (docs/incentives.md); deals closed after the document's date are not "
        "counted. Pay is personal: this section appears only in the rep's own copy and only "
        "when the document is given a plan file.</small></p>"
    )

"""The performance improvement plan's view: :func:`pip_view`, its goals, progress and
agreement.

Public through :mod:`salesnb.reports.workbooks`; safe prose and tables from
:mod:`salesnb.reports.viewkit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from salesnb.analytics import coaching
from salesnb.reports import facts
from salesnb.reports.facts import Context
from salesnb.reports.reviewviews import (
    peer_median_header,
)
from salesnb.reports.viewkit import (
    Html,
    _humane_tables,
    _num,
    esc,
    fmt,
    para,
)


# --------------------------------------------------------------------------- improvement plan
@dataclass
class ImprovementPlan:
    """Everything the performance-improvement plan shows (see :func:`pip_view`)."""

    start: pd.Timestamp
    gaps: pd.DataFrame
    goals: list[Any]
    progress: pd.DataFrame
    stages: pd.DataFrame
    peer_chart: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    text: dict[str, Html] = field(default_factory=dict)
    headline: dict[str, Any] = field(default_factory=dict)


def pip_view(ctx: Context, plan_start: Any = None, *, n_goals: int = 3) -> ImprovementPlan:
    """Prepare an improvement plan starting ``plan_start`` (default as-of) and its progress.

    The gap analysis and goals use the data as it stood at the start; each weekly
    checkpoint due by as-of is measured the same way (:data:`salesnb.reports.facts.PIP_WINDOWS`).

    Examples
    --------
    >>> plan = pip_view(facts.context(wb, "rep", "R04"), "2026-07-01")   # doctest: +SKIP
    >>> plan.progress["status"].value_counts()                           # doctest: +SKIP
    """
    from salesnb.core.errors import ParameterError

    cur = ctx.currency
    start = ctx.as_of if plan_start in (None, "") else pd.Timestamp(plan_start).normalize()
    if start > ctx.as_of:
        raise ParameterError(f"plan_start {start:%Y-%m-%d} is after as_of {ctx.as_of:%Y-%m-%d}. "
                             "Fix: give the date the plan started (or leave it empty).")  # fmt: skip
    pf = facts.pip_facts(ctx, start)
    gaps = coaching.gap_analysis(pf)
    rules = coaching.load_rules()
    need = coaching.plan_needed(
        facts.quarterly_attainment(ctx, start, rules.pip.bar_quarters), rules
    )
    goals = (coaching.propose_pip_goals(pf, start=start.date(), n_goals=n_goals, currency=cur)
             if need.needed else [])  # fmt: skip
    dates = sorted({pd.Timestamp(d) for g in goals for d in g.checkpoints["date"]
                    if pd.Timestamp(d) <= ctx.as_of})  # fmt: skip
    act = facts.pip_actuals(ctx, [g.metric for g in goals], dates)
    week = {(g.metric, pd.Timestamp(d)): w for g in goals
            for w, d in zip(g.checkpoints["week"], g.checkpoints["date"], strict=True)}  # fmt: skip
    act["week"] = [week.get((m, d)) for m, d in zip(act["metric"], act["date"], strict=True)]
    progress = coaching.pip_progress(goals, act.dropna(subset=["week"]), ctx.as_of.date())
    comp = gaps.rename(columns={"rep": "value", "team_q1": "p25", "team_median": "median",
                                "team_q3": "p75"})  # fmt: skip
    comp = comp[~comp["metric"].str.startswith("stage_conversion:") & comp["value"].notna()]
    n_peers = facts.peer_group(ctx).n if ctx.is_rep else 0
    unit = comp["unit"].replace({"growth": "percent"})
    plan = ImprovementPlan(start, gaps, goals, progress, facts.stage_table(ctx), pd.DataFrame({
        "metric": comp["label"], "value": comp["value"], "p25": comp["p25"],
        "median": comp["median"], "p75": comp["p75"],
        "n_peers": n_peers if ctx.is_rep else facts.MIN_PEERS, "unit": unit,
        "higher_is_better": comp["better"].eq("higher"), "percentile": comp["percentile"]}))  # fmt: skip
    plan.peer_chart = plan.peer_chart[plan.peer_chart["median"].notna()].reset_index(drop=True)
    gt = gaps[gaps["status"] != "no reference"]
    plan.tables["gaps"] = pd.DataFrame({
        "KPI": gt["label"],
        "value": [fmt(v, u, cur) for v, u in zip(gt["rep"], gt["unit"], strict=True)],
        peer_median_header(ctx): [fmt(v, u, cur) for v, u in zip(gt["team_median"], gt["unit"], strict=True)],
        "target": [fmt(v, u, cur) for v, u in zip(gt["target"], gt["unit"], strict=True)],
        "shortfall": [fmt(v, "percent") for v in gt["severity"]], "status": gt["status"],
    }).reset_index(drop=True)  # fmt: skip
    plan.tables["goals"] = coaching.goals_table(goals, cur) if goals else Html("")
    plan.tables["progress"] = _progress_table(goals, progress, cur)
    plan.text["goals"] = _goals_html(goals, cur) if need.needed else para("{r}", r=need.reason)
    plan.text["need"] = para("{r}", r=need.reason)
    plan.text["agreement"] = _agreement_html(need.needed)
    behind = gt[gt["status"] == "behind"]
    plan.text["gaps"] = para(
        "Measured at the plan's start ({d}). Behind on {n} of {m} KPIs with a reference; "
        "the largest shortfall: <b>{w}</b>.", d=f"{start:%Y-%m-%d}", n=len(behind), m=len(gt),
        w=behind["label"].iloc[0] if len(behind) else "none")  # fmt: skip
    due = progress[progress["is_latest"]] if len(progress) else progress
    counts = due["status"].value_counts() if len(due) else pd.Series(dtype=int)
    plan.headline = {
        "plan_start": start.date(), "attainment": _num(pf.value("attainment")),
        "plan_needed": need.needed,
        "goals": len(goals), "checkpoints_due": len(progress),
        "on_track": int(counts.get("on track", 0) + counts.get("ahead", 0)),
        "behind": int(counts.get("behind", 0)), "no_data": int(counts.get("no data", 0)),
        "largest_gap": str(behind["metric"].iloc[0]) if len(behind) else None,
        "flags": [g.metric for g, s in zip(goals, _latest_status(goals, progress), strict=True)
                  if s == "behind"],
    }  # fmt: skip
    plan.tables = _humane_tables(plan.tables, ctx.wb.counts_only)
    return plan


def _latest_status(goals: Sequence[Any], progress: pd.DataFrame) -> list[str]:
    last = progress[progress["is_latest"]].set_index("metric")["status"] if len(progress) else {}
    return [str(last.get(g.metric, "not started")) if len(progress) else "not started"
            for g in goals]  # fmt: skip


def _progress_table(goals: Sequence[Any], progress: pd.DataFrame, cur: str) -> pd.DataFrame:
    rows = []
    for g in goals:
        p = progress[progress["metric"] == g.metric] if len(progress) else progress
        for r in p.itertuples():
            rows.append({"goal": g.label, "week": int(r.week), "date": f"{r.date:%Y-%m-%d}",
                         "expected": fmt(r.expected, g.unit, cur),
                         "actual": fmt(r.actual, g.unit, cur), "status": r.status})  # fmt: skip
    return pd.DataFrame(rows, columns=["goal", "week", "date", "expected", "actual", "status"])


def _agreement_html(needed: bool) -> Html:
    """The sign-off table, only when a plan is proposed."""
    if not needed:
        return Html("<p><em>Nothing to sign: no plan is proposed.</em></p>")
    rows = "".join(
        f"<tr><th>{who}</th><td></td><td></td><td></td></tr>" for who in ("Rep", "Manager")
    )
    return Html(
        "<p>Rep and manager sign off the goals and the support above.</p><table><thead><tr>"
        f"<th></th><th>Name</th><th>Date</th><th>Signature</th></tr></thead><tbody>{rows}"
        "</tbody></table>"
    )


def _goals_html(goals: Sequence[Any], currency: str = "USD") -> Html:
    if not goals:
        return Html("<p><em>No goal proposed: the subject is not behind the peer median on any "
                    "metric a plan can move.</em></p>")  # fmt: skip
    parts = []
    for i, g in enumerate(goals, 1):
        smart = "".join(f"<li><b>{esc(k.replace('_', '-'))}</b>: {esc(v)}</li>"
                        for k, v in g.smart.items())  # fmt: skip
        marks = ", ".join(f"{d} days: {fmt(v, g.unit, currency)}" for d, _, v in g.milestones)
        parts.append(
            f"<h4>Goal {i}. {esc(g.text)}</h4><ul>{smart}</ul>"
            f"<p><b>Manager's support:</b> {esc(g.support)}<br><b>How progress is judged:</b> "
            f"{esc(g.measure)}<br><b>Milestones:</b> {esc(marks)}</p>"
        )
    return Html("".join(parts))

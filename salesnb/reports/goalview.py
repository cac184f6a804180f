"""The goal-setting workbook's view: :func:`goal_setting_view`, the quota in force, the
reverse funnel and the SMART checks.

Public through :mod:`salesnb.reports.workbooks`; safe prose and tables from
:mod:`salesnb.reports.viewkit`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from salesnb.reports import facts
from salesnb.reports.facts import Context
from salesnb.reports.viewkit import (
    Html,
    _humane_tables,
    bullets,
    esc,
    fmt,
    para,
    show,
)


# --------------------------------------------------------------------------- goal setting
@dataclass
class GoalPlan:
    """Everything the goal-setting workbook shows (see :func:`goal_setting_view`)."""

    annual_target: float
    decomposition: Any
    quarters_chart: pd.DataFrame
    months_chart: pd.DataFrame
    funnel: Any
    funnel_chart: pd.DataFrame
    checks: list[Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    text: dict[str, Html] = field(default_factory=dict)
    headline: dict[str, Any] = field(default_factory=dict)


def plan_year(ctx_wb: Any, period: str | None, as_of: pd.Timestamp) -> str:
    """The fiscal year to plan: ``period`` if it names one, else the year after as-of's."""
    cal = ctx_wb.config.calendar
    if period and str(period).startswith("FY") and "-Q" not in str(period):
        return str(period)
    return f"FY{cal.fiscal_year(as_of) + 1}"


def _trailing_bookings(ctx: Context, rep_ids: list[str], *, annualise: bool = True) -> pd.Series:
    """Won amount per rep over the 12 months to as-of, annualised for reps who started later
    (unless ``annualise`` is False)."""
    o = ctx.wb.opportunities
    start = ctx.as_of - pd.DateOffset(years=1) + pd.Timedelta(days=1)
    won = o[o["rep_id"].isin(rep_ids) & (o["outcome"] == "won")
            & o["close_date"].between(start, ctx.as_of)]  # fmt: skip
    total = won.groupby("rep_id")["amount"].sum().reindex(rep_ids, fill_value=0.0)
    if not annualise:
        return total
    starts = ctx.wb.reps.set_index("rep_id")["start_date"].reindex(rep_ids)
    days = (ctx.as_of - starts.clip(lower=start)).dt.days + 1  # both ends count
    days = days.fillna(365).clip(lower=30, upper=365)
    return total * 365 / days


def current_quota(ctx: Context) -> tuple[float | None, str]:
    """The subject's current quota as a yearly figure, and how it was worked out.

    The target of the quarter holding the as-of date x 4; for a rep who joined in the last
    12 months (whose quota may still ramp) the latest month's target x 12. None (and the
    reason) when the data has no target for that time.

    Examples
    --------
    >>> current_quota(facts.context(wb, "rep", "R16"))   # doctest: +SKIP
    (446000.0, "September 2026's target of $37.2K x 12 (joined 2026-04-06)")
    """
    cal, cur = ctx.wb.config.calendar, ctx.currency

    def target(label: str) -> float:
        t = facts.own_rows(ctx, "quota_attainment", period=label, as_of=ctx.as_of)
        v = float(t["target"].iloc[0]) if len(t) else float("nan")
        return v if np.isfinite(v) and v > 0 else float("nan")

    joined = facts.rep_start(ctx)
    if joined is not None and joined <= ctx.as_of - pd.DateOffset(years=1):
        joined = None
    if joined is not None:
        month = ctx.as_of.strftime("%Y-%m")
        v = target(month)
        if np.isfinite(v):
            how = (f"{ctx.as_of:%B %Y}'s target of {fmt(v, 'currency', cur)} x 12; joined "
                   f"{joined:%Y-%m-%d}, so the latest month's quota")  # fmt: skip
            return 12 * v, how
    quarter = cal.period_label(ctx.as_of, "Q")
    v = target(quarter)
    if np.isfinite(v):
        return 4 * v, f"{quarter}'s target of {fmt(v, 'currency', cur)} x 4"
    return None, f"no target for {quarter} in the data"


def goal_setting_view(
    ctx: Context,
    annual_target: float | None = None,
    *,
    growth: float = 0.10,
    proposed_goals: Sequence[Mapping[str, Any]] = (),
    objectives: Sequence[str] = (),
    split_method: str = "history",
) -> GoalPlan:
    """Prepare goal setting: the annual target split top-down, the reverse funnel, SMART checks.

    ``ctx.period`` is the fiscal year planned. Without ``annual_target`` it starts from the
    subject's current quota (:func:`current_quota`) x (1 + growth), rounded to hundreds; only
    when the data has no target, from the bookings of the last 12 months (annualised for reps
    who joined later). Both figures are shown beside the proposal. A region or manager subject is also split across its reps by
    ``split_method`` ("history", "capacity" (tenure ramp) or "even").

    Examples
    --------
    >>> plan = goal_setting_view(facts.context(wb, "rep", "R01", "FY2027"))   # doctest: +SKIP
    >>> plan.decomposition.quarters["amount"].sum() == plan.annual_target     # doctest: +SKIP
    True
    """
    from salesnb.analytics import goals
    from salesnb.forecast import combined as fc

    cur, wb = ctx.currency, ctx.wb
    trailing = _trailing_bookings(ctx, ctx.rep_ids)
    booked = _trailing_bookings(ctx, ctx.rep_ids, annualise=False)
    quota, quota_how = current_quota(ctx)
    derived = annual_target is None
    if derived:
        base = quota if quota is not None else trailing.sum()
        annual_target = float(round(base * (1 + growth), -2))
    total = float(round(float(annual_target)))
    team = fc.monthly_bookings(wb, by=None, as_of=ctx.as_of)["all"].dropna()
    dec = goals.decompose_annual(total, year_start=ctx.start, history=team)
    q, m = dec.quarters, dec.months
    plan = GoalPlan(total, dec, pd.DataFrame({"period": q["quarter"], "amount": q["amount"]}),
                    pd.DataFrame({"period": m["label"], "amount": m["amount"]}), None,
                    pd.DataFrame(), [])  # fmt: skip
    plan.tables["quarters"] = show(q[["quarter", "start", "end", "weight", "amount"]],
                                   {"weight": "percent", "amount": "currency"}, cur)  # fmt: skip
    plan.tables["months"] = show(m[["label", "quarter", "weight", "amount"]],
                                 {"weight": "percent", "amount": "currency"}, cur)  # fmt: skip
    first_q = dec.weeks[dec.weeks["quarter"] == q["quarter"].iloc[0]]
    plan.tables["weeks"] = show(
        first_q[["iso_week", "week_start", "week_end", "business_days", "amount"]],
        {"amount": "currency"}, cur)  # fmt: skip
    if not ctx.is_rep:
        reps = wb.reps[wb.reps["rep_id"].isin(ctx.rep_ids)][["rep_id", "name", "start_date"]]
        split = goals.split_across(total, reps.reset_index(drop=True), split_method,
                                   history=trailing, as_of=ctx.start)  # fmt: skip
        plan.tables["reps"] = show(
            split.assign(last_12_months=split["rep_id"].map(trailing))[
                ["name", "start_date", "last_12_months", "share", "amount"]],
            {"last_12_months": "currency", "share": "percent", "amount": "currency"}, cur)  # fmt: skip
        per_rep = [goals.decompose_annual(a, year_start=ctx.start, history=team).quarters
                   .assign(group=n) for n, a in zip(split["name"], split["amount"], strict=True)]  # fmt: skip
        plan.quarters_chart = pd.concat(per_rep)[["quarter", "amount", "group"]].rename(
            columns={"quarter": "period"}
        )
    q1 = float(q["amount"].iloc[0])
    plan.funnel, notes = _reverse_funnel(ctx, q1)
    plan.funnel_chart = _funnel_now(ctx, plan.funnel, str(q["quarter"].iloc[0]))
    plan.tables["funnel"] = show(plan.funnel.table(), {}, cur).assign(
        total=[fmt(v, "currency", cur) if u == "currency" else f"{v:,.0f}"
               for v, u in zip(plan.funnel.table()["total"], plan.funnel.table()["unit"], strict=True)],
        per_week=[fmt(v, "currency", cur) if u == "currency" else f"{v:,.0f}"
                  for v, u in zip(plan.funnel.table()["per_week"], plan.funnel.table()["unit"], strict=True)],
    )  # fmt: skip
    plan.checks = smart_checks(ctx, proposed_goals, objectives)
    plan.tables["smart"] = smart_summary(plan.checks) if plan.checks else Html("")
    got = fmt(booked.sum(), "currency", cur)
    if trailing.sum() > booked.sum() + 0.5:
        got += (
            f" ({fmt(trailing.sum(), 'currency', cur)} a year at that pace, as they joined later)"
        )
    if not derived:
        basis = "the given target."
    elif quota is not None:
        basis = (
            f"the current quota of {fmt(quota, 'currency', cur)} a year ({quota_how}), plus "
            f"{fmt(growth, 'percent')} growth."
        )
    else:
        basis = f"the last 12 months' bookings plus {fmt(growth, 'percent')} growth ({quota_how})."
    vs = ""
    if quota is not None and not derived:
        vs = f" That is {fmt(total / quota - 1, 'growth')} on the current quota of {fmt(quota, 'currency', cur)} a year."
    plan.text["target"] = para(
        "Annual target for <b>{y}</b>: <b>{t}</b>, from {b}{vs} Booked in the last 12 months: {g}. "
        "Split by {how}; every quarter, month and week adds up exactly to its parent.",
        y=ctx.period, t=fmt(total, "currency", cur), b=basis, vs=vs, g=got,
        how="the team's seasonality" if dec.method == "seasonal" else "an even split",
    )  # fmt: skip
    plan.text["funnel"] = bullets(notes + list(plan.funnel.notes), empty="")
    failed = [c for c in plan.checks if c.status == "fail"]
    plan.headline = {
        "annual_target": total, "first_quarter_target": q1, "current_quota": quota,
        "booked_last_12_months": float(booked.sum()),
        "pipeline_needed": float(plan.funnel.pipeline_needed),
        "deals_needed": int(plan.funnel.deals_needed), "goals_checked": len(plan.checks),
        "goals_failing": len(failed),
        "flags": [f"goal {i + 1}: {', '.join(c.failures())}" for i, c in enumerate(plan.checks)
                  if c.failures()],
    }  # fmt: skip
    plan.tables = _humane_tables(plan.tables, ctx.wb.counts_only)
    return plan


def _reverse_funnel(ctx: Context, target: float) -> tuple[Any, list[str]]:
    from salesnb.analytics import goals
    from salesnb.core.errors import NotEnoughDataError

    if ctx.is_rep:
        try:
            return goals.reverse_funnel_from_history(ctx.wb, ctx.subject.key, target,
                                                     as_of=ctx.as_of), []  # fmt: skip
        except NotEnoughDataError as exc:
            note = f"The subject's own history is too short ({exc}); team rates are used."
            return _group_funnel(ctx, target, ctx.wb.reps["rep_id"].tolist()), [note]
    return _group_funnel(ctx, target, ctx.rep_ids), []


def _group_funnel(ctx: Context, target: float, rep_ids: list[str]) -> Any:
    from salesnb.analytics import goals

    wb = ctx.wb.subset(rep_ids)
    start, end = facts.lookback(ctx)
    kw = {"start": start, "end": end, "as_of": ctx.as_of}
    wr = kpis_row("win_rate", wb, **kw)
    conv = kpis_stage(wb, **kw)
    ac = kpis_row("activity_conversion", wb, **kw)
    return goals.reverse_funnel(
        max(target, 0.0), win_rate=wr["win_rate"] if wr["win_rate"] > 0 else 0.2,
        avg_deal_size=kpis_row("avg_deal_size", wb, **kw)["avg_deal_size"],
        stage_conversions=conv, win_rate_by_value=wr["win_rate_value"] or None,
        activity_to_opp=min(1.0, ac["opportunities_per_activity"])
        if ac["opportunities_per_activity"] > 0 else None,
    )  # fmt: skip


def kpis_row(name: str, wb: Any, **kw: Any) -> pd.Series:
    """Whole-workbook row of a grouped KPI, NaN as 0 (for reverse-funnel rates)."""
    from salesnb.analytics import kpis

    return getattr(kpis, name)(wb, None, **kw).iloc[0].fillna(0)


def kpis_stage(wb: Any, **kw: Any) -> dict[str, float] | None:
    """Stage conversions of closed deals in the window, or None when a stage has none."""
    from salesnb.analytics import kpis

    c = kpis.stage_conversion(wb, None, include_open=False, **kw)
    ok = c["conversion"].notna() & (c["conversion"] > 0)
    return dict(zip(c["stage"], c["conversion"], strict=True)) if ok.all() else None


def _funnel_now(ctx: Context, rf: Any, quarter: str) -> pd.DataFrame:
    """The reverse funnel beside what the subject has now (for charts.reverse_funnel)."""
    from salesnb.analytics import kpis

    wb = ctx.wb.subset(ctx.rep_ids)
    qs, qe = wb.config.calendar.period_bounds(quarter)
    pipe_now = kpis.pipeline(wb, None, start=qs, end=qe, as_of=ctx.as_of).iloc[0]
    back = ctx.as_of - pd.Timedelta(weeks=13) + pd.Timedelta(days=1)
    made = kpis.activity_conversion(wb, None, start=back, end=ctx.as_of, as_of=ctx.as_of).iloc[0]
    rows = [("Pipeline due in " + quarter, rf.pipeline_needed, pipe_now["pipeline"], "currency"),
            ("Open deals due in " + quarter, rf.deals_needed, pipe_now["open_deals"], "deals"),
            ("Opportunities (last 13 weeks)", rf.opportunities_needed, made["created_deals"],
             "opportunities")]  # fmt: skip
    if rf.activities_needed is not None:
        rows.append(("Activities (last 13 weeks)", rf.activities_needed, made["activities"],
                     "activities"))  # fmt: skip
    return pd.DataFrame(rows, columns=["step", "needed", "current", "unit"]).astype(
        {"needed": float, "current": float}
    )


def _expand_goal(ctx: Context, goal: Mapping[str, Any]) -> dict[str, Any]:
    """Resolve relative targets ("+15%", "+5 pts") and deadlines ("+90d") against history."""
    from salesnb.analytics import goals

    g = dict(goal)
    g.setdefault("owner", ctx.subject.name)
    dl = g.get("deadline")
    if isinstance(dl, str) and dl.strip().startswith("+") and dl.strip().endswith("d"):
        g["deadline"] = (ctx.as_of + pd.Timedelta(days=int(dl.strip()[1:-1]))).date().isoformat()
    target = g.get("target")
    if isinstance(target, str) and target.strip()[:1] in "+-":
        metric = str(g.get("metric", "")).strip().lower()
        if metric not in goals.METRICS:
            return g
        h = goals.metric_history(ctx.wb, metric, freq="Q", as_of=ctx.as_of, rep_ids=ctx.rep_ids)
        per = h.sum(axis=1, min_count=1) if goals.METRICS[metric].additive else h.mean(axis=1)
        base = float(per.dropna().tail(3).median()) if per.notna().any() else None
        text = target.strip().replace(" ", "")
        try:
            num = float(text.rstrip("%pts"))
        except ValueError:
            return g
        if base is not None:
            g.setdefault("baseline", round(base, 4))
            g["target"] = round(base + num / 100 if text.endswith("pts") else base * (1 + num / 100),
                                4)  # fmt: skip
    return g


def smart_checks(
    ctx: Context, proposed: Sequence[Mapping[str, Any]], objectives: Sequence[str] = ()
) -> list[Any]:
    """SMART check of each proposed goal, judged against the subject's history and peers.

    A goal is a dict of :class:`salesnb.analytics.goals.Goal` fields. ``target`` may be relative to
    the subject's recent level ("+15%"; "+5 pts" for rates) and ``deadline`` relative to
    as-of ("+90d"); the owner defaults to the subject.
    """
    from salesnb.analytics import goals

    out = []
    for raw in proposed or ():
        g = _expand_goal(ctx, raw)
        if ctx.is_rep:
            out.append(goals.smart_check_from_history(ctx.wb, g, ctx.subject.key,
                                                      objectives=list(objectives) or None,
                                                      as_of=ctx.as_of))  # fmt: skip
            continue
        metric = str(g.get("metric", "")).strip().lower()
        hist = None
        if metric in goals.METRICS:
            h = goals.metric_history(ctx.wb, metric, freq="Q", as_of=ctx.as_of, rep_ids=ctx.rep_ids)
            hist = h.sum(axis=1, min_count=1) if goals.METRICS[metric].additive else h.mean(axis=1)
        out.append(goals.smart_check(g, history=hist, objectives=list(objectives) or None,
                                     as_of=ctx.as_of, currency=ctx.currency))  # fmt: skip
    return out


def smart_summary(checks: Sequence[Any]) -> pd.DataFrame:
    """One row per goal: the goal as a sentence and each criterion's verdict."""
    rows = []
    for i, c in enumerate(checks, 1):
        row = {"#": i, "goal": c.as_text()}
        row.update({k: v.status for k, v in c.criteria.items()})
        row["verdict"] = c.status
        rows.append(row)
    return pd.DataFrame(rows, columns=["#", "goal", "S", "M", "A", "R", "T", "verdict"])


def smart_details(checks: Sequence[Any]) -> Html:
    """Each goal's reasons per criterion, escaped."""
    parts = []
    for i, c in enumerate(checks, 1):
        items = "".join(f"<li><b>{esc(k)} {esc(v.status.upper())}</b>: {esc(v.reason)}</li>"
                        for k, v in c.criteria.items())  # fmt: skip
        parts.append(f"<p><b>Goal {i}.</b> {esc(c.as_text())}</p><ul>{items}</ul>")
    return Html(
        "".join(parts)
        or "<p><em>No goals were given to check.</em> To check some, set <code>proposed_goals"
        '</code> in the parameters, e.g. <code>[{"metric": "win_rate", "target": "+5 pts", '
        '"deadline": "+180d"}]</code>.</p>'
    )

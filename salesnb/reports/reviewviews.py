"""The review workbooks' views: the scorecard against peers, :func:`pipeline_review_view`,
:func:`one_on_one_view` and the region tables (:func:`team_table`, :func:`data_notes_html`).

Public through :mod:`salesnb.reports.workbooks`; safe prose and tables from
:mod:`salesnb.reports.viewkit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from salesnb.analytics import coaching
from salesnb.analytics.coaching_facts import METRICS
from salesnb.reports import facts
from salesnb.reports.facts import Context
from salesnb.reports.viewkit import (
    Html,
    _humane_tables,
    _num,
    _owner_col,
    bullets,
    fmt,
    humane,
    para,
    points_html,
    show,
)

# --------------------------------------------------------------------------- scorecard
_CARD = ["attainment", "bookings", "win_rate", "avg_deal_size", "sales_cycle_days",
         "coverage_current", "coverage_next", "open_deals", "stale_deals", "activities"]  # fmt: skip


def peer_median_header(ctx: Context) -> str:
    """The column header of the peer median, named for the group ("team median": the median of
    the other reps in the rep's team; see :func:`salesnb.reports.facts.peer_group`).

    Examples
    --------
    >>> peer_median_header(facts.context(wb, "rep", "R07"))  # doctest: +SKIP
    'team median'
    """
    kind = facts.peer_group(ctx).kind
    return f"{kind} median" if ctx.is_rep and kind else "peer median"


def scorecard_table(ctx: Context, comparison: pd.DataFrame) -> pd.DataFrame:
    """The scorecard as text: value, previous period, peer median and percentile."""
    c = comparison.set_index("metric").loc[[m for m in _CARD if m in set(comparison["metric"])]]
    cur = ctx.currency
    peer = peer_median_header(ctx)
    rows = []
    for m, r in c.iterrows():
        rows.append({
            "KPI": r["label"], "value": fmt(r["value"], r["unit"], cur),
            "previous period": fmt(r["previous"], r["unit"], cur),
            peer: fmt(r["peer_median"], r["unit"], cur),
            "percentile": fmt(r["percentile"], "percentile") if pd.notna(r["percentile"]) else "n/a",
        })  # fmt: skip
    return pd.DataFrame(rows)


def _value(comparison: pd.DataFrame, metric: str, col: str = "value") -> float | None:
    hit = comparison.loc[comparison["metric"] == metric, col]
    return _num(hit.iloc[0]) if len(hit) else None


# --------------------------------------------------------------------------- pipeline review
@dataclass
class PipelineReview:
    """Everything the pipeline review shows (see :func:`pipeline_review_view`)."""

    coverage: pd.DataFrame
    velocity: pd.Series
    stages: pd.DataFrame
    funnel: pd.DataFrame
    aging: pd.DataFrame
    typical_age: float
    attention: pd.DataFrame
    waterfall: facts.WaterfallView
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    text: dict[str, Html] = field(default_factory=dict)
    headline: dict[str, Any] = field(default_factory=dict)


def pipeline_review_view(ctx: Context, compare_to: Any = None) -> PipelineReview:
    """Prepare the pipeline review: coverage, funnel, velocity, hygiene, waterfall, attention.

    ``compare_to`` is the start of the waterfall (default four weeks before as-of).

    Examples
    --------
    >>> v = pipeline_review_view(facts.context(wb, "rep", "R01"))   # doctest: +SKIP
    >>> v.headline["coverage_next"]                                  # doctest: +SKIP
    """
    cur = ctx.currency
    cov = facts.coverage_table(ctx)
    vel = facts.velocity(ctx)
    stages = facts.stage_table(ctx)
    deals = facts.open_deals(ctx)
    att = facts.attention(ctx)
    wf = facts.waterfall_view(ctx, compare_to, period=ctx.period)
    view = PipelineReview(cov, vel, stages, facts.funnel_frame(stages, ctx.wb.config.stages.won_name),
                          facts.aging_frame(deals), facts.typical_cycle_days(ctx), att, wf)  # fmt: skip
    money = {c: "currency" for c in ("target", "bookings", "remaining_target", "pipeline",
                                     "weighted_pipeline", "amount", "amount_at_risk", "effect",
                                     "amount_start", "amount_end")}  # fmt: skip
    view.tables["coverage"] = show(cov, {**money, "coverage": "multiple"}, cur)
    view.tables["stages"] = show(
        stages[["stage", "next_stage", "reached", "advanced", "conversion", "team_conversion",
                "bottleneck"]],
        {"conversion": "percent", "team_conversion": "percent"}, cur,
    )  # fmt: skip
    cols = ["opp_id", "rep_id", "account", "stage", "amount", "close_date", "reasons"]
    view.tables["attention"] = _owner_col(ctx, show(att[[c for c in cols if c in att]], money, cur))
    stale = deals[deals["stale"] | deals["past_due"]].sort_values("amount", ascending=False)
    hcols = ["opp_id", "rep_id", "account", "stage", "amount", "close_date", "age_days",
             "days_since_activity", "days_past_due"]  # fmt: skip
    view.tables["hygiene"] = _owner_col(ctx, show(stale[hcols], money, cur))
    view.tables["waterfall_deals"] = _owner_col(ctx, waterfall_deals_table(wf.deals, cur))
    now, nxt = cov.iloc[0], cov.iloc[1]
    bott = stages[stages["bottleneck"]]
    targeted = pd.notna(nxt["target"]) and float(nxt["target"]) > 0
    view.text["coverage"] = para(
        "Open pipeline due in <b>{p}</b>: {pipe} against {rem} still to close "
        "(coverage <b>{c}</b>). Next period <b>{np_}</b>: {npipe} "
        + ("against a target of {nt} (coverage <b>{nc}</b>). " if targeted else
           "of open pipeline; the data holds no target for it yet, so its coverage is not "
           "known. ")
        + "Weighted by stage probability the next period holds {nw}.",
        p=ctx.period, pipe=fmt(now["pipeline"], "currency", cur),
        rem=fmt(now["remaining_target"], "currency", cur), c=fmt(now["coverage"], "multiple"),
        np_=ctx.next_period, npipe=fmt(nxt["pipeline"], "currency", cur),
        nt=fmt(nxt["target"], "currency", cur), nc=fmt(nxt["coverage"], "multiple"),
        nw=fmt(nxt["weighted_pipeline"], "currency", cur),
    )  # fmt: skip
    if len(bott):
        b = bott.iloc[0]
        view.text["bottleneck"] = para(
            "Bottleneck: <b>{s}</b> → {n}: {c} of deals move on against {t} for the team "
            "({r} deals reached it in the last 12 months).",
            s=b["stage"], n=b["next_stage"], c=fmt(b["conversion"], "percent"),
            t=fmt(b["team_conversion"], "percent"), r=int(b["reached"]),
        )  # fmt: skip
    elif len(stages) and stages["conversion"].isna().all() and stages["reached"].sum() > 0:
        view.text["bottleneck"] = para(
            "Stage conversions are not known: lost deals in this data do not say how far they "
            "got, so where deals are lost cannot be told (see the data notes)."
        )
    else:
        view.text["bottleneck"] = para("No bottleneck: no stage was reached by 5 or more deals "
                                       "in the last 12 months, too few to judge.")  # fmt: skip
    if ctx.wb.counts_only:
        view.text["velocity"] = para(
            "Sales velocity is not known: the data has no deal amounts. At the rates of the last "
            "12 months, {o} open deals × {w} win rate ÷ {d} median cycle is about {v} won per day.",
            o=int(vel["open_deals"]), w=fmt(vel["win_rate"], "percent"),
            d=fmt(vel["median_cycle_days"], "days"),
            v=fmt(vel["open_deals"] * vel["win_rate"] / vel["median_cycle_days"], "currency", cur)
            if vel["median_cycle_days"] else "n/a",
        )  # fmt: skip
    else:
        view.text["velocity"] = para(
            "Sales velocity: {v} per day = {o} open deals × {w} win rate × {s} average deal ÷ "
            "{d} median cycle (win rate, deal size and cycle over the last 12 months).",
            v=fmt(vel["velocity"], "currency", cur), o=int(vel["open_deals"]),
            w=fmt(vel["win_rate"], "percent"), s=fmt(vel["avg_deal_size"], "currency", cur),
            d=fmt(vel["median_cycle_days"], "days"),
        )  # fmt: skip
    view.text["waterfall"] = _waterfall_text(wf, cur)
    flags = [f"{int(deals['stale'].sum())} stale deals"] if deals["stale"].sum() >= 3 else []
    flags += (
        [f"{int(deals['past_due'].sum())} past-due deals"] if deals["past_due"].sum() >= 3 else []
    )
    if pd.notna(nxt["coverage"]) and nxt["coverage"] < 2:
        flags.append(f"next-period coverage {fmt(nxt['coverage'], 'multiple')}")
    view.headline = {
        "pipeline": float(deals["amount"].sum()), "pipeline_next": float(nxt["pipeline"]),
        "weighted_pipeline_next": float(nxt["weighted_pipeline"]),
        "coverage": _num(now["coverage"]), "coverage_next": _num(nxt["coverage"]),
        "velocity": _num(vel["velocity"]),
        "bottleneck": str(bott.iloc[0]["stage"]) if len(bott) else None,
        "stale_deals": int(deals["stale"].sum()), "past_due_deals": int(deals["past_due"].sum()),
        "deals_needing_attention": len(att),
        "pipeline_change": _num(wf.bars["amount"].iloc[-1] - wf.bars["amount"].iloc[0])
        if len(wf.bars) else None,
        "flags": flags,
    }  # fmt: skip
    view.tables = _humane_tables(view.tables, ctx.wb.counts_only)
    return view


def _span(start: pd.Series, end: pd.Series) -> pd.Series:
    """One cell per deal: ``end`` alone when it did not change (or has no start), else
    ``start → end``; blank when neither is known."""
    a, b = start.fillna("").astype(str), end.fillna("").astype(str)
    both = (a != "") & (b != "") & (a != b)
    return b.where(b != "", a).where(~both, a + " → " + b)


def waterfall_deals_table(deals: pd.DataFrame, currency: str = "USD") -> pd.DataFrame:
    """The deals behind the waterfall's bars, as a document shows them: step, deal, rep,
    account, amount, stage and close date, each a change only where it changed (columns named
    as the other deal tables: :func:`salesnb.reports.viewkit.header` says them in words).

    Six columns (seven with the rep) instead of a start and an end column for both stage and
    close date: the table fits a desktop's page, and wraps between the two ends of a change.

    Examples
    --------
    >>> d = pd.DataFrame({"step": ["Pushed out"], "opp_id": ["O1"], "account": ["Acme"],
    ...     "amount": [1200.0], "stage_start": ["Demo"], "stage_end": ["Demo"],
    ...     "close_start": pd.to_datetime(["2026-09-15"]), "close_end": pd.to_datetime(["2026-10-30"])})
    >>> waterfall_deals_table(d).to_dict("records")
    [{'step': 'Pushed out', 'opp_id': 'O1', 'account': 'Acme', 'amount': '$1.2K', 'stage': 'Demo', 'close_date': '2026-09-15 → 2026-10-30'}]
    """
    if not len(deals):
        cols = ["step", "opp_id", "account", "amount", "stage", "close_date"]
        return show(pd.DataFrame(columns=cols), {}, currency)
    table = show(deals, {"amount": "currency"}, currency)
    out = pd.DataFrame(index=table.index)
    for col in ("step", "opp_id", "rep_id", "account", "amount"):
        if col in table:
            out[col] = table[col]
    for what, start, end in (("stage", "stage_start", "stage_end"),
                             ("close_date", "close_start", "close_end")):  # fmt: skip
        if start in table or end in table:
            blank = pd.Series("", index=table.index)
            out[what] = _span(table.get(start, blank), table.get(end, blank))
    return out


def _waterfall_text(wf: facts.WaterfallView, cur: str) -> Html:
    if wf.waterfall is None:
        return para("No pipeline change to show: {n}", n=wf.note)
    w = wf.waterfall
    d = w.as_dict()
    return para(
        "From the snapshot of {a} to that of {b} the open pipeline went from {s} to {e}: "
        "{new} new, {won} won, {lost} lost, {out} pushed out, {pin} pulled in. {note}",
        a=f"{w.start_date:%Y-%m-%d}", b=f"{w.end_date:%Y-%m-%d}",
        s=fmt(d["start"], "currency", cur), e=fmt(d["end"], "currency", cur),
        new=fmt(d["new"], "currency", cur), won=fmt(d["won"], "currency", cur),
        lost=fmt(d["lost"], "currency", cur), out=fmt(d["pushed_out"], "currency", cur),
        pin=fmt(d["pulled_in"], "currency", cur), note=wf.note,
    )  # fmt: skip


# --------------------------------------------------------------------------- one-on-one
@dataclass
class OneOnOne:
    """Everything the one-on-one prep shows (see :func:`one_on_one_view`)."""

    comparison: pd.DataFrame
    peers: pd.DataFrame
    points: list[coaching.TalkingPoint]
    waterfall: facts.WaterfallView
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    text: dict[str, Html] = field(default_factory=dict)
    headline: dict[str, Any] = field(default_factory=dict)


def one_on_one_view(ctx: Context, since: Any = None) -> OneOnOne:
    """Prepare a one-on-one: scorecard vs peers, changes since ``since``, wins, talking points.

    ``since`` is the date of the last one-on-one (default: two weeks before as-of).

    Examples
    --------
    >>> v = one_on_one_view(facts.context(wb, "rep", "R01"))   # doctest: +SKIP
    >>> len(v.points)                                          # doctest: +SKIP
    5
    """
    cur = ctx.currency
    since_ts = pd.Timestamp(since) if since not in (None, "") else ctx.as_of - pd.Timedelta(weeks=2)
    comp = facts.peer_comparison(ctx)
    rep_facts = facts.facts_for(ctx, comp)
    points = coaching.talking_points(rep_facts, currency=cur)
    wf = facts.waterfall_view(ctx, since_ts)
    view = OneOnOne(comp, facts.peer_chart_frame(comp, _CARD[:7]), points, wf)
    view.tables["scorecard"] = scorecard_table(ctx, comp)
    won = facts.wins(ctx, since_ts)
    money = {"amount": "currency"}
    view.tables["wins"] = _owner_col(ctx, show(
        won[["opp_id", "rep_id", "account", "product", "amount", "close_date", "cycle_days"]],
        money, cur))  # fmt: skip
    att = facts.attention(ctx).head(8)
    view.tables["help"] = _owner_col(ctx, show(
        att[["opp_id", "rep_id", "account", "stage", "amount", "close_date", "reasons"]],
        money, cur))  # fmt: skip
    view.text["points"] = points_html(points)
    view.text["waterfall"] = _waterfall_text(wf, cur)
    worth = "" if ctx.wb.counts_only else f", worth {fmt(won['amount'].sum(), 'currency', cur)}"
    n_won = len(won)
    won_words = "No deal" if n_won == 0 else f"{n_won:,} deal{'' if n_won == 1 else 's'}"
    worth = worth if n_won else ""
    view.text["wins"] = para("{n} won since {d}{w}.", n=won_words,
                             d=f"{since_ts:%Y-%m-%d}", w=worth)  # fmt: skip
    att_pct = _value(comp, "attainment", "percentile")
    view.headline = {
        "attainment": _value(comp, "attainment"), "bookings": _value(comp, "bookings"),
        "attainment_percentile": att_pct, "coverage_next": _value(comp, "coverage_next"),
        "wins_since": len(won), "deals_needing_help": len(att),
        "talking_points": len(points),
        # what each concern is about, in the scorecard's words (the index lists them)
        "flags": list(dict.fromkeys(METRICS[p.metric].label if p.metric in METRICS
                                    else p.rule_id for p in points if p.kind == "concern")),
    }  # fmt: skip
    view.tables = _humane_tables(view.tables, ctx.wb.counts_only)
    return view


# --------------------------------------------------------------------------- region tables
def team_table(ctx: Context) -> pd.DataFrame | Html:
    """Per-rep table for a manager's document; in a rep's own document a line saying that the
    table is only in managers' copies (no empty section)."""
    if ctx.is_rep:
        return Html("<p><em>Only in a manager's or region's copy: a rep's own copy shows no "
                    "other rep's figures.</em></p>")  # fmt: skip
    units = {"target": "currency", "bookings": "currency", "attainment": "percent",
             "win_rate": "percent", "pipeline": "currency", "coverage": "multiple",
             "coverage_next": "multiple"}  # fmt: skip
    return humane(show(facts.rep_breakdown(ctx), units, ctx.currency).drop(columns="rep_id"))


def data_notes_html(ctx: Context) -> Html:
    """The data's warnings (other reps' names removed in a rep's document)."""
    return bullets(facts.data_notes(ctx), empty="The data loaded without warnings.")

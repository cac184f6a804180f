"""The team review: what the weekly (or monthly) team meeting reads, per manager, region or team.

:func:`team_review_view` prepares, for a manager's, region's or the whole team's document
(never a rep's: it names reps, :func:`check_subject`):

* the forecast call -- commit, best case and pipeline per rep for the quarter in play and
  how each moved since the last snapshot a week (or a month) before, beside the kit's
  calibrated forecast (:func:`salesnb.forecast.combined.period_forecast`; every rep's the
  figure of their forecast document, :func:`salesnb.reports.rollup.rep_forecasts`) and the
  manager's call when one is given;
* what moved between the two snapshots (:func:`salesnb.analytics.movement.movement`);
* a per-rep leaderboard: attainment of the quarter holding the as-of date, pipeline created
  in it, coverage of the quarter in play;
* wins and losses since the last snapshot, to share;
* regions side by side on the same KPIs, with the spread between them.

When the data holds no earlier snapshot every change says so in words (:data:`NO_CHANGE`),
never a 0 that would read as "nothing moved".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from salesnb.analytics import movement as mv
from salesnb.analytics import pipeline as pipe
from salesnb.core.errors import ParameterError
from salesnb.reports import facts
from salesnb.reports.facts import Context
from salesnb.reports.regionview import regions_side_by_side
from salesnb.reports.rollup import rep_forecasts
from salesnb.reports.workbooks import Html, esc, fmt, humane, para

#: Days back the earlier snapshot is looked for, per meeting cadence.
CADENCES: Final = {"weekly": 7, "monthly": 28}
#: Snapshots are not always taken on the same weekday: an earlier snapshot this many days
#: short of the cadence still counts as "last week" (or "last month").
SLACK_DAYS: Final = 2
#: Wins and losses listed at most.
TOP_DEALS: Final = 5
#: What a change column says when there is no earlier snapshot to compare with.
NO_CHANGE: Final = "not known: no earlier snapshot"


def check_subject(ctx: Context) -> None:
    """Refuse a rep subject: the team review names every rep of the team.

    Raises
    ------
    ParameterError
        For ``subject_type="rep"``, with the subject types to use instead.

    Examples
    --------
    >>> check_subject(facts.open_context("data/sample", None, "rep", "R01"))  # doctest: +SKIP
    Traceback (most recent call last):
    ParameterError: The team review names every rep of a team ...
    """
    if ctx.is_rep:
        raise ParameterError(
            "The team review names every rep of a team, so it is never made for a rep. "
            "Fix: use subject_type 'manager', 'region', 'team' or 'all' (batch: --by manager)."
        )


@dataclass(frozen=True)
class Comparison:
    """Which pipeline states are compared: ``now`` and ``before`` snapshot dates (None when
    absent; ``now`` None means the open deals of the data stand in for a snapshot)."""

    now: pd.Timestamp | None
    before: pd.Timestamp | None
    cadence: str

    @property
    def known(self) -> bool:
        return self.now is not None and self.before is not None

    def change(self, value: float | None, unit: str, currency: str) -> str:
        """A change as text, or :data:`NO_CHANGE` when there is nothing to compare with."""
        if not self.known:
            return NO_CHANGE
        return fmt(0.0 if value is None else value, unit, currency, signed=True)


def comparison(wb: Any, as_of: pd.Timestamp, cadence: str = "weekly") -> Comparison:
    """The latest snapshot on or before ``as_of`` and the one a cadence before it.

    The earlier one is the latest snapshot at least ``CADENCES[cadence] - SLACK_DAYS`` days
    before the later one (None when there is none).

    Examples
    --------
    >>> comparison(wb, pd.Timestamp("2026-09-30"))  # doctest: +SKIP
    Comparison(now=Timestamp('2026-09-28'), before=Timestamp('2026-09-21'), cadence='weekly')
    """
    if cadence not in CADENCES:
        raise ParameterError(f"cadence {cadence!r} is not known. Fix: use 'weekly' or 'monthly'.")
    dates = [d for d in pipe.snapshot_dates(wb) if d <= as_of]
    if not dates:
        return Comparison(None, None, cadence)
    now = dates[-1]
    gap = pd.Timedelta(days=CADENCES[cadence] - SLACK_DAYS)
    earlier = [d for d in dates if d <= now - gap]
    return Comparison(now, earlier[-1] if earlier else None, cadence)


def pipeline_state(ctx: Context, date: pd.Timestamp | None) -> pd.DataFrame:
    """The subject's deals at a snapshot date (current owner as ``rep_id``), or, for None,
    the deals open in the data today that were created by the as-of date."""
    if date is None:
        o = ctx.wb.opportunities
        live = o[o["rep_id"].isin(ctx.rep_ids) & (o["outcome"] == "open")
                 & (o["created_date"] <= ctx.as_of)]  # fmt: skip
        return live.assign(kind="open")
    s = pipe.pipeline_at(ctx.wb, date, rep_ids=ctx.rep_ids, open_only=False)
    return s.assign(rep_id=s["owner"])


# --------------------------------------------------------------------------- the view
@dataclass
class TeamReview:
    """Everything the team review shows (see :func:`team_review_view`)."""

    comparison: Comparison
    call_period: str
    moves: pd.DataFrame
    bookings_chart: pd.DataFrame = field(default_factory=pd.DataFrame)
    tables: dict[str, Any] = field(default_factory=dict)
    text: dict[str, Html] = field(default_factory=dict)
    headline: dict[str, Any] = field(default_factory=dict)


def team_review_view(
    ctx: Context, *, cadence: str = "weekly", manager_call: float | None = None
) -> TeamReview:
    """Prepare the team review of a manager, region or team (see the module docstring).

    ``ctx`` is the results context (the quarter holding the as-of date, as
    :func:`salesnb.reports.facts.open_context` gives by default); the forecast call is about
    the quarter in play (the next one on a quarter's last day). ``manager_call`` is the
    manager's own call for that quarter, in currency; None when not given (then the document
    says the call is unknown).

    Examples
    --------
    >>> v = team_review_view(facts.open_context("data/sample", None, "manager", "Rebecca Stone"))  # doctest: +SKIP
    >>> v.headline["commit"]  # doctest: +SKIP
    """
    check_subject(ctx)
    cmp_ = comparison(ctx.wb, ctx.as_of, cadence)
    cal = ctx.wb.config.calendar
    call_period = (ctx.period if ctx.start > ctx.as_of or ctx.end > ctx.as_of
                   else str(cal.period_label(ctx.as_of + pd.Timedelta(days=1), "Q")))  # fmt: skip
    start, end = cal.period_bounds(call_period)
    probs = dict(ctx.wb.config.stages.probability_of())
    now = pipeline_state(ctx, cmp_.now)
    before = pipeline_state(ctx, cmp_.before) if cmp_.known else None
    # one window for "what moved" and "wins and losses": deals won or lost are those the data
    # says closed after the earlier snapshot and by the as-of date, in both sections
    moves = (mv.movement(before, now, recent_closes(ctx, cmp_), start, end, ctx.as_of,
                         since=cmp_.before) if before is not None else None)  # fmt: skip
    view = TeamReview(cmp_, call_period, moves if moves is not None else pd.DataFrame())
    mcall = managers_call(ctx, call_period, cadence, manager_call)
    call, fc_facts = _call(ctx, view, now, before, start, end, probs, mcall)
    view.tables["call"] = call
    view.tables["movement"], view.tables["moved_deals"] = _movement_tables(ctx, view)
    view.tables["leaderboard"] = leaderboard(ctx, call_period)
    view.bookings_chart = bookings_frame(ctx)
    view.tables["wins"], view.tables["losses"] = wins_and_losses(ctx, cmp_)
    window = {"a": f"{wins_since(ctx, cmp_) + pd.Timedelta(days=1):%Y-%m-%d}",
              "b": f"{ctx.as_of:%Y-%m-%d}"}  # fmt: skip
    view.text["wins"] = Html(para(
        "Deals closed from {a} to {b}, the largest first ({n} won, {m} lost in all; the same "
        "deals as in <em>What moved</em>).", n=_closed_count(ctx, cmp_, "won"),
        m=_closed_count(ctx, cmp_, "lost"), **window) + loss_lessons(ctx, cmp_))  # fmt: skip
    view.text["movement"] = movement_note(cmp_, **window)
    view.tables["regions"], spread = regions_side_by_side(ctx, call_period)
    view.text["regions"] = spread
    view.text["call_source"] = _call_source(now, start, end, probs)
    view.text["kit_note"] = para(
        "<small>² The kit's forecast is the one the forecast workbook shows: the whole team's "
        "forecast of {q} (history and pipeline views blended), shared out to the reps in "
        "proportion to their own forecasts; each rep's row is the figure of that rep's forecast "
        "document and of the managers' roll-up. The total row is this group's forecast drawn "
        "from the same simulation; the reps' rows add up to {r}, {d} from it: simulation noise. "
        "A chance of reaching a call is read as the forecast document reads the chance of "
        "reaching target: the share of simulated quarters reaching it, corrected by how often "
        "such shares came true in past quarters; where too few past quarters exist to check "
        "them, no chance is given.</small>",
        q=call_period, r=fmt(fc_facts["reps_sum"], "currency", ctx.currency),
        d=fmt(abs(fc_facts["reps_sum"] / fc_facts["forecast"] - 1)
              if fc_facts["forecast"] else 0.0, "percent"))  # fmt: skip
    view.text["snapshots"] = snapshot_note(ctx, cmp_)
    view.headline = {
        "call_period": call_period, "snapshot": _day(cmp_.now), "compared_with": _day(cmp_.before),
        "commit": fc_facts["commit"], "best_case": fc_facts["best_case"],
        "pipeline": fc_facts["pipeline"], "won_so_far": fc_facts["won"],
        "commit_change": fc_facts["commit_change"], "forecast": fc_facts["forecast"],
        "forecast_p10": fc_facts["p10"], "forecast_p90": fc_facts["p90"],
        "manager_call": mcall.amount, "manager_call_made": _day(mcall.made),
        "manager_call_change": mcall.change, "reps": len(ctx.rep_ids),
        "deals_won": _count(moves, "won"), "deals_lost": _count(moves, "lost"),
        "deals_pushed": _count(moves, "pushed"), "deals_pulled": _count(moves, "pulled"),
        "deals_new": _count(moves, "new"),
        "flags": fc_facts["flags"],
    }  # fmt: skip
    return view


def _day(d: pd.Timestamp | None) -> Any:
    return None if d is None else d.date()


def _count(moves: pd.DataFrame | None, move: str) -> int | None:
    return None if moves is None else int((moves["move"] == move).sum())


# --------------------------------------------------------------------------- the call
@dataclass(frozen=True)
class ManagersCall:
    """The manager's call for the quarter in play: ``amount`` (None: unknown), where it came
    from (``"parameter"``, ``"data"`` or None), the day it was made, the call before it (a
    cadence earlier) and the best-case call when the data holds one."""

    amount: float | None
    source: str | None = None
    made: pd.Timestamp | None = None
    previous: float | None = None
    previous_made: pd.Timestamp | None = None
    best_case: float | None = None

    @property
    def change(self) -> float | None:
        """The change since the previous call, None when either is unknown."""
        if self.amount is None or self.previous is None:
            return None
        return self.amount - self.previous


def managers_call(ctx: Context, period: str, cadence: str = "weekly",
                  given: float | None = None) -> ManagersCall:  # fmt: skip
    """The manager's call: ``given`` (the notebook's ``manager_call``) when set, else the
    latest commit call the data's ``calls`` table holds for the subject and ``period`` made
    on or before the as-of date, with the latest one made at least a cadence
    (:data:`CADENCES` less :data:`SLACK_DAYS`) before it.

    Examples
    --------
    >>> managers_call(ctx, "FY2026-Q4").amount  # doctest: +SKIP
    560000.0
    """
    if given is not None:
        return ManagersCall(float(given), "parameter")
    calls = ctx.wb.calls
    key = None if ctx.subject.type == "all" else ctx.subject.key
    now = mv.latest_call(calls, ctx.subject.type, key, period, ctx.as_of)
    if now is None:
        return ManagersCall(None)
    gap = pd.Timedelta(days=CADENCES[cadence] - SLACK_DAYS)
    was = mv.latest_call(calls, ctx.subject.type, key, period, now["as_of"] - gap)
    best = mv.latest_call(calls, ctx.subject.type, key, period, ctx.as_of, "best_case")
    return ManagersCall(
        float(now["amount"]), "data", now["as_of"],
        None if was is None else float(was["amount"]), None if was is None else was["as_of"],
        None if best is None or best["as_of"] < now["as_of"] else float(best["amount"]),
    )  # fmt: skip


def _names(ctx: Context) -> dict[str, str]:
    return facts.subject_name_map(ctx)


def _won(ctx: Context, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """Bookings per rep closed won between ``start`` and the as-of date (within ``end``)."""
    o = ctx.wb.opportunities
    won = o[o["rep_id"].isin(ctx.rep_ids) & (o["outcome"] == "won")
            & o["close_date"].between(start, min(end, ctx.as_of))]  # fmt: skip
    return won.groupby("rep_id")["amount"].sum().reindex(ctx.rep_ids, fill_value=0.0)


def _kit_forecast(ctx: Context, period: str) -> tuple[pd.Series, Any]:
    """Every rep's expected bookings for ``period`` and the subject's forecast, as the
    forecast workbook computes them."""
    from salesnb.forecast import combined as fc

    # the very figure of each rep's forecast document and of the managers' roll-up
    per_rep = pd.Series(rep_forecasts(ctx, ctx.rep_ids, period).to_numpy(), index=ctx.rep_ids)
    key = None if ctx.subject.type == "all" else ctx.subject.key
    pf = fc.period_forecast(ctx.wb, ctx.subject.type, key, period, ctx.as_of)
    return per_rep, pf


def _call(ctx: Context, view: TeamReview, now: pd.DataFrame, before: pd.DataFrame | None,
          start: pd.Timestamp, end: pd.Timestamp, probs: dict[str, float],
          mcall: ManagersCall) -> tuple[pd.DataFrame, dict[str, Any]]:  # fmt: skip
    """The call table (one row per rep and a total row) and its figures."""
    cur, cmp_ = ctx.currency, view.comparison
    cols = ["commit", "best_case", "pipeline"]
    t_now = mv.call_totals(now, start, end, probs).set_index("rep_id")[cols]
    t_now = t_now.reindex(ctx.rep_ids, fill_value=0.0)
    t_before = None
    if before is not None:
        t_before = mv.call_totals(before, start, end, probs).set_index("rep_id")[cols]
        t_before = t_before.reindex(ctx.rep_ids, fill_value=0.0)
    won = _won(ctx, start, end)
    kit, pf = _kit_forecast(ctx, view.call_period)
    names = _names(ctx)
    rows = []
    order = sorted(ctx.rep_ids, key=lambda r: (-t_now.loc[r, "commit"], names.get(r, r)))
    for rep in [*order, None]:
        now_v = t_now.sum() if rep is None else t_now.loc[rep]
        was = None if t_before is None else (t_before.sum() if rep is None else t_before.loc[rep])
        won_v = float(won.sum() if rep is None else won.loc[rep])
        expected = pf.blended.mean if rep is None else kit.loc[rep]
        row = {"rep": "Total" if rep is None else names.get(rep, rep),
               "won": fmt(won_v, "currency", cur)}  # fmt: skip
        for c, label in (("commit", "commit"), ("best_case", "best case"),
                         ("pipeline", "pipeline")):  # fmt: skip
            row[label] = fmt(now_v[c], "currency", cur)
            delta = None if was is None else float(now_v[c] - was[c])
            row[f"{label} change"] = cmp_.change(delta, "currency", cur)
        row["won + commit"] = fmt(won_v + now_v["commit"], "currency", cur)
        row["kit forecast"] = fmt(expected, "currency", cur)
        rows.append(row)
    total = t_now.sum()
    p10, p90 = float(pf.blended.quantile(0.1)), float(pf.blended.quantile(0.9))
    figures = {
        "commit": float(total["commit"]), "best_case": float(total["best_case"]),
        "pipeline": float(total["pipeline"]), "won": float(won.sum()),
        "commit_change": None if t_before is None
        else float(total["commit"] - t_before.sum()["commit"]),
        "forecast": float(pf.blended.mean), "p10": p10, "p90": p90, "flags": [],
        "reps_sum": float(kit.fillna(0.0).sum()),
    }  # fmt: skip
    view.text["call"] = _call_text(ctx, view, figures, pf, mcall)
    if mcall.amount is not None and mcall.amount > p90:
        figures["flags"].append("call above the kit's P90")
    return humane(pd.DataFrame(rows)), figures


def _call_text(ctx: Context, view: TeamReview, f: dict[str, Any], pf: Any,
               mcall: ManagersCall) -> Html:  # fmt: skip
    from salesnb.forecast.chance import target_chance
    from salesnb.forecast.ptarget import NOT_CALIBRATED

    cur = ctx.currency
    # the forecast document's rule: a chance only where past quarters calibrate it
    tc = target_chance(ctx.wb, pf)

    def chance_of(amount: float) -> str:
        p = tc.reaching(pf, amount)
        return (
            fmt(p, "chance") if np.isfinite(p) else f"unknown ({tc.map.get('why', NOT_CALIBRATED)})"
        )

    reps_call = f["won"] + f["commit"]
    reps = (
        "The reps have won nothing in it yet and committed no deal: they make no call yet."
        if reps_call <= 0 else
        f"The reps' own call, won so far plus commit, is <b>{esc(fmt(reps_call, 'currency', cur))}"
        f"</b>; the kit's chance of reaching it: "
        f"{esc(chance_of(reps_call))}."
    )  # fmt: skip
    kit = Html(
        f"<p>For <b>{esc(view.call_period)}</b> the kit forecasts "
        f"<b>{esc(fmt(f['forecast'], 'currency', cur))}</b> (80% likely between "
        f"{esc(fmt(f['p10'], 'currency', cur))} and {esc(fmt(f['p90'], 'currency', cur))}). "
        f"{reps}</p>"
    )
    manager_call = mcall.amount
    if manager_call is None:
        mgr = para(
            "<b>The manager's call is unknown</b>: the data holds no call for {s} for {q} made "
            "by {d}. To set it beside the kit's forecast, add it to the calls table "
            "(calls.csv, see the data model) or give it as the <code>manager_call</code> "
            "parameter (an amount for {q}).", q=view.call_period, d=f"{ctx.as_of:%Y-%m-%d}",
            s="the whole team" if ctx.subject.type == "all" else ctx.subject.name)  # fmt: skip
        return Html(kit + mgr)
    gap = manager_call - f["forecast"]
    mgr = para(
        "<b>The manager's call</b> for {q} is <b>{c}</b>{o}, {d} the kit's forecast ({g}). The "
        "kit's chance of reaching it: {p}.{w}",
        q=view.call_period, c=fmt(manager_call, "currency", cur), o=_call_origin(mcall, cur, ctx.as_of, view.comparison.cadence),
        d="above" if gap > 0 else "below" if gap < 0 else "equal to",
        g=fmt(gap, "currency", cur, signed=True),
        p=chance_of(manager_call),
        w=" That is above the kit's optimistic end (P90): name the deals that get there."
        if manager_call > f["p90"] else
        " That is below the kit's pessimistic end (P10): is the call holding something back?"
        if manager_call < f["p10"] else "",
    )  # fmt: skip
    if mcall.best_case is not None:
        mgr = Html(mgr + para(
            "Best case, as the manager calls it: {b} (the kit's chance of reaching it: {p}).",
            b=fmt(mcall.best_case, "currency", cur),
            p=chance_of(mcall.best_case)))  # fmt: skip
    return Html(kit + mgr)


def _call_origin(mcall: ManagersCall, cur: str, as_of: pd.Timestamp, cadence: str) -> str:
    """Where the call comes from and how it moved, in words (after the amount)."""
    if mcall.source == "parameter":
        return " (given for this document)"
    age = (as_of - mcall.made).days
    made = f"{mcall.made:%Y-%m-%d}" + (
        f", {age} days before {as_of:%Y-%m-%d}: ask for a newer call" if age > CADENCES[cadence]
        else "")  # fmt: skip
    if mcall.previous is None:
        return f" (made on {made}; no call a week or more before it to compare with)"
    change = mcall.amount - mcall.previous
    moved = ("unchanged" if abs(change) < 0.005 else
             f"{'up' if change > 0 else 'down'} {fmt(abs(change), 'currency', cur)}")  # fmt: skip
    return (f" (made on {made}; {moved} from the call of {fmt(mcall.previous, 'currency', cur)} "
            f"made on {mcall.previous_made:%Y-%m-%d})")  # fmt: skip


def _call_source(now: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp,
                 probs: dict[str, float]) -> Html:  # fmt: skip
    """A footnote on where commit and best case come from."""
    due = now[(now["kind"] == "open") & now["close_date"].between(start, end)]
    _, derived = mv.call_categories(due, probs)
    rule = (f"a stage with a win probability of at least {mv.COMMIT_PROBABILITY:.0%} counts as "
            f"commit, at least {mv.BEST_CASE_PROBABILITY:.0%} as best case, the rest as "
            "pipeline")  # fmt: skip
    if not len(due):
        text = "No open deal is due in the quarter: commit, best case and pipeline are zero."
    elif derived == 0:
        text = ("Commit, best case and pipeline are the reps' own forecast categories as the "
                "CRM recorded them; each includes the one before it (best case = commit plus "
                "the deals called best case; pipeline = every open deal due except those "
                "left out).")  # fmt: skip
    elif derived == len(due):
        text = (f"The data has no forecast categories, so the kit defines them: {rule}. "
                "Each includes the one before it.")  # fmt: skip
    else:
        text = (f"{derived} of {len(due)} open deals due have no forecast category in the data; "
                f"for those the kit defines it: {rule}.")  # fmt: skip
    return para("<small>¹ {t}</small>", t=text)


def snapshot_note(ctx: Context, cmp_: Comparison) -> Html:
    """Which snapshots the figures come from, in words, with a warning when the later one is
    older than the cadence (the call then misses what happened since).

    Examples
    --------
    >>> snapshot_note(ctx, comparison(ctx.wb, ctx.as_of))  # doctest: +SKIP
    '<p><small>Pipeline figures are those of the snapshot of 2026-09-28, compared with ...'
    """
    days = CADENCES[cmp_.cadence]
    if cmp_.now is None:
        return para(
            "<small>The data holds no pipeline snapshot on or before {d}: the call uses the "
            "deals open in the data today (created by {d}) and nothing can be said about what "
            "changed. Fix: add a weekly snapshot (salesnb snapshot add).</small>",
            d=f"{ctx.as_of:%Y-%m-%d}")  # fmt: skip
    age = (ctx.as_of - cmp_.now).days
    stale = (
        f" That snapshot is {age} days older than the as-of date {ctx.as_of:%Y-%m-%d}: deals "
        "won, lost or changed since are not in the call. Fix: add a newer snapshot."
        if age > days
        else ""
    )
    if cmp_.before is None:
        return para(
            "<small>Pipeline figures are those of the snapshot of {n}. There is no snapshot "
            "{k} days or more before it, so every change says it is not known (not zero): "
            "the next review will show what moved.{s}</small>",
            n=f"{cmp_.now:%Y-%m-%d}", k=days - SLACK_DAYS, s=stale)  # fmt: skip
    return para(
        "<small>Pipeline figures are those of the snapshot of {n}, compared with the snapshot "
        "of {b} ({g} days before). Deals are counted under their owner today.{s}</small>",
        n=f"{cmp_.now:%Y-%m-%d}", b=f"{cmp_.before:%Y-%m-%d}",
        g=(cmp_.now - cmp_.before).days, s=stale)  # fmt: skip


# --------------------------------------------------------------------------- movement
def _movement_tables(ctx: Context, view: TeamReview) -> tuple[Any, Any]:
    """The moves per kind and the deals behind them (biggest first within each kind)."""
    cur, cmp_ = ctx.currency, view.comparison
    if not cmp_.known:
        note = Html(f"<p><em>What moved is {esc(NO_CHANGE)}: the next review will show it."
                    "</em></p>")  # fmt: skip
        summary = pd.DataFrame({"what": [mv.MOVE_WORDS[m] for m in mv.MOVES],
                                "deals": NO_CHANGE, "amount": NO_CHANGE})  # fmt: skip
        return humane(summary), note
    s = mv.movement_summary(view.moves)
    summary = pd.DataFrame({
        "what": [mv.MOVE_WORDS[m] for m in s["move"]],
        "deals": s["deals"].astype(int).astype(str).to_numpy(),
        "amount": [fmt(a, "currency", cur, signed=m == "amount")
                   for m, a in zip(s["move"], s["amount"], strict=True)],
    })  # fmt: skip
    m = view.moves
    if m.empty:
        return humane(summary), Html("<p><em>No deal moved.</em></p>")
    m = m.assign(size=m["amount_before"].fillna(0).abs().combine(
        m["amount_after"].fillna(0).abs(), max))  # fmt: skip
    m = m.sort_values(["move", "size"], key=lambda c: c.map({k: i for i, k in enumerate(
        mv.MOVES)}) if c.name == "move" else -c, kind="stable")  # fmt: skip
    accounts = ctx.wb.opportunities.drop_duplicates("opp_id").set_index("opp_id")["account"]
    names = _names(ctx)
    money = [fmt(v, "currency", cur) if pd.notna(v) else None for v in m["amount_before"]]
    money_now = [fmt(v, "currency", cur) if pd.notna(v) else None for v in m["amount_after"]]
    deals = pd.DataFrame({
        "what": [_SHORT.get(x, x) for x in m["move"]],
        "rep": [names.get(r, r) for r in m["rep_id"]],
        "deal": m["opp_id"].to_numpy(),
        "account": [_text(accounts.get(o)) for o in m["opp_id"]],
        "amount": [then_now(a, b) for a, b in zip(money, money_now, strict=True)],
        # a won or lost deal: the day it closed (its expected date before is history)
        "close date": [_date(b) if k in ("won", "lost") else then_now(_date(a) or None,
                                                                      _date(b) or None)
                       for k, a, b in zip(m["move"], m["close_before"], m["close_after"],
                                          strict=True)],
        "stage now": [f"closed {k}" if k in ("won", "lost") else _text(v)
                      for k, v in zip(m["move"], m["stage_after"], strict=True)],
    })  # fmt: skip
    return humane(summary), humane(deals)


#: The kinds of move in a word or two, for the list of deals (the summary says them in full).
_SHORT = {"left": "gone", "pushed": "pushed out", "pulled": "pulled in",
          "amount": "amount changed"}  # fmt: skip


def then_now(then: str | None, now: str | None) -> str:
    """A value that may have changed, as text: ``"$20K → $22K"``, or the one value.

    Examples
    --------
    >>> then_now("$20K", "$22K"), then_now("$20K", "$20K"), then_now(None, "$5K")
    ('$20K → $22K', '$20K', '$5K')
    """
    if then is None or now is None or then == now:
        return then or now or ""
    return f"{then} → {now}"


def _text(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else str(v)


def _date(v: Any) -> str:
    return f"{pd.Timestamp(v):%Y-%m-%d}" if v is not None and pd.notna(v) else ""


# --------------------------------------------------------------------------- leaderboard
def pipeline_created(ctx: Context) -> pd.Series:
    """Amount of the deals each rep created in the quarter under review, up to the as-of date
    (their amount today; deal counts for an export without amounts)."""
    o = ctx.wb.opportunities
    mine = o[o["rep_id"].isin(ctx.rep_ids)
             & o["created_date"].between(ctx.start, min(ctx.end, ctx.as_of))]  # fmt: skip
    if ctx.wb.counts_only:
        return mine.groupby("rep_id").size().astype(float).reindex(ctx.rep_ids, fill_value=0.0)
    return mine.groupby("rep_id")["amount"].sum().reindex(ctx.rep_ids, fill_value=0.0)


def leaderboard(ctx: Context, call_period: str) -> pd.DataFrame:
    """One row per rep, highest attainment first: attainment, bookings and target of the
    quarter under review, pipeline created in it, open pipeline and coverage of the quarter
    in play (the call's). For managers' documents only (a rep subject raises)."""
    check_subject(ctx)
    t = facts.rep_breakdown(ctx)
    nxt = call_period != ctx.period
    created = pipeline_created(ctx)
    cur = ctx.currency
    cov = t["coverage_next"] if nxt else t["coverage"]
    out = pd.DataFrame({
        "#": np.arange(1, len(t) + 1),
        "rep": t["name"].to_numpy(),
        f"attainment {ctx.period}": [fmt(v, "percent") for v in t["attainment"]],
        "bookings": [fmt(v, "currency", cur) for v in t["bookings"]],
        "target": [fmt(v, "currency", cur) for v in t["target"]],
        "pipeline created": [fmt(created.get(r), "currency", cur) for r in t["rep_id"]],
        f"coverage {call_period}": [fmt(v, "multiple") if pd.notna(v) else "n/a (no target left)"
                                    for v in cov],
    })  # fmt: skip
    return humane(out)


def bookings_frame(ctx: Context) -> pd.DataFrame:
    """Each rep's bookings and target of the quarter under review, highest attainment first,
    for :func:`salesnb.reports.charts.attainment_bars` (``label, bookings, target``)."""
    check_subject(ctx)
    t = facts.rep_breakdown(ctx)
    return pd.DataFrame({"label": t["name"].to_numpy(), "bookings": t["bookings"].to_numpy(float),
                         "target": t["target"].to_numpy(float)})  # fmt: skip


# --------------------------------------------------------------------------- wins and losses
def wins_since(ctx: Context, cmp_: Comparison) -> pd.Timestamp:
    """The day after which closed deals count as this review's: the earlier snapshot's date,
    or without one the cadence's days before the as-of date."""
    if cmp_.known:
        return cmp_.before
    return ctx.as_of - pd.Timedelta(days=CADENCES[cmp_.cadence])


def recent_closes(ctx: Context, cmp_: Comparison) -> pd.DataFrame:
    """The subject's deals won or lost in the review's window: closed after
    :func:`wins_since` and on or before the as-of date. "What moved" and "Wins and lessons"
    both count these deals (one window, so one won count).

    Examples
    --------
    >>> recent_closes(ctx, comparison(ctx.wb, ctx.as_of))["outcome"].unique()  # doctest: +SKIP
    array(['won', 'lost'], dtype=object)
    """
    o = ctx.wb.opportunities
    return o[o["rep_id"].isin(ctx.rep_ids) & (o["close_date"] > wins_since(ctx, cmp_))
             & (o["close_date"] <= ctx.as_of) & o["outcome"].isin(("won", "lost"))]  # fmt: skip


def _closed_count(ctx: Context, cmp_: Comparison, outcome: str) -> int:
    return int((recent_closes(ctx, cmp_)["outcome"] == outcome).sum())


def wins_and_losses(ctx: Context, cmp_: Comparison) -> tuple[Any, Any]:
    """The largest deals won and lost since the earlier snapshot (or, without one, over the
    cadence's days up to the as-of date), :data:`TOP_DEALS` of each."""
    since = wins_since(ctx, cmp_)
    recent = recent_closes(ctx, cmp_)
    names, cur = _names(ctx), ctx.currency
    out = []
    for outcome in ("won", "lost"):
        d = recent[recent["outcome"] == outcome].sort_values(["amount", "opp_id"],
                                                             ascending=[False, True])  # fmt: skip
        if d.empty:
            out.append(Html(f"<p><em>No deal {outcome} since {since:%Y-%m-%d}.</em></p>"))
            continue
        head = d.head(TOP_DEALS)
        t = pd.DataFrame({
            "rep": [names.get(r, r) for r in head["rep_id"]],
            "account": [_text(v) for v in head["account"]],
            "product": [_text(v) for v in head["product"]],
            "amount": [fmt(v, "currency", cur) for v in head["amount"]],
            "days open": [f"{(c - s).days:,}" for c, s in
                          zip(head["close_date"], head["created_date"], strict=True)],
            "source": [_text(v) for v in head["source"]],
        })  # fmt: skip
        if outcome == "lost":
            t["lost at"] = [_text(v) for v in head["furthest_stage"]]
            if records_reasons(ctx):  # right after the stage, where it stays in view
                t.insert(t.columns.get_loc("amount") + 1, "lost at", t.pop("lost at"))
                t.insert(t.columns.get_loc("lost at") + 1, "reason",
                         [_text(v) or NO_REASON for v in head["loss_reason"]])  # fmt: skip
        out.append(humane(t))
    return out[0], out[1]


#: What a lost deal's reason reads when the data has the column but left it blank.
NO_REASON: Final = "not recorded"


def records_reasons(ctx: Context) -> bool:
    """Whether the data records loss reasons: a ``loss_reason`` column with at least one
    value (a column blank on every deal, as a loader gives for data without one, does not).

    Examples
    --------
    >>> records_reasons(ctx)  # doctest: +SKIP
    True
    """
    o = ctx.wb.opportunities
    if "loss_reason" not in o.columns:
        return False
    r = o["loss_reason"]
    return bool((r.notna() & (r.astype(str).str.strip() != "")).any())


def loss_reasons(ctx: Context, cmp_: Comparison) -> pd.DataFrame | None:
    """The deals lost in the review's window per reason (``reason, deals, amount``, most
    deals first; a blank reason is :data:`NO_REASON`), or None when the data has no
    ``loss_reason`` column.

    Examples
    --------
    >>> loss_reasons(ctx, comparison(ctx.wb, ctx.as_of))  # doctest: +SKIP
         reason  deals   amount
    0     price      2  80000.0
    """
    if not records_reasons(ctx):
        return None
    recent = recent_closes(ctx, cmp_)
    lost = recent[recent["outcome"] == "lost"]
    reason = lost["loss_reason"].astype(object).map(_text).replace("", NO_REASON)
    t = (lost.assign(reason=reason).groupby("reason", sort=False)
         .agg(deals=("opp_id", "size"), amount=("amount", "sum")).reset_index())  # fmt: skip
    t["_blank"] = t["reason"] == NO_REASON
    t = t.sort_values(["_blank", "deals", "amount", "reason"],
                      ascending=[True, False, False, True], kind="stable")  # fmt: skip
    return t.drop(columns="_blank").reset_index(drop=True)


def loss_lessons(ctx: Context, cmp_: Comparison) -> Html | str:
    """One line of lessons from the losses by reason; empty when the data records no reasons
    (then the document says nothing about them) or nothing was lost."""
    t = loss_reasons(ctx, cmp_)
    if t is None or t.empty:
        return ""
    parts = [f"{esc(r)}: {n:,} deal{'s' * (n != 1)} ({esc(fmt(a, 'currency', ctx.currency))})"
             for r, n, a in zip(t["reason"], t["deals"], t["amount"], strict=True)]  # fmt: skip
    known = t[t["reason"] != NO_REASON]
    total = int(t["deals"].sum())
    top = int(known["deals"].max()) if len(known) else 0
    leaders = [f"<b>{esc(r)}</b>" for r in known.loc[known["deals"] == top, "reason"]]
    if not leaders:
        ask = ""
    elif len(leaders) == 1:
        ask = (f" The most common reason is {leaders[0]} ({top:,} of {total:,} lost deals): ask "
               "what would have changed it.")  # fmt: skip
    else:
        names = ", ".join(leaders[:-1]) + f" and {leaders[-1]}"
        ask = (f" {names} tie as the most common reasons ({top:,} deals each, of {total:,}): no "
               "single reason stands out.")  # fmt: skip
    blank = int(t.loc[t["reason"] == NO_REASON, "deals"].sum())
    if blank:
        ask += (f" {blank:,} of {total:,} lost deals have no reason recorded: ask the reps to "
                "record one.")  # fmt: skip
    return Html(f"<p><b>Lessons from the losses</b>, by reason: {'; '.join(parts)}.{ask}</p>")


def movement_note(cmp_: Comparison, *, a: str, b: str) -> Html:
    """Which dates "What moved" covers, in words: the same window as the wins and losses."""
    if not cmp_.known:
        return Html("")
    return para(
        "From {a} to {b}. Won and lost are the deals the data says closed in these dates (the "
        "same deals as in <em>Wins and lessons</em>, counted under the rep who owns them "
        "today); pushed, pulled, new and amount changes compare the snapshot of {s} with that "
        "of {n}.", a=a, b=b, s=f"{cmp_.before:%Y-%m-%d}", n=f"{cmp_.now:%Y-%m-%d}")  # fmt: skip


# --------------------------------------------------------------------------- moved deals
def moved_deals(ctx: Context, view: TeamReview, per_kind: int = 5) -> Any:
    """The deals behind the moves as the document shows them: the ``per_kind`` largest of
    each kind of move, and in a manager's copy the full list as a formula-safe CSV beside the
    document; or a line saying why there is no list."""
    from salesnb.core.safecsv import to_safe_csv
    from salesnb.reports import rollup

    table = view.tables["moved_deals"]
    if not isinstance(table, pd.DataFrame):
        return table
    shown = table.groupby("what", sort=False).head(per_kind)
    if len(shown) == len(table):
        return table
    file = f"{rollup.slug(f'team review {ctx.subject.name} moved deals')}.csv"
    note = (
        f'<p class="more">The {per_kind} largest of each kind of move are shown, {len(shown)} '
        f'of {len(table)} deals. The full list, with the deal ids: <a class="csv-link" '
        f'href="{esc(file)}">{esc(file)}</a>, beside this document.</p>'
    )
    # the deal ids go to the full list only: the shown one stays narrow enough to read
    html = shown.drop(columns="deal").to_html(index=False, escape=True, border=0)
    return rollup.Attached(html + note, {file: to_safe_csv(table) or ""})

"""What each workbook shows, prepared in one call per notebook, and safe prose for it.

Each ``*_view`` function takes a :class:`~salesnb.reports.facts.Context` and returns a small
dataclass of display-ready tables (formatted strings, so any notebook front end shows the
same), chart frames for :mod:`salesnb.reports.charts`, escaped prose (:class:`Html`) and the
``headline`` figures for :func:`salesnb.reports.record.headline`. Goal setting, forecasting and the
improvement plan are prepared here too.

Every piece of text built from data goes through :func:`esc` (``html.escape``), so a rep or
account called ``<script>alert(1)</script>`` is shown as text, never run.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from salesnb.analytics import coaching
from salesnb.reports import facts
from salesnb.reports.facts import Context


# --------------------------------------------------------------------------- safe display
class Html(str):
    """Trusted HTML (built by this module from escaped parts) that Jupyter displays as HTML."""

    def _repr_html_(self) -> str:
        return str(self)


def esc(value: Any) -> str:
    """Text made safe for HTML and Markdown: ``<``, ``>``, ``&``, quotes and ``*_`[]|$``."""
    text = html.escape(str(value), quote=True)
    for ch in "\\`*_[]|$":
        text = text.replace(ch, f"&#{ord(ch)};")
    return text


def fmt(value: Any, unit: str, currency: str = "USD", *, signed: bool = False) -> str:
    """A number as text in its unit (see :func:`salesnb.analytics.coaching.format_value`)."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return coaching.format_value(float(value), unit, currency, signed=signed)


def para(template: str, **values: Any) -> Html:
    """A paragraph from a trusted ``template`` with every value escaped.

    Examples
    --------
    >>> str(para("Deal <b>{name}</b>", name="<script>"))
    '<p>Deal <b>&lt;script&gt;</b></p>'
    """
    return Html("<p>" + template.format(**{k: esc(v) for k, v in values.items()}) + "</p>")


def bullets(items: Iterable[str], *, empty: str = "Nothing to report.") -> Html:
    """An escaped bullet list (``empty`` when there are no items)."""
    items = list(items)
    if not items:
        return Html(f"<p><em>{esc(empty)}</em></p>")
    return Html("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>")


def points_html(points: Sequence[coaching.TalkingPoint]) -> Html:
    """Talking points as an escaped list: kind, text and suggested action."""
    label = {"recognition": "Well done", "concern": "To work on", "check-in": "Check-in"}
    if not points:
        return Html("<p><em>Too little data for talking points.</em></p>")
    rows = [
        f"<li><b>{esc(label[p.kind])}:</b> {esc(p.text)}"
        + (f" <i>Suggested action:</i> {esc(p.action)}" if p.action else "")
        + "</li>"
        for p in points
    ]
    return Html("<ol>" + "".join(rows) + "</ol>")


def commitments_html(n: int = 3) -> Html:
    """Empty lines for the commitments agreed in the meeting (filled in by hand or on paper)."""
    rows = "".join(
        f"<tr><td>{i}.</td><td style='min-width:28em;border-bottom:1px solid #999'>&nbsp;</td>"
        "<td style='min-width:8em;border-bottom:1px solid #999'>&nbsp;</td></tr>"
        for i in range(1, n + 1)
    )
    return Html(f"<table><tr><th></th><th>Commitment</th><th>By when</th></tr>{rows}</table>")


def show(df: pd.DataFrame, units: Mapping[str, str], currency: str = "USD",
         rename: Mapping[str, str] | None = None) -> pd.DataFrame:  # fmt: skip
    """A copy of ``df`` with the columns in ``units`` formatted as text, columns renamed.

    Dates become ``YYYY-MM-DD``; pandas escapes the cells when Jupyter shows the table.

    Examples
    --------
    >>> t = show(pd.DataFrame({"deal": ["A", None], "amount": [1250.0, 90.0]}), {"amount": "currency"})
    >>> t.to_dict("list")
    {'deal': ['A', ''], 'amount': ['$1.2K', '$90']}
    """
    # Built column by column from plain arrays and made into a frame once: assigning each
    # column back into a copy cost pandas' per-operation overhead several times per column.
    # A blank index keeps pandas' escaped HTML table without a meaningless 0, 1, 2 column.
    blank = pd.Index([""] * len(df))
    names, columns = [], []
    renames = dict(rename or {})
    for i, col in enumerate(df.columns):
        s = df.iloc[:, i]
        if col in units and len(s):  # (an empty list assigned keeps an empty column's dtype)
            unit = units[col]
            # text: pandas infers its dtype, as when a list is assigned to a column
            column = pd.Series([fmt(v, unit, currency) for v in s], index=blank)
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            column = pd.Series(s.dt.strftime("%Y-%m-%d").fillna("").array, index=blank)
        elif pd.api.types.is_bool_dtype(s.dtype):
            column = pd.Series(np.where(s.to_numpy(), "Yes", "No"), index=blank, dtype=object)
        elif pd.api.types.is_float_dtype(s.dtype) and _whole(s):
            # whole numbers stored as floats (days, counts): "348", not "348.0"
            text = [f"{v:,.0f}" if np.isfinite(v) else "" for v in s.to_numpy(dtype=float)]
            column = pd.Series(text, index=blank, dtype=object)
        elif not pd.api.types.is_numeric_dtype(s.dtype) and col not in units:
            values = s.to_numpy(dtype=object, copy=True)
            values[s.isna().to_numpy()] = ""
            column = pd.Series(values, index=blank, dtype=object)
        else:
            column = pd.Series(s.array.copy(), index=blank, dtype=s.dtype)
        names.append(renames.get(col, col))
        columns.append(column)
    # every column has the very same index: the frame is assembled without aligning
    out = pd.DataFrame(dict(enumerate(columns)), index=blank)
    out.columns = pd.Index(names, name=df.columns.name) if renames else df.columns
    return out


def humane(df: pd.DataFrame | None) -> pd.DataFrame | None:
    """``df`` with its column names as a reader says them (:func:`header`); the last step
    before a table is shown, after code has picked its columns by name.

    Examples
    --------
    >>> list(humane(pd.DataFrame(columns=["opp_id", "days_past_due", "Team median"])).columns)
    ['deal', 'days past due', 'Team median']
    """
    if df is None:
        return None
    out = df.set_axis([header(c) for c in df.columns], axis=1)
    if isinstance(out.index, pd.RangeIndex):  # no meaningless 0, 1, 2 column
        out = out.set_axis(pd.Index([""] * len(out)), axis=0)
    return out


def _humane_tables(tables: dict[str, Any], counts_only: bool = False) -> dict[str, Any]:
    """Every table of a view as shown; without amounts (count mode) a deal's "amount" is 1
    and says nothing, so the column goes."""
    out = {}
    for k, v in tables.items():
        if isinstance(v, pd.DataFrame):
            if counts_only and "amount" in v.columns:
                v = v.drop(columns="amount")
            v = humane(v)
        out[k] = v
    return out


def _whole(s: pd.Series) -> bool:
    v = s.to_numpy(dtype=float)
    fin = v[np.isfinite(v)]
    return bool(len(fin)) and bool(np.all(fin == np.round(fin)))


#: Column names said in words where the plain rule (underscores to spaces) would not do.
_HEADERS = {
    "opp_id": "deal", "rep_id": "rep", "age_days": "age (days)", "cycle_days": "cycle (days)",
    "days_since_activity": "days since last activity", "n_deals": "deals",
}  # fmt: skip


def header(name: Any) -> Any:
    """A column name as a reader says it: ``"days_past_due"`` -> ``"days past due"``.

    Names that are not snake_case identifiers (already words, or not text) are kept.

    Examples
    --------
    >>> header("weighted_pipeline"), header("opp_id"), header("Team median")
    ('weighted pipeline', 'deal', 'Team median')
    """
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", name):
        return name
    return _HEADERS.get(name, name.replace("_", " "))


def _ratio_text(v: Any) -> str:
    """A ratio with two decimals, or "n/a" (a rep with no bookings has an undefined MASE)."""
    f = _num(v)
    return "n/a" if f is None else f"{f:.2f}"


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


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


def _owner_col(ctx: Context, df: pd.DataFrame) -> pd.DataFrame:
    """Replace ``rep_id`` by the rep's name in a manager's document; drop it in a rep's."""
    if "rep_id" not in df:
        return df
    if ctx.is_rep:
        return df.drop(columns="rep_id")
    out = df.copy()
    out.insert(0, "rep", out.pop("rep_id").map(facts.subject_name_map(ctx)))
    return out


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
    wcols = ["step", "opp_id", "rep_id", "account", "amount", "stage_start", "stage_end",
             "close_start", "close_end"]  # fmt: skip
    wd = wf.deals[[c for c in wcols if c in wf.deals]] if len(wf.deals) else wf.deals
    view.tables["waterfall_deals"] = _owner_col(ctx, show(wd, money, cur))
    now, nxt = cov.iloc[0], cov.iloc[1]
    bott = stages[stages["bottleneck"]]
    view.text["coverage"] = para(
        "Open pipeline due in <b>{p}</b>: {pipe} against {rem} still to close "
        "(coverage <b>{c}</b>). Next period <b>{np_}</b>: {npipe} against a target of {nt} "
        "(coverage <b>{nc}</b>). Weighted by stage probability the next period holds {nw}.",
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
        "flags": [p.rule_id for p in points if p.kind == "concern"],
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


# --------------------------------------------------------------------------- forecast
@dataclass
class ForecastView:
    """Everything the forecast workbook shows (see :func:`forecast_view`)."""

    forecast: Any
    history: pd.DataFrame
    future: pd.DataFrame
    monthly_target: pd.DataFrame | None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    text: dict[str, Html] = field(default_factory=dict)
    headline: dict[str, Any] = field(default_factory=dict)


def forecast_view(ctx: Context, *, months_shown: int = 24, backtest: bool = True) -> ForecastView:
    """Forecast the subject's bookings for ``ctx.period``: history, pipeline, blend, P(target).

    Uses :func:`salesnb.forecast.combined.period_forecast`; the backtest re-forecasts the last six
    months from history with the same pooled model choice (:func:`forecast_backtest`) and
    past quarters from the pipeline as each snapshot saw it.

    Examples
    --------
    >>> v = forecast_view(facts.context(wb, "rep", "R01", forward=True))   # doctest: +SKIP
    >>> v.headline["p_target"]                                              # doctest: +SKIP
    """
    from salesnb.forecast import combined as fc

    cur = ctx.currency
    key = None if ctx.subject.type == "all" else ctx.subject.key
    pf = fc.period_forecast(ctx.wb, ctx.subject.type, key, ctx.period, ctx.as_of)
    by = None if ctx.subject.type == "all" else ctx.subject.type
    wide = fc.monthly_bookings(ctx.wb, by=by, as_of=ctx.as_of)
    series = wide[pf.subject] if pf.subject in wide.columns else pd.Series(dtype=float)
    hist = series.dropna().tail(months_shown)
    history = pd.DataFrame({"month": hist.index.to_timestamp(), "bookings": hist.to_numpy()})
    f = pf.history.to_frame() if pf.history.ok else pd.DataFrame()
    future = pd.DataFrame({
        "month": f.index.to_timestamp() if len(f) else pd.Series(dtype="datetime64[ns]"),
        **{new: f[old].to_numpy() if len(f) else [] for new, old in
           (("mean", "mean"), ("lo80", "lower_80"), ("hi80", "upper_80"),
            ("lo95", "lower_95"), ("hi95", "upper_95"))},
    })  # fmt: skip
    t = ctx.wb.targets
    t = t[t["rep_id"].isin(ctx.rep_ids)]
    months = pd.concat([history["month"], future["month"]])
    mt = t[t["month"].isin(set(months))].groupby("month", as_index=False)["amount"].sum()
    view = ForecastView(pf, history, future,
                        mt.rename(columns={"amount": "target"}) if len(mt) else None)  # fmt: skip
    d = pf.to_dict()
    rows = [("From history", d["history"], d["p_attain_history"]),
            ("From the pipeline", d["pipeline"], d["p_attain_pipeline"]),
            ("Blend", d["blend"], d["p_attain"])]  # fmt: skip
    view.tables["summary"] = pd.DataFrame([
        {"view": name, "expected": fmt(s["mean"], "currency", cur),
         "pessimistic (P10)": fmt(s["p10"], "currency", cur),
         "median": fmt(s["p50"], "currency", cur), "optimistic (P90)": fmt(s["p90"], "currency", cur),
         "P(reach target)": fmt(p, "chance") if pf.target else "no target"}
        for name, s, p in rows
    ])  # fmt: skip
    cats = pf.pipeline.categories
    if cats:
        view.tables["categories"] = pd.DataFrame(
            [{"roll-up": k.replace("_", " "), "amount": fmt(v, "currency", cur)}
             for k, v in cats.items()])  # fmt: skip
    deals = pf.pipeline.deals.merge(ctx.wb.opportunities[["opp_id", "account"]], on="opp_id",
                                    how="left")  # fmt: skip
    deals["expected"] = deals["p_win"] * deals["amount"]
    deals = deals.sort_values(["expected", "opp_id"], ascending=[False, True]).head(12)
    cols = ["opp_id", "rep_id", "account", "stage", "amount", "close_date", "forecast_category",
            "p_win", "expected"]  # fmt: skip
    view.tables["deals"] = _owner_col(ctx, show(
        deals[cols], {"amount": "currency", "expected": "currency", "p_win": "percent"}, cur))  # fmt: skip
    mase = None
    if backtest:
        bt_hist, bt_pipe, notes = forecast_backtest(ctx, series, subject=pf.subject)
        view.tables["backtest_history"], view.tables["backtest_pipeline"] = bt_hist, bt_pipe
        view.text["backtest"] = bullets(notes, empty="")
        if bt_hist is not None and len(bt_hist):
            mase = _num(bt_hist.attrs.get("rel_mase"))
    split = pipeline_split(pf)
    view.tables["pipeline_split"] = pd.DataFrame(
        [{"part": k, "expected": fmt(v, "currency", cur), "how": how}
         for k, v, how in split["rows"]])  # fmt: skip
    view.text["pipeline_split"] = para("{s}", s=split["sentence"](cur))
    lost = mase is not None and mase > 1
    view.text["summary"] = para(
        "Forecast for <b>{p}</b> ({a} to {b}): about <b>{m}</b>, 80% likely between {lo} and {hi}"
        " (the history and pipeline views pooled, the pipeline counting for {w}). Already won:"
        " {won}. Target: {t}. Chance of reaching it: <b>{pt}</b>. {split}{warn}",
        p=pf.period, a=f"{pf.period_start:%Y-%m-%d}", b=f"{pf.period_end:%Y-%m-%d}",
        m=fmt(d["blend"]["mean"], "currency", cur), lo=fmt(d["blend"]["p10"], "currency", cur),
        hi=fmt(d["blend"]["p90"], "currency", cur), w=fmt(pf.pipeline_weight, "percent"),
        won=fmt(pf.already_won, "currency", cur),
        t=fmt(pf.target, "currency", cur) if pf.target else "none in the data",
        pt=fmt(pf.p_attain, "chance") if pf.target else "n/a (no target)",
        split=split["sentence"](cur),
        warn=(" " + history_warning(mase, d["pipeline"]["expected"], pf.pipeline_weight,
                                    _last_year(series, pf), cur)) if lost else "",
    )  # fmt: skip
    view.text["method"] = para(
        "<small>Method: the history view is {words}.{tech}</small>",
        words=method_words(pf.history.method),
        tech=f" Technically: {pf.history.method}"
        + (f"; in its backtest, MASE relative to the seasonal-naive benchmark {mase:.2f}"
           if mase is not None else "") + "." if pf.history.ok else "",
    )  # fmt: skip
    view.text["notes"] = bullets(pf.notes, empty="No modelling notes.")
    view.headline = {
        "forecast": d["blend"]["mean"], "forecast_p10": d["blend"]["p10"],
        "forecast_p90": d["blend"]["p90"], "target": d["target"],
        "p_target": None if not pf.target else _num(pf.p_attain),
        "already_won": d["already_won"], "pipeline_expected": d["pipeline"]["expected"],
        "pipeline_open_expected": d["pipeline"]["expected_open"],
        "pipeline_not_created": d["pipeline"]["expected_not_created"],
        "history_method": pf.history.method, "backtest_rel_mase": mase,
        "flags": ([f"P(target) {fmt(pf.p_attain, 'chance')}"]
                  if pf.target and pf.p_attain < 0.5 else [])
        + (["history model lost to its benchmark"] if lost else []),
    }  # fmt: skip
    view.tables = _humane_tables(view.tables, ctx.wb.counts_only)
    return view


def _last_year(series: pd.Series, pf) -> float | None:
    """Bookings in the same months a year before the forecast period (None if unknown)."""
    months = pd.period_range(pf.period_start, pf.period_end, freq="M") - 12
    if not len(series) or not set(months) <= set(series.dropna().index):
        return None
    return float(series.loc[months].sum())


_FAMILY_WORDS = {
    "mean": "the long-run monthly average",
    "naive": "the last month repeated",
    "snaive": "the same month a year before",
    "drift": "the trend line from first to last month",
    "ets": "exponential smoothing (recent months weigh most)",
    "arima": "an autoregressive model (months pulled back towards the average)",
}


def method_words(method: str) -> str:
    """The history model in plain words (its technical name goes to a footnote).

    Examples
    --------
    >>> method_words("combo(arima(2,0,0)+ets(A,N,N)+mean)×season(team)")[:46]
    'an equal-weight average of 3 models of the sub'
    >>> method_words("mean×season(team)").endswith("the whole team's seasonal pattern")
    True
    """
    if method == "none":
        return "not available (too little history)"
    base, _, season = method.partition("×")
    if base.startswith("combo("):
        parts = [m.split("(")[0] for m in base[len("combo(") : -1].split("+")]
        words = ", ".join(_FAMILY_WORDS.get(p, p) for p in parts)
        text = (
            f"an equal-weight average of {len(parts)} models of the subject's own monthly "
            f"bookings ({words})"
        )
    else:
        fam = base.split("(")[0]
        text = f"{_FAMILY_WORDS.get(fam, fam)}, fitted to the subject's own monthly bookings"
    if season:
        text += ", shaped by the whole team's seasonal pattern"
    return text


def history_warning(
    rel_mase: float, pipeline_expected: float, weight: float, last_year: float | None, currency: str
) -> str:
    """Plain words when the history model lost to its benchmark in its own backtest.

    The sentence points to the better view: the pipeline when past quarters gave it the
    larger weight in the blend (``weight`` >= 0.5), else the same months a year before (the
    benchmark that beat the model), with the pipeline's figure beside it.

    Examples
    --------
    >>> history_warning(1.41, 30_500.0, 0.8, 90_000.0, "USD").split("less: ")[1]
    "lean on the pipeline view ($30.5K), which past quarters' errors weight at 80% in the blend."
    """
    head = (
        "Caution: in its own backtest the history model missed by more than simply repeating "
        f"the same month a year before (its errors were {rel_mase:.2f} times the benchmark's),"
        " so trust the history view less"
    )
    pipe = fmt(pipeline_expected, "currency", currency)
    share = fmt(weight, "percent")
    if weight >= 0.5 or last_year is None:
        return (
            f"{head}: lean on the pipeline view ({pipe}), which past quarters' errors weight "
            f"at {share} in the blend."
        )
    return (
        f"{head}: the same months a year before brought {fmt(last_year, 'currency', currency)}"
        f"; past quarters' errors weight the pipeline view ({pipe}) at only {share}."
    )


def pipeline_split(pf) -> dict[str, Any]:
    """The pipeline view's expected total in its three parts, for the document and headline.

    Returns
    -------
    dict
        ``rows``: (part, expected currency, how) for won so far, open deals and deals not yet
        created (they add up to ``total``, the pipeline view's expected total);
        ``sentence``: a function of the currency giving the sentence.

    Examples
    --------
    >>> s = pipeline_split(period_forecast(wb, "rep", "R28"))  # doctest: +SKIP
    >>> sum(v for _, v, _ in s["rows"]) == s["total"]  # doctest: +SKIP
    True
    """
    p = pf.pipeline
    rr = p.run_rate
    n_open = len(p.deals)
    recent, usual = int(rr.get("recent_created", 0)), float(rr.get("usual_created", 0.0))
    days = int(rr.get("days_left", 0))
    pace = (
        f"at the recent pace of new deals ({recent} created in the last 91 days against about "
        f"{usual:.0f} at the past year's pace), over the {days} days of the period left"
        if usual > 0
        else f"at the past year's pace of new deals, over the {days} days of the period left"
    )
    rows = [
        ("won so far", float(p.already_won), "deals already won in the period"),
        ("open deals", float(p.expected_open),
         f"{n_open} open deals due in the period, each times its chance of winning in time"),
        ("deals not yet created", float(p.expected_run_rate), pace),
    ]  # fmt: skip
    total = float(p.expected)

    def sentence(cur: str) -> str:
        return (
            f"The pipeline view expects {fmt(total, 'currency', cur)}: "
            f"{fmt(rows[0][1], 'currency', cur)} won so far, "
            f"{fmt(rows[1][1], 'currency', cur)} from {n_open} open deals and "
            f"{fmt(rows[2][1], 'currency', cur)} from deals not yet created ({pace})."
        )

    return {"rows": rows, "total": total, "sentence": sentence}


def forecast_backtest(
    ctx: Context, series: pd.Series, *, n_snapshots: int = 6, subject: str | None = None
) -> tuple[pd.DataFrame | None, pd.DataFrame | None, list[str]]:
    """How well past forecasts did: history model vs naive, and pipeline forecasts at snapshots.

    The history backtest scores the method the document forecasts with: at each of 6 monthly
    origins the subjects of the subject's level are forecast together, so the automatic
    model is the level's pooled choice (:func:`salesnb.forecast.backtest.subject_backtest`, cached on
    disk per data set); the whole team has no peers and chooses alone
    (:func:`salesnb.forecast.backtest.backtest_history`).

    Parameters
    ----------
    ctx : Context
    series : Series
        The subject's monthly bookings (a column of ``monthly_bookings``).
    n_snapshots : int
        Past snapshots of finished quarters in the pipeline backtest, at most.
    subject : str, optional
        The subject's column in ``monthly_bookings`` of its level; default ``series.name``.

    Returns
    -------
    tuple
        The history backtest (one row per method, formatted; ``attrs['rel_mase']`` of the
        automatic model), the pipeline backtest (one row per past snapshot of a finished
        quarter: expected, P10-P90, actual, inside the band), and notes.
    """
    from salesnb.core.errors import NotEnoughDataError
    from salesnb.forecast import backtest as bt
    from salesnb.forecast import combined as fc

    cur, notes = ctx.currency, []
    hist_table = None
    subject = series.name if subject is None else subject
    try:
        if ctx.subject.type == "all" or subject is None:
            team = fc.team_series(ctx.wb, ctx.as_of)
            res = bt.backtest_history(series.dropna(), 3, 6, methods=["auto"], parent=team)
        else:
            res = bt.subject_backtest(ctx.wb, ctx.subject.type, str(subject), ctx.as_of, 3, 6)
        s = res.summary
        hist_table = pd.DataFrame({
            "method": ["automatic model" if m == "auto" else f"{m} (benchmark)" for m in s.index],
            "MASE": [_ratio_text(v) for v in s["mase"]],
            "vs benchmark": [_ratio_text(v) for v in s["rel_mase"]],
            "bias": [fmt(v, "growth") for v in s["bias"]],
            "inside 80% interval": [fmt(v, "percent") for v in s["coverage"]],
            "forecasts": s["n"].astype(int),
        })  # fmt: skip
        hist_table.attrs["rel_mase"] = (
            float(s.loc["auto", "rel_mase"]) if "auto" in s.index else None
        )
        notes.append("History backtest: 6 monthly origins, 3 months ahead each; MASE below 1 "
                     "beats the average error of the naive benchmark in its own history, "
                     "'vs benchmark' below 1 beats the benchmark here.")  # fmt: skip
    except NotEnoughDataError as exc:
        notes.append(f"No history backtest: {exc}")
    cal = ctx.wb.config.calendar
    dates = [d for d in facts.pipe.snapshot_dates(ctx.wb) if d <= ctx.as_of]
    rows = []
    for d in dates:
        q = cal.period_label(d, "Q")
        start, end = cal.period_bounds(q)
        if end <= ctx.as_of and (end - d).days >= 14:
            rows.append((d, q, start, end))
    rows = (
        rows[-n_snapshots:]
        if len(rows) <= n_snapshots
        else rows[:: max(1, len(rows) // n_snapshots)][-n_snapshots:]
    )
    o = ctx.wb.opportunities
    won = o[o["rep_id"].isin(ctx.rep_ids) & (o["outcome"] == "won")]
    out = []
    for d, q, start, end in rows:
        p = fc.forecast_pipeline(ctx.wb, ctx.rep_ids, start, end, d, n_sims=2000)
        actual = float(won.loc[won["close_date"].between(start, end), "amount"].sum())
        lo, hi = p.total.quantile(0.1), p.total.quantile(0.9)
        out.append({"snapshot": f"{d:%Y-%m-%d}", "quarter": q,
                    "expected": fmt(p.expected, "currency", cur),
                    "P10 – P90": f"{fmt(lo, 'currency', cur)} – {fmt(hi, 'currency', cur)}",
                    "actual": fmt(actual, "currency", cur),
                    "inside": "yes" if lo <= actual <= hi else "no"})  # fmt: skip
    pipe_table = pd.DataFrame(out) if out else None
    if out:
        inside = sum(r["inside"] == "yes" for r in out)
        notes.append(f"Pipeline backtest: {inside} of {len(out)} past quarters landed inside "
                     "the P10–P90 band forecast from the pipeline as it stood then "
                     "(about 80% is well calibrated).")  # fmt: skip
    else:
        notes.append("No pipeline backtest: no pipeline snapshot falls inside a finished quarter.")
    return hist_table, pipe_table, notes


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

    joined = None
    if ctx.is_rep:
        start = ctx.wb.rep(ctx.subject.key)["start_date"]
        if pd.notna(start) and start > ctx.as_of - pd.DateOffset(years=1):
            joined = pd.Timestamp(start)
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
    unit = comp["unit"].replace({"multiple": "count", "growth": "percent"})
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

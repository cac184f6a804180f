"""A summary first: the 4-6 tiles every document opens with, and the subject's quarter trend.

:func:`summary_tiles` picks, per workbook, the figures a manager reads first (attainment,
bookings, coverage, pipeline created, win rate, the forecast...) and gives each its value, its
status against a target where one exists, its change against the last quarter and against the
same quarter a year before (or "not known" in words when the data cannot say), and the
subject's own trend over up to eight quarters. :func:`summary_html` draws them as escaped,
offline HTML (an inline SVG per trend) that the review template styles (``tiles.css``).

Every figure is the same one the rest of the document shows: attainment and bookings from
:func:`salesnb.analytics.kpis.quota_attainment`, the sales cycle from
:func:`salesnb.reports.facts.sales_cycle_days`, peers from :func:`salesnb.reports.facts.peer_group`, and every
number goes through :func:`salesnb.analytics.coaching_facts.format_value`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesnb.analytics.coaching import load_rules
from salesnb.analytics.coaching_facts import METRICS, format_value
from salesnb.core.errors import ParameterError
from salesnb.reports import facts
from salesnb.reports.facts import Context
from salesnb.reports.workbooks import Html, esc

__all__ = ["TILES", "Tile", "quarter_trend", "summary_html", "summary_tiles", "tiles_css"]

#: Quarters of history a trend shows at most.
TREND_QUARTERS = 8

#: The tiles of each workbook, in display order.
TILES: dict[str, tuple[str, ...]] = {
    "one_on_one": ("attainment", "bookings", "win_rate", "pipeline_created", "coverage_next",
                   "sales_cycle_days"),
    "pipeline_review": ("pipeline", "coverage_current", "coverage_next", "pipeline_created",
                        "win_rate", "sales_cycle_days"),
    "forecast": ("forecast", "attainment", "bookings", "pipeline", "coverage_current",
                 "win_rate"),
    "goal_setting": ("quota", "attainment", "bookings", "pipeline_created", "win_rate",
                     "avg_deal_size"),
    "performance_improvement_plan": ("attainment", "bookings", "win_rate", "pipeline_created",
                                     "activities", "sales_cycle_days"),
    "team_review": ("attainment", "bookings", "pipeline_created", "win_rate", "coverage_current",
                    "coverage_next"),
}  # fmt: skip

# Tiles that are not coaching metrics: label, unit, definition.
_EXTRA = {
    "pipeline_created": ("Pipeline created", "currency",
                         "amount of the deals created in the quarter (their amount today)"),
    "pipeline": ("Open pipeline", "currency", "open deals due in the quarter, as of today"),
    "forecast": ("Forecast", "currency", "expected bookings of the quarter (the blend)"),
    "quota": ("Quota", "currency", "the quarter's target"),
}  # fmt: skip
# Open-pipeline figures exist only as the data stands today: no history to compare with.
_NOW_ONLY = ("pipeline", "coverage_current", "coverage_next")


@dataclass(frozen=True)
class Tile:
    """One summary tile.

    ``value`` is in the metric's ``unit`` (fractions for percentages, currency, days); ``text``
    is it formatted. ``status`` is the value against ``target`` in words ('' when there is no
    target). ``change_last``/``change_year`` are the changes against the quarter before and the
    same quarter a year before (percentage points as fractions for percentages, a relative
    change for amounts and counts, days for days; None when not known) and ``vs_last``/
    ``vs_year`` say them in words, "not known: <why>" when unknown. ``trend`` is
    ``(quarter, value)`` oldest first (value None where unknown); ``note`` says which period
    the value is for.
    """

    metric: str
    label: str
    unit: str
    value: float | None
    text: str
    target: float | None
    status: str
    tone: str  # "good", "bad" or "" (no target)
    change_last: float | None
    change_year: float | None
    vs_last: str
    vs_year: str
    trend: tuple[tuple[str, float | None], ...]
    note: str
    trend_label: str = ""


# --------------------------------------------------------------------------- quarters
def _quarters(ctx: Context) -> tuple[str, pd.Timestamp, list[str]]:
    """The quarter the summary reports on, the date its figures run to, and the trend quarters."""
    cal = ctx.wb.config.calendar
    ref = min(ctx.as_of, ctx.end) if ctx.start <= ctx.as_of else ctx.as_of
    q = str(cal.period_label(ref, "Q"))
    labels = [q]
    start = cal.period_bounds(q)[0]
    first = _first_quarter_start(ctx)
    while len(labels) < TREND_QUARTERS:
        prev = str(cal.period_label(start - pd.Timedelta(days=1), "Q"))
        start = cal.period_bounds(prev)[0]
        if cal.period_bounds(prev)[1] < first:
            break
        labels.insert(0, prev)
    return q, ref, labels


def _first_quarter_start(ctx: Context) -> pd.Timestamp:
    """The first day the subject has history: the data's first deal, or a rep's start date."""
    first = ctx.wb.opportunities["created_date"].min()
    joined = facts.rep_start(ctx)
    return max(first, joined) if joined is not None else first


def _first_quarter(ctx: Context, text: str, label: str, known: bool) -> str:
    """``text`` (a change on quarter ``label``, ``known`` or not) with a note when ``label``
    was the rep's first quarter."""
    joined = facts.joined_during(ctx, label)
    if joined is None or not known:
        return text
    return f"{text}, their first quarter (joined {joined:%Y-%m-%d})"


def _shift(ctx: Context, label: str, quarters: int) -> str:
    cal = ctx.wb.config.calendar
    start = cal.period_bounds(label)[0]
    for _ in range(quarters):
        start = cal.period_bounds(cal.period_label(start - pd.Timedelta(days=1), "Q"))[0]
    return str(cal.period_label(start, "Q"))


def _series(rows: pd.DataFrame, col: str) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for label, v in zip(rows["period"].astype(str), rows[col], strict=True):
        f = float(v) if pd.notna(v) else np.nan
        out[label] = f if np.isfinite(f) else None
    return out


def quarter_trend(ctx: Context, metric: str) -> tuple[tuple[str, float | None], ...]:
    """The subject's ``metric`` in each of its last (up to eight) quarters, oldest first.

    Quarters before the data starts or before a rep joined are left out; the quarter holding
    the as-of date counts up to the as-of date. Metrics: attainment, bookings, quota, win_rate,
    avg_deal_size, activities, pipeline_created, sales_cycle_days (the window of
    :func:`salesnb.reports.facts.sales_cycle_days` ending on each quarter's last day).

    Examples
    --------
    >>> quarter_trend(ctx, "attainment")[-2:]  # doctest: +SKIP
    (('FY2026-Q2', 2.10), ('FY2026-Q3', 0.68))
    """
    q, ref, labels = _quarters(ctx)
    cal = ctx.wb.config.calendar
    first, last = cal.period_bounds(labels[0])[0], cal.period_bounds(q)[1]
    window = {"freq": "Q", "start": first, "end": last, "as_of": ctx.as_of}
    if metric in ("attainment", "bookings", "quota"):
        rows = facts.own_rows(ctx, "quota_attainment", **window)
        values = _series(rows, "target" if metric == "quota" else metric)
    elif metric == "win_rate":
        values = _series(facts.own_rows(ctx, "win_rate", **window), "win_rate")
    elif metric == "avg_deal_size":
        values = _series(facts.own_rows(ctx, "avg_deal_size", **window), "avg_deal_size")
    elif metric == "activities":
        values = _series(facts.own_rows(ctx, "activity_counts", **window), "activities")
    elif metric == "pipeline_created":
        values = _created(ctx, labels)
    elif metric == "sales_cycle_days":
        values = {}
        for label in labels:
            end = min(cal.period_bounds(label)[1], ref)
            v = facts.sales_cycle_days(ctx, end)
            values[label] = v if np.isfinite(v) else None
    else:
        msg = f"No quarter trend for {metric!r}. Fix: use one of the tiles' history metrics."
        raise ParameterError(msg)
    return tuple((label, values.get(label)) for label in labels)


def _created(ctx: Context, labels: list[str]) -> dict[str, float | None]:
    o = ctx.wb.opportunities
    mine = o[o["rep_id"].isin(ctx.rep_ids) & (o["created_date"] <= ctx.as_of)]
    cal = ctx.wb.config.calendar
    out: dict[str, float | None] = {}
    for label in labels:
        s, e = cal.period_bounds(label)
        hit = mine[mine["created_date"].between(s, e)]
        out[label] = float(len(hit) if ctx.wb.counts_only else hit["amount"].fillna(0).sum())
    return out


# --------------------------------------------------------------------------- tiles
def _info(metric: str) -> tuple[str, str]:
    if metric in _EXTRA:
        return _EXTRA[metric][0], _EXTRA[metric][1]
    m = METRICS[metric]
    return m.label, m.unit


def _change(value: float | None, before: float | None, unit: str) -> float | None:
    if value is None or before is None:
        return None
    if unit in ("percent", "days", "multiple"):
        return value - before
    return None if before == 0 else value / before - 1


def _from_zero(value: float | None, before: float | None, unit: str) -> float | None:
    """The absolute change of an amount or count that was zero before (else None)."""
    if value is None or before != 0 or unit in ("percent", "days", "multiple"):
        return None
    return value


def _change_text(ctx: Context, change: float | None, unit: str, label: str, why: str,
                 absolute: float | None = None) -> str:  # fmt: skip
    if change is None and absolute is not None:  # from nothing: a % change would be infinite
        return f"{format_value(absolute, unit, ctx.currency, signed=True)} on {label} (none then)"
    if change is None:
        return f"{label}: not known ({why})"
    cur = ctx.currency
    if unit == "percent":
        shown = format_value(change, "points", signed=True)
    elif unit in ("days", "multiple"):
        shown = format_value(change, unit, cur, signed=True)
    else:
        shown = format_value(change, "growth")
    return f"{shown} on {label}"


_NO_FIGURE = {
    "attainment": "no target for {q}",
    "win_rate": "no deal closed in {q}",
    "avg_deal_size": "no deal won in {q}",
    "sales_cycle_days": "no deal won in the {d} days to the end of {q}",
}


def _why_unknown(ctx: Context, label: str, labels: list[str], values: dict,
                 metric: str = "") -> str:  # fmt: skip
    """Why the figure of quarter ``label`` is not known, in plain words."""
    if label not in labels:
        joined = facts.rep_start(ctx)
        cal = ctx.wb.config.calendar
        if joined is not None and cal.period_bounds(label)[1] < joined:
            return f"{ctx.subject.name} joined on {joined:%Y-%m-%d}"
        return f"the data starts in {labels[0]}"
    if values.get(label) is None:
        why = _NO_FIGURE.get(metric, "no figure for {q}")
        return why.format(q=label, d=facts.SALES_CYCLE_WINDOW_DAYS)
    return f"nothing in {label} to compare with"


def _status(ctx: Context, metric: str, value: float | None, target: float | None,
            complete: bool) -> tuple[str, str]:  # fmt: skip
    if value is None or target is None:
        return "", ""
    cur = ctx.currency
    good = value >= target
    if metric == "attainment":
        if complete:
            return ("Target met", "good") if good else ("Below target (100%)", "bad")
        pace = format_value(target, "percent")
        return (f"Ahead of pace (pace for today: {pace})", "good") if good else (
            f"Behind pace (pace for today: {pace})", "bad")  # fmt: skip
    if metric == "bookings":
        share = format_value(value / target, "percent") if target else "n/a"
        return f"{share} of the {format_value(target, 'currency', cur)} target", (
            "good" if good else "bad" if complete else "")  # fmt: skip
    if metric in ("coverage_current", "coverage_next"):
        t = format_value(target, "multiple")
        return (f"At or above the {t} rule of thumb", "good") if good else (
            f"Below the {t} rule of thumb", "bad")  # fmt: skip
    return "", ""


def summary_tiles(
    ctx: Context, workbook: str, *, forecast: Mapping[str, Any] | None = None
) -> list[Tile]:
    """The summary tiles of ``workbook`` for the subject of ``ctx``.

    Parameters
    ----------
    ctx : Context
        The document's context (a forward-looking or planning period is fine: history tiles
        report on the quarter holding the as-of date, pipeline tiles on the document's period).
    workbook : str
        One of :data:`TILES`.
    forecast : mapping, optional
        The forecast workbook's figures (``forecast`` or ``expected``, ``p_target``,
        ``target``), e.g. ``ForecastView.headline``: the forecast tile needs them.

    Returns
    -------
    list of Tile
        Four to six tiles, in display order.

    Examples
    --------
    >>> [t.text for t in summary_tiles(ctx, "one_on_one")][:2]  # doctest: +SKIP
    ['68%', '$40.7K']
    """
    if workbook not in TILES:
        raise ParameterError(f"Unknown workbook {workbook!r}. Fix: use one of {', '.join(TILES)}.")
    q, ref, labels = _quarters(ctx)
    q_end = ctx.wb.config.calendar.period_bounds(q)[1]
    complete = ref >= q_end.normalize()
    targets = load_rules().targets
    tiles = []
    for metric in TILES[workbook]:
        if metric == "forecast" and forecast is None:
            continue
        if ctx.wb.counts_only and metric in facts.VALUE_ONLY_METRICS:
            continue
        if metric in _NOW_ONLY:
            tiles.append(_now_tile(ctx, metric, q, targets))
        elif metric == "forecast":
            tiles.append(_forecast_tile(ctx, forecast or {}, labels))
        else:
            tiles.append(_history_tile(ctx, metric, q, labels, complete, ref))
    return tiles


def _history_tile(ctx: Context, metric: str, q: str, labels: list[str], complete: bool,
                  ref: pd.Timestamp) -> Tile:  # fmt: skip
    label, unit = _info(metric)
    cur = ctx.currency
    trend = quarter_trend(ctx, metric)
    values = dict(trend)
    value = values.get(q)
    target = None
    if metric == "attainment":
        s, e = ctx.wb.config.calendar.period_bounds(q)
        days = (e - s).days + 1
        target = 1.0 if complete else ((ref - s).days + 1) / days
    elif metric == "bookings":
        target = dict(quarter_trend(ctx, "quota")).get(q)
    status, tone = _status(ctx, metric, value, target, complete)
    last, year = _shift(ctx, q, 1), _shift(ctx, q, 4)
    ch_last = _change(value, values.get(last), unit)
    ch_year = _change(value, values.get(year), unit)
    whole = "" if complete or metric in ("sales_cycle_days", "quota") else " (a whole quarter)"
    why_last = _why_unknown(ctx, last, labels, values, metric)
    why_year = _why_unknown(ctx, year, labels, values, metric)
    vs_last = _change_text(ctx, ch_last, unit, last, why_last,
                           _from_zero(value, values.get(last), unit))  # fmt: skip
    vs_year = _change_text(ctx, ch_year, unit, year, why_year,
                           _from_zero(value, values.get(year), unit))  # fmt: skip
    vs_last += whole if ch_last is not None else ""
    vs_year += ", a year before" if ch_year is not None else ""
    vs_last = _first_quarter(ctx, vs_last, last, ch_last is not None)
    vs_year = _first_quarter(ctx, vs_year, year, ch_year is not None)
    note = q if complete else f"{q} to date"
    if metric == "sales_cycle_days":
        note = f"deals won in the {facts.SALES_CYCLE_WINDOW_DAYS} days to {ref:%Y-%m-%d}"
    shown = format_value(value, unit, cur) if value is not None else "not known"
    return Tile(metric, label, unit, value, shown, target, status, tone, ch_last, ch_year,
                vs_last, vs_year, trend, note)  # fmt: skip


def _now_tile(ctx: Context, metric: str, q: str, targets: Mapping[str, float]) -> Tile:
    label, unit = _info(metric)
    here = ctx.next_period if metric == "coverage_next" else ctx.period
    row = facts.own_rows(ctx, "coverage", period=here, as_of=ctx.as_of)
    p = facts.own_rows(ctx, "pipeline", period=here, as_of=ctx.as_of)
    if metric == "pipeline":
        value = float(p["pipeline"].iloc[0]) if len(p) else None
        target = None
    else:
        v = float(row["coverage"].iloc[0]) if len(row) else np.nan
        value = v if np.isfinite(v) else None
        target = targets.get(metric)
    status, tone = _status(ctx, metric, value, target, True)
    starts = ctx.wb.config.calendar.period_bounds(here)[0]
    if metric == "coverage_next" and tone == "bad" and (starts - ctx.as_of).days > RULE_DAYS:
        # weeks before the quarter, its pipeline is still being built: not yet a shortfall
        status, tone = f"{status}, which applies from {starts:%Y-%m-%d}", ""
    shown = format_value(value, unit, ctx.currency) if value is not None else "not known"
    if value is None and metric != "pipeline" and len(row):
        t = float(row["target"].iloc[0]) if pd.notna(row["target"].iloc[0]) else 0.0
        left = float(row["remaining_target"].iloc[0])
        status = f"No target for {here} in the data" if t <= 0 else (
            "Target already met: nothing left to cover" if left <= 0 else "")  # fmt: skip
        shown = "n/a" if status else shown
    changes, texts = [], []
    for back, tail in ((1, ""), (4, ", a year before")):
        was = _shift(ctx, here, back)
        before, when, why = _pipeline_then(ctx, _kpi_of(metric), q, was, back)
        ch = _change(value, before, unit)
        then = f"{was} at the same point ({when:%Y-%m-%d})"
        changes.append(ch)
        if value == 0 and before == 0:
            text = f"No change on {then} (none then either)"
        else:
            text = _change_text(ctx, ch, unit, then, why, _from_zero(value, before, unit))
        texts.append(_first_quarter(ctx, text + (tail if ch is not None else ""), was,
                                    ch is not None))  # fmt: skip
    return Tile(metric, label, unit, value, shown, target, status, tone, changes[0], changes[1],
                texts[0], texts[1],
                (), f"due in {here}, as of {ctx.as_of:%Y-%m-%d}")  # fmt: skip


#: Days before a quarter from which its coverage is held to the rule of thumb.
RULE_DAYS = 14
#: A past pipeline is read from a snapshot at most this many days before the date compared.
SNAPSHOT_NEAR_DAYS = 13


def _kpi_of(metric: str) -> str:
    """The KPI behind a pipeline tile: ``pipeline`` or ``coverage``."""
    return "pipeline" if metric == "pipeline" else "coverage"


def _pipeline_then(ctx: Context, kpi: str, q: str, was: str, back: int):
    """``kpi`` (open pipeline or coverage) due in quarter ``was``, as it stood at the same
    point of the quarter ``back`` quarters before ``q`` (the quarter holding the as-of date):
    (value or None, that date, why it is not known)."""
    cal = ctx.wb.config.calendar
    start, _ = cal.period_bounds(q)
    s, e = cal.period_bounds(_shift(ctx, q, back))
    when = min(s + (ctx.as_of - start), e)
    joined = facts.rep_start(ctx)
    if joined is not None and joined > when:
        return None, when, f"{ctx.subject.name} joined on {joined:%Y-%m-%d}"
    snaps = ctx.wb.snapshots
    if not len(snaps):
        return None, when, "the data holds no pipeline snapshots to show it then"
    near = snaps["as_of"][(snaps["as_of"] <= when)]
    if not len(near) or (when - near.max()).days > SNAPSHOT_NEAR_DAYS:
        return None, when, "no pipeline snapshot then"
    rows = facts.own_rows(ctx, kpi, period=was, as_of=when)
    v = float(rows[kpi].iloc[0]) if len(rows) else np.nan
    return (v if np.isfinite(v) else None), when, f"no {kpi} figure for {was}"


def _forecast_tile(ctx: Context, figures: Mapping[str, Any], labels: list[str]) -> Tile:
    cur = ctx.currency
    raw = figures.get("forecast", figures.get("expected"))
    value = float(raw) if raw is not None and np.isfinite(float(raw)) else None
    p = figures.get("p_target")
    target = figures.get("target")
    status = ""
    if p is not None and np.isfinite(float(p)):
        t = f" of {format_value(target, 'currency', cur)}" if target else ""
        status = f"Chance of reaching the target{t}: {format_value(float(p), 'chance')}"
    tone = "" if p is None else ("good" if float(p) >= 0.5 else "bad")
    trend = quarter_trend(ctx, "bookings")
    values = dict(trend)
    last, year = _shift(ctx, ctx.period, 1), _shift(ctx, ctx.period, 4)
    ch_last = _change(value, values.get(last), "currency")
    ch_year = _change(value, values.get(year), "currency")
    vs_last = _change_text(ctx, ch_last, "currency", f"{last}'s bookings",
                           _why_unknown(ctx, last, labels, values))  # fmt: skip
    vs_year = _change_text(ctx, ch_year, "currency", f"{year}'s bookings",
                           _why_unknown(ctx, year, labels, values))  # fmt: skip
    shown = format_value(value, "currency", cur) if value is not None else "not known"
    return Tile("forecast", "Forecast", "currency", value, shown, target, status, tone, ch_last,
                ch_year, vs_last, vs_year, trend, f"bookings expected in {ctx.period}",
                "past quarters' bookings")  # fmt: skip


# --------------------------------------------------------------------------- HTML
def _spark(tile: Tile, currency: str) -> str:
    """The trend as a small inline SVG bar chart (no script, no external resource)."""
    pts = [(q, v) for q, v in tile.trend]
    if not pts:  # open-pipeline figures: the change lines already say why
        return ""
    if len(pts) < 2:
        return '<p class="tile-trend-none">Trend: not known (one quarter of history)</p>'
    vals = [v for _, v in pts if v is not None]
    top = max([abs(v) for v in vals] + [1e-9])
    w, h, gap = 12, 28, 3
    bars, words = [], []
    for i, (q, v) in enumerate(pts):
        shown = "not known" if v is None else format_value(v, tile.unit, currency)
        words.append(f"{q}: {shown}")
        if v is None:
            continue
        bh = max(1.0, h * abs(v) / top)
        last = " last" if i == len(pts) - 1 else ""
        bars.append(f'<rect class="bar{last}" x="{i * (w + gap)}" y="{h - bh:.1f}" '
                    f'width="{w}" height="{bh:.1f}"></rect>')  # fmt: skip
    width = len(pts) * (w + gap) - gap
    label = esc(f"{tile.trend_label or tile.label} by quarter: " + "; ".join(words))
    span = esc(f"{pts[0][0]} – {pts[-1][0]}")
    return (f'<svg class="tile-trend" role="img" aria-label="{label}" viewBox="0 0 {width} {h}" '
            f'width="{width}" height="{h}">{"".join(bars)}</svg>'
            f'<span class="tile-trend-span">{span}</span>')  # fmt: skip


def summary_html(ctx: Context, workbook: str, *, forecast: Mapping[str, Any] | None = None) -> Html:
    """The summary tiles as HTML for the top of a document (styled by ``tiles.css``).

    Every text is escaped; the trend is inline SVG, so the page works offline and prints.
    Below the tiles, one line says who the peers are (:func:`salesnb.reports.facts.peer_group`).

    Examples
    --------
    >>> summary_html(ctx, "one_on_one")  # doctest: +SKIP
    """
    tiles = summary_tiles(ctx, workbook, forecast=forecast)
    parts = ['<div class="tiles" role="group" aria-label="Summary">']
    for t in tiles:
        tone = f" {t.tone}" if t.tone else ""
        status = f'<p class="tile-status{tone}">{esc(t.status)}</p>' if t.status else ""
        year = "" if t.vs_year == t.vs_last else f'<p class="tile-change">{esc(t.vs_year)}</p>'
        parts.append(
            f'<div class="tile"><p class="tile-label">{esc(t.label)}</p>'
            f'<p class="tile-value">{esc(t.text)}</p><p class="tile-note">{esc(t.note)}</p>'
            f'{status}<p class="tile-change">{esc(t.vs_last)}</p>{year}'
            f"{_spark(t, ctx.currency)}</div>"
        )
    parts.append("</div>")
    parts.append(
        '<p class="tiles-help">Each tile: the figure, how it stands against its target where '
        "there is one, its change on the last quarter and on the same quarter a year before, "
        "and its quarters so far as bars (the dark bar is the latest).</p>"
    )
    group = facts.peer_group(ctx)
    if ctx.subject.type != "all":
        line = f"Peers in this document: {group.label}."
        if group.note:
            line += f" {group.note}"
        parts.append(f'<p class="tiles-peers">{esc(line)}</p>')
    return Html("".join(parts))


def tiles_css() -> str:
    """The tiles' CSS (``templates/review/tiles.css``), for pages built outside the template.

    Examples
    --------
    >>> "@media" in tiles_css()
    True
    """
    from salesnb.reports.render import TEMPLATES

    return (TEMPLATES / "review" / "tiles.css").read_text(encoding="utf-8")

"""Managers' copies: a per-rep roll-up first, and long deal lists cut to the top rows.

A region's or manager's document opens with one row per rep (attainment, coverage, open
pipeline, the quarter's forecast, flags in plain words) and shows only the first rows of each deal list, with "and
N more" and the full list as a formula-safe CSV beside the document. A rep's own document
gets neither: :func:`rollup_section` returns None and :func:`top_rows` the table unchanged.

The CSV travels with the executed notebook as output metadata (``salesnb.files``, see
:data:`FILES_KEY`); :func:`salesnb.reports.render.attachments` reads it back and the batch
(:func:`salesnb.batch.documents.write_files`, for ``salesnb.batch.run`` and the ``salesnb
batch`` command alike) writes each file beside the document it belongs to.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from salesnb.analytics.coaching_facts import format_money
from salesnb.core.errors import SalesnbError
from salesnb.core.safecsv import to_safe_csv
from salesnb.reports import facts
from salesnb.reports.facts import Context
from salesnb.reports.workbooks import Html, esc, header, humane, show

#: Deal rows a manager's copy shows per list before "and N more".
TOP_ROWS: Final = 10
#: Output metadata key under ``salesnb`` holding ``{file name: CSV text}``.
FILES_KEY: Final = "files"
#: Flags: attainment below this share of the target's pro-rata pace, next period's coverage below.
PACE_SHARE: Final = 0.7
THIN_COVERAGE: Final = 2.0
#: Share of the period gone from which next period's coverage is flagged.
LATE: Final = 2 / 3


@dataclass
class Attached:
    """HTML to display plus files that go beside the document (``{name: text}``)."""

    html: str
    files: dict[str, str] = field(default_factory=dict)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict, dict]:
        return {"text/html": self.html}, {"salesnb": {FILES_KEY: dict(self.files)}}


def slug(text: Any) -> str:
    """Lower-case words joined by hyphens, safe as a file name.

    Examples
    --------
    >>> slug("Pipeline review: North-East / Ana")
    'pipeline-review-north-east-ana'
    """
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "document"


def _elapsed(ctx: Context) -> float:
    """Share of the period gone on the as-of date (0 before it starts, 1 once it has ended)."""
    days = (ctx.end - ctx.start).days + 1
    gone = (ctx.as_of - ctx.start).days + 1
    return float(np.clip(gone / days, 0.0, 1.0)) if days > 0 else 1.0


def flags(row: Mapping[str, Any], elapsed: float) -> str:
    """A rep's flags in short plain words ("None" without any), from one roll-up row.

    Parameters
    ----------
    row : mapping
        ``attainment`` (fraction), ``pipeline`` and ``coverage`` (due this period; currency,
        multiple), ``coverage_next`` (multiple), ``past_due_deals``, ``stale_deals`` (counts).
    elapsed : float
        Share of the period gone (0-1).

    Examples
    --------
    >>> flags({"attainment": 0.2, "pipeline": 5e4, "coverage": 0.8, "stale_deals": 2}, 0.5)
    'Behind pace, Pipeline under 1x, 2 stale'
    """
    out = []
    att = row.get("attainment")
    if pd.notna(att) and elapsed >= 0.25 and att < PACE_SHARE * elapsed:
        out.append("Behind pace" if elapsed < 1 else f"Under {PACE_SHARE:.0%} of target")
    if pd.notna(row.get("pipeline")) and row["pipeline"] <= 0:
        out.append("No pipeline due this period")
    elif pd.notna(row.get("coverage")) and row["coverage"] < 1 and elapsed < 1:
        out.append("Pipeline under 1x")
    cov = row.get("coverage_next")
    # next period's pipeline is thin for everyone early on: a flag in the period's last third
    if pd.notna(cov) and cov < THIN_COVERAGE and elapsed >= LATE:
        out.append(f"Next period under {THIN_COVERAGE:g}x")
    for col, what in (("past_due_deals", "past due"), ("stale_deals", "stale")):
        n = row.get(col)
        if pd.notna(n) and n > 0:
            out.append(f"{int(n)} {what}")
    return ", ".join(out) or "None"


def forecast_period(ctx: Context) -> str:
    """The quarter the roll-up's forecast is for: the period under review while it runs, the
    next one from its last day on (what the forecast workbook forecasts on that as-of).

    Examples
    --------
    >>> forecast_period(facts.open_context("data/sample", None, "region", "West", None, "2026-09-30"))  # doctest: +SKIP
    'FY2026-Q4'
    """
    return ctx.period if ctx.as_of.normalize() < ctx.end.normalize() else ctx.next_period


def rep_forecasts(ctx: Context, rep_ids: Any, period: str | None = None) -> pd.Series:
    """Each rep's expected bookings for ``period`` (default :func:`forecast_period`;
    currency), NaN when unknown.

    The figure of the rep's forecast workbook (its blend's expected value): the rep's draws
    from :func:`salesnb.forecast.levels.level_draws`, which
    :func:`salesnb.forecast.combined.period_forecast` uses with the same seed and number of
    draws. What they rest on (every rep's forecast and past misses) is computed once per data
    set and cached on disk, so each rep costs one cheap draw, not a forecast. Unknown for a
    rep without a forecast, for data without amounts, and when the data cannot be forecast.

    Examples
    --------
    >>> rep_forecasts(ctx, ["R01", "R02"])  # doctest: +SKIP
    """
    ids = [str(r) for r in rep_ids]
    out = pd.Series(np.nan, index=range(len(ids)), dtype="float64")
    if ctx.wb.counts_only or not ids:
        return out
    from salesnb.forecast import levels
    from salesnb.forecast.combined import team_forecast

    period = period or forecast_period(ctx)
    try:
        start, end = ctx.wb.config.calendar.period_bounds(period)
        whole = team_forecast(ctx.wb, period, ctx.as_of)
        known = {str(r) for r in levels.rep_table(ctx.wb, period, ctx.as_of, whole).index}
        for i, rep in enumerate(ids):
            if rep in known:
                out[i] = levels.level_draws(ctx.wb, [rep], period, start, end, ctx.as_of,
                                            team_forecast=whole)[0].mean  # fmt: skip
    except SalesnbError:
        return pd.Series(np.nan, index=out.index, dtype="float64")
    return out.where(np.isfinite(out))


def rollup_table(ctx: Context) -> pd.DataFrame | None:
    """One row per rep of a region, manager or team subject; None in a rep's document.

    Columns: rep, target, bookings, attainment, pipeline due this period, coverage this period
    and next, the forecast of the quarter in play (:func:`rep_forecasts`; "unknown" where
    there is none), flags (plain words: behind the period's pace, pipeline under 1x or none, next
    period's coverage under 2x late in the period, deals past their close date or stale).
    Sorted by attainment, highest first.

    Examples
    --------
    >>> rollup_table(facts.open_context("data/sample", None, "region", "West")).columns[0]  # doctest: +SKIP
    'Rep'
    """
    if ctx.is_rep:
        return None
    t = facts.rep_breakdown(ctx)
    elapsed = _elapsed(ctx)
    t["flags"] = [flags(r, elapsed) for r in t.to_dict("records")]
    expected = rep_forecasts(ctx, t["rep_id"]).to_numpy()
    forecast_col = f"Forecast {forecast_period(ctx)}"
    cols = ["name", "target", "bookings", "attainment", "pipeline", "coverage", "coverage_next",
            "flags"]  # fmt: skip
    units = {"target": "currency", "bookings": "currency", "attainment": "percent",
             "pipeline": "currency", "coverage": "multiple", "coverage_next": "multiple"}  # fmt: skip
    names = {"name": "Rep", "target": "Target", "bookings": "Bookings",
             "attainment": "Attainment", "pipeline": "Pipeline due this period",
             "coverage": "Coverage this period", "coverage_next": "Coverage next period",
             "flags": "Flags"}  # fmt: skip
    out = humane(show(t[cols], units, ctx.currency).rename(columns=names))
    out.insert(
        len(out.columns) - 1,
        forecast_col,
        [format_money(v, ctx.currency) if pd.notna(v) else "unknown" for v in expected],
    )
    return out


def rollup_section(ctx: Context) -> Html | None:
    """The roll-up with its heading and a sentence on how to read it; None for a rep.

    Examples
    --------
    >>> rollup_section(facts.open_context("data/sample", None, "rep", "R07")) is None  # doctest: +SKIP
    True
    """
    table = rollup_table(ctx)
    if table is None:
        return None
    flagged = int((table["Flags"] != "None").sum())
    intro = (
        f"Each rep of {esc(ctx.subject.name)} for {esc(ctx.period)}, as of "
        f"{ctx.as_of:%Y-%m-%d}: {flagged} of {len(table)} flagged. <b>Behind pace</b>: under "
        f"{PACE_SHARE:.0%} of the target's share for the time gone. <b>Pipeline under 1x</b>: "
        "less open pipeline due this period than target left to close. <b>Next period under "
        f"{THIN_COVERAGE:g}x</b> (in the period's last third): prospect now. <b>Past due</b>, "
        "<b>stale</b>: open deals past their close date, or without change for too long. "
        f"<b>Forecast {esc(forecast_period(ctx))}</b>: the bookings expected for that quarter, "
        "as in each rep's forecast document (unknown where there is none). "
        "Start the team meeting with the flagged reps."
    )
    body = table.to_html(index=False, escape=True, border=0, classes="rollup")
    return Html(f'<h2 id="team-roll-up">Team roll-up</h2><p>{intro}</p>{body}')


def _like(full: pd.DataFrame, table: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """``full``'s columns that ``table`` shows, in its order; rep names, ISO dates."""
    data = full.copy()
    if "rep_id" in data:
        data.insert(0, "rep", data.pop("rep_id").map(facts.subject_name_map(ctx)))
    shown = {header(c): c for c in data.columns}
    data = data[[shown[c] for c in table.columns if c in shown]]
    for col in data.columns:
        if pd.api.types.is_datetime64_any_dtype(data[col]):
            data[col] = data[col].dt.strftime("%Y-%m-%d")
    return data


def top_rows(
    ctx: Context,
    table: pd.DataFrame,
    name: str,
    *,
    full: pd.DataFrame | None = None,
    n: int = TOP_ROWS,
    document: str = "",
    empty: str | None = "No deals in this list.",
) -> pd.DataFrame | Attached | Html:
    """A line saying so when ``table`` is empty (``empty``; nothing when None, for a list whose
    own sentence already says it is empty); ``table`` itself in a rep's document or when
    short; else its first ``n`` rows, "and N
    more", and the full list as a formula-safe CSV beside the document, linked relatively.

    Parameters
    ----------
    table : DataFrame
        The list as the document shows it, already in order (biggest or most at risk first).
    name : str
        What the list is, in a file name (``"attention"``).
    full : DataFrame, optional
        The list's raw figures for the CSV (numbers, ISO dates); ``table`` itself if not given.
        A ``rep_id`` column becomes the rep's name.
    n : int
        Rows shown.
    document : str
        The kind of document, first in the file name (``"pipeline review"``).

    Examples
    --------
    >>> top_rows(ctx, big_table, "attention", document="pipeline review")  # doctest: +SKIP
    """
    if not len(table):
        return Html(f"<p><em>{html.escape(empty)}</em></p>" if empty else "")
    if ctx.is_rep or len(table) <= n:
        return table
    data = table if full is None else _like(full, table, ctx)
    file = f"{slug(f'{document} {ctx.subject.name} {name}')}.csv"
    shown = table.head(n).to_html(index=False, escape=True, border=0)
    more = len(table) - n
    note = (
        f'<p class="more">… and {more} more (the first {n} of {len(table)} shown). The full list: '
        f'<a class="csv-link" href="{esc(file)}">{esc(file)}</a>, beside this document.</p>'
    )
    return Attached(shown + note, {file: to_safe_csv(humane(data)) or ""})

"""Product and channel review: which products and which lead sources carry the gap.

:func:`dimension_review` prepares, for the pipeline review and goal setting, one small table
per dimension (product, then source/channel) over the subject's own deals only
(:meth:`salesnb.data.model.Workbook.subset`, so a rep's copy holds nothing of another rep):

* bookings in the window under review against the same days one year earlier, and the change;
* each value's share of the window's bookings;
* the open pipeline at as-of (due in the period under review, or all of it) and its share;

with a sentence in plain words naming the product (channel) whose bookings fell most against
last year -- the one carrying the gap -- and where the open pipeline sits. When the data has no
product (no source) on any deal, the section says "not in the data" instead of a table.

Windows: ``horizon="quarter"`` (pipeline review) compares the period under review to date
(the fiscal quarter holding as-of when the period has not started yet) with the same days a
year before, and counts the open pipeline due in the period; ``horizon="year"`` (goal setting)
compares the 12 months to as-of with the 12 before, and counts every open deal.
Targets are set per rep and month, not per product or channel, so the gap to target is not
split by product: the comparison is with last year.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from salesnb.analytics.dimensions import UNKNOWN, kpis_by
from salesnb.core.errors import ParameterError
from salesnb.data.model import Workbook
from salesnb.reports.facts import Context
from salesnb.reports.workbooks import Html, fmt, humane, para, show

#: The dimensions reviewed, with the word a reader uses for each.
DIMENSIONS: Final = {"product": "product", "source": "channel"}
#: What the section says for a dimension the data lacks.
NOT_IN_DATA: Final = "not in the data"
HORIZONS: Final = ("quarter", "year")

__all__ = ["DIMENSIONS", "HORIZONS", "NOT_IN_DATA", "DimensionReview", "Windows",
           "dimension_review", "dimension_table", "gap_text", "joined_note", "review_windows"]  # fmt: skip


@dataclass(frozen=True)
class Windows:
    """The dates compared (inclusive): ``now`` against ``last`` (one year earlier), and the
    open pipeline counted (``pipe`` None: every open deal at as-of)."""

    now: tuple[pd.Timestamp, pd.Timestamp]
    last: tuple[pd.Timestamp, pd.Timestamp]
    pipe: tuple[pd.Timestamp, pd.Timestamp] | None
    now_label: str
    last_label: str
    pipe_label: str


@dataclass
class DimensionReview:
    """What the product and channel review shows (see :func:`dimension_review`)."""

    windows: Windows
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    tables: dict[str, Any] = field(default_factory=dict)
    text: dict[str, Html] = field(default_factory=dict)
    headline: dict[str, Any] = field(default_factory=dict)


def review_windows(ctx: Context, horizon: str = "quarter") -> Windows:
    """The windows of the review (see the module docstring).

    Examples
    --------
    >>> from salesnb.analytics.dimensions import _example
    >>> from salesnb.reports.facts import context
    >>> w = review_windows(context(_example(), "rep", "r2", "FY2026-Q1"))
    >>> w.now_label, w.last_label, w.pipe_label
    ('FY2026-Q1 to 2026-03-31', 'the same days of 2025', 'due in FY2026-Q1')
    """
    if horizon not in HORIZONS:
        raise ParameterError(f"horizon={horizon!r}. Fix: use 'quarter' or 'year'.")
    year = pd.DateOffset(years=1)
    day = pd.Timedelta(days=1)
    as_of = ctx.as_of.normalize()
    if horizon == "year":
        now = (as_of - year + day, as_of)
        last = (now[0] - year, now[1] - year)
        return Windows(now, last, None, "the last 12 months",
                       "the 12 months before", "all open deals")  # fmt: skip
    start, label = ctx.start, ctx.period
    if start > as_of:  # the period in play has not started: its quarter so far is nothing
        cal = ctx.wb.config.calendar
        label = str(cal.period_label(as_of, "Q"))
        start = cal.period_bounds(label)[0]
    now = (start, min(ctx.end, as_of) if start <= ctx.end else as_of)
    last = (now[0] - year, now[1] - year)
    return Windows(now, last, (ctx.start, ctx.end), f"{label} to {now[1]:%Y-%m-%d}",
                   f"the same days of {last[1].year}", f"due in {ctx.period}")  # fmt: skip


def dimension_table(wb: Workbook, column: str, windows: Windows, as_of: Any) -> pd.DataFrame:
    """Per value of ``column`` (``"product"`` or ``"source"``): ``bookings`` (currency, won
    in ``windows.now``), ``bookings_last_year`` (won in ``windows.last``), ``change``,
    ``bookings_share`` (of the window's bookings), ``pipeline`` (open at as-of, due in
    ``windows.pipe``) and ``pipeline_share``. Deals with a blank value count under
    :data:`~salesnb.analytics.dimensions.UNKNOWN`. Values with nothing in any column are left
    out. ``wb`` must already be the subject's own deals.

    Examples
    --------
    >>> from salesnb.analytics.dimensions import _example
    >>> from salesnb.reports.facts import context
    >>> ctx = context(_example(), "rep", "r2", "FY2026-Q1")
    >>> w = review_windows(ctx)
    >>> dimension_table(ctx.wb.subset(["r2"]), "product", w, ctx.as_of)[
    ...     ["product", "bookings", "bookings_last_year", "change", "pipeline"]]
      product  bookings  bookings_last_year  change  pipeline
    0       X       0.0               200.0  -200.0       0.0
    1       Y       0.0               300.0  -300.0     500.0
    """
    kw = {"as_of": as_of}
    now = kpis_by(wb, column, start=windows.now[0], end=windows.now[1], **kw)
    last = kpis_by(wb, column, start=windows.last[0], end=windows.last[1], **kw)
    if windows.pipe is None:
        pipe = kpis_by(wb, column, **kw)
    else:
        pipe = kpis_by(wb, column, start=windows.pipe[0], end=windows.pipe[1], **kw)
    t = (now.set_index(column)[["bookings"]]
         .join(last.set_index(column)["bookings"].rename("bookings_last_year"), how="outer")
         .join(pipe.set_index(column)["pipeline"], how="outer")
         .fillna(0.0))  # fmt: skip
    t = t[(t != 0).any(axis=1)].reset_index()
    t["change"] = t["bookings"] - t["bookings_last_year"]
    for what in ("bookings", "pipeline"):
        total = t[what].sum()
        t[f"{what}_share"] = t[what] / total if total > 0 else np.nan
    cols = [column, "bookings", "bookings_last_year", "change", "bookings_share", "pipeline",
            "pipeline_share"]  # fmt: skip
    return t[cols]


def _name(value: str, word: str) -> str:
    return f"deals without a {word}" if value == UNKNOWN else str(value)


def gap_text(
    table: pd.DataFrame, column: str, windows: Windows, currency: str = "USD",
    joined: str | None = None, data_start: pd.Timestamp | None = None,
) -> str:  # fmt: skip
    """Plain words: which value carries the gap against last year, and where the pipeline sits.

    The value carrying the gap is the one whose bookings fell most (in currency) against the
    same days a year before; when bookings grew overall the sentence says so and still names
    the largest fall, if any. ``joined`` (see :func:`joined_note`) says who was not selling
    for the whole of the earlier window; ``data_start`` (the first deal's creation date) after
    the start of the earlier window makes the change unknown (the data does not cover it).

    Examples
    --------
    >>> from salesnb.analytics.dimensions import _example
    >>> from salesnb.reports.facts import context
    >>> ctx = context(_example(), "rep", "r2", "FY2026-Q1")
    >>> w = review_windows(ctx)
    >>> gap_text(dimension_table(ctx.wb.subset(["r2"]), "source", w, ctx.as_of), "source", w)
    'Bookings are down $500 on the same days of 2025 ($0 in FY2026-Q1 to 2026-03-31 against $500). The channel carrying most of the gap is outbound, down $300 ($0 against $300), 60% of the fall. Open pipeline (due in FY2026-Q1): $500; inbound holds the most, $500 (100%); outbound has none.'
    """
    word = DIMENSIONS.get(column, column)
    money = lambda v, signed=False: fmt(v, "currency", currency, signed=signed)
    now, last = float(table["bookings"].sum()), float(table["bookings_last_year"].sum())
    change = now - last
    carrier = None
    partial = data_start is not None and data_start > windows.last[0]
    if partial:
        out = [(f"Bookings: {money(now)} in {windows.now_label}; the change is unknown: the data "
                f"starts on {data_start:%Y-%m-%d}, after {windows.last_label} began.")]  # fmt: skip
    elif last <= 0 and now <= 0:
        out = [(f"Nothing was booked in {windows.now_label} or {windows.last_label}: "
               "no gap to place.")]  # fmt: skip
    elif last <= 0:
        out = [(f"Bookings: {money(now)} in {windows.now_label}; the change is unknown: nothing "
               f"was booked in {windows.last_label} to compare with.")]  # fmt: skip
    else:
        how = ("level with" if change == 0 else
               f"{'down' if change < 0 else 'up'} {money(abs(change))} on")  # fmt: skip
        out = [
            (
                f"Bookings are {how} {windows.last_label} "
                f"({money(now)} in {windows.now_label} against {money(last)})."
            )
        ]
        fell = table[table["change"] < 0].sort_values(["change", column])
        if len(fell):
            row = fell.iloc[0]
            carrier = str(row[column])
            what = (f"{_name(carrier, word)}, down {money(-row['change'])} "
                    f"({money(row['bookings'])} against {money(row['bookings_last_year'])})")  # fmt: skip
            if change < 0:
                share = row["change"] / change
                tail = (f", {fmt(share, 'percent')} of the fall" if share <= 1 else
                        f", more than the whole fall, as other {word}s grew")  # fmt: skip
                out.append(f"The {word} carrying most of the gap is {what}{tail}.")
            else:
                out.append(f"No gap overall; the {word} that fell most is {what}.")
        else:
            out.append(f"Every {word} booked at least as much as in {windows.last_label}.")
    if joined is not None and last > 0 and not partial:
        out.append(f"Part of the change is tenure: {joined}.")
    pipe = float(table["pipeline"].sum())
    if pipe <= 0:
        out.append(f"No open pipeline ({windows.pipe_label}).")
    else:
        top = table.sort_values(["pipeline", column], ascending=[False, True]).iloc[0]
        line = (f"Open pipeline ({windows.pipe_label}): {money(pipe)}; "
                f"{_name(str(top[column]), word)} holds the most, {money(top['pipeline'])} "
                f"({fmt(top['pipeline_share'], 'percent')})")  # fmt: skip
        if carrier is not None and carrier != str(top[column]):
            held = float(table.loc[table[column] == carrier, "pipeline"].iloc[0])
            line += (f"; {_name(carrier, word)} has " +
                     (f"{money(held)}" if held > 0 else "none"))  # fmt: skip
        out.append(line + ".")
    return " ".join(out)


def joined_note(ctx: Context, windows: Windows) -> str | None:
    """Who of the subject's reps started after the earlier window began (None: nobody), in
    words: the year-earlier bookings then cover only part of it.

    Examples
    --------
    >>> from salesnb.analytics.dimensions import _example
    >>> from salesnb.reports.facts import context
    >>> ctx = context(_example(), "rep", "r2", "FY2026-Q1")
    >>> joined_note(ctx, review_windows(ctx)) is None
    True
    """
    reps = ctx.wb.reps[ctx.wb.reps["rep_id"].isin(ctx.rep_ids)].drop_duplicates("rep_id")
    late = reps[reps["start_date"] > windows.last[0]]
    if late.empty:
        return None
    if ctx.is_rep:
        day = pd.Timestamp(late["start_date"].iloc[0])
        return f"{ctx.subject.name} started on {day:%Y-%m-%d}, within {windows.last_label}"
    return (
        f"{len(late)} of the {len(reps)} reps started after {windows.last[0]:%Y-%m-%d}, "
        f"so {windows.last_label} had fewer sellers"
    )


def _missing(ctx: Context, own: Workbook, column: str) -> str | None:
    word = DIMENSIONS.get(column, column)
    if ctx.wb.opportunities[column].isna().all():
        return (
            f"Which {word} carries the gap: {NOT_IN_DATA}. The deals carry no {word} "
            f"(map the export's {column} column in the import profile to add it)."
        )
    if own.opportunities[column].isna().all():
        return (f"Which {word} carries the gap: not known. None of {ctx.subject.name}'s deals "
                f"records a {word}.")  # fmt: skip
    return None


def dimension_review(ctx: Context, horizon: str = "quarter") -> DimensionReview:
    """Prepare the product and channel review of ``ctx``'s subject (module docstring).

    ``tables`` and ``text`` have one entry per dimension (``"product"``, ``"source"``): the
    table as shown (or an empty HTML when the data lacks the dimension) and the sentence.
    ``frames`` holds the numbers behind each table. ``headline`` names the product and the
    channel carrying the gap (None when none fell or the data lacks it).

    Examples
    --------
    >>> from salesnb.analytics.dimensions import _example
    >>> from salesnb.reports.facts import context
    >>> r = dimension_review(context(_example(), "rep", "r2", "FY2026-Q1"))
    >>> r.headline
    {'product_carrying_gap': 'Y', 'channel_carrying_gap': 'outbound'}
    """
    windows = review_windows(ctx, horizon)
    own = ctx.wb.subset(ctx.rep_ids)
    review = DimensionReview(windows)
    cur = ctx.currency
    for column, word in DIMENSIONS.items():
        key = f"{word}_carrying_gap"
        missing = _missing(ctx, own, column)
        if missing is not None:
            review.text[column] = para("{t}", t=missing)
            review.tables[column] = Html("")
            review.headline[key] = None
            continue
        t = dimension_table(own, column, windows, ctx.as_of)
        review.frames[column] = t
        first = ctx.wb.opportunities["created_date"].min()
        text = gap_text(t, column, windows, cur, joined_note(ctx, windows),
                        None if pd.isna(first) else pd.Timestamp(first))  # fmt: skip
        review.text[column] = para("{t}", t=text)
        fell = t[(t["change"] < 0)].sort_values(["change", column])
        covered = pd.isna(first) or first <= windows.last[0]
        review.headline[key] = (str(fell[column].iloc[0]) if len(fell) and covered
                                and t["bookings_last_year"].sum() > 0 else None)  # fmt: skip
        review.tables[column] = _shown(t, column, word, windows, cur)
    return review


def _shown(t: pd.DataFrame, column: str, word: str, windows: Windows, cur: str) -> pd.DataFrame:
    total = {column: f"all {word}s", **{c: t[c].sum() for c in t.columns if c != column}}
    total["bookings_share"] = 1.0 if t["bookings"].sum() > 0 else np.nan
    total["pipeline_share"] = 1.0 if t["pipeline"].sum() > 0 else np.nan
    rows = t.assign(**{column: [_name(str(v), word) for v in t[column]]})
    rows = pd.concat([rows, pd.DataFrame([total])], ignore_index=True)
    units = {"bookings": "currency", "bookings_last_year": "currency", "pipeline": "currency",
             "bookings_share": "percent", "pipeline_share": "percent"}  # fmt: skip
    shown = show(rows, units, cur)
    shown["change"] = [fmt(v, "currency", cur, signed=True) for v in rows["change"]]
    names = {column: word, "bookings": f"booked {windows.now_label}",
             "bookings_last_year": f"booked {windows.last_label}", "change": "change",
             "bookings_share": "share of bookings", "pipeline": f"open pipeline ({windows.pipe_label})",
             "pipeline_share": "share of pipeline"}  # fmt: skip
    return humane(shown.rename(columns=names))

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

Speed: a batch makes this section for every rep. The deals as they stood at as-of, with their
product and channel labels, are read once per data set (:func:`salesnb.data.memo.shared`, like
the kit's other team-level results); each document then takes its subject's own rows and sums
them in one pass, with the very figures :func:`dimension_table` (six
:func:`~salesnb.analytics.dimensions.kpis_by` calls on the subject's own workbook) gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from salesnb.analytics.dimensions import UNKNOWN, kpis_by
from salesnb.analytics.kpibase import deals_as_of
from salesnb.core.errors import ParameterError
from salesnb.data import memo
from salesnb.data.model import Workbook
from salesnb.reports.facts import Context
from salesnb.reports.workbooks import Html, fmt, header, para

#: The dimensions reviewed, with the word a reader uses for each.
DIMENSIONS: Final = {"product": "product", "source": "channel"}
#: What the section says for a dimension the data lacks.
NOT_IN_DATA: Final = "not in the data"
HORIZONS: Final = ("quarter", "year")

__all__ = ["DIMENSIONS", "HORIZONS", "NOT_IN_DATA", "DimensionReview", "Windows",
           "dimension_review", "dimension_table", "gap_text", "joined_note", "own_tables",
           "review_windows"]  # fmt: skip


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
         .join(pipe.set_index(column)["pipeline"], how="outer"))  # fmt: skip
    return _finish(t, column)


def _finish(t: pd.DataFrame, column: str) -> pd.DataFrame:
    """The table from per-value ``bookings``, ``bookings_last_year`` and ``pipeline`` (indexed
    by the value): blanks as 0, all-zero values left out, the change and the shares added."""
    sums = {c: t[c].to_numpy(dtype=float) for c in ("bookings", "bookings_last_year", "pipeline")}
    return _table(t.index.to_numpy(dtype=object), sums, column)


def _table(values: np.ndarray, sums: dict[str, np.ndarray], column: str) -> pd.DataFrame:
    """:func:`_finish` on plain arrays (one frame built once: this runs once per document)."""
    sums = {k: np.where(np.isnan(v), 0.0, v) for k, v in sums.items()}
    keep = (sums["bookings"] != 0) | (sums["bookings_last_year"] != 0) | (sums["pipeline"] != 0)
    now, last, pipe = (sums[k][keep] for k in ("bookings", "bookings_last_year", "pipeline"))

    def share(v: np.ndarray) -> np.ndarray:
        total = v.sum()
        return v / total if total > 0 else np.full(len(v), np.nan)

    return pd.DataFrame({
        column: np.asarray(values, dtype=object)[keep],  # typed by pandas, as a column of text
        "bookings": now, "bookings_last_year": last, "change": now - last,
        "bookings_share": share(now), "pipeline": pipe, "pipeline_share": share(pipe),
    })  # fmt: skip


@memo.shared
def _team_deals(wb: Workbook, as_of: Any) -> tuple[pd.DataFrame, pd.Index, dict[str, pd.Index]]:
    """Every deal as it stood at as-of, coded for the review: ``(deals, reps, labels)``.

    ``deals`` has one row per deal (:func:`~salesnb.analytics.kpibase.deals_as_of`, same
    order) with integer codes -- ``rep`` into ``reps`` (the owners' ids), and per dimension
    into ``labels[dimension]`` (sorted; :data:`~salesnb.analytics.dimensions.UNKNOWN` for a
    blank, as :func:`~salesnb.analytics.dimensions.kpis_by` labels it) -- and ``won``,
    ``open``, ``amount`` and ``close`` (ns since the epoch; NaT as the smallest integer).
    A deal's row depends on that deal alone, so a subject's rows are those
    ``deals_as_of(wb.subset(reps), as_of)`` gives, in the same order.
    """
    o = deals_as_of(wb, as_of)
    rep, reps = pd.factorize(o["rep_id"].to_numpy(dtype=object))
    deals = {"rep": rep}
    labels = {}
    for column in DIMENSIONS:
        label = pd.Series(o[column].to_numpy(dtype=object), index=o.index).fillna(UNKNOWN)
        deals[column], labels[column] = pd.factorize(label.astype(str), sort=True)
    outcome = o["outcome"].to_numpy(dtype=object)
    deals["won"], deals["open"] = outcome == "won", outcome == "open"
    deals["amount"] = o["amount"].astype(float).to_numpy()  # as kpis_by reads it
    deals["close"] = o["close_date"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    as_index = {c: pd.Index(np.asarray(v, dtype=object), dtype=object) for c, v in labels.items()}
    return pd.DataFrame(deals), pd.Index(np.asarray(reps, dtype=object), dtype=object), as_index


def _within(close: np.ndarray, bounds: tuple[pd.Timestamp, pd.Timestamp] | None) -> np.ndarray:
    """Close dates (ns, see :func:`_team_deals`) inside ``bounds`` (inclusive; a missing date
    never is); every row for None."""
    if bounds is None:
        return np.ones(len(close), dtype=bool)
    lo, hi = (pd.Timestamp(b).as_unit("ns").value for b in bounds)
    return (close != np.iinfo(np.int64).min) & (close >= lo) & (close <= hi)


def own_tables(ctx: Context, windows: Windows) -> dict[str, pd.DataFrame]:
    """:func:`dimension_table` of each of :data:`DIMENSIONS` for ``ctx``'s subject, read from
    the subject's own deals only: the same tables, figure for figure, at a fraction of the cost.

    The deals at as-of are coded once per data set; the subject's rows are taken by owner and
    summed per value in one pass (in the order, hence to the bit, that
    :func:`~salesnb.analytics.dimensions.kpis_by` sums them).

    Examples
    --------
    >>> from salesnb.analytics.dimensions import _example
    >>> from salesnb.reports.facts import context
    >>> ctx = context(_example(), "rep", "r2", "FY2026-Q1")
    >>> own_tables(ctx, review_windows(ctx))["source"][["source", "bookings_last_year"]]
         source  bookings_last_year
    0   inbound               200.0
    1  outbound               300.0
    """
    deals, reps, labels = _team_deals(ctx.wb, ctx.as_of)
    wanted = reps.get_indexer(pd.Index(ctx.rep_ids, dtype=object))
    mine = np.isin(deals["rep"].to_numpy(), wanted[wanted >= 0])
    close = deals["close"].to_numpy()[mine]
    amount = deals["amount"].to_numpy()[mine]
    won, live = deals["won"].to_numpy()[mine], deals["open"].to_numpy()[mine]
    weights = {
        "bookings": np.where(won & _within(close, windows.now), amount, 0.0),
        "bookings_last_year": np.where(won & _within(close, windows.last), amount, 0.0),
        "pipeline": np.where(live & _within(close, windows.pipe), amount, 0.0),
    }
    out = {}
    for column in DIMENSIONS:
        present, codes = np.unique(deals[column].to_numpy()[mine], return_inverse=True)
        n = len(present)
        sums = {k: np.bincount(codes, weights=w, minlength=n) for k, w in weights.items()}
        out[column] = _table(labels[column].to_numpy()[present], sums, column)
    return out


def _rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as dicts (a handful of rows: plain Python beats frame operations)."""
    names = list(table.columns)
    columns = [table[c].tolist() for c in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _fell_most(rows: list[dict[str, Any]], column: str) -> dict[str, Any] | None:
    """The row whose bookings fell most against last year (of rows falling the same, the
    first value in sort order); None when none fell."""
    fell = [(r["change"], r[column], i, r) for i, r in enumerate(rows) if r["change"] < 0]
    return min(fell, key=lambda x: x[:3])[3] if fell else None


def _holds_most(rows: list[dict[str, Any]], column: str) -> dict[str, Any]:
    """The row with the most open pipeline (of rows level, the first value in sort order)."""
    held = [(-r["pipeline"], r[column], i, r) for i, r in enumerate(rows)
            if not pd.isna(r["pipeline"])]  # fmt: skip
    return min(held, key=lambda x: x[:3])[3]


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
    rows = _rows(table)
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
        row = _fell_most(rows, column)
        if row is not None:
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
        top = _holds_most(rows, column)
        line = (f"Open pipeline ({windows.pipe_label}): {money(pipe)}; "
                f"{_name(str(top[column]), word)} holds the most, {money(top['pipeline'])} "
                f"({fmt(top['pipeline_share'], 'percent')})")  # fmt: skip
        if carrier is not None and carrier != str(top[column]):
            held = float(next(r["pipeline"] for r in rows if r[column] == carrier))
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


def _missing(ctx: Context, own: np.ndarray, column: str) -> str | None:
    """Why the section has no table for ``column`` (None: it has one); ``own`` marks the
    subject's deals among the data's (the deals :meth:`Workbook.subset` keeps)."""
    word = DIMENSIONS.get(column, column)
    blank = ctx.wb.opportunities[column].isna().to_numpy()
    if blank.all():
        return (
            f"Which {word} carries the gap: {NOT_IN_DATA}. The deals carry no {word} "
            f"(map the export's {column} column in the import profile to add it)."
        )
    if blank[own].all():
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
    opps = ctx.wb.opportunities
    own = opps["rep_id"].isin(set(ctx.rep_ids)).to_numpy()  # the rows wb.subset keeps
    review = DimensionReview(windows)
    cur = ctx.currency
    first = opps["created_date"].min()
    data_start = None if pd.isna(first) else pd.Timestamp(first)
    covered = pd.isna(first) or first <= windows.last[0]
    tables: dict[str, pd.DataFrame] | None = None
    joined: str | None = None
    for column, word in DIMENSIONS.items():
        key = f"{word}_carrying_gap"
        missing = _missing(ctx, own, column)
        if missing is not None:
            review.text[column] = para("{t}", t=missing)
            review.tables[column] = Html("")
            review.headline[key] = None
            continue
        if tables is None:
            tables, joined = own_tables(ctx, windows), joined_note(ctx, windows)
        t = tables[column]
        review.frames[column] = t
        text = gap_text(t, column, windows, cur, joined, data_start)
        review.text[column] = para("{t}", t=text)
        row = _fell_most(_rows(t), column)
        review.headline[key] = (str(row[column]) if row is not None and covered
                                and t["bookings_last_year"].sum() > 0 else None)  # fmt: skip
        review.tables[column] = _shown(t, column, word, windows, cur)
    return review


def _shown(t: pd.DataFrame, column: str, word: str, windows: Windows, cur: str) -> pd.DataFrame:
    """The table as shown: values named in words, figures as text, a total row last.

    Built as plain lists and made into a frame once, as :func:`~salesnb.reports.workbooks.show`
    and :func:`~salesnb.reports.workbooks.humane` would make it (same texts and column types):
    on a table this small, frame operations cost more than the figures.
    """
    money = ("bookings", "bookings_last_year", "pipeline")
    total = {c: t[c].sum() for c in t.columns if c != column}
    total["bookings_share"] = 1.0 if t["bookings"].sum() > 0 else np.nan
    total["pipeline_share"] = 1.0 if t["pipeline"].sum() > 0 else np.nan

    def column_of(c: str) -> list:
        return [*t[c].tolist(), total[c]]

    cells = {c: [fmt(v, "currency", cur) for v in column_of(c)] for c in money}
    for c in ("bookings_share", "pipeline_share"):
        cells[c] = [fmt(v, "percent", cur) for v in column_of(c)]
    cells["change"] = [fmt(v, "currency", cur, signed=True) for v in column_of("change")]
    names = [_name(str(v), word) for v in t[column]] + [f"all {word}s"]
    blank = pd.Index([""] * (len(t) + 1))
    shown = {
        word: pd.Series(names, index=blank, dtype=object),
        f"booked {windows.now_label}": cells["bookings"],
        f"booked {windows.last_label}": cells["bookings_last_year"],
        "change": cells["change"],
        "share of bookings": cells["bookings_share"],
        f"open pipeline ({windows.pipe_label})": cells["pipeline"],
        "share of pipeline": cells["pipeline_share"],
    }
    return pd.DataFrame({header(k): v for k, v in shown.items()}, index=blank)

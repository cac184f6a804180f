"""Per-subject views for the workbooks: the adapter between the KPI modules and the notebooks.

A workbook resolves one :class:`Context` (data, subject, period, as-of date) and asks this
module for tidy tables in the shape each chart builder of :mod:`salesnb.reports.charts` expects, and
for the :class:`~salesnb.analytics.coaching.RepFacts` the coaching rules read. All logic lives here, so
a notebook is parameters, calls, charts and prose.

Privacy (a rep's document is shared with that rep): every function returns only the
subject's own deals; peers appear only as anonymised aggregates (median, quartiles, the
subject's percentile), and not at all when fewer than :data:`MIN_PEERS` peers remain.
"""

from __future__ import annotations

import ast
import difflib
import re
import unicodedata
import warnings
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salesnb.analytics import kpis
from salesnb.analytics import pipeline as pipe
from salesnb.analytics.coaching import METRICS as COACHING_METRICS
from salesnb.analytics.coaching import DealRef, RepFacts
from salesnb.core.errors import NotEnoughDataError, ParameterError
from salesnb.data import memo
from salesnb.data.model import Workbook
from salesnb.reports import plausibility
from salesnb.reports import subject as subj

#: Fewer peers than this (the subject excluded) and no peer figure is shown: with two
#: peers a median is one of them.
MIN_PEERS = 3
#: Days of deal history behind stage conversion and the funnel.
LOOKBACK_DAYS = 365
#: Metrics of the scorecard, in display order, with the column of the per-unit table.
SCORECARD_METRICS: dict[str, str] = {
    "attainment": "attainment", "bookings": "bookings", "win_rate": "win_rate",
    "win_rate_value": "win_rate_value", "avg_deal_size": "avg_deal_size",
    "sales_cycle_days": "median_cycle_days", "coverage_current": "coverage",
    "coverage_next": "coverage_next", "weighted_pipeline": "weighted_pipeline",
    "velocity": "velocity", "open_deals": "open_deals_all", "stale_deals": "stale_deals",
    "past_due_deals": "past_due_deals", "slipped_deals": "slipped_deals",
    "slipped_amount": "slipped_amount", "concentration_top_deal": "top_deal_share",
    "activities": "activities", "activity_to_opp": "opportunities_per_activity",
    "bookings_growth": "growth",
}  # fmt: skip
_COLUMN_METRIC = {col: m for m, col in SCORECARD_METRICS.items()}
#: The one sales-cycle window (days): the median days from creation to close of the deals won
#: in the SALES_CYCLE_WINDOW_DAYS days to the as-of date (or the period's end, if earlier). A
#: quarter holds too few wins for a steady median; every document uses this one figure.
SALES_CYCLE_WINDOW_DAYS = 180


# --------------------------------------------------------------------------- data location
def locate_data(path: str | Path) -> Path | str:
    """Find a data folder or file given relative to the working directory or the repo root.

    Notebooks run with their own folder as working directory (JupyterLab, papermill), so
    ``data/sample`` is tried as given, then against each parent of the working directory.
    A database URL is returned as it is (:func:`salesnb.data.io.load` reads it).

    Raises
    ------
    ParameterError
        When no candidate exists; the message lists where it looked.

    Examples
    --------
    >>> locate_data("data/sample").name  # doctest: +SKIP
    'sample'
    """
    from salesnb.data.dburl import is_url

    if is_url(path):
        return str(path).strip()
    p = Path(str(path)).expanduser()
    if p.is_absolute():
        candidates = [p]
    else:
        cwd = Path.cwd()
        candidates = [cwd / p, *(parent / p for parent in cwd.parents)]
        from salesnb.core.resources import kit_folder  # the checkout's data/ folder

        candidates.append(kit_folder("notebooks").parent / p)
    for c in candidates:
        if c.exists():
            return c.resolve()
    shown = ", ".join(str(c) for c in candidates[:3])
    msg = (
        f"Data {str(path)!r} was not found (looked in {shown} and parent folders). "
        "Fix: set the `data` parameter to the folder of your CSV files (absolute, or "
        "relative to the project folder)."
    )
    raise ParameterError(msg)


# --------------------------------------------------------------------------- context
@dataclass(frozen=True)
class Context:
    """Who a document is about, for which period, as of when, on which data.

    ``period``/``start``/``end`` is the period under review (fiscal label and first and last
    day); ``next_*`` the period after it. Amounts are in ``currency``.
    """

    wb: Workbook
    subject: subj.Subject
    as_of: pd.Timestamp
    period: str
    start: pd.Timestamp
    end: pd.Timestamp
    next_period: str
    next_start: pd.Timestamp
    next_end: pd.Timestamp

    @property
    def currency(self) -> str:
        """The data's currency, or "deals" for an export without amounts (counts)."""
        return self.wb.unit

    @property
    def is_rep(self) -> bool:
        return self.subject.is_rep

    @property
    def rep_ids(self) -> list[str]:
        return list(self.subject.rep_ids)

    @property
    def by(self) -> str | None:
        """The kpis grouping whose rows are this subject and its peers."""
        return None if self.subject.type == "all" else self.subject.type

    @property
    def key(self) -> str | None:
        """Column of the per-unit tables holding the subject's key."""
        return {"rep": "rep_id", "all": None}.get(self.subject.type, self.subject.type)

    def title(self, heading: str, **extra: Any) -> dict[str, Any]:
        """Keyword arguments for :func:`salesnb.reports.record.title` (with a ``notice`` when the
        period holds no data for the subject: see :func:`period_notice`)."""
        out = {
            "subject_name": self.subject.name,
            "period": self.period,
            "as_of": self.as_of.date(),
            "data_fingerprint": self.wb.fingerprint(),
            "heading": heading,
            "subject_type": self.subject.type,
            **extra,
        }
        notice = period_notice(self)
        if notice and "notice" not in out:
            out["notice"] = notice
        return out


def period_notice(ctx: Context) -> str | None:
    """A sentence for the top of a document whose period holds nothing for its subject.

    Nothing means no deal created or closed in the period, no open deal due in it and no
    target for it: every figure would be a zero that is not a result (an as-of date past the
    export, a period before the data). None when the period holds anything, and for a period
    that starts after the as-of date (a year being planned).

    Examples
    --------
    >>> period_notice(context(wb, "rep", "R01", "FY2031-Q1"))  # doctest: +SKIP
    'No deal of Ava Thompson was created, closed or due in FY2031-Q1 ...'
    """
    if ctx.start > ctx.as_of:  # a period still to come is planned, not reported on
        return None
    o = ctx.wb.opportunities
    mine = o[o["rep_id"].isin(ctx.rep_ids)]
    s, e = ctx.start, ctx.end
    touched = mine["created_date"].between(s, e) | (
        mine["close_date"].between(s, e) & (mine["created_date"] <= ctx.as_of)
    )
    if bool(touched.any()):
        return None
    t = ctx.wb.targets
    if len(t) and bool(
        ((t["month"] >= s) & (t["month"] <= e) & t["rep_id"].isin(ctx.rep_ids)).any()
    ):
        return None
    closed = o.loc[
        o["outcome"].isin(("won", "lost")) & (o["close_date"] <= ctx.as_of), "close_date"
    ]
    span = (
        f" The data's closed deals run from {closed.min():%Y-%m-%d} to {closed.max():%Y-%m-%d}."
        if len(closed)
        else ""
    )
    if ctx.is_rep:
        start = ctx.wb.rep(ctx.subject.key)["start_date"]
        if pd.notna(start) and start > e:
            return (
                f"{ctx.subject.name} joined on {start:%Y-%m-%d}, after {ctx.period}: there is "
                "nothing to show for it. Fix: pick a period after they joined."
            )
    return (
        f"No deal of {ctx.subject.name} was created, closed or due in {ctx.period}, and there "
        f"is no target for it: the figures below are zeros, not results.{span} Fix: pick a "
        "period or an as-of date the data covers."
    )


def _freq(label: str) -> str:
    return "Q" if "-Q" in label else "Y" if label.startswith("FY") else "M"


def context(
    wb: Workbook,
    subject_type: str = "rep",
    subject: str | None = None,
    period: str | None = None,
    as_of: Any = None,
    *,
    forward: bool = False,
) -> Context:
    """Resolve subject, as-of date and period against ``wb``.

    Parameters
    ----------
    subject : str, optional
        None picks the first subject of that type in the data (sorted by key).
    forward : bool
        Default period: False = the fiscal quarter holding as-of (a review of results);
        True = the quarter still in play (on a quarter's last day, the next one), for
        forward-looking documents such as forecasts.

    Examples
    --------
    >>> ctx = context(wb, "rep", "R01")   # doctest: +SKIP
    >>> ctx.period, ctx.next_period      # doctest: +SKIP
    ('FY2026-Q3', 'FY2026-Q4')
    """
    if subject is None or not str(subject).strip():
        # No default names a real rep: a rep's document must not carry another rep's id.
        options = subj.subjects(wb, subject_type)  # type: ignore[arg-type]
        subject = options[0][0] if options else subject
    s = subj.resolve(wb, subject_type, subject)  # type: ignore[arg-type]
    when = subj.resolve_as_of(wb, as_of)
    if (period is None or not str(period).strip()) and forward:
        cal = wb.config.calendar
        period = cal.period_label(when + pd.Timedelta(days=1), "Q")
    label, start, end = subj.resolve_period(wb, period, when)
    cal = wb.config.calendar
    nxt = cal.period_label(end + pd.Timedelta(days=1), _freq(label))
    n_start, n_end = cal.period_bounds(nxt)
    return Context(wb, s, when, label, start, end, str(nxt), n_start, n_end)


def open_context(
    data: str | Path,
    profile: str | None = None,
    subject_type: str = "rep",
    subject: str | None = None,
    period: str | None = None,
    as_of: Any = None,
    *,
    forward: bool = False,
) -> Context:
    """Load the data (see :func:`locate_data`) and resolve the context: a notebook's first call.

    Examples
    --------
    >>> ctx = open_context("data/sample", None, "rep", "R01")   # doctest: +SKIP
    """
    from salesnb.data.io import load

    wb = load(locate_data(data), profile=profile or None)
    return context(wb, subject_type, subject, period, as_of, forward=forward)


def previous_period(ctx: Context) -> str:
    """Label of the period before ``ctx.period`` (same length)."""
    cal = ctx.wb.config.calendar
    return str(cal.period_label(ctx.start - pd.Timedelta(days=1), _freq(ctx.period)))


def subject_name_map(ctx: Context) -> dict[str, str]:
    """rep_id -> display name of the subject's own reps (only those)."""
    reps = ctx.wb.reps[ctx.wb.reps["rep_id"].isin(ctx.rep_ids)]
    return dict(zip(reps["rep_id"], reps["name"], strict=True))


# --------------------------------------------------------------------------- per-unit KPIs
def _slipped(wb: Workbook, as_of: pd.Timestamp, by: str | None) -> pd.DataFrame | None:
    dates = pipe.snapshot_dates(wb)
    dates = [d for d in dates if d <= as_of]
    if len(dates) < 2:
        return None
    before = max(d for d in dates if d <= max(dates[0], as_of - pd.Timedelta(days=28)))
    s = kpis.slipped(wb, before, dates[-1])
    col = "rep_id" if by in (None, "rep") else by
    if col != "rep_id":
        s = s.merge(wb.reps[["rep_id", col]], on="rep_id", how="left")
    if by is None:
        return pd.DataFrame({"slipped_deals": [len(s)], "slipped_amount": [s["amount"].sum()]})
    g = s.groupby(col)["amount"].agg(["size", "sum"])
    return g.rename(columns={"size": "slipped_deals", "sum": "slipped_amount"}).reset_index()


def unit_table(ctx: Context, period: str | None = None) -> pd.DataFrame:
    """One row per unit of the subject's kind (every rep, or every region...) with its KPIs.

    Columns: the key (``rep_id``, ``region``, ``manager``, ``team``; none for ``all``) and
    the :func:`salesnb.analytics.kpis.scorecard` columns for ``period`` (default ``ctx.period``), plus
    ``coverage_next`` and ``pipeline_next`` (the following period), ``open_deals_all`` and
    ``top_deal_share`` (whole open pipeline), ``activities`` and
    ``opportunities_per_activity`` (the period), ``slipped_deals``/``slipped_amount`` (last
    four weeks of snapshots; 0 without snapshots would mislead, so NaN) and ``previous_*``
    of attainment, bookings and win rate. Internal: never display it in a rep's document.
    """
    return _unit_table(ctx.wb, ctx.by, ctx.key, period or ctx.period, ctx.as_of)


@memo.shared
def _unit_table(
    wb: Workbook, by: str | None, key: str | None, label: str, when: pd.Timestamp
) -> pd.DataFrame:
    cal = wb.config.calendar
    start, end = cal.period_bounds(label)
    nxt = cal.period_label(end + pd.Timedelta(days=1), _freq(label))
    prev = cal.period_label(start - pd.Timedelta(days=1), _freq(label))
    keys = [key] if key else []
    sc = kpis.scorecard(wb, by, period=label, as_of=when)
    parts = [
        kpis.coverage(wb, by, period=str(nxt), as_of=when)[keys + ["coverage", "pipeline"]]
        .rename(columns={"coverage": "coverage_next", "pipeline": "pipeline_next"}),
        kpis.concentration(wb, by, as_of=when)[keys + ["open_deals", "top_deal_share"]]
        .rename(columns={"open_deals": "open_deals_all"}),
        kpis.activity_conversion(wb, by, period=label, as_of=when)
        [keys + ["activities", "opportunities_per_activity"]],
    ]  # fmt: skip
    if pd.Timestamp(cal.period_bounds(str(prev))[1]) >= wb.opportunities["created_date"].min():
        p = kpis.scorecard(wb, by, period=str(prev), as_of=when)
        cols = {"attainment": "previous_attainment", "bookings": "previous_bookings",
                "win_rate": "previous_win_rate"}  # fmt: skip
        parts.append(p[keys + list(cols)].rename(columns=cols))
    # The one sales-cycle definition (SALES_CYCLE_WINDOW_DAYS), not the quarter's few wins.
    c_start, c_end = cycle_window(min(when, end))
    cycle = kpis.sales_cycle(wb, by, start=c_start, end=c_end, as_of=when)
    out = sc.drop(columns=["name", "median_cycle_days"], errors="ignore")
    parts.append(cycle[keys + ["median_cycle_days"]])
    for part in parts:
        out = out.merge(part, on=keys, how="left") if keys else pd.concat([out, part], axis=1)
    slip = _slipped(wb, when, by)
    if slip is None:
        out["slipped_deals"], out["slipped_amount"] = np.nan, np.nan
    elif keys:
        out = out.merge(slip, on=keys, how="left")
        out[["slipped_deals", "slipped_amount"]] = out[["slipped_deals", "slipped_amount"]].fillna(
            0
        )
    else:
        out = pd.concat([out, slip], axis=1)
    return out


def cycle_window(end: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day of the sales-cycle window ending on ``end`` (both inclusive).

    Examples
    --------
    >>> [f"{d:%Y-%m-%d}" for d in cycle_window("2026-09-30")]
    ['2026-04-04', '2026-09-30']
    """
    last = pd.Timestamp(end).normalize()
    return last - pd.Timedelta(days=SALES_CYCLE_WINDOW_DAYS - 1), last


def sales_cycle_days(ctx: Context, end: Any = None) -> float:
    """The subject's sales cycle in days: the one definition every document shows.

    Median days from creation to close of the subject's deals won in the
    :data:`SALES_CYCLE_WINDOW_DAYS` days to ``end`` (default: as-of, or the period's end if
    earlier); NaN when none was won.

    Examples
    --------
    >>> sales_cycle_days(context(wb, "rep", "R07", None, "2026-09-30"))  # doctest: +SKIP
    33.0
    """
    end = min(ctx.as_of, ctx.end) if end is None else end
    start, last = cycle_window(end)
    row = own_rows(ctx, "sales_cycle", start=start, end=last, as_of=ctx.as_of)
    return float(row["median_cycle_days"].iloc[0]) if len(row) else float("nan")


@memo.shared
def _team_kpi(wb: Workbook, name: str, by: str | None, kwargs: tuple) -> pd.DataFrame:
    return getattr(kpis, name)(wb, by, **dict(kwargs))


def _kpi_table(wb: Workbook, kpi: str, by: str | None, **kwargs: Any) -> pd.DataFrame:
    """``salesnb.analytics.kpis.<kpi>(wb, by, **kwargs)``, kept per data set (:mod:`salesnb.data.memo`)."""
    return _team_kpi(wb, kpi, by, tuple(sorted(kwargs.items())))


def own_rows(ctx: Context, kpi: str, **kwargs: Any) -> pd.DataFrame:
    """The subject's rows of ``salesnb.analytics.kpis.<kpi>(wb, by, **kwargs)``, without the key column.

    Computed for every unit of the subject's kind at once (kept per data set, see
    :mod:`salesnb.data.memo`): a batch of thirty reps computes the table once, not thirty times.
    A unit's row is its own figures: a rep's target is the rep's target rows, even where the
    data also holds target rows for the rep's region.

    Examples
    --------
    >>> own_rows(ctx, "velocity", start="2025-10-01", end="2026-09-30")  # doctest: +SKIP
    """
    table = _kpi_table(ctx.wb, kpi, ctx.by, **kwargs)
    if ctx.key is None:
        return table.reset_index(drop=True)
    # rows and columns taken in one step (a review asks for seven such tables)
    rows = np.flatnonzero(table[ctx.key].to_numpy(dtype=object) == ctx.subject.key)
    if not len(rows):  # not a unit of the data (cannot happen for a resolved subject)
        mine = getattr(kpis, kpi)(ctx.wb.subset(ctx.rep_ids), None, **kwargs)
        return mine.drop(columns=[ctx.key, "name"], errors="ignore").reset_index(drop=True)
    cols = [i for i, c in enumerate(table.columns) if c not in (ctx.key, "name")]
    mine = table.iloc[rows, cols]
    mine.index = pd.RangeIndex(len(mine))
    return mine


def _own_row(ctx: Context, table: pd.DataFrame) -> pd.Series:
    if ctx.key is None:
        return table.iloc[0]
    hit = table[table[ctx.key] == ctx.subject.key]
    if hit.empty:
        return pd.Series(np.nan, index=table.columns)
    return hit.iloc[0]


#: Fewer peers than this (the subject excluded) and the documents call the group small.
SMALL_GROUP = 5


@dataclass(frozen=True)
class PeerGroup:
    """Who a subject is compared with: the one definition every document's peer figure uses.

    A rep's peers are the other reps of the same team where the data has one, else of the same
    region; a region's, manager's or team's are the other units of that kind. The subject is
    never one of its own peers. ``rep_ids``/``units`` are internal (never displayed).
    """

    kind: str  # "team", "region", "manager"... or "" when there are none
    name: str
    rep_ids: tuple[str, ...]
    units: tuple[str, ...]
    n: int

    @property
    def small(self) -> bool:
        """Fewer than :data:`SMALL_GROUP` others: one peer moves the median."""
        return 0 < self.n < SMALL_GROUP

    @property
    def label(self) -> str:
        """What the peer figure is, e.g. "median of 7 other reps in your region"."""
        if self.n == 0:
            return "no peers to compare with"
        if self.units:
            plural = {"manager": "managers' teams", "all": "teams"}.get(self.kind, f"{self.kind}s")
            return f"median of {self.n} other {plural}"
        return f"median of {self.n} other rep{'' if self.n == 1 else 's'} in your {self.kind}"

    @property
    def noun(self) -> str:
        """The group as a word for sentences ("team median", "top quartile of the region"):
        the rep's "team" or "region", else "peer group"."""
        return self.kind if self.kind and not self.units and self.kind != "all" else "peer group"

    @property
    def note(self) -> str:
        """A plain-words caveat for small groups ('' when there is none)."""
        if self.n == 0:
            return "There is no peer group in the data, so no peer figure is shown."
        if self.units:
            return ""
        if self.n < MIN_PEERS:
            return (
                f"Only {self.n} other rep{'' if self.n == 1 else 's'} in the {self.kind}: "
                "too few to show a median without revealing them, so none is shown."
            )
        if self.small:
            return (
                f"A small group (fewer than {SMALL_GROUP} others): one rep moves the median, "
                "so read peer figures as a rough guide."
            )
        return ""


def peer_group(ctx: Context) -> PeerGroup:
    """The subject's peers (see :class:`PeerGroup`).

    Examples
    --------
    >>> peer_group(context(wb, "rep", "R07")).label  # doctest: +SKIP
    'median of 4 other reps in your team'
    """
    s, reps = ctx.subject, ctx.wb.reps
    if s.type == "all":
        return PeerGroup("all", "", (), (), 0)
    if not s.is_rep:
        units = tuple(sorted(u for u in reps[s.type].dropna().unique() if u != s.key))
        return PeerGroup(s.type, str(s.key), (), units, len(units))
    row = ctx.wb.rep(s.key)
    for kind in ("team", "region"):
        if kind in reps.columns and pd.notna(row.get(kind)):
            ids = reps["rep_id"].to_numpy(dtype=object)
            same = (reps[kind].to_numpy(dtype=object) == row[kind]) & (ids != s.key)
            others = tuple(sorted(ids[same].tolist()))
            return PeerGroup(kind, str(row[kind]), others, (), len(others))
    return PeerGroup("", "", (), (), 0)


def _peer_subject(ctx: Context, table: pd.DataFrame) -> subj.Subject:
    s, group = ctx.subject, peer_group(ctx)
    if ctx.key is None:
        return s
    if s.is_rep:
        return subj.Subject(s.type, s.key, s.name, (s.key,), group.rep_ids)
    present = set(table[ctx.key].dropna())
    return subj.Subject(
        s.type, s.key, s.name, (s.key,), tuple(u for u in group.units if u in present)
    )


def peer_stats(ctx: Context, table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """The subject's value of each metric beside its :func:`peer_group`'s aggregates.

    ``table`` has one row per unit of the subject's kind (key column ``ctx.key``). Returns
    ``metric, value, peer_p25, peer_median, peer_p75, peer_n, percentile`` (0-100, higher =
    better for that metric, see :data:`salesnb.analytics.coaching.METRICS`; ``peer_n`` counts the others).
    With fewer than :data:`MIN_PEERS` peers for a rep (one for other subjects) the peer columns
    are empty: privacy, a median of two is one of them.

    Examples
    --------
    >>> peer_stats(ctx, unit_table(ctx), ["attainment"])  # doctest: +SKIP
    """
    agg = subj.peer_aggregates(table, _peer_subject(ctx, table), metrics, key=ctx.key)
    better = [COACHING_METRICS[m].better if m in COACHING_METRICS else "higher"
              for m in (_COLUMN_METRIC.get(c, c) for c in agg["metric"])]  # fmt: skip
    lower = pd.Series(better, index=agg.index).eq("lower")
    agg["percentile"] = agg["percentile"].where(~lower, 100.0 - agg["percentile"])
    few = agg["peer_n"] < (MIN_PEERS if ctx.is_rep else 1)
    agg.loc[few, ["peer_p25", "peer_median", "peer_p75", "percentile"]] = np.nan
    return agg


def elapsed_share(ctx: Context) -> float:
    """Share (0-1) of the period's days gone by at as-of: the pace attainment is judged by."""
    days = (ctx.end - ctx.start).days + 1
    gone = (min(ctx.as_of, ctx.end) - ctx.start).days + 1
    return float(np.clip(gone / days, 0.0, 1.0))


def peer_comparison(ctx: Context, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The subject's scorecard beside anonymised peer aggregates, one row per metric.

    Returns ``metric`` (coaching name), ``label``, ``unit``, ``better``, ``value``,
    ``previous``, ``target``, ``peer_p25``, ``peer_median``, ``peer_p75``, ``peer_n`` and
    ``percentile`` (0-100, higher = better for that metric). Peers are the subject's
    :func:`peer_group` (the rep's team, else region; the subject excluded), aggregated by
    :func:`peer_stats`: with fewer than :data:`MIN_PEERS` peers every peer column is empty.

    Examples
    --------
    >>> peer_comparison(ctx)[["metric", "value", "peer_median", "percentile"]]  # doctest: +SKIP
    """
    table = unit_table(ctx) if table is None else table
    cols = list(SCORECARD_METRICS.values())
    if ctx.key is None:
        own = table.iloc[0]
        agg = pd.DataFrame({"metric": cols, "value": [float(own[c]) for c in cols]})
        for c in ("peer_p25", "peer_median", "peer_p75", "percentile"):
            agg[c] = np.nan
        agg["peer_n"] = 0
    else:
        agg = peer_stats(ctx, table, cols)
    agg["metric"] = list(SCORECARD_METRICS)
    info = [COACHING_METRICS[m] for m in agg["metric"]]
    agg["label"] = [i.label for i in info]
    agg["unit"] = [i.unit for i in info]
    agg["better"] = [i.better for i in info]
    own = _own_row(ctx, table)
    prev = {"attainment": "previous_attainment", "bookings": "previous_bookings",
            "win_rate": "previous_win_rate"}  # fmt: skip
    agg["previous"] = [float(own.get(prev[m], np.nan)) if m in prev else np.nan
                       for m in agg["metric"]]  # fmt: skip
    agg["target"] = np.nan
    agg.loc[agg["metric"] == "attainment", "target"] = elapsed_share(ctx)
    cols_out = ["metric", "label", "unit", "better", "value", "previous", "target", "peer_p25",
                "peer_median", "peer_p75", "peer_n", "percentile"]  # fmt: skip
    if ctx.wb.counts_only:  # no amounts: deal size and value rates would be made up
        agg = agg[~agg["metric"].isin(VALUE_ONLY_METRICS)]
    return agg[cols_out].reset_index(drop=True)


#: Figures that only exist with money amounts; an export of counts leaves them out.
VALUE_ONLY_METRICS = ("avg_deal_size", "win_rate_value", "velocity")


def peer_chart_frame(comparison: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """Rows of :func:`peer_comparison` in the shape of :func:`salesnb.reports.charts.scorecard_vs_peers`.

    Only metrics with a value are kept; ``metrics`` picks and orders them.
    """
    df = comparison
    if metrics is not None:
        df = df.set_index("metric").reindex(metrics).reset_index()
    df = df[df["value"].notna()]
    unit = df["unit"].replace({"growth": "percent", "currency_per_day": "currency"})
    return pd.DataFrame({
        "metric": df["label"], "value": df["value"], "p25": df["peer_p25"],
        "median": df["peer_median"], "p75": df["peer_p75"],
        "n_peers": df["peer_n"].clip(lower=0).astype(int), "unit": unit,
        "higher_is_better": df["better"].eq("higher"), "percentile": df["percentile"],
    }).reset_index(drop=True)  # fmt: skip


# --------------------------------------------------------------------------- funnel
def lookback(ctx: Context, days: int = LOOKBACK_DAYS) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day of the trailing window behind conversion figures."""
    return ctx.as_of - pd.Timedelta(days=days - 1), ctx.as_of


def stage_table(ctx: Context, days: int = LOOKBACK_DAYS) -> pd.DataFrame:
    """Stage conversion of the subject's deals created in the trailing window, vs the team.

    Returns one row per open stage: ``stage``, ``next_stage``, ``reached``, ``advanced``
    (deal counts), ``conversion``, ``team_conversion`` (everyone in the data, fractions),
    ``relative`` (conversion / team) and ``bottleneck`` (bool: the kpis bottleneck, the
    lowest relative conversion among stages reached by 5+ deals).

    Examples
    --------
    >>> stage_table(ctx)[["stage", "conversion", "bottleneck"]]  # doctest: +SKIP
    """
    start, end = lookback(ctx, days)
    own = own_rows(ctx, "stage_conversion", start=start, end=end, as_of=ctx.as_of)
    team = _kpi_table(ctx.wb, "stage_conversion", None, start=start, end=end, as_of=ctx.as_of)
    team = team[["stage", "conversion"]]
    df = own.merge(team.rename(columns={"conversion": "team_conversion"}), on="stage", how="left")
    df["relative"] = df["conversion"] / df["team_conversion"].where(df["team_conversion"] > 0)
    ok = (df["reached"] >= 5) & df["relative"].notna()
    df["bottleneck"] = False
    if ok.any():
        best = df[ok].sort_values(["relative", "conversion"], kind="stable").index[0]
        df.loc[best, "bottleneck"] = True
    return df.reset_index(drop=True)


def funnel_frame(stages: pd.DataFrame, won_name: str = "Closed Won") -> pd.DataFrame:
    """:func:`stage_table` as :func:`salesnb.reports.charts.funnel` wants it (won deals as last row)."""
    last = pd.DataFrame({"stage": [won_name], "count": [int(stages["advanced"].iloc[-1])]
                         if len(stages) else [0]})  # fmt: skip
    body = stages.rename(columns={"reached": "count"})[
        ["stage", "count", "conversion", "team_conversion"]
    ]
    return pd.concat([body, last], ignore_index=True)


# --------------------------------------------------------------------------- pipeline
def coverage_table(ctx: Context) -> pd.DataFrame:
    """Pipeline, weighted pipeline and coverage of the subject for this and the next period.

    Returns one row per period: ``period``, ``target``, ``bookings``, ``remaining_target``,
    ``pipeline``, ``weighted_pipeline`` (currency), ``coverage`` (multiple; NaN when the
    target is met or missing), ``open_deals``.
    """
    rows = []
    for label in (ctx.period, ctx.next_period):
        cov = own_rows(ctx, "coverage", period=label, as_of=ctx.as_of).iloc[0]
        p = own_rows(ctx, "pipeline", period=label, as_of=ctx.as_of).iloc[0]
        rows.append({
            "period": label, "target": cov["target"], "bookings": cov["bookings"],
            "remaining_target": cov["remaining_target"], "pipeline": p["pipeline"],
            "weighted_pipeline": p["weighted_pipeline"], "coverage": cov["coverage"],
            "open_deals": int(p["open_deals"]),
        })  # fmt: skip
    return pd.DataFrame(rows)


def velocity(ctx: Context) -> pd.Series:
    """Sales velocity of the subject over the trailing window (see :func:`salesnb.analytics.kpis.velocity`)."""
    start, end = lookback(ctx)
    v = own_rows(ctx, "velocity", start=start, end=end, as_of=ctx.as_of).iloc[0]
    open_now = own_rows(ctx, "pipeline", as_of=ctx.as_of).iloc[0]["open_deals"]
    cycle = sales_cycle_days(ctx)  # the one definition, not the trailing year's
    value = open_now * v["win_rate"] * v["avg_deal_size"]
    vel = value / cycle if cycle and np.isfinite(cycle) and cycle > 0 else np.nan
    return pd.Series({"open_deals": int(open_now), "win_rate": v["win_rate"],
                      "avg_deal_size": v["avg_deal_size"], "median_cycle_days": cycle,
                      "velocity": vel})  # fmt: skip


def open_deals(ctx: Context) -> pd.DataFrame:
    """The subject's open deals at as-of with hygiene flags (:func:`salesnb.analytics.kpis.hygiene`)."""
    h = _team_hygiene(ctx.wb, ctx.as_of)
    return h[h["rep_id"].isin(ctx.rep_ids)].reset_index(drop=True)


@memo.shared
def _team_hygiene(wb: Workbook, as_of: Any) -> pd.DataFrame:
    return kpis.hygiene(wb, as_of=as_of)


def aging_frame(deals: pd.DataFrame) -> pd.DataFrame:
    """:func:`open_deals` in the shape of :func:`salesnb.reports.charts.pipeline_aging`."""
    label = deals["account"].fillna("(no account)") + " · " + deals["opp_id"]
    return pd.DataFrame({
        "age_days": deals["age_days"], "amount": deals["amount"], "is_stale": deals["stale"],
        "is_past_due": deals["past_due"], "stage": deals["stage"], "label": label,
    })  # fmt: skip


def typical_cycle_days(ctx: Context) -> float:
    """Median days from creation to close of the team's deals won in the trailing window."""
    start, end = lookback(ctx)
    cycle = _kpi_table(ctx.wb, "sales_cycle", None, start=start, end=end, as_of=ctx.as_of)
    return float(cycle.iloc[0]["median_cycle_days"])


def attention(ctx: Context) -> pd.DataFrame:
    """The subject's open deals that need attention, with the reasons (biggest first).

    The same rows as ``pipe.deals_needing_attention(ctx.wb, ctx.rep_ids, ctx.as_of)``: every
    rule looks at one deal at a time (the "large deal" threshold at all open deals), so the
    team's list, computed once per data set, filtered to the subject's reps is the answer.
    """
    team = _team_attention(ctx.wb, ctx.as_of)
    return team[team["rep_id"].isin(ctx.rep_ids)].reset_index(drop=True)


@memo.shared
def _team_attention(wb: Workbook, as_of: Any) -> pd.DataFrame:
    return pipe.deals_needing_attention(wb, None, as_of)


@dataclass(frozen=True)
class WaterfallView:
    """A pipeline waterfall ready to chart: ``bars`` (``step, amount, count``) and ``deals``.

    ``waterfall`` is None when the data cannot show the change (``note`` says why).
    """

    waterfall: pipe.Waterfall | None
    bars: pd.DataFrame
    deals: pd.DataFrame
    note: str


_STEP_LABELS = {
    "start": "Start", "new": "New", "pulled_in": "Pulled in", "pushed_out": "Pushed out",
    "won": "Won", "lost": "Lost", "removed": "Removed", "value_up": "Value up",
    "value_down": "Value down", "end": "End",
}  # fmt: skip


def waterfall_view(
    ctx: Context, since: Any = None, *, weeks: int = 4, period: str | None = None
) -> WaterfallView:
    """How the subject's open pipeline moved from ``since`` (default ``weeks`` before as-of).

    Uses the snapshots nearest on or before each date; with ``period`` only deals due in it
    count, so deals can be pushed out of it or pulled into it. Without snapshots, or with
    ``since`` before the first one, returns an empty view whose ``note`` explains.
    """
    start = (
        pd.Timestamp(since) if since not in (None, "") else ctx.as_of - pd.Timedelta(weeks=weeks)
    )
    empty = pd.DataFrame({"step": pd.Series(dtype="str"), "amount": pd.Series(dtype=float),
                          "count": pd.Series(dtype=float)})  # fmt: skip
    try:
        w = pipe.waterfall(ctx.wb, start, ctx.as_of, rep_ids=ctx.rep_ids, period=period)
    except NotEnoughDataError as exc:
        return WaterfallView(None, empty, pd.DataFrame(), str(exc))
    bars = w.bars.assign(step=w.bars["category"].map(_STEP_LABELS))
    bars = bars[(bars["deals"] > 0) | bars["category"].isin(["start", "end"])]
    bars = pd.DataFrame({"step": bars["step"], "amount": bars["signed"], "count": bars["deals"]})
    deals = w.deals.assign(step=w.deals["category"].map(_STEP_LABELS))
    note = " ".join(w.notes)
    if w.start_date != start.normalize():
        note = (note + f" The nearest snapshot on or before {start:%Y-%m-%d} is "
                f"{w.start_date:%Y-%m-%d}.").strip()  # fmt: skip
    return WaterfallView(w, bars.reset_index(drop=True), deals, note)


def wins(ctx: Context, since: Any = None) -> pd.DataFrame:
    """The subject's deals won from ``since`` (default: the period start) to as-of, biggest first."""
    start = pd.Timestamp(since) if since not in (None, "") else ctx.start
    o = ctx.wb.opportunities
    hit = o[o["rep_id"].isin(ctx.rep_ids) & (o["outcome"] == "won")
            & o["close_date"].between(start, ctx.as_of)]  # fmt: skip
    cols = ["opp_id", "rep_id", "account", "product", "amount", "created_date", "close_date"]
    out = hit[[c for c in cols if c in hit]].copy()
    out["cycle_days"] = (out["close_date"] - out["created_date"]).dt.days
    return out.sort_values(["amount", "opp_id"], ascending=[False, True]).reset_index(drop=True)


def biggest_open_deal(deals: pd.DataFrame) -> DealRef | None:
    """The subject's largest open deal as a coaching DealRef (name: account and id)."""
    if deals.empty:
        return None
    d = deals.sort_values(["amount", "opp_id"], ascending=[False, True]).iloc[0]
    name = f"{d['account']} ({d['opp_id']})" if pd.notna(d["account"]) else str(d["opp_id"])
    close = d["close_date"].date() if pd.notna(d["close_date"]) else None
    return DealRef(name, float(d["amount"]), str(d["stage"]), close)


# --------------------------------------------------------------------------- coaching facts
def facts_for(ctx: Context, comparison: pd.DataFrame | None = None) -> RepFacts:
    """The :class:`~salesnb.analytics.coaching.RepFacts` of the subject (aggregates only for peers)."""
    comp = peer_comparison(ctx) if comparison is None else comparison
    frame = comp.rename(columns={"peer_median": "median", "peer_p25": "q1", "peer_p75": "q3"})
    frame = frame[["metric", "value", "median", "q1", "q3", "previous", "percentile", "target"]]
    facts = RepFacts.from_frame(frame, subject=ctx.subject.name, peers=peer_group(ctx).noun)
    stages = stage_table(ctx)
    conv = {r.stage: (r.conversion, r.team_conversion, r.reached)
            for r in stages.itertuples() if pd.notna(r.conversion)}  # fmt: skip
    metrics = dict(facts.metrics)
    # How much of the period is left decides what can still be done in it (no "pull deals
    # in" on its last day).
    end = ctx.wb.config.calendar.period_bounds(ctx.period)[1]
    metrics["days_left"] = {"value": float(max((end.normalize() - ctx.as_of.normalize()).days, 0))}
    # Without amounts no deal is "the biggest": no deal review picked by size.
    deal = None if ctx.wb.counts_only else biggest_open_deal(open_deals(ctx))
    return RepFacts(metrics, conv, deal, ctx.subject.name, facts.peers)


def rep_facts(wb: Workbook, subject: Any, period: str | None = None, as_of: Any = None) -> RepFacts:
    """RepFacts of one rep (``subject``: a rep_id, an exact name or a resolved Subject).

    Examples
    --------
    >>> f = rep_facts(wb, "R01")          # doctest: +SKIP
    >>> f.metric("win_rate").median       # doctest: +SKIP
    """
    if isinstance(subject, subj.Subject):
        subject_type, key = subject.type, subject.key
    else:
        subject_type, key = "rep", subject
    return facts_for(context(wb, subject_type, key, period, as_of))


# --------------------------------------------------------------------------- group tables
def rep_breakdown(ctx: Context, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-rep KPIs of a region, manager or team subject (names allowed: managers' documents).

    Raises :class:`ParameterError` for a rep subject: a rep's document never lists peers.
    """
    if ctx.is_rep:
        raise ParameterError("A rep's document cannot list other reps. Fix: use a region "
                             "or manager subject for a per-rep breakdown.")  # fmt: skip
    rep_ctx = Context(ctx.wb, subj.resolve(ctx.wb, "rep", ctx.rep_ids[0]), ctx.as_of, ctx.period,
                      ctx.start, ctx.end, ctx.next_period, ctx.next_start, ctx.next_end)  # fmt: skip
    t = unit_table(rep_ctx) if table is None else table
    t = t[t["rep_id"].isin(ctx.rep_ids)]
    names = subject_name_map(ctx)
    cols = ["rep_id", "target", "bookings", "attainment", "win_rate", "pipeline", "coverage",
            "coverage_next", "stale_deals", "past_due_deals"]  # fmt: skip
    out = t[cols].copy()
    out.insert(1, "name", out["rep_id"].map(names))
    return out.sort_values("attainment", ascending=False, na_position="last").reset_index(drop=True)


# --------------------------------------------------------------------------- privacy
#: Fewer months of closed deals than this and documents say so: seasonal forecast models and
#: year-on-year comparisons need two full years.
MIN_HISTORY_MONTHS = 24


def coverage_notes(ctx: Context) -> list[str]:
    """What the data cannot tell about this subject: it has no deals, or the history is short.

    A rep with no opportunity at all still gets a document (zeros and n/a), and this note
    says why; closed deals spanning fewer than :data:`MIN_HISTORY_MONTHS` months (an export
    of ten months, say) limit every trend and forecast, whoever the subject is.

    Examples
    --------
    >>> coverage_notes(open_context("data/sample", None, "rep", "R27"))  # doctest: +SKIP
    []
    """
    o = ctx.wb.opportunities
    notes = []
    if not o["rep_id"].isin(ctx.rep_ids).any():
        name = ctx.subject.name
        notes.append(
            f"{name} has no deals in the data (no open, won or lost opportunity), so the "
            f"figures here are zero or n/a. Fix: nothing to do if {name} is new or has left; "
            "otherwise check that their deals carry their rep id or name."
        )
    closed = o.loc[o["outcome"].isin(("won", "lost")), "close_date"].dropna()
    closed = closed[closed <= ctx.as_of]
    if len(closed):
        first, last = closed.min().to_period("M"), closed.max().to_period("M")
        months = (last - first).n + 1
        if months < MIN_HISTORY_MONTHS:
            notes.append(
                f"Closed deals span only {months} months ({first} to {last}): too short for "
                "seasonal forecast models and year-on-year comparisons; read trends and the "
                "history forecast with care. Fix: export at least "
                f"{MIN_HISTORY_MONTHS} months of closed deals."
            )
    # What looks implausible about the data as a whole (team-level; no rep's figures).
    notes.extend(plausibility.flagged(ctx.wb))
    return notes


def data_notes(ctx: Context) -> list[str]:
    """The data's warnings as text, after :func:`coverage_notes`, as this subject may see them.

    A document about some reps (a rep, a manager's or a region's reps) shows the warnings
    about its own reps' records and those about no records in particular (a file, a
    column), with other reps' names, ids, accounts and deals redacted (:func:`redact`);
    warnings only about other reps' records are summed up in one closing sentence. A
    document about the whole team shows every warning as it is.
    """
    notes = coverage_notes(ctx)
    problems = list(ctx.wb.warnings)
    if ctx.subject.type == "all":
        return notes + [str(w) for w in problems]
    own = set(ctx.rep_ids)
    shown = [w for w in problems if not w.reps or own & set(w.reps)]
    texts = notes + [str(w) for w in shown]
    terms = private_terms(ctx) if texts else None
    out = [redact(n, terms) for n in texts] if terms is not None else []
    others = len(problems) - len(shown)
    if others:
        noun = "data problem concerns" if others == 1 else "data problems concern"
        out.append(
            f"{others} other {noun} only other reps' records and "
            + (
                "is not shown in this copy (the analyst sees it"
                if others == 1
                else "are not shown in this copy (the analyst sees them"
            )
            + " with salesnb validate)."
        )
    return out


def forbidden_terms(ctx: Context) -> list[str]:
    """Names and ids of every other rep and accounts the subject does not own (privacy scan).

    Also every other form in which a warning quotes one of them (a value as the export
    wrote it before a profile corrected it). Longest first.
    """
    own, ids, names = _private_values(ctx)
    terms = set(ids["rep"]) | set(names["rep"]) | set(names["account"])
    terms |= _aliases(ctx.wb.warnings, terms, own)
    return sorted((t for t in terms if str(t).strip()), key=len, reverse=True)


def _private_values(ctx: Context) -> tuple[set[str], dict[str, list[str]], dict[str, list[str]]]:
    """(own ids, names, accounts and deals; other ids by kind; other names by kind)."""
    wb, mine = ctx.wb, ctx.rep_ids
    reps, o = wb.reps, wb.opportunities
    is_mine, own_deal = reps["rep_id"].isin(mine), o["rep_id"].isin(mine)
    own_accounts = set(o.loc[own_deal, "account"].dropna().tolist())
    own = (
        set(reps.loc[is_mine, "rep_id"].tolist())
        | set(reps.loc[is_mine, "name"].dropna().tolist())
        | own_accounts
    )
    own_deals = set(o.loc[own_deal, "opp_id"].dropna().tolist())
    ids = {
        "rep": reps.loc[~is_mine, "rep_id"].dropna().tolist(),
        "deal": o.loc[~own_deal, "opp_id"].dropna().tolist(),
    }
    accounts = set(o.loc[~own_deal, "account"].dropna().tolist()) - own_accounts
    names = {"rep": reps.loc[~is_mine, "name"].dropna().tolist(), "account": sorted(accounts)}
    return own | own_deals, ids, names


def _aliases(warnings: list[Any], terms: set[str], own: set[str]) -> set[str]:
    """Values quoted beside a forbidden term in a warning's ``values`` (e.g. the raw form)."""
    out: set[str] = set()
    if not any(getattr(w, "values", ()) for w in warnings):
        return out
    folded = {_fold(t) for t in terms}
    mine = {_fold(t) for t in own}
    for w in warnings:
        vals = [str(v) for v in getattr(w, "values", ()) or ()]
        keys = [_fold(v) for v in vals]
        if any(k in folded for k in keys) and not any(k in mine for k in keys):
            out |= set(vals)
    return out


# --------------------------------------------------------------------------- redaction
#: What a redacted value becomes in a document.
MASK = "[another rep]"
_TOKEN = re.compile(r"\w+")
#: A value quoted as Python's repr quotes it; an apostrophe inside a word opens nothing.
_QUOTED = re.compile(r"""(?<![\w'"])(?:'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")(?![\w'"])""")
#: Words after which an id stands unquoted as an identifier ("rep 12", "owner: May").
_ID_CONTEXT = frozenset(
    {"rep", "rep_id", "owner", "owner_id", "seller", "agent", "salesperson", "deal", "deal_id",
     "opportunity", "opp", "opp_id"}
)  # fmt: skip
_CONTEXT_GAP = re.compile(r"\s*[:=#]?\s*")
#: Quoted values at least this similar to another rep's name or account are redacted too
#: (a near-duplicate spelling), unless they are closer to one of the subject's own.
NEAR_DUPLICATE = 0.88


def _fold(text: Any) -> tuple[str, ...]:
    """The word tokens of ``text``, case-folded and without accents: what matching compares.

    Examples
    --------
    >>> _fold("Zoë O'BRIEN  Corp.")
    ('zoe', 'o', 'brien', 'corp')
    """
    return _fold_text(str(text))


@lru_cache(maxsize=1 << 17)
def _fold_text(s: str) -> tuple[str, ...]:
    if s.isascii():
        return tuple(_TOKEN.findall(s.lower()))
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c))
    return tuple(t.casefold() for t in _TOKEN.findall(s))


def _words(text: Any) -> tuple[str, ...]:
    """The word tokens of ``text`` as written (Unicode NFC)."""
    return tuple(_TOKEN.findall(unicodedata.normalize("NFC", str(text))))


def _id_like(key: tuple[str, ...]) -> bool:
    """Tokens that could be ordinary words or numbers: one number, short code or word with
    digits (``12``, ``A``, ``R1``), or several numbers and short codes (``{{7*7}}``,
    ``A-1``). Such a name is matched as an id is."""
    if len(key) == 1:
        return len(key[0]) <= 2 or any(c.isdigit() for c in key[0])
    return all(len(t) <= 2 or t.isdigit() for t in key)


@dataclass(frozen=True)
class PrivateTerms:
    """What :func:`redact` hides, folded (see :func:`_fold`) and sorted by how it matches.

    ``ids`` (rep ids, deal ids, and names that look like codes or numbers) are redacted
    where they stand as identifiers: quoted, or right after a word such as ``rep`` or
    ``owner`` and in the case written (``rep May``, not ``rep may``); never inside line
    numbers, counts, dates or figures. ``names`` (rep names, accounts) are redacted
    quoted, within a quoted value, as a near-duplicate quoted value, and unquoted as a
    sequence of words (a single word only when capitalised). ``own`` (the subject's own
    ids, names, accounts and deals) is never redacted.
    """

    ids: frozenset[tuple[str, ...]]
    names: frozenset[tuple[str, ...]]
    own: frozenset[tuple[str, ...]]
    #: The ids' tokens as written (case kept): an unquoted id matches only in its own case.
    written: frozenset[tuple[str, ...]] = frozenset()

    @classmethod
    def build(cls, ids: Any = (), names: Any = (), own: Any = ()) -> PrivateTerms:
        """Terms from values as the data holds them (any case, spacing or accents)."""
        mine = {k for k in map(_fold, own) if k}
        id_keys = {k for k in map(_fold, ids) if k} - mine
        name_keys = {k for k in map(_fold, names) if k} - mine
        id_keys |= {k for k in name_keys if _id_like(k)}
        written = {_words(v) for v in (*ids, *names) if _fold(v) in id_keys}
        return cls(
            frozenset(id_keys), frozenset(name_keys - id_keys), frozenset(mine), frozenset(written)
        )

    @cached_property
    def sizes(self) -> list[int]:
        """Token counts of the terms, longest first."""
        return sorted({len(k) for k in self.ids | self.names | self.own}, reverse=True)

    @cached_property
    def near(self) -> dict[str, bool]:
        """Names (True) and own values (False) of 5+ characters, for near-duplicates (ids
        and codes are not compared so)."""
        pool = {" ".join(k): False for k in self.own if not _id_like(k) and len(" ".join(k)) >= 5}
        pool.update({" ".join(k): True for k in self.names if len(" ".join(k)) >= 5})
        return pool


def private_terms(ctx: Context) -> PrivateTerms:
    """Every other rep's id, name, accounts (those the subject does not own) and deal ids,
    with the other forms in which warnings quote them, for :func:`redact`."""
    own, ids, names = _private_values(ctx)
    alias = _aliases(ctx.wb.warnings, {*ids["rep"], *ids["deal"], *names["rep"],
                                       *names["account"]}, own)  # fmt: skip
    alias_ids = {a for a in alias if any(_fold(a) == _fold(i) for i in ids["rep"] + ids["deal"])}
    return PrivateTerms.build(
        ids=[*ids["rep"], *ids["deal"], *alias_ids],
        names=[*names["rep"], *names["account"], *(alias - alias_ids)],
        own=own,
    )


def redact(text: str, terms: PrivateTerms | list[str], mask: str = MASK) -> str:
    """``text`` with every identifier of another rep replaced by ``mask``.

    ``terms`` is a :class:`PrivateTerms` or a plain list of values (single tokens that
    look like codes or numbers are then taken as ids, the rest as names). Matching is by
    word tokens, case-insensitive and accent-insensitive: a quoted value (``'R12'``,
    ``"O'Brien"``) is replaced with its quotes when it is, contains (several words) or
    nearly is another rep's value; unquoted, an id only right after ``rep``, ``owner``,
    ``deal``... (in the case written), and a name as its sequence of words. A run of
    masks in a list becomes one count (``[3 other reps]``). Numbers, dates and ordinary
    words stay as they are; so do the subject's own values.

    Examples
    --------
    >>> t = PrivateTerms.build(ids=["12"], names=["Bob Baker"], own=["7"])
    >>> redact("Unknown rep '12' on lines 12, 13 (trailing 12-month average); bob  baker.", t)
    'Unknown rep [another rep] on lines 12, 13 (trailing 12-month average); [another rep].'
    """
    if not isinstance(terms, PrivateTerms):
        terms = PrivateTerms.build(names=list(terms))
    if not (terms.ids or terms.names) or not text:
        return text
    text = unicodedata.normalize("NFC", text)
    hits: list[tuple[int, int]] = []
    regions, pos = [], 0
    for m in _QUOTED.finditer(text):
        regions.append((pos, m.start()))
        pos = m.end()
        if _quoted_is_private(m.group(), terms):
            hits.append(m.span())
    regions.append((pos, len(text)))
    for a, b in regions:
        hits += _unquoted_hits(text, a, b, terms)
    for a, b in sorted(hits, reverse=True):
        text = text[:a] + mask + text[b:]
    if mask == MASK:
        run = re.compile(rf"{re.escape(mask)}(?:, {re.escape(mask)})+")
        text = run.sub(lambda m: f"[{m.group().count(mask)} other reps]", text)
        # a list that held only other reps' values: "[[2 other reps]]" -> "[2 other reps]"
        text = re.sub(r"\[(\[(?:another rep|\d+ other reps)\])\]", r"\1", text)
    return text


def _quoted_is_private(quoted: str, terms: PrivateTerms) -> bool:
    """Whether a quoted value is, contains or nearly is another rep's value."""
    try:
        with warnings.catch_warnings():  # "invalid escape sequence" must not reach a document
            warnings.simplefilter("ignore")
            value = ast.literal_eval(quoted)
    except (ValueError, SyntaxError):
        value = quoted[1:-1]
    key = _fold(value)
    if not key or key in terms.own:
        return False
    if key in terms.ids or key in terms.names:
        return True
    if any(
        key[i : i + n] in terms.names
        for n in terms.sizes
        if 1 < n <= len(key)
        for i in range(len(key) - n + 1)
    ):
        return True
    flat = " ".join(key)
    if len(flat) < 5 or _id_like(key):
        return False
    near = difflib.get_close_matches(flat, list(terms.near), n=1, cutoff=NEAR_DUPLICATE)
    return bool(near) and terms.near[near[0]]


def _unquoted_hits(text: str, a: int, b: int, terms: PrivateTerms) -> list[tuple[int, int]]:
    """Spans of other reps' names (and ids in an identifier's place) in ``text[a:b]``."""
    toks = [(m.start() + a, m.end() + a, m.group()) for m in _TOKEN.finditer(text[a:b])]
    folded = ["".join(_fold(t)) or t.casefold() for _, _, t in toks]
    hits, i = [], 0
    while i < len(toks):
        step = 1
        for n in terms.sizes:
            key = tuple(folded[i : i + n])
            if len(key) < n:
                continue
            if key in terms.own:  # the subject's own value: kept whole
                step = n
                break
            private = (key in terms.names and (n > 1 or any(c.isupper() for c in toks[i][2]))) or (
                key in terms.ids
                and tuple(t for _, _, t in toks[i : i + n]) in terms.written
                and _in_id_context(text, toks, folded, i)
            )
            if private:
                hits.append((toks[i][0], toks[i + n - 1][1]))
                step = n
                break
        i += step
    return hits


def _in_id_context(text: str, toks: list, folded: list[str], i: int) -> bool:
    """Whether token ``i`` follows an identifier word ("rep 12", "owner: 12", "rep id 12")."""
    j = i - 1
    if j >= 0 and folded[j] == "id" and j >= 1 and folded[j - 1] in _ID_CONTEXT:
        return bool(_CONTEXT_GAP.fullmatch(text[toks[j][1] : toks[i][0]]))
    return (
        j >= 0
        and folded[j] in _ID_CONTEXT
        and bool(_CONTEXT_GAP.fullmatch(text[toks[j][1] : toks[i][0]]))
    )


# --------------------------------------------------------------------------- PIP measures
#: Trailing window (days) behind each improvement-plan metric, so a baseline and every weekly
#: checkpoint are measured the same way; 0 = a count at the date.
PIP_WINDOWS: dict[str, int] = {
    "win_rate": 90, "avg_deal_size": 90, "sales_cycle_days": SALES_CYCLE_WINDOW_DAYS,
    "activities": 28,
    "activity_to_opp": 90, "coverage_next": 0, "stale_deals": 0, "past_due_deals": 0,
    "stage_conversion": 180,
}  # fmt: skip


def pip_measures(wb: Workbook, by: str | None, at: Any) -> pd.DataFrame:
    """Each unit's improvement-plan metrics at date ``at`` over :data:`PIP_WINDOWS`.

    Returns one row per unit of ``by`` (key column as in :mod:`salesnb.analytics.kpis`) with
    ``win_rate``, ``avg_deal_size``, ``sales_cycle_days``, ``activities`` (last 28 days),
    ``activity_to_opp``, ``coverage_next`` (the quarter after the one holding ``at``),
    ``stale_deals`` and ``past_due_deals`` (open deals at ``at``).
    """
    at = pd.Timestamp(at).normalize()

    def since(days: int) -> dict[str, Any]:
        return {"start": at - pd.Timedelta(days=days - 1), "end": at, "as_of": at}

    keys = [] if by is None else [kpis._BY[by]]
    w = PIP_WINDOWS
    cal = wb.config.calendar
    q = cal.period_label(at, "Q")
    nxt = cal.period_label(cal.period_bounds(q)[1] + pd.Timedelta(days=1), "Q")
    parts = [
        kpis.win_rate(wb, by, **since(w["win_rate"]))[keys + ["win_rate"]],
        kpis.avg_deal_size(wb, by, **since(w["avg_deal_size"]))[keys + ["avg_deal_size"]],
        kpis.sales_cycle(wb, by, **since(w["sales_cycle_days"]))[keys + ["median_cycle_days"]]
        .rename(columns={"median_cycle_days": "sales_cycle_days"}),
        kpis.activity_counts(wb, by, **since(w["activities"]))[keys + ["activities"]],
        kpis.activity_conversion(wb, by, **since(w["activity_to_opp"]))
        [keys + ["opportunities_per_activity"]]
        .rename(columns={"opportunities_per_activity": "activity_to_opp"}),
        kpis.coverage(wb, by, period=str(nxt), as_of=at)[keys + ["coverage"]]
        .rename(columns={"coverage": "coverage_next"}),
        kpis.hygiene_summary(wb, by, as_of=at)[keys + ["stale_deals", "past_due_deals"]],
    ]  # fmt: skip
    out = parts[0]
    for part in parts[1:]:
        out = out.merge(part, on=keys, how="left") if keys else pd.concat([out, part], axis=1)
    return out


def pip_stage_conversion(wb: Workbook, rep_ids: list[str] | None, at: Any) -> pd.Series:
    """Stage conversion (0-1, by stage) of some reps' deals created in the 180 days to ``at``."""
    at = pd.Timestamp(at).normalize()
    w = wb if rep_ids is None else wb.subset(rep_ids)
    start = at - pd.Timedelta(days=PIP_WINDOWS["stage_conversion"] - 1)
    conv = kpis.stage_conversion(w, None, start=start, end=at, as_of=at)
    return conv.set_index("stage")["conversion"]


def pip_facts(ctx: Context, at: Any) -> RepFacts:
    """RepFacts for an improvement plan starting at ``at``: trailing-window metrics vs peers.

    Attainment and bookings are those of the six complete months before ``at`` (the
    sustained outcome the plan is about); the other metrics follow :data:`PIP_WINDOWS`. Peers as in
    :func:`peer_comparison` (aggregates only).
    """
    at = pd.Timestamp(at).normalize()
    table = pip_measures(ctx.wb, ctx.by, at)
    # Six complete months: a month ending on ``at`` is complete (September at 30 September).
    month_end = at.to_period("M").end_time.normalize()
    last = at if at == month_end else at.to_period("M").start_time - pd.Timedelta(days=1)
    first = (last - pd.DateOffset(months=6) + pd.Timedelta(days=1)).normalize()
    att = kpis.quota_attainment(ctx.wb, ctx.by, start=first, end=last, as_of=at)
    keys = [ctx.key] if ctx.key else []
    table = (table.merge(att[keys + ["attainment", "bookings"]], on=keys, how="left") if keys
             else pd.concat([table, att[["attainment", "bookings"]]], axis=1))  # fmt: skip
    metrics = [c for c in table.columns if c not in keys]
    if ctx.key is None:
        agg = pd.DataFrame({"metric": metrics, "value": [table.iloc[0][m] for m in metrics]})
    else:
        agg = peer_stats(ctx, table, metrics)
    facts = RepFacts.from_frame(agg, subject=ctx.subject.name)
    own, team = (
        pip_stage_conversion(ctx.wb, ctx.rep_ids, at),
        pip_stage_conversion(ctx.wb, None, at),
    )
    reached = kpis.stage_conversion(
        ctx.wb.subset(ctx.rep_ids), None, as_of=at,
        start=at - pd.Timedelta(days=PIP_WINDOWS["stage_conversion"] - 1), end=at,
    ).set_index("stage")["reached"]  # fmt: skip
    stages = {s: (own[s], team.get(s), reached.get(s)) for s in own.index if pd.notna(own[s])}
    return RepFacts(facts.metrics, stages, None, ctx.subject.name, peer_group(ctx).noun)


def quarterly_attainment(ctx: Context, at: Any, n: int) -> dict[str, float | None]:
    """The subject's attainment in each of the last ``n`` complete fiscal quarters by ``at``.

    A quarter ending on ``at`` counts as complete. Returns quarter label (oldest first) to
    attainment (1.0 = 100%), None where the quarter had no target.

    Examples
    --------
    >>> quarterly_attainment(ctx, "2026-09-30", 3)  # doctest: +SKIP
    {'FY2026-Q1': 1.5, 'FY2026-Q2': 2.1, 'FY2026-Q3': 0.68}
    """
    at = pd.Timestamp(at).normalize()
    cal = ctx.wb.config.calendar
    label = cal.period_label(at, "Q")
    start, end = cal.period_bounds(label)
    labels: list[str] = [label] if at >= end.normalize() else []
    while len(labels) < n:
        start, _ = cal.period_bounds(cal.period_label(start - pd.Timedelta(days=1), "Q"))
        labels.insert(0, cal.period_label(start, "Q"))
    out: dict[str, float | None] = {}
    for q in labels:
        t = own_rows(ctx, "quota_attainment", period=q, as_of=at)
        v = float(t["attainment"].iloc[0]) if len(t) else float("nan")
        out[q] = v if np.isfinite(v) else None
    return out


def pip_actuals(ctx: Context, metrics: list[str], dates: list[pd.Timestamp]) -> pd.DataFrame:
    """The subject's value of each plan metric at each date, measured like the baseline.

    Returns ``date``, ``metric`` (``stage_conversion:<stage>`` for stages) and ``value``.
    """
    wb = ctx.wb.subset(ctx.rep_ids)
    rows = []
    for d in dates:
        m = pip_measures(wb, None, d).iloc[0]
        conv = pip_stage_conversion(wb, None, d)
        for name in metrics:
            base, _, stage = name.partition(":")
            value = conv.get(stage, np.nan) if base == "stage_conversion" else m.get(base, np.nan)
            rows.append({"date": d, "metric": name, "value": float(value)})
    return pd.DataFrame(rows, columns=["date", "metric", "value"])

"""Per-unit KPIs and the subject against anonymised peers: :func:`unit_table`,
:func:`own_rows`, :func:`peer_group`, :func:`peer_comparison` and the scorecard's chart frame.

Privacy: peers appear only as aggregates (median, quartiles, the subject's percentile), and
not at all when fewer than :data:`MIN_PEERS` peers remain.

Public through :mod:`salesnb.reports.facts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesnb.analytics import kpis
from salesnb.analytics import pipeline as pipe
from salesnb.analytics.coaching import METRICS as COACHING_METRICS
from salesnb.data import memo
from salesnb.data.model import Workbook
from salesnb.reports import subject as subj
from salesnb.reports.factcontext import (
    _COLUMN_METRIC,
    MIN_PEERS,
    SALES_CYCLE_WINDOW_DAYS,
    SCORECARD_METRICS,
    Context,
    _freq,
)


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

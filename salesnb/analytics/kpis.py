"""Sales KPIs: vectorised functions over a :class:`~salesnb.data.model.Workbook`.

Every grouped KPI shares one signature and one result shape::

    kpis.win_rate(wb, by="rep", freq="Q", start=None, end=None, period=None, as_of=None)

``by`` is ``"rep"`` (column ``rep_id``), ``"region"``, ``"manager"``, ``"team"``, a list of these, or
``None`` for the whole team; the keys are joined from the reps table. ``freq`` (``"M"``, ``"Q"``,
``"Y"``) adds a ``period`` column of fiscal period labels (``"2026-09"``, ``"FY2026-Q3"``,
``"FY2026"``). The result has the group keys (and ``period``) as columns, one row for every group and
every period of the window even when it has no data: sums are 0 there and undefined ratios NaN.

Dates: ``period="FY2026-Q3"`` (or ``start``/``end``, inclusive) restricts the window. ``as_of``
(default ``wb.as_of``) is the day the report is run: nothing after it is seen. Deals created after it
are ignored; deals closed after it count as still open (their stage, amount and close date come from
the latest snapshot on or before ``as_of``, else from the deal's furthest stage).

Definitions are the same words here and in ``docs/kpis.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd

from salesnb.core.errors import ParameterError
from salesnb.data.model import Workbook
from salesnb.data.schema import ACTIVITY_TYPES

Freq = Literal["M", "Q", "Y"]
By = str | Sequence[str] | None
DateLike = str | pd.Timestamp | None

_BY = {
    "rep": "rep_id",
    "rep_id": "rep_id",
    "region": "region",
    "manager": "manager",
    "team": "team",
}
_NAT = np.iinfo(np.int64).min

__all__ = [
    "activity_conversion", "activity_counts", "avg_deal_size", "bookings", "bottleneck",
    "concentration", "coverage", "growth", "hygiene", "hygiene_summary", "kpi_table",
    "new_vs_existing", "percentile_rank", "pipeline", "quota_attainment", "sales_cycle",
    "scorecard", "slipped", "stage_conversion", "velocity", "weighted_pipeline", "win_rate",
]  # fmt: skip


# --------------------------------------------------------------------------- call resolution
def _ts(value: DateLike, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    from salesnb.core.dates import to_day  # a UTC offset or a time of day is dropped, as everywhere

    ts = to_day(value)
    if pd.isna(ts):
        msg = f"{name}={value!r} is not a date. Fix: pass an ISO date such as '2026-09-30'."
        raise ParameterError(msg)
    return ts


def _by_columns(by: By) -> list[str]:
    items = [] if by is None else [by] if isinstance(by, str) else list(by)
    cols = []
    for item in items:
        if item not in _BY:
            msg = (
                f"by={item!r} is not a grouping. Fix: use 'rep', 'region', 'manager', 'team', "
                "a list of these, or None for the whole team."
            )
            raise ParameterError(msg)
        if _BY[item] not in cols:
            cols.append(_BY[item])
    return cols


def _check_freq(freq: str | None) -> None:
    if freq not in (None, "M", "Q", "Y"):
        msg = f"freq={freq!r} is not a period. Fix: use 'M', 'Q', 'Y' or None."
        raise ParameterError(msg)


@dataclass
class _Call:
    wb: Workbook
    cols: list[str]
    freq: Freq | None
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    as_of: pd.Timestamp
    gap: tuple[pd.Timestamp, pd.Timestamp] | None = None  # excluded days inside [start, end]
    _opps: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def opps(self) -> pd.DataFrame:
        if self._opps is None:
            self._opps = _as_of_view(self.wb, self.as_of)
        return self._opps

    def in_window(self, dates: pd.Series | np.ndarray) -> np.ndarray:
        """True where a date falls in [start, end] (NaT is outside a bounded window)."""
        d = np.asarray(dates, dtype="datetime64[ns]")
        ok = np.ones(len(d), dtype=bool)
        if self.start is not None:
            ok &= d >= np.datetime64(self.start, "ns")
        if self.end is not None:
            ok &= d <= np.datetime64(self.end, "ns")
        if self.gap is not None:
            ok &= (d < np.datetime64(self.gap[0], "ns")) | (d > np.datetime64(self.gap[1], "ns"))
        return ok


def _call(wb, by, freq, start, end, period, as_of) -> _Call:
    if not isinstance(wb, Workbook):
        msg = f"Expected a salesnb Workbook, got {type(wb).__name__}. Fix: wb = salesnb.load(path)."
        raise ParameterError(msg)
    _check_freq(freq)
    if period is not None:
        if start is not None or end is not None:
            msg = (
                f"period={period!r} was given with start/end. Fix: pass either period or start/end."
            )
            raise ParameterError(msg)
        start, end = wb.config.calendar.period_bounds(str(period))
    start, end = _ts(start, "start"), _ts(end, "end")
    if start is not None and end is not None and start > end:
        msg = f"start {start.date()} is after end {end.date()}. Fix: swap them."
        raise ParameterError(msg)
    as_of = _ts(as_of, "as_of") if as_of is not None else pd.Timestamp(wb.as_of).normalize()
    return _Call(wb, _by_columns(by), freq, start, end, as_of)


def _as_of_view(wb: Workbook, as_of: pd.Timestamp) -> pd.DataFrame:
    """The opportunities as they stood at the end of ``as_of``."""
    o = wb.opportunities
    created = o["created_date"]
    keep = ~(created > as_of).to_numpy()
    late = ((o["outcome"] != "open") & (o["close_date"] > as_of)).to_numpy()
    if keep.all() and not late.any():
        return o
    o, late = o[keep], late[keep]
    if not late.any():
        return o
    # Closed after as_of: the deal was open then. Its stage then is only known from snapshots;
    # otherwise we take the furthest open stage it reached (for won deals, the last open stage).
    o = o.copy()
    cat = wb.config.stages
    kind = cat.kind_of()
    furthest = o["furthest_stage"].where(o["furthest_stage"].map(kind).eq("open"))
    fallback = np.where(o["outcome"].eq("won"), cat.open_names[-1], cat.open_names[0])
    stage = furthest.fillna(pd.Series(fallback, index=o.index))
    o.loc[late, "stage"] = stage[late]
    o.loc[late, "outcome"] = "open"
    snaps = wb.snapshots
    if len(snaps):
        ids = o.loc[late, "opp_id"]
        s = snaps[(snaps["as_of"] <= as_of) & snaps["opp_id"].isin(ids)]
        if len(s):
            s = s.sort_values("as_of").drop_duplicates("opp_id", keep="last").set_index("opp_id")
            hit = late & o["opp_id"].isin(s.index).to_numpy()
            ids = o.loc[hit, "opp_id"]
            for col in ("stage", "amount", "close_date"):
                o.loc[hit, col] = s.loc[ids, col].to_numpy()
    return o


def deals_as_of(wb: Workbook, as_of: DateLike = None) -> pd.DataFrame:
    """The opportunities as they stood at the end of ``as_of`` (default ``wb.as_of``): the view
    every KPI reads (see the module docstring); shared with :mod:`salesnb.analytics.dimensions`.
    """
    when = _ts(as_of, "as_of") if as_of is not None else pd.Timestamp(wb.as_of).normalize()
    return _as_of_view(wb, when)


# --------------------------------------------------------------------------- group x period cube
def _month(dates: pd.Series | np.ndarray) -> np.ndarray:
    """Months since 1970-01 as int64 (NaT -> int64 min)."""
    d = np.asarray(dates, dtype="datetime64[ns]")
    return d.astype("datetime64[M]").astype(np.int64)


class _Cube:
    """Cells of (group x period); rows of any table are registered, then aggregated by cell."""

    def __init__(self, call: _Call):
        self.call = call
        reps = call.wb.reps
        self._reps = reps.drop_duplicates("rep_id")
        self._rep_index = pd.Index(self._reps["rep_id"])
        self._extra: list = []
        self._rows: list[_Rows] = []
        self.final = False
        self._opp_rep: np.ndarray | None = None

    def rep_positions(self, rep_ids: pd.Series, mask: np.ndarray | None = None) -> np.ndarray:
        if mask is not None:  # only rows in use may add reps unknown to the reps table
            out = np.zeros(len(rep_ids), dtype=np.int64)
            out[mask] = self.rep_positions(rep_ids[mask])
            return out
        codes, uniq = pd.factorize(rep_ids, use_na_sentinel=False)
        pos = self._rep_index.get_indexer(uniq)
        for i in np.flatnonzero(pos < 0):  # reps absent from the reps table keep their own group
            if uniq[i] not in self._extra:
                self._extra.append(uniq[i])
            pos[i] = len(self._rep_index) + self._extra.index(uniq[i])
        return pos[codes] if len(codes) else np.zeros(0, dtype=np.int64)

    def opp_reps(self) -> np.ndarray:
        """Rep positions of the as-of opportunities (computed once per cube)."""
        if self._opp_rep is None:
            self._opp_rep = self.rep_positions(self.call.opps["rep_id"])
        return self._opp_rep

    def add(self, rep_pos: np.ndarray, dates, mask: np.ndarray) -> _Rows:
        """Register rows (``mask`` selects them); ``dates`` place them in a period."""
        mask = np.asarray(mask, dtype=bool)
        months = None
        if self.call.freq is not None:
            months = _month(dates)
            mask = mask & (months != _NAT)
        rows = _Rows(rep_pos, months, mask)
        self._rows.append(rows)
        return rows

    def finalize(self) -> None:
        call = self.call
        reps = self._reps
        if self._extra:
            extra = pd.DataFrame({"rep_id": pd.Series(self._extra, dtype="str")})
            reps = pd.concat([reps, extra], ignore_index=True)
        if "team" in reps and "region" in reps:
            reps = reps.assign(team=reps["team"].fillna(reps["region"]))
        if call.cols:
            for c in call.cols:
                if c not in reps:
                    reps = reps.assign(**{c: pd.Series(pd.NA, index=reps.index, dtype="str")})
            gcode = reps.groupby(call.cols, dropna=False, sort=True).ngroup().to_numpy()
            first = pd.Series(np.arange(len(reps))).groupby(gcode).first().to_numpy()
            self.keys = reps[call.cols].iloc[first].reset_index(drop=True)
        else:
            gcode = np.zeros(len(reps), dtype=np.int64)
            self.keys = pd.DataFrame(index=range(1))
        self.rep_group = gcode
        self.G = len(self.keys)
        self.labels: list[str] = []
        if call.freq is None:
            self.P = 1
            month_code = None
        else:
            lo = _month([call.start])[0] if call.start is not None else None
            hi = _month([call.end])[0] if call.end is not None else None
            seen = [r.months[r.mask] for r in self._rows if r.mask.any()]
            if seen and lo is None:
                lo = min(int(m.min()) for m in seen)
            if seen and hi is None:
                hi = max(int(m.max()) for m in seen)
            if lo is None or hi is None or hi < lo:
                lo, hi = 0, -1
            months = np.arange(lo, hi + 1).astype("datetime64[M]").astype("datetime64[ns]")
            labels = call.wb.config.calendar.period_of(pd.Series(months), call.freq)
            codes, uniq = pd.factorize(labels.to_numpy(dtype=object))
            self.labels = list(uniq)
            self.P = len(self.labels)
            month_code, self._lo = codes, lo
        for r in self._rows:
            g = self.rep_group[r.rep_pos[r.mask]] if len(gcode) else np.zeros(0, np.int64)
            if month_code is None:
                r.cells = g
            else:
                m = r.months[r.mask] - self._lo
                inside = (m >= 0) & (m < len(month_code))
                r.mask[r.mask] = inside
                r.cells = g[inside] * self.P + month_code[m[inside]]
        self.final = True

    @property
    def n(self) -> int:
        return self.G * self.P

    def frame(self, values: dict[str, np.ndarray]) -> pd.DataFrame:
        out = self.keys.take(np.repeat(np.arange(self.G), self.P)).reset_index(drop=True)
        if self.call.freq is not None:
            out["period"] = pd.Series(
                np.tile(np.array(self.labels, dtype=object), self.G), dtype="str"
            )
        for k, v in values.items():
            out[k] = v
        return out


@dataclass
class _Rows:
    rep_pos: np.ndarray
    months: np.ndarray | None
    mask: np.ndarray
    cells: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def sum(self, n: int, values: np.ndarray | None = None) -> np.ndarray:
        w = None if values is None else np.asarray(values, dtype=float)[self.mask]
        return np.bincount(self.cells, weights=w, minlength=n).astype(float)

    def count(self, n: int) -> np.ndarray:
        return np.bincount(self.cells, minlength=n).astype(np.int64)

    def median(self, n: int, values: np.ndarray) -> np.ndarray:
        out = np.full(n, np.nan)
        if len(self.cells):
            med = (
                pd.Series(np.asarray(values, dtype=float)[self.mask])
                .groupby(self.cells, sort=False)
                .median()
            )
            out[med.index.to_numpy()] = med.to_numpy()
        return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _days(later, earlier) -> np.ndarray:
    a = np.asarray(later, dtype="datetime64[ns]")
    b = np.asarray(earlier, dtype="datetime64[ns]")
    return (a - b) / np.timedelta64(1, "D")


def _outcomes(o: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    codes, uniq = pd.factorize(o["outcome"])
    u = np.asarray(uniq, dtype=object)
    won, lost = np.flatnonzero(u == "won"), np.flatnonzero(u == "lost")
    is_won = np.isin(codes, won)
    is_lost = np.isin(codes, lost)
    return is_won, is_lost, ~(is_won | is_lost)


def _probabilities(call: _Call, o: pd.DataFrame, probabilities) -> np.ndarray:
    by_stage = dict(call.wb.config.stages.probability_of())
    if isinstance(probabilities, pd.Series) and probabilities.index.name == "opp_id":
        per_deal = o["opp_id"].map(probabilities).to_numpy(dtype=float)
        probabilities = None
    else:
        per_deal = None
    if probabilities is not None:
        if not isinstance(probabilities, Mapping | pd.Series):
            msg = (
                f"probabilities must map stage names (or opp_id) to 0-1, got "
                f"{type(probabilities).__name__}. Fix: pass a dict such as {{'Demo': 0.3}}."
            )
            raise ParameterError(msg)
        by_stage.update({str(k): float(v) for k, v in dict(probabilities).items()})
    codes, uniq = pd.factorize(o["stage"])
    p = np.array([by_stage.get(s, np.nan) for s in uniq] + [np.nan], dtype=float)[codes]
    if per_deal is not None:
        p = np.where(np.isnan(per_deal), p, per_deal)
    bad = (p < 0) | (p > 1)
    if bad.any():
        msg = f"Probabilities must be within 0-1; got {p[bad][0]!r}. Fix: pass shares, not percent."
        raise ParameterError(msg)
    return np.nan_to_num(p, nan=0.0)


# --------------------------------------------------------------------------- closed deals
def _closed(call: _Call, cube: _Cube) -> dict[str, np.ndarray]:
    o = call.opps
    rep = cube.opp_reps()
    is_won, is_lost, _ = _outcomes(o)
    window = call.in_window(o["close_date"])
    won = cube.add(rep, o["close_date"], is_won & window)
    lost = cube.add(rep, o["close_date"], is_lost & window)
    cube.finalize()
    n, amount = cube.n, o["amount"].to_numpy(dtype=float)
    cycle = _days(o["close_date"], o["created_date"])
    stats = {
        "won_deals": won.count(n),
        "lost_deals": lost.count(n),
        "bookings": won.sum(n, amount),
        "lost_amount": lost.sum(n, amount),
    }
    stats["win_rate"] = _ratio(stats["won_deals"], stats["won_deals"] + stats["lost_deals"])
    stats["win_rate_value"] = _ratio(stats["bookings"], stats["bookings"] + stats["lost_amount"])
    stats["avg_deal_size"] = _ratio(stats["bookings"], stats["won_deals"])
    stats["median_cycle_days"] = won.median(n, cycle)
    return stats


def _closed_frame(wb, by, freq, start, end, period, as_of, cols: list[str]) -> pd.DataFrame:
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    stats = _closed(call, cube)
    return cube.frame({c: stats[c] for c in cols})


def bookings(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Bookings: the closed-won amount (currency) and number of won deals.

    Definition: bookings = sum of the amounts of deals won with a close date in the period.

    Returns columns ``bookings`` (currency) and ``won_deals``; 0 where nothing was won.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.bookings(kpis._example(), by="region")
      region  bookings  won_deals
    0   East    1000.0          2
    1   West       0.0          0
    """
    return _closed_frame(wb, by, freq, start, end, period, as_of, ["bookings", "won_deals"])


def win_rate(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Win rate by count and by value over deals closed in the period.

    Definition: win rate = won / (won + lost) over deals closed in the period, by count
    (``win_rate``) and by amount (``win_rate_value``); NaN when no deal closed.

    Returns ``won_deals``, ``lost_deals``, ``bookings``, ``lost_amount`` (currency), ``win_rate``
    and ``win_rate_value`` (shares 0-1).

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.win_rate(kpis._example(), by=None)[["won_deals", "lost_deals", "win_rate"]]
       won_deals  lost_deals  win_rate
    0          2           2       0.5
    """
    cols = ["won_deals", "lost_deals", "bookings", "lost_amount", "win_rate", "win_rate_value"]
    return _closed_frame(wb, by, freq, start, end, period, as_of, cols)


def avg_deal_size(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Average deal size (currency).

    Definition: average deal size = mean amount of the deals won in the period; NaN when none.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.avg_deal_size(kpis._example(), by=None)
       won_deals  avg_deal_size
    0          2          500.0
    """
    return _closed_frame(wb, by, freq, start, end, period, as_of, ["won_deals", "avg_deal_size"])


def sales_cycle(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Sales cycle in days.

    Definition: sales cycle = median number of days from creation to close over the deals won in
    the period; NaN when none.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.sales_cycle(kpis._example(), by=None)
       won_deals  median_cycle_days
    0          2               47.5
    """
    return _closed_frame(
        wb, by, freq, start, end, period, as_of, ["won_deals", "median_cycle_days"]
    )


# --------------------------------------------------------------------------- targets
def _targets(call: _Call, cube: _Cube) -> _Rows:
    """Register target rows; call before ``cube.finalize``. Values are in ``rows.amount``."""
    t = call.wb.targets
    month_start = pd.to_datetime(t["month"]).dt.to_period("M").dt.start_time
    month_end = month_start + pd.offsets.MonthEnd(0)
    ok = np.ones(len(t), dtype=bool)
    if call.start is not None:
        ok &= (month_end >= call.start).to_numpy()
    if call.end is not None:
        ok &= (month_start <= call.end).to_numpy()
    is_rep = np.array(t["rep_id"].notna(), dtype=bool)
    is_region = ~is_rep & np.array(t["region"].notna(), dtype=bool)
    reps = cube._reps.set_index("rep_id")
    rep_ids = t["rep_id"].copy()
    if call.cols in ([], ["region"]) and is_region.any():
        # Region rows replace the sum of the reps' rows for that region and month.
        rep_region = t["rep_id"].map(reps["region"])
        covered = pd.MultiIndex.from_arrays([t["region"][is_region], month_start[is_region]])
        mine = pd.MultiIndex.from_arrays([rep_region, month_start])
        is_rep &= ~mine.isin(covered)
        # A region row is booked to the region's first rep: every rep of a region shares its key.
        first_rep = cube._reps.drop_duplicates("region").set_index("region")["rep_id"]
        rep_ids = rep_ids.where(~pd.Series(is_region, index=t.index), t["region"].map(first_rep))
        is_region &= rep_ids.notna().to_numpy()
    else:
        is_region[:] = False
    use = ok & (is_rep | is_region)
    rows = cube.add(cube.rep_positions(rep_ids, use), month_start, use)
    rows.amount = t["amount"].to_numpy(dtype=float)
    return rows


def _target_values(rows: _Rows, n: int) -> np.ndarray:
    total = rows.sum(n, rows.amount)
    return np.where(rows.count(n) > 0, total, np.nan)


def quota_attainment(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Quota attainment: bookings against target.

    Definition: quota attainment = closed-won amount in the period / target for the period. A
    rep's target is the sum of its monthly target rows; a region's, manager's, team's or the whole
    team's is the sum of its reps' targets, except that region target rows (no rep) replace the
    reps' rows of that region and month when grouping by region or by nothing. Target months
    count when they overlap the window. NaN when there is no target (or it is 0).

    Returns ``target``, ``bookings`` (currency) and ``attainment`` (a share: 1.0 = 100 %).

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.quota_attainment(kpis._example(), by="rep", period="FY2026-Q1")
      rep_id  target  bookings  attainment
    0     r1   800.0    1000.0        1.25
    1     r2     NaN       0.0         NaN
    """
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    trows = _targets(call, cube)
    stats = _closed(call, cube)
    target = _target_values(trows, cube.n)
    return cube.frame(
        {"target": target, "bookings": stats["bookings"],
         "attainment": _ratio(stats["bookings"], target)}
    )  # fmt: skip


# --------------------------------------------------------------------------- open pipeline
def _open(call: _Call, cube: _Cube, probabilities=None, finalize: bool = True) -> dict:
    o = call.opps
    rep = cube.opp_reps()
    _, _, is_open = _outcomes(o)
    rows = cube.add(rep, o["close_date"], is_open & call.in_window(o["close_date"]))
    amount = o["amount"].to_numpy(dtype=float)
    prob = _probabilities(call, o, probabilities)
    if finalize:
        cube.finalize()
    return {"rows": rows, "amount": amount, "weighted": amount * prob}


def pipeline(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
    probabilities: Mapping[str, float] | pd.Series | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Open pipeline and weighted pipeline (currency), by expected close date.

    Definition: pipeline = sum of the amounts of deals open at as-of with an expected close date in
    the period. Weighted pipeline = sum of amount x win probability of the deal's stage, from the
    stage catalogue unless ``probabilities`` are passed.

    Parameters
    ----------
    probabilities : mapping or Series, optional
        Learned win probabilities (0-1) by stage name, overriding the catalogue for those stages;
        or a Series whose index is named ``opp_id`` giving each deal its own probability.

    Returns ``open_deals``, ``pipeline`` and ``weighted_pipeline``. With ``freq`` or a window,
    open deals without a close date are left out.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.pipeline(kpis._example(), by=None)
       open_deals  pipeline  weighted_pipeline
    0           2    1500.0              650.0
    """
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    p = _open(call, cube, probabilities)
    rows, n = p["rows"], cube.n
    return cube.frame(
        {"open_deals": rows.count(n), "pipeline": rows.sum(n, p["amount"]),
         "weighted_pipeline": rows.sum(n, p["weighted"])}
    )  # fmt: skip


def weighted_pipeline(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
    probabilities: Mapping[str, float] | pd.Series | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Weighted pipeline only (currency); see :func:`pipeline` for the definition.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.weighted_pipeline(kpis._example(), by=None, probabilities={"Proposal": 0.4})
       open_deals  weighted_pipeline
    0           2              550.0
    """
    df = pipeline(
        wb, by, freq, start=start, end=end, period=period, as_of=as_of, probabilities=probabilities
    )
    return df.drop(columns="pipeline")


def coverage(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Pipeline coverage of the target still to close.

    Definition: pipeline coverage = open pipeline due in the period / (target for the period -
    bookings already won in the period). When the target is already met nothing remains to cover:
    coverage is NaN and ``target_met`` is True. NaN as well when there is no target.

    Returns ``pipeline``, ``target``, ``bookings``, ``remaining_target`` (currency, >= 0),
    ``coverage`` (a multiple: 3.0 = 3x) and ``target_met``.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.coverage(kpis._example(), by="rep", period="FY2026-Q2")
      rep_id  pipeline  target  bookings  remaining_target  coverage  target_met
    0     r1    1000.0  1000.0       0.0            1000.0       1.0       False
    1     r2       0.0     NaN       0.0               NaN       NaN       False
    >>> kpis.coverage(kpis._example(), by="rep", period="FY2026-Q1").loc[0, "target_met"]
    np.True_
    """
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    trows = _targets(call, cube)
    p = _open(call, cube, finalize=False)
    stats = _closed(call, cube)
    n = cube.n
    target = _target_values(trows, n)
    pipe = p["rows"].sum(n, p["amount"])
    remaining = target - stats["bookings"]
    met = remaining <= 0
    return cube.frame(
        {"pipeline": pipe, "target": target, "bookings": stats["bookings"],
         "remaining_target": np.where(met, 0.0, remaining),
         "coverage": np.where(met, np.nan, _ratio(pipe, remaining)), "target_met": met}
    )  # fmt: skip


def velocity(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Sales velocity (currency per day).

    Definition: sales velocity = open deals x win rate x average deal size / sales cycle in days,
    with open deals due in the period and the win rate, deal size and cycle of the deals closed in
    it (whole history up to as-of without a window); NaN when any part is undefined or the cycle
    is 0 days.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.velocity(kpis._example(), by=None)[["open_deals", "velocity"]]
       open_deals   velocity
    0           2  10.526316
    """
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    p = _open(call, cube, finalize=False)
    stats = _closed(call, cube)
    opened = p["rows"].count(cube.n)
    cycle = stats["median_cycle_days"]
    value = opened * stats["win_rate"] * stats["avg_deal_size"]
    return cube.frame(
        {"open_deals": opened, "win_rate": stats["win_rate"],
         "avg_deal_size": stats["avg_deal_size"], "median_cycle_days": cycle,
         "velocity": _ratio(value, np.where(np.isnan(value), np.nan, cycle))}
    )  # fmt: skip


def concentration(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """How much of the open pipeline rides on the biggest deals.

    Definition: concentration = share of the open pipeline (due in the period) in the largest deal
    (``top_deal_share``) and in the three largest (``top3_share``); NaN when the pipeline is 0.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.concentration(kpis._example(), by=None)
       open_deals  pipeline  largest_deal  top_deal_share  top3_share
    0           2    1500.0        1000.0        0.666667         1.0
    """
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    p = _open(call, cube)
    rows, n = p["rows"], cube.n
    cells, amount = rows.cells, p["amount"][rows.mask]
    order = np.lexsort((-amount, cells))
    cells, amount = cells[order], amount[order]
    first = np.searchsorted(cells, cells, side="left")
    rank = np.arange(len(cells)) - first
    total = np.bincount(cells, amount, minlength=n)
    largest = np.bincount(cells[rank == 0], amount[rank == 0], minlength=n)
    top3 = np.bincount(cells[rank < 3], amount[rank < 3], minlength=n)
    count = np.bincount(cells, minlength=n)
    return cube.frame(
        {"open_deals": count, "pipeline": total,
         "largest_deal": np.where(count > 0, largest, np.nan),
         "top_deal_share": _ratio(largest, total), "top3_share": _ratio(top3, total)}
    )  # fmt: skip


# --------------------------------------------------------------------------- the wide table
def kpi_table(
    wb: Workbook, by: By = "rep", freq: Freq | None = "M", *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
    probabilities: Mapping[str, float] | pd.Series | None = None,
) -> pd.DataFrame:  # fmt: skip
    """The headline deal KPIs by group and period in one pass over the opportunities.

    Closed KPIs (``won_deals``, ``lost_deals``, ``bookings``, ``lost_amount``, ``win_rate``,
    ``win_rate_value``, ``avg_deal_size``, ``median_cycle_days``) are bucketed by close date; the
    open pipeline (``open_deals``, ``pipeline``, ``weighted_pipeline``) by expected close date;
    ``created_deals`` by creation date. Each column follows the definition of its own function.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.kpi_table(kpis._example(), by=None, freq="Y")[["period", "bookings", "pipeline"]]
       period  bookings  pipeline
    0  FY2025       0.0       0.0
    1  FY2026    1000.0    1500.0
    """
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    o = call.opps
    p = _open(call, cube, probabilities, finalize=False)
    created = cube.add(p["rows"].rep_pos, o["created_date"], call.in_window(o["created_date"]))
    stats = _closed(call, cube)
    rows, n = p["rows"], cube.n
    stats["open_deals"] = rows.count(n)
    stats["pipeline"] = rows.sum(n, p["amount"])
    stats["weighted_pipeline"] = rows.sum(n, p["weighted"])
    stats["created_deals"] = created.count(n)
    return cube.frame(stats)


# --------------------------------------------------------------------------- funnel
def _reach(call: _Call, o: pd.DataFrame) -> np.ndarray:
    """Index of the furthest stage each deal reached (open stages 0..k-1, won = k)."""
    cat = call.wb.config.stages
    order = {s: i for i, s in enumerate(cat.open_names)}
    k = len(cat.open_names)

    def pos(col: str) -> np.ndarray:
        codes, uniq = pd.factorize(o[col])
        return np.array([order.get(s, -1) for s in uniq] + [-1], dtype=np.int64)[codes]

    is_won, is_lost, is_open = _outcomes(o)
    furthest = pos("furthest_stage") if "furthest_stage" in o else np.full(len(o), -1)
    reach = np.where(is_open, np.maximum(pos("stage"), furthest), np.maximum(furthest, 0))
    reach = np.where(is_won, k, np.maximum(reach, 0))
    # A lost deal that does not say how far it got: -1 (not known), not "lost at the first".
    return np.where(is_lost & (furthest < 0), -1, reach)


#: Largest share of a group's deals that may be lost deals of unknown reach (no furthest stage,
#: no snapshot) for its stage conversions to be computed from the others; above it they are
#: not known (NaN).
UNKNOWN_REACH_TOLERANCE = 0.05


def stage_conversion(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
    include_open: bool = True,
) -> pd.DataFrame:  # fmt: skip
    """Stage-to-stage conversion of the deals created in the period (a long table).

    Definition: stage conversion = share of the deals that reached stage k which went on to reach
    stage k+1 (the last open stage converts to won). Won deals reached every stage, open deals the
    stages up to their current one, lost deals those up to their furthest stage.

    Returns one row per group, period and open stage: ``stage``, ``next_stage``, ``reached``,
    ``advanced`` (deal counts), ``unknown_reach`` (lost deals of the group that do not say how
    far they got: left out of the counts) and ``conversion`` (0-1; NaN when no deal reached the
    stage, or when more than :data:`UNKNOWN_REACH_TOLERANCE` of the group's deals are of unknown
    reach: the conversions are then not known). ``include_open=False`` counts closed deals only
    (open deals may still advance).

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.stage_conversion(kpis._example(), by=None).head(2)[["stage", "reached", "conversion"]]
           stage  reached  conversion
    0    Prospecting        6    0.833333
    1  Qualification        5    1.000000
    """
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    o = call.opps
    _, _, is_open = _outcomes(o)
    mask = call.in_window(o["created_date"]) & (include_open | ~is_open)
    rows = cube.add(cube.opp_reps(), o["created_date"], mask)
    cube.finalize()
    stages = [*call.wb.config.stages.open_names, call.wb.config.stages.won_name]
    k = len(stages) - 1
    reach = _reach(call, o)[rows.mask]
    unknown = reach < 0
    cells = rows.cells[~unknown]
    hist = np.bincount(cells * (k + 1) + reach[~unknown], minlength=cube.n * (k + 1))
    reached = hist.reshape(cube.n, k + 1)[:, ::-1].cumsum(axis=1)[:, ::-1]
    n_unknown = np.bincount(rows.cells[unknown], minlength=cube.n)
    too_many = n_unknown > UNKNOWN_REACH_TOLERANCE * (reached[:, 0] + n_unknown)
    base = cube.frame({})
    out = base.take(np.repeat(np.arange(len(base)), k)).reset_index(drop=True)
    out["stage"] = pd.Series(np.tile(stages[:-1], cube.n), dtype="str")
    out["next_stage"] = pd.Series(np.tile(stages[1:], cube.n), dtype="str")
    out["reached"] = reached[:, :-1].ravel()
    out["advanced"] = reached[:, 1:].ravel()
    out["unknown_reach"] = np.repeat(n_unknown, k)
    conv = _ratio(out["advanced"], out["reached"])
    out["conversion"] = np.where(np.repeat(too_many, k), np.nan, conv)
    return out


def bottleneck(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
    min_deals: int = 5,
) -> pd.DataFrame:  # fmt: skip
    """The stage where each group loses most deals compared with the whole team.

    Definition: bottleneck = the stage whose conversion is lowest relative to the whole team's
    conversion at that stage (``relative`` = conversion / team conversion; ties go to the lower
    conversion, then the earlier stage), among stages reached by at least ``min_deals`` deals.

    Returns ``stage``, ``next_stage``, ``reached``, ``conversion``, ``team_conversion`` and
    ``relative``; NaN when no stage qualifies.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.bottleneck(kpis._example(), by=None, min_deals=1)[["stage", "conversion"]]
          stage  conversion
    0  Proposal         0.5
    """
    conv = stage_conversion(wb, by, freq, start=start, end=end, period=period, as_of=as_of)
    team = stage_conversion(wb, None, freq, start=start, end=end, period=period, as_of=as_of)
    keys = _by_columns(by) + (["period"] if freq else [])
    on = ["stage"] + (["period"] if freq else [])
    team = team[on + ["conversion"]].rename(columns={"conversion": "team_conversion"})
    df = conv.merge(team, on=on, how="left")
    df["relative"] = _ratio(df["conversion"], df["team_conversion"])
    df["_order"] = df.groupby(keys, sort=False).cumcount() if keys else np.arange(len(df))
    eligible = (df["reached"] >= min_deals) & df["relative"].notna()
    best = df[eligible].sort_values([*keys, "relative", "conversion", "_order"])
    best = best.drop_duplicates(keys, keep="first") if keys else best.head(1)
    cols = ["stage", "next_stage", "reached", "conversion", "team_conversion", "relative"]
    grid = conv[keys].drop_duplicates().reset_index(drop=True) if keys else pd.DataFrame(index=[0])
    out = (
        grid.merge(best[keys + cols], on=keys, how="left")
        if keys
        else best[cols].reset_index(drop=True).reindex(range(1))
    )
    return out


# --------------------------------------------------------------------------- hygiene
def _median_won_cycle(call: _Call) -> float:
    o = call.opps
    is_won, _, _ = _outcomes(o)
    cycle = _days(o["close_date"], o["created_date"])[is_won]
    return float(np.nanmedian(cycle)) if np.isfinite(cycle).any() else np.nan


def hygiene(wb: Workbook, *, as_of: DateLike = None) -> pd.DataFrame:
    """Pipeline hygiene of each deal open at as-of.

    Definition: deal age = days from creation to as-of; a deal is stale when more than
    ``stale_after_days`` days passed since its last activity (its creation when it has none),
    past-due when it is open with a close date before as-of, and old when its age exceeds
    ``old_age_multiple`` x the median sales cycle of all won deals up to as-of.

    Returns one row per open deal: ``opp_id``, ``rep_id``, ``account``, ``stage``, ``amount``,
    ``created_date``, ``close_date``, ``age_days``, ``days_since_activity`` (NaN when the last
    activity is after as-of), ``days_past_due`` (0 unless past due), ``stale``, ``past_due``,
    ``old``; sorted by rep and deal.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.hygiene(kpis._example())[["opp_id", "age_days", "stale", "past_due", "old"]]
      opp_id  age_days  stale  past_due    old
    0     o4      30.0  False     False  False
    1     o5      80.0   True      True   True
    """
    call = _call(wb, None, None, None, None, None, as_of)
    o = call.opps
    _, _, is_open = _outcomes(o)
    cols = ["opp_id", "rep_id", "account", "stage", "amount", "created_date", "close_date"]
    d = o.loc[is_open, [c for c in cols if c in o]].copy()
    as_of64 = np.datetime64(call.as_of, "ns")
    d["age_days"] = _days(as_of64, d["created_date"])
    last = o.loc[is_open, "last_activity_date"] if "last_activity_date" in o else d["created_date"]
    last = last.fillna(d["created_date"])
    since = _days(as_of64, last)
    d["days_since_activity"] = np.where(since >= 0, since, np.nan)
    past = _days(as_of64, d["close_date"])
    d["days_past_due"] = np.where(past > 0, past, 0.0)
    cfg = call.wb.config
    d["stale"] = d["days_since_activity"].to_numpy() > cfg.stale_after_days
    d["past_due"] = past > 0
    d["old"] = d["age_days"].to_numpy() > cfg.old_age_multiple * _median_won_cycle(call)
    return d.sort_values(["rep_id", "opp_id"]).reset_index(drop=True)


def hygiene_summary(wb: Workbook, by: By = "rep", *, as_of: DateLike = None) -> pd.DataFrame:
    """Pipeline hygiene aggregated by group (see :func:`hygiene` for the definitions).

    Returns ``open_deals``, ``stale_deals``, ``past_due_deals``, ``old_deals`` (counts),
    ``stale_amount``, ``past_due_amount`` (currency) and ``median_age_days``.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.hygiene_summary(kpis._example(), by="rep")[["rep_id", "open_deals", "stale_deals"]]
      rep_id  open_deals  stale_deals
    0     r1           1            0
    1     r2           1            1
    """
    call = _call(wb, by, None, None, None, None, as_of)
    d = hygiene(wb, as_of=call.as_of)
    cube = _Cube(call)
    rows = cube.add(cube.rep_positions(d["rep_id"]), None, np.ones(len(d), bool))
    cube.finalize()
    n, amount = cube.n, d["amount"].to_numpy(dtype=float)
    stale, past, old = (d[c].to_numpy(dtype=float) for c in ("stale", "past_due", "old"))
    return cube.frame(
        {"open_deals": rows.count(n), "stale_deals": rows.sum(n, stale).astype(np.int64),
         "past_due_deals": rows.sum(n, past).astype(np.int64),
         "old_deals": rows.sum(n, old).astype(np.int64), "stale_amount": rows.sum(n, amount * stale),
         "past_due_amount": rows.sum(n, amount * past),
         "median_age_days": rows.median(n, d["age_days"].to_numpy())}
    )  # fmt: skip


def _snapshot_at(wb: Workbook, when: DateLike, name: str) -> tuple[pd.Timestamp, pd.DataFrame]:
    ts = _ts(when, name)
    s = wb.snapshots
    dates = s["as_of"][s["as_of"] <= ts]
    if dates.empty:
        first = s["as_of"].min() if len(s) else None
        msg = (
            f"No pipeline snapshot on or before {name}={when!r}"
            + (f" (the first is {first.date()})." if first is not None else " (there are none).")
            + " Fix: pick a later date or load a snapshots table."
        )
        raise ParameterError(msg)
    taken = dates.max()
    return taken, s[s["as_of"] == taken]


def slipped(wb: Workbook, before: DateLike, after: DateLike, *, freq: Freq = "Q") -> pd.DataFrame:
    """Deals whose expected close date slipped out of its period between two snapshots.

    Definition: a deal slipped when it is open in both snapshots and its close date in the later
    snapshot falls after the end of the period (``freq``) that held its close date in the earlier
    one; days pushed = later close date - earlier close date.

    ``before`` and ``after`` pick the latest snapshot on or before each date.

    Returns one row per slipped deal: ``opp_id``, ``rep_id``, ``stage``, ``amount``,
    ``close_date_before``, ``close_date_after``, ``period_before``, ``period_after``,
    ``days_pushed`` and the snapshot dates ``before`` and ``after``.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.slipped(kpis._example(), "2026-03-01", "2026-03-31")[["opp_id", "days_pushed"]]
      opp_id  days_pushed
    0     o4         30.0
    """
    _check_freq(freq)
    if freq is None:
        raise ParameterError("slipped needs freq='M', 'Q' or 'Y'. Fix: pass freq='Q'.")
    t0, s0 = _snapshot_at(wb, before, "before")
    t1, s1 = _snapshot_at(wb, after, "after")
    kind = wb.config.stages.kind_of()
    s0 = s0[s0["stage"].map(kind).fillna("open").eq("open")]
    s1 = s1[s1["stage"].map(kind).fillna("open").eq("open")]
    both = s0[["opp_id", "close_date"]].merge(
        s1[["opp_id", "rep_id", "stage", "amount", "close_date"]],
        on="opp_id", suffixes=("_before", "_after"),
    )  # fmt: skip
    both = both.dropna(subset=["close_date_before", "close_date_after"])
    cal = wb.config.calendar
    both["period_before"] = cal.period_of(both["close_date_before"], freq).astype("str")
    both["period_after"] = cal.period_of(both["close_date_after"], freq).astype("str")
    ends = {p: cal.period_bounds(p)[1] for p in both["period_before"].unique()}
    period_end = both["period_before"].map(ends)
    out = both[both["close_date_after"] > period_end].copy()
    out["days_pushed"] = _days(out["close_date_after"], out["close_date_before"])
    out["before"], out["after"] = t0, t1
    cols = ["opp_id", "rep_id", "stage", "amount", "close_date_before", "close_date_after",
            "period_before", "period_after", "days_pushed", "before", "after"]  # fmt: skip
    return out[cols].sort_values(["rep_id", "opp_id"]).reset_index(drop=True)


# --------------------------------------------------------------------------- growth, activity
def growth(
    wb: Workbook, by: By = "rep", freq: Freq = "Q", *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Bookings growth against the previous period.

    Definition: growth = bookings in the period / bookings in the previous period - 1; NaN when
    the previous period had no bookings or lies before the data.

    Returns ``bookings``, ``previous_bookings`` (currency) and ``growth`` (a share: 0.1 = +10 %).

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.growth(kpis._example(), by=None, freq="M")[["period", "bookings", "growth"]]
        period  bookings  growth
    0  2026-01     400.0     NaN
    1  2026-02     600.0     0.5
    2  2026-03       0.0    -1.0
    """
    if freq is None:
        raise ParameterError("growth needs freq='M', 'Q' or 'Y'. Fix: pass freq='Q'.")
    call = _call(wb, by, freq, start, end, period, as_of)
    first = None
    if call.start is not None:
        cal = wb.config.calendar
        first = cal.period_label(call.start, freq)
        prev_start = cal.period_bounds(first)[0] - pd.Timedelta(days=1)
        prev = cal.period_label(prev_start, freq)
        # Read the whole previous period, but not the days between its end and ``start``.
        if call.start > prev_start + pd.Timedelta(days=1):
            call.gap = (prev_start + pd.Timedelta(days=1), call.start - pd.Timedelta(days=1))
        call.start = cal.period_bounds(prev)[0]
    cube = _Cube(call)
    stats = _closed(call, cube)
    df = cube.frame({"bookings": stats["bookings"]})
    keys = call.cols
    prev = df.groupby(keys, sort=False)["bookings"].shift(1) if keys else df["bookings"].shift(1)
    df["previous_bookings"] = prev
    df["growth"] = _ratio(df["bookings"], df["previous_bookings"]) - 1
    if first is not None:
        df = df[df["period"] != df["period"].iloc[0]].reset_index(drop=True) if len(df) else df
    return df


def _activities(call: _Call, cube: _Cube) -> tuple[_Rows, np.ndarray, pd.DataFrame]:
    a = call.wb.activities
    mask = call.in_window(a["date"]) & ~(a["date"] > call.as_of).to_numpy()
    rows = cube.add(cube.rep_positions(a["rep_id"]), a["date"], mask)
    return rows, a["count"].to_numpy(dtype=float), a


def activity_counts(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Activity counts by type.

    Definition: activity count = number of activities of each type (call, email, meeting, demo and
    any other type in the data) logged in the period.

    Returns ``calls``, ``emails``, ``meetings``, ``demos`` (plus other types under their own
    name) and ``activities`` (all types), as int counts.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.activity_counts(kpis._example(), by=None)
       calls  emails  meetings  demos  activities
    0     10       5         2      0          17
    """
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    rows, count, a = _activities(call, cube)
    cube.finalize()
    types = list(ACTIVITY_TYPES) + sorted(set(a["type"].dropna()) - set(ACTIVITY_TYPES))
    kind = a["type"].to_numpy(dtype=object)
    values = {}
    for t in types:
        name = f"{t}s" if t in ACTIVITY_TYPES else str(t)
        values[name] = rows.sum(cube.n, count * (kind == t)).astype(np.int64)
    values["activities"] = rows.sum(cube.n, count).astype(np.int64)
    return cube.frame(values)


def activity_conversion(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Activity-to-opportunity conversion.

    Definition: activity-to-opportunity conversion = opportunities created in the period /
    activities logged in the period; NaN when there were no activities.

    Returns ``activities``, ``created_deals`` (counts) and ``opportunities_per_activity``.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.activity_conversion(kpis._example(), by=None)
       activities  created_deals  opportunities_per_activity
    0          17              6                    0.352941
    """
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    rows, count, _ = _activities(call, cube)
    o = call.opps
    created = cube.add(cube.opp_reps(), o["created_date"],
                       call.in_window(o["created_date"]))  # fmt: skip
    cube.finalize()
    acts, made = rows.sum(cube.n, count), created.count(cube.n)
    return cube.frame(
        {"activities": acts.astype(np.int64), "created_deals": made,
         "opportunities_per_activity": _ratio(made, acts)}
    )  # fmt: skip


def new_vs_existing(
    wb: Workbook, by: By = "rep", freq: Freq | None = None, *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """New-customer acquisition: bookings from new versus existing accounts.

    Definition: a new customer is an account whose first won deal (over all history up to as-of)
    closed in the period; that first deal's amount is new-account bookings, later won deals with
    the account are existing-account bookings, and won deals without an account are counted apart.

    Returns ``new_accounts`` (count), ``new_account_bookings``, ``existing_account_bookings`` and
    ``no_account_bookings`` (currency; the three add up to bookings).

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.new_vs_existing(kpis._example(), by=None)[["new_accounts", "existing_account_bookings"]]
       new_accounts  existing_account_bookings
    0             1                      600.0
    """
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    o = call.opps
    is_won, _, _ = _outcomes(o)
    has_account = o["account"].notna().to_numpy() if "account" in o else np.zeros(len(o), bool)
    won = o[is_won & has_account]
    first_ids = won.sort_values(["close_date", "opp_id"]).drop_duplicates("account")["opp_id"]
    is_first = o["opp_id"].isin(first_ids).to_numpy() & is_won & has_account
    rep, window = cube.opp_reps(), call.in_window(o["close_date"])
    new = cube.add(rep, o["close_date"], window & is_first)
    old = cube.add(rep, o["close_date"], window & is_won & has_account & ~is_first)
    none = cube.add(rep, o["close_date"], window & is_won & ~has_account)
    cube.finalize()
    n, amount = cube.n, o["amount"].to_numpy(dtype=float)
    return cube.frame(
        {"new_accounts": new.count(n), "new_account_bookings": new.sum(n, amount),
         "existing_account_bookings": old.sum(n, amount),
         "no_account_bookings": none.sum(n, amount)}
    )  # fmt: skip


# --------------------------------------------------------------------------- peers, scorecard
def percentile_rank(
    df: pd.DataFrame, value_col: str, within: str | Sequence[str] | None = "region", *,
    higher_is_better: bool = True, reps: Workbook | pd.DataFrame | None = None,
) -> pd.Series:  # fmt: skip
    """Each row's percentile (0-100) for ``value_col`` among its peers.

    Definition: percentile = (rank - 1) / (peers - 1) x 100 among the rows of the same ``within``
    group (and period), ranking from worst to best with ties given their average rank; 50 for a
    row without peers; NaN where the value is NaN.

    Parameters
    ----------
    within : column name(s) or None
        Peer group (``"region"``, ``"team"``, ``"manager"``), or None for all rows. Missing
        columns are looked up by ``rep_id`` in ``reps`` (a Workbook or reps table).
    higher_is_better : bool
        False for KPIs where less is better, such as the sales cycle.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> df = pd.DataFrame({"region": ["E", "E", "E", "W"], "win_rate": [0.2, 0.5, 0.5, 0.1]})
    >>> kpis.percentile_rank(df, "win_rate").tolist()
    [0.0, 75.0, 75.0, 50.0]
    """
    if value_col not in df:
        msg = f"Column {value_col!r} is not in the table. Fix: use one of {list(df.columns)!r}."
        raise ParameterError(msg)
    cols = _by_columns(within)
    data = df
    missing = [c for c in cols if c not in df]
    if missing:
        table = reps.reps if isinstance(reps, Workbook) else reps
        if table is None or "rep_id" not in df:
            msg = (
                f"Peer group {missing!r} is not a column of the table. Fix: group the KPI by "
                f"{['rep', *missing]!r} or pass reps=wb."
            )
            raise ParameterError(msg)
        looked = table.drop_duplicates("rep_id").set_index("rep_id")
        data = df.assign(**{c: df["rep_id"].map(looked[c]) for c in missing})
    keys = cols + (["period"] if "period" in data and "period" not in cols else [])
    values = data[value_col].astype(float)
    if keys:
        grouped = values.groupby([data[k] for k in keys], dropna=False)
        rank = grouped.rank(method="average", ascending=higher_is_better)
        peers = grouped.transform("count")
    else:
        rank = values.rank(method="average", ascending=higher_is_better)
        peers = pd.Series(values.notna().sum(), index=values.index)
    pct = (rank - 1) / (peers - 1) * 100
    pct = pct.where(peers > 1, 50.0).where(values.notna())
    return pct.rename(f"{value_col}_percentile")


def scorecard(
    wb: Workbook, by: By = "rep", period: str | None = None, as_of: DateLike = None
) -> pd.DataFrame:
    """The headline KPIs of one period in one table, one row per group.

    ``period`` defaults to the fiscal quarter holding as-of (quarter to date). Every column
    follows the definition of its own function over that period: ``target``, ``bookings``,
    ``attainment``, ``won_deals``, ``lost_deals``, ``win_rate``, ``win_rate_value``,
    ``avg_deal_size``, ``median_cycle_days``, ``open_deals``, ``pipeline``,
    ``weighted_pipeline`` (open deals due in the period), ``coverage``, ``velocity`` (currency
    per day), ``growth`` (the period so far against the whole previous period), ``stale_deals`` and
    ``past_due_deals`` (whole open pipeline at as-of). Grouped by rep, the rep's ``name`` follows
    ``rep_id``.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.scorecard(kpis._example(), by=None, period="FY2026-Q1")[["period", "attainment"]]
          period  attainment
    0  FY2026-Q1        1.25
    """
    call = _call(wb, by, None, None, None, None, as_of)
    if period is None:
        period = wb.config.calendar.period_label(call.as_of, "Q")
    # Reconstruct the as-of pipeline once; each KPI below then finds nothing left to hide.
    wb = replace(wb, opportunities=call.opps)
    kw = {"period": period, "as_of": call.as_of}
    keys = call.cols
    base = quota_attainment(wb, by, **kw)
    parts = [
        win_rate(wb, by, **kw).drop(columns="bookings"),
        avg_deal_size(wb, by, **kw).drop(columns="won_deals"),
        sales_cycle(wb, by, **kw).drop(columns="won_deals"),
        pipeline(wb, by, **kw),
        coverage(wb, by, **kw)[keys + ["coverage"]],
        velocity(wb, by, **kw)[keys + ["velocity"]],
        growth(wb, by, _freq_of(period), **kw)[keys + ["growth"]],
        hygiene_summary(wb, by, as_of=call.as_of)[keys + ["stale_deals", "past_due_deals"]],
    ]
    out = base
    for part in parts:
        out = out.merge(part, on=keys, how="left") if keys else pd.concat([out, part], axis=1)
    out.insert(len(keys), "period", period)
    if "rep_id" in keys:
        names = wb.reps.drop_duplicates("rep_id").set_index("rep_id")["name"]
        out.insert(keys.index("rep_id") + 1, "name", out["rep_id"].map(names))
    return out


def _freq_of(label: str) -> Freq:
    return "Q" if "-Q" in label else "Y" if label.startswith("FY") else "M"


# --------------------------------------------------------------------------- doc example
def _example() -> Workbook:
    """A six-deal, two-rep workbook used by the docstring examples (as of 2026-03-31)."""
    from salesnb.data.config import load_config

    d = pd.to_datetime
    reps = pd.DataFrame(
        {"rep_id": ["r1", "r2"], "name": ["Zoë O'Brien", "José Nuñez-García"],
         "manager": ["M", "M"], "region": ["East", "West"], "team": ["East", "West"],
         "start_date": d(["2024-01-01", "2025-06-01"])}
    )  # fmt: skip
    opps = pd.DataFrame(
        {"opp_id": ["o1", "o2", "o3", "o4", "o5", "o6"], "rep_id": ["r1"] * 4 + ["r2", "r1"],
         "account": ["A", "A", "B", "C", "D", None], "product": None,
         "stage": ["Closed Won", "Closed Won", "Closed Lost", "Proposal", "Demo", "Closed Lost"],
         "amount": [400.0, 600.0, 500.0, 1000.0, 500.0, 0.0],
         "created_date": d(["2025-12-01", "2026-01-01", "2026-01-10", "2026-03-01", "2026-01-10",
                            "2026-01-15"]),
         "close_date": d(["2026-01-15", "2026-02-20", "2026-02-01", "2026-04-30", "2026-03-15",
                          "2026-03-10"]),
         "outcome": ["won", "won", "lost", "open", "open", "lost"],
         "forecast_category": None, "source": None,
         "furthest_stage": [None, None, "Proposal", "Proposal", "Demo", "Prospecting"],
         "last_activity_date": d(["2026-01-15", "2026-02-20", "2026-02-01", "2026-03-20",
                                  "2026-01-20", "2026-03-10"])}
    )  # fmt: skip
    targets = pd.DataFrame(
        {"rep_id": ["r1"] * 4, "region": [None] * 4,
         "month": d(["2026-01-01", "2026-02-01", "2026-04-01", "2026-05-01"]),
         "amount": [300.0, 500.0, 500.0, 500.0]}
    )  # fmt: skip
    acts = pd.DataFrame(
        {"rep_id": ["r1", "r1", "r2"], "date": d(["2026-01-05", "2026-02-05", "2026-02-05"]),
         "type": ["call", "email", "meeting"], "count": [10, 5, 2]}
    )  # fmt: skip
    snaps = pd.DataFrame(
        {"as_of": d(["2026-03-01", "2026-03-31"]), "opp_id": ["o4", "o4"], "rep_id": ["r1", "r1"],
         "stage": ["Proposal", "Proposal"], "amount": [1000.0, 1000.0],
         "close_date": d(["2026-03-31", "2026-04-30"]), "forecast_category": ["commit", "commit"]}
    )  # fmt: skip
    cfg = load_config(overrides={"as_of": "2026-03-31"})
    return Workbook(reps, opps, cfg, targets=targets, activities=acts, snapshots=snaps)

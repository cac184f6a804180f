"""What every KPI shares: the call resolved once (groups, fiscal periods, window, as-of date:
:class:`_Call`), the deals as they stood on the as-of date (:func:`deals_as_of`) and the
group x period cube the KPIs sum into.

Public through :mod:`salesnb.analytics.kpis` (its docstring gives the shared signature).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from salesnb.core.errors import ParameterError
from salesnb.data.model import Workbook

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


#: A deal closed since ``as_of`` and created at most this many days after the latest snapshot
#: on or before ``as_of`` (and not in it) stood at the first open stage: of the sample's deals
#: first seen in a snapshot within a week of being created, 78% were still there.
YOUNG_DAYS = 14


def _as_of_view(wb: Workbook, as_of: pd.Timestamp) -> pd.DataFrame:
    """The opportunities as they stood at the end of ``as_of``."""
    o = wb.opportunities
    created = o["created_date"]
    keep = ~(created > as_of).to_numpy()
    late = ((o["outcome"] != "open") & (o["close_date"] > as_of)).to_numpy()
    snaps = wb.snapshots
    snaps = snaps[snaps["as_of"] <= as_of] if len(snaps) else snaps
    last = snaps["as_of"].max() if len(snaps) else None
    # A deal still open today is read from the latest snapshot when that is nearer to as_of
    # than today's record is (a past date); at the data's own date the record is exact.
    stale = last is None or (as_of - last) >= (pd.Timestamp(wb.as_of) - as_of)
    if keep.all() and not late.any() and stale:
        return o
    o, late = o[keep].copy(), late[keep]
    cat = wb.config.stages
    if late.any():
        # Closed after as_of: the deal was open then, at a stage only snapshots record; else
        # the furthest open stage it reached (for won deals, the last open stage), or the
        # first open stage for a deal younger than the snapshots' cadence.
        kind = cat.kind_of()
        furthest = o["furthest_stage"].where(o["furthest_stage"].map(kind).eq("open"))
        fallback = np.where(o["outcome"].eq("won"), cat.open_names[-1], cat.open_names[0])
        stage = furthest.fillna(pd.Series(fallback, index=o.index))
        if last is not None and (as_of - last).days <= YOUNG_DAYS:
            stage = stage.mask(o["created_date"] > last, cat.open_names[0])
        o.loc[late, "stage"] = stage[late]
        o.loc[late, "outcome"] = "open"
        if "forecast_category" in o:
            o.loc[late, "forecast_category"] = None  # the final call is not the call then
    was_open = late | (o["outcome"].eq("open") & ~stale).to_numpy()
    if last is not None and was_open.any():
        ids = o.loc[was_open, "opp_id"]
        s = snaps[snaps["opp_id"].isin(ids) & snaps["stage"].isin(cat.open_names)]
        if len(s):
            s = s.sort_values("as_of").drop_duplicates("opp_id", keep="last").set_index("opp_id")
            hit = was_open & o["opp_id"].isin(s.index).to_numpy()
            ids = o.loc[hit, "opp_id"]
            cols = [c for c in ("stage", "amount", "close_date", "forecast_category") if c in s]
            for col in cols:
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


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` element by element, NaN where ``den`` is not positive (no rate of nothing).

    Examples
    --------
    >>> ratio([1.0, 2.0, 3.0], [4.0, 0.0, -1.0]).tolist()
    [0.25, nan, nan]
    """
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def add_closed_rates(stats: Any) -> Any:
    """Add the rates of closed deals to ``stats`` (a dict of arrays or a DataFrame with
    ``won_deals``, ``lost_deals``, ``bookings`` and ``lost_amount``): ``win_rate`` = won /
    closed (count), ``win_rate_value`` = bookings / closed amount, ``avg_deal_size`` =
    bookings / won deals (currency). The kit's one definition of each; returns ``stats``.

    Examples
    --------
    >>> add_closed_rates({"won_deals": np.array([1.0]), "lost_deals": np.array([3.0]),
    ...                   "bookings": np.array([50.0]), "lost_amount": np.array([150.0])})["win_rate"]
    array([0.25])
    """
    stats["win_rate"] = ratio(stats["won_deals"], stats["won_deals"] + stats["lost_deals"])
    stats["win_rate_value"] = ratio(stats["bookings"], stats["bookings"] + stats["lost_amount"])
    stats["avg_deal_size"] = ratio(stats["bookings"], stats["won_deals"])
    return stats


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

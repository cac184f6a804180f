"""Who a document is about, for which period, as of when, and who the peers are.

A workbook is run for a *subject*: one rep, a region, a manager's team, or the
whole team. This module resolves a subject to its reps, its display name and
its peer group, resolves the period and as-of date, and turns per-rep tables
into anonymised peer aggregates, so that a rep's document never carries another
rep's name (privacy: peers appear only as medians and percentiles).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from salesnb.core.dates import to_day
from salesnb.core.errors import ConfigError, ParameterError
from salesnb.data.model import Workbook

SubjectType = Literal["rep", "region", "manager", "team", "all"]
SUBJECT_TYPES: tuple[str, ...] = ("rep", "region", "manager", "team", "all")


@dataclass(frozen=True)
class Subject:
    """A resolved subject.

    Attributes
    ----------
    type : {"rep", "region", "manager", "team", "all"}
    key : str
        The rep_id, region, manager or team name as given in the data.
    name : str
        Display name (the rep's name for a rep).
    rep_ids : tuple of str
        The reps whose data the document is about.
    peer_rep_ids : tuple of str
        The comparison group: the rep's region for a rep (the rep included),
        every rep for a region, manager or team.
    """

    type: SubjectType
    key: str
    name: str
    rep_ids: tuple[str, ...]
    peer_rep_ids: tuple[str, ...]

    @property
    def is_rep(self) -> bool:
        return self.type == "rep"


def _unknown(kind: str, value: str, options: list[str]) -> ParameterError:
    close = difflib.get_close_matches(str(value), options, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    shown = ", ".join(map(repr, options[:8])) + (" ..." if len(options) > 8 else "")
    return ParameterError(f"Unknown {kind} {value!r}.{hint} Fix: use one of {shown}.")


def subjects(wb: Workbook, subject_type: SubjectType) -> list[tuple[str, str]]:
    """Every subject of a type as ``(key, display name)``, sorted by key.

    Examples
    --------
    >>> subjects(wb, "region")  # doctest: +SKIP
    [('EMEA', 'EMEA'), ('North America East', 'North America East'), ...]
    """
    if subject_type == "rep":
        reps = wb.reps.sort_values("rep_id")
        return list(zip(reps["rep_id"], reps["name"], strict=True))
    if subject_type == "all":
        return [("all", "Whole team")]
    if subject_type not in SUBJECT_TYPES:
        raise _unknown("subject type", subject_type, list(SUBJECT_TYPES))
    values = sorted(wb.reps[subject_type].dropna().unique().tolist())
    return [(v, v) for v in values]


def resolve(wb: Workbook, subject_type: SubjectType, subject: str | None) -> Subject:
    """Resolve ``subject_type``/``subject`` against the data.

    A rep may be given by rep_id or by exact name. Unknown values raise a
    :class:`ParameterError` that suggests close matches.

    Examples
    --------
    >>> s = resolve(wb, "rep", "R01")  # doctest: +SKIP
    >>> s.name, len(s.peer_rep_ids)     # doctest: +SKIP
    ('Ava Thompson', 10)
    """
    reps = wb.reps
    if subject_type == "rep":
        row = wb.rep(str(subject))
        same = reps["region"].to_numpy(dtype=object) == row["region"]  # NaN matches nothing
        peers = reps["rep_id"].to_numpy(dtype=object)[same].tolist()
        return Subject("rep", row["rep_id"], row["name"], (row["rep_id"],), tuple(sorted(peers)))
    if subject_type == "all":
        ids = tuple(sorted(reps["rep_id"]))
        return Subject("all", "all", "Whole team", ids, ids)
    if subject_type not in SUBJECT_TYPES:
        raise _unknown("subject type", str(subject_type), list(SUBJECT_TYPES))
    options = sorted(reps[subject_type].dropna().unique().tolist())
    if subject not in options:
        raise _unknown(subject_type, str(subject), options)
    ids = tuple(sorted(reps.loc[reps[subject_type] == subject, "rep_id"]))
    return Subject(subject_type, subject, subject, ids, tuple(sorted(reps["rep_id"])))


def resolve_as_of(wb: Workbook, as_of: str | pd.Timestamp | None) -> pd.Timestamp:
    """The as-of date: the given one, or the data's own; refuses dates outside the data.

    Raises
    ------
    ParameterError
        If ``as_of`` is not a date, is after the data's as-of date (the data
        cannot know that future) or before the first deal was created.
    """
    data_as_of = wb.as_of.normalize()
    if as_of is None or (isinstance(as_of, str) and not as_of.strip()):
        return data_as_of
    when = to_day(as_of)  # a UTC offset or a time of day is dropped, as everywhere
    if pd.isna(when):
        msg = f"as_of {as_of!r} is not a date. Fix: write it as YYYY-MM-DD, e.g. '2026-09-30'."
        raise ParameterError(msg)
    if when > data_as_of:
        msg = (
            f"as_of {when:%Y-%m-%d} is after the data's as-of date {data_as_of:%Y-%m-%d}: "
            "the data cannot describe that future. Fix: leave as_of empty or pick an earlier date."
        )
        raise ParameterError(msg)
    first = wb.opportunities["created_date"].min()
    if pd.notna(first) and when < first:
        msg = (
            f"as_of {when:%Y-%m-%d} is before the first deal in the data ({first:%Y-%m-%d}). "
            "Fix: pick a date inside the data."
        )
        raise ParameterError(msg)
    return when


def resolve_period(
    wb: Workbook, period: str | None, as_of: pd.Timestamp, freq: Literal["M", "Q", "Y"] = "Q"
) -> tuple[str, pd.Timestamp, pd.Timestamp]:
    """``(label, first day, last day)`` of ``period``; default: the fiscal period containing as_of.

    Raises :class:`ParameterError` when the period lies entirely outside the data.

    Examples
    --------
    >>> resolve_period(wb, None, pd.Timestamp("2026-09-30"))  # doctest: +SKIP
    ('FY2026-Q3', Timestamp('2026-07-01'), Timestamp('2026-09-30'))
    """
    cal = wb.config.calendar
    if period is None or (isinstance(period, str) and not period.strip()):
        period = cal.period_label(as_of, freq)
    try:
        start, end = cal.period_bounds(str(period))
    except ConfigError as exc:  # a bad label is the caller's parameter, not a config file
        raise ParameterError(str(exc)) from None
    first = wb.opportunities["created_date"].min()
    if pd.notna(first) and end < first:
        msg = (
            f"Period {period!r} ends before the data starts ({first:%Y-%m-%d}). "
            "Fix: choose a period inside the data."
        )
        raise ParameterError(msg)
    horizon = as_of + pd.DateOffset(years=1)
    if start > horizon:
        msg = (
            f"Period {period!r} starts more than a year after as_of {as_of:%Y-%m-%d}. "
            "Fix: choose the current or a near period."
        )
        raise ParameterError(msg)
    return str(period), start, end


def peer_aggregates(
    table: pd.DataFrame,
    subject: Subject,
    value_cols: list[str],
    *,
    key: str = "rep_id",
) -> pd.DataFrame:
    """Anonymised peer statistics beside the subject's own values.

    Parameters
    ----------
    table : DataFrame
        One row per rep with ``key`` and the ``value_cols``.
    subject : Subject
        A rep subject; peers are ``subject.peer_rep_ids``.
    value_cols : list of str
        Metrics to compare.

    Returns
    -------
    DataFrame
        One row per metric: ``metric, value`` (the rep's), ``peer_p25, peer_median,
        peer_p75, peer_n`` and ``percentile`` (0-100: share of peers at or below
        the rep's value, ties counted half). No peer identifiers.

    Examples
    --------
    >>> t = pd.DataFrame({"rep_id": ["a", "b", "c"], "win_rate": [0.2, 0.3, 0.4]})
    >>> s = Subject("rep", "b", "B", ("b",), ("a", "b", "c"))
    >>> peer_aggregates(t, s, ["win_rate"])[["metric", "value", "peer_median", "percentile"]]
         metric  value  peer_median  percentile
    0  win_rate    0.3          0.3        50.0
    """
    peers = table[table[key].isin(subject.peer_rep_ids)]
    own = table[table[key].isin(subject.rep_ids)]
    rows = []
    for col in value_cols:
        vals = pd.to_numeric(peers[col], errors="coerce").dropna().to_numpy(dtype=float)
        mine = pd.to_numeric(own[col], errors="coerce")
        value = float(mine.iloc[0]) if len(mine) == 1 else float(mine.sum())
        if len(vals) and not np.isnan(value):
            below = (vals < value).sum()
            equal = (vals == value).sum()
            pct = 100.0 * (below + 0.5 * equal) / len(vals)
        else:
            pct = np.nan
        rows.append(
            {
                "metric": col,
                "value": value,
                "peer_p25": float(np.quantile(vals, 0.25)) if len(vals) else np.nan,
                "peer_median": float(np.median(vals)) if len(vals) else np.nan,
                "peer_p75": float(np.quantile(vals, 0.75)) if len(vals) else np.nan,
                "peer_n": len(vals),
                "percentile": pct,
            }
        )
    return pd.DataFrame(rows)

"""Who a forecast is about and what it reads: subjects, their monthly bookings, targets.

The bottom of the forecasting modules' house: every view (history, pipeline, calibration,
levels) reads a subject's reps (:func:`reps_of`, :func:`subject_of`), its monthly bookings
(:func:`monthly_bookings`, :func:`team_series`), its target (:func:`target_of`) and the
months of a period still to come (:func:`rest_of_period`) from here.
:mod:`salesnb.forecast.combined` re-exports them.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from salesnb.core.errors import ParameterError
from salesnb.forecast.winprob import member


def subject_of(wb, by: str | None) -> pd.Series:
    """Subject of each rep (index rep_id) for a grouping (a team falls back to the region).

    Examples
    --------
    >>> subject_of(wb, None).unique().tolist()  # doctest: +SKIP
    ['all']
    """
    reps = wb.reps.set_index("rep_id")
    if by in (None, "all"):
        return pd.Series("all", index=reps.index, dtype="str")
    if by == "rep":
        return pd.Series(reps.index, index=reps.index, dtype="str")
    if by not in ("region", "manager", "team"):
        msg = f"by={by!r} is not a grouping. Fix: use 'rep', 'region', 'manager', 'team' or None."
        raise ParameterError(msg)
    col = reps[by]
    if by == "team":
        col = col.fillna(reps["region"])
    return col.astype("str")


def last_complete_month(as_of: pd.Timestamp) -> pd.Period:
    """The last month complete on ``as_of`` (its own month when ``as_of`` is its last day).

    Examples
    --------
    >>> str(last_complete_month(pd.Timestamp("2026-09-30"))), str(last_complete_month(pd.Timestamp("2026-09-29")))
    ('2026-09', '2026-08')
    """
    as_of = pd.Timestamp(as_of)
    month = as_of.to_period("M")
    return month if as_of == month.end_time.normalize() else month - 1


def first_activity(wb, as_of: pd.Timestamp) -> pd.Series:
    """First sign of each rep (index rep_id) up to ``as_of``: start date, created or closed deal.

    Examples
    --------
    >>> first_activity(wb, wb.as_of).min()  # doctest: +SKIP
    """
    opps = wb.opportunities
    created = opps.loc[opps["created_date"] <= as_of, ["rep_id", "created_date"]]
    closed = opps.loc[
        (opps["outcome"] != "open") & (opps["close_date"] <= as_of), ["rep_id", "close_date"]
    ]
    dates = pd.concat(
        [created.set_axis(["rep_id", "date"], axis=1), closed.set_axis(["rep_id", "date"], axis=1)]
    )
    if "start_date" in wb.reps.columns:
        sd = wb.reps[["rep_id", "start_date"]].set_axis(["rep_id", "date"], axis=1)
        dates = pd.concat([dates, sd[sd["date"] <= as_of]])
    dates = dates.dropna(subset=["date"])
    return dates.groupby("rep_id")["date"].min()


#: Per-process memo of :func:`monthly_bookings` (a document asks for the same table a dozen
#: times: its level, the whole team, the blend's and the backtest's past dates).
_MONTHLY: dict[tuple, tuple] = {}
_MONTHLY_LIMIT = 256


def monthly_bookings(
    wb, by: Literal["rep", "region", "manager", "team"] | None = "rep", as_of=None
) -> pd.DataFrame:
    """Closed-won amount per month and subject, up to the last complete month before ``as_of``.

    Parameters
    ----------
    wb : Workbook
    by : {"rep", "region", "manager", "team", None}
        Subject grouping; None gives one column ``"all"``.
    as_of : date, optional
        Defaults to ``wb.as_of``. A month counts once its last day is on or before ``as_of``.

    Returns
    -------
    DataFrame
        Monthly ``PeriodIndex`` named ``month``, one column per subject (currency). Months
        with no bookings are 0. A subject's history starts at its first activity: the
        earliest start date, created deal or closed deal of its reps (up to ``as_of``), but
        never before the first month in which the data has any closed deal, since bookings
        before the export's window are unknown, not zero. Months before that are NaN, and a
        subject with no activity at all is NaN throughout.

    Examples
    --------
    >>> wide = monthly_bookings(wb, by="region")  # doctest: +SKIP
    >>> wide["EMEA"].first_valid_index()  # first month with a close in the data  # doctest: +SKIP
    Period('2023-10', 'M')
    """
    as_of = pd.Timestamp(wb.as_of if as_of is None else as_of)
    # Remembered per workbook data (the frames themselves are kept, so their ids are not
    # reused meanwhile; the few reps' rows are hashed, so a rep added or changed in place is
    # seen); a copy is returned, so a caller's change never reaches the memo.
    reps_hash = int(pd.util.hash_pandas_object(wb.reps, index=True).sum())
    key = (id(wb.opportunities), len(wb.opportunities), id(wb.reps), reps_hash, by, as_of)
    hit = _MONTHLY.get(key)
    if hit is not None and hit[0] is wb.opportunities and hit[1] is wb.reps:
        return hit[2].copy()
    out = _monthly_bookings(wb, by, as_of)
    if len(_MONTHLY) >= _MONTHLY_LIMIT:
        _MONTHLY.pop(next(iter(_MONTHLY)))
    _MONTHLY[key] = (wb.opportunities, wb.reps, out)
    return out.copy()


def _monthly_bookings(wb, by: str | None, as_of: pd.Timestamp) -> pd.DataFrame:
    """:func:`monthly_bookings` computed afresh."""
    last = last_complete_month(as_of)
    subj = subject_of(wb, by)
    subjects = sorted(set(subj.dropna()))
    opps = wb.opportunities
    first = first_activity(wb, as_of).reindex(subj.index).groupby(subj).min().dropna()
    closes = opps.loc[(opps["outcome"] != "open") & (opps["close_date"] <= as_of), "close_date"]
    if first.empty or closes.empty:
        return pd.DataFrame(
            np.nan,
            columns=pd.Index(subjects, name=by or "all"),
            index=pd.PeriodIndex([], freq="M", name="month"),
        )
    # Bookings are observed from the data's first close on: an export of deals closed since
    # October has no record of what closed before, however old its deals' created dates.
    window = closes.min().to_period("M")
    first_month = first.dt.to_period("M").clip(lower=window).reindex(subjects)
    won = opps[(opps["outcome"] == "won") & opps["close_date"].notna()]
    won = won[won["close_date"].dt.to_period("M") <= last]
    keys = won["rep_id"].map(subj)
    table = (
        won.assign(subject=keys.to_numpy(), month=won["close_date"].dt.to_period("M"))
        .dropna(subset=["subject"])
        .pivot_table(index="month", columns="subject", values="amount", aggfunc="sum")
    )
    start = first_month.dropna().min()
    months = pd.period_range(min(start, last), last, freq="M", name="month")
    out = table.reindex(index=months, columns=subjects).fillna(0.0).astype(float)
    firsts = pd.PeriodIndex(first_month, freq="M")
    before = (months.asi8[:, None] < firsts.asi8[None, :]) | firsts.isna()[None, :]
    out = out.mask(before)
    out.columns.name = by or "all"
    return out


def reps_of(wb, subject_type: str, subject: str | None) -> tuple[list[str], str]:
    """A subject's rep ids and its name as a column of :func:`monthly_bookings`.

    Examples
    --------
    >>> reps_of(wb, "all", None)[1]  # doctest: +SKIP
    'all'
    """
    if subject_type == "all":
        return wb.reps["rep_id"].tolist(), "all"
    if subject is None:
        msg = f"subject_type={subject_type!r} needs a subject. Fix: pass subject=..."
        raise ParameterError(msg)
    if subject_type == "rep":
        rid = str(wb.rep(subject)["rep_id"])
        return [rid], rid
    subj = subject_of(wb, subject_type)
    hit = subj.index[subj == str(subject)].tolist()
    if not hit:
        import difflib

        close = difflib.get_close_matches(str(subject), sorted(set(subj)), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        msg = (
            f"No {subject_type} called {subject!r}.{hint} Fix: use a value of reps.{subject_type}."
        )
        raise ParameterError(msg)
    return hit, str(subject)


def target_of(wb, reps: list[str], subject_type: str, subject: str, start, end) -> float | None:
    """A subject's target over [start, end] (currency): a region's own rows when it has some,
    else the sum of its reps' rows (the whole team: the team-wide rows without rep rows);
    None without any row.

    Examples
    --------
    >>> target_of(wb, ["R01"], "rep", "R01", *bounds)  # doctest: +SKIP
    190500.0
    """
    t = wb.targets
    if t.empty:
        return None
    in_period = t["month"].between(start, end)
    if subject_type == "region":
        own = t[in_period & t["rep_id"].isna() & (t["region"] == subject)]
        if len(own):
            return float(own["amount"].sum())
    rows = t[in_period & member(t["rep_id"], reps)]
    if subject_type == "all" and rows.empty:
        rows = t[in_period & t["rep_id"].isna()]
    return float(rows["amount"].sum()) if len(rows) else None


def month_weights(first: pd.Period, horizon: int, start, end, as_of: pd.Timestamp) -> np.ndarray:
    """Share of each forecast month still to come inside the period (the current month's
    remaining days, 1 for later months inside the period, 0 outside).

    Examples
    --------
    >>> month_weights(pd.Period("2026-08", "M"), 2, pd.Timestamp("2026-07-01"),
    ...               pd.Timestamp("2026-09-30"), pd.Timestamp("2026-08-15")).round(3).tolist()
    [0.516, 1.0]
    """
    months = pd.period_range(first, periods=horizon, freq="M")
    m_start = months.start_time
    m_end = months.end_time.normalize()
    lo = np.maximum(
        m_start.to_numpy(), np.datetime64(max(pd.Timestamp(start), as_of + pd.Timedelta(days=1)))
    )
    hi = np.minimum(m_end.to_numpy(), np.datetime64(pd.Timestamp(end)))
    days = (hi - lo).astype("timedelta64[D]").astype(int) + 1
    return np.clip(days, 0, None) / months.days_in_month.to_numpy()


def rest_of_period(as_of, start, end) -> tuple[pd.Period, int, np.ndarray]:
    """The months a forecast made at ``as_of`` needs for the rest of a period.

    Returns
    -------
    (first, horizon, weights)
        The first month after the last complete one, the months ahead up to the period's
        last, and the share of each still to come inside the period (0-1).

    Examples
    --------
    >>> first, h, w = rest_of_period(pd.Timestamp("2026-07-31"), pd.Timestamp("2026-07-01"),
    ...                              pd.Timestamp("2026-09-30"))
    >>> str(first), h, w.tolist()
    ('2026-08', 2, [1.0, 1.0])
    """
    as_of = pd.Timestamp(as_of).normalize()
    last = last_complete_month(as_of)
    horizon = max((pd.Timestamp(end).to_period("M") - last).n, 0)
    if horizon == 0:
        return last + 1, 0, np.array([])
    return last + 1, horizon, month_weights(last + 1, horizon, start, end, as_of)


def team_series(wb, as_of=None) -> pd.Series:
    """The whole team's monthly bookings: the parent whose seasonal pattern the subjects of
    every lower level borrow (``parent=`` of :func:`forecast_history`).

    Examples
    --------
    >>> team_series(wb, "2026-09-30").index[-1]  # doctest: +SKIP
    Period('2026-09', 'M')
    """
    wide = monthly_bookings(wb, by=None, as_of=as_of)
    return wide["all"] if "all" in wide.columns else pd.Series(dtype=float)

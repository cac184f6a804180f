"""The workbooks' :class:`Context` (data, subject, period, as-of date) and where the data is
found: :func:`context`, :func:`open_context`, :func:`locate_data`, the period notice and the
subject's names; the constants the per-subject views share (:data:`MIN_PEERS`, ...).

Public through :mod:`salesnb.reports.facts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from salesnb.core.errors import ParameterError
from salesnb.data.model import Workbook
from salesnb.reports import subject as subj

#: Fewer peers than this (the subject excluded) and no peer figure is shown: with two
#: peers a median is one of them.
MIN_PEERS = 3
#: Fewer deals closed (won or lost) in the period than this and no talking point judges the
#: win rate: 0 of 2 is not a win rate (the stage rule asks the same of each stage).
MIN_CLOSED_DEALS = 5
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
    start = rep_start(ctx)
    if start is not None and start > e:
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


def joined_during(ctx: Context, label: str) -> pd.Timestamp | None:
    """The rep's start date when the rep joined during period ``label``, after its first day.

    That period is the rep's first, partly spent before joining and the rest ramping up: a
    change measured against it says how the rep settled in, not what the rep changed. None
    for a group, an unknown start date, or a rep who joined before ``label`` began or after
    it ended.

    Examples
    --------
    >>> joined_during(ctx, "FY2026-Q2")   # doctest: +SKIP
    Timestamp('2026-04-06 00:00:00')
    """
    start = rep_start(ctx)
    if start is None:
        return None
    first, last = ctx.wb.config.calendar.period_bounds(label)
    return start if first < start <= last else None


def rep_start(ctx: Context) -> pd.Timestamp | None:
    """The subject rep's start date; None for a group or where the data does not give it.

    Examples
    --------
    >>> rep_start(ctx)   # doctest: +SKIP
    Timestamp('2026-04-06 00:00:00')
    """
    if not ctx.is_rep or "start_date" not in ctx.wb.reps.columns:
        return None
    start = ctx.wb.rep(ctx.subject.key)["start_date"]
    return pd.Timestamp(start) if pd.notna(start) else None

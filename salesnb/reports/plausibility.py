"""What the kit now believes about a data set, and what looks implausible.

``salesnb validate`` ends with this summary, and each document's data notes carry the flagged
lines: the as-of date and where it came from, money or deal counts, how many lost deals say
how far they got, the learned win probability per stage beside the catalogue's, the periods
the data covers, and whether targets were given or derived. A real export the kit has never
seen is read silently wrong when any of these is off (every later stage "always wins", an
as-of date a year past the export, money where the export has none), so each is said in one
plain sentence and flagged when it looks wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from salesnb.analytics.coaching_facts import format_value
from salesnb.data import memo
from salesnb.data.model import Workbook
from salesnb.forecast.winprob import reach_bounds, win_probabilities

#: A learned stage probability this close to 0 or 1 on at least :data:`EXTREME_MIN_DEALS`
#: deals is flagged: real funnels are rarely that certain.
EXTREME = 0.03
EXTREME_MIN_DEALS = 30


@dataclass(frozen=True)
class Finding:
    """One line of the summary: ``topic`` (as_of, amounts, reach, stages, periods, targets),
    ``text`` (a plain sentence) and ``flag`` (True: looks implausible; act on it)."""

    topic: str
    text: str
    flag: bool = False

    def __str__(self) -> str:
        return self.text


def _pct(x: float) -> str:
    return format_value(x, "percent")


def _as_of(wb: Workbook) -> list[Finding]:
    given = wb.config.as_of is not None
    where = "set in the configuration or profile" if given else "the latest date in the data"
    out = [Finding("as_of", f"As-of date {wb.as_of:%Y-%m-%d} ({where}).")]
    o = wb.opportunities
    late = int((o["created_date"] > wb.as_of).sum())
    if late:
        out.append(
            Finding(
                "as_of",
                f"{late} deal(s) were created after the as-of date {wb.as_of:%Y-%m-%d}; they "
                "are left out of every figure. Fix: check the as-of date or those dates.",
                True,
            )
        )
    return out


def _amounts(wb: Workbook) -> list[Finding]:
    amount = wb.opportunities["amount"].dropna()
    cur = wb.config.currency
    if not len(amount):
        return [Finding("amounts", "No deal has an amount: money figures are not known.", True)]
    if bool((amount == 1).all()):
        return [
            Finding(
                "amounts",
                "Every amount is 1: the export has no amounts, so money figures are deal "
                "counts and deal size, bookings in money and win rate by value are not known.",
                True,
            )
        ]
    blank = int(wb.opportunities["amount"].isna().sum())
    text = f"Amounts are money in {cur}"
    text += f"; {blank} deal(s) have no amount." if blank else "."
    return [Finding("amounts", text)]


def _reach(wb: Workbook) -> list[Finding]:
    b = reach_bounds(wb)
    if not len(b):
        return []
    unknown = int(b["lost_unknown"].max())
    lost_known = int(b["lost_known"].iloc[0])
    lost = lost_known + unknown
    if not lost:
        return [Finding("reach", "No lost deal closed yet: how far lost deals get is not known.")]
    if not unknown:
        return [Finding("reach", f"All {lost:,} lost deals say how far they got.")]
    share = lost_known / lost
    if bool(b["learned"].all()):
        text = (
            f"{unknown:,} of {lost:,} lost deals ({_pct(unknown / lost)}) do not say how far they "
            "got; they are counted as the others got on."
        )
        return [Finding("reach", text)]
    text = (
        f"Only {lost_known:,} of {lost:,} lost deals ({_pct(share)}) say how far they got, so win "
        "probabilities after the first stage are the stage catalogue's, not learned, and stage "
        "conversions are not known. Fix: map the export's furthest stage (or a stage-history "
        "file, or snapshots) in the profile."
    )
    return [Finding("reach", text, True)]


def _stages(wb: Workbook) -> list[Finding]:
    p = win_probabilities(wb)
    if not len(p):
        return []
    out, parts = [], []
    for row in p.itertuples(index=False):
        learned = bool(row.learned) and np.isfinite(row.rate)
        kept = "" if learned else ", kept: not known from the data"
        parts.append(f"{row.stage} {_pct(row.p)} ({_pct(row.prior)}{kept})")
        if learned and row.n >= EXTREME_MIN_DEALS and not EXTREME < row.p < 1 - EXTREME:
            out.append(
                Finding(
                    "stages",
                    f"A deal at {row.stage} is learned to win {_pct(row.p)} of the time on "
                    f"{row.n:,.0f} deals: implausibly certain. Fix: check how lost deals' "
                    "furthest stage and the stage names are mapped.",
                    True,
                )
            )
    n = float(p["n"].iloc[0])
    head = f"Win probability by stage, learned from {n:,.0f} closed deals (the catalogue's in brackets): "
    return [Finding("stages", head + ", ".join(parts) + "."), *out]


def _periods(wb: Workbook) -> list[Finding]:
    o = wb.opportunities
    closed = o.loc[o["outcome"].isin(("won", "lost")), "close_date"].dropna()
    closed = closed[closed <= wb.as_of]
    if not len(closed):
        return [Finding("periods", "No deal has closed by the as-of date.", True)]
    cal = wb.config.calendar
    first, last = cal.period_label(closed.min(), "Q"), cal.period_label(closed.max(), "Q")
    out = [Finding("periods", f"Closed deals cover {first} to {last}.")]
    current = cal.period_label(wb.as_of, "Q")
    start, end = cal.period_bounds(current)
    touched = (
        o["created_date"].between(start, end)
        | o["close_date"].between(start, end)
        | (o["outcome"] == "open")
    )
    if not bool(touched.any()):
        out.append(
            Finding(
                "periods",
                f"The default period {current} (the quarter of the as-of date) has no deal "
                "created, closed or open: its figures would all be zero. Fix: set the as-of "
                "date or pass a period the data covers.",
                True,
            )
        )
    return out


def _targets(wb: Workbook) -> list[Finding]:
    if not len(wb.targets):
        text = "No targets: attainment and the chance of target are not known."
        return [Finding("targets", text, True)]
    if any(getattr(w, "code", None) == "derived-targets" for w in wb.warnings):
        text = "Targets were derived from past bookings, not given: attainment is against them."
        return [Finding("targets", text, True)]
    return [Finding("targets", f"Targets given: {len(wb.targets):,} rows.")]


def summary(wb: Workbook) -> list[Finding]:
    """What the kit believes about ``wb``, one plain sentence a finding.

    Parameters
    ----------
    wb : Workbook

    Returns
    -------
    list of Finding
        In the order as-of, amounts, reach, stages, periods, targets; ``flag`` marks what
        looks implausible.

    Examples
    --------
    >>> from salesnb.data.io import load
    >>> [f.topic for f in summary(load("data/sample"))][:2]  # doctest: +SKIP
    ['as_of', 'amounts']
    """
    out: list[Finding] = []
    for part in (_as_of, _amounts, _reach, _stages, _periods, _targets):
        out.extend(part(wb))
    return out


@memo.shared
def flagged(wb: Workbook) -> list[str]:
    """The flagged findings of :func:`summary` as sentences (for a document's data notes).

    Team-level and the same for every document of a data set: computed once per data set
    (:func:`salesnb.data.memo.shared`).

    Examples
    --------
    >>> flagged(load("data/sample"))  # doctest: +SKIP
    []
    """
    return [f.text for f in summary(wb) if f.flag]


__all__ = ["EXTREME", "EXTREME_MIN_DEALS", "Finding", "flagged", "summary"]

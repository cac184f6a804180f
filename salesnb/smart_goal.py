"""What a SMART goal names: the metric catalogue, and the :class:`Goal` with its sentence.

:mod:`salesnb.smart` checks a goal; :mod:`salesnb.smart_history` measures its metrics
from a workbook.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

import pandas as pd

from salesnb.coaching_facts import format_money
from salesnb.errors import ParameterError

__all__ = ["METRICS", "Goal", "Metric"]


@dataclass(frozen=True)
class Metric:
    """A metric a goal may name: its label, kind (unit family) and good direction."""

    name: str
    label: str
    kind: Literal["currency", "ratio", "count", "days"]
    higher_is_better: bool = True
    upper: float | None = None
    additive: bool = True  # sums over its period, so "per quarter" makes sense


#: The metrics a SMART goal can name (definitions: domain notes, section 2).
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("bookings", "bookings", "currency"),
        Metric("attainment", "quota attainment", "ratio", additive=False),
        Metric("win_rate", "win rate", "ratio", upper=1.0, additive=False),
        Metric("avg_deal_size", "average deal size", "currency", additive=False),
        Metric("deals_won", "deals won", "count"),
        Metric("pipeline_created", "pipeline created", "currency"),
        Metric("opportunities_created", "new opportunities", "count"),
        Metric("sales_cycle", "median sales cycle", "days", higher_is_better=False, additive=False),
        Metric("activities", "activities", "count"),
        Metric("calls", "calls", "count"),
        Metric("emails", "emails", "count"),
        Metric("meetings", "meetings", "count"),
        Metric("demos", "demos", "count"),
    )
}
_ALIASES = {
    "revenue": "bookings",
    "sales": "bookings",
    "quota": "attainment",
    "deal size": "avg_deal_size",
    "cycle": "sales_cycle",
    "pipeline": "pipeline_created",
    "opportunities": "opportunities_created",
    "wins": "deals_won",
    "conversion": "win_rate",
}
_UNIT_WORDS = {
    "ratio": {"%", "ratio", "share", "pct", "percent", "rate", "x"},
    "days": {"days", "day", "d"},
    "count": {
        "count",
        "#",
        "number",
        "n",
        "deals",
        "calls",
        "meetings",
        "emails",
        "demos",
        "activities",
        "opportunities",
    },
    "currency": {"currency", "$", "€", "£", "¥", "money"},
}


def _fmt_value(v: float, m: Metric | None, currency: str = "USD") -> str:
    if m is None or not math.isfinite(v):
        return f"{v:,.6g}"
    if m.kind == "currency":  # the kit's one money formatter, whole units
        return format_money(v, currency, compact=False)
    if m.kind == "ratio":
        return f"{v * 100:.1f}".rstrip("0").rstrip(".") + "%"
    if m.kind == "days":
        return f"{v:,.0f} days"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def _fmt_change(x: float, m: Metric) -> str:
    """A change: relative (+25%) or, for rates, in percentage points (+5 pts)."""
    if m.kind == "ratio":
        return f"{x * 100:+.1f}".rstrip("0").rstrip(".") + " pts"
    return f"{x * 100:+.0f}%"


def _date_or_none(value: Any) -> pd.Timestamp | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    return None if pd.isna(ts) else ts.normalize()


@dataclass
class Goal:
    """A proposed goal: one metric, a target (and baseline), a deadline, an owner, a why.

    ``target``/``baseline`` are in the metric's unit: currency, a 0-1 rate, a count per
    ``period`` or days. ``period`` is the span the metric is measured over.

    Examples
    --------
    >>> Goal("bookings", 150_000, baseline=120_000, deadline="2026-12-31", owner="Ann",
    ...      objective="grow new-logo revenue").as_text()
    'Ann will raise quarterly bookings from $120,000 to $150,000 (+25%) by 31 Dec 2026, in support of: grow new-logo revenue.'
    """

    metric: str
    target: float | None = None
    baseline: float | None = None
    unit: str | None = None
    deadline: Any = None
    owner: str | None = None
    objective: str | None = None
    period: Literal["month", "quarter", "year"] = "quarter"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Goal:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ParameterError(
                f"Unknown goal fields {sorted(unknown)!r}. Fix: use {sorted(known)}."
            )
        if "metric" not in d:
            raise ParameterError("A goal needs a 'metric'. Fix: add e.g. metric='bookings'.")
        return cls(**dict(d))

    def as_text(self, currency: str = "USD") -> str:
        """The goal as one SMART sentence; missing parts show as ``[owner]``, ``[deadline]``..."""
        m = METRICS.get(str(self.metric).strip().lower())
        label = m.label if m else str(self.metric)
        if m is None or m.additive:
            label = (
                {"month": "monthly", "quarter": "quarterly", "year": "annual"}.get(self.period, "")
                + " "
                + label
            )
        owner = self.owner or "[owner]"
        tgt = _num(self.target)
        t_txt = _fmt_value(tgt, m, currency) if tgt is not None else "[target]"
        dl = _date_or_none(self.deadline)
        when = f"{dl.day} {dl:%b %Y}" if dl is not None else "[deadline]"
        base = _num(self.baseline)
        if base is None or tgt is None or m is None:
            what = f"reach {label.strip()} of {t_txt}"
        else:
            verb = "raise" if tgt > base else "reduce" if tgt < base else "hold"
            rel = m.kind != "ratio"
            chg = (tgt / base - 1) if rel and base > 0 else (tgt - base) if not rel else None
            pct = f" ({_fmt_change(chg, m)})" if chg is not None and verb != "hold" else ""
            what = (
                f"{verb} {label.strip()} from {_fmt_value(base, m, currency)} to {t_txt}{pct}"
                if verb != "hold"
                else f"hold {label.strip()} at {t_txt}"
            )
        why = (
            f", in support of: {self.objective.strip()}"
            if self.objective
            else ", in support of: [objective]"
        )
        return f"{owner} will {what} by {when}{why}."


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None

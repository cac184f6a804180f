"""What a SMART goal names: the metric catalogue, and the :class:`Goal` with its sentence.

:mod:`salesnb.analytics.smart` checks a goal; :mod:`salesnb.analytics.smart_history` measures its metrics
from a workbook.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import pandas as pd

from salesnb.analytics.coaching_facts import format_money
from salesnb.core.errors import ParameterError

__all__ = [
    "METRICS",
    "Goal",
    "Metric",
    "RelativeTarget",
    "parse_number",
    "parse_relative",
    "smart_target",
]


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


# --------------------------------------------------------------------------- relative targets
_REL_NUM = r"(?P<num>\d+(?:\.\d*)?|\.\d+)"
_PCT = r"(?P<unit>%|pts?|pp|points?|percent|k|m)?"
_UP = {"more", "higher", "up", "increase", "over", "above"}
_DOWN = {"less", "fewer", "lower", "down", "decrease", "under", "below"}
_REL_FORMS = (
    re.compile(rf"^(?P<sign>[+-]){_REL_NUM}{_PCT}$"),
    re.compile(rf"^{_REL_NUM}{_PCT}(?P<word>[a-z]+)$"),
    re.compile(rf"^(?P<word>[a-z]+){_REL_NUM}{_PCT}$"),
    re.compile(rf"^[x×*]{_REL_NUM}$"),
    re.compile(rf"^{_REL_NUM}[x×]$"),
)


@dataclass(frozen=True)
class RelativeTarget:
    """A target typed as a change of the baseline: ``"+40%"``, ``"x1.4"``, ``"+5 pts"``.

    ``kind`` is ``"percent"`` (``amount`` in percent of the baseline, signed), ``"factor"``
    (the baseline times ``amount``), ``"points"`` (a rate plus ``amount`` percentage points)
    or ``"add"`` (the baseline plus ``amount`` in the metric's unit). ``text`` is as typed.
    """

    kind: Literal["percent", "factor", "points", "add"]
    amount: float
    text: str

    def resolve(self, baseline: float | None, metric: Metric | None,
                currency: str = "USD") -> tuple[float, str]:  # fmt: skip
        """The absolute target and a sentence saying how it was read.

        Raises :class:`~salesnb.core.errors.ParameterError` (with the fix) when there is no
        baseline, when ``"+10%"`` on a rate could mean points or a relative change, when
        points are given for a metric that is not a rate, or when the result is below zero.

        Examples
        --------
        >>> parse_relative("+40%").resolve(120_000, METRICS["bookings"])
        (168000.0, '+40% on the baseline $120,000 is $168,000.')
        >>> parse_relative("+5 pts").resolve(0.25, METRICS["win_rate"])[0]
        0.3
        """
        t = repr(self.text.strip())
        label = metric.label if metric else "this metric"
        if baseline is None:
            raise ParameterError(
                f"Target {t} is a change from the baseline, and {label} has no baseline here. "
                "Fix: type the baseline, or give the target itself (e.g. 150k)."
            )
        ratio = metric is not None and metric.kind == "ratio"
        b_txt = _fmt_value(baseline, metric, currency)
        if self.kind == "percent" and ratio:
            up = _fmt_value(baseline + self.amount / 100, metric, currency)
            rel = _fmt_value(baseline * (1 + self.amount / 100), metric, currency)
            sign = "+" if self.amount >= 0 else "-"
            raise ParameterError(
                f"Target {t} on {label} (baseline {b_txt}) is ambiguous: percentage points or "
                f"a relative change? Fix: write {sign}{abs(self.amount):g} pts for {up}, or "
                f"x{1 + self.amount / 100:g} for {rel}."
            )
        if self.kind == "points" and not ratio:
            raise ParameterError(
                f"Target {t}: points are for rates, and {label} is not one. "
                f"Fix: write {'+' if self.amount >= 0 else '-'}{abs(self.amount):g}% for a "
                "change in percent of the baseline."
            )
        value = {
            "percent": lambda: baseline * (1 + self.amount / 100),
            "factor": lambda: baseline * self.amount,
            "points": lambda: baseline + self.amount / 100,
            "add": lambda: baseline + self.amount,
        }[self.kind]()
        if value < 0:
            raise ParameterError(
                f"Target {t} would take {label} below zero (baseline {b_txt}). "
                "Fix: ask for a smaller cut."
            )
        how = {
            "percent": f"{self.amount:+g}%",
            "factor": f"x{self.amount:g}",
            "points": f"{self.amount:+g} pts",
            "add": f"{'+' if self.amount >= 0 else '-'}"
            f"{_fmt_value(abs(self.amount), metric, currency)}",
        }[self.kind]
        return value, f"{how} on the baseline {b_txt} is {_fmt_value(value, metric, currency)}."


def parse_relative(text: Any) -> RelativeTarget | None:
    """A target typed as a change of the baseline, or None if ``text`` is not one.

    Understood: ``"+40%"``, ``"-10%"``, ``"40% more"``, ``"10% less"``, ``"up 40%"``,
    ``"x1.4"``, ``"1.4x"``, ``"+5 pts"`` (percentage points, rates only) and a signed amount
    such as ``"+20k"`` (added to the baseline). Plain numbers (``"150k"``) are absolute.

    Examples
    --------
    >>> parse_relative("+40%")
    RelativeTarget(kind='percent', amount=40.0, text='+40%')
    >>> parse_relative("10% less").amount, parse_relative("x1.4").kind, parse_relative("150k")
    (-10.0, 'factor', None)
    """
    if text is None or isinstance(text, int | float):
        return None
    s = re.sub(r"[\s,_$€£¥]", "", str(text)).lower()
    for form in _REL_FORMS:
        m = form.match(s)
        if not m:
            continue
        g = m.groupdict()
        num = float(g["num"])
        if "sign" not in g and "word" not in g:
            return RelativeTarget("factor", num, str(text))
        if "word" in g:
            if g["word"] not in _UP | _DOWN:
                continue  # "x1.4" is a factor (a later form)
            sign = 1.0 if g["word"] in _UP else -1.0
        else:
            sign = 1.0 if g["sign"] == "+" else -1.0
        unit = g.get("unit") or ""
        if unit in {"%", "percent"}:
            return RelativeTarget("percent", sign * num, str(text))
        if unit in {"pt", "pts", "pp", "point", "points"}:
            return RelativeTarget("points", sign * num, str(text))
        if "word" in g and not unit:
            return None  # "40 more": percent or units? Not guessed.
        scale = {"k": 1e3, "m": 1e6}.get(unit, 1.0)
        return RelativeTarget("add", sign * num * scale, str(text))
    return None


_NUM = re.compile(r"^([+-]?\d+(?:\.\d*)?|[+-]?\.\d+)\s*([kmb%]?)$", re.IGNORECASE)


def parse_number(text: Any, name: str = "value") -> float | None:
    """A number typed by a person: ``"150000"``, ``"150,000"``, ``"$150k"``, ``"1.2M"``, ``"30%"``.

    Blank gives None; ``%`` divides by 100 (so ``"30%"`` is the rate 0.3).

    Examples
    --------
    >>> parse_number("$150k"), parse_number("1,200,000"), parse_number("30%"), parse_number(" ")
    (150000.0, 1200000.0, 0.3, None)
    """
    if text is None:
        return None
    if isinstance(text, int | float | np.number):
        v = float(text)
        return v if math.isfinite(v) else None
    s = re.sub(r"[\s,_$€£¥]", "", str(text))
    if not s:
        return None
    m = _NUM.match(s)
    if not m:
        msg = f"{name} {text!r} is not a number. Fix: type digits such as 150000, 150k or 30%."
        raise ParameterError(msg)
    scale = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "%": 0.01}[m.group(2).lower()]
    return float(m.group(1)) * scale


def smart_target(
    text: Any, baseline: float | None, metric: str, currency: str = "USD"
) -> tuple[float | None, str | None]:
    """The absolute target typed in the goal builder, and how a relative one was read.

    ``"150k"`` is absolute; ``"+40%"``, ``"40% more"``, ``"x1.4"``, ``"+5 pts"`` (rates) and
    ``"+20k"`` are changes of ``baseline`` (see :func:`salesnb.analytics.smart_goal.parse_relative`).
    A bare percentage for a metric that is not a rate (``"40%"`` of bookings) is refused
    with the fix, as is ``"+10%"`` of a rate (points or relative?).

    Examples
    --------
    >>> smart_target("+40%", 120_000, "bookings")
    (168000.0, '+40% on the baseline $120,000 is $168,000.')
    >>> smart_target("150k", 120_000, "bookings")
    (150000.0, None)
    """
    m = METRICS.get(metric)
    rel = parse_relative(text)
    if rel is not None:
        return rel.resolve(baseline, m, currency)
    value = parse_number(text, "Target")
    if value is not None and "%" in str(text) and m is not None and m.kind != "ratio":
        pct = round(value * 100, 6)
        more = RelativeTarget("percent", pct, f"+{pct:g}%")
        hint = (
            f" (here {more.resolve(baseline, m, currency)[1][:-1].rsplit(' is ', 1)[1]})"
            if baseline is not None
            else ""
        )
        raise ParameterError(
            f"Target {str(text).strip()!r}: {m.label} is not a percentage. Fix: write "
            f"+{pct:g}% for {pct:g}% more than the baseline{hint}, x{pct / 100:g} for "
            f"{pct:g}% of it, or the {'amount' if m.kind == 'currency' else m.kind} itself."
        )
    return value, None

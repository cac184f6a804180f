"""What the coaching rules know about one rep, and how its numbers are shown.

:data:`METRICS` is the contract between the KPI code that fills a :class:`RepFacts` and the
rules that read it (:mod:`salesnb.analytics.coaching_rules`); :func:`format_value` formats every number
a talking point or PIP goal cites. Peers appear only as team aggregates, never by name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd

from salesnb.core.errors import ParameterError

__all__ = [
    "ALIASES",
    "CURRENCY_SYMBOLS",
    "METRICS",
    "UNITS",
    "DealRef",
    "MetricFacts",
    "MetricInfo",
    "RepFacts",
    "currency_symbol",
    "format_money",
    "format_value",
]


@dataclass(frozen=True)
class MetricInfo:
    """What a metric is: label, display unit, which direction is better, and its definition."""

    label: str
    unit: str
    better: Literal["higher", "lower"]
    definition: str


# The contract between the KPI code that fills RepFacts and the rules that read it.
METRICS: dict[str, MetricInfo] = {
    "attainment": MetricInfo("Quota attainment", "percent", "higher", "closed-won / target"),
    "bookings": MetricInfo("Bookings", "currency", "higher", "closed-won amount"),
    "win_rate": MetricInfo("Win rate", "percent", "higher", "won / (won + lost), by count"),
    "win_rate_value": MetricInfo("Win rate by value", "percent", "higher", "won / closed amount"),
    "avg_deal_size": MetricInfo("Average deal size", "currency", "higher", "mean won amount"),
    "sales_cycle_days": MetricInfo(
        "Sales cycle", "days", "lower", "median days from creation to close of won deals"
    ),
    "coverage_current": MetricInfo(
        "Coverage this period", "multiple", "higher", "open pipeline due / target still to close"
    ),
    "coverage_next": MetricInfo(
        "Coverage next period", "multiple", "higher", "open pipeline due next period / its target"
    ),
    "weighted_pipeline": MetricInfo(
        "Weighted pipeline", "currency", "higher", "open amount x stage win probability"
    ),
    "velocity": MetricInfo(
        "Sales velocity", "currency_per_day", "higher", "open deals x win rate x deal size / cycle"
    ),
    "stale_deals": MetricInfo("Stale deals", "count", "lower", "open deals with no recent change"),
    "past_due_deals": MetricInfo(
        "Past-due deals", "count", "lower", "open deals whose close date is past"
    ),
    "slipped_deals": MetricInfo(
        "Slipped deals", "count", "lower", "deals whose close date left the period"
    ),
    "slipped_amount": MetricInfo("Slipped amount", "currency", "lower", "amount of slipped deals"),
    "concentration_top_deal": MetricInfo(
        "Top-deal concentration", "percent", "lower", "share of open pipeline in the largest deal"
    ),
    "activities": MetricInfo("Activities", "count", "higher", "calls, emails and meetings logged"),
    "activity_to_opp": MetricInfo(
        "Activity-to-opportunity conversion", "percent", "higher", "opportunities / activities"
    ),
    "bookings_growth": MetricInfo(
        "Bookings growth", "growth", "higher", "bookings / previous period's bookings - 1"
    ),
    "open_deals": MetricInfo("Open deals", "count", "higher", "open opportunities"),
    "stage_conversion": MetricInfo(
        "Stage conversion", "percent", "higher", "share of deals reaching a stage that move on"
    ),
    "days_left": MetricInfo(
        "Days left in the period", "days", "higher", "days from the as-of date to the period's end"
    ),
}
_DEAL = "biggest_open_deal"  # a pseudo-metric: only the `present` test reads it
# Column names other salesnb modules use for the same metrics (kpis.scorecard).
ALIASES = {"median_cycle_days": "sales_cycle_days", "coverage": "coverage_current"}
ALIASES["growth"] = "bookings_growth"
_FIELDS = ("value", "median", "q1", "q3", "previous", "percentile", "target")
_FIELD_ALIASES = {
    "team_median": "median", "peer_median": "median", "team_q1": "q1", "peer_p25": "q1",
    "team_q3": "q3", "peer_p75": "q3", "previous_value": "previous",
}  # fmt: skip


# --------------------------------------------------------------------------- formatting
#: The kit's one currency table: ISO code -> symbol (other codes are shown as a prefix).
CURRENCY_SYMBOLS = {
    "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CNY": "¥", "INR": "₹", "KRW": "₩",
    "BRL": "R$", "AUD": "A$", "CAD": "C$", "NZD": "NZ$", "HKD": "HK$", "SGD": "S$",
    "MXN": "MX$", "ILS": "₪", "TRY": "₺",
}  # fmt: skip
_SYMBOLS = CURRENCY_SYMBOLS
UNITS = (
    "currency", "currency_per_day", "percent", "chance", "growth", "points", "multiple", "days",
    "count", "percentile", "text",
)  # fmt: skip


def currency_symbol(currency: str = "USD") -> str:
    """The prefix money values carry: a symbol from :data:`CURRENCY_SYMBOLS`, else the code and
    a space; '' for an export without amounts (``"deals"``). A symbol given instead of a code
    (up to 3 characters, not all letters or digits: ``"$"``, ``"R$"``) is shown as it is.

    Examples
    --------
    >>> currency_symbol("EUR"), currency_symbol("sek"), currency_symbol("deals")
    ('€', 'SEK ', '')
    >>> currency_symbol("$"), currency_symbol("R$")
    ('$', 'R$')
    """
    code = str(currency).strip()
    if code == "deals":
        return ""
    if code.upper() in CURRENCY_SYMBOLS:
        return CURRENCY_SYMBOLS[code.upper()]
    if 0 < len(code) <= 3 and not code.isalnum():  # already a symbol
        return code
    return f"{code.upper()} "


def format_money(
    value: Any, currency: str = "USD", *, compact: bool = True, signed: bool = False
) -> str:
    """Money as text, the kit's one way: compact ``"$1.2M"``, ``"€85K"`` (K, M, B), or whole
    units ``"$1,250,000"`` with ``compact=False``; None, NaN or an infinite value gives
    ``"n/a"``. Chart labels use it too (:func:`salesnb.reports.chartkit.format_money`).

    Examples
    --------
    >>> format_money(1_234_567), format_money(1_234_567, "EUR", compact=False)
    ('$1.2M', '€1,234,567')
    >>> format_money(-950, "CHF", compact=False), format_money(1500, signed=True)
    ('-CHF 950', '+$1.5K')
    """
    if value is None:
        return "n/a"
    v = float(value)
    if not math.isfinite(v):
        return "n/a"
    plus = "+" if signed and v > 0 else ""
    if compact or currency == "deals":
        return plus + _money(v, currency)
    txt = f"{abs(v):,.0f}"
    sign = "-" if v < 0 and txt.strip("0,") else ""
    return f"{plus}{sign}{currency_symbol(currency)}{txt}"


def _money(v: float, currency: str) -> str:
    if currency == "deals":  # an export without amounts: figures count deals
        a = abs(v)
        txt = f"{v:,.0f}" if a >= 10 or a == round(a) else f"{v:,.1f}"
        return f"{txt} deal" if txt in ("1", "-1") else f"{txt} deals"
    a = abs(v)
    suffix, txt = "", f"{a:,.0f}"
    for s, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if a >= scale * 0.9995:  # 999,600 reads "$1M", not "$1000K"
            x = a / scale
            suffix, txt = s, (f"{x:.1f}" if x < 99.95 else f"{x:,.0f}").removesuffix(".0")
            break
    sign = "-" if v < 0 and txt.strip("0.,") else ""
    return f"{sign}{currency_symbol(currency)}{txt}{suffix}"


def _pct(p: float) -> str:
    if abs(p) < 9.95 and abs(round(p, 1) - round(p)) >= 0.05:
        return f"{p:.1f}"
    text = f"{p:.0f}"
    return "0" if text == "-0" else text  # -0.3% reads "0%", not "-0%"


def format_value(value: Any, unit: str, currency: str = "USD", *, signed: bool = False) -> str:
    """Format a number for a talking point.

    Parameters
    ----------
    value : number or None
        None or NaN gives ``"n/a"``. Ratios and shares are fractions (0.34 = 34 %).
    unit : str
        One of ``UNITS``: currency, currency_per_day, percent, chance (a probability estimated
        from a model or a simulation: "under 1%" and "over 99%" at the ends, never a certain
        0% or 100%), growth (signed %), points
        (percentage points of a fraction), multiple (coverage, 2.1x), days, count, percentile
        (ordinal), text.
    currency : str
        ISO code; $, €, £, ¥, ₹, ₩ are shown as symbols, other codes as a prefix.
    signed : bool
        Show a ``+`` in front of positive values.

    Examples
    --------
    >>> format_value(1_234_567, "currency"), format_value(0.3412, "percent")
    ('$1.2M', '34%')
    >>> format_value(42, "days"), format_value(2.05, "multiple"), format_value(0.25, "growth")
    ('42 days', '2.0x', '+25%')
    >>> format_value(85_000, "currency", "CHF"), format_value(0.12, "points", signed=True)
    ('CHF 85K', '+12 pts')
    >>> format_value(0.9996, "chance"), format_value(0.004, "chance"), format_value(0.42, "chance")
    ('over 99%', 'under 1%', '42%')
    >>> format_value(-0.004, "multiple", signed=True), format_value(0.3, "multiple", signed=True)
    ('0.0x', '+0.3x')
    """
    if unit not in UNITS:
        raise ParameterError(f"Unknown unit {unit!r}. Fix: use one of {', '.join(UNITS)}.")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "text":
        return str(value)
    v = float(value)
    signed = signed or unit == "growth"
    plus = "+" if signed and v > 0 else ""
    if unit == "currency":
        return format_money(v, currency, signed=signed)
    if unit == "currency_per_day":
        return format_money(v, currency, signed=signed) + "/day"
    if unit == "chance":
        return "over 99%" if v > 0.99 else "under 1%" if v < 0.01 else f"{_pct(v * 100)}%"
    if unit in ("percent", "growth"):
        return f"{plus}{_pct(v * 100)}%"
    if unit == "points":
        return f"{plus}{_pct(v * 100)} pts"
    if unit == "multiple":
        shown = f"{v:.1f}"
        return "0.0x" if shown in ("0.0", "-0.0") else f"{plus}{shown}x"  # no "-0.0x", "+0.0x"
    if unit == "days":
        n = round(v)
        return f"{plus}{n} day{'' if abs(n) == 1 else 's'}"
    if unit == "count":
        return f"{plus}{round(v):,}"
    n = round(v)  # percentile as an ordinal
    tail = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{tail}"


# --------------------------------------------------------------------------- facts
def _num(value: Any, where: str) -> float | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        msg = f"{where} is {value!r}, not a number. Fix: pass a number, or None when unknown."
        raise ParameterError(msg)
    v = float(value)
    if math.isnan(v):
        return None
    if math.isinf(v):
        msg = f"{where} is {value!r}. Fix: pass a finite number, or None when unknown."
        raise ParameterError(msg)
    return v


@dataclass(frozen=True)
class MetricFacts:
    """One metric of one rep: the rep's value and the team's anonymised aggregates.

    All numbers are in the metric's unit (fractions for ratios, days, currency); None = unknown.
    ``percentile`` is 0-100 with higher = better for that metric (top quartile = 75 and above);
    ``target`` overrides the rules file's ``[targets]`` (e.g. the expected attainment to date).
    """

    value: float | None
    median: float | None = None
    q1: float | None = None
    q3: float | None = None
    previous: float | None = None
    percentile: float | None = None
    target: float | None = None

    def __post_init__(self) -> None:
        for name in _FIELDS:
            object.__setattr__(self, name, _num(getattr(self, name), f"Metric field {name!r}"))


@dataclass(frozen=True)
class DealRef:
    """The rep's own biggest open deal, for the deal-review check-in (amount in currency)."""

    name: str
    amount: float | None = None
    stage: str | None = None
    close_date: date | None = None


def _metric_facts(name: str, raw: Any) -> MetricFacts:
    if isinstance(raw, MetricFacts):
        return raw
    if isinstance(raw, Mapping):
        fields = {_FIELD_ALIASES.get(str(k), str(k)): v for k, v in raw.items()}
        bad = sorted(set(fields) - set(_FIELDS))
        if bad:
            # Only aggregates are accepted, which is also what keeps peer names out.
            msg = (
                f"Metric {name!r} has unknown field(s) {bad!r}. Fix: give only "
                f"{', '.join(_FIELDS)} (team aggregates, never another rep's data)."
            )
            raise ParameterError(msg)
        return MetricFacts(**{k: _num(v, f"{name}.{k}") for k, v in fields.items()})
    return MetricFacts(_num(raw, f"Metric {name!r}"))


def _stage_entry(stage: str, raw: Any) -> tuple[float | None, float | None, float | None]:
    if isinstance(raw, Mapping):
        raw = (raw.get("rep"), raw.get("team"), raw.get("deals"))
    if not isinstance(raw, Sequence) or isinstance(raw, str) or len(raw) not in (2, 3):
        msg = (
            f"stage_conversion[{stage!r}] is {raw!r}. Fix: give (rep, team) or "
            "(rep, team, deals reaching the stage), conversions as fractions 0-1."
        )
        raise ParameterError(msg)
    vals = [_num(v, f"stage_conversion[{stage!r}]") for v in raw]
    return vals[0], vals[1], vals[2] if len(vals) == 3 else None


@dataclass(frozen=True)
class RepFacts:
    """Everything the coaching rules know about one rep: named metrics and stage conversion.

    Parameters
    ----------
    metrics : mapping of str to MetricFacts
        Keys from ``METRICS`` (``ALIASES`` are renamed). Missing or NaN metrics make the rules
        that need them silent.
    stage_conversion : mapping of str to tuple
        Stage name (in pipeline order) -> ``(rep, team)`` or ``(rep, team, deals)``: the share
        of deals reaching the stage that move on, and how many of the rep's deals reached it.
    biggest_open_deal : DealRef, optional
        The rep's own largest open deal.
    subject : str
        Display name of the rep (never used for peers).
    peers : str
        What the peer figures are the median of, as a noun for the sentences ("team",
        "region"); the templates' ``{peers}``. Default "peer group" when it is not known.

    Examples
    --------
    >>> RepFacts.from_mapping({"win_rate": {"value": 0.2, "median": 0.3}}).value("win_rate")
    0.2
    """

    metrics: Mapping[str, MetricFacts] = field(default_factory=dict)
    stage_conversion: Mapping[str, tuple[float | None, ...]] = field(default_factory=dict)
    biggest_open_deal: DealRef | None = None
    subject: str = ""
    peers: str = "peer group"

    def __post_init__(self) -> None:
        metrics = {}
        for raw_name, raw in dict(self.metrics).items():
            name = ALIASES.get(str(raw_name), str(raw_name))
            if name not in METRICS or name == "stage_conversion":
                known = ", ".join(m for m in METRICS if m != "stage_conversion")
                msg = f"Unknown metric {raw_name!r}. Fix: use one of {known}."
                raise ParameterError(msg)
            metrics[name] = _metric_facts(name, raw)
        stages = {str(s): _stage_entry(str(s), v) for s, v in dict(self.stage_conversion).items()}
        deal = self.biggest_open_deal
        if deal is not None and not isinstance(deal, DealRef):
            if not isinstance(deal, Mapping) or "name" not in deal:
                msg = f"biggest_open_deal is {deal!r}. Fix: pass a DealRef or a dict with 'name'."
                raise ParameterError(msg)
            deal = DealRef(
                **{k: deal[k] for k in ("name", "amount", "stage", "close_date") if k in deal}
            )
        object.__setattr__(self, "metrics", metrics)
        object.__setattr__(self, "stage_conversion", stages)
        object.__setattr__(self, "biggest_open_deal", deal)
        object.__setattr__(self, "peers", str(self.peers or "").strip() or "peer group")

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, subject: str = "", peers: str = "peer group"
    ) -> RepFacts:
        """Build from ``{metric: number | {"value", "median", ...}}``; ``stage_conversion`` and
        ``biggest_open_deal`` keys go to their own fields."""
        data = dict(data)
        stages = data.pop("stage_conversion", None) or {}
        deal = data.pop(_DEAL, None)
        return cls(
            metrics=data, stage_conversion=stages, biggest_open_deal=deal, subject=subject,
            peers=peers,
        )  # fmt: skip

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, *, subject: str = "", peers: str = "peer group"
    ) -> RepFacts:
        """Build from a long table: ``metric, value`` and any of ``median, q1, q3, previous,
        percentile, target`` (``peer_median, peer_p25, peer_p75`` as from
        :func:`salesnb.reports.subject.peer_aggregates` also work). Rows named
        ``stage_conversion:<stage>`` carry the rep's conversion in ``value`` and the team's in
        ``median``."""
        if not isinstance(frame, pd.DataFrame) or not {"metric", "value"} <= set(frame.columns):
            msg = "from_frame needs a DataFrame with columns 'metric' and 'value'. Fix: add them."
            raise ParameterError(msg)
        cols = [c for c in frame.columns if _FIELD_ALIASES.get(c, c) in _FIELDS]
        metrics: dict[str, dict[str, Any]] = {}
        stages: dict[str, tuple[Any, Any]] = {}
        for rec in frame[["metric", *[c for c in cols if c != "value"], "value"]].to_dict(
            "records"
        ):
            name = str(rec.pop("metric"))
            if name.startswith("stage_conversion:"):
                stages[name.split(":", 1)[1]] = (rec.get("value"), rec.get("median"))
            else:
                metrics[name] = rec
        return cls(metrics=metrics, stage_conversion=stages, subject=subject, peers=peers)

    def metric(self, name: str) -> MetricFacts | None:
        """The metric's facts, or None when it is missing or has no value."""
        mf = self.metrics.get(name)
        return mf if mf is not None and mf.value is not None else None

    def value(self, name: str) -> float | None:
        mf = self.metric(name)
        return None if mf is None else mf.value


def _as_facts(facts: RepFacts | Mapping[str, Any]) -> RepFacts:
    if isinstance(facts, RepFacts):
        return facts
    if isinstance(facts, Mapping):
        return RepFacts.from_mapping(facts)
    msg = f"facts is {type(facts).__name__}. Fix: pass a RepFacts or a mapping of metrics."
    raise ParameterError(msg)


def _target(facts: RepFacts, metric: str, targets: Mapping[str, float]) -> float | None:
    """The metric's target: the rep's own (``MetricFacts.target``), else the rules file's."""
    mf = facts.metrics.get(metric)
    if mf is not None and mf.target is not None:
        return mf.target
    t = targets.get(metric)
    return None if t is None else float(t)


def _int_param(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ParameterError(f"{name} is {value!r}. Fix: pass a whole number of {low} or more.")
    return int(value)

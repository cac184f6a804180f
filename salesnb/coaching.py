"""Coaching rules: turn a rep's KPIs into talking points with evidence, and into PIP goals.

The input is a :class:`RepFacts`: named metrics for one rep, each with the rep's value and the
team's anonymised aggregates (median, quartiles, the rep's percentile), so no peer can be named.
Rules and thresholds are data (``coaching_rules.toml``, see ``docs/coaching.md``): a small
declarative vocabulary evaluated here without ``eval``.

Examples
--------
>>> facts = RepFacts.from_mapping({
...     "coverage_next": {"value": 1.2, "median": 2.8},
...     "attainment": {"value": 1.05, "median": 0.9, "percentile": 80},
... })
>>> [p.rule_id for p in talking_points(facts, min_points=1)]
['top_quartile_attainment', 'low_coverage_next']
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from salesnb.errors import ConfigError, ParameterError

Kind = Literal["concern", "recognition", "check-in"]
KINDS: tuple[str, ...] = ("concern", "recognition", "check-in")


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
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "CNY": "¥", "KRW": "₩"}
UNITS = (
    "currency", "currency_per_day", "percent", "growth", "points", "multiple", "days", "count",
    "percentile", "text",
)  # fmt: skip


def _money(v: float, currency: str) -> str:
    a = abs(v)
    suffix, txt = "", f"{a:,.0f}"
    for s, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if a >= scale * 0.9995:  # 999,600 reads "$1M", not "$1000K"
            x = a / scale
            suffix, txt = s, (f"{x:.1f}" if x < 99.95 else f"{x:,.0f}").removesuffix(".0")
            break
    sign = "-" if v < 0 and txt.strip("0.,") else ""
    code = currency.upper()
    if code in _SYMBOLS:
        return f"{sign}{_SYMBOLS[code]}{txt}{suffix}"
    return f"{sign}{code} {txt}{suffix}"


def _pct(p: float) -> str:
    if abs(p) < 9.95 and abs(round(p, 1) - round(p)) >= 0.05:
        return f"{p:.1f}"
    return f"{p:.0f}"


def format_value(value: Any, unit: str, currency: str = "USD", *, signed: bool = False) -> str:
    """Format a number for a talking point.

    Parameters
    ----------
    value : number or None
        None or NaN gives ``"n/a"``. Ratios and shares are fractions (0.34 = 34 %).
    unit : str
        One of ``UNITS``: currency, currency_per_day, percent, growth (signed %), points
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
        return plus + _money(v, currency)
    if unit == "currency_per_day":
        return plus + _money(v, currency) + "/day"
    if unit in ("percent", "growth"):
        return f"{plus}{_pct(v * 100)}%"
    if unit == "points":
        return f"{plus}{_pct(v * 100)} pts"
    if unit == "multiple":
        return f"{plus}{v:.1f}x"
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

    Examples
    --------
    >>> RepFacts.from_mapping({"win_rate": {"value": 0.2, "median": 0.3}}).value("win_rate")
    0.2
    """

    metrics: Mapping[str, MetricFacts] = field(default_factory=dict)
    stage_conversion: Mapping[str, tuple[float | None, ...]] = field(default_factory=dict)
    biggest_open_deal: DealRef | None = None
    subject: str = ""

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

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, subject: str = "") -> RepFacts:
        """Build from ``{metric: number | {"value", "median", ...}}``; ``stage_conversion`` and
        ``biggest_open_deal`` keys go to their own fields."""
        data = dict(data)
        stages = data.pop("stage_conversion", None) or {}
        deal = data.pop(_DEAL, None)
        return cls(metrics=data, stage_conversion=stages, biggest_open_deal=deal, subject=subject)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, subject: str = "") -> RepFacts:
        """Build from a long table: ``metric, value`` and any of ``median, q1, q3, previous,
        percentile, target`` (``peer_median, peer_p25, peer_p75`` as from
        :func:`salesnb.subject.peer_aggregates` also work). Rows named
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
        return cls(metrics=metrics, stage_conversion=stages, subject=subject)

    def metric(self, name: str) -> MetricFacts | None:
        """The metric's facts, or None when it is missing or has no value."""
        mf = self.metrics.get(name)
        return mf if mf is not None and mf.value is not None else None

    def value(self, name: str) -> float | None:
        mf = self.metric(name)
        return None if mf is None else mf.value


# --------------------------------------------------------------------------- rules
# test -> (required parameters, optional parameters with defaults)
_TESTS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "below": (("threshold",), {}),
    "above": (("threshold",), {}),
    "at_least": (("threshold",), {}),
    "at_most": (("threshold",), {}),
    "below_median": ((), {"ratio": 1.0}),
    "above_median": ((), {"ratio": 1.0}),
    "below_target": ((), {"ratio": 1.0}),
    "at_least_target": ((), {"ratio": 1.0}),
    "below_percentile": (("threshold",), {}),
    "at_least_percentile": (("threshold",), {}),
    "growth_above": (("threshold",), {}),
    "growth_below": (("threshold",), {}),
    "change_above": (("threshold",), {}),
    "change_below": (("threshold",), {}),
    "share_above": (("threshold", "of"), {}),
    "share_below": (("threshold", "of"), {}),
    "stage_gap": ((), {"min_gap": 0.1, "max_ratio": 1.0, "min_deals": 0}),
    "present": ((), {}),
}
_EPS = 1e-9


@dataclass(frozen=True)
class Condition:
    """One test of the vocabulary on one metric (see ``docs/coaching.md``)."""

    test: str
    metric: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    """A coaching rule: conditions on metrics, and the talking point it produces."""

    id: str
    kind: Kind
    priority: int
    metric: str
    when: tuple[Condition, ...]
    any_of: tuple[Condition, ...]
    text: str
    action: str = ""
    group: str | None = None


@dataclass(frozen=True)
class PipSettings:
    """How PIP goals are set: share of the gap to close, cap, tolerance, eligible metrics."""

    gap_share: float = 0.5
    max_relative_change: float = 0.5
    tolerance: float = 0.1
    default_horizon_days: int = 90
    metrics: tuple[str, ...] = ("win_rate", "stage_conversion", "activity_to_opp", "activities")
    horizon_days: Mapping[str, int] = field(default_factory=dict)


class RuleSet(list):
    """The rules of one file (a ``list`` of :class:`Rule`) plus its targets, support and PIP
    settings."""

    def __init__(
        self,
        rules: Iterable[Rule] = (),
        *,
        targets: Mapping[str, float] | None = None,
        support: Mapping[str, str] | None = None,
        pip: PipSettings | None = None,
        source: str = "",
    ):
        super().__init__(rules)
        self.targets = dict(targets or {})
        self.support = dict(support or {})
        self.pip = pip or PipSettings()
        self.source = source


_SHORT = (
    "value", "median", "q1", "q3", "previous", "percentile", "target", "growth", "change",
    "pct_vs_median", "pct_vs_target",
)  # fmt: skip
_STAGE_KEYS = ("stage", "stage_rep", "stage_team", "stage_gap")
_DEAL_KEYS = ("deal_name", "deal_amount", "deal_stage", "deal_close")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class _Bad(Exception):
    """Internal: a validation failure, turned into a ConfigError that names the rule."""


def _canonical(name: str, metric: str) -> str:
    """A template name as its evidence key: ``value`` -> ``win_rate``, ``median`` ->
    ``win_rate.median``, ``win_rate.value`` -> ``win_rate``."""
    if name in _SHORT:
        name = metric if name == "value" else f"{metric}.{name}"
    return name.removesuffix(".value")


def _allowed(name: str, rule_metric: str, has_stage: bool) -> bool:
    if name in _DEAL_KEYS or (has_stage and name in _STAGE_KEYS):
        return True
    if name in _SHORT:
        return rule_metric in METRICS and rule_metric != "stage_conversion"
    base, _, fld = name.partition(".")
    ok_base = base in METRICS and base != "stage_conversion"
    return ok_base and (fld == "" or fld in _SHORT)


def _check_template(template: str, rule_metric: str, has_stage: bool) -> None:
    stripped = _OPTIONAL.sub(lambda m: m.group(1), template)
    if "[" in stripped or "]" in stripped:
        raise _Bad(
            f"has unbalanced or nested [ ] in {template!r}. "
            "Fix: use [ ] only around an optional part, one level deep."
        )
    for name in _PLACEHOLDER.findall(template):
        if not _allowed(name, rule_metric, has_stage):
            extra = ", ".join(_STAGE_KEYS) + ", " if has_stage else ""
            raise _Bad(
                f"uses unknown placeholder {{{name}}}. Fix: use one of {', '.join(_SHORT)}, "
                f"{extra}{', '.join(_DEAL_KEYS)}, <metric> or <metric>.<field>."
            )
    if re.search(r"[{}]", _PLACEHOLDER.sub("", template)):
        raise _Bad(f"has a stray brace in {template!r}. Fix: write placeholders as {{name}}.")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Bad(f"has {what} = {value!r}. Fix: write a finite number, e.g. {what} = 0.8.")
    return float(value)


def _condition(raw: Any, rule_metric: str | None) -> Condition:
    if not isinstance(raw, Mapping):
        raise _Bad(f"has a condition {raw!r}. Fix: write it as {{ test = ..., ... }}.")
    raw = dict(raw)
    test = raw.pop("test", None)
    if test not in _TESTS:
        raise _Bad(f"has unknown test {test!r}. Fix: use one of {', '.join(_TESTS)}.")
    metric = raw.pop("metric", rule_metric)
    if metric is None:
        raise _Bad(f"has a {test!r} condition without a metric. Fix: add metric = '...'.")
    if metric not in METRICS and not (metric == _DEAL and test == "present"):
        known = ", ".join(METRICS)
        raise _Bad(f"names unknown metric {metric!r}. Fix: use one of {known}.")
    if (metric == "stage_conversion") != (test == "stage_gap"):
        raise _Bad(
            f"tests {metric!r} with {test!r}. Fix: stage_conversion is tested with "
            "'stage_gap' only, and 'stage_gap' only applies to stage_conversion."
        )
    required, optional = _TESTS[test]
    unknown = sorted(set(raw) - set(required) - set(optional))
    missing = [p for p in required if p not in raw]
    if unknown or missing:
        allowed = ", ".join([*required, *optional]) or "no parameters"
        problem = f"unknown parameter(s) {unknown!r}" if unknown else f"no {missing[0]!r}"
        raise _Bad(f"has a {test!r} condition with {problem}. Fix: it takes {allowed}.")
    params = dict(optional)
    for key, val in raw.items():
        params[key] = val if key == "of" else _number(val, key)
    _check_params(test, metric, params)
    return Condition(test, metric, params)


def _check_params(test: str, metric: str, p: dict[str, Any]) -> None:
    unit = METRICS[metric].unit if metric in METRICS else "text"
    t = p.get("threshold")
    if test.endswith("percentile") and not 0 <= t <= 100:
        raise _Bad(f"has percentile threshold {t!r}. Fix: use 0-100 (75 = top quartile).")
    if test in ("below", "above", "at_least", "at_most") and unit == "percent" and abs(t) > 5:
        raise _Bad(
            f"compares {metric!r} (a fraction) with {t!r}. Fix: write fractions, "
            f"e.g. {t / 100:g} for {t:g}%."
        )
    if test in ("below", "above", "at_least", "at_most") and unit in ("count", "days") and t < 0:
        raise _Bad(f"compares {metric!r} with a negative threshold {t!r}. Fix: use 0 or more.")
    if test.startswith("share") and (p["of"] not in METRICS or p["of"] == "stage_conversion"):
        raise _Bad(f"has of = {p['of']!r}. Fix: name a metric, e.g. of = 'open_deals'.")
    if "ratio" in p and not 0 < p["ratio"] <= 10:
        raise _Bad(f"has ratio = {p['ratio']!r}. Fix: use a positive multiple, e.g. 0.8 or 1.25.")
    bad_gap = not 0 <= p.get("min_gap", 0) <= 1 or not 0 < p.get("max_ratio", 1) <= 1
    if test == "stage_gap" and (bad_gap or p["min_deals"] < 0):
        raise _Bad(
            f"has stage_gap parameters {p!r}. Fix: min_gap 0-1 (fraction points), "
            "max_ratio in (0, 1], min_deals 0 or more."
        )


def _rule(raw: Any) -> Rule:
    if not isinstance(raw, Mapping):
        raise _Bad(f"is {raw!r}, not a table. Fix: write each rule as a [[rules]] table.")
    keys = {"id", "kind", "priority", "metric", "when", "any", "text", "action", "group"}
    unknown = sorted(set(raw) - keys)
    if unknown:
        raise _Bad(f"has unknown key(s) {unknown!r}. Fix: use only {', '.join(sorted(keys))}.")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise _Bad(f"has kind {kind!r}. Fix: use one of {', '.join(KINDS)}.")
    prio = raw.get("priority")
    if isinstance(prio, bool) or not isinstance(prio, int) or not 0 <= prio <= 100:
        raise _Bad(f"has priority {prio!r}. Fix: use a whole number 0-100 (higher first).")
    metric = raw.get("metric")
    if metric is not None and metric not in METRICS and metric != _DEAL:
        raise _Bad(f"names unknown metric {metric!r}. Fix: use one of {', '.join(METRICS)}.")
    conds = {}
    for key in ("when", "any"):
        items = raw.get(key, [])
        if not isinstance(items, list):
            raise _Bad(f"has {key} = {items!r}. Fix: write a list: {key} = [{{ test = ... }}].")
        conds[key] = tuple(_condition(c, metric) for c in items)
    if not conds["when"] and not conds["any"]:
        raise _Bad("has no conditions. Fix: add when = [{ test = ..., ... }].")
    metric = metric or (conds["when"] or conds["any"])[0].metric
    text, action = raw.get("text"), raw.get("action", "")
    if not isinstance(text, str) or not text.strip() or not isinstance(action, str):
        raise _Bad("needs a non-empty text (and an optional action) string. Fix: add text = '...'.")
    has_stage = any(c.test == "stage_gap" for c in conds["when"] + conds["any"])
    _check_template(text, metric, has_stage)
    _check_template(action, metric, has_stage)
    group = raw.get("group")
    if group is not None and not isinstance(group, str):
        raise _Bad(f"has group {group!r}. Fix: use a short name string.")
    return Rule(raw["id"], kind, prio, metric, conds["when"], conds["any"], text, action, group)


def _pip(raw: Any, source: str) -> PipSettings:
    def bad(msg: str) -> ConfigError:
        return ConfigError(f"{source}: [pip] {msg}")

    if not isinstance(raw, Mapping):
        raise bad(f"is {raw!r}. Fix: write a [pip] table.")
    known = {"gap_share", "max_relative_change", "tolerance", "default_horizon_days", "metrics"}
    unknown = sorted(set(raw) - known - {"horizon_days"})
    if unknown:
        raise bad(f"has unknown key(s) {unknown!r}. Fix: use {', '.join(sorted(known))}.")
    out = PipSettings()
    vals: dict[str, Any] = {}
    for key, lo, hi in (("gap_share", 0, 1), ("max_relative_change", 0, 10), ("tolerance", 0, 1)):
        v = raw.get(key, getattr(out, key))
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo < v <= hi:
            raise bad(f"{key} = {v!r}. Fix: use a number in ({lo}, {hi}].")
        vals[key] = float(v)
    horizons = {"default": raw.get("default_horizon_days", 90), **dict(raw.get("horizon_days", {}))}
    for m, h in horizons.items():
        if m != "default" and m not in METRICS:
            raise bad(f"horizon_days names unknown metric {m!r}. Fix: use one of {list(METRICS)}.")
        if h not in (30, 60, 90) or isinstance(h, bool):
            raise bad(f"horizon for {m!r} is {h!r}. Fix: use 30, 60 or 90 (days).")
    metrics = raw.get("metrics", list(out.metrics))
    if not isinstance(metrics, list) or any(m not in METRICS for m in metrics):
        raise bad(f"metrics = {metrics!r}. Fix: list metric names from {list(METRICS)}.")
    default = horizons.pop("default")
    return PipSettings(
        **vals, default_horizon_days=default, metrics=tuple(metrics), horizon_days=horizons
    )


def parse_rules(data: Mapping[str, Any], source: str = "<rules>") -> RuleSet:
    """Validate parsed rules-file content (a dict as from ``tomllib``) into a :class:`RuleSet`.

    Raises :class:`~salesnb.errors.ConfigError` naming the file, the rule id and the fix.

    Examples
    --------
    >>> rules = parse_rules({"rules": [{"id": "low_wr", "kind": "concern", "priority": 50,
    ...     "metric": "win_rate", "when": [{"test": "below", "threshold": 0.2}],
    ...     "text": "Win rate is {value}."}]})
    >>> [r.id for r in rules]
    ['low_wr']
    """
    unknown = sorted(set(data) - {"version", "rules", "targets", "support", "pip"})
    if unknown:
        msg = f"{source}: unknown section(s) {unknown!r}. Fix: use rules, targets, support, pip."
        raise ConfigError(msg)
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise ConfigError(f"{source}: no [[rules]]. Fix: add at least one [[rules]] table.")
    seen: set[str] = set()
    rules = []
    for i, raw in enumerate(raw_rules, start=1):
        rid = raw.get("id") if isinstance(raw, Mapping) else None
        label = f"rule {rid!r}" if isinstance(rid, str) else f"rule #{i}"
        try:
            if not isinstance(rid, str) or not _ID.match(rid):
                raise _Bad(f"has id {rid!r}. Fix: use lowercase letters, digits and _ .")
            if rid in seen:
                raise _Bad("is defined twice. Fix: give every rule its own id.")
            seen.add(rid)
            rules.append(_rule(raw))
        except _Bad as exc:
            raise ConfigError(f"{source}: {label} {exc}") from None
    targets = data.get("targets", {})
    for m, t in dict(targets).items():
        if m not in METRICS or isinstance(t, bool) or not isinstance(t, (int, float)):
            msg = f"{source}: [targets] {m} = {t!r}. Fix: name a metric and give a number."
            raise ConfigError(msg)
    support = data.get("support", {})
    for m, s in dict(support).items():
        if m not in METRICS or not isinstance(s, str):
            msg = f"{source}: [support] {m} = {s!r}. Fix: name a metric and give a sentence."
            raise ConfigError(msg)
    pip = _pip(data.get("pip", {}), source)
    return RuleSet(rules, targets=targets, support=support, pip=pip, source=source)


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Load and validate a coaching-rules TOML file; None loads the package default.

    Returns a :class:`RuleSet` (a ``list[Rule]`` with ``targets``, ``support`` and ``pip``).

    Examples
    --------
    >>> rules = load_rules()
    >>> "bottleneck_stage" in [r.id for r in rules], rules.pip.gap_share
    (True, 0.5)
    """
    if path is None:
        text = resources.files("salesnb").joinpath("coaching_rules.toml").read_text("utf-8")
        source = "coaching_rules.toml (package default)"
    else:
        p = Path(path)
        if not p.is_file():
            msg = (
                f"Coaching rules file {str(p)!r} does not exist. Fix: check the path, or copy "
                "salesnb/coaching_rules.toml and edit it."
            )
            raise ConfigError(msg)
        text, source = p.read_text("utf-8"), str(p)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc}). Fix: correct the syntax.") from None
    return parse_rules(data, source)


def _as_ruleset(rules: RuleSet | Sequence[Rule] | str | Path | None) -> RuleSet:
    if rules is None or isinstance(rules, (str, Path)):
        return load_rules(rules)
    if isinstance(rules, RuleSet):
        return rules
    if isinstance(rules, Sequence) and all(isinstance(r, Rule) for r in rules):
        return RuleSet(rules)
    msg = f"rules is {type(rules).__name__}. Fix: pass None, a path, or load_rules(...)."
    raise ParameterError(msg)


# --------------------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class _Hit:
    holds: bool
    strength: float = 0.0
    extra: Mapping[str, tuple[Any, str, bool]] = field(default_factory=dict)


_MISS = _Hit(False)
_OPS = {
    "below": "<", "above": ">", "at_least": ">=", "at_most": "<=", "below_median": "<",
    "above_median": ">", "below_target": "<", "at_least_target": ">=", "below_percentile": "<",
    "at_least_percentile": ">=", "growth_above": ">", "growth_below": "<", "change_above": ">",
    "change_below": "<", "share_above": ">", "share_below": "<",
}  # fmt: skip


def _holds(x: float, ref: float, op: str) -> bool:
    # A tolerance so that 0.5 - 0.4 counts as a 0.1 gap despite binary floating point.
    eps = _EPS * max(1.0, abs(ref))
    return {"<": x < ref - eps, ">": x > ref + eps, ">=": x >= ref - eps, "<=": x <= ref + eps}[op]


def _target(facts: RepFacts, metric: str, targets: Mapping[str, float]) -> float | None:
    mf = facts.metrics.get(metric)
    if mf is not None and mf.target is not None:
        return mf.target
    t = targets.get(metric)
    return None if t is None else float(t)


def _percentile_operands(mf: MetricFacts, metric: str, threshold: float) -> tuple[float, float]:
    if mf.percentile is not None:
        return mf.percentile, threshold
    # Without a percentile the quartiles answer for the thresholds they mark (25, 50, 75).
    lower = METRICS[metric].better == "lower"
    marks = {25.0: mf.q3 if lower else mf.q1, 50.0: mf.median, 75.0: mf.q1 if lower else mf.q3}
    q = marks.get(float(threshold))
    if q is None or mf.value is None:
        return math.nan, math.nan
    return (-mf.value, -q) if lower else (mf.value, q)


def _stage_gap(c: Condition, facts: RepFacts) -> _Hit:
    p = c.params
    best = None
    for stage, (rep, team, deals) in facts.stage_conversion.items():
        if rep is None or team is None or team <= 0:
            continue
        if deals is not None and deals < p["min_deals"]:
            continue  # too few deals to call it a pattern
        gap, rel = team - rep, rep / team
        if gap < p["min_gap"] - _EPS or rel > p["max_ratio"] + _EPS:
            continue
        if best is None or 1 - rel > best[0] + _EPS:  # ties keep the earlier stage
            best = (1 - rel, stage, rep, team, gap)
    if best is None:
        return _MISS
    strength, stage, rep, team, gap = best
    extra = {
        "stage": (stage, "text", False), "stage_rep": (rep, "percent", False),
        "stage_team": (team, "percent", False), "stage_gap": (gap, "points", False),
    }  # fmt: skip
    return _Hit(True, strength, extra)


def _check(c: Condition, facts: RepFacts, targets: Mapping[str, float]) -> _Hit:
    if c.test == "stage_gap":
        return _stage_gap(c, facts)
    if c.test == "present":
        there = facts.biggest_open_deal if c.metric == _DEAL else facts.metric(c.metric)
        return _Hit(there is not None)
    mf = facts.metric(c.metric)
    if mf is None:
        return _MISS
    t, p, v = c.test, c.params, mf.value
    x, ref = v, p.get("threshold")
    if t.endswith("_median"):
        ref = None if mf.median is None else mf.median * p["ratio"]
    elif t.endswith("_target"):
        target = _target(facts, c.metric, targets)
        ref = None if target is None else target * p["ratio"]
    elif t.endswith("_percentile"):
        x, ref = _percentile_operands(mf, c.metric, p["threshold"])
    elif t.startswith("growth"):
        x = (v - mf.previous) / abs(mf.previous) if mf.previous else None
    elif t.startswith("change"):
        x = None if mf.previous is None else v - mf.previous
    elif t.startswith("share"):
        of = facts.value(p["of"])
        x = v / of if of is not None and of > 0 else None
    if x is None or ref is None or math.isnan(x) or math.isnan(ref):
        return _MISS
    if not _holds(x, ref, _OPS[t]):
        return _MISS
    return _Hit(True, abs(x - ref) / max(abs(ref), abs(x), _EPS))


def _fire(rule: Rule, facts: RepFacts, targets: Mapping[str, float]) -> _Hit:
    hits = []
    for c in rule.when:
        hit = _check(c, facts, targets)
        if not hit.holds:
            return _MISS
        hits.append(hit)
    if rule.any_of:
        alternatives = [h for h in (_check(c, facts, targets) for c in rule.any_of) if h.holds]
        if not alternatives:
            return _MISS
        hits += alternatives
    extra: dict[str, tuple[Any, str, bool]] = {}
    for h in hits:
        extra.update(h.extra)
    return _Hit(True, max(h.strength for h in hits), extra)


def _values(facts: RepFacts, targets: Mapping[str, float]) -> dict[str, tuple[Any, str, bool]]:
    """Every number a template may cite: ``key -> (raw value, unit, signed)``."""
    out: dict[str, tuple[Any, str, bool]] = {}
    for name, mf in facts.metrics.items():
        unit = METRICS[name].unit
        target = _target(facts, name, targets)
        for fld in _FIELDS:
            val = target if fld == "target" else getattr(mf, fld)
            if val is not None:
                key = name if fld == "value" else f"{name}.{fld}"
                out[key] = (val, "percentile" if fld == "percentile" else unit, False)
        v, prev = mf.value, mf.previous
        if v is None:
            continue
        if prev:
            out[f"{name}.growth"] = ((v - prev) / abs(prev), "growth", True)
        if prev is not None:
            change_unit = "points" if unit in ("percent", "growth") else unit
            out[f"{name}.change"] = (v - prev, change_unit, True)
        if mf.median:
            out[f"{name}.pct_vs_median"] = (abs(v / mf.median - 1), "percent", False)
        if target:
            out[f"{name}.pct_vs_target"] = (abs(v / target - 1), "percent", False)
    deal = facts.biggest_open_deal
    if deal is not None:
        out["deal_name"] = (deal.name, "text", False)
        if deal.amount is not None:
            out["deal_amount"] = (deal.amount, "currency", False)
        if deal.stage:
            out["deal_stage"] = (deal.stage, "text", False)
        if deal.close_date is not None:
            out["deal_close"] = (pd.Timestamp(deal.close_date).strftime("%Y-%m-%d"), "text", False)
    return out


_TOKEN = re.compile(r"\[([^\[\]]*)\]|\{([^{}]*)\}")


def _render(
    template: str, metric: str, values: Mapping[str, tuple[Any, str, bool]], currency: str,
    evidence: dict[str, Any],
) -> str:  # fmt: skip
    def fill(name: str) -> str:
        key = _canonical(name, metric)
        item = values.get(key)
        if item is None:
            return "n/a"
        evidence[key] = item[0]
        return format_value(item[0], item[1], currency, signed=item[2])

    def token(m: re.Match[str]) -> str:
        if m.group(2) is not None:
            return fill(m.group(2))
        inner = m.group(1)
        names = _PLACEHOLDER.findall(inner)
        if any(_canonical(n, metric) not in values for n in names):
            return ""  # an optional part whose number is unknown is left out
        return _PLACEHOLDER.sub(lambda n: fill(n.group(1)), inner)

    # One pass over the template, so text from the data (a deal name) is never re-read.
    return re.sub(r"\s+([.,;:)])", r"\1", _TOKEN.sub(token, template)).strip()


# --------------------------------------------------------------------------- talking points
@dataclass(frozen=True)
class TalkingPoint:
    """One talking point for a one-on-one or review.

    ``evidence`` maps each number cited in ``text`` and ``action`` to its raw value (fractions,
    days, currency units), keyed ``<metric>`` or ``<metric>.<field>`` (e.g. ``win_rate.median``).
    """

    rule_id: str
    kind: Kind
    priority: int
    text: str
    evidence: Mapping[str, float | str]
    action: str
    metric: str
    strength: float = 0.0


_KIND_ORDER = {"recognition": 0, "concern": 1, "check-in": 2}


def _int_param(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ParameterError(f"{name} is {value!r}. Fix: pass a whole number of {low} or more.")
    return int(value)


def _as_facts(facts: RepFacts | Mapping[str, Any]) -> RepFacts:
    if isinstance(facts, RepFacts):
        return facts
    if isinstance(facts, Mapping):
        return RepFacts.from_mapping(facts)
    msg = f"facts is {type(facts).__name__}. Fix: pass a RepFacts or a mapping of metrics."
    raise ParameterError(msg)


def talking_points(
    facts: RepFacts | Mapping[str, Any],
    rules: RuleSet | Sequence[Rule] | str | Path | None = None,
    *,
    max_points: int = 5,
    min_points: int = 3,
    currency: str = "USD",
) -> list[TalkingPoint]:
    """Three to five evidence-backed talking points for one rep.

    Concerns are ranked by priority, then by how far past its threshold the rep is; of the
    rules of one ``group`` only the best-ranked speaks. When any recognition fires, one slot is
    kept for the best one (balanced feedback). When fewer than ``min_points`` fire, neutral
    check-in points built from the data fill up, never invented problems; with too little data
    the list stays shorter. Order: recognitions, concerns, check-ins.

    Parameters
    ----------
    facts : RepFacts or mapping
        The rep's metrics with team aggregates.
    rules : RuleSet, list of Rule, path or None
        None uses the package's ``coaching_rules.toml``.
    max_points, min_points : int
        Bounds on the number of points (``0 <= min_points <= max_points``).
    currency : str
        ISO code used to format amounts.

    Examples
    --------
    >>> pts = talking_points({"win_rate": {"value": 0.18, "median": 0.30}}, min_points=0)
    >>> pts[0].text
    'Win rate is 18%, 40% below the team median of 30%.'
    >>> pts[0].evidence
    {'win_rate': 0.18, 'win_rate.pct_vs_median': 0.4, 'win_rate.median': 0.3}
    """
    facts = _as_facts(facts)
    max_points = _int_param(max_points, "max_points", 1)
    min_points = _int_param(min_points, "min_points", 0)
    if min_points > max_points:
        msg = f"min_points {min_points} is above max_points {max_points}. Fix: swap or lower them."
        raise ParameterError(msg)
    rs = _as_ruleset(rules)
    fired = [(r, h, i) for i, r in enumerate(rs) if (h := _fire(r, facts, rs.targets)).holds]
    fired.sort(key=lambda f: (-f[0].priority, -f[1].strength, f[2]))
    groups: set[str] = set()
    kept = []
    for f in fired:
        if f[0].group is None or f[0].group not in groups:
            kept.append(f)
            groups.add(f[0].group or "")
    by_kind = {k: [f for f in kept if f[0].kind == k] for k in KINDS}
    praise = by_kind["recognition"]
    chosen = praise[:1] + by_kind["concern"]
    chosen = (chosen + praise[1:])[:max_points]
    values = _values(facts, rs.targets)
    points = [_point(r, h, values, currency) for r, h, _ in chosen]
    covered = {k.split(".")[0] for p in points for k in (*p.evidence, p.metric)}
    for rule, hit, _ in by_kind["check-in"]:
        if len(points) >= min_points:
            break
        if rule.metric in covered or (rule.metric == _DEAL and "deal_name" in covered):
            continue  # already discussed: a check-in would repeat it
        point = _point(rule, hit, values, currency)
        points.append(point)
        covered |= {k.split(".")[0] for k in (*point.evidence, point.metric)}
    return sorted(points, key=lambda p: _KIND_ORDER[p.kind])


def _point(rule: Rule, hit: _Hit, values: Mapping, currency: str) -> TalkingPoint:
    values = {**values, **hit.extra}
    evidence: dict[str, Any] = {}
    text = _render(rule.text, rule.metric, values, currency, evidence)
    action = _render(rule.action, rule.metric, values, currency, evidence)
    return TalkingPoint(
        rule.id, rule.kind, rule.priority, text, evidence, action, rule.metric, hit.strength
    )


def to_markdown(points: Sequence[TalkingPoint]) -> str:
    """Talking points as a Markdown bullet list for a notebook or report.

    Examples
    --------
    >>> p = TalkingPoint("x", "concern", 50, "Win rate is 18%.", {}, "Review losses.", "win_rate")
    >>> to_markdown([p])
    '- **To work on:** Win rate is 18%. *Suggested action:* Review losses.'
    """
    label = {"recognition": "Well done", "concern": "To work on", "check-in": "Check-in"}
    lines = []
    for p in points:
        action = f" *Suggested action:* {p.action}" if p.action else ""
        lines.append(f"- **{label[p.kind]}:** {p.text}{action}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- PIP
_GAP_COLUMNS = [
    "metric", "label", "unit", "better", "rep", "team_median", "team_q1", "team_q3", "target",
    "percentile", "gap_to_median", "gap_to_median_pct", "gap_to_target", "gap_to_target_pct",
    "severity", "status",
]  # fmt: skip


def gap_analysis(
    facts: RepFacts | Mapping[str, Any], rules: RuleSet | str | Path | None = None
) -> pd.DataFrame:
    """Where the rep is behind, against target and the team median, worst first.

    Gaps are shortfalls in the metric's better direction: positive = behind (for the sales
    cycle, days *above* the median). ``*_pct`` divide by the reference (growth metrics, already
    relative, use the absolute gap). ``severity`` is the larger relative shortfall; ``status``
    is ``behind`` (> 5 %), ``ahead`` (< -5 %), ``on par`` or ``no reference``. Stage rows are
    named ``stage_conversion:<stage>`` (team median = the team's conversion).

    Examples
    --------
    >>> g = gap_analysis({"win_rate": {"value": 0.2, "median": 0.25},
    ...                   "sales_cycle_days": {"value": 60, "median": 40}})
    >>> g[["metric", "gap_to_median", "severity", "status"]]
                 metric  gap_to_median  severity  status
    0  sales_cycle_days          20.00       0.5  behind
    1          win_rate           0.05       0.2  behind
    """
    facts = _as_facts(facts)
    rs = _as_ruleset(rules)
    rows = [
        (name, METRICS[name], mf.value, mf.median, mf.q1, mf.q3, _target(facts, name, rs.targets),
         mf.percentile)
        for name, mf in facts.metrics.items() if mf.value is not None
    ]  # fmt: skip
    conv = METRICS["stage_conversion"]
    rows += [
        (f"stage_conversion:{stage}", conv, rep, team, None, None, None, None)
        for stage, (rep, team, _) in facts.stage_conversion.items() if rep is not None
    ]  # fmt: skip
    df = pd.DataFrame(
        [(m, i.label, i.unit, i.better, *nums) for m, i, *nums in rows],
        columns=["metric", "label", "unit", "better", "rep", "team_median", "team_q1", "team_q3",
                 "target", "percentile"],
    )  # fmt: skip
    stage = df["metric"].str.startswith("stage_conversion:")
    df.loc[stage, "label"] = "Conversion at " + df.loc[stage, "metric"].str.split(":", n=1).str[1]
    num = ["rep", "team_median", "team_q1", "team_q3", "target", "percentile"]
    df[num] = df[num].astype("float64")
    sign = np.where(df["better"] == "higher", 1.0, -1.0)
    relative = df["unit"] != "growth"
    for ref, col in (("team_median", "gap_to_median"), ("target", "gap_to_target")):
        df[col] = (df[ref] - df["rep"]) * sign
        denom = df[ref].abs().where(relative, 1.0).replace(0.0, np.nan)
        df[f"{col}_pct"] = df[col] / denom
    df["severity"] = df[["gap_to_median_pct", "gap_to_target_pct"]].max(axis=1)
    df["status"] = np.select(
        [df["severity"].isna(), df["severity"] > 0.05, df["severity"] < -0.05],
        ["no reference", "behind", "ahead"],
        "on par",
    )
    df = df.sort_values(["severity", "metric"], ascending=[False, True], na_position="last")
    return df[_GAP_COLUMNS].reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class PipGoal:
    """One SMART improvement goal of a performance-improvement plan.

    ``metric`` is the metric name, or ``stage_conversion:<stage>``; ``baseline``, ``target`` and
    ``team_median`` are in the metric's unit. ``milestones`` are ``(days, date, expected)`` at
    30/60/90 days up to the deadline; ``checkpoints`` is a DataFrame ``week, date, expected``
    (a linear path from baseline to target). ``smart`` explains each SMART criterion.
    """

    metric: str
    label: str
    unit: str
    better: Literal["higher", "lower"]
    baseline: float
    target: float
    team_median: float
    start: date
    deadline: date
    horizon_days: int
    milestones: tuple[tuple[int, date, float], ...]
    checkpoints: pd.DataFrame
    support: str
    measure: str
    text: str
    smart: Mapping[str, str]
    tolerance: float = 0.1


def _as_date(value: Any, name: str) -> date:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        ts = pd.NaT
    if pd.isna(ts) or isinstance(value, (bool, int, float)):
        raise ParameterError(f"{name} {value!r} is not a date. Fix: pass YYYY-MM-DD.")
    return ts.date()


_STEPS = {"count": 1.0, "days": 1.0, "currency": 1.0, "currency_per_day": 1.0, "multiple": 0.1}


def _round_target(t: float, baseline: float, unit: str, up: bool) -> float:
    # Round toward the baseline (whole counts and days, whole percentage points) so a capped
    # target stays within its cap, but always at least one step away from the baseline.
    step = _STEPS.get(unit, 0.01)
    q = math.floor(t / step + 1e-9) if up else math.ceil(t / step - 1e-9)
    if (q * step - baseline) * (1 if up else -1) <= 1e-12:
        q += 1 if up else -1
    return round(q * step, 10)


def propose_pip_goals(
    facts: RepFacts | Mapping[str, Any],
    *,
    start: date | str,
    n_goals: int = 3,
    rules: RuleSet | str | Path | None = None,
    currency: str = "USD",
) -> list[PipGoal]:
    """Two to four SMART goals on the metrics where the rep trails the team median most.

    Eligible metrics are the rules file's ``[pip] metrics`` where the rep is behind the team
    median (at most one stage). Target = baseline + ``gap_share`` x (median - baseline), capped
    at ``max_relative_change`` of the baseline so it stays achievable, rounded to whole counts
    and days. Each goal's deadline is its metric's horizon (30, 60 or 90 days) after ``start``.
    Fewer goals come back when the rep trails on fewer metrics: none are invented.

    Examples
    --------
    >>> g = propose_pip_goals({"win_rate": {"value": 0.2, "median": 0.3}}, start="2026-10-01")
    >>> g[0].text
    'Raise win rate from 20% to 25% by 2026-12-30 (90 days).'
    >>> int(g[0].checkpoints["week"].max()), [d for d, _, _ in g[0].milestones]
    (13, [30, 60, 90])
    """
    facts = _as_facts(facts)
    n = _int_param(n_goals, "n_goals", 2)
    if n > 4:
        raise ParameterError(f"n_goals is {n_goals!r}. Fix: a plan has 2 to 4 goals.")
    day0 = _as_date(start, "start")
    rs = _as_ruleset(rules)
    gaps = gap_analysis(facts, rs)
    base = gaps["metric"].str.split(":", n=1).str[0]
    eligible = gaps[base.isin(rs.pip.metrics) & (gaps["gap_to_median"] > 0)].copy()
    eligible["is_stage"] = eligible["metric"].str.startswith("stage_conversion:")
    eligible = eligible.sort_values("gap_to_median_pct", ascending=False, kind="stable")
    # One stage goal at most: the funnel has one bottleneck worth a goal at a time.
    first_stage = eligible.index[eligible["is_stage"]][:1]
    eligible = eligible[~eligible["is_stage"] | eligible.index.isin(first_stage)].head(n)
    return [_goal(row, day0, rs, currency, len(eligible)) for row in eligible.itertuples()]


def _goal(row: Any, day0: date, rs: RuleSet, currency: str, n: int) -> PipGoal:
    pip = rs.pip
    key = row.metric.split(":", 1)[0]
    b, med, up = row.rep, row.team_median, row.better == "higher"
    raw = b + pip.gap_share * (med - b)
    cap = b * (1 + pip.max_relative_change if up else 1 - pip.max_relative_change)
    capped = b > 0 and (raw > cap if up else raw < cap)
    t = _round_target(cap if capped else raw, b, row.unit, up)
    h = int(pip.horizon_days.get(key, pip.default_horizon_days))
    deadline = day0 + pd.Timedelta(days=h)
    weeks = np.arange(1, math.ceil(h / 7) + 1)
    expected = b + (t - b) * np.minimum(weeks * 7 / h, 1.0)
    checkpoints = pd.DataFrame(
        {"week": weeks, "date": pd.Timestamp(day0) + pd.to_timedelta(weeks * 7, unit="D"),
         "expected": expected}
    )  # fmt: skip
    milestones = tuple(
        (d, day0 + pd.Timedelta(days=d), b + (t - b) * d / h) for d in (30, 60, 90) if d <= h
    )

    def fmt(v: float) -> str:
        return format_value(v, row.unit, currency)

    verb = "Raise" if up else "Reduce"
    label = row.label[0].lower() + row.label[1:] if not row.label[:2].isupper() else row.label
    text = f"{verb} {label} from {fmt(b)} to {fmt(t)} by {deadline:%Y-%m-%d} ({h} days)."
    share = f"{pip.gap_share:.0%} of the gap to the team median of {fmt(med)}"
    cap_note = f", capped at {pip.max_relative_change:.0%} change on the baseline" if capped else ""
    marks = ", ".join(f"{d} days ({fmt(v)})" for d, _, v in milestones)
    info = METRICS[key]
    smart = {
        "specific": f"{row.label}: {info.definition}.",
        "measurable": f"From {fmt(b)} to {fmt(t)}, measured weekly the same way as the baseline.",
        "achievable": f"Closes {share}{cap_note}; peers on this team already reach {fmt(med)}.",
        "relevant": (
            f"{row.label} trails the team median by {row.gap_to_median_pct:.0%}: one of the "
            f"{n} metric{'s' if n != 1 else ''} where the rep is furthest behind."
        ),
        "time_bound": f"Deadline {deadline:%Y-%m-%d}; milestones at {marks}; weekly checkpoints.",
    }
    support = rs.support.get(key) or f"A weekly review of {label} in the one-on-one."
    measure = (
        f"Each week's value is compared with the checkpoint: on track within "
        f"{pip.tolerance:.0%} of the planned change ({fmt(abs(t - b) * pip.tolerance)}), "
        "ahead or behind beyond it."
    )
    return PipGoal(
        row.metric, row.label, row.unit, row.better, b, t, med, day0, deadline, h, milestones,
        checkpoints, support, measure, text, smart, pip.tolerance,
    )  # fmt: skip


def goals_table(goals: Sequence[PipGoal], currency: str = "USD") -> pd.DataFrame:
    """The goals as a display table: goal, baseline, target, team median, deadline, support."""
    rows = [
        {"goal": g.text, "baseline": format_value(g.baseline, g.unit, currency),
         "target": format_value(g.target, g.unit, currency),
         "team median": format_value(g.team_median, g.unit, currency),
         "deadline": g.deadline, "support": g.support}
        for g in goals
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["goal", "baseline", "target", "team median", "deadline",
                                       "support"])  # fmt: skip


_PROGRESS_COLUMNS = [
    "metric", "label", "week", "date", "expected", "actual", "difference", "status", "is_latest",
]  # fmt: skip


def pip_progress(
    goals: Sequence[PipGoal], actuals: pd.DataFrame, as_of: date | str
) -> pd.DataFrame:
    """Compare weekly actuals with each goal's checkpoints due by ``as_of``.

    Parameters
    ----------
    goals : list of PipGoal
        From :func:`propose_pip_goals`.
    actuals : DataFrame
        Columns ``week`` (1 = first week after the start), ``metric`` (the goal's ``metric``,
        e.g. ``win_rate`` or ``stage_conversion:Demo``) and ``value``, measured like the
        baseline. Rows for other metrics are ignored.
    as_of : date
        Checkpoints dated after it are not yet due and are left out.

    Returns
    -------
    DataFrame
        One row per goal and due checkpoint: ``expected``, ``actual``, ``difference`` (actual -
        expected) and ``status``: ``ahead``, ``on track``, ``behind`` (beyond the goal's
        tolerance in its better direction) or ``no data``; ``is_latest`` marks each goal's
        last due checkpoint.

    Examples
    --------
    >>> g = propose_pip_goals({"win_rate": {"value": 0.2, "median": 0.3}}, start="2026-10-01")
    >>> act = pd.DataFrame({"week": [1, 2], "metric": "win_rate", "value": [0.204, 0.19]})
    >>> pip_progress(g, act, "2026-10-15")["status"].tolist()
    ['on track', 'behind']
    """
    if not isinstance(actuals, pd.DataFrame) or not {"week", "metric", "value"} <= set(actuals):
        msg = "actuals needs a DataFrame with columns week, metric, value. Fix: add them."
        raise ParameterError(msg)
    when = pd.Timestamp(_as_date(as_of, "as_of"))
    act = actuals[["week", "metric", "value"]].copy()
    for col in ("week", "value"):
        conv = pd.to_numeric(act[col], errors="coerce")
        bad = conv.isna() & act[col].notna() | (conv.isna() if col == "week" else False)
        if bad.any():
            rows = [int(i) for i in np.flatnonzero(bad.to_numpy())[:5]]
            msg = f"actuals column {col!r} is not numeric at rows {rows!r}. Fix: give numbers."
            raise ParameterError(msg)
        act[col] = conv
    act["metric"] = act["metric"].astype(str)
    dup = act.duplicated(["week", "metric"], keep=False)
    if dup.any():
        shown = act.loc[dup, ["metric", "week"]].drop_duplicates().head(5).to_dict("records")
        msg = f"actuals has several values for {shown!r}. Fix: keep one value per metric and week."
        raise ParameterError(msg)
    if not goals:
        return pd.DataFrame(columns=_PROGRESS_COLUMNS)
    plan = pd.concat(
        [g.checkpoints.assign(metric=g.metric, label=g.label, better=g.better,
                              band=abs(g.target - g.baseline) * g.tolerance, order=i)
         for i, g in enumerate(goals)],
        ignore_index=True,
    )  # fmt: skip
    plan = plan[plan["date"] <= when]
    out = plan.merge(act.rename(columns={"value": "actual"}), on=["metric", "week"], how="left")
    out["difference"] = out["actual"] - out["expected"]
    ahead_by = out["difference"] * np.where(out["better"] == "higher", 1.0, -1.0)
    tol = out["band"] + 1e-12
    out["status"] = np.select(
        [out["actual"].isna(), ahead_by > tol, ahead_by < -tol],
        ["no data", "ahead", "behind"],
        "on track",
    )
    out = out.sort_values(["order", "week"], kind="stable")
    out["is_latest"] = ~out.duplicated("order", keep="last")
    return out[_PROGRESS_COLUMNS].reset_index(drop=True)

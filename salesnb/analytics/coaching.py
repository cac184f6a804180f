"""Coaching rules: turn a rep's KPIs into talking points with evidence, and into PIP goals.

The input is a :class:`RepFacts`: named metrics for one rep, each with the rep's value and the
team's anonymised aggregates (median, quartiles, the rep's percentile), so no peer can be named.
Rules and thresholds are data (``coaching_rules.toml``, see ``docs/coaching.md``): a small
declarative vocabulary evaluated here without ``eval``.

This module evaluates the rules into talking points. The facts and :func:`format_value` live
in :mod:`salesnb.analytics.coaching_facts`, rule parsing in :mod:`salesnb.analytics.coaching_rules` and the PIP in
:mod:`salesnb.analytics.pip`; their public names are re-exported here.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from salesnb.analytics.coaching_facts import (
    _DEAL,
    _FIELDS,
    ALIASES,
    METRICS,
    UNITS,
    DealRef,
    MetricFacts,
    MetricInfo,
    RepFacts,
    _as_facts,
    _int_param,
    _target,
    format_value,
)
from salesnb.analytics.coaching_rules import (
    _EPS,
    _PLACEHOLDER,
    KINDS,
    PEERS_KEY,
    Condition,
    Kind,
    PipSettings,
    Rule,
    RuleSet,
    _as_ruleset,
    _canonical,
    load_rules,
    parse_rules,
)
from salesnb.analytics.pip import (
    PipGoal,
    PlanNeed,
    gap_analysis,
    goals_table,
    pip_progress,
    plan_needed,
    propose_pip_goals,
)
from salesnb.core.errors import ParameterError

__all__ = [
    "ALIASES",
    "KINDS",
    "METRICS",
    "UNITS",
    "Condition",
    "DealRef",
    "Kind",
    "MetricFacts",
    "MetricInfo",
    "PipGoal",
    "PipSettings",
    "PlanNeed",
    "RepFacts",
    "Rule",
    "RuleSet",
    "TalkingPoint",
    "format_value",
    "gap_analysis",
    "goals_table",
    "load_rules",
    "parse_rules",
    "pip_progress",
    "plan_needed",
    "propose_pip_goals",
    "talking_points",
    "to_markdown",
]


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
    "at_least_percentile": ">=", "previous_at_least": ">=", "previous_below": "<",
    "growth_above": ">", "growth_below": "<", "change_above": ">",
    "change_below": "<", "share_above": ">", "share_below": "<",
}  # fmt: skip


def _holds(x: float, ref: float, op: str) -> bool:
    # A tolerance so that 0.5 - 0.4 counts as a 0.1 gap despite binary floating point.
    eps = _EPS * max(1.0, abs(ref))
    return {"<": x < ref - eps, ">": x > ref + eps, ">=": x >= ref - eps, "<=": x <= ref + eps}[op]


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
        if ref is not None and p["margin"]:  # and at least `margin` away from the median
            far = mf.median - p["margin"] if t == "below_median" else mf.median + p["margin"]
            ref = min(ref, far) if t == "below_median" else max(ref, far)
    elif t.endswith("_target"):
        target = _target(facts, c.metric, targets)
        ref = None if target is None else target * p["ratio"]
    elif t.endswith("_percentile"):
        x, ref = _percentile_operands(mf, c.metric, p["threshold"])
    elif t.startswith("previous"):
        x = mf.previous
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
    out[PEERS_KEY] = (facts.peers, "text", False)
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
        if key == PEERS_KEY:
            return str(item[0])  # a word, not a figure: no evidence
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
    kept for the best one (balanced feedback). A concern about a figure at or better than the
    peer median never speaks, except a shortfall against the rep's own target. When fewer than ``min_points`` fire, neutral
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
    'Win rate is 18%, 40% below the peer group median of 30%.'
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
    fired = [
        (r, h, i)
        for i, r in enumerate(rs)
        if (h := _fire(r, facts, rs.targets)).holds and not _no_worse_than_peers(r, facts)
    ]
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


# Tests of a figure against the rep's own target are not on this list: a rep ahead of the
# peers but short of their own target still has that gap to work on (and one at or above target
# has none, since below_target does not hold).
_WORSE_IF_HIGHER_BETTER = {
    "below", "at_most", "below_median", "below_percentile", "growth_below",
    "change_below", "share_below", "previous_below",
}  # fmt: skip
_WORSE_IF_LOWER_BETTER = {"above", "at_least", "above_median", "growth_above", "change_above"}


def _no_worse_than_peers(rule: Rule, facts: RepFacts) -> bool:
    """Whether a concern is about a figure at or better than the peer median: never "to work
    on" for something the rep does as well as the typical peer. Each condition that tests a
    metric for being bad (below for a higher-is-better metric, above for a lower-is-better
    one) is held against that metric's peer median; a shortfall against the rep's own target
    (``below_target``) is not: it stays a gap whatever the peers do."""
    if rule.kind != "concern":
        return False
    for cond in rule.when:
        info = METRICS.get(cond.metric)
        if info is None or cond.metric in ("stage_conversion", "days_left"):
            continue
        worse = _WORSE_IF_HIGHER_BETTER if info.better == "higher" else _WORSE_IF_LOWER_BETTER
        if cond.test not in worse:
            continue
        mf = facts.metric(cond.metric)
        v, m = (None, None) if mf is None else (mf.value, mf.median)
        if v is None or m is None or math.isnan(v) or math.isnan(m):
            continue
        if (v >= m) if info.better == "higher" else (v <= m):
            return True
    return False


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

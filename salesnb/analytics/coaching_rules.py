"""Coaching rules as data: parse and validate ``coaching_rules.toml`` into a :class:`RuleSet`.

A small declarative vocabulary of tests on metrics (see ``docs/coaching.md``), checked here
so that a bad file fails with the rule id and the fix; :mod:`salesnb.analytics.coaching` evaluates it
without ``eval``.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from salesnb.analytics.coaching_facts import _DEAL, METRICS
from salesnb.core.errors import ConfigError, ParameterError

__all__ = [
    "KINDS",
    "Condition",
    "Kind",
    "PipSettings",
    "Rule",
    "RuleSet",
    "load_rules",
    "parse_rules",
]

Kind = Literal["concern", "recognition", "check-in"]
KINDS: tuple[str, ...] = ("concern", "recognition", "check-in")


# test -> (required parameters, optional parameters with defaults)
_TESTS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "below": (("threshold",), {}),
    "above": (("threshold",), {}),
    "at_least": (("threshold",), {}),
    "at_most": (("threshold",), {}),
    "below_median": ((), {"ratio": 1.0, "margin": 0.0}),
    "above_median": ((), {"ratio": 1.0, "margin": 0.0}),
    "below_target": ((), {"ratio": 1.0}),
    "at_least_target": ((), {"ratio": 1.0}),
    "below_percentile": (("threshold",), {}),
    "at_least_percentile": (("threshold",), {}),
    "previous_at_least": (("threshold",), {}),
    "previous_below": (("threshold",), {}),
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
    #: A plan only for a rep below ``bar`` attainment in at least ``bar_misses`` of the last
    #: ``bar_quarters`` complete quarters (each with a target).
    bar: float = 0.7
    bar_quarters: int = 3
    bar_misses: int = 2


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


#: The word naming the peer group in a sentence ("team", "region"; RepFacts.peers).
PEERS_KEY = "peers"


def _allowed(name: str, rule_metric: str, has_stage: bool) -> bool:
    if name == PEERS_KEY:
        return True
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
                f"{extra}{', '.join(_DEAL_KEYS)}, {PEERS_KEY}, <metric> or <metric>.<field>."
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
    plain = ("below", "above", "at_least", "at_most", "previous_at_least", "previous_below")
    if test in plain and unit == "percent" and abs(t) > 5:
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
    known = {
        "gap_share", "max_relative_change", "tolerance", "default_horizon_days", "metrics",
        "bar", "bar_quarters", "bar_misses",
    }  # fmt: skip
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
    bar = raw.get("bar", out.bar)
    if isinstance(bar, bool) or not isinstance(bar, (int, float)) or not 0 < bar <= 2:
        raise bad(f"bar = {bar!r}. Fix: an attainment share in (0, 2], e.g. 0.7 for 70%.")
    quarters, misses = (
        raw.get("bar_quarters", out.bar_quarters),
        raw.get("bar_misses", out.bar_misses),
    )
    ok_q = isinstance(quarters, int) and not isinstance(quarters, bool) and 1 <= quarters <= 8
    ok_m = isinstance(misses, int) and not isinstance(misses, bool) and 1 <= misses <= quarters
    if not (ok_q and ok_m):
        raise bad(
            f"bar_quarters = {quarters!r}, bar_misses = {misses!r}. Fix: whole numbers with "
            "1 <= bar_misses <= bar_quarters <= 8."
        )
    return PipSettings(
        **vals, default_horizon_days=default, metrics=tuple(metrics), horizon_days=horizons,
        bar=float(bar), bar_quarters=quarters, bar_misses=misses,
    )  # fmt: skip


def parse_rules(data: Mapping[str, Any], source: str = "<rules>") -> RuleSet:
    """Validate parsed rules-file content (a dict as from ``tomllib``) into a :class:`RuleSet`.

    Raises :class:`~salesnb.core.errors.ConfigError` naming the file, the rule id and the fix.

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
        text = (
            resources.files("salesnb.analytics").joinpath("coaching_rules.toml").read_text("utf-8")
        )
        source = "coaching_rules.toml (package default)"
    else:
        p = Path(path)
        if not p.is_file():
            msg = (
                f"Coaching rules file {str(p)!r} does not exist. Fix: check the path, or copy "
                "salesnb/analytics/coaching_rules.toml and edit it."
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

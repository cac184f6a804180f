"""Every shipped coaching rule reads right with rising and falling figures: no doubled sign
("grew +40%", "fell -10%", "up +", "+-") whatever the sign of the numbers it cites."""

from __future__ import annotations

import re
import tomllib
from importlib import resources

import pytest

from salesnb.analytics import coaching as c
from salesnb.analytics.coaching_facts import METRICS

_RULES = tomllib.loads(
    resources.files("salesnb.analytics").joinpath("coaching_rules.toml").read_text("utf-8")
)["rules"]
#: A direction word followed by a signed figure, or two signs in a row.
DOUBLED = re.compile(
    r"\b(grew|grown|rose|risen|up|fell|fallen|down|dropped|increased|decreased|declined|gained"
    r"|lost|shrank|improved|worsened)\s+(by\s+)?[+\-\u2212]\d|[+\-\u2212]\s?[+\-\u2212]\d",
    re.IGNORECASE,
)


def _facts(sign: int) -> dict:
    """Every metric with every field present, all of one sign (previous smaller in size)."""
    facts: dict = {}
    for name in METRICS:
        if name == "stage_conversion":
            continue
        facts[name] = {
            "value": sign * 0.6, "median": sign * 0.4, "q1": sign * 0.3, "q3": sign * 0.8,
            "previous": sign * 0.3, "percentile": 80, "target": sign * 1.0,
        }  # fmt: skip
    facts["stage_conversion"] = {"Demo": (0.25, 0.5, 10)}
    facts["biggest_open_deal"] = {
        "name": "Acme renewal", "amount": sign * 25_000, "stage": "Proposal",
        "close_date": "2026-11-15",
    }  # fmt: skip
    return facts


def _forced(raw: dict) -> c.RuleSet:
    """The rule with its text and action, made to fire on any facts (``present``)."""
    metric = raw.get("metric") or (raw.get("when") or raw.get("any"))[0]["metric"]
    when = [{"metric": metric, "test": "present"}]
    if "{stage" in raw["text"] + raw.get("action", ""):
        when = [{"metric": metric, "test": "stage_gap", "min_gap": 0.0, "max_ratio": 1.0}]
    forced = {k: v for k, v in raw.items() if k not in ("when", "any", "group", "metric")}
    return c.parse_rules({"rules": [forced | {"when": when}]})


def test_the_regex_catches_the_old_growth_sentence():
    assert DOUBLED.search("Bookings grew +40% on the previous period.")
    assert DOUBLED.search("Win rate fell -5 pts.") and DOUBLED.search("a change of +-3%")
    assert not DOUBLED.search("Bookings are +40% on the previous period (up from $5K).")


@pytest.mark.parametrize("sign", [1, -1], ids=["rising", "falling"])
@pytest.mark.parametrize("raw", _RULES, ids=[r["id"] for r in _RULES])
def test_no_doubled_sign(raw, sign):
    (point,) = c.talking_points(_facts(sign), _forced(raw), min_points=1, max_points=1)
    assert point.rule_id == raw["id"]
    for words in (point.text, point.action):
        assert not DOUBLED.search(words), words

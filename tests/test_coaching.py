"""Coaching rules: each shipped rule fires and stays quiet, texts cite their numbers, the rules file
is validated, point selection is balanced, and PIP goals and progress follow the stated arithmetic."""

from __future__ import annotations

import math
import tomllib
from datetime import date
from importlib import resources

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesnb.analytics import coaching as c
from salesnb.core.errors import ConfigError, ParameterError

DEFAULT = c.load_rules()
_DEFAULT_TEXT = (
    resources.files("salesnb.analytics").joinpath("coaching_rules.toml").read_text("utf-8")
)


def ids(facts, **kw) -> list[str]:
    kw = {"min_points": 0, "max_points": 30} | kw
    return [p.rule_id for p in c.talking_points(facts, DEFAULT, **kw)]


def point(facts, rule_id, **kw) -> c.TalkingPoint:
    kw = {"min_points": 0, "max_points": 30} | kw
    found = [p for p in c.talking_points(facts, DEFAULT, **kw) if p.rule_id == rule_id]
    assert found, f"{rule_id} did not fire"
    return found[0]


STAGES_BAD = {"Prospecting": (0.6, 0.62, 20), "Demo": (0.25, 0.5, 10), "Proposal": (0.4, 0.45, 8)}
DEAL = {"name": "Acme renewal", "amount": 250_000, "stage": "Proposal", "close_date": "2026-11-15"}

# rule id -> (facts that make it fire, facts that keep it quiet); check-ins are asked for 3 points.
CASES = {
    "below_target_attainment": (
        {"attainment": {"value": 0.7, "median": 0.95}, "days_left": 40},
        {"attainment": {"value": 0.9, "median": 0.95}, "days_left": 40},  # not below 0.9 x 100 %
    ),
    "below_target_above_peers": (
        {"attainment": {"value": 0.8, "median": 0.66}, "days_left": 40},
        {"attainment": {"value": 0.8, "median": 0.85}, "days_left": 40},  # below the peers
    ),
    "period_ends_below_target_above_peers": (
        {"attainment": {"value": 0.68, "median": 0.66}, "days_left": 0},
        {"attainment": {"value": 0.95, "median": 0.66}, "days_left": 0},  # not below 0.9 x 100 %
    ),
    "period_ends_below_target": (
        {"attainment": {"value": 0.7, "median": 0.95}, "days_left": 0},
        {"attainment": {"value": 0.7, "median": 0.95}, "days_left": 14},  # two weeks to go
    ),
    "low_activity": (
        {"activities": {"value": 207, "median": 883}},
        {"activities": {"value": 450, "median": 883}},  # 450 >= 0.5 x 883
    ),
    "strong_previous_period": (
        {"attainment": {"value": 0.68, "previous": 2.1}},
        {"attainment": {"value": 0.68, "previous": 1.1}},
    ),
    "low_coverage_next": (
        {"coverage_next": {"value": 1.4, "median": 2.6}},
        {"coverage_next": {"value": 1.4, "median": 1.6}},  # 1.4 >= 0.75 x 1.6: with the team
    ),
    "low_coverage_current": (
        {"coverage_current": 1.2, "days_left": 30},
        {"coverage_current": 1.2, "days_left": 0},  # nothing can be pulled in on the last day
    ),
    "bottleneck_stage": (
        {"stage_conversion": STAGES_BAD},
        # Demo: 0.45 vs 0.5 is only 5 points; Proposal 0.1 vs 0.45 but only 3 deals reached it.
        {"stage_conversion": {"Demo": (0.45, 0.5, 10), "Proposal": (0.1, 0.45, 3)}},
    ),
    "low_win_rate": (
        {"win_rate": {"value": 0.18, "median": 0.30}},
        {"win_rate": {"value": 0.25, "median": 0.30}},  # 0.25 >= 0.8 x 0.30 = 0.24
    ),
    "many_slipped_deals": (
        {"slipped_deals": 2, "slipped_amount": {"value": 50_000, "median": 20_000}},
        {"slipped_deals": 2, "slipped_amount": {"value": 30_000, "median": 20_000}},
    ),
    "activity_without_conversion": (
        {
            "activities": {"value": 300, "median": 200},
            "activity_to_opp": {"value": 0.02, "median": 0.05},
        },
        {
            "activities": {"value": 300, "median": 200},
            "activity_to_opp": {"value": 0.04, "median": 0.05},
        },
    ),
    "long_sales_cycle": (
        {"sales_cycle_days": {"value": 75, "median": 50}},
        {"sales_cycle_days": {"value": 60, "median": 50}},  # 60 <= 1.25 x 50 = 62.5
    ),
    "past_due_deals": ({"past_due_deals": 4}, {"past_due_deals": 2}),
    "stale_deals": ({"stale_deals": 5, "open_deals": 12}, {"stale_deals": 2, "open_deals": 12}),
    "deal_concentration": ({"concentration_top_deal": 0.55}, {"concentration_top_deal": 0.35}),
    "small_deal_size": (
        {"avg_deal_size": {"value": 12_000, "median": 20_000}},
        {"avg_deal_size": {"value": 16_000, "median": 20_000}},  # 16,000 >= 0.75 x 20,000
    ),
    "top_quartile_attainment": (
        {"attainment": {"value": 0.95, "percentile": 80}},
        {"attainment": {"value": 0.95, "percentile": 60}},
    ),
    "strong_growth": ({"bookings_growth": 0.3}, {"bookings_growth": 0.2}),
    "on_target_attainment": (
        {"attainment": {"value": 1.02, "percentile": 50}},
        {"attainment": {"value": 0.98, "percentile": 50}},
    ),
    "win_rate_improved": (
        {"win_rate": {"value": 0.32, "previous": 0.20}},
        {"win_rate": {"value": 0.28, "previous": 0.20}},
    ),
    "top_quartile_win_rate": (
        {"win_rate": {"value": 0.4, "percentile": 90}},
        {"win_rate": {"value": 0.4, "percentile": 70}},
    ),
    "review_biggest_deal": ({"biggest_open_deal": DEAL}, {"open_deals": 3}),
    "attainment_plan": ({"attainment": 0.95}, {"bookings": 1000}),
    "next_quarter_pipeline": ({"coverage_next": 2.5}, {"bookings": 1000}),
    "pipeline_walkthrough": ({"open_deals": 12}, {"bookings": 1000}),
    "activity_plan": ({"activities": 100}, {"bookings": 1000}),
}
CHECKINS = {r.id for r in DEFAULT if r.kind == "check-in"}


def test_every_shipped_rule_has_a_case():
    assert {r.id for r in DEFAULT} == set(CASES)
    kinds = {r.kind for r in DEFAULT}
    assert kinds == {"concern", "recognition", "check-in"}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fires(rule_id):
    min_points = 3 if rule_id in CHECKINS else 0
    assert rule_id in ids(CASES[rule_id][0], min_points=min_points)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_stays_quiet(rule_id):
    min_points = 3 if rule_id in CHECKINS else 0
    assert rule_id not in ids(CASES[rule_id][1], min_points=min_points)


# --------------------------------------------------------------------------- cited numbers
def test_bottleneck_names_the_stage_and_its_numbers():
    p = point({"stage_conversion": STAGES_BAD}, "bottleneck_stage")
    # Demo: 1 - 0.25/0.5 = 50 % relative gap beats Prospecting (3 %) and Proposal (11 %).
    assert p.text == (
        "Demo is the bottleneck: 25% of deals that reach it move on, against 50% for all reps "
        "(25 pts lower)."
    )
    assert p.evidence == {"stage": "Demo", "stage_rep": 0.25, "stage_team": 0.5, "stage_gap": 0.25}
    assert "Demo" in p.action


def test_win_rate_text_cites_value_median_and_relative_gap():
    p = point({"win_rate": {"value": 0.18, "median": 0.30}, "win_rate_value": 0.22}, "low_win_rate")
    # 0.18 / 0.30 - 1 = -40 %
    assert p.text == "Win rate is 18%, 40% below the peer group median of 30% (by value: 22%)."
    assert p.evidence["win_rate"] == 0.18 and p.evidence["win_rate.median"] == 0.30
    assert p.evidence["win_rate.pct_vs_median"] == pytest.approx(0.40)
    assert p.evidence["win_rate_value"] == 0.22


def test_optional_parts_drop_when_their_number_is_missing():
    p = point({"coverage_current": 1.2, "days_left": 30}, "low_coverage_current")
    # no team median given: that bracket goes
    assert p.text == (
        "Open pipeline due this period covers 1.2x of the target still to close: little room "
        "for any deal to slip."
    )
    assert p.evidence["coverage_current"] == 1.2 and "coverage_current.median" not in p.evidence


def test_next_quarters_pipeline_is_judged_against_peers_on_the_same_date():
    # Mid-quarter the sample team's median next-quarter coverage is 0.1-0.2x: a rep at the
    # median is not told their pipeline is a concern, whatever the 3x goal of a quarter's start,
    # nor one a few hundredths of a target below it (under 0.75 x median, but not 0.25x below).
    assert "low_coverage_next" not in ids({"coverage_next": {"value": 0.1, "median": 0.1}})
    assert "low_coverage_next" not in ids({"coverage_next": {"value": 0.0, "median": 0.2}})
    assert "low_coverage_next" not in ids({"coverage_next": 1.4})  # no peers: no judgment
    # 0.3 < min(0.75 x 0.9, 0.9 - 0.25) = 0.65
    p = point({"coverage_next": {"value": 0.3, "median": 0.9}}, "low_coverage_next")
    assert p.text == (
        "Next quarter's pipeline covers only 0.3x of its target, against a peer group median "
        "of 0.9x by this date."
    )
    assert "low_coverage_next" not in ids({"coverage_next": {"value": 0.66, "median": 0.9}})


def test_long_cycle_and_slipped_and_activity_texts():
    p = point({"sales_cycle_days": {"value": 75, "median": 50}}, "long_sales_cycle")
    assert (
        p.text
        == "Won deals take 75 days to close, 50% longer than the peer group median of 50 days."
    )
    facts = {"slipped_deals": 3, "slipped_amount": {"value": 1_250_000, "median": 400_000}}
    p = point(facts, "many_slipped_deals")
    assert p.text == (
        "3 deals worth $1.2M had their close date pushed out of the period (peer group median $400K)."
    )
    p = point(CASES["activity_without_conversion"][0], "activity_without_conversion")
    assert p.text == (
        "300 activities logged (peer group median 200), but only 2% turn into opportunities "
        "against 5% for the peer group."
    )


def test_growth_and_improvement_texts():
    facts = {"bookings_growth": 0.3, "bookings": {"value": 650_000, "previous": 500_000}}
    p = point(facts, "strong_growth")
    assert p.text == "Bookings are +30% on the previous period ($650K against $500K)."
    p = point({"win_rate": {"value": 0.32, "previous": 0.20}}, "win_rate_improved")
    # 0.32 - 0.20 = +12 points
    assert p.text == "Win rate rose from 20% to 32% (+12 pts)."


def test_concentration_cites_the_reps_own_deal_and_currency():
    facts = {"concentration_top_deal": 0.55, "biggest_open_deal": DEAL}
    p = c.talking_points(facts, DEFAULT, min_points=0, currency="EUR")[0]
    assert p.text == "One deal holds 55% of the open pipeline: Acme renewal, €250K."


def test_deal_name_with_braces_is_not_read_as_a_placeholder():
    deal = {"name": "Big {value} [deal]", "amount": 5000}
    p = point({"biggest_open_deal": deal}, "review_biggest_deal", min_points=1)
    assert p.text == "Walk through the biggest open deal, Big {value} [deal], $5K."


def test_hygiene_group_keeps_one_point_citing_both_counts():
    got = ids({"stale_deals": 5, "past_due_deals": 4, "open_deals": 20})
    assert got == ["past_due_deals"]  # priority 56 beats 55 in the "hygiene" group
    p = point({"stale_deals": 5, "past_due_deals": 4, "open_deals": 20}, "past_due_deals")
    assert p.text == (
        "4 open deals have a close date already in the past; 5 show no recent change."
    )


def test_percentile_falls_back_to_quartiles_in_the_better_direction():
    # No percentile: value >= q3 is top quartile for attainment ...
    assert "top_quartile_attainment" in ids({"attainment": {"value": 1.1, "q3": 1.05}})
    assert "top_quartile_attainment" not in ids({"attainment": {"value": 1.0, "q3": 1.05}})
    # ... and for a lower-is-better metric, value <= q1 is the top quartile.
    rule = c.parse_rules({"rules": [{
        "id": "fast", "kind": "recognition", "priority": 50, "metric": "sales_cycle_days",
        "when": [{"test": "at_least_percentile", "threshold": 75}], "text": "Fast: {value}.",
    }]})  # fmt: skip
    assert [p.text for p in c.talking_points({"sales_cycle_days": {"value": 20, "q1": 25}}, rule)]
    assert not c.talking_points({"sales_cycle_days": {"value": 30, "q1": 25}}, rule)


def test_target_from_facts_overrides_the_file():
    # Half-way through the period, the expected attainment to date is 0.5: 0.48 is on pace.
    facts = {"attainment": {"value": 0.48, "target": 0.5}, "days_left": 45}
    assert "below_target_attainment" not in ids(facts)
    facts = {"attainment": {"value": 0.40, "target": 0.5}, "days_left": 45}  # < 0.9 x 0.5
    assert "below_target_attainment" in ids(facts)


def test_never_to_work_on_at_or_above_the_peer_median():
    # The star's quarter-end attainment of 68% is above the median of 66%: not said as if it
    # were behind the peers (the shortfall against target is, see the next test).
    facts = {"attainment": {"value": 0.68, "median": 0.66}, "days_left": 0}
    assert "period_ends_below_target" not in ids(facts)
    facts = {"attainment": {"value": 0.65, "median": 0.66}, "days_left": 0}
    assert "period_ends_below_target" in ids(facts)
    # Lower is better for past-due deals: 4 against a median of 5 is no concern.
    assert "past_due_deals" not in ids({"past_due_deals": {"value": 4, "median": 5}})
    assert "past_due_deals" in ids({"past_due_deals": {"value": 4, "median": 3}})
    # The conversion, not the (high) activity count, is what the rule is about.
    facts = {
        "activities": {"value": 300, "median": 200},
        "activity_to_opp": {"value": 0.06, "median": 0.05},
    }
    assert "activity_without_conversion" not in ids(facts)


@pytest.mark.parametrize(("days_left", "rule"), [
    (40, "below_target_above_peers"), (0, "period_ends_below_target_above_peers"),
])  # fmt: skip
def test_above_the_peers_but_below_target_is_still_a_gap(days_left, rule):
    # 80% against a median of 66%: ahead of the peers, 20% short of the rep's own 100% target.
    facts = {"attainment": {"value": 0.8, "median": 0.66}, "days_left": days_left}
    pts = c.talking_points(facts, DEFAULT, min_points=0)
    assert [(p.rule_id, p.kind) for p in pts] == [(rule, "concern")]  # one point, "to work on"
    tail = "short of the 100% expected by now." if days_left else "20% short of target."
    assert f"above the peer group median of 66%, but {tail}" in pts[0].text
    assert c.to_markdown(pts).startswith("- **To work on:** ")
    # Below the peers too: the plain rule speaks (one point for the group).
    below = {"attainment": {"value": 0.6, "median": 0.66}, "days_left": days_left}
    plain = "below_target_attainment" if days_left else "period_ends_below_target"
    assert ids(below) == [plain]
    # At or above target: no gap, no concern about attainment whatever the peers do.
    for v in (1.0, 1.3):
        on = {"attainment": {"value": v, "median": 0.66}, "days_left": days_left}
        assert not [p for p in c.talking_points(on, DEFAULT, min_points=0) if p.kind == "concern"]
    # A target from the facts (pro-rated to date) is the one the shortfall is measured against.
    paced = {"attainment": {"value": 0.3, "median": 0.2, "target": 0.5}, "days_left": days_left}
    tail = "short of the 50% expected by now" if days_left else "40% short of target"
    assert tail in point(paced, rule).text


def test_sentences_name_the_peer_group_actually_used():
    for peers in ("team", "region"):
        facts = c.RepFacts.from_mapping(
            {"win_rate": {"value": 0.18, "median": 0.30, "percentile": 10},
             "attainment": {"value": 0.8, "median": 0.66, "percentile": 80}, "days_left": 0},
            peers=peers,
        )  # fmt: skip
        text = " ".join(p.text for p in c.talking_points(facts, DEFAULT))
        other = {"team": "region", "region": "team"}[peers]
        assert f"40% below the {peers} median of 30%" in text
        assert f"above the {peers} median of 66%" in text
        assert f"{other} median" not in text and "team's" not in text
        assert all("peers" not in k for p in c.talking_points(facts, DEFAULT) for k in p.evidence)
        star = c.RepFacts.from_mapping(
            {"attainment": {"value": 1.2, "median": 0.66, "percentile": 80}, "days_left": 0},
            peers=peers,
        )  # fmt: skip
        assert f"top quartile of the {peers}" in " ".join(
            p.text for p in c.talking_points(star, DEFAULT)
        )


def test_no_praise_and_gap_for_the_same_attainment():
    """A rep in the top quartile of the peers but behind the target expected by now gets the
    gap, which says they are ahead of the peers, and no 'top quartile' praise beside it."""
    for days_left, tgt in ((40, 0.5), (0, None)):
        att = {"value": 0.36, "median": 0.17, "percentile": 75}
        if tgt is not None:
            att["target"] = tgt
        points = c.talking_points({"attainment": att, "days_left": days_left}, DEFAULT)
        text = " ".join(p.text for p in points)
        assert "above the team median of 17%" in text or "above the peer group median" in text
        assert "top quartile" not in text
    on_pace = {"attainment": {"value": 0.48, "median": 0.17, "percentile": 75, "target": 0.5},
               "days_left": 40}  # fmt: skip
    text = " ".join(p.text for p in c.talking_points(on_pace, DEFAULT))
    assert "top quartile" in text  # within 10% of the pace: praise, no gap
    assert "short of" not in text
    assert c.RepFacts.from_mapping({}, peers="").peers == "peer group"


def test_nothing_is_pulled_in_on_the_last_day():
    facts = {"coverage_current": {"value": 0.0, "median": 0.6}, "days_left": 0}
    assert ids(facts) == []
    pts = c.talking_points({**facts, "attainment": {"value": 0.5, "median": 0.7}}, DEFAULT)
    assert all("pulled into this period" not in p.action for p in pts)
    assert any("next period" in p.action for p in pts)


def test_missing_or_nan_metrics_make_rules_silent():
    assert ids({"win_rate": {"value": math.nan, "median": 0.3}}) == []
    assert ids({"win_rate": {"value": 0.1, "median": None}}) == []
    assert ids({"activities": {"value": 300, "median": 200}}) == []  # conversion missing
    assert ids({}) == []


# --------------------------------------------------------------------------- selection
MANY_CONCERNS = {
    "attainment": {"value": 0.5, "median": 0.9},  # 90
    "coverage_next": {"value": 1.0, "median": 2.0},  # 85
    "coverage_current": 1.0,  # 80
    "stage_conversion": STAGES_BAD,  # 75
    "win_rate": {"value": 0.1, "median": 0.3},  # 74
    "sales_cycle_days": {"value": 90, "median": 50},  # 60
    "concentration_top_deal": 0.6,  # 50
    "days_left": 45,
}


def test_max_points_keeps_the_highest_priority_concerns():
    got = ids(MANY_CONCERNS, max_points=5, min_points=3)
    assert got == [
        "below_target_attainment", "low_coverage_next", "low_coverage_current",
        "bottleneck_stage", "low_win_rate",
    ]  # fmt: skip
    assert len(ids(MANY_CONCERNS, max_points=3, min_points=3)) == 3


def test_one_recognition_is_kept_when_any_fires_and_comes_first():
    facts = {**MANY_CONCERNS, "bookings_growth": 0.4}
    got = ids(facts, max_points=5)
    assert got[0] == "strong_growth"
    assert got[1:] == [
        "below_target_attainment", "low_coverage_next", "low_coverage_current", "bottleneck_stage",
    ]  # fmt: skip
    # No recognition fires: no praise is invented.
    assert all(p.kind == "concern" for p in c.talking_points(MANY_CONCERNS, DEFAULT))


def test_group_keeps_the_better_recognition_only():
    facts = {"attainment": {"value": 1.2, "percentile": 90}}
    assert ids(facts) == ["top_quartile_attainment"]  # on_target is in the same group


def test_check_ins_fill_up_to_min_points_without_repeating_a_topic():
    facts = {
        "coverage_next": {"value": 1.5, "median": 2.5},
        "attainment": 0.95,
        "open_deals": 14,
        "weighted_pipeline": 480_000,
        "biggest_open_deal": DEAL,
    }
    pts = c.talking_points(facts, DEFAULT, min_points=3, max_points=5)
    assert [p.rule_id for p in pts] == [
        "low_coverage_next",
        "review_biggest_deal",
        "attainment_plan",
    ]
    assert [p.kind for p in pts] == ["concern", "check-in", "check-in"]
    # next_quarter_pipeline is not added: coverage_next is already the concern.
    assert pts[1].text == (
        "Walk through the biggest open deal, Acme renewal, $250K, at Proposal, due to close "
        "2026-11-15."
    )
    pts = c.talking_points(facts, DEFAULT, min_points=5, max_points=5)
    assert [p.rule_id for p in pts][3:] == ["pipeline_walkthrough"]  # nothing else to say
    assert pts[3].text == "14 open deals, $480K weighted."


def test_nothing_known_gives_no_points():
    assert c.talking_points({}, DEFAULT) == []


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"max_points": 0}, "max_points"),
        ({"min_points": 6, "max_points": 5}, "min_points 6 is above"),
        ({"min_points": -1}, "min_points"),
        ({"max_points": 2.5}, "max_points"),
    ],
)
def test_bad_point_bounds(kw, fragment):
    with pytest.raises(ParameterError, match=fragment):
        c.talking_points({"win_rate": 0.2}, DEFAULT, **kw)


# --------------------------------------------------------------------------- facts & privacy
@pytest.mark.parametrize(
    "facts",
    [
        {"win_rate": {"value": 0.2, "best_rep": "Alice Smith"}},  # a peer name in a field
        {"win_rate": {"value": 0.2, "peers": [0.1, 0.4]}},  # raw peer values
        {"win_rate": "Alice Smith"},
        {"top_rep": 0.5},  # unknown metric
        {"stage_conversion": {"Demo": ("Alice", 0.5)}},
    ],
)
def test_facts_accept_aggregates_only(facts):
    with pytest.raises(ParameterError, match="Fix:"):
        c.RepFacts.from_mapping(facts)


def test_from_frame_reads_peer_aggregates_and_aliases():
    from salesnb.reports.subject import Subject, peer_aggregates

    table = pd.DataFrame(
        {"rep_id": ["a", "b", "c", "d"], "win_rate": [0.1, 0.2, 0.3, 0.4],
         "median_cycle_days": [30, 40, 50, 60]}
    )  # fmt: skip
    s = Subject("rep", "a", "Ann", ("a",), ("a", "b", "c", "d"))
    facts = c.RepFacts.from_frame(peer_aggregates(table, s, ["win_rate", "median_cycle_days"]))
    wr = facts.metric("win_rate")
    # peers 0.1..0.4: median 0.25, p25 0.175, p75 0.325; percentile (0 + 0.5 x 1) / 4 = 12.5
    assert (wr.value, wr.median, wr.percentile) == (0.1, 0.25, 12.5)
    assert wr.q1 == pytest.approx(0.175) and wr.q3 == pytest.approx(0.325)
    assert facts.value("sales_cycle_days") == 30.0
    assert "low_win_rate" in ids(facts)


def test_from_frame_stage_rows():
    frame = pd.DataFrame({"metric": ["stage_conversion:Demo"], "value": [0.2], "median": [0.5]})
    facts = c.RepFacts.from_frame(frame)
    assert facts.stage_conversion == {"Demo": (0.2, 0.5, None)}


NUMS = st.one_of(st.none(), st.just(math.nan), st.floats(min_value=0, max_value=5e6))
METRIC = st.fixed_dictionaries(
    {"value": NUMS, "median": NUMS, "q1": NUMS, "q3": NUMS, "previous": NUMS,
     "percentile": st.one_of(st.none(), st.floats(0, 100))}
)  # fmt: skip
FACTS = st.dictionaries(
    st.sampled_from([m for m in c.METRICS if m != "stage_conversion"]), METRIC, max_size=12
)


@settings(max_examples=60, deadline=None)
@given(FACTS, st.integers(1, 6), st.integers(0, 6))
def test_points_invariants(raw, max_points, min_points):
    min_points = min(min_points, max_points)
    pts = c.talking_points(raw, DEFAULT, max_points=max_points, min_points=min_points)
    assert len(pts) <= max_points
    assert len({p.rule_id for p in pts}) == len(pts)
    order = [{"recognition": 0, "concern": 1, "check-in": 2}[p.kind] for p in pts]
    assert order == sorted(order)
    concern_or_praise = [p for p in pts if p.kind != "check-in"]
    if len(concern_or_praise) >= min_points:  # check-ins only fill up
        assert all(p.kind != "check-in" for p in pts)
    for p in pts:
        assert not set("{}[]") & set(p.text), p.text
        assert "n/a" not in p.text, p.text
        # every cited number comes from the facts (or the file's targets), never elsewhere
        for key, val in p.evidence.items():
            assert isinstance(val, (float, str)), (key, val)


# --------------------------------------------------------------------------- rules file
VALID = {
    "id": "r1", "kind": "concern", "priority": 50, "metric": "win_rate",
    "when": [{"test": "below_median", "ratio": 0.8}], "text": "Win rate {value} vs {median}.",
}  # fmt: skip


def _rule(**changes):
    rule = {**VALID, **changes}
    return {"rules": [{k: v for k, v in rule.items() if v is not None}]}


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (_rule(metric="win_ratio"), "unknown metric 'win_ratio'"),
        (_rule(when=[{"test": "lower_than", "threshold": 1}]), "unknown test 'lower_than'"),
        (_rule(when=[{"test": "below", "threshold": "high"}]), "threshold = 'high'"),
        (_rule(when=[{"test": "below", "threshold": 30}]), "e.g. 0.3 for 30%"),
        (_rule(when=[{"test": "below", "treshold": 0.3}]), "unknown parameter(s) ['treshold']"),
        (_rule(when=[{"test": "below"}]), "no 'threshold'"),
        (_rule(when=[{"test": "at_least_percentile", "threshold": 120}]), "0-100"),
        (_rule(when=[{"test": "below_median", "ratio": -1}]), "ratio = -1"),
        (_rule(when=[{"test": "stage_gap"}]), "stage_gap"),
        (_rule(when=[]), "no conditions"),
        (_rule(text="Win rate {valu}."), "unknown placeholder {valu}"),
        (_rule(text="Win rate [{value}."), "unbalanced"),
        (_rule(kind="praise"), "kind 'praise'"),
        (_rule(priority=500), "priority 500"),
        (_rule(colour="red"), "unknown key(s) ['colour']"),
        (_rule(id="Bad Id"), "id 'Bad Id'"),
        ({"rules": [VALID, VALID]}, "defined twice"),
        ({"rules": []}, "no [[rules]]"),
        ({**_rule(), "pip": {"horizon_days": {"win_rate": 45}}}, "30, 60 or 90"),
        ({**_rule(), "pip": {"gap_share": 0}}, "gap_share = 0"),
        ({**_rule(), "targets": {"attainment": "full"}}, "[targets]"),
        ({**_rule(), "extras": {}}, "unknown section"),
    ],
)
def test_malformed_rules_raise_config_error(data, fragment):
    with pytest.raises(ConfigError) as info:
        c.parse_rules(data, "my_rules.toml")
    msg = str(info.value)
    assert fragment in msg
    assert "Fix:" in msg and msg.startswith("my_rules.toml: ")
    rule_level = set(data) == {"rules"} and len(data["rules"]) == 1
    if rule_level:  # a problem inside a rule names the rule
        assert msg.startswith(f"my_rules.toml: rule {data['rules'][0]['id']!r} ")


def test_rules_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "rules.toml"
    bad.write_text("[[rules]\nid = 'x'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        c.load_rules(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        c.load_rules(tmp_path / "nope.toml")


def test_a_copied_and_edited_file_changes_behaviour(tmp_path):
    text = resources.files("salesnb.analytics").joinpath("coaching_rules.toml").read_text("utf-8")
    edited = text.replace('{ test = "below_median", ratio = 0.75, margin = 0.25 }',
                          '{ test = "below_median", ratio = 1.5, margin = 0.25 }')  # fmt: skip
    assert edited != text
    path = tmp_path / "mine.toml"
    path.write_text(edited, encoding="utf-8")
    facts = {"coverage_next": {"value": 1.5, "median": 1.8}}
    assert "low_coverage_next" not in ids(facts)
    got = [p.rule_id for p in c.talking_points(facts, str(path), min_points=0)]
    assert got == ["low_coverage_next"]


def test_shipped_file_is_the_loaded_default():
    data = tomllib.loads(
        resources.files("salesnb.analytics").joinpath("coaching_rules.toml").read_text()
    )
    assert [r["id"] for r in data["rules"]] == [r.id for r in DEFAULT]
    assert DEFAULT.targets["attainment"] == 1.0 and DEFAULT.pip.horizon_days["stale_deals"] == 30


# --------------------------------------------------------------------------- formatting
@pytest.mark.parametrize(
    ("value", "unit", "currency", "expected"),
    [
        (1_234_567, "currency", "USD", "$1.2M"),
        (999_600, "currency", "USD", "$1M"),
        (999_400, "currency", "USD", "$999K"),
        (8_500, "currency", "USD", "$8.5K"),
        (950, "currency", "USD", "$950"),
        (-2_500_000, "currency", "GBP", "-£2.5M"),
        (3.2e9, "currency", "EUR", "€3.2B"),
        (85_000, "currency", "CHF", "CHF 85K"),
        (1_234, "currency_per_day", "USD", "$1.2K/day"),
        (0.3412, "percent", "USD", "34%"),
        (0.045, "percent", "USD", "4.5%"),
        (0.05, "percent", "USD", "5%"),
        (-0.12, "growth", "USD", "-12%"),
        (0.25, "growth", "USD", "+25%"),
        (0.15, "points", "USD", "15 pts"),
        (2.04, "multiple", "USD", "2.0x"),
        (42.4, "days", "USD", "42 days"),
        (1, "days", "USD", "1 day"),
        (12_345, "count", "USD", "12,345"),
        (72, "percentile", "USD", "72nd"),
        (11, "percentile", "USD", "11th"),
        (None, "currency", "USD", "n/a"),
        (math.nan, "percent", "USD", "n/a"),
    ],
)
def test_format_value(value, unit, currency, expected):
    assert c.format_value(value, unit, currency) == expected


def test_format_value_rejects_unknown_units():
    with pytest.raises(ParameterError, match="Unknown unit 'dollars'"):
        c.format_value(1, "dollars")


def test_to_markdown():
    facts = {"coverage_next": {"value": 1.4, "median": 2.6}, "bookings_growth": 0.5}
    pts = c.talking_points(facts, DEFAULT, min_points=0)
    md = c.to_markdown(pts).splitlines()
    assert md[0].startswith("- **Well done:** Bookings are +50%")
    assert md[1].startswith("- **To work on:** Next quarter's pipeline covers only 1.4x")


# --------------------------------------------------------------------------- gap analysis
GAPPY = {
    "attainment": {"value": 0.6, "median": 0.9},  # target 1.0: (1 - 0.6) / 1 = 0.40; median 0.333
    "win_rate": {"value": 0.15, "median": 0.30},  # (0.30 - 0.15) / 0.30 = 0.50
    "sales_cycle_days": {"value": 66, "median": 60},  # (66 - 60) / 60 = 0.10 (lower is better)
    "activities": {"value": 400, "median": 200},  # (200 - 400) / 200 = -1.00: ahead
    "avg_deal_size": {"value": 20_000, "median": 20_500},  # 500 / 20,500 = 0.024: on par
    "stale_deals": {"value": 9, "median": 2},  # (9 - 2) / 2 = 3.50
    "bookings": 100_000,  # no reference
    "stage_conversion": {"Demo": (0.2, 0.5, 12)},  # (0.5 - 0.2) / 0.5 = 0.60
}


def test_gap_analysis_orders_by_severity():
    g = c.gap_analysis(GAPPY, DEFAULT)
    assert g["metric"].tolist() == [
        "stale_deals", "stage_conversion:Demo", "win_rate", "attainment", "sales_cycle_days",
        "avg_deal_size", "activities", "bookings",
    ]  # fmt: skip
    row = g.set_index("metric")
    assert row.loc["attainment", "target"] == 1.0
    assert row.loc["attainment", "severity"] == pytest.approx(0.40)
    assert row.loc["attainment", "gap_to_median_pct"] == pytest.approx(0.3 / 0.9)
    assert row.loc["sales_cycle_days", "gap_to_median"] == 6
    assert row.loc["stage_conversion:Demo", "label"] == "Conversion at Demo"
    assert row["status"].to_dict() == {
        "stale_deals": "behind", "stage_conversion:Demo": "behind", "win_rate": "behind",
        "attainment": "behind", "sales_cycle_days": "behind", "avg_deal_size": "on par",
        "activities": "ahead", "bookings": "no reference",
    }  # fmt: skip


# --------------------------------------------------------------------------- PIP
START = date(2026, 10, 1)


def test_pip_goals_targets_and_deadlines():
    goals = c.propose_pip_goals(GAPPY, start=START, n_goals=4, rules=DEFAULT)
    # Eligible and behind: stale_deals 3.50, Demo 0.60, win_rate 0.50, sales_cycle 0.10
    # (attainment is not a PIP metric; activities is ahead). Goals on what moves results come
    # first; CRM hygiene (stale deals) last, however far behind.
    assert [g.metric for g in goals] == [
        "stage_conversion:Demo", "win_rate", "sales_cycle_days", "stale_deals",
    ]  # fmt: skip
    by = {g.metric: g for g in goals}
    # stale: 9 + 0.5 x (2 - 9) = 5.5, cap 9 x 0.5 = 4.5 not hit, rounded toward 9 -> 6; 30 days
    assert (by["stale_deals"].target, by["stale_deals"].horizon_days) == (6.0, 30)
    # Demo: 0.2 + 0.5 x 0.3 = 0.35, cap 0.2 x 1.5 = 0.30 -> 0.30; 90 days
    assert by["stage_conversion:Demo"].target == pytest.approx(0.30)
    assert "capped at 50%" in by["stage_conversion:Demo"].smart["achievable"]
    # win rate: 0.15 + 0.5 x 0.15 = 0.225 (= the cap), whole points toward the baseline -> 0.22
    assert by["win_rate"].target == pytest.approx(0.22)
    # cycle: 66 - 0.5 x 6 = 63 days
    assert by["sales_cycle_days"].target == 63
    assert by["win_rate"].text == "Raise win rate from 15% to 22% by 2026-12-30 (90 days)."
    assert by["stale_deals"].text == "Reduce stale deals from 9 to 6 by 2026-10-31 (30 days)."


def test_pip_goals_are_smart_complete():
    goals = c.propose_pip_goals(GAPPY, start=START, rules=DEFAULT)
    assert len(goals) == 3
    for g in goals:
        assert set(g.smart) == {"specific", "measurable", "achievable", "relevant", "time_bound"}
        assert all(v.strip() for v in g.smart.values())
        assert (g.deadline - g.start).days == g.horizon_days in (30, 60, 90)
        assert [d for d, _, _ in g.milestones] == [d for d in (30, 60, 90) if d <= g.horizon_days]
        assert g.milestones[-1][2] == pytest.approx(g.target)
        ref = "all reps' conversion" if g.metric.startswith("stage") else "peer group median"
        assert g.support and ref in g.smart["achievable"]
        weeks = g.checkpoints
        assert weeks["week"].tolist() == list(range(1, math.ceil(g.horizon_days / 7) + 1))
        assert weeks["expected"].iloc[-1] == pytest.approx(g.target)
    win = next(g for g in goals if g.metric == "win_rate")
    # linear path: week 3 = 0.15 + (0.22 - 0.15) x 21 / 90 = 0.16633
    assert win.checkpoints.loc[2, "expected"] == pytest.approx(0.15 + 0.07 * 21 / 90)
    assert win.checkpoints.loc[2, "date"] == pd.Timestamp("2026-10-22")
    assert win.support.startswith("A weekly deal review")


def test_pip_never_invents_goals_and_checks_n_goals():
    assert c.propose_pip_goals({"win_rate": {"value": 0.4, "median": 0.3}}, start=START) == []
    with pytest.raises(ParameterError, match="2 to 4"):
        c.propose_pip_goals(GAPPY, start=START, n_goals=5)
    with pytest.raises(ParameterError, match="n_goals"):
        c.propose_pip_goals(GAPPY, start=START, n_goals=1)
    with pytest.raises(ParameterError, match="not a date"):
        c.propose_pip_goals(GAPPY, start="next monday")


def test_pip_keeps_one_stage_goal():
    facts = {"stage_conversion": {"Demo": (0.2, 0.5), "Proposal": (0.1, 0.5)},
             "win_rate": {"value": 0.2, "median": 0.3}}  # fmt: skip
    goals = c.propose_pip_goals(facts, start=START, rules=DEFAULT)
    assert [g.metric for g in goals] == ["stage_conversion:Proposal", "win_rate"]


def test_pip_progress_statuses():
    goals = c.propose_pip_goals(GAPPY, start=START, n_goals=4, rules=DEFAULT)
    # win rate 0.15 -> 0.22 over 90 days: tolerance 0.1 x 0.07 = 0.007.
    # week 1 expected 0.15 + 0.07 x 7/90 = 0.15544; week 2 0.16089; week 3 0.16633
    # stale 9 -> 6 over 30 days (lower is better), tolerance 0.3: week 1 expected 9 - 3 x 7/30 = 8.3
    actuals = pd.DataFrame(
        {"week": [1, 2, 3, 1, 2],
         "metric": ["win_rate"] * 3 + ["stale_deals"] * 2,
         "value": [0.157, 0.18, 0.15, 9.0, 6.0]}
    )  # fmt: skip
    out = c.pip_progress(goals, actuals, as_of="2026-10-22")
    win = out[out["metric"] == "win_rate"].set_index("week")
    assert win["status"].tolist() == ["on track", "ahead", "behind"]
    stale = out[out["metric"] == "stale_deals"].set_index("week")
    # week 1: 9 vs 8.3 -> behind; week 2: 6 vs 7.6 -> ahead; week 3 due, no data
    assert stale["status"].tolist() == ["behind", "ahead", "no data"]
    assert stale["expected"].iloc[0] == pytest.approx(9 - 3 * 7 / 30)
    # Demo has no actuals; nothing after as_of (week 4 = 2026-10-29) is listed
    assert out["week"].max() == 3
    assert out.groupby("metric")["is_latest"].sum().eq(1).all()
    assert out.loc[out["is_latest"], "week"].eq(3).all()


def test_a_plan_only_below_the_bar():
    star = c.plan_needed({"FY2026-Q1": 1.96, "FY2026-Q2": 2.1, "FY2026-Q3": 0.68}, DEFAULT)
    assert not star.needed and star.reason.startswith("No improvement plan needed")
    assert "under 70% in 1 of them (a plan needs 2)" in star.reason
    low = c.plan_needed({"FY2026-Q1": 0.53, "FY2026-Q2": 0.35, "FY2026-Q3": 0.65}, DEFAULT)
    assert low.needed and "in 3 of the last 3 complete quarters" in low.reason
    # Exactly at the bar is not below it; quarters without a target do not count.
    edge = c.plan_needed({"Q1": 0.7, "Q2": 0.69, "Q3": None, "Q4": 0.9}, DEFAULT)
    assert not edge.needed and [q for q, _ in edge.quarters] == ["Q1", "Q2", "Q4"]
    new = c.plan_needed({"FY2026-Q3": 0.64}, DEFAULT)
    assert not new.needed and "only 1 complete quarter(s) with a target" in new.reason
    # Only the last bar_quarters count: an old bad spell does not earn a plan.
    old = c.plan_needed({"Q1": 0.3, "Q2": 0.3, "Q3": 0.9, "Q4": 0.9, "Q5": 0.5}, DEFAULT)
    assert not old.needed


def test_pip_bar_settings_are_checked():
    with pytest.raises(ConfigError, match="bar_misses"):
        c.parse_rules({**tomllib.loads(_DEFAULT_TEXT), "pip": {"bar_quarters": 2, "bar_misses": 3}})
    with pytest.raises(ConfigError, match="bar = 70"):
        c.parse_rules({**tomllib.loads(_DEFAULT_TEXT), "pip": {"bar": 70}})


@pytest.mark.parametrize(
    ("actuals", "fragment"),
    [
        (pd.DataFrame({"week": [1], "value": [1.0]}), "columns week, metric, value"),
        (pd.DataFrame({"week": [1, 1], "metric": ["win_rate"] * 2, "value": [0.1, 0.2]}),
         "several values"),
        (pd.DataFrame({"week": ["one"], "metric": ["win_rate"], "value": [0.1]}), "'week'"),
        (pd.DataFrame({"week": [1], "metric": ["win_rate"], "value": ["high"]}), "'value'"),
    ],
)  # fmt: skip
def test_pip_progress_rejects_bad_actuals(actuals, fragment):
    goals = c.propose_pip_goals(GAPPY, start=START, rules=DEFAULT)
    with pytest.raises(ParameterError, match=fragment):
        c.pip_progress(goals, actuals, as_of=START)


def test_goals_table():
    goals = c.propose_pip_goals(GAPPY, start=START, rules=DEFAULT)
    t = c.goals_table(c.propose_pip_goals(GAPPY, start=START, n_goals=4, rules=DEFAULT))
    assert t.loc[3, ["baseline", "target", "peer group median"]].tolist() == ["9", "6", "2"]
    assert t.loc[3, "deadline"] == date(2026, 10, 31)
    assert "stale_deals" not in [g.metric for g in goals]  # three goals: no room for hygiene

"""What the pipeline review says when the data cannot give a figure."""

from __future__ import annotations

import re

import pytest
from persona_data import END, TYPICAL, ctx_for


@pytest.mark.parametrize("forward", [False, True])
def test_a_next_period_without_a_target_is_said_in_words_not_na(forward):
    """At quarter end the pipeline review looks one quarter further, whose target the sample
    does not hold yet: 'no target ... not known', never 'a target of n/a'."""
    from salesnb.reports.reviewviews import pipeline_review_view

    ctx = ctx_for(TYPICAL, END, forward=forward)
    text = re.sub(r"<[^>]+>", "", str(pipeline_review_view(ctx).text["coverage"]))
    nxt = ctx.wb.targets[ctx.wb.targets["month"].between(ctx.next_start, ctx.next_end)]
    if nxt["amount"].sum() > 0:
        assert "against a target of" in text and "n/a" not in text.split("Next period")[1]
    else:
        assert "a target of n/a" not in text
        assert "the data holds no target for it yet, so its coverage is not known" in text


@pytest.mark.parametrize("rep", ["R04", "R07"])
def test_the_index_flags_of_a_one_on_one_are_what_each_concern_is_about_in_words(rep):
    """The batch index lists a one-on-one's flags: the scorecard's words, not rule ids."""
    from salesnb.analytics.coaching_facts import METRICS
    from salesnb.reports.reviewviews import one_on_one_view

    flags = one_on_one_view(ctx_for(rep, END)).headline["flags"]
    assert flags, rep  # both have something to work on at quarter end
    labels = {m.label for m in METRICS.values()}
    assert set(flags) <= labels and len(flags) == len(set(flags)), flags
    assert not any("_" in f for f in flags)

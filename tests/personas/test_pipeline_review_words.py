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

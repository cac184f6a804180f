"""A summary first: every document opens with 4-6 tiles (value, status against target, change
against last quarter and the same quarter last year) and the subject's own quarter trend.

Expected values are computed by hand from the sample's targets and deals, not by the code
under test.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from persona_data import END, MID, NEW, STAR, TYPICAL, ctx_for, sample_wb

from salesnb.reports import render, summary

WORKBOOKS = ("one_on_one", "pipeline_review", "forecast", "goal_setting",
             "performance_improvement_plan")  # fmt: skip


def _own_quarter(wb, rep: str, label: str) -> tuple[float, float]:
    """(target, bookings) of a rep in a fiscal quarter, by hand from the raw tables."""
    start, end = wb.config.calendar.period_bounds(label)
    t = wb.targets
    target = t.loc[(t["rep_id"] == rep) & t["month"].between(start, end), "amount"].sum()
    o = wb.opportunities
    won = o[(o["rep_id"] == rep) & (o["outcome"] == "won") & o["close_date"].between(start, end)]
    return float(target), float(won["amount"].sum())


def _tile(tiles, metric):
    hits = [t for t in tiles if t.metric == metric]
    assert hits, [t.metric for t in tiles]
    return hits[0]


@pytest.mark.parametrize("workbook", WORKBOOKS)
@pytest.mark.parametrize("rep", [STAR, TYPICAL, NEW[0]])
def test_every_document_opens_with_four_to_six_tiles(workbook, rep):
    tiles = summary.summary_tiles(ctx_for(rep, END), workbook)
    assert 4 <= len(tiles) <= 6
    for t in tiles:
        assert t.text and "nan" not in t.text.lower() and "e+0" not in t.text
        assert t.vs_last and t.vs_year  # a change, or "not known" in words


@pytest.mark.parametrize("rep", [STAR, TYPICAL])
def test_attainment_tile_value_and_changes_by_hand(rep):
    wb = sample_wb()
    tiles = summary.summary_tiles(ctx_for(rep, END), "one_on_one")
    att = _tile(tiles, "attainment")
    target, booked = _own_quarter(wb, rep, "FY2026-Q3")
    assert att.value == pytest.approx(booked / target)
    prev_t, prev_b = _own_quarter(wb, rep, "FY2026-Q2")
    year_t, year_b = _own_quarter(wb, rep, "FY2025-Q3")
    assert att.change_last == pytest.approx(booked / target - prev_b / prev_t)
    assert att.change_year == pytest.approx(booked / target - year_b / year_t)
    pts = round((booked / target - prev_b / prev_t) * 100)
    assert f"{pts:+d} pts" in att.vs_last and "FY2026-Q2" in att.vs_last
    assert "FY2025-Q3" in att.vs_year
    # the quarter is over on 30 September: judged against the whole target
    assert ("Target met" if booked >= target else "Below target") in att.status
    bk = _tile(tiles, "bookings")
    assert bk.value == pytest.approx(booked)


def test_the_star_trend_covers_eight_quarters_ending_with_this_one():
    wb = sample_wb()
    att = _tile(summary.summary_tiles(ctx_for(STAR, END), "one_on_one"), "attainment")
    labels = [q for q, _ in att.trend]
    assert len(labels) == 8 and labels[-1] == "FY2026-Q3" and labels[0] == "FY2024-Q4"
    t, b = _own_quarter(wb, STAR, "FY2026-Q2")
    assert dict(att.trend)["FY2026-Q2"] == pytest.approx(b / t)  # the 210% quarter


def test_mid_quarter_attainment_is_judged_against_the_pace():
    ctx = ctx_for(STAR, MID)
    att = _tile(summary.summary_tiles(ctx, "one_on_one"), "attainment")
    assert "to date" in att.note
    assert "pace" in att.status
    assert att.target == pytest.approx((pd.Timestamp(MID) - ctx.start).days / 92 + 1 / 92)


@pytest.mark.parametrize("rep", NEW)
def test_a_new_hire_has_no_year_of_history_and_it_says_so(rep):
    ctx = ctx_for(rep, END)
    att = _tile(summary.summary_tiles(ctx, "one_on_one"), "attainment")
    assert att.change_year is None
    assert "not known" in att.vs_year and "joined" in att.vs_year
    joined = ctx.wb.rep(rep)["start_date"]
    labels = [q for q, _ in att.trend]
    first = ctx.wb.config.calendar.period_label(joined, "Q")
    assert labels[0] == first and labels[-1] == "FY2026-Q3"
    assert len(labels) <= 3


def test_the_html_is_escaped_offline_and_says_not_known():
    html = str(summary.summary_html(ctx_for(NEW[0], END), "one_on_one"))
    assert 'class="tiles"' in html and "not known" in html
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "<svg" in html  # the trend, drawn inline
    assert "nan" not in re.sub(r"<[^>]+>", " ", html).lower().split()
    # what the document keeps after the sanitiser every notebook output passes through
    kept = render.offline_html(html)
    for cls in ("tiles", "tile", "tile-value", "tile-status bad", "tile-trend", "tiles-peers"):
        assert f'class="{cls}"' in kept, cls


def test_the_forecast_tile_shows_the_forecast_of_the_period():
    ctx = ctx_for(STAR, END, forward=True)
    tiles = summary.summary_tiles(
        ctx, "forecast", forecast={"expected": 123_456.0, "p_target": 0.42}
    )
    fc = _tile(tiles, "forecast")
    assert fc.value == pytest.approx(123_456.0) and fc.text == "$123K"
    assert "42%" in fc.status and ctx.period in fc.note


def test_the_tiles_css_wraps_at_phone_width_and_prints():
    css = summary.tiles_css()
    assert "@media" in css and "600px" in css and "print" in css

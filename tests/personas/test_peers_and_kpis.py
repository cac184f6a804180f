"""Peers compare like with like, and one definition of each KPI in every document."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from persona_data import END, MID, NEW, STAR, TYPICAL, ctx_for, sample_wb

from salesnb.analytics import kpis
from salesnb.reports import facts, summary


def _team_of(wb, rep):
    reps = wb.reps.set_index("rep_id")
    return reps.loc[rep, "team"], reps.loc[rep, "region"]


@pytest.mark.parametrize("rep", [STAR, TYPICAL])
def test_peers_are_the_reps_team_without_the_rep(rep):
    wb = sample_wb()
    ctx = ctx_for(rep, END)
    team, _ = _team_of(wb, rep)
    others = wb.reps.loc[(wb.reps["team"] == team) & (wb.reps["rep_id"] != rep), "rep_id"]
    att = kpis.quota_attainment(wb, "rep", period="FY2026-Q3", as_of=END).set_index("rep_id")
    by_hand = float(np.median(att.loc[list(others), "attainment"]))
    comp = facts.peer_comparison(ctx).set_index("metric")
    assert comp.loc["attainment", "peer_n"] == len(others)
    assert comp.loc["attainment", "peer_median"] == pytest.approx(by_hand)
    group = facts.peer_group(ctx)
    assert group.kind == "team" and group.n == len(others) and rep not in group.rep_ids
    assert group.label == f"median of {len(others)} other reps in your team"
    assert group.small and "fewer than 5" in group.note


def test_without_teams_the_peers_are_the_region_labelled_as_such():
    wb = sample_wb()
    bare = dataclasses.replace(wb, reps=wb.reps.assign(team=pd.NA))
    ctx = facts.context(bare, "rep", STAR, None, END)
    group = facts.peer_group(ctx)
    _, region = _team_of(wb, STAR)
    n = int(((wb.reps["region"] == region) & (wb.reps["rep_id"] != STAR)).sum())
    assert group.kind == "region" and group.n == n
    assert group.label == f"median of {n} other reps in your region"
    assert not group.small


def test_the_peer_label_is_in_the_summary():
    html = str(summary.summary_html(ctx_for(STAR, END), "one_on_one"))
    assert "median of 4 other reps in your team" in html and "fewer than 5" in html


def _cycle_by_hand(wb, rep: str, as_of: str) -> float:
    o = wb.opportunities
    end = pd.Timestamp(as_of)
    start = end - pd.Timedelta(days=facts.SALES_CYCLE_WINDOW_DAYS - 1)
    won = o[(o["rep_id"] == rep) & (o["outcome"] == "won") & o["close_date"].between(start, end)]
    return float(np.median((won["close_date"] - won["created_date"]).dt.days))


@pytest.mark.parametrize("rep", [STAR, TYPICAL, NEW[0]])
@pytest.mark.parametrize("as_of", [MID, END])
def test_the_sales_cycle_is_one_figure_in_every_document(rep, as_of):
    wb = sample_wb()
    review, ahead = ctx_for(rep, as_of), ctx_for(rep, as_of, forward=True)
    figures = {
        "one_on_one scorecard": facts.peer_comparison(review)
        .set_index("metric").loc["sales_cycle_days", "value"],
        "pipeline_review velocity": facts.velocity(ahead)["median_cycle_days"],
        "improvement plan": facts.pip_facts(review, review.as_of).value("sales_cycle_days"),
        "summary tile": next(t.value for t in summary.summary_tiles(review, "one_on_one")
                             if t.metric == "sales_cycle_days"),
    }  # fmt: skip
    by_hand = _cycle_by_hand(wb, rep, as_of)
    assert all(v == pytest.approx(by_hand) for v in figures.values()), (by_hand, figures)


def test_tables_name_the_median_for_its_group():
    from salesnb.reports import workbooks as wbk

    ctx = ctx_for(STAR, END)
    assert "team median" in wbk.scorecard_table(ctx, facts.peer_comparison(ctx)).columns
    wb = sample_wb()
    bare = dataclasses.replace(wb, reps=wb.reps.assign(team=pd.NA))
    assert wbk.peer_median_header(facts.context(bare, "rep", STAR, None, END)) == "region median"

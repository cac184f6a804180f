"""The pipeline view in its three parts, the recent pace of new deals, and the plain prose."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesnb.forecast import combined as fc
from salesnb.forecast.pipeline import _run_rate, _run_rates_by_rep, creation_factor
from salesnb.reports import facts
from salesnb.reports import forecastview as fv
from salesnb.reports import workbooks as wbk

AS_OF = pd.Timestamp("2026-09-30")


def test_creation_factor_hand_computed():
    # 12 deals from 2025-10-01 to 2026-06-30, none in the last 91 days: the past year (365
    # days with deals) gives 12 * 91 / 365 = 1092/365 per 91 days; the factor is
    # (0 + 2) / (1092/365 + 2) = 730 / 1822.
    created = pd.Series(pd.date_range("2025-10-01", "2026-06-30", periods=12))
    factor, recent, usual = creation_factor(created, AS_OF)
    assert recent == 0
    assert usual == pytest.approx(1092 / 365, abs=1e-6)
    assert factor == pytest.approx(730 / 1822, rel=1e-6)
    # the same pace kept up in the last quarter: 4 more deals in the last 91 days, 16 in
    # the year: (4 + 2) / (16 * 91 / 365 + 2)
    more = pd.concat([created, pd.Series(pd.date_range("2026-07-15", "2026-09-15", periods=4))])
    factor, recent, usual = creation_factor(more, AS_OF)
    assert recent == 4
    assert factor == pytest.approx(6 / (16 * 91 / 365 + 2), rel=1e-6)
    # under two quarters of deals: no scaling; deals after as_of do not count
    assert creation_factor(pd.Series(pd.date_range("2026-05-01", "2026-09-01", periods=5)),
                           AS_OF)[0] == 1.0  # fmt: skip
    late = pd.concat([created, pd.Series([pd.Timestamp("2026-10-05")])])
    assert creation_factor(late, AS_OF)[0] == pytest.approx(730 / 1822, rel=1e-6)


@pytest.fixture(scope="module")
def r28(sample_wb):
    return fc.period_forecast(sample_wb, "rep", "R28", "FY2026-Q4", "2026-09-30", n_sims=2000)


def test_split_parts_add_up_to_the_pipeline_views_expected_total(r28):
    split = wbk.pipeline_split(r28)
    parts = {k: v for k, v, _ in split["rows"]}
    assert list(parts) == ["won so far", "open deals", "deals not yet created"]
    assert sum(parts.values()) == pytest.approx(split["total"])
    assert split["total"] == pytest.approx(r28.pipeline.expected)
    deals = r28.pipeline.deals
    assert parts["open deals"] == pytest.approx(float((deals["p_win"] * deals["amount"]).sum()))
    assert parts["won so far"] == r28.pipeline.already_won == 0.0  # as-of is the day before


def test_a_rep_who_stopped_creating_deals_gets_few_new_ones(r28, sample_wb):
    # R28 created 2 deals in Q3 2026 against 25-45 a quarter before: the run-rate learned
    # over the past year (about 2.3 deals of 9.4K, 23K) is scaled by (2 + 2) / (usual + 2)
    # with usual = the year's 102 deals * 91/365 = 25.4, about 0.15.
    rr = r28.pipeline.run_rate
    assert rr["recent_created"] == 2
    o = sample_wb.opportunities
    created = o.loc[o["rep_id"] == "R28", "created_date"]
    in_year = int(created.between(AS_OF - pd.Timedelta(days=364), AS_OF).sum())
    assert rr["usual_created"] == pytest.approx(in_year * 91 / 365, abs=1e-5)
    assert rr["creation_factor"] == pytest.approx(4 / (in_year * 91 / 365 + 2))
    assert r28.pipeline.expected_run_rate < 6_000
    # open deals: a Proposal of 4.5K at 29% and a Demo of 1.4K past its close date, due the
    # next day (in FY2026-Q4) at the past-due in-quarter factor: 3.7%
    assert r28.pipeline.expected_open < 1_400


def test_document_shows_the_split_in_its_text_table_and_headline(sample_wb):
    ctx = facts.context(sample_wb, "rep", "R28", forward=True)
    view = wbk.forecast_view(ctx, backtest=False)
    h = view.headline
    assert h["already_won"] + h["pipeline_open_expected"] + h["pipeline_not_created"] == (
        pytest.approx(h["pipeline_expected"])
    )
    table = view.tables["pipeline_split"]
    assert table["part"].tolist() == ["won so far", "open deals", "deals not yet created"]
    text = str(view.text["summary"])
    assert "deals not yet created" in text and "2 created in the last 91 days" in text
    # its Demo deal due 2026-09-25 is past its close date: said, as the table's row says
    assert "2 open deals (1 of them past their close date)" in text
    assert "(1 of them past their close date)" in table["how"].iloc[1]
    assert wbk.esc(wbk.fmt(h["pipeline_not_created"], "currency", ctx.currency)) in text
    # the side-by-side table's pipeline row shows the figure the text adds up, not the
    # draws' mean (R27 read "$54.1K" in the table beside "$54.2K" in the text)
    summary = view.tables["summary"].set_index("view")
    pipe = wbk.fmt(h["pipeline_expected"], "currency", ctx.currency)
    assert summary.loc["From the pipeline", "expected"] == pipe
    assert f"pipeline view expects {wbk.esc(pipe)}" in text
    # plain words in the text, the technical model name only in the method footnote
    assert "combo(" not in text and "MASE" not in text
    assert "combo(" in str(view.text["method"])


def test_the_summary_says_how_its_figure_was_made_when_it_is_not_the_pooled_views(sample_wb):
    """R16, a new hire at FY2026-Q4's start: the figure ($56K) is the team's forecast shared
    out; the rep's own views pooled (pipeline counting for 75%) give about $37K. The text
    read "about $56.1K (the history and pipeline views pooled, the pipeline counting for
    75%)", which a manager checking 0.75 * $30K + 0.25 * $58K could not reproduce."""
    ctx = facts.context(sample_wb, "rep", "R16", forward=True)
    view = wbk.forecast_view(ctx, backtest=False)
    pf = view.forecast
    assert abs(pf.blended.mean - pf.base_expected) > 0.05 * pf.base_expected
    text = str(view.text["summary"])
    own = wbk.esc(wbk.fmt(pf.base_expected, "currency", ctx.currency))
    assert "missed least in past quarters" in text and f"give {own}" in text
    # with too few past quarters to choose by, the words say what the figure took instead,
    # and never that it missed least in past quarters
    chosen = pf.calibration
    pf.calibration = {**chosen, "mix_chosen": False, "last_year": True}
    words = fv.figure_words(pf, "R16", "USD")
    assert words.startswith(
        "for want of past quarters to choose by, half the whole team's forecast and half the "
        "same quarter last year"
    )
    assert "missed least" not in words
    pf.calibration = {**chosen, "mix_chosen": False, "last_year": False}
    words = fv.figure_words(pf, "R16", "USD")
    assert words.startswith("the whole team's forecast shared out") and "last year" not in words
    pf.calibration = chosen
    # where the figure is the pooled views' own, the text says so and nothing more
    pf.base_expected = pf.blended.mean
    assert fv.figure_words(pf, "R16", "USD").startswith("the history and pipeline views pooled")


def test_history_warning_in_plain_words_points_to_the_better_view():
    # past quarters weighted the pipeline more: lean on it
    text = wbk.history_warning(1.41, 30_500.0, 0.8, 90_000.0, "USD")
    assert "1.41 times" in text and "lean on the pipeline view" in text and "$30.5K" in text
    assert "MASE" not in text
    # history weighed more than the pipeline: point to the same months a year before
    text = wbk.history_warning(1.15, 2_000_000.0, 0.1, 3_300_000.0, "USD")
    assert "the same months a year before brought $3.3M" in text and "only 10%" in text
    assert "lean on the pipeline" not in text


def test_the_warning_does_not_point_away_from_a_figure_made_otherwise(sample_wb):
    # R27 at 2026-08-14: his history model lost to its benchmark (1.44), and the figure is the
    # team's forecast shared out ($44.7K), not his own pooled views ($34.3K, pipeline 82%);
    # the summary used to say "lean on the pipeline view ($29.3K)" under that figure. He
    # booked $57.6K.
    text = wbk.history_warning(1.41, 30_500.0, 0.8, 90_000.0, "USD", own_figure=False)
    assert "lean on" not in text and "not made from these views alone" in text
    ctx = facts.context(sample_wb, "rep", "R27", as_of="2026-08-14", forward=True)
    view = wbk.forecast_view(ctx)
    assert "history model lost to its benchmark" in view.headline["flags"]
    summary = str(view.text["summary"])
    assert "Caution: in its own backtest" in summary and "missed least" in summary
    assert "lean on the pipeline" not in summary
    assert "not made from these views alone" in summary
    # deals created since the snapshot of 2026-08-10 were not called yet: said, not left blank
    calls = view.tables["deals"]["forecast category"].tolist()
    assert "not called" in calls and all(isinstance(c, str) and c for c in calls)


def test_the_whole_teams_document_warns_and_names_last_years_quarter(sample_wb):
    # The whole team's history model lost to seasonal naive in its own backtest (1.15 on
    # the sample at 2026-09-30) and past quarters gave the pipeline a small weight, so the
    # summary points to the same quarter a year before: October-December 2025 bookings.
    ctx = facts.context(sample_wb, "all", None, forward=True)
    view = wbk.forecast_view(ctx)
    assert view.headline["backtest_rel_mase"] > 1
    assert "history model lost to its benchmark" in view.headline["flags"]
    text = str(view.text["summary"])
    last_year = fc.monthly_bookings(sample_wb, by=None, as_of="2026-09-30")["all"]
    q4 = float(last_year.loc["2025-10":"2025-12"].sum())
    assert wbk.esc(wbk.fmt(q4, "currency", ctx.currency)) in text
    assert "Caution: in its own backtest" in text


def test_only_a_single_reps_run_rate_follows_its_recent_pace(sample_wb):
    o = sample_wb.opportunities
    start, end = pd.Timestamp("2026-10-01"), pd.Timestamp("2026-12-31")
    mine = o[o["rep_id"] == "R28"]
    plain = _run_rate(mine, AS_OF, start, end)
    factor = creation_factor(mine["created_date"], AS_OF)[0]
    assert factor < 0.2
    by_rep = _run_rates_by_rep(o, AS_OF, start, end, ["R28"])[0]
    assert by_rep[0] == pytest.approx(plain[0] * factor)
    # the rep's document uses the same rate
    doc = fc.period_forecast(sample_wb, "rep", "R28", "FY2026-Q4", "2026-09-30", n_sims=500)
    assert doc.pipeline.run_rate["rate"] == pytest.approx(by_rep[0])
    # a group keeps the past year's pace: EMEA's forecast shows no recent-pace figures
    emea = fc.period_forecast(sample_wb, "region", "EMEA", "FY2026-Q4", "2026-09-30", n_sims=500)
    assert emea.pipeline.run_rate["creation_factor"] == 1.0
    assert "at the past year's pace of new deals" in wbk.pipeline_split(emea)["sentence"]("USD")


def test_a_rep_with_no_deal_at_all_gets_no_forecast_in_words(sample_wb):
    """A rep listed in the reps table with no deal at all (the public set has five) gets no
    invented '$0, 80% between $0 and $0': the summary says there is nothing to forecast
    from, the forecast tile reads 'not known' and the index flags it. A rep with deals
    does not get the sentence."""
    import dataclasses

    reps = pd.concat([sample_wb.reps, pd.DataFrame([{
        "rep_id": "R99", "name": "Nadia Nobody", "manager": sample_wb.reps["manager"].iloc[0],
        "region": sample_wb.reps["region"].iloc[0], "team": sample_wb.reps["team"].iloc[0],
    }])], ignore_index=True)  # fmt: skip
    wb = dataclasses.replace(sample_wb, reps=reps)
    ctx = facts.context(wb, "rep", "R99", forward=True)
    view = wbk.forecast_view(ctx, backtest=False)
    text = str(view.text["summary"])
    assert "No forecast for Nadia Nobody" in text and "no deal of theirs" in text
    assert view.headline["forecast"] is None and view.headline["forecast_p10"] is None
    assert "no deal in the data: no forecast" in view.headline["flags"]
    from salesnb.reports import summary

    assert "not known" in str(summary.summary_html(ctx, "forecast", forecast=view.headline))
    other = wbk.forecast_view(facts.context(sample_wb, "rep", "R28", forward=True),
                              backtest=False)  # fmt: skip
    assert "No forecast for" not in str(other.text["summary"])


def test_each_reps_own_forecast_uses_its_own_learned_pipeline_weight(sample_wb):
    """A rep's own forecast (the bottom-up candidate, its share of the team's, and its own
    document) pools its history and pipeline views with the rep's own weight, learned from
    its past snapshots and shrunk towards the reps' pooled weight (every rep's learned
    weight, weighted by its snapshots): (n w_rep + 4 w_reps) / (n + 4)."""
    from salesnb.forecast import levels
    from salesnb.forecast.calibration import BLEND_PRIOR, blend_weight

    as_of = pd.Timestamp(AS_OF)
    reps = [str(r) for r in sample_wb.reps["rep_id"]]
    bws = {r: blend_weight(sample_wb, "rep", r, [r], as_of) for r in reps}
    assert all(bw["source"] == "learned" for bw in bws.values())
    n = {r: bw["snapshots"] for r, bw in bws.items()}
    pooled = sum(n[r] * bws[r]["learned"] for r in reps) / sum(n.values())
    got = levels.rep_weights(sample_wb, ["R28", "R07"], as_of, 0.2)
    for r, w in zip(["R28", "R07"], got, strict=True):
        assert n[r] >= 10
        want = (n[r] * bws[r]["learned"] + BLEND_PRIOR * pooled) / (n[r] + BLEND_PRIOR)
        assert w == pytest.approx(want)
    assert levels.pooled_rep_weights(sample_wb, as_of)[1] == pytest.approx(pooled)
    # R28's pipeline forecast its past quarters better than its history did: mostly pipeline
    assert got[0] > 0.6
    # its own document pools its views with the same weight
    assert fc.period_forecast(sample_wb, "rep", "R28").pipeline_weight == pytest.approx(got[0])
    # no snapshot of a finished quarter before the date: the team's weight
    early = levels.rep_weights(sample_wb, ["R28", "R07"], pd.Timestamp("2025-06-30"), 0.2)
    assert early.tolist() == [0.2, 0.2]


def test_a_new_hire_is_not_read_from_a_few_months_of_history(sample_wb):
    """R16 joined on 2026-04-06. At 2026-08-14 no past snapshot could replay his history
    view, so his weight used to be the inverse variance of the two views: 0.20, his four
    months of history counting for 80% of a figure of $21.2K (he booked $35.7K). The whole
    team's weight (0.18) is no better guide. He now gets the reps' pooled weight."""
    from salesnb.forecast import levels

    as_of = pd.Timestamp("2026-08-14")
    own, pooled = levels.pooled_rep_weights(sample_wb, as_of)
    assert 0.4 < pooled < 0.6 and own["R16"] == pooled
    pf = fc.period_forecast(sample_wb, "rep", "R16", as_of=as_of)
    assert pf.pipeline_weight == pytest.approx(pooled)
    assert any("the reps' pooled weight" in n for n in pf.notes)
    assert not any("inverse variance" in n for n in pf.notes)
    assert pf.blended.mean > 25_000


def test_the_empty_pipeline_rep_is_not_forecast_a_normal_quarter(r28):
    """R28 has $1.4K of open deals and created 2 deals last quarter against about 25 a year
    before; its history alone says about $80K. Its document's figure follows its own
    pipeline weight, so it lands far below a normal quarter and the chance of target is
    small (it read "about $76.1K ... chance of reaching it: 25%" with the team's weight)."""
    hist = float(r28.history_total.samples.mean())
    assert hist > 60_000
    assert r28.blended.mean < 0.5 * hist
    assert np.mean(r28.blended.samples >= r28.target) < 0.1


def test_a_new_hire_with_no_booking_yet_is_forecast_from_the_pipeline_not_from_zeros(sample_wb):
    """R16 joined on 2026-04-06 and had booked nothing by FY2026-Q3's eve, with 5 open deals.
    The history view fitted the three months of zeros, forecast $0 and took 80% of the
    blend; the pipeline view's deals not yet created were worth $0 too, since the rep's own
    run-rate counts its past wins. The document read about $4.7K, 80% between $0 and $16K,
    and the quarter booked $35.7K. Now the history view says it has nothing to go on, the
    pipeline view carries the forecast, and new deals come at the rep's own pace at the
    team's odds; the band holds what was booked. R26 (joined later) likewise."""
    wb = sample_wb
    o = wb.opportunities
    start, end = pd.Timestamp("2026-07-01"), pd.Timestamp("2026-09-30")
    for rep in ("R16", "R26"):
        pf = fc.period_forecast(wb, "rep", rep, "FY2026-Q3", "2026-06-30", n_sims=4000)
        mine = o[o["rep_id"].astype(str) == rep]
        assert not ((mine["outcome"] == "won") & (mine["close_date"] <= pf.as_of)).any()
        assert not pf.history.ok and "no booking yet" in pf.history.note
        assert pf.pipeline_weight == 1.0 and "no usable history" in " ".join(pf.notes)
        rr = pf.pipeline.run_rate
        assert rr["borrowed"] and pf.pipeline.expected_run_rate > 0
        # the same rate in the per-rep table that the figures adding up use
        table = _run_rates_by_rep(o, pf.as_of, start, end, [rep])[0]
        assert table[0] == pytest.approx(rr["rate"], rel=1e-9)
        booked = mine.loc[(mine["outcome"] == "won") & mine["close_date"].between(start, end),
                          "amount"].sum()  # fmt: skip
        lo, hi = np.percentile(pf.blended.samples, [10, 90])
        assert lo <= booked <= hi, (rep, lo, hi, booked)
        assert pf.blended.mean > 2.5 * 4_750  # no longer the history's zeros
        text = fv.pipeline_split(pf)["sentence"]("USD")
        assert "no win of its own yet to learn from" in text
        words = fv.figure_words(pf, rep, "USD")
        assert "pipeline view alone" in words and "counting for 100%" not in words
        assert fv.method_words(pf.history.method, pf.history.note).endswith(
            "no booking yet to go on"
        )
    # the side-by-side table shows the missing history view as unknown, not as $0
    ctx = facts.context(wb, "rep", "R16", "FY2026-Q3", "2026-06-30", forward=True)
    row = wbk.forecast_view(ctx, backtest=False).tables["summary"].iloc[0]
    assert row["view"] == "From history" and row["expected"] == "none: no booking yet"
    assert "$0" not in row.tolist()
    # a rep with wins keeps its own run-rate
    pf = fc.period_forecast(wb, "rep", "R27", "FY2026-Q3", "2026-06-30", n_sims=500)
    assert not pf.pipeline.run_rate["borrowed"] and pf.history.ok

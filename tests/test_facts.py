"""salesnb.reports.facts and salesnb.reports.workbooks on the tiny hand-made workbook (values checked by hand).

tiny_wb (as of 2026-09-30): reps A, B (East) and C, D (West); targets only for August 2026
(A 2000, B 1000, C 1000, D 500). Deals:
o1 A won 1000 (created 07-01, closed 08-01); o2 A lost 500 at Demo (07-05 -> 08-10);
o3 A open Demo 2000 due 10-15; o4 B won 300 (07-10 -> 09-01);
o5 C open Proposal 800 due 09-20 (past due); o6 C won 700 (06-01 -> 07-01).
"""

from __future__ import annotations

import datetime as dt
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesnb.core.errors import ParameterError
from salesnb.reports import facts, peerfacts
from salesnb.reports import workbooks as wbk

ROOT = Path(__file__).resolve().parents[1]


def test_context_default_and_forward_periods(tiny_wb):
    ctx = facts.context(tiny_wb, "rep", "A")
    assert (ctx.period, ctx.next_period) == ("FY2026-Q3", "FY2026-Q4")
    assert ctx.start == pd.Timestamp("2026-07-01") and ctx.end == pd.Timestamp("2026-09-30")
    # as_of is the quarter's last day: the quarter still in play is the next one
    fwd = facts.context(tiny_wb, "rep", "A", forward=True)
    assert (fwd.period, fwd.next_period) == ("FY2026-Q4", "FY2027-Q1")
    assert ctx.title("X")["subject_name"] == "Ann Able"


def test_elapsed_share(tiny_wb):
    assert facts.elapsed_share(facts.context(tiny_wb, "rep", "A")) == 1.0
    # 2026-07-01 .. 2026-08-15 is 46 of Q3's 92 days
    mid = facts.context(tiny_wb, "rep", "A", as_of="2026-08-15")
    assert facts.elapsed_share(mid) == pytest.approx(46 / 92)


def test_unit_table_rep_rows(tiny_wb):
    t = facts.unit_table(facts.context(tiny_wb, "rep", "A")).set_index("rep_id")
    # A: 1000 won / 2000 target; 1 won of 2 closed. B: 300 / 1000; 1 of 1.
    assert t.loc["A", "bookings"] == 1000.0 and t.loc["A", "attainment"] == 0.5
    assert t.loc["A", "win_rate"] == 0.5 and t.loc["B", "attainment"] == pytest.approx(0.3)
    # next quarter: o3 (2000, due 10-15) is A's whole pipeline; no Q4 target -> NaN coverage
    assert t.loc["A", "pipeline_next"] == 2000.0 and math.isnan(t.loc["A", "coverage_next"])
    # no snapshots: slipped deals are unknown, not zero
    assert math.isnan(t.loc["A", "slipped_deals"])


def test_peer_comparison_hides_peers_of_a_small_group(tiny_wb):
    comp = facts.peer_comparison(facts.context(tiny_wb, "rep", "A")).set_index("metric")
    assert comp.loc["win_rate", "value"] == 0.5
    # East has A and B: one peer besides A is fewer than MIN_PEERS, so no peer figure at all
    peer_cols = ["peer_p25", "peer_median", "peer_p75", "percentile"]
    assert comp[peer_cols].isna().all().all()
    assert comp.loc["attainment", "target"] == 1.0  # pace at the quarter's end


def test_peer_comparison_region_vs_region(tiny_wb):
    comp = facts.peer_comparison(facts.context(tiny_wb, "region", "East")).set_index("metric")
    # East: (1000 + 300) / (2000 + 1000) = 0.4333; West: 700 / (1000 + 500) = 0.4667
    assert comp.loc["attainment", "value"] == pytest.approx(1300 / 3000)
    # the subject is not its own peer: the median of the other regions is West's
    assert comp.loc["attainment", "peer_median"] == pytest.approx(700 / 1500)
    assert comp.loc["attainment", "peer_n"] == 1
    # East below West, the only other region: 0th percentile
    assert comp.loc["attainment", "percentile"] == pytest.approx(0.0)
    # win rate East 2 of 3 closed, West 1 of 1
    assert comp.loc["win_rate", "value"] == pytest.approx(2 / 3)
    # sales cycle East median(31, 53) = 42 days vs West 30: the raw rank is 100 (West below)
    # but shorter is better, so East is at the 0th percentile
    assert comp.loc["sales_cycle_days", "value"] == 42.0
    assert comp.loc["sales_cycle_days", "percentile"] == pytest.approx(0.0)


def test_peer_chart_frame_shape(tiny_wb):
    comp = facts.peer_comparison(facts.context(tiny_wb, "region", "East"))
    df = facts.peer_chart_frame(comp, ["attainment", "sales_cycle_days"])
    assert df["metric"].tolist() == ["Quota attainment", "Sales cycle"]
    assert df["higher_is_better"].tolist() == [True, False]
    assert df["n_peers"].tolist() == [1, 1]  # West only


def test_stage_table_and_bottleneck(tiny_wb):
    st = facts.stage_table(facts.context(tiny_wb, "rep", "A")).set_index("stage")
    # A's deals: o1 won (all stages), o2 lost at Demo, o3 open at Demo
    assert st["reached"].tolist() == [3, 3, 3, 1, 1]
    assert st.loc["Demo", "conversion"] == pytest.approx(1 / 3)
    # team at Demo: o1, o2, o3, o4, o5, o6 reached it; o1, o4, o6 (won) and o5 (Proposal) moved on
    assert st.loc["Demo", "team_conversion"] == pytest.approx(4 / 6)
    # no stage reached by 5+ of A's deals: no bottleneck is claimed
    assert not st["bottleneck"].any()
    f = facts.funnel_frame(st.reset_index())
    assert f["stage"].iloc[-1] == "Closed Won" and f["count"].iloc[-1] == 1


def test_coverage_table(tiny_wb):
    cov = facts.coverage_table(facts.context(tiny_wb, "rep", "A")).set_index("period")
    q3 = cov.loc["FY2026-Q3"]
    # 2000 target - 1000 won = 1000 to close; o3 is due in Q4, so nothing covers it
    assert (q3["remaining_target"], q3["pipeline"], q3["coverage"]) == (1000.0, 0.0, 0.0)
    q4 = cov.loc["FY2026-Q4"]
    assert q4["pipeline"] == 2000.0 and q4["weighted_pipeline"] == pytest.approx(2000 * 0.3)
    assert q4["open_deals"] == 1


def test_coverage_targets_are_each_units_own_with_region_target_rows(tiny_wb):
    from dataclasses import replace

    region_row = pd.DataFrame({"rep_id": [None], "region": ["East"],
                               "month": pd.to_datetime(["2026-08-01"]), "amount": [9000.0]})  # fmt: skip
    wb = replace(tiny_wb, targets=pd.concat([tiny_wb.targets, region_row], ignore_index=True))

    def target(kind: str, key: str) -> float:
        cov = facts.coverage_table(facts.context(wb, kind, key)).set_index("period")
        return cov.loc["FY2026-Q3", "target"]

    assert target("rep", "A") == 2000.0  # the rep's own row, not the region's 9000
    assert target("region", "East") == 9000.0  # a region row replaces its reps' sum
    assert target("manager", "Mia") == 3000.0  # A + B: region rows are not a manager's
    # the same figures as the scorecard's table of every unit
    for kind, key, col in (("rep", "A", "rep_id"), ("manager", "Mia", "manager")):
        ctx = facts.context(wb, kind, key)
        table = facts.unit_table(ctx)
        assert table.set_index(col).loc[key, "target"] == target(kind, key)


def test_own_rows_equal_the_subjects_own_computation(sample_wb):
    from salesnb.analytics import kpis
    from salesnb.reports import subject as subj

    for kind in ("rep", "region", "manager", "team", "all"):
        for key, _ in subj.subjects(sample_wb, kind)[:3]:
            ctx = facts.context(sample_wb, kind, key, forward=True)
            alone = sample_wb.subset(ctx.rep_ids)  # no region target rows in the sample
            start, end = facts.lookback(ctx)
            for kpi, kw in (
                ("stage_conversion", {"start": start, "end": end, "as_of": ctx.as_of}),
                ("velocity", {"start": start, "end": end, "as_of": ctx.as_of}),
                ("coverage", {"period": ctx.next_period, "as_of": ctx.as_of}),
                ("pipeline", {"period": ctx.period, "as_of": ctx.as_of}),
            ):
                expected = getattr(kpis, kpi)(alone, None, **kw)
                pd.testing.assert_frame_equal(facts.own_rows(ctx, kpi, **kw), expected)


def test_open_deals_wins_and_biggest_deal(tiny_wb):
    c = facts.context(tiny_wb, "rep", "C")
    deals = facts.open_deals(c)
    assert deals["opp_id"].tolist() == ["o5"]
    assert bool(deals["past_due"].iloc[0]) and deals["days_past_due"].iloc[0] == 10.0
    a = facts.context(tiny_wb, "rep", "A")
    won = facts.wins(a)
    assert won["opp_id"].tolist() == ["o1"] and won["cycle_days"].tolist() == [31]
    assert facts.wins(a, since="2026-08-02").empty
    deal = facts.biggest_open_deal(facts.open_deals(a))
    assert (deal.name, deal.amount, deal.stage) == ("Acme (o3)", 2000.0, "Demo")
    aging = facts.aging_frame(deals)
    assert aging["label"].tolist() == ["Core · o5"]


def test_rep_facts(tiny_wb):
    f = facts.rep_facts(tiny_wb, "A")
    # 1 won of 2 closed: too few deals for the rules to judge a win rate (the scorecard
    # still shows 50%)
    ctx = facts.context(tiny_wb, "rep", "A")
    row = facts.unit_table(ctx).set_index("rep_id").loc["A"]
    assert (row["won_deals"], row["lost_deals"], row["win_rate"]) == (1, 1, 0.5)
    assert 2 < facts.MIN_CLOSED_DEALS
    assert f.value("win_rate") is None
    assert facts.peer_comparison(ctx).set_index("metric").loc["win_rate", "value"] == 0.5
    rep, team, n = f.stage_conversion["Demo"]
    assert (rep, team, n) == (pytest.approx(1 / 3), pytest.approx(4 / 6), 3)
    assert f.biggest_open_deal.amount == 2000.0


def test_waterfall_view_without_snapshots(tiny_wb):
    v = facts.waterfall_view(facts.context(tiny_wb, "rep", "A"))
    assert v.waterfall is None and v.bars.empty and "snapshots" in v.note


def test_privacy_terms_and_redaction(tiny_wb):
    ctx = facts.context(tiny_wb, "rep", "A")
    terms = set(facts.forbidden_terms(ctx))
    assert terms == {"B", "C", "D", "Bob Baker", "Cyd Cole", "Dee Dunn", "Bolt", "Core", "Cube"}
    # an id such as "C" only where it stands as an identifier (quoted, or after "rep")
    text = "Reps Bob Baker and 'C' have no deals; Acme is fine; Bolt is not; CC stays; C too."
    assert facts.redact(text, sorted(terms, key=len, reverse=True)) == (
        "Reps [another rep] and [another rep] have no deals; Acme is fine; "
        "[another rep] is not; CC stays; C too."
    )
    with pytest.raises(ParameterError):
        facts.rep_breakdown(ctx)


def test_rep_breakdown_for_a_region(tiny_wb):
    out = facts.rep_breakdown(facts.context(tiny_wb, "region", "East"))
    assert out["name"].tolist() == ["Ann Able", "Bob Baker"]  # attainment 0.5 before 0.3


def test_pip_measures_trailing_windows(tiny_wb):
    m = facts.pip_measures(tiny_wb, "rep", "2026-09-30").set_index("rep_id")
    # 90 days to 09-30 start 07-03: A closed o1 (won) and o2 (lost) -> 0.5; C's o6 closed 07-01
    assert m.loc["A", "win_rate"] == 0.5 and math.isnan(m.loc["C", "win_rate"])
    assert m.loc["C", "past_due_deals"] == 1


def test_locate_data_from_a_subfolder(monkeypatch):
    monkeypatch.chdir(ROOT / "tests")
    assert facts.locate_data("data/sample") == (ROOT / "data" / "sample").resolve()
    with pytest.raises(ParameterError, match="not found"):
        facts.locate_data("no/such/folder")
    assert os.path.isabs(facts.locate_data(str(ROOT / "data" / "sample")))


def test_escaping_of_data_in_prose():
    evil = "<script>alert(1)</script>"
    html = str(wbk.para("Deal {d}", d=evil))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<script" not in str(wbk.bullets([evil, '"><img src=x onerror=1>']))
    assert str(wbk.para("{x}", x="{{7*7}}")) == "<p>{{7&#42;7}}</p>"


def test_show_formats_and_blanks():
    df = pd.DataFrame({"amount": [1500.0], "when": pd.to_datetime(["2026-01-02"]), "t": [None]})
    out = wbk.show(df, {"amount": "currency"})
    assert out.iloc[0].tolist() == ["$1.5K", "2026-01-02", ""]


def test_default_subject_is_the_first_in_the_data(tiny_wb):
    assert facts.context(tiny_wb, "rep", None).subject.key == "A"
    assert facts.context(tiny_wb, "region", "").subject.key == "East"


def _show_reference(df, units, currency="USD", rename=None):
    """workbooks.show as first written (column by column on a copy): the behaviour to keep,
    plus the readers' rules added since: true/false as Yes/No, whole numbers stored as floats
    without ".0" (thousands separated, blank when missing)."""
    out = df.copy()
    for col, unit in units.items():
        if col in out:
            out[col] = [wbk.fmt(v, unit, currency) for v in out[col]]
    for col in out.columns:
        if col in units:
            continue
        s = out[col]
        if pd.api.types.is_bool_dtype(s):
            out[col] = pd.Series(["Yes" if v else "No" for v in s], index=s.index, dtype=object)
            continue
        fin = s[np.isfinite(s)] if pd.api.types.is_float_dtype(s) else None
        if fin is not None and len(fin) and (fin == fin.round()).all():
            text = ["" if not np.isfinite(v) else f"{v:,.0f}" for v in s]
            out[col] = pd.Series(text, index=s.index, dtype=object)
            continue
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d").fillna("")
        elif not pd.api.types.is_numeric_dtype(out[col]) and col not in units:
            out[col] = out[col].astype(object).where(out[col].notna(), "")
    out = out.rename(columns=dict(rename or {}))
    out.index = pd.Index([""] * len(out))
    return out


@settings(max_examples=80, deadline=None)
@given(n=st.integers(0, 5), data=st.data())
def test_show_matches_its_reference_on_random_tables(n, data):
    floats = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=False, width=32))
    texts = st.one_of(st.none(), st.text(max_size=4))
    days = st.one_of(st.none(), st.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1)))
    frame = pd.DataFrame({
        "amount": pd.Series(data.draw(st.lists(floats, min_size=n, max_size=n)), dtype="float64"),
        "count": pd.Series(data.draw(st.lists(st.integers(-9, 9), min_size=n, max_size=n)),
                           dtype="int64"),
        "flag": pd.Series(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool),
        "name": pd.Series(data.draw(st.lists(texts, min_size=n, max_size=n)), dtype=object),
        "label": pd.Series(data.draw(st.lists(texts, min_size=n, max_size=n)), dtype="string"),
        "stage": pd.Categorical(data.draw(st.lists(st.sampled_from(["a", "b"]), min_size=n,
                                                   max_size=n))),
        "due": pd.to_datetime(pd.Series(data.draw(st.lists(days, min_size=n, max_size=n)),
                                        dtype=object)),
        "rate": pd.Series(data.draw(st.lists(floats, min_size=n, max_size=n)), dtype="float64"),
    })  # fmt: skip
    units = data.draw(
        st.sampled_from(
            [{}, {"amount": "currency"}, {"amount": "currency", "rate": "percent", "x": "days"}]
        )
    )
    rename = data.draw(st.sampled_from([None, {"amount": "Amount", "due": "Due"}]))
    got = wbk.show(frame, units, "EUR", rename=rename)
    want = _show_reference(frame, units, "EUR", rename=rename)
    pd.testing.assert_frame_equal(got, want)


def test_own_rows_are_the_subjects_rows_of_the_team_table():
    import salesnb

    wb = salesnb.load("data/sample")
    calls = [("pipeline", {}), ("coverage", {"period": "FY2026-Q4"}),
             ("velocity", {"start": "2025-10-01", "end": "2026-09-30"}),
             ("stage_conversion", {"start": "2025-10-01", "end": "2026-09-30"})]  # fmt: skip
    for kind in ("rep", "region", "manager", "all"):
        for key, _ in salesnb.reports.subject.subjects(wb, kind)[:3]:
            ctx = facts.context(wb, kind, key)
            for kpi, kwargs in calls:
                got = facts.own_rows(ctx, kpi, as_of=ctx.as_of, **kwargs)
                table = peerfacts._kpi_table(ctx.wb, kpi, ctx.by, as_of=ctx.as_of, **kwargs)
                if ctx.key is None:
                    want = table.reset_index(drop=True)
                else:
                    want = table[table[ctx.key] == ctx.subject.key]
                    want = want.drop(columns=[ctx.key, "name"], errors="ignore")
                    want = want.reset_index(drop=True)
                pd.testing.assert_frame_equal(got, want)
                assert len(got) >= 1

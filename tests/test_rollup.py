"""Managers' copies: the per-rep roll-up, lists cut to the top rows, the CSV beside them."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pandas as pd
import pytest

from salesnb.reports import facts, render, rollup

DATA = Path(__file__).resolve().parents[1] / "data" / "sample"
MID = "2026-08-14"


@pytest.fixture(scope="module")
def region():
    return facts.open_context(DATA, None, "region", "EMEA", None, MID, forward=False)


@pytest.fixture(scope="module")
def rep():
    return facts.open_context(DATA, None, "rep", "R07", None, MID, forward=False)


def test_a_reps_document_gets_no_roll_up_and_its_lists_whole(rep):
    assert rollup.rollup_section(rep) is None
    table = pd.DataFrame({"deal": [f"OPP-{i}" for i in range(30)]})
    assert rollup.top_rows(rep, table, "attention") is table


def test_the_roll_up_has_one_row_per_rep_of_the_region(region):
    table = rollup.rollup_table(region)
    names = facts.subject_name_map(region)
    assert sorted(table["Rep"]) == sorted(names[r] for r in region.rep_ids)
    assert list(table.columns) == [
        "Rep", "Target", "Bookings", "Attainment", "Pipeline due this period",
        "Coverage this period", "Coverage next period", "Forecast FY2026-Q3", "Flags",
    ]  # fmt: skip
    html = rollup.rollup_section(region)
    assert html.startswith('<h2 id="team-roll-up">Team roll-up</h2>') and "<table" in html


@pytest.mark.parametrize(
    "row, elapsed, expected",
    [
        # 20% of target with half the period gone: under 0.7 x 50% = 35%
        ({"attainment": 0.20, "pipeline": 1e4, "coverage": 1.5}, 0.5, "Behind pace"),
        ({"attainment": 0.36, "pipeline": 1e4, "coverage": 1.5}, 0.5, "None"),
        # too early in the period to judge the pace
        ({"attainment": 0.0, "pipeline": 1e4, "coverage": 1.5}, 0.2, "None"),
        ({"attainment": 0.5, "pipeline": 1e4, "coverage": 1.5}, 1.0, "Under 70% of target"),
        ({"attainment": 0.5, "pipeline": 0.0, "coverage": 0.0}, 0.3, "No pipeline due this period"),
        # next period's thin pipeline only counts in the period's last third
        ({"attainment": 0.9, "coverage_next": 1.2}, 0.5, "None"),
        ({"attainment": 0.9, "coverage_next": 1.2}, 0.7, "Next period under 2x"),
        ({"attainment": 0.9, "past_due_deals": 1, "stale_deals": 3.0}, 0.5, "1 past due, 3 stale"),
    ],
)
def test_flags_in_plain_words(row, elapsed, expected):
    assert rollup.flags(row, elapsed) == expected


@pytest.mark.parametrize(("as_of", "quarter"), [(MID, "FY2026-Q3"), ("2026-09-30", "FY2026-Q4")])
def test_the_forecast_column_is_each_reps_forecast_document_figure(as_of, quarter):
    from salesnb.analytics.coaching_facts import format_money
    from salesnb.forecast import combined

    ctx = facts.open_context(DATA, None, "region", "EMEA", None, as_of, forward=False)
    # mid-quarter: the quarter under review; on its last day: the next one, as the forecast does
    assert rollup.forecast_period(ctx) == quarter
    table = rollup.rollup_table(ctx)
    names = facts.subject_name_map(ctx)
    column = table.set_index("Rep")[f"Forecast {quarter}"]
    for rep in sorted(ctx.rep_ids)[:2]:
        doc = combined.period_forecast(ctx.wb, "rep", rep, quarter, ctx.as_of)
        assert doc.period == quarter
        assert column[names[rep]] == format_money(doc.to_dict()["blend"]["mean"], "USD")
    assert f"<b>Forecast {quarter}</b>" in rollup.rollup_section(ctx)


def test_the_forecast_is_unknown_where_there_is_none(region):
    # A rep missing from the data and data without amounts have no forecast: NaN, shown "unknown".
    got = rollup.rep_forecasts(region, [region.rep_ids[0], "NOBODY"])
    assert got.notna().tolist() == [True, False]
    wb = region.wb
    counts_wb = dataclasses.replace(wb, opportunities=wb.opportunities.assign(amount=1.0))
    assert counts_wb.counts_only
    counts = dataclasses.replace(region, wb=counts_wb)
    assert rollup.rep_forecasts(counts, region.rep_ids).isna().all()
    table = rollup.rollup_table(counts)
    assert set(table["Forecast FY2026-Q3"]) == {"unknown"}


def test_a_long_list_shows_ten_rows_and_writes_the_rest_formula_safe(region, tmp_path):
    shown = pd.DataFrame({"rep": "someone", "deal": [f"OPP-{i:02d}" for i in range(25)],
                          "account": "=cmd|' /C calc'!A0", "amount": ["$1K"] * 25})  # fmt: skip
    full = pd.DataFrame({"opp_id": shown["deal"], "rep_id": region.rep_ids[0],
                         "account": shown["account"], "amount": 1000.0,
                         "close_date": pd.Timestamp("2026-09-01")})  # fmt: skip
    out = rollup.top_rows(region, shown, "attention", full=full, document="pipeline review")
    bundle, meta = out._repr_mimebundle_()
    html = bundle["text/html"]
    assert html.count("<tr") == 11  # header and ten rows
    assert "and 15 more" in html
    name = "pipeline-review-emea-attention.csv"
    assert f'href="{name}"' in html
    nb = {"cells": [{"cell_type": "code", "outputs": [{"output_type": "display_data",
                                                       "data": bundle, "metadata": meta}]}]}  # fmt: skip
    files = render.attachments(nb)
    assert list(files) == [name]
    lines = files[name].splitlines()
    assert lines[0] == "rep,deal,account,amount"  # the columns shown, rep named
    assert lines[1].startswith(f"{facts.subject_name_map(region)[region.rep_ids[0]]},OPP-00,'=cmd")
    assert lines[1].endswith(",1000.0") and len(lines) == 26


def test_attachments_never_leave_the_documents_folder():
    meta = {"salesnb": {"files": {"../../etc/x.csv": "a", "/tmp/y.csv": "b", "ok-list.csv": "c",
                                  "x.html": "d"}}}  # fmt: skip
    nb = {"cells": [{"cell_type": "code", "outputs": [{"metadata": meta}]}]}
    assert render.attachments(nb) == {"ok-list.csv": "c"}


def test_an_empty_list_says_so(region):
    assert "No deals" in rollup.top_rows(region, pd.DataFrame({"deal": []}), "wins")


def test_an_empty_list_whose_sentence_says_so_adds_nothing(region):
    # the one-on-one's "Wins since then" printed "No deal won since ..." and "No deals in this list."
    assert rollup.top_rows(region, pd.DataFrame({"deal": []}), "wins", empty=None) == ""
    assert "No deals" in rollup.top_rows(
        region, pd.DataFrame({"deal": []}), "wins", empty="No deals."
    )


def test_the_python_api_writes_the_csv_files_beside_the_managers_documents(tmp_path):
    # batch.run (not only the command line) writes the full lists the document links to.
    from salesnb import batch
    from salesnb.batch.documents import write_files

    out = tmp_path / "out"
    warnings: list[str] = []
    m = batch.run("pipeline_review", by="region", only=["EMEA"], data=DATA, out=out, workers=1,
                  progress=False, warn=warnings.append)  # fmt: skip
    assert m["summary"]["ok"] == 1 and not warnings
    entry = m["subjects"][0]
    html = (out / entry["outputs"]["html"]["path"]).read_text(encoding="utf-8")
    linked = set(re.findall(r'class="csv-link" href="([^"]+)"', html))
    assert linked and all((out / name).is_file() for name in linked)
    assert {p.name for p in out.glob("*.csv")} == linked
    csv = (out / min(linked)).read_text(encoding="utf-8")
    assert csv.splitlines()[0].startswith("rep,")
    # Writing them again from the manifest entry gives the same files; a rep's entry, none.
    assert {p.name for p in write_files(out, entry)} == linked
    assert write_files(out, {**entry, "title": {**entry["title"], "subject_type": "rep"}}) == []
    assert write_files(out, {**entry, "status": "failed"}) == []

"""The waterfall's deal list: one stage and one close-date column, each showing a change only
where there was one, so the table fits a desktop's page (issue 18)."""

from __future__ import annotations

import pandas as pd

from salesnb.reports.reviewviews import waterfall_deals_table

DEALS = pd.DataFrame({
    "step": ["New", "Pushed out", "Won", "Value up"],
    "opp_id": ["O1", "O2", "O3", "O4"],
    "rep_id": ["R1", "R1", "R2", "R2"],
    "account": ["Newhaven Semiconductors LLC", "Acme", "Birchfield Software Co.", "Zephyr"],
    "amount": [17_100.0, 1_200.0, 50_000.0, 9_000.0],
    "stage_start": [None, "Demo", "Negotiation", "Proposal"],
    "stage_end": ["Prospecting", "Demo", "Closed Won", "Proposal"],
    "close_start": pd.to_datetime([None, "2026-09-15", "2026-09-20", "2026-10-01"]),
    "close_end": pd.to_datetime(["2026-11-20", "2026-10-30", "2026-09-20", "2026-10-01"]),
})  # fmt: skip


def test_one_column_for_stage_and_one_for_close_date():
    t = waterfall_deals_table(DEALS)
    assert list(t.columns) == ["step", "opp_id", "rep_id", "account", "amount", "stage",
                               "close_date"]  # fmt: skip
    assert t["stage"].tolist() == ["Prospecting", "Demo", "Negotiation → Closed Won", "Proposal"]
    assert t["close_date"].tolist() == [
        "2026-11-20", "2026-09-15 → 2026-10-30", "2026-09-20", "2026-10-01"]  # fmt: skip
    assert t["amount"].tolist() == ["$17.1K", "$1.2K", "$50K", "$9K"]


def test_no_deals_gives_an_empty_table_with_the_same_columns():
    t = waterfall_deals_table(DEALS.iloc[:0])
    assert len(t) == 0 and {"stage", "close_date"} <= set(t.columns)


def test_the_waterfalls_legend_names_only_the_colours_its_bars_use():
    from salesnb.reports.charts import waterfall

    df = pd.DataFrame(
        {"step": ["Start", "New", "Lost", "End"], "amount": [100.0, 30.0, 20.0, 110.0]}
    )
    color = waterfall(df).to_dict()["layer"][0]["encoding"]["color"]["scale"]
    # no won bar, no "Won" key; each colour keeps its meaning (lost is red, added blue)
    assert color["domain"] == ["Open pipeline", "Added", "Lost"]
    assert len(color["range"]) == 3 and color["range"][2] != color["range"][1]

"""An export without amounts is read as deal counts: documents speak of deals, never money.

The fixture is the sample with every amount set to 1 (what a profile's fill of 1 gives for
an export without amounts) and targets in deals.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from salesnb.analytics.coaching_facts import format_value
from salesnb.data.io import load
from salesnb.reports import facts, plausibility
from salesnb.reports import workbooks as wbk

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="module")
def counts(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("counts")
    for name in ("reps.csv", "activities.csv", "salesnb.toml"):
        shutil.copy(SAMPLE / name, out / name)
    for name in ("opportunities.csv", "snapshots.csv"):
        t = pd.read_csv(SAMPLE / name, dtype=str, keep_default_na=False)
        t["amount"] = "1"
        t.to_csv(out / name, index=False)
    t = pd.read_csv(SAMPLE / "targets.csv", dtype=str, keep_default_na=False)
    t["amount"] = (pd.to_numeric(t["amount"]) / 15_000).round().clip(lower=1).astype(int)
    t.to_csv(out / "targets.csv", index=False)
    return out


def _texts(view) -> str:
    parts = [str(v) for v in view.text.values()]
    parts += [t.to_string() for t in view.tables.values() if isinstance(t, pd.DataFrame)]
    parts += [p.text + " " + p.action for p in getattr(view, "points", [])]
    return re.sub(r"<[^>]+>", " ", " ".join(parts)).replace("&#36;", "$")


def test_deals_are_formatted_as_counts():
    assert format_value(1, "currency", "deals") == "1 deal"
    assert format_value(2.5, "currency", "deals") == "2.5 deals"
    assert format_value(1234, "currency", "deals") == "1,234 deals"
    assert format_value(12_500, "currency", "USD") == "$12.5K"


def test_the_sample_is_money_and_the_count_export_is_not(counts):
    assert not load(SAMPLE).counts_only and load(SAMPLE).unit == "USD"
    wb = load(counts)
    assert wb.counts_only and wb.unit == "deals"
    flags = plausibility.flagged(wb)
    assert any("Every amount is 1" in f for f in flags)


def test_the_one_on_one_speaks_of_deals_and_leaves_value_figures_out(counts):
    ctx = facts.open_context(counts, None, "rep", "R27", None, None, forward=False)
    assert ctx.currency == "deals"
    view = wbk.one_on_one_view(ctx)
    kpis = view.tables["scorecard"]["KPI"].tolist()
    assert "Bookings" in kpis and "Average deal size" not in kpis
    text = _texts(view)
    assert "$" not in text and "deals" in text
    assert "worth" not in str(view.text["wins"])
    assert all(p.rule_id != "review_biggest_deal" for p in view.points)


def test_the_pipeline_review_says_velocity_is_not_known(counts):
    ctx = facts.open_context(counts, None, "rep", "R27", None, None)
    view = wbk.pipeline_review_view(ctx)
    assert "Sales velocity is not known" in str(view.text["velocity"])
    assert "average deal" not in str(view.text["velocity"])
    assert "$" not in _texts(view)

"""The forecast tables a batch's documents share are made once, before the documents start
(salesnb.batch.prefill): only for notebooks and subjects that show a forecast, never twice,
and exactly the tables the documents then read."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from salesnb.analytics.dimensions import _example
from salesnb.batch import prefill as pf
from salesnb.reports import facts

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _source(nb: Path) -> str:
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("nb", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_the_table_of_needs_follows_the_notebooks(nb):
    """A notebook showing the roll-up or the team review's call is listed, with the way it
    opens its context; no other is."""
    src = _source(nb)
    shows = {"rollup": "rollup_section(" in src, "team": "team_review_view(" in src}
    need = pf.NEEDS.get(nb.stem)
    assert (need is not None) == any(shows.values())
    if need is not None:
        assert shows[need.kind]
        opened = re.search(r"facts\.open_context\(([^)]*)\)", src).group(1)
        assert ("forward=True" in opened) == need.forward


def test_only_documents_that_show_a_forecast_need_one():
    assert pf.need("one_on_one", "rep") is None  # a rep's copy has no roll-up
    assert pf.need("pipeline_review", "rep") is None
    assert pf.need("pipeline_review", "region") == pf.Need("rollup", forward=True)
    assert pf.need("team_review", "all") == pf.Need("team", forward=False)
    assert pf.need("goal_setting", "manager") is None


@pytest.mark.parametrize(
    ("period", "as_of", "want"),
    [
        ("FY2026-Q1", "2026-02-15", "FY2026-Q1"),  # the quarter under review runs
        ("FY2026-Q1", "2026-03-31", "FY2026-Q2"),  # its last day: the next one
        ("FY2026-Q3", "2026-03-31", "FY2026-Q3"),  # a quarter not started yet
        ("FY2025-Q3", "2026-02-15", "FY2026-Q1"),  # a past quarter: the one in play
    ],
)
def test_the_team_reviews_call_period(period, as_of, want):
    ctx = facts.context(_example(), "manager", "M", period, as_of)
    assert pf.call_period(ctx) == want


def test_nothing_is_made_where_nothing_is_shown(sample_wb, tmp_path, monkeypatch):
    monkeypatch.setenv("SALESNB_CACHE", str(tmp_path))
    assert pf.prefill(sample_wb, "one_on_one", "rep", ["R01"], {}) is None
    assert pf.prefill(sample_wb, "goal_setting", "manager", ["Rebecca Stone"], {}) is None
    assert pf.prefill(sample_wb, "one_on_one", "manager", [], {}) is None
    bad = pf.prefill(sample_wb, "one_on_one", "manager", ["Rebecca Stone"], {"period": "nope"})
    assert bad is None  # a bad parameter is for the documents to explain
    assert not list(tmp_path.rglob("*.json"))


def test_the_tables_made_ahead_are_the_ones_the_documents_read(sample_wb, tmp_path, monkeypatch):
    from salesnb.forecast import cache, combined, levels
    from salesnb.reports import rollup

    monkeypatch.setenv("SALESNB_CACHE", str(tmp_path))
    first = facts.context(sample_wb, "manager", "Rebecca Stone")
    period = rollup.forecast_period(first)
    assert not pf.on_disk(sample_wb, period, first.as_of)
    assert pf.prefill(sample_wb, "one_on_one", "manager", ["Rebecca Stone"], {}) == period
    assert pf.on_disk(sample_wb, period, first.as_of)
    assert pf.prefill(sample_wb, "one_on_one", "manager", ["Rebecca Stone"], {}) is None
    made = sorted(tmp_path.rglob("*.json"))
    assert made

    # Another manager's document, in a fresh process (nothing kept in memory), computes none
    # of the shared tables: it reads them.
    cache._CACHE.clear()

    def computed(*args, **kwargs):
        raise AssertionError("a shared forecast table was computed again")

    monkeypatch.setattr(combined, "period_forecast", computed)
    monkeypatch.setattr(levels, "all_reps", computed)
    other = facts.context(sample_wb, "manager", "Kevin O'Neill")
    got = rollup.rep_forecasts(other, other.rep_ids)
    assert got.notna().all()
    assert sorted(tmp_path.rglob("*.json")) == made

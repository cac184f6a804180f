"""Subjects, periods, as-of dates and anonymised peer aggregates."""

from __future__ import annotations

import pandas as pd
import pytest

from salesnb.core.errors import ParameterError
from salesnb.reports import subject as sj


def test_resolve_rep_by_id_and_name(tiny_wb):
    s = sj.resolve(tiny_wb, "rep", "A")
    assert (s.key, s.name, s.rep_ids) == ("A", "Ann Able", ("A",))
    assert s.peer_rep_ids == ("A", "B")  # same region East
    assert sj.resolve(tiny_wb, "rep", "Bob Baker").key == "B"


def test_resolve_region_manager_all(tiny_wb):
    assert sj.resolve(tiny_wb, "region", "West").rep_ids == ("C", "D")
    assert sj.resolve(tiny_wb, "manager", "Mia").rep_ids == ("A", "B")
    assert sj.resolve(tiny_wb, "all", None).rep_ids == ("A", "B", "C", "D")


def test_unknown_subject_suggests_close_match(tiny_wb):
    with pytest.raises(ParameterError, match=r"Unknown region 'Wset'.*Did you mean 'West'"):
        sj.resolve(tiny_wb, "region", "Wset")
    with pytest.raises(ParameterError, match="Unknown rep"):
        sj.resolve(tiny_wb, "rep", "Zed")
    with pytest.raises(ParameterError, match="subject type"):
        sj.resolve(tiny_wb, "county", "X")


def test_subjects_lists(tiny_wb):
    assert sj.subjects(tiny_wb, "rep")[0] == ("A", "Ann Able")
    assert sj.subjects(tiny_wb, "region") == [("East", "East"), ("West", "West")]


def test_as_of_rules(tiny_wb):
    assert sj.resolve_as_of(tiny_wb, None) == pd.Timestamp("2026-09-30")
    assert sj.resolve_as_of(tiny_wb, "2026-08-15") == pd.Timestamp("2026-08-15")
    with pytest.raises(ParameterError, match="after the data's as-of date"):
        sj.resolve_as_of(tiny_wb, "2027-01-01")
    with pytest.raises(ParameterError, match="before the first deal"):
        sj.resolve_as_of(tiny_wb, "2020-01-01")
    with pytest.raises(ParameterError, match="not a date"):
        sj.resolve_as_of(tiny_wb, "next tuesday")


def test_period_default_and_errors(tiny_wb):
    label, start, end = sj.resolve_period(tiny_wb, None, pd.Timestamp("2026-09-30"))
    assert (label, start, end) == (
        "FY2026-Q3",
        pd.Timestamp("2026-07-01"),
        pd.Timestamp("2026-09-30"),
    )
    assert sj.resolve_period(tiny_wb, "2026-08", pd.Timestamp("2026-09-30"))[1:] == (
        pd.Timestamp("2026-08-01"),
        pd.Timestamp("2026-08-31"),
    )
    with pytest.raises(ParameterError, match="ends before the data starts"):
        sj.resolve_period(tiny_wb, "FY2019-Q1", pd.Timestamp("2026-09-30"))
    with pytest.raises(ParameterError, match="not understood"):
        sj.resolve_period(tiny_wb, "Q5", pd.Timestamp("2026-09-30"))


def test_peer_aggregates_are_anonymous_and_hand_checked():
    t = pd.DataFrame({"rep_id": ["a", "b", "c", "d"], "x": [1.0, 2.0, 3.0, 4.0]})
    s = sj.Subject("rep", "c", "C", ("c",), ("a", "b", "c", "d"))
    out = sj.peer_aggregates(t, s, ["x"])
    # peers 1,2,3,4: median 2.5, p25 1.75, p75 3.25; c=3 -> 2 below + half of 1 equal = 62.5%
    row = out.iloc[0]
    assert (row.value, row.peer_median, row.peer_p25, row.peer_p75) == (3.0, 2.5, 1.75, 3.25)
    assert row.percentile == 62.5 and row.peer_n == 4
    assert "rep_id" not in out.columns and not out.isin(["a", "b", "d"]).any().any()

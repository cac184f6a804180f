"""salesnb.data.memo: team-level results kept per data set, and never for edited data."""

from __future__ import annotations

import pickle
from dataclasses import replace

import pandas as pd
import pytest

import salesnb
from salesnb.analytics import pipeline as pipe
from salesnb.data import memo
from salesnb.reports import facts
from salesnb.reports import subject as subj

CALLS: list[tuple] = []


@memo.shared
def _open_amount(wb, as_of) -> pd.DataFrame:
    CALLS.append(as_of)
    o = wb.opportunities
    return o.loc[o["outcome"] == "open", ["opp_id", "amount"]].reset_index(drop=True)


@pytest.fixture
def wb():
    memo.clear()
    CALLS.clear()
    return salesnb.load("data/sample")


def test_a_result_is_computed_once_per_data_and_arguments(wb):
    a = _open_amount(wb, "2026-09-30")
    b = _open_amount(wb, "2026-09-30")
    _open_amount(wb, "2026-06-30")
    assert CALLS == ["2026-09-30", "2026-06-30"]
    pd.testing.assert_frame_equal(a, b)
    # another load of the same files is the same data: no recomputation
    _open_amount(salesnb.load("data/sample"), "2026-09-30")
    assert len(CALLS) == 2


def test_what_a_caller_changes_in_its_copy_never_reaches_the_next_caller(wb):
    a = _open_amount(wb, "x")
    a["amount"] = 0.0
    a.loc[0, "opp_id"] = "changed"
    b = _open_amount(wb, "x")
    assert b["amount"].gt(0).all() and b.loc[0, "opp_id"] != "changed"


def _set_loc(wb):
    wb.opportunities.loc[wb.opportunities.index[0], "amount"] = 1e9


def _set_iloc(wb):
    wb.opportunities.iloc[0, wb.opportunities.columns.get_loc("amount")] = 1e9


def _same_columns_anew(wb):
    wb.opportunities.columns = list(wb.opportunities.columns)


@pytest.mark.parametrize(
    ("edit", "changes"),
    [
        (lambda wb: wb.opportunities.__setitem__("amount", wb.opportunities["amount"] * 2), True),
        (_set_loc, True),
        (_set_iloc, True),
        (lambda wb: setattr(wb, "opportunities", wb.opportunities.head(10)), True),
        (lambda wb: wb.opportunities.__setitem__("note", "x"), False),
        (_same_columns_anew, False),
    ],
    ids=["column", "loc", "iloc", "replaced", "new-column", "columns-reassigned"],
)
def test_an_edited_workbook_is_computed_afresh(wb, edit, changes):
    _open_amount(wb, "x")
    fp = wb.fingerprint()
    edit(wb)
    after = _open_amount(wb, "x")
    assert len(CALLS) == 2  # any edit: not trusted, computed again
    pd.testing.assert_frame_equal(after, _open_amount.__wrapped__(wb, "x"))
    assert (wb.fingerprint() != fp) == changes
    # the untouched data keeps its results
    _open_amount(salesnb.load("data/sample"), "x")
    assert len(CALLS) == 3  # (the third was the direct call above)


def test_an_unedited_workbook_that_was_only_read_keeps_its_results(wb):
    _open_amount(wb, "x")
    wb.opportunities["amount"].sum()
    wb.opportunities.loc[wb.opportunities.index[:5], "amount"].to_numpy()
    wb.opportunities.sort_values("amount")
    _open_amount(wb, "x")
    assert len(CALLS) == 1


def test_a_workbook_with_another_config_or_a_subset_is_not_shared(wb):
    _open_amount(wb, "x")
    other = replace(wb, config=replace(wb.config, currency="EUR"))
    _open_amount(other, "x")
    _open_amount(wb.subset(wb.rep_ids()[:2]), "x")
    assert len(CALLS) == 3


def test_the_fingerprint_is_computed_once_and_survives_pickling(wb, monkeypatch):
    fp = wb.fingerprint()
    calls = []
    original = type(wb)._content_hash
    monkeypatch.setattr(type(wb), "_content_hash", lambda self: calls.append(1) or original(self))
    assert wb.fingerprint() == fp and calls == []
    back = pickle.loads(pickle.dumps(wb))
    assert not hasattr(back, memo.SEAL_ATTR)  # a seal names this process's blocks
    assert back.fingerprint() == fp and calls == [1]


def test_compute_ahead_fills_the_memo_with_what_was_asked(wb):
    _open_amount(wb, "x")
    wanted = memo.asked()
    assert [(n, a) for n, _, a in wanted] == [(f"{__name__}._open_amount", ("x",))]
    memo.clear()
    fresh = salesnb.load("data/sample")
    assert memo.compute_ahead(fresh, wanted) == 1
    assert memo.compute_ahead(fresh, wanted) == 0  # already there
    assert memo.asked() == []  # what was computed ahead is not what documents asked
    n = len(CALLS)
    _open_amount(wb, "x")
    assert len(CALLS) == n
    # results about other data are not computed
    other = replace(fresh, config=replace(fresh.config, currency="EUR"))
    memo.seal(other)
    assert memo.compute_ahead(other, wanted) == 0


def _subjects(wb):
    for kind in ("rep", "region", "manager", "all"):
        for key, _ in subj.subjects(wb, kind)[:4]:
            for as_of in (None, "2026-06-15"):
                yield facts.context(wb, kind, key, as_of=as_of, forward=True)


def test_shared_team_results_equal_the_per_subject_computation(wb):
    plain = wb.subset(wb.rep_ids())  # the same data, unsealed: computed directly
    for ctx in _subjects(wb):
        pd.testing.assert_frame_equal(
            facts.attention(ctx), pipe.deals_needing_attention(plain, ctx.rep_ids, ctx.as_of)
        )
        start = ctx.as_of - pd.Timedelta(weeks=4)
        shared = facts.waterfall_view(ctx, None, period=ctx.period).waterfall
        direct = pipe.waterfall(plain, start, ctx.as_of, rep_ids=ctx.rep_ids, period=ctx.period)
        pd.testing.assert_frame_equal(shared.bars, direct.bars)
        pd.testing.assert_frame_equal(shared.deals, direct.deals)
        alike = replace(ctx, wb=plain)
        pd.testing.assert_frame_equal(facts.open_deals(ctx), facts.open_deals(alike))
        pd.testing.assert_frame_equal(facts.stage_table(ctx), facts.stage_table(alike))
        assert facts.typical_cycle_days(ctx) == facts.typical_cycle_days(alike) or (
            pd.isna(facts.typical_cycle_days(ctx)) and pd.isna(facts.typical_cycle_days(alike))
        )


@memo.shared
def _fails(wb, x):
    raise ValueError("not for this data")


def test_compute_ahead_skips_what_fails_there(wb):
    wanted = [(f"{__name__}._fails", memo.token(wb), (1,)),
              (f"{__name__}._open_amount", memo.token(wb), ("y",))]  # fmt: skip
    assert memo.compute_ahead(wb, wanted) == 1
    assert CALLS == ["y"]


def test_a_source_answers_before_anything_is_computed_here(wb):
    asks = []
    kept = pd.DataFrame({"opp_id": ["O1"], "amount": [5.0]})

    def source(name, token, args):
        asks.append((name, token, args))
        return (True, kept) if args == ("from-source",) else (False, None)

    memo.set_source(source)
    try:
        got = _open_amount(wb, "from-source")
        again = _open_amount(wb, "from-source")  # kept now: not asked again
        _open_amount(wb, "computed-here")
    finally:
        memo.set_source(None)
    pd.testing.assert_frame_equal(got, kept)
    pd.testing.assert_frame_equal(again, kept)
    got["amount"] = 0.0  # each caller has its own frame
    assert _open_amount(wb, "from-source")["amount"].tolist() == [5.0]
    name = f"{__name__}._open_amount"
    assert asks == [(name, memo.token(wb), ("from-source",)),
                    (name, memo.token(wb), ("computed-here",))]  # fmt: skip
    assert CALLS == ["computed-here"]  # the source's answer was not computed here
    assert [a for _, _, a in memo.asked()] == [("computed-here",)]  # nor reported as asked
    memo.set_source(None)
    _open_amount(wb, "after")  # no source: computed here, nobody asked
    assert CALLS == ["computed-here", "after"] and len(asks) == 2


def test_a_shared_result_can_be_computed_by_name(wb):
    name = f"{__name__}._open_amount"
    got = memo.compute(name, wb, ("z",))
    assert CALLS == ["z"] and len(got) == len(_open_amount(wb, "z")) and CALLS == ["z"]
    with pytest.raises(KeyError):
        memo.compute("no.such.function", wb, ())
    assert memo.asked() == []  # computed for someone else (a document): not reported here
    _open_amount(wb, "w")
    assert [a for _, _, a in memo.asked()] == [("w",)]  # a call of this process's own is

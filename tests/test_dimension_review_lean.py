"""The product and channel review's lean path (salesnb.reports.dimension_review.own_tables and
the section built from it) gives, word for word and figure for figure, what the section gave
when it ran six ``kpis_by`` calls on the subject's own workbook; and a subject's section never
depends on another rep's deals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesnb.analytics import dimensions as dim
from salesnb.data import memo
from salesnb.data.model import Workbook
from salesnb.reports import dimension_review as dr
from salesnb.reports import facts
from salesnb.reports.workbooks import fmt, humane, para, show


# --------------------------------------------------------------------------- the slow path
def _slow_shown(t, column, word, windows, cur):
    """The table as shown, as the section built it before (show + humane on a frame)."""
    total = {column: f"all {word}s", **{c: t[c].sum() for c in t.columns if c != column}}
    total["bookings_share"] = 1.0 if t["bookings"].sum() > 0 else np.nan
    total["pipeline_share"] = 1.0 if t["pipeline"].sum() > 0 else np.nan
    rows = t.assign(**{column: [dr._name(str(v), word) for v in t[column]]})
    rows = pd.concat([rows, pd.DataFrame([total])], ignore_index=True)
    units = {"bookings": "currency", "bookings_last_year": "currency", "pipeline": "currency",
             "bookings_share": "percent", "pipeline_share": "percent"}  # fmt: skip
    shown = show(rows, units, cur)
    shown["change"] = [fmt(v, "currency", cur, signed=True) for v in rows["change"]]
    names = {column: word, "bookings": f"booked {windows.now_label}",
             "bookings_last_year": f"booked {windows.last_label}", "change": "change",
             "bookings_share": "share of bookings",
             "pipeline": f"open pipeline ({windows.pipe_label})",
             "pipeline_share": "share of pipeline"}  # fmt: skip
    return humane(shown.rename(columns=names))


def _slow_gap_text(
    table: pd.DataFrame, column: str, windows: dr.Windows, currency: str = "USD",
    joined: str | None = None, data_start: pd.Timestamp | None = None,
) -> str:  # fmt: skip
    """gap_text as it was (pandas sorts pick the carrier and the largest pipeline)."""
    word = dr.DIMENSIONS.get(column, column)
    money = lambda v, signed=False: fmt(v, "currency", currency, signed=signed)
    now, last = float(table["bookings"].sum()), float(table["bookings_last_year"].sum())
    change = now - last
    carrier = None
    partial = data_start is not None and data_start > windows.last[0]
    if partial:
        out = [(f"Bookings: {money(now)} in {windows.now_label}; the change is unknown: the data "
                f"starts on {data_start:%Y-%m-%d}, after {windows.last_label} began.")]  # fmt: skip
    elif last <= 0 and now <= 0:
        out = [(f"Nothing was booked in {windows.now_label} or {windows.last_label}: "
               "no gap to place.")]  # fmt: skip
    elif last <= 0:
        out = [(f"Bookings: {money(now)} in {windows.now_label}; the change is unknown: nothing "
               f"was booked in {windows.last_label} to compare with.")]  # fmt: skip
    else:
        how = ("level with" if change == 0 else
               f"{'down' if change < 0 else 'up'} {money(abs(change))} on")  # fmt: skip
        out = [
            (
                f"Bookings are {how} {windows.last_label} "
                f"({money(now)} in {windows.now_label} against {money(last)})."
            )
        ]
        fell = table[table["change"] < 0].sort_values(["change", column])
        if len(fell):
            row = fell.iloc[0]
            carrier = str(row[column])
            what = (f"{dr._name(carrier, word)}, down {money(-row['change'])} "
                    f"({money(row['bookings'])} against {money(row['bookings_last_year'])})")  # fmt: skip
            if change < 0:
                share = row["change"] / change
                tail = (f", {fmt(share, 'percent')} of the fall" if share <= 1 else
                        f", more than the whole fall, as other {word}s grew")  # fmt: skip
                out.append(f"The {word} carrying most of the gap is {what}{tail}.")
            else:
                out.append(f"No gap overall; the {word} that fell most is {what}.")
        else:
            out.append(f"Every {word} booked at least as much as in {windows.last_label}.")
    if joined is not None and last > 0 and not partial:
        out.append(f"Part of the change is tenure: {joined}.")
    pipe = float(table["pipeline"].sum())
    if pipe <= 0:
        out.append(f"No open pipeline ({windows.pipe_label}).")
    else:
        top = table.sort_values(["pipeline", column], ascending=[False, True]).iloc[0]
        line = (f"Open pipeline ({windows.pipe_label}): {money(pipe)}; "
                f"{dr._name(str(top[column]), word)} holds the most, {money(top['pipeline'])} "
                f"({fmt(top['pipeline_share'], 'percent')})")  # fmt: skip
        if carrier is not None and carrier != str(top[column]):
            held = float(table.loc[table[column] == carrier, "pipeline"].iloc[0])
            line += (f"; {dr._name(carrier, word)} has " +
                     (f"{money(held)}" if held > 0 else "none"))  # fmt: skip
        out.append(line + ".")
    return " ".join(out)


def _slow_review(ctx, horizon):
    """The section as it was computed before: kpis_by (dimension_table) on wb.subset, pandas
    sorts for the carrier; every figure from the subject's own workbook. (dimension_table,
    joined_note and the 'not in the data' sentences are the module's own, unchanged.)"""
    windows = dr.review_windows(ctx, horizon)
    own = ctx.wb.subset(ctx.rep_ids)
    review = dr.DimensionReview(windows)
    for column, word in dr.DIMENSIONS.items():
        key = f"{word}_carrying_gap"
        if ctx.wb.opportunities[column].isna().all() or own.opportunities[column].isna().all():
            review.text[column] = dr._missing(
                ctx, ctx.wb.opportunities["rep_id"].isin(ctx.rep_ids).to_numpy(), column
            )
            review.headline[key] = None
            continue
        t = dr.dimension_table(own, column, windows, ctx.as_of)
        review.frames[column] = t
        first = ctx.wb.opportunities["created_date"].min()
        text = _slow_gap_text(t, column, windows, ctx.currency, dr.joined_note(ctx, windows),
                           None if pd.isna(first) else pd.Timestamp(first))  # fmt: skip
        review.text[column] = text
        fell = t[(t["change"] < 0)].sort_values(["change", column])
        covered = pd.isna(first) or first <= windows.last[0]
        review.headline[key] = (str(fell[column].iloc[0]) if len(fell) and covered
                                and t["bookings_last_year"].sum() > 0 else None)  # fmt: skip
        review.tables[column] = _slow_shown(t, column, word, windows, ctx.currency)
    return review


def _same(ctx, horizon):
    slow, fast = _slow_review(ctx, horizon), dr.dimension_review(ctx, horizon)
    assert fast.windows == slow.windows
    assert fast.headline == slow.headline
    for column in dr.DIMENSIONS:
        assert str(fast.text[column]) == str(para("{t}", t=slow.text[column]))
        if column in slow.frames:
            pd.testing.assert_frame_equal(fast.frames[column], slow.frames[column],
                                          check_exact=True)  # fmt: skip
            pd.testing.assert_frame_equal(fast.tables[column], slow.tables[column],
                                          check_exact=True)  # fmt: skip
        else:
            assert column not in fast.frames and str(fast.tables[column]) == ""
    return fast


SUBJECTS = [("rep", "R01"), ("rep", "R03"), ("rep", "R07"), ("rep", "R12"), ("rep", "R19"),
            ("rep", "R24"), ("rep", "R30"), ("manager", None), ("region", None),
            ("all", None)]  # fmt: skip


@pytest.mark.parametrize("horizon", ["quarter", "year"])
@pytest.mark.parametrize(("kind", "who"), SUBJECTS)
def test_the_section_is_the_slow_paths_word_for_word_on_the_sample(sample_wb, kind, who, horizon):
    ctx = facts.context(sample_wb, kind, who, forward=horizon == "quarter")
    r = _same(ctx, horizon)
    assert set(r.frames) == {"product", "source"}  # the sample has both: tables compared


@pytest.mark.parametrize("horizon", ["quarter", "year"])
@pytest.mark.parametrize("as_of", [None, "2025-06-30", "2024-12-31"])
def test_same_at_other_as_of_dates(sample_wb, horizon, as_of):
    for rep in ("R02", "R15"):
        _same(facts.context(sample_wb, "rep", rep, as_of=as_of), horizon)


def _example_variants():
    wb = dim._example()
    o = wb.opportunities
    late = pd.concat([o, o.iloc[[2]].assign(opp_id="o9", rep_id="r2",
                                            created_date=pd.Timestamp("2024-01-02"),
                                            close_date=pd.Timestamp("2024-02-01"))],
                     ignore_index=True)  # fmt: skip
    yield "example", wb
    yield "earlier data", Workbook(wb.reps, late, wb.config, accounts=wb.accounts)
    yield "no source", Workbook(wb.reps, o.assign(source=None), wb.config, accounts=wb.accounts)
    blank = o.assign(
        product=o["product"].where(o.index < 4), amount=o["amount"].where(o.index != 6)
    )
    yield "blanks", Workbook(wb.reps, blank, wb.config, accounts=wb.accounts)
    future = o.assign(created_date=o["created_date"].where(o["rep_id"] == "r1",
                                                           pd.Timestamp("2026-06-01")))  # fmt: skip
    yield "r2 not started at as-of", Workbook(wb.reps, future, wb.config, accounts=wb.accounts)
    reps = wb.reps.assign(start_date=pd.to_datetime(["2024-01-01", "2025-02-01"]))
    yield "joined late", Workbook(reps, o, wb.config, accounts=wb.accounts)


@pytest.mark.parametrize("horizon", ["quarter", "year"])
@pytest.mark.parametrize("who", ["r1", "r2"])
@pytest.mark.parametrize("case", [name for name, _ in _example_variants()])
def test_same_on_hand_made_edge_cases(case, who, horizon):
    wb = dict(_example_variants())[case]
    _same(facts.context(wb, "rep", who, "FY2026-Q1"), horizon)


def test_a_rep_with_no_deal_at_as_of_gets_empty_tables_as_before():
    wb = dict(_example_variants())["r2 not started at as-of"]
    r = _same(facts.context(wb, "rep", "r2", "FY2026-Q1"), "quarter")
    assert r.frames["product"].empty and list(r.tables["product"].iloc[:, 0]) == ["all products"]


def test_own_tables_are_dimension_table_of_the_subset_to_the_bit(sample_wb):
    for rep in ("R04", "R11", "R27"):
        ctx = facts.context(sample_wb, "rep", rep, forward=True)
        w = dr.review_windows(ctx)
        own = ctx.wb.subset(ctx.rep_ids)
        fast = dr.own_tables(ctx, w)
        for column in dr.DIMENSIONS:
            slow = dr.dimension_table(own, column, w, ctx.as_of)
            pd.testing.assert_frame_equal(fast[column], slow, check_exact=True)


# --------------------------------------------------------------------------- privacy
def _others_changed(wb: Workbook, rep: str) -> Workbook:
    """``wb`` with every other rep's deals changed: amounts, products, channels, dates."""
    o = wb.opportunities.copy()
    other = o["rep_id"] != rep
    o.loc[other, "amount"] = o.loc[other, "amount"] * 3 + 17
    o.loc[other, "product"] = "Zeta"
    o.loc[other, "source"] = "carrier pigeon"
    o.loc[other, "close_date"] = o.loc[other, "close_date"] - pd.Timedelta(days=40)
    return memo.seal(Workbook(wb.reps, o, wb.config, targets=wb.targets,
                              snapshots=wb.snapshots, accounts=wb.accounts))  # fmt: skip


@pytest.mark.parametrize("horizon", ["quarter", "year"])
def test_a_reps_section_does_not_move_when_other_reps_deals_change(sample_wb, horizon):
    rep = "R08"
    before = dr.dimension_review(facts.context(sample_wb, "rep", rep), horizon)
    after = dr.dimension_review(facts.context(_others_changed(sample_wb, rep), "rep", rep),
                                horizon)  # fmt: skip
    assert before.headline == after.headline
    for column in dr.DIMENSIONS:
        assert str(before.text[column]) == str(after.text[column])
        pd.testing.assert_frame_equal(before.frames[column], after.frames[column])
        pd.testing.assert_frame_equal(before.tables[column], after.tables[column])
        shown = str(after.text[column]) + after.tables[column].to_html()
        assert "Zeta" not in shown and "carrier pigeon" not in shown


def test_sections_of_reps_made_one_after_another_hold_only_their_own_values(sample_wb):
    """The per-data-set table is shared by every document; what each rep is shown is not."""
    products = {}
    for rep in ("R05", "R06"):
        o = sample_wb.opportunities
        o = o[o["rep_id"] == rep]
        o = o.assign(product=o["product"].astype(object) + f" only {rep}")
        products[rep] = o
    o = sample_wb.opportunities.copy()
    for rep, mine in products.items():
        o.loc[mine.index, "product"] = mine["product"]
    wb = memo.seal(Workbook(sample_wb.reps, o, sample_wb.config, targets=sample_wb.targets,
                            snapshots=sample_wb.snapshots, accounts=sample_wb.accounts))  # fmt: skip
    for rep, other in (("R05", "R06"), ("R06", "R05")):
        r = dr.dimension_review(facts.context(wb, "rep", rep))
        shown = str(r.text["product"]) + r.tables["product"].to_html()
        assert f"only {rep}" in shown and f"only {other}" not in shown
        assert all(v.endswith(f"only {rep}") or v == dim.UNKNOWN for v in r.frames["product"]
                   ["product"])  # fmt: skip


# --------------------------------------------------------------------------- the sentence
@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from([0.0, 100.0, 250.0, 1000.0]),
                  st.sampled_from([0.0, 100.0, 250.0, 1000.0]),
                  st.sampled_from([0.0, 50.0, 500.0])),
        min_size=1, max_size=6,
    ),
    unknown_first=st.booleans(),
    joined=st.sampled_from([None, "Bo started on 2025-02-01, within the same days of 2025"]),
)  # fmt: skip
def test_gap_text_names_the_values_pandas_sorts_named(rows, unknown_first, joined):
    """Ties (same fall, same pipeline) go to the first value in sort order, as before."""
    names = ["B", "a", dim.UNKNOWN, "A", "C", "b"]
    if unknown_first:
        names = [dim.UNKNOWN, *[n for n in names if n != dim.UNKNOWN]]
    sums = {
        "bookings": np.array([r[0] for r in rows]),
        "bookings_last_year": np.array([r[1] for r in rows]),
        "pipeline": np.array([r[2] for r in rows]),
    }
    values = np.array(sorted(names[: len(rows)]), dtype=object)
    t = dr._table(values, sums, "product")
    w = dr.review_windows(facts.context(dim._example(), "rep", "r2", "FY2026-Q1"))
    assert dr.gap_text(t, "product", w, joined=joined) == _slow_gap_text(t, "product", w,
                                                                         joined=joined)  # fmt: skip

"""Product and channel review (salesnb.reports.dimension_review): hand-computed tables and
sentences on the eight-deal example, "not in the data" when the deals lack the column, and a
rep's section computed from (and naming) nothing but the rep's own deals."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesnb.analytics import dimensions as dim
from salesnb.data.model import Workbook
from salesnb.reports import dimension_review as dr
from salesnb.reports import facts

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def _ctx(wb: Workbook | None = None, who: str = "r2", horizon_period: str = "FY2026-Q1"):
    return facts.context(wb if wb is not None else dim._example(), "rep", who, horizon_period)


def _text(html: str) -> str:
    import html as h

    return h.unescape(re.sub(r"<[^>]+>", "", str(html)))


def test_quarter_review_by_hand():
    ctx = _ctx()
    r = dr.dimension_review(ctx, "quarter")
    # r2 in FY2026-Q1 (Jan 1 - Mar 31 2026): nothing won; o5 (Y, inbound, 500) open, due
    # 2026-03-15. Same days of 2025: o7 (X, inbound) won 200 on 2025-02-10, o6 (Y, outbound)
    # won 300 on 2025-03-01.
    assert r.windows.now == (pd.Timestamp("2026-01-01"), pd.Timestamp("2026-03-31"))
    assert r.windows.last == (pd.Timestamp("2025-01-01"), pd.Timestamp("2025-03-31"))
    p = r.frames["product"].set_index("product")
    assert p.loc["X"].tolist()[:3] == [0.0, 200.0, -200.0]
    assert p.loc["Y"].tolist()[:3] == [0.0, 300.0, -300.0]
    assert p["bookings_share"].isna().all()  # nothing booked: no share of it
    assert p["pipeline"].tolist() == [0.0, 500.0] and p.loc["Y", "pipeline_share"] == 1.0
    s = r.frames["source"].set_index("source")
    assert s["bookings_last_year"].to_dict() == {"inbound": 200.0, "outbound": 300.0}
    assert s["pipeline"].to_dict() == {"inbound": 500.0, "outbound": 0.0}
    assert r.headline == {"product_carrying_gap": "Y", "channel_carrying_gap": "outbound"}
    words = _text(r.text["product"])
    assert "Bookings are down $500 on the same days of 2025" in words
    assert (
        "The product carrying most of the gap is Y, down $300 ($0 against $300), 60% of the fall"
        in words
    )
    assert "Open pipeline (due in FY2026-Q1): $500; Y holds the most, $500 (100%)." in words
    shown = r.tables["product"]
    assert list(shown.iloc[:, 0]) == ["X", "Y", "all products"]
    assert list(shown["change"]) == ["-$200", "-$300", "-$500"]


def _with_old_deal(wb: Workbook, opps: pd.DataFrame | None = None) -> Workbook:
    """``wb`` plus a deal of r2 lost in early 2024, so the data covers the earlier windows."""
    o = wb.opportunities if opps is None else opps
    old = o.iloc[[2]].assign(opp_id="o9", rep_id="r2", created_date=pd.Timestamp("2024-01-02"),
                             close_date=pd.Timestamp("2024-02-01"))  # fmt: skip
    return Workbook(wb.reps, pd.concat([o, old], ignore_index=True), wb.config,
                    accounts=wb.accounts)  # fmt: skip


def test_year_review_by_hand():
    r = dr.dimension_review(_ctx(_with_old_deal(dim._example()), who="r1"), "year")
    # r1, 2025-04-01 - 2026-03-31 against 2024-04-01 - 2025-03-31: X won o1 400 (o3 lost)
    # against o8 100; Y won o2 600 against nothing. Open at as-of: o4 (X, partner) 1,000.
    p = r.frames["product"].set_index("product")
    assert p["bookings"].to_dict() == {"X": 400.0, "Y": 600.0}
    assert p["bookings_last_year"].to_dict() == {"X": 100.0, "Y": 0.0}
    assert p["pipeline"].to_dict() == {"X": 1000.0, "Y": 0.0}
    assert np.allclose(p["bookings_share"], [0.4, 0.6])
    assert r.headline["product_carrying_gap"] is None
    words = _text(r.text["product"])
    assert "Bookings are up $900 on the 12 months before" in words
    assert "Every product booked at least as much" in words
    assert "Open pipeline (all open deals)" in words


def test_no_history_says_the_change_is_unknown():
    wb = dim._example()
    o = wb.opportunities[wb.opportunities["close_date"] >= "2026-01-01"]
    r = dr.dimension_review(_ctx(_with_old_deal(wb, o), "r1"))
    assert "the change is unknown: nothing was booked in the same days of 2025" in _text(
        r.text["product"]
    )
    assert r.headline["product_carrying_gap"] is None


def test_a_dimension_the_data_lacks_says_so():
    wb = dim._example()
    o = wb.opportunities.assign(source=None)
    r = dr.dimension_review(_ctx(Workbook(wb.reps, o, wb.config, accounts=wb.accounts)))
    assert "Which channel carries the gap: not in the data" in _text(r.text["source"])
    assert str(r.tables["source"]) == "" and r.headline["channel_carrying_gap"] is None
    assert "source" not in r.frames and r.headline["product_carrying_gap"] == "Y"
    # the data has products, but none of r2's deals does: not known, in words
    o = wb.opportunities.assign(product=wb.opportunities["product"].where(lambda s: s.index < 4))
    r = dr.dimension_review(_ctx(Workbook(wb.reps, o, wb.config, accounts=wb.accounts)))
    assert "not known. None of Bo's deals records a product" in _text(r.text["product"])


def test_a_rep_who_joined_within_the_earlier_window_is_named():
    wb = dim._example()
    reps = wb.reps.assign(start_date=pd.to_datetime(["2024-01-01", "2025-02-01"]))
    ctx = _ctx(Workbook(reps, wb.opportunities, wb.config, accounts=wb.accounts))
    words = _text(dr.dimension_review(ctx).text["product"])
    assert "Part of the change is tenure: Bo started on 2025-02-01, within the same days" in words


def test_a_bad_horizon_is_explained():
    from salesnb.core.errors import ParameterError

    with pytest.raises(ParameterError, match="horizon='month'. Fix: use 'quarter' or 'year'"):
        dr.dimension_review(_ctx(), "month")


@pytest.mark.parametrize("horizon", ["quarter", "year"])
def test_a_reps_section_holds_only_their_own_deals(horizon):
    from salesnb.data.io import load

    wb = load(SAMPLE)
    rep = "R03"
    ctx = facts.context(wb, "rep", rep, forward=horizon == "quarter")
    r = dr.dimension_review(ctx, horizon)
    # Figures from the rep's own deals, computed here without the kit.
    o = wb.opportunities[(wb.opportunities["rep_id"] == rep)
                         & (wb.opportunities["created_date"] <= ctx.as_of)]  # fmt: skip
    for col in ("product", "source"):
        t = r.frames[col].set_index(col)
        for window, name in ((r.windows.now, "bookings"), (r.windows.last, "bookings_last_year")):
            won = o[(o["outcome"] == "won") & o["close_date"].between(*window)]
            want = won.groupby(won[col].fillna(dim.UNKNOWN))["amount"].sum()
            got = t[name][t[name] != 0]
            assert got.to_dict() == pytest.approx(want[want != 0].to_dict())
        live = o[o["outcome"] == "open"]
        if r.windows.pipe is not None:
            live = live[live["close_date"].between(*r.windows.pipe)]
        want = live.groupby(live[col].fillna(dim.UNKNOWN))["amount"].sum()
        assert t["pipeline"][t["pipeline"] != 0].to_dict() == pytest.approx(
            want[want != 0].to_dict()
        )
    # Nothing of another rep (names, ids, accounts they own or sold to) in what is shown.
    shown = " ".join(str(r.text[c]) + r.tables[c].to_html() for c in ("product", "source"))
    found = [t for t in facts.forbidden_terms(ctx)
             if re.search(rf"(?<![\w]){re.escape(t)}(?![\w])", shown)]  # fmt: skip
    assert not found


def test_data_that_starts_within_the_earlier_window_makes_the_change_unknown():
    ctx = _ctx()
    w = dr.review_windows(ctx)
    t = dr.dimension_table(ctx.wb.subset(["r2"]), "product", w, ctx.as_of)
    words = _text(dr.gap_text(t, "product", w, data_start=pd.Timestamp("2025-01-02")))
    assert words.startswith("Bookings: $0 in FY2026-Q1 to 2026-03-31; the change is unknown: "
                            "the data starts on 2025-01-02, after the same days of 2025 began.")  # fmt: skip
    assert "carrying" not in words
    covered = _text(dr.gap_text(t, "product", w, data_start=pd.Timestamp("2025-01-01")))
    assert "The product carrying most of the gap is Y" in covered

"""What moved between two pipeline snapshots, and the forecast call: expectations by hand."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesnb.analytics import movement as mv

D = pd.Timestamp
Q_START, Q_END = D("2026-10-01"), D("2026-12-31")
PROBS = {"Prospecting": 0.05, "Demo": 0.3, "Proposal": 0.5, "Negotiation": 0.75}


def snap(rows: list[tuple]) -> pd.DataFrame:
    """(opp_id, rep_id, stage, amount, close_date, forecast_category, kind) rows."""
    cols = ["opp_id", "rep_id", "stage", "amount", "close_date", "forecast_category", "kind"]
    df = pd.DataFrame(rows, columns=cols)
    df["close_date"] = pd.to_datetime(df["close_date"])
    return df


BEFORE = snap([
    ("won1", "a", "Negotiation", 100.0, "2026-10-20", "commit", "open"),   # won: in the later snapshot
    ("won2", "a", "Proposal", 40.0, "2026-11-10", "best_case", "open"),    # won: gone, data says won
    ("lost", "b", "Demo", 30.0, "2026-10-15", "pipeline", "open"),         # lost: gone, data says lost
    ("late", "b", "Demo", 25.0, "2026-10-16", "pipeline", "open"),         # closed after the snapshot
    ("gone", "b", "Demo", 10.0, "2026-11-01", "pipeline", "open"),         # deleted: not in the data
    ("push", "a", "Proposal", 60.0, "2026-12-15", "best_case", "open"),    # pushed to next quarter
    ("pull", "b", "Negotiation", 70.0, "2027-01-20", "commit", "open"),    # pulled into the quarter
    ("grow", "a", "Demo", 20.0, "2026-11-05", "pipeline", "open"),         # amount 20 -> 26
    ("same", "a", "Demo", 15.0, "2026-11-05", "pipeline", "open"),         # date moved inside: not a move
])  # fmt: skip
AFTER = snap([
    ("won1", "a", "Closed Won", 105.0, "2026-10-06", None, "won"),
    ("late", "b", "Demo", 25.0, "2026-10-16", "pipeline", "open"),
    ("push", "a", "Proposal", 55.0, "2027-01-10", "best_case", "open"),
    ("pull", "b", "Negotiation", 70.0, "2026-12-01", "commit", "open"),
    ("grow", "a", "Demo", 26.0, "2026-11-05", "pipeline", "open"),
    ("same", "a", "Demo", 15.0, "2026-12-05", "pipeline", "open"),
    ("new", "b", "Prospecting", 12.0, "2026-12-20", None, "open"),
])  # fmt: skip
CLOSED = pd.DataFrame({
    "opp_id": ["won2", "lost", "late"], "outcome": ["won", "lost", "lost"],
    "close_date": pd.to_datetime(["2026-10-05", "2026-10-04", "2026-10-09"]),
    "amount": [44.0, 30.0, 25.0],
})  # fmt: skip
AFTER_DATE = D("2026-10-07")


def test_every_kind_of_move_by_hand():
    m = mv.movement(BEFORE, AFTER, CLOSED, Q_START, Q_END, AFTER_DATE).set_index("opp_id")
    assert m["move"].to_dict() == {
        "won1": "won", "won2": "won", "lost": "lost", "gone": "left", "push": "pushed",
        "pull": "pulled", "new": "new", "grow": "amount",
    }  # fmt: skip
    # "late" closed after the later snapshot (it is still open in it); "same" moved inside
    assert "late" not in m.index and "same" not in m.index
    assert m.loc["won1", "amount_after"] == 105.0 and m.loc["won1", "change"] == -100.0
    assert m.loc["won2", "amount_after"] == 44.0 and m.loc["won2", "change"] == -40.0
    assert m.loc["gone", "change"] == -10.0 and pd.isna(m.loc["gone", "amount_after"])
    assert m.loc["push", "change"] == -5.0  # pushed and shrunk: both shown
    assert m.loc["pull", "change"] == 0.0
    assert m.loc["new", "change"] == 12.0 and m.loc["grow", "change"] == 6.0
    assert list(m["move"]) == sorted(m["move"], key=mv.MOVES.index)


def test_summary_by_hand():
    m = mv.movement(BEFORE, AFTER, CLOSED, Q_START, Q_END, AFTER_DATE)
    s = mv.movement_summary(m).set_index("move")
    assert list(s.index) == list(mv.MOVES)
    assert s.loc["won"].tolist() == [2, 105.0 + 44.0]  # what was won, not what was open
    assert s.loc["lost"].tolist() == [1, 30.0]
    assert s.loc["left"].tolist() == [1, 10.0]
    assert s.loc["pushed"].tolist() == [1, 55.0]
    assert s.loc["pulled"].tolist() == [1, 70.0]
    assert s.loc["new"].tolist() == [1, 12.0]
    assert s.loc["amount"].tolist() == [1, 6.0]


def test_call_totals_by_hand():
    t = mv.call_totals(AFTER, Q_START, Q_END, PROBS).set_index("rep_id")
    # rep a, open and due in Q4: grow 26 (pipeline), same 15 (pipeline); push is due in 2027
    assert t.loc["a"].tolist() == [2, 0.0, 0.0, 41.0]
    # rep b: late 25 (pipeline), pull 70 (commit), new 12 (no category, Prospecting: pipeline)
    assert t.loc["b"].tolist() == [3, 70.0, 70.0, 107.0]
    before = mv.call_totals(BEFORE, Q_START, Q_END, PROBS).set_index("rep_id")
    # rep a before: won1 100 commit, won2 40 best case, push 60 best case, grow 20, same 15
    assert before.loc["a", "commit"] == 100.0
    assert before.loc["a", "best_case"] == 200.0
    assert before.loc["a", "pipeline"] == 235.0


def test_omitted_deals_are_not_pipeline_and_closed_rows_not_open():
    d = snap([("x", "a", "Demo", 9.0, "2026-10-10", "omitted", "open"),
              ("y", "a", "Demo", 5.0, "2026-10-10", "commit", "won")])  # fmt: skip
    t = mv.call_totals(d, Q_START, Q_END, PROBS)
    assert t.to_dict("records") == [
        {"rep_id": "a", "deals": 1, "commit": 0.0, "best_case": 0.0, "pipeline": 0.0}
    ]


def test_categories_from_stage_when_the_data_has_none():
    d = snap([("x", "a", "Negotiation", 1.0, "2026-10-10", None, "open"),
              ("y", "a", "Proposal", 1.0, "2026-10-10", None, "open"),
              ("z", "a", "Demo", 1.0, "2026-10-10", None, "open")])  # fmt: skip
    cats, derived = mv.call_categories(d, PROBS)
    assert cats.tolist() == ["commit", "best_case", "pipeline"] and derived == 3
    cats, derived = mv.call_categories(d.drop(columns="forecast_category"), PROBS)
    assert derived == 3
    t = mv.call_totals(d, Q_START, Q_END, PROBS)
    assert t[["commit", "best_case", "pipeline"]].iloc[0].tolist() == [1.0, 2.0, 3.0]


def test_nothing_moved_gives_empty_typed_frame():
    m = mv.movement(AFTER, AFTER, CLOSED, Q_START, Q_END, AFTER_DATE)
    assert m.empty and list(m.columns)[:3] == ["opp_id", "rep_id", "move"]
    assert (mv.movement_summary(m)["deals"] == 0).all()


deal = st.tuples(
    st.integers(0, 200).map(float),
    st.integers(0, 200).map(lambda d: D("2026-09-01") + pd.Timedelta(days=d)),
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.integers(0, 30), deal, max_size=12),
       st.dictionaries(st.integers(0, 30), deal, max_size=12),
       st.sets(st.integers(0, 30), max_size=8))  # fmt: skip
def test_changes_add_up_to_the_pipelines_difference(before, after, won):
    """Every deal that left, arrived or changed is listed with its change: the changes add
    up to the later open pipeline minus the earlier one."""

    def frame(d: dict) -> pd.DataFrame:
        return snap([(f"o{k}", "a", "Demo", a, c, None, "open") for k, (a, c) in d.items()])

    closed = pd.DataFrame({"opp_id": [f"o{k}" for k in won], "outcome": "won",
                           "close_date": D("2026-09-01"), "amount": 1.0})  # fmt: skip
    b, a = frame(before), frame(after)
    m = mv.movement(b, a, closed, Q_START, Q_END, D("2026-10-01"))
    assert m["change"].sum() == pytest.approx(a["amount"].sum() - b["amount"].sum())
    assert m["opp_id"].is_unique


# --------------------------------------------------------------------------- one window
def test_with_since_won_and_lost_are_the_deals_closed_in_the_window_by_hand():
    """Given the earlier snapshot's date, won and lost are exactly the deals the data says
    closed after it and by ``after_date``: a deal created and won between the snapshots and
    one won after the later snapshot count too; one closed before the window does not."""
    closed = pd.DataFrame({
        "opp_id": ["won2", "lost", "late", "quick", "old"],
        "rep_id": ["a", "b", "b", "a", "a"],
        "outcome": ["won", "lost", "won", "won", "won"],
        "close_date": pd.to_datetime(["2026-10-05", "2026-10-04", "2026-10-09", "2026-10-03",
                                      "2026-09-20"]),
        "amount": [44.0, 30.0, 27.0, 8.0, 5.0],
    })  # fmt: skip
    before = pd.concat([BEFORE, snap([("old", "a", "Demo", 5.0, "2026-10-30", None, "open")])])
    m = mv.movement(before, AFTER, closed, Q_START, Q_END, D("2026-10-10"), since=D("2026-10-01"))
    m = m.set_index("opp_id")
    assert m["move"].to_dict() == {
        "won2": "won", "late": "won", "quick": "won", "lost": "lost",
        # won1's win is recorded only in the snapshot, not in the data: not in the window;
        # "old" closed before the window although the earlier snapshot had it open
        "won1": "left", "gone": "left", "old": "left",
        "push": "pushed", "pull": "pulled", "new": "new", "grow": "amount",
    }  # fmt: skip
    assert m.loc["late", "rep_id"] == "b" and m.loc["late", "amount_after"] == 27.0
    assert m.loc["late", "change"] == 0.0  # still open, unchanged, in the later snapshot
    assert m.loc["quick", "change"] == 0.0 and pd.isna(m.loc["quick", "amount_before"])
    s = mv.movement_summary(m.reset_index()).set_index("move")
    assert s.loc["won"].tolist() == [3, 44.0 + 27.0 + 8.0]
    assert s.loc["lost"].tolist() == [1, 30.0]


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.integers(0, 30), deal, max_size=12),
       st.dictionaries(st.integers(0, 30), deal, max_size=12),
       st.dictionaries(st.integers(0, 30), st.tuples(st.sampled_from(["won", "lost", "open"]),
                                                     st.integers(-10, 20)), max_size=12))  # fmt: skip
def test_with_since_won_is_the_closed_window_and_changes_still_add_up(before, after, fate):
    def frame(d: dict) -> pd.DataFrame:
        return snap([(f"o{k}", "a", "Demo", a, c, None, "open") for k, (a, c) in d.items()])

    since, until = D("2026-10-01"), D("2026-10-08")
    closed = pd.DataFrame({"opp_id": [f"o{k}" for k in fate], "rep_id": "a",
                           "outcome": [o for o, _ in fate.values()],
                           "close_date": pd.to_datetime([since + pd.Timedelta(days=d)
                                                         for _, d in fate.values()]),
                           "amount": 1.0})  # fmt: skip
    b, a = frame(before), frame(after)
    m = mv.movement(b, a, closed, Q_START, Q_END, until, since=since)
    in_window = closed[closed["outcome"].isin(("won", "lost"))
                       & (closed["close_date"] > since) & (closed["close_date"] <= until)]  # fmt: skip
    for outcome in ("won", "lost"):
        want = set(in_window.loc[in_window["outcome"] == outcome, "opp_id"])
        assert set(m.loc[m["move"] == outcome, "opp_id"]) == want
    assert m["change"].sum() == pytest.approx(a["amount"].sum() - b["amount"].sum())
    assert m["opp_id"].is_unique

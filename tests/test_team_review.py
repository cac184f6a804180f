"""The team review: a manager's forecast call, what moved, leaderboard, wins, regions.

Expected figures are computed by hand from the sample's raw tables (snapshots, deals,
targets), not by the code under test. A rep never receives the document: asking for one is
a clear error, in the notebook and in the batch.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from salesnb.core.errors import ParameterError
from salesnb.data.sample import PERSONAS
from salesnb.reports import facts, record
from salesnb.reports import team_review as tr

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
MANAGER = "Rebecca Stone"
END, MID = "2026-09-30", "2026-08-14"
_VIEWS: dict = {}


def ctx_of(subject_type: str = "manager", subject: str | None = MANAGER, as_of: str = END):
    key = ("ctx", subject_type, subject, as_of)
    if key not in _VIEWS:
        _VIEWS[key] = facts.open_context(SAMPLE, None, subject_type, subject, None, as_of)
    return _VIEWS[key]


def view_of(subject_type: str = "manager", subject: str | None = MANAGER, as_of: str = END,
            **kw):  # fmt: skip
    key = ("view", subject_type, subject, as_of, tuple(sorted(kw.items())))
    if key not in _VIEWS:
        _VIEWS[key] = tr.team_review_view(ctx_of(subject_type, subject, as_of), **kw)
    return _VIEWS[key]


def team(wb, manager: str = MANAGER) -> list[str]:
    return wb.reps.loc[wb.reps["manager"] == manager, "rep_id"].tolist()


def commit_by_hand(wb, reps: list[str], day: str, q_start: str, q_end: str) -> float:
    """Commit of the open deals due in the quarter in one snapshot, under today's owner."""
    s = wb.snapshots[wb.snapshots["as_of"] == pd.Timestamp(day)]
    owner = s["opp_id"].map(wb.opportunities.set_index("opp_id")["rep_id"])
    open_stage = s["stage"].isin(wb.config.stages.open_names)
    due = s["close_date"].between(pd.Timestamp(q_start), pd.Timestamp(q_end))
    hit = s[owner.isin(reps) & open_stage & due & (s["forecast_category"] == "commit")]
    return float(hit["amount"].sum())


# --------------------------------------------------------------------------- never for a rep
def test_a_rep_is_refused_with_a_clear_error():
    ctx = ctx_of("rep", PERSONAS["typical"])
    for call in (tr.check_subject, tr.team_review_view,
                 lambda c: tr.leaderboard(c, c.period)):  # fmt: skip
        with pytest.raises(ParameterError, match="never made for a rep.*Fix: use subject_type"):
            call(ctx)


def test_the_batch_refuses_to_make_it_for_reps(tmp_path):
    from salesnb.batch import documents

    with pytest.raises(ParameterError, match=r"not made for --by rep.*Fix: use --by manager"):
        documents.run("team_review", by="rep", data=str(SAMPLE), out=tmp_path, progress=False)
    assert not any(tmp_path.iterdir())  # refused before anything was made


# --------------------------------------------------------------------------- the call
def test_commit_and_its_change_by_hand():
    v = view_of()
    wb = ctx_of().wb
    reps = team(wb)
    assert v.call_period == "FY2026-Q4"  # 30 September: the quarter in play is the next one
    assert v.comparison.now == pd.Timestamp("2026-09-28")
    assert v.comparison.before == pd.Timestamp("2026-09-21")
    now = commit_by_hand(wb, reps, "2026-09-28", "2026-10-01", "2026-12-31")
    before = commit_by_hand(wb, reps, "2026-09-21", "2026-10-01", "2026-12-31")
    assert v.headline["commit"] == pytest.approx(now)
    assert v.headline["commit_change"] == pytest.approx(now - before)
    call = v.tables["call"]
    assert call["rep"].iloc[-1] == "Total" and len(call) == len(reps) + 1
    assert set(call["rep"].iloc[:-1]) == set(wb.reps.set_index("rep_id").loc[reps, "name"])


def test_the_kit_forecast_is_the_forecast_workbooks():
    from salesnb.forecast import combined as fc

    v = view_of()
    pf = fc.period_forecast(ctx_of().wb, "manager", MANAGER, "FY2026-Q4", pd.Timestamp(END))
    assert v.headline["forecast"] == pytest.approx(pf.blended.mean)
    assert v.headline["forecast_p10"] <= v.headline["forecast"] <= v.headline["forecast_p90"]


def test_the_chance_of_a_call_follows_the_forecast_documents_rule():
    """A call's chance is read on the forecast document's calibrated map (the share of
    simulated quarters reaching the call, corrected as P(target) is); where the document
    gives no figure for target, no chance of a call is printed either."""
    import numpy as np

    from salesnb.forecast import combined as fc
    from salesnb.forecast.chance import target_chance
    from salesnb.forecast.ptarget import platt_apply

    ctx = ctx_of()
    pf = fc.period_forecast(ctx.wb, "manager", MANAGER, "FY2026-Q4", pd.Timestamp(END))
    tc = target_chance(ctx.wb, pf)
    call = 500000.0
    raw = float(np.mean(pf.blended.samples >= call))
    text = str(view_of(manager_call=call).text["call"])
    if tc.calibrated:
        p = float(platt_apply(raw, tc.map["a"], tc.map["b"]))
        assert f"The kit&#x27;s chance of reaching it: {p:.0%}." in text.replace("'", "&#x27;")
    else:
        assert "The kit&#x27;s chance of reaching it: unknown (not calibrated" in text.replace(
            "'", "&#x27;"
        )
    # the raw share is printed only when the map leaves it unchanged
    if tc.calibrated and f"{raw:.0%}" != f"{p:.0%}":
        assert f"reaching it: {raw:.0%}." not in text.replace("'", "&#x27;")


def test_the_managers_call_unknown_is_said_plainly_and_a_given_call_is_compared():
    ctx = ctx_of()
    no_calls = dataclasses.replace(ctx.wb, calls=ctx.wb.calls.iloc[:0])
    v = tr.team_review_view(facts.context(no_calls, "manager", MANAGER, None, END))
    assert v.headline["manager_call"] is None and v.headline["manager_call_change"] is None
    text = str(v.text["call"])
    assert "manager&#x27;s call is unknown" in text or "manager's call is unknown" in text
    assert "manager_call" in text
    v = view_of(manager_call=900000.0)
    text = str(v.text["call"])
    assert "$900K" in text.replace("&#36;", "$") and "above the kit" in text
    assert "call above the kit's P90" in v.headline["flags"]  # 900K is above the P90 (~746K)
    assert v.headline["manager_call"] == 900000.0


def test_the_managers_call_comes_from_the_calls_table_by_hand():
    """Without the parameter the call is the latest commit call of the manager for the
    quarter in play made by the as-of date, compared with the one a week before it; read
    here straight from calls.csv."""
    raw = pd.read_csv(SAMPLE / "calls.csv", parse_dates=["as_of"])
    for as_of, period in ((END, "FY2026-Q4"), (MID, "FY2026-Q3")):
        mine = raw[(raw["subject"] == MANAGER) & (raw["period"] == period)
                   & (raw["category"] == "commit") & (raw["as_of"] <= as_of)]  # fmt: skip
        last = mine.sort_values("as_of").iloc[-1]
        before = mine[mine["as_of"] <= last["as_of"] - pd.Timedelta(days=5)]
        prev = before.sort_values("as_of").iloc[-1]
        v = view_of(as_of=as_of)
        assert v.headline["manager_call"] == last["amount"]
        assert v.headline["manager_call_made"] == last["as_of"].date()
        assert v.headline["manager_call_change"] == pytest.approx(last["amount"] - prev["amount"])
        text = str(v.text["call"]).replace("&#36;", "$")
        assert f"made on {last['as_of']:%Y-%m-%d}" in text
        assert f"made on {prev['as_of']:%Y-%m-%d}" in text
        assert "Best case, as the manager calls it" in text
    # a given call wins over the data's, and says so
    v = view_of(manager_call=500000.0)
    assert v.headline["manager_call"] == 500000.0 and v.headline["manager_call_change"] is None
    assert "given for this document" in str(v.text["call"])


def test_an_old_call_says_how_old_it_is():
    ctx = ctx_of()
    c = ctx.wb.calls
    old = dataclasses.replace(ctx.wb, calls=c[c["as_of"] <= "2026-09-14"])
    v = tr.team_review_view(facts.context(old, "manager", MANAGER, None, END))
    assert v.headline["manager_call_made"] == pd.Timestamp("2026-09-14").date()
    assert "16 days before 2026-09-30: ask for a newer call" in str(v.text["call"])
    # the week before it had no call for FY2026-Q4 yet (calls start 21 days before it)
    assert v.headline["manager_call_change"] is None
    assert "no call a week or more before it" in str(v.text["call"])


def test_latest_call_ignores_later_calls_other_subjects_and_quarters():
    from salesnb.analytics import movement as mv

    c = pd.DataFrame({
        "subject_type": ["manager", "manager", "manager", "region", "manager", "all"],
        "subject": ["Ann", "Ann", "Ann", "Ann", "Bo", None],
        "period": ["FY2026-Q4", "FY2026-Q4", "FY2026-Q3", "FY2026-Q4", "FY2026-Q4", "FY2026-Q4"],
        "amount": [100.0, 120.0, 999.0, 998.0, 997.0, 300.0],
        "as_of": pd.to_datetime(["2026-09-14", "2026-09-21", "2026-09-28", "2026-09-28",
                                 "2026-09-28", "2026-09-01"]),
        "category": ["commit", "commit", "commit", "commit", "commit", "commit"],
    })  # fmt: skip
    day = pd.Timestamp("2026-09-30")
    assert mv.latest_call(c, "manager", "Ann", "FY2026-Q4", day)["amount"] == 120.0
    assert mv.latest_call(c, "manager", "Ann", "FY2026-Q4", pd.Timestamp("2026-09-20"))[
        "amount"] == 100.0  # fmt: skip
    assert mv.latest_call(c, "manager", "Ann", "FY2026-Q4", pd.Timestamp("2026-09-13")) is None
    assert mv.latest_call(c, "all", None, "FY2026-Q4", day)["amount"] == 300.0
    assert mv.latest_call(c, "manager", "Ann", "FY2026-Q4", day, "best_case") is None


def test_a_reps_subset_keeps_no_other_reps_call():
    wb = ctx_of().wb
    extra = pd.DataFrame({"subject_type": ["rep", "rep"], "subject": wb.rep_ids()[:2],
                          "period": "FY2026-Q4", "amount": 1.0, "category": "commit",
                          "as_of": pd.Timestamp("2026-09-28")})  # fmt: skip
    wb2 = dataclasses.replace(wb, calls=pd.concat([wb.calls, extra], ignore_index=True))
    one = wb2.subset([wb.rep_ids()[0]])
    rep_rows = one.calls[one.calls["subject_type"] == "rep"]
    assert rep_rows["subject"].tolist() == [wb.rep_ids()[0]]
    manager = wb.reps.set_index("rep_id").loc[wb.rep_ids()[0], "manager"]
    assert set(one.calls.loc[one.calls["subject_type"] == "manager", "subject"]) == {manager}


# --------------------------------------------------------------------------- what moved
def test_moves_by_hand_mid_quarter():
    """On 14 August the call is about FY2026-Q3: pushes are deals due in it on 3 August and
    due after 30 September on 10 August, counted from the raw snapshots."""
    v = view_of(as_of=MID)
    wb = ctx_of(as_of=MID).wb
    reps = team(wb)
    s = wb.snapshots
    open_ = s["stage"].isin(wb.config.stages.open_names)
    owner = s["opp_id"].map(wb.opportunities.set_index("opp_id")["rep_id"])
    b = s[(s["as_of"] == "2026-08-03") & open_ & owner.isin(reps)].set_index("opp_id")
    a = s[(s["as_of"] == "2026-08-10") & open_ & owner.isin(reps)].set_index("opp_id")
    both = b.index.intersection(a.index)
    q_start, q_end = pd.Timestamp("2026-07-01"), pd.Timestamp("2026-09-30")
    was_in = b.loc[both, "close_date"].between(q_start, q_end)
    pushed = (was_in & (a.loc[both, "close_date"] > q_end)).sum()
    pulled = ((b.loc[both, "close_date"] > q_end)
              & a.loc[both, "close_date"].between(q_start, q_end)).sum()  # fmt: skip
    new = len(a.index.difference(b.index))
    assert v.headline["deals_pushed"] == pushed and pushed > 0
    assert v.headline["deals_pulled"] == pulled
    assert v.headline["deals_new"] == new
    # won: one window with the wins and losses, after the earlier snapshot, by the as-of date
    o = wb.opportunities
    won = (o["rep_id"].isin(reps) & (o["outcome"] == "won") & (o["close_date"] > "2026-08-03")
           & (o["close_date"] <= MID)).sum()  # fmt: skip
    assert v.headline["deals_won"] == won


@pytest.mark.slow
def test_one_snapshot_says_so_in_every_change_column():
    wb = ctx_of().wb
    last = wb.snapshots["as_of"].max()
    one = dataclasses.replace(wb, snapshots=wb.snapshots[wb.snapshots["as_of"] == last])
    v = tr.team_review_view(facts.context(one, "manager", MANAGER, None, END))
    assert v.comparison.now == last and v.comparison.before is None
    call = v.tables["call"]
    changes = [c for c in call.columns if "change" in c]
    assert len(changes) == 3
    for c in changes:
        assert (call[c] == tr.NO_CHANGE).all(), call[c].tolist()
    moves = v.tables["movement"]
    assert (moves["deals"] == tr.NO_CHANGE).all() and (moves["amount"] == tr.NO_CHANGE).all()
    assert "no earlier snapshot" in str(v.tables["moved_deals"])
    assert v.headline["commit_change"] is None and v.headline["deals_won"] is None
    assert "not known (not zero)" in str(v.text["snapshots"])
    # the call itself is still there, from the one snapshot
    assert v.headline["commit"] == pytest.approx(
        commit_by_hand(wb, team(wb), f"{last:%Y-%m-%d}", "2026-10-01", "2026-12-31"))  # fmt: skip


# --------------------------------------------------------------------------- leaderboard
def test_leaderboard_attainment_and_pipeline_created_by_hand():
    v = view_of()
    wb = ctx_of().wb
    board = v.tables["leaderboard"]
    top = board.iloc[0]
    rep = wb.reps.loc[wb.reps["name"] == top["rep"], "rep_id"].iloc[0]
    q0, q1 = pd.Timestamp("2026-07-01"), pd.Timestamp("2026-09-30")
    o = wb.opportunities
    won = o[(o["rep_id"] == rep) & (o["outcome"] == "won") & o["close_date"].between(q0, q1)]
    t = wb.targets
    target = t.loc[(t["rep_id"] == rep) & t["month"].between(q0, q1), "amount"].sum()
    assert top["attainment FY2026-Q3"] == f"{won['amount'].sum() / target:.0%}"
    created = o.loc[(o["rep_id"] == rep) & o["created_date"].between(q0, q1), "amount"].sum()
    from salesnb.reports.workbooks import fmt

    assert top["pipeline created"] == fmt(created, "currency")
    assert "coverage FY2026-Q4" in board.columns
    pct = [float(x.rstrip("%")) for x in board["attainment FY2026-Q3"]]
    assert pct == sorted(pct, reverse=True)


# --------------------------------------------------------------------------- wins, regions
def test_wins_are_the_largest_closed_since_the_last_snapshot():
    v = view_of()
    wb = ctx_of().wb
    o = wb.opportunities
    won = o[o["rep_id"].isin(team(wb)) & (o["outcome"] == "won")
            & (o["close_date"] > "2026-09-21") & (o["close_date"] <= END)]  # fmt: skip
    top = won.sort_values("amount", ascending=False).head(tr.TOP_DEALS)
    assert v.tables["wins"]["account"].tolist() == top["account"].tolist()
    assert "lost at" in v.tables["losses"].columns
    # the sample records loss reasons: each listed loss shows its own, as the data has it
    lost = o[o["rep_id"].isin(team(wb)) & (o["outcome"] == "lost")
             & (o["close_date"] > "2026-09-21") & (o["close_date"] <= END)]  # fmt: skip
    top = lost.sort_values(["amount", "opp_id"], ascending=[False, True]).head(tr.TOP_DEALS)
    want = [r if isinstance(r, str) and r else tr.NO_REASON for r in top["loss_reason"]]
    assert v.tables["losses"]["reason"].tolist() == want
    assert "Lessons from the losses" in str(v.text["wins"])


@pytest.mark.parametrize("as_of", [END, MID])
def test_what_moved_and_wins_count_the_same_deals(as_of):
    """One window for both sections: the won (lost) count of "What moved" is the count the
    wins and losses line says, and the deals listed as won are won in "What moved"."""
    v = view_of(as_of=as_of)
    moves = v.tables["movement"].set_index("what")
    text = str(v.text["wins"])
    n_won = int(re.search(r"\((\d+) won, (\d+) lost in all", text).group(1))
    n_lost = int(re.search(r"\((\d+) won, (\d+) lost in all", text).group(2))
    assert int(moves.loc["won", "deals"]) == n_won == v.headline["deals_won"] > 0
    assert int(moves.loc["lost", "deals"]) == n_lost == v.headline["deals_lost"]
    won_ids = set(v.moves.loc[v.moves["move"] == "won", "opp_id"])
    o = ctx_of(as_of=as_of).wb.opportunities.set_index("opp_id")
    assert set(o.loc[sorted(won_ids), "account"]) >= set(v.tables["wins"]["account"])
    # both sections name the same dates
    first = f"{v.comparison.before + pd.Timedelta(days=1):%Y-%m-%d}"
    assert f"from {first} to {as_of}" in text and f"From {first} to {as_of}" in str(
        v.text["movement"])  # fmt: skip


def _with_reasons(reasons: dict[str, str | None]):
    """The manager's context on a copy of the sample whose lost deals carry ``loss_reason``
    (deal id -> reason; other deals blank), as the optional column would load."""
    ctx = ctx_of()
    o = ctx.wb.opportunities.copy()
    o["loss_reason"] = o["opp_id"].map(reasons).astype(object)
    wb = dataclasses.replace(ctx.wb, opportunities=o)
    return facts.context(wb, "manager", MANAGER, None, END)


def test_loss_reasons_each_lost_deal_and_the_lessons_by_hand():
    ctx = ctx_of()
    cmp_ = tr.comparison(ctx.wb, ctx.as_of)
    lost = tr.recent_closes(ctx, cmp_)
    lost = lost[lost["outcome"] == "lost"].sort_values(["amount", "opp_id"],
                                                       ascending=[False, True])  # fmt: skip
    ids = lost["opp_id"].tolist()
    assert len(ids) >= 4
    # the two largest lost on price, the third to a competitor, the rest unrecorded
    reasons = {ids[0]: "price", ids[1]: "price", ids[2]: "competitor"}
    rctx = _with_reasons(reasons)
    v = tr.team_review_view(rctx)
    t = v.tables["losses"]
    assert t["reason"].tolist()[:3] == ["price", "price", "competitor"]
    assert set(t["reason"].tolist()[3:]) <= {tr.NO_REASON}
    by = tr.loss_reasons(rctx, tr.comparison(rctx.wb, rctx.as_of)).set_index("reason")
    amounts = lost.set_index("opp_id")["amount"]
    assert by.loc["price"].tolist() == [2, amounts[ids[0]] + amounts[ids[1]]]
    assert by.loc["competitor"].tolist() == [1, amounts[ids[2]]]
    assert by.loc[tr.NO_REASON, "deals"] == len(ids) - 3
    assert list(by.index)[-1] == tr.NO_REASON  # unrecorded comes last
    text = str(v.text["wins"])
    assert "Lessons from the losses" in text
    assert f"The most common reason is <b>price</b> (2 of {len(ids):,} lost deals)" in text
    assert f"{len(ids) - 3:,} of {len(ids):,} lost deals have no reason recorded" in text
    assert list(t.columns).index("reason") == list(t.columns).index("lost at") + 1
    # a tie names every leader and says no single reason stands out
    tie = _with_reasons({ids[0]: "price", ids[1]: "competitor"})
    text = str(tr.loss_lessons(tie, tr.comparison(tie.wb, tie.as_of)))
    assert "<b>price</b> and <b>competitor</b> tie" in text or (
        "<b>competitor</b> and <b>price</b> tie" in text)  # fmt: skip
    assert text.count("Lessons") == 1


def test_loss_reasons_without_the_column_say_nothing():
    full = ctx_of()
    o = full.wb.opportunities
    # no column, or (as a loader gives for data without one) a column blank on every deal
    for opps in (o.drop(columns="loss_reason"), o.assign(loss_reason=pd.NA)):
        wb = dataclasses.replace(full.wb, opportunities=opps)
        ctx = facts.context(wb, "manager", MANAGER, None, END)
        cmp_ = tr.comparison(ctx.wb, ctx.as_of)
        assert tr.loss_reasons(ctx, cmp_) is None and tr.loss_lessons(ctx, cmp_) == ""
        _, losses = tr.wins_and_losses(ctx, cmp_)
        assert "reason" not in losses.columns


def test_regions_side_by_side_and_the_spread_by_hand():
    v = view_of()
    wb = ctx_of().wb
    q0, q1 = pd.Timestamp("2026-07-01"), pd.Timestamp("2026-09-30")
    o = wb.opportunities.merge(wb.reps[["rep_id", "region"]], on="rep_id")
    booked = o[(o["outcome"] == "won") & o["close_date"].between(q0, q1)].groupby("region")[
        "amount"].sum()  # fmt: skip
    t = wb.targets.merge(wb.reps[["rep_id", "region"]], on="rep_id", suffixes=("_t", ""))
    target = t[t["month"].between(q0, q1)].groupby("region")["amount"].sum()
    att = booked / target
    regions = v.tables["regions"]
    assert len(regions) == wb.reps["region"].nunique() + 1
    assert regions["region"].iloc[-1].startswith("Spread")
    spread = round((att.max() - att.min()) * 100)
    assert regions["attainment"].iloc[-1] == f"{spread} pts"
    assert "North America East (this document)" in regions["region"].tolist()
    assert f"{att.idxmax()} {att.max():.0%}" in str(v.text["regions"])


def test_a_managers_review_names_only_the_managers_reps():
    v = view_of()
    wb = ctx_of().wb
    others = wb.reps.loc[wb.reps["manager"] != MANAGER, ["rep_id", "name"]]
    text = " ".join(
        t.to_csv() if isinstance(t, pd.DataFrame) else str(t)
        for t in [*v.tables.values(), *v.text.values()]
    )  # fmt: skip
    for col in ("rep_id", "name"):
        for term in others[col]:
            assert not re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text), term


# --------------------------------------------------------------------------- the notebook
HEADLINE = {"call_period", "commit", "best_case", "pipeline", "commit_change", "forecast",
            "forecast_p10", "forecast_p90", "manager_call", "deals_won", "deals_pushed",
            "flags"}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("subject_type", "subject"),
    [("manager", MANAGER), ("region", "EMEA"), ("all", None)],
)
def test_notebook_runs_for_a_manager_a_region_and_the_team(subject_type, subject, tmp_path):
    import papermill

    out = tmp_path / "team_review.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "team_review.ipynb"), str(out),
        parameters={"data": str(SAMPLE), "subject_type": subject_type, "subject": subject},
        kernel_name="python3", cwd=str(ROOT / "notebooks"), progress_bar=False,
        log_output=False,
    )  # fmt: skip
    nb = json.loads(out.read_text(encoding="utf-8"))
    heads, title = record.collect(nb)
    assert HEADLINE <= set(heads), sorted(HEADLINE - set(heads))
    assert title["subject_name"] == (subject or "Whole team")
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert not [o for o in outputs if o["output_type"] == "stream" and o["name"] == "stderr"]
    assert [o for o in outputs if "image/svg+xml" in o.get("data", {})], "no static chart"
    html = "\n".join("".join(o.get("data", {}).get("text/html", "")) for o in outputs)
    # the sample's calls table holds the managers' calls only
    call = ("The manager&#x27;s call</b> for FY2026-Q4 is" if subject_type == "manager"
            else "The manager&#x27;s call is unknown")  # fmt: skip
    for words in (call, "kit forecast", "Spread (highest", "pushed out of the period", "change"):
        assert words in html or words.replace("&#x27;", "'") in html, words
    assert "nan" not in re.sub(r"<[^>]+>", " ", html).split()


@pytest.mark.slow
def test_notebook_refuses_a_rep(tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match="never made for a rep"):
        papermill.execute_notebook(
            str(ROOT / "notebooks" / "team_review.ipynb"), str(tmp_path / "x.ipynb"),
            parameters={"data": str(SAMPLE), "subject_type": "rep",
                        "subject": PERSONAS["typical"]},
            kernel_name="python3", cwd=str(ROOT / "notebooks"), progress_bar=False,
            log_output=False,
        )  # fmt: skip


PUBLIC = ROOT / ".." / "shared" / "data" / "crm_sales_opportunities"


@pytest.mark.slow
def test_notebook_runs_on_the_public_data_set_without_snapshots(tmp_path):
    import papermill

    if not (PUBLIC / "sales_pipeline.csv").is_file():
        pytest.skip(f"public data set not found at {PUBLIC.resolve()}")
    out = tmp_path / "team_review.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "team_review.ipynb"), str(out),
        parameters={"data": str(PUBLIC.resolve()), "profile": "crm_sales_opportunities",
                    "subject_type": "region", "subject": "Central"},
        kernel_name="python3", cwd=str(ROOT / "notebooks"), progress_bar=False,
        log_output=False,
    )  # fmt: skip
    nb = json.loads(out.read_text(encoding="utf-8"))
    heads, _ = record.collect(nb)
    assert heads["snapshot"] is None and heads["commit_change"] is None
    html = "\n".join("".join(o.get("data", {}).get("text/html", ""))
                     for c in nb["cells"] for o in c.get("outputs", []))  # fmt: skip
    assert "no pipeline snapshot" in html and tr.NO_CHANGE in html


def test_notebook_shape():
    import ast

    import nbformat
    import papermill

    path = ROOT / "notebooks" / "team_review.ipynb"
    nb = nbformat.read(path, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    declared = {t.id for n in ast.parse(params[0].source).body if isinstance(n, ast.Assign)
                for t in n.targets if isinstance(t, ast.Name)}  # fmt: skip
    assert {"data", "profile", "subject_type", "subject", "period", "as_of", "cadence",
            "manager_call"} == declared  # fmt: skip
    assert set(papermill.inspect_notebook(str(path))) == declared
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert code[-1].startswith("record.headline(")
    assert code[1].index("check_subject") < code[1].index("record.title(")
    for src in code:
        for node in ast.walk(ast.parse(src)):
            assert not isinstance(node, ast.FunctionDef | ast.Lambda | ast.ClassDef)


def test_the_review_opens_with_summary_tiles_that_say_every_change():
    from salesnb.reports import summary

    tiles = summary.summary_tiles(ctx_of(), "team_review")
    assert 4 <= len(tiles) <= 6
    for t in tiles:
        assert t.text and "nan" not in t.text.lower()
        assert t.vs_last and t.vs_year  # a change, or "not known" in words


def test_the_whole_teams_call_is_said_in_words():
    text = str(view_of("all", None).text["call"])
    assert "no call for the whole team" in text
    assert "(this document)" not in view_of("all", None).tables["regions"].to_csv()


def test_which_snapshots_and_a_stale_one_in_words():
    ctx = ctx_of()
    cmp_ = tr.comparison(ctx.wb, ctx.as_of)
    assert (cmp_.now, cmp_.before) == (pd.Timestamp("2026-09-28"), pd.Timestamp("2026-09-21"))
    monthly = tr.comparison(ctx.wb, ctx.as_of, "monthly")
    assert monthly.before == pd.Timestamp("2026-08-31")  # 28 days before the 28th
    assert "days older" not in str(tr.snapshot_note(ctx, cmp_))
    old = tr.Comparison(pd.Timestamp("2026-09-07"), pd.Timestamp("2026-08-31"), "weekly")
    note = str(tr.snapshot_note(ctx, old))
    assert "23 days older than the as-of date 2026-09-30" in note and "Fix:" in note
    with pytest.raises(ParameterError, match="cadence 'daily'"):
        tr.comparison(ctx.wb, ctx.as_of, "daily")

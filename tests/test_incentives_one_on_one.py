"""The one-on-one's pay section: only with a plan file, only in a rep's own copy, and what it
says fits the person: the star's accelerators, the new hires' draw, the date of the meeting."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from salesnb.data.io import load
from salesnb.data.sample import PERSONAS
from salesnb.incentives import load_plan, payouts
from salesnb.incentives.coaching import earnings_brief, earnings_html, known_at
from salesnb.reports import facts

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
PLAN = SAMPLE / "incentive_plan.toml"
NOTEBOOK = ROOT / "notebooks" / "one_on_one.ipynb"
STAR, NEW = PERSONAS["star"], PERSONAS["new_hires"]
MID, END = "2026-08-14", "2026-09-30"


@pytest.fixture(scope="module")
def wb():
    return load(SAMPLE)


@pytest.fixture(scope="module")
def plan():
    return load_plan(PLAN)


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html).replace("&#x27;", "'").replace("&amp;", "&")


def _others(text: str, ctx) -> list[str]:
    """Other reps' names and ids, and accounts and deals not the rep's, found in ``text``."""
    return [t for t in facts.forbidden_terms(ctx)
            if re.search(rf"(?<![\w]){re.escape(t)}(?![\w])", text)]  # fmt: skip


def test_brief_by_hand():
    """Monthly plan, quota 10,000, target incentive 5,000 (tests/test_incentives.py): 8,000 won
    in December pays 5,000 x (0.5 x 0.5 + 0.3 x 1.0) = 2,750; 2,000 more reach 100 %."""
    from test_incentives import plan as make_plan
    from test_incentives import workbook

    deals = [("o1", "r1", 8000, "2026-12-10", "X", "A"),
             ("o2", "r1", 3000, "2026-12-20", "X", "B", "open")]  # fmt: skip
    wb, p = workbook(deals), make_plan()
    b = earnings_brief(wb, p, "r1")
    assert len(b.by_period) == 12 and b.to_date == pytest.approx(2750)
    assert (b.next.what, b.next.per_1000) == ("accelerator", 750)
    assert b.next.bookings_needed == pytest.approx(2000)
    assert b.lines[0] == ("Earned under Test so far: $2.8K (2026-01 $0, 2026-02 $0, 2026-03 $0, "
                          "2026-04 $0, 2026-05 $0, 2026-06 $0, 2026-07 $0, 2026-08 $0, "
                          "2026-09 $0, 2026-10 $0, 2026-11 $0, 2026-12 $2.8K).")  # fmt: skip
    assert b.lines[-1] == "No open deal in commit is due by 2026-12-31."  # no categories here
    o = wb.opportunities
    o["forecast_category"] = ["commit" if i == "o2" else None for i in o["opp_id"]]
    b = earnings_brief(wb, p, "r1")
    assert b.commit_deals == 1
    assert b.commit_payout == pytest.approx(5000 * (0.25 + 0.5 + 0.1 * 1.5))  # 110 %: 4,500
    assert b.lines[-1] == ("If the 1 open deal in commit due by 2026-12-31 closes as won: payout "
                           "$4.5K for 2026-12 (+$1.8K).")  # fmt: skip


def test_no_plan_no_pay(wb):
    assert earnings_html(wb, None, "rep", STAR) == ""


def test_the_stars_one_on_one_shows_accelerators_and_no_draw(wb, plan):
    b = earnings_brief(wb, plan, STAR, END)
    table = payouts(wb, plan, ["FY2026-Q1", "FY2026-Q3"])
    mine = table[(table["payee_id"] == STAR) & (table["payee_kind"] == "rep")]
    assert b.to_date == pytest.approx(mine["payout"].sum())
    assert b.accelerator == pytest.approx(mine["accelerator"].sum()) and b.accelerator > 0
    assert b.draw_paid == 0
    text = " ".join(b.lines)
    assert text.startswith("Earned under FY2026 account executive plan so far:")
    assert "is accelerator pay" in text and "new-hire draw" not in text
    # 68% of quota on the quarter's last day: the next step is the accelerator at 100%
    assert b.next.what == "accelerator" and b.next.at == 1.0
    assert b.next.bookings_needed == pytest.approx(b.now["quota"] - b.now["credited"])
    assert "more credited bookings reach 100% of quota: a $1K kicker" in text


@pytest.mark.parametrize("rep", NEW)
def test_a_new_hires_one_on_one_shows_the_draw(wb, plan, rep):
    b = earnings_brief(wb, plan, rep, END)
    start = wb.rep(rep)["start_date"]
    first = f"FY2026-Q{(start.month - 1) // 3 + 1}"  # the plan pays from the rep's start
    assert b.by_period["period"].iloc[0] == first
    assert b.draw_paid > 0 and b.accelerator == 0
    text = " ".join(b.lines)
    assert "is the new-hire draw: pay guaranteed while ramping" in text
    assert "it is not paid back" in text  # the mid-market draw is not recoverable
    assert "accelerator pay" not in text


def test_the_meetings_date_hides_later_deals(wb, plan):
    mid = earnings_brief(wb, plan, STAR, MID)
    o = wb.opportunities
    won = o[(o["rep_id"] == STAR) & (o["outcome"] == "won")
            & o["close_date"].between("2026-07-01", MID)]  # fmt: skip
    assert mid.now["credited"] == pytest.approx(won["amount"].sum())  # mid-market credits 1.0
    assert not mid.now["complete"] and "payout $0 so far" in " ".join(mid.lines)
    assert mid.to_date < earnings_brief(wb, plan, STAR, END).to_date
    assert known_at(wb, MID).as_of == pd.Timestamp(MID)
    assert known_at(wb, END) is wb


def test_a_reps_pay_section_names_no_one_else(wb, plan):
    for rep in wb.rep_ids():
        ctx = facts.context(wb, "rep", rep)
        text = _text(earnings_html(wb, PLAN, "rep", rep))
        assert _others(text, ctx) == [], rep
        assert "Earned under" in text


def test_a_managers_copy_shows_no_pay(wb):
    text = _text(earnings_html(wb, PLAN, "manager", "Rebecca Stone"))
    assert "shown only in each rep's own one-on-one" in text
    assert "$" not in text and not any(n in text for n in wb.reps["name"])


@pytest.mark.slow
@pytest.mark.parametrize("rep", [STAR, NEW[0]])
def test_one_on_one_document_with_and_without_a_plan(rep, tmp_path):
    import papermill

    for with_plan in (True, False):
        out = tmp_path / f"{rep}-{with_plan}.ipynb"
        params = {"data": str(SAMPLE), "subject_type": "rep", "subject": rep,
                  "plan": str(PLAN) if with_plan else None}  # fmt: skip
        papermill.execute_notebook(str(NOTEBOOK), str(out), parameters=params,
                                   kernel_name="python3", cwd=str(NOTEBOOK.parent),
                                   progress_bar=False, log_output=False)  # fmt: skip
        nb = json.loads(out.read_text(encoding="utf-8"))
        html = "".join("".join(o.get("data", {}).get("text/html", ""))
                       for c in nb["cells"] for o in c.get("outputs", []))  # fmt: skip
        assert ("Pay under the incentive plan" in html) is with_plan
        assert ("Earned under FY2026 account executive plan" in html) is with_plan
        assert (
            _others(json.dumps(nb, ensure_ascii=False), facts.context(load(SAMPLE), "rep", rep))
            == []
        )

"""A lost deal's furthest stage, derived from what the export does hold (issue 16).

Three sources: snapshots, a stage-history file (Salesforce's "Opportunity History" report)
and "date entered" columns (HubSpot). Hand-computed expectations on small fixtures.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from salesnb.core.errors import ProfileError
from salesnb.data.io import load
from salesnb.data.profiles import load_profile
from salesnb.forecast.winprob import win_probabilities

ROOT = Path(__file__).resolve().parents[1]

REPS = "rep_id,name,manager,region\nR1,Ann,Mia,EU\nR2,Bo,Mia,EU\n"
OPPS = """opp_id,rep_id,stage,amount,created_date,close_date,furthest_stage
O1,R1,Closed Won,100,2026-01-05,2026-03-01,
O2,R1,Closed Lost,100,2026-01-05,2026-03-02,
O3,R2,Closed Lost,100,2026-01-05,2026-03-03,
O4,R2,Closed Lost,100,2026-01-05,2026-03-04,
O5,R2,Closed Lost,100,2026-01-05,2026-03-05,Qualification
O6,R1,Demo,100,2026-02-05,2026-06-01,
"""


def _furthest(wb) -> dict[str, object]:
    o = wb.opportunities.set_index("opp_id")["furthest_stage"]
    return {k: (None if pd.isna(v) else v) for k, v in o.items()}


def _warning(wb, code: str) -> str:
    hits = [str(w) for w in wb.warnings if w.code == code]
    assert len(hits) == 1, [str(w) for w in wb.warnings]
    return hits[0]


def test_snapshots_fill_a_blank_furthest_stage_and_keep_a_given_one(tmp_path):
    (tmp_path / "reps.csv").write_text(REPS)
    (tmp_path / "opportunities.csv").write_text(OPPS)
    (tmp_path / "snapshots.csv").write_text(
        "as_of,opp_id,stage,amount,close_date\n"
        "2026-01-31,O2,Prospecting,100,2026-03-02\n"
        "2026-02-28,O2,Proposal,100,2026-03-02\n"
        "2026-01-31,O3,Demo,100,2026-03-03\n"
        "2026-02-28,O5,Proposal,100,2026-03-05\n"  # O5 says Qualification: kept
        "2026-02-28,O6,Demo,100,2026-06-01\n"
    )
    wb = load(tmp_path, as_of="2026-03-31")
    assert _furthest(wb) == {
        "O1": "Negotiation", "O2": "Proposal", "O3": "Demo", "O4": None,
        "O5": "Qualification", "O6": "Demo",
    }  # fmt: skip
    msg = _warning(wb, "derived-furthest-stage")
    assert "2 of 3 lost deals without a furthest stage" in msg
    assert "2 from snapshots" in msg and "1 still do not say how far they got" in msg


def test_snapshots_after_the_as_of_date_say_nothing(tmp_path):
    (tmp_path / "reps.csv").write_text(REPS)
    (tmp_path / "opportunities.csv").write_text(OPPS)
    (tmp_path / "snapshots.csv").write_text(
        "as_of,opp_id,stage,amount,close_date\n2026-04-30,O4,Proposal,100,2026-03-04\n"
    )
    wb = load(tmp_path, as_of="2026-03-31")
    assert _furthest(wb)["O4"] is None
    assert not [w for w in wb.warnings if w.code == "derived-furthest-stage"]


# ---------------------------------------------------------------- Salesforce Opportunity History

SF_REPORT = (
    '"Opportunity ID","Opportunity Owner","Stage","Amount","Close Date","Created Date"\n'
    '"006A1","Ann","Closed Won","$1,000.00","2/15/2024","11/2/2023"\n'
    '"006A2","Ann","Closed Lost","$800.00","2/28/2024","12/5/2023"\n'
    '"006A3","Bo","Closed Lost","$900.00","3/1/2024","12/20/2023"\n'
    '"006A4","Bo","Closed Lost","$700.00","3/2/2024","12/21/2023"\n'
    '"006A5","Bo","Negotiation/Review","$4,000.00","5/30/2024","1/10/2024"\n'
)
SF_HISTORY = (
    '"Opportunity ID","Opportunity Name","From Stage","To Stage","Amount","Last Modified"\n'
    '"006A2","Globex","","Prospecting","$800.00","12/5/2023"\n'
    '"006A2","Globex","Prospecting","Needs Analysis","$800.00","1/4/2024"\n'
    '"006A2","Globex","Needs Analysis","Identify Decision Makers","$800.00","2/1/2024"\n'
    '"006A2","Globex","Identify Decision Makers","Closed Lost","$800.00","2/28/2024"\n'
    '"006A3","Initech","Qualification","Closed Lost","$900.00","3/1/2024 10:15 AM"\n'
    # A change after the as-of date says nothing about the deal then.
    '"006A4","Umbrella","Prospecting","Negotiation/Review","$700.00","6/1/2024 9:02 AM"\n'
)


def _salesforce(tmp_path: Path, history: bool = True) -> Path:
    (tmp_path / "report1711712345678.csv").write_text(SF_REPORT)
    if history:
        (tmp_path / "stage_history.csv").write_text(SF_HISTORY)
    return tmp_path


def test_salesforce_opportunity_history_gives_the_furthest_open_stage(tmp_path):
    wb = load(_salesforce(tmp_path), profile="salesforce", as_of="2024-03-31")
    f = _furthest(wb)
    # 006A2 went Prospecting -> Needs Analysis -> Identify Decision Makers (stage_map:
    # "Id. Decision Makers") -> Closed Lost; 006A3 left Qualification for Closed Lost;
    # 006A4's only change is dated after the as-of date.
    assert f["006A2"] == "Id. Decision Makers"
    assert f["006A3"] == "Qualification"
    assert f["006A4"] is None
    assert f["006A1"] == "Negotiation/Review" and f["006A5"] == "Negotiation/Review"
    msg = _warning(wb, "derived-furthest-stage")
    assert "2 of 3 lost deals" in msg and "2 from the stage history 'stage_history.csv'" in msg
    assert "1 still do not say" in msg


def test_salesforce_without_a_history_file_says_nothing_of_it(tmp_path):
    wb = load(_salesforce(tmp_path, history=False), profile="salesforce", as_of="2024-03-31")
    assert _furthest(wb)["006A2"] is None
    codes = {w.code for w in wb.warnings}
    assert "derived-furthest-stage" not in codes and "missing-file" not in codes


def test_a_history_file_without_the_id_column_is_refused_with_the_columns(tmp_path):
    from salesnb.core.errors import DataValidationError

    _salesforce(tmp_path)
    text = SF_HISTORY.replace('"Opportunity ID"', '"Opp Ref"', 1)
    (tmp_path / "stage_history.csv").write_text(text)
    with pytest.raises(DataValidationError) as exc:
        load(tmp_path, profile="salesforce", as_of="2024-03-31")
    msg = str(exc.value)
    assert "stage_history.csv" in msg and "no column 'Opportunity ID'" in msg
    assert "Opp Ref" in msg


def test_stage_history_profile_keys_are_checked(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text('[stage_history]\nfiles = ["h.csv"]\ncolumns = { "To Stage" = "stages" }\n')
    with pytest.raises(ProfileError, match="Did you mean 'stage'"):
        load_profile(bad)
    bad.write_text('[stage_history]\nfile = ["h.csv"]\n')
    with pytest.raises(ProfileError, match="Unknown key 'file'"):
        load_profile(bad)
    bad.write_text('[reps.stage_dates]\nDemo = "x"\n')
    with pytest.raises(ProfileError, match=r"\[opportunities.stage_dates\]"):
        load_profile(bad)


# ---------------------------------------------------------------- HubSpot "Date entered"


def _entered(stage: str) -> str:
    return f'"Date entered ""{stage} (Sales Pipeline)"""'


def test_hubspot_date_entered_columns_give_the_furthest_stage_with_a_date(tmp_path):
    stages = ["Appointment Scheduled", "Qualified To Buy", "Presentation Scheduled"]
    head = "Record ID,Deal owner,Deal Stage,Amount,Close Date,Create Date," + ",".join(
        _entered(s) for s in stages
    )
    rows = [
        "1,Ann,Closed Won,500,2024-01-31 17:00,2023-11-14 09:12,2023-11-14 09:12,,",
        # Skipped "Qualified To Buy": the furthest stage with a date counts.
        "2,Ann,Closed Lost,600,2024-02-20 12:00,2023-12-01 15:40,2023-12-01 15:40,,2024-01-10 10:00",
        "3,Bo,Closed Lost,700,2024-02-21 12:00,2023-12-02 15:40,2023-12-02 15:40,2023-12-09 10:00,",
        "4,Bo,Closed Lost,800,2024-02-22 12:00,2023-12-03 15:40,,,",
        "5,Bo,Qualified To Buy,900,2024-05-22 12:00,2024-01-03 15:40,2024-01-03 15:40,2024-02-01 09:00,",
    ]
    (tmp_path / "hubspot-crm-exports-all-deals-2024-03-29.csv").write_text(
        head + "\n" + "\n".join(rows) + "\n"
    )
    wb = load(tmp_path, profile="hubspot", as_of="2024-03-29")
    f = _furthest(wb)
    assert f["2"] == "Presentation Scheduled"
    assert f["3"] == "Qualified To Buy"
    assert f["4"] is None
    assert f["5"] == "Qualified To Buy" and f["1"] == "Contract Sent"
    msg = _warning(wb, "derived-furthest-stage")
    assert "2 of 3 lost deals" in msg and "2 from the 'date entered' stage columns" in msg
    # Two of the five mapped columns are not in the export: said once.
    missing = _warning(wb, "missing-column")
    assert "Decision Maker Bought-In" in missing and "Contract Sent" in missing


def test_hubspot_export_without_date_entered_columns_is_unchanged():
    wb = load(ROOT / "tests" / "data" / "hubspot", profile="hubspot")
    lost = wb.opportunities[wb.opportunities["outcome"] == "lost"]
    assert lost["furthest_stage"].isna().all() and len(lost) == 2
    assert "missing-column" not in {w.code for w in wb.warnings}


# ---------------------------------------------------------------- every stage learned again


@pytest.fixture(scope="module")
def sample_with_history(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """The sample with every lost deal's furthest stage blanked (the export's shape) and a
    stage-history file that holds, per lost deal, the changes up to that stage."""
    root = ROOT / "data" / "sample"
    out = tmp_path_factory.mktemp("history")
    for name in ("reps.csv", "targets.csv", "activities.csv", "salesnb.toml"):
        shutil.copy(root / name, out / name)
    o = pd.read_csv(root / "opportunities.csv", dtype=str, keep_default_na=False)
    lost = o[o["outcome"] == "lost"]
    stages = ["Prospecting", "Qualification", "Demo", "Proposal", "Negotiation"]
    rows = []
    for opp, reach, created in lost[["opp_id", "furthest_stage", "created_date"]].itertuples(
        index=False
    ):
        for s in stages[: stages.index(reach) + 1]:
            rows.append((opp, s, created))
        rows.append((opp, "Closed Lost", created))
    pd.DataFrame(rows, columns=["Opp", "To Stage", "Changed"]).to_csv(
        out / "history.csv", index=False
    )
    truth = o.copy()
    o.loc[o["outcome"] == "lost", "furthest_stage"] = ""
    o.to_csv(out / "opportunities.csv", index=False)
    (out / "profile.toml").write_text(
        'name = "sample-with-history"\n'
        '[reps]\nfiles = ["reps.csv"]\n'
        '[opportunities]\nfiles = ["opportunities.csv"]\n'
        '[targets]\nfiles = ["targets.csv"]\nread = { date_formats = ["%Y-%m-%d", "%Y-%m"] }\n'
        '[activities]\nfiles = ["activities.csv"]\n'
        '[stage_history]\nfiles = ["history.csv"]\n'
        'columns = { Opp = "opp_id", "To Stage" = "stage", Changed = "date" }\n'
    )
    return out, truth


def test_after_derivation_every_stage_is_learned_again(sample_with_history):
    folder, truth = sample_with_history
    bare = load(folder)  # the canonical profile: no history, lost deals say nothing
    assert not win_probabilities(bare).set_index("stage")["learned"].iloc[1:].any()
    wb = load(folder, profile=folder / "profile.toml")
    got = wb.opportunities.set_index("opp_id")["furthest_stage"]
    want = truth.set_index("opp_id")["furthest_stage"]
    lost = truth.loc[truth["outcome"] == "lost", "opp_id"]
    assert (got[lost] == want[lost]).all()
    p = win_probabilities(wb)
    assert p["learned"].all(), p
    assert (p.set_index("stage")["p"] < 0.95).all()


def test_an_unreadable_history_date_is_named_and_the_row_still_counts(tmp_path):
    _salesforce(tmp_path)
    text = SF_HISTORY.replace('"6/1/2024 9:02 AM"', '"first of June"')
    (tmp_path / "stage_history.csv").write_text(text)
    wb = load(tmp_path, profile="salesforce", as_of="2024-03-31")
    assert _furthest(wb)["006A4"] == "Negotiation/Review"
    msg = _warning(wb, "history-date")
    assert "1 stage-history date(s) in column 'Last Modified' could not be read" in msg
    assert "date_formats" in msg

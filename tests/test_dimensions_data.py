"""The optional dimension tables of the data model: ``accounts`` and ``satisfaction``.

Absent, they change nothing; present, they are typed and checked with the kit's usual
messages (file, line, column, fix), and a problem about an account reaches only its owner.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

import salesnb
from salesnb.core.errors import DataValidationError
from salesnb.data.model import empty_table
from salesnb.data.schema import CORE_TABLES, columns

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
PUBLIC = ROOT.parent / "shared" / "data" / "crm_sales_opportunities"


def _core_copy(tmp_path: Path) -> Path:
    out = tmp_path / "core"
    out.mkdir()
    for t in CORE_TABLES:
        shutil.copy(SAMPLE / f"{t}.csv", out / f"{t}.csv")
    shutil.copy(SAMPLE / "salesnb.toml", out / "salesnb.toml")
    return out


@pytest.fixture(scope="module")
def full():
    return salesnb.load(SAMPLE)


def test_absent_tables_change_nothing(tmp_path, full):
    core = salesnb.load(_core_copy(tmp_path))
    assert list(core.accounts.columns) == columns("accounts") and core.accounts.empty
    assert list(core.satisfaction.columns) == columns("satisfaction") and core.satisfaction.empty
    # the same fingerprint as the full sample with its dimension tables emptied
    bare = replace(full, accounts=empty_table("accounts"),
                   satisfaction=empty_table("satisfaction"),
                   calls=empty_table("calls"))  # fmt: skip
    assert list(core.calls.columns) == columns("calls") and core.calls.empty
    assert core.fingerprint() == bare.fingerprint() != full.fingerprint()
    assert [str(w) for w in core.warnings] == [str(w) for w in full.warnings]
    for t in CORE_TABLES:
        assert core.table(t).equals(full.table(t))


def test_sample_loads_accounts_and_satisfaction(full):
    a, s = full.accounts, full.satisfaction
    assert set(a["segment"]) == {"SMB", "Mid-market", "Enterprise"}
    assert a["account"].is_unique and set(full.opportunities["account"].dropna()) == set(
        a["account"]
    )
    assert set(a["owner"]) <= set(full.reps["rep_id"])
    assert set(s["kind"]) == {"csat", "nps"}
    assert s.loc[s["kind"] == "csat", "score"].between(1, 5).all()
    assert s.loc[s["kind"] == "nps", "score"].between(0, 10).all()
    assert (s["date"] <= full.as_of).all()
    # repeat customers: accounts with more than one won deal
    won = full.opportunities[full.opportunities["outcome"] == "won"]
    assert (won.groupby("account").size() > 1).sum() > 100


def _bad(tmp_path: Path, accounts: str | None, satisfaction: str | None) -> Path:
    folder = _core_copy(tmp_path)
    if accounts is not None:
        (folder / "accounts.csv").write_text(accounts, encoding="utf-8")
    if satisfaction is not None:
        (folder / "satisfaction.csv").write_text(satisfaction, encoding="utf-8")
    return folder


def _one_account(rep: str = "R01") -> str:
    wb = salesnb.load(SAMPLE)
    o = wb.opportunities
    return o.loc[o["rep_id"] == rep, "account"].dropna().iloc[0]


def test_bad_accounts_and_scores_are_explained_with_file_line_column_fix(tmp_path):
    acc = _one_account()
    accounts = (
        "account,segment,industry,size,country,owner\n"
        f"{acc},SMB,Retail,1-50,France,R01\n"
        f"{acc},SMB,Retail,1-50,France,R01\n"
        "Other Co,SMB,Retail,1-50,France,R99\n"
    )
    sat = (
        "account,date,score,kind\n"
        f"{acc},2026-01-05,7,CSAT\n"
        f"{acc},2026-01-06,9,NPS\n"
        f"{acc},2026-01-07,3,CES\n"
        f"{acc},2026-01-08,11,nps\n"
        ",2026-01-09,4,csat\n"
    )
    with pytest.raises(DataValidationError) as err:
        salesnb.load(_bad(tmp_path, accounts, sat))
    probs = {(Path(p.file).name, p.code, p.column, p.rows) for p in err.value.problems}
    assert ("accounts.csv", "duplicate-id", "account", (2, 3)) in probs
    assert ("satisfaction.csv", "out-of-range", "score", (2,)) in probs  # CSAT 7
    assert ("satisfaction.csv", "out-of-range", "score", (5,)) in probs  # NPS 11
    assert ("satisfaction.csv", "unknown-value", "kind", (4,)) in probs
    assert ("satisfaction.csv", "blank", "account", (6,)) in probs
    assert all(p.fix for p in err.value.problems)
    csat = next(p for p in err.value.problems if p.code == "out-of-range" and p.rows == (2,))
    assert "1-5" in csat.message and "'7'" in csat.message
    unknown = next(w for w in err.value.warnings if w.code == "unknown-rep")
    assert unknown.rows == (4,) and unknown.column == "owner" and "R99" in unknown.message


def test_a_problem_about_an_account_names_only_its_owner(tmp_path):
    acc = _one_account("R02")
    accounts = f"account,segment,owner\n{acc},SMB,\n{acc},SMB,\nNobody's Co,SMB,\n"
    with pytest.raises(DataValidationError) as err:
        salesnb.load(_bad(tmp_path, accounts, None))
    dup = next(p for p in err.value.problems if p.code == "duplicate-id")
    assert dup.reps == ("R02",)  # the rep who sold to it: no other rep's document shows it


def test_subset_keeps_only_the_reps_own_accounts(full):
    one = full.subset(["R03"])
    mine = set(full.opportunities.loc[full.opportunities["rep_id"] == "R03", "account"])
    assert set(one.accounts["account"]) == mine - {None}
    assert set(one.satisfaction["account"]) <= mine
    assert len(one.satisfaction) > 0
    # an account the rep sold to but another rep owns keeps no trace of that other rep
    acc = next(iter(mine - {None}))
    other = full.accounts.assign(owner=full.accounts["owner"].where(
        full.accounts["account"] != acc, "R04"))  # fmt: skip
    shared = replace(full, accounts=other).subset(["R03"])
    assert set(shared.accounts["owner"].dropna()) == {"R03"}
    assert shared.accounts.loc[shared.accounts["account"] == acc, "owner"].isna().all()


def test_public_profile_maps_the_accounts_file():
    if not (PUBLIC / "accounts.csv").exists():
        pytest.skip(f"the public data set is absent ({PUBLIC}, ../shared beside the repo)")
    wb = salesnb.load(PUBLIC, profile="crm_sales_opportunities")
    a = wb.accounts
    assert len(a) == 85 and a["industry"].notna().all() and a["country"].notna().all()
    assert a.loc[a["account"] == "Acme Corporation", "size"].item() == "2822"
    assert wb.satisfaction.empty


DATA = Path(__file__).resolve().parent / "data"


@pytest.mark.parametrize(
    ("profile", "export", "accounts_file", "header"),
    [
        ("salesforce", "salesforce/report1711712345678.csv", "accounts.csv",
         '"Account Name","Industry","Employees","Billing Country","Account Owner","Type"'),
        ("hubspot", "hubspot/hubspot-crm-exports-all-deals-2024-03-29.csv",
         "hubspot-crm-exports-all-companies-2024-03-29.csv",
         "Company name,Industry,Number of Employees,Country/Region,Company owner,Lifecycle Stage"),
    ],
)  # fmt: skip
def test_crm_profiles_map_an_accounts_export(tmp_path, profile, export, accounts_file, header):
    shutil.copy(DATA / export, tmp_path / Path(export).name)
    before = salesnb.load(tmp_path, profile=profile)
    assert before.accounts.empty
    owner = before.opportunities["rep_id"].iloc[0]
    (tmp_path / accounts_file).write_text(
        f"{header}\nAcme Corp,Manufacturing,250,Germany,{owner},Customer\n", encoding="utf-8"
    )
    wb = salesnb.load(tmp_path, profile=profile)
    row = wb.accounts.iloc[0]
    assert (row.account, row.industry, row["size"], row.country, row.owner) == (
        "Acme Corp", "Manufacturing", "250", "Germany", owner,
    )  # fmt: skip
    assert wb.fingerprint() != before.fingerprint()
    assert wb.opportunities.equals(before.opportunities)

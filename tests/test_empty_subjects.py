"""No documents for people without data (issue 16, item 8): the real CLI on a small team.

A team sheet lists people who own no deal and did nothing; a batch made each of them a
document ("0 open deals ... Ask which ones will close"). Now they are left out and listed
in index.html and manifest.json as "no data", unless --include-empty or --only asks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from salesnb.batch import documents as batch
from salesnb.data.io import load

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "tests" / "notebooks" / "ok.ipynb"


@pytest.fixture(scope="module")
def team(tmp_path_factory) -> Path:
    """R01, R02 own deals; R03 only logged calls; R04 and R05 have nothing at all. Managers:
    Mia (R01, R02), Sam (R03, R04), Lee (R05: nobody with data)."""
    d = tmp_path_factory.mktemp("team")
    (d / "reps.csv").write_text(
        "rep_id,name,manager,region\n"
        "R01,Ann Berg,Mia,EMEA\nR02,Bo Chen,Mia,EMEA\nR03,Cy Diaz,Sam,NA\n"
        "R04,Di Egan,Sam,NA\nR05,Ed Fox,Lee,APAC\n"
    )
    (d / "opportunities.csv").write_text(
        "opp_id,rep_id,stage,amount,created_date,close_date\n"
        "O1,R01,Closed Won,1000,2026-01-05,2026-02-10\n"
        "O2,R02,Prospecting,2500,2026-03-01,2026-10-15\n"
    )
    (d / "activities.csv").write_text("rep_id,date,type,count\nR03,2026-06-01,call,3\n")
    (d / "salesnb.toml").write_text("as_of = 2026-09-30\n")
    return d


def _cli(team: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "salesnb.cli", "batch", str(NB), "--data", str(team),
         "--out", str(out), "--no-progress", "--workers", "1", *args],
        check=False, capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def test_which_subjects_have_no_data(team):
    wb = load(team)
    assert batch.empty_subjects(wb, "rep") == {"R04", "R05"}
    assert batch.empty_subjects(wb, "manager") == {"Lee"}
    assert batch.empty_subjects(wb, "region") == {"APAC"}
    assert batch.empty_subjects(wb, "all") == set()


def test_reps_without_data_get_no_document_and_are_listed(team, tmp_path):
    out = tmp_path / "out"
    res = _cli(team, out)
    assert res.returncode == 0, res.stderr
    m = _manifest(out)
    assert [s["key"] for s in m["subjects"]] == ["R01", "R02", "R03"]
    assert m["no_data"] == [{"key": "R04", "name": "Di Egan"}, {"key": "R05", "name": "Ed Fox"}]
    assert m["summary"]["no_data"] == 2 and m["summary"]["total"] == 3
    assert "3 ok, 0 failed of 3; 2 without data, no document" in res.stdout
    assert not list(out.glob("r04*")) and not list(out.glob("r05*"))
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "No data (2)" in index and "2 no data" in index
    assert "<td>Di Egan</td><td>R04</td>" in index and "--include-empty" in index


def test_a_manager_with_only_empty_reps_is_no_data(team, tmp_path):
    out = tmp_path / "out"
    res = _cli(team, out, "--by", "manager")
    assert res.returncode == 0, res.stderr
    m = _manifest(out)
    assert [s["key"] for s in m["subjects"]] == ["Mia", "Sam"]  # Sam has R03's calls
    assert [s["key"] for s in m["no_data"]] == ["Lee"]


def test_include_empty_makes_them_anyway(team, tmp_path):
    out = tmp_path / "out"
    res = _cli(team, out, "--by", "manager", "--include-empty")
    assert res.returncode == 0, res.stderr
    m = _manifest(out)
    assert [s["key"] for s in m["subjects"]] == ["Lee", "Mia", "Sam"]
    assert m["no_data"] == [] and m["summary"]["no_data"] == 0
    assert "without data" not in res.stdout
    assert "No data (" not in (out / "index.html").read_text(encoding="utf-8")


def test_only_naming_an_empty_rep_still_makes_it(team, tmp_path):
    out = tmp_path / "out"
    res = _cli(team, out, "--only", "R04,Ann Berg")
    assert res.returncode == 0, res.stderr
    m = _manifest(out)
    assert {s["key"]: s["status"] for s in m["subjects"]} == {"R01": "ok", "R04": "ok"}
    assert m["no_data"] == []
    assert (out / m["subjects"][1]["outputs"]["html"]["path"]).is_file()

"""Built-in and user import profiles, end to end on fixture exports and the public data set."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesnb.core.errors import DataValidationError, ProfileError
from salesnb.data.config import load_config
from salesnb.data.io import load
from salesnb.data.profiles import TableSpec, derive_targets, list_profiles, load_profile

DATA = Path(__file__).parent / "data"
SF = DATA / "salesforce" / "report1711712345678.csv"
HS = DATA / "hubspot"
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
CRM = SHARED / "data" / "crm_sales_opportunities"


def codes(wb) -> dict[str, str]:
    return {w.code: str(w) for w in wb.warnings}


def test_builtin_profiles():
    assert list_profiles() == ["canonical", "crm_sales_opportunities", "hubspot", "salesforce"]
    for name in list_profiles():
        assert load_profile(name).name == name


def test_unknown_profile_suggests_closest():
    with pytest.raises(ProfileError, match="Did you mean 'salesforce'"):
        load_profile("salesforce_x")


def test_profile_with_unknown_key_or_column(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[opportunities]\nfile = ["x.csv"]\n')
    with pytest.raises(ProfileError, match="Did you mean 'files'"):
        load_profile(bad)
    bad.write_text('[opportunities.columns]\n"Deal" = "oppid"\n')
    with pytest.raises(ProfileError, match="Did you mean 'opp_id'"):
        load_profile(bad)


def test_salesforce_export_end_to_end():
    wb = load(SF, profile="salesforce")
    o = wb.opportunities.set_index("opp_id")
    assert len(o) == 12 and wb.reps["rep_id"].tolist() == [
        "José Nuñez-García", "Marcus Lee", "Priya Raman", "Zoë O'Brien",
    ]  # fmt: skip
    # "$45,250.50" -> 45250.5; "2/1/2024" (US, month first) -> 1 February.
    assert o.loc["006A000003", "amount"] == 45250.5
    assert o.loc["006A000004", "created_date"] == pd.Timestamp("2024-02-01")
    assert o.loc["006A000003", "forecast_category"] == "commit"
    assert o.loc["006A000004", "forecast_category"] == "best_case"
    assert pd.isna(o.loc["006A000001", "forecast_category"])  # "Closed" -> blank
    assert o.loc["006A000001", "outcome"] == "won" and o.loc["006A000012", "outcome"] == "lost"
    assert wb.config.stages.probability_of()["Proposal/Price Quote"] == 0.75
    # The blank Amount (line 7) becomes 0 with a warning naming the line.
    w = next(x for x in wb.warnings if x.code == "filled")
    assert w.rows == (7,) and w.column == "Amount" and o.loc["006A000006", "amount"] == 0.0
    assert {"derived-reps", "derived-targets"} <= set(codes(wb))
    # Won bookings: Zoë Jan 12,500; Priya Mar 27,000; Marcus Feb 15,750. First month Jan uses
    # the mean of Jan-Mar; Zoë: 12500/3 x 1.1 = 4583.33 -> 4583.
    t = wb.targets.set_index(["rep_id", "month"])["amount"]
    assert t[("Zoë O'Brien", pd.Timestamp("2024-01-01"))] == 4583.0
    # Feb: trailing mean of Jan only = 12500 x 1.1 = 13750.
    assert t[("Zoë O'Brien", pd.Timestamp("2024-02-01"))] == 13750.0


def test_salesforce_without_id_column_makes_ids_from_lines(tmp_path):
    df = pd.read_csv(SF, dtype=str, encoding="utf-8-sig").drop(columns=["Opportunity ID"])
    df.to_csv(tmp_path / "report.csv", index=False)
    wb = load(tmp_path / "report.csv", profile="salesforce")
    assert wb.opportunities["opp_id"].tolist()[:2] == ["report.csv:2", "report.csv:3"]
    assert "generated-id" in codes(wb)


def test_salesforce_day_first_dates_are_explained(tmp_path):
    text = SF.read_text("utf-8-sig").replace('"3/29/2024"', '"29/3/2024"')
    (tmp_path / "report.csv").write_text(text)
    with pytest.raises(DataValidationError) as info:
        load(tmp_path / "report.csv", profile="salesforce")
    (p,) = info.value.problems
    assert p.code == "dayfirst-date" and p.column == "Close Date" and p.rows == (6,)
    assert "date_formats" in p.fix


def test_hubspot_export_end_to_end():
    wb = load(HS, profile="hubspot")
    o = wb.opportunities.set_index("opp_id")
    assert len(o) == 10
    # "2024-01-31 17:00" -> midnight of that day; "closedlost" (an internal id) -> Closed Lost.
    assert o.loc["18234567001", "close_date"] == pd.Timestamp("2024-01-31")
    assert o.loc["18234567010", "stage"] == "Closed Lost"
    assert o.loc["18234567003", "amount"] == 18500.5
    assert o.loc["18234567001", "account"] == "Acme Corp"
    assert o.loc["18234567001", "furthest_stage"] == "Contract Sent"
    assert wb.as_of == pd.Timestamp("2024-03-28")  # latest create date (closes end 03-22)


def test_hubspot_with_a_reps_file_beside_it(tmp_path):
    shutil.copytree(HS, tmp_path, dirs_exist_ok=True)
    (tmp_path / "reps.csv").write_text(
        "rep_id,name,manager,region\n"
        "Zoë O'Brien,Zoë O'Brien,Ana,East\nJosé Nuñez-García,José Nuñez-García,Ana,East\n"
        "Priya Raman,Priya Raman,Tom,West\nMarcus Lee,Marcus Lee,Tom,West\n"
    )
    wb = load(tmp_path, profile="hubspot")
    assert set(wb.reps["region"]) == {"East", "West"} and "derived-reps" not in codes(wb)


def test_user_profile_dayfirst_semicolon_corrections(tmp_path):
    (tmp_path / "deals.csv").write_text(
        "Nr;Verkäufer;Phase;Wert;Erstellt;Abschluss;Produkt\n"
        "1;Anna;Gewonnen;1.250,50;03.01.2024;25.02.2024;Pro-X\n"
        "2;Ben;Offen;800;10.02.2024;;ProX\n",
        encoding="latin-1",
    )
    prof = tmp_path / "de.toml"
    prof.write_text(
        """
[read]
dayfirst = true
date_formats = ["%d.%m.%Y"]
[[stages]]
name = "Offen"
kind = "open"
probability = 0.4
[[stages]]
name = "Gewonnen"
kind = "won"
probability = 1.0
[[stages]]
name = "Verloren"
kind = "lost"
probability = 0.0
[opportunities]
files = ["deals.csv"]
columns = { Nr = "opp_id", "Verkäufer" = "rep_id", Phase = "stage", Wert = "amount", Erstellt = "created_date", Abschluss = "close_date", Produkt = "product" }
corrections = { product = { ProX = "Pro-X" } }
[reps]
derive = "owners"
defaults = { manager = "Chef", region = "DACH" }
""",
        encoding="utf-8",
    )
    wb = load(tmp_path, profile=prof)
    o = wb.opportunities
    assert o["amount"].tolist() == [1250.5, 800.0]  # "1.250,50" with decimal commas
    assert o["close_date"].tolist()[0] == pd.Timestamp("2024-02-25")
    assert o["product"].tolist() == ["Pro-X", "Pro-X"]
    assert o["outcome"].tolist() == ["won", "open"]
    assert wb.reps["region"].tolist() == ["DACH", "DACH"]
    assert {"encoding", "corrected-value", "derived-reps"} <= set(codes(wb))


def test_derive_targets_hand_computed():
    # Rep a wins 100 in Jan and 300 in Mar; window 2, growth 10 %, as-of 2026-03-31.
    o = pd.DataFrame({
        "rep_id": ["a", "a", "b"], "outcome": ["won", "won", "lost"],
        "amount": [100.0, 300.0, 50.0],
        "close_date": pd.to_datetime(["2026-01-10", "2026-03-05", "2026-02-01"]),
    })  # fmt: skip
    problems: list = []
    t = derive_targets(o, pd.DataFrame({"rep_id": ["a", "b"]}),
                       TableSpec(growth=0.1, window_months=2), load_config(),
                       pd.Timestamp("2026-03-31"), problems)  # fmt: skip
    got = dict(zip(t["month"].dt.strftime("%Y-%m"), t["amount"], strict=True))
    assert got["2026-01"] == 55.0  # first month: mean(Jan 100, Feb 0) = 50 x 1.1
    assert got["2026-02"] == 110.0  # mean(Jan) = 100 x 1.1
    assert got["2026-03"] == 55.0  # mean(Jan 100, Feb 0) = 50 x 1.1
    assert got["2026-04"] == 165.0  # after as-of: mean(Feb 0, Mar 300) = 150 x 1.1
    assert len(got) == 12 and set(t["rep_id"]) == {"a"}  # Jan-Dec; b has no win
    assert "'b'" in str(problems[0])


@pytest.mark.shared
def test_public_data_set():
    if not CRM.is_dir():
        pytest.skip(f"public data set not found at {CRM} (../shared is absent)")
    wb = load(CRM, profile="crm_sales_opportunities")
    o = wb.opportunities
    assert len(o) == 8800 and len(wb.reps) == 35
    assert wb.as_of == pd.Timestamp("2017-12-31")
    assert o["outcome"].value_counts().to_dict() == {"won": 4238, "lost": 2473, "open": 2089}
    assert "GTXPro" not in set(o["product"]) and o["amount"].notna().all()
    assert o["created_date"].notna().all() and o["close_date"].notna().all()
    w = codes(wb)
    assert "1,480 rows" in w["corrected-value"] and "1,425 rows" in w["blank-kept"]
    assert "5 reps" in w["rep-without-data"] and "derived-targets" in w
    filled = [x for x in wb.warnings if x.code == "filled"]
    assert len(filled) == 4 and all(x.file.endswith("sales_pipeline.csv") for x in filled)
    assert wb.targets["rep_id"].nunique() == 30


# --------------------------------------------------------------------------- hardening round 2:
# profiles checked against profile_schema.toml; a profile that names no files

GOOD = Path(__file__).parent / "bad_inputs" / "_good"


def test_profile_without_files_is_refused_naming_the_file_and_the_fix(tmp_path):
    profile = tmp_path / "mine.toml"
    profile.write_text('name = "mine"\n\n[opportunities.columns]\n"Deal" = "opp_id"\n')
    with pytest.raises(ProfileError) as info:
        load(GOOD, profile=profile)
    text = str(info.value)
    assert text.startswith(
        f"The profile {str(profile)!r} names no files for [opportunities] and [reps], so "
        "loading a folder with it would read no opportunities and no reps."
    )
    assert (
        'add files = ["opportunities.csv"] under [opportunities]; files = ["reps.csv"] under [reps]'
        in text
    )
    assert 'derive = "owners" under [reps]' in text
    # with files (and reps derived from the owners) the same folder loads
    profile.write_text(
        'name = "mine"\n[opportunities]\nfiles = ["opportunities.csv"]\n'
        '[reps]\nderive = "owners"\n[targets]\nfiles = ["targets.csv"]\n'
        'read = { date_formats = ["%Y-%m"] }\n'
    )
    wb = load(GOOD, profile=profile)
    assert len(wb.opportunities) == 5 and sorted(wb.reps["rep_id"]) == ["r1", "r2", "r3"]


def test_profile_keys_are_checked_all_at_once_with_lines(tmp_path):
    profile = tmp_path / "mine.toml"
    profile.write_text(
        'name = "mine"\n'  # 1
        "[read]\n"  # 2
        'dayfirst = "yes"\n'  # 3
        'encoding = "utf8x"\n'  # 4
        "[opportunities]\n"  # 5
        "files = 42\n"  # 6
        'colums = { "Deal" = "opp_id" }\n'  # 7
        "[[opportunities.fill]]\n"  # 8
        'column = "close_date"\n'  # 9
        'when = "empty"\n'  # 10
        'rule = "as_of"\n'  # 11
    )
    with pytest.raises(ProfileError) as info:
        load_profile(profile)
    lines = str(info.value).splitlines()
    assert lines[0] == f"5 problems in {profile}:"
    assert [line.split(": ", 1)[0] for line in lines[1:]] == [
        f"  - {profile}, line {n}, column 1" for n in (3, 4, 6, 7, 10)
    ]
    text = str(info.value)
    assert 'dayfirst = "yes" in [read] is text, not true or false.' in text
    assert "Fix: write it as true or false, e.g. dayfirst = true." in text
    assert (
        "encoding = \"utf8x\" in [read] is not a known text encoding. Did you mean 'utf-8'?" in text
    )
    assert (
        "files = 42 in [opportunities] is a whole number, not text in quotes or a list of texts."
        in text
    )
    assert "Unknown key 'colums' in [opportunities]. Did you mean 'columns'?" in text
    assert (
        "when = \"empty\" in [[opportunities.fill]] entry 1 ('close_date') is not allowed." in text
    )
    assert "Fix: use one of 'blank', 'zero', 'blank_or_zero'." in text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[stage_map]\nWon = 1\n", "line 2, column 1: Won = 1 in [stage_map] is a whole number, not text in quotes."),
        ("[targets]\nwindow_months = 0\n", "line 2, column 1: window_months = 0 in [targets] is out of range."),
        ("[opportunities]\nsheet = 1.5\n", "line 2, column 1: sheet = 1.5 in [opportunities] is a number"),
        ("[read]\nsep = \";;\"\n", 'line 2, column 1: sep = ";;" in [read] is not valid.'),
        ("[[stages]]\nname = \"A\"\nprobability = 1.5\n", "line 3, column 1: probability = 1.5 in [[stages]] entry 1 ('A') is out of range."),
    ],
)  # fmt: skip
def test_profile_value_problems(tmp_path, body, expected):
    profile = tmp_path / "p.toml"
    profile.write_text(body)
    with pytest.raises(ProfileError) as info:
        load_profile(profile)
    assert f"{profile}, {expected}" in str(info.value)
    assert "Traceback" not in str(info.value)


def test_database_profile_keys_are_accepted(tmp_path):
    profile = tmp_path / "db.toml"
    profile.write_text('[opportunities]\nsql_table = "deals"\n[reps]\nquery = "SELECT 1"\n')
    assert load_profile(profile).name == "db"


# --------------------------------------------------------------------------- bands (issue 22)
def _segment_by_hand(employees: float) -> str:
    """The public profile's documented bands (docs/profiles.md): SMB under 200 employees,
    Mid-market 200-999, Enterprise 1,000 or more."""
    return "SMB" if employees < 200 else "Mid-market" if employees < 1000 else "Enterprise"


@pytest.mark.shared
def test_public_data_set_segment_from_employees_by_hand():
    if not CRM.is_dir():
        pytest.skip(f"public data set not found at {CRM} (../shared is absent)")
    wb = load(CRM, profile="crm_sales_opportunities")
    raw = pd.read_csv(CRM / "accounts.csv")
    want = {a: _segment_by_hand(e) for a, e in zip(raw["account"], raw["employees"], strict=True)}
    got = dict(zip(wb.accounts["account"], wb.accounts["segment"], strict=True))
    assert got == want
    assert set(got.values()) == {"SMB", "Mid-market", "Enterprise"}  # every band is used
    assert not [w for w in wb.warnings if w.code.startswith("bands")]


def _bands_profile(tmp_path, bands: str) -> Path:
    (tmp_path / "p.toml").write_text(
        'name = "p"\n[reps]\nfiles = ["reps.csv"]\n[opportunities]\nfiles = ["opportunities.csv"]\n'
        '[targets]\nfiles = ["targets.csv"]\nread = { date_formats = ["%Y-%m-%d", "%Y-%m"] }\n'
        '[accounts]\nfiles = ["accounts.csv"]\n' + bands, encoding="utf-8")  # fmt: skip
    return tmp_path / "p.toml"


BANDS = ('[accounts.bands.segment]\nfrom = "employees"\nbelow = [200, 1000]\n'
         'values = ["SMB", "Mid-market", "Enterprise"]\n')  # fmt: skip


def test_bands_derive_a_column_the_file_wins_and_bad_numbers_are_reported(tmp_path):
    src = Path(__file__).parent / "bad_inputs" / "_good"
    for f in src.iterdir():
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "accounts.csv").write_text(
        "account,employees,segment\nA,199,\nB,200,\nC,\"1,000\",\nD,12,Enterprise\nE,many,\nF,,\n",
        encoding="utf-8")  # fmt: skip
    wb = load(tmp_path, profile=_bands_profile(tmp_path, BANDS))
    seg = dict(zip(wb.accounts["account"], wb.accounts["segment"].astype(object), strict=True))
    assert seg["A"] == "SMB" and seg["B"] == "Mid-market" and seg["C"] == "Enterprise"
    assert seg["D"] == "Enterprise"  # the file's own segment wins
    assert pd.isna(seg["E"]) and pd.isna(seg["F"])  # not a number / blank: left blank
    (w,) = [x for x in wb.warnings if x.code == "bands-not-a-number"]
    assert w.rows == (6,) and w.column == "employees" and "'many'" in w.message
    assert "SMB under 200, Mid-market 200 to under 1,000, Enterprise 1,000 or more" in w.message


@pytest.mark.parametrize(("bands", "needle"), [
    (BANDS.replace("[200, 1000]", "[1000, 200]"), "not a list of ascending numbers"),
    (BANDS.replace('"SMB", ', ""), "must be 3 labels"),
    (BANDS.replace("bands.segment", "bands.account_size"), "not a text column of accounts"),
])  # fmt: skip
def test_bands_that_could_never_work_are_refused_when_the_profile_loads(tmp_path, bands, needle):
    with pytest.raises(ProfileError, match=needle):
        load_profile(_bands_profile(tmp_path, bands))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 100_000), min_size=1, max_size=5, unique=True).map(sorted),
       st.lists(st.integers(-10, 200_000), max_size=30))  # fmt: skip
def test_band_of_puts_every_number_between_its_limits(limits, numbers):
    from salesnb.data.bands import Bands, band_of

    labels = tuple(f"L{i}" for i in range(len(limits) + 1))
    got = band_of(pd.Series(numbers, dtype=float), Bands("n", tuple(map(float, limits)), labels))
    lows = [-np.inf, *limits]
    highs = [*limits, np.inf]
    for x, label in zip(numbers, got, strict=True):
        i = labels.index(label)
        assert lows[i] <= x < highs[i]

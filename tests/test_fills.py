"""Profile fills on real-export shapes (issue 16, items 2-4): every documented fill works on
every table or the profile is refused; a filled stage derives the outcome; lookups accept
the export's own key column and refuse (or aggregate) several rows per key.

The fixtures are small hand-made copies of the exports the issue was found on: German stage
labels, numeric owner ids, a team sheet without managers, an orders export mapped as won
deals with its order lines in a second file (several lines per order) and timestamps.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from salesnb.core.errors import DataValidationError, ProfileError
from salesnb.data.io import load

STAGES = """
[[stages]]
name = "Qualifizierung"
kind = "open"
probability = 0.2
[[stages]]
name = "Angebot"
kind = "open"
probability = 0.6
[[stages]]
name = "Gewonnen"
kind = "won"
probability = 1.0
[[stages]]
name = "Verloren"
kind = "lost"
probability = 0.0
"""

DEALS = (
    "opp_id,rep_id,account,stage,amount,created_date,close_date\n"
    "1,101,Müller GmbH,Gewonnen,1000,2024-01-05,2024-02-01\n"
    "2,102,Schmidt AG,Angebot,500,2024-02-01,2024-04-01\n"
    "3,101,Weber KG,Verloren,700,2024-01-10,2024-02-20\n"
)
#: A team sheet without managers (numeric rep ids, as the CRM's user ids).
TEAM = "rep_id,name,region\n101,Anna Berg,Süd\n102,Ben Kraus,Nord\n"
MANAGED = "rep_id,name,manager,region\n101,Anna Berg,Eva Roth,Süd\n102,Ben Kraus,Eva Roth,Nord\n"


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def profile(folder: Path, text: str) -> Path:
    path = folder / "profile.toml"
    path.write_text(STAGES + text, encoding="utf-8")
    return path


def codes(wb) -> list[str]:
    return [w.code for w in wb.warnings]


# --------------------------------------------------------------------------- item 2


def test_reps_fill_fills_a_team_sheet_without_managers(tmp_path):
    write(tmp_path, {"opportunities.csv": DEALS, "reps.csv": TEAM})
    prof = profile(
        tmp_path,
        """
[opportunities]
files = ["opportunities.csv"]
[reps]
files = ["reps.csv"]
[[reps.fill]]
column = "manager"
value = "Vertriebsleitung"
reason = "the team sheet names no managers"
""",
    )
    wb = load(tmp_path, profile=prof)
    assert wb.reps["manager"].tolist() == ["Vertriebsleitung", "Vertriebsleitung"]
    filled = [w for w in wb.warnings if w.code == "filled"]
    assert len(filled) == 1 and filled[0].rows == (2, 3)
    assert "manager was blank; filled with 'Vertriebsleitung'" in str(filled[0])
    assert "the team sheet names no managers" in str(filled[0])


def test_reps_defaults_fill_a_reps_file_and_null_is_blank(tmp_path):
    # "NULL" (a database export's empty value) is blank: the default fills it; a real
    # manager is kept.
    team = "rep_id,name,manager,region\n101,Anna Berg,NULL,Süd\n102,Ben Kraus,Eva Roth,Nord\n"
    write(tmp_path, {"opportunities.csv": DEALS, "reps.csv": team})
    prof = profile(
        tmp_path,
        """
[opportunities]
files = ["opportunities.csv"]
[reps]
files = ["reps.csv"]
derive = "owners"
defaults = { manager = "(ohne Leitung)" }
""",
    )
    wb = load(tmp_path, profile=prof)
    assert wb.reps["manager"].tolist() == ["(ohne Leitung)", "Eva Roth"]
    (filled,) = [w for w in wb.warnings if w.code == "filled"]
    assert filled.rows == (2,) and filled.column == "manager"


def test_null_manager_without_a_fill_is_reported_as_the_word(tmp_path):
    team = "rep_id,name,manager,region\n101,Anna Berg,NULL,Süd\n102,Ben Kraus,Eva Roth,Nord\n"
    write(tmp_path, {"opportunities.csv": DEALS, "reps.csv": team})
    prof = profile(
        tmp_path, '[opportunities]\nfiles = ["opportunities.csv"]\n[reps]\nfiles = ["reps.csv"]\n'
    )
    with pytest.raises(DataValidationError) as exc:
        load(tmp_path, profile=prof)
    (p,) = exc.value.problems
    assert (p.code, p.rows, p.column) == ("nan-value", (2,), "manager")
    assert "the value is 'NULL'" in p.message


def test_blank_values_are_configurable(tmp_path):
    # A team whose manager is really called "-"? blank_values = [] keeps every text.
    team = "rep_id,name,manager,region\n101,Anna Berg,-,Süd\n102,Ben Kraus,N/A,Nord\n"
    write(tmp_path, {"opportunities.csv": DEALS, "reps.csv": team})
    prof = profile(
        tmp_path,
        '[read]\nblank_values = ["N/A"]\n[opportunities]\nfiles = ["opportunities.csv"]\n'
        '[reps]\nfiles = ["reps.csv"]\n[[reps.fill]]\ncolumn = "manager"\nvalue = "Chef"\n',
    )
    wb = load(tmp_path, profile=prof)
    assert wb.reps["manager"].tolist() == ["-", "Chef"]


def test_activities_fill(tmp_path):
    acts = "rep_id,date,type,count\n101,2024-01-08,call,\n102,2024-01-08,email,4\n"
    write(tmp_path, {"opportunities.csv": DEALS, "reps.csv": MANAGED, "activities.csv": acts})
    prof = profile(
        tmp_path,
        """
[opportunities]
files = ["opportunities.csv"]
[reps]
files = ["reps.csv"]
[activities]
files = ["activities.csv"]
[[activities.fill]]
column = "count"
value = 1
reason = "a logged activity without a count is one"
""",
    )
    wb = load(tmp_path, profile=prof)
    assert wb.activities["count"].tolist() == [1, 4]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            '[reps]\n[[reps.fill]]\ncolumn = "manager"\nvalue = "X"\nstages = ["Angebot"]\n',
            "sets stages = ['Angebot'], but reps has no stage",
        ),
        (
            '[targets]\n[[targets.fill]]\ncolumn = "month"\nrule = "expected_close"\n',
            "rule = 'expected_close'",
        ),
        ('[reps]\n[[reps.fill]]\ncolumn = "manager"\nrule = "as_of"\n', "manager is not a date"),
        (
            '[reps]\n[[reps.fill]]\ncolumn = "manager"\nvalue = "X"\nwhen = "zero"\n',
            "when = 'zero'",
        ),
        (
            (
                '[opportunities]\n[[opportunities.fill]]\ncolumn = "stage"\nvalue = "Gewonnen"\n'
                'stages = ["Angebot"]\n'
            ),
            "sets 'stages'",
        ),
        ('[opportunities]\ndefaults = { amount = "1" }\n', "only [reps] has defaults"),
        (
            '[opportunities]\n[[opportunities.fill]]\ncolumn = "close_date"\nvalue = "bald"\n',
            "value = 'bald'",
        ),
        (
            '[opportunities]\n[[opportunities.fill]]\ncolumn = "outcome"\nvalue = "gewonnen"\n',
            "one of ['open', 'won', 'lost']",
        ),
        (
            (
                '[opportunities]\n[[opportunities.fill]]\ncolumn = "product"\n'
                'lookup = { file = "p.csv", key = "a", value = "b", aggregate = "sum" }\n'
            ),
            "aggregate = 'sum', but product is not a number",
        ),
        (
            (
                '[opportunities]\n[[opportunities.fill]]\ncolumn = "amount"\n'
                'lookup = { file = "p.csv", key = "a", value = "b", aggregate = "mean" }\n'
            ),
            'aggregate = "mean"',
        ),
    ],
    ids=[
        "stages-on-reps",
        "expected-close-on-targets",
        "rule-on-text",
        "zero-on-text",
        "stages-on-stage",
        "defaults-on-deals",
        "bad-date-value",
        "bad-choice",
        "sum-of-text",
        "unknown-aggregate",
    ],
)
def test_fills_that_cannot_apply_are_refused(tmp_path, text, needle):
    write(tmp_path, {"opportunities.csv": DEALS, "reps.csv": TEAM})
    prof = profile(tmp_path, text)
    with pytest.raises(ProfileError) as exc:
        load(tmp_path, profile=prof)
    assert needle in str(exc.value) and "Fix: " in str(exc.value)


# --------------------------------------------------------------------------- items 3 and 4

#: An orders export mapped as won deals: no stage, no amount; timestamps; numeric sellers.
ORDERS = (
    "OrderID,EmployeeID,CustomerID,OrderDate,ShippedDate\n"
    "10248,5,VINET,1996-07-04 00:00:00.000,1996-07-16 00:00:00.000\n"
    "10249,6,TOMSP,1996-07-05 00:00:00.000,1996-07-10 00:00:00.000\n"
    "10250,5,HANAR,1996-07-08 00:00:00.000,1996-07-12 00:00:00.000\n"
)
#: Order lines: several per order.
LINES = (
    "OrderID,ProductID,LineTotal\n"
    "10248,11,168.00\n10248,42,98.00\n10248,72,174.00\n"
    "10249,14,167.40\n10249,51,1696.00\n"
    "10250,41,77.00\n"
)
SELLERS = "rep_id,name,manager,region\n5,Steven Buchanan,Andrew Fuller,UK\n6,Michael Suyama,Andrew Fuller,UK\n"


def orders_profile(folder: Path, lookup: str) -> Path:
    return profile(
        folder,
        f"""
[opportunities]
files = ["orders.csv"]
[opportunities.columns]
OrderID = "opp_id"
EmployeeID = "rep_id"
CustomerID = "account"
OrderDate = "created_date"
ShippedDate = "close_date"
[[opportunities.fill]]
column = "stage"
value = "Gewonnen"
reason = "every order is a won deal"
[[opportunities.fill]]
column = "amount"
lookup = {lookup}
reason = "the order's value is the sum of its lines"
[reps]
files = ["sellers.csv"]
""",
    )


def test_a_filled_won_stage_makes_won_deals_with_lookup_sums(tmp_path):
    write(tmp_path, {"orders.csv": ORDERS, "order_details.csv": LINES, "sellers.csv": SELLERS})
    # key = the lookup file's (and the export's) own column name, not the canonical opp_id
    prof = orders_profile(
        tmp_path,
        '{ file = "order_details.csv", key = "OrderID", value = "LineTotal", aggregate = "sum" }',
    )
    wb = load(tmp_path, profile=prof)
    o = wb.opportunities
    assert o["outcome"].tolist() == ["won", "won", "won"]
    assert o["stage"].tolist() == ["Gewonnen"] * 3
    assert o["furthest_stage"].tolist() == ["Angebot"] * 3  # a won deal passed every open stage
    # 168 + 98 + 174 = 440; 167.40 + 1696 = 1863.40; 77
    assert o["amount"].tolist() == pytest.approx([440.0, 1863.4, 77.0])
    assert o["created_date"].tolist() == list(
        pd.to_datetime(["1996-07-04", "1996-07-05", "1996-07-08"])
    )
    booked = o.loc[o["outcome"] == "won", "amount"].sum()
    assert booked == pytest.approx(2380.4)
    assert codes(wb).count("filled") == 2


def test_lookup_keyed_by_the_canonical_name_finds_the_exports_column(tmp_path):
    write(tmp_path, {"orders.csv": ORDERS, "order_details.csv": LINES, "sellers.csv": SELLERS})
    prof = orders_profile(
        tmp_path,
        '{ file = "order_details.csv", key = "opp_id", value = "LineTotal", aggregate = "last" }',
    )
    wb = load(tmp_path, profile=prof)
    assert wb.opportunities["amount"].tolist() == pytest.approx([174.0, 1696.0, 77.0])


def test_lookup_first_row(tmp_path):
    write(tmp_path, {"orders.csv": ORDERS, "order_details.csv": LINES, "sellers.csv": SELLERS})
    prof = orders_profile(
        tmp_path,
        '{ file = "order_details.csv", key = "OrderID", value = "LineTotal", aggregate = "first" }',
    )
    wb = load(tmp_path, profile=prof)
    assert wb.opportunities["amount"].tolist() == pytest.approx([168.0, 167.4, 77.0])


def test_lookup_with_several_rows_per_key_is_refused_with_the_lines(tmp_path):
    write(tmp_path, {"orders.csv": ORDERS, "order_details.csv": LINES, "sellers.csv": SELLERS})
    prof = orders_profile(
        tmp_path, '{ file = "order_details.csv", key = "OrderID", value = "LineTotal" }'
    )
    with pytest.raises(DataValidationError) as exc:
        load(tmp_path, profile=prof)
    (p,) = exc.value.problems  # one message, not one more per deal left without an amount
    assert p.code == "duplicate-lookup-key"
    assert Path(p.file).name == "order_details.csv"
    assert p.rows == (2, 3, 4, 5, 6) and p.column == "OrderID"
    assert "2 keys, e.g. '10248', '10249'" in p.message
    assert 'aggregate = "sum"' in p.fix


def test_lookup_key_that_is_nowhere_is_a_profile_error(tmp_path):
    write(tmp_path, {"orders.csv": ORDERS, "order_details.csv": LINES, "sellers.csv": SELLERS})
    prof = orders_profile(
        tmp_path, '{ file = "order_details.csv", key = "Bestellnr", value = "LineTotal" }'
    )
    with pytest.raises(ProfileError, match="no column 'Bestellnr'"):
        load(tmp_path, profile=prof)


def test_a_filled_stage_goes_through_the_stage_map(tmp_path):
    # A fill written with the export's label (mapped by [stage_map]) is a read stage too.
    deals = "opp_id,rep_id,amount,created_date,close_date\n1,101,10,2024-01-05,2024-02-01\n"
    write(tmp_path, {"opportunities.csv": deals, "reps.csv": TEAM})
    prof = profile(
        tmp_path,
        """
[stage_map]
"Closed Won" = "Gewonnen"
[opportunities]
files = ["opportunities.csv"]
[[opportunities.fill]]
column = "stage"
value = "Closed Won"
[reps]
derive = "owners"
""",
    )
    wb = load(tmp_path, profile=prof)
    assert wb.opportunities[["stage", "outcome"]].values.tolist() == [["Gewonnen", "won"]]


def test_reps_fill_looks_up_managers_of_derived_reps(tmp_path):
    # No reps file: reps come from the deal owners, their managers from a team sheet
    # (keyed by the CRM's numeric user id); an owner not on it keeps the default.
    team = "User ID,Vorgesetzter\n101,Eva Roth\n"
    write(tmp_path, {"opportunities.csv": DEALS, "team.csv": team})
    prof = profile(
        tmp_path,
        """
[opportunities]
files = ["opportunities.csv"]
[reps]
derive = "owners"
defaults = { region = "DACH" }
[[reps.fill]]
column = "manager"
lookup = { file = "team.csv", key = "rep_id", value = "Vorgesetzter" }
reason = "managers are kept in the team sheet"
""",
    )
    with pytest.raises(ProfileError, match="no column 'rep_id'"):
        load(tmp_path, profile=prof)
    prof.write_text(prof.read_text("utf-8").replace('key = "rep_id"', 'key = "User ID"'), "utf-8")
    with pytest.raises(ProfileError, match="lookup key 'User ID'"):
        load(tmp_path, profile=prof)
    # Saying which column of the team sheet is the rep id makes either name work.
    text = prof.read_text("utf-8").replace(
        'derive = "owners"', 'derive = "owners"\ncolumns = { "User ID" = "rep_id" }'
    )
    prof.write_text(text, "utf-8")
    wb = load(tmp_path, profile=prof)
    prof.write_text(text.replace('key = "User ID"', 'key = "rep_id"'), "utf-8")
    assert load(tmp_path, profile=prof).reps.equals(wb.reps)
    assert wb.reps[["rep_id", "manager", "region"]].values.tolist() == [
        ["101", "Eva Roth", "DACH"],
        ["102", "(unassigned)", "DACH"],
    ]
    (filled,) = [w for w in wb.warnings if w.code == "filled"]
    assert "(1 derived reps)" in filled.message and "managers are kept" in filled.message


def test_fills_on_targets_snapshots_and_a_reps_lookup(tmp_path):
    targets = "rep_id,region,month,amount\n101,,2024-01-01,\n102,,2024-01-01,9000\n"
    snaps = (
        "as_of,opp_id,rep_id,stage,amount,close_date\n"
        "2024-03-01,2,102,Angebot,,2024-04-01\n"  # blank amount in an open stage: filled
        "2024-03-01,1,101,Gewonnen,,2024-02-01\n"  # not in the fill's stages: stays blank
    )
    managers = "rep_id,Leitung\n101,Eva Roth\n102,Jan Vogel\n"
    files = {"opportunities.csv": DEALS, "reps.csv": TEAM, "targets.csv": targets}
    write(tmp_path, {**files, "snapshots.csv": snaps, "leitung.csv": managers})
    prof = profile(
        tmp_path,
        """
[opportunities]
files = ["opportunities.csv"]
[reps]
files = ["reps.csv"]
[[reps.fill]]
column = "manager"
lookup = { file = "leitung.csv", key = "rep_id", value = "Leitung" }
[targets]
files = ["targets.csv"]
[[targets.fill]]
column = "amount"
value = 5000
reason = "the default quota"
[snapshots]
files = ["snapshots.csv"]
[[snapshots.fill]]
column = "amount"
stages = ["Angebot"]
value = 500
""",
    )
    with pytest.raises(DataValidationError) as exc:
        load(tmp_path, profile=prof)
    (p,) = exc.value.problems  # the won snapshot's amount is outside the fill's stages
    assert (Path(p.file).name, p.rows, p.column) == ("snapshots.csv", (3,), "amount")
    filled = {
        (Path(w.file).name, w.column, w.rows) for w in exc.value.warnings if w.code == "filled"
    }
    assert filled == {
        ("reps.csv", "manager", (2, 3)),
        ("targets.csv", "amount", (2,)),
        ("snapshots.csv", "amount", (2,)),
    }
    snaps = snaps.replace(",Gewonnen,,", ",Gewonnen,1000,")
    write(tmp_path, {"snapshots.csv": snaps})
    wb = load(tmp_path, profile=prof)
    assert wb.reps["manager"].tolist() == ["Eva Roth", "Jan Vogel"]
    assert wb.targets["amount"].tolist() == [5000.0, 9000.0]
    assert wb.snapshots["amount"].tolist() == [500.0, 1000.0]

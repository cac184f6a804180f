"""Every bad-input case gets a specific problem naming the file, the lines, the column and a fix."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

from salesnb.core.errors import DataValidationError, Problem
from salesnb.data.io import load
from salesnb.data.parsers import parse_dates, parse_numbers
from salesnb.data.profiles import ReadOptions

FIXTURE = Path(__file__).parent / "data" / "canonical"
OPP_HEADER = (
    "opp_id,rep_id,account,product,stage,amount,created_date,close_date,outcome,"
    "forecast_category,source,furthest_stage,last_activity_date"
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A valid canonical folder (the fixture) that a test then breaks."""
    out = tmp_path / "data"
    shutil.copytree(FIXTURE, out)
    return out


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), "utf-8")


def problems_of(folder: Path, **kw) -> list[Problem]:
    with pytest.raises(DataValidationError) as info:
        load(folder, **kw)
    err = info.value
    assert "Traceback" not in str(err)
    return err.problems + err.warnings


def one(problems: list[Problem], code: str) -> Problem:
    hits = [p for p in problems if p.code == code]
    assert len(hits) == 1, f"expected one {code!r} in {[str(p) for p in problems]}"
    return hits[0]


def check(p: Problem, file: str, rows: tuple[int, ...], column: str | None, fix_word: str):
    assert p.file is not None and p.file.endswith(file), p
    assert p.rows == rows, p
    assert p.column == column, p
    assert fix_word.lower() in p.fix.lower(), p
    assert file in str(p) and "Fix:" in str(p)


# ------------------------------------------------------------------- columns


def test_missing_column_suggests_closest_name(folder):
    edit(folder / "opportunities.csv", "amount,", "amout,")
    p = one(problems_of(folder), "missing-column")
    check(p, "opportunities.csv", (1,), "amount", "did you mean 'amout'")


@pytest.mark.parametrize("col", ["opp_id", "rep_id", "stage", "amount", "created_date"])
def test_each_required_opportunity_column_missing(folder, col):
    path = folder / "opportunities.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False).drop(columns=[col])
    df.to_csv(path, index=False)
    p = one(problems_of(folder), "missing-column")
    check(p, "opportunities.csv", (1,), col, "add")


def test_misspelled_optional_column_is_a_warning(folder):
    edit(folder / "opportunities.csv", "close_date,", "clse_date,")
    edit(folder / "reps.csv", "r2,", "r2,")  # keep the rest valid
    wb = load(folder)
    p = one(wb.warnings, "extra-column")
    check(p, "opportunities.csv", (1,), "clse_date", "rename it to 'close_date'")
    assert wb.opportunities["close_date"].isna().all()


def test_unrelated_extra_column_is_ignored_silently(folder):
    edit(folder / "opportunities.csv", "last_activity_date\n", "last_activity_date,notes\n")
    wb = load(folder)
    assert not [w for w in wb.warnings if w.code == "extra-column"]


# ------------------------------------------------------------------- dates


def test_unparseable_date_is_quoted(folder):
    edit(folder / "opportunities.csv", "o2,r1,Globex,Core,Closed Lost,8000.5,2024-01-10",
         "o2,r1,Globex,Core,Closed Lost,8000.5,2024-13-45")  # fmt: skip
    p = one(problems_of(folder), "bad-date")
    check(p, "opportunities.csv", (3,), "created_date", "2026-03-31")
    assert "'2024-13-45'" in p.message


def test_mixed_date_formats(folder):
    # o3 is on line 4 (header = line 1, o1 = line 2).
    edit(folder / "opportunities.csv", "2024-02-01,2024-04-30", "02/01/2024,2024-04-30")
    p = one(problems_of(folder), "ambiguous-date")
    assert p.message.startswith("Mixed date formats")
    check(p, "opportunities.csv", (4,), "created_date", "dayfirst")


def test_dayfirst_dates_are_detected(folder):
    edit(folder / "opportunities.csv", "2024-02-01,2024-04-30", "01/02/2024,30/04/2024")
    p = one(problems_of(folder), "dayfirst-date")
    check(p, "opportunities.csv", (4,), "close_date", "dayfirst = true")
    assert "'30/04/2024'" in p.message


def test_ambiguous_day_month_order_is_explained():
    d, issues = parse_dates(pd.Series(["03/04/2024", "05/06/2024"]), ReadOptions())
    code, mask, msg, fix, _ = issues[0]
    assert code == "ambiguous-date" and mask.tolist() == [True, True]
    assert "day above 12" in msg and "dayfirst" in fix
    assert d.isna().all()


def test_month_first_in_a_dayfirst_profile_column():
    # 12/31 is only valid month-first; 13/01 only day-first: the column mixes both orders.
    _, issues = parse_dates(pd.Series(["12/31/2024", "13/01/2024"]), ReadOptions())
    assert issues[0][0] == "mixed-date-formats" and "day-first" in issues[0][2]


def test_impossible_iso_dates_are_refused_not_rolled_over():
    # 2024 is a leap year (Feb 29 exists); 2023 is not; April has 30 days.
    txt = pd.Series(["2024-02-29", "2023-02-29", "2024-04-31", "2024-13-01"])
    for values in (txt, txt.astype(object)):  # the arrow path and the pandas path
        out, issues = parse_dates(values, ReadOptions())
        assert out.iloc[0] == pd.Timestamp("2024-02-29") and out.iloc[1:].isna().all()
        ((code, mask, msg, fix, sev),) = issues
        assert code == "bad-date" and sev == "error" and mask.tolist() == [False, True, True, True]
        assert msg.startswith("Impossible dates (no such day in the calendar): '2023-02-29'")
        assert "check the day exists" in fix


def test_excel_serial_dates_are_converted_with_warning(folder):
    # 45351 days after 1899-12-30 = 2024-03-01 (Excel's 1900 date system).
    edit(folder / "opportunities.csv", "o2,r1,Globex,Core,Closed Lost,8000.5,2024-01-10,2024-03-01",
         "o2,r1,Globex,Core,Closed Lost,8000.5,2024-01-10,45352")  # fmt: skip
    wb = load(folder)
    p = one(wb.warnings, "excel-serial-date")
    check(p, "opportunities.csv", (3,), "close_date", "format the column as dates")
    assert wb.opportunities.loc[1, "close_date"] == pd.Timestamp("2024-03-01")


def test_close_before_created(folder):
    edit(folder / "opportunities.csv", "2024-03-10,2024-05-31", "2024-03-10,2024-02-29")
    p = one(problems_of(folder), "close-before-created")
    check(p, "opportunities.csv", (9,), "close_date", "correct either date")
    assert "'2024-02-29'" in p.message and "'2024-03-10'" in p.message


# ------------------------------------------------------------------- amounts


@pytest.mark.parametrize(
    ("bad", "code", "fix"),
    [
        ("-7000", "negative", "positive"),
        ("NaN", "nan-value", "required"),
        ("TBD", "not-a-number", "write a number"),
        ('"7,000"', "thousands-separator", "thousands = ','"),
        ("$7000", "currency-symbol", "currency_symbols = true"),
        ('"7000,50"', "decimal-comma", "decimal = ','"),
        ("", "blank", "fill in the amount"),
    ],
)
def test_bad_amounts(folder, bad, code, fix):
    edit(folder / "opportunities.csv", "Demo,7000,", f"Demo,{bad},")
    p = one(problems_of(folder), code)
    check(p, "opportunities.csv", (9,), "amount", fix)


def test_thousands_and_currency_accepted_when_profile_says(tmp_path, folder):
    edit(folder / "opportunities.csv", "Demo,7000,", 'Demo,"$7,000.25",')
    prof = tmp_path / "mine.toml"
    prof.write_text(
        '[read]\nthousands = ","\ncurrency_symbols = true\n'
        '[reps]\nfiles = ["reps.csv"]\n[opportunities]\nfiles = ["opportunities.csv"]\n'
    )
    wb = load(folder, profile=prof)
    assert wb.opportunities.loc[7, "amount"] == 7000.25


def test_european_amounts_through_a_us_profile_are_refused():
    # Stripping ',' anywhere would read '€12.500,00' as 12.5 and '12,5' as 125.
    opts = ReadOptions(thousands=",", decimal=".", currency_symbols=True)
    vals = pd.Series(["€12.500,00", "$1,234.50", "12,5", "45.250,50"])
    nums, _, issues = parse_numbers(vals, opts)
    assert nums.iloc[1] == 1234.5 and nums.drop(1).isna().all()
    by_code = {code: (mask.tolist(), msg, fix) for code, mask, msg, fix, _ in issues}
    mask, msg, fix = by_code["thousands-separator"]
    assert mask == [True, False, False, True] and "'€12.500,00', '45.250,50'" in msg
    assert "decimal = ','" in fix and "thousands = '.'" in fix
    assert by_code["decimal-comma"][0] == [False, False, True, False]


def test_european_profile_reads_grouped_amounts_and_refuses_a_decimal_point():
    opts = ReadOptions(thousands=".", decimal=",")
    # 12.500,00 -> 12500; 8000,5 -> 8000.5; 1.234.567 -> 1234567; '12.5' fits neither.
    nums, _, issues = parse_numbers(pd.Series(["12.500,00", "8000,5", "1.234.567", "12.5"]), opts)
    assert nums.iloc[:3].tolist() == [12500.0, 8000.5, 1234567.0] and np.isnan(nums.iloc[3])
    ((code, mask, _, fix, _),) = issues
    assert code == "decimal-point" and mask.tolist() == [False, False, False, True]
    assert "decimal = '.'" in fix
    # A column of grouped values only must not take the plain-number shortcut (12.5, 8.0).
    nums, _, issues = parse_numbers(pd.Series(["12.500", "8.000"]), opts)
    assert nums.tolist() == [12500.0, 8000.0] and not issues


@pytest.mark.parametrize(
    ("values", "want", "code"),
    [
        # Only 3-digit groups after '.', no decimal comma: 12000 or 12.0 cannot be told.
        (["12.000", "8.500", "700"], [None, None, 700.0], "ambiguous-number"),
        # A decimal comma elsewhere settles it: '.' groups thousands.
        (["12.000", "8.500", "7,5"], [12000.0, 8500.0, 7.5], None),
        # A decimal with other than 3 digits settles it the other way.
        (["12.000", "8.25", "700"], [12.0, 8.25, 700.0], None),
    ],
)
def test_dotted_amounts_in_a_semicolon_file(values, want, code):
    nums, _, issues = parse_numbers(pd.Series(values), ReadOptions(), sep=";")
    assert [None if np.isnan(x) else x for x in nums] == want
    assert [i[0] for i in issues] == ([code] if code else [])


def test_semicolon_file_with_decimal_commas_is_read(folder):
    path = folder / "opportunities.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df["amount"] = df["amount"].str.replace(".", ",")  # 8000.5 -> 8000,5
    df.to_csv(path, sep=";", index=False)
    wb = load(folder)
    assert wb.opportunities["amount"].tolist()[:2] == [12000.0, 8000.5]


# ------------------------------------------------------------------- stages, outcomes, ids


def test_unknown_stage_lists_valid_and_closest(folder):
    edit(folder / "opportunities.csv", ",Negotiation,22000", ",Negotation,22000")
    p = one(problems_of(folder), "unknown-stage")
    check(p, "opportunities.csv", (5,), "stage", "'Closed Won'")
    assert "Did you mean 'Negotiation'" in p.message


def test_stage_match_ignores_case(folder):
    edit(folder / "opportunities.csv", ",Negotiation,22000", ",negotiation,22000")
    assert load(folder).opportunities.loc[3, "stage"] == "Negotiation"


def test_outcome_inconsistent_with_stage(folder):
    edit(folder / "opportunities.csv", "Closed Won,12000,2024-01-05,2024-02-20,won",
         "Closed Won,12000,2024-01-05,2024-02-20,lost")  # fmt: skip
    p = one(problems_of(folder), "outcome-stage")
    check(p, "opportunities.csv", (2,), "outcome", "leave outcome blank")


def test_duplicate_opportunity_ids(folder):
    edit(folder / "opportunities.csv", "o6,r3", "o5,r3")
    p = one(problems_of(folder), "duplicate-id")
    check(p, "opportunities.csv", (6, 7), "opp_id", "one row per")
    assert "Duplicate opportunity id: 'o5' appears more than once." in p.message


def test_several_duplicate_ids_appear_in_plural(folder):
    edit(folder / "opportunities.csv", "o6,r3", "o5,r3")
    edit(folder / "opportunities.csv", "o8,r3", "o7,r3")
    p = one(problems_of(folder), "duplicate-id")
    # o5 on lines 6, 7 and o7 on lines 8, 9.
    check(p, "opportunities.csv", (6, 7, 8, 9), "opp_id", "one row per")
    assert "'o5', 'o7' appear more than once." in p.message


def test_duplicate_rep_ids(folder):
    edit(folder / "reps.csv", "r4,Priya", "r3,Priya")
    p = next(x for x in problems_of(folder) if x.code == "duplicate-id")
    check(p, "reps.csv", (4, 5), "rep_id", "one row per")


def test_opportunity_of_unknown_rep(folder):
    edit(folder / "opportunities.csv", "o6,r3", "o6,r33")
    p = one(problems_of(folder), "unknown-rep")
    check(p, "opportunities.csv", (7,), "rep_id", "add 'r33' to reps")
    assert "Did you mean 'r3'" in p.message


def test_rep_without_data_is_a_warning(folder):
    (folder / "activities.csv").unlink()
    wb = load(folder)
    p = one(wb.warnings, "rep-without-data")
    check(p, "reps.csv", (5,), None, "nothing to do")
    assert "'r4'" in p.message


def test_reps_without_target_are_a_warning(folder):
    # Without the West region row, r3 (deals) and r4 (activities) have no target at all.
    edit(folder / "targets.csv", ",West,2024-01,20000\n", "")
    wb = load(folder)
    p = one(wb.warnings, "rep-without-target")
    check(p, "reps.csv", (4, 5), None, "targets.csv")
    assert "2 reps have no target in targets.csv" in p.message and "['r3', 'r4']" in p.message


def test_rep_without_any_data_is_not_also_told_about_targets(folder):
    edit(folder / "targets.csv", ",West,2024-01,20000\n", "")
    (folder / "activities.csv").unlink()  # r4 now has no deals and no activities
    wb = load(folder)
    assert one(wb.warnings, "rep-without-data").rows == (5,)
    p = one(wb.warnings, "rep-without-target")
    assert p.rows == (4,) and "1 rep has" in p.message and "['r3']" in p.message


def test_no_target_warning_without_a_targets_file(folder):
    (folder / "targets.csv").unlink()
    assert [w.code for w in load(folder).warnings] == []


def test_target_with_both_rep_and_region(folder):
    edit(folder / "targets.csv", ",West,2024-01", "r3,West,2024-01")
    p = one(problems_of(folder), "target-owner")
    check(p, "targets.csv", (5,), "rep_id", "exactly one")


def test_every_problem_is_reported_at_once(folder):
    edit(folder / "opportunities.csv", "Demo,7000,", "Demo,-1,")
    edit(folder / "opportunities.csv", ",Negotiation,22000", ",Negotation,22000")
    edit(folder / "opportunities.csv", "o6,r3", "o6,r33")
    edit(folder / "reps.csv", "r4,Priya", "r3,Priya")
    codes = {p.code for p in problems_of(folder)}
    assert {"negative", "unknown-stage", "unknown-rep", "duplicate-id"} <= codes


# ------------------------------------------------------------------- files


def test_empty_file(folder):
    (folder / "opportunities.csv").write_bytes(b"")
    p = one(problems_of(folder), "empty-file")
    check(p, "opportunities.csv", (), None, "export the data again")


def test_header_only_file(folder):
    (folder / "opportunities.csv").write_text(OPP_HEADER + "\n")
    p = one(problems_of(folder), "header-only")
    check(p, "opportunities.csv", (1,), None, "with its rows")


def test_header_only_optional_table_is_a_warning(folder):
    (folder / "targets.csv").write_text("rep_id,region,month,amount\n")
    wb = load(folder)
    check(one(wb.warnings, "header-only"), "targets.csv", (1,), None, "delete the file")
    assert wb.targets.empty


def test_utf8_bom_is_read(folder):
    path = folder / "reps.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    wb = load(folder)
    assert wb.reps.loc[0, "name"] == "Zoë O'Brien"
    assert not [w for w in wb.warnings if w.code == "encoding"]


def test_latin1_is_detected_and_read(folder):
    path = folder / "reps.csv"
    path.write_bytes(path.read_text("utf-8").encode("latin-1"))
    wb = load(folder)
    assert wb.reps.loc[1, "name"] == "José Nuñez-García"
    check(one(wb.warnings, "encoding"), "reps.csv", (), None, "save the file as utf-8")


def test_truncated_last_line(folder):
    path = folder / "opportunities.csv"
    text = path.read_text("utf-8").rstrip("\n")
    path.write_text(text[: text.rfind(",Soylent") + 5])  # "...,o8,r3,Soy"
    p = one(problems_of(folder), "truncated")
    check(p, "opportunities.csv", (9,), None, "export or copy it again")


def test_line_with_too_many_fields(folder):
    edit(folder / "opportunities.csv", "Wayne Enterprises,", "Wayne, Enterprises,")
    p = one(problems_of(folder), "bad-line")
    check(p, "opportunities.csv", (7,), None, "double quotes")


def test_unclosed_quote(folder):
    edit(folder / "opportunities.csv", "Hooli,", '"Hooli,')
    p = one(problems_of(folder), "unparseable-file")
    check(p, "opportunities.csv", (8,), None, "close the quote")


def test_missing_required_file_suggests_rename(folder):
    (folder / "opportunities.csv").rename(folder / "opportunity.csv")
    p = one(problems_of(folder), "missing-file")
    assert p.file == str(folder) and "'opportunity.csv'" in p.fix


def test_missing_folder():
    with pytest.raises(DataValidationError, match="does not exist"):
        load("/nonexistent/salesnb-data")


def test_corrupt_excel_and_parquet_are_reported(folder):
    (folder / "opportunities.csv").unlink()
    (folder / "opportunities.xlsx").write_bytes(b"not a zip")
    p = one(problems_of(folder), "unreadable")
    check(p, "opportunities.xlsx", (), None, "export the sheet as csv")
    (folder / "opportunities.xlsx").unlink()
    (folder / "opportunities.parquet").write_bytes(b"PAR1 garbage")
    p = one(problems_of(folder), "unreadable")
    check(p, "opportunities.parquet", (), None, "csv")


def test_excel_data_on_second_sheet(folder, tmp_path):
    opps = pd.read_csv(folder / "opportunities.csv", dtype=str, keep_default_na=False)
    (folder / "opportunities.csv").unlink()
    with pd.ExcelWriter(folder / "opportunities.xlsx") as xw:
        pd.DataFrame({"About": ["exported 2024-03-29"]}).to_excel(
            xw, sheet_name="Summary", index=False
        )
        opps.to_excel(xw, sheet_name="Deals", index=False)
    probs = problems_of(folder)
    p = next(x for x in probs if x.code == "missing-column")
    assert p.file.endswith("opportunities.xlsx") and "sheet = 'Deals'" in p.fix
    assert "['Summary', 'Deals']" in p.fix
    prof = tmp_path / "xl.toml"
    prof.write_text(
        '[reps]\nfiles = ["reps.csv"]\n'
        '[opportunities]\nfiles = ["opportunities.xlsx"]\nsheet = "Deals"\n'
    )
    wb = load(folder, profile=prof)
    assert (
        wb.opportunities["amount"].sum() == 108500.5
    )  # 12000+8000.5+15000+22000+30500+5000+9000+7000


# ------------------------------------------------------------------- parsers (properties)


@settings(max_examples=25, deadline=None)
@given(st.floats(min_value=0, max_value=1e12, allow_nan=False).map(lambda x: round(x, 2)))
def test_numbers_with_symbols_and_separators_round_trip(x):
    opts = ReadOptions(thousands=",", currency_symbols=True)
    text = pd.Series([f"${x:,.2f}", f"{x:.2f}", f"USD {x:,.2f}"])
    nums, _, issues = parse_numbers(text, opts)
    assert not issues and np.allclose(nums, x, rtol=0, atol=0.005)


@settings(max_examples=25, deadline=None)
@given(
    st.dates(
        min_value=pd.Timestamp("1990-01-01").date(), max_value=pd.Timestamp("2100-12-31").date()
    )
)
def test_iso_dates_round_trip(d):
    out, issues = parse_dates(pd.Series([d.isoformat()]), ReadOptions())
    assert not issues and out.iloc[0] == pd.Timestamp(d)


@settings(max_examples=25, deadline=None)
@given(st.floats(min_value=0, max_value=1e12, allow_nan=False).map(lambda x: round(x, 2)))
def test_european_grouped_numbers_round_trip(x):
    opts = ReadOptions(thousands=".", decimal=",", currency_symbols=True)
    us = f"{x:,.2f}"
    eu = us.replace(",", "_").replace(".", ",").replace("_", ".")  # 1,234.50 -> 1.234,50
    nums, _, issues = parse_numbers(pd.Series([f"€{eu}", eu, f"{x:.2f}".replace(".", ",")]), opts)
    assert not issues and np.allclose(nums, x, rtol=0, atol=0.005)


# ------------------------------------------------------------------- bad values (round 2)


def test_date_parser_tells_placeholders_from_dates_out_of_range():
    text = pd.Series(["2024-01-05", "9999-12-31", "0001-01-01", "2304-01-10", "", "1500-06-01"])
    out, issues = parse_dates(text, ReadOptions())
    assert str(out.dtype) == "datetime64[ns]"
    assert out.iloc[0] == pd.Timestamp("2024-01-05") and out.iloc[1:].isna().all()
    by_code = {code: (mask.tolist(), sev) for code, mask, _, _, sev in issues}
    assert by_code == {
        "placeholder-date": ([False, True, True, False, False, False], "warning"),
        "date-out-of-range": ([False, False, False, True, False, True], "error"),
    }
    # a required column refuses the placeholder instead of blanking it
    _, issues = parse_dates(text, ReadOptions(), required=True)
    assert {code: sev for code, _, _, _, sev in issues}["placeholder-date"] == "error"


def test_date_parser_range_on_typed_and_day_first_columns():
    # Parquet gives typed dates (here in milliseconds, which hold year 9999)
    typed = pd.Series(pd.to_datetime(["2024-01-05", "9999-12-31"]).as_unit("ms"))
    out, issues = parse_dates(typed, ReadOptions())
    assert out.iloc[0] == pd.Timestamp("2024-01-05") and pd.isna(out.iloc[1])
    assert [(i[0], i[1].tolist()) for i in issues] == [("placeholder-date", [False, True])]
    # a profile's day-first format reads 31/12/9999 as the same placeholder
    out, issues = parse_dates(pd.Series(["05/01/2024", "31/12/9999"]), ReadOptions(dayfirst=True))
    assert out.iloc[0] == pd.Timestamp("2024-01-05") and [i[0] for i in issues] == [
        "placeholder-date"
    ]


def test_placeholder_in_parquet_file(folder):
    o = pd.read_csv(folder / "opportunities.csv", dtype=str)
    (folder / "opportunities.csv").unlink()
    for c in ("created_date", "close_date", "last_activity_date"):
        o[c] = pd.to_datetime(o[c]).astype("datetime64[ms]")
    o.loc[2, "close_date"] = pd.Timestamp("9999-12-31").as_unit("ms")  # the 3rd row: line 4
    o["amount"] = o["amount"].astype(float)
    o.to_parquet(folder / "opportunities.parquet", index=False)
    wb = load(folder)
    p = one(wb.warnings, "placeholder-date")
    check(p, "opportunities.parquet", (4,), "close_date", "enter the real date")
    assert pd.isna(wb.opportunities["close_date"].iloc[2])


@pytest.mark.parametrize(
    ("value", "code", "words"),
    [
        ("1e19", "implausible-number", "Implausible count: '1e19'"),
        ("-1e19", "implausible-number", "Implausible count: '-1e19'"),
        ("1000000001", "implausible-number", "(beyond ±1,000,000,000)"),
        ("1e400", "not-finite", "Not a finite number"),
        ("Infinity", "not-finite", "'Infinity'"),
    ],
)
def test_activity_counts_that_overflow_are_refused(folder, value, code, words):
    edit(folder / "activities.csv", "r1,2024-03-04,call,12", f"r1,2024-03-04,call,{value}")
    text = (folder / "activities.csv").read_text()
    line = text.splitlines().index(f"r1,2024-03-04,call,{value}") + 1
    errors = [p for p in problems_of(folder) if p.severity == "error"]
    assert len(errors) == 1, [str(p) for p in errors]
    assert errors[0].code == code and words in errors[0].message
    check(errors[0], "activities.csv", (line,), "count", "number")


def test_largest_plausible_count_and_amount_load(folder):
    # the bounds themselves are accepted: 1e9 activities, an amount of 1e15
    edit(folder / "activities.csv", "r1,2024-03-04,call,12", "r1,2024-03-04,call,1000000000")
    edit(folder / "opportunities.csv", ",12000,", ",1000000000000000,")
    wb = load(folder)
    assert wb.activities["count"].max() == 1_000_000_000
    assert wb.opportunities["amount"].max() == 1e15


@pytest.mark.parametrize("value", ["1e308", "1.5e15", "-1e16"])
def test_implausible_amounts_are_refused(folder, value):
    edit(folder / "opportunities.csv", ",12000,", f",{value},")
    p = one(problems_of(folder), "implausible-number")
    check(p, "opportunities.csv", (2,), "amount", "from 0 to 1,000,000,000,000,000")
    assert f"'{value}'" in p.message


def _no_as_of(folder: Path) -> None:
    toml = folder / "salesnb.toml"
    toml.write_text("".join(x for x in toml.read_text().splitlines(True) if "as_of" not in x))


def test_far_future_typo_does_not_move_the_as_of_date(folder):
    _no_as_of(folder)
    before = load(folder).as_of
    line = next(
        i for i, x in enumerate((folder / "opportunities.csv").read_text().splitlines(), 1)
        if x.startswith("o8,")
    )  # fmt: skip
    text = (folder / "opportunities.csv").read_text().splitlines()
    fields = text[line - 1].split(",")
    fields[6], fields[7] = "2099-01-15", ""  # created_date of an open deal, no close date
    text[line - 1] = ",".join(fields)
    (folder / "opportunities.csv").write_text("\n".join(text) + "\n")
    wb = load(folder)
    assert wb.as_of == before  # the typo is left out; without the rule it would be 2099-01-15
    p = one(wb.warnings, "far-future-date")
    check(p, "opportunities.csv", (line,), "created_date", "typo")
    assert f"as-of date, {before:%Y-%m-%d}" in p.message


def test_far_future_rule_on_hand_made_dates():
    from salesnb.data.model import far_future_cutoff

    def cut(*dates: str):
        return far_future_cutoff([pd.Series(pd.to_datetime(list(dates)))])

    base = ["2024-01-05", "2024-02-01", "2024-03-01", "2024-03-20", "2024-04-02"]
    assert cut(*base) is None
    # two typos, each more than a year after the rest: both left out
    assert cut(*base, "2099-01-01", "2204-05-05") == pd.Timestamp("2099-01-01")
    # 366 days after the latest other date is far; 365 days is not
    assert cut(*base, "2025-04-03") == pd.Timestamp("2025-04-03")
    assert cut(*base, "2025-04-02") is None
    # a data set that resumes after a pause: the later dates are the majority, not typos
    assert cut("2020-01-01", "2020-02-01", "2024-01-01", "2024-02-01", "2024-03-01") is None
    # too few dates to tell, and at most 3 typos among few dates
    assert cut("2024-01-01", "2099-01-01") is None
    assert cut(*base, *base, "2099-01-01", "2099-01-02", "2099-01-03", "2099-01-04") is None


def test_extra_field_on_first_line_of_a_big_file(tmp_path):
    # over 1 MB the multi-threaded reader is tried first; the answer must be the same
    src = Path(__file__).parent / "bad_inputs" / "_good"
    shutil.copytree(src, tmp_path / "d")
    rows = [f"o{i},r{1 + i % 3},Account {i},Demo,{1000 + i},2024-01-05," for i in range(30_000)]
    rows[0] = "o0,r1,Account, 0,Demo,1000,2024-01-05,"  # the separator inside a value
    header = "opp_id,rep_id,account,stage,amount,created_date,close_date"
    (tmp_path / "d" / "opportunities.csv").write_text("\n".join([header, *rows]) + "\n")
    assert (tmp_path / "d" / "opportunities.csv").stat().st_size > 1 << 20
    errors = [p for p in problems_of(tmp_path / "d") if p.severity == "error"]
    assert [(p.code, p.rows) for p in errors] == [("bad-line", (2,))]


def test_bom_inside_a_file_is_removed_from_ids(folder):
    path = folder / "opportunities.csv"
    text = path.read_text("utf-8")
    lines = text.splitlines()
    lines[3] = "\ufeff" + lines[3]  # line 4, as where a second file was appended
    path.write_text("\n".join(lines) + "\n", "utf-8")
    wb = load(folder)
    assert not wb.opportunities["opp_id"].str.contains("\ufeff").any()
    assert lines[3].split(",")[0].lstrip("\ufeff") in set(wb.opportunities["opp_id"])
    check(one(wb.warnings, "bom-in-value"), "opportunities.csv", (4,), "opp_id", "UTF-8")


def test_far_future_typo_is_left_out_of_a_profiles_latest_as_of(tmp_path):
    # a profile with as_of = "latest" (as crm_sales_opportunities) resolves it in validation
    case = Path(__file__).parent / "bad_inputs" / "far_future_created_date"
    shutil.copytree(case, tmp_path / "d")
    canonical = (
        Path(__file__).resolve().parents[1] / "salesnb" / "data" / "profiles" / "canonical.toml"
    )
    text = canonical.read_text("utf-8").replace(
        'name = "canonical"', 'name = "latest"\nas_of = "latest"'
    )
    (tmp_path / "latest.toml").write_text(text, "utf-8")
    wb = load(tmp_path / "d", profile=tmp_path / "latest.toml")
    # latest other date: o2 closed (lost) on 2024-03-01; the open deal created 2099-03-10 is out
    assert wb.config.as_of == pd.Timestamp("2024-03-01") == wb.as_of
    check(one(wb.warnings, "far-future-date"), "opportunities.csv", (6,), "created_date", "typo")


def test_placeholders_in_a_parquet_date32_column(folder):
    import pyarrow as pa
    import pyarrow.parquet as pq

    o = pd.read_csv(folder / "opportunities.csv", dtype=str)
    (folder / "opportunities.csv").unlink()
    table = pa.Table.from_pandas(o.drop(columns=["close_date", "amount"]), preserve_index=False)
    close = [None if pd.isna(x) else pd.Timestamp(x).date() for x in o["close_date"]]
    close[2], close[3] = datetime.date(9999, 12, 31), datetime.date(1, 1, 1)  # lines 4, 5
    table = table.append_column("close_date", pa.array(close, pa.date32()))
    table = table.append_column("amount", pa.array(o["amount"].astype(float)))
    pq.write_table(table, folder / "opportunities.parquet")
    wb = load(folder)
    p = one(wb.warnings, "placeholder-date")
    check(p, "opportunities.parquet", (4, 5), "close_date", "enter the real date")
    assert p.message.startswith("'9999-12-31', '0001-01-01' are placeholders for 'no date'")
    assert wb.opportunities["close_date"].iloc[2:4].isna().all()


# ------------------------------------------------------------------- one message per cause
# (issue 16, item 9: real exports answered with a message per line, or the wrong fix)


def test_lines_with_too_many_fields_are_one_message_per_cause(folder):
    # Unquoted commas in addresses: two lines with one field too many, one with two.
    opp = folder / "opportunities.csv"
    edit(opp, "o2,r1,Globex,", "o2,r1,Globex, Hauptstr. 1,")
    edit(opp, "o3,r1,Initech,", "o3,r1,Initech, Am Markt 5,")
    edit(opp, "o6,r3,Wayne Enterprises,", "o6,r3,Wayne, Enterprises, Gotham,")
    probs = [p for p in problems_of(folder) if p.code == "bad-line"]
    assert [(p.rows, p.message) for p in probs] == [
        ((3, 4), "2 lines have 14 fields but the header has 13: nothing was read from them."),
        ((7,), "This line has 15 fields but the header has 13: nothing was read from it."),
    ]
    assert all("double quotes" in p.fix and "another separator (e.g. ';')" in p.fix for p in probs)


def test_iso_timestamps_keep_the_date(folder):
    opp = folder / "opportunities.csv"
    edit(opp, "2024-01-05,2024-02-20", "1996-07-04 00:00:00.000,2024-02-20 13:45:10.5")
    edit(opp, "2024-01-10,2024-03-01", "2024-01-10T09:30:00Z,2024-03-01T23:59")
    o = load(folder).opportunities
    assert o["created_date"].tolist()[:2] == list(pd.to_datetime(["1996-07-04", "2024-01-10"]))
    assert o["close_date"].tolist()[:2] == list(pd.to_datetime(["2024-02-20", "2024-03-01"]))


def test_unparseable_dates_of_a_column_feeding_two_fields_name_date_formats_once(tmp_path):
    (tmp_path / "deals.csv").write_text(
        "Nr,Owner,Phase,Wert,Datum\n"
        "1,101,Closed Won,10,04.07.1996 00:00\n"
        "2,101,Closed Won,20,05.07.1996 00:00\n",
        "utf-8",
    )
    (tmp_path / "reps.csv").write_text("rep_id,name,manager,region\n101,A,M,R\n", "utf-8")
    prof = tmp_path / "p.toml"
    prof.write_text(
        '[opportunities]\nfiles = ["deals.csv"]\n[opportunities.columns]\nNr = "opp_id"\n'
        'Owner = "rep_id"\nPhase = "stage"\nWert = "amount"\n'
        'Datum = ["created_date", "close_date"]\n[reps]\nfiles = ["reps.csv"]\n',
        "utf-8",
    )
    probs = [p for p in problems_of(tmp_path, profile=prof) if p.column == "Datum"]
    assert len(probs) == 1, [str(p) for p in probs]
    assert probs[0].rows == (2, 3) and "date_formats" in probs[0].fix
    assert "04.07.1996 00:00" in probs[0].message


def test_a_column_read_under_another_name_is_no_misspelling_of_itself(tmp_path):
    (tmp_path / "deals.csv").write_text(
        "opp_id,rep_id,stage,amount,created_date,close_date\n"
        "1,101,Closed Won,10,2024-01-05,2024-02-01\n",
        "utf-8",
    )
    # The profile reads 'Gebiet' as the region; the sheet's own 'region' column is an old one.
    (tmp_path / "reps.csv").write_text(
        "rep_id,name,manager,Gebiet,region\n101,Anna,Eva,Süd,alt\n", "utf-8"
    )
    prof = tmp_path / "p.toml"
    prof.write_text(
        '[opportunities]\nfiles = ["deals.csv"]\n'
        '[reps]\nfiles = ["reps.csv"]\ncolumns = { Gebiet = "region" }\n',
        "utf-8",
    )
    wb = load(tmp_path, profile=prof)
    assert wb.reps["region"].tolist() == ["Süd"]
    assert [str(w) for w in wb.warnings if w.code == "extra-column"] == []


def test_unparseable_date_in_a_canonical_file_names_date_formats(folder):
    edit(folder / "opportunities.csv", "2024-01-10", "gestern")
    p = one(problems_of(folder), "bad-date")
    assert "Correct or blank these values" in p.fix and "date_formats" in p.fix

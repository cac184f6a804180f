"""Loading canonical folders (CSV, Parquet, Excel), writing them back, and speed on the sample."""

from __future__ import annotations

import csv
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesnb.core.errors import ConfigError, DataValidationError, ParameterError, ProfileError
from salesnb.data.io import load, write
from salesnb.data.model import Workbook

FIXTURE = Path(__file__).parent / "data" / "canonical"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def assert_same(a: Workbook, b: Workbook) -> None:
    for name in Workbook.TABLE_NAMES:
        pd.testing.assert_frame_equal(a.table(name), b.table(name), check_like=False)
    assert a.config == b.config
    assert a.fingerprint() == b.fingerprint()


def test_fixture_loads_typed():
    wb = load(FIXTURE)
    o = wb.opportunities
    assert str(o["amount"].dtype) == "float64" and str(o["created_date"].dtype) == "datetime64[ns]"
    assert str(o["opp_id"].dtype) == "str" and str(wb.activities["count"].dtype) == "int64"
    # salesnb.toml in the folder sets as_of and currency.
    assert wb.as_of == pd.Timestamp("2024-03-29") and wb.config.currency == "EUR"
    # o8 has a blank outcome: derived from its stage (Demo is open).
    assert o.set_index("opp_id").loc["o8", "outcome"] == "open"
    # furthest_stage defaults: open -> its stage; won -> last open stage; lost -> blank.
    fs = o.set_index("opp_id")["furthest_stage"]
    assert fs["o8"] == "Demo" and fs["o5"] == "Negotiation" and fs["o2"] == "Demo"
    # team defaults to region; a month written 2024-01 is its first day.
    assert wb.reps.set_index("rep_id").loc["r2", "team"] == "East"
    assert wb.targets["month"].tolist()[0] == pd.Timestamp("2024-01-01")
    assert wb.warnings == []


def test_round_trip_is_equal_and_deterministic(tmp_path):
    wb = load(FIXTURE)
    paths = write(wb, tmp_path / "a")
    write(wb, tmp_path / "b")
    assert [p.name for p in paths] == [
        "reps.csv", "opportunities.csv", "targets.csv", "activities.csv", "snapshots.csv",
        "salesnb.toml",
    ]  # fmt: skip
    for p in paths:
        data = p.read_bytes()
        assert data == (tmp_path / "b" / p.name).read_bytes()
        assert b"\r\n" not in data
    assert "2024-01-05" in (tmp_path / "a" / "opportunities.csv").read_text()
    assert_same(wb, load(tmp_path / "a"))


def test_round_trip_neutralises_formulas(tmp_path):
    wb = load(FIXTURE)
    wb.opportunities.loc[0, "account"] = '=HYPERLINK("x")'
    wb.reps.loc[0, "name"] = "+Zoë"
    write(wb, tmp_path)
    text = (tmp_path / "opportunities.csv").read_text()
    assert "'=HYPERLINK" in text
    assert_same(wb, load(tmp_path))


@pytest.mark.parametrize("fmt", ["parquet", "xlsx"])
def test_parquet_and_excel_give_the_same_workbook(tmp_path, fmt):
    wb = load(FIXTURE)
    shutil.copy(FIXTURE / "salesnb.toml", tmp_path)
    for name in Workbook.TABLE_NAMES:
        df = wb.table(name)
        if fmt == "parquet":
            df.to_parquet(tmp_path / f"{name}.parquet", index=False)
        else:
            df.to_excel(tmp_path / f"{name}.xlsx", index=False)
    assert_same(wb, load(tmp_path))


def test_single_file_needs_a_profile():
    with pytest.raises(DataValidationError) as info:
        load(FIXTURE / "opportunities.csv")
    assert "profile" in info.value.problems[0].fix


def test_folder_of_another_export_suggests_its_profile(tmp_path):
    shutil.copy(
        Path(__file__).parent / "data" / "hubspot" / "hubspot-crm-exports-all-deals-2024-03-29.csv",
        tmp_path,
    )
    with pytest.raises(DataValidationError) as info:
        load(tmp_path)
    assert "profile='hubspot'" in str(info.value)


def test_config_overrides_and_as_of_parameter():
    wb = load(FIXTURE, as_of="2024-02-15", config_overrides={"currency": "GBP"})
    assert wb.as_of == pd.Timestamp("2024-02-15") and wb.config.currency == "GBP"


# --------------------------------------------------------------------------- odd files


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "data"
    shutil.copytree(FIXTURE, out)
    return out


def only_problem(folder: Path, **kw):
    with pytest.raises(DataValidationError) as info:
        load(folder, **kw)
    (p,) = info.value.problems
    return p


def test_excel_sep_line_is_skipped_and_its_separator_used(folder):
    path = folder / "opportunities.csv"
    text = path.read_text("utf-8").replace(",", ";").replace(";7000;", ";7OOO;")
    path.write_text("sep=;\n" + text, "utf-8")
    p = only_problem(folder)
    # sep line 1, header line 2, o1 on line 3 ... o8 (the 7OOO) on line 10.
    assert (p.code, p.rows, p.column) == ("not-a-number", (10,), "amount")
    path.write_text("sep=;\n" + text.replace("7OOO", "7000"), "utf-8")
    assert_same(load(FIXTURE), load(folder))


def test_missing_column_below_a_sep_line_names_the_header_line(folder):
    path = folder / "reps.csv"
    path.write_text("sep=,\n" + path.read_text("utf-8").replace("manager", "boss"), "utf-8")
    p = only_problem(folder)
    assert (p.code, p.rows, p.column) == ("missing-column", (2,), "manager")


def test_blank_lines_above_the_header_are_skipped(folder):
    path = folder / "opportunities.csv"
    path.write_text("\n\n" + path.read_text("utf-8").replace(",7000,", ",x,"), "utf-8")
    p = only_problem(folder)
    # Header on line 3, so o8 (line 9 of the original) is line 11.
    assert (p.code, p.rows, p.column) == ("not-a-number", (11,), "amount")


def test_title_lines_above_the_header_are_one_error(folder):
    path = folder / "opportunities.csv"
    original = path.read_text("utf-8")
    path.write_text("Pipeline report\nAll regions\n\n" + original, "utf-8")
    p = only_problem(folder)
    assert (p.code, p.rows, p.file) == ("header-not-first", (4,), str(path))
    assert "'Pipeline report', 'All regions'" in p.message and "skip_rows = 3" in p.fix
    # With skip_rows the header is found, and lines keep their place in the file:
    # o8 is line 9 of the original, so line 12 below the 3 title lines.
    path.write_text("Pipeline report\nAll regions\n\n" + original.replace(",7000,", ",x,"))
    prof = folder / "titled.toml"
    prof.write_text(
        '[reps]\nfiles = ["reps.csv"]\n'
        '[opportunities]\nfiles = ["opportunities.csv"]\n[opportunities.read]\nskip_rows = 3\n'
    )
    p = only_problem(folder, profile=prof)
    assert (p.code, p.rows, p.column) == ("not-a-number", (12,), "amount")


@pytest.mark.parametrize(
    ("kind", "says", "fix"),
    [
        ("xlsx", "an Excel workbook (.xlsx)", "Rename it to 'opportunities.xlsx'"),
        ("parquet", "a Parquet file", "Rename it to 'opportunities.parquet'"),
        ("nul", "binary data", "export the table again"),
    ],
)
def test_binary_file_with_a_csv_name_is_one_format_error(folder, kind, says, fix):
    path = folder / "opportunities.csv"
    df = pd.read_csv(path, dtype=str)
    if kind == "xlsx":
        with pd.ExcelWriter(path, engine="openpyxl") as xl:
            df.to_excel(xl, index=False)
    elif kind == "parquet":
        df.to_parquet(path)
    else:
        path.write_bytes(b"\x07\x00\x01\x00binary" * 100)
    p = only_problem(folder)
    assert (p.code, p.rows, p.column) == ("format", (), None)
    assert says in p.message and fix in p.fix


@pytest.mark.parametrize("enc", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_read(folder, enc):
    path = folder / "reps.csv"
    path.write_bytes(path.read_text("utf-8").encode(enc))
    wb = load(folder)
    assert wb.reps["name"].tolist()[:2] == ["Zoë O'Brien", "José Nuñez-García"]


@pytest.mark.parametrize("bad", ["end of March", "", 20240331])
def test_as_of_parameter_that_is_not_a_date(bad):
    with pytest.raises(ParameterError) as info:
        load(FIXTURE, as_of=bad)
    assert f"as_of {bad!r} is not a date" in str(info.value) and "YYYY-MM-DD" in str(info.value)


def test_as_of_in_salesnb_toml_that_is_not_a_date(folder):
    (folder / "salesnb.toml").write_text('as_of = "soon"\n')
    with pytest.raises(ConfigError) as info:
        load(folder)
    text = str(info.value)
    assert text.startswith(f"{folder / 'salesnb.toml'}: as_of = 'soon' is not a date.")
    assert "Fix: write it as YYYY-MM-DD" in text
    with pytest.raises(ConfigError, match="the configuration overrides: as_of = 3"):
        load(FIXTURE, config_overrides={"as_of": 3})


def test_unknown_rep_lists_the_valid_ids():
    wb = load(FIXTURE)
    with pytest.raises(ParameterError) as info:
        wb.rep("zz-unknown")
    assert "('r1', 'r2', 'r3', 'r4';" in str(info.value)


def test_stacks_several_files_with_their_own_line_numbers(tmp_path):
    shutil.copy(Path(__file__).parent / "data" / "hubspot" / "hubspot-crm-exports-all-deals-2024-03-29.csv",
                tmp_path / "deals-q1.csv")  # fmt: skip
    (tmp_path / "deals-q2.csv").write_text(
        "Record ID,Deal owner,Deal Stage,Amount,Close Date,Create Date\n"
        "9001,Marcus Lee,Contract Sent,1000,2024-06-01,2024-04-01\n"
        "9002,Marcus Lee,Contract Snet,1000,2024-06-01,2024-04-01\n"
    )
    with pytest.raises(DataValidationError) as info:
        load(tmp_path, profile="hubspot")
    (p,) = info.value.problems
    assert p.file.endswith("deals-q2.csv") and p.rows == (3,) and p.code == "unknown-stage"


@pytest.mark.skipif(
    not (SAMPLE / "opportunities.csv").is_file(), reason="data/sample not generated"
)
def test_sample_loads_fast_and_round_trips(tmp_path):
    load(SAMPLE)  # warm imports
    t0 = time.perf_counter()
    wb = load(SAMPLE)
    elapsed = time.perf_counter() - t0
    # ~0.3 s on an idle laptop; the bound is loose because CI machines are shared.
    assert elapsed < 3.0, f"load took {elapsed:.2f} s"
    assert not [w for w in wb.warnings if w.code not in ("rep-without-data",)], wb.warnings
    write(wb, tmp_path)
    assert_same(wb, load(tmp_path))


# --------------------------------------------------------------------------- writing any text

GOOD = Path(__file__).parent / "bad_inputs" / "_good"
#: Any text a CRM field may hold: control characters, quotes, separators, CR and LF.
#: NUL makes a file binary and U+FEFF is removed on load (with a warning), so neither is here.
_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufeff"), max_size=12
)


def _folder_with_accounts(path: Path, accounts: list[str]) -> Path:
    """_good with ``accounts`` in its opportunities, quoted by the csv module (QUOTE_ALL)."""
    shutil.copytree(GOOD, path)
    o = pd.read_csv(GOOD / "opportunities.csv", dtype=str, keep_default_na=False)
    o["account"] = accounts
    with open(path / "opportunities.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\n")
        w.writerow(o.columns)
        w.writerows(o.itertuples(index=False))
    return path


def test_lone_cr_is_quoted_on_write(tmp_path):
    wb = load(_folder_with_accounts(tmp_path / "in", ["Acme\rCorp", "a\r\nb", "x", "y", "z"]))
    assert wb.opportunities["account"].tolist()[:2] == ["Acme\rCorp", "a\r\nb"]
    write(wb, tmp_path / "out")
    raw = (tmp_path / "out" / "opportunities.csv").read_bytes()
    assert b'"Acme\rCorp"' in raw and b'"a\r\nb"' in raw
    again = load(tmp_path / "out")
    assert len(again.opportunities) == 5
    assert_same(wb, again)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_TEXT, min_size=5, max_size=5))
def test_any_text_round_trips_through_write(tmp_path_factory, accounts):
    base = tmp_path_factory.mktemp("rt")
    wb = load(_folder_with_accounts(base / "in", accounts))
    write(wb, base / "out")
    again = load(base / "out")
    assert again.warnings == []
    assert_same(wb, again)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1)
                .filter(lambda n: n.strip()),  # a blank name is refused (config schema)
                min_size=3, max_size=6, unique=True))  # fmt: skip
def test_any_stage_name_round_trips_through_salesnb_toml(tmp_path_factory, names):
    from salesnb.data.config import Stage, StageCatalogue, load_config

    kinds = ["open"] * (len(names) - 2) + ["won", "lost"]
    stages = tuple(Stage(n, k, 0.5) for n, k in zip(names, kinds, strict=True))
    wb = load(GOOD)
    wb = dataclasses.replace(
        wb, config=dataclasses.replace(wb.config, stages=StageCatalogue(stages))
    )
    out = tmp_path_factory.mktemp("toml")
    write(wb, out)
    assert load_config(out) == wb.config


# --------------------------------------------------------------------------- as_of with an offset


def test_as_of_with_utc_offset_is_the_day_written_everywhere(tmp_path):
    from salesnb.analytics import kpis
    from salesnb.reports import subject

    shutil.copytree(GOOD, tmp_path / "d")
    toml = tmp_path / "d" / "salesnb.toml"
    toml.write_text('as_of = 2024-03-29T23:30:00-05:00\ncurrency = "EUR"\n')
    wb = load(tmp_path / "d")
    # the date written (the 29th), not the UTC date (the 30th), and no time zone
    assert wb.as_of == pd.Timestamp("2024-03-29") and wb.as_of.tzinfo is None
    kpis.scorecard(wb, "rep")  # crashed: a naive column compared with an aware as_of
    for given_ in ("2024-03-01T00:00:00+02:00", "2024-03-01T23:30:00-05:00", "2024-03-01"):
        assert load(GOOD, as_of=given_).as_of == pd.Timestamp("2024-03-01")
        assert subject.resolve_as_of(wb, given_) == pd.Timestamp("2024-03-01")
        sc = kpis.scorecard(wb, "rep", as_of=given_)
        assert sc.equals(kpis.scorecard(wb, "rep", as_of="2024-03-01"))
    with pytest.raises(ParameterError, match="is not a date"):
        load(GOOD, as_of="9999-12-31T00:00:00+02:00")  # out of range: no traceback


# --------------------------------------------------------------------------- hardening round 2:
# configuration and files that are not one regular file

GOOD = Path(__file__).parent / "bad_inputs" / "_good"


def _good_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(GOOD, folder)
    return folder


def test_fifo_as_a_table_is_an_error_and_is_never_opened(tmp_path):
    """A named pipe named targets.csv: an error naming it, never 0 rows, never a hang. A
    watchdog opens the pipe's other end after 20 s: were the loader blocked reading it, that
    would release it, and the test fails on ``released``."""
    folder = _good_copy(tmp_path)
    fifo = folder / "targets.csv"
    fifo.unlink()
    os.mkfifo(fifo)
    done, released = threading.Event(), threading.Event()

    def watchdog() -> None:
        if done.wait(20):
            return
        try:  # succeeds only if a reader is blocked on the pipe
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            released.set()
        except OSError:
            pass

    threading.Thread(target=watchdog, daemon=True).start()
    try:
        with pytest.raises(DataValidationError) as info:
            load(folder)
    finally:
        done.set()
    assert not released.is_set(), "the loader opened the pipe and waited on it"
    (p,) = info.value.problems
    assert p.code == "not-a-file" and p.file == str(fifo)
    assert "'targets.csv' is a named pipe (FIFO)" in p.message and "not opened" in p.message
    assert "Save the targets export as a regular file" in p.fix
    # the same pipe given as the export file itself
    with pytest.raises(DataValidationError, match=r"'targets.csv' is a named pipe \(FIFO\)"):
        load(fifo, profile="salesforce")


def test_dangling_symlink_as_a_table_is_an_error(tmp_path):
    folder = _good_copy(tmp_path)
    (folder / "targets.csv").unlink()
    (folder / "targets.csv").symlink_to(tmp_path / "moved" / "targets.csv")
    with pytest.raises(DataValidationError) as info:
        load(folder)
    (p,) = info.value.problems
    assert p.code == "not-a-file" and Path(p.file).name == "targets.csv"
    assert f"is a symbolic link to {str(tmp_path / 'moved' / 'targets.csv')!r}" in p.message
    assert "which does not exist" in p.message and "Point the link" in p.fix
    # a link to an existing file is read through
    (folder / "targets.csv").unlink()
    (folder / "targets.csv").symlink_to(GOOD / "targets.csv")
    assert len(load(folder).targets) == 3


@pytest.mark.parametrize("mode", [0o000, 0o444])  # no access; listable but not searchable
def test_unreadable_folder_is_a_clear_error(mode):
    """Run ``salesnb validate`` on a folder its user cannot read. Tests run as root, whom no
    permission stops, so the command runs as the unprivileged user ``nobody`` then."""
    base = Path(tempfile.mkdtemp(prefix="salesnb-perm-"))
    try:
        base.chmod(0o755)
        folder = base / "data"
        shutil.copytree(GOOD, folder)
        folder.chmod(mode)
        user = {"user": 65534, "group": 65534} if os.geteuid() == 0 else {}
        proc = subprocess.run(
            [sys.executable, "-m", "salesnb.cli", "validate", str(folder)],
            capture_output=True, text=True, timeout=120, cwd=base,
            env={**os.environ, "HOME": str(base)}, check=False, **user,
        )  # fmt: skip
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, out
        assert f"error: {folder}: The folder cannot be read: permission denied." in out, out
        assert (
            f"Fix: Give your user read and search access to it (chmod u+rx {str(folder)!r})" in out
        )
        assert "Traceback" not in out and "PermissionError" not in out, out
    finally:
        (base / "data").chmod(0o755)
        shutil.rmtree(base)


def test_configuration_overrides_are_checked_like_the_file():
    with pytest.raises(ConfigError) as info:
        load(
            FIXTURE, config_overrides={"curency": "GBP", "calendar": {"fiscal_year_start_month": 0}}
        )
    text = str(info.value)
    assert text.startswith("2 problems in the configuration overrides:")
    assert "the configuration overrides: Unknown key 'curency'. Did you mean 'currency'?" in text
    assert "fiscal_year_start_month = 0 in [calendar] is out of range." in text
    assert "Fix: use a whole number from 1 to 12" in text


def test_profile_currency_is_checked_with_its_line(tmp_path):
    profile = tmp_path / "mine.toml"
    profile.write_text('name = "mine"\ncurrency = "euro"\n\n[opportunities]\nfiles = ["x.csv"]\n')
    with pytest.raises(ProfileError) as info:
        load(GOOD, profile=profile)
    assert str(info.value) == (
        f'{profile}, line 2, column 1: currency = "euro" is not a three-letter currency code. '
        'Fix: write it as an ISO 4217 code in capitals, e.g. currency = "EUR".'
    )


def test_package_defaults_and_documented_example_pass_the_schema():
    """defaults.toml and the salesnb.toml example of docs/data-model.md are valid, and every
    key of the schema says what it means."""
    from importlib import resources

    from salesnb.data.config_schema import check_config, schema

    defaults = resources.files("salesnb.data").joinpath("defaults.toml").read_text("utf-8")
    assert check_config(tomllib.loads(defaults), defaults) == []
    doc = (Path(__file__).resolve().parents[1] / "docs" / "data-model.md").read_text("utf-8")
    block = doc.split("## Configuration: `salesnb.toml`")[1].split("```toml\n")[1].split("```")[0]
    assert check_config(tomllib.loads(block), block) == []
    for kind in ("config", "profile"):
        for key, spec in schema(kind).items():
            assert spec.get("description"), (kind, key)


def test_locate_finds_keys_sections_and_array_entries():
    from salesnb.data.config_schema import locate

    text = (
        'note = """\nname = "not a key"\n"""\n'  # lines 1-3: a multi-line string
        "[calendar]\n"  # 4
        "  fiscal_year_start_month = 2\n"  # 5
        "[[stages]]\n"  # 6
        'name = "A"\n'  # 7
        "[[stages]]\n"  # 8
        "kind.sub = 1\n"  # 9: a dotted key
        "[smart]  # thresholds\n"  # 10
        "x = { y = 1 }\n"  # 11: an inline table
    )
    at = locate(text)
    assert at[("note",)] == (1, 1)
    assert ("name",) not in at
    assert at[("calendar",)] == (4, 1) and at[("calendar", "fiscal_year_start_month")] == (5, 3)
    assert at[("stages",)] == (6, 1) and at[("stages", 0, "name")] == (7, 1)
    assert at[("stages", 1)] == (8, 1) and at[("stages", 1, "kind", "sub")] == (9, 1)
    assert at[("smart", "x")] == (11, 1) and ("smart", "x", "y") not in at


def test_salesnb_toml_that_is_not_a_file_is_an_error(tmp_path):
    folder = _good_copy(tmp_path)
    (folder / "salesnb.toml").unlink()
    (folder / "salesnb.toml").symlink_to(tmp_path / "gone.toml")
    with pytest.raises(ConfigError) as info:
        load(folder)
    assert str(info.value) == (
        f"{folder / 'salesnb.toml'}: is a symbolic link to a file that does not exist, so the "
        "configuration cannot be read from it. Fix: make salesnb.toml a regular text file, or "
        "remove it to use the defaults."
    )
    (folder / "salesnb.toml").unlink()
    (folder / "salesnb.toml").mkdir()
    with pytest.raises(ConfigError, match="salesnb.toml: is a folder, so the configuration"):
        load(folder)

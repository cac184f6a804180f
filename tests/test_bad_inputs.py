"""The bad-input corpus: every malformed input in tests/bad_inputs gets a specific answer.

Each ``[[case]]`` of ``tests/bad_inputs/cases.toml`` names a small malformed file or
folder and the answer salesnb must give: a salesnb error (never a pandas, pyarrow or
openpyxl exception) or a warning whose message names the file, the lines, the column
and a fix. See the header of cases.toml for the keys and docs/data-problems.md for the
user-facing table.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from salesnb.core import errors
from salesnb.core.errors import DataValidationError, Problem, SalesnbError
from salesnb.data.io import load
from salesnb.data.model import Workbook
from salesnb.reports import subject

HERE = Path(__file__).parent / "bad_inputs"
ROOT = Path(__file__).resolve().parents[1]
CASES: list[dict[str, Any]] = tomllib.loads((HERE / "cases.toml").read_text("utf-8"))["case"]
BY_NAME = {c["name"]: c for c in CASES}

# What a user must never see: a traceback, or the insides of the libraries underneath.
_LEAKS = re.compile(
    r"Traceback|pandas|pyarrow|openpyxl|numpy|_libs|DateParseError|ParserError|ArrowInvalid"
    r"|Unnamed: \d|dtype|KeyError|IndexError|AttributeError"
)


def _params() -> list:
    """One pytest param per case; cases the loader does not handle yet are strict xfails."""
    return [
        pytest.param(
            c,
            id=c["name"],
            marks=pytest.mark.xfail(strict=True, reason=c["xfail"]) if "xfail" in c else (),
        )
        for c in CASES
    ]


@pytest.fixture(scope="module")
def good() -> Workbook:
    return load(HERE / "_good")


def run(case: dict[str, Any], good: Workbook) -> Workbook | Any:
    """Run a case's call; return what it returned (a Workbook for loads)."""
    call, args = case.get("call", "load"), dict(case.get("args", {}))
    if call == "load":
        profile = case.get("profile")
        if profile and profile.endswith(".toml"):  # a profile of the corpus, e.g. "x/profile.toml"
            profile = HERE / profile
        return load(HERE / case.get("path", case["name"]), profile=profile, **args)
    if call == "resolve":
        return subject.resolve(good, args["subject_type"], args["subject"])
    if call == "resolve_period":
        return subject.resolve_period(good, args["period"], pd.Timestamp(args["as_of"]))
    if call == "resolve_as_of":
        return subject.resolve_as_of(good, args["as_of"])
    raise AssertionError(f"unknown call {call!r} in cases.toml")


def assert_clean(text: str) -> None:
    leak = _LEAKS.search(text)
    assert leak is None, f"message leaks {leak.group(0)!r}: {text}"


def find(problems: list[Problem], case: dict[str, Any]) -> Problem:
    hits = [p for p in problems if p.code == case["code"]]
    assert hits, f"no {case['code']!r} among {[f'{p.code}: {p}' for p in problems]}"
    return hits[0]


def check_problem(p: Problem, case: dict[str, Any]) -> None:
    """The problem names the file, its lines, the column and a fix, as cases.toml says."""
    text = str(p)
    assert p.file is not None and Path(p.file).name == case["file"], text
    assert case["file"] in text, text
    rows = tuple(case.get("rows", ()))
    assert p.rows == rows, text
    if rows:
        noun = "line" if len(rows) == 1 else "lines"
        assert f"{noun} {', '.join(map(str, rows))}" in text, text
    assert p.column == case.get("column"), text
    if "column" in case:
        assert f"column {case['column']!r}" in text, text
    for part in case.get("contains", ()):
        assert part in p.message, f"{part!r} not in {text}"
    assert p.fix and case["fix"] in p.fix, f"fix {case['fix']!r} not in {text}"
    assert "Fix: " in text
    assert_clean(text)


def check_values(wb: Workbook, case: dict[str, Any]) -> None:
    spec = case.get("check")
    if not spec:
        return
    got = wb.table(spec.get("table", "opportunities"))[spec["column"]]
    want = spec["values"]
    if pd.api.types.is_datetime64_any_dtype(got):
        want = pd.to_datetime(want).tolist()
    assert got.tolist() == want


@pytest.mark.parametrize("case", _params())
def test_case(case: dict[str, Any], good: Workbook) -> None:
    expect = case["expect"]
    try:
        result = run(case, good)
    except Exception as exc:  # noqa: BLE001 - the point is to see what escapes
        assert isinstance(exc, SalesnbError), (
            f"{type(exc).__module__}.{type(exc).__name__} escaped: {exc}"
        )
        assert expect == "error", f"unexpected {type(exc).__name__}: {exc}"
        assert type(exc).__name__ == case.get("exception", "DataValidationError"), repr(exc)
        assert_clean(str(exc))
        if isinstance(exc, DataValidationError):
            assert len(exc.problems) == case.get("errors", 1), str(exc)
            p = find(exc.problems, case)
            check_problem(p, case)
            assert str(p) in str(exc)  # the exception's message lists it in full
        else:
            for part in case.get("contains", ()):
                assert part in str(exc), f"{part!r} not in {exc}"
            fix = str(exc).partition("Fix: ")[2]
            assert case["fix"] in fix, f"fix {case['fix']!r} not in {exc}"
        return
    assert expect != "error", f"no error; expected {case.get('code') or case.get('exception')}"
    if case.get("call", "load") != "load":
        return
    wb = result
    if expect == "ok":
        assert wb.warnings == [], [str(w) for w in wb.warnings]
    else:
        assert len(wb.warnings) == 1, [str(w) for w in wb.warnings]
        check_problem(find(wb.warnings, case), case)
        assert wb.warnings[0].severity == "warning"
    check_values(wb, case)


def test_good_folder_loads_cleanly(good: Workbook) -> None:
    """The base every case breaks is itself valid: each case fails for its own reason."""
    assert good.warnings == []
    assert (len(good.reps), len(good.opportunities), len(good.targets)) == (3, 5, 3)
    # 12000 + 8000.5 + 15000 + 22000 + 7000 = 64000.5
    assert good.opportunities["amount"].sum() == 64000.5


def test_manifest_covers_the_corpus() -> None:
    folders = {p.name for p in HERE.iterdir() if p.is_dir() and not p.name.startswith("_")}
    used = {
        c.get("path", c["name"]).split("/")[0] for c in CASES if c.get("call", "load") == "load"
    }
    assert folders <= used, f"folders without a case: {sorted(folders - used)}"
    assert used <= folders | {"_good"}, f"cases without a folder: {sorted(used - folders)}"
    assert len(BY_NAME) == len(CASES), "case names must be unique"
    assert len(folders) >= 30
    known = {name for name in dir(errors) if name.endswith("Error")}
    for c in CASES:
        assert c["expect"] in ("error", "warning", "ok"), c["name"]
        assert c.get("exception", "DataValidationError") in known, c["name"]
        if (
            c.get("exception", "DataValidationError") == "DataValidationError"
            and c["expect"] != "ok"
        ):
            assert {"code", "file", "fix"} <= set(c), f"{c['name']}: code, file, fix needed"


def test_small_files() -> None:
    """The corpus stays small: no file over 8 KB (the .xlsx files are about 5.5 KB)."""
    big = [
        p
        for p in HERE.rglob("*")
        if p.is_file() and p.name != "cases.toml" and p.stat().st_size > 8192
    ]
    assert not big, big


# --------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize(
    ("name", "code", "needle"),
    [
        ("opps_missing_amount", 1, "column 'amount': Required column 'amount' is missing."),
        ("dayfirst_dates", 1, "line 3, column 'close_date'"),
        ("truncated_file", 1, "line 6: The last line is cut short"),
        ("salesforce_dayfirst_dates", 1, "lines 2, 3, 4, column 'Close Date'"),
        ("bad_salesnb_toml", 1, "not valid TOML"),
        ("latin1", 0, "warning: "),
    ],
)
def test_cli_validate(name: str, code: int, needle: str) -> None:
    case = BY_NAME[name]
    cmd = [sys.executable, "-m", "salesnb.cli", "validate", str(HERE / case.get("path", name))]
    if "profile" in case:
        cmd += ["--profile", case["profile"]]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, out
    assert needle in out, out
    assert "Traceback" not in out, out
    if code:
        assert "error: " in out and "Fix: " in out, out

"""Parameter validation: every mistake is one clear ParameterError before anything runs."""

from __future__ import annotations

import ast
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from salesnb.batch import params as P
from salesnb.core.errors import ParameterError

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "tests" / "notebooks"
DATA = ROOT / "tests" / "data" / "batch"


def test_parameters_are_read_with_their_defaults():
    spec = P.notebook_parameters(NB / "ok.ipynb")
    assert list(spec)[:6] == ["data", "profile", "subject_type", "subject", "period", "as_of"]
    assert spec["subject"].default == "R01" and spec["subject"].type_name == "str"
    assert spec["scale"].default == 1.0 and spec["scale"].type_name == "float"
    assert spec["period"].default is None and spec["period"].type_name == "any"


def test_a_notebook_without_a_parameters_cell_is_refused():
    with pytest.raises(ParameterError, match="no cell tagged 'parameters'"):
        P.notebook_parameters(NB / "no_parameters.ipynb")


def test_cli_values_take_the_type_of_the_default():
    spec = P.notebook_parameters(NB / "ok.ipynb")
    got = P.parse_cli(["scale=2", "fail_for=007", "period=FY2026-Q3", "as_of=None"], spec)
    # scale's default 1.0 is a float, so "2" -> 2.0; fail_for's default is text, so "007" stays
    assert got == {"scale": 2.0, "fail_for": "007", "period": "FY2026-Q3", "as_of": None}
    assert type(got["scale"]) is float
    with pytest.raises(ParameterError, match="scale"):
        P.parse_cli(["scale=lots"], spec)
    with pytest.raises(ParameterError, match="name=value"):
        P.parse_cli(["scale"], spec)


def test_unknown_name_suggests_the_closest():
    spec = P.notebook_parameters(NB / "ok.ipynb")
    with pytest.raises(ParameterError, match=r"Unknown parameter 'scael'.*did you mean 'scale'"):
        P.validate({"scael": 2.0}, spec)


def test_wrong_type_and_reserved_names_are_reported_together():
    spec = P.notebook_parameters(NB / "ok.ipynb")
    with pytest.raises(ParameterError) as err:
        P.validate({"scale": "big", "subject": "R02"}, spec)
    text = str(err.value)
    assert "'scale' = 'big' is a str, but its default 1.0 is a float" in text
    assert "'subject' is set by the batch" in text
    # an int is fine where the default is a float; a bool is not an int
    assert P.validate({"scale": 2}, spec) == {"scale": 2}
    with pytest.raises(ParameterError):
        P.validate({"scale": True}, spec)


def test_params_files(tmp_path):
    (tmp_path / "p.json").write_text('{"scale": 3.5}')
    (tmp_path / "p.toml").write_text('scale = 2.5\nfail_for = "R02"\n')
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert P.load_file(tmp_path / "p.json") == {"scale": 3.5}
    assert P.load_file(tmp_path / "p.toml") == {"scale": 2.5, "fail_for": "R02"}
    with pytest.raises(ParameterError, match="not a mapping"):
        P.load_file(tmp_path / "bad.json")
    with pytest.raises(ParameterError, match="Cannot read"):
        P.load_file(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"params": {"scael": 1.0}}, "did you mean 'scale'"),
        ({"params": {"scale": "x"}}, "is a str, but its default"),
        ({"only": ["R99"]}, r"Unknown rep 'R99'"),
        ({"params": {"as_of": "2030-01-01"}}, "after the data's as-of date"),
        ({"formats": ("docx",)}, "Unknown format"),
        ({"engine": "warp"}, r"Unknown engine 'warp'.*'papermill'"),
    ],
)
def test_batch_validates_before_running_anything(tmp_path, kwargs, pattern):
    from salesnb.batch import documents as batch

    out = tmp_path / "out"
    with pytest.raises(ParameterError, match=pattern):
        batch.run(NB / "ok.ipynb", data=DATA, out=out, progress=False, **kwargs)
    assert not out.exists()  # nothing executed, nothing written


def test_cli_exits_2_with_one_line_and_no_traceback(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "salesnb.cli",
            "batch",
            str(NB / "ok.ipynb"),
            "--data",
            str(DATA),
            "--out",
            str(out),
            "--param",
            "sclae=2",
            "--no-progress",
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "did you mean 'scale'" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


# --- notebook_parameters reads the .ipynb itself, the way papermill.inspect_notebook does ---

NOTEBOOKS = sorted([*(ROOT / "notebooks").rglob("*.ipynb"), *NB.glob("*.ipynb")])

TRICKY_CELL = """\
# Parameters: everything below is typed from its default
first_annotated: int
data = None  # folder of CSVs
x: int = 3  # help text
ratio: "float" = 0.5
period: Optional[str] = None  # type: str
tag = "a#b"  # a string holding a hash
plain = 'no # help'
stages = [
    "Prospect",  # first
    "Closed",
]  # the stages
weights = {
    "a": 1,

    # a comment line inside the dict
    "b": 2.5,
}
expr = datetime.date(2026, 1, 1)  # not a literal
glued: int
since = None  # type: str
url = "https://x?a=b"
last = 'end'   #   trailing help   """


def _write_nb(folder: Path, source: str | list[str], *, tag: str = "parameters") -> Path:
    """Write a minimal nbformat-4 notebook whose first code cell is tagged ``tag``."""
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "id": "p0",
        "metadata": {"tags": [tag]},
        "outputs": [],
        "source": source,
    }
    nb = {
        "cells": [cell],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = folder / "nb.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def _via_papermill(path: Path) -> dict[str, P.NotebookParameter]:
    """What the former ``notebook_parameters`` built from ``papermill.inspect_notebook``."""
    import papermill

    out = {}
    for name, info in papermill.inspect_notebook(str(path)).items():
        try:
            default, literal = ast.literal_eval(info["default"]), True
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            default, literal = info["default"], False
        out[name] = P.NotebookParameter(name, default, literal, info.get("help") or "")
    return out


def _same(got: dict[str, P.NotebookParameter], want: dict[str, P.NotebookParameter]) -> None:
    assert list(got) == list(want)
    for name, p in want.items():
        q = got[name]
        assert (q.name, q.literal, q.help) == (p.name, p.literal, p.help), name
        assert repr(q.default) == repr(p.default), name  # repr: also compares NaN and types


def test_project_notebooks_are_found():
    assert len(NOTEBOOKS) >= 10 and (ROOT / "notebooks" / "pipeline_review.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_parameters_match_papermill_for_every_notebook(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    if not any("parameters" in c["metadata"].get("tags", []) for c in cells):
        with pytest.raises(ParameterError, match="no cell tagged 'parameters'"):
            P.notebook_parameters(path)  # as before: papermill would have said {}
        return
    _same(P.notebook_parameters(path), _via_papermill(path))


@pytest.mark.parametrize("as_list", [False, True], ids=["string", "list"])
def test_tricky_parameters_cell_matches_papermill(tmp_path, as_list, caplog):
    source = TRICKY_CELL.splitlines(keepends=True) if as_list else TRICKY_CELL
    path = _write_nb(tmp_path, source)
    with caplog.at_level(logging.WARNING, logger="salesnb.batch.params"):
        spec = P.notebook_parameters(path)
    _same(spec, _via_papermill(path))
    assert "Unable to parse line" in caplog.text  # url = "https://x?a=b" has two '='
    assert spec["x"] == P.NotebookParameter("x", 3, True, "help text")
    assert spec["ratio"].default == 0.5 and spec["period"].help == ""
    assert spec["tag"] == P.NotebookParameter("tag", '"a', False, 'b"  # a string holding a hash')
    assert spec["stages"] == P.NotebookParameter(
        "stages", ["Prospect", "Closed"], True, "the stages"
    )
    assert spec["weights"].default == {"a": 1, "b": 2.5}
    # an annotation-only line is dropped, or glued to the definition above it (as papermill does)
    assert "first_annotated" not in spec and "glued" not in spec
    assert spec["expr"] == P.NotebookParameter(
        "expr", "datetime.date(2026, 1, 1)glued: int", False, ""
    )
    assert spec["last"].help == "trailing help"
    assert "url" not in spec


def test_type_names_match_papermill(tmp_path):
    from papermill.inspection import _infer_parameters
    from papermill.iorw import load_notebook_node

    path = _write_nb(tmp_path, TRICKY_CELL)
    want = [tuple(p) for p in _infer_parameters(load_notebook_node(str(path)))]
    assert P._inspect_source(TRICKY_CELL) == want
    types = {name: kind for name, kind, _, _ in want}
    assert types["x"] == "int" and types["ratio"] == "float" and types["since"] == "str"
    assert types["period"] == "Optional[str]" and types["tag"] == "None"


def test_only_the_first_tagged_cell_is_read(tmp_path):
    path = _write_nb(tmp_path, "a = 1\n")
    nb = json.loads(path.read_text())
    nb["cells"].append({**nb["cells"][0], "id": "p1", "source": "b = 2\n"})
    path.write_text(json.dumps(nb))
    assert list(P.notebook_parameters(path)) == ["a"] == list(_via_papermill(path))


def test_an_untagged_notebook_is_refused(tmp_path):
    path = _write_nb(tmp_path, "a = 1\n", tag="setup")
    with pytest.raises(ParameterError, match=r"no cell tagged 'parameters'\. Fix: tag the cell"):
        P.notebook_parameters(path)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"cells": [', "Expecting"),
        ("[1, 2]", "not a Jupyter notebook"),
        ('{"cells": [], "nbformat": 3}', "nbformat 3"),
    ],
)
def test_an_unreadable_notebook_names_the_file_and_the_fix(tmp_path, text, why):
    path = tmp_path / "broken.ipynb"
    path.write_text(text)
    with pytest.raises(ParameterError) as err:
        P.notebook_parameters(path)
    msg = str(err.value)
    assert f"Cannot read notebook {str(path)!r}" in msg and why in msg
    assert msg.endswith("Fix: pass a valid .ipynb file.")
    with pytest.raises(ParameterError, match="Cannot read notebook .*missing.ipynb"):
        P.notebook_parameters(tmp_path / "missing.ipynb")


def test_reading_parameters_imports_neither_papermill_nor_nbformat():
    code = (
        "import sys, salesnb.batch.params as p; "
        "spec = p.notebook_parameters('notebooks/pipeline_review.ipynb'); "
        "assert spec, spec; "
        "assert 'papermill' not in sys.modules and 'nbformat' not in sys.modules, "
        "sorted(m for m in sys.modules if m.startswith(('papermill', 'nbformat')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


# --- rules a notebook declares (metadata.salesnb.parameters), checked before anything runs ---


def _nb_with_rules(folder: Path, rules: dict, source: str = "n = 3\nrate = 0.1\nday = None\n"):
    path = _write_nb(folder, source)
    nb = json.loads(path.read_text())
    nb["metadata"]["salesnb"] = {"parameters": rules}
    path.write_text(json.dumps(nb))
    return path


RULES = {
    "n": {"type": "int", "min": 2, "max": 4},
    "rate": {"type": "float", "min": -0.5, "max": 1},
    "day": {"type": "date", "not_after": "as_of"},
}


def test_declared_rules_are_read_and_described(tmp_path):
    spec = P.notebook_parameters(_nb_with_rules(tmp_path, RULES))
    assert spec["n"].rule == P.Rule("int", 2, 4, nullable=False)
    assert spec["day"].rule == P.Rule("date", nullable=True, not_after="as_of")
    assert spec["n"].rule.describe() == "a whole number from 2 to 4"
    assert spec["rate"].rule.describe() == "a finite number from -0.5 to 1"
    assert (
        spec["day"].rule.describe() == "a date as YYYY-MM-DD on or before the as-of date, or None"
    )
    assert spec["n"].type_name == "int" and spec["day"].type_name == "date"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (2, True),
        (4, True),
        (1, False),
        (5, False),
        (99, False),
        (3.0, False),  # a whole number is an int
        (True, False),  # a bool is not a number here
        (None, False),  # the default is 3, not None
    ],
)
def test_an_int_rule_takes_whole_numbers_in_its_range(tmp_path, value, ok):
    spec = P.notebook_parameters(_nb_with_rules(tmp_path, RULES))
    if ok:
        assert P.validate({"n": value}, spec) == {"n": value}
        return
    with pytest.raises(ParameterError) as err:
        P.validate({"n": value}, spec)
    assert str(err.value) == (
        f"Parameter 'n' = {value!r} is not allowed: n takes a whole number from 2 to 4. "
        "Fix: change it, or leave it out for the default 3."
    )


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 1.5, -0.51])
def test_numbers_that_are_not_finite_or_out_of_range_are_refused(tmp_path, value):
    spec = P.notebook_parameters(_nb_with_rules(tmp_path, RULES))
    with pytest.raises(ParameterError, match=r"'rate' = .* a finite number from -0.5 to 1"):
        P.validate({"rate": value}, spec)
    assert P.validate({"rate": -0.5}, spec) == {"rate": -0.5}


def test_a_float_parameter_without_a_rule_refuses_nan_too():
    spec = P.notebook_parameters(NB / "ok.ipynb")  # scale = 1.0, no rules declared
    with pytest.raises(ParameterError, match=r"'scale' = nan is not allowed: scale takes a finite"):
        P.validate({"scale": float("nan")}, spec)
    with pytest.raises(ParameterError, match="'scale' = inf"):
        P.parse_cli(["scale=inf"], spec)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2026-07-01", True),
        ("2026-07-01T10:00", True),
        (__import__("datetime").date(2026, 7, 1), True),
        ("yesterday", False),
        ("today", False),
        ("2026-13-01", False),
        ("01/07/2026", False),
        ("9999-12-31", False),  # beyond what pandas can hold
        ("2026-07-01T10:00+02:00", False),  # a UTC offset
        (20260701, False),
    ],
)
def test_a_date_rule_takes_iso_dates_only(tmp_path, value, ok):
    spec = P.notebook_parameters(_nb_with_rules(tmp_path, RULES))
    if ok:
        # text stays as given; a date object (from a TOML params file) becomes the text a
        # notebook reads (papermill would write it into the parameters cell unquoted)
        want = value if isinstance(value, str) else "2026-07-01"
        assert P.validate({"day": value}, spec) == {"day": want}
        return
    with pytest.raises(
        ParameterError, match=r"'day' = .* is not allowed: day takes a date as YYYY-MM-DD"
    ):
        P.validate({"day": value}, spec)


def test_dates_after_the_as_of_date_are_refused(tmp_path):
    spec = P.notebook_parameters(_nb_with_rules(tmp_path, RULES))
    P.check_as_of({"day": "2026-09-30"}, spec, "2026-09-30")  # the as-of date itself is fine
    P.check_as_of({"day": None}, spec, "2026-09-30")
    with pytest.raises(ParameterError) as err:
        P.check_as_of({"day": "2026-10-01"}, spec, __import__("pandas").Timestamp("2026-09-30"))
    assert str(err.value).startswith(
        "Parameter 'day' = '2026-10-01' is after the as-of date 2026-09-30: day takes a date"
    )


def test_choices(tmp_path):
    rules = {"how": {"choices": ["history", "even"]}}
    spec = P.notebook_parameters(_nb_with_rules(tmp_path, rules, 'how = "history"\n'))
    assert P.validate({"how": "even"}, spec) == {"how": "even"}
    with pytest.raises(
        ParameterError, match=r"'how' = 'random' .* takes one of 'history', 'even'\."
    ):
        P.validate({"how": "random"}, spec)


def test_every_bad_parameter_gets_its_own_line(tmp_path):
    spec = P.notebook_parameters(_nb_with_rules(tmp_path, RULES))
    with pytest.raises(ParameterError) as err:
        P.validate({"n": 99, "rate": float("nan"), "day": "yesterday", "nn": 1}, spec, notebook="x")
    lines = str(err.value).splitlines()
    assert lines[0] == "4 problems with the parameters of x:"
    assert [ln.split("'")[1] for ln in lines[1:]] == ["n", "rate", "day", "nn"]
    assert all(ln.startswith("  - ") and "Fix:" in ln for ln in lines[1:])
    # parse_cli too reports every malformed or disallowed value at once
    with pytest.raises(ParameterError) as err:
        P.parse_cli(["n=lots", "rate=nan", "day=yesterday"], spec)
    assert len(str(err.value).splitlines()) == 4
    assert "--param n='lots': the value is not a whole number from 2 to 4" in str(err.value)


@pytest.mark.parametrize(
    ("rules", "why"),
    [
        ({"nope": {"type": "int"}}, "declares 'nope'"),
        ({"n": {"type": "integer"}}, "unknown type 'integer'"),
        ({"n": {"minimum": 1}}, "unknown key(s) ['minimum']"),
        ({"day": {"type": "date", "not_after": "today"}}, "not_after 'today'"),
        ({"n": {"min": "2"}}, "min and max must be numbers"),
        ({"n": 3}, "the rule is not a mapping"),
        ([1], "is not a mapping"),
    ],
)
def test_a_notebook_with_wrong_rules_is_refused_naming_them(tmp_path, rules, why):
    with pytest.raises(ParameterError) as err:
        P.notebook_parameters(_nb_with_rules(tmp_path, rules))
    assert "metadata.salesnb.parameters" in str(err.value) and why in str(err.value)


def test_the_project_notebooks_declare_rules_for_their_own_parameters():
    pip = P.notebook_parameters(ROOT / "notebooks" / "performance_improvement_plan.ipynb")
    assert pip["n_goals"].rule == P.Rule("int", 2, 4, nullable=False)
    assert pip["plan_start"].rule.not_after == "as_of"
    goal = P.notebook_parameters(ROOT / "notebooks" / "goal_setting.ipynb")
    assert goal["split_method"].rule.choices == ("history", "capacity", "even")
    assert goal["growth"].rule.type == "float"
    assert (
        P.notebook_parameters(ROOT / "notebooks" / "one_on_one.ipynb")["since"].rule.type == "date"
    )
    review = P.notebook_parameters(ROOT / "notebooks" / "pipeline_review.ipynb")
    assert review["compare_to"].rule.not_after == "as_of"
    # every default is allowed by its own rule
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        spec = P.notebook_parameters(path)
        defaults = {n: p.default for n, p in spec.items() if n not in P.RESERVED}
        assert P.validate(defaults, spec) == defaults, path.name


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "salesnb.cli", "batch", *args, "--no-progress"],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("notebook", "params", "lines"),
    [
        (
            "performance_improvement_plan",
            ["n_goals=99"],
            ["Parameter 'n_goals' = 99 is not allowed: n_goals takes a whole number from 2 to 4."],
        ),
        (
            "goal_setting",
            ["growth=nan", "split_method=random", "annual_target=-5"],
            [
                "3 problems with the --param values for goal_setting.ipynb:",
                "Parameter 'growth' = nan is not allowed: growth takes a finite number from -0.9 to 10.",
                (
                    "Parameter 'split_method' = 'random' is not allowed: split_method takes one of "
                    "'history', 'capacity', 'even'."
                ),
                (
                    "Parameter 'annual_target' = -5 is not allowed: annual_target takes a finite number "
                    "from 1 to 1e+12, or None."
                ),
            ],
        ),
        (
            "pipeline_review",
            ["compare_to=yesterday"],
            [
                (
                    "Parameter 'compare_to' = 'yesterday' is not allowed: compare_to takes a date as "
                    "YYYY-MM-DD on or before the as-of date, or None."
                )
            ],
        ),
        (
            "one_on_one",
            ["since=2099-01-01"],
            ["Parameter 'since' = '2099-01-01' is after the as-of date 2026-09-30"],
        ),
    ],
)
def test_cli_refuses_bad_notebook_parameters_before_anything_runs(
    tmp_path, notebook, params, lines
):
    out = tmp_path / "out"
    args = [notebook, "--data", "data/sample", "--out", str(out), "--only", "R01,R02"]
    proc = _cli(*args, *(a for p in params for a in ("--param", p)))
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr and "Exception in thread" not in proc.stderr
    assert proc.stderr.startswith("error: ")
    for line in lines:
        assert line in proc.stderr, proc.stderr
    # one line per bad parameter (plus the heading when there are several)
    assert len(proc.stderr.strip().splitlines()) == (1 if len(params) == 1 else len(params) + 1)
    assert not out.exists()  # nothing ran, nothing written

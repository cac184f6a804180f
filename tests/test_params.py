"""Parameter validation: every mistake is one clear ParameterError before anything runs."""

from __future__ import annotations

import ast
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from salesnb import params as P
from salesnb.errors import ParameterError

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
    from salesnb import batch

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
    with caplog.at_level(logging.WARNING, logger="salesnb.params"):
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
        "import sys, salesnb.params as p; "
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

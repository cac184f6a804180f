"""Parameter validation: every mistake is one clear ParameterError before anything runs."""

from __future__ import annotations

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

"""The project's own hygiene: dependency lists agree, notebooks carry no outputs, ruff is clean."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[;]", spec, maxsplit=1)[0].strip().lower().replace("_", "-")


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next((d["pip"] for d in env["dependencies"] if isinstance(d, dict)), [])
    conda += [d for d in pip if not d.startswith("-")]
    conda = {_name(d): d.replace(" ", "") for d in conda if _name(d) not in {"python", "pip"}}
    # the conda environment has every optional feature: required + each extra but ``test``
    extras = project["optional-dependencies"]
    wanted = list(project["dependencies"])
    for name, specs in extras.items():
        if name not in ("test", "all"):
            wanted += specs
    pyproj = {_name(d): d.replace(" ", "") for d in wanted}
    assert set(conda) == set(pyproj), (
        f"only in environment.yml: {sorted(set(conda) - set(pyproj))}; "
        f"only in pyproject.toml: {sorted(set(pyproj) - set(conda))}"
    )
    for name, spec in pyproj.items():
        assert conda[name] == spec, (
            f"{name}: pyproject says {spec!r}, environment.yml {conda[name]!r}"
        )
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert project["requires-python"] == ">=" + python.split("=")[1]


def test_extra_all_names_every_feature_extra():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    features = sorted(set(extras) - {"test", "all"})
    assert extras["all"] == [f"salesnb[{','.join(features)}]"]


def _notebooks() -> list[Path]:
    # tests/fidelity/notebooks are nbclient's and papermill's own test notebooks, vendored
    # unchanged (some carry outputs on purpose, e.g. for report mode and clear_output)
    vendored = ROOT / "tests" / "fidelity" / "notebooks"
    ours = [p for p in (ROOT / "tests").rglob("*.ipynb") if vendored not in p.parents]
    return sorted((ROOT / "notebooks").rglob("*.ipynb")) + sorted(ours)


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_notebooks_have_no_outputs(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [
        i
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    res = subprocess.run(
        [ruff, "check", "salesnb", "tests", "bench", "dev.py"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run(
        [ruff, "format", "--check", "salesnb", "tests", "bench", "dev.py"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, "run `ruff format`:\n" + res.stdout + res.stderr


def test_tree_has_no_generated_files():
    tracked = subprocess.run(
        ["git", "ls-files"], check=False, cwd=ROOT, capture_output=True, text=True
    ).stdout
    if not tracked:
        pytest.skip("not a git checkout")
    bad = [
        p
        for p in tracked.splitlines()
        if re.search(r"(__pycache__|\.pyc$|\.ipynb_checkpoints|^reports/|\.egg-info)", p)
    ]
    assert not bad, f"generated files are tracked: {bad}"

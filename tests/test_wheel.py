"""The installed wheel works outside the checkout: workbooks, templates and the CLI ship.

Builds the wheel from a copy of the tracked files, installs it into a fresh virtual
environment in a temporary folder (the dependencies come from this environment through a
``.pth`` file, so nothing is downloaded but setuptools for the build), and there runs
``salesnb init`` and ``salesnb batch pipeline_review`` on a copy of the sample data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
#: No PYTHONPATH: the checkout (or a test's own path entries) must not stand in for the wheel.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def _run(cmd: list, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("check", False)
    kw.setdefault("env", CLEAN_ENV)
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)  # noqa: PLW1510


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("wheel")
    src, dist, env = base / "src", base / "dist", base / "venv"
    files = _run(["git", "ls-files", "-z"], cwd=ROOT, check=True).stdout.split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    proc = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, src], timeout=600
    )
    if proc.returncode != 0:
        if "No matching distribution" in proc.stderr or "Could not find" in proc.stderr:
            pytest.skip("the build backend (setuptools>=77) cannot be downloaded here")
        pytest.fail("pip wheel failed:\n" + proc.stdout + proc.stderr)
    (wheel,) = dist.glob("salesnb-*.whl")
    venv.create(env, with_pip=False)
    bindir = env / ("Scripts" if os.name == "nt" else "bin")
    py = bindir / "python"
    purelib = _run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], check=True
    ).stdout.strip()
    proc = _run(
        [sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "-q", wheel],
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert list(Path(purelib).glob("salesnb-*.dist-info")), "the wheel was not installed"
    # the dependencies: this environment's site-packages, after the venv's own (written after
    # the install: pip would otherwise see this environment's salesnb and touch it)
    Path(purelib, "deps-from-test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    environ = dict(CLEAN_ENV)
    environ["PATH"] = str(bindir) + os.pathsep + environ.get("PATH", "")
    environ["SALESNB_CACHE"] = str(base / "cache")
    # the dependencies' data files (nbconvert's templates, kernel specs) are in this
    # environment's prefix, which a real install would share with the venv
    environ["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    work = base / "work"
    work.mkdir()
    return {"py": py, "bin": bindir, "env": environ, "work": work, "wheel": wheel}


def test_the_wheel_carries_workbooks_templates_and_package_data(installed):
    import zipfile

    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    for must in (
        "salesnb/notebooks/pipeline_review.ipynb",
        "salesnb/notebooks/workshop/reverse_funnel.ipynb",
        "salesnb/templates/batch_index.html.j2",
        "salesnb/templates/review/index.html.j2",
        "salesnb/data/defaults.toml",
        "salesnb/data/profiles/canonical.toml",
        "salesnb/analytics/coaching_rules.toml",
    ):
        assert must in names, must
    assert not [n for n in names if n.startswith(("tests/", "bench/", "docs/"))]


def test_the_installed_package_is_the_wheel_not_the_checkout(installed):
    proc = _run(
        [installed["py"], "-c", "import salesnb; print(salesnb.__file__)"],
        cwd=installed["work"],
        env=installed["env"],
        check=True,
    )
    where = Path(proc.stdout.strip()).resolve()
    assert ROOT not in where.parents and "site-packages" in where.parts, where


def test_init_and_a_batch_run_from_the_installed_wheel(installed):
    work, env = installed["work"], installed["env"]
    salesnb = installed["bin"] / "salesnb"
    proc = _run([salesnb, "init", work / "team"], cwd=work, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (work / "team" / "notebooks" / "pipeline_review.ipynb").is_file()
    assert (work / "team" / "notebooks" / "workshop" / "reverse_funnel.ipynb").is_file()
    assert (work / "team" / "data" / "salesnb.toml").is_file()
    header = (work / "team" / "data" / "reps.csv").read_text().strip()
    assert header.startswith("rep_id,name")

    data = work / "sample"
    shutil.copytree(ROOT / "data" / "sample", data)
    out = work / "out"
    proc = _run(
        [salesnb, "batch", "pipeline_review", "--data", data, "--out", out,
         "--only", "R01", "--only", "R02", "--workers", "2", "--no-progress"],
        cwd=work, env=env, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["summary"]["ok"] == 2, manifest["summary"]
    for s in manifest["subjects"]:
        html = out / s["outputs"]["html"]["path"]
        assert html.stat().st_size > 10_000
        assert "Pipeline review" in html.read_text(encoding="utf-8")
    assert (out / "index.html").is_file()

    proc = _run([installed["py"], "-m", "salesnb", "--version"], cwd=work, env=env, check=True)
    assert "salesnb" in proc.stdout

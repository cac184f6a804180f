#!/usr/bin/env python3
"""Set up salesnb in this clone and run its main job or its test suite.

    python3 dev.py up     # venv + dependencies + system tools, then the main job on the sample data
    python3 dev.py test   # the same set-up (fast when already done), then the whole test suite
    python3 dev.py screenshots   # the same set-up, then docs/screenshots/*.png made again

Needs only Python 3.11+. Everything else is installed into ./.venv; Debian
packages the tests drive for real (chromium for PDF and browser tests,
and the like) are installed with apt-get when running
as root, otherwise the command says what to install.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
# Debian package -> a command that proves it is installed
SYSTEM_PACKAGES = {
    "chromium": "chromium",
    "postgresql": "/usr/lib/postgresql",
    "poppler-utils": "pdftotext",
}


def run(cmd: list[str], **kw) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def _stamp() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_venv() -> None:
    stamp = VENV / ".salesnb-installed"
    if stamp.is_file() and stamp.read_text() == _stamp() and PY.exists():
        return
    if not PY.exists():
        print(f"+ creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    run([PY, "-m", "pip", "install", "-q", "--upgrade", "pip"])
    run([PY, "-m", "pip", "install", "-q", "-e", f"{ROOT}[all,test]"])
    stamp.write_text(_stamp())


def compile_package() -> None:
    """Byte-compile salesnb as pip does for a regular install (an editable one is not).

    Where PYTHONDONTWRITEBYTECODE is set (CI images, containers) Python never saves what it
    compiles, and every process of a batch (and every papermill kernel) compiled salesnb's
    modules again: about 60 ms on a batch's critical path. Stale files are recompiled as usual.
    """
    subprocess.run([str(PY), "-m", "compileall", "-q", str(ROOT / "salesnb")], check=False)


def _missing_system_packages() -> list[str]:
    missing = []
    for pkg, probe in SYSTEM_PACKAGES.items():
        found = Path(probe).exists() if probe.startswith("/") else shutil.which(probe)
        if not found:
            missing.append(pkg)
    return missing


def ensure_system_packages() -> None:
    missing = _missing_system_packages()
    if not missing:
        return
    can_apt = shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0
    if not can_apt:
        sys.exit(
            "salesnb's tests drive these programs for real and they are missing: "
            + ", ".join(missing)
            + ". Install them (Debian/Ubuntu: sudo apt-get install -y "
            + " ".join(missing)
            + ") and run this command again."
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-qq"], env=env)
    run(
        [
            "apt-get",
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            *missing,
            "fonts-dejavu-core",
        ],
        env=env,
    )


def up() -> int:
    ensure_venv()
    compile_package()
    out = ROOT / "reports" / "sample"
    cmd = [
        BIN / "salesnb",
        "batch",
        "pipeline_review",
        "--by",
        "rep",
        "--data",
        ROOT / "data" / "sample",
    ]
    code = subprocess.run([str(c) for c in [*cmd, "--out", out]], check=False, cwd=ROOT).returncode
    print(f"\nreview documents: {out / 'index.html'}" if code == 0 else f"\nbatch exit code {code}")
    return code


def test(extra: list[str]) -> int:
    ensure_venv()
    compile_package()
    ensure_system_packages()
    cmd = [PY, "-m", "pytest", "-n", os.environ.get("SALESNB_TEST_WORKERS", "2"), *extra]
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run([str(c) for c in cmd], check=False, cwd=ROOT).returncode


def screenshots(extra: list[str]) -> int:
    """The README's and docs/workbooks.md's screenshots, made again (bench/screenshots.py)."""
    ensure_venv()
    compile_package()
    ensure_system_packages()
    cmd = [PY, ROOT / "bench" / "screenshots.py", *extra]
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run([str(c) for c in cmd], check=False, cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"up", "test", "screenshots"}:
        print(__doc__)
        return 2
    if argv[0] == "up":
        return up()
    if argv[0] == "screenshots":
        return screenshots(argv[1:])
    return test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

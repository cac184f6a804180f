"""kill -9 at random points: no partial document, a valid manifest, and --resume finishes.

``salesnb batch`` (the CLI, default engine) runs the pipeline review for four sample reps and
is killed with SIGKILL after seeded random delays, four times, each restart with ``--resume``.
After every kill: every file under a final name is complete and equals the document of an
uninterrupted run; the manifest is valid JSON and every subject it marks ok has its outputs
on disk with the recorded hashes (so the index never links to a missing or partial file);
no process of the killed batch survives it; the next run can take the folder's lock. A last
``--resume`` completes the rest, and the folder then equals an uninterrupted run's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from builds import build_once

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
REPS = ("R01", "R07", "R16", "R28")  # a tenured rep, the star, a new hire, an empty pipeline
SEED = 20261122
KILLS = 4

pytestmark = pytest.mark.slow


def batch_cmd(out: Path, *extra: str) -> list[str]:
    only = [a for rep in REPS for a in ("--only", rep)]
    return [sys.executable, "-m", "salesnb.cli", "batch", "pipeline_review", "--data",
            str(SAMPLE), "--out", str(out), "--no-progress", *only, *extra]  # fmt: skip


def normalised(path: Path) -> object:
    """A document's content without run timestamps and durations (HTML holds none)."""
    if path.suffix == ".html":
        return path.read_text(encoding="utf-8")
    nb = json.loads(path.read_text(encoding="utf-8"))
    nb["metadata"].pop("papermill", None)
    for cell in nb["cells"]:
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
    return nb


class _Html(HTMLParser):
    def __init__(self, text: str):
        super().__init__()
        self.tags: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


def check_complete(path: Path) -> None:
    """A file under a final name is whole: HTML parses and ends, notebooks validate."""
    if path.suffix == ".html":
        text = path.read_text(encoding="utf-8")
        assert text.rstrip().endswith("</html>"), f"{path.name} is cut off"
        assert {"html", "body"} <= set(_Html(text).tags), path.name
    elif path.suffix == ".ipynb":
        nbformat.validate(nbformat.read(path, as_version=4))
    elif path.suffix == ".json":
        json.loads(path.read_text(encoding="utf-8"))


def group_alive(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(stat.parent.name))
    return live


def stop_group(pgid: int, wait: float = 20.0) -> list[int]:
    """Wait up to ``wait`` seconds for a killed batch's processes to end by themselves; kill
    whatever is left of its process group and return those pids."""
    deadline = time.monotonic() + wait
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = group_alive(pgid)
    if left:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    return left


@pytest.fixture(scope="session")
def reference(tmp_path_factory) -> Path:
    """The same batch, never interrupted."""

    def build(out: Path) -> None:
        t0 = time.monotonic()
        done = subprocess.run(
            batch_cmd(out / "run"),
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        (out / "seconds").write_text(f"{time.monotonic() - t0:.3f}")

    return build_once(tmp_path_factory, "hardening-crash-reference", build)


def test_sigkill_at_random_points_then_resume_equals_an_uninterrupted_run(reference, tmp_path):
    seconds = float((reference / "seconds").read_text())
    reference = reference / "run"
    ref_docs = {
        p.name: normalised(p) for p in reference.iterdir() if p.suffix in (".html", ".ipynb")
    }
    ref_docs.pop("index.html")
    # The reference may have run while other tests loaded the machine (a batch of four takes
    # about 2 s alone, most of it start-up): time one more uninterrupted run here, in the
    # conditions of the kills, and aim at the quicker of the two.
    t0 = time.monotonic()
    subprocess.run(batch_cmd(tmp_path / "timed"), check=True, cwd=ROOT, capture_output=True,
                   timeout=600)  # fmt: skip
    seconds = min(seconds, time.monotonic() - t0)
    out = tmp_path / "killed"
    rng = random.Random(SEED)
    # Delays are fractions of an uninterrupted run (slow machines scale): early kills land in
    # start-up (engine warm-up, data load), later ones while documents run and are written.
    windows = [(0.05, 0.4), (0.3, 0.8), (0.5, 1.0), (0.6, 1.1)][:KILLS]
    progress = []
    for i, (lo, hi) in enumerate(windows):
        delay = rng.uniform(lo, hi) * seconds
        proc = subprocess.Popen(
            batch_cmd(out, *(["--resume"] if i else [])), cwd=ROOT, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            code = proc.wait(delay)  # finished before the kill: fine, nothing to kill
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            code = proc.wait(30)
        proc.stderr.close()
        stop_group(proc.pid)  # orphans are test_a_killed_batch_leaves_no_process_behind's

        if not out.exists():
            continue
        manifest = None
        if (out / "manifest.json").exists():
            manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        finals = [p for p in out.iterdir() if not p.name.startswith(".")]
        for p in finals:
            check_complete(p)
            if p.name in ref_docs:  # never a stale or different document under a final name
                assert normalised(p) == ref_docs[p.name], f"kill {i}: {p.name} differs"
        if manifest is None:
            assert not [p for p in finals if p.suffix in (".html", ".ipynb")], "docs, no manifest"
            progress.append((round(delay, 2), code, 0))
            continue
        ok = [s for s in manifest["subjects"] if s["status"] == "ok"]
        for s in ok:  # what the manifest (and so the index) calls done is on disk, whole
            for entry in s["outputs"].values():
                data = (out / entry["path"]).read_bytes()
                assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
        assert not [s for s in manifest["subjects"] if s["status"] == "failed"]
        progress.append((round(delay, 2), code, len(ok)))

    done = subprocess.run(
        batch_cmd(out, "--resume"),
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (progress, done.stderr[-2000:])
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["status"] == "complete" and m["summary"]["ok"] == len(REPS), m["summary"]
    assert not list(out.glob(".*.tmp")), "temporary files left behind"
    got = {p.name: normalised(p) for p in out.iterdir() if p.suffix in (".html", ".ipynb")}
    got.pop("index.html")
    assert got.keys() == ref_docs.keys()
    assert got == ref_docs
    ref_m = json.loads((reference / "manifest.json").read_text(encoding="utf-8"))
    heads = {s["key"]: s["headline"] for s in m["subjects"]}
    assert heads == {s["key"]: s["headline"] for s in ref_m["subjects"]}
    # the kills really interrupted work (a run may finish before its delay is up)
    assert [code for _, code, _ in progress].count(-signal.SIGKILL) >= 2, progress


def test_a_killed_batch_leaves_no_process_behind(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        batch_cmd(out), cwd=ROOT, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # kill -9 once the workers run documents
        if len(group_alive(proc.pid)) >= 3 or proc.poll() is not None:
            break
        time.sleep(0.1)
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert stop_group(proc.pid) == []
    # and the next batch can take the folder at once: no survivor holds its lock
    done = subprocess.run(
        batch_cmd(out, "--resume"), check=False, cwd=ROOT, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]

"""The CSV files beside managers' documents always match the documents: a subject that fails
in a re-run loses its old files, one that makes fewer lists loses the ones it no longer
makes, and one skipped by ``--resume`` has its files back, unchanged when they were right."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from salesnb.batch import documents as batch

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "tests" / "notebooks" / "attach.ipynb"  # two CSV files per region: list0, list1
DATA = ROOT / "tests" / "data" / "batch"
EMEA = ["attach-emea-list0.csv", "attach-emea-list1.csv"]
AMERICA = ["attach-north-america-list0.csv", "attach-north-america-list1.csv"]

pytestmark = pytest.mark.slow


def _run(out: Path, **kw) -> dict:
    params = kw.pop("params", {})
    return batch.run(NB, by="region", data=DATA, out=out, workers=1, progress=False,
                     params=params, **kw)  # fmt: skip


def _csvs(out: Path) -> set[str]:
    return {p.name for p in out.glob("*.csv")}


def _entry(m: dict, key: str) -> dict:
    return next(s for s in m["subjects"] if s["key"] == key)


def test_a_subject_that_fails_in_a_rerun_loses_its_old_csv_files(tmp_path):
    out = tmp_path / "out"
    first = _run(out)
    assert first["summary"]["ok"] == 2 and _csvs(out) == {*EMEA, *AMERICA}
    again = _run(out, params={"fail_for": "EMEA", "tag": "second"})
    assert _entry(again, "EMEA")["status"] == "failed"
    # EMEA's document is gone, and so are the lists it linked to; the other region's are new
    assert _csvs(out) == set(AMERICA)
    assert (out / AMERICA[0]).read_text(encoding="utf-8") == "rep,run\nNorth America,second\n"
    assert _entry(again, "EMEA").get("files", []) == []


def test_a_rerun_that_makes_fewer_lists_removes_the_ones_it_no_longer_makes(tmp_path):
    out = tmp_path / "out"
    _run(out)
    m = _run(out, params={"lists": 1})
    assert m["summary"]["ok"] == 2
    assert _csvs(out) == {EMEA[0], AMERICA[0]}
    assert [f["path"] for f in _entry(m, "EMEA")["files"]] == [EMEA[0]]


def test_a_subject_skipped_by_resume_has_its_csv_files_back_and_right(tmp_path):
    out = tmp_path / "out"
    _run(out)
    untouched = out / AMERICA[0]
    before = untouched.stat().st_mtime_ns
    os.utime(untouched, ns=(before - 10**9, before - 10**9))  # a rewrite would show
    (out / EMEA[0]).unlink()  # missing
    (out / EMEA[1]).write_text("rep,run\nEMEA,tampered\n", encoding="utf-8")  # stale
    m = _run(out, resume=True)
    assert m["summary"]["skipped"] == 2  # nothing re-run: the documents are up to date
    assert _csvs(out) == {*EMEA, *AMERICA}
    for name in EMEA:
        assert (out / name).read_text(encoding="utf-8") == "rep,run\nEMEA,first\n"
    assert untouched.stat().st_mtime_ns == before - 10**9  # right already: not rewritten
    saved = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(f["path"] for f in _entry(saved, "EMEA")["files"]) == EMEA


def test_resume_restores_the_files_of_a_manifest_that_did_not_list_them(tmp_path):
    # A folder made before the manifest listed each document's files: they are read from
    # the subject's notebook, written when missing, and listed from then on.
    out = tmp_path / "out"
    _run(out)
    path = out / "manifest.json"
    old = json.loads(path.read_text(encoding="utf-8"))
    for s in old["subjects"]:
        s.pop("files", None)
    path.write_text(json.dumps(old), encoding="utf-8")
    (out / AMERICA[1]).unlink()
    m = _run(out, resume=True)
    assert m["summary"]["skipped"] == 2 and _csvs(out) == {*EMEA, *AMERICA}
    assert sorted(f["path"] for f in _entry(m, "North America")["files"]) == AMERICA
    # and a failure after that still removes them
    _run(out, params={"fail_for": "North America"})
    assert _csvs(out) == set(EMEA)

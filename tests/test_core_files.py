"""salesnb.core.files: atomic writes, the lock, the one cache folder and its bound."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from salesnb.core import files
from salesnb.core.files import LockedError, cache_dir, evict, exclusive_lock


def test_the_lock_is_exclusive_across_processes(tmp_path):
    lock = tmp_path / ".lock"
    code = (
        "import sys, time\n"
        "from salesnb.core.files import exclusive_lock\n"
        f"with exclusive_lock({str(lock)!r}):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(30)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(LockedError), exclusive_lock(lock):
            pass
    finally:
        proc.kill()
        proc.wait()
    with exclusive_lock(lock):  # released when its holder dies
        pass


def test_the_fallback_lock_without_filelock(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "filelock", None)  # as if not installed
    with (
        exclusive_lock(tmp_path / ".lock"),
        pytest.raises(LockedError),
        exclusive_lock(tmp_path / ".lock"),
    ):
        pass


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SALESNB_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("SALESNB_CACHE")
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
        assert cache_dir() == tmp_path / "x" / "salesnb"


def test_evict_removes_the_least_recently_used_files_down_to_the_bound(tmp_path):
    now = time.time()
    for i, name in enumerate(["old", "mid", "new"]):
        p = tmp_path / "sub" / name if name == "mid" else tmp_path / name
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"x" * 100)
        os.utime(p, (now - 300 + 100 * i, now - 300 + 100 * i))
    (tmp_path / ".a.tmp").write_bytes(b"x" * 1000)  # a write in progress: never evicted
    removed = evict(limit=250, folder=tmp_path)  # the .tmp file does not count
    assert [p.name for p in removed] == ["old"]
    assert evict(limit=10_000, folder=tmp_path) == []
    assert sorted(p.name for p in evict(limit=0, folder=tmp_path)) == ["mid", "new"]
    assert (tmp_path / ".a.tmp").exists()


def test_the_bound_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SALESNB_CACHE_MAX_MB", "2")
    assert files.cache_limit() == 2 * 1024 * 1024
    monkeypatch.setenv("SALESNB_CACHE_MAX_MB", "lots")
    assert files.cache_limit() == files.CACHE_MAX_BYTES


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "a.json"
    files.atomic_write(target, b"1")
    files.atomic_write(target, b"2")
    assert target.read_bytes() == b"2"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    assert files.sha256_file(target) == (
        "d4735e3a265e16eee03f59718b9b5d03019c07d8b6c51f90da3a666eec13ab35"
    )


def test_every_disk_cache_lives_in_the_one_cache_folder():
    """No module picks its own cache place: they all call core.files.cache_dir."""
    root = Path(__file__).resolve().parents[1] / "salesnb"
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if p.name != "files.py"
        and (
            'environ.get("XDG_CACHE_HOME")' in p.read_text("utf-8")
            or '".cache"' in p.read_text("utf-8")
        )
    ]
    assert offenders == []

"""salesnb batch: documents per subject, failure isolation, resume after SIGKILL, Dask, names."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st

from salesnb.batch import documents as batch
from salesnb.batch import executor, names, progress
from salesnb.core import files
from salesnb.core.errors import ParameterError
from salesnb.reports import render

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "tests" / "notebooks"
DATA = ROOT / "tests" / "data" / "batch"
# R02 raises in a cell, R04's kernel dies (os._exit); R01 and R03 succeed.
PARAMS = {"fail_for": "R02", "die_for": "R04"}
EVIL = "<script>alert(1)</script>"


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Zoë O'Brien", "zoe-obrien"),
        ("José Nuñez-García", "jose-nunez-garcia"),
        ("a/b", "a-b"),
        ("../../etc", "etc"),
        ("CON", "con"),
        ("", "subject"),
        ("東京", "subject"),
        (EVIL, "script-alert-1-script"),
    ],
)
def test_slugify(name, slug):
    assert names.slugify(name) == slug


def test_assign_slugs_disambiguates_collisions_and_reserved_names_deterministically():
    labels = {"sp1": "São Paulo", "sp2": "Sao Paulo", "x": "CON", "i": "Index", "a": "a/b"}
    got = names.assign_slugs(labels)
    assert re.fullmatch(r"sao-paulo-[0-9a-f]{6}", got["sp1"])
    assert re.fullmatch(r"sao-paulo-[0-9a-f]{6}", got["sp2"]) and got["sp1"] != got["sp2"]
    assert re.fullmatch(r"con-[0-9a-f]{6}", got["x"]) and re.fullmatch(
        r"index-[0-9a-f]{6}", got["i"]
    )
    assert got["a"] == "a-b"
    # a subject's name does not depend on which others are in the run, nor on order
    assert names.assign_slugs(dict(reversed(list(labels.items())))) == got


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=30), max_size=12))
def test_slugs_are_always_safe_and_unique(labels):
    got = names.assign_slugs(labels)
    assert len(set(got.values())) == len(got)
    for s in got.values():
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", s) and len(s) <= 80
        assert s not in {"index", "manifest", "con", "nul"}


def test_atomic_write_leaves_no_temp_file(tmp_path):
    target = tmp_path / "a.json"
    files.atomic_write(target, b"{}")
    files.atomic_write(target, b'{"b": 1}')
    assert target.read_bytes() == b'{"b": 1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_a_failed_atomic_write_keeps_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "a.json"
    files.atomic_write(target, b"old")

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space"):
        files.atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


# --------------------------------------------------------------------------- one job


def _job(nb: str, timeout: float | None = 60) -> executor.Job:
    return executor.Job(
        key="R01",
        notebook=str(NB / nb),
        timeout=timeout,
        parameters={"data": str(DATA), "subject_type": "rep", "subject": "R01"},
        document_title="T",
        subject_name="Zoë",
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("nb", "kind", "first_line"),
    [
        ("raises.ipynb", "error", "ValueError: boom in cell 2"),
        ("sys_exit.ipynb", "error", "SystemExit: 3"),
        ("dies.ipynb", "kernel-died", "DeadKernelError"),
        ("hangs.ipynb", "timeout", "Timeout: the document did not finish within 3 s"),
    ],
)
def test_a_failing_notebook_is_saved_partial_with_an_error_banner(nb, kind, first_line):
    t0 = time.monotonic()
    r = executor.run_job(_job(nb, timeout=3))
    assert r.status == "failed" and r.error["kind"] == kind
    assert r.error["lines"][0].startswith(first_line)
    assert "html" not in r.files  # a failed run never yields a document
    partial = nbformat.reads(r.files["ipynb"].decode(), as_version=4)
    banner = partial.cells[0]
    assert "papermill-error-cell-tag" in banner.metadata["tags"]
    assert (
        any(
            c.source.startswith("never") and not c.get("outputs")
            for c in partial.cells
            if c.cell_type == "code"
        )
        or nb == "hangs.ipynb"
    )
    assert time.monotonic() - t0 < 40  # the hang was stopped by the timeout


# --------------------------------------------------------------------------- a whole batch


def _normalised_nb(path: Path) -> dict:
    """A notebook without run timestamps, durations and stderr (warnings name the kernel's pid)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    nb["metadata"].pop("papermill", None)
    for c in nb["cells"]:
        c.get("metadata", {}).pop("papermill", None)
        c.get("metadata", {}).pop("execution", None)
        c["outputs"] = [o for o in c.get("outputs", []) if o.get("name") != "stderr"]
    return nb


def _documents(out: Path) -> dict[str, object]:
    """Every output of a batch folder, comparable across runs (timestamps removed)."""
    docs: dict[str, object] = {}
    for p in sorted(out.iterdir()):
        if p.suffix == ".html" and p.name != "index.html":
            docs[p.name] = p.read_text(encoding="utf-8")
        elif p.name.endswith(".failed.ipynb"):
            # what a dying kernel flushed before it died is a race: compare the cells only
            # and only the fork engine knows the cell a dying kernel stopped in, so its
            # "stopped here" marker is left out of the comparison (the banner stays)
            cells = _normalised_nb(p)["cells"]
            docs[p.name] = [
                (c["id"], c["source"])
                for i, c in enumerate(cells)
                if i == 0 or not c["id"].startswith("salesnb-error-")
            ]
        elif p.suffix == ".ipynb":
            docs[p.name] = _normalised_nb(p)
    m = json.loads((out / "manifest.json").read_text())
    docs["manifest"] = [
        (s["key"], s["status"], (s["error"] or {}).get("lines"), s["headline"],
         {f: o["path"] if f == "ipynb" else o for f, o in s["outputs"].items()})
        for s in m["subjects"]
    ]  # fmt: skip
    return docs


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    manifest = batch.run(
        NB / "ok.ipynb",
        by="rep",
        data=DATA,
        out=out,
        params=PARAMS,
        workers=2,
        timeout=120,
        progress=False,
    )
    return out, manifest


@pytest.mark.slow
def test_batch_writes_documents_index_and_manifest(reference):
    out, m = reference
    assert m["summary"] == {
        "ok": 2,
        "failed": 2,
        "pending": 0,
        "interrupted": 0,
        "skipped": 0,
        "total": 4,
        "earlier": 0,
        "no_data": 0,
    }
    assert json.loads((out / "manifest.json").read_text()) == json.loads(json.dumps(m))
    by_key = {s["key"]: s for s in m["subjects"]}
    # R01 won 1000 (O1) and has 2500 open (O2) in tests/data/batch
    assert by_key["R01"]["headline"] == {
        "won": 1000.0,
        "open_pipeline": 2500.0,
        "deals": 2,
        "flags": ["ok"],
    }
    assert by_key["R01"]["title"]["period"] == "FY2026-Q3"
    assert m["data"]["fingerprint"] == by_key["R01"]["title"]["data_fingerprint"]
    # the default engine: a fork of a pre-imported process per document where os.fork exists
    assert m["packages"]["papermill"] and m["engine"] == "fork"
    for s in m["subjects"]:
        for fmt, entry in s["outputs"].items():
            assert batch.sha256_file(out / entry["path"]) == entry["sha256"], (s["key"], fmt)
    assert by_key["R02"]["error"]["lines"][0] == "ValueError: deliberate failure for R02"
    assert by_key["R04"]["error"]["kind"] == "kernel-died"
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert names == [
        "index.html",
        "manifest.json",
        "r01-zoe-obrien.html",
        "r01-zoe-obrien.ipynb",
        "r02-jose-nunez-garcia.failed.ipynb",
        "r03-script-alert-1-script.html",
        "r03-script-alert-1-script.ipynb",
        "r04-ana-silva.failed.ipynb",
    ]
    for page in out.glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "<script src" not in html.lower(), page
        assert render.external_references(html) == [], page
        assert "<script>alert(1)" not in html, page
    doc = (out / "r03-script-alert-1-script.html").read_text(encoding="utf-8")
    assert '<h1 class="subject">&lt;script&gt;alert(1)&lt;/script&gt;</h1>' in doc
    assert "deliberate" not in doc and "stderr noise" not in doc and "must not reach" not in doc
    assert "fail_for" not in doc  # no code, no injected-parameters cell


@pytest.mark.slow
def test_index_lists_every_subject_with_status_and_figures(reference):
    out, m = reference
    index = (out / "index.html").read_text(encoding="utf-8")
    for s in m["subjects"]:
        assert f'<td data-sort="{s["key"]}">{s["key"]}</td>' in index
    assert '<a href="r01-zoe-obrien.html">Zoë O&#39;Brien</a>' in index
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index
    assert "ValueError: deliberate failure for R02" in index
    # R01's open pipeline, O2 = 2500, as money
    assert 'class="num" data-sort="2500.0">$2.5K</td>' in index
    assert index.count('class="status-failed"') == 2


@pytest.mark.slow
def test_timeout_fails_only_its_subject(tmp_path):
    m = batch.run(
        NB / "ok.ipynb",
        data=DATA,
        out=tmp_path,
        only=["R01", "R03"],
        workers=2,
        params={"hang_for": "R03"},
        timeout=8,
        progress=False,
    )
    status = {s["key"]: (s["status"], (s["error"] or {}).get("kind")) for s in m["subjects"]}
    assert status == {"R01": ("ok", None), "R03": ("failed", "timeout")}


@pytest.mark.slow
def test_resume_after_sigkill_completes_and_matches_an_uninterrupted_run(reference, tmp_path):
    ref_out, _ = reference
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "salesnb.cli",
        "batch",
        str(NB / "ok.ipynb"),
        "--data",
        str(DATA),
        "--out",
        str(out),
        "--workers",
        "2",
        "--timeout",
        "120",
        "--no-progress",
        "--param",
        "fail_for=R02",
        "--param",
        "die_for=R04",
    ]
    # the manifest after every document, so the kill below lands between two of them
    env = {**os.environ, "SALESNB_SAVE_EVERY": "0"}
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # kill -9 as soon as one document is complete
        try:
            m = json.loads((out / "manifest.json").read_text())
            if any(s["status"] == "ok" for s in m["subjects"]):
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    m = json.loads((out / "manifest.json").read_text())  # still valid JSON
    assert m["status"] == "running" and any(s["status"] == "pending" for s in m["subjects"])
    ok_before = sum(s["status"] == "ok" for s in m["subjects"])
    for p in out.iterdir():  # whatever sits under a final name is complete
        if p.suffix == ".html":
            assert p.read_text(encoding="utf-8").rstrip().endswith("</html>")
        elif p.suffix == ".ipynb":
            nbformat.validate(nbformat.read(p, as_version=4))

    done = subprocess.run(
        [*cmd, "--resume"], check=False, cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 1, done.stderr  # R02 and R04 fail again, by design
    assert "2 ok, 2 failed" in done.stdout
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "failed" and m["summary"]["pending"] == 0
    assert m["summary"]["skipped"] == ok_before >= 1  # finished before the kill: not re-run
    assert not list(out.glob(".*.tmp"))
    assert _documents(out) == _documents(ref_out)


@pytest.mark.slow
def test_resume_reruns_changed_inputs_only(reference, tmp_path):
    out = tmp_path / "r"
    kw = {"data": DATA, "out": out, "only": ["R01", "R03"], "workers": 2, "progress": False}
    batch.run(NB / "ok.ipynb", **kw)
    again = batch.run(NB / "ok.ipynb", resume=True, **kw)
    assert again["summary"]["skipped"] == 2
    (out / "r03-script-alert-1-script.html").write_text("tampered")
    changed = batch.run(NB / "ok.ipynb", resume=True, params={"scale": 2.0}, **kw)
    assert changed["summary"]["skipped"] == 0  # new parameters: both re-run
    r01 = next(s for s in changed["subjects"] if s["key"] == "R01")
    assert r01["headline"]["won"] == 2000.0  # 1000 won x scale 2
    assert (out / "r03-script-alert-1-script.html").read_text().rstrip().endswith("</html>")


@pytest.mark.slow
def test_dask_cluster_on_loopback_gives_the_same_documents(reference, tmp_path):
    pytest.importorskip("distributed")
    ref_out, _ = reference
    m = batch.run(
        NB / "ok.ipynb",
        data=DATA,
        out=tmp_path,
        params=PARAMS,
        scheduler="local:2",
        timeout=120,
        progress=False,
    )
    assert m["scheduler"] == "local:2"
    workers = {s.get("worker", "").split(":")[-1] for s in m["subjects"]}
    assert str(os.getpid()) not in workers  # ran in the cluster's worker processes
    assert _documents(tmp_path) == _documents(ref_out)


@pytest.mark.slow
def test_dask_scheduler_address(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        m = batch.run(
            NB / "ok.ipynb",
            data=DATA,
            out=tmp_path,
            only=["R01"],
            scheduler=cluster.scheduler_address,
            progress=False,
        )
    assert m["summary"]["ok"] == 1 and (tmp_path / "r01-zoe-obrien.html").exists()


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_resume_finishes(tmp_path):
    import threading

    def interrupt_after_first_document():
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                m = json.loads((tmp_path / "manifest.json").read_text())
                if any(s["status"] == "ok" for s in m["subjects"]):
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    kw = {"data": DATA, "out": tmp_path, "workers": 2, "progress": False}
    threading.Thread(target=interrupt_after_first_document, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        batch.run(NB / "ok.ipynb", params={"hang_for": "R03,R04"}, **kw)
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["status"] == "interrupted"
    statuses = {s["key"]: s["status"] for s in m["subjects"]}
    assert set(statuses.values()) <= {"ok", "interrupted"} and "interrupted" in statuses.values()
    assert not list(tmp_path.glob(".*.tmp"))
    for key, status in statuses.items():  # no document for what did not finish
        slug = next(s["slug"] for s in m["subjects"] if s["key"] == key)
        assert (tmp_path / f"{slug}.html").exists() == (status == "ok")
    done = batch.run(NB / "ok.ipynb", resume=True, **kw)  # without the hang: new inputs
    assert done["summary"]["ok"] == 4 and done["status"] == "complete"


def fake_engine(notebook, parameters, output_path, timeout, *, cwd=None):
    """A kernel-less engine: the notebook unchanged plus a headline naming subject and process."""
    from salesnb.reports import record

    nb = nbformat.read(notebook, as_version=4)
    cell = nbformat.v4.new_code_cell("")
    figures = {"subject": parameters["subject"], "pid": os.getpid()}
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", data={record.HEADLINE_MIME: figures, "text/plain": "x"}
        )
    ]
    nb.cells.append(cell)
    nbformat.write(nb, output_path)
    headline, title = record.collect(nb)
    return executor.Execution("ok", 0.0, None, headline, title, nb)


def test_a_registered_engine_plugs_in_without_changes_to_the_batch(tmp_path):
    executor.register_engine("fake-test", fake_engine)
    m = batch.run(NB / "ok.ipynb", data=DATA, out=tmp_path, engine="fake-test", progress=False)
    assert m["engine"] == "fake-test" and m["summary"]["ok"] == 4
    assert {s["key"]: s["headline"]["subject"] for s in m["subjects"]} == {
        "R01": "R01", "R02": "R02", "R03": "R03", "R04": "R04"
    }  # fmt: skip
    assert all(s["headline"]["pid"] != os.getpid() for s in m["subjects"])  # in the workers
    assert (tmp_path / "r01-zoe-obrien.html").read_text().rstrip().endswith("</html>")


def test_refused_inputs_stop_the_early_started_engine_at_once(tmp_path):
    import multiprocessing

    from salesnb.core.errors import ParameterError

    t0 = time.monotonic()
    with pytest.raises(ParameterError, match="NOPE"):
        batch.run(NB / "ok.ipynb", data=DATA, out=tmp_path / "out", only=["NOPE"],
                  engine="fork", progress=False)  # fmt: skip
    assert not multiprocessing.active_children()  # the zygote started for it is gone
    assert time.monotonic() - t0 < 30


def test_the_engine_started_before_the_inputs_were_checked_runs_the_batch(tmp_path, monkeypatch):
    started, loads = [], []
    real = executor.make_runner

    def spy(*a, **k):
        runner = real(*a, **k)
        started.append(k)
        real_load = runner.load
        runner.load = lambda *la: loads.append(la) or real_load(*la)
        return runner

    monkeypatch.setattr(executor, "make_runner", spy)
    m = batch.run(NB / "ok.ipynb", data=DATA, out=tmp_path / "out", only=["R01", "R02"],
                  engine="fork", progress=False, workers=1)  # fmt: skip
    assert m["summary"]["ok"] == 2
    # one runner, told the notebook and chart format to prepare for; the data was loaded
    # through it (once, handed to its zygote)
    assert started == [{"warm": (str(NB / "ok.ipynb"), None, None), "charts": "svg"}]
    assert loads == [(str(DATA.resolve()), None)]


def test_the_manifest_is_rewritten_at_most_once_a_second_and_complete_at_the_end(
    tmp_path, monkeypatch
):
    saves = []
    real = batch._save
    monkeypatch.setattr(batch, "_save", lambda out, m: saves.append(_summary_of(m)) or real(out, m))
    monkeypatch.setenv("SALESNB_SAVE_EVERY", "3600")
    m = batch.run(NB / "ok.ipynb", data=DATA, out=tmp_path / "out", only=["R01", "R02", "R03"],
                  workers=1, progress=False)  # fmt: skip
    # before the run, after the first document, at the end
    assert [s["ok"] for s in saves] == [0, 1, 3]
    assert m["summary"]["ok"] == 3 and json.loads((tmp_path / "out" / "manifest.json").read_text())[
        "status"] == "complete"  # fmt: skip
    from salesnb.core.errors import ParameterError

    monkeypatch.setenv("SALESNB_SAVE_EVERY", "soon")
    with pytest.raises(ParameterError, match="SALESNB_SAVE_EVERY"):
        batch.run(NB / "ok.ipynb", data=DATA, out=tmp_path / "o2", only=["R01"], progress=False)


def _summary_of(manifest: dict) -> dict:
    return {"ok": sum(s["status"] == "ok" for s in manifest["subjects"])}


HEAVY = ("altair", "papermill", "nbformat", "nbconvert", "IPython", "statsmodels")


def test_the_batch_process_itself_imports_none_of_what_documents_need(tmp_path):
    # Its zygote imports those for the documents; importing them here as well cost about a
    # second of CPU per batch, on two cores a tenth of a 30-document run.
    code = (
        "import sys\n"
        "from salesnb import batch\n"
        f"m = batch.run({str(NB / 'ok.ipynb')!r}, data={str(DATA)!r}, out={str(tmp_path)!r},\n"
        "              only=['R01', 'R02'], engine='fork', progress=False, workers=2)\n"
        "assert m['summary']['ok'] == 2, m['summary']\n"
        f"print(sorted(n for n in {HEAVY!r} if n in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# --------------------------------------------------------------------------- spooled outputs


def test_spool_writes_the_files_beside_the_outputs_and_keeps_what_it_cannot(tmp_path):
    import hashlib

    files = {"html": b"<p>doc</p>", "ipynb": b"{}"}
    spooled = executor._spool(files, tmp_path)
    assert files == {}  # nothing left to carry as bytes
    assert sorted(spooled) == ["html", "ipynb"]
    for path, digest in spooled.values():
        data = Path(path).read_bytes()
        assert Path(path).parent == tmp_path and Path(path).name.startswith(".")
        assert Path(path).name.endswith(".tmp")  # what a batch's clean-up removes
        assert digest == hashlib.sha256(data).hexdigest()
    kept = {"html": b"x"}
    assert executor._spool(kept, tmp_path / "missing") == {} and kept == {"html": b"x"}


def test_a_batch_moves_spooled_documents_into_place(tmp_path, monkeypatch):
    seen = []
    real = batch._store

    def spy(out, entry, result, formats, **kw):
        seen.append((result.key, sorted(result.files), sorted(result.spooled)))
        return real(out, entry, result, formats, **kw)

    monkeypatch.setattr(batch, "_store", spy)
    out = tmp_path / "out"
    m = batch.run(NB / "ok.ipynb", data=DATA, out=out, only=["R01", "R02"], workers=2,
                  progress=False)  # fmt: skip
    assert m["summary"]["ok"] == 2
    # the documents came as files the workers wrote, not as bytes through the pipes
    assert sorted(seen) == [("R01", [], ["html", "ipynb"]), ("R02", [], ["html", "ipynb"])]
    import hashlib

    for s in m["subjects"]:
        for o in s["outputs"].values():
            assert hashlib.sha256((out / o["path"]).read_bytes()).hexdigest() == o["sha256"]
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_a_spooled_document_that_went_missing_fails_only_its_subject(tmp_path, monkeypatch):
    real = batch._store

    def lose(out, entry, result, formats, **kw):
        if result.key == "R01":
            for path, _ in result.spooled.values():
                Path(path).unlink()
        return real(out, entry, result, formats, **kw)

    monkeypatch.setattr(batch, "_store", lose)
    out = tmp_path / "out"
    m = batch.run(NB / "ok.ipynb", data=DATA, out=out, only=["R01", "R02"], workers=2,
                  progress=False)  # fmt: skip
    by = {s["key"]: s for s in m["subjects"]}
    assert by["R02"]["status"] == "ok"
    assert by["R01"]["status"] == "failed"
    assert "could not write the documents" in by["R01"]["error"]["evalue"]
    assert by["R01"]["outputs"] == {}
    assert not list(out.glob(f"{by['R01']['slug']}.*"))  # nothing half-stored
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------- outputs and limits


def _cli(*args: str, data: Path = DATA) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "salesnb.cli", "batch", *args, "--data", str(data),
         "--no-progress"],
        check=False, capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip


def _no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr and "Exception in thread" not in stderr, stderr


def _out_cases(tmp: Path) -> list[tuple[Path, str]]:
    (tmp / "a-file").write_text("x")
    os.mkfifo(tmp / "fifo")
    (tmp / "dangling").symlink_to(tmp / "nowhere")
    cases = [
        (Path("/dev/null"), "is a device, not a folder"),
        (tmp / "a-file", "is a file, not a folder"),
        (tmp / "a-file" / "sub" / "out", f"is under {str(tmp / 'a-file')!r}, which is a file"),
        (tmp / "fifo", "is a named pipe, not a folder"),
        (tmp / "dangling", "is a symbolic link to a missing target"),
    ]
    if os.geteuid() != 0:  # root writes anywhere
        (tmp / "locked").mkdir(mode=0o555)
        cases.append((tmp / "locked" / "out", "would be made in"))
    return cases


def test_every_out_problem_is_one_clear_error_and_nothing_runs(tmp_path):
    for out, why in _out_cases(tmp_path):
        proc = _cli(str(NB / "ok.ipynb"), "--out", str(out))
        assert proc.returncode == 2, (out, proc.stderr)
        _no_traceback(proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: --out {str(out)!r} "), lines
        assert why in lines[0] and "Fix:" in lines[0], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["a-file", "fifo", "dangling"] + (["locked"] if os.geteuid() != 0 else [])
    )  # nothing created anywhere
    with pytest.raises(ParameterError, match="is a device"):
        batch.run(NB / "ok.ipynb", data=DATA, out="/dev/null", progress=False)


def test_a_refused_batch_prints_its_error_and_no_thread_traceback(tmp_path):
    # the data is handed to the engine's process by a thread while the inputs are checked:
    # a refusal closed the pipe under it ("Exception in thread Thread-1 (_send)")
    for _ in range(2):
        proc = _cli("pipeline_review", "--out", str(tmp_path / "o"), "--only", "NOPE",
                    data=ROOT / "data" / "sample")  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        _no_traceback(proc.stderr)
        assert proc.stderr.startswith("error: Unknown rep 'NOPE' in --only.")
        assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_cap_workers():
    n = batch.cores()
    assert batch.cap_workers(None, 50) == (min(n, 50), None)  # the default: no warning
    assert batch.cap_workers(None, 1) == (1, None)
    assert batch.cap_workers(1, 3) == (1, None)
    use, msg = batch.cap_workers(1000, 3)
    assert use == min(3, n)
    assert (
        msg
        == f"--workers 1000 is more than this run can use (3 subjects to run, {n} cores): using {use}."
    )
    assert batch.cap_workers(1000, 1)[1].startswith(
        "--workers 1000 is more than this run can use (1 subject to run"
    )


@pytest.mark.slow
def test_workers_are_capped_at_the_subjects_and_cores_with_a_warning(tmp_path):
    out = tmp_path / "out"
    t0 = time.monotonic()
    proc = _cli(str(NB / "ok.ipynb"), "--out", str(out), "--only", "R01,R02", "--workers", "1000")
    assert proc.returncode == 0, proc.stderr
    _no_traceback(proc.stderr)
    use = min(2, batch.cores())
    assert (
        f"warning: --workers 1000 is more than this run can use (2 subjects to run, "
        f"{batch.cores()} cores): using {use}." in proc.stderr
    )
    assert json.loads((out / "manifest.json").read_text())["workers"] == use
    assert time.monotonic() - t0 < 120  # a converter per requested worker took minutes


# --------------------------------------------------------------------------- re-runs


def _changed_copy(folder: Path) -> Path:
    """The batch test data with one amount changed (another fingerprint)."""
    import shutil

    shutil.copytree(DATA, folder)
    path = folder / "opportunities.csv"
    path.write_text(
        path.read_text().replace("O1,R01,Acme,Closed Won,1000.0", "O1,R01,Acme,Closed Won,1500.0")
    )
    return folder


@pytest.mark.slow
def test_a_rerun_keeps_earlier_subjects_in_the_index_and_manifest(tmp_path):
    out = tmp_path / "out"
    seen = []
    kw = {"out": out, "workers": 1, "engine": "fork"}
    one = batch.run(NB / "ok.ipynb", data=DATA, only=["R01", "R02"], params={"fail_for": "R02"},
                    progress=seen.append, **kw)  # fmt: skip
    # the progress reports each document as it completes: once before, then once per document
    assert [c["done"] for c in seen] == [0, 1, 2]
    assert all(c["ok"] + c["failed"] == c["done"] and c["pending"] == 2 - c["done"] for c in seen)
    assert (seen[-1]["ok"], seen[-1]["failed"]) == (1, 1)

    other = _changed_copy(tmp_path / "data")
    two = batch.run(NB / "ok.ipynb", data=other, only=["R03"], params={"scale": 2.0}, **kw)
    assert two["summary"] == {"ok": 1, "failed": 0, "pending": 0, "interrupted": 0,
                              "skipped": 0, "total": 1, "earlier": 2, "no_data": 0}  # fmt: skip
    assert two["status"] == "complete"  # R02's failure belongs to the earlier run
    by = {s["key"]: s for s in two["subjects"]}
    assert list(by) == ["R01", "R02", "R03"]  # the data's order
    for key in ("R01", "R02"):
        was = next(s for s in one["subjects"] if s["key"] == key)
        assert by[key]["earlier_run"]["started"] == one["started"]
        assert by[key]["earlier_run"]["data_fingerprint"] == one["data"]["fingerprint"]
        assert by[key]["earlier_run"]["changed"] == ["data", "parameters"]
        assert {k: by[key][k] for k in ("status", "started", "finished", "outputs", "headline")} == {
            k: was[k] for k in ("status", "started", "finished", "outputs", "headline")}  # fmt: skip
    assert "earlier_run" not in by["R03"]
    assert json.loads((out / "manifest.json").read_text()) == json.loads(json.dumps(two))
    index = (out / "index.html").read_text(encoding="utf-8")
    assert index.count("(earlier run, ") == 2 and "since then changed: data, parameters" in index
    assert (
        'href="r01-zoe-obrien.html"' in index and 'href="r03-script-alert-1-script.html"' in index
    )
    assert "2 more from earlier runs" in index
    for s in two["subjects"]:  # every listed document is there
        for o in s["outputs"].values():
            assert batch.sha256_file(out / o["path"]) == o["sha256"]

    three = batch.run(NB / "ok.ipynb", data=other, only=["R01"], params={"scale": 2.0}, **kw)
    by = {s["key"]: s for s in three["subjects"]}
    assert "earlier_run" not in by["R01"] and by["R01"]["headline"]["won"] == 3000.0
    # R02 still tells the run that made it; R03 was made with this run's inputs
    assert by["R02"]["earlier_run"]["started"] == one["started"]
    assert by["R02"]["earlier_run"]["changed"] == ["data", "parameters"]
    assert by["R03"]["earlier_run"]["started"] == two["started"]
    assert by["R03"]["earlier_run"]["changed"] == []
    assert three["summary"]["total"] == 1 and three["summary"]["earlier"] == 2


# --------------------------------------------------------------------------- progress


def test_the_progress_bar_shows_each_document_as_it_completes():
    import io

    buf = io.StringIO()
    bar = progress.Bar(3, file=buf)
    steps = [(0, 0, 3), (1, 0, 2), (1, 1, 1), (2, 1, 0)]
    for ok, failed, pending in steps:
        bar({"ok": ok, "failed": failed, "pending": pending, "done": ok + failed})
        frame = buf.getvalue().split("\r")[-1]
        # the count and the figures beside it describe the same moment
        assert f"| {ok + failed}/3 [" in frame, frame
        assert f"ok={ok}, failed={failed}, remaining={pending}" in frame, frame
    bar.close()


# --------------------------------------------------------------------------- interruptions


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_leaves_no_temporary_files(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "salesnb.cli", "batch", str(NB / "ok.ipynb"), "--data", str(DATA),
         "--out", str(out), "--param", "hang_for=R03,R04", "--workers", "2", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with __import__("contextlib").suppress(OSError, ValueError):
            m = json.loads((out / "manifest.json").read_text())
            if any(s["status"] == "ok" for s in m["subjects"]):
                break
        time.sleep(0.1)
    # what a worker spools and never reports back (killed after writing it) looks like this
    (out / ".spool-99999-0123456789ab.html.tmp").write_bytes(b"<p>half</p>")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    _no_traceback(err)
    assert "interrupted: finished documents are kept" in err
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "interrupted"
    assert {s["status"] for s in m["subjects"]} <= {"ok", "interrupted"}


def test_an_interrupt_while_a_document_is_stored_waits_for_its_manifest_entry():
    done = []
    with pytest.raises(KeyboardInterrupt), batch._held_interrupts():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)  # the handler would have run here
        done.append("stored")
    assert done == ["stored"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored

"""Batch review documents: one notebook run per rep, region or manager.

:func:`run` validates everything first (notebook, parameters, subjects, engine,
formats), then fans the subjects out to a runner (:mod:`salesnb.batch.executor`),
writes each subject's executed notebook and documents atomically as they
finish, keeps ``manifest.json`` valid after every subject, and renders
``index.html``. ``resume=True`` re-runs only what failed, is missing, or whose
inputs (notebook, parameters, data, kit version) changed.

Output folder layout::

    OUT/index.html          every subject: headline figures, status, link
    OUT/manifest.json       parameters, status, timings, errors, hashes, versions
    OUT/<slug>.ipynb        executed notebook          (failed: <slug>.failed.ipynb)
    OUT/<slug>.html         review document (and <slug>.pdf with formats=("pdf",))
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from salesnb import __version__
from salesnb.batch.docfiles import files_in_place, files_of, write_files
from salesnb.batch.folders import cap_workers, check_out, clean_temp, cores, locked, make_out
from salesnb.batch.index import render_index
from salesnb.batch.inputs import (
    document_title,
    empty_subjects,
    file_inputs,
    package_versions,
    resolve_notebook,
    resume_key,
    select_subjects,
    utc_now,
)
from salesnb.batch.names import assign_slugs
from salesnb.batch.progress import progress_reporter
from salesnb.core.errors import BatchError, ParameterError, RenderError
from salesnb.core.files import atomic_write, evict, sha256_file, sync_folder

FORMATS = ("html", "pdf", "ipynb")
MANIFEST = "manifest.json"
INDEX = "index.html"
#: Seconds between rewrites of the manifest and index while a batch runs (the first document
#: and the end are always written); ``SALESNB_SAVE_EVERY`` overrides (0: after every document).
SAVE_EVERY = 1.0


# --------------------------------------------------------------------------- run


def _prepare(
    notebook: str | Path,
    by: str,
    data: str | Path,
    profile: str | None,
    only: Sequence[str] | None,
    params: Mapping[str, Any] | None,
    params_file: str | None,
    formats: Sequence[str],
    engine: str,
    load: Callable[[str, str | None], Any] | None = None,
    include_empty: bool = False,
) -> dict[str, Any]:
    """Validate every input and build the per-subject parameters; runs nothing.

    ``load`` replaces ``salesnb.load`` for the data (the fork runner's, which hands the
    zygote a copy). Subjects without data (:func:`empty_subjects`) are left out and listed
    in ``no_data`` unless ``include_empty`` or ``only`` names them.
    """
    from salesnb.batch import params as P
    from salesnb.batch.executor import get_engine
    from salesnb.data import io
    from salesnb.reports import subject as S

    nb_path = resolve_notebook(notebook)
    spec = P.notebook_parameters(nb_path)
    missing = [n for n in ("data", "subject_type", "subject") if n not in spec]
    if missing:
        msg = (
            f"Notebook {nb_path.name!r} lacks the batch parameters {missing!r} in its "
            "parameters cell. Fix: declare data, subject_type and subject there."
        )
        raise ParameterError(msg)
    bad_formats = [f for f in formats if f not in FORMATS]
    if bad_formats or not formats:
        raise ParameterError(f"Unknown format(s) {bad_formats!r}. Fix: use html, pdf or ipynb.")
    get_engine(engine)
    if "pdf" in formats:
        from salesnb.reports.render import require_chromium

        try:
            require_chromium()
        except RenderError as exc:
            raise BatchError(str(exc)) from None
    if by not in S.SUBJECT_TYPES:
        raise ParameterError(f"Unknown --by {by!r}. Fix: use one of {list(S.SUBJECT_TYPES)!r}.")
    # A notebook that declares the subject types it is made for (the team review names every
    # rep, so it is never made for a rep) refuses the others before anything runs.
    kinds = spec["subject_type"].rule.choices if spec["subject_type"].rule else ()
    if kinds and by not in kinds:
        raise ParameterError(
            f"Notebook {nb_path.name!r} is not made for --by {by}: it is made for "
            f"{', '.join(map(str, kinds))} only. Fix: use --by {kinds[0]}."
        )
    user = dict(P.load_file(params_file)) if params_file else {}
    user.update(params or {})
    user = P.validate(user, spec, notebook=nb_path.name)
    file_paths, file_hashes = file_inputs(spec, user)  # e.g. the incentive plan
    if profile is not None and "profile" not in spec:
        msg = (
            f"Notebook {nb_path.name!r} has no 'profile' parameter, so --profile cannot be "
            "passed to it. Fix: add profile = None to its parameters cell."
        )
        raise ParameterError(msg)

    source, shown, env = _data_source(data)
    wb = (load or io.load)(source, profile)
    as_of = S.resolve_as_of(wb, user.get("as_of"))
    P.check_as_of(user, spec, as_of, notebook=nb_path.name)
    if "period" in user:
        S.resolve_period(wb, user.get("period"), as_of)
    subjects = select_subjects(S.subjects(wb, by), only, by)
    if not subjects:
        raise ParameterError(
            f"The data at {shown!r} has no {by} to report on. Fix: check the reps table."
        )
    no_data: list[tuple[str, str]] = []
    if not include_empty and not only:  # a subject named in --only is made anyway
        empty = empty_subjects(wb, by)
        no_data = [s for s in subjects if s[0] in empty]
        subjects = [s for s in subjects if s[0] not in empty]
        if not subjects:
            what = "rep has" if by == "rep" else f"{by}'s reps have"
            msg = (
                f"No {what} any opportunity or activity in the data at {shown!r}, so there "
                "is nothing to report on. Fix: check the deals' owners (rep_id), or pass "
                "--include-empty to make the documents anyway."
            )
            raise ParameterError(msg)
    prof = profile
    if profile is not None and Path(profile).exists():
        prof = str(Path(profile).resolve())
    base = {**user, **file_paths, "data": shown, "subject_type": by}
    if "profile" in spec:
        base["profile"] = prof
    every = S.subjects(wb, by)
    labels = {k: (f"{k} {n}" if by == "rep" and n != k else n) for k, n in every}
    return {
        "nb_path": nb_path,
        "nb_sha": sha256_file(nb_path),
        "spec": spec,
        "user": user,
        "base": base,
        "subjects": subjects,
        "slugs": assign_slugs(labels),
        "fingerprint": wb.fingerprint(),
        "files": file_hashes,
        "currency": wb.unit,
        "title": document_title(nb_path),
        "data": shown,
        "env": env,
        "order": [k for k, _ in every],
        "no_data": [{"key": k, "name": n} for k, n in no_data],
        "wb": wb,  # for what the documents share (salesnb.batch.prefill)
    }


def _data_source(data: str | Path) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """``(what to load, what documents and the manifest show, environment for the
    documents)`` of a batch's data: a folder or file as an absolute path; a database URL
    as given, shown with its secrets masked, the full URL handed to the documents in
    :data:`salesnb.data.sql.DATA_URL_ENV` (never in their parameters)."""
    from salesnb.data import sql

    if sql.is_url(data):
        full, shown = str(data).strip(), sql.mask_url(data)
        return full, shown, ((sql.DATA_URL_ENV, full),) if full != shown else ()
    path = str(Path(data).resolve())
    return path, path, ()


def _load_manifest(out: Path) -> dict[str, Any] | None:
    try:
        return json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _up_to_date(old: Mapping[str, Any] | None, key: str, out: Path, formats: Iterable[str]) -> bool:
    if not old or old.get("status") != "ok" or old.get("resume_key") != key:
        return False
    outputs = old.get("outputs") or {}
    for fmt in {"ipynb", *formats}:
        entry = outputs.get(fmt)
        if not entry or not (out / entry["path"]).is_file():
            return False
        if sha256_file(out / entry["path"]) != entry["sha256"]:
            return False
    return True


def run(
    notebook: str | Path,
    *,
    by: str = "rep",
    data: str | Path = "data/sample",
    profile: str | None = None,
    out: str | Path,
    only: Sequence[str] | None = None,
    params: Mapping[str, Any] | None = None,
    params_file: str | Path | None = None,
    workers: int | None = None,
    timeout: float | None = 600,
    resume: bool = False,
    formats: Sequence[str] = ("html",),
    scheduler: str | None = None,
    engine: str = "auto",
    progress: bool | Callable[[dict[str, int]], None] = True,
    charts: str = "svg",
    warn: Callable[[str], None] | None = None,
    include_empty: bool = False,
) -> dict[str, Any]:
    """Run ``notebook`` once per subject into review documents; return the manifest.

    Parameters
    ----------
    notebook : str or path
        A notebook path, or a name from ``notebooks/`` (e.g. ``"pipeline_review"``).
    by : {"rep", "region", "manager", "team", "all"}
        What each document is about.
    data, profile : str
        The data folder (or file, or database URL) and import profile, as for
        :func:`salesnb.data.io.load`. A URL's secrets never reach the documents, the manifest
        or the index (see :func:`salesnb.data.sql.mask_url`).
    out : path
        Output folder (created). Subjects of an earlier run in it that this run does not
        make stay in its index and manifest, marked as from the earlier run.
    only : list of str, optional
        Subject keys (rep_id, region, manager) or rep names to run; default all with data.
        A subject named here is made even when it has no data.
    params, params_file : optional
        More notebook parameters (a mapping, and/or a JSON/TOML/YAML file; the mapping wins).
    workers : int, optional
        Documents at once on this machine (default: the number of cores); never more than
        the cores or the subjects to run (``warn`` says so when it lowers a given number).
    timeout : float, optional
        Seconds one document may take before it fails (None: no limit).
    resume : bool
        Re-run only subjects that failed, are missing, or whose inputs changed.
    formats : sequence of {"html", "pdf", "ipynb"}
        Documents to write; the executed notebook is always kept.
    scheduler : str, optional
        A Dask scheduler address (``tcp://host:8786``) or ``local:N``.
    engine : str
        Execution engine: ``"auto"`` (``"fork"`` where ``os.fork`` exists and no
        ``scheduler`` is given, else ``"papermill"``), ``"fork"`` (a copy-on-write fork
        of one pre-imported process per document, see :mod:`salesnb.batch.fastengine`),
        ``"papermill"`` (a fresh kernel per document) or a registered one.
    progress : bool or callable
        Show a progress bar on stderr (only when stderr is a terminal); a callable is called
        instead with the counts (``done``: documents made so far, then ``ok``, ``failed``,
        ``pending`` ... as in ``summary``) once before the first document and after each one.
    charts : {"svg", "vega"}
        Chart format of the documents (see :mod:`salesnb.reports.chartrender`): static SVG made
        while the batch runs (no scripts in the documents), or the specs drawn in the
        reader's browser by an inlined Vega runtime (no SVG conversion: faster batches,
        larger files; still offline).
    warn : callable, optional
        Called with each warning (a lowered ``workers``); default :func:`warnings.warn`.
    include_empty : bool
        Also make documents for reps with no opportunity and no activity (and groups of only
        such reps). By default they are left out and listed in ``manifest["no_data"]`` and
        the index as "no data", counted in ``summary["no_data"]``.

    Returns
    -------
    dict
        The manifest (also in ``OUT/manifest.json``); ``manifest["summary"]`` counts this
        run's ok, failed and skipped subjects, and ``earlier`` ones kept from earlier runs.

    Raises
    ------
    ParameterError
        Before anything runs: unknown, mistyped or disallowed parameter, unknown subject,
        bad format, an ``out`` that is not a folder this user can write to.
    KeyboardInterrupt
        After a clean stop: finished documents kept, the manifest marks the rest.

    Examples
    --------
    >>> m = run("pipeline_review", by="rep", data="data/sample", out="reports/q3")  # doctest: +SKIP
    >>> m["summary"]                                                                 # doctest: +SKIP
    {'ok': 30, 'failed': 0, 'skipped': 0, 'total': 30}
    """
    formats = tuple(dict.fromkeys(formats))
    from salesnb.reports.chartformat import chart_format

    try:
        charts = chart_format(charts)
    except RenderError as exc:
        raise ParameterError(str(exc)) from None
    if engine == "auto":
        from salesnb.batch.executor import default_engine

        engine = default_engine(scheduler)
    save_every = _save_every()  # a bad SALESNB_SAVE_EVERY fails before anything runs
    out = check_out(out)
    if warn is None:
        warn = functools.partial(warnings.warn, category=UserWarning, stacklevel=2)
    early = min(workers, cores()) if workers else None  # the zygote's, before subjects are known
    runner = _early_runner(notebook, early, scheduler, engine, charts)
    try:
        prep = _prepare(
            notebook, by, data, profile, only, params, params_file, formats, engine,
            load=getattr(runner, "load", None), include_empty=include_empty,
        )  # fmt: skip
        make_out(out)
        with locked(out):
            clean_temp(out)
            return _run_locked(
                prep,
                out=out,
                by=by,
                data=data,
                profile=profile,
                workers=workers,
                timeout=timeout,
                resume=resume,
                formats=formats,
                scheduler=scheduler,
                engine=engine,
                progress=progress,
                charts=charts,
                runner=runner,
                save_every=save_every,
                warn=warn,
            )
    finally:
        if runner is not None:  # closed already after a run; else the inputs were refused
            runner.abort()
        evict()  # the cache folder stays under its bound (SALESNB_CACHE_MAX_MB)


def _early_runner(
    notebook: str | Path,
    workers: int | None,
    scheduler: str | None,
    engine: str,
    charts: str | None = None,
) -> Any:
    """The fork engine's runner, started before the inputs are checked (None otherwise).

    Its zygote imports the notebook's libraries while this process checks the inputs: on
    two cores the two halves of the start-up overlap. The data is loaded once, here, and
    handed to the zygote (``runner.load`` in :func:`_prepare`).
    """
    if engine != "fork" or scheduler:
        return None
    from salesnb.batch.executor import make_runner

    nb_path = resolve_notebook(notebook)  # a bad name fails here as in _prepare
    return make_runner(workers, None, engine, warm=(str(nb_path), None, None), charts=charts)


def _run_locked(
    prep: dict[str, Any],
    *,
    out: Path,
    by: str,
    data: Any,
    profile: Any,
    workers: int | None,
    timeout: float | None,
    resume: bool,
    formats: tuple[str, ...],
    scheduler: str | None,
    engine: str,
    progress: bool | Callable[[dict[str, int]], None],
    charts: str = "svg",
    runner: Any = None,
    save_every: float = SAVE_EVERY,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    from salesnb.batch.executor import Job, make_runner
    from salesnb.reports.chartformat import CHARTS_ENV

    old = _load_manifest(out)
    old_subjects = {
        s["key"]: s for s in (old or {}).get("subjects", []) if isinstance(s, dict) and "key" in s
    }
    manifest: dict[str, Any] = {
        "manifest_version": 1,
        "salesnb_version": __version__,
        "status": "running",
        "started": utc_now(),
        "finished": None,
        "notebook": {
            "name": prep["nb_path"].stem,
            "path": str(prep["nb_path"]),
            "sha256": prep["nb_sha"],
            "title": prep["title"],
        },
        "by": by,
        "data": {
            "path": prep["data"],
            "profile": profile,
            "fingerprint": prep["fingerprint"],
            "currency": prep.get("currency", "USD"),
        },
        "parameters": prep["user"],
        "formats": list(formats),
        "charts": charts,
        "engine": engine,
        "scheduler": scheduler,
        "workers": workers or cores(),
        "timeout": timeout,
        "resume": resume,
        "packages": package_versions(),
        "summary": {},
        "subjects": [],
        "no_data": list(prep.get("no_data", [])),
    }
    jobs, entries = [], {}
    for key, name in prep["subjects"]:
        parameters = {**prep["base"], "subject": key}
        rkey = resume_key(
            prep["nb_sha"], parameters, prep["fingerprint"], charts, prep.get("files")
        )
        prev = old_subjects.get(key)
        if resume and _up_to_date(prev, rkey, out, formats):
            entry = {**prev, "skipped": True}
            entry.pop("earlier_run", None)
            entry["files"] = files_in_place(out, entry, warn)
        else:
            entry = {
                "key": key,
                "name": name,
                "slug": prep["slugs"][key],
                "status": "pending",
                "parameters": parameters,
                "resume_key": rkey,
                "started": None,
                "finished": None,
                "duration_s": None,
                "error": None,
                "outputs": {},
                "headline": {},
                "title": {},
                "skipped": False,
            }
            jobs.append(
                Job(
                    key=key,
                    notebook=str(prep["nb_path"]),
                    parameters=parameters,
                    timeout=timeout,
                    formats=formats,
                    engine=engine,
                    cwd=os.getcwd(),
                    document_title=prep["title"],
                    subject_name=name,
                    env=((CHARTS_ENV, charts), *prep["env"]),
                    # workers on this machine write the documents into OUT themselves
                    spool=None if scheduler else str(out),
                )
            )
        entries[key] = entry
    earlier = _earlier_subjects(old, entries, manifest)
    if jobs and not scheduler:
        manifest["workers"], lowered = cap_workers(workers, len(jobs))
        if lowered:
            (warn or functools.partial(warnings.warn, category=UserWarning))(lowered)

    def listing() -> list[dict[str, Any]]:
        return _ordered(entries, earlier, prep.get("order", []))

    manifest["subjects"] = listing()
    _save(out, manifest)

    report = progress_reporter(len(jobs), progress)
    report(_counts(manifest))
    saved = -save_every  # the first document shows at once
    try:
        if jobs:
            if not scheduler or scheduler.startswith("local"):  # a cache folder shared with us
                from salesnb.batch.prefill import prefill

                prefill(prep.get("wb"), prep["nb_path"].stem, by, [j.key for j in jobs],
                        prep["user"])  # fmt: skip
            runner = runner or make_runner(manifest["workers"], scheduler, engine)
            for job, result in runner.run(jobs):
                with _held_interrupts():  # a document in place is in the manifest too
                    before = old_subjects.get(job.key)
                    stored = _store(
                        out, entries[job.key], result, formats, warn=warn, previous=before
                    )
                    entries[job.key].update(stored)
                manifest["subjects"] = listing()
                report(_counts(manifest))
                # The documents are on disk already; the manifest and index follow at most
                # SAVE_EVERY seconds later (a resume after a crash re-runs what they missed):
                # rewriting both after every document costs the batch more than it shows.
                if time.monotonic() - saved >= save_every:
                    _save(out, manifest)
                    saved = time.monotonic()
            runner.close()
        manifest["status"] = "failed" if _summary(manifest)["failed"] else "complete"
    except KeyboardInterrupt:
        if runner is not None:
            runner.close(interrupted=True)
        for e in entries.values():
            if e["status"] == "pending":
                e["status"] = "interrupted"
        manifest["status"] = "interrupted"
        raise
    finally:
        report.close()
        clean_temp(out)  # spooled documents of subjects that never reported back
        manifest["finished"] = utc_now()
        manifest["subjects"] = listing()
        _save(out, manifest)
    return manifest


#: What an earlier run's subject is compared on: (its name in ``earlier_run.changed``, its
#: key in ``earlier_run``, how to read it from a manifest).
_INPUTS: tuple[tuple[str, str, Callable[[Mapping[str, Any]], Any]], ...] = (
    ("notebook", "notebook_sha256", lambda m: (m.get("notebook") or {}).get("sha256")),
    ("data", "data_fingerprint", lambda m: (m.get("data") or {}).get("fingerprint")),
    ("by", "by", lambda m: m.get("by")),
    ("charts", "charts", lambda m: m.get("charts", "svg")),
    ("salesnb version", "salesnb_version", lambda m: m.get("salesnb_version")),
)


def _earlier_subjects(
    old: Mapping[str, Any] | None,
    entries: Mapping[str, dict[str, Any]],
    manifest: Mapping[str, Any],
) -> dict[str, dict[str, Any]]:
    """The subjects of the manifest already in OUT that this run does not make, kept.

    Each gets ``earlier_run``: when that run started, what it was made with (notebook, data,
    ``by``, chart format, salesnb version; kept from the run that made it, however many runs
    ago) and ``changed``, which of those and the parameters differ from this run's (empty:
    it is what this run would make, had it been selected).
    """
    if not old:
        return {}
    kept = {}
    for prev in old.get("subjects") or []:
        if not isinstance(prev, dict) or prev.get("key") in entries or "key" not in prev:
            continue
        entry = dict(prev)
        made = dict(entry.get("earlier_run") or {})
        if not made:
            made = {"started": old.get("started")}
            made.update({key: read(old) for _, key, read in _INPUTS})
        changed = [name for name, key, read in _INPUTS if made.get(key) != read(manifest)]
        user = {k: v for k, v in (entry.get("parameters") or {}).items() if k not in _SET_BY_RUN}
        if _as_json(user) != _as_json(manifest["parameters"]):
            changed.append("parameters")
        made["changed"] = changed
        entry["earlier_run"] = made
        if entry.get("status") in ("pending", "running"):
            entry["status"] = "interrupted"  # its run ended before it did
        entry["skipped"] = False
        kept[entry["key"]] = entry
    return kept


def _as_json(value: Any) -> Any:
    """``value`` as it reads back from manifest.json (tuples as lists, dates as text)."""
    return json.loads(json.dumps(value, default=str))


#: Parameters the batch sets per run or subject (compared as ``data`` and ``by``, or not).
_SET_BY_RUN = ("data", "profile", "subject_type", "subject")


def _ordered(
    entries: Mapping[str, dict[str, Any]],
    earlier: Mapping[str, dict[str, Any]],
    order: Sequence[str],
) -> list[dict[str, Any]]:
    """Every subject in the data's order; earlier subjects the data no longer has last."""
    both = {**earlier, **entries}
    rank = {k: i for i, k in enumerate(order)}
    return sorted(both.values(), key=lambda e: (rank.get(e["key"], len(rank)), str(e["key"])))


@contextlib.contextmanager
def _held_interrupts() -> Iterator[None]:
    """Hold Ctrl-C (and any signal with a Python handler, as the CLI gives SIGTERM) until the
    block ends, then act on it: an interrupt between a document taking its final name and its
    manifest entry saying so left a document the manifest called interrupted.

    Signal handlers can only be changed in the main thread; elsewhere nothing is held.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    saved = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if callable(handler):
            saved[sig] = handler
            signal.signal(sig, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    if caught:
        saved[caught[0]](caught[0], None)


def _save_every() -> float:
    raw = os.environ.get("SALESNB_SAVE_EVERY", "").strip()
    try:
        return max(0.0, float(raw)) if raw else SAVE_EVERY
    except ValueError:
        msg = f"SALESNB_SAVE_EVERY={raw!r} is not a number. Fix: set seconds, e.g. 1 or 0."
        raise ParameterError(msg) from None


def _summary(manifest: Mapping[str, Any]) -> dict[str, int]:
    """Counts of this run's subjects (``earlier``: those kept from earlier runs)."""
    mine = [s for s in manifest["subjects"] if not s.get("earlier_run")]
    count = {
        st: sum(1 for s in mine if s["status"] == st)
        for st in ("ok", "failed", "pending", "interrupted")
    }
    count["skipped"] = sum(1 for s in mine if s.get("skipped"))
    count["total"] = len(mine)
    count["earlier"] = len(manifest["subjects"]) - len(mine)
    count["no_data"] = len(manifest.get("no_data") or [])
    return count


def _counts(manifest: Mapping[str, Any]) -> dict[str, int]:
    """:func:`_summary` and ``done``: the documents this run made so far (ok or failed)."""
    count = _summary(manifest)
    count["done"] = count["ok"] + count["failed"] - count["skipped"]
    return count


def _save(out: Path, manifest: dict[str, Any]) -> None:
    manifest["summary"] = _summary(manifest)
    atomic_write(out / MANIFEST, json.dumps(manifest, indent=2, default=str).encode("utf-8"))
    atomic_write(out / INDEX, render_index(manifest).encode("utf-8"))


def _put_all(
    out: Path,
    result: Any,
    spooled: dict[str, tuple[str, str]],
    finals: dict[str, str],
    failed_nb: str,
) -> dict[str, Any]:
    """Put ``result``'s outputs in place: every format if it succeeded, else only its
    notebook (as ``failed_nb``); the manifest's ``outputs``."""
    made = {*result.files, *spooled}
    outputs = {}
    if result.status == "ok":
        for fmt in sorted(made):
            outputs[fmt] = {
                "path": finals[fmt],
                "sha256": _put(out, finals[fmt], fmt, result, spooled),
            }
    elif "ipynb" in made:
        outputs["ipynb"] = {"path": failed_nb,
                            "sha256": _put(out, failed_nb, "ipynb", result, spooled)}  # fmt: skip
    for fmt, (tmp, _) in spooled.items():  # what is not kept (a failed subject's HTML)
        if fmt not in outputs:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
    if any(fmt in spooled for fmt in outputs):
        sync_folder(out)
    return outputs


def _put(out: Path, name: str, fmt: str, result: Any, spooled: dict[str, tuple[str, str]]) -> str:
    """Put one output of ``result`` at ``out / name`` atomically; its SHA-256.

    A spooled file (written by the worker into ``out`` already) is renamed into place; bytes
    are written (:func:`atomic_write`).
    """
    if fmt in spooled:
        tmp, digest = spooled[fmt]
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # on disk before it takes the final name, as atomic_write does
        finally:
            os.close(fd)
        os.replace(tmp, out / name)  # the same folder: atomic
        return digest
    data = result.files[fmt]
    atomic_write(out / name, data)
    return hashlib.sha256(data).hexdigest()


def _store(
    out: Path,
    entry: dict[str, Any],
    result: Any,
    formats: tuple[str, ...],
    warn: Callable[[str], None] | None = None,
    previous: Mapping[str, Any] | None = None,
) -> dict:
    """Write one subject's outputs atomically, and the files its document links to
    (:func:`write_files`); drop stale documents of a failed subject, and the files of
    ``previous`` (its entry in the manifest already in OUT) that this document does not link."""
    slug = entry["slug"]
    before = files_of(out, previous) if previous else set()
    finals = {"ipynb": f"{slug}.ipynb", "html": f"{slug}.html", "pdf": f"{slug}.pdf"}
    failed_nb = f"{slug}.failed.ipynb"
    spooled = getattr(result, "spooled", None) or {}
    made = {*result.files, *spooled}
    try:
        outputs = _put_all(out, result, spooled, finals, failed_nb)
    except OSError as exc:  # a full disk, a spooled file gone: this subject fails, not the batch
        for tmp, _ in spooled.values():
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
        why = f"could not write the documents: {exc}"
        fix = "Fix: check the output folder (free space, permissions) and run with --resume."
        error = {"kind": "engine", "ename": "OSError", "cell": None, "evalue": why,
                 "lines": [f"OSError: {why}. {fix}"]}  # fmt: skip
        failed = replace(result, status="failed", error=error, files={}, spooled={})
        return _store(out, entry, failed, formats, warn=warn, previous=previous)
    if result.status == "ok":
        stale = [failed_nb] + [finals[f] for f in ("html", "pdf") if f not in made]
    else:  # a document from an earlier run must not look like this run's result
        stale = list(finals.values())
    for name in stale:
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
    title = result.title or entry.get("title") or {}
    stored = {**entry, "status": result.status, "outputs": outputs, "title": title}
    made_files = {p.name: p for p in write_files(out, stored, warn)}
    for name in sorted(before - set(made_files)):  # an earlier run's list: it matches nothing now
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
    return {
        "status": result.status,
        "started": result.started,
        "finished": result.finished,
        "duration_s": round(result.duration, 3),
        "error": result.error,
        "outputs": outputs,
        "headline": result.headline if result.status == "ok" else {},
        "title": result.title,
        "worker": result.worker,
        "skipped": False,
        "files": [{"path": n, "sha256": sha256_file(p)} for n, p in sorted(made_files.items())],
    }

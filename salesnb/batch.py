"""Batch review documents: one notebook run per rep, region or manager.

:func:`run` validates everything first (notebook, parameters, subjects, engine,
formats), then fans the subjects out to a runner (:mod:`salesnb.executor`),
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
import re
import secrets
import sys
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from salesnb import __version__
from salesnb.errors import BatchError, ParameterError, RenderError

FORMATS = ("html", "pdf", "ipynb")
MANIFEST = "manifest.json"
INDEX = "index.html"
#: Seconds between rewrites of the manifest and index while a batch runs (the first document
#: and the end are always written); ``SALESNB_SAVE_EVERY`` overrides (0: after every document).
SAVE_EVERY = 1.0
_RESERVED_SLUGS = {
    "index",
    "manifest",
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(10)),
    *(f"lpt{i}" for i in range(10)),
}
_PACKAGES = (
    "pandas",
    "numpy",
    "altair",
    "vl-convert-python",
    "statsmodels",
    "scipy",
    "papermill",
    "nbconvert",
    "nbclient",
    "nbformat",
    "ipykernel",
    "jupyter_client",
    "jinja2",
    "distributed",
)
_MAX_SLUG = 60


# --------------------------------------------------------------------------- names


def slugify(text: str) -> str:
    """A safe, lower-case file name stem for any text (ASCII letters, digits and dashes).

    Accents become ASCII letters, apostrophes vanish, anything else separates
    words. The result never is empty, never starts with a dot, never contains a
    path separator and is at most 60 characters; Windows device names and the
    batch's own file names are avoided by :func:`assign_slugs`.

    Examples
    --------
    >>> slugify("Zoë O'Brien"), slugify("José Nuñez-García"), slugify("../../etc")
    ('zoe-obrien', 'jose-nunez-garcia', 'etc')
    """
    text = unicodedata.normalize("NFKD", str(text))
    text = text.encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"['’`]", "", text).lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return text[:_MAX_SLUG].rstrip("-") or "subject"


def _short_hash(text: str, n: int = 6) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


def assign_slugs(labels: Mapping[str, str]) -> dict[str, str]:
    """Unique file name stems for subjects: ``{key: slug}`` from ``{key: label}``.

    Subjects whose labels slugify alike (``"São Paulo"`` and ``"Sao Paulo"``) all get
    a short hash of their key appended, so the names do not depend on which
    subjects a run includes or on their order. Reserved stems (``index``,
    ``manifest``, ``CON``, ``NUL`` ...) get the suffix too.

    Examples
    --------
    >>> assign_slugs({"a": "Ana", "b": "Añá", "c": "CON"})
    {'a': 'ana-ca9781', 'b': 'ana-3e23e8', 'c': 'con-2e7d2c'}
    """
    base = {k: slugify(v) for k, v in labels.items()}
    counts: dict[str, int] = {}
    for s in base.values():
        counts[s] = counts.get(s, 0) + 1
    out = {}
    for k, s in base.items():
        if counts[s] > 1 or s in _RESERVED_SLUGS or s.endswith(".failed"):
            s = f"{s}-{_short_hash(k)}"
        out[k] = s
    if len(set(out.values())) != len(out):  # a hash suffix met a real name: lengthen all
        out = {k: f"{base[k]}-{_short_hash(k, 16)}" for k in labels}
    return out


# --------------------------------------------------------------------------- files


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either the old file or the whole new one.

    Writes a temporary file in the same folder, fsyncs it, renames it over
    ``path`` (atomic on POSIX) and fsyncs the folder.
    """
    path = Path(path)
    # unique per call: two writers of one path (processes or threads) never share a temp file
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:  # a failed write (disk full) leaves no temporary file behind
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    _sync_folder(path.parent)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` so two batches never write one folder at once."""
    import fcntl

    with open(out / ".salesnb.lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            msg = (
                f"Another salesnb batch is writing to {str(out)!r}. Fix: wait for it to "
                "finish, or choose another --out folder."
            )
            raise BatchError(msg) from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _clean_temp(out: Path) -> None:
    """Remove temporary files a killed run left behind (never a final name)."""
    for p in out.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            p.unlink()


# --------------------------------------------------------------------------- inputs


def resolve_notebook(notebook: str | Path) -> Path:
    """The notebook file: a path, or a name from ``notebooks/`` (``pipeline_review``).

    Examples
    --------
    >>> resolve_notebook("pipeline_review")  # doctest: +SKIP
    PosixPath('/.../notebooks/pipeline_review.ipynb')
    """
    p = Path(notebook)
    if p.is_file():
        return p.resolve()
    name = p.name if p.suffix == ".ipynb" else f"{p.name}.ipynb"
    folders = [Path.cwd() / "notebooks", Path(__file__).resolve().parents[1] / "notebooks"]
    for folder in folders:
        if (folder / name).is_file():
            return (folder / name).resolve()
    known = sorted({q.stem for f in folders if f.is_dir() for q in f.glob("*.ipynb")})
    import difflib

    close = difflib.get_close_matches(p.stem, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    msg = (
        f"Notebook {str(notebook)!r} not found (not a file, not in notebooks/).{hint} "
        f"Fix: pass a .ipynb path or one of {', '.join(map(repr, known)) or '(none found)'}."
    )
    raise ParameterError(msg)


def _document_title(nb_path: Path) -> str:
    # plain JSON (notebook_parameters read it already): nbformat costs 0.15 s to import here
    meta = json.loads(nb_path.read_text(encoding="utf-8")).get("metadata", {}).get("salesnb", {})
    return str(meta.get("title") or nb_path.stem.replace("_", " ").capitalize())


def _select(subjects: list[tuple[str, str]], only: Iterable[str] | None, by: str) -> list:
    if not only:
        return subjects
    by_key = {k: (k, n) for k, n in subjects}
    by_name: dict[str, list[str]] = {}
    for k, n in subjects:
        by_name.setdefault(n, []).append(k)
    chosen, unknown = {}, []
    for item in only:
        if item in by_key:
            chosen[item] = by_key[item]
        elif len(by_name.get(item, [])) == 1:
            chosen[by_name[item][0]] = by_key[by_name[item][0]]
        else:
            unknown.append(item)
    if unknown:
        import difflib

        options = list(by_key) + [n for _, n in subjects]
        parts = []
        for u in unknown:
            close = difflib.get_close_matches(u, options, n=2, cutoff=0.5)
            parts.append(
                f"{u!r}" + (f" (did you mean {' or '.join(map(repr, close))}?)" if close else "")
            )
        shown = ", ".join(map(repr, list(by_key)[:8])) + (" ..." if len(by_key) > 8 else "")
        msg = f"Unknown {by} {', '.join(parts)} in --only. Fix: use one of {shown}."
        raise ParameterError(msg)
    return [s for s in subjects if s[0] in chosen]


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"salesnb": __version__, "python": sys.version.split()[0]}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def resume_key(
    nb_sha: str, parameters: Mapping[str, Any], fingerprint: str, charts: str = "svg"
) -> str:
    """The inputs that decide a document: notebook, parameters, data, chart format, kit version."""
    inputs = [nb_sha, parameters, fingerprint, __version__]
    if charts != "svg":  # keys of svg documents stay what they were before formats existed
        inputs.append(charts)
    blob = json.dumps(inputs, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# --------------------------------------------------------------------------- index


def render_index(manifest: Mapping[str, Any], template_dir: Path | None = None) -> str:
    """The batch's ``index.html``: every subject, its headline figures, status and link.

    Rendered with Jinja2 ``autoescape=True`` (subject names are data, never markup);
    sortable with a small inline script; nothing external.
    """
    from salesnb.render import TEMPLATES, external_references, neutralise_controls

    env = _index_env(str(template_dir or TEMPLATES))
    subjects = manifest["subjects"]
    columns: list[str] = []
    for s in subjects:
        for k in s.get("headline") or {}:
            if k not in columns:
                columns.append(k)
    html = neutralise_controls(  # names are data: no bidi override or NUL reaches the page
        env.get_template("batch_index.html.j2").render(
            m=manifest, subjects=subjects, columns=columns
        )
    )
    bad = external_references(html)
    if bad:
        raise BatchError(
            f"index.html would reference external resources {bad[:3]!r}. "
            "Fix: remove them from templates/batch_index.html.j2."
        )
    return html


@functools.lru_cache(maxsize=4)
def _index_env(template_dir: str) -> Any:
    """The index's Jinja2 environment, kept: a batch renders the index again and again, and
    compiling the template was most of it (Jinja2 still reloads a template file that changed)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(template_dir), autoescape=True)
    env.filters["figure"] = _format_figure
    return env


def _format_figure(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    if isinstance(value, list):
        return ", ".join(_format_figure(v) for v in value) or "–"
    return str(value)


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
) -> dict[str, Any]:
    """Validate every input and build the per-subject parameters; runs nothing.

    ``load`` replaces ``salesnb.load`` for the data (the fork runner's, which hands the
    zygote a copy).
    """
    from salesnb import io
    from salesnb import params as P
    from salesnb import subject as S
    from salesnb.executor import get_engine

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
        from salesnb.render import require_chromium

        try:
            require_chromium()
        except RenderError as exc:
            raise BatchError(str(exc)) from None
    if by not in S.SUBJECT_TYPES:
        raise ParameterError(f"Unknown --by {by!r}. Fix: use one of {list(S.SUBJECT_TYPES)!r}.")
    user = dict(P.load_file(params_file)) if params_file else {}
    user.update(params or {})
    user = P.validate(user, spec, notebook=nb_path.name)
    if profile is not None and "profile" not in spec:
        msg = (
            f"Notebook {nb_path.name!r} has no 'profile' parameter, so --profile cannot be "
            "passed to it. Fix: add profile = None to its parameters cell."
        )
        raise ParameterError(msg)

    data_path = Path(data).resolve()
    wb = (load or io.load)(str(data_path), profile)
    as_of = S.resolve_as_of(wb, user.get("as_of"))
    if "period" in user:
        S.resolve_period(wb, user.get("period"), as_of)
    subjects = _select(S.subjects(wb, by), only, by)
    if not subjects:
        raise ParameterError(
            f"The data at {str(data)!r} has no {by} to report on. Fix: check the reps table."
        )
    prof = profile
    if profile is not None and Path(profile).exists():
        prof = str(Path(profile).resolve())
    base = {**user, "data": str(data_path), "subject_type": by}
    if "profile" in spec:
        base["profile"] = prof
    labels = {k: (f"{k} {n}" if by == "rep" and n != k else n) for k, n in S.subjects(wb, by)}
    return {
        "nb_path": nb_path,
        "nb_sha": sha256_file(nb_path),
        "spec": spec,
        "user": user,
        "base": base,
        "subjects": subjects,
        "slugs": assign_slugs(labels),
        "fingerprint": wb.fingerprint(),
        "title": _document_title(nb_path),
    }


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
    progress: bool = True,
    charts: str = "svg",
) -> dict[str, Any]:
    """Run ``notebook`` once per subject into review documents; return the manifest.

    Parameters
    ----------
    notebook : str or path
        A notebook path, or a name from ``notebooks/`` (e.g. ``"pipeline_review"``).
    by : {"rep", "region", "manager", "team", "all"}
        What each document is about.
    data, profile : str
        The data folder and import profile, as for :func:`salesnb.io.load`.
    out : path
        Output folder (created).
    only : list of str, optional
        Subject keys (rep_id, region, manager) or rep names to run; default all.
    params, params_file : optional
        More notebook parameters (a mapping, and/or a JSON/TOML/YAML file; the mapping wins).
    workers : int, optional
        Documents at once on this machine (default: the number of cores).
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
        of one pre-imported process per document, see :mod:`salesnb.fastengine`),
        ``"papermill"`` (a fresh kernel per document) or a registered one.
    progress : bool
        Show a progress bar on stderr (only when stderr is a terminal).
    charts : {"svg", "vega"}
        Chart format of the documents (see :mod:`salesnb.chartrender`): static SVG made
        while the batch runs (no scripts in the documents), or the specs drawn in the
        reader's browser by an inlined Vega runtime (no SVG conversion: faster batches,
        larger files; still offline).

    Returns
    -------
    dict
        The manifest (also in ``OUT/manifest.json``); ``manifest["summary"]`` counts
        ok, failed and skipped subjects.

    Raises
    ------
    ParameterError
        Before anything runs: unknown or mistyped parameter, unknown subject, bad format.
    KeyboardInterrupt
        After a clean stop: finished documents kept, the manifest marks the rest.

    Examples
    --------
    >>> m = run("pipeline_review", by="rep", data="data/sample", out="reports/q3")  # doctest: +SKIP
    >>> m["summary"]                                                                 # doctest: +SKIP
    {'ok': 30, 'failed': 0, 'skipped': 0, 'total': 30}
    """
    formats = tuple(dict.fromkeys(formats))
    from salesnb.chartformat import chart_format

    try:
        charts = chart_format(charts)
    except RenderError as exc:
        raise ParameterError(str(exc)) from None
    if engine == "auto":
        from salesnb.executor import default_engine

        engine = default_engine(scheduler)
    save_every = _save_every()  # a bad SALESNB_SAVE_EVERY fails before anything runs
    runner = _early_runner(notebook, workers, scheduler, engine, charts)
    try:
        prep = _prepare(
            notebook, by, data, profile, only, params, params_file, formats, engine,
            load=getattr(runner, "load", None),
        )  # fmt: skip
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        with _locked(out):
            _clean_temp(out)
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
            )
    finally:
        if runner is not None:  # closed already after a run; else the inputs were refused
            runner.abort()


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
    from salesnb.executor import make_runner

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
    progress: bool,
    charts: str = "svg",
    runner: Any = None,
    save_every: float = SAVE_EVERY,
) -> dict[str, Any]:
    from salesnb.chartformat import CHARTS_ENV
    from salesnb.executor import Job, make_runner

    old = _load_manifest(out) if resume else None
    old_subjects = {s["key"]: s for s in (old or {}).get("subjects", [])}
    manifest: dict[str, Any] = {
        "manifest_version": 1,
        "salesnb_version": __version__,
        "status": "running",
        "started": _now(),
        "finished": None,
        "notebook": {
            "name": prep["nb_path"].stem,
            "path": str(prep["nb_path"]),
            "sha256": prep["nb_sha"],
            "title": prep["title"],
        },
        "by": by,
        "data": {
            "path": str(Path(data).resolve()),
            "profile": profile,
            "fingerprint": prep["fingerprint"],
        },
        "parameters": prep["user"],
        "formats": list(formats),
        "charts": charts,
        "engine": engine,
        "scheduler": scheduler,
        "workers": workers or os.cpu_count(),
        "timeout": timeout,
        "resume": resume,
        "packages": _versions(),
        "summary": {},
        "subjects": [],
    }
    jobs, entries = [], {}
    for key, name in prep["subjects"]:
        parameters = {**prep["base"], "subject": key}
        rkey = resume_key(prep["nb_sha"], parameters, prep["fingerprint"], charts)
        prev = old_subjects.get(key)
        if resume and _up_to_date(prev, rkey, out, formats):
            entry = {**prev, "skipped": True}
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
                    env=((CHARTS_ENV, charts),),
                    # workers on this machine write the documents into OUT themselves
                    spool=None if scheduler else str(out),
                )
            )
        entries[key] = entry
    manifest["subjects"] = list(entries.values())
    _save(out, manifest)

    bar = _progress(len(jobs), progress)
    saved = -save_every  # the first document shows at once
    try:
        if jobs:
            runner = runner or make_runner(workers, scheduler, engine)
            for job, result in runner.run(jobs):
                entries[job.key].update(_store(out, entries[job.key], result, formats))
                manifest["subjects"] = list(entries.values())
                # The documents are on disk already; the manifest and index follow at most
                # SAVE_EVERY seconds later (a resume after a crash re-runs what they missed):
                # rewriting both after every document costs the batch more than it shows.
                if time.monotonic() - saved >= save_every:
                    _save(out, manifest)
                    saved = time.monotonic()
                if bar is not None:
                    bar.update(1)
                    s = _summary(manifest)
                    bar.set_postfix(
                        done=s["ok"], failed=s["failed"], remaining=s["pending"], refresh=False
                    )
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
        if bar is not None:
            bar.close()
        _clean_temp(out)  # spooled documents of subjects that never reported back
        manifest["finished"] = _now()
        manifest["subjects"] = list(entries.values())
        _save(out, manifest)
    return manifest


def _save_every() -> float:
    raw = os.environ.get("SALESNB_SAVE_EVERY", "").strip()
    try:
        return max(0.0, float(raw)) if raw else SAVE_EVERY
    except ValueError:
        msg = f"SALESNB_SAVE_EVERY={raw!r} is not a number. Fix: set seconds, e.g. 1 or 0."
        raise ParameterError(msg) from None


def _progress(total: int, enabled: bool) -> Any:
    if not enabled or total == 0 or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="doc",
        desc="salesnb batch",
        file=sys.stderr,
        dynamic_ncols=True,
        smoothing=0.1,
    )


def _summary(manifest: Mapping[str, Any]) -> dict[str, int]:
    subjects = manifest["subjects"]
    count = {
        st: sum(1 for s in subjects if s["status"] == st)
        for st in ("ok", "failed", "pending", "interrupted")
    }
    count["skipped"] = sum(1 for s in subjects if s.get("skipped"))
    count["total"] = len(subjects)
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
        _sync_folder(out)
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


def _sync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _store(out: Path, entry: dict[str, Any], result: Any, formats: tuple[str, ...]) -> dict:
    """Write one subject's outputs atomically; drop stale documents of a failed subject."""
    slug = entry["slug"]
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
        return _store(out, entry, failed, formats)
    if result.status == "ok":
        stale = [failed_nb] + [finals[f] for f in ("html", "pdf") if f not in made]
    else:  # a document from an earlier run must not look like this run's result
        stale = list(finals.values())
    for name in stale:
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
    }

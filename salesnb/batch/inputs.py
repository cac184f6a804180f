"""What a batch runs: the notebook, the chosen subjects, versions and the resume key."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from salesnb import __version__
from salesnb.core.errors import ParameterError
from salesnb.core.resources import kit_folder

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


def resolve_notebook(notebook: str | Path) -> Path:
    """The notebook file: a path, or a name from ``notebooks/`` (``pipeline_review``).

    A name is looked up in ``./notebooks`` first (a working folder made by ``salesnb init``),
    then in the workbooks that ship with the package (:func:`~salesnb.core.resources.kit_folder`).

    Examples
    --------
    >>> resolve_notebook("pipeline_review")  # doctest: +SKIP
    PosixPath('/.../notebooks/pipeline_review.ipynb')
    """
    p = Path(notebook)
    if p.is_file():
        return p.resolve()
    name = p.name if p.suffix == ".ipynb" else f"{p.name}.ipynb"
    folders = [Path.cwd() / "notebooks", kit_folder("notebooks")]
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


def document_title(nb_path: Path) -> str:
    # plain JSON (notebook_parameters read it already): nbformat costs 0.15 s to import here
    meta = json.loads(nb_path.read_text(encoding="utf-8")).get("metadata", {}).get("salesnb", {})
    return str(meta.get("title") or nb_path.stem.replace("_", " ").capitalize())


def select_subjects(subjects: list[tuple[str, str]], only: Iterable[str] | None, by: str) -> list:
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


def empty_subjects(wb: Any, by: str) -> set[str]:
    """Keys of the subjects with no data: reps with no opportunity (open, won or lost) and
    no activity; a region, manager or team all of whose reps are such. ``"all"`` never.

    Examples
    --------
    >>> empty_subjects(wb, "rep")  # doctest: +SKIP
    {'R31'}
    """
    reps = wb.reps
    active = set(wb.opportunities["rep_id"].dropna()) | set(wb.activities["rep_id"].dropna())
    idle = ~reps["rep_id"].isin(active)
    if by == "rep":
        return set(reps.loc[idle, "rep_id"])
    if by not in ("region", "manager", "team"):
        return set()
    groups = reps.assign(idle=idle.to_numpy()).dropna(subset=[by]).groupby(by)["idle"].all()
    return set(groups[groups].index)


def package_versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"salesnb": __version__, "python": sys.version.split()[0]}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def file_inputs(
    spec: Mapping[str, Any], values: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, str]]:
    """The file parameters of a batch (declared ``"file": true``): absolute paths, contents.

    Each such parameter's value (the user's, else the notebook's default) is found like a
    data folder (:func:`salesnb.reports.facts.locate_data`: the working directory, its
    parents, the kit's checkout). Returns ``(paths, hashes)``: the absolute path to hand each
    document, so it reads the same file wherever it runs, and the SHA-256 of the file's
    bytes, which :func:`resume_key` uses instead of the path.

    Raises
    ------
    ParameterError
        When a named file does not exist (one message per parameter, with the fix).

    Examples
    --------
    >>> spec = notebook_parameters(resolve_notebook("incentive_statement"))  # doctest: +SKIP
    >>> file_inputs(spec, {})[1]  # doctest: +SKIP
    {'plan': '3f1c...'}
    """
    from salesnb.core.files import sha256_file
    from salesnb.reports.facts import locate_data

    paths: dict[str, str] = {}
    hashes: dict[str, str] = {}
    problems = []
    for name, p in spec.items():
        if p.rule is None or not p.rule.file:
            continue
        value = values.get(name, p.default)
        if not isinstance(value, str) or not value.strip():
            continue
        try:
            found = Path(locate_data(value))
        except ParameterError:
            found = None
        if found is None or not found.is_file():
            problems.append(
                f"Parameter {name!r} = {value!r}: no such file (looked in the working folder "
                f"and its parents). Fix: pass --param {name}=PATH with the path of an existing file."
            )
            continue
        paths[name] = str(found.resolve())
        hashes[name] = sha256_file(found)
    if problems:
        raise ParameterError(" ".join(problems))
    return paths, hashes


def resume_key(
    nb_sha: str,
    parameters: Mapping[str, Any],
    fingerprint: str,
    charts: str = "svg",
    files: Mapping[str, str] | None = None,
) -> str:
    """The inputs that decide a document: notebook, parameters, data, chart format, kit version.

    ``files`` maps a file parameter to the SHA-256 of its contents (:func:`file_inputs`); the
    key holds that hash in place of the file's path, so an edited plan re-runs the documents
    and a moved but unchanged one does not.
    """
    if files:
        parameters = {**parameters, **{k: {"sha256": v} for k, v in files.items()}}
    inputs = [nb_sha, parameters, fingerprint, __version__]
    if charts != "svg":  # keys of svg documents stay what they were before formats existed
        inputs.append(charts)
    blob = json.dumps(inputs, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")

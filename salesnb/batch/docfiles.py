"""The files beside a group's document (the full lists of a manager's copy as CSV, see
:mod:`salesnb.reports.rollup`): written from the subject's executed notebook, listed in the
batch manifest (``files``: path and SHA-256 of each), and kept matching the document when a
subject is re-run, fails, or is skipped by ``--resume`` (:mod:`salesnb.batch.documents`).
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from salesnb.core.files import sha256_file

__all__ = ["files_in_place", "files_of", "write_files"]


def write_files(
    out: Path, entry: Mapping[str, Any], warn: Callable[[str], None] | None = None
) -> list[Path]:
    """Write the files a group's document links to beside it (the full deal lists of a
    manager's copy as CSV, see :mod:`salesnb.reports.rollup`); the paths written.

    Read from the subject's executed notebook in ``out``; nothing for a rep's document, a
    failed subject or one without a notebook. A file that cannot be written is a warning
    (``warn``), never a failed batch: the document itself is in place.

    Examples
    --------
    >>> write_files(Path("reports/q3"), manifest["subjects"][0])  # doctest: +SKIP
    [PosixPath('reports/q3/pipeline-review-emea-attention.csv')]
    """
    from salesnb.reports import render

    ipynb = ((entry.get("outputs") or {}).get("ipynb") or {}).get("path")
    kind = (entry.get("title") or {}).get("subject_type")
    if entry.get("status") != "ok" or not ipynb or kind == "rep":
        return []
    try:
        return render.write_attachments(Path(out) / ipynb, out)
    except (OSError, ValueError) as exc:
        name = entry.get("name") or entry.get("key")
        (warn or functools.partial(warnings.warn, category=UserWarning))(
            f"{name}: could not write the CSV files its document links to: {exc}"
        )
        return []


def _plain(name: Any) -> bool:
    """A plain CSV name in the documents' folder (a tampered manifest removes nothing else)."""
    return isinstance(name, str) and Path(name).name == name and name.endswith(".csv")


def files_of(out: Path, entry: Mapping[str, Any]) -> set[str]:
    """Names of the files beside ``entry``'s document (a manifest entry) in ``out``.

    Its manifest's ``files`` list, or, for an entry made before manifests listed them, the
    files its executed notebook in ``out`` asks for. Only plain ``.csv`` names.

    Examples
    --------
    >>> files_of(Path("."), {"files": [{"path": "emea-attention.csv", "sha256": "..."}]})
    {'emea-attention.csv'}
    >>> files_of(Path("."), {"files": [{"path": "../notes.txt"}]})
    set()
    """
    from salesnb.reports import render

    listed = entry.get("files")
    if isinstance(listed, list):
        return {f["path"] for f in listed if isinstance(f, Mapping) and _plain(f.get("path"))}
    ipynb = ((entry.get("outputs") or {}).get("ipynb") or {}).get("path")
    if not ipynb or (entry.get("title") or {}).get("subject_type") == "rep":
        return set()
    try:
        nb = json.loads((Path(out) / ipynb).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return {name for name in render.attachments(nb) if _plain(name)}


def files_in_place(
    out: Path, entry: Mapping[str, Any], warn: Callable[[str], None] | None = None
) -> list[dict[str, str]]:
    """Make the files of a document skipped as up to date match it; their manifest list.

    Files that are all present with the SHA-256 the manifest lists are left alone (not
    rewritten). When one is missing or changed, or the manifest did not list them, they are
    written again from the subject's executed notebook (:func:`write_files`), which
    ``--resume`` has checked is the document's own.

    Examples
    --------
    >>> files_in_place(Path("reports/q3"), manifest["subjects"][0])  # doctest: +SKIP
    [{'path': 'pipeline-review-emea-attention.csv', 'sha256': '3f2a...'}]
    """
    listed = entry.get("files")
    if isinstance(listed, list) and all(
        isinstance(f, Mapping) and _plain(f.get("path")) and (Path(out) / f["path"]).is_file()
        and sha256_file(Path(out) / f["path"]) == f.get("sha256")
        for f in listed
    ):  # fmt: skip
        return [{"path": f["path"], "sha256": f["sha256"]} for f in listed]
    written = write_files(out, entry, warn)
    return [{"path": p.name, "sha256": sha256_file(p)} for p in sorted(written)]

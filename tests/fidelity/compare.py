"""Comparing one engine's run of the fidelity cases with stock papermill's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fidelity.normalise import _clean, normalise

#: papermill's own lines naming the input and output paths: the same whatever the engine.
_PATH_LINES = ("Input Notebook:", "Output Notebook:")


def results(outdir: Path) -> dict[str, dict[str, Any]]:
    """The runner's result lines by case name (missing cases: the runner died before)."""
    path = outdir / "results.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return {r["case"]: r for r in map(json.loads, lines)}


def notebook(outdir: Path, case: str) -> dict[str, Any] | None:
    path = outdir / (case.replace("/", "__") + ".ipynb")
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def differences(ref_dir: Path, dir_: Path, case: str, source: Path) -> list[str]:
    """Every difference between the reference run of ``case`` and another, in words
    (``source``: the input notebook)."""
    ref, got = results(ref_dir).get(case), results(dir_).get(case)
    if ref is None:
        return ["papermill's own run died or hung before finishing this case (see its log)"]
    if got is None:
        return ["the engine's process died or hung before finishing this case"]
    found = _notebook_differences(ref_dir, dir_, case, source, ref, got)
    return found + stream_differences(ref_dir, dir_, case)


#: Cases whose kernel kills itself in the given cell. Whether the kernel's "busy" and
#: ``execute_input`` messages reach the client before the signal lands is a race inside the
#: kernel (papermill's own run shows both outcomes on a loaded machine), so the cell's
#: execution count and its ``iopub`` timing metadata are not compared; its outputs, status
#: and everything else are.
DIES_IN_CELL = {"nbclient/Autokill": 0}


def _before_death(cell: dict) -> dict:
    cell = dict(cell)
    cell.pop("execution_count", None)
    meta = dict(cell.get("metadata", {}))
    meta.pop("execution", None)
    cell["metadata"] = meta
    return cell


def _notebook_differences(
    ref_dir: Path, dir_: Path, case: str, source: Path, ref: dict, got: dict
) -> list[str]:
    diffs = []
    if ref["exception"] != got["exception"]:
        diffs.append(f"raised {got['exception']} ({got['message']}), papermill {ref['exception']}")
    a, b = notebook(ref_dir, case), notebook(dir_, case)
    if (a is None) != (b is None):
        diffs.append(f"output notebook written: papermill {a is not None}, engine {b is not None}")
    if a is None or b is None:
        return diffs
    ids = {c.get("id") for c in json.loads(source.read_text(encoding="utf-8"))["cells"]}
    na, nbb = normalise(a, ids), normalise(b, ids)
    if na["metadata"] != nbb["metadata"]:
        diffs.append(f"notebook metadata: {na['metadata']} != {nbb['metadata']}")
    if len(na["cells"]) != len(nbb["cells"]):
        diffs.append(f"cells: {len(na['cells'])} != {len(nbb['cells'])}")
    for i, (ca, cb) in enumerate(zip(na["cells"], nbb["cells"], strict=False)):
        if case in DIES_IN_CELL and i == DIES_IN_CELL[case]:
            ca, cb = _before_death(ca), _before_death(cb)
        for key in ca:
            if ca[key] != cb[key]:
                diffs.append(f"cell {i} {key}: papermill {ca[key]!r} != engine {cb[key]!r}")
    return diffs


def _log(path: Path) -> list[tuple[str, str]]:
    """A case's papermill log records (run_engine.py), a cell's consecutive records of one
    level joined: how a kernel splits a stream depends on when it flushes, as in the
    notebook (see normalise._coalesce)."""
    out: list[tuple[str, str]] = []
    for level, message in map(json.loads, path.read_text(encoding="utf-8").splitlines()):
        if message.startswith(_PATH_LINES):
            continue
        marker = message.startswith(("Executing Cell ", "Ending Cell "))
        message = _clean(message, {})
        if out and not marker and out[-1][0] == level and not out[-1][1].startswith("\0"):
            out[-1] = (level, out[-1][1] + message)
        else:
            out.append((level, "\0" + message if marker else message))
    return out


def stream_differences(ref_dir: Path, dir_: Path, case: str) -> list[str]:
    """What the engine wrote to papermill's ``stdout_file``/``stderr_file`` and logged with
    ``log_output``, against papermill's own run (cases made by ``cases._streamed``)."""
    diffs = []
    stem = case.replace("/", "__")
    for suffix in (".stdout", ".stderr", ".log"):
        ref, got = ref_dir / (stem + suffix), dir_ / (stem + suffix)
        if not ref.exists():
            continue
        if not got.exists():
            diffs.append(f"{suffix[1:]}: papermill wrote it, the engine did not")
        elif suffix == ".log":
            a, b = _log(ref), _log(got)
            if a != b:
                diffs.append(f"log_output records: papermill {a!r} != engine {b!r}")
        else:
            a, b = (_clean(p.read_text(encoding="utf-8"), {}) for p in (ref, got))
            if a != b:
                diffs.append(f"{suffix[1:]}_file: papermill {a!r} != engine {b!r}")
    return diffs

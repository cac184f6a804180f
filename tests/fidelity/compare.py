"""Comparing one engine's run of the fidelity cases with stock papermill's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fidelity.normalise import normalise


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
        for key in ca:
            if ca[key] != cb[key]:
                diffs.append(f"cell {i} {key}: papermill {ca[key]!r} != engine {cb[key]!r}")
    return diffs

"""Normalising executed notebooks so that two engines' runs compare cell by cell.

What differs between two runs of the same engine is replaced by placeholders: times,
durations, memory addresses, process ids, random ids (widget models, injected cells),
temporary file names in tracebacks and paths of this checkout.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?")
_CELL_FILE = re.compile(r"(/tmp/ipykernel_\d+/\d+\.py|<ipython-input-[^>]*>|Cell In\[\d+\])")
_UUID = re.compile(r"[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _clean(text: str, ids: dict[str, str]) -> str:
    text = _ANSI.sub("", text)
    text = _ADDRESS.sub("0x?", text)
    text = _TIMESTAMP.sub("<time>", text)
    text = _CELL_FILE.sub("<cell>", text)
    return _UUID.sub(lambda m: ids.setdefault(m.group(0), f"<id{len(ids)}>"), text)


def _walk(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {_clean(k, ids): _walk(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, ids) for v in value]
    if isinstance(value, str):
        return _clean(value, ids)
    return value


def _output(out: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    out = copy.deepcopy(out)
    if out.get("output_type") == "error":
        # a traceback's frames name files and lines of the engine's own machinery; what a
        # reader gets is the exception and the failing line, the traceback's last lines
        lines = [ln for t in out.get("traceback", []) for ln in _ANSI.sub("", t).splitlines()]
        out["traceback"] = [ln for ln in lines if ln.strip()][-1:]
    if out.get("output_type") == "stream":
        out["text"] = _text(out["text"])
    if "data" in out:
        out["data"] = {k: _text(v) if k.startswith("text/") else v for k, v in out["data"].items()}
    return _walk(out, ids)


def _coalesce(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive stream outputs of one name as one: how a kernel splits a stream depends
    on when it flushes (every 0.2 s in ipykernel), not on what the notebook wrote."""
    merged: list[dict[str, Any]] = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and out.get("output_type") == prev.get("output_type") == "stream"
            and out.get("name") == prev.get("name")
        ):
            prev["text"] += out["text"]
        else:
            merged.append(out)
    return merged


_WIDGETS = "application/vnd.jupyter.widget-state+json"
_VIEW = "application/vnd.jupyter.widget-view+json"


def _widget_names(nb: dict[str, Any]) -> dict[str, str]:
    """Widget model ids (random) named by where they are used, the same in every run:
    ``W0``, ``W1``... in the order the cells show them, then ``W0.layout`` and so on for
    the models a model's state refers to (``IPY_MODEL_<id>``)."""
    states = nb.get("metadata", {}).get("widgets", {}).get(_WIDGETS, {}).get("state", {})
    names: dict[str, str] = {}
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            model = out.get("data", {}).get(_VIEW, {}).get("model_id")
            if model and model not in names:
                names[model] = f"W{len(names)}"
    queue = list(names)
    while queue:
        model = queue.pop(0)
        state = states.get(model, {}).get("state", {})
        for key in sorted(state):
            value = state[key]
            refs = value if isinstance(value, list) else [value]
            for i, ref in enumerate(refs):
                if isinstance(ref, str) and ref.startswith("IPY_MODEL_"):
                    target = ref[len("IPY_MODEL_") :]
                    if target not in names:
                        names[target] = f"{names[model]}.{key}{i if len(refs) > 1 else ''}"
                        queue.append(target)
    for model in sorted(states, key=lambda m: json.dumps(states[m], sort_keys=True)):
        names.setdefault(model, f"unshown-{states[model].get('model_name')}")
    return names


def normalise(nb: dict[str, Any], source_ids: set[str] | None = None) -> dict[str, Any]:
    """``nb`` (a notebook as JSON) with run-specific values replaced; cells and metadata.

    Cell ids not in ``source_ids`` (the input notebook's) were made up by nbformat when it
    upgraded a notebook without ids: random in every run.

    Examples
    --------
    >>> n = normalise({"metadata": {}, "cells": []})
    >>> n["cells"]
    []
    """
    text = json.dumps(nb)
    for model, name in _widget_names(nb).items():
        text = text.replace(model, f"<{name}>")
    nb = json.loads(text)
    ids: dict[str, str] = {}
    cells = []
    for cell in nb.get("cells", []):
        meta = copy.deepcopy(cell.get("metadata", {}))
        pm = meta.get("papermill", {})
        for key in ("start_time", "end_time", "duration"):
            if pm.get(key) is not None:
                pm[key] = "<set>"
        if "execution" in meta:
            meta["execution"] = {k: "<time>" for k in meta["execution"]}
        cells.append(
            {
                "cell_type": cell.get("cell_type"),
                "id": cell.get("id") if cell.get("id") in (source_ids or ()) else "<new>",
                "source": _text(cell.get("source", "")),
                "metadata": _walk(meta, ids),
                "execution_count": cell.get("execution_count"),
                "outputs": _coalesce([_output(o, ids) for o in cell.get("outputs", [])]),
            }
        )
    meta = copy.deepcopy(nb.get("metadata", {}))
    pm = meta.get("papermill", {})
    for key in ("start_time", "end_time", "duration", "input_path", "output_path"):
        if pm.get(key) is not None:
            pm[key] = "<set>"
    if "version" in meta.get("language_info", {}):
        meta["language_info"]["version"] = "<version>"
    return {"metadata": _walk(meta, ids), "cells": cells}

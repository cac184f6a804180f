"""Workbook parameters: read them from a notebook's ``parameters`` cell and check user values.

Validation happens before anything runs, so a typo in ``--param`` costs a
second, not a batch of failed documents. Types are inferred from each
parameter's default (``papermill.inspect_notebook``): a parameter whose default
is ``None`` accepts any plain value; otherwise the value must have the
default's type (an int is accepted where a float is expected).
"""

from __future__ import annotations

import ast
import difflib
import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from salesnb.errors import ParameterError

#: Parameters the batch sets itself, one value per subject.
RESERVED = ("data", "profile", "subject_type", "subject")
_UNKNOWN = object()


@dataclass(frozen=True)
class NotebookParameter:
    """One parameter of a workbook: its name, default value and help text.

    ``default`` is the Python value of the default when it is a literal;
    otherwise ``literal`` is False and any value is accepted.
    """

    name: str
    default: Any
    literal: bool
    help: str = ""

    @property
    def type_name(self) -> str:
        if not self.literal or self.default is None:
            return "any"
        return type(self.default).__name__


def notebook_parameters(notebook: str | Path) -> dict[str, NotebookParameter]:
    """The parameters declared in ``notebook``'s cell tagged ``parameters``.

    Raises
    ------
    ParameterError
        If the notebook cannot be read or has no ``parameters`` cell.

    Examples
    --------
    >>> spec = notebook_parameters("notebooks/pipeline_review.ipynb")  # doctest: +SKIP
    >>> spec["subject"].default                                         # doctest: +SKIP
    'R01'
    """
    import nbformat
    import papermill

    path = Path(notebook)
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as exc:
        msg = f"Cannot read notebook {str(path)!r}: {exc}. Fix: pass a valid .ipynb file."
        raise ParameterError(msg) from None
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        msg = (
            f"Notebook {str(path)!r} has no cell tagged 'parameters'. Fix: tag the cell that "
            "sets the defaults (data, subject_type, subject, ...) with 'parameters'."
        )
        raise ParameterError(msg)
    out = {}
    for name, info in papermill.inspect_notebook(str(path)).items():
        try:
            default, literal = ast.literal_eval(info["default"]), True
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            default, literal = info["default"], False
        out[name] = NotebookParameter(name, default, literal, info.get("help") or "")
    return out


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "y", "on"):
        return True
    if low in ("0", "false", "no", "n", "off"):
        return False
    raise ValueError(text)


def _from_text(text: str, p: NotebookParameter | None) -> Any:
    """Turn the text of ``--param k=v`` into a value of ``p``'s type."""
    if p is None or not p.literal or p.default is None:
        if text.strip().lower() in ("none", "null", ""):
            return None
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return text
    kind = type(p.default)
    if kind is str:
        return text
    if kind is bool:
        return _bool(text)
    if kind in (int, float):
        return kind(text)
    try:
        return json.loads(text)
    except ValueError:
        return ast.literal_eval(text)


def parse_cli(pairs: Iterable[str], spec: Mapping[str, NotebookParameter]) -> dict[str, Any]:
    """Parse ``--param name=value`` strings, typed after the notebook's defaults.

    Examples
    --------
    >>> spec = {"n": NotebookParameter("n", 3, True), "tag": NotebookParameter("tag", "a", True)}
    >>> parse_cli(["n=5", "tag=007"], spec)
    {'n': 5, 'tag': '007'}
    """
    out: dict[str, Any] = {}
    problems = []
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            problems.append(f"--param {pair!r} is not of the form name=value.")
            continue
        p = spec.get(name)
        try:
            out[name] = _from_text(text, p)
        except (ValueError, SyntaxError, TypeError):
            problems.append(
                f"--param {name}={text!r}: expected a {p.type_name if p else 'value'} "
                f"like the default {p.default!r}."
                if p
                else f"--param {name}={text!r} is invalid."
            )
    if problems:
        raise ParameterError(" ".join(problems) + " Fix: write --param name=value.")
    return out


def load_file(path: str | Path) -> dict[str, Any]:
    """Read parameters from a ``.json``, ``.toml`` or ``.yaml`` file (a mapping at the top)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        if p.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif p.suffix.lower() in (".yaml", ".yml"):
            import yaml  # optional: only for YAML params files

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except (OSError, ValueError, ImportError) as exc:
        msg = (
            f"Cannot read the params file {str(p)!r}: {exc}. Fix: pass a JSON, TOML or YAML "
            "file holding a mapping of parameter names to values."
        )
        raise ParameterError(msg) from None
    if not isinstance(data, dict):
        msg = (
            f"The params file {str(p)!r} holds a {type(data).__name__}, not a mapping. "
            'Fix: write {"name": value, ...}.'
        )
        raise ParameterError(msg)
    return data


def _type_ok(value: Any, p: NotebookParameter) -> bool:
    if not p.literal or p.default is None or value is None:
        return True
    want = type(p.default)
    if want is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if want is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, want)


def validate(
    params: Mapping[str, Any],
    spec: Mapping[str, NotebookParameter],
    *,
    notebook: str = "the notebook",
    reserved: Iterable[str] = RESERVED,
) -> dict[str, Any]:
    """Check user parameters against a notebook's parameters; one error lists every problem.

    Parameters
    ----------
    params : mapping
        User values (from ``--param``, a params file or the Python API).
    spec : mapping
        :func:`notebook_parameters` of the notebook.
    reserved : iterable of str
        Names the caller sets itself (the batch sets data, profile, subject_type, subject).

    Returns
    -------
    dict
        ``params`` as a plain dict.

    Raises
    ------
    ParameterError
        For an unknown name (with the closest match), a reserved name, or a value whose type
        differs from the default's.

    Examples
    --------
    >>> spec = {"period": NotebookParameter("period", None, True)}
    >>> validate({"perod": "FY2026-Q3"}, spec)
    Traceback (most recent call last):
    ...
    salesnb.errors.ParameterError: Unknown parameter 'perod' for the notebook; did you mean 'period'? Fix: use one of 'period'.
    """
    reserved = set(reserved)
    problems = []
    for name, value in params.items():
        if name in reserved:
            problems.append(
                f"Parameter {name!r} is set by the batch for each subject; use --by/--only/"
                "--data/--profile instead."
            )
            continue
        p = spec.get(name)
        if p is None:
            close = difflib.get_close_matches(name, list(spec), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else "."
            problems.append(f"Unknown parameter {name!r} for {notebook}{hint}")
        elif not _type_ok(value, p):
            problems.append(
                f"Parameter {name!r} = {value!r} is a {type(value).__name__}, but its default "
                f"{p.default!r} is a {p.type_name}."
            )
    if problems:
        names = ", ".join(repr(n) for n in spec if n not in reserved) or "(none)"
        raise ParameterError(" ".join(problems) + f" Fix: use one of {names}.")
    return dict(params)

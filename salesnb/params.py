"""Workbook parameters: read them from a notebook's ``parameters`` cell and check user values.

Validation happens before anything runs, so a typo in ``--param`` costs a
second, not a batch of failed documents. The ``parameters`` cell is parsed the way
``papermill.inspect_notebook`` does it, without importing papermill (about half a
second of CPU). Types are inferred from each parameter's default: a parameter whose default
is ``None`` accepts any plain value; otherwise the value must have the
default's type (an int is accepted where a float is expected).
"""

from __future__ import annotations

import ast
import difflib
import json
import logging
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from salesnb.errors import ParameterError

#: Parameters the batch sets itself, one value per subject.
RESERVED = ("data", "profile", "subject_type", "subject")
_UNKNOWN = object()
_log = logging.getLogger(__name__)

#: ``papermill.translators.PythonTranslator.PARAMETER_PATTERN``, copied verbatim.
_PARAMETER_PATTERN = re.compile(
    r"^(?P<target>\w[\w_]*)\s*(:\s*[\"']?(?P<annotation>\w[\w_\[\],\s]*)[\"']?\s*)?=\s*"
    r"(?P<value>.*?)(\s*#\s*(type:\s*(?P<type_comment>[^\s]*)\s*)?(?P<help>.*))?$"
)
#: Kernel names and languages papermill inspects with its Python translator, and the others.
_PYTHON_KERNELS = frozenset({"python", "pysparkkernel"})
_OTHER_KERNELS = frozenset(
    {
        "R",
        "scala",
        "julia",
        "matlab",
        ".net-csharp",
        ".net-fsharp",
        ".net-powershell",
        "sparkkernel",
        "sparkrkernel",
        "bash",
    }
)


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

    The .ipynb is read as JSON and the cell parsed like papermill's
    ``inspect_notebook`` (Python translator), without importing papermill or nbformat.

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
    path = Path(notebook)
    nb = _read_notebook(path)
    cells = [c for c in nb.get("cells", []) if isinstance(c, dict)]
    tagged = [c for c in cells if "parameters" in ((c.get("metadata") or {}).get("tags") or [])]
    if not tagged:
        msg = (
            f"Notebook {str(path)!r} has no cell tagged 'parameters'. Fix: tag the cell that "
            "sets the defaults (data, subject_type, subject, ...) with 'parameters'."
        )
        raise ParameterError(msg)
    if not _is_python(nb.get("metadata") or {}):
        return {}  # papermill has no parameter inspection for other kernels either
    source = tagged[0].get("source", "")
    if isinstance(source, list):
        source = "".join(source)
    out = {}
    for name, _annotation, text, help_ in _inspect_source(str(source)):
        try:
            default, literal = ast.literal_eval(text), True
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            default, literal = text, False
        out[name] = NotebookParameter(name, default, literal, help_)
    return out


def _read_notebook(path: Path) -> dict[str, Any]:
    """The JSON of the nbformat-4 notebook at ``path``, or a ParameterError saying why not."""
    try:
        with path.open(encoding="utf-8") as fh:
            nb = json.load(fh)
        if not isinstance(nb, dict) or "nbformat" not in nb:
            raise ValueError("not a Jupyter notebook (no 'nbformat' field)")
        if nb["nbformat"] != 4:
            raise ValueError(f"nbformat {nb['nbformat']!r} is not supported, only 4")
    except (OSError, ValueError) as exc:
        msg = f"Cannot read notebook {str(path)!r}: {exc}. Fix: pass a valid .ipynb file."
        raise ParameterError(msg) from None
    return nb


def _is_python(metadata: Mapping[str, Any]) -> bool:
    """Whether papermill would inspect a notebook with this metadata as Python.

    Papermill picks its translator by kernel name, then by language; a notebook
    that names neither is taken as Python here (papermill would fail on it).
    """
    kernel = (metadata.get("kernelspec") or {}).get("name")
    language = (metadata.get("language_info") or {}).get("name") or (
        metadata.get("kernelspec") or {}
    ).get("language")
    for key in (kernel, language):
        if key in _PYTHON_KERNELS:
            return True
        if key in _OTHER_KERNELS:
            return False
    return True


def _flatten(lines: list[str]) -> str:
    """Join a multi-line definition, dropping comments on all but its last line."""
    flat = "".join(
        line[: line.index("#")].strip() if "#" in line else line.strip() for line in lines[:-1]
    )
    return flat + lines[-1].strip() if lines else flat


def _inspect_source(source: str) -> list[tuple[str, str, str, str]]:
    """``(name, inferred type name, default text, help)`` per assignment in a parameters cell.

    A copy of ``papermill.translators.PythonTranslator.inspect``: lines are grouped
    from one line holding a single ``=`` to the next (so lists and dicts may span
    lines); blank and comment-only lines are skipped; a line with several ``=`` is
    skipped with a warning; a trailing comment on the last line is the help text. The
    type name is the annotation (``x: int = 1``), else a ``# type: int`` comment, else
    ``"None"``.
    """
    groups = []
    accumulator: list[str] = []
    for iline, line in enumerate(source.splitlines()):
        if not line.strip() or line.strip().startswith("#"):
            continue
        nequal = line.count("=")
        if nequal > 0:
            groups.append(_flatten(accumulator))
            accumulator = []
            if nequal > 1:
                _log.warning("Unable to parse line %d '%s'.", iline + 1, line)
                continue
        accumulator.append(line)
    groups.append(_flatten(accumulator))
    found = []
    for definition in groups:
        match = _PARAMETER_PATTERN.match(definition) if definition else None
        if match is not None:
            name, annotation, comment, value, help_ = match.group(
                "target", "annotation", "type_comment", "value", "help"
            )
            type_name = str(annotation or comment or None).strip()
            found.append((name.strip(), type_name, str(value).strip(), str(help_ or "").strip()))
    return found


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

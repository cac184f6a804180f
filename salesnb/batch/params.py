"""Workbook parameters: read them from a notebook's ``parameters`` cell and check user values.

Validation happens before anything runs, so a typo in ``--param`` costs a
second, not a batch of failed documents. The ``parameters`` cell is parsed the way
``papermill.inspect_notebook`` does it, without importing papermill (about half a
second of CPU). Types are inferred from each parameter's default: a parameter whose default
is ``None`` accepts any plain value; otherwise the value must have the
default's type (an int is accepted where a float is expected). A number is never NaN or
infinite.

A notebook declares more in its metadata, ``metadata.salesnb.parameters``: per parameter a
:class:`Rule` (type, range, allowed values, a date not after the as-of date)::

    "salesnb": {"parameters": {
        "n_goals": {"type": "int", "min": 2, "max": 4},
        "split_method": {"choices": ["history", "capacity", "even"]},
        "since": {"type": "date", "not_after": "as_of"}}}

``"file": true`` marks a parameter naming a file whose contents decide the document (an
incentive plan): a batch passes the document its absolute path and keys ``--resume`` on the
file's contents, not its path (:func:`salesnb.batch.inputs.file_inputs`).
"""

from __future__ import annotations

import ast
import datetime as dt
import difflib
import json
import logging
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from salesnb.core.errors import ParameterError

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


#: Types a :class:`Rule` can name, with the Python types a value may have.
_RULE_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "number": (int, float),
    "str": (str,),
    "bool": (bool,),
    "date": (str, dt.date),
    "list": (list, tuple),
    "dict": (dict,),
}
_RULE_KEYS = ("type", "min", "max", "choices", "nullable", "not_after", "file")
#: What ``not_after`` may name: the as-of date the document is made for.
_RELATIONS = ("as_of",)


@dataclass(frozen=True)
class Rule:
    """What a parameter accepts, beyond the type of its default (declared by the notebook).

    Attributes
    ----------
    type : str, optional
        ``int``, ``float`` (``number``: the same), ``str``, ``bool``, ``date`` (text as
        YYYY-MM-DD, or a date), ``list`` or ``dict``.
    min, max : float, optional
        Inclusive bounds of a number.
    choices : tuple
        The only values allowed, if not empty.
    nullable : bool
        Whether ``None`` is allowed (declared, else: when the default is ``None``).
    not_after : str, optional
        ``"as_of"``: a date on or before the as-of date of the document.
    file : bool
        Whether the value is a path to a file whose contents decide the document.
    """

    type: str | None = None
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] = ()
    nullable: bool = True
    not_after: str | None = None
    file: bool = False

    def describe(self) -> str:
        """What the rule allows, in words (``"a whole number from 2 to 4"``).

        Examples
        --------
        >>> Rule("int", 2, 4, nullable=False).describe()
        'a whole number from 2 to 4'
        >>> Rule(choices=("history", "even")).describe()
        "one of 'history', 'even', or None"
        """
        if self.choices:
            text = "one of " + ", ".join(map(repr, self.choices))
        else:
            text = {
                "int": "a whole number",
                "float": "a finite number",
                "number": "a finite number",
                "str": "text",
                "bool": "true or false",
                "date": "a date as YYYY-MM-DD",
                "list": "a list",
                "dict": "a mapping",
            }.get(self.type or "", "a value")
            if self.file:
                text = "the path of a file"
            if self.min is not None and self.max is not None:
                text += f" from {self.min:g} to {self.max:g}"
            elif self.min is not None:
                text += f" of at least {self.min:g}"
            elif self.max is not None:
                text += f" of at most {self.max:g}"
            if self.not_after == "as_of":
                text += " on or before the as-of date"
        return text + (", or None" if self.nullable else "")


@dataclass(frozen=True)
class NotebookParameter:
    """One parameter of a workbook: its name, default value, help text and rule.

    ``default`` is the Python value of the default when it is a literal;
    otherwise ``literal`` is False and any value is accepted. ``rule`` is what the notebook
    declares about it in ``metadata.salesnb.parameters`` (None: the default's type only).
    """

    name: str
    default: Any
    literal: bool
    help: str = ""
    rule: Rule | None = field(default=None, compare=False)

    @property
    def type_name(self) -> str:
        if self.rule is not None and self.rule.type:
            return self.rule.type
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
    declared = ((nb.get("metadata") or {}).get("salesnb") or {}).get("parameters") or {}
    for name, rule in _read_rules(declared, out, path).items():
        out[name] = replace(out[name], rule=rule)
    return out


def _read_rules(
    declared: Any, spec: Mapping[str, NotebookParameter], path: Path
) -> dict[str, Rule]:
    """The :class:`Rule` of each parameter ``metadata.salesnb.parameters`` declares.

    Raises
    ------
    ParameterError
        For a declaration that is not a mapping, names no parameter of the cell, or has an
        unknown key, type or relation (the notebook is wrong, not the user's values).
    """
    where = f"Notebook {str(path)!r}, metadata.salesnb.parameters"
    if not isinstance(declared, dict):
        raise ParameterError(f"{where} is not a mapping. Fix: write {{name: {{rule}}, ...}}.")
    rules, problems = {}, []
    for name, entry in declared.items():
        if name not in spec:
            close = difflib.get_close_matches(str(name), list(spec), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"declares {name!r}{hint}, not a parameter of its parameters cell.")
            continue
        if not isinstance(entry, dict):
            problems.append(f"{name!r}: the rule is not a mapping.")
            continue
        unknown = [k for k in entry if k not in _RULE_KEYS]
        kind = entry.get("type")
        relation = entry.get("not_after")
        bounds = [entry.get(k) for k in ("min", "max") if entry.get(k) is not None]
        if unknown:
            problems.append(f"{name!r}: unknown key(s) {unknown!r}; use {list(_RULE_KEYS)!r}.")
        elif kind is not None and kind not in _RULE_TYPES:
            problems.append(f"{name!r}: unknown type {kind!r}; use one of {list(_RULE_TYPES)!r}.")
        elif relation is not None and relation not in _RELATIONS:
            problems.append(f"{name!r}: not_after {relation!r}; use one of {list(_RELATIONS)!r}.")
        elif any(not _is_number(b) for b in bounds):
            problems.append(f"{name!r}: min and max must be numbers.")
        elif not isinstance(entry.get("choices", []), list):
            problems.append(f"{name!r}: choices must be a list.")
        elif not isinstance(entry.get("file", False), bool):
            problems.append(f"{name!r}: file must be true or false.")
        else:
            nullable = entry.get("nullable", spec[name].default is None)
            rules[name] = Rule(
                kind,
                entry.get("min"),
                entry.get("max"),
                tuple(entry.get("choices") or ()),
                bool(nullable),
                relation,
                entry.get("file", False),
            )
    if problems:
        raise ParameterError(
            f"{where}: " + " ".join(problems) + " Fix: correct the notebook's metadata."
        )
    return rules


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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
    """Turn the text of ``--param k=v`` into a value of ``p``'s type (its rule's, if declared)."""
    rule = p.rule if p is not None else None
    if rule is not None and rule.type is not None:
        if rule.nullable and text.strip().lower() in ("none", "null", ""):
            return None
        if rule.type in ("str", "date"):
            return text
        if rule.type == "int":
            return int(text)
        if rule.type in ("float", "number"):
            number = float(text)
            return int(number) if number.is_integer() and "." not in text else number
        if rule.type == "bool":
            return _bool(text)
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


def parse_cli(
    pairs: Iterable[str], spec: Mapping[str, NotebookParameter], *, notebook: str = "the notebook"
) -> dict[str, Any]:
    """Parse ``--param name=value`` strings, typed after the notebook's defaults (or rules).

    Raises
    ------
    ParameterError
        One line per value that is malformed or not allowed (:func:`validate` checks names).

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
            problems.append(f"--param {pair!r} is not of the form name=value. Fix: write it so.")
            continue
        p = spec.get(name)
        try:
            out[name] = _from_text(text, p)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            what = p.rule.describe() if p and p.rule else f"a {p.type_name if p else 'value'}"
            default = f" (the default is {p.default!r})" if p else ""
            problems.append(
                f"--param {name}={text!r}: the value is not {what}{default}. Fix: pass {what}."
            )
            continue
        problem = _value_problem(name, out[name], p) if p is not None else None
        if problem:
            problems.append(problem)
    _raise(problems, f"the --param values for {notebook}")
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
        return _is_number(value)
    if want is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, want)


#: Dates pandas can hold (``pd.Timestamp.min`` and ``max`` are in 1677 and 2262).
_FIRST_YEAR, _LAST_YEAR = 1678, 2261


def as_date(value: Any) -> dt.date | None:
    """``value`` as a date: a date, or text ``YYYY-MM-DD`` (a time of day may follow, no UTC
    offset); None if it is none of these or outside the years pandas can hold (1678-2261).

    Examples
    --------
    >>> as_date("2026-07-01"), as_date("yesterday"), as_date("9999-12-31")
    (datetime.date(2026, 7, 1), None, None)
    """
    when: dt.date | None = None
    if isinstance(value, dt.datetime):
        when = None if value.tzinfo is not None else value.date()
    elif isinstance(value, dt.date):
        when = value
    elif isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ][\d:.]+)?", value.strip()):
        try:
            when = dt.datetime.fromisoformat(value.strip()).date()
        except ValueError:
            when = None
    if when is None or not _FIRST_YEAR <= when.year <= _LAST_YEAR:
        return None
    return when


def _allowed(value: Any, p: NotebookParameter) -> bool:
    """Whether ``value`` meets ``p``'s rule (None allowed, type, date, finite, choices, range)."""
    rule = p.rule
    if value is None:
        return rule is None or rule.nullable
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if rule is None:
        return True
    if rule.type is not None:
        if not isinstance(value, _RULE_TYPES[rule.type]):
            return False
        if isinstance(value, bool) and rule.type != "bool":
            return False
        if rule.type == "date" and as_date(value) is None:
            return False
    if rule.choices and value not in rule.choices:
        return False
    if not _is_number(value):
        return True
    return (rule.min is None or value >= rule.min) and (rule.max is None or value <= rule.max)


def _value_problem(name: str, value: Any, p: NotebookParameter) -> str | None:
    """Why ``value`` is not allowed for ``p`` (one sentence with the fix), or None."""
    if (p.rule is None or p.rule.type is None) and not _type_ok(value, p):
        return (
            f"Parameter {name!r} = {value!r} is a {type(value).__name__}, but its default "
            f"{p.default!r} is a {p.type_name}. Fix: pass a {p.type_name}."
        )
    if _allowed(value, p):
        return None
    allowed = p.rule.describe() if p.rule is not None else f"a finite {p.type_name}"
    return (
        f"Parameter {name!r} = {value!r} is not allowed: {name} takes {allowed}. "
        f"Fix: change it, or leave it out for the default {p.default!r}."
    )


def _raise(problems: list[str], what: str) -> None:
    """One :class:`ParameterError` naming every problem (one line each), if any."""
    if len(problems) == 1:
        raise ParameterError(problems[0])
    if problems:
        head = f"{len(problems)} problems with {what}:"
        raise ParameterError("\n".join([head, *(f"  - {p}" for p in problems)]))


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
        ``params`` as a plain dict; a date given as a date object becomes text YYYY-MM-DD
        (what the notebooks read, and what a parameters cell can hold).

    Raises
    ------
    ParameterError
        For an unknown name (with the closest match), a reserved name, a value whose type
        differs from the default's, a NaN or infinite number, or a value its notebook's
        :class:`Rule` does not allow (type, range, choices, date), one line per parameter.
        Rules relating a value to the as-of date are checked by :func:`check_as_of`.

    Examples
    --------
    >>> spec = {"period": NotebookParameter("period", None, True)}
    >>> validate({"perod": "FY2026-Q3"}, spec)
    Traceback (most recent call last):
    ...
    salesnb.core.errors.ParameterError: Unknown parameter 'perod' for the notebook; did you mean 'period'? Fix: use one of 'period'.
    """
    reserved = set(reserved)
    names = ", ".join(repr(n) for n in spec if n not in reserved) or "(none)"
    problems = []
    out = dict(params)
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
            problems.append(
                f"Unknown parameter {name!r} for {notebook}{hint} Fix: use one of {names}."
            )
            continue
        problem = _value_problem(name, value, p)
        if problem:
            problems.append(problem)
        elif p.rule is not None and p.rule.type == "date" and isinstance(value, dt.date):
            out[name] = as_date(value).isoformat()  # type: ignore[union-attr]
    _raise(problems, f"the parameters of {notebook}")
    return out


def check_as_of(
    params: Mapping[str, Any],
    spec: Mapping[str, NotebookParameter],
    as_of: Any,
    *,
    notebook: str = "the notebook",
) -> None:
    """Check the dates a notebook's rules tie to the as-of date (``not_after: "as_of"``).

    ``params`` passed :func:`validate`; ``as_of`` is the document's as-of date (the one given,
    else the data's).

    Raises
    ------
    ParameterError
        One line per date after ``as_of``.

    Examples
    --------
    >>> spec = {"since": NotebookParameter("since", None, True, rule=Rule("date", not_after="as_of"))}
    >>> check_as_of({"since": "2026-10-01"}, spec, "2026-09-30")
    Traceback (most recent call last):
    ...
    salesnb.core.errors.ParameterError: Parameter 'since' = '2026-10-01' is after the as-of date 2026-09-30: since takes a date as YYYY-MM-DD on or before the as-of date, or None. Fix: pick a date on or before 2026-09-30, or leave it out for the default None.
    """
    limit = as_date(str(as_of)[:10]) if not isinstance(as_of, dt.date) else as_date(as_of)
    if limit is None:
        return
    problems = []
    for name, value in params.items():
        p = spec.get(name)
        if p is None or p.rule is None or p.rule.not_after != "as_of" or value is None:
            continue
        when = as_date(value)
        if when is not None and when > limit:
            problems.append(
                f"Parameter {name!r} = {value!r} is after the as-of date {limit:%Y-%m-%d}: "
                f"{name} takes {p.rule.describe()}. Fix: pick a date on or before "
                f"{limit:%Y-%m-%d}, or leave it out for the default {p.default!r}."
            )
    _raise(problems, f"the parameters of {notebook}")

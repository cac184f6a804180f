"""Check a ``salesnb.toml`` (or configuration overrides) against ``config_schema.toml``.

The schema is data: each key's type, its allowed values or range and what it means
(``salesnb/data/config_schema.toml``). :func:`check_config` returns every problem at once,
each naming the key, its line and column in the file (found by a line scan, since
``tomllib`` keeps no positions) and a fix; an unknown key gets the closest valid one
("Did you mean 'calendar'?"). :func:`parse_toml` turns a TOML syntax error into the same
kind of message, with the line and column ``tomllib`` gives.
"""

from __future__ import annotations

import codecs
import difflib
import importlib
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache
from importlib import resources
from typing import Any

from salesnb.core.errors import ConfigError, SalesnbError

KeyPath = tuple[str | int, ...]

#: How the schema's types are named in messages.
_WANTED = {
    "string": "text in quotes",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "string-or-list": "text in quotes or a list of texts",
    "string-or-integer": "text in quotes or a whole number",
    "string-or-date": "text in quotes or a date",
    "map": "a table of keys",
    "table": "a [section] of keys",
    "array-of-tables": "a list of [[section]] entries",
}
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
)}  # fmt: skip
#: How messages name a file of each schema, and the page that documents it.
_FILES = {
    "config": ("salesnb.toml", "docs/data-model.md"),
    "profile": ("a profile", "docs/profiles.md"),
}
_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "CHF": "CHF"}


@dataclass(frozen=True)
class ConfigProblem:
    """One problem of a configuration: what is wrong, the fix, and where (a key path)."""

    message: str
    fix: str
    path: KeyPath = ()
    line: int | None = None
    column: int | None = None

    def text(self, source: str) -> str:
        """The problem as one line: ``source, line L, column C: message Fix: fix``."""
        where = source + (f", line {self.line}, column {self.column}" if self.line else "")
        return f"{where}: {self.message} Fix: {self.fix}"


@cache
def schema(name: str = "config") -> dict[str, dict[str, Any]]:
    """The schema of ``salesnb.toml`` (``"config"``) or of an import profile (``"profile"``),
    as ``<name>_schema.toml`` writes it, with ``applies_to`` and ``same_as`` resolved.

    Examples
    --------
    >>> schema()["calendar"]["keys"]["fiscal_year_start_month"]["max"]
    12
    >>> schema("profile")["targets"]["keys"]["window_months"]["min"]
    1
    """
    text = resources.files("salesnb.data").joinpath(f"{name}_schema.toml").read_text("utf-8")
    top: dict[str, dict[str, Any]] = {}
    for key, spec in tomllib.loads(text).items():
        if "applies_to" in spec:  # one spec for each key of a module's mapping
            module, _, attr = spec["applies_to"].partition(":")
            template = {k: v for k, v in spec.items() if k != "applies_to"}
            top.update(dict.fromkeys(getattr(importlib.import_module(module), attr), template))
        else:
            top[key] = spec
    return {key: _resolve(spec, top) for key, spec in top.items()}


def _resolve(spec: dict[str, Any], top: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A spec with ``same_as`` replaced by the spec it names (``key`` of this schema, or
    ``schema:key`` of another), recursively."""
    if "same_as" in spec:
        other, _, key = spec["same_as"].rpartition(":")
        base = schema(other)[key] if other else top[key]
        spec = {**base, **{k: v for k, v in spec.items() if k != "same_as"}}
    out = dict(spec)
    if "keys" in out:
        out["keys"] = {k: _resolve(v, top) for k, v in out["keys"].items()}
    if isinstance(out.get("values"), dict):
        out["values"] = _resolve(out["values"], top)
    return out


def _keys_of(spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The keys of a table spec; an open table's keys come from a module's defaults."""
    if "keys_from" in spec:
        module, _, name = spec["keys_from"].partition(":")
        defaults = getattr(importlib.import_module(module), name)
        kind = spec.get("value_type", "number")
        return {
            k: {"type": kind, **({"example": v} if v is not None else {})}
            for k, v in defaults.items()
        }
    return dict(spec.get("keys", {}))


# --------------------------------------------------------------------------- TOML syntax

_AT = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)\s*$")
_TUPLE = re.compile(r"\(((?:'[^']*',?\s*)+)\)")
_QUOTED = re.compile(r"'([^']*)'")
_SYNTAX_FIXES = (
    ("Invalid value", ('text values need quotes (currency = "EUR"); dates are written '
                       "2024-03-31, numbers without units or thousands separators")),
    ("Cannot overwrite", "a key is given twice: keep one of them"),
    ("Cannot declare", "a [section] is written twice: merge the two into one"),
    ("Expected '=' after a key", "write each setting as key = value"),
    ("Invalid statement", "write each setting as key = value, and sections as [name]"),
    ("Unclosed array", "close the list with ]"),
    ("Unclosed inline table", "close the { ... } with }"),
    ("Expected ']'", "close the [section] line with ]"),
    ("Illegal character '\\n'", 'a quoted value is not closed on its line: close the quote (")'),
    ("Unterminated string", 'close the quote (")'),
)  # fmt: skip


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """Parse TOML text; a syntax error becomes a :class:`ConfigError` naming ``source``,
    the line and column, and a fix.

    Examples
    --------
    >>> parse_toml('currency = EUR', "salesnb.toml")
    Traceback (most recent call last):
    salesnb.core.errors.ConfigError: salesnb.toml, line 1, column 12: not valid TOML (Invalid value). ...
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        reason = str(exc)
        at = _AT.search(reason)
        where = source
        if at:
            where += f", line {at[1]}, column {at[2]}" if at[1] else ", at the end of the file"
        reason = _AT.sub("", reason)  # "Cannot declare ('a', 'b') twice": name it [a.b]
        reason = _TUPLE.sub(lambda m: "[" + ".".join(_QUOTED.findall(m[1])) + "]", reason)
        hint = next((fix for start, fix in _SYNTAX_FIXES if reason.startswith(start)), "")
        if reason == "Illegal character '\\n'":
            reason = "the line ends inside a quoted value"
        fix = "correct the syntax" + (f": {hint}" if hint else " (see https://toml.io)")
        raise ConfigError(f"{where}: not valid TOML ({reason}). Fix: {fix}.") from None


# --------------------------------------------------------------------------- locations

_HEADER = re.compile(r"^\s*(\[\[|\[)\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")
_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_KEY = re.compile(rf"^(\s*)({_PART}(?:\s*\.\s*{_PART})*)\s*=")
_SPLIT = re.compile(r"""[A-Za-z0-9_-]+|"((?:[^"\\]|\\.)*)"|'([^']*)'""")


def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(
        m.group(1) if m.group(1) is not None else m.group(2) if m.group(2) is not None else m[0]
        for m in _SPLIT.finditer(dotted)
    )


def locate(text: str) -> dict[KeyPath, tuple[int, int]]:
    """Line and column (1-based) where each key path of a TOML text is written.

    A line scan: section headers, ``[[array]]`` entries (their index joins the path)
    and ``key = value`` lines outside multi-line strings. Keys inside inline tables
    are not found; a problem there is placed on the line of the enclosing key.

    Examples
    --------
    >>> locate('a = 1\\n[[stages]]\\nname = "x"')[("stages", 0, "name")]
    (3, 1)
    """
    found: dict[KeyPath, tuple[int, int]] = {}
    table: KeyPath = ()
    counts: dict[tuple[str, ...], int] = {}
    in_string = False
    for no, line in enumerate(text.splitlines(), start=1):
        quotes = line.count('"""') + line.count("'''")
        if in_string:
            in_string = quotes % 2 == 0
            continue
        header = _HEADER.match(line)
        if header:
            parts = _parts(header.group(2))
            col = len(line) - len(line.lstrip()) + 1
            if header.group(1) == "[[":
                counts[parts] = counts.get(parts, -1) + 1
                found.setdefault(parts, (no, col))
                table = (*parts, counts[parts])
            else:
                table = parts
            found.setdefault(table, (no, col))
            continue
        key = _KEY.match(line)
        if key:
            parts = _parts(key.group(2))
            col = len(key.group(1)) + 1
            for i in range(1, len(parts) + 1):
                found.setdefault((*table, *parts[:i]), (no, col))
        in_string = quotes % 2 == 1
    return found


# --------------------------------------------------------------------------- checking


def _given(value: Any) -> str:
    """What a value is, in a user's words."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, datetime | date):
        return "a date"
    if isinstance(value, time):
        return "a time of day"
    if isinstance(value, Mapping):
        return "a [section] of keys"
    return "a list"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, Mapping):
        return "{...}"
    if isinstance(value, list):
        return "[...]"
    return str(value)


def _get(raw: Any, path: KeyPath) -> Any:
    for part in path:
        try:
            raw = raw[part]
        except (KeyError, IndexError, TypeError):
            return None
    return raw


def _context(table: KeyPath, raw: Mapping[str, Any]) -> str:
    """Where a key sits, as a message says it: ``""`` (top level), ``" in [calendar]"``,
    ``" in [[stages]] entry 3 ('Demo')"``, ``" in lookup of [[opportunities.fill]] entry 1"``."""
    if not table:
        return ""
    last = max((i for i, part in enumerate(table) if isinstance(part, int)), default=None)
    if last is None:
        return f" in [{'.'.join(map(str, table))}]"
    head = ".".join(str(p) for p in table[:last] if not isinstance(p, int))
    entry = _get(raw, table[: last + 1])
    name = entry.get("name", entry.get("column")) if isinstance(entry, Mapping) else None
    named = f" ({name!r})" if isinstance(name, str) and name.strip() else ""
    where = f"[[{head}]] entry {table[last] + 1}{named}"
    tail = ".".join(map(str, table[last + 1 :]))
    return f" in {tail} of {where}" if tail else f" in {where}"


def _listed(key: str, spec: Mapping[str, Any]) -> str:
    """A key as a list of valid keys shows it: ``[calendar]``, ``[[stages]]``, ``currency``."""
    return {"table": f"[{key}]", "array-of-tables": f"[[{key}]]"}.get(spec.get("type"), key)


class _Checker:
    def __init__(self, raw: Mapping[str, Any], kind: str):
        self.raw = raw
        self.top = schema(kind)
        self.file, self.doc = _FILES[kind]
        self.problems: list[ConfigProblem] = []

    def add(self, message: str, fix: str, path: KeyPath) -> None:
        self.problems.append(ConfigProblem(message, fix, path))

    # ---- keys

    def unknown(self, key: str, value: Any, allowed: Mapping[str, Any], path: KeyPath) -> None:
        table = path[:-1]
        close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
        close = close or [k for k in allowed if k.casefold() == key.casefold()][:1]
        what = "section" if isinstance(value, Mapping) and not table else "key"
        inside = _context(table, self.raw)
        shown = f"[{key}]" if what == "section" else repr(key)
        names = ", ".join(_listed(k, s) for k, s in allowed.items())
        top = self.top
        if close:
            hint = f" Did you mean {close[0]!r}?"
            new = f"[{close[0]}]" if what == "section" else repr(close[0])
            fix = f"rename {shown} to {new} (the keys{inside or ' of ' + self.file} are {names})."
        elif table and key in top and top[key]["type"] not in ("table", "array-of-tables"):
            hint = ""
            fix = (
                f"{key!r} is a top-level key: move it above the first [section] (in TOML every "
                "key below a [section] line belongs to that section)."
            )
        else:
            hint = ""
            fix = f"remove it, or use one of {names}{inside} (see {self.doc})."
        self.add(f"Unknown {what} {shown}{inside}.{hint}", fix, path)

    def table(self, spec: Mapping[str, Any], value: Mapping[str, Any], path: KeyPath) -> None:
        keys = _keys_of(spec)
        for key, sub in value.items():
            if key not in keys:
                self.unknown(key, sub, keys, (*path, key))
            else:
                self.value(keys[key], sub, (*path, key))
        for key, sub in keys.items():
            if sub.get("required") and key not in value:
                where = _context(path, self.raw).removeprefix(" in ")
                self.add(f"{where} has no {key}.", f"add {key} = ... to it.", path)

    # ---- values

    def value(self, spec: Mapping[str, Any], value: Any, path: KeyPath) -> None:
        kind = spec["type"]
        if kind in ("date", "any"):
            return  # salesnb.data.config._as_of checks dates, with its own message
        ctx = _context(path[:-1], self.raw)
        name = str(path[-1])
        dotted = ".".join(str(p) for p in path if not isinstance(p, int))
        if kind == "map":
            if not isinstance(value, Mapping):
                fix = f"write it as a table of keys, e.g. {name} = {{ ... = ... }}."
                self.add(f"{name}{ctx} is {_given(value)}, not a table of keys.", fix, path)
                return
            for key, sub in value.items():
                self.value(spec["values"], sub, (*path, key))
            return
        if kind == "table":
            if isinstance(value, Mapping):
                self.table(spec, value, path)
                return
            keys = _keys_of(spec)
            first = next(iter(keys), "key")
            example = _shown(value) if len(keys) == 1 else "..."
            fix = (
                f"write [{dotted}] on a line of its own, with its keys on the lines below it "
                f"(e.g. {first} = {example}); its keys are {', '.join(keys)}."
            )
            self.add(f"{name} = {_shown(value)}{ctx} is {_given(value)}, not a [section] of keys.",
                     fix, path)  # fmt: skip
            return
        if kind == "array-of-tables":
            if isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
                for i, entry in enumerate(value):
                    self.table(spec, entry, (*path, i))
                if path == ("stages",):
                    self.stage_catalogue(value, path)
                return
            fix = (f"write each entry as a [[{dotted}]] line followed by its keys "
                   f"({', '.join(_keys_of(spec))}), one entry after the other.")  # fmt: skip
            msg = f"{name}{ctx} is {_given(value)}, not a list of [[{dotted}]] entries."
            self.add(msg, fix, path)
            return
        self.scalar(spec, value, path, f"{name} = {_shown(value)}{ctx}", name)

    def scalar(self, spec: Mapping[str, Any], value: Any, path: KeyPath, label: str,
               name: str) -> None:  # fmt: skip
        kind = spec["type"]
        ok = {
            "string": isinstance(value, str),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
            "string-or-list": isinstance(value, str)
            or (isinstance(value, list) and all(isinstance(v, str) for v in value)),
            "string-or-integer": isinstance(value, str | int) and not isinstance(value, bool),
            "string-or-date": isinstance(value, str | date),
        }[kind]
        example = spec.get("example", spec.get("default", spec.get("min", 1)))
        if not ok:
            if kind == "integer" and isinstance(value, float) and value.is_integer():
                example = int(value)
            elif name == "fiscal_year_start_month" and isinstance(value, str):
                month = _MONTHS.get(value.strip().casefold()[:3])
                example = month or example
            elif kind == "string" and not isinstance(value, Mapping | list):
                example = spec.get("example", str(value))
            if kind == "boolean":
                example = True
            elif kind.startswith("string") and not isinstance(example, str):
                example = str(example)
            fix = f"write it as {_WANTED[kind]}, e.g. {name} = {_shown(example)}."
            self.add(f"{label} is {_given(value)}, not {_WANTED[kind]}.",
                     fix, path)  # fmt: skip
            return
        if kind == "number" and not math.isfinite(value):
            self.add(f"{label} is not a finite number.",
                     f"write a number, e.g. {name} = {_shown(example)}.", path)  # fmt: skip
            return
        if kind not in ("string", "integer", "number"):
            return
        if isinstance(value, str):
            self.string(spec, value, path, label, name)
            return
        low, high = spec.get("min"), spec.get("max")
        above = spec.get("min_exclusive")
        if (
            (low is not None and value < low)
            or (high is not None and value > high)
            or (above is not None and value <= above)
        ):
            lo = f"above {above}" if above is not None else f"from {low}"
            span = f"{lo} to {high}" if high is not None else f"{lo} up"
            if above is None and low is None:
                span = f"up to {high}"
            what = "a whole number" if kind == "integer" else "a number"
            msg = f"{label} is out of range."
            fix = f"use {what} {span}"
            if name == "probability" and 1 < value <= 100:
                fix += f" (probabilities are fractions: {value:g}% is {value / 100:g})"
            elif name == "fiscal_year_start_month":
                fix += " (the month in which the fiscal year starts; 1 = January)"
            self.add(msg, fix + ".", path)

    def string(self, spec: Mapping[str, Any], value: str, path: KeyPath, label: str,
               name: str) -> None:  # fmt: skip
        if len(value.strip()) < spec.get("min_length", 0):
            self.add(f"{label} is empty text.", f"give it a value, e.g. {name} = "
                     f"{_shown(spec.get('example', '...'))}.", path)  # fmt: skip
            return
        if spec.get("codec") and value != "auto":
            try:
                codecs.lookup(value)
            except LookupError:
                common = ["auto", "utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"]
                close = difflib.get_close_matches(value.lower(), common, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                fix = f"use one of {', '.join(repr(c) for c in common)} (or another Python codec)."
                self.add(f"{label} is not a known text encoding.{hint}", fix, path)
            return
        choices = spec.get("choices")
        if choices and value not in choices:
            close = [c for c in choices if c == value.strip().casefold()]
            close = close or difflib.get_close_matches(value.casefold(), choices, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            fix = f"use one of {', '.join(repr(c) for c in choices)}."
            self.add(f"{label} is not allowed.{hint}", fix, path)
            return
        pattern = spec.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            msg = f"{label} is not valid."
            if name == "currency":
                code = _SYMBOLS.get(value.strip()) or (
                    value.strip().upper() if re.fullmatch(r"[A-Za-z]{3}", value.strip()) else None
                )
                msg = f"{label} is not a three-letter currency code."
                fix = (
                    f'write it as an ISO 4217 code in capitals, e.g. currency = "{code or "EUR"}".'
                )
            else:
                fix = f"write it as {name} = {_shown(spec.get('example', '...'))}."
            self.add(msg, fix, path)

    # ---- the stage catalogue as a whole

    def stage_catalogue(self, stages: list[Mapping[str, Any]], path: KeyPath) -> None:
        seen: dict[str, int] = {}
        for i, entry in enumerate(stages):
            name = entry.get("name")
            if not isinstance(name, str) or not name.strip():
                continue
            key = " ".join(name.split()).casefold()
            if key in seen:
                first = stages[seen[key]]["name"]
                same = "" if first == name else f" (as {first!r}; names match ignoring case)"
                msg = (f"Stage {name!r} of [[stages]] entry {i + 1} is already entry "
                       f"{seen[key] + 1}{same}.")  # fmt: skip
                self.add(msg, "rename or remove one of the two entries.", (*path, i, "name"))
            else:
                seen[key] = i
        kinds = {e.get("kind", "open") for e in stages}
        missing = [k for k in ("open", "won", "lost") if k not in kinds]
        if missing and kinds <= {"open", "won", "lost"}:  # else a kind is already reported
            have = (f"its {len(stages)} entries have" if len(stages) > 1 else
                    "its one entry has" if stages else "[[stages]] is empty: it has")  # fmt: skip
            msg = (f"The stage catalogue needs an open, a won and a lost stage; {have} "
                   f"no {' and no '.join(missing)} stage.")  # fmt: skip
            fix = (f'add a [[stages]] entry with kind = "{missing[0]}" (or remove [[stages]] '
                   "to use the default catalogue).")  # fmt: skip
            self.add(msg, fix, path)


def check_config(
    raw: Mapping[str, Any], text: str | None = None, kind: str = "config"
) -> list[ConfigProblem]:
    """Every problem of a configuration against the schema, in file order.

    Parameters
    ----------
    raw : mapping
        The parsed ``salesnb.toml`` (or overrides in the same shape).
    text : str, optional
        The TOML text ``raw`` was parsed from: problems then carry their line and column.
    kind : {"config", "profile"}
        The schema: ``salesnb.toml``'s, or an import profile's.

    Examples
    --------
    >>> [p.message for p in check_config({"curency": "EUR"})]
    ["Unknown key 'curency'. Did you mean 'currency'?"]
    """
    checker = _Checker(raw, kind)
    top = checker.top
    for key, value in raw.items():
        if key not in top:
            checker.unknown(key, value, top, (key,))
        else:
            checker.value(top[key], value, (key,))
    problems = checker.problems
    if text is not None:
        where = locate(text)
        placed = []
        for p in problems:
            at = next((where[p.path[:n]] for n in range(len(p.path), 0, -1)
                       if p.path[:n] in where), None)  # fmt: skip
            placed.append(ConfigProblem(p.message, p.fix, p.path, *at) if at else p)
        problems = sorted(placed, key=lambda p: (p.line or 0, p.column or 0))
    return problems


def raise_config_problems(
    problems: list[ConfigProblem], source: str, error: type[SalesnbError] = ConfigError
) -> None:
    """Raise one ``error`` listing every problem (each naming ``source``)."""
    if not problems:
        return
    if len(problems) == 1:
        raise error(problems[0].text(source))
    lines = [f"{len(problems)} problems in {source}:"]
    lines += [f"  - {p.text(source)}" for p in problems]
    raise error("\n".join(lines))


def check_file_text(text: str, source: str) -> dict[str, Any]:
    """Parse and check a ``salesnb.toml``'s text; the parsed keys, or a :class:`ConfigError`."""
    raw = parse_toml(text, source)
    raise_config_problems(check_config(raw, text), source)
    return raw

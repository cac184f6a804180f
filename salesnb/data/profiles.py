"""Import profiles: declarative TOML files that map a CRM export onto the canonical model.

A profile says, per canonical table, which file(s) to read, how to read them
(encoding, separator, decimal and thousands separators, date formats), how the
source's column names, stage names and values map onto the canonical ones, how
to fill known blanks (always reported as a warning) and how to derive a table
the source lacks (reps from deal owners, targets from history).

The built-in profiles live in ``salesnb/data/profiles/<name>.toml``; a user writes
their own in the same format (see ``docs/profiles.md``) and passes its path.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from salesnb.core.errors import ConfigError, ProfileError
from salesnb.data.bands import parse_bands
from salesnb.data.config_schema import check_config, parse_toml, raise_config_problems
from salesnb.data.readoptions import ReadOptions
from salesnb.data.readoptions import read_options as _read_options
from salesnb.data.readoptions import unknown_keys as _unknown
from salesnb.data.schema import TABLES

FillWhen = Literal["blank", "zero", "blank_or_zero"]

_TABLE_KEYS = {
    "files", "sheet", "columns", "values", "corrections", "fill", "warn_blank", "derive", "defaults",
    "growth", "window_months", "generate", "read", "sql_table", "query", "stage_dates", "bands",
}  # fmt: skip
_TOP_KEYS = {
    "name", "description", "as_of", "currency", "read", "stages", "stage_map", "stage_history",
    *TABLES,
}  # fmt: skip
_DERIVE = {"reps": ("owners",), "targets": ("history",)}
_FILL_RULES = ("as_of", "expected_close")
_LOOKUP_KEYS = {"file", "key", "value", "aggregate"}
_AGGREGATES = ("sum", "first", "last")


@dataclass(frozen=True)
class Fill:
    """Fill blanks (or zeros) of one canonical column, restricted to some stages.

    Exactly one of ``value`` (a literal), ``rule`` (``"as_of"``: the data's as-of date;
    ``"expected_close"``: created date + the median won sales cycle in days) or ``lookup``
    (``{file, key, value}``: a value looked up in a side file) is set.
    """

    column: str
    when: FillWhen = "blank"
    stages: tuple[str, ...] = ()
    value: Any = None
    rule: str | None = None
    lookup: dict[str, str] | None = None
    reason: str = ""
    from_defaults: bool = False


@dataclass(frozen=True)
class TableSpec:
    """Where one canonical table comes from and how its columns map."""

    files: tuple[str, ...] = ()
    sheet: str | int | None = None
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    corrections: dict[str, dict[str, str]] = field(default_factory=dict)
    fills: tuple[Fill, ...] = ()
    warn_blank: tuple[str, ...] = ()
    derive: str | None = None
    defaults: dict[str, str] = field(default_factory=dict)
    growth: float = 0.0
    window_months: int = 3
    generate: dict[str, str] = field(default_factory=dict)
    read: ReadOptions = field(default_factory=ReadOptions)
    #: opportunities only: open stage -> the column holding the date a deal entered it
    #: (HubSpot's "Date entered <stage>"); see :mod:`salesnb.data.stagehistory`.
    stage_dates: dict[str, str] = field(default_factory=dict)
    #: canonical text column -> :class:`salesnb.data.bands.Bands` deriving it from a number
    bands: dict[str, Any] = field(default_factory=dict)

    def source_names(self, canonical: str) -> list[str]:
        """Source column names that map onto ``canonical`` (the canonical name last)."""
        names = [src for src, dst in self.columns.items() if canonical in dst]
        return names + ([canonical] if canonical not in names else [])


@dataclass(frozen=True)
class Profile:
    """A parsed import profile.

    Examples
    --------
    >>> p = load_profile("salesforce")
    >>> p.tables["opportunities"].columns["Opportunity Owner"]
    ('rep_id',)
    """

    name: str
    description: str = ""
    tables: dict[str, TableSpec] = field(default_factory=dict)
    stages: tuple[dict[str, Any], ...] = ()
    stage_map: dict[str, str] = field(default_factory=dict)
    as_of: str | None = None
    currency: str | None = None
    path: Path | None = None
    #: ``[stage_history]``: a file of stage changes (see :mod:`salesnb.data.stagehistory`).
    stage_history: Any = None

    @property
    def is_canonical(self) -> bool:
        return self.name == "canonical"


def _builtin_dir():
    return resources.files("salesnb.data").joinpath("profiles")


def list_profiles() -> list[str]:
    """Names of the built-in profiles.

    Examples
    --------
    >>> "salesforce" in list_profiles()
    True
    """
    return sorted(p.name[:-5] for p in _builtin_dir().iterdir() if p.name.endswith(".toml"))


def load_profile(name_or_path: str | Path | Profile) -> Profile:
    """Load a built-in profile by name or a user's profile from a ``.toml`` path.

    Raises :class:`~salesnb.core.errors.ProfileError` naming the bad key and a fix.

    Examples
    --------
    >>> load_profile("canonical").name
    'canonical'
    """
    if isinstance(name_or_path, Profile):
        return name_or_path
    text_name = str(name_or_path)
    builtin = _builtin_dir().joinpath(f"{text_name}.toml")
    if "/" not in text_name and "\\" not in text_name and builtin.is_file():
        where = f"built-in profile {text_name!r}"
        text = builtin.read_text("utf-8")
        return _build(_parse(text, where), text_name, where, None, text)
    path = Path(name_or_path)
    if path.suffix.lower() != ".toml" or not path.is_file():
        close = difflib.get_close_matches(text_name, list_profiles(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        msg = (
            f"Unknown profile {text_name!r}.{hint} Fix: use one of {list_profiles()!r} "
            "or the path of your own profile .toml file (see docs/profiles.md)."
        )
        raise ProfileError(msg)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"Profile {str(path)!r} cannot be read ({exc}).") from None
    where = f"profile {str(path)!r}"
    return _build(_parse(text, str(path)), path.stem, where, path, text)


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        return parse_toml(text, source)
    except ConfigError as exc:  # the same message (line, column, fix), as a profile's error
        raise ProfileError(str(exc)) from None


def _canonical_column(table: str, col: str, where: str) -> str:
    names = [c.name for c in TABLES[table]]
    if col not in names:
        close = difflib.get_close_matches(col, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        msg = (
            f"{where} maps onto {col!r}, which is not a column of {table}.{hint} "
            f"Fix: use one of {names!r}."
        )
        raise ProfileError(msg)
    return col


def _fill(raw: dict[str, Any], table: str, where: str) -> Fill:
    _unknown(set(raw), {"column", "when", "stages", "value", "rule", "lookup", "reason"}, where)
    if "column" not in raw:
        raise ProfileError(f"A fill in {where} has no 'column'. Fix: name the column to fill.")
    col = _canonical_column(table, raw["column"], where)
    given = [k for k in ("value", "rule", "lookup") if k in raw]
    if len(given) != 1:
        msg = f"The fill of {col!r} in {where} sets {given!r}. Fix: set exactly one of value, rule, lookup."
        raise ProfileError(msg)
    when = raw.get("when", "blank")
    if when not in ("blank", "zero", "blank_or_zero"):
        msg = f"when = {when!r} in {where}. Fix: use 'blank', 'zero' or 'blank_or_zero'."
        raise ProfileError(msg)
    rule = raw.get("rule")
    if rule is not None and rule not in _FILL_RULES:
        raise ProfileError(f"rule = {rule!r} in {where}. Fix: use one of {_FILL_RULES!r}.")
    lookup = raw.get("lookup")
    if lookup is not None and not (
        isinstance(lookup, dict) and {"file", "key", "value"} <= set(lookup)
    ):
        msg = f"The lookup of {col!r} in {where} is {lookup!r}. Fix: give file, key and value."
        raise ProfileError(msg)
    if lookup is not None:
        _unknown(set(lookup), _LOOKUP_KEYS, f"the lookup of {col!r} in {where}")
    stages = raw.get("stages", ())
    fill = Fill(
        column=col,
        when=when,
        stages=(stages,) if isinstance(stages, str) else tuple(stages),
        value=raw.get("value"),
        rule=rule,
        lookup={k: str(v) for k, v in lookup.items()} if lookup else None,
        reason=str(raw.get("reason", "")),
    )
    _check_fill(fill, table, where)
    return fill


def _check_fill(fill: Fill, table: str, where: str) -> None:
    """Refuse a fill that could never do anything on ``table`` (it would be ignored silently).

    Raises :class:`~salesnb.core.errors.ProfileError` naming the key at fault and the fix.
    """
    col = next(c for c in TABLES[table] if c.name == fill.column)
    what = f"The fill of {col.name!r} in {where}"
    has_stage = any(c.name == "stage" for c in TABLES[table])
    if fill.stages and not has_stage:
        msg = f"{what} sets stages = {list(fill.stages)!r}, but {table} has no stage."
        raise ProfileError(msg + " Fix: remove 'stages' (it only restricts fills of deals).")
    if fill.stages and col.name == "stage":
        msg = f"{what} sets 'stages': a blank stage is in no stage, so it would fill nothing."
        raise ProfileError(msg + " Fix: remove 'stages'.")
    if fill.when != "blank" and col.kind not in ("float", "int"):
        msg = f"{what} sets when = {fill.when!r}, but {col.name} is not a number (never 0)."
        raise ProfileError(msg + " Fix: remove 'when' (blanks are filled).")
    if fill.rule is not None and col.kind != "date":
        msg = f"{what} sets rule = {fill.rule!r}, which gives a date, but {col.name} is not a date."
        raise ProfileError(msg + " Fix: use value = ... or a lookup.")
    if fill.rule == "expected_close" and table != "opportunities":
        msg = f"{what} sets rule = 'expected_close', which needs deals' created dates and outcomes."
        raise ProfileError(msg + " Fix: use it in [[opportunities.fill]] only.")
    if fill.value is not None:
        try:
            if col.kind == "date":
                ok = pd.notna(pd.Timestamp(str(fill.value)))
            elif col.kind in ("float", "int"):
                ok = bool(np.isfinite(float(fill.value))) and not isinstance(fill.value, bool)
            else:
                ok = isinstance(fill.value, (str, int, float)) and not isinstance(fill.value, bool)
        except (TypeError, ValueError, OverflowError):
            ok = False
        if ok and col.choices and str(fill.value) not in col.choices:
            ok = False
        if not ok:
            kind = {"date": "a date such as '2026-03-31'", "float": "a number", "int": "a number"}
            want = f"one of {list(col.choices)!r}" if col.choices else kind.get(col.kind, "a text")
            raise ProfileError(f"{what} sets value = {fill.value!r}. Fix: use {want}.")
    agg = (fill.lookup or {}).get("aggregate")
    if agg is not None and agg not in _AGGREGATES:
        msg = f"{what} sets aggregate = {agg!r}."
        raise ProfileError(msg + f" Fix: use one of {_AGGREGATES!r} (or remove it).")
    if agg == "sum" and col.kind not in ("float", "int"):
        msg = f"{what} sets aggregate = 'sum', but {col.name} is not a number."
        raise ProfileError(msg + " Fix: use aggregate = 'first' or 'last'.")


def _table(name: str, raw: dict[str, Any], base: ReadOptions, where: str) -> TableSpec:
    where = f"[{name}] of the {where}"
    _unknown(set(raw), _TABLE_KEYS, where)
    files = raw.get("files", ())
    files = (files,) if isinstance(files, str) else tuple(files)
    columns: dict[str, tuple[str, ...]] = {}
    for src, dst in raw.get("columns", {}).items():
        dsts = (dst,) if isinstance(dst, str) else tuple(dst)
        columns[src] = tuple(_canonical_column(name, d, f"{where}, column {src!r}") for d in dsts)
    values = {_canonical_column(name, c, where): dict(m) for c, m in raw.get("values", {}).items()}
    corrections = {
        _canonical_column(name, c, where): dict(m) for c, m in raw.get("corrections", {}).items()
    }
    derive = raw.get("derive")
    if derive is not None and derive not in _DERIVE.get(name, ()):
        allowed = _DERIVE.get(name, ())
        fix = f"use one of {allowed!r}" if allowed else f"{name} cannot be derived; remove it"
        raise ProfileError(f"derive = {derive!r} in {where}. Fix: {fix}.")
    generate = raw.get("generate", {})
    for col, how in generate.items():
        _canonical_column(name, col, where)
        if how != "line":
            raise ProfileError(f"generate.{col} = {how!r} in {where}. Fix: use 'line'.")
    try:
        growth = float(raw.get("growth", 0.0))
        window = int(raw.get("window_months", 3))
    except (TypeError, ValueError):
        raise ProfileError(f"growth / window_months in {where} must be numbers.") from None
    if window < 1:
        raise ProfileError(f"window_months = {window} in {where}. Fix: use 1 or more.")
    stage_dates = raw.get("stage_dates", {})
    if stage_dates and (name != "opportunities" or not isinstance(stage_dates, dict)):
        fix = (
            "map stage names to columns (stage = column)"
            if name == "opportunities"
            else ("move it to [opportunities.stage_dates]")
        )
        raise ProfileError(f"stage_dates in {where}. Fix: {fix}.")
    defaults = {
        _canonical_column(name, k, where): str(v) for k, v in raw.get("defaults", {}).items()
    }
    if defaults and name != "reps":
        msg = f"defaults in {where}: only [reps] has defaults."
        raise ProfileError(msg + f" Fix: fill blanks with [[{name}.fill]] (see docs/profiles.md).")
    fills = tuple(_fill(f, name, where) for f in raw.get("fill", []))
    # A reps file's blanks take the defaults too (after the explicit fills), reported as fills.
    filled = {f.column for f in fills if not f.stages}
    fills += tuple(
        Fill(
            column=c,
            value=v,
            reason=f"the profile's default {c} ([reps] defaults)",
            from_defaults=True,
        )
        for c, v in defaults.items()
        if c not in filled
    )
    return TableSpec(
        files=files,
        sheet=raw.get("sheet"),
        columns=columns,
        values=values,
        corrections=corrections,
        fills=fills,
        warn_blank=tuple(_canonical_column(name, c, where) for c in raw.get("warn_blank", [])),
        derive=derive,
        defaults=defaults,
        growth=growth,
        window_months=window,
        generate=dict(generate),
        read=_read_options(raw.get("read", {}), base, where + " [read]"),
        stage_dates={str(k): str(v) for k, v in stage_dates.items()},
        bands=parse_bands(raw.get("bands", {}), name, where),
    )


def _build(
    raw: dict[str, Any], default_name: str, where: str, path: Path | None, text: str | None = None
) -> Profile:
    """A :class:`Profile` from parsed TOML; every key is checked against the profile schema
    (``profile_schema.toml``) first, with its line and column when ``text`` is given."""
    source = str(path) if path is not None else where
    raise_config_problems(check_config(raw, text, "profile"), source, ProfileError)
    _unknown(set(raw), _TOP_KEYS, where)
    base = _read_options(raw.get("read", {}), ReadOptions(), f"[read] of the {where}")
    tables = {t: _table(t, raw[t], base, where) for t in TABLES if t in raw}
    for t in TABLES:
        tables.setdefault(t, TableSpec(read=base))
    stages = tuple(raw.get("stages", ()))
    for s in stages:
        if not isinstance(s, dict) or "name" not in s:
            raise ProfileError(
                f"A [[stages]] entry of the {where} has no name. Fix: add name = ..."
            )
    as_of = raw.get("as_of")
    history = None
    if "stage_history" in raw:
        from salesnb.data.stagehistory import parse_spec

        history = parse_spec(raw["stage_history"], base, f"[stage_history] of the {where}")
    return Profile(
        name=str(raw.get("name", default_name)),
        description=str(raw.get("description", "")),
        tables=tables,
        stages=stages,
        stage_map={str(k): str(v) for k, v in raw.get("stage_map", {}).items()},
        as_of=None if as_of is None else str(as_of),
        currency=raw.get("currency"),
        path=path,
        stage_history=history,
    )


# --------------------------------------------------------------------------- applying a profile
# These work on validation's per-table state (typed columns in ``t.out``, the user's
# column names in ``t.src``) so that fills are reported against the user's file and lines.


#: The column of a read frame holding each row's line in its file (salesnb.data.io.LINE).
LINE_COL = "__line__"
#: Fills that run before outcomes and furthest stages are derived from the stage.
EARLY_FILLS = ("stage", "outcome", "furthest_stage")


def _key_in_table(t: Any, key: str) -> pd.Series:
    """The values of a lookup's ``key`` in the table being filled: a canonical column, a
    column of the user's file named in the profile's ``columns``, or any column of the file."""
    from salesnb.data.parsers import norm_name as _norm

    if key in t.out and not key.startswith("__"):
        return t.out[key]
    for src, dsts in t.spec.columns.items():
        if _norm(src) == _norm(key) and dsts[0] in t.out:
            return t.out[dsts[0]]
    for h in t.frame.columns:
        if not str(h).startswith("__") and _norm(h) == _norm(key):
            return t.frame[h].astype("str").str.strip()
    shown = [c for c in t.frame.columns if not str(c).startswith("__")]
    msg = (
        f"The lookup key {key!r} of a [[{t.name}.fill]] is not a column of {t.name}; "
        f"its columns are {shown!r}."
    )
    raise ProfileError(msg + " Fix: set key to the column both files share.")


def _key_in_lookup(t: Any, key: str, columns: list[str]) -> str | None:
    """The lookup file's column for ``key``: the same name, or (when ``key`` is a canonical
    column) a name the profile maps onto it, or (when ``key`` is the export's name) its
    canonical name."""
    from salesnb.data.parsers import norm_name as _norm

    cols = {_norm(c): c for c in columns if not str(c).startswith("__")}
    names = [key, *(src for src, dsts in t.spec.columns.items() if key in dsts)]
    names += [d for src, dsts in t.spec.columns.items() if _norm(src) == _norm(key) for d in dsts]
    return next((cols[_norm(n)] for n in names if _norm(n) in cols), None)


def _lookup(t: Any, fill: Fill, kind: str, lookups: dict[str, Any], mask: np.ndarray):
    """Values of a lookup fill (a Series; None when the lookup file is refused), and a phrase."""
    from salesnb.core.errors import Problem
    from salesnb.data.parsers import examples as _examples
    from salesnb.data.parsers import parse_dates, parse_numbers

    spec = fill.lookup or {}
    name, key, value = spec["file"], spec["key"], spec["value"]
    idx = t.frame.index
    lk = lookups.get(name)
    if lk is None:
        return pd.Series(np.nan, index=idx), "nothing (lookup file unreadable)"
    columns = [c for c in lk.frame.columns if not str(c).startswith("__")]
    key_c, val_c = _key_in_lookup(t, key, columns), _key_in_lookup(t, value, columns)
    if key_c is None or val_c is None:
        msg = (
            f"The lookup file {name!r} has no column {key if key_c is None else value!r}; "
            f"its columns are {columns!r}."
        )
        raise ProfileError(msg + " Fix: correct the profile's lookup.")
    mine = _key_in_table(t, key).astype("str").str.strip()
    keys = lk.frame[key_c].astype("str").str.strip()
    raw = lk.frame[val_c]
    if kind in ("float", "int"):
        vals = parse_numbers(raw, lk.spec.read)[0]
    elif kind == "date":
        vals = parse_dates(raw, lk.spec.read)[0]
    else:
        vals = raw.astype("str").str.strip()
        vals = vals.where(~vals.isin(lk.spec.read.blank_values) & (vals != ""))
    table = pd.DataFrame({"key": keys.to_numpy(), "value": vals.to_numpy()})
    table = table[table["key"].notna() & (table["key"] != "")]
    agg = spec.get("aggregate")
    used = table["key"].isin(pd.unique(mine[mask].dropna()))
    dup = (table["key"].duplicated(keep=False) & used).to_numpy()
    if dup.any() and agg is None:
        lines = lk.frame[LINE_COL].to_numpy()[table.index[dup]] if LINE_COL in lk.frame else []
        n_keys = table.loc[dup, "key"].nunique()
        msg = (
            f"The lookup file has several rows for the same {key_c} ({n_keys:,} "
            f"{'key' if n_keys == 1 else 'keys'}, e.g. {_examples(table.loc[dup, 'key'])}): "
            f"which {value!r} to fill the {fill.column} of [{t.name}] with is ambiguous, "
            "so nothing was filled from it."
        )
        fix = (
            f"Keep one row per {key_c}, or say in the profile's lookup how to combine them: "
            'aggregate = "sum" (add them up, e.g. order lines), "first" or "last".'
        )
        rows = tuple(int(x) for x in lines[:10_000])
        t.problems.append(
            Problem(msg, fix, lk.files[0], rows, key_c, "error", "duplicate-lookup-key")
        )
        return None, ""
    if agg == "sum":
        mapping = table.groupby("key", sort=False)["value"].sum(min_count=1)
        how = f"the sum of the {value!r} of its rows"
    else:
        keep = "last" if agg == "last" else "first"
        mapping = table.drop_duplicates("key", keep=keep).set_index("key")["value"]
        how = f"the {value!r}" if agg is None else f"the {value!r} of its {keep} row"
    return mine.map(mapping), f"{how} in {name!r} (matched on {key_c})"


def _fill_value(
    t: Any, fill: Fill, kind: str, lookups: dict[str, Any], as_of: Any, mask: np.ndarray
):
    """The fill values for every row (a Series) and a phrase saying where they came from."""
    idx = t.frame.index
    if fill.rule == "as_of":
        return pd.Series(as_of, index=idx, dtype="datetime64[ns]"), f"the as-of date {as_of.date()}"
    if fill.rule == "expected_close":
        created, close = t.out.get("created_date"), t.out.get("close_date")
        won = t.out.get("outcome") == "won" if "outcome" in t.out else None
        days = (close - created).dt.days[won] if won is not None and close is not None else None
        cycle = float(days.median()) if days is not None and days.notna().any() else 30.0
        cycle_days = round(cycle)
        if created is None:
            return pd.Series(pd.NaT, index=idx, dtype="datetime64[ns]"), "nothing (no created date)"
        return created + pd.Timedelta(days=cycle_days), (
            f"the created date + {cycle_days} days (the median won sales cycle)"
        )
    if fill.lookup:
        return _lookup(t, fill, kind, lookups, mask)
    literal = fill.value
    if kind == "date":
        literal = pd.Timestamp(str(literal)).normalize()
    elif kind in ("float", "int"):
        literal = float(literal)
    else:
        literal = str(literal)
    return pd.Series(literal, index=idx), f"{fill.value!r}"


def _shown(values: pd.Series) -> pd.Series:
    """Values as a file would write them (for messages quoting a filled column)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.strftime("%Y-%m-%d")
    if pd.api.types.is_float_dtype(values):
        return values.map(lambda v: "" if pd.isna(v) else f"{v:g}")
    return values.astype("str")


def apply_fills(
    t: Any, lookups: dict[str, Any], as_of: Any, columns: Any = None, skip: Any = ()
) -> None:
    """Fill known blanks (or zeros) as the profile's ``[[<table>.fill]]`` entries say.

    Every fill is reported as a warning naming the rows filled, the reason and the
    source of the values; values a lookup cannot find stay blank (and are then reported
    by the required-value check). ``columns`` (default all) and ``skip`` choose which
    fills run: stage fills run before outcomes are derived (:data:`EARLY_FILLS`).
    A lookup file with several rows for a key is refused (an error naming its lines)
    unless the lookup says how to aggregate them.
    """
    kinds = {c.name: c.kind for c in TABLES[t.name]}
    for fill in t.spec.fills:
        if (columns is not None and fill.column not in columns) or fill.column in skip:
            continue
        col, kind = fill.column, kinds[fill.column]
        cur = t.out.get(col)
        if cur is None:
            dtype = {"date": "datetime64[ns]", "float": "float64", "int": "float64"}.get(
                kind, "str"
            )
            cur = pd.Series(np.nan, index=t.frame.index, dtype=dtype)
        mask = np.zeros(len(cur), bool)
        if fill.when in ("blank", "blank_or_zero"):
            mask |= cur.isna().to_numpy() & ~t.bad.get(col, np.zeros(len(cur), bool))
        if fill.when in ("zero", "blank_or_zero") and kind in ("float", "int"):
            mask |= (cur == 0).to_numpy()
        if fill.stages and "stage" in t.out:
            mask &= t.out["stage"].isin(fill.stages).to_numpy()
        if not mask.any():
            continue
        values, desc = _fill_value(t, fill, kind, lookups, as_of, mask)
        if values is None:  # refused (reported): the rows stay blank, reported once
            t.bad[col] = t.bad.get(col, np.zeros(len(cur), bool)) | mask
            t.out.setdefault(col, cur)
            continue
        new = cur.where(~mask, values)
        done = mask & new.notna().to_numpy()
        what = {"blank": "blank", "zero": "0", "blank_or_zero": "blank or 0"}[fill.when]
        shown = ", ".join(repr(x) for x in fill.stages[:3])
        more = f" (+{len(fill.stages) - 3} more)" if len(fill.stages) > 3 else ""
        on = f" on deals in stage {shown}{more}" if fill.stages else ""
        if col not in t.src:
            # The file has no such column: a column of the filled values stands in for it,
            # so that later messages quoting the column's values can show them.
            t.frame = t.frame.assign(**{col: _shown(new)})
            t.src[col] = col
        if done.any():
            msg = f"The {col} was {what}{on}; filled with {desc}. Why: {fill.reason or 'profile fill'}"
            fix = "Nothing to do if that is acceptable; for real values, enter them in the CRM."
            t.emit(done, col, "filled", msg, fix, "warning")
        t.out[col] = new


def warn_blanks(t: Any) -> None:
    """Report blanks in the columns a profile lists under ``warn_blank`` (kept blank)."""
    for col in t.spec.warn_blank:
        if col in t.out:
            blank = t.out[col].isna().to_numpy()
            if blank.any():
                msg = f"{col} is blank; these deals count under no {col}."
                fix = f"Enter the {col} in the CRM where it is known."
                t.emit(blank, col, "blank-kept", msg, fix, "warning")


class _Derived:
    """A derived table seen as validation's typing state, so that fills apply to it too
    (its rows have no file lines: problems count them instead)."""

    def __init__(self, name: str, frame: pd.DataFrame, spec: TableSpec, problems: list):
        self.name, self.frame, self.spec, self.problems = name, frame, spec, problems
        self.out = {c: frame[c] for c in frame.columns}
        self.src: dict[str, str] = {}
        self.bad: dict[str, np.ndarray] = {}

    def emit(self, mask: Any, column: str | None, code: str, msg: str, fix: str,
             severity: str = "error", values: tuple[str, ...] = ()) -> None:  # fmt: skip
        from salesnb.core.errors import Problem

        n = int(np.asarray(mask, bool).sum())
        what = f"{msg} ({n:,} derived {self.name})"
        self.problems.append(Problem(what, fix, None, (), column, severity, code, values=values))


def derive_reps(
    opps: pd.DataFrame,
    spec: TableSpec,
    t: Any,
    problems: list,
    lookups: dict[str, Any] | None = None,
    as_of: Any = None,
) -> pd.DataFrame:
    """Reps table from the distinct deal owners, with ``spec.defaults`` for the rest.

    The profile's ``[[reps.fill]]`` entries fill the derived reps too (e.g. the manager
    looked up in a team sheet); what they leave blank takes the defaults.

    Examples
    --------
    >>> opps = pd.DataFrame({"rep_id": ["Ann", "Bo", "Ann"]})
    >>> derive_reps(opps, TableSpec(defaults={"region": "EU"}), None, [])["region"].tolist()
    ['EU', 'EU']
    """
    from salesnb.core.errors import Problem
    from salesnb.data.model import empty_table

    ids = pd.Series(sorted(opps["rep_id"].dropna().unique()), dtype="str")
    reps = empty_table("reps").reindex(range(len(ids)))
    reps["rep_id"] = ids
    reps["name"] = ids
    for col in ("manager", "region", "team"):
        reps[col] = pd.Series(spec.defaults.get(col, "(unassigned)"), index=reps.index, dtype="str")
    if "team" not in spec.defaults:
        reps["team"] = reps["region"]
    reps["start_date"] = pd.Series(pd.NaT, index=reps.index, dtype="datetime64[ns]")
    reps = reps.astype({c: "str" for c in ("rep_id", "name", "manager", "region", "team")})
    explicit = [f for f in spec.fills if not f.from_defaults]
    if explicit and len(reps):
        filled = {f.column for f in explicit}
        shim = _Derived("reps", reps.copy(), spec, problems)
        for col in filled:
            shim.out[col] = pd.Series(np.nan, index=reps.index, dtype=reps[col].dtype)
        apply_fills(shim, lookups or {}, as_of, skip=())
        for col in filled:
            reps[col] = shim.out[col].astype(reps[col].dtype).fillna(reps[col])
    owner = t.col_name("rep_id") if t is not None else "rep_id"

    def told(col: str) -> str:
        vals = pd.unique(reps[col].dropna())
        return f"{col} {vals[0]!r}" if len(vals) == 1 else f"{len(vals)} {col}s (profile fills)"

    msg = (
        f"No reps file: {len(ids)} reps were derived from the deal owners (column {owner!r}); "
        + (f"{told('manager')}, {told('region')}." if len(ids) else "none has a deal.")
    )
    fix = (
        "Put a reps.csv beside the export (rep_id = the owner as written in the export, name, "
        "manager, region) to get manager and region views."
    )
    file = t.raw.files[0] if t is not None else None
    problems.append(Problem(msg, fix, file, (), None, "warning", "derived-reps"))
    return reps


def derive_targets(
    opps: pd.DataFrame,
    reps: pd.DataFrame,
    spec: TableSpec,
    config: Any,
    as_of: pd.Timestamp,
    problems: list,
) -> pd.DataFrame:
    """Monthly rep targets from history: trailing mean of won bookings x (1 + growth).

    For each rep and each month from the first month with a won deal to the end of
    the fiscal year holding ``as_of``: target = (1 + ``spec.growth``) x the mean of the
    rep's won bookings (currency) over the up to ``spec.window_months`` months before
    it (months without wins count 0). The first month, which has no months before it,
    uses the mean of the first ``window_months`` months; months after ``as_of`` use the
    mean of the last ``window_months`` months up to ``as_of``. Rounded to whole units.
    Reps with no won deal get no target (reported).

    Examples
    --------
    >>> o = pd.DataFrame({"rep_id": ["a", "a"], "outcome": ["won", "won"], "amount": [100., 300.],
    ...     "close_date": pd.to_datetime(["2026-01-10", "2026-02-10"])})
    >>> from salesnb.data.config import load_config
    >>> t = derive_targets(o, pd.DataFrame({"rep_id": ["a"]}), TableSpec(growth=0.1,
    ...     window_months=2), load_config(), pd.Timestamp("2026-02-28"), [])
    >>> t["amount"].tolist()[:3]   # Jan: mean(100,300)*1.1; Feb: 100*1.1; Mar: mean(100,300)*1.1
    [220.0, 110.0, 220.0]
    """
    from salesnb.core.errors import Problem
    from salesnb.data.model import empty_table

    won = opps[(opps["outcome"] == "won") & opps["close_date"].notna()]
    if won.empty:
        return empty_table("targets")
    month = won["close_date"].dt.to_period("M")
    start, now = month.min(), pd.Timestamp(as_of).to_period("M")
    fy_end_month = (config.calendar.start_month - 2) % 12 + 1
    end = now + ((fy_end_month - now.month) % 12)
    hist = pd.period_range(start, max(now, start), freq="M")
    pivot = (
        won.groupby([month, won["rep_id"]])["amount"].sum().unstack(fill_value=0.0)
        .reindex(hist, fill_value=0.0)
    )  # fmt: skip
    w = spec.window_months
    trail = pivot.rolling(w, min_periods=1).mean().shift(1)
    trail.iloc[0] = pivot.iloc[:w].mean()
    future = pd.period_range(now + 1, end, freq="M") if end > now else []
    if len(future):
        last = pivot.iloc[-w:].mean()
        trail = pd.concat([trail, pd.DataFrame([last] * len(future), index=future)])
    long = (trail * (1.0 + spec.growth)).round(0).stack().rename("amount").reset_index()
    long.columns = ["month", "rep_id", "amount"]
    out = empty_table("targets").reindex(range(len(long)))
    out["rep_id"] = long["rep_id"].astype("str")
    out["region"] = pd.Series(np.nan, index=out.index, dtype="str")
    out["month"] = long["month"].dt.to_timestamp().astype("datetime64[ns]")
    out["amount"] = long["amount"].astype("float64")
    out = out.sort_values(["rep_id", "month"], kind="stable").reset_index(drop=True)
    no_win = sorted(set(reps["rep_id"]) - set(won["rep_id"]))
    msg = (
        f"No targets file: monthly targets for {out['rep_id'].nunique()} reps "
        f"({out['month'].min():%Y-%m} to {out['month'].max():%Y-%m}) were derived from history "
        f"as the trailing {w}-month average of won bookings x {1 + spec.growth:.2f}."
        + (f" {len(no_win)} reps without a won deal have no target: {no_win!r}." if no_win else "")
    )
    fix = "Supply targets.csv (rep_id or region, month, amount) for real quotas."
    problems.append(Problem(msg, fix, None, (), None, "warning", "derived-targets"))
    return out

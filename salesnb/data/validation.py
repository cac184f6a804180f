"""Turn raw (text) frames into typed canonical tables, collecting every problem at once.

:func:`validate` is the one entry point; the parsers (:func:`parse_dates`,
:func:`parse_numbers`) and checks are vectorised: they work on whole columns and
look at distinct bad values only to explain them, so a million-row file costs a
few column operations, not a million Python calls.

Every finding is a :class:`~salesnb.core.errors.Problem` naming the file, the file's
line numbers (header = line 1), the column as the user's file names it, and a fix.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from salesnb.core.errors import Problem
from salesnb.data.bands import apply_bands
from salesnb.data.calls import call_reps, check_calls
from salesnb.data.config import Config
from salesnb.data.coverage import reps_without_data, reps_without_target
from salesnb.data.model import (
    account_owners,
    as_of_dates,
    empty_table,
    far_future_cutoff,
    latest_date,
)
from salesnb.data.parsers import (
    DTYPES,
    MAX_ROWS,
    Issue,
    arrow_array,
    closest,
    examples,
    isin_values,
    norm_name,
    parse_dates,
    parse_numbers,
)
from salesnb.data.profiles import Profile, TableSpec
from salesnb.data.raw import LINE, SRC, RawTable
from salesnb.data.schema import DIMENSION_TABLES, SATISFACTION_RANGE, TABLES, Column

# --------------------------------------------------------------------------- parsers


# --------------------------------------------------------------------------- one table


class _Table:
    """Typing state of one table: typed columns, the user's column names, and problems."""

    def __init__(self, raw: RawTable, profile: Profile, problems: list[Problem]):
        self.raw, self.name, self.spec = raw, raw.table, raw.spec
        self.frame = raw.frame
        self.lines = raw.frame[LINE].to_numpy()
        self.srcs = (
            raw.frame[SRC].to_numpy() if SRC in raw.frame else np.zeros(len(self.lines), int)
        )
        self.profile, self.problems = profile, problems
        self.src: dict[str, str] = {}
        self.out: dict[str, pd.Series] = {}
        self.bad: dict[str, np.ndarray] = {}  # rows whose value could not be read, per column
        # id(problem) -> positions of the rows it is about (see _attribute)
        self.spans: dict[int, np.ndarray] = {}

    def col_name(self, canonical: str) -> str:
        return self.src.get(canonical, canonical)

    def emit(self, mask: Any, column: str | None, code: str, msg: str, fix: str,
             severity: str = "error", values: tuple[str, ...] = ()) -> None:  # fmt: skip
        mask = np.asarray(mask, bool)
        name = self.col_name(column) if column else None
        for i, f in enumerate(self.raw.files):
            sel = mask & (self.srcs == i) if len(self.raw.files) > 1 else mask
            if sel.any():
                rows = tuple(int(x) for x in self.lines[sel][:MAX_ROWS])
                n = int(sel.sum())
                text = msg if n == 1 else f"{msg} ({n:,} rows)"
                problem = Problem(text, fix, f, rows, name, severity, code, values=values)
                self.problems.append(problem)
                self.spans[id(problem)] = np.flatnonzero(sel)

    def file_problem(self, code: str, msg: str, fix: str, column: str | None = None,
                     severity: str = "error") -> None:  # fmt: skip
        rows = (self.raw.header_line,)
        self.problems.append(Problem(msg, fix, self.raw.files[0], rows, column, severity, code))


def _derivable(table: str, col: str, spec: TableSpec) -> bool:
    if table == "opportunities" and col in ("outcome", "furthest_stage"):
        return True
    if table == "reps" and col == "team":
        return True
    if col in spec.generate:
        return True
    return any(f.column == col and f.when != "zero" and not f.stages for f in spec.fills)


def _map_columns(t: _Table) -> bool:
    headers = [c for c in t.frame.columns if c not in (SRC, LINE)]
    by_norm = {norm_name(h): h for h in headers}
    used: set[str] = set()
    missing: list[tuple[str, str]] = []
    for col in TABLES[t.name]:
        names = t.spec.source_names(col.name)
        hit = next((by_norm[norm_name(n)] for n in names if norm_name(n) in by_norm), None)
        if hit is not None:
            t.src[col.name] = hit
            used.add(hit)
        elif col.required and not _derivable(t.name, col.name, t.spec):
            missing.append((col.name, names[0]))
    unused = [h for h in headers if h not in used]
    suggested: set[str] = set()
    for canonical, expected in missing:
        near = closest(expected, unused)
        if near:
            suggested.add(near.split("'")[1])
        else:
            near = _other_sheet_hint(t, expected)
        msg = f"Required column {expected!r} is missing." + (
            f" It holds {canonical} (see docs/data-model.md)." if expected != canonical else ""
        )
        fix = (
            f"{near.strip()} Rename the column, or add it."
            if near
            else (f"Add a column {expected!r}; the file has {headers!r}.")
        )
        t.file_problem("missing-column", msg, fix, expected)
    # Names of the columns not found: a column read under another name (e.g. 'region'
    # when the profile reads 'ShipRegion' as the region) is no misspelling of anything.
    known = {n for c in TABLES[t.name] if c.name not in t.src for n in t.spec.source_names(c.name)}
    keys = {norm_name(f.lookup["key"]) for f in t.spec.fills if f.lookup}
    for h in unused:
        if h in suggested or norm_name(h) in keys:  # a lookup's key column is used
            continue
        others = [norm_name(k) for k in known if norm_name(k) != norm_name(h)]
        near = difflib.get_close_matches(norm_name(h), others, n=1, cutoff=0.8)
        if near:
            real = next(k for k in known if norm_name(k) == near[0])
            msg = f"Column {h!r} is not used; it looks like a misspelling of {real!r}."
            t.file_problem("extra-column", msg, f"Rename it to {real!r} if that is what it holds.",
                           h, "warning")  # fmt: skip
    return not missing


def _other_sheet_hint(t: _Table, expected: str) -> str:
    if not t.raw.sheets:
        return ""
    names = list(t.raw.sheets)
    for sheet, cols in t.raw.sheets.items():
        if sheet != (t.raw.sheet or names[0]) and norm_name(expected) in {
            norm_name(c) for c in cols
        }:
            return (
                f"The columns are on sheet {sheet!r}, not on the first sheet {names[0]!r} "
                f"(sheets: {names!r}): set sheet = {sheet!r} in the profile, or move that sheet first."
            )
    return f"The sheet read was {names[0]!r}; the workbook's sheets are {names!r}."


def _blank_words(t: _Table, col: Column, raw: pd.Series) -> pd.Series:
    """``raw`` with the cells that read as one of ``[read] blank_values`` (``NULL``, ``N/A``,
    ``-`` ...) blank; the rows are remembered to say which word a required value was."""
    words = t.spec.read.blank_values
    if not words or not (pd.api.types.is_string_dtype(raw) or raw.dtype == object):
        return raw
    arr = arrow_array(raw)
    if arr is not None:  # one C pass over a pyarrow column (a million rows: 50 ms, not 300)
        import pyarrow as pa
        import pyarrow.compute as pc

        found = pc.is_in(pc.utf8_trim_whitespace(arr), value_set=pa.array(list(words)))
        hit = pc.fill_null(found, False).to_numpy(zero_copy_only=False)
    else:
        hit = isin_values(raw.astype("str").str.strip(), list(words)) & raw.notna().to_numpy()
    if not hit.any():
        return raw
    t.out[f"__naword__{col.name}"] = pd.Series(hit, index=raw.index)
    return raw.where(~hit)


def _type_columns(t: _Table) -> None:
    opts, canonical = t.spec.read, t.profile.is_canonical
    # A column feeding two fields (e.g. one date read as created and close date) is
    # explained once: its problems are reported with the first field only.
    reported: set[tuple[str, str]] = set()
    for col in TABLES[t.name]:
        if col.name not in t.src:
            continue
        raw = _strip_bom(t, col, t.frame[t.src[col.name]])
        if col.kind in ("str", "date"):
            raw = _blank_words(t, col, raw)
        if col.kind == "date":
            required = col.required and not _derivable(t.name, col.name, t.spec)
            vals, issues = parse_dates(raw, opts, canonical, required)
        elif col.kind in ("float", "int"):
            vals, na_word, issues = parse_numbers(raw, opts, t.raw.sep)
            if na_word.any():
                t.out[f"__naword__{col.name}"] = pd.Series(na_word, index=raw.index)
        else:
            vals, issues = _text(t, col, raw), []
        if col.kind in ("float", "int"):
            issues += _implausible(t, col, raw, vals)
        bad = np.zeros(len(raw), bool)
        once = (t.src[col.name], col.kind)
        seen = once in reported
        reported.add(once)
        for code, mask, msg, fix, sev in issues:
            if not seen:
                t.emit(mask, col.name, code, msg, fix, sev)
            if sev == "error":
                bad |= mask
            elif code == "placeholder-date":
                t.out[f"__placeholder__{col.name}"] = pd.Series(mask, index=raw.index)
        t.bad[col.name] = bad | t.bad.get(col.name, False)
        t.out[col.name] = vals


def _strip_bom(t: _Table, col: Column, raw: pd.Series) -> pd.Series:
    """``raw`` without byte-order marks (U+FEFF): one inside the file, where files were joined
    or text pasted, would stay in an id unseen. A warning names the lines."""
    if not (pd.api.types.is_string_dtype(raw) or raw.dtype == object):
        return raw
    mark = raw.astype("str").str.contains("\ufeff", regex=False, na=False).to_numpy()
    if not mark.any():
        return raw
    msg = "An invisible byte-order mark (U+FEFF) was removed from a value."
    fix = (
        "Nothing to do; it comes from joining files that each begin with one, or from pasted "
        "text: save the data again as one UTF-8 file to be clean."
    )
    t.emit(mark, col.name, "bom-in-value", msg, fix, "warning")
    return raw.astype("str").str.replace("\ufeff", "", regex=False)


#: The largest amount (any currency) and activity count a row may hold: beyond them a value
#: is a typo or a placeholder (1e308, 9.99e99), and a count would overflow when converted.
MAX_AMOUNT = 1e15
MAX_COUNT = 1e9


def _implausible(t: _Table, col: Column, raw: pd.Series, vals: pd.Series) -> list[Issue]:
    """One error for the values of a number column beyond ±:data:`MAX_AMOUNT` (amounts) or
    ±:data:`MAX_COUNT` (counts); they are blanked, so that nothing downstream sees them."""
    bound, what = (MAX_COUNT, "a count") if col.kind == "int" else (MAX_AMOUNT, "an amount")
    big = (vals.abs() > bound).to_numpy()
    if not big.any():
        return []
    vals[big] = np.nan
    msg = f"Implausible {col.name}: {examples(raw[big], 5)} (beyond ±{bound:,.0f})."
    fix = (
        f"Correct the value (a typo or a placeholder?): {what} is a number from 0 to {bound:,.0f}."
    )
    return [("implausible-number", big, msg, fix, "error")]


def _text(t: _Table, col: Column, raw: pd.Series) -> pd.Series:
    s = raw.astype("str").str.strip()
    s = s.where(s != "")
    quoted = s.str.startswith("'", na=False)
    if quoted.any():  # undo write()'s guard against spreadsheet formulas
        s = s.where(~quoted, s.str.replace(r"^'(?='*[=+\-@\t\r])", "", regex=True))
    for mapping, report in ((t.spec.values.get(col.name), False),
                            (t.spec.corrections.get(col.name), True)):  # fmt: skip
        if not mapping:
            continue
        hit = s.isin(list(mapping)).to_numpy()
        if hit.any():
            if report:
                for old, new in mapping.items():
                    m = (s == old).fillna(False).to_numpy()
                    if m.any():
                        msg = f"{old!r} was read as {new!r}."
                        fix = "Correct the spelling in the CRM; the profile corrects it meanwhile."
                        t.emit(m, col.name, "corrected-value", msg, fix, "warning",
                               (str(old), str(new)))  # fmt: skip
            s = s.where(~hit, s.map(mapping)).replace("", np.nan)
    if col.choices:
        s = _choices(t, col, s)
    return s.astype("str")


def _map_unique(s: pd.Series, func) -> pd.Series:
    """Apply a Python function to each distinct value only, then spread the results."""
    codes, uniques = pd.factorize(s)
    mapped = np.array([func(u) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], index=s.index, dtype="str")


def _choices(t: _Table, col: Column, s: pd.Series) -> pd.Series:
    norm = _map_unique(s, lambda v: re.sub(r"[\s\-]+", "_", v.strip().lower()))
    bad = (norm.notna() & ~norm.isin(col.choices)).to_numpy()
    lenient = col.name == "deal_type"  # an org's own deal types must not stop the data loading
    if bad.any():
        for v in pd.unique(s[bad])[:20]:
            m = (s == v).fillna(False).to_numpy()
            blank = ": read as blank (kind of deal not known)" if lenient else ""
            msg = f"Unknown {col.name} {v!r}{blank}.{closest(v, list(col.choices))}"
            fix = f"Use one of {list(col.choices)!r}" + (
                "." if t.profile.is_canonical else ", or map it under [values] in the profile."
            )
            t.emit(m, col.name, "unknown-value", msg, fix, "warning" if lenient else "error")
        if not lenient:
            t.bad[col.name] = bad  # reported: not "blank" again
    return norm.where(~bad)


def _required(t: _Table, skip: set[str] = frozenset()) -> None:
    for col in TABLES[t.name]:
        if not col.required or col.name not in t.out or col.name in skip:
            continue
        if col.name not in t.src:  # derived: a failure is reported where it comes from
            continue
        v = t.out[col.name]
        blank = v.isna().to_numpy() & ~t.bad.get(col.name, False)
        if blank.any():
            words = t.out.get(f"__naword__{col.name}")
            if words is not None and (words.to_numpy() & blank).any():
                wm = words.to_numpy() & blank
                msg = f"No {col.name}: the value is {examples(t.frame.loc[wm, t.src[col.name]])}."
                t.emit(wm, col.name, "nan-value", msg, f"Enter the {col.name}; it is required.")
                blank &= ~wm
            if blank.any():
                msg = f"Required value missing (blank {col.name})."
                t.emit(blank, col.name, "blank", msg, f"Fill in the {col.name}, or drop the row.")


def _duplicates(t: _Table, keys: list[str], what: str, column: str | None = None) -> None:
    if not all(k in t.out for k in keys):
        return
    if len(keys) == 1:
        df = t.out[keys[0]].to_frame()
        dup = (df.iloc[:, 0].duplicated(keep=False) & df.iloc[:, 0].notna()).to_numpy()
    else:
        df = pd.DataFrame({k: t.out[k] for k in keys})
        dup = df.duplicated(keep=False).to_numpy() & df.notna().all(axis=1).to_numpy()
    if dup.any():
        vals = df.loc[dup, keys[0]]
        ex = examples(vals)
        verb = "appears" if vals.nunique() == 1 else "appear"
        msg = f"Duplicate {what}: {ex} {verb} more than once."
        fix = f"Keep one row per {what} (delete or merge the repeats)."
        t.emit(dup, column or keys[0], "duplicate-id", msg, fix)


def _non_negative(t: _Table, col: str) -> None:
    if col in t.out:
        neg = (t.out[col] < 0).to_numpy()
        if neg.any():
            ex = examples(t.frame.loc[neg, t.src[col]])
            msg = f"Negative {col}: {ex}."
            fix = f"Enter the {col} as a positive number (refunds and credits do not belong here)."
            t.emit(neg, col, "negative", msg, fix)


def _unknown_ref(t: _Table, col: str, known: pd.Series, what: str, table: str, sev="error") -> None:
    if col not in t.out or known is None:
        return
    v = t.out[col]
    bad = v.notna().to_numpy() & ~isin_values(v, known)
    if not bad.any():
        return
    options = sorted(set(known.dropna()))
    for val in pd.unique(v[bad])[:20]:
        m = (v == val).fillna(False).to_numpy()
        msg = f"Unknown {what} {val!r}: it is not in {table}.{closest(val, options)}"
        fix = f"Add {val!r} to {table}, or correct the value."
        t.emit(m, col, f"unknown-{what.replace(' ', '-')}", msg, fix, sev)
    if len(pd.unique(v[bad])) > 20:
        t.emit(bad, col, "unknown-ref", f"More unknown {what} values.", "See above.", sev)


def _finish(t: _Table) -> pd.DataFrame:
    n = len(t.frame)
    data = {}
    for col in TABLES[t.name]:
        v = t.out.get(col.name)
        if v is None:
            v = pd.Series(np.nan, index=range(n), dtype=DTYPES[col.kind])
        v = v.reset_index(drop=True)
        if col.kind == "int":
            v = v.fillna(0).round().astype("int64")
        elif v.dtype != DTYPES[col.kind]:
            v = v.astype(DTYPES[col.kind])
        data[col.name] = v
    # The columns are this function's own fresh Series: no need to copy them again.
    return pd.DataFrame(data, copy=False)


# --------------------------------------------------------------------------- table rules


def _stages(t: _Table, col: str, config: Config) -> None:
    if col not in t.out:
        return
    s = t.out[col]
    names = config.stages.names
    lookup = {k.casefold(): v for k, v in t.profile.stage_map.items()}
    lookup.update({n.casefold(): n for n in names})
    mapped = _map_unique(s, lambda v: lookup.get(v.casefold()))
    bad = (s.notna() & mapped.isna()).to_numpy()
    if bad.any():
        for v in pd.unique(s[bad])[:20]:
            m = (s == v).fillna(False).to_numpy()
            msg = f"Unknown stage {v!r}.{closest(v, names + list(t.profile.stage_map))}"
            fix = (
                f"Use one of {names!r}, or map it in [stage_map] of a profile / add it to "
                "[[stages]] in salesnb.toml."
            )
            t.emit(m, col, "unknown-stage", msg, fix)
    t.out[col] = mapped.where(~pd.Series(bad, index=s.index), s).astype("str")


def _opportunities(t: _Table, config: Config) -> None:
    if "opp_id" not in t.src and t.spec.generate.get("opp_id") == "line":
        names = np.array([f.rsplit("/", 1)[-1] for f in t.raw.files])
        ids = pd.Series(names[t.srcs], dtype="str") + ":" + pd.Series(t.lines).astype("str")
        t.out["opp_id"] = ids.set_axis(t.frame.index)
        msg = "The export has no opportunity id column: ids were made from the file and line."
        fix = "Add 'Opportunity ID' (or the profile's id column) to the export for stable ids."
        t.file_problem("generated-id", msg, fix, severity="warning")
    _stages(t, "stage", config)
    kind = t.out["stage"].map(config.stages.kind_of()) if "stage" in t.out else None
    if "outcome" in t.out and kind is not None:
        clash = (t.out["outcome"].notna() & kind.notna() & (t.out["outcome"] != kind)).to_numpy()
        if clash.any():
            ex = t.frame.loc[clash, [t.src["stage"], t.src["outcome"]]].drop_duplicates().head(3)
            pairs = ", ".join(f"{a!r} with {b!r}" for a, b in ex.itertuples(index=False))
            msg = f"Outcome contradicts the stage: {pairs}."
            fix = "Make the outcome match the stage's kind (open/won/lost), or leave outcome blank."
            t.emit(clash, "outcome", "outcome-stage", msg, fix)
        t.out["outcome"] = t.out["outcome"].fillna(kind).astype("str")
    elif kind is not None:
        t.out["outcome"] = kind.astype("str")
    if kind is not None:
        # Defaults: an open deal is at its furthest stage; a won deal passed every open
        # stage; a lost deal's furthest stage is unknown unless the data says.
        default = (
            t.out["stage"].where(kind == "open").mask(kind == "won", config.stages.open_names[-1])
        )
        if "furthest_stage" in t.out:
            _stages(t, "furthest_stage", config)
            default = t.out["furthest_stage"].fillna(default)
        t.out["furthest_stage"] = default.astype("str")


def _check_opportunities(t: _Table) -> None:
    _duplicates(t, ["opp_id"], "opportunity id")
    _non_negative(t, "amount")
    o = t.out
    if "created_date" in o and "close_date" in o:
        before = (o["close_date"] < o["created_date"]).to_numpy()
        if before.any():
            cols = [t.src["created_date"], t.src["close_date"]]
            ex = t.frame.loc[before, cols].head(1).itertuples(index=False)
            a, b = next(ex)
            msg = f"Close date is before the created date (e.g. closed {b!r}, created {a!r})."
            fix = "Correct either date; a deal cannot close before it was created."
            t.emit(before, "close_date", "close-before-created", msg, fix)
    if "close_date" in o and "outcome" in o:
        no_close = (o["outcome"].isin(["won", "lost"]) & o["close_date"].isna()).to_numpy()
        no_close = no_close & ~t.bad.get("close_date", False)
        held = o.get("__placeholder__close_date")
        if held is not None and (no_close & held.to_numpy()).any():
            m = no_close & held.to_numpy()
            ex = examples(t.frame.loc[m, t.src["close_date"]])
            msg = f"A won or lost deal has the placeholder close date {ex} ('no date')."
            t.emit(m, "close_date", "blank", msg, "Enter the date the deal closed.")
            no_close &= ~m
        if no_close.any():
            msg = "A won or lost deal has no close date."
            t.emit(no_close, "close_date", "blank", msg, "Enter the date the deal closed.")


def _targets(t: _Table, reps: pd.DataFrame | None) -> None:
    o = t.out
    rep = o.get("rep_id", pd.Series(np.nan, index=t.frame.index, dtype="str"))
    reg = o.get("region", pd.Series(np.nan, index=t.frame.index, dtype="str"))
    both, neither = (rep.notna() & reg.notna()).to_numpy(), (rep.isna() & reg.isna()).to_numpy()
    for m, what in ((both, "both a rep_id and a region"), (neither, "neither rep_id nor region")):
        if m.any():
            fix = "Give each target row exactly one of rep_id (a rep target) or region."
            t.emit(m, "rep_id", "target-owner", f"A target row has {what}.", fix)
    if "month" in o:
        month = o["month"]
        off = (month.notna() & (month.dt.day != 1)).to_numpy()
        if off.any():
            msg = "A target month is not the first day of a month; it was moved to the 1st."
            fix = "Write months as YYYY-MM or the month's first day (YYYY-MM-01)."
            t.emit(off, "month", "month-start", msg, fix, "warning")
        o["month"] = month.dt.to_period("M").dt.to_timestamp()
    _non_negative(t, "amount")
    if reps is not None:
        _unknown_ref(t, "rep_id", reps["rep_id"], "rep", "reps")
        _unknown_ref(t, "region", reps["region"], "region", "reps (column region)")
    key = pd.Series(rep.fillna("") + "|" + reg.fillna(""), index=t.frame.index)
    o["__key__"] = key
    _duplicates(t, ["__key__", "month"], "target (same rep or region and month)", "month")


def _activities(t: _Table) -> None:
    _non_negative(t, "count")
    if "count" in t.out:
        c = t.out["count"]
        frac = (c.notna() & (c != np.floor(c))).to_numpy()
        if frac.any():
            msg = f"Activity counts must be whole numbers: {examples(t.frame.loc[frac, t.src['count']])}."
            t.emit(frac, "count", "not-integer", msg, "Write counts as 0, 1, 2 ...")


def _dimension_table(t: _Table, reps: pd.DataFrame | None) -> pd.DataFrame:
    """Check and finish an optional ``accounts`` or ``satisfaction`` table."""
    _required(t)
    if t.name == "accounts":
        _duplicates(t, ["account"], "account")
        if reps is not None:
            _unknown_ref(t, "owner", reps["rep_id"], "rep", "reps", "warning")
        return _finish(t)
    if "score" in t.out and "kind" in t.out:
        score, kind = t.out["score"], t.out["kind"]
        for k, (lo, hi) in SATISFACTION_RANGE.items():
            out = ((kind == k) & score.notna() & ((score < lo) | (score > hi))).to_numpy()
            if out.any():
                ex = examples(t.frame.loc[out, t.src["score"]])
                msg = f"A {k.upper()} score is outside {lo:g}-{hi:g}: {ex}."
                fix = f"Write {k.upper()} scores on the {lo:g}-{hi:g} scale, or correct the kind."
                t.emit(out, "score", "out-of-range", msg, fix)
    _duplicates(t, ["account", "date", "kind"], "survey response (same account, date, kind)")
    return _finish(t)


# --------------------------------------------------------------------------- validate


def validate(
    raws: dict[str, RawTable],
    profile: Profile,
    config: Config,
    *,
    lookups: dict[str, RawTable] | None = None,
    source: str = "",
) -> tuple[dict[str, pd.DataFrame], Config, list[Problem]]:
    """Type and check every raw table; derive what the profile says to derive.

    Parameters
    ----------
    raws : dict of RawTable
        Tables as read by :func:`salesnb.data.io.read_tables` (absent tables omitted).
    profile : Profile
        Column, stage and value mappings, fills and derivations.
    config : Config
        Stage catalogue and as-of date; the profile's ``as_of = "latest"`` fills it in.
    lookups : dict of RawTable, optional
        Side files the profile's fills look values up in.

    Returns
    -------
    tables, config, problems
        Typed canonical tables (absent ones empty), the config with ``as_of`` resolved,
        and every problem (errors and warnings) found.

    Examples
    --------
    >>> tables, cfg, problems = validate(raws, load_profile("canonical"), cfg)  # doctest: +SKIP
    """
    from salesnb.data.profiles import (
        EARLY_FILLS,
        apply_fills,
        derive_reps,
        derive_targets,
        warn_blanks,
    )

    problems: list[Problem] = []
    typed: dict[str, _Table] = {}
    for name in TABLES:
        raw = raws.get(name)
        if raw is None:
            continue
        t = _Table(raw, profile, problems)
        if _map_columns(t):
            _type_columns(t)
            typed[name] = t
    opp = typed.get("opportunities")
    for t in typed.values():  # a filled stage derives the outcome as a read one does
        apply_fills(t, lookups or {}, None, columns=EARLY_FILLS)
    if opp is not None:
        _opportunities(opp, config)
    as_of = config.as_of
    if as_of is None and profile.as_of in (None, "", "latest"):
        _warn_far_future(typed)  # the as-of date is inferred from the data
    if as_of is None and profile.as_of:
        as_of = _latest(typed) if profile.as_of == "latest" else pd.Timestamp(profile.as_of)
        config = replace(config, as_of=as_of)
    fill_as_of = as_of if as_of is not None else _latest(typed)
    for name, t in typed.items():
        if name == "snapshots":
            _stages(t, "stage", config)  # before fills restricted to stages
        apply_fills(t, lookups or {}, fill_as_of, skip=EARLY_FILLS)
        apply_bands(t)  # a profile's [<table>.bands.<column>] (salesnb.data.bands)
    if opp is not None:
        warn_blanks(opp)
        _required(opp)
        _check_opportunities(opp)
    tables = {name: _finish(t) for name, t in typed.items() if name != "targets"}
    reps_t = typed.get("reps")
    if reps_t is not None:
        _required(reps_t, {"team"})
        _duplicates(reps_t, ["rep_id"], "rep id")
        tables["reps"] = _finish(reps_t)
        tables["reps"]["team"] = tables["reps"]["team"].fillna(tables["reps"]["region"])
    elif opp is not None and profile.tables["reps"].derive == "owners":
        tables["reps"] = derive_reps(
            tables["opportunities"], profile.tables["reps"], opp, problems, lookups, fill_as_of
        )
    reps = tables.get("reps")
    if opp is not None and reps is not None:
        _unknown_ref(opp, "rep_id", reps["rep_id"], "rep", "reps")
    for name, t in typed.items():
        if name == "targets":
            _targets(t, reps)
            _required(t)
            tables["targets"] = _finish(t)
        elif name == "activities":
            _required(t)
            _activities(t)
            if reps is not None:
                _unknown_ref(t, "rep_id", reps["rep_id"], "rep", "reps")
            _duplicates(t, ["rep_id", "date", "type"], "activity (same rep, date and type)")
            tables["activities"] = _finish(t)
        elif name == "snapshots":
            _required(t)
            _non_negative(t, "amount")
            _duplicates(t, ["opp_id", "as_of"], "snapshot (same opportunity and as_of)")
            if opp is not None:
                known = tables["opportunities"]["opp_id"]
                _unknown_ref(t, "opp_id", known, "opportunity", "opportunities", "warning")
            tables["snapshots"] = _finish(t)
        elif name in DIMENSION_TABLES:
            tables[name] = _dimension_table(t, reps)
        elif name == "calls":  # the managers' forecast calls (salesnb.data.calls)
            _required(t), _non_negative(t, "amount"), check_calls(t, reps)
            keys = ["period", "subject_type", "subject", "as_of", "category"]
            _duplicates(t, keys, "call (same subject, period, day and category)", "as_of")
            tables["calls"] = _finish(t)
    if opp is not None:
        from salesnb.data.stagehistory import derive_furthest

        derive_furthest(tables, opp, raws.get("stage_history"), profile, config, problems)
    if (
        "targets" not in raws
        and profile.tables["targets"].derive == "history"
        and "opportunities" in tables
        and reps is not None
    ):
        tables["targets"] = derive_targets(
            tables["opportunities"], reps, profile.tables["targets"], config,
            as_of if as_of is not None else _latest(typed), problems,
        )  # fmt: skip
    for name in TABLES:
        if name not in tables:
            tables[name] = empty_table(name)
    if reps is not None and "opportunities" in typed:
        reps_without_data(tables, reps_t or opp, problems)
    if reps is not None and "targets" in typed:
        reps_without_target(tables, reps_t, typed["targets"], problems)
    _attribute(problems, typed, tables)
    return tables, config, problems


def _latest(typed: dict[str, _Table]) -> pd.Timestamp:
    """The latest date the data holds (deals created, deals closed, snapshots, activities),
    dates far in the future of all the others left out (:func:`_warn_far_future`)."""
    return latest_date([d for _, _, d in _as_of_dates(typed)])


def _as_of_dates(typed: dict[str, _Table]) -> list:
    outs = {name: t.out for name, t in typed.items()}
    return as_of_dates(outs.get("opportunities"), outs.get("activities"), outs.get("snapshots"))


def _warn_far_future(typed: dict[str, _Table]) -> None:
    """Warn about dates far in the future of the rest of the data (a typo such as 2099 for
    2024): they are left out when the as-of date is inferred, or every deal would be past due."""
    dates = _as_of_dates(typed)
    cutoff = far_future_cutoff([d for _, _, d in dates])
    if cutoff is None:
        return
    as_of = latest_date([d for _, _, d in dates])
    for table, col, d in dates:
        far = (d >= cutoff).to_numpy()
        if far.any():
            t = typed[table]
            ex = examples(t.frame.loc[far, t.src[col]])
            msg = (
                f"A date far in the future of the rest of the data ({ex}: more than a year "
                f"after every other date) was left out of the data's as-of date, "
                f"{as_of:%Y-%m-%d}."
            )
            fix = (
                "Correct the date if it is a typo; if the data does reach that far, set its "
                "as-of date (as_of = YYYY-MM-DD in salesnb.toml)."
            )
            t.emit(far, col, "far-future-date", msg, fix, "warning")


def _attribute(
    problems: list[Problem], typed: dict[str, _Table], tables: dict[str, pd.DataFrame]
) -> None:
    """Set each row problem's ``reps``: the rep ids of the rows it is about (privacy).

    A rep's document shows other reps' problems only as a count, so a message quoting
    another rep's value (an account as the export wrote it, say) never reaches it.
    Unknown owners are kept as written, blank ones as ``""``.
    """
    owners: dict[str, np.ndarray] = {}
    opp_rep = None
    if "opportunities" in tables:
        o = tables["opportunities"]
        opp_rep = pd.Series(o["rep_id"].to_numpy(), index=o["opp_id"].to_numpy())
        opp_rep = opp_rep[~opp_rep.index.duplicated()]
    account_rep = account_owners(tables.get("opportunities"), tables.get("accounts"))
    for name, t in typed.items():
        if t.spans and name in DIMENSION_TABLES and name in tables:
            rep = tables[name]["account"].map(account_rep)
            if name == "accounts":
                rep = tables[name]["owner"].fillna(rep)
            if len(rep) == len(t.lines):  # unknown owner: "" (shown to no rep)
                owners[name] = rep.fillna("").astype("str").to_numpy(dtype=object)
            continue
        if t.spans and name == "calls" and name in tables and len(tables[name]) == len(t.lines):
            owners[name] = call_reps(tables[name])  # a manager's call: no rep's record
            continue
        if not t.spans or name not in tables or "rep_id" not in tables[name]:
            continue
        rep = tables[name]["rep_id"]
        if name == "snapshots" and opp_rep is not None:
            rep = rep.fillna(tables[name]["opp_id"].map(opp_rep))
        if len(rep) == len(t.lines):
            owners[name] = rep.fillna("").astype("str").to_numpy(dtype=object)
    for i, p in enumerate(problems):
        for name, t in typed.items():
            pos = t.spans.get(id(p))
            if pos is not None and name in owners:
                problems[i] = replace(p, reps=tuple(sorted(set(owners[name][pos]))))
                break

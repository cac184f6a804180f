"""Load a team's CRM data into a :class:`~salesnb.data.model.Workbook`, and write it back.

:func:`load` finds the files an import profile names (the canonical layout by
default), reads each one as text (detecting encoding and separator), hands the
raw frames to :func:`salesnb.data.validation.validate`, and raises one
:class:`~salesnb.core.errors.DataValidationError` listing every problem found.
:func:`write` writes the canonical CSVs that :func:`load` reads back unchanged.
"""

from __future__ import annotations

import csv
import fnmatch
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salesnb.core.dates import to_day
from salesnb.core.errors import (
    DataValidationError,
    ParameterError,
    Problem,
    ProfileError,
    SalesnbError,
    raise_if_errors,
)
from salesnb.core.safecsv import neutralise_series
from salesnb.data import memo
from salesnb.data.config import Config, load_config
from salesnb.data.model import Workbook
from salesnb.data.profiles import Profile, TableSpec, list_profiles, load_profile
from salesnb.data.raw import LINE, SRC, RawTable, problem
from salesnb.data.readers import SUFFIXES, read_file
from salesnb.data.schema import TABLES, columns

# --------------------------------------------------------------------------- text files


# --------------------------------------------------------------------------- binary files


# --------------------------------------------------------------------------- finding files


def _match(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    """The regular files of ``folder`` the first matching pattern names (sorted)."""
    return _match_all(folder, patterns)[0]


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []


def _match_all(folder: Path, patterns: tuple[str, ...]) -> tuple[list[Path], list[Path]]:
    """``(files, others)``: the first pattern that matches anything wins; ``files`` are the
    regular files it matches (a link to one counts), ``others`` what else it matches (a
    folder, a named pipe, a link to nothing), each of which is a problem, never 0 rows."""
    names = _entries(folder)
    for pattern in patterns:
        hits = [p for p in names if fnmatch.fnmatch(p.name.lower(), pattern.lower())]
        if hits:
            files = [p for p in hits if _is_file(p)]
            return files, [p for p in hits if p not in files]
    return [], []


def _is_special(path: Path) -> bool:
    """Whether ``path`` is there but not a readable regular file: a folder, a pipe, a
    socket or device, or a symbolic link to nothing."""
    return (path.is_symlink() and not path.exists()) or (path.exists() and not _is_file(path))


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _not_a_file(path: Path, table: str) -> Problem:
    """The problem of a table's name that is not a regular file (a pipe is never opened:
    reading one waits for a writer forever)."""
    name = path.name
    try:
        mode = path.lstat().st_mode
    except OSError as exc:
        msg = f"{name!r} cannot be examined ({exc.strerror})."
        fix = "Give your user access to it, or replace it with the exported file."
        return problem(msg, fix, path, "not-a-file")
    if stat.S_ISLNK(mode) and not path.exists():
        target = os.readlink(path)
        msg = (f"{name!r} is a symbolic link to {target!r}, which does not exist, so the "
               f"{table} table cannot be read.")  # fmt: skip
        fix = "Point the link at the existing file, or put the file itself here."
        return problem(msg, fix, path, "not-a-file")
    if path.is_dir():
        inner = sorted(p.name for p in _entries(path) if p.suffix.lower() in SUFFIXES)[:3]
        holds = f" (it holds {inner!r}: move the file up in its place)" if inner else ""
        msg = f"{name!r} is a folder, not a file, so the {table} table cannot be read from it."
        fix = f"Replace the folder with the {table} file itself{holds}, or rename the folder."
        return problem(msg, fix, path, "not-a-file")
    mode = path.stat().st_mode
    what = (
        "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
        else "a socket" if stat.S_ISSOCK(mode)
        else "a device"
    )  # fmt: skip
    why = " (reading a pipe would wait for a writer forever)" if stat.S_ISFIFO(mode) else ""
    msg = (f"{name!r} is {what}; salesnb reads tables only from regular files{why}, so it "
           "was not opened.")  # fmt: skip
    fix = f"Save the {table} export as a regular file under this name."
    return problem(msg, fix, path, "not-a-file")


def _same_table_twice(files: list[Path], folder: Path, spec: TableSpec) -> Problem | None:
    """Two files holding the same table under one name (``opportunities.csv`` and
    ``opportunities.xlsx``): the patterns are tried in order, so one would win silently."""
    names = _entries(folder)
    stems = {p.stem.casefold(): p for p in files}
    for pattern in spec.files:
        for other in names:
            if other in files or not fnmatch.fnmatch(other.name.lower(), pattern.lower()):
                continue
            first = stems.get(other.stem.casefold())
            if first is not None and _is_file(other):
                newer = max((first, other), key=lambda p: p.stat().st_mtime_ns)
                when = ""
                if first.stat().st_mtime_ns != other.stat().st_mtime_ns:
                    when = f" ({newer.name!r} is the newer one)"
                msg = (f"Both {first.name!r} and {other.name!r} are here: they hold the same "
                       f"table, and only one of them could be read.")  # fmt: skip
                fix = f"Keep the file you mean{when} and move or delete the other one."
                return problem(msg, fix, folder, "ambiguous-file")
    return None


def _check_folder(folder: Path) -> None:
    """A :class:`DataValidationError` if ``folder`` cannot be listed, or its entries cannot be
    looked at (read permission without search permission)."""
    try:
        names = os.listdir(folder)
        if names:
            os.lstat(folder / names[0])  # needs search permission; never follows a link
    except OSError as exc:
        denied = isinstance(exc, PermissionError)
        why = "permission denied" if denied else exc.strerror
        msg = f"The folder cannot be read: {why}."
        fix = (f"Give your user read and search access to it (chmod u+rx {str(folder)!r}), or "
               "copy the files somewhere you can read.") if denied else (
               "Check the path and the disk; copy the files somewhere else if need be.")  # fmt: skip
        problem = Problem(msg, fix, file=str(folder), code="unreadable")
        raise DataValidationError([problem], str(folder)) from None


def _missing_file_problem(folder: Path, table: str, spec: TableSpec, profile: Profile) -> Problem:
    present = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)
    import difflib

    close = difflib.get_close_matches(spec.files[0], present, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}? Rename it to {spec.files[0]!r}." if close else ""
    others = [
        n for n in list_profiles() if n != profile.name
        and _match(folder, load_profile(n).tables["opportunities"].files)
    ]  # fmt: skip
    if others and not close:
        hint += f" The files look like a {others[0]!r} export: load with profile={others[0]!r}."
    msg = f"No {table} file: expected {' or '.join(repr(f) for f in spec.files)}."
    fix = f"Add the file (present: {present!r}).{hint}"
    return problem(msg, fix, folder, "missing-file")


def read_tables(
    source: Path, profile: Profile
) -> tuple[dict[str, RawTable], dict[str, RawTable], list[Problem]]:
    """Read every table (and lookup file) the profile names from ``source``.

    ``source`` is a folder, or a single file read as the opportunities table.
    Returns ``(tables, lookups, problems)``.
    """
    folder = source if source.is_dir() else source.parent
    raws: dict[str, RawTable] = {}
    problems: list[Problem] = []
    if source.is_dir():
        _needs_files(profile)
    for table, spec in profile.tables.items():
        if source.is_file():
            paths = [source] if table == "opportunities" else []
        else:
            paths, others = _match_all(folder, spec.files) if spec.files else ([], [])
            problems += [_not_a_file(p, table) for p in others]
            twice = _same_table_twice(paths, folder, spec) if paths else None
            if twice is not None or others:
                problems += [twice] if twice is not None else []
                continue
        if not paths:
            derived = spec.derive is not None
            if table in ("reps", "opportunities") and not derived and spec.files:
                problems.append(_missing_file_problem(folder, table, spec, profile))
            continue
        raw = _read_many(table, paths, spec, problems)
        if raw is not None:
            raws[table] = raw
    lookups: dict[str, RawTable] = {}
    for spec in profile.tables.values():
        for fill in spec.fills:
            if fill.lookup and fill.lookup["file"] not in lookups:
                path = folder / fill.lookup["file"]
                if _is_special(path):
                    problems.append(_not_a_file(path, "lookup"))
                    continue
                if not path.is_file():
                    msg = f"The lookup file {fill.lookup['file']!r} of the profile is missing."
                    fix = f"Put it beside the data, or remove the fill of {fill.column!r}."
                    problems.append(problem(msg, fix, path, "missing-file"))
                    continue
                lk = _read_many("lookup", [path], TableSpec(read=spec.read), problems)
                if lk is not None:
                    lookups[fill.lookup["file"]] = lk
    history = profile.stage_history  # [stage_history]: see salesnb.data.stagehistory
    if history is not None:
        paths = _match(folder, history.files)
        raw = (
            _read_many("stage_history", paths, TableSpec(read=history.read), problems)
            if paths
            else None
        )
        if raw is not None:
            raws["stage_history"] = raw
        elif not paths and profile.path is not None:
            msg = f"No stage-history file: expected {' or '.join(repr(f) for f in history.files)}."
            fix = "Put the Opportunity History export beside the data, or remove [stage_history]."
            problems.append(problem(msg, fix, folder, "missing-file", severity="warning"))
    return raws, lookups, problems


def _needs_files(profile: Profile) -> None:
    """A :class:`ProfileError` if a profile names no files for a table it cannot do without
    (reps unless derived, opportunities): reading a folder with it would load nothing."""
    bare = [
        t for t in ("opportunities", "reps")
        if not profile.tables[t].files and profile.tables[t].derive is None
    ]  # fmt: skip
    if not bare:
        return
    where = str(profile.path) if profile.path is not None else f"built-in profile {profile.name}"
    sections = " and ".join(f"[{t}]" for t in bare)
    msg = (f"The profile {where!r} names no files for {sections}, so loading a folder with it "
           f"would read no {' and no '.join(bare)}.")  # fmt: skip
    adds = "; ".join(f'files = ["{t}.csv"] under [{t}]' for t in bare)
    derive = ' (or derive = "owners" under [reps] to make the reps from the deal owners)'
    fix = (f"In {where!r} add {adds}: the file names, or patterns such as \"*deals*.csv\""
           f"{derive if 'reps' in bare else ''}.")  # fmt: skip
    raise ProfileError(f"{msg} Fix: {fix}")


def _read_many(
    table: str, paths: list[Path], spec: TableSpec, problems: list[Problem]
) -> RawTable | None:
    frames, files, info0 = [], [], None
    for path in paths:
        frame, info, found = read_file(path, spec)
        problems.extend(found)
        if frame is None:
            continue
        if frame.drop(columns=LINE).shape[1] and len(frame) == 0:
            msg = f"The file has a header but no data rows, so {table} is empty."
            severity = "error" if table in ("reps", "opportunities") else "warning"
            fix = "Export the data again with its rows, or delete the file if the table is not needed."
            rows = (info["header_line"],)
            problems.append(problem(msg, fix, path, "header-only", rows=rows, severity=severity))
            if severity == "error":
                continue
        frame[SRC] = np.int16(len(files))
        frames.append(frame)
        files.append(str(path))
        info0 = info0 or info
    if not frames:
        return None
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if len(frames) > 1:
        msg = f"{len(frames)} files were stacked into {table}: {[Path(f).name for f in files]!r}."
        problems.append(Problem(msg, "Remove any file that is not part of it.", file=files[0],
                                severity="warning", code="many-files"))  # fmt: skip
    return RawTable(
        table, frame, files, spec, info0["sep"], info0["kind"], info0["sheets"],
        header_line=info0["header_line"],
    )  # fmt: skip


# --------------------------------------------------------------------------- load / write


def _config(folder: Path, profile: Profile, as_of: Any, overrides: dict | None) -> Config:
    base: dict[str, Any] = {}
    if profile.stages:
        base["stages"] = [dict(s) for s in profile.stages]
    if profile.currency:
        base["currency"] = profile.currency
    over = dict(overrides or {})
    if as_of is not None:
        over["as_of"] = _as_of_param(as_of)
    where = f"the profile {str(profile.path or profile.name)!r}"
    try:  # the folder's own salesnb.toml beats the profile; overrides beat both
        return load_config(folder, over or None, base=base, base_source=where)
    except (ValueError, TypeError) as exc:
        msg = f"The configuration of {str(folder)!r} is invalid ({exc}). Fix: check salesnb.toml."
        raise SalesnbError(msg) from None


def _as_of_param(as_of: Any) -> str:
    """``as_of`` given to :func:`load` as ``YYYY-MM-DD``; a :class:`ParameterError` if it is
    not a date (pandas' own parse error must not reach the user)."""
    when = to_day(as_of)  # a UTC offset or a time of day is dropped, as everywhere
    if pd.isna(when):
        msg = (
            f"as_of {as_of!r} is not a date. Fix: write it as YYYY-MM-DD, e.g. '2024-03-31', "
            "or leave it out to use the data's own as-of date."
        )
        raise ParameterError(msg)
    return when.date().isoformat()


def load(
    source: str | Path,
    profile: str | Path | Profile | None = None,
    *,
    as_of: Any = None,
    config_overrides: dict[str, Any] | None = None,
) -> Workbook:
    """Load, check and type a team's CRM data.

    Parameters
    ----------
    source : path
        A folder of files (one per canonical table, or those the profile names), or a
        single CRM export file (read as the opportunities table through ``profile``).
    profile : str or path, optional
        A built-in profile name (:func:`salesnb.data.profiles.list_profiles`) or a ``.toml``
        path; default ``"canonical"``.
    as_of : date-like, optional
        The data's "today"; overrides ``salesnb.toml`` and the profile.
    config_overrides : dict, optional
        Configuration keys in the shape of ``salesnb.toml``.

    Returns
    -------
    Workbook
        Typed canonical tables; non-fatal findings in ``wb.warnings``.

    Raises
    ------
    DataValidationError
        Listing every problem found (file, lines, column, fix), not just the first.
    ParameterError
        If ``as_of`` is not a date.
    ConfigError
        If ``salesnb.toml`` is not valid (syntax, a bad ``as_of``, malformed stages).

    Examples
    --------
    >>> wb = load("data/sample")                             # doctest: +SKIP
    >>> wb = load("report.csv", profile="salesforce")        # doctest: +SKIP
    """
    from salesnb.data.validation import validate

    if isinstance(source, str) and "://" in source:
        from salesnb.data import sql

        if sql.is_url(source):
            return sql.load_sql(source, profile, as_of=as_of, config_overrides=config_overrides)
    src = Path(source).expanduser()
    if _is_special(src) and not src.is_dir():
        problem = _not_a_file(src, "opportunities")
        raise DataValidationError([problem], str(src))
    if not src.exists():
        parent = src.parent
        hint = f" ({str(parent)!r} exists)" if parent.is_dir() else ""
        msg = f"{str(src)!r} does not exist{hint}."
        fix = "Check the path; give a data folder or an export file."
        raise DataValidationError([Problem(msg, fix, file=str(src), code="missing-file")], str(src))
    if src.is_file() and profile is None:
        msg = "A single file needs an import profile to say what it holds."
        fix = (
            f"Pass profile= one of {list_profiles()!r} (or your own .toml); for canonical "
            "CSVs pass their folder instead."
        )
        raise DataValidationError([Problem(msg, fix, file=str(src), code="profile")], str(src))
    prof = load_profile(profile if profile is not None else "canonical")
    folder = src if src.is_dir() else src.parent
    _check_folder(folder)
    config = _config(folder, prof, as_of, config_overrides)
    raws, lookups, problems = read_tables(src, prof)
    tables, config, found = validate(raws, prof, config, lookups=lookups, source=str(src))
    problems += found
    warnings = raise_if_errors(problems, str(src))
    wb = Workbook(**tables, config=config, source=str(src), warnings=warnings)
    if "snapshot_store" in config.extra:
        from salesnb.data.store import attach_from_config

        wb = attach_from_config(wb, folder)
    return memo.seal(wb)


def _config_toml(config: Config) -> str:
    """``config`` as ``salesnb.toml`` text, written by a TOML library: any stage name (quotes,
    newlines, control characters) reads back as it was."""
    import tomli_w

    doc: dict[str, Any] = {"currency": config.currency}
    if config.as_of is not None:
        doc["as_of"] = pd.Timestamp(config.as_of).date()
    doc["calendar"] = {"fiscal_year_start_month": config.calendar.start_month}
    doc["hygiene"] = {
        "stale_after_days": config.stale_after_days,
        "old_age_multiple": float(config.old_age_multiple),
    }
    doc["stages"] = [
        {"name": s.name, "kind": s.kind, "probability": float(s.probability)}
        for s in config.stages.stages
    ]
    return tomli_w.dumps(doc)


def write(wb: Workbook, folder: str | Path) -> list[Path]:
    """Write ``wb`` as canonical CSVs (plus its ``salesnb.toml``) that :func:`load` reads back.

    Deterministic: canonical column order, ISO dates, no index, ``\\n`` line ends,
    UTF-8, floats written exactly. Empty optional tables are not written. Text that a
    spreadsheet would run as a formula is prefixed with ``'`` (stripped again on load).

    Returns the paths written.

    Examples
    --------
    >>> paths = write(load("data/sample"), "/tmp/copy")      # doctest: +SKIP
    """
    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SalesnbError(
            f"Cannot create {str(out)!r} ({exc.strerror}). Fix: choose a writable folder."
        ) from None
    written = []
    for table in Workbook.TABLE_NAMES:
        df = wb.table(table)
        if len(df) == 0 and table not in ("reps", "opportunities"):
            continue
        df = df[columns(table)].copy()
        for col in TABLES[table]:
            if col.kind == "date":
                df[col.name] = pd.to_datetime(df[col.name]).dt.strftime("%Y-%m-%d")
            elif col.kind == "str":
                df[col.name] = neutralise_series(df[col.name])  # load() strips the "'" again
        path = out / f"{table}.csv"
        # The csv module quotes a value holding the separator, a quote or "\n", but not a
        # lone "\r" (with "\n" line ends), which then ends the line for every reader: a
        # table with one is written with every text value quoted.
        text = [c.name for c in TABLES[table] if c.kind in ("str", "date")]
        cr = any(df[c].str.contains("\r", regex=False, na=False).any() for c in text)
        quoting = csv.QUOTE_NONNUMERIC if cr else csv.QUOTE_MINIMAL
        df.to_csv(path, index=False, lineterminator="\n", encoding="utf-8", quoting=quoting)
        written.append(path)
    cfg = out / "salesnb.toml"
    cfg.write_text(_config_toml(wb.config), encoding="utf-8", newline="\n")
    return written + [cfg]

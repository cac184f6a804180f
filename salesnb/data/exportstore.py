"""Adding an export of today's pipeline to the snapshot store (:mod:`salesnb.data.store`).

Above the loaders: an export is read as :func:`salesnb.data.io.load` or
:func:`salesnb.data.sql.load_sql` read it, which themselves attach a store's snapshots
(:func:`salesnb.data.store.attach_from_config`); the store itself reads no export.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd

from salesnb.core.errors import Problem
from salesnb.data.model import Workbook
from salesnb.data.store import AddResult, add, as_day, snapshot_rows


def add_export(
    store: str | Path,
    export: str | Path,
    *,
    profile: Any = None,
    as_of: Any = None,
    replace: bool = False,
    timeout: float = 30.0,
) -> AddResult:
    """Validate an export of today's pipeline and store its open deals as one snapshot.

    Parameters
    ----------
    store : path
        The DuckDB store file.
    export : path or URL
        A data folder, a single export file (with ``profile``), or a database URL
        (:func:`salesnb.data.sql.load_sql`). Only opportunities are needed: without a reps
        table, reps are derived from the deal owners.
    profile : str or path, optional
        Import profile (a built-in name or a ``.toml``); default ``canonical``.
    as_of : date-like, optional
        The snapshot's date; default the export's configured as-of date (its
        ``salesnb.toml`` or profile), else today.
    replace : bool
        Overwrite a snapshot already stored for that date.

    Raises
    ------
    DataValidationError
        The export has errors (nothing is written).
    SalesnbError
        The date is already stored, or the store cannot be opened (nothing is written).

    Examples
    --------
    >>> add_export("history.duckdb", "exports/report.csv", profile="salesforce")  # doctest: +SKIP
    """
    day = as_day(as_of) if as_of is not None else None
    wb, prof_name = _load_export(export, profile, day)
    day = day if day is not None else _default_day(wb)
    rows, skipped, warnings = snapshot_rows(wb, day)
    today = pd.Timestamp.today().normalize()
    if day > today + pd.Timedelta(days=1):
        msg = f"The snapshot date {day:%Y-%m-%d} is in the future (today is {today:%Y-%m-%d})."
        fix = "Check --as-of (and the as_of of the export's salesnb.toml)."
        warnings.append(Problem(msg, fix, wb.source, (), None, "warning", "future-date"))
    from salesnb.data.dburl import is_url

    # A file's absolute path, so the log says which export it was; a URL is masked already.
    source = wb.source if is_url(export) else str(Path(export).expanduser().resolve())
    res = add(
        store, rows, as_of=day, replace=replace, source=source, profile=prof_name,
        timeout=timeout,
    )  # fmt: skip
    # Reps are derived on purpose and need no manager here: those notes are noise.
    kept = [w for w in wb.warnings if w.code not in ("derived-reps", "rep-without-data")]
    return dataclasses.replace(res, closed_skipped=skipped, warnings=kept + warnings)


def _default_day(wb: Workbook) -> pd.Timestamp:
    if wb.config.as_of is not None:
        return as_day(wb.config.as_of)
    return pd.Timestamp.today().normalize()


def _load_export(export: str | Path, profile: Any, as_of: Any) -> tuple[Workbook, str]:
    from salesnb.data.dburl import is_url
    from salesnb.data.profiles import load_profile
    from salesnb.data.sql import load_sql, sql_profile

    if is_url(export):
        prof, sources = sql_profile(profile)
        prof = _lenient(prof)
        return load_sql(str(export), prof, tables=sources, as_of=as_of), prof.name
    from salesnb.data import io

    src = Path(export).expanduser()
    if src.is_file() and profile is None and src.suffix.lower() in (".csv", ".parquet", ".xlsx"):
        profile = "canonical"  # a lone canonical opportunities file
    prof = _lenient(load_profile(profile if profile is not None else "canonical"))
    return io.load(src, prof, as_of=as_of), prof.name


def _lenient(prof):
    """The profile with reps derived from deal owners when absent, and no derived targets:
    a snapshot needs only the open deals."""
    tables = dict(prof.tables)
    if tables["reps"].derive is None:
        tables["reps"] = dataclasses.replace(tables["reps"], derive="owners")
    tables["targets"] = dataclasses.replace(tables["targets"], derive=None)
    return dataclasses.replace(prof, tables=tables)


# --------------------------------------------------------------------------- reading

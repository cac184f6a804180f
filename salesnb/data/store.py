"""Weekly pipeline history: a snapshot store in one DuckDB file.

Most CRM exports hold only today's pipeline; slippage, pushed close dates and the
pipeline waterfall need the pipeline as it stood each week.
:func:`salesnb.data.exportstore.add_export` validates an export (any import profile, or a
database URL), keeps its open deals and appends them as that date's snapshot (:func:`add`); :func:`attach` gives a :class:`~salesnb.data.model.Workbook` those
snapshots as if they came from ``snapshots.csv``.

The store is one DuckDB database file holding three tables:

``snapshots``
    the canonical snapshots table (:mod:`salesnb.data.schema`), primary key ``(as_of, opp_id)``;
``snapshot_log``
    one row per snapshot date: deals, total amount (currency), when and from what it was added;
``salesnb_store``
    ``key``/``value`` pairs marking the file as a salesnb store (format version).

Every add runs in one transaction: an add that fails (bad data, a duplicate date, a
crash, a killed process) leaves the store as it was. DuckDB admits one writing process
at a time; a second one waits (``timeout`` seconds) and then says who holds the lock.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salesnb.core.errors import DataValidationError, ParameterError, Problem, SalesnbError
from salesnb.core.extras import require
from salesnb.data.model import Workbook, empty_table
from salesnb.data.schema import columns

FORMAT_VERSION = "1"
#: The ``salesnb.toml`` key naming a data folder's store (a path relative to the folder).
CONFIG_KEY = "snapshot_store"
_COLS = columns("snapshots")
_DDL = (
    "CREATE TABLE IF NOT EXISTS salesnb_store (key VARCHAR PRIMARY KEY, value VARCHAR)",
    """CREATE TABLE IF NOT EXISTS snapshots (
        as_of DATE NOT NULL, opp_id VARCHAR NOT NULL, rep_id VARCHAR, stage VARCHAR NOT NULL,
        amount DOUBLE NOT NULL, close_date DATE NOT NULL, forecast_category VARCHAR,
        PRIMARY KEY (as_of, opp_id))""",
    """CREATE TABLE IF NOT EXISTS snapshot_log (
        as_of DATE PRIMARY KEY, deals BIGINT NOT NULL, amount DOUBLE NOT NULL,
        added_at TIMESTAMP NOT NULL, source VARCHAR, profile VARCHAR, salesnb_version VARCHAR)""",
)


@dataclass(frozen=True)
class AddResult:
    """What :func:`add` stored: the date, deals, total amount (currency) and any warnings."""

    store: str
    as_of: pd.Timestamp
    deals: int
    amount: float
    replaced: bool
    closed_skipped: int = 0
    warnings: list[Problem] = field(default_factory=list)


# --------------------------------------------------------------------------- connections


def _path(store: str | Path) -> Path:
    p = Path(store).expanduser()
    if p.is_dir():
        msg = (
            f"The snapshot store {str(p)!r} is a folder. Fix: give a file path such as "
            f"{str(p / 'history.duckdb')!r}."
        )
        raise ParameterError(msg)
    return p


def _connect(path: Path, *, read_only: bool, timeout: float):
    """Open the DuckDB file, waiting up to ``timeout`` seconds for another process's lock."""
    duckdb = require("duckdb", "The snapshot store")

    deadline = time.monotonic() + timeout
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower() and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            raise SalesnbError(_io_message(path, text)) from None
        except duckdb.Error as exc:
            raise SalesnbError(_io_message(path, str(exc))) from None


def _io_message(path: Path, text: str) -> str:
    if "lock" in text.lower():
        holder = text.split("Conflicting lock is held in", 1)[-1].split(". See", 1)[0].strip()
        return (
            f"The snapshot store {str(path)!r} is in use by another process ({holder}). "
            "Fix: wait for the other salesnb command to finish (or close the notebook "
            "connection holding it) and run again."
        )
    if "not a valid DuckDB database" in text:
        return (
            f"{str(path)!r} is not a snapshot store (not a DuckDB database file). Fix: give "
            "the path of a store made by `salesnb snapshot add`, or a new file name."
        )
    return f"The snapshot store {str(path)!r} cannot be opened ({text}). Fix: check the path."


def _tables(con) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    ).fetchall()
    return {r[0] for r in rows}


def _check_format(con, path: Path) -> bool:
    """True if the file is a salesnb store; False if it is an empty DuckDB database."""
    names = _tables(con)
    if not names:
        return False
    if "salesnb_store" not in names:
        msg = (
            f"{str(path)!r} is a DuckDB database but not a salesnb snapshot store (its tables: "
            f"{sorted(names)!r}). Fix: give another file name for the store."
        )
        raise SalesnbError(msg)
    row = con.execute("SELECT value FROM salesnb_store WHERE key = 'format'").fetchone()
    if row is None or row[0] != FORMAT_VERSION:
        msg = (
            f"The snapshot store {str(path)!r} has format {row[0] if row else None!r}; this "
            f"salesnb reads format {FORMAT_VERSION!r}. Fix: upgrade salesnb."
        )
        raise SalesnbError(msg)
    return True


def _missing_store(path: Path) -> SalesnbError:
    parent = path.parent
    near = sorted(p.name for p in parent.glob("*.duckdb")) if parent.is_dir() else []
    hint = f" Stores in {str(parent)!r}: {near!r}." if near else ""
    return SalesnbError(
        f"No snapshot store at {str(path)!r}.{hint} Fix: check the path, or create the store "
        "with `salesnb snapshot add EXPORT --store PATH`."
    )


# --------------------------------------------------------------------------- snapshot rows


def snapshot_rows(wb: Workbook, as_of: Any) -> tuple[pd.DataFrame, int, list[Problem]]:
    """The open deals of ``wb`` as canonical snapshot rows dated ``as_of``.

    Returns ``(rows, closed_skipped, warnings)``. Won and lost deals are left out (a
    snapshot records the open pipeline); an open deal with no expected close date is an
    error, since slippage cannot be measured without it.

    Examples
    --------
    >>> rows, skipped, _ = snapshot_rows(salesnb.load("data/sample"), "2026-09-30")  # doctest: +SKIP
    >>> rows.columns.tolist()                                                       # doctest: +SKIP
    ['as_of', 'opp_id', 'rep_id', 'stage', 'amount', 'close_date', 'forecast_category']
    """
    day = as_day(as_of)
    o = wb.opportunities
    is_open = (o["outcome"] == "open").to_numpy()
    opens = o.loc[is_open]
    no_close = opens["close_date"].isna().to_numpy()
    if no_close.any():
        ids = opens.loc[no_close, "opp_id"].tolist()
        msg = (
            f"{len(ids)} open deal(s) have no expected close date (e.g. {ids[:5]!r}), so their "
            "slippage could not be followed."
        )
        fix = (
            'Enter the close dates in the CRM, or add a fill (rule = "expected_close") for '
            "close_date to the import profile (docs/profiles.md)."
        )
        problem = Problem(msg, fix, file=wb.source, column="close_date", code="blank")
        raise DataValidationError([problem], wb.source)
    rows = pd.DataFrame(
        {
            "as_of": pd.Series(day, index=opens.index, dtype="datetime64[ns]"),
            **{c: opens[c] for c in _COLS if c != "as_of"},
        }
    ).reset_index(drop=True)
    rows = _typed(rows)
    warnings: list[Problem] = []
    late = (opens["created_date"] > day).to_numpy()
    if late.any():
        ids = opens.loc[late, "opp_id"].tolist()
        msg = (
            f"{len(ids)} deal(s) were created after the snapshot date {day:%Y-%m-%d} "
            f"(e.g. {ids[:3]!r}): this export is newer than the date it is stored under."
        )
        fix = "Store each export under the date it was made (--as-of), or leave --as-of out."
        warnings.append(Problem(msg, fix, wb.source, (), "created_date", "warning", "late-deal"))
    return rows, int((~is_open).sum()), warnings


def as_day(value: Any) -> pd.Timestamp:
    """``value`` (a date, text or timestamp) as a snapshot's day (midnight); a ParameterError
    naming the value when it is not a date.

    Examples
    --------
    >>> as_day("2026-09-30 14:00")
    Timestamp('2026-09-30 00:00:00')
    """
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        ts = pd.NaT
    if pd.isna(ts):
        raise ParameterError(f"as-of date {value!r} is not a date. Fix: write it as YYYY-MM-DD.")
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return ts.normalize()


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Canonical column order and dtypes (dates at midnight, ns precision)."""
    out = {}
    empty = empty_table("snapshots")
    for c in _COLS:
        s = df[c] if c in df else pd.Series(np.nan, index=df.index)
        if empty[c].dtype.kind == "M":
            s = pd.to_datetime(s).dt.normalize().astype("datetime64[ns]")
        elif empty[c].dtype.kind == "f":
            s = s.astype("float64")
        else:
            s = s.astype("str")
        out[c] = s
    return pd.DataFrame(out, index=df.index)


# --------------------------------------------------------------------------- adding


def _insert(con, rows: pd.DataFrame) -> None:
    con.register("salesnb_incoming", rows)
    try:
        con.execute(
            f"INSERT INTO snapshots ({', '.join(_COLS)}) SELECT as_of::DATE, opp_id, rep_id, "
            "stage, amount, close_date::DATE, forecast_category FROM salesnb_incoming"
        )
    finally:
        con.unregister("salesnb_incoming")


def _log(con, day: pd.Timestamp, rows: pd.DataFrame, source: str, profile: str) -> None:
    from salesnb import __version__

    con.execute(
        "INSERT INTO snapshot_log VALUES (?, ?, ?, now()::TIMESTAMP, ?, ?, ?)",
        [day.date(), len(rows), float(rows["amount"].sum()), source, profile, __version__],
    )


def add(
    store: str | Path,
    rows: pd.DataFrame,
    *,
    as_of: Any = None,
    replace: bool = False,
    source: str = "",
    profile: str = "",
    timeout: float = 30.0,
) -> AddResult:
    """Append one date's snapshot rows to the store, in one transaction.

    Parameters
    ----------
    store : path
        The DuckDB file; created (with its tables) on the first add.
    rows : DataFrame
        Canonical snapshot rows (:func:`snapshot_rows`); ``as_of`` overrides their date.
    as_of : date-like, optional
        The snapshot's date; default the rows' own (one date only).
    replace : bool
        Replace a snapshot already stored for that date instead of refusing.
    source, profile : str
        Recorded in the log (give a URL with its password masked, never a secret).
    timeout : float
        Seconds to wait for another process that is writing to the store.

    Raises
    ------
    SalesnbError
        The date is already stored (and not ``replace``), or the store cannot be opened.

    Examples
    --------
    >>> add("history.duckdb", rows, as_of="2026-09-28")        # doctest: +SKIP
    AddResult(store='history.duckdb', as_of=Timestamp('2026-09-28 00:00:00'), deals=512, ...)
    """
    path = _path(store)
    rows = _typed(rows)
    if as_of is not None:
        day = as_day(as_of)
        rows["as_of"] = pd.Series(day, index=rows.index, dtype="datetime64[ns]")
    else:
        dates = rows["as_of"].dropna().unique()
        if len(dates) != 1:
            msg = f"The rows hold {len(dates)} snapshot dates. Fix: add one date at a time."
            raise ParameterError(msg)
        day = pd.Timestamp(dates[0])
    dup = rows["opp_id"].duplicated(keep=False).to_numpy()
    if dup.any():
        ids = sorted(set(rows.loc[dup, "opp_id"]))[:5]
        msg = f"Deals {ids!r} appear more than once in the snapshot of {day:%Y-%m-%d}."
        raise SalesnbError(msg + " Fix: keep one row per deal in the export.")
    existed = path.exists()
    con = _connect(path, read_only=False, timeout=timeout)
    replaced = False
    try:
        is_store = _check_format(con, path)
        con.execute("BEGIN TRANSACTION")
        try:
            if not is_store:
                for ddl in _DDL:
                    con.execute(ddl)
                con.execute("INSERT INTO salesnb_store VALUES ('format', ?)", [FORMAT_VERSION])
            have = con.execute(
                "SELECT deals, amount, added_at, source FROM snapshot_log WHERE as_of = ?",
                [day.date()],
            ).fetchone()
            if have is not None:
                if not replace:
                    deals, amount, added_at, src = have
                    msg = (
                        f"The store {str(path)!r} already holds a snapshot for {day:%Y-%m-%d} "
                        f"({deals} deals, total {amount:,.2f}, added {added_at:%Y-%m-%d %H:%M} "
                        f"UTC from {src!r})."
                    )
                    fix = (
                        " Fix: pass --replace (replace=True) to overwrite it, or --as-of for "
                        "another date."
                    )
                    raise SalesnbError(msg + fix)
                con.execute("DELETE FROM snapshots WHERE as_of = ?", [day.date()])
                con.execute("DELETE FROM snapshot_log WHERE as_of = ?", [day.date()])
                replaced = True
            _insert(con, rows)
            _log(con, day, rows, source, profile)
            con.execute("COMMIT")
        except BaseException:
            _rollback(con)
            raise
    except BaseException:
        con.close()
        if not existed:
            _remove(path)  # the store did not exist before: leave no half-made file behind
        raise
    con.close()
    return AddResult(str(path), day, len(rows), float(rows["amount"].sum()), replaced)


def _rollback(con) -> None:
    import duckdb

    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass  # the transaction is gone already: nothing was committed


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def list_snapshots(store: str | Path, *, timeout: float = 30.0) -> pd.DataFrame:
    """One row per stored snapshot date, oldest first.

    Columns: ``as_of``, ``deals``, ``amount`` (total, currency), ``added_at`` (UTC),
    ``source`` (password masked), ``profile``.

    Examples
    --------
    >>> list_snapshots("history.duckdb").tail(1)          # doctest: +SKIP
    """
    cols = ["as_of", "deals", "amount", "added_at", "source", "profile"]
    con = _open_read(store, timeout)
    if con is None:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    try:
        df = con.execute(f"SELECT {', '.join(cols)} FROM snapshot_log ORDER BY as_of").df()
    finally:
        con.close()
    df["as_of"] = pd.to_datetime(df["as_of"]).astype("datetime64[ns]")
    df["deals"] = df["deals"].astype("int64")
    return df


def _open_read(store: str | Path, timeout: float):
    path = _path(store)
    if not path.is_file():
        raise _missing_store(path)
    con = _connect(path, read_only=True, timeout=timeout)
    try:
        if not _check_format(con, path):
            con.close()
            return None
    except BaseException:
        con.close()
        raise
    return con


def read(
    store: str | Path, *, start: Any = None, end: Any = None, timeout: float = 30.0
) -> pd.DataFrame:
    """The stored snapshot rows (canonical snapshots table), optionally from ``start`` to ``end``.

    Examples
    --------
    >>> read("history.duckdb", start="2026-07-01")["as_of"].min()   # doctest: +SKIP
    Timestamp('2026-07-06 00:00:00')
    """
    con = _open_read(store, timeout)
    if con is None:
        return empty_table("snapshots")
    where, params = [], []
    if start is not None:
        where.append("as_of >= ?")
        params.append(as_day(start).date())
    if end is not None:
        where.append("as_of <= ?")
        params.append(as_day(end).date())
    sql = f"SELECT {', '.join(_COLS)} FROM snapshots"
    sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY as_of, opp_id"
    try:
        df = con.execute(sql, params).df()
    finally:
        con.close()
    return _typed(df).reset_index(drop=True)


def attach(wb: Workbook, store: str | Path, *, timeout: float = 30.0) -> Workbook:
    """``wb`` with the store's snapshots in ``wb.snapshots``, as if read from ``snapshots.csv``.

    Snapshots the workbook already holds are kept; where both hold the same date, the
    store's rows win (reported as a warning). Stages outside the workbook's catalogue
    and deals unknown to its opportunities are reported as warnings, as the loader does.

    Examples
    --------
    >>> wb = attach(salesnb.load("exports/", profile="salesforce"), "history.duckdb")  # doctest: +SKIP
    >>> salesnb.analytics.pipeline.waterfall(wb, "2026-07-01", "2026-09-30")                    # doctest: +SKIP
    """
    path = _path(store)
    stored = read(path, timeout=timeout)
    label = f"{path} (snapshot store)"
    warnings = list(wb.warnings)
    own = wb.snapshots
    if len(own):
        both = sorted(set(own["as_of"]) & set(stored["as_of"]))
        if both:
            msg = (
                f"The data's own snapshots and the store {str(path)!r} both hold "
                f"{len(both)} date(s) (e.g. {both[0]:%Y-%m-%d}); the store's rows were used."
            )
            fix = "Keep weekly history in one place: drop snapshots.csv, or the store."
            warnings.append(Problem(msg, fix, label, (), None, "warning", "snapshot-overlap"))
            own = own[~own["as_of"].isin(both)]
        stored = pd.concat([own[_COLS], stored], ignore_index=True)
        stored = stored.sort_values(["as_of", "opp_id"], kind="stable").reset_index(drop=True)
    names = set(wb.config.stages.names)
    unknown = sorted(set(stored["stage"].dropna()) - names)
    if unknown:
        msg = (
            f"The store holds stages outside this data's stage catalogue: {unknown[:5]!r}; "
            "they count as open stages."
        )
        fix = "Load the data with the profile the snapshots were added with, or map the stages."
        warnings.append(Problem(msg, fix, label, (), "stage", "warning", "unknown-stage"))
    if len(wb.opportunities):
        strangers = ~stored["opp_id"].isin(set(wb.opportunities["opp_id"]))
        if strangers.any():
            ids = pd.unique(stored.loc[strangers, "opp_id"])
            msg = (
                f"{len(ids)} stored deal(s) are not in the opportunities table "
                f"(e.g. {list(ids[:3])!r}): they were deleted or belong to other data."
            )
            fix = "Nothing to do if deals were deleted in the CRM; otherwise check the store."
            owners = stored.loc[strangers, "rep_id"].fillna("").astype("str")
            warnings.append(
                Problem(msg, fix, label, (), "opp_id", "warning", "unknown-opportunity",
                        tuple(sorted(set(owners))))
            )  # fmt: skip
    return dataclasses.replace(wb, snapshots=stored, warnings=warnings)


def attach_from_config(wb: Workbook, folder: str | Path | None = None) -> Workbook:
    """Attach the store a data folder's ``salesnb.toml`` names (``snapshot_store = "..."``).

    A relative path is taken from ``folder`` (the data folder). Without the key, ``wb``
    comes back unchanged.

    Examples
    --------
    >>> wb = attach_from_config(wb, "data/team")   # doctest: +SKIP
    """
    name = wb.config.extra.get(CONFIG_KEY)
    if name is None:
        return wb
    if not isinstance(name, str) or not name.strip():
        msg = f"{CONFIG_KEY} = {name!r} in salesnb.toml. Fix: give the store's path as a string."
        raise ParameterError(msg)
    path = Path(os.path.expandvars(name)).expanduser()
    if not path.is_absolute() and folder is not None:
        base = Path(folder)
        path = (base if base.is_dir() else base.parent) / path
    if not path.is_file():
        raise SalesnbError(
            f"salesnb.toml names {CONFIG_KEY} = {name!r}, but there is no store at "
            f"{str(path)!r}. Fix: create it with `salesnb snapshot add EXPORT --store "
            f"{name}`, or correct the path (relative paths start at the data folder)."
        )
    return attach(wb, path)

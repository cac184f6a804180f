"""Read the canonical tables from a SQL database (any SQLAlchemy URL) instead of files.

:func:`load_sql` reads each canonical table from the table, view or query the import
profile names, and hands the frames to the same :func:`salesnb.data.validation.validate` as
files go through, so a wrong table name, a missing column or a badly typed value gives
the same kind of :class:`~salesnb.core.errors.Problem`, with ``file`` = the masked URL and the
table (``postgresql://ana:***@db.example.com/crm table reps``) and ``line N`` = the N-th
row of the table ordered by its key.

A profile names its sources with two keys per table section (both optional)::

    [opportunities]
    sql_table = "crm.opportunity_export"     # a table or view, optionally schema-qualified
    # query = "SELECT ... FROM ... WHERE ..."  # or any SELECT

A table with neither is read from the table (or view) named like the canonical table
(``reps``, ``opportunities``, ...). Credentials come from the URL or the environment
(``PGPASSWORD``, ``PGUSER``, ``~/.pgpass``, ...); they are never printed: messages and
``wb.source`` show the URL with the password masked (:func:`mask_url`).

The database is only read: a query must be one ``SELECT`` (:func:`check_query`, before
anything is sent), PostgreSQL sessions are read-only from their start, SQLite files are
opened read-only, and a statement timeout stops slow queries::

    [sql]
    statement_timeout = 300   # seconds (default 60; 0 = no limit)
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salesnb.core.errors import (
    Problem,
    ProfileError,
    SalesnbError,
    raise_if_errors,
)
from salesnb.data.dburl import (
    DATA_URL_ENV,
    PG_DRIVERS,
    is_url,
    mask_url,
    resolve_url,
    sa_url,
    scrub,
    url_secrets,
)
from salesnb.data.model import Workbook
from salesnb.data.profiles import Profile, TableSpec, load_profile
from salesnb.data.schema import TABLES
from salesnb.data.sqltext import QueryShapeError, check_query, split_statements

#: Per-table profile keys this module reads (the profile parser does not know them).
SQL_KEYS = ("sql_table", "query")
_KEYS = {
    "reps": ("rep_id",),
    "opportunities": ("opp_id",),
    "targets": ("rep_id", "region", "month"),
    "activities": ("rep_id", "date", "type"),
    "snapshots": ("as_of", "opp_id"),
    "accounts": ("account",),
    "satisfaction": ("account", "date", "kind"),
    "calls": ("subject_type", "subject", "period", "as_of", "category"),
}
_ISO_TS = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?")
#: Seconds one statement may run before the server stops it (the profile's
#: ``[sql] statement_timeout``; 0 means no limit).
DEFAULT_STATEMENT_TIMEOUT = 60.0


@dataclass(frozen=True)
class SqlSource:
    """Where one canonical table comes from: a table or view (``schema.name``) or a query."""

    table: str | None = None
    query: str | None = None
    explicit: bool = False
    #: Seconds the statement may run (the profile's ``[sql] statement_timeout``); None:
    #: :data:`DEFAULT_STATEMENT_TIMEOUT` or ``load_sql(statement_timeout=...)``.
    timeout: float | None = None


# --------------------------------------------------------------------------- one statement


# --------------------------------------------------------------------------- profiles


def sql_profile(profile: str | Path | Profile | None) -> tuple[Profile, dict[str, SqlSource]]:
    """Parse a profile, its per-table ``sql_table`` / ``query`` keys and its ``[sql]``
    section (``statement_timeout``, seconds).

    Returns the :class:`~salesnb.data.profiles.Profile` and, per canonical table, where to
    read it from (tables without a key: the table named like the canonical one) and the
    statement timeout.

    Examples
    --------
    >>> prof, sources = sql_profile("canonical")
    >>> sources["reps"]
    SqlSource(table='reps', query=None, explicit=False, timeout=None)
    """
    if profile is None:
        profile = "canonical"
    if isinstance(profile, Profile):
        return profile, _sources({}, profile, "the profile")
    name = str(profile)
    builtin = resources.files("salesnb.data").joinpath("profiles", f"{name}.toml")
    if "/" not in name and "\\" not in name and builtin.is_file():
        text, where, path, stem = (
            builtin.read_text("utf-8"),
            f"built-in profile {name!r}",
            None,
            name,
        )
    else:
        path = Path(profile)
        if path.suffix.lower() != ".toml" or not path.is_file():
            return load_profile(profile), {}  # raises the loader's own ProfileError
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ProfileError(f"Profile {str(path)!r} cannot be read ({exc}).") from None
        where, stem = f"profile {str(path)!r}", path.stem
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"The {where} is not valid TOML ({exc}). Fix: correct the syntax.")
    settings = raw.pop("sql", None)
    extra: dict[str, dict[str, Any]] = {}
    for table in TABLES:
        section = raw.get(table)
        if isinstance(section, dict):
            extra[table] = {k: section.pop(k) for k in SQL_KEYS if k in section}
    from salesnb.data import profiles

    prof = profiles._build(raw, stem, where, path)
    timeout = _settings(settings, where)
    return prof, _sources(extra, prof, where, timeout)


def _settings(section: Any, where: str) -> float | None:
    """The ``[sql]`` section of a profile: its ``statement_timeout`` (seconds, 0 = none)."""
    import difflib

    if section is None:
        return None
    if not isinstance(section, dict):
        raise ProfileError(f"sql = {section!r} in the {where} is not a section. Fix: write [sql].")
    for key in section:
        if key != "statement_timeout":
            close = difflib.get_close_matches(key, ["statement_timeout"], n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            msg = f"Unknown key {key!r} in [sql] of the {where}.{hint}"
            raise ProfileError(f"{msg} Fix: use only 'statement_timeout' (seconds).")
    value = section.get("statement_timeout")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e7:
        msg = f"statement_timeout = {value!r} in [sql] of the {where} is not a number of seconds."
        raise ProfileError(f"{msg} Fix: write e.g. statement_timeout = 300 (0: no limit).")
    return float(value)


def _sources(
    extra: dict[str, dict[str, Any]], prof: Profile, where: str, timeout: float | None = None
) -> dict[str, SqlSource]:
    out = {}
    for table in TABLES:
        keys = extra.get(table, {})
        for k, v in keys.items():
            if not isinstance(v, str) or not v.strip():
                msg = f"{k} = {v!r} in [{table}] of the {where}. Fix: give a table name or a query."
                raise ProfileError(msg)
        if len(keys) > 1:
            msg = f"[{table}] of the {where} sets both sql_table and query. Fix: keep one."
            raise ProfileError(msg)
        if "query" in keys:
            out[table] = SqlSource(query=keys["query"].strip(), explicit=True, timeout=timeout)
        else:
            name = keys.get("sql_table", table).strip()
            out[table] = SqlSource(table=name, explicit=bool(keys), timeout=timeout)
    return out


# --------------------------------------------------------------------------- connecting


def _engine(url: str, connect_timeout: float, statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT):
    """A SQLAlchemy engine that only reads: PostgreSQL sessions are read-only from their
    start (``default_transaction_read_only``, so not even a ``COMMIT`` gets out of it) with
    a statement timeout; SQLite files are opened read-only and never created; DuckDB
    files read-only."""
    import importlib.util

    from salesnb.core.extras import require

    sa = require("sqlalchemy", "Reading a database")
    from sqlalchemy.exc import NoSuchModuleError

    shown = mask_url(url)
    try:
        u = sa_url(url)
    except ValueError:
        msg = (
            f"{shown!r} is not a database URL. Fix: write it as "
            "dialect://user@host:port/database, e.g. postgresql://ana@db.example.com/crm."
        )
        raise SalesnbError(msg) from None
    if u.drivername == "postgres":  # the Heroku spelling, which SQLAlchemy refuses
        u = u.set(drivername="postgresql")
    if (
        u.drivername == "postgresql"
        and importlib.util.find_spec("psycopg2") is None
        and importlib.util.find_spec("psycopg") is not None
    ):
        u = u.set(drivername="postgresql+psycopg")
    args: dict[str, Any] = {}
    if u.drivername in PG_DRIVERS:
        if "connect_timeout" not in u.query:
            args["connect_timeout"] = max(1, int(connect_timeout))
        # Session settings at connection start-up (libpq options): a statement cannot
        # leave them behind with COMMIT; RESET brings back these values, not the server's.
        ours = (
            "-c default_transaction_read_only=on -c standard_conforming_strings=on "
            f"-c statement_timeout={round(statement_timeout * 1000)}"
        )
        theirs = u.query.get("options")
        theirs = " ".join(theirs) if isinstance(theirs, tuple) else theirs
        args["options"] = f"{theirs} {ours}" if theirs else ours  # later -c wins
        u = u.difference_update_query(["options"])
    elif u.get_backend_name() == "sqlite":
        u = _sqlite_read_only(u, shown)
    elif u.get_backend_name() == "duckdb":
        args["read_only"] = True  # duckdb_engine's connect argument
    try:
        engine = sa.create_engine(u, **({"connect_args": args} if args else {}))
    except NoSuchModuleError:
        msg = f"salesnb knows no database dialect {u.drivername!r} (in {shown!r})."
        fix = " Fix: use a SQLAlchemy URL such as postgresql://user@host/db (see docs)."
        raise SalesnbError(msg + fix) from None
    except ModuleNotFoundError as exc:
        pkg = "psycopg[binary]" if u.get_backend_name() == "postgresql" else exc.name
        msg = f"The database driver for {u.drivername!r} is not installed ({exc.name})."
        raise SalesnbError(f"{msg} Fix: pip install {pkg!r}.") from None
    if u.get_backend_name() == "sqlite" and statement_timeout > 0:
        _sqlite_timeout(engine, statement_timeout)
    return engine, u


def _sqlite_read_only(u: Any, shown: str) -> Any:
    """The URL of a SQLite file opened read-only (``file:...?mode=ro``); the file must exist."""
    from urllib.parse import quote

    db = u.database or ""
    query = dict(u.query)
    if db in ("", ":memory:"):
        return u  # a new in-memory database: empty, and gone with the connection
    if str(query.get("uri", "")).lower() in ("true", "1"):
        return u.set(query={**query, "mode": "ro"})  # already a file: URI
    path = Path(db).expanduser().absolute()
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        msg = f"No such database file {str(path)!r} ({what}; from {shown!r})."
        fix = (
            "check the path in the URL: sqlite:///relative/to/the/working/folder.db or "
            "sqlite:////absolute/path.db. salesnb opens SQLite files read-only and never "
            "creates one."
        )
        raise SalesnbError(f"{msg} Fix: {fix}")
    return u.set(database="file:" + quote(str(path)), query={**query, "mode": "ro", "uri": "true"})


def _sqlite_timeout(engine: Any, seconds: float) -> None:
    """Interrupt a SQLite statement running longer than ``seconds`` (sqlite3's progress
    handler; the statement fails with ``interrupted``)."""
    import time

    from sqlalchemy import event

    deadline = [float("inf")]

    def check() -> int:
        return int(time.monotonic() > deadline[0])

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.set_progress_handler(check, 10_000)

    @event.listens_for(engine, "before_cursor_execute")
    def _on_execute(*args: Any) -> None:
        deadline[0] = time.monotonic() + seconds


def _timed_out(orig: BaseException) -> bool:
    """Whether a driver error is a statement stopped by the statement timeout."""
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code == "57014" or str(orig).strip() == "interrupted"


def _timeout_problem(what: str, seconds: float, label: str) -> Problem:
    msg = f"The {what} was stopped after {seconds:g} s: it ran longer than the statement timeout."
    fix = (
        "make it faster (an index on the columns it filters or joins on, a narrower WHERE, "
        "a materialized view), or raise the limit in the profile: [sql] statement_timeout "
        f"= {max(300, int(seconds) * 5)} (seconds; 0 = no limit)."
    )
    return Problem(msg, fix, label, (), None, "error", "timeout")


def _connect_error(exc: Exception, u: Any, shown: str, secrets: list[str]) -> SalesnbError:
    orig = getattr(exc, "orig", None) or exc
    detail = " ".join(scrub(str(orig).split("\n[SQL")[0], secrets).split())
    low = detail.lower()
    where = f"{u.host or 'localhost'}" + (f":{u.port}" if u.port else "")
    if _timed_out(orig):
        msg = f"Reading the table list of {shown} took longer than the statement timeout."
        fix = "raise [sql] statement_timeout in the profile (seconds; 0 = no limit)."
    elif "unable to open database file" in low:
        msg = f"Cannot open the SQLite database {shown} ({detail})."
        fix = "check that the file exists and can be read; salesnb never creates one."
    elif any(w in low for w in ("password authentication failed", "authentication failed",
                              "no password supplied", "fe_sendauth", "access denied")):  # fmt: skip
        msg = f"The database at {where} refused the login of user {u.username!r} ({detail})."
        fix = (
            "check the user name and the password: put them in the URL "
            "(user:password@host), or set PGUSER / PGPASSWORD (or ~/.pgpass) in the environment."
        )
    elif re.search(r'database "[^"]*" does not exist', low):
        msg = f"The server at {where} has no database {u.database!r} ({detail})."
        fix = "check the database name at the end of the URL."
    elif any(w in low for w in ("connection refused", "could not translate host", "timeout",
                                "timed out", "no route to host", "name or service not known",
                                "network is unreachable", "could not connect")):  # fmt: skip
        msg = f"Cannot reach the database server at {where} ({detail})."
        fix = (
            "check the host and port in the URL, that the server is running, and that it "
            "accepts connections from this machine (firewall, VPN, listen_addresses)."
        )
    else:
        msg = f"Cannot connect to {shown} ({type(orig).__name__}: {detail})."
        fix = "check the URL and the server."
    return SalesnbError(f"{msg} Fix: {fix}")


# --------------------------------------------------------------------------- reading


def _split(name: str, default_schema: str | None) -> tuple[str | None, str]:
    if "." in name:
        schema, _, table = name.partition(".")
        return schema.strip('"'), table.strip('"')
    return default_schema, name.strip('"')


class _Db:
    """One connection's view of the database: table names, columns and reads."""

    def __init__(self, conn, shown: str, schema: str | None, secrets: list[str],
                 timeout: float = DEFAULT_STATEMENT_TIMEOUT):  # fmt: skip
        import sqlalchemy as sa

        self.conn, self.shown, self.secrets, self.timeout = conn, shown, secrets, timeout
        self.insp = sa.inspect(conn)
        self.schema = schema or self.insp.default_schema_name
        self.quote = conn.dialect.identifier_preparer.quote
        self._names: dict[str | None, list[str]] = {}

    def names(self, schema: str | None) -> list[str]:
        if schema not in self._names:
            found: list[str] = []
            for get in ("get_table_names", "get_view_names", "get_materialized_view_names"):
                try:
                    found += getattr(self.insp, get)(schema=schema)
                except (NotImplementedError, AttributeError):
                    continue
                except Exception:  # noqa: BLE001 - e.g. an unknown schema: no names
                    self.conn.rollback()
                    continue
            self._names[schema] = sorted(set(found))
        return self._names[schema]

    def resolve(self, name: str) -> tuple[str | None, str] | None:
        schema, table = _split(name, self.schema)
        names = self.names(schema)
        if table in names:
            return schema, table
        folded = [n for n in names if n.casefold() == table.casefold()]
        return (schema, folded[0]) if len(folded) == 1 else None

    def label(self, table: str, src: SqlSource) -> str:
        what = f"table {src.table}" if src.query is None else "query"
        return f"{self.shown} {what}" + (f" ({table})" if src.table != table else "")

    def missing(self, table: str, src: SqlSource, label: str) -> Problem:
        import difflib

        schema, name = _split(src.table or table, self.schema)
        names = self.names(schema)
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        in_schema = f" in schema {schema!r}" if schema else ""
        shown = names if len(names) <= 30 else names[:30] + ["..."]
        msg = f"No table or view {name!r}{in_schema} for {table}; the database has {shown!r}.{hint}"
        fix = (
            f"Create it (a view over your own table is enough), or set [{table}] "
            f'sql_table = "schema.name" (or query = "SELECT ...") in the profile.'
        )
        return Problem(msg, fix, label, (), None, "error", "missing-table")

    def read(self, table: str, spec: TableSpec, src: SqlSource) -> pd.DataFrame:
        import sqlalchemy as sa

        if src.query is not None:
            sql = check_query(src.query, self.conn.dialect.name)  # ValueError: not sent
        else:
            schema, name = self.resolve(src.table or table) or _split(src.table, self.schema)
            ident = (self.quote(schema) + "." if schema else "") + self.quote(name)
            sql = f"SELECT * FROM {ident}{self._order(table, spec, schema, name)}"
        if self.conn.dialect.name == "postgresql":
            # again before each read: an earlier query's set_config() lasts the transaction
            ms = round(self.timeout * 1000)
            self.conn.exec_driver_sql(f"SET LOCAL statement_timeout = {ms}")
        return pd.read_sql_query(sa.text(sql), self.conn, coerce_float=True)

    def _order(self, table: str, spec: TableSpec, schema: str | None, name: str) -> str:
        """ORDER BY the table's key columns, so that row numbers and the data's
        fingerprint do not depend on the server's scan order."""
        try:
            cols = [c["name"] for c in self.insp.get_columns(name, schema=schema)]
        except Exception:  # noqa: BLE001 - no column list: read unordered
            self.conn.rollback()
            return ""
        by_fold = {c.casefold(): c for c in cols}
        keys = []
        for key in _KEYS.get(table, ()):
            hit = next((by_fold[n.casefold()] for n in spec.source_names(key)
                        if n.casefold() in by_fold), None)  # fmt: skip
            if hit is not None and hit not in keys:
                keys.append(hit)
        return " ORDER BY " + ", ".join(self.quote(k) for k in keys) if keys else ""


def _iso_timestamps(s: pd.Series) -> bool:
    """Whether every value of a text column is an ISO timestamp (date and time)."""
    first = s.dropna()[:1]
    if first.empty or not _ISO_TS.fullmatch(str(first.iloc[0])):
        return False  # the common case (names, ids) costs one regex call
    txt = s.dropna().astype("str")
    return bool(txt.str.fullmatch(_ISO_TS.pattern).all())


def _raw_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A query result in the shape :mod:`salesnb.data.validation` reads: typed where the database
    typed it (dates, numbers), text otherwise; plus the ``__line__`` / ``__src__`` columns."""
    from salesnb.data.raw import LINE, SRC

    out = {}
    for name in df.columns:
        s = df[name]
        if s.dtype == object:
            kind = pd.api.types.infer_dtype(s, skipna=True)
            if kind in ("date", "datetime", "datetime64"):
                try:
                    s = pd.to_datetime(s)
                except (ValueError, TypeError, OverflowError):
                    s = s.astype("str")  # out of range: validation explains it
        elif pd.api.types.is_string_dtype(s) and _iso_timestamps(s):
            # SQLite and some drivers hand timestamps over as ISO text with a time part.
            try:
                s = pd.to_datetime(s, format="ISO8601")
            except (ValueError, TypeError, OverflowError):
                pass  # left as text: validation explains the values it cannot read
        elif s.dtype.kind == "f":
            # An integer column with NULLs arrives as float: keep ids such as 42 from
            # turning into the text "42.0".
            v = s.to_numpy()
            ok = ~np.isnan(v)
            if ok.any() and (np.abs(v[ok]) < 2**53).all() and (v[ok] == np.floor(v[ok])).all():
                s = s.astype("Int64")
        out[str(name).strip()] = s
    frame = pd.DataFrame(out, index=df.index).reset_index(drop=True)
    frame[LINE] = np.arange(1, len(frame) + 1, dtype=np.int64)
    frame[SRC] = np.int16(0)
    return frame


def read_tables_sql(
    conn, profile: Profile, sources: dict[str, SqlSource], shown: str, *,
    schema: str | None = None, secrets: list[str] | None = None,
    timeout: float = DEFAULT_STATEMENT_TIMEOUT,
) -> tuple[dict[str, Any], dict[str, Any], list[Problem]]:  # fmt: skip
    """Read every table (and lookup table) the profile names through an open connection.

    The database counterpart of :func:`salesnb.data.io.read_tables`: returns ``(tables,
    lookups, problems)`` with :class:`~salesnb.data.io.RawTable` values. A fill's lookup file
    ``products.csv`` is read from the table ``products``. A query is sent only when it
    is one statement (:func:`check_query`); ``timeout`` is the statement timeout the
    connection was opened with (seconds), for the message when it fires.
    """
    from salesnb.data.raw import RawTable

    db = _Db(conn, shown, schema, secrets or [], timeout)
    raws: dict[str, RawTable] = {}
    problems: list[Problem] = []
    for table, spec in profile.tables.items():
        src = sources.get(table, SqlSource(table=table))
        label = db.label(table, src)
        if src.query is None and db.resolve(src.table or table) is None:
            needed = table in ("reps", "opportunities") and spec.derive is None
            if src.explicit or needed:
                problems.append(db.missing(table, src, label))
            continue
        raw = _read_one(db, table, spec, src, label, problems)
        if raw is not None:
            raws[table] = raw
    lookups: dict[str, RawTable] = {}
    for spec in profile.tables.values():
        for fill in spec.fills:
            name = fill.lookup["file"] if fill.lookup else None
            if name is None or name in lookups:
                continue
            src = SqlSource(table=Path(name).stem, explicit=True)
            label = db.label("lookup", src)
            if db.resolve(src.table) is None:
                problems.append(db.missing(f"the lookup {name!r}", src, label))
                continue
            lk = _read_one(db, "lookup", TableSpec(read=spec.read), src, label, problems)
            if lk is not None:
                lookups[name] = lk
    return raws, lookups, problems


def _read_one(db: _Db, table: str, spec: TableSpec, src: SqlSource, label: str,
              problems: list[Problem]):  # fmt: skip
    from sqlalchemy.exc import SQLAlchemyError

    from salesnb.data.raw import RawTable

    try:
        df = db.read(table, spec, src)
    except QueryShapeError as exc:  # check_query: nothing was sent
        msg = f"The query cannot be run: {exc}."
        fix = "Keep one SELECT (or WITH ... SELECT) statement; a single trailing ';' is fine."
        problems.append(Problem(msg, fix, label, (), None, "error", "multiple-statements"))
        return None
    except (SQLAlchemyError, pd.errors.DatabaseError) as exc:
        db.conn.rollback()
        cause = exc.__cause__ if isinstance(exc.__cause__, SQLAlchemyError) else exc
        orig = getattr(cause, "orig", None) or cause
        if _timed_out(orig):
            what = "query" if src.query is not None else f"read of table {src.table}"
            problems.append(_timeout_problem(what, db.timeout, label))
            return None
        detail = " ".join(scrub(str(orig).split("\n[SQL")[0], db.secrets).split())
        what = "query" if src.query is not None else "table"
        msg = f"The {what} cannot be read ({type(orig).__name__}: {detail})."
        fix = (
            "Correct the query in the profile." if src.query is not None
            else "Check the table's permissions (GRANT SELECT) and that it is a table or view."
        )  # fmt: skip
        problems.append(Problem(msg, fix, label, (), None, "error", "unreadable"))
        return None
    dupes = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if dupes:
        msg = f"Column {dupes[0]!r} appears more than once in the result."
        fix = "Give every column of the query a distinct name (SELECT a.id AS opp_id, ...)."
        problems.append(Problem(msg, fix, label, (), dupes[0], "error", "duplicate-column"))
        return None
    if len(df) == 0 and table != "lookup":
        severity = "error" if table in ("reps", "opportunities") else "warning"
        msg = f"The {'query' if src.query else 'table'} has no rows, so {table} is empty."
        fix = "Check the table is loaded (or the query's WHERE clause)."
        problems.append(Problem(msg, fix, label, (), None, severity, "header-only"))
        if severity == "error":
            return None
    return RawTable(table, _raw_frame(df), [label], spec, ",", "sql")


# --------------------------------------------------------------------------- load


def _config(profile: Profile, as_of: Any, overrides: dict | None):
    from salesnb.data.config import _merge, load_config

    base: dict[str, Any] = {}
    if profile.stages:
        base["stages"] = [dict(s) for s in profile.stages]
    if profile.currency:
        base["currency"] = profile.currency
    if overrides:
        base = _merge(base, overrides)
    if as_of is not None:
        base["as_of"] = str(pd.Timestamp(as_of).date())
    try:
        return load_config(None, base)
    except (ValueError, TypeError) as exc:
        raise SalesnbError(f"The configuration is invalid ({exc}). Fix: check it.") from None


def load_sql(
    url: str,
    profile: str | Path | Profile | None = None,
    *,
    as_of: Any = None,
    config_overrides: dict[str, Any] | None = None,
    schema: str | None = None,
    tables: dict[str, SqlSource] | None = None,
    connect_timeout: float = 10.0,
    statement_timeout: float | None = None,
) -> Workbook:
    """Load, check and type a team's CRM data from a database, only reading it.

    Every profile query must be one ``SELECT`` statement (checked before anything is sent:
    :func:`check_query`). PostgreSQL sessions are opened read-only
    (``default_transaction_read_only``) and all tables are read in one read-only
    ``REPEATABLE READ`` transaction that is never committed; SQLite files are opened
    read-only and never created. A statement running longer than the statement timeout
    is stopped and reported.

    Parameters
    ----------
    url : str
        A SQLAlchemy URL, e.g. ``postgresql://ana@db.example.com:5432/crm``. The password
        may be in the URL or in the environment (``PGPASSWORD``, ``~/.pgpass``).
    profile : str, path or Profile, optional
        Import profile (default ``"canonical"``); its ``sql_table`` / ``query`` keys name
        the sources, its column, stage and value mappings apply as for files.
    as_of : date-like, optional
        The data's "today"; overrides the profile.
    config_overrides : dict, optional
        Configuration keys in the shape of ``salesnb.toml`` (currency, stages, calendar,
        ``snapshot_store``).
    schema : str, optional
        Schema of unqualified table names; default the connection's (``public``).
    tables : dict of SqlSource, optional
        Sources per canonical table, overriding the profile's.
    connect_timeout : float
        Seconds to wait for the server (PostgreSQL).
    statement_timeout : float, optional
        Seconds one statement may run (0: no limit); default the profile's ``[sql]
        statement_timeout``, else :data:`DEFAULT_STATEMENT_TIMEOUT` (60). PostgreSQL and
        SQLite.

    Returns
    -------
    Workbook
        ``wb.source`` is the URL with the password masked (:func:`mask_url`).

    Raises
    ------
    DataValidationError
        Listing every problem (missing table, missing column, bad values, a query that
        fails or runs out of time), as for files.
    ProfileError
        A profile query is not one SELECT statement.
    SalesnbError
        The server cannot be reached, refuses the login, the URL is malformed, or a
        SQLite file does not exist.

    Examples
    --------
    >>> wb = load_sql("postgresql://ana@db.example.com/crm")            # doctest: +SKIP
    >>> wb = load_sql("postgresql://ana@db/crm", profile="warehouse.toml")  # doctest: +SKIP
    """
    from sqlalchemy.exc import SQLAlchemyError

    from salesnb.data.validation import validate

    url = resolve_url(str(url))  # a batch document's masked URL: the full one, if handed over
    secrets = url_secrets(url)
    shown = mask_url(url)
    prof, sources = sql_profile(profile)
    if tables:
        sources = {**sources, **tables}
    if statement_timeout is None:
        given = [s.timeout for s in sources.values() if s.timeout is not None]
        statement_timeout = given[0] if given else DEFAULT_STATEMENT_TIMEOUT
    config = _config(prof, as_of, config_overrides)
    engine, u = _engine(url, connect_timeout, statement_timeout)
    sources = _checked(sources, u.get_backend_name(), prof)
    try:
        try:
            conn = engine.connect()
        except SQLAlchemyError as exc:
            raise _connect_error(exc, u, shown, secrets) from None
        with conn:
            if u.get_backend_name() == "postgresql":
                # One consistent view of all tables, even while the warehouse is loading.
                conn = conn.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            try:
                raws, lookups, problems = read_tables_sql(
                    conn, prof, sources, shown, schema=schema, secrets=secrets,
                    timeout=statement_timeout,
                )  # fmt: skip
            except SQLAlchemyError as exc:
                raise _connect_error(exc, u, shown, secrets) from None
    finally:
        engine.dispose()
    tables_, config, found = validate(raws, prof, config, lookups=lookups, source=shown)
    problems += found
    warnings = raise_if_errors(problems, shown)
    wb = Workbook(**tables_, config=config, source=shown, warnings=warnings)
    from salesnb.data.store import attach_from_config

    return attach_from_config(wb, None)


def _checked(sources: dict[str, SqlSource], dialect: str, prof: Profile) -> dict[str, SqlSource]:
    """``sources`` with each query reduced to its one statement; a ProfileError for a query
    that is not one SELECT, before anything is sent to the server."""
    from dataclasses import replace

    where = f"profile {str(prof.path) if prof.path else prof.name!r}"
    out = dict(sources)
    for table, src in sources.items():
        if src.query is None:
            continue
        try:
            out[table] = replace(src, query=check_query(src.query, dialect))
        except QueryShapeError as exc:
            msg = f"The query of [{table}] in the {where} cannot be run: {exc}."
            fix = (
                "keep one SELECT (or WITH ... SELECT) statement; a single trailing ';' is "
                "fine. salesnb only reads: COMMIT, SET and writes are refused."
            )
            raise ProfileError(f"{msg} Fix: {fix}") from None
    return out


__all__ = ["DATA_URL_ENV", "DEFAULT_STATEMENT_TIMEOUT", "SQL_KEYS", "QueryShapeError",
           "SqlSource", "check_query", "is_url", "load_sql", "mask_url", "read_tables_sql",
           "split_statements", "sql_profile"]  # fmt: skip

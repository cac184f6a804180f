"""Reading the canonical tables from a real PostgreSQL server (:mod:`salesnb.data.sql`).

The server is a throwaway cluster started for the session by ``fixtures_pg.postgres``
(Debian's ``postgresql`` package; the tests FAIL, not skip, when it is missing).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import nbformat
import pandas as pd
import pytest
import sqlalchemy as sa
from fixtures_pg import PgServer, free_port, postgres  # noqa: F401 - the fixture itself
from hypothesis import given, settings
from hypothesis import strategies as st

from salesnb.analytics import kpis, pipeline
from salesnb.core.errors import DataValidationError, ProfileError, SalesnbError
from salesnb.data import dburl, exportstore, io, sql, store
from salesnb.data.config import read_toml

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
KEYS = {
    "reps": ["rep_id"],
    "opportunities": ["opp_id"],
    "targets": ["rep_id", "region", "month"],
    "activities": ["rep_id", "date", "type"],
    "snapshots": ["as_of", "opp_id"],
    "accounts": ["account"],
    "satisfaction": ["account", "date", "kind"],
    "calls": ["subject_type", "subject", "period", "as_of", "category"],
}


@pytest.fixture(scope="module")
def file_wb():
    return io.load(SAMPLE)


@pytest.fixture(scope="module")
def sample_db(postgres: PgServer, file_wb):  # noqa: F811 - pytest fixture injection
    """The sample's five tables in PostgreSQL: dates as DATE, deal amounts as NUMERIC(14, 2)."""
    engine = sa.create_engine(postgres.url(driver="postgresql+psycopg"))

    def copy(table, con, keys, rows):  # COPY: ten times faster than INSERTs
        cols = ", ".join(f'"{k}"' for k in keys)
        with (
            con.connection.cursor() as cur,
            cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as c,
        ):
            for row in rows:
                c.write_row(row)

    with engine.begin() as con:
        for name in file_wb.TABLE_NAMES:
            df = file_wb.table(name)
            types = {c: sa.Date() for c in df.columns if df[c].dtype.kind == "M"}
            if name == "opportunities":
                types["amount"] = sa.Numeric(14, 2)
            con.exec_driver_sql(f"DROP TABLE IF EXISTS {name} CASCADE")
            df.to_sql(name, con, index=False, dtype=types, method=copy)
        # Tables for the error cases: a view without the amount column, text-typed values.
        con.exec_driver_sql(
            "CREATE VIEW opps_no_amount AS SELECT opp_id, rep_id, stage, created_date, "
            "close_date FROM opportunities"
        )
        con.exec_driver_sql(
            "CREATE TABLE opps_text (opp_id text, rep_id text, stage text, amount text, "
            "created_date text, close_date text)"
        )
        con.exec_driver_sql(
            "INSERT INTO opps_text VALUES "
            "('A-1', 'R01', 'Demo', '1200.50', '2026-09-01', '2026-10-15'),"
            "('A-2', 'R01', 'Demo', '$1,200', '2026-09-01', '2026-10-15'),"
            "('A-3', 'R02', 'Demo', '800', '2026-09-02', '31/12/2026')"
        )
        con.exec_driver_sql("CREATE TABLE products (product text, sales_price numeric)")
    engine.dispose()
    return postgres


def _profile(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "warehouse.toml"
    p.write_text('name = "warehouse"\n' + body, encoding="utf-8")
    return p


def _sorted(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


def _config() -> dict:
    return read_toml(SAMPLE / "salesnb.toml")


# --------------------------------------------------------------------------- equal to files


def test_database_source_equals_file_source(sample_db: PgServer, file_wb):
    db_wb = sql.load_sql(sample_db.url(), config_overrides=_config())
    for name in file_wb.TABLE_NAMES:
        pd.testing.assert_frame_equal(
            _sorted(db_wb.table(name), KEYS[name]), _sorted(file_wb.table(name), KEYS[name])
        )
    # Rows come ordered by each table's key, whatever the server's scan order: a second
    # load gives the same fingerprint (the file's activities are in another order).
    again = sql.load_sql(sample_db.url(), config_overrides=_config())
    assert again.fingerprint() == db_wb.fingerprint()
    for name in ("reps", "opportunities", "targets", "snapshots"):  # same order as the files
        pd.testing.assert_frame_equal(db_wb.table(name), file_wb.table(name))
    assert db_wb.as_of == file_wb.as_of == pd.Timestamp("2026-09-30")
    for by in ("rep", "region"):
        pd.testing.assert_frame_equal(
            kpis.scorecard(db_wb, by=by, period="FY2026-Q3"),
            kpis.scorecard(file_wb, by=by, period="FY2026-Q3"),
        )
    a = pipeline.waterfall(db_wb, "2026-07-06", "2026-09-28", period="FY2026-Q3")
    b = pipeline.waterfall(file_wb, "2026-07-06", "2026-09-28", period="FY2026-Q3")
    pd.testing.assert_frame_equal(a.bars, b.bars)
    assert db_wb.source == sample_db.url().replace(sample_db.password, "***")


def test_password_from_environment(sample_db: PgServer, monkeypatch, file_wb):
    monkeypatch.setenv("PGPASSWORD", sample_db.password)
    url = sample_db.url(password="")  # no password in the URL: libpq reads PGPASSWORD
    assert sample_db.password not in url
    wb = sql.load_sql(url, config_overrides=_config())
    assert len(wb.opportunities) == len(file_wb.opportunities)
    assert sample_db.password not in wb.source


def test_profile_names_tables_views_and_queries(sample_db: PgServer, tmp_path: Path, file_wb):
    # reps from a schema-qualified name in the wrong case, opportunities from a query,
    # targets from a query that returns nothing (an optional table may be empty).
    prof = _profile(
        tmp_path,
        """
[reps]
sql_table = "public.REPS"
[opportunities]
query = "SELECT * FROM opportunities WHERE amount > 50000 ORDER BY opp_id;"
[targets]
query = "SELECT * FROM targets WHERE false"
""",
    )
    wb = sql.load_sql(sample_db.url(), prof, as_of="2026-09-30")
    big = file_wb.opportunities[file_wb.opportunities["amount"] > 50000].reset_index(drop=True)
    pd.testing.assert_frame_equal(wb.opportunities, big)
    assert len(wb.reps) == 30 and len(wb.targets) == 0 and len(wb.activities) > 0
    assert any(w.code == "header-only" and "query (targets)" in w.file for w in wb.warnings)
    # Deals of reps a query leaves out are unknown reps, reported as for files.
    with pytest.raises(DataValidationError) as info:
        sql.load_sql(sample_db.url(), prof, as_of="2026-09-30", tables={
            "reps": sql.SqlSource(query="SELECT * FROM reps WHERE rep_id <> 'R01'")
        })  # fmt: skip
    found = {(p.code, p.file.rsplit("/crm ", 1)[1]) for p in info.value.problems}
    assert found == {("unknown-rep", "query (opportunities)"), ("unknown-rep", "table activities")}
    assert all("'R01'" in p.message for p in info.value.problems)


# --------------------------------------------------------------------------- data errors


def test_wrong_table_name_lists_existing_tables(sample_db: PgServer, tmp_path: Path):
    prof = _profile(tmp_path, '[reps]\nsql_table = "rep"\n')
    with pytest.raises(DataValidationError) as info:
        sql.load_sql(sample_db.url(), prof)
    (p,) = info.value.problems
    assert p.code == "missing-table"
    assert "No table or view 'rep'" in p.message
    assert "Did you mean 'reps'?" in p.message
    assert "'opportunities'" in p.message and "'opps_no_amount'" in p.message  # views listed
    assert p.file == f"{sql.mask_url(sample_db.url())} table rep (reps)"
    assert "sql_table" in p.fix


def test_missing_column_and_bad_types(sample_db: PgServer, tmp_path: Path):
    prof = _profile(tmp_path, '[opportunities]\nsql_table = "opps_no_amount"\n')
    with pytest.raises(DataValidationError) as info:
        sql.load_sql(sample_db.url(), prof)
    (p,) = info.value.problems
    assert (p.code, p.column) == ("missing-column", "amount")
    assert p.file.endswith("table opps_no_amount (opportunities)")

    prof = _profile(tmp_path, '[opportunities]\nsql_table = "opps_text"\n')
    with pytest.raises(DataValidationError) as info:
        sql.load_sql(sample_db.url(), prof)
    found = {(p.code, p.column, p.rows) for p in info.value.problems}
    # Rows are ordered by opp_id: A-1 is row 1, A-2 row 2, A-3 row 3.
    assert ("currency-symbol", "amount", (2,)) in found
    assert ("dayfirst-date", "close_date", (3,)) in found
    assert len(found) == 2


def test_unreadable_query_is_a_problem_not_a_traceback(sample_db: PgServer, tmp_path: Path):
    prof = _profile(tmp_path, '[targets]\nquery = "SELECT * FROM no_such_targets"\n')
    with pytest.raises(DataValidationError) as info:
        sql.load_sql(sample_db.url(), prof)
    (p,) = info.value.problems
    assert p.code == "unreadable"
    assert "no_such_targets" in p.message and "UndefinedTable" in p.message
    # The load reads in a read-only transaction: a query cannot change the database.
    prof = _profile(tmp_path, '[targets]\nquery = "WITH d AS (DELETE FROM targets RETURNING *) '
                              'SELECT * FROM d"\n')  # fmt: skip
    with pytest.raises(DataValidationError) as info:
        sql.load_sql(sample_db.url(), prof)
    (p,) = info.value.problems
    assert "read-only transaction" in p.message
    assert len(sql.load_sql(sample_db.url(), config_overrides=_config()).targets) == 1088


def test_lookup_fill_reads_a_table(sample_db: PgServer, tmp_path: Path):
    # A fill's lookup "products.csv" is the table "products" (empty here): the amounts it
    # should fill stay blank and are reported as missing, as for files.
    prof = _profile(
        tmp_path,
        """
[opportunities]
sql_table = "opps_text"
[[opportunities.fill]]
column = "amount"
when = "zero"
lookup = { file = "products.csv", key = "stage", value = "sales_price" }
""",
    )
    with pytest.raises(DataValidationError) as info:
        sql.load_sql(sample_db.url(), prof)
    assert "missing-table" not in {p.code for p in info.value.problems}


# --------------------------------------------------------------------------- connection errors


def _assert_clean(exc: BaseException, *secrets: str) -> str:
    text = str(exc) + repr(getattr(exc, "problems", "")) + repr(getattr(exc, "warnings", ""))
    for s in secrets:
        assert s not in text
    assert "Fix:" in text
    return text


def test_unreachable_server(sample_db: PgServer):
    port = free_port()  # nothing listens there
    with pytest.raises(SalesnbError) as info:
        sql.load_sql(sample_db.url(port=port))
    text = _assert_clean(info.value, sample_db.password)
    assert f"Cannot reach the database server at 127.0.0.1:{port}" in text
    assert "Connection refused" in text


def test_wrong_password_names_user_not_password(sample_db: PgServer, monkeypatch):
    wrong = "Wr0ng-pa55word-" + sample_db.password[::-1]
    with pytest.raises(SalesnbError) as info:
        sql.load_sql(sample_db.url(password=wrong))
    text = _assert_clean(info.value, wrong, sample_db.password)
    assert "refused the login of user 'salesnb_test'" in text
    assert "password authentication failed" in text
    # The same through the environment.
    monkeypatch.setenv("PGPASSWORD", wrong)
    with pytest.raises(SalesnbError) as info:
        sql.load_sql(sample_db.url(password=""))
    _assert_clean(info.value, wrong)


def test_unknown_database_and_dialect(sample_db: PgServer):
    with pytest.raises(SalesnbError) as info:
        sql.load_sql(sample_db.url(database="nope"))
    assert "has no database 'nope'" in _assert_clean(info.value, sample_db.password)
    with pytest.raises(SalesnbError) as info:
        sql.load_sql("nosuchdb://u:topsecret@h/db")
    assert "no database dialect 'nosuchdb'" in _assert_clean(info.value, "topsecret")


def test_no_secret_in_any_output(sample_db: PgServer, tmp_path: Path):
    secret = sample_db.password
    wb = sql.load_sql(sample_db.url(), config_overrides=_config())
    outputs = [wb.source, wb.fingerprint(), repr(wb.warnings), repr(wb.config)]
    prof = _profile(tmp_path, '[reps]\nsql_table = "rep"\n')
    with pytest.raises(DataValidationError) as info:
        sql.load_sql(sample_db.url(), prof)
    outputs += [str(info.value), repr(info.value.problems), str(info.value.source)]
    # A snapshot added from the database records the masked URL only.
    st = tmp_path / "history.duckdb"
    res = exportstore.add_export(st, sample_db.url(), as_of="2026-09-30")
    outputs += [store.list_snapshots(st).to_csv(), repr(res)]
    assert st.read_bytes().find(secret.encode()) == -1
    assert not [o for o in outputs if secret in o]
    # 596 open deals on 2026-09-30, as from the files (test_store checks the file path).
    assert res.deals == 596


def test_mask_url_hides_password_and_secret_parameters():
    url = "postgresql://ana:p%40ss-w0rd@db.example.com:5432/crm?sslmode=require&sslpassword=k3y"
    shown = sql.mask_url(url)
    assert shown == "postgresql://ana:***@db.example.com:5432/crm?sslmode=require&sslpassword=***"
    assert sql.mask_url("not a url://x:y@") and "y@" not in sql.mask_url("zz://x:yyyy@h/d")
    assert sql.is_url("postgresql+psycopg://h/db") and not sql.is_url(str(SAMPLE))


def test_missing_postgresql_fails_with_the_fix(monkeypatch):
    import fixtures_pg

    monkeypatch.delenv("SALESNB_PG_BINDIR", raising=False)
    monkeypatch.setattr(fixtures_pg.glob, "glob", lambda pattern: [])
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y postgresql"):
        fixtures_pg.bindir()


def test_free_port_is_closed():
    port = free_port()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_sqlite_text_timestamps(tmp_path: Path, file_wb):
    # SQLite keeps pandas' datetimes as text ('2015-01-05 00:00:00.000000'): read as dates.
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as con:
        for name in ("reps", "opportunities"):
            file_wb.table(name).to_sql(name, con, index=False)
    engine.dispose()
    wb = sql.load_sql(url, as_of="2026-09-30")
    pd.testing.assert_frame_equal(wb.reps, file_wb.reps)
    pd.testing.assert_frame_equal(wb.opportunities, file_wb.opportunities)
    assert len(wb.targets) == len(wb.activities) == len(wb.snapshots) == 0


# --------------------------------------------------------------------------- read-only for real


@pytest.fixture(scope="module")
def guarded(sample_db: PgServer):
    """A table ``guard`` with two known rows, owned by the test role (which could write to
    it): the read-only tests check it and the list of tables are unchanged afterwards."""
    engine = sa.create_engine(sample_db.url(driver="postgresql+psycopg"))
    with engine.begin() as con:
        con.exec_driver_sql("DROP TABLE IF EXISTS guard")
        con.exec_driver_sql("CREATE TABLE guard (id int PRIMARY KEY, note text)")
        con.exec_driver_sql("INSERT INTO guard VALUES (1, 'one'), (2, 'two')")
    engine.dispose()
    return sample_db


def _store_state(server: PgServer) -> tuple[list, list, str]:
    """The guard table's rows, the public schema's tables and the session default, read
    as the admin (a connection of its own)."""
    engine = sa.create_engine(
        server.admin_url("crm").replace("postgresql://", "postgresql+psycopg://")
    )
    with engine.connect() as con:
        rows = con.exec_driver_sql("SELECT id, note FROM guard ORDER BY id").all()
        tables = con.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        ).all()
        role = con.exec_driver_sql(
            "SELECT coalesce(array_to_string(setconfig, ','), '') FROM pg_db_role_setting s "
            "JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = 'salesnb_test'"
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows], [r[0] for r in tables], repr(role)


GUARD_ROWS = [(1, "one"), (2, "two")]


def test_commit_escape_and_multiple_statements_are_refused_before_sending(
    guarded: PgServer, tmp_path: Path
):
    before = _store_state(guarded)
    assert before[0] == GUARD_ROWS and "guard" in before[1] and "pwned" not in before[1]
    escapes = {
        "commit": "SELECT * FROM targets; COMMIT; DROP TABLE guard; "
        "CREATE TABLE pwned (a int); INSERT INTO guard VALUES (99, 'x')",
        "set": "SELECT * FROM targets;\nSET SESSION default_transaction_read_only = off;\n"
        "DELETE FROM guard",
        "dollar": "SELECT $$ a $$ AS x, * FROM targets; $$; DROP TABLE guard; $$",
        "comment": "SELECT * FROM targets /* ; */; DROP TABLE guard -- ;",
        "not-a-select": "DELETE FROM guard RETURNING *",
        "call": "CALL nothing()",
    }
    for name, query in escapes.items():
        prof = _profile(tmp_path, f"[targets]\nquery = '''{query}'''\n")
        with pytest.raises(ProfileError) as info:
            sql.load_sql(guarded.url(), prof, as_of="2026-09-30")
        text = str(info.value)
        assert f"The query of [targets] in the profile {str(prof)!r} cannot be run" in text
        assert "Fix: keep one SELECT" in text, (name, text)
        if name in ("commit", "set", "dollar", "comment"):
            assert "statements (the second begins" in text, (name, text)
    assert "5 statements (the second begins 'COMMIT')" in str(
        pytest.raises(ProfileError, sql.load_sql, guarded.url(), tables={
            "targets": sql.SqlSource(query=escapes["commit"])}).value
    )  # fmt: skip
    assert _store_state(guarded) == before


def test_session_is_read_only_even_past_a_commit(guarded: PgServer):
    # The second line of defence, without the statement check: the engine load_sql
    # connects with keeps the whole session read-only, so a COMMIT sent by the driver
    # (psycopg sends a parameterless string with the simple protocol, which runs several
    # statements) only starts another read-only transaction.
    before = _store_state(guarded)
    engine, _ = sql._engine(guarded.url(), 10, 60)
    try:
        with engine.connect() as con:
            with pytest.raises(sa.exc.InternalError, match="read-only transaction"):
                con.exec_driver_sql("SELECT 1; COMMIT; DROP TABLE guard")
            con.rollback()
            assert con.exec_driver_sql("SHOW default_transaction_read_only").scalar() == "on"
            assert con.exec_driver_sql("SHOW statement_timeout").scalar() == "1min"
    finally:
        engine.dispose()
    assert _store_state(guarded) == before


def test_a_query_cannot_lift_read_only_or_the_timeout_for_later_tables(
    guarded: PgServer, tmp_path: Path
):
    # reps' query turns the session default off and the timeout off (set_config is a
    # SELECT); the later tables still read read-only and under the timeout.
    before = _store_state(guarded)
    prof = _profile(
        tmp_path,
        """
[sql]
statement_timeout = 2
[reps]
query = "SELECT r.*, set_config('default_transaction_read_only', 'off', false) AS a, set_config('statement_timeout', '0', false) AS b FROM reps r"
[targets]
query = "WITH d AS (DELETE FROM guard RETURNING *) SELECT * FROM targets"
[activities]
query = "SELECT a.* FROM activities a, pg_sleep(30)"
""",
    )
    t0 = time.monotonic()
    with pytest.raises(DataValidationError) as info:
        sql.load_sql(guarded.url(), prof, as_of="2026-09-30")
    assert time.monotonic() - t0 < 20
    found = {p.file.rsplit("/crm ", 1)[1]: p for p in info.value.problems}
    assert set(found) == {"query (targets)", "query (activities)"}
    assert "read-only transaction" in found["query (targets)"].message
    slow = found["query (activities)"]
    assert slow.code == "timeout"
    assert slow.message == (
        "The query was stopped after 2 s: it ran longer than the statement timeout."
    )
    assert "[sql] statement_timeout = 300" in slow.fix
    assert _store_state(guarded) == before


def test_slow_query_is_stopped_with_a_clear_message(guarded: PgServer, tmp_path: Path):
    before = _store_state(guarded)
    prof = _profile(
        tmp_path,
        '[sql]\nstatement_timeout = 1\n[targets]\nquery = "SELECT t.* FROM targets t, '
        'pg_sleep(60)"\n',
    )
    t0 = time.monotonic()
    with pytest.raises(DataValidationError) as info:
        sql.load_sql(guarded.url(), prof, as_of="2026-09-30")
    assert time.monotonic() - t0 < 15  # not the 60 s of pg_sleep
    (p,) = info.value.problems
    assert p.code == "timeout" and p.file == f"{sql.mask_url(guarded.url())} query (targets)"
    text = str(p)
    assert "stopped after 1 s" in text and "statement timeout" in text
    assert "raise the limit in the profile: [sql] statement_timeout = 300" in text
    # load_sql's own argument wins over the profile: 0 is no limit, so a 1.5 s sleep passes
    prof.write_text(prof.read_text().replace("pg_sleep(60)", "pg_sleep(1.5)"))
    wb = sql.load_sql(guarded.url(), prof, as_of="2026-09-30", statement_timeout=0)
    assert len(wb.targets) == 1088
    assert _store_state(guarded) == before


def test_semicolons_inside_literals_comments_and_names_are_one_statement(
    guarded: PgServer, tmp_path: Path
):
    query = r"""
SELECT "t;x".* -- a comment; with a semicolon
FROM targets AS "t;x" /* and; /* nested; */ another */
WHERE 'a;b' <> $x$;$x$ AND E'\';' = chr(39) || ';' AND $$;$$ = ';';
-- a comment after the trailing semicolon
"""
    prof = _profile(tmp_path, f"[targets]\nquery = '''{query}'''\n")
    wb = sql.load_sql(guarded.url(), prof, as_of="2026-09-30")
    assert len(wb.targets) == 1088


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[sql]\nstatement_timout = 5\n", "Unknown key 'statement_timout' in [sql] of the profile"),
        ("[sql]\nstatement_timeout = -1\n", "statement_timeout = -1 in [sql]"),
        ('[sql]\nstatement_timeout = "60 s"\n', "statement_timeout = '60 s' in [sql]"),
        ("sql = 5\n", "sql = 5 in the profile"),
    ],
)
def test_sql_settings_are_checked(tmp_path: Path, body: str, message: str):
    with pytest.raises(ProfileError, match=re.escape(message)):
        sql.sql_profile(_profile(tmp_path, body))
    assert "Did you mean 'statement_timeout'?" in str(
        pytest.raises(ProfileError, sql.sql_profile, _profile(tmp_path, "[sql]\nstatement_timout = 5\n")).value
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "statements"),
    [
        ("SELECT 1", ["SELECT 1"]),
        ("SELECT 1;  -- done\n", ["SELECT 1"]),
        ("SELECT 1; COMMIT; DROP TABLE y", ["SELECT 1", "COMMIT", "DROP TABLE y"]),
        ("SELECT ';' AS a;;", ["SELECT ';' AS a"]),
        ("SELECT 'it''s; fine'", ["SELECT 'it''s; fine'"]),
        ('SELECT "a;""b" FROM t', ['SELECT "a;""b" FROM t']),
        ("SELECT E'\\';' ; x", ["SELECT E'\\';'", "x"]),
        ("SELECT 'a\\'; x", ["SELECT 'a\\'", "x"]),  # standard strings: no backslash escape
        ("SELECT $f$ ; $$ ; $f$", ["SELECT $f$ ; $$ ; $f$"]),
        ("SELECT a$b; c", ["SELECT a$b", "c"]),  # $ inside a name opens no quote
        ("SELECT $1; c", ["SELECT $1", "c"]),
        ("/* ; /* ; */ ; */ SELECT 1", ["SELECT 1"]),
        ("SELECT 1 -- ; x\n; y", ["SELECT 1", "y"]),
    ],
)
def test_split_statements_postgresql(text: str, statements: list[str]):
    assert sql.split_statements(text) == statements


def test_split_statements_other_dialects_and_errors():
    # SQLite: [names] and `names` quote, comments do not nest.
    assert sql.split_statements("SELECT [a;b], `c;d` FROM t;", "sqlite") == [
        "SELECT [a;b], `c;d` FROM t"
    ]
    assert sql.split_statements("/* /* */ ; x */", "sqlite") == ["x */"]
    # Other dialects: every semicolon counts, inside literals too (refused, not guessed).
    assert sql.split_statements("SELECT ';'; -- end", "mssql") == ["SELECT '", "'"]
    for text, what in [
        ("SELECT 'open", "quoted text opened on line 1"),
        ('SELECT 1,\n"open', "quoted name opened on line 2"),
        ("SELECT 1 /* /* */", "comment opened on line 1"),
        ("SELECT $q$ x $$", "dollar-quoted text $q$ opened on line 1"),
    ]:
        with pytest.raises(sql.QueryShapeError, match=re.escape(what)):
            sql.check_query(text)
    assert sql.check_query("(SELECT 1);") == "(SELECT 1)"
    assert sql.check_query("  with x as (select 1) select * from x") == (
        "with x as (select 1) select * from x"
    )
    for text, first in [("COMMIT", "COMMIT"), ("/* x */ SET a = 1", "SET"), ("  ", None)]:
        with pytest.raises(sql.QueryShapeError) as info:
            sql.check_query(text)
        assert (f"begins with {first!r}" if first else "holds no statement") in str(info.value)


# --------------------------------------------------------------------------- masking


@pytest.mark.parametrize(
    ("url", "shown", "password"),
    [
        ("postgresql://ana:Top@Secret@127.0.0.1:1/crm", "postgresql://ana:***@127.0.0.1:1/crm",
         "Top@Secret"),
        ("postgresql://ana:a:b/c?d#e@h:5432/db?sslmode=require",
         "postgresql://ana:***@h:5432/db?sslmode=require", "a:b/c?d#e"),
        ("postgresql://ana:p%40ss%3Aw0rd@h/db", "postgresql://ana:***@h/db", "p@ss:w0rd"),
        ("postgresql://ana@srv:pw-azure@h/db", "postgresql://ana@srv:***@h/db", "pw-azure"),
        ("postgresql://ana@h/db?password=s3cr%26t&sslmode=require",
         "postgresql://ana@h/db?password=***&sslmode=require", None),
        ("postgresql://ana@h/db?password=ab&cd&efgh=1&sslmode=require",
         "postgresql://ana@h/db?password=***&sslmode=require", None),
        ("postgresql://ana@h/db?sslpassword=k3y&sslmode=require",
         "postgresql://ana@h/db?sslpassword=***&sslmode=require", None),
        ("postgresql://ana:***@h/db", "postgresql://ana:***@h/db", None),
        ("sqlite:////srv/crm@2026.db", "sqlite:////srv/crm@2026.db", None),
        ("sqlite:///relative.db", "sqlite:///relative.db", None),
        ("postgresql://h/db?application_name=a@b", "postgresql://h/db?application_name=a@b",
         None),
    ],
)  # fmt: skip
def test_mask_url_nasty_shapes(url: str, shown: str, password: str | None):
    assert sql.mask_url(url) == shown
    assert sql.mask_url(shown) == shown  # masking is idempotent
    u = dburl.sa_url(url)
    assert u.password == password  # what the driver gets: the whole password, decoded
    assert u.host in ("127.0.0.1", "h", None)
    if "?password=" in url:
        assert u.query["password"] in ("s3cr&t", "ab&cd&efgh=1")
        assert "s3cr" not in shown and "efgh" not in shown


_NASTY = "@:/?#%&=+ ;'\"\\"


@given(
    st.lists(
        st.one_of(
            st.text(
                alphabet="abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789",
                min_size=5,
                max_size=9,
            ),
            st.sampled_from(list(_NASTY)),
        ),
        min_size=1,
        max_size=6,
    ).map("".join)
)
@settings(max_examples=200, deadline=None)
def test_mask_url_never_shows_any_part_of_a_password(password: str):
    url = f"postgresql+psycopg://ana:{password}@db.example.com:5432/crm?sslmode=require"
    assert (
        sql.mask_url(url) == "postgresql+psycopg://ana:***@db.example.com:5432/crm?sslmode=require"
    )
    encoded = f"postgresql://ana@db.example.com/crm?password={quote(password, safe='')}"
    assert sql.mask_url(encoded) == "postgresql://ana@db.example.com/crm?password=***"
    u = dburl.sa_url(url)
    assert (u.host, u.port, u.database) == ("db.example.com", 5432, "crm")
    assert dburl.sa_url(encoded).query["password"] == password


def _pieces(secret: str) -> set[str]:
    """The secret and every run of 4+ characters of it between punctuation."""
    return {secret} | {p for p in re.split(r"[^A-Za-z0-9]+", secret) if len(p) >= 4}


@given(
    st.lists(
        st.one_of(
            st.text(
                alphabet="abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ", min_size=6, max_size=9
            ),
            st.sampled_from(list("@:/?#%")),
        ),
        min_size=2,
        max_size=5,
    ).map("".join)
)
@settings(max_examples=25, deadline=None)
def test_connection_errors_never_show_any_part_of_a_password(password: str):
    # A real connection attempt to a port nothing listens on, URL written carelessly
    # (nothing encoded): the message names the server, never a piece of the password.
    port = free_port()
    with pytest.raises(SalesnbError) as info:
        sql.load_sql(f"postgresql://ana:{password}@127.0.0.1:{port}/crm", connect_timeout=2)
    text = str(info.value)
    assert f"127.0.0.1:{port}" in text and "Fix:" in text
    assert not [p for p in _pieces(password) if p in text]


def test_validate_message_with_unencoded_at_shows_no_tail():
    # The case: "Top@Secret" parsed as password "Top" and host "Secret@127.0.0.1".
    port = free_port()
    with pytest.raises(SalesnbError) as info:
        sql.load_sql(f"postgresql://ana:Top@Secret@127.0.0.1:{port}/crm")
    text = str(info.value)
    assert "Secret" not in text and "Top" not in text
    assert f"Cannot reach the database server at 127.0.0.1:{port}" in text


# --------------------------------------------------------------------------- SQLite


def test_sqlite_missing_file_is_an_error_and_is_not_created(tmp_path: Path):
    db = tmp_path / "nope.db"
    with pytest.raises(SalesnbError) as info:
        sql.load_sql(f"sqlite:///{db}")
    assert str(info.value).startswith(f"No such database file '{db}' (does not exist;")
    assert "never creates one" in str(info.value)
    assert not db.exists() and list(tmp_path.iterdir()) == []
    (tmp_path / "folder.db").mkdir()
    with pytest.raises(SalesnbError, match="is not a file"):
        sql.load_sql(f"sqlite:///{tmp_path / 'folder.db'}")


def test_sqlite_is_opened_read_only_with_a_timeout(tmp_path: Path, file_wb):
    path = tmp_path / "crm.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as con:
        for name in ("reps", "opportunities"):
            file_wb.table(name).to_sql(name, con, index=False)
    engine.dispose()
    before = path.read_bytes()
    ro, _ = sql._engine(f"sqlite:///{path}", 10, 60)
    try:
        with ro.connect() as con, pytest.raises(sa.exc.OperationalError, match="readonly"):
            con.exec_driver_sql("DELETE FROM reps")
    finally:
        ro.dispose()
    prof = _profile(
        tmp_path,
        "[sql]\nstatement_timeout = 1\n[targets]\nquery = '''WITH RECURSIVE c(x) AS "
        "(SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) AS n FROM c'''\n",
    )
    t0 = time.monotonic()
    with pytest.raises(DataValidationError) as info:
        sql.load_sql(f"sqlite:///{path}", prof, as_of="2026-09-30")
    assert time.monotonic() - t0 < 15
    (p,) = info.value.problems
    assert p.code == "timeout" and "stopped after 1 s" in p.message
    assert p.file == f"sqlite:///{path} query (targets)"
    assert path.read_bytes() == before


# --------------------------------------------------------------------------- batch --data URL

ROOT = Path(__file__).resolve().parents[1]
NASTY_PASSWORD = "Top@Secret:p/w?x#Zq9vXk%"


@pytest.fixture(scope="module")
def nasty_role(sample_db: PgServer) -> str:
    """A login role whose password holds ``@ : / ? # %``, written unencoded in its URL."""
    engine = sa.create_engine(
        sample_db.admin_url("crm").replace("postgresql://", "postgresql+psycopg://")
    )
    with engine.begin() as con:
        con.exec_driver_sql("DROP ROLE IF EXISTS salesnb_nasty")
        pw = NASTY_PASSWORD.replace("%", "%%")  # the driver's placeholder sign
        con.exec_driver_sql(f"CREATE ROLE salesnb_nasty LOGIN PASSWORD '{pw}'")
        con.exec_driver_sql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO salesnb_nasty")
    engine.dispose()
    return f"postgresql://salesnb_nasty:{NASTY_PASSWORD}@127.0.0.1:{sample_db.port}/crm"


def _batch(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "salesnb.cli", "batch", *args, "--no-progress"]
    env = {**os.environ, **(env or {})}
    env.pop("SALESNB_DATA_URL", None)
    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False, env=env
    )


def _leaks(texts: dict[str, str], secret: str) -> list[str]:
    return [f"{name}: {p!r}" for name, t in texts.items() for p in _pieces(secret) if p in t]


def _outputs(out: Path) -> dict[str, str]:
    return {
        p.name: p.read_bytes().decode("utf-8", "replace") for p in out.rglob("*") if p.is_file()
    }


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["fork", "papermill"])
def test_batch_reads_a_database_url_and_never_shows_the_password(
    nasty_role: str, sample_db: PgServer, tmp_path: Path, engine: str
):
    # fork: the batch hands its loaded data to the documents; papermill: each document
    # loads it again from the masked URL in its parameters and the full one in its
    # environment. Two reps with fork, one with papermill (a kernel per document).
    only = "R01,R02" if engine == "fork" else "R02"
    out = tmp_path / "out"
    done = _batch(["pipeline_review", "--data", nasty_role, "--out", str(out), "--only", only,
                   "--engine", engine, "--workers", "2"])  # fmt: skip
    n = only.count(",") + 1
    assert done.returncode == 0, done.stderr
    assert f"{n} ok, 0 failed of {n}" in done.stdout
    shown = f"postgresql://salesnb_nasty:***@127.0.0.1:{sample_db.port}/crm"
    m = json.loads((out / "manifest.json").read_text())
    assert m["data"]["path"] == shown
    assert {s["key"]: s["parameters"]["data"] for s in m["subjects"]} == dict.fromkeys(
        only.split(","), shown
    )
    files = _outputs(out)
    assert len([f for f in files if f.endswith(".html")]) == n + 1  # documents + index
    assert "Daniel Whitaker" in files["r02-daniel-whitaker.html"]  # the rep's own document
    nb = nbformat.reads(files["r02-daniel-whitaker.ipynb"], as_version=4)
    injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert f'data = "{shown}"\n' in injected.source
    texts = {"stdout": done.stdout, "stderr": done.stderr, **files}
    assert not _leaks(texts, NASTY_PASSWORD)
    # The same data as from the files: the data fingerprint of the sample folder's batch.
    assert m["data"]["fingerprint"] == io.load(SAMPLE).fingerprint()


@pytest.mark.parametrize("engine", ["fork", "papermill"])
def test_batch_with_an_unreachable_database_names_the_server_not_the_password(
    tmp_path: Path, engine: str
):
    port = free_port()
    out = tmp_path / "out"
    for password in ("TopSecretPw", "Top@Secret@Pw"):
        url = f"postgresql://ana:{password}@127.0.0.1:{port}/crm"
        done = _batch(["pipeline_review", "--data", url, "--out", str(out), "--engine", engine])
        assert done.returncode == 1
        assert f"Cannot reach the database server at 127.0.0.1:{port}" in done.stderr
        assert "Traceback" not in done.stderr and "Fix:" in done.stderr
        assert not _leaks({"stdout": done.stdout, "stderr": done.stderr}, password)
        assert not out.exists()  # refused before anything was written


def test_job_repr_leaves_out_its_environment():
    # The full URL travels to each document in Job.env: a logged job (a Dask worker logs
    # the arguments of a task that fails) must not show it.
    from salesnb.batch.executor import Job

    url = f"postgresql://salesnb_nasty:{NASTY_PASSWORD}@127.0.0.1:5432/crm"
    job = Job("R01", "nb.ipynb", {"data": sql.mask_url(url)}, env=((sql.DATA_URL_ENV, url),))
    assert not _leaks({"repr": repr(job), "str": str(job)}, NASTY_PASSWORD)
    assert dict(job.env) == {"SALESNB_DATA_URL": url}

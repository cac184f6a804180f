"""Reading the canonical tables from a real PostgreSQL server (:mod:`salesnb.sql`).

The server is a throwaway cluster started for the session by ``fixtures_pg.postgres``
(Debian's ``postgresql`` package; the tests FAIL, not skip, when it is missing).
"""

from __future__ import annotations

import socket
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from fixtures_pg import PgServer, free_port, postgres  # noqa: F401 - the fixture itself

from salesnb import io, kpis, pipeline, sql, store
from salesnb.config import read_toml
from salesnb.errors import DataValidationError, SalesnbError

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
KEYS = {
    "reps": ["rep_id"],
    "opportunities": ["opp_id"],
    "targets": ["rep_id", "region", "month"],
    "activities": ["rep_id", "date", "type"],
    "snapshots": ["as_of", "opp_id"],
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
    res = store.add_export(st, sample_db.url(), as_of="2026-09-30")
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

"""The snapshot history store (:mod:`salesnb.data.store`) and ``salesnb snapshot``."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesnb.analytics import pipeline
from salesnb.cli.commands import main
from salesnb.core.errors import DataValidationError, SalesnbError
from salesnb.data import exportstore, io, store
from salesnb.data.model import empty_table

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"

REPS = "rep_id,name,manager,region\nR1,Ann,Mia,East\nR2,Bob,Mia,East\n"
HEAD = "opp_id,rep_id,stage,amount,created_date,close_date,forecast_category\n"
# Week 1: three open deals (100 + 250.50 + 50 = 400.50) and one won deal.
WEEK1 = HEAD + (
    "o1,R1,Demo,100,2026-08-01,2026-10-10,pipeline\n"
    "o2,R1,Proposal,250.50,2026-08-02,2026-11-20,commit\n"
    "o3,R2,Closed Won,400,2026-07-01,2026-08-30,\n"
    "o4,R2,Prospecting,50,2026-08-20,2026-12-01,pipeline\n"
)
# Week 2: o1 grew to 120, o4 was lost, o5 is new: open 120 + 250.50 + 80 = 450.50.
WEEK2 = HEAD + (
    "o1,R1,Demo,120,2026-08-01,2026-10-10,best_case\n"
    "o2,R1,Proposal,250.50,2026-08-02,2026-11-20,commit\n"
    "o3,R2,Closed Won,400,2026-07-01,2026-08-30,\n"
    "o4,R2,Closed Lost,50,2026-08-20,2026-09-10,\n"
    "o5,R2,Qualification,80,2026-09-08,2026-12-15,pipeline\n"
)


def export(folder: Path, opportunities: str, reps: str | None = REPS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "opportunities.csv").write_text(opportunities, encoding="utf-8")
    if reps is not None:
        (folder / "reps.csv").write_text(reps, encoding="utf-8")
    return folder


def state(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What a store holds: its log (without the add times) and its rows."""
    return store.list_snapshots(path).drop(columns="added_at"), store.read(path)


def assert_same(a: tuple, b: tuple) -> None:
    for x, y in zip(a, b, strict=True):
        pd.testing.assert_frame_equal(x, y)


@pytest.fixture
def two_weeks(tmp_path: Path) -> Path:
    st_ = tmp_path / "history.duckdb"
    exportstore.add_export(st_, export(tmp_path / "w1", WEEK1), as_of="2026-09-07")
    exportstore.add_export(st_, export(tmp_path / "w2", WEEK2), as_of="2026-09-14")
    return st_


# --------------------------------------------------------------------------- add / list / read


def test_add_keeps_open_deals_and_lists_totals(tmp_path: Path):
    st_ = tmp_path / "history.duckdb"
    res = exportstore.add_export(st_, export(tmp_path / "w1", WEEK1), as_of="2026-09-07")
    assert (res.deals, res.amount, res.closed_skipped, res.replaced) == (3, 400.5, 1, False)
    assert res.warnings == []  # derived reps are expected here, not worth a warning
    rows = store.read(st_)
    assert rows.columns.tolist() == empty_table("snapshots").columns.tolist()
    assert rows.dtypes.to_dict() == empty_table("snapshots").dtypes.to_dict()
    assert rows["opp_id"].tolist() == ["o1", "o2", "o4"]
    assert rows["amount"].tolist() == [100.0, 250.5, 50.0]
    assert rows["forecast_category"].tolist() == ["pipeline", "commit", "pipeline"]
    assert (rows["as_of"] == pd.Timestamp("2026-09-07")).all()
    assert rows["close_date"].tolist() == list(pd.to_datetime(["2026-10-10", "2026-11-20",
                                                                "2026-12-01"]))  # fmt: skip
    log = store.list_snapshots(st_)
    assert log[["deals", "amount"]].values.tolist() == [[3, 400.5]]
    assert log["source"].iloc[0] == str((tmp_path / "w1").resolve())
    assert log["profile"].iloc[0] == "canonical"


def test_export_without_reps_and_single_file(tmp_path: Path):
    # A lone opportunities file (no reps.csv): reps come from the deal owners.
    folder = export(tmp_path / "w1", WEEK1, reps=None)
    st_ = tmp_path / "h.duckdb"
    res = exportstore.add_export(st_, folder / "opportunities.csv", as_of="2026-09-07")
    assert (res.deals, res.amount) == (3, 400.5)


def test_default_date_is_the_exports_as_of(tmp_path: Path):
    folder = export(tmp_path / "w1", WEEK1)
    (folder / "salesnb.toml").write_text("as_of = 2026-09-07\n")
    res = exportstore.add_export(tmp_path / "h.duckdb", folder)
    assert res.as_of == pd.Timestamp("2026-09-07")


def test_read_between_dates(two_weeks: Path):
    assert len(store.read(two_weeks, start="2026-09-08")) == 3  # week 2 only
    assert len(store.read(two_weeks, end="2026-09-07")) == 3  # week 1 only
    assert len(store.read(two_weeks)) == 6


def test_late_deals_and_future_dates_warn(tmp_path: Path):
    # o5 was created on 2026-09-08, after the snapshot date: the export is newer than that.
    res = exportstore.add_export(tmp_path / "h.duckdb", export(tmp_path / "w2", WEEK2),
                           as_of="2026-09-01")  # fmt: skip
    assert [w.code for w in res.warnings] == ["late-deal"]
    assert "['o5']" in res.warnings[0].message
    future = pd.Timestamp.today().normalize() + pd.Timedelta(days=30)
    res = exportstore.add_export(
        tmp_path / "h.duckdb", export(tmp_path / "w1", WEEK1), as_of=future
    )
    assert "future-date" in [w.code for w in res.warnings]


# --------------------------------------------------------------------------- duplicates


def test_duplicate_date_refused_then_replaced(two_weeks: Path, tmp_path: Path):
    before = state(two_weeks)
    with pytest.raises(SalesnbError) as info:
        exportstore.add_export(two_weeks, tmp_path / "w2", as_of="2026-09-07")
    text = str(info.value)
    assert "already holds a snapshot for 2026-09-07 (3 deals, total 400.50" in text
    assert "--replace" in text
    assert_same(state(two_weeks), before)
    res = exportstore.add_export(two_weeks, tmp_path / "w2", as_of="2026-09-07", replace=True)
    assert (res.deals, res.amount, res.replaced) == (3, 450.5, True)
    log = store.list_snapshots(two_weeks)
    # Both dates now hold week 2's deals: 120 + 250.50 + 80 = 450.50 each.
    assert log[["deals", "amount"]].values.tolist() == [[3, 450.5], [3, 450.5]]
    assert store.read(two_weeks, end="2026-09-07")["opp_id"].tolist() == ["o1", "o2", "o5"]


def test_duplicate_deals_in_one_export_refused(tmp_path: Path):
    rows = pd.DataFrame(
        {"as_of": ["2026-09-07"] * 2, "opp_id": ["o1", "o1"], "rep_id": ["R1", "R1"],
         "stage": ["Demo", "Demo"], "amount": [1.0, 2.0], "close_date": ["2026-10-01"] * 2,
         "forecast_category": [None, None]}
    )  # fmt: skip
    with pytest.raises(SalesnbError, match=r"Deals \['o1'\] appear more than once"):
        store.add(tmp_path / "h.duckdb", rows)
    assert not (tmp_path / "h.duckdb").exists()


# --------------------------------------------------------------------------- failures


def test_bad_export_writes_nothing(tmp_path: Path, two_weeks: Path):
    before = state(two_weeks)
    bad = WEEK1.replace(
        "o2,R1,Proposal,250.50,2026-08-02,2026-11-20", "o2,R1,Proposal,250.50,2026-08-02,"
    )
    with pytest.raises(DataValidationError) as info:
        exportstore.add_export(two_weeks, export(tmp_path / "bad", bad), as_of="2026-09-21")
    (p,) = info.value.problems
    assert (p.code, p.column) == ("blank", "close_date") and "['o2']" in p.message
    assert_same(state(two_weeks), before)
    with pytest.raises(DataValidationError):
        exportstore.add_export(tmp_path / "new.duckdb", tmp_path / "bad", as_of="2026-09-21")
    assert not (tmp_path / "new.duckdb").exists()


@pytest.mark.parametrize("replace", [False, True])
def test_failure_mid_add_rolls_back(two_weeks: Path, tmp_path: Path, monkeypatch, replace: bool):
    before = state(two_weeks)
    calls = []

    def boom(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("disk full (injected)")

    real_insert = store._insert

    def insert_then_check(con, rows):
        real_insert(con, rows)  # the rows are in, inside the open transaction
        n = con.execute("SELECT count(*) FROM snapshots").fetchone()[0]
        assert n == 6 - (3 if replace else 0) + len(rows)

    monkeypatch.setattr(store, "_insert", insert_then_check)
    monkeypatch.setattr(store, "_log", boom)
    date = "2026-09-14" if replace else "2026-09-21"
    with pytest.raises(RuntimeError, match="injected"):
        exportstore.add_export(two_weeks, tmp_path / "w1", as_of=date, replace=replace)
    assert calls == [1]
    assert_same(state(two_weeks), before)
    # The store is usable afterwards.
    monkeypatch.undo()
    assert exportstore.add_export(two_weeks, tmp_path / "w1", as_of="2026-09-21").deals == 3


def test_failure_on_first_add_leaves_no_file(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(store, "_log", lambda *a: (_ for _ in ()).throw(RuntimeError("x")))
    with pytest.raises(RuntimeError):
        exportstore.add_export(
            tmp_path / "h.duckdb", export(tmp_path / "w1", WEEK1), as_of="2026-09-07"
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w1"]


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from salesnb.data import exportstore, store
    real = store._insert

    def insert_and_hang(con, rows):
        real(con, rows)
        print("inserted", flush=True)
        time.sleep(120)

    store._insert = insert_and_hang
    exportstore.add_export(sys.argv[1], sys.argv[2], as_of=sys.argv[3], replace=True)
    """
)


def test_killed_mid_add_leaves_store_unchanged(two_weeks: Path, tmp_path: Path):
    before = state(two_weeks)
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(two_weeks), str(tmp_path / "w1"), "2026-09-14"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert line.strip() == "inserted", proc.stderr.read()
        os.kill(proc.pid, signal.SIGKILL)  # mid-transaction: old rows deleted, new ones in
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert_same(state(two_weeks), before)
    assert exportstore.add_export(two_weeks, tmp_path / "w1", as_of="2026-09-21").deals == 3


_HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
_HOLD += "time.sleep(60)"


def test_store_in_use_by_another_process(two_weeks: Path, tmp_path: Path):
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(two_weeks)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(SalesnbError, match="in use by another process") as info:
            exportstore.add_export(two_weeks, tmp_path / "w1", as_of="2026-09-21", timeout=0.5)
        assert f"PID {holder.pid}" in str(info.value)
    finally:
        holder.kill()
        holder.wait(timeout=30)
        holder.stdout.close()
    assert store.list_snapshots(two_weeks)["deals"].tolist() == [3, 3]


def test_not_a_store(tmp_path: Path):
    text = tmp_path / "notes.duckdb"
    text.write_text("hello" * 1000)
    with pytest.raises(SalesnbError, match="not a snapshot store"):
        exportstore.add_export(text, export(tmp_path / "w1", WEEK1), as_of="2026-09-07")
    assert text.read_text() == "hello" * 1000
    import duckdb

    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE TABLE snapshots (x INT)")
    with pytest.raises(SalesnbError, match=r"not a salesnb snapshot store \(its tables: \['snap"):
        exportstore.add_export(other, tmp_path / "w1", as_of="2026-09-07")
    with pytest.raises(SalesnbError, match="No snapshot store at"):
        store.list_snapshots(tmp_path / "missing.duckdb")
    with pytest.raises(SalesnbError, match="is a folder"):
        store.read(tmp_path)


# --------------------------------------------------------------------------- reading history


def test_waterfall_from_two_stored_weeks(two_weeks: Path, tmp_path: Path):
    wb = store.attach(io.load(tmp_path / "w2"), two_weeks)
    w = pipeline.waterfall(wb, "2026-09-07", "2026-09-14")
    # start 400.50; o5 new +80; o4 lost -50; o1 100 -> 120 value_up +20; end 450.50.
    assert w.as_dict() == {
        "start": 400.5, "new": 80.0, "pulled_in": 0.0, "pushed_out": 0.0, "won": 0.0,
        "lost": 50.0, "removed": 0.0, "value_up": 20.0, "value_down": 0.0, "end": 450.5,
    }  # fmt: skip


def _weekly_exports(tmp_path: Path, wb, dates: list[pd.Timestamp]) -> list[Path]:
    """One canonical export per date, holding the deals as that date's snapshot saw them."""
    created = wb.opportunities.set_index("opp_id")["created_date"]
    folders = []
    for d in dates:
        s = wb.snapshots[wb.snapshots["as_of"] == d].copy()
        s["created_date"] = s["opp_id"].map(created)
        for c in ("close_date", "created_date"):
            s[c] = s[c].dt.strftime("%Y-%m-%d")
        folder = tmp_path / f"export-{d:%Y%m%d}"
        folder.mkdir()
        s.drop(columns="as_of").to_csv(folder / "opportunities.csv", index=False)
        folders.append(folder)
    return folders


def test_twelve_weekly_snapshots_give_the_same_waterfall_as_snapshots_csv(tmp_path: Path):
    wb = io.load(SAMPLE)
    dates = pipeline.snapshot_dates(wb)[-12:]  # 2026-07-13 .. 2026-09-28, weekly
    assert [d.strftime("%m-%d") for d in (dates[0], dates[-1])] == ["07-13", "09-28"]
    st_ = tmp_path / "history.duckdb"
    for d, folder in zip(dates, _weekly_exports(tmp_path, wb, dates), strict=True):
        res = exportstore.add_export(st_, folder, as_of=d)
        assert res.deals == int((wb.snapshots["as_of"] == d).sum())
    log = store.list_snapshots(st_)
    assert log["as_of"].tolist() == dates
    csv_wb = dataclasses.replace(wb, snapshots=wb.snapshots[wb.snapshots["as_of"].isin(dates)])
    expected = csv_wb.snapshots.groupby("as_of")["amount"].sum()
    np.testing.assert_allclose(log["amount"].to_numpy(), expected.to_numpy())
    store_wb = store.attach(dataclasses.replace(wb, snapshots=empty_table("snapshots")), st_)
    key = ["as_of", "opp_id"]
    pd.testing.assert_frame_equal(
        store_wb.snapshots.sort_values(key).reset_index(drop=True),
        csv_wb.snapshots.sort_values(key).reset_index(drop=True),
    )
    for period in ("FY2026-Q3", None):
        a = pipeline.waterfall(store_wb, dates[0], dates[-1], period=period)
        b = pipeline.waterfall(csv_wb, dates[0], dates[-1], period=period)
        assert a.check()
        pd.testing.assert_frame_equal(a.bars, b.bars)
        pd.testing.assert_frame_equal(a.deals, b.deals)
    pd.testing.assert_frame_equal(pipeline.push_counts(store_wb), pipeline.push_counts(csv_wb))


def test_attach_merges_and_warns(two_weeks: Path, tmp_path: Path):
    wb = io.load(tmp_path / "w2")
    own = store.read(two_weeks, end="2026-09-07").assign(amount=1.0)  # same date as the store
    older = own.assign(as_of=pd.Timestamp("2026-08-31"))
    wb = dataclasses.replace(wb, snapshots=pd.concat([older, own], ignore_index=True))
    got = store.attach(wb, two_weeks)
    # 2026-08-31 from the data, 2026-09-07 and -14 from the store (the store's rows win).
    assert got.snapshots.groupby("as_of")["amount"].sum().tolist() == [3.0, 400.5, 450.5]
    assert [w.code for w in got.warnings] == ["snapshot-overlap"]
    stranger = dataclasses.replace(wb, snapshots=empty_table("snapshots"),
                                   opportunities=wb.opportunities.iloc[:2])  # fmt: skip
    codes = [w.code for w in store.attach(stranger, two_weeks).warnings]
    assert codes == ["unknown-opportunity"]


def test_snapshot_store_key_in_salesnb_toml(two_weeks: Path, tmp_path: Path):
    folder = tmp_path / "w2"
    (folder / "salesnb.toml").write_text(f'snapshot_store = "{two_weeks.name}"\n')
    two_weeks.rename(folder / two_weeks.name)
    wb = io.load(folder)
    assert wb.config.extra[store.CONFIG_KEY] == two_weeks.name
    got = store.attach_from_config(wb, folder)
    assert len(got.snapshots) == 6
    assert store.attach_from_config(io.load(tmp_path / "w1"), tmp_path / "w1") is not None
    (folder / "salesnb.toml").write_text('snapshot_store = "nope.duckdb"\n')
    with pytest.raises(SalesnbError, match="snapshot_store = 'nope.duckdb'.*no store at"):
        store.attach_from_config(io.load(folder), folder)


# --------------------------------------------------------------------------- the command


def test_cli_add_list_duplicate_replace(tmp_path: Path):
    runner = CliRunner()
    st_ = str(tmp_path / "h.duckdb")
    w1 = str(export(tmp_path / "w1", WEEK1))
    args = ["snapshot", "add", w1, "--store", st_, "--as-of", "2026-09-07"]
    r = runner.invoke(main, args)
    assert r.exit_code == 0, r.output
    assert (
        "added the snapshot of 2026-09-07" in r.output and "3 open deals, total 400.50" in r.output
    )
    assert "1 closed deals left out" in r.output
    r = runner.invoke(main, args)
    assert r.exit_code == 1 and "already holds a snapshot for 2026-09-07" in r.output
    r = runner.invoke(main, [*args, "--replace"])
    assert r.exit_code == 0 and "replaced the snapshot of 2026-09-07" in r.output
    r = runner.invoke(main, ["snapshot", "list", "--store", st_])
    assert r.exit_code == 0
    assert "2026-09-07       3            400.50" in r.output
    assert "1 snapshot(s), 2026-09-07 to 2026-09-07" in r.output
    r = runner.invoke(main, ["snapshot", "list", "--store", st_, "--csv"])
    assert r.output.splitlines()[1].startswith("2026-09-07,3,400.5,")
    r = runner.invoke(main, ["snapshot", "add", w1, "--store", st_, "--as-of", "soon"])
    assert r.exit_code == 2 and "'soon' is not a date" in r.output
    bad = export(tmp_path / "bad", WEEK1.replace("o1,R1,Demo,100", "o1,R1,Demo,abc"))
    r = runner.invoke(main, ["snapshot", "add", str(bad), "--store", st_, "--as-of", "2026-09-14"])
    assert r.exit_code == 1 and "Not a number: 'abc'" in r.output and "nothing added" in r.output
    assert store.list_snapshots(st_)["as_of"].tolist() == [pd.Timestamp("2026-09-07")]


# --------------------------------------------------------------------------- invariant

_rows = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 10_000)),
                 min_size=1, max_size=4, unique_by=lambda t: t[0])  # fmt: skip
_ops = st.lists(st.tuples(st.integers(0, 2), _rows, st.booleans()), min_size=1, max_size=6)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ops)
def test_store_matches_a_model_of_adds_and_replaces(ops):
    """Whatever the sequence of adds (refused or replacing), the store holds, per date, the
    rows of the last accepted add, and its log's counts and totals are those rows'."""
    dates = pd.to_datetime(["2026-09-07", "2026-09-14", "2026-09-21"])
    model: dict[pd.Timestamp, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "h.duckdb"
        for i, rows, replace in ops:
            frame = pd.DataFrame({
                "as_of": dates[i], "opp_id": [r[0] for r in rows], "rep_id": "R1",
                "stage": "Demo", "amount": [r[1] / 100 for r in rows],
                "close_date": pd.Timestamp("2026-12-31"), "forecast_category": "pipeline",
            })  # fmt: skip
            if dates[i] in model and not replace:
                with pytest.raises(SalesnbError, match="already holds"):
                    store.add(path, frame, replace=replace)
            else:
                store.add(path, frame, replace=replace)
                model[dates[i]] = sorted(rows)
        got = store.read(path)
        log = store.list_snapshots(path)
    want = [(d, k, v / 100) for d in sorted(model) for k, v in model[d]]
    assert list(zip(got["as_of"], got["opp_id"], got["amount"], strict=True)) == want
    assert log["as_of"].tolist() == sorted(model)
    assert log["deals"].tolist() == [len(model[d]) for d in sorted(model)]
    np.testing.assert_allclose(
        log["amount"], [sum(v for _, v in model[d]) / 100 for d in sorted(model)]
    )

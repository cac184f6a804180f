"""The sample data generator: determinism, the canonical format, and every built-in situation.

The situations (seasonality, star, under-performers, new hires, slips, ...) are proven from
the data itself (the CSVs parsed with pandas), never from the generator's own flags. They are
checked on the committed ``data/sample`` and on two other seeds, since the personas must not
depend on a lucky seed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesnb.core.errors import ParameterError
from salesnb.data import sample
from salesnb.data.config import load_config
from salesnb.data.schema import TABLES, columns

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
AS_OF = pd.Timestamp("2026-09-30")
FILES = [f"{t}.csv" for t in TABLES] + ["salesnb.toml", "generator.toml"]
LAST4 = [pd.Period(q, "Q") for q in ("2025Q4", "2026Q1", "2026Q2", "2026Q3")]
P = sample.PERSONAS
DATES = {
    "reps": ["start_date"],
    "opportunities": ["created_date", "close_date", "last_activity_date"],
    "targets": ["month"],
    "activities": ["date"],
    "snapshots": ["as_of", "close_date"],
}


def read_folder(folder: Path) -> dict[str, pd.DataFrame]:
    """Parse a canonical CSV folder with plain pandas (independent of salesnb.data.io)."""
    out = {}
    for name, dates in DATES.items():
        df = pd.read_csv(folder / f"{name}.csv", encoding="utf-8", keep_default_na=False)
        for col in dates:
            df[col] = pd.to_datetime(df[col], format="%Y-%m-%d")
        out[name] = df.replace({"": None}) if name == "targets" else df
    return out


def _as_csv_tables(tables: dict[str, pd.DataFrame], tmp: Path) -> dict[str, pd.DataFrame]:
    for name, df in tables.items():
        df.to_csv(tmp / f"{name}.csv", **sample._CSV)
    return read_folder(tmp)


@pytest.fixture(scope="module", params=["committed", 7, 31])
def data(request, tmp_path_factory) -> dict[str, pd.DataFrame]:
    """The committed sample, and fresh samples from two other seeds, parsed from CSV."""
    if request.param == "committed":
        if not (SAMPLE / "opportunities.csv").is_file():
            pytest.fail("data/sample is missing. Fix: run `salesnb sample` (sample.write()).")
        return read_folder(SAMPLE)
    tmp = tmp_path_factory.mktemp(f"seed{request.param}")
    return _as_csv_tables(sample.generate(seed=request.param), tmp)


def _open(d):
    o = d["opportunities"]
    return o[o["outcome"] == "open"]


def _won(d):
    o = d["opportunities"]
    return o[o["outcome"] == "won"]


def _quarterly(d) -> pd.DataFrame:
    """Bookings, target and attainment per rep and calendar quarter."""
    w = _won(d)
    t = d["targets"]
    booked = w.groupby(["rep_id", w["close_date"].dt.to_period("Q")])["amount"].sum()
    target = t.groupby(["rep_id", t["month"].dt.to_period("Q")])["amount"].sum()
    q = pd.concat({"booked": booked, "target": target}, axis=1).fillna(0.0)
    q.index.names = ["rep_id", "quarter"]
    q["att"] = q["booked"] / q["target"]
    return q


# --------------------------------------------------------------------------- format


def test_generate_returns_canonical_tables_and_dtypes():
    tables = sample.generate()
    assert list(tables) == list(TABLES)
    kinds = {"str": "str", "date": "datetime64[ns]", "float": "float64", "int": "int64"}
    for name, df in tables.items():
        assert list(df.columns) == columns(name), name
        for col in TABLES[name]:
            assert str(df[col.name].dtype) == kinds[col.kind], (name, col.name)
        for col in TABLES[name]:
            if col.required:
                assert df[col.name].notna().all(), (name, col.name)
            if col.choices:
                assert set(df[col.name].dropna()) <= set(col.choices), (name, col.name)
    # dates are midnight-normalised days
    o = tables["opportunities"]
    assert (o["created_date"] == o["created_date"].dt.normalize()).all()


def test_write_is_byte_identical_and_reproducible_from_generator_toml(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    paths = sample.write(a)
    assert [p.name for p in paths] == FILES
    sample.write(b)
    seed, settings_ = sample.read_settings(a / "generator.toml")
    assert (seed, settings_) == (2026, sample.SampleSettings())
    sample.write(c, seed, settings_)
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes() == (c / name).read_bytes(), name


def test_committed_sample_equals_a_fresh_write(tmp_path):
    sample.write(tmp_path)
    for name in FILES:
        committed = SAMPLE / name
        assert committed.is_file(), f"{committed} missing. Fix: run salesnb.data.sample.write()."
        assert committed.read_bytes() == (tmp_path / name).read_bytes(), (
            f"data/sample/{name} differs from a fresh sample.write(). Fix: regenerate it."
        )
    assert sum(p.stat().st_size for p in SAMPLE.iterdir()) < 6_000_000


def test_csv_format_is_canonical():
    text = (SAMPLE / "opportunities.csv").read_bytes().decode("utf-8")
    assert "\r" not in text and text.endswith("\n")
    assert text.splitlines()[0] == ",".join(columns("opportunities"))
    first = text.splitlines()[1].split(",")
    assert first[5].count(".") == 1 and len(first[5].split(".")[1]) == 2  # amount 2 decimals
    assert len(first[6]) == 10 and first[6][4] == "-"  # ISO date
    raw = (SAMPLE / "reps.csv").read_bytes()
    assert "Zoë O'Brien".encode() in raw and not raw.startswith(b"\xef\xbb\xbf")  # UTF-8, no BOM


def test_salesnb_toml_sets_as_of_currency_calendar_and_keeps_default_stages():
    cfg = load_config(SAMPLE)
    assert cfg.as_of == AS_OF
    assert cfg.currency == "USD" and cfg.calendar.start_month == 1
    assert cfg.stages == load_config().stages
    assert "[[stages]]" not in (SAMPLE / "salesnb.toml").read_text("utf-8")


def test_other_seed_gives_other_data():
    a = sample.generate(seed=1)["opportunities"]
    b = sample.generate(seed=2)["opportunities"]
    assert not a["amount"].head(50).equals(b["amount"].head(50))


def test_loader_reads_the_committed_sample_like_the_generator_made_it():
    io = pytest.importorskip("salesnb.data.io")
    if not hasattr(io, "load"):
        pytest.skip("salesnb.data.io.load is not written yet")
    wb = io.load(SAMPLE)
    fresh = sample.generate()
    for name in TABLES:
        got = wb.table(name)[columns(name)].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, fresh[name], check_dtype=False, check_exact=False)
    assert wb.as_of == AS_OF


# --------------------------------------------------------------------------- helpers


def test_pick_covers_the_need_with_little_overshoot():
    amount = np.array([5.0, 3.0, 8.0, 1.0])
    group = np.array([0, 0, 0, 1])
    # need 10 in group 0: no single item covers it, so largest first: 8 (0 before < 10),
    # 5 (8 before < 10), not 3 (13 >= 10). Group 1 (need 0.5): the 1 covers it alone.
    assert sorted(sample._pick(amount, group, np.array([10.0, 0.5]))) == [0, 2, 3]
    # need 4 in group 0: the smallest single cover is 5 (not 8, not 3 + 5)
    assert sorted(sample._pick(amount, group, np.array([4.0, 0.5]))) == [0, 3]
    # need 0 picks nothing
    assert len(sample._pick(amount, group, np.array([0.0, 0.0]))) == 0


def test_day_arithmetic():
    # 2026-09-30: ordinal 739889 - 719163 (1970-01-01) = 20726; (20726 + 3) % 7 = 2 = Wednesday
    day = sample._day(date(2026, 9, 30))
    assert day == 20726 and sample._weekday(np.array([day]))[0] == 2
    # Saturday 2026-10-03 (day 20729) and Sunday (20730) move back to Friday 20728
    assert list(sample._to_friday(np.array([20729, 20730, 20726]))) == [20728, 20728, 20726]


@pytest.mark.parametrize(
    "change, words",
    [
        ({"n_reps": 5}, "reps for 3 regions"),
        ({"star": "R99"}, "persona rep ids"),
        ({"new_hires": ("R16",)}, "new_hire_start_days_ago has 2 values"),
        ({"seasonality": (1.0,) * 11}, "seasonality"),
        ({"months": 6}, "months=6"),
    ],
)
def test_bad_settings_raise_parameter_errors_with_a_fix(change, words):
    with pytest.raises(ParameterError, match="Fix:") as err:
        sample.generate(settings=replace(sample.SampleSettings(), **change))
    assert words in str(err.value)


def test_read_settings_rejects_unknown_keys(tmp_path):
    path = tmp_path / "generator.toml"
    path.write_text("seed = 3\n[settings]\nreps = 30\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="unknown settings \\['reps'\\]"):
        sample.read_settings(path)


# --------------------------------------------------------------------------- structure


def test_team_structure_and_names(data):
    r = data["reps"]
    assert list(r["rep_id"]) == [f"R{i:02d}" for i in range(1, 31)]
    assert r["region"].nunique() == 3
    assert r.groupby("region")["manager"].nunique().eq(2).all()
    assert r["manager"].nunique() == 6 and r["team"].nunique() == 6
    assert {"Zoë O'Brien", "José Nuñez-García"} <= set(r["name"])
    assert r["name"].is_unique


def test_history_covers_36_months_and_targets_every_month(data):
    o, t = data["opportunities"], data["targets"]
    closed = o[o["outcome"] != "open"]
    months = closed["close_date"].dt.to_period("M")
    assert months.min() == pd.Period("2023-10", "M") and months.max() == pd.Period("2026-09", "M")
    assert months.nunique() == 36
    assert o["created_date"].max() <= AS_OF and closed["close_date"].max() <= AS_OF
    tenured = data["reps"].loc[data["reps"]["start_date"] < "2023-09-01", "rep_id"]
    per_rep = t[t["rep_id"].isin(tenured)].groupby("rep_id")["month"].nunique()
    assert per_rep.eq(39).all()  # Oct 2023 .. Dec 2026 = 36 + 3 months
    assert (t["month"].dt.day == 1).all() and t["region"].isna().all()
    assert 8_000 <= len(o) <= 12_500


def test_deals_are_internally_consistent(data):
    o = data["opportunities"]
    kind = load_config().stages.kind_of()
    assert o["opp_id"].is_unique
    assert (
        o["stage"].map(kind).map({"won": "won", "lost": "lost", "open": "open"}) == o["outcome"]
    ).all()
    closed = o[o["outcome"] != "open"]
    assert (closed["created_date"] <= closed["close_date"]).all()
    assert (o["last_activity_date"] >= o["created_date"]).all()
    assert (o["last_activity_date"] <= AS_OF).all()
    assert (o["amount"] > 0).all()
    assert set(_open(data)["forecast_category"]) == {"pipeline", "best_case", "commit", "omitted"}
    assert (closed["forecast_category"] == "omitted").all()
    # furthest stage: won deals went all the way, open deals are where they are, lost deals
    # were lost at every stage of the funnel
    assert (_won(data)["furthest_stage"] == "Negotiation").all()
    assert (_open(data)["furthest_stage"] == _open(data)["stage"]).all()
    lost = o[o["outcome"] == "lost"]
    assert set(lost["furthest_stage"]) == set(load_config().stages.open_names)
    assert o["product"].nunique() == 5
    assert set(o["source"]) == {"inbound", "outbound", "partner", "referral"}


def test_each_account_belongs_to_exactly_one_rep(data):
    o = data["opportunities"]
    assert o["account"].notna().all()
    assert o.groupby("account")["rep_id"].nunique().max() == 1
    assert o.groupby("account").size().max() > 1  # repeat customers exist


# --------------------------------------------------------------------------- situations


def test_seasonality_strong_q4_and_summer_dip(data):
    w = _won(data)
    by_q = w.groupby(w["close_date"].dt.to_period("Q"))["amount"].sum()
    q4 = by_q[by_q.index.quarter == 4]
    assert q4.mean() > 1.2 * by_q.mean()
    by_m = w.groupby(w["close_date"].dt.to_period("M"))["amount"].sum()
    summer = by_m[by_m.index.month.isin([7, 8])]
    assert summer.mean() < 0.8 * by_m.mean()


def test_reps_differ_in_win_rate_cycle_and_deal_size(data):
    o = data["opportunities"]
    keep = ~o["rep_id"].isin(P["new_hires"])
    closed = o[keep & (o["outcome"] != "open")]
    win_rate = closed.groupby("rep_id")["outcome"].apply(lambda s: (s == "won").mean())
    w = _won(data)
    w = w[~w["rep_id"].isin(P["new_hires"])]
    cycle = (w["close_date"] - w["created_date"]).dt.days.groupby(w["rep_id"]).median()
    size = w.groupby("rep_id")["amount"].mean()
    assert win_rate.max() - win_rate.min() > 0.12
    assert cycle.max() / cycle.min() > 1.8
    assert size.max() / size.min() > 2.0


def test_one_star_clearly_on_top(data):
    q = _quarterly(data).reset_index()
    q = q[q["quarter"].isin(LAST4)].groupby("rep_id")[["booked", "target"]].sum()
    att = q["booked"] / q["target"]
    assert att.idxmax() == P["star"]
    assert att[P["star"]] > 1.3
    assert (att.drop(P["star"]) < 1.3).all()


def test_two_sustained_under_performers(data):
    q = _quarterly(data).reset_index()
    q = q[q["quarter"].isin(LAST4)].pivot(index="rep_id", columns="quarter", values="att")
    full = q.dropna()  # reps with a target in each of the last 4 quarters
    below = full[(full < 0.7).all(axis=1)].index
    assert sorted(below) == sorted(P["under_performers"])


def test_two_new_hires_ramping_up(data):
    r = data["reps"].set_index("rep_id")
    recent = r[r["start_date"] > AS_OF - pd.Timedelta(days=183)].index
    assert sorted(recent) == sorted(P["new_hires"])
    w = _won(data)
    for rep in P["new_hires"]:
        start = r.loc[rep, "start_date"]
        mine = w[w["rep_id"] == rep]
        assert (data["opportunities"].query("rep_id == @rep")["created_date"] >= start).all()
        middle = start + pd.Timedelta(days=(AS_OF - start).days // 2)  # whole days
        first = mine.loc[mine["close_date"] < middle, "amount"].sum()
        second = mine.loc[mine["close_date"] >= middle, "amount"].sum()
        assert second > first and second > 0
        assert (_open(data)["rep_id"] == rep).sum() >= 3  # building a pipeline


def test_one_rep_with_an_almost_empty_pipeline(data):
    n_open = _open(data).groupby("rep_id").size().reindex(data["reps"]["rep_id"], fill_value=0)
    assert n_open[P["empty_pipeline"]] <= 2
    assert (n_open.drop(P["empty_pipeline"]) >= 3).all()  # everyone else has a pipeline
    assert n_open.drop(P["empty_pipeline"]).median() >= 10


def test_typical_rep_is_near_target_every_quarter(data):
    q = _quarterly(data).loc[P["typical"]]
    assert q.loc[LAST4, "att"].between(0.7, 1.4).all()


def test_stale_and_past_due_open_deals(data):
    op = _open(data)
    stale = op["last_activity_date"] < AS_OF - pd.Timedelta(days=30)
    past_due = op["close_date"] < AS_OF
    assert stale.sum() >= 20 and past_due.sum() >= 20
    assert stale.mean() < 0.3 and past_due.mean() < 0.3  # problems, not the norm


def test_deals_slipped_out_of_the_quarter_between_snapshots(data):
    s = data["snapshots"].sort_values(["opp_id", "as_of"])
    prev_close = s.groupby("opp_id")["close_date"].shift()
    prev_asof = s.groupby("opp_id")["as_of"].shift()
    in_quarter = prev_close.dt.to_period("Q") == prev_asof.dt.to_period("Q")
    slipped = in_quarter & (s["close_date"].dt.to_period("Q") > prev_close.dt.to_period("Q"))
    assert s.loc[slipped, "opp_id"].nunique() >= 20


def test_snapshots_are_weekly_and_replay_the_deals_history(data):
    s, o = data["snapshots"], data["opportunities"].set_index("opp_id")
    dates = pd.Series(sorted(s["as_of"].unique()))
    assert len(dates) >= 26
    assert dates.diff().dropna().eq(pd.Timedelta(days=7)).all()
    assert dates.dt.day_of_week.nunique() == 1
    assert AS_OF - pd.Timedelta(days=7) < dates.iloc[-1] <= AS_OF
    assert (dates.iloc[0] <= pd.Timestamp("2026-04-01")) and s.duplicated(
        ["as_of", "opp_id"]
    ).sum() == 0
    deal = o.loc[s["opp_id"]]
    closed = deal["outcome"].to_numpy() != "open"
    # a closed deal is open in snapshots before its close day and never on or after it
    assert (s["as_of"].to_numpy()[closed] < deal["close_date"].to_numpy()[closed]).all()
    assert (s["as_of"].to_numpy() >= deal["created_date"].to_numpy()).all()
    assert (s["rep_id"].to_numpy() == deal["rep_id"].to_numpy()).all()
    # ... and every deal open on a snapshot day is in that snapshot
    expected = 0
    for day in dates:
        alive = (o["created_date"] <= day) & ((o["outcome"] == "open") | (o["close_date"] > day))
        expected += int(alive.sum())
    assert expected == len(s)
    # stages only move forward
    order = load_config().stages.order_of()
    rank = s.sort_values(["opp_id", "as_of"]).assign(k=lambda x: x["stage"].map(order))
    assert (rank.groupby("opp_id")["k"].diff().dropna() >= 0).all()
    assert set(s["stage"]) <= set(load_config().stages.open_names)


def test_activities_are_weekly_and_track_deal_creation(data):
    a, o = data["activities"], data["opportunities"]
    assert (a["date"].dt.day_of_week == 0).all()
    assert set(a["type"]) == {"call", "email", "meeting", "demo"}
    assert (a["count"] >= 0).all()
    assert a.groupby(["rep_id", "date"]).size().eq(4).all()
    calls = a[a["type"] == "call"].set_index(["rep_id", "date"])["count"]
    week = o["created_date"] - pd.to_timedelta(o["created_date"].dt.day_of_week, unit="D")
    created = o.groupby([o["rep_id"], week.rename("date")]).size()
    both = pd.concat({"calls": calls, "created": created}, axis=1).dropna()
    assert both["calls"].corr(both["created"]) > 0.3
    # activity-to-opportunity conversion: the star needs fewer calls per deal
    per_call = both.groupby(level="rep_id").sum()
    conv = per_call["created"] / per_call["calls"]
    assert all(conv[P["star"]] > conv[u] for u in P["under_performers"])


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_any_seed_keeps_the_invariants(seed):
    t = sample.generate(seed=seed)
    o, s = t["opportunities"], t["snapshots"]
    assert o["opp_id"].is_unique and (o["amount"] > 0).all()
    assert (o["created_date"] <= AS_OF).all()
    assert o.groupby("account")["rep_id"].nunique().max() == 1
    closed = o[o["outcome"] != "open"].set_index("opp_id")
    hit = s[s["opp_id"].isin(closed.index)]
    assert (hit["as_of"].to_numpy() < closed.loc[hit["opp_id"], "close_date"].to_numpy()).all()
    assert (o["outcome"] == "open").groupby(o["rep_id"]).sum()[P["empty_pipeline"]] <= 2

"""Tests of salesnb.forecast.backtest: rolling-origin scores and the pipeline backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesnb.core.errors import NotEnoughDataError
from salesnb.data.config import load_config
from salesnb.data.model import Workbook, empty_table
from salesnb.forecast.backtest import (
    backtest_history,
    backtest_pipeline,
    pipeline_scores,
    summarise,
)


def series(values) -> pd.Series:
    values = np.asarray(values, dtype=float)
    return pd.Series(values, index=pd.period_range("2022-01", periods=len(values), freq="M"))


def test_drift_is_perfect_on_a_line_and_naive_is_not():
    bt = backtest_history(series(10.0 + 2.0 * np.arange(20)), 3, 4, methods=["drift"])
    assert bt.benchmark == "naive"  # under 24 months at every origin
    s = bt.summary
    assert s.loc["drift", "mase"] == pytest.approx(0.0, abs=1e-9)
    # naive misses by 2, 4, 6 at steps 1-3 with in-sample naive MAE 2 -> MASE (1+2+3)/3 = 2
    assert s.loc["naive", "mase"] == pytest.approx(2.0)
    assert s.loc["naive", "rel_mase"] == pytest.approx(1.0)
    assert s.loc["naive", "n"] == 12
    # bias = sum(f - a) / sum(a) is negative for naive on a rising line
    assert s.loc["naive", "bias"] < 0


def test_seasonal_naive_is_the_benchmark_with_two_years():
    y = np.tile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0], 3)
    bt = backtest_history(series(y), 3, 3, methods=["mean"])
    assert bt.benchmark == "snaive"
    assert bt.summary.loc["snaive", "mase"] == pytest.approx(0.0)
    assert bt.summary.loc["mean", "mase"] > 0


def test_summarise_hand_computed():
    f = pd.DataFrame(
        {
            "method": ["naive", "naive", "m", "m"],
            "origin": ["a", "b", "a", "b"],
            "step": [1, 1, 1, 1],
            "forecast": [10.0, 10.0, 12.0, 9.0],
            "actual": [12.0, 8.0, 12.0, 8.0],
            "lower": [9.0, 9.0, 11.0, 8.5],
            "upper": [11.0, 11.0, 13.0, 9.5],
            "scale": [2.0, 2.0, 2.0, 2.0],
        }
    )
    s = summarise(f, "naive")
    # naive |e| / scale = 1, 1 -> 1; m: 0, 0.5 -> 0.25; rel = 0.25
    assert s.loc["naive", "mase"] == pytest.approx(1.0)
    assert s.loc["m", "mase"] == pytest.approx(0.25)
    assert s.loc["m", "rel_mase"] == pytest.approx(0.25)
    # m bias: (0 + 1) / 20; coverage: 12 in [11, 13], 8 not in [8.5, 9.5] -> 0.5
    assert s.loc["m", "bias"] == pytest.approx(0.05)
    assert s.loc["m", "coverage"] == pytest.approx(0.5)
    assert s.loc["naive", "coverage"] == pytest.approx(0.0)


def test_too_short_for_a_backtest_raises():
    with pytest.raises(NotEnoughDataError, match="Fix"):
        backtest_history(series([1.0, 2.0, 3.0, 4.0]), 3, 3)


def test_pipeline_scores_brier_hand_computed():
    bt = pd.DataFrame(
        {
            "view": ["pipeline"] * 2,
            "expected": [90.0, 110.0],
            "p10": [80.0, 100.0],
            "p90": [100.0, 120.0],
            "actual": [100.0, 100.0],
            "p_attain": [0.2, 0.9],
            "hit": [True, False],
        }
    )
    s = pipeline_scores(bt).loc["pipeline"]
    assert s["brier"] == pytest.approx(((0.2 - 1) ** 2 + 0.9**2) / 2)
    assert s["bias"] == pytest.approx(0.0)  # (-10 + 10) / 200
    assert s["coverage_80"] == pytest.approx(1.0)


def _wb_with_snapshots() -> Workbook:
    reps = pd.DataFrame(
        {
            "rep_id": ["R1"],
            "name": ["Ann"],
            "manager": ["M"],
            "region": ["W"],
            "team": ["W"],
            "start_date": pd.to_datetime(["2025-01-01"]),
        }
    ).astype({c: "str" for c in ("rep_id", "name", "manager", "region", "team")})
    base = empty_table("opportunities")
    o = pd.DataFrame(
        {
            "opp_id": ["A", "B", "C"],
            "rep_id": ["R1"] * 3,
            "stage": ["Closed Won", "Closed Lost", "Closed Won"],
            "amount": [100.0, 50.0, 70.0],
            "created_date": pd.to_datetime(["2025-01-05", "2025-01-10", "2025-02-01"]),
            "close_date": pd.to_datetime(["2025-03-20", "2025-03-25", "2025-05-10"]),
            "outcome": ["won", "lost", "won"],
            "furthest_stage": ["Negotiation", "Demo", "Negotiation"],
        }
    )
    for c in base.columns:
        if c not in o:
            o[c] = pd.Series([None] * len(o), dtype=base[c].dtype)
    o = o[base.columns].astype(base.dtypes.to_dict())
    snaps = pd.DataFrame(
        {
            "as_of": pd.to_datetime(["2025-03-03", "2025-03-03", "2025-04-07"]),
            "opp_id": ["A", "B", "C"],
            "rep_id": ["R1"] * 3,
            "stage": ["Proposal", "Demo", "Negotiation"],
            "amount": [100.0, 50.0, 70.0],
            "close_date": pd.to_datetime(["2025-03-28", "2025-03-28", "2025-05-15"]),
            "forecast_category": ["commit", "pipeline", "commit"],
        }
    ).astype({"opp_id": "str", "rep_id": "str", "stage": "str", "forecast_category": "str"})
    targets = pd.DataFrame(
        {
            "rep_id": ["R1"] * 6,
            "region": [None] * 6,
            "month": pd.date_range("2025-01-01", periods=6, freq="MS"),
            "amount": [40.0] * 6,
        }
    ).astype({"rep_id": "str", "region": "str"})
    cfg = load_config(overrides={"as_of": pd.Timestamp("2025-07-15")})
    return Workbook(reps=reps, opportunities=o, config=cfg, snapshots=snaps, targets=targets)


def test_backtest_pipeline_scores_ended_quarters_only():
    wb = _wb_with_snapshots()
    bt = backtest_pipeline(wb, n_sims=500)
    assert list(bt["quarter"]) == ["FY2025-Q1", "FY2025-Q2"]
    # Q1 closed-won: A = 100; Q2: C = 70. Targets: 3 x 40 = 120 per quarter.
    assert list(bt["actual"]) == [100.0, 70.0]
    assert list(bt["target"]) == [120.0, 120.0]
    assert list(bt["hit"]) == [False, False]
    assert bt["p_attain"].between(0, 1).all()
    s = pipeline_scores(bt)
    assert 0 <= s.loc["pipeline", "brier"] <= 1


def test_backtest_pipeline_needs_snapshots():
    wb = _wb_with_snapshots()
    wb.snapshots = empty_table("snapshots")
    with pytest.raises(NotEnoughDataError, match="snapshots"):
        backtest_pipeline(wb)


def test_backtest_many_matches_backtest_history_for_fixed_methods():
    from salesnb.forecast.backtest import backtest_many

    rng = np.random.default_rng(5)
    wide = pd.DataFrame(
        {
            "a": 100 + rng.normal(0, 10, 20).cumsum(),
            "b": np.r_[np.full(4, np.nan), 50 + rng.normal(0, 5, 16)],
        },
        index=pd.period_range("2022-01", periods=20, freq="M"),
    )
    many = backtest_many(wide, 3, 4, methods=["mean", "drift"]).forecasts
    for c in wide:
        one = backtest_history(wide[c], 3, 4, methods=["mean", "drift"]).forecasts
        got = many[many["subject"] == c].drop(columns="subject").reset_index(drop=True)
        cols = ["method", "origin", "step", "forecast", "actual", "lower", "upper", "scale"]
        one = one.sort_values(["method", "origin", "step"]).reset_index(drop=True)
        got = got.sort_values(["method", "origin", "step"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(got[cols], one[cols])


def test_backtest_many_pools_auto_and_skips_short_subjects():
    from salesnb.forecast.backtest import backtest_many

    rng = np.random.default_rng(8)
    idx = pd.period_range("2022-01", periods=30, freq="M")
    wide = pd.DataFrame({f"s{i}": 1000 + rng.normal(0, 100, 30) for i in range(4)}, index=idx)
    wide["new"] = np.r_[np.full(26, np.nan), np.ones(4)]
    r = backtest_many(wide, 3, 3, methods=["auto"])
    assert set(r.forecasts["subject"]) == {"s0", "s1", "s2", "s3"}
    auto = r.forecasts[r.forecasts["method"] == "auto"]
    # one choice of families per origin for all subjects (AR orders may differ per subject)
    families = auto["chosen"].str.replace(r"\([^()+]*\)(\[12\])?", "", regex=True)
    assert (families.groupby(auto["origin"]).nunique() == 1).all()
    assert families.str.fullmatch(r"combo\(\w+(\+\w+){1,2}\)").all()
    assert auto["chosen"].str.startswith("combo(").all()
    with pytest.raises(NotEnoughDataError, match="lower n_origins"):
        backtest_many(wide[["new"]], 3, 3)

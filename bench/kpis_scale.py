"""Benchmark: the KPI table by rep and month on 1,000,000 opportunities, beside DuckDB SQL.

Generates a seeded synthetic workbook (1,000 reps, 1,000,000 opportunities over three years),
times ``salesnb.analytics.kpis.kpi_table(wb, by="rep", freq="M")`` and the same aggregates written as one
DuckDB SQL query in the same process, checks that both give the same numbers, and prints both times
(best of ``--repeat`` runs), the ratio and the process's peak memory after the salesnb run (before
DuckDB is touched, so the figure is salesnb's plus the data's).

Run: ``python bench/kpis_scale.py [--rows 1000000] [--reps 1000] [--repeat 3]``.
DuckDB is a benchmark-only dependency (``pip install duckdb``).
Goal: within 2x of DuckDB and under 2 GB.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
import pandas as pd

from salesnb.analytics import kpis
from salesnb.data.config import load_config
from salesnb.data.model import Workbook

AS_OF = pd.Timestamp("2025-12-31")


def generate(n: int, n_reps: int, seed: int = 7) -> Workbook:
    """A synthetic workbook with ``n`` opportunities spread over ``n_reps`` reps (vectorised)."""
    rng = np.random.default_rng(seed)
    cfg = load_config(overrides={"as_of": str(AS_OF.date())})
    rep_ids = np.array([f"R{i:04d}" for i in range(n_reps)], dtype=object)
    reps = pd.DataFrame(
        {
            "rep_id": pd.Series(rep_ids, dtype="str"),
            "name": pd.Series([f"Rep {i}" for i in range(n_reps)], dtype="str"),
            "manager": pd.Series([f"M{i // 20:02d}" for i in range(n_reps)], dtype="str"),
            "region": pd.Series([f"Region {i % 10}" for i in range(n_reps)], dtype="str"),
            "team": pd.Series([f"Team {i % 40}" for i in range(n_reps)], dtype="str"),
            "start_date": pd.Timestamp("2020-01-01"),
        }
    )
    # Reps differ in volume: a skewed share of deals per rep, as in real teams.
    weight = rng.gamma(2.0, 1.0, n_reps)
    rep = rng.choice(n_reps, size=n, p=weight / weight.sum())
    created = pd.Timestamp("2023-01-01").to_datetime64() + rng.integers(0, 3 * 365, n).astype(
        "timedelta64[D]"
    )
    u = rng.random(n)
    outcome = np.where(u < 0.25, "won", np.where(u < 0.6, "lost", "open")).astype(object)
    cycle = rng.gamma(2.0, 30.0, n).astype(np.int64).astype("timedelta64[D]")
    as_of = AS_OF.to_datetime64()
    close = np.minimum(created + cycle, as_of)
    is_open = outcome == "open"
    # Open deals: expected close from two months ago (past due) to six months ahead.
    close[is_open] = as_of + rng.integers(-60, 180, is_open.sum()).astype("timedelta64[D]")
    stages = cfg.stages
    open_names = np.array(stages.open_names, dtype=object)
    stage = np.where(
        outcome == "won",
        stages.won_name,
        np.where(outcome == "lost", stages.lost_name, open_names[rng.integers(0, 5, n)]),
    ).astype(object)
    opps = pd.DataFrame(
        {
            "opp_id": "O" + pd.Series(np.arange(n), dtype="int64").astype("str"),
            "rep_id": pd.Series(rep_ids[rep], dtype="str"),
            "account": pd.Series(np.char.add("A", rng.integers(0, 50_000, n).astype(str)),
                                 dtype="str"),
            "product": pd.Series(np.array(["P1", "P2", "P3"], dtype=object)[rng.integers(0, 3, n)],
                                 dtype="str"),
            "stage": pd.Series(stage, dtype="str"),
            "amount": np.round(rng.lognormal(9.0, 1.0, n), 2),
            "created_date": created.astype("datetime64[ns]"),
            "close_date": close.astype("datetime64[ns]"),
            "outcome": pd.Series(outcome, dtype="str"),
            "forecast_category": pd.Series("pipeline", index=range(n), dtype="str"),
            "source": pd.Series("inbound", index=range(n), dtype="str"),
            "furthest_stage": pd.Series(open_names[rng.integers(0, 5, n)], dtype="str"),
            "last_activity_date": created.astype("datetime64[ns]"),
        }
    )  # fmt: skip
    return Workbook(reps, opps, cfg, source="synthetic")


SQL = """
WITH o AS (
    SELECT rep_id, outcome, amount, stage, created_date, close_date
    FROM opps WHERE created_date <= $as_of
), closed AS (
    SELECT rep_id, strftime(close_date, '%Y-%m') AS period,
        count(*) FILTER (WHERE outcome = 'won') AS won_deals,
        count(*) FILTER (WHERE outcome = 'lost') AS lost_deals,
        coalesce(sum(amount) FILTER (WHERE outcome = 'won'), 0) AS bookings,
        coalesce(sum(amount) FILTER (WHERE outcome = 'lost'), 0) AS lost_amount,
        median(date_diff('day', created_date, close_date)) FILTER (WHERE outcome = 'won')
            AS median_cycle_days
    FROM o WHERE outcome IN ('won', 'lost') AND close_date <= $as_of
    GROUP BY ALL
), pipe AS (
    SELECT rep_id, strftime(close_date, '%Y-%m') AS period, count(*) AS open_deals,
        sum(amount) AS pipeline, sum(amount * p.probability) AS weighted_pipeline
    FROM o JOIN probs AS p USING (stage)
    WHERE outcome = 'open'
    GROUP BY ALL
), created AS (
    SELECT rep_id, strftime(created_date, '%Y-%m') AS period, count(*) AS created_deals
    FROM o GROUP BY ALL
)
SELECT rep_id, period, won_deals, lost_deals, bookings, lost_amount,
    won_deals / nullif(won_deals + lost_deals, 0) AS win_rate,
    bookings / nullif(bookings + lost_amount, 0) AS win_rate_value,
    bookings / nullif(won_deals, 0) AS avg_deal_size,
    median_cycle_days, open_deals, pipeline, weighted_pipeline, created_deals
FROM closed FULL JOIN pipe USING (rep_id, period) FULL JOIN created USING (rep_id, period)
"""


def run_duckdb(wb: Workbook) -> pd.DataFrame:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads TO 2")
    probs = pd.DataFrame(
        {"stage": list(wb.config.stages.probability_of()),
         "probability": list(wb.config.stages.probability_of().values())}
    )  # fmt: skip
    con.register("opps", wb.opportunities)
    con.register("probs", probs)
    return con.execute(SQL, {"as_of": AS_OF.date()}).df()


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def compare(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    """Raise AssertionError unless both tables hold the same numbers."""
    cols = [c for c in theirs.columns if c not in ("rep_id", "period")]
    theirs = theirs.astype({"rep_id": "str", "period": "str"})
    m = ours.merge(theirs, on=["rep_id", "period"], how="left", suffixes=("", "_db"),
                   indicator=True)  # fmt: skip
    missing = len(theirs) - (m["_merge"] == "both").sum()
    assert missing == 0, f"{missing} DuckDB cells are not in the salesnb table"
    counts = {"won_deals", "lost_deals", "open_deals", "created_deals"}
    sums = {"bookings", "lost_amount", "pipeline", "weighted_pipeline"}
    for c in cols:
        db = m[f"{c}_db"].astype(float)
        if c in counts | sums:
            db = db.fillna(0.0)  # DuckDB leaves empty cells out (or NULL after the full join)
        a, b = m[c].astype(float).to_numpy(), db.to_numpy()
        ok = np.isclose(a, b, rtol=1e-9, atol=1e-6) | (np.isnan(a) & np.isnan(b))
        assert ok.all(), f"{c}: {(~ok).sum()} cells differ, e.g. {a[~ok][:3]} vs {b[~ok][:3]}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    wb = generate(args.rows, args.reps)
    print(f"generated {len(wb.opportunities):,} opportunities for {len(wb.reps):,} reps "
          f"in {time.perf_counter() - t0:.1f} s")  # fmt: skip

    ours_s, ours = best_of(lambda: kpis.kpi_table(wb, by="rep", freq="M"), args.repeat)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # Linux: KiB
    db_s, theirs = best_of(lambda: run_duckdb(wb), args.repeat)
    compare(ours, theirs)
    print(
        f"salesnb table: {len(ours):,} rows (every rep x month); duckdb: {len(theirs):,} rows; "
        "same numbers"
    )
    ratio = ours_s / db_s
    print(
        f"kpis_scale: salesnb {ours_s:.2f} s, duckdb {db_s:.2f} s, ratio {ratio:.2f}x, "
        f"peak {peak_gb:.1f} GB"
    )
    return 0 if ratio <= 2.0 and peak_gb < 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())

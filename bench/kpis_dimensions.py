"""Benchmark: the KPI table by rep x product x month on 1,000,000 deals, beside DuckDB SQL.

Builds the same seeded synthetic workbook as ``kpis_scale.py`` (1,000 reps, three products,
1,000,000 opportunities over three years), times
``salesnb.analytics.dimensions.kpis_by(wb, "rep,product", freq="M")`` and the same table written
as one DuckDB SQL query in the same process, checks that both give the same numbers, and prints
both times (best of ``--repeat`` runs), the ratio and the process's peak memory after the salesnb
run (before DuckDB is touched, so the figure is salesnb's plus the data's).

Run: ``python bench/kpis_dimensions.py [--rows 1000000] [--reps 1000] [--repeat 3]``.
DuckDB is a benchmark-only dependency (``pip install duckdb``).
Goal (issue 22): within 2x of DuckDB and under 2 GB.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
import pandas as pd
from kpis_scale import AS_OF, best_of, generate

from salesnb.analytics.dimensions import kpis_by
from salesnb.data.model import Workbook

# Every deal created by as-of counts in the month of its close date; the data has no deal
# closed after as-of (kpis_scale.generate), so the as-of view is the table itself.
SQL = """
SELECT rep_id, product, strftime(close_date, '%Y-%m') AS period,
    count(*) FILTER (WHERE outcome = 'won') AS won_deals,
    count(*) FILTER (WHERE outcome = 'lost') AS lost_deals,
    coalesce(sum(amount) FILTER (WHERE outcome = 'won'), 0) AS bookings,
    coalesce(sum(amount) FILTER (WHERE outcome = 'lost'), 0) AS lost_amount,
    count(*) FILTER (WHERE outcome = 'won')
        / nullif(count(*) FILTER (WHERE outcome IN ('won', 'lost')), 0) AS win_rate,
    coalesce(sum(amount) FILTER (WHERE outcome = 'won'), 0)
        / nullif(sum(amount) FILTER (WHERE outcome IN ('won', 'lost')), 0) AS win_rate_value,
    avg(amount) FILTER (WHERE outcome = 'won') AS avg_deal_size,
    median(date_diff('day', created_date, close_date)) FILTER (WHERE outcome = 'won')
        AS median_cycle_days,
    count(*) FILTER (WHERE outcome = 'open') AS open_deals,
    coalesce(sum(amount) FILTER (WHERE outcome = 'open'), 0) AS pipeline
FROM opps WHERE created_date <= $as_of
GROUP BY ALL
ORDER BY rep_id, product, period
"""


def run_duckdb(wb: Workbook) -> pd.DataFrame:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads TO 2")
    con.register("opps", wb.opportunities)
    return con.execute(SQL, {"as_of": AS_OF.date()}).df()


def compare(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    """Raise AssertionError unless both tables have the same cells and numbers."""
    keys = ["rep_id", "product", "period"]
    assert len(ours) == len(theirs), f"{len(ours):,} salesnb rows, {len(theirs):,} duckdb rows"
    theirs = theirs.astype({k: "str" for k in keys})
    m = ours.astype({k: "str" for k in keys}).merge(
        theirs, on=keys, how="outer", suffixes=("", "_db"), indicator=True
    )
    alone = (m["_merge"] != "both").sum()
    assert alone == 0, f"{alone} cells are in one table only"
    for c in [c for c in theirs.columns if c not in keys]:
        a, b = m[c].astype(float).to_numpy(), m[f"{c}_db"].astype(float).to_numpy()
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

    ours_s, ours = best_of(lambda: kpis_by(wb, "rep,product", freq="M"), args.repeat)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # Linux: KiB
    db_s, theirs = best_of(lambda: run_duckdb(wb), args.repeat)
    compare(ours, theirs)
    print(f"table: {len(ours):,} rows (rep x product x month with a deal closing); same numbers")
    ratio = ours_s / db_s
    print(
        f"kpis_dimensions: salesnb {ours_s:.2f} s, duckdb {db_s:.2f} s, ratio {ratio:.2f}x, "
        f"peak {peak_gb:.1f} GB"
    )
    return 0 if ratio <= 2.0 and peak_gb < 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())

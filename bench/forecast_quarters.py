"""Quarter totals as forecast documents show them: forecast at the start of each quarter.

Run from the repository root (about two minutes on the sample on a quiet 2-core machine):

    .venv/bin/python bench/forecast_quarters.py                # data/sample
    .venv/bin/python bench/forecast_quarters.py --data DIR     # another data directory

For every quarter of the history with a year of data before it, every subject of each level
(rep, manager, region, the whole team) is forecast from its monthly bookings up to the day
before the quarter starts, the three months summed, and compared with what was booked:

* ``own season``: the automatic pooled choice of ``forecast_many`` on each subject's own
  series (the method before seasonality was borrowed; ``parent=None``);
* ``team season``: the same with the whole team's seasonal pattern borrowed
  (``parent=team_series(wb)``, what ``period_forecast`` does below the whole team);
* ``seasonal naive``: the same quarter last year.

Scores per level: MASE of the quarter totals (absolute error over the subject's in-sample
mean absolute change from the same quarter a year before, or from the previous quarter when
there is no year-over-year change yet), and the relative MAE against seasonal naive on the
same quarters (below 1 beats it). Origins from which the team series has two years (needed
to borrow) are also scored alone ("borrowing origins"), since before them both methods are
the same.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from salesnb.data import io
from salesnb.forecast.combined import forecast_many, monthly_bookings, team_series
from salesnb.forecast.models import MIN_SEASONAL

LEVELS = ("rep", "manager", "region", None)


def _scale(q: pd.Series) -> float:
    """In-sample mean absolute change of quarter totals: year over year, else quarter."""
    v = q.to_numpy()
    for lag in (4, 1):
        if len(v) > lag:
            d = np.abs(v[lag:] - v[:-lag]).mean()
            if d > 0:
                return float(d)
    return float(np.abs(v).mean()) or 1.0


def quarter_rows(
    wb, by, origins: list[pd.Timestamp], team: pd.Series, all_origins: bool = False
) -> pd.DataFrame:
    """One row per (subject, quarter): actual, the two forecasts, seasonal naive, scale."""
    full = monthly_bookings(wb, by=by, as_of=wb.as_of)
    rows = []
    for as_of in origins:
        last = as_of.to_period("M")
        wide = full.loc[:last].dropna(axis=1, how="all")
        wide = wide.loc[:, wide.notna().sum() >= 4]
        if wide.empty:
            continue
        q_months = pd.period_range(last + 1, periods=3, freq="M")
        if q_months[-1] > full.index[-1]:
            continue
        if len(team.loc[:last].dropna()) < MIN_SEASONAL and not all_origins:
            continue
        own = forecast_many(wide, 3, levels=(0.8,))
        # the whole team "borrows" its own pattern: its indices on its own level
        borrowed = forecast_many(wide, 3, levels=(0.8,), parent=team)
        for c in wide.columns:
            s = wide[c].dropna()
            qs = s.groupby(s.index.asfreq("Q")).sum()
            qs = qs[s.groupby(s.index.asfreq("Q")).size() == 3]  # whole quarters only
            if len(s) < 12:
                continue
            actual = float(full.loc[q_months, c].sum())
            snaive = (
                float(s.loc[q_months - 12].sum()) if (q_months - 12)[0] >= s.index[0] else np.nan
            )
            rows.append(
                {
                    "level": by or "team",
                    "subject": c,
                    "quarter": str(q_months[0].asfreq("Q")),
                    "borrowing": len(team.loc[:last].dropna()) >= MIN_SEASONAL,
                    "actual": actual,
                    "own season": float(own[c].mean.sum()) if own[c].ok else np.nan,
                    "team season": float(borrowed[c].mean.sum()) if borrowed[c].ok else np.nan,
                    "seasonal naive": snaive,
                    "scale": _scale(qs),
                }
            )
    return pd.DataFrame(rows)


def score(rows: pd.DataFrame) -> pd.DataFrame:
    """MASE per method and relative MAE against seasonal naive, per level."""
    methods = ["own season", "team season", "seasonal naive"]
    r = rows.dropna(subset=methods)
    out = []
    for level, g in r.groupby("level", sort=False):
        rec = {"level": level, "quarters": len(g)}
        for m in methods:
            rec[f"MASE {m}"] = float((np.abs(g[m] - g["actual"]) / g["scale"]).mean())
        base = np.abs(g["seasonal naive"] - g["actual"]).sum()
        for m in methods[:2]:
            rec[f"vs snaive {m}"] = float(np.abs(g[m] - g["actual"]).sum() / base)
        out.append(rec)
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "data" / "sample"))
    ap.add_argument(
        "--all-origins",
        action="store_true",
        help="also score origins where the team has under two years (both methods the same)",
    )
    ap.add_argument("--index-prior", type=float, default=None, help="override INDEX_PRIOR")
    args = ap.parse_args(argv)
    if args.index_prior is not None:
        import salesnb.forecast.seasonal as fs

        fs.INDEX_PRIOR = args.index_prior
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    wb = io.load(Path(args.data))
    team = team_series(wb, wb.as_of)
    cal = wb.config.calendar
    first = team.first_valid_index()
    # quarter starts with at least a year of data before them, up to the last whole quarter
    starts = sorted(
        {cal.period_bounds(str(cal.period_label(m.start_time, "Q")))[0] for m in team.index}
    )
    origins = [s - pd.Timedelta(days=1) for s in starts if (s.to_period("M") - first).n >= 12]
    rows = pd.concat(
        [quarter_rows(wb, by, origins, team, args.all_origins) for by in LEVELS],
        ignore_index=True,
    )
    pd.set_option("display.width", 160)
    print(f"data: {args.data}; quarter origins: {[f'{o:%Y-%m-%d}' for o in origins]}")
    if args.all_origins:
        print("\nAll origins:")
        print(score(rows).round(3).to_string(index=False))
    print("\nOrigins where the team series has two years (borrowing applies):")
    sc = score(rows[rows["borrowing"]]).set_index("level")
    print(sc.round(3).reset_index().to_string(index=False))

    def per(col: str) -> str:
        return " / ".join(f"{v:.3f}" for v in sc[col])

    print(
        f"\nforecast_quarters: quarter-total MASE per {' / '.join(sc.index)} at the borrowing "
        f"origins: team season {per('MASE team season')}, own season "
        f"{per('MASE own season')}, seasonal naive {per('MASE seasonal naive')}; "
        f"{time.perf_counter() - t0:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""P(target) as documents show it: the raw simulated share and the pooled calibration map.

Run from the repository root:

    .venv/bin/python bench/forecast_chance.py                 # sample + public set
    .venv/bin/python bench/forecast_chance.py --data sample --jobs 2 --csv /tmp/chance.csv

The same origins as ``bench/forecast_documents.py`` (every rep, manager, region and the team,
the day before each quarter and the 15th of its second month, quarters with the lagged
quarter in the data), asking ``period_forecast`` for each and reading two probabilities:

* ``raw``: the share of the document's simulated quarters reaching target;
* ``after``: :func:`salesnb.forecast.chance.target_chance` (pooled map from replayed past
  quarters before the as-of date; NaN, shown as "not calibrated", when too thin).

Scores per level and as-of kind (Brier and log score, lower is better) against the
bench's two baselines (``forecast_documents.py``): the constant base rate of the data set's
scored forecasts (known only looking back, which flatters it) and last year's same-quarter
attainment ``(k + 0.5) / (n + 1)``. ``after`` is scored on the forecasts where it gives a
number, and every other column on the same forecasts; ``shown`` says how many.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from forecast_documents import BINS, LEVELS, MIN_MONTHS, add_truth, load, members, origins

from salesnb.forecast.chance import target_chance
from salesnb.forecast.combined import monthly_bookings, period_forecast
from salesnb.forecast.ptarget import brier, log_score

_WB: dict[str, object] = {}


def origin_rows(name: str, o: dict, n_sims: int) -> list[dict]:
    """The two probabilities of every subject with a target at one origin."""
    warnings.simplefilter("ignore")
    if name not in _WB:
        _WB[name] = load(name)
    wb = _WB[name]
    rows = []
    for st, by, level in LEVELS:
        wide = monthly_bookings(wb, by=by, as_of=o["as_of"])
        for subject in members(wb, st):
            col = "all" if st == "all" else subject
            if col not in wide.columns or wide[col].notna().sum() < MIN_MONTHS:
                continue
            pf = period_forecast(wb, st, None if st == "all" else subject, o["quarter"],
                                 o["as_of"], n_sims=n_sims)  # fmt: skip
            if not pf.target:
                continue
            ch = target_chance(wb, pf)
            rows.append({"level": level, "subject": subject, "quarter": o["quarter"],
                         "kind": o["kind"], "target": pf.target, "already_won": pf.already_won,
                         "raw": pf.p_attain_raw, "after": ch.p,
                         "quarters": ch.map.get("quarters", 0),
                         "pooled": ch.map.get("n_pooled", 0)})  # fmt: skip
    return rows


def scores(r: pd.DataFrame) -> pd.DataFrame:
    """Brier and log score per as-of kind and level, on the forecasts ``after`` gives."""
    base_rate = float(r["hit"].mean())
    out = []
    for (kind, level), g in r.groupby(["kind", "level"], sort=False):
        s = g[np.isfinite(g["after"])]
        y = s["hit"].to_numpy(float)
        rec = {"as of": kind, "level": level, "n": len(g), "shown": len(s)}
        cols = {"after": s["after"], "raw": s["raw"],
                "base": np.full(len(s), base_rate), "last yr": s["p_last"]}  # fmt: skip
        for k, p in cols.items():
            rec[f"Brier {k}"] = brier(p, y) if len(s) else np.nan
        for k, p in cols.items():
            rec[f"log {k}"] = log_score(p, y) if len(s) else np.nan
        yall = g["hit"].to_numpy(float)
        rec["Brier raw, all"] = brier(g["raw"], yall)
        rec["Brier base, all"] = brier(np.full(len(g), base_rate), yall)
        out.append(rec)
    return pd.DataFrame(out)


def reliability(r: pd.DataFrame, col: str) -> pd.DataFrame:
    """Bins of predicted probability against the observed share, levels pooled, per kind."""
    p = r[np.isfinite(r[col])].copy()
    p["bin"] = pd.cut(p[col], BINS, include_lowest=True)
    t = p.groupby(["kind", "bin"], observed=True).agg(
        n=("hit", "size"), predicted=(col, "mean"), observed=("hit", "mean")
    )
    return t.reset_index()


def run(name: str, jobs: int, n_sims: int, quick: bool) -> pd.DataFrame | None:
    """Score one data set; prints its tables and returns the rows."""
    t0 = time.perf_counter()
    wb = load(name)
    if wb is None:
        print(f"[{name}] not found: skipped")
        return None
    team = monthly_bookings(wb, by=None)["all"].dropna()
    lag = 4 if len(team) >= 24 else 1
    plan = origins(wb, lag, 3 if quick else None)
    if jobs <= 1:
        res = [origin_rows(name, o, n_sims) for o in plan]
    else:
        with ProcessPoolExecutor(jobs) as ex:
            res = list(ex.map(origin_rows, [name] * len(plan), plan, [n_sims] * len(plan)))
    rows = pd.DataFrame([x for part in res for x in part])
    rows = add_truth(wb, plan, rows, lag).dropna(subset=["p_last", "raw"])
    rows["hit"] = (rows["actual"] >= rows["target"]).astype(float)
    fmt = {"float_format": lambda x: f"{x:.3f}", "index": False}
    pd.set_option("display.width", 220)
    print(f"\n[{name}] {len(rows)} forecasts with a target and last year's attainment, "
          f"{n_sims:,} draws, {time.perf_counter() - t0:.0f} s")  # fmt: skip
    sc = scores(rows)
    print(sc.to_string(**fmt))
    for col in ("raw", "after"):
        print(f"  reliability of {col}, all levels pooled:")
        print(reliability(rows, col).to_string(**fmt))
    print("  goals (after, on the forecasts it gives a number for):")
    for rec in sc.to_dict("records"):
        ok = rec["Brier after"] < min(rec["Brier base"], rec["Brier last yr"])
        print(f"  {rec['level']:8s} {rec['as of']:5s} shown {rec['shown']:3d}/{rec['n']:3d}: "
              f"Brier {rec['Brier after']:.3f} vs base {rec['Brier base']:.3f} / last year "
              f"{rec['Brier last yr']:.3f} {'met' if ok else 'NOT met'}")  # fmt: skip
    return rows.assign(data=name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", choices=("sample", "public", "both"), default="both")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--sims", type=int, default=10_000)
    ap.add_argument("--quick", action="store_true", help="last 3 quarters only")
    ap.add_argument("--csv", help="write every scored forecast to this CSV file")
    args = ap.parse_args(argv)
    names = ("sample", "public") if args.data == "both" else (args.data,)
    frames = [run(n, args.jobs, args.sims, args.quick) for n in names]
    frames = [f for f in frames if f is not None]
    if args.csv and frames:
        pd.concat(frames).to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

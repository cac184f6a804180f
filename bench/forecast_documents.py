"""Quarter totals and P(target) as forecast documents show them, backtested.

Run from the repository root (also run by ``bench/forecast_accuracy.py``):

    .venv/bin/python bench/forecast_documents.py                 # sample + public set
    .venv/bin/python bench/forecast_documents.py --quick --jobs 2  # last 3 quarters, 2,000 draws

For every quarter of a data set's history with enough data before it, and for every rep,
manager, region and the whole team, the bench asks the kit's public call
``salesnb.forecast.combined.period_forecast(wb, subject_type, subject, period, as_of)`` -- what a
forecast document shows -- at two as-of dates:

* ``start``: the day before the quarter starts (the whole quarter ahead);
* ``mid``: the 15th of the quarter's second month (won so far is known, the rest of the
  quarter is forecast).

and compares its quarter total (the mean of the blended distribution), its 80% and 95%
bands (the 10-90% and 2.5-97.5% quantiles of the same draws) and its P(target) with what
was booked. Nothing after the as-of date is used by the bench's baselines; the kit's own
inputs are whatever ``period_forecast`` reads at that as-of date (see the caveat on rebuilt
pipelines below).

Baselines, per subject and as-of date:

* ``naive``: won so far + what the subject booked in the same part of the same quarter last
  year (seasonal naive, lag 4 quarters). On a data set with under two years of history (the
  public set's ten months) there is no same quarter last year: the previous quarter is used
  instead (lag 1), and the output says so.
* ``AutoETS``: statsforecast's AutoETS (season 12 with two years of monthly history, else
  none) fitted to the subject's monthly bookings up to the last complete month, each month's
  forecast (negative ones taken as 0) weighted by the share of its days still to come in the
  quarter, summed, plus won so far. statsforecast runs from its own virtualenv
  (``$SALESNB_SF_PYTHON``), as in ``forecast_accuracy.py``.
* P(target) ``base rate``: one constant per data set, the share of all its scored
  subject-quarters (every level, both as-of kinds) that reached target. It is computed on
  the very quarters scored, which flatters it (a forecaster could not know it in advance).
* P(target) ``last year``: from the subject's attainment of the same quarter in earlier
  years (the lagged quarter on the public set): ``(k + 0.5) / (n + 1)`` where ``n`` is the
  number of such earlier quarters with a target and ``k`` how many reached it (so 0.75 or
  0.25 after one year, 0.83 / 0.5 / 0.17 after two).

Scores per level and as-of kind: MASE (absolute error of the quarter total over the
subject's in-sample mean absolute change of whole-quarter totals from the same quarter a
year before, else from the previous quarter, from the months before the as-of date only);
the Brier score and log score (mean negative log-likelihood, probabilities clipped to
[0.001, 0.999]) of P(target); the share of quarters inside the 80% and 95% bands; and a
reliability table of P(target) (bins of predicted probability against the observed share).
A subject-quarter is scored when the subject has the lagged quarter's history and, for
P(target), targets for both quarters.

Caveat: before the first snapshot of the pipeline, ``period_forecast`` rebuilds the open
pipeline at a past date from the deals' final records (their furthest stage and actual close
date), which knows more than a manager knew that day. The "pipeline" column tells snapshot
origins from rebuilt ones; the history view (``history``: the kit's history model alone, no
pipeline) is scored beside the blend for that reason.
"""

from __future__ import annotations

import argparse
import os
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

from salesnb.forecast.chance import target_chance
from salesnb.forecast.combined import monthly_bookings, period_forecast

SAMPLE = ROOT / "data" / "sample"
SHARED = ROOT / ".." / "shared" / "data" / "crm_sales_opportunities"
#: (subject_type of period_forecast, grouping of monthly_bookings, label)
LEVELS = (("rep", "rep", "rep"), ("manager", "manager", "manager"), ("region", "region", "region"))
LEVELS += (("all", None, "team"),)
#: Months of a subject's history (complete, before the as-of date) needed to be scored.
MIN_MONTHS = 3
EPS = 1e-3
BINS = np.array([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0])


# ----------------------------------------------------------------------------- data


def load(name: str):
    """The workbook of a named data set ('sample' or 'public'), or None when absent."""
    import salesnb

    warnings.simplefilter("ignore")
    if name == "sample":
        return salesnb.load(SAMPLE) if SAMPLE.is_dir() else None
    if not (SHARED / "sales_pipeline.csv").is_file():
        return None
    return salesnb.load(SHARED.resolve(), profile="crm_sales_opportunities")


def members(wb, subject_type: str) -> dict[str, list[str]]:
    """Rep ids of each subject of a level (the team: every rep)."""
    reps = wb.reps.astype({"rep_id": str})
    if subject_type == "all":
        return {"all": reps["rep_id"].tolist()}
    if subject_type == "rep":
        return {r: [r] for r in reps["rep_id"]}
    col = reps[subject_type].dropna().astype(str)
    return {k: reps.loc[col.index[col == k], "rep_id"].tolist() for k in sorted(set(col))}


def quarters(wb) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
    """Every whole fiscal quarter from the data's first booked month to ``wb.as_of``."""
    cal = wb.config.calendar
    team = monthly_bookings(wb, by=None)["all"].dropna()
    label = cal.period_label(team.index[0].start_time, "Q")
    out = []
    while True:
        start, end = cal.period_bounds(label)
        if end > wb.as_of:
            return out
        out.append((label, start, end))
        label = cal.period_label(end + pd.Timedelta(days=1), "Q")


def won_between(wb, reps: list[str], lo: pd.Timestamp, hi: pd.Timestamp) -> float:
    """Closed-won amount of ``reps`` with a close date in [lo, hi] (currency)."""
    o = wb.opportunities
    hit = (o["outcome"] == "won") & o["close_date"].between(lo, hi) & o["rep_id"].isin(reps)
    return float(o.loc[hit, "amount"].sum())


def target_of(wb, subject_type: str, subject: str, reps: list[str], start, end) -> float | None:
    """A subject's target over [start, end], as forecast documents read it: a region's own
    rows when it has some, else the sum of its reps' monthly targets (the team: reps' rows,
    else the team-wide rows); None without any row."""
    t = wb.targets
    if t.empty:
        return None
    t = t[t["month"].between(start, end)]
    if subject_type == "region":
        own = t[t["rep_id"].isna() & (t["region"] == subject)]
        if len(own):
            return float(own["amount"].sum())
    rows = t[t["rep_id"].astype(str).isin(reps) & t["rep_id"].notna()]
    if subject_type == "all" and rows.empty:
        rows = t[t["rep_id"].isna()]
    return float(rows["amount"].sum()) if len(rows) else None


def scale_of(monthly: pd.Series, cal) -> float:
    """In-sample mean absolute change of whole-quarter totals: year over year (at least two
    such changes), else quarter over quarter, else three times the mean absolute monthly
    change; NaN when the subject never booked."""
    s = monthly.dropna()
    labels = pd.Index([cal.period_label(m.start_time, "Q") for m in s.index])
    g = s.groupby(labels)
    q = g.sum()[g.size() == 3]
    v = q.to_numpy()
    for lag, need in ((4, 2), (1, 1)):
        if len(v) >= lag + need:
            d = np.abs(v[lag:] - v[:-lag]).mean()
            if d > 0:
                return float(d)
    d = np.abs(np.diff(s.to_numpy())).mean() * 3 if len(s) > 1 else 0.0
    return float(d) if d > 0 else float("nan")


def origins(wb, lag: int, last_n: int | None) -> list[dict]:
    """The (quarter, as-of) pairs to score: quarters with ``lag`` quarters before them."""
    qs = quarters(wb)
    out = []
    for i in range(lag, len(qs)):
        label, start, end = qs[i]
        mid = start + pd.DateOffset(months=1) + pd.Timedelta(days=14)
        for kind, as_of in (("start", start - pd.Timedelta(days=1)), ("mid", mid)):
            out.append(
                {
                    "quarter": label,
                    "start": start,
                    "end": end,
                    "kind": kind,
                    "as_of": as_of,
                    "lagged": qs[i - lag],
                    "index": i,
                }
            )
    if last_n:
        keep = {o["quarter"] for o in out[-2 * last_n :]}
        out = [o for o in out if o["quarter"] in keep]
    return out


# ----------------------------------------------------------------------------- kit


_WB: dict[str, object] = {}


def forecast_origin(name: str, o: dict, n_sims: int) -> tuple[list[dict], float]:
    """``period_forecast`` for every subject of every level at one origin (one process)."""
    warnings.simplefilter("ignore")
    if name not in _WB:
        _WB[name] = load(name)
    wb = _WB[name]
    rows = []
    t0 = time.perf_counter()
    for st, by, level in LEVELS:
        wide = monthly_bookings(wb, by=by, as_of=o["as_of"])
        for subject in members(wb, st):
            col = "all" if st == "all" else subject
            if col not in wide.columns or wide[col].notna().sum() < MIN_MONTHS:
                continue
            rec = {"level": level, "subject": subject, "quarter": o["quarter"], "kind": o["kind"]}
            try:
                pf = period_forecast(
                    wb,
                    st,
                    None if st == "all" else subject,
                    o["quarter"],
                    o["as_of"],
                    n_sims=n_sims,
                )
            except Exception as exc:  # noqa: BLE001 -- a failing subject never stops the rest
                rows.append({**rec, "error": f"{type(exc).__name__}: {exc}"})
                continue
            b = pf.blended
            shown = target_chance(wb, pf).p if pf.target else np.nan
            rows.append(
                {
                    **rec,
                    "blend": b.mean,
                    "history": pf.history_total.mean if pf.history_total.samples.size else np.nan,
                    "lo80": b.quantile(0.1),
                    "hi80": b.quantile(0.9),
                    "lo95": b.quantile(0.025),
                    "hi95": b.quantile(0.975),
                    # the chance the document shows (NaN: "not calibrated")
                    "p": shown,
                    # the share of draws reaching target, before P(target)'s calibration
                    "p_raw": pf.p_attain_raw if pf.target else np.nan,
                    "p_calibrated": bool(np.isfinite(shown)),
                    "target": pf.target,
                    "already_won": pf.already_won,
                    "pipeline": "rebuilt"
                    if "rebuilt" in pf.pipeline.note
                    else ("snapshot" if "snapshot" in pf.pipeline.note else "live"),
                    "method": pf.history.method,
                }
            )
    return rows, time.perf_counter() - t0


def run_kit(name: str, plan: list[dict], n_sims: int, jobs: int) -> tuple[pd.DataFrame, float]:
    """All origins, ``jobs`` processes; returns the rows and the seconds summed over origins."""
    if jobs <= 1:
        res = [forecast_origin(name, o, n_sims) for o in plan]
    else:
        with ProcessPoolExecutor(jobs) as ex:
            res = list(ex.map(forecast_origin, [name] * len(plan), plan, [n_sims] * len(plan)))
    rows = [r for rs, _ in res for r in rs]
    return pd.DataFrame(rows), sum(s for _, s in res)


# ----------------------------------------------------------------------------- baselines


def month_weights(last: pd.Period, h: int, lo: pd.Timestamp, hi: pd.Timestamp) -> np.ndarray:
    """Share of each of the ``h`` months after ``last`` inside [lo, hi], by days."""
    months = pd.period_range(last + 1, periods=h, freq="M")
    a = np.maximum(months.start_time.to_numpy(), np.datetime64(lo))
    b = np.minimum(months.end_time.normalize().to_numpy(), np.datetime64(hi))
    days = (b - a).astype("timedelta64[D]").astype(int) + 1
    return np.clip(days, 0, None) / months.days_in_month.to_numpy()


def autoets(wb, plan: list[dict], rows: pd.DataFrame) -> pd.Series | None:
    """AutoETS summed over the rest of each quarter, indexed like ``rows``; None when
    statsforecast is unavailable."""
    from forecast_accuracy import run_statsforecast, sf_available

    if not sf_available():
        return None
    long, meta = [], {}
    for o in plan:
        for st, by, level in LEVELS:
            wide = monthly_bookings(wb, by=by, as_of=o["as_of"])
            for c in wide.columns:
                s = wide[c].dropna()
                if len(s) < MIN_MONTHS:
                    continue
                uid = f"{level}||{'all' if st == 'all' else c}||{o['quarter']}||{o['kind']}"
                ds = s.index.to_timestamp()
                long.append(pd.DataFrame({"unique_id": uid, "ds": ds, "y": s.to_numpy()}))
                lo = max(o["start"], o["as_of"] + pd.Timedelta(days=1))
                meta[uid] = month_weights(s.index[-1], 3, lo, o["end"])
    fc, _ = run_statsforecast(pd.concat(long, ignore_index=True), 3, 2)
    fc = fc.sort_values(["unique_id", "step"])
    rest = {
        uid: float(np.clip(g["forecast"].to_numpy(), 0, None) @ meta[uid])
        for uid, g in fc.groupby("unique_id")
    }
    key = rows["level"] + "||" + rows["subject"] + "||" + rows["quarter"] + "||" + rows["kind"]
    return key.map(rest) + rows["already_won"]


def add_truth(wb, plan: list[dict], rows: pd.DataFrame, lag: int) -> pd.DataFrame:
    """Actual totals, the naive baseline, the MASE scale and last year's attainment."""
    cal = wb.config.calendar
    qs = quarters(wb)
    reps_of = {(lv, s): r for st, _, lv in LEVELS for s, r in members(wb, st).items()}
    wides = {}
    out = []
    for rec in rows.to_dict("records"):
        o = next(p for p in plan if p["quarter"] == rec["quarter"] and p["kind"] == rec["kind"])
        st = next(s for s, _, lv in LEVELS if lv == rec["level"])
        by = next(b for _, b, lv in LEVELS if lv == rec["level"])
        reps = reps_of[(rec["level"], rec["subject"])]
        rec["actual"] = won_between(wb, reps, o["start"], o["end"])
        key = (by, o["as_of"])
        if key not in wides:
            wides[key] = monthly_bookings(wb, by=by, as_of=o["as_of"])
        monthly = wides[key]["all" if st == "all" else rec["subject"]]
        rec["scale"] = scale_of(monthly, cal)
        # naive: won so far + the same part of the lagged quarter
        _, ls, le = o["lagged"]
        lo = max(o["start"], o["as_of"] + pd.Timedelta(days=1))
        first = monthly.first_valid_index()
        has_lag = first is not None and first.start_time <= ls
        rest = won_between(wb, reps, ls + (lo - o["start"]), le) if has_lag else np.nan
        rec["naive"] = rec.get("already_won", np.nan) + rest
        # last year's attainment (or the previous quarter's on short data), earlier years too
        k = n = 0
        i = o["index"] - lag
        while i >= 0:
            _, qs_, qe = qs[i]
            if first is None or first.start_time > qs_:
                break
            t = target_of(wb, st, rec["subject"], reps, qs_, qe)
            if t:
                n += 1
                k += won_between(wb, reps, qs_, qe) >= t
            i -= lag
        rec["p_last"] = (k + 0.5) / (n + 1) if n else np.nan
        rec["target_check"] = target_of(wb, st, rec["subject"], reps, o["start"], o["end"])
        out.append(rec)
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------- scores


def _brier(p, y) -> float:
    return float(np.mean((np.asarray(p, float) - y) ** 2))


def _log(p, y) -> float:
    p = np.clip(np.asarray(p, float), EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def score(r: pd.DataFrame, has_ets: bool) -> pd.DataFrame:
    """Per level and as-of kind: MASE of each contender, Brier and log score, coverage."""
    out = []
    scored = r.dropna(subset=["p_raw", "p_last", "blend", "naive", "scale"])
    base_rate = float((scored["actual"] >= scored["target"]).mean())
    for (kind, level), g in r.groupby(["kind", "level"], sort=False):
        g = g.dropna(subset=["blend", "naive", "scale"])
        if has_ets:
            g = g.dropna(subset=["ets"])
        rec = {"as of": kind, "level": level, "n": len(g)}
        for m in ("blend", "history", "naive", *(["ets"] if has_ets else [])):
            rec[f"MASE {m}"] = float((np.abs(g[m] - g["actual"]) / g["scale"]).mean())
        rec["cov80"] = float(g["actual"].between(g["lo80"], g["hi80"]).mean())
        rec["cov95"] = float(g["actual"].between(g["lo95"], g["hi95"]).mean())
        p = g.dropna(subset=["p", "p_last"])
        y = (p["actual"] >= p["target"]).to_numpy(float)
        rec["n P"] = len(p)
        if len(p):
            base = np.full(len(p), base_rate)
            rec["hit rate"] = float(y.mean())
            rec["Brier kit"], rec["Brier base"] = _brier(p["p"], y), _brier(base, y)
            rec["Brier raw"] = _brier(p["p_raw"], y) if "p_raw" in p else np.nan
            rec["n P cal"] = int(p["p_calibrated"].sum()) if "p_calibrated" in p else 0
            rec["Brier last yr"] = _brier(p["p_last"], y)
            rec["log kit"], rec["log base"] = _log(p["p"], y), _log(base, y)
            rec["log last yr"] = _log(p["p_last"], y)
        out.append(rec)
    return pd.DataFrame(out)


def reliability(r: pd.DataFrame, col: str = "p") -> pd.DataFrame:
    """P(target) in bins against the observed share, all levels pooled, per as-of kind
    (``col="p_raw"``: the share of draws reaching target, before calibration)."""
    p = r.dropna(subset=[col, "p_last", "naive", "scale"]).copy()
    p["hit"] = (p["actual"] >= p["target"]).astype(float)
    p["bin"] = pd.cut(p[col], BINS, include_lowest=True)
    t = p.groupby(["kind", "bin"], observed=True).agg(
        n=("hit", "size"), predicted=(col, "mean"), observed=("hit", "mean")
    )
    return t.reset_index()


def coherence(wb, r: pd.DataFrame) -> str:
    """How far each manager's, region's and the team's expected total strays from the sum of
    its reps' expected totals (same quarter and as-of date, every rep scored)."""
    reps = r[r["level"] == "rep"].set_index(["quarter", "kind", "subject"])["blend"]
    worst, checked = 0.0, 0
    for st, _, level in LEVELS[1:]:
        for subject, ids in members(wb, st).items():
            for rec in r[(r["level"] == level) & (r["subject"] == subject)].to_dict("records"):
                keys = [(rec["quarter"], rec["kind"], i) for i in ids]
                if not all(k in reps.index for k in keys):
                    continue
                total = float(reps.loc[keys].sum())
                worst = max(worst, abs(rec["blend"] - total) / max(abs(total), 1.0))
                checked += 1
    return f"{checked} upper-level forecasts against their reps' sum: worst gap {worst:.2e}"


def verdicts(sc: pd.DataFrame, has_ets: bool) -> list[str]:
    """One line per level and as-of kind against the issue's goals."""
    lines = []
    for rec in sc.to_dict("records"):

        def ok(flag: bool) -> str:
            return "met" if flag else "NOT met"

        parts = [
            (
                f"MASE {rec['MASE blend']:.3f} vs naive {rec['MASE naive']:.3f} "
                f"{ok(rec['MASE blend'] <= rec['MASE naive'])}"
            )
        ]
        if has_ets:
            parts.append(
                f"vs AutoETS {rec['MASE ets']:.3f} {ok(rec['MASE blend'] <= rec['MASE ets'])}"
            )
        if rec.get("n P"):
            better = rec["Brier kit"] < min(rec["Brier base"], rec["Brier last yr"])
            parts.append(
                f"Brier {rec['Brier kit']:.3f} vs {rec['Brier base']:.3f} / "
                f"{rec['Brier last yr']:.3f} {ok(better)}"
            )
        parts.append(f"80% coverage {rec['cov80']:.0%} {ok(0.75 <= rec['cov80'] <= 0.85)}")
        few = " (under 20 quarters: too few to judge)" if rec["n"] < 20 else ""
        lines.append(
            f"  {rec['level']:8s} {rec['as of']:5s} n={rec['n']:3d}: " + "; ".join(parts) + few
        )
    return lines


# ----------------------------------------------------------------------------- main


def run(name: str, quick: bool, jobs: int, with_sf: bool = True) -> dict | None:
    """Backtest one data set and print its tables; returns the scores (None when absent)."""
    t0 = time.perf_counter()
    wb = load(name)
    if wb is None:
        where = SAMPLE if name == "sample" else SHARED
        print(f"\n[{name}] data set not found at {where}: skipped")
        return None
    team = monthly_bookings(wb, by=None)["all"].dropna()
    lag = 4 if len(team) >= 24 else 1
    plan = origins(wb, lag, 3 if quick and name == "sample" else None)
    n_sims = 2000 if quick else 10_000
    rows, kit_s = run_kit(name, plan, n_sims, jobs)
    errors = rows[rows["error"].notna()] if "error" in rows else rows.iloc[:0]
    rows = rows[rows["error"].isna()] if "error" in rows else rows
    rows = add_truth(wb, plan, rows, lag)
    ets = autoets(wb, plan, rows) if with_sf else None
    has_ets = ets is not None
    if has_ets:
        rows["ets"] = ets
    bench_name = (
        "seasonal naive (same quarter last year)"
        if lag == 4
        else ("naive (previous quarter: under two years of history, no same quarter last year)")
    )
    scored = sorted(set(rows["quarter"]))
    print(
        f"\n[{name}] quarters {scored[0]} to {scored[-1]}, "
        f"as-of dates start and mid-quarter, {len(rows)} forecasts, {n_sims:,} draws; "
        f"naive = {bench_name}; AutoETS {'included' if has_ets else 'UNAVAILABLE'}; "
        f"period_forecast {kit_s:.0f} s over {len(plan)} origins "
        f"({kit_s / max(len(rows), 1):.2f} s per forecast)"
    )
    if len(errors):
        print(f"  {len(errors)} forecasts failed, e.g. {errors['error'].iloc[0]}")
    bad = rows["target"].notna() & ~np.isclose(rows["target"], rows["target_check"].astype(float))
    if bad.any():
        print(f"  note: the bench's own target differs from the document's on {bad.sum()} rows")
    print(f"  adding up: {coherence(wb, rows)}")
    src = rows.groupby(["kind", "pipeline"]).size().to_dict()
    print(f"  pipeline source per (as of, source): {src}")
    sc = score(rows, has_ets)
    pd.set_option("display.width", 200)
    print(sc.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    snap = rows[rows["pipeline"] == "snapshot"]
    if len(snap):
        print("  same scores on snapshot origins only (no rebuilt pipeline):")
        print(
            score(snap, has_ets)[
                [
                    "as of",
                    "level",
                    "n",
                    "MASE blend",
                    "MASE history",
                    "MASE naive",
                    *(["MASE ets"] if has_ets else []),
                    "cov80",
                ]
            ].to_string(index=False, float_format=lambda x: f"{x:.3f}")
        )
    print("  reliability of P(target), all levels pooled:")
    print(reliability(rows).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if "p_raw" in rows:
        print("  the same before P(target)'s calibration (share of draws reaching target):")
        print(reliability(rows, "p_raw").to_string(index=False, float_format=lambda x: f"{x:.3f}"))
        cal = rows[rows["p_calibrated"].astype(bool)]
        if len(cal):
            print(f"  on the {len(cal)} forecasts whose P(target) was calibrated:")
            print(reliability(cal).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
            sc_cal = score(cal, False)
            print(
                sc_cal[["as of", "level", "n P", "Brier raw", "Brier kit", "Brier base",
                        "Brier last yr"]].to_string(index=False, float_format=lambda x: f"{x:.3f}")
            )  # fmt: skip
    print(f"  goals ({name}):")
    print("\n".join(verdicts(sc, has_ets)))
    print(f"  [{name}] {time.perf_counter() - t0:.0f} s")
    return {"scores": sc, "rows": rows, "has_ets": has_ets}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="last 3 quarters, 2,000 draws")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--data", choices=("sample", "public", "both"), default="both")
    ap.add_argument("--no-statsforecast", action="store_true")
    ap.add_argument("--csv", help="write every scored forecast to this CSV file")
    ap.add_argument(
        "--replay",
        metavar="PERIOD@AS_OF",
        help="only score each level on the past quarters a document at AS_OF replays "
        "(e.g. FY2026-Q4@2026-09-30): old against new figure and band, out of sample",
    )
    args = ap.parse_args(argv)
    if args.replay:
        period, as_of = args.replay.split("@")
        for n in ("sample", "public") if args.data == "both" else (args.data,):
            replay_levels(n, period, as_of)
        return 0
    names = ("sample", "public") if args.data == "both" else (args.data,)
    res = {n: run(n, args.quick, args.jobs, not args.no_statsforecast) for n in names}
    if args.csv:
        frames = [r["rows"].assign(data=n) for n, r in res.items() if r]
        pd.concat(frames).to_csv(args.csv, index=False)
    return 0


# ----------------------------------------------------------------------------- replay


def replay_levels(name: str, period: str, as_of: str, n_sims: int = 500) -> pd.DataFrame:
    """Each level's figure and band on the replayed past quarters a document at ``as_of``
    learns from (:func:`salesnb.forecast.levels.mix_model`), against the old figure (the
    team's forecast shared out, unscaled bands) and the same quarter last year.

    Everything is out of sample: a past quarter's figure uses mixes chosen on the other
    quarters, its band is drawn from the other quarters' misses and scaled by factors
    fitted on the other quarters. Rest-of-quarter totals, as at the quarter's eve
    (``start``) and the end of its first month (``mid``). Cheap once a document at
    ``as_of`` has been made (the replay is cached on disk).
    """
    from salesnb.forecast import levels as lv
    from salesnb.forecast.combined import team_forecast
    from salesnb.forecast.levelmix import fit_factors, nested_scale
    from salesnb.forecast.reconcile import coherent_draws, error_scale

    wb = load(name)
    at = pd.Timestamp(as_of)
    table = lv.rep_table(wb, period, at, team_forecast(wb, period, at))
    ids = [str(r) for r in table.index]
    errs = lv.past_errors(wb, at, float(table["weight"].iloc[0]))
    cal = wb.config.calendar
    out = []
    for kind in ("start", "mid"):
        model = lv.mix_model(wb, errs, kind, ids)
        levels, a, oos, n = model["levels"], model["actual"], model["oos"], model["n"]
        if n < 3:
            continue
        e = errs[errs["kind"] == kind]
        td, naive = np.zeros_like(a), np.zeros_like(a)
        for i, d in enumerate(model["dates"]):
            g = e[e["date"] == d].drop_duplicates("rep_id").set_index("rep_id")
            g.index = g.index.astype(str)
            g = g.reindex(ids)
            td[i] = g["forecast"].fillna(0.0).to_numpy(dtype=float)
            start, end = cal.period_bounds(str(g["quarter"].dropna().iloc[0]))
            nv = lv.same_quarter_last_year(wb, ids, start, end, pd.Timestamp(d))
            naive[i] = np.where(np.isfinite(nv), nv, td[i])
        rel_td = (a - td) / np.vstack([error_scale(x) for x in td])
        old_d, new_d = [], []
        for i in range(n):
            keep = np.arange(n) != i
            old_d.append(coherent_draws(td[i], error_scale(td[i]), rel_td[keep],
                                        n_sims=n_sims, seed=i))  # fmt: skip
            f, _ = fit_factors(oos[keep], a[keep], levels, n_sims=n_sims)
            d = coherent_draws(oos[i], error_scale(oos[i]), model["errors"][keep],
                               n_sims=n_sims, seed=i)  # fmt: skip
            new_d.append(nested_scale(d, levels, f))
        for name_, lab in levels:
            codes = pd.factorize(lab)[0]
            k = codes.max() + 1
            onehot = np.eye(k)[codes]
            A = a @ onehot
            rec = {"as of": kind, "level": name_, "n": int(n * k)}
            for col, x in (("new", oos), ("old", td), ("last yr", naive)):
                rec[f"MAE/{col}"] = float(np.abs(x @ onehot - A).sum())
            base = rec["MAE/last yr"]
            for col in ("new", "old"):
                rec[f"{col} vs last yr"] = rec[f"MAE/{col}"] / base if base else np.nan
            rec["WAPE new"] = rec["MAE/new"] / max(A.sum(), 1e-9)
            rec["WAPE old"] = rec["MAE/old"] / max(A.sum(), 1e-9)
            for col, ds in (("cov80 old", old_d), ("cov80 new", new_d)):
                hits = []
                for i in range(n):
                    s = ds[i] @ onehot
                    lo, hi = np.quantile(s, [0.1, 0.9], axis=0)
                    hits += list((A[i] >= lo) & (A[i] <= hi))
                rec[col] = float(np.mean(hits))
            rec["mix"] = str(model["mixes"][name_])
            out.append(rec)
    res = pd.DataFrame(out).drop(columns=["MAE/new", "MAE/old", "MAE/last yr"])
    print(f"\n[{name}] replayed past quarters of a document at {as_of} ({period}):")
    print(res.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    return res


if __name__ == "__main__":
    raise SystemExit(main())

"""Forecast accuracy and speed of salesnb.forecast.combined, against baselines and statsforecast.

Run from the repository root:

    .venv/bin/python bench/forecast_accuracy.py            # full run, a few minutes on 2 cores
    .venv/bin/python bench/forecast_accuracy.py --quick    # smaller timing set

What it prints:

1. Rolling-origin backtests of monthly bookings (every origin refits and re-chooses the model,
   nothing from the future) on (a) the sample data per rep and per region and (b) the public
   CRM data set per agent and per regional office (10 months of closes: short history). For
   each method: MASE, MASE relative to the benchmark (seasonal naive with two years of
   history, naive otherwise; < 1 beats it), bias and 80% interval coverage -- beside
   statsforecast's AutoETS on the very same training windows.
2. The pipeline backtest on the sample data's snapshots: bias, 10-90% coverage and the Brier
   score of P(attain target) for the pipeline, history and blended views.
3. Time to forecast 1,000 synthetic monthly series of 36 months, ours on 2 processes beside
   statsforecast AutoETS with n_jobs=2 (goal: within 1.5x); the time to forecast 20 series
   (synthetic, and the sample's 20 first reps borrowing the team's season as documents do;
   goal: under 1 s); and the time of a rep's forecast document with a warm cache (``salesnb
   batch forecast --by rep`` for a few reps, run twice; the manifest's per-document seconds of
   the second run; goal: under 3 s).
4. Quarter totals and P(target) as forecast documents show them
   (``bench/forecast_documents.py``: ``period_forecast`` at the start and middle of each
   quarter for every rep, manager, region and the team, against seasonal naive, AutoETS
   summed over the quarter and two probability baselines). ``--no-quarters`` skips it.

statsforecast is NOT a dependency of salesnb. The bench runs it with the interpreter in
``$SALESNB_SF_PYTHON`` (default ``/tmp/sfenv/bin/python``; create it with
``python -m venv /tmp/sfenv && /tmp/sfenv/bin/pip install statsforecast``) through a
subprocess, exchanging data as CSV files, or in this interpreter if it imports here. When it
is unavailable the bench says so and prints our figures alone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from salesnb.forecast.backtest import (
    FAMILIES,
    backtest_many,
    backtest_pipeline,
    pipeline_scores,
    summarise,
)
from salesnb.forecast.combined import forecast_many, team_series

SHARED = ROOT / ".." / "shared" / "data" / "crm_sales_opportunities"
SF_PYTHON = os.environ.get("SALESNB_SF_PYTHON", "/tmp/sfenv/bin/python")

SF_SCRIPT = textwrap.dedent(
    """
    import sys, time, warnings
    import pandas as pd
    warnings.simplefilter("ignore")
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, Naive
    src, dst, h, n_jobs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    df = pd.read_csv(src, parse_dates=["ds"])
    lengths = df.groupby("unique_id").size()
    out = []
    t_total = c_total = 0.0
    def cpu():
        import resource
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    for long in (True, False):
        ids = lengths.index[(lengths >= 24) == long]
        if len(ids) == 0:
            continue
        part = df[df["unique_id"].isin(ids)]
        sf = StatsForecast(models=[AutoETS(season_length=12 if long else 1)], freq="MS",
                           n_jobs=n_jobs, fallback_model=Naive())
        sf.forecast(df=part[part["unique_id"].isin(ids[:4])], h=h, level=[80])  # JIT warm-up
        t0, c0 = time.perf_counter(), cpu()
        fc = sf.forecast(df=part, h=h, level=[80])
        t_total += time.perf_counter() - t0
        c_total += cpu() - c0
        out.append(fc.reset_index() if "unique_id" not in fc.columns else fc)
    res = pd.concat(out)
    res["step"] = res.groupby("unique_id").cumcount() + 1
    res = res.rename(columns={"AutoETS": "forecast", "AutoETS-lo-80": "lower",
                              "AutoETS-hi-80": "upper"})
    res[["unique_id", "step", "forecast", "lower", "upper"]].to_csv(dst, index=False)
    print(t_total, c_total)
    """
)


# ----------------------------------------------------------------------------- data


def sample_series() -> dict[str, pd.DataFrame]:
    """Monthly bookings of the sample data per rep and per region."""
    import salesnb
    from salesnb.forecast.combined import monthly_bookings

    wb = salesnb.load(ROOT / "data" / "sample")
    return {
        "per rep": monthly_bookings(wb, by="rep"),
        "per region": monthly_bookings(wb, by="region"),
    }, wb


def public_series() -> dict[str, pd.DataFrame] | None:
    """Monthly won value of the public CRM data set per agent and per regional office, read
    through the ``crm_sales_opportunities`` profile and :func:`monthly_bookings` (history from
    the data's first close, 2017-03: closes before the export window are unknown, not zero)."""
    import salesnb
    from salesnb.forecast.combined import monthly_bookings

    if not (SHARED / "sales_pipeline.csv").is_file():
        return None
    wb = salesnb.load(SHARED, profile="crm_sales_opportunities")
    return {
        label: monthly_bookings(wb, by=by).dropna(axis=1, how="all")
        for label, by in (("per agent", "rep"), ("per region", "region"))
    }


# ----------------------------------------------------------------------------- backtests


def run_backtests(
    wide: pd.DataFrame, horizon: int, n_origins: int, jobs: int, parent: pd.Series | None = None
) -> pd.DataFrame:
    """All subjects of one level together at each origin, so ``auto`` makes the pooled choice
    of ``forecast_many`` (a subject too short for the backtest is reported as skipped);
    ``auto`` borrows ``parent``'s seasonal pattern, as forecast documents do."""
    warnings.simplefilter("ignore")
    f = backtest_many(
        wide, horizon, n_origins, methods=FAMILIES, n_jobs=jobs, parent=parent
    ).forecasts
    skipped = wide.shape[1] - f["subject"].nunique()
    if skipped:
        print(f"  ({skipped} of {wide.shape[1]} series too short for this backtest: skipped)")
    return f


def sf_available() -> str | None:
    """How to run statsforecast: 'here', a python path, or None."""
    try:
        import statsforecast  # noqa: F401

        return "here"
    except ImportError:
        pass
    if Path(SF_PYTHON).is_file():
        ok = subprocess.run(
            [SF_PYTHON, "-c", "import statsforecast"], capture_output=True, check=False
        )
        if ok.returncode == 0:
            return SF_PYTHON
    return None


def _cpu() -> float:
    """CPU seconds of this process and its finished children (robust to a busy machine)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_statsforecast(
    long: pd.DataFrame, horizon: int, n_jobs: int
) -> tuple[pd.DataFrame, tuple[float, float]]:
    """AutoETS forecasts and (wall, CPU) seconds they took, for a long frame unique_id, ds, y."""
    where = sf_available()
    with tempfile.TemporaryDirectory() as tmp:
        src, dst, script = Path(tmp, "in.csv"), Path(tmp, "out.csv"), Path(tmp, "sf.py")
        long.to_csv(src, index=False)
        script.write_text(SF_SCRIPT)
        python = sys.executable if where == "here" else where
        run = subprocess.run(
            [python, str(script), str(src), str(dst), str(horizon), str(n_jobs)],
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode != 0:
            raise RuntimeError(run.stderr[-2000:])
        wall, cpu = run.stdout.strip().splitlines()[-1].split()
        return pd.read_csv(dst), (float(wall), float(cpu))


def add_statsforecast(wide: pd.DataFrame, f: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Append AutoETS forecasts for the same subjects and origins as ``f``."""
    rows = []
    for (subject, origin), _ in f.groupby(["subject", "origin"]):
        s = wide[subject]
        s = s.loc[s.first_valid_index() : pd.Period(origin, "M")].fillna(0.0)
        uid = f"{subject}||{origin}"
        rows.append(pd.DataFrame({"unique_id": uid, "ds": s.index.to_timestamp(), "y": s.values}))
    sf, _ = run_statsforecast(pd.concat(rows, ignore_index=True), horizon, 2)
    sf[["subject", "origin"]] = sf["unique_id"].str.split(r"\|\|", expand=True, regex=True)
    ref = f[f["method"] == f["method"].iloc[0]][["subject", "origin", "step", "actual", "scale"]]
    sf = sf.merge(ref, on=["subject", "origin", "step"])
    return pd.concat([f, sf.assign(method="sf_autoets", chosen="AutoETS")], ignore_index=True)


def print_table(title: str, f: pd.DataFrame) -> pd.DataFrame:
    bench = "snaive" if (f["method"] == "snaive").any() else "naive"
    s = summarise(f, bench)
    order = [m for m in [bench, *FAMILIES, "sf_autoets"] if m in s.index]
    s = s.loc[list(dict.fromkeys(order))]
    n_series = f["subject"].nunique()
    print(
        f"\n{title}: {n_series} series, {s['n'].iloc[0]} forecasts each method; benchmark {bench}"
    )
    print(s.to_string(float_format=lambda x: f"{x:8.3f}"))
    chosen = f.loc[f["method"] == "auto", "chosen"].str.replace(r"\(.*", "", regex=True)
    print("auto chose:", chosen.value_counts().to_dict())
    fam = f[f["method"].isin(["ets", "arima"])]
    own = [c.startswith(m) for c, m in zip(fam["chosen"], fam["method"], strict=True)]
    fell = fam[~np.array(own, dtype=bool)].groupby("method").size()
    for m, k in fell.items():
        share = k / (fam["method"] == m).sum()
        print(
            f"note: {m} fell back to a simple model on {share:.0%} of origins (history too short)"
        )
    return s


# ----------------------------------------------------------------------------- timing


def synthetic(n: int, t: int = 36, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = np.arange(t)
    y = (
        1000
        + rng.normal(0, 5, (n, 1)) * x
        + 200 * rng.random((n, 1)) * np.sin(2 * np.pi * x / 12)
        + rng.normal(0, 100, (n, t))
    )
    return pd.DataFrame(
        y.T,
        index=pd.period_range("2023-01", periods=t, freq="M"),
        columns=[f"s{i}" for i in range(n)],
    )


def time_small(wb) -> dict[str, tuple[float, float]]:
    """Best-of-3 (wall, CPU) seconds to forecast 20 series in one process: synthetic, and the
    sample's first 20 reps with the team's season borrowed (what a document's level does).
    CPU seconds tell what the wall time would be on an idle machine."""
    sets = {"20 synthetic series": (synthetic(20), None)}
    if wb is not None:
        from salesnb.forecast.combined import monthly_bookings

        wide = monthly_bookings(wb, by="rep").dropna(axis=1, how="all").iloc[:, :20]
        sets["20 sample reps, team season"] = (wide, team_series(wb, wb.as_of))
    forecast_many(synthetic(4), 3, n_jobs=1)  # imports
    out = {}
    for label, (wide, parent) in sets.items():
        best = (np.inf, np.inf)
        for _ in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            forecast_many(wide, 3, n_jobs=1, parent=parent)
            best = min(best, (time.perf_counter() - t0, time.process_time() - c0))
        out[label] = best
    return out


def time_documents(n_reps: int) -> list[tuple[str, float]] | None:
    """Per-document seconds (from the batch manifest) of ``salesnb batch forecast --by rep``
    for ``n_reps`` sample reps, one worker, on the second of two runs (the first fills the
    disk cache). None when the sample or the notebook is missing."""
    import json

    nb = ROOT / "notebooks" / "forecast.ipynb"
    if not nb.is_file() or not (ROOT / "data" / "sample").is_dir():
        return None
    import salesnb

    reps = salesnb.load(ROOT / "data" / "sample").rep_ids()[:n_reps]
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(2):
            out = Path(tmp, f"run{run}")
            cmd = [
                str(Path(sys.executable).parent / "salesnb"), "batch", str(nb), "--by", "rep",
                "--data", str(ROOT / "data" / "sample"), "--only", ",".join(reps),
                "--workers", "1", "--out", str(out), "--no-progress",
            ]  # fmt: skip
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            if proc.returncode != 0:
                print("salesnb batch failed:", proc.stderr[-1000:] or proc.stdout[-1000:])
                return None
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return [(s["key"], float(s["duration_s"])) for s in manifest["subjects"]]


def timing(n: int, jobs: int, with_sf: bool) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds per contender. CPU seconds include worker processes; on a machine
    shared with other work they are the fairer comparison."""
    wide = synthetic(n)
    forecast_many(wide.iloc[:, :4], 6, n_jobs=1)  # imports
    out = {}
    for method in ("auto", "ets"):
        t0, c0 = time.perf_counter(), _cpu()
        forecast_many(wide, 6, method=method, n_jobs=jobs)
        out[f"salesnb {method} (n_jobs={jobs})"] = (time.perf_counter() - t0, _cpu() - c0)
    if with_sf:
        long = wide.stack().rename("y").reset_index()
        long.columns = ["ds", "unique_id", "y"]
        long["ds"] = long["ds"].dt.to_timestamp()
        _, secs = run_statsforecast(long[["unique_id", "ds", "y"]], 6, jobs)
        out[f"statsforecast AutoETS (n_jobs={jobs})"] = secs
    return out


# ----------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick", action="store_true", help="200 timing series; last 3 quarters, 2,000 draws"
    )
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-statsforecast", action="store_true")
    ap.add_argument("--no-quarters", action="store_true", help="skip forecast_documents.py")
    ap.add_argument("--doc-reps", type=int, default=4, help="reps in the document timing")
    args = ap.parse_args()
    t_start = time.perf_counter()
    sf = None if args.no_statsforecast else sf_available()
    print("statsforecast:", f"available ({sf})" if sf else "UNAVAILABLE: outside reference skipped")

    results: dict[str, pd.DataFrame] = {}
    sample, wb = sample_series() if (ROOT / "data" / "sample").is_dir() else ({}, None)
    public = public_series()
    if public is None:
        print(f"public data set not found at {SHARED}: skipped")
    # ``auto`` borrows the whole team's seasonal pattern, as documents do (the public data's
    # 10 months are too short for it: no change there)
    team = team_series(wb, wb.as_of) if wb is not None else None
    plans = [("sample", k, v, 3, 6, team) for k, v in sample.items()]
    plans += [("public", k, v, 2, 3, None) for k, v in (public or {}).items()]
    for ds, label, wide, horizon, n_origins, parent in plans:
        f = run_backtests(wide, horizon, n_origins, args.jobs, parent)
        if sf:
            try:
                f = add_statsforecast(wide, f, horizon)
            except RuntimeError as exc:
                print("statsforecast failed:", exc)
        title = f"{ds} data, {label}, horizon {horizon}, {n_origins} origins"
        results[f"{ds} {label}"] = print_table(title, f)

    if wb is not None and len(wb.snapshots):
        print("\nPipeline backtest on the sample snapshots (each week, forecast its quarter):")
        for by in (None, "region"):
            bt = backtest_pipeline(wb, by=by, views=("pipeline", "history", "blend"), n_sims=2000)
            print(
                f"by {by or 'team'}: {bt['as_of'].nunique()} snapshots x "
                f"{bt['subject'].nunique()} subjects"
            )
            print(pipeline_scores(bt).to_string(float_format=lambda x: f"{x:8.3f}"))
            w = (
                bt[bt["view"] == "blend"]
                .groupby("quarter")["pipeline_weight"]
                .agg(["mean", "min", "max"])
            )
            print("blend pipeline weight by quarter:", w.round(2).to_dict("index"))
        from salesnb.forecast.combined import pipeline_shock

        shock = pipeline_shock(wb)
        print(
            f"shared shock learned at {wb.as_of:%Y-%m-%d}: {shock['shock']:.3f} "
            f"(best candidate {shock['learned']}, {shock['quarters']} quarters, "
            f"{shock['snapshots']} snapshots)"
        )

    n = 200 if args.quick else 1000
    print(f"\nTime to forecast {n} synthetic monthly series of 36 months, 6 months ahead:")
    times = timing(n, args.jobs, bool(sf))
    print(f"  {'':40s} {'wall s':>8s} {'CPU s':>8s}")
    for k, (wall, cpu) in times.items():
        print(f"  {k:40s} {wall:8.1f} {cpu:8.1f}")

    small = time_small(wb)
    print("\nTime to forecast 20 series in one process (best of 3):")
    for k, (wall, cpu) in small.items():
        print(f"  {k:40s} {wall:8.2f} s wall {cpu:8.2f} s CPU")
    docs = time_documents(args.doc_reps)
    if docs:
        print("\nA rep's forecast document with a warm cache (salesnb batch, 1 worker, 2nd run):")
        print("  " + ", ".join(f"{k} {v:.1f} s" for k, v in docs))

    quarters = {}
    if not args.no_quarters:
        import forecast_documents

        print("\nQuarter totals and P(target) as documents show them (forecast_documents.py):")
        for name in ("sample", "public"):
            quarters[name] = forecast_documents.run(name, args.quick, args.jobs, bool(sf))

    print("\nGoals:")
    for key, s in results.items():
        auto = s.loc["auto"]
        line = f"  {key:22s} auto rel. MASE {auto['rel_mase']:.3f} " + (
            "(beats benchmark)" if auto["rel_mase"] < 1 else "(does NOT beat benchmark)"
        )
        if "sf_autoets" in s.index:
            ref = s.loc["sf_autoets", "mase"]
            line += f"; vs AutoETS MASE {auto['mase']:.3f} vs {ref:.3f} " + (
                "(no worse)" if auto["mase"] <= ref * 1.0001 else "(WORSE)"
            )
        cov = auto["coverage"]
        line += f"; 80% coverage {cov:.1%} " + ("(in 75-85%)" if 0.75 <= cov <= 0.85 else "(OUT)")
        print(line)
    sf_key = next((k for k in times if k.startswith("statsforecast")), None)
    if sf_key:
        ours, ref = times[f"salesnb auto (n_jobs={args.jobs})"], times[sf_key]
        for i, what in enumerate(("wall", "CPU")):
            ratio = ours[i] / ref[i]
            verdict = "met (within 1.5x)" if ratio <= 1.5 else "NOT met (goal: within 1.5x)"
            print(
                f"  speed ({what}, {n} series): auto takes {ratio:.2f}x statsforecast's time: "
                f"{verdict}"
            )
    wall, cpu = (max(v[i] for v in small.values()) for i in (0, 1))
    print(
        f"  speed (20 series): slowest {wall:.2f} s wall ({cpu:.2f} s CPU): "
        + ("met (under 1 s)" if wall < 1 else "NOT met (goal: under 1 s)")
        + ("" if wall < 1 or cpu >= 1 else "; under 1 s of CPU: the machine was busy")
    )
    if docs:
        secs = [v for _, v in docs]
        later = max(secs[1:]) if len(secs) > 1 else secs[0]
        print(
            f"  speed (rep document, warm cache): {min(secs):.1f}-{max(secs):.1f} s; first "
            f"document of the batch {secs[0]:.1f} s, later ones at most {later:.1f} s: "
            + (
                "met (under 3 s)"
                if max(secs) < 3
                else (
                    "met after the first document of a batch only"
                    if later < 3
                    else "NOT met (goal: under 3 s)"
                )
            )
        )
    for name, res in quarters.items():
        if res:
            print(f"  quarter totals ({name}):")
            print("\n".join(forecast_documents.verdicts(res["scores"], res["has_ets"])))
    print(f"\nbench finished in {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()

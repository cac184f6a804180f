"""Speed goals of issue 17, alone and profiled: 20 series, and a rep's forecast with a warm cache.

Run from the repository root:

    .venv/bin/python bench/forecast_speed.py                # timings
    .venv/bin/python bench/forecast_speed.py --profile 25   # plus cProfile's top 25 lines
    .venv/bin/python bench/forecast_speed.py --documents 3  # plus `salesnb batch forecast`

What it prints, each as wall and CPU seconds (CPU is the fairer figure on a shared machine):

1. ``forecast_many`` on 20 synthetic series and on the sample's first 20 reps borrowing the
   team's season, one process, best of 3 (goal: under 1 s; ``forecast_accuracy.py``'s
   ``time_small``).
2. A rep's ``period_forecast`` -- the call behind the forecast document -- in a fresh
   process with a warm disk cache (a first process fills it, unless ``--no-warm``): the
   process's imports and data load, then the call itself (goal: the document under 3 s).
3. With ``--view``: the rep's ``forecast_view`` (figures, tables and text of the forecast
   document) in a fresh process that has imported the modules first, as a batch's forked
   document has (the machine's load average is printed beside it).
4. With ``--documents N``: ``salesnb batch forecast`` for N sample reps, second of two runs
   (``forecast_accuracy.py``'s ``time_documents``): the manifest's seconds per document.

``--profile N`` runs the rep's call under cProfile in the warm process and prints the top N
functions by cumulative time, so the biggest costs can be found before any fix.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SAMPLE = ROOT / "data" / "sample"

#: Runs in a fresh interpreter: the modules a batch preloads, the data, then the rep's
#: forecast document's view (what a batch's forked document computes), twice.
VIEW_CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
t0, c0 = time.perf_counter(), time.process_time()
import salesnb, scipy.stats, statsmodels.tsa.holtwinters, statsmodels.tsa.statespace.sarimax
from salesnb.reports import facts
from salesnb.reports.forecastview import forecast_view
wb = salesnb.load(sys.argv[1])
t1, c1 = time.perf_counter(), time.process_time()
forecast_view(facts.context(wb, "rep", sys.argv[2], forward=True))
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"load": [t1 - t0, c1 - c0], "view": [t2 - t1, c2 - c1]}))
"""

#: Runs in a fresh interpreter: imports and load, then one rep's period_forecast and the
#: chance of target its document shows.
CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
t0, c0 = time.perf_counter(), time.process_time()
import salesnb
from salesnb.forecast.chance import target_chance
from salesnb.forecast.combined import period_forecast
wb = salesnb.load(sys.argv[1])
t1, c1 = time.perf_counter(), time.process_time()
rep, top = sys.argv[2], int(sys.argv[3])
if top:
    import cProfile, pstats
    pr = cProfile.Profile()
    pr.enable()
pf = period_forecast(wb, "rep", rep)
chance = target_chance(wb, pf).p
t2, c2 = time.perf_counter(), time.process_time()
if top:
    pr.disable()
    pstats.Stats(pr, stream=sys.stderr).sort_stats("cumulative").print_stats(top)
print(json.dumps({"load": [t1 - t0, c1 - c0], "call": [t2 - t1, c2 - c1],
                  "p_target": chance, "expected": pf.blended.mean}))
"""


def rep_forecast(rep: str, top: int = 0) -> dict:
    """Seconds of a fresh process's imports and load, and of one rep's ``period_forecast``."""
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    cmd = [sys.executable, "-c", CHILD, str(SAMPLE), rep, str(top)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"period_forecast failed: {proc.stderr[-2000:]}")
    if top:
        print(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def rep_view(rep: str) -> dict:
    """Seconds of a fresh process's imports and load, and of one rep's ``forecast_view``
    (the forecast document's figures, tables and text) with the modules already imported."""
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    cmd = [sys.executable, "-c", VIEW_CHILD, str(SAMPLE), rep]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"forecast_view failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rep", default=None, help="rep id (default: the sample's first rep)")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile top N")
    ap.add_argument("--documents", type=int, default=0, metavar="N", help="batch N reps")
    ap.add_argument("--no-warm", action="store_true", help="do not fill the cache first")
    ap.add_argument("--view", action="store_true", help="time the rep's forecast_view too")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    from forecast_accuracy import time_documents, time_small

    import salesnb

    wb = salesnb.load(SAMPLE) if SAMPLE.is_dir() else None
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("forecast_many, one process, best of 3 (goal: under 1 s):")
    for label, (wall, cpu) in time_small(wb).items():
        print(f"  {label}: {wall:.2f} s wall, {cpu:.2f} s CPU")
    if wb is None:
        print("sample data not found: no document timing")
        return 0
    rep = args.rep or str(wb.reps["rep_id"].iloc[0])
    if not args.no_warm:
        t0 = time.perf_counter()
        rep_forecast(rep)
        print(f"cache filled by a first process in {time.perf_counter() - t0:.1f} s wall")
    r = rep_forecast(rep, args.profile)
    print(f"a rep's period_forecast ({rep}), fresh process, warm cache (goal: document < 3 s):")
    print(f"  imports and load {r['load'][0]:.2f} s wall, {r['load'][1]:.2f} s CPU")
    print(f"  period_forecast  {r['call'][0]:.2f} s wall, {r['call'][1]:.2f} s CPU")
    print(f"  (expected {r['expected']:,.0f}, P(target) {r['p_target']:.1%})")
    if args.view:
        v = rep_view(rep)
        print(f"a rep's forecast_view ({rep}), modules preloaded, warm cache: "
              f"{v['view'][0]:.2f} s wall, {v['view'][1]:.2f} s CPU "
              f"(imports and load {v['load'][1]:.2f} s CPU); load {os.getloadavg()[0]:.1f}")  # fmt: skip
    if args.documents:
        docs = time_documents(args.documents)
        if docs:
            print("salesnb batch forecast, second run, seconds per document:")
            print("  " + ", ".join(f"{k} {s:.1f}" for k, s in docs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

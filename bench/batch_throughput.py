"""Throughput of ``salesnb batch`` beside the obvious alternatives, measured in one run.

Three ways to make one HTML review document per rep:

1. ``salesnb batch NOTEBOOK --by rep --only ...`` (the whole command, start-up included) with
   each chart format: ``--charts svg`` (the default: static SVG made during the batch) and
   ``--charts vega`` (specs drawn by the reader's browser; no SVG conversion); each command is
   run ``--repeat`` times (default 3, a fresh output folder each) and the median counts: a
   single run of a few seconds moves by 5-10% with what the machine did just before;
2. a shell loop: ``papermill`` CLI then ``jupyter nbconvert --to html --no-input`` per rep;
3. plain ``papermill.execute_notebook`` + nbconvert's HTML export in 2 worker processes.

Prints seconds per document for each and the ratios (loop / batch, pool / batch).
The baselines are slow, so they run on the first few reps only (``--baseline-reps``, default 3,
for the loop; ``--pool-reps``, default 4, for the pool) and their time per document is
extrapolated (the output says so). Ratios are taken within one run, so a busy machine slows
all three alike.

Usage::

    python bench/batch_throughput.py                      # 30 reps of data/sample
    python bench/batch_throughput.py --notebook tests/notebooks/heavy.ipynb --baseline-reps 6
    python bench/batch_throughput.py --engine papermill    # the batch with papermill kernels
    python bench/batch_throughput.py --charts svg          # one chart format only
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def default_notebook() -> Path:
    real = ROOT / "notebooks" / "pipeline_review.ipynb"
    return real if real.exists() else ROOT / "tests" / "notebooks" / "heavy.ipynb"


def rep_ids(data: Path, n: int) -> list[str]:
    import salesnb

    ids = salesnb.load(str(data)).rep_ids()
    if len(ids) < n:
        print(f"note: the data has {len(ids)} reps; timing {len(ids)} instead of {n}")
    return ids[:n]


def time_batch(
    nb: Path, data: Path, reps: list[str], out: Path, workers: int, engine: str, charts: str
) -> float:
    cmd = [
        str(BIN / "salesnb"), "batch", str(nb), "--by", "rep", "--data", str(data),
        "--out", str(out), "--only", ",".join(reps), "--no-progress", "--engine", engine,
        "--workers", str(workers), "--charts", charts,
    ]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"salesnb batch failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def time_shell_loop(nb: Path, data: Path, reps: list[str], out: Path) -> float:
    lines = ["set -e"]
    for r in reps:
        executed = out / f"{r}.ipynb"
        lines.append(
            f"'{BIN / 'papermill'}' '{nb}' '{executed}' -p data '{data}' -p subject_type rep "
            f"-p subject '{r}' --no-progress-bar --log-level ERROR"
        )
        lines.append(
            f"'{BIN / 'jupyter'}' nbconvert --to html --no-input '{executed}' --log-level ERROR"
        )
    script = out / "loop.sh"
    script.write_text("\n".join(lines) + "\n")
    t0 = time.perf_counter()
    proc = subprocess.run(["bash", str(script)], check=False, capture_output=True, text=True,
                          cwd=ROOT)  # fmt: skip
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"shell loop failed:\n{proc.stderr[-2000:]}")
    return elapsed


def _quiet() -> None:
    # kernels inherit stderr; their start-up warnings would bury the results
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)


def _pool_job(args: tuple[str, str, str, str]) -> None:
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    nb, data, rep, out = args
    executed = papermill.execute_notebook(
        nb, out, parameters={"data": data, "subject_type": "rep", "subject": rep},
        progress_bar=False, cwd=str(ROOT),
    )  # fmt: skip
    html, _ = HTMLExporter(exclude_input=True).from_notebook_node(nbformat.from_dict(executed))
    Path(out).with_suffix(".html").write_text(html, encoding="utf-8")


def time_pool(nb: Path, data: Path, reps: list[str], out: Path, workers: int = 2) -> float:
    jobs = [(str(nb), str(data), r, str(out / f"{r}.ipynb")) for r in reps]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=_quiet) as pool:
        list(pool.map(_pool_job, jobs))
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--notebook",
        type=Path,
        default=None,
        help="default: notebooks/pipeline_review.ipynb, else tests/notebooks/heavy",
    )
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "sample")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument(
        "--baseline-reps",
        type=int,
        default=3,
        help="time the shell loop on this many reps and extrapolate (0: all; default 3)",
    )
    ap.add_argument(
        "--pool-reps",
        type=int,
        default=4,
        help="time the papermill pool on this many reps and extrapolate (0: all; default 4)",
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="run each salesnb batch command this many times and take the median (default 3)",
    )
    ap.add_argument("--engine", default="auto", help="salesnb batch --engine (default auto)")
    ap.add_argument(
        "--charts",
        choices=["svg", "vega", "both"],
        default="both",
        help="salesnb batch --charts to time (default both)",
    )
    args = ap.parse_args(argv)  # fmt: skip

    nb = (args.notebook or default_notebook()).resolve()
    data = args.data.resolve()
    if not data.exists():
        sys.exit(f"{data} does not exist. Fix: run `salesnb sample` first, or pass --data.")
    reps = rep_ids(data, args.reps)
    base_reps = reps[: args.baseline_reps] if args.baseline_reps else reps
    pool_reps = reps[: args.pool_reps] if args.pool_reps else reps
    print(f"notebook {nb.relative_to(ROOT) if nb.is_relative_to(ROOT) else nb}; data {data}; "
          f"{len(reps)} reps; {os.cpu_count()} cores; workers {args.workers}; engine "
          f"{args.engine}")  # fmt: skip
    formats = ["svg", "vega"] if args.charts == "both" else [args.charts]
    work = Path(tempfile.mkdtemp(prefix="salesnb-bench-"))
    try:
        for name in ("loop", "pool"):
            (work / name).mkdir()
        if "vega" in formats:  # the runtime bundle is built once per machine: not timed
            from salesnb.reports import vegabundle

            vegabundle.vega_bundle()
        runs = {
            c: [time_batch(nb, data, reps, work / f"{c}-{i}", args.workers, args.engine, c)
                for i in range(max(1, args.repeat))]
            for c in formats
        }  # fmt: skip
        t_batch = {c: statistics.median(ts) for c, ts in runs.items()}
        t_loop = time_shell_loop(nb, data, base_reps, work / "loop")
        t_pool = time_pool(nb, data, pool_reps, work / "pool", workers=2)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    per_loop = t_loop / len(base_reps)
    per_pool = t_pool / len(pool_reps)

    def timed_on(n: int) -> str:
        return "" if n == len(reps) else f" (timed on {n} of {len(reps)} reps, extrapolated)"

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at the end")  # fmt: skip
    for c, t in t_batch.items():
        each = ", ".join(f"{x:.2f}" for x in runs[c])
        print(
            f"salesnb batch --engine {args.engine} --charts {c} ({len(reps)} docs, whole "
            f"command, median of {len(runs[c])} runs: {each} s): {t:8.2f} s  "
            f"{t / len(reps):6.3f} s/doc"
        )
    print(
        f"papermill CLI + nbconvert loop{timed_on(len(base_reps))}: {t_loop:8.1f} s  "
        f"{per_loop:6.2f} s/doc  (~{per_loop * len(reps):.0f} s for {len(reps)})"
    )
    print(
        f"papermill.execute_notebook, 2 processes{timed_on(len(pool_reps))}: {t_pool:8.1f} s  "
        f"{per_pool:6.2f} s/doc  (~{per_pool * len(reps):.0f} s for {len(reps)})"
    )
    for c, t in t_batch.items():
        per_batch = t / len(reps)
        print(f"--charts {c}: ratio loop/batch {per_loop / per_batch:5.1f}x   "
              f"ratio pool/batch {per_pool / per_batch:5.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()

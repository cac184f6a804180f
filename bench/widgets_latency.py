"""Benchmark: recomputation time of each workshop app after a control change, on the sample data.

The workshop apps, the incentive what-if and the plan designer. For every app, builds it once on ``data/sample`` (loading and precomputation are not timed),
then cycles one control through a few values and times, per change:

* ``compute`` -- the pure function behind the control (:mod:`salesnb.apps.workshop`);
* ``numbers`` -- compute plus the HTML outputs: the time until the new numbers are sent to the
  browser (the app updates them before it builds the chart), the figure the goal is about;
* ``chart`` -- building the Altair chart and its Vega-Lite spec afterwards (the browser draws
  it; its drawing time is not included); ``total`` = numbers + chart.

Prints the median over ``--repeat`` changes per app and control (and the worst total).
Run: ``python bench/widgets_latency.py [--data data/sample] [--repeat 12]``.
Goal: numbers under 100 ms per control change.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from salesnb.apps import widgets as apps
from salesnb.apps import workshop as ws

GOAL_MS = 100.0

#: (app, constructor kwargs, control, values cycled through)
CASES: list[tuple[str, dict, str, list[Any]]] = [
    ("smart_goal_builder", {"rep": "R01", "objective": "Grow revenue"}, "target",
     ["150k", "200k", "95000", "300k"]),
    ("target_decomposition", {}, "total", ["12000000", "12500000", "9750000", "11111111"]),
    ("target_decomposition", {}, "method", ["even", "seasonal"]),
    ("reverse_funnel", {}, "win_rate", [0.25, 0.3, 0.2, 0.35]),
    ("forecast_what_if", {"subject": "all"}, "win_rate", [1.1, 1.2, 0.9, 1.5]),
    ("forecast_what_if", {"subject": "R15"}, "cycle", [1.2, 0.8, 1.5, 1.0]),
    ("pipeline_explorer", {}, "rep", ["R01", "R02", "", "R15"]),
    ("incentive_what_if", {"rep": "R15"}, "accelerator", [1.5, 2.0, 1.0, 2.5]),
    ("incentive_what_if", {"rep": "R15"}, "extra", ["20k", "50k", "", "5000"]),
    ("plan_designer", {"role": "enterprise"}, "accelerator", [2.0, 1.5, 1.0, 2.5]),
    ("plan_designer", {"role": "enterprise"}, "cap", [1.5, 2.0, 3.0, 2.5]),
]  # fmt: skip


def _build(name: str, data: str, wb: Any, kwargs: dict) -> Any:
    """The app ``name`` on ``data``: the workshop apps on the loaded workbook, the incentive
    apps from the data folder and its plan file, as their notebooks open them."""
    if name == "incentive_what_if":
        from salesnb.apps.incentive_whatif import IncentiveWhatIfApp

        return IncentiveWhatIfApp.from_path(data, plan=f"{data}/incentive_plan.toml", **kwargs)
    if name == "plan_designer":
        from salesnb.apps.plan_designer import PlanDesignerApp

        return PlanDesignerApp.from_path(data, plan=f"{data}/incentive_plan.toml", **kwargs)
    return apps.APPS[name](wb, **kwargs)


def _time(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def run(data: str, repeat: int) -> list[dict]:
    wb = ws.load_workbook(data)
    built: dict[tuple, apps._App] = {}
    rows = []
    for name, kwargs, control, values in CASES:
        key = (name, tuple(sorted(kwargs.items())))
        if key not in built:
            built[key] = _build(name, data, wb, kwargs)
        app = built[key]
        widget = app.controls[control]
        if widget.value == values[0]:
            values = values[1:] + values[:1]
        widget.value = values[-1]  # warm caches for this control
        steps: dict[str, list[float]] = {"compute": [], "numbers": [], "chart": [], "total": []}
        for i in range(repeat):
            v = values[i % len(values)]
            total = _time(lambda w=widget, v=v: setattr(w, "value", v))
            assert app.error is None, (name, control, v, app.error)
            t = app.timings
            steps["compute"].append(t["compute"])
            steps["numbers"].append(t["compute"] + t["render"])
            steps["chart"].append(t["chart"])
            steps["total"].append(total)
        rows.append({"app": name, "control": control, "worst": max(steps["total"]),
                     **{k: statistics.median(v) for k, v in steps.items()}})  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/sample")
    ap.add_argument("--repeat", type=int, default=12)
    args = ap.parse_args()
    rows = run(args.data, args.repeat)
    cols = ("compute", "numbers", "chart", "total", "worst")
    print(f"{'app':22} {'control':11}" + "".join(f"{c:>10}" for c in cols) + "  numbers < 100 ms")
    for r in rows:
        ok = "ok" if r["numbers"] < GOAL_MS else "SLOW"
        cells = "".join(f"{r[c]:8.1f}ms" for c in cols)
        print(f"{r['app']:22} {r['control']:11}{cells}  {ok}")


if __name__ == "__main__":
    main()

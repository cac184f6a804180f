"""Interactive workshop apps: ipywidgets controls wired to the pure functions of
:mod:`salesnb.apps.workshop`.

Every app has ``controls`` (name -> widget), ``outputs`` (name -> HTML widget or Output),
``result`` (the last computation) and ``widget`` (the whole app). Changing a control's
``value`` recomputes synchronously, so a test can set a value and read the result without a
browser. ``show()`` displays the app; outside Voila it also prints a static copy of the
current result (tables and an SVG chart) for rendered notebooks.

Examples
--------
>>> app = SmartGoalApp.from_path("data/sample")      # doctest: +SKIP
>>> app.controls["target"].value = "250k"              # doctest: +SKIP
>>> app.result.result.criteria["A"].status             # doctest: +SKIP
'fail'
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as W
import numpy as np
import pandas as pd

from salesnb.analytics import goals
from salesnb.analytics.coaching_facts import format_value
from salesnb.apps import workshop as ws
from salesnb.core.errors import SalesnbError

__all__ = [
    "APPS",
    "DecompositionApp",
    "ForecastWhatIfApp",
    "PipelineExplorerApp",
    "ReverseFunnelApp",
    "SmartGoalApp",
    "in_voila",
]

VEGALITE = "application/vnd.vegalite.v5+json"
_CSS = """<style>
.snb-app table.snb-table {border-collapse: collapse; font-size: 13px; margin: 4px 0;}
.snb-app table.snb-table th, .snb-app table.snb-table td {padding: 2px 8px; text-align: right;
  border-bottom: 1px solid #ddd;}
.snb-app table.snb-table th:first-child, .snb-app table.snb-table td:first-child {text-align: left;}
.snb-app table.snb-split td:last-child, .snb-app table.snb-split th:last-child {text-align: left;}
.snb-app .snb-headline {font-size: 15px; margin: 6px 0;}
.snb-app .snb-error {color: #b00020; border-left: 4px solid #b00020; padding: 4px 8px;}
.snb-app .snb-goal {user-select: all; background: #f4f6f8; padding: 8px; border-radius: 4px;}
.snb-app .snb-pass {color: #1a7f37; font-weight: bold;}
.snb-app .snb-warn {color: #9a6700; font-weight: bold;}
.snb-app .snb-fail {color: #b00020; font-weight: bold;}
.snb-app .snb-chart {max-width: 100%; overflow-x: auto;}
</style>"""
_BADGE = {"pass": "✔ pass", "warn": "⚠ warn", "fail": "✖ fail"}
_WIDE = W.Layout(width="420px")
_STYLE = {"description_width": "170px"}


def in_voila() -> bool:
    """True in a kernel started by Voila (it sets ``VOILA_KERNEL_ID``)."""
    return "VOILA_KERNEL_ID" in os.environ


def _kernel() -> bool:
    """True inside an IPython kernel (outputs can reach a front end)."""
    from IPython import get_ipython

    return get_ipython() is not None


def _e(x: Any) -> str:
    return html.escape(str(x))


def _table(df: pd.DataFrame, money: tuple[str, ...] = (), currency: str = "USD",
           classes: str = "") -> str:  # fmt: skip
    """An escaped HTML table; ``money`` columns as whole currency units."""
    out = df.copy()
    for c in out.columns:
        if c in money:
            out[c] = [ws.fmt_money(v, currency) for v in out[c]]
        elif pd.api.types.is_float_dtype(out[c]):
            out[c] = [f"{v:,.0f}" if np.isfinite(v) else "–" for v in out[c]]
        elif pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
    return out.to_html(index=False, escape=True, classes=f"snb-table {classes}".strip(), border=0)


def _text(key: str, value: Any, description: str, placeholder: str = "") -> W.Text:
    w = W.Text(value=str(value if value is not None else ""), description=description,
               placeholder=placeholder, continuous_update=False, layout=_WIDE, style=_STYLE)  # fmt: skip
    return w.add_class(f"snb-{key}")


def _dropdown(key: str, options: list, value: Any, description: str) -> W.Dropdown:
    w = W.Dropdown(options=options, value=value, description=description, layout=_WIDE,
                   style=_STYLE)  # fmt: skip
    return w.add_class(f"snb-{key}")


def _slider(key: str, value: float, lo: float, hi: float, step: float, description: str,
            fmt: str = ".2f") -> W.FloatSlider:  # fmt: skip
    w = W.FloatSlider(value=min(max(value, lo), hi), min=lo, max=hi, step=step,
                      description=description, readout_format=fmt, continuous_update=False,
                      layout=_WIDE, style=_STYLE)  # fmt: skip
    return w.add_class(f"snb-{key}")


class _App:
    """Shared wiring: observe controls, recompute, render or show the error."""

    title = ""

    def __init__(self, currency: str) -> None:
        self.currency = currency
        self.result: Any = None
        self.chart: Any = None
        self.error: str | None = None
        self.timings: dict[str, float] = {}
        self._error = W.HTML().add_class("snb-error-box")
        self._chart_out = W.Output().add_class("snb-chart")
        self.outputs: dict[str, W.Widget] = {"chart": self._chart_out}
        self.controls: dict[str, W.Widget] = {}

    def _build(self, outputs: dict[str, W.Widget]) -> None:
        self.outputs = {**outputs, "chart": self._chart_out}
        for c in self.controls.values():
            c.observe(self._changed, names="value")
        head = W.HTML(_CSS + f"<h3>{_e(self.title)}</h3>")
        form = W.VBox(list(self.controls.values()))
        body = W.VBox([*outputs.values(), self._chart_out])
        self.widget = W.VBox([head, form, self._error, body]).add_class("snb-app")
        self.refresh()

    def _changed(self, _change: dict) -> None:
        self.refresh()

    def compute(self) -> Any:  # pragma: no cover - each app defines it
        raise NotImplementedError

    def render(self, result: Any) -> None:  # pragma: no cover - each app defines it
        raise NotImplementedError

    def make_chart(self, result: Any) -> Any:
        return None

    def refresh(self) -> None:
        """Recompute from the controls and update the outputs (an error is shown, not raised).

        The numbers (HTML outputs) are updated before the chart is built, so they reach the
        browser first; ``timings`` holds the milliseconds of each step.
        """
        t0 = time.perf_counter()
        try:
            self.result = self.compute()
        except SalesnbError as exc:
            self.error = str(exc)
            self._error.value = f'<div class="snb-error">{_e(exc)}</div>'
            return
        t1 = time.perf_counter()
        self.error = None
        self._error.value = ""
        self.render(self.result)
        t2 = time.perf_counter()
        self.chart = self.make_chart(self.result)
        spec = self.chart.to_dict(validate=False) if self.chart is not None else None
        if _kernel():
            self._chart_out.clear_output(wait=True)
            if spec is not None:
                with self._chart_out:
                    from IPython.display import display

                    display({VEGALITE: spec, "text/plain": f"<chart: {self.title}>"}, raw=True)
        t3 = time.perf_counter()
        self.timings = {"compute": (t1 - t0) * 1e3, "render": (t2 - t1) * 1e3,
                        "chart": (t3 - t2) * 1e3}  # fmt: skip

    def static_html(self) -> str:
        """The current result as plain HTML (the HTML outputs, no widgets)."""
        parts = [w.value for k, w in self.outputs.items() if k != "chart" and hasattr(w, "value")]
        return _CSS + '<div class="snb-app">' + "".join(parts) + "</div>"

    def show(self) -> None:
        """Display the app; outside Voila also a static copy of the current result."""
        from IPython.display import HTML, Markdown, display

        display(self.widget)
        if not in_voila():
            display(Markdown("*Static copy of the result with the notebook's parameters:*"))
            display(HTML(self.static_html()))
            if self.chart is not None:
                display(self.chart)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    @classmethod
    def from_path(cls, data: str = "data/sample", profile: str | None = None, **kwargs: Any):
        """The app on the data folder ``data`` (found from the notebook's folder too)."""
        return cls(ws.load_workbook(data, profile), **kwargs)


# --------------------------------------------------------------------------- 1. SMART goals
class SmartGoalApp(_App):
    """Fields for a goal; live SMART feedback per criterion and the goal sentence to copy."""

    title = "SMART goal builder"

    def __init__(self, wb: Any, rep: str | None = None, *, metric: str = "bookings",
                 target: Any = None, baseline: Any = None, deadline: Any = None,
                 objective: str = "", objectives: list[str] | None = None) -> None:  # fmt: skip
        super().__init__(wb.config.currency)
        self.ctx = ws.SmartContext(wb, objectives=list(objectives or []))
        rid = str(wb.rep(rep)["rep_id"]) if rep else wb.rep_ids()[0]
        names = wb.reps.set_index("rep_id")["name"]
        if deadline is None:
            cal = wb.config.calendar
            q = cal.period_label(wb.as_of + pd.Timedelta(days=1), "Q")
            deadline = f"{cal.period_bounds(q)[1]:%Y-%m-%d}"
        if target is None:  # a 20% stretch on the rep's recent level
            base = ws.smart_feedback(self.ctx, rep_id=rid, metric=metric).baseline
            m = goals.METRICS.get(metric)
            if base is not None and m is not None:
                target = round(base + 0.05, 2) if m.kind == "ratio" else round(base * 1.2, -3)
        self.controls = {
            "owner": _dropdown("owner", [(f"{names[r]} ({r})", r) for r in wb.rep_ids()], rid,
                               "Owner"),
            "metric": _dropdown("metric", [(m.label, k) for k, m in goals.METRICS.items()],
                                metric, "Metric"),
            "baseline": _text("baseline", baseline, "Baseline", "blank: from history"),
            "target": _text("target", target, "Target", "e.g. 150k, +40%, x1.2 or 30%"),
            "deadline": _text("deadline", deadline, "Deadline", "YYYY-MM-DD"),
            "objective": _text("objective", objective, "Objective it serves"),
        }  # fmt: skip
        self._build({"verdicts": W.HTML().add_class("snb-verdicts"),
                     "goal": W.HTML().add_class("snb-goal-text")})  # fmt: skip

    def compute(self) -> ws.SmartFeedback:
        c = self.controls
        return ws.smart_feedback(self.ctx, rep_id=c["owner"].value, metric=c["metric"].value,
                                 baseline=c["baseline"].value, target=c["target"].value,
                                 deadline=c["deadline"].value, objective=c["objective"].value)  # fmt: skip

    def render(self, fb: ws.SmartFeedback) -> None:
        rows = "".join(
            f"<tr><td>{_e(r.criterion)} {_e(r.name)}</td>"
            f'<td class="snb-{r.status}">{_BADGE[r.status]}</td>'
            f'<td style="text-align:left">{_e(r.reason)}</td></tr>'
            for r in fb.table.itertuples()
        )
        st = fb.result.status
        note = f" · Target read as: {_e(fb.target_note)}" if fb.target_note else ""
        self.outputs["verdicts"].value = (
            f'<div class="snb-headline">Overall: <span class="snb-{st}">{_BADGE[st]}</span>'
            f"{note}</div><table class='snb-table'><tr><th>Criterion</th><th>Verdict</th>"
            f"<th>Why</th></tr>{rows}</table>"
        )
        self.outputs[
            "goal"
        ].value = f"<b>Your goal (click to select, then copy):</b><div class='snb-goal'>{_e(fb.text)}</div>"


# --------------------------------------------------------------------------- 2. decomposition
_VIEWS = ["Quarters", "Months", "Weeks", "Reps"]


class DecompositionApp(_App):
    """Annual target + split method -> quarters, months, weeks and reps that add up."""

    title = "Target decomposition"

    def __init__(self, wb: Any, total: Any = None, *, year: int | None = None,
                 method: str = "seasonal", custom: str = "Q1=20, Q2=25, Q3=25, Q4=30",
                 rep_method: str = "history", view: str = "Months") -> None:  # fmt: skip
        super().__init__(wb.config.currency)
        self.ctx = ws.DecompositionContext.from_workbook(wb)
        years = self.ctx.year_starts()
        start = years[-1][1] if year is None else wb.config.calendar.period_bounds(f"FY{year}")[0]
        options = [(label, f"{s:%Y-%m-%d}") for label, s in years]
        if f"{start:%Y-%m-%d}" not in dict(options).values():
            options.append((f"FY{year}", f"{start:%Y-%m-%d}"))
        self.controls = {
            "total": _text("total", f"{total or self.ctx.default_total:.0f}",
                           f"Annual target ({wb.config.currency})"),
            "year": _dropdown("year", options, f"{start:%Y-%m-%d}", "Fiscal year"),
            "method": _dropdown("method", [("Seasonality from history", "seasonal"),
                                           ("Even", "even"), ("Custom weights", "custom")],
                                method, "Split over time"),
            "custom": _text("custom", custom, "Custom weights", "Q1=20, Q2=25, ... or 12 numbers"),
            "rep_method": _dropdown("rep_method", [("Last year's bookings", "history"),
                                                   ("Even", "even"),
                                                   ("Capacity (tenure ramp)", "capacity")],
                                    rep_method, "Split across reps"),
            "view": W.ToggleButtons(options=_VIEWS, value=view,
                                    description="Show").add_class("snb-view"),
        }  # fmt: skip
        self._build({"check": W.HTML().add_class("snb-check"),
                     "table": W.HTML().add_class("snb-result")})  # fmt: skip

    def compute(self) -> tuple[goals.Decomposition, pd.DataFrame]:
        c = self.controls
        self.controls["custom"].disabled = c["method"].value != "custom"
        return ws.decompose_target(self.ctx, c["total"].value, year_start=c["year"].value,
                                   method=c["method"].value, custom_weights=c["custom"].value,
                                   rep_method=c["rep_method"].value)  # fmt: skip

    def frame(self, result: tuple[goals.Decomposition, pd.DataFrame]) -> pd.DataFrame:
        """The table of the selected view: ``period``, ``amount`` (and share)."""
        d, reps = result
        view = self.controls["view"].value
        if view == "Quarters":
            df = pd.DataFrame({"period": d.quarters["quarter"], "amount": d.quarters["amount"]})
        elif view == "Months":
            df = pd.DataFrame({"period": d.months["label"], "amount": d.months["amount"]})
        elif view == "Weeks":
            df = pd.DataFrame({"period": d.weeks["week_start"].dt.strftime("%Y-%m-%d") + " ("
                               + d.weeks["iso_week"] + ")", "amount": d.weeks["amount"]})  # fmt: skip
        else:
            df = pd.DataFrame({"period": reps["name"], "amount": reps["amount"]})
        df["share"] = (df["amount"] / d.total * 100).map("{:.1f}%".format) if d.total else "–"
        return df.reset_index(drop=True)

    def render(self, result: tuple[goals.Decomposition, pd.DataFrame]) -> None:
        d, reps = result
        cur, t = self.currency, ws.fmt_money(d.total, self.currency)
        sums = [("quarters", d.quarters["amount"].sum(), len(d.quarters)),
                ("months", d.months["amount"].sum(), len(d.months)),
                ("weeks", d.weeks["amount"].sum(), len(d.weeks)),
                ("reps", reps["amount"].sum(), len(reps))]  # fmt: skip
        items = "".join(
            f"<li>{n} {what} add up to {ws.fmt_money(s, cur)} "
            f"{'✔' if round(s) == round(d.total) else '✖'}</li>"
            for what, s, n in sums
        )
        self.outputs[
            "check"
        ].value = (
            f"<div class='snb-headline'>Target {t} split {_e(d.method)}ly</div><ul>{items}</ul>"
        )
        df = self.frame(result)
        total = pd.DataFrame(
            {"period": ["Total"], "amount": [df["amount"].sum()], "share": ["100.0%"]}
        )
        self.outputs["table"].value = _table(pd.concat([df, total]), ("amount",), cur)

    def make_chart(self, result: tuple[goals.Decomposition, pd.DataFrame]) -> Any:
        from salesnb.reports import charts

        view = self.controls["view"].value
        return charts.decomposition(self.frame(result)[["period", "amount"]], currency=self.currency,
                                    title=f"Target by {view.lower().rstrip('s')}")  # fmt: skip


# --------------------------------------------------------------------------- 3. reverse funnel
class ReverseFunnelApp(_App):
    """Conversion sliders -> the opportunities, meetings and calls a target takes per week.

    The ``rep`` control starts from one rep: their win rate, deal size, stage conversions
    and activity-to-opportunity rate over ``lookback_days`` and their quota for the quarter
    in play (a rate the rep's history lacks stays at the team's, and the page says so).
    """

    title = "Reverse funnel: what it takes"

    def __init__(self, wb: Any, target: Any = None, *, reps: list[str] | None = None,
                 weeks: int = 13, lookback_days: int = 365, rep: str | None = None) -> None:  # fmt: skip
        super().__init__(wb.config.currency)
        self.wb, self.lookback_days = wb, lookback_days
        ids = [str(wb.rep(r)["rep_id"]) for r in reps] if reps else None
        self.group = ids
        self.rates = ws.history_rates(wb, ids, lookback_days=lookback_days)
        if not self.rates["win_rate"] or not self.rates["avg_deal_size"]:
            self.rates |= {"win_rate": 0.2, "avg_deal_size": 10_000.0}
        self.team_rates = dict(self.rates)
        if target is None:  # the quarter in play's target, else 100,000
            target = self.quarter_target(ids) or 100_000.0
        r = self.rates
        size = float(r["avg_deal_size"])
        people = wb.reps.sort_values("name")
        group = "The reps chosen" if ids else "Whole team"
        self.controls = {
            "rep": _dropdown("rep", [(group, ""), *((f"{n} ({i})", i) for i, n in zip(
                people["rep_id"], people["name"], strict=True))], "", "Start from"),
            "target": _text("target", f"{parse_or(target):.0f}", f"Target ({self.currency})"),
            "weeks": W.IntSlider(value=weeks, min=1, max=52, description="Weeks",
                                 continuous_update=False, layout=_WIDE,
                                 style=_STYLE).add_class("snb-weeks"),
            "win_rate": _slider("win_rate", r["win_rate"], 0.01, 0.9, 0.01, "Win rate", ".0%"),
            "avg_deal_size": _slider("avg_deal_size", round(size, -2), 100.0,
                                     max(1000.0, round(size * 3, -2)), 100.0,
                                     f"Avg deal size ({self.currency})", ",.0f"),
        }  # fmt: skip
        self.stages = [s for s, v in r["stage_conversions"].items() if v and np.isfinite(v)]
        for i, s in enumerate(self.stages):
            self.controls[f"conv_{i}"] = _slider(f"conv_{i}", r["stage_conversions"][s], 0.05,
                                                 1.0, 0.01, f"{s} → next", ".0%")  # fmt: skip
        self.controls["activity_to_opp"] = _slider(
            "activity_to_opp", r["activity_to_opp"] or 0.05, 0.001, 0.3, 0.001,
            "Activity → opportunity", ".1%")  # fmt: skip
        o = wb.opportunities
        self._open = o.loc[o["outcome"] == "open", ["amount", "close_date", "rep_id"]]
        self._as_of = wb.as_of
        self._filling = False
        self._source = W.HTML().add_class("snb-source")
        self._build({"source": self._source,
                     "headline": W.HTML().add_class("snb-headline-box"),
                     "table": W.HTML().add_class("snb-result")})  # fmt: skip
        if rep:
            self.controls["rep"].value = str(wb.rep(rep)["rep_id"])

    def quarter_target(self, ids: list[str] | None) -> float | None:
        """The targets of ``ids`` (default: every rep) for the quarter in play, or None."""
        cal = self.wb.config.calendar
        q = cal.period_label(self.wb.as_of + pd.Timedelta(days=1), "Q")
        s, e = cal.period_bounds(q)
        t = self.wb.targets
        rows = t[t["month"].between(s, e) & t["rep_id"].isin(ids or self.wb.rep_ids())]
        return float(rows["amount"].sum()) or None

    def _changed(self, change: dict) -> None:
        if self._filling:
            return
        if change.get("owner") is self.controls["rep"]:
            self.prefill(change["new"] or None)
        self.refresh()

    def prefill(self, rep_id: str | None) -> None:
        """Set every control from ``rep_id``'s own history and quota (None: the group's)."""
        c = self.controls
        if rep_id is None:
            rates, quota, who = self.team_rates, self.quarter_target(self.group), None
        else:
            rates = ws.history_rates(self.wb, [rep_id], lookback_days=self.lookback_days)
            quota, who = self.quarter_target([rep_id]), str(self.wb.rep(rep_id)["name"])
        team = self.team_rates
        kept: list[str] = []

        def pick(key: str, label: str) -> float:
            v = rates.get(key)
            if v is None or not np.isfinite(v) or v <= 0:
                kept.append(label)
                return float(team[key] or 0.05)
            return float(v)

        self._filling = True
        try:
            size = pick("avg_deal_size", "deal size")
            slider = c["avg_deal_size"]
            slider.max = max(slider.max, round(size * 1.5, -2))
            slider.value = round(size, -2)
            c["win_rate"].value = min(max(pick("win_rate", "win rate"), 0.01), 0.9)
            for i, s in enumerate(self.stages):
                v = rates["stage_conversions"].get(s)
                if v is None or not np.isfinite(v) or v <= 0:
                    kept.append(f"{s} → next")
                    v = team["stage_conversions"][s]
                c[f"conv_{i}"].value = min(max(float(v), 0.05), 1.0)
            c["activity_to_opp"].value = min(max(pick("activity_to_opp", "activity → opportunity"),
                                                 0.001), 0.3)  # fmt: skip
            if quota:
                c["target"].value = f"{quota:.0f}"
        finally:
            self._filling = False
        self.rates = rates if rep_id is not None else team
        if who is None:
            self._source.value = ""
            return
        closed = int(rates["closed"])
        q_txt = (f"quota for the quarter in play: {ws.fmt_money(quota, self.currency)}" if quota
                 else "no quota in the targets for the quarter in play (target left as it was)")  # fmt: skip
        team_txt = (f" Too little history for {', '.join(kept)}: the team's figure is kept."
                    if kept else "")  # fmt: skip
        self._source.value = (
            f"<div class='snb-headline'>Starting from {_e(who)}: rates from their "
            f"{closed:,} deal{'' if closed == 1 else 's'} closed in the last "
            f"{self.lookback_days} days; {q_txt}.{_e(team_txt)}</div>"
        )

    def compute(self) -> ws.FunnelView:
        c = self.controls
        conv = {s: c[f"conv_{i}"].value for i, s in enumerate(self.stages)}
        return ws.funnel_view(c["target"].value, win_rate=c["win_rate"].value,
                              avg_deal_size=c["avg_deal_size"].value, stage_conversions=conv,
                              activity_to_opp=c["activity_to_opp"].value,
                              activity_mix=self.rates["activity_mix"] or None,
                              weeks=c["weeks"].value)  # fmt: skip

    def render(self, v: ws.FunnelView) -> None:
        rf, pw = v.funnel, v.per_week
        bits = [f"<b>{pw['opportunities']:,.0f}</b> new opportunities"]
        bits += [f"<b>{pw[k]:,.0f}</b> {k}s" for k in ("meeting", "call") if k in pw]
        notes = "".join(f"<li>{_e(n)}</li>" for n in rf.notes)
        self.outputs["headline"].value = (
            f"<div class='snb-headline'>To book {ws.fmt_money(rf.target, self.currency)} in "
            f"{rf.weeks} weeks: {rf.deals_needed:,} deals won from "
            f"{rf.opportunities_needed:,} opportunities, "
            f"{ws.fmt_money(rf.pipeline_needed, self.currency)} of pipeline. Per week: "
            f"{', '.join(bits)}.</div>" + (f"<ul>{notes}</ul>" if notes else "")
        )
        t = v.table.rename(columns={"total": "needed"})
        money = t["unit"] == "currency"
        for col in ("needed", "per_week"):
            t[col] = np.where(money, [ws.fmt_money(x, self.currency) for x in t[col]],
                              [f"{x:,.0f}" for x in t[col]])  # fmt: skip
        self.outputs["table"].value = _table(t[["item", "needed", "per_week"]])

    def make_chart(self, v: ws.FunnelView) -> Any:
        from salesnb.reports import charts

        rf = v.funnel
        horizon = self._as_of + pd.Timedelta(weeks=rf.weeks)
        rid = self.controls["rep"].value
        who = [rid] if rid else (self.group or self.wb.rep_ids())
        o = self._open[self._open["rep_id"].isin(who)]
        have = float(o.loc[o["close_date"] <= horizon, "amount"].sum())
        df = pd.DataFrame({
            "step": ["Pipeline needed", "Deals to win", "New opportunities", "Activities"],
            "needed": [rf.pipeline_needed, rf.deals_needed, rf.opportunities_needed,
                       rf.activities_needed if rf.activities_needed is not None else np.nan],
            "current": [have, np.nan, np.nan, np.nan],
            "unit": ["currency", "deals", "opportunities", "activities"],
        }).dropna(subset=["needed"])  # fmt: skip
        return charts.reverse_funnel(df, currency=self.currency)


def parse_or(value: Any, default: float = 0.0) -> float:
    """:func:`salesnb.apps.workshop.parse_number`, or ``default`` when blank."""
    v = ws.parse_number(value)
    return default if v is None else v


# --------------------------------------------------------------------------- 4. forecast what-if
_WHATIF_SLIDERS = {
    "win_rate": "Win rate ×",
    "cycle": "Sales cycle length ×",
    "deal_size": "Deal size ×",
    "pipeline_creation": "New pipeline ×",
}


class ForecastWhatIfApp(_App):
    """Scale win rate, cycle, deal size and new pipeline; watch the forecast and P(target)."""

    title = "Forecast what-if"

    def __init__(self, wb: Any, subject: str = "all", *, period: str | None = None,
                 target: Any = None, n_sims: int = 2000, seed: int = 0) -> None:  # fmt: skip
        super().__init__(wb.config.currency)
        self.wb, self.n_sims, self.seed = wb, n_sims, seed
        self._contexts: dict[tuple, ws.WhatIfContext] = {}
        self._documents: dict[tuple, ws.DocumentChance] = {}
        reps = wb.reps.sort_values("name")
        subjects = [("Whole team", "all")]
        subjects += [(f"Region: {r}", f"region:{r}") for r in sorted(set(wb.reps["region"]))]
        subjects += [
            (f"Rep: {n}", f"rep:{r}") for r, n in zip(reps["rep_id"], reps["name"], strict=True)
        ]
        if subject != "all" and ":" not in subject:
            subject = f"rep:{wb.rep(subject)['rep_id']}"
        cal = wb.config.calendar
        first = cal.period_label(wb.as_of + pd.Timedelta(days=1), "Q")
        nxt = cal.period_label(cal.period_bounds(first)[1] + pd.Timedelta(days=1), "Q")
        periods = [first, nxt]
        if period and period not in periods:
            periods.insert(0, period)
        self.controls = {
            "subject": _dropdown("subject", subjects, subject, "Forecast for"),
            "period": _dropdown("period", periods, period or first, "Period"),
            "target": _text("target", "" if target is None else target,
                            f"Target ({self.currency})", "blank: from the targets table"),
        }  # fmt: skip
        for k, label in _WHATIF_SLIDERS.items():
            lo, hi = ws.WHAT_IF_LIMITS[k]
            self.controls[k] = _slider(k, 1.0, lo, hi, 0.05, label, ".0%")
        self._build({"headline": W.HTML().add_class("snb-headline-box"),
                     "table": W.HTML().add_class("snb-result"),
                     "stages": W.HTML().add_class("snb-stages-table")})  # fmt: skip

    def context(self) -> ws.WhatIfContext:
        """The (cached) simulation context of the selected subject and period."""
        subject, period = self.controls["subject"].value, self.controls["period"].value
        key = (subject, period)
        if key not in self._contexts:
            kind, _, name = subject.partition(":")
            reps = self.wb.reps
            ids = None if kind == "all" else (
                [name] if kind == "rep" else reps.loc[reps["region"] == name, "rep_id"].tolist()
            )  # fmt: skip
            self._contexts[key] = ws.WhatIfContext.build(self.wb, ids, period, n_sims=self.n_sims,
                                                         seed=self.seed)  # fmt: skip
        return self._contexts[key]

    def document(self) -> ws.DocumentChance:
        """The forecast document's simulated quarters and P(target) map for the selected
        subject and period (cached): the what-if's chance is read on the document's scale."""
        subject, period = self.controls["subject"].value, self.controls["period"].value
        key = (subject, period)
        if key not in self._documents:
            kind, _, name = subject.partition(":")
            self._documents[key] = ws.DocumentChance.build(
                self.wb, kind, name or None, period, seed=self.seed
            )
        return self._documents[key]

    def compute(self) -> tuple[ws.WhatIfResult, ws.WhatIfResult]:
        ctx = self.context()
        c = self.controls
        target = c["target"].value.strip() or None
        base = ws.what_if(ctx, target=target)
        changed = ws.what_if(ctx, target=target, **{k: float(c[k].value) for k in _WHATIF_SLIDERS})
        return base, changed

    def render(self, result: tuple[ws.WhatIfResult, ws.WhatIfResult]) -> None:
        base, r = result
        cur = self.currency
        m = lambda x: ws.fmt_money(x, cur)
        if r.target:
            doc = self.document()
            now, before = ws.what_if_chance(doc, base, r), ws.what_if_chance(doc, base, base)
            if np.isfinite(now):
                now, before = format_value(now, "chance"), format_value(before, "chance")
                p = (f"P(reach {m(r.target)}), as the forecast document reckons it: <b>{now}</b> "
                     f"(before changes: {before})")  # fmt: skip
            else:
                p = f"P(reach {m(r.target)}): {_e(doc.chance.text(str))}"
        else:
            p = "No target for this subject and period: type one to see P(target)"
        self.outputs["headline"].value = (
            f"<div class='snb-headline'>{_e(self.controls['period'].value)}: expected "
            f"<b>{m(r.expected)}</b>, 80% between {m(r.quantile(0.1))} and "
            f"{m(r.quantile(0.9))}. {p}.</div>"
        )
        from types import SimpleNamespace

        from salesnb.reports.workbooks import pipeline_split

        ctx = self.context()
        # The forecast document's own split of its pipeline view (it reads ``pf.pipeline``).
        split = pipeline_split(SimpleNamespace(pipeline=ctx.pipeline))
        moved = (r.already_won, r.expected_open, r.expected_new)
        rows = [
            (part.capitalize(), v, w, how)
            for (part, v, how), w in zip(split["rows"], moved, strict=True)
        ]
        rows += [("Sum of the three parts", split["total"], sum(moved),
                  "the headline's figure is the mean of the simulations: close to this sum"),
                 ("Pessimistic (P10 of simulations)", base.quantile(0.1), r.quantile(0.1), ""),
                 ("Optimistic (P90 of simulations)", base.quantile(0.9), r.quantile(0.9), "")]  # fmt: skip
        df = pd.DataFrame(rows, columns=["", "before", "what-if", "how (before)"])
        self.outputs["table"].value = (
            "<div class='snb-headline'>The pipeline view, split as in the forecast document "
            "(whose headline pools it with the history view)</div>"
            + _table(df, ("before", "what-if"), cur, classes="snb-split")
            + f"<div>Open deals due in the period: {base.deals_due} before, {r.deals_due} "
            "what-if.</div>"
        )
        st = ws.open_by_stage(ctx, self.wb.config.stages.open_names)
        if len(st):
            st["p_win"] = [f"{p:.0%}" for p in st["p_win"]]
            st = st.rename(columns={"deals": "open deals", "p_win": "chance of winning in time",
                                    "expected": "expected"})  # fmt: skip
            self.outputs["stages"].value = (
                "<div class='snb-headline'>Open deals due in the period by stage, before "
                "changes (each deal's chance of winning inside the period, learned from past "
                "deals)</div>" + _table(st, ("amount", "expected"), cur)
            )
        else:
            self.outputs["stages"].value = "<div>No open deals due in the period.</div>"

    def make_chart(self, result: tuple[ws.WhatIfResult, ws.WhatIfResult]) -> Any:
        from salesnb.reports import charts

        r = result[1]
        if not r.target:
            return None
        p = ws.what_if_chance(self.document(), result[0], r)
        return charts.distribution(r.samples, r.target, currency=self.currency,
                                   p_attain=p)  # fmt: skip


# --------------------------------------------------------------------------- 5. pipeline explorer
class PipelineExplorerApp(_App):
    """Filter the open pipeline by rep, stage, age and close month; deals and funnel update."""

    title = "Pipeline explorer"

    def __init__(self, wb: Any, rep: str | None = None, *, max_rows: int = 25) -> None:
        super().__init__(wb.config.currency)
        self.ctx = ws.ExplorerContext.from_workbook(wb)
        self.max_rows = max_rows
        reps = wb.reps.sort_values("name")
        rid = "" if rep is None else str(wb.rep(rep)["rep_id"])
        top = int(np.ceil(self.ctx.deals["age_days"].max())) if len(self.ctx.deals) else 1
        self.controls = {
            "rep": _dropdown("rep", [("All reps", ""), *zip(reps["name"], reps["rep_id"],
                                                            strict=True)], rid, "Rep"),
            "stages": W.SelectMultiple(options=self.ctx.stages, value=tuple(self.ctx.stages),
                                       rows=len(self.ctx.stages), description="Stages",
                                       style=_STYLE, layout=_WIDE).add_class("snb-stages"),
            "age": W.IntRangeSlider(value=(0, top), min=0, max=top, description="Age (days)",
                                    continuous_update=False, style=_STYLE,
                                    layout=_WIDE).add_class("snb-age"),
            "close_month": _dropdown("close_month", [("Any month", ""), ("Past due", "past_due"),
                                                     *[(m, m) for m in self.ctx.months()]], "",
                                     "Close month"),
        }  # fmt: skip
        self._build({"summary": W.HTML().add_class("snb-summary"),
                     "table": W.HTML().add_class("snb-result")})  # fmt: skip

    def compute(self) -> ws.ExplorerView:
        c = self.controls
        return ws.explore(self.ctx, reps=c["rep"].value or None, stages=list(c["stages"].value),
                          age=c["age"].value, close_months=c["close_month"].value or None)  # fmt: skip

    def render(self, v: ws.ExplorerView) -> None:
        s, cur = v.summary, self.currency
        self.outputs["summary"].value = (
            f"<div class='snb-headline'><b>{s['deals']:,} deal{'' if s['deals'] == 1 else 's'}</b> worth "
            f"<b>{ws.fmt_money(s['amount'], cur)}</b> (weighted {ws.fmt_money(s['weighted'], cur)})"
            f" · {s['past_due']} past due · {s['stale']} stale · {s['old']} old</div>"
        )
        cols = ["opp_id", "account", "rep", "stage", "amount", "close_date", "age_days"]
        d = v.deals.head(self.max_rows)[cols].copy()
        f = v.deals.head(self.max_rows)
        d["flags"] = (np.where(f["past_due"], "past due ", "") + np.where(f["stale"], "stale ", "")
                      + np.where(f["old"], "old", "")).astype(str)  # fmt: skip
        d["flags"] = d["flags"].str.strip()
        more = len(v.deals) - len(d)
        self.outputs["table"].value = _table(d, ("amount",), cur) + (
            f"<div>… and {more:,} more (largest first).</div>" if more > 0 else ""
        )

    def make_chart(self, v: ws.ExplorerView) -> Any:
        """The funnel of the filtered deals; with a rep, each bar coloured against the team.

        The legend lists only the colours the bars use (the chart's fixed five-colour scale
        would show five entries while, without a team figure, every bar is grey).
        """
        import altair as alt

        from salesnb.reports import charts

        chart = charts.funnel(
            v.funnel, currency=self.currency, title="Open deals at or past each stage"
        )
        if not isinstance(chart, alt.LayerChart):
            return chart  # no deals: the chart says so
        used = set(chart.data["status"])
        shown = [s for s in charts.TEAM_STATUS if s in used]
        legend = "Next-stage share vs team"
        chart.layer[0].encoding.color = alt.Color(
            "status:N", legend=alt.Legend(title=legend),
            scale=alt.Scale(domain=shown, range=[charts.TEAM_STATUS[s] for s in shown]),
        )  # fmt: skip
        sub = (
            "Colour: the rep's share of deals going on to the next stage against the whole "
            "team's under the same filters."
            if "team_conversion" in v.funnel
            else "Pick a rep to colour each stage against the whole team."
        )
        chart.title = alt.TitleParams("Open deals at or past each stage", subtitle=sub)
        return chart


#: The apps by notebook name.
APPS: dict[str, Callable[..., _App]] = {
    "smart_goal_builder": SmartGoalApp,
    "target_decomposition": DecompositionApp,
    "reverse_funnel": ReverseFunnelApp,
    "forecast_what_if": ForecastWhatIfApp,
    "pipeline_explorer": PipelineExplorerApp,
}

#: The shared wiring of the apps (controls observed, compute, render, errors shown, static
#: copy), for apps in modules of their own (:mod:`salesnb.apps.incentive_whatif`).
App = _App

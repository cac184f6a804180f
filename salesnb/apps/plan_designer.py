"""The incentive plan designer for sales leaders: move a role's accelerator, cap, decelerator
threshold and kicker, and see next period's cost and the spread of pay move.

The reps' bookings next period are drawn once from the calibrated forecast
(:func:`salesnb.incentives.simulate.forecast_draws`); each move of a control re-prices the same
draws through the plan-cost simulation (:func:`salesnb.incentives.simulate.simulate_cost`), so
a move takes a fraction of a second and the figures match the incentives workbook. The changed
plan can be copied as a plan file (:func:`salesnb.incentives.design.plan_to_toml`). Served by
Voila like the other workshop apps (``notebooks/workshop/plan_designer.ipynb``).

Examples
--------
>>> app = PlanDesignerApp.from_path("data/sample", plan="data/sample/incentive_plan.toml",
...                                 role="enterprise")  # doctest: +SKIP
>>> app.controls["accelerator"].value = 2.0  # doctest: +SKIP
>>> app.result.figures["changed"]["expected_cost"] > app.result.figures["written"]["expected_cost"]  # doctest: +SKIP
True
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as W
import numpy as np
import pandas as pd

from salesnb.analytics.coaching_facts import format_value
from salesnb.apps import workshop as ws
from salesnb.apps.incentive_whatif import resolve_plan
from salesnb.apps.widgets import App
from salesnb.core.errors import ParameterError
from salesnb.data.config import read_toml
from salesnb.incentives import load_plan
from salesnb.incentives.design import Knobs, figures, knobs, plan_to_toml, redesign
from salesnb.incentives.plan import Plan
from salesnb.incentives.review import next_period
from salesnb.incentives.simulate import PlanCost, forecast_draws, period_table, simulate_cost

__all__ = ["DesignResult", "PlanDesignerApp", "pay_spread"]

_STYLE = {"description_width": "170px"}
_ALL = ""  # the region dropdown's value for every region
#: The rows of the cost table: figures key, label, unit.
_ROWS = (
    ("expected_cost", "Expected variable pay next period", "currency"),
    ("p10", "Low case: 1 chance in 10 it costs less (P10)", "currency"),
    ("p90", "High case: 1 chance in 10 it costs more (P90)", "currency"),
    ("expected_bookings", "Expected bookings", "currency"),
    ("cost_of_sales", "Cost of sales (variable pay / bookings)", "percent"),
    ("share_target", "Expected share of reps reaching 100% of quota", "percent"),
    ("accelerator_reps", "Reps expected to earn accelerator pay", "reps"),
    ("accelerator_likely", "Reps more likely than not to earn it", "reps"),
)


@dataclass(frozen=True)
class DesignResult:
    """One state of the designer: the plan as written and as changed, priced on the same draws.

    ``figures`` holds :func:`salesnb.incentives.design.figures` of each (keys "written",
    "changed"); ``toml`` is the changed plan as a plan file.
    """

    role: str
    region: str
    period: str
    plan: Plan
    written: PlanCost
    changed: PlanCost
    figures: dict[str, dict[str, float]]
    toml: str
    notes: list[str]


class PlanDesignerApp(App):
    """Pick a role (and region), move its knobs; watch next period's cost and pay spread.

    Parameters
    ----------
    wb : Workbook
    plan : Plan
        The plan as written.
    role, region : str, optional
        The role and region shown first (default: the plan's first role, every region).
    period : str, optional
        The plan period simulated (default: the next one after the data's as-of date).
    n_sims, seed : int
        Forecast draws per rep and their seed.
    splits : str, optional
        The plan's splits file name, written into the copied TOML.
    draws : (rep_ids, array), optional
        Bookings draws (reps x simulations, currency) to use instead of the forecast's.
    """

    title = "Incentive plan designer"

    def __init__(self, wb: Any, plan: Plan, role: str | None = None, *, region: str | None = None,
                 period: str | None = None, n_sims: int = 2000, seed: int = 0,
                 splits: str | None = None,
                 draws: tuple[list[str], np.ndarray] | None = None) -> None:  # fmt: skip
        super().__init__(plan.currency or wb.unit)
        self.wb, self.plan, self.splits = wb, plan, splits
        self.period = period or next_period(wb, plan)
        self.base = period_table(wb, plan, self.period)
        if draws is None:  # the slow step, done once: every move re-prices these draws
            ids, self.draws, self._draw_notes = forecast_draws(wb, self.period, n_sims=n_sims,
                                                               seed=seed)  # fmt: skip
        else:
            ids, self.draws, self._draw_notes = list(draws[0]), np.asarray(draws[1], float), []
        self.rep_ids = ids
        team = simulate_cost(wb, plan, self.period, ids, self.draws, base=self.base)
        self._reps = team.per_rep[["rep_id", "role", "region"]].reset_index(drop=True)
        roles = [r for r in plan.roles if r in set(self._reps["role"])]
        if not roles:
            raise ParameterError(f"{plan.source}: no rep with a forecast has a role in "
                                 f"{self.period}. Fix: check the plan's [[assign]] tables and "
                                 "the targets table.")  # fmt: skip
        if role is not None and role not in roles:
            raise ParameterError(f"Role {role!r} has no rep with a forecast in {self.period}. "
                                 f"Fix: use one of {roles!r}.")  # fmt: skip
        role = role or roles[0]
        self._written: dict[tuple[str, str], PlanCost] = {}
        k = knobs(plan.roles[role])
        regions = self._regions(role)
        if region is not None and region not in dict(regions).values():
            raise ParameterError(f"Region {region!r} has no {role} rep. Fix: use one of "
                                 f"{[v for _, v in regions if v]!r}.")  # fmt: skip
        self.controls = {
            "role": _dropdown("role", roles, role, "Role"),
            "region": _dropdown("region", regions, region or _ALL, "Region"),
            "accelerator": _slider("accelerator", k.accelerator, 0.0, 4.0, 0.05,
                                   "Accelerator rate (×)", ".2f"),
            "threshold": _slider("threshold", k.threshold or 0.0, 0.0, 1.2, 0.05,
                                 "Decelerator threshold", ".0%"),
            "cap": _slider("cap", k.cap or 2.5, 0.25, 5.0, 0.05, "Cap (× target incentive)",
                           ".2f"),
            "no_cap": W.Checkbox(value=k.cap is None, description="No cap",
                                 indent=False).add_class("snb-no_cap"),
            "kicker": _slider("kicker", k.kicker or 0.0, 0.0, _kicker_max(k), 100.0,
                              f"Kicker ({self.currency})", ",.0f"),
        }  # fmt: skip
        self._set_enabled(k)
        self._quiet = False
        self._build({"headline": W.HTML().add_class("snb-headline-box"),
                     "table": W.HTML().add_class("snb-result"),
                     "bands": W.HTML().add_class("snb-bands"),
                     "notes": W.HTML().add_class("snb-notes"),
                     "toml": W.HTML().add_class("snb-toml")})  # fmt: skip

    @classmethod
    def from_path(cls, data: str = "data/sample", profile: str | None = None, *,
                  plan: str = "data/sample/incentive_plan.toml", **kwargs: Any):  # fmt: skip
        """The app on the data folder ``data`` and the plan file ``plan`` (found from the
        notebook's folder too)."""
        path = resolve_plan(plan)
        p = load_plan(path)
        splits = read_toml(path).get("plan", {}).get("splits") if p.splits is not None else None
        return cls(ws.load_workbook(data, profile), p, splits=splits, **kwargs)

    # ------------------------------------------------------------------ wiring
    def _regions(self, role: str) -> list[tuple[str, str]]:
        mine = self._reps[self._reps["role"] == role]["region"].dropna().astype(str)
        return [("All regions", _ALL)] + [(r, r) for r in sorted(mine.unique())]

    def _set_enabled(self, k: Knobs) -> None:
        c = self.controls
        c["threshold"].disabled = k.threshold is None
        c["kicker"].disabled = k.kicker is None
        c["cap"].disabled = bool(c["no_cap"].value)

    def _changed(self, change: dict) -> None:
        if self._quiet:
            return
        c = self.controls
        if change.get("owner") is c["role"]:
            self._quiet = True  # the region and the knobs follow the role: one refresh
            try:
                k = knobs(self.plan.roles[change["new"]])
                c["region"].options = self._regions(change["new"])
                c["region"].value = _ALL
                c["accelerator"].value = k.accelerator
                c["threshold"].value = k.threshold or 0.0
                c["no_cap"].value = k.cap is None
                c["cap"].value = k.cap or 2.5
                c["kicker"].max = _kicker_max(k)
                c["kicker"].value = k.kicker or 0.0
                self._set_enabled(k)
            finally:
                self._quiet = False
        c["cap"].disabled = bool(c["no_cap"].value)
        self.refresh()

    def _asked(self, k: Knobs) -> dict[str, Any]:
        """The knobs the controls ask for; None (or "keep") where they show the plan's own."""
        c = self.controls

        def moved(w: W.FloatSlider, written: float | None) -> float | None:
            if written is None:
                return None
            shown = min(max(written, w.min), w.max)
            return None if abs(w.value - shown) < 1e-9 else float(w.value)

        cap: float | None | str = "keep"
        if c["no_cap"].value:
            cap = None
        elif k.cap is None or moved(c["cap"], k.cap) is not None:
            cap = float(c["cap"].value)
        threshold = moved(c["threshold"], k.threshold)
        if k.threshold is None and c["threshold"].value > 0:
            threshold = float(c["threshold"].value)
        return {"accelerator": moved(c["accelerator"], k.accelerator), "threshold": threshold,
                "cap": cap, "kicker": moved(c["kicker"], k.kicker)}  # fmt: skip

    def _subset(self, role: str, region: str) -> tuple[list[str], np.ndarray]:
        r = self._reps
        keep = (r["role"] == role) & ((r["region"] == region) if region else True)
        ids = r.loc[keep, "rep_id"].tolist()
        pos = {x: i for i, x in enumerate(self.rep_ids)}
        return ids, self.draws[[pos[x] for x in ids]] if ids else np.zeros((0, self.draws.shape[1]))

    # ------------------------------------------------------------------ compute and show
    def compute(self) -> DesignResult:
        c = self.controls
        role, region = c["role"].value, c["region"].value
        k = knobs(self.plan.roles[role])
        asked = self._asked(k)
        changed_plan = redesign(self.plan, role, **asked)
        ids, draws = self._subset(role, region)
        key = (role, region)
        if key not in self._written:
            self._written[key] = simulate_cost(self.wb, self.plan, self.period, ids, draws,
                                               base=self.base, keep_pay=True)  # fmt: skip
        written = self._written[key]
        changed = written if changed_plan is self.plan else simulate_cost(
            self.wb, changed_plan, self.period, ids, draws, base=self.base, keep_pay=True)  # fmt: skip
        notes = [*self._draw_notes, *written.notes]
        new = knobs(changed_plan.roles[role])
        moves = _moves(k, new)
        if len(self.plan.roles[role].kickers) > 1 and asked["kicker"] is not None:
            notes.append("Only the first kicker moves; the role's other kickers stay as written.")
        if asked["accelerator"] is not None and any(
            b.start > 1.0 for b in changed_plan.roles[role].bands
        ):
            notes.append("The bands above the first accelerator band move by the same factor, "
                         "so the curve keeps its shape.")  # fmt: skip
        if k.threshold is None:
            notes.append(f"The {role} role has no decelerator: the threshold control is off.")
        if k.kicker is None:
            notes.append(f"The {role} role has no kicker: the kicker control is off.")
        head = [f"Made with the plan designer from {Path(self.plan.source).name}."]
        head += [f"Role {role}: {m}." for m in moves] or ["No knob moved: the plan as written."]
        toml = plan_to_toml(changed_plan, splits=self.splits, header="\n".join(head))
        figs = {"written": figures(written), "changed": figures(changed)}
        return DesignResult(role, region, self.period, changed_plan, written, changed, figs, toml,
                            notes)  # fmt: skip

    def refresh(self) -> None:
        """Recompute; on an invalid combination show its message and blank the figures (never
        stale figures beside a message)."""
        super().refresh()
        if self.error is not None:
            for name, w in self.outputs.items():
                if name != "chart":
                    w.value = ""
            self.chart = None
            from IPython import get_ipython

            if get_ipython() is not None:  # outside a kernel there is no chart to clear
                self._chart_out.clear_output()

    def _fmt(self, v: float, unit: str, n: float) -> str:
        if not np.isfinite(v):
            return "unknown"
        if unit == "reps":
            return f"{v:.1f} of {n:.0f}" if v != round(v) else f"{v:.0f} of {n:.0f}"
        return format_value(v, unit, self.currency)

    def _diff(self, a: float, b: float, unit: str) -> str:
        if not (np.isfinite(a) and np.isfinite(b)):
            return "unknown"
        d = b - a
        if abs(d) < 1e-9:
            return "no change"
        if unit == "currency":
            return format_value(d, "currency", self.currency, signed=True)
        if unit == "percent":
            return format_value(d, "points", signed=True)
        return f"{d:+.1f}"

    def render(self, r: DesignResult) -> None:
        w, c = r.figures["written"], r.figures["changed"]
        n = w["reps"]
        where = f" in {html.escape(r.region)}" if r.region else ""
        who = f"{n:.0f} {html.escape(_words(r.role))} reps{where}"
        if n == 0:
            self.outputs["headline"].value = (
                f"<div class='snb-headline'>No {html.escape(_words(r.role))} rep{where} has a forecast "
                f"for {html.escape(r.period)}: the cost is unknown.</div>")  # fmt: skip
        else:
            m = lambda v: self._fmt(v, "currency", n)
            same = r.changed is r.written
            tail = ("as written" if same else f"with your changes (as written {m(w['expected_cost'])}; "
                    f"{self._diff(w['expected_cost'], c['expected_cost'], 'currency')})")  # fmt: skip
            self.outputs["headline"].value = (
                f"<div class='snb-headline'>{who}, {html.escape(r.period)}: expected variable pay "
                f"<b>{m(c['expected_cost'])}</b> {tail}; 8 chances in 10 between "
                f"{m(c['p10'])} and {m(c['p90'])}.</div>")  # fmt: skip
        rows = "".join(
            f"<tr><td>{label}</td><td>{self._fmt(w[k], unit, n)}</td>"
            f"<td>{self._fmt(c[k], unit, n)}</td><td>{self._diff(w[k], c[k], unit)}</td></tr>"
            for k, label, unit in _ROWS
        )
        self.outputs["table"].value = (
            "<table class='snb-table'><tr><th></th><th>as written</th><th>with your changes</th>"
            f"<th>change</th></tr>{rows}</table><div><small>Variable pay: commission, kickers, "
            "new hires' draw top-ups and managers' overrides on these reps' bookings; base "
            "salaries are not in it.</small></div>"
        )
        self.outputs["bands"].value = self._bands_html(r)
        items = "".join(f"<li>{html.escape(x)}</li>" for x in r.notes)
        self.outputs["notes"].value = f"<div>How to read it:</div><ul>{items}</ul>"
        self.outputs["toml"].value = (
            "<details><summary><b>Copy this plan as TOML</b> (a plan file: save it as "
            "<code>incentive_plan.toml</code>)</summary>"
            "<pre class='snb-goal snb-toml-text' style='white-space: pre; line-height: 1.35; "
            "font-size: 12px; max-height: 360px; overflow: auto'>"
            f"{html.escape(r.toml)}</pre></details>"
        )

    def _bands_html(self, r: DesignResult) -> str:
        bw = r.written.bands[r.written.bands["role"] == r.role]
        bc = r.changed.bands[r.changed.bands["role"] == r.role]
        written_bands = self.plan.roles[r.role].bands
        changed_bands = r.plan.roles[r.role].bands
        share = {**dict(zip(bc["band"], bc["share"], strict=True)),
                 **dict(zip(bw["band"], bw["share"], strict=True))}  # fmt: skip
        rows = []
        for start in sorted(share):
            s = share[start]
            rows.append(
                f"<tr><td>{start:.0%} of quota and up</td><td>{_rate(written_bands, start):.2f}x</td>"
                f"<td>{_rate(changed_bands, start):.2f}x</td>"
                f"<td>{'unknown' if not np.isfinite(s) else format_value(s, 'percent')}</td></tr>"
            )
        return (
            "<div>Bands of the curve (rate paid per unit of attainment, times the base rate) and "
            "the expected share of reps reaching each:</div><table class='snb-table'><tr><th>Band"
            "</th><th>rate as written</th><th>rate with your changes</th><th>share of reps "
            f"reaching it</th></tr>{''.join(rows)}</table><div><small>Reaching a band depends on "
            "bookings, not on pay, so the share is the same under both plans.</small></div>"
        )

    def make_chart(self, r: DesignResult) -> Any:
        """How one rep's pay in the period is spread, over every rep and simulated outcome, as
        written and with the changes (a histogram drawn as two step lines)."""
        import altair as alt

        from salesnb.reports.chartkit import money_axis

        data = pay_spread(r.written, r.changed)
        if data.empty:
            return None
        money = money_axis(self.currency, title="One rep's variable pay in the period")
        dash = alt.StrokeDash("plan:N", title=None, scale=alt.Scale(
            domain=["as written", "with your changes"], range=[[6, 4], [1, 0]]))  # fmt: skip
        return alt.Chart(data).mark_line(interpolate="step-after").encode(
            x=alt.X("pay:Q", axis=money),
            y=alt.Y("share:Q", axis=alt.Axis(format="%", title="Share of outcomes")),
            strokeDash=dash,
        ).properties(width=520, height=240, title=(
            f"How pay is spread: {_words(r.role)} reps, {r.period}, every simulated outcome"))  # fmt: skip


def pay_spread(written: PlanCost, changed: PlanCost, bins: int = 30) -> pd.DataFrame:
    """Histogram of one rep's payout over every rep and draw, for two costs on the same bins.

    Returns ``plan`` ("as written", "with your changes"), ``pay`` (a bin's lower edge,
    currency) and ``share`` (the share of rep-outcomes in the bin); pay above the 99.5th
    percentile is counted in the last bin. Empty when no cost kept its pay
    (``simulate_cost(..., keep_pay=True)``) or no rep was simulated.

    Examples
    --------
    >>> c = PlanCost("Q", pd.DataFrame(), pd.DataFrame(), np.zeros(2), np.zeros(2),
    ...              pay=np.array([[0.0, 10.0]]))
    >>> pay_spread(c, c, bins=2)["share"].tolist()
    [0.5, 0.5, 0.5, 0.5]
    """
    pays = [(n, c.pay) for n, c in (("as written", written), ("with your changes", changed))
            if c.pay is not None and c.pay.size]  # fmt: skip
    if not pays:
        return pd.DataFrame(columns=["plan", "pay", "share"])
    hi = max(float(np.quantile(p, 0.995)) for _, p in pays)
    hi = hi if hi > 0 else 1.0
    edges = np.linspace(0.0, hi, bins + 1)
    parts = []
    for name, p in pays:
        counts, _ = np.histogram(np.clip(p.ravel(), 0.0, hi), bins=edges)
        parts.append(pd.DataFrame({"plan": name, "pay": edges[:-1], "share": counts / p.size}))
    return pd.concat(parts, ignore_index=True)


def _words(name: str) -> str:
    """A role's key as words ("mid_market" -> "mid market")."""
    return name.replace("_", " ")


def _rate(bands, at: float) -> float:
    """The rate of the band in effect at attainment ``at``."""
    return next(b.rate for b in reversed(bands) if b.start <= at)


def _moves(was: Knobs, now: Knobs) -> list[str]:
    """What moved, in words (for the TOML's header)."""
    out = []
    if abs(was.accelerator - now.accelerator) > 1e-12:
        out.append(f"rate above 100% {was.accelerator:g}x -> {now.accelerator:g}x")
    if was.threshold != now.threshold:
        out.append(f"decelerator threshold {_pct(was.threshold)} -> {_pct(now.threshold)}")
    if was.cap != now.cap:
        out.append(f"cap {_x(was.cap)} -> {_x(now.cap)}")
    if was.kicker != now.kicker:
        out.append(f"first kicker {was.kicker:g} -> {now.kicker:g}")
    return out


def _pct(x: float | None) -> str:
    return "none" if x is None else f"{x:.0%}"


def _x(x: float | None) -> str:
    return "none" if x is None else f"{x:g}x"


def _kicker_max(k: Knobs) -> float:
    return max(5000.0, 4 * (k.kicker or 0.0))


def _wide() -> W.Layout:
    """420 px, or the screen's width on a phone."""
    return W.Layout(width="100%", max_width="420px")


def _dropdown(key: str, options: list, value: Any, description: str) -> W.Dropdown:
    return W.Dropdown(options=options, value=value, description=description, layout=_wide(),
                      style=_STYLE).add_class(f"snb-{key}")  # fmt: skip


def _slider(key: str, value: float, lo: float, hi: float, step: float, description: str,
            fmt: str) -> W.FloatSlider:  # fmt: skip
    return W.FloatSlider(value=min(max(value, lo), hi), min=lo, max=hi, step=step,
                         description=description, readout_format=fmt, continuous_update=False,
                         layout=_wide(), style=_STYLE).add_class(f"snb-{key}")  # fmt: skip

"""The incentive what-if app for workshops: "if I close this deal, this amount, I earn ...".

A rep or a trainer picks a rep and a period, ticks open deals to win, types an extra amount,
and moves the plan's knobs (the accelerator, the cap); the payout, the step-by-step
calculation, what the next band is worth and the role's curve follow. Every figure comes from
the payout engine (:func:`salesnb.incentives.whatif.payout_what_if`), so the app and the
incentive statement never disagree. Served by Voila like the other workshop apps
(``notebooks/workshop/incentive_what_if.ipynb``).

Examples
--------
>>> app = IncentiveWhatIfApp.from_path("data/sample", plan="data/sample/incentive_plan.toml",
...                                    rep="R15")  # doctest: +SKIP
>>> app.controls["extra"].value = "20k"  # doctest: +SKIP
>>> round(app.result.change)  # doctest: +SKIP
4706
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import ipywidgets as W
import pandas as pd

from salesnb.analytics.coaching_facts import format_value
from salesnb.analytics.smart_goal import parse_number
from salesnb.apps import workshop as ws
from salesnb.apps.widgets import App
from salesnb.core.errors import ParameterError
from salesnb.incentives import load_plan, payouts
from salesnb.incentives.plan import Plan
from salesnb.incentives.review import next_period
from salesnb.incentives.whatif import PayoutWhatIf, next_step_text, payout_what_if

__all__ = ["IncentiveWhatIfApp", "resolve_plan"]

_WIDE = W.Layout(width="420px")
_STYLE = {"description_width": "170px"}
#: The rows of the before / what-if table: payouts column, label, unit.
_ROWS = (("credited", "Credited bookings", "currency"), ("quota", "Quota", "currency"),
         ("attainment", "Attainment", "percent"), ("commission", "Commission", "currency"),
         ("kicker", "Kickers", "currency"), ("spif", "SPIFs", "currency"),
         ("clawback", "Clawbacks", "currency"), ("draw_topup", "Draw top-up", "currency"),
         ("draw_recovery", "Draw recovered", "currency"), ("payout", "Payout", "currency"))  # fmt: skip


class IncentiveWhatIfApp(App):
    """Win deals, add an amount, move the accelerator and the cap; watch the payout."""

    title = "Incentive what-if"

    def __init__(self, wb: Any, plan: Plan, rep: str | None = None, *,
                 period: str | None = None) -> None:  # fmt: skip
        super().__init__(wb.unit)
        self.wb, self.plan = wb, plan
        self._tables: dict[str, pd.DataFrame] = {}
        now = payouts(wb, plan)
        paid = now[now["payee_kind"] == "rep"]
        if paid.empty:
            raise ParameterError(f"{plan.source}: the plan assigns no rep of the data a role. "
                                 "Fix: check its [[assign]] tables.")  # fmt: skip
        first = str(paid["period"].iloc[0])
        self._tables[first] = now
        periods = [first] + [p for p in (next_period(wb, plan),) if p != first]
        if period and period not in periods:
            periods.insert(0, period)
        names = paid.drop_duplicates("payee_id").sort_values("name")
        reps = [(f"{n} ({r})", r) for r, n in zip(names["payee_id"], names["name"], strict=True)]
        rid = str(wb.rep(rep)["rep_id"]) if rep else reps[0][1]
        self._role = dict(zip(paid["payee_id"], paid["role"], strict=True))
        role = plan.roles.get(self._role.get(rid, ""))
        cap = role.cap if role is not None and role.cap is not None else 2.5
        self.controls = {
            "rep": _dropdown("rep", reps, rid, "Rep"),
            "period": _dropdown("period", periods, period or first, "Period"),
            "deals": W.SelectMultiple(options=self._deal_options(rid), value=(),
                                      description="Win these open deals", rows=6,
                                      layout=W.Layout(width="620px"), style=_STYLE
                                      ).add_class("snb-deals"),
            "extra": _text("extra", "", f"Extra amount ({wb.unit})", "e.g. 25k"),
            "new_account": W.Checkbox(value=False, description="The extra amount is a new account",
                                      indent=False).add_class("snb-new_account"),
            "accelerator": _slider("accelerator", 1.0, 0.0, 3.0, 0.05,
                                   "Accelerator rates ×", ".0%"),
            "cap": _slider("cap", cap, 1.0, 5.0, 0.25, "Cap (× target incentive)", ".2f"),
            "no_cap": W.Checkbox(value=role is not None and role.cap is None,
                                 description="No cap", indent=False).add_class("snb-no_cap"),
        }  # fmt: skip
        self._quiet = False
        self._build({"headline": W.HTML().add_class("snb-headline-box"),
                     "table": W.HTML().add_class("snb-result"),
                     "next": W.HTML().add_class("snb-next"),
                     "lines": W.HTML().add_class("snb-lines")})  # fmt: skip

    @classmethod
    def from_path(cls, data: str = "data/sample", profile: str | None = None, *,
                  plan: str = "data/sample/incentive_plan.toml", **kwargs: Any):  # fmt: skip
        """The app on the data folder ``data`` and the plan file ``plan`` (found from the
        notebook's folder too)."""
        path = resolve_plan(plan)
        return cls(ws.load_workbook(data, profile), load_plan(path), **kwargs)

    # ------------------------------------------------------------------ wiring
    def _deal_options(self, rep_id: str) -> list[tuple[str, str]]:
        o = self.wb.opportunities
        mine = o[(o["rep_id"] == rep_id) & (o["outcome"] == "open")].sort_values("close_date")
        out = []
        for r in mine.itertuples():
            close = f"{r.close_date:%Y-%m-%d}" if pd.notna(r.close_date) else "no close date"
            what = " · ".join(str(x) for x in (r.account, r.product) if pd.notna(x))
            amount = format_value(r.amount, "currency", self.currency)
            out.append((f"{r.opp_id} {what} · {amount} · closes {close}", str(r.opp_id)))
        return out

    def _changed(self, change: dict) -> None:
        if self._quiet:
            return
        if change.get("owner") is self.controls["rep"]:
            self._quiet = True  # the deals and the knobs follow the rep: one refresh
            try:
                self.controls["deals"].value = ()
                self.controls["deals"].options = self._deal_options(change["new"])
                role = self._plan_role(change["new"])
                if role is not None:
                    self.controls["no_cap"].value = role.cap is None
                    if role.cap is not None:
                        self.controls["cap"].value = role.cap
                    self.controls["accelerator"].value = 1.0
            finally:
                self._quiet = False
        self.refresh()

    def _plan_role(self, rep_id: str) -> Any:
        return self.plan.roles.get(self._role.get(rep_id, ""))

    def _cap(self) -> float | None | str:
        """The cap the controls ask for: "keep" while they show the plan's own."""
        c, role = self.controls, self._plan_role(self.controls["rep"].value)
        if role is not None and c["no_cap"].value == (role.cap is None):
            w = c["cap"]
            if role.cap is None or abs(w.value - min(max(role.cap, w.min), w.max)) < 1e-9:
                return "keep"
        return None if c["no_cap"].value else float(c["cap"].value)

    def _table(self, period: str) -> pd.DataFrame:
        if period not in self._tables:
            self._tables[period] = payouts(self.wb, self.plan, period)
        return self._tables[period]

    # ------------------------------------------------------------------ compute and show
    def compute(self) -> PayoutWhatIf:
        c = self.controls
        extra = parse_number(c["extra"].value, "extra amount") or 0.0
        period = c["period"].value
        return payout_what_if(
            self.wb, self.plan, c["rep"].value, period, opp_ids=tuple(c["deals"].value),
            extra=extra, new_account=bool(c["new_account"].value),
            accelerator=float(c["accelerator"].value),
            cap=self._cap(), base=self._table(period),
        )  # fmt: skip

    def render(self, r: PayoutWhatIf) -> None:
        m = lambda v: format_value(v, "currency", self.currency)
        b, a = r.before, r.after
        sign = "+" if r.change >= 0 else "-"
        name = html.escape(str(b["name"]))
        self.outputs["headline"].value = (
            f"<div class='snb-headline'>{name}, {html.escape(r.period)} ({html.escape(r.role)}): "
            f"payout <b>{m(b['payout'])}</b> as things stand; with these changes "
            f"<b>{m(a['payout'])}</b> ({sign}{m(abs(r.change))}).</div>"
        )
        rows = "".join(
            f"<tr><td>{label}</td><td>{format_value(b[k], unit, self.currency)}</td>"
            f"<td>{format_value(a[k], unit, self.currency)}</td></tr>"
            for k, label, unit in _ROWS
        )
        self.outputs["table"].value = (
            "<table class='snb-table'><tr><th></th><th>as things stand</th>"
            f"<th>what-if</th></tr>{rows}</table>"
        )
        self.outputs["next"].value = (
            "<div class='snb-headline'>Next step: "
            f"{html.escape(next_step_text(r.next_after, self.currency))}</div>"
        )
        items = "".join(f"<li>{html.escape(x)}</li>" for x in r.lines)
        self.outputs["lines"].value = f"<div>The what-if, step by step:</div><ul>{items}</ul>"

    def make_chart(self, r: PayoutWhatIf) -> Any:
        """The role's curve (commission and kickers by attainment), as planned and as changed,
        with the rep's point before and after."""
        import altair as alt

        from salesnb.reports.chartkit import money_axis

        long = r.curve.melt("attainment", var_name="curve", value_name="pay")
        long["curve"] = long["curve"].map({"before": "as planned", "after": "with your changes"})
        pts = pd.DataFrame([
            {"attainment": x["attainment"], "pay": x["commission"] + x["kicker"], "point": p}
            for p, x in (("as things stand", r.before), ("what-if", r.after))
            if x["attainment"] == x["attainment"]
        ])  # fmt: skip
        money = money_axis(self.currency, title="Commission and kickers in the period")
        dash = alt.StrokeDash("curve:N", title=None, scale=alt.Scale(
            domain=["as planned", "with your changes"], range=[[6, 4], [1, 0]]))  # fmt: skip
        x = alt.X("attainment:Q", axis=alt.Axis(format="%", title="Attainment (of quota)"))
        lines = (
            alt.Chart(long).mark_line().encode(x=x, y=alt.Y("pay:Q", axis=money), strokeDash=dash)
        )
        dots = alt.Chart(pts).mark_point(filled=True, size=90).encode(
            x=x, y="pay:Q", color=alt.Color("point:N", title=None))  # fmt: skip
        return alt.layer(lines, dots).properties(
            width=520, height=260, title=f"What the {r.role} curve pays, {r.period}"
        )


def _text(key: str, value: Any, description: str, placeholder: str = "") -> W.Text:
    return W.Text(value=str(value), description=description, placeholder=placeholder,
                  continuous_update=False, layout=_WIDE, style=_STYLE).add_class(f"snb-{key}")  # fmt: skip


def _dropdown(key: str, options: list, value: Any, description: str) -> W.Dropdown:
    return W.Dropdown(options=options, value=value, description=description, layout=_WIDE,
                      style=_STYLE).add_class(f"snb-{key}")  # fmt: skip


def _slider(key: str, value: float, lo: float, hi: float, step: float, description: str,
            fmt: str) -> W.FloatSlider:  # fmt: skip
    return W.FloatSlider(value=min(max(value, lo), hi), min=lo, max=hi, step=step,
                         description=description, readout_format=fmt, continuous_update=False,
                         layout=_WIDE, style=_STYLE).add_class(f"snb-{key}")  # fmt: skip


def resolve_plan(plan: str | Path) -> Path:
    """The plan file ``plan``: as given when absolute, else found from the notebook's folder
    and the folders above it (as the data folder is).

    Raises
    ------
    ParameterError
        Not found, with the fix (the notebook's ``plan`` parameter, ``salesnb sample``).

    Examples
    --------
    >>> resolve_plan("data/sample/incentive_plan.toml").name      # doctest: +SKIP
    'incentive_plan.toml'
    """
    path = Path(plan)
    if path.is_absolute():
        return path
    try:
        return ws.resolve_data(str(plan))
    except ParameterError:
        msg = (f"Plan file {str(plan)!r} not found (looked here and in the folders above). "
               "Fix: set the notebook's `plan` parameter to the path of a plan .toml "
               "(`salesnb sample` writes one; see docs/incentives.md).")  # fmt: skip
        raise ParameterError(msg) from None

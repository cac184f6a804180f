"""A plan review for sales leaders: what the plan cost, whom it rewarded, and what it will
cost next period on the forecast, for one plan or two side by side.

Every function takes the subject's reps (``rep_ids``) and keeps to them, so a review made for
one manager's team shows that team only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from salesnb.data.model import Workbook
from salesnb.incentives.engine import payouts, period_label
from salesnb.incentives.plan import Plan
from salesnb.incentives.simulate import PlanCost, simulate_cost

_FREQ = {"month": "M", "quarter": "Q", "year": "Y"}


def plan_to_date(wb: Workbook, plan: Plan, rep_ids: Sequence[str]) -> pd.DataFrame:
    """Every rep row of every plan period from the plan's start to the as-of date.

    Examples
    --------
    >>> plan_to_date(wb, plan, wb.rep_ids())["period"].unique()  # doctest: +SKIP
    array(['FY2026-Q1', 'FY2026-Q2', 'FY2026-Q3'], dtype=object)
    """
    cal = wb.config.calendar
    freq = _FREQ[plan.period]
    first = cal.period_label(plan.effective_from, freq)
    last_day = wb.as_of if plan.effective_to is None else min(wb.as_of, plan.effective_to)
    last = cal.period_label(max(last_day, plan.effective_from), freq)
    table = payouts(wb, plan, [first, last])
    keep = (table["payee_kind"] == "rep") & table["payee_id"].isin(list(rep_ids))
    return table[keep].reset_index(drop=True)


def cost_by_period(table: pd.DataFrame) -> pd.DataFrame:
    """Per period: reps paid, bookings (closed-won), payout, cost of sales (payout / bookings,
    a fraction), median payout and the share of reps at or above 100 %.

    Examples
    --------
    >>> t = pd.DataFrame({"period": ["Q1", "Q1"], "won_amount": [100.0, 300.0],
    ...                   "payout": [10.0, 30.0], "attainment": [0.5, 1.5], "complete": True})
    >>> cost_by_period(t).loc[0, ["cost_of_sales", "share_at_target"]].tolist()
    [0.1, 0.5]
    """
    g = table.groupby("period", sort=True)
    out = pd.DataFrame({
        "reps": g.size(), "bookings": g["won_amount"].sum(), "payout": g["payout"].sum(min_count=1),
        "median_payout": g["payout"].median(),
        "share_at_target": g["attainment"].apply(lambda a: float((a >= 1).mean())),
        "complete": g["complete"].all(),
    })  # fmt: skip
    out.insert(3, "cost_of_sales", (out["payout"] / out["bookings"]).where(out["bookings"] > 0))
    return out.reset_index()


def fairness(table: pd.DataFrame, wb: Workbook) -> pd.DataFrame:
    """Pay against attainment by tenure and region: per group, reps, mean attainment, mean
    payout and payout per point of attainment (mean payout / mean attainment / 100, currency),
    plus the rank correlation of payout with attainment over the group's rep-periods (1: pay
    follows performance exactly; lower: draws, caps, SPIFs or crediting move it).

    Examples
    --------
    >>> fairness(plan_to_date(wb, plan, wb.rep_ids()), wb)  # doctest: +SKIP
    """
    t = table.dropna(subset=["attainment", "payout"])
    start = wb.reps.set_index("rep_id")["start_date"].reindex(t["payee_id"]).to_numpy()
    years = (t["end"].to_numpy() - start) / np.timedelta64(365, "D")
    bands = np.select([years < 1, years < 3], ["under 1 year", "1 to 3 years"], "3 years or more")
    bands = np.where(np.isnan(years.astype(float)), "start date unknown", bands)
    parts = []
    for by, key in (("tenure", bands), ("region", t["region"].to_numpy())):
        g = t.assign(group=key).groupby("group", sort=True)
        part = pd.DataFrame({
            "reps": g["payee_id"].nunique(), "mean_attainment": g["attainment"].mean(),
            "mean_payout": g["payout"].mean(),
            "pay_follows_attainment": g.apply(_rank_corr, include_groups=False).round(2),
        })  # fmt: skip
        part.insert(3, "payout_per_point", part["mean_payout"] / (part["mean_attainment"] * 100))
        parts.append(part.reset_index().assign(by=by))
    out = pd.concat(parts, ignore_index=True)
    return out[["by", "group", "reps", "mean_attainment", "mean_payout", "payout_per_point",
                "pay_follows_attainment"]]  # fmt: skip


def _rank_corr(g: pd.DataFrame) -> float:
    if len(g) < 3 or g["attainment"].nunique() < 2 or g["payout"].nunique() < 2:
        return float("nan")
    return float(g["attainment"].rank().corr(g["payout"].rank()))


def next_period(wb: Workbook, plan: Plan) -> str:
    """The plan period in play the day after the as-of date (the next one on a period's last day).

    Examples
    --------
    >>> next_period(salesnb.load("data/sample"), plan)  # doctest: +SKIP
    'FY2026-Q4'
    """
    day = wb.as_of + pd.Timedelta(days=1)
    return period_label(wb, wb.config.calendar.period_label(day, _FREQ[plan.period]))


def compare(
    wb: Workbook, plans: dict[str, Plan], period: str, rep_ids: Sequence[str], draws: np.ndarray
) -> tuple[pd.DataFrame, dict[str, PlanCost]]:
    """Two (or more) plans' simulated cost on the same draws, side by side: one row per plan
    with the expected cost, P10, P50, P90, cost of sales, and the expected share of reps
    reaching 100 %.

    Examples
    --------
    >>> table, costs = compare(wb, {"now": a, "proposed": b}, "FY2026-Q4", ids, draws)  # doctest: +SKIP
    """
    costs = {name: simulate_cost(wb, p, period, rep_ids, draws) for name, p in plans.items()}
    rows = []
    for name, c in costs.items():
        s = c.summary()
        share = float(c.per_rep["p_target"].mean()) if len(c.per_rep) else float("nan")
        rows.append({"plan": name, **s, "share_reaching_100": share})
    return pd.DataFrame(rows), costs


def formatted(df: pd.DataFrame, units: dict[str, str], currency: str = "USD") -> pd.DataFrame:
    """A copy as a document shows it: the named columns as text through the kit's formatter
    (:func:`salesnb.analytics.coaching_facts.format_value`; units as it names them), Yes/No
    for true/false, headers in words ("cost of sales"), a named index (rep) as the first
    column and no 0, 1, 2 index.

    Examples
    --------
    >>> formatted(pd.DataFrame({"payout": [12345.0], "share": [0.25]}),
    ...           {"payout": "currency", "share": "percent"}).iloc[0].tolist()
    ['$12.3K', '25%']
    >>> t = formatted(pd.DataFrame({"cost_of_sales": [0.1], "complete": [True]}),
    ...               {"cost_of_sales": "percent"})
    >>> list(t.columns), t.iloc[0].tolist(), t.index.tolist()
    (['cost of sales', 'complete'], ['10%', 'Yes'], [''])
    """
    from salesnb.analytics.coaching_facts import format_value

    out = df.reset_index() if df.index.name is not None else df.copy()
    for col, unit in units.items():
        if col in out.columns:
            out[col] = [format_value(v, unit, currency) for v in out[col]]
    for col in out.columns:
        if pd.api.types.is_bool_dtype(out[col].dtype):
            out[col] = np.where(out[col].to_numpy(), "Yes", "No")
    words = [c.replace("_", " ") if isinstance(c, str) else c for c in out.columns]
    return out.set_axis(words, axis=1).set_axis(pd.Index([""] * len(out)), axis=0)


def payout_by_rep(table: pd.DataFrame) -> pd.DataFrame:
    """Each rep's payout per plan period (rows: rep names, columns: periods; currency), with
    the rep's attainment of the last period, highest payout first.

    Examples
    --------
    >>> t = pd.DataFrame({"name": ["A", "A", "B"], "period": ["Q1", "Q2", "Q1"],
    ...                   "payout": [1.0, 2.0, 5.0], "attainment": [0.5, 0.7, 1.2]})
    >>> payout_by_rep(t).index.tolist()
    ['B', 'A']
    """
    wide = table.pivot_table(index="name", columns="period", values="payout", aggfunc="sum")
    wide.columns = [str(c) for c in wide.columns]
    last = table.sort_values("period").groupby("name")["attainment"].last()
    wide["total"] = wide.sum(axis=1, min_count=1)
    wide["last_attainment"] = last.reindex(wide.index)
    wide.index.name = "rep"
    return wide.sort_values("total", ascending=False)

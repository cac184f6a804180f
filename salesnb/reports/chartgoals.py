"""Goal charts: :func:`decomposition` (a target broken into its drivers),
:func:`reverse_funnel` (the activity a target needs) and :func:`activity_trend`.

Public through :mod:`salesnb.reports.charts`; colours and helpers from
:mod:`salesnb.reports.chartkit`.
"""

from __future__ import annotations

from typing import Final

import altair as alt
import numpy as np
import pandas as pd

from salesnb.reports.chartkit import (
    BAD,
    GOOD,
    NEUTRAL,
    SUBJECT,
    TARGET,
    WARN,
    _as_built,
    _empty,
    _frame,
    _labels,
    _layer,
    _pct,
    _status_color,
    _title,
    _unique,
    format_money,
    money_axis,
)


@_as_built
def decomposition(
    data: pd.DataFrame,
    *,
    currency: str = "USD",
    title: str = "Target by period",
) -> alt.LayerChart | alt.Chart:
    """A target split over periods (quarters, months, weeks), stacked by group if given.

    Parameters
    ----------
    data : DataFrame
        ``period`` (str label, rows in display order), ``amount`` (currency); optional
        ``group`` (region or rep, stacked with a categorical palette).

    Examples
    --------
    >>> df = pd.DataFrame({"period": ["Q1", "Q2"], "amount": [40.0, 60.0]})
    >>> decomposition(df).to_dict()["layer"][1]["mark"]["type"]
    'text'
    """
    df = _frame(data, ["period", "amount"], "decomposition", ["amount"])
    if df.empty:
        return _empty(title, "Nothing to split.")
    order = list(dict.fromkeys(_labels(df, "period", "decomposition")))
    if "group" not in df:
        _unique(df, "period", "decomposition")
    else:
        _labels(df, "group", "decomposition")
    df["amount_text"] = format_money(df["amount"], currency)
    totals = df.groupby("period", sort=False, as_index=False)["amount"].sum()
    totals["text"] = format_money(totals["amount"], currency, compact=True)
    # "FY2027-Q1" or twelve "2027-01" labels side by side overlap: slant them
    slant = len(order) > 4 or max(len(str(p)) for p in order) > 6
    x = alt.X("period:N", sort=order, title=None,
              axis=alt.Axis(labelAngle=-40) if slant else alt.Undefined)  # fmt: skip
    y = alt.Y("amount:Q", title=f"Target ({currency})", axis=money_axis(currency))
    tip = [alt.Tooltip("period:N"), alt.Tooltip("amount_text:N", title="Amount")]
    if "group" in df:
        color = alt.Color("group:N", title=None, sort=list(dict.fromkeys(df["group"])))
        tip = [alt.Tooltip("group:N"), *tip]
        bars = alt.Chart(df).mark_bar().encode(x=x, y=y, color=color, tooltip=tip)
    else:
        bars = alt.Chart(df).mark_bar(color=SUBJECT).encode(x=x, y=y, tooltip=tip)
    text = (
        alt.Chart(totals)
        .mark_text(dy=-4, baseline="bottom")
        .encode(x=x, y=alt.Y("amount:Q"), text=alt.Text("text:N"))
    )
    return _layer(bars, text, title=_title(title, "Label: period total."))


NOT_MEASURED: Final = "Not measured yet"
COVERAGE_STATUS: Final = {"Covered": GOOD, "Partly covered": WARN, "Far from covered": BAD,
                          NOT_MEASURED: NEUTRAL}  # fmt: skip


@_as_built
def reverse_funnel(
    data: pd.DataFrame,
    *,
    currency: str = "USD",
    warn_at: float = 0.8,
    cap: float = 1.5,
    title: str = "What it takes to reach target",
) -> alt.LayerChart | alt.Chart:
    """Each step of the reverse funnel as how much of what is needed the rep has now.

    Steps have different units (money, deals, meetings), so bar length is the share of
    the need already covered (capped at ``cap``), and the label gives both numbers.

    Parameters
    ----------
    data : DataFrame
        One row per step, top-down: ``step`` (str, e.g. "Pipeline needed"), ``needed``
        (number); optional ``current`` (what the rep has now; NaN when not measured),
        ``unit`` ("currency" or a noun such as "deals", default "count").

    Examples
    --------
    >>> df = pd.DataFrame({"step": ["Pipeline", "Deals"], "needed": [300.0, 12],
    ...     "current": [150.0, 12], "unit": ["currency", "deals"]})
    >>> reverse_funnel(df).layer[0].data["text"].tolist()
    ['have $150 of $300 needed (50%)', 'have 12 of 12 deals needed (100%)']
    """
    df = _frame(data, ["step", "needed"], "reverse_funnel", ["needed", "current"])
    if df.empty:
        return _empty(title, "No steps to show.")
    order = _unique(df, "step", "reverse_funnel")
    cur = df["current"] if "current" in df else pd.Series(np.nan, df.index)
    unit = (df["unit"] if "unit" in df else pd.Series("count", df.index)).fillna("count")
    money = unit.eq("currency")
    count_of = lambda v: "–" if np.isnan(v) else f"{v:,.0f}"
    noun = np.where(money | unit.eq("count"), "", " " + unit.astype(str))
    need_txt = np.where(money, format_money(df["needed"], currency), df["needed"].map(count_of))
    have_txt = np.where(money, format_money(cur, currency), cur.map(count_of))
    df["coverage"] = cur / df["needed"].where(df["needed"] > 0)
    df["bar"] = df["coverage"].clip(upper=cap)
    df["status"] = np.select(
        [cur.isna(), df["coverage"] >= 1, df["coverage"] >= warn_at],
        [NOT_MEASURED, "Covered", "Partly covered"],
        default="Far from covered",
    )
    df["text_x"] = df["bar"].fillna(0.0)
    df["text"] = np.where(
        cur.isna(), "need " + need_txt + noun,
        "have " + have_txt + " of " + need_txt + noun + " needed (" + _pct(df["coverage"]) + ")",
    )  # fmt: skip
    y = alt.Y("step:N", sort=order, title=None)
    x = alt.X("bar:Q", title="Covered so far (% of what is needed)", axis=alt.Axis(format=".0%"),
              scale=alt.Scale(domain=[0, cap]))  # fmt: skip
    base = alt.Chart(df)
    bars = base.mark_bar().encode(
        x=x, y=y, color=_status_color(COVERAGE_STATUS),
        tooltip=[alt.Tooltip("step:N"), alt.Tooltip("text:N")],
    )  # fmt: skip
    full = alt.Chart(pd.DataFrame({"x": [1.0]})).mark_rule(color=TARGET).encode(x=alt.X("x:Q"))
    text = base.mark_text(align="left", dx=4, color=TARGET).encode(
        x=alt.X("text_x:Q"), y=y, text=alt.Text("text:N")
    )
    return _layer(bars, full, text, title=_title(title, "Black line: 100% of what is needed."))


@_as_built
def activity_trend(
    data: pd.DataFrame,
    *,
    title: str = "Activity per week",
    period_label: str = "Week",
) -> alt.LayerChart | alt.Chart:
    """Activity counts over time per type, with the team's median per type as grey dashes.

    Parameters
    ----------
    data : DataFrame
        ``period`` (datetime, start of week or month), ``activity_type`` (str: call,
        email, meeting, ...), ``count`` (activities); optional ``team_median`` (the team's
        median count per rep for that period and type).

    Examples
    --------
    >>> df = pd.DataFrame({"period": pd.to_datetime(["2026-01-05", "2026-01-12"]),
    ...     "activity_type": ["call", "call"], "count": [12, 15], "team_median": [10, 11]})
    >>> [lay["mark"]["type"] for lay in activity_trend(df).to_dict()["layer"]]
    ['line', 'line']
    """
    num = ["count", "team_median"]
    df = _frame(data, ["period", "activity_type", "count"], "activity_trend", num)
    if df.empty:
        return _empty(title, "No activities logged.")
    df["period"] = pd.to_datetime(df["period"])
    x = alt.X("period:T", title=period_label)
    y = alt.Y("count:Q", title=f"Activities per {period_label.lower()} (count)")
    color = alt.Color("activity_type:N", title=None)
    tip = [alt.Tooltip("period:T", title=period_label), alt.Tooltip("activity_type:N"),
           alt.Tooltip("count:Q")]  # fmt: skip
    base = alt.Chart()
    layers = [base.mark_line(point=True).encode(x=x, y=y, color=color, tooltip=tip)]
    sub = None
    if "team_median" in df:
        layers.insert(0, base.mark_line(color=NEUTRAL, strokeDash=[4, 3]).encode(
            x=x, y=alt.Y("team_median:Q"), detail=alt.Detail("activity_type:N")))  # fmt: skip
        sub = "Grey dashes: team median per rep."
    return _layer(*layers, data=df, title=_title(title, sub))

"""Pipeline charts: :func:`funnel`, :func:`stage_conversion_vs_team`, :func:`waterfall`,
:func:`pipeline_aging`.

Public through :mod:`salesnb.reports.charts`; colours and helpers from
:mod:`salesnb.reports.chartkit`.
"""

from __future__ import annotations

from typing import Final, Literal

import altair as alt
import numpy as np
import pandas as pd

from salesnb.core.errors import ParameterError
from salesnb.reports.chartkit import (
    BAD,
    FORECAST,
    GOOD,
    NEUTRAL,
    SUBJECT,
    TARGET,
    WARN,
    _as_built,
    _empty,
    _frame,
    _layer,
    _pct,
    _status_color,
    _title,
    _unique,
    format_money,
    money_axis,
)

# --------------------------------------------------------------------------- pipeline

AT_OR_ABOVE_TEAM: Final = "At or above team"
BELOW_TEAM: Final = "Below team"
BOTTLENECK: Final = "Bottleneck"
LAST_STAGE: Final = "Final stage"
NO_TEAM: Final = "No team figure"
#: One meaning per colour in every stage chart: any stage below the team's rate is amber, however
#: close (the bottleneck is named in its label, not given a colour of its own), so that two
#: documents never colour the same comparison differently.
TEAM_STATUS: Final = {AT_OR_ABOVE_TEAM: GOOD, BELOW_TEAM: WARN, LAST_STAGE: SUBJECT,
                      NO_TEAM: NEUTRAL}  # fmt: skip


def _team_status(conv: pd.Series, team: pd.Series, tolerance: float) -> np.ndarray:
    return np.select(
        [conv.isna(), team.isna(), conv < team - tolerance],
        [LAST_STAGE, NO_TEAM, BELOW_TEAM],
        default=AT_OR_ABOVE_TEAM,
    )


@_as_built
def funnel(
    data: pd.DataFrame,
    *,
    measure: Literal["count", "amount"] = "count",
    currency: str = "USD",
    tolerance: float = 0.0,
    title: str = "Funnel",
) -> alt.LayerChart | alt.Chart:
    """Deals reaching each stage, labelled with the conversion to the next stage vs the team.

    Parameters
    ----------
    data : DataFrame
        One row per stage in funnel order: ``stage`` (str), ``count`` (deals that reached
        the stage); optional ``amount`` (their value, currency), ``conversion`` (fraction
        that went on to the next stage; computed as next count / count when absent),
        ``team_conversion`` (the team's figure, fraction).
    measure : {"count", "amount"}
        Bar length: number of deals or their value.
    tolerance : float
        A stage is amber when its conversion is below the team's by more than this
        (fraction points, 0.05 = 5 points); by default any stage below the team is amber.

    Examples
    --------
    >>> df = pd.DataFrame({"stage": ["Qualify", "Propose", "Won"], "count": [40, 20, 8],
    ...                    "team_conversion": [0.6, 0.5, None]})
    >>> funnel(df).to_dict()["layer"][0]["encoding"]["color"]["field"]
    'status'
    """
    cols = ["stage", "count"] + (["amount"] if measure == "amount" else [])
    num = ["count", "amount", "conversion", "team_conversion"]
    df = _frame(data, cols, "funnel", num)
    if df.empty:
        return _empty(title, "No deals in the funnel.")
    order = _unique(df, "stage", "funnel")
    if "conversion" not in df:
        df["conversion"] = (df["count"].shift(-1) / df["count"].where(df["count"] > 0)).clip(
            upper=1
        )
    team = df["team_conversion"] if "team_conversion" in df else pd.Series(np.nan, df.index)
    df["status"] = _team_status(df["conversion"], team, tolerance)
    df["label"] = np.where(
        df["conversion"].isna(), "",
        "→ " + _pct(df["conversion"]) + " to next"
        + np.where(team.isna(), "", " (team " + _pct(team) + ")"),
    )  # fmt: skip
    df["value_text"] = (df["count"].map("{:,.0f} deals".format) if measure == "count"
                        else format_money(df["amount"], currency))  # fmt: skip
    if measure == "count":
        x = alt.X("count:Q", title="Deals reaching the stage (count)")
    else:
        x = alt.X("amount:Q", title=f"Value reaching the stage ({currency})",
                  axis=money_axis(currency))  # fmt: skip
    y = alt.Y("stage:N", sort=order, title=None)
    base = alt.Chart()
    bars = base.mark_bar().encode(
        x=x, y=y, color=_status_color(TEAM_STATUS, "Conversion to next stage"),
        tooltip=[alt.Tooltip("stage:N"), alt.Tooltip("value_text:N", title="Reached"),
                 alt.Tooltip("label:N", title="Conversion")],
    )  # fmt: skip
    text = base.mark_text(align="left", dx=4).encode(
        x=x, y=y, text=alt.Text("text:N")
    ).transform_calculate(text="datum.value_text + '  ' + datum.label")  # fmt: skip
    sub = "Colour: conversion to the next stage vs team."
    return _layer(bars, text, data=df, title=_title(title, sub))


@_as_built
def stage_conversion_vs_team(
    data: pd.DataFrame,
    *,
    tolerance: float = 0.0,
    title: str = "Stage conversion vs team",
) -> alt.LayerChart | alt.Chart:
    """Rep's conversion at each stage as bars, the team's as a grey tick; bottleneck named.

    Parameters
    ----------
    data : DataFrame
        One row per stage in funnel order: ``stage`` (str), ``conversion`` (rep, fraction
        0-1 of deals at the stage that reached the next), ``team_conversion`` (fraction);
        optional ``bottleneck`` (bool, the stage with the lowest conversion relative to
        the team, as :mod:`salesnb.analytics.kpis` reports it).
    tolerance : float
        Bars are amber when below the team by more than this (fraction points); by default
        any stage below the team is amber, as in :func:`funnel`. The bottleneck keeps the
        colour its comparison gives it and is named in its label.

    Examples
    --------
    >>> df = pd.DataFrame({"stage": ["Qualify", "Propose"], "conversion": [0.4, 0.5],
    ...                    "team_conversion": [0.6, 0.5], "bottleneck": [True, False]})
    >>> enc = stage_conversion_vs_team(df).to_dict()["layer"][0]["encoding"]
    >>> enc["x"]["axis"]["format"]
    '.0%'
    """
    num = ["conversion", "team_conversion"]
    df = _frame(data, ["stage", "conversion", "team_conversion"], "stage_conversion_vs_team", num)
    if df.empty:
        return _empty(title, "No stage conversions to compare.")
    order = _unique(df, "stage", "stage_conversion_vs_team")
    df["status"] = _team_status(df["conversion"], df["team_conversion"], tolerance)
    df.loc[df["conversion"].isna() & df["team_conversion"].isna(), "status"] = NO_TEAM
    df["text"] = _pct(df["conversion"]) + " (team " + _pct(df["team_conversion"]) + ")"
    if "bottleneck" in df:
        flagged = df["bottleneck"].astype(object).where(df["bottleneck"].notna(), False)
        df.loc[flagged.astype(bool), "text"] += f"  ← {BOTTLENECK.lower()}"
    x = alt.X("conversion:Q", title="Converted to the next stage (% of deals)",
              axis=alt.Axis(format=".0%"), scale=alt.Scale(domain=[0, 1]))  # fmt: skip
    y = alt.Y("stage:N", sort=order, title=None)
    base = alt.Chart()
    tip = [alt.Tooltip("stage:N"), alt.Tooltip("text:N", title="Conversion")]
    bars = base.mark_bar().encode(x=x, y=y, color=_status_color(TEAM_STATUS), tooltip=tip)
    team = base.mark_tick(color="#6b6f73", thickness=3).encode(x=alt.X("team_conversion:Q"), y=y)
    text = base.mark_text(align="left", dx=6).encode(x=x, y=y, text=alt.Text("text:N"))
    sub = "Bars: the rep. Grey tick: the team."
    return _layer(bars, team, text, data=df, title=_title(title, sub))


#: Sign of each standard waterfall step (pipeline in, +1; out, -1): magnitudes work too.
WATERFALL_SIGNS: Final = {"new": 1, "pulled in": 1, "value up": 1, "pushed out": -1,
                          "won": -1, "lost": -1, "value down": -1}  # fmt: skip
OPEN_PIPELINE: Final = "Open pipeline"
ADDED: Final = "Added"
WON: Final = "Won"
LOST: Final = "Lost"
SLIPPED: Final = "Slipped or shrank"
#: What each standard step means for the rep (won is good although it leaves the pipeline).
WATERFALL_MEANING: Final = {"new": ADDED, "pulled in": ADDED, "value up": ADDED, "won": WON,
                            "lost": LOST, "pushed out": SLIPPED, "value down": SLIPPED,
                            "removed": SLIPPED}  # fmt: skip
#: Colours as everywhere: won = good, lost = bad, slipped = amber, open pipeline neutral.
WATERFALL_STATUS: Final = {OPEN_PIPELINE: NEUTRAL, ADDED: FORECAST, WON: GOOD, SLIPPED: WARN,
                           LOST: BAD}  # fmt: skip


@_as_built
def waterfall(
    data: pd.DataFrame,
    *,
    currency: str = "USD",
    title: str = "Pipeline change between snapshots",
    tolerance: float = 0.5,
) -> alt.LayerChart | alt.Chart:
    """Floating bars from the starting pipeline through each change to the ending pipeline.

    Parameters
    ----------
    data : DataFrame
        Rows in display order: ``step`` (str), ``amount`` (currency); optional ``count``
        (deals). The first row is the starting pipeline, the last the ending pipeline,
        rows between are changes: negative takes value out. For the standard steps (new,
        pulled in, value up, pushed out, won, lost, value down; any case) the sign is
        implied, so magnitudes work too.
    tolerance : float
        The chart refuses data whose start plus changes misses the end by more than this
        (currency units): a waterfall that does not add up misleads.

    Examples
    --------
    >>> df = pd.DataFrame({"step": ["Start", "New", "Won", "End"],
    ...                    "amount": [100.0, 30.0, 20.0, 110.0]})
    >>> waterfall(df).data[["base", "top"]].values.tolist()
    [[0.0, 100.0], [100.0, 130.0], [110.0, 130.0], [0.0, 110.0]]
    >>> waterfall(df).to_dict()["layer"][0]["encoding"]["color"]["scale"]["domain"]
    ['Open pipeline', 'Added', 'Won']
    """
    df = _frame(data, ["step", "amount"], "waterfall", ["amount", "count"])
    if len(df) < 2:
        return _empty(title, "Need a starting and an ending pipeline.")
    order = _unique(df, "step", "waterfall")
    sign = df["step"].str.strip().str.lower().map(WATERFALL_SIGNS)
    change = np.where(sign.notna(), sign * df["amount"].abs(), df["amount"])
    inner = df.index[1:-1]
    delta = pd.Series(change, df.index).loc[inner]
    level = df["amount"].iloc[0] + delta.cumsum()  # running pipeline after each change
    computed_end, end = (
        (level.iloc[-1] if len(level) else df["amount"].iloc[0]),
        df["amount"].iloc[-1],
    )
    if abs(computed_end - end) > tolerance:
        msg = (f"waterfall: start {df['amount'].iloc[0]:,.2f} plus changes gives "
               f"{computed_end:,.2f}, but the end row {df['step'].iloc[-1]!r} says {end:,.2f}. "
               "Fix: check the signs and that every deal is counted in one step.")  # fmt: skip
        raise ParameterError(msg)
    before = level.shift(1, fill_value=df["amount"].iloc[0])
    # whole columns, first and last row around the changes: each .loc write costs ~0.4 ms
    first, last = df["amount"].iloc[0], df["amount"].iloc[-1]
    df["base"] = [0.0, *np.minimum(before, level), 0.0]
    df["top"] = [first, *np.maximum(before, level), last]
    meaning = df["step"].str.strip().str.lower().map(WATERFALL_MEANING).loc[inner]
    # a step of its own (say "FX"): in is added, out has slipped (not lost, not won)
    meaning = meaning.fillna(pd.Series(np.where(delta >= 0, ADDED, SLIPPED), inner))
    df["status"] = [OPEN_PIPELINE, *meaning, OPEN_PIPELINE]
    ends = format_money([first, last], currency, compact=True)
    changes = format_money(delta, currency, compact=True, signed=True)
    df["text"] = pd.Series([ends[0], *changes, ends[1]], dtype=object)
    if "count" in df:
        df["text"] = df["text"] + df["count"].map(lambda n: "" if np.isnan(n) else f" ({n:.0f})")
    x = alt.X("step:N", sort=order, title=None)
    y = alt.Y("base:Q", title=f"Open pipeline ({currency})", axis=money_axis(currency))
    # the legend names the colours the bars use (no "Won" key on a chart with no won bar);
    # each keeps its colour, so a colour means the same in every chart
    present = set(df["status"])
    shown = {k: v for k, v in WATERFALL_STATUS.items() if k in present}
    base = alt.Chart()
    tip = [alt.Tooltip("step:N"), alt.Tooltip("text:N", title="Amount")]
    bars = base.mark_bar().encode(
        x=x, y=y, y2=alt.Y2("top:Q"), color=_status_color(shown), tooltip=tip
    )
    text = base.mark_text(dy=-6, baseline="bottom").encode(
        x=x, y=alt.Y("top:Q"), text=alt.Text("text:N")
    )
    sub = "Label: amount (deals)." if "count" in df else None
    # width given here, not by .properties(), which would rebuild (deep-copy) the layer chart
    return _layer(bars, text, data=df, title=_title(title, sub), width=alt.Step(64))


OK_DEAL: Final = "On track"
STALE: Final = "Stale"
PAST_DUE: Final = "Close date passed"
AGING_STATUS: Final = {OK_DEAL: NEUTRAL, STALE: WARN, PAST_DUE: BAD}


@_as_built
def pipeline_aging(
    data: pd.DataFrame,
    *,
    currency: str = "USD",
    kind: Literal["scatter", "histogram"] = "scatter",
    typical_age_days: float | None = None,
    title: str = "Open deals by age",
) -> alt.LayerChart | alt.Chart:
    """Open deals by age and value, coloured stale (amber) and past their close date (red).

    Parameters
    ----------
    data : DataFrame
        One row per open deal: ``age_days`` (days since creation), ``amount`` (currency);
        optional ``is_stale`` (bool, no change for longer than the hygiene threshold),
        ``is_past_due`` (bool, close date before the as-of date), ``stage`` and ``label``
        (deal or account name, shown in the tooltip).
    kind : {"scatter", "histogram"}
        One point per deal, or value per age bin stacked by status.
    typical_age_days : float, optional
        Draws a dashed rule, e.g. the median sales cycle.

    Examples
    --------
    >>> df = pd.DataFrame({"age_days": [10, 200], "amount": [5e3, 2e4],
    ...                    "is_stale": [False, True], "is_past_due": [False, False]})
    >>> pipeline_aging(df).to_dict()["layer"][0]["mark"]["type"]
    'circle'
    """
    df = _frame(data, ["age_days", "amount"], "pipeline_aging", ["age_days", "amount"])
    if df.empty:
        return _empty(title, "No open deals.")
    flag = {c: (df[c].fillna(False).astype(bool) if c in df else False)
            for c in ("is_stale", "is_past_due")}  # fmt: skip
    df["status"] = np.select([flag["is_past_due"], flag["is_stale"]], [PAST_DUE, STALE], OK_DEAL)
    df["amount_text"] = format_money(df["amount"], currency)
    color = _status_color(AGING_STATUS)
    x_title = "Deal age (days since created)"
    y_title = f"Deal value ({currency})"
    rule = typical_age_days is not None and np.isfinite(typical_age_days)
    base = alt.Chart(df) if rule else alt.Chart()  # the rule has its own data: nothing to hoist
    if kind == "histogram":
        x = alt.X("age_days:Q", bin=alt.Bin(maxbins=20), title=x_title)
        y = alt.Y("sum(amount):Q", title=f"Open value ({currency})", axis=money_axis(currency),
                  stack="zero")  # fmt: skip
        tip = [alt.Tooltip("status:N"), alt.Tooltip("count():Q")]
        marks = base.mark_bar().encode(x=x, y=y, color=color, tooltip=tip)
    else:
        tip = [alt.Tooltip(c) for c in ("label", "stage") if c in df] + [
            alt.Tooltip("amount_text:N", title="Value"), alt.Tooltip("age_days:Q", title="Age (days)"),
            alt.Tooltip("status:N", title="Status")]  # fmt: skip
        marks = base.mark_circle(size=70, opacity=0.8).encode(
            x=alt.X("age_days:Q", title=x_title),
            y=alt.Y("amount:Q", title=y_title, axis=money_axis(currency)),
            color=color, tooltip=tip,
        )  # fmt: skip
    if not rule:
        return _layer(marks, data=df, title=_title(title))
    typical = pd.DataFrame({"age_days": [float(typical_age_days)]})
    line = (
        alt.Chart(typical).mark_rule(color=TARGET, strokeDash=[4, 4]).encode(x=alt.X("age_days:Q"))
    )
    return _layer(marks, line, title=_title(title, "Dashed line: typical age."))

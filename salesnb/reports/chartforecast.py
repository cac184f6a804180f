"""Forecast charts: :func:`bookings_forecast` (actuals, forecast and its intervals) and
:func:`distribution` (the simulated outcomes against the target).

Public through :mod:`salesnb.reports.charts`; colours and helpers from
:mod:`salesnb.reports.chartkit`.
"""

from __future__ import annotations

import math
from typing import Final

import altair as alt
import numpy as np
import pandas as pd

from salesnb.analytics.coaching_facts import format_value
from salesnb.core.errors import ParameterError
from salesnb.reports.chartkit import (
    BAND80,
    BAND95,
    FORECAST,
    GOOD,
    SUBJECT,
    TARGET,
    WARN,
    _as_built,
    _empty,
    _frame,
    _layer,
    _status_color,
    _title,
    format_money,
    money_axis,
)

# --------------------------------------------------------------------------- forecast & goals

SERIES_COLORS: Final = {"Actual": SUBJECT, "Forecast": FORECAST, "Target": TARGET}


@_as_built
def bookings_forecast(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    target: pd.DataFrame | float | None = None,
    *,
    currency: str = "USD",
    title: str = "Monthly bookings and forecast",
) -> alt.LayerChart:
    """Monthly bookings history, forecast mean with 80% and 95% bands, and the target.

    Parameters
    ----------
    history : DataFrame
        ``month`` (datetime, month start), ``bookings`` (closed-won amount, currency).
    forecast : DataFrame
        ``month``, ``mean``, ``lo80``, ``hi80``, ``lo95``, ``hi95`` (currency): the
        forecast and its prediction intervals, as :mod:`salesnb.forecast` returns them.
    target : DataFrame or float, optional
        A monthly target: one number, or a frame of ``month`` and ``target``.

    Examples
    --------
    >>> hist = pd.DataFrame({"month": pd.to_datetime(["2026-01-01", "2026-02-01"]),
    ...                      "bookings": [100.0, 120.0]})
    >>> fc = pd.DataFrame({"month": pd.to_datetime(["2026-03-01"]), "mean": [110.0],
    ...     "lo80": [90.0], "hi80": [130.0], "lo95": [80.0], "hi95": [140.0]})
    >>> [lay["mark"]["type"] for lay in bookings_forecast(hist, fc, 100.0).to_dict()["layer"]]
    ['area', 'area', 'line', 'rule']
    """
    h = _frame(history, ["month", "bookings"], "bookings_forecast", ["bookings"])
    bands = ["mean", "lo80", "hi80", "lo95", "hi95"]
    f = _frame(forecast, ["month", *bands], "bookings_forecast", bands)
    h["month"], f["month"] = pd.to_datetime(h["month"]), pd.to_datetime(f["month"])
    lines = pd.concat([
        pd.DataFrame({"month": h["month"], "value": h["bookings"], "series": "Actual"}),
        pd.DataFrame({"month": f["month"], "value": f["mean"], "series": "Forecast"}),
    ], ignore_index=True)  # fmt: skip
    if isinstance(target, pd.DataFrame):
        t = _frame(target, ["month", "target"], "bookings_forecast", ["target"])
        t = pd.DataFrame(
            {"month": pd.to_datetime(t["month"]), "value": t["target"], "series": "Target"}
        )
        lines = pd.concat([lines, t], ignore_index=True)
    lines["value_text"] = format_money(lines["value"], currency)
    for c in bands:
        f[f"{c}_text"] = format_money(f[c], currency)
    # one tick per month (or per k months on a long span): left to itself, Vega-Lite put
    # weekly ticks on a new hire's three months, each labelled "Apr 2026"
    span = pd.concat([pd.to_datetime(lines["month"]), pd.to_datetime(f["month"])])
    n_months = len(set(span.dt.to_period("M"))) if len(span) else 1
    step = max(1, math.ceil(n_months / 12))
    x = alt.X("month:T", title="Month",
              axis=alt.Axis(format="%b %Y", tickCount={"interval": "month", "step": step}))  # fmt: skip
    y_title = f"Bookings per month ({currency})"
    band_tip = [alt.Tooltip("month:T", format="%b %Y"), alt.Tooltip("lo80_text:N", title="80% from"),
                alt.Tooltip("hi80_text:N", title="80% to"), alt.Tooltip("lo95_text:N", title="95% from"),
                alt.Tooltip("hi95_text:N", title="95% to")]  # fmt: skip
    fb = alt.Chart(f)
    band95 = fb.mark_area(color=BAND95).encode(
        x=x,
        y=alt.Y("lo95:Q", title=y_title, axis=money_axis(currency)),
        y2=alt.Y2("hi95:Q"),
        tooltip=band_tip,
    )
    band80 = fb.mark_area(color=BAND80).encode(
        x=x, y=alt.Y("lo80:Q"), y2=alt.Y2("hi80:Q"), tooltip=band_tip
    )
    scale = alt.Scale(domain=list(SERIES_COLORS), range=list(SERIES_COLORS.values()))
    dash = alt.Scale(domain=list(SERIES_COLORS), range=[[1, 0], [6, 3], [2, 2]])
    line = alt.Chart(lines).mark_line(point=True).encode(
        x=x, y=alt.Y("value:Q"),
        color=alt.Color("series:N", scale=scale, legend=alt.Legend(title=None)),
        strokeDash=alt.StrokeDash("series:N", scale=dash, legend=None),
        tooltip=[alt.Tooltip("month:T", format="%b %Y"), alt.Tooltip("series:N"),
                 alt.Tooltip("value_text:N", title="Bookings")],
    )  # fmt: skip
    layers = [band95, band80, line]
    if target is not None and not isinstance(target, pd.DataFrame):
        rule = pd.DataFrame({"value": [float(target)], "series": ["Target"]})
        layers.append(
            alt.Chart(rule).mark_rule(strokeDash=[2, 2], color=TARGET).encode(y=alt.Y("value:Q"))
        )
    sub = "Shaded: 80% (darker) and 95% prediction intervals of the forecast."
    return _layer(*layers, title=_title(title, sub))


REACHES: Final = "Reaches target"
MISSES: Final = "Misses target"
#: Share of the simulations (the far right tail) drawn in :func:`distribution`'s last bar.
TAIL_SHARE: Final = 0.005


@_as_built
def distribution(
    samples: pd.DataFrame | pd.Series | np.ndarray,
    target: float,
    *,
    currency: str = "USD",
    p_attain: float | None = None,
    bins: int = 40,
    title: str = "Simulated bookings for the period",
) -> alt.LayerChart:
    """Histogram of Monte Carlo period bookings, split at the target, with P(reach target).

    The histogram is computed here (one row per bin) so the spec stays small however many
    simulations there are; the target is a bin edge, so no bar straddles it.

    Parameters
    ----------
    samples : DataFrame, Series or array
        Simulated period bookings (currency), e.g. the ``bookings`` column of a frame
        with one row per simulation.
    target : float
        Period target (currency).
    p_attain : float, optional
        Probability of reaching target to print; defaults to the share of samples at or
        above target. NaN: the chance is not known (not calibrated), and the subtitle says so
        instead of printing a figure.

    Examples
    --------
    >>> sims = pd.DataFrame({"bookings": [80.0, 90.0, 110.0, 120.0]})
    >>> distribution(sims, 100.0).to_dict()["title"]["subtitle"]
    'P(reach target of $100) = 50%. Median $100, 80% of outcomes between $83 and $117.'
    """
    if isinstance(samples, pd.DataFrame):
        samples = _frame(samples, ["bookings"], "distribution", ["bookings"])["bookings"]
    x = pd.to_numeric(pd.Series(np.asarray(samples, dtype="float64").ravel()), errors="coerce")
    x = x[np.isfinite(x)].to_numpy()
    if not np.isfinite(target):
        raise ParameterError(f"distribution: target {target!r} is not a number. Fix: pass one.")
    if x.size == 0:
        return _empty(title, "No simulations to show.")
    p = float(np.mean(x >= target)) if p_attain is None else float(p_attain)
    raw = float(np.mean(x >= target))
    q10, q50, q90 = format_money(np.percentile(x, [10, 50, 90]), currency, compact=True)
    # the far right tail (the top 0.5% of many simulations) goes into the last bar, "or
    # more", so a few extreme draws do not squeeze the bars a manager reads into a corner
    cut = max(float(np.quantile(x, 1 - TAIL_SHARE)), float(target)) if x.size >= 200 else x.max()
    tail = bool(cut < x.max())
    x = np.minimum(x, cut)
    lo, hi = x.min(), x.max()
    width = (hi - lo) / max(bins, 1) if hi > lo else max(abs(hi) * 0.01, 1.0)
    if hi == lo < target:  # one value below target: its bar must stop short of the target
        width = min(width, target - lo)
    if lo < target <= hi:  # a grid anchored at the target: no bar straddles it
        k0 = np.floor((lo - target) / width)
        k0 -= target + width * k0 > lo  # (lo - target) / width underflowed to -0: one more bar
        k = np.arange(k0, np.floor((hi - target) / width) + 2)
        edges = target + width * k
    else:  # every simulation on one side of the target
        edges = np.linspace(lo, hi, max(bins, 1) + 1) if hi > lo else np.array([lo, lo + width])
    edges[0], edges[-1] = min(edges[0], lo), max(edges[-1], hi)  # float safety
    if lo >= 0:  # bookings are never negative: no bar starts below $0
        edges[0] = max(edges[0], 0.0)
    counts, edges = np.histogram(x, bins=edges)
    df = pd.DataFrame({"start": edges[:-1], "end": edges[1:], "share": counts / x.size})
    df["status"] = np.where(df["start"] >= target, REACHES, MISSES)
    df["range_text"] = (format_money(df["start"], currency, compact=True) + " – "
                        + format_money(df["end"], currency, compact=True))  # fmt: skip
    if tail:
        df.loc[df.index[-1], "range_text"] = (
            format_money([df["start"].iloc[-1]], currency, compact=True)[0] + " or more"
        )
    spread = f"Median {q50}, 80% of outcomes between {q10} and {q90}."
    tgt = format_money([target], currency)[0]
    sub: str | list[str] = (
        f"P(reach target of {tgt}) = {format_value(p, 'chance')}. {spread}" if np.isfinite(p)
        else f"Chance of reaching target of {tgt}: unknown (not calibrated against past quarters). "
        + spread)  # fmt: skip
    # a calibrated chance: the bars are the simulation's own share, said on a second line
    if np.isfinite(p) and abs(p - raw) >= 0.005:
        sub = [sub, (f"{format_value(raw, 'chance')} of the simulated outcomes shown reach the "
               "target; the chance is corrected by how often such chances came true before.")]  # fmt: skip
    df["zero"] = 0.0
    bars = alt.Chart(df).mark_bar(binSpacing=0).encode(
        x=alt.X("start:Q", title=f"Period bookings ({currency})", axis=money_axis(currency),
                scale=alt.Scale(zero=False)),
        x2=alt.X2("end:Q"),
        y=alt.Y("share:Q", title="Share of simulations (%)", axis=alt.Axis(format=".0%")),
        y2=alt.Y2("zero:Q"),
        color=_status_color({REACHES: GOOD, MISSES: WARN}),
        tooltip=[alt.Tooltip("range_text:N", title="Bookings"),
                 alt.Tooltip("share:Q", title="Share", format=".1%")],
    )  # fmt: skip
    tgt = pd.DataFrame(
        {
            "target": [float(target)],
            "text": [f"Target · P = {p:.0%}" if np.isfinite(p) else "Target"],
        }
    )
    rule = alt.Chart(tgt).mark_rule(color=TARGET, strokeWidth=2).encode(x=alt.X("target:Q"))
    label = (
        alt.Chart(tgt)
        .mark_text(align="left", dx=4, dy=-4, baseline="top", y=0)
        .encode(x=alt.X("target:Q"), text=alt.Text("text:N"))
    )
    return _layer(bars, rule, label, title=_title(title, sub))

"""Charts of a rep against target and peers: :func:`attainment_bars`, :func:`scorecard_vs_peers`.

Public through :mod:`salesnb.reports.charts`; colours and helpers from
:mod:`salesnb.reports.chartkit`.
"""

from __future__ import annotations

import functools
from typing import Final, Literal

import altair as alt
import numpy as np
import pandas as pd

from salesnb.analytics.coaching_facts import format_value
from salesnb.core.errors import ParameterError
from salesnb.reports.chartkit import (
    GOOD,
    NEUTRAL,
    SUBJECT,
    TARGET,
    TARGET_STATUS,
    WARN,
    _as_built,
    _attainment_status,
    _cat_value,
    _empty,
    _frame,
    _layer,
    _num_text,
    _pct,
    _status_color,
    _title,
    _unique,
    format_money,
    money_axis,
    vega_text,
)

# --------------------------------------------------------------------------- target & peers


@_as_built
def attainment_bars(
    data: pd.DataFrame,
    *,
    currency: str = "USD",
    warn_at: float = 0.8,
    orient: Literal["vertical", "horizontal"] = "vertical",
    title: str = "Bookings vs target",
) -> alt.LayerChart | alt.Chart:
    """Bookings per rep or per period as bars coloured by attainment, target as a tick.

    Parameters
    ----------
    data : DataFrame
        One row per bar, in display order: ``label`` (str, rep name or period such as
        "2026-Q3"), ``bookings`` (closed-won amount, currency), ``target`` (currency;
        0 or NaN means no target).
    currency : str
        ISO code of the amounts, for axis labels ("USD" shows "$").
    warn_at : float
        Attainment (fraction) below which a bar is "well below target" (red) rather than
        "below target" (amber).
    orient : {"vertical", "horizontal"}
        Horizontal suits many reps (long names).

    Examples
    --------
    >>> df = pd.DataFrame({"label": ["Q1", "Q2"], "bookings": [120.0, 70.0],
    ...                    "target": [100.0, 100.0]})
    >>> [layer["mark"]["type"] for layer in attainment_bars(df).to_dict()["layer"]]
    ['bar', 'tick', 'text']
    """
    df = _frame(data, ["label", "bookings", "target"], "attainment_bars", ["bookings", "target"])
    if df.empty:
        return _empty(title, "No bookings or targets in this period.")
    order = _unique(df, "label", "attainment_bars")
    df["attainment"] = df["bookings"] / df["target"].where(df["target"] > 0)
    df["status"] = _attainment_status(df["attainment"], warn_at)
    df["attainment_text"] = _pct(df["attainment"])
    df["bookings_text"] = format_money(df["bookings"], currency)
    df["target_text"] = format_money(df["target"], currency)
    cat = {"shorthand": "label:N", "sort": order, "title": None}
    val = {"shorthand": "bookings:Q", "title": f"Bookings ({currency})",
           "axis": money_axis(currency)}  # fmt: skip
    tip = [alt.Tooltip("label:N", title="For"), alt.Tooltip("bookings_text:N", title="Bookings"),
           alt.Tooltip("target_text:N", title="Target"),
           alt.Tooltip("attainment_text:N", title="Attainment")]  # fmt: skip
    base = alt.Chart()
    bars = base.mark_bar().encode(
        **_cat_value(orient, cat, val), color=_status_color(TARGET_STATUS), tooltip=tip
    )
    df["target_tick"] = df["target"].where(df["target"] > 0)  # no tick where no target
    tick_val = {**val, "shorthand": "target_tick:Q"}
    ticks = base.mark_tick(color=TARGET, thickness=2).encode(**_cat_value(orient, cat, tick_val))
    offset = (
        {"dx": 4, "align": "left"} if orient == "horizontal" else {"dy": -6, "baseline": "bottom"}
    )
    text = base.mark_text(**offset).encode(
        **_cat_value(orient, cat, val), text=alt.Text("attainment_text:N")
    )
    sub = "Bars: bookings, coloured by attainment (label). Black tick: target."
    return _layer(bars, ticks, text, data=df, title=_title(title, sub))


_PEER_COLUMNS: Final = ("metric", "value", "p25", "median", "p75", "n_peers")
_PEER_OPTIONAL: Final = ("unit", "higher_is_better", "percentile")
AT_OR_ABOVE_PEERS: Final = "Better than peer median"
BELOW_PEERS: Final = "Worse than peer median"
TOO_FEW_PEERS: Final = "Too few peers to compare"
PEER_STATUS: Final = {AT_OR_ABOVE_PEERS: GOOD, BELOW_PEERS: WARN, TOO_FEW_PEERS: SUBJECT}


@_as_built
def scorecard_vs_peers(
    peer_stats: pd.DataFrame,
    *,
    currency: str = "USD",
    subject_label: str = "Rep",
    min_peers: int = 3,
    title: str = "Scorecard vs peers",
) -> alt.VConcatChart | alt.Chart:
    """One row per KPI: the rep as a point against the peers' interquartile band and median.

    Privacy: the builder takes aggregated peer statistics only, never per-peer rows, and
    refuses any column it does not know (a peer's name cannot slip into the chart). Minimum
    and maximum are not accepted because each is one peer's exact value; with fewer than
    ``min_peers`` peers the band is hidden as well.

    Parameters
    ----------
    peer_stats : DataFrame
        One row per metric: ``metric`` (display name), ``value`` (the rep's value),
        ``p25``, ``median``, ``p75`` (peer quartiles), ``n_peers`` (int); optional
        ``unit`` ("currency", "percent" for fractions, "days", "count", "multiple" for
        coverage as a multiple of target, drawn "1.4x"; default "count"),
        ``higher_is_better`` (bool, default True), ``percentile`` (rep's peer percentile,
        0-100).
    subject_label : str
        How the rep is named in the tooltip ("You" in a rep's own copy).

    Examples
    --------
    >>> stats = pd.DataFrame({"metric": ["Win rate"], "value": [0.31], "p25": [0.22],
    ...     "median": [0.27], "p75": [0.33], "n_peers": [9], "unit": ["percent"]})
    >>> len(scorecard_vs_peers(stats).to_dict()["vconcat"])
    1
    """
    builder = "scorecard_vs_peers"
    numeric = ["value", "p25", "median", "p75", "n_peers", "percentile"]
    df = _frame(peer_stats, _PEER_COLUMNS, builder, numeric)
    extra = [c for c in df.columns if c not in _PEER_COLUMNS + _PEER_OPTIONAL]
    if extra:
        msg = (f"{builder}: unexpected column(s) {extra} in the peer statistics. Fix: pass "
               f"aggregated statistics only ({list(_PEER_COLUMNS + _PEER_OPTIONAL)}); peer "
               "names or per-peer values must never reach a rep's chart.")  # fmt: skip
        raise ParameterError(msg)
    if df.empty:
        return _empty(title, "No metrics to compare.")
    _unique(df, "metric", builder)  # repeated metrics mean per-peer rows were passed
    df["unit"] = df.get("unit", "count")
    better = df["higher_is_better"].astype(bool) if "higher_is_better" in df else True
    few = df["n_peers"] < min_peers
    df.loc[few, ["p25", "median", "p75"]] = np.nan
    ahead = np.where(better, df["value"] >= df["median"], df["value"] <= df["median"])
    df["status"] = np.where(few, TOO_FEW_PEERS, np.where(ahead, AT_OR_ABOVE_PEERS, BELOW_PEERS))
    rows = [_peer_row(row, currency, subject_label) for row in df.to_dict("records")]
    sub = "Grey band: middle half of peers; grey tick: peer median; dot: the rep."
    resolve = alt.Resolve(scale=alt.ScaleResolveMap(color="shared"))
    return alt.vconcat(*rows, spacing=6, title=_title(title, sub), resolve=resolve)


def _padded_domain(values: list[float]) -> list[float]:
    """Scale domain around the rep and the peer quartiles, so the band does not fill the row."""
    finite = [v for v in values if np.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    pad = 0.5 * (hi - lo) if hi > lo else (abs(hi) * 0.2 or 1.0)
    low = lo - pad if lo - pad >= 0 or lo < 0 else 0.0  # no negative axis for positive KPIs
    return [low, hi + pad]


@functools.cache
def _peer_parts() -> tuple[alt.Chart, alt.Chart, alt.Chart, alt.Y]:
    """The data-free parts of a scorecard row, built (and so validated by Altair) once."""
    base = alt.Chart()
    return (
        base.mark_bar(color=NEUTRAL, opacity=0.35, height=22),
        base.mark_tick(color="#6b6f73", thickness=3, size=26),
        base.mark_point(size=140, filled=True, stroke="white", strokeWidth=1),
        alt.Y("metric:N", title=None, axis=alt.Axis(labels=False, ticks=False, domain=False)),
    )


@functools.lru_cache(maxsize=32)
def _peer_axis(unit: str, currency: str) -> alt.Axis:
    if unit == "currency":
        # at most 5 ticks: bookings over $10K-$36K read '$10K$12K$14K...' run together
        return money_axis(currency, tickCount=5)
    if unit == "multiple":
        # at most 5 ticks: a narrow spread read '0.06x0.08x0.1x0.12x...' run together
        return alt.Axis(labelExpr="format(datum.value, '~r') + 'x'", tickCount=5)
    if unit == "percent":
        # one decimal where needed and fewer ticks: a KPI spread over 2.6-3.3% read
        # '3%, 3%, 3%, 3%' with none, '2.9%, 2.9%, 2.9%' with a dozen ticks
        return alt.Axis(format=".1~%", tickCount=5)
    if unit in ("count", "days"):
        return alt.Axis(format="~r", tickMinStep=1)  # no 'stale deals: 0.5, 1.5'
    return alt.Axis(format="~r")


def _peer_row(row: dict, currency: str, subject: str) -> alt.LayerChart:
    unit = row["unit"] if isinstance(row.get("unit"), str) else "count"
    keys = ["value", "p25", "median", "p75"]
    if unit == "currency":
        text = format_money([row[k] for k in keys], currency)
    elif unit == "percent":
        text = _pct(pd.Series([row[k] for k in keys]))
    elif unit == "multiple":
        text = [format_value(row[k], "multiple") if pd.notna(row[k]) else "–" for k in keys]
    else:
        text = pd.Series([row[k] for k in keys]).map(_num_text)
    pct = row.get("percentile", np.nan)
    d = pd.DataFrame([{**{k: row[k] for k in keys}, "metric": row["metric"],
                       "status": row["status"], "n_peers": int(row["n_peers"]),
                       **{f"{k}_text": t for k, t in zip(keys, text, strict=True)},
                       "percentile_text": "–" if np.isnan(pct) else f"{pct:.0f}"}])  # fmt: skip
    unit_title = {"currency": currency, "percent": "%", "multiple": "x target"}.get(unit, unit)
    x_title = f"{row['metric']} ({unit_title})"
    # one row per KPI: copies of the cached constant parts skip Altair's per-object validation
    band, median, dot, y = (part.copy() for part in _peer_parts())
    axis = _peer_axis(unit, currency).copy()
    scale = alt.Scale(domain=_padded_domain([row[k] for k in keys]), nice=False, clamp=True)
    band = band.encode(
        x=alt.X("p25:Q", title=x_title, axis=axis, scale=scale), x2=alt.X2("p75:Q"), y=y
    )
    median = median.encode(x=alt.X("median:Q"), y=y)
    tip = [alt.Tooltip("value_text:N", title=vega_text(subject)),
           alt.Tooltip("median_text:N", title="Peer median"),
           alt.Tooltip("p25_text:N", title="Peer 25th pct"), alt.Tooltip("p75_text:N", title="Peer 75th pct"),
           alt.Tooltip("percentile_text:N", title="Percentile"), alt.Tooltip("n_peers:Q", title="Peers")]  # fmt: skip
    dot = dot.encode(x=alt.X("value:Q"), y=y, color=_status_color(PEER_STATUS), tooltip=tip)
    # size given to the layer, not to each sub-chart: moving it up costs Altair deep copies
    return _layer(band, median, dot, data=d, width=420, height=34)

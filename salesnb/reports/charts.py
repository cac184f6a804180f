"""Altair chart builders for the salesnb workbooks: one theme, colour that means something.

Every builder takes a small tidy DataFrame (its docstring lists the columns), does its
arithmetic in pandas and returns an Altair chart. Colours carry one meaning everywhere:

- :data:`GOOD` (teal) on or above target / at or above peers / pipeline growing,
- :data:`WARN` (amber) below target, :data:`BAD` (red) well below target, lost, past due,
- :data:`NEUTRAL` (grey) peers, team and context, :data:`SUBJECT` (navy) the rep, totals,
- :data:`FORECAST` (blue) forecasts, its lighter shades their intervals, :data:`TARGET` ink.

Money axes show the data set's currency symbol (``currency="EUR"`` gives "€1.2M") and every
axis names its unit. Call :func:`setup_charts` once in a notebook: it enables the theme and
the offline renderer (static SVG, see :mod:`salesnb.reports.chartrender`).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal, ParamSpec, TypeVar

import altair as alt
import numpy as np
import pandas as pd

from salesnb.analytics.coaching_facts import currency_symbol as coaching_currency_symbol
from salesnb.analytics.coaching_facts import format_value
from salesnb.core.errors import ParameterError
from salesnb.reports.chartrender import (
    enable_offline_renderer,
    enable_theme,
    set_svg_converter,
    setup_charts,
    svg_from_spec,
)

# Speed: encodings are channel objects (alt.X("a:Q"), alt.Tooltip(...)), never shorthand strings
# or dicts, which Altair converts with SchemaBase.from_dict, re-indexing its whole schema on
# every call (~8 ms; vega/altair#3547). Layers sharing a frame are built from a data-less
# alt.Chart() and get it once, alt.layer(..., data=df): given it per layer, Altair hashes the
# frame's repr for each layer before hoisting it. The Vega-Lite output is the same either way.

__all__ = [
    "activity_trend", "attainment_bars", "bookings_forecast", "currency_symbol", "decomposition",
    "distribution", "enable_offline_renderer", "enable_theme", "format_money", "funnel",
    "pipeline_aging", "reverse_funnel", "scorecard_vs_peers", "set_svg_converter",
    "setup_charts", "stage_conversion_vs_team", "svg_from_spec", "waterfall",
]  # fmt: skip

GOOD: Final = "#2a9d8f"
WARN: Final = "#e9a23b"
BAD: Final = "#d1495b"
NEUTRAL: Final = "#a0a4a8"
SUBJECT: Final = "#1f3b5a"
FORECAST: Final = "#3b75af"
BAND80: Final = "#9ec1e3"
BAND95: Final = "#d4e4f3"
TARGET: Final = "#222222"

ON_TARGET: Final = "On or above target"
BELOW_TARGET: Final = "Below target"
WELL_BELOW: Final = "Well below target"
NO_TARGET: Final = "No target"
TARGET_STATUS: Final = {ON_TARGET: GOOD, BELOW_TARGET: WARN, WELL_BELOW: BAD, NO_TARGET: NEUTRAL}

Chart = alt.Chart | alt.LayerChart | alt.VConcatChart


# --------------------------------------------------------------------------- as built

# Speed: Altair checks every chart against the Vega-Lite JSON schema, twice over: each channel
# object when it is made (its DEBUG_MODE) and the whole spec whenever it is displayed. For the
# four charts of a review document that is about 40 ms, a sixth of the whole document in a
# batch. The specs this module builds are checked instead by the test-suite (every builder,
# every branch, explicitly with ``to_dict(validate=True)``), so a chart exactly as a builder
# returned it skips both. Anything derived from it (``.properties()``, ``.encode()``,
# ``+``, ``alt.layer(...)``) or an attribute set on it is an ordinary Altair chart again, and
# checked as usual.
_UNSET: Final = object()
_P = ParamSpec("_P")
_R = TypeVar("_R")


class _AsBuilt:
    """A chart exactly as a builder of this module returned it (see above)."""

    def to_dict(self, validate: object = _UNSET, **kwargs: object) -> dict:
        # only the default is skipped: an explicit validate=True still checks
        return super().to_dict(validate=False if validate is _UNSET else validate, **kwargs)  # type: ignore[misc]

    def copy(self, *args: object, **kwargs: object) -> object:
        deep = args[0] if args else kwargs.get("deep", True)
        if deep is False and isinstance(self, alt.LayerChart):
            # Altair's shallow copy of a layered chart builds it again, which deep-copies every
            # layer twice (to_dict makes one such copy per display): the top level alone
            # (the layers shared, as a shallow copy means) is the same chart.
            new = object.__new__(type(self))
            new.__dict__.update(self.__dict__)
            object.__setattr__(new, "_kwds", dict(self._kwds))
            return _plain(new)
        return _plain(super().copy(*args, **kwargs))  # type: ignore[misc]

    def __setattr__(self, name: str, value: object) -> None:
        setattr(_plain(self), name, value)


class _BuiltChart(_AsBuilt, alt.Chart):
    pass


class _BuiltLayerChart(_AsBuilt, alt.LayerChart):
    pass


class _BuiltVConcatChart(_AsBuilt, alt.VConcatChart):
    pass


_AS_BUILT: Final = {
    alt.Chart: _BuiltChart, alt.LayerChart: _BuiltLayerChart, alt.VConcatChart: _BuiltVConcatChart
}  # fmt: skip
_PLAIN: Final = {v: k for k, v in _AS_BUILT.items()}


def _plain(chart: object) -> object:
    if type(chart) in _PLAIN:
        object.__setattr__(chart, "__class__", _PLAIN[type(chart)])
    return chart


def _as_built(builder: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``builder`` without Altair's per-object checks and mark its chart as built."""

    @functools.wraps(builder)
    def build(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with alt.utils.schemapi.debug_mode(False):
            chart = builder(*args, **kwargs)
        if type(chart) in _AS_BUILT:
            object.__setattr__(chart, "__class__", _AS_BUILT[type(chart)])
        return chart

    return build


class _Fresh(alt.Chart):
    """A layer just made by a builder, handed to :func:`_layer` and used nowhere else."""

    def copy(self, deep: object = True, ignore: object = None) -> object:
        # Layering copies each layer twice over, deeply, so that it can set the copy's
        # top-level properties (data, params, width...) without touching the caller's layer:
        # a copy of the top level does that, and the caller drops its layers anyway.
        return super().copy(deep=False) if deep is True else super().copy(deep, ignore)  # type: ignore[arg-type]


def _layer(*layers: Any, **kwargs: Any) -> alt.LayerChart:
    """``alt.layer(*layers, **kwargs)`` for layers a builder made and drops afterwards.

    The spec is the same (tests compare every builder's with ``alt.layer``'s); layering
    skips its deep copies of each layer (about a third of building a review's charts).
    """
    fresh = [x for x in layers if type(x) is alt.Chart]
    for x in fresh:
        object.__setattr__(x, "__class__", _Fresh)
    try:
        chart = alt.layer(*layers, **kwargs)
    finally:
        for x in fresh:
            object.__setattr__(x, "__class__", alt.Chart)
    for x in chart.layer:  # the copies layering made: ordinary charts again
        if type(x) is _Fresh:
            object.__setattr__(x, "__class__", alt.Chart)
    return chart


# --------------------------------------------------------------------------- helpers


def currency_symbol(currency: str = "USD") -> str:
    """The prefix shown before money values for an ISO 4217 code.

    Codes without a well-known symbol are shown as the code and a space.

    Examples
    --------
    >>> currency_symbol("EUR"), currency_symbol("sek")
    ('€', 'SEK ')
    """
    code = str(currency).strip()
    if code == "deals" or re.fullmatch(r"[A-Za-z]{3}", code):  # the kit's one table
        return coaching_currency_symbol(code)
    if 0 < len(code) <= 3 and not code.isalnum():  # already a symbol such as "$"
        return code
    msg = (f"Unknown currency {currency!r}. Fix: give an ISO 4217 code such as 'USD' or 'EUR' "
           "(the `currency` key of salesnb.toml).")  # fmt: skip
    raise ParameterError(msg)


def _compact(value: float) -> str:
    rounded = float(f"{abs(value):.3g}")  # 3 significant digits, so 999,999 reads "1M"
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):  # K, M, B as format_money
        if rounded >= div:
            return f"{rounded / div:g}{suffix}"
    return f"{rounded:g}"


def format_money(
    values: pd.Series | Sequence[float],
    currency: str = "USD",
    compact: bool = False,
    signed: bool = False,
) -> pd.Series:
    """Money as text: "$1,250,000", compact "$1.25M", signed "+$1.25M"; NaN gives "–".

    Examples
    --------
    >>> format_money([1250000, -950, float("nan")], "EUR", compact=True).tolist()
    ['€1.25M', '-€950', '–']
    >>> format_money([1234.5], signed=True).tolist()
    ['+$1,234']
    """
    symbol = currency_symbol(currency)
    series = pd.Series(values, dtype="float64")

    def one(v: float) -> str:
        if np.isnan(v):
            return "–"
        sign = "-" if v < 0 else ("+" if signed and v > 0 else "")
        return f"{sign}{symbol}{_compact(v) if compact else f'{abs(v):,.0f}'}"

    return series.map(one).astype(object)  # chart data: plain strings


def _money_axis(currency: str, **kwargs: object) -> alt.Axis:
    """Axis labels like "$250K", "€1.5M": d3's own "$" format knows only the dollar."""
    sym = json.dumps(currency_symbol(currency), ensure_ascii=False)
    expr = (
        f"(datum.value < 0 ? '-' : '') + {sym} + (abs(datum.value) >= 1000 ? "
        "replace(replace(format(abs(datum.value), '.3~s'), 'G', 'B'), 'k', 'K') : "
        "format(abs(datum.value), '~r'))"
    )
    return alt.Axis(labelExpr=expr, **kwargs)


def _pct(values: pd.Series) -> pd.Series:
    return values.map(lambda v: "–" if np.isnan(v) else f"{v:.0%}").astype(object)


def _num_text(v: float) -> str:
    """Counts and days: "1,234", "45", "2.5"; NaN gives "–"."""
    if np.isnan(v):
        return "–"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _frame(data: object, required: Sequence[str], builder: str, numeric: Sequence[str] = ()):
    """Check a builder's input: a DataFrame with the columns it needs, numbers as numbers."""
    if not isinstance(data, pd.DataFrame):
        msg = f"{builder} needs a pandas DataFrame, got {type(data).__name__}. Fix: pass one."
        raise ParameterError(msg)
    missing = [c for c in required if c not in data.columns]
    if missing:
        msg = (f"{builder}: the data has no column {', '.join(map(repr, missing))} "
               f"(it has {list(map(str, data.columns))}). Fix: pass a frame with columns "
               f"{list(required)}; see help({builder}).")  # fmt: skip
        raise ParameterError(msg)
    df = data.reset_index(drop=True).copy()
    for col in numeric:
        if col in df.columns:
            dtype = df[col].dtype
            if isinstance(dtype, np.dtype) and dtype.kind in "biuf":  # numbers already: no parsing
                if dtype != np.float64:
                    df[col] = df[col].astype("float64")
                continue
            num = pd.to_numeric(df[col], errors="coerce").astype("float64")
            bad = num.isna() & df[col].notna()
            if bad.any():
                msg = (f"{builder}: column {col!r} holds non-numbers, e.g. "
                       f"{df.loc[bad, col].iloc[0]!r}. Fix: convert it to numbers.")  # fmt: skip
                raise ParameterError(msg)
            df[col] = num
    return df


def _labels(df: pd.DataFrame, col: str, builder: str) -> pd.Series:
    """``df[col]`` as category labels for a Vega-Lite sort order, which takes one kind of
    value: labels of mixed kinds become text (in ``df``, the builder's own copy)."""
    values = df[col]
    missing = values.isna().to_numpy()
    if missing.any():
        msg = (f"{builder}: {col} is missing in row {int(np.flatnonzero(missing)[0])}. "
               f"Fix: give every row a {col}.")  # fmt: skip
        raise ParameterError(msg)
    kinds = {bool if isinstance(v, bool | np.bool_) else float if isinstance(v, int | float | np.number)
             else str if isinstance(v, str) else object for v in values}  # fmt: skip
    if len(kinds) > 1 or object in kinds:
        df[col] = values = values.map(str).astype(object)
    return values


def _unique(df: pd.DataFrame, col: str, builder: str) -> list:
    values = _labels(df, col, builder)
    if not values.is_unique:  # checked first: 20 times faster than finding the duplicate
        dup = values[values.duplicated()]
        msg = (f"{builder}: {col} {dup.iloc[0]!r} appears more than once. "
               f"Fix: pass one row per {col} (aggregate first).")  # fmt: skip
        raise ParameterError(msg)
    return values.tolist()


def _status_color(mapping: dict[str, str], title: str | None = None) -> alt.Color:
    """A colour encoding whose domain fixes the meaning of each colour."""
    # A copy of a cached one: Altair validates each new Scale and Legend (~1 ms), not copies.
    return _status_color_cached(tuple(mapping.items()), title).copy()


@functools.lru_cache(maxsize=32)
def _status_color_cached(items: tuple[tuple[str, str], ...], title: str | None) -> alt.Color:
    scale = alt.Scale(domain=[k for k, _ in items], range=[v for _, v in items])
    return alt.Color("status:N", scale=scale, legend=alt.Legend(title=title))


def _attainment_status(ratio: pd.Series, warn_at: float) -> np.ndarray:
    return np.select(
        [ratio.isna(), ratio >= 1.0, ratio >= warn_at],
        [NO_TARGET, ON_TARGET, BELOW_TARGET],
        default=WELL_BELOW,
    )


def vega_text(text: str) -> str:
    r"""``text`` made safe for a Vega-Lite title: a backslash before a quote, or a line break,
    breaks the expression Vega-Lite builds from a tooltip or axis title (the whole chart then
    fails to render), so backslashes become U+29F5 and line breaks spaces.

    Examples
    --------
    >>> vega_text('Ann \\"+x+\\"')
    'Ann ⧵"+x+⧵"'
    """
    return re.sub(r"[\r\n\t]+", " ", str(text).replace("\\", "\u29f5"))


def _title(text: str, subtitle: str | None = None) -> alt.Title:
    if subtitle:
        return alt.Title(vega_text(text), subtitle=vega_text(subtitle))
    return alt.Title(vega_text(text))


def _empty(title: str, message: str) -> alt.Chart:
    """A chart that says why it is empty instead of drawing bare axes."""
    data = pd.DataFrame({"message": [message]})
    return (
        alt.Chart(data, title=_title(title))
        .mark_text(fontSize=13, color=NEUTRAL)
        .encode(text=alt.Text("message:N"))
        .properties(width=400, height=60)
    )


def _cat_value(orient: str, cat: dict, val: dict) -> dict:
    if orient == "horizontal":
        return {"y": alt.Y(**cat), "x": alt.X(**val)}
    return {"x": alt.X(**cat), "y": alt.Y(**val)}


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
           "axis": _money_axis(currency)}  # fmt: skip
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
        return _money_axis(currency)
    if unit == "multiple":
        return alt.Axis(labelExpr="format(datum.value, '~r') + 'x'")
    return alt.Axis(format=".0%" if unit == "percent" else "~r")


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
                  axis=_money_axis(currency))  # fmt: skip
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
    y = alt.Y("base:Q", title=f"Open pipeline ({currency})", axis=_money_axis(currency))
    base = alt.Chart()
    tip = [alt.Tooltip("step:N"), alt.Tooltip("text:N", title="Amount")]
    bars = base.mark_bar().encode(
        x=x, y=y, y2=alt.Y2("top:Q"), color=_status_color(WATERFALL_STATUS), tooltip=tip
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
        y = alt.Y("sum(amount):Q", title=f"Open value ({currency})", axis=_money_axis(currency),
                  stack="zero")  # fmt: skip
        tip = [alt.Tooltip("status:N"), alt.Tooltip("count():Q")]
        marks = base.mark_bar().encode(x=x, y=y, color=color, tooltip=tip)
    else:
        tip = [alt.Tooltip(c) for c in ("label", "stage") if c in df] + [
            alt.Tooltip("amount_text:N", title="Value"), alt.Tooltip("age_days:Q", title="Age (days)"),
            alt.Tooltip("status:N", title="Status")]  # fmt: skip
        marks = base.mark_circle(size=70, opacity=0.8).encode(
            x=alt.X("age_days:Q", title=x_title),
            y=alt.Y("amount:Q", title=y_title, axis=_money_axis(currency)),
            color=color, tooltip=tip,
        )  # fmt: skip
    if not rule:
        return _layer(marks, data=df, title=_title(title))
    typical = pd.DataFrame({"age_days": [float(typical_age_days)]})
    line = (
        alt.Chart(typical).mark_rule(color=TARGET, strokeDash=[4, 4]).encode(x=alt.X("age_days:Q"))
    )
    return _layer(marks, line, title=_title(title, "Dashed line: typical age."))


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
    x = alt.X("month:T", title="Month", axis=alt.Axis(format="%b %Y"))
    y_title = f"Bookings per month ({currency})"
    band_tip = [alt.Tooltip("month:T", format="%b %Y"), alt.Tooltip("lo80_text:N", title="80% from"),
                alt.Tooltip("hi80_text:N", title="80% to"), alt.Tooltip("lo95_text:N", title="95% from"),
                alt.Tooltip("hi95_text:N", title="95% to")]  # fmt: skip
    fb = alt.Chart(f)
    band95 = fb.mark_area(color=BAND95).encode(
        x=x,
        y=alt.Y("lo95:Q", title=y_title, axis=_money_axis(currency)),
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
        above target.

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
    lo, hi = x.min(), x.max()
    width = (hi - lo) / max(bins, 1) if hi > lo else max(abs(hi) * 0.01, 1.0)
    if hi == lo < target:  # one value below target: its bar must stop short of the target
        width = min(width, target - lo)
    if lo < target <= hi:  # a grid anchored at the target: no bar straddles it
        k = np.arange(np.floor((lo - target) / width), np.floor((hi - target) / width) + 2)
        edges = target + width * k
    else:  # every simulation on one side of the target
        edges = np.linspace(lo, hi, max(bins, 1) + 1) if hi > lo else np.array([lo, lo + width])
    edges[0], edges[-1] = min(edges[0], lo), max(edges[-1], hi)  # float safety
    counts, edges = np.histogram(x, bins=edges)
    df = pd.DataFrame({"start": edges[:-1], "end": edges[1:], "share": counts / x.size})
    df["status"] = np.where(df["start"] >= target, REACHES, MISSES)
    df["range_text"] = (format_money(df["start"], currency, compact=True) + " – "
                        + format_money(df["end"], currency, compact=True))  # fmt: skip
    q10, q50, q90 = format_money(np.percentile(x, [10, 50, 90]), currency, compact=True)
    sub = (f"P(reach target of {format_money([target], currency)[0]}) = {format_value(p, 'chance')}. "
           f"Median {q50}, 80% of outcomes between {q10} and {q90}.")  # fmt: skip
    df["zero"] = 0.0
    bars = alt.Chart(df).mark_bar(binSpacing=0).encode(
        x=alt.X("start:Q", title=f"Period bookings ({currency})", axis=_money_axis(currency),
                scale=alt.Scale(zero=False)),
        x2=alt.X2("end:Q"),
        y=alt.Y("share:Q", title="Share of simulations (%)", axis=alt.Axis(format=".0%")),
        y2=alt.Y2("zero:Q"),
        color=_status_color({REACHES: GOOD, MISSES: WARN}),
        tooltip=[alt.Tooltip("range_text:N", title="Bookings"),
                 alt.Tooltip("share:Q", title="Share", format=".1%")],
    )  # fmt: skip
    tgt = pd.DataFrame({"target": [float(target)], "text": [f"Target · P = {p:.0%}"]})
    rule = alt.Chart(tgt).mark_rule(color=TARGET, strokeWidth=2).encode(x=alt.X("target:Q"))
    label = (
        alt.Chart(tgt)
        .mark_text(align="left", dx=4, dy=-4, baseline="top", y=0)
        .encode(x=alt.X("target:Q"), text=alt.Text("text:N"))
    )
    return _layer(bars, rule, label, title=_title(title, sub))


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
    y = alt.Y("amount:Q", title=f"Target ({currency})", axis=_money_axis(currency))
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

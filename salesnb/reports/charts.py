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

This module is the builders' public face: they live in one module per family
(:mod:`~salesnb.reports.chartpeers` target and peers, :mod:`~salesnb.reports.chartpipeline`
pipeline, :mod:`~salesnb.reports.chartforecast` forecast, :mod:`~salesnb.reports.chartgoals`
goals), on the shared colours and helpers of :mod:`~salesnb.reports.chartkit`.
"""

# ruff: noqa: F401 -- the public face: every public name of the family modules, re-exported

from __future__ import annotations

from salesnb.reports.chartforecast import (
    MISSES,
    REACHES,
    SERIES_COLORS,
    bookings_forecast,
    distribution,
)
from salesnb.reports.chartgoals import (
    COVERAGE_STATUS,
    NOT_MEASURED,
    activity_trend,
    decomposition,
    reverse_funnel,
)
from salesnb.reports.chartkit import (
    BAD,
    BAND80,
    BAND95,
    BELOW_TARGET,
    FORECAST,
    GOOD,
    NEUTRAL,
    NO_TARGET,
    ON_TARGET,
    SUBJECT,
    TARGET,
    TARGET_STATUS,
    WARN,
    WELL_BELOW,
    Chart,
    currency_symbol,
    format_money,
    vega_text,
)
from salesnb.reports.chartpeers import (
    AT_OR_ABOVE_PEERS,
    BELOW_PEERS,
    PEER_STATUS,
    TOO_FEW_PEERS,
    attainment_bars,
    scorecard_vs_peers,
)
from salesnb.reports.chartpipeline import (
    ADDED,
    AGING_STATUS,
    AT_OR_ABOVE_TEAM,
    BELOW_TEAM,
    BOTTLENECK,
    LAST_STAGE,
    LOST,
    NO_TEAM,
    OK_DEAL,
    OPEN_PIPELINE,
    PAST_DUE,
    SLIPPED,
    STALE,
    TEAM_STATUS,
    WATERFALL_MEANING,
    WATERFALL_SIGNS,
    WATERFALL_STATUS,
    WON,
    funnel,
    pipeline_aging,
    stage_conversion_vs_team,
    waterfall,
)
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

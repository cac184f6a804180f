"""Per-subject views for the workbooks: the adapter between the KPI modules and the notebooks.

A workbook resolves one :class:`Context` (data, subject, period, as-of date) and asks this
module for tidy tables in the shape each chart builder of :mod:`salesnb.reports.charts` expects, and
for the :class:`~salesnb.analytics.coaching.RepFacts` the coaching rules read. All logic lives here, so
a notebook is parameters, calls, charts and prose.

Privacy (a rep's document is shared with that rep): every function returns only the
subject's own deals; peers appear only as anonymised aggregates (median, quartiles, the
subject's percentile), and not at all when fewer than :data:`MIN_PEERS` peers remain.

This module is the views' public face: they live in one module per job
(:mod:`~salesnb.reports.factcontext` the context, :mod:`~salesnb.reports.peerfacts` KPIs and
peers, :mod:`~salesnb.reports.dealfacts` the subject's deals and coaching facts,
:mod:`~salesnb.reports.redaction` privacy, :mod:`~salesnb.reports.pipfacts` the improvement
plan's measures).
"""

# ruff: noqa: F401 -- the public face: every public name of the fact modules, re-exported

from __future__ import annotations

from salesnb.reports.dealfacts import (
    WaterfallView,
    aging_frame,
    attention,
    biggest_open_deal,
    coverage_table,
    facts_for,
    funnel_frame,
    lookback,
    open_deals,
    rep_breakdown,
    rep_facts,
    stage_table,
    typical_cycle_days,
    velocity,
    waterfall_view,
    wins,
)
from salesnb.reports.factcontext import (
    LOOKBACK_DAYS,
    MIN_CLOSED_DEALS,
    MIN_PEERS,
    SALES_CYCLE_WINDOW_DAYS,
    SCORECARD_METRICS,
    Context,
    context,
    joined_during,
    locate_data,
    open_context,
    period_notice,
    previous_period,
    rep_start,
    subject_name_map,
)
from salesnb.reports.peerfacts import (
    SMALL_GROUP,
    VALUE_ONLY_METRICS,
    PeerGroup,
    cycle_window,
    elapsed_share,
    own_rows,
    peer_chart_frame,
    peer_comparison,
    peer_group,
    peer_stats,
    sales_cycle_days,
    unit_table,
)
from salesnb.reports.pipfacts import (
    PIP_WINDOWS,
    pip_actuals,
    pip_facts,
    pip_measures,
    pip_stage_conversion,
    quarterly_attainment,
)
from salesnb.reports.redaction import (
    MASK,
    MIN_HISTORY_MONTHS,
    NEAR_DUPLICATE,
    PrivateTerms,
    coverage_notes,
    data_notes,
    forbidden_terms,
    private_terms,
    redact,
)

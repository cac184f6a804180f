"""What each workbook shows, prepared in one call per notebook, and safe prose for it.

Each ``*_view`` function takes a :class:`~salesnb.reports.facts.Context` and returns a small
dataclass of display-ready tables (formatted strings, so any notebook front end shows the
same), chart frames for :mod:`salesnb.reports.charts`, escaped prose (:class:`Html`) and the
``headline`` figures for :func:`salesnb.reports.record.headline`. Goal setting, forecasting and the
improvement plan are prepared here too.

This module is the views' public face: they live in one module per workbook family
(:mod:`~salesnb.reports.reviewviews` scorecard, pipeline review, one-on-one and region tables,
:mod:`~salesnb.reports.forecastview`, :mod:`~salesnb.reports.goalview`,
:mod:`~salesnb.reports.pipview`), on the safe prose and tables of
:mod:`~salesnb.reports.viewkit`.

Every piece of text built from data goes through :func:`esc` (``html.escape``), so a rep or
account called ``<script>alert(1)</script>`` is shown as text, never run.
"""

# ruff: noqa: F401 -- the public face: every public name of the view modules, re-exported

from __future__ import annotations

from salesnb.reports.forecastview import (
    ForecastView,
    forecast_backtest,
    forecast_view,
    history_warning,
    method_words,
    pipeline_split,
)
from salesnb.reports.goalview import (
    GoalPlan,
    current_quota,
    goal_setting_view,
    kpis_row,
    kpis_stage,
    plan_year,
    smart_checks,
    smart_details,
    smart_summary,
)
from salesnb.reports.pipview import (
    ImprovementPlan,
    pip_view,
)
from salesnb.reports.reviewviews import (
    OneOnOne,
    PipelineReview,
    data_notes_html,
    one_on_one_view,
    peer_median_header,
    pipeline_review_view,
    scorecard_table,
    team_table,
)
from salesnb.reports.viewkit import (
    Html,
    bullets,
    commitments_html,
    esc,
    fmt,
    header,
    humane,
    para,
    points_html,
    show,
)

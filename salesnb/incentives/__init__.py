"""Incentives: commission and bonus plans as data (:mod:`.plan`) and the payouts they make
(:mod:`.engine`). See docs/incentives.md."""

from salesnb.incentives.engine import COLUMNS, payouts, period_label, statement_lines
from salesnb.incentives.plan import Plan, load_plan, parse_plan

__all__ = [
    "COLUMNS",
    "Plan",
    "load_plan",
    "parse_plan",
    "payouts",
    "period_label",
    "statement_lines",
]

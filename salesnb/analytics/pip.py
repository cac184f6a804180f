"""Performance-improvement plans: gap analysis, SMART PIP goals and weekly progress.

Targets close a share of the gap to the team median, capped so they stay achievable; the
settings come from the ``[pip]`` table of the rules file (see ``docs/coaching.md``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from salesnb.analytics.coaching_facts import (
    METRICS,
    RepFacts,
    _as_facts,
    _int_param,
    _target,
    format_value,
)
from salesnb.analytics.coaching_rules import RuleSet, _as_ruleset
from salesnb.core.errors import ParameterError

__all__ = [
    "PipGoal",
    "PlanNeed",
    "gap_analysis",
    "goals_table",
    "pip_progress",
    "plan_needed",
    "propose_pip_goals",
]


#: Pipeline-hygiene metrics: worth a goal only after those that move results.
HYGIENE_METRICS = ("stale_deals", "past_due_deals", "slipped_deals")


@dataclass(frozen=True)
class PlanNeed:
    """Whether an improvement plan is warranted, the quarters it was judged on and why."""

    needed: bool
    quarters: tuple[tuple[str, float | None], ...]
    reason: str


def plan_needed(
    attainment: Mapping[str, float | None], rules: RuleSet | str | Path | None = None
) -> PlanNeed:
    """Whether a rep's sustained results call for an improvement plan (the ``[pip]`` bar).

    A plan is for a rep below ``bar`` attainment (default 70%) in at least ``bar_misses`` (2)
    of the last ``bar_quarters`` (3) complete quarters with a target. Anyone else gets "no plan
    needed"; a rep with fewer quarters with a target (a new hire) is not judged yet.

    Parameters
    ----------
    attainment : mapping of str to float or None
        Complete quarters, oldest first, to their attainment (1.0 = 100%); None or NaN = no
        target that quarter (not counted).

    Examples
    --------
    >>> plan_needed({"FY2026-Q1": 1.5, "FY2026-Q2": 2.1, "FY2026-Q3": 0.68}).needed
    False
    >>> plan_needed({"FY2026-Q1": 0.52, "FY2026-Q2": 0.5, "FY2026-Q3": 0.8}).needed
    True
    """
    rs = _as_ruleset(rules)
    bar, n, need = rs.pip.bar, rs.pip.bar_quarters, rs.pip.bar_misses
    known = [(q, float(a)) for q, a in attainment.items() if a is not None and np.isfinite(a)]
    used = tuple(known[-n:])
    shown = ", ".join(f"{q} {format_value(a, 'percent')}" for q, a in used)
    bar_txt = format_value(bar, "percent")
    if len(used) < n:
        what = f"only {len(used)} complete quarter(s) with a target" + (
            f" ({shown})" if used else ""
        )
        reason = (
            f"No improvement plan yet: {what}; a plan needs {n} to judge sustained results. "
            "Use the one-on-one for development goals."
        )
        return PlanNeed(False, used, reason)
    misses = sum(a < bar for _, a in used)
    if misses >= need:
        reason = (
            f"Attainment was under {bar_txt} in {misses} of the last {n} complete quarters "
            f"({shown}): a plan is warranted."
        )
        return PlanNeed(True, used, reason)
    reason = (
        f"No improvement plan needed: attainment in the last {n} complete quarters was "
        f"{shown}, under {bar_txt} in {misses} of them (a plan needs {need}). Use the "
        "one-on-one for development goals."
    )
    return PlanNeed(False, used, reason)


_GAP_COLUMNS = [
    "metric", "label", "unit", "better", "rep", "team_median", "team_q1", "team_q3", "target",
    "percentile", "gap_to_median", "gap_to_median_pct", "gap_to_target", "gap_to_target_pct",
    "severity", "status",
]  # fmt: skip


def gap_analysis(
    facts: RepFacts | Mapping[str, Any], rules: RuleSet | str | Path | None = None
) -> pd.DataFrame:
    """Where the rep is behind, against target and the team median, worst first.

    Gaps are shortfalls in the metric's better direction: positive = behind (for the sales
    cycle, days *above* the median). ``*_pct`` divide by the reference (growth metrics, already
    relative, use the absolute gap). ``severity`` is the larger relative shortfall; ``status``
    is ``behind`` (> 5 %), ``ahead`` (< -5 %), ``on par`` or ``no reference``. Stage rows are
    named ``stage_conversion:<stage>`` (team median = the team's conversion).

    Examples
    --------
    >>> g = gap_analysis({"win_rate": {"value": 0.2, "median": 0.25},
    ...                   "sales_cycle_days": {"value": 60, "median": 40}})
    >>> g[["metric", "gap_to_median", "severity", "status"]]
                 metric  gap_to_median  severity  status
    0  sales_cycle_days          20.00       0.5  behind
    1          win_rate           0.05       0.2  behind
    """
    facts = _as_facts(facts)
    rs = _as_ruleset(rules)
    rows = [
        (name, METRICS[name], mf.value, mf.median, mf.q1, mf.q3, _target(facts, name, rs.targets),
         mf.percentile)
        for name, mf in facts.metrics.items() if mf.value is not None
    ]  # fmt: skip
    conv = METRICS["stage_conversion"]
    rows += [
        (f"stage_conversion:{stage}", conv, rep, team, None, None, None, None)
        for stage, (rep, team, _) in facts.stage_conversion.items() if rep is not None
    ]  # fmt: skip
    df = pd.DataFrame(
        [(m, i.label, i.unit, i.better, *nums) for m, i, *nums in rows],
        columns=["metric", "label", "unit", "better", "rep", "team_median", "team_q1", "team_q3",
                 "target", "percentile"],
    )  # fmt: skip
    stage = df["metric"].str.startswith("stage_conversion:")
    df.loc[stage, "label"] = "Conversion at " + df.loc[stage, "metric"].str.split(":", n=1).str[1]
    num = ["rep", "team_median", "team_q1", "team_q3", "target", "percentile"]
    df[num] = df[num].astype("float64")
    sign = np.where(df["better"] == "higher", 1.0, -1.0)
    relative = df["unit"] != "growth"
    for ref, col in (("team_median", "gap_to_median"), ("target", "gap_to_target")):
        df[col] = (df[ref] - df["rep"]) * sign
        denom = df[ref].abs().where(relative, 1.0).replace(0.0, np.nan)
        df[f"{col}_pct"] = df[col] / denom
    df["severity"] = df[["gap_to_median_pct", "gap_to_target_pct"]].max(axis=1)
    df["status"] = np.select(
        [df["severity"].isna(), df["severity"] > 0.05, df["severity"] < -0.05],
        ["no reference", "behind", "ahead"],
        "on par",
    )
    df = df.sort_values(["severity", "metric"], ascending=[False, True], na_position="last")
    return df[_GAP_COLUMNS].reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class PipGoal:
    """One SMART improvement goal of a performance-improvement plan.

    ``metric`` is the metric name, or ``stage_conversion:<stage>``; ``baseline``, ``target`` and
    ``team_median`` are in the metric's unit; ``team_median`` is the median of ``peers`` (the
    rep's "team" or "region"; for a stage, the conversion of all reps). ``milestones`` are ``(days, date, expected)`` at
    30/60/90 days up to the deadline; ``checkpoints`` is a DataFrame ``week, date, expected``
    (a linear path from baseline to target). ``smart`` explains each SMART criterion.
    """

    metric: str
    label: str
    unit: str
    better: Literal["higher", "lower"]
    baseline: float
    target: float
    team_median: float
    start: date
    deadline: date
    horizon_days: int
    milestones: tuple[tuple[int, date, float], ...]
    checkpoints: pd.DataFrame
    support: str
    measure: str
    text: str
    smart: Mapping[str, str]
    tolerance: float = 0.1
    peers: str = "peer group"  # what team_median is the median of ("team", "region")


def _as_date(value: Any, name: str) -> date:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        ts = pd.NaT
    if pd.isna(ts) or isinstance(value, (bool, int, float)):
        raise ParameterError(f"{name} {value!r} is not a date. Fix: pass YYYY-MM-DD.")
    return ts.date()


_STEPS = {"count": 1.0, "days": 1.0, "currency": 1.0, "currency_per_day": 1.0, "multiple": 0.1}


def _round_target(t: float, baseline: float, unit: str, up: bool) -> float:
    # Round toward the baseline (whole counts and days, whole percentage points) so a capped
    # target stays within its cap, but always at least one step away from the baseline.
    step = _STEPS.get(unit, 0.01)
    q = math.floor(t / step + 1e-9) if up else math.ceil(t / step - 1e-9)
    if (q * step - baseline) * (1 if up else -1) <= 1e-12:
        q += 1 if up else -1
    return round(q * step, 10)


def propose_pip_goals(
    facts: RepFacts | Mapping[str, Any],
    *,
    start: date | str,
    n_goals: int = 3,
    rules: RuleSet | str | Path | None = None,
    currency: str = "USD",
) -> list[PipGoal]:
    """Two to four SMART goals on the metrics where the rep trails the team median most.

    Eligible metrics are the rules file's ``[pip] metrics`` where the rep is behind the team
    median (at most one stage). Target = baseline + ``gap_share`` x (median - baseline), capped
    at ``max_relative_change`` of the baseline so it stays achievable, rounded to whole counts
    and days. Each goal's deadline is its metric's horizon (30, 60 or 90 days) after ``start``.
    Fewer goals come back when the rep trails on fewer metrics: none are invented.

    Examples
    --------
    >>> g = propose_pip_goals({"win_rate": {"value": 0.2, "median": 0.3}}, start="2026-10-01")
    >>> g[0].text
    'Raise win rate from 20% to 25% by 2026-12-30 (90 days).'
    >>> int(g[0].checkpoints["week"].max()), [d for d, _, _ in g[0].milestones]
    (13, [30, 60, 90])
    """
    facts = _as_facts(facts)
    n = _int_param(n_goals, "n_goals", 2)
    if n > 4:
        raise ParameterError(f"n_goals is {n_goals!r}. Fix: a plan has 2 to 4 goals.")
    day0 = _as_date(start, "start")
    rs = _as_ruleset(rules)
    gaps = gap_analysis(facts, rs)
    base = gaps["metric"].str.split(":", n=1).str[0]
    # Only metrics clearly behind the median ("behind": more than 5%): a goal to move
    # activities from 321 to 322 is no goal.
    behind = (gaps["gap_to_median"] > 0) & (gaps["status"] == "behind")
    eligible = gaps[base.isin(rs.pip.metrics) & behind].copy()
    eligible["is_stage"] = eligible["metric"].str.startswith("stage_conversion:")
    eligible = eligible.sort_values("gap_to_median_pct", ascending=False, kind="stable")
    # One stage goal at most: the funnel has one bottleneck worth a goal at a time.
    first_stage = eligible.index[eligible["is_stage"]][:1]
    eligible = eligible[~eligible["is_stage"] | eligible.index.isin(first_stage)]
    # Goals on what moves results come first; CRM hygiene gets one goal at most, and only
    # when no other metric is behind enough to fill the plan.
    hygiene = eligible["metric"].isin(HYGIENE_METRICS)
    first_hygiene = eligible.index[hygiene][:1]
    eligible = pd.concat([eligible[~hygiene], eligible.loc[first_hygiene]]).head(n)
    return [
        _goal(row, day0, rs, currency, len(eligible), facts.peers) for row in eligible.itertuples()
    ]


def _goal(row: Any, day0: date, rs: RuleSet, currency: str, n: int, peers: str) -> PipGoal:
    pip = rs.pip
    key = row.metric.split(":", 1)[0]
    b, med, up = row.rep, row.team_median, row.better == "higher"
    raw = b + pip.gap_share * (med - b)
    cap = b * (1 + pip.max_relative_change if up else 1 - pip.max_relative_change)
    capped = b > 0 and (raw > cap if up else raw < cap)
    t = _round_target(cap if capped else raw, b, row.unit, up)
    h = int(pip.horizon_days.get(key, pip.default_horizon_days))
    deadline = day0 + pd.Timedelta(days=h)
    weeks = np.arange(1, math.ceil(h / 7) + 1)
    expected = b + (t - b) * np.minimum(weeks * 7 / h, 1.0)
    checkpoints = pd.DataFrame(
        {"week": weeks, "date": pd.Timestamp(day0) + pd.to_timedelta(weeks * 7, unit="D"),
         "expected": expected}
    )  # fmt: skip
    milestones = tuple(
        (d, day0 + pd.Timedelta(days=d), b + (t - b) * d / h) for d in (30, 60, 90) if d <= h
    )

    def fmt(v: float) -> str:
        return format_value(v, row.unit, currency)

    verb = "Raise" if up else "Reduce"
    label = row.label[0].lower() + row.label[1:] if not row.label[:2].isupper() else row.label
    text = f"{verb} {label} from {fmt(b)} to {fmt(t)} by {deadline:%Y-%m-%d} ({h} days)."
    # A stage is compared with everyone's conversion; any other metric with the peer median.
    stage = row.metric.startswith("stage_conversion:")
    ref = "all reps' conversion" if stage else f"the {peers} median"
    share = f"{pip.gap_share:.0%} of the gap to {ref} of {fmt(med)}"
    reach = "all reps together reach" if stage else f"peers in this {peers} already reach"
    cap_note = f", capped at {pip.max_relative_change:.0%} change on the baseline" if capped else ""
    marks = ", ".join(f"{d} days ({fmt(v)})" for d, _, v in milestones)
    info = METRICS[key]
    smart = {
        "specific": f"{row.label}: {info.definition}.",
        "measurable": f"From {fmt(b)} to {fmt(t)}, measured weekly the same way as the baseline.",
        "achievable": f"Closes {share}{cap_note}; {reach} {fmt(med)}.",
        "relevant": (
            f"{row.label} trails {ref} by {row.gap_to_median_pct:.0%}: one of the "
            f"{n} metric{'s' if n != 1 else ''} where the rep is furthest behind."
        ),
        "time_bound": f"Deadline {deadline:%Y-%m-%d}; milestones at {marks}; weekly checkpoints.",
    }
    support = rs.support.get(key) or f"A weekly review of {label} in the one-on-one."
    measure = (
        f"Each week's value is compared with the checkpoint: on track within "
        f"{pip.tolerance:.0%} of the planned change ({fmt(abs(t - b) * pip.tolerance)}), "
        "ahead or behind beyond it."
    )
    return PipGoal(
        row.metric, row.label, row.unit, row.better, b, t, med, day0, deadline, h, milestones,
        checkpoints, support, measure, text, smart, pip.tolerance, peers,
    )  # fmt: skip


def goals_table(goals: Sequence[PipGoal], currency: str = "USD") -> pd.DataFrame:
    """The goals as a display table: goal, baseline, target, peer median, deadline, support.

    The median's column is named for the group ("team median", "region median"); a stage
    goal's figure is the conversion of all reps and says so."""
    peer = f"{goals[0].peers} median" if goals else "peer median"
    rows = [
        {"goal": g.text, "baseline": format_value(g.baseline, g.unit, currency),
         "target": format_value(g.target, g.unit, currency),
         peer: format_value(g.team_median, g.unit, currency)
         + (" (all reps)" if g.metric.startswith("stage_conversion:") else ""),
         "deadline": g.deadline, "support": g.support}
        for g in goals
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["goal", "baseline", "target", peer, "deadline",
                                       "support"])  # fmt: skip


_PROGRESS_COLUMNS = [
    "metric", "label", "week", "date", "expected", "actual", "difference", "status", "is_latest",
]  # fmt: skip


def pip_progress(
    goals: Sequence[PipGoal], actuals: pd.DataFrame, as_of: date | str
) -> pd.DataFrame:
    """Compare weekly actuals with each goal's checkpoints due by ``as_of``.

    Parameters
    ----------
    goals : list of PipGoal
        From :func:`propose_pip_goals`.
    actuals : DataFrame
        Columns ``week`` (1 = first week after the start), ``metric`` (the goal's ``metric``,
        e.g. ``win_rate`` or ``stage_conversion:Demo``) and ``value``, measured like the
        baseline. Rows for other metrics are ignored.
    as_of : date
        Checkpoints dated after it are not yet due and are left out.

    Returns
    -------
    DataFrame
        One row per goal and due checkpoint: ``expected``, ``actual``, ``difference`` (actual -
        expected) and ``status``: ``ahead``, ``on track``, ``behind`` (beyond the goal's
        tolerance in its better direction) or ``no data``; ``is_latest`` marks each goal's
        last due checkpoint.

    Examples
    --------
    >>> g = propose_pip_goals({"win_rate": {"value": 0.2, "median": 0.3}}, start="2026-10-01")
    >>> act = pd.DataFrame({"week": [1, 2], "metric": "win_rate", "value": [0.204, 0.19]})
    >>> pip_progress(g, act, "2026-10-15")["status"].tolist()
    ['on track', 'behind']
    """
    if not isinstance(actuals, pd.DataFrame) or not {"week", "metric", "value"} <= set(actuals):
        msg = "actuals needs a DataFrame with columns week, metric, value. Fix: add them."
        raise ParameterError(msg)
    when = pd.Timestamp(_as_date(as_of, "as_of"))
    act = actuals[["week", "metric", "value"]].copy()
    for col in ("week", "value"):
        conv = pd.to_numeric(act[col], errors="coerce")
        bad = conv.isna() & act[col].notna() | (conv.isna() if col == "week" else False)
        if bad.any():
            rows = [int(i) for i in np.flatnonzero(bad.to_numpy())[:5]]
            msg = f"actuals column {col!r} is not numeric at rows {rows!r}. Fix: give numbers."
            raise ParameterError(msg)
        act[col] = conv
    act["metric"] = act["metric"].astype(str)
    dup = act.duplicated(["week", "metric"], keep=False)
    if dup.any():
        shown = act.loc[dup, ["metric", "week"]].drop_duplicates().head(5).to_dict("records")
        msg = f"actuals has several values for {shown!r}. Fix: keep one value per metric and week."
        raise ParameterError(msg)
    if not goals:
        return pd.DataFrame(columns=_PROGRESS_COLUMNS)
    plan = pd.concat(
        [g.checkpoints.assign(metric=g.metric, label=g.label, better=g.better,
                              band=abs(g.target - g.baseline) * g.tolerance, order=i)
         for i, g in enumerate(goals)],
        ignore_index=True,
    )  # fmt: skip
    plan = plan[plan["date"] <= when]
    out = plan.merge(act.rename(columns={"value": "actual"}), on=["metric", "week"], how="left")
    out["difference"] = out["actual"] - out["expected"]
    ahead_by = out["difference"] * np.where(out["better"] == "higher", 1.0, -1.0)
    tol = out["band"] + 1e-12
    out["status"] = np.select(
        [out["actual"].isna(), ahead_by > tol, ahead_by < -tol],
        ["no data", "ahead", "behind"],
        "on track",
    )
    out = out.sort_values(["order", "week"], kind="stable")
    out["is_latest"] = ~out.duplicated("order", keep="last")
    return out[_PROGRESS_COLUMNS].reset_index(drop=True)

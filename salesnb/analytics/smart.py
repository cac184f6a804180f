"""The SMART check of a proposed goal: a pass/warn/fail verdict per criterion, citing numbers.

Achievability is judged against the rep's own past changes, the team's and peers' levels;
thresholds are data (:data:`DEFAULT_SMART_THRESHOLDS`, ``[smart]`` in salesnb.toml).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import pandas as pd

from salesnb.analytics.smart_goal import (
    _ALIASES,
    _UNIT_WORDS,
    METRICS,
    Goal,
    Metric,
    _date_or_none,
    _fmt_change,
    _fmt_value,
    _num,
)
from salesnb.core.errors import ConfigError

__all__ = [
    "DEFAULT_SMART_THRESHOLDS",
    "SmartResult",
    "Status",
    "Verdict",
    "history_baseline",
    "smart_check",
    "smart_thresholds",
]

DEFAULT_SMART_THRESHOLDS: dict[str, float] = {
    "min_horizon_days": 14,  # sooner than this: warn (too short to change anything)
    "max_horizon_days": 366,  # later than this: warn (break into milestones)
    "own_pass_quantile": 0.75,  # required change <= this quantile of own past changes: pass
    "team_pass_quantile": 0.90,  # ... of the team's pooled past changes: pass
    "peer_pass_quantile": 0.90,  # target level <= this quantile of peers' levels: pass
    "min_history_points": 4,  # fewer past changes than this: not judged on them
    "min_peers": 3,  # fewer peers than this: not judged on them
    "min_stretch": 0.0,  # required improvement <= this: warn (no stretch)
    "baseline_periods": 3,  # baseline from history = median of the last N periods
}
Status = Literal["pass", "warn", "fail"]
_RANK = {"pass": 0, "warn": 1, "fail": 2}


def smart_thresholds(overrides: Mapping[str, Any] | None = None, config: Any = None) -> dict:
    """Defaults, then ``config.extra['smart']`` (a ``[smart]`` TOML table), then ``overrides``.

    Examples
    --------
    >>> smart_thresholds({"max_horizon_days": 400})["max_horizon_days"]
    400.0
    """
    out = dict(DEFAULT_SMART_THRESHOLDS)
    layers = [
        getattr(config, "extra", {}).get("smart", {}) if config is not None else {},
        overrides or {},
    ]
    for layer in layers:
        for k, v in dict(layer).items():
            if k not in out:
                raise ConfigError(f"Unknown SMART threshold {k!r}. Fix: use one of {sorted(out)}.")
            try:
                out[k] = float(v)
            except (TypeError, ValueError):
                raise ConfigError(f"SMART threshold {k} = {v!r} is not a number.") from None
    return out


@dataclass(frozen=True)
class Verdict:
    """One SMART criterion: ``pass``, ``warn`` or ``fail``, and why (with the numbers)."""

    status: Status
    reason: str


_CRITERIA = {
    "S": "Specific",
    "M": "Measurable",
    "A": "Achievable",
    "R": "Relevant",
    "T": "Time-bound",
}


@dataclass(frozen=True)
class SmartResult:
    """The SMART check of a goal: a :class:`Verdict` per criterion and the numbers used."""

    goal: Goal
    criteria: dict[str, Verdict]
    stats: dict[str, Any]
    currency: str = "USD"

    @property
    def status(self) -> Status:
        return max((v.status for v in self.criteria.values()), key=_RANK.__getitem__)

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def failures(self) -> list[str]:
        return [k for k, v in self.criteria.items() if v.status == "fail"]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [(k, _CRITERIA[k], v.status, v.reason) for k, v in self.criteria.items()],
            columns=["criterion", "name", "status", "reason"],
        )

    def as_text(self) -> str:
        """The goal's SMART sentence, with the baseline the check used if none was given."""
        g = self.goal
        if g.baseline is None and self.stats.get("baseline") is not None:
            g = Goal(**{f.name: getattr(g, f.name) for f in fields(g)})
            g.baseline = self.stats["baseline"]
        return g.as_text(self.currency)

    def __str__(self) -> str:
        lines = [self.as_text()]
        lines += [f"  {k} {v.status.upper():4} {v.reason}" for k, v in self.criteria.items()]
        return "\n".join(lines)


def _span_words(index: pd.Index) -> tuple[str, str, float | None]:
    """(span of the history in words, the period's name, its length in days)."""
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        return f"{len(index)} periods", "period", None
    days = float(np.median(np.diff(index.to_numpy()).astype("timedelta64[D]").astype(float)))
    word = min(
        {"week": 7, "month": 30.4, "quarter": 91.3, "year": 365.25}.items(),
        key=lambda kv: abs(kv[1] - days),
    )[0]
    years = ((index.max() - index.min()).days + days) / 365.25
    span = (
        f"{round(years)} years"
        if years >= 1.5
        else "a year"
        if years >= 0.9
        else f"{round(years * 12)} months"
    )
    return span, word, days


def _changes(frame: pd.DataFrame, steps: int, relative: bool, sign: int) -> np.ndarray:
    v = frame.to_numpy(dtype=float)
    prev, nxt = v[:-steps], v[steps:]
    ok = np.isfinite(prev) & np.isfinite(nxt)
    if relative:
        ok &= prev > 0
        ch = nxt[ok] / np.where(ok, prev, 1.0)[ok] - 1
    else:
        ch = nxt[ok] - prev[ok]
    return sign * ch


def _achievable(
    m: Metric,
    target: float,
    base: float | None,
    history,
    peers,
    peer_history,
    horizon_days: float | None,
    th: dict,
    currency: str,
    stats: dict,
) -> Verdict:
    sign = 1 if m.higher_is_better else -1
    relative = m.kind != "ratio"
    imp = None
    if base is not None:
        if relative and base > 0:
            imp = sign * (target / base - 1)
        elif not relative:
            imp = sign * (target - base)
    stats["required_improvement"] = imp
    parts: list[tuple[Status, str]] = []
    chg = _fmt_change(sign * imp, m) + " " + m.label if imp is not None else None
    if imp is not None and imp <= th["min_stretch"]:
        parts.append(
            (
                "warn",
                (
                    f"{chg} asks for no improvement over the baseline "
                    f"{_fmt_value(base, m, currency)}; a goal should stretch"
                ),
            )
        )
    for who, frame, q_key in (
        ("you", history, "own_pass_quantile"),
        ("a rep on this team", peer_history, "team_pass_quantile"),
    ):
        if frame is None or imp is None or imp <= th["min_stretch"]:
            continue
        frame = frame.to_frame() if isinstance(frame, pd.Series) else frame
        frame = frame.sort_index()
        span, word, pdays = _span_words(frame.index)
        steps = max(1, round(horizon_days / pdays)) if horizon_days and pdays else 1
        if len(frame) <= steps:
            continue
        ch = _changes(frame, steps, relative, sign)
        key = "own" if who == "you" else "team"
        if len(ch) < th["min_history_points"]:
            stats[f"{key}_changes"] = len(ch)
            continue
        best, q = float(ch.max()), float(np.quantile(ch, th[q_key]))
        whose = "your" if who == "you" else "the team's"
        reached = int((ch >= imp - 1e-12).sum())
        kind = f"{word}-on-{word}" if steps == 1 else f"{steps}-{word}"
        best_txt = _fmt_change(sign * best, m)
        stats.update(
            {f"{key}_best": sign * best, f"{key}_reached": reached, f"{key}_changes": len(ch)}
        )
        if imp > best + 1e-12:
            did = "you have reached" if who == "you" else f"{who} has reached"
            parts.append(("fail", f"{chg} is above anything {did} in {span} (best: {best_txt})"))
        elif imp > q + 1e-12:
            parts.append(
                (
                    "warn",
                    (
                        f"{chg} is a stretch: reached in only {reached} of {len(ch)} "
                        f"{kind} changes {'of yours' if who == 'you' else 'on the team'}"
                        f" (best: {best_txt})"
                    ),
                )
            )
        else:
            parts.append(
                (
                    "pass",
                    (
                        f"{chg} is within {whose} "
                        f"record: reached in {reached} of {len(ch)} {kind} changes"
                    ),
                )
            )
    if peers is not None:
        p = pd.to_numeric(pd.Series(peers), errors="coerce").dropna()
        if len(p) >= th["min_peers"]:
            below = float((sign * p < sign * target).mean())
            top = float(p.max() if sign > 0 else p.min())
            stats.update({"peer_percentile": below, "peer_best": top})
            t_txt, top_txt = _fmt_value(target, m, currency), _fmt_value(top, m, currency)
            if sign * target > sign * top:
                st: Status = "warn" if base is not None and sign * base >= sign * top else "fail"
                parts.append(
                    (
                        st,
                        (
                            f"{t_txt} {m.label} is beyond every one of {len(p)} peers "
                            f"today (best: {top_txt})"
                        ),
                    )
                )
            elif below > th["peer_pass_quantile"]:
                parts.append(
                    (
                        "warn",
                        (
                            f"{t_txt} {m.label} would beat {below:.0%} of {len(p)} "
                            f"peers (best: {top_txt})"
                        ),
                    )
                )
            else:
                parts.append(
                    (
                        "pass",
                        (
                            f"{t_txt} {m.label} is at the {below:.0%} percentile of "
                            f"{len(p)} peers (best: {top_txt})"
                        ),
                    )
                )
    if not parts:
        why = (
            "no baseline to compare with"
            if imp is None and history is not None
            else "too little history or too few peers"
        )
        return Verdict(
            "warn",
            f"Cannot judge achievability ({why}). Fix: give a baseline, the "
            "rep's history (4+ periods) or 3+ peers' values.",
        )
    parts.sort(key=lambda sr: -_RANK[sr[0]])
    status = parts[0][0]
    return Verdict(status, "; ".join(r for _, r in parts) + ".")


def history_baseline(history: pd.Series | None, thresholds: Mapping[str, Any] | None = None,
                     ) -> tuple[float | None, str | None]:  # fmt: skip
    """The baseline :func:`smart_check` takes from history: the median of the last
    ``baseline_periods`` periods (in the metric's unit), and where it came from in words.

    Examples
    --------
    >>> h = pd.Series([90.0, 100.0, 130.0, 110.0], index=pd.date_range("2026-01-01", periods=4,
    ...               freq="QS"))
    >>> history_baseline(h)
    (110.0, 'median of the last 3 periods')
    """
    if history is None:
        return None, None
    th = smart_thresholds(thresholds)
    h = pd.to_numeric(pd.Series(history), errors="coerce").dropna().sort_index()
    if not len(h):
        return None, None
    n = int(th["baseline_periods"])
    return float(h.tail(n).median()), f"median of the last {min(len(h), n)} periods"


def smart_check(
    goal: Goal | Mapping[str, Any],
    *,
    history: pd.Series | None = None,
    peers: pd.Series | None = None,
    peer_history: pd.DataFrame | None = None,
    objectives: list[str] | None = None,
    as_of: Any = None,
    thresholds: Mapping[str, Any] | None = None,
    currency: str = "USD",
) -> SmartResult:
    """Check a goal against each SMART criterion, with reasons that cite numbers.

    S: a known metric (:data:`METRICS`) and an owner. M: a numeric target in the metric's
    unit (rates 0-1) and a baseline (given, or the median of the last
    ``baseline_periods`` of ``history``). A: the required improvement against the rep's
    own past changes over the same horizon (``history``), the team's (``peer_history``)
    and the target against peers' levels (``peers``). R: names an objective (one of
    ``objectives`` if given). T: a deadline after ``as_of`` and within the horizon limits.

    Parameters
    ----------
    goal : Goal or dict
        The proposed goal.
    history : Series, optional
        The rep's own values of the metric per period, indexed by period start date.
    peers : Series, optional
        Peers' current levels of the metric (one value per peer).
    peer_history : DataFrame, optional
        Periods x reps values of the team (for "above anything a rep on this team reached").
    objectives : list of str, optional
        The team's or company's objectives the goal should serve.
    as_of : date-like, optional
        Today (default: the real today).
    thresholds : dict, optional
        Overrides of :data:`DEFAULT_SMART_THRESHOLDS`.
    currency : str, default "USD"

    Examples
    --------
    >>> g = Goal("bookings", 216_000, baseline=120_000, deadline="2026-12-31", owner="Ann",
    ...          objective="Grow revenue")
    >>> hist = pd.Series([100e3, 110e3, 120e3, 150e3, 120e3],
    ...                  index=pd.date_range("2025-07-01", periods=5, freq="QS"))
    >>> r = smart_check(g, history=hist, as_of="2026-09-30")
    >>> r.criteria["A"].status, r.criteria["A"].reason
    ('fail', '+80% bookings is above anything you have reached in a year (best: +25%).')
    """
    g = goal if isinstance(goal, Goal) else Goal.from_dict(goal)
    th = smart_thresholds(thresholds)
    today = _date_or_none(as_of) or pd.Timestamp.today().normalize()
    stats: dict[str, Any] = {}
    crit: dict[str, Verdict] = {}
    m = METRICS.get(_ALIASES.get(str(g.metric).strip().lower(), str(g.metric).strip().lower()))
    if m is not None and m.name != str(g.metric).strip().lower():
        m = None  # an alias is a hint, not a match: the goal should name the metric
    # S
    if m is None:
        alias = _ALIASES.get(str(g.metric).strip().lower())
        close = [alias] if alias else difflib.get_close_matches(str(g.metric), list(METRICS), 3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        crit["S"] = Verdict(
            "fail",
            f"{g.metric!r} is not a metric the kit can measure.{hint} "
            f"Fix: name one of {', '.join(METRICS)}.",
        )
    elif not (g.owner and str(g.owner).strip()):
        crit["S"] = Verdict(
            "warn", f"One metric ({m.label}) but no owner. Fix: say whose goal it is."
        )
    else:
        crit["S"] = Verdict("pass", f"One metric ({m.label}), owned by {g.owner}.")
    # M
    target, base = _num(g.target), _num(g.baseline)
    base_src = "given"
    if base is None:
        base, base_src = history_baseline(history, th)
    stats.update({"baseline": base, "baseline_source": base_src if base is not None else None})
    unit_kind = next(
        (
            k
            for k, ws in _UNIT_WORDS.items()
            if g.unit and str(g.unit).strip().lower() in {w.lower() for w in ws}
        ),
        None,
    )
    if (
        unit_kind is None
        and g.unit
        and len(str(g.unit)) == 3
        and str(g.unit).isalpha()
        and str(g.unit).isupper()
    ):
        unit_kind = "currency"
    if target is None:
        crit["M"] = Verdict(
            "fail", f"No target number (got {g.target!r}). Fix: give the value to reach."
        )
    elif m is None:
        crit["M"] = Verdict("fail", "Cannot be measured: the metric is unknown (see S).")
    elif g.unit and unit_kind is not None and unit_kind != m.kind:
        crit["M"] = Verdict(
            "fail",
            f"Unit {g.unit!r} does not fit {m.label} (measured in "
            f"{m.kind}). Fix: give the target in {m.kind}.",
        )
    elif target < 0 or (m.upper is not None and target > m.upper):
        fix = (
            f" Fix: write {target:g}% as {target / 100:g}."
            if m.upper == 1 and target <= 100
            else ""
        )
        crit["M"] = Verdict(
            "fail",
            f"Target {target:g} is outside the range of {m.label} "
            f"(0 to {m.upper if m.upper is not None else '∞'}).{fix}",
        )
    elif base is None:
        crit["M"] = Verdict(
            "warn",
            f"Target {_fmt_value(target, m, currency)} but no baseline: "
            "progress has no starting point. Fix: give the current value.",
        )
    else:
        src = "" if base_src == "given" else f" (baseline: {base_src})"
        crit["M"] = Verdict(
            "pass",
            f"{m.label} from {_fmt_value(base, m, currency)} to "
            f"{_fmt_value(target, m, currency)}{src}.",
        )
    # A
    dl = _date_or_none(g.deadline)
    horizon = float((dl - today).days) if dl is not None else None
    if m is None or crit["M"].status == "fail":
        crit["A"] = Verdict(
            "fail", "Cannot judge achievability without a valid metric and target (see S and M)."
        )
    else:
        crit["A"] = _achievable(
            m,
            target,
            base,
            history,
            peers,
            peer_history,
            horizon if horizon and horizon > 0 else None,
            th,
            currency,
            stats,
        )
    # R
    obj = str(g.objective).strip() if g.objective else ""
    listed = [str(o) for o in (objectives or [])]
    if not obj:
        hint = f" (the team's: {'; '.join(listed)})" if listed else ""
        crit["R"] = Verdict(
            "fail",
            f"Not tied to an objective. Fix: name the team or company objective it serves{hint}.",
        )
    elif listed and not any(
        obj.lower() in o.lower()
        or o.lower() in obj.lower()
        or difflib.SequenceMatcher(None, obj.lower(), o.lower()).ratio() > 0.75
        for o in listed
    ):
        crit["R"] = Verdict(
            "warn",
            f"{obj!r} is not one of the team's objectives "
            f"({'; '.join(listed)}). Fix: link it to one of them.",
        )
    else:
        crit["R"] = Verdict("pass", f"Serves the objective {obj!r}.")
    # T
    if dl is None:
        bad = f" ({g.deadline!r} is not a date)" if g.deadline not in (None, "") else ""
        crit["T"] = Verdict(
            "fail",
            f"No deadline{bad}. Fix: give a date such as "
            f"{(today + pd.Timedelta(days=90)):%Y-%m-%d}.",
        )
    elif horizon <= 0:
        crit["T"] = Verdict(
            "fail",
            f"The deadline {dl:%Y-%m-%d} is not after today "
            f"({today:%Y-%m-%d}). Fix: pick a future date.",
        )
    elif horizon < th["min_horizon_days"]:
        crit["T"] = Verdict(
            "warn",
            f"Only {horizon:.0f} days to the deadline {dl:%Y-%m-%d}: "
            "too short to change a result. Fix: allow at least "
            f"{th['min_horizon_days']:.0f} days.",
        )
    elif horizon > th["max_horizon_days"]:
        crit["T"] = Verdict(
            "warn",
            f"The deadline {dl:%Y-%m-%d} is {horizon:.0f} days away. "
            "Fix: break it into milestones of a quarter or less.",
        )
    else:
        crit["T"] = Verdict("pass", f"Due {dl:%Y-%m-%d}, {horizon:.0f} days from {today:%Y-%m-%d}.")
    order = {k: crit[k] for k in "SMART"}
    return SmartResult(g, order, stats, currency)

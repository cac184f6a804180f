"""Pure logic behind the workshop apps (:mod:`salesnb.apps`): one compute function per app.

Each app builds a *context* once (the loaded workbook and its heavy precomputation:
metric histories, seasonality, win probabilities, simulation draws) and then answers
every control change with a cheap, pure call such as ``smart_feedback(ctx, target=...)``.
Tests call these functions directly; the widget layer only wires controls to them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from salesnb.analytics import funnel, goals
from salesnb.analytics.coaching_facts import format_money
from salesnb.analytics.smart import history_baseline
from salesnb.analytics.smart_goal import parse_number, smart_target
from salesnb.apps.whatif_doc import DocumentChance, what_if_chance
from salesnb.core.errors import ParameterError

__all__ = [
    "WHAT_IF_LIMITS",
    "DecompositionContext",
    "DocumentChance",
    "ExplorerContext",
    "ExplorerView",
    "FunnelView",
    "SmartContext",
    "SmartFeedback",
    "WhatIfContext",
    "WhatIfResult",
    "decompose_target",
    "explore",
    "fmt_money",
    "funnel_view",
    "history_rates",
    "load_workbook",
    "open_by_stage",
    "parse_number",
    "parse_weights",
    "resolve_data",
    "smart_feedback",
    "smart_target",
    "what_if",
    "what_if_chance",
]


# --------------------------------------------------------------------------- helpers
def fmt_money(value: float, currency: str = "USD") -> str:
    """Whole currency units with a thousands separator (the kit's one money formatter,
    ``coaching_facts.format_money``); a missing value reads "–".

    Examples
    --------
    >>> fmt_money(1234567.4), fmt_money(-50, "EUR"), fmt_money(12, "CHF")
    ('$1,234,567', '-€50', 'CHF 12')
    """
    if value is None or not math.isfinite(value):
        return "–"
    return format_money(value, currency, compact=False)


def resolve_data(path: str | Path, start: str | Path | None = None) -> Path:
    """Find a data folder given relative to the repo root from a notebook's own folder.

    Tries ``path`` as given, then relative to ``start`` (default: the working directory)
    and each of its parents, so ``"data/sample"`` works from ``notebooks/workshop``.

    Examples
    --------
    >>> resolve_data("data/sample").name   # doctest: +SKIP
    'sample'
    """
    p = Path(path).expanduser()
    if p.is_absolute():
        if p.exists():
            return p
        tried = [p]
    else:
        here = Path(start or Path.cwd()).resolve()
        tried = [here / p, *(d / p for d in here.parents)]
        for cand in tried:
            if cand.exists():
                return cand
    msg = (
        f"Data folder {str(path)!r} not found (looked in {', '.join(str(t) for t in tried[:4])}"
        f"{' ...' if len(tried) > 4 else ''}). Fix: set the notebook's `data` parameter to an "
        "existing folder, e.g. the absolute path of data/sample."
    )
    raise ParameterError(msg)


_WORKBOOKS: dict[tuple, Any] = {}


def load_workbook(path: str | Path, profile: str | None = None) -> Any:
    """:func:`salesnb.data.io.load` once per folder and content: app instances share the workbook.

    The cache key holds the files' modification times, so edited data is re-read.
    """
    from salesnb.data import io

    folder = resolve_data(path).resolve()
    files = sorted(folder.iterdir()) if folder.is_dir() else [folder]
    key = (str(folder), profile, tuple((f.name, f.stat().st_mtime_ns) for f in files))
    if key not in _WORKBOOKS:
        if len(_WORKBOOKS) >= 4:
            _WORKBOOKS.pop(next(iter(_WORKBOOKS)))
        _WORKBOOKS[key] = io.load(folder, profile=profile)
    return _WORKBOOKS[key]


# --------------------------------------------------------------------------- 1. SMART goals
@dataclass
class SmartContext:
    """Metric histories of every rep, computed once per metric (``metric_history`` is slow)."""

    wb: Any
    freq: Literal["M", "Q", "Y"] = "Q"
    objectives: list[str] = field(default_factory=list)
    peer_group: Literal["team", "region", "all"] = "team"
    _histories: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    def history(self, metric: str) -> pd.DataFrame:
        """Periods x reps values of ``metric`` (see :func:`salesnb.analytics.goals.metric_history`)."""
        if metric not in self._histories:
            self._histories[metric] = goals.metric_history(self.wb, metric, freq=self.freq)
        return self._histories[metric]


@dataclass(frozen=True)
class SmartFeedback:
    """The SMART check of the goal in the form, and the goal sentence to copy."""

    result: goals.SmartResult
    text: str
    table: pd.DataFrame
    baseline: float | None
    target_note: str | None = None  # how a relative target ("+40%") was read


def smart_feedback(
    ctx: SmartContext,
    *,
    rep_id: str,
    metric: str = "bookings",
    baseline: Any = None,
    target: Any = None,
    deadline: Any = None,
    objective: str | None = None,
) -> SmartFeedback:
    """Check a goal for ``rep_id`` (the owner) against history, peers and the calendar.

    The same verdicts as :func:`salesnb.analytics.goals.smart_check_from_history`, from cached
    histories. ``baseline``/``target`` may be text (``"150k"``, ``"30%"``); a blank
    baseline is taken from history.

    Examples
    --------
    >>> fb = smart_feedback(ctx, rep_id="R01", target="200k", deadline="2026-12-31",
    ...                     objective="Grow revenue")   # doctest: +SKIP
    >>> fb.result.criteria["A"].status   # doctest: +SKIP
    'warn'
    """
    wb = ctx.wb
    rep = wb.rep(rep_id)
    th = goals.smart_thresholds(None, wb.config)
    kwargs: dict[str, Any] = {}
    if metric in goals.METRICS:
        h = ctx.history(metric)
        col = ctx.peer_group if ctx.peer_group in wb.reps.columns else None
        ids = wb.reps["rep_id"] if col is None else wb.reps.loc[wb.reps[col] == rep[col], "rep_id"]
        h = h[[c for c in h.columns if c in set(ids)]]
        rid = str(rep["rep_id"])
        kwargs = {
            "history": h[rid],
            "peers": h.drop(columns=[rid]).tail(int(th["baseline_periods"])).median(),
            "peer_history": h,
        }
    base = parse_number(baseline, "Baseline")
    if base is None:
        base = history_baseline(kwargs.get("history"), th)[0]
    value, note = smart_target(target, base, metric, wb.config.currency)
    goal = goals.Goal(
        metric=metric,
        target=value,
        baseline=parse_number(baseline, "Baseline"),
        deadline=deadline or None,
        owner=str(rep["name"]),
        objective=(objective or "").strip() or None,
        period={"M": "month", "Q": "quarter", "Y": "year"}[ctx.freq],
    )
    res = goals.smart_check(
        goal,
        objectives=ctx.objectives or None,
        as_of=wb.as_of,
        thresholds=th,
        currency=wb.config.currency,
        **kwargs,
    )
    return SmartFeedback(res, res.as_text(), res.to_frame(), res.stats.get("baseline"), note)


# --------------------------------------------------------------------------- 2. decomposition
def parse_weights(text: str | Mapping | None, year_start: Any = None) -> dict | None:
    """Custom split weights typed as ``"Q1=20, Q2=25, Q3=25, Q4=30"``, ``"jan=1, dec=3"``,
    4 numbers (fiscal quarters) or 12 numbers (fiscal months from ``year_start``).

    Examples
    --------
    >>> parse_weights("20, 25, 25, 30")
    {'Q1': 20.0, 'Q2': 25.0, 'Q3': 25.0, 'Q4': 30.0}
    >>> parse_weights("1 1 1 1 1 1 1 1 1 1 1 2", "2026-02")[1]
    2.0
    """
    if text is None or isinstance(text, Mapping):
        return dict(text) if text else None
    parts = [p for p in re.split(r"[,;\s]+", str(text).strip()) if p]
    if not parts:
        return None
    if all("=" in p or ":" in p for p in parts):
        out = {}
        for p in parts:
            k, _, v = re.split(r"([=:])", p, maxsplit=1)
            out[k.strip()] = parse_number(v, f"Weight of {k.strip()!r}")
        return out
    vals = [parse_number(p, "Weight") for p in parts]
    if len(vals) == 4:
        return {f"Q{i + 1}": v for i, v in enumerate(vals)}
    if len(vals) == 12:
        start = pd.Timestamp(year_start or "2000-01").month
        return {(start - 1 + i) % 12 + 1: v for i, v in enumerate(vals)}
    msg = (
        f"Custom weights {text!r} have {len(vals)} numbers. Fix: give 4 (fiscal quarters), "
        "12 (fiscal months) or name them, e.g. 'Q1=20, Q2=25, Q3=25, Q4=30'."
    )
    raise ParameterError(msg)


@dataclass
class DecompositionContext:
    """History for seasonality and per-rep shares, and cached decomposition skeletons."""

    wb: Any
    history: pd.Series
    rep_bookings: pd.Series
    default_total: float
    _skeletons: dict[tuple, goals.Decomposition] = field(default_factory=dict, repr=False)

    @classmethod
    def from_workbook(cls, wb: Any) -> DecompositionContext:
        """Monthly team bookings and each rep's bookings over the last 365 days."""
        from salesnb.forecast.combined import monthly_bookings

        hist = monthly_bookings(wb, by=None)
        series = hist.iloc[:, 0].dropna() if hist.shape[1] else pd.Series(dtype=float)
        o = wb.opportunities
        won = o[
            (o["outcome"] == "won")
            & o["close_date"].between(wb.as_of - pd.Timedelta(days=365), wb.as_of)
        ]
        by_rep = won.groupby("rep_id")["amount"].sum().reindex(wb.reps["rep_id"], fill_value=0.0)
        # Default: last year's bookings plus 10% growth, rounded to thousands.
        default = float(math.ceil(by_rep.sum() * 1.10 / 1000.0) * 1000.0) or 1_000_000.0
        return cls(wb, series, by_rep, default)

    def year_starts(self) -> list[tuple[str, pd.Timestamp]]:
        """(label, first month) of the fiscal year in play at as-of and of the next one."""
        cal = self.wb.config.calendar
        out = []
        for k in (0, 1):
            when = self.wb.as_of + pd.DateOffset(years=k)
            fy = cal.fiscal_year(when)
            start = cal.period_bounds(f"FY{fy}")[0]
            out.append((f"FY{fy} (from {start:%b %Y})", start))
        return out

    def skeleton(self, year_start: pd.Timestamp, weights: Any) -> goals.Decomposition:
        key = (pd.Timestamp(year_start), repr(weights))
        if key not in self._skeletons:
            history = self.history if len(self.history) else None
            w = "even" if weights == "seasonal" and history is None else weights
            self._skeletons[key] = goals.decompose_annual(
                0, year_start=year_start, weights=w, history=history
            )
        return self._skeletons[key]


def _split_units(n: int, w: np.ndarray) -> np.ndarray:
    return goals.largest_remainder(n, np.asarray(w, dtype=float))


def decompose_target(
    ctx: DecompositionContext,
    total: Any,
    *,
    year_start: Any,
    method: Literal["seasonal", "even", "custom"] = "seasonal",
    custom_weights: str | Mapping | None = None,
    rep_method: Literal["history", "even", "capacity"] = "history",
) -> tuple[goals.Decomposition, pd.DataFrame]:
    """Split an annual target into quarters, months, weeks and reps; every level adds up.

    The calendar and weights of a (year, method) pair are computed once; a new total is
    then split with the same largest-remainder rule as
    :func:`salesnb.analytics.goals.decompose_annual` (and gives the same parts) in a millisecond.

    Returns
    -------
    (Decomposition, DataFrame)
        The periods (``check()`` passed) and the reps with ``share`` and ``amount``.

    Examples
    --------
    >>> d, reps = decompose_target(ctx, "1.2M", year_start="2027-01", method="even")  # doctest: +SKIP
    >>> d.quarters["amount"].tolist()   # doctest: +SKIP
    [300000.0, 300000.0, 300000.0, 300000.0]
    """
    t = parse_number(total, "Annual target")
    if t is None or t < 0:
        raise ParameterError(f"Annual target {total!r}. Fix: type an amount such as 1200000.")
    t = float(round(t))
    if method == "custom":
        weights = parse_weights(custom_weights, year_start)
        if not weights:
            raise ParameterError("Custom split without weights. Fix: type e.g. '20, 25, 25, 30'.")
    elif method in ("seasonal", "even"):
        weights = method
    else:
        raise ParameterError(f"Split method {method!r}. Fix: use seasonal, even or custom.")
    sk = ctx.skeleton(pd.Timestamp(year_start), weights)
    n = int(t)
    q = sk.quarters.copy()
    q["amount"] = _split_units(n, q["weight"].to_numpy()).astype(float)
    m = sk.months.copy()
    qa = dict(zip(q["quarter"], q["amount"], strict=True))
    m["amount"] = np.concatenate(
        [
            _split_units(int(qa[k]), g["weight"].to_numpy())
            for k, g in m.groupby("quarter", sort=False)
        ]
    ).astype(float)
    wk = sk.weeks.copy()
    ma = dict(zip(m["month"], m["amount"], strict=True))
    wk["amount"] = np.concatenate(
        [
            _split_units(int(ma[k]), g["business_days"].to_numpy(dtype=float))
            for k, g in wk.groupby("month", sort=True)
        ]
    ).astype(float)
    d = replace(sk, total=t, quarters=q, months=m, weeks=wk)
    d.check()
    reps = goals.split_across(
        t,
        ctx.wb.reps[["rep_id", "name", "region", "start_date"]],
        rep_method,
        history=ctx.rep_bookings,
        as_of=pd.Timestamp(year_start),
    )
    return d, reps


# --------------------------------------------------------------------------- 3. reverse funnel
def history_rates(
    wb: Any, rep_ids: Sequence[str] | None = None, *, lookback_days: int = 365
) -> dict[str, Any]:
    """Funnel rates of some reps' deals closed in the last ``lookback_days`` before as-of.

    Win rate = won / closed (count); average deal size = mean won amount; stage conversion
    = share of the closed deals reaching a stage that reached the next (won deals reached
    every stage, lost ones their ``furthest_stage``), so the conversions multiply to the
    win rate; activity-to-opportunity = deals created / activities in the window.

    Examples
    --------
    >>> history_rates(wb)["win_rate"]   # doctest: +SKIP
    0.21
    """
    end = wb.as_of
    start = end - pd.Timedelta(days=lookback_days)
    ids = wb.reps["rep_id"].tolist() if rep_ids is None else list(rep_ids)
    r = funnel.history_rates(wb, ids, start, end)
    names = list(wb.config.stages.open_names)
    # Every stage gets a slider value: NaN where nobody reached it or it is not known.
    conv = np.full(len(names), np.nan)
    if r["stage_reached"] is not None:
        at = np.array(list(r["stage_reached"].values()), dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            conv = np.where(at[:-1] > 0, at[1:] / at[:-1], np.nan)
    return {
        "closed": r["closed"],
        "win_rate": r["win_rate"],
        "avg_deal_size": r["avg_deal_size"],
        "stage_conversions": dict(zip(names, conv.tolist(), strict=True)),
        "activity_to_opp": r["activity_to_opp"],
        "activity_mix": dict(r["activity_mix"] or {}),
    }


@dataclass(frozen=True)
class FunnelView:
    """A reverse funnel and its headline figures per week (whole numbers, rounded up)."""

    funnel: goals.ReverseFunnel
    table: pd.DataFrame
    per_week: dict[str, float]


def funnel_view(
    target: Any,
    *,
    win_rate: float,
    avg_deal_size: float,
    stage_conversions: Mapping[str, float] | None = None,
    activity_to_opp: float | None = None,
    activity_mix: Mapping[str, float] | None = None,
    weeks: int = 13,
) -> FunnelView:
    """:func:`salesnb.analytics.goals.reverse_funnel` plus the per-week opportunities, meetings, calls.

    Examples
    --------
    >>> v = funnel_view(100_000, win_rate=0.25, avg_deal_size=10_000, activity_to_opp=0.1,
    ...                 activity_mix={"call": 3, "meeting": 1}, weeks=10)
    >>> v.per_week
    {'deals': 1.0, 'opportunities': 4.0, 'activities': 40.0, 'call': 30.0, 'meeting': 10.0}
    """
    t = parse_number(target, "Target")
    if t is None:
        raise ParameterError(f"Target {target!r}. Fix: type an amount such as 500000.")
    rf = goals.reverse_funnel(
        t,
        win_rate=win_rate,
        avg_deal_size=avg_deal_size,
        stage_conversions=dict(stage_conversions) if stage_conversions else None,
        activity_to_opp=activity_to_opp,
        activity_mix=dict(activity_mix) if activity_mix and activity_to_opp else None,
        weeks=int(weeks),
    )
    table = rf.table()
    keep = ["deals", "opportunities", "activities", *map(str, rf.activities_by_type.index)]
    pw = table.set_index("item")["per_week"]
    return FunnelView(rf, table, {k: float(pw[k]) for k in keep if k in pw.index})


# --------------------------------------------------------------------------- 4. forecast what-if
#: Slider ranges of the what-if (multipliers): simulation draws are sized for the top ends.
WHAT_IF_LIMITS: dict[str, tuple[float, float]] = {
    "win_rate": (0.5, 2.0),
    "cycle": (0.5, 2.0),
    "deal_size": (0.5, 2.0),
    "pipeline_creation": (0.0, 3.0),
}


@dataclass
class WhatIfContext:
    """Everything a what-if needs, drawn once: open deals, win probabilities, run-rate, draws.

    Common random numbers (one fixed set of uniforms) make the what-if move smoothly and
    monotonically: a higher win rate can never lower P(target).
    """

    period: str
    start: pd.Timestamp
    end: pd.Timestamp
    as_of: pd.Timestamp
    currency: str
    target: float | None
    already_won: float
    amount: np.ndarray  # open deals (currency)
    days_to_close: np.ndarray  # days from as-of, 0 when past due
    p_win: np.ndarray
    rate: float  # expected deals created after as-of and won by period end
    rate_noise: np.ndarray  # per-simulation multiplier of the rate (mean 1)
    cycles: np.ndarray  # days, won deals' sales cycles (for the cycle what-if)
    mean_size: float  # currency, mean size of a run-rate deal
    deal_u: np.ndarray = field(repr=False)  # sims x deals uniforms
    count_u: np.ndarray = field(repr=False)  # sims uniforms for the run-rate count
    size_cum: np.ndarray = field(repr=False)  # sims x K cumulative resampled sizes
    #: the :class:`salesnb.forecast.pipeline.PipelineForecast` the baseline was learned from
    pipeline: Any = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        wb: Any,
        rep_ids: Sequence[str] | None = None,
        period: str | None = None,
        *,
        n_sims: int = 2000,
        seed: int = 0,
        target: float | None = None,
    ) -> WhatIfContext:
        """Learn the baseline from :func:`salesnb.forecast.combined.forecast_pipeline` and draw once."""
        from salesnb.forecast import combined as forecast

        as_of = wb.as_of
        cal = wb.config.calendar
        if period is None:
            period = str(cal.period_label(as_of + pd.Timedelta(days=1), "Q"))
        start, end = cal.period_bounds(period)
        ids = list(wb.reps["rep_id"]) if rep_ids is None else list(rep_ids)
        base = forecast.forecast_pipeline(wb, ids, start, end, as_of, n_sims=1, seed=seed)
        # Every open deal due after as-of, with the win probability the forecast gives it, so
        # a shorter or longer cycle can move deals into or out of the period.
        wide = forecast.forecast_pipeline(
            wb, ids, min(start, as_of), as_of + pd.Timedelta(days=3 * 366),
            as_of, n_sims=1, seed=seed, run_rate=False,
        ).deals  # fmt: skip
        # days until each deal is due, as the forecast counts it (past due: the next day)
        days = (wide["due_on"] - as_of).dt.days.to_numpy(dtype=float)
        o = wb.opportunities
        won = o[o["rep_id"].isin(ids) & (o["outcome"] == "won") & (o["close_date"] <= as_of)]
        cycles = (won["close_date"] - won["created_date"]).dt.days.to_numpy(dtype=float)
        span = max((end - as_of).days, 0)
        recent = won["close_date"] > as_of - pd.Timedelta(days=364 + span)
        pool = won.loc[(cycles <= span) & recent.to_numpy(), "amount"].to_numpy(dtype=float)
        rr = base.run_rate
        rate, windows = float(rr["rate"]), max(float(rr["windows"]), 1.0)
        if pool.size and rr["mean_size"] > 0:  # same mean deal size as the forecast's run-rate
            pool = pool * (float(rr["mean_size"]) / pool.mean())
        else:
            rate = 0.0
        rng = np.random.default_rng(seed)
        shape = rate * windows + 0.5
        # The rate learned from few windows is uncertain: a gamma posterior, as forecast uses.
        lam = shape / windows
        noise = rng.gamma(shape, 1.0 / shape, n_sims) if rate > 0 else np.ones(n_sims)
        rate = lam if rate > 0 else 0.0
        top = rate * WHAT_IF_LIMITS["win_rate"][1] * WHAT_IF_LIMITS["pipeline_creation"][1]
        k = int(stats.poisson.ppf(1 - 1e-9, top * float(noise.max()))) + 1 if rate > 0 else 1
        sizes = rng.choice(pool, (n_sims, k)) if pool.size else np.zeros((n_sims, k))
        if target is None:
            t = wb.targets
            rows = t[t["rep_id"].isin(ids) & t["month"].between(start, end)]
            target = float(rows["amount"].sum()) if len(rows) else None
        return cls(
            period=period,
            start=start,
            end=end,
            as_of=as_of,
            currency=wb.config.currency,
            target=target,
            already_won=float(base.already_won),
            amount=wide["amount"].to_numpy(dtype=float),
            days_to_close=days,
            p_win=wide["p_win"].to_numpy(dtype=float),
            rate=rate,
            rate_noise=noise,
            cycles=cycles,
            mean_size=float(pool.mean()) if pool.size else 0.0,
            deal_u=rng.random((n_sims, len(wide)), dtype=np.float32),
            count_u=rng.random(n_sims),
            size_cum=np.cumsum(sizes, axis=1),
            pipeline=base,
        )


@dataclass(frozen=True)
class WhatIfResult:
    """Simulated period bookings under the changed assumptions (currency)."""

    samples: np.ndarray
    target: float | None
    already_won: float
    expected_open: float
    expected_new: float
    deals_due: int

    @property
    def expected(self) -> float:
        return float(self.samples.mean())

    def quantile(self, q: float) -> float:
        return float(np.quantile(self.samples, q))

    @property
    def p_attain(self) -> float:
        """Share of simulations reaching the target (NaN without a target)."""
        if not self.target:
            return float("nan")
        return float(np.mean(self.samples >= self.target))


def what_if(
    ctx: WhatIfContext,
    *,
    win_rate: float = 1.0,
    cycle: float = 1.0,
    deal_size: float = 1.0,
    pipeline_creation: float = 1.0,
    target: Any = None,
) -> WhatIfResult:
    """The period forecast with win rate, cycle length, deal size and new pipeline scaled.

    Multipliers (1 = as learned): ``win_rate`` scales each deal's win probability (capped
    at 1) and the run-rate; ``cycle`` stretches the days until each open deal closes (so
    deals move in or out of the period) and the run-rate by the share of past won deals
    fast enough to be created and won in the time left; ``deal_size`` scales every amount;
    ``pipeline_creation`` scales the deals created from now on.

    Examples
    --------
    >>> r = what_if(ctx, win_rate=1.2)   # doctest: +SKIP
    >>> r.p_attain   # doctest: +SKIP
    """
    for name, v in (("win_rate", win_rate), ("cycle", cycle), ("deal_size", deal_size),
                    ("pipeline_creation", pipeline_creation)):  # fmt: skip
        lo, hi = WHAT_IF_LIMITS[name]
        if not isinstance(v, int | float) or not lo <= v <= hi:
            raise ParameterError(
                f"{name} multiplier is {v!r}. Fix: use a number from {lo} to {hi}."
            )
    tgt = parse_number(target, "Target") if target is not None else ctx.target
    due_in = np.round(ctx.days_to_close * cycle)
    lo, hi = (ctx.start - ctx.as_of).days, (ctx.end - ctx.as_of).days
    due = (due_in >= lo) & (due_in <= hi) & (hi > 0)
    p = np.clip(ctx.p_win * win_rate, 0.0, 1.0)
    amount = np.where(due, ctx.amount * deal_size, 0.0)
    opened = (ctx.deal_u < p.astype(np.float32)) @ amount if amount.size else 0.0
    span = max((ctx.end - ctx.as_of).days, 0)
    speed = 1.0
    if ctx.cycles.size and cycle != 1.0:
        base = float(np.mean(ctx.cycles <= span))
        speed = float(np.mean(ctx.cycles * cycle <= span)) / base if base > 0 else 1.0
    lam = ctx.rate * win_rate * pipeline_creation * speed * ctx.rate_noise
    new = np.zeros(ctx.count_u.size)
    if ctx.rate > 0 and lam.max() > 0:
        count = stats.poisson.ppf(ctx.count_u, lam).astype(int).clip(0, ctx.size_cum.shape[1])
        hit = count > 0
        new[hit] = ctx.size_cum[np.flatnonzero(hit), count[hit] - 1] * deal_size
    samples = ctx.already_won + opened + new
    mean_size = ctx.mean_size if ctx.rate > 0 else 0.0
    return WhatIfResult(
        samples=np.asarray(samples, dtype=float),
        target=tgt,
        already_won=ctx.already_won,
        expected_open=float((p * amount).sum()),
        expected_new=ctx.rate * win_rate * pipeline_creation * speed * mean_size * deal_size,
        deals_due=int(due.sum()),
    )


def open_by_stage(ctx: WhatIfContext, stages: Sequence[str] = ()) -> pd.DataFrame:
    """The open deals of the forecast's pipeline view by stage, before any what-if.

    One row per stage (``stages`` order first): ``deals``, ``amount`` (currency),
    ``expected`` (sum of amount x learned chance of winning inside the period) and
    ``p_win`` (expected / amount, the value-weighted chance). The probabilities are the
    forecast's own (:func:`salesnb.forecast.combined.forecast_pipeline`), not recomputed.

    Examples
    --------
    >>> open_by_stage(ctx, wb.config.stages.open_names)   # doctest: +SKIP
    """
    cols = ["stage", "deals", "amount", "expected", "p_win"]
    d = ctx.pipeline.deals if ctx.pipeline is not None else None
    if d is None or not len(d):
        return pd.DataFrame(columns=cols)
    d = d.assign(expected=d["p_win"] * d["amount"])
    g = d.groupby("stage", sort=False).agg(
        deals=("amount", "size"), amount=("amount", "sum"), expected=("expected", "sum")
    )
    order = [s for s in stages if s in g.index] + [s for s in g.index if s not in stages]
    g = g.loc[order].reset_index()
    g["p_win"] = np.where(g["amount"] > 0, g["expected"] / g["amount"].where(g["amount"] > 0), 0.0)
    return g[cols]


# --------------------------------------------------------------------------- 5. pipeline explorer
@dataclass
class ExplorerContext:
    """Open deals with their age, flags, owner name and close month, computed once."""

    deals: pd.DataFrame
    stages: list[str]
    currency: str
    as_of: pd.Timestamp

    @classmethod
    def from_workbook(cls, wb: Any) -> ExplorerContext:
        from salesnb.analytics import kpis

        d = kpis.hygiene(wb)
        names = wb.reps.set_index("rep_id")["name"]
        d["rep"] = d["rep_id"].map(names).fillna(d["rep_id"])
        d["close_month"] = d["close_date"].dt.strftime("%Y-%m")
        stages = wb.config.stages.open_names
        d["stage_pos"] = d["stage"].map({s: i for i, s in enumerate(stages)}).fillna(0).astype(int)
        prob = wb.config.stages.probability_of()
        d["weighted"] = d["amount"] * d["stage"].map(prob).astype(float).fillna(0.0)
        return cls(d, list(stages), wb.config.currency, wb.as_of)

    def months(self) -> list[str]:
        return sorted(self.deals["close_month"].dropna().unique().tolist())


@dataclass(frozen=True)
class ExplorerView:
    """Filtered deals (largest first), the funnel of those deals and totals."""

    deals: pd.DataFrame
    funnel: pd.DataFrame
    summary: dict[str, float]


def explore(
    ctx: ExplorerContext,
    *,
    reps: Sequence[str] | str | None = None,
    stages: Sequence[str] | None = None,
    age: tuple[float, float] | None = None,
    close_months: Sequence[str] | str | None = None,
) -> ExplorerView:
    """Filter the open pipeline by rep ids, stages, age (days, inclusive) and close months.

    ``None`` or empty means no filter on that field; ``close_months`` may hold
    ``"past_due"`` for deals whose close date is before as-of. The funnel counts, for each
    open stage, the filtered deals at that stage or beyond; with ``reps`` it also holds
    ``team_conversion``: of all reps' deals under the other filters at or past a stage, the
    share at or past the next (NaN at the last stage or when none reached the stage).

    Examples
    --------
    >>> v = explore(ctx, reps=["R01"], age=(0, 90))   # doctest: +SKIP
    >>> v.summary["deals"]   # doctest: +SKIP
    """
    d = ctx.deals
    keep = np.ones(len(d), dtype=bool)
    mine = np.ones(len(d), dtype=bool)
    if reps:
        mine = d["rep_id"].isin([reps] if isinstance(reps, str) else list(reps)).to_numpy()
    if stages:
        unknown = set(stages) - set(ctx.stages)
        if unknown:
            raise ParameterError(f"Unknown stages {sorted(unknown)!r}. Fix: use {ctx.stages}.")
        keep &= d["stage"].isin(list(stages)).to_numpy()
    if age is not None:
        lo, hi = age
        keep &= d["age_days"].between(lo, hi).to_numpy()
    if close_months:
        months = [close_months] if isinstance(close_months, str) else list(close_months)
        hit = d["close_month"].isin([m for m in months if m != "past_due"]).to_numpy().copy()
        if "past_due" in months:
            hit |= d["past_due"].to_numpy(dtype=bool)
        keep &= hit
    team_pos = d.loc[keep, "stage_pos"].to_numpy()
    keep &= mine
    f = d[keep].sort_values(["amount", "opp_id"], ascending=[False, True]).reset_index(drop=True)
    pos = f["stage_pos"].to_numpy()
    counts = np.array([(pos >= k).sum() for k in range(len(ctx.stages))])
    amounts = np.array([f["amount"].to_numpy()[pos >= k].sum() for k in range(len(ctx.stages))])
    funnel = pd.DataFrame({"stage": ctx.stages, "count": counts, "amount": amounts})
    if reps:  # the whole team's open deals under the same filters, for the colours
        team = np.array([(team_pos >= k).sum() for k in range(len(ctx.stages))], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            conv = np.where(team[:-1] > 0, team[1:] / team[:-1], np.nan)
        funnel["team_conversion"] = [*conv.tolist(), np.nan]
    summary = {
        "deals": len(f),
        "amount": float(f["amount"].sum()),
        "weighted": float(f["weighted"].sum()),
        "stale": int(f["stale"].sum()),
        "past_due": int(f["past_due"].sum()),
        "old": int(f["old"].sum()),
    }
    return ExplorerView(f, funnel, summary)

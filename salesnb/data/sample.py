"""A deterministic, realistic sample data set: a sales team, its deals, targets and pipeline.

:func:`generate` builds the five canonical tables (and the optional accounts and satisfaction
tables) from a seed and a :class:`SampleSettings`;
:func:`write` saves them as canonical CSV (plus ``salesnb.toml`` and ``generator.toml``) so
that the kit runs on a fresh machine with no data of one's own. The same seed and settings
always give byte-identical files: only ``numpy.random.default_rng(seed)`` is used, in a fixed
order (the optional tables draw last, from their own ``default_rng([seed, 22])``), and nothing
depends on the clock or on hash order.

The model is driven by close dates, so that bookings follow the seasonality directly: for
each rep and month, the number of deals that close is Poisson (rep rate x season x growth x
tenure ramp); each deal's path through the stage catalogue is a chain of per-stage
conversions (rep skill, a per-rep bottleneck stage, lead source); its creation date is the
close date minus a lognormal sales cycle. Deals "closing" after the as-of date but created
before it are today's open pipeline, so the weekly snapshots replay one consistent history:
stage entries, one amount revision at Proposal and close-date pushes (slips).
The personas the notebooks exist for (:data:`PERSONAS`) are built in, then checked against
the data by ``tests/test_sample.py``. See ``docs/sample-data.md``.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salesnb.core.errors import ConfigError, ParameterError
from salesnb.data.sample_names import FIRST, LAST, MANAGER_NAMES, account_names, rep_ids, rep_names
from salesnb.data.sample_settings import (
    PERSONAS,
    SampleSettings,
    check_settings,
    read_settings,
    settings_toml,
    toml_value,
)
from salesnb.data.schema import TABLES, columns

__all__ = [
    "PERSONAS",
    "SampleSettings",
    "generate",
    "read_settings",
    "settings_toml",
    "write",
]

_EPOCH = date(1970, 1, 1).toordinal()
_NEVER = np.int64(10**7)  # a day number after any real date (year ~29000)
#: Relative time spent in each open stage (late stages take longer).
_STAGE_WEIGHT = np.array([0.6, 0.8, 1.0, 1.3, 1.6])


# --------------------------------------------------------------------------- helpers


def _day(d: date) -> int:
    return d.toordinal() - _EPOCH


def _weekday(days: np.ndarray) -> np.ndarray:
    """Monday = 0 ... Sunday = 6 (1970-01-01 was a Thursday)."""
    return (days + 3) % 7


def _to_friday(days: np.ndarray) -> np.ndarray:
    """Move weekend days back to the Friday before (deals close and open on workdays)."""
    wd = _weekday(days)
    return days - np.where(wd >= 5, wd - 4, 0)


def _dates(days: np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(days, dtype="int64").astype("datetime64[D]").astype("M8[ns]"))


def _text(values: Any) -> pd.Series:
    return pd.Series(values, dtype="str")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _pick(amount: np.ndarray, group: np.ndarray, need: np.ndarray) -> np.ndarray:
    """Positions of items per group whose total first reaches ``need[group]``, overshooting little.

    The smallest single item that covers the need if there is one, else the largest items
    until they do (the overshoot is then smaller than the need).
    """
    if len(amount) == 0:
        return np.array([], dtype=np.int64)
    covers = amount >= need[group]
    order = np.lexsort((np.where(covers, amount, -amount), ~covers, group))
    g, a = group[order], amount[order]
    cs = np.cumsum(a)
    first = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    base = np.repeat(cs[first] - a[first], np.diff(np.r_[first, len(g)]))
    before = cs - a - base
    return order[before < need[g]]


# --------------------------------------------------------------------------- reps


def _reps(s: SampleSettings, rng: np.random.Generator, window0: int, as_day: int) -> dict:
    n, n_reg, mpr = s.n_reps, len(s.regions), s.managers_per_region
    ids = rep_ids(n)
    idx = {r: i for i, r in enumerate(ids)}
    region = np.arange(n) * n_reg // n
    first = np.searchsorted(region, np.arange(n_reg))
    size = np.bincount(region, minlength=n_reg)
    local = (np.arange(n) - first[region]) * mpr // size[region]
    manager = region * mpr + local
    team = local % len(s.team_labels)
    star, ups = idx[s.star], [idx[r] for r in s.under_performers]
    hires, empty = [idx[r] for r in s.new_hires], idx[s.empty_pipeline]

    z = np.clip(rng.normal(0.0, s.skill_spread, n), -1.6 * s.skill_spread, 1.6 * s.skill_spread)
    z[star], z[ups], z[hires], z[empty], z[idx[s.typical]] = 1.0, -0.3, -0.1, 0.2, 0.0
    start = window0 - rng.integers(150, 3300, n)
    others = np.setdiff1d(np.arange(n), [star, *ups, *hires, empty, idx[s.typical]])
    mid = rng.choice(others, size=min(2, len(others)), replace=False)
    start[mid] = window0 + rng.integers(60, 420, len(mid))  # hired during the history
    start[hires] = as_day - np.asarray(s.new_hire_start_days_ago)
    start = start - _weekday(start)  # reps start on a Monday

    logit = np.log(np.asarray(s.stage_conversion) / (1 - np.asarray(s.stage_conversion)))
    conv = logit[None, :] + 0.35 * z[:, None]
    bottleneck = rng.integers(0, 5, n)
    conv[np.arange(n), bottleneck] -= 0.55
    conv[star, bottleneck[star]] += 0.55  # the star has no weak stage
    conv[ups, 2] -= 0.5  # under-performers lose many deals at Demo
    sizes, cycles, rates = (
        np.asarray(v, float)[team]
        for v in (s.deal_size_median, s.cycle_median_days, s.closes_per_month)
    )
    size_med = sizes * np.exp(0.12 * z + rng.normal(0, 0.12, n))
    cycle_med = cycles * np.exp(-0.2 * z + rng.normal(0, 0.18, n))
    rate = rates * np.exp(0.08 * z + rng.normal(0, 0.08, n))
    push_p = np.tile([0.5, 0.32, 0.18], (n, 1))
    push_p[ups], push_p[star] = [0.3, 0.4, 0.3], [0.7, 0.22, 0.08]
    calls_per_opp = 10.0 * np.exp(-0.3 * z + rng.normal(0, 0.1, n))
    calls_base = 14.0 * np.exp(rng.normal(0, 0.2, n))
    calls_base[ups] *= 1.3  # busy, but converting poorly

    names = rep_names(n)
    mgr_pool = MANAGER_NAMES + [f"{f} {last}" for f in FIRST[::-1] for last in LAST[::-1]]
    mgr_names = [m for m in mgr_pool if m not in names][: n_reg * mpr]
    team_names = [f"{s.regions[region[i]]} {s.team_labels[team[i]]}" for i in range(n)]
    frame = pd.DataFrame(
        {
            "rep_id": _text(ids),
            "name": _text(names),
            "manager": _text([mgr_names[m] for m in manager]),
            "region": _text([s.regions[g] for g in region]),
            "team": _text(team_names),
            "start_date": _dates(start),
        }
    )
    return {
        "frame": frame,
        "ids": ids,
        "idx": idx,
        "region": region,
        "team": team,
        "start": start,
        "conv": conv,
        "size_med": size_med,
        "cycle_med": cycle_med,
        "rate": rate,
        "push_p": push_p,
        "calls_per_opp": calls_per_opp,
        "calls_base": calls_base,
        "star": star,
        "ups": ups,
        "hires": hires,
        "empty": empty,
        "typical": idx[s.typical],
    }


# --------------------------------------------------------------------------- deals


def _month_grid(s: SampleSettings, extra: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Month starts (day numbers), days in month and calendar month (0 = Jan) of the history."""
    last = np.datetime64(s.as_of, "M")
    months = last - (s.months - 1) + np.arange(s.months + extra)
    starts = months.astype("datetime64[D]").astype(np.int64)
    ends = (months + 1).astype("datetime64[D]").astype(np.int64)
    return starts, ends - starts, months.astype(np.int64) % 12


def _attributes(s: SampleSettings, rp: dict, rng: np.random.Generator, rep: np.ndarray) -> dict:
    """Product, source, amounts and the stage reached, for deals of the given reps."""
    n = len(rep)
    product = rng.choice(len(s.products), n, p=np.asarray(s.product_mix) / sum(s.product_mix))
    source = rng.choice(len(s.sources), n, p=np.asarray(s.source_mix) / sum(s.source_mix))
    price = rp["size_med"][rep] * np.asarray(s.product_price)[product]
    listed = np.maximum(500.0, np.round(price * rng.lognormal(0.0, 0.35, n) / 100.0) * 100.0)
    revision = rng.choice([0.8, 0.85, 0.875, 0.9, 0.925, 0.95, 1.0, 1.0, 1.0, 1.1, 1.25], n)
    final = np.round(listed * revision, 2)  # discounts and upsells agreed at Proposal
    odds = np.log(np.asarray(s.source_win_odds))[source] / 5.0
    passed = rng.random((n, 5)) < _sigmoid(rp["conv"][rep] + odds[:, None])
    reached = np.cumprod(passed, axis=1).sum(axis=1)  # 0..4 = lost at that stage, 5 = won
    return {
        "product": product,
        "source": source,
        "amount_i": listed,
        "amount_f": final,
        "f": reached,
    }


def _deals(s: SampleSettings, rp: dict, rng: np.random.Generator, as_day: int) -> dict:
    horizon = 13  # future close months: today's open pipeline (cycles are capped at 365 days)
    m_start, m_len, moy = _month_grid(s, horizon)
    n_rep, n_mon = s.n_reps, len(m_start)
    mid = m_start + m_len // 2
    ramp = np.clip((mid[None, :] - rp["start"][:, None]) / 30.44 / s.ramp_months, 0.0, 1.0)
    trend = (1 + s.annual_growth) ** ((np.arange(n_mon) - (s.months - 1)) / 12.0)
    lam = rp["rate"][:, None] * np.asarray(s.seasonality)[moy][None, :] * trend * ramp
    cell = np.repeat(np.arange(n_rep * n_mon), rng.poisson(lam).ravel())
    rep, mon = cell // n_mon, cell % n_mon
    late = np.where(moy[mon] % 3 == 2, 0.45, 0.7)  # closes bunch up at month and quarter end
    close = _to_friday(m_start[mon] + (m_len[mon] * rng.random(len(rep)) ** late).astype(np.int64))
    close = np.where(close < m_start[0], close + 3, close)  # not before the history: Monday
    d = _attributes(s, rp, rng, rep)
    stage_share = np.where(d["f"] == 5, 1.0, 0.45 + 0.55 * (d["f"] + 1) / 5.0)
    suite = np.asarray(s.products)[d["product"]] == s.products[-1]
    cycle = rp["cycle_med"][rep] * stage_share * np.where(suite, 1.4, 1.0)
    cycle = np.clip(np.round(cycle * rng.lognormal(0.0, 0.45, len(rep))), 4, 365).astype(np.int64)
    created = _to_friday(close - cycle)
    start = rp["start"][rep]
    early = created < start
    created = np.where(
        early, start + ((close - start) * rng.random(len(rep)) * 0.5).astype(np.int64), created
    )
    keep = (close - start >= 7) & (created <= as_day)
    e = rp["empty"]  # the empty-pipeline rep stopped prospecting: no recent deals, 2 open ones
    is_open = close > as_day
    keep &= ~((rep == e) & (created > as_day - s.empty_pipeline_days) & ~is_open)
    open_e = np.flatnonzero(keep & is_open & (rep == e))
    keep[open_e[np.argsort(created[open_e], kind="stable")][2:]] = False
    d = {k: v[keep] for k, v in d.items()}
    d.update(
        rep=rep[keep], created=created[keep], close=close[keep], zombie=np.zeros(keep.sum(), bool)
    )
    return d


def _stale_deals(s: SampleSettings, rp: dict, rng: np.random.Generator, as_day: int) -> dict:
    """Open deals nobody touched for 35+ days, mostly with a close date already past."""
    lam = np.full(s.n_reps, s.stale_deals_per_rep)
    lam[rp["ups"]] *= 2
    lam[[rp["empty"], *rp["hires"]]] = 0
    rep = np.repeat(np.arange(s.n_reps), rng.poisson(lam))
    n = len(rep)
    d = _attributes(s, rp, rng, rep)
    d["f"] = rng.choice(4, n, p=[0.3, 0.3, 0.25, 0.15])  # stuck early; never won or lost
    created = np.maximum(_to_friday(as_day - rng.integers(90, 420, n)), rp["start"][rep] + 7)
    touch = created + ((as_day - 35 - created) * rng.uniform(0.25, 1.0, n)).astype(np.int64)
    d.update(
        rep=rep, created=created, close=np.full(n, _NEVER), zombie=np.ones(n, bool), touch=touch
    )
    return d


# --------------------------------------------------------------------------- targets


def _targets(s: SampleSettings, rp: dict, deals: dict, as_day: int) -> tuple[np.ndarray, ...]:
    """Monthly targets (rep x month) set so that typical tenured reps attain ``team_attainment``."""
    m_start, _, moy = _month_grid(s, s.target_months_ahead)
    season = np.asarray(s.seasonality) / np.mean(s.seasonality)
    trend = (1 + s.annual_growth) ** ((np.arange(len(m_start)) - (s.months - 1)) / 12.0)
    month_no = m_start.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    start_no = rp["start"].astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    tenure = month_no[None, :] - start_no[:, None]  # 0 = the month the rep started
    ramp = np.clip(tenure / s.quota_ramp_months, 0.0, 1.0)
    unit = season[moy][None, :] * trend[None, :] * ramp
    typical = np.ones(s.n_reps, bool)
    typical[[rp["star"], *rp["ups"], *rp["hires"], rp["empty"]]] = False
    typical &= rp["start"] < m_start[0]
    won = (deals["f"] == 5) & (deals["close"] <= as_day)
    booked = np.bincount(deals["rep"][won], deals["amount_f"][won], s.n_reps)
    hist = unit[:, : s.months].sum(axis=1)
    quota = (
        np.array(
            [
                booked[typical & (rp["team"] == t)].sum()
                / max(hist[typical & (rp["team"] == t)].sum(), 1e-9)
                for t in range(len(s.team_labels))
            ]
        )
        / s.team_attainment
    )
    target = np.round(quota[rp["team"]][:, None] * unit / 500.0) * 500.0
    return target, m_start


def _month_no(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of day numbers."""
    return np.asarray(days).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _quarter(days: np.ndarray) -> np.ndarray:
    return _month_no(days) // 3


def _enforce_personas(
    s: SampleSettings, rp: dict, deals: dict, target: np.ndarray, m_start: np.ndarray, as_day: int
) -> None:
    """Nudge outcomes so each persona holds for every seed (the tests check the data).

    Flips a few closed deals between won and lost (a flipped loss was lost at Negotiation;
    a flipped win had mostly reached Proposal), choosing deals that overshoot the least. Over the last four complete quarters:
    under-performers stay below 66% in each quarter; new hires at most 95% of their ramped
    target in any month; the typical rep within 80-120% in each quarter; other tenured reps at most 122%
    overall and at least 72% in one quarter; the star 10 points above everyone else and
    above 135%.
    """
    n, rep, f, amt = s.n_reps, deals["rep"], deals["f"], deals["amount_f"]
    closed = deals["close"] <= as_day
    q_as = int(_quarter(np.array([as_day]))[0])
    last_q = q_as if int(_quarter(np.array([as_day + 1]))[0]) != q_as else q_as - 1
    qi = np.where(closed, _quarter(np.minimum(deals["close"], as_day)) - (last_q - 3), -1)
    in4 = closed & (qi >= 0) & (qi < 4)
    tq = _quarter(m_start) - (last_q - 3)
    t4 = np.stack([target[:, tq == q].sum(axis=1) for q in range(4)], axis=1)  # rep x quarter

    def booked(key: np.ndarray, size: int) -> np.ndarray:
        w = closed & (f == 5) & (key >= 0)
        return np.bincount(key[w], amt[w], size)

    def by_quarter() -> np.ndarray:
        return booked(np.where(in4, rep * 4 + qi, -1), n * 4).reshape(n, 4)

    def flip(cand: np.ndarray, group: np.ndarray, need: np.ndarray) -> None:
        to_won = bool(len(cand)) and bool((f[cand] < 5).all())
        picked = cand[_pick(amt[cand], group, need + 1e-6 * (need > 0))]
        f[picked] = 5 if to_won else 4

    def who(ids: list[int]) -> np.ndarray:
        mask = np.zeros(n, bool)
        mask[ids] = True
        return mask

    def won_in(mask: np.ndarray) -> np.ndarray:
        return np.flatnonzero(in4 & (f == 5) & mask[rep])

    def lost_in(mask: np.ndarray, late: bool = True) -> np.ndarray:
        return np.flatnonzero(in4 & (f >= (3 if late else 0)) & (f < 5) & mask[rep])

    ups, hires, typ = who(rp["ups"]), who(rp["hires"]), who([rp["typical"]])
    others = ~who([*rp["ups"], *rp["hires"], rp["star"], rp["typical"]]) & (t4 > 0).all(axis=1)
    need = (np.clip(by_quarter() - 0.66 * t4, 0, None) * ups[:, None]).ravel()
    cand = won_in(ups)
    flip(cand, rep[cand] * 4 + qi[cand], need)
    # new hires: at most their ramped target in a quarter; the later half of tenure books more
    need = (np.clip(by_quarter() - 1.0 * t4, 0, None) * hires[:, None]).ravel()
    cand = won_in(hires)
    flip(cand, rep[cand] * 4 + qi[cand], need)
    start = rp["start"][rep]
    half = np.where(hires[rep] & closed, (deals["close"] >= start + (as_day - start) // 2), -1)
    key = np.where(half >= 0, rep * 2 + half, -1)
    if (booked(key, 2 * n).reshape(n, 2)[hires, 1] == 0).any():
        cand = np.flatnonzero((half == 1) & (f >= 3) & (f < 5))
        flip(cand, rep[cand], np.where(hires, 1.0, 0.0))
    halves = booked(key, 2 * n).reshape(n, 2)
    cand = np.flatnonzero((half == 0) & (f == 5))
    flip(cand, rep[cand], np.clip(halves[:, 0] - 0.6 * halves[:, 1], 0, None))

    def total_att() -> np.ndarray:
        return by_quarter().sum(axis=1) / np.maximum(t4.sum(axis=1), 1.0)

    # the typical rep: 80-120% in each quarter (a second cap undoes a large catch-up win)
    for step in ("cap", "floor", "cap"):
        if step == "cap":
            excess = (np.clip(by_quarter() - 1.2 * t4, 0, None) * typ[:, None]).ravel()
            flip(won_in(typ), rep[won_in(typ)] * 4 + qi[won_in(typ)], excess)
            continue
        for late in (True, False):  # deals lost late first; any lost deal if that is not enough
            short = (np.clip(0.8 * t4 - by_quarter(), 0, None) * typ[:, None]).ravel()
            cand = lost_in(typ, late)
            flip(cand, rep[cand] * 4 + qi[cand], short)
    excess = np.where(others, np.clip(total_att() - 1.2, 0, None) * t4.sum(axis=1), 0.0)
    flip(won_in(others), rep[won_in(others)], excess)
    att_q = by_quarter() / np.maximum(t4, 1.0)
    best = np.argmax(att_q, axis=1)
    weak = others & (att_q.max(axis=1) < 0.72)
    for late in (True, False):
        gap = 0.75 * t4[np.arange(n), best] - by_quarter()[np.arange(n), best]
        cand = lost_in(weak, late)
        cand = cand[qi[cand] == best[rep[cand]]]
        flip(cand, rep[cand], np.where(weak, gap, 0.0).clip(0, None))
    star = rp["star"]
    goal = max(1.35, np.delete(total_att(), [star, *rp["hires"]]).max() + 0.1)
    for low, high in ((goal, None), (None, max(goal, 1.6))):
        mask = who([star])
        if low is not None:
            short = np.where(mask, (low - total_att()).clip(0, None) * t4.sum(axis=1), 0.0)
            flip(lost_in(mask), rep[lost_in(mask)], short)
        else:
            excess = np.where(mask, (total_att() - high).clip(0, None) * t4.sum(axis=1), 0.0)
            flip(won_in(mask), rep[won_in(mask)], excess)


# --------------------------------------------------------------------------- histories


def _history(s: SampleSettings, rp: dict, d: dict, rng: np.random.Generator, as_day: int) -> dict:
    """Stage entry days, close-date pushes and the final expected close of every deal.

    A deal enters its stages at increasing days between creation and its end (close day,
    or the last touch of a stale deal; for an open deal, its future close). The expected
    close date is pushed up to twice, each time around the date it had, by 1-13 weeks.
    """
    n, c, close, zombie = len(d["rep"]), d["created"], d["close"], d["zombie"]
    is_open = close > as_day
    reach = np.minimum(d["f"], 4)
    w_end = np.where(zombie, d["touch"], close)
    k = np.arange(1, 5)
    dur = np.where(
        np.arange(5)[None, :] <= reach[:, None], rng.gamma(2.0, 1.0, (n, 5)) * _STAGE_WEIGHT, 0.0
    )
    cum = np.cumsum(dur, axis=1)
    frac = cum[:, :4] / cum[np.arange(n), reach][:, None]
    entry = c[:, None] + np.floor((w_end - c)[:, None] * frac).astype(np.int64)
    entry = np.where(k[None, :] <= reach[:, None], entry, _NEVER)  # entries of stages 1..4

    n_push = (rng.random(n)[:, None] > np.cumsum(rp["push_p"][d["rep"]], axis=1)[:, :2]).sum(1)
    size = rng.choice([7, 14, 21, 30, 30, 45, 60, 90], (n, 2))
    lag = rng.integers(-7, 11, (n, 2))  # pushed up to 10 days before the date, or a week late
    jitter = np.where(rng.random(n) < 0.55, 0, np.round(rng.normal(0, 8, n))).astype(np.int64)
    # the rep dates a deal as if it will be won: a deal that will be lost keeps the date of a
    # typical win (or later), not the day it dies
    as_won = c + np.round(rp["cycle_med"][d["rep"]] * rng.lognormal(0, 0.35, n)).astype(np.int64)
    lost = d["f"] < 5
    guess = close + np.round(rng.normal(-3, 10, n)).astype(np.int64)
    guess = np.where(lost, np.maximum(guess, as_won), guess)
    forgot = rng.random(n) < s.past_due_share
    guess = np.where(forgot, as_day - rng.integers(1, 40, n), guess)
    stale = np.where(
        rng.random(n) < 0.8, as_day - rng.integers(3, 150, n), as_day + rng.integers(10, 90, n)
    )
    done = np.where(lost, np.maximum(close + jitter, as_won), close + jitter)
    final = np.where(zombie, stale, np.where(is_open, guess, done))
    final = np.maximum(final, c + 7)
    e1 = final - size[:, 1]
    e0 = e1 - size[:, 0]
    u2, u1 = e1 - lag[:, 1], e0 - lag[:, 0]
    end = np.where(zombie, w_end + 1, np.where(is_open, as_day + 1, close))
    v2 = (n_push >= 1) & (u2 > c) & (u2 < end) & (e1 >= c + 7)
    v1 = (n_push >= 2) & v2 & (u1 > c) & (u1 < u2) & (e0 >= c + 7)
    return {
        "entry": entry,
        "reach": reach,
        "final": final,
        "e0": e0,
        "e1": e1,
        "u1": np.where(v1, u1, _NEVER),
        "u2": np.where(v2, u2, _NEVER),
        "w_end": w_end,
        "is_open": is_open,
        "v": rng.random(n),
        "omit": zombie & (rng.random(n) < 0.45),
    }


def _state(h: dict, d: dict, i: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """Stage index, amount, expected close and forecast category code of deals ``i`` on days ``x``."""
    stage = (h["entry"][i] <= x[:, None]).sum(axis=1)
    amount = np.where(h["entry"][i, 2] <= x, d["amount_f"][i], d["amount_i"][i])
    exp = np.where(
        x >= h["u2"][i], h["final"][i], np.where(x >= h["u1"][i], h["e1"][i], h["e0"][i])
    )
    exp = np.where((h["u2"][i] == _NEVER), h["final"][i], exp)
    exp = np.where(
        (h["u1"][i] == _NEVER) & (h["u2"][i] != _NEVER) & (x < h["u2"][i]), h["e1"][i], exp
    )
    v = h["v"][i]
    # 0 pipeline, 1 best_case, 2 commit, 3 omitted: the rep's call follows the stage
    cat = np.select(
        [stage == 4, (stage == 3) & (v < 0.15), stage == 3, (stage == 2) & (v < 0.15)],
        [np.where(v < 0.85, 2, 1), 2, np.where(v < 0.75, 1, 0), 1],
        0,
    )
    cat = np.where(h["omit"][i] & (x >= h["w_end"][i]), 3, cat)
    return stage, amount, exp, cat


# --------------------------------------------------------------------------- tables


def _activities(
    s: SampleSettings,
    rp: dict,
    d: dict,
    h: dict,
    rng: np.random.Generator,
    window0: int,
    as_day: int,
) -> pd.DataFrame:
    """Weekly activity counts per rep: a base load plus what the rep's deals needed."""
    week0 = window0 + (7 - _weekday(np.array([window0]))[0]) % 7  # first Monday
    n_w = (as_day - week0) // 7 + 1
    weeks = week0 + 7 * np.arange(n_w)
    n = s.n_reps

    def per_week(days: np.ndarray, rep: np.ndarray) -> np.ndarray:
        ok = (days >= week0) & (days <= as_day)
        return np.bincount(rep[ok] * n_w + (days[ok] - week0) // 7, minlength=n * n_w).reshape(
            n, n_w
        )

    rep = d["rep"]
    created = per_week(d["created"], rep)
    meetings = sum(per_week(h["entry"][:, j], rep) for j in (0, 2, 3))
    demos = per_week(h["entry"][:, 1], rep)
    active = (weeks[None, :] + 4 >= rp["start"][:, None]).astype(float)
    worked = np.clip(as_day - weeks + 1, 0, 5) / 5.0
    moy = weeks.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12
    busy = active * worked * (np.asarray(s.seasonality)[moy] / np.mean(s.seasonality)) ** 0.3
    base = np.repeat(rp["calls_base"][:, None], n_w, axis=1)
    base[rp["empty"], weeks > as_day - s.empty_pipeline_days] *= 0.35
    lam = np.stack(
        [
            busy * (base + rp["calls_per_opp"][:, None] * created),
            busy * 1.6 * base + 2.5 * created + 1.5 * meetings,
            busy * 1.0 + 1.1 * meetings,
            busy * 0.1 + demos,
        ],
        axis=2,
    )  # rep x week x type
    counts = rng.poisson(lam * (active[:, :, None] > 0))
    r, w = np.nonzero(active > 0)
    types = np.array(TABLES["activities"][2].choices, dtype=object)
    return pd.DataFrame(
        {
            "rep_id": _text(np.repeat(np.asarray(rp["ids"], dtype=object)[r], 4)),
            "date": _dates(np.repeat(weeks[w], 4)),
            "type": _text(np.tile(types, len(r))),
            "count": counts[r, w].ravel().astype(np.int64),
        }
    )


def generate(seed: int = 2026, settings: SampleSettings | None = None) -> dict[str, pd.DataFrame]:
    """Generate the sample data set: the five canonical tables and the two optional ones.

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed and settings give the same data.
    settings : SampleSettings, optional
        Size, dates, seasonality and personas; defaults to :class:`SampleSettings()`.

    Returns
    -------
    dict of str to DataFrame
        ``reps``, ``opportunities``, ``targets``, ``activities``, ``snapshots``, and the
        optional ``accounts`` and ``satisfaction`` (:mod:`salesnb.data.sample_accounts`) and
        ``calls`` (:mod:`salesnb.data.sample_calls`), with
        the canonical columns and dtypes of :mod:`salesnb.data.schema` (amounts in currency).

    Examples
    --------
    >>> tables = generate(seed=1)
    >>> sorted(tables), len(tables["reps"])  # doctest: +NORMALIZE_WHITESPACE
    (['accounts', 'activities', 'calls', 'opportunities', 'reps', 'satisfaction',
      'snapshots', 'targets'], 30)
    """
    from salesnb.data.config import load_config

    s = settings if settings is not None else SampleSettings()
    if not isinstance(s, SampleSettings):
        raise ParameterError(f"settings is {type(s).__name__!r}. Fix: pass a SampleSettings.")
    check_settings(s)
    catalogue = load_config().stages
    open_names = catalogue.open_names
    if len(open_names) != 5:
        msg = (
            f"The default stage catalogue has {len(open_names)} open stages "
            f"({open_names!r}); the sample generator models 5. Fix: restore "
            "salesnb/data/defaults.toml or map the sample's stages with a profile."
        )
        raise ConfigError(msg)
    rng = np.random.default_rng(int(seed))
    as_day = _day(s.as_of)
    window0 = int(_month_grid(s, 0)[0][0])
    rp = _reps(s, rng, window0, as_day)
    live, stale = _deals(s, rp, rng, as_day), _stale_deals(s, rp, rng, as_day)
    live["touch"] = np.full(len(live["rep"]), _NEVER)
    d = {k: np.concatenate([live[k], stale[k]]) for k in live}
    target, t_months = _targets(s, rp, d, as_day)
    _enforce_personas(s, rp, d, target, t_months, as_day)
    h = _history(s, rp, d, rng, as_day)
    n = len(d["rep"])
    d["account"] = account_names(s, rp, rng, d["rep"])

    order = np.lexsort((np.arange(n), d["rep"], d["created"]))
    d = {k: (np.asarray(v, dtype=object) if k == "account" else v)[order] for k, v in d.items()}
    h = {k: v[order] for k, v in h.items()}
    width = max(5, len(str(n)))
    opp_ids = np.array([f"OPP-{i + 1:0{width}d}" for i in range(n)], dtype=object)
    ids = np.asarray(rp["ids"], dtype=object)
    cats = np.array(TABLES["opportunities"][9].choices, dtype=object)
    now = np.minimum(np.where(h["is_open"] | d["zombie"], as_day, d["close"]), as_day)
    stage, amount, exp, cat = _state(h, d, np.arange(n), now)
    is_open = h["is_open"]
    stage_name = np.where(
        is_open,
        np.asarray(open_names, dtype=object)[stage],
        np.where(d["f"] == 5, catalogue.won_name, catalogue.lost_name),
    )
    touched = np.maximum(d["created"], as_day - rng.exponential(5.0, n).astype(np.int64))
    events = np.concatenate([h["entry"], h["u1"][:, None], h["u2"][:, None]], axis=1)
    last_event = np.where(events <= as_day, events, d["created"][:, None]).max(axis=1)
    last = np.where(d["zombie"], h["w_end"], np.maximum(last_event, touched))
    opps = pd.DataFrame(
        {
            "opp_id": _text(opp_ids),
            "rep_id": _text(ids[d["rep"]]),
            "account": _text(d["account"]),
            "product": _text(np.asarray(s.products, dtype=object)[d["product"]]),
            "stage": _text(stage_name),
            "amount": amount.astype(np.float64),
            "created_date": _dates(d["created"]),
            "close_date": _dates(np.where(is_open, exp, d["close"])),
            "outcome": _text(np.where(is_open, "open", np.where(d["f"] == 5, "won", "lost"))),
            # closed deals carry "omitted", as CRMs drop them from the forecast
            "forecast_category": _text(np.where(is_open, cats[cat], "omitted")),
            "source": _text(np.asarray(s.sources, dtype=object)[d["source"]]),
            "furthest_stage": _text(
                np.asarray(open_names, dtype=object)[np.where(is_open, stage, h["reach"])]
            ),
            "last_activity_date": _dates(np.where(is_open, last, d["close"])),
        }
    )

    snaps = as_day - _weekday(np.array([as_day]))[0] - 7 * np.arange(s.snapshot_weeks)[::-1]
    leaves = np.where(is_open, _NEVER, d["close"])
    si, di = np.nonzero((d["created"][None, :] <= snaps[:, None]) & (leaves > snaps[:, None]))
    s_stage, s_amount, s_exp, s_cat = _state(h, d, di, snaps[si])
    snapshots = pd.DataFrame(
        {
            "as_of": _dates(snaps[si]),
            "opp_id": _text(opp_ids[di]),
            "rep_id": _text(ids[d["rep"][di]]),
            "stage": _text(np.asarray(open_names, dtype=object)[s_stage]),
            "amount": s_amount.astype(np.float64),
            "close_date": _dates(s_exp),
            "forecast_category": _text(cats[s_cat]),
        }
    )

    tr, tm = np.nonzero(target > 0)
    targets = pd.DataFrame(
        {
            "rep_id": _text(ids[tr]),
            "region": _text([None] * len(tr)),
            "month": _dates(t_months[tm]),
            "amount": target[tr, tm].astype(np.float64),
        }
    )
    activities = _activities(s, rp, d, h, rng, window0, as_day)
    from salesnb.data.sample_accounts import dimension_tables

    # drawn last, from their own random stream: every figure above stays as it was
    accounts, satisfaction = dimension_tables(seed, rp["frame"], opps, pd.Timestamp(s.as_of))
    from salesnb.data.sample_kinds import deal_types, loss_reasons

    # appended columns: types derived from the deals, loss reasons from their own stream
    opps["deal_type"] = deal_types(opps)
    opps["loss_reason"] = loss_reasons(seed, opps, list(open_names))
    from salesnb.data.sample_calls import calls_table

    # the managers' weekly calls: their own random stream too
    calls = calls_table(seed, rp["frame"], targets, snapshots["as_of"], pd.Timestamp(s.as_of))
    out = {
        "calls": calls,
        "accounts": accounts,
        "satisfaction": satisfaction,
        "reps": rp["frame"],
        "opportunities": opps,
        "targets": targets,
        "activities": activities,
        "snapshots": snapshots,
    }
    return {name: out[name][columns(name)].reset_index(drop=True) for name in TABLES}


# --------------------------------------------------------------------------- files

_CSV = {"index": False, "date_format": "%Y-%m-%d", "float_format": "%.2f", "lineterminator": "\n"}


def write(
    out: str | Path = "data/sample", seed: int = 2026, settings: SampleSettings | None = None
) -> list[Path]:
    """Generate the sample and write it to ``out`` as canonical CSV plus two TOML files.

    Writes ``reps.csv``, ``opportunities.csv``, ``targets.csv``, ``activities.csv``,
    ``snapshots.csv``, ``accounts.csv``, ``satisfaction.csv``, ``calls.csv`` (canonical column order, ISO dates, amounts with 2 decimals, UTF-8,
    ``\\n`` line ends), ``salesnb.toml`` (as-of date, currency, fiscal calendar) and
    ``generator.toml`` (seed and settings). Rewriting gives byte-identical files.

    Parameters
    ----------
    out : path
        Folder to write; created if missing. Other files in it are left alone.
    seed : int
        Random seed.
    settings : SampleSettings, optional
        Generator settings; defaults to :class:`SampleSettings()`.

    Returns
    -------
    list of Path
        The files written, in the order above.

    Examples
    --------
    >>> paths = write("/tmp/salesnb-sample", seed=2026)  # doctest: +SKIP
    >>> [p.name for p in paths][:2]  # doctest: +SKIP
    ['reps.csv', 'opportunities.csv']
    """
    s = settings if settings is not None else SampleSettings()
    tables = generate(seed, s)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = (
            f"Cannot create the folder {str(out)!r} ({exc.strerror}). Fix: choose a writable --out."
        )
        raise ParameterError(msg) from None
    written = []
    from salesnb.core.safecsv import to_safe_csv

    for name, frame in tables.items():
        path = out / f"{name}.csv"
        # settings name regions, teams and products: a name starting with = + - @ gets a
        # leading ' (formula injection), which load() strips again
        path.write_bytes(to_safe_csv(frame, **_CSV).encode("utf-8"))
        written.append(path)
    config = (
        "# Configuration of this sample data set; keys not set here come from salesnb's defaults\n"
        "# (salesnb/data/defaults.toml), including the stage catalogue.\n"
        f"as_of = {s.as_of.isoformat()}\n"
        f"currency = {toml_value(s.currency)}\n"
        "\n[calendar]\nfiscal_year_start_month = 1\n"
    )
    for name, text in (("salesnb.toml", config), ("generator.toml", settings_toml(seed, s))):
        (out / name).write_bytes(text.encode("utf-8"))
        written.append(out / name)
    return written

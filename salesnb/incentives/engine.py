"""Payouts of an incentive plan, per rep (and manager) and period, explained line by line.

Everything is computed on a rep x period grid with numpy: the grid starts at the plan's
``effective_from`` (a recoverable draw and clawbacks look back to it) and ends with the last
period asked for; only the periods asked for are returned. The one sequential step, the draw
balance, loops over periods (not reps).

The calculation, per rep and period (docs/incentives.md has a worked example):

1. **credited bookings**: closed-won deals closed in the period, times the rep's split share,
   times the role's product and new/existing-account weights;
2. **quota**: the targets table's months in the period (times the ramp's quota fractions for
   a new hire); **attainment** = credited / quota;
3. **commission** = target incentive (yearly variable pay x months / 12) x the curve: each
   band pays ``rate`` x the base rate on the attainment inside it; shown as the commission at
   the base rate, the decelerator (bands below 100 %), the accelerator (bands above 100 %),
   and the cut of the cap;
4. **kickers** (fixed bonuses at attainment thresholds), **SPIFs** (a bonus per qualifying
   deal), **clawbacks** (commission of deals booked won and later lost);
5. **draw**: during the ramp the rep earns at least the draw; a recoverable draw's top-ups
   are taken back from later earnings above the draw;
6. **manager overrides**: a rate on the team's credited bookings, one row per manager.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from salesnb.analytics.coaching_facts import format_value
from salesnb.core.errors import ConfigError, ParameterError
from salesnb.data.model import Workbook
from salesnb.incentives.curve import curve
from salesnb.incentives.plan import Plan

#: Columns of :func:`payouts`, in order. Money in the data's currency.
COLUMNS = (
    "payee_id", "name", "payee_kind", "role", "manager", "region", "team", "period", "start",
    "end", "complete", "won_amount", "credited", "quota", "attainment", "band", "rate",
    "target_incentive", "at_base_rate", "decelerator", "accelerator", "cap_cut", "commission",
    "kicker", "spif", "spif_deals", "clawback", "clawback_deals", "draw", "draw_topup",
    "draw_recovery", "draw_balance", "override", "payout", "note",
)  # fmt: skip

_FREQ = {"month": "M", "quarter": "Q", "year": "Y"}
_SHORT = re.compile(r"^(?:FY)?(\d{4})\s*-?\s*Q([1-4])$", re.IGNORECASE)


def _label(period: str) -> str:
    """``2026Q3`` / ``2026-Q3`` -> ``FY2026-Q3``; ``2026`` -> ``FY2026``; others unchanged."""
    p = str(period).strip()
    m = _SHORT.match(p)
    if m:
        return f"FY{m[1]}-Q{m[2]}"
    return f"FY{p}" if re.fullmatch(r"\d{4}", p) else p


def period_label(wb: Workbook, period: str) -> str:
    """A period as the fiscal calendar labels it (``2026Q3`` -> ``FY2026-Q3``), checked.

    Examples
    --------
    >>> period_label(salesnb.load("data/sample"), "2026Q3")
    'FY2026-Q3'
    """
    label = _label(period)
    try:
        wb.config.calendar.period_bounds(label)
    except ConfigError as exc:
        raise ParameterError(str(exc).replace("'FY2026-Q2'", "'FY2026-Q2' (or 2026Q2)")) from None
    return label


def _grid(wb: Workbook, plan: Plan, periods: Iterable[str] | str | None):
    """Plan period starts of the grid, and which of them were asked for."""
    cal = wb.config.calendar
    if periods is None:
        periods = [cal.period_label(wb.as_of, _FREQ[plan.period])]
    elif isinstance(periods, str):
        periods = [periods]
    bounds = [cal.period_bounds(period_label(wb, label)) for label in periods]
    if not bounds:
        raise ParameterError("No period asked for. Fix: pass a period such as '2026Q3'.")
    k = plan.months
    g0 = plan.effective_from
    aligned = g0.day == 1 and (g0.month - cal.start_month) % k == 0
    if not aligned:
        msg = (f"{plan.source}: plan.effective_from: {g0:%Y-%m-%d} is not the first day of a "
               f"{plan.period} of the fiscal calendar (the year starts in month "
               f"{cal.start_month}). Fix: start the plan on the first day of a {plan.period}.")  # fmt: skip
        raise ConfigError(msg)
    rs, re_ = min(b[0] for b in bounds), max(b[1] for b in bounds)
    if rs < g0:
        msg = (f"Period {periods[0]!r} starts before the plan takes effect ({g0:%Y-%m-%d}). "
               "Fix: ask for a period from the plan's effective_from on.")  # fmt: skip
        raise ParameterError(msg)
    if plan.effective_to is not None and re_ > plan.effective_to:
        msg = (f"The periods asked for end after the plan does ({plan.effective_to:%Y-%m-%d}). "
               "Fix: ask for periods inside the plan, or use the plan that follows it.")  # fmt: skip
        raise ParameterError(msg)
    n_months = (re_.year - g0.year) * 12 + re_.month - g0.month + 1
    n_periods = -(-n_months // k)
    starts = [g0 + pd.DateOffset(months=k * p) for p in range(n_periods)]
    wanted = np.array([s + pd.DateOffset(months=k) - pd.Timedelta(days=1) >= rs for s in starts])
    return starts, wanted


def _month_index(dates: pd.Series, g0: pd.Timestamp) -> np.ndarray:
    d = pd.to_datetime(dates)
    return ((d.dt.year - g0.year) * 12 + d.dt.month - g0.month).to_numpy(dtype=float)


def _roles(wb: Workbook, plan: Plan, starts: list[pd.Timestamp], rep_start: np.ndarray):
    """Role index per rep x period (-1: none), from the most specific assignment in force on
    the period's first day (or the rep's start day if later)."""
    reps = wb.reps
    n, P = len(reps), len(starts)
    pstart = np.array(starts, dtype="datetime64[ns]")
    day = np.maximum(pstart[None, :], np.where(np.isnat(rep_start), pstart[0], rep_start)[:, None])
    names = list(plan.roles)
    out = np.full((n, P), -1, dtype=int)
    level = np.full((n, P), -1, dtype=int)
    cols = {k: reps[k].astype(object).to_numpy() for k in ("rep_id", "team", "region")}
    for a in plan.assignments:
        if a.rep:
            who = cols["rep_id"] == a.rep
        elif a.team:
            who = cols["team"] == a.team
        elif a.region:
            who = cols["region"] == a.region
        else:
            who = np.ones(n, bool)
        when = np.ones((n, P), bool)
        if a.start is not None:
            when &= day >= np.datetime64(a.start)
        if a.end is not None:
            when &= day <= np.datetime64(a.end)
        hit = who[:, None] & when & (level <= a.level)
        out[hit] = names.index(a.role)
        level[hit] = a.level
    return out


def _won_events(wb: Workbook, stage_history: pd.DataFrame | None) -> pd.DataFrame:
    """Deals the data shows booked won and later not won: opp_id, booked (date), amount,
    reversed (date)."""
    kind = wb.config.stages.kind_of()
    snaps = wb.snapshots
    parts = [pd.DataFrame({"opp_id": snaps["opp_id"], "date": snaps["as_of"],
                           "close": snaps["close_date"], "stage": snaps["stage"],
                           "amount": snaps["amount"]})]  # fmt: skip
    if stage_history is not None and len(stage_history):
        h = stage_history
        missing = [c for c in ("opp_id", "stage", "date") if c not in h.columns]
        if missing:
            msg = (f"stage_history has no column {missing[0]!r} (it has {list(h.columns)!r}). "
                   "Fix: pass a table with the columns opp_id, stage and date.")  # fmt: skip
            raise ParameterError(msg)
        parts.append(pd.DataFrame({"opp_id": h["opp_id"], "date": pd.to_datetime(h["date"]),
                                   "close": pd.to_datetime(h["date"]), "stage": h["stage"],
                                   "amount": np.nan}))  # fmt: skip
    ev = pd.concat(parts, ignore_index=True)
    ev = ev[ev["opp_id"].notna() & ev["date"].notna()]
    won = ev["stage"].map(kind).eq("won").to_numpy()
    if not won.any():
        return pd.DataFrame(columns=["opp_id", "booked", "amount", "reversed"])
    first = ev[won].sort_values("date", kind="stable").groupby("opp_id", sort=False).first()
    later = ev[~won].merge(
        first[["date"]], left_on="opp_id", right_index=True, suffixes=("", "_won")
    )
    later = later[later["date"] > later["date_won"]].groupby("opp_id")["date"].min()
    o = wb.opportunities.set_index("opp_id")
    now = o[["outcome", "close_date", "amount"]].rename(columns={"amount": "amount_now"})
    first = first.join(now, how="inner")
    first["reversed"] = later.reindex(first.index)
    gone = first["outcome"] != "won"
    fallback = np.maximum(first["close_date"].fillna(first["date"]), first["date"])
    first["reversed"] = first["reversed"].where(first["reversed"].notna() | ~gone, fallback)
    first = first[first["reversed"].notna() & gone]
    return pd.DataFrame({
        "opp_id": first.index, "booked": first["close"].fillna(first["date"]).to_numpy(),
        "amount": first["amount"].fillna(first["amount_now"]).to_numpy(),
        "reversed": first["reversed"].to_numpy(),
    })  # fmt: skip


def _credit_rows(wb: Workbook, plan: Plan, stage_history: pd.DataFrame | None) -> pd.DataFrame:
    """One row per deal and credited rep: opp_id, rep_id, share, amount, close, product,
    new (account's first win), reversed (date the win was undone, NaT if it stands)."""
    o = wb.opportunities
    won = o[o["outcome"] == "won"]
    deals = pd.DataFrame({"opp_id": won["opp_id"], "rep_id": won["rep_id"], "amount": won["amount"],
                          "close": won["close_date"], "product": won["product"],
                          "account": won["account"], "reversed": pd.NaT})  # fmt: skip
    undone = _won_events(wb, stage_history)
    if len(undone):
        u = undone.merge(o[["opp_id", "rep_id", "product", "account"]], on="opp_id")
        u = u.rename(columns={"booked": "close"})
        deals = pd.concat([deals, u[list(deals.columns)]], ignore_index=True)
    deals = deals[deals["close"].notna()]
    # a new account: its first win (by close date, then deal id); no account counts as existing
    deals = deals.reset_index(drop=True)
    order = deals.sort_values(["close", "opp_id"], kind="stable")
    first = order[order["account"].notna()].drop_duplicates("account").index
    new = np.zeros(len(deals), bool)
    new[first.to_numpy()] = True
    deals["new"] = new
    if plan.splits is None:
        deals["share"] = 1.0
        return deals
    s = plan.splits
    unknown = sorted(set(s["rep_id"]) - set(wb.reps["rep_id"]))
    if unknown:
        msg = (f"{plan.source}: plan.splits names rep {unknown[0]!r}, which is not in the reps "
               "table. Fix: use rep_ids of the reps table in the splits file.")  # fmt: skip
        raise ConfigError(msg)
    missing = sorted(set(s["opp_id"]) - set(o["opp_id"]))
    if missing:
        msg = (f"{plan.source}: plan.splits names deal {missing[0]!r}, which is not in the "
               "opportunities. Fix: correct the opp_id or remove the row.")  # fmt: skip
        raise ConfigError(msg)
    split = deals["opp_id"].isin(set(s["opp_id"]))
    shared = deals[split].drop(columns="rep_id").merge(s, on="opp_id")
    whole = deals[~split].assign(share=1.0)
    return pd.concat([whole, shared], ignore_index=True)


def role_arrays(plan: Plan) -> tuple[list, dict[str, np.ndarray]]:
    """The roles' numbers as arrays (one row per role, plus a last row of zeros for 'none')."""
    roles = list(plan.roles.values())
    R = len(roles) + 1
    B = max(len(r.bands) for r in roles)
    K = max([len(r.kickers) for r in roles] + [1])
    Q = max([len(r.ramp.quota) for r in roles] + [1])
    t = {
        "variable": np.array([r.variable for r in roles] + [0.0]),
        "cap": np.array([r.cap if r.cap is not None else np.inf for r in roles] + [np.inf]),
        "b_start": np.full((R, B), np.inf), "b_rate": np.zeros((R, B)),
        "k_at": np.full((R, K), np.inf), "k_amt": np.zeros((R, K)),
        "r_months": np.array([r.ramp.months for r in roles] + [0]),
        "r_quota": np.ones((R, Q)), "draw": np.array([r.ramp.draw for r in roles] + [0.0]),
        "recoverable": np.array([r.ramp.recoverable for r in roles] + [False]),
        "new_w": np.array([r.crediting.new_account for r in roles] + [0.0]),
        "old_w": np.array([r.crediting.existing_account for r in roles] + [0.0]),
    }  # fmt: skip
    for i, r in enumerate(roles):
        t["b_start"][i, : len(r.bands)] = [b.start for b in r.bands]
        t["b_rate"][i, : len(r.bands)] = [b.rate for b in r.bands]
        t["k_at"][i, : len(r.kickers)] = [k.at for k in r.kickers]
        t["k_amt"][i, : len(r.kickers)] = [k.amount for k in r.kickers]
        t["r_quota"][i, : len(r.ramp.quota)] = r.ramp.quota
    t["b_end"] = np.concatenate([t["b_start"][:, 1:], np.full((R, 1), np.inf)], axis=1)
    return roles, t


def payouts(
    wb: Workbook,
    plan: Plan,
    periods: Iterable[str] | str | None = None,
    *,
    stage_history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """What a plan pays each rep (and each manager, for overrides) in each period.

    Parameters
    ----------
    wb : Workbook
        The data: won deals, targets (quota), reps (team, region, manager, start date),
        snapshots (deals seen won and later lost are clawed back).
    plan : Plan
        From :func:`salesnb.incentives.load_plan`.
    periods : str or list of str, optional
        Fiscal periods (``"2026Q3"``, ``"FY2026-Q3"``, ``"2026-07"``, ``"FY2026"``); every plan
        period overlapping them is returned. Default: the plan period holding the as-of date.
    stage_history : DataFrame, optional
        Stage changes (opp_id, stage, date), e.g. Salesforce's Opportunity History: more
        evidence of deals booked won and later lost.

    Returns
    -------
    DataFrame
        One row per payee and period with :data:`COLUMNS`: money in the data's currency,
        attainment as a fraction. A figure that cannot be known (no quota in the targets
        table) is NaN and ``note`` says why; reps the plan assigns no role are left out.

    Examples
    --------
    >>> from salesnb.incentives import parse_plan
    >>> from salesnb.incentives.plan import EXAMPLE
    >>> wb = salesnb.load("data/sample")  # doctest: +SKIP
    >>> payouts(wb, parse_plan(EXAMPLE), "2026Q3")[["payee_id", "attainment", "payout"]]  # doctest: +SKIP
    """
    if wb.counts_only:
        msg = ("The data has no deal amounts (every amount is 1, a count of deals), so "
               "commission cannot be worked out. Fix: load an export with deal amounts.")  # fmt: skip
        raise ParameterError(msg)
    if plan.currency and plan.currency.upper() != str(wb.unit).upper():
        msg = (f"{plan.source}: plan.currency is {plan.currency!r} but the data's amounts are in "
               f"{wb.unit!r}. Fix: set currency = {wb.unit!r} or convert the data.")  # fmt: skip
        raise ConfigError(msg)
    starts, wanted = _grid(wb, plan, periods)
    k, P = plan.months, len(starts)
    M = P * k
    g0 = plan.effective_from
    reps = wb.reps.reset_index(drop=True)
    n = len(reps)
    rep_pos = pd.Series(np.arange(n), index=reps["rep_id"])
    rep_start = reps["start_date"].to_numpy(dtype="datetime64[ns]")
    start_m = _month_index(reps["start_date"], g0)  # NaN: unknown start, no ramp
    role = _roles(wb, plan, starts, rep_start)
    roles, T = role_arrays(plan)
    none = len(roles)
    role_x = np.where(role < 0, none, role)  # index into the tables
    pend = np.array([s + pd.DateOffset(months=k) - pd.Timedelta(days=1) for s in starts],
                    dtype="datetime64[ns]")  # fmt: skip
    employed = np.isnat(rep_start)[:, None] | (rep_start[:, None] <= pend[None, :])

    # ---- credited bookings
    cr = _credit_rows(wb, plan, stage_history)
    m = _month_index(cr["close"], g0)
    r = rep_pos.reindex(cr["rep_id"]).to_numpy(dtype=float)
    ok = (m >= 0) & (m < M) & ~np.isnan(r)
    cr, m, r = cr[ok], m[ok].astype(int), r[ok].astype(int)
    p = m // k
    ro = role_x[r, p]
    products = cr["product"].astype(object).to_numpy()
    codes, uniq = pd.factorize(products, use_na_sentinel=False)
    weights = np.array([[rl.crediting.product_weight(x) for x in uniq] for rl in roles]
                       + [[0.0] * len(uniq)]).reshape(len(roles) + 1, len(uniq))  # fmt: skip
    prod_w = weights[ro, codes]
    acct_w = np.where(cr["new"].to_numpy(), T["new_w"][ro], T["old_w"][ro])
    split_amount = cr["amount"].to_numpy(float) * cr["share"].to_numpy(float)
    credit = split_amount * prod_w * acct_w
    cell = r * P + p
    won_amount = np.bincount(cell, split_amount, n * P).reshape(n, P)
    credited = np.bincount(cell, credit, n * P).reshape(n, P)

    # ---- quota (targets x ramp fractions) and draw months
    t = wb.targets
    t = t[t["rep_id"].notna()]
    tm = _month_index(t["month"], g0)
    tr = rep_pos.reindex(t["rep_id"]).to_numpy(dtype=float)
    okt = (tm >= 0) & (tm < M) & ~np.isnan(tr)
    tm, tr, amt = tm[okt].astype(int), tr[okt].astype(int), t["amount"].to_numpy(float)[okt]
    q_month = np.bincount(tr * M + tm, amt, n * M).reshape(n, M)
    has = np.bincount(tr * M + tm, None, n * M).reshape(n, M) > 0
    months = np.arange(M)
    tenure = months[None, :] - start_m[:, None]  # 0 = the start month; NaN unknown
    role_m = np.repeat(role_x, k, axis=1)
    ramping = (tenure >= 0) & (tenure < T["r_months"][role_m])
    qi = np.clip(np.nan_to_num(tenure, nan=0), 0, T["r_quota"].shape[1] - 1).astype(int)
    frac = np.where(ramping, T["r_quota"][role_m, qi], 1.0)
    quota = (q_month * frac).reshape(n, P, k).sum(axis=2)
    known = has.reshape(n, P, k).any(axis=2)
    quota = np.where(known, quota, np.nan)
    draw = (ramping * T["draw"][role_m]).reshape(n, P, k).sum(axis=2)

    # ---- the curve
    ti = T["variable"][role_x] * k / 12.0
    with np.errstate(divide="ignore", invalid="ignore"):
        att = np.where(quota > 0, credited / quota, np.nan)
    bs = T["b_start"][role_x]  # n x P x B
    at_base, decel, accel, cap_cut = (np.zeros((n, P)) for _ in range(4))
    for i, rl in enumerate(roles):
        m = role_x == i
        if m.any():
            b_starts = np.array([b.start for b in rl.bands])
            b_rates = np.array([b.rate for b in rl.bands])
            parts = curve(att[m], ti[m], b_starts, b_rates, rl.cap)
            at_base[m], decel[m] = parts.at_base_rate, parts.decelerator
            accel[m], cap_cut[m] = parts.accelerator, parts.cap_cut
    commission = at_base + decel + accel + cap_cut
    a = att[..., None]
    with np.errstate(invalid="ignore"):
        band_i = np.where(np.isnan(att), -1, (a >= bs).sum(axis=2) - 1)
        kicker = (T["k_amt"][role_x] * (a >= T["k_at"][role_x])).sum(axis=2)

    # ---- SPIFs
    spif = np.zeros(n * P)
    spif_n = np.zeros(n * P)
    close = cr["close"].to_numpy(dtype="datetime64[ns]")
    names = list(plan.roles)
    for s in plan.spifs:
        hit = (close >= np.datetime64(s.start)) & (close <= np.datetime64(s.end))
        hit &= cr["amount"].to_numpy(float) >= s.min_amount
        if s.products:
            hit &= np.isin(products, list(s.products))
        if s.new_account_only:
            hit &= cr["new"].to_numpy()
        allowed = [names.index(x) for x in s.roles] if s.roles else list(range(len(roles)))
        hit &= np.isin(ro, allowed)
        spif += np.bincount(cell[hit], s.amount * cr["share"].to_numpy(float)[hit], n * P)
        spif_n += np.bincount(cell[hit], cr["share"].to_numpy(float)[hit], n * P)
    spif, spif_n = spif.reshape(n, P), spif_n.reshape(n, P)

    # ---- clawbacks: the booked period's effective rate on the deal's credit
    claw = np.zeros(n * P)
    claw_n = np.zeros(n * P)
    if plan.clawback is not None:
        rev = cr["reversed"].to_numpy(dtype="datetime64[ns]")
        days = (rev - close) / np.timedelta64(1, "D")
        mr = _month_index(pd.Series(rev), g0)
        sel = ~np.isnat(rev) & (days <= plan.clawback.within_days) & (mr < M)
        if sel.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                eff = np.where(credited > 0, commission / credited, 0.0)
            pr = (mr[sel] // k).astype(int)
            c_cell = r[sel] * P + pr
            claw = np.bincount(c_cell, credit[sel] * eff[r[sel], p[sel]], n * P)
            claw_n = np.bincount(c_cell, cr["share"].to_numpy(float)[sel], n * P)
    claw, claw_n = claw.reshape(n, P), claw_n.reshape(n, P)

    # ---- draw: guaranteed during the ramp, recoverable top-ups repaid from later earnings
    earned = commission + kicker + spif - claw
    paid = employed & (role >= 0)
    topup, recovery, balance = np.zeros((n, P)), np.zeros((n, P)), np.zeros((n, P))
    owed = np.zeros(n)
    rec = T["recoverable"][role_x]
    for j in range(P):
        e, d = np.where(paid[:, j], earned[:, j], 0.0), draw[:, j]
        topup[:, j] = np.where(d > 0, np.maximum(d - e, 0.0), 0.0)  # NaN when e is unknown
        need = rec[:, j] & (owed != 0)  # NaN owed (unknown) stays unknown
        back = np.where(need, np.minimum(owed, np.maximum(e - d, 0.0)), 0.0)
        recovery[:, j] = back
        owed = owed - back + np.where(rec[:, j], topup[:, j], 0.0)
        balance[:, j] = owed
    payout = earned + topup - recovery

    # ---- the table
    keep = wanted[None, :] & (role >= 0) & employed
    ri, pi = np.nonzero(keep)
    bs0 = T["b_start"]
    bi = band_i[ri, pi]
    rx = role_x[ri, pi]
    texts = np.array([[_band_text(x, y) for x, y in zip(a_, b_, strict=True)]
                      for a_, b_ in zip(bs0, T["b_end"], strict=True)] + [[""] * bs0.shape[1]])  # fmt: skip
    band = np.where(bi >= 0, texts[rx, np.maximum(bi, 0)], "")
    note = np.where(~known[ri, pi], "no quota in the targets table for this period",
                    np.where(quota[ri, pi] == 0, "quota is 0 in the targets table", ""))  # fmt: skip
    pstarts = np.array(starts, dtype="datetime64[ns]")
    cal = wb.config.calendar
    labels = np.array([cal.period_label(s, _FREQ[plan.period]) for s in starts])
    out = pd.DataFrame({
        "payee_id": reps["rep_id"].to_numpy()[ri], "name": reps["name"].to_numpy()[ri],
        "payee_kind": "rep", "role": np.array(names + [""])[rx],
        "manager": reps["manager"].to_numpy()[ri], "region": reps["region"].to_numpy()[ri],
        "team": reps["team"].to_numpy()[ri], "period": labels[pi], "start": pstarts[pi],
        "end": pend[pi], "complete": pend[pi] <= np.datetime64(wb.as_of),
        "won_amount": won_amount[ri, pi], "credited": credited[ri, pi], "quota": quota[ri, pi],
        "attainment": att[ri, pi], "band": band, "rate": np.where(bi >= 0, T["b_rate"][rx, np.maximum(bi, 0)], np.nan),
        "target_incentive": ti[ri, pi], "at_base_rate": at_base[ri, pi],
        "decelerator": decel[ri, pi], "accelerator": accel[ri, pi], "cap_cut": cap_cut[ri, pi],
        "commission": commission[ri, pi], "kicker": np.where(np.isnan(att[ri, pi]), np.nan, kicker[ri, pi]),
        "spif": spif[ri, pi], "spif_deals": spif_n[ri, pi], "clawback": claw[ri, pi],
        "clawback_deals": claw_n[ri, pi], "draw": draw[ri, pi], "draw_topup": topup[ri, pi],
        "draw_recovery": recovery[ri, pi], "draw_balance": balance[ri, pi], "override": 0.0,
        "payout": payout[ri, pi], "note": note,
    })  # fmt: skip
    if plan.override is not None:
        out = pd.concat([out, _overrides(plan, reps, role, credited, wanted, labels, pstarts,
                                         pend, wb.as_of)], ignore_index=True)  # fmt: skip
    return out[list(COLUMNS)].reset_index(drop=True)


def _overrides(plan, reps, role, credited, wanted, labels, pstarts, pend, as_of) -> pd.DataFrame:
    """One row per manager and period: the override rate on the team's credited bookings."""
    mgr = reps["manager"].astype(object).to_numpy()
    codes, names = pd.factorize(mgr, sort=True)
    team = np.where(role >= 0, credited, 0.0)
    sums = np.zeros((len(names), team.shape[1]))
    np.add.at(sums, codes[codes >= 0], team[codes >= 0])
    keep = np.ones(len(names), bool)
    if plan.override.managers:
        keep = np.isin(names, list(plan.override.managers))
    mi, pj = np.nonzero(keep[:, None] & wanted[None, :])
    b = sums[mi, pj]
    blank = np.full(len(mi), "", dtype=object)
    out = pd.DataFrame({
        "payee_id": names[mi], "name": names[mi], "payee_kind": "manager", "role": blank,
        "manager": blank, "region": blank, "team": blank, "period": labels[pj],
        "start": pstarts[pj], "end": pend[pj], "complete": pend[pj] <= np.datetime64(as_of),
        "credited": b, "override": b * plan.override.rate, "payout": b * plan.override.rate,
        "note": blank,
    })  # fmt: skip
    return out.reindex(columns=list(COLUMNS))


def _band_text(lo: float, hi: float) -> str:
    if math.isnan(lo):
        return ""
    left = format_value(lo, "percent")
    return f"{left} and above" if math.isinf(hi) else f"{left} to {format_value(hi, 'percent')}"


def statement_lines(row: pd.Series | dict, currency: str = "USD") -> list[str]:
    """The calculation of one payout row in plain words, one line per step.

    Examples
    --------
    >>> row = {"payee_kind": "rep", "period": "FY2026-Q3", "won_amount": 120000.0,
    ...        "credited": 120000.0, "quota": 100000.0, "attainment": 1.2,
    ...        "band": "100% and above", "rate": 1.5, "target_incentive": 12500.0,
    ...        "at_base_rate": 15000.0, "decelerator": 0.0, "accelerator": 1250.0,
    ...        "cap_cut": 0.0, "commission": 16250.0, "kicker": 0.0, "spif": 0.0,
    ...        "spif_deals": 0.0, "clawback": 0.0, "clawback_deals": 0.0, "draw": 0.0,
    ...        "draw_topup": 0.0, "draw_recovery": 0.0, "draw_balance": 0.0, "override": 0.0,
    ...        "payout": 16250.0, "complete": True, "note": ""}
    >>> statement_lines(row)[2]
    'Attainment: 120% (band 100% and above, paid at 1.5x the base rate).'
    """
    r = dict(row)

    def money(x: float, signed: bool = False) -> str:
        return format_value(x, "currency", currency, signed=signed)

    if r.get("payee_kind") == "manager":
        return [f"Team's credited bookings in {r['period']}: {money(r['credited'])}.",
                f"Override: {money(r['override'])}.", f"Payout: {money(r['payout'])}."]  # fmt: skip
    lines = [
        (
            f"Credited bookings in {r['period']}: {money(r['credited'])} (closed-won "
            f"{money(r['won_amount'])}, after split shares and the plan's crediting weights)."
        ),
        f"Quota: {money(r['quota'])}."
        if not _nan(r["quota"])
        else f"Quota: unknown ({r['note']}).",
    ]
    if _nan(r["attainment"]):
        lines.append("Attainment: unknown, so the commission and payout are unknown.")
    else:
        lines.append(f"Attainment: {format_value(r['attainment'], 'percent')} (band {r['band']}, "
                     f"paid at {r['rate']:g}x the base rate).")  # fmt: skip
        lines.append(f"Target incentive for the period (variable pay at 100%): "
                     f"{money(r['target_incentive'])}; at the base rate the bookings earn "
                     f"{money(r['at_base_rate'])}.")  # fmt: skip
    steps = (("decelerator", "Decelerator (bands below 100% pay less)"),
             ("accelerator", "Accelerator (bands above 100% pay more)"),
             ("cap_cut", "Cap (the most the curve pays)"))  # fmt: skip
    for key, text in steps:
        if not _nan(r[key]) and abs(r[key]) >= 0.005:
            lines.append(f"{text}: {money(r[key], True)}.")
    if not _nan(r["commission"]):
        lines.append(f"Commission: {money(r['commission'])}.")
    if not _nan(r["kicker"]) and r["kicker"]:
        lines.append(
            f"Kicker (bonus for reaching an attainment threshold): {money(r['kicker'], True)}."
        )
    if r["spif"]:
        lines.append(f"SPIF ({r['spif_deals']:g} qualifying deal(s)): {money(r['spif'], True)}.")
    if r["clawback"]:
        lines.append(f"Clawback ({r['clawback_deals']:g} deal(s) booked won, then lost): "
                     f"{money(-r['clawback'], True)}.")  # fmt: skip
    if r["draw"]:
        lines.append(f"Guaranteed draw this period (new-hire ramp): {money(r['draw'])}.")
    if not _nan(r["draw_topup"]) and r["draw_topup"]:
        lines.append(f"Draw top-up (earnings were below the draw): {money(r['draw_topup'], True)}.")
    if not _nan(r["draw_recovery"]) and r["draw_recovery"]:
        lines.append(f"Draw recovered from earnings: {money(-r['draw_recovery'], True)}.")
    if not _nan(r["draw_balance"]) and r["draw_balance"]:
        lines.append(f"Draw still to recover from later earnings: {money(r['draw_balance'])}.")
    total = "unknown" if _nan(r["payout"]) else money(r["payout"])
    tail = "" if r.get("complete", True) else " (to date: the period is not over)"
    lines.append(f"Payout: {total}{tail}.")
    return lines


def _nan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))

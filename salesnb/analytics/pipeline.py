"""Pipeline change analysis from weekly snapshots: the waterfall, pushes, deals needing attention.

Reads the ``snapshots`` and ``opportunities`` tables of a :class:`~salesnb.data.model.Workbook`
(see :mod:`salesnb.data.schema`). A deal is attributed to its *current* owner
(``opportunities.rep_id``, else the snapshot's ``rep_id``) in every snapshot, so a rep's
waterfall is not broken by reassignments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from salesnb.core.errors import ConfigError, NotEnoughDataError, ParameterError
from salesnb.data import memo

__all__ = [
    "CATEGORIES",
    "DEFAULT_ATTENTION_RULES",
    "Waterfall",
    "deals_needing_attention",
    "pipeline_at",
    "push_counts",
    "snapshot_dates",
    "waterfall",
]

#: Waterfall bars in display order, with the sign each adds to the running total.
CATEGORIES: dict[str, int] = {
    "start": 1,
    "new": 1,
    "pulled_in": 1,
    "pushed_out": -1,
    "won": -1,
    "lost": -1,
    "removed": -1,
    "value_up": 1,
    "value_down": -1,
    "end": 1,
}
_FLOWS = [c for c in CATEGORIES if c not in ("start", "end")]

#: Thresholds of :func:`deals_needing_attention`; override with ``rules=`` or ``[attention]``.
DEFAULT_ATTENTION_RULES: dict[str, float | None] = {
    "stale_after_days": None,  # None: the config's hygiene.stale_after_days
    "max_pushes": 2,  # flag a deal whose close date was pushed this many times or more
    "large_deal_quantile": 0.8,  # "large" = amount at or above this quantile of open deals
    "early_stages": 2,  # the first N open stages count as early
    "quarter_end_days": 30,  # ... and "close to quarter end" = this many days or fewer left
    "long_in_stage_days": 60,  # flag a deal in the same stage for longer than this
    "amount_drop_pct": 0.2,  # flag a deal whose amount fell by this share or more ...
    "amount_drop_lookback_days": 90,  # ... from its highest amount in this many days
}


def _cents(x: pd.Series | np.ndarray) -> np.ndarray:
    """Amounts as whole cents: sums of these are exact, so the waterfall identity is too."""
    return np.round(np.asarray(x, dtype=float) * 100).astype(np.int64)


def _look(keys: pd.Series, table: pd.Series) -> pd.Series:
    """``keys.map(table)`` that keeps dtypes on empty input (map() does not for dates)."""
    return pd.Series(table.reindex(keys.to_numpy()).to_numpy(), index=keys.index, name=table.name)


def snapshot_dates(wb: Any) -> list[pd.Timestamp]:
    """Sorted distinct snapshot dates of the workbook (empty list if it keeps none).

    Examples
    --------
    >>> snapshot_dates(wb)[-2:]   # doctest: +SKIP
    [Timestamp('2026-09-21 00:00:00'), Timestamp('2026-09-28 00:00:00')]
    """
    return list(_snapshot_dates(wb))


@memo.shared
def _snapshot_dates(wb: Any) -> tuple[pd.Timestamp, ...]:
    s = wb.snapshots["as_of"].dropna().unique()
    return tuple(pd.Timestamp(d) for d in np.sort(s))


def _resolve(wb: Any, when: Any, what: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(when).normalize()
    except (TypeError, ValueError):
        ts = pd.NaT
    if pd.isna(ts):
        raise ParameterError(f"{what} is {when!r}, not a date. Fix: pass e.g. '2026-09-30'.")
    dates = snapshot_dates(wb)
    if not dates:
        raise NotEnoughDataError(
            "The data holds no pipeline snapshots, so pipeline changes cannot be shown. "
            "Fix: export weekly snapshots (as_of, opp_id, stage, amount, close_date) to "
            "snapshots.csv."
        )
    earlier = [d for d in dates if d <= ts]
    if not earlier:
        raise NotEnoughDataError(
            f"No snapshot on or before {what} {ts:%Y-%m-%d}; the first is {dates[0]:%Y-%m-%d}. "
            f"Fix: pick {what} on or after {dates[0]:%Y-%m-%d}."
        )
    return earlier[-1]


@memo.shared
def _opps_by_id(wb: Any) -> pd.DataFrame:
    """The opportunities indexed by ``opp_id`` (first row of a repeated id)."""
    return wb.opportunities.drop_duplicates("opp_id").set_index("opp_id")


def _owners(wb: Any) -> pd.Series:
    return _opps_by_id(wb)["rep_id"]


@memo.shared
def _team_snap(wb: Any, date: pd.Timestamp) -> pd.DataFrame:
    """All rows of one snapshot with the stage ``kind`` and current ``owner``, every rep."""
    s = wb.snapshots[wb.snapshots["as_of"] == date].drop_duplicates("opp_id", keep="last")
    s = s.copy()
    owner = s["opp_id"].map(_owners(wb))
    s["owner"] = owner.fillna(s["rep_id"]) if "rep_id" in s.columns else owner
    # Stages outside the catalogue are treated as open: the loader validates stages anyway.
    s["kind"] = s["stage"].map(wb.config.stages.kind_of()).fillna("open")
    return s


def _snap(wb: Any, date: pd.Timestamp, rep_ids: list[str] | None) -> pd.DataFrame:
    """All rows of one snapshot with the stage ``kind`` and current ``owner``."""
    s = _team_snap(wb, date)
    if rep_ids is not None:
        s = s[s["owner"].isin(list(rep_ids))]
    return s


def pipeline_at(
    wb: Any, as_of_date: Any, *, rep_ids: list[str] | None = None, open_only: bool = True
) -> pd.DataFrame:
    """The pipeline as recorded by the nearest snapshot on or before ``as_of_date``.

    Parameters
    ----------
    wb : Workbook
    as_of_date : date-like
        Day to look at; the latest snapshot on or before it is used (its date is in ``as_of``).
    rep_ids : list of str, optional
        Only deals currently owned by these reps.
    open_only : bool, default True
        Drop rows whose stage is a won or lost stage.

    Returns
    -------
    DataFrame
        The snapshot's rows plus ``owner`` (current rep) and ``kind`` (open/won/lost).

    Examples
    --------
    >>> pipeline_at(wb, "2026-09-30")["amount"].sum()   # doctest: +SKIP
    """
    s = _snap(wb, _resolve(wb, as_of_date, "as_of_date"), rep_ids)
    return (s[s["kind"] == "open"] if open_only else s).reset_index(drop=True)


def _window(wb: Any, period: Any) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    if period is None:
        return None
    if isinstance(period, str):
        return wb.config.calendar.period_bounds(period)
    try:
        lo, hi = (pd.Timestamp(p).normalize() for p in period)
    except (TypeError, ValueError):
        lo = hi = pd.NaT
    if pd.isna(lo) or pd.isna(hi) or hi < lo:
        raise ParameterError(
            f"period={period!r} is not understood. Fix: pass a label such as 'FY2026-Q3' or "
            "'2026-09', or a (first day, last day) pair."
        )
    return lo, hi


@dataclass(frozen=True)
class Waterfall:
    """How the pipeline moved between two snapshots.

    ``bars``: one row per category of :data:`CATEGORIES` with ``amount`` (currency, >= 0
    for the flows), ``signed`` (what it adds to the running total) and ``deals`` (count).
    ``deals``: one row per deal and category behind each bar (a won deal whose amount
    changed has a ``value_up``/``value_down`` row and a ``won`` row).
    Identity (exact in cents): start + new + pulled_in - pushed_out - won - lost - removed
    + value_up - value_down == end.
    """

    start_date: pd.Timestamp
    end_date: pd.Timestamp
    window: tuple[pd.Timestamp, pd.Timestamp] | None
    bars: pd.DataFrame
    deals: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, category: str) -> float:
        return float(self.bars.set_index("category").loc[category, "amount"])

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.bars["category"], self.bars["amount"].astype(float), strict=True))

    def check(self) -> bool:
        """True when the identity holds exactly in cents."""
        c = dict(zip(self.bars["category"], _cents(self.bars["amount"]), strict=True))
        flows = sum(CATEGORIES[k] * int(c[k]) for k in _FLOWS)
        return int(c["start"]) + flows == int(c["end"])


_DEAL_COLUMNS = [
    "opp_id", "rep_id", "account", "category", "amount", "effect", "amount_start",
    "amount_end", "close_start", "close_end", "stage_start", "stage_end", "direction",
]  # fmt: skip


def waterfall(
    wb: Any,
    start: Any,
    end: Any,
    *,
    rep_ids: list[str] | None = None,
    period: Any = None,
) -> Waterfall:
    """The pipeline waterfall between the snapshots nearest on or before ``start`` and ``end``.

    With ``period`` only deals due in that window count (close date inside it), so deals
    move in (``pulled_in``) and out (``pushed_out``; ``direction`` says later/earlier).
    Deals open at the start that are not open at the end are ``won`` or ``lost`` (the end
    snapshot's stage, else the deal's outcome) or ``removed`` (no outcome: deleted or
    reopened elsewhere). Deals created and closed between the two snapshots show as
    ``new`` and ``won``/``lost``. Won deals leave at their booked amount; the difference
    to their start amount is a ``value_up``/``value_down``.

    Parameters
    ----------
    wb : Workbook
    start, end : date-like
        Resolved to the latest snapshot on or before each (``end`` after ``start``).
    rep_ids : list of str, optional
        Only deals currently owned by these reps.
    period : str or (date, date), optional
        A fiscal period label ('FY2026-Q3', '2026-09') or first and last day; None = all open.

    Examples
    --------
    >>> w = waterfall(wb, "2026-07-01", "2026-09-30", period="FY2026-Q3")   # doctest: +SKIP
    >>> w.check()                                                           # doctest: +SKIP
    True
    """
    d0, d1 = _resolve(wb, start, "start"), _resolve(wb, end, "end")
    if pd.Timestamp(end) < pd.Timestamp(start):
        raise ParameterError(f"end {end!r} is before start {start!r}. Fix: swap them.")
    notes = []
    if d0 == d1:
        notes.append(f"start and end both fall on the snapshot of {d0:%Y-%m-%d}: no change.")
    win = _window(wb, period)
    if rep_ids is not None:
        team = _team_flows(wb, d0, d1, win)
        if team is not None:  # every deal's owner is the same in both snapshots
            deals, a, b = team
            mine = list(rep_ids)
            deals = deals[deals["rep_id"].isin(mine)].reset_index(drop=True)
            a, b = a[a["owner_0"].isin(mine)], b[b["owner_1"].isin(mine)]
            return _assemble(d0, d1, win, deals, a, b, notes)
    deals, a, b = _flows(wb, d0, d1, rep_ids, win)
    return _assemble(d0, d1, win, deals, a, b, notes)


@memo.shared
def _team_flows(
    wb: Any, d0: pd.Timestamp, d1: pd.Timestamp, win: tuple | None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
    """Every rep's flows between two snapshots, or None when a rep's cannot be read off them.

    A rep's waterfall keeps the deals the rep owns in each snapshot. A deal's owner is its
    current one (the same in both) unless the deal is gone from the opportunities and the
    snapshots name different reps; only then do the two differ (None).
    """
    s0, s1 = _team_snap(wb, d0), _team_snap(wb, d1)
    both = s0[["opp_id", "owner"]].merge(s1[["opp_id", "owner"]], on="opp_id")
    x, y = both["owner_x"].astype(object), both["owner_y"].astype(object)
    if ((x != y) & ~(x.isna() & y.isna())).any():  # NaN on one side only differs too
        return None
    return _flows(wb, d0, d1, None, win)


def _flows(
    wb: Any, d0: pd.Timestamp, d1: pd.Timestamp, rep_ids: list[str] | None, win: tuple | None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The deals behind each bar (with ``cents``) and the open deals in the window at each end."""
    s0, s1 = _snap(wb, d0, rep_ids), _snap(wb, d1, rep_ids)

    def in_win(s: pd.DataFrame) -> pd.Series:
        ok = s["kind"] == "open"
        return ok & s["close_date"].between(*win) if win else ok

    cols = ["opp_id", "owner", "amount", "close_date", "stage", "kind"]
    a = s0.loc[in_win(s0), cols[:5]].rename(columns=lambda c: c if c == "opp_id" else c + "_0")
    b = s1.loc[in_win(s1), cols[:5]].rename(columns=lambda c: c if c == "opp_id" else c + "_1")
    m = a.merge(b, on="opp_id", how="outer", indicator=True)
    end_any = s1[cols].set_index("opp_id")
    start_any = s0[cols].set_index("opp_id")
    opps = _opps_by_id(wb)
    oid = m["opp_id"]
    kind1 = _look(oid, end_any["kind"])
    outcome = _look(oid, opps["outcome"])
    left, right, both = (m["_merge"] == s for s in ("left_only", "right_only", "both"))
    # Where deals that left the window-at-start went:
    still_open = left & (kind1 == "open")
    gone_as = kind1.fillna(outcome)  # end snapshot's stage kind, else the deal's outcome
    fate = np.select(
        [still_open, gone_as == "won", gone_as == "lost"],
        ["pushed_out", "won", "lost"],
        default="removed",
    )
    arrived_open = right & (_look(oid, start_any["kind"]) == "open")
    category = np.where(left, fate, np.where(arrived_open, "pulled_in", "new"))
    m["category"] = np.where(both, "stays", category)
    # Booked amount of won deals: the end snapshot's, else the opportunity's, else the last seen.
    booked = _look(oid, end_any["amount"]).where(kind1 == "won")
    booked = booked.fillna(_look(oid, opps["amount"]).where(outcome == "won")).fillna(m["amount_0"])
    m["amount_1"] = booked.where(m["category"] == "won", m["amount_1"])
    m["amount_1"] = m["amount_1"].fillna(_look(oid, end_any["amount"]))  # shown, not summed
    m["close_1"] = m["close_date_1"].fillna(_look(oid, end_any["close_date"]))
    m["close_1"] = m["close_1"].fillna(_look(oid, opps["close_date"]).where(outcome != "open"))
    m["stage_1"] = m["stage_1"].fillna(_look(oid, end_any["stage"]))
    m["stage_1"] = m["stage_1"].fillna(_look(oid, opps["stage"]))
    m["close_0"] = m["close_date_0"].fillna(_look(oid, start_any["close_date"]))
    m["stage_0"] = m["stage_0"].fillna(_look(oid, start_any["stage"]))
    m["rep_id"] = m["owner_0"].fillna(m["owner_1"])
    # Deals created and closed between the snapshots, never open in either.
    seen = set(m["opp_id"]) | set(start_any.index[start_any["kind"] == "open"])
    o = wb.opportunities.drop_duplicates("opp_id")
    quick = o[
        o["outcome"].isin(["won", "lost"])
        & o["close_date"].gt(d0)
        & o["close_date"].le(d1)
        & ~o["opp_id"].isin(seen)
        & (o["close_date"].between(*win) if win else True)
        & (o["rep_id"].isin(list(rep_ids)) if rep_ids is not None else True)
    ]
    q = pd.DataFrame({
        "opp_id": quick["opp_id"], "rep_id": quick["rep_id"], "amount_0": np.nan,
        "amount_1": quick["amount"], "close_0": pd.NaT, "close_1": quick["close_date"],
        "stage_0": np.nan, "stage_1": quick["stage"], "category": quick["outcome"],
    })  # fmt: skip
    rows = _deal_rows(m, q)
    rows["account"] = rows["opp_id"].map(opps["account"]) if "account" in opps else np.nan
    rows["direction"] = _direction(rows, win)
    rows["order"] = rows["category"].map(list(CATEGORIES).index)
    deals = rows.sort_values(["order", "amount", "opp_id"], ascending=[True, False, True])
    deals = deals[[*_DEAL_COLUMNS, "cents"]].reset_index(drop=True)
    return deals, a, b


def _assemble(
    d0: pd.Timestamp,
    d1: pd.Timestamp,
    win: tuple | None,
    deals: pd.DataFrame,
    a: pd.DataFrame,
    b: pd.DataFrame,
    notes: list[str],
) -> Waterfall:
    start_c, end_c = int(_cents(a["amount_0"]).sum()), int(_cents(b["amount_1"]).sum())
    cents = deals.groupby("category")["cents"].sum() if len(deals) else pd.Series(dtype="int64")
    counts = deals.groupby("category")["opp_id"].nunique() if len(deals) else pd.Series()
    amounts = {"start": start_c, "end": end_c} | {k: int(cents.get(k, 0)) for k in _FLOWS}
    n = {"start": len(a), "end": len(b)} | {k: int(counts.get(k, 0)) for k in _FLOWS}
    bars = pd.DataFrame({
        "category": list(CATEGORIES),
        "amount": [amounts[k] / 100 for k in CATEGORIES],
        "signed": [CATEGORIES[k] * amounts[k] / 100 for k in CATEGORIES],
        "deals": [n[k] for k in CATEGORIES],
    })  # fmt: skip
    out = Waterfall(d0, d1, win, bars, deals.drop(columns="cents"), notes)
    if not out.check():  # by construction; a failure here is a bug, not bad input
        raise ParameterError("The waterfall does not add up; this is a bug in salesnb.")
    return out


def _deal_rows(m: pd.DataFrame, quick: pd.DataFrame) -> pd.DataFrame:
    """Long table: one row per (deal, category) with the bar amount in cents."""
    base = ["opp_id", "rep_id", "amount_0", "amount_1", "close_0", "close_1", "stage_0",
            "stage_1"]  # fmt: skip
    a0, a1 = _cents(m["amount_0"].fillna(0)), _cents(m["amount_1"].fillna(0))
    cat = m["category"].to_numpy()
    # Flow of each deal: which bar, and how many cents.
    main_c = np.select(
        [np.isin(cat, ["pushed_out", "lost", "removed"]), np.isin(cat, ["new", "pulled_in"]),
         cat == "won"],
        [a0, a1, a1],
        default=0,
    )  # fmt: skip
    main = m.loc[cat != "stays", base].assign(
        category=cat[cat != "stays"], cents=main_c[cat != "stays"]
    )
    delta = np.where(np.isin(cat, ["stays", "won"]), a1 - a0, 0)
    ch = m.loc[delta != 0, base].assign(
        category=np.where(delta[delta != 0] > 0, "value_up", "value_down"),
        cents=np.abs(delta[delta != 0]),
    )
    qc = _cents(quick["amount_1"].fillna(0))
    q_new = quick[base].assign(category="new", cents=qc)
    q_end = quick[base].assign(category=quick["category"].to_numpy(), cents=qc)
    parts = [p for p in (main, ch, q_new, q_end) if len(p)]
    rows = pd.concat(parts, ignore_index=True) if parts else main.assign(cents=0)
    rows = rows.rename(columns={"amount_0": "amount_start", "amount_1": "amount_end",
                                "close_0": "close_start", "close_1": "close_end",
                                "stage_0": "stage_start", "stage_1": "stage_end"})  # fmt: skip
    rows["cents"] = rows["cents"].astype(np.int64)
    rows["amount"] = rows["cents"] / 100
    rows["effect"] = rows["amount"] * rows["category"].map(CATEGORIES).astype(float)
    return rows


def _direction(rows: pd.DataFrame, win: tuple | None) -> pd.Series:
    """'later'/'earlier' for deals that moved across the window's edge, else ''."""
    out = pd.Series("", index=rows.index, dtype=object)
    if win is None:
        return out
    moved = rows["category"].isin(["pushed_out", "pulled_in"])
    later = rows["close_end"] > rows["close_start"]
    out[moved & later] = "later"
    out[moved & ~later] = "earlier"
    return out


def push_counts(
    wb: Any,
    *,
    rep_ids: list[str] | None = None,
    min_days: int = 1,
    opp_ids: Any = None,
) -> pd.DataFrame:
    """How often each deal's expected close date moved later across consecutive snapshots.

    A push is a move later by at least ``min_days`` days between two consecutive snapshots
    in which the deal was open; a pull is a move earlier. ``opp_ids`` limits the work to
    those deals (same figures for them as without it).

    Returns
    -------
    DataFrame
        One row per deal seen in snapshots: ``opp_id``, ``rep_id`` (current owner),
        ``snapshots``, ``pushes``, ``pulls``, ``days_pushed`` (total days moved later),
        ``first_close_date``, ``last_close_date``, ``last_push`` (snapshot date of the last push).

    Examples
    --------
    >>> push_counts(wb).sort_values("pushes").tail(3)   # doctest: +SKIP
    """
    s = wb.snapshots
    if s.empty:
        return pd.DataFrame({
            "opp_id": pd.Series(dtype="str"), "rep_id": pd.Series(dtype="str"),
            "snapshots": pd.Series(dtype="int64"), "pushes": pd.Series(dtype="int64"),
            "pulls": pd.Series(dtype="int64"), "days_pushed": pd.Series(dtype="int64"),
            "first_close_date": pd.Series(dtype="M8[ns]"),
            "last_close_date": pd.Series(dtype="M8[ns]"), "last_push": pd.Series(dtype="M8[ns]"),
        })  # fmt: skip
    if opp_ids is not None:
        s = s[s["opp_id"].isin(list(opp_ids))]
    s = s.drop_duplicates(["opp_id", "as_of"], keep="last").sort_values(["opp_id", "as_of"])
    s = s[s["stage"].map(wb.config.stages.kind_of()).fillna("open") == "open"]
    g = s.groupby("opp_id", sort=False)
    prev = g["close_date"].shift()
    moved = (s["close_date"] - prev).dt.days
    s = s.assign(
        push=(moved >= min_days).astype("int64"),
        pull=(moved <= -min_days).astype("int64"),
        days=moved.where(moved >= min_days, 0).fillna(0).astype("int64"),
        push_date=s["as_of"].where(moved >= min_days),
    )
    out = s.groupby("opp_id", sort=True).agg(
        snapshots=("as_of", "size"),
        pushes=("push", "sum"),
        pulls=("pull", "sum"),
        days_pushed=("days", "sum"),
        first_close_date=("close_date", "first"),
        last_close_date=("close_date", "last"),
        last_push=("push_date", "max"),
    ).reset_index()  # fmt: skip
    snap_owner = s.groupby("opp_id")["rep_id"].last() if "rep_id" in s else None
    owner = out["opp_id"].map(_owners(wb))
    out.insert(1, "rep_id", owner.fillna(_look(out["opp_id"], snap_owner)) if snap_owner is not None
               else owner)  # fmt: skip
    if rep_ids is not None:
        out = out[out["rep_id"].isin(list(rep_ids))].reset_index(drop=True)
    return out


def attention_rules(overrides: Mapping[str, Any] | None = None, config: Any = None) -> dict:
    """Defaults < ``config.extra['attention']`` (``[attention]`` in TOML) < ``overrides``."""
    out: dict[str, Any] = dict(DEFAULT_ATTENTION_RULES)
    layers = [getattr(config, "extra", {}).get("attention", {}) if config is not None else {},
              overrides or {}]  # fmt: skip
    for layer in layers:
        for k, v in dict(layer).items():
            if k not in out:
                msg = f"Unknown attention rule {k!r}. Fix: use one of {sorted(out)}."
                raise ConfigError(msg)
            try:
                out[k] = None if v is None else float(v)
            except (TypeError, ValueError):
                raise ConfigError(f"Attention rule {k} = {v!r} is not a number.") from None
    if out["stale_after_days"] is None:
        out["stale_after_days"] = float(getattr(config, "stale_after_days", 30))
    return out


def _money(x: pd.Series, currency: str) -> pd.Series:
    """Whole amounts through the kit's one money formatter ("$1,250", "CHF 900")."""
    from salesnb.analytics.coaching_facts import format_money

    return x.map(lambda v: format_money(v, currency, compact=False))


def _stage_since(snaps: pd.DataFrame) -> pd.Series:
    """Per deal, the first snapshot date of its latest unbroken run in the current stage."""
    s = snaps.sort_values(["opp_id", "as_of"])
    changed = s["stage"].ne(s.groupby("opp_id")["stage"].shift())
    since = s["as_of"].where(changed).groupby(s["opp_id"]).ffill()
    last = s.assign(since=since).groupby("opp_id").last()
    return last[["stage", "since"]]


def deals_needing_attention(
    wb: Any,
    rep_ids: list[str] | None = None,
    as_of: Any = None,
    *,
    rules: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Open deals that need a manager's attention, each with the reasons, biggest first.

    Rules (thresholds in :data:`DEFAULT_ATTENTION_RULES`): ``stale`` (no change for more
    than ``stale_after_days``), ``past_due`` (close date before ``as_of``), ``pushed`` (close
    date pushed ``max_pushes`` times or more across snapshots), ``early_large`` (amount in
    the top ``1 - large_deal_quantile`` of open deals, still in one of the first
    ``early_stages`` stages, due this fiscal quarter with ``quarter_end_days`` or fewer
    left), ``long_in_stage`` (same stage for more than ``long_in_stage_days``, from
    snapshots; the data has no "next step" field, so this stands in for it),
    ``amount_dropped`` (amount down ``amount_drop_pct`` or more from its high in the last
    ``amount_drop_lookback_days``).

    Parameters
    ----------
    wb : Workbook
    rep_ids : list of str, optional
        Only these reps' deals (default: everyone).
    as_of : date-like, optional
        The day the clock is read at (default ``wb.as_of``); deals are the currently open ones.
    rules : dict, optional
        Overrides of the thresholds.

    Returns
    -------
    DataFrame
        ``opp_id, rep_id, account, stage, amount, close_date, days_to_close,
        amount_at_risk, rules_hit, n_flags, reasons`` sorted by ``amount_at_risk`` (the deal's
        amount, currency) then ``n_flags``, both descending; only flagged deals.

    Examples
    --------
    >>> deals_needing_attention(wb, ["R001"])[["opp_id", "reasons"]]   # doctest: +SKIP
    """
    r = attention_rules(rules, wb.config)
    today = pd.Timestamp(as_of).normalize() if as_of is not None else wb.as_of
    o = wb.opportunities
    o = o[(o["outcome"] == "open") & (o["created_date"] <= today)]
    if rep_ids is not None:
        o = o[o["rep_id"].isin(list(rep_ids))]
    o = o.drop_duplicates("opp_id").reset_index(drop=True)
    cur = wb.config.currency
    snaps = wb.snapshots[wb.snapshots["as_of"] <= today]
    snaps = snaps[snaps["opp_id"].isin(o["opp_id"])]
    flags: dict[str, tuple[pd.Series, pd.Series]] = {}

    # stale: last activity, else the last snapshot where anything changed, else creation.
    changed_at = pd.Series(dtype="M8[ns]")
    if len(snaps):
        s = snaps.sort_values(["opp_id", "as_of"])
        g = s.groupby("opp_id")
        diff = (
            s["stage"].ne(g["stage"].shift())
            | s["amount"].ne(g["amount"].shift())
            | s["close_date"].ne(g["close_date"].shift())
        )
        changed_at = s["as_of"].where(diff).groupby(s["opp_id"]).max()
    last = o["last_activity_date"] if "last_activity_date" in o else pd.Series(pd.NaT, o.index)
    last = last.fillna(_look(o["opp_id"], changed_at)).fillna(o["created_date"])
    idle = (today - last).dt.days
    flags["stale"] = (
        idle > r["stale_after_days"],
        "no change for " + idle.astype("Int64").astype(str) + " days",
    )
    due = (o["close_date"] - today).dt.days
    flags["past_due"] = (
        due < 0,
        "close date "
        + o["close_date"].dt.strftime("%Y-%m-%d")
        + " passed "
        + (-due).astype("Int64").astype(str)
        + " days ago",
    )
    pc = push_counts(wb, opp_ids=o["opp_id"]).set_index("opp_id") if len(snaps) else pd.DataFrame()
    pushes = _look(o["opp_id"], pc["pushes"]).fillna(0) if len(pc) else pd.Series(0, o.index)
    first_close = _look(o["opp_id"], pc["first_close_date"]) if len(pc) else o["close_date"]
    flags["pushed"] = (
        pushes >= r["max_pushes"],
        "close date pushed " + pushes.astype(int).astype(str) + " times ("
        + first_close.dt.strftime("%Y-%m-%d").fillna("?") + " → "
        + o["close_date"].dt.strftime("%Y-%m-%d").fillna("?") + ")",
    )  # fmt: skip
    # early_large: big, early and due this fiscal quarter with the quarter nearly over.
    cal = wb.config.calendar
    q_end = cal.period_bounds(cal.period_label(today, "Q"))[1]
    all_open = wb.opportunities.loc[wb.opportunities["outcome"] == "open", "amount"]
    big = all_open.quantile(r["large_deal_quantile"]) if len(all_open) else np.inf
    pos = o["stage"].map({s: i for i, s in enumerate(wb.config.stages.open_names)})
    left = (q_end - today).days
    flags["early_large"] = (
        (o["amount"] >= big) & (pos < r["early_stages"]) & (o["close_date"] <= q_end)
        & (left <= r["quarter_end_days"]),
        "large deal still in " + o["stage"] + f" with {left} days to quarter end",
    )  # fmt: skip
    # long_in_stage and amount_dropped need snapshots.
    no = pd.Series(False, index=o.index)
    if len(snaps):
        st = _stage_since(snaps)
        since = _look(o["opp_id"], st["since"]).where(_look(o["opp_id"], st["stage"]) == o["stage"])
        in_stage = (today - since).dt.days
        flags["long_in_stage"] = (
            in_stage > r["long_in_stage_days"],
            in_stage.astype("Int64").astype(str) + " days in " + o["stage"],
        )
        recent = snaps[snaps["as_of"] >= today - pd.Timedelta(days=r["amount_drop_lookback_days"])]
        recent = recent.sort_values(["opp_id", "amount", "as_of"], ascending=[True, False, True])
        high = recent.drop_duplicates("opp_id").set_index("opp_id")
        hi_amt, hi_date = _look(o["opp_id"], high["amount"]), _look(o["opp_id"], high["as_of"])
        drop = 1 - o["amount"] / hi_amt.where(hi_amt > 0)
        flags["amount_dropped"] = (
            drop >= r["amount_drop_pct"] - 1e-9,  # 500 -> 400 is a 20% drop despite floats
            "amount down " + (drop * 100).round().astype("Int64").astype(str) + "% since "
            + hi_date.dt.strftime("%Y-%m-%d").fillna("?") + " (from "
            + _money(hi_amt.fillna(0), cur) + " to " + _money(o["amount"], cur) + ")",
        )  # fmt: skip
    else:
        flags["long_in_stage"] = flags["amount_dropped"] = (no, pd.Series("", index=o.index))
    codes = pd.Series("", index=o.index)
    reasons = pd.Series("", index=o.index)
    n = pd.Series(0, index=o.index)
    for code, (hit, text) in flags.items():
        hit = hit.fillna(False).astype(bool)
        codes = codes.str.cat(np.where(hit, "," + code, ""))
        reasons = reasons.str.cat(np.where(hit, "; " + text.fillna(""), ""))
        n += hit.astype(int)
    out = o.assign(
        days_to_close=due.astype("Int64"),
        amount_at_risk=o["amount"],
        rules_hit=codes.str.lstrip(","),
        n_flags=n,
        reasons=reasons.str.removeprefix("; "),
    )
    cols = ["opp_id", "rep_id", "account", "stage", "amount", "close_date", "days_to_close",
            "amount_at_risk", "rules_hit", "n_flags", "reasons"]  # fmt: skip
    out = out.loc[n > 0, [c for c in cols if c in out.columns]]
    return out.sort_values(["amount_at_risk", "n_flags", "opp_id"],
                           ascending=[False, False, True]).reset_index(drop=True)  # fmt: skip

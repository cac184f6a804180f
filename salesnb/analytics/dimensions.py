"""KPIs by any dimension: product, source (channel), customer segment, industry, size, country
and the organisation (rep, region, manager, team), alone or combined.

Every function reads the deals as they stood at as-of (:func:`salesnb.analytics.kpis.deals_as_of`)
and keeps the kit's own definitions: win rate, average deal size, sales cycle (median days from
creation to close of the deals won) and pipeline are those of :mod:`salesnb.analytics.kpis`.
A deal whose dimension is blank (no product, an account missing from the accounts table) counts
under :data:`UNKNOWN`, so the groups always add up to the whole team.

Deal dimensions come from the opportunities (``product``, ``source``), organisation dimensions
from the owner's row in reps, customer dimensions from the optional accounts table through the
deal's account. Definitions are written out in ``docs/dimensions.md``.

These tables name reps and customers: they belong in a manager's document, or in a rep's
only after :meth:`salesnb.data.model.Workbook.subset` to that rep.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from salesnb.analytics.coaching_facts import format_value
from salesnb.analytics.kpibase import add_closed_rates, ratio
from salesnb.analytics.kpis import DateLike, deals_as_of
from salesnb.core.errors import ParameterError
from salesnb.data.model import Workbook, account_owners

By = str | Sequence[str] | None
#: The label of a deal (or account, or response) whose dimension is blank.
UNKNOWN = "(unknown)"
ORG = {"rep": "rep_id", "rep_id": "rep_id", "region": "region", "manager": "manager",
       "team": "team"}  # fmt: skip
DEAL = {"product": "product", "source": "source", "channel": "source"}
ACCOUNT = {"segment": "segment", "industry": "industry", "size": "size", "country": "country"}
#: Every name ``by=`` accepts (``channel`` is another name for ``source``).
DIMENSIONS = (*ORG, *DEAL, *ACCOUNT)
#: The fewest survey responses a satisfaction figure is shown for.
MIN_RESPONSES = 5

__all__ = [
    "DIMENSIONS", "MIN_RESPONSES", "UNKNOWN", "acquisition", "channel_efficiency", "date_window",
    "kpis_by",
    "parse_by", "product_mix", "retention", "satisfaction_summary",
]  # fmt: skip


# --------------------------------------------------------------------------- dimensions
def parse_by(by: By, wb: Workbook | None = None, allowed: Sequence[str] = DIMENSIONS) -> list[str]:
    """The canonical column names of ``by``: one dimension, a list, or ``"region,product"``.

    A :class:`ParameterError` names an unknown dimension, or one the data lacks (no product
    on any deal, no accounts table for a segment ...), with the fix.

    Examples
    --------
    >>> parse_by("region,channel")
    ['region', 'source']
    """
    items = [] if by is None else by.split(",") if isinstance(by, str) else list(by)
    names = {**ORG, **DEAL, **ACCOUNT}
    cols: list[str] = []
    for raw in items:
        item = str(raw).strip()
        if item in names and item not in allowed:
            msg = (f"by={item!r} describes deals, not customers, so it cannot group this "
                   f"KPI (of accounts). Fix: use one of {', '.join(allowed)}.")  # fmt: skip
            raise ParameterError(msg)
        if item not in allowed:
            import difflib

            close = difflib.get_close_matches(item, list(allowed), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            msg = f"by={item!r} is not a dimension.{hint} Fix: use one of {', '.join(allowed)}"
            raise ParameterError(msg + " (comma-separated to combine, e.g. 'region,product').")
        col = names[item]
        if wb is not None:
            _check_present(wb, item, col)
        if col not in cols:
            cols.append(col)
    return cols


def _check_present(wb: Workbook, item: str, col: str) -> None:
    if col in DEAL.values() and wb.opportunities[col].isna().all():
        msg = f"by={item!r}: the data has no {col} on any deal."
        fix = (f"map the export's {col} column to '{col}' in the import profile "
               "(docs/profiles.md), or group by another dimension.")  # fmt: skip
        raise ParameterError(f"{msg} Fix: {fix}")
    if col in ACCOUNT.values():
        if wb.accounts.empty:
            msg = f"by={item!r}: the data has no accounts table, so deals have no {col}."
            fix = ("add accounts.csv (account, segment, industry, size, country, owner; "
                   "docs/dimensions.md).")  # fmt: skip
            raise ParameterError(f"{msg} Fix: {fix}")
        if wb.accounts[col].isna().all():
            msg = f"by={item!r}: the accounts table has no {col} for any account."
            raise ParameterError(f"{msg} Fix: fill in the {col} column of the accounts table.")


def _labels(wb: Workbook, frame: pd.DataFrame, cols: list[str], rep: pd.Series) -> pd.DataFrame:
    """The group labels of each row of ``frame`` (an ``account`` column; ``rep`` its owner)."""
    out = {}
    reps = wb.reps.drop_duplicates("rep_id").set_index("rep_id")
    acc = wb.accounts.drop_duplicates("account").set_index("account")
    for c in cols:
        if c == "rep_id":
            v = rep
        elif c in ORG.values():
            v = rep.map(reps[c])
        elif c in DEAL.values():
            v = frame[c]
        else:
            v = frame["account"].map(acc[c]) if len(acc) else pd.Series(np.nan, index=frame.index)
        out[c] = pd.Series(v.to_numpy(dtype=object), index=frame.index).fillna(UNKNOWN).astype(str)
    return pd.DataFrame(out, index=frame.index)


def date_window(
    wb: Workbook, start: DateLike, end: DateLike, period: str | None
) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """A KPI window's first and last day (None: open-ended), from ``start``/``end`` or a
    fiscal ``period``; a ParameterError says what to fix.

    Examples
    --------
    >>> date_window(_example(), "2026-01-01", None, None)
    (Timestamp('2026-01-01 00:00:00'), None)
    """
    if period is not None:
        if start is not None or end is not None:
            raise ParameterError("period was given with start/end. Fix: pass one or the other.")
        start, end = wb.config.calendar.period_bounds(str(period))
    from salesnb.core.dates import to_day

    out = []
    for name, v in (("start", start), ("end", end)):
        ts = None if v is None else to_day(v)
        if v is not None and pd.isna(ts):
            msg = f"{name}={v!r} is not a date. Fix: pass an ISO date such as '2026-09-30'."
            raise ParameterError(msg)
        out.append(ts)
    if out[0] is not None and out[1] is not None and out[0] > out[1]:
        raise ParameterError(f"start {out[0].date()} is after end {out[1].date()}. Fix: swap them.")
    return out[0], out[1]


def _in(dates: pd.Series, start, end) -> np.ndarray:
    bounded = start is not None or end is not None
    ok = np.array(dates.notna(), dtype=bool) if bounded else np.ones(len(dates), bool)
    if start is not None:
        ok &= (dates >= start).to_numpy()
    if end is not None:
        ok &= (dates <= end).to_numpy()
    return ok


def _group(keys: pd.DataFrame, values: dict[str, pd.Series], how: dict[str, str]) -> pd.DataFrame:
    """One row per distinct key combination, sorted by the keys; ``how`` is sum, median or mean.

    The keys are factorised into one integer code per row, so a million rows aggregate in
    numpy (``bincount``) rather than through a groupby on several string columns.
    """
    cols = list(keys.columns)
    if not cols:
        df = pd.DataFrame(values, index=keys.index)
        return pd.DataFrame({k: [getattr(df[k], how[k])()] for k in values})
    code = np.zeros(len(keys), dtype=np.int64)
    uniques = []
    for c in cols:
        k, u = pd.factorize(keys[c], sort=True)
        code = code * max(len(u), 1) + k
        uniques.append(u)
    inv, cells = pd.factorize(code, sort=True)
    n = len(cells)
    out: dict[str, object] = {}
    rest = np.asarray(cells, dtype=np.int64)
    decoded = []
    for u in reversed(uniques):
        decoded.append(np.asarray(u, dtype=object)[rest % max(len(u), 1)])
        rest = rest // max(len(u), 1)
    for c, v in zip(cols, reversed(decoded), strict=True):
        out[c] = pd.Series(v, dtype=object)
    for name, series in values.items():
        v = series.to_numpy()
        if how[name] == "sum":
            total = np.bincount(inv, weights=v.astype(float), minlength=n)
            integer = np.issubdtype(v.dtype, np.integer) or v.dtype == bool
            out[name] = total.round().astype(np.int64) if integer else total
        else:
            agg = pd.Series(v.astype(float)).groupby(inv).agg(how[name])
            out[name] = agg.reindex(range(n)).to_numpy(dtype=float)
    return pd.DataFrame(out)


def _periods(wb: Workbook, dates: pd.Series, freq: str) -> pd.Series:
    """The fiscal period label of each date (:data:`UNKNOWN` for a missing one), labelling each
    distinct month once."""
    month = np.asarray(dates, dtype="datetime64[ns]").astype("datetime64[M]")
    codes, months = pd.factorize(month.astype(np.int64))
    first = np.asarray(months, dtype=np.int64).astype("datetime64[M]").astype("datetime64[ns]")
    labels = wb.config.calendar.period_of(pd.Series(first), freq).to_numpy(dtype=object)
    labels[pd.isna(first)] = UNKNOWN
    return pd.Series(labels[codes] if len(codes) else [], index=dates.index, dtype=object)


# --------------------------------------------------------------------------- deal KPIs
def kpis_by(
    wb: Workbook, by: By = "product", *, freq: str | None = None, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """The deal KPIs of a window grouped by any dimensions, one row per group (and period).

    Definitions (those of :mod:`salesnb.analytics.kpis`): over deals closed in the window,
    ``won_deals``, ``lost_deals``, ``bookings`` (amount won, currency), ``win_rate`` = won /
    (won + lost) by count, ``win_rate_value`` by amount, ``avg_deal_size`` = bookings / won
    deals, ``median_cycle_days`` = median days from creation to close of the deals won; over
    deals open at as-of with an expected close in the window, ``open_deals`` and
    ``pipeline`` (currency). No window: all of history up to as-of.

    Parameters
    ----------
    by : str or list of str
        Any of :data:`DIMENSIONS`, a list, or ``"region,product"``; None for the whole team.
    freq : {None, "M", "Q", "Y"}
        Adds a ``period`` column after the group keys: each deal counts in the fiscal month
        (``"2026-03"``), quarter (``"FY2026-Q1"``) or year of its close date (expected close
        for open deals), so the periods of a group add up to its row without ``freq``. Only
        periods in which a group has a deal closing appear; a deal without a close date counts
        under :data:`UNKNOWN`.
    start, end : date-like, optional
        The window (inclusive); or ``period`` such as ``"FY2026-Q3"``.
    as_of : date-like, optional
        The day the report is run (default the data's as-of date).

    Examples
    --------
    >>> kpis_by(_example(), by="source")[["source", "won_deals", "win_rate", "median_cycle_days"]]
         source  won_deals  win_rate  median_cycle_days
    0   inbound          4       1.0               75.5
    1  outbound          1       0.5               55.0
    2   partner          0       NaN                NaN
    >>> t = kpis_by(_example(), "rep", freq="Q", start="2026-01-01")
    >>> t[["rep_id", "period", "won_deals", "bookings", "open_deals"]]
      rep_id     period  won_deals  bookings  open_deals
    0     r1  FY2026-Q1          2    1000.0           0
    1     r1  FY2026-Q2          0       0.0           1
    2     r2  FY2026-Q1          0       0.0           1
    """
    cols = parse_by(by, wb)
    if freq not in (None, "M", "Q", "Y"):
        msg = f"freq={freq!r} is not a period. Fix: use 'M' (month), 'Q' (quarter), 'Y' or None."
        raise ParameterError(msg)
    lo, hi = date_window(wb, start, end, period)
    o = deals_as_of(wb, as_of)
    if freq is not None:  # only deals closing in the window add to a period
        o = o[_in(o["close_date"], lo, hi)]
    keys = _labels(wb, o, cols, o["rep_id"])
    if freq is not None:
        keys["period"] = _periods(wb, o["close_date"], freq)
    outcome, amount = o["outcome"], o["amount"].astype(float)
    closed = _in(o["close_date"], lo, hi)
    won = (outcome == "won").to_numpy() & closed
    lost = (outcome == "lost").to_numpy() & closed
    is_open = (outcome == "open").to_numpy() & _in(o["close_date"], lo, hi)
    cycle = (o["close_date"] - o["created_date"]).dt.days.astype(float)
    vals = {
        "won_deals": pd.Series(won.astype(int), index=o.index),
        "lost_deals": pd.Series(lost.astype(int), index=o.index),
        "bookings": amount.where(won, 0.0),
        "lost_amount": amount.where(lost, 0.0),
        "cycle": cycle.where(won),
        "open_deals": pd.Series(is_open.astype(int), index=o.index),
        "pipeline": amount.where(is_open, 0.0),
    }
    how = {k: "sum" for k in vals} | {"cycle": "median"}
    out = _group(keys, vals, how).rename(columns={"cycle": "median_cycle_days"})
    add_closed_rates(out)  # the scorecard's own definitions
    cols = [*cols, "period"] if freq is not None else cols
    order = [*cols, "won_deals", "lost_deals", "bookings", "lost_amount", "win_rate",
             "win_rate_value", "avg_deal_size", "median_cycle_days", "open_deals",
             "pipeline"]  # fmt: skip
    return out[order]


def channel_efficiency(
    wb: Workbook,
    by: By = None,
    *,
    start: DateLike = None,
    end: DateLike = None,
    period: str | None = None,
    as_of: DateLike = None,
) -> pd.DataFrame:
    """Channel efficiency: per lead source, what it books and how well it converts.

    Definition: per source (channel), over deals closed in the window: ``bookings``
    (currency), ``bookings_share`` (of all bookings of the window), ``won_deals``,
    ``lost_deals``, ``win_rate`` = won / (won + lost), ``median_cycle_days`` (median days
    from creation to close of the deals won) and ``avg_deal_size`` = bookings / won deals.
    ``by`` adds other dimensions in front of the source (e.g. ``"region"``).

    Examples
    --------
    >>> channel_efficiency(_example())[["source", "bookings", "bookings_share"]]
         source  bookings  bookings_share
    0   inbound    1300.0          0.8125
    1  outbound     300.0          0.1875
    2   partner       0.0          0.0000
    """
    cols = parse_by(by, wb)
    t = kpis_by(wb, [*cols, "source"], start=start, end=end, period=period, as_of=as_of)
    total = t["bookings"].sum()
    t["bookings_share"] = ratio(t["bookings"], np.full(len(t), total))
    keep = ["bookings", "bookings_share", "won_deals", "lost_deals", "win_rate",
            "median_cycle_days", "avg_deal_size"]  # fmt: skip
    return t[[*cols, "source", *keep]]


def product_mix(
    wb: Workbook,
    by: By = None,
    *,
    start: DateLike = None,
    end: DateLike = None,
    period: str | None = None,
    as_of: DateLike = None,
) -> pd.DataFrame:
    """Product mix: each product's share of bookings and of pipeline, within each group.

    Definition: per product, ``bookings`` (deals won in the window, currency) and
    ``bookings_share`` = the product's bookings / the group's bookings; ``pipeline`` (open
    at as-of, expected close in the window) and ``pipeline_share`` likewise; ``won_deals``.
    Without ``by`` the group is the whole team. Shares are NaN where the group has none.

    Examples
    --------
    >>> product_mix(_example())[["product", "bookings", "bookings_share"]]
      product  bookings  bookings_share
    0       X     700.0          0.4375
    1       Y     900.0          0.5625
    """
    cols = parse_by(by, wb)
    t = kpis_by(wb, [*cols, "product"], start=start, end=end, period=period, as_of=as_of)
    for what in ("bookings", "pipeline"):
        total = t.groupby(cols)[what].transform("sum") if cols else t[what].sum()
        t[f"{what}_share"] = ratio(t[what], total)
    keep = ["won_deals", "bookings", "bookings_share", "pipeline", "pipeline_share"]
    return t[[*cols, "product", *keep]]


# --------------------------------------------------------------------------- customers
_CUSTOMER_BY = (*ORG, *ACCOUNT)


def _won_by_account(wb: Workbook, as_of: DateLike) -> tuple[pd.DataFrame, pd.Timestamp]:
    o = deals_as_of(wb, as_of)
    when = pd.Timestamp(as_of).normalize() if as_of is not None else wb.as_of.normalize()
    won = o[(o["outcome"] == "won") & o["account"].notna() & (o["close_date"] <= when)]
    return won[["account", "rep_id", "close_date", "amount"]], when


def _account_keys(wb: Workbook, accounts: pd.Index, cols: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({"account": accounts.to_numpy(dtype=object)}, index=accounts)
    owner = frame["account"].map(account_owners(wb.opportunities, wb.accounts))
    return _labels(wb, frame, cols, owner)


def retention(
    wb: Workbook, by: By = None, *, window_days: int = 365, as_of: DateLike = None
) -> pd.DataFrame:
    """Retention and repeat business of customers (accounts with a won deal).

    Definitions, with *this window* = the ``window_days`` to as-of and *last window* the
    ``window_days`` before it:

    - ``customers_last`` = accounts with a deal won in the last window;
      ``retained`` = those of them with a deal won in this window, ``lapsed`` = the others,
      ``retention_rate`` = retained / customers_last.
    - ``revenue_last`` = their bookings in the last window; ``revenue_retained`` = their
      bookings in this window; ``revenue_retention`` = revenue_retained / revenue_last
      (above 1 when they bought more).
    - ``first_buyers_last`` = accounts whose first ever won deal closed in the last window;
      ``bought_again`` = those that won another deal within ``window_days`` after that first
      deal; ``repeat_rate`` = bought_again / first_buyers_last (each had a full window).

    Deals without an account are left out. ``by`` groups accounts by a customer dimension
    (segment, industry, size, country) or by their owner's rep, region, manager or team
    (:func:`salesnb.data.model.account_owners`).

    Examples
    --------
    >>> retention(_example())[["customers_last", "retained", "revenue_retention", "repeat_rate"]]
       customers_last  retained  revenue_retention  repeat_rate
    0               3         1           1.666667     0.333333
    """
    cols = parse_by(by, wb, _CUSTOMER_BY)
    if int(window_days) < 1:
        raise ParameterError(f"window_days={window_days!r}. Fix: pass a number of days >= 1.")
    won, when = _won_by_account(wb, as_of)
    w = pd.Timedelta(days=int(window_days))
    this = won["close_date"] > when - w
    last = (won["close_date"] > when - 2 * w) & ~this
    g = won.groupby("account")
    first = g["close_date"].min()
    accounts = pd.Index(sorted(set(won["account"])), name="account")
    per = pd.DataFrame(index=accounts)
    per["n_last"] = won[last].groupby("account").size().reindex(accounts, fill_value=0)
    per["n_this"] = won[this].groupby("account").size().reindex(accounts, fill_value=0)
    per["rev_last"] = won[last].groupby("account")["amount"].sum().reindex(accounts, fill_value=0.0)
    per["rev_this"] = won[this].groupby("account")["amount"].sum().reindex(accounts, fill_value=0.0)
    first = first.reindex(accounts)
    is_first = (first > when - 2 * w) & (first <= when - w)
    later = won.assign(first=g["close_date"].transform("min"))
    again = later[
        (later["close_date"] > later["first"]) & (later["close_date"] <= later["first"] + w)
    ]
    # a second deal won the same day as the first counts as buying again
    same_day = later[later["close_date"] == later["first"]].groupby("account").size() > 1
    again_acc = set(again["account"]) | set(same_day[same_day].index)
    cust = per["n_last"] > 0
    vals = {
        "customers_last": cust.astype(int),
        "retained": (cust & (per["n_this"] > 0)).astype(int),
        "lapsed": (cust & (per["n_this"] == 0)).astype(int),
        "revenue_last": per["rev_last"].where(cust, 0.0),
        "revenue_retained": per["rev_this"].where(cust, 0.0),
        "first_buyers_last": is_first.astype(int),
        "bought_again": (is_first & per.index.isin(list(again_acc))).astype(int),
    }
    keys = _account_keys(wb, accounts, cols)
    out = _group(keys, vals, {k: "sum" for k in vals})
    out["retention_rate"] = ratio(out["retained"], out["customers_last"])
    out["revenue_retention"] = ratio(out["revenue_retained"], out["revenue_last"])
    out["repeat_rate"] = ratio(out["bought_again"], out["first_buyers_last"])
    order = ["customers_last", "retained", "lapsed", "retention_rate", "revenue_last",
             "revenue_retained", "revenue_retention", "first_buyers_last", "bought_again",
             "repeat_rate"]  # fmt: skip
    return out[[*cols, *order]]


def acquisition(
    wb: Workbook, by: By = "segment", *, start: DateLike = None, end: DateLike = None,
    period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """New-customer acquisition: accounts won for the first time in the window, per group.

    Definition: ``new_accounts`` = accounts whose first ever won deal (up to as-of) closed in
    the window; ``new_bookings`` = their bookings in the window (currency);
    ``won_accounts`` = all accounts with a deal won in the window; ``new_share`` =
    new_accounts / won_accounts. Without a window: the 365 days to as-of.

    Examples
    --------
    >>> acquisition(_example(), by="segment", start="2024-01-01")
          segment  new_accounts  new_bookings  won_accounts  new_share
    0   (unknown)             1         200.0             1        1.0
    1  Enterprise             1         300.0             1        1.0
    2         SMB             1        1100.0             1        1.0
    """
    cols = parse_by(by, wb, _CUSTOMER_BY)
    won, when = _won_by_account(wb, as_of)
    lo, hi = date_window(wb, start, end, period)
    if lo is None and hi is None:
        lo, hi = when - pd.Timedelta(days=364), when
    inside = won[_in(won["close_date"], lo, hi)]
    first = won.groupby("account")["close_date"].min()
    accounts = pd.Index(sorted(set(inside["account"])), name="account")
    is_new = pd.Series(_in(first.reindex(accounts), lo, hi), index=accounts)
    bookings = inside.groupby("account")["amount"].sum().reindex(accounts, fill_value=0.0)
    vals = {
        "new_accounts": is_new.astype(int),
        "new_bookings": bookings.where(is_new, 0.0),
        "won_accounts": pd.Series(1, index=accounts),
    }
    out = _group(_account_keys(wb, accounts, cols), vals, {k: "sum" for k in vals})
    out["new_share"] = ratio(out["new_accounts"], out["won_accounts"])
    return out[[*cols, "new_accounts", "new_bookings", "won_accounts", "new_share"]]


def satisfaction_summary(
    wb: Workbook, by: By = "rep", *, min_n: int = MIN_RESPONSES, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Customer satisfaction per group and survey kind, with the number of responses.

    Definitions, over the responses dated in the window (all up to as-of without one):
    ``responses`` (n); ``mean_score``; for CSAT (1-5) ``score`` = the share of responses
    of 4 or 5 (satisfied), for NPS (0-10) ``score`` = % promoters (9-10) - % detractors
    (0-6), from -100 to 100. With fewer than ``min_n`` responses both are NaN and
    ``reading`` says "unknown". A response counts for the owner of its account
    (:func:`salesnb.data.model.account_owners`) and for the account's segment.

    Examples
    --------
    >>> satisfaction_summary(_example())[["rep_id", "kind", "responses", "reading"]]
      rep_id  kind  responses                         reading
    0     r1  csat          5             80% satisfied (n=5)
    1     r2   nps          3  unknown: 3 responses, 5 needed
    """
    cols = parse_by(by, wb, _CUSTOMER_BY)
    if int(min_n) < 1:
        raise ParameterError(f"min_n={min_n!r}. Fix: pass a number of responses >= 1.")
    s = wb.satisfaction
    when = pd.Timestamp(as_of).normalize() if as_of is not None else wb.as_of.normalize()
    lo, hi = date_window(wb, start, end, period)
    s = s[(s["date"] <= when) & _in(s["date"], lo, hi)]
    owner = s["account"].map(account_owners(deals_as_of(wb, as_of), wb.accounts))
    keys = _labels(wb, s, cols, owner)
    keys["kind"] = s["kind"].astype(str)
    score = s["score"].astype(float)
    csat = s["kind"] == "csat"
    good = np.where(csat, score >= 4, score >= 9).astype(float)
    bad = np.where(csat, 0.0, score <= 6).astype(float)
    vals = {"responses": pd.Series(1, index=s.index), "mean_score": score,
            "good": pd.Series(good, index=s.index),
            "bad": pd.Series(bad, index=s.index)}  # fmt: skip
    out = _group(
        keys, vals, {"responses": "sum", "mean_score": "mean", "good": "sum", "bad": "sum"}
    )
    if s.empty:
        out = out.iloc[0:0]
    n = out["responses"].to_numpy(dtype=float)
    share = (out["good"] - out["bad"]).to_numpy(dtype=float) / np.where(n > 0, n, 1)
    out["score"] = np.where(out["kind"] == "nps", 100 * share, share) if len(out) else []
    few = n < int(min_n)
    out.loc[few, ["mean_score", "score"]] = np.nan
    out["reading"] = [
        (f"unknown: {int(k)} response{'s' if k != 1 else ''}, {int(min_n)} needed" if f
         else f"{format_value(v, 'percent')} satisfied (n={int(k)})" if kind == "csat"
         else f"NPS {format_value(v, 'count', signed=True)} (n={int(k)})")
        for k, f, v, kind in zip(n, few, out["score"], out["kind"], strict=True)
    ]  # fmt: skip
    return out[[*cols, "kind", "responses", "mean_score", "score", "reading"]].reset_index(
        drop=True
    )


def _example() -> Workbook:
    """Eight deals of two reps over five accounts, with products, sources, segments and survey
    responses (as of 2026-03-31); the docstring examples and the hand-computed tests use it."""
    from salesnb.data.config import load_config

    d = pd.to_datetime
    reps = pd.DataFrame(
        {"rep_id": ["r1", "r2"], "name": ["Ann", "Bo"], "manager": ["M", "M"],
         "region": ["East", "West"], "team": ["East", "West"],
         "start_date": d(["2024-01-01", "2024-01-01"])}
    )  # fmt: skip
    opps = pd.DataFrame(
        {"opp_id": [f"o{i}" for i in range(1, 9)],
         "rep_id": ["r1", "r1", "r1", "r1", "r2", "r2", "r2", "r1"],
         "account": ["A", "A", "B", "C", "D", "D", "E", "A"],
         "product": ["X", "Y", "X", "X", "Y", "Y", "X", "X"],
         "stage": ["Closed Won", "Closed Won", "Closed Lost", "Proposal", "Demo", "Closed Won",
                   "Closed Won", "Closed Won"],
         "amount": [400.0, 600.0, 500.0, 1000.0, 500.0, 300.0, 200.0, 100.0],
         "created_date": d(["2025-12-01", "2026-01-01", "2026-01-10", "2026-03-01", "2026-01-10",
                            "2025-01-05", "2024-11-01", "2024-06-01"]),
         "close_date": d(["2026-01-15", "2026-02-20", "2026-02-01", "2026-04-30", "2026-03-15",
                          "2025-03-01", "2025-02-10", "2025-03-20"]),
         "outcome": ["won", "won", "lost", "open", "open", "won", "won", "won"],
         "forecast_category": None,
         "source": ["inbound", "inbound", "outbound", "partner", "inbound", "outbound",
                    "inbound", "inbound"],
         "furthest_stage": None, "last_activity_date": pd.NaT}
    )  # fmt: skip
    accounts = pd.DataFrame(
        {"account": ["A", "B", "C", "D"], "segment": ["SMB", "Enterprise", "SMB", "Enterprise"],
         "industry": ["Retail", "Energy", "Retail", "Energy"], "size": None, "country": None,
         "owner": ["r1", None, None, "r2"]}
    )  # fmt: skip
    sat = pd.DataFrame(
        {"account": ["A"] * 5 + ["D"] * 3,
         "date": d(["2026-01-20", "2026-01-25", "2026-02-01", "2026-02-25", "2026-03-01",
                    "2025-06-01", "2025-09-01", "2026-01-05"]),
         "score": [5.0, 4.0, 4.0, 3.0, 5.0, 10.0, 9.0, 6.0],
         "kind": ["csat"] * 5 + ["nps"] * 3}
    )  # fmt: skip
    cfg = load_config(overrides={"as_of": "2026-03-31"})
    return Workbook(reps, opps, cfg, accounts=accounts, satisfaction=sat)

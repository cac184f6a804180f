"""What customers buy together, renew and why deals are lost: product attach, renewals and
churned accounts, loss reasons.

Every function reads the deals as they stood at as-of (:func:`salesnb.analytics.kpis.deals_as_of`)
and groups like :mod:`salesnb.analytics.dimensions` (``by=`` a dimension, a list, or
``"region,product"``; a blank dimension counts under :data:`UNKNOWN`). Definitions are written
out in ``docs/dimensions.md``:

- :func:`attach_matrix` and :func:`attach_rates`: of the customers (accounts with a won deal)
  that bought product A in the window, the share that also bought product B in it; per product,
  the accounts that bought it alongside another product out of all accounts that bought.
- :func:`renewals`: renewal deals (``deal_type`` "renewal") due in the window, renewed (won)
  or lost (churned), by count and value. Only where the data has renewal deals; otherwise the
  figures are not known, and the frame says why in ``frame.attrs["reason"]``.
- :func:`loss_reasons`: lost deals and their value per loss reason, "not recorded" for blanks.

These tables name reps and customers: they belong in a manager's document, or in a rep's
only after :meth:`salesnb.data.model.Workbook.subset` to that rep.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesnb.analytics.dimensions import (
    ACCOUNT,
    DIMENSIONS,
    ORG,
    UNKNOWN,
    By,
    date_window,
    parse_by,
)
from salesnb.analytics.kpibase import ratio
from salesnb.analytics.kpis import DateLike, deals_as_of
from salesnb.data.model import Workbook, account_owners

#: The label of a lost deal whose loss reason is blank.
NOT_RECORDED = "not recorded"
#: The ``deal_type`` of a renewal deal (:data:`salesnb.data.schema.DEAL_TYPES`).
RENEWAL = "renewal"
#: The groups customer figures accept: the account owner's organisation, or the account's own.
CUSTOMER_BY = (*ORG, *ACCOUNT)

__all__ = [
    "CUSTOMER_BY", "NOT_RECORDED", "RENEWAL", "attach_matrix", "attach_rates", "loss_reasons",
    "renewals",
]  # fmt: skip


# --------------------------------------------------------------------------- helpers
def _as_of(wb: Workbook, as_of: DateLike) -> pd.Timestamp:
    return pd.Timestamp(as_of).normalize() if as_of is not None else wb.as_of.normalize()


def _inside(dates: pd.Series, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> np.ndarray:
    ok = np.array(dates.notna(), dtype=bool)
    if lo is not None:
        ok &= (dates >= lo).to_numpy()
    if hi is not None:
        ok &= (dates <= hi).to_numpy()
    return ok


def _keys(wb: Workbook, frame: pd.DataFrame, cols: list[str], rep: pd.Series) -> pd.DataFrame:
    """The group labels of the rows of ``frame`` (its ``account`` and, for deal dimensions,
    its ``product`` and ``source``); ``rep`` is the rep each row counts for."""
    reps = wb.reps.drop_duplicates("rep_id").set_index("rep_id")
    acc = wb.accounts.drop_duplicates("account").set_index("account")
    out = {}
    for c in cols:
        if c == "rep_id":
            v = rep
        elif c in ORG.values():
            v = rep.map(reps[c])
        elif c in ACCOUNT.values():
            v = frame["account"].map(acc[c]) if len(acc) else pd.Series(np.nan, frame.index)
        else:
            v = frame[c]
        out[c] = pd.Series(v.to_numpy(dtype=object), index=frame.index).fillna(UNKNOWN).astype(str)
    return pd.DataFrame(out, index=frame.index)


def _won_products(wb: Workbook, lo, hi, as_of: DateLike, cols: list[str]) -> pd.DataFrame:
    """One row per (account, product) bought in the window, with the account's group labels."""
    when = _as_of(wb, as_of)
    if lo is None and hi is None:
        lo, hi = when - pd.Timedelta(days=364), when
    o = deals_as_of(wb, as_of)
    won = o[(o["outcome"] == "won").to_numpy() & o["account"].notna().to_numpy()
            & o["product"].notna().to_numpy() & _inside(o["close_date"], lo, hi)
            & (o["close_date"] <= when).to_numpy()]  # fmt: skip
    pairs = won[["account", "product"]].astype(str).drop_duplicates()
    pairs = pairs.sort_values(["account", "product"]).reset_index(drop=True)
    owner = pairs["account"].map(account_owners(wb.opportunities, wb.accounts))
    return pd.concat([_keys(wb, pairs, cols, owner), pairs], axis=1)


# --------------------------------------------------------------------------- attach
def attach_matrix(
    wb: Workbook, by: By = None, *, start: DateLike = None, end: DateLike = None,
    period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Product attach: of the customers that bought product A in the window, how many also
    bought product B in it.

    Definition: a customer is an account with a deal won (closed) in the window; without a
    window, the 365 days to as-of. Per group and ordered pair of products A != B:
    ``buyers`` = accounts that bought A, ``also_bought`` = those of them that also bought B,
    ``attach_share`` = also_bought / buyers. Deals without an account or a product are left
    out. ``by`` groups accounts by a customer dimension (segment, industry, size, country) or
    by their owner's rep, region, manager or team (:func:`salesnb.data.model.account_owners`).

    Examples
    --------
    >>> attach_matrix(_example())
      product with_product  buyers  also_bought  attach_share
    0       X            Y       3            2      0.666667
    1       Y            X       2            2      1.000000
    """
    cols = parse_by(by, wb, CUSTOMER_BY)
    pa = _won_products(wb, *date_window(wb, start, end, period), as_of, cols)
    buyers = pa.groupby([*cols, "product"], sort=True).size().rename("buyers").reset_index()
    other = buyers[[*cols, "product"]].rename(columns={"product": "with_product"})
    grid = buyers.merge(other, on=cols, how="inner") if cols else buyers.merge(other, how="cross")
    grid = grid[grid["product"] != grid["with_product"]]
    both = pa.merge(pa.rename(columns={"product": "with_product"}), on=[*cols, "account"])
    both = both[both["product"] != both["with_product"]]
    keys = [*cols, "product", "with_product"]
    count = both.groupby(keys).size().rename("also_bought")
    out = grid.merge(count.reset_index(), on=keys, how="left")
    out["also_bought"] = out["also_bought"].fillna(0).astype(np.int64)
    out["buyers"] = out["buyers"].astype(np.int64)
    out["attach_share"] = ratio(out["also_bought"], out["buyers"])
    out = out.sort_values(keys, kind="stable").reset_index(drop=True)
    return out[[*keys, "buyers", "also_bought", "attach_share"]]


def attach_rates(
    wb: Workbook, by: By = None, *, start: DateLike = None, end: DateLike = None,
    period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Per product, how often it is bought alongside another product.

    Definition, over the customers of the window (as in :func:`attach_matrix`): per group,
    ``customers`` = accounts that bought anything; per product, ``buyers`` = accounts that
    bought it, ``attached`` = those of them that bought another product too, and
    ``attach_rate`` = attached / customers.

    Examples
    --------
    >>> attach_rates(_example())
      product  customers  buyers  attached  attach_rate
    0       X          3       3         2     0.666667
    1       Y          3       2         2     0.666667
    """
    cols = parse_by(by, wb, CUSTOMER_BY)
    pa = _won_products(wb, *date_window(wb, start, end, period), as_of, cols)
    n_products = pa.groupby("account")["product"].transform("size")
    pa = pa.assign(attached=(n_products > 1).astype(np.int64), buyers=np.int64(1))
    out = pa.groupby([*cols, "product"], sort=True)[["buyers", "attached"]].sum().reset_index()
    if cols:
        customers = pa.drop_duplicates("account").groupby(cols).size().rename("customers")
        out = out.merge(customers.reset_index(), on=cols, how="left")
    else:
        out["customers"] = pa["account"].nunique()
    out["customers"] = out["customers"].astype(np.int64)
    out["attach_rate"] = ratio(out["attached"], out["customers"])
    return out[[*cols, "product", "customers", "buyers", "attached", "attach_rate"]]


# --------------------------------------------------------------------------- renewals
_RENEWAL_COLUMNS = ["renewals_due", "due_value", "renewed", "renewed_value", "churned",
                    "churned_value", "churned_accounts", "open_renewals", "open_value",
                    "renewal_rate", "value_renewal_rate"]  # fmt: skip


def _no_renewals(cols: list[str], reason: str) -> pd.DataFrame:
    out = pd.DataFrame(columns=[*cols, *_RENEWAL_COLUMNS])
    out.attrs["reason"] = reason
    return out


def renewals(
    wb: Workbook, by: By = None, *, start: DateLike = None, end: DateLike = None,
    period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Renewals and churned accounts: the renewal deals due in the window and how they ended.

    Definition: a renewal is a deal whose ``deal_type`` is "renewal"; it is *due* in the window
    when its close date (for an open deal, the expected one) falls in it; without a window,
    every renewal due up to as-of. Per group: ``renewals_due`` and ``due_value`` (currency);
    ``renewed`` (won) and ``churned`` (lost), each with its value; ``churned_accounts`` =
    distinct accounts with a churned renewal (one without an account counts as one);
    ``open_renewals`` and ``open_value`` not decided at as-of; ``renewal_rate`` = renewed /
    (renewed + churned) and ``value_renewal_rate`` likewise by value.

    When the data has no renewal deal at all (no ``deal_type`` column, or no deal typed
    "renewal"), renewals are not known: the frame is empty and ``frame.attrs["reason"]`` says
    why in words (the documents print it); likewise when no renewal falls due in the window.
    Otherwise ``attrs["reason"]`` is None. Groups as :func:`salesnb.analytics.dimensions.kpis_by`
    (org dimensions by the deal's rep).

    Examples
    --------
    >>> t = renewals(_example(), start="2026-01-01")
    >>> t[["renewals_due", "renewed", "churned", "churned_value", "renewal_rate"]]
       renewals_due  renewed  churned  churned_value  renewal_rate
    0             4        1        2          700.0      0.333333
    >>> renewals(_example(typed=False)).attrs["reason"][:40]
    'Renewals and churned accounts are not kn'
    """
    cols = parse_by(by, wb, DIMENSIONS)
    lo, hi = date_window(wb, start, end, period)
    when = _as_of(wb, as_of)
    o = deals_as_of(wb, as_of)
    kind = o["deal_type"] if "deal_type" in o.columns else pd.Series(np.nan, o.index)
    if not (kind == RENEWAL).any():
        typed = kind.notna().any()
        why = ("no deal is typed a renewal (the deal types are "
               f"{', '.join(sorted(set(kind.dropna().astype(str))))})" if typed
               else "the deals carry no deal type")  # fmt: skip
        return _no_renewals(cols, (
            f"Renewals and churned accounts are not known: {why}. Fix: map the CRM's deal "
            "type (Salesforce 'Type', HubSpot 'Deal Type') to deal_type in the import profile, "
            "with renewals as 'renewal' (docs/dimensions.md)."))  # fmt: skip
    if lo is None and hi is None:
        hi = when
    r = o[(kind == RENEWAL).to_numpy() & _inside(o["close_date"], lo, hi)]
    if r.empty:
        span = (f"up to {hi:%Y-%m-%d}" if lo is None else f"from {lo:%Y-%m-%d} on" if hi is None
                else f"from {lo:%Y-%m-%d} to {hi:%Y-%m-%d}")  # fmt: skip
        return _no_renewals(cols, f"No renewal fell due {span}, so there is no renewal rate.")
    keys = _keys(wb, r, cols, r["rep_id"])
    amount = r["amount"].astype(float)
    won, lost = (r["outcome"] == "won").to_numpy(), (r["outcome"] == "lost").to_numpy()
    is_open = (r["outcome"] == "open").to_numpy()
    frame = keys.assign(
        renewals_due=1, due_value=amount, renewed=won.astype(int),
        renewed_value=amount.where(won, 0.0), churned=lost.astype(int),
        churned_value=amount.where(lost, 0.0), open_renewals=is_open.astype(int),
        open_value=amount.where(is_open, 0.0),
        who=r["account"].astype(object).where(r["account"].notna(), "opp:" + r["opp_id"]),
    )  # fmt: skip
    sums = [c for c in _RENEWAL_COLUMNS[:9] if c != "churned_accounts"]
    if cols:
        g = frame.groupby(cols, sort=True)
        out = g[sums].sum()
        out["churned_accounts"] = frame[lost].groupby(cols)["who"].nunique()
        out = out.reset_index()
    else:
        out = frame[sums].sum().to_frame().T
        out["churned_accounts"] = frame.loc[lost, "who"].nunique()
    out["churned_accounts"] = out["churned_accounts"].fillna(0).astype(np.int64)
    for c in ("renewals_due", "renewed", "churned", "open_renewals"):
        out[c] = out[c].astype(np.int64)
    for c in ("due_value", "renewed_value", "churned_value", "open_value"):
        out[c] = out[c].astype(float)
    out["renewal_rate"] = ratio(out["renewed"], out["renewed"] + out["churned"])
    out["value_renewal_rate"] = ratio(
        out["renewed_value"], out["renewed_value"] + out["churned_value"]
    )
    out = out[[*cols, *_RENEWAL_COLUMNS]].reset_index(drop=True)
    out.attrs["reason"] = None
    return out


# --------------------------------------------------------------------------- loss reasons
def loss_reasons(
    wb: Workbook, by: By = None, *, start: DateLike = None, end: DateLike = None,
    period: str | None = None, as_of: DateLike = None,
) -> pd.DataFrame:  # fmt: skip
    """Why deals were lost: lost deals and their value per loss reason, within each group.

    Definition: over the deals lost (closed) in the window (without one, all up to as-of):
    per group and ``loss_reason`` (a blank one, or data without the column, reads
    :data:`NOT_RECORDED`), ``lost_deals``, ``lost_value`` (currency), ``share`` = the reason's
    lost deals / the group's and ``value_share`` likewise by value. Rows run by group, then
    by the most deals lost. Groups as :func:`salesnb.analytics.dimensions.kpis_by`.

    Examples
    --------
    >>> loss_reasons(_example())
        loss_reason  lost_deals  lost_value  share  value_share
    0         Price           2       700.0   0.50     0.583333
    1        Timing           1       200.0   0.25     0.166667
    2  not recorded           1       300.0   0.25     0.250000
    """
    cols = parse_by(by, wb, DIMENSIONS)
    lo, hi = date_window(wb, start, end, period)
    when = _as_of(wb, as_of)
    o = deals_as_of(wb, as_of)
    lost = o[(o["outcome"] == "lost").to_numpy() & _inside(o["close_date"], lo, hi)
             & (o["close_date"] <= when).to_numpy()]  # fmt: skip
    keys = _keys(wb, lost, cols, lost["rep_id"])
    raw = lost["loss_reason"] if "loss_reason" in lost.columns else pd.Series(np.nan, lost.index)
    text = raw.astype(object).where(raw.notna(), "").astype(str).str.strip()
    keys["loss_reason"] = text.where(text != "", NOT_RECORDED)
    frame = keys.assign(lost_deals=1, lost_value=lost["amount"].astype(float))
    out = frame.groupby([*cols, "loss_reason"], sort=True)[["lost_deals", "lost_value"]].sum()
    out = out.reset_index()
    out["lost_deals"] = out["lost_deals"].astype(np.int64)
    out["lost_value"] = out["lost_value"].astype(float)
    for what, share in (("lost_deals", "share"), ("lost_value", "value_share")):
        total = out.groupby(cols)[what].transform("sum") if cols else out[what].sum()
        out[share] = ratio(out[what], total)
    order = out.assign(_n=-out["lost_deals"], _blank=out["loss_reason"] == NOT_RECORDED)
    order = order.sort_values([*cols, "_n", "_blank", "loss_reason"], kind="stable")
    return order[[*cols, "loss_reason", "lost_deals", "lost_value", "share", "value_share"]
                 ].reset_index(drop=True)  # fmt: skip


def _example(typed: bool = True) -> Workbook:
    """Eleven deals of two reps over five accounts with products, deal types and loss reasons
    (as of 2026-03-31); the docstring examples and the hand-computed tests use it."""
    from salesnb.data.config import load_config

    d = pd.to_datetime
    reps = pd.DataFrame(
        {"rep_id": ["r1", "r2"], "name": ["Ann", "Bo"], "manager": ["M", "M"],
         "region": ["East", "West"], "team": ["East", "West"],
         "start_date": d(["2024-01-01", "2024-01-01"])}
    )  # fmt: skip
    won, lost, new, exp, ren = "won", "lost", "new_business", "expansion", "renewal"
    rows = [  # rep, account, product, outcome, amount, created, close, type, loss reason
        ("r1", "A", "X", won, 400.0, "2025-12-01", "2026-01-15", new, None),
        ("r1", "A", "Y", won, 600.0, "2026-01-01", "2026-02-20", exp, None),
        ("r1", "B", "X", won, 300.0, "2025-11-10", "2026-01-05", ren, None),
        ("r1", "C", "X", lost, 500.0, "2026-01-10", "2026-02-01", ren, "Price"),
        ("r2", "D", "Y", lost, 200.0, "2026-01-10", "2026-03-15", ren, "Timing"),
        ("r2", "D", "Y", won, 800.0, "2025-10-05", "2026-01-20", new, None),
        ("r2", "E", "X", lost, 300.0, "2025-09-01", "2026-03-01", new, "  "),
        ("r1", "C", "Y", "open", 900.0, "2026-02-01", "2026-04-30", ren, None),
        ("r1", "B", "Y", won, 200.0, "2025-01-10", "2025-03-01", new, None),
        ("r2", "E", "Y", lost, 200.0, "2026-01-02", "2026-02-10", new, "Price"),
        ("r2", "D", "X", won, 100.0, "2026-03-01", "2026-03-20", exp, None),
    ]
    cols = ["rep_id", "account", "product", "outcome", "amount", "created_date", "close_date",
            "deal_type", "loss_reason"]  # fmt: skip
    opps = pd.DataFrame(rows, columns=cols)
    opps.insert(0, "opp_id", [f"o{i}" for i in range(1, len(opps) + 1)])
    stage = {"won": "Closed Won", "lost": "Closed Lost", "open": "Proposal"}
    opps["stage"] = opps["outcome"].map(stage)
    for c in ("created_date", "close_date"):
        opps[c] = d(opps[c])
    opps = opps.assign(forecast_category=None, source="inbound", furthest_stage=None,
                       last_activity_date=pd.NaT)  # fmt: skip
    if not typed:
        opps = opps.drop(columns=["deal_type"])
    accounts = pd.DataFrame(
        {"account": ["A", "B", "C", "D"], "segment": ["SMB", "Enterprise", "SMB", "Enterprise"],
         "industry": None, "size": None, "country": None, "owner": ["r1", None, None, "r2"]}
    )  # fmt: skip
    cfg = load_config(overrides={"as_of": "2026-03-31"})
    return Workbook(reps, opps, cfg, accounts=accounts)

"""The typed data set every analysis works on: :class:`Workbook`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from salesnb.core.errors import ParameterError, Problem
from salesnb.data import memo
from salesnb.data.config import Config
from salesnb.data.schema import LATER_COLUMNS, OPTIONAL_TABLES, TABLES, columns

_ROW_KEYS = {
    "reps": ["rep_id"],
    "opportunities": ["opp_id"],
    "targets": ["rep_id", "region", "month"],
    "activities": ["rep_id", "date", "type"],
    "snapshots": ["as_of", "opp_id"],
    "accounts": ["account"],
    "satisfaction": ["account", "date", "kind", "score"],
    "calls": ["subject_type", "subject", "period", "as_of", "category", "amount"],
}


#: A date more than this after every other date of the data is a typo (2099 for 2024), not
#: the data's "today": it is left out when the as-of date is inferred.
FAR_FUTURE = pd.Timedelta(days=365)


def as_of_dates(opportunities: Any, activities: Any = None, snapshots: Any = None) -> list:
    """``(table, column, dates)`` the data's as-of date is inferred from: deals created, deals
    closed (won or lost), activities, snapshots. The tables are frames or dicts of columns."""
    out = []
    for table, frame, col in (("opportunities", opportunities, "created_date"),
                              ("activities", activities, "date"),
                              ("snapshots", snapshots, "as_of")):  # fmt: skip
        if frame is not None and col in frame:
            out.append((table, col, frame[col]))
    o = opportunities
    if o is not None and "close_date" in o and "outcome" in o:
        out.append(("opportunities", "close_date", o["close_date"].where(o["outcome"] != "open")))
    return out


def far_future_cutoff(dates: list[pd.Series]) -> pd.Timestamp | None:
    """The first of the latest dates that lie more than :data:`FAR_FUTURE` after all the
    others (every date from it on is such a typo), or None.

    Only a few dates can be typos: at most 3, or 1 % of the dates, and fewer than half.

    Examples
    --------
    >>> d = pd.Series(pd.to_datetime(["2024-01-05", "2024-02-01", "2024-03-01", "2099-02-12"]))
    >>> far_future_cutoff([d])
    Timestamp('2099-02-12 00:00:00')
    >>> far_future_cutoff([d.iloc[:3]]) is None
    True
    """
    parts = [np.asarray(d, dtype="datetime64[ns]") for d in dates]
    values = np.concatenate(parts) if parts else np.array([], "datetime64[ns]")
    values = values[~np.isnat(values)]
    n = len(values)
    k = min(max(3, n // 100), (n - 1) // 2)  # the most dates that may be typos
    if k < 1:
        return None
    top = np.sort(np.partition(values, n - k - 1)[n - k - 1 :])  # the k + 1 latest
    gaps = np.flatnonzero(np.diff(top) > FAR_FUTURE.to_timedelta64())
    return pd.Timestamp(top[gaps[0] + 1]) if len(gaps) else None


def account_owners(opportunities: Any, accounts: Any = None) -> pd.Series:
    """account -> the rep who owns it: ``accounts.owner`` where given, else the rep of the
    account's latest deal (by created date).

    Examples
    --------
    >>> o = pd.DataFrame({"account": ["A", "A", "B"], "rep_id": ["R1", "R2", "R1"],
    ...                   "created_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-01"])})
    >>> account_owners(o).to_dict()
    {'B': 'R1', 'A': 'R2'}
    """
    parts = []
    if opportunities is not None:
        o = opportunities.sort_values("created_date", kind="stable").dropna(subset=["account"])
        parts.append(o.set_index("account")["rep_id"])
    if accounts is not None and len(accounts):
        a = accounts.dropna(subset=["owner"])
        parts.append(a.set_index("account")["owner"])
    both = pd.concat(parts) if parts else pd.Series(dtype="str")
    return both[~both.index.duplicated(keep="last")]


#: The "currency" of an export without amounts: figures are numbers of deals.
COUNT_UNIT = "deals"


def empty_table(name: str) -> pd.DataFrame:
    """An empty canonical table with the right columns and dtypes."""
    data = {}
    for c in TABLES[name]:
        dtype = {"str": "str", "date": "datetime64[ns]", "float": "float64", "int": "int64"}[c.kind]
        data[c.name] = pd.Series([], dtype=dtype)
    return pd.DataFrame(data)


def latest_date(dates: list[pd.Series]) -> pd.Timestamp:
    """The latest of ``dates`` before :func:`far_future_cutoff`; today if there is none."""
    cutoff = far_future_cutoff(dates)
    latest = [d[d < cutoff].max() if cutoff is not None else d.max() for d in dates]
    valid = [x for x in latest if pd.notna(x)]
    return max(valid) if valid else pd.Timestamp.today().normalize()


@dataclass
class Workbook:
    """A team's CRM data in the canonical model, validated and typed.

    Attributes
    ----------
    reps, opportunities, targets, activities, snapshots : DataFrame
        The canonical tables (see :mod:`salesnb.data.schema`); absent tables are empty.
    accounts, satisfaction : DataFrame
        The optional dimension tables (customer segment, industry ...; survey scores);
        empty when the data has none.
    calls : DataFrame
        The optional managers' forecast calls (:mod:`salesnb.data.calls`); empty when none.
    config : Config
        Stage catalogue, fiscal calendar, currency, thresholds.
    source : str
        Where the data came from (folder, URL with the password removed).
    warnings : list of Problem
        Non-fatal findings from validation (e.g. a rep with no deals).

    Examples
    --------
    >>> wb = salesnb.load("data/sample")          # doctest: +SKIP
    >>> wb.opportunities.groupby("rep_id").amount.sum()  # doctest: +SKIP
    """

    reps: pd.DataFrame
    opportunities: pd.DataFrame
    config: Config
    targets: pd.DataFrame = field(default_factory=lambda: empty_table("targets"))
    activities: pd.DataFrame = field(default_factory=lambda: empty_table("activities"))
    snapshots: pd.DataFrame = field(default_factory=lambda: empty_table("snapshots"))
    source: str = ""
    warnings: list[Problem] = field(default_factory=list)
    accounts: pd.DataFrame = field(default_factory=lambda: empty_table("accounts"))
    satisfaction: pd.DataFrame = field(default_factory=lambda: empty_table("satisfaction"))
    calls: pd.DataFrame = field(default_factory=lambda: empty_table("calls"))

    TABLE_NAMES = (
        "reps", "opportunities", "targets", "activities", "snapshots", "accounts", "satisfaction",
        "calls",
    )  # fmt: skip

    @property
    def counts_only(self) -> bool:
        """True when the export has no amounts: every deal's amount is 1 (a profile's fill of
        1, or an export of counts). Money figures are then deal counts (see
        :data:`COUNT_UNIT`), and value-only figures such as deal size are left out."""
        amount = self.opportunities["amount"]
        key = id(amount)
        hit = self.__dict__.get("_counts_only")
        if hit is not None and hit[0] == key and hit[1] is amount:
            return hit[2]
        a = amount.to_numpy(dtype=float, na_value=np.nan)
        a = a[~np.isnan(a)]
        out = bool(len(a)) and bool(np.all(a == 1.0))
        self.__dict__["_counts_only"] = (key, amount, out)
        return out

    @property
    def unit(self) -> str:
        """What amounts are in: the configured currency, or :data:`COUNT_UNIT` ("deals") when
        :attr:`counts_only`. Pass it wherever a currency is asked for."""
        return COUNT_UNIT if self.counts_only else self.config.currency

    @property
    def as_of(self) -> pd.Timestamp:
        """The data's as-of date: configured, else the latest date any table holds (deals
        created or closed, activities, snapshots), leaving out dates far in the future of
        all the others (:func:`far_future_cutoff`: typos such as 2099)."""
        if self.config.as_of is not None:
            return pd.Timestamp(self.config.as_of)
        return latest_date([d for _, _, d in as_of_dates(
            self.opportunities, self.activities, self.snapshots)])  # fmt: skip

    def table(self, name: str) -> pd.DataFrame:
        return getattr(self, name)

    def __getstate__(self) -> dict:
        # a seal (salesnb.data.memo) names this process's pandas blocks: meaningless elsewhere
        state = self.__dict__.copy()
        state.pop(memo.SEAL_ATTR, None)
        return state

    def fingerprint(self) -> str:
        """A short, stable hash of the data's content (16 hex characters).

        Two workbooks with the same rows give the same fingerprint whatever
        file format they were read from. Computed once for data that ``salesnb.load``
        returned and that was not edited since (see :mod:`salesnb.data.memo`).
        """
        return memo.fingerprint(self, self._content_hash)

    def _content_hash(self) -> str:
        h = hashlib.sha256()
        for name in self.TABLE_NAMES:
            if name in OPTIONAL_TABLES and not len(self.table(name)):
                continue  # an absent optional table leaves the fingerprint as it was
            # Row order is the source's business, not the data's: a database and a CSV file
            # holding the same rows must give the same fingerprint.
            table = self.table(name)
            later = LATER_COLUMNS.get(name, ())
            cols = [c for c in columns(name) if c not in later
                    or (c in table.columns and table[c].notna().any())]  # fmt: skip
            df = table[cols]
            df = df.sort_values(_ROW_KEYS[name], kind="stable", na_position="first")
            h.update(name.encode())
            h.update(pd.util.hash_pandas_object(df, index=False).values.tobytes())
        return h.hexdigest()[:16]

    def rep_ids(self) -> list[str]:
        return sorted(self.reps["rep_id"].tolist())

    def rep(self, rep_id: str) -> pd.Series:
        """The reps row of ``rep_id``; a :class:`ParameterError` naming close matches if unknown."""
        # a plain array comparison: each document looks its rep up (pandas' boolean .loc cost
        # most of resolving a document's subject)
        pos = np.flatnonzero(self.reps["rep_id"].to_numpy(dtype=object) == rep_id)
        if not len(pos):
            by_name = self.reps.loc[self.reps["name"] == rep_id]
            if len(by_name) == 1:
                return by_name.iloc[0]
            import difflib

            options = self.reps["rep_id"].tolist() + self.reps["name"].tolist()
            close = difflib.get_close_matches(str(rep_id), options, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            ids = self.rep_ids()
            shown = ", ".join(map(repr, ids[:8])) + (
                f" ... ({len(ids)} in all)" if len(ids) > 8 else ""
            )
            msg = (
                f"Unknown rep {rep_id!r}.{hint} Fix: use a rep_id from the reps table "
                f"({shown}; `salesnb kpis DATA --by rep` lists them)."
            )
            raise ParameterError(msg)
        return self.reps.iloc[pos[0]]

    def subset(self, rep_ids: list[str]) -> Workbook:
        """The same workbook restricted to some reps (targets of their regions kept)."""
        keep = set(rep_ids)
        reps = self.reps[self.reps["rep_id"].isin(keep)]
        opps = self.opportunities[self.opportunities["rep_id"].isin(keep)]
        regions = set(reps["region"])
        t = self.targets
        targets = t[t["rep_id"].isin(keep) | (t["rep_id"].isna() & t["region"].isin(regions))]
        acts = self.activities[self.activities["rep_id"].isin(keep)]
        snaps = self.snapshots[self.snapshots["opp_id"].isin(set(opps["opp_id"]))]
        # accounts: those the kept reps own or sold to (no other rep's customers)
        a = self.accounts
        mine = set(opps["account"].dropna())
        accounts = a[a["account"].isin(mine) | a["owner"].isin(keep)]
        if len(accounts) and not accounts["owner"].isin(keep).all():  # another rep's id: blank
            accounts = accounts.assign(owner=accounts["owner"].where(accounts["owner"].isin(keep)))
        sat = self.satisfaction
        sat = sat[sat["account"].isin(set(accounts["account"]) | mine)]
        # calls: the kept reps' own, and those of their managers, regions and teams
        c, kind = self.calls, self.calls["subject_type"]
        ours = (kind == "all") | ((kind == "rep") & c["subject"].isin(keep))
        for k in ("manager", "region", "team"):
            ours |= (kind == k) & c["subject"].isin(set(reps[k].dropna()))
        return replace(
            self, reps=reps, opportunities=opps, targets=targets, activities=acts, snapshots=snaps,
            accounts=accounts, satisfaction=sat, calls=c[ours],
        )  # fmt: skip

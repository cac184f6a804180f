"""The typed data set every analysis works on: :class:`Workbook`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from salesnb import memo
from salesnb.config import Config
from salesnb.errors import ParameterError, Problem
from salesnb.schema import TABLES, columns

_ROW_KEYS = {
    "reps": ["rep_id"],
    "opportunities": ["opp_id"],
    "targets": ["rep_id", "region", "month"],
    "activities": ["rep_id", "date", "type"],
    "snapshots": ["as_of", "opp_id"],
}


def empty_table(name: str) -> pd.DataFrame:
    """An empty canonical table with the right columns and dtypes."""
    data = {}
    for c in TABLES[name]:
        dtype = {"str": "str", "date": "datetime64[ns]", "float": "float64", "int": "int64"}[c.kind]
        data[c.name] = pd.Series([], dtype=dtype)
    return pd.DataFrame(data)


@dataclass
class Workbook:
    """A team's CRM data in the canonical model, validated and typed.

    Attributes
    ----------
    reps, opportunities, targets, activities, snapshots : DataFrame
        The canonical tables (see :mod:`salesnb.schema`); absent tables are empty.
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

    TABLE_NAMES = ("reps", "opportunities", "targets", "activities", "snapshots")

    @property
    def as_of(self) -> pd.Timestamp:
        """The data's as-of date: configured, else the latest date any table holds."""
        if self.config.as_of is not None:
            return pd.Timestamp(self.config.as_of)
        candidates = [
            self.snapshots["as_of"].max() if len(self.snapshots) else pd.NaT,
            self.opportunities["created_date"].max() if len(self.opportunities) else pd.NaT,
            self.activities["date"].max() if len(self.activities) else pd.NaT,
        ]
        closed = self.opportunities.loc[self.opportunities["outcome"] != "open", "close_date"]
        candidates.append(closed.max() if len(closed) else pd.NaT)
        valid = [c for c in candidates if pd.notna(c)]
        return max(valid) if valid else pd.Timestamp.today().normalize()

    def table(self, name: str) -> pd.DataFrame:
        return getattr(self, name)

    def __getstate__(self) -> dict:
        # a seal (salesnb.memo) names this process's pandas blocks: meaningless elsewhere
        state = self.__dict__.copy()
        state.pop(memo.SEAL_ATTR, None)
        return state

    def fingerprint(self) -> str:
        """A short, stable hash of the data's content (16 hex characters).

        Two workbooks with the same rows give the same fingerprint whatever
        file format they were read from. Computed once for data that ``salesnb.load``
        returned and that was not edited since (see :mod:`salesnb.memo`).
        """
        return memo.fingerprint(self, self._content_hash)

    def _content_hash(self) -> str:
        h = hashlib.sha256()
        for name in self.TABLE_NAMES:
            # Row order is the source's business, not the data's: a database and a CSV file
            # holding the same rows must give the same fingerprint.
            df = self.table(name)[columns(name)]
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
        return replace(
            self, reps=reps, opportunities=opps, targets=targets, activities=acts, snapshots=snaps
        )

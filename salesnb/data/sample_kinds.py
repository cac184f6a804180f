"""The sample's deal types (new business, renewal, expansion) and loss reasons.

Deal types are derived from the finished deals alone, without a random draw; loss reasons
are drawn from their own random stream (``numpy.random.default_rng([seed, STREAM])``). So
adding them leaves every draw of the core tables, and every existing figure of the sample,
exactly as it was: the two columns are appended to the deals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The second entropy word of the loss reasons' random stream (issue 22; the accounts and
#: satisfaction tables use 22).
STREAM = 23
#: A deal is a renewal when its account won the same product this many days before its
#: close date (about a year: 10 to 14 months).
RENEWAL_DAYS = (300, 430)
#: Loss reasons and how likely each is for a deal lost early (the first two open stages),
#: in the middle (the third) and late (the last two); the last weight is "not recorded".
LOSS_REASONS = ("Price", "Competitor", "No decision", "Timing", "No budget", "Product fit")
_LOSS_P = {
    "early": (0.05, 0.10, 0.25, 0.10, 0.22, 0.13, 0.15),
    "middle": (0.12, 0.18, 0.18, 0.10, 0.08, 0.22, 0.12),
    "late": (0.32, 0.28, 0.12, 0.12, 0.04, 0.04, 0.08),
}


def deal_types(opps: pd.DataFrame) -> pd.Series:
    """The kind of each deal, from the deals alone (no random draw).

    ``renewal`` when the deal's account won the same product between
    :data:`RENEWAL_DAYS` days before the deal's close date (expected close for an open
    deal); else ``expansion`` when the account had won any deal by the day this one was
    created (a repeat customer); else ``new_business``. A deal without an account is left
    blank.

    Examples
    --------
    >>> o = pd.DataFrame({"account": ["A", "A", "A", "B"], "product": ["X", "X", "Y", "X"],
    ...     "outcome": ["won", "lost", "won", "won"],
    ...     "created_date": pd.to_datetime(["2024-01-01", "2024-12-01", "2024-03-01", "2024-01-01"]),
    ...     "close_date": pd.to_datetime(["2024-02-01", "2025-02-10", "2024-04-01", "2024-02-01"])})
    >>> deal_types(o).tolist()
    ['new_business', 'renewal', 'expansion', 'new_business']
    """
    o = opps.reset_index(drop=True)
    pos = pd.Series(np.arange(len(o)), name="pos")
    won = o.loc[o["outcome"] == "won", ["account", "product", "close_date"]]
    won = won.rename(columns={"close_date": "bought"}).dropna(subset=["account"])
    deals = pd.concat([pos, o[["account", "product", "created_date", "close_date"]]], axis=1)
    same = deals.merge(won, on=["account", "product"])
    days = (same["close_date"] - same["bought"]).dt.days
    renewal = set(same.loc[days.between(*RENEWAL_DAYS), "pos"])
    first = won.groupby("account")["bought"].min()
    customer = (o["created_date"] >= o["account"].map(first)).to_numpy()
    kind = np.where(customer, "expansion", "new_business").astype(object)
    kind[np.fromiter(sorted(renewal), dtype=np.int64, count=len(renewal))] = "renewal"
    kind[o["account"].isna().to_numpy()] = None
    return pd.Series(kind, index=opps.index, dtype="str")


def loss_reasons(seed: int, opps: pd.DataFrame, open_names: list[str]) -> pd.Series:
    """A loss reason for each lost deal (blank for the others), drawn from the stream
    ``default_rng([seed, 23])`` with odds by the stage the deal was lost at
    (:data:`_LOSS_P`): early losses are mostly "No decision" or "No budget", late ones
    "Price" or "Competitor"; some are not recorded (blank), as in real CRMs.

    Examples
    --------
    >>> o = pd.DataFrame({"outcome": ["lost", "won"], "furthest_stage": ["Negotiation", "x"]})
    >>> r = loss_reasons(1, o, ["Prospecting", "Qualification", "Demo", "Proposal", "Negotiation"])
    >>> r.isna().tolist()[1]
    True
    """
    rng = np.random.default_rng([int(seed), STREAM])
    lost = (opps["outcome"] == "lost").to_numpy()
    at = opps["furthest_stage"].map({s: i for i, s in enumerate(open_names)}).to_numpy()
    phase = np.where(at <= 1, "early", np.where(at == 2, "middle", "late"))
    u = rng.random(len(opps))  # one draw per deal, lost or not: the stream stays aligned
    out = np.full(len(opps), None, dtype=object)
    labels = np.array([*LOSS_REASONS, None], dtype=object)
    for name, p in _LOSS_P.items():
        rows = lost & (phase == name)
        cut = np.cumsum(p) / np.sum(p)
        out[rows] = labels[np.minimum(np.searchsorted(cut, u[rows], side="right"), len(p) - 1)]
    return pd.Series(out, index=opps.index, dtype="str")

"""The sample's optional dimension tables: ``accounts`` (segment, industry, size, country,
owner) and ``satisfaction`` (CSAT after won deals, yearly NPS).

They are drawn from the finished deals with their own random stream
(``numpy.random.default_rng([seed, STREAM])``), so adding them leaves every draw of the core
tables, and so every existing figure of the sample, exactly as it was.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The second entropy word of the dimension tables' random stream (issue 22).
STREAM = 22
INDUSTRIES = (
    "Technology", "Manufacturing", "Healthcare", "Retail", "Financial services", "Logistics",
    "Energy", "Education",
)  # fmt: skip
_INDUSTRY_P = (0.24, 0.18, 0.13, 0.12, 0.11, 0.09, 0.07, 0.06)
SEGMENTS = ("SMB", "Mid-market", "Enterprise")
_SIZES = {"SMB": ("1-50", "51-200"), "Mid-market": ("201-1000",),
          "Enterprise": ("1001-5000", "5000+")}  # fmt: skip
_COUNTRIES_NA = ("United States", "United States", "United States", "Canada")
_COUNTRIES_EU = ("United Kingdom", "Germany", "France", "Netherlands", "Sweden", "Spain")
_EU_WORDS = ("EMEA", "Europe", "UK", "DACH", "Nordic", "France", "Germany", "Iberia")


def _text(values) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=object), dtype="str")


def dimension_tables(
    seed: int, reps: pd.DataFrame, opps: pd.DataFrame, as_of: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sample's ``accounts`` and ``satisfaction`` tables, drawn from its finished deals.

    Parameters
    ----------
    seed : int
        The sample's seed; the tables use their own stream ``default_rng([seed, 22])``.
    reps, opportunities : DataFrame
        The sample's canonical reps and deals (each account belongs to one rep).
    as_of : Timestamp
        No survey response is dated after it.

    Returns
    -------
    accounts, satisfaction : DataFrame
        One row per account of the deals (segment by its largest deal: the top 15 %
        Enterprise, the next 35 % Mid-market, the rest SMB); survey responses: a CSAT
        (1-5) for about half of the won deals 5-30 days after the close, and an NPS (0-10)
        about once a year from customers, each rep's customers a little happier or less.

    Examples
    --------
    >>> from salesnb.data.sample import generate
    >>> t = generate(seed=1)
    >>> sorted(t["accounts"]["segment"].unique())
    ['Enterprise', 'Mid-market', 'SMB']
    """
    rng = np.random.default_rng([int(seed), STREAM])
    o = opps.dropna(subset=["account"])
    per = o.groupby("account", sort=True).agg(rep_id=("rep_id", "first"), top=("amount", "max"))
    n = len(per)
    rank = per["top"].rank(method="first", ascending=False).to_numpy() / max(n, 1)
    segment = np.where(rank <= 0.15, "Enterprise", np.where(rank <= 0.5, "Mid-market", "SMB"))
    industry = np.asarray(INDUSTRIES, dtype=object)[rng.choice(len(INDUSTRIES), n, p=_INDUSTRY_P)]
    pick = rng.random(n)
    size = [_SIZES[s][int(p * len(_SIZES[s]))] for s, p in zip(segment, pick, strict=True)]
    region = per["rep_id"].map(reps.set_index("rep_id")["region"]).fillna("")
    eu = region.map(lambda r: any(w in r for w in _EU_WORDS)).to_numpy()
    pick = rng.random(n)
    country = [
        (_COUNTRIES_EU if e else _COUNTRIES_NA)[int(p * (6 if e else 4))]
        for e, p in zip(eu, pick, strict=True)
    ]
    accounts = pd.DataFrame({
        "account": _text(per.index), "segment": _text(segment), "industry": _text(industry),
        "size": _text(size), "country": _text(country), "owner": _text(per["rep_id"]),
    })  # fmt: skip

    # CSAT after won deals; each rep's customers a little happier or less (rep effect)
    ids = reps["rep_id"].tolist()
    effect = dict(zip(ids, rng.normal(0.0, 0.45, len(ids)), strict=True))
    won = o[o["outcome"] == "won"].sort_values(["close_date", "opp_id"], kind="stable")
    asked = rng.random(len(won)) < 0.5
    lag = rng.integers(5, 31, len(won))
    noise = rng.normal(0.0, 0.9, len(won))
    when = won["close_date"].to_numpy() + lag.astype("timedelta64[D]")
    keep = asked & (when <= np.datetime64(as_of))
    base = 4.0 + won["rep_id"].map(effect).to_numpy() + noise
    csat = pd.DataFrame({
        "account": _text(won["account"].to_numpy()[keep]),
        "date": pd.Series(when[keep]).astype("datetime64[ns]"),
        "score": np.clip(np.round(base[keep]), 1, 5).astype(float),
        "kind": _text(["csat"] * int(keep.sum())),
    })  # fmt: skip

    # NPS: each customer asked once a year (the two years to the as-of date), half answer
    first_won = won.groupby("account")["close_date"].min()
    owner = per["rep_id"]
    rows = []
    for year in (1, 0):
        day = as_of - pd.Timedelta(days=365 * year)
        offs = rng.integers(0, 120, len(first_won))
        ans = rng.random(len(first_won)) < 0.5
        z = rng.normal(0.0, 2.0, len(first_won))
        for (acc, first), off, a, zz in zip(first_won.items(), offs, ans, z, strict=True):
            date = day - pd.Timedelta(days=int(off))
            if a and first < date:
                score = min(10.0, max(0.0, round(8.0 + 2.0 * effect[owner[acc]] + zz)))
                rows.append((acc, date, float(score), "nps"))
    nps = pd.DataFrame(rows, columns=["account", "date", "score", "kind"])
    sat = pd.concat([csat, nps.astype({"account": "str", "kind": "str"})], ignore_index=True)
    sat["date"] = sat["date"].astype("datetime64[ns]")
    sat = sat.drop_duplicates(["account", "date", "kind"]).sort_values(
        ["date", "account", "kind"], kind="stable"
    )
    return accounts, sat.reset_index(drop=True)

"""The sample's optional ``calls`` table: each manager's weekly forecast call.

Every manager makes a call on each weekly snapshot day of the last :data:`WEEKS` weeks up to
the as-of date: a commit and a best case for the quarter that day falls in, and, in the last
:data:`NEXT_QUARTER_DAYS` days of a quarter, for the next quarter as well. A call starts at a
share of the team's target for the quarter and drifts a little from week to week.

Drawn with its own random stream (``numpy.random.default_rng([seed, STREAM])``) from the
finished reps, targets and snapshot days: every draw of the other tables, and so every
existing figure of the sample, stays exactly as it was.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The second entropy word of the calls' random stream.
STREAM = 2203
#: Weeks of calls up to the as-of date.
WEEKS = 13
#: From this many days before a quarter starts, managers call it too.
NEXT_QUARTER_DAYS = 21
#: Calls are rounded to this many currency units, as managers say them.
ROUND_TO = 5000.0


def _quarter(day: pd.Timestamp) -> tuple[str, pd.Timestamp, pd.Timestamp]:
    """The calendar quarter holding ``day`` (the sample's fiscal year starts in January)."""
    p = day.to_period("Q")
    return f"FY{p.year}-Q{p.quarter}", p.start_time.normalize(), p.end_time.normalize()


def calls_table(
    seed: int,
    reps: pd.DataFrame,
    targets: pd.DataFrame,
    snapshot_days: pd.Series,
    as_of: pd.Timestamp,
) -> pd.DataFrame:
    """The sample's ``calls``: each manager's weekly commit and best-case calls.

    Parameters
    ----------
    seed : int
        The sample's seed; the table uses its own stream ``default_rng([seed, STREAM])``.
    reps, targets : DataFrame
        The sample's canonical reps and targets (a team's target is its reps' targets).
    snapshot_days : Series
        The snapshot dates: calls are made on those of the last :data:`WEEKS` weeks.
    as_of : Timestamp
        No call is made after it.

    Returns
    -------
    DataFrame
        Canonical ``calls`` columns; commit between 60 % and 85 % of the team's target at
        first, moving by up to 4 % a week; best case 10-30 % above the commit.

    Examples
    --------
    >>> from salesnb.data.sample import generate
    >>> c = generate(seed=1)["calls"]
    >>> sorted(c["category"].unique()), c["subject_type"].unique().tolist()
    (['best_case', 'commit'], ['manager'])
    """
    rng = np.random.default_rng([seed, STREAM])
    days = sorted(d for d in pd.to_datetime(pd.Series(snapshot_days)).unique() if d <= as_of)
    days = [pd.Timestamp(d) for d in days if d > as_of - pd.Timedelta(weeks=WEEKS)]
    rows = []
    for manager in sorted(reps["manager"].dropna().unique()):
        team = set(reps.loc[reps["manager"] == manager, "rep_id"])
        mine = targets[targets["rep_id"].isin(team)]
        level: dict[str, float] = {}
        upside = float(rng.uniform(1.1, 1.3))
        for day in days:
            quarters = [_quarter(day)]
            nxt = _quarter(quarters[0][2] + pd.Timedelta(days=1))
            if (nxt[1] - day).days <= NEXT_QUARTER_DAYS:
                quarters.append(nxt)
            for label, start, end in quarters:
                target = float(mine.loc[mine["month"].between(start, end), "amount"].sum())
                if target <= 0:
                    continue
                step = rng.uniform(0.6, 0.85) if label not in level else rng.uniform(-0.04, 0.04)
                level[label] = float(step) if label not in level else level[label] + float(step)
                commit = round(target * level[label] / ROUND_TO) * ROUND_TO
                best = round(commit * upside / ROUND_TO) * ROUND_TO
                for category, amount in (("commit", commit), ("best_case", best)):
                    rows.append(("manager", manager, label, amount, day, category))
    cols = ["subject_type", "subject", "period", "amount", "as_of", "category"]
    out = pd.DataFrame(rows, columns=cols)
    return out.astype({"amount": "float64", "as_of": "datetime64[ns]", "subject_type": "str",
                       "subject": "str", "period": "str", "category": "str"})  # fmt: skip

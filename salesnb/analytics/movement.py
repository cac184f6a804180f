"""What moved in the pipeline between two snapshots, and the forecast call at one snapshot.

Pure functions on plain frames, for the weekly (or monthly) team review:

* :func:`call_categories` -- each open deal's forecast category: the rep's own from the CRM
  where the data has it, else from the stage's win probability (:data:`COMMIT_PROBABILITY`,
  :data:`BEST_CASE_PROBABILITY`).
* :func:`call_totals` -- commit, best case and pipeline per rep for the deals due in a period.
* :func:`movement` -- one row per deal that moved between an earlier and a later snapshot:
  won, lost, left the pipeline without a recorded close, new, pushed out of the period,
  pulled into it, or only its amount changed.
* :func:`movement_summary` -- those rows counted and summed per kind of move.

A snapshot frame has one row per deal: ``opp_id``, ``rep_id``, ``stage``, ``amount``,
``close_date`` (the expected close date then), optionally ``forecast_category`` and ``kind``
(``open``, ``won`` or ``lost``: the stage's kind; rows without it are open).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

#: Without a forecast category in the data, an open deal at a stage whose win probability is
#: at least this is counted as commit ...
COMMIT_PROBABILITY = 0.75
#: ... and at least this (below commit) as best case; the rest is pipeline.
BEST_CASE_PROBABILITY = 0.5

#: The kinds of move, in the order a review reads them.
MOVES = ("won", "lost", "left", "pushed", "pulled", "new", "amount")

#: Each kind of move in words (for tables).
MOVE_WORDS = {
    "won": "won",
    "lost": "lost",
    "left": "gone, not closed in these dates",
    "pushed": "pushed out of the period",
    "pulled": "pulled into the period",
    "new": "new in the pipeline",
    "amount": "amount changed (still open)",
}

_CALL_COLUMNS = ["rep_id", "deals", "commit", "best_case", "pipeline"]
_MOVE_COLUMNS = ["opp_id", "rep_id", "move", "amount_before", "amount_after", "change",
                 "close_before", "close_after", "stage_before", "stage_after"]  # fmt: skip


def call_categories(
    deals: pd.DataFrame, probabilities: Mapping[str, float]
) -> tuple[pd.Series, int]:
    """Each deal's forecast category and how many were derived from the stage.

    Parameters
    ----------
    deals : DataFrame
        ``stage`` and, optionally, ``forecast_category`` (``commit``, ``best_case``,
        ``pipeline`` or ``omitted``, the rep's own call).
    probabilities : mapping
        Stage name -> win probability (0-1), from the stage catalogue.

    Returns
    -------
    (Series, int)
        The category of each deal (same index), and the number of deals whose category came
        from the stage's probability because the data gave none.

    Examples
    --------
    >>> d = pd.DataFrame({"stage": ["Negotiation", "Proposal", "Demo"],
    ...                   "forecast_category": [None, None, "commit"]})
    >>> cats, derived = call_categories(d, {"Negotiation": 0.75, "Proposal": 0.5, "Demo": 0.3})
    >>> cats.tolist(), derived
    (['commit', 'best_case', 'commit'], 2)
    """
    p = deals["stage"].map(dict(probabilities)).astype(float).fillna(0.0)
    by_stage = pd.Series(
        np.where(p >= COMMIT_PROBABILITY, "commit",
                 np.where(p >= BEST_CASE_PROBABILITY, "best_case", "pipeline")),
        index=deals.index, dtype=object,
    )  # fmt: skip
    if "forecast_category" not in deals.columns:
        return by_stage, len(deals)
    given = deals["forecast_category"].astype(object).where(deals["forecast_category"].notna())
    missing = given.isna()
    return given.where(~missing, by_stage).astype(object), int(missing.sum())


def call_totals(
    deals: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    probabilities: Mapping[str, float],
) -> pd.DataFrame:
    """Commit, best case and pipeline per rep: open deals due between ``start`` and ``end``.

    As in a CRM's forecast roll-up each line includes the ones above it: best case is commit
    plus the deals called best case; pipeline is every open deal due in the period except
    those the rep left out (``omitted``). Amounts in the data's currency.

    Returns
    -------
    DataFrame
        ``rep_id, deals`` (open deals due in the period, omitted ones included),
        ``commit, best_case, pipeline``; one row per rep with a deal due.

    Examples
    --------
    >>> d = pd.DataFrame({"rep_id": ["a", "a", "a", "b"], "stage": ["N", "P", "D", "D"],
    ...     "amount": [100.0, 50.0, 20.0, 7.0], "kind": "open",
    ...     "close_date": pd.to_datetime(["2026-10-05", "2026-11-01", "2026-12-20", "2027-01-03"])})
    >>> t = call_totals(d, pd.Timestamp("2026-10-01"), pd.Timestamp("2026-12-31"),
    ...                 {"N": 0.75, "P": 0.5, "D": 0.3})
    >>> t.to_dict("records")
    [{'rep_id': 'a', 'deals': 3, 'commit': 100.0, 'best_case': 150.0, 'pipeline': 170.0}]
    """
    d = _open(deals)
    d = d[d["close_date"].between(start, end)]
    if d.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "rep_id" else float)
                             for c in _CALL_COLUMNS}).astype({"deals": "int64"})  # fmt: skip
    cats, _ = call_categories(d, probabilities)
    amount = d["amount"].astype(float).fillna(0.0)
    parts = pd.DataFrame({
        "rep_id": d["rep_id"].to_numpy(dtype=object),
        "deals": 1,
        "commit": amount.where(cats == "commit", 0.0).to_numpy(),
        "best_case": amount.where(cats.isin(("commit", "best_case")), 0.0).to_numpy(),
        "pipeline": amount.where(cats != "omitted", 0.0).to_numpy(),
    })  # fmt: skip
    out = parts.groupby("rep_id", sort=True, as_index=False).sum()
    return out.astype({"deals": "int64"})[_CALL_COLUMNS]


def _open(snap: pd.DataFrame) -> pd.DataFrame:
    """The open rows of a snapshot (every row when it has no ``kind``)."""
    if "kind" not in snap.columns:
        return snap
    return snap[snap["kind"].fillna("open") == "open"]


def movement(
    before: pd.DataFrame,
    after: pd.DataFrame,
    closed: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    after_date: pd.Timestamp,
    *,
    since: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Every deal that moved between two snapshots, with one kind of move each.

    Parameters
    ----------
    before, after : DataFrame
        The earlier and the later snapshot (see the module docstring).
    closed : DataFrame
        The deals as the data knows them now: ``opp_id``, ``outcome`` (``open``, ``won``,
        ``lost``), ``close_date`` and ``amount``; tells what became of a deal that is no
        longer in the later snapshot.
    start, end : Timestamp
        The period the call is about: a deal is *pushed* when it was due in it and is now due
        after ``end``, *pulled* when it was due after ``end`` and is now due in it.
    after_date : Timestamp
        The later snapshot's date: a deal gone from it counts as won or lost when the data
        says it closed on or before that date.
    since : Timestamp, optional
        The earlier snapshot's date. Given, won and lost come from ``closed`` alone, over one
        window: a deal is won (lost) when ``closed`` says it was won (lost) with a close date
        after ``since`` and on or before ``after_date`` -- whether or not it was open in either
        snapshot (a deal created and won between them counts; so does one won after the later
        snapshot when ``after_date`` is later). ``closed`` must then hold only the deals in
        scope (``rep_id`` is taken from it when it has one), and any list of the deals won in
        that window counts the same deals. A deal gone without such a close is ``left``.
        ``change`` stays the open pipeline's change between the two snapshots (a deal won
        after the later snapshot, still open in it, changes it by its change of amount).

    Returns
    -------
    DataFrame
        ``opp_id, rep_id, move`` (one of :data:`MOVES`), ``amount_before, amount_after,
        change`` (after minus before; a won or lost deal's ``change`` is minus its amount
        before, as it leaves the open pipeline), ``close_before, close_after, stage_before,
        stage_after``. The first kind that applies wins, in the order of :data:`MOVES`; a
        pushed or pulled deal whose amount changed too shows it in ``change``.

    Examples
    --------
    >>> day = pd.Timestamp
    >>> b = pd.DataFrame({"opp_id": ["w", "p", "a"], "rep_id": "r", "stage": "S",
    ...                   "amount": [10.0, 20.0, 30.0],
    ...                   "close_date": [day("2026-10-10"), day("2026-11-01"), day("2026-11-02")]})
    >>> a = pd.DataFrame({"opp_id": ["p", "a", "n"], "rep_id": "r", "stage": "S",
    ...                   "amount": [20.0, 35.0, 5.0],
    ...                   "close_date": [day("2027-01-15"), day("2026-11-02"), day("2026-12-01")]})
    >>> c = pd.DataFrame({"opp_id": ["w"], "outcome": ["won"], "close_date": [day("2026-10-03")],
    ...                   "amount": [12.0]})
    >>> m = movement(b, a, c, day("2026-10-01"), day("2026-12-31"), day("2026-10-05"))
    >>> m[["opp_id", "move", "change"]].to_dict("list")
    {'opp_id': ['w', 'p', 'n', 'a'], 'move': ['won', 'pushed', 'new', 'amount'], 'change': [-10.0, 0.0, 5.0, 5.0]}
    """
    b = _open(before).drop_duplicates("opp_id", keep="last").set_index("opp_id")
    a_all = after.drop_duplicates("opp_id", keep="last").set_index("opp_id")
    a = _open(after).drop_duplicates("opp_id", keep="last").set_index("opp_id")
    c = closed.drop_duplicates("opp_id", keep="last").set_index("opp_id")
    rows = []
    done: set = set()
    if since is not None:
        rows, done = _closed_in_window(b, a, c, since, after_date)
        a_all = a_all.drop(columns="kind", errors="ignore")  # the window alone says won/lost
    for opp in b.index:
        if opp in done:
            continue
        rb = b.loc[opp]
        if opp in a.index:
            rows.append(_still_open(opp, rb, a.loc[opp], start, end))
            continue
        outcome, amount = _fate(opp, a_all, c, after_date, since)
        move = outcome if outcome in ("won", "lost") else "left"
        rows.append(_row(opp, rb["rep_id"], move, rb, None,
                         -float(rb["amount"]), amount_after=amount))  # fmt: skip
    for opp in a.index.difference(b.index):
        if opp in done:
            continue
        ra = a.loc[opp]
        rows.append(_row(opp, ra["rep_id"], "new", None, ra, float(ra["amount"])))
    rows = [r for r in rows if r is not None]
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in _MOVE_COLUMNS})
    out = pd.DataFrame(rows, columns=_MOVE_COLUMNS)
    order = {m: i for i, m in enumerate(MOVES)}
    out["_o"] = out["move"].map(order)
    out = out.sort_values(["_o", "opp_id"], kind="stable").drop(columns="_o")
    return out.reset_index(drop=True)


def _dtype(col: str) -> str:
    if col.startswith("close_"):
        return "datetime64[ns]"
    return "float64" if col.startswith("amount") or col == "change" else "object"


def _closed_in_window(
    b: pd.DataFrame, a: pd.DataFrame, c: pd.DataFrame, since: pd.Timestamp, until: pd.Timestamp
) -> tuple[list, set]:
    """The won and lost rows of every deal ``c`` says closed in ``(since, until]``."""
    hit = c[c["outcome"].isin(("won", "lost")) & (c["close_date"] > since)
            & (c["close_date"] <= until)]  # fmt: skip
    rows = []
    for opp, r in hit.iterrows():
        rb = b.loc[opp] if opp in b.index else None
        ra = a.loc[opp] if opp in a.index else None
        rep = r["rep_id"] if "rep_id" in c.columns else (rb if rb is not None else ra)["rep_id"]
        before = float(rb["amount"]) if rb is not None else 0.0
        still_open = float(ra["amount"]) if ra is not None else 0.0  # closed after the snapshot
        row = _row(opp, rep, str(r["outcome"]), rb, None, still_open - before,
                   amount_after=float(r["amount"]))  # fmt: skip
        row[7] = r["close_date"]  # close_after: the day it closed
        rows.append(row)
    return rows, set(hit.index)


def _fate(
    opp: str,
    after_all: pd.DataFrame,
    closed: pd.DataFrame,
    after_date: pd.Timestamp,
    since: pd.Timestamp | None = None,
) -> tuple[str, float | None]:
    """What became of a deal no longer open in the later snapshot: its outcome and amount."""
    if since is not None:  # the deals closed in the window are already counted
        return "left", None
    if opp in after_all.index and "kind" in after_all.columns:
        kind = after_all.loc[opp, "kind"]
        if kind in ("won", "lost"):
            return str(kind), float(after_all.loc[opp, "amount"])
    if opp in closed.index:
        r = closed.loc[opp]
        closed_by = pd.notna(r["close_date"]) and r["close_date"] <= after_date
        if r["outcome"] in ("won", "lost") and closed_by:
            return str(r["outcome"]), float(r["amount"])
    return "left", None


def _still_open(
    opp: str, rb: pd.Series, ra: pd.Series, start: pd.Timestamp, end: pd.Timestamp
) -> list | None:
    change = float(ra["amount"]) - float(rb["amount"])
    cb, ca = rb["close_date"], ra["close_date"]
    was_in = pd.notna(cb) and start <= cb <= end
    now_in = pd.notna(ca) and start <= ca <= end
    if was_in and pd.notna(ca) and ca > end:
        move = "pushed"
    elif pd.notna(cb) and cb > end and now_in:
        move = "pulled"
    elif abs(change) >= 0.005:
        move = "amount"
    else:
        return None
    return _row(opp, ra["rep_id"], move, rb, ra, change)


def _row(opp: str, rep: str, move: str, rb: pd.Series | None, ra: pd.Series | None,
         change: float, *, amount_after: float | None = None) -> list:  # fmt: skip
    def get(r: pd.Series | None, col: str) -> object:
        return r[col] if r is not None else None

    after = float(ra["amount"]) if ra is not None else amount_after
    before = float(rb["amount"]) if rb is not None else None
    return [opp, rep, move, before, after, change, get(rb, "close_date"),
            get(ra, "close_date"), get(rb, "stage"), get(ra, "stage")]  # fmt: skip


def movement_summary(moves: pd.DataFrame) -> pd.DataFrame:
    """The moves counted and summed per kind, every kind listed (zero when none).

    Returns
    -------
    DataFrame
        ``move`` (one of :data:`MOVES`, in order), ``deals`` and ``amount``: the amount
        won for won deals, the amount before for lost and left deals (a lost deal not in the
        earlier snapshot: its amount when lost), the amount now for new,
        pushed and pulled deals, the net change for amount changes.

    Examples
    --------
    >>> m = pd.DataFrame({"move": ["won", "amount", "amount"], "amount_before": [10.0, 5.0, 5.0],
    ...                   "amount_after": [12.0, 7.0, 4.0], "change": [-10.0, 2.0, -1.0]})
    >>> s = movement_summary(m).set_index("move")
    >>> s.loc["won"].tolist(), s.loc["amount"].tolist(), s.loc["new"].tolist()
    ([1.0, 12.0], [2.0, 1.0], [0.0, 0.0])
    """
    rows = []
    for move in MOVES:
        m = moves[moves["move"] == move]
        if move == "won":
            amount = m["amount_after"].fillna(m["amount_before"]).sum()
        elif move == "lost":  # the pipeline lost (a deal created and lost between: its amount)
            amount = m["amount_before"].fillna(m["amount_after"]).sum()
        elif move == "left":
            amount = m["amount_before"].sum()
        elif move == "amount":
            amount = m["change"].sum()
        else:
            amount = m["amount_after"].sum()
        rows.append({"move": move, "deals": len(m), "amount": float(amount)})
    return pd.DataFrame(rows).astype({"deals": "int64"})


def latest_call(
    calls: pd.DataFrame,
    subject_type: str,
    subject: str | None,
    period: str,
    as_of: pd.Timestamp,
    category: str = "commit",
) -> pd.Series | None:
    """The latest call of ``category`` made on or before ``as_of`` for a subject's quarter.

    Parameters
    ----------
    calls : DataFrame
        The ``calls`` table: ``subject_type, subject, period, amount, as_of, category``.
    subject_type, subject : str
        Whose call (``subject`` None for ``"all"``).
    period : str
        The fiscal quarter, e.g. ``"FY2026-Q4"``.
    as_of : Timestamp
        Calls made after this day are not seen.

    Returns
    -------
    Series or None
        The call's row (``amount`` in currency, ``as_of`` the day it was made); None when
        there is none. Two calls on the same day: the later row of the table.

    Examples
    --------
    >>> c = pd.DataFrame({"subject_type": "manager", "subject": "Ann", "period": "FY2026-Q4",
    ...                   "amount": [500.0, 520.0, 600.0], "category": "commit",
    ...                   "as_of": pd.to_datetime(["2026-09-21", "2026-09-28", "2026-10-05"])})
    >>> float(latest_call(c, "manager", "Ann", "FY2026-Q4", pd.Timestamp("2026-09-30"))["amount"])
    520.0
    >>> latest_call(c, "manager", "Bo", "FY2026-Q4", pd.Timestamp("2026-09-30")) is None
    True
    """
    if calls is None or not len(calls):
        return None
    who = calls["subject_type"] == subject_type
    if subject_type != "all":
        who &= calls["subject"] == subject
    cat = calls["category"].fillna("commit") == category
    hit = calls[who & cat & (calls["period"] == period) & (calls["as_of"] <= as_of)]
    if hit.empty:
        return None
    return hit.sort_values("as_of", kind="stable").iloc[-1]

"""Win probabilities of open deals, learned from closed deals and past snapshots.

:func:`win_probabilities` per stage (and per rep or deal-age band, shrunk by empirical
Bayes), :func:`in_period_factors` for the share of a win that lands inside the quarter a deal
is due in, and :func:`deal_probabilities` combining them for each open deal.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from salesnb.core.errors import ParameterError
from salesnb.forecast.cache import disk_cached, memo_per_data

AGE_BANDS = ("new", "typical", "old")


def _stage_order(wb) -> dict[str, int]:
    cat = wb.config.stages
    order = {n: i for i, n in enumerate(cat.open_names)}
    top = len(cat.open_names) - 1
    for st in cat.stages:
        if st.kind == "won":
            order[st.name] = top
    return order


def _median_cycle(closed: pd.DataFrame) -> float:
    won = closed[closed["outcome"] == "won"]
    days = (won["close_date"] - won["created_date"]).dt.days
    return float(days.median()) if len(days.dropna()) else 90.0


def _age_band(age_days: pd.Series, cycle: float, old_multiple: float) -> pd.Series:
    bins = [-np.inf, 0.5 * cycle, old_multiple * cycle, np.inf]
    return pd.cut(age_days, bins, labels=list(AGE_BANDS)).astype("str")


_REACHED: dict[tuple, tuple] = {}


def _reached(wb, as_of: pd.Timestamp) -> pd.DataFrame:
    """One row per closed deal (closed by ``as_of``) and open stage it reached, with ``won``
    (memoised per data and date: every table of :func:`_learned` starts from it)."""
    return memo_per_data(_REACHED, 4, wb, (as_of,), lambda: _reached_uncached(wb, as_of))


#: Least number of lost deals with a known furthest stage, and least share of all lost deals,
#: for stages after the first to be learned from data when some lost deals do not say how far
#: they got (below either, those stages keep the catalogue's probability, within the bounds
#: the known outcomes allow).
MIN_KNOWN_LOST = 20
MIN_KNOWN_LOST_SHARE = 0.5


def _reached_uncached(wb, as_of: pd.Timestamp) -> pd.DataFrame:
    """Rows ``opp_id, rep_id, stage, won, known, w``: one per closed deal and open stage.

    A deal whose furthest stage is known (won deals reached every stage; lost ones their
    ``furthest_stage`` or the furthest stage a snapshot saw) has a row of weight 1 at each
    stage it reached. A lost deal that does not say how far it got (``known`` False) surely
    reached the first stage (weight 1); at each later stage it counts with the share of the
    known lost deals that reached it (``w``; missing at random), or 0 where too few lost deals
    are known for that (see :data:`MIN_KNOWN_LOST`).
    """
    opps = wb.opportunities
    closed = opps[(opps["outcome"] != "open") & (opps["close_date"] <= as_of)]
    order = _stage_order(wb)
    top = pd.Series(closed["furthest_stage"].map(order), index=closed.index)
    snaps = wb.snapshots
    if len(snaps):
        s = snaps[(snaps["as_of"] <= as_of) & _member(snaps["opp_id"], closed["opp_id"])]
        seen = s.assign(o=s["stage"].map(order)).groupby("opp_id")["o"].max()
        top = pd.concat([top, closed["opp_id"].map(seen)], axis=1).max(axis=1)
    names = wb.config.stages.open_names
    last = len(names) - 1
    won = (closed["outcome"] == "won").to_numpy()
    top = top.where(~won, last)
    known = top.notna().to_numpy()
    # Lost deals of unknown reach get a row at every stage; their weight is set below.
    counts = np.where(known, top.fillna(0).to_numpy().astype(int) + 1, len(names))
    rows = np.repeat(np.arange(len(closed)), counts)
    stage_idx = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    base = closed.iloc[rows]
    k_rows = known[rows]
    w = np.ones(len(rows))
    unknown = int((~known).sum())
    if unknown:
        lost_known = known & ~won
        n_lost = int(lost_known.sum())
        reach_known = top.to_numpy()[lost_known].astype(int)
        share = np.array([(reach_known >= k).mean() if n_lost else 0.0 for k in range(len(names))])
        share = share if _learnable(n_lost, unknown) else np.zeros(len(names))
        share[0] = 1.0
        w = np.where(k_rows, 1.0, share[stage_idx])
    out = pd.DataFrame(
        {
            "opp_id": base["opp_id"].to_numpy(),
            "rep_id": base["rep_id"].to_numpy(),
            "stage": np.asarray(names, dtype=object)[stage_idx],
            "won": won[rows],
            "known": k_rows,
            "w": w,
        }
    )
    return out


def _learnable(lost_known: int, lost_unknown: int) -> bool:
    """Whether stages after the first can be learned when ``lost_unknown`` lost deals do not
    say how far they got (see :data:`MIN_KNOWN_LOST`)."""
    if lost_unknown == 0:
        return True
    enough = lost_known >= MIN_KNOWN_LOST
    return enough and lost_known >= MIN_KNOWN_LOST_SHARE * (lost_known + lost_unknown)


def _counts(r: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Weighted deals ``n`` and wins ``won`` per ``key`` of a :func:`_reached` table."""
    t = r.assign(ww=r["w"] * r["won"])
    out = t.groupby(key)[["w", "ww"]].sum().rename(columns={"w": "n", "ww": "won"})
    return out.astype(int) if bool((r["w"] == 1.0).all()) else out


def reach_bounds(wb, as_of=None) -> pd.DataFrame:
    """How far closed deals got, and what that allows each stage's win probability to be.

    A lost deal whose furthest stage the data does not give (no ``furthest_stage``, no
    snapshot) reached the first stage, and perhaps more. Per open stage: ``won`` (won deals,
    all of which passed it), ``lost_known`` (lost deals known to have reached it),
    ``lost_unknown`` (lost deals that may have), and the win probability's bounds
    ``low = won / (won + lost_known + lost_unknown)`` and
    ``high = won / (won + lost_known)``, equal when every lost deal's reach is known.
    ``learned`` says whether the stage's probability is learned from the data (the first stage
    always; later ones when at least :data:`MIN_KNOWN_LOST` lost deals, and half of them, say
    how far they got) or kept from the stage catalogue within the bounds.

    Examples
    --------
    >>> from salesnb.data import sample
    >>> b = reach_bounds(sample.example_workbook())  # doctest: +SKIP
    >>> bool((b["low"] <= b["high"]).all())          # doctest: +SKIP
    True
    """
    as_of = pd.Timestamp(wb.as_of if as_of is None else as_of)
    names = wb.config.stages.open_names
    r = _reached(wb, as_of)
    kn = r[r["known"]]
    g = kn.groupby("stage")["won"].agg(["size", "sum"]).reindex(names, fill_value=0)
    won = g["sum"].to_numpy().astype(float)
    lost_known = (g["size"] - g["sum"]).to_numpy().astype(float)
    unknown = float((~r["known"] & (r["stage"] == names[0])).sum()) if len(names) else 0.0
    lost_unknown = np.r_[0.0, np.full(len(names) - 1, unknown)] if len(names) else np.array([])
    with np.errstate(divide="ignore", invalid="ignore"):
        low = won / (won + lost_known + lost_unknown)
        high = won / (won + lost_known)
    later = _learnable(int(lost_known[0]) if len(names) else 0, int(unknown))
    learned = np.r_[True, np.full(len(names) - 1, later)] if len(names) else []
    return pd.DataFrame(
        {
            "stage": names,
            "won": won.astype(int),
            "lost_known": lost_known.astype(int),
            "lost_unknown": lost_unknown.astype(int),
            "low": low,
            "high": high,
            "learned": np.asarray(learned, dtype=bool),
        }
    )


def _eb_strength(n: pd.Series, k: pd.Series, p0: pd.Series) -> float:
    """Beta prior strength (pseudo-deals) from the spread of group rates: method of moments."""
    ok = n >= 5
    if ok.sum() < 3:
        return 20.0
    rate = k[ok] / n[ok]
    between = float(np.var(rate - p0[ok], ddof=1))
    sampling = float(np.mean(p0[ok] * (1 - p0[ok]) / n[ok]))
    pq = float(np.mean(p0[ok] * (1 - p0[ok])))
    excess = between - sampling
    return float(np.clip(pq / excess - 1 if excess > 0 else 1000.0, 5.0, 1000.0))


def win_probabilities(
    wb,
    as_of=None,
    by: Sequence[str] = ("stage",),
    *,
    prior_strength: float | None = None,
) -> pd.DataFrame:
    """Win probability of a deal at each stage, learned from deals closed by ``as_of``.

    A closed deal counts at every open stage it reached (its ``furthest_stage`` and, where
    kept, the stages snapshots saw; won deals reached them all). The stage rate is shrunk
    towards the configured stage probability by 2 pseudo-deals; rates per rep or deal-age band
    are shrunk towards their stage rate by a beta prior whose strength is estimated from how
    much groups really differ (empirical Bayes), so a rep with 3 deals gets neither 0 nor 1.

    Parameters
    ----------
    by : sequence of {"stage", "rep_id", "age_band"}
        ``("stage",)``, ``("stage", "rep_id")`` or ``("stage", "age_band")``. Age bands
        (``new`` < half the median won cycle, ``old`` > ``old_age_multiple`` x it) need
        snapshots; without them the table is per stage.
    prior_strength : float, optional
        Pseudo-deals of the group-level prior; estimated when None.

    Returns
    -------
    DataFrame
        Columns ``*by, n, won, rate, prior, p`` (p = shrunk probability, 0-1); the
        per-stage table also ``learned`` (False: the data cannot tell, ``p`` is the
        catalogue's within :func:`reach_bounds`; ``rate`` is then NaN). ``n`` and ``won``
        count lost deals of unknown reach by the share of known ones that got as far.

    Examples
    --------
    >>> win_probabilities(wb)  # doctest: +SKIP
    """
    as_of = pd.Timestamp(wb.as_of if as_of is None else as_of)
    by = tuple(by)
    allowed = {("stage",), ("stage", "rep_id"), ("stage", "age_band")}
    if by not in allowed:
        msg = f"by={by!r} is not supported. Fix: use one of {sorted(allowed)!r}."
        raise ParameterError(msg)
    names = wb.config.stages.open_names
    cfg = pd.Series(wb.config.stages.probability_of()).reindex(names)
    r = _reached(wb, as_of)
    g = _counts(r, ["stage"]).reindex(names, fill_value=0.0)
    stage = pd.DataFrame({"stage": names, "n": g["n"].to_numpy(), "won": g["won"].to_numpy()})
    stage["rate"] = stage["won"] / stage["n"].where(stage["n"] > 0)
    stage["prior"] = cfg.to_numpy()
    stage["p"] = (stage["won"] + 2.0 * stage["prior"]) / (stage["n"] + 2.0)
    bounds = reach_bounds(wb, as_of)
    if (bounds["lost_unknown"] > 0).any():
        # Some lost deals do not say how far they got: stay within what the known outcomes
        # allow, and keep the catalogue's probability where the data cannot tell.
        learned = bounds["learned"].to_numpy()
        p = np.where(learned, stage["p"], stage["prior"])
        low = bounds["low"].fillna(0.0).to_numpy()
        high = bounds["high"].fillna(1.0).to_numpy()
        stage["p"] = np.where(bounds["lost_unknown"] > 0, np.clip(p, low, high), p)
        stage["rate"] = stage["rate"].where(learned)
    stage["learned"] = bounds["learned"].to_numpy()
    if by == ("stage",):
        return stage
    p_stage = stage.set_index("stage")["p"]
    # Stages kept from the catalogue get no per-rep or per-age adjustment.
    keep = set(stage.loc[stage["learned"], "stage"])
    if by == ("stage", "age_band"):
        snaps = wb.snapshots
        opps = wb.opportunities
        closed = opps[(opps["outcome"] != "open") & (opps["close_date"] <= as_of)]
        s = snaps[(snaps["as_of"] <= as_of) & _member(snaps["opp_id"], closed["opp_id"])]
        s = s[s["stage"].isin(names)].merge(
            closed[["opp_id", "created_date", "outcome"]], on="opp_id"
        )
        cycle = _median_cycle(closed)
        s["age_band"] = _age_band(
            (s["as_of"] - s["created_date"]).dt.days, cycle, wb.config.old_age_multiple
        )
        r = s.assign(won=s["outcome"] == "won").drop_duplicates(["opp_id", "stage", "age_band"])
        r = r.assign(w=1.0)
    key = list(by)
    r = r[r["stage"].isin(keep) & (r["w"] > 0)]
    grp = _counts(r, key).reset_index()
    grp["prior"] = grp["stage"].map(p_stage).astype(float)
    grp["rate"] = grp["won"] / grp["n"]
    k = (
        prior_strength
        if prior_strength is not None
        else _eb_strength(grp["n"], grp["won"], grp["prior"])
    )
    grp["p"] = (grp["won"] + k * grp["prior"]) / (grp["n"] + k)
    grp.attrs["prior_strength"] = k
    return grp[[*key, "n", "won", "rate", "prior", "p"]]


def member(values: pd.Series, pool) -> np.ndarray:
    """``values.isin(pool)`` through a hash index (pandas' str ``isin`` is ~20x slower).

    Examples
    --------
    >>> member(pd.Series(["a", "b", "c"]), ["c", "a"]).tolist()
    [True, False, True]
    """
    return pd.Index(pd.unique(pd.Series(pool, dtype="str"))).get_indexer(values) >= 0


_member = member  # the old private name, kept for callers


def _logit(p):
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


_CACHE: dict[tuple, tuple] = {}

#: Pseudo-observations pulling the in-period factor towards 1 (no slippage adjustment).
SLIP_PRIOR = 30.0


#: Suffix of a stage's key in the in-period factors for deals already past their close date.
PAST_DUE = " (past due)"


def factor_key(stage: pd.Series, past_due) -> pd.Series:
    """Key of each open deal in :func:`in_period_factors`: its stage, plus :data:`PAST_DUE`
    where ``past_due`` (its close date on or before the day it is looked at).

    Examples
    --------
    >>> factor_key(pd.Series(["Demo", "Demo"]), [True, False]).tolist()
    ['Demo (past due)', 'Demo']
    """
    names = stage.astype(str)
    return pd.Series(np.where(np.asarray(past_due, dtype=bool), names + PAST_DUE, names),
                     index=stage.index)  # fmt: skip


def due_date(close_date: pd.Series, as_of) -> pd.Series:
    """The day an open deal is counted as due: its close date, or the day after ``as_of``
    when that date has passed (a deal past due can close from the next day on, so at a
    quarter's last day it falls in the next quarter). ``as_of``: a date, or one per deal.

    Examples
    --------
    >>> close = pd.Series(pd.to_datetime(["2026-10-05", "2026-09-20"]))
    >>> due_date(close, pd.Timestamp("2026-09-30")).dt.strftime("%Y-%m-%d").tolist()
    ['2026-10-05', '2026-10-01']
    """
    return close_date.where(close_date > as_of, as_of + pd.Timedelta(days=1))


def rebuilt_snapshots(wb, as_of) -> pd.DataFrame:
    """Open deals as they stood at past month-ends, rebuilt from the deals' own dates, for
    data without snapshots: ``as_of, opp_id, stage, close_date``.

    A deal was open at a month-end when it was created by then and was still open, or closed
    after it; its stage is its furthest stage (or its current stage, still open), which
    knows a little more than a manager knew that day. Month-ends from the first deal's month
    to ``as_of``.

    Examples
    --------
    >>> rebuilt_snapshots(wb, "2017-12-31")["as_of"].nunique()  # doctest: +SKIP
    14
    """
    as_of = pd.Timestamp(as_of)
    opps = wb.opportunities
    cols = ["as_of", "opp_id", "stage", "close_date"]
    if not len(opps) or opps["created_date"].isna().all():
        return pd.DataFrame(columns=cols)
    first = opps["created_date"].min()
    dates = pd.date_range(first + pd.offsets.MonthEnd(0), as_of, freq="ME")
    stage = opps["furthest_stage"].where(opps["outcome"] != "open", opps["stage"])
    stage = stage.fillna(wb.config.stages.open_names[0])
    parts = []
    for t in dates:
        was_open = (opps["created_date"] <= t) & ((opps["outcome"] == "open")
                                                  | (opps["close_date"] > t))  # fmt: skip
        parts.append(pd.DataFrame({"as_of": t, "opp_id": opps.loc[was_open, "opp_id"],
                                   "stage": stage[was_open],
                                   "close_date": opps.loc[was_open, "close_date"]}))  # fmt: skip
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)


def in_period_factors(wb, as_of=None) -> pd.DataFrame:
    """How much of a stage's win probability lands inside the period a deal is due in.

    A deal's probability from :func:`win_probabilities` is that it is *ever* won; deals due
    this quarter often slip to the next, and deals already past their close date slip most.
    From every past snapshot whose quarter has ended by ``as_of``, take the open deals due in
    the quarter in play (past due: due the next day) and count those won by its end, per
    stage and for deals on time and past due apart. The factor is that in-quarter rate over
    the stage's eventual win rate, shrunk towards 1 by ``SLIP_PRIOR`` pseudo-deals. Without
    snapshots the open deals of past month-ends are rebuilt from the deals' dates
    (:func:`rebuilt_snapshots`); their stage that day is not known (only their furthest), so
    ``n`` and ``won_in_period`` then pool every stage, for deals on time and past due apart.

    Returns
    -------
    DataFrame
        Columns ``key`` (:func:`factor_key`), ``stage``, ``past_due``, ``n``,
        ``won_in_period``, ``rate``, ``p_eventual``, ``factor``; two rows per open stage.

    Examples
    --------
    >>> in_period_factors(wb).set_index("key")["factor"]["Demo (past due)"]  # doctest: +SKIP
    0.2
    """
    as_of = pd.Timestamp(wb.as_of if as_of is None else as_of)
    names = wb.config.stages.open_names
    p_ev = win_probabilities(wb, as_of).set_index("stage")["p"]
    rebuilt = not len(wb.snapshots)
    snaps = rebuilt_snapshots(wb, as_of) if rebuilt else wb.snapshots
    snaps = snaps[(snaps["as_of"] <= as_of) & snaps["stage"].isin(names)]
    cal = wb.config.calendar
    stages, late_rows = [*names, *names], [False] * len(names) + [True] * len(names)
    keys = factor_key(pd.Series(stages), late_rows).tolist()
    if len(snaps):
        # the quarter in play at a snapshot: the next one on a quarter's last day, as for
        # documents; a deal past due can close from the next day on
        labels = cal.period_of(snaps["as_of"] + pd.Timedelta(days=1), "Q")
        ends = {q: cal.period_bounds(q)[1] for q in labels.unique()}
        q_end = labels.map(ends).astype("datetime64[ns]")
        due = due_date(snaps["close_date"], snaps["as_of"])
        keep = (q_end <= as_of) & (due <= q_end)
        s = snaps[keep].assign(q_end=q_end[keep])
        o = wb.opportunities.set_index("opp_id")
        outcome = s["opp_id"].map(o["outcome"])
        closed = s["opp_id"].map(o["close_date"])
        hit = (outcome == "won") & (closed <= s["q_end"])
        late = (s["close_date"] <= s["as_of"]).to_numpy()
        if rebuilt:
            # a rebuilt deal's stage is its furthest, not the one it was at that day (a deal
            # still prospecting then and won later shows as won's stage): slippage is learned
            # for deals on time and past due only, the same for every stage
            pooled = hit.groupby(late).agg(["size", "sum"]).reindex([False, True], fill_value=0)
            # rows: every stage on time, then every stage past due (as ``keys``)
            g = pooled.iloc[[0] * len(names) + [1] * len(names)].set_axis(keys)
        else:
            g = hit.groupby(factor_key(s["stage"], late)).agg(["size", "sum"])
            g = g.reindex(keys, fill_value=0)
    else:
        g = pd.DataFrame({"size": 0, "sum": 0}, index=keys)
    out = pd.DataFrame({"key": keys, "stage": stages, "past_due": late_rows,
                        "n": g["size"].to_numpy(),
                        "won_in_period": g["sum"].to_numpy()})  # fmt: skip
    out["rate"] = out["won_in_period"] / out["n"].where(out["n"] > 0)
    out["p_eventual"] = p_ev.reindex(stages).to_numpy()
    shrunk = (out["won_in_period"] + SLIP_PRIOR * out["p_eventual"]) / (out["n"] + SLIP_PRIOR)
    out["factor"] = (shrunk / out["p_eventual"].clip(lower=1e-6)).clip(upper=1.0 / 0.999)
    return out


def _learned(wb, as_of: pd.Timestamp) -> tuple:
    """Stage, rep and age-band tables, cached per data and as_of: batch runs call
    :func:`period_forecast` once per rep on the same workbook."""
    return memo_per_data(_CACHE, 8, wb, (as_of,), lambda: _learned_from_disk(wb, as_of))


def _learn(wb, as_of: pd.Timestamp) -> tuple:
    return (
        win_probabilities(wb, as_of),
        win_probabilities(wb, as_of, ("stage", "rep_id")),
        win_probabilities(wb, as_of, ("stage", "age_band")) if len(wb.snapshots) else None,
        in_period_factors(wb, as_of).set_index("key")["factor"],
    )


def _learned_from_disk(wb, as_of: pd.Timestamp) -> tuple:
    """:func:`_learn` through the on-disk cache of learned values: the tables are team-level,
    the same for every document of a batch at the same dates, so the first document that
    needs them at a date pays and the others read them (see
    :func:`salesnb.forecast.cache.learned_cache_path`)."""
    return disk_cached(wb, "winprob", (as_of,), lambda: _learn(wb, as_of), _dump, _load)


def _dump_frame(df: pd.DataFrame | pd.Series | None):
    """Lossless JSON form of a learned table (floats round-trip exactly through ``repr``)."""
    if df is None:
        return None
    if isinstance(df, pd.Series):
        return {
            "series": df.name,
            "index": [df.index.name, str(df.index.dtype), df.index.tolist()],
            "dtype": str(df.dtype),
            "data": df.tolist(),
        }
    if not isinstance(df.index, pd.RangeIndex) or df.index.start != 0 or df.index.step != 1:
        raise TypeError("only tables with a default index are cached")
    return {
        "columns": [[c, str(df[c].dtype), df[c].tolist()] for c in df.columns],
        "attrs": {k: float(v) for k, v in df.attrs.items()},
    }


def _load_frame(d):
    if d is None:
        return None
    if "series" in d:
        name, dtype, values = d["index"]
        index = pd.Index(values, dtype=dtype, name=name)
        return pd.Series(d["data"], index=index, dtype=d["dtype"], name=d["series"])
    df = pd.DataFrame({c: pd.Series(v, dtype=t) for c, t, v in d["columns"]})
    df.attrs.update(d["attrs"])
    return df


def _dump(tables: tuple) -> list:
    return [_dump_frame(t) for t in tables]


def _load(d: list) -> tuple:
    if len(d) != 4:
        raise ValueError("not a learned-tables entry")
    return tuple(_load_frame(t) for t in d)


def deal_probabilities(wb, deals: pd.DataFrame, as_of=None, *, learned_as_of=None) -> pd.Series:
    """Win probability of each open deal: stage rate adjusted for its rep and age band.

    Adjustments add on the log-odds scale: ``logit p = logit p_stage + (logit p_rep,stage -
    logit p_stage) + (logit p_stage,band - logit p_stage)``, each group rate already shrunk.

    Parameters
    ----------
    deals : DataFrame
        Open deals with ``stage``, ``rep_id`` and ``created_date``.
    as_of : date, optional
        Date the deals' ages are taken at; defaults to ``wb.as_of``.
    learned_as_of : date, optional
        Learn the rates from deals closed by this date (on or before ``as_of``; default
        ``as_of``). Backtests pass one date per quarter to learn the tables once.

    Returns
    -------
    Series
        ``p_win`` (0-1), indexed like ``deals``.

    Examples
    --------
    >>> deal_probabilities(wb, wb.opportunities.query("outcome == 'open'"))  # doctest: +SKIP
    """
    as_of = pd.Timestamp(wb.as_of if as_of is None else as_of)
    learned_as_of = as_of if learned_as_of is None else pd.Timestamp(learned_as_of)
    by_stage, by_rep, by_age, _ = _learned(wb, learned_as_of)
    stage = by_stage.set_index("stage")["p"]
    base = deals["stage"].map(stage).astype(float)
    base = base.fillna(deals["stage"].map(wb.config.stages.probability_of())).fillna(0.0)
    z = _logit(base)
    if len(by_rep):
        key = pd.MultiIndex.from_frame(deals[["stage", "rep_id"]])
        p_rep = by_rep.set_index(["stage", "rep_id"])["p"].reindex(key).to_numpy()
        z = z + np.where(np.isnan(p_rep), 0.0, _logit(p_rep) - _logit(base))
    if by_age is not None and len(by_age):
        opps = wb.opportunities
        closed = opps[(opps["outcome"] != "open") & (opps["close_date"] <= learned_as_of)]
        band = _age_band(
            (as_of - deals["created_date"]).dt.days,
            _median_cycle(closed),
            wb.config.old_age_multiple,
        )
        key = pd.MultiIndex.from_arrays([deals["stage"], band])
        p_age = by_age.set_index(["stage", "age_band"])["p"].reindex(key).to_numpy()
        z = z + np.where(np.isnan(p_age), 0.0, _logit(p_age) - _logit(base))
    return pd.Series(1 / (1 + np.exp(-z)), index=deals.index, name="p_win")

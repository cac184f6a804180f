"""The wide KPI table and the subject against peers: :func:`kpi_table`,
:func:`percentile_rank`, :func:`scorecard`.

Public through :mod:`salesnb.analytics.kpis` (its docstring gives the shared signature).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import pandas as pd

from salesnb.analytics.kpiactivity import (
    growth,
)
from salesnb.analytics.kpibase import (
    By,
    DateLike,
    Freq,
    _by_columns,
    _call,
    _Cube,
)
from salesnb.analytics.kpiclosed import (
    _closed,
    avg_deal_size,
    quota_attainment,
    sales_cycle,
    win_rate,
)
from salesnb.analytics.kpifunnel import (
    hygiene_summary,
)
from salesnb.analytics.kpipipeline import (
    _open,
    coverage,
    pipeline,
    velocity,
)
from salesnb.core.errors import ParameterError
from salesnb.data.model import Workbook


# --------------------------------------------------------------------------- the wide table
def kpi_table(
    wb: Workbook, by: By = "rep", freq: Freq | None = "M", *, start: DateLike = None,
    end: DateLike = None, period: str | None = None, as_of: DateLike = None,
    probabilities: Mapping[str, float] | pd.Series | None = None,
) -> pd.DataFrame:  # fmt: skip
    """The headline deal KPIs by group and period in one pass over the opportunities.

    Closed KPIs (``won_deals``, ``lost_deals``, ``bookings``, ``lost_amount``, ``win_rate``,
    ``win_rate_value``, ``avg_deal_size``, ``median_cycle_days``) are bucketed by close date; the
    open pipeline (``open_deals``, ``pipeline``, ``weighted_pipeline``) by expected close date;
    ``created_deals`` by creation date. Each column follows the definition of its own function.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.kpi_table(kpis._example(), by=None, freq="Y")[["period", "bookings", "pipeline"]]
       period  bookings  pipeline
    0  FY2025       0.0       0.0
    1  FY2026    1000.0    1500.0
    """
    call = _call(wb, by, freq, start, end, period, as_of)
    cube = _Cube(call)
    o = call.opps
    p = _open(call, cube, probabilities, finalize=False)
    created = cube.add(p["rows"].rep_pos, o["created_date"], call.in_window(o["created_date"]))
    stats = _closed(call, cube)
    rows, n = p["rows"], cube.n
    stats["open_deals"] = rows.count(n)
    stats["pipeline"] = rows.sum(n, p["amount"])
    stats["weighted_pipeline"] = rows.sum(n, p["weighted"])
    stats["created_deals"] = created.count(n)
    return cube.frame(stats)


# --------------------------------------------------------------------------- peers, scorecard
def percentile_rank(
    df: pd.DataFrame, value_col: str, within: str | Sequence[str] | None = "region", *,
    higher_is_better: bool = True, reps: Workbook | pd.DataFrame | None = None,
) -> pd.Series:  # fmt: skip
    """Each row's percentile (0-100) for ``value_col`` among its peers.

    Definition: percentile = (rank - 1) / (peers - 1) x 100 among the rows of the same ``within``
    group (and period), ranking from worst to best with ties given their average rank; 50 for a
    row without peers; NaN where the value is NaN.

    Parameters
    ----------
    within : column name(s) or None
        Peer group (``"region"``, ``"team"``, ``"manager"``), or None for all rows. Missing
        columns are looked up by ``rep_id`` in ``reps`` (a Workbook or reps table).
    higher_is_better : bool
        False for KPIs where less is better, such as the sales cycle.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> df = pd.DataFrame({"region": ["E", "E", "E", "W"], "win_rate": [0.2, 0.5, 0.5, 0.1]})
    >>> kpis.percentile_rank(df, "win_rate").tolist()
    [0.0, 75.0, 75.0, 50.0]
    """
    if value_col not in df:
        msg = f"Column {value_col!r} is not in the table. Fix: use one of {list(df.columns)!r}."
        raise ParameterError(msg)
    cols = _by_columns(within)
    data = df
    missing = [c for c in cols if c not in df]
    if missing:
        table = reps.reps if isinstance(reps, Workbook) else reps
        if table is None or "rep_id" not in df:
            msg = (
                f"Peer group {missing!r} is not a column of the table. Fix: group the KPI by "
                f"{['rep', *missing]!r} or pass reps=wb."
            )
            raise ParameterError(msg)
        looked = table.drop_duplicates("rep_id").set_index("rep_id")
        data = df.assign(**{c: df["rep_id"].map(looked[c]) for c in missing})
    keys = cols + (["period"] if "period" in data and "period" not in cols else [])
    values = data[value_col].astype(float)
    if keys:
        grouped = values.groupby([data[k] for k in keys], dropna=False)
        rank = grouped.rank(method="average", ascending=higher_is_better)
        peers = grouped.transform("count")
    else:
        rank = values.rank(method="average", ascending=higher_is_better)
        peers = pd.Series(values.notna().sum(), index=values.index)
    pct = (rank - 1) / (peers - 1) * 100
    pct = pct.where(peers > 1, 50.0).where(values.notna())
    return pct.rename(f"{value_col}_percentile")


def scorecard(
    wb: Workbook, by: By = "rep", period: str | None = None, as_of: DateLike = None
) -> pd.DataFrame:
    """The headline KPIs of one period in one table, one row per group.

    ``period`` defaults to the fiscal quarter holding as-of (quarter to date). Every column
    follows the definition of its own function over that period: ``target``, ``bookings``,
    ``attainment``, ``won_deals``, ``lost_deals``, ``win_rate``, ``win_rate_value``,
    ``avg_deal_size``, ``median_cycle_days``, ``open_deals``, ``pipeline``,
    ``weighted_pipeline`` (open deals due in the period), ``coverage``, ``velocity`` (currency
    per day), ``growth`` (the period so far against the whole previous period), ``stale_deals`` and
    ``past_due_deals`` (whole open pipeline at as-of). Grouped by rep, the rep's ``name`` follows
    ``rep_id``.

    Examples
    --------
    >>> from salesnb.analytics import kpis
    >>> kpis.scorecard(kpis._example(), by=None, period="FY2026-Q1")[["period", "attainment"]]
          period  attainment
    0  FY2026-Q1        1.25
    """
    call = _call(wb, by, None, None, None, None, as_of)
    if period is None:
        period = wb.config.calendar.period_label(call.as_of, "Q")
    # Reconstruct the as-of pipeline once; each KPI below then finds nothing left to hide.
    wb = replace(wb, opportunities=call.opps)
    kw = {"period": period, "as_of": call.as_of}
    keys = call.cols
    base = quota_attainment(wb, by, **kw)
    parts = [
        win_rate(wb, by, **kw).drop(columns="bookings"),
        avg_deal_size(wb, by, **kw).drop(columns="won_deals"),
        sales_cycle(wb, by, **kw).drop(columns="won_deals"),
        pipeline(wb, by, **kw),
        coverage(wb, by, **kw)[keys + ["coverage"]],
        velocity(wb, by, **kw)[keys + ["velocity"]],
        growth(wb, by, _freq_of(period), **kw)[keys + ["growth"]],
        hygiene_summary(wb, by, as_of=call.as_of)[keys + ["stale_deals", "past_due_deals"]],
    ]
    out = base
    for part in parts:
        out = out.merge(part, on=keys, how="left") if keys else pd.concat([out, part], axis=1)
    out.insert(len(keys), "period", period)
    if "rep_id" in keys:
        names = wb.reps.drop_duplicates("rep_id").set_index("rep_id")["name"]
        out.insert(keys.index("rep_id") + 1, "name", out["rep_id"].map(names))
    return out


def _freq_of(label: str) -> Freq:
    return "Q" if "-Q" in label else "Y" if label.startswith("FY") else "M"

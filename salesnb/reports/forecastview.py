"""The forecast workbook's view: :func:`forecast_view`, the method in plain words, the history
warning, the pipeline split and the backtest.

Public through :mod:`salesnb.reports.workbooks`; safe prose and tables from
:mod:`salesnb.reports.viewkit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from salesnb.analytics import pipeline as pipe
from salesnb.reports.facts import Context
from salesnb.reports.viewkit import (
    Html,
    _humane_tables,
    _num,
    _owner_col,
    _ratio_text,
    bullets,
    fmt,
    para,
    show,
)


# --------------------------------------------------------------------------- forecast
@dataclass
class ForecastView:
    """Everything the forecast workbook shows (see :func:`forecast_view`)."""

    forecast: Any
    history: pd.DataFrame
    future: pd.DataFrame
    monthly_target: pd.DataFrame | None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    text: dict[str, Html] = field(default_factory=dict)
    headline: dict[str, Any] = field(default_factory=dict)


def forecast_view(ctx: Context, *, months_shown: int = 24, backtest: bool = True) -> ForecastView:
    """Forecast the subject's bookings for ``ctx.period``: history, pipeline, blend, P(target).

    Uses :func:`salesnb.forecast.combined.period_forecast`; the backtest re-forecasts the last six
    months from history with the same pooled model choice (:func:`forecast_backtest`) and
    past quarters from the pipeline as each snapshot saw it.

    Examples
    --------
    >>> v = forecast_view(facts.context(wb, "rep", "R01", forward=True))   # doctest: +SKIP
    >>> v.headline["p_target"]                                              # doctest: +SKIP
    """
    from salesnb.forecast import combined as fc
    from salesnb.forecast.chance import target_chance

    cur = ctx.currency
    key = None if ctx.subject.type == "all" else ctx.subject.key
    pf = fc.period_forecast(ctx.wb, ctx.subject.type, key, ctx.period, ctx.as_of)
    by = None if ctx.subject.type == "all" else ctx.subject.type
    wide = fc.monthly_bookings(ctx.wb, by=by, as_of=ctx.as_of)
    series = wide[pf.subject] if pf.subject in wide.columns else pd.Series(dtype=float)
    hist = series.dropna().tail(months_shown)
    history = pd.DataFrame({"month": hist.index.to_timestamp(), "bookings": hist.to_numpy()})
    f = pf.history.to_frame() if pf.history.ok else pd.DataFrame()
    future = pd.DataFrame({
        "month": f.index.to_timestamp() if len(f) else pd.Series(dtype="datetime64[ns]"),
        **{new: f[old].to_numpy() if len(f) else [] for new, old in
           (("mean", "mean"), ("lo80", "lower_80"), ("hi80", "upper_80"),
            ("lo95", "lower_95"), ("hi95", "upper_95"))},
    })  # fmt: skip
    t = ctx.wb.targets
    t = t[t["rep_id"].isin(ctx.rep_ids)]
    months = pd.concat([history["month"], future["month"]])
    mt = t[t["month"].isin(set(months))].groupby("month", as_index=False)["amount"].sum()
    view = ForecastView(pf, history, future,
                        mt.rename(columns={"amount": "target"}) if len(mt) else None)  # fmt: skip
    d = pf.to_dict()
    # P(target) as shown: calibrated on replayed past quarters, or words saying why not
    ch = target_chance(ctx.wb, pf)
    d["p_attain"] = ch.p
    chance_text = ch.text(lambda x: fmt(x, "chance"))
    rows = [("From history", d["history"], d["p_attain_history"]),
            # the expected figure the text's parts add up to, not the draws' mean (which
            # differs by simulation noise: "$54.1K" in the table beside "$54.2K" in the text)
            ("From the pipeline", {**d["pipeline"], "mean": d["pipeline"]["expected"]},
             d["p_attain_pipeline"]),
            ("Blend", d["blend"], d["p_attain"])]  # fmt: skip
    why = "none: " + ("no booking yet" if pf.history.note.startswith("no booking yet")
                      else "too little history")  # fmt: skip

    def row(name: str, s: dict, p: float) -> list[str]:
        if name == "From history" and not pf.history_total.samples.size:
            # no history view (e.g. no booking yet): its figures are unknown, not $0
            return [why] + ["—"] * 4
        chance = (
            (chance_text if name == "Blend" else fmt(p, "chance")) if pf.target else "no target"
        )
        return [fmt(s[k], "currency", cur) for k in ("mean", "p10", "p50", "p90")] + [chance]

    heads = ["view", "expected", "pessimistic (P10)", "median", "optimistic (P90)",
             "P(reach target)"]  # fmt: skip
    view.tables["summary"] = pd.DataFrame([[n, *row(n, s, p)] for n, s, p in rows], columns=heads)
    cats = pf.pipeline.categories
    if cats:
        view.tables["categories"] = pd.DataFrame(
            [{"roll-up": k.replace("_", " "), "amount": fmt(v, "currency", cur)}
             for k, v in cats.items()])  # fmt: skip
    deals = pf.pipeline.deals.merge(ctx.wb.opportunities[["opp_id", "account"]], on="opp_id",
                                    how="left")  # fmt: skip
    deals["expected"] = deals["p_win"] * deals["amount"]
    if cats:  # a deal created since the last snapshot was not yet called: say so, not a blank
        deals["forecast_category"] = deals["forecast_category"].fillna("not called")
    deals = deals.sort_values(["expected", "opp_id"], ascending=[False, True]).head(12)
    cols = ["opp_id", "rep_id", "account", "stage", "amount", "close_date", "forecast_category",
            "p_win", "expected"]  # fmt: skip
    view.tables["deals"] = _owner_col(ctx, show(
        deals[cols], {"amount": "currency", "expected": "currency", "p_win": "percent"}, cur))  # fmt: skip
    mase = None
    if backtest:
        bt_hist, bt_pipe, notes = forecast_backtest(ctx, series, subject=pf.subject)
        view.tables["backtest_history"], view.tables["backtest_pipeline"] = bt_hist, bt_pipe
        view.text["backtest"] = bullets(notes, empty="")
        if bt_hist is not None and len(bt_hist):
            mase = _num(bt_hist.attrs.get("rel_mase"))
    split = pipeline_split(pf)
    view.tables["pipeline_split"] = pd.DataFrame(
        [{"part": k, "expected": fmt(v, "currency", cur), "how": how}
         for k, v, how in split["rows"]])  # fmt: skip
    view.text["pipeline_split"] = para("{s}", s=split["sentence"](cur))
    lost = mase is not None and mase > 1
    opps = ctx.wb.opportunities
    known = opps["rep_id"].isin(ctx.rep_ids) & (opps["created_date"] <= ctx.as_of)
    no_record = not known.any()
    if no_record:
        # nothing to forecast from: a quarter of $0 would be invented, not expected
        view.text["summary"] = para(
            "<b>No forecast for {who}</b>: the data holds no deal of theirs created by {d} "
            "(none won, lost or open), so there is neither a history nor a pipeline to forecast "
            "from. The figures below are zero for that reason alone, not because a quarter of "
            "{zero} is expected. If {who} sells, check that the export holds their deals.",
            who=ctx.subject.name, d=f"{ctx.as_of:%Y-%m-%d}", zero=fmt(0.0, "currency", cur),
        )  # fmt: skip
    else:
        view.text["summary"] = para(
            "Forecast for <b>{p}</b> ({a} to {b}): about <b>{m}</b>, 80% likely between {lo} and "
            "{hi} ({how}). "
            "Already won: {won}. Target: {t}. Chance of reaching it: <b>{pt}</b>. {split}{warn}",
            p=pf.period, a=f"{pf.period_start:%Y-%m-%d}", b=f"{pf.period_end:%Y-%m-%d}",
            m=fmt(d["blend"]["mean"], "currency", cur), lo=fmt(d["blend"]["p10"], "currency", cur),
            hi=fmt(d["blend"]["p90"], "currency", cur), how=figure_words(pf, ctx.subject.name, cur),
            won=fmt(pf.already_won, "currency", cur),
            t=fmt(pf.target, "currency", cur) if pf.target else "none in the data",
            pt=chance_text if pf.target else "n/a (no target)",
            split=split["sentence"](cur),
            warn=(" " + history_warning(mase, d["pipeline"]["expected"], pf.pipeline_weight,
                                        _last_year(series, pf), cur, figure_is_own(pf)))
            if lost else "",
        )  # fmt: skip
    view.text["method"] = para(
        "<small>Method: the history view is {words}.{tech}</small>",
        words=method_words(pf.history.method, pf.history.note),
        tech=f" Technically: {pf.history.method}"
        + (f"; in its backtest, MASE relative to the seasonal-naive benchmark {mase:.2f}"
           if mase is not None else "") + "." if pf.history.ok else "",
    )  # fmt: skip
    view.text["notes"] = bullets([*pf.notes, ch.sentence], empty="No modelling notes.")
    view.headline = {
        "forecast": None if no_record else d["blend"]["mean"],
        "forecast_p10": None if no_record else d["blend"]["p10"],
        "forecast_p90": None if no_record else d["blend"]["p90"], "target": d["target"],
        "p_target": None if not pf.target else _num(ch.p),
        "already_won": d["already_won"], "pipeline_expected": d["pipeline"]["expected"],
        "pipeline_open_expected": d["pipeline"]["expected_open"],
        "pipeline_not_created": d["pipeline"]["expected_not_created"],
        "history_method": pf.history.method, "backtest_rel_mase": mase,
        "flags": ([f"P(target) {fmt(ch.p, 'chance')}"]
                  if pf.target and ch.p < 0.5 else [])
        + (["history model lost to its benchmark"] if lost else [])
        + (["no deal in the data: no forecast"] if no_record else []),
    }  # fmt: skip
    view.tables = _humane_tables(view.tables, ctx.wb.counts_only)
    return view


def figure_words(pf, name: str, currency: str) -> str:
    """How the forecast's figure was made, in words a manager can check against the views.

    The pooled views' own figure (``pf.base_expected``) is named when the document's figure
    differs from it by more than 5%: the figure is then the one that forecast the level best
    in past quarters (``pf.calibration["mix"]``, ``"mix_chosen"``), or with too few past
    quarters to choose by half the whole team's forecast and half the same quarter last year
    (the team's forecast alone where no same quarter last year is known, and outside a
    quarter), kept so that reps add up to their manager, region and the team.

    Examples
    --------
    >>> pf = period_forecast(wb, "rep", "R16", "FY2026-Q4", "2026-09-30")  # doctest: +SKIP
    >>> figure_words(pf, "Samuel Adeyemi", "USD")                   # doctest: +SKIP
    "the way of forecasting that missed least in past quarters ...; Samuel Adeyemi's own ..."
    """
    w = fmt(pf.pipeline_weight, "percent")
    own = float(pf.base_expected)
    if not figure_is_own(pf):
        cal = pf.calibration
        if cal.get("mix_chosen"):
            how = "the way of forecasting that missed least in past quarters at this point of the quarter"
        elif cal.get("mix") and cal.get("last_year"):
            how = (
                "for want of past quarters to choose by, half the whole team's forecast and "
                "half the same quarter last year, shared out in proportion to each rep's own"
            )
        else:
            how = "the whole team's forecast shared out in proportion to each rep's own"
        whose = "the whole team's" if pf.subject_type == "all" else f"{name}'s"
        views = (
            f"{whose} own history and pipeline views pooled, the pipeline counting for {w}, give"
            if pf.history.ok
            else f"{whose} own pipeline view alone (no history view) gives"
        )
        return (
            f"{how}, kept so that reps add up to their manager, region and the team; "
            f"{views} {fmt(own, 'currency', currency)}"
        )
    if not pf.history.ok:
        return "the pipeline view alone: there is no history view to pool it with"
    return f"the history and pipeline views pooled, the pipeline counting for {w}"


def figure_is_own(pf) -> bool:
    """Whether the document's figure is the subject's own pooled views (within 5%), not a
    level's figure shared out (:func:`figure_words`).

    Examples
    --------
    >>> figure_is_own(period_forecast(wb, "rep", "R27"))  # doctest: +SKIP
    False
    """
    own, shown = float(pf.base_expected), float(pf.blended.mean)
    return not np.isfinite(own) or abs(shown - own) <= 0.05 * max(abs(own), 1.0)


def _last_year(series: pd.Series, pf) -> float | None:
    """Bookings in the same months a year before the forecast period (None if unknown)."""
    months = pd.period_range(pf.period_start, pf.period_end, freq="M") - 12
    if not len(series) or not set(months) <= set(series.dropna().index):
        return None
    return float(series.loc[months].sum())


_FAMILY_WORDS = {
    "mean": "the long-run monthly average",
    "naive": "the last month repeated",
    "snaive": "the same month a year before",
    "drift": "the trend line from first to last month",
    "ets": "exponential smoothing (recent months weigh most)",
    "arima": "an autoregressive model (months pulled back towards the average)",
}


def method_words(method: str, note: str = "") -> str:
    """The history model in plain words (its technical name goes to a footnote); ``note``
    (the history forecast's) says why there is none.

    Examples
    --------
    >>> method_words("combo(arima(2,0,0)+ets(A,N,N)+mean)×season(team)")[:46]
    'an equal-weight average of 3 models of the sub'
    >>> method_words("mean×season(team)").endswith("the whole team's seasonal pattern")
    True
    >>> method_words("none", "no booking yet: nothing for history to go on")
    'not available: no booking yet to go on'
    """
    if method == "none":
        if note.startswith("no booking yet"):
            return "not available: no booking yet to go on"
        return "not available (too little history)"
    base, _, season = method.partition("×")
    if base.startswith("combo("):
        parts = [m.split("(")[0] for m in base[len("combo(") : -1].split("+")]
        words = ", ".join(_FAMILY_WORDS.get(p, p) for p in parts)
        text = (
            f"an equal-weight average of {len(parts)} models of the subject's own monthly "
            f"bookings ({words})"
        )
    else:
        fam = base.split("(")[0]
        text = f"{_FAMILY_WORDS.get(fam, fam)}, fitted to the subject's own monthly bookings"
    if season:
        text += ", shaped by the whole team's seasonal pattern"
    return text


def history_warning(
    rel_mase: float,
    pipeline_expected: float,
    weight: float,
    last_year: float | None,
    currency: str,
    own_figure: bool = True,
) -> str:
    """Plain words when the history model lost to its benchmark in its own backtest.

    The sentence points to the better view: the pipeline when past quarters gave it the
    larger weight in the blend (``weight`` >= 0.5), else the same months a year before (the
    benchmark that beat the model), with the pipeline's figure beside it. When the document's
    figure is not the subject's own pooled views (``own_figure`` False, :func:`figure_is_own`)
    it says so instead of pointing away from the figure it shows.

    Examples
    --------
    >>> history_warning(1.41, 30_500.0, 0.8, 90_000.0, "USD").split("less: ")[1]
    "lean on the pipeline view ($30.5K), which past quarters' errors weight at 80% in the blend."
    >>> history_warning(1.41, 30_500.0, 0.8, None, "USD", own_figure=False).split("less. ")[1]
    'The figure above was not made from these views alone (see how, above); in them the pipeline view ($30.5K) counts for 80%.'
    """
    head = (
        "Caution: in its own backtest the history model missed by more than simply repeating "
        f"the same month a year before (its errors were {rel_mase:.2f} times the benchmark's),"
        " so trust the history view less"
    )
    pipe = fmt(pipeline_expected, "currency", currency)
    share = fmt(weight, "percent")
    if not own_figure:
        return (
            f"{head}. The figure above was not made from these views alone (see how, above); "
            f"in them the pipeline view ({pipe}) counts for {share}."
        )
    if weight >= 0.5 or last_year is None:
        return (
            f"{head}: lean on the pipeline view ({pipe}), which past quarters' errors weight "
            f"at {share} in the blend."
        )
    return (
        f"{head}: the same months a year before brought {fmt(last_year, 'currency', currency)}"
        f"; past quarters' errors weight the pipeline view ({pipe}) at only {share}."
    )


def pipeline_split(pf) -> dict[str, Any]:
    """The pipeline view's expected total in its three parts, for the document and headline.

    Returns
    -------
    dict
        ``rows``: (part, expected currency, how) for won so far, open deals and deals not yet
        created (they add up to ``total``, the pipeline view's expected total);
        ``sentence``: a function of the currency giving the sentence.

    Examples
    --------
    >>> s = pipeline_split(period_forecast(wb, "rep", "R28"))  # doctest: +SKIP
    >>> sum(v for _, v, _ in s["rows"]) == s["total"]  # doctest: +SKIP
    True
    """
    p = pf.pipeline
    rr = p.run_rate
    n_open = len(p.deals)
    recent, usual = int(rr.get("recent_created", 0)), float(rr.get("usual_created", 0.0))
    days = int(rr.get("days_left", 0))
    if rr.get("borrowed"):
        pace = (
            "at this rep's pace of new deals so far, each won as often as the team's new deals "
            "are, since the rep has no win of its own yet to learn from, over the "
            f"{days} days of the period left"
        )
    elif usual > 0:
        pace = (
            f"at the recent pace of new deals: {recent} created in the last 91 days against "
            f"about {usual:.0f} at the past year's pace, over the {days} days of the period left"
        )
    else:
        pace = f"at the past year's pace of new deals, over the {days} days of the period left"
    late = int(p.deals["past_due"].sum()) if n_open else 0
    late_words = f" ({late} of them past their close date)" if late else ""
    if late == 1 and n_open == 1:
        late_words = " (past its close date)"
    deals = f"{n_open} open deal" + ("" if n_open == 1 else "s")
    rows = [
        ("won so far", float(p.already_won), "deals already won in the period"),
        ("open deals", float(p.expected_open),
         (f"{deals} due in the period{late_words}, each times its chance of "
          "winning in time")),
        ("deals not yet created", float(p.expected_run_rate), pace),
    ]  # fmt: skip
    total = float(p.expected)

    def sentence(cur: str) -> str:
        return (
            f"The pipeline view expects {fmt(total, 'currency', cur)}: "
            f"{fmt(rows[0][1], 'currency', cur)} won so far, "
            f"{fmt(rows[1][1], 'currency', cur)} from {deals}{late_words} and "
            f"{fmt(rows[2][1], 'currency', cur)} from deals not yet created ({pace})."
        )

    return {"rows": rows, "total": total, "sentence": sentence}


def forecast_backtest(
    ctx: Context, series: pd.Series, *, n_snapshots: int = 6, subject: str | None = None
) -> tuple[pd.DataFrame | None, pd.DataFrame | None, list[str]]:
    """How well past forecasts did: history model vs naive, and pipeline forecasts at snapshots.

    The history backtest scores the method the document forecasts with: at each of 6 monthly
    origins the subjects of the subject's level are forecast together, so the automatic
    model is the level's pooled choice (:func:`salesnb.forecast.backtest.subject_backtest`, cached on
    disk per data set); the whole team has no peers and chooses alone
    (:func:`salesnb.forecast.backtest.backtest_history`).

    Parameters
    ----------
    ctx : Context
    series : Series
        The subject's monthly bookings (a column of ``monthly_bookings``).
    n_snapshots : int
        Past snapshots of finished quarters in the pipeline backtest, at most.
    subject : str, optional
        The subject's column in ``monthly_bookings`` of its level; default ``series.name``.

    Returns
    -------
    tuple
        The history backtest (one row per method, formatted; ``attrs['rel_mase']`` of the
        automatic model), the pipeline backtest (one row per past snapshot of a finished
        quarter: expected, P10-P90, actual, inside the band), and notes.
    """
    from salesnb.core.errors import NotEnoughDataError
    from salesnb.forecast import backtest as bt
    from salesnb.forecast import combined as fc

    cur, notes = ctx.currency, []
    hist_table = None
    subject = series.name if subject is None else subject
    try:
        if ctx.subject.type == "all" or subject is None:
            team = fc.team_series(ctx.wb, ctx.as_of)
            res = bt.backtest_history(series.dropna(), 3, 6, methods=["auto"], parent=team)
        else:
            res = bt.subject_backtest(ctx.wb, ctx.subject.type, str(subject), ctx.as_of, 3, 6)
        s = res.summary
        hist_table = pd.DataFrame({
            "method": ["automatic model" if m == "auto" else f"{m} (benchmark)" for m in s.index],
            "MASE": [_ratio_text(v) for v in s["mase"]],
            "vs benchmark": [_ratio_text(v) for v in s["rel_mase"]],
            "bias": [fmt(v, "growth") for v in s["bias"]],
            "inside 80% interval": [fmt(v, "percent") for v in s["coverage"]],
            "forecasts": s["n"].astype(int).to_numpy(),  # not its index: no "method" row
        })  # fmt: skip
        hist_table.attrs["rel_mase"] = (
            float(s.loc["auto", "rel_mase"]) if "auto" in s.index else None
        )
        notes.append("History backtest: 6 monthly origins, 3 months ahead each; MASE below 1 "
                     "beats the average error of the naive benchmark in its own history, "
                     "'vs benchmark' below 1 beats the benchmark here.")  # fmt: skip
    except NotEnoughDataError as exc:
        notes.append(f"No history backtest: {exc}")
    cal = ctx.wb.config.calendar
    dates = [d for d in pipe.snapshot_dates(ctx.wb) if d <= ctx.as_of]
    rows = []
    for d in dates:
        q = cal.period_label(d, "Q")
        start, end = cal.period_bounds(q)
        if end <= ctx.as_of and (end - d).days >= 14:
            rows.append((d, q, start, end))
    rows = (
        rows[-n_snapshots:]
        if len(rows) <= n_snapshots
        else rows[:: max(1, len(rows) // n_snapshots)][-n_snapshots:]
    )
    o = ctx.wb.opportunities
    won = o[o["rep_id"].isin(ctx.rep_ids) & (o["outcome"] == "won")]
    out = []
    for d, q, start, end in rows:
        p = fc.forecast_pipeline(ctx.wb, ctx.rep_ids, start, end, d, n_sims=2000)
        actual = float(won.loc[won["close_date"].between(start, end), "amount"].sum())
        lo, hi = p.total.quantile(0.1), p.total.quantile(0.9)
        out.append({"snapshot": f"{d:%Y-%m-%d}", "quarter": q,
                    "expected": fmt(p.expected, "currency", cur),
                    "P10 – P90": f"{fmt(lo, 'currency', cur)} – {fmt(hi, 'currency', cur)}",
                    "actual": fmt(actual, "currency", cur),
                    "inside": "yes" if lo <= actual <= hi else "no"})  # fmt: skip
    pipe_table = pd.DataFrame(out) if out else None
    if out:
        inside = sum(r["inside"] == "yes" for r in out)
        notes.append(f"Pipeline backtest: {inside} of {len(out)} past quarters landed inside "
                     "the P10–P90 band forecast from the pipeline as it stood then "
                     "(about 80% is well calibrated).")  # fmt: skip
    else:
        notes.append("No pipeline backtest: no pipeline snapshot falls inside a finished quarter.")
    return hist_table, pipe_table, notes

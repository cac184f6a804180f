"""Chart builders (asserted on ``to_dict()``, not pixels) and the offline SVG renderer."""

from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import sys

import altair as alt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import salesnb.reports.chartrender as cr
from salesnb.core.errors import ParameterError, RenderError
from salesnb.reports import charts as ch


@pytest.fixture(autouse=True)
def _restore_altair_state():
    """Theme, renderer and converter are process-wide: leave them as found."""
    theme, renderer = alt.theme.active, alt.renderers.active
    yield
    cr.set_svg_converter(None)
    alt.theme.enable(theme)
    alt.renderers.enable(renderer)


def layers(chart) -> list[dict]:
    return chart.to_dict()["layer"]


def dataset(chart, layer: int = 0) -> pd.DataFrame:
    """The inline data a layer draws (altair moves it to top-level ``datasets``)."""
    spec = chart.to_dict()
    name = (spec["layer"][layer].get("data") or spec["data"])["name"]
    return pd.DataFrame(spec["datasets"][name])


def color_meaning(encoding: dict) -> dict[str, str]:
    scale = encoding["color"]["scale"]
    return dict(zip(scale["domain"], scale["range"], strict=True))


# --------------------------------------------------------------------------- formatting


def test_currency_symbol_and_money_text():
    assert ch.currency_symbol("usd") == "$"
    assert ch.currency_symbol("GBP") == "£"
    assert ch.currency_symbol("SEK") == "SEK "
    with pytest.raises(ParameterError, match="Unknown currency"):
        ch.currency_symbol("dollars")
    # the kit's one formatter: 1,250,000 -> 1.2M (one decimal below 100); 999,999 -> 1M
    got = ch.format_money([1_250_000, 999_999, -950, np.nan], "EUR", compact=True).tolist()
    assert got == ["€1.2M", "€1M", "-€950", "–"]
    assert ch.format_money([2500.4, -10], signed=True).tolist() == ["+$2,500", "-$10"]


def test_money_axis_uses_the_currency_symbol():
    df = pd.DataFrame({"label": ["Q1"], "bookings": [1.0], "target": [1.0]})
    enc = layers(ch.attainment_bars(df, currency="GBP"))[0]["encoding"]
    assert enc["y"]["title"] == "Bookings (GBP)"
    assert '"£"' in enc["y"]["axis"]["labelExpr"]


# --------------------------------------------------------------------------- attainment


def test_attainment_bars_colour_means_attainment():
    df = pd.DataFrame(
        {
            "label": ["Ann", "Bob", "Cyd", "Dee"],
            "bookings": [120.0, 90.0, 70.0, 50.0],
            "target": [100.0, 100.0, 100.0, 0.0],
        }
    )
    chart = ch.attainment_bars(df, warn_at=0.8)
    bars, ticks, text = layers(chart)
    assert (bars["mark"]["type"], ticks["mark"]["type"], text["mark"]["type"]) == (
        "bar", "tick", "text",
    )  # fmt: skip
    meaning = color_meaning(bars["encoding"])
    assert meaning[ch.ON_TARGET] == ch.GOOD and meaning[ch.BELOW_TARGET] == ch.WARN
    assert meaning[ch.WELL_BELOW] == ch.BAD and meaning[ch.NO_TARGET] == ch.NEUTRAL
    data = dataset(chart)
    # 120/100 = 1.2 on; 90/100 = 0.9 >= 0.8 below; 70/100 = 0.7 < 0.8 well below; target 0 none
    assert data["status"].tolist() == [ch.ON_TARGET, ch.BELOW_TARGET, ch.WELL_BELOW, ch.NO_TARGET]
    assert data["attainment_text"].tolist() == ["120%", "90%", "70%", "–"]
    assert ticks["encoding"]["y"]["field"] == "target_tick"
    assert data["target_tick"].isna().tolist() == [False, False, False, True]
    assert bars["encoding"]["x"]["sort"] == ["Ann", "Bob", "Cyd", "Dee"]  # caller's order kept


def test_attainment_bars_horizontal_swaps_axes():
    df = pd.DataFrame({"label": ["Ann"], "bookings": [1.0], "target": [2.0]})
    enc = layers(ch.attainment_bars(df, orient="horizontal"))[0]["encoding"]
    assert enc["y"]["field"] == "label" and enc["x"]["field"] == "bookings"


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (pd.DataFrame({"label": ["a"], "bookings": [1.0]}), "no column 'target'"),
        (
            pd.DataFrame({"label": ["a", "a"], "bookings": [1, 2], "target": [1, 1]}),
            "more than once",
        ),
        (pd.DataFrame({"label": ["a"], "bookings": ["lots"], "target": [1]}), "non-numbers"),
    ],
)
def test_attainment_bars_bad_input_is_a_parameter_error(frame, match):
    with pytest.raises(ParameterError, match=match):
        ch.attainment_bars(frame)


def test_empty_input_gives_a_message_not_bare_axes():
    chart = ch.attainment_bars(pd.DataFrame(columns=["label", "bookings", "target"]))
    spec = chart.to_dict()
    assert spec["mark"]["type"] == "text"
    assert "No bookings" in json.dumps(spec)


# --------------------------------------------------------------------------- peers & privacy

PEERS = pd.DataFrame(
    {
        "name": ["Zelda Quist", "Yusuf Orban", "Xena Pratt", "Walt Nyberg"],
        "win_rate": [0.20, 0.25, 0.30, 0.40],
        "deal_size": [8_000.0, 10_000.0, 12_000.0, 20_000.0],
    }
)


def peer_stats(metric: str, column: str, value: float, unit: str) -> dict:
    s = PEERS[column]
    return {"metric": metric, "value": value, "p25": s.quantile(0.25), "median": s.median(),
            "p75": s.quantile(0.75), "n_peers": len(s), "unit": unit}  # fmt: skip


def test_scorecard_vs_peers_holds_no_peer_names_or_values():
    stats = pd.DataFrame(
        [
            peer_stats("Win rate", "win_rate", 0.22, "percent"),
            peer_stats("Deal size", "deal_size", 15_000.0, "currency"),
        ]
    )
    spec = ch.scorecard_vs_peers(stats, subject_label="You").to_dict()
    text = json.dumps(spec)
    for name in PEERS["name"]:
        assert name not in text
        for part in name.split():
            assert part not in text
    # the top peer's exact value (max) must not appear; quartiles are interpolated
    assert "20000" not in text.replace(",", "") and "0.4," not in text
    rows = spec["vconcat"]
    assert len(rows) == 2
    band, median, dot = rows[0]["layer"]
    assert band["encoding"]["x"]["field"] == "p25" and band["encoding"]["x2"]["field"] == "p75"
    assert median["encoding"]["x"]["field"] == "median"
    # win rate 0.22 < median (0.25+0.30)/2 = 0.275 -> worse; deal size 15,000 > 11,000 -> better
    assert color_meaning(dot["encoding"])[ch.BELOW_PEERS] == ch.WARN
    statuses = [pd.DataFrame(spec["datasets"][r["data"]["name"]])["status"][0] for r in rows]
    assert statuses == [ch.BELOW_PEERS, ch.AT_OR_ABOVE_PEERS]


def test_scorecard_vs_peers_refuses_per_peer_rows_and_unknown_columns():
    per_peer = pd.DataFrame(
        {"metric": ["Win rate"] * 2, "value": [0.3] * 2, "p25": [0.2, 0.4], "median": [0.2, 0.4],
         "p75": [0.2, 0.4], "n_peers": [1, 1]}
    )  # fmt: skip
    with pytest.raises(ParameterError, match="more than once"):
        ch.scorecard_vs_peers(per_peer)
    named = pd.DataFrame([peer_stats("Win rate", "win_rate", 0.3, "percent")]).assign(
        top_peer="Zelda Quist"
    )
    with pytest.raises(ParameterError, match="top_peer"):
        ch.scorecard_vs_peers(named)


def test_scorecard_hides_band_with_too_few_peers_and_respects_direction():
    stats = pd.DataFrame(
        {"metric": ["Cycle", "Win rate"], "value": [40.0, 0.3], "p25": [50.0, 0.2],
         "median": [60.0, 0.25], "p75": [70.0, 0.35], "n_peers": [5, 2],
         "unit": ["days", "percent"], "higher_is_better": [False, True]}
    )  # fmt: skip
    spec = ch.scorecard_vs_peers(stats, min_peers=3).to_dict()
    first, second = (pd.DataFrame(spec["datasets"][r["data"]["name"]]) for r in spec["vconcat"])
    assert first["status"][0] == ch.AT_OR_ABOVE_PEERS  # 40 days < median 60, lower is better
    assert second["status"][0] == ch.TOO_FEW_PEERS
    assert second[["p25", "median", "p75"]].isna().all(axis=None)  # 2 peers: band not shown
    assert spec["vconcat"][0]["layer"][0]["encoding"]["x"]["title"] == "Cycle (days)"


# --------------------------------------------------------------------------- pipeline


def test_funnel_computes_conversion_and_compares_with_team():
    df = pd.DataFrame(
        {"stage": ["Qualify", "Propose", "Won"], "count": [40, 20, 8],
         "team_conversion": [0.6, 0.3, None]}
    )  # fmt: skip
    chart = ch.funnel(df, tolerance=0.05)
    data = dataset(chart)
    # 20/40 = 0.5 < 0.6 - 0.05 -> below; 8/20 = 0.4 >= 0.3 -> at/above; last stage has none
    assert data["conversion"].tolist()[:2] == [0.5, 0.4]
    assert data["status"].tolist() == [ch.BELOW_TEAM, ch.AT_OR_ABOVE_TEAM, ch.LAST_STAGE]
    assert data["label"][0] == "→ 50% to next (team 60%)"
    bars = layers(chart)[0]
    assert bars["encoding"]["y"]["sort"] == ["Qualify", "Propose", "Won"]
    assert color_meaning(bars["encoding"])[ch.BELOW_TEAM] == ch.WARN


def test_funnel_by_amount_uses_money_axis():
    df = pd.DataFrame({"stage": ["A", "B"], "count": [2, 1], "amount": [2e5, 1e5]})
    x = layers(ch.funnel(df, measure="amount", currency="EUR"))[0]["encoding"]["x"]
    assert x["field"] == "amount" and x["title"] == "Value reaching the stage (EUR)"


def test_stage_conversion_vs_team_marks_the_bottleneck():
    df = pd.DataFrame(
        {"stage": ["Qualify", "Propose", "Close"], "conversion": [0.4, 0.5, 0.7],
         "team_conversion": [0.6, 0.52, 0.65], "bottleneck": [True, False, False]}
    )  # fmt: skip
    chart = ch.stage_conversion_vs_team(df)
    bars, team, _ = layers(chart)
    assert team["mark"]["type"] == "tick" and team["encoding"]["x"]["field"] == "team_conversion"
    # 0.4 vs 0.6 below; 0.5 vs 0.52 below too (however close); 0.7 vs 0.65 above
    data = dataset(chart)
    assert data["status"].tolist() == [ch.BELOW_TEAM, ch.BELOW_TEAM, ch.AT_OR_ABOVE_TEAM]
    assert data["text"].tolist() == [
        "40% (team 60%)  ← bottleneck", "50% (team 52%)", "70% (team 65%)",
    ]  # fmt: skip
    assert color_meaning(bars["encoding"])[ch.BELOW_TEAM] == ch.WARN
    assert ch.BOTTLENECK not in color_meaning(bars["encoding"])


@pytest.mark.parametrize("conv, team", [(0.74, 0.78), (0.779, 0.78), (0.40, 0.78)])
def test_below_the_team_is_the_same_colour_in_every_stage_chart(conv, team):
    # issue 18: 74% vs 78% was teal in one document while 79% vs 78% was red in another
    stages = pd.DataFrame({"stage": ["A", "B"], "conversion": [conv, 0.9],
                           "team_conversion": [team, 0.5], "bottleneck": [False, True]})  # fmt: skip
    conv_chart = ch.stage_conversion_vs_team(stages)
    funnel = ch.funnel(pd.DataFrame({"stage": ["A", "B", "C"], "count": [100, 100 * conv, 10],
                                     "team_conversion": [team, None, None]}))  # fmt: skip
    for chart in (conv_chart, funnel):
        status = dataset(chart)["status"].tolist()
        colours = color_meaning(layers(chart)[0]["encoding"])
        assert colours[status[0]] == ch.WARN, (conv, team, status)
    # the flagged bottleneck above the team keeps the colour of a stage above the team
    flagged = dataset(conv_chart)["status"][1]
    assert color_meaning(layers(conv_chart)[0]["encoding"])[flagged] == ch.GOOD


def test_waterfall_floats_each_bar_from_the_running_total():
    df = pd.DataFrame(
        {"step": ["Start", "New", "Pulled in", "Pushed out", "Won", "Lost", "Value up",
                  "Value down", "End"],
         "amount": [1000.0, 300, 50, 120, 200, 90, 40, 30, 950]}
    )  # fmt: skip
    chart = ch.waterfall(df)
    data = chart.data
    # running: 1000 +300=1300 +50=1350 -120=1230 -200=1030 -90=940 +40=980 -30=950 = End
    assert data["base"].tolist() == [0, 1000, 1300, 1230, 1030, 940, 940, 950, 0]
    assert data["top"].tolist() == [1000, 1300, 1350, 1350, 1230, 1030, 980, 980, 950]
    assert data["status"].tolist() == [
        "Open pipeline", "Added", "Added", "Slipped or shrank", "Won", "Lost", "Added",
        "Slipped or shrank", "Open pipeline",
    ]  # fmt: skip
    assert data["text"][3] == "-$120"
    bars = layers(chart)[0]
    assert bars["encoding"]["y2"]["field"] == "top"
    meaning = color_meaning(bars["encoding"])
    # won is good although it leaves the pipeline; lost is bad; open pipeline neutral
    assert (meaning["Won"], meaning["Lost"], meaning["Open pipeline"]) == (
        ch.GOOD, ch.BAD, ch.NEUTRAL,
    )  # fmt: skip
    assert meaning["Slipped or shrank"] == ch.WARN and meaning["Added"] not in (ch.BAD, ch.WARN)


def test_waterfall_signed_amounts_give_the_same_chart_and_mismatch_is_refused():
    magnitudes = pd.DataFrame({"step": ["Start", "won", "End"], "amount": [100.0, 30.0, 70.0]})
    signed = magnitudes.assign(amount=[100.0, -30.0, 70.0])
    assert (
        ch.waterfall(signed).data["base"].tolist() == ch.waterfall(magnitudes).data["base"].tolist()
    )
    custom = pd.DataFrame({"step": ["Start", "FX", "End"], "amount": [100.0, -5.0, 95.0]})
    assert ch.waterfall(custom).data["status"][1] == "Slipped or shrank"  # own step: sign as given
    with pytest.raises(ParameterError, match="plus changes gives 70.00"):
        ch.waterfall(magnitudes.assign(amount=[100.0, 30.0, 80.0]))


def test_pipeline_aging_past_due_outranks_stale():
    df = pd.DataFrame(
        {"age_days": [10, 200, 300, 40], "amount": [5e3, 2e4, 1e4, 1e3],
         "is_stale": [False, True, True, None], "is_past_due": [False, False, True, False],
         "label": ["Acme renewal", "Bolt", "Core", "Dune"]}
    )  # fmt: skip
    chart = ch.pipeline_aging(df, typical_age_days=90)
    assert dataset(chart)["status"].tolist() == [ch.OK_DEAL, ch.STALE, ch.PAST_DUE, ch.OK_DEAL]
    points, rule = layers(chart)
    assert points["encoding"]["x"]["title"] == "Deal age (days since created)"
    assert color_meaning(points["encoding"])[ch.PAST_DUE] == ch.BAD
    assert rule["mark"]["type"] == "rule"
    hist = layers(ch.pipeline_aging(df, kind="histogram"))[0]
    assert hist["mark"]["type"] == "bar" and hist["encoding"]["x"]["bin"] == {"maxbins": 20}


# --------------------------------------------------------------------------- forecast & goals


def _forecast_frames():
    hist = pd.DataFrame(
        {"month": pd.date_range("2026-01-01", periods=3, freq="MS"), "bookings": [100.0, 80, 120]}
    )
    fc = pd.DataFrame(
        {"month": pd.date_range("2026-04-01", periods=2, freq="MS"), "mean": [100.0, 100],
         "lo80": [80.0, 70], "hi80": [120.0, 130], "lo95": [70.0, 60], "hi95": [130.0, 140]}
    )  # fmt: skip
    return hist, fc


def test_bookings_forecast_has_history_mean_bands_and_target():
    hist, fc = _forecast_frames()
    band95, band80, line, rule = layers(ch.bookings_forecast(hist, fc, 110.0, currency="EUR"))
    assert (band95["encoding"]["y"]["field"], band95["encoding"]["y2"]["field"]) == ("lo95", "hi95")
    assert (band80["encoding"]["y"]["field"], band80["encoding"]["y2"]["field"]) == ("lo80", "hi80")
    assert band95["encoding"]["y"]["title"] == "Bookings per month (EUR)"
    assert color_meaning(line["encoding"]) == {"Actual": ch.SUBJECT, "Forecast": ch.FORECAST,
                                               "Target": ch.TARGET}  # fmt: skip
    assert rule["mark"]["type"] == "rule"
    target = pd.DataFrame({"month": hist["month"], "target": 90.0})
    chart = ch.bookings_forecast(hist, fc, target)
    assert len(chart.layer) == 3
    series = dataset(chart, 2)["series"].value_counts().to_dict()
    assert series == {"Actual": 3, "Forecast": 2, "Target": 3}
    # one tick per month on a short span (Vega-Lite's own ticks were weekly, each labelled
    # with its month: "Apr 2026 Apr 2026 Apr 2026"); every 3rd month over 3 years
    axis = line["encoding"]["x"]["axis"]
    assert axis["tickCount"] == {"interval": "month", "step": 1} and axis["format"] == "%b %Y"
    long = pd.DataFrame({"month": pd.date_range("2023-01-01", periods=36, freq="MS"),
                         "bookings": 100.0})  # fmt: skip
    axis = layers(ch.bookings_forecast(long, fc, 110.0))[2]["encoding"]["x"]["axis"]
    assert axis["tickCount"] == {"interval": "month", "step": 4}  # 38 months / 12, rounded up


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0, 1e7, allow_nan=False), min_size=1, max_size=300),
    st.floats(0, 1e7, allow_nan=False),
)
def test_distribution_bins_never_straddle_the_target(values, target):
    chart = ch.distribution(pd.Series(values), target, bins=20)
    data = chart.layer[0].data
    assert np.isclose(data["share"].sum(), 1.0)
    assert ((data["end"] <= target) | (data["start"] >= target)).all()
    reach = data.loc[data["status"] == ch.REACHES, "share"].sum()
    assert np.isclose(reach, np.mean(np.asarray(values) >= target))


def test_distribution_keeps_the_far_tail_in_one_last_bar_and_no_bar_below_zero():
    # R01's quarter start: ratio draws with a long right tail (up to ~10x the median); the
    # bars used to run to $1.6M with the first bar starting at -$20K
    rng = np.random.default_rng(0)
    x = np.concatenate([np.exp(rng.normal(11.8, 0.7, 9990)), np.full(10, 1.6e6), [0.0]])
    data = ch.distribution(x, 190_500.0).layer[0].data
    assert data["start"].min() == 0.0
    cut = np.quantile(x, 0.995)
    assert data["end"].max() <= cut + (data["end"] - data["start"]).max()
    assert data["range_text"].iloc[-1].endswith(" or more")
    assert np.isclose(data["share"].iloc[-1], np.mean(x >= data["start"].iloc[-1]))
    assert np.isclose(data["share"].sum(), 1.0)
    reach = data.loc[data["status"] == ch.REACHES, "share"].sum()
    assert np.isclose(reach, np.mean(x >= 190_500.0))
    # a target in the far tail still splits the bars right
    far = ch.distribution(x, 1.0e6).layer[0].data
    assert np.isclose(far.loc[far["status"] == ch.REACHES, "share"].sum(), np.mean(x >= 1.0e6))


def test_distribution_annotates_p_attain():
    sims = pd.DataFrame({"bookings": [80.0, 90.0, 110.0, 120.0]})
    chart = ch.distribution(sims, 100.0)
    # 2 of 4 simulations >= 100
    assert chart.to_dict()["title"]["subtitle"].startswith("P(reach target of $100) = 50%")
    bars, rule, _label = layers(chart)
    assert rule["encoding"]["x"]["field"] == "target"
    assert "P = 50%" in json.dumps(chart.to_dict())
    assert color_meaning(bars["encoding"]) == {ch.REACHES: ch.GOOD, ch.MISSES: ch.WARN}
    given_p = ch.distribution(sims, 100.0, p_attain=0.37)
    first, second = given_p.to_dict()["title"]["subtitle"]
    assert "= 37%" in first and second.startswith("50% of the simulated outcomes shown reach")
    same = ch.distribution(sims, 100.0, p_attain=0.5).to_dict()["title"]["subtitle"]
    assert isinstance(same, str) and "= 50%" in same  # nothing corrected: one line
    unknown = ch.distribution(sims, 100.0, p_attain=float("nan")).to_dict()
    assert unknown["title"]["subtitle"].startswith("Chance of reaching target of $100: unknown")
    assert "P = " not in json.dumps(unknown) and "50%" not in json.dumps(unknown)


def test_decomposition_stacks_groups_and_labels_totals():
    df = pd.DataFrame(
        {"period": ["Q1", "Q1", "Q2", "Q2"], "group": ["East", "West"] * 2,
         "amount": [100.0, 50.0, 120.0, 80.0]}
    )  # fmt: skip
    chart = ch.decomposition(df)
    bars, text = layers(chart)
    assert bars["encoding"]["color"]["field"] == "group"
    assert text["mark"]["type"] == "text"
    assert dataset(chart, 1)["text"].tolist() == ["$150", "$200"]  # 100+50, 120+80


def test_reverse_funnel_coverage_and_labels():
    df = pd.DataFrame(
        {"step": ["Target", "Pipeline", "Deals", "Meetings"], "needed": [500.0, 1600, 20, 200],
         "current": [500.0, 900, 8, np.nan], "unit": ["currency", "currency", "deals", "meetings"]}
    )  # fmt: skip
    data = ch.reverse_funnel(df, warn_at=0.5).layer[0].data
    # 500/500 = 1.0 covered; 900/1600 = 0.5625 >= 0.5 partly; 8/20 = 0.4 far; meetings unknown
    assert data["status"].tolist() == ["Covered", "Partly covered", "Far from covered",
                                       ch.NOT_MEASURED]  # fmt: skip
    assert data["text"].tolist()[2:] == ["have 8 of 20 deals needed (40%)", "need 200 meetings"]


def test_activity_trend_team_median_is_grey_and_dashed():
    df = pd.DataFrame(
        {"period": pd.to_datetime(["2026-01-05", "2026-01-12"] * 2),
         "activity_type": ["call", "call", "meeting", "meeting"], "count": [12, 15, 3, 4],
         "team_median": [10, 11, 4, 4]}
    )  # fmt: skip
    team, reps = layers(ch.activity_trend(df))
    assert team["mark"]["color"] == ch.NEUTRAL and team["mark"]["strokeDash"] == [4, 3]
    assert reps["encoding"]["y"]["title"] == "Activities per week (count)"
    assert len(layers(ch.activity_trend(df.drop(columns="team_median")))) == 1


# --------------------------------------------------------------------------- build cost


def _typical_builds() -> dict[str, object]:
    """One call per chart builder (and layout variant) with typical inputs, built on demand."""
    hist, fc = _forecast_frames()
    stages = pd.DataFrame(
        {"stage": ["Qualify", "Propose"], "conversion": [0.4, 0.5],
         "team_conversion": [0.6, 0.5], "bottleneck": [True, False]}
    )  # fmt: skip
    aging = pd.DataFrame(
        {"age_days": [10, 200], "amount": [5e3, 2e4], "is_stale": [False, True],
         "is_past_due": [False, False], "label": ["Acme", "Bolt"], "stage": ["A", "B"]}
    )  # fmt: skip
    activity = pd.DataFrame(
        {"period": pd.to_datetime(["2026-01-05", "2026-01-12"]), "activity_type": ["call"] * 2,
         "count": [12, 15], "team_median": [10, 11]}
    )  # fmt: skip
    stats = pd.DataFrame(
        [peer_stats("Win rate", "win_rate", 0.3, "percent"),
         peer_stats("Deal size", "deal_size", 9e3, "currency")]
    )  # fmt: skip
    return {
        "attainment": lambda: ch.attainment_bars(
            pd.DataFrame({"label": ["A", "B"], "bookings": [1.0, 2.0], "target": [2.0, 0.0]}),
            orient="horizontal",
        ),
        "peers": lambda: ch.scorecard_vs_peers(stats, currency="EUR"),
        "funnel": lambda: ch.funnel(
            pd.DataFrame({"stage": ["A", "B"], "count": [4, 2], "team_conversion": [0.4, None]})
        ),
        "stages": lambda: ch.stage_conversion_vs_team(stages),
        "waterfall": lambda: ch.waterfall(
            pd.DataFrame({"step": ["S", "New", "E"], "amount": [1.0, 2, 3], "count": [1, 1, 2]})
        ),
        "aging": lambda: ch.pipeline_aging(aging, typical_age_days=90),
        "aging_no_rule": lambda: ch.pipeline_aging(aging),
        "aging_histogram": lambda: ch.pipeline_aging(aging, kind="histogram"),
        "forecast": lambda: ch.bookings_forecast(hist, fc, 100.0),
        "distribution": lambda: ch.distribution(np.array([1.0, 2.0, 3.0]), 2.0),
        "decomposition": lambda: ch.decomposition(
            pd.DataFrame({"period": ["Q1", "Q1"], "group": ["E", "W"], "amount": [1.0, 2.0]})
        ),
        "reverse": lambda: ch.reverse_funnel(
            pd.DataFrame({"step": ["P"], "needed": [3.0], "current": [1.0]})
        ),
        "activity": lambda: ch.activity_trend(activity),
        "empty": lambda: ch.funnel(pd.DataFrame(columns=["stage", "count"])),
    }


def _fail_if_called(what: str):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a chart builder called {what}")

    return refuse


@pytest.mark.parametrize("name", list(_typical_builds()))
def test_building_a_chart_never_converts_shorthand_with_from_dict(monkeypatch, name):
    """Each SchemaBase.from_dict re-indexes the whole Vega-Lite schema (~8 ms, vega/altair#3547):
    builders pass channel objects, so Altair never needs it."""
    from altair.utils import schemapi

    monkeypatch.setattr(schemapi._FromDict, "__init__", _fail_if_called("from_dict"))
    chart = _typical_builds()[name]()
    assert isinstance(chart, alt.TopLevelMixin)


@pytest.mark.parametrize("name", list(_typical_builds()))
def test_layered_charts_do_not_hash_their_data(monkeypatch, name):
    """Sub-charts sharing one frame are built data-less and get it once from alt.layer(data=):
    otherwise Altair hashes the frame's repr per sub-chart before hoisting it."""
    monkeypatch.setattr(alt.Chart, "_compute_hash", _fail_if_called("Chart._compute_hash"))
    _typical_builds()[name]()


def test_shared_data_is_hoisted_once_to_the_layer():
    spec = ch.stage_conversion_vs_team(
        pd.DataFrame({"stage": ["A"], "conversion": [0.4], "team_conversion": [0.5]})
    ).to_dict()
    assert list(spec["datasets"]) == [spec["data"]["name"]]
    assert all("data" not in layer for layer in spec["layer"])


# --------------------------------------------------------------------------- offline rendering


def _all_charts() -> dict[str, alt.TopLevelMixin]:
    hist, fc = _forecast_frames()
    return {
        "attainment": ch.attainment_bars(
            pd.DataFrame(
                {
                    "label": ["<script>alert(1)</script>", "B & co"],
                    "bookings": [1.0, 2.0],
                    "target": [2.0, 2.0],
                }
            )
        ),
        "peers": ch.scorecard_vs_peers(
            pd.DataFrame([peer_stats("Win rate", "win_rate", 0.3, "percent")])
        ),
        "funnel": ch.funnel(pd.DataFrame({"stage": ["A", "B"], "count": [4, 2]})),
        "waterfall": ch.waterfall(pd.DataFrame({"step": ["S", "New", "E"], "amount": [1.0, 2, 3]})),
        "forecast": ch.bookings_forecast(hist, fc, 100.0),
        "distribution": ch.distribution(np.array([1.0, 2.0, 3.0]), 2.0),
        "reverse": ch.reverse_funnel(
            pd.DataFrame({"step": ["P"], "needed": [3.0], "current": [1.0]})
        ),
    }


def test_every_chart_renders_offline_to_svg_with_text_and_compiles_for_vega_lite_5():
    import vl_convert as vlc

    for name, chart in _all_charts().items():
        spec = chart.to_dict()
        svg = cr.svg_from_spec(spec)
        assert svg.startswith("<svg") and svg.count("<text") >= 3, name
        # JupyterLab 4 draws the embedded spec with Vega-Lite 5: it must compile there too.
        vlc.vegalite_to_vega({**spec, "$schema": cr.V5_SCHEMA}, vl_version="5.8")


def test_user_text_is_escaped_in_the_svg():
    svg = cr.svg_from_spec(_all_charts()["attainment"].to_dict())
    assert "<script" not in svg.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "B &amp; co" in svg


def test_renderer_bundle_has_svg_and_optionally_the_spec():
    chart = _all_charts()["funnel"]
    ch.setup_charts()
    assert alt.theme.active == "salesnb" and alt.renderers.active == cr.RENDERER
    bundle = chart._repr_mimebundle_()
    assert bundle["image/svg+xml"].startswith("<svg")
    embedded = bundle[cr.SPEC_MIMETYPE]
    assert cr.SPEC_MIMETYPE == "application/vnd.vegalite.v5+json"
    assert embedded["$schema"] == cr.V5_SCHEMA
    assert embedded["config"]["font"] == cr.FONT  # theme applied
    assert embedded["layer"] == chart.to_dict()["layer"]
    assert bundle["text/plain"] == "<salesnb chart: Funnel>"
    ch.enable_offline_renderer(embed_spec=False)
    assert set(chart._repr_mimebundle_()) == {"image/svg+xml", "text/plain"}


def test_set_svg_converter_is_honoured_and_its_output_checked():
    seen = []

    def fake(spec: dict) -> str:
        seen.append(spec)
        return '<svg xmlns="http://www.w3.org/2000/svg"><text>ok</text></svg>'

    cr.set_svg_converter(fake)
    assert cr.get_svg_converter() is fake
    ch.enable_offline_renderer()
    chart = _all_charts()["waterfall"]
    assert chart._repr_mimebundle_()["image/svg+xml"].endswith("<text>ok</text></svg>")
    assert seen and seen[0]["layer"] == chart.to_dict()["layer"]
    cr.set_svg_converter(lambda spec: "<svg><script>alert(1)</script></svg>")
    with pytest.raises(RenderError, match="script"):
        cr.svg_from_spec({})
    cr.set_svg_converter(lambda spec: "not an svg")
    with pytest.raises(RenderError, match="not an SVG"):
        cr.svg_from_spec({})
    with pytest.raises(RenderError, match="callable"):
        cr.set_svg_converter("vl-convert")
    cr.set_svg_converter(None)
    assert cr.get_svg_converter() is None


def test_bad_spec_is_a_render_error():
    with pytest.raises(RenderError, match="Could not draw"):
        cr.vl_convert_svg({"$schema": alt.SCHEMA_URL, "mark": "nonsense", "title": "T"})


def test_importing_charts_does_not_start_vl_convert():
    code = "import sys, salesnb.reports.charts; print('vl_convert' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _convert_in_forked_child(converter, queue) -> None:
    cr.set_svg_converter(converter)
    queue.put(cr.svg_from_spec(_all_charts()["funnel"].to_dict())[:4])


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="fork start method and AF_UNIX")
def test_converter_process_serves_forked_children():
    cr.svg_from_spec(_all_charts()["funnel"].to_dict())  # warm vl-convert in this process
    with cr.ConverterProcess() as proc:
        fork = mp.get_context("fork")
        queue = fork.Queue()
        children = [
            fork.Process(target=_convert_in_forked_child, args=(proc.converter(), queue))
            for _ in range(2)
        ]
        for child in children:
            child.start()
        results = [queue.get(timeout=60) for _ in children]
        for child in children:
            child.join(timeout=10)
        assert results == ["<svg", "<svg"]
        with pytest.raises(RenderError, match="Could not draw"):
            proc.converter()({"$schema": alt.SCHEMA_URL, "mark": "nonsense"})
        assert proc.converter()(_all_charts()["funnel"].to_dict()).startswith("<svg")  # still up
    assert not proc._process.is_alive()


def test_peer_axes_read_in_their_units():
    """Percent axes keep one decimal where a KPI's spread is narrow and few ticks (no
    '2.9%, 2.9%, 2.9%'); counts never tick at halves; multiples end in 'x'."""
    rows = pd.DataFrame({
        "metric": ["Conversion", "Stale deals", "Coverage next period", "Bookings"],
        "value": [0.031, 5.0, 1.3, 15_400.0], "p25": [0.028, 1.5, 0.9, 20_000.0],
        "median": [0.029, 2.0, 1.1, 24_500.0], "p75": [0.030, 2.5, 1.4, 29_000.0],
        "n_peers": [9, 9, 9, 9], "unit": ["percent", "count", "multiple", "currency"],
    })  # fmt: skip
    spec = json.dumps(ch.scorecard_vs_peers(rows).to_dict())
    # percent, multiple and money axes: at most 5 ticks ('$10K$12K$14K...' ran together)
    assert '".1~%"' in spec and spec.count('"tickCount": 5') == 3
    assert '"tickMinStep": 1' in spec
    assert "+ 'x'" in spec and "(x target)" in spec

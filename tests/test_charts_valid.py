"""Every chart builder gives a schema-valid Vega-Lite spec, on every code path.

A built chart skips Altair's validation when displayed (``chartkit._AsBuilt``), so these tests
are the check: hand-picked cases per branch, random inputs, and the mechanism itself, all
with an explicit ``to_dict(validate=True)``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
from pathlib import Path
from unittest import mock

import altair as alt
import numpy as np
import pandas as pd
import pytest
from altair.utils import schemapi
from altair.utils.schemapi import SchemaValidationError
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from salesnb.core.errors import ParameterError
from salesnb.reports import chartforecast, chartgoals, chartpeers, chartpipeline, facts
from salesnb.reports import chartkit as kit
from salesnb.reports import charts as ch
from salesnb.reports import workbooks as wbk

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"

#: Names that have broken charts before: quotes, a backslash before a quote (Vega expressions),
#: line breaks, unicode, markup, empty and very long.
ODD = [
    'Ann "The Closer" O\'Neil',
    'back\\slash \\"+x+\\"',
    "two\nlines\tand\r\nbreaks",
    "Zoë Ünal – 東京 🚀 مرحبا",
    "<script>alert(1)</script> & co",
    "",
    " ",
    "x" * 300,
    "{datum.x} ${x}' + 1 + '",
]
NAN, INF = math.nan, math.inf
#: The modules of the chart builders (``charts`` re-exports them) and their shared kit.
CHART_MODULES = (kit, chartpeers, chartpipeline, chartforecast, chartgoals)


def _valid(chart) -> dict:
    """The spec, checked against the Vega-Lite schema and as strict JSON (no NaN, no inf)."""
    spec = chart.to_dict(validate=True)
    json.dumps(spec, allow_nan=False)
    return spec


def _check(build) -> None:
    chart = build()
    assert isinstance(chart, kit._AsBuilt)
    spec = _valid(chart)
    assert chart.to_dict() == spec  # the default (unvalidated) spec is the same
    # layering without deep copies makes exactly what Altair's own layering makes
    with contextlib.ExitStack() as stack:
        for module in CHART_MODULES:  # each module's own name for the kit's _layer
            if hasattr(module, "_layer"):
                stack.enter_context(mock.patch.object(module, "_layer", alt.layer))
        assert build().to_dict() == spec
    # and the spec of the chart as Altair would copy it (its own shallow copy) is the same
    assert kit._plain(build()).to_dict(validate=False) == spec
    if isinstance(chart, alt.LayerChart):
        assert all(type(x) in (alt.Chart, alt.LayerChart) for x in chart.layer)


# Labels end up in a chart's ``sort`` list; Vega-Lite's SortArray must be all strings or all
# numbers: a missing label is refused (ParameterError), labels of mixed kinds become text.


def _case(build, case_id: str, *marks):
    return pytest.param(build, id=case_id, marks=marks)


# --------------------------------------------------------------------------- attainment


def _att(labels, bookings, target) -> pd.DataFrame:
    return pd.DataFrame({"label": labels, "bookings": bookings, "target": target})


FOUR = _att(["Ann", "Bob", "Cyd", "Dee"], [120.0, 90, 70, 50], [100.0, 100, 100, 0])

ATTAINMENT = [
    _case(lambda: ch.attainment_bars(_att([], [], [])), "empty"),
    _case(lambda: ch.attainment_bars(FOUR), "four-statuses"),
    _case(lambda: ch.attainment_bars(FOUR, orient="horizontal", currency="EUR"), "horizontal"),
    _case(lambda: ch.attainment_bars(_att(["Q1"], [0.0], [0.0])), "single-zero"),
    _case(
        lambda: ch.attainment_bars(_att(["a", "b", "c"], [NAN, 5.0, INF], [NAN, -1.0, 3.0])),
        "nan-inf-negative",
    ),
    _case(
        lambda: ch.attainment_bars(
            _att(ODD, np.linspace(0, 2e6, len(ODD)), [1e6] * len(ODD)), currency="SEK"
        ),
        "odd-names-unknown-currency",
    ),
    _case(
        lambda: ch.attainment_bars(
            _att([f"Rep {i}" for i in range(60)], np.arange(60) * 1e4, [3e5] * 60),
            orient="horizontal",
            currency="JPY",
        ),
        "sixty-reps",
    ),
    _case(lambda: ch.attainment_bars(_att([2025, 2026], [1.0, 2], [1.0, 1])), "int-labels"),
    _case(
        lambda: ch.attainment_bars(_att(["a", "b"], ["100", None], ["2.5e3", "0"]), warn_at=0),
        "numbers-as-text",
    ),
    _case(
        lambda: ch.attainment_bars(FOUR, warn_at=1.5, currency="$", title=ODD[1]), "symbol-title"
    ),
    _case(lambda: ch.attainment_bars(_att(["A", 2], [1.0, 2], [1.0, 1])), "mixed-labels"),
    _case(
        lambda: ch.attainment_bars(
            _att(pd.period_range("2026Q1", periods=2, freq="Q"), [1.0, 2], [1.0, 1])
        ),
        "period-labels",
    ),
]


@pytest.mark.parametrize("build", ATTAINMENT)
def test_attainment_bars_cases_are_valid(build):
    _check(build)


# --------------------------------------------------------------------------- peers


def _peers(rows: list[tuple], **extra) -> pd.DataFrame:
    cols = ["metric", "value", "p25", "median", "p75", "n_peers"]
    return pd.DataFrame(rows, columns=cols).assign(**extra)


TWO_PEERS = _peers(
    [("Win rate", 0.31, 0.22, 0.27, 0.33, 9), ("Deal size", 15e3, 9e3, 11e3, 14e3, 9)],
    unit=["percent", "currency"],
)
UNITS = ["currency", "percent", "days", "count", "meetings", None]

PEERS = [
    _case(lambda: ch.scorecard_vs_peers(_peers([])), "empty"),
    _case(lambda: ch.scorecard_vs_peers(TWO_PEERS, currency="EUR"), "two-metrics"),
    _case(
        lambda: ch.scorecard_vs_peers(
            _peers(
                [(f"M{i}", 10.0 * i, 5.0, 10.0, 20.0, 4) for i in range(len(UNITS))],
                unit=UNITS,
                higher_is_better=[True, False, False, True, None, True],
                percentile=[50.0, NAN, 0.0, 100.0, 12.5, NAN],
            ),
            currency="CHF",
        ),
        "every-unit",
    ),
    _case(
        lambda: ch.scorecard_vs_peers(_peers([("Cycle", 40.0, 50, 60, 70, 2)]), min_peers=3),
        "too-few-peers",
    ),
    _case(
        lambda: ch.scorecard_vs_peers(_peers([("Cycle", 40.0, 50, 60, 70, 0)]), min_peers=0),
        "min-peers-zero",
    ),
    _case(
        lambda: ch.scorecard_vs_peers(
            _peers([("a", 0.0, 0, 0, 0, 5), ("b", 3.0, 3, 3, 3, 5), ("c", -5.0, -9, -2, 4, 5)])
        ),
        "zero-equal-negative",
    ),
    _case(
        lambda: ch.scorecard_vs_peers(
            _peers([("a", NAN, NAN, NAN, NAN, 5), ("b", INF, NAN, 1.0, -INF, 5)], unit="currency")
        ),
        "nan-inf",
    ),
    _case(
        lambda: ch.scorecard_vs_peers(
            _peers([(name, 1.0, 0.5, 1, 2, 6) for name in ODD], unit="days"),
            subject_label=ODD[1],
            title=ODD[2],
        ),
        "odd-names",
    ),
    _case(
        lambda: ch.scorecard_vs_peers(
            _peers([(f"KPI {i}", float(i), 1.0, 5, 9, 12) for i in range(12)]), currency="GBP"
        ),
        "twelve-metrics",
    ),
    _case(
        lambda: ch.scorecard_vs_peers(
            _peers([("Win rate", "0.3", "0.2", None, "0.4", "7")], unit="percent")
        ),
        "numbers-as-text",
    ),
]


@pytest.mark.parametrize("build", PEERS)
def test_scorecard_vs_peers_cases_are_valid(build):
    _check(build)


# --------------------------------------------------------------------------- funnel


def _funnel(stages, counts, **extra) -> pd.DataFrame:
    return pd.DataFrame({"stage": stages, "count": counts, **extra})


STAGES = ["Qualify", "Demo", "Propose", "Negotiate", "Closed Won"]

FUNNEL = [
    _case(lambda: ch.funnel(_funnel([], [])), "empty"),
    _case(lambda: ch.funnel(_funnel(STAGES, [40, 30, 0, 0, 0])), "computed-with-zeros"),
    _case(
        lambda: ch.funnel(
            _funnel(STAGES, [40, 30, 20, 10, 5], team_conversion=[0.6, 0.8, None, 0.4, None])
        ),
        "team",
    ),
    _case(
        lambda: ch.funnel(
            _funnel(STAGES[:3], [10, 20, 5], conversion=[0.5, NAN, NAN], team_conversion=0.5),
            tolerance=0,
        ),
        "given-conversion-growing-counts",
    ),
    _case(
        lambda: ch.funnel(
            _funnel(["A", "B"], [2, 1], amount=[2e5, NAN]), measure="amount", currency="GBP"
        ),
        "amount",
    ),
    _case(
        lambda: ch.funnel(_funnel(["A"], [0], amount=[0.0]), measure="amount", currency="KRW"),
        "single-amount-zero",
    ),
    _case(lambda: ch.funnel(_funnel(ODD, range(len(ODD), 0, -1)), title=ODD[1]), "odd-names"),
    _case(lambda: ch.funnel(_funnel([f"S{i}" for i in range(40)], range(40, 0, -1))), "forty"),
    _case(lambda: ch.funnel(_funnel(["A", "B"], [NAN, 3])), "nan-count"),
    _case(lambda: ch.funnel(_funnel(["A", 1], [2, 1])), "mixed-stages"),
]


@pytest.mark.parametrize("build", FUNNEL)
def test_funnel_cases_are_valid(build):
    _check(build)


def _conv(stages, conversion, team, **extra) -> pd.DataFrame:
    return pd.DataFrame(
        {"stage": stages, "conversion": conversion, "team_conversion": team, **extra}
    )


CONVERSION = [
    _case(lambda: ch.stage_conversion_vs_team(_conv([], [], [])), "empty"),
    _case(
        lambda: ch.stage_conversion_vs_team(
            _conv(STAGES[:3], [0.4, 0.5, 0.7], [0.6, 0.52, 0.65], bottleneck=[True, False, False])
        ),
        "bottleneck",
    ),
    _case(
        lambda: ch.stage_conversion_vs_team(
            _conv(STAGES[:4], [0.4, NAN, NAN, 0.2], [0.6, 0.5, NAN, NAN]), tolerance=0
        ),
        "no-bottleneck-column-nans",
    ),
    _case(
        lambda: ch.stage_conversion_vs_team(
            _conv(["A", "B"], [0.1, 1.4], [0.0, 1.0], bottleneck=[None, True])
        ),
        "bottleneck-none-above-one",
    ),
    _case(lambda: ch.stage_conversion_vs_team(_conv(["A"], [0.0], [0.0])), "single-zero"),
    _case(lambda: ch.stage_conversion_vs_team(_conv(ODD, 0.5, 0.4), title=ODD[3]), "odd-names"),
]


@pytest.mark.parametrize("build", CONVERSION)
def test_stage_conversion_vs_team_cases_are_valid(build):
    _check(build)


# --------------------------------------------------------------------------- waterfall


def _steps(steps, amounts, **extra) -> pd.DataFrame:
    return pd.DataFrame({"step": steps, "amount": amounts, **extra})


STANDARD = ["Start", "New", "Pulled in", "Pushed out", "Won", "Lost", "Value up", "Value down"]

WATERFALL = [
    _case(lambda: ch.waterfall(_steps([], [])), "empty"),
    _case(lambda: ch.waterfall(_steps(["Start"], [100.0])), "one-row"),
    _case(lambda: ch.waterfall(_steps(["Start", "End"], [100.0, 100.0])), "no-changes"),
    _case(
        lambda: ch.waterfall(
            _steps([*STANDARD, "End"], [1000.0, 300, 50, 120, 200, 90, 40, 30, 950])
        ),
        "standard-magnitudes",
    ),
    _case(
        lambda: ch.waterfall(
            _steps(["S", " WON ", "FX", "E"], [100.0, -30, -5, 65], count=[3, 1, NAN, 2]),
            currency="EUR",
        ),
        "signed-custom-count",
    ),
    _case(
        lambda: ch.waterfall(_steps(["S", "New", "E"], [0.0, 0, 0], count=0), currency="SEK"),
        "zeros",
    ),
    _case(
        lambda: ch.waterfall(_steps(ODD, [10.0, *[1.0] * (len(ODD) - 2), 10 + len(ODD) - 2])),
        "odd-names",
    ),
    _case(
        lambda: ch.waterfall(_steps(["S", "new", "E"], [2e9, 5e8, 2.5e9]), title=ODD[2]),
        "billions",
    ),
    _case(lambda: ch.waterfall(_steps(["S", 1], [1.0, 1.0])), "mixed-steps"),
]


@pytest.mark.parametrize("build", WATERFALL)
def test_waterfall_cases_are_valid(build):
    _check(build)


# --------------------------------------------------------------------------- aging


DEALS = pd.DataFrame(
    {"age_days": [10, 200, 300, 40], "amount": [5e3, 2e4, 1e4, 0.0],
     "is_stale": [False, True, True, None], "is_past_due": [False, False, True, None],
     "stage": ["Demo", "Propose", None, "Demo"], "label": ["Acme · OPP-1", *ODD[:3]]}
)  # fmt: skip

AGING = [
    _case(lambda: ch.pipeline_aging(DEALS.iloc[:0]), "empty"),
    _case(lambda: ch.pipeline_aging(DEALS), "scatter"),
    _case(lambda: ch.pipeline_aging(DEALS, typical_age_days=53.0), "scatter-rule"),
    _case(lambda: ch.pipeline_aging(DEALS, kind="histogram"), "histogram"),
    _case(
        lambda: ch.pipeline_aging(DEALS, kind="histogram", typical_age_days=0, currency="INR"),
        "histogram-rule",
    ),
    _case(
        lambda: ch.pipeline_aging(DEALS[["age_days", "amount"]], typical_age_days=NAN),
        "no-flags-nan-rule",
    ),
    _case(
        lambda: ch.pipeline_aging(DEALS[["age_days", "amount", "stage"]], typical_age_days=INF),
        "stage-only-inf-rule",
    ),
    _case(
        lambda: ch.pipeline_aging(
            pd.DataFrame({"age_days": [NAN, 5], "amount": [INF, NAN], "label": [None, None]})
        ),
        "nan-inf-none-labels",
    ),
    _case(
        lambda: ch.pipeline_aging(
            pd.DataFrame({"age_days": [7.0], "amount": [1.0], "label": [12345]}), title=ODD[1]
        ),
        "single-int-label",
    ),
    _case(
        lambda: ch.pipeline_aging(
            pd.DataFrame(
                {
                    "age_days": np.arange(500) % 400,
                    "amount": np.arange(500) * 1e3,
                    "is_stale": np.arange(500) % 3 == 0,
                    "label": [f"Deal {i}" for i in range(500)],
                }
            ),
            typical_age_days=90,
            currency="BRL",
        ),
        "five-hundred",
    ),
]


@pytest.mark.parametrize("build", AGING)
def test_pipeline_aging_cases_are_valid(build):
    _check(build)


# --------------------------------------------------------------------------- forecast


def _months(start: str, n: int) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="MS")


HIST = pd.DataFrame({"month": _months("2026-01-01", 3), "bookings": [100.0, NAN, 120]})
FC = pd.DataFrame(
    {"month": _months("2026-04-01", 2), "mean": [100.0, 100], "lo80": [80.0, 70],
     "hi80": [120.0, 130], "lo95": [70.0, NAN], "hi95": [130.0, 140]}
)  # fmt: skip
TARGET = pd.DataFrame({"month": _months("2026-01-01", 5), "target": [90.0, 90, NAN, 95, 95]})

FORECAST = [
    _case(lambda: ch.bookings_forecast(HIST, FC, 110.0, currency="EUR"), "float-target"),
    _case(lambda: ch.bookings_forecast(HIST, FC, TARGET), "frame-target"),
    _case(lambda: ch.bookings_forecast(HIST, FC), "no-target"),
    _case(lambda: ch.bookings_forecast(HIST, FC, 0), "zero-target"),
    _case(lambda: ch.bookings_forecast(HIST, FC, NAN), "nan-target"),
    _case(lambda: ch.bookings_forecast(HIST.iloc[:0], FC), "no-history"),
    _case(lambda: ch.bookings_forecast(HIST, FC.iloc[:0], TARGET.iloc[:0]), "no-forecast"),
    _case(lambda: ch.bookings_forecast(HIST.iloc[:0], FC.iloc[:0]), "nothing"),
    _case(
        lambda: ch.bookings_forecast(
            HIST.assign(month=["2026-01-01", "2026-02", "2026-03-01"]).iloc[:1],
            FC.iloc[:1],
            title=ODD[1],
            currency="xyz",
        ),
        "text-months-single",
    ),
]


@pytest.mark.parametrize("build", FORECAST)
def test_bookings_forecast_cases_are_valid(build):
    _check(build)


DISTRIBUTION = [
    _case(lambda: ch.distribution(np.array([]), 100.0), "empty"),
    _case(lambda: ch.distribution(pd.Series([NAN, INF, -INF]), 100.0), "no-finite"),
    _case(
        lambda: ch.distribution(pd.DataFrame({"bookings": [80.0, 90, 110, 120]}), 100.0),
        "frame-straddles",
    ),
    _case(lambda: ch.distribution(np.arange(10.0), 100.0), "all-below"),
    _case(lambda: ch.distribution(np.arange(10.0), -5.0, currency="EUR"), "all-above"),
    _case(lambda: ch.distribution([50.0], 100.0), "one-value-below"),
    _case(lambda: ch.distribution([150.0], 100.0), "one-value-above"),
    _case(lambda: ch.distribution([100.0] * 5, 100.0), "all-at-target"),
    _case(lambda: ch.distribution([0.0, 0.0], 0.0), "all-zero"),
    _case(lambda: ch.distribution(np.arange(6.0).reshape(2, 3), 2.5, bins=1), "2d-one-bin"),
    _case(lambda: ch.distribution(np.arange(20.0), 7.0, bins=0), "zero-bins"),
    _case(
        lambda: ch.distribution(
            np.random.default_rng(0).normal(1e6, 2e5, 10_000), 1.1e6, bins=200, currency="GBP"
        ),
        "ten-thousand",
    ),
    _case(lambda: ch.distribution([1.0, 2], 1.5, p_attain=0.37, title=ODD[2]), "p-attain"),
    _case(lambda: ch.distribution([1.0, 2], 1.5, p_attain=NAN), "nan-p-attain"),
]


@pytest.mark.parametrize("build", DISTRIBUTION)
def test_distribution_cases_are_valid(build):
    _check(build)


def _split(period, amount, **extra) -> pd.DataFrame:
    return pd.DataFrame({"period": period, "amount": amount, **extra})


QUARTERS = ["Q1", "Q2", "Q3", "Q4"]

DECOMPOSITION = [
    _case(lambda: ch.decomposition(_split([], [])), "empty"),
    _case(lambda: ch.decomposition(_split(QUARTERS, [40.0, 60, 0, NAN])), "no-group"),
    _case(
        lambda: ch.decomposition(
            _split(QUARTERS * 2, np.arange(8) * 1e4, group=["East"] * 4 + ["West"] * 4),
            currency="AUD",
        ),
        "stacked",
    ),
    _case(
        lambda: ch.decomposition(_split(["Q1", "Q1", "Q1"], [1.0, 2, 3], group=ODD[:3])),
        "odd-groups-one-period",
    ),
    _case(lambda: ch.decomposition(_split(["2026-07"], [5e5])), "single"),
    _case(lambda: ch.decomposition(_split(ODD, [1.0] * len(ODD)), title=ODD[1]), "odd-periods"),
    _case(
        lambda: ch.decomposition(
            _split([f"W{i:02d}" for i in range(53)], np.full(53, 1e4)), currency="sek"
        ),
        "fifty-three-weeks",
    ),
    _case(lambda: ch.decomposition(_split(["Q1", 2], [1.0, 2])), "mixed-periods"),
]


@pytest.mark.parametrize("build", DECOMPOSITION)
def test_decomposition_cases_are_valid(build):
    _check(build)


def _need(steps, needed, **extra) -> pd.DataFrame:
    return pd.DataFrame({"step": steps, "needed": needed, **extra})


REVERSE = [
    _case(lambda: ch.reverse_funnel(_need([], [])), "empty"),
    _case(lambda: ch.reverse_funnel(_need(["Pipeline", "Deals"], [300.0, 12])), "needed-only"),
    _case(
        lambda: ch.reverse_funnel(
            _need(
                ["Target", "Pipeline", "Deals", "Meetings", "Calls"],
                [500.0, 1600, 20, 200, 0],
                current=[500.0, 900, 8, NAN, 3],
                unit=["currency", "currency", "deals", "meetings", None],
            ),
            warn_at=0.5,
            currency="EUR",
        ),
        "every-status",
    ),
    _case(
        lambda: ch.reverse_funnel(_need(["A"], [0.0], current=[0.0], unit=["count"]), cap=1.0),
        "zero-need",
    ),
    _case(
        lambda: ch.reverse_funnel(_need(["A", "B"], [10.0, NAN], current=[100.0, 1]), cap=3),
        "over-cap-nan-need",
    ),
    _case(
        lambda: ch.reverse_funnel(
            _need(ODD, [10.0] * len(ODD), current=5.0, unit=ODD), title=ODD[1]
        ),
        "odd-names-units",
    ),
]


@pytest.mark.parametrize("build", REVERSE)
def test_reverse_funnel_cases_are_valid(build):
    _check(build)


def _acts(periods, types, counts, **extra) -> pd.DataFrame:
    return pd.DataFrame(
        {"period": pd.to_datetime(periods), "activity_type": types, "count": counts, **extra}
    )


WEEKS = ["2026-01-05", "2026-01-12", "2026-01-19"]

ACTIVITY = [
    _case(lambda: ch.activity_trend(_acts([], [], [])), "empty"),
    _case(lambda: ch.activity_trend(_acts(WEEKS, "call", [12, 0, 15])), "one-type"),
    _case(
        lambda: ch.activity_trend(
            _acts(
                WEEKS * 2,
                ["call"] * 3 + ["meeting"] * 3,
                [12, 15, 9, 3, NAN, 4],
                team_median=[10, 11, NAN, 4, 4, 0],
            )
        ),
        "team-median",
    ),
    _case(
        lambda: ch.activity_trend(
            _acts(["2026-01-01"], [None], [1], team_median=[NAN]), period_label="Month"
        ),
        "single-month",
    ),
    _case(
        lambda: ch.activity_trend(
            _acts(["2026-01-05"] * len(ODD), ODD, range(len(ODD))),
            title=ODD[1],
            period_label=ODD[2],
        ),
        "odd-names",
    ),
    _case(
        lambda: ch.activity_trend(
            pd.DataFrame({"period": WEEKS, "activity_type": "email", "count": ["3", "4", None]})
        ),
        "text-periods-and-counts",
    ),
]


@pytest.mark.parametrize("build", ACTIVITY)
def test_activity_trend_cases_are_valid(build):
    _check(build)


MISSING_LABELS = [
    pytest.param(
        lambda: ch.attainment_bars(_att(["A", None], [1.0, 2], [1.0, 1])), id="none-label"
    ),
    pytest.param(lambda: ch.funnel(_funnel(["A", NAN], [2, 1])), id="nan-stage"),
    pytest.param(
        lambda: ch.stage_conversion_vs_team(_conv(["A", None], [0.5, 0.4], [0.5, 0.4])),
        id="none-stage",
    ),
    pytest.param(
        lambda: ch.waterfall(_steps(["S", None, "E"], [1.0, 1.0, 2.0])), id="waterfall-none-step"
    ),
    pytest.param(
        lambda: ch.decomposition(_split(["Q1", "Q1"], [1.0, 2], group=["E", None])), id="none-group"
    ),
    pytest.param(lambda: ch.reverse_funnel(_need(["A", None], [1.0, 2])), id="reverse-none-step"),
]


@pytest.mark.parametrize("build", MISSING_LABELS)
def test_a_missing_category_label_is_refused_with_its_row(build):
    with pytest.raises(ParameterError, match=r"is missing in row 1\. Fix: give every row"):
        build()


# Inputs that crash a builder (or the chart's to_dict) with something other than a
# ParameterError: every error a user can meet should be a salesnb error or a drawn chart.
CRASHES = [
    _case(
        lambda: ch.scorecard_vs_peers(_peers([("Win rate", 0.3, 0.2, 0.25, 0.35, NAN)])),
        "peers-nan-n_peers",
        pytest.mark.xfail(strict=True, raises=ValueError, reason="int(NaN) in _peer_row"),
    ),
    _case(
        lambda: ch.activity_trend(
            pd.DataFrame({"period": ["2026-01-05", "soon"], "activity_type": "call", "count": 1})
        ),
        "activity-unparseable-period",
        pytest.mark.xfail(strict=True, raises=ValueError, reason="pd.to_datetime unchecked"),
    ),
    _case(
        lambda: ch.attainment_bars(FOUR.assign(x=1).rename(columns={"x": 0})),
        "extra-int-column-name",
        pytest.mark.xfail(strict=True, raises=ValueError, reason="Altair refuses the column name"),
    ),
]


@pytest.mark.parametrize("build", CRASHES)
def test_bad_input_is_a_parameter_error_or_a_valid_chart(build):
    try:
        chart = build()
    except ParameterError:
        return
    _valid(chart)


# --------------------------------------------------------------------------- random inputs

PROPERTY = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FINITE = st.floats(-1e9, 1e9, allow_nan=False)
AMOUNT = st.one_of(FINITE, st.sampled_from([0.0, NAN, INF, -INF]))
SHARE = st.one_of(st.floats(0, 1.5), st.just(NAN))
LABEL = st.one_of(st.sampled_from(ODD), st.text(max_size=20))
CURRENCY = st.sampled_from(["USD", "EUR", "GBP", "JPY", "PLN", "CHF", "SEK", "xyz", "$", "€"])
TITLE = st.text(max_size=30)
DATE = st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31))


def _labels(max_size: int = 6, min_size: int = 0):
    return st.lists(LABEL, min_size=min_size, max_size=max_size, unique=True)


def _valid_or_refused(build) -> None:
    try:
        chart = build()
    except ParameterError:
        assume(False)
    _valid(chart)


@st.composite
def attainment_inputs(draw):
    labels = draw(_labels(8))
    n = len(labels)
    df = _att(labels, draw(st.lists(AMOUNT, min_size=n, max_size=n)),
              draw(st.lists(AMOUNT, min_size=n, max_size=n)))  # fmt: skip
    kw = {"orient": draw(st.sampled_from(["vertical", "horizontal"])), "title": draw(TITLE),
          "warn_at": draw(st.floats(0, 2)), "currency": draw(CURRENCY)}  # fmt: skip
    return df, kw


@PROPERTY
@given(attainment_inputs())
def test_attainment_bars_random_inputs_are_valid(args):
    df, kw = args
    _valid_or_refused(lambda: ch.attainment_bars(df, **kw))


def _optional_columns(draw, n: int, columns: dict) -> dict:
    """Each optional column present or not, filled from its strategy."""
    return {
        name: draw(st.lists(values, min_size=n, max_size=n))
        for name, values in columns.items()
        if draw(st.booleans())
    }


@st.composite
def peer_inputs(draw):
    metrics = draw(_labels(4))
    n = len(metrics)
    quartiles = ["value", "p25", "median", "p75"]
    numbers = {c: draw(st.lists(AMOUNT, min_size=n, max_size=n)) for c in quartiles}
    optional = _optional_columns(draw, n, {
        "unit": st.one_of(st.sampled_from(UNITS), st.text(max_size=8)),
        "higher_is_better": st.sampled_from([True, False, None]),
        "percentile": st.one_of(st.floats(0, 100), st.just(NAN)),
    })  # fmt: skip
    df = pd.DataFrame(
        {"metric": metrics, **numbers,
         "n_peers": draw(st.lists(st.integers(0, 50), min_size=n, max_size=n)), **optional}
    )  # fmt: skip
    kw = {"currency": draw(CURRENCY), "subject_label": draw(LABEL),
          "min_peers": draw(st.integers(0, 10)), "title": draw(TITLE)}  # fmt: skip
    return df, kw


@PROPERTY
@given(peer_inputs())
def test_scorecard_vs_peers_random_inputs_are_valid(args):
    df, kw = args
    _valid_or_refused(lambda: ch.scorecard_vs_peers(df, **kw))


@st.composite
def funnel_inputs(draw):
    stages = draw(_labels(8))
    n = len(stages)
    counts = draw(st.lists(st.one_of(st.integers(0, 10_000), st.just(NAN)), min_size=n, max_size=n))
    optional = _optional_columns(
        draw, n, {"amount": AMOUNT, "conversion": SHARE, "team_conversion": SHARE}
    )
    measure = draw(st.sampled_from(["count", "amount"])) if "amount" in optional else "count"
    kw = {"measure": measure, "currency": draw(CURRENCY), "tolerance": draw(st.floats(0, 1)),
          "title": draw(TITLE)}  # fmt: skip
    return _funnel(stages, counts, **optional), kw


@PROPERTY
@given(funnel_inputs())
def test_funnel_random_inputs_are_valid(args):
    df, kw = args
    _valid_or_refused(lambda: ch.funnel(df, **kw))


@st.composite
def conversion_inputs(draw):
    stages = draw(_labels(8))
    n = len(stages)
    optional = _optional_columns(draw, n, {"bottleneck": st.sampled_from([True, False, None])})
    df = _conv(stages, draw(st.lists(SHARE, min_size=n, max_size=n)),
               draw(st.lists(SHARE, min_size=n, max_size=n)), **optional)  # fmt: skip
    return df, {"tolerance": draw(st.floats(0, 1)), "title": draw(TITLE)}


@PROPERTY
@given(conversion_inputs())
def test_stage_conversion_vs_team_random_inputs_are_valid(args):
    df, kw = args
    _valid_or_refused(lambda: ch.stage_conversion_vs_team(df, **kw))


STANDARD_STEPS = ["new", " Pulled In ", "VALUE UP", "pushed out", "won", "Lost", "value down"]


@st.composite
def waterfall_inputs(draw):
    """Steps that add up: the end row is the start plus the changes, signed as the chart does."""
    steps = draw(
        st.lists(st.one_of(st.sampled_from(STANDARD_STEPS), LABEL), max_size=8, unique=True)
    )
    n = len(steps)
    amount = st.one_of(FINITE, st.just(0.0))
    amounts = draw(st.lists(amount, min_size=n, max_size=n))
    if n >= 2:
        changes = [
            ch.WATERFALL_SIGNS[s.strip().lower()] * abs(a)
            if s.strip().lower() in ch.WATERFALL_SIGNS else a
            for s, a in zip(steps[1:-1], amounts[1:-1], strict=True)
        ]  # fmt: skip
        amounts[-1] = amounts[0] + sum(changes)
    optional = _optional_columns(draw, n, {"count": st.one_of(st.integers(0, 500), st.just(NAN))})
    return _steps(steps, amounts, **optional), {"currency": draw(CURRENCY), "title": draw(TITLE)}


@PROPERTY
@given(waterfall_inputs())
def test_waterfall_random_inputs_are_valid(args):
    df, kw = args
    _valid_or_refused(lambda: ch.waterfall(df, **kw))


@st.composite
def aging_inputs(draw):
    n = draw(st.integers(0, 30))
    flag = st.sampled_from([True, False, None])
    columns = {"is_stale": flag, "is_past_due": flag, "stage": st.one_of(LABEL, st.none()),
               "label": LABEL}  # fmt: skip
    optional = _optional_columns(draw, n, columns)
    age = st.one_of(st.floats(0, 5000), st.sampled_from([NAN, INF]))
    df = pd.DataFrame(
        {"age_days": draw(st.lists(age, min_size=n, max_size=n)),
         "amount": draw(st.lists(AMOUNT, min_size=n, max_size=n)), **optional}
    )  # fmt: skip
    typical = st.one_of(st.none(), st.floats(0, 3650), st.sampled_from([NAN, INF]))
    kw = {"kind": draw(st.sampled_from(["scatter", "histogram"])), "currency": draw(CURRENCY),
          "typical_age_days": draw(typical), "title": draw(TITLE)}  # fmt: skip
    return df, kw


@PROPERTY
@given(aging_inputs())
def test_pipeline_aging_random_inputs_are_valid(args):
    df, kw = args
    _valid_or_refused(lambda: ch.pipeline_aging(df, **kw))


@st.composite
def forecast_inputs(draw):
    def months(n: int) -> list:
        return draw(st.lists(DATE, min_size=n, max_size=n))

    def amounts(n: int) -> list:
        return draw(st.lists(AMOUNT, min_size=n, max_size=n))

    h, f = draw(st.integers(0, 24)), draw(st.integers(0, 12))
    hist = pd.DataFrame({"month": months(h), "bookings": amounts(h)})
    bands = ["mean", "lo80", "hi80", "lo95", "hi95"]
    fc = pd.DataFrame({"month": months(f), **{b: amounts(f) for b in bands}})
    t = draw(st.integers(0, 12))
    target = draw(st.one_of(
        st.none(), AMOUNT, st.just(pd.DataFrame({"month": months(t), "target": amounts(t)}))
    ))  # fmt: skip
    return hist, fc, target, {"currency": draw(CURRENCY), "title": draw(TITLE)}


@PROPERTY
@given(forecast_inputs())
def test_bookings_forecast_random_inputs_are_valid(args):
    hist, fc, target, kw = args
    _valid_or_refused(lambda: ch.bookings_forecast(hist, fc, target, **kw))


@st.composite
def distribution_inputs(draw):
    values = draw(st.lists(AMOUNT, max_size=300))
    shape = draw(st.sampled_from(["frame", "series", "array", "list"]))
    make = {"frame": lambda: pd.DataFrame({"bookings": values}), "list": lambda: values,
            "series": lambda: pd.Series(values), "array": lambda: np.asarray(values)}  # fmt: skip
    samples = make[shape]()
    kw = {"currency": draw(CURRENCY), "bins": draw(st.integers(0, 60)), "title": draw(TITLE),
          "p_attain": draw(st.one_of(st.none(), st.floats(0, 1)))}  # fmt: skip
    return samples, draw(FINITE), kw


@PROPERTY
@given(distribution_inputs())
def test_distribution_random_inputs_are_valid(args):
    samples, target, kw = args
    _valid_or_refused(lambda: ch.distribution(samples, target, **kw))


@st.composite
def decomposition_inputs(draw):
    kw = {"currency": draw(CURRENCY), "title": draw(TITLE)}
    if draw(st.booleans()):  # one row per period
        periods = draw(_labels(12))
        n = len(periods)
        return _split(periods, draw(st.lists(AMOUNT, min_size=n, max_size=n))), kw
    periods, groups = draw(_labels(6, min_size=1)), draw(_labels(5, min_size=1))
    rows = draw(st.lists(st.tuples(st.sampled_from(periods), st.sampled_from(groups), AMOUNT),
                         max_size=20))  # fmt: skip
    return pd.DataFrame(rows, columns=["period", "group", "amount"]), kw


@PROPERTY
@given(decomposition_inputs())
def test_decomposition_random_inputs_are_valid(args):
    df, kw = args
    _valid_or_refused(lambda: ch.decomposition(df, **kw))


@st.composite
def reverse_funnel_inputs(draw):
    steps = draw(_labels(6))
    n = len(steps)
    unit = st.one_of(st.sampled_from(["currency", "count", "deals", None]), LABEL)
    optional = _optional_columns(draw, n, {"current": AMOUNT, "unit": unit})
    df = _need(steps, draw(st.lists(AMOUNT, min_size=n, max_size=n)), **optional)
    kw = {"currency": draw(CURRENCY), "warn_at": draw(st.floats(0, 2)),
          "cap": draw(st.floats(0.1, 5)), "title": draw(TITLE)}  # fmt: skip
    return df, kw


@PROPERTY
@given(reverse_funnel_inputs())
def test_reverse_funnel_random_inputs_are_valid(args):
    df, kw = args
    _valid_or_refused(lambda: ch.reverse_funnel(df, **kw))


@st.composite
def activity_inputs(draw):
    types = draw(_labels(4, min_size=1))
    count = st.one_of(st.integers(0, 500), st.just(NAN))
    rows = draw(st.lists(st.tuples(DATE, st.sampled_from(types), count, count), max_size=30))
    df = pd.DataFrame(rows, columns=["period", "activity_type", "count", "team_median"])
    if draw(st.booleans()):
        df = df.drop(columns="team_median")
    return df, {"title": draw(TITLE), "period_label": draw(st.sampled_from(["Week", "Month"]))}


@PROPERTY
@given(activity_inputs())
def test_activity_trend_random_inputs_are_valid(args):
    df, kw = args
    _valid_or_refused(lambda: ch.activity_trend(df, **kw))


# --------------------------------------------------------------------------- the mechanism


def _typical() -> dict[str, object]:
    """One ordinary call per builder (and the empty-chart path), built on demand."""
    return {
        "attainment_bars": lambda: ch.attainment_bars(FOUR),
        "scorecard_vs_peers": lambda: ch.scorecard_vs_peers(TWO_PEERS),
        "funnel": lambda: ch.funnel(_funnel(STAGES, [40, 30, 20, 10, 5])),
        "stage_conversion_vs_team": lambda: ch.stage_conversion_vs_team(
            _conv(["A", "B"], [0.4, 0.5], [0.6, 0.5])
        ),
        "waterfall": lambda: ch.waterfall(_steps(["S", "New", "E"], [1.0, 2, 3])),
        "pipeline_aging": lambda: ch.pipeline_aging(DEALS, typical_age_days=53),
        "bookings_forecast": lambda: ch.bookings_forecast(HIST, FC, 110.0),
        "distribution": lambda: ch.distribution([80.0, 90, 110, 120], 100.0),
        "decomposition": lambda: ch.decomposition(_split(QUARTERS, [1.0, 2, 3, 4])),
        "reverse_funnel": lambda: ch.reverse_funnel(_need(["P"], [3.0], current=[1.0])),
        "activity_trend": lambda: ch.activity_trend(_acts(WEEKS, "call", [1, 2, 3])),
        "empty": lambda: ch.funnel(_funnel([], [])),
    }


TYPICAL = list(_typical())
LAYERABLE = [name for name in TYPICAL if name != "scorecard_vs_peers"]  # a vconcat is not


def test_every_public_builder_is_covered():
    helpers = {"currency_symbol", "format_money", "enable_offline_renderer", "enable_theme",
               "set_svg_converter", "setup_charts", "svg_from_spec"}  # fmt: skip
    builders = set(ch.__all__) - helpers
    assert builders == set(TYPICAL) - {"empty"}
    for name in builders:
        assert hasattr(getattr(ch, name), "__wrapped__"), name  # decorated with _as_built


@pytest.mark.parametrize("name", TYPICAL)
def test_builders_return_as_built_charts(name):
    chart = _typical()[name]()
    assert isinstance(chart, kit._AsBuilt)
    assert type(chart).__mro__[2] in (alt.Chart, alt.LayerChart, alt.VConcatChart)


@pytest.mark.parametrize("name", TYPICAL)
def test_derived_charts_are_plain_and_validated(name):
    chart = _typical()[name]()
    size = {"width": 100} if name in LAYERABLE else {"spacing": 10}  # a vconcat has no width
    derived = {"properties": chart.properties(**size), "copy": chart.copy(),
               "shallow": chart.copy(deep=False)}  # fmt: skip
    if name in LAYERABLE:
        derived |= {"layer": alt.layer(chart), "add": chart + chart,
                    "encode": chart.encode(opacity=alt.OpacityValue(0.5))}  # fmt: skip
    for how, plain in derived.items():
        assert not isinstance(plain, kit._AsBuilt), how
        assert plain.to_dict() == _valid(plain), how
    assert isinstance(chart, kit._AsBuilt)  # deriving leaves the original as it was
    before = chart.to_dict()
    shallow = chart.copy(deep=False)
    shallow.title = "changed on the copy only"
    assert chart.to_dict() == before
    broken = chart.properties(**size)
    broken.width = "wide"
    with pytest.raises(SchemaValidationError):
        broken.to_dict()  # the default to_dict of a derived chart checks


@pytest.mark.parametrize("name", TYPICAL)
def test_setting_an_attribute_makes_a_built_chart_plain(name):
    chart = _typical()[name]()
    plain_class = type(chart).__mro__[2]
    chart.width = "wide"
    assert type(chart) is plain_class
    with pytest.raises(SchemaValidationError):
        chart.to_dict()


@pytest.mark.parametrize("name", TYPICAL)
def test_explicit_validation_still_runs_on_a_built_chart(name):
    chart = _typical()[name]()
    chart.title.text = 12345  # nested, in place: the chart itself stays as built
    assert isinstance(chart, kit._AsBuilt)
    assert chart.to_dict()["title"]["text"] == 12345  # the default skips the check
    with pytest.raises(SchemaValidationError):
        chart.to_dict(validate=True)


def test_a_mutated_layer_fails_explicit_validation():
    chart = _typical()["funnel"]()
    chart.layer[0].mark = 12345
    assert isinstance(chart, kit._AsBuilt)
    with pytest.raises(SchemaValidationError):
        chart.to_dict(validate=True)


@pytest.mark.parametrize("name", TYPICAL)
def test_builders_turn_debug_mode_off_and_restore_it(monkeypatch, name):
    seen = []
    title = kit._title

    def spy(*args, **kwargs):
        seen.append(schemapi.DEBUG_MODE)
        return title(*args, **kwargs)

    for module in CHART_MODULES:  # each module's own name for the kit's _title
        monkeypatch.setattr(module, "_title", spy)
    assert schemapi.DEBUG_MODE is True
    _typical()[name]()
    assert seen and not any(seen)  # off while building
    assert schemapi.DEBUG_MODE is True
    with schemapi.debug_mode(False):  # restored to what it was, not forced on
        _typical()[name]()
        assert schemapi.DEBUG_MODE is False


@pytest.mark.parametrize(
    "build",
    [
        lambda: ch.waterfall(_steps(["S", "won", "E"], [100.0, 30, 80])),
        lambda: ch.funnel("not a frame"),
        lambda: ch.attainment_bars(FOUR, currency="dollars"),
        lambda: ch.distribution([1.0], NAN),
        lambda: ch.scorecard_vs_peers(TWO_PEERS.assign(top_peer="Zelda")),
    ],
    ids=["waterfall-mismatch", "not-a-frame", "bad-currency", "nan-target", "peer-names"],
)
def test_debug_mode_is_restored_after_a_parameter_error(build):
    assert schemapi.DEBUG_MODE is True
    with pytest.raises(ParameterError):
        build()
    assert schemapi.DEBUG_MODE is True


# --------------------------------------------------------------------------- sample data


@pytest.mark.parametrize("rep", ["R01", "R08", "R11", "R15", "R25", "R28"])
def test_pipeline_review_charts_from_the_sample_data_are_valid(rep):
    ctx = facts.open_context(str(SAMPLE), None, "rep", rep, None, None, forward=True)
    view = wbk.pipeline_review_view(ctx, None)
    built = [
        ch.funnel(view.funnel, title="Funnel: deals created in the last 12 months"),
        ch.stage_conversion_vs_team(view.stages),
        ch.pipeline_aging(view.aging, currency=ctx.currency, typical_age_days=view.typical_age),
    ]
    if len(view.waterfall.bars):
        built.append(ch.waterfall(view.waterfall.bars, currency=ctx.currency))
    for chart in built:
        assert isinstance(chart, kit._AsBuilt)
        assert chart.to_dict() == _valid(chart)

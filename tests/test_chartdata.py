"""salesnb.reports.chartdata puts the same records in a spec as Altair's own data transformer."""

from __future__ import annotations

import datetime as dt
import json

import altair as alt
import numpy as np
import pandas as pd
import pytest
from altair.utils.data import to_values
from hypothesis import given, settings
from hypothesis import strategies as st

from salesnb.reports import chartdata


def _altair(df: pd.DataFrame) -> dict:
    return to_values(df)


def _outcome(f, df: pd.DataFrame):
    try:
        return f(df)
    except (ValueError, TypeError, alt.MaxRowsError) as e:  # the same refusal, same result
        return f"raised {type(e).__name__}: {e}"


def _same(df: pd.DataFrame) -> None:
    ours = _outcome(chartdata.transform, df)
    theirs = _outcome(_altair, df)
    # equal as JSON text, so value types (1 vs 1.0, None vs NaN) count too
    assert json.dumps(ours, sort_keys=True, default=repr) == json.dumps(
        theirs, sort_keys=True, default=repr
    )


def test_hand_picked_kinds_match_altair():
    df = pd.DataFrame(
        {
            "stage": ["Won", None, "Lost"],
            "amount": [1.5, float("nan"), np.inf],
            "count": np.array([1, 2, 3], dtype="int64"),
            "flag": [True, False, True],
            "close": pd.to_datetime(["2026-01-31", None, "2026-03-01"]),
            "close_tz": pd.to_datetime(["2026-01-31", None, "2026-03-01"]).tz_localize("UTC"),
            "obj": [dt.date(2026, 1, 1), None, "x"],
        }
    )
    assert chartdata.records(df) is not None
    _same(df)


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"c": pd.Categorical(["a", "b"])}),
        pd.DataFrame({"n": pd.array([1, None], dtype="Int64")}),
        pd.DataFrame({"t": pd.to_timedelta([1, 2], unit="D")}),
    ],
    ids=["categorical", "nullable-int", "timedelta"],
)
def test_other_kinds_go_through_altair(frame):
    assert chartdata.records(frame) is None
    _same(frame)


def test_too_many_rows_is_refused_as_altair_refuses():
    big = pd.DataFrame({"x": range(chartdata.MAX_ROWS + 1)})
    with pytest.raises(alt.MaxRowsError):
        chartdata.transform(big)


def test_enable_makes_it_altairs_transformer():
    before = alt.data_transformers.active
    try:
        chartdata.enable()
        assert alt.data_transformers.active == chartdata.TRANSFORMER
        spec = alt.Chart(pd.DataFrame({"a": [1, 2]})).mark_bar().encode(x="a:Q").to_dict()
        assert spec["datasets"][next(iter(spec["datasets"]))] == [{"a": 1}, {"a": 2}]
    finally:
        alt.data_transformers.enable(before)


def test_a_charts_plain_frame_takes_the_fast_path(monkeypatch):
    # Altair's own to_values must not be reached for a plain frame: a chart hands the
    # transformer the frame itself, and Altair's row check would wrap it in narwhals.
    def refuse(data):
        raise AssertionError(f"Altair's to_values was called for {type(data)}")

    monkeypatch.setattr(chartdata, "to_values", refuse)
    before = alt.data_transformers.active
    try:
        chartdata.enable()
        df = pd.DataFrame({"stage": ["Won", "Lost"], "amount": [1.5, 2.0]})
        spec = alt.Chart(df).mark_bar().encode(x="amount:Q", y="stage:N").to_dict()
        assert list(spec["datasets"].values()) == [
            [{"stage": "Won", "amount": 1.5}, {"stage": "Lost", "amount": 2.0}]
        ]
        with pytest.raises(AssertionError, match="to_values"):
            alt.Chart(df.astype({"stage": "category"})).mark_bar().to_dict()
    finally:
        alt.data_transformers.enable(before)


_floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**6), 10**6))
_texts = st.one_of(st.none(), st.text(max_size=5))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 6),
    data=st.data(),
)
def test_random_frames_match_altair(n, data):
    cols = {
        "f": data.draw(st.lists(_floats, min_size=n, max_size=n)),
        "s": data.draw(st.lists(_texts, min_size=n, max_size=n)),
        "b": data.draw(st.lists(st.booleans(), min_size=n, max_size=n)),
        "i": data.draw(st.lists(st.integers(-1000, 1000), min_size=n, max_size=n)),
        "d": pd.to_datetime(
            data.draw(
                st.lists(
                    st.one_of(st.none(), st.dates(dt.date(2000, 1, 1), dt.date(2030, 1, 1))),
                    min_size=n,
                    max_size=n,
                )
            )
        ),
    }
    df = pd.DataFrame({k: pd.Series(v, dtype=None if k != "f" else float) for k, v in cols.items()})
    df["i"] = df["i"].astype("int64") if n else df["i"]
    assert chartdata.records(df) is not None  # the fast path, not Altair's fallback
    _same(df)

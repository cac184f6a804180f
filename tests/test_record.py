"""salesnb.reports.record: what notebooks record for the batch index and the title block."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from salesnb.core.errors import ParameterError
from salesnb.reports import record


@pytest.fixture
def shown(monkeypatch):
    """Capture what record displays instead of needing a kernel."""
    calls = []
    monkeypatch.setattr(
        record, "_display", lambda mime, data, plain: calls.append((mime, data, plain))
    )
    return calls


def test_headline_displays_plain_json_with_a_text_fallback(shown):
    out = record.headline(
        attainment=np.float64(0.83),
        deals=np.int64(7),
        ok=np.bool_(True),
        gap=float("nan"),
        flags=["stale", "low coverage"],
        when=dt.date(2026, 9, 30),
    )
    assert out is None  # a call ending a cell adds no execute_result
    [(mime, data, plain)] = shown
    assert mime == record.HEADLINE_MIME
    assert data == {
        "attainment": 0.83,
        "deals": 7,
        "ok": True,
        "gap": None,
        "flags": ["stale", "low coverage"],
        "when": "2026-09-30",
    }
    assert type(data["deals"]) is int and type(data["ok"]) is bool
    assert plain.startswith("Headline: attainment=0.83")


def test_headline_refuses_values_that_are_not_plain(shown):
    with pytest.raises(ParameterError, match=r"'table'.*DataFrame|'table'.*dict"):
        record.headline(table={"a": 1})
    assert shown == []


def test_title_carries_the_kit_version(shown):
    import salesnb

    record.title(
        subject_name="Zoë O'Brien",
        period="FY2026-Q3",
        as_of=dt.date(2026, 9, 30),
        data_fingerprint="abc123",
        heading="Pipeline review",
    )
    [(mime, data, _)] = shown
    assert mime == record.TITLE_MIME
    assert data == {
        "subject_name": "Zoë O'Brien",
        "period": "FY2026-Q3",
        "as_of": "2026-09-30",
        "data_fingerprint": "abc123",
        "salesnb_version": salesnb.__version__,
        "heading": "Pipeline review",
    }


def _out(mime, data):
    return {"output_type": "display_data", "data": {mime: data, "text/plain": "x"}, "metadata": {}}


def test_collect_merges_later_calls_key_by_key():
    nb = {
        "cells": [
            {"cell_type": "markdown", "source": "x"},
            {"cell_type": "code", "outputs": [_out(record.HEADLINE_MIME, {"a": 1.0, "b": 2.0})]},
            {
                "cell_type": "code",
                "outputs": [
                    _out(record.TITLE_MIME, {"subject_name": "A"}),
                    _out(record.HEADLINE_MIME, {"b": 3.0}),
                ],
            },
        ]
    }
    assert record.collect(nb) == ({"a": 1.0, "b": 3.0}, {"subject_name": "A"})
    assert record.collect({"cells": []}) == ({}, {})


@given(
    st.one_of(
        st.floats(),
        st.integers(min_value=-(2**62), max_value=2**62),
        st.booleans(),
        st.text(max_size=20),
        st.none(),
    )
)
def test_every_recorded_scalar_is_strict_json(value):
    import json

    got = record._jsonable("x", value)
    json.dumps(got, allow_nan=False)  # raises on NaN/inf: they must have become None
    if isinstance(value, float) and not math.isfinite(value):
        assert got is None
    else:
        assert got == value

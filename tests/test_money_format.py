"""One money formatter: the chart labels (``salesnb.reports.chartkit.format_money``, a Series
version) give the kit's text (``salesnb.analytics.coaching_facts.format_money``) for every value
and currency, compact (K, M, B) or whole, signed or not."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from salesnb.analytics.coaching_facts import (
    CURRENCY_SYMBOLS,
    currency_symbol,
    format_money,
    format_value,
)
from salesnb.core.errors import ParameterError
from salesnb.reports import chartkit

CURRENCIES = [*CURRENCY_SYMBOLS, "CHF", "SEK", "usd", "eur", "deals", "$", "R$", "€"]
# near every boundary of the compact form (999.5, 99.95K, 999.5K, ...) and far beyond
AMOUNTS = st.one_of(
    st.floats(min_value=-1e13, max_value=1e13, allow_nan=False),
    st.sampled_from([0.0, -0.0, 0.4, -0.4, 999.4, 999.5, 999.6, 99_949.0, 99_950.0, 999_499.0,
                     999_500.0, 999_600.0, 1_250_000.0, 999_499_999.0, 999_500_000.0, 2.5e12]),
    st.integers(min_value=-(10**12), max_value=10**12).map(float),
)  # fmt: skip


@given(AMOUNTS, st.sampled_from(CURRENCIES), st.booleans(), st.booleans())
def test_chart_labels_are_the_kits_text(v, cur, compact, signed):
    chart = chartkit.format_money([v], cur, compact=compact, signed=signed).tolist()
    assert chart == [format_money(v, cur, compact=compact, signed=signed)]


@given(st.lists(AMOUNTS, max_size=5), st.sampled_from(CURRENCIES))
def test_chart_labels_keep_order_and_defaults(values, cur):
    got = chartkit.format_money(values, cur).tolist()  # whole units by default in charts
    assert got == [format_money(v, cur, compact=False) for v in values]


def _read_back(text: str, cur: str) -> float:
    """The amount a compact text states: sign, symbol, number, K/M/B."""
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-").removeprefix(currency_symbol(cur))
    m = re.fullmatch(r"([0-9][0-9,]*(?:\.[0-9])?)([KMB]?)", body)
    assert m, text
    scale = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9}[m.group(2)]
    return sign * float(m.group(1).replace(",", "")) * scale


@given(AMOUNTS, st.sampled_from([c for c in CURRENCIES if c != "deals"]))
def test_compact_money_states_the_amount_to_its_rounding(v, cur):
    text = format_money(v, cur, compact=True)
    assert "k" not in text.removeprefix(currency_symbol(cur))  # capital K, as in the whole kit
    got = _read_back(text, cur)
    a = abs(v)
    scale = 1e9 if a >= 0.9995e9 else 1e6 if a >= 0.9995e6 else 1e3 if a >= 999.5 else 1.0
    # one decimal below 100 of the unit, whole units above (at most 0.5 % off)
    assert abs(abs(got) - a) <= max(0.05 * scale, 0.005 * a, 0.5) + 1e-9 * a
    assert got == 0 or math.copysign(1, got) == math.copysign(1, v)
    if a >= 999.5:
        assert text[-1] in "KMB"


@given(AMOUNTS, st.sampled_from(CURRENCIES), st.booleans())
def test_signed_money_is_the_plain_text_with_a_plus(v, cur, compact):
    plain = format_money(v, cur, compact=compact)
    signed = format_money(v, cur, compact=compact, signed=True)
    assert signed == ("+" + plain if v > 0 else plain)
    assert chartkit.format_money([v], cur, compact, True).tolist() == [signed]
    assert format_value(v, "currency", cur, signed=True) == format_money(v, cur, signed=True)


def test_examples_by_hand():
    assert chartkit.format_money([1_250_000, -85_000, 1_500], "EUR", compact=True).tolist() == [
        "€1.2M", "-€85K", "€1.5K"]  # fmt: skip
    assert chartkit.format_money([999_600, 2.5e9], "USD", compact=True, signed=True).tolist() == [
        "+$1M", "+$2.5B"]  # fmt: skip
    assert chartkit.format_money([1_234_567, -950], "CHF").tolist() == ["CHF 1,234,567", "-CHF 950"]
    assert chartkit.format_money([12, 1], "deals", compact=True).tolist() == ["12 deals", "1 deal"]
    assert chartkit.format_money([5_000], "$").tolist() == ["$5,000"]  # a symbol as it is
    assert format_money(5_000, "R$", compact=False) == "R$5,000"


def test_missing_values():
    # a chart label marks a missing value with the charts' dash, the kit's text with "n/a"
    got = chartkit.format_money([np.nan, np.inf, -np.inf], "USD").tolist()
    assert got == ["–", "–", "–"]
    assert [format_money(x) for x in (None, math.nan, math.inf)] == ["n/a", "n/a", "n/a"]


def test_an_unknown_currency_is_one_clear_message():
    with pytest.raises(ParameterError, match="Unknown currency 'dollars'.*Fix"):
        chartkit.format_money([1.0], "dollars")

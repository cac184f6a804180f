"""One money formatter for the kit: one currency table, "K" not "k", whole or compact."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from salesnb.analytics import goals
from salesnb.analytics.coaching_facts import (
    CURRENCY_SYMBOLS,
    currency_symbol,
    format_money,
    format_value,
)


def test_compact_money_is_format_value():
    for v in (0, 950, 1_500, 999_600, 1_234_567, -85_000):
        for cur in ("USD", "EUR", "CHF", "deals"):
            assert format_money(v, cur) == format_value(v, "currency", cur)
    assert format_money(85_000, "EUR") == "€85K"  # capital K, as everywhere in the kit


@given(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False), st.sampled_from(
    [*CURRENCY_SYMBOLS, "CHF", "SEK"]))  # fmt: skip
def test_whole_money_reads_back_as_the_rounded_amount(v, cur):
    text = format_money(v, cur, compact=False)
    sym = currency_symbol(cur)
    body = text.removeprefix("-").removeprefix(sym)
    assert text.startswith(("-" + sym, sym))
    sign = -1 if text.startswith("-") else 1
    assert sign * int(body.replace(",", "")) == round(v) or abs(round(v)) == 0


def test_a_smart_goal_states_money_through_it():
    r = goals.smart_check(
        {"metric": "bookings", "target": 1_250_000.0, "baseline": 1_000_000.0,
         "deadline": "2026-12-31", "owner": "Ann"},
        as_of="2026-09-30",
        currency="CHF",
    )  # fmt: skip
    text = r.as_text()
    assert "from CHF 1,000,000 to CHF 1,250,000" in text, text

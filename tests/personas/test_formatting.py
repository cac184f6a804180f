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


def test_coverage_is_drawn_as_a_multiple_and_wins_are_counted_in_words():
    # The scorecard chart said "Coverage next period (count)" with bare 0.85-style ticks, and
    # the wins line "0 deal(s) won".
    import json

    from persona_data import END, STAR, ctx_for

    from salesnb.reports import charts, facts, workbooks

    ctx = ctx_for(STAR, END)
    view = workbooks.one_on_one_view(ctx)
    frame = facts.peer_chart_frame(view.comparison, ["coverage_next", "win_rate"])
    assert frame.set_index("metric").loc["Coverage next period", "unit"] == "multiple"
    spec = json.dumps(charts.scorecard_vs_peers(frame).to_dict())
    assert "Coverage next period (x target)" in spec and "(count)" not in spec
    assert "+ 'x'" in spec  # the axis labels read 1.4x
    wins = str(view.text["wins"])
    assert "deal(s)" not in wins
    assert wins.startswith(("<p>No deal won since", "<p>1 deal won since")) or " deals won " in wins

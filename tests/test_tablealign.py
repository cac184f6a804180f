"""Word columns of a document's tables read left-aligned (reports.tablealign)."""

from __future__ import annotations

import re

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from salesnb.reports import render
from salesnb.reports.tablealign import TEXT_CLASS, WRAP_CLASS, align_text_columns, is_figure
from salesnb.reports.workbooks import humane


def _classes(html: str, tag: str) -> list[bool]:
    return [TEXT_CLASS in m.group(1) for m in re.finditer(rf"<{tag}\b([^>]*)>", html)]


def test_a_pandas_table_marks_its_word_columns_only():
    df = humane(pd.DataFrame({"rep": ["Ann Lee", "Bo Chen"], "account": ["Acme", "Initech"],
                              "amount": ["$1.2K", "-$4.3K"], "stage now": ["Demo", ""],
                              "cycle": ["12 days", "n/a"]}))  # fmt: skip
    out = align_text_columns(df.to_html(escape=True, border=0))
    # columns: blank index, rep, account, amount, stage now, cycle
    assert _classes(out, "th")[:6] == [False, True, True, False, True, False]
    rows = out.split("<tr")[2:]
    for row in rows:
        assert _classes(row, "td") == [True, True, False, True, False]


def test_figures_and_words_by_hand():
    figures = ["$74.5K", "+$18.4K", "-$4.3K", "CHF 85K", "65%", "+12 pts", "1.4x", "52 days",
               "2026-09-25", "FY2026-Q4", "3rd", "n/a", "", "1,234", "$20K → $22.2K"]  # fmt: skip
    words = ["Aisha Okonkwo", "Qualification", "Enterprise Suite", "won", "Yes", "partner"]
    assert all(is_figure(f) for f in figures), [f for f in figures if not is_figure(f)]
    assert not any(is_figure(w) for w in words)


def test_tables_it_cannot_read_as_a_grid_are_left_alone():
    spans = "<table><tr><th colspan=2>x</th></tr><tr><td>a</td><td>b</td></tr></table>"
    ragged = "<table><tr><th>x</th></tr><tr><td>a</td><td>b</td></tr></table>"
    assert align_text_columns(spans) == spans
    assert align_text_columns(ragged) == ragged
    assert align_text_columns("<p>no table</p>") == "<p>no table</p>"


def test_an_existing_class_is_kept_and_not_doubled():
    html = '<table><tr><td class="x">Ann</td></tr></table>'
    once = align_text_columns(html)
    assert once == f'<table><tr><td class="x {TEXT_CLASS}">Ann</td></tr></table>'
    assert align_text_columns(once) == once


def test_the_sanitiser_aligns_what_it_lets_through():
    html = render.document_html("<table><tr><th>rep</th><th>won</th></tr>"
                               "<tr><td onclick='x()'>Ann</td><td>$1K</td></tr></table>")  # fmt: skip
    assert "onclick" not in html and f'<td class="{TEXT_CLASS}">Ann</td>' in html


@given(st.lists(st.tuples(st.text(max_size=12), st.floats(-1e6, 1e6)), min_size=1, max_size=6))
def test_only_the_class_is_added(rows):
    """Whatever the cells hold, aligning adds a class and changes nothing else."""
    df = pd.DataFrame(rows, columns=["name", "value"])
    html = df.to_html(escape=True)
    out = align_text_columns(html)
    assert re.sub(f' class="{TEXT_CLASS}(?: {WRAP_CLASS})?"', "", out) == html


def test_columns_with_several_words_may_wrap_single_words_never():
    # an account wraps between words when the table is too wide; a deal id never at its hyphen
    # (a column of short names keeps them whole: "Tomás Alvarez" on one line)
    html = align_text_columns("<table><tr><td>OPP-10426</td><td>Newhaven Semiconductors LLC</td>"
                              "<td>Tomás Alvarez</td><td>$17.1K</td></tr><tr><td>OPP-1</td>"
                              "<td>Acme</td><td>Ann Lee</td><td>$1K</td></tr></table>")  # fmt: skip
    assert '<td class="snb-text">OPP-10426</td>' in html
    assert f'<td class="{TEXT_CLASS} {WRAP_CLASS}">Acme</td>' in html
    assert '<td class="snb-text">Tomás Alvarez</td>' in html
    assert "<td>$17.1K</td>" in html

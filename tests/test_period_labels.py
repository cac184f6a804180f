"""Period labels and dates never break at their hyphen: "Forecast FY2026-Q4" in a heading,
a summary tile or a table stays whole at a phone's width and on paper (issue 18)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from salesnb.reports import record, render
from salesnb.reports.periodspan import keep_periods_whole

LABEL = re.compile(r"FY\d{4}(?:-Q\d)?|\d{4}-\d{2}(?:-\d{2})?")
TILES = (
    '<div class="tiles">'
    + "".join(
        f'<div class="tile"><p class="tile-label">Forecast FY2026-Q{q}</p>'
        f'<p class="tile-value">$1.2M</p><p class="tile-note">due in FY2026-Q{q}, as of '
        "2026-09-30</p></div>"
        for q in (1, 2, 3, 4)
    )
    + "</div>"
)


def _notebook():
    out = new_code_cell("x = 1")
    out.outputs = [
        new_output(
            "display_data",
            data={
                record.TITLE_MIME: {
                    "subject_name": "Zoe O'Brien",
                    "period": "FY2026-Q3",
                    "as_of": "2026-09-30",
                },
                "text/plain": "",
            },
        ),
        new_output("display_data", data={"text/html": TILES, "text/plain": ""}),
        new_output(
            "display_data",
            data={
                "text/html": (
                    "<table><thead><tr><th>Deal</th><th>Close</th></tr></thead><tbody>"
                    "<tr><td>Acme renewal for the northern plants</td><td>2026-11-15</td></tr>"
                    "</tbody></table>"
                ),
                "text/plain": "",
            },
        ),
    ]
    words = " ".join(f"FY2026-Q{q} forecasts and 2026-0{q}-30 snapshots" for q in range(1, 10))
    return new_notebook(cells=[
        new_markdown_cell("## Forecast FY2026-Q4 against FY2025-Q4, as of 2026-09-30"), out,
        new_markdown_cell(words)])  # fmt: skip


def test_every_label_in_the_page_text_sits_in_a_span_that_does_not_break():
    html = render.to_html(_notebook(), document_title="Forecast")
    assert 'Forecast <span class="snb-period">FY2026-Q4</span> against' in html
    assert '<p class="tile-label">Forecast <span class="snb-period">FY2026-Q1</span></p>' in html
    assert '<td><span class="snb-period">2026-11-15</span></td>' in html
    body = html.split("<body>", 1)[1]
    bare = re.sub(r'<span class="snb-period">[^<]*</span>|<[^>]*>', "", body)
    assert not LABEL.search(bare), LABEL.search(bare)
    assert ".snb-period { white-space: nowrap; }" in html
    assert "<title>Forecast — Zoe O&#39;Brien — FY2026-Q3</title>" in html  # left as it was


_TEXT = st.text(st.sampled_from("FYQ0123456789- abc<>/\"'=&;"), max_size=60)


@given(_TEXT, _TEXT)
def test_only_spans_are_added(before, after):
    html = f"<p>{before}</p><svg><text>FY2026-Q4</text></svg><h2 title='FY2026-Q4'>{after}</h2>"
    out = keep_periods_whole(html)
    assert re.sub(r'<span class="snb-period">|</span>', "", out) == html.replace("</span>", "")
    assert "<svg><text>FY2026-Q4</text></svg>" in out and "title='FY2026-Q4'" in out


#: The labels of the page whose characters do not all lie on one line.
BROKEN_JS = r"""() => {
  const re = /(?<![\w\-\u2011])(?:FY\d{4}(?:-Q\d)?|\d{4}-\d{2}(?:-\d{2})?)(?![\w\-\u2011])/g;
  const out = [];
  const w = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
  let n;
  while ((n = w.nextNode())) {
    if (n.parentElement.closest('svg')) continue;
    for (const m of n.data.matchAll(re)) {
      const r = document.createRange();
      r.setStart(n, m.index);
      r.setEnd(n, m.index + m[0].length);
      const tops = new Set(Array.from(r.getClientRects()).filter(x => x.width > 0)
        .map(x => Math.round(x.top)));
      if (tops.size > 1) out.push(m[0] + ' in "' + n.parentElement.textContent.slice(0, 60) + '"');
    }
  }
  return out;
}"""


@pytest.mark.slow
@pytest.mark.parametrize("width", [320, 400, 700])
def test_labels_stay_whole_in_chromium_at_phone_width_and_in_print(tmp_path, browser, width):
    path = tmp_path / "doc.html"
    path.write_text(render.to_html(_notebook(), document_title="Forecast"), encoding="utf-8")
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        for media in ("screen", "print"):  # 700 px is about an A4 page's text column
            page.emulate_media(media=media)
            page.goto(path.as_uri())
            assert page.evaluate(BROKEN_JS) == [], (width, media)
    finally:
        page.close()

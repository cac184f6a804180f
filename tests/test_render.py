"""Review documents: no code, no stderr, title block, nothing external, escaped names, PDF."""

from __future__ import annotations

import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from salesnb.core.errors import RenderError
from salesnb.reports import record, render

EVIL = "<script>alert(1)</script>"


def _executed_notebook(name: str = EVIL) -> nbformat.NotebookNode:
    params = new_code_cell('subject = "R01"')
    params.metadata["tags"] = ["parameters"]
    injected = new_code_cell('subject = "R03"  # SECRET_INJECTED')
    injected.metadata["tags"] = ["injected-parameters"]
    work = new_code_cell("import warnings\nSECRET_CODE = 1")
    work.outputs = [
        new_output("stream", name="stderr", text="UserWarning: SECRET_WARNING\n"),
        new_output("stream", name="stdout", text="printed <b>not bold</b>\n"),
        new_output(
            "display_data",
            data={
                record.TITLE_MIME: {
                    "subject_name": name,
                    "period": "FY2026-Q3",
                    "as_of": "2026-09-30",
                    "data_fingerprint": "0123abcd",
                    "salesnb_version": "9.9.9",
                },
                "text/plain": "SECRET_TITLE_FALLBACK",
            },
        ),
        new_output(
            "display_data",
            data={record.HEADLINE_MIME: {"won": 1.0}, "text/plain": "SECRET_HEADLINE_FALLBACK"},
        ),
        new_output(
            "display_data",
            data={
                "image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg"><rect id="the-bar"/></svg>',
                "application/vnd.vegalite.v5+json": {"mark": "bar"},
                "text/html": '<script src="https://cdn.example/vega.js"></script>',
                "text/plain": "SECRET_CHART_TEXT",
            },
        ),
        new_output(
            "execute_result",
            execution_count=1,
            data={
                "text/html": '<table><tr><td>Acme</td></tr></table><img src="https://x/y.png">'
                '<script>steal()</script><p onclick="x()">ok</p>',
                "text/plain": "SECRET_TABLE_TEXT",
            },
        ),
        new_output("error", ename="ValueError", evalue="SECRET_ERROR", traceback=[]),
    ]
    hidden = new_code_cell("x = 2")
    hidden.metadata["tags"] = ["remove-cell"]
    hidden.outputs = [new_output("stream", name="stdout", text="SECRET_REMOVED\n")]
    nb = new_notebook(
        cells=[params, injected, new_markdown_cell("## Pipeline\nText."), work, hidden]
    )
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def test_document_notebook_keeps_only_what_a_reader_sees():
    doc = render.document_notebook(_executed_notebook())
    kinds = [c.cell_type for c in doc.cells]
    assert kinds == ["markdown", "code"]  # parameters, injected and remove-cell cells gone
    code = doc.cells[1]
    assert code.source == ""
    # stdout, the SVG (not the Vega-Lite spec or its CDN html) and the table remain
    assert [list(o.get("data", {"stream": 0})) for o in code.outputs] == [
        ["stream"],
        ["image/svg+xml"],
        ["text/html"],
    ]


def test_html_document_is_offline_escaped_and_has_no_code():
    html = render.to_html(_executed_notebook(), document_title="Pipeline review")
    assert "SECRET" not in html  # no code, injected params, stderr, fallbacks, errors
    assert render.external_references(html) == []
    assert "<script" not in html.lower() and "onclick" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert re.search(r'<h1 class="subject">&lt;script&gt;', html)
    for shown in (
        "FY2026-Q3",
        "2026-09-30",
        "0123abcd",
        "salesnb 9.9.9",
        "Pipeline review",
        'id="the-bar"',
        '<td class="snb-text">Acme</td>',  # words read left-aligned (reports.tablealign)
        "printed &lt;b&gt;not bold&lt;/b&gt;",
    ):
        assert shown in html, shown
    assert "@media print" in html and "@page" in html


def test_title_falls_back_to_the_subject_name():
    nb = new_notebook(cells=[new_markdown_cell("Hello")])
    html = render.to_html(nb, document_title="Review", subject_name="Zoë O'Brien")
    assert '<h1 class="subject">Zoë O&#39;Brien</h1>' in html


def test_external_references_finds_every_kind():
    page = (
        '<link rel="stylesheet" href="https://fonts.example/a.css">'
        '<script src="//cdn.example/x.js"></script><img src="http://x/a.png">'
        "<style>@import url(https://x/y.css); .a{background:url('http://x/b.png')}</style>"
        '<a href="https://example.org">a plain link is fine</a>'
    )
    found = render.external_references(page)
    assert len(found) >= 5
    assert render.external_references(render.offline_html(page)) == []


HOSTILE_FRAGMENTS = [
    '<p onclick="x()">a</p>',
    "<svg/onload=alert(1)><text>x</text></svg>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">entity-spelled scheme</a>',
    '<a href="&#x6A;avascript&colon;alert(1)">hex entities</a>',
    '<img src="//cdn.example/a.png">',
    '<svg><image xlink:href="https://x/a.png"/></svg>',
    '<div style="background:url(http://x/a.png)">x</div>',
    "<style>@import 'https://x/a.css';</style>",
    "<iframe srcdoc='<p>x</p>'></iframe>",
    '<meta http-equiv="refresh" content="0;url=https://x">',
    "<link rel=stylesheet href=https://x/a.css>",
    "<SCRIPT>alert(1)</SCRIPT>",
    "<!-- an unclosed comment would hide the rest of the page",
    "&lt;script&gt;alert(1)&lt;/script&gt; is text, not a script",
    '<a href="java\tscript:alert(1)">a tab inside the scheme</a>',
    '<a href="#top" onclick="x()">a page link with a handler</a>',
    '<img srcset="#a 1x, https://x/y.png 2x">',
    '<a href="#x">in page</a><a href="https://x/">out</a>',
    '<a href="&#35;x" target=_blank>an entity-spelled # is not taken on trust</a>',
]


@pytest.mark.parametrize("fragment", HOSTILE_FRAGMENTS)
def test_offline_filter_leaves_nothing_external_or_active(fragment):
    cleaned = render.offline_html(fragment)
    assert render.external_references(cleaned) == []
    assert "script:" not in cleaned.lower() and "<meta" not in cleaned and "onload" not in cleaned
    assert "onclick" not in cleaned and "<iframe" not in cleaned and "<!--" not in cleaned
    # (tests/test_sanitiser.py holds the full hostile corpus)


def _visible(fragment: str) -> tuple[str, list[str]]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(fragment, "html.parser")
    return soup.get_text(), [t.name for t in soup.find_all(True)]


def test_offline_filter_keeps_charts_tables_and_prose():
    import pandas as pd

    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" clip-path="url(#c1)">'
        '<defs><clipPath id="c1"><rect width="20" height="20"/></clipPath></defs>'
        '<g class="mark-text"><text x="1" y="9">Won &amp; lost: &#36;5K</text></g></svg>'
    )
    table = pd.DataFrame({"deal": ["A & B <big>"], "amount": [5.0]}).to_html()
    prose = "<p>Open pipeline: <b>&#36;237K</b> against &#36;240K.</p>"
    heading = '<h2 id="Velocity">Velocity<a class="anchor-link" href="#Velocity">&#182;</a></h2>'
    for fragment in (svg, table, prose, heading):
        assert _visible(render.offline_html(fragment)) == _visible(fragment)
    assert 'clip-path="url(#c1)"' in render.offline_html(svg)
    assert '<clipPath id="c1">' in render.offline_html(svg)  # SVG's camel case survives
    assert 'href="#Velocity"' in render.offline_html(heading)
    assert 'class="dataframe"' in render.offline_html(table)


def test_missing_chromium_explains_the_install(monkeypatch):
    monkeypatch.setenv("SALESNB_CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(RenderError, match=r"apt-get install -y chromium"):
        render.require_chromium()


@pytest.mark.slow
def test_pdf_is_printed_by_headless_chromium(tmp_path):
    if render.find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    page = tmp_path / "doc.html"
    page.write_text(
        render.to_html(_executed_notebook("Zoë"), document_title="Review"), encoding="utf-8"
    )
    pdf = render.html_to_pdf(page, tmp_path / "doc.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-64:]
    assert len(data) > 2000


def _stock_html(monkeypatch, nb) -> str:
    """What nbconvert's own HTMLExporter makes of ``nb`` with the review template."""
    fast = render._exporter
    monkeypatch.setattr(render, "_exporter", lambda d, stock=False: fast(d, stock=True))
    try:
        return render.to_html(nb, document_title="Pipeline review")
    finally:
        monkeypatch.setattr(render, "_exporter", fast)


@pytest.mark.parametrize("extra", ["", '<p>A logo: <img src="data:image/png;base64,AAAA"></p>'])
def test_the_review_exporter_makes_what_nbconverts_html_exporter_makes(monkeypatch, extra):
    from bs4 import BeautifulSoup

    nb = _executed_notebook("Ana & <Bo>")
    for o in nb.cells[3].outputs:  # only ``extra`` brings an image without alt text
        if "text/html" in o.get("data", {}):
            o["data"]["text/html"] = re.sub(r"<img[^>]*>", "", o["data"]["text/html"])
    nb.cells.insert(2, new_markdown_cell("Raw markup " + extra))
    ours = render.to_html(nb, document_title="Pipeline review")
    stock = _stock_html(monkeypatch, nb)
    # nbconvert re-serialises the page through BeautifulSoup; ours skips that pass unless an
    # <img> lacks alt text, so the two are the same page up to that serialisation
    assert str(BeautifulSoup(ours, features="html.parser")) == stock
    if extra:
        assert 'alt="No description has been provided for this image"' in ours
        assert ours == stock
    else:
        assert "No description" not in ours


def test_the_review_exporter_validates_once_through_nbconverts_own_option(monkeypatch):
    """No private hook of nbconvert's: its ``optimistic_validation`` validates the notebook
    once, after the last preprocessor (the stock exporter validates after each one)."""
    from nbconvert.exporters.exporter import Exporter

    exporter = render._exporter(str(render.TEMPLATES))
    assert exporter.optimistic_validation is True
    assert not render._exporter(str(render.TEMPLATES), stock=True).optimistic_validation
    assert "_preprocess" not in vars(type(exporter))
    assert "_init_preprocessors" not in vars(type(exporter))
    calls = []
    real = Exporter._validate_preprocessor
    monkeypatch.setattr(
        Exporter, "_validate_preprocessor", lambda self, nb, p: calls.append(p) or real(self, nb, p)
    )
    render.to_html(_executed_notebook("Ana"), document_title="Pipeline review")
    assert len(calls) == 1


def test_compiled_templates_are_kept_on_disk_and_render_the_same(tmp_path, monkeypatch):
    monkeypatch.setenv("SALESNB_CACHE", str(tmp_path))
    nb = _executed_notebook("Ana")
    render._exporter.cache_clear()
    try:
        first = render.to_html(nb, document_title="Pipeline review")
        kept = sorted(p.name for p in (tmp_path / "templates").iterdir())
        assert kept  # the base templates, compiled once
        render._exporter.cache_clear()  # a new process: templates come from the disk cache
        assert render.to_html(nb, document_title="Pipeline review") == first
        assert sorted(p.name for p in (tmp_path / "templates").iterdir()) == kept
    finally:
        render._exporter.cache_clear()


def test_markdown_is_rendered_once_per_text_and_the_same_as_nbconvert(monkeypatch):
    from nbconvert import HTMLExporter

    nb = _executed_notebook("Ana")
    nb.cells.insert(2, new_markdown_cell("## Twice\\n\\nThe *same* prose."))
    nb.cells.insert(3, new_markdown_cell("## Twice\\n\\nThe *same* prose."))
    monkeypatch.setattr(render, "_MARKDOWN", {})
    calls = []
    real = HTMLExporter.markdown2html
    monkeypatch.setattr(HTMLExporter, "markdown2html",
                        lambda self, ctx, src: calls.append(src) or real(self, ctx, src))  # fmt: skip
    assert render.warm_markdown(nb) == 3  # the notebook's own and the two equal cells
    warmed = len(calls)
    html = render.to_html(nb, document_title="Pipeline review")
    assert len(calls) == warmed  # the document rendered none of them again
    assert html.count("The <em>same</em> prose.") == 2
    monkeypatch.setattr(render, "_MARKDOWN", {})
    assert render.to_html(nb, document_title="Pipeline review") == html  # same as rendered anew

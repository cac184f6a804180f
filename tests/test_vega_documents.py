"""The "vega" chart format: specs drawn in the reader's browser by an inlined Vega runtime.

Checked in a real browser (Debian chromium through Playwright, every network request
refused): each chart is drawn, nothing is fetched, no console errors, and a hostile name
in the data stays text. Also: the PDF shows the charts, only the rep's own data is in the
page, the format reaches the notebook through the batch, and it is part of the resume key.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from salesnb.batch import documents as batch
from salesnb.core.errors import ParameterError, RenderError
from salesnb.reports import chartrender, render, vegabundle

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = "</script><script>alert('pwned')</script><!--"


@pytest.fixture(scope="module")
def vega_batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("vega-batch")
    manifest = batch.run(
        "pipeline_review", by="rep", data=ROOT / "data" / "sample", out=out,
        only=["R07"], formats=("html", "pdf"), charts="vega", progress=False,
    )  # fmt: skip
    assert manifest["summary"]["ok"] == 1, manifest["subjects"][0]["error"]
    assert manifest["charts"] == "vega"
    entry = manifest["subjects"][0]
    return out, entry


def _open_offline(browser, html: Path) -> tuple[object, list[str], list[str]]:
    """Open ``html`` with the network refused; (page, non-file requests, console problems)."""
    page = browser.new_page(viewport={"width": 1280, "height": 2000})
    fetched: list[str] = []
    problems: list[str] = []

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            fetched.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.goto(html.as_uri())
    page.wait_for_function(
        "document.querySelectorAll('figure.chart.vega:not([data-rendered])').length === 0",
        timeout=30_000,
    )
    return page, fetched, problems


def test_the_notebook_carries_specs_and_no_svg(vega_batch):
    out, entry = vega_batch
    nb = nbformat.read(out / entry["outputs"]["ipynb"]["path"], as_version=4)
    kinds = [set(o.get("data", {})) for c in nb.cells for o in c.get("outputs", [])]
    charts = [k for k in kinds if chartrender.SPEC_MIMETYPE in k]
    assert len(charts) == 4  # funnel, stage conversion, aging, waterfall
    assert not any(chartrender.SVG_MIMETYPE in k for k in kinds)


def test_every_chart_is_drawn_offline_in_a_browser(vega_batch, browser):
    out, entry = vega_batch
    page, fetched, problems = _open_offline(browser, out / entry["outputs"]["html"]["path"])
    try:
        figures = page.query_selector_all("figure.chart.vega")
        assert len(figures) == 4
        assert [f.get_attribute("data-rendered") for f in figures] == ["true"] * 4
        texts = [f.inner_text() for f in figures]
        assert "Deals reaching the stage (count)" in texts[0]  # the funnel's axis, drawn as SVG
        assert all(f.query_selector("svg") for f in figures)
        assert fetched == [] and problems == []
    finally:
        page.close()


def test_the_pdf_shows_the_charts(vega_batch):
    out, entry = vega_batch
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext is missing. Fix: sudo apt-get install -y poppler-utils")
    pdf = out / entry["outputs"]["pdf"]["path"]
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Deals reaching the stage" in text and "Open deals by age" in text


def test_the_page_holds_only_the_reps_own_names(vega_batch):
    import salesnb

    out, entry = vega_batch
    html = (out / entry["outputs"]["html"]["path"]).read_text(encoding="utf-8")
    wb = salesnb.load(str(ROOT / "data" / "sample"))
    others = wb.reps.loc[wb.reps["rep_id"] != "R07", "name"]
    assert [n for n in others if n in html] == []
    assert render.external_references(html.replace(vegabundle.vega_bundle(), "")) == []


def _spec_notebook(name: str) -> nbformat.NotebookNode:
    spec = {
        "$schema": chartrender.V5_SCHEMA,
        "title": name,
        "data": {"values": [{"rep": name, "amount": 5}, {"rep": "B & <b>", "amount": 3}]},
        "mark": "bar",
        "encoding": {"x": {"field": "amount", "type": "quantitative"},
                     "y": {"field": "rep", "type": "nominal"}},
    }  # fmt: skip
    cell = new_code_cell("chart")
    cell.outputs = [
        new_output("display_data", data={chartrender.SPEC_MIMETYPE: spec, "text/plain": "<chart>"})
    ]
    return new_notebook(cells=[cell])


def test_a_hostile_name_in_a_spec_stays_text(browser, tmp_path):
    html = render.to_html(_spec_notebook(HOSTILE), document_title="Pipeline review")
    assert HOSTILE not in html
    assert html.lower().count("<script") == 3  # the spec holder, the runtime, its init
    page_path = tmp_path / "hostile.html"
    page_path.write_text(html, encoding="utf-8")
    page, fetched, problems = _open_offline(browser, page_path)
    try:
        fig = page.query_selector("figure.chart.vega")
        assert fig.get_attribute("data-rendered") == "true"
        assert "alert('pwned')" in fig.inner_text()  # drawn as the title's text
        assert fetched == [] and problems == []
    finally:
        page.close()


def test_script_json_cannot_be_closed_by_data():
    text = render.script_json({"a": HOSTILE, "b": "\u2028", "c": float("nan")})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": HOSTILE, "b": "\u2028", "c": None}


def test_svg_documents_stay_script_free():
    nb = _spec_notebook("x")
    out = nb.cells[0].outputs[0]
    out.data[chartrender.SVG_MIMETYPE] = '<svg xmlns="http://www.w3.org/2000/svg"></svg>'
    html = render.to_html(nb, document_title="Pipeline review")
    assert "<script" not in html.lower() and 'class="chart svg"' in html


def test_chart_format_comes_from_the_argument_then_the_environment(monkeypatch):
    monkeypatch.delenv(chartrender.CHARTS_ENV, raising=False)
    assert chartrender.chart_format() == "svg"
    monkeypatch.setenv(chartrender.CHARTS_ENV, "VEGA")
    assert chartrender.chart_format() == "vega"
    assert chartrender.chart_format("svg") == "svg"
    monkeypatch.setenv(chartrender.CHARTS_ENV, "png")
    with pytest.raises(RenderError, match=r"'png' \(from SALESNB_CHARTS\).*Fix: use one of svg"):
        chartrender.chart_format()


def test_an_unknown_chart_format_stops_the_batch_before_it_runs(tmp_path):
    with pytest.raises(ParameterError, match="Unknown chart format 'gif'"):
        batch.run("pipeline_review", out=tmp_path, charts="gif", progress=False)
    assert not any(tmp_path.iterdir())


def test_the_chart_format_is_part_of_the_resume_key():
    args = ("nbsha", {"subject": "R01"}, "fp")
    assert batch.resume_key(*args) == batch.resume_key(*args, "svg")
    assert batch.resume_key(*args, "vega") != batch.resume_key(*args)


def test_the_bundle_is_cached_on_disk_and_checked(monkeypatch, tmp_path):
    monkeypatch.setenv("SALESNB_CACHE", str(tmp_path))
    monkeypatch.setattr(vegabundle, "_MEMORY", {})
    monkeypatch.setattr(vegabundle, "_build", lambda: "window.salesnbDraw = 1;")
    assert vegabundle.vega_bundle() == "window.salesnbDraw = 1;"
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and names[1] == names[0] + ".checked"  # the bundle; it passed
    bundle = tmp_path / names[0]
    monkeypatch.setattr(vegabundle, "_MEMORY", {})
    monkeypatch.setattr(vegabundle, "_build", lambda: pytest.fail("built again"))
    monkeypatch.setattr(render, "external_references", lambda s: pytest.fail("checked again"))
    assert vegabundle.vega_bundle() == "window.salesnbDraw = 1;"  # from disk, known good
    monkeypatch.undo()
    monkeypatch.setenv("SALESNB_CACHE", str(tmp_path))
    bundle.write_text("x = '</script>';")  # changed since it was checked: checked again
    monkeypatch.setattr(vegabundle, "_MEMORY", {})
    with pytest.raises(RenderError, match="cannot be inlined safely"):
        vegabundle.vega_bundle()


def test_documents_and_charts_agree_on_the_spec_mimetype():
    assert render._SPEC == chartrender.SPEC_MIMETYPE
    assert render._SPEC in render.DISPLAY_PRIORITY


def test_the_bundle_key_reads_vl_converts_version_as_metadata_does():
    from importlib.metadata import version

    assert vegabundle._vl_convert_version() == version("vl-convert-python")


def test_document_bytes_are_the_documents_text_encoded():
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "python"}
    cell = nbformat.v4.new_code_cell("chart")
    spec = {"$schema": "https://vega.github.io/schema/vega-lite/v6.json", "mark": "bar",
            "data": {"values": [{"a": "é", "b": 1}]}}  # fmt: skip
    cell.outputs = [nbformat.v4.new_output("display_data", data={render._SPEC: spec,
                                                                 "text/plain": "chart"})]  # fmt: skip
    nb.cells = [nbformat.v4.new_markdown_cell("# Zoë's review"), cell]
    text = render.to_html(nb, document_title="Pipeline review")
    assert vegabundle.vega_bundle() in text  # a vega document: the bundle inlined
    assert render.to_html_bytes(nb, document_title="Pipeline review") == text.encode("utf-8")
    plain = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("no charts")])
    assert render.to_html_bytes(plain) == render.to_html(plain).encode("utf-8")

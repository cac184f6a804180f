"""Each persona's documents in Chromium: no page wider than the window at 1400 px or at a
phone's 600 px, no section heading with nothing under it, and the one-on-one on at most two
A4 pages when printed (issue 18). The batch's index page too: at a desktop's and a phone's
width, every link leading to a file of the batch, nothing fetched from the network.

The documents are made once per module (one batch per workbook for the personas of
:data:`salesnb.data.sample.PERSONAS`, plus a region's copy of the two workbooks that have a
managers' roll-up) and every check reuses them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from salesnb.cli import batch as cli_batch
from salesnb.data.sample import PERSONAS

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parents[1] / "data" / "sample"
AS_OF = "2026-09-30"  # a quarter's last day, where the persona tests found the most problems
PERSONA_REPS = {
    "star": PERSONAS["star"], "new hire": PERSONAS["new_hires"][0],
    "under-performer": PERSONAS["under_performers"][0], "typical": PERSONAS["typical"],
    "empty pipeline": PERSONAS["empty_pipeline"],
}  # fmt: skip
WORKBOOKS = ("one_on_one", "pipeline_review", "performance_improvement_plan", "goal_setting",
             "forecast")  # fmt: skip
WITH_ROLLUP = ("one_on_one", "pipeline_review")
WIDTHS = (1400, 600)
MAX_PAGES = 2

#: Headings with nothing under them before the next heading (text, a chart or a table).
_EMPTY_HEADINGS_JS = """() => {
  const hs = Array.from(document.querySelectorAll('main h1, main h2, main h3, main h4'));
  const empty = [];
  hs.forEach((h, i) => {
    const r = document.createRange();
    r.setStartAfter(h);
    if (i + 1 < hs.length) r.setEndBefore(hs[i + 1]);
    else r.setEndAfter(document.querySelector('main').lastChild);
    const frag = r.cloneContents();
    const text = (frag.textContent || '').trim();
    if (!text && !frag.querySelector('svg, img, canvas, table, figure')) empty.push(h.textContent.trim());
  });
  return empty;
}"""


@pytest.fixture(scope="module")
def documents(tmp_path_factory) -> dict[str, list[Path]]:
    """``{workbook: [html paths]}``: the personas' documents and a region's copies."""
    out = tmp_path_factory.mktemp("documents")
    docs: dict[str, list[Path]] = {}
    for wb in WORKBOOKS:
        runs = [("rep", list(PERSONA_REPS.values()))]
        if wb in WITH_ROLLUP:
            runs.append(("region", ["EMEA"]))
        for by, only in runs:
            folder = out / f"{wb}-{by}"
            args = [wb, "--by", by, "--data", str(DATA), "--out", str(folder), "--only",
                    ",".join(only), "--param", f"as_of={AS_OF}", "--no-progress", "--workers", "2"]  # fmt: skip
            # the command as a manager runs it (batch.run writes the same files, CSV included)
            result = CliRunner().invoke(cli_batch.batch, args)
            assert result.exit_code == 0, result.output
            m = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            docs.setdefault(wb, []).extend(
                folder / e["outputs"]["html"]["path"] for e in m["subjects"]
            )
    return docs


def _folders(documents: dict[str, list[Path]]) -> list[Path]:
    """Every batch output folder of the module (each has its index.html)."""
    return sorted({p.parent for paths in documents.values() for p in paths})


@pytest.fixture(scope="module")
def page(browser):
    context = browser.new_context(java_script_enabled=True)
    p = context.new_page()
    yield p
    context.close()


@pytest.mark.parametrize("workbook", WORKBOOKS)
def test_no_page_wider_than_the_window_and_no_empty_heading(documents, page, workbook):
    problems = []
    for path in documents[workbook]:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(path.as_uri())
            scroll, inner = page.evaluate(
                "() => [document.documentElement.scrollWidth, window.innerWidth]"
            )
            if scroll > inner:
                problems.append(f"{path.name} at {width}px: {scroll}px wide")
        empty = page.evaluate(_EMPTY_HEADINGS_JS)
        if empty:
            problems.append(f"{path.name}: empty headings {empty}")
    assert not problems, "\n".join(problems)


def test_the_one_on_one_prints_on_at_most_two_a4_pages(documents, page):
    pages = {}
    for path in documents["one_on_one"]:
        if path.parent.name.endswith("-region"):
            continue  # a region's copy holds a roll-up of every rep: longer by design
        page.set_viewport_size({"width": 1400, "height": 900})
        page.goto(path.as_uri())
        pdf = page.pdf(format="A4", prefer_css_page_size=True)
        pages[path.name] = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    assert pages and all(n <= MAX_PAGES for n in pages.values()), pages


def test_a_regions_copy_starts_with_the_roll_up_and_links_its_full_lists(documents, page):
    for wb in WITH_ROLLUP:
        (region,) = [p for p in documents[wb] if p.parent.name.endswith("-region")]
        page.goto(region.as_uri())
        first = page.evaluate("() => document.querySelector('main h2').textContent")
        assert first in ("Team roll-up", page.evaluate(
            "() => document.querySelectorAll('main h2')[1].textContent"))  # fmt: skip
        assert page.locator("table.rollup tbody tr").count() >= 2
        links = page.eval_on_selector_all("a.csv-link", "as => as.map(a => a.getAttribute('href'))")
        assert links, f"{region.name}: no list cut to its first rows"
        for href in links:
            csv = region.parent / href
            assert csv.is_file() and csv.read_text(encoding="utf-8").count("\n") > 10, href
    rep_docs = [p for wb in WITH_ROLLUP for p in documents[wb] if p.parent.name.endswith("-rep")]
    for path in rep_docs:
        assert "Team roll-up" not in path.read_text(encoding="utf-8"), path.name


INDEX_WIDTHS = (1400, 600, 400)


def test_the_batch_index_fits_a_desktop_and_a_phone_offline_and_its_links_work(documents, browser):
    # Offline: any request that is not a file of the batch is refused and recorded.
    context = browser.new_context(java_script_enabled=True)
    fetched: list[str] = []

    def guard(route):
        url = route.request.url
        if url.startswith("file://"):
            route.continue_()
        else:
            fetched.append(url)
            route.abort()

    context.route("**/*", guard)
    p = context.new_page()
    problems = []
    try:
        folders = _folders(documents)
        assert len(folders) == len(WORKBOOKS) + len(WITH_ROLLUP)
        for folder in folders:
            index = folder / "index.html"
            assert index.is_file(), folder.name
            for width in INDEX_WIDTHS:
                p.set_viewport_size({"width": width, "height": 900})
                p.goto(index.as_uri())
                scroll, inner = p.evaluate(
                    "() => [document.documentElement.scrollWidth, window.innerWidth]"
                )
                if scroll > inner:
                    problems.append(f"{folder.name}/index.html at {width}px: {scroll}px wide")
            hrefs = p.eval_on_selector_all("a[href]", "as => as.map(a => a.getAttribute('href'))")
            made = {e.name for e in documents_in(folder)}
            assert made <= set(hrefs), (folder.name, made - set(hrefs))  # every document listed
            for href in hrefs:
                if href.startswith("#"):
                    if href != "#" and not p.locator(f"[id='{href[1:]}']").count():
                        problems.append(f"{folder.name}: anchor {href} leads nowhere")
                    continue
                if re.match(r"[a-z][a-z0-9+.-]*:", href):  # http:, mailto:, file: ...
                    problems.append(f"{folder.name}: link out of the batch {href}")
                    continue
                target = (folder / href).resolve()
                if folder.resolve() not in target.parents or not target.is_file():
                    problems.append(f"{folder.name}: broken link {href}")
                elif target.suffix == ".html":
                    p.goto(target.as_uri())  # it opens, and shows a document
                    if not p.locator("main h1, h1").count():
                        problems.append(f"{folder.name}: {href} opens without a title")
                    p.goto(index.as_uri())
    finally:
        context.close()
    assert not fetched, f"the index or a document fetched from the network: {fetched}"
    assert not problems, "\n".join(problems)


def documents_in(folder: Path) -> list[Path]:
    """The documents a batch folder's manifest lists (HTML)."""
    m = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return [folder / e["outputs"]["html"]["path"] for e in m["subjects"] if e["status"] == "ok"]


# --------------------------------------------------------------------------- fit and labels
#: Tables wider than the box they sit in (which then scrolls): [width, box width, columns].
_WIDE_TABLES_JS = """() => Array.from(document.querySelectorAll('main table'))
  .filter(t => t.getBoundingClientRect().width > t.parentElement.clientWidth + 1)
  .map(t => [Math.round(t.getBoundingClientRect().width), t.parentElement.clientWidth,
             Array.from(t.querySelectorAll('thead th')).map(h => h.textContent).join('|')])"""
#: Period labels and dates of the page whose characters do not all lie on one line.
_BROKEN_LABELS_JS = r"""() => {
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
      if (tops.size > 1) out.push(m[0]);
    }
  }
  return out;
}"""


@pytest.mark.parametrize("workbook", ["pipeline_review", "one_on_one"])
def test_deal_tables_fit_a_desktop_page_and_scroll_inside_it_on_a_phone(documents, page, workbook):
    # The waterfall's deal list had its close dates cut off at 1100 px until scrolled.
    problems = []
    for path in documents[workbook]:
        for width in (1100, 1400):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(path.as_uri())
            wide = page.evaluate(_WIDE_TABLES_JS)
            if wide:
                problems.append(f"{path.parent.name}/{path.name} at {width}px: {wide}")
        page.set_viewport_size({"width": 400, "height": 900})
        page.goto(path.as_uri())
        scroll, inner = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
        if scroll > inner:
            problems.append(f"{path.parent.name}/{path.name} at 400px: {scroll}px wide")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("workbook", WORKBOOKS)
def test_period_labels_never_break_at_phone_width_or_on_paper(documents, page, workbook):
    problems = []
    try:
        for path in documents[workbook]:
            # 700 px is about the text column of an A4 page
            for media, width in (("screen", 400), ("print", 700)):
                page.emulate_media(media=media)
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(path.as_uri())
                broken = page.evaluate(_BROKEN_LABELS_JS)
                if broken:
                    problems.append(f"{path.name} {media} at {width}px: {broken[:5]}")
    finally:
        page.emulate_media(media="screen")
    assert not problems, "\n".join(problems)

"""Hostile names end to end: they show as text in notebooks, documents, the index and PDFs.

``tests/data/hostile`` holds five reps, two managers, a region, a team, accounts, products
and deal ids named like attacks: HTML/script markup, template syntax, SQL, spreadsheet
formulas, a backslash-quote that tries to leave papermill's string literal, accents,
apostrophes and slashes. The documents are built once per session through the batch's
default engine; every check reads the same output.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from builds import build_once

from salesnb.batch import documents as batch
from salesnb.reports import record

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "tests" / "data" / "hostile"
FORMULA_START = ("=", "+", "-", "@")


def _rows(table: str) -> list[dict[str, str]]:
    with open(HOSTILE / f"{table}.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


REPS = {r["rep_id"]: r for r in _rows("reps")}
MANAGERS = sorted({r["manager"] for r in REPS.values()})
# Elements no document or index may hold (frames, embedding, forms, SVG animation, MathML).
FORBIDDEN = frozenset({
    "iframe", "frame", "object", "embed", "base", "form", "button", "input", "textarea",
    "select", "animate", "set", "animatetransform", "animatemotion", "use", "image",
    "foreignobject", "math", "maction", "template",
})  # fmt: skip
# Markup that must never become an element, whatever field carries it.
MARKUP = ("<script>alert", "<img src=x", "<svg onload", "<i>D0", "<b>Core", "<b>Région")

pytestmark = pytest.mark.slow


class Page(HTMLParser):
    """Elements (with decoded attributes), visible text and the text inside chosen elements."""

    CAPTURE = frozenset({"script", "style", "h1", "i", "b", "a", "title"})

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.captured: list[tuple[str, dict[str, str | None], str]] = []
        self.text: list[str] = []
        self._open: list[list] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag in self.CAPTURE:
            self._open.append([tag, dict(attrs), []])

    def handle_endtag(self, tag):
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                t, a, chunks = self._open.pop(i)
                self.captured.append((t, a, "".join(chunks)))
                break

    def handle_data(self, data):
        for item in self._open:
            item[2].append(data)
        if not any(t in ("script", "style") for t, *_ in self._open):
            self.text.append(data)

    def inner(self, tag: str) -> list[str]:
        return [text for t, _, text in self.captured if t == tag]

    @property
    def plain(self) -> str:
        return " ".join(" ".join(self.text).split())


def markup_problems(
    html: str, *, scripts_allowed: int = 0, own: frozenset[str] = frozenset()
) -> list[str]:
    """Every way hostile data could have become markup or code in ``html`` (``own``: elements
    of :data:`FORBIDDEN` the page's own template uses, such as the index's sort buttons)."""
    page = Page(html)
    problems = []
    for tag, attrs in page.elements:
        for name, value in attrs.items():
            if name.lower().startswith("on"):
                problems.append(f"event handler attribute {name}={value!r} on <{tag}>")
            if value and value.strip().lower().startswith("javascript:"):
                problems.append(f"javascript: URL in <{tag} {name}>")
        if tag == "img" and attrs.get("src") == "x":
            problems.append("an <img src=x> element")
        if tag in FORBIDDEN - own:
            problems.append(f"a <{tag}> element")
        if tag == "meta" and "http-equiv" in attrs:
            problems.append(f"a <meta http-equiv={attrs['http-equiv']!r}>")
        for name in ("formaction", "action", "srcdoc", "xlink:href", "target"):
            if name in attrs:
                problems.append(f"a {name} attribute on <{tag}>")
        if tag == "script" and attrs.get("src"):
            problems.append(f"an external script {attrs['src']!r}")
    scripts = page.inner("script")
    if len(scripts) > scripts_allowed:
        problems.append(f"{len(scripts)} <script> elements (allowed: {scripts_allowed})")
    for body in scripts:
        if "alert(" in body or any(r["name"] in body for r in REPS.values()):
            problems.append(f"data inside a script: {body[:80]!r}")
    problems += [f"<i>{t}</i> became markup" for t in page.inner("i") if re.match(r"D\d{4}", t)]
    problems += [f"<b>{t}</b> became markup" for t in page.inner("b") if t in ("Core", "Région")]
    return problems


@pytest.fixture(scope="session")
def hostile_out(tmp_path_factory) -> Path:
    """pipeline_review and one_on_one per rep (HTML), one_on_one per manager (HTML + PDF)."""
    pdf = shutil.which("chromium") is not None

    def build(out: Path) -> None:
        for nb in ("pipeline_review", "one_on_one"):
            batch.run(nb, by="rep", data=HOSTILE, out=out / nb, progress=False)
        formats = ("html", "pdf") if pdf else ("html",)
        batch.run(
            "one_on_one", by="manager", data=HOSTILE, out=out / "manager", formats=formats,
            progress=False,
        )  # fmt: skip

    return build_once(tmp_path_factory, "hardening-hostile", build)


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def _documents(hostile_out: Path) -> list[tuple[Path, dict]]:
    """(folder, manifest entry) of every subject of the three batches."""
    return [
        (hostile_out / run, s)
        for run in ("pipeline_review", "one_on_one", "manager")
        for s in _manifest(hostile_out / run)["subjects"]
    ]


def test_every_hostile_subject_gets_its_documents_under_a_safe_name(hostile_out):
    for run, total in (("pipeline_review", 5), ("one_on_one", 5), ("manager", 2)):
        m = _manifest(hostile_out / run)
        errors = {s["key"]: s["error"] for s in m["subjects"] if s["status"] != "ok"}
        assert not errors, f"{run}: {errors}"
        assert m["summary"]["ok"] == total
        for s in m["subjects"]:
            assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", s["slug"]), s["slug"]
    assert {s["key"] for s in _manifest(hostile_out / "manager")["subjects"]} == set(MANAGERS)


def test_documents_show_hostile_names_as_text_never_as_markup(hostile_out):
    for folder, s in _documents(hostile_out):
        html = (folder / s["outputs"]["html"]["path"]).read_text(encoding="utf-8")
        assert markup_problems(html) == [], (folder.name, s["key"])
        page = Page(html)
        name = s["name"]  # the rep's or manager's name exactly as in reps.csv
        assert page.inner("h1")[0] == name, "the title block shows the name as text"
        assert name in page.inner("title")[0]
        # no template ran over the data (R03 is called {{7*7}}: its h1 above is literal)
        assert not re.search(r"(?<![{%\w])(49|yes) No\.\d", page.plain)
    rep_text = {
        s["key"]: Page((f / s["outputs"]["html"]["path"]).read_text(encoding="utf-8")).plain
        for f, s in _documents(hostile_out)
        if f.name == "pipeline_review"
    }
    # each rep's own deals and accounts appear, as text: R02 has open deals at hostile accounts
    assert re.search(r"<i>D\d{4}</i>", rep_text["R02"])
    for s in _manifest(hostile_out / "manager")["subjects"]:
        html = (hostile_out / "manager" / s["outputs"]["html"]["path"]).read_text("utf-8")
        plain = Page(html).plain
        for rep in REPS.values():  # a manager's copy lists its own reps by name, as text
            # (accounts reuse some rep names with " No.<n>" after them: those do not count)
            shown = re.search(re.escape(rep["name"]) + r"(?! No\.\d)", plain) is not None
            assert shown == (rep["manager"] == s["key"]), (s["key"], rep["name"])


def _outputs(nb: nbformat.NotebookNode):
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            yield cell, out


def test_notebooks_hold_hostile_names_as_data_never_as_markup_or_code(hostile_out):
    for folder, s in _documents(hostile_out):
        nb = nbformat.read(folder / s["outputs"]["ipynb"]["path"], as_version=4)
        nbformat.validate(nb)
        _, title = record.collect(nb)
        assert title["subject_name"] == s["name"]
        injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
        values = {}
        for node in ast.parse(injected.source).body:  # plain assignments of literals only
            assert isinstance(node, ast.Assign), ast.dump(node)
            values[node.targets[0].id] = ast.literal_eval(node.value)
        assert values["subject"] == s["key"]  # the backslash-quote name stayed one string
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                assert not [m for m in MARKUP if m in cell.source], cell.source[:80]
        for cell, out in _outputs(nb):
            data = out.get("data", {})
            for mime in ("text/html", "image/svg+xml"):
                if mime in data:
                    assert markup_problems(data[mime]) == [], (folder.name, s["key"], mime)
            assert not [m for m in MARKUP if m in data.get("text/markdown", "")]


def test_index_lists_hostile_names_as_link_text(hostile_out):
    for run in ("pipeline_review", "manager"):
        html = (hostile_out / run / "index.html").read_text(encoding="utf-8")
        assert markup_problems(html, scripts_allowed=1, own=frozenset({"button"})) == [], run
        page = Page(html)
        links = {text: a.get("href") for t, a, text in page.captured if t == "a"}
        for s in _manifest(hostile_out / run)["subjects"]:
            assert links[s["name"]] == f"{s['slug']}.html", s["key"]


def test_pdf_shows_hostile_names_as_text(hostile_out):
    if shutil.which("chromium") is None:
        pytest.skip("Chromium is not installed (apt-get install chromium): no PDF to check")
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed (apt-get install poppler-utils)")
    m = _manifest(hostile_out / "manager")
    for s in m["subjects"]:
        pdf = hostile_out / "manager" / s["outputs"]["pdf"]["path"]
        raw = pdf.read_bytes()
        assert raw.startswith(b"%PDF-") and b"%%EOF" in raw[-64:]
        assert not re.search(rb"/JavaScript\b|/JS\s*[(<]|/Launch\b", raw)
        text = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", str(pdf), "-"],
            check=True, capture_output=True, text=True, timeout=60,
        ).stdout  # fmt: skip
        flat = "".join(text.split())  # a name may wrap in a narrow table column
        assert "".join(s["name"].split()) in flat, s["key"]
        for rep in REPS.values():
            if rep["manager"] == s["key"]:
                assert "".join(rep["name"].split()) in flat, rep["name"]


# --------------------------------------------------------------------------- CSV output


def _formula_cells(text: str) -> list[str]:
    """Cells a spreadsheet would run as a formula: text starting with = + - @ (not numbers)."""
    bad = []
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            if cell.startswith(FORMULA_START):
                try:
                    float(cell)
                except ValueError:
                    bad.append(cell)
    return bad


@pytest.mark.parametrize("by", ["rep", "manager", "region", "team"])
def test_kpis_csv_neutralises_formula_cells(by):
    from click.testing import CliRunner

    from salesnb.cli.commands import main

    res = CliRunner().invoke(main, ["kpis", str(HOSTILE), "--by", by, "--csv"])
    assert res.exit_code == 0, res.output
    assert _formula_cells(res.output) == []
    table = pd.read_csv(io.StringIO(res.output), dtype=str, keep_default_na=False)
    if by == "rep":
        names = dict(zip(table["rep_id"], table["name"], strict=True))
        assert names["R05"] == "'" + REPS["R05"]["name"]  # '=HYPERLINK("http://x")
        assert names["R01"] == REPS["R01"]["name"]  # not a formula: left alone
    if by == "manager":
        plus = next(m for m in MANAGERS if m.startswith("+"))
        assert set(table["manager"]) == {"'" + plus, *(m for m in MANAGERS if m != plus)}


def test_io_write_neutralises_formulas_and_load_reads_the_names_back(tmp_path):
    from salesnb.data import io as sio

    wb = sio.load(HOSTILE)
    sio.write(wb, tmp_path)
    for path in sorted(tmp_path.glob("*.csv")):
        assert _formula_cells(path.read_text(encoding="utf-8")) == [], path.name
    reps = pd.read_csv(tmp_path / "reps.csv", dtype=str)
    assert reps.loc[reps["rep_id"] == "R05", "name"].item() == "'" + REPS["R05"]["name"]
    back = sio.load(tmp_path)
    for table in ("reps", "opportunities", "targets", "activities", "snapshots"):
        pd.testing.assert_frame_equal(back.table(table), wb.table(table), check_like=True)


def test_snapshot_list_csv_neutralises_formula_cells(tmp_path):
    pytest.importorskip("duckdb")
    from click.testing import CliRunner

    from salesnb.cli.commands import main
    from salesnb.data import io as sio
    from salesnb.data import store

    rows, _, _ = store.snapshot_rows(sio.load(HOSTILE), "2026-09-30")
    db = tmp_path / "history.duckdb"
    store.add(db, rows, source='=HYPERLINK("http://x")', profile="@SUM(A1)")
    res = CliRunner().invoke(main, ["snapshot", "list", "--store", str(db), "--csv"])
    assert res.exit_code == 0, res.output
    assert _formula_cells(res.output) == []
    row = next(csv.DictReader(io.StringIO(res.output)))
    assert (row["source"], row["profile"]) == ('\'=HYPERLINK("http://x")', "'@SUM(A1)")


def test_sample_generator_neutralises_formula_names(tmp_path):
    from datetime import date

    from salesnb.data import io as sio
    from salesnb.data import sample

    products = ("=SUM(1+2)", "+1+1", "-2+3 Suite", "@SUM(A1)", "Plain")
    settings = sample.SampleSettings(
        as_of=date(2026, 9, 30), months=12, n_reps=5, regions=("=HYPERLINK(\"http://x\")",),
        managers_per_region=2, team_labels=("T",), closes_per_month=(6.0,),
        deal_size_median=(9000.0,), cycle_median_days=(40.0,), products=products,
        snapshot_weeks=2, accounts_per_rep=10, star="R01", new_hires=("R04",),
        new_hire_start_days_ago=(150,), under_performers=("R02",), empty_pipeline="R03",
        typical="R05",
    )  # fmt: skip
    sample.write(tmp_path, seed=1, settings=settings)
    for path in sorted(tmp_path.glob("*.csv")):
        assert _formula_cells(path.read_text(encoding="utf-8")) == [], path.name
    wb = sio.load(tmp_path)
    assert set(wb.reps["region"]) == {'=HYPERLINK("http://x")'}
    assert set(wb.opportunities["product"]) <= set(products)
    assert "=SUM(1+2)" in set(wb.opportunities["product"])

"""Privacy of batch documents: a rep's copy names no other rep, account or deal.

Every rep's documents of the sample data (30 reps; each account belongs to one rep) are built
once per session through ``salesnb.batch.run`` with its default engine, for the pipeline
review, one-on-one, forecast and improvement-plan workbooks. Each document, the HTML (entities
decoded) and the executed notebook (every JSON string), is scanned for every other rep's name
and rep_id, every account the rep does not own and every other rep's deal id, as whole words:
``R1`` does not match inside ``R10``, and a term matches across any punctuation or spacing
between its words (``O&#39;Brien`` and ``O'Brien`` alike). Manager and region documents may
name their own reps, never another manager's or region's.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from pathlib import Path

import pytest
from builds import build_once

from salesnb import batch
from salesnb.io import load

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
REP_NOTEBOOKS = ("pipeline_review", "one_on_one", "forecast", "performance_improvement_plan")
_WORD = re.compile(r"\w+")

pytestmark = pytest.mark.slow


def words(text: str) -> list[str]:
    """The word tokens of ``text`` (Unicode NFC): what whole-word matching compares."""
    return _WORD.findall(unicodedata.normalize("NFC", text))


class Scanner:
    """Finds which of many terms occur in a text as whole words, in one pass per text.

    Each term becomes its sequence of word tokens; a text matches a term when that sequence
    occurs in the text's tokens (an n-gram set lookup, so thousands of account names cost
    no more than a few).

    Examples
    --------
    >>> Scanner(["R1", "Zoë O'Brien"]).found("R10 and Zoë O'Brien")
    ["Zoë O'Brien"]
    """

    def __init__(self, terms):
        self.keys: dict[tuple[str, ...], str] = {}
        for term in terms:
            key = tuple(words(str(term)))
            if key:
                self.keys[key] = str(term)
        self.sizes = sorted({len(k) for k in self.keys})

    def found(self, text: str) -> list[str]:
        toks = words(text)
        grams = {tuple(toks[i : i + n]) for n in self.sizes for i in range(len(toks) - n + 1)}
        return sorted(self.keys[k] for k in self.keys.keys() & grams)


def json_strings(node: object) -> list[str]:
    """Every string in a JSON document (keys and values), escapes decoded."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (k, *json_strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in json_strings(v)]
    return []


def document_texts(folder: Path, entry: dict) -> dict[str, str]:
    """{"html": decoded page text with markup, "ipynb": every string of the notebook}."""
    texts = {}
    for fmt in ("html", "ipynb"):
        raw = (folder / entry["outputs"][fmt]["path"]).read_text(encoding="utf-8")
        texts[fmt] = (
            html.unescape(raw) if fmt == "html" else "\n".join(json_strings(json.loads(raw)))
        )
    return texts


@pytest.fixture(scope="session")
def sample_wb():
    return load(SAMPLE)


@pytest.fixture(scope="session")
def privacy_out(tmp_path_factory) -> Path:
    """Every rep's documents of four workbooks, manager one-on-ones and region reviews."""

    def build(out: Path) -> None:
        for nb in REP_NOTEBOOKS:
            batch.run(nb, by="rep", data=SAMPLE, out=out / nb, progress=False)
        batch.run("one_on_one", by="manager", data=SAMPLE, out=out / "manager", progress=False)
        batch.run("pipeline_review", by="region", data=SAMPLE, out=out / "region", progress=False)

    return build_once(tmp_path_factory, "hardening-privacy", build)


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def test_sample_accounts_each_belong_to_one_rep(sample_wb):
    # the scan below treats every account of another rep as private to that rep
    owners = sample_wb.opportunities.dropna(subset=["account"]).groupby("account")["rep_id"]
    assert owners.nunique().max() == 1


@pytest.mark.parametrize("notebook", REP_NOTEBOOKS)
def test_a_reps_document_names_no_other_rep_account_or_deal(privacy_out, sample_wb, notebook):
    m = _manifest(privacy_out / notebook)
    assert m["summary"]["ok"] == len(sample_wb.reps) == 30, m["summary"]
    reps, opps = sample_wb.reps, sample_wb.opportunities
    leaks = []
    for s in m["subjects"]:
        rid = s["key"]
        others, theirs = reps[reps["rep_id"] != rid], opps[opps["rep_id"] != rid]
        forbidden = Scanner(
            [*others["rep_id"], *others["name"], *theirs["account"].dropna(), *theirs["opp_id"]]
        )
        own_name = Scanner([s["name"]])
        for fmt, text in document_texts(privacy_out / notebook, s).items():
            # the scan reads what the reader reads: the rep's own name is there
            assert own_name.found(text) == [s["name"]], (notebook, rid, fmt)
            if found := forbidden.found(text):
                leaks.append(f"{notebook} {rid} {fmt}: {found[:5]}")
    assert leaks == []


def test_a_reps_document_shows_own_accounts(privacy_out, sample_wb):
    # the scanner sees accounts at all: the typical rep's review names some of its own
    s = next(s for s in _manifest(privacy_out / "pipeline_review")["subjects"] if s["key"] == "R27")
    own = sample_wb.opportunities.query("rep_id == 'R27'")["account"].dropna()
    text = document_texts(privacy_out / "pipeline_review", s)["html"]
    assert Scanner(own).found(text), "no own account found: the scan would miss leaks"


@pytest.mark.parametrize(("run", "by"), [("manager", "manager"), ("region", "region")])
def test_a_manager_or_region_document_names_only_its_own_reps(privacy_out, sample_wb, run, by):
    m = _manifest(privacy_out / run)
    reps, opps = sample_wb.reps, sample_wb.opportunities
    assert m["summary"]["ok"] == reps[by].nunique(), m["summary"]
    leaks = []
    for s in m["subjects"]:
        mine = reps[reps[by] == s["key"]]
        others = reps[reps[by] != s["key"]]
        theirs = opps[opps["rep_id"].isin(others["rep_id"])]
        forbidden = Scanner(
            [*others["rep_id"], *others["name"], *theirs["account"].dropna(), *theirs["opp_id"]]
        )
        for fmt, text in document_texts(privacy_out / run, s).items():
            if found := forbidden.found(text):
                leaks.append(f"{run} {s['key']!r} {fmt}: {found[:5]}")
            if by == "manager":  # a manager's copy has a per-rep table naming each of them
                assert Scanner(mine["name"]).found(text) == sorted(mine["name"]), s["key"]
    assert leaks == []


def test_the_index_is_for_the_analyst_and_names_every_rep(privacy_out, sample_wb):
    index = html.unescape((privacy_out / "pipeline_review" / "index.html").read_text("utf-8"))
    assert Scanner(sample_wb.reps["name"]).found(index) == sorted(sample_wb.reps["name"])

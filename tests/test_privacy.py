"""Privacy of batch documents: a rep's copy names no other rep, account or deal.

Every rep's documents of the sample data (30 reps; each account belongs to one rep) are built
once per session through ``salesnb.batch.documents.run`` with its default engine, for the pipeline
review, one-on-one, forecast and improvement-plan workbooks. Each document, the HTML (entities
decoded) and the executed notebook (every JSON string), is scanned for every other rep's name
and rep_id, every account the rep does not own and every other rep's deal id, as whole words:
``R1`` does not match inside ``R10``, and a term matches across any punctuation or spacing
between its words (``O&#39;Brien`` and ``O'Brien`` alike). Manager and region documents may
name their own reps, never another manager's or region's.

Two small generated data sets carry a warning of every kind (profile corrections, raw forms
in other cases, near-duplicate names and accounts, Excel dates, fills, blanks kept, targets
off the 1st or missing, a rep without data, an unknown snapshot deal, derived reps and
targets), one with short and name-like rep ids (``A``, ``R1``, ``May``, ``Will``, ``Rose``),
one with numeric ids. Their data notes are checked rep by rep (fast), and their documents
scanned as above with every form of each value, case- and accent-insensitive; ids that
could be ordinary words or numbers are looked for where they stand as identifiers (quoted,
after ``rep`` or ``owner``, alone in a table cell or a notebook string).
"""

from __future__ import annotations

import html
import json
import re
import tempfile
import unicodedata
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from builds import build_once
from hypothesis import given, settings
from hypothesis import strategies as st

from salesnb.batch import documents as batch
from salesnb.data import sample
from salesnb.data.io import load
from salesnb.reports import facts, plausibility

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
REP_NOTEBOOKS = ("pipeline_review", "one_on_one", "forecast", "performance_improvement_plan")
_WORD = re.compile(r"\w+")
slow = pytest.mark.slow


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


@slow
def test_sample_accounts_each_belong_to_one_rep(sample_wb):
    # the scan below treats every account of another rep as private to that rep
    owners = sample_wb.opportunities.dropna(subset=["account"]).groupby("account")["rep_id"]
    assert owners.nunique().max() == 1


@slow
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


@slow
def test_a_reps_document_shows_own_accounts(privacy_out, sample_wb):
    # the scanner sees accounts at all: the typical rep's review names some of its own
    s = next(s for s in _manifest(privacy_out / "pipeline_review")["subjects"] if s["key"] == "R27")
    own = sample_wb.opportunities.query("rep_id == 'R27'")["account"].dropna()
    text = document_texts(privacy_out / "pipeline_review", s)["html"]
    assert Scanner(own).found(text), "no own account found: the scan would miss leaks"


@slow
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


@slow
def test_the_index_is_for_the_analyst_and_names_every_rep(privacy_out, sample_wb):
    index = html.unescape((privacy_out / "pipeline_review" / "index.html").read_text("utf-8"))
    assert Scanner(sample_wb.reps["name"]).found(index) == sorted(sample_wb.reps["name"])


# ---------------------------------------------------------------------- data sets with warnings
_CSV = {"index": False, "lineterminator": "\n"}

#: Rep ids of the named data set: short ("A"), code-like ("R1") and name-like ("May", "Will",
#: "Rose") ids.
NAMED_IDS = {"R01": "A", "R02": "R1", "R03": "May", "R04": "Will", "R05": "Rose"}
#: Display names: near-duplicates ("Ann Lee", "Anne Lee"), an apostrophe and an accent.
NAMED_NAMES = {"A": "Ann Lee", "R1": "Anne Lee", "May": "Bob O'Brien", "Will": "Zoë Quinn",
               "Rose": "Rose Tyler"}  # fmt: skip
#: Accounts per rep: "Quillon Farm" (A's) and "Quillon Farms" (R1's) are near-duplicates.
NAMED_ACCOUNTS = {
    "A": ["Quillon Farm", "Acme Corp", "Birch Labs", "Cedar Mills"],
    "R1": ["Quillon Farms", "Delta Dental", "Ember Oak", "Fjord Foods"],
    "May": ["Garnet Group", "Harbor Health", "Iris Imaging", "Juniper Jets"],
    "Will": ["Kestrel Kilns", "Lumen Logistics", "Maple Motors", "Nimbus Networks"],
}
#: R1's "Quillon Farms" as the export writes it: corrected by the profile, or in lower case.
RAW_FORMS = ("QUILLON FARMS CORP", "Quillon Farms Corp.", "quillon farms")
NAMED_PROFILE = """\
name = "privacy-warnings"
[read]
date_formats = ["%Y-%m-%d"]
[reps]
files = ["reps.csv"]
[reps.corrections.name]
"Bob OBrien" = "Bob O'Brien"
[opportunities]
files = ["opportunities.csv"]
warn_blank = ["source"]
[opportunities.corrections.account]
"QUILLON FARMS CORP" = "Quillon Farms"
"Quillon Farms Corp." = "Quillon Farms"
[[opportunities.fill]]
column = "product"
value = "Core Platform"
reason = "the product was not recorded on old deals"
[targets]
files = ["targets.csv"]
read = { date_formats = ["%Y-%m-%d", "%Y-%m"] }
[activities]
files = ["activities.csv"]
[snapshots]
files = ["snapshots.csv"]
"""


def _sample_tables(n_reps: int = 5) -> tuple[dict[str, pd.DataFrame], str]:
    """A small generated canonical data set (``n_reps`` reps, a year) as text tables."""
    settings = sample.SampleSettings(
        as_of=date(2026, 9, 30), months=12, n_reps=n_reps, regions=("East",),
        managers_per_region=2, team_labels=("East",), closes_per_month=(6.0,),
        deal_size_median=(15000.0,), cycle_median_days=(50.0,), snapshot_weeks=6,
        accounts_per_rep=4, star="R01", new_hires=(), new_hire_start_days_ago=(),
        under_performers=(), empty_pipeline="R04", typical="R02",
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        sample.write(tmp, seed=11, settings=settings)
        tables = {p.stem: pd.read_csv(p, dtype=str, keep_default_na=False)
                  for p in Path(tmp).glob("*.csv")}  # fmt: skip
        toml = (Path(tmp) / "salesnb.toml").read_text(encoding="utf-8")
    return tables, toml


def _rename(tables: dict[str, pd.DataFrame], ids: dict[str, str]) -> None:
    """New rep ids everywhere, and deal ids that name their owner (``DL-<rep>-<n>``)."""
    for t in tables.values():
        if "rep_id" in t:
            t["rep_id"] = t["rep_id"].map(lambda r: ids.get(r, r))
    opps = tables["opportunities"]
    new = {o: f"DL-{r}-{i:03d}" for i, (o, r) in enumerate(zip(opps["opp_id"], opps["rep_id"]))}
    opps["opp_id"] = opps["opp_id"].map(new)
    tables["snapshots"]["opp_id"] = tables["snapshots"]["opp_id"].map(new)


def _accounts(opps: pd.DataFrame, per_rep: dict[str, list[str]]) -> None:
    """Each rep's deals cycle through that rep's accounts (each account has one owner)."""
    for rep, names in per_rep.items():
        mine = opps.index[opps["rep_id"] == rep]
        opps.loc[mine, "account"] = [names[i % len(names)] for i in range(len(mine))]


def write_named(folder: Path) -> Path:
    """The named data set and its profile (returned): every kind of warning they give.

    An encoding fallback (reps.csv in Windows-1252), a corrected rep name, R1's account in
    raw forms (two corrected by the profile, one in lower case), an Excel serial date and
    products filled by the profile (May's deals), blank sources kept (A's and R1's deals),
    a target month not on the 1st (R1's), a rep without target (Will), a rep without data
    (Rose) and a snapshot of a deal the opportunities do not hold (Will's).
    """
    tables, toml = _sample_tables()
    _rename(tables, NAMED_IDS)
    for name in ("opportunities", "activities", "snapshots", "targets"):
        t = tables[name]
        tables[name] = t[t["rep_id"] != "Rose"].reset_index(drop=True)
    reps, opps = tables["reps"], tables["opportunities"]
    reps["name"] = reps["rep_id"].map(NAMED_NAMES).where(reps["rep_id"] != "May", "Bob OBrien")
    _accounts(opps, NAMED_ACCOUNTS)
    r1 = opps.index[opps["account"] == "Quillon Farms"]
    for i, raw in zip(r1, RAW_FORMS):
        opps.loc[i, "account"] = raw
    may = opps.index[opps["rep_id"] == "May"]
    created = pd.Timestamp(opps.loc[may[0], "created_date"])
    opps.loc[may[0], "created_date"] = str((created - pd.Timestamp("1899-12-30")).days)
    opps.loc[may[1:3], "product"] = ""
    for rep in ("A", "R1"):
        opps.loc[opps.index[opps["rep_id"] == rep][0], "source"] = ""
    tg = tables["targets"]
    tables["targets"] = tg = tg[tg["rep_id"] != "Will"].reset_index(drop=True)
    first = tg.index[tg["rep_id"] == "R1"][0]
    tg.loc[first, "month"] = tg.loc[first, "month"][:8] + "15"  # YYYY-MM-01 -> YYYY-MM-15
    snaps = tables["snapshots"]
    ghost = snaps[snaps["rep_id"] == "Will"].head(1).assign(opp_id="DL-Will-GHOST")
    tables["snapshots"] = pd.concat([snaps, ghost], ignore_index=True)
    folder.mkdir(parents=True, exist_ok=True)
    for name, t in tables.items():
        enc = "cp1252" if name == "reps" else "utf-8"
        (folder / f"{name}.csv").write_bytes(t.to_csv(**_CSV).encode(enc))
    (folder / "salesnb.toml").write_text(toml, encoding="utf-8")
    profile = folder / "privacy.toml"
    profile.write_text(NAMED_PROFILE, encoding="utf-8")
    return profile


#: Numeric owner ids of the second data set (reps and targets derived from the export).
NUMERIC_IDS = ("3", "12", "7", "20", "1")
NUMERIC_PROFILE = """\
name = "privacy-numeric"
[read]
date_formats = ["%Y-%m-%d"]
[opportunities]
files = ["opportunities.csv"]
warn_blank = ["source"]
[opportunities.corrections.account]
"Quillon Farms Corp." = "Quillon Farms"
[reps]
derive = "owners"
defaults = { manager = "Mia Stone", region = "East" }
[targets]
derive = "history"
growth = 0.05
window_months = 12
[activities]
files = ["activities.csv"]
"""
#: Lines of the first rep's deals whose source is blank: numbers that are other reps' ids.
NUMERIC_LINES = (5, 7, 12, 20)


def write_numeric(folder: Path, ids: tuple[str, ...] = NUMERIC_IDS) -> Path:
    """Numeric owner ids, no reps or targets file; returns the profile.

    Warnings: derived reps, derived targets ("trailing 12-month average"; the third, fourth
    and fifth reps have no won deal and are listed), a corrected account of the second
    rep, and blank sources of the first rep's deals on lines 5, 7, 12 and 20.
    """
    tables, toml = _sample_tables()
    _rename(tables, dict(zip([f"R0{i}" for i in range(1, 6)], ids, strict=True)))
    opps = tables["opportunities"]
    opps = opps[~((opps["rep_id"] == ids[3]) & (opps["outcome"] == "won"))].reset_index(drop=True)
    rows = [line - 2 for line in NUMERIC_LINES]
    opps.loc[rows, "rep_id"] = ids[0]
    opps.loc[rows, "source"] = ""
    _accounts(opps, dict(zip(ids, NAMED_ACCOUNTS.values(), strict=False)))
    opps.loc[opps.index[opps["account"] == "Quillon Farms"][0], "account"] = "Quillon Farms Corp."
    assert (opps["source"] == "").sum() == len(rows)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("opportunities", "activities"):
        t = opps if name == "opportunities" else tables[name]
        (folder / f"{name}.csv").write_bytes(t.to_csv(**_CSV).encode("utf-8"))
    (folder / "salesnb.toml").write_text(toml, encoding="utf-8")
    profile = folder / "privacy.toml"
    profile.write_text(NUMERIC_PROFILE, encoding="utf-8")
    return profile


@pytest.fixture(scope="module")
def named_wb(tmp_path_factory):
    folder = tmp_path_factory.mktemp("named")
    return load(folder, profile=str(write_named(folder)))


@pytest.fixture(scope="module")
def numeric_wb(tmp_path_factory):
    folder = tmp_path_factory.mktemp("numeric")
    return load(folder, profile=str(write_numeric(folder)))


def fold(text: str) -> list[str]:
    """Word tokens without case or accents: how the scans below compare (independently of
    salesnb.reports.facts)."""
    s = unicodedata.normalize("NFKD", text)
    return words("".join(c for c in s if not unicodedata.combining(c)).casefold())


class FoldScanner(Scanner):
    """:class:`Scanner` that ignores case and accents."""

    def __init__(self, terms):
        super().__init__([])
        for term in terms:
            if key := tuple(fold(str(term))):
                self.keys[key] = str(term)
        self.sizes = sorted({len(k) for k in self.keys})

    def found(self, text: str) -> list[str]:
        toks = fold(text)
        grams = {tuple(toks[i : i + n]) for n in self.sizes for i in range(len(toks) - n + 1)}
        return sorted(self.keys[k] for k in self.keys.keys() & grams)


def id_mentions(text: str, ids) -> list[str]:
    """Ids that stand as identifiers in ``text``: quoted, after rep/owner, alone in a cell."""
    found = []
    for i in ids:
        e = re.escape(i)
        pats = (
            rf"(?<![\w'\"])['\"]\s*{e}\s*['\"](?![\w'\"])",
            rf"\b(?:rep|reps|owner|owners|rep_id|rep id)\s*[:=#]?\s*{e}(?!\w)",
            rf">\s*{e}\s*<",
        )
        if any(re.search(p, text, re.IGNORECASE) for p in pats):
            found.append(i)
    return found


def private_forms(wb, rep_ids: set[str], raw_accounts=()) -> tuple[list[str], list[str]]:
    """(words, ids) a document about ``rep_ids`` must not hold, in every form the data knows.

    Words: other reps' names, their deals' ids and their accounts as the data holds them
    and as the export wrote them (``raw_accounts``: (raw, corrected) pairs), less any that
    read as one of the subject's own accounts. Ids: other reps' ids.
    """
    reps, opps = wb.reps, wb.opportunities
    others, theirs = reps[~reps["rep_id"].isin(rep_ids)], opps[~opps["rep_id"].isin(rep_ids)]
    own = {tuple(fold(a)) for a in opps.loc[opps["rep_id"].isin(rep_ids), "account"].dropna()}
    accounts = set(theirs["account"].dropna())
    accounts |= {raw for raw, read in raw_accounts if read in accounts}
    accounts = {a for a in accounts if tuple(fold(a)) not in own}
    names = others.loc[others["name"] != others["rep_id"], "name"]  # derived reps: name = id
    forms = [*names, *theirs["opp_id"], *accounts]
    return forms, list(others["rep_id"])


def _note_leaks(wb, rep: str, raw_accounts=()) -> list[str]:
    notes = "\n".join(facts.data_notes(facts.context(wb, "rep", rep)))
    forms, ids = private_forms(wb, {rep}, raw_accounts)
    return FoldScanner(forms).found(notes) + id_mentions(notes, ids)


RAW_PAIRS = (("QUILLON FARMS CORP", "Quillon Farms"), ("Quillon Farms Corp.", "Quillon Farms"),
             ("quillon farms", "Quillon Farms"))  # fmt: skip


def test_each_warning_names_the_reps_whose_records_it_concerns(named_wb):
    got = sorted((w.code, w.reps) for w in named_wb.warnings)
    assert got == [
        ("blank-kept", ("A", "R1")),  # a blank source on one deal of each
        ("corrected-value", ("May",)),  # the rep name "Bob OBrien" in reps.csv
        ("corrected-value", ("R1",)),  # QUILLON FARMS CORP
        ("corrected-value", ("R1",)),  # Quillon Farms Corp.
        ("encoding", None),  # the whole of reps.csv
        ("excel-serial-date", ("May",)),
        ("filled", ("May",)),
        ("month-start", ("R1",)),
        ("rep-without-data", ("Rose",)),
        ("rep-without-target", ("Will",)),
        ("unknown-opportunity", ("Will",)),  # a snapshot of Will's deal DL-Will-GHOST
    ]
    corrected = [w.values for w in named_wb.warnings if w.code == "corrected-value"]
    assert ("QUILLON FARMS CORP", "Quillon Farms") in corrected


def test_data_notes_show_own_and_general_warnings_and_count_the_rest(named_wb):
    # the data's plausibility flags (team-level, e.g. deals dated after the as-of date) are
    # about the whole data, not about other reps: left out of this count
    flags = set(plausibility.flagged(named_wb))
    notes = [n for n in facts.data_notes(facts.context(named_wb, "rep", "A")) if n not in flags]
    # coverage (12 months of history), encoding (general), blank sources (A's and R1's)
    assert len(notes) == 4, notes
    assert notes[0].startswith("Closed deals span only 12 months")
    assert "not UTF-8" in notes[1] and "source is blank" in notes[2]
    assert notes[3] == (
        "9 other data problems concern only other reps' records and are not shown in this "
        "copy (the analyst sees them with salesnb validate)."
    )
    r1 = facts.data_notes(facts.context(named_wb, "rep", "R1"))
    assert sum("'QUILLON FARMS CORP' was read as 'Quillon Farms'" in n for n in r1) == 1
    assert r1[-1].startswith("6 other data problems")
    # a manager's copy: the warnings of its own reps (A, R1, May), not Will's or Rose's
    m = facts.data_notes(facts.context(named_wb, "manager", "Rebecca Stone"))
    assert m[-1].startswith("3 other data problems"), m


@pytest.mark.parametrize("rep", ["A", "R1", "May", "Will", "Rose"])
def test_data_notes_hold_no_other_reps_value_in_any_form(named_wb, rep):
    assert _note_leaks(named_wb, rep, RAW_PAIRS) == []


def test_the_scan_sees_every_form(named_wb):
    # the scans above would find each form if it were there
    forms, ids = private_forms(named_wb, {"A"}, RAW_PAIRS)
    assert {"QUILLON FARMS CORP", "Quillon Farms Corp.", "quillon farms"} <= set(forms)
    assert "Quillon Farm" not in forms  # A's own account, a near-duplicate of R1's
    assert FoldScanner(["QUILLON FARMS CORP"]).found("x quillon Farms corp. y") != []
    assert FoldScanner(forms).found("quillon farms") != []
    assert FoldScanner(forms).found("Quillon Farm") == []
    assert FoldScanner(forms).found("zoe quinn") == ["Zoë Quinn"]
    assert id_mentions("lines 12; may; 'May'; rep R1; <td>Will</td>", ids) == ["R1", "May", "Will"]


def test_redaction_covers_raw_corrected_case_and_near_duplicate_forms(named_wb):
    terms = facts.private_terms(facts.context(named_wb, "rep", "A"))
    text = (
        "'QUILLON FARMS CORP' was read as 'Quillon Farms'; also 'quillon  farms', "
        "'Quilon Farms' and \"Anne-Lee\"; A's own 'Quillon Farm' and 'Acme Corp' stay."
    )
    assert facts.redact(text, terms) == (
        "[another rep] was read as [another rep]; also [2 other reps] and "
        "[another rep]; A's own 'Quillon Farm' and 'Acme Corp' stay."
    )
    # and R1's own forms stay in R1's copy, while A's near-duplicate account goes
    r1 = facts.private_terms(facts.context(named_wb, "rep", "R1"))
    assert facts.redact("'QUILLON FARMS CORP', 'Quillon Farm'", r1) == (
        "'QUILLON FARMS CORP', [another rep]"
    )


@pytest.mark.parametrize("rep", NUMERIC_IDS)
def test_numeric_ids_leave_line_numbers_counts_and_figures_alone(numeric_wb, rep):
    notes = facts.data_notes(facts.context(numeric_wb, "rep", rep))
    text = "\n".join(notes)
    derived = next(n for n in notes if n.startswith("No targets file"))
    assert "as the trailing 12-month average of won bookings x 1.05" in derived
    # "1", "20" and "7" have no won deal: the list keeps the subject's own id only
    listed = {"3": "[3 other reps]", "12": "[3 other reps]", "7": "[[2 other reps], '7']",
              "20": "[[another rep], '20', [another rep]]",
              "1": "['1', [2 other reps]]"}  # fmt: skip
    assert f"3 reps without a won deal have no target: {listed[rep]}." in derived
    lines = "lines 5, 7, 12, 20, column 'source': source is blank"
    assert (lines in text) == (rep == "3"), text
    assert _note_leaks(numeric_wb, rep, [("Quillon Farms Corp.", "Quillon Farms")]) == []


def test_numeric_warnings_are_attributed(numeric_wb):
    got = {w.code: w.reps for w in numeric_wb.warnings}
    assert got == {"derived-reps": None, "derived-targets": None, "blank-kept": ("3",),
                   "corrected-value": ("12",)}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # short, code-like and name-like ids: only where they stand as identifiers
        ("A rep may say: will Rose rise in May? 'May' and rep Will.",
         "A rep may say: will Rose rise in May? [another rep] and rep [another rep]."),
        ("Unknown rep 'A' (did you mean \"R1\"?); owner: R1, rep id May; R1 stays.",
         ("Unknown rep [another rep] (did you mean [another rep]?); owner: [another rep], "
          "rep id [another rep]; R1 stays.")),
        # a name of numbers only ("{{7*7}}" reads 7 7): as an id, never "lines 7, 7"
        ("lines 7, 7 of '{{7*7}}' or \"Bob Baker\" and bob baker; rep {{7*7}}",
         "lines 7, 7 of [another rep] or [another rep] and [another rep]; rep {{7*7}}"),
        ("lines 12, 20 of 2026-12-20: ['12', '20', '3'] x12 ('12 deals')",
         "lines 12, 20 of 2026-12-20: [[2 other reps], '3'] x12 ('12 deals')"),
    ],
)  # fmt: skip
def test_redaction_by_token_and_context(text, expected):
    terms = facts.PrivateTerms.build(ids=["A", "R1", "May", "Will", "Rose", "12", "20"],
                                     names=["{{7*7}}", "Bob Baker"], own=["3"])  # fmt: skip
    assert facts.redact(text, terms) == expected


# the property: redaction changes no token that is not an identifier of another rep
_IDS = ("12", "7", "1", "A", "R1", "May", "Will", "Rose", "2026")
_FILLER = ("lines", "12", "7", "1", "2026", "month", "trailing", "A", "a", "R1", "may", "May",
           "will", "Will", "rose", "Rose", "deals", "x", "0.5", "-", "(", ")",
           "average")  # fmt: skip
_CONTEXT = ("rep ", "owner ", "rep: ", "owner = ", "rep id ")


@st.composite
def _message(draw):
    """(text, expected): filler words and numbers, other reps' ids as identifiers (masked
    in ``expected``) and the subject's own id quoted (kept)."""
    others = draw(st.lists(st.sampled_from(_IDS), min_size=1, max_size=4, unique=True))
    own = draw(st.sampled_from([i for i in (*_IDS, "R10") if i not in others]))
    parts, expected = [], []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["filler", "filler", "quoted", "context", "own"]))
        sep = draw(st.sampled_from([" ", ", ", " (", ": "]))
        if kind == "filler":
            word = draw(st.sampled_from(_FILLER))
            parts.append(sep + word)
            expected.append(sep + word)
        elif kind == "own":
            q = draw(st.sampled_from("'\""))
            parts.append(f"{sep}{q}{own}{q}")
            expected.append(f"{sep}{q}{own}{q}")
        else:
            rid = draw(st.sampled_from(others))
            if kind == "quoted":
                q = draw(st.sampled_from("'\""))
                parts.append(f"{sep}{q}{rid}{q}")
                expected.append(f"{sep}{facts.MASK}")
            else:
                ctx = draw(st.sampled_from(_CONTEXT))
                parts.append(f"{sep}{ctx}{rid}")
                expected.append(f"{sep}{ctx}{facts.MASK}")
    return others, own, "".join(parts), "".join(expected)


def _collapse(text: str) -> str:
    """Runs of masks in a list, counted as the redaction counts them."""
    mask = re.escape(facts.MASK)
    return re.sub(rf"{mask}(?:, {mask})+", lambda m: f"[{m.group().count(facts.MASK)} other reps]",
                  text)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(_message())
def test_property_redaction_changes_only_identifiers_of_other_reps(case):
    others, own, text, expected = case
    terms = facts.PrivateTerms.build(ids=others, own=[own])
    # filler never stands right after a context word (those are the identifier mentions)
    assert facts.redact(text, terms) == _collapse(expected)


# --------------------------------------------------------------------------- their documents
@pytest.fixture(scope="session")
def warnings_out(tmp_path_factory) -> Path:
    """Each rep's pipeline review of the two data sets, and the named set's manager 1:1s."""

    def build(out: Path) -> None:
        named = out / "data-named"
        profile = write_named(named)
        run = {"data": named, "profile": str(profile), "progress": False}
        batch.run("pipeline_review", by="rep", out=out / "named", **run)
        batch.run("one_on_one", by="manager", out=out / "named-manager", **run)
        numeric = out / "data-numeric"
        profile = write_numeric(numeric, DISTINCT_IDS)
        batch.run("pipeline_review", by="rep", data=numeric, profile=str(profile),
                  out=out / "numeric", progress=False)  # fmt: skip

    return build_once(tmp_path_factory, "privacy-warnings", build)


#: Numeric ids for the documents: a whole-word scan of a document would meet small numbers
#: (12, 20) everywhere; these appear nowhere else.
DISTINCT_IDS = ("73019", "73022", "73047", "73051", "73066")


@slow
@pytest.mark.parametrize(("run", "data"), [("named", "data-named"), ("numeric", "data-numeric")])
def test_documents_of_data_with_warnings_leak_no_other_rep(warnings_out, run, data):
    folder = warnings_out / data
    wb = load(folder, profile=str(folder / "privacy.toml"))
    m = _manifest(warnings_out / run)
    assert m["summary"]["failed"] == 0 and m["summary"]["ok"] >= 4, m["summary"]
    leaks = []
    for s in m["subjects"]:
        forms, ids = private_forms(wb, {s["key"]}, RAW_PAIRS)
        scan = FoldScanner(forms + (ids if run == "numeric" else []))
        for fmt, text in document_texts(warnings_out / run, s).items():
            found = scan.found(text) + ([] if run == "numeric" else id_mentions(text, ids))
            if fmt == "ipynb" and run == "named":  # a notebook string that is an id alone
                found += [i for i in ids if re.search(rf"(?m)^\s*{re.escape(i)}\s*$", text)]
            if found:
                leaks.append(f"{run} {s['key']} {fmt}: {sorted(set(found))[:5]}")
    assert leaks == []


@slow
def test_a_managers_document_of_data_with_warnings_names_only_its_reps(warnings_out):
    folder = warnings_out / "data-named"
    wb = load(folder, profile=str(folder / "privacy.toml"))
    m = _manifest(warnings_out / "named-manager")
    assert m["summary"]["ok"] == 2, m["summary"]
    leaks = []
    for s in m["subjects"]:
        mine = set(wb.reps.loc[wb.reps["manager"] == s["key"], "rep_id"])
        forms, ids = private_forms(wb, mine, RAW_PAIRS)
        for fmt, text in document_texts(warnings_out / "named-manager", s).items():
            if found := FoldScanner(forms).found(text) + id_mentions(text, ids):
                leaks.append(f"{s['key']} {fmt}: {found[:5]}")
    assert leaks == []

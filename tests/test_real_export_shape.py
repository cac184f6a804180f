"""End to end on an export shaped like the real Salesforce one the kit was tried on.

German stage labels, no amounts (the profile fills 1: deals are counted), lost deals without
the stage they had reached, a team sheet of 100 people without managers (70 of them have no
deal), numeric owner ids. Built from the sample's deals so it is big enough (about 10,000
deals) and fast to make. A batch of pipeline_review, one_on_one and forecast must finish with
plausible documents: no stage "always wins", nothing shown as money, P(target) not invented.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesnb.data.io import load
from salesnb.forecast.winprob import win_probabilities
from salesnb.reports import plausibility

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
GERMAN = {
    "Prospecting": "Erstkontakt",
    "Qualification": "Qualifizierung",
    "Demo": "Vorführung",
    "Proposal": "Angebot",
    "Negotiation": "Verhandlung",
    "Closed Won": "Gewonnen",
    "Closed Lost": "Verloren",
}
PROFILE = """
name = "sf_de"
description = "An anonymised Salesforce export: German stages, no amounts, no furthest stage."
as_of = "latest"
currency = "EUR"

[read]
date_formats = ["%d.%m.%Y"]

[[stages]]
name = "Erstkontakt"
kind = "open"
probability = 0.10
[[stages]]
name = "Qualifizierung"
kind = "open"
probability = 0.20
[[stages]]
name = "Vorführung"
kind = "open"
probability = 0.40
[[stages]]
name = "Angebot"
kind = "open"
probability = 0.60
[[stages]]
name = "Verhandlung"
kind = "open"
probability = 0.80
[[stages]]
name = "Gewonnen"
kind = "won"
probability = 1.0
[[stages]]
name = "Verloren"
kind = "lost"
probability = 0.0

[opportunities]
files = ["opportunities_export.csv"]
[opportunities.columns]
"Opportunity-ID" = "opp_id"
"Inhaber-ID" = "rep_id"
"Firma" = "account"
"Phase" = "stage"
"Erstellt am" = "created_date"
"Abschlussdatum" = "close_date"

[[opportunities.fill]]
column = "amount"
value = 1
reason = "the export has no amounts: every deal counts once."

[reps]
files = ["team.csv"]
[reps.columns]
"ID" = "rep_id"
"Name" = "name"
"Region" = "region"

[[reps.fill]]
column = "manager"
value = "(none)"
reason = "the team sheet has no managers."

[targets]
derive = "history"
growth = 0.10
window_months = 3
"""


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sf_de")
    o = pd.read_csv(SAMPLE / "opportunities.csv", dtype=str, keep_default_na=False)
    reps = pd.read_csv(SAMPLE / "reps.csv", dtype=str, keep_default_na=False)
    ids = {r: str(100 + i) for i, r in enumerate(reps["rep_id"])}  # numeric owner ids

    def de(d: str) -> str:
        return "" if not d else f"{d[8:10]}.{d[5:7]}.{d[0:4]}"

    pd.DataFrame(
        {
            "Opportunity-ID": o["opp_id"],
            "Inhaber-ID": o["rep_id"].map(ids),
            "Firma": o["account"],
            "Phase": o["stage"].map(GERMAN),
            "Erstellt am": o["created_date"].map(de),
            "Abschlussdatum": o["close_date"].map(de),
        }
    ).to_csv(out / "opportunities_export.csv", index=False)
    people = [(ids[r], n, g) for r, n, g in zip(reps["rep_id"], reps["name"], reps["region"])]
    people += [(str(500 + i), f"Person {i:02d}", "DACH") for i in range(70)]  # no deals
    pd.DataFrame(people, columns=["ID", "Name", "Region"]).to_csv(out / "team.csv", index=False)
    (out / "sf_de.toml").write_text(PROFILE, encoding="utf-8")
    return out


def test_the_export_is_read_honestly(export):
    wb = load(export, profile=export / "sf_de.toml")
    assert len(wb.reps) == 100 and wb.counts_only and wb.unit == "deals"
    assert (wb.reps["manager"] == "(none)").all()  # the reps fill is applied
    p = win_probabilities(wb).set_index("stage")
    assert (p["p"] < 0.95).all(), p  # no stage "always wins"
    assert not p.loc[p.index[1:], "learned"].any()
    flags = " ".join(plausibility.flagged(wb))
    assert "say how far they got" in flags and "Every amount is 1" in flags


def test_a_batch_over_the_export_makes_plausible_documents(export, tmp_path):
    only = "100,101,107,500"  # three sellers and one person without deals (asked for)
    for nb in ("pipeline_review", "one_on_one", "forecast"):
        out = tmp_path / nb
        res = subprocess.run(
            [sys.executable, "-m", "salesnb.cli", "batch", nb, "--by", "rep", "--data",
             str(export), "--profile", str(export / "sf_de.toml"), "--out", str(out),
             "--only", only, "--workers", "2"],
            capture_output=True, text=True, check=False, cwd=ROOT,
        )  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr
        assert "Traceback" not in res.stdout + res.stderr
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["summary"]["ok"] == 4, manifest["summary"]
        for doc in out.glob("*.html"):
            if doc.name == "index.html":
                continue
            text = re.sub(r"<[^>]+>", " ", doc.read_text("utf-8"))
            assert "€" not in text and "EUR" not in text, (nb, doc.name)
            assert "say how far they got" in text, (nb, doc.name)
            if nb == "pipeline_review" and not doc.name.startswith("500"):  # has deals
                assert "Stage conversions are not known" in text, doc.name
                html = doc.read_text("utf-8")  # no "amount" column of ones in deal tables
                assert not re.search(r"<th[^>]*>\s*amount\s*</th>", html), doc.name
        heads = [s.get("headline") or {} for s in manifest["subjects"]]
        for h in heads:
            p = h.get("p_target")
            if p is not None:
                assert 0.0 <= p <= 1.0 and np.isfinite(p)

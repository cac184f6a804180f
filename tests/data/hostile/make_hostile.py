"""Regenerate the hostile data set in this folder (run once; the CSVs are committed).

A small canonical data set (5 reps, 2 managers, 18 months) from :mod:`salesnb.data.sample`
whose rep, manager, region, team, account, product and deal names are hostile: HTML and
script markup, template syntax, SQL, spreadsheet formulas and accents, apostrophes and
slashes. ``tests/test_escaping.py`` runs it through the batch and checks that every one of
them shows as text, never as markup, code or a formula.

Usage: ``python tests/data/hostile/make_hostile.py`` (from the repository root).
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import pandas as pd

from salesnb.data import sample

HERE = Path(__file__).resolve().parent

REP_NAMES = {
    "R01": "<script>alert(1)</script>",
    "R02": '"><img src=x onerror=alert(1)>',
    "R03": "{{7*7}}",
    "R04": "'; DROP TABLE reps; --",
    "R05": '=HYPERLINK("http://x")',
}
#: The second manager's name also tries to break out of the string literal papermill injects.
MANAGERS = ("Zoë O'Brien-Núñez / Ops", '+1+1 <svg onload=alert(2)> \\"+str(7*7)+\\"')
REGION = "{{7*7}} <b>Région</b> Sud/Est"
TEAM = "'; DROP TABLE teams; -- A/B & Co"
PRODUCTS = ("<b>Core</b> Platform", "=SUM(1+2)", "{{7*7}} Hub", "@SUM(A1)", "-2+3 Suite/Pro")
#: Account names cycle through these, each made unique by a number.
ACCOUNTS = (
    "<script>alert('acct')</script>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}}",
    "'; DROP TABLE accounts; --",
    '=HYPERLINK("http://x")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "Ölwerk O'Hara & Söhne",
    "A/B Testing Ltd",
    "{% if 1 %}yes{% endif %}",
    "${7*7} Corp",
)
_CSV = {"index": False, "date_format": "%Y-%m-%d", "float_format": "%.2f", "lineterminator": "\n"}


def settings() -> sample.SampleSettings:
    """Five reps: R01 star, R02 under-performer, R03 empty pipeline, R04 new hire, R05 typical.

    One team, so that every rep's quota comes from the typical rep (the generator sets quotas
    per team from its typical reps).
    """
    return sample.SampleSettings(
        as_of=date(2026, 9, 30),
        months=18,
        n_reps=5,
        regions=(REGION,),
        managers_per_region=2,
        team_labels=(TEAM,),
        closes_per_month=(10.0,),
        deal_size_median=(15000.0,),
        cycle_median_days=(55.0,),
        products=PRODUCTS,
        snapshot_weeks=10,
        accounts_per_rep=10,
        star="R01",
        new_hires=("R04",),
        new_hire_start_days_ago=(150,),
        under_performers=("R02",),
        empty_pipeline="R03",
        typical="R05",
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sample.write(tmp, seed=7, settings=settings())
        tables = {p.stem: pd.read_csv(p, dtype=str) for p in Path(tmp).glob("*.csv")}
        # sample.write guards formula-like names with a leading "'": this data set is raw
        tables = {k: t.replace(r"^'(?=[=+\-@])", "", regex=True) for k, t in tables.items()}
        toml = (Path(tmp) / "salesnb.toml").read_text(encoding="utf-8")
    reps, opps, snaps = tables["reps"], tables["opportunities"], tables["snapshots"]
    managers = dict(zip(sorted(reps["manager"].unique()), MANAGERS, strict=True))
    reps["manager"] = reps["manager"].map(managers)
    reps["name"] = reps["rep_id"].map(REP_NAMES)
    # Accounts keep their owner (each belongs to one rep): a one-to-one renaming.
    accounts = sorted(opps["account"].dropna().unique())
    new = {a: f"{ACCOUNTS[i % len(ACCOUNTS)]} No.{i + 1}" for i, a in enumerate(accounts)}
    opps["account"] = opps["account"].map(new)
    # Deal ids carry markup too; snapshots refer to them.
    ids = {o: f"<i>D{i + 1:04d}</i>" for i, o in enumerate(opps["opp_id"])}
    opps["opp_id"] = opps["opp_id"].map(ids)
    snaps["opp_id"] = snaps["opp_id"].map(ids)
    for name, frame in tables.items():
        (HERE / f"{name}.csv").write_bytes(frame.to_csv(**_CSV).encode("utf-8"))
    (HERE / "salesnb.toml").write_text(toml, encoding="utf-8")


if __name__ == "__main__":
    main()

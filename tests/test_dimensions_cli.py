"""``salesnb kpis --by <dimension>``: the table of salesnb.analytics.dimensions, and clear
errors for an unknown dimension or one the data lacks."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

import salesnb
from salesnb.analytics import dimensions
from salesnb.cli.commands import main
from salesnb.data.schema import CORE_TABLES

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


def _run(*args: str):
    return CliRunner().invoke(main, ["kpis", *args])


def test_kpis_by_product_and_combinations_print_the_dimension_table():
    wb = salesnb.load(SAMPLE)
    res = _run(str(SAMPLE), "--by", "region,channel", "--period", "FY2026-Q2", "--csv")
    assert res.exit_code == 0, res.output
    got = pd.read_csv(io.StringIO(res.output))
    want = dimensions.kpis_by(wb, ["region", "source"], period="FY2026-Q2")
    assert list(got.columns) == ["region", "source", "period", *want.columns[2:]]
    assert (got["period"] == "FY2026-Q2").all()
    pd.testing.assert_series_equal(got["bookings"], want["bookings"], check_names=False)
    assert list(got["won_deals"]) == list(want["won_deals"])
    res = _run(str(SAMPLE), "--by", "product")
    assert res.exit_code == 0 and res.output.startswith("KPIs by product FY2026-Q3")
    assert "Enterprise Suite" in res.output and "win rate" in res.output


def test_org_groupings_still_print_the_scorecard():
    res = _run(str(SAMPLE), "--by", "region")
    assert res.exit_code == 0 and res.output.startswith("KPI scorecard FY2026-Q3")
    assert "attain." in res.output


def test_unknown_dimension_and_missing_data_are_one_clear_error(tmp_path):
    res = _run(str(SAMPLE), "--by", "prodcut")
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "by='prodcut' is not a dimension. Did you mean 'product'?" in res.output
    assert "Fix:" in res.output
    core = tmp_path / "core"
    core.mkdir()
    for t in CORE_TABLES:
        shutil.copy(SAMPLE / f"{t}.csv", core / f"{t}.csv")
    shutil.copy(SAMPLE / "salesnb.toml", core / "salesnb.toml")
    res = _run(str(core), "--by", "region,segment")
    assert res.exit_code == 2 and "no accounts table" in res.output
    assert "Fix: add accounts.csv" in res.output


def test_validate_counts_the_optional_tables_only_when_present(tmp_path):
    res = CliRunner().invoke(main, ["validate", str(SAMPLE)])
    assert res.exit_code == 0
    assert (
        "13619 snapshot rows, 1573 accounts, 1981 survey responses, 192 forecast calls; as of"
        in res.output
    )
    core = tmp_path / "core"
    core.mkdir()
    for t in CORE_TABLES:
        shutil.copy(SAMPLE / f"{t}.csv", core / f"{t}.csv")
    res = CliRunner().invoke(main, ["validate", str(core)])
    assert "13619 snapshot rows; as of" in res.output and "accounts" not in res.output

"""Shared fixtures: a tiny hand-made workbook, the sample data, the shared public data set,
and a headless Debian Chromium for the browser tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from salesnb.data.config import load_config
from salesnb.data.model import Workbook

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PUBLIC = SHARED / "data" / "crm_sales_opportunities"
SAMPLE = ROOT / "data" / "sample"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright (never a downloaded browser)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}. Fix: sudo apt-get install -y chromium "
            "(the CI script installs it; the tests never download a browser)."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _d(s: str) -> pd.Timestamp:
    return pd.Timestamp(s)


@pytest.fixture
def tiny_wb() -> Workbook:
    """Four reps in two regions; numbers small enough to check by hand."""
    reps = pd.DataFrame(
        {
            "rep_id": ["A", "B", "C", "D"],
            "name": ["Ann Able", "Bob Baker", "Cyd Cole", "Dee Dunn"],
            "manager": ["Mia", "Mia", "Noa", "Noa"],
            "region": ["East", "East", "West", "West"],
            "team": ["East", "East", "West", "West"],
            "start_date": pd.to_datetime(["2020-01-01"] * 3 + ["2026-06-01"]),
        }
    )
    opps = pd.DataFrame(
        {
            "opp_id": ["o1", "o2", "o3", "o4", "o5", "o6"],
            "rep_id": ["A", "A", "A", "B", "C", "C"],
            "account": ["Acme", "Apex", "Acme", "Bolt", "Core", "Cube"],
            "product": ["X"] * 6,
            "stage": ["Closed Won", "Closed Lost", "Demo", "Closed Won", "Proposal", "Closed Won"],
            "amount": [1000.0, 500.0, 2000.0, 300.0, 800.0, 700.0],
            "created_date": pd.to_datetime(
                ["2026-07-01", "2026-07-05", "2026-08-01", "2026-07-10", "2026-08-15", "2026-06-01"]
            ),
            "close_date": pd.to_datetime(
                ["2026-08-01", "2026-08-10", "2026-10-15", "2026-09-01", "2026-09-20", "2026-07-01"]
            ),
            "outcome": ["won", "lost", "open", "won", "open", "won"],
            "forecast_category": [
                "omitted",
                "omitted",
                "best_case",
                "omitted",
                "commit",
                "omitted",
            ],
            "source": ["inbound"] * 6,
            "furthest_stage": [
                "Negotiation",
                "Demo",
                "Demo",
                "Negotiation",
                "Proposal",
                "Negotiation",
            ],
            "last_activity_date": pd.to_datetime(
                ["2026-08-01", "2026-08-10", "2026-08-20", "2026-09-01", "2026-09-25", "2026-07-01"]
            ),
        }
    )
    targets = pd.DataFrame(
        {
            "rep_id": ["A", "B", "C", "D"],
            "region": [None] * 4,
            "month": pd.to_datetime(["2026-08-01"] * 4),
            "amount": [2000.0, 1000.0, 1000.0, 500.0],
        }
    )
    config = load_config(overrides={"as_of": "2026-09-30"})
    return Workbook(reps=reps, opportunities=opps, config=config, targets=targets, source="tiny")


@pytest.fixture(scope="session")
def sample_wb():
    """The committed sample data set, loaded once per test session."""
    from salesnb.data import io

    return io.load(SAMPLE)


@pytest.fixture(scope="session")
def public_dir() -> Path:
    """The public CRM data set in ../shared, or a skip with the reason."""
    if not (PUBLIC / "sales_pipeline.csv").is_file():
        pytest.skip(
            f"public data set not found at {PUBLIC} (it lives in ../shared beside the repo)"
        )
    return PUBLIC

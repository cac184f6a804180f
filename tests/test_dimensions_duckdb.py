"""The product and channel tables of salesnb.analytics.dimensions against plain DuckDB SQL
over the raw files: the public data set's products (it has no lead source, which the kit must
say plainly) and the sample's channels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import salesnb
from salesnb.analytics import dimensions as dim
from salesnb.core.errors import ParameterError

duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed (pip install duckdb)")

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = ROOT.parent / "shared" / "data" / "crm_sales_opportunities"
SAMPLE = ROOT / "data" / "sample"

# The public data set read as its profile reads it: 'GTXPro' is 'GTX Pro'; open deals are
# worth the product's list price (the profile's fill); the agent's office is the region.
PUBLIC_SQL = """
WITH p AS (
    SELECT CASE WHEN product = 'GTXPro' THEN 'GTX Pro' ELSE product END AS product,
           sales_agent, deal_stage, CAST(engage_date AS DATE) AS engage,
           CAST(close_date AS DATE) AS closed, close_value
    FROM read_csv('{folder}/sales_pipeline.csv', header = true, all_varchar = true)
), d AS (
    SELECT p.*, t.regional_office AS region, CAST(pr.sales_price AS DOUBLE) AS price
    FROM p LEFT JOIN read_csv('{folder}/sales_teams.csv', header = true) t USING (sales_agent)
           LEFT JOIN read_csv('{folder}/products.csv', header = true) pr USING (product)
)
SELECT {keys},
       count(*) FILTER (WHERE deal_stage = 'Won') AS won_deals,
       count(*) FILTER (WHERE deal_stage = 'Lost') AS lost_deals,
       coalesce(sum(CAST(close_value AS DOUBLE)) FILTER (WHERE deal_stage = 'Won'), 0)
           AS bookings,
       median(date_diff('day', engage, closed)) FILTER (WHERE deal_stage = 'Won')
           AS median_cycle_days,
       count(*) FILTER (WHERE deal_stage IN ('Prospecting', 'Engaging')) AS open_deals,
       coalesce(sum(price) FILTER (WHERE deal_stage IN ('Prospecting', 'Engaging')), 0)
           AS pipeline
FROM d GROUP BY {keys} ORDER BY {keys}
"""

SAMPLE_SQL = """
SELECT source,
       count(*) FILTER (WHERE outcome = 'won') AS won_deals,
       count(*) FILTER (WHERE outcome = 'lost') AS lost_deals,
       coalesce(sum(amount) FILTER (WHERE outcome = 'won'), 0) AS bookings,
       median(date_diff('day', created_date, close_date)) FILTER (WHERE outcome = 'won')
           AS median_cycle_days
FROM read_csv('{folder}/opportunities.csv', header = true)
WHERE outcome <> 'open' AND close_date BETWEEN DATE '{start}' AND DATE '{end}'
GROUP BY source ORDER BY source
"""


def _same(kit: pd.DataFrame, sql: pd.DataFrame, cols: list[str]) -> None:
    kit = kit.reset_index(drop=True)
    assert len(kit) == len(sql)
    for c in cols:
        np.testing.assert_allclose(
            kit[c].to_numpy(dtype=float), sql[c].to_numpy(dtype=float), rtol=1e-12, err_msg=c
        )


@pytest.fixture(scope="module")
def public():
    if not (PUBLIC / "sales_pipeline.csv").exists():
        pytest.skip(
            f"the public data set is absent ({PUBLIC}): put the Maven Analytics CRM + Sales + "
            "Opportunities files there (../shared beside the repo; docs/profiles.md) to run it"
        )
    return salesnb.load(PUBLIC, profile="crm_sales_opportunities")


def test_product_table_equals_duckdb_on_the_public_data(public):
    sql = duckdb.sql(PUBLIC_SQL.format(folder=PUBLIC, keys="product")).df()
    kit = dim.kpis_by(public, "product")
    assert list(kit["product"]) == list(sql["product"])
    cols = ["won_deals", "lost_deals", "bookings", "median_cycle_days", "open_deals", "pipeline"]
    _same(kit, sql, cols)
    mix = dim.product_mix(public)
    _same(mix, sql.assign(bookings_share=sql["bookings"] / sql["bookings"].sum()),
          ["bookings_share"])  # fmt: skip
    both = duckdb.sql(PUBLIC_SQL.format(folder=PUBLIC, keys="region, product")).df()
    _same(dim.kpis_by(public, "region,product"), both, cols)


def test_public_data_has_no_channel_and_says_so(public):
    with pytest.raises(ParameterError, match="no source on any deal.*Fix: map"):
        dim.channel_efficiency(public)


def test_channel_table_equals_duckdb_on_the_sample():
    wb = salesnb.load(SAMPLE)
    for start, end, period in (("2026-07-01", "2026-09-30", "FY2026-Q3"),
                               ("2025-01-01", "2025-12-31", "FY2025")):  # fmt: skip
        sql = duckdb.sql(SAMPLE_SQL.format(folder=SAMPLE, start=start, end=end)).df()
        kit = dim.channel_efficiency(wb, period=period)
        assert list(kit["source"]) == list(sql["source"])
        _same(kit, sql, ["won_deals", "lost_deals", "bookings", "median_cycle_days"])
        wr = sql["won_deals"] / (sql["won_deals"] + sql["lost_deals"])
        _same(kit, sql.assign(win_rate=wr, avg_deal_size=sql["bookings"] / sql["won_deals"]),
              ["win_rate", "avg_deal_size"])  # fmt: skip

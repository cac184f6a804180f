"""``salesnb kpis DATA --table NAME``: each table prints its analytics function's own figures
(formatted by the kit's one formatter), its CSV reads back as the same rows, a table the data
cannot give is one plain sentence (exit 0), and a bad --table or a --by that does not apply is
one clear message (exit 2), never a traceback."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import salesnb
from salesnb.analytics import accounts, dimensions
from salesnb.analytics.coaching_facts import format_value
from salesnb.cli.commands import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
Q3 = "FY2026-Q3"  # the quarter holding the sample's as-of date (2026-09-30): the default
Q3_DAYS = (pd.Timestamp("2026-07-01"), pd.Timestamp("2026-09-30"))

M, P, N = "currency", "percent", "count"
# table -> (--by, function, its by, key headers, (column, header, unit) ...), written out here
# rather than read from salesnb.cli.kpitables, so a wrong header or unit fails the test
TABLES = {
    "channels": ("region", dimensions.channel_efficiency, "region", ["region", "channel"],
                 [("bookings", "bookings", M), ("bookings_share", "share of bookings", P),
                  ("won_deals", "won", N), ("lost_deals", "lost", N), ("win_rate", "win rate", P),
                  ("median_cycle_days", "sales cycle", "days"),
                  ("avg_deal_size", "avg deal", M)]),
    "products": (None, dimensions.product_mix, None, ["product"],
                 [("won_deals", "won", N), ("bookings", "bookings", M),
                  ("bookings_share", "share of bookings", P), ("pipeline", "pipeline", M),
                  ("pipeline_share", "share of pipeline", P)]),
    "retention": ("segment", dimensions.retention, "segment", ["segment"],
                  [("customers_last", "customers", N), ("retained", "retained", N),
                   ("lapsed", "lapsed", N), ("retention_rate", "retention rate", P),
                   ("revenue_last", "revenue last year", M),
                   ("revenue_retained", "revenue this year", M),
                   ("revenue_retention", "revenue retention", P),
                   ("first_buyers_last", "first buyers", N), ("bought_again", "bought again", N),
                   ("repeat_rate", "repeat rate", P)]),
    "acquisition": (None, dimensions.acquisition, "segment", ["segment"],
                    [("new_accounts", "new customers", N), ("new_bookings", "their bookings", M),
                     ("won_accounts", "customers who bought", N), ("new_share", "new share", P)]),
    "satisfaction": (None, dimensions.satisfaction_summary, "rep", ["rep", "survey"],
                     [("responses", "responses", N), ("reading", "reading", "text")]),
    "attach": ("region", accounts.attach_rates, "region", ["region", "product"],
               [("customers", "customers", N), ("buyers", "buyers", N),
                ("attached", "bought another too", N), ("attach_rate", "attach rate", P)]),
    "renewals": ("region", accounts.renewals, "region", ["region"],
                 [("renewals_due", "due", N), ("due_value", "due value", M),
                  ("renewed", "renewed", N), ("renewed_value", "renewed value", M),
                  ("churned", "churned", N), ("churned_value", "churned value", M),
                  ("churned_accounts", "churned accounts", N), ("open_renewals", "open", N),
                  ("open_value", "open value", M), ("renewal_rate", "renewal rate", P),
                  ("value_renewal_rate", "value renewal rate", P)]),
    "loss-reasons": (None, accounts.loss_reasons, None, ["loss reason"],
                     [("lost_deals", "lost deals", N), ("lost_value", "lost value", M),
                      ("share", "share", P), ("value_share", "value share", P)]),
}  # fmt: skip


@pytest.fixture(scope="module")
def wb():
    return salesnb.load(SAMPLE)


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(SAMPLE / "opportunities.csv", parse_dates=["created_date", "close_date"])


def _run(*args: str):
    return CliRunner().invoke(main, ["kpis", *args])


def _args(table: str, *extra: str) -> list[str]:
    by = TABLES[table][0]
    return [str(SAMPLE), "--table", table, *(["--by", by] if by else []), *extra]


def _want(wb, table: str) -> pd.DataFrame:
    _, func, by, _, _ = TABLES[table]
    if table == "retention":
        return func(wb, by)
    return func(wb, by, period=Q3)


def _cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


@pytest.mark.parametrize("table", list(TABLES))
def test_each_table_prints_the_functions_own_figures_formatted(wb, table):
    res = _run(*_args(table))
    assert res.exit_code == 0, res.output
    _, _, by, key_heads, cols = TABLES[table]
    want = _want(wb, table)
    assert len(want) > 0
    blocks = res.stdout.split("\n\n")
    assert len(blocks) == (2 if table == "attach" else 1)
    lines = blocks[0].splitlines()
    grouping = "" if by is None else f" by {'rep' if by == 'rep' else by}"
    if table == "retention":
        assert lines[0] == f"Customer retention{grouping} as of 2026-09-30"
        assert lines[1] == ("Customers of last year (2024-10-01 to 2025-09-30) and what they "
                            "bought this year (2025-10-01 to 2026-09-30).")  # fmt: skip
        lines = lines[1:]
    else:
        assert lines[0].endswith(f"{grouping} {Q3}")
    head, rows = _cells(lines[1]), [_cells(line) for line in lines[2:]]
    assert head == [*key_heads, *(h for _, h, _ in cols)]
    assert not any("_" in h for h in head)  # headers are words
    keys = [c for c in want.columns if c not in {c for c, _, _ in cols}][: len(key_heads)]
    expected = [
        [str(r[k]) for k in keys] + [format_value(r[c], u, "USD") for c, _, u in cols]
        for r in want.to_dict("records")
    ]
    assert rows == expected


def test_attach_prints_the_products_bought_together_below_the_rates(wb):
    res = _run(*_args("attach"))
    assert res.exit_code == 0, res.output
    lines = res.stdout.split("\n\n")[1].splitlines()
    assert lines[0] == (
        f"Bought together {Q3}: of the buyers of a product, how many also bought another "
        "(pairs never bought together are left out)"
    )
    assert _cells(lines[1]) == ["region", "bought", "also bought", "buyers", "also bought it",
                                "share"]  # fmt: skip
    pairs = accounts.attach_matrix(wb, "region", period=Q3)
    pairs = pairs[pairs["also_bought"] > 0]
    assert len(pairs) > 0
    assert [_cells(line) for line in lines[2:]] == [
        [r["region"], r["product"], r["with_product"], str(r["buyers"]), str(r["also_bought"]),
         format_value(r["attach_share"], "percent")]
        for r in pairs.to_dict("records")
    ]  # fmt: skip


@pytest.mark.parametrize("table", list(TABLES))
def test_csv_reads_back_as_the_same_rows(wb, table):
    res = _run(*_args(table, "--csv"))
    assert res.exit_code == 0, res.output
    got = pd.read_csv(io.StringIO(res.stdout))
    want = _want(wb, table).copy()
    if table != "retention":  # a window: the period follows the groups, as --by product does
        n_keys = len(TABLES[table][3])
        want.insert(n_keys, "period", Q3)
    pd.testing.assert_frame_equal(got, want.reset_index(drop=True), check_dtype=False)


def _csv(*args: str) -> pd.DataFrame:
    res = _run(*args, "--csv")
    assert res.exit_code == 0, res.output
    return pd.read_csv(io.StringIO(res.stdout), keep_default_na=False, na_values=[""])


def _in_q3(dates: pd.Series) -> pd.Series:
    return dates.between(*Q3_DAYS)


def test_figures_match_a_hand_count_from_the_raw_csv(raw):
    """One figure per table recounted with plain pandas on data/sample's CSV files."""
    closed = raw[_in_q3(raw["close_date"])]
    # loss reasons: lost deals per reason (blank: "not recorded")
    lost = closed[closed["outcome"] == "lost"]
    reason = lost["loss_reason"].fillna("").str.strip().replace("", "not recorded")
    got = _csv(str(SAMPLE), "--table", "loss-reasons").set_index("loss_reason")["lost_deals"]
    assert got.to_dict() == reason.value_counts().to_dict()
    # channels: bookings (won amount) per source
    won = closed[closed["outcome"] == "won"]
    got = _csv(str(SAMPLE), "--table", "channels").set_index("source")["bookings"]
    pd.testing.assert_series_equal(
        got.sort_index(), won.groupby("source")["amount"].sum(), check_names=False
    )
    # products: deals won per product
    got = _csv(str(SAMPLE), "--table", "products").set_index("product")["won_deals"]
    assert got.to_dict() == won["product"].value_counts().to_dict()
    # renewals: renewal deals due in the quarter (open ones by their expected close), by region
    due = closed[closed["deal_type"] == "renewal"]
    assert _csv(*_args("renewals"))["renewals_due"].sum() == len(due)
    # all-time won deals with an account, for the customer tables
    ever = raw[(raw["outcome"] == "won") & raw["account"].notna()]
    ever = ever[ever["close_date"] <= Q3_DAYS[1]]
    # retention: customers of the 365 days before the last 365 (2024-10-01 to 2025-09-30)
    last = ever[ever["close_date"].between("2024-10-01", "2025-09-30")]
    assert _csv(*_args("retention"))["customers_last"].sum() == last["account"].nunique()
    # acquisition: accounts whose first ever win closed in the quarter
    first = ever.groupby("account")["close_date"].min()
    assert _csv(*_args("acquisition"))["new_accounts"].sum() == int(_in_q3(first).sum())
    # attach: customers = accounts that bought a product in the quarter (each in one region)
    bought = ever[_in_q3(ever["close_date"]) & ever["product"].notna()]
    per_region = _csv(*_args("attach")).drop_duplicates("region")["customers"]
    assert per_region.sum() == bought["account"].nunique()
    # satisfaction: survey responses of the quarter per kind, over all reps
    sat = pd.read_csv(SAMPLE / "satisfaction.csv", parse_dates=["date"])
    sat = sat[_in_q3(sat["date"])]
    got = _csv(*_args("satisfaction")).groupby("kind")["responses"].sum()
    assert got.to_dict() == sat["kind"].value_counts().to_dict()


def test_the_scorecard_is_the_default_and_unchanged():
    plain, named = _run(str(SAMPLE)), _run(str(SAMPLE), "--table", "scorecard")
    assert plain.exit_code == named.exit_code == 0
    assert plain.output == named.output
    lines = plain.output.splitlines()
    assert lines[0] == f"KPI scorecard {Q3}"
    assert lines[1].split()[:2] == ["rep_id", "name"]  # --by rep, as before


def _copy(tmp_path: Path, name: str) -> Path:
    out = tmp_path / name
    shutil.copytree(SAMPLE, out)
    return out


def test_a_table_the_data_cannot_give_is_one_plain_sentence_and_exit_0(tmp_path):
    nosat = _copy(tmp_path, "nosat")
    (nosat / "satisfaction.csv").unlink()
    res = _run(str(nosat), "--table", "satisfaction")
    assert res.exit_code == 0, res.output
    assert res.output == (
        "Customer satisfaction is not known: the data has no survey responses. To see it, add "
        "satisfaction.csv (account, date, score, kind: csat or nps; docs/dimensions.md).\n"
    )
    res = _run(str(nosat), "--table", "satisfaction", "--csv")  # machines: stdout stays empty
    assert res.exit_code == 0 and res.stdout == ""
    assert res.stderr.startswith("Customer satisfaction is not known")

    noloss = _copy(tmp_path, "noloss")
    opps = pd.read_csv(noloss / "opportunities.csv", dtype=str, keep_default_na=False)
    opps.drop(columns=["loss_reason"]).to_csv(noloss / "opportunities.csv", index=False)
    res = _run(str(noloss), "--table", "loss-reasons")
    assert res.exit_code == 0, res.output
    assert len(res.output.strip().splitlines()) == 1
    assert res.output.startswith("Loss reasons are not known: no lost deal carries a loss reason.")
    assert "to 'loss_reason' in the import profile" in res.output
    blank = _copy(tmp_path, "blank")  # the column is there, empty on every lost deal
    opps.assign(loss_reason="").to_csv(blank / "opportunities.csv", index=False)
    again = _run(str(blank), "--table", "loss-reasons")
    assert again.exit_code == 0 and again.output == res.output
    # the same data still gives every other table
    assert _run(str(noloss), "--table", "channels").output.startswith("Channel efficiency")

    res = _run(str(SAMPLE), "--table", "renewals", "--period", "FY2023-Q1")
    assert res.exit_code == 0
    assert res.output == (
        "No renewal fell due from 2023-01-01 to 2023-03-31, so there is no renewal rate.\n"
    )
    res = _run(str(SAMPLE), "--table", "channels", "--period", "FY2020")
    assert res.exit_code == 0
    assert res.output == "No deal closed in FY2020, so channel efficiency is not known for it.\n"


def test_acquisition_without_accounts_is_the_whole_team_and_says_so(tmp_path, wb):
    noacc = _copy(tmp_path, "noacc")
    (noacc / "accounts.csv").unlink()
    res = _run(str(noacc), "--table", "acquisition")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == f"New customers {Q3}"
    assert lines[1].startswith("The data has no customer segments, so this is the whole team")
    whole = dimensions.acquisition(wb, None, period=Q3).iloc[0]
    assert _cells(lines[3])[0] == format_value(whole["new_accounts"], "count")
    res = _run(str(noacc), "--table", "acquisition", "--by", "segment")  # asked for: an error
    assert res.exit_code == 2 and "no accounts table" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--table", "channels", "--by", "channel"],
         ("error: --by channel does not apply to --table channels: the channels are the "
          "table's rows already. Fix: group by another dimension")),
        (["--table", "products", "--by", "region,product"],
         "error: --by product does not apply to --table products"),
        (["--table", "retention", "--by", "product"],
         ("error: --by product does not apply to --table retention: it counts customers "
          "(accounts), and a product belongs to a deal, not to a customer. Fix: use --by with "
          "one of rep, region, manager, team, segment, industry, size, country, all.")),
        (["--table", "attach", "--by", "product"],
         "error: --by product does not apply to --table attach"),
        (["--table", "retention", "--period", "FY2026"],
         "error: --period does not apply to --table retention"),
        (["--table", "loss-reasons", "--by", "prodcut"],
         "error: by='prodcut' is not a dimension. Did you mean 'product'?"),
    ],
)  # fmt: skip
def test_a_by_or_period_that_does_not_apply_is_one_clear_error(args, message):
    res = _run(str(SAMPLE), *args)
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit)
    assert "Traceback" not in res.output
    assert res.output.startswith(message)
    assert len(res.output.strip().splitlines()) == 1 and "Fix:" in res.output


def test_a_bad_period_is_the_scorecards_error():
    scorecard = _run(str(SAMPLE), "--period", "FY2026-Q9")
    for table in ("renewals", "channels", "satisfaction"):
        res = _run(str(SAMPLE), "--table", table, "--period", "FY2026-Q9")
        assert res.exit_code == scorecard.exit_code != 0
        assert res.output == scorecard.output
        assert res.output.startswith("error: Period 'FY2026-Q9' is not understood. Fix:")


def test_a_bad_table_name_is_one_clear_message():
    res = _run(str(SAMPLE), "--table", "chanels")
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit)
    assert "Traceback" not in res.output
    assert "Invalid value for '--table': 'chanels' is not one of 'scorecard', 'channels'" in (
        res.output
    )
    assert res.output.count("Error") == 1


def test_the_module_examples_run(monkeypatch):
    import doctest

    from salesnb.cli import kpitables

    monkeypatch.chdir(ROOT)  # the examples read data/sample
    result = doctest.testmod(kpitables, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 3 and result.failed == 0


def test_the_commands_dimension_names_are_the_analytics_ones():
    """kpitables keeps its own copy of the --by names so the command starts without pandas;
    the copy must not drift from salesnb.analytics.dimensions."""
    from salesnb.analytics import dimensions as dim
    from salesnb.cli import kpitables as kt

    assert {*kt._ORG, "rep_id"} == set(dim.ORG)
    assert set(kt._DEAL) == set(dim.DEAL) and set(kt._ACCOUNT) == set(dim.ACCOUNT)

"""Product attach, renewals and churned accounts, loss reasons (salesnb.analytics.accounts), the
deal_type and loss_reason columns (schema, profiles, validation) and the sample's new columns.

The expectations are computed by hand from the eleven deals of ``accounts._example()``
(as of 2026-03-31):

    o1  r1 A X won  400 2026-01-15 new_business      o7  r2 E X lost 300 2026-03-01 new  "  "
    o2  r1 A Y won  600 2026-02-20 expansion         o8  r1 C Y open 900 2026-04-30 renewal
    o3  r1 B X won  300 2026-01-05 renewal           o9  r1 B Y won  200 2025-03-01 new
    o4  r1 C X lost 500 2026-02-01 renewal  Price    o10 r2 E Y lost 200 2026-02-10 new  Price
    o5  r2 D Y lost 200 2026-03-15 renewal  Timing   o11 r2 D X won  100 2026-03-20 expansion
    o6  r2 D Y won  800 2026-01-20 new_business

Accounts: A SMB (owner r1), B Enterprise (no owner: its latest deal's rep, r1), C SMB,
D Enterprise (owner r2), E not in the accounts table.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import salesnb
from salesnb.analytics import accounts as acc
from salesnb.core.errors import ParameterError
from salesnb.data import sample
from salesnb.data.sample_kinds import RENEWAL_DAYS, deal_types

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def wb():
    return acc._example()


def rows(frame: pd.DataFrame, cols: list[str]) -> list[tuple]:
    return [tuple(r) for r in frame[cols].itertuples(index=False)]


# --------------------------------------------------------------------------- attach


def test_attach_matrix_by_hand(wb):
    # the window is the 365 days to as-of (2025-04-01 .. 2026-03-31): o9 (B buys Y in 2025-03)
    # is out. Buyers: X = {A, B, D}, Y = {A, D}. X buyers that bought Y: A, D -> 2/3; Y
    # buyers that bought X: A, D -> 2/2.
    t = acc.attach_matrix(wb)
    assert rows(t, ["product", "with_product", "buyers", "also_bought"]) == [
        ("X", "Y", 3, 2), ("Y", "X", 2, 2),
    ]  # fmt: skip
    assert t["attach_share"].tolist() == pytest.approx([2 / 3, 1.0])
    # with all of 2025 in the window, B bought Y too: Y buyers = {A, B, D}, all bought X
    t = acc.attach_matrix(wb, start="2025-01-01", end="2026-03-31")
    assert rows(t, ["product", "with_product", "buyers", "also_bought"]) == [
        ("X", "Y", 3, 3), ("Y", "X", 3, 3),
    ]  # fmt: skip


def test_attach_rates_by_hand(wb):
    # customers = accounts that bought anything in the window: A, B, D
    t = acc.attach_rates(wb)
    assert rows(t, ["product", "customers", "buyers", "attached"]) == [
        ("X", 3, 3, 2), ("Y", 3, 2, 2),
    ]  # fmt: skip
    assert t["attach_rate"].tolist() == pytest.approx([2 / 3, 2 / 3])
    # by segment: SMB = {A}: X and Y, both attached; Enterprise = {B, D}: X by B and D (D
    # attached), Y by D (attached)
    t = acc.attach_rates(wb, "segment")
    assert rows(t, ["segment", "product", "customers", "buyers", "attached"]) == [
        ("Enterprise", "X", 2, 2, 1), ("Enterprise", "Y", 2, 1, 1),
        ("SMB", "X", 1, 1, 1), ("SMB", "Y", 1, 1, 1),
    ]  # fmt: skip
    assert t["attach_rate"].tolist() == pytest.approx([0.5, 0.5, 1.0, 1.0])
    # by owner: r1 owns A and B (B through its latest deal), r2 owns D
    t = acc.attach_rates(wb, "rep")
    assert rows(t, ["rep_id", "product", "customers", "buyers", "attached"]) == [
        ("r1", "X", 2, 2, 1), ("r1", "Y", 2, 1, 1), ("r2", "X", 1, 1, 1), ("r2", "Y", 1, 1, 1),
    ]  # fmt: skip
    m = acc.attach_matrix(wb, "rep")
    assert rows(m, ["rep_id", "product", "with_product", "buyers", "also_bought"]) == [
        ("r1", "X", "Y", 2, 1), ("r1", "Y", "X", 1, 1), ("r2", "X", "Y", 1, 1),
        ("r2", "Y", "X", 1, 1),
    ]  # fmt: skip


def test_attach_refuses_a_deal_dimension_and_an_empty_window_is_empty(wb):
    with pytest.raises(ParameterError, match="describes deals, not customers"):
        acc.attach_rates(wb, "product")
    assert acc.attach_rates(wb, start="2020-01-01", end="2020-12-31").empty
    assert acc.attach_matrix(wb, "segment", period="FY2020").empty


# --------------------------------------------------------------------------- renewals


def test_renewals_by_hand(wb):
    # due up to as-of: o3 (won 300), o4 (lost 500, C), o5 (lost 200, D); o8 is due later
    t = acc.renewals(wb)
    assert t.attrs["reason"] is None and len(t) == 1
    r = t.iloc[0]
    assert (r.renewals_due, r.due_value, r.renewed, r.renewed_value) == (3, 1000.0, 1, 300.0)
    assert (r.churned, r.churned_value, r.churned_accounts) == (2, 700.0, 2)
    assert (r.open_renewals, r.open_value) == (0, 0.0)
    assert r.renewal_rate == pytest.approx(1 / 3) and r.value_renewal_rate == pytest.approx(0.3)
    # the first half of 2026 by rep: r1 has o3, o4 and o8 (open, 900); r2 has o5
    t = acc.renewals(wb, "rep", start="2026-01-01", end="2026-06-30")
    assert rows(t, ["rep_id", "renewals_due", "due_value", "renewed", "churned",
                    "churned_value", "churned_accounts", "open_renewals", "open_value"]) == [
        ("r1", 3, 1700.0, 1, 1, 500.0, 1, 1, 900.0), ("r2", 1, 200.0, 0, 1, 200.0, 1, 0, 0.0),
    ]  # fmt: skip
    assert t["renewal_rate"].tolist() == pytest.approx([0.5, 0.0])
    assert t["value_renewal_rate"].tolist() == pytest.approx([300 / 800, 0.0])


def test_renewals_are_unknown_without_renewal_deals(wb):
    t = acc.renewals(acc._example(typed=False), "rep")
    assert t.empty and list(t.columns[:1]) == ["rep_id"]
    assert t.attrs["reason"].startswith("Renewals and churned accounts are not known: the deals "
                                        "carry no deal type.")  # fmt: skip
    assert "Fix: map the CRM's deal type" in t.attrs["reason"]
    untyped = acc._example()
    untyped.opportunities["deal_type"] = untyped.opportunities["deal_type"].replace(
        "renewal", "existing"
    )
    reason = acc.renewals(untyped).attrs["reason"]
    assert "no deal is typed a renewal (the deal types are existing, expansion, new_business)" in (
        reason
    )
    # renewals exist, none due in the window: a known nothing, said in words
    t = acc.renewals(wb, start="2026-06-01")
    assert t.empty and t.attrs["reason"] == (
        "No renewal fell due from 2026-06-01 on, so there is no renewal rate."
    )


# --------------------------------------------------------------------------- loss reasons


def test_loss_reasons_by_hand(wb):
    # lost up to as-of: o4 Price 500, o5 Timing 200, o7 blank 300, o10 Price 200
    t = acc.loss_reasons(wb)
    assert rows(t, ["loss_reason", "lost_deals", "lost_value"]) == [
        ("Price", 2, 700.0), ("Timing", 1, 200.0), ("not recorded", 1, 300.0),
    ]  # fmt: skip
    assert t["share"].tolist() == pytest.approx([0.5, 0.25, 0.25])
    assert t["value_share"].tolist() == pytest.approx([7 / 12, 2 / 12, 3 / 12])
    t = acc.loss_reasons(wb, "rep")
    assert rows(t, ["rep_id", "loss_reason", "lost_deals", "lost_value"]) == [
        ("r1", "Price", 1, 500.0), ("r2", "Price", 1, 200.0), ("r2", "Timing", 1, 200.0),
        ("r2", "not recorded", 1, 300.0),
    ]  # fmt: skip
    assert t["value_share"].tolist() == pytest.approx([1.0, 2 / 7, 2 / 7, 3 / 7])
    t = acc.loss_reasons(wb, "segment", start="2026-03-01")  # o5 (D, Enterprise), o7 (E)
    assert rows(t, ["segment", "loss_reason", "lost_deals"]) == [
        ("(unknown)", "not recorded", 1), ("Enterprise", "Timing", 1),
    ]  # fmt: skip


def test_loss_reasons_without_the_column_are_not_recorded(wb):
    bare = acc._example()
    bare.opportunities = bare.opportunities.drop(columns=["loss_reason"])
    t = acc.loss_reasons(bare)
    assert rows(t, ["loss_reason", "lost_deals", "lost_value", "share"]) == [
        ("not recorded", 4, 1200.0, 1.0),
    ]  # fmt: skip


# --------------------------------------------------------------------------- invariants


def _random_workbook(data) -> salesnb.Workbook:
    base = acc._example()
    n = data.draw(st.integers(1, 25))
    pick = st.lists
    o = pd.DataFrame({
        "opp_id": [f"d{i}" for i in range(n)],
        "rep_id": data.draw(pick(st.sampled_from(["r1", "r2"]), min_size=n, max_size=n)),
        "account": data.draw(pick(st.sampled_from(["A", "B", "C", "D", "E", None]),
                                  min_size=n, max_size=n)),
        "product": data.draw(pick(st.sampled_from(["X", "Y", "Z", None]), min_size=n, max_size=n)),
        "outcome": data.draw(pick(st.sampled_from(["won", "lost", "open"]), min_size=n,
                                  max_size=n)),
        "amount": data.draw(pick(st.integers(0, 1000).map(float), min_size=n, max_size=n)),
        "close_date": pd.to_datetime("2025-06-01") + pd.to_timedelta(
            data.draw(pick(st.integers(0, 300), min_size=n, max_size=n)), unit="D"),
        "deal_type": data.draw(pick(st.sampled_from(["renewal", "new_business", None]),
                                    min_size=n, max_size=n)),
        "loss_reason": data.draw(pick(st.sampled_from(["Price", "", None, "Timing"]), min_size=n,
                                      max_size=n)),
    })  # fmt: skip
    o["deal_type"] = o["deal_type"].astype("str")
    o.loc[0, "deal_type"] = "renewal"  # the data has renewals
    # and products: with none at all, grouping by product is the error test_dimensions checks
    # ("no product on any deal"), not a grouping whose parts could add up
    o.loc[0, "product"] = "X"
    o["created_date"] = o["close_date"] - pd.Timedelta(days=30)
    stage = {"won": "Closed Won", "lost": "Closed Lost", "open": "Proposal"}
    o["stage"] = o["outcome"].map(stage)
    o = o.assign(source="inbound", forecast_category=None, furthest_stage=None,
                 last_activity_date=pd.NaT)  # fmt: skip
    base.opportunities = o
    return base


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), by=st.sampled_from(["rep", "region", "segment", "product", "rep,product"]))
def test_groups_add_up_to_the_whole_team(data, by):
    wb = _random_workbook(data)
    window = {"start": "2025-01-01", "end": "2026-03-31"}
    total = acc.loss_reasons(wb, **window)
    parts = acc.loss_reasons(wb, by, **window)
    assert parts["lost_deals"].sum() == total["lost_deals"].sum()
    assert parts["lost_value"].sum() == pytest.approx(total["lost_value"].sum())
    by_reason = parts.groupby("loss_reason")["lost_deals"].sum()
    assert by_reason.to_dict() == total.set_index("loss_reason")["lost_deals"].to_dict()
    whole, split = acc.renewals(wb, **window), acc.renewals(wb, by, **window)
    for c in ("renewals_due", "renewed", "churned", "open_renewals", "due_value"):
        assert split[c].sum() == pytest.approx(whole[c].sum())
    assert split["churned_accounts"].sum() >= whole["churned_accounts"].sum()
    if "product" not in by:  # accounts belong to one group each
        a, b = acc.attach_rates(wb, **window), acc.attach_rates(wb, by, **window)
        assert b.groupby("product")["buyers"].sum().to_dict() == (
            a.set_index("product")["buyers"].to_dict()
        )
        assert (b["attached"] <= b["buyers"]).all() and (b["buyers"] <= b["customers"]).all()
        m = acc.attach_matrix(wb, by, **window)
        assert (m["also_bought"] <= m["buyers"]).all()


# --------------------------------------------------------------------------- columns


def test_profiles_map_deal_type_and_loss_reason(tmp_path):
    wb = salesnb.load(DATA / "salesforce", profile="salesforce")
    types = wb.opportunities.set_index("opp_id")["deal_type"]
    assert types["006A000001"] == "new_business" and types["006A000002"] == "existing"
    header = ('"Opportunity ID","Opportunity Owner","Account Name","Stage","Amount","Close Date",'
              '"Created Date","Type","Loss Reason"')  # fmt: skip
    deals = [("1", "Closed Lost", "1/15/2024", "Existing Customer - Upgrade", "Price"),
             ("2", "Closed Won", "2/15/2024", "Existing Customer - Replacement", ""),
             ("3", "Closed Lost", "3/15/2024", "Existing Customer - Downgrade", ""),
             ("4", "Closed Won", "3/15/2024", "New Customer", "")]  # fmt: skip
    lines = [
        f'"{i}","Ann","Acme","{s}","100","{c}","1/2/2024","{t}","{r}"' for i, s, c, t, r in deals
    ]
    (tmp_path / "report.csv").write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    o = salesnb.load(tmp_path, profile="salesforce").opportunities
    assert o["deal_type"].tolist() == ["expansion", "renewal", "renewal", "new_business"]
    assert o["loss_reason"].tolist()[0] == "Price" and o["loss_reason"].isna().sum() == 3
    hub = tmp_path / "hub"
    hub.mkdir()
    src = DATA / "hubspot" / "hubspot-crm-exports-all-deals-2024-03-29.csv"
    text = src.read_text("utf-8").splitlines()
    out = [text[0] + ",Deal Type,Closed Lost Reason"]
    kinds = ["newbusiness", "Existing Business", "New Business", "existingbusiness"]
    out += [f"{line},{kinds[i % 4]},Chose a competitor" for i, line in enumerate(text[1:])]
    shutil.copy(src, hub / "plain.csv")  # not read: the profile reads *deals* files only
    (hub / "all-deals.csv").write_text("\n".join(out) + "\n", encoding="utf-8")
    o = salesnb.load(hub, profile="hubspot").opportunities
    assert o["deal_type"].tolist()[:4] == ["new_business", "existing", "new_business", "existing"]
    assert set(o["loss_reason"]) == {"Chose a competitor"}


def test_untyped_data_keeps_its_fingerprint():
    wb = acc._example(typed=False)
    wb.opportunities = wb.opportunities.drop(columns=["loss_reason"])  # built without them
    blank = acc._example(typed=False)
    blank.opportunities = blank.opportunities.assign(deal_type=np.nan, loss_reason=np.nan)
    assert wb.fingerprint() == blank.fingerprint()
    typed = acc._example(typed=False)
    typed.opportunities = typed.opportunities.assign(deal_type="renewal")
    assert typed.fingerprint() != wb.fingerprint()


# --------------------------------------------------------------------------- sample


def test_sample_existing_columns_are_unchanged():
    """The deals' columns before issue 22's two were appended: byte for byte the file the
    sample had (SHA-256 of opportunities.csv at commit 7366694)."""
    text = (SAMPLE / "opportunities.csv").read_bytes().decode("utf-8")
    head = "".join(line.rsplit(",", 2)[0] + "\n" for line in text.splitlines())
    digest = hashlib.sha256(head.encode("utf-8")).hexdigest()
    assert digest == "f28a20b3a3afc3630af8cf59d56b1a1b081e419b2dc429e07357364d02740df2"
    assert text.splitlines()[0].endswith(",last_activity_date,deal_type,loss_reason")


def test_sample_deal_types_follow_the_deals_and_loss_reasons_only_lost_deals():
    o = sample.generate()["opportunities"]
    assert set(o["deal_type"]) == {"new_business", "expansion", "renewal"}
    assert deal_types(o).equals(o["deal_type"])  # derived from the deals alone
    won = o[o["outcome"] == "won"]
    for _, r in o[o["deal_type"] == "renewal"].head(50).iterrows():
        same = won[(won["account"] == r.account) & (won["product"] == r["product"])]
        days = (r.close_date - same["close_date"]).dt.days
        assert days.between(*RENEWAL_DAYS).any()
    first = won.groupby("account")["close_date"].min()
    new = o[o["deal_type"] == "new_business"]
    assert not (new["created_date"] >= new["account"].map(first)).any()
    lost = o["outcome"] == "lost"
    assert o.loc[~lost, "loss_reason"].isna().all()
    share = o.loc[lost, "loss_reason"].isna().mean()
    assert 0.05 < share < 0.25  # some not recorded, as in real CRMs
    late = o[lost & o["furthest_stage"].isin(["Proposal", "Negotiation"])]
    early = o[lost & o["furthest_stage"].isin(["Prospecting", "Qualification"])]
    assert (late["loss_reason"] == "Price").mean() > (early["loss_reason"] == "Price").mean()


def test_sample_renewals_and_loss_reasons_are_known():
    wb = salesnb.load(SAMPLE)
    t = acc.renewals(wb, period="FY2026")
    assert t.attrs["reason"] is None and t["renewals_due"].iloc[0] > 20
    r = acc.loss_reasons(wb, "region", period="FY2026-Q3")
    assert "not recorded" in set(r["loss_reason"]) and r["share"].sum() == pytest.approx(
        r["region"].nunique()
    )


def test_docstring_examples_run():
    import doctest

    from salesnb.data import sample_kinds

    attempted = 0
    for module in (acc, sample_kinds):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, module.__name__
        attempted += result.attempted
    assert attempted >= 8

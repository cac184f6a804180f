"""Bad incentive plans get one clear message per cause (file, key, fix); the CLI prints them
without a traceback and writes formula-safe CSV."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from salesnb.cli.commands import main
from salesnb.core.errors import ConfigError, ParameterError
from salesnb.incentives import load_plan, parse_plan, payouts

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"

GOOD = """
[plan]
name = "Test"
effective_from = 2024-01-01
period = "month"

[roles.ae]
ote = 120000
variable_share = 0.5
bands = [{ from = 0.0, rate = 0.5 }, { from = 1.0, rate = 1.5 }]

[[assign]]
role = "ae"
"""

_LEAKS = re.compile(r"Traceback|pandas|numpy|KeyError|TypeError|dtype")


def problems(text: str, **kw) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_plan(textwrap.dedent(text), "plan.toml", **kw)
    msg = str(exc.value)
    assert _LEAKS.search(msg) is None, msg
    lines = msg.splitlines()
    return [x.removeprefix("  - ") for x in lines[1:]] if len(lines) > 1 else lines


def test_good_plan_parses():
    p = parse_plan(GOOD)
    assert p.roles["ae"].variable == 60000 and p.roles["ae"].base == 60000


@pytest.mark.parametrize(
    ("change", "key", "fix"),
    [
        (("ote = 120000", "ote = 120000\notee = 1"), "roles.ae.otee", "Did you mean 'ote'?"),
        (("ote = 120000\n", ""), "roles.ae.ote", "add ote = ..."),
        (("ote = 120000", 'ote = "lots"'), "roles.ae.ote", "write ote = a number"),
        (("variable_share = 0.5", "variable_share = 1.5"), "roles.ae.variable_share", "from 0 to 1"),
        (("{ from = 1.0, rate = 1.5 }", "{ from = 0.0, rate = 1.5 }"), "roles.ae.bands[1].from",
         "increasing order"),
        (("{ from = 0.0, rate = 0.5 }", "{ from = 0.2, rate = 0.5 }"), "roles.ae.bands[0].from",
         "start the first band at from = 0.0"),
        (("{ from = 1.0, rate = 1.5 }", "{ from = 1.0 }"), "roles.ae.bands[1].rate", "add rate"),
        (('role = "ae"', 'role = "AE"'), "assign[0].role", "Did you mean 'ae'?"),
        (('period = "month"', 'period = "fortnight"'), "plan.period", '"month", "quarter"'),
        (("effective_from = 2024-01-01", 'effective_from = "2024-01-01"'), "plan.effective_from",
         "no quotes"),
        (('role = "ae"', 'role = "ae"\nrep = "r1"\nteam = "T"'), "assign[0]",
         "one [[assign]] per rep"),
    ],
)  # fmt: skip
def test_one_message_per_cause(change, key, fix):
    old, new = change
    assert old in GOOD
    msgs = problems(GOOD.replace(old, new, 1))
    assert len(msgs) == 1, msgs
    assert msgs[0].startswith(f"plan.toml: {key}: "), msgs[0]
    assert "Fix: " in msgs[0] and fix in msgs[0], msgs[0]


def test_several_causes_listed_once_each():
    text = GOOD.replace("ote = 120000", "ote = -1").replace('role = "ae"', 'role = "x"')
    msgs = problems(text)
    assert len(msgs) == 2
    assert msgs[0].startswith("plan.toml: roles.ae.ote: is -1, out of range.")
    assert msgs[1].startswith("plan.toml: assign[0].role: names role 'x'")


def test_ramp_quota_length_must_match_months():
    msgs = problems(
        GOOD + "\n[roles.ae.ramp]\nmonths = 3\nquota = [0.5]\n".replace("\n[roles", "[roles")
    )
    assert any("roles.ae.ramp.quota: lists 1 months but months = 3" in m for m in msgs), msgs


def test_syntax_error_names_line_and_column(tmp_path):
    f = tmp_path / "plan.toml"
    f.write_text(GOOD.replace("ote = 120000", "ote = 120 000"))
    with pytest.raises(ConfigError, match=r"plan\.toml, line \d+, column \d+: not valid TOML"):
        load_plan(f)


def test_splits_file_problems(tmp_path):
    text = GOOD.replace('period = "month"', 'period = "month"\nsplits = "splits.csv"')
    (tmp_path / "splits.csv").write_text("opp_id,rep_id,share\no1,r1,0.5\no1,r2,0.4\n")
    msgs = problems(text, base=tmp_path)
    expected = (
        f"plan.toml: plan.splits: {tmp_path / 'splits.csv'}: the shares of deal 'o1' add up to "
        "0.9, not 1 (1 deal(s) in all). Fix: make each deal's shares add up to 1."
    )
    assert msgs == [expected]
    (tmp_path / "splits.csv").write_text("opp_id,rep_id,share\no1,r1,half\n")
    assert "line 2: share is not a fraction" in problems(text, base=tmp_path)[0]
    (tmp_path / "splits.csv").write_text("opp_id,rep,share\no1,r1,1\n")
    assert "has no column 'rep_id'" in problems(text, base=tmp_path)[0]
    (tmp_path / "splits.csv").unlink()
    assert "cannot be read" in problems(text, base=tmp_path)[0]


def test_run_time_problems_name_the_fix():
    import salesnb

    wb = salesnb.load(Path(__file__).parent / "bad_inputs" / "_good")
    with pytest.raises(ConfigError, match="currency is 'USD' but the data's amounts are in 'EUR'"):
        payouts(
            wb, parse_plan(GOOD.replace('period = "month"', 'period = "month"\ncurrency = "USD"'))
        )
    quarter = GOOD.replace('period = "month"', 'period = "quarter"').replace(
        "2024-01-01", "2024-02-01"
    )
    with pytest.raises(ConfigError, match="not the first day of a quarter"):
        payouts(wb, parse_plan(quarter), "2024-03")
    with pytest.raises(ParameterError, match="starts before the plan takes effect"):
        payouts(wb, parse_plan(GOOD), "2023-12")
    with pytest.raises(ParameterError, match="not understood"):
        payouts(wb, parse_plan(GOOD), "third quarter")


# ----------------------------------------------------------------------------- the CLI
def _data(tmp_path: Path) -> Path:
    src = Path(__file__).parent / "bad_inputs" / "_good"
    out = tmp_path / "data"
    out.mkdir()
    for f in src.iterdir():
        text = f.read_text("utf-8")
        if f.name == "reps.csv":
            text = text.replace("Ana Silva", "=HYPERLINK(1)")
        (out / f.name).write_text(text, "utf-8")
    return out


def test_cli_table_statement_and_safe_csv(tmp_path):
    data = _data(tmp_path)
    plan = tmp_path / "plan.toml"
    plan.write_text(GOOD)
    run = CliRunner().invoke
    res = run(main, ["incentives", "--data", str(data), "--plan", str(plan), "--period", "2024-02"])
    assert res.exit_code == 0, res.output
    assert "r1" in res.output and "payout" in res.output
    res = run(main, ["incentives", "--data", str(data), "--plan", str(plan), "--period", "2024-02",
                     "--rep", "r1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "Credited bookings in 2024-02: €12K" in res.output
    assert "Ben Okafor" not in res.output and "r2" not in res.output
    out = tmp_path / "p.csv"
    res = run(main, ["incentives", "--data", str(data), "--plan", str(plan), "--period", "2024-02",
                     "--csv", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    text = out.read_text("utf-8")
    assert "'=HYPERLINK(1)" in text and ",=HYPERLINK" not in text


def test_cli_bad_plan_is_one_message_no_traceback(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text(GOOD.replace("ote = 120000", "otee = 120000"))
    res = CliRunner().invoke(
        main, ["incentives", "--data", str(_data(tmp_path)), "--plan", str(plan)]
    )
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    assert "roles.ae.otee: unknown key. Did you mean 'ote'?" in res.output
    assert "roles.ae.ote: is missing." in res.output


def test_docstring_examples_run():
    import doctest

    import salesnb
    from salesnb.incentives import curve, engine, plan, review, simulate

    for module in (plan, engine, curve, review, simulate):
        res = doctest.testmod(module, extraglobs={"salesnb": salesnb},
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)  # fmt: skip
        assert res.failed == 0 and res.attempted > 0, module.__name__


def test_period_spellings_and_counts_only_data():
    import salesnb
    from salesnb.incentives import period_label

    wb = salesnb.load(Path(__file__).parent / "bad_inputs" / "_good")
    for text in ("2024Q1", "2024-Q1", "FY2024Q1", "fy2024-q1", "FY2024-Q1"):
        assert period_label(wb, text) == "FY2024-Q1", text
    assert period_label(wb, "2024") == "FY2024" and period_label(wb, "2024-02") == "2024-02"
    wb.opportunities["amount"] = 1.0
    with pytest.raises(ParameterError, match="no deal amounts"):
        payouts(wb, parse_plan(GOOD), "2024-02")


def test_salesnb_sample_writes_the_plan_a_fresh_user_can_run(tmp_path):
    """`salesnb sample` writes the sample team's plan beside the data: the same bytes as the
    committed data/sample copy, and it pays every sample rep under one of its two roles."""
    from salesnb.data import io

    res = CliRunner().invoke(main, ["sample", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    written = tmp_path / "incentive_plan.toml"
    assert written.read_bytes() == (SAMPLE / "incentive_plan.toml").read_bytes(), (
        "data/sample/incentive_plan.toml differs from what `salesnb sample` writes. Fix: edit "
        "salesnb/incentives/sample_plan.toml and run `salesnb sample`."
    )
    assert "wrote 11 files" in res.output  # 9 tables (calls included), 2 TOML files
    plan = load_plan(written)
    assert sorted(plan.roles) == ["enterprise", "mid_market"]
    assert all(r.ramp is not None and r.ramp.months == 4 for r in plan.roles.values())
    wb = io.load(tmp_path)
    table = payouts(wb, plan, "FY2026-Q3")
    reps = table[table["payee_kind"] == "rep"]
    assert set(reps["payee_id"]) == set(wb.reps["rep_id"])
    assert set(reps["role"]) == {"enterprise", "mid_market"}

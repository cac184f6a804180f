"""The incentive statement: its view keeps the subject's own figures only, the notebook has the
shape every workbook has, and the batch's documents pass the privacy scan."""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from builds import build_once
from test_incentives import BASE, one, plan, workbook
from test_privacy import Scanner, document_texts

from salesnb.batch import documents as batch
from salesnb.data.io import load
from salesnb.incentives.statement import statement_view

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
NB = ROOT / "notebooks" / "incentive_statement.ipynb"


def _team():
    return workbook([("o1", "r1", 13000, "2026-01-15", "X", "A"),
                     ("o2", "r2", 4000, "2026-01-16", "X", "B")], reps=("r1", "r2"))  # fmt: skip


def test_view_keeps_only_the_reps_own_rows():
    v = statement_view(_team(), plan("[override]\nrate = 0.01\n"), ["r1"], "2026-01")
    assert list(v.rows["payee_id"]) == ["r1"]
    assert list(v.lines) == ["Rep r1 (r1)"] and v.lines["Rep r1 (r1)"][-1] == "Payout: $6K."
    assert set(v.history["who"]) == {"Rep r1"}
    h = v.headline
    assert (h["payout"], h["commission"], h["attainment"]) == pytest.approx((6000, 6000, 1.3))
    assert h["team_payout"] is None and h["flags"] == []
    text = json.dumps(v.lines) + v.history.to_json() + v.curve.to_json()
    assert "r2" not in text and "M" not in v.history.to_string()


def test_view_of_a_manager_adds_the_override():
    v = statement_view(_team(), plan("[override]\nrate = 0.01\n"), ["r1", "r2"], "2026-01",
                       manager="M")  # fmt: skip
    assert sorted(v.rows["payee_id"]) == ["M", "r1", "r2"]
    assert v.headline["payout"] == pytest.approx(170)  # 1 % of 17,000
    assert v.headline["team_payout"] == pytest.approx(6000 + 1000)
    assert v.headline["attainment"] is None


def test_view_history_and_curve():
    wb = workbook([("o1", "r1", 5000, "2026-01-15", "X", "A"),
                   ("o2", "r1", 10000, "2026-02-15", "X", "B")])  # fmt: skip
    v = statement_view(wb, plan(), ["r1"], "2026-02")
    assert list(v.history["period"]) == ["2026-01", "2026-02"]
    assert list(v.history["payout"]) == ["$1.2K", "$3.8K"]  # 1,250 and 3,750
    assert list(v.curve["attainment"]) == ["0% to 50%", "50% to 100%", "100% and above", "cap"]
    assert one(v.rows, "r1", "2026-02")["commission"] == pytest.approx(3750)
    assert "rate = 0.5" in BASE


def test_notebook_shape():
    import papermill

    nb = nbformat.read(NB, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    declared = {t.id for n in ast.parse(params[0].source).body if isinstance(n, ast.Assign)
                for t in n.targets if isinstance(t, ast.Name)}  # fmt: skip
    assert {"data", "profile", "subject_type", "subject", "period", "as_of", "plan"} == declared
    assert set(papermill.inspect_notebook(str(NB))) == declared
    assert set(nb.metadata["salesnb"]["parameters"]) <= declared
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert "record.title(" in "\n".join(code) and code[-1].startswith("record.headline(")
    for src in code:
        for node in ast.walk(ast.parse(src)):
            assert not isinstance(node, ast.FunctionDef | ast.Lambda | ast.ClassDef)


@pytest.fixture(scope="module")
def statements(tmp_path_factory) -> Path:
    def build(out: Path) -> None:
        batch.run(NB, by="rep", data=SAMPLE, out=out / "rep", progress=False)
        batch.run(NB, by="manager", data=SAMPLE, out=out / "manager", progress=False)

    return build_once(tmp_path_factory, "incentive-statements", build)


@pytest.mark.slow
def test_every_reps_statement_is_private(statements):
    wb = load(SAMPLE)
    m = json.loads((statements / "rep" / "manifest.json").read_text("utf-8"))
    assert m["summary"]["ok"] == len(wb.reps) == 30, m["summary"]
    reps, opps = wb.reps, wb.opportunities
    leaks = []
    for s in m["subjects"]:
        rid = s["key"]
        others, theirs = reps[reps["rep_id"] != rid], opps[opps["rep_id"] != rid]
        forbidden = Scanner([*others["rep_id"], *others["name"], *theirs["account"].dropna(),
                             *theirs["opp_id"]])  # fmt: skip
        for fmt, text in document_texts(statements / "rep", s).items():
            assert Scanner([s["name"]]).found(text) == [s["name"]], (rid, fmt)
            assert "Payout:" in text, (rid, fmt)
            if found := forbidden.found(text):
                leaks.append(f"{rid} {fmt}: {found[:5]}")
        assert s["headline"]["payout"] is not None, rid
    assert leaks == []


@pytest.mark.slow
def test_a_managers_statement_names_only_the_team(statements):
    wb = load(SAMPLE)
    m = json.loads((statements / "manager" / "manifest.json").read_text("utf-8"))
    assert m["summary"]["ok"] == wb.reps["manager"].nunique(), m["summary"]
    for s in m["subjects"]:
        mine = wb.reps[wb.reps["manager"] == s["key"]]
        others = wb.reps[wb.reps["manager"] != s["key"]]
        forbidden = Scanner([*others["rep_id"], *others["name"]])
        for fmt, text in document_texts(statements / "manager", s).items():
            assert forbidden.found(text) == [], (s["key"], fmt)
            assert Scanner(mine["name"]).found(text) == sorted(mine["name"]), (s["key"], fmt)
        assert s["headline"]["payout"] > 0


def test_file_parameter_is_keyed_on_contents_not_path(tmp_path, monkeypatch):
    """The plan parameter is declared a file: the resume key holds its contents' hash, so the
    same bytes at another path give the same key and one changed byte another."""
    from salesnb.batch.inputs import file_inputs, resume_key
    from salesnb.batch.params import notebook_parameters
    from salesnb.core.errors import ParameterError

    spec = notebook_parameters(NB)
    assert spec["plan"].rule.file and spec["plan"].rule.describe() == "the path of a file"
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_bytes((SAMPLE / "incentive_plan.toml").read_bytes())
    b.write_bytes(a.read_bytes())
    monkeypatch.chdir(tmp_path)
    paths, hashes = file_inputs(spec, {"plan": "a.toml"})
    assert paths == {"plan": str(a.resolve())}  # the document gets the absolute path
    assert hashes == {"plan": hashlib.sha256(a.read_bytes()).hexdigest()}

    def key(name: str) -> str:
        p, h = file_inputs(spec, {"plan": name})
        return resume_key("nb", {"subject": "R01", **p}, "data", files=h)

    assert key("a.toml") == key(str(b))
    b.write_text(b.read_text().replace("rate = 1.5 }", "rate = 1.6 }"))
    assert key("a.toml") != key(str(b))
    with pytest.raises(ParameterError, match=r"'plan' = 'nope.toml': no such file.*--param plan="):
        file_inputs(spec, {"plan": "nope.toml"})
    assert resume_key("nb", {"x": 1}, "d") == resume_key("nb", {"x": 1}, "d", files={})


@pytest.mark.slow
def test_resume_reruns_statements_when_the_plan_changes_only(tmp_path):
    """`salesnb batch incentive_statement --resume`: an unchanged plan (even copied elsewhere)
    skips every statement; an edited plan re-runs them and their payouts follow the plan."""
    plan_a = tmp_path / "plan.toml"
    plan_a.write_bytes((SAMPLE / "incentive_plan.toml").read_bytes())
    kw = {"data": SAMPLE, "out": tmp_path / "out", "only": ["R01", "R02"], "workers": 1,
          "progress": False, "formats": ("ipynb",)}  # fmt: skip
    first = batch.run(NB, params={"plan": str(plan_a)}, **kw)
    assert first["summary"]["ok"] == 2, first["summary"]
    same = batch.run(NB, params={"plan": str(plan_a)}, resume=True, **kw)
    assert same["summary"]["skipped"] == 2
    moved = tmp_path / "moved.toml"
    moved.write_bytes(plan_a.read_bytes())
    assert batch.run(NB, params={"plan": str(moved)}, resume=True, **kw)["summary"]["skipped"] == 2
    text = plan_a.read_text()
    for old, new in (("ote = 160000", "ote = 320000"), ("ote = 110000", "ote = 220000")):
        assert old in text
        text = text.replace(old, new)
    plan_a.write_text(text)  # every on-target earnings doubled: every commission doubles
    changed = batch.run(NB, params={"plan": str(plan_a)}, resume=True, **kw)
    assert changed["summary"]["skipped"] == 0 and changed["summary"]["ok"] == 2
    before = {s["key"]: s["headline"] for s in first["subjects"]}
    assert all(h["commission"] > 0 for h in before.values()), before
    for s in changed["subjects"]:
        assert s["parameters"]["plan"] == str(plan_a.resolve())
        assert s["headline"]["commission"] == pytest.approx(2 * before[s["key"]]["commission"])


@pytest.mark.slow
def test_a_statement_dated_mid_quarter_pays_only_what_was_known_then(tmp_path):
    """The statement's as_of holds for pay too: deals closed after it are not paid yet."""
    from salesnb.incentives import load_plan
    from salesnb.incentives.coaching import known_at

    wb, plan_ = load(SAMPLE), load_plan(SAMPLE / "incentive_plan.toml")
    start, _ = wb.config.calendar.period_bounds(wb.config.calendar.period_label(wb.as_of, "Q"))
    day = start + (wb.as_of - start) / 2
    won = wb.opportunities[wb.opportunities["outcome"] == "won"]
    later = won[won["close_date"].between(day + pd.Timedelta(days=1), wb.as_of)]
    rid = later["rep_id"].value_counts().index[0]  # a rep who closed deals after that day
    then = statement_view(
        known_at(wb, day), plan_, [rid], wb.config.calendar.period_label(day, "Q")
    )
    now = statement_view(wb, plan_, [rid], wb.config.calendar.period_label(day, "Q"))
    assert then.headline["payout"] < now.headline["payout"]
    m = batch.run(NB, by="rep", data=SAMPLE, out=tmp_path, only=[rid], progress=False,
                  params={"as_of": day.strftime("%Y-%m-%d")})  # fmt: skip
    (s,) = m["subjects"]
    assert s["status"] == "ok", s
    assert s["headline"]["payout"] == pytest.approx(then.headline["payout"])

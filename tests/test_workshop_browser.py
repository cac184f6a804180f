"""The workshop apps in a real browser: Voila on 127.0.0.1 driven by Playwright + Debian's Chromium.

For each app: the page loads with no error in the console, changing a control shows the value
the pure functions of :mod:`salesnb.apps.workshop` compute, and a screenshot is saved under
``test-output/workshop/`` (git-ignored). Chromium comes from the ``chromium`` package (``.ci/run``
installs it); it is never downloaded at run time.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
import warnings
from contextlib import contextmanager
from pathlib import Path

import pytest

from salesnb.analytics.coaching_facts import format_value
from salesnb.apps import workshop as ws
from salesnb.cli.workshop import CULL_IDLE_MINUTES, voila_command

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
WORKSHOP = ROOT / "notebooks" / "workshop"
SHOTS = ROOT / "test-output" / "workshop"
LOAD_TIMEOUT_MS = 180_000
CHANGE_TIMEOUT_MS = 30_000
# Each xdist worker runs its own Voila server: each gets its own log.
VOILA_LOG = SHOTS.parent / f"voila-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.log"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _voila(log_path: Path, **settings):
    """A Voila server started as ``salesnb workshop`` starts it (same command line)."""
    port = _free_port()
    cmd = voila_command(WORKSHOP, port, True, **settings)
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=WORKSHOP, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
        try:
            _wait_ready(proc, url, log_path)
            yield url
        finally:
            os.killpg(proc.pid, signal.SIGTERM)  # Voila and the kernels it started
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def voila_url():
    """One Voila server for the module, serving notebooks/workshop; stopped at teardown."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with _voila(VOILA_LOG) as url:
        yield url


def _wait_ready(proc: subprocess.Popen, url: str, log_path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            pytest.fail(f"Voila exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(url + "/", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"Voila did not answer within {timeout:.0f} s; see {log_path}")
            time.sleep(0.5)


@pytest.fixture(scope="module")
def wb():
    return ws.load_workbook(ROOT / "data" / "sample")


class AppPage:
    """A Voila page with its console errors collected."""

    def __init__(self, browser, url: str, name: str, ready: str) -> None:
        from playwright.sync_api import TimeoutError as PageTimeout

        self.name = name
        # The page is whole once its HTML is (Voila streams it while the kernel runs the
        # cells); the "load" event also waits for every stylesheet, font and image, and one
        # stalled fetch of those (the machine is offline) failed a run while the app was fine.
        # About one full run in four, one render used to never reach DOMContentLoaded in 180 s
        # (a different app each time). Cause: the kernel's TCP ports were picked free, released
        # and bound by the kernel a moment later; another process's kernel (the other xdist
        # worker's papermill runs, another Voila) could take one in between, the kernel died
        # at start ("Address already in use"), restarted on the same ports, died again, and the
        # render waited for it forever (reproduced by holding one port: a render still hung
        # after 250 s). Kernels now use Unix sockets (``salesnb.cli.workshop.server_settings``).
        # A second, rarer stall remains (about 1 render in 20-30, with Unix sockets too): the
        # kernel ran the cells and is idle, a fresh client gets its kernel_info, yet Voila waits
        # for a reply that never comes; the cell timeout now ends such a page. The render is
        # asked for once more, with a warning naming it; a second failure fails the test.
        # Logs: test-output/voila-<worker>.log.
        for attempt in (1, 2):
            self._open(browser)
            try:
                self.page.goto(f"{url}/voila/render/{name}.ipynb", timeout=LOAD_TIMEOUT_MS,
                               wait_until="domcontentloaded")  # fmt: skip
                self.page.wait_for_selector(ready, timeout=LOAD_TIMEOUT_MS)
                break
            except PageTimeout:
                timed_out = "Cell execution timed out" in self.page.content()
                self.page.close()
                if attempt == 2:
                    raise
                why = "a cell timed out" if timed_out else "the render stalled"
                warnings.warn(f"{name}: {why}; asked for again (see {VOILA_LOG})", stacklevel=2)

    def _open(self, browser) -> None:
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": 1280, "height": 2200})
        # Voila's lab template links FontAwesome from a CDN; the apps use no icons, and the
        # test machine is offline, so that one stylesheet is answered locally (empty).
        self.page.route("https://cdn.jsdelivr.net/npm/@fortawesome/**",
                        lambda r: r.fulfill(status=200, content_type="text/css", body=""))  # fmt: skip
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def _console(self, msg) -> None:
        if msg.type == "error" and "favicon" not in (msg.location or {}).get("url", ""):
            self.errors.append(f"console: {msg.text}")

    def text(self, selector: str) -> str:
        return self.page.inner_text(selector)

    def wait_text(self, selector: str, text: str) -> None:
        """Wait until ``selector`` shows ``text`` (the kernel answered the change)."""
        self.page.wait_for_function(
            "([s, t]) => { const e = document.querySelector(s); return e && e.innerText.includes(t); }",
            arg=[selector, text], timeout=CHANGE_TIMEOUT_MS,
        )  # fmt: skip

    def finish(self) -> Path:
        path = SHOTS / f"{self.name}.png"
        self.page.wait_for_timeout(1500)  # the chart follows the numbers: let it arrive
        self.page.screenshot(path=str(path), full_page=True)
        errors = self.errors + [
            f"app error: {t}" for t in self.page.locator(".snb-error").all_inner_texts()
        ]
        self.page.close()
        assert not errors, errors
        assert path.stat().st_size > 10_000
        return path


def test_smart_goal_builder(browser, voila_url, wb) -> None:
    app = AppPage(browser, voila_url, "smart_goal_builder", ".snb-verdicts table")
    assert "Aisha Okonkwo will raise quarterly bookings" in app.text(".snb-goal-text")
    ctx = ws.SmartContext(wb, objectives=["Grow new-logo revenue", "Expand existing accounts"])
    fb = ws.smart_feedback(ctx, rep_id="R01", target="500k", deadline="2026-12-31",
                           objective="Grow new-logo revenue")  # fmt: skip
    app.page.fill(".snb-target input", "500k")
    app.page.keyboard.press("Enter")
    app.wait_text(".snb-goal-text", fb.text)
    assert fb.result.criteria["A"].reason in app.text(".snb-verdicts")
    app.finish()


def test_target_decomposition(browser, voila_url, wb) -> None:
    app = AppPage(browser, voila_url, "target_decomposition", ".snb-check ul")
    app.page.select_option(".snb-method select", label="Even")
    app.page.fill(".snb-total input", "1200000")
    app.page.keyboard.press("Enter")
    dc = ws.DecompositionContext.from_workbook(wb)
    d, reps = ws.decompose_target(dc, 1_200_000, year_start="2027-01-01", method="even")
    assert d.months["amount"].tolist() == [100_000.0] * 12  # 1,200,000 / 12
    app.wait_text(".snb-check", "12 months add up to $1,200,000 ✔")
    # the table redraws after the check list: wait for it rather than read it at once
    app.wait_text(".snb-result", "$100,000")
    app.page.click(".snb-view button:has-text('Reps')")
    top = reps.sort_values("amount").iloc[-1]
    app.wait_text(".snb-result", ws.fmt_money(top["amount"]))
    assert top["name"] in app.text(".snb-result")
    app.finish()


def test_reverse_funnel(browser, voila_url, wb) -> None:
    app = AppPage(browser, voila_url, "reverse_funnel", ".snb-headline-box .snb-headline")
    handle = app.page.locator(".snb-win_rate .noUi-handle")
    handle.focus()
    for _ in range(8):  # 21.7% -> 30% in steps of 1 point
        app.page.keyboard.press("ArrowRight")
    assert app.text(".snb-win_rate .widget-readout") == "30%"
    r = ws.history_rates(wb)
    t = wb.targets
    target = float(t.loc[t["month"].between("2026-10-01", "2026-12-31"), "amount"].sum())
    v = ws.funnel_view(target, win_rate=0.30, avg_deal_size=round(r["avg_deal_size"], -2),
                       stage_conversions=r["stage_conversions"],
                       activity_to_opp=r["activity_to_opp"], activity_mix=r["activity_mix"])  # fmt: skip
    app.wait_text(".snb-headline-box", f"{v.funnel.opportunities_needed:,} opportunities")
    assert f"{v.per_week['call']:,.0f} calls" in app.text(".snb-headline-box")
    app.finish()


def test_forecast_what_if(browser, voila_url, wb) -> None:
    app = AppPage(browser, voila_url, "forecast_what_if", ".snb-headline-box .snb-headline")
    ctx = ws.WhatIfContext.build(wb, ["R15"])
    base, moved = ws.what_if(ctx), ws.what_if(ctx, win_rate=1.2)
    assert f"{ws.fmt_money(base.expected)}" in app.text(".snb-headline-box")
    app.page.locator(".snb-win_rate .noUi-handle").focus()
    for _ in range(4):  # 100% -> 120% in steps of 5 points
        app.page.keyboard.press("ArrowRight")
    app.wait_text(".snb-headline-box", f"expected {ws.fmt_money(moved.expected)}")
    # the chance is the forecast document's, moved by the what-if (salesnb.apps.whatif_doc)
    doc = ws.DocumentChance.build(wb, "rep", "R15", ctx.period, seed=0)
    now, before = ws.what_if_chance(doc, base, moved), ws.what_if_chance(doc, base, base)
    chance = lambda p: format_value(p, "chance")
    assert f": {chance(now)} (before changes: {chance(before)})" in app.text(".snb-headline-box")
    app.finish()


def test_pipeline_explorer(browser, voila_url, wb) -> None:
    app = AppPage(browser, voila_url, "pipeline_explorer", ".snb-summary .snb-headline")
    s = ws.explore(ws.ExplorerContext.from_workbook(wb), reps=["R01"]).summary
    app.page.select_option(".snb-rep select", label="Aisha Okonkwo")
    app.wait_text(".snb-summary", f"{s['deals']} deals worth {ws.fmt_money(s['amount'])}")
    assert "Aisha Okonkwo" in app.text(".snb-result")
    app.page.wait_for_selector(".snb-chart .vega-embed svg, .snb-chart .vega-embed canvas")
    app.finish()


def test_server_runs_with_the_workshop_settings(voila_url) -> None:
    """The server the apps ran on culls idle kernels and gives kernels Unix sockets."""
    # Voila logs its culling settings when it starts its first kernel; under xdist this test
    # may be the first of the module on its worker, so it renders one app itself.
    with urllib.request.urlopen(f"{voila_url}/voila/render/pipeline_explorer.ipynb", timeout=180):
        pass
    log = VOILA_LOG.read_text(encoding="utf-8")
    assert f"idle durations > {CULL_IDLE_MINUTES * 60} seconds" in log
    assert "Culling kernels even with connected clients" in log
    assert "Kernel is running over TCP" not in log and "Address already in use" not in log


def test_idle_kernel_is_culled() -> None:
    """A kernel nobody touches is stopped (3 s idle, checked every 2 s, for the test)."""
    log_path = SHOTS.parent / f"voila-cull-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.log"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with _voila(log_path, cull_idle_minutes=0.05, cull_interval=2) as url:
        with urllib.request.urlopen(f"{url}/voila/render/pipeline_explorer.ipynb", timeout=180):
            pass  # the whole page: the kernel ran the notebook; no browser ever connects
        deadline = time.monotonic() + 60
        while "Culling 'idle' kernel" not in log_path.read_text(encoding="utf-8"):
            assert time.monotonic() < deadline, f"no kernel culled in 60 s; see {log_path}"
            time.sleep(1)
    assert "Kernel shutdown" in log_path.read_text(encoding="utf-8")

"""The incentive what-if app in a real browser: Voila on 127.0.0.1 (started as ``salesnb
workshop`` starts it) driven by Playwright and Debian's Chromium, as tests/test_workshop_browser.py
does for the other workshop apps (its server fixture and page helper are reused)."""

from __future__ import annotations

import pytest
from test_workshop_browser import ROOT, AppPage, voila_url  # noqa: F401 - voila_url is a fixture

from salesnb.analytics.coaching_facts import format_value
from salesnb.apps import workshop as ws
from salesnb.incentives import load_plan
from salesnb.incentives.whatif import payout_what_if

pytestmark = pytest.mark.slow


def test_incentive_what_if(browser, voila_url) -> None:  # noqa: F811
    wb = ws.load_workbook(ROOT / "data" / "sample")
    plan = load_plan(ROOT / "data" / "sample" / "incentive_plan.toml")
    m = lambda v: format_value(v, "currency", "USD")
    base = payout_what_if(wb, plan, "R15", "FY2026-Q3")
    more = payout_what_if(wb, plan, "R15", "FY2026-Q3", extra=20000)
    faster = payout_what_if(wb, plan, "R15", "FY2026-Q3", extra=20000, accelerator=1.2)
    app = AppPage(browser, voila_url, "incentive_what_if", ".snb-headline-box .snb-headline")
    assert f"payout {m(base.before['payout'])} as things stand" in app.text(".snb-headline-box")
    app.page.fill(".snb-extra input", "20k")
    app.page.keyboard.press("Enter")
    app.wait_text(".snb-headline-box", f"with these changes {m(more.after['payout'])}")
    assert f"(+{m(more.change)})" in app.text(".snb-headline-box")
    app.page.locator(".snb-accelerator .noUi-handle").focus()
    for _ in range(4):  # 100% -> 120% in steps of 5 points
        app.page.keyboard.press("ArrowRight")
    assert app.text(".snb-accelerator .widget-readout") == "120%"
    app.wait_text(".snb-headline-box", f"with these changes {m(faster.after['payout'])}")
    assert "Payout:" in app.text(".snb-lines") and "Next step:" in app.text(".snb-next")
    app.page.wait_for_selector(".snb-chart .vega-embed svg, .snb-chart .vega-embed canvas")
    app.finish()

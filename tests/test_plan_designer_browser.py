"""The plan designer in a real browser: Voila on 127.0.0.1 (started as ``salesnb workshop``
starts it) driven by Playwright and Debian's Chromium, as tests/test_workshop_browser.py does for
the other workshop apps (its server fixture and page helper are reused). Screenshots at 1400 and
400 px wide go to ``test-output/workshop/`` (git-ignored)."""

from __future__ import annotations

import re
import time

import pytest
from test_workshop_browser import ROOT, SHOTS, AppPage, voila_url  # noqa: F401 - a fixture

from salesnb.analytics.coaching_facts import format_value
from salesnb.apps.plan_designer import PlanDesignerApp
from salesnb.incentives import parse_plan

pytestmark = pytest.mark.slow


def test_plan_designer(browser, voila_url) -> None:  # noqa: F811
    app_py = PlanDesignerApp.from_path(str(ROOT / "data" / "sample"),
                                       plan=str(ROOT / "data" / "sample" / "incentive_plan.toml"),
                                       role="enterprise")  # fmt: skip
    m = lambda v: format_value(v, "currency", "USD")
    written = app_py.result.figures["written"]
    app_py.controls["accelerator"].value = 1.7
    faster = app_py.result.figures["changed"]
    page = AppPage(browser, voila_url, "plan_designer", ".snb-headline-box .snb-headline")
    head = page.text(".snb-headline-box")
    assert f"expected variable pay {m(written['expected_cost'])} as written" in head
    page.page.set_viewport_size({"width": 1400, "height": 3000})
    page.page.locator(".snb-accelerator .noUi-handle").focus()
    t0 = time.perf_counter()
    for _ in range(4):  # 1.50 -> 1.70 in steps of 0.05
        page.page.keyboard.press("ArrowRight")
    assert page.text(".snb-accelerator .widget-readout") == "1.70"
    page.wait_text(".snb-headline-box", f"expected variable pay {m(faster['expected_cost'])}")
    print(f"accelerator move seen in the page after {time.perf_counter() - t0:.2f} s")
    assert f"as written {m(written['expected_cost'])}" in page.text(".snb-headline-box")
    page.page.wait_for_selector(".snb-chart .vega-embed svg, .snb-chart .vega-embed canvas")
    # an invalid combination: a plain message, no traceback
    page.page.locator(".snb-threshold .noUi-handle").focus()
    for _ in range(12):  # 50% -> 110%
        page.page.keyboard.press("ArrowRight")
    page.wait_text(".snb-error-box", "at or above 100% of quota")
    assert "Traceback" not in page.page.content()
    for _ in range(12):
        page.page.keyboard.press("ArrowLeft")
    page.page.wait_for_function("() => !document.querySelector('.snb-error-box').innerText.trim()")
    page.wait_text(".snb-headline-box", f"expected variable pay {m(faster['expected_cost'])}")
    # the copied plan is a plan file
    page.page.click(".snb-toml summary")
    toml = page.text(".snb-toml-text")
    assert re.search(r"rate above 100% 1\.5x -> 1\.7x", toml)
    copied = parse_plan(toml)
    assert copied.roles["enterprise"].bands[2].rate == pytest.approx(1.7)
    page.page.wait_for_timeout(1500)
    page.page.screenshot(path=str(SHOTS / "plan_designer_1400.png"), full_page=True)
    page.page.set_viewport_size({"width": 400, "height": 5000})
    page.page.wait_for_timeout(1000)
    page.page.screenshot(path=str(SHOTS / "plan_designer_400.png"), full_page=True)
    box = page.page.locator(".snb-app").bounding_box()  # the app alone, in two readable parts
    for i, name in enumerate(("top", "bottom")):
        clip = {"x": 0, "y": box["y"] + i * 1300, "width": 400, "height": 1300}
        page.page.screenshot(path=str(SHOTS / f"plan_designer_400_{name}.png"), clip=clip)
    page.finish()

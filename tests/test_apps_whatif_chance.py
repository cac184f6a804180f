"""The what-if app shows the forecast document's P(target): same map, same figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from salesnb.apps import widgets as apps
from salesnb.apps import workshop as ws
from salesnb.forecast.chance import TargetChance
from salesnb.forecast.ptarget import NOT_CALIBRATED, platt_apply

MAP = {"a": -0.5, "b": 0.8, "calibrated": True}


def _result(samples, target=100.0) -> ws.WhatIfResult:
    return ws.WhatIfResult(np.asarray(samples, dtype=float), target, 0.0, 0.0, 0.0, 0)


def _doc(blended, weight=0.5, cal=MAP, already=0.0, target=100.0) -> ws.DocumentChance:
    raw = float(np.mean(np.asarray(blended) >= target))
    p = platt_apply(raw, cal["a"], cal["b"]) if cal["calibrated"] else float("nan")
    ch = TargetChance(p, raw, cal["calibrated"], cal, "")
    return ws.DocumentChance(np.asarray(blended, dtype=float), weight, already, target, ch)


def test_unchanged_inputs_give_the_documents_chance_by_hand():
    doc = _doc([50.0, 90.0, 110.0, 130.0])  # raw 2 / 4 = 0.5 -> map -> 0.5 is logit 0 -> a
    base = _result([10.0, 20.0])
    p = ws.what_if_chance(doc, base, base)
    assert p == pytest.approx(doc.chance.p) and p == pytest.approx(1 / (1 + np.exp(0.5)))


def test_what_if_moves_the_documents_draws_by_the_pipeline_weight_by_hand():
    doc = _doc([50.0, 90.0, 110.0, 130.0], weight=0.5)
    base, more = _result([10.0, 20.0]), _result([30.0, 60.0])  # +20 and +40 per simulation
    # the document's draws move by 0.5 x [20, 40, 20, 40] = [10, 20, 10, 20]:
    # 60, 110, 120, 150 -> 3 of 4 reach 100 -> raw 0.75 through the same map
    assert ws.what_if_chance(doc, base, more) == pytest.approx(platt_apply(0.75, -0.5, 0.8))
    fewer = _result([0.0, 0.0])  # -10 and -20: 45, 80, 105, 120 -> 2 of 4
    assert ws.what_if_chance(doc, base, fewer) == pytest.approx(platt_apply(0.5, -0.5, 0.8))


def test_no_figure_when_the_document_gives_none():
    doc = _doc([50.0, 150.0], cal={"a": 0.0, "b": 1.0, "calibrated": False})
    base = _result([1.0, 1.0])
    assert np.isnan(ws.what_if_chance(doc, base, base))
    assert doc.chance.text(str) == NOT_CALIBRATED
    assert np.isnan(ws.what_if_chance(_doc([50.0, 150.0]), base, _result([1.0, 1.0], None)))


def test_app_shows_the_documents_figure_for_the_same_inputs():
    """Widget logic on the sample: the app's chance with every slider at 1 is the figure the
    rep's forecast document prints (``forecast_view``'s headline and summary)."""
    from salesnb.reports import facts
    from salesnb.reports.forecastview import forecast_view
    from salesnb.reports.viewkit import fmt

    wb = ws.load_workbook(Path(__file__).parents[1] / "data" / "sample")
    app = apps.ForecastWhatIfApp(wb, "R15")
    doc = app.document()
    ctx = facts.context(wb, "rep", "R15", forward=True)
    view = forecast_view(ctx, backtest=False)
    shown = view.headline["p_target"]
    base, _ = app.result
    p = ws.what_if_chance(doc, base, base)
    if shown is None:
        assert np.isnan(p) and NOT_CALIBRATED in app.outputs["headline"].value
    else:
        assert p == pytest.approx(shown, abs=1e-12)
        assert f"<b>{fmt(shown, 'chance')}</b> (before changes: {fmt(shown, 'chance')})" in (
            app.outputs["headline"].value
        )
    app.controls["win_rate"].value = 1.5  # more wins can only raise the chance
    moved = ws.what_if_chance(doc, base, app.result[1])
    assert shown is None or moved >= shown - 1e-12

"""The batch's ``index.html``: every subject, its headline figures, status and link."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from salesnb.core.errors import BatchError


def render_index(manifest: Mapping[str, Any], template_dir: Path | None = None) -> str:
    """The batch's ``index.html``: every subject, its headline figures, status and link.

    Rendered with Jinja2 ``autoescape=True`` (subject names are data, never markup);
    sortable with a small inline script; nothing external.
    """
    from salesnb.reports.render import TEMPLATES, external_references, neutralise_controls

    env = _index_env(str(template_dir or TEMPLATES))
    subjects = manifest["subjects"]
    columns: list[str] = []
    for s in subjects:
        for k in s.get("headline") or {}:
            if k not in columns:
                columns.append(k)
    html = neutralise_controls(  # names are data: no bidi override or NUL reaches the page
        env.get_template("batch_index.html.j2").render(
            m=manifest, subjects=subjects, columns=columns
        )
    )
    bad = external_references(html)
    if bad:
        raise BatchError(
            f"index.html would reference external resources {bad[:3]!r}. "
            "Fix: remove them from templates/batch_index.html.j2."
        )
    return html


@functools.lru_cache(maxsize=4)
def _index_env(template_dir: str) -> Any:
    """The index's Jinja2 environment, kept: a batch renders the index again and again, and
    compiling the template was most of it (Jinja2 still reloads a template file that changed)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(template_dir), autoescape=True)
    env.filters["figure"] = format_figure
    env.filters["words"] = figure_words
    return env


#: Headline figures whose names say they are money (bookings, targets, forecasts).
_MONEY_WORDS = ("bookings", "pipeline", "target", "forecast", "quota", "amount", "booked")


def unit_of(name: str) -> str:
    """The unit of a headline figure, from its name (every workbook names them this way)."""
    if name.endswith("percentile"):
        return "percentile"
    if name in ("attainment", "win_rate") or name.startswith("p_") or name.endswith("_rate"):
        return "percent"
    if name.startswith("coverage"):
        return "multiple"
    if any(w in name for w in _MONEY_WORDS) and not name.endswith(("_deals", "_needed_deals")):
        return "currency"
    return "count"


def format_figure(value: Any, name: str = "", currency: str = "USD") -> str:
    """A headline figure as a reader wants it: "68%", "$246K", "1.3x", "55th"; flags and
    other names in words (``below_target_attainment`` -> "below target attainment")."""
    from salesnb.analytics.coaching_facts import format_value

    if value is None:
        return "–"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(format_figure(v, "", currency) for v in value) or "–"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return "–"
        unit = unit_of(name)
        if unit == "count":
            whole = float(value).is_integer() or abs(value) >= 100
            return f"{value:,.0f}" if whole else f"{value:,.1f}"
        return format_value(float(value), unit, currency)
    return figure_words(value)


def figure_words(value: Any) -> str:
    """A snake_case name in words; any other text as it is."""
    text = str(value)
    return text.replace("_", " ") if re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", text) else text

"""Safe display for the workbooks' views: trusted HTML (:class:`Html`) built from escaped text
(:func:`esc`), numbers in their unit (:func:`fmt`), paragraphs, bullet lists and tables with
humane headers (:func:`show`, :func:`humane`); a rep's id shown as a name only in a manager's document.

Every piece of text built from data goes through :func:`esc` (``html.escape``), so a rep or
account called ``<script>alert(1)</script>`` is shown as text, never run.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from salesnb.analytics import coaching
from salesnb.reports import facts
from salesnb.reports.facts import Context


# --------------------------------------------------------------------------- safe display
class Html(str):
    """Trusted HTML (built by this module from escaped parts) that Jupyter displays as HTML."""

    def _repr_html_(self) -> str:
        return str(self)


def esc(value: Any) -> str:
    """Text made safe for HTML and Markdown: ``<``, ``>``, ``&``, quotes and ``*_`[]|$``."""
    text = html.escape(str(value), quote=True)
    for ch in "\\`*_[]|$":
        text = text.replace(ch, f"&#{ord(ch)};")
    return text


def fmt(value: Any, unit: str, currency: str = "USD", *, signed: bool = False) -> str:
    """A number as text in its unit (see :func:`salesnb.analytics.coaching.format_value`)."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return coaching.format_value(float(value), unit, currency, signed=signed)


def para(template: str, **values: Any) -> Html:
    """A paragraph from a trusted ``template`` with every value escaped.

    Examples
    --------
    >>> str(para("Deal <b>{name}</b>", name="<script>"))
    '<p>Deal <b>&lt;script&gt;</b></p>'
    """
    return Html("<p>" + template.format(**{k: esc(v) for k, v in values.items()}) + "</p>")


def bullets(items: Iterable[str], *, empty: str = "Nothing to report.") -> Html:
    """An escaped bullet list (``empty`` when there are no items)."""
    items = list(items)
    if not items:
        return Html(f"<p><em>{esc(empty)}</em></p>")
    return Html("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>")


def points_html(points: Sequence[coaching.TalkingPoint]) -> Html:
    """Talking points as an escaped list: kind, text and suggested action."""
    label = {"recognition": "Well done", "concern": "To work on", "check-in": "Check-in"}
    if not points:
        return Html("<p><em>Too little data for talking points.</em></p>")
    rows = [
        f"<li><b>{esc(label[p.kind])}:</b> {esc(p.text)}"
        + (f" <i>Suggested action:</i> {esc(p.action)}" if p.action else "")
        + "</li>"
        for p in points
    ]
    return Html("<ol>" + "".join(rows) + "</ol>")


def commitments_html(n: int = 3) -> Html:
    """Empty lines for the commitments agreed in the meeting (filled in by hand or on paper)."""
    rows = "".join(
        f"<tr><td>{i}.</td><td style='min-width:28em;border-bottom:1px solid #999'>&nbsp;</td>"
        "<td style='min-width:8em;border-bottom:1px solid #999'>&nbsp;</td></tr>"
        for i in range(1, n + 1)
    )
    return Html(f"<table><tr><th></th><th>Commitment</th><th>By when</th></tr>{rows}</table>")


def show(df: pd.DataFrame, units: Mapping[str, str], currency: str = "USD",
         rename: Mapping[str, str] | None = None) -> pd.DataFrame:  # fmt: skip
    """A copy of ``df`` with the columns in ``units`` formatted as text, columns renamed.

    Dates become ``YYYY-MM-DD``; pandas escapes the cells when Jupyter shows the table.

    Examples
    --------
    >>> t = show(pd.DataFrame({"deal": ["A", None], "amount": [1250.0, 90.0]}), {"amount": "currency"})
    >>> t.to_dict("list")
    {'deal': ['A', ''], 'amount': ['$1.2K', '$90']}
    """
    # Built column by column from plain arrays and made into a frame once: assigning each
    # column back into a copy cost pandas' per-operation overhead several times per column.
    # A blank index keeps pandas' escaped HTML table without a meaningless 0, 1, 2 column.
    blank = pd.Index([""] * len(df))
    names, columns = [], []
    renames = dict(rename or {})
    for i, col in enumerate(df.columns):
        s = df.iloc[:, i]
        if col in units and len(s):  # (an empty list assigned keeps an empty column's dtype)
            unit = units[col]
            # text: pandas infers its dtype, as when a list is assigned to a column
            column = pd.Series([fmt(v, unit, currency) for v in s], index=blank)
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            column = pd.Series(s.dt.strftime("%Y-%m-%d").fillna("").array, index=blank)
        elif pd.api.types.is_bool_dtype(s.dtype):
            column = pd.Series(np.where(s.to_numpy(), "Yes", "No"), index=blank, dtype=object)
        elif pd.api.types.is_float_dtype(s.dtype) and _whole(s):
            # whole numbers stored as floats (days, counts): "348", not "348.0"
            text = [f"{v:,.0f}" if np.isfinite(v) else "" for v in s.to_numpy(dtype=float)]
            column = pd.Series(text, index=blank, dtype=object)
        elif not pd.api.types.is_numeric_dtype(s.dtype) and col not in units:
            values = s.to_numpy(dtype=object, copy=True)
            values[s.isna().to_numpy()] = ""
            column = pd.Series(values, index=blank, dtype=object)
        else:
            column = pd.Series(s.array.copy(), index=blank, dtype=s.dtype)
        names.append(renames.get(col, col))
        columns.append(column)
    # every column has the very same index: the frame is assembled without aligning
    out = pd.DataFrame(dict(enumerate(columns)), index=blank)
    out.columns = pd.Index(names, name=df.columns.name) if renames else df.columns
    return out


def humane(df: pd.DataFrame | None) -> pd.DataFrame | None:
    """``df`` with its column names as a reader says them (:func:`header`); the last step
    before a table is shown, after code has picked its columns by name.

    Examples
    --------
    >>> list(humane(pd.DataFrame(columns=["opp_id", "days_past_due", "Team median"])).columns)
    ['deal', 'days past due', 'Team median']
    """
    if df is None:
        return None
    out = df.set_axis([header(c) for c in df.columns], axis=1)
    if isinstance(out.index, pd.RangeIndex):  # no meaningless 0, 1, 2 column
        out = out.set_axis(pd.Index([""] * len(out)), axis=0)
    return out


def _humane_tables(tables: dict[str, Any], counts_only: bool = False) -> dict[str, Any]:
    """Every table of a view as shown; without amounts (count mode) a deal's "amount" is 1
    and says nothing, so the column goes."""
    out = {}
    for k, v in tables.items():
        if isinstance(v, pd.DataFrame):
            if counts_only and "amount" in v.columns:
                v = v.drop(columns="amount")
            v = humane(v)
        out[k] = v
    return out


def _whole(s: pd.Series) -> bool:
    v = s.to_numpy(dtype=float)
    fin = v[np.isfinite(v)]
    return bool(len(fin)) and bool(np.all(fin == np.round(fin)))


#: Column names said in words where the plain rule (underscores to spaces) would not do.
_HEADERS = {
    "opp_id": "deal", "rep_id": "rep", "age_days": "age (days)", "cycle_days": "cycle (days)",
    "days_since_activity": "days since last activity", "n_deals": "deals",
}  # fmt: skip


def header(name: Any) -> Any:
    """A column name as a reader says it: ``"days_past_due"`` -> ``"days past due"``.

    Names that are not snake_case identifiers (already words, or not text) are kept.

    Examples
    --------
    >>> header("weighted_pipeline"), header("opp_id"), header("Team median")
    ('weighted pipeline', 'deal', 'Team median')
    """
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", name):
        return name
    return _HEADERS.get(name, name.replace("_", " "))


def _ratio_text(v: Any) -> str:
    """A ratio with two decimals, or "n/a" (a rep with no bookings has an undefined MASE)."""
    f = _num(v)
    return "n/a" if f is None else f"{f:.2f}"


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def _owner_col(ctx: Context, df: pd.DataFrame) -> pd.DataFrame:
    """Replace ``rep_id`` by the rep's name in a manager's document; drop it in a rep's."""
    if "rep_id" not in df:
        return df
    if ctx.is_rep:
        return df.drop(columns="rep_id")
    out = df.copy()
    out.insert(0, "rep", out.pop("rep_id").map(facts.subject_name_map(ctx)))
    return out

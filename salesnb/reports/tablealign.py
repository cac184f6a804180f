"""Which columns of a document's tables hold words, so they read left-aligned.

A review document right-aligns table cells, as figures should be; a column of names,
accounts, reasons or stages then reads ragged on the left. :func:`align_text_columns` marks
every cell of a column whose body holds words (not one figure) with ``class="snb-text"``,
which the review stylesheet aligns left. It runs on sanitised markup (the kit's own tables
and pandas' ``to_html``) and leaves alone any table it cannot read as a plain grid (cells
spanning rows or columns, nested tables).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["TEXT_CLASS", "WRAP_CLASS", "align_text_columns", "is_figure"]

#: The class a text column's cells get (see templates/review/review.css).
TEXT_CLASS: Final = "snb-text"
#: Added to a text column with a long cell of several words (an account "Alderbrook
#: Manufacturing Inc.", "Prospecting → Closed Lost"): the stylesheet lets such a column wrap
#: between words when its table would be wider than the page. Columns of short names ("Ann
#: Lee") and of single words (a deal id "OPP-10426") never wrap.
WRAP_CLASS: Final = "snb-wrap"
#: A cell longer than this (characters), with a space in it, makes its column :data:`WRAP_CLASS`.
WRAP_AFTER: Final = 20

_TABLE = re.compile(r"<table\b.*?</table>", re.IGNORECASE | re.DOTALL)
_ROW = re.compile(r"<tr\b[^>]*>(.*?)</tr>", re.IGNORECASE | re.DOTALL)
_CELL = re.compile(r"<(t[dh])\b([^>]*)>(.*?)</\1>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")
_BODY = re.compile(r"<tbody\b", re.IGNORECASE)
#: A figure as the kit writes one: a sign, a currency symbol or code, digits with
#: separators, a scale or unit; a date; an ordinal; "n/a"; a dash for nothing.
_FIGURE = re.compile(
    r"""^(?:
        [+\-\u2212]?\s*(?:[$\u20ac\u00a3\u00a5\u20b9\u20a9]|[A-Z]{3}\s)?[+\-\u2212]?
        \d[\d,.\u00a0\u202f]*\s*(?:[KMB%x]|pts?|days?|/day|st|nd|rd|th)?
        (?:\s*(?:\u2192|->|to|\u2013|-)\s*.*\d.*)?
      | \d{4}-\d{2}(?:-\d{2})?
      | FY\d{4}(?:-Q\d)?
      | n/a | \u2014 | - | )$""",
    re.VERBOSE,
)


def is_figure(text: str) -> bool:
    """Whether a cell's text is one figure (or nothing), not words.

    Examples
    --------
    >>> [is_figure(t) for t in ["$1.2K", "-4.3K", "42%", "12 days", "1.4x", "2026-09-30", ""]]
    [True, True, True, True, True, True, True]
    >>> [is_figure(t) for t in ["Cobalt Robotics Corp.", "Qualification", "won", "Yes"]]
    [False, False, False, False]
    """
    return bool(_FIGURE.match(" ".join(text.split())))


def _text(cell_html: str) -> str:
    raw = _TAGS.sub("", cell_html)
    return raw.replace("&amp;", "&").replace("&nbsp;", " ").replace("&lt;", "<").strip()


def _mark(tag: str, attrs: str, classes: str = TEXT_CLASS) -> str:
    m = re.search(r"""\bclass\s*=\s*(["'])(.*?)\1""", attrs, re.IGNORECASE | re.DOTALL)
    if m is None:
        return f'<{tag}{attrs} class="{classes}">'
    have = m.group(2).split()
    add = " ".join(c for c in classes.split() if c not in have)
    if not add:
        return f"<{tag}{attrs}>"
    start, end = m.span(2)
    return f"<{tag}{attrs[:start]}{m.group(2)} {add}{attrs[end:]}>"


def _align(table: str) -> str:
    if re.search(r"\b(?:col|row)span\b", table, re.IGNORECASE) or table.lower().count("<table") > 1:
        return table
    rows = [(m.start(1), m.group(1)) for m in _ROW.finditer(table)]
    if not rows:
        return table
    grid = [list(_CELL.finditer(inner)) for _, inner in rows]
    width = len(grid[0])
    if width == 0 or any(len(r) != width for r in grid):
        return table
    if m := _BODY.search(table):
        body = [r for (at, _), r in zip(rows, grid, strict=True) if at >= m.start()]
    elif all(c.group(1).lower() == "th" for c in grid[0]):
        body = grid[1:]  # no <tbody>: a first row of header cells heads the table
    else:
        body = grid
    text_cols, wrap_cols = set(), set()
    for j in range(width):
        values = [_text(r[j].group(3)) for r in body]
        if any(v for v in values) and not all(is_figure(v) for v in values):
            text_cols.add(j)
            if any(len(v) > WRAP_AFTER and len(v.split()) > 1 for v in values):
                wrap_cols.add(j)
    if not text_cols:
        return table
    out, last = [], 0
    for (offset, _inner), cells in zip(rows, grid, strict=True):
        for j, c in enumerate(cells):
            if j in text_cols:
                a = offset + c.start()
                out.append(table[last:a])
                classes = f"{TEXT_CLASS} {WRAP_CLASS}" if j in wrap_cols else TEXT_CLASS
                out.append(_mark(c.group(1), c.group(2), classes))
                last = offset + c.start(3)
    out.append(table[last:])
    return "".join(out)


def align_text_columns(html: str) -> str:
    """``html`` with every cell of a table's word columns marked :data:`TEXT_CLASS`.

    A column holds words when a body cell of it is neither empty nor one figure
    (:func:`is_figure`); its header cell is marked too, so both line up on the left. A word
    column with a cell of several words longer than :data:`WRAP_AFTER` characters is also
    marked :data:`WRAP_CLASS` (it may wrap).

    Examples
    --------
    >>> align_text_columns("<table><tr><th>rep</th><th>won</th></tr>"
    ...                    "<tr><td>Ann Lee</td><td>$1.2K</td></tr></table>")
    '<table><tr><th class="snb-text">rep</th><th>won</th></tr><tr><td class="snb-text">Ann Lee</td><td>$1.2K</td></tr></table>'
    >>> align_text_columns("<table><tr><td>OPP-1</td><td>Alderbrook Manufacturing Inc.</td></tr></table>")
    '<table><tr><td class="snb-text">OPP-1</td><td class="snb-text snb-wrap">Alderbrook Manufacturing Inc.</td></tr></table>'
    """
    if "<table" not in html.lower():
        return html
    return _TABLE.sub(lambda m: _align(m.group(0)), html)

"""Period labels and dates that never break at their hyphen in a review document.

A browser may break "FY2026-Q4" or "2026-09-30" at its hyphen at phone width or on paper.
:func:`keep_periods_whole` wraps each one in the text of a rendered page in a span the review
stylesheet keeps on one line (``.snb-period``); :mod:`salesnb.reports.render` applies it to
every page it makes.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["PERIOD_CLASS", "keep_periods_whole"]

#: A period label or date as the kit writes one: FY2026-Q4, FY2026, 2026-09, 2026-09-30.
_PERIOD: Final = re.compile(
    r"(?<![\w\-\u2011])(?:FY\d{4}(?:-Q\d)?|\d{4}-\d{2}(?:-\d{2})?)(?![\w\-\u2011])"
)
#: Parts of a page whose text is not prose laid out by the browser: left as they are.
_RAW_PARTS: Final = re.compile(
    r"<!--.*?-->|<(script|style|title|svg|textarea)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL
)
_TAG_OR_TEXT: Final = re.compile(r"(<[^>]*>)")
#: The class of the span that keeps a period label on one line (templates/review/review.css).
PERIOD_CLASS: Final = "snb-period"


def keep_periods_whole(html: str) -> str:
    """Wrap every period label and date in the text of a page in a span that never breaks.

    A browser may break "FY2026-Q4" or "2026-09-30" at its hyphen at phone width or on paper
    ("FY2026-" at a line's end, "Q4" on the next). Each label in prose, headings, tiles and
    tables becomes ``<span class="snb-period">FY2026-Q4</span>`` (``white-space: nowrap``);
    its text is unchanged, so it copies and searches as written. Tags, attributes, scripts,
    styles, the page title and SVG charts (which never wrap) are left alone.

    Examples
    --------
    >>> keep_periods_whole('<h2 id="f-FY2026-Q4">Forecast FY2026-Q4</h2>')
    '<h2 id="f-FY2026-Q4">Forecast <span class="snb-period">FY2026-Q4</span></h2>'
    >>> keep_periods_whole("<svg><text>FY2026-Q4</text></svg>")
    '<svg><text>FY2026-Q4</text></svg>'
    """

    def text(part: str) -> str:
        if "-" not in part:
            return part
        pieces = _TAG_OR_TEXT.split(part)
        for i in range(0, len(pieces), 2):  # even pieces are text between tags
            if "-" in pieces[i]:
                pieces[i] = _PERIOD.sub(
                    lambda m: f'<span class="{PERIOD_CLASS}">{m.group(0)}</span>', pieces[i]
                )
        return "".join(pieces)

    out, at = [], 0
    for m in _RAW_PARTS.finditer(html):
        out += [text(html[at : m.start()]), m.group(0)]
        at = m.end()
    out.append(text(html[at:]))
    return "".join(out)

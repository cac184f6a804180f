"""Whether a page would reach the network: the offline check of documents and bundles.

Used by the renderer (:mod:`salesnb.reports.render`, every document), the Vega bundle's
check (:mod:`salesnb.reports.vegabundle`) and the batch's index page.
"""

from __future__ import annotations

import re


def external_references(html: str) -> list[str]:
    """Every reference in ``html`` that would reach the network (empty for an offline document).

    Looks at ``src``/``href`` of script, link, img, iframe, source, audio and video
    elements and at CSS ``url()`` and ``@import``.

    Examples
    --------
    >>> external_references('<img src="http://x/a.png"><a href="https://ok.example">ok</a>')
    ['<img src=http://x/a.png>']
    """
    found = []
    pat = re.compile(
        r"<(script|link|img|iframe|source|audio|video|embed|object)\b[^>]*?"
        r"\b(src|href|data|srcset)\s*=\s*[\"']?((?:https?:)?//[^\"'\s>]+)",
        re.IGNORECASE,
    )
    found += [f"<{m.group(1)} {m.group(2)}={m.group(3)}>" for m in pat.finditer(html)]
    found += re.findall(r"url\(\s*['\"]?(?:https?:)?//[^)]*\)", html, flags=re.IGNORECASE)
    found += re.findall(r"@import\s+[^;]+;", html, flags=re.IGNORECASE)
    found += re.findall(r"<script\b[^>]*\bsrc\s*=", html, flags=re.IGNORECASE)
    return found

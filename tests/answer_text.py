"""Workshop answers checked as content: every word as written, every figure to its last digit.

A workshop notebook's answers are recomputed by moving the app's controls; a figure that
lies on a rounding boundary ($2,049 against $2,051: "$2K" or "$2.1K") may flip with a new
release of numpy or pandas. :func:`answer_in` accepts the recomputed answer when the
notebook holds the same sentence with every figure within one step of its last shown digit
(0.1 for "$2.1K": $100), and nothing looser: a figure that moved by more fails.
"""

from __future__ import annotations

import re

#: A figure as documents print it: sign, currency, thousands separators, decimals, K/M, %.
NUMBER = r"[-+−]?\$?\d[\d,]*(?:\.\d+)?[KM]?%?"


def _value(text: str) -> tuple[float, float]:
    """(value, one step of its last shown digit) of a figure, K and M applied."""
    t = text.replace("−", "-").replace("$", "").replace(",", "").rstrip("%")
    unit = {"K": 1e3, "M": 1e6}.get(t[-1:], 1.0)
    t = t.rstrip("KM")
    decimals = len(t.split(".")[1]) if "." in t else 0
    # "$2K" is printed for 2.0K: a K or M figure always carries one decimal
    if unit > 1:
        decimals = max(decimals, 1)
    return float(t) * unit, 10.0**-decimals * unit


def answer_in(text: str, md: str) -> bool:
    """Whether ``md`` holds ``text`` with every figure within one last-digit step.

    Examples
    --------
    >>> answer_in("the low case only +$2K: fine", "x the low case only +$2.1K: fine y")
    True
    >>> answer_in("the low case only +$2K: fine", "the low case only +$2.2K: fine")
    False
    >>> answer_in("still 2.4 of 15", "still 2.6 of 15"), answer_in("2.4 of 15", "2.4 of 17")
    (False, False)
    >>> answer_in("still 2.4 of 15", "yet 2.4 of 15")  # every word as written
    False
    """
    parts = re.split(f"({NUMBER})", text)
    pattern = "".join(f"({NUMBER})" if i % 2 else re.escape(p) for i, p in enumerate(parts))
    for m in re.finditer(pattern, md):
        pairs = zip(parts[1::2], m.groups(), strict=True)
        if all(_close(a, b) for a, b in pairs):
            return True
    return False


def _close(a: str, b: str) -> bool:
    (x, sx), (y, sy) = _value(a), _value(b)
    return a == b or abs(x - y) <= max(sx, sy) * 1.0001

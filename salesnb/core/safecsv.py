"""CSV output that a spreadsheet cannot mistake for formulas.

Cells that start with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
are executed as formulas by Excel, LibreOffice and Google Sheets (CSV
injection). Text cells starting with one of those get a leading apostrophe;
numbers are left alone, so ``-5`` stays a number. Text that already starts with
apostrophes before such a character gets one more, so that reading strips exactly
one and a value such as ``'=x`` survives a round trip (:func:`salesnb.data.io.write`
and :func:`salesnb.data.io.load`). This is the kit's one formula neutraliser.
"""

from __future__ import annotations

import re

import pandas as pd

#: Text a spreadsheet runs as a formula, or text that starts with the ``'`` guarding such
#: text (so that a value that really starts with ``'=`` survives a round trip).
FORMULA = r"^'*[=+\-@\t\r]"
_FORMULA_RE = re.compile(FORMULA)


def neutralise(value: object) -> object:
    """Prefix a formula-looking text value with ``'``; return anything else unchanged.

    Examples
    --------
    >>> neutralise("=HYPERLINK(1)"), neutralise(-5), neutralise("Acme")
    ("'=HYPERLINK(1)", -5, 'Acme')
    """
    if isinstance(value, str) and _FORMULA_RE.match(value):
        return "'" + value
    return value


def neutralise_series(s: pd.Series) -> pd.Series:
    """:func:`neutralise` over a column, vectorised (every value as text).

    Examples
    --------
    >>> neutralise_series(pd.Series(["=1", "a", "'=b"])).tolist()
    ["'=1", 'a', "''=b"]
    """
    s = s.astype("str")
    return s.where(~s.str.match(FORMULA, na=False), "'" + s)


def to_safe_csv(df: pd.DataFrame, path=None, **kwargs) -> str | None:
    """``DataFrame.to_csv`` with every text cell (and header) neutralised.

    Examples
    --------
    >>> print(to_safe_csv(pd.DataFrame({"name": ["=1+1"], "amount": [-2.0]})), end="")
    name,amount
    '=1+1,-2.0
    """
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    out.columns = [neutralise(str(c)) for c in out.columns]
    kwargs.setdefault("index", False)
    kwargs.setdefault("lineterminator", "\n")
    return out.to_csv(path, **kwargs)

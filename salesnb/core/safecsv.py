"""CSV output that a spreadsheet cannot mistake for formulas.

Cells that start with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
are executed as formulas by Excel, LibreOffice and Google Sheets (CSV
injection). Text cells starting with one of those get a leading apostrophe;
numbers are left alone, so ``-5`` stays a number.
"""

from __future__ import annotations

import pandas as pd

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """Prefix a formula-looking text value with ``'``; return anything else unchanged.

    Examples
    --------
    >>> neutralise("=HYPERLINK(1)"), neutralise(-5), neutralise("Acme")
    ("'=HYPERLINK(1)", -5, 'Acme')
    """
    if isinstance(value, str) and value.startswith(_TRIGGERS):
        return "'" + value
    return value


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

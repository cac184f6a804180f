"""How chart data goes into a Vega-Lite spec: Altair's own conversion, done faster.

Altair turns a chart's DataFrame into ``{"values": [records]}`` by copying the frame,
converting each column with pandas (``sanitize_pandas_dataframe``) and calling
``to_dict(orient="records")``. On the small frames of a review document's charts that
pandas overhead is most of the work: about 20 ms of a pipeline review's four charts. The
transformer here builds the same records column by column from Python lists, for the
column kinds salesnb's charts use (numbers, booleans, text, dates, plain objects); a frame
with any other kind (categoricals, nullable integers, time spans, ...) goes through
Altair's own conversion. Tests compare both on random frames, value types included.

:func:`salesnb.reports.charts.setup_charts` enables it as Altair's data transformer ``"salesnb"``.
"""

from __future__ import annotations

from typing import Any, Final

import altair as alt
import numpy as np
import pandas as pd
from altair.utils.data import MaxRowsError, limit_rows, to_values
from pandas.core.dtypes.cast import maybe_box_native

#: The name the transformer is registered under.
TRANSFORMER: Final = "salesnb"
#: What Altair's default transformer allows before refusing a frame (its ``max_rows``).
MAX_ROWS: Final = 5000


def _column(s: pd.Series) -> list | None:
    """``s`` as Altair's sanitising makes it (a list of JSON-able values), None if unsure."""
    dtype = s.dtype
    name = str(dtype)
    if name in ("str", "string"):
        values = s.tolist()
        missing = s.isna().to_numpy()
        return [None if m else v for v, m in zip(values, missing, strict=True)]
    if not isinstance(dtype, np.dtype):
        if name.startswith("datetime64[") and isinstance(dtype, pd.DatetimeTZDtype):
            return ["" if x is pd.NaT else x.isoformat() for x in s]
        return None
    kind = dtype.kind
    if kind == "f":
        values = s.to_numpy()
        bad = ~np.isfinite(values)
        return [None if b else v for v, b in zip(values.tolist(), bad, strict=True)]
    if kind in "iub":
        return s.to_numpy().tolist()
    if kind == "M":
        return ["" if x is pd.NaT else x.isoformat() for x in s]
    if kind == "O":
        values = [v.tolist() if isinstance(v, np.ndarray) else v for v in s.to_numpy()]
        present = pd.Series(values, dtype=object).notna().to_numpy()
        return [maybe_box_native(v) if p else None for v, p in zip(values, present, strict=True)]
    return None


def records(df: pd.DataFrame) -> list[dict[str, Any]] | None:
    """The records Altair would put in a spec for ``df``; None where only Altair knows how."""
    if isinstance(df.index, pd.MultiIndex) or isinstance(df.columns, pd.MultiIndex | pd.RangeIndex):
        return None
    names = list(df.columns)
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        return None
    columns = []
    for i in range(len(names)):
        col = _column(df.iloc[:, i])
        if col is None:
            return None
        columns.append(col)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def transform(data: Any) -> Any:
    """Altair's default data transformer (row limit, then values), faster for plain frames.

    Examples
    --------
    >>> transform(pd.DataFrame({"stage": ["Won", None], "amount": [1.5, float("nan")]}))
    {'values': [{'stage': 'Won', 'amount': 1.5}, {'stage': None, 'amount': None}]}
    """
    # Altair's limit_rows hands back a narwhals wrapper, which its to_values converts slowly:
    # a plain frame is counted here and converted without it.
    if isinstance(data, pd.DataFrame):
        if len(data) > MAX_ROWS:
            raise MaxRowsError.from_limit_rows(len(data), MAX_ROWS)
        values = records(data)
        if values is not None:
            return {"values": values}
    return to_values(limit_rows(data, max_rows=MAX_ROWS))


def enable() -> None:
    """Register and enable :func:`transform` as Altair's data transformer (process-wide)."""
    # registering again is a dict assignment; asking names() first would scan the installed
    # packages' entry points (about 6 ms a document)
    alt.data_transformers.register(TRANSFORMER, _transformer)
    alt.data_transformers.enable(TRANSFORMER)


def _transformer(data: Any = None) -> Any:
    return transform if data is None else transform(data)

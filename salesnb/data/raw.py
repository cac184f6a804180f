"""Raw tables: a file's cells as read, before validation types them.

Shared by the readers (:mod:`salesnb.data.readers`), the SQL loader and validation, so
that none of them imports another for these few names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from salesnb.core.errors import Problem

if TYPE_CHECKING:  # profiles imports validation, which imports this module
    from salesnb.data.profiles import TableSpec

#: Columns :func:`read_table` adds to every raw frame: source file index and file line.
SRC, LINE = "__src__", "__line__"


@dataclass
class RawTable:
    """One table as read from its file(s): every cell text (CSV, Excel) or as typed (Parquet).

    ``frame`` keeps the user's column names plus ``__src__`` (index into ``files``)
    and ``__line__`` (the line a spreadsheet or editor shows; header = line 1).
    """

    table: str
    frame: pd.DataFrame
    files: list[str]
    spec: TableSpec
    sep: str = ","
    kind: str = "csv"
    sheets: dict[str, list[str]] = field(default_factory=dict)
    sheet: str | None = None
    header_line: int = 1


def problem(message: str, fix: str, file: Path | str, code: str, **kw: Any) -> Problem:
    """A :class:`~salesnb.core.errors.Problem` about ``file`` (shorthand of the readers).

    Examples
    --------
    >>> problem("Empty file.", "Fix: export again.", "reps.csv", "empty").file
    'reps.csv'
    """
    return Problem(message, fix, file=str(file), code=code, **kw)

"""The one exception family of salesnb.

Every error a user can meet derives from :class:`SalesnbError` and says what
failed, where (file, rows, column) and how to fix it. Data validation collects
every problem first and raises one :class:`DataValidationError` that lists them
all, so a user fixes a file in one pass instead of one error at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

_MAX_ROWS_SHOWN = 5


@dataclass(frozen=True)
class Problem:
    """One finding about the input data.

    Parameters
    ----------
    message : str
        What is wrong, with the offending value quoted.
    fix : str
        What the user should do about it.
    file : str, optional
        The file (or table) the problem is in.
    rows : tuple of int
        Line numbers in the file as a spreadsheet or editor shows them
        (the header is line 1, the first data row line 2).
    column : str, optional
        The column, as named in the user's file.
    severity : {"error", "warning"}
        Errors stop loading; warnings are reported and loading goes on.
    code : str
        A stable machine-readable identifier, e.g. ``"missing-column"``.
    reps : tuple of str, optional
        The rep ids whose records (deals, activities, targets, snapshots, team rows) the
        problem is about, ``""`` for records of no rep; None when it is not about
        particular records (a file, a column, the whole data). A rep's document shows a
        warning about other reps' records only as a count (:func:`salesnb.reports.facts.data_notes`).
    values : tuple of str
        Data values the message quotes in forms other than the data holds, e.g. a value as
        the export wrote it and as a profile corrected it; redaction treats them as one.
    """

    message: str
    fix: str = ""
    file: str | None = None
    rows: tuple[int, ...] = ()
    column: str | None = None
    severity: Severity = "error"
    code: str = "invalid"
    reps: tuple[str, ...] | None = None
    values: tuple[str, ...] = ()

    def where(self) -> str:
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:_MAX_ROWS_SHOWN])
            more = len(self.rows) - _MAX_ROWS_SHOWN
            noun = "line" if len(self.rows) == 1 else "lines"
            parts.append(f"{noun} {shown}" + (f" (+{more} more)" if more > 0 else ""))
        if self.column:
            parts.append(f"column {self.column!r}")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        text = f"{where}: {self.message}" if where else self.message
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


class SalesnbError(Exception):
    """Base class of every error salesnb raises on purpose."""


class ConfigError(SalesnbError):
    """A configuration file (stages, fiscal calendar, coaching rules) is wrong."""


class ProfileError(SalesnbError):
    """An import profile is missing, malformed or names things that do not exist."""


class DataValidationError(SalesnbError):
    """The input data has one or more problems; ``problems`` lists them all."""

    def __init__(self, problems: Sequence[Problem], source: str | None = None):
        self.problems = [p for p in problems if p.severity == "error"]
        self.warnings = [p for p in problems if p.severity == "warning"]
        self.source = source
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in the data"
        if source:
            head += f" at {source}"
        lines = [head + ":"] + [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class ParameterError(SalesnbError):
    """A workbook or command parameter is unknown, of the wrong type or out of range."""


class NotEnoughDataError(SalesnbError):
    """A computation needs more history than the data holds."""


class BatchError(SalesnbError):
    """A batch run could not start or one of its subjects failed."""


class RenderError(SalesnbError):
    """A review document could not be rendered (HTML or PDF)."""


def raise_if_errors(problems: Iterable[Problem], source: str | None = None) -> list[Problem]:
    """Raise :class:`DataValidationError` if any problem is an error; return the warnings."""
    problems = list(problems)
    if any(p.severity == "error" for p in problems):
        raise DataValidationError(problems, source)
    return [p for p in problems if p.severity == "warning"]

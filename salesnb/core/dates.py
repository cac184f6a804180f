"""One reading of a date a user gives as a setting or parameter (``as_of`` and friends).

``as_of`` reaches salesnb from ``salesnb.toml``, ``salesnb.load(as_of=...)``, the
command line and notebook parameters. Each of them reads it with :func:`to_day`, so
that the same text means the same day everywhere:

* a time of day is dropped (an as-of date is a day);
* a UTC offset or time zone is dropped *after* reading the date as written
  (``2026-09-30T00:00:00+02:00`` and ``2026-09-30T23:30:00-05:00`` are both
  2026-09-30, the calendar day where the writer was), never converted to UTC first,
  which would move a date written as the 30th to the 29th;
* a date outside the range salesnb can compute with (about 1677 to 2262) is not a date.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

#: The first and last whole days a date column can hold (nanosecond timestamps).
FIRST_DAY = pd.Timestamp.min.ceil("D")
LAST_DAY = pd.Timestamp.max.floor("D")


def to_day(value: Any) -> pd.Timestamp:
    """``value`` as a naive timestamp at midnight, or ``NaT`` if it is not a date.

    Numbers and booleans are not dates (``20240331`` is refused, not read as a
    nanosecond count).

    Examples
    --------
    >>> to_day("2026-09-30T00:00:00+02:00"), to_day("2026-09-30T23:30:00-05:00")
    (Timestamp('2026-09-30 00:00:00'), Timestamp('2026-09-30 00:00:00'))
    >>> to_day("9999-12-31"), to_day("next friday"), to_day(42)
    (NaT, NaT, NaT)
    """
    if value is None or isinstance(value, bool | int | float):
        return pd.NaT
    try:
        when = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        return pd.NaT
    if pd.isna(when):
        return pd.NaT
    if when.tzinfo is not None:
        when = when.tz_localize(None)  # the wall-clock date as written, not UTC's
    try:
        day = when.normalize().as_unit("ns")
    except (ValueError, OverflowError):  # out of the nanosecond range
        return pd.NaT
    return day if FIRST_DAY <= day <= LAST_DAY else pd.NaT

"""How a profile reads a file's text: :class:`ReadOptions` and its ``[read]`` section.

Shared by the profile parser (:mod:`salesnb.data.profiles`) and the stage-history section's
parser (:mod:`salesnb.data.stagehistory`), which both read ``[read]`` sections.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from salesnb.core.errors import ProfileError

#: The keys of a ``[read]`` section.
READ_KEYS = {
    "encoding", "sep", "decimal", "thousands", "currency_symbols", "date_formats", "dayfirst",
    "skip_rows", "blank_values",
}  # fmt: skip
#: Cell texts read as blank by default (``[read] blank_values`` replaces the list).
BLANK_VALUES = ("NULL", "null", "None", "N/A", "n/a", "#N/A", "-")


@dataclass(frozen=True)
class ReadOptions:
    """How to turn a file's text into values.

    ``"auto"`` means detect: the encoding (UTF-8, UTF-8 with BOM, else Windows-1252 /
    Latin-1), the separator (``,`` ``;`` tab ``|``) and, for ``;``-separated files, decimal
    commas. ``date_formats`` are ``strftime`` patterns tried in order. ``skip_rows`` lines
    (a report's title) are skipped above the header of a text file. Text and date cells
    that read exactly as one of ``blank_values`` (``NULL``, ``N/A``, ``-`` ...) are blank.
    """

    encoding: str = "auto"
    sep: str = "auto"
    decimal: str = "auto"
    thousands: str | None = None
    currency_symbols: bool = False
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    dayfirst: bool | None = None
    skip_rows: int = 0
    blank_values: tuple[str, ...] = BLANK_VALUES


def unknown_keys(keys: set[str], allowed: set[str], where: str) -> None:
    """Raise a ProfileError naming the first of ``keys`` not in ``allowed`` (``where``: the
    profile's section, for the message), with the closest allowed key as a hint.

    Examples
    --------
    >>> unknown_keys({"sep"}, {"sep", "encoding"}, "[read]")
    """
    bad = sorted(keys - allowed)
    if bad:
        close = difflib.get_close_matches(bad[0], sorted(allowed), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        msg = (
            f"Unknown key {bad[0]!r} in {where}.{hint} "
            f"Fix: use only {sorted(allowed)!r} (see docs/profiles.md)."
        )
        raise ProfileError(msg)


def read_options(raw: dict[str, Any], base: ReadOptions, where: str) -> ReadOptions:
    """``base`` with a profile's ``[read]`` section ``raw`` applied (``where``: the section, for
    messages); raises ProfileError for an unknown key or a bad value.

    Examples
    --------
    >>> read_options({"sep": ";"}, ReadOptions(), "[read]").sep
    ';'
    """
    unknown_keys(set(raw), READ_KEYS, where)
    opts = dict(base.__dict__)
    for key, val in raw.items():
        if key in ("date_formats", "blank_values"):
            if not isinstance(val, (str, list)):
                msg = f"{key} = {val!r} in {where}. Fix: give a list of texts."
                raise ProfileError(msg)
            val = (val,) if isinstance(val, str) else tuple(str(v) for v in val)
        opts[key] = val
    if opts["decimal"] not in ("auto", ".", ","):
        raise ProfileError(
            f"decimal = {opts['decimal']!r} in {where}. Fix: use '.', ',' or 'auto'."
        )
    if opts["thousands"] not in (None, "", ",", ".", " ", "'", "\u00a0"):
        msg = f"thousands = {opts['thousands']!r} in {where}. Fix: use ',', '.', ' ' or \"'\"."
        raise ProfileError(msg)
    skip = opts["skip_rows"]
    if isinstance(skip, bool) or not isinstance(skip, int) or not 0 <= skip <= 1000:
        msg = f"skip_rows = {skip!r} in {where}. Fix: use the number of lines above the header (0-1000)."
        raise ProfileError(msg)
    return ReadOptions(**opts)

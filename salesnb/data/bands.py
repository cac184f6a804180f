"""Bands: a text column derived from a number column of the export, declared in a profile.

An export often has a number where the model wants a class: a head count where the
``accounts`` table wants a customer segment. A profile says how, with no code::

    [accounts.bands.segment]
    from = "employees"                      # the export's column (or a canonical one)
    below = [200, 1000]                     # ascending limits
    values = ["SMB", "Mid-market", "Enterprise"]

A value under the first limit gets the first label, under the second the second, and so on;
a value at or above the last limit gets the last label (so there is one label more than
limits). Blanks stay blank, and so does a row whose own file already gives the column (the
file wins). A value that is not a number is reported (a warning, with file, line, column and
fix) and left blank.

:func:`parse_bands` reads the profile's section (refusing, with a :class:`ProfileError`, what
could never work); :func:`band_of` places numbers in bands; :func:`apply_bands` derives the
columns during validation (:func:`salesnb.data.validation.validate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from salesnb.core.errors import ProfileError
from salesnb.data.parsers import examples
from salesnb.data.schema import TABLES


@dataclass(frozen=True)
class Bands:
    """One derived column: ``source`` (the export's column), the ascending limits ``below``
    and the ``labels`` (one more than the limits)."""

    source: str
    below: tuple[float, ...]
    labels: tuple[str, ...]

    def describe(self) -> str:
        """The bands in words.

        Examples
        --------
        >>> Bands("employees", (200.0, 1000.0), ("SMB", "Mid-market", "Enterprise")).describe()
        'SMB under 200, Mid-market 200 to under 1,000, Enterprise 1,000 or more'
        """
        parts, low = [], None
        for label, hi in zip(self.labels, self.below, strict=False):
            parts.append(f"{label} under {hi:,g}" if low is None else
                         f"{label} {low:,g} to under {hi:,g}")  # fmt: skip
            low = hi
        parts.append(f"{self.labels[-1]} {self.below[-1]:,g} or more")
        return ", ".join(parts)


def parse_bands(raw: Any, table: str, where: str) -> dict[str, Bands]:
    """The ``[<table>.bands.<column>]`` sections of a profile, checked.

    Raises
    ------
    ProfileError
        A column that is not a text column of ``table``, limits that are not ascending
        numbers, or labels that do not number one more than the limits.

    Examples
    --------
    >>> b = parse_bands({"segment": {"from": "employees", "below": [200, 1000],
    ...                  "values": ["SMB", "Mid-market", "Enterprise"]}}, "accounts", "test")
    >>> b["segment"].below
    (200.0, 1000.0)
    """
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise ProfileError(f"bands in [{table}] of the {where} is not a table of columns. Fix: "
                           f"write [{table}.bands.<column>] sections (docs/profiles.md).")  # fmt: skip
    out = {}
    text_cols = [c.name for c in TABLES[table] if c.kind == "str"]
    for col, spec in raw.items():
        what = f"[{table}.bands.{col}] of the {where}"
        if col not in text_cols:
            raise ProfileError(f"{what} derives {col!r}, which is not a text column of {table}. "
                               f"Fix: use one of {text_cols!r}.")  # fmt: skip
        if not isinstance(spec, dict) or not isinstance(spec.get("from"), str):
            raise ProfileError(f"{what} does not say which column to read. Fix: add "
                               "from = \"<the export's column>\".")  # fmt: skip
        below, labels = spec.get("below"), spec.get("values")
        numbers = isinstance(below, list) and below and all(
            isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)
            for v in below)  # fmt: skip
        if not numbers or any(a >= b for a, b in pairwise(below)):
            raise ProfileError(f"{what}: below = {below!r} is not a list of ascending numbers. "
                               "Fix: write the limits in order, e.g. below = [200, 1000].")  # fmt: skip
        if (not isinstance(labels, list) or len(labels) != len(below) + 1
                or not all(isinstance(v, str) and v.strip() for v in labels)):  # fmt: skip
            raise ProfileError(f"{what}: values = {labels!r} must be {len(below) + 1} labels, one "
                               "more than the limits (the last is for the top band). Fix: "
                               "e.g. values = [\"SMB\", \"Mid-market\", \"Enterprise\"].")  # fmt: skip
        out[col] = Bands(spec["from"], tuple(float(v) for v in below), tuple(labels))
    return out


def band_of(values: pd.Series, bands: Bands) -> pd.Series:
    """Each number's label (None for a blank).

    Examples
    --------
    >>> b = Bands("employees", (200.0, 1000.0), ("SMB", "Mid-market", "Enterprise"))
    >>> band_of(pd.Series([0, 199, 200, 999, 1000, None]), b).tolist()
    ['SMB', 'SMB', 'Mid-market', 'Mid-market', 'Enterprise', None]
    """
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    idx = np.searchsorted(np.asarray(bands.below), x, side="right")
    labels = np.asarray(bands.labels, dtype=object)[np.minimum(idx, len(bands.labels) - 1)]
    return pd.Series(np.where(np.isnan(x), None, labels), index=values.index, dtype=object)


def _numbers(text: pd.Series) -> pd.Series:
    """Numbers as exports write them: ``1,200`` and `` 85 `` are read."""
    clean = text.astype(object).where(text.notna()).map(
        lambda v: str(v).replace(",", "").replace("\u00a0", "").strip(), na_action="ignore")  # fmt: skip
    return pd.to_numeric(clean.replace("", None), errors="coerce")


def apply_bands(t: Any) -> None:
    """Derive the banded columns of a typed table in place (see the module docstring).

    ``t`` is validation's typed table (``spec.bands``, ``frame``: the file as read, ``src``:
    export column per canonical one, ``out``: the canonical columns, ``emit``,
    ``file_problem``).

    Examples
    --------
    >>> apply_bands(typed["accounts"])  # doctest: +SKIP
    """
    for col, bands in getattr(t.spec, "bands", {}).items():
        source = bands.source if bands.source in t.frame.columns else t.src.get(bands.source)
        if source is None or source not in t.frame.columns:
            t.file_problem(
                "bands-no-column",
                f"The profile derives {col} from the column {bands.source!r}, which the file "
                f"does not have; {col} is left as the file gives it.",
                f"Check [{t.name}.bands.{col}] from = ... against the file's header.",
                severity="warning",
            )
            continue
        raw = t.frame[source]
        nums = _numbers(raw)
        unread = (raw.notna() & raw.astype(str).str.strip().ne("") & nums.isna()).to_numpy()
        if unread.any():
            t.emit(unread, source, "bands-not-a-number",
                   f"{source} {examples(raw[unread])} is not a number, so the row's {col} "
                   f"cannot be placed in the profile's bands ({bands.describe()}); it is left "
                   "blank.", f"Write {source} as a number, e.g. 250.", "warning")  # fmt: skip
        derived = band_of(nums, bands)
        given = t.out.get(col)
        if given is None:
            t.out[col] = derived.astype("str").where(derived.notna())
        else:
            t.out[col] = given.where(given.notna(), derived)

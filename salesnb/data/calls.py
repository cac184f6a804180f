"""The optional ``calls`` table: the managers' forecast calls, checked as they are loaded.

A call is what a manager (or a region's or team's lead, or a rep) says the quarter will
bring, written down on the day it was made: ``subject_type``, ``subject``, ``period`` (a
fiscal quarter as the documents name it, ``FY2026-Q4``), ``amount``, ``as_of`` (the day of
the call) and ``category`` (``commit``, the default, or ``best_case``). The team review
reads the latest one made by its as-of date (:func:`salesnb.analytics.movement.latest_call`).

:func:`check_calls` runs on the typed table during validation
(:func:`salesnb.data.validation.validate`); it reports, with the file, line, column and a fix:

* a period that is not a fiscal quarter (error: the call could not be matched to a quarter);
* a blank subject for a manager's, region's, team's or rep's call (error);
* a subject the reps table does not know (warning: the call is loaded but no document shows it).

:func:`call_reps` says which rep each row is about (a rep's own call), for the privacy rule
that a rep's document quotes no other rep's records.
"""

from __future__ import annotations

import re
from typing import Any, Final

import numpy as np
import pandas as pd

from salesnb.data.parsers import closest, examples

#: The form of a call's period: a fiscal quarter as the documents name it.
PERIOD_FORM: Final = re.compile(r"FY\d{4}-Q[1-4]")
#: The reps column each subject type is looked up in.
SUBJECT_COLUMN: Final = {"manager": "manager", "region": "region", "team": "team",
                         "rep": "rep_id"}  # fmt: skip


def normal_period(value: Any) -> str | None:
    """A call's period in the kit's form (``FY2026-Q4``), or None when it is not one.

    Spaces are dropped and case ignored: ``"fy2026-q4"`` and ``"FY2026 - Q4"`` are read.

    Examples
    --------
    >>> normal_period("fy2026-q4"), normal_period("2026-Q4"), normal_period(None)
    ('FY2026-Q4', None, None)
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = re.sub(r"\s+", "", str(value)).upper()
    return text if PERIOD_FORM.fullmatch(text) else None


def check_calls(t: Any, reps: pd.DataFrame | None) -> None:
    """Check a typed ``calls`` table in place (see the module docstring).

    ``t`` is validation's typed table (``out``: canonical columns, ``frame``/``src``: the file
    as read, ``emit``: report rows); ``reps`` the validated reps (None when absent: subjects
    are then not checked). A blank category becomes ``commit``.

    Examples
    --------
    >>> check_calls(typed["calls"], tables["reps"])  # doctest: +SKIP
    """
    out = t.out
    if "period" in out:
        p = out["period"]
        norm = p.map(normal_period, na_action="ignore")
        bad = (p.notna() & norm.isna()).to_numpy()
        if bad.any():
            ex = examples(t.frame.loc[bad, t.src["period"]])
            t.emit(bad, "period", "bad-period",
                   f"A call's period must be a fiscal quarter: {ex} is not one.",
                   "Write the quarter as the documents name it, e.g. FY2026-Q4.")  # fmt: skip
            t.bad["period"] = bad
        out["period"] = norm.where(~pd.Series(bad, index=norm.index))
    if "category" in out:
        out["category"] = out["category"].fillna("commit")
    else:
        out["category"] = pd.Series("commit", index=range(len(t.frame)), dtype=object)
    if "subject_type" not in out:
        return
    kind = out["subject_type"]
    subject = out.get("subject", pd.Series(None, index=kind.index, dtype=object))
    out["subject"] = subject.where(kind != "all")  # the whole team's call names no one
    blank = (kind.notna() & (kind != "all") & subject.isna()).to_numpy()
    if blank.any():
        t.emit(blank, "subject" if "subject" in t.src else None, "blank",
               "A call for a manager, region, team or rep does not say whose it is (blank "
               "subject).", "Write the manager's name, the region, the team or the rep_id; or "
               "subject_type 'all' for the whole team's call.")  # fmt: skip
    if reps is None or not len(reps):
        return
    for k, col in SUBJECT_COLUMN.items():
        known = reps[col].dropna().astype(str)
        mine = (kind == k).to_numpy() & subject.notna().to_numpy()
        unknown = mine & ~subject.astype(object).isin(set(known)).to_numpy()
        for v in pd.unique(subject[unknown])[:20]:
            m = unknown & (subject == v).fillna(False).to_numpy()
            hint = closest(v, sorted(set(known)))
            t.emit(m, "subject", "unknown-subject",
                   f"Unknown {k} {v!r}: no row of reps has it as its {col}, so no document "
                   f"shows this call.{hint}",
                   f"Write the {k} as the reps table does, or add it there.", "warning")  # fmt: skip


def call_reps(calls: pd.DataFrame) -> np.ndarray:
    """The rep each call is about: the rep_id of a rep's own call, ``""`` for any other call
    (a manager's, region's, team's call: no rep's record).

    Examples
    --------
    >>> c = pd.DataFrame({"subject_type": ["rep", "manager"], "subject": ["R01", "Ann Lee"]})
    >>> call_reps(c).tolist()
    ['R01', '']
    """
    rep = calls["subject"].where(calls["subject_type"] == "rep")
    return rep.fillna("").astype(str).to_numpy(dtype=object)

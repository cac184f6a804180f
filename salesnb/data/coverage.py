"""Warnings about reps the data leaves without a record: no deals and no activities, or no
target (validation's coverage checks, :func:`salesnb.data.validation.validate`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salesnb.core.errors import Problem

__all__ = ["reps_without_data", "reps_without_target"]


def reps_without_data(tables: dict[str, pd.DataFrame], t: Any, problems: list[Problem]) -> None:
    """Warn about reps with no opportunities and no activities (``rep-without-data``).

    ``t`` is the validated table the warning points at (the reps file when it is one: its
    lines are named). Appends to ``problems``.

    Examples
    --------
    >>> import pandas as pd
    >>> tables = {"reps": pd.DataFrame({"rep_id": ["R1", "R2"]}),
    ...           "opportunities": pd.DataFrame({"rep_id": ["R1"]}),
    ...           "activities": pd.DataFrame({"rep_id": []})}
    >>> out = []
    >>> reps_without_data(tables, None, out)
    >>> out[0].message
    "1 rep has no opportunities and no activities: ['R2']."
    """
    reps = tables["reps"]
    active = set(tables["opportunities"]["rep_id"].unique())
    active |= set(tables["activities"]["rep_id"].unique())
    idle = reps.loc[~reps["rep_id"].isin(active), "rep_id"]
    if len(idle):
        rows = ()
        file = None
        if t is not None and t.name == "reps":
            pos = np.flatnonzero(~reps["rep_id"].isin(active).to_numpy())
            rows, file = tuple(int(x) for x in t.lines[pos]), t.raw.files[0]
        who = "1 rep has" if len(idle) == 1 else f"{len(idle)} reps have"
        msg = f"{who} no opportunities and no activities: {list(idle)!r}."
        fix = "Nothing to do if they are new or have left; otherwise check their deals' rep_id."
        problems.append(Problem(msg, fix, file, rows, None, "warning", "rep-without-data",
                                tuple(idle)))  # fmt: skip


def reps_without_target(
    tables: dict[str, pd.DataFrame], reps_t: Any, targets: Any, problems: list[Problem]
) -> None:
    """Warn about reps that a targets file leaves out: no row of theirs, none for their region.

    ``reps_t`` and ``targets`` are the validated reps and targets tables (their files and
    lines are named). Their attainment would otherwise be blank without a word. Nothing is said when there
    is no targets file at all (a team without targets), when targets were derived, or
    for reps with no data at all (see :func:`reps_without_data`).
    """
    reps, t = tables["reps"], tables["targets"]
    covered = reps["rep_id"].isin(t["rep_id"].dropna().unique()) | reps["region"].isin(
        t.loc[t["rep_id"].isna(), "region"].dropna().unique()
    )
    # A rep with no deals and no activities is already reported (rep-without-data).
    active = reps["rep_id"].isin(tables["opportunities"]["rep_id"].unique()) | reps["rep_id"].isin(
        tables["activities"]["rep_id"].unique()
    )
    missing = (~covered & active).to_numpy()
    if not missing.any():
        return
    ids = reps.loc[missing, "rep_id"].tolist()
    rows: tuple[int, ...] = ()
    file = None
    if reps_t is not None and len(reps_t.lines) == len(reps):
        rows, file = tuple(int(x) for x in reps_t.lines[missing]), reps_t.raw.files[0]
    target_file = Path(targets.raw.files[0]).name
    shown = ids[:20] + (["..."] if len(ids) > 20 else [])
    who = "1 rep has" if len(ids) == 1 else f"{len(ids):,} reps have"
    msg = (
        f"{who} no target in {target_file} (no row of their own, none for their region): "
        f"{shown!r}; their attainment is left blank."
    )
    fix = (
        f"Add a row for each of them (or for their region) to {target_file}; nothing to do "
        "if they are not meant to have a target."
    )
    problems.append(Problem(msg, fix, file, rows, None, "warning", "rep-without-target",
                            tuple(ids)))  # fmt: skip

"""Shared pieces of the persona tests: the sample data, the personas and two as-of dates."""

from __future__ import annotations

from pathlib import Path

from salesnb.data.sample import PERSONAS
from salesnb.reports import facts

DATA = Path(__file__).resolve().parents[2] / "data" / "sample"
STAR, TYPICAL, EMPTY = PERSONAS["star"], PERSONAS["typical"], PERSONAS["empty_pipeline"]
UNDER, NEW = PERSONAS["under_performers"], PERSONAS["new_hires"]
MID, END = "2026-08-14", "2026-09-30"

_CTX: dict = {}


def ctx_for(rep: str, as_of: str = END, *, forward: bool = False):
    """The document context of a rep (cached: loading the sample takes a second)."""
    key = (rep, as_of, forward)
    if key not in _CTX:
        _CTX[key] = facts.open_context(DATA, None, "rep", rep, None, as_of, forward=forward)
    return _CTX[key]


def sample_wb():
    """The sample data set behind the persona contexts."""
    return ctx_for(STAR).wb

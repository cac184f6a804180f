"""How far closed deals got, derived from what an export does hold.

A lost deal's ``furthest_stage`` is often blank: Salesforce and HubSpot deal exports say
"Closed Lost", not the stage the deal had reached. Counting such deals as lost at the first
stage makes every later stage "always win"; the kit instead derives the furthest stage from
the evidence the data holds, and leaves it unknown otherwise (see :mod:`salesnb.forecast.winprob`):

- **snapshots**: the furthest open stage any snapshot saw the deal at;
- **a stage-history file** (``[stage_history]`` of a profile): one row per stage change,
  as Salesforce's "Opportunity History" report exports it (opportunity id, stage, date);
  every open stage a row names (``From Stage`` and ``To Stage`` alike) was reached;
- **"date entered" columns** (``[opportunities.stage_dates]``): one date column per stage
  on the deals export, as HubSpot writes ``Date entered "Qualified To Buy (Sales
  Pipeline)"``; the furthest open stage with a date was reached.

Only deals whose ``furthest_stage`` is blank are filled (a value the export gives is kept),
and one warning per load says how many were filled from which source.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salesnb.core.errors import Problem, ProfileError
from salesnb.data.readoptions import ReadOptions, read_options, unknown_keys

#: Canonical columns of a stage-history file.
HISTORY_COLUMNS = ("opp_id", "stage", "date")


@dataclass(frozen=True)
class StageHistorySpec:
    """Where a stage-history file is and how its columns map (``source -> canonical``).

    ``stage`` may be mapped from several columns (``From Stage`` and ``To Stage``);
    ``date`` is optional: rows dated after the as-of date are left out when it is given.
    """

    files: tuple[str, ...] = ()
    columns: dict[str, str] = field(default_factory=dict)
    read: ReadOptions = field(default_factory=ReadOptions)

    def sources(self, canonical: str) -> list[str]:
        """The source columns mapped onto ``canonical`` (the canonical name if none is)."""
        names = [src for src, dst in self.columns.items() if dst == canonical]
        return names or [canonical]


def parse_spec(raw: Any, base: ReadOptions, where: str) -> StageHistorySpec:
    """Parse the ``[stage_history]`` table of a profile; :class:`ProfileError` naming the key.

    Examples
    --------
    >>> s = parse_spec({"files": "hist.csv", "columns": {"Opp": "opp_id", "To Stage": "stage"}},
    ...                ReadOptions(), "[stage_history]")
    >>> s.files, s.sources("stage"), s.sources("date")
    (('hist.csv',), ['To Stage'], ['date'])
    """
    if not isinstance(raw, dict):
        raise ProfileError(
            f"{where} is not a table. Fix: write [stage_history] with files and columns."
        )
    unknown_keys(set(raw), {"files", "columns", "read"}, where)
    files = raw.get("files", ())
    files = (files,) if isinstance(files, str) else tuple(str(f) for f in files)
    if not files:
        raise ProfileError(f'{where} names no files. Fix: add files = ["stage_history.csv"].')
    columns = {}
    for src, dst in dict(raw.get("columns", {})).items():
        if dst not in HISTORY_COLUMNS:
            close = difflib.get_close_matches(str(dst), HISTORY_COLUMNS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            msg = f"{where} maps column {src!r} onto {dst!r}.{hint} Fix: use one of {HISTORY_COLUMNS!r}."
            raise ProfileError(msg)
        columns[str(src)] = str(dst)
    read = read_options(raw.get("read", {}), base, where + " [read]")
    return StageHistorySpec(files=files, columns=columns, read=read)


# --------------------------------------------------------------------------- evidence


def _norm(name: Any) -> str:
    return " ".join(str(name).replace("\ufeff", "").split()).casefold()


def _text(s: pd.Series) -> pd.Series:
    txt = s.astype("str").str.strip()
    return txt.where(s.notna() & (txt != "") & (txt.str.casefold() != "nan"))


def _open_order(profile: Any, config: Any) -> dict[str, int]:
    """casefolded stage spelling (catalogue name or [stage_map] key) -> open-stage index."""
    order = {n: i for i, n in enumerate(config.stages.open_names)}
    out = {n.casefold(): i for n, i in order.items()}
    for k, v in profile.stage_map.items():
        if v in order:
            out[str(k).casefold()] = order[v]
    return out


def from_snapshots(snapshots: pd.DataFrame, order: dict[str, int], as_of: Any) -> pd.Series:
    """Furthest open-stage index each deal's snapshots (up to ``as_of``) saw, by ``opp_id``."""
    s = snapshots
    if as_of is not None:
        s = s[s["as_of"] <= as_of]
    idx = s["stage"].astype("str").str.casefold().map(order)
    return idx.groupby(s["opp_id"].to_numpy()).max().dropna()


def from_stage_dates(opp_t: Any, order: dict[str, int], problems: list[Problem]) -> pd.Series:
    """Furthest open-stage index with a "date entered" value, by row of the opportunities."""
    spec = opp_t.spec.stage_dates
    if not spec:
        return pd.Series(dtype="float64")
    by_norm = {_norm(c): c for c in opp_t.frame.columns}
    best = pd.Series(np.nan, index=opp_t.frame.index)
    missing = []
    for stage, col in spec.items():
        i = order.get(stage.casefold())
        if i is None:
            msg = f"[opportunities.stage_dates] maps {stage!r}, which is not an open stage."
            fix = (
                f"Use one of the open stages {list(order)!r} (closed stages say nothing of reach)."
            )
            problems.append(Problem(msg, fix, opp_t.raw.files[0], (), None, "error", "profile"))
            continue
        hit = by_norm.get(_norm(col))
        if hit is None:
            missing.append(col)
            continue
        has = _text(opp_t.frame[hit]).notna()
        best = best.mask(has & ~(best >= i), float(i))
    if missing and len(missing) < len(spec):  # none present: the export just lacks them
        msg = f"Stage date column(s) {missing!r} of [opportunities.stage_dates] are not in the export."
        fix = "Add them to the export, or remove them from the profile."
        problems.append(Problem(msg, fix, opp_t.raw.files[0], (opp_t.raw.header_line,), None,
                                "warning", "missing-column"))  # fmt: skip
    return best


def from_history(raw: Any, profile: Any, config: Any, problems: list[Problem]) -> pd.Series:
    """Furthest open-stage index a stage-history file names per deal, by ``opp_id``.

    Rows dated after ``config.as_of`` are left out; stages the catalogue does not know are
    reported once (closed stages are known and simply say nothing of reach).
    """
    from salesnb.data.parsers import parse_dates

    spec: StageHistorySpec = profile.stage_history
    order, as_of = _open_order(profile, config), config.as_of
    frame = raw.frame
    by_norm = {_norm(c): c for c in frame.columns}
    file = raw.files[0]

    def col(canonical: str, required: bool = True) -> list[str]:
        found = [by_norm[_norm(n)] for n in spec.sources(canonical) if _norm(n) in by_norm]
        if not found and required:
            want = " or ".join(repr(n) for n in spec.sources(canonical))
            cols = [c for c in frame.columns if not str(c).startswith("__")]
            msg = f"The stage-history file has no column {want} (it holds {canonical})."
            fix = f"Map it in [stage_history] columns of the profile; the file has {cols!r}."
            problems.append(Problem(msg, fix, file, (raw.header_line,), None, "error",
                                    "missing-column"))  # fmt: skip
        return found

    ids, stages, dates = col("opp_id"), col("stage"), col("date", required=False)
    if not ids or not stages:
        return pd.Series(dtype="float64")
    keep = pd.Series(True, index=frame.index)
    if dates and as_of is not None:
        txt = _text(frame[dates[0]])
        day = txt.str.split().str[0]  # "3/1/2024 10:15 AM": the day is what counts
        parsed, _ = parse_dates(day, spec.read, canonical=False)
        undated = int((txt.notna() & parsed.isna()).sum())
        if undated:
            msg = (
                f"{undated:,} stage-history date(s) in column {dates[0]!r} could not be read; "
                "those rows count whatever their date."
            )
            fix = "Add the file's date format to date_formats in [stage_history.read]."
            problems.append(Problem(msg, fix, file, (), dates[0], "warning", "history-date"))
        keep = ~(parsed > as_of).fillna(False)
    best = pd.Series(np.nan, index=frame.index)
    unknown: set[str] = set()
    for c in stages:
        txt = _text(frame[c])
        idx = txt.str.casefold().map(order)
        best = np.fmax(best, idx)
        unknown |= set(txt[txt.notna() & idx.isna()].unique())
    known_names = {n.casefold() for n in [*config.stages.names, *profile.stage_map]}
    strange = sorted(v for v in unknown if v.casefold() not in known_names)
    if strange:
        msg = f"The stage-history file names stage(s) not in the catalogue: {strange[:5]!r}."
        fix = "Map them in [stage_map] of the profile, or add them to [[stages]]."
        problems.append(Problem(msg, fix, file, (), stages[0], "warning", "unknown-stage"))
    opp = _text(frame[ids[0]])
    ok = keep.to_numpy() & opp.notna().to_numpy() & best.notna().to_numpy()
    return pd.Series(best[ok].to_numpy(), index=opp[ok].to_numpy()).groupby(level=0).max()


# --------------------------------------------------------------------------- derivation


def derive_furthest(
    tables: dict[str, pd.DataFrame],
    opp_t: Any,
    history: Any,
    profile: Any,
    config: Any,
    problems: list[Problem],
) -> None:
    """Fill the blank ``furthest_stage`` of lost deals from snapshots, a stage-history
    file and "date entered" columns (the furthest open stage any of them shows), in place.

    One warning says how many lost deals were filled from which source, and how many still
    do not say how far they got.
    """
    o = tables.get("opportunities")
    if o is None or not len(o) or opp_t is None:
        return
    order = _open_order(profile, config)
    names = config.stages.open_names
    as_of = config.as_of
    need = (o["outcome"] == "lost").to_numpy() & o["furthest_stage"].isna().to_numpy()
    # Row-aligned evidence per source (index of the open stage reached, NaN = none).
    found: dict[str, np.ndarray] = {}
    if opp_t.spec.stage_dates:
        found["the 'date entered' stage columns"] = from_stage_dates(
            opp_t, order, problems
        ).to_numpy()
    snaps = tables.get("snapshots")
    if snaps is not None and len(snaps):
        seen = from_snapshots(snaps, order, as_of)
        found["snapshots"] = o["opp_id"].map(seen).to_numpy(dtype="float64")
    if history is not None and profile.stage_history is not None:
        seen = from_history(history, profile, config, problems)
        found[f"the stage history {Path(history.files[0]).name!r}"] = (
            o["opp_id"].map(seen).to_numpy(dtype="float64")
        )
    if not need.any() or not found:
        return
    stacked = np.vstack(list(found.values()))
    best = np.full(len(o), np.nan)
    has = ~np.isnan(stacked).all(axis=0)
    best[has] = np.nanmax(stacked[:, has], axis=0)
    fill = need & has
    if not fill.any():
        return
    top = np.asarray(names, dtype=object)[best[fill].astype(int)]
    col = o["furthest_stage"].to_numpy(dtype=object).copy()
    col[fill] = top
    o["furthest_stage"] = pd.Series(col, index=o.index).astype("str")
    per = [
        f"{int((fill & ~np.isnan(v)).sum()):,} from {what}" for what, v in found.items()
        if (fill & ~np.isnan(v)).any()
    ]  # fmt: skip
    left = int((need & ~has).sum())
    msg = (
        f"{int(fill.sum()):,} of {int(need.sum()):,} lost deals without a furthest stage got "
        f"it from what the data holds ({'; '.join(per)}): the furthest open stage shown"
        + (f"; {left:,} still do not say how far they got." if left else ".")
    )
    fix = "Nothing to do; map furthest_stage in the profile if the export has the column."
    file = opp_t.raw.files[0]
    problems.append(Problem(msg, fix, file, (), None, "warning", "derived-furthest-stage"))

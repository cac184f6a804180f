"""Configuration that is data, not code: the stage catalogue and the fiscal calendar.

The package default lives in ``defaults.toml``; a data folder's ``salesnb.toml``
and an import profile's ``[stages]`` override it.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from salesnb.core.errors import ConfigError
from salesnb.data.config_schema import (
    check_config,
    check_file_text,
    parse_toml,
    raise_config_problems,
)

StageKind = Literal["open", "won", "lost"]


@dataclass(frozen=True)
class Stage:
    """One sales stage: its name, whether it is open, won or lost, and its default win probability (0-1)."""

    name: str
    kind: StageKind
    probability: float


@dataclass(frozen=True)
class StageCatalogue:
    """The ordered stages of a sales process.

    Open stages come first, in pipeline order; then the won and lost stages.

    Examples
    --------
    >>> cat = load_config().stages
    >>> cat.open_names[0], cat.won_name
    ('Prospecting', 'Closed Won')
    """

    stages: tuple[Stage, ...]

    def __post_init__(self) -> None:
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ConfigError(
                f"Stage names must be unique, got {names!r}. Fix: rename the duplicates."
            )
        for s in self.stages:
            if s.kind not in ("open", "won", "lost"):
                raise ConfigError(
                    f"Stage {s.name!r} has kind {s.kind!r}. Fix: use 'open', 'won' or 'lost'."
                )
            if not 0.0 <= s.probability <= 1.0:
                raise ConfigError(
                    f"Stage {s.name!r} has probability {s.probability!r}. Fix: use a number from 0 to 1."
                )
        kinds = [s.kind for s in self.stages]
        if "won" not in kinds or "lost" not in kinds or "open" not in kinds:
            raise ConfigError(
                "The stage catalogue needs at least one open stage, one won stage and one lost stage. "
                "Fix: add the missing kind to [[stages]]."
            )

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.stages]

    @property
    def open_names(self) -> list[str]:
        """Open stages in pipeline order."""
        return [s.name for s in self.stages if s.kind == "open"]

    @property
    def won_name(self) -> str:
        return next(s.name for s in self.stages if s.kind == "won")

    @property
    def lost_name(self) -> str:
        return next(s.name for s in self.stages if s.kind == "lost")

    def kind_of(self) -> dict[str, StageKind]:
        return {s.name: s.kind for s in self.stages}

    def probability_of(self) -> dict[str, float]:
        return {s.name: s.probability for s in self.stages}

    def order_of(self) -> dict[str, int]:
        """Position of each open stage (0 = first); won stages rank after every open stage."""
        order = {name: i for i, name in enumerate(self.open_names)}
        for s in self.stages:
            if s.kind == "won":
                order[s.name] = len(self.open_names)
        return order


@dataclass(frozen=True)
class FiscalCalendar:
    """A fiscal year that starts in ``start_month`` (1-12).

    Fiscal years are named by the calendar year in which they end, as most
    companies do (FY2027 with a February start runs Feb 2026 - Jan 2027).

    Examples
    --------
    >>> FiscalCalendar(2).fiscal_year(pd.Timestamp("2026-03-01"))
    2027
    """

    start_month: int = 1

    def __post_init__(self) -> None:
        if not 1 <= int(self.start_month) <= 12:
            raise ConfigError(
                f"fiscal_year_start_month is {self.start_month!r}. Fix: use a month number from 1 to 12."
            )

    def fiscal_year(self, when: pd.Timestamp) -> int:
        when = pd.Timestamp(when)
        return when.year + (1 if self.start_month > 1 and when.month >= self.start_month else 0)

    def period_label(self, when: Any, freq: Literal["M", "Q", "Y"]) -> str:
        """The fiscal month, quarter or year holding one date (as :meth:`period_of` labels it).

        Examples
        --------
        >>> FiscalCalendar(2).period_label(pd.Timestamp("2026-03-01"), "Q")
        'FY2027-Q1'
        """
        d = pd.Timestamp(when)
        if freq == "M":
            return f"{d.year:04d}-{d.month:02d}"
        fy = d.year + (1 if self.start_month > 1 and d.month >= self.start_month else 0)
        if freq == "Y":
            return f"FY{fy}"
        return f"FY{fy}-Q{(d.month - self.start_month) % 12 // 3 + 1}"

    def period_of(self, dates: pd.Series, freq: Literal["M", "Q", "Y"]) -> pd.Series:
        """Label each date with its fiscal month, quarter or year (vectorised).

        Months are ``"2026-03"``; quarters ``"FY2026-Q1"``; years ``"FY2026"``.
        """
        d = pd.to_datetime(dates)
        if freq == "M":
            return d.dt.strftime("%Y-%m")
        shifted = (d.dt.month - self.start_month) % 12
        fy = d.dt.year + ((self.start_month > 1) & (d.dt.month >= self.start_month)).astype(int)
        if freq == "Y":
            return "FY" + fy.astype(str)
        q = shifted // 3 + 1
        return "FY" + fy.astype(str) + "-Q" + q.astype(str)

    def period_bounds(self, label: str) -> tuple[pd.Timestamp, pd.Timestamp]:
        """First and last day of a period label (``"2026-03"``, ``"FY2026-Q2"``, ``"FY2026"``).

        Examples
        --------
        >>> FiscalCalendar(1).period_bounds("FY2026-Q2")
        (Timestamp('2026-04-01 00:00:00'), Timestamp('2026-06-30 00:00:00'))
        """
        try:
            if label.startswith("FY"):
                fy, _, q = label[2:].partition("-Q")
                fy = int(fy)
                first_year = fy - (1 if self.start_month > 1 else 0)
                start = pd.Timestamp(year=first_year, month=self.start_month, day=1)
                if q:
                    qn = int(q)
                    if not 1 <= qn <= 4:
                        raise ValueError
                    start = start + pd.DateOffset(months=3 * (qn - 1))
                    end = start + pd.DateOffset(months=3) - pd.Timedelta(days=1)
                else:
                    end = start + pd.DateOffset(years=1) - pd.Timedelta(days=1)
                return start, end
            start = pd.Timestamp(label + "-01") if len(label) == 7 else None
            if start is None:
                raise ValueError
            return start, start + pd.DateOffset(months=1) - pd.Timedelta(days=1)
        except ValueError:
            msg = (
                f"Period {label!r} is not understood. Fix: write a month as '2026-03', "
                "a fiscal quarter as 'FY2026-Q2' or a fiscal year as 'FY2026'."
            )
            raise ConfigError(msg) from None


@dataclass(frozen=True)
class Config:
    """Everything configurable: currency, stages, fiscal calendar and hygiene thresholds."""

    stages: StageCatalogue
    calendar: FiscalCalendar = field(default_factory=FiscalCalendar)
    currency: str = "USD"
    stale_after_days: int = 30
    old_age_multiple: float = 1.5
    as_of: pd.Timestamp | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def with_stages(self, stages: list[dict[str, Any]]) -> Config:
        return replace(self, stages=_stages_from(stages, "profile"))


def _stages_from(raw: list[dict[str, Any]], where: str) -> StageCatalogue:
    try:
        return StageCatalogue(
            tuple(
                Stage(str(s["name"]), s.get("kind", "open"), float(s.get("probability", 0.0)))
                for s in raw
            )
        )
    except KeyError as exc:
        msg = f"A [[stages]] entry in {where} has no {exc.args[0]!r}. Fix: give every stage a name."
        raise ConfigError(msg) from None
    except (TypeError, ValueError) as exc:
        msg = f"The [[stages]] of {where} are malformed ({exc}). Fix: see the [[stages]] of docs/data-model.md."
        raise ConfigError(msg) from None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        msg = (f"{path}, line {line}: is not UTF-8 text (byte {data[exc.start]:#04x}). Fix: save "
               "it as UTF-8 (TOML files always are), e.g. with 'Save as' and encoding UTF-8.")  # fmt: skip
        raise ConfigError(msg) from None
    except OSError as exc:
        denied = isinstance(exc, PermissionError)
        fix = "give your user read access to it" if denied else "check that it is a readable file"
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}). Fix: {fix}.") from None


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a :class:`ConfigError` naming the file, line and column if it is
    not valid TOML, or if it cannot be read."""
    return parse_toml(_read_text(Path(path)), str(path))


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a ``salesnb.toml`` and check it against the schema (``config_schema.toml``).

    Raises one :class:`ConfigError` listing every problem: a syntax error, or each unknown
    key (with the closest valid one), wrong type and out-of-range value, with its line and
    column in the file.
    """
    return check_file_text(_read_text(Path(path)), str(path))


def _as_of(value: Any, where: str) -> pd.Timestamp:
    """The ``as_of`` key as a timestamp; a :class:`ConfigError` naming the key, the file and
    the value when it is not a date (a TOML date, or text such as ``"2024-03-31"``)."""
    from salesnb.core.dates import to_day  # a UTC offset or a time of day is dropped

    when = to_day(value) if isinstance(value, str | date) else pd.NaT
    if pd.isna(when):
        msg = (
            f"{where}: as_of = {value!r} is not a date. Fix: write it as YYYY-MM-DD, e.g. "
            "as_of = 2024-03-31 (a TOML date, no quotes needed), or remove the key to use "
            "the data's latest date."
        )
        raise ConfigError(msg)
    return when


def load_config(
    folder: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    base: dict[str, Any] | None = None,
    base_source: str = "the import profile",
) -> Config:
    """Load the default configuration, overridden by ``base``, ``folder/salesnb.toml`` and
    ``overrides``, in that order.

    Each layer is checked against the schema (``config_schema.toml``) first: an unknown
    key, a value of the wrong type or out of range raises one :class:`ConfigError` listing
    every problem of that layer, naming the file (with line and column) or the layer.

    Parameters
    ----------
    folder : path, optional
        A data folder; its ``salesnb.toml`` (if any) overrides the defaults.
    overrides : dict, optional
        Keys in the same shape as the TOML file.
    base : dict, optional
        Keys an import profile sets (``stages``, ``currency``), below the folder's file.
    base_source : str
        How messages name ``base``.

    Examples
    --------
    >>> load_config().calendar.start_month
    1
    """
    raw = tomllib.loads(
        resources.files("salesnb.data").joinpath("defaults.toml").read_text("utf-8")
    )
    where = as_of_where = "salesnb defaults"
    if base:
        raise_config_problems(check_config(base), base_source)
        raw = _merge(raw, base)
        where = base_source
    if folder is not None:
        local = Path(folder) / "salesnb.toml"
        try:
            present = local.is_file()
        except OSError as exc:  # a folder that cannot be searched
            msg = (f"{local}: cannot be read ({exc.strerror}). Fix: give your user read and "
                   f"search access to {str(folder)!r}.")  # fmt: skip
            raise ConfigError(msg) from None
        if not present and os.path.lexists(local):  # a folder, a pipe, a link to nothing
            what = "a folder" if local.is_dir() else (
                "a symbolic link to a file that does not exist" if local.is_symlink()
                else "not a regular file"
            )  # fmt: skip
            msg = (f"{local}: is {what}, so the configuration cannot be read from it. Fix: "
                   "make salesnb.toml a regular text file, or remove it to use the defaults.")  # fmt: skip
            raise ConfigError(msg)
        if present:
            raw = _merge(raw, read_config_file(local))
            where = as_of_where = str(local)
    if overrides:
        raise_config_problems(check_config(overrides), "the configuration overrides")
        if "as_of" in overrides and overrides["as_of"] != raw.get("as_of"):
            as_of_where = "the configuration overrides"
        raw = _merge(raw, overrides)
    cal = raw.get("calendar", {})
    hyg = raw.get("hygiene", {})
    as_of = raw.get("as_of")
    known = {"currency", "calendar", "hygiene", "stages", "as_of"}  # the rest go to extra
    return Config(
        stages=_stages_from(raw["stages"], where),
        calendar=FiscalCalendar(int(cal.get("fiscal_year_start_month", 1))),
        currency=str(raw.get("currency", "USD")),
        stale_after_days=int(hyg.get("stale_after_days", 30)),
        old_age_multiple=float(hyg.get("old_age_multiple", 1.5)),
        as_of=_as_of(as_of, as_of_where) if as_of is not None else None,
        extra={k: v for k, v in raw.items() if k not in known},
    )

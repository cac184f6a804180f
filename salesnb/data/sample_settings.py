"""What shapes the sample data set: :class:`SampleSettings`, checked, and read from or written to
``generator.toml`` beside the data.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any

from salesnb.core.errors import ParameterError
from salesnb.data.sample_names import rep_ids

#: Rep ids of the situations built into the default sample (see docs/sample-data.md).
PERSONAS: dict[str, Any] = {
    "star": "R07",
    "new_hires": ("R16", "R26"),
    "under_performers": ("R04", "R19"),
    "empty_pipeline": "R28",
    "typical": "R27",
}


@dataclass(frozen=True)
class SampleSettings:
    """Every knob of the sample generator; ``generator.toml`` records them all.

    Per-team tuples are indexed like ``team_labels`` (each region's managers lead teams
    labelled in that order). Amounts are in ``currency``; durations in days or months.

    Examples
    --------
    >>> SampleSettings().n_reps, SampleSettings(months=24).months
    (30, 24)
    """

    as_of: date = date(2026, 9, 30)
    months: int = 36
    n_reps: int = 30
    regions: tuple[str, ...] = ("North America East", "North America West", "EMEA")
    managers_per_region: int = 2
    team_labels: tuple[str, ...] = ("Enterprise", "Mid-Market")
    closes_per_month: tuple[float, ...] = (9.0, 12.0)  # closed deals per rep-month at full ramp
    deal_size_median: tuple[float, ...] = (22000.0, 9500.0)  # list price median (currency)
    cycle_median_days: tuple[float, ...] = (70.0, 40.0)  # created -> won (days)
    seasonality: tuple[float, ...] = (
        0.85,
        0.9,
        1.1,
        0.95,
        1.0,
        1.1,
        0.65,
        0.6,
        1.05,
        1.1,
        1.3,
        1.8,
    )  # close-rate multiplier by calendar month, Jan..Dec
    annual_growth: float = 0.08
    skill_spread: float = 0.35  # standard deviation of rep skill (logit scale)
    stage_conversion: tuple[float, ...] = (0.82, 0.75, 0.70, 0.75, 0.82)  # stage k -> k+1
    products: tuple[str, ...] = (
        "Core Platform",
        "Analytics Add-on",
        "Integration Hub",
        "Premium Support",
        "Enterprise Suite",
    )
    product_mix: tuple[float, ...] = (0.40, 0.20, 0.15, 0.12, 0.13)
    product_price: tuple[float, ...] = (1.0, 0.5, 0.7, 0.3, 2.0)  # x the rep's deal size
    sources: tuple[str, ...] = ("inbound", "outbound", "partner", "referral")
    source_mix: tuple[float, ...] = (0.35, 0.35, 0.15, 0.15)
    source_win_odds: tuple[float, ...] = (1.0, 0.75, 1.15, 1.5)
    ramp_months: int = 5  # months until a new rep closes at full rate
    quota_ramp_months: int = 4  # months of ramped quota (25%, 50%, 75%, then 100%)
    team_attainment: float = 0.97  # quota is set so typical reps reach this on average
    target_months_ahead: int = 3  # targets also cover this many months after as_of
    snapshot_weeks: int = 27  # weekly pipeline snapshots, every Monday up to as_of
    accounts_per_rep: int = 55
    stale_deals_per_rep: float = 2.5  # open deals untouched for 35+ days (doubled for weak reps)
    past_due_share: float = 0.04  # share of live open deals whose close date was not updated
    empty_pipeline_days: int = 120  # the empty-pipeline rep created no deal since then
    star: str = "R07"
    new_hires: tuple[str, ...] = ("R16", "R26")
    new_hire_start_days_ago: tuple[int, ...] = (177, 142)
    under_performers: tuple[str, ...] = ("R04", "R19")
    empty_pipeline: str = "R28"
    typical: str = "R27"
    currency: str = "USD"


def check_settings(s: SampleSettings) -> None:
    def bad(what: str, fix: str) -> ParameterError:
        return ParameterError(f"Sample settings: {what}. Fix: {fix}")

    n_teams = len(s.team_labels)
    for name in ("closes_per_month", "deal_size_median", "cycle_median_days"):
        if len(getattr(s, name)) != n_teams:
            raise bad(
                f"{name} has {len(getattr(s, name))} values for {n_teams} team labels",
                "give one value per entry of team_labels.",
            )
    pairs = (
        ("products", "product_mix"),
        ("products", "product_price"),
        ("sources", "source_mix"),
        ("sources", "source_win_odds"),
        ("new_hires", "new_hire_start_days_ago"),
    )
    for a, b in pairs:
        if len(getattr(s, a)) != len(getattr(s, b)):
            raise bad(
                f"{b} has {len(getattr(s, b))} values for {len(getattr(s, a))} {a}",
                f"give one value per entry of {a}.",
            )
    if len(s.seasonality) != 12 or min(s.seasonality) <= 0:
        raise bad(f"seasonality is {s.seasonality!r}", "give 12 positive numbers, Jan..Dec.")
    if len(s.stage_conversion) != 5 or not all(0 < p < 1 for p in s.stage_conversion):
        raise bad(
            f"stage_conversion is {s.stage_conversion!r}",
            "give 5 probabilities strictly between 0 and 1.",
        )
    if s.months < 12 or s.snapshot_weeks < 1:
        raise bad(
            f"months={s.months!r}, snapshot_weeks={s.snapshot_weeks!r}",
            "use at least 12 months of history and 1 snapshot.",
        )
    if (
        not s.regions
        or s.managers_per_region < 1
        or s.n_reps < len(s.regions) * max(s.managers_per_region, 2)
    ):
        raise bad(
            f"{s.n_reps!r} reps for {len(s.regions)} regions x {s.managers_per_region!r} managers",
            "use at least two reps per manager.",
        )
    ids = persona_ids(s)
    unknown = [p for p in ids if p not in set(rep_ids(s.n_reps))]
    if unknown or len(set(ids)) != len(ids):
        raise bad(
            f"persona rep ids {ids!r} are unknown or repeated (reps are "
            f"{rep_ids(s.n_reps)[0]}..{rep_ids(s.n_reps)[-1]})",
            "use distinct ids of existing reps for star, new_hires, under_performers, "
            "empty_pipeline and typical.",
        )
    if any(d < 30 or d > 360 for d in s.new_hire_start_days_ago):
        raise bad(
            f"new_hire_start_days_ago is {s.new_hire_start_days_ago!r}", "use 30 to 360 days."
        )


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return "[" + ", ".join(toml_value(x) for x in v) + "]"


def settings_toml(seed: int, settings: SampleSettings) -> str:
    """The ``generator.toml`` text recording ``seed`` and every setting.

    Examples
    --------
    >>> settings_toml(7, SampleSettings()).splitlines()[3]
    'seed = 7'
    """
    lines = [
        "# Written by salesnb.data.sample.write(); regenerating with these values gives the same bytes.",
        "# Regenerate: salesnb sample --out DIR --seed N, or salesnb.data.sample.write(DIR, *read_settings(",
        "# 'generator.toml')). Personas (star, new hires, ...) are documented in docs/sample-data.md.",
        f"seed = {int(seed)}",
        "",
        "[settings]",
    ]
    lines += [f"{f.name} = {toml_value(getattr(settings, f.name))}" for f in fields(settings)]
    return "\n".join(lines) + "\n"


def read_settings(path: str | Path) -> tuple[int, SampleSettings]:
    """Read a ``generator.toml``: the seed and the :class:`SampleSettings` it records.

    Examples
    --------
    >>> seed, settings = read_settings("data/sample/generator.toml")  # doctest: +SKIP
    >>> write("/tmp/again", seed, settings)  # doctest: +SKIP
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        msg = f"{path}: cannot be read as TOML ({exc}). Fix: point at a generator.toml."
        raise ParameterError(msg) from None
    known = {f.name: f for f in fields(SampleSettings)}
    values = raw.get("settings", {})
    unknown = sorted(set(values) - set(known))
    if unknown or not isinstance(raw.get("seed", 2026), int):
        msg = (
            f"{path}: unknown settings {unknown!r} or a non-integer seed. "
            f"Fix: use the keys {sorted(known)!r} under [settings] and an integer seed."
        )
        raise ParameterError(msg)
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return int(raw.get("seed", 2026)), SampleSettings(**kw)


def persona_ids(s: SampleSettings) -> list[str]:
    return [s.star, *s.new_hires, *s.under_performers, s.empty_pipeline, s.typical]

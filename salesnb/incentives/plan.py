"""Incentive plans as data: a TOML file parsed and checked into frozen dataclasses.

A plan names roles (on-target earnings, base/variable split, a commission curve by quota
attainment, kickers, crediting weights, a new-hire ramp and draw), assigns them to reps by
rep, team, region or everyone (effective-dated), and adds SPIFs, manager overrides, split
credit and clawbacks. docs/incentives.md explains every key with a worked example.

Every problem of a plan file is collected and raised as one :class:`salesnb.core.errors.ConfigError`
that lists each cause on its own line, naming the file, the key and the fix.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from salesnb.core.errors import ConfigError
from salesnb.data.config import read_toml

#: Quota and payout periods a plan may use, with their length in months.
PERIODS = {"month": 1, "quarter": 3, "year": 12}


@dataclass(frozen=True)
class Band:
    """One band of the commission curve: from ``start`` attainment (a fraction, 1.0 = 100 %)
    up to the next band's start, each unit of bookings pays ``rate`` times the base
    commission rate (target incentive / quota)."""

    start: float
    rate: float


@dataclass(frozen=True)
class Kicker:
    """A fixed bonus ``amount`` (currency) paid once in a period when attainment reaches ``at``."""

    at: float
    amount: float


@dataclass(frozen=True)
class Crediting:
    """How a closed-won deal's amount becomes credited bookings: weight by product (products
    not listed weigh ``other_products``) and by new versus existing account."""

    products: tuple[tuple[str, float], ...] = ()
    other_products: float = 1.0
    new_account: float = 1.0
    existing_account: float = 1.0

    def product_weight(self, product: str) -> float:
        """The weight of a deal of ``product`` (a fraction of its amount).

        Examples
        --------
        >>> Crediting(products=(("Support", 0.5),)).product_weight("Support")
        0.5
        """
        return dict(self.products).get(product, self.other_products)


@dataclass(frozen=True)
class Ramp:
    """New-hire ramp: for ``months`` months from the start month, quota is the targets
    table's times ``quota[i]`` (none: the targets table is already ramped) and a draw of
    ``draw`` a month is guaranteed; a ``recoverable`` draw is paid back from later earnings."""

    months: int = 0
    quota: tuple[float, ...] = ()
    draw: float = 0.0
    recoverable: bool = False


@dataclass(frozen=True)
class Role:
    """A role's pay: yearly ``ote`` (currency), ``variable_share`` of it at risk, the curve
    (``bands``), ``cap`` (most the curve pays in a period, times the target incentive; None:
    no cap), kickers, crediting and ramp."""

    name: str
    ote: float
    variable_share: float
    bands: tuple[Band, ...]
    cap: float | None = None
    kickers: tuple[Kicker, ...] = ()
    crediting: Crediting = Crediting()
    ramp: Ramp = Ramp()

    @property
    def variable(self) -> float:
        """Yearly variable pay at 100 % attainment (currency)."""
        return self.ote * self.variable_share

    @property
    def base(self) -> float:
        """Yearly base salary (currency)."""
        return self.ote - self.variable


@dataclass(frozen=True)
class Assignment:
    """Who a role applies to, from ``start`` to ``end`` (inclusive; None: open-ended).
    Exactly one of rep, team, region is set, or none for everyone. A rep's own assignment
    beats a team's, a team's beats a region's, a region's beats everyone's."""

    role: str
    rep: str | None = None
    team: str | None = None
    region: str | None = None
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None

    @property
    def level(self) -> int:
        """How specific it is: 3 rep, 2 team, 1 region, 0 everyone."""
        return 3 if self.rep else 2 if self.team else 1 if self.region else 0


@dataclass(frozen=True)
class Spif:
    """A bonus of ``amount`` per closed-won deal closed from ``start`` to ``end`` that meets
    the conditions (products, smallest amount, new accounts only, roles)."""

    name: str
    start: pd.Timestamp
    end: pd.Timestamp
    amount: float
    products: tuple[str, ...] = ()
    min_amount: float = 0.0
    new_account_only: bool = False
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Override:
    """Managers earn ``rate`` times their team's credited bookings (``managers`` empty: all)."""

    rate: float
    managers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Clawback:
    """A deal booked won and lost within ``within_days`` takes back the commission it earned."""

    within_days: int = 365


@dataclass(frozen=True)
class Plan:
    """An incentive plan: see :func:`parse_plan` and docs/incentives.md.

    Examples
    --------
    >>> plan = parse_plan(EXAMPLE)
    >>> plan.period, plan.roles["ae"].variable, plan.roles["ae"].bands[-1].rate
    ('quarter', 50000.0, 1.5)
    """

    name: str
    effective_from: pd.Timestamp
    effective_to: pd.Timestamp | None
    period: str
    roles: dict[str, Role]
    assignments: tuple[Assignment, ...]
    spifs: tuple[Spif, ...] = ()
    override: Override | None = None
    clawback: Clawback | None = None
    splits: pd.DataFrame | None = None
    currency: str | None = None
    source: str = "<plan>"

    @property
    def months(self) -> int:
        """Months in one quota period."""
        return PERIODS[self.period]


#: A small plan used by the examples and docs.
EXAMPLE = """
[plan]
name = "Example"
effective_from = 2026-01-01
period = "quarter"

[roles.ae]
ote = 100000
variable_share = 0.5
bands = [{ from = 0.0, rate = 0.5 }, { from = 0.5, rate = 1.0 }, { from = 1.0, rate = 1.5 }]
cap = 2.0

[[assign]]
role = "ae"
"""


# --------------------------------------------------------------------------- parsing
def _hint(word: str, options: list[str]) -> str:
    """`` Did you mean 'x'?`` for the closest option (case aside), or nothing."""
    lower = {o.lower(): o for o in options}
    close = difflib.get_close_matches(str(word).lower(), list(lower), n=1)
    return f" Did you mean {lower[close[0]]!r}?" if close else ""


class _Checker:
    """Collects every problem of one plan file; :meth:`done` raises them as one error."""

    def __init__(self, source: str):
        self.source = source
        self.problems: list[str] = []

    def bad(self, key: str, message: str, fix: str) -> None:
        self.problems.append(f"{self.source}: {key}: {message} Fix: {fix}")

    def done(self) -> None:
        if len(self.problems) == 1:
            raise ConfigError(self.problems[0])
        if self.problems:
            head = f"{len(self.problems)} problems in the incentive plan {self.source}:"
            raise ConfigError("\n".join([head] + [f"  - {p}" for p in self.problems]))

    def table(self, raw: Any, key: str, allowed: set[str], required: set[str] = frozenset()):
        if not isinstance(raw, dict):
            self.bad(key, f"is {raw!r}, not a table.", f"write it as [{key}] with keys.")
            return {}
        for k in sorted(set(raw) - allowed):
            hint = _hint(k, sorted(allowed))
            fix = f"use only {', '.join(sorted(allowed))} (see docs/incentives.md)."
            self.bad(f"{key}.{k}", f"unknown key.{hint}", fix)
        for k in sorted(required - set(raw)):
            self.bad(
                f"{key}.{k}", "is missing.", f"add {k} = ... to [{key}] (see docs/incentives.md)."
            )
        return raw

    def number(self, raw: dict, key: str, where: str, default: Any = None, low: float = 0.0,
               high: float | None = None, integer: bool = False) -> Any:  # fmt: skip
        if key not in raw:
            return default
        v = raw[key]
        kind = "a whole number" if integer else "a number"
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, float))
            or (integer and not isinstance(v, int))
        ):
            self.bad(f"{where}.{key}", f"is {v!r}, not {kind}.", f"write {key} = {kind}.")
            return default
        if math.isnan(v) or v < low or (high is not None and v > high):
            rng = f"from {low:g} to {high:g}" if high is not None else f"of at least {low:g}"
            self.bad(f"{where}.{key}", f"is {v!r}, out of range.", f"use {kind} {rng}.")
            return default
        return v if integer else float(v)

    def text(self, raw: dict, key: str, where: str, default: str | None = None) -> str | None:
        v = raw.get(key, default)
        if v is not None and (not isinstance(v, str) or not v.strip()):
            self.bad(f"{where}.{key}", f"is {v!r}, not a name.", f'write {key} = "..." (text).')
            return default
        return v

    def texts(self, raw: dict, key: str, where: str) -> tuple[str, ...]:
        v = raw.get(key, [])
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            self.bad(
                f"{where}.{key}",
                f"is {v!r}, not a list of names.",
                f'write {key} = ["...", "..."].',
            )
            return ()
        return tuple(v)

    def flag(self, raw: dict, key: str, where: str, default: bool = False) -> bool:
        v = raw.get(key, default)
        if not isinstance(v, bool):
            self.bad(
                f"{where}.{key}", f"is {v!r}, not true or false.", f"write {key} = true or false."
            )
            return default
        return v

    def date(self, raw: dict, key: str, where: str) -> pd.Timestamp | None:
        if key not in raw:
            return None
        v = raw[key]
        if isinstance(v, dt.datetime) or not isinstance(v, dt.date):
            self.bad(
                f"{where}.{key}", f"is {v!r}, not a date.", f"write {key} = 2026-01-01 (no quotes)."
            )
            return None
        return pd.Timestamp(v)


def _bands(c: _Checker, raw: Any, where: str) -> tuple[Band, ...]:
    if not isinstance(raw, list) or not raw:
        c.bad(where, f"is {raw!r}, not a list of bands.",
              "write bands = [{ from = 0.0, rate = 1.0 }, { from = 1.0, rate = 1.5 }].")  # fmt: skip
        return ()
    out = []
    for i, b in enumerate(raw):
        w = f"{where}[{i}]"
        b = c.table(b, w, {"from", "rate"}, {"from", "rate"})
        start, rate = c.number(b, "from", w), c.number(b, "rate", w)
        if start is not None and rate is not None:
            out.append(Band(start, rate))
    if len(out) == len(raw):
        if out[0].start != 0.0:
            c.bad(f"{where}[0].from", f"is {out[0].start!r}; the first band must start at 0.",
                  "start the first band at from = 0.0 (a rate of 0 pays nothing below a threshold).")  # fmt: skip
        for i in range(1, len(out)):
            if out[i].start <= out[i - 1].start:
                c.bad(f"{where}[{i}].from", f"is {out[i].start!r}, not above the band before "
                      f"({out[i - 1].start!r}).", "list the bands in increasing order of from.")  # fmt: skip
    return tuple(out)


def _role(c: _Checker, name: str, raw: Any) -> Role | None:
    w = f"roles.{name}"
    keys = {"ote", "variable_share", "bands", "cap", "kickers", "crediting", "ramp"}
    raw = c.table(raw, w, keys, {"ote", "variable_share", "bands"})
    ote = c.number(raw, "ote", w)
    share = c.number(raw, "variable_share", w, high=1.0)
    bands = _bands(c, raw["bands"], f"{w}.bands") if "bands" in raw else ()
    cap = c.number(raw, "cap", w)
    if cap is not None and cap <= 0:
        c.bad(f"{w}.cap", "is 0: the curve would pay nothing.", "remove cap, or set it above 0.")
    kickers = []
    kraw = raw.get("kickers", [])
    if not isinstance(kraw, list):
        c.bad(
            f"{w}.kickers",
            f"is {kraw!r}, not a list.",
            "write kickers = [{ at = 1.0, amount = 2000 }].",
        )
        kraw = []
    for i, k in enumerate(kraw):
        kw = f"{w}.kickers[{i}]"
        k = c.table(k, kw, {"at", "amount"}, {"at", "amount"})
        at, amount = c.number(k, "at", kw), c.number(k, "amount", kw)
        if at is not None and amount is not None:
            kickers.append(Kicker(at, amount))
    cr = c.table(raw.get("crediting", {}), f"{w}.crediting",
                 {"products", "other_products", "new_account", "existing_account"})  # fmt: skip
    products = cr.get("products", {})
    if not isinstance(products, dict):
        c.bad(f"{w}.crediting.products", f"is {products!r}, not a table of weights.",
              'write products = { "Core Platform" = 1.0, "Premium Support" = 0.5 }.')  # fmt: skip
        products = {}
    weights = tuple((p, c.number(products, p, f"{w}.crediting.products", 1.0)) for p in products)
    crediting = Crediting(
        products=weights,
        other_products=c.number(cr, "other_products", f"{w}.crediting", 1.0),
        new_account=c.number(cr, "new_account", f"{w}.crediting", 1.0),
        existing_account=c.number(cr, "existing_account", f"{w}.crediting", 1.0),
    )
    rr = c.table(raw.get("ramp", {}), f"{w}.ramp", {"months", "quota", "draw", "recoverable"})
    months = c.number(rr, "months", f"{w}.ramp", 0, integer=True)
    quota = rr.get("quota", [])
    ok = isinstance(quota, list) and all(
        isinstance(q, (int, float)) and not isinstance(q, bool) and 0 <= q <= 1 for q in quota
    )
    if not ok:
        c.bad(f"{w}.ramp.quota", f"is {quota!r}, not a list of fractions from 0 to 1.",
              "write quota = [0.25, 0.5, 0.75] (one per ramp month), or leave it out when "
              "the targets table is already ramped.")  # fmt: skip
        quota = []
    if quota and months != len(quota):
        c.bad(f"{w}.ramp.quota", f"lists {len(quota)} months but months = {months}.",
              f"give one fraction per ramp month, or set months = {len(quota)}.")  # fmt: skip
    ramp = Ramp(months, tuple(float(q) for q in quota), c.number(rr, "draw", f"{w}.ramp", 0.0),
                c.flag(rr, "recoverable", f"{w}.ramp"))  # fmt: skip
    if ramp.draw and not ramp.months:
        c.bad(f"{w}.ramp.draw", "is set but the ramp has no months.",
              "set months = the number of months the draw is paid.")  # fmt: skip
    if ote is None or share is None or not bands:
        return None
    return Role(name, ote, share, bands, cap, tuple(kickers), crediting, ramp)


def _assignments(c: _Checker, raw: Any, roles: dict) -> tuple[Assignment, ...]:
    if not isinstance(raw, list) or not raw:
        c.bad("assign", "no role is assigned to anyone.",
              'add [[assign]] with role = "..." and rep, team or region (or none: everyone).')  # fmt: skip
        return ()
    out = []
    for i, a in enumerate(raw):
        w = f"assign[{i}]"
        a = c.table(a, w, {"role", "rep", "team", "region", "from", "to"}, {"role"})
        role = c.text(a, "role", w)
        if role is not None and role not in roles:
            hint = _hint(role, sorted(roles))
            c.bad(f"{w}.role", f"names role {role!r}, which [roles] does not define.{hint}",
                  f"use one of {', '.join(sorted(roles)) or '(none defined)'}.")  # fmt: skip
        who = [k for k in ("rep", "team", "region") if k in a]
        if len(who) > 1:
            c.bad(w, f"sets both {who[0]} and {who[1]}.",
                  "write one [[assign]] per rep, team or region.")  # fmt: skip
        start, end = c.date(a, "from", w), c.date(a, "to", w)
        if start is not None and end is not None and end < start:
            c.bad(
                f"{w}.to", f"{end:%Y-%m-%d} is before from ({start:%Y-%m-%d}).", "swap the dates."
            )
        vals = {k: c.text(a, k, w) for k in ("rep", "team", "region")}
        if role is not None:
            out.append(Assignment(role, vals["rep"], vals["team"], vals["region"], start, end))
    return tuple(out)


def _spifs(c: _Checker, raw: Any, roles: dict) -> tuple[Spif, ...]:
    if not isinstance(raw, list):
        c.bad("spif", f"is {raw!r}, not a list.", "write each SPIF as a [[spif]] table.")
        return ()
    out = []
    keys = {"name", "from", "to", "amount", "products", "min_amount", "new_account_only", "roles"}
    for i, s in enumerate(raw):
        w = f"spif[{i}]"
        s = c.table(s, w, keys, {"name", "from", "to", "amount"})
        name, amount = c.text(s, "name", w), c.number(s, "amount", w)
        start, end = c.date(s, "from", w), c.date(s, "to", w)
        if start is not None and end is not None and end < start:
            c.bad(
                f"{w}.to", f"{end:%Y-%m-%d} is before from ({start:%Y-%m-%d}).", "swap the dates."
            )
        for r in c.texts(s, "roles", w):
            if r not in roles:
                c.bad(f"{w}.roles", f"names role {r!r}, which [roles] does not define.",
                      f"use roles from {', '.join(sorted(roles))}.")  # fmt: skip
        if None not in (name, amount, start, end):
            out.append(Spif(name, start, end, amount, c.texts(s, "products", w),
                            c.number(s, "min_amount", w, 0.0),
                            c.flag(s, "new_account_only", w), c.texts(s, "roles", w)))  # fmt: skip
    return tuple(out)


def _splits(c: _Checker, raw: Any, base: Path | None) -> pd.DataFrame | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        c.bad("plan.splits", f"is {raw!r}, not a file name.", 'write splits = "splits.csv".')
        return None
    path = Path(raw) if base is None or Path(raw).is_absolute() else base / raw
    try:
        df = pd.read_csv(path, dtype={"opp_id": str, "rep_id": str})
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or "not a readable CSV file"
        c.bad("plan.splits", f"{path} cannot be read ({reason}).",
              "point splits at a CSV file with columns opp_id, rep_id, share.")  # fmt: skip
        return None
    missing = [k for k in ("opp_id", "rep_id", "share") if k not in df.columns]
    if missing:
        c.bad("plan.splits", f"{path} has no column {missing[0]!r} (it has {list(df.columns)!r}).",
              "give the splits file the columns opp_id, rep_id, share.")  # fmt: skip
        return None
    share = pd.to_numeric(df["share"], errors="coerce")
    bad = df.index[share.isna() | (share <= 0) | (share > 1)]
    if len(bad):
        lines = ", ".join(str(i + 2) for i in bad[:5])
        c.bad("plan.splits", f"{path}, line {lines}: share is not a fraction above 0 and up to 1.",
              "write each rep's share as a fraction, e.g. 0.5.")  # fmt: skip
        return None
    total = share.groupby(df["opp_id"]).sum()
    off = total[(total - 1.0).abs() > 1e-6]
    if len(off):
        c.bad("plan.splits", f"{path}: the shares of deal {off.index[0]!r} add up to "
              f"{off.iloc[0]:g}, not 1 ({len(off)} deal(s) in all).",
              "make each deal's shares add up to 1.")  # fmt: skip
        return None
    return pd.DataFrame(
        {"opp_id": df["opp_id"], "rep_id": df["rep_id"], "share": share.astype(float)}
    )


def parse_plan(text: str, source: str = "<plan>", base: Path | None = None) -> Plan:
    """Parse and check a plan's TOML text; one :class:`ConfigError` lists every problem.

    Parameters
    ----------
    text : str
        The plan file's TOML.
    source : str
        The file name the messages name.
    base : Path, optional
        Folder a ``splits`` file is relative to.

    Examples
    --------
    >>> parse_plan(EXAMPLE).roles["ae"].cap
    2.0
    >>> parse_plan("[plan]")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    salesnb.core.errors.ConfigError: 4 problems in the incentive plan <plan>:...
    """
    from salesnb.data.config_schema import parse_toml

    return _build(parse_toml(text, source), source, base)


def _build(raw: dict[str, Any], source: str, base: Path | None) -> Plan:
    c = _Checker(source)
    top = c.table(raw, "(top)", {"plan", "roles", "assign", "spif", "override", "clawback"})
    p = c.table(top.get("plan", {}), "plan",
                {"name", "effective_from", "effective_to", "period", "currency", "splits"},
                {"effective_from", "period"})  # fmt: skip
    start, end = c.date(p, "effective_from", "plan"), c.date(p, "effective_to", "plan")
    if start is not None and end is not None and end < start:
        c.bad("plan.effective_to", f"{end:%Y-%m-%d} is before effective_from.", "swap the dates.")
    period = p.get("period", "quarter")
    if period not in PERIODS:
        c.bad("plan.period", f"is {period!r}.", 'use "month", "quarter" or "year".')
    rraw = top.get("roles", {})
    if not isinstance(rraw, dict) or not rraw:
        c.bad(
            "roles",
            "no role is defined.",
            "add a [roles.NAME] table with ote, variable_share and bands.",
        )
        rraw = {}
    roles = {name: _role(c, name, r) for name, r in rraw.items()}
    assignments = _assignments(c, top.get("assign"), roles)
    spifs = _spifs(c, top.get("spif", []), roles)
    override = None
    if "override" in top:
        o = c.table(top["override"], "override", {"rate", "managers"}, {"rate"})
        rate = c.number(o, "rate", "override", high=1.0)
        override = Override(rate, c.texts(o, "managers", "override")) if rate is not None else None
    clawback = None
    if "clawback" in top:
        cb = c.table(top["clawback"], "clawback", {"within_days"})
        clawback = Clawback(c.number(cb, "within_days", "clawback", 365, low=1, integer=True))
    splits = _splits(c, p.get("splits"), base)
    c.done()
    return Plan(
        name=str(p.get("name", source)), effective_from=start, effective_to=end, period=period,
        roles=roles, assignments=assignments, spifs=spifs, override=override,
        clawback=clawback, splits=splits, currency=p.get("currency"), source=source,
    )  # fmt: skip


def load_plan(path: str | Path) -> Plan:
    """Read and check a plan file (see :func:`parse_plan`); a splits file is relative to it.

    Examples
    --------
    >>> plan = load_plan("data/sample/incentive_plan.toml")  # doctest: +SKIP
    >>> sorted(plan.roles)  # doctest: +SKIP
    ['enterprise', 'mid_market']
    """
    path = Path(path)
    if not path.is_file():
        msg = f"{path}: no such plan file. Fix: pass the path of a plan .toml (see docs/incentives.md)."
        raise ConfigError(msg)
    return _build(read_toml(path), str(path), path.parent)


#: The file name of the sample team's plan beside the sample data (``salesnb sample`` writes it).
SAMPLE_PLAN = "incentive_plan.toml"


def write_sample_plan(out: str | Path) -> Path:
    """Write the sample team's incentive plan (two roles, ramping new hires) into ``out``.

    The plan ships with the package (``salesnb/incentives/sample_plan.toml``) and fits the
    sample data's teams and products; ``salesnb sample`` calls this after writing the data.

    Parameters
    ----------
    out : path
        Folder to write ``incentive_plan.toml`` into; it must exist.

    Returns
    -------
    Path
        The file written.

    Examples
    --------
    >>> write_sample_plan("/tmp/salesnb-sample").name  # doctest: +SKIP
    'incentive_plan.toml'
    """
    from importlib.resources import files

    text = files("salesnb.incentives").joinpath("sample_plan.toml").read_bytes()
    path = Path(out) / SAMPLE_PLAN
    path.write_bytes(text)
    return path

"""Plan design for sales leaders: move one role's knobs (the accelerator, the cap, the
decelerator threshold, the kicker), read what the plan will cost on the forecast, and write the
changed plan back as a plan file.

:func:`knobs` reads a role's knobs, :func:`redesign` moves them (one plain message per invalid
combination), :func:`figures` turns a simulated cost (:func:`salesnb.incentives.simulate.simulate_cost`)
into the figures the plan designer shows, and :func:`plan_to_toml` writes any plan as a TOML
file the plan loader reads back unchanged. The workshop app is
:mod:`salesnb.apps.plan_designer`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from salesnb.core.errors import ParameterError
from salesnb.incentives.curve import commission
from salesnb.incentives.plan import Band, Kicker, Plan, Role
from salesnb.incentives.simulate import PlanCost

__all__ = ["Knobs", "figures", "knobs", "pay_at_target", "plan_to_toml", "redesign"]


@dataclass(frozen=True)
class Knobs:
    """A role's knobs as the plan designer shows them.

    Attributes
    ----------
    accelerator : float
        Rate paid just above 100 % of quota, times the base rate (1.0: no accelerator).
    threshold : float or None
        Decelerator threshold (a fraction of quota): below it the curve pays less than from it;
        None: the role has no decelerator.
    cap : float or None
        Most the curve pays in a period, times the target incentive; None: no cap.
    kicker : float or None
        The amount of the role's first kicker (currency); None: the role has none.
    kicker_at : float or None
        Where that kicker is paid (a fraction of quota).
    """

    accelerator: float
    threshold: float | None
    cap: float | None
    kicker: float | None
    kicker_at: float | None


def knobs(role: Role) -> Knobs:
    """The knobs of a role as written.

    Examples
    --------
    >>> from salesnb.incentives.plan import EXAMPLE, parse_plan
    >>> knobs(parse_plan(EXAMPLE).roles["ae"])
    Knobs(accelerator=1.5, threshold=0.5, cap=2.0, kicker=None, kicker_at=None)
    """
    b = role.bands
    at_target = max(i for i, x in enumerate(b) if x.start <= 1.0)
    below = [i for i, x in enumerate(b) if x.start < 1.0]
    k = max(below)
    first = role.kickers[0] if role.kickers else None
    return Knobs(
        accelerator=b[at_target].rate,
        threshold=b[k].start if k >= 1 else None,
        cap=role.cap,
        kicker=first.amount if first else None,
        kicker_at=first.at if first else None,
    )


def pay_at_target(bands: tuple[Band, ...]) -> float:
    """What the curve pays at exactly 100 % of quota, times the target incentive (before any cap).

    Examples
    --------
    >>> pay_at_target((Band(0.0, 0.5), Band(0.5, 1.0), Band(1.0, 1.5)))
    0.75
    """
    starts = np.array([x.start for x in bands])
    rates = np.array([x.rate for x in bands])
    return float(commission(np.array(1.0), np.array(1.0), starts, rates, None))


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def redesign(plan: Plan, role: str, *, accelerator: float | None = None,
             threshold: float | None = None, cap: float | None | str = "keep",
             kicker: float | None = None) -> Plan:  # fmt: skip
    """The plan with one role's knobs moved; the other roles and everything else as written.

    Parameters
    ----------
    plan : Plan
        The plan as written (unchanged).
    role : str
        The role to change.
    accelerator : float, optional
        The rate just above 100 % of quota, times the base rate. The bands above it move by the
        same factor (the curve keeps its shape; rates rounded to 6 decimals, so the plan file
        reads well); a role with no band starting at 100 % gains one.
        None: as written.
    threshold : float, optional
        The decelerator threshold (a fraction of quota, below 1.0); 0 removes the decelerator.
        None: as written.
    cap : float, None or "keep"
        The most the curve pays in a period, times the target incentive; None: no cap.
    kicker : float, optional
        The amount of the role's first kicker (currency); None: as written.

    Returns
    -------
    Plan

    Raises
    ------
    ParameterError
        One plain message for an invalid combination: a threshold at or above 100 %, a cap
        below what the curve pays at 100 % of quota, a knob the role does not have.

    Examples
    --------
    >>> from salesnb.incentives.plan import EXAMPLE, parse_plan
    >>> p = redesign(parse_plan(EXAMPLE), "ae", accelerator=2.0, threshold=0.6, cap=None)
    >>> [(b.start, b.rate) for b in p.roles["ae"].bands], p.roles["ae"].cap
    ([(0.0, 0.5), (0.6, 1.0), (1.0, 2.0)], None)
    """
    if role not in plan.roles:
        raise ParameterError(
            f"The plan has no role {role!r}. Fix: pick one of {sorted(plan.roles)!r}."
        )
    r = plan.roles[role]
    now = knobs(r)
    bands = list(r.bands)
    if accelerator is not None and accelerator != now.accelerator:
        if not (math.isfinite(accelerator) and accelerator >= 0):
            raise ParameterError(f"The accelerator rate {accelerator!r} is not a number of 0 or "
                                 "more. Fix: use e.g. 1.5 (one and a half times the base rate).")  # fmt: skip
        old = now.accelerator
        factor = accelerator / old if old > 0 else 1.0
        if not any(b.start == 1.0 for b in bands):
            bands.append(Band(1.0, old))
            bands.sort(key=lambda b: b.start)
        bands = [
            b
            if b.start < 1.0
            else Band(b.start, accelerator if b.start == 1.0 else round(b.rate * factor, 6))
            for b in bands
        ]
    if threshold is not None and threshold != now.threshold:
        if not math.isfinite(threshold) or threshold < 0:
            raise ParameterError(f"The decelerator threshold {threshold!r} is not a share of "
                                 "quota. Fix: use e.g. 0.5 for 50% of quota.")  # fmt: skip
        if threshold >= 1.0:
            raise ParameterError(f"A decelerator threshold of {_pct(threshold)} is at or above "
                                 "100% of quota: reps would be paid less than the base rate all "
                                 "the way to their target. Fix: set it below 100%.")  # fmt: skip
        if now.threshold is None:
            if threshold > 0:
                raise ParameterError(f"The {role} role has no decelerator to move. Fix: leave "
                                     "the threshold at 0, or add a band below 100% to the plan "
                                     "file.")  # fmt: skip
        else:
            k = max(i for i, b in enumerate(bands) if b.start == now.threshold)
            prev = bands[k - 1].start
            if threshold <= prev and not (threshold == 0 and k == 1):
                raise ParameterError(f"A decelerator threshold of {_pct(threshold)} is not "
                                     f"above the band before it (from {_pct(prev)}). Fix: set "
                                     f"it above {_pct(prev)}, or edit the bands in the plan "
                                     "file.")  # fmt: skip
            if threshold == 0:  # no decelerator: the base rate from the first dollar
                bands = [Band(0.0, bands[k].rate)] + bands[k + 1 :]
            else:
                bands[k] = Band(threshold, bands[k].rate)
    kickers = list(r.kickers)
    if kicker is not None and kicker != now.kicker:
        if not kickers:
            raise ParameterError(f"The {role} role has no kicker to change. Fix: add "
                                 "kickers = [{ at = 1.0, amount = 1000 }] to the plan file.")  # fmt: skip
        if not (math.isfinite(kicker) and kicker >= 0):
            raise ParameterError(f"The kicker {kicker!r} is not an amount of 0 or more. "
                                 "Fix: use e.g. 1000.")  # fmt: skip
        kickers[0] = Kicker(kickers[0].at, float(kicker))
    new_cap = r.cap if cap == "keep" else cap
    if new_cap is not None and not (isinstance(new_cap, int | float) and math.isfinite(new_cap)
                                    and new_cap > 0):  # fmt: skip
        raise ParameterError(f"The cap {new_cap!r} is not a positive number. Fix: use e.g. 2.5 "
                             "(times the target incentive), or no cap.")  # fmt: skip
    new = replace(r, bands=tuple(bands), cap=None if new_cap is None else float(new_cap),
                  kickers=tuple(kickers))  # fmt: skip
    if new == r:
        return plan
    at_target = pay_at_target(new.bands)
    if new.cap is not None and new.cap < at_target - 1e-9:
        raise ParameterError(f"A cap of {new.cap:.2f}x the target incentive is below the "
                             f"{at_target:.2f}x the curve pays at 100% of quota: a rep who "
                             "reaches quota could not earn the pay the plan promises at target. "
                             f"Fix: set the cap to at least {at_target:.2f}, or no cap.")  # fmt: skip
    return replace(plan, roles={**plan.roles, role: new})


def figures(cost: PlanCost) -> dict[str, float]:
    """The plan designer's figures of one simulated cost; NaN where the data cannot say.

    ``reps`` (simulated), ``expected_cost``, ``p10``, ``p90`` (the total: reps' pay and
    managers' overrides, currency), ``expected_bookings``, ``cost_of_sales`` (expected cost /
    expected bookings), ``accelerator_reps`` (expected number of reps earning accelerator pay),
    ``accelerator_likely`` (reps with a chance of at least one in two) and ``share_target``
    (expected share of reps reaching 100 %).

    Examples
    --------
    >>> c = PlanCost("Q4", pd.DataFrame({"p_accelerator": [0.6, 0.2], "p_target": [0.7, 0.3]}),
    ...              pd.DataFrame(), np.array([10.0, 30.0]), np.array([100.0, 300.0]))
    >>> f = figures(c)
    >>> f["cost_of_sales"], f["accelerator_reps"], f["accelerator_likely"], f["share_target"]
    (0.1, 0.8, 1.0, 0.5)
    """
    s = cost.summary()
    n = len(cost.per_rep)
    nan = float("nan")
    acc = cost.per_rep["p_accelerator"] if n else pd.Series(dtype=float)
    return {
        "reps": float(n),
        "expected_cost": s["expected_cost"] if n else nan,
        "p10": s["p10"] if n else nan,
        "p90": s["p90"] if n else nan,
        "expected_bookings": s["expected_bookings"] if n else nan,
        "cost_of_sales": s["cost_of_sales"] if n else nan,
        "accelerator_reps": float(acc.sum()) if n else nan,
        "accelerator_likely": float((acc >= 0.5).sum()) if n else nan,
        "share_target": float(cost.per_rep["p_target"].mean()) if n else nan,
    }


# --------------------------------------------------------------------------- TOML
_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _s(text: str) -> str:
    """A TOML basic string."""
    return json.dumps(str(text), ensure_ascii=False).replace("\x7f", "\\u007f")


def _k(key: str) -> str:
    return key if _BARE.fullmatch(key) else _s(key)


def _n(x: float) -> str:
    return repr(float(x))


def _d(ts: pd.Timestamp) -> str:
    return f"{pd.Timestamp(ts):%Y-%m-%d}"


def _list(xs) -> str:
    return "[" + ", ".join(_s(x) for x in xs) + "]"


def plan_to_toml(plan: Plan, *, splits: str | None = None, header: str = "") -> str:
    """The plan as a plan file's TOML; :func:`salesnb.incentives.parse_plan` reads it back equal.

    Parameters
    ----------
    plan : Plan
    splits : str, optional
        The ``splits`` file name to write under ``[plan]`` (a plan keeps the file's rows, not
        its name); without it a plan with splits gets a comment asking for the name.
    header : str
        Comment lines to put on top (each written as ``# ...``).

    Examples
    --------
    >>> from salesnb.incentives.plan import EXAMPLE, parse_plan
    >>> p = parse_plan(EXAMPLE)
    >>> parse_plan(plan_to_toml(p)) == p
    True
    """
    out = [f"# {line}".rstrip() for line in header.splitlines()]
    out += ["[plan]", f"name = {_s(plan.name)}", f"effective_from = {_d(plan.effective_from)}"]
    if plan.effective_to is not None:
        out.append(f"effective_to = {_d(plan.effective_to)}")
    out.append(f"period = {_s(plan.period)}")
    if plan.currency is not None:
        out.append(f"currency = {_s(plan.currency)}")
    if splits is not None:
        out.append(f"splits = {_s(splits)}")
    elif plan.splits is not None:
        out.append('# This plan splits shared deals: add splits = "your-splits.csv" here.')
    for name, r in plan.roles.items():
        w = f"roles.{_k(name)}"
        bands = ", ".join(f"{{ from = {_n(b.start)}, rate = {_n(b.rate)} }}" for b in r.bands)
        out += ["", f"[{w}]", f"ote = {_n(r.ote)}", f"variable_share = {_n(r.variable_share)}",
                f"bands = [{bands}]"]  # fmt: skip
        if r.cap is not None:
            out.append(f"cap = {_n(r.cap)}")
        if r.kickers:
            ks = ", ".join(f"{{ at = {_n(k.at)}, amount = {_n(k.amount)} }}" for k in r.kickers)
            out.append(f"kickers = [{ks}]")
        c = r.crediting
        out += ["", f"[{w}.crediting]"]
        if c.products:
            items = ", ".join(f"{_s(p)} = {_n(v)}" for p, v in c.products)
            out.append(f"products = {{ {items} }}")
        out += [f"other_products = {_n(c.other_products)}", f"new_account = {_n(c.new_account)}",
                f"existing_account = {_n(c.existing_account)}"]  # fmt: skip
        if r.ramp.months or r.ramp.draw:
            ramp = r.ramp
            out += ["", f"[{w}.ramp]", f"months = {int(ramp.months)}"]
            if ramp.quota:
                out.append(f"quota = [{', '.join(_n(q) for q in ramp.quota)}]")
            out += [f"draw = {_n(ramp.draw)}", f"recoverable = {str(ramp.recoverable).lower()}"]
    for a in plan.assignments:
        out += ["", "[[assign]]", f"role = {_s(a.role)}"]
        out += [f"{k} = {_s(v)}" for k, v in (("rep", a.rep), ("team", a.team),
                                             ("region", a.region)) if v is not None]  # fmt: skip
        out += [f"{k} = {_d(v)}" for k, v in (("from", a.start), ("to", a.end)) if v is not None]
    for s in plan.spifs:
        out += ["", "[[spif]]", f"name = {_s(s.name)}", f"from = {_d(s.start)}",
                f"to = {_d(s.end)}", f"amount = {_n(s.amount)}", f"products = {_list(s.products)}",
                f"min_amount = {_n(s.min_amount)}",
                f"new_account_only = {str(s.new_account_only).lower()}",
                f"roles = {_list(s.roles)}"]  # fmt: skip
    if plan.override is not None:
        out += ["", "[override]", f"rate = {_n(plan.override.rate)}",
                f"managers = {_list(plan.override.managers)}"]  # fmt: skip
    if plan.clawback is not None:
        out += ["", "[clawback]", f"within_days = {int(plan.clawback.within_days)}"]
    return "\n".join(out) + "\n"

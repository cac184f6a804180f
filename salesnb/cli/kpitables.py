"""The tables of ``salesnb kpis DATA --table NAME``: the channel, product, customer, renewal and
loss-reason KPIs of :mod:`salesnb.analytics.dimensions` and :mod:`salesnb.analytics.accounts`.

Nothing here computes a figure: each table calls its analytics function with the command's
``--by`` and ``--period`` (where the function takes them) and prints the function's own
figures with the kit's one formatter (:func:`salesnb.analytics.coaching_facts.format_value`).
When the data cannot give a table (no survey responses, no loss reasons, no renewal deals),
:func:`compute` returns one plain sentence saying why and which data would give it.

This module imports pandas and the analytics only when a table is computed, so the command
line stays quick to start.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from salesnb.core.errors import ParameterError

#: The names ``--table`` accepts; ``scorecard`` is the KPI scorecard of ``salesnb kpis``.
TABLE_NAMES = ("scorecard", "channels", "products", "retention", "acquisition", "satisfaction",
               "attach", "renewals", "loss-reasons")  # fmt: skip

_ORG = ("rep", "region", "manager", "team")
_DEAL = ("product", "source", "channel")
_ACCOUNT = ("segment", "industry", "size", "country")
#: Headers of group columns, in words.
_KEY_HEADERS = {"rep_id": "rep", "source": "channel", "kind": "survey",
                "loss_reason": "loss reason", "with_product": "with product"}  # fmt: skip


@dataclass(frozen=True)
class _Spec:
    title: str  # what the table is, in words
    function: str  # "module:function" of salesnb.analytics
    rows: tuple[str, ...]  # the function's own row columns, after the --by columns
    columns: tuple[tuple[str, str, str], ...]  # column, header, unit of format_value
    by: tuple[str, ...]  # the --by names that group it
    own: tuple[str, ...] = ()  # --by names that are the table's rows already
    windowed: bool = True  # takes --period
    default_by: str | None = None
    empty: str = "Nothing to show for {period}."
    counts: tuple[str, ...] = ()  # all zero: nothing happened in the window (``empty``)


_MONEY, _PCT, _N = "currency", "percent", "count"
_CUSTOMER_BY = (*_ORG, *_ACCOUNT)
_DEAL_BY = (*_ORG, *_DEAL, *_ACCOUNT)

_SPECS = {
    "channels": _Spec(
        "Channel efficiency", "dimensions:channel_efficiency", ("source",),
        (("bookings", "bookings", _MONEY), ("bookings_share", "share of bookings", _PCT),
         ("won_deals", "won", _N), ("lost_deals", "lost", _N), ("win_rate", "win rate", _PCT),
         ("median_cycle_days", "sales cycle", "days"), ("avg_deal_size", "avg deal", _MONEY)),
        _DEAL_BY, own=("source", "channel"), counts=("won_deals", "lost_deals"),
        empty="No deal closed in {period}, so channel efficiency is not known for it.",
    ),
    "products": _Spec(
        "Product mix", "dimensions:product_mix", ("product",),
        (("won_deals", "won", _N), ("bookings", "bookings", _MONEY),
         ("bookings_share", "share of bookings", _PCT), ("pipeline", "pipeline", _MONEY),
         ("pipeline_share", "share of pipeline", _PCT)),
        _DEAL_BY, own=("product",), counts=("won_deals", "pipeline"),
        empty="No deal was won in {period} and none is open and due in it, so there is no "
              "product mix.",
    ),
    "retention": _Spec(
        "Customer retention", "dimensions:retention", (),
        (("customers_last", "customers", _N), ("retained", "retained", _N),
         ("lapsed", "lapsed", _N), ("retention_rate", "retention rate", _PCT),
         ("revenue_last", "revenue last year", _MONEY),
         ("revenue_retained", "revenue this year", _MONEY),
         ("revenue_retention", "revenue retention", _PCT),
         ("first_buyers_last", "first buyers", _N), ("bought_again", "bought again", _N),
         ("repeat_rate", "repeat rate", _PCT)),
        _CUSTOMER_BY, windowed=False,
    ),
    "acquisition": _Spec(
        "New customers", "dimensions:acquisition", (),
        (("new_accounts", "new customers", _N), ("new_bookings", "their bookings", _MONEY),
         ("won_accounts", "customers who bought", _N), ("new_share", "new share", _PCT)),
        _CUSTOMER_BY, default_by="segment",
        empty="No customer bought in {period}, so there are no new customers to count.",
    ),
    "satisfaction": _Spec(
        "Customer satisfaction", "dimensions:satisfaction_summary", ("kind",),
        (("responses", "responses", _N), ("reading", "reading", "text")),
        _CUSTOMER_BY, default_by="rep",
        empty="No survey response is dated in {period}, so satisfaction is not known for it.",
    ),
    "attach": _Spec(
        "Product attach", "accounts:attach_rates", ("product",),
        (("customers", "customers", _N), ("buyers", "buyers", _N),
         ("attached", "bought another too", _N), ("attach_rate", "attach rate", _PCT)),
        _CUSTOMER_BY, own=("product",),
        empty="No customer bought a product in {period}, so there is no attach rate.",
    ),
    "renewals": _Spec(
        "Renewals and churned accounts", "accounts:renewals", (),
        (("renewals_due", "due", _N), ("due_value", "due value", _MONEY),
         ("renewed", "renewed", _N), ("renewed_value", "renewed value", _MONEY),
         ("churned", "churned", _N), ("churned_value", "churned value", _MONEY),
         ("churned_accounts", "churned accounts", _N), ("open_renewals", "open", _N),
         ("open_value", "open value", _MONEY), ("renewal_rate", "renewal rate", _PCT),
         ("value_renewal_rate", "value renewal rate", _PCT)),
        _DEAL_BY,
    ),
    "loss-reasons": _Spec(
        "Loss reasons", "accounts:loss_reasons", ("loss_reason",),
        (("lost_deals", "lost deals", _N), ("lost_value", "lost value", _MONEY),
         ("share", "share", _PCT), ("value_share", "value share", _PCT)),
        _DEAL_BY, empty="No deal was lost in {period}, so there are no loss reasons.",
    ),
}  # fmt: skip


@dataclass
class KpiTable:
    """One table of ``salesnb kpis --table``, or the sentence saying why it cannot be given.

    ``frame`` is the analytics function's own table (plus a ``period`` column after the
    groups when the table has a window); ``keys`` its group columns; ``reason`` is None,
    or a plain sentence when the data cannot give the table (``frame`` is then None).
    ``pairs`` (attach only) is :func:`salesnb.analytics.accounts.attach_matrix`'s table of the
    same window and groups, printed below the rates (the CSV holds the rates).
    """

    name: str
    title: str
    frame: Any = None
    keys: tuple[str, ...] = ()
    reason: str | None = None
    note: str | None = None
    pairs: Any = None
    period: str | None = None


def _items(by: str | None) -> list[str]:
    return [] if by is None else [s.strip() for s in by.split(",") if s.strip()]


def _check_by(name: str, spec: _Spec, items: list[str]) -> None:
    """A ParameterError naming ``--by`` and the fix when a grouping does not apply."""
    fix_list = ", ".join([*(b for b in spec.by if b not in spec.own), "all"])
    for item in items:
        if item in spec.own:
            what = "channels" if item in ("source", "channel") else f"{item}s"
            raise ParameterError(
                f"--by {item} does not apply to --table {name}: the {what} are the table's "
                f"rows already. Fix: group by another dimension ({fix_list}), or leave --by "
                "out for the whole team."
            )
        if item in _DEAL and item not in spec.by:
            raise ParameterError(
                f"--by {item} does not apply to --table {name}: it counts customers "
                f"(accounts), and a {item} belongs to a deal, not to a customer. Fix: use "
                f"--by with one of {fix_list}."
            )


def _unavailable(name: str, wb: Any) -> str | None:
    """Why the data cannot give table ``name`` at all (a plain sentence), or None."""
    o = wb.opportunities

    def blank(col: str, deals=o) -> bool:
        if col not in deals.columns:
            return True
        text = deals[col].astype(object).where(deals[col].notna(), "").astype(str).str.strip()
        return bool((text == "").all())

    profile = "in the import profile (docs/profiles.md)"
    if name == "channels" and blank("source"):
        return ("Channel efficiency is not known: no deal has a lead source. To see it, map "
                f"the export's lead source column to 'source' {profile}.")  # fmt: skip
    if name in ("products", "attach") and blank("product"):
        what = "Product mix" if name == "products" else "Product attach"
        return (f"{what} is not known: no deal names its product. To see it, map the "
                f"export's product column to 'product' {profile}.")  # fmt: skip
    if name in ("retention", "acquisition", "attach") and blank("account"):
        what = {"retention": "Customer retention", "acquisition": "New-customer acquisition",
                "attach": "Product attach"}[name]  # fmt: skip
        return (f"{what} is not known: no deal names its customer account. To see it, map "
                f"the export's account column to 'account' {profile}.")  # fmt: skip
    if name == "satisfaction" and wb.satisfaction.empty:
        return ("Customer satisfaction is not known: the data has no survey responses. To see "
                "it, add satisfaction.csv (account, date, score, kind: csat or nps; "
                "docs/dimensions.md).")  # fmt: skip
    lost = o[o["outcome"] == "lost"]
    if name == "loss-reasons" and len(lost) and blank("loss_reason", lost):
        return ("Loss reasons are not known: no lost deal carries a loss reason. To see them, "
                "map the CRM's loss reason field (Salesforce 'Loss Reason', HubSpot 'Closed "
                "Lost Reason') to 'loss_reason' in the import profile (docs/dimensions.md).")  # fmt: skip
    return None


def compute(wb: Any, name: str, by: str | None = None, period: str | None = None) -> KpiTable:
    """Table ``name`` of :data:`TABLE_NAMES` (not the scorecard) for a workbook.

    Parameters
    ----------
    wb : salesnb.data.model.Workbook
        The loaded data.
    name : str
        One of :data:`TABLE_NAMES` other than ``"scorecard"``.
    by : str, optional
        ``--by``: dimensions, comma-separated; ``"all"`` or None for the table's default
        (the whole team; reps for satisfaction, segments for acquisition).
    period : str, optional
        ``--period`` (``"FY2026-Q3"``, ``"2026-09"``, ``"FY2026"``); default the quarter
        holding the as-of date. Retention has its own window and refuses a period.

    Returns
    -------
    KpiTable
        The function's table, or ``reason``: why the data cannot give it.

    Raises
    ------
    ParameterError
        An unknown table, a ``--by`` that does not apply, or a ``--period`` for retention.

    Examples
    --------
    >>> import salesnb
    >>> t = compute(salesnb.load("data/sample"), "loss-reasons", period="FY2026-Q3")
    >>> t.title, list(t.keys), int(t.frame["lost_deals"].sum())
    ('Loss reasons FY2026-Q3', ['loss_reason'], 529)
    """
    if name not in _SPECS:
        known = ", ".join(TABLE_NAMES)
        raise ParameterError(f"--table {name!r} is not a table. Fix: use one of {known}.")
    spec = _SPECS[name]
    items = _items(by)
    explicit = bool(items)
    if items == ["all"]:
        items = []
    _check_by(name, spec, items)
    if not spec.windowed and period is not None:
        raise ParameterError(
            f"--period does not apply to --table {name}: it has its own window, following the "
            "customers of the 365 days before the last 365 into the 365 days to the as-of date. "
            "Fix: leave --period out."
        )
    from salesnb.analytics import dimensions

    allowed = tuple(b for b in spec.by if b not in spec.own)
    cols = dimensions.parse_by(items, wb, allowed)  # unknown names, missing dimensions
    title = spec.title
    note = None
    if not explicit and spec.default_by is not None:
        try:
            cols = dimensions.parse_by(spec.default_by, wb, allowed)
        except ParameterError:  # e.g. no accounts table for segments: the whole team
            note = (f"The data has no customer {spec.default_by}s, so this is the whole team; "
                    "accounts.csv with a segment column splits it by segment.")  # fmt: skip
    if cols:
        title += " by " + " x ".join(_KEY_HEADERS.get(c, c) for c in cols)
    why = _unavailable(name, wb)
    if why is not None:
        return KpiTable(name, title, reason=why)
    module, _, attr = spec.function.partition(":")
    func = getattr(importlib.import_module(f"salesnb.analytics.{module}"), attr)
    if spec.windowed:
        period = period or wb.config.calendar.period_label(wb.as_of.normalize(), "Q")
        frame = func(wb, cols or None, period=period)
        title += f" {period}"
    else:
        frame = func(wb, cols or None)
        last, this = _retention_windows(wb)
        title += f" as of {wb.as_of:%Y-%m-%d}"
        note = f"Customers of last year ({last}) and what they bought this year ({this})."
        if not (frame["customers_last"].sum() or frame["first_buyers_last"].sum()):
            why = f"No customer bought from {last}, so retention is not known."
            return KpiTable(name, title, reason=why)
    reason = frame.attrs.get("reason")
    if reason:
        return KpiTable(name, title, reason=reason)
    if frame.empty or (spec.counts and not frame[list(spec.counts)].to_numpy().any()):
        return KpiTable(name, title, reason=spec.empty.format(period=period))
    keys = (*cols, *spec.rows)
    if spec.windowed:
        frame = frame.copy()
        frame.insert(len(keys), "period", period)
    pairs = None
    if name == "attach":  # what is bought together, pair by pair, below the rates
        from salesnb.analytics.accounts import attach_matrix

        pairs = attach_matrix(wb, cols or None, period=period)
    return KpiTable(name, title, frame, keys, note=note, pairs=pairs, period=period)


def _retention_windows(wb: Any) -> tuple[str, str]:
    """The two windows of :func:`salesnb.analytics.dimensions.retention` (365 days each)."""
    import pandas as pd

    when, year, day = wb.as_of.normalize(), pd.Timedelta(days=365), pd.Timedelta(days=1)
    last = f"{when - 2 * year + day:%Y-%m-%d} to {when - year:%Y-%m-%d}"
    return last, f"{when - year + day:%Y-%m-%d} to {when:%Y-%m-%d}"


def render(table: KpiTable, currency: str) -> str:
    """The table as fixed-width text for a terminal, or its sentence when it has none.

    Examples
    --------
    >>> print(render(KpiTable("renewals", "Renewals", reason="No renewal fell due."), "USD"))
    No renewal fell due.
    """
    if table.reason is not None:
        return table.reason
    spec = _SPECS[table.name]
    cols = [c for c in spec.columns if c[0] in table.frame.columns]
    text = fixed_width(
        table.frame, [(k, _KEY_HEADERS.get(k, k)) for k in table.keys], cols, currency,
        title=table.title,
    )  # fmt: skip
    if table.note is not None:
        text = text.replace("\n", f"\n{table.note}\n", 1)
    if table.pairs is not None:
        together = table.pairs[table.pairs["also_bought"] > 0]
        groups = [(k, _KEY_HEADERS.get(k, k)) for k in table.keys if k != "product"]
        head = f"Bought together {table.period}: "
        if len(together):
            head += ("of the buyers of a product, how many also bought another (pairs never "
                     "bought together are left out)")  # fmt: skip
            text += "\n\n" + fixed_width(
                together, [*groups, ("product", "bought"), ("with_product", "also bought")],
                _PAIR_COLUMNS, currency, title=head,
            )  # fmt: skip
        else:
            text += f"\n\n{head}no customer bought two products."
    return text


_PAIR_COLUMNS = (("buyers", "buyers", _N), ("also_bought", "also bought it", _N),
                 ("attach_share", "share", _PCT))  # fmt: skip


def fixed_width(
    frame: Any,
    keys: Sequence[tuple[str, str]],
    columns: Sequence[tuple[str, str, str]],
    currency: str = "USD",
    *,
    title: str = "",
    missing: str | None = None,
) -> str:
    """A fixed-width text table: group columns left, figures right, each figure written by
    :func:`salesnb.analytics.coaching_facts.format_value` (the kit's one formatter).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per line.
    keys : sequence of (column, header)
        The group columns, printed as they are.
    columns : sequence of (column, header, unit)
        The figures; ``unit`` is one of ``format_value``'s units (``"text"`` is left-aligned).
    currency : str
        ISO code of money figures.
    title : str
        The first line.
    missing : str, optional
        What an unknown figure (None, NaN) reads; default ``format_value``'s "n/a".

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"source": ["inbound", "partner"], "win_rate": [0.25, float("nan")]})
    >>> print(fixed_width(f, [("source", "channel")], [("win_rate", "win rate", "percent")]))
    channel  win rate
    inbound       25%
    partner       n/a
    """
    from salesnb.analytics.coaching_facts import format_value

    def cell(value: Any, unit: str) -> str:
        if missing is not None and (
            value is None or (isinstance(value, float) and math.isnan(value))
        ):
            return missing
        return format_value(value, unit, currency)

    left = [True] * len(keys) + [unit == "text" for _, _, unit in columns]
    head = [h for _, h in keys] + [h for _, h, _ in columns]
    rows = [
        [str(r[k]) for k, _ in keys] + [cell(r[c], unit) for c, _, unit in columns]
        for r in frame.to_dict("records")
    ]
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)
    ]

    def line(cells: list[str]) -> str:
        return "  ".join(
            v.ljust(w) if lf else v.rjust(w) for v, w, lf in zip(cells, widths, left, strict=True)
        ).rstrip()

    return "\n".join([*([title] if title else []), line(head), *(line(r) for r in rows)])

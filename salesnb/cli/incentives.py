"""``salesnb incentives``: what an incentive plan pays each rep and manager per period (thin
layer over :func:`salesnb.incentives.payouts`)."""

from __future__ import annotations

import sys

import click

from salesnb.core.errors import ParameterError, SalesnbError

_SHOWN = (("credited", "credited", "currency"), ("quota", "quota", "currency"),
          ("attainment", "attain.", "percent"), ("commission", "commission", "currency"),
          ("kicker", "kicker", "currency"), ("spif", "SPIF", "currency"),
          ("clawback", "clawback", "currency"), ("draw_topup", "draw+", "currency"),
          ("draw_recovery", "draw-", "currency"), ("override", "override", "currency"),
          ("payout", "payout", "currency"))  # fmt: skip


def _fail(exc: SalesnbError) -> None:
    click.secho("error: ", fg="red", err=True, nl=False)
    click.echo(str(exc), err=True)
    sys.exit(2 if isinstance(exc, ParameterError) else 1)


def format_table(table, currency: str) -> str:
    """A fixed-width terminal table of :func:`salesnb.incentives.payouts` (kit formatter).

    Examples
    --------
    >>> print(format_table(payouts(wb, plan, "2026Q3"), "USD"))  # doctest: +SKIP
    payee  role        period     credited  quota  attain.  ...  payout
    """
    from salesnb.analytics.coaching_facts import format_value

    head = ["payee", "role", "period"] + [h for _, h, _ in _SHOWN]
    rows = []
    for r in table.to_dict("records"):
        cells = [str(r["payee_id"]), str(r["role"] or r["payee_kind"]), str(r["period"])]
        cells += [format_value(r[c], unit, currency) for c, _, unit in _SHOWN]
        rows.append(cells)
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(head)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True)))  # fmt: skip

    notes = sorted({f"{r['payee_id']} {r['period']}: {r['note']}" for r in table.to_dict("records")
                    if r["note"]})  # fmt: skip
    out = [line(head)] + [line(r) for r in rows]
    if notes:
        out += ["", "Unknown figures (n/a):"] + [f"  {n}" for n in notes]
    return "\n".join(out)


@click.command("incentives")
@click.option("--data", default="data/sample", show_default=True, help="Data folder, file or URL.")
@click.option("--profile", default=None, help="Import profile: a built-in name or a .toml path.")
@click.option(
    "--plan", "plan_path", required=True, help="Incentive plan .toml (docs/incentives.md)."
)
@click.option(
    "--period",
    "periods",
    multiple=True,
    help="'2026Q3', 'FY2026-Q3', '2026-07' or 'FY2026'; repeatable. Default: the plan "
    "period holding the data's as-of date.",
)
@click.option("--rep", default=None, help="Print this rep's statement, line by line, only.")
@click.option(
    "--csv", "csv_out", default=None, help="Write the full table as CSV to this file ('-': stdout)."
)
def incentives(data: str, profile: str | None, plan_path: str, periods: tuple[str, ...],
               rep: str | None, csv_out: str | None) -> None:  # fmt: skip
    """Compute each rep's (and manager's) payout under an incentive plan, step by step."""
    from salesnb.data import io
    from salesnb.incentives import load_plan, payouts, statement_lines

    try:
        plan = load_plan(plan_path)
        wb = io.load(data, profile=profile)
        table = payouts(wb, plan, list(periods) or None)
        if rep is not None:
            rep_id = wb.rep(rep)["rep_id"]
            table = table[(table["payee_kind"] == "rep") & (table["payee_id"] == rep_id)]
    except SalesnbError as exc:
        _fail(exc)
    if csv_out is not None:
        from salesnb.core.safecsv import to_safe_csv

        money = table.select_dtypes("number").columns
        text = to_safe_csv(table.round(dict.fromkeys(money, 2)))
        if csv_out == "-":
            click.echo(text, nl=False)
            return
        with open(csv_out, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        click.echo(f"wrote {len(table)} rows to {csv_out}", err=True)
        return
    if rep is not None:
        for r in table.to_dict("records"):
            click.echo(f"{r['name']} ({r['role']}), {r['period']}:")
            for text in statement_lines(r, wb.unit):
                click.echo(f"  {text}")
        return
    click.echo(f"{plan.name}: payouts in {wb.unit}")
    click.echo(format_table(table, wb.unit))

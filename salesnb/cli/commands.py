"""The ``salesnb`` command: a thin layer over the Python API.

Subcommands are imported only when invoked, so ``salesnb --help`` and the
batch command do not pay for pandas, altair or statsmodels they do not use.
"""

from __future__ import annotations

import importlib
import sys

import click

from salesnb import __version__
from salesnb.cli.kpitables import TABLE_NAMES, compute, fixed_width, render
from salesnb.core.errors import DataValidationError, ParameterError, SalesnbError

# name -> "module:attribute" of a click command
_LAZY = {
    "init": "salesnb.cli.init:init",
    "sample": "salesnb.cli.commands:sample_cmd",
    "validate": "salesnb.cli.commands:validate_cmd",
    "kpis": "salesnb.cli.commands:kpis_cmd",
    "batch": "salesnb.cli.batch:batch",
    "workshop": "salesnb.cli.workshop:workshop",
    "snapshot": "salesnb.cli.snapshot:snapshot",
    "incentives": "salesnb.cli.incentives:incentives",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in _LAZY if self._importable(name))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = _LAZY.get(name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError:
            return None

    @staticmethod
    def _importable(name: str) -> bool:
        module = _LAZY[name].partition(":")[0]
        return importlib.util.find_spec(module) is not None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="salesnb")
def main() -> None:
    """Coaching and planning workbooks for sales teams."""


def fail(exc: SalesnbError) -> None:
    """Print a salesnb error for a person (no traceback) and exit non-zero."""
    click.secho("error: ", fg="red", err=True, nl=False)
    click.echo(str(exc), err=True)
    sys.exit(2 if isinstance(exc, ParameterError) else 1)


@click.command("sample")
@click.option("--out", default="data/sample", show_default=True, help="Folder to write into.")
@click.option(
    "--seed", default=2026, show_default=True, help="Random seed (same seed, same bytes)."
)
def sample_cmd(out: str, seed: int) -> None:
    """Generate the deterministic sample data set (CSV per canonical table, incentive plan)."""
    from salesnb.data import sample

    try:
        paths = sample.write(out, seed=seed)
        from salesnb.incentives.plan import write_sample_plan

        paths.append(write_sample_plan(out))  # the sample team's plan (docs/incentives.md)
    except SalesnbError as exc:
        fail(exc)
    click.echo(f"wrote {len(paths)} files to {out}")


@click.command("validate")
@click.argument("data")
@click.option("--profile", default=None, help="Import profile: a built-in name or a .toml path.")
def validate_cmd(data: str, profile: str | None) -> None:
    """Check a data folder or export; print every problem and exit non-zero if any is an error."""
    from salesnb.data import io

    try:
        wb = io.load(data, profile=profile)
    except DataValidationError as exc:
        for p in exc.problems + exc.warnings:
            colour = "red" if p.severity == "error" else "yellow"
            click.secho(f"{p.severity}: ", fg=colour, nl=False)
            click.echo(str(p))
        n = len(exc.problems)
        click.echo(f"{n} error{'s' if n != 1 else ''}, {len(exc.warnings)} warning(s)")
        sys.exit(1)
    except SalesnbError as exc:
        fail(exc)
    for p in wb.warnings:
        click.secho("warning: ", fg="yellow", nl=False)
        click.echo(str(p))
    extra = "".join(
        f", {len(t)} {what}"
        for t, what in (
            (wb.accounts, "accounts"),
            (wb.satisfaction, "survey responses"),
            (wb.calls, "forecast calls"),
        )
        if len(t)
    )  # the optional tables, only when the data has them
    click.echo(
        f"ok: {len(wb.reps)} reps, {len(wb.opportunities)} opportunities, {len(wb.targets)} "
        f"targets, {len(wb.activities)} activity rows, {len(wb.snapshots)} snapshot rows{extra}; "
        f"as of {wb.as_of:%Y-%m-%d}; {len(wb.warnings)} warning(s)"
    )
    from salesnb.reports import plausibility

    click.echo("What the kit now believes about this data:")
    for f in plausibility.summary(wb):
        if f.flag:
            click.secho("  check: ", fg="yellow", nl=False)
        else:
            click.echo("  ", nl=False)
        click.echo(f.text)


_ORG_BY = ("rep", "region", "manager", "team", "all")


@click.command("kpis")
@click.argument("data")
@click.option("--profile", default=None, help="Import profile: a built-in name or a .toml path.")
@click.option(
    "--table",
    "table_name",
    type=click.Choice(TABLE_NAMES),
    default="scorecard",
    show_default=True,
    help="Which table: the KPI scorecard; channels (channel efficiency), products (product "
    "mix), retention (and repeat business), acquisition (new customers), satisfaction, attach "
    "(product attach), renewals (and churned accounts), loss-reasons.",
)
@click.option(
    "--by",
    default=None,
    help="rep, region, manager, team or all (the scorecard; default rep); or any dimension: "
    "product, source (channel), segment, industry, size, country, comma-separated to combine "
    "(e.g. region,product). The other tables: default the whole team (satisfaction: rep; "
    "acquisition: segment).",
)
@click.option(
    "--period", default=None, help="'FY2026-Q3', '2026-09' or 'FY2026'; default: current quarter."
)
@click.option("--csv", "as_csv", is_flag=True, help="Write CSV to stdout (for machines).")
def kpis_cmd(
    data: str, profile: str | None, table_name: str, by: str | None, period: str | None,
    as_csv: bool,
) -> None:  # fmt: skip
    """Print the KPIs of a period, grouped by the organisation or by any dimension; --table
    picks another table (channels, products, retention, ... loss-reasons)."""
    from salesnb.analytics import dimensions, kpis
    from salesnb.data import io

    result = None
    try:
        wb = io.load(data, profile=profile)
        if table_name != "scorecard":
            result = compute(wb, table_name, by=by, period=period)
        elif (by := by or "rep") in _ORG_BY:
            table = kpis.scorecard(wb, by=None if by == "all" else by, period=period)
            keys = None
        else:
            keys = dimensions.parse_by(by, wb)
            period = period or wb.config.calendar.period_label(wb.as_of.normalize(), "Q")
            table = dimensions.kpis_by(wb, keys, period=period)
            table.insert(len(keys), "period", period)
    except SalesnbError as exc:
        fail(exc)
    from salesnb.core.safecsv import to_safe_csv

    if result is not None:
        if result.reason is not None:  # the data cannot give this table: say why, not an error
            click.echo(result.reason, err=as_csv)
        elif as_csv:
            click.echo(to_safe_csv(result.frame), nl=False)
        else:
            click.echo(render(result, wb.config.currency))
    elif as_csv:
        click.echo(to_safe_csv(table), nl=False)
    else:
        click.echo(_format_scorecard(table, wb.config.currency, keys))


_SCORECARD_COLUMNS = {
    "target": ("target", "money"),
    "bookings": ("bookings", "money"),
    "attainment": ("attain.", "pct"),
    "win_rate": ("win rate", "pct"),
    "avg_deal_size": ("avg deal", "money"),
    "median_cycle_days": ("cycle d", "num"),
    "pipeline": ("pipeline", "money"),
    "coverage": ("coverage", "x"),
    "stale_deals": ("stale", "num"),
    "past_due_deals": ("past due", "num"),
}


def _format_scorecard(table, currency: str, keys: list[str] | None = None) -> str:
    """A fixed-width table for a terminal, figures as every document writes them; ``keys``
    are the group columns (default: the organisation's)."""
    units = {"money": "currency", "pct": "percent", "x": "multiple"}
    title = "KPI scorecard" if keys is None else f"KPIs by {' x '.join(keys)}"
    if keys is None:
        keys = [c for c in ("rep_id", "name", "region", "manager", "team") if c in table.columns]
    cols = [
        (c, head, units.get(kind, "count"))
        for c, (head, kind) in _SCORECARD_COLUMNS.items()
        if c in table.columns
    ]
    period = table["period"].iloc[0] if "period" in table.columns and len(table) else ""
    return fixed_width(
        table, [(k, k) for k in keys], cols, currency, title=f"{title} {period}".rstrip(),
        missing="-",
    )  # fmt: skip


def run() -> None:
    """The ``salesnb`` console command: :func:`main`, then a quick exit.

    Tearing down an interpreter that imported pandas, Altair and nbconvert frees millions
    of objects one by one (0.3-0.4 s, a sizeable share of a batch of 30 documents). Once
    the command is done every file is closed, so the process ends without the teardown,
    through an exit handler registered before any other: ``atexit`` calls handlers last
    registered first, so every other one has run by then (logs flushed, child processes
    stopped). A command that did not finish (an exception, Ctrl-C) exits as Python does.
    """
    import atexit
    import os

    finished: dict[str, int | None] = {"code": None}

    def exit_without_teardown() -> None:
        if finished["code"] is None:
            return
        if "logging" in sys.modules:  # its handler may have been registered before this one
            sys.modules["logging"].shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe: nothing left to say
                pass
        os._exit(finished["code"])

    atexit.register(exit_without_teardown)
    try:
        main()
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:  # sys.exit("message"): printed like the interpreter would
            print(exc.code, file=sys.stderr)
            code = 1
    finished["code"] = code
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()

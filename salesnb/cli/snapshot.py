"""``salesnb snapshot``: keep weekly pipeline history in a store (thin layer over
:mod:`salesnb.data.store`)."""

from __future__ import annotations

import signal
import sys

import click

from salesnb.core.errors import DataValidationError, SalesnbError


def _sigterm(signum: int, frame: object) -> None:
    # A polite kill (cron's timeout, systemd) rolls the add back like Ctrl-C does.
    raise KeyboardInterrupt


def _warn(problems: list) -> None:
    for p in problems:
        click.secho("warning: ", fg="yellow", nl=False, err=True)
        click.echo(str(p), err=True)


@click.group("snapshot", context_settings={"help_option_names": ["-h", "--help"]})
def snapshot() -> None:
    """Keep weekly pipeline history: add today's open pipeline to a store, list what it holds.

    \b
    Weekly, e.g. from cron on Monday at 07:00:
      0 7 * * 1  salesnb snapshot add /exports/pipeline.csv --profile salesforce \\
                 --store /data/team/history.duckdb
    Then name the store in the data folder's salesnb.toml:
      snapshot_store = "history.duckdb"
    """


@snapshot.command("add")
@click.argument("export")
@click.option("--profile", default=None, help="Import profile: a built-in name or a .toml path.")
@click.option(
    "--as-of",
    "as_of",
    default=None,
    help="Date of the snapshot (YYYY-MM-DD); default the export's as_of, else today.",
)
@click.option("--store", required=True, help="The store file (DuckDB), created if absent.")
@click.option("--replace", is_flag=True, help="Overwrite a snapshot already stored for the date.")
@click.option("--wait", default=30.0, show_default=True, help="Seconds to wait for another writer.")
def add_cmd(
    export: str, profile: str | None, as_of: str | None, store: str, replace: bool, wait: float
) -> None:
    """Validate EXPORT (a folder, an export file or a database URL) and store its open deals
    as the pipeline snapshot of one date. Nothing is written if anything fails."""
    from salesnb.cli.commands import fail
    from salesnb.data import exportstore

    signal.signal(signal.SIGTERM, _sigterm)
    try:
        res = exportstore.add_export(
            store, export, profile=profile, as_of=as_of, replace=replace, timeout=wait
        )
    except DataValidationError as exc:
        for p in exc.problems:
            click.secho("error: ", fg="red", nl=False, err=True)
            click.echo(str(p), err=True)
        _warn(exc.warnings)
        click.echo(
            f"nothing added to {store}: the export has {len(exc.problems)} error(s)", err=True
        )
        sys.exit(1)
    except SalesnbError as exc:
        fail(exc)
    except KeyboardInterrupt:
        click.echo(f"interrupted: nothing added to {store}", err=True)
        sys.exit(130)
    _warn(res.warnings)
    verb = "replaced" if res.replaced else "added"
    skipped = f"; {res.closed_skipped} closed deals left out" if res.closed_skipped else ""
    click.echo(
        f"{verb} the snapshot of {res.as_of:%Y-%m-%d} in {res.store}: {res.deals} open deals, "
        f"total {res.amount:,.2f}{skipped}"
    )


@snapshot.command("list")
@click.option("--store", required=True, help="The store file (DuckDB).")
@click.option("--csv", "as_csv", is_flag=True, help="Write CSV to stdout (for machines).")
def list_cmd(store: str, as_csv: bool) -> None:
    """Show the snapshot dates a store holds, with their deal counts and totals."""
    from salesnb.cli.commands import fail
    from salesnb.data import store as st

    try:
        table = st.list_snapshots(store)
    except SalesnbError as exc:
        fail(exc)
    if as_csv:
        from salesnb.core.safecsv import to_safe_csv

        out = table.assign(as_of=table["as_of"].dt.strftime("%Y-%m-%d"))
        click.echo(to_safe_csv(out), nl=False)
        return
    if table.empty:
        click.echo(f"{store}: no snapshots yet")
        return
    click.echo(f"{'as_of':<10}  {'deals':>6}  {'total':>16}  {'added (UTC)':<16}  source")
    for row in table.itertuples(index=False):  # one line per stored date: a few hundred at most
        click.echo(
            f"{row.as_of:%Y-%m-%d}  {row.deals:>6}  {row.amount:>16,.2f}  "
            f"{row.added_at:%Y-%m-%d %H:%M}  {row.source} ({row.profile})"
        )
    first, last = table["as_of"].iloc[0], table["as_of"].iloc[-1]
    click.echo(f"{len(table)} snapshot(s), {first:%Y-%m-%d} to {last:%Y-%m-%d}")

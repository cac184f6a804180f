"""``salesnb batch``: review documents for every rep, region or manager (thin layer over
:func:`salesnb.batch.documents.run`)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from salesnb.core.errors import ParameterError, SalesnbError


def _fail(exc: SalesnbError) -> None:
    click.secho("error: ", fg="red", err=True, nl=False)
    click.echo(str(exc), err=True)
    sys.exit(2 if isinstance(exc, ParameterError) else 1)


def _warn(message: str) -> None:
    click.secho("warning: ", fg="yellow", err=True, nl=False)
    click.echo(message, err=True)


def _sigterm(signum: int, frame: object) -> None:
    # A polite kill (timeout, systemd, CI) stops as cleanly as Ctrl-C; a second one (some
    # supervisors repeat it) must not interrupt that clean-up.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


@click.command("batch")
@click.argument("notebook")
@click.option(
    "--by",
    default="rep",
    show_default=True,
    type=click.Choice(["rep", "region", "manager", "team", "all"]),
    help="One document per rep, region, manager, team, or one for all.",
)
@click.option(
    "--data",
    default="data/sample",
    show_default=True,
    help="Data folder, file or database URL (postgresql://user@host/db).",
)
@click.option("--profile", default=None, help="Import profile: a built-in name or a .toml path.")
@click.option("--out", required=True, type=click.Path(), help="Output folder (created).")
@click.option(
    "--only",
    multiple=True,
    help="Only these subjects (rep_id, rep name, region or manager); repeatable, "
    "or comma-separated.",
)
@click.option(
    "--param",
    "param_pairs",
    multiple=True,
    metavar="NAME=VALUE",
    help="A notebook parameter; repeatable. Typed like the notebook's default.",
)
@click.option(
    "--params-file",
    type=click.Path(dir_okay=False),
    help="JSON, TOML or YAML file of notebook parameters (--param wins).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Documents at once (default: number of cores); at most the cores and the subjects.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=600,
    show_default=True,
    help="Seconds one document may take; 0 = no limit.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Re-run only subjects that failed, are missing or whose inputs changed.",
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    default=("html",),
    show_default=True,
    type=click.Choice(["html", "pdf", "ipynb"]),
    help="Documents to write (repeatable); the executed .ipynb is always kept.",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS|local:N",
    help="Run on a Dask distributed cluster (tcp://host:8786), or local:N workers.",
)
@click.option(
    "--engine",
    default="auto",
    show_default=True,
    help="Execution engine: auto (fork of a pre-imported process per document where the OS "
    "can fork, else papermill), fork, papermill (fresh kernel per document), or a registered one.",
)
@click.option(
    "--charts",
    default="svg",
    show_default=True,
    type=click.Choice(["svg", "vega"]),
    help="Charts as static SVG made now (no scripts in the documents), or as specs drawn in "
    "the reader's browser by an inlined Vega runtime (faster batches, larger files; offline).",
)
@click.option(
    "--include-empty",
    is_flag=True,
    help="Also make documents for reps with no deals and no activity (by default they are "
    "listed in the index as 'no data').",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def batch(
    notebook: str,
    by: str,
    data: str,
    profile: str | None,
    out: str,
    only: tuple[str, ...],
    param_pairs: tuple[str, ...],
    params_file: str | None,
    workers: int | None,
    timeout: float,
    resume: bool,
    formats: tuple[str, ...],
    scheduler: str | None,
    engine: str,
    charts: str,
    include_empty: bool,
    no_progress: bool,
) -> None:
    """Run NOTEBOOK (a name in notebooks/, e.g. pipeline_review, or a path) once per subject.

    Writes OUT/<subject>.html (and .ipynb, .pdf), OUT/index.html and OUT/manifest.json.
    Exits 0 when every document succeeded, 1 when some failed, 2 for bad parameters,
    130 when interrupted.
    """
    from salesnb.batch import documents as B
    from salesnb.batch import params as P

    signal.signal(signal.SIGTERM, _sigterm)
    subjects = [s.strip() for item in only for s in item.split(",") if s.strip()] or None
    try:
        nb_path = B.resolve_notebook(notebook)
        spec = P.notebook_parameters(nb_path)
        params = P.parse_cli(param_pairs, spec, notebook=nb_path.name)
        manifest = B.run(
            notebook,
            by=by,
            data=data,
            profile=profile,
            out=out,
            only=subjects,
            params=params,
            params_file=params_file,
            workers=workers,
            timeout=timeout or None,
            resume=resume,
            formats=formats,
            scheduler=scheduler,
            engine=engine,
            progress=not no_progress,
            charts=charts,
            warn=_warn,
            include_empty=include_empty,
        )
    except SalesnbError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        click.echo(
            f"\ninterrupted: finished documents are kept in {out}; "
            "run again with --resume to finish the rest.",
            err=True,
        )
        sys.exit(130)
    # The CSV files beside managers' documents are written by batch.run as each document is
    # stored (salesnb.batch.documents.write_files), for the Python API and this command alike.
    s = manifest["summary"]
    index = Path(out) / B.INDEX
    click.echo(
        f"{s['ok']} ok, {s['failed']} failed"
        + (f", {s['skipped']} up to date (skipped)" if s["skipped"] else "")
        + f" of {s['total']}"
        + (f" ({s['earlier']} more from earlier runs kept)" if s.get("earlier") else "")
        + (
            f"; {s['no_data']} without data, no document (--include-empty makes them)"
            if s.get("no_data")
            else ""
        )
        + f"; index: {index}",
        err=False,
    )
    for entry in manifest["subjects"]:
        if entry["status"] != "ok" and not entry.get("earlier_run"):
            first = (entry.get("error") or {}).get("lines", ["?"])[0]
            click.echo(f"  failed: {entry['key']} ({entry['name']}): {first}", err=True)
    if s["failed"]:
        sys.exit(1)

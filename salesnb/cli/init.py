"""``salesnb init DIR``: a working folder for JupyterLab users.

It holds a copy of the workbooks (``notebooks/``, workshop apps included), a ``salesnb.toml``
to edit and ``data/``: one CSV per canonical table with its header row only, ready to be
filled from a CRM export (or replaced by one and an import profile, docs/profiles.md).
Nothing that exists is overwritten.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from salesnb.core.errors import ParameterError
from salesnb.core.resources import kit_folder

#: The ``salesnb.toml`` of a new working folder (every key is documented in docs/).
CONFIG = """\
# Settings of this data set. Keys not set here come from salesnb's defaults
# (salesnb/data/defaults.toml), including the stage catalogue.
currency = "USD"
# as_of = 2026-09-30      # the data's "today"; default: the latest date in the data

[calendar]
fiscal_year_start_month = 1
"""


def init_folder(folder: str | Path) -> list[Path]:
    """Create a working folder: workbooks, ``salesnb.toml`` and an empty data template.

    Parameters
    ----------
    folder : str or Path
        Created if missing; files already there are kept as they are.

    Returns
    -------
    list of Path
        The files written (not those kept).

    Raises
    ------
    ParameterError
        If ``folder`` is a file, or the workbooks of this installation cannot be found.

    Examples
    --------
    >>> import tempfile
    >>> made = init_folder(Path(tempfile.mkdtemp()) / "team")
    >>> sorted({p.parent.name for p in made}) >= ["data", "notebooks"]
    True
    """
    from salesnb.data.schema import CORE_TABLES, columns

    root = Path(folder).expanduser()
    if root.exists() and not root.is_dir():
        raise ParameterError(f"{str(root)!r} is a file. Fix: pass a folder to create.")
    source = kit_folder("notebooks")
    books = sorted(source.rglob("*.ipynb"))
    if not books:
        raise ParameterError(
            f"No workbooks found in {str(source)!r}. Fix: reinstall salesnb "
            "(pip install --force-reinstall salesnb)."
        )
    written: list[Path] = []

    def put(path: Path, data: bytes) -> None:
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)

    for nb in books:
        if ".ipynb_checkpoints" not in nb.parts:
            put(root / "notebooks" / nb.relative_to(source), nb.read_bytes())
    put(root / "data" / "salesnb.toml", CONFIG.encode("utf-8"))
    for table in CORE_TABLES:  # the optional dimension tables are added when one has them
        put(root / "data" / f"{table}.csv", (",".join(columns(table)) + "\n").encode("utf-8"))
    return written


@click.command("init")
@click.argument("folder", type=click.Path(file_okay=False))
def init(folder: str) -> None:
    """Make a working folder: the workbooks, a salesnb.toml and an empty data template."""
    from salesnb.cli.commands import fail

    try:
        written = init_folder(folder)
    except ParameterError as exc:
        fail(exc)
    root = Path(folder)
    click.echo(f"wrote {len(written)} files to {root}")
    click.echo(
        f"next: fill {root / 'data'}/*.csv (docs: data model), then open "
        f"{root / 'notebooks'} in JupyterLab, or run: salesnb batch pipeline_review "
        f"--data {root / 'data'}"
    )
    if shutil.which("jupyter") is None:
        click.echo("JupyterLab: pip install 'salesnb[workshop]'")

"""``salesnb workshop``: serve the workshop apps (notebooks/workshop) with Voila on localhost."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import click

from salesnb.errors import ParameterError

#: Where the workshop notebooks live, relative to the repository root.
WORKSHOP_DIR = Path("notebooks") / "workshop"


def find_workshop_dir(start: Path | None = None) -> Path:
    """``notebooks/workshop`` in the working directory or one of its parents.

    Examples
    --------
    >>> find_workshop_dir().name   # doctest: +SKIP
    'workshop'
    """
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / WORKSHOP_DIR).is_dir():
            return d / WORKSHOP_DIR
    msg = (
        f"No {WORKSHOP_DIR} folder in {here} or its parents. Fix: run `salesnb workshop` inside "
        "the salesnb repository, or pass --notebooks PATH."
    )
    raise ParameterError(msg)


def voila_command(folder: Path, port: int, no_browser: bool) -> list[str]:
    """The Voila command line: bound to 127.0.0.1, tracebacks shown to the facilitator.

    Examples
    --------
    >>> voila_command(Path("nb"), 8866, True)[-4:]
    ['--port=8866', '--Voila.ip=127.0.0.1', '--show_tracebacks=True', '--no-browser']
    """
    exe = shutil.which("voila", path=str(Path(sys.executable).parent)) or shutil.which("voila")
    cmd = [exe] if exe else [sys.executable, "-m", "voila"]
    cmd += [str(folder), f"--port={port}", "--Voila.ip=127.0.0.1", "--show_tracebacks=True"]
    return cmd + (["--no-browser"] if no_browser else [])


@click.command("workshop")
@click.option("--port", default=8866, show_default=True, help="Port on 127.0.0.1.")
@click.option("--no-browser", is_flag=True, help="Do not open a browser tab.")
@click.option(
    "--notebooks",
    "folder",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of workshop notebooks (default: notebooks/workshop of this repository).",
)
def workshop(port: int, no_browser: bool, folder: Path | None) -> None:
    """Start Voila on http://127.0.0.1:PORT serving the five workshop apps (Ctrl-C stops it)."""
    from salesnb.cli import fail

    try:
        folder = find_workshop_dir() if folder is None else folder.resolve()
        if not folder.is_dir():
            raise ParameterError(f"--notebooks {str(folder)!r} is not a folder. Fix: pass one.")
        if not 1 <= port <= 65535:
            raise ParameterError(f"--port {port!r} is not a port. Fix: use 1024-65535.")
    except ParameterError as exc:
        fail(exc)
    click.echo(f"Serving {folder} at http://127.0.0.1:{port}/ (Ctrl-C to stop)")
    # Kernels start in the notebooks' folder; the notebooks find data/sample from there.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]))}  # fmt: skip
    try:
        proc = subprocess.Popen(voila_command(folder, port, no_browser), cwd=folder, env=env)
    except FileNotFoundError:
        fail(ParameterError("Voila is not installed. Fix: pip install voila (or salesnb[test])."))
    # A SIGTERM to this command stops Voila too (it then shuts its kernels down).
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # Voila gets the same Ctrl-C and shuts down; wait for it
        code = proc.wait()
    sys.exit(code)

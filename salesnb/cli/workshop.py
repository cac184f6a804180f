"""``salesnb workshop``: serve the workshop apps (notebooks/workshop) with Voila on localhost."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import click

from salesnb.core.errors import ParameterError
from salesnb.core.extras import install_hint
from salesnb.core.resources import kit_folder

#: Where the workshop notebooks live, relative to the repository root.
WORKSHOP_DIR = Path("notebooks") / "workshop"


def find_workshop_dir(start: Path | None = None) -> Path:
    """``notebooks/workshop`` in the working directory or one of its parents, else the apps
    that ship with the package.

    Examples
    --------
    >>> find_workshop_dir().name   # doctest: +SKIP
    'workshop'
    """
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / WORKSHOP_DIR).is_dir():
            return d / WORKSHOP_DIR
    shipped = kit_folder("notebooks") / "workshop"  # the apps that come with the package
    if shipped.is_dir():
        return shipped
    msg = (
        f"No {WORKSHOP_DIR} folder in {here} or its parents. Fix: run `salesnb workshop` inside "
        "a folder made by `salesnb init`, or pass --notebooks PATH."
    )
    raise ParameterError(msg)


#: An app's kernel untouched this long is stopped, open tab or not (docs/workshops.md).
CULL_IDLE_MINUTES = 20
#: How often Voila looks for idle kernels (seconds).
CULL_INTERVAL_SECONDS = 60
#: A notebook cell still waiting for its kernel's reply after this long ends the page with
#: Voila's "Cell execution timed out" note instead of leaving it loading for ever (seconds).
CELL_TIMEOUT_SECONDS = 120


def server_settings(cull_idle_minutes: float = CULL_IDLE_MINUTES,
                    cull_interval: int = CULL_INTERVAL_SECONDS) -> list[str]:  # fmt: skip
    """Voila's kernel settings for a room: idle kernels culled, kernels on local sockets.

    Every opened app starts a kernel of about 0.3 GB; Voila stops it when its tab closes
    normally, but a reload during the first render, a sleeping laptop or a crashed tab leaves
    it running. Kernels idle for ``cull_idle_minutes`` (0: never) are stopped, checked every
    ``cull_interval`` seconds, also with a tab still open (``cull_connected``); a busy
    kernel is never stopped. Kernels talk to Voila over Unix sockets named after each kernel
    (``transport=ipc``) instead of TCP ports picked free and bound a moment later, which
    another process could take in between: the kernel then died at start and the page hung.
    A cell whose reply never comes (seen about once in 20-30 renders with ipykernel 7, kernel
    idle and answering other clients) ends the page after :data:`CELL_TIMEOUT_SECONDS`
    with Voila's timeout note; reloading gives a fresh kernel.

    Examples
    --------
    >>> server_settings(20)[2:4]
    ['--MappingKernelManager.cull_idle_timeout=1200', '--MappingKernelManager.cull_interval=60']
    >>> server_settings(0)
    ['--KernelManager.transport=ipc', '--VoilaExecutor.timeout=120']
    """
    out = ["--KernelManager.transport=ipc", f"--VoilaExecutor.timeout={CELL_TIMEOUT_SECONDS}"]
    if cull_idle_minutes > 0:
        out += [
            f"--MappingKernelManager.cull_idle_timeout={round(cull_idle_minutes * 60)}",
            f"--MappingKernelManager.cull_interval={cull_interval}",
            "--MappingKernelManager.cull_connected=True",
        ]
    return out


def voila_command(folder: Path, port: int, no_browser: bool,
                  cull_idle_minutes: float = CULL_IDLE_MINUTES,
                  cull_interval: int = CULL_INTERVAL_SECONDS) -> list[str]:  # fmt: skip
    """The Voila command line: bound to 127.0.0.1, tracebacks shown to the facilitator,
    with the kernel settings of :func:`server_settings`.

    Examples
    --------
    >>> voila_command(Path("nb"), 8866, True)[2:5]
    ['--port=8866', '--Voila.ip=127.0.0.1', '--show_tracebacks=True']
    >>> voila_command(Path("nb"), 8866, True)[-1]
    '--no-browser'
    """
    exe = shutil.which("voila", path=str(Path(sys.executable).parent)) or shutil.which("voila")
    cmd = [exe] if exe else [sys.executable, "-m", "voila"]
    cmd += [str(folder), f"--port={port}", "--Voila.ip=127.0.0.1", "--show_tracebacks=True"]
    cmd += server_settings(cull_idle_minutes, cull_interval)
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
@click.option(
    "--cull-after",
    "cull_after",
    default=CULL_IDLE_MINUTES,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Stop an app's kernel after this many idle minutes, tab open or not (0: never).",
)
def workshop(port: int, no_browser: bool, folder: Path | None, cull_after: float) -> None:
    """Start Voila on http://127.0.0.1:PORT serving the workshop apps in notebooks/workshop (the five
    coaching apps, the incentive what-if and the plan designer; Ctrl-C stops it)."""
    from salesnb.cli.commands import fail

    try:
        folder = find_workshop_dir() if folder is None else folder.resolve()
        if not folder.is_dir():
            raise ParameterError(f"--notebooks {str(folder)!r} is not a folder. Fix: pass one.")
        if not 1 <= port <= 65535:
            raise ParameterError(f"--port {port!r} is not a port. Fix: use 1024-65535.")
    except ParameterError as exc:
        fail(exc)
    click.echo(f"Serving {folder} at http://127.0.0.1:{port}/ (Ctrl-C to stop)")
    if cull_after > 0:
        click.echo(f"An app left untouched for {cull_after:g} minutes stops; reloading its page "
                   "starts it again.")  # fmt: skip
    # Kernels start in the notebooks' folder; the notebooks find data/sample from there.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]))}  # fmt: skip
    try:
        proc = subprocess.Popen(voila_command(folder, port, no_browser, cull_after), cwd=folder,
                                env=env)  # fmt: skip
    except FileNotFoundError:
        fail(ParameterError(f"Voila is not installed. Fix: {install_hint('voila')}"))
    # A SIGTERM to this command stops Voila too (it then shuts its kernels down).
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # Voila gets the same Ctrl-C and shuts down; wait for it
        code = proc.wait()
    sys.exit(code)

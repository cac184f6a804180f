"""Where the kit's own files are: the workbooks (``notebooks/``) and the document templates.

In the repository both folders sit at the top level, beside ``salesnb/``; an installed wheel
carries them inside the package as ``salesnb/notebooks`` and ``salesnb/templates``
(``[tool.setuptools.package-dir]`` in pyproject.toml). :func:`kit_folder` finds either through
:mod:`importlib.resources`, so nothing depends on the process's working directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: The folders that ship with the package.
KIT_FOLDERS = ("notebooks", "templates")


def kit_folder(name: str) -> Path:
    """The folder ``name`` (``"notebooks"`` or ``"templates"``) of this installation.

    Parameters
    ----------
    name : str
        One of :data:`KIT_FOLDERS`.

    Returns
    -------
    Path
        ``<site-packages>/salesnb/<name>`` in an installed wheel, else ``<checkout>/<name>``
        (the folder may be missing when neither exists: callers say what they looked for).

    Examples
    --------
    >>> (kit_folder("templates") / "batch_index.html.j2").is_file()
    True
    """
    if name not in KIT_FOLDERS:
        raise ValueError(f"kit_folder({name!r}): expected one of {KIT_FOLDERS}")
    inside = Path(str(resources.files("salesnb"))) / name
    if inside.is_dir():
        return inside
    return Path(str(resources.files("salesnb"))).parent / name

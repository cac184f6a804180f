"""What a warmed process (the zygote) does once for the documents it forks: their data
loaded (:func:`preload`), their notebooks' imports (:func:`warm_imports`) and their notebooks
read and parsed (:func:`preread`).
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

#: Never imported ahead: they start threads or runtimes, which do not survive a fork.
_NOT_AHEAD = ("vl_convert", "dask", "distributed", "tornado", "zmq", "ipykernel", "__main__",
              "__mp_main__", "tqdm", "matplotlib.pyplot")  # fmt: skip
# --------------------------------------------------------------------------- data cache

_DATA: dict[tuple[str, Any], tuple[Any, Any]] = {}
_ORIGINAL_LOAD: dict[str, Callable[..., Any]] = {}


def preloaded() -> list[Any]:
    """The workbooks this process pre-loaded (:func:`preload`, :func:`adopt`)."""
    return [wb for wb, _ in _DATA.values()]


def data_key(data: Any) -> str:
    """The cache key of a data source: a path made absolute, a database URL masked (the
    form batch documents get it in, see :func:`salesnb.batch.documents._data_source`)."""
    from salesnb.data.dburl import is_url, mask_url

    return mask_url(data) if is_url(data) else str(Path(data).expanduser().resolve())


def data_signature(path: Path | str) -> tuple:
    """Size and mtime of a data source (a file, or a folder's files): detects edits.
    Nothing for a database URL (a batch's documents read what the batch loaded)."""
    from salesnb.data.dburl import is_url

    if is_url(path):
        return ()
    path = Path(path)
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    out = []
    for f in files:
        with contextlib.suppress(OSError):
            st = f.stat()
            out.append((f.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


def _cached_load(source: Any, profile: Any = None, **kwargs: Any) -> Any:
    """``salesnb.data.io.load`` answering from the data pre-loaded in the zygote when it can."""
    from dataclasses import replace

    load = _ORIGINAL_LOAD["load"]
    if kwargs.get("as_of") is not None or kwargs.get("config_overrides"):
        return load(source, profile, **kwargs)
    from salesnb.data.dburl import is_url

    try:
        path = data_key(source)
        key = (path, profile if isinstance(profile, str | None) else repr(profile))
        hit = _DATA.get(key)
        if hit is None or hit[1] != data_signature(path):
            return load(source, profile, **kwargs)
    except (OSError, TypeError, ValueError):
        return load(source, profile, **kwargs)
    wb = hit[0]
    # What a fresh load returns: its own frames (pandas copy-on-write makes these shallow
    # copies independent) and the source spelled as given (a URL: masked, as loaded).
    frames = {n: getattr(wb, n).copy(deep=False) for n in wb.TABLE_NAMES}
    from salesnb.data import memo

    shown = wb.source if is_url(source) else str(Path(source).expanduser())
    copy = replace(wb, **frames, source=shown, warnings=list(wb.warnings))
    return memo.seal(copy, like=wb)  # same content: the fingerprint and shared results carry over


def preload(data: str | Path, profile: str | None = None) -> bool:
    """Load ``data`` once so documents forked from this process skip loading it.

    Installs a caching ``salesnb.data.io.load`` that answers with a private copy when the
    same source (and profile, no ``as_of``/overrides) is asked for and its files did
    not change; anything else loads as usual. False when the data does not load (the
    documents then load it themselves and report the problem).
    """
    from salesnb.data import io as sio
    from salesnb.data.dburl import is_url

    if "load" not in _ORIGINAL_LOAD:
        _ORIGINAL_LOAD["load"] = sio.load
        sio.load = _cached_load
    path = data_key(data)
    key = (path, profile)
    if key in _DATA and _DATA[key][1] == data_signature(path):
        return True
    if is_url(data):
        return False  # the batch hands it over (adopt); the documents load it themselves
    try:
        sig = data_signature(path)
        wb = _ORIGINAL_LOAD["load"](str(path), profile)
        wb.fingerprint()  # once here, not in every document
        _DATA[key] = (wb, sig)
    except Exception:  # noqa: BLE001 -- the notebook reports bad data itself
        return False
    return True


def adopt(data: str, profile: str | None, wb: Any, signature: tuple, fingerprint: str) -> None:
    """Take ``wb``, loaded by another process from ``data`` while its files had ``signature``,
    as this process's pre-loaded copy (what :func:`preload` would have loaded).

    The batch's own process loads the data anyway to check it; handing the zygote that copy
    (a few milliseconds to pickle) saves it loading the data again on the start-up path.
    """
    from salesnb.data import io as sio
    from salesnb.data import memo

    if "load" not in _ORIGINAL_LOAD:
        _ORIGINAL_LOAD["load"] = sio.load
        sio.load = _cached_load
    memo.seal(wb)
    memo.fingerprint(wb, lambda: fingerprint)  # computed by the sender from the same rows
    _DATA[(data_key(data), profile)] = (wb, signature)


def compute_shared(wanted: list[tuple[str, tuple, tuple]]) -> int:
    """Compute here, from the pre-loaded data, the shared results documents asked for.

    Documents only say *which* :func:`salesnb.data.memo.shared` results they needed; computing
    them in this process (which runs no notebook code) keeps every document's inputs free of
    anything another document did, and the documents forked next find them ready.
    """
    if not wanted:
        return 0
    from salesnb.data import memo

    return sum(memo.compute_ahead(wb, wanted) for wb, _ in _DATA.values())


# --------------------------------------------------------------------------- imports ahead

_IMPORTS_SEEN: dict[str, tuple[str, ...]] = {}


def notebook_imports(notebook: str | Path) -> tuple[str, ...]:
    """The modules a notebook's code cells import, as dotted names (cached per file).

    ``from salesnb import charts`` yields ``salesnb`` and ``salesnb.reports.charts`` (a name that
    turns out to be an attribute, not a module, is skipped when imported).

    Examples
    --------
    >>> "salesnb.reports.facts" in notebook_imports("notebooks/pipeline_review.ipynb")
    True
    """
    import ast

    import nbformat

    key = str(Path(notebook).resolve())
    if key in _IMPORTS_SEEN:
        return _IMPORTS_SEEN[key]
    names: list[str] = []
    try:
        nb = nbformat.read(key, as_version=4)
    except Exception:  # noqa: BLE001 -- the document itself reports an unreadable notebook
        nb = None
    for cell in nb.cells if nb is not None else []:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # magics and the like: nothing to learn ahead
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    _IMPORTS_SEEN[key] = found = tuple(dict.fromkeys(names))
    return found


@functools.cache
def _library_roots() -> tuple[str, ...]:
    import sysconfig

    import salesnb

    paths = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return (*sorted(paths), str(Path(salesnb.__file__).parent))


class ImportRecorder:
    """A finder that finds nothing and notes the names it is asked for.

    Only modules not imported yet reach the finders, so the names are what this process
    imported. Comparing ``sys.modules`` before and after instead touches every module name
    (a reference count each), which copies hundreds of the parent's memory pages into a
    forked document: about 8% of its page faults.
    """

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        self.names.append(name)


def library_modules(names: set[str]) -> list[str]:
    """Installed-library modules among ``names`` (see :func:`warm_imports`)."""
    roots = _library_roots()
    keep = []
    for name in sorted(names):
        origin = getattr(sys.modules.get(name), "__file__", None)
        if origin and str(origin).startswith(roots):
            keep.append(name)
    return keep


def warm_imports(names: Iterator[str] | tuple[str, ...] | list[str]) -> int:
    """Import ``names`` here, ahead of the documents that will need them; how many were new.

    Only installed libraries (the standard library, site-packages, salesnb) are imported
    ahead: a user's module next to the notebook may do anything when imported, so each
    document imports it itself. Modules that start threads or runtimes (:data:`_NOT_AHEAD`)
    are left to the documents too; a module that fails to import is skipped.
    """
    import importlib
    import importlib.util

    new = 0
    roots = _library_roots()
    for name in names:
        if name in sys.modules or name.startswith(_NOT_AHEAD) or not name.isascii():
            continue
        try:
            top = importlib.util.find_spec(name.partition(".")[0])
            if top is None or not str(top.origin or "").startswith(roots):
                continue  # not an installed library: the documents import it themselves
            importlib.import_module(name)
        except BaseException:  # noqa: BLE001,S112 -- e.g. an attribute, not a module; a SystemExit
            continue
        new += 1
    return new


def ready_for(notebook: str | Path, parameters: dict[str, Any]) -> None:
    """Before forking a document: its notebook's imports and its data, here, once."""
    warm_imports(notebook_imports(notebook))
    if parameters.get("data"):
        preload(parameters["data"], parameters.get("profile"))
    preread(notebook)


_NOTEBOOKS: dict[tuple, Any] = {}
_READ: dict[str, Callable[[Any], Any]] = {}


def _notebook_key(path: Any) -> tuple | None:
    try:
        p = Path(path).resolve()
        st = p.stat()
    except (OSError, TypeError, ValueError):
        return None
    return (str(p), st.st_mtime_ns, st.st_size)


def _read_notebook(path: Any) -> Any:
    """papermill's ``load_notebook_node``, answered once per process from :func:`preread`."""
    key = _notebook_key(path) if isinstance(path, str | Path) else None
    # once: the notebook papermill gets is its to change (parameters, metadata), and a
    # forked document's change stays in the document's own memory
    hit = _NOTEBOOKS.pop(key, None) if key is not None else None
    return hit if hit is not None else _READ["load"](path)


def preread(notebook: str | Path) -> None:
    """Read and parse ``notebook`` here, as papermill would, for the documents forked next.

    Each forked document's papermill then starts from this process's parsed copy (which the
    document may change: it is the document's own copy of this memory) instead of reading and
    validating the file again. A file changed meanwhile is read afresh.
    """
    from salesnb.core import compat

    if "load" not in _READ:
        _READ["load"] = compat.replace_notebook_loader(_read_notebook)
    key = _notebook_key(notebook)
    if key is None or key in _NOTEBOOKS:
        return
    with contextlib.suppress(Exception):  # a document that reads it reports the problem
        _NOTEBOOKS[key] = nb = _READ["load"](str(notebook))
        from salesnb.reports import render

        render.warm_markdown(nb)  # its prose, rendered once for every document

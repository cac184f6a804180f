"""Every private name of another library the engines use, in one place, checked.

salesnb's engines (:mod:`salesnb.batch.fastengine`, :mod:`salesnb.batch.forkengine`,
:mod:`salesnb.batch.executor`) use other libraries through their public interfaces, except
for the few names below, which have no public equivalent. Each is reached only through
a function of this module, and :data:`PRIVATE_NAMES` says which library, which versions
it was checked against and why it is worth it. :func:`check` (run by the test suite)
fails loudly when a library changed: a name gone, or a version outside the range
checked, so that a person looks at it again instead of the engine breaking quietly.

Also listed: the two run-time replacements outside the engines that have no supported hook
(``fastjsonschema.compile`` in :mod:`salesnb.batch.schemacache`, the ``rfc3987_syntax``
stand-in of :mod:`salesnb.core.lazydeps`).

Removed rather than listed (issue 19: "optimisations that save under ~20 ms a batch and
need such a hook are removed"): CPython's ``warnings._showwarnmsg_impl``,
``warnings._showwarning_orig`` and ``warnings._formatwarnmsg`` (a forked document now
prints warnings through the public ``warnings.showwarning``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any


@dataclass(frozen=True)
class PrivateName:
    """One private name of another library used here.

    ``library`` is a distribution name (``"python"`` for CPython's standard library);
    ``checked`` the versions it was checked against, ``(lowest, below)``: from ``lowest``
    up to, not including, ``below``.
    """

    module: str
    name: str
    library: str
    checked: tuple[str, str]
    why: str


PRIVATE_NAMES = (
    PrivateName(
        "papermill.execute",
        "load_notebook_node",
        "papermill",
        ("2.4", "2.8"),
        "Replaced at run time by salesnb.batch.fastengine.preread, so that each forked document "
        "starts from the notebook its parent parsed once. papermill.execute looks the "
        "function up in its own namespace when it runs (an internal detail). Saves reading "
        "and validating the notebook in every document: 15 ms a document measured for "
        "pipeline_review, about 450 ms of CPU for a batch of 30 reps.",
    ),
    PrivateName(
        "papermill.engines.papermill_engines",
        "_engines",
        "papermill",
        ("2.4", "2.8"),
        "The names papermill's engine registry holds (salesnb batch --engine NAME accepts "
        "any of them, and lists them when a name is wrong); papermill has no public list.",
    ),
    PrivateName(
        "warnings",
        "_processoptions",
        "python",
        ("3.11", "3.15"),
        "A forked document starts with a new kernel's warning filters: CPython's defaults "
        "and then the -W/PYTHONWARNINGS options, which this applies exactly as CPython "
        "parses them at start-up.",
    ),
    PrivateName(
        "multiprocessing.util",
        "_finalizer_registry",
        "python",
        ("3.11", "3.15"),
        "A chart converter forked from the batch inherits the batch's clean-ups, among them "
        "deleting the folder other converters' sockets live in; it must forget them.",
    ),
    PrivateName(
        "multiprocessing.util",
        "_run_finalizers",
        "python",
        ("3.11", "3.15"),
        "A forked chart converter leaves through os._exit; this runs its own clean-ups "
        "(its socket folder) first.",
    ),
    PrivateName(
        "multiprocessing.process.BaseProcess",
        "_config",
        "python",
        ("3.11", "3.15"),
        "With _finalizer_registry: a forked chart converter forgets the parent's "
        "multiprocessing temporary folder (its 'tempdir' entry) and makes its own.",
    ),
    PrivateName(
        "fastjsonschema",
        "compile",
        "fastjsonschema",
        ("2.19", "2.23"),
        "A public function, replaced at run time in the batch's zygote only by "
        "salesnb.batch.schemacache.install: nbformat compiles its notebook schema through "
        "fastjsonschema.compile (looked up as a module attribute when it validates) and has "
        "no public way to be given a compiled validator; the cached one saves about 45 ms a "
        "batch (issue 19's measure).",
    ),
    PrivateName(
        "jsonschema._format",
        "_rfc3987_is_valid_syntax",
        "jsonschema",
        ("4.26", "4.27"),
        "jsonschema imports rfc3987_syntax.is_valid_syntax under this name at import, which "
        "builds about 35 Lark parsers (1.2 s a process); salesnb.core.lazydeps puts a "
        "stand-in module in sys.modules first whose is_valid_syntax imports the real one on "
        "first call (importlib's LazyLoader cannot: 'from x import y' loads x at once). "
        "When jsonschema stops importing it eagerly (python-jsonschema/jsonschema#1428), "
        "remove lazydeps.",
    ),
    PrivateName(
        "rfc3987_syntax",
        "is_valid_syntax",
        "rfc3987-syntax",
        ("1.1", "1.2"),
        "The one name salesnb.core.lazydeps' stand-in module answers without importing the "
        "package (see jsonschema._format above).",
    ),
    PrivateName(
        "concurrent.futures.process.ProcessPoolExecutor",
        "_processes",
        "python",
        ("3.11", "3.15"),
        "On Ctrl-C the papermill engine's worker processes get SIGTERM so that each shuts "
        "its kernel down; the pool has no public list of its processes.",
    ),
)


def _version(library: str) -> str:
    if library == "python":
        return ".".join(map(str, sys.version_info[:3]))
    try:
        return version(library)
    except PackageNotFoundError:
        return ""


def _release(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts)


def _lookup(dotted: str) -> Any:
    """The object named ``dotted`` (a module, or a module's attribute path)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def check() -> list[str]:
    """Problems with :data:`PRIVATE_NAMES` in this environment (empty when none).

    Examples
    --------
    >>> check()
    []
    """
    problems = []
    for p in PRIVATE_NAMES:
        installed = _version(p.library)
        if installed:
            low, below = p.checked
            if not _release(low) <= _release(installed) < _release(below):
                problems.append(
                    f"{p.module}.{p.name}: {p.library} {installed} is outside the versions "
                    f"checked ({low} up to {below}); check the use ({p.why}) and update "
                    "salesnb.core.compat.PRIVATE_NAMES."
                )
        owner = _lookup(p.module) if p.library != "python" or installed else None
        # a class's instance attribute (set in __init__) is looked for on an instance
        gone = not (hasattr(owner, p.name) or _instance_attribute(owner, p.name))
        if owner is not None and gone:
            problems.append(f"{p.module}.{p.name} no longer exists ({p.library} {installed}).")
    return problems


def _instance_attribute(cls: Any, name: str) -> bool:
    if not isinstance(cls, type):
        return False
    if cls.__name__ == "BaseProcess":
        import multiprocessing

        return isinstance(getattr(multiprocessing.current_process(), name, None), dict)
    if cls.__name__ == "ProcessPoolExecutor":
        pool = cls(1)
        try:
            return hasattr(pool, name)
        finally:
            pool.shutdown(wait=False)
    return False


# --------------------------------------------------------------------------- the uses


def papermill_engine_names() -> set[str]:
    """Every engine name papermill's registry holds (``None``, its default, left out)."""
    from papermill.engines import papermill_engines

    return {n for n in papermill_engines._engines if n}


def replace_notebook_loader(loader: Any) -> Any:
    """Have papermill read notebooks with ``loader``; returns the function it used before."""
    import papermill.execute

    previous = papermill.execute.load_notebook_node
    papermill.execute.load_notebook_node = loader
    return previous


def notebook_loader() -> Any:
    """The function papermill reads notebooks with now."""
    import papermill.execute

    return papermill.execute.load_notebook_node


def apply_warning_options(options: list[str]) -> None:
    """Apply ``-W``-style ``options`` as CPython does at start-up."""
    import warnings

    warnings._processoptions(options)  # type: ignore[attr-defined]


def forget_inherited_finalizers() -> None:
    """In a forked child: drop the clean-ups ``multiprocessing`` registered in the parent,
    and the parent's temporary folder with them (the child makes its own when it needs one).
    """
    import multiprocessing.process
    import multiprocessing.util

    multiprocessing.util._finalizer_registry.clear()
    multiprocessing.process.current_process()._config.pop("tempdir", None)


def run_finalizers() -> None:
    """Run this process's ``multiprocessing`` clean-ups now (before ``os._exit``)."""
    import multiprocessing.util

    multiprocessing.util._run_finalizers()


def pool_processes(pool: Any) -> list[Any]:
    """The worker processes of a ``ProcessPoolExecutor`` (empty when it has none yet)."""
    return list((getattr(pool, "_processes", None) or {}).values())

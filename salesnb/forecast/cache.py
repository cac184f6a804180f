"""Caches of the forecasting modules: per workbook data in the process, and on disk.

What every document of a data set shares (learned win probabilities, the pipeline shock,
blend weights, the level's model choice, replayed past quarters) is computed once: memoised
in the process per workbook data (:func:`cached`) and kept on disk under a key made of the
data's fingerprint, its configuration, the question and the source of the forecasting
modules (:func:`learned_cached`, :func:`learned_cache_path`), so a changed method never
reads an old result.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def memo_per_data(store: dict, limit: int, wb, key: tuple, make) -> Any:
    """``make()``, remembered in ``store`` (at most ``limit`` entries, oldest dropped) per
    workbook data and ``key``. The entry holds the frames themselves, so their ids cannot be
    reused meanwhile by other frames.

    Examples
    --------
    >>> class W: opportunities = snapshots = config = None
    >>> memo_per_data({}, 4, W(), ("k",), lambda: 42)
    42
    """
    full = (id(wb.opportunities), id(wb.snapshots), id(wb.config), *key)
    hit = store.get(full)
    if hit is not None and hit[0] is wb.opportunities and hit[1] is wb.snapshots:
        return hit[2]
    out = make()
    if len(store) >= limit:
        store.pop(next(iter(store)))
    store[full] = (wb.opportunities, wb.snapshots, out)
    return out


_CACHE: dict[tuple, object] = {}


def cached(key: tuple, wb, make):
    """``make()`` memoised in the process per workbook data and ``key`` (:func:`memo_per_data`,
    one store of 512 entries shared by the forecasting modules).

    Examples
    --------
    >>> cached(("demo",), wb, lambda: 1.5)  # doctest: +SKIP
    1.5
    """
    return memo_per_data(_CACHE, 512, wb, key, make)


#: The forecasting modules' source is part of the disk cache key, so a changed method never
#: reads an old result: every module of this package (levelmix.py was once left out of a
#: hand-kept list, and a changed band method would have read old band factors).
_CODE_DIR = Path(__file__).parent
_CODE_VERSION: str | None = None


def code_version() -> str:
    """Hash of the forecasting modules' source (16 hex digits), part of every cache key."""
    global _CODE_VERSION
    if _CODE_VERSION is None:
        h = hashlib.sha256()
        for f in sorted(_CODE_DIR.glob("*.py")):
            h.update(f.name.encode() + b"\0" + f.read_bytes())
        _CODE_VERSION = h.hexdigest()[:16]
    return _CODE_VERSION


def learned_cache_path(wb, kind: str, parts: tuple) -> Path:
    """Where a learned value is cached on disk, keyed by the data, the question and the code.

    The file name hashes ``kind``, ``parts`` (as_of, snapshot dates, subject...), the
    workbook's :meth:`~salesnb.data.model.Workbook.fingerprint`, its configuration and the
    source of the forecasting modules, under :func:`salesnb.reports.vegabundle.cache_dir`
    (``$SALESNB_CACHE``, else ``$XDG_CACHE_HOME/salesnb``, else ``~/.cache/salesnb``).

    Parameters
    ----------
    wb : Workbook
    kind : str
        ``"shock"``, ``"blend"``, ``"past"``, ``"winprob"`` (the win-probability and
        in-period tables of :mod:`salesnb.forecast.winprob` at one date) or ``"pooled"`` (a level's
        history model choice, :func:`salesnb.forecast.combined.level_choice`).
    parts : tuple
        Anything else the value depends on (converted with ``str``).

    Returns
    -------
    Path
        ``<cache>/forecast/<kind>-<32 hex>.json`` (may not exist yet).

    Examples
    --------
    >>> learned_cache_path(wb, "shock", ("2026-09-30",)).name[:6]  # doctest: +SKIP
    'shock-'
    """
    from salesnb.core.files import cache_dir

    fp = cached(("fingerprint",), wb, wb.fingerprint)
    key = json.dumps([kind, fp, repr(wb.config), code_version(), [str(x) for x in parts]])
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return cache_dir() / "forecast" / f"{kind}-{digest}.json"


def disk_cached(wb, kind: str, parts: tuple, make, dump, load):
    """``load(json)`` of the cached value, else ``make()``, written atomically with ``dump``.

    An unreadable or unwritable cache is ignored: the value is then computed as usual.

    Examples
    --------
    >>> disk_cached(wb, "demo", ("x",), lambda: [1.5], list, list)  # doctest: +SKIP
    [1.5]
    """
    path = learned_cache_path(wb, kind, parts)
    try:
        return load(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    from salesnb.core.files import atomic_write

    value = make()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # atomic: concurrent documents never read half a file
        atomic_write(path, json.dumps(dump(value)).encode("utf-8"))
    except (OSError, TypeError, ValueError):  # not writable, or not JSON-able: keep the value
        pass
    return value


def learned_cached(wb, kind: str, parts: tuple, make, dump, load):
    """``make()`` remembered in the process per data and on disk (see
    :func:`learned_cache_path`): what every document of a data set shares is computed once.

    Parameters
    ----------
    wb : Workbook
    kind, parts
        As for :func:`learned_cache_path`.
    make : callable
        Computes the value.
    dump, load : callable
        To and from JSON-able data.

    Examples
    --------
    >>> learned_cached(wb, "demo", ("x",), lambda: 1.5, float, float)  # doctest: +SKIP
    1.5
    """
    return cached((kind, *parts), wb, lambda: disk_cached(wb, kind, parts, make, dump, load))

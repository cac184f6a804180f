"""Team-level results computed once per data set and shared by every document made from it.

A document about one rep still needs figures about everyone: the team's stage conversion to
compare against, the size that makes a deal "large", each deal's flags before they are
filtered to the rep. Computed per document, that work is repeated identically for every rep
of a batch. Functions decorated with :func:`shared` are pure functions of a workbook's data
(and their other arguments); their results are kept per data set, so the second call with
the same data and arguments is a lookup.

Which data a result belongs to is decided by a *seal*: :func:`seal` (``salesnb.load`` calls
it) records the data's fingerprint and exactly which pandas blocks hold each table. A
workbook whose tables were replaced or edited in place (pandas copy-on-write gives an edited
table new blocks) no longer matches its seal, and its calls are computed afresh, uncached.

In a batch (:mod:`salesnb.batch.fastengine`) a document that lacks a result asks the zygote, which
computes it from its own, untouched copy of the data (:func:`set_source`); documents forked
later inherit it. Nothing a document computed ever reaches another document.

Examples
--------
>>> @shared
... def open_amount(wb, as_of):
...     o = wb.opportunities
...     return float(o.loc[o["outcome"] == "open", "amount"].sum())
>>> open_amount(wb, wb.as_of)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import pandas as pd

F = TypeVar("F", bound=Callable[..., Any])

#: Results kept per process (least recently used dropped first).
MAX_ENTRIES = 256

_REGISTRY: dict[str, Callable[..., Any]] = {}
_MEMO: OrderedDict[tuple, Any] = OrderedDict()
_ASKED: dict[tuple, None] = {}  # (name, data token, args) computed here, in order
_SOURCE: dict[str, Callable[[str, tuple, tuple], tuple[bool, Any]]] = {}  # see set_source
#: Attribute of a sealed workbook holding its seal.
SEAL_ATTR = "_salesnb_seal"


@dataclass(eq=False)
class _Seal:
    tables: dict[str, tuple[Any, tuple, tuple]]  # name -> (frame, its blocks, its axes)
    keep: dict[str, pd.DataFrame]  # the frames the sealed ones were copied from
    config: Any
    config_digest: str
    fingerprint: str | None = None


def _state(df: pd.DataFrame) -> tuple[tuple, tuple]:
    mgr = df._mgr  # block identity is what tells an edited table apart
    return tuple(mgr.blocks), tuple(mgr.axes)


def _same(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def seal(wb: Any, *, like: Any = None) -> Any:
    """Seal ``wb`` (in place; returned) so :func:`shared` results are kept for its data.

    Each table is replaced by a shallow copy of itself: the blocks are then shared with the
    kept original, so pandas copies a block before any in-place edit and the edit shows.
    ``like`` is a sealed workbook with the same content (a copy of it): its fingerprint is
    taken over instead of recomputed.
    """
    try:
        keep, tables = {}, {}
        for name in wb.TABLE_NAMES:
            original = getattr(wb, name)
            copy = original.copy(deep=False)
            setattr(wb, name, copy)
            keep[name] = original
            tables[name] = (copy, *_state(copy))
    except AttributeError:  # not pandas' block manager: no sharing, everything still works
        return wb
    digest = hashlib.sha256(repr(wb.config).encode()).hexdigest()[:16]
    old = getattr(like, SEAL_ATTR, None) if like is not None else None
    fp = old.fingerprint if old is not None and old.config_digest == digest else None
    object.__setattr__(wb, SEAL_ATTR, _Seal(tables, keep, wb.config, digest, fp))
    return wb


def _intact(wb: Any) -> _Seal | None:
    s = getattr(wb, SEAL_ATTR, None)
    if s is None or wb.config is not s.config:
        return None
    for name, (frame, blocks, axes) in s.tables.items():
        df = getattr(wb, name, None)
        if df is not frame:
            return None
        now_blocks, now_axes = _state(df)
        if not (_same(now_blocks, blocks) and _same(now_axes, axes)):
            return None
    return s


def fingerprint(wb: Any, compute: Callable[[], str]) -> str:
    """``compute()`` once per sealed, unedited data set; every call for an unsealed one."""
    s = _intact(wb)
    if s is None:
        return compute()
    if s.fingerprint is None:
        s.fingerprint = compute()
    return s.fingerprint


def token(wb: Any) -> tuple[str, str] | None:
    """What identifies ``wb``'s data in the memo (fingerprint, config), None if unsealed/edited."""
    s = _intact(wb)
    if s is None:
        return None
    try:
        return wb.fingerprint(), s.config_digest
    except (KeyError, TypeError, ValueError):  # tables short of canonical columns: not shared
        return None


def _fresh(value: Any) -> Any:
    # Callers may add columns to what they get: each gets its own frame (copy-on-write makes
    # the shallow copy independent of the kept one).
    if isinstance(value, pd.DataFrame | pd.Series):
        return value.copy(deep=False)
    if isinstance(value, tuple):
        return tuple(_fresh(v) for v in value)
    return value


def shared(fn: F) -> F:
    """Keep ``fn(wb, *args)``'s results per data set (see the module docstring).

    ``fn`` must depend only on the workbook's data and config and on ``args``, which must be
    hashable and picklable (dates, strings, numbers, tuples).
    """
    name = f"{fn.__module__}.{fn.__qualname__}"

    @functools.wraps(fn)
    def wrapper(wb: Any, *args: Any) -> Any:
        tok = token(wb)
        if tok is None:
            return fn(wb, *args)
        key = (name, tok, args)
        if key in _MEMO:
            _MEMO.move_to_end(key)
            return _fresh(_MEMO[key])
        source = _SOURCE.get("fn")
        if source is not None:
            found, value = source(name, tok, args)
            if found:
                _keep(key, value)
                return _fresh(value)
        _ASKED[key] = None
        value = fn(wb, *args)
        _keep(key, value)
        return _fresh(value)

    _REGISTRY[name] = wrapper
    return wrapper  # type: ignore[return-value]


def _keep(key: tuple, value: Any) -> None:
    _MEMO[key] = value
    while len(_MEMO) > MAX_ENTRIES:
        _MEMO.popitem(last=False)


def set_source(fn: Callable[[str, tuple, tuple], tuple[bool, Any]] | None) -> None:
    """Ask ``fn(name, data token, args)`` for a result this process does not keep yet, before
    computing it; ``fn`` returns ``(True, value)``, or ``(False, None)`` to compute here.

    A document forked by a batch's zygote asks the zygote: the first documents of a batch then
    share one computation of each team-level result (and the zygote keeps it for the documents
    forked later) instead of each computing it. Results found this way are not :func:`asked`.
    ``None`` removes the source.

    Examples
    --------
    >>> set_source(lambda name, token, args: (False, None))  # always compute here
    >>> set_source(None)
    """
    if fn is None:
        _SOURCE.pop("fn", None)
    else:
        _SOURCE["fn"] = fn


def compute(name: str, wb: Any, args: tuple) -> Any:
    """The shared result ``name(wb, *args)``, kept here (or found kept); KeyError if unknown.

    Computed for others (the documents that asked), so not reported by :func:`asked`.
    """
    value = _REGISTRY[name](wb, *args)
    tok = token(wb)
    if tok is not None:
        _ASKED.pop((name, tok, args), None)
    return value


def asked() -> list[tuple[str, tuple, tuple]]:
    """What this process computed (not found kept): ``(name, data token, args)``, oldest first."""
    return list(_ASKED)


def compute_ahead(wb: Any, wanted: Iterable[tuple[str, tuple, tuple]]) -> int:
    """Compute the ``wanted`` results (from :func:`asked`) that are about ``wb``'s data, here,
    so that processes forked later find them.

    Unknown names and other data are skipped. Returns how many were computed.
    """
    done = 0
    tok = token(wb)
    if tok is None:
        return 0
    for name, about, args in wanted:
        compute = _REGISTRY.get(name)
        if compute is None or about != tok or (name, tok, args) in _MEMO:
            continue
        # what fails here is left to each document, which computes it and reports why
        with contextlib.suppress(Exception):
            compute(wb, *args)  # the shared wrapper: stores under this data's token
            done += 1
    _ASKED.clear()  # what the zygote computed is not what its documents will ask for
    return done


def clear() -> None:
    """Forget every kept result (tests; a long session after the data changed)."""
    _MEMO.clear()
    _ASKED.clear()

"""File names of a batch's documents: safe, unique, stable stems for subjects."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping

_RESERVED_SLUGS = {
    "index",
    "manifest",
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(10)),
    *(f"lpt{i}" for i in range(10)),
}


_MAX_SLUG = 60


def slugify(text: str) -> str:
    """A safe, lower-case file name stem for any text (ASCII letters, digits and dashes).

    Accents become ASCII letters, apostrophes vanish, anything else separates
    words. The result never is empty, never starts with a dot, never contains a
    path separator and is at most 60 characters; Windows device names and the
    batch's own file names are avoided by :func:`assign_slugs`.

    Examples
    --------
    >>> slugify("Zoë O'Brien"), slugify("José Nuñez-García"), slugify("../../etc")
    ('zoe-obrien', 'jose-nunez-garcia', 'etc')
    """
    text = unicodedata.normalize("NFKD", str(text))
    text = text.encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"['’`]", "", text).lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return text[:_MAX_SLUG].rstrip("-") or "subject"


def _short_hash(text: str, n: int = 6) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


def assign_slugs(labels: Mapping[str, str]) -> dict[str, str]:
    """Unique file name stems for subjects: ``{key: slug}`` from ``{key: label}``.

    Subjects whose labels slugify alike (``"São Paulo"`` and ``"Sao Paulo"``) all get
    a short hash of their key appended, so the names do not depend on which
    subjects a run includes or on their order. Reserved stems (``index``,
    ``manifest``, ``CON``, ``NUL`` ...) get the suffix too.

    Examples
    --------
    >>> assign_slugs({"a": "Ana", "b": "Añá", "c": "CON"})
    {'a': 'ana-ca9781', 'b': 'ana-3e23e8', 'c': 'con-2e7d2c'}
    """
    base = {k: slugify(v) for k, v in labels.items()}
    counts: dict[str, int] = {}
    for s in base.values():
        counts[s] = counts.get(s, 0) + 1
    out = {}
    for k, s in base.items():
        if counts[s] > 1 or s in _RESERVED_SLUGS or s.endswith(".failed"):
            s = f"{s}-{_short_hash(k)}"
        out[k] = s
    if len(set(out.values())) != len(out):  # a hash suffix met a real name: lengthen all
        out = {k: f"{base[k]}-{_short_hash(k, 16)}" for k in labels}
    return out

"""Privacy of a rep's document: the data notes, the terms that must not appear in it (other
reps' names, ids, accounts and deals: :func:`forbidden_terms`, :func:`private_terms`) and
:func:`redact`, which masks them in any text.

Public through :mod:`salesnb.reports.facts`.
"""

from __future__ import annotations

import ast
import difflib
import re
import unicodedata
import warnings
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from salesnb.reports import plausibility
from salesnb.reports.factcontext import (
    Context,
)

# --------------------------------------------------------------------------- privacy
#: Fewer months of closed deals than this and documents say so: seasonal forecast models and
#: year-on-year comparisons need two full years.
MIN_HISTORY_MONTHS = 24


def coverage_notes(ctx: Context) -> list[str]:
    """What the data cannot tell about this subject: it has no deals, or the history is short.

    A rep with no opportunity at all still gets a document (zeros and n/a), and this note
    says why; closed deals spanning fewer than :data:`MIN_HISTORY_MONTHS` months (an export
    of ten months, say) limit every trend and forecast, whoever the subject is.

    Examples
    --------
    >>> coverage_notes(open_context("data/sample", None, "rep", "R27"))  # doctest: +SKIP
    []
    """
    o = ctx.wb.opportunities
    notes = []
    if not o["rep_id"].isin(ctx.rep_ids).any():
        name = ctx.subject.name
        notes.append(
            f"{name} has no deals in the data (no open, won or lost opportunity), so the "
            f"figures here are zero or n/a. Fix: nothing to do if {name} is new or has left; "
            "otherwise check that their deals carry their rep id or name."
        )
    closed = o.loc[o["outcome"].isin(("won", "lost")), "close_date"].dropna()
    closed = closed[closed <= ctx.as_of]
    if len(closed):
        first, last = closed.min().to_period("M"), closed.max().to_period("M")
        months = (last - first).n + 1
        if months < MIN_HISTORY_MONTHS:
            notes.append(
                f"Closed deals span only {months} months ({first} to {last}): too short for "
                "seasonal forecast models and year-on-year comparisons; read trends and the "
                "history forecast with care. Fix: export at least "
                f"{MIN_HISTORY_MONTHS} months of closed deals."
            )
    # What looks implausible about the data as a whole (team-level; no rep's figures).
    notes.extend(plausibility.flagged(ctx.wb))
    return notes


def data_notes(ctx: Context) -> list[str]:
    """The data's warnings as text, after :func:`coverage_notes`, as this subject may see them.

    A document about some reps (a rep, a manager's or a region's reps) shows the warnings
    about its own reps' records and those about no records in particular (a file, a
    column), with other reps' names, ids, accounts and deals redacted (:func:`redact`);
    warnings only about other reps' records are summed up in one closing sentence. A
    document about the whole team shows every warning as it is.
    """
    notes = coverage_notes(ctx)
    problems = list(ctx.wb.warnings)
    if ctx.subject.type == "all":
        return notes + [str(w) for w in problems]
    own = set(ctx.rep_ids)
    shown = [w for w in problems if not w.reps or own & set(w.reps)]
    texts = notes + [str(w) for w in shown]
    terms = private_terms(ctx) if texts else None
    out = [redact(n, terms) for n in texts] if terms is not None else []
    others = len(problems) - len(shown)
    if others:
        noun = "data problem concerns" if others == 1 else "data problems concern"
        out.append(
            f"{others} other {noun} only other reps' records and "
            + (
                "is not shown in this copy (the analyst sees it"
                if others == 1
                else "are not shown in this copy (the analyst sees them"
            )
            + " with salesnb validate)."
        )
    return out


def forbidden_terms(ctx: Context) -> list[str]:
    """Names and ids of every other rep and accounts the subject does not own (privacy scan).

    Also every other form in which a warning quotes one of them (a value as the export
    wrote it before a profile corrected it). Longest first.
    """
    own, ids, names = _private_values(ctx)
    terms = set(ids["rep"]) | set(names["rep"]) | set(names["account"])
    terms |= _aliases(ctx.wb.warnings, terms, own)
    return sorted((t for t in terms if str(t).strip()), key=len, reverse=True)


def _private_values(ctx: Context) -> tuple[set[str], dict[str, list[str]], dict[str, list[str]]]:
    """(own ids, names, accounts and deals; other ids by kind; other names by kind)."""
    wb, mine = ctx.wb, ctx.rep_ids
    reps, o = wb.reps, wb.opportunities
    is_mine, own_deal = reps["rep_id"].isin(mine), o["rep_id"].isin(mine)
    own_accounts = set(o.loc[own_deal, "account"].dropna().tolist())
    own = (
        set(reps.loc[is_mine, "rep_id"].tolist())
        | set(reps.loc[is_mine, "name"].dropna().tolist())
        | own_accounts
    )
    own_deals = set(o.loc[own_deal, "opp_id"].dropna().tolist())
    ids = {
        "rep": reps.loc[~is_mine, "rep_id"].dropna().tolist(),
        "deal": o.loc[~own_deal, "opp_id"].dropna().tolist(),
    }
    accounts = set(o.loc[~own_deal, "account"].dropna().tolist()) - own_accounts
    names = {"rep": reps.loc[~is_mine, "name"].dropna().tolist(), "account": sorted(accounts)}
    return own | own_deals, ids, names


def _aliases(warnings: list[Any], terms: set[str], own: set[str]) -> set[str]:
    """Values quoted beside a forbidden term in a warning's ``values`` (e.g. the raw form)."""
    out: set[str] = set()
    if not any(getattr(w, "values", ()) for w in warnings):
        return out
    folded = {_fold(t) for t in terms}
    mine = {_fold(t) for t in own}
    for w in warnings:
        vals = [str(v) for v in getattr(w, "values", ()) or ()]
        keys = [_fold(v) for v in vals]
        if any(k in folded for k in keys) and not any(k in mine for k in keys):
            out |= set(vals)
    return out


# --------------------------------------------------------------------------- redaction
#: What a redacted value becomes in a document.
MASK = "[another rep]"
_TOKEN = re.compile(r"\w+")
#: A value quoted as Python's repr quotes it; an apostrophe inside a word opens nothing.
_QUOTED = re.compile(r"""(?<![\w'"])(?:'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")(?![\w'"])""")
#: Words after which an id stands unquoted as an identifier ("rep 12", "owner: May").
_ID_CONTEXT = frozenset(
    {"rep", "rep_id", "owner", "owner_id", "seller", "agent", "salesperson", "deal", "deal_id",
     "opportunity", "opp", "opp_id"}
)  # fmt: skip
_CONTEXT_GAP = re.compile(r"\s*[:=#]?\s*")
#: Quoted values at least this similar to another rep's name or account are redacted too
#: (a near-duplicate spelling), unless they are closer to one of the subject's own.
NEAR_DUPLICATE = 0.88


def _fold(text: Any) -> tuple[str, ...]:
    """The word tokens of ``text``, case-folded and without accents: what matching compares.

    Examples
    --------
    >>> _fold("Zoë O'BRIEN  Corp.")
    ('zoe', 'o', 'brien', 'corp')
    """
    return _fold_text(str(text))


@lru_cache(maxsize=1 << 17)
def _fold_text(s: str) -> tuple[str, ...]:
    if s.isascii():
        return tuple(_TOKEN.findall(s.lower()))
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c))
    return tuple(t.casefold() for t in _TOKEN.findall(s))


def _words(text: Any) -> tuple[str, ...]:
    """The word tokens of ``text`` as written (Unicode NFC)."""
    return tuple(_TOKEN.findall(unicodedata.normalize("NFC", str(text))))


def _id_like(key: tuple[str, ...]) -> bool:
    """Tokens that could be ordinary words or numbers: one number, short code or word with
    digits (``12``, ``A``, ``R1``), or several numbers and short codes (``{{7*7}}``,
    ``A-1``). Such a name is matched as an id is."""
    if len(key) == 1:
        return len(key[0]) <= 2 or any(c.isdigit() for c in key[0])
    return all(len(t) <= 2 or t.isdigit() for t in key)


@dataclass(frozen=True)
class PrivateTerms:
    """What :func:`redact` hides, folded (see :func:`_fold`) and sorted by how it matches.

    ``ids`` (rep ids, deal ids, and names that look like codes or numbers) are redacted
    where they stand as identifiers: quoted, or right after a word such as ``rep`` or
    ``owner`` and in the case written (``rep May``, not ``rep may``); never inside line
    numbers, counts, dates or figures. ``names`` (rep names, accounts) are redacted
    quoted, within a quoted value, as a near-duplicate quoted value, and unquoted as a
    sequence of words (a single word only when capitalised). ``own`` (the subject's own
    ids, names, accounts and deals) is never redacted.
    """

    ids: frozenset[tuple[str, ...]]
    names: frozenset[tuple[str, ...]]
    own: frozenset[tuple[str, ...]]
    #: The ids' tokens as written (case kept): an unquoted id matches only in its own case.
    written: frozenset[tuple[str, ...]] = frozenset()

    @classmethod
    def build(cls, ids: Any = (), names: Any = (), own: Any = ()) -> PrivateTerms:
        """Terms from values as the data holds them (any case, spacing or accents)."""
        mine = {k for k in map(_fold, own) if k}
        id_keys = {k for k in map(_fold, ids) if k} - mine
        name_keys = {k for k in map(_fold, names) if k} - mine
        id_keys |= {k for k in name_keys if _id_like(k)}
        written = {_words(v) for v in (*ids, *names) if _fold(v) in id_keys}
        return cls(
            frozenset(id_keys), frozenset(name_keys - id_keys), frozenset(mine), frozenset(written)
        )

    @cached_property
    def sizes(self) -> list[int]:
        """Token counts of the terms, longest first."""
        return sorted({len(k) for k in self.ids | self.names | self.own}, reverse=True)

    @cached_property
    def near(self) -> dict[str, bool]:
        """Names (True) and own values (False) of 5+ characters, for near-duplicates (ids
        and codes are not compared so)."""
        pool = {" ".join(k): False for k in self.own if not _id_like(k) and len(" ".join(k)) >= 5}
        pool.update({" ".join(k): True for k in self.names if len(" ".join(k)) >= 5})
        return pool


def private_terms(ctx: Context) -> PrivateTerms:
    """Every other rep's id, name, accounts (those the subject does not own) and deal ids,
    with the other forms in which warnings quote them, for :func:`redact`."""
    own, ids, names = _private_values(ctx)
    alias = _aliases(ctx.wb.warnings, {*ids["rep"], *ids["deal"], *names["rep"],
                                       *names["account"]}, own)  # fmt: skip
    alias_ids = {a for a in alias if any(_fold(a) == _fold(i) for i in ids["rep"] + ids["deal"])}
    return PrivateTerms.build(
        ids=[*ids["rep"], *ids["deal"], *alias_ids],
        names=[*names["rep"], *names["account"], *(alias - alias_ids)],
        own=own,
    )


def redact(text: str, terms: PrivateTerms | list[str], mask: str = MASK) -> str:
    """``text`` with every identifier of another rep replaced by ``mask``.

    ``terms`` is a :class:`PrivateTerms` or a plain list of values (single tokens that
    look like codes or numbers are then taken as ids, the rest as names). Matching is by
    word tokens, case-insensitive and accent-insensitive: a quoted value (``'R12'``,
    ``"O'Brien"``) is replaced with its quotes when it is, contains (several words) or
    nearly is another rep's value; unquoted, an id only right after ``rep``, ``owner``,
    ``deal``... (in the case written), and a name as its sequence of words. A run of
    masks in a list becomes one count (``[3 other reps]``). Numbers, dates and ordinary
    words stay as they are; so do the subject's own values.

    Examples
    --------
    >>> t = PrivateTerms.build(ids=["12"], names=["Bob Baker"], own=["7"])
    >>> redact("Unknown rep '12' on lines 12, 13 (trailing 12-month average); bob  baker.", t)
    'Unknown rep [another rep] on lines 12, 13 (trailing 12-month average); [another rep].'
    """
    if not isinstance(terms, PrivateTerms):
        terms = PrivateTerms.build(names=list(terms))
    if not (terms.ids or terms.names) or not text:
        return text
    text = unicodedata.normalize("NFC", text)
    hits: list[tuple[int, int]] = []
    regions, pos = [], 0
    for m in _QUOTED.finditer(text):
        regions.append((pos, m.start()))
        pos = m.end()
        if _quoted_is_private(m.group(), terms):
            hits.append(m.span())
    regions.append((pos, len(text)))
    for a, b in regions:
        hits += _unquoted_hits(text, a, b, terms)
    for a, b in sorted(hits, reverse=True):
        text = text[:a] + mask + text[b:]
    if mask == MASK:
        run = re.compile(rf"{re.escape(mask)}(?:, {re.escape(mask)})+")
        text = run.sub(lambda m: f"[{m.group().count(mask)} other reps]", text)
        # a list that held only other reps' values: "[[2 other reps]]" -> "[2 other reps]"
        text = re.sub(r"\[(\[(?:another rep|\d+ other reps)\])\]", r"\1", text)
    return text


def _quoted_is_private(quoted: str, terms: PrivateTerms) -> bool:
    """Whether a quoted value is, contains or nearly is another rep's value."""
    try:
        with warnings.catch_warnings():  # "invalid escape sequence" must not reach a document
            warnings.simplefilter("ignore")
            value = ast.literal_eval(quoted)
    except (ValueError, SyntaxError):
        value = quoted[1:-1]
    key = _fold(value)
    if not key or key in terms.own:
        return False
    if key in terms.ids or key in terms.names:
        return True
    if any(
        key[i : i + n] in terms.names
        for n in terms.sizes
        if 1 < n <= len(key)
        for i in range(len(key) - n + 1)
    ):
        return True
    flat = " ".join(key)
    if len(flat) < 5 or _id_like(key):
        return False
    near = difflib.get_close_matches(flat, list(terms.near), n=1, cutoff=NEAR_DUPLICATE)
    return bool(near) and terms.near[near[0]]


def _unquoted_hits(text: str, a: int, b: int, terms: PrivateTerms) -> list[tuple[int, int]]:
    """Spans of other reps' names (and ids in an identifier's place) in ``text[a:b]``."""
    toks = [(m.start() + a, m.end() + a, m.group()) for m in _TOKEN.finditer(text[a:b])]
    folded = ["".join(_fold(t)) or t.casefold() for _, _, t in toks]
    hits, i = [], 0
    while i < len(toks):
        step = 1
        for n in terms.sizes:
            key = tuple(folded[i : i + n])
            if len(key) < n:
                continue
            if key in terms.own:  # the subject's own value: kept whole
                step = n
                break
            private = (key in terms.names and (n > 1 or any(c.isupper() for c in toks[i][2]))) or (
                key in terms.ids
                and tuple(t for _, _, t in toks[i : i + n]) in terms.written
                and _in_id_context(text, toks, folded, i)
            )
            if private:
                hits.append((toks[i][0], toks[i + n - 1][1]))
                step = n
                break
        i += step
    return hits


def _in_id_context(text: str, toks: list, folded: list[str], i: int) -> bool:
    """Whether token ``i`` follows an identifier word ("rep 12", "owner: 12", "rep id 12")."""
    j = i - 1
    if j >= 0 and folded[j] == "id" and j >= 1 and folded[j - 1] in _ID_CONTEXT:
        return bool(_CONTEXT_GAP.fullmatch(text[toks[j][1] : toks[i][0]]))
    return (
        j >= 0
        and folded[j] in _ID_CONTEXT
        and bool(_CONTEXT_GAP.fullmatch(text[toks[j][1] : toks[i][0]]))
    )

"""SQL text of a profile's queries: split into statements and checked to be one read-only query."""

from __future__ import annotations

import re

_QUERY_START = ("select", "with", "values", "table")


_IDENT_CHAR = re.compile(r"[\w$]")


_DOLLAR_TAG = re.compile(r"\$(?:[^\W\d]\w*)?\$")


def split_statements(text: str, dialect: str = "postgresql") -> list[str]:
    """The statements of ``text``, split at the semicolons that end one.

    Semicolons inside string literals (``'...'``, PostgreSQL's ``E'...'`` with backslash
    escapes and ``$tag$...$tag$``), quoted identifiers (``"..."``; SQLite's ``[...]``
    and backquotes too) and comments (``--``, ``/* */``, nested in PostgreSQL) do not
    count. Statements holding only blanks and comments are left out; each returned one
    runs from its first to its last character of code (comments around it dropped). For
    dialects other than ``postgresql`` and ``sqlite`` every semicolon counts (their
    quoting rules differ: an ambiguity is refused, never guessed).

    Raises
    ------
    ValueError
        A literal, quoted identifier or comment is not closed.

    Examples
    --------
    >>> split_statements("/* ; */ SELECT ';' AS a, $x$;$x$ AS b -- ; \\n;")
    ["SELECT ';' AS a, $x$;$x$ AS b"]
    >>> len(split_statements("SELECT 1; COMMIT; DROP TABLE y"))
    3
    """
    return [text[a:b] for a, b in _lex(text, dialect)[0]]


def _lex(text: str, dialect: str) -> tuple[list[tuple[int, int]], str]:
    """The spans of the statements of ``text`` (first to last character of code) and
    ``text`` with its comments blanked out (see :func:`split_statements`)."""
    pg, lite = dialect == "postgresql", dialect == "sqlite"
    if not (pg or lite):
        spans, pos = [], 0
        for part in text.split(";"):
            code = re.sub(r"--[^\n]*", "", part)
            if code.strip():
                lead = len(part) - len(part.lstrip())
                spans.append((pos + lead, pos + len(part.rstrip())))
            pos += len(part) + 1
        return spans, text
    spans: list[tuple[int, int]] = []
    skeleton = list(text)
    n, i, first, last = len(text), 0, -1, -1
    closers = {"'": "'", '"': '"'} | ({"[": "]", "`": "`"} if lite else {})

    def close(end: int, what: str, at: int) -> int:
        if end < 0:
            line = text.count("\n", 0, at) + 1
            raise ValueError(f"the {what} opened on line {line} is never closed")
        return end

    def blank(a: int, b: int) -> None:
        skeleton[a:b] = " " * (b - a)

    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c in closers:
            backslash = (
                pg and c == "'" and i > 0 and text[i - 1] in "eE"
                and (i < 2 or not _IDENT_CHAR.match(text[i - 2]))
            )  # fmt: skip
            j, end = i + 1, closers[c]
            while True:
                found = _find_quote(text, j) if backslash else text.find(end, j)
                j = close(found, "quoted text" if c == "'" else "quoted name", i)
                if end == c and text.startswith(end * 2, j):  # '' or "" inside: one quote
                    j += 2
                    continue
                break
            first, last, i = (i if first < 0 else first), j, j + 1
        elif c == "-" and nxt == "-":
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif c == "/" and nxt == "*":
            depth, j = 1, i + 2
            while depth:
                k = close(text.find("*/", j), "comment", i)
                opened = text.find("/*", j, k) if pg else -1
                if opened >= 0:
                    depth, j = depth + 1, opened + 2
                else:
                    depth, j = depth - 1, k + 2
            blank(i, j)
            i = j
        elif c == "$" and pg and (i == 0 or not _IDENT_CHAR.match(text[i - 1])):
            m = _DOLLAR_TAG.match(text, i)
            j = i
            if m is not None:
                tag = m.group()
                j = close(text.find(tag, m.end()), f"dollar-quoted text {tag}", i) + len(tag) - 1
            first, last, i = (i if first < 0 else first), j, j + 1
        elif c == ";":
            if first >= 0:
                spans.append((first, last + 1))
            first, last, i = -1, -1, i + 1
        else:
            if not c.isspace():
                first, last = (i if first < 0 else first), i
            i += 1
    if first >= 0:
        spans.append((first, last + 1))
    return spans, "".join(skeleton)


def _find_quote(text: str, j: int) -> int:
    """Index of the ``'`` closing an ``E'...'`` string from ``j`` (backslash escapes)."""
    while j < len(text):
        if text[j] == "\\":
            j += 2
        elif text[j] == "'":
            return j
        else:
            j += 1
    return -1


class QueryShapeError(ValueError):
    """A profile query that is not exactly one SELECT statement (never sent)."""


def check_query(text: str, dialect: str = "postgresql") -> str:
    """The one statement of a profile query, without its trailing semicolon.

    Raises
    ------
    QueryShapeError
        The text holds more than one statement (or none), does not start with ``SELECT``,
        ``WITH``, ``VALUES`` or ``TABLE``, or leaves a literal or comment open; the
        message says which.

    Examples
    --------
    >>> check_query("SELECT * FROM reps WHERE note <> ';';")
    "SELECT * FROM reps WHERE note <> ';'"
    """
    try:
        spans, skeleton = _lex(text, dialect)
    except ValueError as exc:
        raise QueryShapeError(str(exc)) from None
    if not spans:
        raise QueryShapeError("it holds no statement")
    if len(spans) > 1:
        second = " ".join(text[slice(*spans[1])].split())[:40]
        raise QueryShapeError(
            f"it holds {len(spans)} statements (the second begins {second!r}); "
            "salesnb runs one SELECT per table"
        )
    a, b = spans[0]
    first = re.match(r"[\s(]*([A-Za-z]*)", skeleton[a:b])
    word = first.group(1) if first else ""
    if word.lower() not in _QUERY_START:
        shown = word or " ".join(skeleton[a:b].split())[:20]
        raise QueryShapeError(f"it begins with {shown!r}, not SELECT, WITH, VALUES or TABLE")
    return text[a:b]

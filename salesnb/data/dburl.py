"""Database URLs: recognise one, resolve it from the environment, and never show its secrets.

:func:`is_url` tells a URL from a folder; :func:`mask_url` is the form every message and
document shows (password, tokens and keys replaced by ``***``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, quote_plus

#: The environment variable a batch hands its documents the full database URL in: their
#: ``data`` parameter (kept in the notebooks, the manifest and the documents) is the URL
#: with its secrets masked, which :func:`load_sql` resolves through this variable.
DATA_URL_ENV = "SALESNB_DATA_URL"

_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


PG_DRIVERS = ("postgresql", "postgresql+psycopg", "postgresql+psycopg2")


_MASK = "***"


_SECRET_PARAMS = re.compile(r"pass|secret|token|key|auth|cred|sig", re.IGNORECASE)


#: Query parameters whose values are shown in messages (connection settings, not secrets);
#: after a secret-looking parameter, items not named here count as part of its value (an
#: unencoded ``&`` in a password).
_PLAIN_PARAMS = frozenset({
    "application_name", "fallback_application_name", "sslmode", "sslrootcert", "sslcert",
    "sslcrl", "sslcompression", "sslnegotiation", "gssencmode", "channel_binding",
    "require_auth", "connect_timeout", "target_session_attrs", "load_balance_hosts",
    "client_encoding", "options", "keepalives", "keepalives_idle", "keepalives_interval",
    "keepalives_count", "tcp_user_timeout", "krbsrvname", "service", "host", "hostaddr",
    "port", "dbname", "user", "replication", "charset", "driver", "mode", "uri", "cache",
    "immutable", "nolock", "vfs", "timeout", "check_same_thread", "read_only", "warehouse",
    "role", "schema", "database", "account", "region", "autocommit", "async_fallback",
})  # fmt: skip


def is_url(source: Any) -> bool:
    """Whether ``source`` is a database URL (``dialect[+driver]://...``) rather than a path.

    Examples
    --------
    >>> is_url("postgresql://ana@db/crm"), is_url("data/sample"), is_url("C:\\\\data")
    (True, False, False)
    """
    return isinstance(source, str) and bool(_URL_RE.match(source.strip()))


def _split_url(url: str) -> tuple[str, str | None, str | None, str] | None:
    """``(scheme, user, password, rest)`` of a URL as written (nothing decoded).

    The credentials end at the LAST ``@`` (a password may hold unencoded ``@``, ``:``,
    ``/``, ``?``...), provided the user name before it holds no ``/`` or ``?`` (else the
    ``@`` belongs to a path or a query: ``sqlite:///a@b.db``). ``rest`` is
    ``host[:port][/database][?query]``. None when ``url`` has no ``scheme://``.
    """
    m = _URL_RE.match(url)
    if m is None:
        return None
    scheme, body = url[: m.end() - 3], url[m.end() :]
    at = body.rfind("@")
    if at >= 0:
        user, colon, password = body[:at].partition(":")
        if "/" not in user and "?" not in user:
            return scheme, user, (password if colon else None), body[at + 1 :]
    return scheme, None, None, body


def _query_items(query: str) -> list[tuple[str, str | None, bool]]:
    """``(key, raw value, secret)`` per ``&``-item of a raw query string; an item without
    ``=`` or with an unknown key right after a secret item continues that secret (its
    value as written, ``&`` and all)."""
    items: list[tuple[str, str | None, bool]] = []
    for part in query.split("&"):
        key, eq, value = part.partition("=")
        if items and items[-1][2] and (not eq or key not in _PLAIN_PARAMS):
            k, v, _ = items[-1]
            items[-1] = (k, f"{v}&{part}", True)
            continue
        secret = bool(_SECRET_PARAMS.search(key)) and key not in _PLAIN_PARAMS
        items.append((key, value if eq else None, secret))
    return items


def mask_url(url: Any) -> str:
    """The URL with its password and secret-looking query values replaced by ``***``.

    Parsed by hand, not by the driver, so that no shape of URL shows part of a secret: a
    password may hold unencoded ``@`` ``:`` ``/`` ``?`` (the credentials end at the last
    ``@``), and a query value whose name contains ``pass``, ``secret``, ``token``,
    ``key``... is masked with any ``&``-items that follow it until a known setting.

    Examples
    --------
    >>> mask_url("postgresql://ana:s3cret@db.example.com:5432/crm?sslpassword=x&sslmode=require")
    'postgresql://ana:***@db.example.com:5432/crm?sslpassword=***&sslmode=require'
    >>> mask_url("postgresql://ana:Top@Secret@db:5432/crm")
    'postgresql://ana:***@db:5432/crm'
    """
    text = str(url).strip()
    parts = _split_url(text)
    if parts is None:
        return text
    scheme, user, password, rest = parts
    head = ""
    if user is not None:
        head = user + (f":{_MASK}" if password is not None else "") + "@"
    base, q, query = rest.partition("?")
    if q:
        shown = []
        for key, value, secret in _query_items(query):
            if value is None:
                shown.append(key)
            else:
                shown.append(f"{key}={_MASK if secret else value}")
        base += "?" + "&".join(shown)
    return f"{scheme}://{head}{base}"


def resolve_url(url: str) -> str:
    """The full URL for ``url``: itself, or, when it is the masked form of the URL in
    :data:`DATA_URL_ENV` (a batch document's ``data`` parameter), that URL."""
    import os

    full = os.environ.get(DATA_URL_ENV, "").strip()
    text = str(url).strip()
    if full and text != full and is_url(full) and mask_url(full) == text:
        return full
    return text


def sa_url(url: str) -> Any:
    """The SQLAlchemy URL of ``url``, credentials split as :func:`mask_url` splits them.

    A password (or secret query value) that is still the mask ``***`` is left out, so
    the driver's own sources (``PGPASSWORD``, ``~/.pgpass``) apply.

    Raises
    ------
    ValueError
        When ``url`` cannot be parsed.
    """
    from urllib.parse import unquote

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    parts = _split_url(url.strip())
    if parts is None:
        raise ValueError("no scheme://")
    scheme, user, password, rest = parts
    base, _, query = rest.partition("?")
    try:
        u = make_url(f"{scheme}://{base}")
    except (ArgumentError, ValueError) as exc:
        raise ValueError(str(exc)) from None
    params: dict[str, list[str]] = {}
    for key, value, secret in _query_items(query) if query else ():
        if value is None or (secret and value == _MASK):
            continue
        params.setdefault(unquote(key.replace("+", " ")), []).append(
            unquote(value.replace("+", " "))
        )
    if password == _MASK:
        password = None
    return u.set(
        username=unquote(user) if user else None,
        password=unquote(password) if password is not None else None,
        query={k: v[0] if len(v) == 1 else tuple(v) for k, v in params.items()},
    )


def url_secrets(url: Any) -> list[str]:
    """Every spelling of the secrets in ``url`` (and of its full form, see :func:`resolve_url`)
    and in the environment, to scrub from messages: each whole, decoded and encoded, and
    each piece of it between ``@``, ``:``, ``/``, ``&`` and ``=`` (a driver may quote a
    host or a query item cut out of a badly written URL)."""
    import os
    from urllib.parse import unquote, unquote_plus

    found = [os.environ.get("PGPASSWORD") or ""]
    text = str(url).strip()
    for candidate in {text, resolve_url(text)}:
        parts = _split_url(candidate)
        if parts is None:
            continue
        _, _, password, rest = parts
        if password is not None and password != _MASK:
            found.append(password)
        for _, value, secret in _query_items(rest.partition("?")[2]) if "?" in rest else ():
            if secret and value and value != _MASK:
                found.append(value)
    out: set[str] = set()
    for s in found:
        for whole in {s, unquote(s), unquote_plus(s)}:
            pieces = {whole, *re.split(r"[@:/&=?#]", whole)}
            for piece in pieces:
                if len(piece) >= 4:  # masking a 1-3 character "secret" would garble messages
                    out |= {piece, quote(piece, safe=""), quote_plus(piece)}
    return sorted(out, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every secret replaced by ``***`` (longest first)."""
    for s in secrets:
        text = text.replace(s, _MASK)
    return text

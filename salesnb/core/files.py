"""Files on disk: atomic writes, content hashes, a cross-platform lock and the cache folder.

Shared by every layer (the batch writes documents, forecast calibration caches what it learned,
the Vega bundle and schema validators are cached), so it depends on nothing but the standard
library and, when installed, ``filelock`` and ``platformdirs``.

* :func:`atomic_write` -- a file is either the old one or the whole new one, never half.
* :func:`sha256_file` -- a file's content hash, read in chunks.
* :func:`exclusive_lock` -- one writer at a time for a folder, on Linux, macOS and Windows.
* :func:`cache_dir` / :func:`cache_path` / :func:`evict` -- one cache folder for every disk
  cache of the kit, kept under a size bound (oldest-used files go first).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

from salesnb.core.errors import SalesnbError

#: Default bound of the cache folder, in bytes (override with ``$SALESNB_CACHE_MAX_MB``).
CACHE_MAX_BYTES = 512 * 1024 * 1024


class LockedError(SalesnbError):
    """Another process holds the lock on this path."""


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either the old file or the whole new one.

    Writes a temporary file in the same folder, fsyncs it, renames it over ``path`` (atomic on
    POSIX and on Windows' ``MoveFileEx``) and fsyncs the folder where the platform allows it.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.json"
    >>> atomic_write(p, b"{}")
    >>> p.read_bytes()
    b'{}'
    """
    path = Path(path)
    # unique per call: two writers of one path (processes or threads) never share a temp file
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:  # a failed write (disk full) leaves no temporary file behind
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """fsync a folder so a rename in it survives a crash (a no-op where folders cannot be
    opened, as on Windows)."""
    if sys.platform == "win32":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, as 64 hex digits.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x"
    >>> _ = p.write_bytes(b"")
    >>> sha256_file(p)[:8]
    'e3b0c442'
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def exclusive_lock(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on ``lock_file``; :class:`LockedError` if taken.

    Uses ``filelock`` when it is installed, else ``fcntl.flock`` (Linux, macOS) or
    ``msvcrt.locking`` (Windows). The lock is released when the block ends or the process dies.

    Examples
    --------
    >>> import tempfile
    >>> with exclusive_lock(Path(tempfile.mkdtemp()) / ".lock"):
    ...     pass
    """
    lock_file = Path(lock_file)
    try:
        import filelock
    except ImportError:
        filelock = None
    if filelock is not None:
        lock = filelock.FileLock(str(lock_file))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            raise LockedError(f"{lock_file} is locked by another process") from None
        try:
            yield
        finally:
            lock.release()
        return
    with open(lock_file, "a+") as f:
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            import msvcrt

            try:
                msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
            except OSError:
                raise LockedError(f"{lock_file} is locked by another process") from None
            try:
                yield
            finally:
                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
            return
        import fcntl

        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(f"{lock_file} is locked by another process") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cache_dir() -> Path:
    """The kit's one cache folder: ``$SALESNB_CACHE``, else the platform's user cache folder.

    That is ``$XDG_CACHE_HOME/salesnb`` or ``~/.cache/salesnb`` on Linux,
    ``~/Library/Caches/salesnb`` on macOS and ``%LOCALAPPDATA%\\salesnb\\Cache`` on Windows
    (through ``platformdirs`` when it is installed). The folder may not exist yet.

    Examples
    --------
    >>> os.environ["SALESNB_CACHE"] = "/tmp/salesnb-cache-doc"
    >>> str(cache_dir())
    '/tmp/salesnb-cache-doc'
    >>> del os.environ["SALESNB_CACHE"]
    """
    if os.environ.get("SALESNB_CACHE"):
        return Path(os.environ["SALESNB_CACHE"])
    if sys.platform.startswith("linux"):  # the historical place, also without platformdirs
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "salesnb"
    try:
        import platformdirs
    except ImportError:
        return Path.home() / ".cache" / "salesnb"
    return Path(platformdirs.user_cache_dir("salesnb", appauthor=False))


def cache_path(kind: str, name: str) -> Path:
    """``cache_dir()/kind/name``, its folder created.

    Examples
    --------
    >>> cache_path("vega", "bundle.js").name
    'bundle.js'
    """
    folder = cache_dir() / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def cache_limit() -> int:
    """The cache folder's size bound in bytes (``$SALESNB_CACHE_MAX_MB``, default 512 MB)."""
    raw = os.environ.get("SALESNB_CACHE_MAX_MB", "")
    try:
        return int(float(raw) * 1024 * 1024) if raw.strip() else CACHE_MAX_BYTES
    except ValueError:
        return CACHE_MAX_BYTES


def evict(limit: int | None = None, folder: Path | None = None) -> list[Path]:
    """Delete the least recently used cache files until the folder holds at most ``limit``.

    Parameters
    ----------
    limit : int, optional
        Bytes; default :func:`cache_limit`.
    folder : Path, optional
        Default :func:`cache_dir`.

    Returns
    -------
    list of Path
        The files removed (oldest access or modification first).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "a").write_bytes(b"x" * 10)
    >>> [p.name for p in evict(limit=5, folder=d)]
    ['a']
    """
    folder = Path(folder) if folder is not None else cache_dir()
    limit = cache_limit() if limit is None else limit
    if not folder.is_dir():
        return []
    entries = []
    total = 0
    try:
        for p in folder.rglob("*"):
            with contextlib.suppress(OSError):
                if p.is_file() and not p.name.endswith(".tmp"):
                    st = p.stat()
                    entries.append((max(st.st_atime, st.st_mtime), st.st_size, p))
                    total += st.st_size
    except OSError:  # an unreadable cache folder is left as it is
        return []
    removed = []
    for _, size, p in sorted(entries, key=lambda e: (e[0], str(e[2]))):
        if total <= limit:
            break
        with contextlib.suppress(OSError):
            p.unlink()
            total -= size
            removed.append(p)
    return removed

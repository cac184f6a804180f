"""The output folder of a batch: checked before a run, created, locked, cleaned; workers."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from salesnb.core.errors import BatchError, ParameterError
from salesnb.core.files import LockedError, exclusive_lock


def clean_temp(out: Path) -> None:
    """Remove temporary files a killed run left behind (never a final name)."""
    for p in out.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            p.unlink()


def check_out(out: str | Path) -> Path:
    """``out`` if a batch can write its documents there; nothing is created.

    Raises
    ------
    ParameterError
        If ``out`` (or the nearest of its parents that exists) is a file, a device or
        anything but a folder, or is a folder this user cannot write to.

    Examples
    --------
    >>> check_out("/dev/null")
    Traceback (most recent call last):
    ...
    salesnb.core.errors.ParameterError: --out '/dev/null' is a device, not a folder. Fix: pass a folder (it is created if missing).
    """
    import stat

    out = Path(out).expanduser()
    fix = "Fix: pass a folder (it is created if missing)."
    existing = out
    while True:
        try:
            mode = existing.stat().st_mode
            break
        except FileNotFoundError:
            if existing.is_symlink():
                msg = f"--out {str(out)!r} is a symbolic link to a missing target. {fix}"
                if existing != out:
                    msg = f"--out {str(out)!r} is under {str(existing)!r}, a broken link. {fix}"
                raise ParameterError(msg) from None
            if existing.parent == existing:  # nothing of it exists: cannot happen on POSIX
                raise ParameterError(f"--out {str(out)!r} cannot be created. {fix}") from None
            existing = existing.parent
        except NotADirectoryError:  # a parent is a file: go up to it
            existing = existing.parent
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            msg = f"--out {str(out)!r} cannot be checked: {why}. {fix}"
            raise ParameterError(msg) from None
    if not stat.S_ISDIR(mode):
        kinds = [
            (stat.S_ISCHR, "a device"),
            (stat.S_ISBLK, "a device"),
            (stat.S_ISFIFO, "a named pipe"),
            (stat.S_ISSOCK, "a socket"),
        ]
        kind = next((k for test, k in kinds if test(mode)), "a file")
        if existing == out:
            msg = f"--out {str(out)!r} is {kind}, not a folder. {fix}"
        else:
            msg = (
                f"--out {str(out)!r} is under {str(existing)!r}, which is {kind}, not a "
                f"folder. {fix}"
            )
        raise ParameterError(msg)
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "is" if existing == out else f"would be made in {str(existing)!r},"
        msg = (
            f"--out {str(out)!r} {what} a folder you cannot write to. Fix: choose a folder "
            "you can write to, or change its permissions."
        )
        raise ParameterError(msg)
    return out


def make_out(out: Path) -> None:
    """Create ``out``; a clear :class:`ParameterError` if the system refuses."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        msg = f"--out {str(out)!r} cannot be created: {why}. Fix: pass a folder you can write to."
        raise ParameterError(msg) from None


def cores() -> int:
    """CPU cores this process may run on (its affinity where the OS tells, else all)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cap_workers(workers: int | None, subjects: int) -> tuple[int, str | None]:
    """Documents at once: ``workers`` (default: the cores) capped at the subjects and cores.

    Returns the number and a warning when a requested ``workers`` was lowered.

    Examples
    --------
    >>> import salesnb.batch.documents as b
    >>> b.cap_workers(1000, 3)[0] == min(3, b.cores())
    True
    >>> b.cap_workers(1, 3)
    (1, None)
    """
    n = cores()
    use = max(1, min(workers or n, n, max(1, subjects)))
    if workers is None or workers <= use:
        return use, None
    noun = "subject" if subjects == 1 else "subjects"
    msg = (
        f"--workers {workers} is more than this run can use ({subjects} {noun} to run, "
        f"{n} cores): using {use}."
    )
    return use, msg


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` so two batches never write one folder at once.

    The lock is :func:`salesnb.core.files.exclusive_lock` on ``out/.salesnb.lock``: filelock
    when installed, else ``fcntl`` (Linux, macOS) or ``msvcrt`` (Windows).

    Examples
    --------
    >>> import tempfile
    >>> with locked(Path(tempfile.mkdtemp())):
    ...     pass
    """
    try:
        with exclusive_lock(out / ".salesnb.lock"):
            yield
    except LockedError:
        msg = (
            f"Another salesnb batch is writing to {str(out)!r}. Fix: wait for it to "
            "finish, or choose another --out folder."
        )
        raise BatchError(msg) from None

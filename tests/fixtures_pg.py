"""A throwaway PostgreSQL server for the tests that need a real database.

:func:`start` runs Debian's ``initdb`` and ``pg_ctl`` (``/usr/lib/postgresql/<v>/bin``) to
create a cluster in a temporary folder, listening on 127.0.0.1 on a free port (and on a
Unix socket inside that folder, never the system's), with a database and a login role
whose password is random. As root the server runs as the ``postgres`` user (else
``nobody``): PostgreSQL refuses to run as root. :func:`stop` shuts it down and deletes
the folder. The session fixture :func:`postgres` wraps both; import it into a test
module with ``from fixtures_pg import postgres``.

When the binaries are missing the fixture FAILS (it does not skip): CI installs the
``postgresql`` Debian package, and a silently skipped database suite would hide a broken
set-up.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found under "
    "/usr/lib/postgresql/*/bin. Fix: install Debian's 'postgresql' package "
    "(`apt-get install -y postgresql`; `python dev.py setup` does it), or set "
    "SALESNB_PG_BINDIR to the folder holding initdb and pg_ctl."
)


@dataclass
class PgServer:
    """A running throwaway cluster: where it listens and how to log in."""

    host: str
    port: int
    database: str
    user: str
    password: str
    admin_user: str
    admin_password: str
    root: Path
    bindir: Path
    run_as: str | None

    def url(
        self,
        *,
        user: str | None = None,
        password: str | None = None,
        database: str | None = None,
        port: int | None = None,
        driver: str = "postgresql",
    ) -> str:
        """A SQLAlchemy URL for the test role (or the given credentials)."""
        from sqlalchemy.engine import URL

        return URL.create(
            driver,
            username=user or self.user,
            password=self.password if password is None else password,
            host=self.host,
            port=port or self.port,
            database=database or self.database,
        ).render_as_string(hide_password=False)

    def admin_url(self, database: str = "postgres") -> str:
        return self.url(user=self.admin_user, password=self.admin_password, database=database)


def bindir() -> Path:
    """The newest PostgreSQL server binaries folder; :func:`pytest.fail` if there is none."""
    env = os.environ.get("SALESNB_PG_BINDIR")
    candidates = [Path(env)] if env else []

    def version(p: str) -> tuple[int, ...]:
        v = Path(p).parent.parent.name
        return tuple(int(x) for x in v.split(".") if x.isdigit())

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    candidates += [Path(p).parent for p in reversed(found)]
    for c in candidates:
        if (c / "initdb").is_file() and (c / "pg_ctl").is_file():
            return c
    pytest.fail(_INSTALL_HINT, pytrace=False)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            import pwd

            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    pytest.fail("Running as root and neither user 'postgres' nor 'nobody' exists.", pytrace=False)


def _cmd(args: list[str], run_as: str | None, log: Path | None = None) -> None:
    full = (["runuser", "-u", run_as, "--"] if run_as else []) + args
    res = subprocess.run(full, capture_output=True, text=True, timeout=120, check=False)
    if res.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log and log.is_file() else ""
        pytest.fail(
            f"{' '.join(args[:2])} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}\n{tail}",
            pytrace=False,
        )


def start() -> PgServer:
    """Create and start a cluster; the caller must :func:`stop` it."""
    bins = bindir()
    run_as = _run_as()
    root = Path(tempfile.mkdtemp(prefix="salesnb-pg-"))
    data, sock, log = root / "data", root / "sock", root / "server.log"
    sock.mkdir()
    admin_pw, pw = secrets.token_urlsafe(18), "pw-" + secrets.token_urlsafe(18)
    pwfile = root / "pwfile"
    pwfile.write_text(admin_pw + "\n")
    if run_as:
        import pwd

        ent = pwd.getpwnam(run_as)
        for p in (root, sock, pwfile):
            os.chown(p, ent.pw_uid, ent.pw_gid)
    _cmd(
        [str(bins / "initdb"), "-D", str(data), "-U", "salesnb_admin", f"--pwfile={pwfile}",
         "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C",
         "--no-instructions"],
        run_as,
    )  # fmt: skip
    pwfile.unlink()
    port = free_port()
    opts = (
        f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off"
    )
    _cmd([str(bins / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(log), "-w", "-t", "60",
          "start"], run_as, log)  # fmt: skip
    server = PgServer(
        "127.0.0.1", port, "crm", "salesnb_test", pw, "salesnb_admin", admin_pw, root, bins, run_as
    )
    try:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=port, user="salesnb_admin", password=admin_pw,
            dbname="postgres", autocommit=True,
        ) as con:  # fmt: skip
            con.execute(f"CREATE ROLE salesnb_test LOGIN PASSWORD '{pw}'")
            con.execute("CREATE DATABASE crm OWNER salesnb_test")
    except Exception:
        stop(server)
        raise
    return server


def stop(server: PgServer) -> None:
    """Stop the cluster (fast shutdown) and delete its folder."""
    data = server.root / "data"
    if (data / "postmaster.pid").exists():
        full = (["runuser", "-u", server.run_as, "--"] if server.run_as else []) + [
            str(server.bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop",
        ]  # fmt: skip
        subprocess.run(full, capture_output=True, timeout=120, check=False)
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgServer]:
    """A PostgreSQL server for the whole test session (per xdist worker)."""
    server = start()
    try:
        yield server
    finally:
        stop(server)

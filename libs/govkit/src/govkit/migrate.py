"""Forward-only numbered SQL migrations, checksummed, applied in one transaction.

A service applies two streams into its own schema: `platform` (this package's
tables: outbox, inbox, areas) and its own. Files are `V<number>__<name>.sql`;
the first line is a comment saying why the migration exists.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from govkit.db import Connection

PLATFORM_DIR = Path(__file__).parent / "migrations"
_FILE = re.compile(r"^V(\d{3,})__([a-z0-9_]+)\.sql$")

_CREATE = """
create table if not exists schema_migrations (
    stream     text not null,
    version    int not null,
    name       text not null,
    checksum   text not null,
    applied_at timestamptz not null default now(),
    primary key (stream, version)
)"""


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    stream: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def filename(self) -> str:
        return f"V{self.version:03d}__{self.name}.sql"


def load_dir(stream: str, path: Path) -> list[Migration]:
    found: dict[int, Migration] = {}
    for f in sorted(Path(path).glob("*.sql")):
        m = _FILE.match(f.name)
        if not m:
            raise MigrationError(f"{f}: migration files are named V001__what_it_does.sql")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"{f}: version {version} appears twice in stream {stream}")
        found[version] = Migration(stream, version, m.group(2), f.read_text(encoding="utf-8"))
    versions = sorted(found)
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(f"{path}: versions must run 1, 2, 3... without gaps, found {versions}")
    return [found[v] for v in versions]


def service_migrations(service_dir: Path) -> list[Migration]:
    return load_dir("platform", PLATFORM_DIR) + load_dir("service", service_dir)


async def _applied(con: Connection) -> dict[tuple[str, int], str]:
    exists = await con.fetchval("select to_regclass('schema_migrations') is not null")
    if not exists:
        return {}
    rows = await con.fetch("select stream, version, checksum from schema_migrations")
    return {(r["stream"], r["version"]): r["checksum"] for r in rows}


def _check_edits(migrations: list[Migration], applied: dict[tuple[str, int], str]) -> None:
    for m in migrations:
        done = applied.get((m.stream, m.version))
        if done is not None and done != m.checksum:
            raise MigrationError(
                f"migration {m.stream}/{m.filename} was edited after it was applied "
                f"(checksum {m.checksum[:12]} != applied {done[:12]}); "
                "restore the file and add a new migration instead"
            )


async def pending(con: Connection, migrations: list[Migration]) -> list[Migration]:
    applied = await _applied(con)
    _check_edits(migrations, applied)
    return [m for m in migrations if (m.stream, m.version) not in applied]


async def migrate(con: Connection, migrations: list[Migration]) -> list[Migration]:
    """Apply what is pending in one transaction; returns what was applied."""
    async with con.transaction():
        # replicas starting together: one migrates, the others wait and find nothing to do
        await con.execute("select pg_advisory_xact_lock(hashtext(current_schema() || '.migrate'))")
        await con.execute(_CREATE)
        todo = await pending(con, migrations)
        for m in todo:
            try:
                await con.execute(m.sql)
            except asyncpg.PostgresError as e:
                raise MigrationError(f"migration {m.stream}/{m.filename} failed: {e}") from e
            await con.execute(
                "insert into schema_migrations (stream, version, name, checksum) values ($1, $2, $3, $4)",
                m.stream,
                m.version,
                m.name,
                m.checksum,
            )
        return todo

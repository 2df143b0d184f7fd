"""Where attachment bytes are kept: a small interface with one implementation, the
`case_attachment_blobs` table of the cases schema (the default; CASES_STORAGE=postgres).
Another store (e.g. S3-compatible) implements the same two methods."""

from __future__ import annotations

from typing import Protocol

import asyncpg

PUT_BLOB = """
insert into case_attachment_blobs (key, content_type, data) values ($1, $2, $3)
on conflict (key) do nothing
"""
GET_BLOB = "select content_type, data from case_attachment_blobs where key = $1"


class Storage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> tuple[bytes, str] | None:
        """(bytes, content type), or None when nothing is stored under the key."""
        ...


class PostgresStorage:
    """Blobs in the cases schema (bytea): backed up and migrated with the cases they belong to."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        async with self.pool.acquire() as con:
            await con.execute(PUT_BLOB, key, content_type, data)

    async def get(self, key: str) -> tuple[bytes, str] | None:
        async with self.pool.acquire() as con:
            row = await con.fetchrow(GET_BLOB, key)
        return (bytes(row["data"]), row["content_type"]) if row else None

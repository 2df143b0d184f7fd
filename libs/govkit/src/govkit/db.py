"""asyncpg pools bound to one service schema."""

from __future__ import annotations

import json
from typing import TypeAlias

import asyncpg
import asyncpg.pool

from govkit import database_tls, telemetry

# What a handler, use case or query receives: a plain connection (``db.connect``, tests, tools) or a
# connection acquired from a pool (``pool.acquire()``), which asyncpg types as a proxy rather than a
# Connection subclass. Both expose the same query API (fetch, fetchrow, execute, transaction, ...).
Connection: TypeAlias = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)


async def _init(con: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await con.set_type_codec(
            typ, encoder=lambda v: json.dumps(v, ensure_ascii=False), decoder=json.loads, schema="pg_catalog"
        )
    if telemetry.tracer is not None:  # with tracing off asyncpg times nothing
        con.add_query_logger(telemetry.statement_logged)


def server_settings(schema: str) -> dict[str, str]:
    return {"search_path": f"{schema},public", "application_name": schema}


async def create_pool(dsn: str, schema: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init,
        server_settings=server_settings(schema),
        ssl=database_tls.from_env(),
    )


async def connect(dsn: str, schema: str) -> asyncpg.Connection:
    con = await asyncpg.connect(dsn, server_settings=server_settings(schema), ssl=database_tls.from_env())
    await _init(con)
    return con

"""A password with every URL delimiter in it logs in through a DSN govctl assembles (the test stack's PostgreSQL,
which checks passwords with SCRAM over TCP)."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from govctl import postgres

AWKWARD = "p@ss:w/rd#?%"


async def test_awkward_password_logs_in(stack) -> None:
    admin = await asyncpg.connect(stack.admin_dsn)
    role = f"dsn_test_{uuid.uuid4().hex[:8]}"
    host, port = postgres.server_of(stack.admin_dsn)
    try:
        await admin.execute(f"create role {role} login password '{AWKWARD}'")
        dsn = postgres.dsn(user=role, password=AWKWARD, host=host, port=port, database="postgres")
        con = await asyncpg.connect(dsn)
        try:
            assert await con.fetchval("select current_user") == role
        finally:
            await con.close()
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(postgres.dsn(user=role, password=AWKWARD[:-1], host=host, port=port))
        gov = await asyncpg.connect(postgres.with_database(stack.admin_dsn, "gov"))  # the admin login, moved
        try:
            assert await gov.fetchval("select current_database()") == "gov"
        finally:
            await gov.close()
    finally:
        await admin.execute(f"drop role if exists {role}")
        await admin.close()

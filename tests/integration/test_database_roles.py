"""Each service's login role owns its schema and holds no privilege on the others."""

import asyncpg
import pytest

from govkit import db


async def test_cases_role_cannot_read_or_write_the_volunteers_schema(stack, cases_con):
    # the table exists (platform migrations ran in every schema) ...
    vol = await db.connect(stack.service_dsn("volunteers"), "volunteers")
    try:
        assert await vol.fetchval("select count(*) from volunteers.areas") >= 0
    finally:
        await vol.close()
    # ... but the cases role can neither read nor write it
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="schema volunteers"):
        await cases_con.fetch("select * from volunteers.areas")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="schema volunteers"):
        await cases_con.execute(
            'insert into volunteers.inbox (consumer, event_id, event_type, topic, partition, "offset") '
            "values ('x', 'y', 't', 'gov.x', 0, 0)"
        )
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await cases_con.execute("create table volunteers.intruder (id int)")


async def test_cases_role_owns_its_schema_and_cannot_create_elsewhere(cases_con):
    owner = await cases_con.fetchval("select pg_get_userbyid(nspowner) from pg_namespace where nspname = 'cases'")
    assert owner == "cases"
    assert await cases_con.fetchval("select current_schema()") == "cases"
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await cases_con.execute("create table public.intruder (id int)")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await cases_con.execute("create schema sneaky")


@pytest.mark.parametrize("svc", ["volunteers", "reporting", "notifications"])
async def test_other_roles_cannot_read_cases(stack, svc):
    con = await db.connect(stack.service_dsn(svc), svc)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="schema cases"):
            await con.fetch("select * from cases.outbox")
    finally:
        await con.close()

"""Forward-only, checksummed migrations applied in one transaction."""

import uuid

import asyncpg
import pytest

from govkit import migrate


@pytest.fixture
async def scratch(stack, tmp_path):
    """A fresh schema owned by the cases role, and a migrations folder to write into."""
    schema = f"mig_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(stack.admin_dsn.rsplit("/", 1)[0] + "/gov")
    await admin.execute(f"create schema {schema} authorization cases")
    await admin.close()
    con = await asyncpg.connect(stack.service_dsn("cases"), server_settings={"search_path": schema})
    yield con, tmp_path
    await con.close()


def write(d, name, sql):
    (d / name).write_text(sql, encoding="utf-8")


async def test_applies_in_order_records_checksums_and_rerun_is_a_no_op(scratch):
    con, d = scratch
    write(d, "V001__things.sql", "-- why: things\ncreate table things (id int primary key);")
    write(d, "V002__thing_names.sql", "-- why: names\nalter table things add column name text;")
    ms = migrate.load_dir("service", d)
    applied = await migrate.migrate(con, ms)
    assert [m.filename for m in applied] == ["V001__things.sql", "V002__thing_names.sql"]
    rows = await con.fetch("select version, checksum from schema_migrations order by version")
    assert [(r["version"], r["checksum"]) for r in rows] == [(m.version, m.checksum) for m in ms]
    assert await migrate.migrate(con, ms) == []
    assert await con.fetchval("select count(*) from schema_migrations") == 2


async def test_an_edited_applied_migration_is_refused(scratch):
    con, d = scratch
    write(d, "V001__things.sql", "create table things (id int primary key);")
    await migrate.migrate(con, migrate.load_dir("service", d))
    write(d, "V001__things.sql", "create table things (id bigint primary key);")
    write(d, "V002__more.sql", "create table more (id int);")
    with pytest.raises(migrate.MigrationError, match=r"V001__things.sql was edited after it was applied"):
        await migrate.migrate(con, migrate.load_dir("service", d))
    # nothing of V002 was applied either
    assert await con.fetchval("select to_regclass('more')") is None


async def test_a_failing_migration_applies_nothing(scratch):
    con, d = scratch
    write(d, "V001__ok.sql", "create table ok (id int);")
    write(d, "V002__broken.sql", "create table broken (id nosuchtype);")
    with pytest.raises(migrate.MigrationError, match="V002__broken.sql failed"):
        await migrate.migrate(con, migrate.load_dir("service", d))
    assert await con.fetchval("select to_regclass('ok')") is None
    assert await con.fetchval("select to_regclass('schema_migrations')") is None


async def test_service_migrations_are_applied_by_the_stack(cases_con):
    rows = await cases_con.fetch("select stream, version from schema_migrations order by stream, version")
    assert ("platform", 1) in [(r["stream"], r["version"]) for r in rows]
    pending = await migrate.pending(
        cases_con, migrate.service_migrations(__import__("cases.app", fromlist=["SPEC"]).SPEC.migrations_dir)
    )
    assert pending == []

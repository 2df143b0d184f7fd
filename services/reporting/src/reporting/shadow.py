"""Shadow copies of the projection tables that a rebuild fills, and the swap
that puts them in place in one transaction.

The shadows live beside the live tables in the service's schema, named
`<table>__rebuild` (the service's role may not create schemas). In the
rebuild's own session a temporary view under each live name points at its
shadow; temporary objects come first in the search path, so the projection
handlers and `govkit.inbox` write into the shadows unchanged.

A projection table's shadow gets the live table's columns, defaults and
constraints; its indexes are created from the live table's definitions under
suffixed names (the unique ones before the replay, for `on conflict`; the rest
after it, which is faster than maintaining them row by row) and renamed to the
live names at the swap. The inbox holds rows of every consumer and topic of
the schema (the area copy's too), so it is not renamed: the swap replaces only
the rebuilt consumer's rows of the replayed topics and raises that consumer's
offset watermarks (govkit.inbox) to what the rebuild applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

SUFFIX = "__rebuild"
MAX_IDENTIFIER = 63

INDEXES = """
select i.relname as name, pg_get_indexdef(x.indexrelid) as definition, x.indisunique as is_unique,
       c.contype::text as constraint_type
from pg_index x
join pg_class i on i.oid = x.indexrelid
left join pg_constraint c on c.conindid = x.indexrelid and c.conrelid = x.indrelid
where x.indrelid = $1::regclass
order by i.relname
"""
# columns and indexes: a migration that changes a live table while a rebuild runs makes its shadow stale
SHAPE = """
select (select string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' order by a.attnum)
        from pg_attribute a where a.attrelid = $1::text::regclass and a.attnum > 0 and not a.attisdropped)
    || ' / ' ||
       coalesce((select string_agg(pg_get_indexdef(x.indexrelid), ', ' order by x.indexrelid::regclass::text)
                 from pg_index x where x.indrelid = $1::text::regclass), '')
"""
EXISTING = """
select c.relname from pg_class c
where c.relnamespace = $1::text::regnamespace and c.relkind = 'r' and c.relname = any($2::text[])
"""
INBOX = "inbox"
DELETE_INBOX = "delete from {inbox} where consumer = $1 and topic = any($2::text[])"
INSERT_INBOX = "insert into {inbox} select * from {shadow}"
# never lowered: an offset at or below the watermark is a replay to the live consumer
RAISE_WATERMARKS = """
insert into {watermark} (consumer, topic, partition, applied_offset)
select consumer, topic, partition, max("offset") from {shadow} group by consumer, topic, partition
on conflict (consumer, topic, partition) do update
    set applied_offset = greatest({watermark}.applied_offset, excluded.applied_offset), updated_at = now()
"""


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def shadow_name(name: str) -> str:
    shadow = name + SUFFIX
    if len(shadow.encode()) > MAX_IDENTIFIER:
        raise ValueError(f"{name}: too long for a shadow name ({shadow})")
    return shadow


class ShapeChanged(Exception):
    pass


@dataclass
class Index:
    name: str
    definition: str
    is_unique: bool
    constraint_type: str | None

    def create_on(self, schema: str, table: str) -> list[str]:
        """Statements that create this index (and its constraint) on the shadow of `table`."""
        method_and_columns = self.definition.split(" USING ", 1)[1]
        target = f"{ident(schema)}.{ident(shadow_name(table))}"
        name = ident(shadow_name(self.name))
        out = [f"create {'unique ' if self.is_unique else ''}index {name} on {target} using {method_and_columns}"]
        if self.constraint_type == "p":
            out.append(f"alter table {target} add constraint {name} primary key using index {name}")
        elif self.constraint_type == "u":
            out.append(f"alter table {target} add constraint {name} unique using index {name}")
        elif self.constraint_type is not None:
            raise ValueError(
                f"{table}: index {self.name} backs a constraint of type {self.constraint_type!r}, "
                "which the rebuild cannot copy"
            )
        return out


@dataclass
class Shadow:
    schema: str
    projections: tuple[str, ...]
    indexes: dict[str, list[Index]] = field(default_factory=dict)
    shapes: dict[str, str] = field(default_factory=dict)

    def all_tables(self) -> tuple[str, ...]:
        return self.projections + (INBOX,)

    def qualified(self, table: str) -> str:
        return f"{ident(self.schema)}.{ident(table)}"

    async def drop_leftovers(self, con: asyncpg.Connection) -> list[str]:
        """Drop the shadows an interrupted rebuild left behind; returns their names."""
        names = [shadow_name(t) for t in self.all_tables()]
        found = [r["relname"] for r in await con.fetch(EXISTING, ident(self.schema), names)]
        if found:
            await con.execute("drop table " + ", ".join(self.qualified(t) for t in found))
        return found

    async def create(self, con: asyncpg.Connection) -> None:
        """Empty shadows with their unique indexes, and this session's views onto them."""
        async with con.transaction():
            for table in self.projections:
                self.indexes[table] = [Index(**r) for r in await con.fetch(INDEXES, self.qualified(table))]
                self.shapes[table] = await con.fetchval(SHAPE, self.qualified(table))
                await con.execute(
                    f"create table {self.qualified(shadow_name(table))} "
                    f"(like {self.qualified(table)} including all excluding indexes)"
                )
                for index in self.indexes[table]:
                    if index.is_unique:
                        for sql in index.create_on(self.schema, table):
                            await con.execute(sql)
            await con.execute(
                f"create table {self.qualified(shadow_name(INBOX))} (like {self.qualified(INBOX)} including all)"
            )
            for table in self.all_tables():
                await con.execute(
                    f"create temporary view {ident(table)} as select * from {self.qualified(shadow_name(table))}"
                )

    async def finish(self, con: asyncpg.Connection) -> None:
        """The remaining indexes and fresh planner statistics, before the swap."""
        for table in self.projections:
            for index in self.indexes[table]:
                if not index.is_unique:
                    for sql in index.create_on(self.schema, table):
                        await con.execute(sql)
            await con.execute(f"analyze {self.qualified(shadow_name(table))}")

    async def lock_inbox(self, con: asyncpg.Connection) -> None:
        """Inside the swap transaction: stop the live consumer before it writes anything.

        It claims each event in the inbox before it touches the projections, so
        once this lock is held no live event can commit until the swap has; taken
        first, it cannot deadlock with a live transaction already under way (that
        one finishes first).
        """
        await con.execute(f"lock table {self.qualified(INBOX)} in exclusive mode")

    async def swap(self, con: asyncpg.Connection, *, consumer: str, topics: list[str]) -> None:
        """Inside the swap transaction: shadows replace the live tables, the live ones are dropped."""
        for table in self.all_tables():
            await con.execute(f"drop view pg_temp.{ident(table)}")
        await con.execute(
            "lock table " + ", ".join(self.qualified(t) for t in self.projections) + " in access exclusive mode"
        )
        for table in self.projections:
            if await con.fetchval(SHAPE, self.qualified(table)) != self.shapes[table]:
                raise ShapeChanged(f"{table} changed while the rebuild ran (a migration?); run the rebuild again")
        for table in self.projections:
            await con.execute(f"drop table {self.qualified(table)}")
            await con.execute(f"alter table {self.qualified(shadow_name(table))} rename to {ident(table)}")
            for index in self.indexes[table]:
                await con.execute(
                    f"alter index {self.qualified(shadow_name(index.name))} rename to {ident(index.name)}"
                )
        names = dict(
            inbox=self.qualified(INBOX),
            shadow=self.qualified(shadow_name(INBOX)),
            watermark=self.qualified("inbox_watermark"),
        )
        await con.execute(DELETE_INBOX.format(**names), consumer, topics)
        await con.execute(INSERT_INBOX.format(**names))
        await con.execute(RAISE_WATERMARKS.format(**names))
        await con.execute(f"drop table {names['shadow']}")

    async def drop(self, con: asyncpg.Connection) -> None:
        """After a failure: the shadows and views go, the live tables were never touched."""
        for table in self.all_tables():
            await con.execute(f"drop view if exists pg_temp.{ident(table)}")
        await con.execute(
            "drop table if exists " + ", ".join(self.qualified(shadow_name(t)) for t in self.all_tables())
        )

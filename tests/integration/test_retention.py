"""Bounded storage: old published outbox rows and old inbox rows are pruned in
batches by one replica at a time, and after the inbox is pruned a consumer
group reset to the earliest offset still applies nothing twice (the watermark),
while a re-driven dead letter that was never applied is applied once."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from govkit import db, metrics, migrate
from govkit.consumer import EventConsumer
from govkit.kafka import Producer
from govkit.retention import RetentionJob

from .conftest import ThingHappened, _parts, end_offsets
from .kafka_helpers import ce_headers, committed_offset, eventually, publish_raw, running

TYPE = "gov.test.thing_happened.v1"


@pytest.fixture
async def scratch_pool(stack):
    """A schema of its own with the platform tables (outbox, inbox, watermark), so no relay of a
    running service publishes the rows these tests put in its outbox."""
    schema = f"ret_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(stack.admin_dsn.rsplit("/", 1)[0] + "/gov")
    await admin.execute(f"create schema {schema} authorization cases")
    pool = await db.create_pool(stack.service_dsn("cases"), schema, max_size=4)
    async with pool.acquire() as con:
        await migrate.migrate(con, migrate.load_dir("platform", migrate.PLATFORM_DIR))
    yield pool
    await pool.close()
    await admin.execute(f"drop schema {schema} cascade")
    await admin.close()


OUTBOX_ROWS = """
insert into outbox (event_id, topic, key, event_type, headers, payload, created_at, published_at)
select gen_random_uuid(), 'gov.test.x', 'k' || i, 'gov.test.thing_happened.v1', '[]'::jsonb, '\\x7b7d'::bytea,
       now() - $2::interval, now() - $3::interval
from generate_series(1, $1) i
"""
UNPUBLISHED_ROWS = """
insert into outbox (event_id, topic, key, event_type, headers, payload, created_at)
select gen_random_uuid(), 'gov.test.x', 'u' || i, 'gov.test.thing_happened.v1', '[]'::jsonb, '\\x7b7d'::bytea,
       now() - interval '40 days'
from generate_series(1, $1) i
"""
INBOX_ROWS = """
insert into inbox (consumer, event_id, event_type, topic, partition, "offset", processed_at)
select $4::text, $4::text || '-' || i, 'gov.test.thing_happened.v1', 'gov.test.x', 0, i, now() - $2::interval
from generate_series($3::int, $3::int + $1::int - 1) i
"""


def pruned(service: str, table: str) -> float:
    return metrics.RETENTION_PRUNED.labels(service, table)._value.get()


async def test_retention_prunes_old_rows_in_batches_and_keeps_recent_and_unpublished_ones(scratch_pool):
    def days(n):
        return timedelta(days=n)

    async with scratch_pool.acquire() as con:
        await con.execute(OUTBOX_ROWS, 2500, days(9), days(8))  # published 8 days ago: past 7 days
        await con.execute(OUTBOX_ROWS, 10, days(2), days(1))  # published yesterday
        await con.execute(UNPUBLISHED_ROWS, 5)  # 40 days old but never published: kept
        await con.execute(INBOX_ROWS, 2100, days(31), 0, "old")
        await con.execute(INBOX_ROWS, 10, days(29), 5000, "recent")
        await con.execute(
            "insert into inbox_watermark (consumer, topic, partition, applied_offset) "
            "values ('old', 'gov.test.x', 0, 2099)"
        )
    service = f"ret-{uuid.uuid4().hex[:6]}"
    job = RetentionJob(pool=scratch_pool, service=service, outbox_days=7, inbox_days=30, batch=1000, pause=0)

    done = await job.run_once()

    assert not done.skipped
    assert (done.outbox, done.inbox) == (2500, 2100)
    assert done.batches == [1000, 1000, 500, 1000, 1000, 100]  # never more than a batch per statement
    async with scratch_pool.acquire() as con:
        assert await con.fetchval("select count(*) from outbox where published_at is not null") == 10
        assert await con.fetchval("select count(*) from outbox where published_at is null") == 5
        assert await con.fetchval("select min(published_at) > now() - interval '2 days' from outbox") is True
        assert await con.fetchval("select count(*) from inbox") == 10
        assert await con.fetchval("select count(*) from inbox where consumer = 'recent'") == 10
        assert await con.fetchval("select applied_offset from inbox_watermark where consumer = 'old'") == 2099
    assert pruned(service, "outbox") == 2500 and pruned(service, "inbox") == 2100

    again = await job.run_once()
    assert (again.outbox, again.inbox, again.batches) == (0, 0, [0, 0])


async def test_one_replica_prunes_at_a_time(scratch_pool):
    async with scratch_pool.acquire() as con:
        await con.execute(OUTBOX_ROWS, 20, timedelta(days=9), timedelta(days=8))
    service = f"ret-{uuid.uuid4().hex[:6]}"
    job = RetentionJob(pool=scratch_pool, service=service, batch=1000, pause=0)
    other_replica = await scratch_pool.acquire()
    try:
        assert await other_replica.fetchval("select pg_try_advisory_lock(hashtext(current_schema() || '.retention'))")
        busy = await job.run_once()
        assert busy.skipped and busy.batches == []
        assert await other_replica.fetchval("select count(*) from outbox") == 20
        await other_replica.execute("select pg_advisory_unlock(hashtext(current_schema() || '.retention'))")
    finally:
        await scratch_pool.release(other_replica)
    done = await job.run_once()
    assert not done.skipped and done.outbox == 20


async def reset_to_earliest(bootstrap: str, group: str, topic: str) -> None:
    """What `kafka-consumer-groups --reset-offsets --to-earliest` does for a group with no members."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await c.start()
    try:
        parts = [TopicPartition(topic, p) for p in await _parts(c, topic)]
        c.assign(parts)
        await c.commit({tp: 0 for tp in parts})
    finally:
        await c.stop()


async def caught_up(bootstrap: str, group: str, topic: str) -> bool:
    ends = await end_offsets(bootstrap, topic)
    for tp, end in ends.items():
        if end and await committed_offset(bootstrap, group, topic, tp.partition) != end:
            return False
    return True


async def test_a_reset_to_earliest_after_pruning_the_inbox_applies_nothing_twice(stack, test_topic, scratch_pool):
    async with scratch_pool.acquire() as con:
        await con.execute("create table applied (event_id text, thing_id text, seq int)")
    broken = True

    async def handler(con, event, env):
        if event.thing_id == "x" and broken:
            raise ValueError("cannot apply x yet")
        await con.execute(
            "insert into applied (event_id, thing_id, seq) values ($1, $2, $3)", env.id, event.thing_id, event.seq
        )

    service = f"ret-{uuid.uuid4().hex[:6]}"
    group = f"g-{uuid.uuid4().hex[:8]}"
    producer = Producer(stack.bootstrap, "test-retention")

    def consumer():
        return EventConsumer(
            service=service,
            group_id=group,
            topics=[test_topic],
            pool=scratch_pool,
            producer=producer,
            handlers={TYPE: handler},
            max_attempts=1,
            max_backoff=0.05,
        )

    def consumed(outcome: str) -> float:
        return metrics.EVENTS_CONSUMED.labels(service, test_topic, outcome)._value.get()

    try:
        # x fails and is dead-lettered; 20 events follow it on four keys, one of them x's; then a copy
        # of event 3 (a producer retry: same ce_id, new offset)
        x_value = ThingHappened(thing_id="x", seq=99).model_dump_json().encode()
        x_headers = ce_headers(TYPE, subject="k")
        await publish_raw(stack.bootstrap, test_topic, x_value, key=b"k", headers=x_headers)
        sent = []
        for i in range(20):
            key = ["k", "a", "b", "c"][i % 4]
            headers = ce_headers(TYPE, subject=key)
            value = ThingHappened(thing_id=key, seq=i).model_dump_json().encode()
            await publish_raw(stack.bootstrap, test_topic, value, key=key.encode(), headers=headers)
            sent.append((key, value, headers))
        key, value, headers = sent[3]
        await publish_raw(stack.bootstrap, test_topic, value, key=key.encode(), headers=headers)

        async with running(stack.bootstrap, consumer()):
            await eventually(lambda: caught_up(stack.bootstrap, group, test_topic), timeout=60, every=0.5)
        assert await scratch_pool.fetchval("select count(*) from applied") == 20
        assert (consumed("applied"), consumed("duplicate"), consumed("dead_lettered")) == (20, 1, 1)

        # thirty-one days later: retention removes every inbox row of the group
        await scratch_pool.execute("update inbox set processed_at = now() - interval '31 days'")
        done = await RetentionJob(pool=scratch_pool, service=service, inbox_days=30, pause=0).run_once()
        assert done.inbox == 20
        assert await scratch_pool.fetchval("select count(*) from inbox") == 0
        marks = await scratch_pool.fetch(
            "select partition, applied_offset from inbox_watermark where consumer = $1", group
        )
        ends = {tp.partition: end for tp, end in (await end_offsets(stack.bootstrap, test_topic)).items()}
        assert {m["partition"]: m["applied_offset"] for m in marks} == {p: e - 1 for p, e in ends.items() if e}

        # x is fixed and re-driven: same ce_id, a new offset; then the group is reset to the earliest offset
        broken = False
        await publish_raw(stack.bootstrap, test_topic, x_value, key=b"k", headers=x_headers)
        await reset_to_earliest(stack.bootstrap, group, test_topic)
        assert await committed_offset(stack.bootstrap, group, test_topic, 0) == 0

        async with running(stack.bootstrap, consumer()):
            await eventually(lambda: caught_up(stack.bootstrap, group, test_topic), timeout=60, every=0.5)

        rows = await scratch_pool.fetch("select event_id, thing_id from applied")
        assert len(rows) == 21  # the 20 once each, and x once
        assert len({r["event_id"] for r in rows}) == 21
        assert [r["thing_id"] for r in rows].count("x") == 1
        # the whole history again (x's first copy, 20 events, the retry copy) is recognised as replayed
        assert (consumed("applied"), consumed("duplicate"), consumed("dead_lettered")) == (21, 1 + 22, 1)
    finally:
        await producer.stop()

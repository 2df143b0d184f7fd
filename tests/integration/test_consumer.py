"""Inbox, commit-after-database, dead letters and retries, on the real broker and database."""

import asyncio
import uuid

import pytest
from aiokafka import ConsumerRecord

from gov_contracts import topics
from govkit import metrics
from govkit.consumer import EventConsumer
from govkit.kafka import Producer

from .conftest import ThingHappened, end_offsets, read_topic
from .kafka_helpers import ce_headers, committed_offset, eventually, publish_raw, running

TYPE = "gov.test.thing_happened.v1"


@pytest.fixture
async def applied(cases_pool):
    table = f"applied_{uuid.uuid4().hex[:8]}"
    await cases_pool.execute(
        f"create table {table} (event_id text, thing_id text, seq int, at timestamptz default clock_timestamp())"
    )
    yield table


@pytest.fixture
async def producer(stack):
    p = Producer(stack.bootstrap, "test-dlq")
    yield p
    await p.stop()


def make_consumer(stack, pool, producer, topic, handler, **kw):
    return EventConsumer(
        service="test",
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        topics=[topic],
        pool=pool,
        producer=producer,
        handlers={TYPE: handler},
        **kw,
    )


def inserting(table):
    async def handler(con, event, env):
        await con.execute(
            f"insert into {table} (event_id, thing_id, seq) values ($1, $2, $3)", env.id, event.thing_id, event.seq
        )

    return handler


async def test_a_redelivered_event_changes_nothing(stack, test_topic, cases_pool, producer, applied):
    c = make_consumer(stack, cases_pool, producer, test_topic, inserting(applied))
    value = ThingHappened(thing_id="a", seq=1).model_dump_json().encode()
    headers = ce_headers(TYPE, subject="a")
    record = ConsumerRecord(test_topic, 0, 7, 0, 0, b"a", value, None, len(b"a"), len(value), headers)
    assert await c.process(record) == "applied"
    assert await c.process(record) == "duplicate"
    # the same event id delivered at another offset (a producer retry) is also a duplicate
    again = ConsumerRecord(test_topic, 0, 8, 0, 0, b"a", value, None, len(b"a"), len(value), headers)
    assert await c.process(again) == "duplicate"
    assert await cases_pool.fetchval(f"select count(*) from {applied}") == 1


async def test_offset_is_committed_only_after_the_database_commit(stack, test_topic, cases_pool, producer, applied):
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(con, event, env):
        await con.execute(
            f"insert into {applied} (event_id, thing_id, seq) values ($1, $2, $3)", env.id, event.thing_id, event.seq
        )
        entered.set()
        await release.wait()

    c = make_consumer(stack, cases_pool, producer, test_topic, slow)
    meta = await publish_raw(
        stack.bootstrap,
        test_topic,
        ThingHappened(thing_id="slow", seq=1).model_dump_json().encode(),
        key=b"slow",
        headers=ce_headers(TYPE, subject="slow"),
    )
    async with running(stack.bootstrap, c):
        await asyncio.wait_for(entered.wait(), 30)
        await asyncio.sleep(1.5)  # FastStream's default would have committed by now
        assert await committed_offset(stack.bootstrap, c.group_id, test_topic, meta.partition) in (None, -1)
        assert await cases_pool.fetchval(f"select count(*) from {applied}") == 0  # not yet committed
        release.set()

        async def committed():
            return await committed_offset(stack.bootstrap, c.group_id, test_topic, meta.partition) == meta.offset + 1

        await eventually(committed, timeout=20)
    assert await cases_pool.fetchval(f"select count(*) from {applied}") == 1


async def test_a_crash_before_the_database_commit_redelivers_the_event(
    stack, test_topic, cases_pool, producer, applied
):
    calls = 0

    async def failing(con, event, env):
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError("database unreachable")  # transient: retried, never skipped

    group = f"g-{uuid.uuid4().hex[:8]}"
    first = EventConsumer(
        service="test",
        group_id=group,
        topics=[test_topic],
        pool=cases_pool,
        producer=producer,
        handlers={TYPE: failing},
        max_backoff=0.2,
    )
    meta = await publish_raw(
        stack.bootstrap,
        test_topic,
        ThingHappened(thing_id="c", seq=3).model_dump_json().encode(),
        key=b"c",
        headers=ce_headers(TYPE, subject="c"),
    )
    async with running(stack.bootstrap, first):
        await eventually(lambda: _true(calls >= 5), timeout=30)
    # the process "crashed" while retrying: nothing committed, nothing dead-lettered
    assert await committed_offset(stack.bootstrap, group, test_topic, meta.partition) in (None, -1)
    second = EventConsumer(
        service="test",
        group_id=group,
        topics=[test_topic],
        pool=cases_pool,
        producer=producer,
        handlers={TYPE: inserting(applied)},
    )
    async with running(stack.bootstrap, second):
        await eventually(lambda: _rows(cases_pool, applied, 1), timeout=30)
    assert await cases_pool.fetchval(f"select thing_id from {applied}") == "c"


async def test_poison_messages_go_to_the_dead_letter_topic_and_the_partition_moves_on(
    stack, test_topic, cases_pool, producer, applied
):
    async def handler(con, event, env):
        if event.thing_id == "explode":
            raise ValueError("cannot apply an exploding thing")
        await inserting(applied)(con, event, env)

    c = make_consumer(stack, cases_pool, producer, test_topic, handler, max_attempts=3, max_backoff=0.05)
    dlq_start = await end_offsets(stack.bootstrap, topics.DEADLETTER)
    good = ThingHappened(thing_id="good", seq=9).model_dump_json().encode()
    bad = {
        "invalid_json": (b"{not json", ce_headers(TYPE, subject="k")),
        "schema_violation": (b'{"thing_id": "k", "seq": -1}', ce_headers(TYPE, subject="k")),
        "unknown_type": (good, ce_headers("gov.nobody.knows.v1", subject="k")),
        "invalid_envelope": (good, [("content-type", b"application/json")]),
        "handler_error": (ThingHappened(thing_id="explode", seq=1).model_dump_json().encode(), ce_headers(TYPE)),
    }
    sent = {}
    for reason, (value, headers) in bad.items():  # same key: same partition, before the good one
        sent[reason] = await publish_raw(stack.bootstrap, test_topic, value, key=b"k", headers=headers)
    await publish_raw(stack.bootstrap, test_topic, good, key=b"k", headers=ce_headers(TYPE, subject="k"))
    before = metrics.DEAD_LETTERS.labels("test", "invalid_json")._value.get()

    async with running(stack.bootstrap, c):
        await eventually(lambda: _rows(cases_pool, applied, 1), timeout=40)

    assert await cases_pool.fetchval(f"select thing_id from {applied}") == "good"
    dead = await read_topic(stack.bootstrap, topics.DEADLETTER, expect=len(bad), start=dlq_start, timeout=15)
    by_reason = {dict(r.headers)["dlq_reason"].decode(): r for r in dead}
    assert set(by_reason) == set(bad)
    for reason, rec in by_reason.items():
        h = {k: v.decode() for k, v in rec.headers}
        assert h["dlq_topic"] == test_topic
        assert int(h["dlq_partition"]) == sent[reason].partition
        assert int(h["dlq_offset"]) == sent[reason].offset
        assert h["dlq_consumer_group"] == c.group_id and h["dlq_error"]
        assert rec.value == bad[reason][0] and rec.key == b"k"
    assert "not JSON" in dict(by_reason["invalid_json"].headers)["dlq_error"].decode()
    assert "seq" in dict(by_reason["schema_violation"].headers)["dlq_error"].decode()
    assert "cannot apply" in dict(by_reason["handler_error"].headers)["dlq_error"].decode()
    assert metrics.DEAD_LETTERS.labels("test", "invalid_json")._value.get() == before + 1


async def test_database_down_is_retried_with_backoff_and_never_skipped(
    stack, test_topic, cases_pool, producer, applied
):
    c = make_consumer(stack, cases_pool, producer, test_topic, inserting(applied), max_backoff=0.5)
    retries_before = metrics.HANDLER_RETRIES.labels("test", "transient")._value.get()
    async with running(stack.bootstrap, c):
        await asyncio.to_thread(stack.down_postgres)
        try:
            for i in range(3):
                await publish_raw(
                    stack.bootstrap,
                    test_topic,
                    ThingHappened(thing_id="db", seq=i).model_dump_json().encode(),
                    key=b"db",
                    headers=ce_headers(TYPE, subject="db"),
                )
            await eventually(
                lambda: _true(metrics.HANDLER_RETRIES.labels("test", "transient")._value.get() >= retries_before + 3),
                timeout=30,
            )
        finally:
            await asyncio.to_thread(stack.up_postgres, lambda *_: None)
        await eventually(lambda: _rows(cases_pool, applied, 3), timeout=60)
    rows = await cases_pool.fetch(f"select seq from {applied} order by at")
    assert [r["seq"] for r in rows] == [0, 1, 2]


async def _true(v):
    return v


async def _rows(pool, table, n):
    try:
        return await pool.fetchval(f"select count(*) from {table}") >= n
    except Exception:
        return False

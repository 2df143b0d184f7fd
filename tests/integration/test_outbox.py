"""Outbox: a state change and its events commit together; the relay publishes
them in order per key with an idempotent acks=all producer; a broker outage
loses nothing and applies nothing twice downstream."""

import asyncio
import uuid

import pytest

from gov_contracts import CloudEvent
from govkit import outbox
from govkit.consumer import EventConsumer
from govkit.kafka import Producer
from govkit.outbox import OutboxRelay

from .conftest import ThingHappened, end_offsets, read_topic
from .kafka_helpers import eventually, running


@pytest.fixture
async def relay(stack, cases_pool):
    producer = Producer(stack.bootstrap, "test-relay")
    r = OutboxRelay(
        dsn=stack.service_dsn("cases"),
        schema="cases",
        pool=cases_pool,
        producer=producer,
        service="test",
        poll_interval=0.2,
    )
    r.start()
    yield r
    await r.stop()
    await producer.stop()


async def test_producer_is_idempotent_with_acks_all(stack):
    p = Producer(stack.bootstrap, "test")
    try:
        live = await p.get()
        assert live._txn_manager is not None  # idempotence on
        assert live.client is not None and live._sender._acks == -1  # acks=all
    finally:
        await p.stop()


async def test_rolled_back_publishes_nothing_committed_publishes_exactly_its_events_in_key_order(
    stack, test_topic, cases_pool, relay
):
    start = await end_offsets(stack.bootstrap, test_topic)
    async with cases_pool.acquire() as con:
        tx = con.transaction()
        await tx.start()
        await outbox.add(con, ThingHappened(thing_id="rolled-back", seq=0), key="rolled-back", source="tests")
        await tx.rollback()
    async with cases_pool.acquire() as con, con.transaction():
        for i in range(30):
            key = f"k{i % 3}"
            await outbox.add(con, ThingHappened(thing_id=key, seq=i), key=key, source="tests")
    # ask for one more than expected: a stray or duplicate record would show up
    records = await read_topic(stack.bootstrap, test_topic, expect=31, timeout=6, start=start)
    assert len(records) == 30
    events = [ThingHappened.model_validate_json(r.value) for r in records]
    assert "rolled-back" not in {e.thing_id for e in events}
    for key in ("k0", "k1", "k2"):
        seqs = [e.seq for e, r in zip(events, records, strict=True) if r.key == key.encode()]
        assert seqs == sorted(seqs) and len(seqs) == 10
    env = CloudEvent.from_headers(records[0].headers)
    assert env.type == "gov.test.thing_happened.v1" and env.source == "tests"
    assert {
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_time",
        "ce_subject",
        "ce_specversion",
        "content-type",
        "traceparent",
    } <= {k for k, _ in records[0].headers}
    async with cases_pool.acquire() as con:
        assert await con.fetchval("select count(*) from outbox where published_at is null") == 0


async def test_broker_outage_loses_nothing_and_applies_nothing_twice(stack, test_topic, cases_pool, relay):
    await cases_pool.execute("create table if not exists test_outage (event_id text, thing_id text, seq int)")
    group = f"outage-{uuid.uuid4().hex[:6]}"

    async def apply(con, event, env):
        await con.execute("insert into test_outage values ($1, $2, $3)", env.id, event.thing_id, event.seq)

    await asyncio.to_thread(stack.stop_kafka)
    try:
        for i in range(40):  # writes keep succeeding while the broker is down
            async with cases_pool.acquire() as con, con.transaction():
                await outbox.add(con, ThingHappened(thing_id=f"t{i % 4}", seq=i), key=f"t{i % 4}", source="tests")
        await asyncio.sleep(1.0)
        assert (
            await cases_pool.fetchval(
                "select count(*) from outbox where published_at is null and topic = $1", test_topic
            )
            == 40
        )
    finally:
        await asyncio.to_thread(stack.start_kafka)

    await eventually(lambda: _published_all(cases_pool, test_topic), timeout=60)
    # at-least-once publishing: send 5 of them again, as a relay crash between send and mark would
    await cases_pool.execute(
        "update outbox set published_at = null where id in "
        "(select id from outbox where topic = $1 order by id limit 5)",
        test_topic,
    )
    await eventually(lambda: _published_all(cases_pool, test_topic), timeout=30)

    consumer = EventConsumer(
        service="test",
        group_id=group,
        topics=[test_topic],
        pool=cases_pool,
        producer=relay.producer,
        handlers={"gov.test.thing_happened.v1": apply},
    )
    async with running(stack.bootstrap, consumer):
        await eventually(lambda: _count(cases_pool, 40), timeout=60)
        await asyncio.sleep(1.0)  # the 5 duplicates arrive too; they must change nothing
    rows = await cases_pool.fetch("select event_id, thing_id, seq from test_outage")
    assert len(rows) == 40 and len({r["event_id"] for r in rows}) == 40
    assert sorted(r["seq"] for r in rows) == list(range(40))
    assert await cases_pool.fetchval("select count(*) from inbox where consumer = $1", group) == 40


async def _published_all(pool, topic):
    return await pool.fetchval("select count(*) from outbox where published_at is null and topic = $1", topic) == 0


async def _count(pool, n):
    return await pool.fetchval("select count(*) from test_outage") >= n

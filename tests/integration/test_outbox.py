"""Outbox: a state change and its events commit together; the relay publishes
them in order per key with an idempotent acks=all producer; a broker outage
loses nothing and applies nothing twice downstream."""

import asyncio
import random
import uuid

import asyncpg
import pytest
from aiokafka.errors import KafkaTimeoutError
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from gov_contracts import CloudEvent
from govkit import db, kafka, migrate, outbox
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


# -- the relay's batches: several in flight, marked only after Kafka acknowledged them and those before ----------


@pytest.fixture
async def scratch_pool(stack):
    """(schema, pool): a schema of its own with the platform tables, so no other relay publishes these rows."""
    schema = f"rel_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(stack.admin_dsn.rsplit("/", 1)[0] + "/gov")
    await admin.execute(f"create schema {schema} authorization cases")
    pool = await db.create_pool(stack.service_dsn("cases"), schema, max_size=4)
    async with pool.acquire() as con:
        await migrate.migrate(con, migrate.load_dir("platform", migrate.PLATFORM_DIR))
    yield schema, pool
    await pool.close()
    await admin.execute(f"drop schema {schema} cascade")
    await admin.close()


def test_murmur2_is_aiokafkas():
    """send_batched chooses partitions with govkit's murmur2: the same partition as send() for every key."""
    rng = random.Random(7)
    keys = [str(uuid.UUID(int=rng.getrandbits(128))).encode() for _ in range(500)]
    keys += [bytes(rng.getrandbits(8) for _ in range(n)) for n in range(64)]
    assert [kafka.murmur2(k) for k in keys] == [aiokafka_murmur2(k) for k in keys]


async def test_overlapped_batches_keep_key_order_and_publish_late_commits(stack, test_topic, scratch_pool):
    """Small batches, several in flight: every event once, per key in order, also one whose transaction
    took its id early and committed after later ids had gone out."""
    schema, pool = scratch_pool
    producer = Producer(stack.bootstrap, "test-relay-overlap")
    relay = OutboxRelay(
        dsn=stack.service_dsn("cases"),
        schema=schema,
        pool=pool,
        producer=producer,
        service="test",
        batch_size=4,
        max_in_flight=3,
        poll_interval=0.2,
    )
    start = await end_offsets(stack.bootstrap, test_topic)
    late = await pool.acquire()
    tx = late.transaction()
    await tx.start()
    await outbox.add(late, ThingHappened(thing_id="late", seq=0), key="late", source="tests")  # the lowest id
    relay.start()
    try:
        for i in range(40):
            async with pool.acquire() as con, con.transaction():
                await outbox.add(con, ThingHappened(thing_id=f"k{i % 4}", seq=i), key=f"k{i % 4}", source="tests")
        await eventually(lambda: _published_count(pool, 40), timeout=30)
        await tx.commit()  # now visible, below everything already published
        async with pool.acquire() as con, con.transaction():
            await outbox.add(con, ThingHappened(thing_id="late", seq=41), key="late", source="tests")
        records = await read_topic(stack.bootstrap, test_topic, expect=43, timeout=8, start=start)
    finally:
        await pool.release(late)
        await relay.stop()
        await producer.stop()
    assert len(records) == 42
    events = [ThingHappened.model_validate_json(r.value) for r in records]
    assert sorted(e.seq for e in events) == [0, *range(40), 41]
    for key in ("k0", "k1", "k2", "k3", "late"):
        seqs = [e.seq for e, r in zip(events, records, strict=True) if r.key == key.encode()]
        assert seqs == sorted(seqs)
    assert await pool.fetchval("select count(*) from outbox where published_at is null") == 0


class _HeldProducer:
    """A stand-in for aiokafka's producer whose batches are acknowledged (or fail) when the test says so."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, asyncio.Future]] = []  # (records, acknowledgement)

    async def partitions_for(self, topic):
        return {0, 1, 2}

    def create_batch(self):
        return _HeldBatch()

    async def send_batch(self, batch, topic, *, partition):
        f = asyncio.get_running_loop().create_future()
        self.sent.append((batch.n, f))
        return f


class _HeldBatch:
    def __init__(self) -> None:
        self.n = 0

    def append(self, *, timestamp, key, value, headers):
        self.n += 1
        return object()


class _HeldClient(Producer):
    def __init__(self) -> None:
        super().__init__("unused:9092", "held")
        self.held = _HeldProducer()

    async def get(self):
        return self.held

    async def reset(self) -> None:
        pass


async def _insert(pool, n: int) -> None:
    async with pool.acquire() as con, con.transaction():
        for i in range(n):
            await outbox.add(con, ThingHappened(thing_id=f"h{i % 3}", seq=i), key=f"h{i % 3}", source="tests")


async def test_nothing_is_marked_before_kafka_acknowledged_it_and_everything_before(stack, test_topic, scratch_pool):
    schema, pool = scratch_pool
    client = _HeldClient()
    relay = OutboxRelay(
        dsn=stack.service_dsn("cases"),
        schema=schema,
        pool=pool,
        producer=client,
        service="test",
        batch_size=5,
        max_in_flight=3,
    )
    await _insert(pool, 15)
    run = asyncio.create_task(relay.publish_pending())
    await eventually(lambda: _sent(client, 15), timeout=10)  # three batches handed over, none acknowledged
    assert await _published(pool) == 0
    later = [f for _, f in client.held.sent[1:]]
    for f in later:  # the second and third batches are acknowledged first: still nothing may be marked
        f.set_result(None)
    await asyncio.sleep(0.3)
    assert await _published(pool) == 0
    client.held.sent[0][1].set_result(None)
    assert await asyncio.wait_for(run, 10) == 15
    assert await _published(pool) == 15


async def test_a_failed_batch_leaves_it_and_every_later_batch_unpublished(stack, test_topic, scratch_pool):
    schema, pool = scratch_pool
    client = _HeldClient()
    relay = OutboxRelay(
        dsn=stack.service_dsn("cases"),
        schema=schema,
        pool=pool,
        producer=client,
        service="test",
        batch_size=5,
        max_in_flight=3,
    )
    await _insert(pool, 15)
    run = asyncio.create_task(relay.publish_pending())
    await eventually(lambda: _sent(client, 15), timeout=10)
    (_, first), (_, second), *rest = client.held.sent
    first.set_result(None)
    second.set_exception(KafkaTimeoutError())
    for _, f in rest:
        f.set_result(None)  # acknowledged, but after a failed batch: going out again keeps the order
    with pytest.raises(KafkaTimeoutError):
        await asyncio.wait_for(run, 10)
    ids = [r[0] for r in await pool.fetch("select id from outbox where published_at is not null order by id")]
    assert ids == [r[0] for r in await pool.fetch("select id from outbox order by id limit 5")]
    # the next pass sends the rest again, from the lowest unpublished id
    client.held.sent.clear()
    run = asyncio.create_task(relay.publish_pending())
    await eventually(lambda: _sent(client, 10), timeout=10)
    for _, f in client.held.sent:
        f.set_result(None)
    assert await asyncio.wait_for(run, 10) == 10
    assert await _published(pool) == 15


async def _published(pool) -> int:
    return await pool.fetchval("select count(*) from outbox where published_at is not null")


async def _published_count(pool, n: int) -> bool:
    return await _published(pool) >= n


async def _sent(client: _HeldClient, n: int) -> bool:
    return sum(k for k, _ in client.held.sent) >= n

"""Inbox, commit-after-database, dead letters and retries, on the real broker and database."""

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord

from gov_contracts import topics
from govkit import inbox, metrics
from govkit.consumer import EventConsumer
from govkit.kafka import Producer

from .conftest import ThingHappened, end_offsets, read_topic
from .kafka_helpers import ce_headers, committed_offset, eventually, publish_raw, running

TYPE = "gov.test.thing_happened.v1"
ROOT = Path(__file__).resolve().parents[2]


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


async def _publish_things(stack, topic, things, key=b"batch"):
    """Each (thing_id, seq) as one record on the key's partition, in order, before any consumer runs."""
    metas = []
    for thing_id, seq in things:
        metas.append(
            await publish_raw(
                stack.bootstrap,
                topic,
                ThingHappened(thing_id=thing_id, seq=seq).model_dump_json().encode(),
                key=key,
                headers=ce_headers(TYPE, subject=key.decode()),
            )
        )
    return metas


def _recording_batches(c):
    """The size of every batch the consumer is handed."""
    sizes: list[int] = []
    process_batch = c.process_batch

    async def counted(records):
        sizes.append(len(records))
        return await process_batch(records)

    c.process_batch = counted
    return sizes


async def test_a_batch_is_one_transaction_and_one_offset_commit(stack, test_topic, cases_pool, producer, applied):
    metas = await _publish_things(stack, test_topic, [("t", i) for i in range(40)])
    c = make_consumer(stack, cases_pool, producer, test_topic, inserting(applied))
    sizes = _recording_batches(c)
    async with running(stack.bootstrap, c):
        await eventually(lambda: _rows(cases_pool, applied, 40), timeout=30)

        async def committed():
            return await committed_offset(stack.bootstrap, c.group_id, test_topic, metas[0].partition) == 40

        await eventually(committed, timeout=20)
    assert sum(sizes) == 40 and max(sizes) > 1
    # now() is the transaction's start: as many distinct times as batches, each batch's rows together
    times = await cases_pool.fetch(
        "select processed_at, count(*) as n from inbox where consumer = $1 group by 1 order by 1", c.group_id
    )
    assert [r["n"] for r in times] == sizes
    seqs = await cases_pool.fetch(f"select seq from {applied} order by at")
    assert [r["seq"] for r in seqs] == list(range(40))


async def test_a_poison_record_inside_a_batch_is_dead_lettered_and_the_rest_of_the_batch_applies(
    stack, test_topic, cases_pool, producer, applied
):
    attempts: Counter[int] = Counter()

    async def handler(con, event, env):
        attempts[event.seq] += 1
        if event.thing_id == "poison":
            # the event's values: the same event fails the same way every time
            await con.execute("select $1::int", 3_000_000_000)
        await inserting(applied)(con, event, env)

    things = [("ok", i) for i in range(10)] + [("poison", 10)] + [("ok", i) for i in range(11, 25)]
    metas = await _publish_things(stack, test_topic, things)
    dlq_start = await end_offsets(stack.bootstrap, topics.DEADLETTER)
    c = make_consumer(stack, cases_pool, producer, test_topic, handler, max_attempts=3)
    sizes = _recording_batches(c)
    async with running(stack.bootstrap, c):
        await eventually(lambda: _rows(cases_pool, applied, 24), timeout=30)
    assert max(sizes) > 11  # the poison record came inside a batch
    seqs = [r["seq"] for r in await cases_pool.fetch(f"select seq from {applied} order by at, seq")]
    assert seqs == [i for i in range(25) if i != 10]
    assert attempts[10] == 1  # refused by the database: dead-lettered at its first attempt
    [letter] = await read_topic(stack.bootstrap, topics.DEADLETTER, expect=1, start=dlq_start, timeout=15)
    h = {k: v.decode() for k, v in letter.headers}
    assert h["dlq_reason"] == "data_error" and int(h["dlq_offset"]) == metas[10].offset
    # the records around it went in batches, not one transaction each
    batches = await cases_pool.fetchval(
        "select count(distinct processed_at) from inbox where consumer = $1", c.group_id
    )
    assert batches < 24 / 2


async def test_a_process_killed_in_the_middle_of_a_batch_applies_nothing_of_it_and_the_next_one_applies_it_once(
    stack, test_topic, cases_pool, producer, applied, tmp_path
):
    metas = await _publish_things(stack, test_topic, [("k", i) for i in range(30)])
    group = f"g-{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "inside-the-batch"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.batch_crash_process",
            stack.bootstrap,
            stack.service_dsn("cases"),
            test_topic,
            group,
            applied,
            "17",
            str(marker),
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        await eventually(lambda: _true(marker.exists()), timeout=60)
        # the process is inside the batch: the 18 events before and including seq 17 are written, not committed
        assert int(marker.read_text()) >= 2
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert await cases_pool.fetchval(f"select count(*) from {applied}") == 0
    assert await cases_pool.fetchval("select count(*) from inbox where consumer = $1", group) == 0
    assert await committed_offset(stack.bootstrap, group, test_topic, metas[0].partition) in (None, -1)

    second = EventConsumer(
        service="test",
        group_id=group,
        topics=[test_topic],
        pool=cases_pool,
        producer=producer,
        handlers={TYPE: inserting(applied)},
    )
    async with running(stack.bootstrap, second):
        await eventually(lambda: _rows(cases_pool, applied, 30), timeout=60)
        await asyncio.sleep(1)  # nothing more arrives
    rows = await cases_pool.fetch(f"select seq, count(*) as n from {applied} group by seq order by seq")
    assert [(r["seq"], r["n"]) for r in rows] == [(i, 1) for i in range(30)]


async def test_the_batch_claim_keeps_the_single_claims_rules(cases_pool):
    group = f"g-{uuid.uuid4().hex[:8]}"

    def claim(event_id, partition, offset):
        return inbox.Claim(event_id, TYPE, "gov.test.claims", partition, offset)

    async with cases_pool.acquire() as con:
        first = [claim("a", 0, 5), claim("b", 0, 6), claim("a", 0, 7), claim("c", 1, 2)]
        assert await inbox.claim_batch(con, consumer=group, records=first) == [True, True, False, True]
        marks = await con.fetch("select partition, applied_offset from inbox_watermark where consumer = $1", group)
        assert {m["partition"]: m["applied_offset"] for m in marks} == {0: 7, 1: 2}  # the duplicate's offset too
        # a replay at or below the watermark, a known id at a new offset, a new id at a new offset
        later = [claim("d", 0, 7), claim("b", 1, 3), claim("e", 1, 4)]
        assert await inbox.claim_batch(con, consumer=group, records=later) == [False, False, True]
        assert (
            await inbox.claim(
                con, consumer=group, event_id="f", event_type=TYPE, topic="gov.test.claims", partition=0, offset=6
            )
            is False
        )  # the single claim sees the batch's watermark
